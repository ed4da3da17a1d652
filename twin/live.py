"""The simulated physical shop paced at real time × factor, and recording helpers.

:class:`LiveShop` runs a :class:`~twin.simulator.Simulator` in a plain background thread,
paced so that simulated time advances ``factor`` seconds per wall second (anchored on the
wall clock by :class:`~twin.simulator.Pace`, stepping the simulator with
:meth:`~twin.simulator.Simulator.step_until` so it also knows exactly how far the shop has
run). It hands every slice of events to a ``sink`` callback on its own thread; it neither
records nor queues: :class:`twin.sources.sim.SimSource` is the source the app and the
``record`` command use, and :mod:`twin.sources.ingest` records what it delivers. Nothing
here touches Qt.

A live session may start with a *warm-up*: the first minutes of the shift are simulated
at once, as when a twin connects to a shop that is already running.

Times are seconds of the shift (simulated time since t = 0).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from twin.events import Event
from twin.scenario import Scenario
from twin.simulator import Pace, Simulator
from twin.workshop import Workshop

log = logging.getLogger(__name__)

#: Wall seconds between simulation slices of the pacing loop.
TICK_S: float = 0.02

#: ``sink(events, reached)``: a slice of events in time order, and the simulated time (s)
#: up to which every event has been handed over (later events all have ``t > reached``).
Sink = Callable[[list[Event], float], None]


def recording_name(workshop: Workshop, when: datetime | None = None) -> str:
    """File name of a live session's recording, e.g. ``machining13-live-20250101-063000.twinlog``."""
    when = when or datetime.now()
    return f"{workshop.name}-live-{when:%Y%m%d-%H%M%S}.twinlog"


def workshop_meta(workshop: Workshop) -> dict[str, Any]:
    """Recording metadata that lets a replay find and check its workshop."""
    return {
        "workshop": workshop.name,
        "workshop_title": workshop.title,
        "workshop_path": str(Path(workshop.path).resolve()),
        "source_hash": workshop.source_hash,
        "stations": list(workshop.stations),
        "agvs": list(workshop.agvs),
        "buffers": list(workshop.buffers),
    }


def find_workshop(meta: Mapping[str, Any], recording: str | Path | None = None,
                  search: tuple[Path, ...] = ()) -> Path:
    """The workshop file a recording belongs to, from its metadata.

    Tries the recorded ``workshop_path`` as written, then the same file name next to the
    recording, in ``search`` folders (e.g. the bundled workshops) and as
    ``<workshop name>.toml`` there. Raises ``FileNotFoundError`` naming what was tried.
    """
    tried: list[str] = []
    recorded = str(meta.get("workshop_path") or "")
    name = str(meta.get("workshop") or "")
    candidates: list[Path] = []
    if recorded:
        candidates.append(Path(recorded))
    folders = ([Path(recording).resolve().parent] if recording is not None else []) + list(search)
    for folder in folders:
        if recorded:
            candidates.append(folder / Path(recorded).name)
        if name:
            candidates.append(folder / f"{name}.toml")
    for c in candidates:
        tried.append(str(c))
        if c.is_file():
            return c
    what = f"workshop {name!r}" if name else "its workshop (no workshop in the recording's meta)"
    where = "; tried " + ", ".join(tried) if tried else ""
    raise FileNotFoundError(f"cannot find {what}{where}")


class LiveShop:
    """The simulated physical shop, paced at real time × ``factor`` in a background thread.

    Args:
        workshop: the shop to run.
        sink: called on the pacing thread with each slice ``(events, reached)``.
        scenario: disturbances of the emulated physical shop.
        seed: random seed of the simulation.
        rule: dispatching rule.
        factor: simulated seconds per wall second (1 = real time).
        warmup_s: simulated seconds run at once before pacing starts.
        tick_s: wall seconds between simulation slices.
        clock: monotonic wall clock (injectable for tests).

    :meth:`start` begins, :meth:`stop` ends the run (from any thread). When the run ends by
    itself, :attr:`finished` is True (the shop finished its orders) or :attr:`error` says
    why it failed.
    """

    def __init__(
        self,
        workshop: Workshop,
        sink: Sink,
        *,
        scenario: Scenario | None = None,
        seed: int = 0,
        rule: str = "fifo",
        factor: float = 1.0,
        warmup_s: float = 0.0,
        tick_s: float = TICK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pace = Pace(factor, clock)  # refuses a bad factor (SimulationError, a ValueError)
        if not warmup_s >= 0:
            raise ValueError(f"warm-up must be >= 0 s, got {warmup_s!r}")
        self.workshop = workshop
        self.sink = sink
        self.scenario = scenario
        self.seed = seed
        self.rule = rule
        self.warmup_s = float(warmup_s)
        self.tick_s = float(tick_s)
        # the simulator is built here so a bad workshop/scenario/rule fails in the caller
        self.simulator = Simulator(workshop, scenario, seed=seed, rule=rule)
        self._reached = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error = ""
        self.events_total = 0
        self.finished = False

    # -- control (any thread) --------------------------------------------------------
    @property
    def factor(self) -> float:
        return self.pace.factor

    def set_factor(self, factor: float) -> None:
        """Change the pace from now on, without a jump in simulated time."""
        self.pace.set_factor(factor)

    def meta(self) -> dict[str, Any]:
        """Recording metadata of the run (workshop, seed, rule, scenario, pace, warm-up)."""
        m = workshop_meta(self.workshop)
        m.update({
            "mode": "live",
            "seed": self.seed,
            "rule": self.rule,
            "scenario": str(getattr(self.scenario, "path", "") or "") if self.scenario else "",
            "pace_factor": self.pace.factor,
            "warmup_s": self.warmup_s,
            "started": datetime.now().isoformat(timespec="seconds"),
        })
        return m

    def start(self) -> None:
        """Start the pacing thread."""
        if self._thread is not None:
            raise RuntimeError("live shop already started")
        # the shift's clock starts now, in the caller's thread: a wall clock (or a test's
        # hand-driven one) that moves before the thread runs is not lost
        self.pace.start(self.warmup_s)
        self._thread = threading.Thread(target=self._run, name="dmw-live-shop", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the run (safe to call twice, from any thread)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def reached(self) -> float:
        """Simulated time up to which all events have been handed to the sink, seconds."""
        return self._reached

    # -- the pacing thread -----------------------------------------------------------
    def _hand_over(self, events: list[Event], reached: float) -> None:
        self.sink(events, reached)
        self._reached = max(self._reached, reached)
        self.events_total += len(events)

    def _run(self) -> None:
        sim = self.simulator
        try:
            self._hand_over(sim.step_until(0.0), 0.0)
            if self.warmup_s > 0:
                t = 0.0
                while t < self.warmup_s and not self._stop.is_set() and not sim.finished:
                    t = min(self.warmup_s, t + 600.0)
                    self._hand_over(sim.step_until(t), t)
            while not self._stop.is_set():
                target = self.pace.target()
                if target > self._reached:
                    self._hand_over(sim.step_until(target), target)
                if sim.finished:
                    self.finished = True
                    break
                self._stop.wait(self.tick_s)
        except Exception as exc:  # noqa: BLE001 - reported by the source, logged in full
            self.error = f"live simulation stopped: {exc}"
            log.error("live shop failed:\n%s", traceback.format_exc())
