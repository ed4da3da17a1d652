"""The command line as the order-replay and forecast tests use it."""

from __future__ import annotations

import main as entry


def main(argv: list[str]) -> int:
    """The real entry point with only the commands these tests use (no torch import)."""
    saved = entry.COMMAND_MODULES
    entry.COMMAND_MODULES = ("twin.sim_cli", "twin.forecast_cli")
    try:
        return entry.main(argv)
    finally:
        entry.COMMAND_MODULES = saved
