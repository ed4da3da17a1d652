"""Sub-commands on recordings: ``export`` (to CSV) and ``info`` (what a recording holds).

    python main.py export SHIFT.twinlog --csv shift.csv [--from 3600 --to 7200]
    python main.py info SHIFT.twinlog [--json]

Errors (missing file, not a recording, unwritable output) print one line on stderr naming
the file and exit with status 2. A damaged recording is still exported/described as far as
it could be read; its warnings go to stderr (``info`` also lists them) and the status is 0.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from twin.errors import CommandError, format_error
from twin.events import KINDS, STATES

if TYPE_CHECKING:  # numpy and the reader load when a command runs, not for --help
    from twin.recording import Recording

#: Columns of ``export --csv``, in order (empty where not applicable).
CSV_COLUMNS: tuple[str, ...] = (
    "t", "entity", "kind", "state", "x", "y", "heading", "station", "wip", "order", "process", "agv",
    "product", "quantity", "due",
)
_FLOATS = {"t", "x", "y", "heading", "quantity", "due"}
_ROWS_PER_BLOCK = 50_000


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``export`` and ``info`` sub-commands."""
    ex = subparsers.add_parser(
        "export",
        help="write a recording's events to CSV",
        description="Write the events of a .twinlog recording to CSV, one row per event, columns "
                    + ",".join(CSV_COLUMNS) + " (empty when not applicable).",
    )
    ex.add_argument("recording", metavar="FILE.twinlog", type=Path, help="recording to read")
    ex.add_argument("--csv", required=True, metavar="OUT.csv", help="CSV file to write ('-' for standard output)")
    ex.add_argument("--from", dest="t0", type=float, default=-math.inf, metavar="SECONDS",
                    help="only events at or after this time (seconds since the start of the shift)")
    ex.add_argument("--to", dest="t1", type=float, default=math.inf, metavar="SECONDS",
                    help="only events at or before this time (seconds)")
    ex.set_defaults(func=run_export)

    info = subparsers.add_parser(
        "info",
        help="describe a recording: time range, entities, events by kind/state, warnings",
        description="Describe a .twinlog recording: time range, entity counts by kind, event counts "
                    "by kind and state, annotations, keyframes and any damage found.",
    )
    info.add_argument("recording", metavar="FILE.twinlog", type=Path, help="recording to read")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    info.set_defaults(func=run_info)


# -- export ---------------------------------------------------------------------------------


def run_export(args: argparse.Namespace) -> int:
    """Handler of ``export`` (CommandError on bad input)."""
    if not args.t0 <= args.t1:
        raise CommandError(f"--from {args.t0:g} is after --to {args.t1:g}")
    rec = _open(args.recording)
    with rec:
        _print_warnings(rec)
        if args.csv == "-":
            n = write_csv(rec, sys.stdout, args.t0, args.t1)
            sys.stdout.flush()
        else:
            out = Path(args.csv)
            try:
                n = _write_csv_file(rec, out, args.t0, args.t1)
            except OSError as exc:
                raise CommandError(f"{out}: cannot write ({exc.strerror or exc})") from None
            print(f"wrote {n} events to {out}", file=sys.stderr)
    return 0


def _write_csv_file(rec: Recording, out: Path, t0: float, t1: float) -> int:
    """Write next to ``out`` and rename, so an interrupted export never leaves half a file."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            n = write_csv(rec, fh, t0, t1)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def write_csv(rec: Recording, fh: TextIO, t0: float = -math.inf, t1: float = math.inf) -> int:
    """Write the events with ``t0 <= t <= t1`` as CSV (header + one row per event) to ``fh``;
    returns the number of rows. Works from the columns, block by block (no Event objects)."""
    cols = rec.columns(t0, t1)
    out = csv.writer(fh, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    n = len(cols)
    for lo in range(0, n, _ROWS_PER_BLOCK):
        hi = min(n, lo + _ROWS_PER_BLOCK)
        fields = []
        for name in CSV_COLUMNS:
            a = getattr(cols, name)[lo:hi]
            if name in _FLOATS:
                fields.append(["" if v != v else repr(v) for v in a.tolist()])
            else:
                fields.append(cols.strings[a].tolist())
        out.writerows(zip(*fields))
    return n


# -- info -----------------------------------------------------------------------------------------


def describe(rec: Recording) -> dict[str, Any]:
    """Everything ``info`` reports, as a JSON-ready dict."""
    import numpy as np

    cols = rec.columns()
    by_kind: dict[str, dict[str, int]] = {}
    if len(cols):
        size = len(cols.strings)
        pairs, counts = np.unique(cols.kind.astype(np.int64) * size + cols.state, return_counts=True)
        found = {(cols.strings[p // size], cols.strings[p % size]): int(c) for p, c in zip(pairs.tolist(), counts.tolist())}
        order = [(k, s) for k in KINDS for s in STATES[k]]
        for kind, state in sorted(found, key=lambda ks: order.index(ks) if ks in order else len(order)):
            by_kind.setdefault(kind, {})[state] = found[(kind, state)]
    entity_kinds = collections.Counter(rec.entities.values())
    notes = rec.annotations()
    start, end = rec.time_range
    summary = rec.end_summary or {}
    return {
        "path": str(rec.path),
        "format_version": rec.format_version,
        "created": rec.created,
        "complete": rec.complete,
        "meta": {k: v for k, v in rec.meta.items() if k not in ("format_version", "created")},
        "time_range": [start, end] if rec.event_count else None,
        "duration_s": end - start if rec.event_count else 0.0,
        "events": rec.event_count,
        "rejected_while_writing": summary.get("rejected"),
        "entity_count": len(rec.entities),
        "entities": {k: entity_kinds[k] for k in (*KINDS, *sorted(set(entity_kinds) - set(KINDS))) if entity_kinds[k]},
        "events_by_kind": by_kind,
        "keyframes": len(rec.keyframes),
        "annotations": len(notes),
        "annotations_by_kind": dict(collections.Counter(a.kind for a in notes)),
        "warnings": rec.warnings,
    }


def format_info(d: dict[str, Any]) -> str:
    """The text form of :func:`describe`."""
    lines = [d["path"]]

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:<13} {value}")

    state = "closed cleanly" if d["complete"] else "not closed (still being written, or the writer stopped)"
    row("format", f"twinlog v{d['format_version']}, created {d['created'] or '?'}, {state}")
    if d["meta"]:
        row("meta", ", ".join(f"{k}={_short(v)}" for k, v in d["meta"].items()))
    if d["time_range"]:
        a, b = d["time_range"]
        row("time range", f"{a:,.3f} .. {b:,.3f} s ({_hms(b - a)})")
    else:
        row("time range", "no events")
    rejected = d["rejected_while_writing"]
    row("events", f"{d['events']:,}" + (f" ({rejected:,} rejected while writing)" if rejected else ""))
    ents = ", ".join(f"{k} {n:,}" for k, n in d["entities"].items())
    row("entities", f"{d['entity_count']:,}" + (f": {ents}" if ents else ""))
    row("keyframes", f"{d['keyframes']:,}")
    notes = ", ".join(f"{k} {n:,}" for k, n in sorted(d["annotations_by_kind"].items()))
    row("annotations", f"{d['annotations']:,}" + (f": {notes}" if notes else ""))
    if d["events_by_kind"]:
        lines.append("  events by kind/state")
        for kind, states in d["events_by_kind"].items():
            for st, n in states.items():
                lines.append(f"    {kind:<8} {st:<12} {n:>12,}")
    row("warnings", "none" if not d["warnings"] else "")
    lines.extend(f"    {w}" for w in d["warnings"])
    return "\n".join(lines)


def run_info(args: argparse.Namespace) -> int:
    """Handler of ``info`` (CommandError on bad input)."""
    rec = _open(args.recording)
    with rec:
        d = describe(rec)
    if args.json:
        print(json.dumps(d, ensure_ascii=False))
    else:
        print(format_info(d))
    return 0


# -- helpers -------------------------------------------------------------------------------------


def _open(path: Path) -> Recording:
    """The recording at ``path``; CommandError naming the file and the problem if not."""
    from twin.recording import RecordingError, open_recording

    try:
        return open_recording(path)
    except RecordingError as exc:
        raise CommandError(str(exc)) from None


def _print_warnings(rec: Recording) -> None:
    for w in rec.warnings:
        print(f"warning: {w}", file=sys.stderr)


def _short(value: object, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def main(argv: list[str] | None = None) -> int:
    """``python -m twin.recording_cli export|info ...`` (same as through main.py)."""
    parser = argparse.ArgumentParser(prog="python -m twin.recording_cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CommandError as err:
        print(format_error(args.command, str(err)), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
