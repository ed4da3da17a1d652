"""Shop-wide dispatching check: does the model pick the next part as the shop does?

The dispatching rule is one rule for the whole shop, and a station sees only a few starts
with a choice in a shift (a handful to a few dozen): per station, first-come-first-served
and shortest-processing-time-first are hard to tell apart, pooled over the shop they are
not (measured on machining13, 8 h: 380 starts with a choice, 100 % took the earliest-arrived
part under fifo, 52–65 % under spt). The check compares the share of those starts that took
the earliest-arrived part (:meth:`data.ShopRun.dispatch_picks`) between the two runs. Its
deviation enters the family-wise verdict like a station's (:mod:`verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.verification.data import ShopRun

#: Smallest threshold on the share difference (0..1).
SHARE_FLOOR = 0.02


@dataclass(frozen=True)
class DispatchCheck:
    """First-come shares (0..1) of both runs, their numbers of starts with a choice, the
    threshold on the difference and ``deviation`` = |difference| / threshold."""

    physical: float
    virtual: float
    picks_physical: int
    picks_virtual: int
    threshold: float
    deviation: float

    def to_json(self) -> dict[str, float | int]:
        return {"physical": self.physical, "virtual": self.virtual,
                "picks_physical": self.picks_physical, "picks_virtual": self.picks_virtual,
                "threshold": self.threshold, "deviation": self.deviation}


def dispatch_check(physical: ShopRun, virtual: ShopRun, z: float) -> DispatchCheck | None:
    """Compare the runs' first-come shares; None when either has no start with a choice.

    The threshold is ``z`` standard errors of the difference of two binomial shares with
    the share pooled over both runs (the two-proportion test; at least
    :data:`SHARE_FLOOR`): two runs that both took the earliest arrival every time do not
    differ at all."""
    p = np.array([float(f) for _, _, f in physical.dispatch_picks()])
    v = np.array([float(f) for _, _, f in virtual.dispatch_picks()])
    if p.size == 0 or v.size == 0:
        return None
    pooled = float(np.concatenate([p, v]).mean())
    sd = float(np.sqrt(pooled * (1.0 - pooled)))
    thr = max(SHARE_FLOOR, z * sd * float(np.sqrt(1.0 / p.size + 1.0 / v.size)))
    dev = abs(float(p.mean()) - float(v.mean())) / thr
    return DispatchCheck(float(p.mean()), float(v.mean()), int(p.size), int(v.size), thr, dev)
