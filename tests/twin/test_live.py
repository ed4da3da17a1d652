"""LiveShop: paced, recorded live source; its recording replays the same states (no Qt)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from twin.live import LiveShop, find_workshop, recording_name, workshop_meta
from twin.recording import open_recording
from twin.simulator import Simulator
from twin.statestore import StateStore, prepare_replay, run_to_end
from twin.workshop import load_workshop


class ManualClock:
    """A wall clock the test moves by hand (thread-safe enough for floats)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_until(cond, timeout: float = 10.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture(scope="module")
def workshop(machining13_path: Path):  # noqa: ANN201
    return load_workshop(machining13_path)


def test_pacing_follows_the_wall_clock_times_factor(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    clock = ManualClock()
    live = LiveShop(workshop, tmp_path / "s.twinlog", factor=60.0, tick_s=0.002, clock=clock)
    live.start()
    try:
        wait_until(lambda: live.reached == 0.0 and live.running)
        clock.now += 2.0  # two wall seconds at 60x
        wait_until(lambda: live.reached >= 120.0)
        assert live.reached == pytest.approx(120.0)
        # a new pace applies from now on, without a jump in simulated time
        live.set_factor(600.0)
        clock.now += 0.5
        wait_until(lambda: live.reached >= 420.0)
        assert live.reached == pytest.approx(420.0)
        batch = live.drain()
        assert batch.reached == pytest.approx(420.0)
        assert batch.events and all(e.t <= 420.0 for e in batch.events)
        assert [e.t for e in batch.events] == sorted(e.t for e in batch.events)
        assert live.drain().events == []  # drained once
    finally:
        live.stop()
    assert not live.running


def test_live_events_are_the_simulators_events(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    clock = ManualClock()
    live = LiveShop(workshop, None, seed=7, factor=100.0, tick_s=0.002, clock=clock)
    live.start()
    clock.now += 3.0
    wait_until(lambda: live.reached >= 300.0)
    live.stop()
    got = live.drain().events
    expected = Simulator(workshop, seed=7).step_until(300.0)
    assert got == expected


def test_warmup_runs_the_start_of_the_shift_at_once(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    clock = ManualClock()
    live = LiveShop(workshop, None, factor=1.0, warmup_s=1800.0, tick_s=0.002, clock=clock)
    live.start()
    try:
        wait_until(lambda: live.reached >= 1800.0)
        events = live.drain().events
        assert max(e.t for e in events) > 1700.0
        assert any(e.kind == "station" and e.state == "processing" for e in events)
    finally:
        live.stop()


def test_live_recording_replays_the_same_states(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    """What the app showed live is what the recording shows when reopened."""
    path = tmp_path / recording_name(workshop)
    clock = ManualClock()
    live = LiveShop(workshop, path, seed=3, factor=1000.0, warmup_s=600.0, tick_s=0.002,
                    clock=clock)
    live.start()
    store = StateStore(interpolate=False)
    store.start_live(list(workshop.stations), meta=live.meta())
    for _ in range(6):  # the GUI drains once per frame
        clock.now += 0.5
        target = live.reached + 400.0
        wait_until(lambda target=target: live.reached >= target)
        batch = live.drain()
        store.append(batch.events, now=batch.reached)
    live.stop()
    batch = live.drain()
    store.append(batch.events, now=batch.reached)
    t_end = store.time_range[1]
    assert t_end >= 3000.0

    rec = open_recording(path)
    assert rec.complete and rec.warnings == []
    assert rec.meta["workshop"] == workshop.name
    assert rec.meta["source_hash"] == workshop.source_hash
    assert rec.meta["mode"] == "live"
    replay = StateStore(interpolate=False)
    replay.attach(run_to_end(prepare_replay(rec, list(workshop.stations))))
    for t in (0.0, 123.4, 599.0, 1500.0, t_end / 2, rec.time_range[1]):
        assert replay.state_at(t).entities == store.state_at(t).entities, t
    # the charts see the same shift as well
    for sid in workshop.stations:
        assert replay.kpis.utilization(sid, 2400.0) == pytest.approx(
            store.kpis.utilization(sid, 2400.0))
    assert replay.kpis.completed_at(t_end) == store.kpis.completed_at(t_end)


def test_stop_from_another_thread_keeps_what_was_recorded(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "stopped.twinlog"
    live = LiveShop(workshop, path, factor=1000.0, warmup_s=300.0)
    live.start()
    wait_until(lambda: live.reached >= 300.0)
    stopper = threading.Thread(target=live.stop)
    stopper.start()
    stopper.join(10)
    assert not live.running
    rec = open_recording(path)
    assert rec.complete
    events = live.drain().events
    assert rec.event_count == live.events_total == len(events)
    assert rec.time_range[1] == events[-1].t


def test_find_workshop_from_recording_meta(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    meta = workshop_meta(workshop)
    assert find_workshop(meta) == Path(workshop.path).resolve()
    # moved installation: the recorded path is gone, the name is found in the search path
    moved = dict(meta, workshop_path="/nowhere/machining13.toml")
    assert find_workshop(moved, tmp_path / "x.twinlog",
                         search=(Path(workshop.path).parent,)).name == "machining13.toml"
    with pytest.raises(FileNotFoundError, match="machining13"):
        find_workshop(moved, tmp_path / "x.twinlog")


def test_bad_pace_is_refused(workshop) -> None:  # noqa: ANN001
    with pytest.raises(ValueError):
        LiveShop(workshop, None, factor=0.0)
    live = LiveShop(workshop, None)
    with pytest.raises(ValueError):
        live.set_factor(float("nan"))
