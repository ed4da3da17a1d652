"""Consistency dock: verify the open recording against the DT model, see where it differs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from twin.live import workshop_meta
from twin.recording import RecordingWriter
from twin.scenario import parse_scenario
from twin.simulator import Simulator
from twin.workshop import load_workshop


@pytest.fixture(scope="module")
def slow_drill_recording(tmp_path_factory: pytest.TempPathFactory, machining13_path: Path) -> Path:
    """Physical shop where radial drill S07 runs at cycle time x1.6 for 3 hours."""
    ws = load_workshop(machining13_path)
    scenario = parse_scenario({"disturbance": [
        {"kind": "slowdown", "target": "S07", "factor": 1.6, "start_h": 0.0}]})
    path = tmp_path_factory.mktemp("physical") / "slow-drill.twinlog"
    with RecordingWriter(path, meta=dict(workshop_meta(ws), seed=5)) as w:
        for e in Simulator(ws, scenario, seed=5).step_until(3 * 3600.0):
            w.append(e)
    return path


def test_verification_finds_the_slow_station_and_colours_the_overlay(
        qtbot, window, slow_drill_recording: Path) -> None:  # noqa: ANN001
    w = window
    with qtbot.waitSignal(w.recording_opened, timeout=30_000):
        w.open_recording(slow_drill_recording)
    panel = w.consistency
    assert "slow-drill.twinlog" in panel.physical_label.text()
    with qtbot.waitSignal(panel.finished, timeout=240_000) as done:
        assert panel.run()
        assert not panel.run()  # one verification at a time
    report = done.args[0]
    assert report.ranking()[0][0] == "S07"
    # the table lists the least consistent station first
    assert panel.table.item(0, 0).data(Qt.ItemDataRole.UserRole) == "S07"
    assert float(panel.table.item(0, 1).text()) == pytest.approx(report.per_station["S07"], abs=0.01)
    # the 3D overlay shows the scores
    assert w.view.overlay == "consistency"
    scene = w.view.scene
    assert scene.station_colour("S07") != scene.station_colour(report.ranking()[-1][0])
    # picking the row selects and shows that station
    panel.table.selectRow(0)
    assert w.selection.entity == "S07"
    assert "S07" in panel.spatial_plot.titleLabel.text


def test_verification_can_be_aborted(qtbot, opened) -> None:  # noqa: ANN001
    panel = opened.consistency
    assert panel.run()
    with qtbot.waitSignal(panel.worker.cancelled, timeout=120_000):
        panel.abort()
    assert panel.report is None
    assert "aborted" in panel.stage.text()
    assert panel.run_button.isEnabled()
