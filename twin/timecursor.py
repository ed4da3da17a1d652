"""The time cursor: which instant of the shift every view shows, and how it moves.

One :class:`TimeCursor` per window. The timeline writes into it (seek, play, speed);
the 3D view, the charts and the panels observe it and query the state store for the
state at :attr:`TimeCursor.t`. They never call each other.

Modes (after rerun's ``PlayState``):

* ``PAUSED``  – ``t`` only moves when someone seeks or steps.
* ``PLAYING`` – ``t`` advances at ``speed`` × wall-clock time. Playing is anchored on the
  wall clock (``t = t_anchor + (now - wall_anchor) × speed``), so a slow frame never makes
  the cursor fall behind: the next :meth:`TimeCursor.tick` lands where it should be
  (zero drift at any speed, frames are skipped instead).
* ``FOLLOWING`` – live: ``t`` sticks to the end of the range, which the live source
  extends as the shop runs.

Qt-free; observers connect to the psygnal signals (``cursor.t_changed.connect(fn)``).
Times are seconds since the start of the recording/shift.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import Enum

from psygnal import Signal

from twin.clock import SPEED_MAX, SPEED_MIN, format_clock, parse_time

__all__ = ["SPEED_MAX", "SPEED_MIN", "SPEED_STEPS", "CursorMode", "TimeCursor", "format_clock",
           "parse_time"]

#: The speeds the timeline offers, × real time.
SPEED_STEPS: tuple[float, ...] = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 100, 300, 1000)


class CursorMode(str, Enum):
    """How the cursor moves (see module docstring)."""

    PAUSED = "paused"
    PLAYING = "playing"
    FOLLOWING = "following"


class TimeCursor:
    """Current time, mode, speed, range and loop flag of a replay or live session.

    Signals:
        t_changed(t: float): the cursor moved (seconds).
        mode_changed(mode: CursorMode)
        speed_changed(speed: float): × real time.
        range_changed(t0: float, t1: float): the span that can be shown (seconds).
        loop_changed(loop: bool)
        live_changed(live: bool): whether the range is still growing (a live session).

    Args:
        t0, t1: initial range in seconds.
        speed: playback speed, × real time, clamped to [SPEED_MIN, SPEED_MAX].
        loop: when playing reaches the end, wrap to the start instead of pausing.
        clock: monotonic wall clock in seconds (injectable for tests).
    """

    t_changed = Signal(float)
    mode_changed = Signal(object)
    speed_changed = Signal(float)
    range_changed = Signal(float, float)
    loop_changed = Signal(bool)
    live_changed = Signal(bool)

    def __init__(
        self,
        t0: float = 0.0,
        t1: float = 0.0,
        *,
        speed: float = 1.0,
        loop: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(t0) and math.isfinite(t1)) or t1 < t0:
            raise ValueError(f"invalid cursor range [{t0}, {t1}]")
        self._clock = clock
        self._t0 = float(t0)
        self._t1 = float(t1)
        self._t = float(t0)
        self._speed = _clamp_speed(speed)
        self._loop = bool(loop)
        self._mode = CursorMode.PAUSED
        self._live = False
        self._anchor_wall = 0.0
        self._anchor_t = self._t

    # -- read-only state -------------------------------------------------------------
    @property
    def t(self) -> float:
        """Current time, seconds."""
        return self._t

    @property
    def mode(self) -> CursorMode:
        return self._mode

    @property
    def range(self) -> tuple[float, float]:
        """(start, end) of what can be shown, seconds."""
        return (self._t0, self._t1)

    @property
    def duration(self) -> float:
        return self._t1 - self._t0

    @property
    def live(self) -> bool:
        """True while a live source keeps extending the range."""
        return self._live

    @property
    def at_end(self) -> bool:
        return self._t >= self._t1

    # -- settable state --------------------------------------------------------------
    @property
    def speed(self) -> float:
        """Playback speed, × real time, within [SPEED_MIN, SPEED_MAX]."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        v = _clamp_speed(value)
        if v == self._speed:
            return
        self._reanchor()
        self._speed = v
        self.speed_changed.emit(v)

    @property
    def loop(self) -> bool:
        return self._loop

    @loop.setter
    def loop(self, value: bool) -> None:
        value = bool(value)
        if value != self._loop:
            self._loop = value
            self.loop_changed.emit(value)

    @property
    def step_s(self) -> float:
        """Seconds one step (← / →) moves: one wall second at the current speed, >= 1 s."""
        return max(1.0, self._speed)

    # -- commands --------------------------------------------------------------------
    def set_live(self, live: bool) -> None:
        """Mark the session live (range grows) or finished; leaving live stops following."""
        live = bool(live)
        if live == self._live:
            return
        self._live = live
        if not live and self._mode is CursorMode.FOLLOWING:
            self._set_mode(CursorMode.PAUSED)
        self.live_changed.emit(live)

    def set_range(self, t0: float, t1: float) -> None:
        """Set the span that can be shown; the cursor is kept inside it.

        While FOLLOWING, the cursor jumps to the new end.
        """
        if not (math.isfinite(t0) and math.isfinite(t1)) or t1 < t0:
            raise ValueError(f"invalid cursor range [{t0}, {t1}]")
        changed = (t0, t1) != (self._t0, self._t1)
        self._t0, self._t1 = float(t0), float(t1)
        if changed:
            self.range_changed.emit(self._t0, self._t1)
        if self._mode is CursorMode.FOLLOWING:
            self._set_t(self._t1)
        elif not (self._t0 <= self._t <= self._t1):
            self._set_t(min(max(self._t, self._t0), self._t1))
            self._reanchor()

    def extend_to(self, t1: float) -> None:
        """Grow the end of the range (live sources call this as the shop runs)."""
        if t1 > self._t1:
            self.set_range(self._t0, t1)

    def seek(self, t: float) -> None:
        """Jump to ``t`` (clamped to the range). Seeking stops following live."""
        if not math.isfinite(t):
            raise ValueError(f"cannot seek to {t}")
        if self._mode is CursorMode.FOLLOWING:
            self._set_mode(CursorMode.PAUSED)
        self._set_t(min(max(float(t), self._t0), self._t1))
        self._reanchor()

    def step(self, n: int = 1) -> None:
        """Pause and move ``n`` steps of :attr:`step_s` (negative steps go back)."""
        self.pause()
        self.seek(self._t + n * self.step_s)

    def go_start(self) -> None:
        self.seek(self._t0)

    def go_end(self) -> None:
        """Jump to the end; in a live session that means follow live again."""
        if self._live:
            self.follow()
        else:
            self.seek(self._t1)

    def play(self) -> None:
        """Play from the current time; at the end of a finished range, restart from the start."""
        if self._mode is CursorMode.PLAYING:
            return
        if not self._live and self._t >= self._t1 and self._t1 > self._t0:
            self._set_t(self._t0)
        self._reanchor()
        self._set_mode(CursorMode.PLAYING)

    def pause(self) -> None:
        if self._mode is not CursorMode.PAUSED:
            self._set_mode(CursorMode.PAUSED)

    def toggle_play(self) -> None:
        """Space bar: pause when moving (playing or following), play when paused."""
        if self._mode is CursorMode.PAUSED:
            self.play()
        else:
            self.pause()

    def follow(self) -> None:
        """Follow the live end of the range (only in a live session)."""
        if not self._live:
            return
        self._set_mode(CursorMode.FOLLOWING)
        self._set_t(self._t1)

    def tick(self, now: float | None = None) -> bool:
        """Advance by the wall clock; call once per frame. Returns True if ``t`` moved.

        PLAYING past the end: loop → wrap to the start; live → switch to FOLLOWING;
        otherwise stop at the end and pause.
        """
        if self._mode is CursorMode.FOLLOWING:
            return self._set_t(self._t1)
        if self._mode is not CursorMode.PLAYING:
            return False
        now = self._clock() if now is None else now
        t = self._anchor_t + (now - self._anchor_wall) * self._speed
        if t < self._t1:
            return self._set_t(max(t, self._t0))
        if self._live:
            self._set_mode(CursorMode.FOLLOWING)
            return self._set_t(self._t1)
        if self._loop and self._t1 > self._t0:
            span = self._t1 - self._t0
            t = self._t0 + math.fmod(t - self._t0, span)
            # keep the wall-clock anchor exact: re-anchor at the wrap point
            self._anchor_t = t
            self._anchor_wall = now
            return self._set_t(t)
        moved = self._set_t(self._t1)
        self._set_mode(CursorMode.PAUSED)
        return moved

    # -- internals -------------------------------------------------------------------
    def _reanchor(self) -> None:
        self._anchor_wall = self._clock()
        self._anchor_t = self._t

    def _set_t(self, t: float) -> bool:
        if t == self._t:
            return False
        self._t = t
        self.t_changed.emit(t)
        return True

    def _set_mode(self, mode: CursorMode) -> None:
        if mode is self._mode:
            return
        if mode is CursorMode.PLAYING:
            self._reanchor()
        self._mode = mode
        self.mode_changed.emit(mode)

    def __repr__(self) -> str:
        return (
            f"TimeCursor(t={self._t:.3f}, mode={self._mode.value}, speed={self._speed}, "
            f"range=({self._t0:.3f}, {self._t1:.3f}), loop={self._loop}, live={self._live})"
        )


def _clamp_speed(value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"speed must be a positive number, got {value!r}")
    return min(max(v, SPEED_MIN), SPEED_MAX)
