"""Evolution dock: TA chart, trigger log and before/after bars of a drifting history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin.evolution.history import degradation, simulate_shift
from twin.timecursor import TimeCursor, format_clock
from twin.workshop import load_workshop


@pytest.fixture(scope="module")
def drifting(tmp_path_factory: pytest.TempPathFactory, machining13_path: Path) -> Path:
    """11 h of machining13; the inspection station S13 wears (+0.5 cycle time per hour) from 3 h."""
    return simulate_shift(load_workshop(machining13_path), tmp_path_factory.mktemp("evo") / "wear.twinlog",
                          hours=11, seed=6, disturbances=degradation(["S13"], 0.5, 3.0))


def test_evolve_now_lists_the_trigger_and_draws_the_bars(qtbot, drifting: Path) -> None:  # noqa: ANN001
    from ui.evolution import QtEvolutionPanel

    cursor = TimeCursor()
    cursor.set_range(0.0, 11 * 3600.0)
    cursor.seek(11 * 3600.0)
    panel = QtEvolutionPanel(cursor)
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.run(), "nothing to evolve before a recording is open"
    panel.set_recording(drifting)
    panel.train_h, panel.epochs = 3.0, 15
    assert "wear.twinlog" in panel.source_label.text()
    with qtbot.waitSignal(panel.finished, timeout=180_000) as done:
        assert panel.run()
        assert not panel.run_button.isEnabled()
    report = done.args[0]
    triggers = report.monitor.state.triggers
    assert triggers and triggers[0].t > 3 * 3600
    # the log lists the trigger with its time, and the update after it
    first = panel.log.item(0).text()
    assert first.startswith(format_clock(triggers[0].t)) and "evolution trigger" in first
    assert "PM evolved" in panel.log.item(1).text()
    # the chart shows the TA points and a red line at each trigger
    xs, ys = panel.ta_curve.getData()
    assert len(xs) == len(report.monitor.state.ta) and min(ys) < 0.6
    assert [ln.value() for ln in panel.trigger_lines] == pytest.approx([e.t / 3600 for e in triggers])
    # the worn station's processing times trigger first, soon after the onset; the log
    # names it and the chart adds its processing-time TA
    assert triggers[0].station == "S13" and triggers[0].t <= 4.5 * 3600
    assert "S13: processing-time TA" in first
    (curve,) = panel.station_curves
    j = report.monitor.station_pm.stations_.index("S13")
    s13 = [(p.t / 3600, p.ta[j]) for p in report.monitor.state.station_ta if np.isfinite(p.ta[j])]
    cx, cy = curve.getData()
    assert list(cx) == pytest.approx([a for a, _ in s13]) and list(cy) == pytest.approx([b for _, b in s13])
    # the bars show the un-evolved and evolved MAE of the three test sets
    before, after = panel.bar_heights("MAE")
    assert len(before) == len(after) == 3
    assert before == pytest.approx([m["MAE"] for m in report.metrics["un-evolved"]])
    assert sum(after) < sum(before)
    # clicking a log row moves the timeline to the trigger
    panel.log.itemClicked.emit(panel.log.item(0))
    assert cursor.t == pytest.approx(triggers[0].t)
    assert panel.cursor_line.value() == pytest.approx(triggers[0].t / 3600)
    # while a live session runs, the dock shows the session's loop: its status line stays,
    # its reports redraw the chart and log, and "Evolve now" waits for the session to end
    panel.set_live(True, "live: sim://machining13")
    assert "sim://machining13" in panel.source_label.text() and not panel.run_button.isEnabled()
    assert not panel.run()
    panel.log.clear()
    panel.show_live_status("monitoring: 12 TA points, 1 trigger, 1 update")
    panel.show_live(report)
    assert panel.stage.text() == "monitoring: 12 TA points, 1 trigger, 1 update"
    assert "evolution trigger" in panel.log.item(0).text()
    panel.set_live(False)
    assert panel.run_button.isEnabled()


def test_the_window_has_an_evolution_dock_on_the_open_recording(opened, qtbot) -> None:  # noqa: ANN001
    w = opened
    assert w.evolution_dock.windowTitle() == "Evolution"
    assert "shift.twinlog" in w.evolution.source_label.text()
    assert w.evolution.run_button.isEnabled()
    # a 2 h shift: PM fitted on the first hour, judged on the second; its prediction is
    # drawn on the throughput chart in parts/h
    w.evolution.train_h, w.evolution.epochs = 1.0, 5
    w.cursor.go_end()
    with qtbot.waitSignal(w.evolution.finished, timeout=120_000) as done:
        assert w.evolution.run()
    x, y = w.charts.pm_curve.getData()
    t_pred, parts = done.args[0].prediction_curve()
    assert len(x) == len(t_pred) > 0 and y == pytest.approx(parts)
    assert (x >= 1.0 * 3600).all() and 0 < float(y.mean()) < 40
    # nothing judged yet (the first 30-min batch from 1 h is judged at 2.5 h): it says so
    # instead of "the PM kept its accuracy"
    assert not done.args[0].monitor.state.ta
    assert w.evolution.log.item(0).text().startswith("no TA point yet")
    assert "02:30:00" in w.evolution.log.item(0).text()
    # a live session's loop reports through the session; the dock shows it
    w.session.evolution_status.emit("monitoring: 2 TA points, 0 triggers, 0 updates")
    assert w.evolution.stage.text().startswith("monitoring: 2 TA points")
    w.evolution.log.clear()
    w.session.evolution_changed.emit(done.args[0])
    assert w.evolution.log.count() >= 1  # redrawn: its triggers, or "no trigger: …"
    assert w.evolution.stage.text().startswith("monitoring: 2 TA points")  # the status stays
