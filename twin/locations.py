"""Where a recording lives: a ``.twinlog`` path, or a shift on the plant-history server.

Kept free of heavy imports so command-line parsing can use it.
"""

from __future__ import annotations

from pathlib import Path

#: URL schemes of the plant-history server (PostgreSQL).
HISTORY_SCHEMES: tuple[str, ...] = ("postgresql://", "postgres://")


def is_history_url(text: object) -> bool:
    """Whether ``text`` names a plant-history shift rather than a file."""
    return isinstance(text, str) and text.startswith(HISTORY_SCHEMES)


def recording_arg(text: str) -> str | Path:
    """A command-line recording argument: a plant-history URL as it is, else a path."""
    return text if is_history_url(text) else Path(text)


def as_location(loc: str | Path) -> str | Path:
    """A recording's location as the app keeps it: the URL as it is, else a ``Path``."""
    return loc if is_history_url(loc) else Path(loc)


def display_name(loc: str | Path) -> str:
    """What a person calls the recording: the file name, or "SHIFT (LINE)" of a shift URL."""
    if is_history_url(loc):
        from urllib.parse import parse_qs, urlsplit

        q = parse_qs(urlsplit(str(loc)).query)
        shift, line = q.get("shift", [""])[-1], q.get("line", [""])[-1]
        return f"{shift} ({line})" if shift else str(loc)
    return Path(loc).name
