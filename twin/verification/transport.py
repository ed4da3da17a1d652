"""Transport check: do the AGVs travel and hand over parts like the physical ones?

The GCN/TCN characteristics are per station; a slower AGV only shows there as knock-on
(parts arrive later), which the nets rightly explain as context. This check looks at the
AGVs themselves, with two intrinsic characteristics per AGV:

* ``speed_ratio``: metres travelled per second moving (from the position reports while
  ``moving``), divided by the physical run's speed of that AGV — 1 on the physical shop,
  0.5 for an AGV that got twice as slow;
* ``handling_ratio``: mean time per loading/unloading, divided by the physical mean.

Thresholds like the stations' (calibrated: ``z`` standard errors of the physical
bin-to-bin variation, at least 2 %; paper mode: 0.05). The result is a
:class:`ConsistencyResult` keyed by AGV id.
"""

from __future__ import annotations

import numpy as np

from twin.verification.consistency import (
    PAPER_OVERALL_THRESHOLD,
    PAPER_SPATIAL_THRESHOLD,
    ConsistencyResult,
    evaluate,
)
from twin.verification.data import AGV_STATES, ShopRun

AGV_FEATURES: tuple[str, ...] = ("speed_ratio", "handling_ratio")
#: Smallest calibrated threshold (ratios).
FLOOR = 0.02
_HANDLING = (AGV_STATES.index("loading"), AGV_STATES.index("unloading"))


def _bins(t: float, t0: float, bin_s: float, n: int) -> int:
    return min(max(int((t - t0) // bin_s), 0), n - 1)


def agv_sums(run: ShopRun, agv: str, bin_s: float) -> np.ndarray:
    """Per bin [B, 4]: metres, seconds moving, handling seconds, handlings."""
    n = max(1, int(np.ceil(run.duration_s / bin_s)))
    out = np.zeros((n, 4))
    for t0, t1, metres in run.agv_moves.get(agv, []):
        b = _bins(t0, run.t_start, bin_s, n)
        out[b, 0] += metres
        out[b, 1] += t1 - t0
    changes = run.agv_changes.get(agv, [])
    for (t, k), (t_next, _) in zip(changes, changes[1:], strict=False):
        if k in _HANDLING:
            b = _bins(t, run.t_start, bin_s, n)
            out[b, 2] += t_next - t
            out[b, 3] += 1
    return out


def _ratios(sums: np.ndarray, speed: float, handling: float) -> tuple[np.ndarray, np.ndarray]:
    """Characteristics of the whole run [2] and per bin [B, 2] (NaN without data)."""
    tot = sums.sum(axis=0)
    whole = np.array([
        tot[0] / tot[1] / speed if tot[1] > 0 and speed > 0 else np.nan,
        tot[2] / tot[3] / handling if tot[3] > 0 and handling > 0 else np.nan,
    ])
    with np.errstate(divide="ignore", invalid="ignore"):
        per_bin = np.stack([
            np.where(sums[:, 1] > 0, sums[:, 0] / sums[:, 1] / max(speed, 1e-12), np.nan),
            np.where(sums[:, 3] > 0, sums[:, 2] / sums[:, 3] / max(handling, 1e-12), np.nan),
        ], axis=1)
    return whole, per_bin


def transport_consistency(
    physical: ShopRun, virtual: ShopRun, bin_s: float, *, mode: str, z: float,
    overall_threshold: float,
) -> ConsistencyResult | None:
    """Consistency of the AGVs of both runs, or None when there is nothing to compare
    (no AGVs, or no AGV moved in the physical run)."""
    agvs = [a for a in physical.agvs if a in set(virtual.agvs)]
    phys, virt, thr = {}, {}, {}
    for a in agvs:
        ps, vs = agv_sums(physical, a, bin_s), agv_sums(virtual, a, bin_s)
        tot = ps.sum(axis=0)
        if tot[1] <= 0:
            continue  # never moved on the physical shop: no reference speed
        speed = tot[0] / tot[1]
        handling = tot[2] / tot[3] if tot[3] > 0 else 0.0
        p_whole, p_bins = _ratios(ps, speed, handling)
        v_whole, v_bins = _ratios(vs, speed, handling)
        if mode == "paper":
            t = np.full(2, PAPER_SPATIAL_THRESHOLD)
        else:
            t = np.empty(2)
            for k in range(2):
                p_ok = p_bins[np.isfinite(p_bins[:, k]), k]
                n_v = int(np.isfinite(v_bins[:, k]).sum())
                sd = float(p_ok.std(ddof=1)) if p_ok.size > 1 else 0.0
                se = sd * np.sqrt(1.0 / max(p_ok.size, 1) + 1.0 / max(n_v, 1))
                t[k] = max(z * se, FLOOR)
        # a characteristic the virtual run never showed (no moves) counts as inconsistent
        phys[a] = np.nan_to_num(p_whole, nan=1.0)
        virt[a] = np.nan_to_num(v_whole, nan=0.0)
        thr[a] = t
    if not phys:
        return None
    overall = PAPER_OVERALL_THRESHOLD if mode == "paper" else overall_threshold
    return evaluate(phys, virt, thr, overall, [f"agv:{f}" for f in AGV_FEATURES],
                    summary_threshold=PAPER_SPATIAL_THRESHOLD if mode == "paper" else None)
