"""Discrete-event shop-floor simulator (SimPy): the BM + LM of the DT model.

It plays two roles with the same code: the emulated *physical* shop (random cycle times,
failures, scenario disturbances; the source of demo and test data) and the *virtual* shop
(the DT model). Every state change of a station, AGV, WIP or order becomes a
:class:`twin.events.Event`, delivered in non-decreasing time.

Behaviour model
    * Station: ``idle`` -> (``setup`` when the process changes) -> ``processing`` ->
      (``blocked`` while its output buffer is full) -> ... ; ``down`` while failed/repaired
      (work in progress resumes after repair). Cycle times are lognormal around the nominal
      (coefficient of variation ``cycle_cv``), failures exponential from MTBF/MTTR.
    * AGV: ``idle`` -> ``moving`` (to the pickup) -> ``loading`` -> ``moving`` -> ``unloading``;
      drives shortest paths on the aisle graph and reports its position while moving at
      least every ``position_interval_s`` seconds of simulated time and at every corner.
    * WIP: ``waiting`` (raw store, station queue or output buffer) -> ``transporting`` ->
      ``waiting`` -> ``processing`` -> ... -> ``completed`` (in the finished-goods store).
    * Order: ``released`` -> ``completed`` when its last part is completed.

Logic model
    * A route step goes to the alternative station with the least work queued that still
      has room in its input buffer (input capacity counts parts on their way); a part that
      finds no room waits where it is (raw store or the previous station's output buffer,
      which may block that station).
    * Transport requests are served first come first served; an idle AGV closest to the
      pickup takes a new request.
    * Each station picks its next part by the dispatching rule (``fifo``, ``spt``, ``lpt``,
      ``mwkr``, ``edd``).

Determinism: every random stream is seeded from ``seed`` and a fixed name, so the same seed
gives the same event list, and a disturbance on one station does not reshuffle the random
numbers of the others (common random numbers across scenarios).

Order replay and start from a state: ``Simulator(..., orders=...)`` releases exactly the
given orders (e.g. a physical recording's, :func:`twin.replay.recorded_orders`) instead of
the workshop's orders and generator; ``Simulator(..., start=...)`` starts the shop in a
recorded state (:func:`twin.initial_state.shop_state`) at its time instead of empty at 0.

Use :meth:`Simulator.run` for a whole shift as fast as possible and
:meth:`Simulator.step_until` to pull events incrementally; :class:`Pace` anchors simulated
time on the wall clock for a live source (:class:`twin.live.LiveShop`).
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from twin.analytics import ShopAnalytics
from twin.dispatching import RULES
from twin.events import Event
from twin.scenario import Scenario
from twin.workshop import Agv, Buffer, Order, Product, Station, Workshop

if TYPE_CHECKING:
    from twin.initial_state import ShopState


#: Electrical power per station type while processing [kW]; other states use a fraction.
PROCESS_POWER_KW: dict[str, float] = {
    "lathe": 15.0, "machining_centre": 22.0, "drill": 5.5, "grinder": 11.0,
    "deburring": 4.0, "washer": 9.0, "inspection": 1.5, "assembly": 1.0, "press": 18.0,
    "screwing": 1.2, "testing": 2.0, "packing": 1.5,
}
#: Fraction of the processing power drawn in each station state.
STATE_POWER_FRACTION: dict[str, float] = {
    "idle": 0.2, "setup": 0.3, "processing": 1.0, "blocked": 0.25, "down": 0.05,
}
#: AGV power per state [kW].
AGV_POWER_KW: dict[str, float] = {
    "idle": 0.05, "moving": 0.6, "loading": 0.35, "unloading": 0.35, "charging": 0.0,
}


class SimulationError(ValueError):
    """Invalid simulator arguments (unknown rule, scenario target...)."""


# ------------------------------------------------------------------------------------
# result
# ------------------------------------------------------------------------------------


@dataclass
class SimResult:
    """Figures of a run.

    Attributes:
        events: events emitted so far.
        completed_orders / released_orders: order counts.
        completed_wip: parts that reached the end of their route.
        makespan_s: time the last order completed if every released order completed
            (and no more will be released), else None.
        utilization: station -> fraction of ``sim_seconds`` spent ``processing``.
        state_fractions: station -> state -> fraction of ``sim_seconds``.
        agv_utilization: AGV -> fraction of time not ``idle``.
        mean_processing_s: station -> mean duration of a processing operation [s]
            (excluding down time inside it).
        sim_seconds: simulated time covered [s]; wall_seconds: real time spent [s].
    """

    events: int
    completed_orders: int
    released_orders: int
    completed_wip: int
    makespan_s: float | None
    utilization: dict[str, float]
    state_fractions: dict[str, dict[str, float]]
    agv_utilization: dict[str, float]
    mean_processing_s: dict[str, float]
    sim_seconds: float
    wall_seconds: float

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``--json`` object (documented keys first, then the extras)."""
        r = lambda v: round(v, 6)  # noqa: E731
        return {
            "events": self.events,
            "completed_orders": self.completed_orders,
            "makespan_s": None if self.makespan_s is None else r(self.makespan_s),
            "utilization": {k: r(v) for k, v in self.utilization.items()},
            "sim_seconds": r(self.sim_seconds),
            "wall_seconds": r(self.wall_seconds),
            "released_orders": self.released_orders,
            "completed_wip": self.completed_wip,
            "agv_utilization": {k: r(v) for k, v in self.agv_utilization.items()},
            "mean_processing_s": {k: r(v) for k, v in self.mean_processing_s.items()},
        }


# ------------------------------------------------------------------------------------
# runtime state
# ------------------------------------------------------------------------------------


class _OrderRt:
    __slots__ = ("spec", "wips", "done", "due_s", "total")

    def __init__(self, spec: Order, done: int = 0) -> None:
        self.spec = spec
        self.wips: list[_Wip] = []
        self.done = done  # parts completed (before a start from a state, too)
        self.total = spec.quantity
        self.due_s = spec.due_s


class _Wip:
    __slots__ = ("id", "order", "product", "step", "seq", "remaining_work")

    def __init__(self, wid: str, order: _OrderRt, product: Product, seq: int,
                 remaining_work: list[float]) -> None:
        self.id = wid
        self.order = order
        self.product = product
        self.step = 0
        self.seq = seq  # arrival sequence at the current queue (FIFO tie-break)
        self.remaining_work = remaining_work

    @property
    def process(self) -> str:
        route = self.product.route
        return route[self.step].process if self.step < len(route) else ""


class _StationRt:
    __slots__ = (
        "spec", "id", "queue", "incoming", "output", "phase", "down", "down_until",
        "repaired", "wake", "space", "current", "last_process", "proc", "last_key",
        "last_t", "last_state", "power", "rng",
    )

    def __init__(self, spec: Station, rng: random.Random) -> None:
        self.spec = spec
        self.id = spec.id
        self.queue: list[_Wip] = []
        self.incoming = 0
        self.output: list[_Wip] = []
        self.phase = "idle"
        self.down = False
        self.down_until = 0.0
        self.repaired: simpy.Event | None = None
        self.wake: simpy.Event | None = None
        self.space: simpy.Event | None = None
        self.current: _Wip | None = None
        self.last_process: tuple[str, str] | None = None  # (product, process) set up for
        self.proc: simpy.Process | None = None
        self.last_key: tuple[Any, ...] | None = None
        self.last_t = 0.0
        self.last_state = "idle"
        self.power = PROCESS_POWER_KW.get(spec.type, 5.0)
        self.rng = rng

    def room(self) -> bool:
        return len(self.queue) + self.incoming < self.spec.input_capacity

    def load(self) -> int:
        return len(self.queue) + self.incoming + (1 if self.current is not None else 0)


@dataclass
class _Move:
    wip: _Wip
    src: _StationRt | Buffer | None
    dst: _StationRt | Buffer
    pickup: str
    drop: str
    loaded: bool = False  # already on the AGV (a start from a state)


class _AgvRt:
    __slots__ = ("spec", "id", "node", "x", "y", "heading", "job", "wake", "idle",
                 "last_t", "last_state")

    def __init__(self, spec: Agv, x: float, y: float) -> None:
        self.spec = spec
        self.id = spec.id
        self.node = spec.home
        self.x, self.y = x, y
        self.heading = 0.0
        self.job: _Move | None = None
        self.wake: simpy.Event | None = None
        self.idle = False
        self.last_t = 0.0
        self.last_state = "idle"


@dataclass
class _Path:
    nodes: list[str]
    points: list[tuple[float, float]]
    lengths: list[float]
    headings: list[float]
    total: float = field(init=False)

    def __post_init__(self) -> None:
        self.total = sum(self.lengths)


# ------------------------------------------------------------------------------------
# simulator
# ------------------------------------------------------------------------------------


class Simulator:
    """Simulate ``workshop`` under ``scenario`` (disturbances) with random ``seed``.

    Args:
        workshop: the shop to simulate.
        scenario: disturbances (None = undisturbed).
        seed: random seed; the same seed gives the same events.
        rule: dispatching rule, one of :data:`RULES`.
        position_interval_s: longest gap between AGV position reports while moving [s].
        stochastic: random cycle times and failures (default: the workshop's setting;
            job-shop instances are deterministic).
        cycle_cv: coefficient of variation of cycle and setup times.
        orders: release exactly these orders (order replay) instead of the workshop's
            orders and order generator; the seed then drives only cycle-time and failure
            noise (each has its own random stream).
        start: start in this recorded shop state, at its time ``start.t`` [s], instead of
            empty at 0. Later orders: ``orders`` released after ``start.t`` if given,
            else the workshop's orders after ``start.t`` and its generator (without the
            shift-start burst). Entities the state could not place are in
            ``start.unplaced``; the simulator places everything else.
    """

    def __init__(
        self,
        workshop: Workshop,
        scenario: Scenario | None = None,
        seed: int = 0,
        rule: str = "fifo",
        *,
        position_interval_s: float = 1.0,
        stochastic: bool | None = None,
        cycle_cv: float = 0.07,
        orders: Sequence[Order] | None = None,
        start: ShopState | None = None,
    ) -> None:
        if rule not in RULES:
            raise SimulationError(f"unknown dispatching rule {rule!r} "
                                  f"(expected one of {', '.join(RULES)})")
        if not position_interval_s > 0:
            raise SimulationError("position_interval_s must be > 0")
        if cycle_cv < 0:
            raise SimulationError("cycle_cv must not be negative")
        self.workshop = workshop
        self.scenario = scenario or Scenario.empty()
        self.scenario.validate(workshop)
        self.seed = seed
        self.rule = rule
        self.position_interval_s = float(position_interval_s)
        self.stochastic = workshop.stochastic if stochastic is None else stochastic
        self._sigma = math.sqrt(math.log1p(cycle_cv * cycle_cv)) if self.stochastic else 0.0
        self._mu = -0.5 * self._sigma * self._sigma

        t0 = float(start.t) if start is not None else 0.0
        self.t0 = t0
        self.env = simpy.Environment(initial_time=t0)
        self._out: list[Event] = []
        self._pending: list[tuple[float, int, Event]] = []  # future AGV position samples
        self._pseq = 0
        self._n_events = 0
        self._wall = 0.0
        self._horizon = t0
        self._finished = False
        self._last_completion: float | None = None
        self._released = 0
        self._completed_orders = 0
        self._completed_wip = 0
        self._open_orders = 0
        self._generating = False
        explicit = list(workshop.orders if orders is None else orders)
        if start is not None:
            explicit = [o for o in explicit if o.release_s > t0 and o.id not in start.order_ids]
        for o in explicit:
            if o.product not in workshop.products:
                raise SimulationError(f"order {o.id}: unknown product {o.product!r}")
        self._explicit_left = len(explicit)
        self._wip_counter = 0
        self._seq = 0
        self._order_ids: set[str] = {o.id for o in explicit}
        self._order_counter = 0
        self._paths: dict[tuple[str, str], _Path] = {}
        self._pending_assign: list[tuple[_Wip, _StationRt | Buffer | None]] = []
        self._transport_queue: deque[_Move] = deque()

        ws = workshop
        self.transport = ws.transport and bool(ws.agvs)
        self._raw = ws.buffer_of_kind("raw") if self.transport else None
        self._fg = ws.buffer_of_kind("finished") if self.transport else None
        self._stations = {s.id: _StationRt(s, self._rng(f"station:{s.id}")) for s in ws.stations.values()}
        self._agvs = {
            a.id: _AgvRt(a, ws.nodes[a.home].x, ws.nodes[a.home].y) for a in ws.agvs.values()
        } if self.transport else {}
        self._work_left = {pid: self._remaining_work(p) for pid, p in ws.products.items()}
        self._select = self._selector(rule)
        #: Time in state, operations, ... of the events emitted so far (the summary).
        self.analytics = ShopAnalytics(list(self._stations), list(self._agvs), t0=t0)
        for st in self._stations.values():
            st.last_t = t0
        for a in self._agvs.values():
            a.last_t = t0

        # initial state of every entity at t0 (empty shop, or the recorded state)
        resume: dict[str, tuple[_Wip, float, bool]] = {}
        to_route: list[tuple[_Wip, _StationRt | Buffer | None]] = []
        if start is not None:
            resume, to_route = self._place(start)
        for st in self._stations.values():
            self._emit_station(st)
        for a in self._agvs.values():
            if a.job is None:
                a.idle = True
                self._emit_agv(a, "idle")
        for st in self._stations.values():
            st.proc = self.env.process(self._station_loop(st, resume.get(st.id)))
            if self.stochastic and math.isfinite(st.spec.mtbf_h) and st.spec.mttr_min > 0:
                self.env.process(self._failures(st, self._rng(f"failure:{st.id}")))
        for a in self._agvs.values():
            self.env.process(self._agv_loop(a))
        for d in self.scenario.breakdowns():
            if d.end_s > t0:  # one under way at t0 lasts what is left of it
                begin = max(d.start_s, t0)
                self.env.process(self._scheduled_breakdown(d.target, begin, d.end_s - begin))
        if to_route:
            self.env.process(self._route_placed(to_route))
        if explicit:
            self.env.process(self._explicit_orders(sorted(explicit, key=lambda o: o.release_s)))
        if orders is None and ws.order_generator is not None:
            self._generating = True
            self.env.process(self._order_generator(self._rng("orders"), burst=start is None))
        self._check_finished()

    # -- public API ------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Simulated time reached [s]."""
        return float(self.env.now)

    @property
    def finished(self) -> bool:
        """True when no more orders will come and every released order is completed."""
        return self._finished

    def step_until(self, t: float) -> list[Event]:
        """Advance the simulation to ``t`` [s] and return the new events (t <= ``t``).

        Stops early when the shop is finished (see :attr:`finished`)."""
        w0 = time.perf_counter()
        env = self.env
        step = env.step
        peek = env.peek
        while not self._finished and peek() <= t:
            step()
        self._flush_pending(t)
        out = self._out
        self._out = []
        self._n_events += len(out)
        self.analytics.add(out)
        self._wall += time.perf_counter() - w0
        self._horizon = float(env.now) if self._finished else max(self._horizon, t)
        return out

    def run(self, hours: float, sink: Callable[[Event], Any] | None = None,
            progress: Callable[[float], Any] | None = None) -> SimResult:
        """Simulate until ``hours`` after the start of the shift as fast as possible.

        Args:
            hours: end of the run, hours since t = 0.
            sink: called with each event, in non-decreasing time.
            progress: called with the fraction done (0..1) after each simulated minute.
        """
        until = hours * 3600.0
        slice_s = 60.0
        t = self.now
        while t < until and not self._finished:
            t = min(until, t + slice_s)
            events = self.step_until(t)
            if sink is not None:
                for e in events:
                    sink(e)
            if progress is not None:
                progress(min(1.0, t / until) if until > 0 else 1.0)
        return self.result()

    def result(self) -> SimResult:
        """Figures for the time simulated so far."""
        now = self._horizon
        span = now - self.t0  # simulated time covered [s]
        shop = self.analytics
        util: dict[str, float] = {}
        fractions: dict[str, dict[str, float]] = {}
        for sid in self._stations:
            times = shop.station_time_in_state(sid, now)
            fractions[sid] = {k: (v / span if span > 0 else 0.0) for k, v in times.items()}
            util[sid] = fractions[sid]["processing"]
        agv_util: dict[str, float] = {}
        for aid in self._agvs:
            times = shop.agv_time_in_state(aid, now)
            busy = sum(v for k, v in times.items() if k != "idle")
            agv_util[aid] = busy / span if span > 0 else 0.0
        mean_proc = shop.mean_work_s()
        makespan = self._last_completion if self._finished else None
        return SimResult(
            events=self._n_events,
            completed_orders=self._completed_orders,
            released_orders=self._released,
            completed_wip=self._completed_wip,
            makespan_s=makespan,
            utilization=util,
            state_fractions=fractions,
            agv_utilization=agv_util,
            mean_processing_s=mean_proc,
            sim_seconds=span,
            wall_seconds=self._wall,
        )

    # -- start from a state ----------------------------------------------------------
    def _place(self, start: ShopState) -> tuple[
            dict[str, tuple[_Wip, float, bool]], list[tuple[_Wip, _StationRt | Buffer | None]]]:
        """Put the recorded state's orders, parts, stations and AGVs in place at ``t0``.

        Returns the stations' parts in hand (part, remaining processing [s], operation
        done) and the parts to route once the run starts (raw store, output buffers), in
        the order they were waiting."""
        ws = self.workshop
        now = self.t0
        env = self.env
        self._order_ids |= set(start.order_ids)
        self._order_counter = _max_number(start.order_ids, "O")
        self._wip_counter = _max_number(start.wip_ids, "W")
        orders: dict[str, _OrderRt] = {}
        for oo in start.orders:
            o = _OrderRt(oo.order, done=oo.completed)
            orders[oo.order.id] = o
            self._released += 1
            self._open_orders += 1
            self._emit_order(oo.order, "released")
        for sa in start.stations.values():
            st = self._stations[sa.station]
            if sa.process and (sa.product, sa.process) != ("", ""):
                st.last_process = (sa.product, sa.process)
            if sa.state == "down":
                repair_s = self.expected_repair_s(sa.station)
                if repair_s > 0:
                    st.down = True
                    st.down_until = now + repair_s
                    st.repaired = env.event()
                    env.process(self._repair(st))
        for aa in start.agvs.values():
            a = self._agvs.get(aa.agv)
            if a is not None:
                a.node = aa.node
                a.x, a.y = ws.nodes[aa.node].x, ws.nodes[aa.node].y
                a.heading = aa.heading
        resume: dict[str, tuple[_Wip, float, bool]] = {}
        to_route: list[tuple[_Wip, _StationRt | Buffer | None]] = []
        for wa in start.wips:
            o = orders[wa.order]
            w = _Wip(wa.wip, o, ws.products[wa.product], 0, self._work_left[wa.product])
            w.step = wa.step
            o.wips.append(w)
            if wa.place == "raw":
                raw = self._raw
                self._emit_wip(w, "waiting", raw.x if raw else None, raw.y if raw else None)
                to_route.append((w, raw))
                continue
            if wa.place == "agv":
                a = self._agvs[wa.agv]
                dst: _StationRt | Buffer | None = self._stations[wa.station] if wa.station else self._fg
                if dst is None:  # no finished-goods store: the part is done on arrival
                    self._complete(w)
                    continue
                if isinstance(dst, _StationRt):
                    dst.incoming += 1
                drop = dst.spec.node if isinstance(dst, _StationRt) else dst.node
                a.job = _Move(w, None, dst, a.node, drop, loaded=True)
                a.idle = False
                self._emit_wip(w, "transporting", a.x, a.y, station=wa.station, agv=a.id)
                continue
            st = self._stations[wa.station]
            s = st.spec
            if wa.place == "queue":
                self._seq += 1
                w.seq = self._seq
                st.queue.append(w)
                self._emit_wip(w, "waiting", s.x, s.y, station=s.id)
            elif wa.place == "output":
                st.output.append(w)
                self._emit_wip(w, "waiting", s.x, s.y, station=s.id)
                to_route.append((w, st))
            else:  # "station": the part in hand
                st.current = w
                st.last_process = (w.product.id, w.process)
                if wa.operation_done:
                    st.phase = "blocked"
                    resume[st.id] = (w, 0.0, True)
                else:
                    st.phase = "processing"
                    remaining = self.expected_remaining_s(st.id, w.process, wa.elapsed_s)
                    if wa.in_setup:
                        remaining += max(0.0, s.setup_s - wa.setup_elapsed_s)
                    resume[st.id] = (w, remaining, False)
                self._emit_wip(w, "processing", s.x, s.y, station=s.id)
        return resume, to_route

    def _route_placed(self, parts: list[tuple[_Wip, _StationRt | Buffer | None]]
                      ) -> Iterator[simpy.Event]:
        """Send the placed waiting parts on (first thing of a run started from a state)."""
        for w, src in parts:
            self._route_next(w, src)
        yield from ()

    def expected_remaining_s(self, station: str, process: str, elapsed_s: float) -> float:
        """The model's expected remaining time [s] of ``process`` at ``station`` that has
        already run ``elapsed_s`` seconds: E[D - e | D > e] for the lognormal cycle time D
        (times the scenario's factor at the current time)."""
        st = self._stations[station]
        nominal = st.spec.processes[process] * self.scenario.station_factor(station, self.now)
        e = max(0.0, float(elapsed_s))
        if nominal <= 0:
            return 0.0
        if self._sigma == 0.0 or e <= 0.0:
            return max(0.0, nominal - e)
        s = self._sigma
        m = math.log(nominal) + self._mu
        z = (math.log(e) - m) / s
        tail = 0.5 * math.erfc(z / math.sqrt(2.0))  # P(D > e)
        if tail < 1e-12:  # far in the tail: Mills-ratio limit
            return e * s * s / max(math.log(e) - m, 1e-9)
        mean_above = math.exp(m + 0.5 * s * s) * 0.5 * math.erfc((z - s) / math.sqrt(2.0)) / tail
        return max(0.0, mean_above - e)

    def expected_repair_s(self, station: str) -> float:
        """The model's expected remaining repair time [s] of a station that is down now:
        the mean time to repair (repairs are exponential, hence memoryless)."""
        spec = self._stations[station].spec
        return spec.mttr_min * 60.0 if spec.mttr_min > 0 else 0.0

    # -- random numbers --------------------------------------------------------------
    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    def _duration(self, st: _StationRt, nominal: float) -> float:
        if self._sigma == 0.0 or nominal <= 0:
            return nominal
        return nominal * math.exp(st.rng.gauss(self._mu, self._sigma))

    # -- event emission --------------------------------------------------------------
    def _emit(self, e: Event) -> None:
        p = self._pending
        if p and p[0][0] <= e.t:
            self._flush_pending(e.t)
        self._out.append(e)

    def _flush_pending(self, t: float) -> None:
        p = self._pending
        out = self._out
        while p and p[0][0] <= t:
            out.append(heapq.heappop(p)[2])

    def _emit_station(self, st: _StationRt) -> None:
        state = "down" if st.down else st.phase
        cur = st.current if state != "idle" else None
        key = (state, cur, len(st.queue))
        if key == st.last_key:
            return
        st.last_key = key
        now = float(self.env.now)
        dt = now - st.last_t
        energy = st.power * STATE_POWER_FRACTION[st.last_state] * dt / 3600.0
        st.last_t = now
        st.last_state = state
        s = st.spec
        if cur is not None:
            self._emit(Event(now, s.id, "station", state, s.x, s.y, s.heading, s.id, cur.id,
                             cur.order.spec.id, cur.process, "", float(len(st.queue)),
                             energy, cur.product.id))
        else:
            self._emit(Event(now, s.id, "station", state, s.x, s.y, s.heading, s.id, "", "",
                             "", "", float(len(st.queue)), energy))

    def _agv_energy(self, a: _AgvRt, now: float, state: str) -> float:
        dt = now - a.last_t
        e = AGV_POWER_KW[a.last_state] * dt / 3600.0
        a.last_t = now
        a.last_state = state
        return e

    def _emit_agv(self, a: _AgvRt, state: str, station: str = "") -> None:
        now = float(self.env.now)
        w = a.job.wip if a.job is not None and state != "idle" else None
        energy = self._agv_energy(a, now, state)
        self._emit(Event(now, a.id, "agv", state, a.x, a.y, a.heading, station,
                         w.id if w else "", w.order.spec.id if w else "", "", a.id, None,
                         energy))

    def _emit_wip(self, w: _Wip, state: str, x: float | None, y: float | None,
                  station: str = "", agv: str = "", process: str | None = None) -> None:
        self._emit(Event(float(self.env.now), w.id, "wip", state, x, y, None, station, w.id,
                         w.order.spec.id, w.process if process is None else process, agv,
                         None, None, w.product.id))

    def _emit_order(self, spec: Order, state: str) -> None:
        due = spec.due_s if math.isfinite(spec.due_s) else None
        self._emit(Event(float(self.env.now), spec.id, "order", state, order=spec.id,
                         product=spec.product, quantity=float(spec.quantity), due=due))

    # -- orders ----------------------------------------------------------------------
    def _explicit_orders(self, orders: list[Order]) -> Iterator[simpy.Event]:
        for o in orders:
            if o.release_s > self.env.now:
                yield self.env.timeout(o.release_s - self.env.now)
            self._explicit_left -= 1
            self._release(o)
        self._check_finished()

    def _order_generator(self, rng: random.Random, burst: bool = True) -> Iterator[simpy.Event]:
        """Random orders from now on; ``burst``: release the generator's ``initial``
        orders first (at the start of a shift, not when starting from a state)."""
        g = self.workshop.order_generator
        assert g is not None
        products = list(g.mix)
        weights = [g.mix[p] for p in products]
        mean_s = g.interarrival_min * 60.0
        made = 0

        def make() -> Order:
            self._order_counter += 1
            oid = f"O{self._order_counter:04d}"
            while oid in self._order_ids:
                self._order_counter += 1
                oid = f"O{self._order_counter:04d}"
            self._order_ids.add(oid)
            prod = rng.choices(products, weights)[0]
            qty = rng.randint(g.quantity[0], g.quantity[1])
            now = float(self.env.now)
            due = now + rng.uniform(g.due_h[0], g.due_h[1]) * 3600.0
            return Order(oid, prod, qty, now, due)

        for _ in range(g.initial if burst else 0):
            if g.max_orders and made >= g.max_orders:
                break
            self._release(make())
            made += 1
        while not g.max_orders or made < g.max_orders:
            work = rng.expovariate(1.0) * mean_s if g.arrival == "poisson" else mean_s
            t1 = self.scenario.advance_arrivals(float(self.env.now), work)
            if math.isinf(t1):
                break
            yield self.env.timeout(t1 - self.env.now)
            self._release(make())
            made += 1
        self._generating = False
        self._check_finished()

    def _release(self, spec: Order) -> None:
        o = _OrderRt(spec)
        self._released += 1
        self._open_orders += 1
        self._emit_order(spec, "released")
        product = self.workshop.products[spec.product]
        work = self._work_left[spec.product]
        for i in range(spec.quantity):
            if i < len(spec.wip_ids):
                wid = spec.wip_ids[i]
            else:
                self._wip_counter += 1
                wid = f"W{self._wip_counter:05d}"
            w = _Wip(wid, o, product, 0, work)
            o.wips.append(w)
            if self._raw is not None:
                self._emit_wip(w, "waiting", self._raw.x, self._raw.y)
            self._route_next(w, self._raw)

    def _complete(self, w: _Wip) -> None:
        fg = self._fg
        self._emit_wip(w, "completed", fg.x if fg else None, fg.y if fg else None,
                       process="")
        self._completed_wip += 1
        o = w.order
        o.done += 1
        if o.done >= o.total:
            self._emit_order(o.spec, "completed")
            self._completed_orders += 1
            self._open_orders -= 1
            self._last_completion = float(self.env.now)
            self._check_finished()

    def _check_finished(self) -> None:
        if not self._generating and self._explicit_left == 0 and self._open_orders == 0:
            self._finished = True

    # -- routing ---------------------------------------------------------------------
    def _remaining_work(self, p: Product) -> list[float]:
        """Nominal work left from each step to the end of the route [s]."""
        per_step = []
        for step in p.route:
            times = [self.workshop.stations[s].processes[step.process] for s in step.stations]
            per_step.append(sum(times) / len(times))
        out = [0.0] * (len(per_step) + 1)
        for i in range(len(per_step) - 1, -1, -1):
            out[i] = out[i + 1] + per_step[i]
        return out

    def _route_next(self, w: _Wip, src: _StationRt | Buffer | None) -> None:
        """Send ``w`` to its next step (or the finished-goods store) from ``src``."""
        if w.step >= len(w.product.route):
            if self._fg is not None:
                self._move(w, src, self._fg)
            else:
                self._leave(w, src)
                self._complete(w)
            return
        st = self._choose_station(w)
        if st is None:
            self._pending_assign.append((w, src))
            if not self.transport and isinstance(src, _StationRt):
                s = src.spec
                self._emit_wip(w, "waiting", s.x, s.y, station=s.id)
            return
        st.incoming += 1
        self._move(w, src, st)

    def _choose_station(self, w: _Wip) -> _StationRt | None:
        step = w.product.route[w.step]
        best: _StationRt | None = None
        best_key: tuple[float, float] | None = None
        for sid in step.stations:
            st = self._stations[sid]
            if not st.room():
                continue
            key = (st.load() + (1 if st.down else 0), st.spec.processes[step.process])
            if best_key is None or key < best_key:
                best, best_key = st, key
        return best

    def _slot_freed(self) -> None:
        if not self._pending_assign:
            return
        still: list[tuple[_Wip, _StationRt | Buffer | None]] = []
        for w, src in self._pending_assign:
            st = self._choose_station(w)
            if st is None:
                still.append((w, src))
            else:
                st.incoming += 1
                self._move(w, src, st)
        self._pending_assign = still

    def _move(self, w: _Wip, src: _StationRt | Buffer | None,
              dst: _StationRt | Buffer) -> None:
        if not self.transport:
            self._leave(w, src)
            self._deliver(w, dst)
            return
        pickup = src.spec.node if isinstance(src, _StationRt) else src.node  # type: ignore[union-attr]
        drop = dst.spec.node if isinstance(dst, _StationRt) else dst.node
        mv = _Move(w, src, dst, pickup, drop)
        idle = [a for a in self._agvs.values() if a.idle]
        if not idle:
            self._transport_queue.append(mv)
            return
        a = min(idle, key=lambda a: self._path(a.node, pickup).total)
        a.idle = False
        a.job = mv
        if a.wake is not None and not a.wake.triggered:
            a.wake.succeed()

    def _leave(self, w: _Wip, src: _StationRt | Buffer | None) -> None:
        """``w`` is taken out of ``src``'s output buffer (a blocked station may go on)."""
        if isinstance(src, _StationRt):
            src.output.remove(w)
            if src.space is not None and not src.space.triggered:
                src.space.succeed()

    def _deliver(self, w: _Wip, dst: _StationRt | Buffer) -> None:
        if isinstance(dst, _StationRt):
            dst.incoming -= 1
            self._seq += 1
            w.seq = self._seq
            dst.queue.append(w)
            s = dst.spec
            self._emit_wip(w, "waiting", s.x, s.y, station=s.id)
            self._emit_station(dst)
            if dst.wake is not None and not dst.wake.triggered:
                dst.wake.succeed()
        else:
            self._complete(w)

    # -- stations --------------------------------------------------------------------
    def _selector(self, rule: str) -> Callable[[_StationRt], _Wip]:
        if rule == "fifo":
            return lambda st: min(st.queue, key=lambda w: w.seq)
        if rule == "spt":
            return lambda st: min(
                st.queue, key=lambda w: (st.spec.processes[w.process], w.seq))
        if rule == "lpt":
            return lambda st: min(
                st.queue, key=lambda w: (-st.spec.processes[w.process], w.seq))
        if rule == "mwkr":
            return lambda st: min(st.queue, key=lambda w: (-w.remaining_work[w.step], w.seq))
        return lambda st: min(st.queue, key=lambda w: (w.order.due_s, w.seq))

    def _station_loop(self, st: _StationRt,
                      resume: tuple[_Wip, float, bool] | None = None) -> Iterator[simpy.Event]:
        """The station's life; ``resume`` = (part, remaining processing [s], operation
        done) for a station that holds a part when the run starts from a state."""
        env = self.env
        spec = st.spec
        if resume is not None:
            w, remaining, done = resume
            if not done:
                yield from self._work(st, "processing", remaining)
            w.step += 1
            yield from self._unload(st, w)
        while True:
            while not st.queue or st.down:
                if st.down:
                    assert st.repaired is not None
                    yield st.repaired
                else:
                    st.phase = "idle"
                    self._emit_station(st)
                    st.wake = env.event()
                    yield st.wake
                    st.wake = None
            w = self._select(st)
            st.queue.remove(w)
            st.current = w
            self._slot_freed()
            proc = w.process
            setup_key = (w.product.id, proc)
            if st.last_process is not None and setup_key != st.last_process and spec.setup_s > 0:
                yield from self._work(st, "setup", self._duration(st, spec.setup_s))
            st.last_process = setup_key
            factor = self.scenario.station_factor(st.id, float(env.now))
            duration = self._duration(st, spec.processes[proc]) * factor
            self._emit_wip(w, "processing", spec.x, spec.y, station=st.id)
            yield from self._work(st, "processing", duration)
            w.step += 1
            yield from self._unload(st, w)

    def _unload(self, st: _StationRt, w: _Wip) -> Iterator[simpy.Event]:
        """Put the finished part ``w`` into the output buffer (blocked while it is full)
        and send it on."""
        env = self.env
        spec = st.spec
        if len(st.output) >= spec.output_capacity:
            st.phase = "blocked"
            self._emit_station(st)
            while len(st.output) >= spec.output_capacity or st.down:
                if st.down:
                    assert st.repaired is not None
                    yield st.repaired
                else:
                    st.space = env.event()
                    yield st.space
                    st.space = None
        st.output.append(w)
        st.current = None
        st.phase = "idle"
        if self.transport:
            self._emit_wip(w, "waiting", spec.x, spec.y, station=st.id)
        self._route_next(w, st)

    def _work(self, st: _StationRt, phase: str, duration: float) -> Iterator[simpy.Event]:
        """Spend ``duration`` [s] in ``phase``, pausing while the station is down."""
        env = self.env
        remaining = duration
        while True:
            if st.down:
                try:
                    assert st.repaired is not None
                    yield st.repaired
                except simpy.Interrupt:
                    pass
                continue
            st.phase = phase
            self._emit_station(st)
            start = env.now
            try:
                yield env.timeout(remaining)
                return
            except simpy.Interrupt:
                remaining = max(0.0, remaining - (env.now - start))

    def break_down(self, station: str, duration_s: float) -> None:
        """Put ``station`` down now for ``duration_s`` seconds (extends a running repair)."""
        st = self._stations[station]
        until = float(self.env.now) + duration_s
        if st.down:
            st.down_until = max(st.down_until, until)
            return
        st.down = True
        st.down_until = until
        st.repaired = self.env.event()
        self._emit_station(st)
        if st.phase in ("setup", "processing") and st.proc is not None and st.proc.is_alive:
            st.proc.interrupt("down")
        self.env.process(self._repair(st))

    def _repair(self, st: _StationRt) -> Iterator[simpy.Event]:
        env = self.env
        while env.now < st.down_until:
            yield env.timeout(st.down_until - env.now)
        st.down = False
        ev = st.repaired
        st.repaired = None
        assert ev is not None
        ev.succeed()
        if st.phase in ("idle", "blocked"):
            self._emit_station(st)

    def _failures(self, st: _StationRt, rng: random.Random) -> Iterator[simpy.Event]:
        mtbf_s = st.spec.mtbf_h * 3600.0
        mttr_s = st.spec.mttr_min * 60.0
        while True:
            yield self.env.timeout(rng.expovariate(1.0 / mtbf_s))
            self.break_down(st.id, rng.expovariate(1.0 / mttr_s))
            while st.down:
                assert st.repaired is not None
                yield st.repaired

    def _scheduled_breakdown(self, station: str, start_s: float,
                             duration_s: float) -> Iterator[simpy.Event]:
        if start_s > self.env.now:
            yield self.env.timeout(start_s - self.env.now)
        self.break_down(station, duration_s)

    # -- AGVs ------------------------------------------------------------------------
    def _path(self, a: str, b: str) -> _Path:
        key = (a, b)
        p = self._paths.get(key)
        if p is None:
            nodes, _ = self.workshop.shortest_path(a, b)
            pts = [(self.workshop.nodes[n].x, self.workshop.nodes[n].y) for n in nodes]
            lengths = [math.hypot(q[0] - p0[0], q[1] - p0[1]) for p0, q in zip(pts, pts[1:])]
            heads = [math.degrees(math.atan2(q[1] - p0[1], q[0] - p0[0])) % 360.0
                     for p0, q in zip(pts, pts[1:])]
            p = _Path(nodes, pts, lengths, heads)
            self._paths[key] = p
        return p

    def _agv_loop(self, a: _AgvRt) -> Iterator[simpy.Event]:
        env = self.env
        spec = a.spec
        while True:
            if a.job is None:
                if self._transport_queue:
                    a.job = self._transport_queue.popleft()
                    a.idle = False
                else:
                    a.idle = True
                    if a.last_state != "idle":
                        self._emit_agv(a, "idle")
                    a.wake = env.event()
                    yield a.wake
                    a.wake = None
                    continue
            mv = a.job
            assert mv is not None
            src_id = _place_id(mv.src)
            dst_id = _place_id(mv.dst)
            if not mv.loaded:
                yield from self._drive(a, mv.pickup, src_id, carrying=False)
                self._emit_agv(a, "loading", src_id)
                yield env.timeout(spec.load_s)
                self._leave(mv.wip, mv.src)
                self._emit_wip(mv.wip, "transporting", a.x, a.y, station=dst_id, agv=a.id)
            yield from self._drive(a, mv.drop, dst_id, carrying=True)
            self._emit_agv(a, "unloading", dst_id)
            yield env.timeout(spec.unload_s)
            a.job = None
            self._deliver(mv.wip, mv.dst)

    def _drive(self, a: _AgvRt, target: str, station: str,
               carrying: bool) -> Iterator[simpy.Event]:
        """Drive ``a`` to aisle node ``target`` (``station`` names the station there, ""
        for storage), queueing position samples; ``carrying`` = with its job's part."""
        if a.node == target:
            return
        path = self._path(a.node, target)
        now = float(self.env.now)
        factor = self.scenario.agv_factor(a.id, now)
        speed = a.spec.speed / factor
        dt_max = self.position_interval_s
        w = a.job.wip if a.job is not None and carrying else None
        wid = w.id if w else ""
        oid = w.order.spec.id if w else ""
        pending = self._pending
        push = heapq.heappush
        # first sample now, with energy for the state that ends here
        energy = self._agv_energy(a, now, "moving")
        t = now
        x0, y0 = path.points[0]
        heading = path.headings[0]
        self._emit(Event(now, a.id, "agv", "moving", x0, y0, heading, station, wid, oid, "",
                         a.id, None, energy))
        power_h = AGV_POWER_KW["moving"] / 3600.0
        last_t = now
        for i, (length, heading) in enumerate(zip(path.lengths, path.headings)):
            seg_t = length / speed
            (xa, ya), (xb, yb) = path.points[i], path.points[i + 1]
            n = max(1, math.ceil(seg_t / dt_max - 1e-9))
            step = seg_t / n
            for k in range(n):
                ts = t + k * step
                if ts == now:
                    continue
                f = k / n
                self._pseq += 1
                push(pending, (ts, self._pseq, Event(
                    ts, a.id, "agv", "moving", xa + (xb - xa) * f, ya + (yb - ya) * f,
                    heading, station, wid, oid, "", a.id, None, (ts - last_t) * power_h)))
                last_t = ts
            t += seg_t
        end = now + path.total / speed
        yield self.env.timeout(end - now)
        a.last_t = last_t
        a.node = target
        a.x, a.y = path.points[-1]
        a.heading = path.headings[-1]


def _max_number(ids: Sequence[str] | set[str] | frozenset[str], prefix: str) -> int:
    """Largest ``n`` of the ids spelt ``<prefix><n>`` (0 if none): new ids continue after it."""
    best = 0
    for i in ids:
        if i.startswith(prefix) and i[len(prefix):].isdigit():
            best = max(best, int(i[len(prefix):]))
    return best


def _place_id(p: _StationRt | Buffer | None) -> str:
    """Station id for event references; storage is told by position, not by id."""
    return p.id if isinstance(p, _StationRt) else ""


# ------------------------------------------------------------------------------------
# live pacing
# ------------------------------------------------------------------------------------


class Pace:
    """Wall-clock time -> simulated time at ``factor`` simulated seconds per real second.

    Thread-safe: a GUI thread may :meth:`set_factor` while a worker asks :meth:`target`.
    Changing the factor re-anchors the mapping, so simulated time never jumps.
    """

    def __init__(self, factor: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._factor = self._checked(factor)
        self._clock = clock
        self._lock = threading.Lock()
        self._anchor_wall: float | None = None
        self._anchor_sim = 0.0

    @staticmethod
    def _checked(factor: float) -> float:
        if not (factor > 0 and math.isfinite(factor)):
            raise SimulationError(f"pace factor must be a positive number, got {factor!r}")
        return float(factor)

    @property
    def factor(self) -> float:
        return self._factor

    def start(self, sim_t: float) -> None:
        """Anchor: simulated time ``sim_t`` [s] is now."""
        with self._lock:
            self._anchor_wall = self._clock()
            self._anchor_sim = float(sim_t)

    def set_factor(self, factor: float) -> None:
        """Change the pace from now on (simulated time continues where it is)."""
        factor = self._checked(factor)
        with self._lock:
            if self._anchor_wall is not None:
                now = self._clock()
                self._anchor_sim = self._target(now)
                self._anchor_wall = now
            self._factor = factor

    def target(self) -> float:
        """Simulated time [s] that should have been reached by now (needs :meth:`start`)."""
        with self._lock:
            return self._target(self._clock())

    def _target(self, wall: float) -> float:
        assert self._anchor_wall is not None, "Pace.start() first"
        return self._anchor_sim + (wall - self._anchor_wall) * self._factor
