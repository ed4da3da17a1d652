"""Does verification find the faulty station? Measured, GCN/TCN vs a statistical baseline.

    python benchmarks/bench_verify.py                 # 10 trials each, 8 h shifts
    python benchmarks/bench_verify.py --trials 3 --hours 4   # quick check

Trials on the bundled machining13 shop (physical = simulated with a scenario, virtual =
nominal simulation with another seed):

* localisation: a random station slowed down (cycle time x1.3) for the whole physical
  shift; is it ranked least consistent (top-1) / among the three least (top-3)? Likewise
  a random station whose setups take 3x as long.
* faithful twin: identical parameters, different seeds; does the model pass?
* one AGV slowdown and one station breakdown: what gets flagged (stations by the GCN/TCN
  scores, AGVs by the transport check).
* runtime of one verification of an 8 h shift (training + scoring, no saved nets).

Every trial runs our method (calibrated mode), the same without the nets' residuals (every
behaviour feature compared as a plain level: what the GCN/TCN add) and the baseline
(per-station Mann-Whitney tests on cycle and waiting times) on the same recordings.
Prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.events import Event  # noqa: E402
from twin.scenario import Disturbance, Scenario  # noqa: E402
from twin.simulator import Simulator  # noqa: E402
from twin.verification import Verifier, VerifyConfig, baseline_verify  # noqa: E402
from twin.verification.data import load_run  # noqa: E402
from twin.verification.series import BEHAVIOUR_NAMES  # noqa: E402
from twin.workshop import load_workshop  # noqa: E402

WORKSHOP = ROOT / "assets" / "workshops" / "machining13.toml"
_SCRATCH = tempfile.TemporaryDirectory(prefix="bench-verify-")  # edited workshop files


def simulate(ws, seed: int, hours: float, disturbances=()) -> list[Event]:
    events: list[Event] = []
    scenario = Scenario("bench", None, list(disturbances))
    Simulator(ws, scenario=scenario, seed=seed).run(hours, sink=events.append)
    return events


def with_setup_factor(station: str, factor: float):
    """machining13 with ``station``'s setup time multiplied (scenarios cannot do that)."""
    text = WORKSHOP.read_text()
    blocks = text.split("[[station]]")
    for i, block in enumerate(blocks):
        if f'id = "{station}"' in block:
            blocks[i] = re.sub(r"setup_s = (\d+)",
                               lambda m: f"setup_s = {float(m.group(1)) * factor:g}", block)
    path = Path(_SCRATCH.name) / "machining13.toml"
    path.write_text("[[station]]".join(blocks))
    return load_workshop(path)


def rank_of(ranking: list[tuple[str, float]], station: str) -> int:
    return [s for s, _ in ranking].index(station) + 1


def check(phys: list[Event], virt: list[Event], cfg: VerifyConfig):
    """Our verification in both modes (one training), the ablation without the nets'
    residuals (every behaviour feature compared as a plain level) and the baseline, on
    recordings indexed once."""
    phys, virt = load_run(phys), load_run(virt)
    ver = Verifier(phys, config=cfg)
    ver.train()
    levels = ver.with_scoring(level_features=BEHAVIOUR_NAMES).score(virt)
    return (ver.score(virt), ver.score(virt, mode="paper"), baseline_verify(phys, virt), levels)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10, help="trials per experiment (>= 10 for the record)")
    ap.add_argument("--hours", type=float, default=8.0, help="shift length [h]")
    ap.add_argument("--factor", type=float, default=1.3, help="slowdown cycle-time factor")
    ap.add_argument("--seed", type=int, default=1,
                    help="seed of the trial draws (stations and simulation seeds)")
    ap.add_argument("--config", type=str, default="", help="JSON overrides of VerifyConfig")
    ap.add_argument("--skip", type=str, default="", help="comma list: loc,setup,faithful,agv,breakdown,runtime")
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
        ours1 = ours3 = base1 = base3 = flagged = failed = lev1 = lev3 = 0
        for i in range(args.trials):
            target = draw.choice(stations)
            seed = draw.randrange(10**6)
            slow = Disturbance(0, "slowdown", target, 0.0, factor=args.factor)
            phys = simulate(ws, seed, args.hours, [slow])
            virt = simulate(ws, seed + 1, args.hours)
            rep, _, base, lev = check(phys, virt, cfg)
            r, b = rank_of(rep.ranking(), target), rank_of(base.ranking(), target)
            lv = rank_of(lev.ranking(), target)
            lev1 += lv == 1
            lev3 += lv <= 3
            ours1 += r == 1
            ours3 += r <= 3
            base1 += b == 1
            base3 += b <= 3
            flagged += target in rep.flagged()
            failed += not rep.passed
            if args.verbose:
                top = ", ".join(f"{s} {v:.2f}" for s, v in rep.ranking()[:3])
                print(f"  loc {i}: {target} ours rank {r} base rank {b} | dSF {rep.spatial.delta:.2f}"
                      f" dTF {rep.temporal.delta:.2f} passed {rep.passed} | {top}", flush=True)
        n = args.trials
        rows.append((f"slowdown x{args.factor:g}: top-1", f"{ours1}/{n}", f"{lev1}/{n}", f"{base1}/{n}"))
        rows.append((f"slowdown x{args.factor:g}: top-3", f"{ours3}/{n}", f"{lev3}/{n}", f"{base3}/{n}"))
        rows.append(("slowdown: slowed station flagged (score < 0.5)", f"{flagged}/{n}", "", "-"))
        rows.append(("slowdown: model fails (Δ < 90 %)", f"{failed}/{n}", "", "-"))

    if "setup" not in skip:
        ours1 = lev1 = base1 = 0
        for i in range(args.trials):
            target = draw.choice(stations)
            seed = draw.randrange(10**6)
            phys = simulate(with_setup_factor(target, 3.0), seed, args.hours)
            virt = simulate(ws, seed + 1, args.hours)
            rep, _, base, lev = check(phys, virt, cfg)
            ours1 += rank_of(rep.ranking(), target) == 1
            lev1 += rank_of(lev.ranking(), target) == 1
            base1 += rank_of(base.ranking(), target) == 1
        n = args.trials
        rows.append(("setup time x3 (model file edit): top-1", f"{ours1}/{n}", f"{lev1}/{n}",
                     f"{base1}/{n}"))

    if "faithful" not in skip:
        ours_pass = paper_pass = base_pass = clean = lev_pass = lev_clean = 0
        for i in range(args.trials):
            seed = draw.randrange(10**6)
            phys = simulate(ws, seed, args.hours)
            virt = simulate(ws, seed + 1, args.hours)
            rep, paper, base, lev = check(phys, virt, cfg)
            lev_pass += lev.passed
            lev_clean += not lev.flagged()
            ours_pass += rep.passed
            paper_pass += paper.passed
            base_pass += base.passed
            clean += not rep.flagged()
            if args.verbose:
                low = rep.ranking()[0]
                why = "; ".join(f"{s} {_worst(rep, s)}" for s in rep.flagged())
                print(f"  faithful {i}: passed {rep.passed} dSF {rep.spatial.delta:.3f} "
                      f"dTF {rep.temporal.delta:.3f} lowest {low[0]} {low[1]:.2f} | paper "
                      f"{paper.spatial.delta:.2f}/{paper.temporal.delta:.2f} | base {base.passed}"
                      f"{' | flagged ' + why if why else ''}", flush=True)
        n = args.trials
        rows.append(("faithful twin: pass rate (calibrated)", f"{ours_pass}/{n}", f"{lev_pass}/{n}",
                     f"{base_pass}/{n}"))
        rows.append(("faithful twin: pass rate (paper mode)", f"{paper_pass}/{n}", "", "-"))
        rows.append(("faithful twin: no station flagged", f"{clean}/{n}", f"{lev_clean}/{n}", "-"))

    def scenario_row(name: str, dist: Disturbance) -> None:
        seed = draw.randrange(10**6)
        phys = simulate(ws, seed, args.hours, [dist])
        virt = simulate(ws, seed + 1, args.hours)
        rep, _, base, lev = check(phys, virt, cfg)
        agvs = [a for a, v in sorted(rep.per_agv.items(), key=lambda kv: kv[1]) if v < 0.5]
        flagged = ", ".join(rep.flagged() + agvs) or "none"
        ours = (f"{'FAIL' if not rep.passed else 'pass'} dSF {rep.spatial.delta:.2f} dTF "
                f"{rep.temporal.delta:.2f}; flagged {flagged}; lowest "
                + ", ".join(f"{s} {v:.2f}" for s, v in rep.ranking()[:3]))
        bl = (f"{'FAIL' if not base.passed else 'pass'}; lowest "
              + ", ".join(f"{s} p={v:.1g}" for s, v in base.ranking()[:3]))
        lv = ", ".join(lev.flagged()) or "none"
        rows.append((name, ours, f"flagged {lv}", bl))

    if "agv" not in skip:
        scenario_row("AGV1 slowdown x2 (whole shift)",
                     Disturbance(0, "agv_slowdown", "AGV1", 0.0, factor=2.0))
    if "breakdown" not in skip:
        scenario_row("S07 breakdown 90 min at 2 h",
                     Disturbance(0, "breakdown", "S07", 7200.0, 7200.0 + 5400.0))
        scenario_row("S07 breakdown 3 h at 2 h",
                     Disturbance(0, "breakdown", "S07", 7200.0, 7200.0 + 10800.0))

    if "runtime" not in skip:
        phys = simulate(ws, 9000, 8.0)
        virt = simulate(ws, 9001, 8.0)
        t0 = time.perf_counter()
        ver = Verifier(phys, config=cfg)
        ver.train()
        ver.score(virt)
        rows.append(("runtime 8 h machining13 (train + score)", f"{time.perf_counter() - t0:.1f} s",
                     "", _time_baseline(phys, virt)))

    head = ("experiment", "ours (GCN+TCN)", "levels only (no nets)", "baseline (Mann-Whitney)")
    widths = [max(len(r[k]) for r in [*rows, head]) for k in range(3)]
    print(f"\nmachining13, {args.hours:g} h shifts, {args.trials} trials (seed {args.seed}), window "
          f"{cfg.window_min:g} min, z {cfg.z:g}, overall {cfg.overall_threshold:.0%}, "
          f"torch threads {cfg.threads}")
    line = lambda r: " | ".join(f"{r[k]:<{widths[k]}}" for k in range(3)) + f" | {r[3]}"  # noqa: E731
    print(line(head))
    print("-" * (sum(widths) + 40))
    for r in rows:
        print(line(r))
    print(f"(benchmark wall time {time.perf_counter() - t_start:.0f} s)")
    return 0


def _worst(rep, station: str) -> str:
    """The behaviour feature both nets find most inconsistent at ``station``."""
    rs, rt = rep.spatial.ratios[station], rep.temporal.ratios[station]
    k = max(range(len(rs)), key=lambda i: rs[i] + rt[i])
    return f"{rep.spatial.names[k].split(':')[1]} {(rs[k] + rt[k]) / 2:.1f}x"


def _time_baseline(phys: list[Event], virt: list[Event]) -> str:
    t0 = time.perf_counter()
    baseline_verify(phys, virt)
    return f"{time.perf_counter() - t0:.1f} s"


if __name__ == "__main__":
    sys.exit(main())
