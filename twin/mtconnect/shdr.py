"""The MTConnect adapter protocol "SHDR": one text line per instant.

    2018-12-17T13:55:11.059Z|execution|ACTIVE
    2018-12-17T13:55:11.059Z|execution|ACTIVE|mode|AUTOMATIC          several items per line
    2018-12-17T19:15:41.431Z|path_system|Fault|149|||TAILSTOCK BARRIER  a condition:
        timestamp|item|level|native code|native severity|qualifier|message
    2018-12-17T13:55:11.059Z|Mazak01:execution|ACTIVE                  a device-qualified item
    * PING / * PONG 10000                                              heartbeat (TCP stream)

A condition (level Normal, Warning, Fault, Unavailable) takes the rest of its line and sits
alone on it (its message may contain ``|``); any other item takes one value. Timestamps are
ISO-8601 UTC with any number of fractional digits (real logs mix milliseconds and
microseconds). :func:`parse_line` raises :class:`ShdrError` with the reason for a line it
cannot read; callers count such lines and go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

#: Levels a condition observation may take (MTConnect Standard Part 3, Condition).
CONDITION_LEVELS: frozenset[str] = frozenset({"normal", "warning", "fault", "unavailable"})


class ShdrError(ValueError):
    """A line that is not SHDR; ``str(err)`` says what is wrong."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition observation: ``level`` Normal / Warning / Fault / Unavailable (as sent,
    compared case-insensitively), the controller's alarm ``code`` and ``message``."""

    level: str
    code: str = ""
    severity: str = ""
    qualifier: str = ""
    message: str = ""

    @property
    def normalized_level(self) -> str:
        return self.level.strip().lower()


@dataclass(frozen=True, slots=True)
class Observation:
    """One data item's new value: ``item`` is the SHDR key (data item name or id, without a
    ``Device:`` prefix, which goes into ``device``); ``value`` is a string or a
    :class:`Condition`."""

    item: str
    value: str | Condition
    device: str = ""


_TS_CACHE: dict[str, float] = {}


def parse_timestamp(text: str) -> float:
    """ISO-8601 timestamp → UTC epoch seconds (a time without zone is taken as UTC)."""
    cached = _TS_CACHE.get(text)
    if cached is not None:
        return cached
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ShdrError(f"timestamp {text!r} is not ISO-8601") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    value = dt.timestamp()
    if len(_TS_CACHE) > 100_000:
        _TS_CACHE.clear()
    _TS_CACHE[text] = value
    return value


def is_heartbeat(line: str) -> bool:
    """``* PING`` / ``* PONG <ms>`` and other ``*`` protocol commands of a TCP stream."""
    return line.startswith("*")


def parse_line(line: str, condition_items: frozenset[str] | set[str] = frozenset()
               ) -> tuple[float, list[Observation]]:
    """One SHDR line → (UTC epoch seconds, observations).

    ``condition_items`` are the SHDR keys known (from the device model) to be conditions;
    a key not among them is still read as a condition when the field after it is a
    condition level and the line has (at least) the seven fields of one condition.
    """
    text = line.rstrip("\r\n")
    fields = text.split("|")
    if len(fields) == 3 and fields[1] not in condition_items:  # the common case: one value
        key = fields[1].strip()
        if key and ":" not in key:
            return parse_timestamp(fields[0]), [Observation(key, fields[2].strip())]
    if not text.strip():
        raise ShdrError("empty line")
    if len(fields) < 3:
        raise ShdrError(f"expected timestamp|item|value, got {len(fields)} field(s)")
    t = parse_timestamp(fields[0])
    obs: list[Observation] = []
    i = 1
    n = len(fields)
    while i < n:
        key = fields[i].strip()
        if not key:
            raise ShdrError(f"field {i + 1}: empty item name")
        device, _, item = key.rpartition(":")
        rest = n - i - 1
        if rest < 1:
            raise ShdrError(f"item {key!r} has no value")
        level = fields[i + 1].strip().lower()
        is_cond = item in condition_items or key in condition_items or (
            i == 1 and n >= 7 and level in CONDITION_LEVELS)
        if is_cond:
            if level not in CONDITION_LEVELS:
                raise ShdrError(f"condition {key!r}: unknown level {fields[i + 1]!r} "
                                "(expected Normal, Warning, Fault or Unavailable)")
            parts = fields[i + 1:]
            parts += [""] * (5 - len(parts))
            message = "|".join(parts[4:])
            obs.append(Observation(item, Condition(parts[0].strip(), parts[1].strip(),
                                                   parts[2].strip(), parts[3].strip(),
                                                   message.strip()), device))
            break
        obs.append(Observation(item, fields[i + 1].strip(), device))
        i += 2
    return t, obs
