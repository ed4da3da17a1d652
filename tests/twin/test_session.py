"""The session model without Qt: live source in, recording and view alike, overlay, selection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.twin.source_support import station_event as ev
from tests.twin.source_support import wait_until
from twin.recording import open_recording
from twin.session import Session
from twin.sources import SourceBatch, SourceState, SourceStatus
from twin.sources.ingest import LATE, MALFORMED
from twin.sources.sim import SimSource, sim_url
from twin.statestore import prepare_replay, run_to_end
from twin.timecursor import CursorMode
from twin.workshop import load_workshop


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedSource:
    """A test double of a feed that hands out the batches it was given."""

    url = "test://user:secret@feed"

    def __init__(self, batches: list[SourceBatch]) -> None:
        self.batches = list(batches)
        self.status = SourceStatus(SourceState.CONNECTING)
        self.stopped = False

    def meta(self) -> dict[str, Any]:
        return {"source": "test://feed"}

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped = True

    def drain(self) -> SourceBatch:
        return self.batches.pop(0) if self.batches else SourceBatch(reached=-1.0)


@dataclass
class Report:
    per_station: dict[str, float]



@pytest.fixture(scope="module")
def workshop(machining13_path: Path):  # noqa: ANN201
    return load_workshop(machining13_path)



def test_bad_events_are_rejected_counted_and_the_session_keeps_running(
        workshop, tmp_path: Path) -> None:  # noqa: ANN001
    src = ScriptedSource([
        SourceBatch([ev(5.0)], reached=10.0,
                    statuses=[SourceStatus(SourceState.CONNECTED, "feed up", 0.0)]),
        SourceBatch([{"t": 12.0, "entity": "S02"}, ev(3.0, "S02", "down"), ev(20.0, "S02")],
                    reached=20.0),
        SourceBatch([ev(30.0, "S01", "idle")], reached=40.0),
    ])
    s = Session(follow_delay_s=0.0)
    seen: list[SourceState] = []
    s.status_changed.connect(lambda st: seen.append(st.state))
    path = s.start_live(src, workshop, record_dir=tmp_path)
    assert path is not None and s.live and s.cursor.mode is CursorMode.FOLLOWING
    assert "secret" not in s.description and path.name in s.description
    for _ in range(3):
        s.tick()
    assert s.counters.rejected == 2 and s.counters.reasons == {MALFORMED: 1, LATE: 1}
    assert s.counters.accepted == 3
    assert s.cursor.range[1] == 40.0 and s.cursor.t == 40.0  # still following
    assert seen == [SourceState.CONNECTING, SourceState.CONNECTED]
    assert s.store.state_at(10.0).entities.get("S02") is None  # the late 'down' never shown
    s.stop_live()
    assert src.stopped and not s.live and not s.cursor.live
    assert s.recording_path == path and s.description.startswith("recorded live session")
    rec = open_recording(path)
    kept = [(e.t, e.entity, e.state) for e in rec.events(0.0, 100.0)]
    assert kept == [(e.t, e.entity, e.state) for e in s.store.history.events(0.0, 100.0)]
    assert kept == [(5.0, "S01", "processing"), (20.0, "S02", "processing"),
                    (30.0, "S01", "idle")]


def catch_up(s: Session) -> None:
    """Tick until the live events that arrived are all taken (a frame takes at most
    LIVE_PUMP_BUDGET_S of them; ten minutes of warm-up may need a few)."""
    s.tick()
    while s.counters.backlog:
        s.tick()


def test_a_simulated_shop_followed_live_then_stopped_is_a_scrubbable_recorded_shift(
        workshop, tmp_path: Path) -> None:  # noqa: ANN001
    clock = ManualClock()
    src = SimSource(sim_url(workshop.path, speed=100, warmup_min=10, seed=2), tick_s=0.002,
                    clock=clock)
    s = Session(clock=clock)
    out = s.start_live(src, workshop, record_dir=tmp_path)
    assert s.paced and s.cursor.speed == 100.0
    wait_until(lambda: src.reached >= 600.0)
    catch_up(s)
    assert s.cursor.t == pytest.approx(600.0 - 1.0)  # a second behind the live edge
    # changing the speed while following changes the shop's pace
    s.set_speed(300.0)
    assert src.speed == 300.0
    clock.now += 2.0
    wait_until(lambda: src.reached >= 1200.0)
    catch_up(s)
    assert s.cursor.t == pytest.approx(1199.0)
    # paused: the speed is the replay's own, the shop keeps its pace
    s.cursor.pause()
    s.set_speed(10.0)
    assert src.speed == 300.0
    s.cursor.follow()
    assert s.cursor.speed == 300.0  # following = at the shop's pace
    s.stop_live()
    assert s.store.time_range[1] == pytest.approx(1200.0)  # everything, no follow delay
    rec = open_recording(out)
    assert rec.complete and rec.event_count == s.counters.accepted
    assert rec.time_range[1] <= 1200.0


def test_a_source_that_ends_by_itself_ends_the_live_session(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    src = ScriptedSource([
        SourceBatch([ev(5.0)], reached=10.0),
        SourceBatch([ev(8.0, "S02")], reached=12.0,
                    statuses=[SourceStatus(SourceState.FAILED, "broker refused the password", 12.0)]),
    ])
    s = Session()
    ended: list[SourceStatus] = []
    s.live_ended.connect(ended.append)
    out = s.start_live(src, workshop, record_dir=tmp_path)
    s.tick()
    s.tick()
    assert [e.message for e in ended] == ["broker refused the password"]
    assert not s.live and not s.store.live and s.store.time_range[1] == 12.0
    rec = open_recording(out)
    assert rec.complete and rec.event_count == 2
    assert rec.annotations()[-1].label == "failed: broker refused the password"


def test_replay_overlay_scores_verification_and_selection(workshop, tmp_path: Path) -> None:  # noqa: ANN001
    s = Session()
    from twin.simulator import Simulator
    from twin.statestore import MemoryHistory

    hist = MemoryHistory()
    hist.append(Simulator(workshop, seed=1).step_until(1800.0))
    prepared = run_to_end(prepare_replay(hist, list(workshop.stations)))
    shown: list[Any] = []
    s.workshop_changed.connect(shown.append)
    s.selection.select("S03")
    s.show_replay(prepared, workshop, tmp_path / "x.twinlog", at=600.0, play=True, speed=60.0)
    assert shown == [workshop] and s.selection.entity == ""  # a new shop: nothing selected
    assert s.cursor.range == (0.0, hist.time_range[1]) and s.cursor.t == 600.0
    assert s.cursor.mode is CursorMode.PLAYING and s.cursor.speed == 60.0
    assert s.description == f"replay: {tmp_path / 'x.twinlog'}"

    modes: list[str] = []
    scores: list[dict] = []
    s.overlay_changed.connect(modes.append)
    s.scores_changed.connect(scores.append)
    s.set_verification(Report({"S07": 0.1, "S01": 0.9}))
    assert s.overlay == "consistency" and modes == ["consistency"]
    assert scores == [{"S07": 0.1, "S01": 0.9}] and s.verification.per_station["S07"] == 0.1
    with pytest.raises(ValueError, match="S07"):
        s.set_scores({"S07": 1.5})
    with pytest.raises(ValueError, match="heatmap"):
        s.set_overlay("heatmap")
    s.set_overlay("state")
    assert modes == ["consistency", "state"] and s.scores == {"S07": 0.1, "S01": 0.9}
