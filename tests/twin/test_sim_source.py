"""The simulated shop through the Source protocol: order, watermark, pace, stop, status (no Qt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.twin.source_support import wait_until
from twin.live import find_workshop, recording_name, workshop_meta
from twin.recording import open_recording
from twin.recording.writer import RecordingWriter
from twin.simulator import Simulator
from twin.sources import PacedSource, Source, SourceError, SourceState, open_source
from twin.sources.ingest import Ingest
from twin.sources.sim import SimSource, sim_url
from twin.statestore import StateStore, prepare_replay, run_to_end
from twin.workshop import load_workshop


class ManualClock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now



@pytest.fixture(scope="module")
def workshop(machining13_path: Path):  # noqa: ANN201
    return load_workshop(machining13_path)


def test_sim_source_speaks_the_protocol_in_order_up_to_its_watermark(workshop) -> None:  # noqa: ANN001
    clock = ManualClock()
    src = open_source(sim_url(workshop.path, speed=60, seed=7), tick_s=0.002, clock=clock)
    assert isinstance(src, Source) and isinstance(src, PacedSource)
    assert src.status.state is SourceState.CONNECTING
    src.start()
    try:
        first = src.drain()
        assert [s.state for s in first.statuses] == [SourceState.CONNECTING, SourceState.CONNECTED]
        clock.now += 2.0  # two wall seconds at 60x
        wait_until(lambda: src.reached >= 120.0)
        batch = src.drain()
        assert batch.reached == pytest.approx(120.0)
        # a new pace applies from now on, without a jump in simulated time
        src.set_speed(600.0)
        assert src.speed == 600.0
        clock.now += 0.5
        wait_until(lambda: src.reached >= 420.0)
        later = src.drain()
        assert later.reached == pytest.approx(420.0)
        events = first.events + batch.events + later.events
        assert all(e.t <= 120.0 for e in first.events + batch.events)
        assert all(e.t > 120.0 for e in later.events)  # the watermark held
        assert [e.t for e in events] == sorted(e.t for e in events)
        assert events == Simulator(workshop, seed=7).step_until(420.0)  # the simulator's own
        assert src.drain().events == []  # drained once
    finally:
        src.stop()
    stopped = src.drain()
    assert [s.state for s in stopped.statuses] == [SourceState.STOPPED]
    assert src.status.state is SourceState.STOPPED
    src.stop()  # twice is fine
    assert src.drain().statuses == []


def test_warmup_runs_the_start_of_the_shift_at_once(workshop) -> None:  # noqa: ANN001
    src = SimSource("sim://machining13?warmup_min=30", tick_s=0.002, clock=ManualClock())
    assert src.meta()["warmup_s"] == 1800.0 and src.meta()["source"].startswith("sim://")
    src.start()
    try:
        wait_until(lambda: src.reached >= 1800.0)
        events = src.drain().events
        assert max(e.t for e in events) > 1700.0
        assert any(e.kind == "station" and e.state == "processing" for e in events)
    finally:
        src.stop()


def test_a_shop_that_finishes_its_orders_reports_stopped_with_a_message() -> None:
    src = open_source("sim://ft06.txt?speed=1000")  # the bundled job shop: its six jobs end
    src.start()
    wait_until(lambda: not src._shop.running, timeout=30)  # noqa: SLF001
    batch = src.drain()
    states = [s.state for s in batch.statuses]
    assert states == [SourceState.CONNECTING, SourceState.CONNECTED, SourceState.STOPPED]
    assert "finished its orders" in batch.statuses[-1].message
    assert src.status.state is SourceState.STOPPED
    assert batch.events and batch.events[-1].t <= batch.reached
    assert sum(e.kind == "order" and e.state == "completed" for e in batch.events) == 6
    src.stop()
    assert src.drain().statuses == []  # stopping a finished shop reports nothing new


def test_bad_urls_and_paces_are_refused_with_the_url_named() -> None:
    with pytest.raises(SourceError, match="nowhere"):
        open_source("sim://nowhere")
    with pytest.raises(SourceError, match="speed"):
        open_source("sim://machining13?speed=fast")
    with pytest.raises(ValueError):
        open_source("sim://machining13?speed=0")
    src = open_source("sim://machining13")
    with pytest.raises(ValueError):
        src.set_speed(float("nan"))


def test_live_recording_through_ingest_replays_the_same_states(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    """What the app showed live is what the recording shows when reopened."""
    path = tmp_path / recording_name(workshop)
    clock = ManualClock()
    src = SimSource(sim_url(workshop.path, speed=1000, warmup_min=10, seed=3), tick_s=0.002,
                    clock=clock)
    store = StateStore(interpolate=False)
    store.start_live(list(workshop.stations), meta=src.meta())
    writer = RecordingWriter(path, src.meta())
    ingest = Ingest(src, writer, store)
    src.start()
    for _ in range(6):  # the GUI pumps once per frame
        clock.now += 0.5
        target = src.reached + 400.0
        wait_until(lambda target=target: src.reached >= target)
        ingest.pump()
    src.stop()
    ingest.pump()
    writer.close()
    t_end = store.time_range[1]
    assert t_end >= 3000.0
    assert ingest.counters.rejected == 0

    rec = open_recording(path)
    assert rec.complete and rec.warnings == []
    assert rec.meta["workshop"] == workshop.name
    assert rec.meta["source_hash"] == workshop.source_hash
    assert rec.event_count == ingest.counters.accepted == len(store.history)
    notes = [(a.kind, a.label.split(":")[0]) for a in rec.annotations()]
    assert notes == [("status", "connecting"), ("status", "connected"), ("status", "stopped")]
    replay = StateStore(interpolate=False)
    replay.attach(run_to_end(prepare_replay(rec, list(workshop.stations),
                                            annotations=rec.annotations())))
    for t in (0.0, 123.4, 599.0, 1500.0, t_end / 2, rec.time_range[1]):
        assert replay.state_at(t).entities == store.state_at(t).entities, t
    for sid in workshop.stations:
        assert replay.kpis.utilization(sid, 2400.0) == pytest.approx(
            store.kpis.utilization(sid, 2400.0))
    # the status marks are on the timeline live and in the replay alike
    live_marks = [(m.kind, m.label) for m in store.markers() if m.kind == "status"]
    assert live_marks == [(m.kind, m.label) for m in replay.markers() if m.kind == "status"]
    assert len(live_marks) == 3


def test_find_workshop_from_recording_meta(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    meta = workshop_meta(workshop)
    assert find_workshop(meta) == Path(workshop.path).resolve()
    moved = dict(meta, workshop_path="/nowhere/machining13.toml")
    assert find_workshop(moved, tmp_path / "x.twinlog",
                         search=(Path(workshop.path).parent,)).name == "machining13.toml"
    with pytest.raises(FileNotFoundError, match="machining13"):
        find_workshop(moved, tmp_path / "x.twinlog")
