"""Long work off the GUI thread: run a progress generator in a thread, results on the GUI.

The twin layer writes long jobs as generators that yield progress (``0..1`` or
``(fraction, message)``) and return their result (napari's two-way worker pattern).
:class:`Worker` runs such a generator in a plain thread and re-emits progress, the
result, an error or the cancellation as Qt signals *on the GUI thread* (queued
connections to itself), so receivers may touch widgets and VTK objects.

:func:`readable_error` turns an exception into one line fit for a message box.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)

#: A job receives ``should_abort()`` and returns a progress generator (or, for a plain
#: function that reports through :meth:`Worker.report`, its result).
Job = Callable[[Callable[[], bool]], Generator[Any, None, Any] | Any]

#: Errors whose message is already written for a user (they name the file and the problem).
_USER_ERRORS = ("RecordingError", "WorkshopError", "EventError", "ScenarioError",
                "SimulationError", "VerificationError", "StoreError", "MeshError", "Aborted",
                "VerificationAborted", "EvolutionAborted", "ModelFileError")


def readable_error(exc: BaseException) -> str:
    """One clear line for a dialog: the message of a domain error, else type and message."""
    name = type(exc).__name__
    msg = str(exc).strip()
    if name in _USER_ERRORS or isinstance(exc, (ValueError, OSError)) and msg:
        if isinstance(exc, FileNotFoundError) and exc.filename:
            return f"{exc.filename}: file not found"
        if isinstance(exc, PermissionError) and exc.filename:
            return f"{exc.filename}: permission denied"
        return msg or name
    return f"{name}: {msg}" if msg else f"unexpected {name}"


class Worker(QObject):
    """Run one job off the GUI thread.

    Signals (all delivered on the GUI thread):
        progress(fraction: float, message: str)
        done(result: object)
        failed(message: str): the job raised; ``message`` is fit for a user.
        cancelled(): the job stopped because :meth:`abort` was called.
        finished(): after any of done / failed / cancelled.
    """

    progress = Signal(float, str)
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    _progress_x = Signal(float, str)
    _done_x = Signal(object)
    _failed_x = Signal(str)
    _cancelled_x = Signal()

    def __init__(self, job: Job, name: str = "job", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job = job
        self.name = name
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self.running = False
        q = Qt.ConnectionType.QueuedConnection
        self._progress_x.connect(self._on_progress, q)
        self._done_x.connect(self._on_done, q)
        self._failed_x.connect(self._on_failed, q)
        self._cancelled_x.connect(self._on_cancelled, q)

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.running = True
        self._abort.clear()
        self._thread = threading.Thread(target=self._run, name=f"dmw-{self.name}", daemon=True)
        self._thread.start()

    def abort(self) -> None:
        """Ask the job to stop at its next progress step."""
        self._abort.set()

    @property
    def aborting(self) -> bool:
        return self._abort.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends (tests, shutdown); True if it ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def report(self, fraction: float, message: str = "") -> None:
        """Progress from a plain-function job (any thread)."""
        self._progress_x.emit(float(fraction), str(message))

    def _run(self) -> None:
        try:
            gen = self._job(self._abort.is_set)
            if not isinstance(gen, Generator):
                if self._abort.is_set():
                    self._cancelled_x.emit()
                else:
                    self._done_x.emit(gen)
                return
            while True:
                try:
                    p = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                if self._abort.is_set():
                    gen.close()
                    self._cancelled_x.emit()
                    return
                frac, msg = (p if isinstance(p, tuple) else (p, ""))
                self._progress_x.emit(float(frac or 0.0), str(msg))
        except Exception as exc:  # noqa: BLE001 - shown to the user, logged in full
            if self._abort.is_set() or type(exc).__name__.endswith("Aborted"):
                self._cancelled_x.emit()
                return
            log.error("%s failed:\n%s", self.name, traceback.format_exc())
            self._failed_x.emit(readable_error(exc))
            return
        self._done_x.emit(result)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.emit(fraction, message)

    def _on_done(self, result: object) -> None:
        self.running = False
        self.done.emit(result)
        self.finished.emit()

    def _on_failed(self, message: str) -> None:
        self.running = False
        self.failed.emit(message)
        self.finished.emit()

    def _on_cancelled(self) -> None:
        self.running = False
        self.cancelled.emit()
        self.finished.emit()
