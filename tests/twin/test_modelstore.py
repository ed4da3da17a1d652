"""twin.modelstore: saved tensors come back exactly; damaged or foreign files are refused
with a message naming the file and the problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from twin.modelstore import ModelFileError, file_sha256, load_model, save_model


def _save(tmp_path: Path) -> tuple[Path, str]:
    base = tmp_path / "m" / "station_model"
    sha = save_model(base, {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3),
                            "b": np.array([1.5, -2.0])}, {"kind": "test-net", "stations": ["S1", "S2"]})
    return base, sha


def test_round_trip_keeps_tensors_meta_and_checksum(tmp_path: Path) -> None:
    base, sha = _save(tmp_path)
    assert sha == file_sha256(base.with_name("station_model.safetensors"))
    tensors, meta = load_model(base, expect={"kind": "test-net"})
    assert tensors["w"].dtype == torch.float32 and tensors["w"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert tensors["b"].dtype == torch.float64 and tensors["b"].tolist() == [1.5, -2.0]
    assert meta["stations"] == ["S1", "S2"] and meta["sha256"] == sha and meta["version"] == 1
    arrays, _ = load_model(base, numpy=True)
    assert isinstance(arrays["b"], np.ndarray) and arrays["w"][1, 2] == 5.0


def test_flipped_byte_is_refused_naming_the_file(tmp_path: Path) -> None:
    base, _ = _save(tmp_path)
    weights = base.with_name("station_model.safetensors")
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"station_model\.safetensors: checksum mismatch"):
        load_model(base)


def test_truncated_missing_and_foreign_files_are_refused(tmp_path: Path) -> None:
    base, _ = _save(tmp_path)
    weights = base.with_name("station_model.safetensors")
    meta_file = base.with_name("station_model.json")
    full = weights.read_bytes()
    weights.write_bytes(full[:40])
    with pytest.raises(ModelFileError, match=rf"station_model\.safetensors: truncated \(40 of {len(full)} bytes\)"):
        load_model(base)
    weights.unlink()
    with pytest.raises(ModelFileError, match=r"station_model\.safetensors: missing"):
        load_model(base)
    weights.write_bytes(full)
    with pytest.raises(ModelFileError, match=r"kind is 'test-net', expected 'other-net'"):
        load_model(base, expect={"kind": "other-net"})
    meta_file.write_text(json.dumps({"format": "someone-else", "sha256": "x"}))
    with pytest.raises(ModelFileError, match=r"station_model\.json: not a DMW Twin model file"):
        load_model(base)
    meta_file.unlink()
    with pytest.raises(ModelFileError, match=r"station_model\.json: missing"):
        load_model(base)


def test_numpy_only_callers_do_not_import_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from twin.modelstore import save_model, load_model\n"
        f"save_model({str(tmp_path / 'np')!r}, {{'a': np.ones(3)}}, {{'kind': 'k'}})\n"
        f"t, m = load_model({str(tmp_path / 'np')!r}, numpy=True)\n"
        "assert t['a'].sum() == 3.0\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"
