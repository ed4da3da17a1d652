"""The ingest pipeline in a worker thread (what the window uses): same policy, same recording,
the view fed in order, and the window's thread no longer validating or recording."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.twin.source_support import ScriptedSource, wait_until
from tests.twin.source_support import station_event as ev
from twin.recording import open_recording
from twin.session import Session
from twin.sources import SourceBatch, SourceState, SourceStatus
from twin.sources.ingest import LATE, MALFORMED
from twin.sources.ingest_thread import BackgroundIngest
from twin.statestore import StateStore
from twin.workshop import load_workshop



@pytest.fixture(scope="module")
def workshop(machining13_path: Path):  # noqa: ANN201
    return load_workshop(machining13_path)



def test_bad_events_are_refused_off_the_window_thread_and_the_view_matches_the_recording(
        workshop, tmp_path: Path) -> None:  # noqa: ANN001
    src = ScriptedSource([
        SourceBatch([ev(5.0)], reached=10.0, statuses=[SourceStatus(SourceState.CONNECTED, "feed up", 0.0)]),
        SourceBatch([{"t": 12.0, "entity": "S02"}, ev(3.0, "S02", "down"), ev(20.0, "S02")], reached=20.0),
        SourceBatch([ev(30.0, "S01", "idle")], reached=40.0),
    ])
    s = Session(follow_delay_s=0.0, background_ingest=True)
    seen: list[SourceState] = []
    s.status_changed.connect(lambda st: seen.append(st.state))
    path = s.start_live(src, workshop, record_dir=tmp_path)
    # nobody pumps: the worker validates and records by itself
    wait_until(lambda: s.counters.accepted == 3 and s.counters.reached == 40.0)
    assert s.counters.reasons == {MALFORMED: 1, LATE: 1}
    assert s.ingest.writer.events_written == 3
    assert s.store.time_range[1] == 0.0  # ... and the view is fed only on the window's thread
    s.tick()
    assert s.store.time_range[1] == 40.0 and s.cursor.t == 40.0
    assert seen == [SourceState.CONNECTING, SourceState.CONNECTED]
    assert s.store.state_at(10.0).entities.get("S02") is None  # the late 'down' never shown
    s.stop_live()
    kept = [(e.t, e.entity, e.state) for e in open_recording(path).events(0.0, 100.0)]
    assert kept == [(e.t, e.entity, e.state) for e in s.store.history.events(0.0, 100.0)]
    assert kept == [(5.0, "S01", "processing"), (20.0, "S02", "processing"), (30.0, "S01", "idle")]


def test_a_flood_reaches_the_view_in_order_a_budget_at_a_time_and_nothing_is_lost(
        tmp_path: Path) -> None:
    from twin.recording import RecordingWriter

    n = 20_000
    flood = [ev(i * 0.01, f"S{i % 13 + 1:02d}", ("processing", "idle")[i % 2]) for i in range(n)]
    src = ScriptedSource([SourceBatch(flood, reached=n * 0.01)])
    store = StateStore()
    store.start_live([f"S{k:02d}" for k in range(1, 14)])
    writer = RecordingWriter(tmp_path / "flood.twinlog", {"workshop": "machining13"})
    ingest = BackgroundIngest(src, writer, store, max_events=1)  # one slice per pump
    ingest.start()
    wait_until(lambda: ingest.counters.accepted == n)
    pumps, shown = 0, []
    while len(shown) < n:
        shown.extend(ingest.pump().events)
        pumps += 1
        if len(shown) < n:  # the view ends where it was fed (then at the source's watermark)
            assert store.time_range[1] == pytest.approx(shown[-1].t)
    assert pumps > 1 and shown == flood and store.time_range[1] == n * 0.01
    ingest.pump(final=True)
    writer.close()
    assert len(open_recording(tmp_path / "flood.twinlog").events(0.0, n)) == n
    assert len(store.history.events(0.0, n)) == n


def test_a_source_that_raises_ends_the_live_session_with_the_reason(workshop) -> None:  # noqa: ANN001
    class Broken(ScriptedSource):
        def drain(self) -> SourceBatch:
            raise OSError("socket closed")

    s = Session(background_ingest=True)
    ended: list[SourceStatus] = []
    s.live_ended.connect(ended.append)
    s.start_live(Broken([]), workshop, record_dir=None)
    wait_until(lambda: (s.tick(), bool(ended))[1])
    assert ended[0].state is SourceState.FAILED and "socket closed" in ended[0].message
    assert not s.live
