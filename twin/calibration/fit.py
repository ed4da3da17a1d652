"""Fit a workshop's behaviour model per station from a recording.

What each station did comes from :class:`twin.analytics.ShopAnalytics` (the one place for
time in state, breakdown episodes, operations and setups). Time before a station's first
event counts as ``off`` (nothing is known about it), and an operation still blocked at the
end of the recording is left out (it may be a program cut off by the end of the log).

For every station: the processing time per process (mean of the operations' processing
time, Student-t interval), the setup time (likewise), the MTBF (time switched on and not
down per breakdown; exponential, time-truncated chi-square interval) and the MTTR (mean
down-episode length; exponential chi-square interval), and — for the report — availability
(up / switched-on time) and working hours (switched-on hours per day). Each value says how
much data it rests on (``n`` samples, ``basis_s`` seconds observed); a value resting on
fewer than ``min_samples`` samples keeps the model's value and is marked ``kept``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from twin.analytics import ShopAnalytics
from twin.events import Event
from twin.workshop import Workshop

#: Fewest samples a fitted value may rest on (operations, setups, breakdowns, repairs).
MIN_SAMPLES = 5


@dataclass
class Param:
    """One fitted parameter: ``model`` (the workshop's value), ``fitted`` (from data, None
    if nothing to fit), its ``ci`` [low, high], ``n`` samples over ``basis_s`` seconds of
    data, ``value`` (what the calibrated model uses) and ``status``: ``fitted``, ``kept``
    (too little data) or ``new`` (a process the model did not have)."""

    name: str
    unit: str
    model: float | None
    fitted: float | None
    ci: tuple[float, float] | None
    n: int
    basis_s: float
    value: float | None
    status: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("model", "fitted", "value"):
            if d[k] is not None and not math.isfinite(d[k]):
                d[k] = None  # JSON: inf (never fails) as null
        if d["ci"] is not None:
            d["ci"] = [None if not math.isfinite(x) else round(x, 4) for x in d["ci"]]
        return d


@dataclass
class StationFit:
    station: str
    params: list[Param] = field(default_factory=list)
    availability: float | None = None
    working_h_per_day: float | None = None
    on_h: float = 0.0

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


@dataclass
class StationHistory:
    """What one station did over ``[t_start, t_end]`` (seconds), as calibration reads it
    from the shop analytics."""

    station: str
    operations: list[tuple[str, float]] = field(default_factory=list)  # (process, processing s)
    setups: list[float] = field(default_factory=list)  # seconds in setup per changeover
    downs: list[tuple[float, float | None]] = field(default_factory=list)  # (start, end or None)
    time_in: dict[str, float] = field(default_factory=dict)  # state -> seconds
    t_start: float = 0.0
    t_end: float = 0.0

    @property
    def span_s(self) -> float:
        return self.t_end - self.t_start

    @property
    def on_s(self) -> float:
        """Seconds switched on (not ``off``)."""
        return self.span_s - self.time_in.get("off", 0.0)

    @property
    def up_s(self) -> float:
        """Seconds switched on and not down (the exposure to failures)."""
        return self.on_s - self.time_in.get("down", 0.0)


def station_histories(events: Iterable[Event], t_start: float, t_end: float,
                      stations: Iterable[str] = ()) -> dict[str, StationHistory]:
    """Every station's history from events in time order over ``[t_start, t_end]``:
    ``stations`` (known in advance) and any other station in the events."""
    shop = ShopAnalytics(list(stations), t0=t_start, initial_state="off")
    shop.add(e for e in events if e.kind == "station")
    out = {s: StationHistory(s, t_start=t_start, t_end=t_end,
                             time_in=shop.station_time_in_state(s, t_end)) for s in shop.stations}
    cut = {id(op) for op in shop.blocked_operations()}  # may be a program cut off by the end
    for op in sorted(shop.operations, key=lambda o: o.end):
        if id(op) not in cut:
            out[op.station].operations.append((op.process, op.work_s))
    for sid, _, work in shop.setups():
        if work > 0:
            out[sid].setups.append(work)
    for d in shop.downtimes():
        out[d.station].downs.append((d.start, d.end))
    return out


def mean_ci(x: list[float], confidence: float) -> tuple[float, tuple[float, float]]:
    """Mean and its two-sided Student-t confidence interval."""
    a = np.asarray(x, dtype=float)
    m = float(a.mean())
    if len(a) < 2:
        return m, (-math.inf, math.inf)
    half = float(stats.t.ppf(0.5 + confidence / 2, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return m, (m - half, m + half)


def exp_mean_ci(total: float, n: int, confidence: float, truncated: bool) -> tuple[float, float]:
    """Chi-square interval of an exponential mean from ``n`` events over ``total`` (time
    truncated: the observation window ended by the clock, not at an event)."""
    a = 1.0 - confidence
    lo_df = 2 * n + 2 if truncated else 2 * n
    lo = 2 * total / stats.chi2.ppf(1 - a / 2, lo_df)
    hi = 2 * total / stats.chi2.ppf(a / 2, 2 * n) if n > 0 else math.inf
    return float(lo), float(hi)


def fit_station(ep: StationHistory, model: Any, confidence: float = 0.95,
                min_samples: int = MIN_SAMPLES, days: float = 1.0) -> StationFit:
    """Fit one station; ``model`` is its :class:`twin.workshop.Station` (or None)."""
    fit = StationFit(ep.station, on_h=ep.on_s / 3600.0)
    procs: dict[str, list[float]] = {}
    proc_basis: dict[str, float] = {}
    for p, s in ep.operations:
        procs.setdefault(p, []).append(s)
        proc_basis[p] = proc_basis.get(p, 0.0) + s
    nominal = dict(model.processes) if model is not None else {}
    for p in sorted(set(nominal) | set(procs)):
        xs = procs.get(p, [])
        m0 = nominal.get(p)
        if xs:
            mean, ci = mean_ci(xs, confidence)
        else:
            mean, ci = None, None
        if len(xs) >= min_samples:
            status, value, note = ("fitted" if m0 is not None else "new"), mean, ""
        else:
            status, value = "kept", m0
            note = f"only {len(xs)} operation(s) (< {min_samples}); the model's value is kept"
        fit.params.append(Param(f"processes.{p}", "s", m0, mean, ci, len(xs), proc_basis.get(p, 0.0),
                                value, status, note))
    su = ep.setups
    m0 = model.setup_s if model is not None else None
    mean, ci = mean_ci(su, confidence) if su else (None, None)
    ok = len(su) >= min_samples
    fit.params.append(Param("setup_s", "s", m0, mean, ci, len(su), float(sum(su)),
                            mean if ok else m0, "fitted" if ok else "kept",
                            "" if ok else f"only {len(su)} setup(s) (< {min_samples}); the model's value is kept"))
    # breakdowns: exposure = time switched on and not down
    n_fail = len(ep.downs)
    up_h = ep.up_s / 3600.0
    m0 = model.mtbf_h if model is not None else None
    mtbf = up_h / n_fail if n_fail else None
    ci = exp_mean_ci(up_h, n_fail, confidence, truncated=True)
    ok = n_fail >= min_samples
    fit.params.append(Param("mtbf_h", "h", m0, mtbf, ci, n_fail, ep.up_s, mtbf if ok else m0,
                            "fitted" if ok else "kept",
                            "" if ok else f"only {n_fail} breakdown(s) in {up_h:.1f} h up (< {min_samples}); "
                                          "the model's value is kept"))
    reps = [(b - a) / 60.0 for a, b in ep.downs if b is not None]
    m0 = model.mttr_min if model is not None else None
    mttr = float(np.mean(reps)) if reps else None
    ci2 = exp_mean_ci(sum(reps), len(reps), confidence, truncated=False) if reps else None
    ok = len(reps) >= min_samples
    fit.params.append(Param("mttr_min", "min", m0, mttr, ci2, len(reps), sum(reps) * 60.0,
                            mttr if ok else m0, "fitted" if ok else "kept",
                            "" if ok else f"only {len(reps)} repair(s) (< {min_samples}); the model's value is kept"))
    if ep.on_s > 0:
        fit.availability = ep.up_s / ep.on_s
    fit.working_h_per_day = (ep.on_s / 3600.0) / max(days, 1e-9)
    return fit


def calibrate(events: list[Any], workshop: Workshop, t_start: float, t_end: float,
              confidence: float = 0.95, min_samples: int = MIN_SAMPLES) -> list[StationFit]:
    """Fit every station of ``workshop`` (and any other station in the events)."""
    eps = station_histories(events, t_start, t_end, workshop.stations)
    days = max((t_end - t_start) / 86400.0, 1e-9)
    return [fit_station(ep, workshop.stations.get(sid), confidence, min_samples, days)
            for sid, ep in eps.items()]
