"""Dispatching rules a station can use to pick its next part (names and what they mean).

Kept apart from the simulator so that the command line can offer the choices without
loading the simulation engine.
"""

from __future__ import annotations

#: Dispatching rules a station can use to pick its next part.
RULES: dict[str, str] = {
    "fifo": "first in, first out (arrival order at the station)",
    "spt": "shortest processing time at this station first",
    "lpt": "longest processing time at this station first",
    "mwkr": "most work remaining (sum of the remaining route's nominal times) first",
    "edd": "earliest order due date first",
}
