"""Verification of the DT model (paper §4.2): does the virtual shop behave like the
physical one, and if not, where?

Spatial characteristics from a GCN over production-process graphs, temporal ones from a
TCN over per-station series, both trained on the physical run and applied to both runs;
consistency by the paper's rule plus per-station scores, and a transport check of the
AGVs. Qt-free. Entry points: :func:`verify`, :func:`train_steps`, :class:`Verifier`,
:func:`consistency_fraction`; the ``verify`` CLI lives in :mod:`twin.verification.cli`.

The names below are loaded on first use (PEP 562): importing the package, or a light
module of it such as :mod:`twin.verification.data`, does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> module (under twin.verification) that defines it.
_WHERE: dict[str, str] = {
    "BaselineReport": "baseline",
    "baseline_verify": "baseline",
    "VerifyConfig": "config",
    "ConsistencyReport": "consistency",
    "ConsistencyResult": "consistency",
    "consistency_fraction": "consistency",
    "VerificationError": "data",
    "StoreError": "store",
    "default_model_dir": "store",
    "EpochMetrics": "verifier",
    "VerificationAborted": "verifier",
    "Verifier": "verifier",
    "train_steps": "verifier",
    "verify": "verifier",
}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'twin.verification' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"twin.verification.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
