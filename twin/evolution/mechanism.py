"""The mechanism half of the PM: the simulator's forecast from the shop state at t.

DTM_PM = (DTM_MM, DTM_DDM) in the paper. :class:`MechanismForecaster` runs the DT model
(the simulator of :mod:`twin.forecast`) from the recorded state at each sample time ``t``
for one horizon, ``runs`` times, and gives the mean parts completed in ``(t, t + horizon]``.
It only uses what was known at ``t`` (the state; orders after ``t`` come from the
workshop's order generator), so the column it adds to a
:class:`~twin.evolution.features.ProgressFrame` is causal. Forecasts are cached per sample
time: a live session that re-reads its growing recording forecasts each state once.

:class:`MechanismPM` is the mechanism model used alone as a PM: it predicts ``parts`` =
that forecast and ``orders_pct`` = the open orders' completion % at ``t`` (the forecast
does not follow order completion fractions: persistence, stated plainly). The hybrid PM
is a :class:`~twin.evolution.model.ProgressLSTM` with ``residual_col`` set to the
forecast's column: the LSTM learns the mechanism forecast's error from the shop states.

Cost: 0.1-0.4 s per one-hour replication of machining13 on one (shared) core, so forecasts
are made every ``every_s`` (15 min) and held in between.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from twin.recording import Recording
from twin.workshop import Workshop

#: PM kinds the CLI, the benchmark and the live session offer.
PM_KINDS: tuple[str, ...] = ("lstm", "mechanism", "hybrid")


class MechanismForecaster:
    """Mean simulated parts completed over the next horizon, from the recorded state at t.

    Args:
        workshop: the DT model (default: the recording's workshop, from its header).
        runs: replications per forecast (independent noise; their mean is used).
        seed: base seed of the replications.
        every_s: forecast only at multiples of this [s]; a state in between uses the
            latest forecast made before it (made at most ``every_s`` earlier, so still
            causal). A forecast costs ~0.1-0.4 s; every 15 min keeps a 24 h history at
            ~100 forecasts per replication.
    """

    def __init__(self, workshop: Workshop | None = None, runs: int = 2, seed: int = 0,
                 every_s: float = 900.0) -> None:
        if runs < 1:
            raise ValueError(f"runs must be >= 1, got {runs}")
        if not (math.isfinite(every_s) and every_s > 0):
            raise ValueError(f"every_s must be a positive time in seconds, got {every_s!r}")
        self.every_s = float(every_s)
        self.workshop = workshop
        self.runs = int(runs)
        self.seed = int(seed)
        self.cache_: dict[tuple[str, float, float], float] = {}

    def parts(self, recording: Recording, times: np.ndarray, horizon_s: float) -> np.ndarray:
        """Forecast parts in ``(t, t + horizon_s]`` for each sample time ``t`` (n,).

        A state the simulator cannot start from (``t`` before the first event) forecasts
        the parts of the last hour scaled to the horizon (persistence)."""
        from twin.forecast import _Job, recording_workshop, replicate
        from twin.initial_state import shop_state
        from twin.replay import ReplayError

        ws = self.workshop
        if ws is None:
            ws = self.workshop = recording_workshop(recording)
        out = np.zeros(len(times))
        where = str(getattr(recording, "path", id(recording)))
        for j, t in enumerate(np.asarray(times, dtype=float)):
            t = math.floor(t / self.every_s + 1e-9) * self.every_s  # the latest forecast time
            key = (where, round(float(t), 3), float(horizon_s))
            if key not in self.cache_:
                try:
                    st = shop_state(recording, float(t), ws)
                except ReplayError:
                    self.cache_[key] = math.nan
                else:
                    job = _Job(ws, None, st, "fifo", float(t) + horizon_s, "generator",
                               tuple(st.later_orders), (float(t), float(t) + horizon_s))
                    seeds = [(self.seed + 1) * 100_003 + int(t) * 7 + i for i in range(self.runs)]
                    self.cache_[key] = float(np.mean([replicate(job, s).completed for s in seeds]))
            out[j] = self.cache_[key]
        if np.isnan(out).any():  # persistence where the simulator could not start
            out = np.where(np.isnan(out), _persistence(recording, times, horizon_s), out)
        return out


def _persistence(recording: Recording, times: np.ndarray, horizon_s: float) -> np.ndarray:
    cols = recording.columns(-math.inf, math.inf)
    done = np.sort(cols.t[(cols.kind == cols.code("wip")) & (cols.state == cols.code("completed"))])
    t = np.asarray(times, dtype=float)
    n = np.searchsorted(done, t, "right") - np.searchsorted(done, t - 3600.0, "right")
    return n * horizon_s / 3600.0


def needs_mechanism(model: Any) -> bool:
    """Does ``model`` (a PM, possibly evolved) read the mechanism forecast's column?"""
    learners = getattr(model, "learners", [model])
    return any(isinstance(m, MechanismPM) or getattr(m, "residual_col", None) is not None
               for m in learners)


class MechanismPM:
    """The mechanism model as a PM: reads the ``mech_parts`` column of the newest state.

    Args:
        mech_col: index of ``mech_parts`` in the state vector; pct_col: index of
            ``orders_open_pct`` (its persistence is the ``orders_pct`` prediction).
        n_features: width of the state vector.
    """

    window = 1

    def __init__(self, mech_col: int, pct_col: int, n_features: int) -> None:
        self.mech_col = int(mech_col)
        self.pct_col = int(pct_col)
        self.n_features_in_ = int(n_features)
        self.n_targets_ = 2

    @classmethod
    def for_frame(cls, frame: Any) -> MechanismPM:
        if frame.mech_col is None:
            raise ValueError("the mechanism PM needs a frame with the mechanism forecast "
                             "(progress_frame(..., mechanism=MechanismForecaster()))")
        return cls(frame.mech_col, frame.features.index("orders_open_pct"), frame.X.shape[1])

    def get_params(self) -> dict[str, Any]:
        return {"mech_col": self.mech_col, "pct_col": self.pct_col, "n_features": self.n_features_in_}

    def predict(self, windows: np.ndarray) -> np.ndarray:
        w = np.asarray(windows, dtype=float)
        if w.ndim != 3 or w.shape[-1] != self.n_features_in_:
            raise ValueError(f"expected windows (n, window, {self.n_features_in_}), got {w.shape}")
        last = w[:, -1]
        return np.stack([np.maximum(last[:, self.mech_col], 0.0), 100.0 * last[:, self.pct_col]], axis=1)

    def predict_frame(self, frame: Any) -> np.ndarray:
        return self.predict(frame.X[:, None, :])
