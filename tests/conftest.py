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


@pytest.fixture(scope="session")
def pg_cluster():  # noqa: ANN201 - twin.history.server.LocalCluster
    """A throw-away PostgreSQL server on a free loopback port for the whole run, stopped
    and deleted at the end (skips where the server programs are not installed)."""
    from twin.history.server import ClusterError, LocalCluster, pg_bin

    try:
        pg_bin("initdb")
    except ClusterError as exc:
        pytest.skip(str(exc))
    with LocalCluster() as cluster:
        yield cluster
