"""Help › About names the version and every shipped library with its licence."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel

from twin import __version__
from twin.licences import libraries
from ui.about import QtAboutDialog

ROOT = Path(__file__).resolve().parents[2]


def test_version_matches_the_package_metadata() -> None:
    import tomllib

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == __version__


def test_about_lists_version_libraries_and_mesh_licences(qtbot) -> None:
    dlg = QtAboutDialog(__version__)
    qtbot.addWidget(dlg)
    text = dlg.browser.toPlainText()
    names = {r["name"].lower() for r in libraries()}
    assert {"pyside6_essentials", "torch", "vtk", "asyncua", "paho-mqtt"} <= names
    assert "torch" in text and "BSD" in text  # torch's licence shown next to it
    assert "LGPL-3.0-only" in text  # Qt for Python
    assert "MiR100" in text or "mir" in text.lower()  # the bundled AGV mesh's credit
    assert any(__version__ in label.text() for label in dlg.findChildren(QLabel))
