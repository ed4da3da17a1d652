"""What the app remembers between sessions (QSettings): layout, recent files, preferences.

Stored where Qt keeps an application's settings (on Linux ``$XDG_CONFIG_HOME/DMW/DMW
Twin.conf``). Recordings of live sessions go to :func:`recordings_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "DMW"
APPLICATION = "DMW Twin"
MAX_RECENT = 8


def recordings_dir() -> Path:
    """Where live sessions are recorded: ``$XDG_DATA_HOME/dmw-twin/recordings``
    (``~/.local/share/dmw-twin/recordings`` by default); created on demand."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    path = Path(base) / "dmw-twin" / "recordings"
    path.mkdir(parents=True, exist_ok=True)
    return path


class AppSettings:
    """Typed access to the persisted settings."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qs = settings or QSettings(ORGANIZATION, APPLICATION)

    # -- recent recordings -----------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.qs.value("recent/files", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str | os.PathLike[str]) -> list[str]:
        p = str(Path(path).resolve())
        files = [f for f in self.recent_files() if f != p]
        files.insert(0, p)
        files = files[:MAX_RECENT]
        self.qs.setValue("recent/files", files)
        return files

    def remove_recent(self, path: str) -> None:
        self.qs.setValue("recent/files", [f for f in self.recent_files() if f != path])

    def clear_recent(self) -> None:
        self.qs.setValue("recent/files", [])

    # -- window layout ---------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        v = self.qs.value("window/geometry")
        return v if isinstance(v, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        v = self.qs.value("window/state")
        return v if isinstance(v, QByteArray) else None

    def save_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qs.setValue("window/geometry", geometry)
        self.qs.setValue("window/state", state)

    # -- preferences -----------------------------------------------------------------
    def _float(self, key: str, default: float) -> float:
        try:
            return float(self.qs.value(key, default))
        except (TypeError, ValueError):
            return default

    @property
    def replay_speed(self) -> float:
        """Last playback speed of a replay, × real time."""
        return self._float("playback/replay_speed", 60.0)

    @replay_speed.setter
    def replay_speed(self, value: float) -> None:
        self.qs.setValue("playback/replay_speed", float(value))

    @property
    def live_speed(self) -> float:
        """Pace of the simulated live shop, × real time."""
        return self._float("live/speed", 1.0)

    @live_speed.setter
    def live_speed(self, value: float) -> None:
        self.qs.setValue("live/speed", float(value))

    def live_url(self, workshop_path: str | os.PathLike[str] | None = None) -> str:
        """The live source File › Start live session opens: the simulated shop (the given
        workshop file, else the bundled machining13) at :attr:`live_speed`, joining a
        shift that has run for an hour."""
        from twin.sources.sim import sim_url

        return sim_url(workshop_path or "machining13", speed=self.live_speed, warmup_min=60)

    @property
    def overlay(self) -> str:
        v = str(self.qs.value("view/overlay", "state"))
        return v if v in ("state", "consistency") else "state"

    @overlay.setter
    def overlay(self, value: str) -> None:
        self.qs.setValue("view/overlay", value)

    def sync(self) -> None:
        self.qs.sync()
