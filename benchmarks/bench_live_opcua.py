"""OPC UA live benchmark: 500 monitored items changing every second (prints figures).

Our server (:class:`twin.sources.opcua_server.OpcUaPublisher`) runs in a child process and
publishes a synthetic fleet of 84 AGVs (6 variables each: X, Y, Heading, State, Load,
Station = 504 monitored items); every AGV reports once per second with all six values
changed. In this process our ``opc.tcp://`` source subscribes to all of them and is drained
every 20 ms (a GUI frame), each batch appended to a ``.twinlog`` recording. Measured:

* sustained events/s and item notifications/s into the recording,
* end-to-end latency per event: drain time (wall) - the value's SourceTimestamp, p50 / p99
  (includes the 100 ms publishing interval),
* baseline in the same run: a bare asyncua subscription to the same 504 items (a handler
  that only counts) — the raw rate the stack delivers, and its latency,
* headroom: the same fleet reporting 10x per second (5,040 item changes/s) through our source.

Targets (issue 12): 500 items changing every second sustained, p99 < 200 ms.
Usage: python benchmarks/bench_live_opcua.py [--quick] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_AGVS = 84  # x 6 variables = 504 monitored items


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int, t0: float, seconds: float, rate_hz: float, cert_dir: str, ready: mp.Event,
          report: mp.Queue) -> None:
    """Child process: our server, every AGV reporting ``rate_hz`` times per second."""
    from twin.events import Event
    from twin.sources.opcua_server import OpcUaPublisher

    fleet = SimpleNamespace(name="bench-fleet", stations={}, agvs={f"A{i:03d}": None for i in range(N_AGVS)})
    pub = OpcUaPublisher(f"opc.tcp://127.0.0.1:{port}", fleet, cert_dir=cert_dir, t0_epoch=t0)  # type: ignore[arg-type]
    pub.start()
    ready.set()
    k = 0
    end = time.time() + seconds
    period = 1.0 / rate_hz
    next_t = time.time()
    states = ("moving", "loading")
    writes: list[float] = []
    cpu0, wall0 = time.process_time(), time.time()
    while time.time() < end:
        k += 1
        now = time.time() - t0
        w0 = time.perf_counter()
        pub.publish([
            Event(now, a, "agv", states[k % 2], x=0.01 * k + i, y=0.02 * k, heading=float(k % 360),
                  wip=f"W{k % 2}", station=f"S{k % 2}", agv=a)
            for i, a in enumerate(fleet.agvs)
        ])
        writes.append(time.perf_counter() - w0)
        next_t += period
        time.sleep(max(0.0, next_t - time.time()))
    report.put({"server_cpu": (time.process_time() - cpu0) / (time.time() - wall0),
                "write_p50_ms": 1000 * statistics.median(writes), "write_max_ms": 1000 * max(writes)})
    pub.stop()


def start_server(seconds: float, rate_hz: float, cert_dir: str) -> tuple[mp.Process, int, float, mp.Queue]:
    port, t0 = free_port(), time.time()
    ctx = mp.get_context("spawn")
    ready, report = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=serve, args=(port, t0, seconds, rate_hz, cert_dir, ready, report), daemon=True)
    proc.start()
    if not ready.wait(60):
        raise SystemExit("bench_live_opcua: the server did not start")
    return proc, port, t0, report


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def run_source(seconds: float, rate_hz: float, tmp: Path, publishing_s: float = 0.1) -> dict[str, float]:
    """Our source → recording, drained every 20 ms."""
    from twin.recording import RecordingWriter
    from twin.sources import SourceState, open_source

    proc, port, t0, report = start_server(seconds + 6.0, rate_hz, str(tmp / "server"))
    src = open_source(f"opc.tcp://127.0.0.1:{port}", cert_dir=str(tmp / "client"),
                      publishing_interval_s=publishing_s)
    lat: list[float] = []
    n_events = 0
    with RecordingWriter(tmp / f"bench-{rate_hz:g}.twinlog", {"source": "bench"}) as rec:
        src.start()
        deadline = time.time() + 30
        while src.status.state != SourceState.CONNECTED and time.time() < deadline:
            for e in src.drain().events:
                rec.append(e)
            time.sleep(0.02)
        time.sleep(1.0)
        for e in src.drain().events:  # initial values: not part of the measurement
            rec.append(e)
        items0 = src.events_received  # type: ignore[attr-defined]
        start, cpu0 = time.time(), time.process_time()
        while time.time() - start < seconds:
            b = src.drain()
            now = time.time()
            for e in b.events:
                rec.append(e)
                lat.append(now - (t0 + e.t))  # type: ignore[union-attr]
            n_events += len(b.events)
            time.sleep(0.02)
        wall = time.time() - start
        cpu = (time.process_time() - cpu0) / wall
        items = src.events_received - items0  # type: ignore[attr-defined]
    src.stop()  # before the server ends its run: a client left connected logs the closed connection
    server = report.get(timeout=60)
    proc.join(20)
    return {"events_s": n_events / wall, "items_s": items / wall, "p50_ms": 1000 * pct(lat, 0.5),
            "p99_ms": 1000 * pct(lat, 0.99), "max_ms": 1000 * max(lat, default=float("nan")),
            "client_cpu": cpu, **server}


def run_raw(seconds: float, rate_hz: float, tmp: Path) -> dict[str, float]:
    """Baseline: a bare asyncua subscription to the same items, counting in its handler."""
    proc, port, _t0, report = start_server(seconds + 6.0, rate_hz, str(tmp / "server-raw"))
    lat: list[float] = []
    count = [0]
    counting = threading.Event()

    class Handler:
        def datachange_notification(self, node, val, data):  # noqa: ANN001, ANN201
            if counting.is_set():
                count[0] += 1
                ts = data.monitored_item.Value.SourceTimestamp
                lat.append(time.time() - ts.timestamp())

    async def main() -> float:
        from asyncua import Client

        async with Client(f"opc.tcp://127.0.0.1:{port}") as c:
            idx = await c.get_namespace_index("urn:dmw-twin:shop")
            agvs = await c.nodes.objects.get_child([f"{idx}:AGVs"])
            nodes = []
            for a in await agvs.get_children():
                nodes.extend(await a.get_children())
            sub = await c.create_subscription(100, Handler())
            await sub.subscribe_data_change(nodes, queuesize=100, sampling_interval=0.0)
            await asyncio.sleep(1.0)
            counting.set()
            start = time.time()
            await asyncio.sleep(seconds)
            counting.clear()
            return time.time() - start

    wall = asyncio.run(main())
    report.get(timeout=60)
    proc.join(20)
    return {"items_s": count[0] / wall, "p50_ms": 1000 * pct(lat, 0.5), "p99_ms": 1000 * pct(lat, 0.99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 s per phase instead of 60 s")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--publishing-ms", type=float, default=100.0,
                    help="our source's publishing interval (default 100 ms, the source's default)")
    args = ap.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    items = N_AGVS * 6
    print(f"OPC UA live benchmark: {N_AGVS} AGVs x 6 variables = {items} monitored items, "
          f"{seconds:g} s per phase, publishing interval {args.publishing_ms:g} ms (baseline 100 ms), "
          f"server in a child process, 2-core machine")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ours = run_source(seconds, 1.0, tmp, args.publishing_ms / 1000.0)
        raw = run_raw(seconds, 1.0, tmp)
        head = run_source(seconds, 10.0, tmp, args.publishing_ms / 1000.0)
    print(f"\n1 change/s per item ({items} item changes/s offered, {N_AGVS} events/s):")
    print(f"  our source -> recording : {ours['events_s']:8.1f} events/s, {ours['items_s']:8.1f} items/s, "
          f"latency p50 {ours['p50_ms']:.0f} ms, p99 {ours['p99_ms']:.0f} ms, max {ours['max_ms']:.0f} ms")
    print(f"  baseline: bare asyncua  : {'':>8} {'':8} {raw['items_s']:8.1f} items/s, "
          f"latency p50 {raw['p50_ms']:.0f} ms, p99 {raw['p99_ms']:.0f} ms")
    ratio = ours["items_s"] / raw["items_s"] if raw["items_s"] else float("nan")
    print(f"  ours / baseline items/s : {ratio:.2f}x; p50 latency ours - baseline: "
          f"{ours['p50_ms'] - raw['p50_ms']:+.0f} ms")
    print(f"  CPU: our client {100 * ours['client_cpu']:.0f} % of a core, our server "
          f"{100 * ours['server_cpu']:.0f} %; one second's 504 writes take p50 {ours['write_p50_ms']:.0f} ms "
          f"(max {ours['write_max_ms']:.0f} ms) on the server")
    print(f"\nheadroom, 10 changes/s per item ({10 * items} item changes/s offered):")
    print(f"  our source -> recording : {head['events_s']:8.1f} events/s, {head['items_s']:8.1f} items/s, "
          f"latency p50 {head['p50_ms']:.0f} ms, p99 {head['p99_ms']:.0f} ms")
    print(f"  CPU: our client {100 * head['client_cpu']:.0f} % of a core, our server {100 * head['server_cpu']:.0f} %")
    print(f"\nmachine load average at the end: {os.getloadavg()[0]:.1f} (2 cores; other jobs share them)")
    ok = ours["items_s"] >= 0.95 * items and ours["p99_ms"] < 200.0
    print(f"\ntarget (>= {items} items/s sustained, p99 < 200 ms): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
