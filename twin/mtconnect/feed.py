"""SHDR lines → station events, with what real adapter logs do handled the same way for a
file import and a live stream (so a recording made live equals the import of the log).

Rules, per machine (docs/connectors.md):

* **malformed** line (not ``timestamp|item|value``, a bad timestamp, an unknown execution
  value): counted and reported with file and line number, skipped, never fatal;
* **repeated** line (the same text already read for this machine, e.g. the values a log
  repeats at its start that the previous day's log already had): counted, skipped;
* **stale** line (older than the start of the day it was logged for: the last known values
  a log starts with, possibly days old): counted, applied at the start of the recording or
  after what the machine already reported;
* **late** line (older than the machine's latest observation: its controller clock and the
  adapter's disagree by a minute or two at a disconnect): counted, applied at the machine's
  latest time, so every machine's events stay in time order;
* items the device model does not know are counted by name (they carry nothing we map).

Times are seconds since ``t0_epoch`` (UTC); nothing before t = 0.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from twin.mtconnect.devices import Device, DeviceModel
from twin.mtconnect.mapping import MachineTracker, Output
from twin.mtconnect.shdr import Observation, ShdrError, is_heartbeat, parse_line

#: Malformed lines listed in full in a report (all are counted).
MAX_LISTED = 50


@dataclass
class FeedStats:
    """What was read: line counts by outcome, and the malformed lines (file, line, reason)."""

    lines: int = 0
    observations: int = 0
    malformed: int = 0
    repeated: int = 0
    stale: int = 0
    late: int = 0
    heartbeats: int = 0
    blank: int = 0
    unknown_items: collections.Counter[str] = field(default_factory=collections.Counter)
    malformed_lines: list[tuple[str, int, str]] = field(default_factory=list)

    def bad(self, where: str, lineno: int, reason: str) -> None:
        self.malformed += 1
        if len(self.malformed_lines) < MAX_LISTED:
            self.malformed_lines.append((where, lineno, reason))

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines, "observations": self.observations, "malformed": self.malformed,
            "repeated": self.repeated, "stale": self.stale, "late": self.late,
            "heartbeats": self.heartbeats, "blank": self.blank,
            "unknown_items": dict(self.unknown_items.most_common(20)),
            "malformed_lines": [{"file": f, "line": n, "reason": r} for f, n, r in self.malformed_lines],
        }


class _Machine:
    __slots__ = ("tracker", "keys", "seen", "t_last")

    def __init__(self, tracker: MachineTracker, keys: frozenset[str]) -> None:
        self.tracker = tracker
        self.keys = keys
        self.seen: set[str] = set()
        self.t_last = 0.0


class ShdrFeed:
    """Feed SHDR lines of one or more machines; :meth:`take` gives the events so far.

    Args:
        t0_epoch: UTC epoch seconds of t = 0 of the recording.
        devices: the agent's device model (which keys are which data items); optional.
        positions: station id → (x, y, heading) from the workshop, for the 3D view.
    """

    def __init__(self, t0_epoch: float, devices: DeviceModel | None = None,
                 positions: dict[str, tuple[float, float, float]] | None = None,
                 shared_clock: bool = False) -> None:
        self.t0_epoch = float(t0_epoch)
        #: live: one clock for all machines, so events of several machines stay in time
        #: order across drains (the ingest pipeline refuses a late event)
        self.shared_clock = shared_clock
        self._t_all = 0.0
        self.devices = devices
        self.positions = dict(positions or {})
        self.stats = FeedStats()
        self._machines: dict[str, _Machine] = {}

    def machine(self, station: str) -> MachineTracker:
        """The tracker of ``station`` (created on first use)."""
        return self._get(station).tracker

    def _get(self, station: str) -> _Machine:
        m = self._machines.get(station)
        if m is None:
            dev: Device | None = None
            if self.devices is not None and station in self.devices.devices:
                dev = self.devices.devices[station]
            tr = MachineTracker(station, dev, self.positions.get(station))
            m = self._machines[station] = _Machine(tr, dev.all_keys if dev else frozenset())
        return m

    def feed(self, line: str, station: str, where: str = "", lineno: int = 0,
             stale_before: float | None = None) -> None:
        """One line of ``station``'s log (``where``/``lineno`` name it in reports);
        ``stale_before``: UTC epoch seconds of the start of the day the log is for."""
        st = self.stats
        st.lines += 1
        text = line.strip()
        if not text:
            st.blank += 1
            return
        if is_heartbeat(text):
            st.heartbeats += 1
            return
        m = self._get(station)
        if text in m.seen:
            st.repeated += 1
            return
        m.seen.add(text)
        try:
            ts, obs = parse_line(text, m.tracker.k_conditions)
        except ShdrError as exc:
            st.bad(where, lineno, str(exc))
            return
        self.feed_observations(ts, obs, station, stale_before, where, lineno)

    def feed_observations(self, ts: float, obs: list[Observation], station: str,
                          stale_before: float | None = None, where: str = "",
                          lineno: int = 0) -> None:
        """Observations of ``station`` at UTC epoch ``ts`` (an agent's sample, or a line)."""
        st = self.stats
        m = self._get(station)
        if stale_before is not None and ts < stale_before:
            st.stale += 1
        t = ts - self.t0_epoch
        floor = self._t_all if self.shared_clock else m.t_last
        if t < floor:
            if stale_before is None or ts >= stale_before:
                st.late += 1
            t = floor
        m.t_last = t
        self._t_all = max(self._t_all, t)
        st.observations += len(obs)
        if m.keys:
            for ob in obs:
                if ob.item not in m.keys:
                    st.unknown_items[ob.item] += 1
        try:
            m.tracker.observe(t, obs)
        except ShdrError as exc:
            st.bad(where or station, lineno, str(exc))

    def take(self) -> Output:
        """Events and annotations of every machine since the last call, in time order."""
        out = Output()
        for m in self._machines.values():
            o = m.tracker.take()
            out.events += o.events
            out.notes += o.notes
        out.events.sort(key=lambda e: e["t"])  # stable: a machine's own order is kept
        out.notes.sort(key=lambda n: n[0])
        return out

    @property
    def reached(self) -> float:
        """The latest shift time (s) any machine reported."""
        return max((m.t_last for m in self._machines.values()), default=0.0)

    @property
    def stations(self) -> list[str]:
        return list(self._machines)

    def parts_completed(self) -> dict[str, int]:
        return {s: m.tracker.parts_completed for s, m in self._machines.items()}
