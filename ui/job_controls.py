"""The run / Abort / progress controls of a dock's background job, kept in step with it.

The forecast, evolution, consistency and calibration docks each run one job at a time in a
:class:`~ui.workers.Worker`. :class:`JobControls` makes their three widgets (run button,
Abort button, progress bar) and keeps them in step with the job: while it runs the run
button is off, Abort is on and the bar shows its progress; when it ends (done, failed or
aborted) the bar hides and the buttons return. The widgets are children of the dock, which
lays them out where it wants them; the dock connects its own result handlers to the worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressBar, QPushButton, QWidget

from ui.workers import Worker


class JobControls(QObject):
    """Run button ``run_text`` (calls ``run``), Abort button (None if not ``abortable``)
    and a hidden 0-100 progress bar, all children of ``parent``.

    ``can_run()``: whether the run button comes back enabled after a job (default: always).
    ``min_interval``: least seconds between two bar updates (the bar repaints at once;
    the last step, 100 %, always shows). ``progress_format``: the bar's text (Qt's
    ``%p`` = percent), None for Qt's default.

    Signals: aborting() after Abort asked a job to stop.
    """

    aborting = Signal()

    def __init__(self, run_text: str, run: Callable[[], object], parent: QWidget, *,
                 abortable: bool = True, can_run: Callable[[], bool] = lambda: True,
                 min_interval: float = 0.0, progress_format: str | None = None) -> None:
        super().__init__(parent)
        self.worker: Worker | None = None
        self._can_run = can_run
        self._min_interval = float(min_interval)
        self._last_update = float("-inf")  # monotonic seconds of the last bar update
        self.run_button = QPushButton(run_text, parent)
        self.run_button.clicked.connect(run)
        self.abort_button: QPushButton | None = None
        if abortable:
            self.abort_button = QPushButton("Abort", parent)
            self.abort_button.setEnabled(False)
            self.abort_button.clicked.connect(self.abort)
        self.progress = QProgressBar(parent)
        self.progress.setRange(0, 100)
        if progress_format is not None:
            self.progress.setTextVisible(True)
            self.progress.setFormat(progress_format)
        self.progress.hide()

    @property
    def running(self) -> bool:
        """A job is running (one at a time)."""
        return self.worker is not None and self.worker.running

    def start(self, worker: Worker) -> None:
        """Show ``worker``'s job as running and start it (the dock has connected its
        result handlers)."""
        self.worker = worker
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        self.run_button.setEnabled(False)
        if self.abort_button is not None:
            self.abort_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.show()
        worker.start()

    def abort(self) -> None:
        """Ask the job to stop at its next step (it reports ``cancelled``)."""
        if self.worker is not None:
            self.worker.abort()
            self.aborting.emit()

    def _on_progress(self, fraction: float, _message: str) -> None:
        value = int(round(fraction * 100))
        now = time.monotonic()
        if value != self.progress.value() and (now - self._last_update >= self._min_interval
                                               or value >= 100):
            self._last_update = now
            self.progress.setValue(value)

    def _on_finished(self) -> None:
        self.run_button.setEnabled(self._can_run())
        if self.abort_button is not None:
            self.abort_button.setEnabled(False)
        self.progress.hide()


class JobDock:
    """Mixin of a dock that runs its job through ``self.job``: ``worker`` is the job's."""

    job: JobControls

    @property
    def worker(self) -> Worker | None:
        """The last job's worker (None before the first run)."""
        return self.job.worker
