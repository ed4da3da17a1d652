"""twin.clock: shift times as people type them (the one parser every command uses)."""

from __future__ import annotations

import math

import pytest

from twin.clock import format_clock, parse_time


@pytest.mark.parametrize("text, seconds", [("0", 0.0), ("5400", 5400.0), ("90.5", 90.5),
                                           ("1:30:00", 5400.0), ("02:03", 123.0),
                                           ("0:00:07.5", 7.5), (" 04:00:00 ", 14400.0)])
def test_times_are_seconds_or_clock_times(text: str, seconds: float) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["-5", "1:75:00", "a:b", "1:2:3:4", "nan", "inf", "", "1e3", "end"])
def test_bad_times_are_refused_saying_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM:SS|below 60"):
        parse_time(text)


def test_end_means_the_latest_moment_where_allowed() -> None:
    assert parse_time("end", allow_end=True) == math.inf
    assert parse_time("NOW", allow_end=True) == math.inf
    with pytest.raises(ValueError, match="or 'end'"):
        parse_time("soon", allow_end=True)


def test_format_clock_round_trips_whole_seconds() -> None:
    assert format_clock(93784.9) == "26:03:04"
    assert parse_time(format_clock(5405)) == 5405.0
