"""One shop run (physical or virtual) read once and indexed for verification.

Verification accepts a recording (:class:`twin.recording.Recording`, or a path to a
``.twinlog``) or a plain sequence of :class:`twin.events.Event`. :func:`load_run` turns any
of them into a :class:`ShopRun`: the station state changes, the operations (a WIP processed
at a station), the arrivals of WIP at stations, AGV state changes and transports, orders.
Times are seconds since the start of the recording. The figures come from
:class:`twin.analytics.ShopAnalytics` (the one place they are computed).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.analytics import (
    AGV_STATES,
    STATION_STATES,
    Arrival,
    Downtime,
    Operation,
    ShopAnalytics,
    Transport,
)
from twin.events import Event

__all__ = ["AGV_STATES", "STATION_STATES", "Arrival", "Operation", "ShopRun", "Transport",
           "VerificationError", "check_compatible", "index_events", "load_run"]


class VerificationError(ValueError):
    """Recordings that cannot be verified against each other; the message says why."""


@dataclass
class ShopRun:
    """Events of one shop run, indexed for verification.

    Attributes:
        label: where it came from (file path or "events").
        workshop: workshop name ("" if unknown) and ``source_hash`` of the workshop file.
        stations: station ids (sorted); ``agvs`` likewise.
        t_start, t_end: time covered [s].
        station_changes: station -> [(t, state index in STATION_STATES)] at each change.
        agv_changes: agv -> [(t, state index in AGV_STATES)] at each change.
        agv_moves: agv -> [(t0, t1, metres)] between consecutive position reports while
            the AGV was moving (its travel, from which its speed follows).
        operations, arrivals, transports: see :mod:`twin.analytics`, in time order.
        downtimes: every breakdown (ongoing ones with ``end`` None), by start.
        setups: (station, end t, seconds in setup) of every finished setup (breakdowns
            during a setup excluded).
        wip_order: WIP id -> order id; ``order_times``: order -> (released, completed|None).
        fingerprint: sha256 of the events (identifies the data trained nets came from).
    """

    label: str
    workshop: str
    source_hash: str
    stations: tuple[str, ...]
    agvs: tuple[str, ...]
    t_start: float
    t_end: float
    station_changes: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    agv_changes: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    agv_moves: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    transports: list[Transport] = field(default_factory=list)
    setups: list[tuple[str, float, float]] = field(default_factory=list)
    downtimes: list[Downtime] = field(default_factory=list)
    wip_order: dict[str, str] = field(default_factory=dict)
    order_times: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start

    def served_by(self) -> list[Operation | None]:
        """For each arrival (in the order of ``arrivals``), the operation that processed it:
        the first one of that WIP at that station starting at or after the arrival (None:
        still waiting at the end of the run)."""
        ops: dict[tuple[str, str], list[Operation]] = defaultdict(list)
        for op in self.operations:
            ops[(op.station, op.wip)].append(op)
        out: list[Operation | None] = []
        for arr in self.arrivals:
            later = [op for op in ops.get((arr.station, arr.wip), []) if op.start >= arr.t]
            out.append(min(later, key=lambda op: (op.start, op.process)) if later else None)
        return out

    def dispatch_picks(self) -> list[tuple[str, float, bool]]:
        """(station, start t, took the earliest-arrived part) of every operation start at
        which two or more parts were waiting at the station, in time order.

        "Waiting" = delivered to the station (an :class:`Arrival`) and not yet started; a
        start with one part waiting leaves no choice and is not listed. A shop that
        dispatches first-come-first-served takes the earliest arrival every time (ties in
        arrival time count as taking it); shortest-processing-time-first does not."""
        per_station: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for arr, op in zip(self.arrivals, self.served_by(), strict=True):
            if op is not None:
                per_station[arr.station].append((arr.t, op.start))
        eps = 1e-6
        out: list[tuple[str, float, bool]] = []
        for station, parts in per_station.items():
            for t_arr, t_start in parts:
                waiting = [a for a, s in parts if a <= t_start + eps and s > t_start + eps]
                if waiting:
                    out.append((station, t_start, t_arr <= min(waiting) + eps))
        return sorted(out, key=lambda p: p[1])

    def blocked_bursts(self, gap_s: float) -> dict[str, list[float]]:
        """Station -> the blocked time [s] of each of its blocking *bursts*: its blocked
        intervals (cut at the end of the run) merged when less than ``gap_s`` apart.

        Blocking comes in bursts, not single episodes: a station waits a minute or two
        for room downstream, works, waits again, for as long as the congestion or the
        repair downstream lasts (a faithful 8 h machining13 shift: S12 blocked 17 times,
        15 min in all, behind one 22 min repair of S13). The burst is the rare event."""
        blocked = STATION_STATES.index("blocked")
        out: dict[str, list[float]] = {}
        for station, changes in self.station_changes.items():
            spans: list[tuple[float, float]] = []
            t0 = None
            for t, k in changes:
                if k == blocked and t0 is None:
                    t0 = t
                elif k != blocked and t0 is not None:
                    spans.append((t0, t))
                    t0 = None
            if t0 is not None:
                spans.append((t0, self.t_end))
            bursts: list[list[float]] = []  # [end of its last interval, blocked seconds]
            for a, b in spans:
                if bursts and a - bursts[-1][0] < gap_s:
                    bursts[-1][0] = b
                    bursts[-1][1] += b - a
                else:
                    bursts.append([b, b - a])
            if bursts:
                out[station] = [sec for _, sec in bursts]
        return out

    def down_episodes(self) -> list[float]:
        """Durations [s] of every breakdown of every station (cut at the end of the run),
        station by station."""
        pos = {st: i for i, st in enumerate(self.station_changes)}
        by_station = sorted(self.downtimes, key=lambda d: pos.get(d.station, len(pos)))
        return [(self.t_end if d.end is None else d.end) - d.start for d in by_station]


def load_run(source: Any, label: str | None = None) -> ShopRun:
    """Read a recording, a path to one, or a sequence of events into a :class:`ShopRun`.

    Raises :class:`VerificationError` when there is nothing to verify (no events, no
    station events) or the file cannot be read.
    """
    if isinstance(source, ShopRun):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        from twin.recording import RecordingError, open_recording

        try:
            rec = open_recording(path)
        except RecordingError as exc:  # its message already names the file
            raise VerificationError(str(exc)) from exc
        except OSError as exc:
            raise VerificationError(f"{path}: {exc.strerror or exc}") from exc
        return _from_recording(rec, label or str(path))
    if hasattr(source, "events") and hasattr(source, "time_range"):
        return _from_recording(source, label or str(getattr(source, "path", "recording")))
    if isinstance(source, Iterable):
        events = list(source)
        bad = next((e for e in events if not isinstance(e, Event)), None)
        if bad is not None:
            raise VerificationError(f"expected shop-floor events, got {type(bad).__name__}")
        return index_events(events, label or "events")
    raise VerificationError(f"cannot verify a {type(source).__name__}: give a recording or events")


def _from_recording(rec: Any, label: str) -> ShopRun:
    meta = getattr(rec, "meta", None)
    meta = meta if isinstance(meta, dict) else {}
    try:
        t0, t1 = rec.time_range
        events = list(rec.events(t0, t1 + 1e-6))
    except Exception as exc:  # noqa: BLE001
        raise VerificationError(f"{label}: cannot read events ({exc})") from exc
    return index_events(events, label, meta, time_range=(t0, t1))


def index_events(
    events: Sequence[Event],
    label: str,
    meta: dict[str, Any] | None = None,
    time_range: tuple[float, float] | None = None,
) -> ShopRun:
    """Index events (any order; sorted stably by time here) into a :class:`ShopRun`."""
    meta = meta or {}
    if not events:
        raise VerificationError(f"{label}: no events to verify")
    evs = sorted(events, key=lambda e: e.t)
    stations = sorted({e.entity for e in evs if e.kind == "station"})
    meta_stations = meta.get("stations")
    if meta_stations:
        stations = sorted(set(stations) | {str(s) for s in meta_stations})
    if not stations:
        raise VerificationError(f"{label}: no station events to verify")
    agvs = sorted({e.entity for e in evs if e.kind == "agv"})
    t_start = evs[0].t if time_range is None else min(time_range[0], evs[0].t)
    t_end = evs[-1].t if time_range is None else max(time_range[1], evs[-1].t)
    workshop = str(meta.get("workshop") or meta.get("workshop_name") or meta.get("name") or "")
    run = ShopRun(
        label=label,
        workshop=workshop,
        source_hash=str(meta.get("source_hash") or ""),
        stations=tuple(stations),
        agvs=tuple(agvs),
        t_start=float(t_start),
        t_end=float(t_end),
    )
    _index(run, evs)
    run.fingerprint = _fingerprint(evs)
    return run


def _index(run: ShopRun, evs: list[Event]) -> None:
    shop = ShopAnalytics(run.stations, run.agvs, t0=run.t_start, initial_state=None)
    shop.add(evs)
    run.station_changes = shop.station_changes()
    run.agv_changes = shop.agv_changes()
    run.operations = sorted(shop.operations, key=lambda o: o.end)
    run.arrivals = shop.arrivals
    run.transports = shop.transports
    run.setups = shop.setups()
    run.downtimes = shop.downtimes()
    run.wip_order = shop.wip_order
    run.order_times = shop.order_times
    run.agv_moves = _agv_moves(evs)


def _agv_moves(evs: list[Event]) -> dict[str, list[tuple[float, float, float]]]:
    """AGV -> (t0, t1, metres) between consecutive position reports while moving."""
    moves: dict[str, list[tuple[float, float, float]]] = {}
    last_of: dict[str, Event] = {}
    for e in evs:
        if e.kind != "agv":
            continue
        last = last_of.get(e.entity)
        if (last is not None and last.state == "moving" and e.t > last.t
                and None not in (last.x, last.y, e.x, e.y)):
            metres = math.hypot(e.x - last.x, e.y - last.y)  # type: ignore[operator]
            moves.setdefault(e.entity, []).append((last.t, e.t, metres))
        last_of[e.entity] = e
    return moves


def _fingerprint(evs: list[Event]) -> str:
    h = hashlib.sha256()
    for e in evs:
        h.update(struct.pack("<d", e.t))
        h.update(f"{e.entity}\x1f{e.state}\x1f{e.wip}\x1e".encode())
    return h.hexdigest()


def check_compatible(physical: ShopRun, virtual: ShopRun) -> list[str]:
    """Refuse to compare runs of different workshops (different station ids).

    Two versions of the same shop's model (same stations, different workshop file hash,
    e.g. cycle times edited in the DT model) are what verification is for: accepted, with
    a note in the returned list."""
    if set(physical.stations) != set(virtual.stations):
        only_p = sorted(set(physical.stations) - set(virtual.stations))
        only_v = sorted(set(virtual.stations) - set(physical.stations))
        detail = []
        if only_p:
            detail.append(f"only in physical: {_few(only_p)}")
        if only_v:
            detail.append(f"only in virtual: {_few(only_v)}")
        names = ""
        if physical.workshop or virtual.workshop:
            names = f" ({physical.workshop or '?'} vs {virtual.workshop or '?'})"
        raise VerificationError(
            f"{physical.label} and {virtual.label} are recordings of different workshops"
            f"{names}: stations differ, {'; '.join(detail)}"
        )
    notes = []
    if physical.source_hash and virtual.source_hash and physical.source_hash != virtual.source_hash:
        notes.append(
            f"the recordings come from different versions of the workshop file "
            f"({physical.workshop or '?'} {physical.source_hash[:12]} vs "
            f"{virtual.workshop or '?'} {virtual.source_hash[:12]}); same stations, compared"
        )
    return notes


def _few(ids: list[str], n: int = 5) -> str:
    return ", ".join(ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")
