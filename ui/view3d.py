"""The centre of the window: the 3D workshop in a pyvista plotter widget.

On X11 the plotter is :class:`~ui.view3d_native.NativeShopInteractor`, a native child
window VTK renders into through GLX (Qt then never composes the window with OpenGL);
elsewhere it is pyvistaqt's ``QtInteractor`` (:class:`QtShopInteractor`, a
``QOpenGLWidget``). :func:`make_interactor` picks one.

:class:`QtWorkshopView` observes the cursor and the store and only marks itself dirty;
the window's frame clock calls :meth:`QtWorkshopView.render_frame`, which applies the
snapshot at the cursor time and renders, once per frame at most and only when the cursor
moved or the data changed. A left click without drag picks the entity under the mouse
and writes it into the shared :class:`~twin.session.Selection`; the view highlights
whatever the selection holds (from the tree as well).

Keys typed into the 3D view are left to the window's shortcuts (space, arrows...): VTK's
own single-key bindings (``w`` wireframe, ``e``/``q`` exit...) are not wanted here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import pyvista as pv
from pyvistaqt import QtInteractor
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from scene.workshop_scene import WorkshopScene
from twin.statestore import StateStore
from twin.timecursor import TimeCursor
from twin.workshop import Workshop
from twin.session import Selection

#: A press and release closer than this (pixels) and shorter than CLICK_S is a click.
CLICK_PX = 5
CLICK_S = 0.5


class QtShopInteractor(QtInteractor):
    """pyvistaqt's ``QtInteractor``, rendering once per frame instead of twice.

    pyvistaqt's widget re-renders in every paint, because pyvista may change the scene
    without asking for a repaint. Here every change is followed by an explicit render
    (ours, or the interactor's while the camera moves), so a paint that follows a
    finished render only needs to show it. That also splits a frame's work in two
    event-loop turns (render, then compose the window), so input is served in between.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._fresh = False  # VTK's frame buffer holds a render not yet shown
        self.render_window.AddObserver("EndEvent", self._on_render_end)

    def _on_render_end(self, *_: object) -> None:
        if not getattr(self, "_in_paint", False):
            self._fresh = True

    def paintGL(self) -> None:  # noqa: N802 - Qt API
        if self._fresh and hasattr(self, "_in_paint"):
            self._fresh = False
            self._in_paint = True  # tells pyvistaqt's paintGL to blit without rendering
            try:
                super().paintGL()
            finally:
                self._in_paint = False
        else:
            super().paintGL()

    def resizeGL(self, w: int, h: int) -> None:  # noqa: N802 - Qt API
        self._fresh = False  # the frame buffer changes size: render again
        super().resizeGL(w, h)


def make_interactor(parent: QWidget) -> QtInteractor:
    """The 3D view's plotter widget: native X11 window where possible (see module doc)."""
    from ui.view3d_native import native_view_available

    if native_view_available():
        from ui.view3d_native import NativeShopInteractor

        return NativeShopInteractor(parent, multi_samples=0)
    return QtShopInteractor(parent, auto_update=False, multi_samples=0)


class QtWorkshopView(QWidget):
    """3D view of one workshop, showing the store's state at the cursor time."""

    def __init__(self, workshop: Workshop, cursor: TimeCursor, store: StateStore,
                 selection: Selection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cursor, self.store, self.selection = cursor, store, selection
        pv.global_theme.multi_samples = 0
        self.setObjectName("workshopView")
        self.plotter = make_interactor(self)
        self.plotter.setAcceptDrops(False)  # recordings dropped here go to the window
        self.plotter.setMinimumSize(320, 240)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plotter)
        self.scene: WorkshopScene | None = None
        self.workshop: Workshop | None = None
        self.overlay = "state"
        self.scores: dict[str, float] = {}
        self.flags: dict[str, str] = {}  # flagged stations -> why (consistency overlay)
        self.trails = False  # View › AGV trails
        self.labels = True  # View › Labels
        self._dirty = True
        self._shown_t: float | None = None
        self._shown_rev = -1
        self.last_render_s = 0.0  # duration of the last VTK render, seconds
        self.last_update_s = 0.0  # duration of the last scene update (apply), seconds
        self.frames = 0  # VTK renders so far
        self._render_started = 0.0
        self._press: tuple[QPointF, float] | None = None
        self._camera_preset: str | None = "iso"
        self.plotter.installEventFilter(self)
        rw = self.plotter.render_window
        rw.AddObserver("StartEvent", self._on_render_start)
        rw.AddObserver("EndEvent", self._on_render_end)
        self.set_workshop(workshop)
        cursor.t_changed.connect(self._mark)
        store.reset.connect(self._mark)
        store.appended.connect(self._mark)
        selection.changed.connect(self._on_selection)

    # -- building --------------------------------------------------------------------
    def set_workshop(self, workshop: Workshop) -> None:
        """Build the scene of ``workshop`` (once per workshop, never per frame)."""
        if self.workshop is not None and workshop.source_hash == self.workshop.source_hash \
                and workshop.path == self.workshop.path and self.scene is not None:
            return
        if self.scene is not None:
            self.scene.close()
        self.plotter.clear()
        self.workshop = workshop
        self.scene = WorkshopScene(workshop, self.plotter)
        try:
            self.plotter.enable_terrain_style(mouse_wheel_zooms=True)
        except TypeError:  # older pyvista without the keyword
            self.plotter.enable_terrain_style()
        self.scene.set_overlay(self.overlay, self.scores, self.flags)
        self.scene.set_trails(self.trails)
        self.scene.set_labels(self.labels)
        self.set_camera("iso")
        self._shown_t = None
        self._dirty = True

    # -- observers -------------------------------------------------------------------
    def _mark(self, *_: object) -> None:
        self._dirty = True

    def _on_selection(self, entity: str) -> None:
        if self.scene is not None:
            self.scene.highlight(entity or None)
            self._dirty = True

    @property
    def dirty(self) -> bool:
        return self._dirty

    # -- per frame -------------------------------------------------------------------
    def render_frame(self, force: bool = False) -> bool:
        """Apply the state at the cursor time and render; True if a frame was rendered."""
        if self.scene is None or not (self._dirty or force):
            return False
        t = self.cursor.t
        rev = self.store.revision
        started = time.perf_counter()
        if force or t != self._shown_t or rev != self._shown_rev:
            self.scene.apply(self.store.state_at(t))
            self._shown_t, self._shown_rev = t, rev
        self._dirty = False
        self.last_update_s = time.perf_counter() - started
        # render now: a native window shows it at once, a QtShopInteractor in its next paint
        self.scene.render()
        return True

    def _on_render_start(self, *_: object) -> None:
        self._render_started = time.perf_counter()

    def _on_render_end(self, *_: object) -> None:
        self.last_render_s = time.perf_counter() - self._render_started
        self.frames += 1

    @property
    def shown_t(self) -> float | None:
        """Cursor time of the snapshot drawn last (seconds)."""
        return self._shown_t

    # -- commands from the window ----------------------------------------------------
    def set_overlay(self, mode: str, scores: Mapping[str, float] | None = None,
                    flags: Mapping[str, str] | None = None) -> None:
        """``"state"`` colours or ``"consistency"`` heat map (scores 0..1 per station; the
        ``flags``, station -> why it is flagged, labelled above those stations)."""
        self.overlay = mode
        if scores is not None:
            self.scores = dict(scores)
        if flags is not None:
            self.flags = dict(flags)
        if self.scene is not None:
            self.scene.set_overlay(mode, self.scores, self.flags)
            self._dirty = True

    def set_trails(self, on: bool) -> None:
        """Draw each AGV's path over the last minutes of shift time (View › AGV trails)."""
        self.trails = bool(on)
        if self.scene is not None:
            self.scene.set_trails(self.trails)
            self._dirty = True

    def set_labels(self, on: bool) -> None:
        """Name the stations and storage in the view (View › Labels)."""
        self.labels = bool(on)
        if self.scene is not None:
            self.scene.set_labels(self.labels)
            self._dirty = True

    def set_camera(self, preset: str) -> None:
        """Apply a camera preset; it is re-applied on resizes until the user moves the
        camera (the first layout of the window changes the view's size)."""
        self._camera_preset = preset
        if self.scene is not None:
            self.scene.set_camera(preset)
            self._dirty = True

    def focus(self, entity: str) -> None:
        if self.scene is not None and entity:
            self.scene.focus(entity)
            self._dirty = True

    def pick_at(self, x: float, y: float) -> str | None:
        """Entity under widget point (x, y) (Qt pixels, origin top-left), or None."""
        if self.scene is None:
            return None
        ratio = self.plotter.devicePixelRatioF()
        height = self.plotter.height() * ratio
        return self.scene.pick(x * ratio, height - 1 - y * ratio)

    def widget_position(self, entity: str) -> tuple[float, float] | None:
        """Where ``entity`` appears in the widget (Qt pixels, top-left origin)."""
        if self.scene is None:
            return None
        try:
            pos = self.scene.entity_screen_position(entity)
        except KeyError:
            return None
        ratio = self.plotter.devicePixelRatioF()
        height = self.plotter.height() * ratio
        return pos[0] / ratio, (height - 1 - pos[1]) / ratio

    def screenshot(self, path: str) -> None:
        """Save the 3D view alone as a PNG."""
        self.render_frame(force=True)
        self.plotter.screenshot(path)

    # -- mouse and keys on the interactor --------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        et = event.type()
        if et in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            # leave keys to the window (space/arrows) instead of VTK's single-key commands
            event.ignore()
            return True
        if et == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            self._camera_preset = None  # the user takes over the camera
            if event.button() == Qt.MouseButton.LeftButton:
                self._press = (event.position(), time.monotonic())
        elif et == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent):
            if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
                p0, t0 = self._press
                self._press = None
                d = event.position() - p0
                if abs(d.x()) + abs(d.y()) <= CLICK_PX and time.monotonic() - t0 <= CLICK_S:
                    picked = self.pick_at(event.position().x(), event.position().y())
                    self.selection.select(picked or "")
        # VTK renders camera moves itself; a resize needs our frame clock to redraw
        if et == QEvent.Type.Wheel:
            self._camera_preset = None
        if et == QEvent.Type.Resize:
            if self._camera_preset and self.scene is not None:
                QTimer.singleShot(0, self._reapply_camera)
            self._dirty = True
        return False

    def _reapply_camera(self) -> None:
        if self._camera_preset and self.scene is not None:
            self.scene.set_camera(self._camera_preset)
            self._dirty = True

    def close(self) -> None:  # type: ignore[override]
        self.plotter.close()
