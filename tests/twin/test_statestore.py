"""StateStore: state at t from a live log or a recording, incremental and exact (no Qt)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from twin.events import Event
from twin.snapshot import Snapshot
from twin.statestore import (
    Aborted,
    MemoryHistory,
    StateStore,
    prepare_replay,
    run_to_end,
)

STATIONS = ["S1", "S2", "S3"]


def synthetic_shift(n: int = 2000, seed: int = 3) -> list[Event]:
    """Random but plausible events in time order, several per instant now and then."""
    rnd = random.Random(seed)
    t = 0.0
    out: list[Event] = []
    for i in range(n):
        if rnd.random() > 0.2:
            t += rnd.uniform(0.0, 20.0)
        r = rnd.random()
        if r < 0.4:
            out.append(Event(t, rnd.choice(STATIONS), "station",
                             rnd.choice(["idle", "setup", "processing", "blocked", "down"]),
                             wip=f"W{i}"))
        elif r < 0.7:
            out.append(Event(t, f"AGV{rnd.randint(1, 3)}", "agv", "moving",
                             x=rnd.uniform(0, 50), y=rnd.uniform(0, 30), heading=90.0))
        else:
            out.append(Event(t, f"W{rnd.randint(1, 40)}", "wip",
                             rnd.choice(["waiting", "transporting", "processing", "completed"])))
    return out


def naive_state(events: Sequence[Event], t: float) -> dict[str, Event]:
    snap: dict[str, Event] = {}
    for e in events:
        if e.t <= t:
            snap[e.entity] = e
    return snap


class RecordingLike:
    """Only the History protocol (as a recording offers it), over a fixed event list."""

    def __init__(self, events: list[Event]) -> None:
        self._mem = MemoryHistory(keyframe_s=300.0)
        self._mem.append(events)

    @property
    def time_range(self) -> tuple[float, float]:
        return self._mem.time_range

    def state_at(self, t: float) -> Snapshot:
        return self._mem.state_at(t)

    def events(self, t0: float, t1: float) -> list[Event]:
        return self._mem.events(t0, t1)


def test_memory_history_state_at_matches_a_scan() -> None:
    evs = synthetic_shift()
    h = MemoryHistory(keyframe_s=120.0)
    h.append(evs)
    rnd = random.Random(1)
    for t in [0.0, evs[-1].t, *[rnd.uniform(0, evs[-1].t) for _ in range(50)]]:
        assert h.state_at(t).entities == naive_state(evs, t)


def test_incremental_playback_equals_fresh_queries() -> None:
    evs = synthetic_shift()
    store = StateStore(interpolate=False)
    prepared = run_to_end(prepare_replay(RecordingLike(evs), STATIONS))
    store.attach(prepared)
    t_end = evs[-1].t
    t = 0.0
    while t < t_end:  # a playing cursor: many small forward steps
        t += 7.3
        assert store.state_at(t).entities == naive_state(evs, t)
    # a jump back and a long jump forward
    assert store.state_at(100.0).entities == naive_state(evs, 100.0)
    assert store.state_at(t_end).entities == naive_state(evs, t_end)


def test_live_store_appends_and_answers_every_time() -> None:
    evs = synthetic_shift(1500)
    store = StateStore(interpolate=False)
    store.start_live(STATIONS)
    resets: list[bool] = []
    ends: list[float] = []
    store.reset.connect(lambda: resets.append(True))
    store.appended.connect(ends.append)
    # batches arrive, the cursor follows the end, sometimes scrubs back
    for k in range(0, len(evs), 100):
        batch = evs[k:k + 100]
        store.append(batch, now=batch[-1].t + 0.5)
        got = evs[:k + 100]
        t_end = store.time_range[1]
        assert store.state_at(t_end).entities == naive_state(got, t_end)
        back = t_end / 2
        assert store.state_at(back).entities == naive_state(got, back)
        # a late batch that starts before the end already shown is still applied
        assert store.state_at(t_end + 1.0).entities == naive_state(got, t_end + 1.0)
    assert store.live
    assert ends[-1] == pytest.approx(evs[-1].t + 0.5)
    assert resets == []
    assert store.kpis.events_seen == len(evs)


def test_agv_positions_are_interpolated_between_reports() -> None:
    evs = [
        Event(0.0, "AGV1", "agv", "moving", x=0.0, y=0.0, heading=0.0),
        Event(2.0, "AGV1", "agv", "moving", x=4.0, y=2.0, heading=90.0),
        Event(3.0, "AGV1", "agv", "idle", x=4.0, y=2.0, heading=90.0),
    ]
    store = StateStore()
    store.attach(run_to_end(prepare_replay(RecordingLike(evs))))
    mid = store.state_at(0.5).entities["AGV1"]
    assert (mid.x, mid.y, mid.heading) == pytest.approx((1.0, 0.5, 22.5))
    # the raw event is untouched and later queries are exact
    assert store.state_at(2.0).entities["AGV1"].x == 4.0
    assert store.state_at(3.0).entities["AGV1"].state == "idle"


def test_prepare_replay_reports_progress_kpis_and_breakdown_markers() -> None:
    evs = [
        Event(0.0, "S1", "station", "processing"),
        Event(1000.0, "S1", "station", "down"),
        Event(1600.0, "S1", "station", "idle"),
        Event(4000.0, "W1", "wip", "completed"),
    ]
    gen = prepare_replay(RecordingLike(evs), ["S1"], chunk_s=500.0,
                         annotations=[{"t": 2000.0, "text": "shift meeting"}])
    progress: list[float] = []
    while True:
        try:
            progress.append(next(gen))
        except StopIteration as stop:
            prepared = stop.value
            break
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert progress == sorted(progress) and len(progress) >= 8
    k = prepared.kpis
    assert k.time_in_state("S1", 4000.0)["down"] == 600.0
    assert k.utilization("S1", 4000.0) == pytest.approx(1000 / 4000)
    assert k.completed_at(4000.0) == 1
    assert [(m.kind, m.t, m.t_end) for m in prepared.markers] == [
        ("breakdown", 1000.0, 1600.0), ("annotation", 2000.0, None)]
    assert prepared.markers[1].label == "shift meeting"


def test_prepare_replay_can_be_aborted() -> None:
    evs = synthetic_shift()
    calls = {"n": 0}

    def stop_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(Aborted):
        run_to_end(prepare_replay(RecordingLike(evs), chunk_s=100.0,
                                  should_abort=stop_after_two))


def test_last_events_of_an_entity_from_live_and_recording() -> None:
    evs = synthetic_shift()
    t = evs[-1].t * 0.7
    expected = [e for e in evs if e.entity == "S2" and e.t <= t][-5:]
    live = StateStore()
    live.start_live(STATIONS)
    live.append(evs)
    assert live.last_events("S2", t, 5) == expected
    rec = StateStore()
    rec.attach(run_to_end(prepare_replay(RecordingLike(evs))))
    assert rec.last_events("S2", t, 5) == expected
    assert rec.last_events("nobody", t, 5) == []


def test_live_breakdown_markers_open_and_close() -> None:
    store = StateStore()
    store.start_live(["S1"])
    store.append([Event(10.0, "S1", "station", "down")], now=11.0)
    assert [(m.t, m.t_end) for m in store.markers()] == [(10.0, None)]
    store.append([Event(70.0, "S1", "station", "idle")], now=71.0)
    assert [(m.t, m.t_end) for m in store.markers()] == [(10.0, 70.0)]
    with pytest.raises(RuntimeError):
        replay = StateStore()
        replay.append([])


def test_a_real_recording_gives_the_same_kpis_and_states_as_the_live_log(
        tmp_path, machining13_path) -> None:  # noqa: ANN001
    """Bulk column reading of a recording (replay) == event-by-event accounting (live)."""
    from twin.recording import RecordingWriter, open_recording
    from twin.simulator import Simulator
    from twin.workshop import load_workshop

    ws = load_workshop(machining13_path)
    events = Simulator(ws, seed=5).step_until(3 * 3600.0)
    path = tmp_path / "shift.twinlog"
    with RecordingWriter(path, meta={"workshop": ws.name}) as w:
        for e in events:
            w.append(e)
    rec = open_recording(path)
    replay = StateStore(interpolate=False)
    replay.attach(run_to_end(prepare_replay(rec, list(ws.stations), chunk_s=900.0)))
    live = StateStore(interpolate=False)
    live.start_live(list(ws.stations))
    live.append(events)
    t = events[-1].t
    ids, shares = replay.kpis.state_shares(t)
    ids_live, shares_live = live.kpis.state_shares(t)
    assert ids == ids_live == sorted(ws.stations)
    assert shares == pytest.approx(shares_live)
    assert shares[:, 2].max() > 0.3  # some station was busy: the comparison means something
    assert replay.kpis.completed_at(t) == live.kpis.completed_at(t) > 0
    for agv in ws.agvs:
        assert replay.kpis.agv_utilization(agv, t) == pytest.approx(
            live.kpis.agv_utilization(agv, t))
    assert 0.05 < replay.kpis.agv_utilization("AGV1", t) < 0.95
    assert replay.kpis.wip_series()[1].tolist() == live.kpis.wip_series()[1].tolist()
    for q in (0.0, 1000.0, 5000.0, t):
        assert replay.state_at(q).entities == live.state_at(q).entities
    assert replay.last_events("S05", 5000.0, 6) == live.last_events("S05", 5000.0, 6)


def test_refresh_reads_on_in_a_recording_still_being_written(tmp_path, machining13_path) -> None:  # noqa: ANN001
    from twin.recording import RecordingWriter, open_recording
    from twin.simulator import Simulator
    from twin.workshop import load_workshop

    ws = load_workshop(machining13_path)
    sim = Simulator(ws, seed=1)
    path = tmp_path / "growing.twinlog"
    with RecordingWriter(path, flush_interval_s=3600.0) as w:
        for e in sim.step_until(2000.0):
            w.append(e)
        w.flush()
        store = StateStore(interpolate=False)
        store.attach(run_to_end(prepare_replay(open_recording(path), list(ws.stations))))
        assert store.growing
        assert store.refresh() == 0  # nothing new yet
        ends: list[float] = []
        store.appended.connect(ends.append)
        for e in sim.step_until(6000.0):
            w.append(e)
        w.flush()
        added = store.refresh()
        assert added > 0 and ends and ends[-1] == store.time_range[1] > 5000.0
    store.refresh()
    assert not store.growing  # the writer closed the file
    fresh = StateStore(interpolate=False)
    fresh.attach(run_to_end(prepare_replay(open_recording(path), list(ws.stations))))
    t = fresh.time_range[1]
    assert store.time_range == fresh.time_range
    assert store.state_at(t).entities == fresh.state_at(t).entities
    for sid in ws.stations:
        assert store.kpis.utilization(sid, t) == pytest.approx(fresh.kpis.utilization(sid, t))
    assert store.kpis.completed_at(t) == fresh.kpis.completed_at(t)
    assert [(m.kind, m.t, m.t_end) for m in store.markers()] == \
        [(m.kind, m.t, m.t_end) for m in fresh.markers()]
