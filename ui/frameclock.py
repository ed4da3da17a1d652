"""One heartbeat for everything that draws: the window repaints once per frame.

Widgets that refresh on their own timers would each trigger a flush of the window.
Instead they all refresh on the :class:`FrameClock`'s tick (each deciding whether it is
due), so the changes of one frame land in one event-loop iteration and Qt paints once.

Two paces, after the 3D view (``ui/view3d.py``):

* the native X11 view renders into its own window and Qt repaints only the widgets that
  changed: ticks come every :data:`FRAME_MS` (less the tick's own time);
* pyvistaqt's ``QOpenGLWidget`` makes every flush compose the whole window with OpenGL
  (tens of milliseconds in software): the clock then *breathes* — after a tick that kept
  the GUI thread busy for ``b`` ms the next comes no sooner than ``b`` ms later, and no
  sooner than :data:`COMPOSED_FRAME_MS` — so the composition and input are served between
  frames. Measured (bench_app, 1x, 1600x1000): native 31 fps breathing-free vs 15 breathing;
  composed 18 fps breathing vs 13 without.

Either way frames are skipped, never queued.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

#: Frame period with the native 3D view, ms (50 fps at most).
FRAME_MS = 20
#: Frame period with the composed (QOpenGLWidget) 3D view, ms (30 fps at most).
COMPOSED_FRAME_MS = 33


class FrameClock(QObject):
    """Emits ``tick`` about every ``interval_ms``, slower when ticks take long."""

    tick = Signal()

    def __init__(self, interval_ms: int = FRAME_MS, parent: QObject | None = None,
                 start: bool = True, breathe: bool = False) -> None:
        super().__init__(parent)
        self.interval_ms = int(interval_ms)
        self.breathe = breathe  # wait at least as long as the last tick took
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._fire)
        self.busy_ms = 0.0  # how long the last tick kept the GUI thread busy
        self._running = False
        if start:
            self.start()

    def start(self) -> None:
        self._running = True
        self.timer.start(0)

    def stop(self) -> None:
        self._running = False
        self.timer.stop()

    @property
    def running(self) -> bool:
        return self._running

    def _fire(self) -> None:
        started = time.perf_counter()
        try:
            self.tick.emit()
        finally:
            self.busy_ms = (time.perf_counter() - started) * 1000.0
            if self._running:
                rest = self.busy_ms if self.breathe else 1.0
                delay = max(self.interval_ms - self.busy_ms, rest)
                self.timer.start(int(delay))


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
