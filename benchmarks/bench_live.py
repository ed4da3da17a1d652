"""Live connector benchmark, MQTT part: a real mosquitto on a free loopback port.

    python benchmarks/bench_live.py [--quick]

Printed figures (JSON profile, QoS 1, persistent session — what a plant's feed uses):

* sustained events/s from mosquitto into a recording: ``mosquitto_pub -l`` (C, not ours)
  floods N events onto the broker, once as one message per event (``<prefix>/station/S01``)
  and once as arrays of 100 events (``<prefix>/events``, the gateway batch topic); our
  :class:`~twin.sources.mqtt.MqttSource` receives and decodes them and the app's ingest
  pipeline (:class:`~twin.sources.ingest.Ingest`, pumped every frame of 16 ms as the window
  does) validates them and writes them into a :class:`~twin.recording.RecordingWriter` and a
  live :class:`~twin.statestore.StateStore`;
* in the same run and the same messages, the raw rate ``mosquitto_sub -q 1`` receives (the
  baseline: the broker and a C client) and our rate as a fraction of it;
* end-to-end latency publish → in the store (through the ingest pipeline) p50 / p99 at a paced
  10,000 events/s from a Python publisher process (each event's ``t`` is its publish time;
  every millisecond's due events go out as one array on ``<prefix>/events``), and at a paced
  2,000 events/s one message per event;
* Sparkplug B: our publisher process (births, DDATA by exception) → our source, events/s
  decoded (one DDATA per event, so bounded like the per-event JSON feed).

* with the app open (its real main window under a virtual X server: 3D view, charts,
  panels, timeline, following the live session as File › Connect… does), the same flood of
  arrays into the session's recording: events/s sustained, the longest GUI-thread stall
  (a 5 ms probe timer, :class:`bench_app.StallProbe`), and at a paced 10,000 events/s the
  latency publish → in the store p50 / p99 and the stall again.

Targets (issue 12): >= 10,000 events/s sustained, GUI stall < 50 ms, p99 latency < 200 ms.
``--no-app`` leaves the app part out (no display needed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# DMW_BENCH_CODE: run against another tree's twin/ and tests/ (the "before" of a change)
sys.path.insert(0, os.environ.get("DMW_BENCH_CODE") or str(Path(__file__).resolve().parent.parent))

from tests.twin.mosquitto import Broker  # noqa: E402
from twin.recording import RecordingWriter  # noqa: E402
from twin.sources.ingest import Ingest  # noqa: E402
from twin.statestore import StateStore  # noqa: E402
from twin.sources import SourceState, open_source  # noqa: E402
from bench_app import reexec_under_xvfb  # noqa: E402 - benchmarks/ is on sys.path as the script's folder

FRAME_S = 0.016
ROOT = Path(__file__).resolve().parent.parent
WORKSHOP = ROOT / "assets" / "workshops" / "machining13.toml"  # has the station S01
#: The commit before the ingest pipeline validated each event once (each live event was
#: validated three times: in the source, in ingest, in the recording writer). Its code is
#: measured in the same run, on the same broker, as "before".
BEFORE_COMMIT = "beb1446"

BEFORE_RUNNER = r"""
import json, sys, types
from pathlib import Path
import bench_live
port, n, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
broker = types.SimpleNamespace(port=port, url=lambda path="dmw", **q: f"mqtt://127.0.0.1:{port}/{path}")
print(json.dumps(bench_live.throughput(broker, n, out, 100)))
"""


def throughput_before(broker: Broker, n: int, tmp: Path) -> dict[str, float] | None:
    """The batched throughput of :data:`BEFORE_COMMIT`'s code (git archive of its twin/ and
    tests/ into ``tmp``), in a subprocess on the same broker; None without git history."""
    code = tmp / "before"
    code.mkdir()
    arch = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE_COMMIT, "twin", "tests"],
                          capture_output=True)
    if arch.returncode != 0:
        print(f"  (no 'before' figure: git archive {BEFORE_COMMIT} failed: "
              f"{arch.stderr.decode().strip()[:200]})")
        return None
    subprocess.run(["tar", "-x", "-C", str(code)], input=arch.stdout, check=True)
    env = {**os.environ, "DMW_BENCH_CODE": str(code),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent), str(code)])}
    r = subprocess.run([sys.executable, "-c", BEFORE_RUNNER, str(broker.port), str(n),
                        str(tmp / "before.twinlog")], capture_output=True, text=True, env=env,
                       cwd=str(code), timeout=600)
    if r.returncode != 0:
        print(f"  (no 'before' figure: {r.stderr.strip()[-300:]})")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])

PACED_PUBLISHER = r"""
import json, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, rate, seconds, t0 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
batch = sys.argv[5] == "1"
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-paced", protocol=mqtt.MQTTv311)
c.max_inflight_messages_set(1000); c.max_queued_messages_set(0)
c.connect("127.0.0.1", port); c.loop_start()
n, start = 0, time.time()
states = ("idle", "processing")
while True:
    now = time.time()
    if now - start >= seconds:
        break
    due = int((now - start) * rate)
    if batch and due > n:
        t = time.time() - t0
        c.publish("bench/events", json.dumps([{"t": t, "entity": "S01", "kind": "station",
                  "state": states[i % 2], "queue": i % 7} for i in range(n, due)]), qos=1)
        n = due
    while n < due:
        t = time.time() - t0
        c.publish("bench/station/S01", json.dumps({"t": t, "state": states[n % 2], "queue": n % 7}), qos=1)
        n += 1
    time.sleep(0.001)
time.sleep(0.5); c.disconnect(); c.loop_stop()
print(n)
"""


def wait_connected(src, timeout: float = 10.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while src.status.state != SourceState.CONNECTED:
        if time.monotonic() > end:
            raise SystemExit(f"source did not connect: {src.status.message}")
        src.drain()
        time.sleep(0.01)


def throughput(broker: Broker, n: int, out: Path, per_message: int) -> dict[str, float]:
    """Flood n events with mosquitto_pub -l; our source → recording vs mosquitto_sub."""
    topic, lines = flood_lines(n, per_message)
    n_msgs = lines.count("\n")
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                            "-t", "bench/#", "-C", str(n_msgs), "-F", "%U"],
                           stdout=subprocess.PIPE, text=True)
    src = open_source(broker.url("bench"), client_id="bench-source")
    src.start()
    wait_connected(src)
    time.sleep(0.3)  # mosquitto_sub subscribed too
    got = 0
    first = last = 0.0
    with RecordingWriter(out, {"source": src.url, "bench": "mqtt"}) as writer:
        ingest = Ingest(src, writer, live_store())
        pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port),
                                "-q", "1", "-t", topic, "-l"],
                               stdin=subprocess.PIPE, text=True)
        pub.stdin.write(lines)
        pub.stdin.close()
        deadline = time.monotonic() + 120
        while got < n and time.monotonic() < deadline:
            res = ingest.pump()
            if res.events:
                now = time.monotonic()
                if not first:
                    first = now
                last = now
                got += len(res.events)
            time.sleep(FRAME_S)
        pub.wait(30)
        written = writer.events_written
    src.stop()
    stamps, _ = sub.communicate(timeout=60)
    ts = [float(s) for s in stamps.split()]
    raw = (per_message * (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 and ts[-1] > ts[0]
           else float("nan"))  # events/s
    ours = (got - 1) / (last - first) if last > first else float("nan")
    return {"events": n, "received": got, "recorded": written, "ours_per_s": ours,
            "raw_per_s": raw, "raw_received": len(ts),
            "rejected": src.rejected_total + ingest.counters.rejected}


def live_store() -> StateStore:
    store = StateStore()
    store.start_live(["S01"], meta={"source": "bench"}, source="bench")
    return store


def latency(broker: Broker, rate: float, seconds: float, batch: bool) -> dict[str, float]:
    """Paced publisher at ``rate`` events/s; publish → in the store latency percentiles (ms)."""
    src = open_source(broker.url("bench"), client_id="bench-latency")
    src.start()
    wait_connected(src)
    t0 = time.time()
    pub = subprocess.Popen([sys.executable, "-c", PACED_PUBLISHER, str(broker.port), str(rate),
                            str(seconds), repr(t0), "1" if batch else "0"],
                           stdout=subprocess.PIPE, text=True)
    lat: list[float] = []
    ingest = Ingest(src, None, live_store())
    while pub.poll() is None:
        res = ingest.pump()
        now = time.time()
        lat.extend((now - t0 - e.t) * 1000.0 for e in res.events)
        time.sleep(FRAME_S)
    sent = int(pub.communicate(timeout=30)[0].strip() or 0)
    end = time.monotonic() + 5
    while len(lat) < sent and time.monotonic() < end:
        res = ingest.pump()
        now = time.time()
        lat.extend((now - t0 - e.t) * 1000.0 for e in res.events)
        time.sleep(FRAME_S)
    src.stop()
    lat.sort()
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (lambda q: float("nan"))
    return {"rate": rate, "sent": sent, "received": len(lat), "p50_ms": pct(0.5),
            "p99_ms": pct(0.99), "max_ms": lat[-1] if lat else float("nan"),
            "mean_ms": statistics.fmean(lat) if lat else float("nan")}


SPARKPLUG_PUBLISHER = r"""
import sys, time, types
from twin.events import Event
from twin.sources.mqtt_publisher import MqttPublisher
port, n = int(sys.argv[1]), int(sys.argv[2])
p = MqttPublisher(f"mqtt://127.0.0.1:{port}/bench", types.SimpleNamespace(name="cell"),
                  profile="sparkplug", t0_epoch=1.75e9)
p.start(); p.wait_connected(10)
states = ("idle", "processing")
for i in range(0, n, 1000):
    p.publish([Event(j * 0.001, f"S{j % 13:02d}", "station", states[(j // 13) % 2], queue=j % 7)
               for j in range(i, min(n, i + 1000))])
time.sleep(1.0); p.stop()
"""


def sparkplug(broker: Broker, n: int) -> dict[str, float]:
    """Our Sparkplug publisher (births, DDATA by exception) → our source: decoded events/s."""
    src = open_source(broker.url("bench", profile="sparkplug"))
    src.start()
    wait_connected(src)
    pub = subprocess.Popen([sys.executable, "-c", SPARKPLUG_PUBLISHER, str(broker.port), str(n)],
                           cwd=Path(__file__).resolve().parent.parent)
    got, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + 120
    while got < n and time.monotonic() < deadline:
        k = len(src.drain().events)
        if k:
            last = time.monotonic()
            first = first or last
            got += k
        time.sleep(FRAME_S)
    pub.wait(60)
    src.stop()
    return {"events": n, "received": got, "per_s": (got - 1) / (last - first) if last > first
            else float("nan"), "rejected": src.rejected_total}


def flood_lines(n: int, per_message: int, t_first: float = 0.0) -> tuple[str, str]:
    """(topic, mosquitto_pub -l input) for n events of S01, 1 ms apart from ``t_first`` s."""
    def ev(i: int) -> dict:
        return {"t": t_first + i * 0.001, "state": ("idle", "processing")[i % 2], "queue": i % 7}
    if per_message == 1:
        return "bench/station/S01", "".join(json.dumps(ev(i)) + "\n" for i in range(n))
    return "bench/events", "".join(
        json.dumps([{**ev(i), "entity": "S01", "kind": "station"}
                    for i in range(j, min(n, j + per_message))]) + "\n"
        for j in range(0, n, per_message))


def app_live(broker: Broker, n: int, seconds: float, tmp: Path,
             background: bool = True) -> dict[str, dict[str, float]]:
    """The app open and following the broker: a flood of n events in arrays of 100 (events/s
    into the session's recording, GUI stall), then a paced 10,000 events/s (latency, stall).
    ``background``: validate and record in the worker thread (the app), else on the GUI
    thread in each frame (the app before ``BackgroundIngest``)."""
    tmp = tmp / ("background" if background else "gui-thread")
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    import pyvista as pv
    from PySide6.QtCore import QSettings

    from bench_app import StallProbe, spin
    from ui.main_window import MainWindow, application
    from ui.settings import AppSettings

    pv.global_theme.multi_samples = 0
    app = application()  # noqa: F841 - kept alive for the window
    settings = AppSettings(QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    w = MainWindow(settings, restore_layout=False)
    w.session.background_ingest = background
    w.resize(1600, 1000)
    w.show()
    w.selection.select("S01")  # the inspector follows the station the feed is about
    probe = StallProbe()
    probe.start()
    out: dict[str, dict[str, float]] = {}

    def go_live(name: str) -> tuple[Any, dict[str, Any]]:
        started: list[str] = []
        w.live_started.connect(started.append)
        if not w.start_live(broker.url("bench"), workshop_path=WORKSHOP,
                            record_dir=tmp / name, options={"client_id": f"bench-app-{name}-{tmp.name}"}):
            raise SystemExit("the app could not start the live session")
        end = time.monotonic() + 60
        while not (started and w.session.status.state is SourceState.CONNECTED):
            if time.monotonic() > end:
                raise SystemExit(f"the app did not connect: {w.session.status.message}")
            spin(0.05)
        w.live_started.disconnect(started.append)
        spin(1.0)  # the window settles (first frames, docks) before we measure
        ingest = w.session.ingest
        seen: dict[str, Any] = {"n": 0, "first": 0.0, "last": 0.0, "lat": [], "t0": None}
        pump = ingest.pump

        def timed_pump(**kw: Any):  # noqa: ANN202 - Ingest.pump, noting when events reach the store
            res = pump(**kw)
            if res.events:
                now = time.monotonic()
                seen["first"] = seen["first"] or now
                seen["last"] = now
                seen["n"] += len(res.events)
                if seen["t0"] is not None:
                    wall = time.time() - seen["t0"]
                    seen["lat"].extend((wall - e.t) * 1000.0 for e in res.events)
            return res

        ingest.pump = timed_pump  # type: ignore[method-assign]
        return ingest, seen

    # the flood
    ingest, seen = go_live("flood")
    topic, lines = flood_lines(n, 100)
    probe.reset()
    pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port),
                            "-q", "1", "-t", topic, "-l"], stdin=subprocess.PIPE, text=True)
    pub.stdin.write(lines)
    pub.stdin.close()
    end = time.monotonic() + 120
    while seen["n"] < n and time.monotonic() < end:
        spin(0.1)
    stalls, cpu = probe.stalls_ms(), probe.cpu_ms()
    pub.wait(30)
    written = ingest.writer.events_written if ingest.writer is not None else 0
    w.stop_live()
    out["flood"] = {"events": n, "received": seen["n"], "recorded": written,
                    "per_s": (seen["n"] - 1) / (seen["last"] - seen["first"])
                    if seen["last"] > seen["first"] else float("nan"),
                    "stall_max_ms": max(stalls), "stalls_over_50": sum(g > 50 for g in stalls),
                    "stall_cpu_ms": max(cpu), "rejected": ingest.counters.rejected}
    # paced, for latency
    ingest, seen = go_live("paced")
    seen["t0"] = t0 = time.time()
    pub = subprocess.Popen([sys.executable, "-c", PACED_PUBLISHER, str(broker.port), "10000",
                            str(seconds), repr(t0), "1"], stdout=subprocess.PIPE, text=True)
    probe.reset()
    while pub.poll() is None:
        spin(0.1)
    stalls, cpu = probe.stalls_ms(), probe.cpu_ms()
    sent = int(pub.communicate(timeout=30)[0].strip() or 0)
    end = time.monotonic() + 5
    while seen["n"] < sent and time.monotonic() < end:
        spin(0.1)
    w.stop_live()
    probe.stop()
    lat = sorted(seen["lat"])
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (lambda q: float("nan"))
    out["paced"] = {"rate": 10_000.0, "sent": sent, "received": seen["n"], "p50_ms": pct(0.5),
                    "p99_ms": pct(0.99), "max_ms": lat[-1] if lat else float("nan"),
                    "stall_max_ms": max(stalls), "stalls_over_50": sum(g > 50 for g in stalls),
                    "stall_cpu_ms": max(cpu)}
    w.close()
    return out


def bench_mqtt(quick: bool, with_app: bool = True) -> None:
    n = 50_000 if quick else 300_000
    seconds = 5.0 if quick else 20.0
    with tempfile.TemporaryDirectory() as tmp:
        with Broker(Path(tmp) / "broker") as broker:
            single = throughput(broker, n // 5, Path(tmp) / "single.twinlog", 1)
            before = throughput_before(broker, n, Path(tmp))
            batched = throughput(broker, n, Path(tmp) / "batched.twinlog", 100)
            la_b = latency(broker, 10_000.0, seconds, batch=True)
            la_s = latency(broker, 2_000.0, seconds, batch=False)
            sp = sparkplug(broker, n // 5)
            gui = app_live(broker, n, seconds, Path(tmp)) if with_app else None
            gui_before = app_live(broker, n, seconds, Path(tmp), background=False) if with_app else None
    load = os.getloadavg()[0]
    print(f"MQTT (JSON profile, QoS 1, persistent session, mosquitto on loopback; "
          f"{os.cpu_count()} cores, load average {load:.1f} during the run)")
    for name, th in (("one event per message", single), ("arrays of 100 events", batched)):
        print(f"  {name} ({th['events']} events):")
        print(f"    into the recording : {th['ours_per_s']:>9,.0f} events/s ({th['received']} "
              f"received, {th['recorded']} recorded, {th['rejected']} rejected)")
        print(f"    mosquitto_sub raw  : {th['raw_per_s']:>9,.0f} events/s "
              f"({th['raw_received']} messages)")
        print(f"    ratio ours / raw   : {th['ours_per_s'] / th['raw_per_s']:.2f}"
              + ("  (mosquitto_sub only counts messages; we decode and validate each event)"
                 if th["raw_received"] < th["events"] else ""))
    for name, la in (("arrays every 1 ms", la_b), ("one event per message", la_s)):
        print(f"  latency publish → in the store at {la['rate']:,.0f} events/s, {name}, {seconds:g} s: "
              f"p50 {la['p50_ms']:.1f} ms, p99 {la['p99_ms']:.1f} ms, max {la['max_ms']:.1f} ms "
              f"({la['received']}/{la['sent']} received)")
    print(f"  Sparkplug B, one DDATA per event ({sp['events']} events, our publisher → our "
          f"source): {sp['per_s']:,.0f} events/s decoded ({sp['received']} received, "
          f"{sp['rejected']} rejected)")
    if before is not None:
        print(f"  arrays of 100 into the recording, same run, before (commit {BEFORE_COMMIT}: "
              f"validated 3x) / after (validated once): {before['ours_per_s']:,.0f} / "
              f"{batched['ours_per_s']:,.0f} events/s = "
              f"{batched['ours_per_s'] / before['ours_per_s']:.2f}x "
              f"({before['recorded']} recorded before)")
    ok_rate = batched["ours_per_s"] >= 10_000
    ok_lat = la_b["p99_ms"] < 200
    if gui is not None:
        fl, pa = gui["flood"], gui["paced"]
        print("  with the app open (main window 1600x1000 under Xvfb, following the feed, "
              "recording it):")
        print(f"    arrays of 100 into the recording: {fl['per_s']:>9,.0f} events/s "
              f"({fl['received']} received, {fl['recorded']} recorded, {fl['rejected']} "
              f"rejected) = {fl['per_s'] / batched['raw_per_s']:.3f} x mosquitto_sub raw; "
              f"longest GUI stall {fl['stall_max_ms']:.1f} ms ({fl['stalls_over_50']} > 50 ms; "
              f"GUI-thread CPU in a gap at most {fl['stall_cpu_ms']:.1f} ms)")
        print(f"    paced 10,000 events/s, arrays every 1 ms, {seconds:g} s: latency publish → "
              f"in the store p50 {pa['p50_ms']:.1f} ms, p99 {pa['p99_ms']:.1f} ms, max "
              f"{pa['max_ms']:.1f} ms ({pa['received']}/{pa['sent']} received); longest GUI "
              f"stall {pa['stall_max_ms']:.1f} ms ({pa['stalls_over_50']} > 50 ms; GUI-thread CPU in a gap "
              f"at most {pa['stall_cpu_ms']:.1f} ms)")
        if gui_before is not None:
            bf, bp = gui_before["flood"], gui_before["paced"]
            print(f"    same run, validating and recording on the GUI thread (before) / in the worker "
                  f"(after): flood {bf['per_s']:,.0f} / {fl['per_s']:,.0f} events/s = "
                  f"{fl['per_s'] / bf['per_s']:.2f}x; longest stall {bf['stall_max_ms']:.0f} / "
                  f"{fl['stall_max_ms']:.0f} ms (GUI-thread CPU in it {bf['stall_cpu_ms']:.0f} / "
                  f"{fl['stall_cpu_ms']:.0f} ms); paced p99 {bp['p99_ms']:,.0f} / {pa['p99_ms']:,.0f} ms, "
                  f"stall {bp['stall_max_ms']:.0f} / {pa['stall_max_ms']:.0f} ms")
        print("    (stall = longest gap between ticks of a 5 ms timer on the GUI thread, minus 5 ms;"
              " its CPU part is our own work, the rest waiting for a core)")
        ok_rate = ok_rate and fl["per_s"] >= 10_000
        ok_lat = ok_lat and pa["p99_ms"] < 200
        # the target is a stall while the app follows a sustained 10,000 events/s (the paced
        # run); the flood runs the publisher flat out on the same cores: printed beside it
        ok_stall = pa["stall_max_ms"] < 50
        print(f"  GUI stall < 50 ms at 10,000 events/s sustained {'met' if ok_stall else 'NOT met'} "
              f"({pa['stall_max_ms']:.0f} ms); during the unthrottled flood ({fl['per_s']:,.0f} events/s, "
              f"publisher and broker on the same machine) {fl['stall_max_ms']:.0f} ms "
              f"({'< 50 ms' if fl['stall_max_ms'] < 50 else 'over 50 ms'})")
    print(f"  targets (batched feed{', app open' if gui else ''}): >= 10,000 events/s "
          f"{'met' if ok_rate else 'NOT met'}; "
          f"p99 < 200 ms at 10,000/s {'met' if ok_lat else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run (~1 min)")
    ap.add_argument("--no-app", action="store_true",
                    help="leave out the part with the app open (no display needed)")
    args = ap.parse_args()
    if not args.no_app:
        reexec_under_xvfb(__file__)
    bench_mqtt(args.quick, with_app=not args.no_app)


if __name__ == "__main__":
    main()
