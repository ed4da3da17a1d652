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

TA per station and evaluation batch (15 min, the chart's points) is
:func:`~twin.evolution.accuracy.batch_ta` over the predictions judged in the batch that had
an operation.

**The trigger** (:class:`StationCusum`, the default) judges every finished operation as
soon as it ends: its residual (relative time − the PM's prediction for its station and
5-min window, :func:`operation_residuals`), standardised by the station's residual noise
on the training shifts (``op_sd_``), feeds a one-sided CUSUM per station, checked every
5 min; the station triggers when the sum passes ``h``. It needs no batch of several
operations, so the slow stations (a lathe finishes 2–4 operations an hour) are watched as
well. The earlier trigger, :class:`StationTrigger` (a linear trend per station on the TA
points, z-test against ``ta_sd_``, Bonferroni, floor 0.85), is kept for comparison
(benchmarks/bench_evolution.py): it waits for a batch and a trend window, ~1.1 h.
The trigger names the station.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from twin.evolution.accuracy import batch_ta
from twin.evolution.features import ProgressFrame
from twin.evolution.model import ProgressLSTM, frame_windows
from twin.evolution.trend import EvolutionTrigger, LinearTrend, TrendResult, TriggerEvent

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
#: Fewest finished training operations for a station's residual noise (``op_sd_``): with
#: fewer it is not watched.
MIN_OPS = 5
#: Pseudo-operations of the pooled noise (all stations') in each station's noise estimate
#: (shrinkage: a station with few training operations leans on the shop's noise).
POOL_OPS = 20
#: CUSUM defaults, in units of the station's residual noise: allowance k, threshold h, and
#: the clip of one operation's standardised residual (one freak operation is not a drift).
CUSUM_K = 1.0
CUSUM_H = 8.0
CUSUM_CLIP = 5.0
#: Extra allowance per station for the uncertainty of its usual times: ``CUSUM_K_SE /
#: sqrt(training operations per process)`` noise units (2 standard errors of the mean a
#: usual time was learnt as). Fitted on a shift's first 4 h (12 lathe operations), the
#: usual times are off by up to 0.9 noise units and k = 1 alone raised 14 false triggers in
#: 8 control shifts; with it none.
CUSUM_K_SE = 2.0


def relative_times(frame: ProgressFrame, process_s: dict[tuple[int, str], float]) -> np.ndarray:
    """Each operation's processing seconds over its process's usual time (NaN when the
    station has never run that process before)."""
    ops = frame.ops
    ref = np.array([process_s.get((int(s), str(p)), math.nan) for s, p in zip(ops.station, ops.process)],
                   dtype=float)
    return ops.work_s / ref if len(ops) else np.zeros(0)


def operation_residuals(frame: ProgressFrame, pred: np.ndarray, pm: StationPM,
                        known_until: float | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per finished operation, the PM's error: (station index, end [s], residual, predicted),
    residual = relative processing time − ``predicted``, the prediction that judged it (the
    one made at the last state step before the operation ended, for its station). ``pred``
    is aligned with ``frame.t`` (NaN rows: no prediction made there); operations ending
    after ``known_until`` (default the frame's) or without a prediction are left out."""
    ops = frame.ops
    upto = frame.known_until if known_until is None else known_until
    if not len(ops):
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0)
    rel = relative_times(frame, pm.process_s_)
    k = np.searchsorted(frame.t, ops.end, "left") - 1  # the step (t_k, t_k + step] holding the end
    ok = (k >= 0) & ~np.isnan(rel) & (ops.end <= upto + 1e-9)
    ok[ok] &= ops.end[ok] <= frame.t[k[ok]] + pm.horizon_s + 1e-9
    st, kk = ops.station[ok].astype(np.int64), k[ok]
    p = pred[kk, st]
    good = ~np.isnan(p)
    return st[good], ops.end[ok][good], (rel[ok] - p)[good], p[good]


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
            trigger of the TA trend (:class:`StationTrigger`) in 6 control shifts; with 2
            (default) none in 11, and the TA trend does not watch them (too few training
            batches). The CUSUM (:class:`StationCusum`) judges single operations and
            watches them.
        hidden, epochs, seed: of the LSTM (:class:`ProgressLSTM`); window: its input length.

    Learned attributes: ``stations_``, ``process_s_`` ((station index, process) -> usual
    processing seconds), ``ops_per_process_`` (per station, training operations per process:
    how well its usual times are known), ``net_`` (the LSTM), ``ta_sd_`` (per station,
    standard deviation of its TA per batch on the training shifts; NaN for a station with
    fewer than ``MIN_TA_BATCHES``: the TA trend does not watch it), ``op_sd_`` (per station,
    the residual noise of one operation, :func:`residual_noise`; NaN: the CUSUM does not
    watch it).
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
        n_ops = np.zeros(len(self.stations_))
        n_proc = np.zeros(len(self.stations_))
        for (j, _p), v in sums.items():
            n_ops[j] += len(v)
            n_proc[j] += 1
        self.ops_per_process_ = np.where(n_proc > 0, n_ops / np.maximum(n_proc, 1), 0.0)
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
        preds = [self.predict_frame(f) for f in frames]
        tas: list[list[float]] = [[] for _ in self.stations_]
        for f, pred in zip(frames, preds):
            for _t, ta in station_ta_series(f, pred, self, self.batch_s):
                for j, v in enumerate(ta):
                    if math.isfinite(v):
                        tas[j].append(v)
        self.ta_sd_ = np.array([float(np.std(v)) if len(v) >= MIN_TA_BATCHES else math.nan for v in tas])
        res = [operation_residuals(f, pred, self) for f, pred in zip(frames, preds)]
        st = np.concatenate([r[0] for r in res])
        e = np.concatenate([r[2] for r in res])
        self.op_sd_ = residual_noise(st, e, len(self.stations_))
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


def residual_noise(station: np.ndarray, residual: np.ndarray, n_stations: int) -> np.ndarray:
    """Per station, the standard deviation of its operations' residuals, shrunk towards the
    pooled one by ``POOL_OPS`` pseudo-operations; NaN for a station with fewer than
    ``MIN_OPS`` operations (not watched)."""
    out = np.full(n_stations, math.nan)
    if not len(residual):
        return out
    pooled = float(np.sqrt(np.mean(residual ** 2)))
    for j in range(n_stations):
        v = residual[station == j]
        if len(v) >= MIN_OPS:
            out[j] = max(math.sqrt((float((v ** 2).sum()) + POOL_OPS * pooled ** 2) / (len(v) + POOL_OPS)),
                         MIN_TA_SD)
    return out


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


class StationCusum:
    """Per-station one-sided CUSUM on the PM's per-operation residuals (the default trigger).

    Every finished operation is judged at once: its standardised residual
    ``z = (relative time − the PM's prediction) / op_sd`` (``op_sd``: the station's residual
    noise on the training shifts), clipped at ``clip``, accumulates ``S = max(0, S + z − k)``;
    the station triggers when ``S > h``. A lathe's few long operations weigh as much as the
    inspection's many short ones: each is one standardised observation, so the slow stations
    are watched too. After a trigger the station's ``S`` restarts and it is held for
    ``cooldown_s``. ``h`` is set for the false-alarm rate of the whole shop (all stations)
    on no-drift shifts (docs/evolution.md, *Measured*). Each station's allowance is
    ``k + k_se / sqrt(n)`` with ``n`` its training operations per process: a usual time
    learnt from few operations may be off by a few standard errors, which would otherwise
    read as a wear.

    Args:
        stations: station ids; op_sd: each one's residual noise (NaN: not watched).
        ops_per_process: each one's training operations per process (None: allowance ``k``).
        k, k_se, h, clip: allowance, its extra for the usual times' uncertainty, threshold
            and clip, in noise units; cooldown_s [s].
    """

    def __init__(self, stations: Sequence[str], op_sd: Sequence[float],
                 ops_per_process: Sequence[float] | None = None, *, k: float = CUSUM_K,
                 k_se: float = CUSUM_K_SE, h: float = CUSUM_H, clip: float = CUSUM_CLIP,
                 cooldown_s: float = 7200.0) -> None:
        self.stations = list(stations)
        self.op_sd = np.array([float(v) for v in op_sd])
        self.watched = [j for j, v in enumerate(self.op_sd) if math.isfinite(v)]
        self.h, self.clip, self.cooldown_s = float(h), float(clip), float(cooldown_s)
        n = len(self.stations)
        self.k = np.full(n, float(k))
        if ops_per_process is not None:
            self.k += float(k_se) / np.sqrt(np.maximum(np.asarray(ops_per_process, dtype=float), 1.0))
        self.s_ = np.zeros(n)
        self.hold_until_ = np.full(n, -math.inf)
        self._evidence: list[list[tuple[float, float]]] = [[] for _ in range(n)]  # (end, z) since S left 0
        self._rel: list[list[tuple[float, float]]] = [[] for _ in range(n)]       # (actual, predicted)

    def add_ops(self, t: float, station: np.ndarray, end: np.ndarray, residual: np.ndarray,
                predicted: np.ndarray | None = None) -> list[TriggerEvent]:
        """Take the operations judged by ``t`` [s] (in order of their end); the triggers raised
        at ``t``. ``predicted``: the PM's predictions they were judged against (for the TA
        in the trigger's label; default 1)."""
        fired: dict[int, TriggerEvent] = {}
        pred = np.ones(len(residual)) if predicted is None else np.asarray(predicted, dtype=float)
        for j, e, r, p in zip(np.asarray(station, dtype=int), end, residual, pred):
            if j not in self.watched or j in fired:
                continue
            z = min(float(r) / self.op_sd[j], self.clip)
            self.s_[j] = max(0.0, self.s_[j] + z - self.k[j])
            if self.s_[j] == 0.0:
                self._restart(j)
                continue
            self._evidence[j].append((float(e), float(r) / self.op_sd[j]))
            self._rel[j].append((float(p) + float(r), float(p)))
            if self.s_[j] > self.h and t >= self.hold_until_[j]:
                fired[j] = self._event(t, j)
                self.hold(j, t)
        return list(fired.values())

    def _restart(self, j: int) -> None:
        """Station ``j``'s sum back to 0, with the evidence it was built from."""
        self.s_[j] = 0.0
        self._evidence[j], self._rel[j] = [], []

    def _event(self, t: float, j: int) -> TriggerEvent:
        ends = np.array([e for e, _z in self._evidence[j]])
        zs = np.array([z for _e, z in self._evidence[j]])
        y = np.array([a for a, _p in self._rel[j]])
        y_hat = np.array([p for _a, p in self._rel[j]])
        ta_ops = 1.0 - np.abs(y - y_hat) / y
        ta = batch_ta(y, y_hat, y_floor=0.0)
        slope, icpt = 0.0, ta
        if len(ends) >= 2 and np.ptp(ends) > 0:
            slope, icpt = (float(v) for v in np.polyfit(ends / 3600.0, ta_ops, 1))
        p = float(stats.norm.sf(zs.sum() / math.sqrt(len(zs))))
        trend = TrendResult(slope, icpt, p, ta, True)
        return TriggerEvent(float(t), trend, float(ends[0]), float(ta), self.stations[j],
                            cusum=float(self.s_[j]), n_ops=len(zs),
                            excess=float(y.sum() / y_hat.sum() - 1.0))

    def hold(self, j: int, t: float) -> None:
        """Hold station ``j`` until ``t + cooldown_s`` and restart its sum."""
        self._restart(j)
        self.hold_until_[j] = max(self.hold_until_[j], t + self.cooldown_s)

    @classmethod
    def for_pm(cls, pm: StationPM, **kwargs: float) -> StationCusum:
        return cls(pm.stations_, pm.op_sd_, pm.ops_per_process_, **kwargs)  # type: ignore[arg-type]
