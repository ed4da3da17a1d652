"""Order replay: the orders a recorded (physical) shift really released.

The virtual shop is only comparable with the physical one when both work on the same
demand. :func:`recorded_orders` reads the ``order`` events of a recording (format version
2 carries what an MES knows: product, quantity, due time) and the ids of the parts each
order released, so that ``Simulator(workshop, orders=recorded_orders(rec, workshop))``
releases exactly the recorded orders: same ids, products, quantities, due times, release
times and part ids.

    from twin.recording import open_recording
    from twin.replay import recorded_orders
    rec = open_recording("physical.twinlog")
    orders = recorded_orders(rec, workshop)          # list[twin.workshop.Order]

Recordings written before order details were recorded (format version 1) raise
:class:`ReplayError` with a message saying so; so does a recording of another workshop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from twin.recording import Recording
from twin.workshop import Order, Workshop


class ReplayError(ValueError):
    """A recording cannot drive the virtual shop; ``str(err)`` names the recording and why."""


def check_workshop(rec: Recording, workshop: Workshop) -> None:
    """Raise :class:`ReplayError` unless ``rec`` was recorded in ``workshop`` (same name
    and every recorded station known to it). A changed workshop file of the same shop
    (another model version) is accepted: that is what a virtual model is."""
    meta: Mapping[str, Any] = rec.meta
    name = meta.get("workshop")
    if name is not None and name != workshop.name:
        raise ReplayError(
            f"{rec.path}: recorded in workshop {name!r}, not in {workshop.name!r}")
    stations = meta.get("stations")
    if stations is None:
        stations = [e for e, k in rec.entities.items() if k == "station"]
    unknown = sorted(set(stations) - set(workshop.stations))
    if unknown:
        raise ReplayError(
            f"{rec.path}: stations {', '.join(unknown[:5])} are not in workshop "
            f"{workshop.name!r} (a recording of another workshop?)")


def recorded_orders(rec: Recording, workshop: Workshop | None = None,
                    t0: float = -math.inf, t1: float = math.inf, *,
                    strict: bool = True) -> list[Order]:
    """The orders released in ``rec`` with ``t0 <= release time <= t1``, in release order.

    Each :class:`~twin.workshop.Order` has the recorded id, product, quantity, release
    time, due time (``inf`` when the recording has none) and the ids of its parts (in
    the order they first appear). With ``workshop`` the recording must belong to it and
    every product must be known. Raises :class:`ReplayError` if the recording holds no
    order details (written before format version 2) or (``strict``) a product is unknown.
    """
    if workshop is not None:
        check_workshop(rec, workshop)
    cols = rec.columns()
    codes = cols.codes
    kind_order = codes.get("order", -1)
    released = codes.get("released", -1)
    rows = np.flatnonzero((cols.kind == kind_order) & (cols.state == released)
                          & (cols.t >= t0) & (cols.t <= t1))
    if len(rows) and (cols.product[rows] == 0).any():
        missing = cols.strings[cols.entity[rows[cols.product[rows] == 0][0]]]
        raise ReplayError(
            f"{rec.path}: order events carry no product/quantity (e.g. order {missing}); "
            "the recording was made before DMW Twin recorded order details "
            "(format version 1) - record the shift again to replay its orders")
    if len(rows) and np.isnan(cols.quantity[rows]).any():
        raise ReplayError(f"{rec.path}: order events carry a product but no quantity")
    parts = _parts_by_order(cols)
    strings = cols.strings
    out: list[Order] = []
    seen: set[str] = set()
    for r in rows.tolist():
        oid = str(strings[cols.entity[r]])
        if oid in seen:  # re-released at a start from a state: the first release counts
            continue
        seen.add(oid)
        product = str(strings[cols.product[r]])
        if strict and workshop is not None and product not in workshop.products:
            raise ReplayError(f"{rec.path}: order {oid} is for product {product!r}, "
                              f"which workshop {workshop.name!r} does not make")
        due = float(cols.due[r])
        quantity = int(cols.quantity[r])
        wips = parts.get(oid, ())
        out.append(Order(oid, product, quantity, float(cols.t[r]),
                         due if math.isfinite(due) else math.inf,
                         tuple(wips[:quantity]) if len(wips) >= quantity else ()))
    return out


def has_order_details(rec: Recording) -> bool:
    """True when the recording's order events name their product (format version 2)."""
    cols = rec.columns()
    rows = np.flatnonzero(cols.kind == cols.codes.get("order", -1))
    return bool(len(rows)) and bool((cols.product[rows] != 0).all())


def _parts_by_order(cols: Any) -> dict[str, list[str]]:
    """order id -> ids of its parts, in the order of each part's first event."""
    wip_kind = cols.codes.get("wip", -1)
    rows = np.flatnonzero(cols.kind == wip_kind)
    if not len(rows):
        return {}
    ent = cols.entity[rows]
    _, first = np.unique(ent, return_index=True)
    first_rows = rows[np.sort(first)]
    out: dict[str, list[str]] = {}
    strings = cols.strings
    for r in first_rows.tolist():
        out.setdefault(str(strings[cols.order[r]]), []).append(str(strings[cols.entity[r]]))
    return out
