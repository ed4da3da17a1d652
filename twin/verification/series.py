"""Per-station time series: what each station did in every time bin, in shop units.

Features of a station over a span of time (:data:`FEATURES`, natural units):

* ``idle``, ``setup``, ``processing``, ``blocked``, ``down``: share of the time in the
  state (0..1), in the order of :data:`twin.events.STATES`;
* ``queue``: ``log(1 + mean number of parts waiting)`` at the station (delivered, not yet
  started); the log keeps a bottleneck's long queue, which swings a lot from shift to
  shift, from dominating (measured: fewer false flags on faithful twins);
* ``cycle_ratio``: mean processing time of the operations finished in the span, each
  divided by the *physical* reference time of its (station, process) — 1 on the physical
  shop by construction, 1.3 for a station that got 30 % slower. This is what keeps a slowed
  station identifiable: its own operations are slower, while its neighbours only see
  knock-on effects in their queues and idle times;
* ``setup_ratio``: likewise for the setups finished in the span (time in setup divided by
  the station's physical median setup time);
* ``breakdowns``: breakdowns that *began* at the station in the span, per hour of span
  (the episodes of :meth:`twin.analytics.ShopAnalytics.downtimes`). The down share alone
  hides a station that breaks down far more often than modelled behind the rarity of
  breakdowns (one long repair looks like three short ones); the count is what a changed
  MTBF changes, and its sampling error is Poisson (:func:`verifier.breakdown_rate_sd`);
* ``first_come``: share of the operation starts with a choice (two or more parts waiting)
  that took the earliest-arrived part (:meth:`data.ShopRun.dispatch_picks`), carried
  forward like the cycle ratio (1.0 before the first). Exactly 1 at every station of a
  shop that dispatches first-come-first-served; under shortest-processing-time-first
  52–65 % of machining13's starts with a choice (8 h shifts), lower at stations that mix
  processes of different lengths (S04 0.45, S13 0.48 in one shift). No other
  characteristic tells the dispatching rule apart: the rule changes which part goes
  next, hardly how busy a station is;
* ``load``: work delivered to the station in the span (sum of the reference times of the
  parts that arrived) per second of span, ≈ the utilisation that would result.

The reference times come from the physical run and are applied unchanged to the virtual
run (like the trained nets, they are "migrated").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from twin.analytics import overlap, state_seconds_per_bin
from twin.verification.data import AGV_STATES, STATION_STATES, ShopRun

FEATURES: tuple[str, ...] = (
    *STATION_STATES, "queue", "cycle_ratio", "setup_ratio", "breakdowns", "first_come",
    "load",
)
N_FEATURES = len(FEATURES)
#: What the shop asks of a station (inputs of the nets) ...
CONTEXT: tuple[int, ...] = (FEATURES.index("load"),)
#: ... and how the station responds (what the nets predict; characteristics are about these).
BEHAVIOUR: tuple[int, ...] = tuple(i for i in range(N_FEATURES) if i not in CONTEXT)
BEHAVIOUR_NAMES: tuple[str, ...] = tuple(FEATURES[i] for i in BEHAVIOUR)
CYCLE = FEATURES.index("cycle_ratio")
SETUP = FEATURES.index("setup_ratio")
BREAKDOWNS = FEATURES.index("breakdowns")
FIRST_COME = FEATURES.index("first_come")
QUEUE = FEATURES.index("queue")
LOAD = FEATURES.index("load")


@dataclass
class CycleReference:
    """Reference processing times [s] learnt from the physical run."""

    by_op: dict[str, float]  # "station|process" -> median work time
    by_station: dict[str, float]  # station -> median work time over its processes
    overall: float
    setup_by_station: dict[str, float] = field(default_factory=dict)  # median setup time

    def cycle_s(self, station: str, process: str) -> float:
        return self.by_op.get(
            f"{station}|{process}", self.by_station.get(station, self.overall)
        )

    @classmethod
    def from_run(cls, run: ShopRun) -> CycleReference:
        per_op: dict[str, list[float]] = defaultdict(list)
        per_st: dict[str, list[float]] = defaultdict(list)
        for op in run.operations:
            per_op[f"{op.station}|{op.process}"].append(op.work_s)
            per_st[op.station].append(op.work_s)
        allw = [op.work_s for op in run.operations]
        overall = float(np.median(allw)) if allw else 60.0
        setups: dict[str, list[float]] = defaultdict(list)
        for station, _, work in run.setups:
            if work > 0:
                setups[station].append(work)
        return cls(
            by_op={k: float(np.median(v)) for k, v in per_op.items()},
            by_station={k: float(np.median(v)) for k, v in per_st.items()},
            overall=overall,
            setup_by_station={k: float(np.median(v)) for k, v in setups.items()},
        )

    def log_station_cycle(self, stations: tuple[str, ...]) -> np.ndarray:
        """``log(reference cycle time / 600 s)`` of each station [S] (a net input: the
        station's pace, in the range of the standardised features)."""
        return np.array([np.log(self.by_station.get(s, self.overall) / 600.0) for s in stations])

    def setup_s(self, station: str) -> float | None:
        """Physical median setup time of ``station`` [s] (None: it never set up)."""
        return self.setup_by_station.get(station)

    def to_json(self) -> dict[str, object]:
        return {"by_op": self.by_op, "by_station": self.by_station, "overall": self.overall,
                "setup_by_station": self.setup_by_station}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> CycleReference:
        return cls(
            by_op={str(k): float(v) for k, v in dict(d["by_op"]).items()},  # type: ignore[arg-type]
            by_station={str(k): float(v) for k, v in dict(d["by_station"]).items()},  # type: ignore[arg-type]
            overall=float(d["overall"]),  # type: ignore[arg-type]
            setup_by_station={
                str(k): float(v) for k, v in dict(d.get("setup_by_station", {})).items()  # type: ignore[call-overload]
            },
        )


@dataclass
class BinnedRun:
    """Sums per station (and AGV) per time bin, from which features of any span follow.

    Arrays are indexed [station, bin] (state times [station, bin, state]); ``edges`` are
    the bin edges in seconds. Sums (not means) so that windows of several bins aggregate
    exactly.
    """

    stations: tuple[str, ...]
    agvs: tuple[str, ...]
    edges: np.ndarray
    state_s: np.ndarray  # [S, B, 5] seconds in each station state
    queue_ps: np.ndarray  # [S, B] part-seconds waiting
    cycle_sum: np.ndarray  # [S, B] sum of cycle ratios of operations finished
    cycle_n: np.ndarray  # [S, B] number of operations finished
    load_s: np.ndarray  # [S, B] reference work seconds delivered
    agv_s: np.ndarray  # [A, B, 5] seconds in each AGV state
    setup_sum: np.ndarray  # [S, B] sum of setup ratios of setups finished
    setup_n: np.ndarray  # [S, B] number of setups finished
    down_n: np.ndarray  # [S, B] number of breakdowns that began
    pick_first: np.ndarray  # [S, B] starts with a choice that took the earliest arrival
    pick_n: np.ndarray  # [S, B] starts with a choice (two or more parts waiting)

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1

    @property
    def bin_s(self) -> float:
        return float(self.edges[1] - self.edges[0])

    def features(self, span: int = 1, stride: int = 1) -> np.ndarray:
        """Features [S, n_spans, F] over spans of ``span`` bins every ``stride`` bins.

        A span without a finished operation carries the station's last cycle ratio
        forward (1.0 before the first one).
        """
        starts = window_starts(self.n_bins, span, stride)
        if starts.size == 0:
            return np.zeros((len(self.stations), 0, N_FEATURES))
        span_s = span * self.bin_s
        window = lambda a: _span_sums(a, starts, span)  # noqa: E731
        S = len(self.stations)
        out = np.zeros((S, starts.size, N_FEATURES))
        for k in range(len(STATION_STATES)):
            out[:, :, k] = window(self.state_s[:, :, k]) / span_s
        out[:, :, QUEUE] = np.log1p(window(self.queue_ps) / span_s)
        n = window(self.cycle_n)
        s = window(self.cycle_sum)
        ratio = np.full(n.shape, np.nan)
        np.divide(s, n, out=ratio, where=n > 0)
        out[:, :, CYCLE] = _carry_forward(ratio, first=1.0)
        n = window(self.setup_n)
        ratio = np.full(n.shape, np.nan)
        np.divide(window(self.setup_sum), n, out=ratio, where=n > 0)
        out[:, :, SETUP] = _carry_forward(ratio, first=1.0)
        out[:, :, BREAKDOWNS] = window(self.down_n) / (span_s / 3600.0)
        n = window(self.pick_n)
        ratio = np.full(n.shape, np.nan)
        np.divide(window(self.pick_first), n, out=ratio, where=n > 0)
        out[:, :, FIRST_COME] = _carry_forward(ratio, first=1.0)
        out[:, :, LOAD] = window(self.load_s) / span_s
        return out

    def agv_features(self, span: int = 1, stride: int = 1) -> np.ndarray:
        """AGV state shares [A, n_spans, 5] over the same spans as :meth:`features`."""
        starts = window_starts(self.n_bins, span, stride)
        return _span_sums(self.agv_s, starts, span) / (span * self.bin_s)


def window_starts(n_bins: int, span: int, stride: int) -> np.ndarray:
    """First bin of every window of ``span`` bins taken every ``stride`` bins."""
    return np.arange(0, n_bins - span + 1, stride)


def _span_sums(a: np.ndarray, starts: np.ndarray, span: int) -> np.ndarray:
    """Sums of ``a`` [n, bins, ...] over the bins [starts[j], starts[j] + span) -> [n, spans, ...]."""
    c = np.concatenate([np.zeros_like(a[:, :1]), np.cumsum(a, axis=1)], axis=1)
    return c[:, starts + span] - c[:, starts]


def bin_run(run: ShopRun, bin_s: float, ref: CycleReference) -> BinnedRun:
    """Sum what every station did per bin of ``bin_s`` seconds (partial last bin dropped)."""
    n_bins = int(np.floor(run.duration_s / bin_s + 1e-9))
    edges = run.t_start + bin_s * np.arange(n_bins + 1)
    S, A = len(run.stations), len(run.agvs)
    st_idx = {s: i for i, s in enumerate(run.stations)}
    state_s = np.zeros((S, max(n_bins, 0), len(STATION_STATES)))
    agv_s = np.zeros((A, max(n_bins, 0), len(AGV_STATES)))
    queue_ps = np.zeros((S, max(n_bins, 0)))
    cycle_sum = np.zeros_like(queue_ps)
    cycle_n = np.zeros_like(queue_ps)
    load_s = np.zeros_like(queue_ps)
    setup_sum = np.zeros_like(queue_ps)
    setup_n = np.zeros_like(queue_ps)
    down_n = np.zeros_like(queue_ps)
    pick_first = np.zeros_like(queue_ps)
    pick_n = np.zeros_like(queue_ps)
    if n_bins <= 0:
        return BinnedRun(run.stations, run.agvs, edges, state_s, queue_ps, cycle_sum,
                         cycle_n, load_s, agv_s, setup_sum, setup_n, down_n, pick_first, pick_n)
    for station, t, first in run.dispatch_picks():  # by the bin the operation started in
        b = int(np.searchsorted(edges, t, side="right")) - 1
        if 0 <= b < n_bins and station in st_idx:
            pick_n[st_idx[station], b] += 1
            pick_first[st_idx[station], b] += float(first)
    for d in run.downtimes:  # breakdowns by the bin they began in
        b = int(np.searchsorted(edges, d.start, side="right")) - 1
        if 0 <= b < n_bins and d.station in st_idx:
            down_n[st_idx[d.station], b] += 1
    for station, t_end, work in run.setups:
        ref_setup = ref.setup_s(station)
        b = int(np.searchsorted(edges, t_end, side="right")) - 1
        if ref_setup and 0 <= b < n_bins and station in st_idx:
            setup_sum[st_idx[station], b] += work / ref_setup
            setup_n[st_idx[station], b] += 1
    for i, st in enumerate(run.stations):
        state_seconds_per_bin(run.station_changes.get(st, []), run.t_end, edges, state_s[i])
    for i, agv in enumerate(run.agvs):
        state_seconds_per_bin(run.agv_changes.get(agv, []), run.t_end, edges, agv_s[i])
    # operations: cycle ratio by the bin the operation finished in
    for op in run.operations:
        b = int(np.searchsorted(edges, op.end, side="right")) - 1
        if 0 <= b < n_bins and op.station in st_idx:
            i = st_idx[op.station]
            cycle_sum[i, b] += op.work_s / ref.cycle_s(op.station, op.process)
            cycle_n[i, b] += 1
    # arrivals: queue time (arrival -> operation start) and delivered work
    q_start: dict[int, list[float]] = defaultdict(list)
    q_end: dict[int, list[float]] = defaultdict(list)
    for arr, op in zip(run.arrivals, run.served_by(), strict=True):
        i = st_idx.get(arr.station)
        if i is None:
            continue
        q_start[i].append(arr.t)
        q_end[i].append(op.start if op else run.t_end)
        b = int(np.searchsorted(edges, arr.t, side="right")) - 1
        if 0 <= b < n_bins:
            load_s[i, b] += ref.cycle_s(arr.station, op.process if op else "")
    for i in q_start:
        queue_ps[i] = overlap(np.array(q_start[i]), np.array(q_end[i]), edges)
    return BinnedRun(run.stations, run.agvs, edges, state_s, queue_ps, cycle_sum, cycle_n,
                     load_s, agv_s, setup_sum, setup_n, down_n, pick_first, pick_n)


def _carry_forward(x: np.ndarray, first: float) -> np.ndarray:
    """Replace NaN along axis 1 by the last finite value (``first`` before any)."""
    out = x.copy()
    for i in range(out.shape[0]):
        last = first
        for j in range(out.shape[1]):
            if np.isfinite(out[i, j]):
                last = out[i, j]
            else:
                out[i, j] = last
    return out
