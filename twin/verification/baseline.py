"""Plain statistical baseline: per-station two-sample tests, no learning.

For every station, the physical and the virtual run's operations are compared with
Mann-Whitney U tests on

* processing times, each divided by the physical median of its (station, process), so
  that a different product mix does not look like a slower machine, and
* waiting times of the parts at the station (delivered -> processing started).

A station's score is its smallest p-value over the two tests, Bonferroni-corrected
(x2, capped at 1): low = the two runs differ there. The baseline passes when no station
is significant at ``alpha`` after a Bonferroni correction over the stations. This is what
the GCN/TCN method is benchmarked against (benchmarks/bench_verify.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu

from twin.verification.data import ShopRun, check_compatible, load_run
from twin.verification.series import CycleReference


@dataclass
class BaselineReport:
    """Per-station scores (Bonferroni-corrected p-values, low = inconsistent) and the
    verdict; ``p_cycle`` / ``p_wait`` are the raw p-values of the two tests."""

    per_station: dict[str, float]
    p_cycle: dict[str, float]
    p_wait: dict[str, float]
    passed: bool
    alpha: float

    def ranking(self) -> list[tuple[str, float]]:
        return sorted(self.per_station.items(), key=lambda kv: (kv[1], kv[0]))


def _cycle_ratios(run: ShopRun, ref: CycleReference) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for op in run.operations:
        out[op.station].append(op.work_s / ref.cycle_s(op.station, op.process))
    return out


def _waits(run: ShopRun) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for arr, op in zip(run.arrivals, run.served_by(), strict=True):
        if op is not None:
            out[arr.station].append(op.start - arr.t)
    return out


def _p(a: list[float], b: list[float]) -> float:
    if len(a) < 3 or len(b) < 3:
        return 1.0
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def baseline_verify(physical: Any, virtual: Any, *, alpha: float = 0.05) -> BaselineReport:
    """Compare ``virtual`` with ``physical`` station by station with two-sample tests."""
    prun, vrun = load_run(physical), load_run(virtual)
    check_compatible(prun, vrun)
    ref = CycleReference.from_run(prun)
    cp, cv = _cycle_ratios(prun, ref), _cycle_ratios(vrun, ref)
    wp, wv = _waits(prun), _waits(vrun)
    per, pc, pw = {}, {}, {}
    for s in prun.stations:
        pc[s] = _p(cp.get(s, []), cv.get(s, []))
        pw[s] = _p(wp.get(s, []), wv.get(s, []))
        per[s] = min(1.0, 2.0 * min(pc[s], pw[s]))
    passed = all(v >= alpha / len(per) for v in per.values())
    return BaselineReport(per, pc, pw, passed, alpha)
