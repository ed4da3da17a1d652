"""Per-station episodes from a recording's station events: operations (processing time per
part, by process), setups, breakdowns, and the time switched off.

(The analytics module meant to be "the one place" for episodes has not landed on main yet;
this is the one small function calibration needs, written to the same rules as
verification's operation index: an operation is the processing time from entering
``processing`` until the station goes idle / into setup / off or starts another WIP or
process — time ``down`` or ``blocked`` in between is not processing; a setup likewise sums
the ``setup`` time around a breakdown.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from twin.events import Event


@dataclass
class StationEpisodes:
    """What one station did over ``[t_start, t_end]`` (seconds)."""

    station: str
    operations: list[tuple[str, float]] = field(default_factory=list)  # (process, processing s)
    setups: list[float] = field(default_factory=list)  # seconds in setup per changeover
    downs: list[tuple[float, float | None]] = field(default_factory=list)  # (start, end or None)
    time_in: dict[str, float] = field(default_factory=dict)  # state -> seconds
    t_start: float = 0.0
    t_end: float = 0.0

    @property
    def span_s(self) -> float:
        return self.t_end - self.t_start

    @property
    def on_s(self) -> float:
        """Seconds switched on (not ``off``)."""
        return self.span_s - self.time_in.get("off", 0.0)

    @property
    def up_s(self) -> float:
        """Seconds switched on and not down (the exposure to failures)."""
        return self.on_s - self.time_in.get("down", 0.0)


def station_episodes(events: Iterable[Event], t_start: float, t_end: float,
                     stations: Iterable[str] = ()) -> dict[str, StationEpisodes]:
    """Episodes of every station from events in time order over ``[t_start, t_end]``."""
    out = {s: StationEpisodes(s, t_start=t_start, t_end=t_end) for s in stations}
    last: dict[str, tuple[float, str]] = {}
    op: dict[str, list] = {}  # station -> [wip, process, processing s]
    setup: dict[str, float | None] = {}
    for e in events:
        if e.kind != "station":
            continue
        ep = out.get(e.entity)
        if ep is None:
            ep = out[e.entity] = StationEpisodes(e.entity, t_start=t_start, t_end=t_end)
        prev = last.get(e.entity)
        if prev is not None:
            _account(ep, prev[1], prev[0], e.t, op, setup)
        else:
            # before its first event a station is counted off (nothing known about it)
            ep.time_in["off"] = ep.time_in.get("off", 0.0) + max(0.0, e.t - t_start)
        cur = op.get(e.entity)
        if cur is not None and (e.state in ("idle", "setup", "off")
                                or (e.state == "processing" and (e.wip, e.process) != (cur[0], cur[1]))):
            if cur[2] > 0:
                ep.operations.append((cur[1], cur[2]))
            op.pop(e.entity)
        if e.state == "processing" and e.entity not in op:
            op[e.entity] = [e.wip, e.process, 0.0]
        su = setup.get(e.entity)
        if su is not None and e.state not in ("setup", "down"):
            if su > 0:
                ep.setups.append(su)
            setup[e.entity] = None
        if e.state == "setup" and setup.get(e.entity) is None:
            setup[e.entity] = 0.0
        if e.state == "down" and (prev is None or prev[1] != "down"):
            ep.downs.append((e.t, None))
        elif e.state != "down" and prev is not None and prev[1] == "down" and ep.downs:
            ep.downs[-1] = (ep.downs[-1][0], e.t)
        last[e.entity] = (e.t, e.state)  # accounted up to e.t
    for s, (t, state) in last.items():
        _account(out[s], state, t, t_end, op, setup)
    for ep in out.values():
        if ep.station not in last:
            ep.time_in["off"] = ep.span_s
    return out


def _account(ep: StationEpisodes, state: str, t0: float, t1: float, op: dict, setup: dict) -> None:
    dt = max(0.0, t1 - t0)
    ep.time_in[state] = ep.time_in.get(state, 0.0) + dt
    if state == "processing" and ep.station in op:
        op[ep.station][2] += dt
    if state == "setup" and setup.get(ep.station) is not None:
        setup[ep.station] += dt
