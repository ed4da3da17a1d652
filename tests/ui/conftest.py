"""Fixtures of the desktop-app tests: a short recorded shift and a fresh main window.

The window needs an X server (pyvistaqt's QtInteractor): pytest-xvfb provides one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from twin.live import workshop_meta
from twin.recording import RecordingWriter
from twin.simulator import Simulator
from twin.workshop import load_workshop

SHIFT_HOURS = 2.0


@pytest.fixture(scope="session")
def shift_recording(tmp_path_factory: pytest.TempPathFactory, machining13_path: Path) -> Path:
    """Two hours of machining13 (seed 1: two breakdowns) recorded as the simulate command does."""
    ws = load_workshop(machining13_path)
    path = tmp_path_factory.mktemp("recordings") / "shift.twinlog"
    sim = Simulator(ws, seed=1)
    with RecordingWriter(path, meta=dict(workshop_meta(ws), source="test")) as w:
        for e in sim.step_until(SHIFT_HOURS * 3600.0):
            w.append(e)
    return path


@pytest.fixture
def settings(tmp_path: Path):  # noqa: ANN201
    from PySide6.QtCore import QSettings

    from ui.settings import AppSettings

    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, settings) -> Iterator:  # noqa: ANN001
    import pyvista as pv

    from ui.main_window import MainWindow, application

    pv.global_theme.multi_samples = 0
    application()
    w = MainWindow(settings, restore_layout=False)
    w.resize(1280, 800)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


@pytest.fixture
def opened(qtbot, window, shift_recording: Path):  # noqa: ANN001, ANN201
    """The window showing the recorded shift (opened the way File › Open does)."""
    with qtbot.waitSignal(window.recording_opened, timeout=30_000):
        window.open_recording(shift_recording)
    return window
