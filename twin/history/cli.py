"""``history``: shifts on the plant-history server (PostgreSQL).

    python main.py history setup  postgresql://admin@db/plant          # schema + reader/writer roles
    python main.py history list   postgresql://alice@db/plant [--line machining13]
    python main.py history import postgresql://rec@db/plant SHIFT.twinlog… [--line L] [--shift S]
    python main.py history sync   postgresql://rec@db/plant?line=L&shift=S LOCAL.twinlog
    python main.py history export postgresql://alice@db/plant?line=L&shift=S --out FILE.twinlog

The password comes from libpq's PGPASSWORD or ~/.pgpass, else it is asked for on the
terminal; it is never written anywhere by the app.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from twin.errors import CommandError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("history", help="shifts on the plant-history server (PostgreSQL)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    hs = p.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    s = hs.add_parser("setup", help="create or migrate the schema and the dmw_reader/dmw_writer roles")
    s.add_argument("url")
    s = hs.add_parser("list", help="lines and shifts with time range, events, annotations")
    s.add_argument("url")
    s.add_argument("--line", default=None)
    s = hs.add_parser("import", help="store .twinlog recordings as shifts")
    s.add_argument("url")
    s.add_argument("files", nargs="+")
    s.add_argument("--line", default="", help="line name (default: the recording's workshop)")
    s.add_argument("--shift", default="", help="shift name (default: the file name; one file only)")
    s = hs.add_parser("sync", help="upload what the server missed of a locally recorded shift")
    s.add_argument("url")
    s.add_argument("file")
    s = hs.add_parser("export", help="write a shift to a .twinlog file")
    s.add_argument("url")
    s.add_argument("--out", required=True)
    p.set_defaults(func=run)


def _with_password(fn: Any) -> Any:
    """Run ``fn(password)``; ask once on the terminal when the server wants a password."""
    from twin.history.store import HistoryError

    try:
        return fn(None)
    except HistoryError as exc:
        if "password is needed" not in str(exc) or not sys.stdin.isatty():
            raise
    return fn(getpass.getpass("history server password: "))


def run(args: argparse.Namespace) -> int:
    from twin.history.schema import create_roles, ensure_schema
    from twin.history.store import HistoryError, connect, list_shifts, parse_history_url
    from twin.history.transfer import export_shift, import_twinlog, sync_twinlog

    try:
        if args.history_command == "setup":
            def setup(pw: str | None) -> int:
                with connect(args.url, pw) as conn:
                    v = ensure_schema(conn)
                    create_roles(conn)
                return v
            v = _with_password(setup)
            print(f"plant history schema version {v}; roles dmw_reader and dmw_writer ready")
        elif args.history_command == "list":
            def listing(pw: str | None) -> list[Any]:
                with connect(args.url, pw) as conn:
                    return list_shifts(conn, args.line)
            shifts = _with_password(listing)
            if not shifts:
                print("no shifts")
            for s in shifts:
                span = f"{(s.t_first or 0) / 3600:6.2f}–{(s.t_last or 0) / 3600:6.2f} h"
                state = "" if s.complete else "  (recording or cut short)"
                print(f"{s.line:16} {s.name:24} {s.start:%Y-%m-%d %H:%M} UTC  {span}  "
                      f"{s.event_count:>9} events  {s.annotations:>4} notes{state}")
        elif args.history_command == "import":
            if args.shift and len(args.files) > 1:
                raise CommandError("--shift names one shift: give one file, or leave it out")
            for f in args.files:
                url, n = _with_password(lambda pw, f=f: import_twinlog(
                    f, args.url, line=args.line, shift=args.shift, password=pw))
                print(f"{f}: {n} events → {url}")
        elif args.history_command == "sync":
            loc = parse_history_url(args.url)
            n = _with_password(lambda pw: sync_twinlog(args.file, args.url, line=loc.line,
                                                       shift=loc.shift, password=pw))
            print(f"{args.file}: {n} events uploaded")
        elif args.history_command == "export":
            n = _with_password(lambda pw: export_shift(args.url, args.out, password=pw))
            print(f"wrote {n} events to {args.out}")
    except HistoryError as exc:
        raise CommandError(str(exc)) from None
    return 0
