"""Consistency dock: verify the open recording against the DT model, see where it differs."""

from __future__ import annotations

import re
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


# -- against a DT model, order-synchronised: a verdict that can say "no", and why ----------

#: Short training for these tests (the verdict of a clearly wrong model does not need more).
SHORT_EPOCHS = 30


@pytest.fixture(scope="module")
def slow_s05_model(tmp_path_factory: pytest.TempPathFactory, machining13_path: Path) -> Path:
    """A wrong DT model of machining13: machining centre S05's cycle times x1.6."""
    text = machining13_path.read_text(encoding="utf-8")
    start = text.index("processes", text.index('id = "S05"'))
    end = text.index("\n", start)
    slower = re.sub(r"= (\d+)", lambda m: f"= {round(int(m.group(1)) * 1.6)}", text[start:end])
    out = tmp_path_factory.mktemp("models") / "machining13-slow-s05.toml"
    out.write_text(text[:start] + slower + text[end:], encoding="utf-8")
    assert "mill_bracket = 1440" in out.read_text(encoding="utf-8")
    return out


def _short(panel) -> None:  # noqa: ANN001
    from twin.verification import VerifyConfig

    panel.config = VerifyConfig(gcn_epochs=SHORT_EPOCHS, tcn_epochs=SHORT_EPOCHS)


def _verify(qtbot, panel):  # noqa: ANN001, ANN202
    with qtbot.waitSignal(panel.finished, timeout=120_000) as done:
        assert panel.run(), panel.error
    return done.args[0]


def _visible_texts(scene) -> list[str]:  # noqa: ANN001
    """The texts of every 2D text actor the 3D view draws now (labels, flags)."""
    props = scene.renderer.GetViewProps()
    props.InitTraversal()
    out = []
    for _ in range(props.GetNumberOfItems()):
        prop = props.GetNextProp()
        if prop.IsA("vtkTextActor") and prop.GetVisibility() and prop.GetInput():
            out.append(" ".join(prop.GetInput().split()))
    return out


def _pick_against(panel, monkeypatch, text: str, answer: str) -> None:  # noqa: ANN001
    """Choose the Against item ``text`` as a user does; the file dialog answers ``answer``."""
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (answer, "")))
    index = panel.against_box.findText(text)
    assert index >= 0, [panel.against_box.itemText(i) for i in range(panel.against_box.count())]
    panel.against_box.setCurrentIndex(index)
    panel.against_box.activated.emit(index)


def test_a_wrong_model_fails_and_the_dock_and_overlay_say_why(
        qtbot, opened, slow_s05_model: Path, monkeypatch) -> None:  # noqa: ANN001
    w = opened
    panel = w.consistency
    w.consistency_dock.show()
    w.consistency_dock.raise_()
    _short(panel)
    assert panel.against_box.currentText() == "Model: machining13.toml (the recording's own)"
    _pick_against(panel, monkeypatch, "Against model…", "")  # cancelled: nothing changes
    assert panel.against_box.currentText() == "Model: machining13.toml (the recording's own)"
    _pick_against(panel, monkeypatch, "Against model…", str(slow_s05_model))
    assert panel.against_box.currentText() == "Model: machining13-slow-s05.toml"
    report = _verify(qtbot, panel)
    assert not report.passed
    assert "machining13-slow-s05.toml" in panel.stage.text()
    # the verdict, and the rule it was reached by, in words
    assert panel.verdict.isVisible()
    assert "FAILED" in panel.verdict.text() and "PASSED" not in panel.verdict.text()
    assert panel.rule_label.text().startswith("Rule (calibrated): ")
    assert "station or AGV" in panel.rule_label.text()
    # the flags, worst first: S05 and its cycle time
    entity, text = panel.flag_texts()[0]
    assert entity == "S05"
    assert text.startswith("S05") and "cycle time" in text
    assert panel.explanations.isVisible()
    # clicking it selects S05: the inspector and the 3D outline follow
    qtbot.waitUntil(lambda: panel.explanations.visualItemRect(panel.explanations.item(0)).height() > 0)
    rect = panel.explanations.visualItemRect(panel.explanations.item(0))
    w.selection.clear()
    qtbot.mouseClick(panel.explanations.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.selection.entity == "S05"
    assert "S05" in w.inspector.title.text()
    assert w.view.scene._selected == "S05"
    # the 3D overlay labels S05 with the same sentence, above the station
    assert w.view.overlay == "consistency"
    scene = w.view.scene
    sentence = report.explanations["S05"]
    assert scene.flag_labels()["S05"] == f"S05: {sentence}"
    w.view.render_frame(force=True)
    assert f"S05: {sentence}" in _visible_texts(scene)
    # ... only while the consistency overlay is shown
    w.set_overlay("state")
    assert scene.flag_labels() == {}
    assert not any("cycle time" in t for t in _visible_texts(scene))
    w.set_overlay("consistency")
    assert "S05" in scene.flag_labels()
    # every bar says where its value comes from: the net that inferred it (no level statistic
    # is dressed up as GCN / TCN)
    for key, net in (("spatial", "GCN"), ("temporal", "TCN")):
        ticks = dict(t.split("\n") for t in panel.tick_labels[key])
        res = getattr(report, key)
        want = {"gcn": "GCN", "tcn": "TCN", "level": "level"}
        assert list(ticks.values()) == [want[n.split(":", 1)[0]] for n in res.names]
        assert ticks["cycle t."] == net
    axis = panel.spatial_plot.getAxis("bottom")
    shown = [label for _, label in axis._tickLevels[0]]
    assert shown == panel.tick_labels["spatial"]


def test_the_recordings_own_model_does_not_flag_s05(qtbot, opened) -> None:  # noqa: ANN001
    panel = opened.consistency
    _short(panel)
    assert panel.against_box.currentText() == "Model: machining13.toml (the recording's own)"
    _verify(qtbot, panel)
    assert not any(e == "S05" and "cycle time" in t for e, t in panel.flag_texts())
    assert "S05" not in opened.view.scene.flag_labels()
    assert not any(t.startswith("S05: cycle time") for t in _visible_texts(opened.view.scene))
    # the verdict fits the dock beside the 3D view: nothing runs off its right edge
    from PySide6.QtWidgets import QScrollArea, QWidget

    opened.consistency_dock.show()
    opened.consistency_dock.raise_()
    qtbot.wait(50)
    body = panel.findChild(QWidget, "consistencyBody")
    scroll = panel.findChild(QScrollArea)
    assert "Flagged" in panel.flags_title.text() and panel.flags_title.isVisible()
    assert body.minimumSizeHint().width() <= scroll.viewport().width()
    assert scroll.horizontalScrollBar().maximum() == 0


def test_chart_sources_follow_the_names_of_the_characteristics() -> None:
    from types import SimpleNamespace

    from ui.consistency import characteristic_sources

    names = ["gcn:idle", "level:down", "gcn:cycle_ratio"]
    assert characteristic_sources(SimpleNamespace(names=names), "gcn") == ["gcn", "level", "gcn"]
    assert characteristic_sources(SimpleNamespace(names=["idle"]), "tcn") == ["tcn"]


def test_a_shop_wide_dispatching_flag_is_listed_with_its_sentence() -> None:
    """The dispatching check flags the shop, not a station: listed (worst first, with its
    deviation) beside the station flags."""
    from types import SimpleNamespace

    from ui.consistency import flag_entries

    why = "shop-wide over 254 / 277 starts with a choice: ... the model dispatches first-come"
    rep = SimpleNamespace(explanations={"dispatching": why, "S13": "takes ..."},
                          deviations={"S13": 1.2}, agv_deviations={},
                          shop_deviations={"dispatching": 3.2}, flagged_stations=["S13"],
                          flagged_agvs=[], flagged_shop=["dispatching"])
    assert flag_entries(rep) == [("dispatching", 3.2, why), ("S13", 1.2, "takes ...")]


def test_a_live_sessions_events_drive_the_model_with_their_orders(machining13_path: Path) -> None:
    """Live data has no file: its events are written to a temporary recording so that the
    model is released the same orders (as for a recording)."""
    from ui.consistency import model_run_job

    ws = load_workshop(machining13_path)
    events = Simulator(ws, seed=3).step_until(1800.0)
    released = {e.entity for e in events if e.kind == "order" and e.state == "released"}
    virtual = model_run_job(events, machining13_path, seed=1003, meta=workshop_meta(ws))
    assert released
    assert {e.entity for e in virtual if e.kind == "order" and e.state == "released"} == released
