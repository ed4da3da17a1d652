"""The one error every command reports the same way.

A sub-command handler raises :class:`CommandError` with what is wrong, naming the thing
(file, URL, station) and the problem; ``main.py`` prints ``dmw-twin <command>: <message>``
on stderr and exits with status 2. Nothing else of the traceback reaches the user.
Usage errors (an unknown option, a bad value) come out the same way through
:class:`CommandParser`: the usage line, then ``dmw-twin <command>: <message>``, status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

#: Program name in messages (``dmw-twin <command>: ...``).
PROG = "dmw-twin"
#: Exit status of a command that failed on bad input or an unreachable resource.
EXIT_ERROR = 2


class CommandError(Exception):
    """A command cannot do what it was asked; ``str(err)`` is shown to the user as it is."""


def format_error(command: str | None, message: str) -> str:
    """``dmw-twin <command>: <message>`` (``dmw-twin: <message>`` without a command)."""
    return f"{PROG} {command}: {message}" if command else f"{PROG}: {message}"


class CommandParser(argparse.ArgumentParser):
    """argparse parser whose usage errors read ``dmw-twin <command>: <message>`` (its
    sub-command parsers are of the same class, so their ``prog`` names the command)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: {message}\n")
