"""The recorded shop state at a moment, as the simulator's starting point.

:func:`shop_state` reads a recording (also one still being written) up to ``at`` seconds
and says where everything is, in the workshop's terms: every open order with what is left
of it, every part at its route step and place (raw store, a station's queue, in process
with the processing time it already had, in a station's output buffer, on an AGV), every
station's state and every AGV's position (snapped to the nearest aisle node). Whatever the
workshop cannot place (unknown station, AGV or product, a route step the model's route
does not have) is listed in :attr:`ShopState.unplaced` by id and reason, never dropped
silently.

    state = shop_state(rec, 4 * 3600.0, workshop)
    sim = Simulator(workshop, start=state, seed=1)    # continues from 04:00:00

Only facts from the recording are here; the model's estimates (remaining processing and
repair times) are the simulator's (:meth:`twin.simulator.Simulator.expected_remaining_s`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.clock import format_clock
from twin.recording import Recording
from twin.replay import ReplayError, check_workshop, recorded_orders
from twin.workshop import Order, Workshop

#: Where a part can be: raw store, a station's input queue, in a station's hands
#: (processing, setup or blocked with it), a station's output buffer, on an AGV.
PLACES: tuple[str, ...] = ("raw", "queue", "station", "output", "agv")


@dataclass(frozen=True)
class WipAt:
    """One part in the state.

    Attributes:
        wip, order, product: ids.
        step: index of the route step it is at (being processed or waiting for), or the
            next one (in an output buffer, on an AGV); ``len(route)`` = route finished.
        place: one of :data:`PLACES`.
        station: the station of ``queue``/``station``/``output``; for ``agv`` the
            destination station ("" = the finished-goods store).
        agv: the AGV carrying it (place ``agv``).
        elapsed_s: processing time it already had at the station [s] (down time excluded).
        in_setup: the station was still setting up for it; ``setup_elapsed_s`` of setup done.
        operation_done: the station holds it finished, blocked by a full output buffer.
        since: time of its latest event [s] (orders the parts that wait).
    """

    wip: str
    order: str
    product: str
    step: int
    place: str
    station: str = ""
    agv: str = ""
    elapsed_s: float = 0.0
    in_setup: bool = False
    setup_elapsed_s: float = 0.0
    operation_done: bool = False
    since: float = 0.0


@dataclass(frozen=True)
class StationAt:
    """A station's state at t; ``product``/``process``: what it was last set up for."""

    station: str
    state: str
    product: str = ""
    process: str = ""
    since: float = 0.0


@dataclass(frozen=True)
class AgvAt:
    """An AGV at t: recorded position ``x``, ``y`` [m], ``heading`` [deg], nearest aisle
    ``node``, recorded ``state``."""

    agv: str
    x: float
    y: float
    heading: float
    node: str
    state: str


@dataclass(frozen=True)
class OpenOrder:
    """A released, not yet completed order and how many of its parts are ``completed``."""

    order: Order
    completed: int


@dataclass(frozen=True)
class Unplaced:
    """An entity of the recording the workshop cannot place, and why."""

    entity: str
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.entity} ({self.kind}): {self.reason}"


@dataclass
class ShopState:
    """The shop at ``t`` seconds, ready for ``Simulator(..., start=state)``.

    ``order_ids`` / ``wip_ids``: every order / part id seen up to ``t`` (new ones continue
    after them). ``completed_parts`` / ``completed_orders``: finished up to ``t``.
    ``later_orders``: orders the recording released after ``t`` (when it has them), for
    order replay of the rest of the shift.
    """

    t: float
    orders: list[OpenOrder] = field(default_factory=list)
    wips: list[WipAt] = field(default_factory=list)
    stations: dict[str, StationAt] = field(default_factory=dict)
    agvs: dict[str, AgvAt] = field(default_factory=dict)
    unplaced: list[Unplaced] = field(default_factory=list)
    order_ids: set[str] = field(default_factory=set)
    wip_ids: set[str] = field(default_factory=set)
    completed_parts: int = 0
    completed_orders: int = 0
    later_orders: list[Order] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts for a CLI line or ``--json``."""
        places: dict[str, int] = dict.fromkeys(PLACES, 0)
        for w in self.wips:
            places[w.place] += 1
        return {
            "t": self.t,
            "open_orders": len(self.orders),
            "wip": len(self.wips),
            "wip_by_place": places,
            "stations_down": sorted(s.station for s in self.stations.values() if s.state == "down"),
            "completed_parts": self.completed_parts,
            "completed_orders": self.completed_orders,
            "later_orders": len(self.later_orders),
            "unplaced": [{"entity": u.entity, "kind": u.kind, "reason": u.reason}
                         for u in self.unplaced],
        }


def shop_state(rec: Recording, at: float, workshop: Workshop) -> ShopState:
    """The state of ``rec`` at ``at`` seconds, placed in ``workshop``.

    Raises :class:`~twin.replay.ReplayError` when ``at`` is outside the recording, the
    recording is of another workshop, or it has no order details (format version 1).
    """
    check_workshop(rec, workshop)
    t_first, t_last = rec.time_range
    if not (math.isfinite(at) and at >= 0):
        raise ReplayError(f"{rec.path}: time must be a number of seconds >= 0, got {at}")
    if at > t_last:
        raise ReplayError(f"{rec.path}: {format_clock(at, nearest=True)} is past the end of the recording "
                          f"(it ends at {format_clock(t_last, nearest=True)})")
    state = ShopState(t=float(at))
    open_by_id: dict[str, Order] = {}
    for o in recorded_orders(rec, workshop, t1=at, strict=False):
        if o.product in workshop.products:
            open_by_id[o.id] = o
        else:
            state.order_ids.add(o.id)
            state.unplaced.append(Unplaced(o.id, "order", f"unknown product {o.product!r}"))
    for o in recorded_orders(rec, workshop, t0=at, strict=False):
        if o.release_s <= at:
            continue
        if o.product in workshop.products:
            state.later_orders.append(o)
        else:
            state.unplaced.append(Unplaced(o.id, "order", f"unknown product {o.product!r} "
                                           f"(released later, at {o.release_s:.0f} s)"))
    cols = rec.columns(-math.inf, at)
    strings = cols.strings
    code = cols.codes.get
    latest = rec.latest_rows(at)
    latest = latest[latest < len(cols)]

    def s(i: int) -> str:
        return str(strings[i])

    k_station, k_agv, k_wip, k_order = (code(k, -1) for k in ("station", "agv", "wip", "order"))
    c_processing, c_waiting = code("processing", -1), code("waiting", -1)
    kind, st_code, ent = cols.kind, cols.state, cols.entity

    # per-part history: operations started, latest non-waiting row, latest processing row
    wip_rows = np.flatnonzero(kind == k_wip)
    proc_rows = wip_rows[st_code[wip_rows] == c_processing]
    n_ops = np.bincount(ent[proc_rows], minlength=len(strings))
    last_proc = _last_row_by_entity(ent, proc_rows)
    moved_rows = wip_rows[st_code[wip_rows] != c_waiting]
    last_moved = _last_row_by_entity(ent, moved_rows)
    station_rows = np.flatnonzero(kind == k_station)
    st_proc_rows = station_rows[st_code[station_rows] == code("processing", -1)]
    last_station_proc = _last_row_by_entity(ent, st_proc_rows)

    station_latest: dict[str, int] = {}
    wip_latest: list[int] = []
    for r in latest.tolist():
        k = kind[r]
        name = s(ent[r])
        if k == k_station:
            station_latest[name] = r
        elif k == k_agv:
            if name not in workshop.agvs:
                state.unplaced.append(Unplaced(name, "agv", "unknown AGV (not in the workshop)"))
                continue
            node = _nearest_node(workshop, float(cols.x[r]), float(cols.y[r]))
            state.agvs[name] = AgvAt(name, float(cols.x[r]), float(cols.y[r]),
                                     0.0 if math.isnan(cols.heading[r]) else float(cols.heading[r]),
                                     node, s(st_code[r]))
        elif k == k_wip:
            state.wip_ids.add(name)
            wip_latest.append(r)
        elif k == k_order:
            state.order_ids.add(name)
            if s(st_code[r]) == "completed":
                state.completed_orders += 1
    for name, r in station_latest.items():
        if name not in workshop.stations:
            state.unplaced.append(Unplaced(name, "station", "unknown station (not in the workshop)"))
            continue
        lp = last_station_proc.get(int(ent[r]))
        state.stations[name] = StationAt(
            name, s(st_code[r]),
            product=s(cols.product[lp]) if lp is not None else "",
            process=s(cols.process[lp]) if lp is not None else "",
            since=float(cols.t[r]))

    completed_by_order: dict[str, int] = {}
    placed: list[WipAt] = []
    for r in wip_latest:
        wid, oid = s(ent[r]), s(cols.order[r])
        wstate = s(st_code[r])
        if wstate == "completed":
            state.completed_parts += 1
            completed_by_order[oid] = completed_by_order.get(oid, 0) + 1
            continue
        order = open_by_id.get(oid)
        product = s(cols.product[r]) or (order.product if order else "")
        e = int(ent[r])
        steps = int(n_ops[e])
        station, agv, process = s(cols.station[r]), s(cols.agv[r]), s(cols.process[r])
        reason = _problem(workshop, order, oid, product, station, agv)
        if reason:
            state.unplaced.append(Unplaced(wid, "wip", reason))
            continue
        since = float(cols.t[r])
        if wstate == "processing":
            step = steps - 1
            srow = station_latest.get(station)
            blocked = (srow is not None and s(st_code[srow]) == "blocked"
                       and s(cols.wip[srow]) == wid)
            t_start = float(cols.t[last_proc[e]])
            w = WipAt(wid, oid, product, step, "station", station=station,
                      elapsed_s=_time_in(cols, station, t_start, at, "processing"),
                      operation_done=blocked, since=since)
        elif wstate == "transporting":
            w = WipAt(wid, oid, product, steps, "agv", station=station, agv=agv, since=since)
        elif not station:
            w = WipAt(wid, oid, product, steps, "raw", since=since)
        else:
            lm = last_moved.get(e)
            after_op = (lm is not None and st_code[lm] == c_processing
                        and s(cols.station[lm]) == station)
            srow = station_latest.get(station)
            in_hand = (not after_op and srow is not None and s(cols.wip[srow]) == wid
                       and s(st_code[srow]) in ("setup", "down"))
            if after_op:
                w = WipAt(wid, oid, product, steps, "output", station=station, since=since)
            elif in_hand:
                w = WipAt(wid, oid, product, steps, "station", station=station, in_setup=True,
                          setup_elapsed_s=_time_in(cols, station, since, at, "setup"),
                          since=since)
            else:
                w = WipAt(wid, oid, product, steps, "queue", station=station, since=since)
        reason = _step_problem(workshop, w, process)
        if reason:
            state.unplaced.append(Unplaced(wid, "wip", reason))
            continue
        placed.append(w)
    latest_order_state = {s(ent[r]): s(st_code[r]) for r in latest.tolist() if kind[r] == k_order}
    for oid, order in open_by_id.items():
        if latest_order_state.get(oid) != "released":
            continue
        state.orders.append(OpenOrder(order, completed_by_order.get(oid, 0)))
    open_ids = {o.order.id for o in state.orders}
    state.wips = [w for w in placed if w.order in open_ids]
    return state


def _problem(workshop: Workshop, order: Order | None, oid: str, product: str,
             station: str, agv: str) -> str:
    if product not in workshop.products:
        return f"unknown product {product!r}"
    if order is None:
        return f"its order {oid!r} is not an open order of the recording"
    if station and station not in workshop.stations:
        return f"at unknown station {station!r}"
    if agv and agv not in workshop.agvs:
        return f"on unknown AGV {agv!r}"
    return ""


def _step_problem(workshop: Workshop, w: WipAt, process: str) -> str:
    route = workshop.products[w.product].route
    n = len(route)
    if w.place in ("output", "agv") and w.step <= n:
        if w.place == "agv" and w.station and (w.step >= n or w.station not in route[w.step].stations):
            return (f"on its way to {w.station}, which is not route step {w.step + 1} "
                    f"of product {w.product!r}")
        return ""
    if w.step >= n:
        return f"route finished: step {w.step + 1} of a {n}-step route of product {w.product!r}"
    rs = route[w.step]
    if w.place in ("queue", "station"):
        if w.station not in rs.stations or (process and process != rs.process):
            return (f"route step {w.step + 1} of product {w.product!r} is {rs.process!r} on "
                    f"{', '.join(rs.stations)}; recorded {process!r} at {w.station}")
    return ""


def _last_row_by_entity(entity: np.ndarray, rows: np.ndarray) -> dict[int, int]:
    """entity code -> its last row among ``rows`` (rows ascending)."""
    if not len(rows):
        return {}
    rev = rows[::-1]
    codes, idx = np.unique(entity[rev], return_index=True)
    return dict(zip(codes.tolist(), rev[idx].tolist()))


def _time_in(cols: Any, station: str, t0: float, t1: float, state: str) -> float:
    """Seconds ``station`` spent in ``state`` between ``t0`` and ``t1`` (its events)."""
    code = cols.codes.get(station, -1)
    rows = np.flatnonzero(cols.entity == code)
    if not len(rows):
        return 0.0
    t = cols.t[rows]
    states = cols.strings[cols.state[rows]]
    total = 0.0
    # state in force at t0 = the latest event at or before t0
    i0 = int(np.searchsorted(t, t0, side="right")) - 1
    cur = states[i0] if i0 >= 0 else ""
    last = t0
    for i in range(max(i0 + 1, 0), len(rows)):
        ti = float(t[i])
        if ti > t1:
            break
        if cur == state:
            total += ti - last
        cur, last = states[i], max(ti, t0)
    if cur == state:
        total += t1 - last
    return max(0.0, total)


def _nearest_node(workshop: Workshop, x: float, y: float) -> str:
    if math.isnan(x) or math.isnan(y):
        return next(iter(workshop.nodes))
    return min(workshop.nodes.values(), key=lambda n: (n.x - x) ** 2 + (n.y - y) ** 2).id

