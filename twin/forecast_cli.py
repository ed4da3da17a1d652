"""``forecast`` sub-command: where will the shop be at the end of the shift?

    python main.py forecast --recording physical.twinlog --at 04:00:00 [--until 08:00:00] \\
        [--runs 30] [--workshop W.toml] [--orders generator|recording|none] [--json]

N replications of the virtual shop from the recorded state at ``--at`` (``end`` = the
latest recorded moment, for a recording still being written): completed parts at
``--until`` with P10/P50/P90 and the naive linear extrapolation beside it, per-order
completion and lateness, station utilisation. See docs/forecast.md.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from typing import TYPE_CHECKING

from twin.clock import format_clock, parse_time
from twin.errors import CommandError

if TYPE_CHECKING:  # numpy and the reader load when the command runs, not for --help
    from twin.recording import Recording


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``forecast`` sub-command."""
    p = subparsers.add_parser(
        "forecast",
        help="forecast the shift from a recorded state (N replications, P10/P50/P90)",
        description="Run the virtual shop N times from the recorded state at --at to --until "
                    "and report completed parts, per-order completion and lateness, and "
                    "station utilisation with P10/P50/P90.",
    )
    p.add_argument("--recording", required=True, type=Path,
                   help="the physical shop's recording (.twinlog; may still be being written)")
    p.add_argument("--at", required=True, type=_time_arg, metavar="HH:MM:SS",
                   help="forecast from this time: seconds, MM:SS, HH:MM:SS or 'end'")
    p.add_argument("--until", type=_time_arg, default=None, metavar="HH:MM:SS",
                   help="forecast to this time (default: the end of the recorded shift, else 8 h)")
    p.add_argument("--runs", type=int, default=30, help="replications (default 30)")
    p.add_argument("--workshop", type=Path, default=None,
                   help="the DT model's workshop file (default: the recording's workshop)")
    p.add_argument("--orders", default="generator", choices=["generator", "recording", "none"],
                   help="orders after --at: the order generator (default), the ones the "
                        "recording really released (hindsight), or none")
    p.add_argument("--seed", type=int, default=0, help="base seed of the replications")
    p.add_argument("--processes", type=int, default=None,
                   help="worker processes (default: up to 2 when there are enough runs)")
    p.add_argument("--json", action="store_true", help="print the forecast as one JSON object")
    p.set_defaults(func=run_forecast)


def _time_arg(text: str) -> float:
    try:
        return parse_time(text, allow_end=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def open_for_replay(path: Path) -> Recording:
    """Open a recording (refreshed when still being written); CommandError if it cannot be."""
    from twin.recording import RecordingError, open_recording

    try:
        rec = open_recording(path)
    except RecordingError as err:
        raise CommandError(str(err)) from None
    except OSError as err:
        raise CommandError(f"{path}: cannot read recording: {err.strerror or err}") from None
    if not len(rec):
        raise CommandError(f"{path}: the recording holds no events")
    return rec


def hms(seconds: float) -> str:
    """``HH:MM:SS`` to the nearest second."""
    return format_clock(seconds, nearest=True)


def run_forecast(args: argparse.Namespace) -> int:
    """Handler of ``forecast``; raises CommandError on bad input."""
    from twin.forecast import forecast
    from twin.replay import ReplayError
    from twin.workshop import WorkshopError, load_workshop

    if args.runs < 1:
        raise CommandError(f"--runs must be >= 1, got {args.runs}")
    rec = open_for_replay(args.recording)
    at = rec.time_range[1] if math.isinf(args.at) else args.at
    until = None
    if args.until is not None:
        until = rec.time_range[1] if math.isinf(args.until) else args.until
    try:
        workshop = load_workshop(args.workshop) if args.workshop else None
        fc = forecast(rec, at, until, runs=args.runs, workshop=workshop,
                      processes=args.processes, seed=args.seed, future_orders=args.orders)
    except (ReplayError, WorkshopError) as err:
        raise CommandError(str(err)) from None
    if args.json:
        print(json.dumps(fc.to_json()))
        return 0
    p = fc.parts
    print(f"forecast of {fc.workshop} from {hms(fc.at_s)} to {hms(fc.until_s)}, "
          f"{fc.runs} runs in {fc.wall_seconds:.2f} s ({fc.processes} process"
          f"{'es' if fc.processes > 1 else ''})")
    print(f"completed parts at {hms(fc.until_s)}: P50 {p.p50:.0f} (P10 {p.p10:.0f} - P90 {p.p90:.0f}); "
          f"{fc.completed_at_start} done by {hms(fc.at_s)}; naive extrapolation {fc.naive_parts:.0f}")
    late = fc.late_orders
    print(f"orders: {len(fc.orders)} open, {len(late)} predicted late"
          + (": " + ", ".join(f"{o.order} ({o.p_late:.0%})" for o in late[:10]) if late else ""))
    for o in fc.orders:
        c = o.completion
        due = hms(o.due_s) if math.isfinite(o.due_s) else "-"
        done = hms(c.p50) if math.isfinite(c.p50) else f"after {hms(fc.until_s)}"
        print(f"  {o.order} {o.product} x{o.quantity} due {due}: P50 {done}"
              f"{'  LATE' if o.late else ''}")
    busiest = sorted(fc.utilization.items(), key=lambda kv: -kv[1].p50)[:3]
    print("busiest stations: " + ", ".join(f"{s} {b.p50:.0%}" for s, b in busiest))
    for u in fc.unplaced:
        print(f"not placed: {u}")
    return 0
