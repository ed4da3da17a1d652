"""Per-station part of the PM: each station's processing times, their TA and a trigger per station.

The shop's production progress shows a station's wear late (a deficit of a few parts
against batch noise, see docs/evolution.md). The station's own operations show it at once:
a worn machine's processing times grow. So the PM also predicts, per station, the
**relative processing time** of the operations the station finishes in the next
``horizon_s`` (default 5 min): each operation's processing seconds divided by the usual
time of its process at that station (``process_s_``, the mean on the PM's training
shifts), averaged over the operations ending in ``(t, t + horizon]`` (NaN when none ends).
Dividing by the process's usual time takes out the product mix (the inspection station's
processes take 150–240 s). The prediction is an LSTM (:class:`~twin.evolution.model.ProgressLSTM`,
the same inputs as the progress PM, one output per station; small on purpose, 8 units and
20 epochs: a bigger one learnt the training shifts' noise, its TA noise on new shifts was
up to twice that on the training shifts and the z-test below raised false alarms).

TA per station and evaluation batch is :func:`~twin.evolution.accuracy.batch_ta` over the
predictions judged in the batch that had an operation. :class:`StationTrigger` runs one
:class:`~twin.evolution.trend.EvolutionTrigger` per station: a linear trend whose slope is
tested one-sided against the station's TA noise on the training shifts (``ta_sd_``, or the
window's own scatter when larger — one odd batch does not make a trend; a z-test,
:class:`~twin.evolution.trend.LinearTrend`), over the last 8 points (2 h), at ``alpha / number of stations``
(Bonferroni: the chance that any of the stations fires on a steady shop stays ``alpha``),
and a floor (fitted TA < 0.85: processing times ~18 % over the prediction). The trigger
names the station.

After a trigger the station's usual times are re-based (:meth:`StationPM.rebase`): scaled by
the ratio of its operations in the last ``rebase_s`` to the usual times, so the station is
then judged against its new normal (a wear that goes on triggers again after the cool-down).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin.evolution.accuracy import batch_ta
from twin.evolution.features import ProgressFrame
from twin.evolution.model import ProgressLSTM, frame_windows
from twin.evolution.trend import EvolutionTrigger, LinearTrend, TriggerEvent

#: Default horizon of the per-station prediction [s] (one state step: each operation is
#: judged by exactly one prediction).
STATION_HORIZON_S = 300.0
#: Default floor of the per-station TA (processing times ~18 % over the prediction).
STATION_FLOOR = 0.85
#: Smallest TA noise used in the z-test (a station whose training TA barely varied).
MIN_TA_SD = 0.005
#: Fewest training batches with an operation for a station to be watched (its TA noise
#: needs them).
MIN_TA_BATCHES = 6


def relative_times(frame: ProgressFrame, process_s: dict[tuple[int, str], float]) -> np.ndarray:
    """Each operation's processing seconds over its process's usual time (NaN when the
    station has never run that process before)."""
    ops = frame.ops
    ref = np.array([process_s.get((int(s), str(p)), math.nan) for s, p in zip(ops.station, ops.process)],
                   dtype=float)
    return ops.work_s / ref if len(ops) else np.zeros(0)


def station_targets(frame: ProgressFrame, process_s: dict[tuple[int, str], float],
                    horizon_s: float) -> np.ndarray:
    """(n samples, n stations): mean relative processing time of the operations each station
    finishes in ``(t, t + horizon_s]``; NaN when none ends there or the outcome is not known
    yet (``t + horizon_s`` after the frame's end)."""
    n, k = len(frame), len(frame.stations)
    out = np.full((n, k), np.nan)
    rel = relative_times(frame, process_s)
    ops = frame.ops
    for j in range(k):
        m = (ops.station == j) & ~np.isnan(rel)
        end, r = ops.end[m], rel[m]
        if not len(end):
            continue
        cum = np.concatenate([[0.0], np.cumsum(r)])
        lo = np.searchsorted(end, frame.t, "right")
        hi = np.searchsorted(end, frame.t + horizon_s, "right")
        cnt = hi - lo
        ok = cnt > 0
        out[ok, j] = (cum[hi[ok]] - cum[lo[ok]]) / cnt[ok]
    out[frame.t + horizon_s > frame.known_until + 1e-9] = np.nan
    return out


class StationPM:
    """Per-station relative processing time over the next ``horizon_s`` (an LSTM).

    Args:
        horizon_s: prediction horizon [s]; batch_s: evaluation batch of ``ta_sd_`` [s].
        min_judged: fewest predictions with an operation (5-min windows: about the
            operations) a batch needs for a station TA point. With 1, the slow stations
            (2–7 operations an hour: 0–2 a batch, a heavy-tailed TA) raised about one false
            trigger in 6 control shifts; with 2 (default) none in 11, and those stations
            are not watched (too few training batches).
        hidden, epochs, seed: of the LSTM (:class:`ProgressLSTM`); window: its input length.

    Learned attributes: ``stations_``, ``process_s_`` ((station index, process) -> usual
    processing seconds), ``net_`` (the LSTM), ``ta_sd_`` (per station, standard deviation of
    its TA per batch on the training shifts; NaN for a station with fewer than
    ``MIN_TA_BATCHES``: it is not watched).
    """

    def __init__(self, horizon_s: float = STATION_HORIZON_S, batch_s: float = 900.0,
                 hidden: int = 8, epochs: int = 20, window: int = 12, seed: int = 0,
                 min_judged: int = 2) -> None:
        if not (math.isfinite(horizon_s) and horizon_s > 0):
            raise ValueError(f"station horizon must be a finite time > 0 s, got {horizon_s!r}")
        self.horizon_s = float(horizon_s)
        self.batch_s = float(batch_s)
        self.hidden = hidden
        self.epochs = epochs
        self.window = window
        self.seed = seed
        self.min_judged = int(min_judged)

    def fit(self, frames: Sequence[ProgressFrame]) -> StationPM:
        """Learn the usual process times and the LSTM from no-drift ``frames``; returns self."""
        if not frames:
            raise ValueError("no shift to learn the stations' processing times from")
        self.stations_ = list(frames[0].stations)
        sums: dict[tuple[int, str], list[float]] = {}
        for f in frames:
            m = f.ops.end <= f.known_until + 1e-9
            for s, p, w in zip(f.ops.station[m], f.ops.process[m], f.ops.work_s[m]):
                sums.setdefault((int(s), str(p)), []).append(float(w))
        if not sums:
            raise ValueError("no finished operation to learn the stations' processing times from")
        self.process_s_ = {k: float(np.mean(v)) for k, v in sums.items()}
        xs, ys = [], []
        for f in frames:
            y = station_targets(f, self.process_s_, self.horizon_s)
            ok = f.t + self.horizon_s <= f.known_until + 1e-9
            xs.append(frame_windows(f, self.window)[ok])
            # a window in which a station finished nothing teaches "as usual" (1.0); such
            # predictions are never judged
            ys.append(np.where(np.isnan(y[ok]), 1.0, y[ok]))
        self.net_ = ProgressLSTM(window=self.window, hidden=self.hidden, epochs=self.epochs,
                                 seed=self.seed).fit(np.concatenate(xs), np.concatenate(ys))
        tas: list[list[float]] = [[] for _ in self.stations_]
        for f in frames:
            for _t, ta in station_ta_series(f, self.predict_frame(f), self, self.batch_s):
                for j, v in enumerate(ta):
                    if math.isfinite(v):
                        tas[j].append(v)
        self.ta_sd_ = np.array([float(np.std(v)) if len(v) >= MIN_TA_BATCHES else math.nan for v in tas])
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Relative processing time per station (n, n stations)."""
        return self.net_.predict(windows[:, -self.window:])

    def predict_frame(self, frame: ProgressFrame) -> np.ndarray:
        return self.predict(frame_windows(frame, self.window))

    @staticmethod
    def training_frame(frame: ProgressFrame, t_end: float, horizon_s: float = STATION_HORIZON_S) -> ProgressFrame:
        """The part of ``frame`` known at ``t_end`` [s] to fit on (its first hours): samples
        whose per-station outcome is known by then, operations that ended by then."""
        part = frame.select(frame.t + horizon_s <= t_end + 1e-9)
        return dataclasses.replace(part, t_end=float(t_end))

    def targets(self, frame: ProgressFrame) -> np.ndarray:
        """The actual relative processing times (:func:`station_targets`) of ``frame``."""
        return station_targets(frame, self.process_s_, self.horizon_s)

    def rebase(self, frame: ProgressFrame, station: int, t: float, rebase_s: float = 1800.0) -> float:
        """Scale ``station``'s usual times by the mean relative time of its operations that
        ended in ``(t - rebase_s, t]``; returns the ratio (1.0 if it finished none)."""
        rel = relative_times(frame, self.process_s_)
        ops = frame.ops
        m = (ops.station == station) & (ops.end > t - rebase_s) & (ops.end <= t) & ~np.isnan(rel)
        if not m.any():
            return 1.0
        ratio = float(rel[m].mean())
        for key in self.process_s_:
            if key[0] == station:
                self.process_s_[key] *= ratio
        return ratio


def station_ta(y: np.ndarray, y_hat: np.ndarray, min_judged: int = 1) -> np.ndarray:
    """TA per station (columns) of a batch: :func:`batch_ta` over the judged predictions
    (rows with an actual value); NaN for a station with fewer than ``min_judged``."""
    out = np.full(y.shape[1], np.nan)
    for j in range(y.shape[1]):
        ok = ~np.isnan(y[:, j])
        if ok.sum() >= max(min_judged, 1):
            out[j] = batch_ta(y[ok, j], y_hat[ok, j], y_floor=0.0)
    return out


def station_ta_series(frame: ProgressFrame, pred: np.ndarray, pm: StationPM,
                      batch_s: float) -> list[tuple[float, np.ndarray]]:
    """(batch end [s], TA per station) of predictions ``pred`` aligned with ``frame``, a
    prediction at ``t`` judged at ``t + pm.horizon_s``."""
    y = pm.targets(frame)
    known = frame.t + pm.horizon_s
    out = []
    end = batch_s
    while end <= frame.known_until + 1e-9:
        m = (known > end - batch_s + 1e-9) & (known <= end + 1e-9)
        if m.any():
            out.append((float(end), station_ta(y[m], pred[m], pm.min_judged)))
        end += batch_s
    return out


@dataclass(frozen=True)
class StationTaPoint:
    """Per-station TA of the predictions judged in ``(t - batch, t]`` (NaN: none)."""

    t: float
    ta: np.ndarray


class StationTrigger:
    """One trend trigger per station, Bonferroni-corrected (see the module docstring).

    Args:
        stations: station ids; ta_sd: each one's TA noise (NaN: that station is not
            watched: it had too few batches with an operation on the training shifts).
        alpha: family-wise significance level; floor, window, min_points, cooldown_s: of
            each :class:`EvolutionTrigger`.
    """

    def __init__(self, stations: Sequence[str], ta_sd: Sequence[float], *, alpha: float = 0.01,
                 floor: float = STATION_FLOOR, window: int = 8, min_points: int = 4,
                 cooldown_s: float = 7200.0) -> None:
        self.stations = list(stations)
        sds = [float(v) for v in ta_sd]
        self.watched = [j for j, v in enumerate(sds) if math.isfinite(v)]
        per = alpha / max(len(self.watched), 1)
        self.triggers: dict[int, EvolutionTrigger] = {
            j: EvolutionTrigger(floor=floor, window=window, min_points=min_points, cooldown_s=cooldown_s,
                                detector=LinearTrend(per, sigma=max(sds[j], MIN_TA_SD)))
            for j in self.watched}

    def add(self, t: float, ta: np.ndarray) -> list[TriggerEvent]:
        """Take one batch's TA per station; the triggers raised (named by station)."""
        out = []
        for j, trig in self.triggers.items():
            ev = trig.add(t, float(ta[j]))
            if ev is not None:
                out.append(TriggerEvent(ev.t, ev.trend, ev.window_start, ev.ta_last, self.stations[j]))
        return out

    @classmethod
    def for_pm(cls, pm: StationPM, **kwargs: float) -> StationTrigger:
        return cls(pm.stations_, pm.ta_sd_, **kwargs)  # type: ignore[arg-type]
