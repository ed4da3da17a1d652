"""The main window: live and replay of a workshop in one place, a thin view of a session.

Composition (napari style: one Qt-free model, many observers):

* one :class:`~twin.session.Session` holds everything the window shows (workshop, live
  source or recording, cursor, store, overlay and scores, selection, verification result,
  the source's status and ingest counters); the window and the docks observe it and write
  into it, and never call each other;
* centre: the 3D workshop (:class:`~ui.view3d.QtWorkshopView`); left: the workshop tree
  and the inspector; right: the charts, the consistency and the forecast docks; bottom: the timeline;
* a frame clock (~30 fps at most) ticks the session (live data in through the ingest
  pipeline, cursor forward) and lets the 3D view render if something changed;
* long work (opening a recording, loading a workshop's meshes) runs in a
  :class:`~ui.workers.Worker` with progress in the status bar and a cancel button; only
  actor creation stays on the GUI thread. Errors are shown as readable messages.

Menus and actions are built in :mod:`ui.menus`, the status bar in :mod:`ui.statusbar`,
the jobs in :mod:`ui.opening`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from twin.locations import as_location, display_name
from twin.session import Session, read_flags, read_scores
from twin.sources import SourceState, SourceStatus, open_source
from twin.timecursor import CursorMode, format_clock
from twin.workshop import Workshop, load_workshop
from ui import menus
from ui.about import APP_NAME
from ui.dialogs import VERSION, WindowDialogs, build_welcome
from ui.charts import QtShopCharts
from ui.consistency import QtConsistencyPanel
from ui.evolution import QtEvolutionPanel
from ui.forecast import QtForecastPanel
from ui.frameclock import COMPOSED_FRAME_MS, FRAME_MS, FrameClock, settle_garbage
from ui.opening import OpenedRecording, models_job, open_recording_job
from ui.panels import QtInspector, QtWorkshopTree
from ui.settings import AppSettings, recordings_dir
from ui.statusbar import QtStatusBar
from ui.timeline import QtTimeline
from ui.view3d_native import native_view_available
from ui.warehouse import QtWarehousePanel
from ui.workers import readable_error

log = logging.getLogger(__name__)

#: While live, objects that survived this long (wall seconds) are moved out of the
#: garbage collector's sight (see settle_garbage).
LIVE_FREEZE_S = 120.0


class MainWindow(WindowDialogs, QMainWindow):
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
        self.session = s = Session(background_ingest=True)
        self.cursor, self.store, self.selection = s.cursor, s.store, s.selection
        self.message_box: QMessageBox | None = None
        self._next_freeze = 0.0
        self.view: Any = None  # QtWorkshopView once a workshop is shown
        self.tree: QtWorkshopTree | None = None
        self.inspector: QtInspector | None = None

        self.setWindowTitle(APP_NAME)
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowNestedDocks)
        self.resize(1500, 920)
        self.centre = QStackedWidget(self)  # welcome page until a workshop is shown
        self.welcome = build_welcome(self)
        self.centre.addWidget(self.welcome)
        self.setCentralWidget(self.centre)

        # one heartbeat for everything that draws (see ui.frameclock)
        native = native_view_available()  # the pace follows how the 3D view reaches the screen
        self.clock = FrameClock(FRAME_MS if native else COMPOSED_FRAME_MS, self, start=False,
                                breathe=not native)
        self.clock.tick.connect(self.on_frame)  # first in each tick: data in, cursor on
        self._build_docks()
        self.status = QtStatusBar(s, lambda: self.view.frames if self.view is not None else 0,
                                  self)
        self.setStatusBar(self.status)
        menus.build_actions(self)
        menus.build_menus_and_toolbar(self)
        self.clock.tick.connect(self.status.refresh_if_due)
        self.clock.start()

        s.overlay_changed.connect(self._on_overlay)
        s.scores_changed.connect(self._on_scores)
        s.live_ended.connect(self._on_live_ended)
        s.problem.connect(self.show_warning)
        self.cursor.speed_changed.connect(self._remember_speed)
        self.selection.changed.connect(self._on_selection)
        if restore_layout:
            geometry, state = self.settings.geometry(), self.settings.window_state()
            if geometry is not None:
                self.restoreGeometry(geometry)
            if state is not None:
                self.restoreState(state)
        s.set_overlay(self.settings.overlay)
        self.status.refresh()

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

    def _holder(self) -> QWidget:
        w = QWidget(self)
        QVBoxLayout(w).setContentsMargins(0, 0, 0, 0)
        return w

    def _build_docks(self) -> None:
        self.calibration_dialog: Any = None  # Model › Calibrate from recording… (made on use)
        area = Qt.DockWidgetArea
        self.timeline = QtTimeline(self.cursor, self.store, self.clock, self)
        self.timeline_dock = self._dock("Timeline", "timelineDock", self.timeline,
                                        area.BottomDockWidgetArea)
        self.timeline_dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.timeline_dock.setTitleBarWidget(QWidget(self.timeline_dock))
        self.charts = QtShopCharts(self.cursor, self.store, self.clock, self)
        self.charts_dock = self._dock("Charts", "chartsDock", self.charts,
                                      area.RightDockWidgetArea)
        self.consistency = QtConsistencyPanel(self.session, self)
        self.consistency_dock = self._dock("Consistency", "consistencyDock", self.consistency,
                                           area.RightDockWidgetArea)
        self.tabifyDockWidget(self.charts_dock, self.consistency_dock)
        self.charts_dock.raise_()
        self.consistency.station_activated.connect(self._on_station_activated)
        self.tree_holder, self.inspector_holder = self._holder(), self._holder()
        self.tree_dock = self._dock("Workshop", "workshopDock", self.tree_holder,
                                    area.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", "inspectorDock", self.inspector_holder,
                                         area.LeftDockWidgetArea)
        self.splitDockWidget(self.tree_dock, self.inspector_dock, Qt.Orientation.Vertical)
        s = self.session
        self.forecast = QtForecastPanel(self.cursor, self.store, self.charts,
                                        lambda: s.recording_path or s.live_path, self)
        self.forecast_dock = self._dock("Forecast", "forecastDock", self.forecast,
                                        area.LeftDockWidgetArea)
        self.tabifyDockWidget(self.inspector_dock, self.forecast_dock)  # table beside the charts
        self.inspector_dock.raise_()
        s.workshop_changed.connect(self.forecast.set_workshop)
        self.warehouse = QtWarehousePanel(lambda: s.workshop, lambda: s.recording_path or s.live_path,
                                          parent=self)
        self.warehouse_dock = self._dock("Warehouse", "warehouseDock", self.warehouse,
                                         area.RightDockWidgetArea)
        self.tabifyDockWidget(self.consistency_dock, self.warehouse_dock)
        self.evolution = QtEvolutionPanel(self.cursor, self)
        self.evolution_dock = self._dock("Evolution", "evolutionDock", self.evolution,
                                         area.RightDockWidgetArea)
        self.tabifyDockWidget(self.consistency_dock, self.evolution_dock)
        self.charts_dock.raise_()
        self.recording_opened.connect(self.evolution.set_recording)
        s.evolution_changed.connect(self.evolution.show_live)
        s.evolution_status.connect(self.evolution.show_live_status)
        s.source_changed.connect(lambda d: self.evolution.set_live(s.live, d))
        self.evolution.finished.connect(lambda r: self.charts.show_prediction(*r.prediction_curve()))
        self.resizeDocks([self.tree_dock, self.charts_dock], [330, 430],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.tree_dock, self.inspector_dock], [330, 420],
                         Qt.Orientation.Vertical)

    # ------------------------------------------------------------------------------------
    # workshop
    # ------------------------------------------------------------------------------------
    def set_workshop(self, workshop: Workshop) -> None:
        """Show ``workshop`` (builds the 3D scene once per workshop; its meshes should be
        loaded already, see :func:`ui.opening.models_job`)."""
        from ui.view3d import QtWorkshopView  # VTK/pyvista only once a workshop is shown

        if self.session.workshop is not workshop:
            self.session.set_workshop(workshop)
        if self.view is None:
            s = self.session
            self.view = QtWorkshopView(workshop, self.cursor, self.store, self.selection, self)
            self.view.set_overlay(s.overlay, s.scores, s.flags)
            self.view.set_trails(self.act_trails.isChecked())
            self.view.set_labels(self.act_labels.isChecked())
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
        self.centre.setCurrentWidget(self.view)

    @property
    def workshop(self) -> Workshop | None:
        return self.session.workshop

    def _run(self, job: Callable[[Any], Any], name: str, text: str,
             done: Callable[[Any], None], failed: Callable[[str], None]) -> None:
        """Run ``job(should_abort)`` in a worker with progress; ``done`` on the GUI thread."""
        self.status.run_job(job, name, text, done, failed)

    def cancel_work(self) -> None:
        """Abort a running job (stale work is never applied)."""
        self.status.cancel_job()

    # ------------------------------------------------------------------------------------
    # live
    # ------------------------------------------------------------------------------------
    def start_live(self, url: str | None = None, *, workshop_path: str | Path | None = None,
                   record_dir: str | Path | None = None,
                   options: Mapping[str, Any] | None = None) -> bool:
        """Follow a live source, recording it; False (with a message) if it cannot start.

        ``url`` defaults to the simulated shop on screen (else machining13) at the last
        live speed; ``options`` go to the source (credentials, certificates: File ›
        Connect…). A source that does not know its workshop (MQTT, OPC UA) is drawn on
        ``workshop_path``, else on the workshop on screen. The workshop's meshes load in
        a worker; ``live_started`` is emitted once the source runs.
        """
        self.cancel_work()
        self.stop_live()
        shown = self.workshop
        if url is None:
            here = Path(shown.path) if shown is not None and Path(shown.path).is_file() else None
            url = self.settings.live_url(here)
        try:
            source = open_source(url, **(options or {}))
            workshop = getattr(source, "workshop", None)  # a source that knows its shop
            if workshop_path is not None:
                workshop = load_workshop(workshop_path)
            workshop = workshop or shown
            if workshop is None:
                raise ValueError(f"{url}: which workshop does it feed? Open one first, "
                                 "or give --workshop")
        except Exception as exc:  # noqa: BLE001 - any failure becomes a readable message
            self.show_error("Cannot start the live session", readable_error(exc))
            return False
        folder = Path(record_dir) if record_dir else recordings_dir()
        self._run(lambda abort: models_job(workshop, abort), "load-models",
                  f"Loading {workshop.name}…",
                  lambda _warnings: self._go_live(source, workshop, folder),
                  lambda msg: self.show_error("Cannot start the live session", msg))
        return True

    def _go_live(self, source: Any, workshop: Workshop, folder: Path) -> None:
        s = self.session
        try:
            self.set_workshop(workshop)
            out = s.start_live(source, workshop, record_dir=folder)
        except Exception as exc:  # noqa: BLE001
            log.exception("starting %s failed", source.url)
            self.show_error("Cannot start the live session", readable_error(exc))
            return
        self.setWindowTitle(f"{workshop.title or workshop.name} — live — {APP_NAME}")
        self.status.showMessage(f"Recording the live session to {out}", 8000)
        settle_garbage()
        self._next_freeze = time.monotonic() + LIVE_FREEZE_S
        self.live_started.emit(str(out))

    def choose_connection(self) -> None:
        """File › Connect…: a live source (MQTT, OPC UA) with its credentials and files."""
        from ui.connect import open_connect_dialog

        open_connect_dialog(self)

    def stop_live(self) -> None:
        """Stop the live source; the session stays scrubbable and its recording is kept."""
        if self.session.live:
            self.session.stop_live()
            self._remember_live_recording()

    def _remember_live_recording(self) -> None:
        path = self.session.live_path
        if path is not None and path.exists():
            self.settings.add_recent(path)
            menus.rebuild_recent_menu(self)

    def _on_live_ended(self, status: SourceStatus | None) -> None:
        """The source stopped by itself (end of the shift) or failed."""
        self._remember_live_recording()
        if status is not None and status.state is SourceState.FAILED:
            self.show_error("Live session stopped", status.message or "the source failed")
        elif status is not None and status.message:
            self.status.showMessage(f"Live session ended: {status.message}.", 8000)

    def _remember_speed(self, speed: float) -> None:
        s = self.session
        if s.live and s.paced and self.cursor.mode is CursorMode.FOLLOWING:
            self.settings.live_speed = speed
        elif not s.live:
            self.settings.replay_speed = speed

    # ------------------------------------------------------------------------------------
    # replay
    # ------------------------------------------------------------------------------------
    def open_recording(self, path: str | Path, *, at: float | None = None,
                       play: bool = False) -> None:
        """Open a recording off the GUI thread; shows it when read, or an error dialog."""
        path = as_location(path)
        self._run(lambda abort: open_recording_job(path, abort), "open-recording",
                  f"Opening {display_name(path)}…", lambda r: self._on_opened(r, at, play),
                  lambda msg: self._on_open_failed(path, msg))

    def _on_opened(self, result: OpenedRecording, at: float | None, play: bool) -> None:
        try:
            self.stop_live()
            self.set_workshop(result.workshop)
            self.session.show_replay(result.prepared, result.workshop, result.path, at=at,
                                     play=play, speed=self.settings.replay_speed)
        except Exception as exc:  # noqa: BLE001 - e.g. a workshop the scene cannot draw
            log.exception("showing %s failed", result.path)
            self._on_open_failed(result.path, f"{result.path}: {readable_error(exc)}")
            return
        self.settings.add_recent(result.path)
        menus.rebuild_recent_menu(self)
        meta, ws = result.prepared.meta, result.workshop
        title = meta.get("workshop_title") or ws.title or ws.name
        self.setWindowTitle(f"{display_name(result.path)} — {title} — {APP_NAME}")
        t0, t1 = self.cursor.range
        self.status.source_label.setText(
            f"{self.session.description}  ({format_clock(t1 - t0)} of shift, "
            f"{len(result.prepared.markers)} marks)")
        self.status.show_status(None)
        settle_garbage()
        if result.warnings:
            self.show_warning("Recording opened with problems", "\n".join(result.warnings))
        self.recording_opened.emit(str(result.path))

    def _on_open_failed(self, path: str | Path, message: str) -> None:
        self.show_error("Cannot open recording", message)
        if isinstance(path, Path) and not path.exists():  # a server's shift stays in the list
            self.settings.remove_recent(str(path.resolve()))
            menus.rebuild_recent_menu(self)
        self.open_failed.emit(message)

    @property
    def recording_path(self) -> Path | None:
        return self.session.recording_path

    # ------------------------------------------------------------------------------------
    # overlay, view options, camera, selection
    # ------------------------------------------------------------------------------------
    def set_overlay(self, mode: str, scores: Mapping[str, float] | None = None,
                    flags: Mapping[str, str] | None = None) -> None:
        self.session.set_overlay(mode, scores, flags)
        if mode == "consistency" and not self.session.scores:
            self.status.showMessage(
                "No verification result yet: stations show 'n/a'. Run a verification "
                "or File › Load consistency scores…", 8000)

    def _on_overlay(self, mode: str) -> None:
        if self.view is not None:
            self.view.set_overlay(mode)
        self.settings.overlay = mode
        (self.act_overlay_cons if mode == "consistency" else self.act_overlay_state
         ).setChecked(True)

    def _on_scores(self, scores: dict[str, float]) -> None:
        if self.view is not None:
            self.view.set_overlay(self.session.overlay, scores, self.session.flags)

    def load_scores(self, path: str | Path) -> bool:
        """Show per-station scores from a ``verify --json`` result (or a plain mapping)."""
        try:
            self.set_overlay("consistency", read_scores(path), read_flags(path))
        except (OSError, ValueError, TypeError) as exc:
            self.show_error("Cannot load consistency scores", f"{path}: {readable_error(exc)}")
            return False
        return True

    def set_trails(self, on: bool) -> None:
        if self.view is not None:
            self.view.set_trails(on)

    def set_labels(self, on: bool) -> None:
        if self.view is not None:
            self.view.set_labels(on)

    def camera(self, preset: str) -> None:
        if self.view is not None:
            self.view.set_camera(preset)

    def _on_station_activated(self, station: str) -> None:
        self.selection.select(station)
        if self.view is not None:
            self.view.focus(station)

    def focus_selection(self) -> None:
        if self.view is not None and self.selection.entity:
            self.view.focus(self.selection.entity)

    def _on_selection(self, entity: str) -> None:
        if entity and self.inspector_dock.isHidden():
            self.inspector_dock.show()

    def calibrate_from_recording(self) -> None:
        """Model › Calibrate from recording…: fit the workshop on screen from the data
        the window shows and show the report (:class:`ui.calibration.CalibrationDialog`)."""
        from ui.calibration import CalibrationDialog

        if self.calibration_dialog is None:
            self.calibration_dialog = CalibrationDialog(self.session, self)
        d = self.calibration_dialog
        d.show()
        d.raise_()
        d.activateWindow()
        d.run()

    def forecast_from_cursor(self) -> None:
        self.forecast_dock.show()
        self.forecast_dock.raise_()
        self.forecast.run()

    # ------------------------------------------------------------------------------------
    # the frame clock
    # ------------------------------------------------------------------------------------
    def on_frame(self) -> None:
        """One tick: live data in, cursor forward, 3D frame out (if anything changed)."""
        if self.session.live and time.monotonic() >= self._next_freeze:
            self._next_freeze = time.monotonic() + LIVE_FREEZE_S
            settle_garbage(full=False)
        self.session.tick()
        if self.view is not None:
            self.view.render_frame()

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
