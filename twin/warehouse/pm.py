"""The PM section of a package, and the small production-progress PM the warehouse migrates.

Any PM can fill a package's PM section: safetensors weights plus a JSON config (through
:mod:`twin.modelstore`), with ``kind`` naming the model, ``inputs`` / ``output`` naming what
it reads and predicts and ``accuracy`` its test accuracy (mean TA = 1 − |y − ŷ| / y).

:class:`ThroughputPM` is the warehouse's own PM: a tiny torch MLP that predicts the shop's
throughput over the next ``horizon_s`` (parts per hour per station) from the state of the
last ``lags`` windows of ``window_s`` seconds. Every input is per station or a share, so
the weights mean the same in a shop of 4 or of 13 stations — which is what lets migration
reuse them and fine-tune on the target shop's (short) recording.

Follows scikit-learn's estimator convention: ``__init__`` stores hyper-parameters, ``fit``
learns (``init_from`` starts from another PM's weights: fine-tuning), learned attributes
end in ``_``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.kpis import STATION_STATES, ShopKpis

if TYPE_CHECKING:
    from twin.recording import Recording

#: Inputs of one window, in feature order (shares are of station-time, rates per station).
WINDOW_FEATURES: tuple[str, ...] = (
    *(f"share_{s}" for s in STATION_STATES), "wip_per_station", "throughput_per_station_h", "agv_working_share",
)
OUTPUT = "throughput_per_station_h_next"
KIND = "throughput-mlp"


@dataclass(frozen=True)
class PMData:
    """Samples of a recording: ``X`` (n, lags × len(WINDOW_FEATURES)), ``y`` (n,) parts per
    hour per station over the next horizon, ``t`` (n,) the time of each prediction [s]."""

    X: np.ndarray
    y: np.ndarray
    t: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def head(self, n: int) -> PMData:
        return PMData(self.X[:n], self.y[:n], self.t[:n])

    def tail(self, n: int) -> PMData:
        return PMData(self.X[-n:], self.y[-n:], self.t[-n:])


def recording_samples(rec: Recording, *, window_s: float = 300.0, lags: int = 3,
                      horizon_s: float = 1800.0) -> PMData:
    """Training samples of a recording: one per window end with ``lags`` windows behind it
    and ``horizon_s`` ahead of it."""
    cols = rec.columns()
    kpis = ShopKpis()
    kpis.add_columns(cols.t, cols.entity, cols.kind, cols.state, cols.strings)
    t0, t1 = rec.time_range
    stations = kpis.stations
    n_st = max(len(stations), 1)
    agvs = kpis.agvs
    ends = np.arange(t0 + window_s, t1 - horizon_s + 1e-9, window_s)
    if len(ends) <= lags:
        return PMData(np.zeros((0, lags * len(WINDOW_FEATURES))), np.zeros(0), np.zeros(0))
    grid = np.concatenate([[t0], ends])

    def cum_states(t: float) -> np.ndarray:
        return np.sum([list(kpis.time_in_state(s, t).values()) for s in stations], axis=0) if stations \
            else np.zeros(len(STATION_STATES))

    def agv_work(t: float) -> float:
        return sum(kpis.agv_utilization(a, t) * (t - t0) for a in agvs)

    cs = np.array([cum_states(t) for t in grid])
    aw = np.array([agv_work(t) for t in grid])
    done = np.array([kpis.completed_at(t) for t in grid], dtype=float)
    feats = []
    for k in range(1, len(grid)):
        dt = grid[k] - grid[k - 1]
        shares = (cs[k] - cs[k - 1]) / (dt * n_st)
        wip = kpis.wip_at(grid[k]) / n_st
        thr = (done[k] - done[k - 1]) * 3600.0 / dt / n_st
        agv = (aw[k] - aw[k - 1]) / (dt * len(agvs)) if agvs else 0.0
        feats.append([*shares, wip, thr, agv])
    F = np.asarray(feats)
    X, y, ts = [], [], []
    for k in range(lags, len(grid)):
        t = grid[k]
        X.append(F[k - lags:k].ravel())
        y.append((kpis.completed_at(t + horizon_s) - kpis.completed_at(t)) * 3600.0 / horizon_s / n_st)
        ts.append(t)
    return PMData(np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.float32), np.asarray(ts))


def test_accuracy(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Mean TA = 1 − |y − ŷ| / y over samples with y > 0 (the paper's test accuracy), ≥ 0."""
    m = y > 1e-9
    if not m.any():
        return 0.0
    return float(np.clip(1.0 - np.abs(y[m] - y_hat[m]) / y[m], 0.0, 1.0).mean())


#: Fine-tuning of a migrated PM: few, small steps from the source weights (more overfits
#: a short target recording; measured in benchmarks/bench_warehouse.py).
FINE_TUNE = {"epochs": 40, "lr": 5e-4}


class ThroughputPM:
    """Tiny MLP: (lags × window features) -> throughput per station per hour ahead.

    Args:
        hidden: width of the two hidden layers.
        lags: windows of history per sample.
        epochs: full passes of Adam over the data; ``lr`` its learning rate.
        seed: torch seed of the initial weights and batches.
    """

    def __init__(self, hidden: int = 8, lags: int = 3, epochs: int = 150, lr: float = 3e-3,
                 weight_decay: float = 1e-2, seed: int = 0) -> None:
        self.hidden = hidden
        self.lags = lags
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed

    # -- learning --------------------------------------------------------------------
    def _net(self) -> Any:
        import torch

        n_in = self.lags * len(WINDOW_FEATURES)
        return torch.nn.Sequential(
            torch.nn.Linear(n_in, self.hidden), torch.nn.Tanh(),
            torch.nn.Linear(self.hidden, self.hidden), torch.nn.Tanh(),
            torch.nn.Linear(self.hidden, 1),
        )

    def fit(self, data: PMData, init_from: ThroughputPM | None = None) -> ThroughputPM:
        """Learn from ``data``; with ``init_from`` start from its weights and scaling
        (migration fine-tuning) instead of from random weights."""
        import torch

        if len(data) == 0:
            raise ValueError("no training samples (the recording is shorter than lags + horizon)")
        torch.manual_seed(self.seed)
        net = self._net()
        if init_from is not None:
            net.load_state_dict(init_from.net_.state_dict())
            self.x_mean_, self.x_std_ = init_from.x_mean_, init_from.x_std_
            self.y_mean_, self.y_std_ = init_from.y_mean_, init_from.y_std_
        else:
            self.x_mean_ = data.X.mean(axis=0)
            self.x_std_ = data.X.std(axis=0) + 1e-3
            self.y_mean_ = float(data.y.mean())
            self.y_std_ = float(data.y.std() + 1e-3)
        X = torch.from_numpy(((data.X - self.x_mean_) / self.x_std_).astype(np.float32))
        y = torch.from_numpy(((data.y - self.y_mean_) / self.y_std_).astype(np.float32))[:, None]
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        self.loss_curve_: list[float] = []
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(X), y)
            loss.backward()
            opt.step()
            self.loss_curve_.append(float(loss.detach()))
        self.net_ = net.eval()
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            z = self.net_(torch.from_numpy(((X - self.x_mean_) / self.x_std_).astype(np.float32)))
        return z.numpy()[:, 0] * self.y_std_ + self.y_mean_

    def score(self, data: PMData) -> float:
        """Test accuracy (mean TA) on ``data``."""
        return test_accuracy(data.y, self.predict(data.X)) if len(data) else 0.0

    # -- the package's PM section ----------------------------------------------------
    def to_section(self, accuracy: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """(tensors, config) for :func:`twin.modelstore.save_model`."""
        tensors = {f"net.{k}": v.detach().clone() for k, v in self.net_.state_dict().items()}
        tensors["x_mean"] = np.asarray(self.x_mean_, dtype=np.float32)
        tensors["x_std"] = np.asarray(self.x_std_, dtype=np.float32)
        config = {
            "kind": KIND, "hidden": self.hidden, "lags": self.lags,
            "inputs": [f"{f}@lag{k}" for k in range(self.lags, 0, -1) for f in WINDOW_FEATURES],
            "output": OUTPUT, "y_mean": self.y_mean_, "y_std": self.y_std_,
            "accuracy": round(float(accuracy), 6),
        }
        return tensors, config

    @classmethod
    def from_section(cls, tensors: dict[str, Any], config: dict[str, Any]) -> ThroughputPM:
        """Rebuild from a package's PM section; ValueError if it is not this kind of PM."""
        import torch

        if config.get("kind") != KIND:
            raise ValueError(f"PM kind {config.get('kind')!r} is not {KIND!r}")
        pm = cls(hidden=int(config["hidden"]), lags=int(config["lags"]))
        net = pm._net()
        state = {k[4:]: torch.as_tensor(v) for k, v in tensors.items() if k.startswith("net.")}
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"PM weights do not fit the configured net ({exc})") from exc
        pm.net_ = net.eval()
        pm.x_mean_ = np.asarray(tensors["x_mean"], dtype=np.float32)
        pm.x_std_ = np.asarray(tensors["x_std"], dtype=np.float32)
        pm.y_mean_ = float(config["y_mean"])
        pm.y_std_ = float(config["y_std"])
        if not all(math.isfinite(v) for v in (pm.y_mean_, pm.y_std_)):
            raise ValueError("PM scaling is not finite")
        return pm


def pm_attributes(config: dict[str, Any]) -> dict[str, Any]:
    """The PM's Table-2 attributes (input, output, accuracy) from its config."""
    return {
        "input": sorted({i.split("@", 1)[0] for i in config.get("inputs", [])}),
        "output": config.get("output", ""),
        "accuracy": float(config.get("accuracy", 0.0)),
        "kind": config.get("kind", ""),
    }


def fine_tune(source: ThroughputPM, data: PMData, *, val_share: float = 0.2, seed: int = 0
              ) -> tuple[ThroughputPM, bool]:
    """Migrate ``source`` to ``data``: fine-tune it (:data:`FINE_TUNE`) on all but the newest
    ``val_share`` of the samples and keep it only if it beats the source weights there.

    Returns (PM, fine-tuned?). With a handful of target samples fine-tuning can overfit;
    the validation keeps the migrated weights as they are in that case."""
    n_val = int(len(data) * val_share)
    if n_val < 2 or len(data) - n_val < 2:
        return ThroughputPM(hidden=source.hidden, lags=source.lags, seed=seed, **FINE_TUNE).fit(
            data, init_from=source), True
    train, val = data.head(len(data) - n_val), data.tail(n_val)
    tuned = ThroughputPM(hidden=source.hidden, lags=source.lags, seed=seed, **FINE_TUNE).fit(train, init_from=source)
    return (tuned, True) if tuned.score(val) >= source.score(val) else (source, False)
