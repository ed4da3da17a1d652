"""Verification of the DT model (paper §4.2): does the virtual shop behave like the
physical one, and if not, where?

Spatial characteristics from a GCN over production-process graphs, temporal ones from a
TCN over per-station series, both trained on the physical run and applied to both runs;
consistency by the paper's rule plus per-station scores, and a transport check of the
AGVs. Qt-free. Entry points: :func:`verify`, :func:`train_steps`, :class:`Verifier`,
:func:`consistency_fraction`; the ``verify`` CLI lives in :mod:`twin.verification.cli`.
"""

from twin.verification.baseline import BaselineReport, baseline_verify
from twin.verification.config import VerifyConfig
from twin.verification.consistency import (
    ConsistencyReport,
    ConsistencyResult,
    consistency_fraction,
)
from twin.verification.data import VerificationError
from twin.verification.store import StoreError, default_model_dir
from twin.verification.verifier import (
    EpochMetrics,
    VerificationAborted,
    Verifier,
    train_steps,
    verify,
)

__all__ = [
    "BaselineReport",
    "ConsistencyReport",
    "ConsistencyResult",
    "EpochMetrics",
    "StoreError",
    "VerificationAborted",
    "VerificationError",
    "Verifier",
    "VerifyConfig",
    "baseline_verify",
    "consistency_fraction",
    "default_model_dir",
    "train_steps",
    "verify",
]
