"""Integrity-checked model files: safetensors tensors + a JSON description, never pickle.

One saved model is two files side by side::

    <path>.safetensors   the tensors (named, any dtype/shape safetensors supports)
    <path>.json          the caller's meta, plus "format", "version", "bytes" and the
                         "sha256" of the tensors file

:func:`load_model` reads the JSON, checks the tensors file's size and sha256 against it
*before* parsing a single tensor, and checks the meta keys the caller expects; anything
wrong raises :class:`ModelFileError` whose message names the file and the problem
(missing, truncated, checksum mismatch, not a model file, different meta). Files a user
opens are never unpickled.

Used by verification's net store, the model warehouse and evolution. Torch is imported
only inside the functions that need it: a caller that saves and loads numpy arrays
(``load_model(..., numpy=True)``) never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

#: Value of the "format" key of every model JSON.
FORMAT = "dmw-twin-model"
#: Layout version of the JSON; a reader refuses a newer one.
VERSION = 1
#: Keys the store writes into the JSON itself; caller meta may not use them.
RESERVED = ("format", "version", "bytes", "sha256")

TENSORS_SUFFIX = ".safetensors"
META_SUFFIX = ".json"


class ModelFileError(ValueError):
    """A model file that cannot be used; ``str(err)`` names the file and the problem."""


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """(tensors file, JSON file) of the model saved at ``path`` (suffix-less base path;
    a trailing ``.safetensors`` or ``.json`` is ignored)."""
    base = Path(path)
    if base.suffix in (TENSORS_SUFFIX, META_SUFFIX):
        base = base.with_suffix("")
    return base.with_name(base.name + TENSORS_SUFFIX), base.with_name(base.name + META_SUFFIX)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _serialise(tensors: Mapping[str, Any]) -> bytes:
    """The safetensors bytes of ``tensors`` (torch tensors and/or numpy arrays)."""
    if not tensors:
        raise ValueError("a model needs at least one tensor")
    if all(isinstance(v, np.ndarray) for v in tensors.values()):
        from safetensors.numpy import save

        return save({k: np.ascontiguousarray(v) for k, v in tensors.items()})
    import torch
    from safetensors.torch import save as save_torch

    out: dict[str, torch.Tensor] = {}
    for k, v in tensors.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(np.ascontiguousarray(v))
        elif not isinstance(v, torch.Tensor):
            raise TypeError(f"tensor {k!r}: expected a torch.Tensor or numpy array, got {type(v).__name__}")
        out[k] = v.detach().cpu().contiguous()
    return save_torch(out)


def save_model(
    path: str | Path,
    tensors: Mapping[str, torch.Tensor | np.ndarray],
    meta: Mapping[str, Any],
) -> str:
    """Write ``<path>.safetensors`` and ``<path>.json`` (``meta`` + format, version, size
    and sha256 of the tensors file); returns that sha256. ``meta`` must be JSON-serialisable
    and may not use the keys in :data:`RESERVED`. Each file is replaced atomically."""
    clash = sorted(set(meta) & set(RESERVED))
    if clash:
        raise ValueError(f"meta may not use the store's own keys: {', '.join(clash)}")
    tensors_path, meta_path = model_paths(path)
    data = _serialise(tensors)
    sha = hashlib.sha256(data).hexdigest()
    doc = {**meta, "format": FORMAT, "version": VERSION, "bytes": len(data), "sha256": sha}
    text = json.dumps(doc, indent=1, allow_nan=False)  # fails before anything is written
    tensors_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(tensors_path, data)
    _write_atomic(meta_path, text.encode())
    return sha


def read_meta(path: str | Path) -> dict[str, Any]:
    """The JSON description of the model at ``path`` (checked to be one of ours), without
    touching the tensors."""
    _, meta_path = model_paths(path)
    if not meta_path.is_file():
        raise ModelFileError(f"{meta_path}: missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{meta_path}: unreadable ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{meta_path}: not a DMW Twin model file (format {FORMAT!r} expected)")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ModelFileError(f"{meta_path}: model file version {version!r}, this program reads up to {VERSION}")
    if not isinstance(meta.get("sha256"), str) or not isinstance(meta.get("bytes"), int):
        raise ModelFileError(f"{meta_path}: no sha256/size of the tensors file")
    return meta


def load_model(
    path: str | Path,
    *,
    expect: Mapping[str, Any] | None = None,
    numpy: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tensors and meta of the model saved at ``path``.

    Checks, in order: the JSON is ours, the ``expect`` keys match (else the error names
    the key), the tensors file exists, has the recorded size and sha256 — only then are
    the tensors parsed (from the very bytes that were hashed). Returns torch tensors, or
    numpy arrays with ``numpy=True`` (no torch import). The meta returned includes the
    store's keys (format, version, bytes, sha256).
    """
    meta = read_meta(path)
    tensors_path, meta_path = model_paths(path)
    for key, want in (expect or {}).items():
        if key not in meta:
            raise ModelFileError(f"{meta_path}: no {key!r} (expected {want!r})")
        if meta[key] != want:
            raise ModelFileError(f"{meta_path}: {key} is {meta[key]!r}, expected {want!r}")
    try:
        data = tensors_path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{tensors_path}: missing") from None
    except OSError as exc:
        raise ModelFileError(f"{tensors_path}: unreadable ({exc})") from exc
    if len(data) < meta["bytes"]:
        raise ModelFileError(f"{tensors_path}: truncated ({len(data)} of {meta['bytes']} bytes)")
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise ModelFileError(f"{tensors_path}: checksum mismatch (content does not match the sha256 "
                             f"recorded in {meta_path.name}; damaged or tampered)")
    try:
        if numpy:
            from safetensors.numpy import load as load_np

            tensors: dict[str, Any] = load_np(data)
        else:
            from safetensors.torch import load as load_pt

            tensors = load_pt(data)
    except Exception as exc:  # noqa: BLE001 - a header safetensors cannot parse
        raise ModelFileError(f"{tensors_path}: not a safetensors file ({exc})") from exc
    return tensors, meta
