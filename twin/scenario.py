"""Scenarios: disturbances applied to the emulated physical shop.

A scenario file (TOML, ``docs/formats-workshop.md``) holds one ``[[disturbance]]`` table per
disturbance::

    [scenario]                 # optional
    name = "drill 1 wears"

    [[disturbance]]
    kind = "slowdown"          # slowdown | degradation | breakdown | agv_slowdown | order_surge
    target = "S07"
    factor = 1.3
    start_h = 0.0

Kinds and their keys (``*`` = required):

================  ==================================================================
slowdown          target* station, factor* (cycle-time multiplier > 0), start_h*,
                  duration_h (default: rest of the run)
degradation       target* station, rate_per_h* (cycle-time factor grows by this much per
                  hour after start: 1 + rate x hours), start_h*, duration_h
breakdown         target* station, start_h*, duration_min* (station down, repair takes
                  this long; work in progress resumes afterwards)
agv_slowdown      target* AGV, factor* (travel-time multiplier), start_h*, duration_h
order_surge       factor* (order arrival-rate multiplier), start_h*, duration_h*
================  ==================================================================

Errors (:class:`ScenarioError`) name the file, the table (``disturbance[2]``) and the
problem; an unknown kind, key or target is an error, never ignored.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.workshop import Workshop

#: kind -> (required keys, optional keys)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "slowdown": (("target", "factor", "start_h"), ("duration_h",)),
    "degradation": (("target", "rate_per_h", "start_h"), ("duration_h",)),
    "breakdown": (("target", "start_h", "duration_min"), ()),
    "agv_slowdown": (("target", "factor", "start_h"), ("duration_h",)),
    "order_surge": (("factor", "start_h", "duration_h"), ()),
}
_STATION_KINDS = ("slowdown", "degradation", "breakdown")


class ScenarioError(ValueError):
    """A scenario that cannot be used; ``str(err)`` names file, table and problem."""


@dataclass(frozen=True)
class Disturbance:
    """One disturbance; times in seconds since the start of the run.

    ``end_s`` is ``inf`` for disturbances lasting the rest of the run.
    """

    index: int
    kind: str
    target: str
    start_s: float
    end_s: float = math.inf
    factor: float = 1.0
    rate_per_h: float = 0.0

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


@dataclass
class Scenario:
    """A named list of disturbances with the queries the simulator asks of it."""

    name: str
    path: Path | None
    disturbances: list[Disturbance]
    description: str = ""

    @classmethod
    def empty(cls) -> Scenario:
        return cls("baseline", None, [])

    def __post_init__(self) -> None:
        self._station: dict[str, list[Disturbance]] = {}
        self._agv: dict[str, list[Disturbance]] = {}
        self._surges: list[Disturbance] = []
        for d in self.disturbances:
            if d.kind in ("slowdown", "degradation"):
                self._station.setdefault(d.target, []).append(d)
            elif d.kind == "agv_slowdown":
                self._agv.setdefault(d.target, []).append(d)
            elif d.kind == "order_surge":
                self._surges.append(d)

    # -- queries ---------------------------------------------------------------------
    def station_factor(self, station: str, t: float) -> float:
        """Cycle-time multiplier of ``station`` for work started at ``t`` [s]."""
        f = 1.0
        for d in self._station.get(station, ()):
            if d.active(t):
                if d.kind == "slowdown":
                    f *= d.factor
                else:
                    f *= 1.0 + d.rate_per_h * (t - d.start_s) / 3600.0
        return f

    def agv_factor(self, agv: str, t: float) -> float:
        """Travel-time multiplier of ``agv`` for a trip started at ``t`` [s]."""
        f = 1.0
        for d in self._agv.get(agv, ()):
            if d.active(t):
                f *= d.factor
        return f

    def arrival_factor(self, t: float) -> float:
        """Order arrival-rate multiplier at ``t`` [s]."""
        f = 1.0
        for d in self._surges:
            if d.active(t):
                f *= d.factor
        return f

    def advance_arrivals(self, t0: float, work_s: float) -> float:
        """Time t1 >= t0 at which ``integral(arrival_factor, t0, t1) == work_s``.

        Lets an arrival process draw its gaps on an unscaled clock (same random numbers
        with and without a surge) and map them onto the surged clock exactly.
        """
        if not self._surges:
            return t0 + work_s
        breaks = sorted({b for d in self._surges for b in (d.start_s, d.end_s)
                         if math.isfinite(b) and b > t0})
        t = t0
        left = work_s
        for b in breaks + [math.inf]:
            f = self.arrival_factor(t)
            if f <= 0:
                if math.isinf(b):
                    return math.inf
                t = b
                continue
            span = (b - t) * f
            if span >= left:
                return t + left / f
            left -= span
            t = b
        return t  # pragma: no cover - loop always returns

    def breakdowns(self) -> list[Disturbance]:
        return [d for d in self.disturbances if d.kind == "breakdown"]

    def validate(self, workshop: Workshop) -> None:
        """Raise :class:`ScenarioError` if a target is not in ``workshop``."""
        where = self.path if self.path is not None else f"scenario {self.name!r}"
        for d in self.disturbances:
            if d.kind in _STATION_KINDS and d.target not in workshop.stations:
                raise ScenarioError(
                    f"{where}: disturbance[{d.index}] ({d.kind}): unknown station "
                    f"{d.target!r} in workshop {workshop.name!r} "
                    f"(stations: {', '.join(workshop.stations)})"
                )
            if d.kind == "agv_slowdown" and d.target not in workshop.agvs:
                raise ScenarioError(
                    f"{where}: disturbance[{d.index}] ({d.kind}): unknown AGV "
                    f"{d.target!r} in workshop {workshop.name!r} "
                    f"(AGVs: {', '.join(workshop.agvs) or 'none'})"
                )


def load_scenario(path: str | Path, workshop: Workshop | None = None) -> Scenario:
    """Load a scenario TOML file; with ``workshop`` also check every target exists.

    Raises:
        ScenarioError: naming the file, the table index and the problem.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise ScenarioError(f"{p}: cannot read scenario file: {err.strerror or err}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError(f"{p}: not a scenario file (not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{p}: invalid TOML: {err}") from None
    sc = parse_scenario(doc, p)
    if workshop is not None:
        sc.validate(workshop)
    return sc


def parse_scenario(doc: dict[str, Any], path: Path | None = None) -> Scenario:
    """Build a :class:`Scenario` from a parsed TOML document."""
    where = str(path) if path is not None else "scenario"

    def fail(key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{where}: {key}: {problem}")

    unknown_top = set(doc) - {"scenario", "disturbance"}
    if unknown_top:
        raise fail("top level", f"unknown table(s) {', '.join(sorted(unknown_top))} "
                                "(expected [scenario] and [[disturbance]])")
    head = doc.get("scenario", {})
    if not isinstance(head, dict):
        raise fail("scenario", "must be a table")
    name = head.get("name", path.stem if path is not None else "scenario")
    description = head.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise fail("scenario", "name and description must be strings")
    tables = doc.get("disturbance", [])
    if not isinstance(tables, list):
        raise fail("disturbance", "must be an array of tables ([[disturbance]])")
    out: list[Disturbance] = []
    for i, t in enumerate(tables):
        key = f"disturbance[{i}]"
        if not isinstance(t, dict):
            raise fail(key, "must be a table")
        kind = t.get("kind")
        if kind not in KINDS:
            raise fail(key, f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        key = f"disturbance[{i}] ({kind})"
        required, optional = KINDS[kind]
        missing = [k for k in required if k not in t]
        if missing:
            raise fail(key, f"missing key(s) {', '.join(missing)}")
        unknown = set(t) - set(required) - set(optional) - {"kind"}
        if unknown:
            raise fail(key, f"unknown key(s) {', '.join(sorted(unknown))} "
                            f"(a {kind} takes {', '.join(required + optional)})")

        def num(name: str, *, positive: bool = False) -> float:
            v = t[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise fail(f"{key}.{name}", f"must be a finite number, got {v!r}")
            if positive and v <= 0:
                raise fail(f"{key}.{name}", f"must be > 0, got {v!r}")
            if v < 0:
                raise fail(f"{key}.{name}", f"must not be negative, got {v!r}")
            return float(v)

        target = ""
        if "target" in required:
            target = t["target"]
            if not isinstance(target, str) or not target:
                raise fail(f"{key}.target", f"must be a station/AGV id, got {target!r}")
        start = num("start_h") * 3600.0
        end = math.inf
        if "duration_h" in t:
            end = start + num("duration_h", positive=True) * 3600.0
        if kind == "breakdown":
            end = start + num("duration_min", positive=True) * 60.0
        out.append(Disturbance(
            index=i,
            kind=kind,
            target=target,
            start_s=start,
            end_s=end,
            factor=num("factor", positive=True) if "factor" in t else 1.0,
            rate_per_h=num("rate_per_h") if "rate_per_h" in t else 0.0,
        ))
    return Scenario(name=name, path=path, disturbances=out, description=description)
