"""The data-driven production-progress model: a small LSTM over past shop states.

:class:`ProgressLSTM` (the paper's G(X), data-driven half) reads a window of the last
``window`` state vectors (:mod:`twin.evolution.features`, one every ``step_s`` seconds) and
predicts the production progress over the next horizon (parts completed, completion % of
the open orders). It follows scikit-learn's conventions: ``__init__`` only stores
hyperparameters, :meth:`fit` learns and returns ``self``, learned attributes end in ``_``.
:meth:`fit_iter` is the same learning as a generator of per-epoch progress, so the app can
show it and abort between epochs. Saving and loading are :mod:`twin.evolution.store`.

Shapes: ``windows`` (n, window, d) float; targets (n, k); predictions (n, k), in the targets'
units (parts, percent), never negative.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from twin.evolution.features import ProgressFrame
from twin.training import adam_epochs, torch_threads


def frame_windows(frame: ProgressFrame, window: int) -> np.ndarray:
    """(n, window, d) array: for each sample, its state vector and the ``window - 1``
    before it (the first vector repeated before the start of the shift)."""
    n = len(frame)
    idx = np.arange(n)[:, None] + np.arange(-window + 1, 1)[None, :]
    return frame.X[np.clip(idx, 0, max(n - 1, 0))]


def training_set(frames: Sequence[ProgressFrame], window: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows and targets of every sample with a known target, over several shifts."""
    xs, ys = [], []
    for f in frames:
        w = frame_windows(f, window)
        m = f.known
        xs.append(w[m])
        ys.append(f.y[m])
    if not xs or sum(len(x) for x in xs) == 0:
        raise ValueError("no sample with a known target to learn from (history shorter than the horizon?)")
    return np.concatenate(xs), np.concatenate(ys)


#: The standardisation a fitted PM carries (its inputs' and outputs' mean and scale).
SCALERS = ("x_mean_", "x_scale_", "y_mean_", "y_scale_")


class LSTMNet(nn.Module):
    """The PMs' torch module, LSTM encoder + linear head: (batch, window, d) -> (batch, k)
    (also built by the PM store and the warehouse to load saved weights)."""

    def __init__(self, n_features: int, n_targets: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, n_targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class ProgressLSTM:
    """LSTM production-progress predictor.

    Args:
        window: state vectors per input sequence (window x step_s = how far back it looks).
        hidden: LSTM hidden units; layers: stacked LSTM layers.
        epochs: passes over the training set; lr: Adam learning rate;
        batch_size: samples per gradient step; weight_decay: L2 penalty.
        seed: torch seed, so the same data gives the same model.
        residual_col: the hybrid PM — index of the mechanism forecast (``mech_parts``) in
            the state vector: the net learns ``parts - forecast`` and predicts
            ``forecast + learned correction`` (None: the plain data-driven LSTM).

    Learned attributes: ``net_`` (the torch module), ``x_mean_``/``x_scale_`` and
    ``y_mean_``/``y_scale_`` (standardisation), ``n_features_in_``, ``n_targets_``,
    ``loss_curve_`` (training loss per epoch, standardised units).
    """

    def __init__(self, window: int = 12, hidden: int = 32, layers: int = 1, epochs: int = 60,
                 lr: float = 5e-3, batch_size: int = 128, weight_decay: float = 1e-4,
                 seed: int = 0, residual_col: int | None = None) -> None:
        self.window = window
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.seed = seed
        self.residual_col = residual_col

    @classmethod
    def restored(cls, params: Mapping[str, Any], n_features: int, n_targets: int,
                 scalers: Mapping[str, Any], net_state: Mapping[str, Any]) -> ProgressLSTM:
        """A fitted PM from saved arrays (a PM file, a package): ``scalers`` by attribute
        name (``x_mean_`` …), ``net_state`` the torch module's state dict. Raises what numpy
        and torch raise for arrays that do not fit (KeyError, ValueError, RuntimeError)."""
        m = cls(**params)
        m.n_features_in_, m.n_targets_ = int(n_features), int(n_targets)
        for name in SCALERS:
            setattr(m, name, np.asarray(scalers[name], dtype=np.float32))
        m.net_ = LSTMNet(m.n_features_in_, m.n_targets_, m.hidden, m.layers)
        m.net_.load_state_dict({k: torch.as_tensor(v) for k, v in net_state.items()})
        m.net_.eval()
        m.loss_curve_ = []
        return m

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("window", "hidden", "layers", "epochs", "lr",
                                               "batch_size", "weight_decay", "seed",
                                               "residual_col")}

    def _base(self, windows: np.ndarray, k: int) -> np.ndarray:
        """What the net's output is added to: 0, or the mechanism forecast (parts)."""
        base = np.zeros((len(windows), k), dtype=np.float32)
        if self.residual_col is not None:
            base[:, 0] = windows[:, -1, self.residual_col]
        return base

    # -- learning ------------------------------------------------------------------
    def fit(self, windows: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
            *, warm_start: bool = False, epochs: int | None = None) -> ProgressLSTM:
        """Learn from ``windows`` (n, window, d) and targets ``y`` (n, k); returns self."""
        for _ in self.fit_iter(windows, y, sample_weight, warm_start=warm_start, epochs=epochs):
            pass
        return self

    def fit_iter(self, windows: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
                 *, warm_start: bool = False, epochs: int | None = None
                 ) -> Generator[tuple[float, str], None, ProgressLSTM]:
        """:meth:`fit` as a generator yielding ``(fraction done, message)`` per epoch.

        ``warm_start`` continues from the learned net and scalers (refit on incremental
        data) instead of starting afresh. ``sample_weight`` (n,) weights each sample's
        squared error (AdaBoost re-weighting)."""
        windows = np.asarray(windows, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 1:
            y = y[:, None]
        if windows.ndim != 3 or len(windows) != len(y) or len(y) == 0:
            raise ValueError(f"need windows (n, window, d) and targets (n, k) with n > 0, "
                             f"got {windows.shape} and {y.shape}")
        if not (np.isfinite(windows).all() and np.isfinite(y).all()):
            raise ValueError("training data contains NaN or infinite values")
        if self.residual_col is not None and not 0 <= self.residual_col < windows.shape[-1]:
            raise ValueError(f"residual column {self.residual_col} is not a state feature "
                             f"(the state vector has {windows.shape[-1]})")
        y = y - self._base(windows, y.shape[1])
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        if not (warm_start and hasattr(self, "net_")):
            flat = windows.reshape(-1, windows.shape[-1])
            self.x_mean_ = flat.mean(0)
            self.x_scale_ = np.where(flat.std(0) > 1e-6, flat.std(0), 1.0).astype(np.float32)
            self.y_mean_ = y.mean(0)
            self.y_scale_ = np.where(y.std(0) > 1e-6, y.std(0), 1.0).astype(np.float32)
            self.n_features_in_ = int(windows.shape[-1])
            self.n_targets_ = int(y.shape[1])
            self.net_ = LSTMNet(self.n_features_in_, self.n_targets_, self.hidden, self.layers)
            self.loss_curve_: list[float] = []
        elif windows.shape[-1] != self.n_features_in_ or y.shape[1] != self.n_targets_:
            raise ValueError("warm start needs the features and targets the model was fitted on")
        xt = torch.from_numpy((windows - self.x_mean_) / self.x_scale_)
        yt = torch.from_numpy((y - self.y_mean_) / self.y_scale_)
        w = np.ones(len(y), np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
        wt = torch.from_numpy(w / w.mean())
        n_epochs = self.epochs if epochs is None else int(epochs)
        self.net_.train()
        try:
            with torch_threads(1):  # a net this small trains ~2x faster on one thread
                yield from self._epochs(xt, yt, wt, rng, n_epochs)
        finally:
            self.net_.eval()
        return self

    def _epochs(self, xt: torch.Tensor, yt: torch.Tensor, wt: torch.Tensor,
                rng: np.random.Generator, n_epochs: int
                ) -> Generator[tuple[float, str], None, None]:
        def loss(idx: np.ndarray | None) -> torch.Tensor:
            assert idx is not None
            b = torch.from_numpy(idx)
            err = ((self.net_(xt[b]) - yt[b]) ** 2).mean(1)
            return (err * wt[b]).mean()

        orders = (rng.permutation(len(yt)) for _ in range(n_epochs))
        for epoch, mean in enumerate(adam_epochs(self.net_.parameters(), loss, n_epochs, lr=self.lr,
                                                 weight_decay=self.weight_decay,
                                                 batch_size=self.batch_size, orders=orders)):
            self.loss_curve_.append(mean)
            yield (epoch + 1) / max(n_epochs, 1), f"epoch {epoch + 1}/{n_epochs} loss {self.loss_curve_[-1]:.3f}"

    # -- predicting -------------------------------------------------------------------
    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Progress over the next horizon for each window: (n, k), clipped at 0."""
        if not hasattr(self, "net_"):
            raise RuntimeError("ProgressLSTM is not fitted yet: call fit() first")
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 3 or windows.shape[-1] != self.n_features_in_:
            raise ValueError(f"expected windows (n, window, {self.n_features_in_}), got {windows.shape}")
        if len(windows) == 0:
            return np.zeros((0, self.n_targets_))
        # a few windows: threads only wait for each other (0.3 s a call on a loaded machine)
        with torch_threads(1), torch.no_grad():
            out = self.net_(torch.from_numpy((windows - self.x_mean_) / self.x_scale_)).numpy()
        out = out * self.y_scale_ + self.y_mean_ + self._base(windows, out.shape[1])
        return np.maximum(out, 0.0).astype(np.float64)

    def predict_frame(self, frame: ProgressFrame) -> np.ndarray:
        """Predictions for every sample of ``frame`` (n, k)."""
        return self.predict(frame_windows(frame, self.window))

    def clone(self) -> ProgressLSTM:
        """A deep copy (same hyperparameters and learned state), e.g. to refit one copy."""
        twin = ProgressLSTM(**self.get_params())
        if hasattr(self, "net_"):
            for name in ("x_mean_", "x_scale_", "y_mean_", "y_scale_", "n_features_in_", "n_targets_"):
                setattr(twin, name, getattr(self, name))
            twin.loss_curve_ = list(self.loss_curve_)
            twin.net_ = LSTMNet(self.n_features_in_, self.n_targets_, self.hidden, self.layers)
            twin.net_.load_state_dict(self.net_.state_dict())
            twin.net_.eval()
        return twin
