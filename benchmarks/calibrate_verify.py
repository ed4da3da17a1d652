"""Re-derive the family-wise limits of the calibrated verdict (twin/verification/verdict.py).

    python benchmarks/calibrate_verify.py                 # 20 faithful pairs, 4 h shifts
    python benchmarks/calibrate_verify.py --pairs 40 --hours 8 --alpha 0.05

A *faithful* pair is the situation the verdict must pass: the physical shop is the model
(machining13, seed s) and the virtual run simulates the same model driven by the physical
run's orders (order synchronisation, as ``verify --physical P --model W.toml``) with
another seed. For each pair the largest deviation over the whole family — every station x
behaviour characteristic (spatial and temporal, combined as in the report) and every AGV
transport characteristic — is collected, per method (trained nets, untrained nets, plain
levels). The limit is the smallest (rounded up to 0.01) that at least 1 - alpha of these
maxima pass: a faithful model then fails with probability about alpha (a family-wise
false-alarm rate), whatever the number of stations and characteristics. Prints the maxima
and the limits to paste into verdict.py.
Seeds are disjoint from bench_verify.py's draws (base seed 500000).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_verify as bv  # noqa: E402

from twin.verification import VerifyConfig  # noqa: E402
from twin.verification.data import load_run  # noqa: E402
from twin.verification.verdict import ABLATION_LIMITS, FAMILY_LIMIT, station_deviations  # noqa: E402
from twin.workshop import load_workshop  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20, help="faithful pairs (K)")
    ap.add_argument("--hours", type=float, default=4.0, help="shift length [h]")
    ap.add_argument("--alpha", type=float, default=0.05, help="family-wise false-alarm rate")
    ap.add_argument("--base-seed", type=int, default=500000)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = VerifyConfig()
    ws = load_workshop(bv.WORKSHOP)
    maxima: dict[str, list[float]] = {m: [] for m in ("nets", "untrained", "levels")}
    limits = {"nets": FAMILY_LIMIT, **ABLATION_LIMITS}
    drivers: list[str] = []
    t0 = time.perf_counter()
    for k in range(args.pairs):
        seed = args.base_seed + 7 * k
        phys, sync, _ = bv.run_pair(bv.Case(ws, ws), seed, args.hours)
        vers = bv.trained_pair(phys, cfg)
        for m, v in bv.max_deviations(vers, sync).items():
            maxima[m].append(v)
        drivers.append(_driver(vers["nets"], sync))
        print(f"  pair {k}: " + ", ".join(f"{m} {v[-1]:.3f}" for m, v in maxima.items())
              + f" (nets: {drivers[-1]})", flush=True)
    q = 1.0 - args.alpha
    print(f"\n{args.pairs} faithful pairs, {args.hours:g} h shifts, order-synchronised, "
          f"alpha {args.alpha:g}, base seed {args.base_seed} ({time.perf_counter() - t0:.0f} s)")
    for m, v in maxima.items():
        a = np.sort(np.array(v))
        passed = float(np.mean(a <= limits[m]))
        print(f"  {m:<10} max deviation: median {np.median(a):.3f}, max {a[-1]:.3f}; "
              f"limit by the rule {rule_limit(a, q):.2f}; pass {passed:.0%} at the limit "
              f"{limits[m]:g} now in verdict.py")
    over = [d for d, v in zip(drivers, maxima["nets"], strict=True) if v > limits["nets"]]
    feats = sorted({d.split(":", 1)[1] for d in over})
    print("  nets beyond the limit, driven by: "
          + (", ".join(f"{f} {sum(d.endswith(':' + f) for d in over)}" for f in feats) or "-"))
    return 0


def rule_limit(maxima: np.ndarray, q: float) -> float:
    """The smallest limit, rounded up to 0.01, that at least ``q`` of the pairs' maxima
    pass (pool the ``pair k`` lines of several runs and apply it to all of them)."""
    a = np.sort(np.asarray(maxima, dtype=float))
    return math.ceil(a[math.ceil(q * len(a) - 1e-9) - 1] * 100.0 - 1e-9) / 100.0


def _driver(ver: object, virt: object) -> str:
    """``station:feature`` (or ``agv:...``) of the nets' largest deviation on one pair."""
    rep = ver.score(load_run(virt))  # type: ignore[attr-defined]
    st = station_deviations(rep)
    s, (r, k) = max(st.items(), key=lambda kv: kv[1][0])
    ag = rep.agv_deviations
    if ag and max(ag.values()) > r:
        return f"{max(ag, key=ag.get)}:transport"
    shop = rep.shop_deviations
    if shop and max(shop.values()) > r:
        return f"shop:{max(shop, key=shop.get)}"
    return f"{s}:{rep.spatial.names[k].split(':', 1)[1]}"


if __name__ == "__main__":
    sys.exit(main())
