"""The PM packages carry: the evolution work's production-progress LSTM (the paper's G(X)).

:class:`ProgressPM` wraps :class:`twin.evolution.model.ProgressLSTM` — the same net, the
same state vectors (:func:`twin.evolution.features.progress_frame`: per station one-hot
state, queue, WIP; shop-wide WIP, transport, recent output, orders, elapsed time) and the
same torch training — and adds what a package needs: the names of its inputs, the type of
every station it reads, and the package's PM section (safetensors + JSON, kind
``"progress-lstm"``). It predicts the parts completed over the next hour; its accuracy is
the warehouse's mean TA on that output (:func:`twin.warehouse.pm.test_accuracy`).

**Migration** (:meth:`ProgressPM.migrated_to`): the source's weights are the starting point
for the target's input layout, column by column of the LSTM's input weights:

1. an input of the same *name* (shop-wide inputs: ``wip_open``, ``parts_last_h`` …; a
   station id both shops have) takes the source's column;
2. a station input the source lacks by name takes the mean of the source's columns of the
   same input of the stations of the same *type* (``S03.processing`` ← mean of
   ``L1.processing``, ``L2.processing`` when S03 and L1, L2 are lathes): a shop of 13
   stations has more stations per type than one of 8, and each reads like the source's;
3. a station of a type the source lacks (e.g. a washer): weight 0 — the migrated PM
   ignores it until fine-tuning learns a weight (reported);
4. a source input the target lacks is dropped.

Scaling: inputs are centred on the target's means, spreads kept from the source (a short
recording estimates them poorly) except the shop-wide counts, scaled by the size ratio;
the parts output's spread is scaled by the size ratio (the orders' % kept) and each
output's level shifted so the mean error on the target's samples is zero. Then every
layer is fine-tuned on the target's samples (:data:`FINE_TUNE`, :func:`fine_tune`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from twin.evolution.model import ProgressLSTM
    from twin.recording import Recording
    from twin.workshop import Workshop

KIND = "progress-lstm"
OUTPUT = "parts_next_h"
#: Hyperparameters of the LSTM (small: a package learns from one shift); every from-scratch
#: PM of the learning curve is trained with these (the evolution code's lr, a smaller batch).
PARAMS: dict[str, Any] = {"window": 12, "hidden": 16, "layers": 1, "epochs": 80, "lr": 5e-3,
                          "batch_size": 32, "weight_decay": 1e-4}
#: Training of the PM a package carries, the one migrations start from: fewer epochs and
#: 100x the weight decay, so it learns what generalises rather than its one shift's noise.
#: Chosen on benchmarks/bench_warehouse.py's tuning recordings (targets seeds 22-24, not
#: the benchmark's): migrating a PM trained with PARAMS reached the from-scratch-on-all
#: accuracy with no share of the target's data; with these, at 50 % (both shop pairs).
#: From scratch, these and PARAMS are alike (0.77 / 0.77 on assembly8, 0.87 / 0.89 on
#: machining13 with all data), so the from-scratch PMs keep PARAMS.
PACKAGE_PARAMS: dict[str, Any] = {**PARAMS, "epochs": 40, "weight_decay": 1e-2}
#: Fine-tuning of a migrated PM: every layer, from the migrated weights and scaling.
FINE_TUNE: dict[str, Any] = {"epochs": 30, "lr": 2e-3}
#: Shop-wide inputs that are counts, growing with the number of stations (scaled by the size ratio).
SHOP_COUNTS = ("wip_open", "wip_transport", "parts_last_h", "parts_last_15min", "orders_open")


@dataclass(frozen=True)
class ProgressData:
    """Samples of one recording: ``W`` (n, window, d) state windows, ``y`` (n, 2) targets
    (parts next hour, orders %), ``t`` (n,) sample times [s]; ``features`` the d input
    names, ``station_types`` station id -> type."""

    W: np.ndarray
    y: np.ndarray
    t: np.ndarray
    features: tuple[str, ...]
    station_types: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def _take(self, sl: slice) -> ProgressData:
        return ProgressData(self.W[sl], self.y[sl], self.t[sl], self.features, self.station_types)

    def head(self, n: int) -> ProgressData:
        return self._take(slice(0, n))

    def tail(self, n: int) -> ProgressData:
        return self._take(slice(len(self) - n, len(self)))

    @property
    def n_stations(self) -> int:
        return max(len(self.station_types), 1)


def progress_samples(rec: Recording, ws: Workshop, *, window: int = PARAMS["window"]) -> ProgressData:
    """The LSTM's samples of a recording of ``ws``: one every 5 min with a known outcome
    (1 h ahead), station columns in the workshop's order."""
    from twin.evolution.features import progress_frame
    from twin.evolution.model import frame_windows

    stations = list(ws.stations)
    frame = progress_frame(rec, stations=stations)
    W = frame_windows(frame, window).astype(np.float32)
    m = frame.known
    return ProgressData(W[m], frame.y[m].astype(np.float32), frame.t[m], tuple(frame.features),
                        {s: ws.stations[s].type for s in stations})


def _split(name: str) -> tuple[str, str]:
    """(station id, input) of a station input ``S01.idle``; ("", name) for a shop-wide one."""
    head, dot, tail = name.partition(".")
    return (head, tail) if dot else ("", name)


class ProgressPM:
    """A package's PM: a :class:`ProgressLSTM` with its input names and station types.

    Args:
        seed: torch seed of a from-scratch fit; other hyperparameters :data:`PARAMS`.
    Learned: ``lstm_`` (the ProgressLSTM), ``features_``, ``station_types_``;
    after migration ``by_name_`` / ``by_type_`` (inputs initialised from the source's input
    of the same name / from its stations of the same type) and ``unmatched_`` (stations, or
    shop-wide inputs, that start at weight 0)."""

    kind = KIND

    def __init__(self, seed: int = 0, **params: Any) -> None:
        self.seed = seed
        self.params = {**PARAMS, **params}

    def fit(self, data: ProgressData) -> ProgressPM:
        """Learn from ``data`` from random weights."""
        from twin.evolution.model import ProgressLSTM

        if len(data) == 0:
            raise ValueError("no training samples (the recording is shorter than the 1 h horizon)")
        self.lstm_ = ProgressLSTM(seed=self.seed, **self.params).fit(data.W, data.y)
        self.features_, self.station_types_ = tuple(data.features), dict(data.station_types)
        self.unmatched_, self.by_type_, self.by_name_ = [], [], list(self.features_)
        return self

    def predict(self, W: np.ndarray) -> np.ndarray:
        """Parts completed over the next hour per window (n,)."""
        return self.lstm_.predict(W)[:, 0]

    def score(self, data: ProgressData) -> float:
        """Test accuracy (mean TA on the parts output) on ``data``."""
        from twin.warehouse.pm import test_accuracy

        return test_accuracy(data.y[:, 0], self.predict(data.W)) if len(data) else 0.0

    # -- migration ---------------------------------------------------------------------
    def migrated_to(self, data: ProgressData) -> ProgressPM:
        """This PM's weights laid out for ``data``'s inputs and scaled to its shop (module
        docstring: by name, then by station type, else 0), before any fine-tuning."""
        import torch

        src, feats = self.lstm_, list(data.features)
        col = {n: i for i, n in enumerate(self.features_)}
        by_type: dict[tuple[str, str], list[int]] = {}
        for i, n in enumerate(self.features_):
            sid, what = _split(n)
            if sid:
                by_type.setdefault((self.station_types_.get(sid, ""), what), []).append(i)
        ratio = data.n_stations / max(len(self.station_types_), 1)
        w_src = src.net_.lstm.weight_ih_l0.detach()
        w = torch.zeros(w_src.shape[0], len(feats), dtype=w_src.dtype)
        scale = np.ones(len(feats), np.float32)
        unmatched, typed, named = [], [], []
        for j, n in enumerate(feats):
            sid, what = _split(n)
            if n in col:
                w[:, j], scale[j] = w_src[:, col[n]], src.x_scale_[col[n]]
                named.append(n)
            elif sid and (idx := by_type.get((data.station_types.get(sid, ""), what))):
                w[:, j] = w_src[:, idx].mean(dim=1)
                scale[j] = float(np.mean(src.x_scale_[idx]))
                typed.append(n)
            else:
                unmatched.append(n)
                continue
            if what in SHOP_COUNTS and not sid:
                scale[j] *= ratio
        flat = data.W.reshape(-1, data.W.shape[-1])
        for j in (j for j, n in enumerate(feats) if n in set(unmatched)):  # no source spread: the target's
            s = float(flat[:, j].std())
            scale[j] = s if s > 1e-6 else 1.0
        pm = ProgressPM(seed=self.seed, **self.params)
        m = src.clone()
        state = m.net_.state_dict()
        state["lstm.weight_ih_l0"] = w
        from twin.evolution.model import LSTMNet

        m.net_ = LSTMNet(len(feats), src.n_targets_, src.hidden, src.layers)
        m.net_.load_state_dict(state)
        m.net_.eval()
        m.n_features_in_ = len(feats)
        m.x_mean_ = flat.mean(0).astype(np.float32)
        m.x_scale_ = scale
        size = np.array([ratio, 1.0], np.float32)[: src.n_targets_]  # parts grow with the shop, % do not
        m.y_scale_ = (np.asarray(src.y_scale_) * size).astype(np.float32)
        m.y_mean_ = np.asarray(src.y_mean_, dtype=np.float32) * size
        m.y_mean_ = (m.y_mean_ + (data.y - m.predict(data.W)).mean(0)).astype(np.float32)
        pm.lstm_, pm.features_, pm.station_types_ = m, tuple(feats), dict(data.station_types)
        pm.unmatched_ = sorted({n if not _split(n)[0] else _split(n)[0] for n in unmatched})
        pm.by_type_, pm.by_name_ = typed, named
        return pm

    def fine_tuned(self, data: ProgressData, seed: int = 0) -> ProgressPM:
        """:meth:`migrated_to` ``data``, then every layer trained on it (:data:`FINE_TUNE`)."""
        pm = self.migrated_to(data)
        m = pm.lstm_
        m.seed, m.lr = seed, FINE_TUNE["lr"]
        m.fit(data.W, data.y, warm_start=True, epochs=FINE_TUNE["epochs"])
        return pm

    # -- the learning-curve protocol (twin.warehouse.pm.learning_curve) -------------------
    def fit_scratch(self, data: ProgressData, seed: int = 0) -> ProgressPM:
        """A PM of the same architecture (window, hidden units, layers) trained on ``data``
        from random weights with the from-scratch training settings (:data:`PARAMS`)."""
        arch = {k: self.params[k] for k in ("window", "hidden", "layers")}
        return ProgressPM(seed=seed, **{**PARAMS, **arch}).fit(data)

    def migrate_fit(self, data: ProgressData, seed: int = 0) -> ProgressPM:
        """This PM migrated to ``data`` and fine-tuned on it (:func:`fine_tune`)."""
        return fine_tune(self, data, seed=seed)

    # -- the package's PM section --------------------------------------------------------
    def to_section(self, accuracy: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """(tensors, config) for :func:`twin.modelstore.save_model`."""
        m = self.lstm_
        tensors: dict[str, Any] = {f"net.{k}": v.detach().clone() for k, v in m.net_.state_dict().items()}
        for name in ("x_mean_", "x_scale_", "y_mean_", "y_scale_"):
            tensors[name.rstrip("_")] = np.asarray(getattr(m, name), dtype=np.float32)
        config = {
            "kind": KIND, "params": {k: v for k, v in m.get_params().items() if k != "residual_col"},
            "inputs": list(self.features_), "station_types": dict(self.station_types_),
            "n_targets": int(m.n_targets_), "output": OUTPUT, "targets": ["parts", "orders_pct"],
            "step_s": 300.0, "horizon_s": 3600.0, "accuracy": round(float(accuracy), 6),
        }
        return tensors, config

    @classmethod
    def from_section(cls, tensors: dict[str, Any], config: dict[str, Any]) -> ProgressPM:
        """Rebuild from a package's PM section; ValueError naming what does not fit."""
        from twin.evolution.model import SCALERS, ProgressLSTM

        if config.get("kind") != KIND:
            raise ValueError(f"PM kind {config.get('kind')!r} is not {KIND!r}")
        try:
            params = {k: config["params"][k] for k in PARAMS}
            feats = [str(n) for n in config["inputs"]]
            m = ProgressLSTM.restored(
                {"seed": int(config["params"].get("seed", 0)), **params}, len(feats), config["n_targets"],
                {name: tensors[name.rstrip("_")] for name in SCALERS},
                {k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"PM weights do not fit its config ({type(exc).__name__}: {exc})") from None
        if len(m.x_mean_) != len(feats) or len(m.x_scale_) != len(feats):
            raise ValueError(f"PM scaling does not match its {len(feats)} named inputs")
        if not all(np.isfinite(getattr(m, n)).all() for n in ("x_mean_", "x_scale_", "y_mean_", "y_scale_")):
            raise ValueError("PM scaling is not finite")
        pm = cls(seed=m.seed, **params)
        pm.lstm_, pm.features_ = m, tuple(feats)
        pm.station_types_ = {str(k): str(v) for k, v in dict(config.get("station_types") or {}).items()}
        pm.unmatched_, pm.by_type_, pm.by_name_ = [], [], list(feats)
        return pm


def read_pm(tensors: dict[str, Any], config: dict[str, Any]) -> Any:
    """The PM of a package's PM section, of either kind (this LSTM or the former
    ``throughput-mlp``); ValueError for another kind or weights that do not fit."""
    from twin.warehouse.pm import KIND as MLP_KIND
    from twin.warehouse.pm import ThroughputPM

    kind = config.get("kind")
    if kind == KIND:
        return ProgressPM.from_section(tensors, config)
    if kind == MLP_KIND:
        return ThroughputPM.from_section(tensors, config)
    raise ValueError(f"PM kind {kind!r} is neither {KIND!r} nor {MLP_KIND!r}")


def fine_tune(source: ProgressPM, data: ProgressData, *, seed: int = 0) -> ProgressPM:
    """Migrate ``source`` to ``data``: :meth:`ProgressPM.migrated_to` its layout and scaling,
    then fine-tune every layer (:data:`FINE_TUNE`). No validation hold-out: on the
    benchmark, keeping the migrated weights when fine-tuning did not pay on the newest fifth
    was as often worse as better, and it halves the samples a short recording has."""
    return source.fine_tuned(data, seed=seed)
