"""Calibrated verdict: a clearly wrong model fails and is explained; the JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from twin.scenario import Disturbance, Scenario
from twin.sim_cli import simulate_to_recording
from twin.workshop import load_workshop

ROOT = Path(__file__).resolve().parents[2]
WS = ROOT / "assets" / "workshops" / "machining13.toml"
CFG = '{"gcn_epochs": 30, "tcn_epochs": 30}'


@pytest.fixture(scope="module")
def physical(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("verdict") / "p.twinlog"
    ws = load_workshop(WS)
    slow = Scenario("slow", None, [Disturbance(0, "slowdown", "S05", 0.0, factor=1.6)])
    simulate_to_recording(ws, out, hours=3.0, seed=11, scenario=slow)
    return out


def test_wrong_model_fails_with_the_slowed_station_explained(physical: Path) -> None:
    """The physical S05 is 60 % slower than the model: verify --model fails, flags S05
    first and says its cycle time differs."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "verify", "--physical", str(physical),
         "--model", str(WS), "--json", "--no-cache"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["passed"] is False
    assert rep["mode"] == "calibrated"
    assert rep["flagged"]["stations"][0] == "S05"
    assert "cycle time" in rep["explanations"]["S05"]
    assert set(rep["flagged"]) == {"stations", "agvs"}
    assert rep["agvs"] is not None and "AGV1" in rep["agvs"]["per_agv"]
