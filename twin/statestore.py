"""The state store: the one place that knows every entity's state at any time ``t``.

Fed either by a live source (events are appended as the shop runs, kept in memory with
keyframes) or by a recording (queries go to the recording's keyframe index). The 3D
view, the charts and the panels all ask the same store for the instant the
:class:`~twin.timecursor.TimeCursor` points at; they never talk to sources directly.

* :meth:`StateStore.state_at` is incremental: consecutive frames of a playing cursor only
  apply the events in between to a cached snapshot; a jump (seek back, long skip) asks the
  history for a fresh snapshot. Positions of moving AGVs are interpolated between their
  reports so motion stays smooth between events.
* Preparing a recording (reading it once for the KPI charts and markers) is a generator
  (:func:`prepare_replay`) that yields progress and can be aborted; run it off the GUI
  thread, then :meth:`StateStore.attach` the result on it.

The store itself is not thread-safe: it lives on the GUI thread, and sources hand events
to it there (through the ingest pipeline, :mod:`twin.sources.ingest`). Qt-free.
Times are seconds since the start of the recording/shift.
"""

from __future__ import annotations

import bisect
import inspect
import math
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from psygnal import Signal

from twin.events import Event
from twin.kpis import ShopKpis
from twin.snapshot import Snapshot

#: Event columns the shop analytics need besides t/entity/kind/state (operations, flow).
FLOW_COLUMNS = ("station", "wip", "process", "agv", "order")

#: A jump larger than this (seconds of shift) is answered from the history's keyframes
#: instead of applying every event in between to the cached snapshot.
INCREMENTAL_MAX_S: float = 900.0
#: How far ahead (seconds) to look for an AGV's next position report when interpolating.
INTERPOLATE_LOOKAHEAD_S: float = 10.0
#: Keyframe interval of the in-memory live history, seconds of shift.
LIVE_KEYFRAME_S: float = 60.0
#: Time span read per step while preparing a recording, seconds.
PREPARE_CHUNK_S: float = 1800.0
#: Marker kind of "this entity's source went silent" (a Sparkplug node's NDEATH): from its
#: time until the entity's next event, the entity is stale (:attr:`Snapshot.stale`).
STALE = "stale"


class History(Protocol):
    """What the store needs from a history (a recording, or the live in-memory log)."""

    @property
    def time_range(self) -> tuple[float, float]: ...

    def state_at(self, t: float) -> Snapshot: ...

    def events(self, t0: float, t1: float) -> Sequence[Event]: ...


@dataclass(frozen=True, slots=True)
class Marker:
    """Something worth a mark on the timeline: a breakdown or an annotation.

    ``t``/``t_end`` in seconds (``t_end`` None = an instant or still going on);
    ``kind`` e.g. ``"breakdown"``, ``"note"``, ``"gap"``, ``"status"`` (a live source's
    status change); ``entity`` may be "".
    """

    t: float
    kind: str
    label: str
    t_end: float | None = None
    entity: str = ""


# --------------------------------------------------------------------------------------
# Live in-memory history
# --------------------------------------------------------------------------------------
class MemoryHistory:
    """Events of a live session in memory, with keyframes every ``keyframe_s`` seconds.

    Append-only, events in time order (a late event is clamped to the last time so
    queries stay consistent). ``state_at`` starts from the nearest keyframe.
    """

    def __init__(self, t0: float = 0.0, keyframe_s: float = LIVE_KEYFRAME_S) -> None:
        self.t0 = float(t0)
        self.t_end = float(t0)
        self.keyframe_s = float(keyframe_s)
        self._events: list[Event] = []
        self._times: list[float] = []
        self._by_entity: dict[str, list[int]] = {}
        self._running = Snapshot(self.t0)
        self._key_times: list[float] = [self.t0]
        self._key_snaps: list[dict[str, Event]] = [{}]
        self._key_index: list[int] = [0]  # events before this index are in the keyframe

    def __len__(self) -> int:
        return len(self._events)

    @property
    def time_range(self) -> tuple[float, float]:
        return (self.t0, self.t_end)

    def append(self, events: Iterable[Event], extend: bool = True) -> int:
        """Add events; returns how many were added.

        ``extend``: the range grows to the last event (else only :meth:`extend_to` grows
        it: a live source knows how far the shop has run, which may be before its last
        event when the view stays a little behind the live edge).
        """
        n = 0
        for e in events:
            if self._times and e.t < self._times[-1]:
                e = replace(e, t=self._times[-1])
            if e.t < self.t0:
                e = replace(e, t=self.t0)
            # keyframe *before* the first event at or past the next keyframe time
            while e.t >= self._key_times[-1] + self.keyframe_s:
                self._key_times.append(self._key_times[-1] + self.keyframe_s)
                self._key_snaps.append(dict(self._running.entities))
                self._key_index.append(len(self._events))
            idx = len(self._events)
            self._events.append(e)
            self._times.append(e.t)
            self._by_entity.setdefault(e.entity, []).append(idx)
            self._running.apply(e)
            n += 1
        if extend and self._times and self._times[-1] > self.t_end:
            self.t_end = self._times[-1]
        return n

    def extend_to(self, t: float) -> None:
        """The shop has run until ``t`` (no events since): the range grows anyway."""
        if t > self.t_end:
            self.t_end = t

    def state_at(self, t: float) -> Snapshot:
        k = max(bisect.bisect_right(self._key_times, t) - 1, 0)
        snap = Snapshot(t, dict(self._key_snaps[k]))
        end = bisect.bisect_right(self._times, t)
        for i in range(self._key_index[k], end):
            snap.entities[self._events[i].entity] = self._events[i]
        snap.t = t
        return snap

    def count_until(self, t: float) -> int:
        """Number of events with time <= ``t`` (they are the first ones of the log)."""
        return bisect.bisect_right(self._times, t)

    def slice(self, i: int, j: int) -> list[Event]:
        """Events ``i`` to ``j`` (exclusive) in arrival order."""
        return self._events[i:j]

    def events(self, t0: float, t1: float) -> list[Event]:
        """Events with ``t0 <= t <= t1``, in time order."""
        i = bisect.bisect_left(self._times, t0)
        j = bisect.bisect_right(self._times, t1)
        return self._events[i:j]

    def last_events(self, entity: str, t: float, n: int) -> list[Event]:
        """The last ``n`` events of ``entity`` at or before ``t``, oldest first."""
        idx = self._by_entity.get(entity, [])
        # indices are in time order: binary search on the times they point at
        lo, hi = 0, len(idx)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._times[idx[mid]] <= t:
                lo = mid + 1
            else:
                hi = mid
        return [self._events[i] for i in idx[max(0, lo - n):lo]]


# --------------------------------------------------------------------------------------
# Preparing a recording for replay (off the GUI thread)
# --------------------------------------------------------------------------------------
@dataclass
class PreparedReplay:
    """A recording read once: its KPIs and timeline markers, ready to attach to a store."""

    history: History
    kpis: ShopKpis
    markers: list[Marker] = field(default_factory=list)
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


class Aborted(Exception):
    """Raised by a preparing generator when ``should_abort()`` said so."""


def prepare_replay(
    history: History,
    stations: Sequence[str] = (),
    *,
    annotations: Iterable[Any] = (),
    meta: Mapping[str, Any] | None = None,
    source: str = "",
    should_abort: Callable[[], bool] | None = None,
    chunk_s: float = PREPARE_CHUNK_S,
) -> Generator[float, None, PreparedReplay]:
    """Read a recording once for the charts and markers; yields progress 0..1.

    The :class:`PreparedReplay` is the generator's return value
    (``StopIteration.value``; :func:`run_to_end` unwraps it). Raises :class:`Aborted`
    when ``should_abort()`` returns True between chunks.
    """
    t0, t1 = history.time_range
    t0 = min(t0, 0.0)  # a shift starts at 0 even if the first event is later
    kpis = ShopKpis(stations, t0=t0)
    span = max(t1 - t0, 1e-9)
    columns = getattr(history, "columns", None)
    t = t0
    first = True
    yield 0.0
    while first or t < t1:
        if should_abort is not None and should_abort():
            raise Aborted("opening cancelled")
        hi = min(t + chunk_s, t1)
        if columns is not None:
            # bulk path (recordings): numpy columns, no event objects; the lower end
            # (inclusive) was read with the last chunk
            c = columns(t, hi)
            lo = 0 if first else int(np.searchsorted(c.t, t, side="right"))
            kpis.add_columns(c.t[lo:], c.entity[lo:], c.kind[lo:], c.state[lo:], c.strings,
                              {name: getattr(c, name)[lo:] for name in FLOW_COLUMNS})
        else:
            evs = history.events(t, hi)
            if not first:
                evs = [e for e in evs if e.t > t]
            kpis.add(evs)
        first = False
        t = hi
        yield min((t - t0) / span, 1.0)
        if t1 <= t0:
            break
    markers = _breakdown_markers(kpis)
    markers.extend(_annotation_markers(annotations))
    markers.sort(key=lambda m: m.t)
    return PreparedReplay(history, kpis, markers, dict(meta or {}), source)


def run_to_end(gen: Generator[Any, None, Any]) -> Any:
    """Drive a progress generator to the end and return its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _breakdown_markers(kpis: ShopKpis) -> list[Marker]:
    """One marker per station breakdown the KPIs saw (``t_end`` None while still down)."""
    return [Marker(d.start, "breakdown", f"{d.station} down", d.end, d.station)
            for d in kpis.downtimes()]


def _annotation_markers(annotations: Iterable[Any]) -> list[Marker]:
    """Accept annotations as mappings or objects with ``t`` and a text-ish field."""
    out: list[Marker] = []
    for a in annotations:
        get = a.get if isinstance(a, Mapping) else (lambda k, d=None, a=a: getattr(a, k, d))
        t = get("t", None)
        if t is None or not isinstance(t, (int, float)) or not math.isfinite(t):
            continue
        label = str(get("text", None) or get("label", None) or get("kind", None) or "note")
        t_end = get("t_end", None)
        kind = str(get("kind", None) or "annotation")
        out.append(Marker(float(t), kind, label,
                          float(t_end) if isinstance(t_end, (int, float)) else None,
                          str(get("entity", "") or "")))
    return out


# --------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------
class StateStore:
    """Every entity's state at any time, from a live source or a recording.

    Signals:
        reset(): a different source was attached (new recording, new live session).
        appended(t_end: float): live data arrived; the range now ends at ``t_end``.
    """

    reset = Signal()
    appended = Signal(float)

    def __init__(self, *, interpolate: bool = True) -> None:
        self.interpolate = interpolate
        self._history: History = MemoryHistory()
        self._kpis = ShopKpis()
        self._markers: list[Marker] = []
        self._meta: dict[str, Any] = {}
        self._source = ""
        self._live = False
        self._revision = 0
        self._cache: Snapshot | None = None  # raw (not interpolated) state at _cache.t
        self._cache_rev = -1
        self._cache_n = 0  # live: events of the MemoryHistory applied to the cache
        #: events applied to the shown state by forward playback (for events/s figures)
        self.events_applied = 0
        #: entity -> its "stale" markers, time order (kept with the markers)
        self._stale_marks: dict[str, list[Marker]] = {}

    # -- sources ---------------------------------------------------------------------
    def attach(self, replay: PreparedReplay) -> None:
        """Show a prepared recording (GUI thread)."""
        self._history = replay.history
        self._kpis = replay.kpis
        self._markers = list(replay.markers)
        self._index_stale()
        self._meta = dict(replay.meta)
        self._source = replay.source
        self._live = False
        self._bump(reset=True)

    def start_live(self, stations: Sequence[str] = (), *, t0: float = 0.0,
                   meta: Mapping[str, Any] | None = None, source: str = "") -> MemoryHistory:
        """Begin a live session: an empty in-memory history that :meth:`append` grows."""
        hist = MemoryHistory(t0)
        self._history = hist
        self._kpis = ShopKpis(stations, t0=t0)
        self._markers = []
        self._stale_marks = {}
        self._meta = dict(meta or {})
        self._source = source
        self._live = True
        self._bump(reset=True)
        return hist

    def append(self, events: Sequence[Event], now: float | None = None) -> None:
        """Add live events (time order) and/or move the live end to ``now`` seconds.

        Without ``now`` the range ends at the last event; with it, at ``now`` (events
        after ``now`` are kept and shown once the end passes them).
        """
        hist = self._history
        if not self._live or not isinstance(hist, MemoryHistory):
            raise RuntimeError("append() needs a live session (start_live first)")
        if events:
            hist.append(events, extend=now is None)
            self._kpis.add(events)
            if any(e.kind == "station" for e in events):
                notes = [m for m in self._markers if m.kind != "breakdown"]
                self._markers = _breakdown_markers(self._kpis) + notes
        if now is not None:
            hist.extend_to(now)
        if events or now is not None:
            self._bump()
            self.appended.emit(hist.t_end)

    def add_marker(self, t: float, kind: str, label: str, *, t_end: float | None = None,
                   entity: str = "") -> None:
        """Mark the live session's timeline (a source's status change, a gap) at ``t`` s."""
        if not self._live:
            raise RuntimeError("add_marker() needs a live session (start_live first)")
        m = Marker(float(t), kind, label, t_end, entity)
        self._markers.append(m)
        if kind == STALE and entity:
            marks = self._stale_marks.setdefault(entity, [])
            marks.append(m)
            marks.sort(key=lambda k: k.t)
        self._bump()
        self.appended.emit(self._history.time_range[1])

    @property
    def growing(self) -> bool:
        """A recording that its writer has not closed yet (it may still grow)."""
        hist = self._history
        return (not self._live and hasattr(hist, "refresh")
                and not bool(getattr(hist, "complete", True)))

    def refresh(self) -> int:
        """Read what the writer of a growing recording added since; returns new events.

        The new events join the KPIs and the timeline markers; ``appended`` is emitted
        when there were any. (A live session appends instead: see :meth:`append`.)
        """
        hist = self._history
        read_more = getattr(hist, "refresh", None)
        if self._live or read_more is None:
            return 0
        t_before = hist.time_range[1]
        n = int(read_more())
        if n <= 0:
            return 0
        columns = getattr(hist, "columns", None)
        if columns is not None:
            c = columns(t_before, math.inf)
            k = max(len(c.t) - n, 0)  # the new rows are the last n (time order)
            self._kpis.add_columns(c.t[k:], c.entity[k:], c.kind[k:], c.state[k:], c.strings,
                                   {name: getattr(c, name)[k:] for name in FLOW_COLUMNS})
        else:
            self._kpis.add([e for e in hist.events(t_before, math.inf)][-n:])
        notes = [m for m in self._markers if m.kind != "breakdown"]
        if hasattr(hist, "annotations"):
            notes = _annotation_markers(hist.annotations())
        self._markers = _breakdown_markers(self._kpis) + notes
        self._index_stale()
        self._bump()
        self.appended.emit(hist.time_range[1])
        return n

    def end_live(self) -> None:
        """The live source stopped: the session becomes a finished history."""
        if self._live:
            self._live = False
            self._bump()

    # -- what views read -------------------------------------------------------------
    @property
    def live(self) -> bool:
        return self._live

    @property
    def revision(self) -> int:
        """Increases whenever the data changes (views compare it to skip re-rendering)."""
        return self._revision

    @property
    def time_range(self) -> tuple[float, float]:
        return self._history.time_range

    @property
    def kpis(self) -> ShopKpis:
        return self._kpis

    @property
    def meta(self) -> dict[str, Any]:
        return self._meta

    @property
    def source(self) -> str:
        """Where the data comes from (a recording path, ``sim://machining13``...)."""
        return self._source

    @property
    def history(self) -> History:
        return self._history

    def markers(self) -> list[Marker]:
        """Breakdowns and annotations, by start time."""
        return sorted(self._markers, key=lambda m: m.t)

    def events(self, t0: float, t1: float) -> Sequence[Event]:
        return self._history.events(t0, t1)

    def last_events(self, entity: str, t: float, n: int = 8) -> list[Event]:
        """The last ``n`` events of ``entity`` at or before ``t``, oldest first."""
        hist = self._history
        if isinstance(hist, MemoryHistory):
            return hist.last_events(entity, t, n)
        start = hist.time_range[0]
        window = 600.0
        found: list[Event] = []
        by_entity = _accepts_entity(hist)
        while True:
            lo = max(start, t - window)
            if by_entity:
                found = list(hist.events(lo, t, entity=entity))  # type: ignore[call-arg]
            else:
                found = [e for e in hist.events(lo, t) if e.entity == entity and e.t <= t]
            if len(found) >= n or lo <= start or window > 8 * 3600:
                return found[-n:]
            window *= 4

    def state_at(self, t: float) -> Snapshot:
        """State of every entity at ``t`` seconds (shared object: do not modify it).

        Consecutive forward queries apply only the events in between; moving AGVs get
        positions interpolated between their reports when :attr:`interpolate` is on.
        """
        raw = self._raw_state_at(t)
        snap = self._interpolated(raw, t) if self.interpolate else raw
        self._mark_stale(snap, t)
        return snap

    def _index_stale(self) -> None:
        marks: dict[str, list[Marker]] = {}
        for m in self._markers:
            if m.kind == STALE and m.entity:
                marks.setdefault(m.entity, []).append(m)
        for v in marks.values():
            v.sort(key=lambda k: k.t)
        self._stale_marks = marks

    def _mark_stale(self, snap: Snapshot, t: float) -> None:
        """Fill ``snap.stale``: entities whose latest "stale" marker at or before ``t`` is
        not followed by an event of theirs (an event at the marker's time is the last one
        before the source went silent; the next one, later, makes the entity current)."""
        if not self._stale_marks:
            if snap.stale:
                snap.stale = {}
            return
        stale: dict[str, str] = {}
        for entity, marks in self._stale_marks.items():
            i = bisect.bisect_right(marks, t, key=lambda k: k.t)
            if not i:
                continue
            m = marks[i - 1]
            e = snap.entities.get(entity)
            if e is None or e.t <= m.t:
                stale[entity] = m.label
        snap.stale = stale

    def _raw_state_at(self, t: float) -> Snapshot:
        c = self._cache
        hist = self._history
        if c is not None and c.t <= t <= c.t + INCREMENTAL_MAX_S:
            if isinstance(hist, MemoryHistory):
                # live log is append-only: apply exactly the events not applied yet
                j = hist.count_until(t)
                for e in hist.slice(self._cache_n, j):
                    c.entities[e.entity] = e
                self.events_applied += max(j - self._cache_n, 0)
                self._cache_n = max(self._cache_n, j)
                c.t = t
                return c
            if self._cache_rev == self._revision:
                if t > c.t:
                    for e in hist.events(c.t, t):
                        if e.t > c.t:
                            c.entities[e.entity] = e
                            self.events_applied += 1
                    c.t = t
                return c
        snap = hist.state_at(t)
        snap.t = t
        self._cache = snap
        self._cache_rev = self._revision
        if isinstance(hist, MemoryHistory):
            self._cache_n = hist.count_until(t)
        return snap

    def _interpolated(self, raw: Snapshot, t: float) -> Snapshot:
        moving = [e for e in raw.entities.values()
                  if e.kind == "agv" and e.state == "moving" and e.x is not None and e.t < t]
        if not moving:
            return raw
        ahead = self._history.events(t, t + INTERPOLATE_LOOKAHEAD_S)
        nxt: dict[str, Event] = {}
        for e in ahead:
            if e.kind == "agv" and e.entity not in nxt and e.t > t and e.x is not None:
                nxt[e.entity] = e
        if not nxt:
            return raw
        out = Snapshot(t, dict(raw.entities))
        for e in moving:
            n = nxt.get(e.entity)
            if n is None or n.t <= e.t:
                continue
            f = (t - e.t) / (n.t - e.t)
            x = e.x + (n.x - e.x) * f  # type: ignore[operator]
            y = e.y + ((n.y if n.y is not None else e.y) - e.y) * f  # type: ignore[operator]
            out.entities[e.entity] = replace(e, x=x, y=y, heading=_lerp_angle(e.heading,
                                                                             n.heading, f))
        return out

    def _bump(self, reset: bool = False) -> None:
        self._revision += 1
        if reset:
            self._cache = None
            self.reset.emit()


def _accepts_entity(history: History) -> bool:
    """Whether ``history.events`` can filter by entity itself (recordings can)."""
    try:
        return "entity" in inspect.signature(history.events).parameters
    except (TypeError, ValueError):
        return False


def _lerp_angle(a: float | None, b: float | None, f: float) -> float | None:
    """Interpolate headings in degrees the short way round."""
    if a is None or b is None:
        return a
    d = (b - a + 180.0) % 360.0 - 180.0
    return a + d * f
