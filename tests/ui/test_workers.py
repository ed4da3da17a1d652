"""Worker: long jobs off the GUI thread with progress, results, errors and abort."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import pytest

from twin.recording import RecordingError
from ui.workers import Worker, readable_error


def counting_job(n: int, seen_threads: list[str]) -> Callable[[Callable[[], bool]], Generator]:
    def job(should_abort: Callable[[], bool]) -> Generator[tuple[float, str], None, int]:
        seen_threads.append(threading.current_thread().name)
        total = 0
        for i in range(n):
            time.sleep(0.01)
            total += i
            yield ((i + 1) / n, f"step {i + 1}")
        return total

    return job


def test_progress_and_result_arrive_on_the_gui_thread(qtbot) -> None:  # noqa: ANN001
    threads: list[str] = []
    w = Worker(counting_job(5, threads), name="count")
    progress: list[tuple[float, str, str]] = []
    w.progress.connect(lambda f, m: progress.append((f, m, threading.current_thread().name)))
    with qtbot.waitSignal(w.done, timeout=5000) as done:
        w.start()
    assert done.args == [sum(range(5))]
    assert threads == ["dmw-count"]  # the job ran in the worker thread...
    assert [p[0] for p in progress] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert {p[2] for p in progress} == {threading.main_thread().name}  # ...signals on the GUI
    assert not w.running


def test_abort_stops_between_steps_and_reports_cancelled(qtbot) -> None:  # noqa: ANN001
    threads: list[str] = []
    w = Worker(counting_job(500, threads), name="long")
    results: list[object] = []
    w.done.connect(results.append)
    with qtbot.waitSignal(w.cancelled, timeout=5000):
        w.start()
        time.sleep(0.05)
        w.abort()
    assert results == []
    assert w.wait(2.0)


def test_errors_become_one_readable_line(qtbot) -> None:  # noqa: ANN001
    def bad(should_abort: Callable[[], bool]) -> Generator[float, None, None]:
        yield 0.1
        raise RecordingError("shift.twinlog: not a DMW Twin recording")

    w = Worker(bad, name="bad")
    with qtbot.waitSignal(w.failed, timeout=5000) as failed:
        w.start()
    assert failed.args == ["shift.twinlog: not a DMW Twin recording"]


@pytest.mark.parametrize(("exc", "text"), [
    (FileNotFoundError(2, "No such file", "/x/a.twinlog"), "/x/a.twinlog: file not found"),
    (ValueError("speed must be positive"), "speed must be positive"),
    (KeyError("S99"), "KeyError: 'S99'"),
])
def test_readable_error(exc: BaseException, text: str) -> None:
    assert readable_error(exc) == text
