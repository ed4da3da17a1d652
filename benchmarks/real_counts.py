"""Per machine-day figures counted straight from raw SHDR lines, independently of
``twin.mtconnect`` (no import of it): the check that the import loses and invents nothing.

Written from the documented rules (docs/connectors.md, "MTConnect"), not from the importer's
code: per machine, files in day order; an exact repeat of a line already read is skipped; a
line's time is its timestamp, but never before the machine's previous line (late and stale
lines are clamped) nor before the recording start (midnight UTC of the first day); the
machine's ``execution`` value holds until the next one (none yet = off); a condition
(a 7-field line) at level Fault makes the machine faulted until its code (or, without a code,
every code of that item) returns to Normal or the item goes Unavailable.

* ACTIVE hours: time with execution ACTIVE;
* READY hours: time with execution READY or PROGRAM_COMPLETED and no Fault active;
* parts: the sum of the rises of PartCountAct (a drop is a reset, UNAVAILABLE keeps the count);

each cut at midnight UTC into the days the files are for (the ``YYYYMMDD`` in their names).
"""

from __future__ import annotations

import calendar
import functools
import gzip
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

DAY_S = 86400.0


@functools.lru_cache(maxsize=65536)
def _epoch(ts: str) -> float:
    """``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` -> UTC epoch seconds (by hand, not fromisoformat)."""
    ts = ts.strip().rstrip("Zz")
    head, _, frac = ts.partition(".")
    if len(head) != 19 or head[4] != "-" or head[10] != "T":
        raise ValueError(ts)
    whole = calendar.timegm((int(head[0:4]), int(head[5:7]), int(head[8:10]),
                             int(head[11:13]), int(head[14:16]), int(head[17:19]), 0, 0, 0))
    return whole + (int(frac) / 10 ** len(frac) if frac else 0.0)


def _read(path: Path) -> list[str]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace").splitlines()


def _file_day(path: Path) -> float:
    m = re.search(r"(20\d{2})(\d{2})(\d{2})", path.name)
    assert m, f"{path}: no YYYYMMDD in the name"
    return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=timezone.utc).timestamp()


def count_machine_days(files: list[Path]) -> dict[tuple[str, str], dict[str, float]]:
    """(machine, 'YYYY-MM-DD') -> {'active_h', 'ready_h', 'parts', 'lines', 'repeated'}."""
    by_machine: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        by_machine[f.name.split("-")[0]].append(f)
    t0 = min(_file_day(f) for f in files)
    out: dict[tuple[str, str], dict[str, float]] = {}
    for machine, fs in by_machine.items():
        fs.sort(key=_file_day)
        days = sorted({_file_day(f) for f in fs})
        acc = {d: {"active_h": 0.0, "ready_h": 0.0, "parts": 0, "lines": 0, "repeated": 0} for d in days}
        seen: set[str] = set()
        t_prev = t0
        execution = None
        faults: dict[str, set[str]] = defaultdict(set)
        count = None
        spans: list[tuple[float, float, str]] = []  # (from, to, what) with what in active/ready

        def close(t: float) -> None:
            nonlocal t_prev
            if t > t_prev:
                what = ("active" if execution == "ACTIVE" else
                        "ready" if execution in ("READY", "PROGRAM_COMPLETED")
                        and not any(faults.values()) else "")
                if what:
                    spans.append((t_prev, t, what))
                t_prev = t

        for f in fs:
            day = _file_day(f)
            for line in _read(f):
                acc[day]["lines"] += 1
                text = line.strip()
                if not text or text.startswith("*"):
                    continue
                if text in seen:
                    acc[day]["repeated"] += 1
                    continue
                seen.add(text)
                parts = text.split("|")
                if len(parts) < 3:
                    continue
                try:
                    t = max(_epoch(parts[0]), t_prev)
                except ValueError:
                    continue
                close(t)
                item = parts[1]
                if len(parts) == 7:
                    level, code = parts[2].lower(), parts[3]
                    if level == "fault":
                        faults[item].add(code)
                    elif level == "normal" and code:
                        faults[item].discard(code)
                    elif level in ("normal", "unavailable"):
                        faults[item].clear()
                elif item == "execution":
                    execution = parts[2]
                elif item == "PartCountAct" and parts[2] not in ("UNAVAILABLE", ""):
                    n = int(float(parts[2]))
                    if count is not None and n > count:
                        day_of_t = max(d for d in days if d <= t) if t >= days[0] else days[0]
                        if day_of_t in acc:
                            acc[day_of_t]["parts"] += n - count
                    count = n
        close(max(days) + DAY_S)
        for a, b, what in spans:
            for d in days:
                lo, hi = max(a, d), min(b, d + DAY_S)
                if hi > lo:
                    acc[d][f"{what}_h"] += (hi - lo) / 3600.0
        for d, v in acc.items():
            name = (datetime.fromtimestamp(d, timezone.utc)).strftime("%Y-%m-%d")
            out[(machine, name)] = v
    return out


def day_windows(t0_epoch: float, day: str) -> tuple[float, float]:
    """[start, end) of ``day`` in seconds since ``t0_epoch``."""
    d = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return d.timestamp() - t0_epoch, (d + timedelta(days=1)).timestamp() - t0_epoch
