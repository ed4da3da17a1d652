"""Start-up benchmark: how long a person waits for the first answer (prints figures).

Measured for this tree and, in the same run, for a baseline commit (default ``main``,
extracted with ``git archive`` into a temporary folder), each in a fresh interpreter:

* ``python main.py --help``: wall time and CPU time (user + sys) of the process;
* ``python main.py info SHIFT.twinlog`` on a simulated recording (8 h of machining13,
  2 h with ``--quick``);
* time to the first painted window of ``make run``'s app (``main.py`` = ``gui``: the live
  simulated machining13 shop), from spawning the process to the first paint event of the
  main window, under a virtual X server when no display is set.

Target (issue 8): ``--help`` and ``info`` under 0.5 s. Wall times on a shared machine are
noisy: medians are printed, with the CPU time beside them (less sensitive to load).

Usage: python benchmarks/bench_startup.py [--quick] [--baseline REV | --no-baseline]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.5

#: Runs the app of ``tree`` and prints ``PAINT <seconds since BENCH_T0>`` at its first paint.
_PAINT_PROBE = r"""
import os, sys, time
tree = sys.argv[1]
sys.path.insert(0, tree)
os.chdir(tree)
t0 = float(os.environ["BENCH_T0"])
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication
import ui.main_window as mw

class _FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and hasattr(obj, "window") and isinstance(obj.window(), mw.MainWindow):
            print(f"PAINT {time.time() - t0:.4f}", flush=True)
            os._exit(0)
        return False

_show = mw.MainWindow.show
def show(self):
    self._bench_probe = _FirstPaint()
    QApplication.instance().installEventFilter(self._bench_probe)
    _show(self)
mw.MainWindow.show = show
sys.argv = [os.path.join(tree, "main.py"), *sys.argv[2:]]
import runpy
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)  # the tree measured, not the installed (editable) package
    env.pop("QT_QPA_PLATFORM", None)
    return env


def _timed(cmd: list[str], tree: Path) -> tuple[float, float]:
    """(wall s, CPU s) of running ``cmd`` in ``tree``; fails loudly if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=_env(tree), capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"bench_startup: {' '.join(cmd)} failed in {tree}:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _first_paint(tree: Path, record_dir: Path) -> float:
    """Seconds from spawning ``main.py`` (gui, live shop) to its first painted window."""
    cmd = [sys.executable, "-c", _PAINT_PROBE, str(tree), "gui", "--fresh", "--size", "1280x800",
           "--record-dir", str(record_dir)]
    if not os.environ.get("DISPLAY"):
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            raise SystemExit("bench_startup: no DISPLAY and no xvfb-run (apt-get install xvfb)")
        cmd = [xvfb, "-a", "-s", "-screen 0 1600x1000x24", *cmd]
    env = _env(tree)
    env["BENCH_T0"] = repr(time.time())
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    for line in proc.stdout.splitlines():
        if line.startswith("PAINT "):
            return float(line.split()[1])
    raise SystemExit(f"bench_startup: the app in {tree} painted nothing:\n{proc.stderr[-2000:]}")


def _baseline_tree(rev: str, folder: Path) -> Path | None:
    """``rev`` extracted into ``folder`` (None when it is the tree measured)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        if git("rev-parse", f"{rev}^{{tree}}") == git("rev-parse", "HEAD^{tree}"):
            return None
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"bench_startup: cannot read baseline {rev!r}: {exc.stderr.strip()}") from None
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _measure(tree: Path, recording: Path, runs: int, paints: int, tmp: Path) -> dict[str, tuple[float, float]]:
    py = sys.executable
    out: dict[str, tuple[float, float]] = {}
    for name, cmd in (("--help", [py, "main.py", "--help"]),
                      ("info", [py, "main.py", "info", str(recording)])):
        _timed(cmd, tree)  # warm the file cache
        samples = [_timed(cmd, tree) for _ in range(runs)]
        out[name] = (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))
    rd = tmp / f"rec-{tree.name}"
    rd.mkdir(exist_ok=True)
    times = [_first_paint(tree, rd) for _ in range(paints)]
    out["first window"] = (statistics.median(times), float("nan"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer runs, a 2 h recording")
    ap.add_argument("--baseline", default="main", help="commit to compare with (default main)")
    ap.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    args = ap.parse_args()
    runs, paints, hours = (3, 1, 2.0) if args.quick else (7, 3, 8.0)
    load = os.getloadavg()[0]
    print(f"bench_startup: {runs} runs per command, {paints} app start(s); "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        recording = tmp / "shift.twinlog"
        subprocess.run([sys.executable, "main.py", "simulate", "--workshop",
                        "assets/workshops/machining13.toml", "--hours", str(hours), "--seed", "1",
                        "--out", str(recording)], cwd=ROOT, env=_env(ROOT), check=True,
                       capture_output=True)
        print(f"recording: {hours:g} h of machining13, {recording.stat().st_size / 1e6:.1f} MB")
        trees: list[tuple[str, Path]] = []
        if not args.no_baseline:
            base = _baseline_tree(args.baseline, tmp / "baseline")
            if base is None:
                print(f"baseline {args.baseline} is this tree: measuring once")
            else:
                trees.append((f"before ({args.baseline})", base))
        trees.append(("after (this tree)", ROOT))
        results = {label: _measure(tree, recording, runs, paints, tmp) for label, tree in trees}
    print(f"{'':<22}" + "".join(f"{label:>30}" for label in results))
    for name in ("--help", "info", "first window"):
        cells = []
        for res in results.values():
            wall, cpu = res[name]
            cells.append(f"{wall:8.3f} s wall" + (f" {cpu:6.3f} s CPU" if cpu == cpu else " " * 13))
        line = f"{name:<22}" + "".join(f"{c:>30}" for c in cells)
        if len(results) == 2:
            (b, _), (a, _) = (r[name] for r in results.values())
            line += f"   {b / a:5.1f}x faster" if a > 0 else ""
        print(line)
    after = results["after (this tree)"]
    for name in ("--help", "info"):
        verdict = "met" if after[name][0] < TARGET_S else "NOT met (wall)"
        cpu_verdict = "met" if after[name][1] < TARGET_S else "not met"
        print(f"target {name} < {TARGET_S:g} s: {verdict}; CPU {after[name][1]:.3f} s {cpu_verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
