"""The evolution loop of a live session: judge, trigger and evolve the PM as the shop runs.

:class:`LiveEvolution` is owned by a :class:`~twin.session.Session` that records its live
source. The session calls :meth:`LiveEvolution.poll` after every pump (the GUI thread, once
per frame); each poll is cheap. When the shop has run one more evaluation batch, poll
flushes the recording and starts one **background thread** (a plain thread, the Qt-free
counterpart of ``ui.workers.Worker``) that

1. re-reads the growing recording (its own reader of the file; the GUI's store is not
   touched);
2. the first time the shop has run ``train_h`` hours (and no PM was given), fits the PM on
   them (LSTM, the mechanism model, or the hybrid — :data:`~twin.evolution.mechanism.PM_KINDS`);
3. steps the :class:`~twin.evolution.live.EvolutionMonitor` to the shop's watermark:
   predictions of the new states, TA of the batches whose outcomes became known, the
   trigger, and on a trigger the synchronous update (which trains LSTMs: seconds);
4. scores the report (the dock's chart, log and bars).

The annotations the monitor wrote (``ta``, ``trigger``, ``evolution``) and the report are
handed back by the next poll *after* the thread ended, on the caller's thread, which writes
them into the recording and the timeline. So nothing that trains runs on the GUI thread,
and the monitor is never read while the thread changes it. One thread at a time: if the
shop runs faster than the loop, the next step covers several batches at once.

Torch is imported in the thread, not by this module (the app starts without it).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.workshop import Workshop

#: (t [s], label, entity, kind) of one annotation the loop wants written.
Note = tuple[float, str, str, str]


class EvolutionStopped(Exception):
    """The session stopped the loop (its live source stopped)."""


@dataclass
class EvolutionSettings:
    """How a live session watches its PM (times in seconds unless ``_h``).

    Attributes:
        pm: "lstm", "mechanism" or "hybrid" (:data:`twin.evolution.mechanism.PM_KINDS`).
        pm_path: a saved PM to start from (else one is fitted on the first ``train_h``).
        train_h: hours of the live shift the PM is fitted on (monitoring starts after).
        horizon_s, step_s: prediction horizon and state spacing of the PM.
        batch_s: evaluation batch; judge_s: judge predictions after this long (None:
            the horizon; see :class:`~twin.evolution.live.EvolutionMonitor`).
        recent_s: recent data an update learns from.
        epochs, hidden: size of the fitted LSTM; mech_runs: replications per mechanism
            forecast.
        policy: "evolve", "retrain" or "none".
        trigger: keyword arguments of :class:`~twin.evolution.trend.EvolutionTrigger`.
        evolve_kwargs: keyword arguments of :func:`twin.evolution.update.evolve`.
        stations: also fit the per-station part of the PM (processing times per station,
            :mod:`twin.evolution.stations`) and run its trigger (only with a PM fitted in
            the session, not with ``pm_path``); station_batch_s: its evaluation batch.
        min_interval_s: wall seconds between the starts of two jobs. The job thread shares
            the interpreter with the GUI (reading the recording is Python code), so a fast
            simulated shop (×1000: a batch every 1.8 s) must not keep it busy all the time.
    """

    pm: str = "lstm"
    pm_path: str | None = None
    train_h: float = 4.0
    horizon_s: float = 3600.0
    step_s: float = 300.0
    batch_s: float = 1800.0
    judge_s: float | None = None
    recent_s: float = 7200.0
    epochs: int = 60
    hidden: int = 32
    mech_runs: int = 2
    policy: str = "evolve"
    trigger: dict[str, Any] = field(default_factory=dict)
    evolve_kwargs: dict[str, Any] = field(default_factory=dict)
    min_interval_s: float = 5.0
    stations: bool = True
    station_batch_s: float = 900.0

    def __post_init__(self) -> None:
        from twin.evolution.mechanism import PM_KINDS

        if self.pm not in PM_KINDS:
            raise ValueError(f"PM kind must be one of {', '.join(PM_KINDS)}, got {self.pm!r}")
        for name in ("train_h", "horizon_s", "step_s", "batch_s", "recent_s", "station_batch_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"evolution setting {name} must be a positive number, got {v!r}")


class LiveEvolution:
    """The PM's evolution loop over a live session's recording (see the module docstring).

    Args:
        path: the recording the session writes.
        stations: the workshop's stations (the PM's station columns, in order).
        settings: what to fit and how to judge (default :class:`EvolutionSettings`).
        workshop: the DT model for the mechanism forecast.
        clock: wall clock [s] for ``min_interval_s`` (injectable for tests).

    Attributes:
        status: one line for the user ("waiting for 4 h of the shift", "monitoring…").
        report: the latest :class:`~twin.evolution.history.HistoryReport` (None before
            the first evaluation); its monitor is a snapshot, safe to read any time.
        monitor: the :class:`~twin.evolution.live.EvolutionMonitor` (None until the PM is
            fitted); read it only between jobs (after a poll returned).
        error: why the loop stopped, "" while it runs.
    """

    def __init__(self, path: str | Path, stations: list[str],
                 settings: EvolutionSettings | None = None, workshop: Workshop | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.stations = list(stations)
        self.settings = settings or EvolutionSettings()
        self.workshop = workshop
        self.monitor: Any = None
        self.report: Any = None
        self.error = ""
        self.status = f"waiting for {self.settings.train_h:g} h of the shift to fit the PM"
        self.jobs = 0
        self._rec: Any = None
        self._mechanism: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._notes: list[Note] = []
        self._result: tuple[Any, str, str] | None = None
        self._stop = threading.Event()
        self._clock = clock
        self._started_at = -math.inf
        s = self.settings
        self._next_due = s.train_h * 3600.0 if s.pm_path is None else s.batch_s

    # -- the caller's side ----------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A job is running in the background."""
        return self._thread is not None and self._thread.is_alive()

    def poll(self, reached: float, flush: Callable[[], None] | None = None
             ) -> tuple[list[Note], Any]:
        """Collect a finished job (its notes and report, or None) and, if the shop has
        run one more batch (``reached`` seconds), start the next; ``flush`` is called
        first so the job reads everything up to ``reached``."""
        report = None
        if self._thread is not None and not self._thread.is_alive():
            self._thread = None
            with self._lock:
                result, self._result = self._result, None
            if result is not None:
                report, self.status, self.error = result
                if report is not None:
                    self.report = report
        with self._lock:
            notes, self._notes = self._notes, []
        if (self._thread is None and not self._stop.is_set() and not self.error
                and reached >= self._next_due
                and self._clock() >= self._started_at + self.settings.min_interval_s):
            self._started_at = self._clock()
            b = self.settings.batch_s if self.monitor is None else self.monitor.tick_s
            self._next_due = (math.floor(reached / b + 1e-9) + 1) * b
            if flush is not None:
                flush()
            self._thread = threading.Thread(target=self._run, args=(float(reached),),
                                            name="dmw-evolution", daemon=True)
            self.jobs += 1
            self._thread.start()
        return notes, report

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running job ends (tests, shutdown); True if none is running."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        return not self.busy

    def stop(self) -> None:
        """No further jobs; a running one stops at its next epoch or batch."""
        self._stop.set()

    # -- the job (background thread) --------------------------------------------------------
    def _check(self) -> None:
        if self._stop.is_set():
            raise EvolutionStopped("the live session stopped")

    def _note(self, t: float, label: str, entity: str, kind: str) -> None:
        with self._lock:
            self._notes.append((t, label, entity, kind))

    def _run(self, t_now: float) -> None:
        try:
            report, status = self._step(t_now)
            result: tuple[Any, str, str] = (report, status, "")
        except EvolutionStopped:
            result = (None, "stopped with the live session", "")
        except Exception as exc:  # noqa: BLE001 - the live view goes on; the dock says why
            traceback.print_exc()
            result = (None, f"evolution stopped: {exc}", str(exc) or type(exc).__name__)
        with self._lock:
            self._result = result

    def _step(self, t_now: float) -> tuple[Any, str]:
        from twin.evolution.features import progress_frame
        from twin.evolution.history import score_history
        from twin.recording import open_recording

        s = self.settings
        if self._rec is None:
            self._rec = open_recording(self.path)
        self._rec.refresh()
        if s.pm != "lstm" and self._mechanism is None:
            from twin.evolution.mechanism import MechanismForecaster

            self._mechanism = MechanismForecaster(self.workshop, runs=s.mech_runs)
        frame = progress_frame(self._rec, step_s=s.step_s, horizon_s=s.horizon_s,
                               stations=self.stations, t_end=t_now, mechanism=self._mechanism)
        self._check()
        if self.monitor is None:
            self.monitor = self._make_monitor(frame)
            if self.monitor is None:
                return None, self.status
        self.monitor.step(frame, t_now)
        self._check()
        st = self.monitor.state
        # the report holds a copy of the monitor's state: the next job may change the monitor
        # while the GUI draws this report
        snap = copy.copy(self.monitor)
        snap.state = dataclasses.replace(st, ta=list(st.ta), triggers=list(st.triggers),
                                         updates=list(st.updates), pred_t=list(st.pred_t),
                                         pred=list(st.pred), pred_version=list(st.pred_version),
                                         station_ta=list(st.station_ta), station_pred=list(st.station_pred))
        report = score_history(frame, self.monitor.initial_model, snap)
        return report, (f"monitoring: {len(st.ta)} TA points, {len(st.triggers)} trigger"
                        f"{'s' if len(st.triggers) != 1 else ''}, {len(st.updates)} update"
                        f"{'s' if len(st.updates) != 1 else ''}")

    def _make_monitor(self, frame: Any) -> Any:
        from twin.evolution.live import EvolutionMonitor
        from twin.evolution.mechanism import MechanismPM
        from twin.evolution.model import ProgressLSTM, training_set
        from twin.evolution.trend import EvolutionTrigger

        s = self.settings
        t_start = 0.0
        station_pm = None
        if s.pm_path is not None:
            from twin.evolution.store import load_pm

            model, _info = load_pm(s.pm_path)
        else:
            t_start = s.train_h * 3600.0
            first = frame.select(frame.t + s.horizon_s <= t_start + 1e-9)
            if s.pm == "mechanism":
                model = MechanismPM.for_frame(frame)
            else:
                if not first.known.any():
                    self.status = (f"waiting: {s.train_h:g} h is shorter than the "
                                   f"{s.horizon_s / 3600:g} h horizon, nothing to fit the PM on")
                    return None
                model = ProgressLSTM(hidden=s.hidden, epochs=s.epochs,
                                     residual_col=frame.mech_col if s.pm == "hybrid" else None)
                for _ in model.fit_iter(*training_set([first], model.window)):
                    self._check()
            if s.stations:
                from twin.evolution.stations import StationPM

                try:
                    station_pm = StationPM(hidden=min(s.hidden, 8), epochs=min(s.epochs, 20),
                                           batch_s=s.station_batch_s).fit(
                                               [StationPM.training_frame(frame, t_start)])
                except ValueError:  # no finished operation yet: watch the shop's TA only
                    station_pm = None
        return EvolutionMonitor(model, trigger=EvolutionTrigger(**s.trigger), batch_s=s.batch_s,
                                recent_s=s.recent_s, policy=s.policy, annotate=self._note,
                                evolve_kwargs=s.evolve_kwargs, step_s=s.step_s,
                                horizon_s=s.horizon_s, t_start=t_start, judge_s=s.judge_s,
                                station_pm=station_pm, station_batch_s=s.station_batch_s)
