"""Recording benchmark: write, open and seek a synthetic 1,000,000-event shift.

    python benchmarks/bench_recording.py [--events 1000000] [--queries 1000] [--scan-queries 100]

The shift is 8 h of a large synthetic shop (~2,300 entities: 60 stations, 55 AGVs that
report their position every second while moving, ~2,000 WIPs, ~200 orders), generated
with a fixed seed. Printed figures:

* write rate (events/s through ``RecordingWriter.append``, validation included), file size;
* open time (check + decode every chunk, build the seek index);
* ``state_at(t)`` over random t: median and p99, warm (the reader's event cache, as when
  scrubbing a timeline) and cold (cache disabled: every entity's Event built per query);
* the same query by a naive scan (every event already in memory as an Event, latest per
  entity with e.t <= t) over the first ``--scan-queries`` of the same t, and the speed-up;
  answers of the scan are compared with ``state_at`` (must be identical);
* the same query by replaying the recording from its start (``events(0, t)`` applied to
  an empty Snapshot: what a reader without keyframes/index does) over a tenth of those t.

Targets (issue 2): median state_at < 20 ms and >= 100x faster than the scan.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twin.events import Event  # noqa: E402
from twin.recording import RecordingWriter, codec, open_recording  # noqa: E402
from twin.snapshot import Snapshot  # noqa: E402

SHIFT_S = 8 * 3600.0


def synthetic_shift(n_events: int, seed: int = 7, n_agvs: int = 55, n_stations: int = 60,
                    n_wips: int = 2000, n_orders: int = 200) -> list[Event]:
    """A plausible, time-ordered 8 h shift of ``n_events`` events (seeded)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ("t", "entity", "kind", "state", "x", "y", "heading",
                                             "station", "wip", "order", "process", "agv")}

    def add(t, entity, kind, state, x=None, y=None, heading=None, station="", wip="", order="",
            process="", agv=""):
        for k, v in (("t", t), ("entity", entity), ("kind", kind), ("state", state), ("x", x),
                     ("y", y), ("heading", heading), ("station", station), ("wip", wip),
                     ("order", order), ("process", process), ("agv", agv)):
            cols[k].append(v)

    stations = [f"S{i:02d}" for i in range(1, n_stations + 1)]
    wips = [f"W{i:04d}" for i in range(n_wips)]
    orders = [f"O{i:03d}" for i in range(n_orders)]
    for o_i, o in enumerate(orders):
        t_rel = float(o_i) * SHIFT_S / n_orders
        add(t_rel, o, "order", "released")
        add(min(SHIFT_S, t_rel + rng.uniform(3600, 4 * 3600)), o, "order", "completed")
    for s in stations:
        t = float(rng.uniform(0, 60))
        while t < SHIFT_S:
            add(t, s, "station", "setup" if rng.random() < 0.1 else "processing",
                wip=wips[int(rng.integers(n_wips))], process=f"op{int(rng.integers(1, 9))}")
            t += float(rng.uniform(120, 600))
            state = "down" if rng.random() < 0.02 else "idle"
            add(t, s, "station", state)
            t += float(rng.uniform(5, 1800 if state == "down" else 60))
    for w_i, w in enumerate(wips):
        t = float(rng.uniform(0, SHIFT_S * 0.9))
        order = orders[w_i % n_orders]
        for _step in range(int(rng.integers(3, 6))):
            st = stations[int(rng.integers(n_stations))]
            a = f"AGV{int(rng.integers(n_agvs)):02d}"
            add(t, w, "wip", "transporting", agv=a, order=order)
            t += float(rng.uniform(30, 200))
            add(t, w, "wip", "waiting", station=st, order=order)
            t += float(rng.uniform(10, 900))
            add(t, w, "wip", "processing", station=st, order=order, process=f"op{_step + 1}")
            t += float(rng.uniform(120, 600))
        add(t, w, "wip", "completed", order=order)
    for a_i in range(n_agvs):
        a = f"AGV{a_i:02d}"
        t = 0.0
        x, y = float(rng.uniform(0, 80)), float(rng.uniform(0, 40))
        add(t, a, "agv", "idle", x=x, y=y, heading=0.0)
        while t < SHIFT_S:
            t += float(rng.exponential(8.0))
            for leg in ("loading", "unloading"):
                x1, y1 = float(rng.uniform(0, 80)), float(rng.uniform(0, 40))
                dist = math.hypot(x1 - x, y1 - y)
                heading = math.degrees(math.atan2(y1 - y, x1 - x)) % 360.0
                steps = max(1, int(dist / 1.2))
                ts = t + np.arange(steps + 1, dtype=float)
                xs = np.linspace(x, x1, steps + 1)
                ys = np.linspace(y, y1, steps + 1)
                for tt, xx, yy in zip(ts.tolist(), xs.tolist(), ys.tolist()):
                    add(tt, a, "agv", "moving", x=xx, y=yy, heading=heading)
                t = float(ts[-1]) + 0.5
                x, y = x1, y1
                add(t, a, "agv", leg, x=x, y=y, heading=heading, wip=wips[int(rng.integers(n_wips))])
                t += float(rng.uniform(10, 20))
            add(t, a, "agv", "idle", x=x, y=y, heading=heading)
    order_idx = np.argsort(np.asarray(cols["t"]), kind="stable")[:n_events]
    if len(order_idx) < n_events:
        raise SystemExit(f"synthetic shift has only {len(order_idx)} events; raise n_agvs")
    fields = [[c[i] for i in order_idx.tolist()] for c in cols.values()]
    return list(map(Event, *fields))


def naive_state_at(events: list[Event], t: float) -> Snapshot:
    """The query without any index: one pass over all events, latest per entity."""
    latest: dict[str, Event] = {}
    for e in events:
        if e.t <= t:
            latest[e.entity] = e
    return Snapshot(t, latest)


def bytes_by_chunk_type(path: Path) -> dict[str, int]:
    """Bytes per chunk type (head included), walking the documented chunk framing."""
    data = path.read_bytes()
    pos, out = codec.HEADER_SIZE, {}
    while pos + codec.CHUNK_HEAD_SIZE <= len(data):
        kind, length, _crc = codec.CHUNK_HEAD.unpack_from(data, pos)
        key = kind.decode("latin-1").strip()
        out[key] = out.get(key, 0) + codec.CHUNK_HEAD_SIZE + length
        pos += codec.CHUNK_HEAD_SIZE + length
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--scan-queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="write the recording here and keep it")
    args = ap.parse_args()

    t0 = time.perf_counter()
    events = synthetic_shift(args.events, seed=args.seed)
    n_entities = len({e.entity for e in events})
    print(f"synthetic shift: {len(events):,} events, {n_entities:,} entities, "
          f"t = 0 .. {events[-1].t:,.0f} s (generated in {time.perf_counter() - t0:.1f} s)")

    tmp = tempfile.TemporaryDirectory(prefix="bench-recording-")
    path = args.keep or Path(tmp.name) / "shift.twinlog"
    t0 = time.perf_counter()
    with RecordingWriter(path, meta={"workshop": "synthetic", "seed": args.seed}) as writer:
        for e in events:
            writer.append(e)
    write_s = time.perf_counter() - t0
    assert writer.events_written == len(events), writer.rejected_reasons
    size = os.path.getsize(path)
    print(f"write: {len(events) / write_s:,.0f} events/s ({write_s:.2f} s, {writer.keyframes_written} keyframes), "
          f"file {size / 1e6:.1f} MB ({size / len(events):.1f} bytes/event)")
    split = bytes_by_chunk_type(Path(path))
    print("  file by chunk type: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in split.items()))

    t0 = time.perf_counter()
    rec = open_recording(path)
    open_s = time.perf_counter() - t0
    print(f"open: {open_s * 1e3:.0f} ms ({rec.event_count:,} events, {len(rec.entities):,} entities, "
          f"warnings: {rec.warnings or 'none'})")

    rng = np.random.default_rng(args.seed + 1)
    t_lo, t_hi = rec.time_range
    ts = rng.uniform(t_lo, t_hi, args.queries).tolist()

    def timed(fn, values):
        out = []
        for t in values:
            s = time.perf_counter()
            fn(t)
            out.append(time.perf_counter() - s)
        return out

    warm = timed(rec.state_at, ts)
    cold_rec = open_recording(path, event_cache_size=0)
    cold = timed(cold_rec.state_at, ts)
    scan_ts = ts[: args.scan_queries]
    scan = timed(lambda t: naive_state_at(events, t), scan_ts)
    for t in scan_ts[:20]:
        assert rec.state_at(t).entities == naive_state_at(events, t).entities, t
    # what a reader without keyframes/index does: decode every event up to t and apply it
    replay_ts = ts[: max(1, args.scan_queries // 10)]
    replay = timed(lambda t: Snapshot(t).apply_all(cold_rec.events(0.0, t)), replay_ts)

    def ms(v: float) -> str:
        return f"{v * 1e3:.2f} ms"

    med_warm, med_cold, med_scan = (statistics.median(v) for v in (warm, cold, scan))
    print(f"state_at (warm cache, {len(ts)} random t): median {ms(med_warm)}, p99 {ms(percentile(warm, 99))}")
    print(f"state_at (cold, no cache):               median {ms(med_cold)}, p99 {ms(percentile(cold, 99))}")
    print(f"naive scan ({len(scan_ts)} of the same t):        median {ms(med_scan)}, p99 {ms(percentile(scan, 99))}")
    med_replay = statistics.median(replay)
    print(f"replay from the start ({len(replay_ts)} of the same t):  median {ms(med_replay)}")
    print(f"speed-up vs naive scan: warm {med_scan / med_warm:,.0f}x, cold {med_scan / med_cold:,.0f}x; "
          f"vs replay: warm {med_replay / med_warm:,.0f}x, cold {med_replay / med_cold:,.0f}x "
          f"(target: median < 20 ms and >= 100x)")

    win = timed(lambda t: rec.events(t, t + 60.0), ts[:200])
    print(f"events(t, t+60 s): median {ms(statistics.median(win))}")
    s = time.perf_counter()
    cols = rec.columns()
    moving = int((cols.state == cols.code("moving")).sum())
    print(f"columns() + one aggregate over the shift: {ms(time.perf_counter() - s)} ({moving:,} 'moving' rows)")
    rec.close()
    cold_rec.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
