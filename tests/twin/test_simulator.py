"""The simulator: event stream contract, behaviour model, logic model, determinism, pacing."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import pytest

from twin.events import STATES, Event, parse_event
from twin.simulator import RULES, Pace, SimulationError, Simulator
from twin.workshop import Workshop, load_workshop

SHOP = Path(__file__).resolve().parents[2] / "assets" / "workshops" / "machining13.toml"
HOUR = 3600.0

# Two stations, no AGVs (parts hand over instantly), deterministic times.
LINE = """
[workshop]
name = "line"
stochastic = false

[aisles.nodes]
A = [0.0, 0.0]
B = [5.0, 0.0]

[aisles]
edges = [["A", "B"]]

[[station]]
id = "FAST"
type = "drill"
position = [0.0, 2.0]
node = "A"
processes = { a = 10, b = 20 }
setup_s = 5
output_capacity = 1

[[station]]
id = "SLOW"
type = "grinder"
position = [5.0, 2.0]
node = "B"
processes = { c = 100 }
input_capacity = 1
output_capacity = 1

[[product]]
id = "p1"
route = ["a", "c"]

[[product]]
id = "p2"
route = ["b", "c"]

[[order]]
id = "O1"
product = "p1"
quantity = 3

[[order]]
id = "O2"
product = "p2"
quantity = 2
"""

# One station, three products, for the dispatching rules.
ONE = """
[workshop]
name = "one"
stochastic = false

[aisles.nodes]
A = [0.0, 0.0]

[[station]]
id = "ONE"
type = "lathe"
position = [0.0, 1.0]
node = "A"
processes = { long = 50, short = 10, short2 = 45 }
input_capacity = 10

[[product]]
id = "PA"
route = ["long"]

[[product]]
id = "PB"
route = ["short"]

[[product]]
id = "PC"
route = ["short", "short2"]

[[order]]
id = "OA"
product = "PA"
due_h = 5

[[order]]
id = "OB"
product = "PB"
due_h = 10

[[order]]
id = "OC"
product = "PC"
due_h = 1
"""


@lru_cache(maxsize=1)
def shop() -> Workshop:
    return load_workshop(SHOP)


@lru_cache(maxsize=4)
def shift(seed: int = 1, hours: float = 2.0) -> tuple[Event, ...]:
    events: list[Event] = []
    Simulator(shop(), seed=seed).run(hours, sink=events.append)
    return tuple(events)


def toml_shop(tmp_path: Path, text: str, name: str) -> Workshop:
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return load_workshop(p)


def intervals(events: list[Event] | tuple[Event, ...], entity: str, state: str,
              end: float) -> list[tuple[float, float, Event]]:
    """(start, end, event) of the spans ``entity`` spent in ``state``."""
    out = []
    cur: Event | None = None
    for e in events:
        if e.entity != entity:
            continue
        if cur is not None and (e.state != state or e.wip != cur.wip):
            out.append((cur.t, e.t, cur))
            cur = None
        if e.state == state and cur is None:
            cur = e
    if cur is not None:
        out.append((cur.t, end, cur))
    return out


# -- the event stream ----------------------------------------------------------------


def test_events_are_valid_time_ordered_and_cover_every_kind_and_state() -> None:
    events = shift()
    assert all(a.t <= b.t for a, b in zip(events, events[1:]))
    for e in events:
        assert parse_event(e.to_dict()) == e
    seen = {(e.kind, e.state) for e in events}
    for kind, states in STATES.items():
        expected = set(states) - {"charging", "blocked", "down"}
        assert {(kind, s) for s in expected} <= seen, kind
    ws = shop()
    for e in events:
        if e.kind == "station":
            s = ws.stations[e.entity]
            assert (e.x, e.y, e.heading) == (s.x, s.y, s.heading)
            assert e.queue is not None and e.queue >= 0
            assert e.queue <= s.input_capacity


def test_a_processing_station_names_its_wip_order_and_process() -> None:
    events = shift()
    wip_processing = {(e.t, e.wip): e for e in events if e.kind == "wip" and e.state == "processing"}
    n = 0
    for e in events:
        if e.kind == "station" and e.state == "processing":
            assert e.wip and e.order and e.process
            w = wip_processing.get((e.t, e.wip))
            if w is not None:  # a resumed operation after a repair has no new WIP event
                assert (w.station, w.order, w.process, w.x, w.y) == (e.entity, e.order,
                                                                     e.process, e.x, e.y)
                n += 1
    assert n > 50


def test_parts_follow_their_routes_and_orders_complete_with_their_last_part() -> None:
    events = shift(seed=2, hours=8.0)
    ws = shop()
    ops: dict[str, list[tuple[str, str]]] = defaultdict(list)
    part_order: dict[str, str] = {}
    completed_at: dict[str, float] = {}
    for e in events:
        if e.kind == "wip":
            part_order[e.entity] = e.order
            if e.state == "processing":
                ops[e.entity].append((e.station, e.process))
            if e.state == "completed":
                completed_at[e.entity] = e.t
    assert len(completed_at) > 80
    for wip, t in completed_at.items():
        done = ops[wip]
        route = next(p.route for p in ws.products.values()
                     if len(p.route) == len(done)
                     and all(s.process == proc for s, (_, proc) in zip(p.route, done)))
        for step, (station, _) in zip(route, done):
            assert station in step.stations
    parts_of: dict[str, list[str]] = defaultdict(list)
    for wip, order in part_order.items():
        parts_of[order].append(wip)
    for e in events:
        if e.kind == "order" and e.state == "completed":
            parts = parts_of[e.entity]
            assert all(p in completed_at for p in parts)
            assert e.t == max(completed_at[p] for p in parts)


def test_agvs_drive_the_aisles_and_report_at_least_every_second() -> None:
    events = shift()
    ws = shop()
    segments = [((ws.nodes[a].x, ws.nodes[a].y), (ws.nodes[b].x, ws.nodes[b].y))
                for a, b in ws.edges]

    def on_aisle(x: float, y: float) -> bool:
        for (x0, y0), (x1, y1) in segments:
            dx, dy = x1 - x0, y1 - y0
            f = max(0.0, min(1.0, ((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)))
            if math.hypot(x0 + f * dx - x, y0 + f * dy - y) < 1e-6:
                return True
        return False

    moving = 0
    for agv in ws.agvs:
        track = [e for e in events if e.entity == agv]
        for prev, e in zip(track, track[1:]):
            assert e.x is not None and e.y is not None and e.heading is not None
            assert on_aisle(e.x, e.y), (agv, e)
            if prev.state == "moving":
                moving += 1
                assert e.t - prev.t <= 1.0 + 1e-9
                d = math.hypot(e.x - prev.x, e.y - prev.y)  # type: ignore[operator]
                assert d <= ws.agvs[agv].speed * (e.t - prev.t) + 1e-6
                if d > 1e-9 and e.state == "moving" and e.heading == prev.heading:
                    h = math.degrees(math.atan2(e.y - prev.y, e.x - prev.x)) % 360  # type: ignore[operator]
                    assert h == pytest.approx(prev.heading, abs=1e-6)
    assert moving > 500


def test_a_carried_part_is_with_its_agv() -> None:
    events = shift()
    carried = {e for e in events if e.kind == "wip" and e.state == "transporting"}
    assert len(carried) > 100
    agv_at: dict[str, Event] = {}
    for e in events:
        if e.kind == "agv":
            agv_at[e.entity] = e
        elif e in carried:
            a = agv_at[e.agv]
            assert a.state == "loading" and a.wip == e.wip and (a.x, a.y) == (e.x, e.y)


def test_same_seed_same_events_other_seed_other_events() -> None:
    a = list(shift(seed=1))
    events: list[Event] = []
    Simulator(shop(), seed=1).run(2.0, sink=events.append)
    assert events == a
    assert list(shift(seed=3)) != a


def test_incremental_stepping_gives_the_same_events_as_one_run() -> None:
    sim = Simulator(shop(), seed=1)
    rng = random.Random(0)
    got: list[Event] = []
    t = 0.0
    while t < 2 * HOUR:
        t = min(2 * HOUR, t + rng.uniform(0.01, 400.0))
        chunk = sim.step_until(t)
        assert all(e.t <= t for e in chunk)
        got.extend(chunk)
    assert got == list(shift(seed=1))


def test_utilization_matches_the_events() -> None:
    events: list[Event] = []
    result = Simulator(shop(), seed=4).run(3.0, sink=events.append)
    assert result.sim_seconds == 3 * HOUR
    assert result.events == len(events)
    assert result.makespan_s is None  # the order generator keeps releasing orders
    for sid, util in result.utilization.items():
        busy = sum(b - a for a, b, _ in intervals(events, sid, "processing", 3 * HOUR))
        assert util == pytest.approx(busy / (3 * HOUR), abs=1e-9)
        assert sum(result.state_fractions[sid].values()) == pytest.approx(1.0)
    assert 0.3 < max(result.utilization.values()) < 1.0
    assert all(0 < u < 1 for u in result.agv_utilization.values())


# -- behaviour and logic on small shops ------------------------------------------------


def test_setup_only_on_change_and_blocking_when_the_output_buffer_is_full(tmp_path: Path) -> None:
    ws = toml_shop(tmp_path, LINE, "line")
    events: list[Event] = []
    result = Simulator(ws, seed=0).run(1.0, sink=events.append)
    # FAST: a,a,a (no setup), then b: one setup of 5 s at t=30
    setups = intervals(events, "FAST", "setup", result.sim_seconds)
    assert [(a, b) for a, b, _ in setups] == [(30.0, 35.0)]
    # SLOW holds one part and queues one; the 3rd part waits in FAST's output buffer, so
    # FAST blocks after its 4th part (t=55) until SLOW starts the next part (t=110).
    blocked = intervals(events, "FAST", "blocked", result.sim_seconds)
    assert [(a, b) for a, b, _ in blocked][:2] == [(55.0, 110.0), (130.0, 210.0)]
    assert all(e.queue is not None and e.queue <= 1 for e in events if e.entity == "SLOW")
    # 5 parts through a 100 s bottleneck that starts at t=10
    assert result.makespan_s == 510.0
    assert result.sim_seconds == 510.0 and result.completed_orders == 2
    assert not [e for e in events if e.kind == "agv"]


@pytest.mark.parametrize(
    ("rule", "first"),
    [("fifo", "OA"), ("spt", "OB"), ("lpt", "OA"), ("mwkr", "OC"), ("edd", "OC")],
)
def test_dispatching_rules_pick_the_next_part(tmp_path: Path, rule: str, first: str) -> None:
    ws = toml_shop(tmp_path, ONE, "one")
    events: list[Event] = []
    Simulator(ws, rule=rule).run(1.0, sink=events.append)
    order = [e.order for e in events if e.entity == "ONE" and e.state == "processing"]
    assert order[0] == first
    assert set(RULES) == {"fifo", "spt", "lpt", "mwkr", "edd"}


def test_failures_interrupt_and_resume_work(tmp_path: Path) -> None:
    text = (LINE.replace("stochastic = false", "stochastic = true")
            .replace("processes = { c = 100 }", "processes = { c = 100 }\nmtbf_h = 0.02\nmttr_min = 0.5"))
    ws = toml_shop(tmp_path, text, "failing")
    events: list[Event] = []
    result = Simulator(ws, seed=3, cycle_cv=0.0).run(1.0, sink=events.append)
    downs = intervals(events, "SLOW", "down", result.sim_seconds)
    assert len(downs) >= 3
    work: dict[str, float] = defaultdict(float)
    for a, b, e in intervals(events, "SLOW", "processing", result.sim_seconds):
        work[e.wip] += b - a
    assert len(work) == 5
    assert all(w == pytest.approx(100.0) for w in work.values())  # no work lost or repeated
    assert result.state_fractions["SLOW"]["down"] > 0
    assert result.makespan_s is not None and result.makespan_s > 510.0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SimulationError, match="unknown dispatching rule 'random'"):
        Simulator(shop(), rule="random")
    with pytest.raises(SimulationError):
        Simulator(shop(), position_interval_s=0)


# -- live pacing -----------------------------------------------------------------------


def test_pace_anchors_simulated_time_on_the_wall_clock_without_jumps() -> None:
    now = [100.0]
    pace = Pace(10.0, lambda: now[0])
    pace.start(600.0)
    now[0] += 2.0
    assert pace.target() == pytest.approx(620.0)  # 2 wall s x 10
    pace.set_factor(100.0)  # from now on, continuing where it is
    assert pace.target() == pytest.approx(620.0)
    now[0] += 0.5
    assert pace.target() == pytest.approx(670.0)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(SimulationError):
            pace.set_factor(bad)
