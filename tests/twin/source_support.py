"""A scripted live source for tests of the ingest pipeline and the window."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twin.events import Event
from twin.sources import SourceBatch, SourceState, SourceStatus


def wait_until(cond: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``cond`` every 5 ms until it is true; AssertionError after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.005)


def station_event(t: float, entity: str = "S01", state: str = "processing") -> Event:
    """A station's state change at ``t`` seconds."""
    return Event(t, entity, "station", state)


class ScriptedSource:
    """A test double of a feed (no workshop of its own, like MQTT): hands out the batches it
    was given, one per drain, then empty ones; its status is the last one a batch carried.
    Append to ``batches`` to script more."""

    def __init__(self, batches: list[SourceBatch], url: str = "test://scripted") -> None:
        self.url = url
        self.batches = list(batches)
        self._status = SourceStatus(SourceState.CONNECTING)

    def meta(self) -> dict[str, Any]:
        return {"source": self.url}

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 5.0) -> None:
        pass

    def drain(self) -> SourceBatch:
        batch = self.batches.pop(0) if self.batches else SourceBatch()
        if batch.statuses:
            self._status = batch.statuses[-1]
        return batch

    @property
    def status(self) -> SourceStatus:
        return self._status
