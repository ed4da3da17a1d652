"""Suite-wide test set-up: headless rendering, and no writes into the user's home."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKSHOPS = ROOT / "assets" / "workshops"

# Settings, caches and recordings of test runs go to a throw-away place, never ~/.
_home = Path(tempfile.mkdtemp(prefix="dmw-twin-tests-"))
os.environ["XDG_CACHE_HOME"] = str(_home / "cache")
os.environ["XDG_DATA_HOME"] = str(_home / "data")
os.environ["XDG_CONFIG_HOME"] = str(_home / "config")
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


@pytest.fixture(scope="session")
def machining13_path() -> Path:
    return WORKSHOPS / "machining13.toml"
