"""A long session must not wear the interpreter out.

PySide6 6.12.0 (with CPython 3.11) drops a reference to ``None`` on every call of a Qt
method that returns nothing (``setText``, ``update``, ``processEvents``...): the app,
which makes thousands of such calls a second while playing, aborts after minutes with
"Fatal Python error: none_dealloc". 6.11.3 does not. This pins that down.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_widget_updates_keep_none_alive(qtbot) -> None:  # noqa: ANN001
    label = QLabel("x")
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for i in range(20_000):
        label.setText("a" if i % 2 else "b")
        label.update()
    lost = before - sys.getrefcount(None)
    assert lost < 1000, (f"{lost} references to None lost in 40,000 Qt calls: this PySide6 "
                         "build leaks them and the app will crash in a long session")
