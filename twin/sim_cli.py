"""``simulate`` sub-command: run the shop-floor simulator headless into a recording.

    python main.py simulate --workshop assets/workshops/machining13.toml \\
        --scenario assets/scenarios/drill_slowdown.toml --hours 8 --seed 1 --rule fifo \\
        --out shift.twinlog --json

The virtual shop in the physical shop's situation (docs/forecast.md)::

    python main.py simulate --workshop W.toml --orders-from physical.twinlog --seed 2 --out v.twinlog
    python main.py simulate --workshop W.toml --from physical.twinlog --at 04:00:00 \
        [--orders-from physical.twinlog] --hours 8 --out continued.twinlog

``--orders-from`` releases exactly the recording's orders instead of the order generator
(the seed then drives only cycle-time and failure noise); ``--from``/``--at`` starts in the
recorded state at that time (entities that cannot be placed are listed on stderr).

With ``--json`` one JSON object is printed: ``events``, ``completed_orders``, ``makespan_s``
(time the last order completed, null if not all did), ``utilization`` (station -> fraction
of time processing), ``sim_seconds``, ``wall_seconds`` (and a few extras).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.clock import parse_time
from twin.dispatching import RULES
from twin.errors import CommandError

if TYPE_CHECKING:  # the simulator, recordings, numpy load when a command runs, not for --help
    from twin.initial_state import ShopState
    from twin.scenario import Scenario
    from twin.simulator import SimResult
    from twin.workshop import Order, Workshop

#: Keyframe spacing of simulated recordings [s of shift time].
KEYFRAME_INTERVAL_S = 60.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``simulate`` sub-command."""
    p = subparsers.add_parser(
        "simulate",
        help="simulate a workshop (as fast as possible) into a .twinlog recording",
        description="Simulate a workshop shift as fast as possible and record every event.",
    )
    p.add_argument("--workshop", required=True, type=Path,
                   help="workshop file (.toml, or a job-shop instance .txt)")
    p.add_argument("--scenario", type=Path, default=None,
                   help="scenario file with [[disturbance]] tables (default: none)")
    p.add_argument("--hours", type=float, default=8.0,
                   help="length of the simulated shift in hours (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--rule", default="fifo", choices=list(RULES),
                   help="dispatching rule at the stations (default fifo)")
    p.add_argument("--orders-from", type=Path, default=None, metavar="P.twinlog",
                   help="release exactly this recording's orders (ids, products, quantities, "
                        "due and release times) instead of the order generator")
    p.add_argument("--from", dest="from_recording", type=Path, default=None, metavar="P.twinlog",
                   help="start in the state of this recording (also one still being written) "
                        "at --at instead of an empty shop at 0")
    p.add_argument("--at", type=_time_arg, default=None, metavar="HH:MM:SS",
                   help="time of the state to start from (with --from): seconds, MM:SS or HH:MM:SS")
    p.add_argument("--out", required=True, type=Path, help="recording to write (.twinlog)")
    p.add_argument("--json", action="store_true",
                   help="print the run's figures as one JSON object")
    p.set_defaults(func=run_simulate)


def recording_meta(workshop: Workshop, scenario: Scenario | None, seed: int, rule: str,
                   hours: float) -> dict[str, Any]:
    """Header of a simulated recording: what was simulated, reproducibly."""
    from twin.live import workshop_meta

    return {
        "source": "simulator",
        **workshop_meta(workshop),
        "seed": seed,
        "rule": rule,
        "hours": hours,
        "scenario": str(scenario.path.resolve()) if scenario and scenario.path else None,
        "scenario_name": scenario.name if scenario else None,
    }


def simulate_to_recording(
    workshop: Workshop,
    out: Path,
    *,
    scenario: Scenario | None = None,
    hours: float = 8.0,
    seed: int = 0,
    rule: str = "fifo",
    orders: list[Order] | None = None,
    start: ShopState | None = None,
    meta_extra: dict[str, Any] | None = None,
) -> SimResult:
    """Simulate ``workshop`` until ``hours`` after the start of the shift and write every
    event to the recording ``out`` (``orders``/``start``: see :class:`Simulator`).

    Raises SimulationError / RecordingError / OSError on bad arguments or I/O failure."""
    from twin.recording import RecordingWriter
    from twin.simulator import Simulator

    sim = Simulator(workshop, scenario, seed=seed, rule=rule, orders=orders, start=start)
    meta = {**recording_meta(workshop, scenario, seed, rule, hours), **(meta_extra or {})}
    w0 = time.perf_counter()
    with RecordingWriter(out, meta=meta, keyframe_interval_s=KEYFRAME_INTERVAL_S) as writer:
        result = sim.run(hours, sink=writer.append)
    result.wall_seconds = time.perf_counter() - w0  # simulation + writing
    return result


def run_simulate(args: argparse.Namespace) -> int:
    """Handler of ``simulate``; returns the process exit code (CommandError on bad input)."""
    from twin.recording import RecordingError
    from twin.scenario import ScenarioError, load_scenario
    from twin.simulator import SimulationError
    from twin.workshop import WorkshopError, load_workshop

    if not (math.isfinite(args.hours) and args.hours > 0):
        raise CommandError(f"--hours must be a positive number, got {args.hours}")
    try:
        workshop = load_workshop(args.workshop)
        scenario = load_scenario(args.scenario, workshop) if args.scenario else None
        orders, start, extra = _situation(args, workshop)
        result = simulate_to_recording(workshop, args.out, scenario=scenario,
                                       hours=args.hours, seed=args.seed, rule=args.rule,
                                       orders=orders, start=start, meta_extra=extra)
    except (WorkshopError, ScenarioError, SimulationError, RecordingError) as err:
        raise CommandError(str(err)) from None
    except OSError as err:
        raise CommandError(f"{args.out}: cannot write recording: {err.strerror or err}") from None
    if args.json:
        out = result.to_json()
        if start is not None:  # what was placed at --at, and what could not be
            out["started_from"] = start.summary()
        print(json.dumps(out))
    else:
        busiest = sorted(result.utilization.items(), key=lambda kv: -kv[1])[:3]
        print(f"simulated {result.sim_seconds / 3600:.2f} h of {workshop.name} "
              f"in {result.wall_seconds:.2f} s: {result.events} events, "
              f"{result.completed_orders}/{result.released_orders} orders completed -> {args.out}")
        print("busiest stations: " + ", ".join(f"{s} {u:.0%}" for s, u in busiest))
    return 0


def _time_arg(text: str) -> float:
    try:
        return parse_time(text, allow_end=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _situation(args: argparse.Namespace, workshop: Workshop
               ) -> tuple[list[Order] | None, ShopState | None, dict[str, Any]]:
    """Orders to replay and state to start from, as the options ask (CommandError if not)."""
    from twin.forecast_cli import open_for_replay
    from twin.initial_state import shop_state
    from twin.replay import ReplayError, recorded_orders

    extra: dict[str, Any] = {}
    orders: list[Order] | None = None
    start: ShopState | None = None
    if (args.from_recording is None) != (args.at is None):
        raise CommandError("--from and --at go together (the recording and the time to start at)")
    try:
        if args.orders_from is not None:
            rec = open_for_replay(args.orders_from)
            orders = recorded_orders(rec, workshop)
            extra["orders_from"] = str(args.orders_from.resolve())
        if args.from_recording is not None:
            rec = open_for_replay(args.from_recording)
            start = shop_state(rec, args.at, workshop)
            if args.hours * 3600.0 <= args.at:
                raise CommandError(f"--hours {args.hours:g} ends before --at {args.at:g} s")
            extra["started_from"] = str(args.from_recording.resolve())
            extra["started_at_s"] = args.at
            for u in start.unplaced:
                print(f"dmw-twin simulate: not placed: {u}", file=sys.stderr)
    except ReplayError as err:
        raise CommandError(str(err)) from None
    return orders, start, extra

