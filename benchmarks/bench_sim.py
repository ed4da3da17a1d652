"""Simulator benchmark: simulated time / wall time for an 8 h shift of machining13.

    python benchmarks/bench_sim.py [--hours 8] [--seeds 5] [--workshop PATH] [--profile]

Printed figures, per seed and as a median:

* simulation alone (events collected in a list): speed-up = simulated s / wall s, events/s;
* the same in live-style slices of 1 simulated second (``step_until``), the way a paced
  live source pulls events;
* simulation + recording (``RecordingWriter`` to a temporary .twinlog, validation included);
* station utilisation (fraction processing) and AGV utilisation averaged over the seeds,
  so the load of the bundled shop can be checked (bottlenecks should sit at 70-90 %).

Target (issue 2): >= 500x real time on a 2-core machine.
``--profile`` prints the 15 most expensive functions of one run (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twin.events import Event  # noqa: E402
from twin.simulator import Simulator  # noqa: E402
from twin.workshop import Workshop, load_workshop  # noqa: E402

DEFAULT_SHOP = Path(__file__).resolve().parent.parent / "assets" / "workshops" / "machining13.toml"


def run_list(ws: Workshop, seed: int, hours: float) -> tuple[float, int, Simulator]:
    sim = Simulator(ws, seed=seed)
    events: list[Event] = []
    t0 = time.perf_counter()
    sim.run(hours, sink=events.append)
    return time.perf_counter() - t0, len(events), sim


def run_sliced(ws: Workshop, seed: int, hours: float) -> float:
    sim = Simulator(ws, seed=seed)
    t0 = time.perf_counter()
    t = 0.0
    n = 0
    while t < hours * 3600.0:
        t += 1.0
        n += len(sim.step_until(t))
    return time.perf_counter() - t0


def run_recorded(ws: Workshop, seed: int, hours: float, folder: Path) -> tuple[float, int]:
    from twin.sim_cli import simulate_to_recording

    out = folder / f"bench_{seed}.twinlog"
    t0 = time.perf_counter()
    simulate_to_recording(ws, out, hours=hours, seed=seed)
    wall = time.perf_counter() - t0
    return wall, out.stat().st_size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workshop", type=Path, default=DEFAULT_SHOP)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    ws = load_workshop(args.workshop)
    sim_s = args.hours * 3600.0
    print(f"workshop {ws.name}: {len(ws.stations)} stations, {len(ws.agvs)} AGVs; "
          f"{args.hours:g} h simulated per run, {args.seeds} seeds")
    print(f"{'seed':>4} {'events':>8} {'sim only':>10} {'speed-up':>10} {'events/s':>10} "
          f"{'1 s slices':>11} {'speed-up':>10} {'+record':>9} {'speed-up':>10} {'file MB':>8}")
    speed, speed_sliced, speed_rec = [], [], []
    util: dict[str, list[float]] = {}
    agv: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            wall, n, sim = run_list(ws, seed, args.hours)
            wall_sliced = run_sliced(ws, seed, args.hours)
            wall_rec, size = run_recorded(ws, seed, args.hours, Path(tmp))
            r = sim.result()
            for k, v in r.utilization.items():
                util.setdefault(k, []).append(v)
            for k, v in r.agv_utilization.items():
                agv.setdefault(k, []).append(v)
            speed.append(sim_s / wall)
            speed_sliced.append(sim_s / wall_sliced)
            speed_rec.append(sim_s / wall_rec)
            print(f"{seed:>4} {n:>8} {wall:>9.3f}s {sim_s / wall:>9.0f}x {n / wall:>10.0f} "
                  f"{wall_sliced:>10.3f}s {sim_s / wall_sliced:>9.0f}x {wall_rec:>8.3f}s "
                  f"{sim_s / wall_rec:>9.0f}x {size / 1e6:>8.2f}")
    print(f"median speed-up: simulation {statistics.median(speed):,.0f}x, "
          f"1 s slices {statistics.median(speed_sliced):,.0f}x, "
          f"with recording {statistics.median(speed_rec):,.0f}x  (target >= 500x)")
    print("station utilisation (processing), mean over seeds [min..max]:")
    for k, v in util.items():
        print(f"  {k:>6} {ws.stations[k].name:<24} {statistics.mean(v):6.1%}  "
              f"[{min(v):.0%}..{max(v):.0%}]")
    if agv:
        print("AGV utilisation (not idle): " + ", ".join(
            f"{k} {statistics.mean(v):.0%}" for k, v in agv.items()))
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        run_list(ws, 0, args.hours)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
