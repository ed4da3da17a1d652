"""One heartbeat for everything that draws: the window repaints once per frame.

The 3D view lives in a ``QOpenGLWidget``, so every flush of the window composes all its
widgets with OpenGL; with software rendering that costs tens of milliseconds. Widgets
that refresh on their own timers would each trigger a flush. Instead they all refresh on
the :class:`FrameClock`'s tick (each deciding whether it is due), so the changes of one
frame land in one event-loop iteration and Qt composes the window once.

The clock also leaves the event loop room to breathe: after a tick that kept the GUI
thread busy for ``b`` ms, the next tick comes no sooner than ``b`` ms later (and no
sooner than the frame period), so input and the window's repaint are served between
frames however slow rendering gets: frames are skipped, never queued.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

#: Frame period, ms (50 fps at most).
FRAME_MS = 20


class FrameClock(QObject):
    """Emits ``tick`` about every ``interval_ms``, slower when ticks take long."""

    tick = Signal()

    def __init__(self, interval_ms: int = FRAME_MS, parent: QObject | None = None,
                 start: bool = True) -> None:
        super().__init__(parent)
        self.interval_ms = int(interval_ms)
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
                delay = max(self.interval_ms - self.busy_ms, 1.0)
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
