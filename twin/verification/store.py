"""Saved verification nets, kept with :mod:`twin.modelstore` (safetensors + JSON + sha256).

A trained set of nets lives in ``<model_dir>/<key>/`` where ``key`` identifies the physical
recording (fingerprint of its events) and the training settings::

    nets.safetensors   the fold nets' state dicts: ``gcn.fold0.<param>``, ``tcn.fold1.<param>``, ...
    nets.json          kind, config, physical recording (path, fingerprint, workshop hash),
                       stations / processes / reference cycle times / standardisation,
                       training losses; size and sha256 of the weights (written by modelstore)

:func:`load_nets` returns None when nothing matching is saved; a damaged or tampered entry
(checksum mismatch, bad JSON, wrong tensor shapes) raises :class:`StoreError` naming the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from twin.modelstore import ModelFileError, load_model, model_paths, save_model
from twin.verification.config import VerifyConfig
from twin.verification.data import VerificationError
from twin.verification.nets import PhysicalBasis, TrainedNets, new_nets

#: ``kind`` of a saved set of verification nets (in the model JSON).
KIND = "dmw-twin-verify-nets/3"  # 3: the GCN learns from graphs masked per station
#: Base name of the model files inside an entry directory.
NETS = "nets"


class StoreError(VerificationError):
    """A saved net that cannot be used; the message names the file and the problem."""


def default_model_dir() -> Path:
    """Per-user cache of trained verification nets (``$XDG_CACHE_HOME/dmw-twin/verify``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dmw-twin" / "verify"


def model_key(fingerprint: str, config: VerifyConfig) -> str:
    """Directory name for nets trained on the run with ``fingerprint`` under ``config``
    (and this version of the features and nets: an upgrade trains afresh)."""
    from twin.verification.series import FEATURES

    stamp = f"{KIND}\n{','.join(FEATURES)}\n{fingerprint}\n{config.training_key()}"
    return hashlib.sha256(stamp.encode()).hexdigest()[:24]


def _flat(stage: str, nets: list[Any]) -> dict[str, Any]:
    """State dicts of one kind's fold nets as one flat dict: ``<stage>.fold0.<param>``, ..."""
    return {
        f"{stage}.fold{k}.{name}": t
        for k, net in enumerate(nets)
        for name, t in net.state_dict().items()
    }


def _unflat(tensors: dict[str, Any], stage: str, k: int) -> dict[str, Any]:
    prefix = f"{stage}.fold{k}."
    return {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}


def save_nets(model_dir: Path, nets: TrainedNets) -> Path:
    """Write ``nets`` under ``model_dir`` (atomically: a complete entry or none)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    final = model_dir / model_key(nets.fingerprint, nets.config)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=model_dir))
    meta: dict[str, Any] = {
        "kind": KIND,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": nets.config.to_json(),
        "physical": {
            "recording": nets.source,
            "fingerprint": nets.fingerprint,
            "source_hash": nets.source_hash,
        },
        "basis": nets.basis.to_json(),
        "losses": {k: [round(x, 6) for x in v] for k, v in nets.losses.items()},
        "final_loss": {k: (v[-1] if v else None) for k, v in nets.losses.items()},
    }
    try:
        save_model(tmp / NETS, {**_flat("gcn", nets.gcn), **_flat("tcn", nets.tcn)}, meta)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def load_nets(model_dir: Path, fingerprint: str, config: VerifyConfig) -> TrainedNets | None:
    """The nets saved for this physical run and training config, or None."""
    entry = model_dir / model_key(fingerprint, config)
    if not model_paths(entry / NETS)[1].is_file():
        return None
    return _load_entry(entry, fingerprint, config)


def _load_entry(entry: Path, fingerprint: str, config: VerifyConfig) -> TrainedNets:
    """Load one saved entry directory, which must hold nets trained on the run with
    ``fingerprint`` under ``config``; raises :class:`StoreError` when it is unusable."""
    tensors_path, meta_path = model_paths(entry / NETS)
    try:
        tensors, meta = load_model(entry / NETS, expect={"kind": KIND})
    except ModelFileError as exc:
        raise StoreError(str(exc)) from exc
    try:
        saved_cfg = VerifyConfig.from_json(meta["config"])
        phys = meta["physical"]
        basis = PhysicalBasis.from_json(meta["basis"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{meta_path}: missing or bad field ({exc})") from exc
    if phys.get("fingerprint") != fingerprint:
        raise StoreError(f"{meta_path}: trained on a different physical recording")
    if saved_cfg.training_key() != config.training_key():
        raise StoreError(f"{meta_path}: trained with different settings")
    gcn, tcn = new_nets(saved_cfg)
    try:
        for stage, nets in (("gcn", gcn), ("tcn", tcn)):
            for k, net in enumerate(nets):
                net.load_state_dict(_unflat(tensors, stage, k), strict=True)
                net.eval()
    except Exception as exc:  # noqa: BLE001 - shape/key mismatch
        raise StoreError(f"{tensors_path}: cannot load weights ({exc})") from exc
    return TrainedNets(
        gcn, tcn, basis, config, fingerprint, str(phys.get("recording", "")),
        str(phys.get("source_hash", "")), {k: list(v) for k, v in meta.get("losses", {}).items()},
    )
