"""What a machine tool's MTConnect observations mean for our station model.

One :class:`MachineTracker` per machine holds the latest ``execution``, controller
``mode``, ``program``, part count and active conditions, and after every observation turns
them into our station state (docs/connectors.md, "MTConnect"), first rule that applies:

=============================================  ============  ===========================
MTConnect                                      station state  ``process``
=============================================  ============  ===========================
execution UNAVAILABLE or not yet known         ``off``        ""
execution ACTIVE                               ``processing`` the program
a condition at level Fault is active           ``down``       the program
execution READY / PROGRAM_COMPLETED            ``idle``       ""
mode MANUAL / MANUAL_DATA_INPUT / EDIT         ``setup``      the program
STOPPED / FEED_HOLD / INTERRUPTED / … (AUTO)   ``blocked``    the program
=============================================  ============  ===========================

A rise of the ``PART_COUNT`` item (``PartCountAct``) by k gives k completed parts (WIP
events ``<station>-P00001`` … in state ``completed``); a drop is a counter reset (no parts),
UNAVAILABLE keeps the last count. A condition entering Warning or Fault gives an
annotation with its native code and message (kind ``alarm`` for Fault, ``warning``).
Events are emitted as mappings the ingest pipeline / recording writer validate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twin.mtconnect.devices import Device
from twin.mtconnect.shdr import Condition, Observation, ShdrError

#: Values of the EXECUTION data item we understand (MTConnect Part 3, up to 2.x).
EXECUTION_VALUES: frozenset[str] = frozenset({
    "ACTIVE", "READY", "STOPPED", "FEED_HOLD", "INTERRUPTED", "OPTIONAL_STOP",
    "PROGRAM_STOPPED", "PROGRAM_OPTIONAL_STOP", "PROGRAM_COMPLETED", "WAIT", "UNAVAILABLE",
})
#: Execution values meaning "ready, no program running" → idle.
IDLE_EXECUTION: frozenset[str] = frozenset({"READY", "PROGRAM_COMPLETED"})
#: Controller modes in which an operator works at the machine (not producing) → setup.
SETUP_MODES: frozenset[str] = frozenset({"MANUAL", "MANUAL_DATA_INPUT", "EDIT"})
UNAVAILABLE = "UNAVAILABLE"


@dataclass
class Output:
    """What observations produced: events (mappings) and annotations
    ``(t, label, entity, kind)``."""

    events: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[float, str, str, str]] = field(default_factory=list)


class MachineTracker:
    """The state of one machine from its observations (see the module docstring).

    Args:
        station: our station id (the device name).
        device: its device model, to know which SHDR keys are execution, mode, program,
            part count and conditions; without it the usual adapter names are assumed
            (``execution``, ``mode``, ``program``, ``PartCountAct``).
        position: ``(x, y, heading)`` of the station on the floor plan (m, m, degrees),
            copied into its events so the 3D view places them.
    """

    def __init__(self, station: str, device: Device | None = None,
                 position: tuple[float, float, float] | None = None) -> None:
        self.station = station
        if device is not None:
            self.k_execution = device.first_key("EXECUTION")
            self.k_mode = device.first_key("CONTROLLER_MODE")
            self.k_program = device.first_key("PROGRAM", "")
            self.k_parts = device.first_key("PART_COUNT")
            self.k_conditions = device.condition_keys
        else:
            self.k_execution, self.k_mode, self.k_program = {"execution"}, {"mode"}, {"program"}
            self.k_parts = {"PartCountAct", "part_count"}
            self.k_conditions = frozenset()
        self.position = position
        self.execution: str | None = None
        self.mode = ""
        self.program = ""
        self.part_count: int | None = None
        self.parts_completed = 0
        self.active: dict[str, dict[str, tuple[str, str]]] = {}
        self._faulted = False
        self.state: str | None = None
        self.process = ""
        self.out = Output()

    # -- feeding ---------------------------------------------------------------------
    def observe(self, t: float, observations: Iterable[Observation]) -> None:
        """Apply the observations of one SHDR line at shift time ``t`` (s).

        Raises :class:`ShdrError` for a value that makes no sense (an unknown execution
        value, a part count that is not a whole number); the others are still applied."""
        problem = ""
        changed = False
        for ob in observations:
            try:
                changed = self._apply(t, ob) or changed
            except ShdrError as exc:
                changed = True
                problem = problem or str(exc)
        if changed:
            self._emit_state(t)
        if problem:
            raise ShdrError(problem)

    def take(self) -> Output:
        """The events and annotations produced since the last call."""
        out, self.out = self.out, Output()
        return out

    # -- rules -----------------------------------------------------------------------
    def derive(self) -> tuple[str, str]:
        """(station state, process) from what is known now."""
        ex = self.execution
        prog = self.program
        if ex is None or ex == UNAVAILABLE:
            return "off", ""
        if ex == "ACTIVE":
            return "processing", prog
        if self.faulted:
            return "down", prog
        if ex in IDLE_EXECUTION:
            return "idle", ""
        if self.mode in SETUP_MODES:
            return "setup", prog
        return "blocked", prog

    @property
    def faulted(self) -> bool:
        """A condition at level Fault is active."""
        return self._faulted

    def _apply(self, t: float, ob: Observation) -> bool:
        """Apply one observation; False when it cannot change the state (a sample)."""
        item, value = ob.item, ob.value
        if isinstance(value, Condition) or item in self.k_conditions:
            if isinstance(value, Condition):
                self._condition(t, item, value)
                self._faulted = any(lv == "fault" for codes in self.active.values()
                                    for lv, _ in codes.values())
            return True
        if item in self.k_execution:
            v = value.upper()
            if v not in EXECUTION_VALUES:
                raise ShdrError(f"execution: unknown value {value!r}")
            self.execution = v
        elif item in self.k_mode:
            self.mode = value.upper()
        elif item in self.k_program:
            self.program = "" if value.upper() == UNAVAILABLE else value
        elif item in self.k_parts:
            self._part_count(t, value)
        else:
            return False
        return True

    def _condition(self, t: float, item: str, c: Condition) -> None:
        level = c.normalized_level
        codes = self.active.setdefault(item, {})
        if level == "normal":
            if c.code:
                codes.pop(c.code, None)
            else:
                codes.clear()
        elif level == "unavailable":
            codes.clear()
        elif level in ("warning", "fault"):
            now = (level, c.message)
            if codes.get(c.code) != now:
                codes[c.code] = now
                what = f"{c.code}: {c.message}" if c.code else (c.message or "(no message)")
                self.out.notes.append((t, f"{self.station} {c.level.strip().capitalize()} {what} [{item}]",
                                       self.station, "alarm" if level == "fault" else "warning"))

    def _part_count(self, t: float, value: str) -> None:
        if value.upper() == UNAVAILABLE or value == "":
            return
        try:
            n = int(float(value))
        except ValueError:
            raise ShdrError(f"part count: not a number {value!r}") from None
        prev, self.part_count = self.part_count, n
        if prev is None or n <= prev:
            return  # first value is the baseline; a drop is a counter reset
        for _ in range(n - prev):
            self.parts_completed += 1
            ev = {"t": t, "entity": f"{self.station}-P{self.parts_completed:05d}", "kind": "wip",
                  "state": "completed", "station": self.station, "process": self.program}
            self._place(ev)
            self.out.events.append(ev)

    def _emit_state(self, t: float) -> None:
        state, process = self.derive()
        if (state, process) == (self.state, self.process):
            return
        self.state, self.process = state, process
        ev: dict[str, Any] = {"t": t, "entity": self.station, "kind": "station", "state": state,
                              "station": self.station, "process": process}
        self._place(ev)
        self.out.events.append(ev)

    def _place(self, ev: dict[str, Any]) -> None:
        if self.position is not None:
            ev["x"], ev["y"] = self.position[0], self.position[1]
            if ev["kind"] == "station":
                ev["heading"] = self.position[2]


def positions_of(workshop: Any) -> Mapping[str, tuple[float, float, float]]:
    """Station id → (x, y, heading) of a loaded workshop (empty without one)."""
    if workshop is None:
        return {}
    return {s.id: (s.x, s.y, s.heading) for s in workshop.stations.values()}
