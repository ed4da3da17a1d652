"""Scenarios: the file format and its errors, and that each disturbance moves the simulated
shop in the right direction (same seed with and without it)."""

from __future__ import annotations

import math
import statistics
from functools import lru_cache
from pathlib import Path

import pytest

from twin.events import Event
from twin.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from twin.simulator import SimResult, Simulator
from twin.workshop import Workshop, load_workshop

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "assets" / "workshops" / "machining13.toml"
SEED = 5
HOURS = 8.0


@lru_cache(maxsize=1)
def shop() -> Workshop:
    return load_workshop(SHOP)


def simulate(text: str | None, tmp_path: Path | None = None) -> tuple[list[Event], SimResult]:
    scenario = None
    if text is not None:
        assert tmp_path is not None
        p = tmp_path / "scenario.toml"
        p.write_text(text)
        scenario = load_scenario(p, shop())
    events: list[Event] = []
    result = Simulator(shop(), scenario, seed=SEED).run(HOURS, sink=events.append)
    return events, result


@lru_cache(maxsize=1)
def baseline() -> tuple[list[Event], SimResult]:
    return simulate(None)


def processing_durations(events: list[Event], station: str) -> list[tuple[float, float]]:
    """(start, duration) of completed operations of ``station``, down time included."""
    out = []
    start: float | None = None
    wip = ""
    for e in events:
        if e.entity != station:
            continue
        if start is not None and e.state not in ("processing", "down"):
            out.append((start, e.t - start))
            start = None
        if e.state == "processing" and (start is None or e.wip != wip):
            start, wip = e.t, e.wip
    return out


def agv_speeds(events: list[Event], agv: str, t0: float, t1: float) -> list[float]:
    """Speeds [m/s] between consecutive position reports of ``agv`` while moving."""
    speeds = []
    prev: Event | None = None
    for e in events:
        if e.entity != agv:
            continue
        if prev is not None and prev.state == "moving" and t0 <= prev.t < t1 and e.t > prev.t:
            assert e.x is not None and prev.x is not None and e.y is not None and prev.y is not None
            speeds.append(math.hypot(e.x - prev.x, e.y - prev.y) / (e.t - prev.t))
        prev = e
    return speeds


def before(events: list[Event], t: float) -> list[Event]:
    return [e for e in events if e.t < t]


# -- the file format ------------------------------------------------------------------


def test_bundled_scenarios_load_against_machining13() -> None:
    files = sorted((ROOT / "assets" / "scenarios").glob("*.toml"))
    assert len(files) >= 5
    kinds = set()
    for f in files:
        sc = load_scenario(f, shop())
        assert sc.disturbances and sc.path == f
        kinds |= {d.kind for d in sc.disturbances}
    assert kinds == {"slowdown", "degradation", "breakdown", "agv_slowdown", "order_surge"}


def test_fields_are_read_in_seconds() -> None:
    sc = parse_scenario({"disturbance": [
        {"kind": "breakdown", "target": "S02", "start_h": 1.5, "duration_min": 30},
        {"kind": "slowdown", "target": "S01", "factor": 1.2, "start_h": 2, "duration_h": 1},
    ]})
    b, s = sc.disturbances
    assert (b.start_s, b.end_s) == (5400.0, 7200.0)
    assert (s.start_s, s.end_s, s.factor) == (7200.0, 10800.0, 1.2)
    assert sc.station_factor("S01", 7199.0) == 1.0
    assert sc.station_factor("S01", 7200.0) == 1.2
    assert sc.station_factor("S01", 10800.0) == 1.0


def test_degradation_grows_linearly_and_factors_multiply() -> None:
    sc = parse_scenario({"disturbance": [
        {"kind": "degradation", "target": "S05", "rate_per_h": 0.1, "start_h": 2},
        {"kind": "slowdown", "target": "S05", "factor": 2.0, "start_h": 0},
    ]})
    assert sc.station_factor("S05", 3600.0) == pytest.approx(2.0)
    assert sc.station_factor("S05", 5 * 3600.0) == pytest.approx(2.0 * 1.3)
    assert sc.station_factor("S04", 5 * 3600.0) == 1.0


def test_surge_maps_unscaled_gaps_onto_the_surged_clock() -> None:
    sc = parse_scenario({"disturbance": [
        {"kind": "order_surge", "factor": 2.0, "start_h": 100 / 3600, "duration_h": 100 / 3600},
    ]})
    assert sc.advance_arrivals(50.0, 100.0) == pytest.approx(125.0)
    assert sc.advance_arrivals(150.0, 200.0) == pytest.approx(300.0)
    assert sc.advance_arrivals(300.0, 10.0) == pytest.approx(310.0)
    assert Scenario.empty().advance_arrivals(5.0, 10.0) == 15.0


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('kind = "meltdown"\ntarget = "S01"\nstart_h = 0',
         "disturbance[1]: unknown kind 'meltdown'"),
        ('kind = "slowdown"\ntarget = "S01"\nstart_h = 0',
         "disturbance[1] (slowdown): missing key(s) factor"),
        ('kind = "breakdown"\ntarget = "S01"\nstart_h = 1\nduration_min = 5\nfactor = 2',
         "disturbance[1] (breakdown): unknown key(s) factor"),
        ('kind = "slowdown"\ntarget = "S01"\nfactor = 0\nstart_h = 0',
         "disturbance[1] (slowdown).factor: must be > 0"),
        ('kind = "slowdown"\ntarget = "S01"\nfactor = 1.2\nstart_h = -1',
         "disturbance[1] (slowdown).start_h: must not be negative"),
        ('kind = "order_surge"\nfactor = 2\nstart_h = "soon"\nduration_h = 1',
         "disturbance[1] (order_surge).start_h: must be a finite number"),
        ('kind = "slowdown"\ntarget = "S99"\nfactor = 1.2\nstart_h = 0',
         "disturbance[1] (slowdown): unknown station 'S99' in workshop 'machining13'"),
        ('kind = "agv_slowdown"\ntarget = "S01"\nfactor = 1.2\nstart_h = 0',
         "disturbance[1] (agv_slowdown): unknown AGV 'S01' in workshop 'machining13'"),
    ],
)
def test_errors_name_file_and_table(tmp_path: Path, table: str, expected: str) -> None:
    p = tmp_path / "bad.toml"
    good = '[[disturbance]]\nkind = "slowdown"\ntarget = "S01"\nfactor = 1.1\nstart_h = 0\n'
    p.write_text(f"{good}\n[[disturbance]]\n{table}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(p, shop())
    assert str(info.value).startswith(f"{p}: ")
    assert expected in str(info.value)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path / "missing.toml")
    p = tmp_path / "syntax.toml"
    p.write_text("[[disturbance]]\nkind = slowdown\n")
    with pytest.raises(ScenarioError, match=r"syntax\.toml: invalid TOML: .*line 2"):
        load_scenario(p)
    p.write_text("[[disturbances]]\nkind = 'slowdown'\n")
    with pytest.raises(ScenarioError, match="unknown table"):
        load_scenario(p)


def test_simulator_refuses_a_scenario_for_another_shop() -> None:
    sc = parse_scenario({"disturbance": [
        {"kind": "breakdown", "target": "M7", "start_h": 0, "duration_min": 5}]})
    with pytest.raises(ScenarioError, match="unknown station 'M7'"):
        Simulator(shop(), sc)


# -- each disturbance moves the shop in the right direction ----------------------------


def test_slowdown_lengthens_operations_and_lowers_throughput(tmp_path: Path) -> None:
    base_events, base = baseline()
    events, slow = simulate(
        '[[disturbance]]\nkind = "slowdown"\ntarget = "S13"\nfactor = 1.5\nstart_h = 1\n',
        tmp_path)
    assert before(events, 3600.0) == before(base_events, 3600.0)
    base_ops = [d for s, d in processing_durations(base_events, "S13") if s >= 3600]
    slow_ops = [d for s, d in processing_durations(events, "S13") if s >= 3600]
    ratio = statistics.mean(slow_ops) / statistics.mean(base_ops)
    assert 1.35 < ratio < 1.65
    assert slow.completed_wip < base.completed_wip
    # the other stations keep their nominal pace
    assert slow.mean_processing_s["S01"] == pytest.approx(base.mean_processing_s["S01"], rel=0.1)


def test_degradation_makes_later_operations_slower(tmp_path: Path) -> None:
    base_events, base = baseline()
    events, worn = simulate(
        '[[disturbance]]\nkind = "degradation"\ntarget = "S05"\nrate_per_h = 0.2\nstart_h = 2\n',
        tmp_path)
    assert before(events, 7200.0) == before(base_events, 7200.0)
    ops = processing_durations(events, "S05")
    early = statistics.mean(d for s, d in ops if s < 7200)
    late = statistics.mean(d for s, d in ops if s >= 5 * 3600)
    assert late > 1.5 * early  # factor 1 + 0.2 x (>= 3 h) at the end
    assert worn.mean_processing_s["S05"] > base.mean_processing_s["S05"]
    assert worn.utilization["S05"] >= base.utilization["S05"]


def test_breakdown_keeps_the_station_down_for_its_duration(tmp_path: Path) -> None:
    base_events, base = baseline()
    events, broken = simulate(
        '[[disturbance]]\nkind = "breakdown"\ntarget = "S02"\nstart_h = 3\nduration_min = 90\n',
        tmp_path)
    start, end = 3 * 3600.0, 3 * 3600.0 + 90 * 60.0
    assert before(events, start) == before(base_events, start)
    s02 = [e for e in events if e.entity == "S02"]
    went_down = [e for e in s02 if e.state == "down" and e.t == start]
    assert went_down, "S02 must go down exactly at start_h"
    during = [e for e in s02 if start <= e.t < end]
    assert all(e.state == "down" for e in during)
    after = next(e for e in s02 if e.t >= end and e.state != "down")
    assert after.t == pytest.approx(end)
    assert broken.state_fractions["S02"]["down"] >= 90 * 60 / (HOURS * 3600) - 1e-9
    assert broken.utilization["S02"] < base.utilization["S02"]


def test_agv_slowdown_lengthens_that_agvs_trips_only(tmp_path: Path) -> None:
    base_events, _ = baseline()
    events, _ = simulate(
        '[[disturbance]]\nkind = "agv_slowdown"\ntarget = "AGV2"\nfactor = 1.6\nstart_h = 1\n',
        tmp_path)
    assert before(events, 3600.0) == before(base_events, 3600.0)
    early = agv_speeds(events, "AGV2", 0, 3000)
    late = agv_speeds(events, "AGV2", 3700, HOURS * 3600)
    assert statistics.median(early) == pytest.approx(1.0, rel=0.02)
    assert statistics.median(late) == pytest.approx(1.0 / 1.6, rel=0.02)
    assert max(late) <= 1.0 / 1.6 + 1e-6
    others = agv_speeds(events, "AGV3", 3700, HOURS * 3600)
    assert statistics.median(others) == pytest.approx(1.0, rel=0.02)


def test_order_surge_releases_more_orders_in_its_window(tmp_path: Path) -> None:
    base_events, base = baseline()
    events, surge = simulate(
        '[[disturbance]]\nkind = "order_surge"\nfactor = 2.5\nstart_h = 2\nduration_h = 3\n',
        tmp_path)
    assert before(events, 7200.0) == before(base_events, 7200.0)

    def released(evs: list[Event], t0: float, t1: float) -> int:
        return sum(1 for e in evs if e.kind == "order" and e.state == "released" and t0 <= e.t < t1)

    in_window_base = released(base_events, 7200, 18000)
    in_window = released(events, 7200, 18000)
    assert in_window > 1.5 * in_window_base
    assert surge.released_orders > base.released_orders
