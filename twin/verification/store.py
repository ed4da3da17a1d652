"""Saved verification nets: safetensors weights + a JSON description, never pickle.

A trained pair of nets lives in ``<model_dir>/<key>/`` where ``key`` identifies the physical
recording (fingerprint of its events) and the training settings::

    verify.json        format, config, physical recording (path, fingerprint, workshop hash),
                       stations / processes / reference cycle times / standardisation,
                       training losses, sha256 of the weight files
    gcn.safetensors    StationGCN state dict
    tcn.safetensors    StationTCN state dict

:func:`load_nets` returns None when nothing matching is saved; a damaged or tampered entry
(hash mismatch, bad JSON, wrong tensor shapes) raises :class:`StoreError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors.torch import load_file, save_file

from twin.verification.config import VerifyConfig
from twin.verification.data import VerificationError

if TYPE_CHECKING:
    from twin.verification.verifier import TrainedNets

FORMAT = "dmw-twin-verify-nets/1"
META = "verify.json"


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

    stamp = f"{FORMAT}\n{','.join(FEATURES)}\n{fingerprint}\n{config.training_key()}"
    return hashlib.sha256(stamp.encode()).hexdigest()[:24]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _flat(nets: list[Any]) -> dict[str, Any]:
    """State dicts of the fold nets as one flat tensor dict: ``fold0.<param>``, ..."""
    return {
        f"fold{k}.{name}": t.detach().contiguous()
        for k, net in enumerate(nets)
        for name, t in net.state_dict().items()
    }


def _unflat(tensors: dict[str, Any], k: int) -> dict[str, Any]:
    prefix = f"fold{k}."
    return {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}


def save_nets(model_dir: Path, nets: TrainedNets) -> Path:
    """Write ``nets`` under ``model_dir`` (atomically: a complete entry or none)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    final = model_dir / model_key(nets.fingerprint, nets.config)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=model_dir))
    save_file(_flat(nets.gcn), tmp / "gcn.safetensors")
    save_file(_flat(nets.tcn), tmp / "tcn.safetensors")
    meta: dict[str, Any] = {
        "format": FORMAT,
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
        "sha256": {n: _sha(tmp / n) for n in ("gcn.safetensors", "tcn.safetensors")},
    }
    (tmp / META).write_text(json.dumps(meta, indent=1))
    if final.exists():
        for p in final.iterdir():
            p.unlink()
        final.rmdir()
    tmp.rename(final)
    return final


def load_nets(model_dir: Path, fingerprint: str, config: VerifyConfig) -> TrainedNets | None:
    """The nets saved for this physical run and training config, or None."""
    entry = model_dir / model_key(fingerprint, config)
    if not (entry / META).is_file():
        return None
    return _load_entry(entry, fingerprint, config)


def _load_entry(entry: Path, fingerprint: str, config: VerifyConfig) -> TrainedNets:
    """Load one saved entry directory, which must hold nets trained on the run with
    ``fingerprint`` under ``config``; raises :class:`StoreError` when it is unusable."""
    from twin.verification.verifier import PhysicalBasis, TrainedNets, _new_nets

    meta_path = entry / META
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{meta_path}: unreadable ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StoreError(f"{meta_path}: not a saved verification net ({FORMAT})")
    try:
        saved_cfg = VerifyConfig.from_json(meta["config"])
        phys = meta["physical"]
        basis = PhysicalBasis.from_json(meta["basis"])
        hashes = meta["sha256"]
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{meta_path}: missing or bad field ({exc})") from exc
    if phys.get("fingerprint") != fingerprint:
        raise StoreError(f"{meta_path}: trained on a different physical recording")
    if saved_cfg.training_key() != config.training_key():
        raise StoreError(f"{meta_path}: trained with different settings")
    gcn, tcn = _new_nets(saved_cfg)
    for name, nets in (("gcn.safetensors", gcn), ("tcn.safetensors", tcn)):
        path = entry / name
        if not path.is_file():
            raise StoreError(f"{path}: missing")
        if _sha(path) != hashes.get(name):
            raise StoreError(f"{path}: content does not match its recorded sha256 (tampered?)")
        try:
            tensors = load_file(str(path))
            for k, net in enumerate(nets):
                net.load_state_dict(_unflat(tensors, k), strict=True)
                net.eval()
        except Exception as exc:  # noqa: BLE001 - shape/key mismatch, corrupt header
            raise StoreError(f"{path}: cannot load weights ({exc})") from exc
    return TrainedNets(
        gcn, tcn, basis, config, fingerprint, str(phys.get("recording", "")),
        str(phys.get("source_hash", "")), {k: list(v) for k, v in meta.get("losses", {}).items()},
    )
