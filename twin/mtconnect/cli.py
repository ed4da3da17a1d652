"""``import-mtconnect``: MTConnect adapter logs (SHDR) → a ``.twinlog`` recording.

    python main.py import-mtconnect FILE…|FOLDER --devices Devices.xml \
        [--workshop W.toml] --out R.twinlog [--json]

Prints what was read (lines, events, parts, alarms; malformed lines with file and line
number, repeated / stale / late lines), exits 2 with one line on stderr when nothing can be
imported (no file, not a device model, unwritable output).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from twin.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "import-mtconnect",
        help="import MTConnect adapter logs (SHDR) into a recording",
        description="Turn MTConnect SHDR logs (one file per machine and day, plain or .gz; or a "
                    "folder of them) into one .twinlog recording: execution, mode, conditions and "
                    "program become station states, PartCountAct rises completed parts, alarms "
                    "annotations (docs/connectors.md).",
    )
    p.add_argument("logs", nargs="+", metavar="FILE|FOLDER", help="SHDR log files or folders")
    p.add_argument("--devices", required=True, metavar="Devices.xml", type=Path,
                   help="the MTConnect agent's device model (data item ids and types)")
    p.add_argument("--workshop", metavar="W.toml", type=Path,
                   help="workshop the machines are stations of (places them in 3D; the app "
                        "opens it with the recording)")
    p.add_argument("--out", required=True, metavar="R.twinlog", type=Path, help="recording to write")
    p.add_argument("--json", action="store_true", help="print the import report as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from twin.live import workshop_meta
    from twin.mtconnect.devices import DevicesError, load_devices
    from twin.mtconnect.importer import ImportError_, import_logs, write
    from twin.recording import RecordingError
    from twin.workshop import WorkshopError, load_workshop

    try:
        devices = load_devices(args.devices)
    except DevicesError as exc:
        raise CommandError(str(exc)) from None
    workshop = None
    meta: dict[str, object] = {}
    if args.workshop:
        try:
            workshop = load_workshop(args.workshop)
        except (WorkshopError, OSError) as exc:
            raise CommandError(str(exc)) from None
        meta = workshop_meta(workshop)
    try:
        result = import_logs(args.logs, devices, workshop)
    except ImportError_ as exc:
        raise CommandError(str(exc)) from None
    if workshop is not None:
        missing = sorted({f.station for f in result.files} - set(workshop.stations))
        if missing:
            raise CommandError(f"{args.workshop}: no station for machine(s) {', '.join(missing)} "
                               f"(stations: {', '.join(workshop.stations)})")
    meta["import"] = {k: v for k, v in result.to_dict().items() if k != "malformed_lines"}
    try:
        written = write(result, args.out, meta)
    except RecordingError as exc:
        raise CommandError(str(exc)) from None
    report = result.to_dict()
    report["out"] = str(args.out)
    report["events_written"] = written
    if args.json:
        print(json.dumps(report))
        return 0
    s = result.stats
    days = sorted({(f.station, f.day) for f in result.files})
    print(f"{args.out}: {written} events, {len(result.notes)} alarm annotations, "
          f"{sum(result.parts.values())} parts from {len(result.files)} file(s) "
          f"({len(days)} machine-days, {', '.join(sorted({d[0] for d in days}))})")
    print(f"read {s.lines} lines in {result.wall_s:.1f} s ({report['lines_per_s']} lines/s): "
          f"{s.malformed} malformed, {s.repeated} repeated, {s.stale} stale (older than their "
          f"day), {s.late} late (clamped), {sum(s.unknown_items.values())} of unknown items")
    for f, n, why in s.malformed_lines:
        print(f"  {f}:{n}: {why}", file=sys.stderr)
    if s.malformed > len(s.malformed_lines):
        print(f"  ... and {s.malformed - len(s.malformed_lines)} more malformed lines", file=sys.stderr)
    return 0
