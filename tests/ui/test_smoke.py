"""Smoke: the app starts from the command line on a recording, draws it, and quits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def run_main(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)  # the 3D view needs the (virtual) X server
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_open_with_screenshot_and_quit_after(shift_recording: Path, tmp_path: Path,
                                             qapp) -> None:  # noqa: ANN001 - qapp: X is up
    out = tmp_path / "out.png"
    proc = run_main("open", str(shift_recording), "--at", "01:00:00", "--size", "1280x800",
                    "--fresh", "--screenshot", str(out), "--quit-after", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (800, 1280, 3)
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 500  # widgets, charts, a shaded 3D shop: not a blank window
    # the centre of the window is the 3D shop: shaded, not a flat clear colour
    centre = img[250:550, 450:850].astype(float)
    assert centre.std() > 12.0
    assert len(np.unique(centre.reshape(-1, 3), axis=0)) > 80  # also on 16-bit virtual screens


def test_a_missing_recording_is_one_clear_line(tmp_path: Path, qapp) -> None:  # noqa: ANN001
    proc = run_main("open", str(tmp_path / "nope.twinlog"), "--quit-after", "1")
    assert proc.returncode == 2
    assert proc.stderr == f"dmw-twin open: {tmp_path / 'nope.twinlog'}: no such file\n"
