"""Plant-history benchmark: days of machining13 on PostgreSQL next to the same .twinlog files.

    python benchmarks/bench_history.py [--days 30] [--queries 200] [--quick]

Simulates ``--days`` consecutive 24 h shifts of the bundled machining13 shop (one
``.twinlog`` each, t = 0 at midnight UTC of consecutive days), then in one run:

* import: events/s of ``history import`` (COPY) into a throw-away PostgreSQL cluster;
* ``state_at(t)`` at random shifts and times: median / p99, server vs ``.twinlog``
  (the .twinlog reader holds the whole shift in memory after opening it, so this is a
  database round trip against an in-memory index);
* a one-hour ``events(t0, t0 + 3600)`` query: median / p99, server vs ``.twinlog``;
* two concurrent readers (state_at in a loop, other connections) while one writer
  records a live shift at a sustained rate: the readers' p99 and the writer's rate.

Answers of the server are checked against the .twinlog's (must be identical).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twin.events import Event  # noqa: E402
from twin.history.server import LocalCluster  # noqa: E402
from twin.history.store import HistoryRecording, ShiftWriter  # noqa: E402
from twin.history.transfer import import_twinlog  # noqa: E402
from twin.recording import RecordingWriter, open_recording  # noqa: E402
from twin.simulator import Simulator  # noqa: E402
from twin.workshop import load_workshop  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DAY = 86400.0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def make_days(folder: Path, days: int) -> list[Path]:
    ws = load_workshop(ROOT / "assets" / "workshops" / "machining13.toml")
    base = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc).timestamp()
    out = []
    for d in range(days):
        p = folder / f"day{d + 1:02d}.twinlog"
        sim = Simulator(ws, None, seed=100 + d)
        with RecordingWriter(p, {"workshop": ws.name, "t0_epoch": base + d * DAY}) as w:
            for e in sim.step_until(DAY):
                w.append(e)
        out.append(p)
    return out


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="3 days, 50 queries")
    a = ap.parse_args()
    if a.quick:
        a.days, a.queries = 3, 50
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp, LocalCluster() as pg:
        t = time.perf_counter()
        files = make_days(Path(tmp), a.days)
        local = [open_recording(f) for f in files]
        total = sum(r.event_count for r in local)
        print(f"simulated {a.days} days of machining13: {total:,} events in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        urls = [import_twinlog(f, pg.url, line="machining13", shift=f.stem, password=pg.password)[0]
                for f in files]
        dt_imp = time.perf_counter() - t
        print(f"import: {total / dt_imp:,.0f} events/s ({dt_imp:.1f} s)")

        remote = [HistoryRecording(u, password=pg.password) for u in urls]
        picks = [(rnd.randrange(a.days), rnd.uniform(0, DAY)) for _ in range(a.queries)]
        for i, tq in picks[:20]:
            assert remote[i].state_at(tq).entities == local[i].state_at(tq).entities
        for i, tq in picks[:5]:
            assert remote[i].events(tq, tq + 3600) == local[i].events(tq, tq + 3600)
        it = iter(picks * 2)
        s_pg = timed(lambda: (lambda p: remote[p[0]].state_at(p[1]))(next(it)), a.queries)
        it = iter(picks * 2)
        s_fl = timed(lambda: (lambda p: local[p[0]].state_at(p[1]))(next(it)), a.queries)
        it = iter(picks * 2)
        e_pg = timed(lambda: (lambda p: remote[p[0]].events(p[1], p[1] + 3600))(next(it)), a.queries // 2)
        it = iter(picks * 2)
        e_fl = timed(lambda: (lambda p: local[p[0]].events(p[1], p[1] + 3600))(next(it)), a.queries // 2)
        print(f"{'query':28} {'server median':>14} {'p99':>9} {'.twinlog median':>16} {'p99':>9} {'ratio':>7}")
        for name, x, y in (("state_at(t)", s_pg, s_fl), ("events(t, t + 1 h)", e_pg, e_fl)):
            mx, my = statistics.median(x), statistics.median(y)
            print(f"{name:28} {mx:11.2f} ms {pct(x, 99):6.2f} ms {my:13.2f} ms {pct(y, 99):6.2f} ms "
                  f"{mx / my:6.1f}x")

        # two readers while one writer records a live shift
        stop = threading.Event()
        lat: list[list[float]] = [[], []]

        def reader(k: int) -> None:
            rec = HistoryRecording(urls[k % len(urls)], password=pg.password)
            r = random.Random(k)
            while not stop.is_set():
                t0 = time.perf_counter()
                rec.state_at(r.uniform(0, DAY))
                lat[k].append((time.perf_counter() - t0) * 1000)
            rec.close()

        w = ShiftWriter(pg.url + "?line=machining13&shift=live", {"workshop": "machining13"},
                        password=pg.password, flush_interval_s=1.0)
        src = local[0].events(0, DAY)
        threads = [threading.Thread(target=reader, args=(k,)) for k in range(2)]
        for th in threads:
            th.start()
        t = time.perf_counter()
        n = 0
        dur = 3.0 if a.quick else 10.0
        while time.perf_counter() - t < dur and n < len(src):
            chunk = src[n:n + 500]
            for e in chunk:
                w.append(Event(e.t, e.entity, e.kind, e.state, e.x, e.y, e.heading, e.station, e.wip,
                               e.order, e.process, e.agv, e.queue, e.energy))
            n += len(chunk)
            time.sleep(0.01)
        w.close()
        wrate = n / (time.perf_counter() - t)
        stop.set()
        for th in threads:
            th.join()
        both = lat[0] + lat[1]
        print(f"2 readers + 1 writer: writer {wrate:,.0f} events/s; reader state_at median "
              f"{statistics.median(both):.2f} ms, p99 {pct(both, 99):.2f} ms ({len(both)} queries) "
              f"vs {statistics.median(s_pg):.2f} / {pct(s_pg, 99):.2f} ms alone")
        for r in remote:
            r.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
