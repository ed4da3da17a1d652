"""A live feed in the window: status bar shows its state and rejections; view options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QMessageBox

from tests.twin.source_support import ScriptedSource
from twin.events import Event
from twin.recording import open_recording
from twin.sources import SourceBatch, SourceState, SourceStatus, base, register_scheme
from twin.timecursor import CursorMode


def test_a_feed_with_bad_events_shows_its_state_and_rejections_and_the_app_goes_on(
        qtbot, window, machining13_path: Path, tmp_path: Path, request) -> None:  # noqa: ANN001
    w = window
    batches = [
        SourceBatch([Event(5.0, "S01", "station", "processing")], reached=10.0,
                    statuses=[SourceStatus(SourceState.CONNECTED, "feed up", 0.0)]),
        SourceBatch([{"t": 12.0, "entity": "S02", "kind": "station", "state": "exploded"},
                     Event(3.0, "S02", "station", "down"),
                     Event(20.0, "S02", "station", "processing")], reached=30.0),
    ]
    feed = ScriptedSource(batches, url="scripted://line1")
    register_scheme("scripted", lambda url, **kw: feed)  # how a connector plugs in
    request.addfinalizer(lambda: base._FACTORIES.pop("scripted", None))
    with qtbot.waitSignal(w.live_started, timeout=60_000) as started:
        assert w.start_live("scripted://line1", workshop_path=machining13_path,
                            record_dir=tmp_path)
    path = Path(started.args[0])
    sb = w.status
    qtbot.waitUntil(lambda: w.session.counters.rejected == 2, timeout=10_000)
    sb.refresh()
    assert "connected" in sb.state_label.text() and "feed up" in sb.state_label.text()
    assert "2 rejected" in sb.rejected_label.text()
    assert "malformed" in sb.rejected_label.toolTip() and "late" in sb.rejected_label.toolTip()
    assert "exploded" in sb.rejected_label.toolTip()
    assert "live: scripted://line1" in sb.source_label.text()
    assert w.cursor.mode is CursorMode.FOLLOWING and w.cursor.range[1] > 20.0
    assert w.store.state_at(25.0).entities["S02"].state == "processing"
    assert not [m for m in w.store.markers() if m.kind == "breakdown"]  # the late 'down'

    feed.batches.append(SourceBatch([], reached=40.0, statuses=[
        SourceStatus(SourceState.FAILED, "broker refused the password", 40.0)]))
    qtbot.waitUntil(lambda: not w.session.live, timeout=10_000)
    box = w.message_box
    assert isinstance(box, QMessageBox) and box.icon() == QMessageBox.Icon.Critical
    assert "broker refused the password" in box.text()
    box.close()
    sb.refresh()
    assert "failed" in sb.state_label.text()
    rec = open_recording(path)
    assert rec.complete
    assert [(e.t, e.entity) for e in rec.events(0, 100)] == [(5.0, "S01"), (20.0, "S02")]
    # the app goes on: the session is a scrubbable shift, its recording in File › Open recent
    w.cursor.seek(8.0)
    assert w.store.state_at(8.0).entities["S01"].state == "processing"
    assert w.settings.recent_files()[0] == str(path.resolve())


def shot(w) -> np.ndarray:  # noqa: ANN001
    w.view.render_frame(force=True)
    return np.asarray(w.view.plotter.screenshot(None, return_img=True), dtype=np.int16)


def test_view_menu_switches_agv_trails_and_labels(qtbot, opened) -> None:  # noqa: ANN001
    w = opened
    scene = w.view.scene
    assert not w.act_trails.isChecked() and not scene._trails.actor.GetVisibility()
    w.act_trails.trigger()
    assert w.view.trails and scene._trails.actor.GetVisibility()
    for t in range(1000, 1400, 4):  # AGVs move: their trails grow behind them
        w.cursor.seek(float(t))
        w.view.render_frame()
    with_trails = shot(w)
    w.act_trails.trigger()
    assert not scene._trails.actor.GetVisibility()
    without = shot(w)  # same instant, trails off: only the trails differ
    assert np.any(with_trails != without, axis=2).sum() > 50

    assert w.act_labels.isChecked()
    assert any(a.GetVisibility() for a in scene._labels.actors)  # station names on screen
    w.act_labels.trigger()
    assert not any(a.GetVisibility() for a in scene._labels.actors)
    no_labels = shot(w)
    assert np.any(no_labels != without, axis=2).sum() > 50
    w.act_labels.trigger()
    assert any(a.GetVisibility() for a in scene._labels.actors)


def test_opening_loads_the_workshop_meshes_in_the_job_not_on_the_gui_thread(
        shift_recording: Path) -> None:
    from scene.workshop_scene import ModelProvider
    from ui.opening import open_recording_job

    ModelProvider._cache.clear()
    job = open_recording_job(shift_recording, lambda: False)
    messages: list[str] = []
    fractions: list[float] = []
    while True:
        try:
            f, m = next(job)
        except StopIteration as stop:
            result = stop.value
            break
        fractions.append(f)
        messages.append(m)
    assert any("3D models of machining13" in m for m in messages)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # every station type of the shop is built and cached for the scene to reuse
    provider = ModelProvider([])
    keys = {provider.station_key(st) for st in result.workshop.stations.values()}
    assert keys <= set(ModelProvider._cache)


def test_the_inspector_says_a_station_is_stale_until_its_next_event(qtbot, machining13_path) -> None:  # noqa: ANN001
    """A Sparkplug node's NDEATH (a 'stale' mark, as the ingest pipeline adds it) shows next to
    the station's last known state, and goes once the station reports again."""
    from twin.session import Selection
    from twin.statestore import StateStore
    from twin.timecursor import TimeCursor
    from twin.workshop import load_workshop
    from ui.panels import QtInspector

    workshop = load_workshop(machining13_path)
    store = StateStore(interpolate=False)
    store.start_live(list(workshop.stations))
    store.append([Event(5.0, "S01", "station", "processing")], now=30.0)
    store.add_marker(10.0, "stale", "stale (NDEATH at 00:00:10)", entity="S01")
    cursor = TimeCursor()
    cursor.set_range(0.0, 30.0)
    cursor.seek(20.0)
    selection = Selection()
    inspector = QtInspector(workshop, cursor, store, selection)
    qtbot.addWidget(inspector)
    selection.select("S01")
    inspector.refresh()
    text = inspector.fields["state"].text()
    assert "processing" in text and "stale (NDEATH at 00:00:10)" in text
    store.append([Event(25.0, "S01", "station", "idle")], now=30.0)
    cursor.seek(26.0)
    inspector.refresh()
    text = inspector.fields["state"].text()
    assert "idle" in text and "stale" not in text


def test_gui_select_shows_the_station_once_the_live_shop_has_loaded(
        qtbot, window, machining13_path: Path, tmp_path: Path, request) -> None:  # noqa: ANN001
    """``gui --select S05`` on a live shop: the workshop loads in a worker, and the station
    is selected when the shop shows (it was dropped: only a recording's opening selected)."""
    from ui.cli import select_when_shown

    w = window
    feed = ScriptedSource([SourceBatch([Event(5.0, "S05", "station", "processing")], reached=10.0)],
                          url="scripted://select")
    register_scheme("scripted", lambda url, **kw: feed)
    request.addfinalizer(lambda: base._FACTORIES.pop("scripted", None))
    with qtbot.waitSignal(w.live_started, timeout=60_000):
        assert w.start_live("scripted://select", workshop_path=machining13_path,
                            record_dir=tmp_path)
        assert w.workshop is None  # still loading when the command line asks
        select_when_shown(w, "S05")
    assert w.selection.entity == "S05"
    qtbot.waitUntil(lambda: "Machining centre 2" in w.inspector.title.text(), timeout=10_000)
    # only the first shop shown: the user's own choice stays when another one opens later
    w.selection.select("S01")
    w.live_started.emit("scripted://select")
    w.recording_opened.emit("later.twinlog")
    assert w.selection.entity == "S01"
