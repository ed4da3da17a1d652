"""Model › Calibrate from recording…: the report a person reads, and the model it saves."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.live import workshop_meta
from twin.recording import RecordingWriter
from twin.scenario import parse_scenario
from twin.simulator import Simulator
from twin.workshop import load_workshop

HOURS = 6.0
#: S05 runs its programs this much slower than machining13's model says.
SLOWDOWN = 1.3


@pytest.fixture(scope="module")
def slow_s05_recording(tmp_path_factory: pytest.TempPathFactory, machining13_path: Path) -> Path:
    """Six hours of machining13 (recorded as the simulate command does) in which machining
    centre S05 takes 1.3 x the model's cycle times: calibration must find it out."""
    ws = load_workshop(machining13_path)
    scenario = parse_scenario({"disturbance": [
        {"kind": "slowdown", "target": "S05", "factor": SLOWDOWN, "start_h": 0.0}]})
    path = tmp_path_factory.mktemp("calibrate") / "slow-s05.twinlog"
    with RecordingWriter(path, meta=dict(workshop_meta(ws), seed=1)) as w:
        for e in Simulator(ws, scenario, seed=1).step_until(HOURS * 3600.0):
            w.append(e)
    return path


def _row(rows: list[list[str]], station: str, parameter: str) -> list[str]:
    return next(r for r in rows if r[0].split()[0] == station and r[1] == parameter)


def _interval(text: str) -> tuple[float, float]:
    lo, hi = text.split(" – ")
    return float(lo), float(hi)


def test_calibration_report_shows_the_slow_machine_and_saves_the_model(
        qtbot, window, slow_s05_recording: Path, tmp_path: Path) -> None:  # noqa: ANN001
    w = window
    with qtbot.waitSignal(w.recording_opened, timeout=30_000):
        w.open_recording(slow_s05_recording)
    model_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Model")
    assert w.act_calibrate in model_menu.actions()
    w.act_calibrate.trigger()  # what the person clicks
    dialog = w.calibration_dialog
    assert dialog.isVisible() and "slow-s05.twinlog" in dialog.source_label.text()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=60_000)
    rows = dialog.row_texts()

    # S05's cycle time: the model says 900 s, history says ~1170 s (1.3 x), and it is changed
    truth = 900.0 * SLOWDOWN
    mill = _row(rows, "S05", "cycle time mill_bracket (s)")
    assert mill[2] == "900.0"
    assert float(mill[3]) == pytest.approx(truth, rel=0.05)
    lo, hi = _interval(mill[4])
    assert lo <= truth <= hi and hi < 1.1 * 900.0 * SLOWDOWN
    assert int(mill[5]) >= 5 and mill[6] == "changed"
    # a parameter without data keeps the model's value and says so
    mtbf = _row(rows, "S05", "MTBF (h)")
    assert mtbf[2] == "120.0" and mtbf[3] == "—" and mtbf[5] == "0"
    assert mtbf[6] == "kept (too little data)"
    # a program seen too few times: the history is shown, the model's value kept
    housing = _row(rows, "S05", "cycle time mill_housing (s)")
    assert int(housing[5]) < 5 and housing[6] == "kept (too little data)"
    # an untouched machine's cycle time agrees with its model
    turn = _row(rows, "S01", "cycle time turn_flange (s)")
    assert float(turn[3]) == pytest.approx(840.0, rel=0.06) and turn[6] == "changed"
    assert "changed from history" in dialog.summary.text()

    # Save calibrated model…: the file loads and holds what the report showed
    assert dialog.save_button.isEnabled()
    out = dialog.save(tmp_path / "m13-calibrated.toml")
    assert out is not None and dialog.error == ""
    cal = load_workshop(out)
    assert cal.stations["S05"].processes["mill_bracket"] == pytest.approx(float(mill[3]), abs=0.05)
    assert cal.stations["S05"].processes["mill_housing"] == 1140.0  # kept
    assert cal.stations["S05"].mtbf_h == 120.0


def test_calibration_without_data_says_so(qtbot, window) -> None:  # noqa: ANN001
    window.act_calibrate.trigger()
    dialog = window.calibration_dialog
    assert dialog.report is None and "Open a recording" in dialog.error
    assert not dialog.save_button.isEnabled()
