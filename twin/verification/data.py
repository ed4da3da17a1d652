"""One shop run (physical or virtual) read once and indexed for verification.

Verification accepts a recording (:class:`twin.recording.Recording`, or a path to a
``.twinlog``) or a plain sequence of :class:`twin.events.Event`. :func:`load_run` turns any
of them into a :class:`ShopRun`: the station state changes, the operations (a WIP processed
at a station), the arrivals of WIP at stations, AGV state changes and transports, orders.
Times are seconds since the start of the recording.
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

from twin.events import STATES, Event

STATION_STATES: tuple[str, ...] = STATES["station"]
AGV_STATES: tuple[str, ...] = STATES["agv"]


class VerificationError(ValueError):
    """Recordings that cannot be verified against each other; the message says why."""


@dataclass(frozen=True, slots=True)
class Operation:
    """``wip`` processed at ``station`` for ``process``: processing started at ``start`` and
    ended at ``end`` [s]; ``work_s`` is the time actually processing (breakdowns during the
    operation excluded)."""

    station: str
    process: str
    wip: str
    start: float
    end: float
    work_s: float


@dataclass(frozen=True, slots=True)
class Arrival:
    """``wip`` delivered to ``station`` at ``t`` [s] (to be processed there next) and the
    ``station`` it came from ("" when it came from the raw-material store)."""

    station: str
    wip: str
    t: float
    came_from: str


@dataclass(frozen=True, slots=True)
class Transport:
    """``wip`` carried by ``agv`` from ``start`` to ``end`` [s]."""

    agv: str
    wip: str
    start: float
    end: float


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
        operations, arrivals, transports: see the classes above, in time order.
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

    def down_episodes(self) -> list[float]:
        """Durations [s] of every breakdown of every station (cut at the end of the run)."""
        down = STATION_STATES.index("down")
        out: list[float] = []
        for changes in self.station_changes.values():
            since: float | None = None
            for t, state in changes:
                if state == down and since is None:
                    since = t
                elif state != down and since is not None:
                    out.append(t - since)
                    since = None
            if since is not None:
                out.append(self.t_end - since)
        return out


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
    st_index = {s: i for i, s in enumerate(STATION_STATES)}
    agv_index = {s: i for i, s in enumerate(AGV_STATES)}
    run.station_changes = {s: [] for s in run.stations}
    run.agv_changes = {a: [] for a in run.agvs}
    # open operation per station: [wip, process, start, work_s, processing_since or None]
    open_op: dict[str, list[Any]] = {}
    wip_state: dict[str, str] = {}
    wip_last_station: dict[str, str] = {}
    wip_carrier: dict[str, tuple[str, float]] = {}
    agv_last: dict[str, Event] = {}
    for e in evs:
        if e.kind == "station":
            changes = run.station_changes.setdefault(e.entity, [])
            k = st_index[e.state]
            if not changes or changes[-1][1] != k:  # queue-only updates keep the state
                changes.append((e.t, k))
            op = open_op.get(e.entity)
            if op is not None and op[4] is not None and (e.state != "processing" or e.wip != op[0]):
                op[3] += e.t - op[4]
                op[4] = None
            if e.state == "processing":
                if op is not None and e.wip and e.wip != op[0]:
                    _close_op(run, e.entity, op, e.t)
                    op = None
                if op is None:
                    op = [e.wip, e.process, e.t, 0.0, e.t]
                    open_op[e.entity] = op
                elif op[4] is None:
                    op[4] = e.t
            elif e.state in ("idle", "blocked", "setup") and op is not None:
                _close_op(run, e.entity, op, e.t)
                del open_op[e.entity]
        elif e.kind == "agv":
            changes_a = run.agv_changes.setdefault(e.entity, [])
            k = agv_index[e.state]
            if not changes_a or changes_a[-1][1] != k:  # position samples keep the state
                changes_a.append((e.t, k))
            last = agv_last.get(e.entity)
            if (last is not None and last.state == "moving" and e.t > last.t
                    and None not in (last.x, last.y, e.x, e.y)):
                metres = math.hypot(e.x - last.x, e.y - last.y)  # type: ignore[operator]
                run.agv_moves.setdefault(e.entity, []).append((last.t, e.t, metres))
            agv_last[e.entity] = e
        elif e.kind == "wip":
            if e.order:
                run.wip_order[e.entity] = e.order
            prev = wip_state.get(e.entity)
            if e.state == "transporting":
                if prev != "transporting" and e.agv:
                    wip_carrier[e.entity] = (e.agv, e.t)
            elif prev == "transporting" and e.entity in wip_carrier:
                agv, t0 = wip_carrier.pop(e.entity)
                run.transports.append(Transport(agv, e.entity, t0, e.t))
            arrived = prev in (None, "transporting") or (
                e.station != wip_last_station.get(e.entity)
            )
            if e.state == "waiting" and e.station and prev != "waiting" and arrived:
                run.arrivals.append(
                    Arrival(e.station, e.entity, e.t, wip_last_station.get(e.entity, ""))
                )
            if e.state == "processing" and e.station:
                if prev in (None, "transporting"):  # delivered straight onto the machine
                    run.arrivals.append(
                        Arrival(e.station, e.entity, e.t, wip_last_station.get(e.entity, ""))
                    )
                wip_last_station[e.entity] = e.station
            wip_state[e.entity] = e.state
        elif e.kind == "order":
            rel, done = run.order_times.get(e.entity, (e.t, None))
            if e.state == "released":
                rel = e.t
            elif e.state == "completed":
                done = e.t
            run.order_times[e.entity] = (rel, done)
    # operations still running at the end of the run are left out (their time is unknown)
    run.operations.sort(key=lambda o: o.end)
    run.setups = _setups(run.station_changes)


def _setups(changes: dict[str, list[tuple[float, int]]]) -> list[tuple[str, float, float]]:
    """Finished setups per station: (station, end t, seconds in setup), a breakdown in the
    middle of a setup not counted."""
    setup, down = STATION_STATES.index("setup"), STATION_STATES.index("down")
    out = []
    for station, ch in changes.items():
        if not ch:  # a station that never reported (a real machine without data)
            continue
        work, since = 0.0, None
        for (t, k), nxt in zip(ch, [*ch[1:], None], strict=True):
            if k == setup:
                since = t if since is None else since
                if nxt is not None:
                    work += nxt[0] - t
            elif k != down and since is not None:
                out.append((station, t, work))
                work, since = 0.0, None
    out.sort(key=lambda x: x[1])
    return out


def _close_op(run: ShopRun, station: str, op: list[Any], t: float) -> None:
    wip, process, start, work, since = op
    if since is not None:
        work += t - since
    if work > 0 and process:
        run.operations.append(Operation(station, process, wip, start, t, work))


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
