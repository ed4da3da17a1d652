"""Order replay and start from a state: the virtual shop stands where the physical one stands."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from twin.initial_state import shop_state
from tests.twin.cli_support import main
from twin.recording import open_recording
from twin.replay import ReplayError, recorded_orders
from twin.scenario import load_scenario
from twin.sim_cli import simulate_to_recording
from twin.simulator import Simulator
from twin.workshop import load_workshop

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "assets" / "workshops" / "machining13.toml"
OTHER_SHOP = ROOT / "assets" / "workshops" / "machining8.toml"
RUSH = ROOT / "assets" / "scenarios" / "rush_orders.toml"
BREAKDOWN = ROOT / "assets" / "scenarios" / "lathe_breakdown.toml"
V1 = ROOT / "tests" / "fixtures" / "recordings" / "machining13-v1.twinlog"


@pytest.fixture(scope="module")
def workshop():  # type: ignore[no-untyped-def]
    return load_workshop(SHOP)


@pytest.fixture(scope="module")
def physical(tmp_path_factory: pytest.TempPathFactory, workshop) -> Path:  # type: ignore[no-untyped-def]
    """3.5 h of the physical shop with the lathe-2 breakdown (S02 down 3:00-4:30) and a rush."""
    out = tmp_path_factory.mktemp("phys") / "physical.twinlog"
    scenario = load_scenario(BREAKDOWN, workshop)
    simulate_to_recording(workshop, out, scenario=scenario, hours=3.5, seed=11)
    return out


def order_stream(rec_path: Path) -> list[tuple[float, str, str, float | None, float | None]]:
    rec = open_recording(rec_path)
    return [(e.t, e.entity, e.product, e.quantity, e.due)
            for e in rec.events(0, math.inf) if e.kind == "order" and e.state == "released"]


def parts_of(rec_path: Path) -> dict[str, str]:
    """wip id -> order id."""
    rec = open_recording(rec_path)
    return {e.entity: e.order for e in rec.events(0, math.inf) if e.kind == "wip"}


def test_order_replay_reproduces_the_physical_order_stream_exactly(
        tmp_path: Path, physical: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rush_phys = tmp_path / "rush.twinlog"
    assert main(["simulate", "--workshop", str(SHOP), "--scenario", str(RUSH), "--hours", "3",
                 "--seed", "4", "--out", str(rush_phys)]) == 0
    virtual = tmp_path / "virtual.twinlog"
    assert main(["simulate", "--workshop", str(SHOP), "--orders-from", str(rush_phys),
                 "--scenario", str(BREAKDOWN), "--rule", "spt", "--hours", "3", "--seed", "9",
                 "--out", str(virtual)]) == 0
    physical_orders = order_stream(rush_phys)
    assert len(physical_orders) > 10  # the rush released more than the initial four
    assert all(p and q and q >= 1 for _, _, p, q, _ in physical_orders)
    assert order_stream(virtual) == physical_orders
    assert parts_of(virtual) == parts_of(rush_phys)  # same part ids for the same orders
    assert open_recording(virtual).meta["orders_from"] == str(rush_phys.resolve())


def test_with_replayed_orders_the_seed_drives_only_the_noise(physical: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    orders = recorded_orders(open_recording(physical), workshop)
    runs = []
    for seed in (1, 2):
        events: list = []
        Simulator(workshop, seed=seed, orders=orders).run(3.5, sink=events.append)
        runs.append(events)
    released = [[(e.t, e.entity) for e in ev if e.kind == "order" and e.state == "released"]
                for ev in runs]
    assert released[0] == released[1]
    processing = [[e.t for e in ev if e.kind == "station" and e.state == "processing"][:40]
                  for ev in runs]
    assert processing[0] != processing[1]


def test_a_start_from_the_state_at_0_behaves_like_a_fresh_run(physical: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    rec = open_recording(physical)
    orders = recorded_orders(rec, workshop)
    fresh: list = []
    Simulator(workshop, seed=5, orders=orders).run(3.5, sink=fresh.append)
    state = shop_state(rec, 0.0, workshop)
    assert len(state.orders) == 4 and all(w.place == "raw" and w.step == 0 for w in state.wips)
    continued: list = []
    sim = Simulator(workshop, seed=5, orders=orders, start=state)
    sim.run(3.5, sink=continued.append)
    after = lambda evs: [e for e in evs if e.t > 0]  # noqa: E731
    assert len(after(fresh)) > 1000
    assert after(continued) == after(fresh)


def test_every_wip_of_the_state_continues_at_its_route_step(physical: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    rec = open_recording(physical)
    at = 2.25 * 3600
    state = shop_state(rec, at, workshop)
    assert state.unplaced == []
    places = {w.place for w in state.wips}
    assert {"queue", "station"} <= places and len(state.wips) > 20
    truth = rec.state_at(at)
    events: list = []
    Simulator(workshop, seed=3, start=state, orders=state.later_orders).run(3.5, sink=events.append)
    first: dict = {}
    ops: dict[str, list[str]] = {}
    for e in events:
        if e.kind != "wip":
            continue
        first.setdefault(e.entity, e)
        if e.state == "processing" and e.t > at:
            ops.setdefault(e.entity, []).append(e.process)
    expected_state = {"raw": "waiting", "queue": "waiting", "output": "waiting",
                      "station": "processing", "agv": "transporting"}
    for w in state.wips:
        e = first[w.wip]
        route = workshop.products[w.product].route
        assert e.t == at and e.state == expected_state[w.place], w
        assert e.process == (route[w.step].process if w.step < len(route) else ""), w
        assert e.station == w.station, w
        assert truth.get(w.wip).process == e.process, w  # the recorded route step
        # what it does next follows its route from that step on
        nxt = w.step + (1 if w.place == "station" else 0)
        done = ops.get(w.wip, [])
        assert done == [s.process for s in route[nxt:nxt + len(done)]], w
    # orders open at t keep what was already completed of them
    total = sum(o.order.quantity for o in state.orders)
    assert total == len(state.wips) + sum(o.completed for o in state.orders)


def test_a_station_down_at_t_stays_down_for_the_expected_repair_time(physical: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    at = 3 * 3600 + 600.0  # S02 is down from 3:00 (the scenario's breakdown)
    state = shop_state(open_recording(physical), at, workshop)
    assert state.stations["S02"].state == "down"
    sim = Simulator(workshop, seed=1, start=state, stochastic=False)
    events: list = []
    sim.run(4.5, sink=events.append)
    s02 = [e for e in events if e.entity == "S02"]
    assert s02[0].state == "down" and s02[0].t == at
    up = next(e for e in s02 if e.state != "down")
    assert up.t == pytest.approx(at + workshop.stations["S02"].mttr_min * 60.0)


def test_unplaceable_entities_are_reported_by_id_and_reason(physical: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    products = {k: v for k, v in workshop.products.items() if k != "flange"}
    model = dataclasses.replace(workshop, products=products)
    state = shop_state(open_recording(physical), 2 * 3600, model)
    flange_wips = {e.entity for e in open_recording(physical).state_at(2 * 3600).of_kind("wip")
                   if e.product == "flange" and e.state != "completed"}
    assert flange_wips
    reported = {u.entity: u.reason for u in state.unplaced}
    for w in flange_wips:
        assert reported[w] == "unknown product 'flange'"
    assert not {w.wip for w in state.wips} & flange_wips
    Simulator(model, seed=1, start=state).run(2.5)  # the rest still runs


def test_old_recordings_open_but_cannot_drive_replay(workshop, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    rec = open_recording(V1)
    assert rec.format_version == 1 and len(rec) > 100
    assert all(e.product == "" for e in rec.state_at(900).entities.values())
    with pytest.raises(ReplayError, match="format version 1"):
        recorded_orders(rec, workshop)
    rc = main(["simulate", "--workshop", str(SHOP), "--orders-from", str(V1), "--hours", "1",
               "--out", str(tmp_path / "v.twinlog")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("dmw-twin simulate: ") and "no product/quantity" in err


@pytest.mark.parametrize("argv, expected", [
    (["--from", "{phys}", "--at", "05:00:00"], "past the end of the recording"),
    (["--from", "{phys}", "--at", "01:00:00", "--workshop-override"], "recorded in workshop 'machining13', not in 'machining8'"),
    (["--from", "{phys}"], "--from and --at go together"),
])
def test_bad_starts_are_clear_errors(argv: list[str], expected: str, physical: Path,
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = SHOP
    if "--workshop-override" in argv:
        argv = [a for a in argv if a != "--workshop-override"]
        shop = OTHER_SHOP
    argv = [a.replace("{phys}", str(physical)) for a in argv]
    rc = main(["simulate", "--workshop", str(shop), *argv, "--hours", "8",
               "--out", str(tmp_path / "v.twinlog")])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err, err


def test_simulate_from_a_state_writes_the_continued_shift(physical: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "continued.twinlog"
    assert main(["simulate", "--workshop", str(SHOP), "--from", str(physical), "--at", "02:00:00",
                 "--orders-from", str(physical), "--hours", "3.5", "--seed", "2",
                 "--out", str(out), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["started_from"]["t"] == 7200.0 and figures["started_from"]["unplaced"] == []
    assert figures["sim_seconds"] == pytest.approx(1.5 * 3600)
    rec = open_recording(out)
    assert rec.time_range[0] == 7200.0 and 3.4 * 3600 < rec.time_range[1] <= 3.5 * 3600
    start = rec.state_at(7200.0)
    phys = open_recording(physical).state_at(7200.0)
    open_wips = {e.entity for e in phys.of_kind("wip") if e.state != "completed"}
    assert {e.entity for e in start.of_kind("wip")} == open_wips
    later = [o.id for o in recorded_orders(open_recording(physical)) if o.release_s > 7200]
    released_later = [e.entity for e in rec.events(7200.0 + 1e-6, math.inf)
                      if e.kind == "order" and e.state == "released"]
    assert released_later == later and later


def test_a_recording_still_being_written_gives_its_state_and_forecast(
        tmp_path: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    from twin.forecast import forecast
    from twin.live import workshop_meta
    from twin.recording import RecordingWriter

    path = tmp_path / "live.twinlog"
    sim = Simulator(workshop, seed=8)
    with RecordingWriter(path, meta=workshop_meta(workshop)) as w:
        for e in sim.step_until(1800.0):
            w.append(e)
        w.flush()
        rec = open_recording(path)  # the writer is still open: no end marker yet
        assert not rec.complete
        end = rec.time_range[1]
        state = shop_state(rec, end, workshop)
        assert len(state.wips) == sum(1 for e in rec.state_at(end).of_kind("wip")
                                      if e.state != "completed") > 0
        for e in sim.step_until(2400.0):  # the shop runs on; a forecast sees the new data
            w.append(e)
        w.flush()
        fc = forecast(rec, at=math.inf, until=3600.0, runs=2, workshop=workshop, processes=1)
        assert end < fc.at_s == rec.time_range[1] <= 2400.0
        assert fc.completed_at_start == sum(
            1 for e in rec.state_at(fc.at_s).of_kind("wip") if e.state == "completed")
