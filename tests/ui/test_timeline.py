"""The timeline's marks as a person sees them: what kind of thing happened, where."""

from __future__ import annotations

from PySide6.QtGui import QColor

from twin.statestore import Marker
from ui.timeline import FLAG, QtScrubBar


def colour_near(img, x: float, y0: int, y1: int) -> set[str]:  # noqa: ANN001
    return {QColor(img.pixel(int(round(x)) + dx, y)).name() for dx in (-1, 0, 1) for y in range(y0, y1)}


def test_marks_are_coloured_by_kind_and_accuracy_points_are_ticks_not_flags(qtbot) -> None:  # noqa: ANN001
    bar = QtScrubBar()
    qtbot.addWidget(bar)
    bar.resize(600, 50)
    bar.set_range(0.0, 8 * 3600.0)
    marks = {"alarm": 3600.0, "warning": 5400.0, "trigger": 7200.0, "evolution": 10800.0, "ta": 14400.0}
    bar.set_markers([Marker(t, kind, kind) for kind, t in marks.items()])
    img = bar.grab().toImage()
    top = int(bar._track().top())
    for kind in ("alarm", "warning", "trigger", "evolution"):
        assert FLAG[kind].name() in colour_near(img, bar.x_of(marks[kind]), top - 5, top - 1), kind
    # an accuracy evaluation has no flag above the track (there is one every few minutes)
    above = colour_near(img, bar.x_of(marks["ta"]), top - 5, top - 1)
    assert not above & {c.name() for c in FLAG.values()} and "#0072b2" not in above
    lane = int(bar._track().bottom()) + 2
    assert "#6a737d" in colour_near(img, bar.x_of(marks["ta"]), lane + 5, lane + 9)
