"""When to evolve: trend detection f_TD on the TA series and the evolution trigger.

f_TD (the paper's eq. 20) is pluggable: anything with ``test(t, ta) -> TrendResult``.
The default, :class:`LinearTrend`, fits TA = a + b t over the points in its window
(least squares, ``scipy.stats.linregress``) and asks whether the slope is significantly
*negative*: the one-sided p-value of the slope's t-test (H0: b >= 0) is compared with
``alpha``.

The shop trigger asks at ``SHOP_ALPHA`` = 0.0002, not 0.01: the test is asked again at every
TA batch (30 min: about 45 times in a monitored 24 h shift), so its false-alarm rate per
shift is up to 45 × alpha (a Bonferroni bound over a shift's tests) — 0.45 at 0.01, which is
what the no-drift controls of ``benchmarks/bench_evolution.py`` showed (0.17–0.40 false
triggers per shift), ~4 % at 0.001 (1 false trigger in 41 controls), and under 1 % a shift
at 0.0002 (none in 41): a monitor that should raise no false trigger in a month of shifts.
The price: the shop trigger misses more slow drifts. The per-station CUSUM
(:mod:`twin.evolution.stations`) is what catches a worn station within the hour; the shop's
trend is the slower, shop-wide check beside it.

:class:`EvolutionTrigger` watches TA points as they arrive and fires when, over its window,

1. accuracy is significantly decreasing (f_TD says so), **and**
2. accuracy is below the floor: the fitted TA at the newest point < ``floor``.

Both are needed: a noisy but level series never fires (1), nor does a PM that loses a little
accuracy while still good enough (2). **Cool-down**: after a trigger at ``t`` no trigger is
raised before ``t + cooldown_s``, and the trend window restarts at ``t``: only TA points after
the trigger count (they judge the evolved PM, not the one that was replaced). The window is
the last ``window`` points; fewer than ``min_points`` never fire. :meth:`EvolutionTrigger.hold`
applies the same cool-down and restart after a trigger raised elsewhere (the per-station
trigger, :mod:`twin.evolution.stations`: the PM was evolved, older points judge the old one).

**Known noise** (``LinearTrend(sigma=...)``): the slope's standard error is then
``sigma / sqrt(Σ(t - t̄)²)`` with ``sigma`` the TA noise measured elsewhere (a z-test),
instead of the fit's own residuals (a t-test with ``n - 2`` degrees of freedom: with 4–6
points it needs a very steep fall to be significant); with ``robust`` (default) the fit's
residual scatter is used instead when it is larger (a single odd point at the end of the
window then does not pass for a trend). The earlier per-station trigger
(:class:`~twin.evolution.stations.StationTrigger`) uses it with each station's TA noise on
the PM's training shifts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import stats

#: significance level of the shop trigger's trend test: a per-shift false-alarm rate under
#: 1 % over its ~45 tests a shift (see the module docstring)
SHOP_ALPHA = 0.0002


@dataclass(frozen=True)
class TrendResult:
    """Outcome of a trend test: slope [TA per hour], intercept, one-sided p-value of
    "decreasing", the fitted TA at the newest point, and the verdict."""

    slope_per_h: float
    intercept: float
    p_decreasing: float
    fitted_end: float
    decreasing: bool


class TrendDetector(Protocol):
    """f_TD: is the TA series ``ta`` (at times ``t`` seconds) decreasing?"""

    def test(self, t: np.ndarray, ta: np.ndarray) -> TrendResult: ...


class LinearTrend:
    """Linear fit with a one-sided significance test of the slope (the default f_TD).

    Args:
        alpha: significance level of "the slope is negative".
        sigma: known standard deviation of one TA point (None: estimated from the fit's
            residuals, the t-test); with it the test is a z-test on the slope.
        robust: with ``sigma``, use the residual scatter of the fit when it is larger.
    """

    def __init__(self, alpha: float = 0.01, sigma: float | None = None, robust: bool = True) -> None:
        if sigma is not None and not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"TA noise sigma must be a finite number > 0, got {sigma!r}")
        self.alpha = alpha
        self.sigma = sigma
        self.robust = robust

    def test(self, t: np.ndarray, ta: np.ndarray) -> TrendResult:
        t = np.asarray(t, dtype=float) / 3600.0
        ta = np.asarray(ta, dtype=float)
        if len(t) < 3 or np.ptp(t) == 0:
            end = float(ta[-1]) if len(ta) else math.nan
            return TrendResult(0.0, end, 1.0, end, False)
        if self.sigma is not None:
            sxx = float(((t - t.mean()) ** 2).sum())
            slope = float(((t - t.mean()) * (ta - ta.mean())).sum() / sxx)
            intercept = float(ta.mean() - slope * t.mean())
            sd = self.sigma
            if self.robust and len(t) > 2:  # the window's own scatter, when larger (an outlier)
                resid = ta - (intercept + slope * t)
                sd = max(sd, float(np.sqrt((resid ** 2).sum() / (len(t) - 2))))
            p = float(stats.norm.cdf(slope / (sd / math.sqrt(sxx))))
            return TrendResult(slope, intercept, p, intercept + slope * float(t[-1]),
                               bool(slope < 0 and p < self.alpha))
        if np.ptp(ta) == 0:  # a perfectly level series: no trend, linregress would warn
            return TrendResult(0.0, float(ta[0]), 1.0, float(ta[0]), False)
        fit = stats.linregress(t, ta, alternative="less")
        p = float(fit.pvalue)
        end = float(fit.intercept + fit.slope * t[-1])
        return TrendResult(float(fit.slope), float(fit.intercept), p, end,
                           bool(fit.slope < 0 and p < self.alpha))


@dataclass(frozen=True)
class TriggerEvent:
    """An evolution trigger at ``t`` seconds: the trend that caused it and the TA window.
    ``station``: the station whose processing-time TA fell (per-station trigger; "" for
    the shop's production progress). A per-operation CUSUM trigger also gives its sum
    ``cusum``, the operations since it left 0 (``n_ops``, from ``window_start``) and their
    processing times' excess over the PM (``excess``, 0.14 = 14 % longer); its ``trend``
    is the line through those operations' TA."""

    t: float
    trend: TrendResult
    window_start: float
    ta_last: float
    station: str = ""
    cusum: float | None = None
    n_ops: int = 0
    excess: float = 0.0

    def label(self) -> str:
        if self.cusum is not None:  # the per-operation CUSUM (twin.evolution.stations.StationCusum)
            return (f"evolution trigger {self.station}: processing-time TA {self.ta_last:.2f}, times "
                    f"{self.excess:+.0%} over the PM in {self.n_ops} operations (CUSUM {self.cusum:.1f})")
        what = f" {self.station}: processing-time TA" if self.station else ": TA"
        return (f"evolution trigger{what} {self.trend.fitted_end:.2f} falling "
                f"{self.trend.slope_per_h:+.3f}/h (p={self.trend.p_decreasing:.3g})")


class EvolutionTrigger:
    """The evolution trigger: feed TA points in time order with :meth:`add`.

    Args:
        floor: fitted TA below which a significant decrease triggers.
        window: TA points the trend is fitted over; min_points: fewest to test.
        cooldown_s: seconds after a trigger in which no new trigger is raised (the
            window restarts at the trigger).
        detector: f_TD; default :class:`LinearTrend` at ``SHOP_ALPHA``.
    """

    def __init__(self, floor: float = 0.6, window: int = 6, min_points: int = 4,
                 cooldown_s: float = 7200.0, detector: TrendDetector | None = None) -> None:
        self.floor = floor
        self.window = window
        self.min_points = min_points
        self.cooldown_s = cooldown_s
        self.detector: TrendDetector = detector if detector is not None else LinearTrend(SHOP_ALPHA)
        self.reset()

    def reset(self) -> None:
        self.t_: list[float] = []
        self.ta_: list[float] = []
        self.triggers_: list[TriggerEvent] = []
        self.last_trend_: TrendResult | None = None
        self._since = -math.inf
        self._hold_until = -math.inf

    def add(self, t: float, ta: float) -> TriggerEvent | None:
        """Take the TA point (t seconds, ta); return the trigger it raises, if any."""
        if not math.isfinite(ta):
            return None
        self.t_.append(float(t))
        self.ta_.append(float(ta))
        ts, tas = self.window_points()
        if len(ts) < self.min_points:
            self.last_trend_ = None
            return None
        trend = self.detector.test(np.asarray(ts), np.asarray(tas))
        self.last_trend_ = trend
        if trend.decreasing and trend.fitted_end < self.floor and t >= self._hold_until:
            ev = TriggerEvent(float(t), trend, ts[0], float(ta))
            self.triggers_.append(ev)
            self.hold(float(t))
            return ev
        return None

    def hold(self, t: float) -> None:
        """Cool down and restart the window at ``t`` [s] (a trigger, here or elsewhere)."""
        self._since = max(self._since, float(t))
        self._hold_until = max(self._hold_until, float(t) + self.cooldown_s)

    def window_points(self) -> tuple[list[float], list[float]]:
        """(times, TA) of the points the trend is fitted over now."""
        pts = [(t, a) for t, a in zip(self.t_, self.ta_) if t > self._since]
        pts = pts[-self.window:]
        return [p[0] for p in pts], [p[1] for p in pts]


def run_trigger(points: Sequence[tuple[float, float]], trigger: EvolutionTrigger) -> list[TriggerEvent]:
    """Feed (t, TA) points through a fresh ``trigger``; the triggers raised."""
    trigger.reset()
    out = []
    for t, ta in points:
        ev = trigger.add(t, ta)
        if ev is not None:
            out.append(ev)
    return out
