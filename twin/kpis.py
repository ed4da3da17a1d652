"""Running shop KPIs from the event stream: WIP over time, time in state, throughput.

:class:`ShopKpis` is fed events in time order (a live source appends them as they come,
a recording is read once) and answers the questions the charts and the inspector ask at
any cursor time ``t``:

* how many parts were in process (WIP) over the shift (a step series),
* how long each station spent idle / in setup / processing / blocked / down / off up to
  ``t`` (utilization so far = processing share of the time it was switched on; ``off`` is
  not downtime either: no breakdown marker),
* how many parts were completed, and the throughput per hour binned over the shift,
* when stations broke down (markers for the timeline).

Times are seconds since the start of the recording; throughput is parts per hour.
Qt-free and cheap to query (binary search over per-station arrays).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from twin.events import STATES, Event

#: Station states in the order used by the time-in-state arrays.
STATION_STATES: tuple[str, ...] = STATES["station"]
_STATE_INDEX = {s: i for i, s in enumerate(STATION_STATES)}
#: AGV states in the order used by the AGV time-in-state arrays.
AGV_STATES: tuple[str, ...] = STATES["agv"]
_AGV_INDEX = {s: i for i, s in enumerate(AGV_STATES)}
#: AGV states that count as working (utilization): driving and transferring parts.
AGV_WORKING: tuple[str, ...] = ("moving", "loading", "unloading")
#: Shortest bin of the throughput series, seconds.
MIN_THROUGHPUT_BIN_S = 900.0
_PROCESSING = _STATE_INDEX["processing"]


@dataclass(frozen=True, slots=True)
class Downtime:
    """One breakdown of a station: down from ``start`` to ``end`` seconds (None = still down)."""

    station: str
    start: float
    end: float | None


class _StateTrack:
    """State changes of one station (or AGV) with the cumulative time in every state (s).

    It starts in state index 0 (idle) at ``t0``."""

    __slots__ = ("times", "states", "cum", "n")

    def __init__(self, t0: float, n_states: int = len(STATION_STATES)) -> None:
        self.n = n_states
        self.times: list[float] = [t0]
        self.states: list[int] = [0]
        self.cum: list[list[float]] = [[0.0] * n_states]

    def change(self, t: float, state: int) -> None:
        last_t, last_s = self.times[-1], self.states[-1]
        if t < last_t:  # out of order: treat as simultaneous with the last change
            t = last_t
        if state == last_s:
            return
        if t == last_t:
            # several changes at the same instant: the last one wins
            self.states[-1] = state
            return
        cum = list(self.cum[-1])
        cum[last_s] += t - last_t
        self.times.append(t)
        self.states.append(state)
        self.cum.append(cum)

    def time_in_state(self, t: float) -> np.ndarray:
        """Seconds spent in each state from the start up to ``t``."""
        i = bisect.bisect_right(self.times, t) - 1
        if i < 0:
            return np.zeros(self.n)
        out = np.array(self.cum[i], dtype=float)
        out[self.states[i]] += t - self.times[i]
        return out


class ShopKpis:
    """KPIs of one shift, built incrementally from events in time order.

    Args:
        stations: station ids known from the workshop (they start idle at ``t0``);
            stations first seen in events are added as they appear.
        t0: start of the shift, seconds.
    """

    def __init__(self, stations: Sequence[str] = (), t0: float = 0.0) -> None:
        self.t0 = float(t0)
        self.t_last = float(t0)
        self._stations: dict[str, _StateTrack] = {s: _StateTrack(self.t0) for s in stations}
        self._agvs: dict[str, _StateTrack] = {}
        # WIP count step series: value holds from times[i] until times[i+1]
        self._wip_t: list[float] = [self.t0]
        self._wip_n: list[int] = [0]
        self._wip_open: set[str] = set()
        self._wip_done: set[str] = set()
        self._completions: list[float] = []
        self._down_open: dict[str, float] = {}
        self._downtimes: list[Downtime] = []
        self.events_seen = 0

    # -- feeding ---------------------------------------------------------------------
    def add(self, events: Iterable[Event]) -> None:
        """Account for events (in time order)."""
        for e in events:
            self._add(e.t, e.entity, e.kind, e.state)

    def add_columns(self, t: np.ndarray, entity: np.ndarray, kind: np.ndarray,
                    state: np.ndarray, strings: Sequence[str] | np.ndarray) -> None:
        """Account for events given as columns (times, and codes into ``strings``).

        The bulk path for recordings: AGV rows (most of a shift) are skipped without
        building an event object per row.
        """
        strings = list(strings)
        codes = {s: i for i, s in enumerate(strings)}
        wanted = [codes[k] for k in ("station", "wip") if k in codes]
        n = len(t)
        self.events_seen += n
        if n:
            self.t_last = max(self.t_last, float(t[-1]))
        rows = np.flatnonzero(np.isin(kind, wanted)) if wanted else np.zeros(0, dtype=int)
        if "agv" in codes:
            # AGV rows are mostly position reports: keep those whose state changed
            agv = np.flatnonzero(kind == codes["agv"])
            if len(agv):
                order = agv[np.argsort(entity[agv], kind="stable")]
                ent, st = entity[order], state[order]
                changed = np.ones(len(order), dtype=bool)
                changed[1:] = (ent[1:] != ent[:-1]) | (st[1:] != st[:-1])
                rows = np.sort(np.concatenate([rows, order[changed]]))
        ts = t[rows].tolist()
        es = [strings[c] for c in entity[rows].tolist()]
        ks = [strings[c] for c in kind[rows].tolist()]
        ss = [strings[c] for c in state[rows].tolist()]
        add = self._add
        for i in range(len(rows)):
            add(ts[i], es[i], ks[i], ss[i], count=False)

    def _add(self, t: float, entity: str, kind: str, state: str, count: bool = True) -> None:
        if count:
            self.events_seen += 1
            if t > self.t_last:
                self.t_last = t
        if kind == "station":
            track = self._stations.get(entity)
            if track is None:
                track = self._stations[entity] = _StateTrack(self.t0)
            idx = _STATE_INDEX[state]
            was_down = entity in self._down_open
            if state == "down" and not was_down:
                self._down_open[entity] = t
            elif state != "down" and was_down:
                start = self._down_open.pop(entity)
                self._downtimes.append(Downtime(entity, start, t))
            track.change(t, idx)
        elif kind == "wip":
            if state == "completed":
                if entity in self._wip_open:
                    self._wip_open.discard(entity)
                    self._push_wip(t)
                if entity not in self._wip_done:
                    self._wip_done.add(entity)
                    self._completions.append(t)
            elif entity not in self._wip_open and entity not in self._wip_done:
                self._wip_open.add(entity)
                self._push_wip(t)
        elif kind == "agv":
            track = self._agvs.get(entity)
            if track is None:
                track = self._agvs[entity] = _StateTrack(self.t0, len(AGV_STATES))
            track.change(t, _AGV_INDEX[state])

    def _push_wip(self, t: float) -> None:
        n = len(self._wip_open)
        if t <= self._wip_t[-1]:
            self._wip_n[-1] = n
        else:
            self._wip_t.append(t)
            self._wip_n.append(n)

    # -- queries ---------------------------------------------------------------------
    @property
    def stations(self) -> list[str]:
        return list(self._stations)

    def wip_series(self) -> tuple[np.ndarray, np.ndarray]:
        """(times [s], WIP count) of the step series; the count holds until the next time."""
        return np.asarray(self._wip_t, dtype=float), np.asarray(self._wip_n, dtype=float)

    def wip_at(self, t: float) -> int:
        i = bisect.bisect_right(self._wip_t, t) - 1
        return self._wip_n[max(i, 0)]

    def time_in_state(self, station: str, t: float) -> dict[str, float]:
        """Seconds ``station`` spent in each state between the start and ``t``."""
        track = self._stations.get(station)
        if track is None:
            return {s: 0.0 for s in STATION_STATES}
        return dict(zip(STATION_STATES, track.time_in_state(t).tolist(), strict=True))

    def state_shares(self, t: float) -> tuple[list[str], np.ndarray]:
        """Stations and a (n_stations, n_states) array of time-in-state shares up to ``t``.

        Rows sum to 1 once ``t`` > start (all zeros at the very start).
        """
        ids = sorted(self._stations)
        if not ids:
            return ids, np.zeros((0, len(STATION_STATES)))
        m = np.vstack([self._stations[s].time_in_state(t) for s in ids])
        span = max(t - self.t0, 0.0)
        return ids, (m / span if span > 0 else np.zeros_like(m))

    @property
    def agvs(self) -> list[str]:
        return list(self._agvs)

    def agv_time_in_state(self, agv: str, t: float) -> dict[str, float]:
        """Seconds ``agv`` spent in each state between the start and ``t``."""
        track = self._agvs.get(agv)
        if track is None:
            return {s: 0.0 for s in AGV_STATES}
        return dict(zip(AGV_STATES, track.time_in_state(t).tolist(), strict=True))

    def agv_utilization(self, agv: str, t: float) -> float:
        """Share of the elapsed shift [start, t] the AGV was working (moving, loading,
        unloading), 0..1."""
        span = t - self.t0
        if span <= 0:
            return 0.0
        tis = self.agv_time_in_state(agv, t)
        return sum(tis[s] for s in AGV_WORKING) / span

    def utilization(self, station: str, t: float) -> float:
        """Processing share of the time the station was switched on in [start, t], 0..1.

        Time ``off`` (switched off, not reporting) is neither working time nor downtime: it
        leaves the denominator, so a machine run one shift a day is not "20 % utilized"."""
        tis = self.time_in_state(station, t)
        span = t - self.t0 - tis["off"]
        if span <= 0:
            return 0.0
        return tis["processing"] / span

    def completed_at(self, t: float) -> int:
        """Parts (WIP) completed up to and including ``t``."""
        return bisect.bisect_right(self._completions, t)

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
        counts, _ = np.histogram(np.asarray(self._completions, dtype=float), bins=edges)
        widths = np.full(n, float(bin_s))
        widths[-1] = max(min(bin_s, t_end - edges[-2]), bin_s / 4)
        return edges[:-1], counts * (3600.0 / widths)

    def downtimes(self) -> list[Downtime]:
        """Breakdowns in order of their start; one still in progress has ``end`` None."""
        ongoing = [Downtime(s, t, None) for s, t in self._down_open.items()]
        return sorted(self._downtimes + ongoing, key=lambda d: d.start)


def nice_bin(span_s: float) -> float:
    """A round bin width (seconds) giving roughly 16–40 bins over ``span_s``."""
    for b in (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400):
        if span_s / b <= 40:
            return float(b)
    return float(math.ceil(span_s / 40 / 3600) * 3600)
