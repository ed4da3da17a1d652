"""Does verification find the faulty station? Measured, GCN/TCN vs a statistical baseline.

    python benchmarks/bench_verify.py                 # 10 trials each, 8 h shifts
    python benchmarks/bench_verify.py --trials 3 --hours 4   # quick check

Trials on the bundled machining13 shop (physical = simulated with a scenario, virtual =
nominal simulation with another seed):

* localisation: a random station slowed down (cycle time x1.3) for the whole physical
  shift; is it ranked least consistent (top-1) / among the three least (top-3)?
* faithful twin: identical parameters, different seeds; does the model pass?
* one AGV slowdown and one station breakdown: what gets flagged.
* runtime of one verification of an 8 h shift (training + scoring, no saved nets).

Every trial runs our method (calibrated mode) and the baseline (per-station Mann-Whitney
tests on cycle and waiting times) on the same recordings. Prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.events import Event  # noqa: E402
from twin.scenario import Disturbance, Scenario  # noqa: E402
from twin.simulator import Simulator  # noqa: E402
from twin.verification import VerifyConfig, baseline_verify, verify  # noqa: E402
from twin.workshop import load_workshop  # noqa: E402

WORKSHOP = ROOT / "assets" / "workshops" / "machining13.toml"


def simulate(ws, seed: int, hours: float, disturbances=()) -> list[Event]:
    events: list[Event] = []
    scenario = Scenario("bench", None, list(disturbances))
    Simulator(ws, scenario=scenario, seed=seed).run(hours, sink=events.append)
    return events


def rank_of(ranking: list[tuple[str, float]], station: str) -> int:
    return [s for s, _ in ranking].index(station) + 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10, help="trials per experiment (>= 10 for the record)")
    ap.add_argument("--hours", type=float, default=8.0, help="shift length [h]")
    ap.add_argument("--factor", type=float, default=1.3, help="slowdown cycle-time factor")
    ap.add_argument("--seed", type=int, default=2024, help="seed of the trial draws")
    ap.add_argument("--config", type=str, default="", help="JSON overrides of VerifyConfig")
    ap.add_argument("--skip", type=str, default="", help="comma list: loc,faithful,agv,breakdown,runtime")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    torch.set_num_threads(2)
    cfg = VerifyConfig()
    if args.config:
        cfg = replace(cfg, **json.loads(args.config))
    ws = load_workshop(WORKSHOP)
    stations = sorted(ws.stations)
    draw = random.Random(args.seed)
    rows: list[tuple[str, str, str]] = []
    t_start = time.perf_counter()

    if "loc" not in skip:
        ours1 = ours3 = base1 = base3 = 0
        details = []
        for i in range(args.trials):
            target = draw.choice(stations)
            slow = Disturbance(0, "slowdown", target, 0.0, factor=args.factor)
            phys = simulate(ws, 1000 + 2 * i, args.hours, [slow])
            virt = simulate(ws, 1001 + 2 * i, args.hours)
            rep = verify(phys, virt, config=cfg)
            base = baseline_verify(phys, virt)
            r, b = rank_of(rep.ranking(), target), rank_of(base.ranking(), target)
            ours1 += r == 1
            ours3 += r <= 3
            base1 += b == 1
            base3 += b <= 3
            details.append((target, r, b, rep.spatial.delta, rep.temporal.delta, rep.passed))
            if args.verbose:
                top = ", ".join(f"{s} {v:.2f}" for s, v in rep.ranking()[:3])
                print(f"  loc {i}: {target} ours rank {r} base rank {b} | dSF {rep.spatial.delta:.2f}"
                      f" dTF {rep.temporal.delta:.2f} passed {rep.passed} | {top}", flush=True)
        n = args.trials
        flagged = sum(1 for d in details if not d[5])
        rows.append((f"slowdown x{args.factor:g}: top-1", f"{ours1}/{n}", f"{base1}/{n}"))
        rows.append((f"slowdown x{args.factor:g}: top-3", f"{ours3}/{n}", f"{base3}/{n}"))
        rows.append(("slowdown: model fails verification", f"{flagged}/{n}", "-"))

    if "faithful" not in skip:
        ours_pass = base_pass = 0
        for i in range(args.trials):
            phys = simulate(ws, 5000 + 2 * i, args.hours)
            virt = simulate(ws, 5001 + 2 * i, args.hours)
            rep = verify(phys, virt, config=cfg)
            base = baseline_verify(phys, virt)
            ours_pass += rep.passed
            base_pass += base.passed
            if args.verbose:
                low = rep.ranking()[0]
                print(f"  faithful {i}: passed {rep.passed} dSF {rep.spatial.delta:.3f} "
                      f"dTF {rep.temporal.delta:.3f} lowest {low[0]} {low[1]:.2f} | base {base.passed}",
                      flush=True)
        rows.append(("faithful twin: pass rate", f"{ours_pass}/{args.trials}", f"{base_pass}/{args.trials}"))

    def scenario_row(name: str, dist: Disturbance) -> None:
        phys = simulate(ws, 7000, args.hours, [dist])
        virt = simulate(ws, 7001, args.hours)
        rep = verify(phys, virt, config=cfg)
        base = baseline_verify(phys, virt)
        ours = (f"{'FAIL' if not rep.passed else 'pass'} dSF {rep.spatial.delta:.2f} dTF "
                f"{rep.temporal.delta:.2f}; lowest " + ", ".join(f"{s} {v:.2f}" for s, v in rep.ranking()[:3]))
        bl = (f"{'FAIL' if not base.passed else 'pass'}; lowest "
              + ", ".join(f"{s} p={v:.1g}" for s, v in base.ranking()[:3]))
        rows.append((name, ours, bl))

    if "agv" not in skip:
        scenario_row("AGV1 slowdown x2 (whole shift)",
                     Disturbance(0, "agv_slowdown", "AGV1", 0.0, factor=2.0))
    if "breakdown" not in skip:
        scenario_row("S07 breakdown 90 min at 2 h",
                     Disturbance(0, "breakdown", "S07", 7200.0, 7200.0 + 5400.0))

    if "runtime" not in skip:
        phys = simulate(ws, 9000, 8.0)
        virt = simulate(ws, 9001, 8.0)
        t0 = time.perf_counter()
        rep = verify(phys, virt, config=cfg)
        rows.append(("runtime 8 h machining13 (train + score)", f"{time.perf_counter() - t0:.1f} s",
                     _time_baseline(phys, virt)))

    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows + [("", "ours (GCN+TCN)", "")])
    print(f"\nmachining13, {args.hours:g} h shifts, {args.trials} trials, window "
          f"{cfg.window_min:g} min, z {cfg.z:g}, overall {cfg.overall_threshold:.0%}")
    print(f"{'experiment':<{w0}} | {'ours (GCN+TCN)':<{w1}} | baseline (Mann-Whitney)")
    print("-" * (w0 + w1 + 30))
    for a, b, c in rows:
        print(f"{a:<{w0}} | {b:<{w1}} | {c}")
    print(f"(benchmark wall time {time.perf_counter() - t_start:.0f} s)")
    return 0


def _time_baseline(phys: list[Event], virt: list[Event]) -> str:
    t0 = time.perf_counter()
    baseline_verify(phys, virt)
    return f"{time.perf_counter() - t0:.1f} s"


if __name__ == "__main__":
    sys.exit(main())
