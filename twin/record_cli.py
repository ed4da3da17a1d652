"""``record`` sub-command: record any live source headless into a ``.twinlog``.

    python main.py record sim://machining13?speed=60 --out shift.twinlog --duration 10m
    python main.py record mqtt://broker/plant1 --out line1.twinlog --workshop shop.toml

Goes through the same ingest pipeline as the app (:mod:`twin.sources.ingest`): malformed and
late events are refused and counted, status changes and gaps are annotated in the
recording. Prints each status change and gap as it happens and, every few seconds, the
shift time reached, events/s and the rejected count. Ctrl-C or SIGTERM stop it cleanly:
the source is stopped and the recording closed (complete, with its end marker).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from twin.errors import CommandError

#: Wall seconds between pumps of the source.
PUMP_S = 0.1
#: Wall seconds between progress lines.
REPORT_S = 5.0

_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``"90"``/``"90s"``, ``"10m"``, ``"2h"``, ``"1:30:00"`` -> wall seconds (> 0)."""
    s = text.strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d*)?)\s*(s|m|min|h)?", s)
    if m:
        value = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    elif ":" in s and all(p.isdigit() for p in s.split(":")) and len(s.split(":")) <= 3:
        value = 0.0
        for p in s.split(":"):
            value = value * 60 + int(p)
    else:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (use e.g. 90s, 10m, 2h or 01:30:00)")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"duration must be > 0, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``record`` sub-command."""
    p = subparsers.add_parser(
        "record", help="record a live source (sim://, mqtt://, opc.tcp://…) headless",
        description="Record a live source into a .twinlog through the app's ingest pipeline "
                    "until --duration has passed, the source ends, or Ctrl-C / SIGTERM.")
    p.add_argument("url", help="the source, e.g. sim://machining13?speed=60")
    p.add_argument("--out", required=True, type=Path, help="recording to write (.twinlog)")
    p.add_argument("--duration", type=parse_duration, default=None, metavar="D",
                   help="stop after D of wall time (90s, 10m, 2h; default: until stopped)")
    p.add_argument("--workshop", type=Path, default=None, metavar="W",
                   help="workshop file the source feeds (stored in the recording so a "
                        "replay finds its layout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--max-ahead", type=float, default=None, metavar="S",
                   help="refuse events more than S seconds ahead of the source's watermark")
    p.set_defaults(func=run_record)


class _StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it between pumps."""

    def __init__(self) -> None:
        self.reason = ""

    def __call__(self, signum: int, frame: Any) -> None:  # noqa: ARG002 - signal API
        self.reason = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def run_record(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Handler of ``record``; raises :class:`CommandError` on bad input."""
    out = out or sys.stdout  # looked up now: a test (or caller) may have replaced it
    from twin.live import workshop_meta
    from twin.recording import RecordingError, RecordingWriter
    from twin.sources import SourceError, SourceState, open_source, redact
    from twin.sources.ingest import Ingest, status_label
    from twin.timecursor import format_clock
    from twin.workshop import WorkshopError, load_workshop

    url = args.url
    shown_url = redact(url)
    if args.out.exists() and not args.overwrite:
        raise CommandError(f"{args.out}: already exists (use --overwrite to replace it)")
    try:
        workshop = load_workshop(args.workshop) if args.workshop is not None else None
    except (OSError, WorkshopError) as exc:
        raise CommandError(f"{args.workshop}: {exc}") from None
    try:
        source = open_source(url)
    except (SourceError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    meta = dict(workshop_meta(workshop)) if workshop is not None else {}
    meta.update(source.meta())
    meta["source"] = shown_url
    meta.setdefault("mode", "live")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        writer = RecordingWriter(args.out, meta)
    except (RecordingError, OSError) as exc:
        raise CommandError(str(exc)) from None

    ingest = Ingest(source, writer, max_ahead_s=args.max_ahead)
    stop = _StopFlag()
    in_main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
    failed = ""
    w0 = time.monotonic()
    next_report = w0 + REPORT_S
    print(f"recording {shown_url} -> {args.out}"
          + (f" for {args.duration:g} s" if args.duration else " until Ctrl-C"), file=out)
    try:
        source.start()
        while True:
            res = ingest.pump()
            for s in res.statuses:
                print(f"[{format_clock(ingest.counters.reached)}] {status_label(s)}", file=out)
                if s.state is SourceState.FAILED:
                    failed = s.message or "the source failed"
            for g in res.gaps:
                print(f"[{format_clock(g.t0)}] gap until {format_clock(g.t1)}: {g.reason}",
                      file=out)
            now = time.monotonic()
            if now >= next_report:
                next_report = now + REPORT_S
                print(_progress(ingest, format_clock), file=out, flush=True)
            if ingest.ended or stop.reason:
                break
            if args.duration is not None and now - w0 >= args.duration:
                stop.reason = f"{args.duration:g} s recorded"
                break
            time.sleep(PUMP_S)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        source.stop()
        ingest.pump()  # what arrived while stopping, and the 'stopped' status
        try:
            writer.close()
        except RecordingError as exc:
            raise CommandError(str(exc)) from None
    c = ingest.counters
    why = stop.reason or ("the source failed" if failed else "the source ended")
    print(f"stopped ({why}): {c.accepted} events to {format_clock(c.reached)} of shift, "
          f"{c.rejected} rejected -> {args.out}", file=out)
    for reason, n in c.reasons.most_common():
        print(f"  rejected {n} x {reason}; e.g. {c.samples.get(reason, '')}", file=out)
    if ingest.write_error:
        raise CommandError(f"{args.out}: {ingest.write_error}")
    if failed:
        raise CommandError(f"{shown_url}: {failed} (what arrived is kept in {args.out})")
    return 0


def _progress(ingest: Any, format_clock: Any) -> str:
    c = ingest.counters
    return (f"t {format_clock(c.reached)}  {c.accepted:,} events  "
            f"{c.events_per_s:,.0f} events/s  {c.rejected} rejected")
