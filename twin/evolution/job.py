"""The "Evolve now" job of the app: the evolution loop over a recording, with progress.

:func:`evolve_history_job` is a generator (``(fraction, message)`` per step, the
:class:`~twin.evolution.history.HistoryReport` as its return value) so the app runs it in a
worker, shows progress and can abort between LSTM epochs and evaluation batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from pathlib import Path

from twin.clock import format_clock
from twin.evolution.features import progress_frame
from twin.evolution.history import HistoryReport, score_history
from twin.evolution.live import EvolutionMonitor
from twin.evolution.model import ProgressLSTM, training_set
from twin.evolution.stations import StationPM
from twin.recording import open_recording


class EvolutionAborted(Exception):
    """The user stopped the job."""


def evolve_history_job(path: str | Path, should_abort: Callable[[], bool], *,
                       t_now: float | None = None, train_h: float = 4.0, epochs: int = 60,
                       horizon_s: float = 3600.0, stations: bool = True
                       ) -> Generator[tuple[float, str], None, HistoryReport]:
    """Fit the PM on the first ``train_h`` hours of the recording at ``path``, then run the
    evolution loop over the rest up to ``t_now`` (default: its end). ``stations``: also fit
    the per-station part of the PM and run its trigger (:mod:`twin.evolution.stations`)."""
    rec = open_recording(path)
    t_end = rec.time_range[1] if t_now is None else min(t_now, rec.time_range[1])
    yield 0.02, "reading the shop states"
    frame = progress_frame(rec, horizon_s=horizon_s, t_end=t_end)
    t_start = train_h * 3600.0
    first = frame.select(frame.t + horizon_s <= t_start + 1e-9)
    if not first.known.any():
        cut = t_end < rec.time_range[1]  # stopped at the cursor, before the recording's end
        raise ValueError(f"{Path(path).name}{f' up to {format_clock(t_end)}' if cut else ''}: shorter "
                         f"than {train_h:g} h + the {horizon_s / 3600:g} h horizon: nothing to fit "
                         "the PM on" + (" (move the timeline cursor later)" if cut else ""))
    pm = ProgressLSTM(epochs=epochs)
    for frac, msg in pm.fit_iter(*training_set([first], pm.window)):
        if should_abort():
            raise EvolutionAborted("evolution aborted")
        yield 0.02 + 0.48 * frac, f"fitting the PM: {msg}"
    station_pm = None
    if stations:
        yield 0.5, "fitting the per-station PM"
        try:
            station_pm = StationPM().fit([StationPM.training_frame(frame, t_start)])
        except ValueError:  # no finished operation in the first hours: the shop's TA only
            station_pm = None
    monitor = EvolutionMonitor(pm, horizon_s=horizon_s, t_start=t_start, station_pm=station_pm)
    t = t_start
    steps = max(1, math.ceil((t_end - t_start) / monitor.tick_s))
    k = 0
    while t < t_end + 1e-9:
        if should_abort():
            raise EvolutionAborted("evolution aborted")
        monitor.step(frame, min(t, t_end))
        k += 1
        yield 0.5 + 0.5 * min(k / steps, 1.0), f"evaluating {t / 3600:.1f} h ({len(monitor.state.triggers)} triggers)"
        t += monitor.tick_s
    return score_history(frame, pm, monitor)
