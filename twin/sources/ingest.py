"""The one ingest pipeline every source goes through: validate once, record, feed the view.

    source --drain()--> Ingest.pump()
        validate (one policy, below)  --rejected--> counted by reason, with a sample
        \\-> RecordingWriter (crash-safe .twinlog)            } exactly the same
        \\-> StateStore (what the 3D view, charts, panels show) } accepted events

The policy, the same for the simulated shop, MQTT, OPC UA and MTConnect:

* **malformed**: :func:`twin.events.parse_event` refuses it (missing field, unknown state,
  NaN…) → rejected with that reason;
* **late**: earlier than the last accepted event → rejected (``late``). Recordings are
  append-only in time and the view must show what the recording holds;
* **entity changed kind**: an id first seen as a station arriving as an AGV → rejected;
* **too far ahead** (optional, ``max_ahead_s``): later than the batch's ``reached``
  watermark + ``max_ahead_s`` → rejected (a clock gone wrong on the feed's side);
* what the source itself could not decode (:class:`~twin.sources.base.Rejected`) is counted
  under its own reason.

An event the recording refuses (which the checks above make impossible in practice) is not
shown either: the store gets only what the writer accepted. If the recording can no longer
be written at all (disk full), recording stops, :attr:`Ingest.write_error` says why, and
the view goes on. Status changes and gaps become
recording annotations (kinds ``status`` and ``gap``) and timeline markers in the store, so
they show live and in a replay of the recording; so do a source's notes (a machine's alarms,
kinds ``alarm`` / ``warning``).

:meth:`Ingest.pump` runs on the consumer's thread (the GUI thread, or the ``record``
command's loop), once per frame. With :attr:`Ingest.budget_s` set (the app sets it) one pump
validates and records for at most that long; what a flood brought beyond it waits, in order,
for the next frames (:attr:`IngestCounters.backlog`), so the window keeps answering, and the
view's live end stays at the last event taken. A pump that sees the source stop, or one
called with ``final=True``, takes everything. Qt-free. Times are seconds of the shift.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twin.events import Event, EventError, parse_event
from twin.recording.model import RecordingError
from twin.recording.writer import RecordingWriter
from twin.sources.base import Gap, Note, Rejected, Source, SourceBatch, SourceState, SourceStatus
from twin.statestore import Marker

#: Reason keys of the pipeline's own checks (counted under these names).
MALFORMED = "malformed"
LATE = "late (earlier than the last accepted event)"
KIND_CHANGED = "entity changed kind"
TOO_FAR_AHEAD = "too far ahead of the source's watermark"
#: Distinct reasons counted at most; further ones go under OTHER_REASONS.
MAX_REASONS = 32
OTHER_REASONS = "(other reasons)"
#: Characters of a rejected payload kept as its sample.
SAMPLE_CHARS = 200
#: Events/s is averaged over this many wall seconds.
RATE_WINDOW_S = 2.0


@dataclass
class IngestCounters:
    """What the pipeline let through and what it refused, since the source started.

    Attributes:
        accepted: events recorded and shown.
        rejected: events refused (all reasons).
        reasons: reason -> count (at most :data:`MAX_REASONS` distinct reasons).
        samples: reason -> the first refused payload with that reason and the detail
            (``"t=3.0 s after t=9.5 s: {...}"``), at most :data:`SAMPLE_CHARS` characters.
        last_rejection: the most recent reason with its detail, "" if none.
        events_per_s: accepted events per wall second over the last few seconds.
        gaps: gaps reported by the source.
        reached: the source's watermark, seconds of shift (while events wait in the
            backlog: the time of the last one taken).
        backlog: events received but not validated yet (see :attr:`Ingest.budget_s`).
    """

    accepted: int = 0
    rejected: int = 0
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: dict[str, str] = field(default_factory=dict)
    last_rejection: str = ""
    events_per_s: float = 0.0
    gaps: int = 0
    reached: float = 0.0
    backlog: int = 0


@dataclass(frozen=True)
class IngestResult:
    """What one :meth:`Ingest.pump` did: the accepted events (time order), the watermark,
    the status changes and gaps of the batch, and how many events it refused."""

    events: list[Event]
    reached: float
    statuses: list[SourceStatus]
    gaps: list[Gap]
    rejected: int


@dataclass(frozen=True)
class Delivery:
    """What one pump hands to the view: its result, its timeline markers and the store's
    live end (seconds of shift) once its events are in."""

    result: IngestResult
    markers: list[Marker]
    end: float

    def show(self, store: Any) -> None:
        """Put it into a live :class:`~twin.statestore.StateStore` (the store's thread)."""
        if not store.live:
            return
        for m in self.markers:
            store.add_marker(m.t, m.kind, m.label, t_end=m.t_end, entity=m.entity)
        end = max(self.end, store.time_range[1])
        if self.result.events or end > store.time_range[1]:
            store.append(self.result.events, now=end)


def _sample(obj: Any) -> str:
    try:
        text = repr(obj.to_dict() if isinstance(obj, Event) else obj)
    except Exception:  # noqa: BLE001 - a hostile object: its type is sample enough
        text = f"<{type(obj).__name__}>"
    return text[:SAMPLE_CHARS]


def status_label(status: SourceStatus) -> str:
    """How a status change reads on the timeline: ``"connected: simulated shop running"``."""
    return f"{status.state.value}: {status.message}" if status.message else status.state.value


class Ingest:
    """Drains one source into a recording and a state store under one validation policy.

    Args:
        source: the source (already started or not; :meth:`pump` only drains it).
        writer: the recording to write (None: do not record).
        store: a state store in a live session (``start_live`` called), or None.
        max_ahead_s: refuse events later than the batch's ``reached`` + this (None: off).
        follow_delay_s: the store's live end stays this far behind ``reached`` while the
            source runs (the view interpolates AGV motion between position reports).
        clock: wall clock for events/s (injectable for tests).

    Signals are not used here; the session reads :attr:`counters` after each pump.
    """

    def __init__(self, source: Source, writer: RecordingWriter | None = None,
                 store: Any | None = None, *, max_ahead_s: float | None = None,
                 follow_delay_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_ahead_s is not None and not max_ahead_s >= 0:
            raise ValueError(f"max_ahead_s must be >= 0 s or None, got {max_ahead_s!r}")
        self.source = source
        self.writer = writer
        self.store = store
        self.max_ahead_s = max_ahead_s
        self.follow_delay_s = float(follow_delay_s)
        self.counters = IngestCounters()
        self.write_error = ""
        self._clock = clock
        self._last_t = -math.inf
        self._kinds: dict[str, str] = {}
        self._rate: collections.deque[tuple[float, int]] = collections.deque()
        self._ended = False
        #: wall seconds one pump may spend validating and recording (None: no limit)
        self.budget_s: float | None = None
        # events waiting for a later pump: (events, their batch's ahead limit), and how far
        # into the first of them the last pump got
        self._backlog: collections.deque[tuple[list[Any], float]] = collections.deque()
        self._backlog_pos = 0
        self._source_reached = 0.0

    # -- the pump ----------------------------------------------------------------------
    def pump(self, *, final: bool = False) -> IngestResult:
        """Drain the source once and pass the result on (see the module docstring);
        ``final``: take the whole backlog whatever :attr:`budget_s` says."""
        try:
            batch = self.source.drain()
        except Exception as exc:  # noqa: BLE001 - a source must not raise; if it does, say so
            batch = SourceBatch(reached=self.counters.reached, statuses=[SourceStatus(
                SourceState.FAILED, f"the source failed: {exc}", None)])
        return self.take(batch, final=final)

    def take(self, batch: SourceBatch, *, final: bool = False) -> IngestResult:
        """Validate, record and show one batch (what :meth:`pump` does after draining)."""
        c = self.counters
        reached = batch.reached if math.isfinite(batch.reached) else self._source_reached
        self._source_reached = max(self._source_reached, reached)
        ahead_limit = math.inf if self.max_ahead_s is None else reached + self.max_ahead_s
        refused_before = c.rejected
        before = c.reached  # the watermark before this batch
        for r in batch.rejected:
            if isinstance(r, Rejected):
                self._reject(r.reason, r.sample)
            else:
                self._reject("unreadable rejection", _sample(r))
        statuses = list(batch.statuses)
        if any(s.state in (SourceState.STOPPED, SourceState.FAILED) for s in statuses):
            self._ended = True
        if batch.events:
            self._backlog.append((batch.events, ahead_limit))
            c.backlog += len(batch.events)
        budget = None if final or self._ended else self.budget_s
        accepted = self._take_backlog(budget)
        c.accepted += len(accepted)
        gaps = list(batch.gaps)
        c.gaps += len(gaps)
        self._annotate(statuses, gaps)  # a status without a time: where the source was
        notes = list(getattr(batch, "notes", ()))
        self._notes(notes)
        if self._backlog:  # the view goes as far as what it was given
            c.reached = max(c.reached, min(self._last_t, self._source_reached))
        else:
            c.reached = max(c.reached, self._source_reached)
        self._count_rate(len(accepted))
        result = IngestResult(accepted, c.reached, statuses, gaps, c.rejected - refused_before)
        self._deliver(Delivery(result, self._markers(statuses, gaps, notes, before), self._view_end()))
        return result

    @property
    def ended(self) -> bool:
        """The source reported stopped or failed (nothing more will come)."""
        return self._ended

    def halt(self) -> None:
        """Nothing to stop: this pipeline runs on its caller's thread (see
        :class:`~twin.sources.ingest_thread.BackgroundIngest`)."""

    def _take_backlog(self, budget: float | None) -> list[Event]:
        """Validate and record waiting events in order, for at most ``budget`` wall seconds
        (None: all of them); returns the accepted ones."""
        accepted: list[Event] = []
        backlog = self._backlog
        deadline = math.inf if budget is None else time.perf_counter() + budget
        taken = 0
        late = False
        while backlog and not late:
            events, limit = backlog[0]
            i, n = self._backlog_pos, len(events)
            while i < n:
                ev = self._validate(events[i], limit)
                i += 1
                if ev is not None and (self.writer is None or self._record(ev)):
                    self._last_t = ev.t
                    accepted.append(ev)
                if not i & 127 and time.perf_counter() > deadline:  # the clock every 128
                    late = True
                    break
            taken += i - self._backlog_pos
            if i < n:
                self._backlog_pos = i
            else:
                backlog.popleft()
                self._backlog_pos = 0
        self.counters.backlog -= taken
        return accepted

    # -- validation --------------------------------------------------------------------
    def _validate(self, raw: Event | Mapping[str, Any], ahead_limit: float) -> Event | None:
        try:
            ev = parse_event(raw)
        except EventError as exc:
            self._reject(MALFORMED, f"{exc}: {_sample(raw)}")
            return None
        except Exception as exc:  # noqa: BLE001 - a hostile mapping must not stop ingest
            self._reject(MALFORMED, f"unreadable event ({type(exc).__name__}: {exc})")
            return None
        if ev.t < self._last_t:
            self._reject(LATE, f"t={ev.t:g} s after t={self._last_t:g} s: {_sample(ev)}")
            return None
        if ev.t > ahead_limit:
            self._reject(TOO_FAR_AHEAD, f"t={ev.t:g} s, watermark + {self.max_ahead_s:g} s = "
                                        f"{ahead_limit:g} s: {_sample(ev)}")
            return None
        known = self._kinds.get(ev.entity)
        if known is not None and known != ev.kind:
            self._reject(KIND_CHANGED, f"{ev.entity!r} is a {known}, not a {ev.kind}")
            return None
        self._kinds[ev.entity] = ev.kind
        return ev

    def _record(self, ev: Event) -> bool:
        w = self.writer
        assert w is not None
        try:
            if w.append_validated(ev):  # _validate ran parse_event on it
                return True
            self._reject(w.last_rejection.split(":")[0] or "refused by the recording",
                         w.last_rejection)
        except RecordingError as exc:  # disk full, file gone: stop recording, keep showing
            self.write_error = str(exc)
            self.writer = None
            return True
        return False

    def _reject(self, reason: str, sample: str = "") -> None:
        c = self.counters
        c.rejected += 1
        key = reason
        if key not in c.reasons and len(c.reasons) >= MAX_REASONS:
            key = OTHER_REASONS
        c.reasons[key] += 1
        if key not in c.samples:
            c.samples[key] = sample[:SAMPLE_CHARS]
        c.last_rejection = f"{reason}: {sample}"[:SAMPLE_CHARS] if sample else reason

    # -- annotations, store, rate ------------------------------------------------------
    def _annotate(self, statuses: list[SourceStatus], gaps: list[Gap]) -> None:
        w = self.writer
        if w is None:
            return
        try:
            for s in statuses:
                w.annotate(self._status_t(s), status_label(s), kind="status")
            for g in gaps:
                w.annotate(max(g.t0, 0.0), f"gap: {g.reason}", kind="gap",
                           t_end=max(g.t1, g.t0, 0.0))
        except (RecordingError, ValueError) as exc:
            self.write_error = self.write_error or str(exc)

    def _notes(self, notes: list[Note]) -> None:
        """A source's notes (a machine's alarms) → recording annotations."""
        if notes and self.writer is not None:
            try:
                for n in notes:
                    self.writer.annotate(max(n.t, 0.0), n.label, entity=n.entity, kind=n.kind)
            except (RecordingError, ValueError) as exc:
                self.write_error = self.write_error or str(exc)

    def _status_t(self, s: SourceStatus, default: float | None = None) -> float:
        """Shift time (s) of a status change: its own, else where the source had got to."""
        if default is None:
            default = self.counters.reached
        t = s.t if s.t is not None and math.isfinite(s.t) else default
        return max(float(t), 0.0)

    def _markers(self, statuses: list[SourceStatus], gaps: list[Gap], notes: list[Note],
                 before: float) -> list[Marker]:
        """Timeline markers of a batch: status changes (at their time, else where the
        source was before the batch), gaps, the source's notes."""
        return ([Marker(self._status_t(s, before), "status", status_label(s)) for s in statuses]
                + [Marker(max(g.t0, 0.0), "gap", f"gap: {g.reason}", max(g.t1, g.t0)) for g in gaps]
                + [Marker(max(n.t, 0.0), n.kind, n.label, entity=n.entity) for n in notes])

    def _view_end(self) -> float:
        """The store's live end after this pump: the watermark, less the follow delay while
        the source runs."""
        reached = self.counters.reached
        return reached if self._ended else max(reached - self.follow_delay_s, 0.0)

    def _deliver(self, delivery: Delivery) -> None:
        """Hand a pump's result to the view (here: the store, on this thread)."""
        if self.store is not None:
            delivery.show(self.store)

    def _count_rate(self, n: int) -> None:
        now = self._clock()
        q = self._rate
        q.append((now, n))
        while len(q) > 1 and now - q[0][0] > RATE_WINDOW_S:
            q.popleft()
        span = now - q[0][0]
        total = sum(k for _, k in list(q)[1:])
        self.counters.events_per_s = total / span if span > 0 else 0.0
