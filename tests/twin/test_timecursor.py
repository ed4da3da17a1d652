"""TimeCursor: modes, wall-clock anchored playing, range, loop, live following (no Qt)."""

from __future__ import annotations

import pytest

from twin.timecursor import SPEED_MAX, SPEED_MIN, CursorMode, TimeCursor, format_clock


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_playing_advances_by_speed_times_wall_time(clock: FakeClock) -> None:
    c = TimeCursor(0.0, 3600.0, speed=60.0, clock=clock)
    c.play()
    clock.now += 2.5
    assert c.tick() is True
    assert c.t == pytest.approx(150.0)
    assert c.mode is CursorMode.PLAYING


def test_slow_frames_do_not_make_the_cursor_drift(clock: FakeClock) -> None:
    """Irregular frame intervals: t is always start + elapsed wall time × speed."""
    c = TimeCursor(0.0, 28_800.0, speed=1000.0, clock=clock)
    c.play()
    start = clock.now
    for dt in (0.033, 0.2, 0.001, 0.5, 0.033, 1.7):
        clock.now += dt
        c.tick()
        assert c.t == pytest.approx((clock.now - start) * 1000.0)


def test_speed_change_keeps_position_and_applies_from_then_on(clock: FakeClock) -> None:
    c = TimeCursor(0.0, 10_000.0, speed=10.0, clock=clock)
    c.play()
    clock.now += 1.0
    c.tick()
    c.speed = 100.0
    clock.now += 1.0
    c.tick()
    assert c.t == pytest.approx(10.0 + 100.0)


def test_speed_is_clamped_to_the_offered_span() -> None:
    c = TimeCursor(0, 10)
    c.speed = 5000
    assert c.speed == SPEED_MAX
    c.speed = 0.01
    assert c.speed == SPEED_MIN
    with pytest.raises(ValueError):
        c.speed = -1


def test_playing_stops_at_end_without_loop(clock: FakeClock) -> None:
    c = TimeCursor(0.0, 100.0, speed=10.0, clock=clock)
    c.play()
    clock.now += 50.0
    c.tick()
    assert c.t == 100.0
    assert c.mode is CursorMode.PAUSED
    # play again at the end restarts from the start
    c.play()
    assert c.t == 0.0


def test_loop_wraps_to_the_start_and_keeps_pace(clock: FakeClock) -> None:
    c = TimeCursor(0.0, 100.0, speed=10.0, loop=True, clock=clock)
    c.play()
    clock.now += 12.0  # 120 s of shift -> 20 s after the wrap
    c.tick()
    assert c.t == pytest.approx(20.0)
    assert c.mode is CursorMode.PLAYING
    clock.now += 1.0
    c.tick()
    assert c.t == pytest.approx(30.0)


def test_seek_clamps_and_emits(clock: FakeClock) -> None:
    c = TimeCursor(10.0, 100.0, clock=clock)
    seen: list[float] = []
    c.t_changed.connect(seen.append)
    c.seek(50.0)
    c.seek(500.0)
    c.seek(-5.0)
    assert seen == [50.0, 100.0, 10.0]
    with pytest.raises(ValueError):
        c.seek(float("nan"))


def test_step_pauses_and_moves_one_wall_second_at_speed(clock: FakeClock) -> None:
    c = TimeCursor(0.0, 1000.0, speed=60.0, clock=clock)
    c.seek(100.0)
    c.play()
    c.step(1)
    assert c.mode is CursorMode.PAUSED
    assert c.t == pytest.approx(160.0)
    c.step(-2)
    assert c.t == pytest.approx(40.0)
    c.speed = 0.5
    c.step(1)  # never less than a second
    assert c.t == pytest.approx(41.0)


def test_following_sticks_to_the_growing_live_end(clock: FakeClock) -> None:
    c = TimeCursor(0.0, 0.0, clock=clock)
    modes: list[CursorMode] = []
    c.mode_changed.connect(modes.append)
    c.follow()  # not live yet: ignored
    assert c.mode is CursorMode.PAUSED
    c.set_live(True)
    c.follow()
    c.extend_to(42.0)
    assert c.t == 42.0
    c.extend_to(43.5)
    c.tick()
    assert c.t == 43.5
    # scrubbing back stops following; End follows again
    c.seek(10.0)
    assert c.mode is CursorMode.PAUSED and c.t == 10.0
    c.go_end()
    assert c.mode is CursorMode.FOLLOWING and c.t == 43.5
    assert modes == [CursorMode.FOLLOWING, CursorMode.PAUSED, CursorMode.FOLLOWING]


def test_playing_catches_up_with_live_and_then_follows(clock: FakeClock) -> None:
    c = TimeCursor(0.0, 100.0, speed=10.0, clock=clock)
    c.set_live(True)
    c.seek(50.0)
    c.play()
    clock.now += 10.0  # would be 150 s, live end is 100 s
    c.tick()
    assert c.mode is CursorMode.FOLLOWING
    assert c.t == 100.0


def test_end_of_live_session_stops_following(clock: FakeClock) -> None:
    c = TimeCursor(0.0, 10.0, clock=clock)
    c.set_live(True)
    c.follow()
    c.set_live(False)
    assert c.mode is CursorMode.PAUSED
    assert c.t == 10.0


def test_shrinking_range_keeps_cursor_inside() -> None:
    c = TimeCursor(0.0, 100.0)
    c.seek(80.0)
    c.set_range(0.0, 50.0)
    assert c.t == 50.0
    with pytest.raises(ValueError):
        c.set_range(5.0, 1.0)


def test_toggle_play_from_following_pauses(clock: FakeClock) -> None:
    c = TimeCursor(0.0, 10.0, clock=clock)
    c.set_live(True)
    c.follow()
    c.toggle_play()
    assert c.mode is CursorMode.PAUSED
    c.toggle_play()
    assert c.mode is CursorMode.PLAYING


@pytest.mark.parametrize(
    ("t", "text"), [(0, "00:00:00"), (59.9, "00:00:59"), (3661, "01:01:01"), (28_800, "08:00:00")]
)
def test_shift_clock(t: float, text: str) -> None:
    assert format_clock(t) == text
