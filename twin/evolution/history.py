"""Running the evolution loop over a recorded history, and simulated histories for it.

:func:`evaluate_history` is what ``python main.py evolve`` and the benchmark do: replay a
history through an :class:`~twin.evolution.live.EvolutionMonitor` and compare, on test sets
after the first trigger, the un-evolved PM with the PM the monitor evolved.
:func:`simulate_shift` writes a simulated shift (optionally with ``degradation``
disturbances) to a recording.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.evolution.accuracy import delta_ta, metrics
from twin.evolution.features import ProgressFrame
from twin.evolution.live import EvolutionMonitor, replay
from twin.evolution.update import ProgressModel
from twin.recording import RecordingWriter
from twin.scenario import Disturbance, Scenario
from twin.simulator import Simulator
from twin.workshop import Workshop


def degradation(stations: Sequence[str], rate_per_h: float, start_h: float) -> list[Disturbance]:
    """``degradation`` disturbances (cycle-time factor 1 + rate x hours since start) on stations."""
    return [Disturbance(i, "degradation", s, start_h * 3600.0, rate_per_h=rate_per_h)
            for i, s in enumerate(stations)]


def simulate_shift(workshop: Workshop, out: str | Path, *, hours: float, seed: int,
                   disturbances: Sequence[Disturbance] = ()) -> Path:
    """Simulate ``hours`` of ``workshop`` with ``disturbances`` into the recording ``out``."""
    sim = Simulator(workshop, Scenario("history", None, list(disturbances)), seed=seed,
                    position_interval_s=10.0)
    meta = {"source": "simulator", "workshop": workshop.name, "seed": seed, "hours": hours,
            "stations": list(workshop.stations)}
    with RecordingWriter(out, meta=meta, keyframe_interval_s=300.0) as writer:
        sim.run(hours, sink=writer.append)
    return Path(out)


def predictions_of(monitor: EvolutionMonitor, frame: ProgressFrame) -> np.ndarray:
    """The live predictions the monitor made, aligned with ``frame`` (NaN where none)."""
    out = np.full(frame.y.shape, np.nan)
    if monitor.state.pred_t:
        idx = np.searchsorted(frame.t, np.asarray(monitor.state.pred_t))
        out[idx] = np.asarray(monitor.state.pred)
    return out


def post_trigger_sets(frame: ProgressFrame, t_from: float, n_sets: int = 3) -> list[np.ndarray]:
    """``n_sets`` consecutive, equally long masks of known samples made at or after ``t_from``."""
    m = frame.known & (frame.t >= t_from - 1e-9)
    idx = np.flatnonzero(m)
    if len(idx) < n_sets:
        return []
    return [np.isin(np.arange(len(frame)), part) for part in np.array_split(idx, n_sets)]


@dataclass
class HistoryReport:
    """Outcome of :func:`evaluate_history` (times in seconds, metrics on parts/hour)."""

    monitor: EvolutionMonitor
    test_sets: list[tuple[float, float]] = field(default_factory=list)
    metrics: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def prediction_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """The PM's live predictions as a throughput curve: (middle of each predicted
        horizon [s], predicted parts per hour)."""
        st = self.monitor.state
        h = self.monitor.horizon_s
        if not st.pred_t:
            return np.zeros(0), np.zeros(0)
        return (np.asarray(st.pred_t) + h / 2, np.asarray(st.pred)[:, 0] * 3600.0 / h)

    def _station_ta(self) -> list[dict[str, Any]]:
        """Per-station TA points (relative processing times), NaN as None."""
        pm = self.monitor.station_pm
        if pm is None:
            return []
        return [{"t": p.t, "ta": {s: (None if math.isnan(v) else float(v)) for s, v in zip(pm.stations_, p.ta)}}
                for p in self.monitor.state.station_ta]

    def to_json(self) -> dict[str, Any]:
        st = self.monitor.state
        return {
            "ta": [{"t": p.t, "ta": p.ta, "n": p.n, "mae": p.mae} for p in st.ta],
            "delta_ta": [float(d) for d in delta_ta([p.ta for p in st.ta])],
            "triggers": [{"t": e.t, "slope_per_h": e.trend.slope_per_h, "p": e.trend.p_decreasing,
                          "fitted_ta": e.trend.fitted_end, "station": e.station, "cusum": e.cusum,
                          "operations": e.n_ops} for e in st.triggers],
            "station_ta": self._station_ta(),
            "updates": [{"t": u.t, "label": u.label,
                         "learners": (dict(zip(u.result.names, u.result.alphas)) if u.result else {}),
                         "seconds": (u.result.seconds if u.result else None)} for u in st.updates],
            "test_sets": [{"from": a, "to": b} for a, b in self.test_sets],
            "metrics": self.metrics,
        }


def evaluate_history(frame: ProgressFrame, model: ProgressModel, monitor: EvolutionMonitor,
                     *, t_start: float = 0.0, n_sets: int = 3,
                     baselines: dict[str, np.ndarray] | None = None) -> HistoryReport:
    """Replay ``frame`` from ``t_start`` through ``monitor`` (which holds ``model``) and score
    the un-evolved ``model`` and the evolved predictions on ``n_sets`` post-trigger test
    sets. ``baselines``: other prediction arrays aligned with the frame, scored alike."""
    replay(frame, monitor, t_start=t_start)
    return score_history(frame, model, monitor, n_sets=n_sets, baselines=baselines)


def score_history(frame: ProgressFrame, model: ProgressModel, monitor: EvolutionMonitor,
                  *, n_sets: int = 3, baselines: dict[str, np.ndarray] | None = None) -> HistoryReport:
    """Score a monitor that has run over ``frame``: un-evolved ``model`` vs the monitor's
    live predictions (and ``baselines``) on ``n_sets`` test sets after its first trigger."""
    report = HistoryReport(monitor)
    if not monitor.state.triggers:
        return report
    sets = post_trigger_sets(frame, monitor.state.triggers[0].t, n_sets)
    preds = {"un-evolved": model.predict_frame(frame), "evolved": predictions_of(monitor, frame),
             **(baselines or {})}
    for mask in sets:
        report.test_sets.append((float(frame.t[mask][0]), float(frame.t[mask][-1])))
    for name, p in preds.items():
        report.metrics[name] = [_metrics(frame.y[m, 0], p[m, 0]) for m in sets]
    return report


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(p)
    out = metrics(y[ok], p[ok])
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}  # type: ignore[misc]
