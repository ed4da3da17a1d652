"""A scripted live source for tests of the ingest pipeline and the window."""

from __future__ import annotations

from typing import Any

from twin.sources import SourceBatch, SourceState, SourceStatus


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
