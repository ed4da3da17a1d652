"""The ingest pipeline: one validation policy, and the recording and the view see the same events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.twin.source_support import ScriptedSource
from twin.events import Event
from twin.recording import RecordingWriter, open_recording
from twin.sources import Gap, Rejected, SourceBatch, SourceState, SourceStatus
from twin.sources.ingest import KIND_CHANGED, LATE, MALFORMED, TOO_FAR_AHEAD, Ingest
from twin.statestore import StateStore, prepare_replay, run_to_end


def station(t: float, entity: str = "S01", state: str = "processing") -> Event:
    return Event(t, entity, "station", state, x=1.0, y=2.0)


def run(batches: list[SourceBatch], path: Path, **kw: Any) -> tuple[Ingest, StateStore]:
    store = StateStore(interpolate=False)
    store.start_live(["S01", "S02"])
    with RecordingWriter(path, {"source": "test"}) as writer:
        ingest = Ingest(ScriptedSource(batches), writer, store, **kw)
        for _ in batches:
            ingest.pump()
    return ingest, store


def test_malformed_and_late_events_are_rejected_counted_and_in_neither_recording_nor_view(
        tmp_path: Path) -> None:
    path = tmp_path / "feed.twinlog"
    batches = [
        SourceBatch([station(10.0), {"t": 12.0, "entity": "S02", "kind": "station",
                                     "state": "exploded"}], reached=12.0,
                    statuses=[SourceStatus(SourceState.CONNECTED, "feed up", 0.0)]),
        SourceBatch([station(20.0, "S02", "idle"), station(15.0, "S01", "down"),  # late
                     {"t": float("nan"), "entity": "S01", "kind": "station", "state": "idle"},
                     station(25.0, "S01", "idle")], reached=25.0,
                    rejected=[Rejected("bad JSON", "{oops")]),
    ]
    ingest, store = run(batches, path)
    c = ingest.counters
    assert c.accepted == 3 and c.rejected == 4
    assert c.reasons == {MALFORMED: 2, LATE: 1, "bad JSON": 1}
    assert "exploded" in c.samples[MALFORMED]  # the first malformed payload, to look at
    assert "t=15 s after t=20 s" in c.samples[LATE]
    assert c.samples["bad JSON"] == "{oops"

    kept = [(10.0, "S01", "processing"), (20.0, "S02", "idle"), (25.0, "S01", "idle")]
    rec = open_recording(path)
    assert [(e.t, e.entity, e.state) for e in rec.events(0.0, 100.0)] == kept
    assert [(e.t, e.entity, e.state) for e in store.history.events(0.0, 100.0)] == kept
    # the view never showed the late "down": S01 went from processing to idle
    assert store.state_at(16.0).entities["S01"].state == "processing"
    assert not [m for m in store.markers() if m.kind == "breakdown"]
    assert store.time_range[1] == 25.0


def test_too_far_ahead_and_kind_changes_are_refused(tmp_path: Path) -> None:
    batches = [SourceBatch([station(5.0), station(4000.0, "S02"),
                            Event(6.0, "S01", "agv", "moving")], reached=10.0)]
    ingest, store = run(batches, tmp_path / "f.twinlog", max_ahead_s=60.0)
    assert ingest.counters.reasons == {TOO_FAR_AHEAD: 1, KIND_CHANGED: 1}
    assert [e.t for e in store.history.events(0.0, 1e6)] == [5.0]
    # without the limit the event far ahead is taken (a feed may run ahead of its watermark)
    ingest, _ = run([SourceBatch([station(5.0), station(4000.0, "S02")], reached=10.0)],
                    tmp_path / "g.twinlog")
    assert ingest.counters.rejected == 0


def test_status_changes_and_gaps_become_annotations_and_markers_live_and_in_replay(
        tmp_path: Path) -> None:
    path = tmp_path / "gappy.twinlog"
    batches = [
        SourceBatch([station(1.0)], reached=100.0,
                    statuses=[SourceStatus(SourceState.CONNECTED, "broker up", 0.0)]),
        SourceBatch([station(160.0, state="idle")], reached=200.0,
                    statuses=[SourceStatus(SourceState.RECONNECTING, "lost the broker", 100.0),
                              SourceStatus(SourceState.CONNECTED, "broker up", 150.0)],
                    gaps=[Gap(100.0, 150.0, "connection lost")]),
    ]
    ingest, store = run(batches, path)
    assert ingest.counters.gaps == 1
    rec = open_recording(path)
    notes = [(a.kind, a.t, a.t_end, a.label) for a in rec.annotations()]
    assert ("gap", 100.0, 150.0, "gap: connection lost") in notes
    assert ("status", 100.0, None, "reconnecting: lost the broker") in notes
    live = sorted((m.kind, m.t, m.t_end, m.label) for m in store.markers())
    replay = run_to_end(prepare_replay(rec, ["S01"], annotations=rec.annotations()))
    assert sorted((m.kind, m.t, m.t_end, m.label) for m in replay.markers) == live
    assert [m.kind for m in sorted(store.markers(), key=lambda m: m.t)] == [
        "status", "status", "gap", "status"]


def test_a_source_that_raises_is_reported_failed_not_raised(tmp_path: Path) -> None:
    class Broken(ScriptedSource):
        def drain(self) -> SourceBatch:
            raise OSError("socket closed")

    store = StateStore()
    store.start_live([])
    ingest = Ingest(Broken([]), None, store)
    result = ingest.pump()
    assert [s.state for s in result.statuses] == [SourceState.FAILED]
    assert "socket closed" in result.statuses[0].message
    assert ingest.ended


def test_events_per_second_counts_accepted_events_over_wall_time() -> None:
    now = [100.0]
    batches = [SourceBatch([station(float(i))], reached=float(i)) for i in range(5)]
    ingest = Ingest(ScriptedSource(batches), clock=lambda: now[0])
    for _ in batches:
        ingest.pump()
        now[0] += 0.25
    assert ingest.counters.events_per_s == pytest.approx(4 / 1.0)


def test_events_a_source_built_directly_are_still_checked_field_by_field(tmp_path: Path) -> None:
    """The recording trusts ingest's validation (one check per event), so ingest must catch
    what a source put straight into an Event without parse_event: NaN, an unknown state, a
    bool for a number, a non-string id. An int time is taken as its float."""
    path = tmp_path / "direct.twinlog"
    bad = [Event(float("nan"), "S01", "station", "idle"),
           Event(11.0, "S01", "station", "exploded"),
           Event(12.0, "S01", "station", "idle", queue=True),
           Event(13.0, "S01", "station", "idle", wip=7),  # type: ignore[arg-type]
           Event(14.0, "S01", "station", "idle", x=float("inf"))]
    batches = [SourceBatch([station(10.0), *bad, Event(20, "S02", "station", "idle")],
                           reached=20.0)]
    ingest, store = run(batches, path)
    assert ingest.counters.accepted == 2
    assert ingest.counters.reasons == {MALFORMED: len(bad)}
    rec = [(e.t, e.entity, e.state) for e in open_recording(path).events(0.0, 100.0)]
    assert rec == [(10.0, "S01", "processing"), (20.0, "S02", "idle")]
    assert all(type(e.t) is float for e in open_recording(path).events(0.0, 100.0))
    assert [(e.t, e.entity) for e in store.history.events(0.0, 100.0)] == [(10.0, "S01"),
                                                                           (20.0, "S02")]


def test_the_recording_still_refuses_out_of_order_events_on_the_trusted_path(
        tmp_path: Path) -> None:
    with RecordingWriter(tmp_path / "w.twinlog") as w:
        assert w.append_validated(station(5.0))
        assert not w.append_validated(station(4.0))
        assert not w.append_validated(Event(6.0, "S01", "agv", "moving"))
        assert w.events_written == 1 and w.rejected == 2


def test_a_flood_beyond_the_pump_budget_waits_in_order_for_the_next_pumps(tmp_path: Path) -> None:
    """The app gives a pump a few ms (budget_s): the rest of a flood is taken by the next
    pumps, in order, and the view's live end never passes the last event taken."""
    flood = [station(i * 0.01, ("S01", "S02")[i % 2], ("idle", "processing")[i // 2 % 2])
             for i in range(20_000)]
    store = StateStore(interpolate=False)
    store.start_live(["S01", "S02"])
    src = ScriptedSource([SourceBatch(flood, reached=200.0)])
    with RecordingWriter(tmp_path / "flood.twinlog") as writer:
        ingest = Ingest(src, writer, store)
        ingest.budget_s = 0.0  # as little as possible: one clock check's worth per pump
        first = ingest.pump()
        assert 0 < len(first.events) < len(flood)
        assert ingest.counters.backlog == len(flood) - len(first.events)
        assert store.time_range[1] == first.events[-1].t  # not the source's 200 s
        taken = list(first.events)
        while ingest.counters.backlog > 5_000:
            taken += ingest.pump().events
        taken += ingest.pump(final=True).events  # stopping: everything that waits
        assert ingest.counters.backlog == 0
        assert store.time_range[1] == 200.0
    assert taken == flood
    assert [e.t for e in open_recording(tmp_path / "flood.twinlog").events(0.0, 1e3)] == \
        [e.t for e in flood]
    assert ingest.counters.accepted == len(flood)
