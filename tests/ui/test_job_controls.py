"""JobControls: the run / Abort / progress block of the job docks follows the job."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator

from PySide6.QtWidgets import QWidget

from ui.job_controls import JobControls
from ui.workers import Worker


def gated_job(gate: threading.Event) -> Callable[[Callable[[], bool]], Generator]:
    """Half done, then waits for ``gate`` (or an abort), then done: returns 42."""
    def job(should_abort: Callable[[], bool]) -> Generator[tuple[float, str], None, int]:
        yield 0.5, "half"
        while not gate.wait(0.01):
            if should_abort():
                break
        yield 1.0, "all"
        return 42

    return job


def test_buttons_and_bar_follow_a_job_to_its_end(qtbot) -> None:  # noqa: ANN001
    dock = QWidget()
    qtbot.addWidget(dock)
    dock.show()
    runs: list[int] = []
    job = JobControls("Forecast", lambda: runs.append(1), dock)
    assert job.run_button.text() == "Forecast" and job.abort_button is not None
    assert job.run_button.isEnabled() and not job.abort_button.isEnabled()
    assert job.progress.isHidden() and not job.running
    job.run_button.click()
    assert runs == [1]  # the button runs the dock's job
    gate = threading.Event()
    worker = Worker(gated_job(gate), "test")
    with qtbot.waitSignal(worker.progress, timeout=5000):
        job.start(worker)
    assert job.running and job.worker is worker
    assert not job.run_button.isEnabled() and job.abort_button.isEnabled()
    assert job.progress.isVisible() and job.progress.value() == 50
    with qtbot.waitSignal(worker.finished, timeout=5000):
        gate.set()
    assert job.progress.isHidden() and not job.running
    assert job.run_button.isEnabled() and not job.abort_button.isEnabled()


def test_abort_stops_the_job_and_says_so(qtbot) -> None:  # noqa: ANN001
    dock = QWidget()
    qtbot.addWidget(dock)
    allowed = [False]
    job = JobControls("Evolve now", lambda: None, dock, can_run=lambda: allowed[0])
    said: list[bool] = []
    job.aborting.connect(lambda: said.append(True))
    worker = Worker(gated_job(threading.Event()), "test")
    results: list[object] = []
    worker.done.connect(results.append)
    with qtbot.waitSignal(worker.progress, timeout=5000):
        job.start(worker)
    assert job.abort_button is not None
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        job.abort_button.click()
    assert said == [True] and results == []
    assert not job.abort_button.isEnabled()
    assert not job.run_button.isEnabled()  # the dock says it cannot run now (e.g. live)


def test_a_job_without_abort_and_a_throttled_bar(qtbot) -> None:  # noqa: ANN001
    dock = QWidget()
    qtbot.addWidget(dock)
    job = JobControls("Calibrate", lambda: None, dock, abortable=False, min_interval=3600.0,
                      progress_format="%p %")
    assert job.abort_button is None and job.progress.format() == "%p %"
    def steps(should_abort: Callable[[], bool]) -> Generator[float, None, str]:
        yield from (0.25, 0.5, 1.0)
        return "calibrated"

    worker = Worker(steps, "test")
    shown: list[int] = []
    job.progress.valueChanged.connect(shown.append)
    with qtbot.waitSignal(worker.done, timeout=5000) as done:
        job.start(worker)
    assert done.args == ["calibrated"]
    # the first step shows, 50 % comes too soon after it; the last step always shows
    assert shown == [0, 25, 100]
