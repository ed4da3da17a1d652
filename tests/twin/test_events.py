"""Event validation at the boundary: what a connector or file may send, and what it may not."""

from __future__ import annotations

import math

import pytest

from twin.events import COLUMNS, STATES, Event, EventError, parse_event
from twin.snapshot import Snapshot

GOOD = {"t": 12.5, "entity": "S07", "kind": "station", "state": "processing",
        "x": 16.0, "y": 7.5, "wip": "W0003", "order": "O0001", "process": "drill", "queue": 2}


def test_a_valid_payload_becomes_an_event_with_every_field() -> None:
    e = parse_event(GOOD)
    assert (e.t, e.entity, e.kind, e.state) == (12.5, "S07", "station", "processing")
    assert (e.x, e.y, e.heading) == (16.0, 7.5, None)
    assert (e.wip, e.order, e.process, e.agv, e.station) == ("W0003", "O0001", "drill", "", "")
    assert e.queue == 2.0 and isinstance(e.queue, float)


def test_an_event_round_trips_through_its_dict() -> None:
    e = parse_event(GOOD)
    assert parse_event(e.to_dict()) == e
    assert parse_event(e) == e
    assert "heading" not in e.to_dict() and "agv" not in e.to_dict()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"t": -1}, "'t' must be >= 0"),
        ({"t": math.nan}, "'t' must be finite"),
        ({"t": "soon"}, "'t' must be a number"),
        ({"t": True}, "'t' must be a number"),
        ({"entity": ""}, "'entity' must be a non-empty string"),
        ({"entity": 7}, "'entity' must be a non-empty string"),
        ({"kind": "robot"}, "unknown kind 'robot'"),
        ({"state": "moving"}, "unknown state 'moving' for kind 'station'"),
        ({"x": math.inf}, "'x' must be finite"),
        ({"heading": "north"}, "'heading' must be a number"),
        ({"wip": 3}, "'wip' must be a string id"),
        ({"colour": "red"}, "unknown field(s): colour"),
    ],
)
def test_a_malformed_payload_is_refused_with_the_reason(change: dict, reason: str) -> None:
    with pytest.raises(EventError) as err:
        parse_event({**GOOD, **change})
    assert reason in str(err.value)


@pytest.mark.parametrize("field", ["t", "entity", "kind", "state"])
def test_each_required_field_is_named_when_missing(field: str) -> None:
    payload = {k: v for k, v in GOOD.items() if k != field}
    with pytest.raises(EventError, match=f"missing field '{field}'"):
        parse_event(payload)


def test_non_mapping_payloads_are_refused() -> None:
    for bad in (None, [1, 2], "S07 processing", 42):
        with pytest.raises(EventError, match="event must be an object"):
            parse_event(bad)


def test_every_kind_accepts_exactly_its_own_states() -> None:
    for kind, states in STATES.items():
        for state in states:
            assert parse_event({"t": 0, "entity": "E", "kind": kind, "state": state}).state == state
    assert set(COLUMNS) >= {"t", "entity", "kind", "state", "x", "y", "heading"}


def test_snapshot_keeps_the_latest_event_per_entity() -> None:
    snap = Snapshot(0.0)
    snap.apply_all([
        Event(1.0, "S01", "station", "idle"),
        Event(2.0, "AGV1", "agv", "moving", x=1.0, y=2.0),
        Event(3.0, "S01", "station", "processing", wip="W1"),
    ])
    assert snap.t == 3.0 and len(snap) == 2
    assert snap.get("S01").state == "processing" and snap.get("S01").wip == "W1"
    assert [e.entity for e in snap.of_kind("agv")] == ["AGV1"]
    copy = snap.copy()
    copy.apply(Event(4.0, "S01", "station", "down"))
    assert snap.get("S01").state == "processing"  # the copy is independent
