"""One heartbeat for everything that draws: the window repaints once per frame.

The 3D view lives in a ``QOpenGLWidget``, so every flush of the window composes all its
widgets with OpenGL; with software rendering that costs tens of milliseconds. Widgets
that refresh on their own timers would each trigger a flush. Instead they all refresh on
the :class:`FrameClock`'s tick (each deciding whether it is due), so the changes of one
frame land in one event-loop iteration and Qt composes the window once.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal

#: Frame period, ms (~30 fps at most).
FRAME_MS = 33


class FrameClock(QObject):
    """Emits ``tick`` every ``interval_ms`` (a slow frame delays the next tick: Qt
    schedules a repeating timer from the time it fired, so frames are skipped, never
    queued)."""

    tick = Signal()

    def __init__(self, interval_ms: int = FRAME_MS, parent: QObject | None = None,
                 start: bool = True) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick.emit)
        if start:
            self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
