"""mqtt:// JSON profile against a real mosquitto: events from mosquitto_pub arrive, bad payloads
are rejected without stopping the source, a broker restart is a recorded gap after which the
persistent session delivers what was published meanwhile, a wrong password or an untrusted
certificate fails with a message saying so, and TLS + password works."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.twin.mosquitto import Broker, need_mosquitto, wait_until
from twin.sources import Gap, SourceState, open_source

pytestmark = need_mosquitto


@dataclass
class Seen:
    """Everything a source delivered over several drains."""

    events: list = field(default_factory=list)
    statuses: list = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    rejected: list = field(default_factory=list)

    def take(self, src) -> Seen:  # noqa: ANN001
        b = src.drain()
        self.events += b.events
        self.statuses += b.statuses
        self.gaps += b.gaps
        self.rejected += b.rejected
        return self

    def until(self, src, cond, timeout: float = 10.0, what: str = "") -> Seen:  # noqa: ANN001
        wait_until(lambda: cond(self.take(src)), timeout, what or "condition")
        return self

    def states(self) -> list[str]:
        return [s.state.value for s in self.statuses]


def pub(broker: Broker, topic: str, *lines: str, extra: tuple[str, ...] = ()) -> None:
    """Publish each line as one QoS-1 message with mosquitto_pub (not our code)."""
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                    "-t", topic, "-l", *extra], input="\n".join(lines) + "\n", text=True,
                   check=True, timeout=10)


def connected(src) -> bool:  # noqa: ANN001
    return src.status.state == SourceState.CONNECTED


@pytest.fixture()
def broker(tmp_path: Path):  # noqa: ANN201
    with Broker(tmp_path / "broker") as b:
        yield b


def test_events_from_mosquitto_pub_arrive_with_kind_and_id_from_the_topic(broker: Broker) -> None:
    src = open_source(broker.url("plant/dmw"))
    src.start()
    try:
        seen = Seen().until(src, lambda s: connected(src), what="connected")
        pub(broker, "plant/dmw/station/S07", json.dumps({"t": 12.5, "state": "processing", "wip": "W3"}),
            json.dumps({"t": 40.0, "state": "idle", "queue": 2}))
        pub(broker, "plant/dmw/agv/AGV1", json.dumps({"t": 41.0, "state": "moving", "x": 3.5,
                                                       "y": 7.25, "heading": 90}))
        seen.until(src, lambda s: len(s.events) == 3, what="3 events")
    finally:
        src.stop()
    s07 = [e for e in seen.events if e.entity == "S07"]
    assert [(e.t, e.kind, e.state, e.wip) for e in s07] == [(12.5, "station", "processing", "W3"),
                                                            (40.0, "station", "idle", "")]
    agv = next(e for e in seen.events if e.entity == "AGV1")
    assert (agv.kind, agv.x, agv.y, agv.heading) == ("agv", 3.5, 7.25, 90.0)
    assert seen.states()[:2] == ["connecting", "connected"]
    assert seen.take(src).states()[-1] == "stopped"
    assert not seen.rejected


def test_bad_payloads_are_rejected_with_a_sample_and_the_source_keeps_going(broker: Broker) -> None:
    src = open_source(broker.url())
    src.start()
    try:
        seen = Seen().until(src, lambda s: connected(src))
        pub(broker, "dmw/station/S01", json.dumps({"t": 10.0, "state": "idle"}))
        seen.until(src, lambda s: len(s.events) == 1)
        pub(broker, "dmw/station/S01",
            '{"t": 11, "state": ',  # truncated JSON
            '{"t": NaN, "state": "idle"}',
            '{"t": 12, "state": "exploded"}',
            '{"t": 999999999, "state": "idle"}',  # far in the future
            '{"t": 9000, "state": "idle"}',  # 2.5 h ahead of a shop at 10 s
            '{"t": 13, "state": "idle", "kind": "agv"}')  # payload contradicts the topic
        pub(broker, "dmw/robot/R1", '{"t": 12, "state": "idle"}')
        pub(broker, "dmw/station/S01", json.dumps({"t": 20.0, "state": "setup"}))
        seen.until(src, lambda s: len(s.events) == 2 and len(s.rejected) == 7, what="7 rejects")
    finally:
        src.stop()
    assert [(e.t, e.state) for e in seen.events] == [(10.0, "idle"), (20.0, "setup")]
    reasons = [r.reason for r in seen.rejected]
    assert "not JSON" in reasons[0]
    assert "NaN" in reasons[1]
    assert "unknown state 'exploded'" in reasons[2]
    assert "far in the future" in reasons[3] and "far in the future" in reasons[4]
    assert "about agv 'S01', the topic about station 'S01'" in reasons[5]
    assert "unknown kind 'robot'" in reasons[6]
    assert seen.rejected[2].sample == '{"t": 12, "state": "exploded"}'
    assert src.rejected_total == 7 and src.events_received == 2


def test_a_gateway_batch_is_read_item_by_item(broker: Broker) -> None:
    src = open_source(broker.url())
    src.start()
    try:
        seen = Seen().until(src, lambda s: connected(src))
        pub(broker, "dmw/events", json.dumps([
            {"t": 1.0, "entity": "S01", "kind": "station", "state": "setup"},
            {"t": 2.0, "entity": "S02", "kind": "station", "state": "melting"},
            {"t": 3.0, "entity": "AGV2", "kind": "agv", "state": "charging", "x": 1, "y": 2},
        ]), "[1, 2", '{"t": 1}')
        seen.until(src, lambda s: len(s.events) == 2 and len(s.rejected) == 3)
    finally:
        src.stop()
    assert [(e.entity, e.state) for e in seen.events] == [("S01", "setup"), ("AGV2", "charging")]
    assert "item 1: unknown state 'melting'" in seen.rejected[0].reason
    assert "not JSON" in seen.rejected[1].reason
    assert "must be a JSON array" in seen.rejected[2].reason


def test_broker_restart_is_a_gap_and_the_persistent_session_delivers_what_was_missed(
        tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker", persistence=True).start()
    src = open_source(broker.url(reconnect_min=2), client_id="dmw-test-persistent")
    src.start()
    try:
        seen = Seen().until(src, lambda s: connected(src))
        pub(broker, "dmw/station/S01", json.dumps({"t": 5.0, "state": "processing"}))
        seen.until(src, lambda s: len(s.events) == 1)
        broker.stop()
        seen.until(src, lambda s: src.status.state == SourceState.RECONNECTING, what="reconnecting")
        broker.start()
        # published while our source is still waiting to retry (at least 2 s): queued for us
        pub(broker, "dmw/station/S01", json.dumps({"t": 6.0, "state": "idle"}))
        seen.until(src, lambda s: len(s.events) == 2, timeout=20, what="the missed event")
        pub(broker, "dmw/station/S01", json.dumps({"t": 7.0, "state": "setup"}))
        seen.until(src, lambda s: len(s.events) == 3, what="an event after the restart")
    finally:
        src.stop()
        broker.stop()
    assert [(e.t, e.state) for e in seen.events] == [(5.0, "processing"), (6.0, "idle"),
                                                     (7.0, "setup")]
    assert seen.states()[:4] == ["connecting", "connected", "reconnecting", "connected"]
    assert len(seen.gaps) == 1
    gap = seen.gaps[0]
    assert gap.t0 == 5.0 and gap.t1 >= gap.t0
    assert "kept our session" in gap.reason


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_reopening_the_source_resumes_its_session(broker: Broker, protocol: str) -> None:
    """The app closed and opened again: QoS-1 events published meanwhile arrive."""
    src = open_source(broker.url(protocol=protocol))
    src.start()
    Seen().until(src, lambda s: connected(src))
    src.stop()
    pub(broker, "dmw/wip/W1", json.dumps({"t": 3.0, "state": "waiting"}))
    again = open_source(broker.url(protocol=protocol))
    again.start()
    try:
        seen = Seen().until(again, lambda s: len(s.events) == 1, what="the queued event")
    finally:
        again.stop()
    assert (seen.events[0].entity, seen.events[0].kind, seen.events[0].t) == ("W1", "wip", 3.0)


def test_unreachable_broker_is_reconnecting_with_the_reason(tmp_path: Path) -> None:
    from tests.twin.mosquitto import free_port

    src = open_source(f"mqtt://127.0.0.1:{free_port()}/dmw")
    src.start()
    try:
        seen = Seen().until(src, lambda s: src.status.state == SourceState.RECONNECTING)
    finally:
        src.stop()
    assert "connection refused" in seen.statuses[-1].message
    assert not seen.events


def test_tls_with_password(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker", tls=True, users={"line1": "s3cret!"}).start()
    ca = str(broker.certs["ca"])
    url = f"mqtts://line1:s3cret!@localhost:{broker.port}/dmw?ca={ca}"
    try:
        src = open_source(url)
        assert "s3cret" not in src.url and "s3cret" not in json.dumps(src.meta())
        src.start()
        try:
            seen = Seen().until(src, lambda s: connected(src))
            pub(broker, "dmw/order/O1", json.dumps({"t": 1.0, "state": "released"}),
                extra=("--cafile", ca, "-u", "line1", "-P", "s3cret!", "-h", "localhost"))
            seen.until(src, lambda s: len(s.events) == 1)
        finally:
            src.stop()
        assert seen.events[0].entity == "O1"

        wrong = open_source(f"mqtts://localhost:{broker.port}/dmw?ca={ca}", username="line1",
                            password="guess")
        wrong.start()
        try:
            Seen().until(wrong, lambda s: wrong.status.state == SourceState.FAILED)
        finally:
            wrong.stop()
        assert "bad user name or password" in wrong.status.message

        untrusted = open_source(f"mqtts://localhost:{broker.port}/dmw", username="line1",
                                password="s3cret!")  # system CAs only
        untrusted.start()
        try:
            Seen().until(untrusted, lambda s: untrusted.status.state == SourceState.FAILED)
        finally:
            untrusted.stop()
        assert "certificate is not trusted" in untrusted.status.message
    finally:
        broker.stop()
