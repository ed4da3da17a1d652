"""Saving and loading performance models: safetensors + JSON + sha256 (twin.modelstore).

A PM file pair ``<path>.safetensors`` / ``<path>.json`` holds either one LSTM
(``"pm": "progress-lstm"``, a hybrid one has ``residual_col`` set), the mechanism PM
(``"progress-mechanism"``: only its column indices, no weights) or an evolved PM (``"pm": "progress-evolved"``: its learners'
tensors prefixed ``learner<u>.`` and their weights α_u in the JSON). Nothing is unpickled:
a file that was changed after saving fails its checksum and is refused with
:class:`~twin.modelstore.ModelFileError` naming the file. The store's sha256 covers the
tensors; ``pm_digest`` (sha256 of the PM's own JSON fields) covers the description too, so
edited weights α_u or hyperparameters are refused as well.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from twin.evolution.mechanism import MechanismPM
from twin.evolution.model import SCALERS, ProgressLSTM
from twin.evolution.update import EvolvedProgressModel, ProgressModel
from twin.modelstore import ModelFileError, load_model, save_model



def _lstm_tensors(m: ProgressLSTM, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {f"{prefix}net.{k}": v for k, v in m.net_.state_dict().items()}
    for name in SCALERS:
        # a copy: a refitted learner shares its scalers with the learner it was cloned from,
        # and safetensors refuses tensors that share memory
        out[f"{prefix}{name}"] = np.array(getattr(m, name), dtype=np.float32, copy=True)
    return out


def _lstm_meta(m: ProgressLSTM) -> dict[str, Any]:
    return {"params": m.get_params(), "n_features": m.n_features_in_, "n_targets": m.n_targets_}


def _learner_tensors(m: Any, prefix: str = "") -> dict[str, Any]:
    return {} if isinstance(m, MechanismPM) else _lstm_tensors(m, prefix)


def _learner_meta(m: Any) -> dict[str, Any]:
    if isinstance(m, MechanismPM):
        return {"kind": "mechanism", **m.get_params()}
    return _lstm_meta(m)


def _learner_from(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], prefix: str,
                  where: str) -> Any:
    if meta.get("kind") == "mechanism":
        try:
            return MechanismPM(int(meta["mech_col"]), int(meta["pct_col"]), int(meta["n_features"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{where}: not a production-progress model ({exc})") from None
    return _lstm_from(tensors, meta, prefix, where)


def _lstm_from(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], prefix: str,
               where: str) -> ProgressLSTM:
    try:
        return ProgressLSTM.restored(
            meta["params"], meta["n_features"], meta["n_targets"],
            {name: tensors[f"{prefix}{name}"].numpy() for name in SCALERS},
            {k[len(prefix) + 4:]: v for k, v in tensors.items() if k.startswith(f"{prefix}net.")})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{where}: not a production-progress model ({exc})") from None


def save_pm(path: str | Path, model: ProgressModel, info: Mapping[str, Any] | None = None) -> str:
    """Save ``model`` at ``path`` (suffix-less base); ``info`` (JSON) rides along
    (features, stations, horizon...). Returns the sha256 of the tensors file."""
    meta: dict[str, Any] = {"info": dict(info or {})}
    if isinstance(model, EvolvedProgressModel):
        tensors: dict[str, Any] = {}
        for u, m in enumerate(model.learners):
            tensors.update(_learner_tensors(m, f"learner{u}."))
        meta.update(pm="progress-evolved", combine=model.combine, names=model.names,
                    alphas=[float(a) for a in model.alphas],
                    learners=[_learner_meta(m) for m in model.learners])
    elif isinstance(model, MechanismPM):
        tensors = {"none": np.zeros(1, dtype=np.float32)}  # the store wants a tensors file
        meta.update(pm="progress-mechanism", **_learner_meta(model))
    else:
        tensors = _lstm_tensors(model)
        meta.update(pm="progress-lstm", **_lstm_meta(model))
    meta = json.loads(json.dumps(meta))  # what the JSON file will hold, e.g. tuples as lists
    meta["pm_digest"] = _digest(meta)
    return save_model(path, tensors, meta)


def _digest(meta: Mapping[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k not in ("pm_digest", "format", "version", "bytes", "sha256")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def load_pm(path: str | Path) -> tuple[ProgressModel, dict[str, Any]]:
    """The PM saved at ``path`` and its ``info``; ModelFileError if missing, damaged,
    tampered or not a PM."""
    tensors, meta = load_model(path)
    where = str(path)
    if meta.get("pm_digest") != _digest(meta):
        raise ModelFileError(f"{where}.json: description does not match its pm_digest "
                             "(edited after saving; damaged or tampered)")
    kind = meta.get("pm")
    if kind == "progress-lstm":
        return _lstm_from(tensors, meta, "", where), dict(meta.get("info") or {})
    if kind == "progress-mechanism":
        return _learner_from(tensors, meta, "", where), dict(meta.get("info") or {})
    if kind == "progress-evolved":
        try:
            learners = [_learner_from(tensors, lm, f"learner{u}.", where) for u, lm in enumerate(meta["learners"])]
            model = EvolvedProgressModel(learners, meta["alphas"], meta["names"], meta.get("combine", "mean"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{where}: not a production-progress model ({exc})") from None
        return model, dict(meta.get("info") or {})
    raise ModelFileError(f"{where}: not a production-progress model (pm is {kind!r})")
