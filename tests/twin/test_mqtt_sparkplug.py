"""Sparkplug B profile against a real mosquitto: births and data by exception become the same
events that were published, a seq jump makes the source request a rebirth (seen on the broker
by mosquitto_sub) and the publisher answers it, NDEATH marks the node's entities stale."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.twin.mosquitto import Broker, need_mosquitto, wait_until
from tests.twin.test_mqtt_source import Seen, connected
from twin.events import Event
from twin.sources import SourceState, open_source
from twin.sources import sparkplug as spb
from twin.sources.mqtt_publisher import MqttPublisher

pytestmark = need_mosquitto

SHOP = SimpleNamespace(name="cell7")
T0 = 1_750_000_000.0  # shift start, UTC epoch seconds

EVENTS = [
    Event(0.0, "S01", "station", "idle", x=10.0, y=7.5, heading=270.0, queue=0.0),
    Event(0.0, "AGV1", "agv", "idle", x=1.0, y=1.0, heading=0.0),
    Event(12.25, "S01", "station", "processing", x=10.0, y=7.5, heading=270.0, wip="W1",
          process="drill", queue=0.0),
    Event(13.0, "AGV1", "agv", "moving", x=2.5, y=1.0, heading=0.0, wip="W2"),
    Event(40.5, "S01", "station", "idle", x=10.0, y=7.5, heading=270.0, queue=1.0, energy=0.75),
]


@pytest.fixture()
def broker(tmp_path: Path):  # noqa: ANN201
    with Broker(tmp_path / "broker") as b:
        yield b


def test_the_proto_subset_matches_tahus_field_numbers() -> None:
    """Our run-time descriptor uses the .proto's own names and numbers (wire compatible)."""
    text = (Path(spb.__file__).parent / "sparkplug_b.proto").read_text()
    metric = text[text.index("message Metric {"):text.index("message MetricValueExtension")]
    for f in spb.Payload.Metric.DESCRIPTOR.fields:
        assert re.search(rf"\b{f.name}\s*=\s*{f.number};", metric), f.name
    tail = text[text.rindex("optional uint64   timestamp"):]
    for f in spb.Payload.DESCRIPTOR.fields:
        assert re.search(rf"\b{f.name}\s*=\s*{f.number};", tail), f.name


def start_pair(broker: Broker) -> tuple[MqttPublisher, object, Seen]:
    src = open_source(broker.url("dmw", profile="sparkplug"))
    src.start()
    seen = Seen().until(src, lambda s: connected(src), what="source connected")
    pub = MqttPublisher(broker.url("dmw"), SHOP, profile="sparkplug", t0_epoch=T0)
    pub.start()
    assert pub.wait_connected(10)
    return pub, src, seen


def test_births_and_data_by_exception_give_back_the_published_events(broker: Broker) -> None:
    pub, src, seen = start_pair(broker)
    try:
        pub.publish(EVENTS)
        seen.until(src, lambda s: len(s.events) == len(EVENTS), what="all events")
    finally:
        pub.stop()
        src.stop()
    assert seen.events == EVENTS  # t to the millisecond: these times are exact in ms
    assert src.meta()["t0_epoch"] == T0 and src.meta()["workshop"] == "cell7"
    assert not seen.rejected and not seen.gaps


def test_seq_jump_requests_a_rebirth_which_restores_the_state(broker: Broker) -> None:
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-C", "1",
                            "-t", "spBv1.0/dmw/NCMD/#", "-F", "%t %x"], stdout=subprocess.PIPE,
                           text=True)
    pub, src, seen = start_pair(broker)
    try:
        pub.publish(EVENTS[:2])
        seen.until(src, lambda s: len(s.events) == 2)
        pub._seq = (pub._seq + 3) % 256  # three messages lost on the way
        pub.publish([EVENTS[2]])
        wait_until(lambda: pub.rebirths == 1, what="the publisher's rebirth")
        pub.publish(EVENTS[3:])
        seen.until(src, lambda s: len(s.events) >= 4 and s.gaps, what="events after the rebirth")
        out, _ = sub.communicate(timeout=10)
    finally:
        sub.kill()
        pub.stop()
        src.stop()
    topic, hexpayload = out.split()
    assert topic == "spBv1.0/dmw/NCMD/cell7"
    cmd = spb.decode(bytes.fromhex(hexpayload))
    assert [(m.name, spb.value_of(m)) for m in cmd.metrics] == [(spb.REBIRTH, True)]
    assert src.rebirths_requested == 1
    gap = seen.gaps[0]
    assert "seq jump (expected 3, got 6)" in gap.reason
    # the DDATA after the jump was dropped; S01's state came back in its rebirth DBIRTH, and
    # AGV1's unchanged birth was not repeated as an event
    assert seen.events == EVENTS


def test_ndeath_marks_the_nodes_entities_stale_until_its_next_birth(broker: Broker) -> None:
    pub, src, seen = start_pair(broker)
    pub.publish(EVENTS[:2])
    seen.until(src, lambda s: len(s.events) == 2)
    pub.stop()  # sends NDEATH
    seen.until(src, lambda s: "cell7" in src.stale, what="stale")
    assert src.stale["cell7"] == {"S01", "AGV1"}
    assert "offline (NDEATH): its 2 entities are stale" in seen.statuses[-1].message
    assert src.status.state == SourceState.CONNECTED  # the broker is fine, the node is not
    again = MqttPublisher(broker.url("dmw"), SHOP, profile="sparkplug", t0_epoch=T0)
    again.start()
    try:
        again.publish(EVENTS[2:3])
        seen.until(src, lambda s: "cell7" not in src.stale and len(s.events) == 3, what="rebirth")
    finally:
        again.stop()
        src.stop()
    assert any("was offline (NDEATH → NBIRTH); its 2 entities unknown" in g.reason
               for g in seen.gaps)
    assert seen.events[-1] == EVENTS[2]


def test_a_node_killed_without_goodbye_dies_by_its_will(tmp_path: Path, broker: Broker) -> None:
    """The broker publishes the NDEATH will when the edge node's process dies."""
    src = open_source(broker.url("dmw", profile="sparkplug"))
    src.start()
    seen = Seen().until(src, lambda s: connected(src))
    script = (
        "import sys, time, types\n"
        "from twin.events import Event\n"
        "from twin.sources.mqtt_publisher import MqttPublisher\n"
        f"p = MqttPublisher({broker.url('dmw')!r}, types.SimpleNamespace(name='cell7'),"
        f" profile='sparkplug', t0_epoch={T0})\n"
        "p.start(); p.wait_connected(10)\n"
        "p.publish([Event(1.0, 'S09', 'station', 'setup')])\n"
        "print('up', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([__import__("sys").executable, "-c", script], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout.readline().strip() == "up"
        seen.until(src, lambda s: len(s.events) == 1)
        proc.kill()
        seen.until(src, lambda s: "cell7" in src.stale, timeout=20, what="NDEATH will")
    finally:
        proc.kill()
        proc.wait()
        src.stop()
    assert src.stale["cell7"] == {"S09"}


def test_sparkplug_garbage_is_rejected(broker: Broker) -> None:
    src = open_source(broker.url("dmw", profile="sparkplug"))
    src.start()
    try:
        seen = Seen().until(src, lambda s: connected(src))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t",
                        "spBv1.0/dmw/NBIRTH/n1", "-m", "\xff\xfe not protobuf"], check=True)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t",
                        "spBv1.0/dmw/WHATEVER/n1", "-m", ""], check=True)
        seen.until(src, lambda s: len(s.rejected) == 2)
    finally:
        src.stop()
    assert "not a Sparkplug B payload" in seen.rejected[0].reason
    assert "unknown message type 'WHATEVER'" in seen.rejected[1].reason


def test_broker_restart_is_recovered_by_rebirth(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "restart").start()
    src = open_source(broker.url("dmw", profile="sparkplug"))
    src.start()
    pub = MqttPublisher(broker.url("dmw"), SHOP, profile="sparkplug", t0_epoch=T0)
    try:
        seen = Seen().until(src, lambda s: connected(src))
        pub.start()
        assert pub.wait_connected(10)
        pub.publish(EVENTS[:2])
        seen.until(src, lambda s: len(s.events) == 2)
        broker.stop()
        seen.until(src, lambda s: src.status.state == SourceState.RECONNECTING)
        pub.publish(EVENTS[2:3])  # lost: the broker is away, Sparkplug does not queue
        broker.start()
        seen.until(src, lambda s: connected(src) and s.gaps, timeout=20, what="gap")
        wait_until(lambda: pub.status.state == SourceState.CONNECTED, timeout=20)
        seen.until(src, lambda s: any(e.wip == "W1" for e in s.events), timeout=10,
                   what="S01 from its rebirth")
        reborn = seen.events[2:]
        pub.publish(EVENTS[3:])
        seen.until(src, lambda s: len(s.events) == 2 + len(reborn) + 2,
                   what="data after the restart")
    finally:
        pub.stop()
        src.stop()
        broker.stop()
    states = [st for i, st in enumerate(seen.states()) if i == 0 or st != seen.states()[i - 1]]
    assert states == ["connecting", "connected", "reconnecting", "connected"]
    reasons = " | ".join(g.reason for g in seen.gaps)
    assert "Sparkplug sessions are clean" in reasons
    # the change made while the broker was away is known again from S01's rebirth; AGV1's
    # unchanged state comes again only if the node's NDEATH will reached us as the broker
    # shut down (then AGV1 was stale, and its birth makes it current again)
    s01 = reborn[0]
    assert (s01.entity, s01.state, s01.wip) == ("S01", "processing", "W1")
    died = any("(NDEATH)" in st.message for st in seen.statuses)
    assert [(e.entity, e.state) for e in reborn[1:]] == ([("AGV1", "idle")] if died else [])
    assert seen.events[2 + len(reborn):] == EVENTS[3:]
    assert [e.t for e in seen.events] == sorted(e.t for e in seen.events)
