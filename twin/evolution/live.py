"""The evolution loop as the shop runs: predict, judge (TA), trigger, evolve, annotate.

:class:`EvolutionMonitor` is fed the shop state as it grows — :meth:`EvolutionMonitor.update`
with a growing recording (a live session) or :meth:`EvolutionMonitor.step` with a causal
:class:`~twin.evolution.features.ProgressFrame` and "now" (a replayed history). At each
call it

1. predicts the progress over the next horizon for every new state vector, with the PM in
   force at that moment (predictions are kept: a later evolution never rewrites them);
2. closes every evaluation batch whose outcomes are all known (``t + horizon <= now``) into
   a TA point (:func:`~twin.evolution.accuracy.ta_series`). With ``judge_s`` shorter than
   the horizon, a prediction is judged by its *partial* outcome instead, as soon as it is
   known: the parts completed in ``(t, t + judge_s]`` scaled to the horizon
   (× horizon/judge_s) against the prediction — the PM's rate is checked ``horizon -
   judge_s`` earlier, at the price of a noisier TA (fewer parts per judgement);
3. feeds the TA point to the :class:`~twin.evolution.trend.EvolutionTrigger`; on a trigger,
   evolves the PM (``policy="evolve"``: the AdaBoost update; ``"retrain"``: a fresh LSTM on
   the recent data — the simple baseline; ``"none"``: keep the PM);
   With a per-station PM (``station_pm``, :mod:`twin.evolution.stations`), every
   ``station_batch_s`` it also closes a TA point per station (relative processing times),
   and every station horizon (5 min) it judges the operations finished since against the
   station predictions and feeds their residuals to the per-station CUSUM
   (:class:`~twin.evolution.stations.StationCusum`; or, with a
   :class:`~twin.evolution.stations.StationTrigger`, the TA points to a trend per station); a station trigger
   names the station, re-bases that station's usual times, and evolves the PM like a
   trigger of the shop's TA. An update is made at most once per cool-down (2 h): a trigger
   in the cool-down of the last update is recorded and annotated, the PM is not evolved
   again; any update restarts the shop trigger's window (its TA now judges the new PM);
4. writes a ``ta`` annotation per TA point, a ``trigger`` per trigger and an ``evolution``
   per update through ``annotate(t, label, entity, kind)`` (e.g. ``RecordingWriter.annotate``),
   so they show on the timeline and replay later.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.evolution.accuracy import TaPoint, batch_ta
from twin.evolution.features import DEFAULT_HORIZON_S, DEFAULT_STEP_S, ProgressFrame, progress_frame
from twin.evolution.model import ProgressLSTM, frame_windows
from twin.evolution.stations import (
    StationCusum,
    StationPM,
    StationTaPoint,
    StationTrigger,
    operation_residuals,
    station_ta,
)
from twin.evolution.trend import EvolutionTrigger, TriggerEvent
from twin.evolution.update import EvolutionResult, ProgressModel, evolve
from twin.recording import Recording

Annotate = Callable[[float, str, str, str], None]
POLICIES = ("evolve", "retrain", "none")
#: Default length of an evaluation batch [s].
DEFAULT_BATCH_S = 1800.0
#: Default span of "recent data" an update learns from [s of outcomes].
DEFAULT_RECENT_S = 7200.0


@dataclass
class Update:
    """One model change: when, why (the trigger) and what the update did."""

    t: float
    trigger: TriggerEvent
    result: EvolutionResult | None
    policy: str
    label: str


@dataclass
class MonitorState:
    """Everything the monitor has seen, for charts and reports (times in seconds)."""

    ta: list[TaPoint] = field(default_factory=list)
    triggers: list[TriggerEvent] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    pred_t: list[float] = field(default_factory=list)
    pred: list[np.ndarray] = field(default_factory=list)
    pred_version: list[int] = field(default_factory=list)
    station_ta: list[StationTaPoint] = field(default_factory=list)
    station_pred: list[np.ndarray] = field(default_factory=list)


class EvolutionMonitor:
    """Watches a PM's accuracy on the running shop and evolves it when it drifts.

    Args:
        model: the PM in force at the start (kept as ``initial_model``).
        trigger: the evolution trigger (default settings if None).
        batch_s: evaluation batch length [s]; recent_s: recent data an update uses [s].
        incremental_s: how far back the incremental data of the refit goes [s] (None:
            everything since monitoring began at ``t_start``).
        policy: "evolve" (AdaBoost update), "retrain" (fresh LSTM on recent data), "none".
        annotate: called as ``annotate(t, label, entity, kind)`` for every TA point,
            trigger and update; None to not annotate.
        evolve_kwargs: passed to :func:`twin.evolution.update.evolve`.
        judge_s: how long after a prediction it is judged [s] (default: the horizon, the
            full outcome; shorter: by its partial outcome, see the module docstring).
        station_pm: the per-station part of the PM (None: only the shop's TA is watched);
            the monitor works on its own copy (a trigger re-bases the station's times).
        station_trigger: its trigger: :class:`StationCusum` (default, fed every finished
            operation, checked every ``station_pm.horizon_s``) or :class:`StationTrigger`
            (the linear trend on the per-station TA points, the earlier default).
        station_batch_s: evaluation batch of the per-station TA [s] (the chart's points).
    """

    def __init__(self, model: ProgressModel, *, trigger: EvolutionTrigger | None = None,
                 batch_s: float = DEFAULT_BATCH_S, recent_s: float = DEFAULT_RECENT_S,
                 policy: str = "evolve", annotate: Annotate | None = None,
                 evolve_kwargs: dict[str, Any] | None = None,
                 step_s: float = DEFAULT_STEP_S, horizon_s: float = DEFAULT_HORIZON_S,
                 t_start: float = 0.0, incremental_s: float | None = None,
                 judge_s: float | None = None, station_pm: StationPM | None = None,
                 station_trigger: StationCusum | StationTrigger | None = None,
                 station_batch_s: float = 900.0) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        self.initial_model = model
        self.model: ProgressModel = model
        self.trigger = trigger if trigger is not None else EvolutionTrigger()
        self.batch_s = float(batch_s)
        self.recent_s = float(recent_s)
        self.policy = policy
        self.annotate = annotate
        self.evolve_kwargs = dict(evolve_kwargs or {})
        self.step_s = float(step_s)
        self.horizon_s = float(horizon_s)
        self.judge_s = self.horizon_s if judge_s is None else float(judge_s)
        if not 0 < self.judge_s <= self.horizon_s:
            raise ValueError(f"judge_s must be within (0, horizon {self.horizon_s:g} s], got {judge_s!r}")
        self.state = MonitorState()
        self.models: list[ProgressModel] = [model]
        self._next_batch_end: float | None = None
        self.t_start = float(t_start)
        self.incremental_s = incremental_s
        self.t_now = 0.0
        self.station_pm = copy.deepcopy(station_pm)
        self.station_batch_s = float(station_batch_s)
        if station_pm is not None and station_trigger is None:
            station_trigger = StationCusum.for_pm(station_pm)
        self.station_trigger = station_trigger
        self._next_station_end: float | None = None
        self._next_check_end: float | None = None
        self._next_update = -math.inf

    @property
    def tick_s(self) -> float:
        """How often the monitor closes a batch [s] (the shorter of the two batches)."""
        if self.station_pm is None:
            return self.batch_s
        return min(self.batch_s, self.station_batch_s, self._check_s)

    @property
    def _check_s(self) -> float:
        """How often finished operations are judged by the CUSUM [s] (inf: no CUSUM)."""
        if self.station_pm is not None and isinstance(self.station_trigger, StationCusum):
            return self.station_pm.horizon_s
        return math.inf

    # -- feeding ---------------------------------------------------------------------
    def update(self, recording: Recording, t_now: float | None = None,
               stations: list[str] | None = None, mechanism: Any = None) -> list[TaPoint]:
        """Read the (growing) recording up to ``t_now`` (default: its end) and step.
        ``mechanism``: the forecaster whose column the PM reads (mechanism/hybrid PMs)."""
        t_end = recording.time_range[1] if t_now is None else t_now
        frame = progress_frame(recording, step_s=self.step_s, horizon_s=self.horizon_s,
                               stations=stations, t_end=t_end, mechanism=mechanism)
        return self.step(frame, t_end)

    def step(self, frame: ProgressFrame, t_now: float) -> list[TaPoint]:
        """Advance to ``t_now`` [s] on ``frame`` (features causal; targets used only where
        ``t + horizon <= t_now``). Returns the TA points closed by this step."""
        self.t_now = float(t_now)
        st = self.state
        # 1. predict every new sample with the PM in force
        last = st.pred_t[-1] if st.pred_t else -math.inf
        new = np.flatnonzero((frame.t <= t_now + 1e-9) & (frame.t > last) & (frame.t >= self.t_start - 1e-9))
        closed: list[TaPoint] = []
        if len(new):
            wins = frame_windows(frame, self._window())[new]
            preds = self.model.predict(wins)
            for j, p in zip(new, preds):
                st.pred_t.append(float(frame.t[j]))
                st.pred.append(p)
                st.pred_version.append(len(self.models) - 1)
            if self.station_pm is not None:
                st.station_pred.extend(self.station_pm.predict(frame_windows(frame, self.station_pm.window)[new]))
        # 2. close batches (the shop's and the stations', in time order)
        if self._next_batch_end is None:
            first = (st.pred_t[0] if st.pred_t else 0.0) + self.judge_s
            self._next_batch_end = math.ceil(first / self.batch_s - 1e-9) * self.batch_s
        if self.station_pm is not None and self._next_station_end is None:
            first = (st.pred_t[0] if st.pred_t else 0.0) + self.station_pm.horizon_s
            self._next_station_end = math.ceil(first / self.station_batch_s - 1e-9) * self.station_batch_s
            if math.isfinite(self._check_s):
                self._next_check_end = math.ceil(first / self._check_s - 1e-9) * self._check_s
        while True:
            shop_end = self._next_batch_end
            station_end = math.inf if self._next_station_end is None else self._next_station_end
            check_end = math.inf if self._next_check_end is None else self._next_check_end
            if min(shop_end, station_end, check_end) > t_now + 1e-9:
                break
            events: list[TriggerEvent] = []
            if check_end < min(shop_end, station_end) - 1e-9:
                self._next_check_end = check_end + self._check_s
                events = self._check_ops(frame, check_end)
                end = check_end
            elif station_end < shop_end - 1e-9:
                self._next_station_end = station_end + self.station_batch_s
                events = self._station_point(frame, station_end)
                end = station_end
            else:
                end = shop_end
                self._next_batch_end = shop_end + self.batch_s
                point = self._ta_point(frame, end)
                if point is None:
                    continue
                st.ta.append(point)
                closed.append(point)
                low = ""
                if st.station_ta and self.station_pm is not None and np.isfinite(st.station_ta[-1].ta).any():
                    j = int(np.nanargmin(st.station_ta[-1].ta))
                    low = f"; lowest station TA {self.station_pm.stations_[j]} {st.station_ta[-1].ta[j]:.3f}"
                self._note(end, f"TA {point.ta:.3f} ({point.n} predictions, MAE {point.mae:.2f} parts{low})", "ta")
                ev = self.trigger.add(point.t, point.ta)
                events = [ev] if ev is not None else []
            for ev in events:
                st.triggers.append(ev)
                self._note(ev.t, ev.label(), "trigger")
                if ev.station and self.station_pm is not None:
                    self.station_pm.rebase(frame, self.station_pm.stations_.index(ev.station), ev.t)
            if events and end >= self._next_update - 1e-9:
                self._next_update = end + self.trigger.cooldown_s
                self.trigger.hold(end)
                self._on_trigger(frame, events[0])
        return closed

    def _station_point(self, frame: ProgressFrame, end: float) -> list[TriggerEvent]:
        """Close the per-station TA batch ending at ``end``; the station triggers raised."""
        st = self.state
        pm = self.station_pm
        assert pm is not None and self.station_trigger is not None
        t_pred = np.asarray(st.pred_t)
        known_at = t_pred + pm.horizon_s
        m = (known_at > end - self.station_batch_s + 1e-9) & (known_at <= end + 1e-9)
        if not m.any():
            return []
        idx = np.searchsorted(frame.t, t_pred[m])
        y = pm.targets(frame)[idx]
        ta = station_ta(y, np.asarray(st.station_pred)[m], pm.min_judged)
        st.station_ta.append(StationTaPoint(float(end), ta))
        if isinstance(self.station_trigger, StationTrigger):
            return self.station_trigger.add(float(end), ta)
        return []

    def _check_ops(self, frame: ProgressFrame, end: float) -> list[TriggerEvent]:
        """Judge the operations that ended in ``(end - check, end]`` against the station
        predictions and feed them to the CUSUM; the station triggers raised at ``end``."""
        pm, trig = self.station_pm, self.station_trigger
        assert pm is not None and isinstance(trig, StationCusum)
        st = self.state
        if not st.pred_t:
            return []
        pred = np.full((len(frame), len(pm.stations_)), np.nan)
        pred[np.searchsorted(frame.t, np.asarray(st.pred_t))] = np.asarray(st.station_pred)
        stn, ends, res, predicted = operation_residuals(frame, pred, pm, known_until=end)
        m = ends > end - self._check_s + 1e-9
        return trig.add_ops(float(end), stn[m], ends[m], res[m], predicted[m])

    # -- internals -------------------------------------------------------------------
    def _window(self) -> int:
        return int(self.model.window)

    def _ta_point(self, frame: ProgressFrame, end: float) -> TaPoint | None:
        st = self.state
        t_pred = np.asarray(st.pred_t)
        known_at = t_pred + self.judge_s
        m = (known_at > end - self.batch_s + 1e-9) & (known_at <= end + 1e-9)
        if not m.any():
            return None
        if self.judge_s < self.horizon_s:  # partial outcome, scaled to the horizon
            y = frame.completed(t_pred[m], t_pred[m] + self.judge_s) * (self.horizon_s / self.judge_s)
            y[t_pred[m] + self.judge_s > frame.known_until + 1e-9] = np.nan  # not known yet
        else:
            y = frame.y[np.searchsorted(frame.t, t_pred[m]), 0]
        ok = ~np.isnan(y)
        if not ok.any():
            return None
        y_hat = np.asarray(st.pred)[m][ok, 0]
        y = y[ok]
        return TaPoint(float(end), batch_ta(y, y_hat), int(ok.sum()), float(np.abs(y - y_hat).mean()))

    def _data(self, frame: ProgressFrame, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """Windows and targets of samples whose outcome became known in (lo, hi]."""
        known_at = frame.t + self.horizon_s
        m = (known_at > lo + 1e-9) & (known_at <= hi + 1e-9) & frame.known
        # at least the LSTM's window: new learners of a mechanism PM (window 1) are LSTMs
        return frame_windows(frame, max(self._window(), ProgressLSTM().window))[m], frame.y[m]

    def _on_trigger(self, frame: ProgressFrame, ev: TriggerEvent) -> None:
        if self.policy == "none":
            return
        recent = self._data(frame, ev.t - self.recent_s, ev.t)
        lo = self.t_start + self.horizon_s  # outcomes of predictions made since monitoring began
        if self.incremental_s is not None:
            lo = max(lo, ev.t - self.incremental_s)
        incremental = self._data(frame, lo, ev.t)
        if len(incremental[1]) < 4:  # a trigger in the first horizon of monitoring (a station's)
            incremental = recent
        result: EvolutionResult | None = None
        if len(recent[1]) < 4:
            self._note(ev.t, f"PM not evolved: only {len(recent[1])} recent samples", "evolution")
            return
        if self.policy == "evolve":
            result = evolve(self.model, recent, incremental, **self.evolve_kwargs)
            model: ProgressModel = result.model
            label = result.summary()
        else:
            base = self.initial_model if isinstance(self.initial_model, ProgressLSTM) else None
            params = base.get_params() if base is not None else {}
            model = ProgressLSTM(**params).fit(*recent)
            label = f"PM retrained on {len(recent[1])} recent samples"
        self.model = model
        self.models.append(model)
        self.state.updates.append(Update(ev.t, ev, result, self.policy, label))
        self._note(ev.t, label, "evolution")

    def _note(self, t: float, label: str, kind: str) -> None:
        if self.annotate is not None:
            self.annotate(float(t), label, "", kind)


def replay(frame: ProgressFrame, monitor: EvolutionMonitor, *, t_start: float | None = None,
           t_stop: float | None = None) -> EvolutionMonitor:
    """Run ``monitor`` over a finished history as if live: one step per evaluation batch
    from ``t_start`` (default: the frame's first sample) to ``t_stop`` (default: its end)."""
    if not len(frame):
        return monitor
    lo = float(frame.t[0]) if t_start is None else t_start
    hi = float(frame.t[-1]) + frame.horizon_s if t_stop is None else t_stop
    monitor.t_start = lo
    t = lo
    while t < hi + 1e-9:
        monitor.step(frame, min(t, hi))
        t += monitor.tick_s
    return monitor
