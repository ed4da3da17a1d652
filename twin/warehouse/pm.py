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
from twin.training import adam_epochs

if TYPE_CHECKING:
    from twin.recording import Recording

#: Inputs of one window, in feature order (shares are of station-time, rates per station).
WINDOW_FEATURES: tuple[str, ...] = (
    *(f"share_{s}" for s in STATION_STATES), "wip_per_station", "throughput_per_station_h", "agv_working_share",
)
OUTPUT = "throughput_per_station_h_next"
KIND = "throughput-mlp"


def input_names(lags: int) -> list[str]:
    """Names of the PM's inputs in column order: ``<feature>@lag<k>``, oldest window first."""
    return [f"{f}@lag{k}" for k in range(lags, 0, -1) for f in WINDOW_FEATURES]


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


#: Fine-tuning of a migrated PM (``fit(init_from=…)``): align the scaling to the target shop,
#: then train only the read-out layer (the hidden layers are the transferred features),
#: without weight decay (which would pull the migrated weights to zero). Chosen on the mean
#: of three target recordings in benchmarks/bench_warehouse.py: fine-tuning every layer
#: (40 epochs, lr 5e-4, weight decay) left the migrated PM 0.02–0.03 below this.
FINE_TUNE = {"epochs": 100, "lr": 3e-3, "weight_decay": 0.0, "tune": "head"}


class ThroughputPM:
    """Tiny MLP: (lags × window features) -> throughput per station per hour ahead.

    Args:
        hidden: width of the two hidden layers.
        lags: windows of history per sample.
        epochs: full passes of Adam over the data; ``lr`` its learning rate.
        seed: torch seed of the initial weights and batches.
        tune: with ``fit(init_from=…)``, the layers trained: ``"head"`` (the read-out layer
            only) or ``"all"``.
    """

    kind = KIND

    def __init__(self, hidden: int = 8, lags: int = 3, epochs: int = 150, lr: float = 3e-3,
                 weight_decay: float = 1e-2, seed: int = 0, tune: str = "all") -> None:
        if tune not in ("head", "all"):
            raise ValueError(f"tune must be 'head' or 'all', not {tune!r}")
        self.hidden = hidden
        self.lags = lags
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.tune = tune

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
        """Learn from ``data``; with ``init_from`` migrate its weights instead of starting
        from random ones: :meth:`align` them to ``data``, then train the layers ``tune`` names."""
        import torch

        if len(data) == 0:
            raise ValueError("no training samples (the recording is shorter than lags + horizon)")
        torch.manual_seed(self.seed)
        net = self._net()
        if init_from is not None:
            aligned = init_from.align(data)
            net.load_state_dict(aligned.net_.state_dict())
            self.x_mean_, self.x_std_ = aligned.x_mean_, aligned.x_std_
            self.y_mean_, self.y_std_ = aligned.y_mean_, aligned.y_std_
        else:
            self.x_mean_ = data.X.mean(axis=0)
            self.x_std_ = data.X.std(axis=0) + 1e-3
            self.y_mean_ = float(data.y.mean())
            self.y_std_ = float(data.y.std() + 1e-3)
        X = torch.from_numpy(((data.X - self.x_mean_) / self.x_std_).astype(np.float32))
        y = torch.from_numpy(((data.y - self.y_mean_) / self.y_std_).astype(np.float32))[:, None]
        params = net[-1].parameters() if init_from is not None and self.tune == "head" else net.parameters()
        self.loss_curve_: list[float] = list(adam_epochs(
            params, lambda _all: torch.nn.functional.mse_loss(net(X), y), self.epochs,
            lr=self.lr, weight_decay=self.weight_decay))
        self.net_ = net.eval()
        return self

    def align(self, data: PMData) -> ThroughputPM:
        """This PM with its scaling moved to another shop's ``data`` (feature alignment):
        inputs centred on that shop's means (std kept: a short recording estimates it
        poorly), the output level shifted so the mean error on ``data`` is zero. Shops differ
        mostly in level (e.g. machining8 blocks 4 % of station-time, machining13 0.2 %; 1.21
        vs 1.35 parts/h per station), which the weights alone carry over wrongly."""
        import copy

        pm = copy.copy(self)
        pm.net_ = copy.deepcopy(self.net_)
        pm.x_mean_ = data.X.mean(axis=0).astype(np.float32)
        pm.y_mean_ = self.y_mean_ + float(np.mean(data.y - pm.predict(data.X)))
        return pm

    def predict(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            z = self.net_(torch.from_numpy(((X - self.x_mean_) / self.x_std_).astype(np.float32)))
        return z.numpy()[:, 0] * self.y_std_ + self.y_mean_

    def score(self, data: PMData) -> float:
        """Test accuracy (mean TA) on ``data``."""
        return test_accuracy(data.y, self.predict(data.X)) if len(data) else 0.0

    # -- the learning-curve protocol (learning_curve) ---------------------------------
    def fit_scratch(self, data: PMData, seed: int = 0) -> ThroughputPM:
        """A PM of the same architecture trained on ``data`` from random weights."""
        return ThroughputPM(hidden=self.hidden, lags=self.lags, seed=seed).fit(data)

    def migrate_fit(self, data: PMData, seed: int = 0) -> ThroughputPM:
        """This PM migrated to ``data`` and fine-tuned on it (:func:`fine_tune`)."""
        return fine_tune(self, data, seed=seed)[0]

    # -- the package's PM section ----------------------------------------------------
    def to_section(self, accuracy: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """(tensors, config) for :func:`twin.modelstore.save_model`."""
        tensors = {f"net.{k}": v.detach().clone() for k, v in self.net_.state_dict().items()}
        tensors["x_mean"] = np.asarray(self.x_mean_, dtype=np.float32)
        tensors["x_std"] = np.asarray(self.x_std_, dtype=np.float32)
        config = {
            "kind": KIND, "hidden": self.hidden, "lags": self.lags, "inputs": input_names(self.lags),
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
        x_mean = np.asarray(tensors["x_mean"], dtype=np.float32)
        x_std = np.asarray(tensors["x_std"], dtype=np.float32)
        ours, theirs = input_names(pm.lags), [str(i) for i in config.get("inputs", [])]
        pm.missing_inputs_ = []
        if theirs and theirs != ours and "0.weight" in state:
            # a PM of another version of the feature set: map its inputs by name; an input it
            # lacks gets weight 0 (it does not change the prediction), one we lack is refused
            unknown = sorted(set(theirs) - set(ours))
            if unknown:
                raise ValueError(f"PM reads inputs this version does not compute: {', '.join(unknown[:4])}")
            if state["0.weight"].shape[1] != len(theirs) or len(x_mean) != len(theirs) or len(x_std) != len(theirs):
                raise ValueError(f"PM weights do not match its {len(theirs)} named inputs")
            col = {n: i for i, n in enumerate(theirs)}
            w = torch.zeros(state["0.weight"].shape[0], len(ours), dtype=state["0.weight"].dtype)
            xm, xs = np.zeros(len(ours), np.float32), np.ones(len(ours), np.float32)
            for j, n in enumerate(ours):
                if n in col:
                    w[:, j], xm[j], xs[j] = state["0.weight"][:, col[n]], x_mean[col[n]], x_std[col[n]]
            state["0.weight"], x_mean, x_std = w, xm, xs
            pm.missing_inputs_ = sorted({n.split("@", 1)[0] for n in ours if n not in col})
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"PM weights do not fit the configured net ({exc})") from exc
        pm.net_ = net.eval()
        pm.x_mean_, pm.x_std_ = x_mean, x_std
        pm.y_mean_ = float(config["y_mean"])
        pm.y_std_ = float(config["y_std"])
        if not all(math.isfinite(v) for v in (pm.y_mean_, pm.y_std_)):
            raise ValueError("PM scaling is not finite")
        return pm


def pm_attributes(config: dict[str, Any]) -> dict[str, Any]:
    """The PM's Table-2 attributes (input, output, accuracy) from its config; a per-station
    input (``S01.idle`` of the LSTM) is named by what it reads (``station.idle``)."""
    stations = set(config.get("station_types") or ())

    def what(name: str) -> str:
        name = name.split("@", 1)[0]
        sid, dot, rest = name.partition(".")
        return f"station.{rest}" if dot and sid in stations else name

    return {
        "input": sorted({what(str(i)) for i in config.get("inputs", [])}),
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


#: Shares of the target's training samples of a learning curve (the newest ones each time).
CURVE_SHARES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class LearningCurve:
    """Test accuracy (mean TA on the same held-out samples) of a PM trained from scratch and
    of the migrated PM (fine-tuned from the source's weights), on growing shares of the
    target's training samples. ``samples[i]`` samples at ``shares[i]``; ``source`` is the
    source PM without fine-tuning; ``level`` the accuracy of no model at all (the share's
    mean output predicted every time; empty in curves of older packages); ``kind`` the PM's."""

    shares: tuple[float, ...]
    samples: tuple[int, ...]
    from_scratch: tuple[float, ...]
    migrated: tuple[float, ...]
    source: float
    test_samples: int
    level: tuple[float, ...] = ()
    kind: str = ""

    def reach(self) -> float | None:
        """Smallest share at which the migrated PM is at least as accurate as the PM trained
        from scratch on all the samples; None if it never is."""
        return next((s for s, a in zip(self.shares, self.migrated) if a >= self.from_scratch[-1]), None)

    def to_json(self) -> dict[str, Any]:
        return {"shares": list(self.shares), "samples": list(self.samples),
                "from_scratch": [round(a, 4) for a in self.from_scratch],
                "migrated": [round(a, 4) for a in self.migrated], "source": round(self.source, 4),
                "test_samples": self.test_samples, "reach": self.reach(),
                "level": [round(a, 4) for a in self.level], "kind": self.kind}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LearningCurve:
        return cls(tuple(doc["shares"]), tuple(doc["samples"]), tuple(doc["from_scratch"]),
                   tuple(doc["migrated"]), float(doc["source"]), int(doc["test_samples"]),
                   tuple(doc.get("level") or ()), str(doc.get("kind") or ""))


def learning_curve(source: Any, train: Any, test: Any, *, shares: tuple[float, ...] = CURVE_SHARES,
                   seeds: tuple[int, ...] = (0,)) -> LearningCurve:
    """From-scratch vs migrated accuracy on ``test`` for each share of ``train`` (its newest
    samples), each the mean over ``seeds``, beside no model (the share's mean output).

    ``source`` is a package PM (:class:`ThroughputPM` on :class:`PMData`, or
    :class:`twin.warehouse.progress_pm.ProgressPM` on its ``ProgressData``): anything with
    ``fit_scratch(data, seed)``, ``migrate_fit(data, seed)`` and ``score(data)``; about
    2 × len(shares) × len(seeds) fits."""
    if len(test) == 0:
        raise ValueError("a learning curve needs held-out test samples")
    y_test = _parts(test.y)
    ks, scratch, migrated, level = [], [], [], []
    for share in shares:
        part = train.tail(max(int(len(train) * share), 2))
        ks.append(len(part))
        scratch.append(float(np.mean([source.fit_scratch(part, seed=s).score(test) for s in seeds])))
        migrated.append(float(np.mean([source.migrate_fit(part, seed=s).score(test) for s in seeds])))
        level.append(test_accuracy(y_test, np.full(len(y_test), float(_parts(part.y).mean()))))
    # the source without fine-tuning (an LSTM PM laid out for the target's inputs first)
    as_is = source.migrated_to(train) if hasattr(source, "migrated_to") else source
    return LearningCurve(tuple(shares), tuple(ks), tuple(scratch), tuple(migrated), as_is.score(test), len(test),
                         tuple(level), str(getattr(source, "kind", KIND)))


def _parts(y: np.ndarray) -> np.ndarray:
    """The output accuracy is measured on: ``y`` itself, or its first column (parts)."""
    return y if y.ndim == 1 else y[:, 0]
