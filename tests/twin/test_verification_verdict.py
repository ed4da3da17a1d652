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
    assert set(rep["flagged"]) == {"stations", "agvs", "shop"}
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
    assert rep["flagged"] == {"stations": [], "agvs": [], "shop": []}
    assert max(rep["deviation"].values()) <= rep["family_limit"]
    # ... and the limit is the calibrated one, not an arbitrary number
    assert 0.5 < rep["family_limit"] < 1.5


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


def test_model_whose_station_breaks_down_far_less_often_fails(tmp_path: Path) -> None:
    """The physical S03 breaks down 100x as often as the model says (MTBF 0.6 h instead
    of 60 h): three breakdowns in the 3 h shift where the order-synchronised model has
    none. Small nets: FAILED, S03 flagged first, explained by its breakdown count."""
    from twin.verification import Verifier, VerifyConfig
    from twin.verification.cli import synchronised_run
    from twin.verification.data import load_run

    text = WS.read_text()
    blocks = text.split("[[station]]")
    i = next(k for k, b in enumerate(blocks) if 'id = "S03"' in b)
    assert "mtbf_h = 60\n" in blocks[i]
    blocks[i] = blocks[i].replace("mtbf_h = 60\n", "mtbf_h = 0.6\n")
    fragile = tmp_path / "machining13.toml"
    fragile.write_text("[[station]]".join(blocks))
    phys = tmp_path / "breakdowns.twinlog"
    simulate_to_recording(load_workshop(fragile), phys, hours=3.0, seed=32)
    prun = load_run(phys)
    vrun = load_run(synchronised_run(phys, WS, seed=1))
    assert [d.station for d in prun.downtimes].count("S03") == 3  # what the test is about
    assert "S03" not in {d.station for d in vrun.downtimes}
    ver = Verifier(prun, config=VerifyConfig(gcn_epochs=30, tcn_epochs=30))
    ver.train()
    rep = ver.score(vrun)
    assert rep.passed is False
    assert rep.flagged_stations[0] == "S03"
    # the breakdown count alone fails it: S03's down share alone (~0.3 h) would not, nor
    # with its longest repair (62 min) left out. (The sentence names S03's largest
    # deviation: here its cycle ratio, as the physical S03, down most of the shift, ran
    # only turn_flange and the model's turn_shaft is timed against that.)
    k = [n.split(":", 1)[1] for n in rep.spatial.names].index("breakdowns")
    assert rep.spatial.ratios["S03"][k] > rep.family_limit
    assert rep.temporal.ratios["S03"][k] > rep.family_limit


def test_breakdown_threshold_is_not_widened_by_the_breakdowns_under_test() -> None:
    """The Poisson error of a station's breakdown rate is pooled over the *other*
    stations: S03's own breakdowns leave its threshold as it was and widen the others'."""
    import numpy as np

    from twin.analytics import Downtime
    from twin.verification.data import ShopRun
    from twin.verification.verifier import breakdown_rate_sd

    stations = ("S01", "S02", "S03")
    quiet = ShopRun("p", "", "", stations, (), 0.0, 8 * 3600.0)
    virt = ShopRun("v", "", "", stations, (), 0.0, 8 * 3600.0,
                   downtimes=[Downtime("S01", 100.0, 400.0)])
    fragile = ShopRun("p", "", "", stations, (), 0.0, 8 * 3600.0,
                      downtimes=[Downtime("S03", 1000.0 * k, 1000.0 * k + 300.0) for k in range(1, 4)])
    sd0 = breakdown_rate_sd(quiet, virt)
    sd1 = breakdown_rate_sd(fragile, virt)
    assert sd1[2] == pytest.approx(sd0[2])
    assert np.all(sd1[:2] > sd0[:2])
    # two other stations, one breakdown among them plus one prior over 2 x 16 h of exposure:
    # rate 2 / (2 * 57600 s); sd of the rate difference of two 8 h runs, per hour
    assert sd0[2] == pytest.approx(3600 * np.sqrt(2 / (2 * 57600) * 2 / 28800))


def test_two_breakdowns_more_at_one_station_pass_a_faithful_shift_three_fail() -> None:
    """One or two breakdowns more at a station in an 8 h shift are what a faithful model
    shows now and then (two more at some machining13 station in ~6 % of shifts); three
    more are evidence. The breakdown threshold is at least the rate of 3 breakdowns a
    shift, so the count's deviation is 2/3 (under the family limit) for two more and 1
    for three."""
    from twin.analytics import Downtime
    from twin.verification.data import ShopRun
    from twin.verification.verdict import FAMILY_LIMIT
    from twin.verification.verifier import breakdown_threshold

    stations = tuple(f"S{k:02d}" for k in range(1, 14))
    hours = 8.0
    quiet = ShopRun("v", "", "", stations, (), 0.0, hours * 3600.0,
                    downtimes=[Downtime("S05", 5000.0, 5600.0)])

    def deviation(n: int) -> float:
        phys = ShopRun("p", "", "", stations, (), 0.0, hours * 3600.0,
                       downtimes=[Downtime("S03", 3000.0 * k, 3000.0 * k + 600.0) for k in range(1, n + 1)])
        thr = breakdown_threshold(phys, quiet, z=4.0)[stations.index("S03")]
        return (n / hours) / thr

    assert deviation(2) == pytest.approx(2 / 3, rel=0.02)
    assert deviation(2) < FAMILY_LIMIT < deviation(3)
