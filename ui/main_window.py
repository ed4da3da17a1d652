"""The main window: live and replay of a workshop in one place.

Composition (napari/rerun style: one model of time, many observers):

* one :class:`~twin.timecursor.TimeCursor`, one :class:`~twin.statestore.StateStore`,
  one :class:`~ui.selection.Selection`;
* centre: the 3D workshop (:class:`~ui.view3d.QtWorkshopView`); left: the workshop tree
  and the inspector; right: the charts; bottom: the timeline. Each observes the cursor,
  the store and the selection; none calls another.
* a frame clock (~30 fps at most) drains the live source into the store, advances the
  cursor by the wall clock and lets the 3D view render if something changed. A slow
  frame delays the next tick instead of queueing frames (frames are skipped, the cursor
  never drifts: it is anchored on the wall clock).
* long work (opening a recording) runs in a :class:`~ui.workers.Worker` with progress in
  the status bar and a cancel button; errors are shown as readable messages.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections import deque
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QPainter,
    QPixmap,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from twin.live import LiveShop, find_workshop, recording_name
from twin.recording import open_recording
from twin.scenario import load_scenario
from twin.statestore import PreparedReplay, StateStore, prepare_replay
from twin.timecursor import CursorMode, TimeCursor, format_clock
from twin.workshop import Workshop, load_workshop
from ui.about import APP_NAME, QtAboutDialog
from ui.charts import QtShopCharts
from ui.consistency import QtConsistencyPanel
from ui.evolution import QtEvolutionPanel
from ui.frameclock import FRAME_MS, FrameClock
from ui.panels import QtInspector, QtWorkshopTree
from ui.selection import Selection
from ui.settings import AppSettings, recordings_dir
from ui.timeline import LIVE_RED, QtTimeline, speed_label
from ui.workers import Worker, readable_error

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_WORKSHOPS = ROOT / "assets" / "workshops"
DEFAULT_WORKSHOP = BUNDLED_WORKSHOPS / "machining13.toml"
VERSION = "0.1.0"
#: While following live, the view stays this many simulated seconds behind the newest
#: data, so AGV motion can be interpolated between position reports (1 report/s).
FOLLOW_DELAY_S = 1.0
RECORDING_FILTER = "DMW Twin recordings (*.twinlog);;All files (*)"


#: How often a recording that is still being written is read again, wall seconds.
GROWING_REFRESH_S = 1.0
#: Frame rate and events/s in the status bar are averaged over this many seconds.
STATS_WINDOW_S = 2.0
#: While live, objects that survived this long (wall seconds) are moved out of the
#: garbage collector's sight (see settle_garbage).
LIVE_FREEZE_S = 120.0


def settle_garbage(full: bool = True) -> None:
    """Keep the garbage collector from stalling the window.

    A full collection scans every object: with a recording's events, the 3D scene and
    the charts loaded that took ~100 ms, a visible stall while playing. After a load
    (``full``) collect once, then freeze what is left so later full collections only
    scan new objects. Without ``full``, just freeze (live data that keeps growing).
    """
    if full:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


@dataclass
class OpenedRecording:
    """Result of the open-recording job (built off the GUI thread)."""

    path: Path
    workshop: Workshop
    prepared: PreparedReplay
    warnings: list[str] = field(default_factory=list)


def _scaled(gen: Generator[float, None, Any], lo: float, hi: float,
            message: str) -> Generator[tuple[float, str], None, Any]:
    """Re-yield a 0..1 progress generator as ``lo..hi`` with a message; return its value."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield (lo + (hi - lo) * float(p), message)


def open_recording_job(path: Path, should_abort: Any) -> Generator[tuple[float, str], None,
                                                                   OpenedRecording]:
    """Open a recording, find and load its workshop, and read it once for the charts."""
    yield (0.0, f"Reading {path.name}…")
    rec = open_recording(path)
    warnings = list(rec.warnings)
    ws_path = find_workshop(rec.meta, path, search=(BUNDLED_WORKSHOPS,))
    workshop = load_workshop(ws_path)
    recorded_hash = rec.meta.get("source_hash")
    if recorded_hash and recorded_hash != workshop.source_hash:
        warnings.append(f"{ws_path}: the workshop file changed since {path.name} was recorded; "
                        "the layout shown may differ from the recorded shop")
    yield (0.1, f"Reading {path.name}…")
    prepared = yield from _scaled(
        prepare_replay(rec, list(workshop.stations), annotations=rec.annotations(),
                       meta=rec.meta, source=str(path), should_abort=should_abort),
        0.1, 1.0, f"Reading {path.name}…")
    return OpenedRecording(Path(path), workshop, prepared, warnings)


class MainWindow(QMainWindow):
    """DMW Twin main window (see the module docstring).

    Signals:
        recording_opened(path: str): a recording is shown (after the open job finished).
        open_failed(message: str): opening a recording failed (message shown to the user).
        live_started(path: str): a live session started, recording into ``path``.
    """

    recording_opened = Signal(str)
    open_failed = Signal(str)
    live_started = Signal(str)

    def __init__(self, settings: AppSettings | None = None, *,
                 restore_layout: bool = True) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.cursor = TimeCursor()
        self.store = StateStore()
        self.selection = Selection(self)
        self.workshop: Workshop | None = None
        self.live: LiveShop | None = None
        self.live_path: Path | None = None
        self.recording_path: Path | None = None
        self.worker: Worker | None = None
        self.message_box: QMessageBox | None = None
        self._live_notice_shown = False
        self._next_freeze = 0.0
        self._next_refresh = 0.0
        self.view: Any = None  # QtWorkshopView once a workshop is shown
        self.tree: QtWorkshopTree | None = None
        self.inspector: QtInspector | None = None

        self.setWindowTitle(APP_NAME)
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowNestedDocks)
        self.resize(1500, 920)

        # centre: welcome page until a workshop is shown, then the 3D view
        self.centre = QStackedWidget(self)
        self.welcome = self._build_welcome()
        self.centre.addWidget(self.welcome)
        self.setCentralWidget(self.centre)

        # one heartbeat for everything that draws (see ui.frameclock)
        self.clock = FrameClock(FRAME_MS, self, start=False)
        self.clock.tick.connect(self.on_frame)  # first in each tick: data in, cursor on

        # docks
        self.timeline = QtTimeline(self.cursor, self.store, self.clock, self)
        self.timeline_dock = self._dock("Timeline", "timelineDock", self.timeline,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)
        self.timeline_dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.timeline_dock.setTitleBarWidget(QWidget(self.timeline_dock))
        self.charts = QtShopCharts(self.cursor, self.store, self.clock, self)
        self.charts_dock = self._dock("Charts", "chartsDock", self.charts,
                                      Qt.DockWidgetArea.RightDockWidgetArea)
        self.consistency = QtConsistencyPanel(self.store, self.selection, self)
        self.consistency_dock = self._dock("Consistency", "consistencyDock", self.consistency,
                                           Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.charts_dock, self.consistency_dock)
        self.evolution = QtEvolutionPanel(self.cursor, self)
        self.evolution_dock = self._dock("Evolution", "evolutionDock", self.evolution,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.consistency_dock, self.evolution_dock)
        self.recording_opened.connect(self.evolution.set_recording)
        self.evolution.finished.connect(lambda r: self.charts.show_prediction(*r.prediction_curve()))
        self.charts_dock.raise_()
        self.consistency.scores_ready.connect(lambda scores: self.set_overlay("consistency",
                                                                              scores))
        self.consistency.station_activated.connect(self._on_station_activated)
        self.tree_holder = QWidget(self)
        QVBoxLayout(self.tree_holder).setContentsMargins(0, 0, 0, 0)
        self.tree_dock = self._dock("Workshop", "workshopDock", self.tree_holder,
                                    Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_holder = QWidget(self)
        QVBoxLayout(self.inspector_holder).setContentsMargins(0, 0, 0, 0)
        self.inspector_dock = self._dock("Inspector", "inspectorDock", self.inspector_holder,
                                         Qt.DockWidgetArea.LeftDockWidgetArea)
        self.splitDockWidget(self.tree_dock, self.inspector_dock, Qt.Orientation.Vertical)
        self.resizeDocks([self.tree_dock, self.charts_dock], [330, 430],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.tree_dock, self.inspector_dock], [330, 420],
                         Qt.Orientation.Vertical)

        self._build_status_bar()
        self._build_actions()
        self._build_menus_and_toolbar()

        # frame clock and figures
        self._stats_window: deque[tuple[float, int, int]] = deque()
        self.fps = 0.0
        self.events_per_s = 0.0
        self._status_due = 0.0
        self.clock.tick.connect(self._status_if_due)
        self.clock.start()

        self.cursor.mode_changed.connect(self._on_mode)
        self.cursor.speed_changed.connect(self._on_speed)
        self.selection.changed.connect(self._on_selection)
        if restore_layout:
            geometry, state = self.settings.geometry(), self.settings.window_state()
            if geometry is not None:
                self.restoreGeometry(geometry)
            if state is not None:
                self.restoreState(state)
        self._update_status()

    # ------------------------------------------------------------------------------------
    # building
    # ------------------------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget,
              area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_welcome(self) -> QWidget:
        w = QWidget(self)
        lay = QVBoxLayout(w)
        lay.addStretch(1)
        title = QLabel(f"<h2>{APP_NAME}</h2><p>Start a live session of the simulated shop, "
                       "or open a recording (File › Open, or drop a .twinlog here).</p>", w)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(title)
        live = QPushButton("Start live session (machining13)", w)
        live.clicked.connect(lambda: self.start_live())
        opn = QPushButton("Open recording…", w)
        opn.clicked.connect(self.choose_recording)
        for b in (live, opn):
            b.setMinimumWidth(280)
            lay.addWidget(b, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)
        return w

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.mode_label = QLabel("", self)
        self.mode_label.setMinimumWidth(150)
        self.time_label = QLabel("", self)
        self.fps_label = QLabel("", self)
        self.rate_label = QLabel("", self)
        self.source_label = QLabel("", self)
        self.source_label.setStyleSheet("color: #57606A;")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setFlat(True)
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_work)
        sb.addWidget(self.mode_label)
        sb.addWidget(self.time_label)
        sb.addWidget(self.fps_label)
        sb.addWidget(self.rate_label)
        sb.addWidget(self.source_label, 1)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)

    def _action(self, text: str, slot: Any, shortcut: str | QKeySequence | None = None,
                tip: str = "", checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        self.addAction(a)  # shortcuts work wherever the focus is in the window
        return a

    def _build_actions(self) -> None:
        c = self.cursor
        self.act_open = self._action("&Open recording…", self.choose_recording,
                                     QKeySequence.StandardKey.Open, "Replay a .twinlog recording")
        self.act_live = self._action("Start &live session", lambda: self.start_live(), "Ctrl+L",
                                     "Follow the simulated shop (the workshop on screen, or "
                                     "machining13) in real time, recording it")
        self.act_stop_live = self._action("&Stop live session", self.stop_live, None,
                                          "Stop the live session (its recording is kept)")
        self.act_show_recordings = self._action(
            "Show recordings folder", self._show_recordings_folder, None,
            "Open the folder where live sessions are recorded")
        self.act_scores = self._action("Load consistency scores…", self.choose_scores, None,
                                       "Show a verification result (JSON) in the overlay")
        self.act_screenshot = self._action("Save &screenshot…", self.choose_screenshot,
                                           "Ctrl+Shift+S", "Save the window as a PNG")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_play = self._action("Play / pause", c.toggle_play, Qt.Key.Key_Space)
        self.act_back = self._action("Step back", lambda: c.step(-1), Qt.Key.Key_Left)
        self.act_fwd = self._action("Step forward", lambda: c.step(1), Qt.Key.Key_Right)
        self.act_home = self._action("Go to start", c.go_start, Qt.Key.Key_Home)
        self.act_end = self._action("Go to end / follow live", c.go_end, Qt.Key.Key_End)
        self.act_faster = self._action("Faster", lambda: self._speed_step(1), "]")
        self.act_slower = self._action("Slower", lambda: self._speed_step(-1), "[")
        self.act_overlay_state = self._action("State colours", lambda: self.set_overlay("state"),
                                              None, "Colour stations by their state",
                                              checkable=True)
        self.act_overlay_cons = self._action(
            "Consistency", lambda: self.set_overlay("consistency"), None,
            "Colour stations by their verification score (virtual vs physical)", checkable=True)
        group = QActionGroup(self)
        group.setExclusive(True)
        for a in (self.act_overlay_state, self.act_overlay_cons):
            group.addAction(a)
        self.act_overlay_state.setChecked(True)
        self.act_cam_top = self._action("Top", lambda: self._camera("top"), "Ctrl+1",
                                        "Plan view from above")
        self.act_cam_iso = self._action("Iso", lambda: self._camera("iso"), "Ctrl+2",
                                        "Perspective view of the whole shop")
        self.act_cam_fit = self._action("Fit", lambda: self._camera("fit"), "Ctrl+0",
                                        "Frame the whole shop")
        self.act_focus = self._action("Focus selection", self._focus_selection, "F",
                                      "Move the camera to the selected entity")
        self.act_about = self._action(f"&About {APP_NAME}", self.show_about)
        self.act_keys = self._action("&Keyboard shortcuts", self.show_shortcuts, "F1")

    def _build_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.act_open)
        self.recent_menu = m.addMenu("Open &recent")
        self._rebuild_recent_menu()
        m.addSeparator()
        m.addAction(self.act_live)
        m.addAction(self.act_stop_live)
        m.addAction(self.act_show_recordings)
        m.addSeparator()
        m.addAction(self.act_scores)
        m.addAction(self.act_screenshot)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Playback")
        for a in (self.act_play, self.act_back, self.act_fwd, self.act_home, self.act_end,
                  self.act_faster, self.act_slower):
            m.addAction(a)
        m = mb.addMenu("&View")
        for a in (self.act_cam_top, self.act_cam_iso, self.act_cam_fit, self.act_focus):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_overlay_state)
        m.addAction(self.act_overlay_cons)
        m.addSeparator()
        for d in (self.tree_dock, self.inspector_dock, self.charts_dock, self.consistency_dock,
                  self.evolution_dock):
            m.addAction(d.toggleViewAction())
        m = mb.addMenu("&Help")
        m.addAction(self.act_keys)
        m.addAction(self.act_about)

        tb = QToolBar("View", self)
        tb.setObjectName("viewToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(16, 16))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.addAction(self.act_open)
        tb.addAction(self.act_live)
        tb.addSeparator()
        tb.addWidget(QLabel(" Overlay: ", tb))
        tb.addAction(self.act_overlay_state)
        tb.addAction(self.act_overlay_cons)
        tb.addSeparator()
        tb.addWidget(QLabel(" Camera: ", tb))
        tb.addAction(self.act_cam_top)
        tb.addAction(self.act_cam_iso)
        tb.addAction(self.act_cam_fit)
        tb.addAction(self.act_focus)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for f in files:
            a = self.recent_menu.addAction(Path(f).name)
            a.setToolTip(f)
            a.setStatusTip(f)
            a.triggered.connect(lambda _=False, f=f: self.open_recording(f))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)
        else:
            self.recent_menu.addAction("(no recent recordings)").setEnabled(False)

    def _clear_recent(self) -> None:
        self.settings.clear_recent()
        self._rebuild_recent_menu()

    # ------------------------------------------------------------------------------------
    # workshop
    # ------------------------------------------------------------------------------------
    def set_workshop(self, workshop: Workshop) -> None:
        """Show ``workshop`` (builds the 3D scene once per workshop)."""
        from ui.view3d import QtWorkshopView  # VTK/pyvista only once a workshop is shown

        self.selection.clear()
        self.workshop = workshop
        if self.view is None:
            self.view = QtWorkshopView(workshop, self.cursor, self.store, self.selection, self)
            self.view.set_overlay(self.settings.overlay)
            self.centre.addWidget(self.view)
            self.tree = QtWorkshopTree(workshop, self.cursor, self.store, self.selection,
                                       self.clock, self)
            self.tree_holder.layout().addWidget(self.tree)
            self.inspector = QtInspector(workshop, self.cursor, self.store, self.selection,
                                         self.clock, self)
            self.inspector_holder.layout().addWidget(self.inspector)
        else:
            self.view.set_workshop(workshop)
            assert self.tree is not None and self.inspector is not None
            self.tree.set_workshop(workshop)
            self.inspector.set_workshop(workshop)
        self.consistency.set_workshop(workshop)
        self.centre.setCurrentWidget(self.view)
        (self.act_overlay_cons if self.view.overlay == "consistency"
         else self.act_overlay_state).setChecked(True)

    # ------------------------------------------------------------------------------------
    # live
    # ------------------------------------------------------------------------------------
    def start_live(self, workshop_path: str | Path | None = None, *,
                   factor: float | None = None, scenario: str | Path | None = None,
                   seed: int = 0, warmup_s: float = 3600.0,
                   record_dir: str | Path | None = None) -> bool:
        """Follow the simulated shop live, recording it; False (with a message) on error.

        Without ``workshop_path``: the workshop on screen, else the bundled machining13.
        """
        self.cancel_work()
        self.stop_live()
        if workshop_path:
            path = Path(workshop_path)
        elif self.workshop is not None and Path(self.workshop.path).is_file():
            path = Path(self.workshop.path)
        else:
            path = DEFAULT_WORKSHOP
        factor = float(factor if factor is not None else self.settings.live_speed)
        try:
            workshop = load_workshop(path)
            scen = load_scenario(scenario, workshop) if scenario else None
            folder = Path(record_dir) if record_dir else recordings_dir()
            out = folder / recording_name(workshop)
            live = LiveShop(workshop, out, scenario=scen, seed=seed, factor=factor,
                            warmup_s=warmup_s)
            live.start()
        except Exception as exc:  # noqa: BLE001 - any failure becomes a readable message
            self.show_error("Cannot start the live session", readable_error(exc))
            return False
        self.live, self.live_path, self.recording_path = live, out, None
        self._live_notice_shown = False
        self.set_workshop(workshop)
        self.store.start_live(list(workshop.stations), meta=live.meta(),
                              source=f"sim://{workshop.name}")
        self.cursor.pause()
        self.cursor.set_range(0.0, 0.0)
        self.cursor.set_live(True)
        self.cursor.speed = factor
        self.cursor.follow()
        self.setWindowTitle(f"{workshop.title or workshop.name} — live — {APP_NAME}")
        self.source_label.setText(f"live: sim://{workshop.name} → {out}")
        self.statusBar().showMessage(f"Recording the live session to {out}", 8000)
        settle_garbage()
        self._next_freeze = time.monotonic() + LIVE_FREEZE_S
        self.live_started.emit(str(out))
        return True

    def stop_live(self) -> None:
        """Stop the live source; the session stays scrubbable and its recording is kept."""
        live = self.live
        if live is None:
            return
        self.live = None
        live.stop()
        self._drain(live)
        self.store.end_live()
        self.cursor.set_live(False)
        if self.live_path is not None and self.live_path.exists():
            self.settings.add_recent(self.live_path)
            self._rebuild_recent_menu()
            self.recording_path = self.live_path
            self.source_label.setText(f"recorded live session: {self.live_path}")

    def _drain(self, live: LiveShop) -> int:
        batch = live.drain()
        end = max(batch.reached - FOLLOW_DELAY_S, 0.0)
        if not live.running:
            end = batch.reached  # nothing more to come: show everything
        if batch.events or end > self.store.time_range[1]:
            self.store.append(batch.events, now=max(end, self.store.time_range[1]))
            self.cursor.extend_to(self.store.time_range[1])
        return len(batch.events)

    def _on_speed(self, speed: float) -> None:
        if self.live is not None and self.cursor.mode is CursorMode.FOLLOWING:
            self.live.set_factor(speed)
            self.settings.live_speed = speed
        elif self.live is None:
            self.settings.replay_speed = speed

    def _on_mode(self, mode: CursorMode) -> None:
        if mode is CursorMode.FOLLOWING and self.live is not None:
            # following means watching the shop at its own pace
            self.cursor.speed = self.live.factor
        self._update_status()

    # ------------------------------------------------------------------------------------
    # replay
    # ------------------------------------------------------------------------------------
    def choose_recording(self) -> None:
        start = str(recordings_dir())
        recent = self.settings.recent_files()
        if recent:
            start = str(Path(recent[0]).parent)
        path, _ = QFileDialog.getOpenFileName(self, "Open recording", start, RECORDING_FILTER)
        if path:
            self.open_recording(path)

    def open_recording(self, path: str | Path, *, at: float | None = None,
                       play: bool = False) -> None:
        """Open a recording off the GUI thread; shows it when read, or an error dialog."""
        path = Path(path)
        self.cancel_work()
        worker = Worker(lambda should_abort: open_recording_job(path, should_abort),
                        name="open-recording", parent=self)
        self.worker = worker
        worker.progress.connect(self._on_progress)
        worker.done.connect(lambda r: self._on_opened(r, at, play))
        worker.failed.connect(lambda msg: self._on_open_failed(path, msg))
        worker.cancelled.connect(lambda: self.statusBar().showMessage(
            f"Opening {path.name} cancelled", 5000))
        worker.finished.connect(self._work_finished)
        self.progress.setValue(0)
        self.progress.setFormat(f"Opening {path.name}… %p%")
        self.progress.show()
        self.cancel_button.show()
        worker.start()

    def _on_progress(self, fraction: float, message: str) -> None:
        value = int(fraction * 1000)
        if abs(value - self.progress.value()) >= 10 or value >= 1000:
            # (each setValue repaints the window at once: keep it to 1 % steps)
            self.progress.setValue(value)
        if message:
            self.progress.setToolTip(message)

    def _work_finished(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()

    def cancel_work(self) -> None:
        """Abort a running job (stale work is never applied)."""
        w = self.worker
        if w is not None and w.running:
            w.abort()
            try:
                w.done.disconnect()
            except (RuntimeError, TypeError):
                pass
        self.worker = None

    def _on_opened(self, result: OpenedRecording, at: float | None, play: bool) -> None:
        try:
            self._show_recording(result, at, play)
        except Exception as exc:  # noqa: BLE001 - e.g. a workshop the scene cannot draw
            log.exception("showing %s failed", result.path)
            self._on_open_failed(result.path, f"{result.path}: {readable_error(exc)}")

    def _show_recording(self, result: OpenedRecording, at: float | None, play: bool) -> None:
        self.stop_live()
        self.set_workshop(result.workshop)
        self.store.attach(result.prepared)
        t0, t1 = self.store.time_range
        t0 = min(t0, 0.0)
        self.cursor.set_live(False)
        self.cursor.pause()
        self.cursor.set_range(t0, t1)
        self.cursor.speed = self.settings.replay_speed
        self.cursor.seek(t0 if at is None else at)
        if play:
            self.cursor.play()
        self.recording_path = result.path
        self._next_refresh = 0.0
        self.settings.add_recent(result.path)
        self._rebuild_recent_menu()
        meta = result.prepared.meta
        title = meta.get("workshop_title") or result.workshop.title or result.workshop.name
        self.setWindowTitle(f"{result.path.name} — {title} — {APP_NAME}")
        self.source_label.setText(
            f"replay: {result.path}  ({format_clock(t1 - t0)} of shift, "
            f"{len(result.prepared.markers)} marks)")
        settle_garbage()
        if result.warnings:
            self.show_warning("Recording opened with problems", "\n".join(result.warnings))
        self.recording_opened.emit(str(result.path))

    def _on_open_failed(self, path: Path, message: str) -> None:
        self.show_error("Cannot open recording", message)
        if not path.exists():
            self.settings.remove_recent(str(path.resolve()))
            self._rebuild_recent_menu()
        self.open_failed.emit(message)

    # ------------------------------------------------------------------------------------
    # overlay, camera, selection
    # ------------------------------------------------------------------------------------
    def set_overlay(self, mode: str, scores: Mapping[str, float] | None = None) -> None:
        if self.view is not None:
            self.view.set_overlay(mode, scores)
            if mode == "consistency" and not self.view.scores:
                self.statusBar().showMessage(
                    "No verification result yet: stations show 'n/a'. Run a verification "
                    "or File › Load consistency scores…", 8000)
        self.settings.overlay = mode
        (self.act_overlay_cons if mode == "consistency" else self.act_overlay_state
         ).setChecked(True)

    def choose_scores(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load consistency scores", "",
                                              "Verification result (*.json);;All files (*)")
        if path:
            self.load_scores(path)

    def load_scores(self, path: str | Path) -> bool:
        """Show per-station scores from a ``verify --json`` result (or a plain mapping)."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            scores = doc.get("per_station", doc) if isinstance(doc, dict) else None
            if not isinstance(scores, dict):
                raise ValueError("expected a JSON object with 'per_station' scores")
            self.set_overlay("consistency", {str(k): float(v) for k, v in scores.items()})
        except (OSError, ValueError, TypeError) as exc:
            self.show_error("Cannot load consistency scores", f"{path}: {readable_error(exc)}")
            return False
        return True

    def _camera(self, preset: str) -> None:
        if self.view is not None:
            self.view.set_camera(preset)

    def _on_station_activated(self, station: str) -> None:
        self.selection.select(station)
        if self.view is not None:
            self.view.focus(station)

    def _focus_selection(self) -> None:
        if self.view is not None and self.selection.entity:
            self.view.focus(self.selection.entity)

    def _on_selection(self, entity: str) -> None:
        if entity and self.inspector_dock.isHidden():
            self.inspector_dock.show()

    def _speed_step(self, direction: int) -> None:
        from twin.timecursor import SPEED_STEPS

        speeds = list(SPEED_STEPS)
        cur = self.cursor.speed
        if direction > 0:
            nxt = next((s for s in speeds if s > cur + 1e-9), speeds[-1])
        else:
            nxt = next((s for s in reversed(speeds) if s < cur - 1e-9), speeds[0])
        self.cursor.speed = nxt

    # ------------------------------------------------------------------------------------
    # the frame clock
    # ------------------------------------------------------------------------------------
    def on_frame(self) -> None:
        """One tick: live data in, cursor forward, 3D frame out (if anything changed)."""
        live = self.live
        if live is not None:
            self._drain(live)
            if time.monotonic() >= self._next_freeze:
                self._next_freeze = time.monotonic() + LIVE_FREEZE_S
                settle_garbage(full=False)
            if not live.running and not self._live_notice_shown:
                self._live_notice_shown = True
                if live.error:
                    self.show_error("Live session stopped", live.error)
                else:
                    self.statusBar().showMessage("The simulated shop finished its orders.", 8000)
                self.stop_live()
        elif self.recording_path is not None and time.monotonic() >= self._next_refresh:
            self._follow_growing_recording()
        self.cursor.tick()
        if self.view is not None:
            self.view.render_frame()

    def _follow_growing_recording(self) -> None:
        """A recording still being written (another window's live session, a shop
        recorder): read what was added about once a second, and follow it like live."""
        self._next_refresh = time.monotonic() + GROWING_REFRESH_S
        if not self.store.growing and not self.cursor.live:
            return
        try:
            added = self.store.refresh()
        except Exception as exc:  # noqa: BLE001 - e.g. the file was replaced
            self._next_refresh = float("inf")
            self.cursor.set_live(False)
            self.show_warning("Stopped following the recording", readable_error(exc))
            return
        if added:
            at_end = self.cursor.t >= self.cursor.range[1]
            self.cursor.set_live(True)
            self.cursor.extend_to(self.store.time_range[1])
            if at_end and self.cursor.mode is CursorMode.PAUSED:
                self.cursor.follow()
        if not self.store.growing and self.cursor.live:
            self.cursor.set_live(False)  # the writer closed the file: a finished shift

    def _status_if_due(self) -> None:
        if time.monotonic() >= self._status_due:
            self._status_due = time.monotonic() + 0.5
            self._update_status()

    def _update_status(self) -> None:
        # frame rate and events shown per second over the last ~2 s (sliding window)
        now = time.monotonic()
        frames = self.view.frames if self.view is not None else 0
        window = self._stats_window
        window.append((now, frames, self.store.events_applied))
        while len(window) > 2 and now - window[0][0] > STATS_WINDOW_S:
            window.popleft()
        t_old, f_old, e_old = window[0]
        dt = now - t_old
        if dt > 0:
            self.fps = (frames - f_old) / dt
            self.events_per_s = max(self.store.events_applied - e_old, 0) / dt
        mode = self.cursor.mode
        speed = speed_label(self.cursor.speed)
        if mode is CursorMode.FOLLOWING:
            self.mode_label.setText(f"<b style='color:{LIVE_RED}'>● LIVE</b> {speed}")
        elif mode is CursorMode.PLAYING:
            self.mode_label.setText(f"<b>▶ PLAYING</b> {speed}")
        else:
            self.mode_label.setText("<b>❚❚ PAUSED</b>")
        self.time_label.setText(f"t {format_clock(self.cursor.t)}")
        moving = mode is not CursorMode.PAUSED
        self.fps_label.setText(f"{self.fps:.0f} fps" if moving else "")
        self.rate_label.setText(f"{self.events_per_s:,.0f} events/s" if moving else "")

    # ------------------------------------------------------------------------------------
    # messages, dialogs, screenshots
    # ------------------------------------------------------------------------------------
    def _message(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.message_box = box
        box.open()  # not exec(): the window (and live data) keep running behind it
        return box

    def show_error(self, title: str, text: str) -> QMessageBox:
        log.warning("%s: %s", title, text)
        return self._message(QMessageBox.Icon.Critical, title, text)

    def show_warning(self, title: str, text: str) -> QMessageBox:
        log.warning("%s: %s", title, text)
        return self._message(QMessageBox.Icon.Warning, title, text)

    def show_about(self) -> None:
        QtAboutDialog(VERSION, self).exec()

    def show_shortcuts(self) -> None:
        rows = [("Space", "play / pause"), ("← / →", "step back / forward (one second × speed)"),
                ("Home / End", "start / end (End follows a live session)"),
                ("[ / ]", "slower / faster"), ("Ctrl+1 / 2 / 0", "top / iso / fit camera"),
                ("F", "focus the selected entity"), ("Ctrl+O", "open a recording"),
                ("Ctrl+L", "start a live session"), ("Mouse", "left drag: orbit, "
                 "right drag / wheel: zoom, middle drag: pan; click: select")]
        html = "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>"
                                   for k, v in rows) + "</table>"
        self._message(QMessageBox.Icon.Information, "Keyboard shortcuts", html)

    def choose_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "dmw-twin.png",
                                              "PNG image (*.png)")
        if path:
            self.save_screenshot(path)

    def grab_window(self) -> QPixmap:
        """The whole window as shown, with the 3D view's current frame painted in."""
        if self.view is not None:
            self.view.render_frame(force=True)
        pm = self.grab()
        if self.view is not None and self.view.isVisible():
            img = self.view.plotter.screenshot(None, return_img=True)
            if img is not None:
                h, w = img.shape[:2]
                qimg = QImage(img.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888)
                p = QPainter(pm)
                top_left = self.view.plotter.mapTo(self, self.view.plotter.rect().topLeft())
                p.drawImage(top_left, qimg.scaled(self.view.plotter.size()))
                p.end()
        return pm

    def save_screenshot(self, path: str | Path) -> bool:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = self.grab_window().save(str(path), "PNG")
        if not ok:
            self.show_error("Cannot save screenshot", f"{path}: could not write the image")
        return ok

    def _show_recordings_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(recordings_dir())))

    # ------------------------------------------------------------------------------------
    # drag and drop, closing
    # ------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        urls = event.mimeData().urls()
        if urls and any(u.isLocalFile() for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_recording(files[0])

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.clock.stop()
        self.cancel_work()
        self.stop_live()
        self.settings.save_layout(self.saveGeometry(), self.saveState())
        self.settings.sync()
        if self.view is not None:
            self.view.close()
        super().closeEvent(event)


def application() -> QApplication:
    """The QApplication (created once, with the app's name and a clean light style)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([APP_NAME])
    assert isinstance(app, QApplication)
    app.setOrganizationName("DMW")
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(VERSION)
    app.setStyle("Fusion")
    return app
