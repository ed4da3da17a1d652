"""The ingest pipeline in a worker thread, so a live flood never holds up the window.

:class:`~twin.sources.ingest.Ingest` drains, validates and records on the thread that pumps
it. In the app that is the GUI thread, and a frame then holds its 3D render (which does
not need the interpreter: VTK lets go of it) *and* the validation and recording of what
arrived (which does). :class:`BackgroundIngest` runs the same ``Ingest`` — the same
policy, counters, recording — in a thread of its own that drains the source every
:data:`PERIOD_S`; the window's :meth:`BackgroundIngest.pump` only puts what was accepted
into the state store, at most :data:`MAX_EVENTS_PER_PUMP` a frame in one go (what is
beyond waits, in order, for the next frames).

The recording writer is thread-safe, so the window's own annotations (the evolution
loop's) go to it directly. Qt-free. Times are seconds of the shift, wall times seconds.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from twin.recording.writer import RecordingWriter
from twin.sources.base import Source, SourceBatch, SourceState, SourceStatus
from twin.sources.ingest import Delivery, Ingest, IngestCounters, IngestResult

log = logging.getLogger(__name__)

#: Events one frame puts into the store at most (~7 ms at ~7 µs an event).
MAX_EVENTS_PER_PUMP = 1000
#: How often the worker drains an idle source, wall seconds.
PERIOD_S = 0.004
#: Wall seconds of validating and recording per delivery to the window (its slice).
SLICE_S = 0.005


class _Worker(Ingest):
    """The worker's ``Ingest``: deliveries go to an outbox for the window's thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox: collections.deque[Delivery] = collections.deque()
        self.outbox_lock = threading.Lock()  # the window takes from the outbox as it grows

    def _deliver(self, delivery: Delivery) -> None:
        with self.outbox_lock:
            box = self.outbox
            if box and _empty(delivery) and _empty(box[-1]):
                box[-1] = delivery  # only the view's end moved on: one entry is enough
            else:
                box.append(delivery)


def _empty(d: Delivery) -> bool:
    r = d.result
    return not (r.events or r.statuses or r.gaps or d.markers or r.rejected)


class BackgroundIngest:
    """Drains ``source`` into ``writer`` in a worker thread; :meth:`pump` feeds ``store``.

    The same surface as :class:`~twin.sources.ingest.Ingest` for the session (``pump``,
    ``counters``, ``writer``, ``write_error``, ``ended``, ``halt``), plus
    :meth:`start`.

    Args:
        source, writer, store, follow_delay_s, clock: as for ``Ingest``.
        max_events: events one :meth:`pump` puts into the store at most (whole deliveries,
            at least one); the rest waits for the next pumps.
    """

    def __init__(self, source: Source, writer: RecordingWriter | None, store: Any, *,
                 follow_delay_s: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 max_events: int = MAX_EVENTS_PER_PUMP) -> None:
        self._ingest = _Worker(source, writer, None, follow_delay_s=follow_delay_s, clock=clock)
        self._ingest.budget_s = SLICE_S
        self.store = store
        self.max_events = max_events
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown_reached = 0.0

    # -- what the session reads -----------------------------------------------------------
    @property
    def counters(self) -> IngestCounters:
        return self._ingest.counters

    @property
    def writer(self) -> RecordingWriter | None:
        return self._ingest.writer

    @property
    def write_error(self) -> str:
        return self._ingest.write_error

    @write_error.setter
    def write_error(self, text: str) -> None:
        self._ingest.write_error = text

    @property
    def ended(self) -> bool:
        """The source stopped or failed and the store has everything it delivered."""
        return self._ingest.ended and not self.running and not self._ingest.outbox

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the worker ------------------------------------------------------------------------
    def start(self) -> None:
        """Start draining (call after the source has started)."""
        if self._thread is not None:
            raise RuntimeError("ingest already started")
        self._thread = threading.Thread(target=self._run, name="dmw-ingest", daemon=True)
        self._thread.start()

    def halt(self, timeout: float = 10.0) -> None:
        """Stop the worker (what it took is kept; :meth:`pump` with ``final`` takes the rest)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        ing = self._ingest
        try:
            while not self._stop.is_set():
                ing.pump()
                if ing.ended:
                    break
                if not ing.counters.backlog:
                    self._stop.wait(PERIOD_S)
        except Exception as exc:  # noqa: BLE001 - Ingest catches what a source raises; this is ours
            log.error("ingest stopped:\n%s", traceback.format_exc())
            ing.take(SourceBatch(reached=math.nan, statuses=[  # the session ends, and says why
                SourceStatus(SourceState.FAILED, f"ingest stopped: {exc}", None)]))

    # -- the window's side -----------------------------------------------------------------
    def pump(self, *, final: bool = False) -> IngestResult:
        """Put what the worker accepted into the store, in one go: deliveries in order until
        :attr:`max_events` events (all of them with ``final``: then the worker is stopped
        and what the source still holds is drained here). Returns what reached the store."""
        if final:
            self.halt()
            self._ingest.pump(final=True)
        outbox = self._ingest.outbox
        limit = math.inf if final or self._ingest.ended else self.max_events
        taken: list[Delivery] = []
        n = 0
        with self._ingest.outbox_lock:
            while outbox and n < limit:
                d = outbox.popleft()
                taken.append(d)
                n += len(d.result.events)
        if not taken:
            return IngestResult([], self._shown_reached, [], [], 0)
        rs = [d.result for d in taken]
        merged = IngestResult([e for r in rs for e in r.events], rs[-1].reached,
                              [s for r in rs for s in r.statuses], [g for r in rs for g in r.gaps],
                              sum(r.rejected for r in rs))
        if self.store is not None:
            Delivery(merged, [m for d in taken for m in d.markers], taken[-1].end).show(self.store)
        self._shown_reached = merged.reached
        return merged
