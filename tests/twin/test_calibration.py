"""calibrate recovers a simulated shop's own parameters within their confidence intervals."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from twin.calibration import station_histories
from twin.events import Event
from twin.recording import RecordingWriter
from twin.simulator import Simulator
from twin.workshop import load_workshop

ROOT = Path(__file__).resolve().parents[2]
HOURS = 30.0


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """machining13 with MTBF 3 h (so that 30 simulated hours hold ~8 breakdowns per
    station), simulated, recorded, calibrated by the command."""
    from main import main

    d = tmp_path_factory.mktemp("cal")
    text = (ROOT / "assets" / "workshops" / "machining13.toml").read_text()
    ws_path = d / "m13.toml"
    ws_path.write_text(re.sub(r"mtbf_h = \d+(\.\d+)?", "mtbf_h = 3", text))
    ws = load_workshop(ws_path)
    rec = d / "sim.twinlog"
    with RecordingWriter(rec, meta={"workshop": ws.name}) as w:
        Simulator(ws, seed=11).run(HOURS, sink=w.append)
    out, rep = d / "m13-cal.toml", d / "report.json"
    assert main(["calibrate", "--recording", str(rec), "--workshop", str(ws_path), "--out", str(out),
                 "--report", str(rep), "--confidence", "0.999"]) == 0
    return ws, load_workshop(out), json.loads(rep.read_text()), out


def _truth(ws, station: str, name: str) -> float:
    s = ws.stations[station]
    if name.startswith("processes."):
        return s.processes[name.split(".", 1)[1]]
    return getattr(s, name)


def test_every_fitted_value_brackets_the_workshop_value(calibrated) -> None:
    ws, _, rep, _ = calibrated
    checked = misses = 0
    for sid, st in rep["stations"].items():
        for p in st["params"]:
            if p["status"] != "fitted":
                continue
            truth = _truth(ws, sid, p["name"])
            lo, hi = p["ci"]
            checked += 1
            misses += not (lo <= truth <= (math.inf if hi is None else hi))
            assert p["n"] >= 5 and p["basis_s"] > 0
    # 13 stations: 30 cycle times, 12 setups (the washer has none), 13 MTBF, 13 MTTR (a few
    # of those with < 5 breakdowns are kept); at 99.9 % each, every interval should hold the
    # true value (family-wise ~93 %)
    n_cycle = sum(p["name"].startswith("processes.") and p["status"] == "fitted"
                  for st in rep["stations"].values() for p in st["params"])
    assert n_cycle == 30 and checked >= 60
    assert misses == 0
    # and the fits are tight where data is plentiful: cycle times within 3 %
    for sid, st in rep["stations"].items():
        for p in st["params"]:
            if p["name"].startswith("processes."):
                assert p["fitted"] == pytest.approx(_truth(ws, sid, p["name"]), rel=0.03)


def test_calibrated_workshop_file_holds_the_fitted_values(calibrated) -> None:
    ws, cal, rep, out = calibrated
    s07 = rep["stations"]["S07"]["params"]
    fitted = {p["name"]: p["value"] for p in s07}
    assert cal.stations["S07"].processes["drill_bracket"] == pytest.approx(fitted["processes.drill_bracket"], rel=1e-3)
    assert cal.stations["S07"].mtbf_h == pytest.approx(fitted["mtbf_h"], rel=1e-2)
    assert cal.stations["S07"].mttr_min == pytest.approx(fitted["mttr_min"], rel=1e-2)
    # the washer has no setups: its model value is kept and marked so
    wash_setup = next(p for p in rep["stations"]["S12"]["params"] if p["name"] == "setup_s")
    assert wash_setup["status"] == "kept" and wash_setup["n"] == 0 and "only 0" in wash_setup["note"]
    assert cal.stations["S12"].setup_s == ws.stations["S12"].setup_s
    # everything but the station values is the engineer's file as written
    text = out.read_text()
    assert text.startswith("# Calibrated by `dmw-twin calibrate`")
    assert "# Lathes (south row, facing the south aisle)" in text
    assert cal.products.keys() == ws.products.keys() and cal.nodes.keys() == ws.nodes.keys()


def test_station_history_of_a_real_machine() -> None:
    """A machine's history as calibration reads it from the shop analytics: a feed hold in
    the middle of a program is one program run, off time is not exposure to failures."""
    def st(t: float, state: str, wip: str = "", proc: str = "") -> Event:
        return Event(t=t, entity="M1", kind="station", state=state, station="M1", wip=wip, process=proc)

    evs = [st(0, "off"), st(100, "idle"), st(200, "processing", "", "P1"), st(260, "blocked", "", "P1"),
           st(300, "processing", "", "P1"), st(350, "idle"), st(400, "down"), st(460, "idle"),
           st(500, "off"), st(600, "processing", "", "P1"), st(700, "blocked", "", "P1")]
    ep = station_histories(evs, 0.0, 1000.0, ["M1", "M2"])["M1"]
    # one program run, the interruption left out; the run still on hold at the end is not a cycle
    assert ep.operations == [("P1", 110.0)]
    assert ep.downs == [(400.0, 460.0)]
    assert ep.time_in["off"] == 100.0 + 100.0 and ep.on_s == 800.0 and ep.up_s == 740.0
    assert station_histories(evs, 0.0, 1000.0, ["M1", "M2"])["M2"].on_s == 0.0  # never reported
