"""Forecast to the end of the shift: N replications of the virtual shop from the recorded state.

This is the mechanism half of the paper's performance model, DTM_PM = (DTM_MM, DTM_DDM):
the DT model's behaviour and logic (the simulator) started in the physical shop's state
at ``at`` (:func:`twin.initial_state.shop_state`) and run to ``until`` ``runs`` times with
independent cycle-time and failure noise. What comes out is a distribution, reported as
P10 / P50 / P90: completed parts at ``until``, each open order's completion time (and
whether it will be late), station utilisation, and WIP / completed parts over time (the
band the app draws beyond the cursor).

    from twin.forecast import forecast
    fc = forecast("physical.twinlog", at=4 * 3600, until=8 * 3600, runs=30)
    fc.parts.p50, fc.parts.p10, fc.parts.p90     # completed parts at 8 h
    [o.order for o in fc.late_orders]            # orders predicted late
    fc.to_json()                                 # the CLI's --json

Orders after ``at``: ``future_orders="generator"`` (default: the workshop's order
generator, as a forecast made at ``at`` cannot know them), ``"recording"`` (the orders the
recording really released later - hindsight, for what-if studies and benchmarks) or
``"none"``. Replications run in parallel processes (``processes``, default up to 2) when
there are enough of them to pay for the process start-up (forked when this process has a
single thread, as on the command line; spawned otherwise, as in the GUI).

Times are seconds since the start of the shift.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from twin.events import Event
from twin.initial_state import ShopState, Unplaced, shop_state
from twin.recording import Recording, open_recording
from twin.replay import ReplayError
from twin.scenario import Scenario
from twin.simulator import RULES, Simulator
from twin.workshop import Order, Workshop, load_workshop

#: Length of a shift when the recording does not say [s].
DEFAULT_SHIFT_S = 8 * 3600.0
#: Spacing of the WIP / completed-parts bands [s].
BAND_STEP_S = 300.0
#: Throughput band intervals [s] (the charts' throughput bins are 15 min as well).
THROUGHPUT_STEP_S = 900.0
#: Fewer replications than this run in this process (starting workers costs more).
MIN_RUNS_FOR_WORKERS = 12
FUTURE_ORDERS = ("generator", "recording", "none")
_BUNDLED_WORKSHOPS = Path(__file__).resolve().parents[1] / "assets" / "workshops"


class ForecastAborted(Exception):
    """The caller's ``should_stop`` asked the forecast to stop."""


@dataclass(frozen=True)
class Band:
    """P10 / P50 / P90 of one figure over the replications."""

    p10: float
    p50: float
    p90: float

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> Band:
        a = np.asarray(values, dtype=float)
        p10, p50, p90 = np.percentile(a, [10, 50, 90]) if len(a) else (math.nan,) * 3
        return cls(float(p10), float(p50), float(p90))

    @classmethod
    def of_completions(cls, t_done: Sequence[float] | np.ndarray, until: float) -> Band:
        """P10/P50/P90 of completion times [s], ``inf`` in a run that did not complete by
        ``until``; a percentile that falls between a completion and "not by then" is
        ``inf`` too (never a time interpolated past the horizon)."""
        a = np.asarray(t_done, dtype=float)
        b = cls.of(np.where(a <= until, a, until + 1e12))  # finite stand-in for the arithmetic
        return cls(*(v if v <= until else math.inf for v in (b.p10, b.p50, b.p90)))

    def contains(self, value: float) -> bool:
        return self.p10 <= value <= self.p90

    def to_json(self) -> dict[str, float]:
        return {"p10": round(self.p10, 3), "p50": round(self.p50, 3), "p90": round(self.p90, 3)}


@dataclass(frozen=True)
class OrderForecast:
    """One order's predicted completion.

    Attributes:
        completion: P10/P50/P90 of its completion time [s]; ``inf`` where that share of
            the runs did not complete it by the forecast's end.
        p_complete: share of runs that completed it by the end.
        p_late: share of runs where it completed after its due time (or not by an end
            later than its due time).
        late: predicted late (``p_late >= 0.5``).
    """

    order: str
    product: str
    quantity: int
    released_s: float
    due_s: float
    completed_at_start: int
    completion: Band
    p_complete: float
    p_late: float

    @property
    def late(self) -> bool:
        return self.p_late >= 0.5

    def to_json(self) -> dict[str, Any]:
        c = self.completion
        fin = lambda v: None if not math.isfinite(v) else round(v, 1)  # noqa: E731
        return {
            "order": self.order, "product": self.product, "quantity": self.quantity,
            "released_s": round(self.released_s, 1),
            "due_s": fin(self.due_s), "completed_at_start": self.completed_at_start,
            "completion_p10_s": fin(c.p10), "completion_p50_s": fin(c.p50),
            "completion_p90_s": fin(c.p90),
            "p_complete": round(self.p_complete, 3), "p_late": round(self.p_late, 3),
            "late": self.late,
        }


@dataclass
class Forecast:
    """The result of :func:`forecast`.

    Attributes:
        at_s, until_s: forecast from / to [s]; runs: replications.
        completed_at_start: parts completed in the recording up to ``at_s``.
        completed_parts: per run, parts completed by ``until_s`` (including those before).
        parts: P10/P50/P90 of ``completed_parts``.
        naive_parts: the naive baseline, throughput so far extrapolated linearly.
        orders: the open orders at ``at_s`` (and replayed later ones), in release order.
        utilization: station -> P10/P50/P90 of its processing share of ``at_s..until_s``.
        times: band times [s]; wip / completed: band per time (parts in the shop,
            completed parts so far); throughput: band per interval
            ``throughput_times[k]..throughput_times[k+1]`` (15 min) [parts/h].
        unplaced: entities of the state the workshop could not place.
        wall_seconds: time the forecast took; processes: worker processes used (1 = here).
    """

    recording: str
    workshop: str
    at_s: float
    until_s: float
    runs: int
    seed: int
    future_orders: str
    completed_at_start: int
    completed_parts: list[int]
    parts: Band
    naive_parts: float
    orders: list[OrderForecast]
    utilization: dict[str, Band]
    times: list[float]
    wip: list[Band]
    completed: list[Band]
    throughput: list[Band] = field(default_factory=list)
    throughput_times: list[float] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    wall_seconds: float = 0.0
    processes: int = 1

    @property
    def late_orders(self) -> list[OrderForecast]:
        """Orders predicted late, most likely first."""
        return sorted((o for o in self.orders if o.late), key=lambda o: -o.p_late)

    def to_json(self) -> dict[str, Any]:
        """The ``forecast --json`` object."""
        return {
            "recording": self.recording, "workshop": self.workshop,
            "at_s": self.at_s, "until_s": self.until_s, "runs": self.runs, "seed": self.seed,
            "future_orders": self.future_orders,
            "completed_at_start": self.completed_at_start,
            "completed_parts": {**self.parts.to_json(), "runs": self.completed_parts},
            "naive_parts": round(self.naive_parts, 3),
            "orders": [o.to_json() for o in self.orders],
            "late_orders": [o.order for o in self.late_orders],
            "utilization": {k: v.to_json() for k, v in self.utilization.items()},
            "bands": {
                "t": self.times,
                "wip": [b.to_json() for b in self.wip],
                "completed": [b.to_json() for b in self.completed],
                "throughput_t": self.throughput_times,
                "throughput_per_h": [b.to_json() for b in self.throughput],
            },
            "unplaced": [{"entity": u.entity, "kind": u.kind, "reason": u.reason}
                         for u in self.unplaced],
            "wall_seconds": round(self.wall_seconds, 3),
            "processes": self.processes,
        }


@dataclass(frozen=True)
class _Job:
    """What one worker needs to run replications (picklable: no recording, no Qt)."""

    workshop: Workshop
    scenario: Scenario | None
    state: ShopState
    rule: str
    until_s: float
    future_orders: str
    later_orders: tuple[Order, ...]
    times: tuple[float, ...]


@dataclass
class _Run:
    completed: int
    order_done: dict[str, float]
    utilization: dict[str, float]
    wip: list[int]
    completed_series: list[int]


def replicate(job: _Job, seed: int) -> _Run:
    """One replication from the state to the end (runs in a worker process too)."""
    st = job.state
    orders: list[Order] | None
    if job.future_orders == "generator":
        orders = None
    else:
        orders = list(job.later_orders) if job.future_orders == "recording" else []
    sim = Simulator(job.workshop, job.scenario, seed=seed, rule=job.rule, start=st,
                    orders=orders, position_interval_s=1e9)
    in_shop = len(st.wips)
    done = 0
    order_done: dict[str, float] = {}
    times = job.times
    wip_series = [0] * len(times)
    done_series = [0] * len(times)
    i = 0
    released_at_start = {o.order.id for o in st.orders}

    def sink(e: Event) -> None:
        nonlocal in_shop, done, i
        while i < len(times) and e.t > times[i]:
            wip_series[i], done_series[i] = in_shop, done
            i += 1
        if e.kind == "wip":
            if e.state == "completed":
                done += 1
                in_shop -= 1
        elif e.kind == "order":
            if e.state == "completed":
                order_done[e.entity] = e.t
            elif e.t > st.t or e.entity not in released_at_start:
                in_shop += int(e.quantity or 0)

    res = sim.run(job.until_s / 3600.0, sink=sink)
    while i < len(times):
        wip_series[i], done_series[i] = in_shop, done
        i += 1
    return _Run(done, order_done, dict(res.utilization), wip_series, done_series)


def _replicate_many(job: _Job, seeds: Sequence[int]) -> list[_Run]:
    return [replicate(job, s) for s in seeds]


def forecast(
    recording: str | os.PathLike[str] | Recording,
    at: float,
    until: float | None = None,
    runs: int = 30,
    workshop: Workshop | None = None,
    processes: int | None = None,
    *,
    seed: int = 0,
    rule: str | None = None,
    scenario: Scenario | None = None,
    future_orders: str = "generator",
    progress: Callable[[int, int], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Forecast:
    """Forecast the shift from the recorded state at ``at`` [s] to ``until`` [s].

    Args:
        recording: a ``.twinlog`` path or an open :class:`Recording` (a live one is
            refreshed first).
        at: forecast from this time [s] (must be within the recording; ``inf`` = the
            latest recorded moment, e.g. of a live recording).
        until: forecast to this time [s] (default: the end of the recorded shift,
            ``hours`` of the recording's metadata, else 8 h).
        runs: replications (>= 1).
        workshop: the DT model (default: the recording's workshop, found from its header).
        processes: worker processes (None: up to 2 when ``runs`` is large enough; 1: here).
        seed: base seed of the replications (run ``i`` uses its own noise streams).
        rule: dispatching rule (default: the recording's, else fifo).
        scenario: disturbances the model knows about (default none).
        future_orders: ``generator`` | ``recording`` | ``none`` (see the module doc).
        progress: called with (runs done, runs) as replications finish.
        should_stop: polled between replications; True raises :class:`ForecastAborted`.

    Raises :class:`~twin.replay.ReplayError` for a time outside the recording, a
    recording of another workshop or one without order details; ``ValueError`` for
    bad arguments.
    """
    w0 = time.perf_counter()
    rec = recording if isinstance(recording, Recording) else open_recording(recording)
    if rec.complete is False:
        rec.refresh()
    if at == math.inf:
        at = rec.time_range[1]
    if not runs >= 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if future_orders not in FUTURE_ORDERS:
        raise ValueError(f"future orders must be one of {', '.join(FUTURE_ORDERS)}, got {future_orders!r}")
    meta = rec.meta
    if workshop is None:
        workshop = recording_workshop(rec)
    rule = rule or str(meta.get("rule") or "fifo")
    if rule not in RULES:
        rule = "fifo"
    state = shop_state(rec, float(at), workshop)
    if until is None:
        hours = meta.get("hours")
        until = float(hours) * 3600.0 if isinstance(hours, (int, float)) else DEFAULT_SHIFT_S
    until = float(until)
    if not until > at:
        raise ReplayError(f"{rec.path}: the forecast must end after {at:g} s, got until {until:g} s")
    n_band = int(math.ceil((until - at) / BAND_STEP_S))
    times = tuple(min(until, at + BAND_STEP_S * k) for k in range(n_band + 1))
    job = _Job(workshop, scenario, state, rule, until, future_orders,
               tuple(state.later_orders), times)
    seeds = [(seed + 1) * 100_003 + i for i in range(runs)]
    n_proc = _processes(processes, runs)
    results = _run_all(job, seeds, n_proc, progress, should_stop)
    return _summarise(rec, workshop, job, results, runs, seed, n_proc,
                      time.perf_counter() - w0)


def recording_workshop(rec: Recording) -> Workshop:
    """The workshop a recording was made in, found from its header (ReplayError if not)."""
    from twin.live import find_workshop
    from twin.workshop import WorkshopError

    try:
        return load_workshop(find_workshop(rec.meta, rec.path, (_BUNDLED_WORKSHOPS,)))
    except (FileNotFoundError, WorkshopError) as err:
        raise ReplayError(f"{rec.path}: {err}") from None


def _processes(processes: int | None, runs: int) -> int:
    if processes is not None:
        return max(1, min(int(processes), runs))
    if runs < MIN_RUNS_FOR_WORKERS:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _run_all(job: _Job, seeds: list[int], n_proc: int,
             progress: Callable[[int, int], Any] | None,
             should_stop: Callable[[], bool] | None) -> list[_Run]:
    total = len(seeds)
    out: list[_Run] = []

    def tick() -> None:
        if progress is not None:
            progress(len(out), total)
        if should_stop is not None and should_stop():
            raise ForecastAborted("forecast aborted")

    if n_proc <= 1:
        for s in seeds:
            out.append(replicate(job, s))
            tick()
        return out
    # chunks small enough for progress and abort, large enough to amortise pickling
    size = max(1, min(5, total // (2 * n_proc)))
    chunks = [seeds[i:i + size] for i in range(0, total, size)]
    with ProcessPoolExecutor(max_workers=n_proc, mp_context=_mp_context()) as pool:
        futures = [pool.submit(_replicate_many, job, c) for c in chunks]
        try:
            for f in futures:  # in order, so results do not depend on scheduling
                out.extend(f.result())
                tick()
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return out


def _mp_context() -> Any:
    """``fork`` (no re-import, fastest) when this process runs a single thread, as the
    command line does; ``spawn`` otherwise (forking a threaded process, e.g. the GUI with
    its workers, can deadlock)."""
    import multiprocessing
    import threading

    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return get_context("fork")
    return get_context("spawn")


def _summarise(rec: Recording, workshop: Workshop, job: _Job, results: list[_Run], runs: int,
               seed: int, n_proc: int, wall: float) -> Forecast:
    st = job.state
    at, until = st.t, job.until_s
    before = st.completed_parts
    parts = [before + r.completed for r in results]
    known: list[tuple[Order, int]] = [(o.order, o.completed) for o in st.orders]
    if job.future_orders == "recording":
        known += [(o, 0) for o in job.later_orders if o.release_s <= until]
    big = until + 1e12  # "not completed by the end", kept finite for the percentiles
    orders: list[OrderForecast] = []
    for o, done in known:
        t_done = np.array([r.order_done.get(o.id, big) for r in results])
        completed = t_done < big
        if math.isfinite(o.due_s):
            late = (t_done > o.due_s) & (completed | (o.due_s <= until))
        else:
            late = np.zeros(len(results), dtype=bool)
        band = Band.of_completions(t_done, until)
        orders.append(OrderForecast(o.id, o.product, o.quantity, o.release_s, o.due_s, done,
                                    band, float(completed.mean()), float(late.mean())))
    util = {sid: Band.of([r.utilization.get(sid, 0.0) for r in results])
            for sid in workshop.stations}
    wip = np.array([r.wip for r in results])
    done_series = np.array([r.completed_series for r in results]) + before
    stride = max(1, int(round(THROUGHPUT_STEP_S / BAND_STEP_S)))
    idx = list(range(0, len(job.times), stride))
    if idx[-1] != len(job.times) - 1:
        idx.append(len(job.times) - 1)
    tp_times = [job.times[i] for i in idx]
    dt_h = np.diff(np.array(tp_times)) / 3600.0
    rate = np.diff(done_series[:, idx], axis=1) / np.where(dt_h > 0, dt_h, 1.0)
    return Forecast(
        recording=str(rec.path), workshop=workshop.name, at_s=at, until_s=until, runs=runs,
        seed=seed, future_orders=job.future_orders, completed_at_start=before,
        completed_parts=parts, parts=Band.of(parts), naive_parts=naive_parts(before, at, until),
        orders=orders, utilization=util, times=list(job.times),
        wip=[Band.of(wip[:, k]) for k in range(wip.shape[1])],
        completed=[Band.of(done_series[:, k]) for k in range(done_series.shape[1])],
        throughput=[Band.of(rate[:, k]) for k in range(rate.shape[1])],
        throughput_times=tp_times,
        unplaced=list(st.unplaced), wall_seconds=wall, processes=n_proc,
    )


def naive_parts(completed: int, at: float, until: float) -> float:
    """The naive baseline: parts completed so far, extrapolated linearly to ``until``."""
    return completed * until / at if at > 0 else 0.0
