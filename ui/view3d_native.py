"""A pyvista plotter in a native X11 child window (the fast 3D view on Linux/X11).

pyvistaqt's ``QtInteractor`` is a ``QOpenGLWidget``: VTK renders into a framebuffer
object, the widget blits it into Qt's, and from then on Qt composes the *whole* top-level
window with OpenGL and swaps all of it to the X server on every flush, even when only a
label changed. On a software renderer (Mesa llvmpipe, no GPU) that composition costs more
than the 3D render itself.

:class:`NativeShopInteractor` is what pyvistaqt did before it moved to ``QOpenGLWidget``:
VTK's own ``QVTKRenderWindowInteractor`` with a plain ``QWidget`` base, which hands the
widget's X window to a ``vtkXOpenGLRenderWindow``; VTK renders and swaps straight into
that child window through GLX, and Qt paints the rest of the window with its raster
engine, flushing only the regions that changed. It is also a pyvista ``BasePlotter``,
so the scene (actors, camera, picking, ``screenshot``) uses it as it used ``QtInteractor``.

Only for the ``xcb`` platform (X11, also XWayland): elsewhere (Wayland, ``offscreen``,
Windows, macOS) :func:`native_view_available` says no and the view keeps pyvistaqt's
widget. ``DMW_VIEW3D=opengl`` forces pyvistaqt's widget on X11 as well (a fallback should
a driver not cope with GLX in a child window, and the A/B of ``benchmarks/bench_app.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import QApplication, QWidget

_GL_DRAW_FRAMEBUFFER = 0x8CA9
_GL_COLOR_BUFFER_BIT = 0x00004000
_GL_NEAREST = 0x2600

#: ``DMW_VIEW3D``: ``native`` (default where possible) or ``opengl`` (pyvistaqt's widget).
ENV_VIEW = "DMW_VIEW3D"


def native_view_available() -> bool:
    """True when the 3D view can be a native X11 child window rendered by GLX."""
    if os.environ.get(ENV_VIEW, "native").strip().lower() in ("opengl", "qopenglwidget", "pyvistaqt"):
        return False
    app = QApplication.instance()
    if app is None or not QApplication.platformName().startswith("xcb"):
        return False
    try:
        from vtkmodules.vtkRenderingOpenGL2 import vtkXOpenGLRenderWindow  # noqa: F401
    except ImportError:
        return False
    return True


def _qvtk_widget_class() -> type:
    """VTK's ``QVTKRenderWindowInteractor`` on a plain ``QWidget`` (a native window)."""
    import vtkmodules.qt

    vtkmodules.qt.QVTKRWIBase = "QWidget"  # the default, but it is process-global
    if vtkmodules.qt.PyQtImpl is None:
        vtkmodules.qt.PyQtImpl = "PySide6"
    from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

    return QVTKRenderWindowInteractor


_QVTK = _qvtk_widget_class()

from pyvista import global_theme  # noqa: E402 - after the Qt binding is chosen for VTK
from pyvista.plotting.plotter import BasePlotter  # noqa: E402
from pyvista.plotting.render_window_interactor import RenderWindowInteractor  # noqa: E402


@contextlib.contextmanager
def _no_base_plotter_init() -> Iterator[None]:
    """PySide6 continues the cooperative ``__init__`` chain past ``QWidget`` into
    ``BasePlotter`` without arguments; that call must do nothing (the real one follows)."""
    init = BasePlotter.__init__
    BasePlotter.__init__ = lambda *_a, **_k: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        BasePlotter.__init__ = init  # type: ignore[method-assign]


class _ClosedInteractor:
    """Stands in for the VTK interactor after close (Qt may still send leave events)."""

    def __getattr__(self, _name: str) -> Any:
        return lambda *_a, **_k: None


class NativeShopInteractor(_QVTK, BasePlotter):  # type: ignore[misc, valid-type]
    """A pyvista plotter drawn by VTK into its own X11 child window.

    The parts of ``pyvistaqt.QtInteractor`` the app relies on: ``render()`` (through a
    Qt signal, as pyvistaqt), ``render_window``, ``screenshot``, ``clear``, the
    interactor styles, ``close()``. A render swaps straight onto the screen, so a frame
    needs no Qt repaint; Qt's paint events (exposure) render again.
    """

    render_signal = Signal()

    def __init__(self, parent: QWidget | None = None, multi_samples: int | None = None,
                 **kwargs: Any) -> None:
        from vtkmodules.vtkRenderingOpenGL2 import vtkXOpenGLRenderWindow

        # A native child makes its ancestors native, and without this attribute their
        # siblings (the docks) too: each would then be flushed as a window of its own.
        if not QCoreApplication.testAttribute(Qt.ApplicationAttribute.AA_DontCreateNativeWidgetSiblings):
            QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_DontCreateNativeWidgetSiblings, True)
        # GLX explicitly: the process default may be EGL (set for off-screen plotters
        # when there was no display), which cannot draw into an X window.
        rw = vtkXOpenGLRenderWindow()
        with _no_base_plotter_init():
            _QVTK.__init__(self, parent=parent, rw=rw)
        BasePlotter.__init__(self, **kwargs)
        self.interactor = self
        self._closed = False
        self.ren_win = self.GetRenderWindow()
        self.ren_win.SetMultiSamples(global_theme.multi_samples if multi_samples is None
                                     else int(multi_samples))
        for renderer in self.renderers:
            renderer.view_isometric()
            self.ren_win.AddRenderer(renderer)
        self.render_signal.connect(self._render)
        self.background_color = global_theme.background
        self.iren = RenderWindowInteractor(self, interactor=self.ren_win.GetInteractor())
        self.iren.interactor.RemoveObservers("MouseMoveEvent")  # as pyvistaqt
        self.iren.initialize()
        self.enable_trackball_style()
        # VTK's own presentation (Frame) blits colour *and depth* of its display
        # framebuffer into the window's back buffer; on llvmpipe both are format
        # conversions (~6 ms CPU each at 800x800). Only the colour is ever shown.
        self.ren_win.SetFrameBlitModeToNoBlit()
        self.ren_win.SwapBuffersOff()
        self.ren_win.AddObserver("EndEvent", self._present, 100.0)  # before the others
        self._first_time = False  # BasePlotter: rendering is allowed from now on

    # -- rendering -------------------------------------------------------------------
    def _render(self) -> None:
        BasePlotter.render(self)

    def render(self) -> None:
        """Render now (VTK swaps the frame into the widget's window)."""
        if self._closed:
            return
        self._rendered = True
        with contextlib.suppress(RuntimeError):  # the Qt object was deleted
            self.render_signal.emit()

    def _present(self, rw: Any, _event: str) -> None:
        """After each render: colour of VTK's display framebuffer -> back buffer, swap."""
        if self._closed or any(r.GetSelector() is not None for r in rw.GetRenderers()):
            return  # closed, or a hardware-selection pass (not a picture)
        w, h = rw.GetSize()
        state = rw.GetState()
        rw.MakeCurrent()
        state.PushDrawFramebufferBinding()
        state.vtkglBindFramebuffer(_GL_DRAW_FRAMEBUFFER, 0)
        rw.BlitDisplayFramebuffer(0, 0, 0, w, h, 0, 0, w, h, _GL_COLOR_BUFFER_BIT, _GL_NEAREST)
        state.PopDrawFramebufferBinding()
        rw.SwapBuffersOn()
        try:
            rw.Frame()  # with NoBlit: only glXSwapBuffers
        finally:
            rw.SwapBuffersOff()

    def paintEvent(self, ev: Any) -> None:  # noqa: N802 - Qt API
        # exposure (a dock moved away, the window restored): draw the last frame again
        if not self._closed and self.ren_win is not None:
            self.ren_win.Render()

    def _check_has_ren_win(self) -> None:
        """Make the GLX context current before pyvista's is-current check (another
        render window of the process, e.g. an off-screen plotter, may hold it)."""
        if self.render_window is not None:
            self.render_window.MakeCurrent()
        BasePlotter._check_has_ren_win(self)

    # -- teardown --------------------------------------------------------------------
    def close(self) -> None:  # type: ignore[override]
        """Release VTK's window and context (returns None, unlike QWidget.close)."""
        if getattr(self, "_closed", True):
            return
        BasePlotter.close(self)
        _QVTK.close(self)
        self._Iren = _ClosedInteractor()
        for key in ("_RenderWindow", "renderer"):
            with contextlib.suppress(AttributeError):
                setattr(self, key, None)
