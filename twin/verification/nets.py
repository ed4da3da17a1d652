"""The trained verification model as data: what the physical run fixes (:class:`PhysicalBasis`)
and the nets trained on it (:class:`TrainedNets`). No training, no loading: the verifier
builds these, :mod:`twin.verification.store` saves and loads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.verification.config import VerifyConfig
from twin.verification.gcn import StationGCN
from twin.verification.series import N_FEATURES, CycleReference
from twin.verification.tcn import StationTCN

@dataclass
class PhysicalBasis:
    """What the physical run fixes for both runs: station/process/AGV lists, reference
    cycle times, standardisation (window level for the GCN, bin level for the TCN)."""

    stations: tuple[str, ...]
    processes: list[str]
    agvs: tuple[str, ...]
    ref: CycleReference
    win_mu: np.ndarray  # [S, F]
    win_sd: np.ndarray
    bin_mu: np.ndarray
    bin_sd: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {
            "stations": list(self.stations),
            "processes": self.processes,
            "agvs": list(self.agvs),
            "ref": self.ref.to_json(),
            "win_mu": self.win_mu.tolist(),
            "win_sd": self.win_sd.tolist(),
            "bin_mu": self.bin_mu.tolist(),
            "bin_sd": self.bin_sd.tolist(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PhysicalBasis:
        arr = lambda k: np.asarray(d[k], dtype=float)  # noqa: E731
        basis = cls(
            stations=tuple(str(s) for s in d["stations"]),
            processes=[str(p) for p in d["processes"]],
            agvs=tuple(str(a) for a in d["agvs"]),
            ref=CycleReference.from_json(d["ref"]),
            win_mu=arr("win_mu"), win_sd=arr("win_sd"), bin_mu=arr("bin_mu"), bin_sd=arr("bin_sd"),
        )
        shape = (len(basis.stations), N_FEATURES)
        for k in ("win_mu", "win_sd", "bin_mu", "bin_sd"):
            if getattr(basis, k).shape != shape:
                raise ValueError(f"{k} has shape {getattr(basis, k).shape}, expected {shape}")
        return basis


@dataclass
class TrainedNets:
    """The nets trained on one physical run (two per kind, one per cross-fitting fold),
    with everything needed to apply them."""

    gcn: list[StationGCN]
    tcn: list[StationTCN]
    basis: PhysicalBasis
    config: VerifyConfig
    fingerprint: str
    source: str  # the physical recording (path or label)
    source_hash: str  # workshop hash of the physical recording
    losses: dict[str, list[float]] = field(default_factory=dict)


def new_nets(config: VerifyConfig) -> tuple[list[StationGCN], list[StationTCN]]:
    """Two untrained nets of each kind, one per cross-fitting fold."""
    gcn = [StationGCN(hidden=config.gcn_hidden, layers=config.gcn_layers) for _ in range(2)]
    tcn = [
        StationTCN(hidden=config.tcn_hidden, levels=config.tcn_levels, kernel=config.tcn_kernel)
        for _ in range(2)
    ]
    return gcn, tcn
