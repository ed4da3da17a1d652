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
from pathlib import Path

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


def run(args: argparse.Namespace) -> int:
    from twin.calibration.report import CalibrationError, calibrate_recording, number
    from twin.recording import RecordingError
    from twin.workshop import WorkshopError, load_workshop

    if args.workshop.suffix.lower() != ".toml":
        raise CommandError(f"{args.workshop}: calibrate writes TOML workshops only")
    try:
        ws = load_workshop(args.workshop)
    except (WorkshopError, OSError) as exc:
        raise CommandError(str(exc)) from None
    try:
        cal = calibrate_recording(args.recording, ws, confidence=args.confidence,
                                  min_samples=args.min_samples)
    except (CalibrationError, RecordingError, OSError) as exc:
        raise CommandError(_option_words(str(exc))) from None
    try:
        cal.write_workshop(args.out, args.report)
    except CalibrationError as exc:
        raise CommandError(str(exc)) from None
    except (OSError, WorkshopError) as exc:
        raise CommandError(f"{args.out}: {exc}") from None
    rep = cal.to_dict()
    if args.report:
        try:
            args.report.write_text(json.dumps(rep, indent=1))
        except OSError as exc:
            raise CommandError(f"{args.report}: cannot write ({exc.strerror or exc})") from None
    if args.json:
        print(json.dumps(rep))
        return 0
    print(f"{args.out}: calibrated from {args.recording} ({cal.hours:.1f} h)")
    for f in cal.fits:
        av = "" if f.availability is None else f", availability {f.availability:.1%}"
        print(f"{f.station}: {f.working_h_per_day:.1f} h/day switched on{av}")
        for p in f.params:
            ci = "" if p.ci is None else f" [{number(p.ci[0])}, {number(p.ci[1])}]"
            fitted = "-" if p.fitted is None else number(p.fitted)
            print(f"  {p.name:<22} model {number(p.model):>8} {p.unit:<3} fitted {fitted:>8}{ci:<22} "
                  f"n={p.n:<4} {p.status}{' - ' + p.note if p.note else ''}")
    return 0


def _option_words(message: str) -> str:
    """The calibration's settings errors in the command's option names."""
    return (message.replace("confidence must", "--confidence must")
            .replace("fewest samples must", "--min-samples must"))
