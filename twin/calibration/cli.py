"""``calibrate``: fit the workshop's behaviour model per station from a recording.

    python main.py calibrate --recording R.twinlog --workshop W.toml --out W2.toml \
        [--report r.json] [--confidence 0.95] [--min-samples 5] [--json]

Writes ``W2.toml`` (``W.toml`` with the fitted processing times per process, setup times,
MTBF and MTTR; values with too little data keep the model's value) and prints a table per
station: model value, fitted value, confidence interval, samples and the data behind them.
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from twin.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "calibrate",
        help="fit a workshop's cycle, setup, MTBF/MTTR per station from a recording",
        description="Fit the behaviour model of every station from a recording: processing time "
                    "per process, setup time, MTBF and MTTR from down episodes (with confidence "
                    "intervals and the data each rests on), availability and working hours; write "
                    "the calibrated workshop file. Values with too little data keep the model's.",
    )
    p.add_argument("--recording", required=True, type=Path, metavar="R.twinlog")
    p.add_argument("--workshop", required=True, type=Path, metavar="W.toml")
    p.add_argument("--out", required=True, type=Path, metavar="W2.toml", help="calibrated workshop to write")
    p.add_argument("--report", type=Path, metavar="r.json", help="also write the full report as JSON")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.add_argument("--min-samples", type=int, default=5, metavar="N",
                   help="fewest samples a fitted value may rest on (default 5)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run)


def report_dict(fits: list[Any], recording: str, workshop: str, confidence: float) -> dict[str, Any]:
    return {
        "recording": recording, "workshop": workshop, "confidence": confidence,
        "stations": {f.station: {"params": [p.to_dict() for p in f.params],
                                 "availability": None if f.availability is None else round(f.availability, 4),
                                 "working_h_per_day": None if f.working_h_per_day is None
                                 else round(f.working_h_per_day, 3),
                                 "on_h": round(f.on_h, 3)} for f in fits},
    }


def run(args: argparse.Namespace) -> int:
    from twin.calibration.fit import calibrate
    from twin.calibration.toml_out import write_calibrated
    from twin.recording import RecordingError, open_recording
    from twin.workshop import WorkshopError, load_workshop

    if not 0 < args.confidence < 1:
        raise CommandError(f"--confidence must be between 0 and 1, got {args.confidence:g}")
    if args.min_samples < 2:
        raise CommandError(f"--min-samples must be at least 2, got {args.min_samples}")
    if args.workshop.suffix.lower() != ".toml":
        raise CommandError(f"{args.workshop}: calibrate writes TOML workshops only")
    try:
        ws = load_workshop(args.workshop)
    except (WorkshopError, OSError) as exc:
        raise CommandError(str(exc)) from None
    try:
        rec = open_recording(args.recording)
    except (RecordingError, OSError) as exc:
        raise CommandError(str(exc)) from None
    with rec:
        t0, t1 = rec.time_range
        events = list(rec.events())
    if not any(e.kind == "station" for e in events):
        raise CommandError(f"{args.recording}: no station events to calibrate from")
    fits = calibrate(events, ws, t0, t1, args.confidence, args.min_samples)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"Calibrated by `dmw-twin calibrate` on {stamp} from {args.recording}\n"
              f"({(t1 - t0) / 3600:.1f} h of data; {args.confidence:.0%} intervals and samples per value"
              + (f" in {args.report}" if args.report else "") + ").")
    try:
        write_calibrated(args.workshop, args.out, fits, header)
        load_workshop(args.out)
    except (OSError, WorkshopError) as exc:
        raise CommandError(f"{args.out}: {exc}") from None
    rep = report_dict(fits, str(args.recording), str(args.workshop), args.confidence)
    if args.report:
        try:
            args.report.write_text(json.dumps(rep, indent=1))
        except OSError as exc:
            raise CommandError(f"{args.report}: cannot write ({exc.strerror or exc})") from None
    if args.json:
        print(json.dumps(rep))
        return 0
    print(f"{args.out}: calibrated from {args.recording} ({(t1 - t0) / 3600:.1f} h)")
    for f in fits:
        av = "" if f.availability is None else f", availability {f.availability:.1%}"
        print(f"{f.station}: {f.working_h_per_day:.1f} h/day switched on{av}")
        for p in f.params:
            ci = "" if p.ci is None else f" [{_n(p.ci[0])}, {_n(p.ci[1])}]"
            fitted = "-" if p.fitted is None else _n(p.fitted)
            print(f"  {p.name:<22} model {_n(p.model):>8} {p.unit:<3} fitted {fitted:>8}{ci:<22} "
                  f"n={p.n:<4} {p.status}{' - ' + p.note if p.note else ''}")
    return 0


def _n(x: float | None) -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "inf"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"
