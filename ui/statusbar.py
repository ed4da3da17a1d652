"""The window's status bar: playback mode, shift clock, frame rate, and the source.

Observes the :class:`~twin.session.Session`: where the data comes from, the live source's
state (connecting / connected / reconnecting / stopped / failed, with its message),
events/s and how many events were rejected (reasons and a sample in the tooltip). Also
holds the progress bar and cancel button of long work (opening a recording, meshes).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

from twin.session import Session
from twin.sources import SourceState, SourceStatus
from twin.timecursor import CursorMode, format_clock
from ui.timeline import LIVE_RED, speed_label
from ui.workers import Worker

#: Frame rate and events/s are averaged over this many seconds.
STATS_WINDOW_S = 2.0
#: Colours of the source states (colour-blind-safe: blue ok, orange trying, red failed).
STATE_COLOURS = {
    SourceState.CONNECTING: "#E69F00",
    SourceState.CONNECTED: "#0072B2",
    SourceState.RECONNECTING: "#E69F00",
    SourceState.STOPPED: "#57606A",
    SourceState.FAILED: "#CF222E",
}


class QtStatusBar(QStatusBar):
    """Status bar bound to a session; ``frames()`` returns the 3D view's render count."""

    def __init__(self, session: Session, frames: Callable[[], int],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._frames = frames
        self.mode_label = QLabel("", self)
        self.mode_label.setMinimumWidth(150)
        self.time_label = QLabel("", self)
        self.fps_label = QLabel("", self)
        self.rate_label = QLabel("", self)
        self.state_label = QLabel("", self)
        self.rejected_label = QLabel("", self)
        self.source_label = QLabel("", self)
        self.source_label.setStyleSheet("color: #57606A;")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(220)  # "Loading <workshop>… 40%" whole, however long the source line
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setFlat(True)
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_job)
        self.worker: Worker | None = None
        for w in (self.mode_label, self.time_label, self.fps_label, self.rate_label,
                  self.state_label, self.rejected_label):
            self.addWidget(w)
        self.addWidget(self.source_label, 1)
        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.cancel_button)
        self._window: deque[tuple[float, int, int]] = deque()
        self.fps = 0.0
        self.events_per_s = 0.0
        self._due = 0.0
        session.source_changed.connect(self._show_source)
        session.status_changed.connect(self.show_status)
        session.cursor.mode_changed.connect(lambda _m: self.refresh())

    # -- the source --------------------------------------------------------------------
    def _show_source(self, description: str) -> None:
        self.source_label.setText(description)
        self.refresh()

    def show_status(self, status: SourceStatus | None) -> None:
        """Show the live source's state and message ("" when there is no live source)."""
        if status is None:
            self.state_label.setText("")
            return
        colour = STATE_COLOURS.get(status.state, "#57606A")
        text = f"<b style='color:{colour}'>{status.state.value}</b>"
        if status.message:
            text += f" — {status.message}"
        self.state_label.setText(text)

    # -- figures -----------------------------------------------------------------------
    def refresh_if_due(self) -> None:
        """Called every frame; redraws the figures twice a second."""
        now = time.monotonic()
        if now >= self._due:
            self._due = now + 0.5
            self.refresh()

    def refresh(self) -> None:
        s = self.session
        now = time.monotonic()
        frames = self._frames()
        applied = s.store.events_applied
        w = self._window
        w.append((now, frames, applied))
        while len(w) > 2 and now - w[0][0] > STATS_WINDOW_S:
            w.popleft()
        t_old, f_old, e_old = w[0]
        dt = now - t_old
        if dt > 0:
            self.fps = (frames - f_old) / dt
            self.events_per_s = max(applied - e_old, 0) / dt
        c = s.cursor
        mode = c.mode
        speed = speed_label(c.speed)
        if mode is CursorMode.FOLLOWING:
            self.mode_label.setText(f"<b style='color:{LIVE_RED}'>● LIVE</b> {speed}"
                                    if s.paced or not s.live else
                                    f"<b style='color:{LIVE_RED}'>● LIVE</b>")
        elif mode is CursorMode.PLAYING:
            self.mode_label.setText(f"<b>▶ PLAYING</b> {speed}")
        else:
            self.mode_label.setText("<b>❚❚ PAUSED</b>")
        self.time_label.setText(f"t {format_clock(c.t)}")
        moving = mode is not CursorMode.PAUSED
        self.fps_label.setText(f"{self.fps:.0f} fps" if moving else "")
        if s.live:  # what the source delivers, whatever the view does
            self.rate_label.setText(f"{s.counters.events_per_s:,.0f} events/s")
        else:  # what playback applies to the view
            self.rate_label.setText(f"{self.events_per_s:,.0f} events/s" if moving else "")
        self._show_rejected()

    def _show_rejected(self) -> None:
        c = self.session.counters if self.session.ingest is not None else None
        if c is None or not c.rejected:
            self.rejected_label.setText("")
            self.rejected_label.setToolTip("")
            return
        self.rejected_label.setText(f"<b style='color:#CF222E'>{c.rejected:,} rejected</b>")
        lines = [f"{n:,} × {reason}; e.g. {c.samples.get(reason, '')}"
                 for reason, n in c.reasons.most_common(8)]
        self.rejected_label.setToolTip("Events refused (not shown, not recorded):\n"
                                       + "\n".join(lines))

    # -- long work: one job at a time -------------------------------------------------
    def run_job(self, job: Callable[[Any], Any], name: str, text: str,
                done: Callable[[Any], None], failed: Callable[[str], None]) -> Worker:
        """Run ``job(should_abort)`` in a :class:`~ui.workers.Worker` (a running one is
        cancelled first) with progress and Cancel here; ``done``/``failed`` on the GUI thread."""
        self.cancel_job()
        worker = Worker(job, name=name, parent=self)
        self.worker = worker
        worker.progress.connect(self.on_progress)
        worker.done.connect(done)
        worker.failed.connect(failed)
        worker.cancelled.connect(lambda: self.showMessage(f"{text} cancelled", 5000))
        worker.finished.connect(self.end_work)
        self.begin_work(text)
        worker.start()
        return worker

    def cancel_job(self) -> None:
        """Abort the running job (its result, stale by now, is never applied)."""
        w = self.worker
        if w is not None and w.running:
            w.abort()
            try:
                w.done.disconnect()
            except (RuntimeError, TypeError):
                pass
        self.worker = None

    def begin_work(self, text: str) -> None:
        self.progress.setValue(0)
        self.progress.setFormat(f"{text} %p%")
        self.progress.show()
        self.cancel_button.show()

    def on_progress(self, fraction: float, message: str) -> None:
        value = int(fraction * 1000)
        if abs(value - self.progress.value()) >= 10 or value >= 1000:
            # (each setValue repaints the window at once: keep it to 1 % steps)
            self.progress.setValue(value)
        if message:
            self.progress.setToolTip(message)

    def end_work(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()
