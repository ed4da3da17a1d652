"""The one error every command reports the same way.

A sub-command handler raises :class:`CommandError` with what is wrong, naming the thing
(file, URL, station) and the problem; ``main.py`` prints ``dmw-twin <command>: <message>``
on stderr and exits with status 2. Nothing else of the traceback reaches the user.
"""

from __future__ import annotations


class CommandError(Exception):
    """A command cannot do what it was asked; ``str(err)`` is shown to the user as it is."""


#: Exit status of a command that failed on bad input or an unreachable resource.
EXIT_ERROR = 2
