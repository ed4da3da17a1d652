"""twin.analytics: time in state, breakdowns, operations, setups, arrivals, transports,
WIP and throughput against values counted by hand on a small crafted shift."""

from __future__ import annotations

import numpy as np
import pytest

from twin.analytics import Arrival, Downtime, Operation, ShopAnalytics, Transport
from twin.events import Event


def st(t: float, state: str, wip: str = "", process: str = "", sid: str = "S1") -> Event:
    return Event(t, sid, "station", state, wip=wip, process=process, station=sid)


def wp(t: float, wid: str, state: str, station: str = "", agv: str = "", order: str = "O1") -> Event:
    return Event(t, wid, "wip", state, station=station, agv=agv, order=order)


def agv(t: float, state: str) -> Event:
    return Event(t, "AGV1", "agv", state, x=float(t), y=0.0)


#: One 800 s shift of one station, one AGV, three parts (see the expected values below).
SHIFT = sorted([
    Event(0, "O1", "order", "released", order="O1"),
    st(0, "idle"), agv(0, "idle"),
    wp(0, "W1", "waiting"), wp(20, "W3", "waiting"),
    agv(40, "moving"), agv(50, "loading"), wp(50, "W1", "transporting", agv="AGV1"),
    agv(60, "moving"), agv(80, "moving"),  # a position report: no change of state
    st(100, "setup"),
    agv(110, "unloading"), agv(120, "idle"), wp(120, "W1", "waiting", station="S1"),
    st(150, "processing", "W1", "P10"), wp(150, "W1", "processing", station="S1"),
    st(250, "down", "W1", "P10"), st(300, "processing", "W1", "P10"),
    st(400, "blocked", "W1", "P10"), wp(420, "W1", "waiting", station="S1"),
    st(450, "idle"),
    st(500, "processing", "W2", "P10"), wp(500, "W2", "processing", station="S1"),
    agv(510, "moving"), agv(520, "loading"), wp(520, "W3", "transporting", agv="AGV1"),
    agv(530, "moving"), agv(550, "unloading"), agv(560, "idle"),
    wp(560, "W3", "waiting", station="S1"),
    st(600, "processing", "W3", "P20"), wp(600, "W3", "processing", station="S1"),
    st(700, "down", "W3", "P20"), wp(700, "W1", "completed"),
    Event(700, "O1", "order", "completed", order="O1"),
], key=lambda e: e.t)


def shop() -> ShopAnalytics:
    a = ShopAnalytics(["S1"], ["AGV1"])
    a.add(SHIFT)
    return a


def test_time_in_state_per_station_and_agv_matches_hand_count() -> None:
    a = shop()
    assert a.station_time_in_state("S1", 800) == {
        "idle": 150.0, "setup": 50.0, "processing": 400.0, "blocked": 50.0, "down": 150.0, "off": 0.0}
    assert a.station_time_in_state("S1", 275) == {
        "idle": 100.0, "setup": 50.0, "processing": 100.0, "blocked": 0.0, "down": 25.0, "off": 0.0}
    tis = a.agv_time_in_state("AGV1", 800)
    assert {k: v for k, v in tis.items() if v} == {
        "idle": 670.0, "moving": 90.0, "loading": 20.0, "unloading": 20.0}
    ids, shares = a.station_shares(800)
    assert ids == ["S1"] and shares[0].tolist() == [150 / 800, 50 / 800, 0.5, 50 / 800, 150 / 800, 0.0]


def test_breakdowns_operations_and_setups() -> None:
    a = shop()
    assert a.downtimes() == [Downtime("S1", 250.0, 300.0), Downtime("S1", 700.0, None)]
    # W1's breakdown is not processing time; W3 is still in work (not listed)
    assert a.operations == [Operation("S1", "P10", "W1", 150.0, 400.0, 200.0),
                            Operation("S1", "P10", "W2", 500.0, 600.0, 100.0)]
    assert a.mean_work_s() == {"S1": 150.0}
    assert a.setups() == [("S1", 150.0, 50.0)]


def test_an_interrupted_program_is_one_operation() -> None:
    """A real machine's feed hold (blocked, then the same program again, no part id) is one
    operation; a part done and blocked (the simulator's) stays done; off and another
    program end an operation."""
    a = ShopAnalytics(["M1"])
    a.add([st(100, "processing", "", "O100", sid="M1"), st(160, "blocked", "", "O100", sid="M1"),
           st(170, "down", "", "O100", sid="M1"), st(200, "blocked", "", "O100", sid="M1"),
           st(230, "processing", "", "O100", sid="M1"), st(250, "processing", "", "O200", sid="M1"),
           st(300, "off", sid="M1"), st(400, "processing", "", "O200", sid="M1"),
           st(450, "blocked", "", "O200", sid="M1")])
    assert a.operations == [Operation("M1", "O100", "", 100.0, 250.0, 80.0),
                            Operation("M1", "O200", "", 250.0, 300.0, 50.0),
                            Operation("M1", "O200", "", 400.0, 450.0, 50.0)]
    assert a.blocked_operations() == [a.operations[-1]]  # may still resume
    b = ShopAnalytics(["S1"])
    b.add([st(0, "processing", "W1", "P1", sid="S1"), st(50, "blocked", "W1", "P2", sid="S1"),
           st(80, "processing", "W2", "P1", sid="S1"), st(130, "idle", sid="S1")])
    assert b.operations == [Operation("S1", "P1", "W1", 0.0, 50.0, 50.0),
                            Operation("S1", "P1", "W2", 80.0, 130.0, 50.0)]
    assert b.blocked_operations() == []


def test_arrivals_transports_wip_orders_and_throughput() -> None:
    a = shop()
    assert a.arrivals == [Arrival("S1", "W1", 120.0, ""), Arrival("S1", "W2", 500.0, ""),
                          Arrival("S1", "W3", 560.0, "")]
    assert a.transports == [Transport("AGV1", "W1", 50.0, 120.0), Transport("AGV1", "W3", 520.0, 560.0)]
    t, n = a.wip_series()
    assert list(zip(t.tolist(), n.tolist())) == [(0, 1), (20, 2), (500, 3), (700, 2)]
    assert a.wip_at(699) == 3 and a.completed_at(699) == 0 and a.completed_at(700) == 1
    assert a.order_times == {"O1": (0.0, 700.0)} and a.wip_order["W3"] == "O1"
    starts, rate = a.throughput_series(t_end=800, bin_s=400)
    assert starts.tolist() == [0, 400] and rate.tolist() == [0.0, 9.0]  # 1 part in 400 s


def test_late_and_simultaneous_changes() -> None:
    a = ShopAnalytics(["S2"])
    a.add([st(100, "processing", "W9", "P1", sid="S2"),
           st(90, "idle", sid="S2"),  # late: counts as at 100
           st(200, "setup", sid="S2"), st(200, "processing", "W8", "P1", sid="S2"),
           st(260, "idle", sid="S2")])
    tis = a.station_time_in_state("S2", 300)
    # idle 0-100, (processing for 0 s at 100), idle 100-200, setup 0 s, processing 200-260
    assert tis["idle"] == 100 + 100 + 40 and tis["processing"] == 60 and tis["setup"] == 0
    assert a.operations == [Operation("S2", "P1", "W8", 200.0, 260.0, 60.0)]
    # verification's rule: nothing is counted before a station's first report
    b = ShopAnalytics(["S2"], initial_state=None)
    b.add([st(100, "processing", "W9", "P1", sid="S2"), st(150, "idle", sid="S2")])
    assert sum(b.station_time_in_state("S2", 200).values()) == 100.0


def test_columns_path_gives_the_same_figures_as_events() -> None:
    strings = sorted({v for e in SHIFT for v in (e.entity, e.kind, e.state, e.station, e.wip,
                                                 e.process, e.agv, e.order)})
    code = {s: i for i, s in enumerate(strings)}
    col = lambda f: np.array([code[getattr(e, f)] for e in SHIFT])  # noqa: E731
    b = ShopAnalytics(["S1"], ["AGV1"])
    b.add_columns(np.array([e.t for e in SHIFT]), col("entity"), col("kind"), col("state"), strings,
                  {f: col(f) for f in ("station", "wip", "process", "agv", "order")})
    a = shop()
    assert b.operations == a.operations and b.arrivals == a.arrivals
    assert b.transports == a.transports and b.downtimes() == a.downtimes()
    assert b.agv_time_in_state("AGV1", 800) == a.agv_time_in_state("AGV1", 800)
    assert b.events_seen == len(SHIFT)


def test_simulator_kpis_and_verification_read_the_same_analytics() -> None:
    from pathlib import Path

    from twin.kpis import ShopKpis
    from twin.simulator import Simulator
    from twin.verification.data import index_events
    from twin.workshop import load_workshop

    ws = load_workshop(Path(__file__).resolve().parents[2] / "assets" / "workshops" / "machining8.toml")
    events: list[Event] = []
    result = Simulator(ws, seed=3).run(1.0, sink=events.append)
    kpis = ShopKpis(list(ws.stations))
    kpis.add(events)
    run = index_events(events, "sim")
    end = result.sim_seconds
    for sid in ws.stations:
        assert result.utilization[sid] == pytest.approx(kpis.utilization(sid, end), abs=1e-12)
        ops = [o.work_s for o in run.operations if o.station == sid]
        assert result.mean_processing_s[sid] == pytest.approx(sum(ops) / len(ops) if ops else 0.0)
    assert len(run.operations) >= 8  # enough finished operations to compare
