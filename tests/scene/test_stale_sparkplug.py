"""A Sparkplug edge node that dies (NDEATH) leaves its stations drawn faded in the 3D scene,
with "stale (NDEATH at hh:mm:ss)" in the state, until the node is born again; the same in a
replay of the recording. Real mosquitto, our Sparkplug publisher, the app's ingest pipeline,
state store and scene (off-screen)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from scene import palette
from scene.workshop_scene import WorkshopScene, offscreen_plotter
from tests.twin.mosquitto import Broker, need_mosquitto, wait_until
from twin.events import Event
from twin.recording import RecordingWriter, open_recording
from twin.sources import SourceState, open_source
from twin.sources.ingest import Ingest
from twin.sources.mqtt_publisher import MqttPublisher
from twin.statestore import StateStore, prepare_replay, run_to_end
from twin.workshop import Workshop

pytestmark = need_mosquitto

NODE = SimpleNamespace(name="cell7")  # the edge node publishing S01
T0 = 1_750_000_000.0
PROCESSING = palette.STATION_STATE_COLOURS["processing"]
IDLE = palette.STATION_STATE_COLOURS["idle"]


@pytest.fixture(scope="module")
def scene(workshop: Workshop):
    plotter = offscreen_plotter((640, 360))
    sc = WorkshopScene(workshop, plotter)
    yield sc
    sc.close()
    plotter.close()


def publisher(broker: Broker) -> MqttPublisher:
    p = MqttPublisher(broker.url("dmw"), NODE, profile="sparkplug", t0_epoch=T0)
    p.start()
    assert p.wait_connected(10)
    return p


def test_a_dead_nodes_station_is_drawn_faded_until_its_rebirth(tmp_path: Path, scene,
                                                               workshop: Workshop) -> None:
    store = StateStore(interpolate=False)
    store.start_live(list(workshop.stations))
    path = tmp_path / "live.twinlog"

    def now():  # noqa: ANN202 - what the view shows at the live end
        return store.state_at(store.time_range[1])

    with Broker(tmp_path / "broker") as broker:
        src = open_source(broker.url("dmw", profile="sparkplug"))
        src.start()
        try:
            with RecordingWriter(path, {"source": src.url}) as writer:
                ingest = Ingest(src, writer, store)
                wait_until(lambda: (ingest.pump(), src.status.state)[1]
                           is SourceState.CONNECTED, what="connected")
                pub = publisher(broker)
                pub.publish([Event(0.0, "S01", "station", "processing"),
                             Event(0.0, "S02", "station", "idle")])
                wait_until(lambda: ingest.pump() is not None and "S02" in now().entities)
                scene.apply(now())
                assert scene.station_colour("S01") == PROCESSING
                assert not now().stale

                pub.stop()  # NDEATH
                wait_until(lambda: ingest.pump() is not None and "S01" in now().stale,
                           what="S01 stale")
                snap = now()
                assert snap.stale == {"S01": "stale (NDEATH at 00:00:00)",
                                      "S02": "stale (NDEATH at 00:00:00)"}
                assert snap.entities["S01"].state == "processing"  # the last state known
                scene.apply(snap)
                assert scene.station_colour("S01") != PROCESSING
                assert scene.station_colour("S01") == palette.stale_colour(PROCESSING)
                assert scene.station_colour("S02") == palette.stale_colour(IDLE)
                assert scene.station_colour("S03") == palette.NO_DATA  # never reported

                again = publisher(broker)  # NBIRTH + DBIRTH: the same state, current again
                try:
                    again.publish([Event(5.0, "S01", "station", "processing")])
                    wait_until(lambda: ingest.pump() is not None and "S01" not in now().stale,
                               what="S01 reborn")
                    snap = now()
                    scene.apply(snap)
                    assert scene.station_colour("S01") == PROCESSING
                    # S02 was not in the new birth: still the last state known, still faded
                    assert "S02" in snap.stale
                    assert scene.station_colour("S02") == palette.stale_colour(IDLE)
                    again.publish([Event(8.0, "S01", "station", "idle")])
                    wait_until(lambda: ingest.pump() is not None
                               and now().entities["S01"].state == "idle")
                finally:
                    again.stop()  # another NDEATH: S01 stale again from here
                wait_until(lambda: ingest.pump() is not None and "S01" in now().stale,
                           what="S01 stale again")
        finally:
            src.stop()

    # the recording carries it: a replay shows S01 stale between the death and the rebirth
    rec = open_recording(path)
    replay = StateStore(interpolate=False)
    replay.attach(run_to_end(prepare_replay(rec, list(workshop.stations),
                                            annotations=rec.annotations())))
    assert replay.state_at(2.0).stale.get("S01") == "stale (NDEATH at 00:00:00)"
    assert "S01" not in replay.state_at(6.0).stale
    scene.apply(replay.state_at(2.0))
    assert scene.station_colour("S01") == palette.stale_colour(PROCESSING)
    scene.apply(replay.state_at(6.0))
    assert scene.station_colour("S01") == PROCESSING
    assert replay.state_at(rec.time_range[1]).stale.get("S01") == "stale (NDEATH at 00:00:08)"


def test_every_stale_colour_differs_from_every_state_colour() -> None:
    states = set(palette.STATION_STATE_COLOURS.values())
    for c in palette.STATION_STATE_COLOURS.values():
        assert palette.stale_colour(c) not in states
