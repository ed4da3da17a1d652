"""Does the forecast work? Measured against what the physical shift really did.

    python benchmarks/bench_forecast.py            # 5 seeds x 3 scenarios x hours 2/4/6, 30 runs
    python benchmarks/bench_forecast.py --quick    # same grid, 10 runs, short verification part

1. Accuracy. 8 h physical shifts of machining13 (the emulated physical shop: nominal, the
   lathe-2 breakdown and the rush-orders scenario; seeds 1..N). From the recorded state at
   2, 4 and 6 h, :func:`twin.forecast.forecast` (the DT model = the workshop without the
   scenario, later orders from its generator: it cannot know them) predicts the parts
   completed at 8 h. Compared with the truth: MAE of the P50 and how often the truth falls
   inside P10-P90 (target ~80 %); beside it, in the same run, the naive baseline (parts so
   far extrapolated linearly).
2. Speed: 30 replications of a 4 h horizon of machining13 (from the state at 4 h), in this
   process and in 2 worker processes.
3. Verification gain: physical vs virtual (faithful model, other seed) with and without
   order replay: the spread |£ - £*| of per-station characteristics (GCN spatial, TCN
   temporal; twin.verification's Verifier) and whether the faithful model passes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.forecast import forecast  # noqa: E402
from twin.recording import open_recording  # noqa: E402
from twin.replay import recorded_orders  # noqa: E402
from twin.scenario import load_scenario  # noqa: E402
from twin.sim_cli import simulate_to_recording  # noqa: E402
from twin.simulator import Simulator  # noqa: E402
from twin.workshop import load_workshop  # noqa: E402

WORKSHOP = ROOT / "assets" / "workshops" / "machining13.toml"
SCENARIOS = {
    "nominal": None,
    "breakdown": ROOT / "assets" / "scenarios" / "lathe_breakdown.toml",
    "rush_orders": ROOT / "assets" / "scenarios" / "rush_orders.toml",
}
SHIFT_H = 8.0
FROM_H = (2.0, 4.0, 6.0)


def completed_at(path: Path, t: float) -> int:
    rec = open_recording(path)
    return sum(1 for e in rec.state_at(t).of_kind("wip") if e.state == "completed")


def accuracy(ws, tmp: Path, seeds: list[int], runs: int, processes: int | None,
             hindsight: bool = False) -> list[dict]:
    rows = []
    for name, scen_path in SCENARIOS.items():
        scenario = load_scenario(scen_path, ws) if scen_path else None
        for seed in seeds:
            phys = tmp / f"{name}-{seed}.twinlog"
            simulate_to_recording(ws, phys, scenario=scenario, hours=SHIFT_H, seed=seed)
            truth = completed_at(phys, SHIFT_H * 3600)
            for h in FROM_H:
                fc = forecast(phys, at=h * 3600, until=SHIFT_H * 3600, runs=runs, workshop=ws,
                              processes=processes, seed=1000 + seed)
                row = {
                    "scenario": name, "seed": seed, "from_h": h, "truth": truth,
                    "p10": fc.parts.p10, "p50": fc.parts.p50, "p90": fc.parts.p90,
                    "naive": fc.naive_parts, "covered": fc.parts.contains(truth),
                    "seconds": fc.wall_seconds,
                }
                if hindsight:  # the orders the shift really got later: error left = model
                    hs = forecast(phys, at=h * 3600, until=SHIFT_H * 3600, runs=runs,
                                  workshop=ws, processes=processes, seed=1000 + seed,
                                  future_orders="recording")
                    row["hindsight"] = hs.parts.p50
                rows.append(row)
                print(f"  {name:<11} seed {seed} from {h:.0f} h: truth {truth}, forecast "
                      f"{fc.parts.p50:.0f} [{fc.parts.p10:.0f}, {fc.parts.p90:.0f}], naive "
                      f"{fc.naive_parts:.0f}  ({fc.wall_seconds:.1f} s)", flush=True)
    return rows


def print_accuracy(rows: list[dict]) -> None:
    hind = all("hindsight" in r for r in rows)
    extra_head, extra_rule = (" hindsight MAE |", "---|") if hind else ("", "")
    print("\n| scenario | from | forecast MAE | naive MAE | forecast/naive | P10-P90 coverage | "
          f"s per forecast |{extra_head}")
    print(f"|---|---|---|---|---|---|---|{extra_rule}")
    groups: dict[tuple[str, str], list[dict]] = {}
    for scen in [*SCENARIOS, "all"]:
        for frm in [*(f"{h:.0f} h" for h in FROM_H), "all"]:
            g = [r for r in rows if scen in ("all", r["scenario"])
                 and frm in ("all", f"{r['from_h']:.0f} h")]
            if g:
                groups[(scen, frm)] = g
    worse: list[str] = []
    low: list[str] = []
    for (scen, frm), g in groups.items():
        mae_f = statistics.mean(abs(r["p50"] - r["truth"]) for r in g)
        mae_n = statistics.mean(abs(r["naive"] - r["truth"]) for r in g)
        cov = statistics.mean(1.0 if r["covered"] else 0.0 for r in g)
        secs = statistics.mean(r["seconds"] for r in g)
        ratio = mae_f / mae_n if mae_n > 0 else float("inf")
        extra = (f" {statistics.mean(abs(r['hindsight'] - r['truth']) for r in g):.2f} |"
                 if hind else "")
        print(f"| {scen} | {frm} | {mae_f:.2f} | {mae_n:.2f} | {ratio:.2f} | {cov:.0%} | {secs:.2f} |{extra}")
        if mae_f >= mae_n and frm != "all" and scen != "all":
            worse.append(f"{scen} from {frm}")
        if cov < 0.6 and frm != "all" and scen != "all":
            low.append(f"{scen} from {frm} ({cov:.0%})")
    if worse:
        print("forecast does NOT beat the naive baseline on MAE for: " + ", ".join(worse))
    else:
        print("forecast beats the naive baseline on MAE in every cell")
    if low:
        print("P10-P90 coverage well below the 80 % target for: " + ", ".join(low))


def speed(ws, tmp: Path) -> None:
    phys = tmp / "speed.twinlog"
    simulate_to_recording(ws, phys, hours=SHIFT_H, seed=99)
    print("\n| 30 replications, 4 h horizon (04:00 -> 08:00) | seconds |")
    print("|---|---|")
    base = None
    for processes in (1, 2):
        t0 = time.perf_counter()
        fc = forecast(phys, at=4 * 3600, until=8 * 3600, runs=30, workshop=ws, processes=processes)
        wall = time.perf_counter() - t0
        base = base or wall
        print(f"| {processes} process{'es' if processes > 1 else ''} | {wall:.2f} "
              f"(x{base / wall:.2f} vs 1 process; target < 5 s) |")
    # one replication alone, the unit cost
    t0 = time.perf_counter()
    Simulator(ws, seed=1).run(4.0)
    print(f"| for scale: one 4 h simulation from empty, full event detail | {time.perf_counter() - t0:.2f} |")
    _ = fc


def verification_gain(ws, hours: float, pairs: list[tuple[int, int]]) -> None:
    from twin.verification import Verifier

    print(f"\nverification gain ({hours:g} h shifts, faithful model, {len(pairs)} physical/virtual pairs)")
    print("| virtual run | spatial |£-£*| mean | temporal |λ-λ*| mean | passed (calibrated) |")
    print("|---|---|---|---|")
    res: dict[str, list[tuple[float, float, bool]]] = {"own orders": [], "order replay": []}
    for p_seed, v_seed in pairs:
        phys: list = []
        Simulator(ws, seed=p_seed).run(hours, sink=phys.append)
        ver = Verifier(phys)
        ver.train()
        pc = ver.characteristics()
        orders = _orders_of(ws, phys, hours)
        for label, kw in (("own orders", {}), ("order replay", {"orders": orders})):
            virt: list = []
            Simulator(ws, seed=v_seed, **kw).run(hours, sink=virt.append)
            vc = ver.characteristics(virt)
            ds = float(np.mean(np.abs(pc.spatial_mean() - vc.spatial_mean())))
            dt = float(np.mean(np.abs(pc.temporal_mean() - vc.temporal_mean())))
            res[label].append((ds, dt, ver.score(virt).passed))
    for label, vals in res.items():
        ds = statistics.mean(v[0] for v in vals)
        dt = statistics.mean(v[1] for v in vals)
        passed = sum(v[2] for v in vals)
        print(f"| {label} | {ds:.4f} | {dt:.4f} | {passed}/{len(vals)} |")
    o = res["own orders"]
    r = res["order replay"]
    print(f"order replay shrinks the spread to x{statistics.mean(v[0] for v in r) / statistics.mean(v[0] for v in o):.2f} "
          f"(spatial), x{statistics.mean(v[1] for v in r) / statistics.mean(v[1] for v in o):.2f} (temporal)")


def _orders_of(ws, events: list, hours: float):
    """The orders of an in-memory physical run, through a recording (as a user would)."""
    from twin.recording import RecordingWriter

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.twinlog"
        with RecordingWriter(path, meta={"workshop": ws.name, "stations": list(ws.stations)}) as w:
            for e in events:
                w.append(e)
        return recorded_orders(open_recording(path), ws)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 runs per forecast, short verification part")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--processes", type=int, default=None)
    ap.add_argument("--skip-verification", action="store_true")
    ap.add_argument("--hindsight", action="store_true",
                    help="also forecast with the orders the shift really got later "
                         "(separates demand error from model error)")
    args = ap.parse_args()
    runs = args.runs or (10 if args.quick else 30)
    ws = load_workshop(WORKSHOP)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as d:
        tmp = Path(d)
        print(f"accuracy: {args.seeds} seeds x {len(SCENARIOS)} scenarios x from {FROM_H} h, "
              f"{runs} runs per forecast")
        rows = accuracy(ws, tmp, list(range(1, args.seeds + 1)), runs, args.processes,
                        args.hindsight)
        print_accuracy(rows)
        speed(ws, tmp)
    if not args.skip_verification:
        if args.quick:
            verification_gain(ws, 4.0, [(1, 101), (2, 102)])
        else:
            verification_gain(ws, 8.0, [(1, 101), (2, 102), (3, 103), (4, 104)])
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
