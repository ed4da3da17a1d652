"""Settings of a verification run (window, nets, training, calibration)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class VerifyConfig:
    """Hyperparameters of verification; the defaults are the measured ones
    (benchmarks/bench_verify.py).

    Attributes:
        window_min: length of a graph window [min]; the shift is cut into windows
            every ``window_min * stride`` minutes.
        bins_per_window: time bins per window for the temporal series (bin = window /
            this).
        stride: window step as a share of the window (0.5 = half-overlapping windows).
        min_windows: a recording must cover at least this many windows.
        gcn_hidden, gcn_layers, gcn_epochs: spatial net size and training length.
        tcn_hidden, tcn_levels, tcn_kernel, tcn_epochs: temporal net.
        lr, weight_decay: Adam settings for both nets.
        seed: torch seed (training is deterministic for a seed).
        z: calibrated mode: a characteristic is consistent when its physical-virtual
            difference is within ``z`` standard errors (from physical variation).
        overall_threshold: Δ_SF and Δ_TF must reach this share to pass (paper: 0.9).
        threads: torch CPU threads during training/inference (the nets are small: one
            thread is as fast and does not fight other work for the cores).
        cv_blocks: cross-fitting: the run is cut into this many time blocks, alternately
            assigned to two folds; each fold's net infers the other fold, so physical
            characteristics are out-of-sample like the virtual ones.
        level_features: behaviour features compared as the station's own plain level
            (mean share / ratio) instead of the nets' residual — an ablation (what the nets
            add), named ``level:<feature>`` in the report. Default: none, every
            characteristic is a GCN / TCN residual. (Before the nets inferred each
            station from a graph without its own behaviour, they learnt the physical
            shop's breakdowns from their footprint — no parts processed while work
            arrives — and hid them; see :func:`graphs.masked_for`.)
    """

    window_min: float = 30.0
    bins_per_window: int = 6
    stride: float = 0.5
    min_windows: int = 3
    gcn_hidden: int = 16
    gcn_layers: int = 2
    gcn_epochs: int = 120
    tcn_hidden: int = 16
    tcn_levels: int = 3
    tcn_kernel: int = 3
    tcn_epochs: int = 120
    lr: float = 5e-3
    weight_decay: float = 1e-2
    seed: int = 0
    z: float = 4.0
    overall_threshold: float = 0.9
    threads: int = 1
    cv_blocks: int = 4
    level_features: tuple[str, ...] = ()

    #: Fields that change the trained nets (a saved net is reused only when these match).
    TRAINING_FIELDS = (
        "window_min", "bins_per_window", "stride", "gcn_hidden", "gcn_layers", "gcn_epochs",
        "tcn_hidden", "tcn_levels", "tcn_kernel", "tcn_epochs", "lr", "weight_decay", "seed",
        "cv_blocks",
    )

    def with_window(self, window_min: float | None) -> VerifyConfig:
        return self if window_min is None else replace(self, window_min=float(window_min))

    def training_key(self) -> str:
        d = asdict(self)
        return json.dumps({k: d[k] for k in self.TRAINING_FIELDS}, sort_keys=True)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> VerifyConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "level_features" in kw:
            kw["level_features"] = tuple(kw["level_features"])
        return cls(**kw)
