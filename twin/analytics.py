"""Shop analytics: what every station, AGV, part and order did, computed once from events.

:class:`ShopAnalytics` is fed events in time order (incrementally: a live shop appends as it
goes, a recording is read once) and keeps

* per station and per AGV a :class:`StateTrack`: every state change with the cumulative
  time in each state, so the time in state up to any ``t`` is a binary search;
* breakdown episodes (:class:`Downtime`, a station ``down`` until it is anything else);
* operations (:class:`Operation`: a part processed at a station for a process, start/end
  and the time actually processing) and finished setups;
* arrivals of parts at stations (:class:`Arrival`) and AGV transports (:class:`Transport`);
* the WIP count over time, part completions (throughput) and order release/completion.

It is the one place these are computed: the KPIs and charts (:mod:`twin.kpis`),
verification (:mod:`twin.verification.data` / ``series``) and the simulator's summary all
read them from here. Times are seconds since the start of the shift; Qt-free.

Rules (the same for every consumer):

* An event earlier than the entity's last change counts as simultaneous with it.
* Several changes at the same instant are all kept (zero-length intervals); the state at
  that instant is the last one.
* ``initial_state``: the state assumed from ``t0`` until an entity's first event ("idle"
  for the KPIs: shares of the elapsed shift add up to 1; None for verification: time
  before an entity's first report is not counted).
* An operation ends when its station goes idle, blocked, into setup or ``off``, or starts
  another part or process; time ``down`` inside it is not processing time. Operations
  still running are not listed (their length is unknown).
* A station ``blocked`` that resumes processing the same part for the same process, with
  nothing but ``blocked`` / ``down`` in between, was interrupted (a real machine's feed
  hold or stopped program: MTConnect ``INTERRUPTED`` / ``FEED_HOLD``, no part id): the
  operation listed when it blocked is taken back and continues as one, its blocked time
  not counted as processing. (A simulated station is blocked only after its part is done,
  so it never resumes the same part.)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.events import STATES, Event

#: Station states in the order used by station time-in-state arrays.
STATION_STATES: tuple[str, ...] = STATES["station"]
#: AGV states in the order used by AGV time-in-state arrays.
AGV_STATES: tuple[str, ...] = STATES["agv"]
_STATION_INDEX = {s: i for i, s in enumerate(STATION_STATES)}
_AGV_INDEX = {s: i for i, s in enumerate(AGV_STATES)}
_DOWN = _STATION_INDEX["down"]
_SETUP = _STATION_INDEX["setup"]
#: Shortest bin of the throughput series, seconds.
MIN_THROUGHPUT_BIN_S = 900.0


@dataclass(frozen=True, slots=True)
class Downtime:
    """One breakdown of a station: down from ``start`` to ``end`` seconds (None = still down)."""

    station: str
    start: float
    end: float | None


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


class StateTrack:
    """State changes of one station or AGV with the cumulative seconds in every state.

    ``start``: (t0, state index) the entity is assumed in before its first event, or None
    (nothing known, nothing counted, until the first change)."""

    __slots__ = ("times", "states", "cum", "n")

    def __init__(self, n_states: int, start: tuple[float, int] | None = None) -> None:
        self.n = n_states
        self.times: list[float] = []
        self.states: list[int] = []
        self.cum: list[list[float]] = []
        if start is not None:
            self.times.append(float(start[0]))
            self.states.append(start[1])
            self.cum.append([0.0] * n_states)

    def change(self, t: float, state: int) -> float:
        """Enter ``state`` (index) at ``t`` [s]; returns the time used (an out-of-order
        ``t`` counts as the last change's time)."""
        if not self.times:
            self.times.append(t)
            self.states.append(state)
            self.cum.append([0.0] * self.n)
            return t
        last_t, last_s = self.times[-1], self.states[-1]
        if t < last_t:
            t = last_t
        if state == last_s:
            return t
        cum = list(self.cum[-1])
        cum[last_s] += t - last_t
        self.times.append(t)
        self.states.append(state)
        self.cum.append(cum)
        return t

    @property
    def state(self) -> int | None:
        """Current state index (None before the first change)."""
        return self.states[-1] if self.states else None

    @property
    def changes(self) -> list[tuple[float, int]]:
        """(t, state index) of every change, in time order."""
        return list(zip(self.times, self.states, strict=True))

    def time_in_state(self, t: float) -> np.ndarray:
        """Seconds spent in each state from the start up to ``t``."""
        i = bisect.bisect_right(self.times, t) - 1
        if i < 0:
            return np.zeros(self.n)
        out = np.array(self.cum[i], dtype=float)
        out[self.states[i]] += t - self.times[i]
        return out


def state_seconds_per_bin(
    changes: Sequence[tuple[float, int]], t_end: float, edges: np.ndarray, out: np.ndarray
) -> None:
    """Add the seconds spent in each state per bin of ``edges`` into ``out`` [bins, states];
    the last state lasts until ``t_end``."""
    if not changes:
        return
    t = np.array([c[0] for c in changes] + [max(t_end, changes[-1][0])])
    k = np.array([c[1] for c in changes])
    for state in np.unique(k):
        sel = k == state
        out[:, state] += overlap(t[:-1][sel], t[1:][sel], edges)


def overlap(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Seconds of the intervals [a_i, b_i) that fall in each bin of ``edges``."""
    if a.size == 0:
        return np.zeros(len(edges) - 1)
    length = np.maximum(b - a, 0.0)
    out = np.zeros(len(edges) - 1)
    chunk = 4096  # bound the memory of the interval x edge matrix
    for j in range(0, a.size, chunk):
        aa, ll = a[j : j + chunk, None], length[j : j + chunk, None]
        cover = np.clip(edges[None, :] - aa, 0.0, ll).sum(axis=0)
        out += np.diff(cover)
    return out


def nice_bin(span_s: float) -> float:
    """A round bin width (seconds) giving roughly 16–40 bins over ``span_s``."""
    for b in (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400):
        if span_s / b <= 40:
            return float(b)
    return float(math.ceil(span_s / 40 / 3600) * 3600)


def setups_of(changes: Mapping[str, Sequence[tuple[float, int]]]) -> list[tuple[str, float, float]]:
    """Finished setups per station: (station, end t, seconds in setup), time ``down`` in
    the middle of a setup not counted; in order of their end."""
    out = []
    for station, ch in changes.items():
        if not ch:  # a station that never reported (a real machine without data)
            continue
        work, since = 0.0, None
        for (t, k), nxt in zip(ch, [*ch[1:], None], strict=True):
            if k == _SETUP:
                since = t if since is None else since
                if nxt is not None:
                    work += nxt[0] - t
            elif k != _DOWN and since is not None:
                out.append((station, t, work))
                work, since = 0.0, None
    out.sort(key=lambda x: x[1])
    return out


class ShopAnalytics:
    """Analytics of one shift, built incrementally from events in time order.

    Args:
        stations, agvs: ids known in advance (tracked from ``t0``); others are added as
            they appear in events.
        t0: start of the shift [s].
        initial_state: state assumed from ``t0`` until an entity's first event (None:
            not counted), see the module notes.
    """

    def __init__(self, stations: Sequence[str] = (), agvs: Sequence[str] = (), *,
                 t0: float = 0.0, initial_state: str | None = "idle") -> None:
        self.t0 = float(t0)
        self.t_last = float(t0)
        self.events_seen = 0
        self._initial = initial_state
        self.stations: dict[str, StateTrack] = {}
        self.agvs: dict[str, StateTrack] = {}
        for s in stations:
            self._station_track(s)
        for a in agvs:
            self._agv_track(a)
        #: Station / AGV id -> time of its first event [s] (an id known in advance that
        #: never reported has none: nothing is known about it, see :meth:`reported`).
        self.first_report: dict[str, float] = {}
        self.operations: list[Operation] = []
        self.arrivals: list[Arrival] = []
        self.transports: list[Transport] = []
        self.completions: list[float] = []
        #: WIP id -> order id.
        self.wip_order: dict[str, str] = {}
        #: order -> (released t, completed t or None).
        self.order_times: dict[str, tuple[float, float | None]] = {}
        # open operation per station: [wip, process, start, work_s, processing_since or None]
        self._open_op: dict[str, list[Any]] = {}
        # operation closed by ``blocked`` that may resume: station -> (open-op list, the
        # Operation listed for it or None)
        self._paused_op: dict[str, tuple[list[Any], Operation | None]] = {}
        self._down_open: dict[str, float] = {}
        self._downtimes: list[Downtime] = []
        # WIP count step series: value holds from times[i] until times[i+1]
        self._wip_t: list[float] = [self.t0]
        self._wip_n: list[int] = [0]
        self._wip_open: set[str] = set()
        self._wip_done: set[str] = set()
        self._wip_state: dict[str, str] = {}
        self._wip_last_station: dict[str, str] = {}
        self._wip_carrier: dict[str, tuple[str, float]] = {}

    def _station_track(self, sid: str) -> StateTrack:
        start = None if self._initial is None else (self.t0, _STATION_INDEX[self._initial])
        tr = self.stations[sid] = StateTrack(len(STATION_STATES), start)
        return tr

    def _agv_track(self, aid: str) -> StateTrack:
        start = None if self._initial is None else (self.t0, _AGV_INDEX[self._initial])
        tr = self.agvs[aid] = StateTrack(len(AGV_STATES), start)
        return tr

    # -- feeding ---------------------------------------------------------------------
    def add(self, events: Iterable[Event]) -> None:
        """Account for events (in time order)."""
        add = self.add_row
        for e in events:
            add(e.t, e.entity, e.kind, e.state, e.station, e.wip, e.process, e.agv, e.order)

    def add_columns(self, t: np.ndarray, entity: np.ndarray, kind: np.ndarray, state: np.ndarray,
                    strings: Sequence[str] | np.ndarray,
                    extra: Mapping[str, np.ndarray] | None = None) -> None:
        """Account for events given as columns (times, and codes into ``strings``).

        The bulk path for recordings: AGV rows that repeat the AGV's state (position
        reports, most of a shift) are skipped without building an event per row.
        ``extra``: the ``station``, ``wip``, ``process``, ``agv``, ``order`` code columns
        (needed for operations, arrivals, transports, orders; without them only states,
        breakdowns, WIP and completions are tracked).
        """
        strings = list(strings)
        codes = {s: i for i, s in enumerate(strings)}
        wanted = [codes[k] for k in ("station", "wip", "order") if k in codes]
        n = len(t)
        self.events_seen += n
        if n:
            self.t_last = max(self.t_last, float(t[-1]))
        rows = np.flatnonzero(np.isin(kind, wanted)) if wanted else np.zeros(0, dtype=int)
        if "agv" in codes:
            agv = np.flatnonzero(kind == codes["agv"])
            if len(agv):
                order = agv[np.argsort(entity[agv], kind="stable")]
                ent, st = entity[order], state[order]
                changed = np.ones(len(order), dtype=bool)
                changed[1:] = (ent[1:] != ent[:-1]) | (st[1:] != st[:-1])
                rows = np.sort(np.concatenate([rows, order[changed]]))
        ts = t[rows].tolist()
        cols = [[strings[c] for c in a[rows].tolist()] for a in (entity, kind, state)]
        names = ("station", "wip", "process", "agv", "order")
        flow = [[strings[c] for c in extra[k][rows].tolist()] if extra is not None and k in extra
                else [""] * len(rows) for k in names]
        add = self.add_row
        for i, row in enumerate(zip(*cols, *flow, strict=True)):
            add(ts[i], *row, count=False)

    def add_row(self, t: float, entity: str, kind: str, state: str, station: str = "",
                wip: str = "", process: str = "", agv: str = "", order: str = "",
                count: bool = True) -> None:
        """Account for one event given field by field."""
        if count:
            self.events_seen += 1
            if t > self.t_last:
                self.t_last = t
        if kind == "station":
            self._station(t, entity, state, wip, process)
        elif kind == "agv":
            track = self.agvs.get(entity) or self._agv_track(entity)
            t = track.change(t, _AGV_INDEX[state])
            self.first_report.setdefault(entity, t)
        elif kind == "wip":
            self._wip(t, entity, state, station, agv, order)
        elif kind == "order":
            rel, done = self.order_times.get(entity, (t, None))
            if state == "released":
                rel = t
            elif state == "completed":
                done = t
            self.order_times[entity] = (rel, done)

    def _station(self, t: float, sid: str, state: str, wip: str, process: str) -> None:
        track = self.stations.get(sid) or self._station_track(sid)
        t = track.change(t, _STATION_INDEX[state])
        self.first_report.setdefault(sid, t)
        if state == "down":
            if sid not in self._down_open:
                self._down_open[sid] = t
        elif sid in self._down_open:
            self._downtimes.append(Downtime(sid, self._down_open.pop(sid), t))
        paused = self._paused_op.pop(sid, None)
        if paused is not None:
            if state == "processing" and wip == paused[0][0] and process == paused[0][1]:
                # interrupted, not finished: take the listed operation back and go on
                if paused[1] is not None:
                    self._take_back(paused[1])
                self._open_op[sid] = paused[0]
            elif state in ("blocked", "down"):
                self._paused_op[sid] = paused
        op = self._open_op.get(sid)
        if op is not None and op[4] is not None and (state != "processing" or wip != op[0]):
            op[3] += t - op[4]
            op[4] = None
        if state == "processing":
            if op is not None and ((wip and wip != op[0]) or process != op[1]):
                self._close_op(sid, op, t)
                op = None
            if op is None:
                self._open_op[sid] = [wip, process, t, 0.0, t]
            elif op[4] is None:
                op[4] = t
        elif state in ("idle", "blocked", "setup", "off") and op is not None:
            listed = self._close_op(sid, op, t)
            del self._open_op[sid]
            if state == "blocked":
                self._paused_op[sid] = (op, listed)

    def _close_op(self, station: str, op: list[Any], t: float) -> Operation | None:
        """List the operation ``op`` ending at ``t`` (not when it processed nothing or
        has no process); returns what was listed."""
        wip, process, start, work, since = op
        if since is not None:
            work += t - since
            op[3], op[4] = work, None
        if work > 0 and process:
            listed = Operation(station, process, wip, start, t, work)
            self.operations.append(listed)
            return listed
        return None

    def _take_back(self, listed: Operation) -> None:
        """Remove an operation listed when its station blocked (it resumed)."""
        for i in range(len(self.operations) - 1, -1, -1):
            if self.operations[i] is listed:
                del self.operations[i]
                return

    def _wip(self, t: float, wid: str, state: str, station: str, agv: str, order: str) -> None:
        # WIP count and completions
        if state == "completed":
            if wid in self._wip_open:
                self._wip_open.discard(wid)
                self._push_wip(t)
            if wid not in self._wip_done:
                self._wip_done.add(wid)
                self.completions.append(t)
        elif wid not in self._wip_open and wid not in self._wip_done:
            self._wip_open.add(wid)
            self._push_wip(t)
        # flow: orders, transports, arrivals
        if order:
            self.wip_order[wid] = order
        prev = self._wip_state.get(wid)
        if state == "transporting":
            if prev != "transporting" and agv:
                self._wip_carrier[wid] = (agv, t)
        elif prev == "transporting" and wid in self._wip_carrier:
            carrier, t_pick = self._wip_carrier.pop(wid)
            self.transports.append(Transport(carrier, wid, t_pick, t))
        last = self._wip_last_station.get(wid)
        arrived = prev in (None, "transporting") or station != last
        if state == "waiting" and station and prev != "waiting" and arrived:
            self.arrivals.append(Arrival(station, wid, t, last or ""))
        if state == "processing" and station:
            if prev in (None, "transporting"):  # delivered straight onto the machine
                self.arrivals.append(Arrival(station, wid, t, last or ""))
            self._wip_last_station[wid] = station
        self._wip_state[wid] = state

    def _push_wip(self, t: float) -> None:
        n = len(self._wip_open)
        if t <= self._wip_t[-1]:
            self._wip_n[-1] = n
        else:
            self._wip_t.append(t)
            self._wip_n.append(n)

    # -- time in state -----------------------------------------------------------------
    def reported(self, entity: str, t: float = math.inf) -> bool:
        """Whether the station / AGV had any event up to ``t`` [s]. One that had none
        (a machine without logs, a station known from the workshop but silent) has no
        time in state to show: its ``initial_state`` time is an assumption, not data."""
        first = self.first_report.get(entity)
        return first is not None and first <= t

    def station_time_in_state(self, station: str, t: float) -> dict[str, float]:
        """Seconds ``station`` spent in each state between the start and ``t``."""
        track = self.stations.get(station)
        if track is None:
            return dict.fromkeys(STATION_STATES, 0.0)
        return dict(zip(STATION_STATES, track.time_in_state(t).tolist(), strict=True))

    def agv_time_in_state(self, agv: str, t: float) -> dict[str, float]:
        """Seconds ``agv`` spent in each state between the start and ``t``."""
        track = self.agvs.get(agv)
        if track is None:
            return dict.fromkeys(AGV_STATES, 0.0)
        return dict(zip(AGV_STATES, track.time_in_state(t).tolist(), strict=True))

    def station_shares(self, t: float) -> tuple[list[str], np.ndarray]:
        """Stations (sorted) and their (n_stations, n_states) shares of [t0, t] in each state."""
        ids = sorted(self.stations)
        if not ids:
            return ids, np.zeros((0, len(STATION_STATES)))
        m = np.vstack([self.stations[s].time_in_state(t) for s in ids])
        span = max(t - self.t0, 0.0)
        return ids, (m / span if span > 0 else np.zeros_like(m))

    def station_changes(self) -> dict[str, list[tuple[float, int]]]:
        """station -> (t, index in :data:`STATION_STATES`) of every state change."""
        return {s: tr.changes for s, tr in self.stations.items()}

    def agv_changes(self) -> dict[str, list[tuple[float, int]]]:
        """AGV -> (t, index in :data:`AGV_STATES`) of every state change."""
        return {a: tr.changes for a, tr in self.agvs.items()}

    # -- episodes, operations ------------------------------------------------------------
    def downtimes(self) -> list[Downtime]:
        """Breakdowns in order of their start; one still in progress has ``end`` None."""
        ongoing = [Downtime(s, t, None) for s, t in self._down_open.items()]
        return sorted(self._downtimes + ongoing, key=lambda d: d.start)

    def blocked_operations(self) -> list[Operation]:
        """Operations listed when their station blocked, the station still blocked (or down
        since): they resume as one operation if it goes on with the same part and process
        (an interrupted program, see the module notes). Calibration leaves them out at the
        end of a recording: a program cut off by the end of the log is not a cycle time."""
        return [listed for _, listed in self._paused_op.values() if listed is not None]

    def setups(self) -> list[tuple[str, float, float]]:
        """Finished setups: (station, end t, seconds in setup), see :func:`setups_of`."""
        return setups_of(self.station_changes())

    def mean_work_s(self) -> dict[str, float]:
        """station -> mean processing time of its finished operations [s] (0: none)."""
        total: dict[str, float] = dict.fromkeys(self.stations, 0.0)
        n: dict[str, int] = dict.fromkeys(self.stations, 0)
        for op in self.operations:
            total[op.station] = total.get(op.station, 0.0) + op.work_s
            n[op.station] = n.get(op.station, 0) + 1
        return {s: (total[s] / n[s] if n[s] else 0.0) for s in total}

    # -- WIP and throughput --------------------------------------------------------------
    def wip_series(self) -> tuple[np.ndarray, np.ndarray]:
        """(times [s], WIP count) of the step series; the count holds until the next time."""
        return np.asarray(self._wip_t, dtype=float), np.asarray(self._wip_n, dtype=float)

    def wip_at(self, t: float) -> int:
        """Parts released and not completed at ``t``."""
        i = bisect.bisect_right(self._wip_t, t) - 1
        return self._wip_n[max(i, 0)]

    def completed_at(self, t: float) -> int:
        """Parts completed up to and including ``t``."""
        return bisect.bisect_right(self.completions, t)

    def throughput_series(self, t_end: float | None = None, bin_s: float | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Completed parts per hour, binned: (bin start times [s], parts/h).

        ``bin_s`` defaults to a round width giving about 16–40 bins over the shift, and
        at least 15 min (shorter bins make a rate of a few parts per hour meaningless).
        The last bin may be cut short by ``t_end``: its rate is over the part elapsed
        (at least a quarter of a bin, so one early part does not look like a surge).
        """
        t_end = self.t_last if t_end is None else t_end
        span = max(t_end - self.t0, 1.0)
        if bin_s is None:
            bin_s = max(nice_bin(span), MIN_THROUGHPUT_BIN_S)
        n = max(1, math.ceil(span / bin_s - 1e-9))
        edges = self.t0 + bin_s * np.arange(n + 1)
        counts, _ = np.histogram(np.asarray(self.completions, dtype=float), bins=edges)
        widths = np.full(n, float(bin_s))
        widths[-1] = max(min(bin_s, t_end - edges[-2]), bin_s / 4)
        return edges[:-1], counts * (3600.0 / widths)
