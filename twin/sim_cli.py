"""``simulate`` sub-command: run the shop-floor simulator headless into a recording.

    python main.py simulate --workshop assets/workshops/machining13.toml \\
        --scenario assets/scenarios/drill_slowdown.toml --hours 8 --seed 1 --rule fifo \\
        --out shift.twinlog --json

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
from typing import Any

from twin.live import workshop_meta
from twin.recording import RecordingError, RecordingWriter
from twin.scenario import Scenario, ScenarioError, load_scenario
from twin.simulator import RULES, SimResult, SimulationError, Simulator
from twin.workshop import Workshop, WorkshopError, load_workshop

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
    p.add_argument("--out", required=True, type=Path, help="recording to write (.twinlog)")
    p.add_argument("--json", action="store_true",
                   help="print the run's figures as one JSON object")
    p.set_defaults(func=run_simulate)


def recording_meta(workshop: Workshop, scenario: Scenario | None, seed: int, rule: str,
                   hours: float) -> dict[str, Any]:
    """Header of a simulated recording: what was simulated, reproducibly."""
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
) -> SimResult:
    """Simulate ``hours`` of ``workshop`` and write every event to the recording ``out``.

    Raises SimulationError / RecordingError / OSError on bad arguments or I/O failure."""
    sim = Simulator(workshop, scenario, seed=seed, rule=rule)
    meta = recording_meta(workshop, scenario, seed, rule, hours)
    w0 = time.perf_counter()
    with RecordingWriter(out, meta=meta, keyframe_interval_s=KEYFRAME_INTERVAL_S) as writer:
        result = sim.run(hours, sink=writer.append)
    result.wall_seconds = time.perf_counter() - w0  # simulation + writing
    return result


def run_simulate(args: argparse.Namespace) -> int:
    """Handler of ``simulate``; returns the process exit code."""
    if not (math.isfinite(args.hours) and args.hours > 0):
        return _fail(f"--hours must be a positive number, got {args.hours}")
    try:
        workshop = load_workshop(args.workshop)
        scenario = load_scenario(args.scenario, workshop) if args.scenario else None
        result = simulate_to_recording(workshop, args.out, scenario=scenario,
                                       hours=args.hours, seed=args.seed, rule=args.rule)
    except (WorkshopError, ScenarioError, SimulationError, RecordingError) as err:
        return _fail(str(err))
    except OSError as err:
        return _fail(f"{args.out}: cannot write recording: {err.strerror or err}")
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        busiest = sorted(result.utilization.items(), key=lambda kv: -kv[1])[:3]
        print(f"simulated {result.sim_seconds / 3600:.2f} h of {workshop.name} "
              f"in {result.wall_seconds:.2f} s: {result.events} events, "
              f"{result.completed_orders}/{result.released_orders} orders completed -> {args.out}")
        print("busiest stations: " + ", ".join(f"{s} {u:.0%}" for s, u in busiest))
    return 0


def _fail(message: str) -> int:
    print(f"simulate: error: {message}", file=sys.stderr)
    return 2
