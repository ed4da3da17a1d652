"""ShopKpis: WIP, time in state, utilization, throughput, breakdowns from events (no Qt)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.events import Event
from twin.kpis import ShopKpis, nice_bin


def st(t: float, sid: str, state: str) -> Event:
    return Event(t=t, entity=sid, kind="station", state=state)


def wip(t: float, wid: str, state: str) -> Event:
    return Event(t=t, entity=wid, kind="wip", state=state)


def test_time_in_state_and_utilization_so_far() -> None:
    k = ShopKpis(["S1", "S2"])
    k.add([st(100, "S1", "setup"), st(150, "S1", "processing"), st(450, "S1", "idle"),
           st(500, "S1", "processing")])
    tis = k.time_in_state("S1", 600)
    assert tis == {"idle": 150.0, "setup": 50.0, "processing": 400.0, "blocked": 0.0, "down": 0.0,
                   "off": 0.0}
    assert k.utilization("S1", 600) == pytest.approx(400 / 600)
    # mid-way through the first processing run
    assert k.utilization("S1", 300) == pytest.approx(150 / 300)
    # a station that never reported has no data: not 100 % idle, not 0 % utilized
    assert not k.has_data("S2", 600) and k.has_data("S1", 600) and not k.has_data("S1", 99)
    assert math.isnan(k.utilization("S2", 600))
    ids, shares = k.state_shares(600)
    assert ids == ["S1", "S2"]
    assert shares.sum(axis=1) == pytest.approx([1.0, 0.0])
    # one that reported, if only to say it is idle, has data
    k.add([st(700, "S2", "idle")])
    assert k.has_data("S2", 800) and k.utilization("S2", 800) == 0.0
    assert k.state_shares(800)[1].sum(axis=1) == pytest.approx([1.0, 1.0])


def test_switched_off_time_is_neither_utilisation_nor_downtime() -> None:
    # a machine switched off overnight (MTConnect UNAVAILABLE), one hour on, half of it cutting
    k = ShopKpis(["M1"])
    k.add([st(0, "M1", "off"), st(36000, "M1", "processing"), st(37800, "M1", "idle"),
           st(39600, "M1", "off")])
    tis = k.time_in_state("M1", 86400)
    assert tis["off"] == 36000 + 86400 - 39600
    assert k.utilization("M1", 86400) == pytest.approx(0.5)  # of the hour switched on
    assert k.downtimes() == []


def test_simultaneous_changes_keep_the_last_state() -> None:
    k = ShopKpis(["S1"])
    k.add([st(10, "S1", "setup"), st(10, "S1", "processing"), st(20, "S1", "idle")])
    assert k.time_in_state("S1", 20)["processing"] == 10.0
    assert k.time_in_state("S1", 20)["setup"] == 0.0


def test_wip_count_follows_release_and_completion() -> None:
    k = ShopKpis()
    k.add([wip(0, "W1", "waiting"), wip(5, "W2", "waiting"), wip(6, "W1", "transporting"),
           wip(9, "W1", "processing"), wip(20, "W1", "completed"), wip(30, "W2", "completed")])
    t, n = k.wip_series()
    assert list(zip(t.tolist(), n.tolist())) == [(0, 1), (5, 2), (20, 1), (30, 0)]
    assert k.wip_at(19.9) == 2
    assert k.completed_at(20) == 1
    assert k.completed_at(29) == 1
    assert k.completed_at(30) == 2


def test_throughput_is_parts_per_hour_per_bin() -> None:
    k = ShopKpis()
    done = [wip(t, f"W{i}", "completed") for i, t in enumerate([100, 200, 1000, 2000, 2100, 2200])]
    k.add(done)
    starts, rate = k.throughput_series(t_end=3600, bin_s=1800)
    assert starts.tolist() == [0, 1800]
    assert rate.tolist() == [3 * 2.0, 3 * 2.0]
    assert nice_bin(8 * 3600) == 900.0


def test_breakdowns_become_downtimes() -> None:
    k = ShopKpis(["S1", "S2"])
    k.add([st(10, "S1", "down"), st(70, "S1", "idle"), st(80, "S2", "down")])
    d = k.downtimes()
    assert [(x.station, x.start, x.end) for x in d] == [("S1", 10, 70), ("S2", 80, None)]
    assert k.time_in_state("S1", 100)["down"] == 60.0
    assert isinstance(k.wip_series()[0], np.ndarray)


def test_throughput_of_a_running_shift_rates_the_partial_last_bin() -> None:
    k = ShopKpis()
    k.add([wip(t, f"W{i}", "completed") for i, t in enumerate([100, 1000, 1900, 2000])])
    starts, rate = k.throughput_series(t_end=2250)  # 15-min bins, the last one 450 s long
    assert starts.tolist() == [0, 900, 1800]
    assert rate.tolist() == [4.0, 4.0, pytest.approx(2 * 3600 / 450)]


def test_agv_utilization_counts_driving_and_transfers_not_waiting() -> None:
    def agv(t: float, state: str, x: float = 0.0) -> Event:
        return Event(t=t, entity="AGV1", kind="agv", state=state, x=x, y=0.0)

    k = ShopKpis()
    k.add([agv(0, "idle"), agv(100, "moving"), agv(101, "moving", 1.0), agv(150, "loading"),
           agv(170, "moving"), agv(200, "unloading"), agv(220, "idle"), agv(300, "charging")])
    tis = k.agv_time_in_state("AGV1", 400)
    assert tis["moving"] == 80.0 and tis["loading"] == 20.0 and tis["unloading"] == 20.0
    assert tis["charging"] == 100.0
    assert k.agv_utilization("AGV1", 400) == pytest.approx(120 / 400)
    assert k.agvs == ["AGV1"]
