"""Shop state vectors and production-progress targets read from a recording.

The performance model G(X) sees the shop as a sequence of state vectors sampled every
``step_s`` seconds. One state vector at time ``t`` holds, in this order:

* per station: one-hot of its state (idle/setup/processing/blocked/down/off), its input queue
  (parts) and the WIP at it (queued + processing + in its output buffer);
* shop-wide: WIP open, WIP in transport, parts completed in the last hour and in the last
  15 minutes, orders open, mean completion fraction of the open orders, elapsed shift time
  (hours).

The targets at ``t`` are the production progress over the next ``horizon_s`` seconds:
``parts`` = parts completed in ``(t, t + horizon]`` and ``orders_pct`` = mean completion
(percent) at ``t + horizon`` of the orders open at ``t``.

With a ``mechanism`` (:class:`~twin.evolution.mechanism.MechanismForecaster`), one more
shop-wide column ``mech_parts`` is appended: the mechanism model's forecast of the parts
completed in ``(t, t + horizon]``, made from the state at ``t`` (the simulator run from the
recorded state, :mod:`twin.forecast`) — the input of the mechanism and hybrid PMs.

The frame also keeps the shop's finished **operations** (:class:`Operations`: station,
process, end time, processing seconds — from :class:`twin.analytics.ShopAnalytics`, the one
place operations are computed), the per-station targets of
:class:`~twin.evolution.stations.StationPM`.

Everything is computed from a recording's columns (``Recording.latest_rows`` at each sample
time), so a growing live recording is read the same way as a finished shift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.analytics import ShopAnalytics
from twin.events import STATES
from twin.recording import Recording

STATION_STATES: tuple[str, ...] = STATES["station"]
#: Names of the two production-progress indices the PM predicts.
TARGETS: tuple[str, ...] = ("parts", "orders_pct")
#: Default spacing of state vectors [s].
DEFAULT_STEP_S = 300.0
#: Default prediction horizon [s].
DEFAULT_HORIZON_S = 3600.0
#: Name of the mechanism model's forecast column (parts in the next horizon).
MECH_FEATURE = "mech_parts"


#: Event columns the analytics need for operations (see twin.statestore).
_FLOW_COLUMNS = ("station", "wip", "process", "agv", "order")


@dataclass
class Operations:
    """Finished operations of a frame's stations, in order of their end.

    Attributes:
        station: index into the frame's ``stations`` (n,); process: process names (n,);
        end: end times [s] (n,); work_s: seconds actually processing (n,).
    """

    station: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    process: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    end: np.ndarray = field(default_factory=lambda: np.zeros(0))
    work_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.end)


@dataclass
class ProgressFrame:
    """State vectors and targets of one recording on a regular time grid.

    Attributes:
        t: sample times [s], shape (n,).
        X: state vectors, shape (n, d); column names in ``features``.
        y: targets, shape (n, 2) (``TARGETS``); NaN where ``t + horizon`` is past the
            end of the recording (not known yet).
        horizon_s, step_s: the prediction horizon and the grid spacing [s].
        stations: station ids in the order their columns appear.
        source: where the frame came from (a file name), for messages.
        done_t: sorted completion times of the parts completed up to the frame's end [s]
            (judging a prediction by a partial outcome, :meth:`completed`).
        t_end: the time up to which the frame's data is known [s] (None: its last sample).
        ops: the stations' finished operations (:class:`Operations`).
    """

    t: np.ndarray
    X: np.ndarray
    y: np.ndarray
    horizon_s: float
    step_s: float
    stations: list[str]
    features: list[str] = field(default_factory=list)
    source: str = ""
    done_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    t_end: float | None = None
    ops: Operations = field(default_factory=Operations)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def known(self) -> np.ndarray:
        """Mask of samples whose target is known (``t + horizon`` inside the recording)."""
        return ~np.isnan(self.y[:, 0])

    def select(self, mask: np.ndarray) -> ProgressFrame:
        return ProgressFrame(self.t[mask], self.X[mask], self.y[mask], self.horizon_s,
                             self.step_s, self.stations, self.features, self.source, self.done_t,
                             self.t_end, self.ops)

    def completed(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Parts completed in ``(lo, hi]`` (seconds, arrays of the same shape)."""
        d = self.done_t
        return (np.searchsorted(d, hi, "right") - np.searchsorted(d, lo, "right")).astype(float)

    @property
    def known_until(self) -> float:
        """Outcomes up to this time [s] are in the frame."""
        if self.t_end is not None:
            return self.t_end
        return float(self.t[-1]) if len(self.t) else 0.0

    @property
    def mech_col(self) -> int | None:
        """Index of the ``mech_parts`` column, None if the frame has none."""
        return self.features.index(MECH_FEATURE) if MECH_FEATURE in self.features else None


def feature_names(stations: Sequence[str]) -> list[str]:
    names: list[str] = []
    for s in stations:
        names += [f"{s}.{st}" for st in STATION_STATES] + [f"{s}.queue", f"{s}.wip"]
    return names + ["wip_open", "wip_transport", "parts_last_h", "parts_last_15min",
                    "orders_open", "orders_open_pct", "elapsed_h"]


def progress_frame(recording: Recording, *, step_s: float = DEFAULT_STEP_S,
                   horizon_s: float = DEFAULT_HORIZON_S, stations: Sequence[str] | None = None,
                   t_end: float | None = None, mechanism: Any = None) -> ProgressFrame:
    """Sample the shop state of ``recording`` every ``step_s`` seconds up to ``t_end``.

    ``stations`` fixes the station columns (a PM trained on one shift reads another shift
    with the same columns); by default the recording's stations in order of appearance.
    ``t_end`` (seconds): sample up to it and treat outcomes up to it as known (a live
    session passes "now"); default the last event. ``mechanism``: a
    :class:`~twin.evolution.mechanism.MechanismForecaster` to append the ``mech_parts``
    column (None: no column). Raises ``ValueError`` for a non-positive step or horizon.
    """
    if not (step_s > 0 and math.isfinite(step_s)):
        raise ValueError(f"step must be a finite time > 0 s, got {step_s!r}")
    if not (horizon_s > 0 and math.isfinite(horizon_s)):
        raise ValueError(f"horizon must be a finite time > 0 s, got {horizon_s!r}")
    # up to t_end when given (the caller vouches that the shop's events up to then are in:
    # a live session's watermark), else up to the last event
    t1 = recording.time_range[1] if t_end is None else float(t_end)
    if stations is None:
        stations = [e for e, k in recording.entities.items() if k == "station"]
    stations = list(stations)
    cols = recording.columns(-math.inf, t1)
    code = cols.code
    kind, state, entity = cols.kind, cols.state, cols.entity
    st_code = {code(s): i for i, s in enumerate(stations) if code(s) >= 0}
    state_idx = np.full(len(cols.strings), -1, dtype=np.int64)
    for i, s in enumerate(STATION_STATES):
        if code(s) >= 0:
            state_idx[code(s)] = i
    k_station, k_wip, k_order = code("station"), code("wip"), code("order")
    s_completed, s_transport = code("completed"), code("transporting")
    done_t = np.sort(cols.t[(kind == k_wip) & (state == s_completed)])

    times = np.arange(0.0, t1 + 1e-9, step_s) if t1 > 0 else np.zeros(0)
    n_st = len(stations)
    width = n_st * (len(STATION_STATES) + 2) + 7
    X = np.zeros((len(times), width), dtype=np.float64)
    open_orders: list[np.ndarray] = []
    order_fraction: list[dict[int, float]] = []
    lookup = np.full(len(cols.strings), -1, dtype=np.int64)
    for c, i in st_code.items():
        lookup[c] = i
    for j, s in enumerate(times):
        rows = recording.latest_rows(float(s))
        rows = rows[rows < len(cols)]
        k = kind[rows]
        # stations
        srow = rows[k == k_station]
        si = lookup[entity[srow]]
        ok = si >= 0
        srow, si = srow[ok], si[ok]
        base = si * (len(STATION_STATES) + 2)
        sidx = state_idx[state[srow]]
        good = sidx >= 0
        X[j, base[good] + sidx[good]] = 1.0
        q = cols.queue[srow]
        X[j, base + len(STATION_STATES)] = np.where(np.isnan(q), 0.0, q)
        # WIP
        wrow = rows[k == k_wip]
        wstate = state[wrow]
        live = wstate != s_completed
        wi = lookup[cols.station[wrow[live]]]
        np.add.at(X[j], wi[wi >= 0] * (len(STATION_STATES) + 2) + len(STATION_STATES) + 1, 1.0)
        off = n_st * (len(STATION_STATES) + 2)
        X[j, off] = float(live.sum())
        X[j, off + 1] = float((wstate == s_transport).sum())
        X[j, off + 2] = _count(done_t, s - 3600.0, s)
        X[j, off + 3] = _count(done_t, s - 900.0, s)
        # orders: completion fraction of each open order from its parts seen so far
        orow = rows[k == k_order]
        opened = cols.order[orow[state[orow] != s_completed]] if k_order >= 0 else np.zeros(0, int)
        frac = _order_fractions(cols.order[wrow], wstate == s_completed)
        X[j, off + 4] = float(len(opened))
        X[j, off + 5] = float(np.mean([frac.get(int(o), 0.0) for o in opened])) if len(opened) else 1.0
        X[j, off + 6] = s / 3600.0
        open_orders.append(opened)
        order_fraction.append(frac)

    y = np.full((len(times), len(TARGETS)), np.nan)
    steps = int(round(horizon_s / step_s))
    exact = math.isclose(steps * step_s, horizon_s)
    for j, s in enumerate(times):
        if s + horizon_s > t1 + 1e-9:
            continue
        y[j, 0] = _count(done_t, s, s + horizon_s)
        if exact and j + steps < len(times):
            later = order_fraction[j + steps]
        else:
            rows = recording.latest_rows(float(s + horizon_s))
            wrow = rows[kind[rows] == k_wip]
            later = _order_fractions(cols.order[wrow], state[wrow] == s_completed)
        opened = open_orders[j]
        y[j, 1] = 100.0 * float(np.mean([later.get(int(o), 0.0) for o in opened])) if len(opened) else 100.0
    names = feature_names(stations)
    if mechanism is not None:
        X = np.hstack([X, mechanism.parts(recording, times, horizon_s)[:, None]])
        names = [*names, MECH_FEATURE]
    return ProgressFrame(times, X, y, float(horizon_s), float(step_s), stations,
                         names, str(getattr(recording, "path", "")), done_t, float(t1),
                         operations_of(cols, stations))


def operations_of(cols: Any, stations: Sequence[str]) -> Operations:
    """The finished operations at ``stations`` in a recording's event columns (read by
    :class:`twin.analytics.ShopAnalytics`; operations still running are not listed)."""
    shop = ShopAnalytics(stations, t0=0.0, initial_state=None)
    extra = {n: getattr(cols, n) for n in _FLOW_COLUMNS if hasattr(cols, n)}
    shop.add_columns(cols.t, cols.entity, cols.kind, cols.state, cols.strings, extra)
    index = {s: i for i, s in enumerate(stations)}
    ops = sorted((o for o in shop.operations if o.station in index), key=lambda o: o.end)
    return Operations(np.array([index[o.station] for o in ops], dtype=np.int64),
                      np.array([o.process for o in ops], dtype=object),
                      np.array([o.end for o in ops], dtype=float),
                      np.array([o.work_s for o in ops], dtype=float))


def _count(sorted_t: np.ndarray, lo: float, hi: float) -> float:
    """Number of times in ``(lo, hi]``."""
    return float(np.searchsorted(sorted_t, hi, "right") - np.searchsorted(sorted_t, lo, "right"))


def _order_fractions(order_codes: np.ndarray, completed: np.ndarray) -> dict[int, float]:
    """Order code -> fraction of its parts (seen so far) that are completed."""
    if not len(order_codes):
        return {}
    orders, inv = np.unique(order_codes, return_inverse=True)
    total = np.bincount(inv)
    done = np.bincount(inv, weights=completed.astype(float))
    return {int(o): float(d / n) for o, d, n in zip(orders, done, total) if o != 0}
