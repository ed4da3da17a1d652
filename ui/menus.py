"""The main window's actions, menus and toolbar (built once; they call the window's slots).

Every action is added to the window too, so its shortcut works wherever the focus is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QToolBar

from twin.timecursor import SPEED_STEPS
from ui.about import APP_NAME

if TYPE_CHECKING:
    from ui.main_window import MainWindow


def _action(w: MainWindow, text: str, slot: Any, shortcut: str | QKeySequence | None = None,
            tip: str = "", checkable: bool = False) -> QAction:
    a = QAction(text, w)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(tip)
    a.setCheckable(checkable)
    a.triggered.connect(slot)
    w.addAction(a)
    return a


def speed_step(speed: float, direction: int) -> float:
    """The next timeline speed above (``direction`` > 0) or below ``speed``."""
    if direction > 0:
        return next((s for s in SPEED_STEPS if s > speed + 1e-9), SPEED_STEPS[-1])
    return next((s for s in reversed(SPEED_STEPS) if s < speed - 1e-9), SPEED_STEPS[0])


def build_actions(w: MainWindow) -> None:
    """Create the window's ``act_*`` actions."""
    c = w.cursor
    s = w.session
    w.act_open = _action(w, "&Open recording…", w.choose_recording,
                         QKeySequence.StandardKey.Open, "Replay a .twinlog recording")
    w.act_live = _action(w, "Start &live session", lambda: w.start_live(), "Ctrl+L",
                         "Follow the live shop (the simulated workshop on screen, or "
                         "machining13) in real time, recording it")
    w.act_connect = _action(w, "&Connect…", w.choose_connection, "Ctrl+K",
                            "Follow a live source (MQTT broker, OPC UA server) and record it")
    w.act_stop_live = _action(w, "&Stop live session", w.stop_live, None,
                              "Stop the live session (its recording is kept)")
    w.act_show_recordings = _action(w, "Show recordings folder", w.show_recordings_folder,
                                    None, "Open the folder where live sessions are recorded")
    w.act_scores = _action(w, "Load consistency scores…", w.choose_scores, None,
                           "Show a verification result (JSON) in the overlay")
    w.act_screenshot = _action(w, "Save &screenshot…", w.choose_screenshot, "Ctrl+Shift+S",
                               "Save the window as a PNG")
    w.act_quit = _action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit)
    w.act_play = _action(w, "Play / pause", c.toggle_play, Qt.Key.Key_Space)
    w.act_back = _action(w, "Step back", lambda: c.step(-1), Qt.Key.Key_Left)
    w.act_fwd = _action(w, "Step forward", lambda: c.step(1), Qt.Key.Key_Right)
    w.act_home = _action(w, "Go to start", c.go_start, Qt.Key.Key_Home)
    w.act_end = _action(w, "Go to end / follow live", c.go_end, Qt.Key.Key_End)
    w.act_faster = _action(w, "Faster", lambda: s.set_speed(speed_step(c.speed, 1)), "]")
    w.act_slower = _action(w, "Slower", lambda: s.set_speed(speed_step(c.speed, -1)), "[")
    w.act_overlay_state = _action(w, "State colours", lambda: w.set_overlay("state"), None,
                                  "Colour stations by their state", checkable=True)
    w.act_overlay_cons = _action(
        w, "Consistency", lambda: w.set_overlay("consistency"), None,
        "Colour stations by their verification score (virtual vs physical)", checkable=True)
    group = QActionGroup(w)
    group.setExclusive(True)
    for a in (w.act_overlay_state, w.act_overlay_cons):
        group.addAction(a)
    w.act_overlay_state.setChecked(True)
    w.act_trails = _action(w, "AGV &trails", w.set_trails, "Ctrl+T",
                           "Draw the path each AGV took over the last minutes", checkable=True)
    w.act_labels = _action(w, "&Labels", w.set_labels, "Ctrl+B",
                           "Name the stations and storage in the 3D view", checkable=True)
    w.act_labels.setChecked(True)
    w.act_cam_top = _action(w, "Top", lambda: w.camera("top"), "Ctrl+1", "Plan view from above")
    w.act_cam_iso = _action(w, "Iso", lambda: w.camera("iso"), "Ctrl+2",
                            "Perspective view of the whole shop")
    w.act_cam_fit = _action(w, "Fit", lambda: w.camera("fit"), "Ctrl+0", "Frame the whole shop")
    w.act_focus = _action(w, "Focus selection", w.focus_selection, "F",
                          "Move the camera to the selected entity")
    w.act_forecast = _action(w, "&Forecast from cursor", w.forecast_from_cursor, "Ctrl+F",
                             "Forecast the rest of the shift from the cursor time")
    w.act_calibrate = _action(w, "&Calibrate from recording…", w.calibrate_from_recording, None,
                              "Fit the model's cycle, setup, MTBF and MTTR per station from "
                              "the data on screen and show the report")
    w.act_open_history = _action(w, "Open from plant &history…", w.open_from_history, None,
                                 "Open a shift stored on the plant-history server (PostgreSQL)")
    w.act_about = _action(w, f"&About {APP_NAME}", w.show_about)
    w.act_keys = _action(w, "&Keyboard shortcuts", w.show_shortcuts, "F1")


def build_menus_and_toolbar(w: MainWindow) -> None:
    mb = w.menuBar()
    m = mb.addMenu("&File")
    m.addAction(w.act_open)
    w.recent_menu = m.addMenu("Open &recent")
    rebuild_recent_menu(w)
    m.addAction(w.act_open_history)
    m.addSeparator()
    for a in (w.act_live, w.act_connect, w.act_stop_live, w.act_show_recordings):
        m.addAction(a)
    m.addSeparator()
    m.addAction(w.act_scores)
    m.addAction(w.act_screenshot)
    m.addSeparator()
    m.addAction(w.act_quit)
    m = mb.addMenu("&Playback")
    m.addAction(w.act_forecast)
    for a in (w.act_play, w.act_back, w.act_fwd, w.act_home, w.act_end, w.act_faster,
              w.act_slower):
        m.addAction(a)
    m = mb.addMenu("&Model")
    m.addAction(w.act_calibrate)
    m = mb.addMenu("&View")
    for a in (w.act_cam_top, w.act_cam_iso, w.act_cam_fit, w.act_focus):
        m.addAction(a)
    m.addSeparator()
    m.addAction(w.act_overlay_state)
    m.addAction(w.act_overlay_cons)
    m.addSeparator()
    m.addAction(w.act_trails)
    m.addAction(w.act_labels)
    m.addSeparator()
    for d in (w.tree_dock, w.inspector_dock, w.charts_dock, w.consistency_dock,
              w.forecast_dock, w.evolution_dock):
        m.addAction(d.toggleViewAction())
    w.view_menu = m
    m = mb.addMenu("&Help")
    m.addAction(w.act_keys)
    m.addAction(w.act_about)

    tb = QToolBar("View", w)
    tb.setObjectName("viewToolbar")
    tb.setMovable(False)
    tb.setIconSize(QSize(16, 16))
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    tb.addAction(w.act_open)
    tb.addAction(w.act_live)
    tb.addSeparator()
    tb.addWidget(QLabel(" Overlay: ", tb))
    tb.addAction(w.act_overlay_state)
    tb.addAction(w.act_overlay_cons)
    tb.addSeparator()
    tb.addWidget(QLabel(" Camera: ", tb))
    for a in (w.act_cam_top, w.act_cam_iso, w.act_cam_fit, w.act_focus):
        tb.addAction(a)
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
    w.toolbar = tb


def rebuild_recent_menu(w: MainWindow) -> None:
    """List the recent recordings (newest first) in File › Open recent."""
    menu = w.recent_menu
    menu.clear()
    files = w.settings.recent_files()
    for f in files:
        a = menu.addAction(Path(f).name)
        a.setToolTip(f)
        a.setStatusTip(f)
        a.triggered.connect(lambda _=False, f=f: w.open_recording(f))
    if files:
        menu.addSeparator()

        def clear() -> None:
            w.settings.clear_recent()
            rebuild_recent_menu(w)

        menu.addAction("Clear list", clear)
    else:
        menu.addAction("(no recent recordings)").setEnabled(False)


SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Space", "play / pause"), ("← / →", "step back / forward (one second × speed)"),
    ("Home / End", "start / end (End follows a live session)"),
    ("[ / ]", "slower / faster"), ("Ctrl+1 / 2 / 0", "top / iso / fit camera"),
    ("F", "focus the selected entity"), ("Ctrl+T / Ctrl+B", "AGV trails / labels on or off"),
    ("Ctrl+O", "open a recording"), ("Ctrl+L", "start a live session"),
    ("Ctrl+F", "forecast the rest of the shift from the cursor"),
    ("Mouse", "left drag: orbit, right drag / wheel: zoom, middle drag: pan; click: select"),
)


def shortcuts_html() -> str:
    return "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>"
                               for k, v in SHORTCUTS) + "</table>"
