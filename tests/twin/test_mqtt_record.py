"""``record mqtt://…``: a real mosquitto feed through the ingest pipeline into a recording —
events from mosquitto_pub, a bad payload counted, a broker restart mid-stream recorded as a
gap, the QoS-1 event published while we were away and the events after the restart kept."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

from main import main
from tests.twin.mosquitto import Broker, need_mosquitto, wait_until
from tests.twin.test_mqtt_source import pub
from twin.recording import open_recording

pytestmark = need_mosquitto


def test_record_an_mqtt_feed_across_a_broker_restart(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    broker = Broker(tmp_path / "broker", persistence=True).start()
    out = tmp_path / "feed.twinlog"
    done = threading.Event()

    def shop() -> None:  # the feed, published by mosquitto_pub while record runs
        try:
            # publish once record has subscribed (its start-up takes seconds on a busy machine)
            wait_until(lambda: re.search(r"dmw-test-record \d dmw", broker.log()), timeout=60,
                       what="record's subscription")
            time.sleep(0.2)
            pub(broker, "dmw/station/S01", json.dumps({"t": 10.0, "state": "processing"}),
                '{"t": 11, "state": "melting"}')
            pub(broker, "dmw/agv/AGV1", json.dumps({"t": 12.0, "state": "moving", "x": 1, "y": 2}))
            time.sleep(1.0)
            broker.stop()
            time.sleep(0.5)
            broker.start()
            pub(broker, "dmw/station/S01", json.dumps({"t": 20.0, "state": "idle"}))  # while away
            time.sleep(4.0)
            pub(broker, "dmw/station/S01", json.dumps({"t": 30.0, "state": "setup"}))
        finally:
            done.set()

    feeder = threading.Thread(target=shop, daemon=True)
    feeder.start()
    try:
        code = main(["record", broker.url(reconnect_min=2, client_id="dmw-test-record"),
                     "--out", str(out), "--duration", "20s",  # the feed needs ~8 s after subscribing
                     "--workshop", str(Path(__file__).resolve().parents[2] / "assets" /
                                        "workshops" / "machining13.toml")])
    finally:
        done.wait(30)
        broker.stop()
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    rec = open_recording(out)
    got = [(e.t, e.entity, e.state) for e in rec.events(0.0, 1e9)]
    assert got == [(10.0, "S01", "processing"), (12.0, "AGV1", "moving"),
                   (20.0, "S01", "idle"), (30.0, "S01", "setup")]
    labels = [a.label for a in rec.annotations()]
    assert any(lb.startswith("reconnecting") for lb in labels)
    assert any("kept our session" in lb for lb in labels)  # the gap, with its reason
    assert "rejected 1 x" in stdout and "melting" in stdout
    assert rec.meta["source"].startswith("mqtt://127.0.0.1:") and rec.meta["workshop"] == "machining13"
