"""Sub-commands of the desktop app: ``gui`` (the default: live simulated shop) and ``open``.

    python main.py                                   # live machining13, real time
    python main.py gui --speed 60 --workshop W.toml  # live, 60 × real time
    python main.py gui --source URL --workshop W.toml  # follow another live source
    python main.py open SHIFT.twinlog [--at 02:00:00] [--play] [--speed 60]
    python main.py open SHIFT.twinlog --screenshot out.png --quit-after 3   # smoke check

``--screenshot PNG`` saves the whole window just before quitting; ``--quit-after S`` quits
after S seconds (wall time). Bad input raises :class:`twin.errors.CommandError`: one line
``dmw-twin <command>: <problem>`` on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from twin import clock
from twin.clock import SPEED_MAX, SPEED_MIN
from twin.errors import CommandError


def parse_time(text: str) -> float:
    """``"5400"``, ``"90:00"`` or ``"01:30:00"`` -> seconds (:func:`twin.clock.parse_time`)."""
    try:
        return clock.parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _speed(text: str) -> float:
    try:
        v = float(text.rstrip("x×"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a speed: {text!r}") from None
    if not SPEED_MIN <= v <= SPEED_MAX:
        raise argparse.ArgumentTypeError(f"speed must be within {SPEED_MIN:g}–{SPEED_MAX:g}×")
    return v


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0 s")
    return v


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a window size: {text!r} (use WxH)") from None
    if w < 320 or h < 240:
        raise argparse.ArgumentTypeError("window must be at least 320x240")
    return w, h


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="save a screenshot of the window just before quitting")
    p.add_argument("--quit-after", type=_seconds, metavar="S",
                   help="quit after S seconds (smoke checks, demos)")
    p.add_argument("--size", type=_size, metavar="WxH",
                   help="window size in pixels (default: as last time)")
    p.add_argument("--fresh", action="store_true",
                   help="ignore the saved window layout")
    p.add_argument("--select", metavar="ID", default=None,
                   help="select a station or AGV at start (e.g. S04), shown in the inspector")


def register(subparsers: argparse._SubParsersAction) -> None:
    gui = subparsers.add_parser(
        "gui", help="desktop app following the simulated shop live (the default)",
        description="Start the desktop app on a live simulated shop, paced in real time × "
                    "SPEED and recorded to ~/.local/share/dmw-twin/recordings.")
    gui.add_argument("--workshop", type=Path, default=None,
                     help="workshop file (default: the bundled machining13)")
    gui.add_argument("--scenario", type=Path, default=None,
                     help="disturbances of the simulated physical shop (TOML)")
    gui.add_argument("--seed", type=int, default=0, help="random seed of the simulation")
    gui.add_argument("--speed", type=_speed, default=None,
                     help="pace of the simulated shop, × real time (default: as last time, 1×)")
    gui.add_argument("--warmup-min", type=_seconds, default=60.0, metavar="MIN",
                     help="simulate the first MIN minutes of the shift at once, as when "
                          "joining a running shop (default 60; 0 = start empty)")
    gui.add_argument("--record-dir", type=Path, default=None,
                     help="where to record the live session")
    gui.add_argument("--source", default=None, metavar="URL",
                     help="follow this live source instead of the simulated shop "
                          "(e.g. mqtt://broker/plant1; with --workshop for its layout)")
    _common(gui)
    gui.set_defaults(func=run_gui)

    op = subparsers.add_parser(
        "open", help="desktop app replaying a .twinlog recording",
        description="Open a recording in the desktop app (its workshop is found from the "
                    "recording's metadata).")
    op.add_argument("recording", type=Path, help="the .twinlog file")
    op.add_argument("--at", type=parse_time, default=None, metavar="T",
                    help="start at T (seconds or HH:MM:SS)")
    op.add_argument("--play", action="store_true", help="start playing at once")
    op.add_argument("--speed", type=_speed, default=None,
                    help="playback speed, × real time (default: as last time)")
    _common(op)
    op.set_defaults(func=run_open)


def _needs_display() -> str:
    """A reason the GUI cannot start here, or ""."""
    if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return ("no display: set DISPLAY, or run under a virtual X server, e.g. "
                "xvfb-run -a -s '-screen 0 1600x1000x24' python main.py ...")
    return ""


def select_when_shown(window, entity_id: str) -> None:  # noqa: ANN001 - MainWindow
    """Select ``entity_id`` now, or once the recording or live shop being opened shows
    (its workshop loads in a worker)."""
    if window.workshop is not None:
        window.selection.select(entity_id)
        return
    signals = (window.recording_opened, window.live_started)

    def once(_: object) -> None:  # the first shop shown only: a later one keeps its own selection
        for signal in signals:
            signal.disconnect(once)
        window.selection.select(entity_id)

    for signal in signals:
        signal.connect(once)


def _run(args: argparse.Namespace, start) -> int:  # noqa: ANN001 - start(window) -> str
    reason = _needs_display()
    if reason:
        raise CommandError(reason)
    if args.screenshot is not None and args.quit_after is None:
        raise CommandError("--screenshot needs --quit-after S (when to take it)")
    # import Qt/VTK only now: headless sub-commands never pay for it
    import pyvista as pv
    from PySide6.QtCore import QTimer

    from ui.main_window import MainWindow, application

    pv.global_theme.multi_samples = 0
    app = application()
    window = MainWindow(restore_layout=not args.fresh)
    if args.size:
        window.resize(*args.size)
    window.show()
    failure: list[str] = []
    window.open_failed.connect(failure.append)
    problem = start(window)
    if problem:
        failure.append(problem)
    if args.select:
        QTimer.singleShot(0, lambda: select_when_shown(window, args.select))
    if args.quit_after is not None:
        def finish() -> None:
            if args.screenshot is not None and not window.save_screenshot(args.screenshot):
                failure.append(f"{args.screenshot}: cannot write the screenshot")
            window.close()
            app.quit()

        QTimer.singleShot(int(args.quit_after * 1000), finish)
    if not problem or args.quit_after is None:
        app.exec()
    _destroy(window)
    if failure and args.quit_after is not None:
        raise CommandError(failure[0])
    if args.screenshot is not None and args.quit_after is not None:
        print(f"screenshot: {args.screenshot}")
    return 0


def _destroy(window) -> None:  # noqa: ANN001 - MainWindow
    """Delete the window (and with it every chart item) while Python is still whole.

    Left alive, pyqtgraph's graphics widgets are destroyed by PySide's exit-time cleanup,
    whose resize events call back into half-finalised Python: an intermittent segfault
    after the work is done (seen ~1 exit in 8 on a loaded machine).
    """
    import gc

    import shiboken6

    window.close()
    if shiboken6.isValid(window):
        shiboken6.delete(window)
    gc.collect()


def run_gui(args: argparse.Namespace) -> int:
    """``gui``: a live source (the simulated shop unless ``--source`` names another)."""
    if args.workshop is not None and not args.workshop.is_file():
        raise CommandError(f"{args.workshop}: no such workshop file")

    def start(window) -> str:  # noqa: ANN001
        if args.source:
            ok = window.start_live(args.source, workshop_path=args.workshop,
                                   record_dir=args.record_dir)
        else:
            from twin.sources.sim import sim_url

            speed = args.speed if args.speed is not None else window.settings.live_speed
            url = sim_url(args.workshop or "machining13", speed=speed,
                          warmup_min=args.warmup_min, seed=args.seed or None,
                          scenario=args.scenario.resolve() if args.scenario else None)
            ok = window.start_live(url, record_dir=args.record_dir)
        return "" if ok else "the live session could not start (see the message)"

    return _run(args, start)


def run_open(args: argparse.Namespace) -> int:
    """``open``: replay a recording."""
    if not args.recording.exists():
        raise CommandError(f"{args.recording}: no such file")

    def start(window) -> str:  # noqa: ANN001
        if args.speed is not None:
            window.settings.replay_speed = args.speed
        window.open_recording(args.recording, at=args.at, play=args.play)
        return ""

    return _run(args, start)
