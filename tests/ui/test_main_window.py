"""The desktop app as a user drives it: open, scrub, play, select, live, errors, keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QMessageBox

from scene.palette import station_state_colour
from twin.recording import open_recording
from twin.sources.sim import sim_url
from twin.timecursor import CursorMode


def two_moments_of_a_station(window) -> tuple[str, float, float]:  # noqa: ANN001
    """A station and two times at which it shows different state colours."""
    hist = window.store.history
    events = [e for e in hist.events(0.0, window.store.time_range[1]) if e.kind == "station"]
    first_seen: dict[str, tuple[float, str]] = {}
    for e in events:
        if e.entity not in first_seen and e.state == "processing":
            first_seen[e.entity] = (e.t, e.state)
        elif e.entity in first_seen and e.state in ("idle", "setup", "down") \
                and e.t > first_seen[e.entity][0] + 2.0:
            return e.entity, first_seen[e.entity][0] + 1.0, e.t + 1.0
    raise AssertionError("no station changes state in the test shift")


def view_pixels(window) -> np.ndarray:  # noqa: ANN001
    window.view.render_frame(force=True)
    img = window.view.plotter.screenshot(None, return_img=True)
    return np.asarray(img, dtype=np.int16)


def test_opening_a_recording_and_scrubbing_changes_the_scene(qtbot, opened) -> None:  # noqa: ANN001
    w = opened
    assert w.cursor.range[1] == pytest.approx(w.store.time_range[1])
    assert w.cursor.range[1] > 3600.0
    assert w.tree is not None and len(w.tree.items) == 13 + 4 + 2
    sid, t_busy, t_other = two_moments_of_a_station(w)
    state_busy = w.store.state_at(t_busy).entities[sid].state
    state_other = w.store.state_at(t_other).entities[sid].state
    assert state_busy == "processing" and state_other != "processing"

    w.cursor.seek(t_busy)
    before = view_pixels(w)
    assert w.view.scene.station_colour(sid) == station_state_colour("processing")
    w.cursor.seek(t_other)
    after = view_pixels(w)
    assert w.view.scene.station_colour(sid) == station_state_colour(state_other)
    changed = np.any(before != after, axis=2)
    assert changed.sum() > 200  # the station's colour (at least) changed on screen


def test_the_screen_shows_the_rendered_scene_and_follows_the_cursor(qtbot, opened) -> None:  # noqa: ANN001
    """What the user sees in the 3D view (read back from the X server) is the rendered
    scene, also after the cursor moved (whatever widget the view draws into)."""
    w = opened
    view = w.view.plotter
    sid, t_busy, t_other = two_moments_of_a_station(w)

    def on_screen() -> np.ndarray:
        top_left = view.mapToGlobal(QPoint(0, 0))
        shot = QApplication.primaryScreen().grabWindow(0, top_left.x(), top_left.y(),
                                                       view.width(), view.height())
        img = shot.toImage().convertToFormat(QImage.Format.Format_RGB888)
        arr = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes())
        arr = arr.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
        return arr.reshape(img.height(), img.width(), 3).astype(np.int16)

    for t in (t_busy, t_other):
        w.cursor.seek(t)
        rendered = view_pixels(w)
        qtbot.wait(200)  # let a composing widget paint the frame
        screen = on_screen()
        h, wd = min(screen.shape[0], rendered.shape[0]), min(screen.shape[1], rendered.shape[1])
        diff = np.abs(screen[:h, :wd] - rendered[:h, :wd]).max(axis=2)
        assert (diff > 40).mean() < 0.01, f"screen differs from the scene at t={t}"


def test_scrub_bar_click_seeks(qtbot, opened) -> None:  # noqa: ANN001
    bar = opened.timeline.scrub
    t0, t1 = opened.cursor.range
    x = bar.x_of(t0 + 0.75 * (t1 - t0))
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=QPoint(int(round(x)), 12))
    assert opened.cursor.t == pytest.approx(t0 + 0.75 * (t1 - t0), abs=(t1 - t0) / bar.width() * 2)
    assert opened.cursor.mode is CursorMode.PAUSED


def test_play_at_100x_advances_the_cursor_and_the_chart_cursor_line(qtbot, opened) -> None:  # noqa: ANN001
    w = opened
    w.cursor.seek(600.0)
    w.cursor.speed = 100.0
    w.cursor.play()
    assert w.cursor.mode is CursorMode.PLAYING
    qtbot.wait(1500)
    t = w.cursor.t
    assert t >= 600.0 + 100.0  # at least a second of wall time at 100x
    assert t <= 600.0 + 100.0 * 10  # and not racing ahead of the wall clock
    line = w.charts.cursor_line.value()
    assert line > 650.0
    assert abs(line - t) < 60.0  # within a few pixels of the chart's time axis
    assert w.view.shown_t is not None and w.view.shown_t > 650.0  # the 3D view followed
    w.cursor.pause()


def test_selection_is_synced_between_3d_tree_and_inspector(qtbot, opened) -> None:  # noqa: ANN001
    w = opened
    w.cursor.seek(3000.0)
    w.view.render_frame(force=True)
    target = "S05"
    pos = w.view.widget_position(target)
    assert pos is not None
    qtbot.mouseClick(w.view.plotter, Qt.MouseButton.LeftButton,
                     pos=QPoint(int(round(pos[0])), int(round(pos[1]))))
    assert w.selection.entity == target
    assert w.tree.currentItem().data(0, Qt.ItemDataRole.UserRole) == target
    assert target in w.inspector.title.text()
    expected = w.store.state_at(3000.0).entities[target].state
    assert expected in w.inspector.fields["state"].text()
    assert w.inspector.events_shown > 0

    # tree -> 3D and inspector
    other = w.tree.items["AGV2"]
    w.tree.setCurrentItem(other)
    assert w.selection.entity == "AGV2"
    assert "AGV2" in w.inspector.title.text()
    assert w.view.scene._selected == "AGV2"
    # a click on empty floor clears the selection everywhere
    qtbot.mouseClick(w.view.plotter, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert w.selection.entity == ""
    assert w.tree.selectedItems() == []
    assert w.inspector.title.text() == "Nothing selected"


def test_keyboard_space_arrows_home_end(qtbot, opened) -> None:  # noqa: ANN001
    w = opened
    with qtbot.waitActive(w):
        w.activateWindow()
    w.cursor.speed = 60.0
    w.cursor.seek(1000.0)
    qtbot.keyClick(w, Qt.Key.Key_Right)
    assert w.cursor.t == pytest.approx(1060.0)
    qtbot.keyClick(w, Qt.Key.Key_Left)
    qtbot.keyClick(w, Qt.Key.Key_Left)
    assert w.cursor.t == pytest.approx(940.0)
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.cursor.mode is CursorMode.PLAYING
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.cursor.mode is CursorMode.PAUSED
    qtbot.keyClick(w, Qt.Key.Key_End)
    assert w.cursor.t == w.cursor.range[1]
    qtbot.keyClick(w, Qt.Key.Key_Home)
    assert w.cursor.t == w.cursor.range[0]


def test_live_session_records_a_recording_that_replays_the_same_states(
        qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    w = window
    with qtbot.waitSignal(w.live_started, timeout=30_000) as started:
        assert w.start_live(sim_url("machining13", speed=1000, warmup_min=10, seed=4),
                            record_dir=tmp_path)
    path = Path(started.args[0])
    assert path.parent == tmp_path and path.suffix == ".twinlog"
    assert w.cursor.mode is CursorMode.FOLLOWING and w.cursor.live
    qtbot.waitUntil(lambda: w.cursor.t > 1200.0, timeout=15_000)
    assert w.cursor.t == pytest.approx(w.cursor.range[1])  # following the live edge
    assert w.view.shown_t is not None and w.view.shown_t > 600.0
    w.stop_live()
    assert not w.cursor.live and not w.session.live
    live_history = w.store.history
    t_end = w.store.time_range[1]
    assert str(path.resolve()) in w.settings.recent_files()

    with qtbot.waitSignal(w.recording_opened, timeout=30_000):
        w.open_recording(path)
    replay_history = w.store.history
    assert replay_history is not live_history
    for t in (0.0, 300.0, 599.0, 900.0, t_end * 0.8, t_end):
        assert replay_history.state_at(t).entities == live_history.state_at(t).entities, t
    assert open_recording(path).complete


def test_a_corrupt_recording_shows_an_error_and_the_app_stays_usable(
        qtbot, window, shift_recording: Path, tmp_path: Path) -> None:  # noqa: ANN001
    w = window
    bad = tmp_path / "broken.twinlog"
    bad.write_bytes(b"this is not a recording\x00" * 40)
    with qtbot.waitSignal(w.open_failed, timeout=10_000) as failed:
        w.open_recording(bad)
    box = w.message_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert box.icon() == QMessageBox.Icon.Critical
    assert "broken.twinlog" in box.text() and "Traceback" not in box.text()
    assert failed.args[0] == box.text()
    box.close()
    # the app still opens a good recording afterwards
    with qtbot.waitSignal(w.recording_opened, timeout=30_000):
        w.open_recording(shift_recording)
    w.cursor.seek(1800.0)
    assert w.view.render_frame(force=True)
    assert len(w.store.state_at(1800.0)) > 13


def test_a_truncated_recording_opens_with_a_warning(
        qtbot, window, shift_recording: Path, tmp_path: Path) -> None:  # noqa: ANN001
    data = shift_recording.read_bytes()
    cut = tmp_path / "cut.twinlog"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with qtbot.waitSignal(window.recording_opened, timeout=30_000):
        window.open_recording(cut)
    box = window.message_box
    assert box is not None and box.icon() == QMessageBox.Icon.Warning
    assert "cut.twinlog" in box.text()
    full_end = open_recording(shift_recording).time_range[1]
    assert 0 < window.cursor.range[1] < full_end


def test_drop_a_recording_on_the_window_opens_it(qtbot, window, shift_recording: Path) -> None:  # noqa: ANN001
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(shift_recording))])
    event = QDropEvent(QPointF(400, 300), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.recording_opened, timeout=30_000):
        window.dropEvent(event)
    assert window.recording_path == shift_recording
    assert window.settings.recent_files()[0] == str(shift_recording.resolve())
    assert window.recent_menu.actions()[0].text() == shift_recording.name


def test_consistency_overlay_from_a_verification_result(qtbot, opened, tmp_path: Path) -> None:  # noqa: ANN001
    result = tmp_path / "verify.json"
    result.write_text('{"passed": false, "per_station": {"S07": 0.1, "S01": 0.95}}')
    assert opened.load_scores(result)
    assert opened.view.overlay == "consistency"
    assert opened.act_overlay_cons.isChecked()
    scene = opened.view.scene
    assert scene.station_colour("S07") != scene.station_colour("S01")
    assert scene.flag_labels() == {}  # a result without flags labels none
    flagged = tmp_path / "flagged.json"
    flagged.write_text('{"passed": false, "per_station": {"S07": 0.1, "S01": 0.95}, '
                       '"flagged": {"stations": ["S07"], "agvs": []}, '
                       '"explanations": {"S07": "cycle time in the model 38 % below the physical shop"}}')
    assert opened.load_scores(flagged)
    assert scene.flag_labels() == {"S07": "S07: cycle time in the model 38 % below the physical shop"}
    opened.set_overlay("state")
    assert scene.flag_labels() == {}
    assert opened.settings.overlay == "state"
    bad = tmp_path / "bad.json"
    bad.write_text('{"per_station": {"S07": "high"}}')
    assert not opened.load_scores(bad)
    assert opened.message_box.icon() == QMessageBox.Icon.Critical


def test_layout_recent_files_and_speed_persist_between_sessions(
        qtbot, settings, shift_recording: Path) -> None:  # noqa: ANN001
    from ui.main_window import MainWindow

    first = MainWindow(settings, restore_layout=False)
    qtbot.addWidget(first)
    first.resize(1111, 777)
    first.show()
    with qtbot.waitSignal(first.recording_opened, timeout=30_000):
        first.open_recording(shift_recording)
    first.cursor.speed = 300.0
    first.charts_dock.hide()
    qtbot.wait(50)
    size = (first.width(), first.height())
    first.close()

    second = MainWindow(settings, restore_layout=True)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    screen = QApplication.primaryScreen().availableGeometry()
    if screen.width() >= size[0] and screen.height() >= size[1]:
        assert (second.width(), second.height()) == size
    else:  # a small virtual screen: the window is fitted to it, as Qt should
        assert second.width() <= max(screen.width(), second.minimumSizeHint().width())
    assert second.charts_dock.isHidden()
    assert second.settings.recent_files() == [str(shift_recording.resolve())]
    assert second.recent_menu.actions()[0].text() == shift_recording.name
    assert second.settings.replay_speed == 300.0
    second.close()


def test_timeline_shows_breakdowns_clock_and_follows_speed(qtbot, opened) -> None:  # noqa: ANN001
    w = opened
    downs = [m for m in w.store.markers() if m.kind == "breakdown"]
    assert len(downs) >= 1
    assert [m.t for m in w.timeline.scrub._markers if m.kind == "breakdown"] == [m.t for m in downs]
    w.cursor.seek(3725.0)
    qtbot.waitUntil(lambda: w.timeline.clock.text() == "01:02:05", timeout=2000)
    w.cursor.speed = 300.0
    assert w.timeline.speed_box.currentText() == "300×"
    w.timeline.speed_box.setCurrentIndex(w.timeline.speed_box.findData(10.0))
    w.timeline.speed_box.activated.emit(w.timeline.speed_box.currentIndex())
    assert w.cursor.speed == 10.0
    assert not w.timeline.live_button.isVisible()  # a replay has nothing to follow
    w.timeline.loop_button.click()
    assert w.cursor.loop


def test_a_recording_still_being_written_is_followed(qtbot, window, tmp_path: Path,
                                                     machining13_path: Path) -> None:  # noqa: ANN001
    """Open the .twinlog of a session that is still running: the app reads on as it grows."""
    from twin.live import workshop_meta
    from twin.recording import RecordingWriter
    from twin.simulator import Simulator
    from twin.workshop import load_workshop

    ws = load_workshop(machining13_path)
    sim = Simulator(ws, seed=2)
    path = tmp_path / "running.twinlog"
    writer = RecordingWriter(path, meta=workshop_meta(ws), flush_interval_s=3600.0)
    try:
        for e in sim.step_until(1800.0):
            writer.append(e)
        writer.flush()
        with qtbot.waitSignal(window.recording_opened, timeout=30_000):
            window.open_recording(path)
        first_end = window.cursor.range[1]
        assert 1700.0 < first_end <= 1800.0
        window.cursor.go_end()
        done_before = window.store.kpis.completed_at(1e9)
        for e in sim.step_until(5400.0):
            writer.append(e)
        writer.flush()
        qtbot.waitUntil(lambda: window.cursor.range[1] > 5000.0, timeout=10_000)
        assert window.cursor.live
        assert window.cursor.mode is CursorMode.FOLLOWING  # it was at the end: it follows
        qtbot.waitUntil(lambda: window.cursor.t > 5000.0, timeout=5_000)
        assert window.store.kpis.completed_at(1e9) > done_before  # the charts grew too
    finally:
        writer.close()
    qtbot.waitUntil(lambda: not window.cursor.live, timeout=10_000)  # closed: a finished shift


def test_the_3d_view_can_be_told_to_use_the_opengl_widget(monkeypatch) -> None:  # noqa: ANN001
    """DMW_VIEW3D=opengl (for drivers that cannot draw GLX into a child window) keeps
    pyvistaqt's widget; by default an X11 session gets the native window."""
    from ui.main_window import application
    from ui.view3d_native import native_view_available

    application()
    monkeypatch.setenv("DMW_VIEW3D", "opengl")
    assert not native_view_available()
    monkeypatch.delenv("DMW_VIEW3D")
    assert native_view_available() == QApplication.platformName().startswith("xcb")
