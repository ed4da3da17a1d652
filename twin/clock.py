"""Shift clock times as people type and read them.

:func:`parse_time` reads ``"5400"`` (seconds), ``"90:00"`` (MM:SS) or ``"01:30:00"``
(HH:MM:SS); :func:`format_clock` writes ``HH:MM:SS``. Times are seconds since the start
of the shift; speeds are × real time. No dependencies: command-line parsers import it at
start-up (:mod:`twin.timecursor` re-exports these names).
"""

from __future__ import annotations

import math

#: Slowest and fastest playback, × real time (the time cursor and the command line).
SPEED_MIN: float = 0.25
SPEED_MAX: float = 1000.0


def _is_number(part: str) -> bool:
    return part.strip().replace(".", "", 1).isdigit()


def parse_time(text: str, *, allow_end: bool = False) -> float:
    """``"5400"``, ``"5400.5"``, ``"90:00"`` or ``"01:30:00"`` -> seconds; with
    ``allow_end``, ``"end"`` / ``"now"`` -> ``inf`` (the latest recorded moment).

    Raises ValueError (saying what is accepted) for anything else: negative, not finite,
    minutes or seconds of 60 or more, more than three fields."""
    s = text.strip().lower()
    if allow_end and s in ("end", "now"):
        return math.inf
    parts = s.split(":")
    if len(parts) > 3 or not all(_is_number(p) for p in parts):
        end = " or 'end'" if allow_end else ""
        raise ValueError(f"time must be seconds, MM:SS or HH:MM:SS{end}, got {text!r}")
    values = [float(p) for p in parts]
    if any(v >= 60 for v in values[1:]):
        raise ValueError(f"minutes and seconds must be below 60 in {text!r}")
    seconds = 0.0
    for v in values:
        seconds = seconds * 60 + v
    return seconds


def format_clock(t: float, *, nearest: bool = False) -> str:
    """Shift clock ``HH:MM:SS`` for ``t`` seconds (hours may exceed 24): the second it is
    in (a running clock), or with ``nearest`` the nearest second (a reported time)."""
    t = max(t, 0.0)
    s = int(round(t)) if nearest else int(math.floor(t))
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
