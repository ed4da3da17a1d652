"""SHDR log files (plain or ``.gz``) → one ``.twinlog`` recording.

Each file is one machine's log (which machine: the file or folder name starts with a device
name of the device model, else the device whose data items the file uses). A file's *day*
is the first ``YYYYMMDD`` in its name (e.g. ``Mazak01-20181217-20181218.txt`` → 2018-12-17,
UTC), else the UTC date of its last line; the recording starts at midnight UTC of the
earliest day (``meta["t0_epoch"]``), so several days (and machines) go into one recording.
A machine's files are read in day order with the rules of :mod:`twin.mtconnect.feed`.
"""

from __future__ import annotations

import gzip
import io
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from twin.mtconnect.devices import DeviceModel
from twin.mtconnect.feed import FeedStats, ShdrFeed
from twin.mtconnect.mapping import positions_of
from twin.mtconnect.shdr import ShdrError, parse_timestamp

_DAY = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")
#: File name endings read from a folder.
LOG_SUFFIXES: tuple[str, ...] = (".txt", ".txt.gz", ".shdr", ".shdr.gz", ".log", ".log.gz")


class ImportError_(ValueError):
    """Files that cannot be imported at all (none found, unreadable, no machine matches)."""


@dataclass
class LogFile:
    """One machine's log: its path, station (device name) and day (UTC epoch of midnight)."""

    path: Path
    station: str
    day_epoch: float

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.day_epoch, timezone.utc).strftime("%Y-%m-%d")


@dataclass
class ImportResult:
    """What an import read and wrote."""

    t0_epoch: float
    files: list[LogFile]
    stats: FeedStats
    events: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[float, str, str, str]] = field(default_factory=list)
    parts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "t0": datetime.fromtimestamp(self.t0_epoch, timezone.utc).isoformat(),
            "t0_epoch": self.t0_epoch,
            "files": [{"path": str(f.path), "station": f.station, "day": f.day} for f in self.files],
            "events": len(self.events), "annotations": len(self.notes), "parts": self.parts,
            "lines_per_s": round(self.stats.lines / self.wall_s) if self.wall_s > 0 else None,
            "wall_s": round(self.wall_s, 3), **self.stats.to_dict(),
        }


def open_text(path: Path) -> io.TextIOBase:
    """A log file as text (gzip by its magic bytes), undecodable bytes replaced."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def lines_of(path: Path) -> Iterator[str]:
    with open_text(path) as fh:
        yield from fh


def collect(paths: Sequence[str | Path]) -> list[Path]:
    """The log files named: files as given, folders searched (recursively) for logs."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.name.endswith(LOG_SUFFIXES))
            if not found:
                raise ImportError_(f"{p}: no SHDR logs in this folder ({', '.join(LOG_SUFFIXES)})")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise ImportError_(f"{p}: no such file or folder")
    return out


def _midnight(epoch: float) -> float:
    d = datetime.fromtimestamp(epoch, timezone.utc)
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


def _last_timestamp(path: Path) -> float | None:
    last = None
    for line in lines_of(path):
        head = line.split("|", 1)[0]
        if "|" in line:
            try:
                last = parse_timestamp(head)
            except ShdrError:
                pass
    return last


def day_of(path: Path) -> float:
    """UTC epoch of midnight of the day ``path`` is the log of (see the module docstring)."""
    m = _DAY.search(path.name)
    if m:
        try:
            return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    last = _last_timestamp(path)
    if last is None:
        raise ImportError_(f"{path}: no timestamped SHDR line (cannot tell which day it is)")
    return _midnight(last)


def station_of(path: Path, devices: DeviceModel) -> str:
    """The device a log belongs to: by file or folder name, else by its data item names."""
    names = sorted(devices.devices, key=len, reverse=True)
    for part in (path.name, path.parent.name):
        for n in names:
            if part.lower().startswith(n.lower()):
                return n
    keys: set[str] = set()
    for i, line in enumerate(lines_of(path)):
        f = line.split("|")
        if len(f) >= 3:
            keys.add(f[1].strip().rpartition(":")[2])
        if i > 2000:
            break
    best = max(devices.devices.values(), key=lambda d: len(keys & d.all_keys))
    if not keys & best.all_keys:
        raise ImportError_(f"{path}: no device of {devices.source or 'the device model'} "
                           f"matches it by name or data items (devices: {', '.join(devices.devices)})")
    return best.name


def import_logs(paths: Sequence[str | Path], devices: DeviceModel,
                workshop: Any = None) -> ImportResult:
    """Read SHDR logs into events and annotations (not yet written; see :func:`write`)."""
    files = collect(paths)
    logs = [LogFile(p, station_of(p, devices), day_of(p)) for p in files]
    logs.sort(key=lambda f: (f.station, f.day_epoch, f.path.name))
    t0 = min(f.day_epoch for f in logs)
    start = time.perf_counter()
    feed = ShdrFeed(t0, devices, positions_of(workshop))
    for f in logs:
        where = str(f.path)
        try:
            for n, line in enumerate(lines_of(f.path), 1):
                feed.feed(line, f.station, where, n, stale_before=f.day_epoch)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            feed.stats.bad(where, 0, f"cannot read further ({exc})")
    out = feed.take()
    wall = time.perf_counter() - start
    return ImportResult(t0, logs, feed.stats, out.events, out.notes, feed.parts_completed(), wall)


def write(result: ImportResult, out: str | Path, meta: dict[str, Any] | None = None) -> int:
    """Write the imported events and annotations to a new recording; returns events written."""
    from twin.recording import RecordingWriter

    header = {"source": "mtconnect-import", "t0_epoch": result.t0_epoch,
              "t0": datetime.fromtimestamp(result.t0_epoch, timezone.utc).isoformat(),
              "files": [str(f.path) for f in result.files],
              "stations": sorted({f.station for f in result.files}), **(meta or {})}
    with RecordingWriter(out, meta=header, keyframe_interval_s=600.0) as w:
        for ev in result.events:
            w.append(ev)
        for t, label, entity, kind in result.notes:
            w.annotate(t, label, entity=entity, kind=kind)
        return w.events_written
