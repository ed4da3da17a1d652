"""Write a calibrated copy of a workshop file: the fitted values replace the stations'
``processes``, ``setup_s``, ``mtbf_h`` and ``mttr_min`` lines in place, so comments, layout
and everything else of the file stay as the engineer wrote them."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from twin.calibration.fit import StationFit

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_HEADER = re.compile(r"^\s*\[")
_ID = re.compile(r'^\s*id\s*=\s*"([^"]*)"')


def _key(k: str) -> str:
    return k if _BARE.match(k) and not k.isdigit() else f'"{k}"'


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "inf"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def station_lines(fit: StationFit) -> dict[str, str]:
    """key -> TOML line for the values the calibrated model uses."""
    procs = [(p.name.split(".", 1)[1], p.value) for p in fit.params
             if p.name.startswith("processes.") and p.value is not None]
    out = {"processes": "processes = { " + ", ".join(f"{_key(k)} = {_num(v)}" for k, v in procs) + " }"}
    for name in ("setup_s", "mtbf_h", "mttr_min"):
        p = fit.param(name)
        if p.value is not None and not (name == "mtbf_h" and not math.isfinite(p.value)):
            out[name] = f"{name} = {_num(p.value)}"
    return out


def write_calibrated(src: Path, dst: Path, fits: Sequence[StationFit], header: str) -> None:
    """Copy ``src`` to ``dst`` with the fitted station values (see the module docstring)."""
    by_id = {f.station: f for f in fits}
    lines = src.read_text(encoding="utf-8").splitlines()
    out: list[str] = [f"# {h}" for h in header.splitlines()]
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() != "[[station]]":
            out.append(line)
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not _HEADER.match(lines[j]):
            j += 1
        block = lines[i:j]
        sid = next((m[1] for m in map(_ID.match, block) if m), None)
        fit = by_id.get(sid or "")
        if fit is not None:
            repl = station_lines(fit)
            done: set[str] = set()
            new_block = []
            for b in block:
                key = b.split("=", 1)[0].strip() if "=" in b and not b.lstrip().startswith("#") else ""
                if key in repl:
                    new_block.append(repl[key])
                    done.add(key)
                else:
                    new_block.append(b)
            # keys the block did not have go after its last key line
            last_key = max(k for k, b in enumerate(new_block) if "=" in b and not b.lstrip().startswith("#"))
            extra = [repl[k] for k in repl if k not in done]
            new_block[last_key + 1:last_key + 1] = extra
            block = new_block
        out += block
        i = j
    dst.write_text("\n".join(out) + "\n", encoding="utf-8")
