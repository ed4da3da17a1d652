"""DMW Twin entry point: the desktop app by default, sub-commands for headless work.

    python main.py                      # desktop app, live simulated machining13 shop
    python main.py open SHIFT.twinlog   # desktop app, replaying a recording
    python main.py simulate ...         # and the other sub-commands: see --help

This module only wires things together: every sub-command is registered by the module that
owns it (``register(subparsers)``), so each layer stays testable on its own.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from twin import __version__
from twin.errors import EXIT_ERROR, PROG, CommandError, CommandParser, format_error

#: Modules that contribute sub-commands, in the order they appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "ui.cli",  # gui (default), open
    "twin.sim_cli",  # simulate
    "twin.recording_cli",  # export, info
    "twin.record_cli",  # record
    "twin.verification.cli",  # verify
    "twin.forecast_cli",  # forecast
    "twin.history.cli",  # history
    "twin.serve_cli",  # serve
    "twin.warehouse.cli",  # warehouse, migrate, kg
    "twin.evolution.cli",  # evolve
    "scene.cli",  # mesh-info, screenshot
    "twin.mtconnect.cli",  # import-mtconnect
    "twin.calibration.cli",  # calibrate
)

#: Sub-command run when none is given (``python main.py [--options]``).
DEFAULT_COMMAND = "gui"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=PROG,
        description="DMW Twin: a digital twin of a discrete manufacturing workshop.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)  # cheap: handlers import heavy libs lazily
    return parser


def _with_default_command(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Insert the default sub-command when the first argument is not a command."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if argv and (argv[0] in sub.choices or argv[0] in ("-h", "--help", "--version")):
        return argv
    return [DEFAULT_COMMAND, *argv] if DEFAULT_COMMAND in sub.choices else argv


def main(argv: Sequence[str] | None = None) -> int:
    if not os.environ.get("DISPLAY"):
        # No X server: let VTK render off-screen through EGL without probing X first.
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    parser = build_parser()
    args = parser.parse_args(_with_default_command(list(sys.argv[1:] if argv is None else argv), parser))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CommandError as err:
        print(format_error(args.command, str(err)), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()  # forecast workers of a frozen (installed) app
    sys.exit(main())
