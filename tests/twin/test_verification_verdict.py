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


def _verify_model(physical: Path, model: Path) -> dict:
    out = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "verify", "--physical", str(physical),
         "--model", str(model), "--json", "--no-cache"],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_faithful_model_passes(tmp_path: Path) -> None:
    """The physical shop is the model itself (another seed): the calibrated verdict
    passes and flags nothing, although every characteristic is compared."""
    phys = tmp_path / "faithful.twinlog"
    simulate_to_recording(load_workshop(WS), phys, hours=3.0, seed=12)
    rep = _verify_model(phys, WS)
    assert rep["passed"] is True
    assert rep["flagged"] == {"stations": [], "agvs": []}
    assert max(rep["deviation"].values()) <= rep["family_limit"]
    # ... and the limit is the calibrated one, not an arbitrary number
    assert 0.3 < rep["family_limit"] < 1.0


def test_model_with_setup_times_three_times_too_short_fails(tmp_path: Path) -> None:
    """The physical S04 sets up 3x as long as the model says: FAILED, S04 flagged first,
    explained by its setup time."""
    text = WS.read_text()
    blocks = text.split("[[station]]")
    i = next(k for k, b in enumerate(blocks) if 'id = "S04"' in b)
    blocks[i] = blocks[i].replace("setup_s = 480", "setup_s = 1440")
    slow_ws = tmp_path / "machining13.toml"
    slow_ws.write_text("[[station]]".join(blocks))
    phys = tmp_path / "setup.twinlog"
    # seed 16: the physical S04 sets up 3 times in the 3 h (seed 13: never, nothing to see)
    simulate_to_recording(load_workshop(slow_ws), phys, hours=3.0, seed=16)
    rep = _verify_model(phys, WS)
    assert rep["passed"] is False
    assert rep["flagged"]["stations"][0] == "S04"
    assert "setup time in the model" in rep["explanations"]["S04"]
    assert "below the physical shop" in rep["explanations"]["S04"]


def test_a_ratio_from_few_events_gets_a_wide_threshold() -> None:
    """The run mean of a carried-forward ratio series weighs events unevenly: one setup
    in the first bin stands for the whole run (squared weight 1, the threshold of a single
    event), four evenly spread operations for a quarter each (1/4), and bins before the
    first event (ratio 1 by convention) carry no sampling error."""
    import numpy as np

    from twin.verification.verifier import carried_mean_weight_sq

    counts = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [2, 0, 0, 2]])
    w2 = carried_mean_weight_sq(counts, span=1, stride=1)
    # last row: the two events of bin 0 stand for bins 0-2 (3/8 each), those of bin 3 for
    # bin 3 (1/8 each): 2 (3/8)² + 2 (1/8)² = 0.3125, more than 4 evenly spread events
    assert w2 == pytest.approx([0.25, 1.0, 0.25, 0.0, 0.3125])
    # windows of two bins every bin: [0,1] [1,2] [2,3] -> the lone event at bin 0 in all
    assert carried_mean_weight_sq(np.array([[1, 0, 0, 0]]), span=2, stride=1) == pytest.approx([1.0])
