"""Shop-floor events: the one record every source, recording and consumer speaks.

An event is the paper's da(k) = {k, position, element id, state}: at time ``t`` (seconds
since the start of the shift) entity ``entity`` of ``kind`` entered ``state``, optionally
at position ``x``/``y`` (metres, floor plan, Z up) facing ``heading`` (degrees,
counter-clockwise from +X), with references to the related station, WIP, order, process
and AGV.

Events are validated at the boundary (:func:`parse_event`): a malformed event raises
:class:`EventError` with a reason; it never crashes a source, writer or the app.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: Entity kinds and the states each may take (the behaviour model's state machines).
STATES: dict[str, tuple[str, ...]] = {
    # "off": switched off / not reporting (MTConnect UNAVAILABLE) -- neither working time
    # nor a breakdown (see docs/connectors.md)
    "station": ("idle", "setup", "processing", "blocked", "down", "off"),
    "agv": ("idle", "moving", "loading", "unloading", "charging"),
    "wip": ("waiting", "transporting", "processing", "completed"),
    "order": ("released", "completed"),
}
KINDS: tuple[str, ...] = tuple(STATES)

#: Reference fields (entity ids), empty string when not applicable.
REF_FIELDS: tuple[str, ...] = ("station", "wip", "order", "process", "agv")
#: Optional numeric fields, ``None`` when not applicable.
FLOAT_FIELDS: tuple[str, ...] = ("x", "y", "heading", "queue", "energy", "quantity", "due")
#: What an MES knows of an order (on ``order`` events; WIP events carry ``product``).
#: Added in format version 2: recordings written before have them empty / ``None``.
ORDER_FIELDS: tuple[str, ...] = ("product", "quantity", "due")
#: Column order used by CSV export and tabular storage.
COLUMNS: tuple[str, ...] = (
    "t", "entity", "kind", "state", "x", "y", "heading", *REF_FIELDS, "queue", "energy",
    *ORDER_FIELDS,
)


class EventError(ValueError):
    """A malformed event; ``str(err)`` is the reason, fit to show a user."""


@dataclass(frozen=True, slots=True)
class Event:
    """One state change of one shop-floor entity.

    Attributes:
        t: time in seconds since the start of the recording/shift (>= 0).
        entity: entity id, e.g. ``"S07"``, ``"AGV2"``, ``"W0153"``, ``"O0042"``.
        kind: one of :data:`KINDS`.
        state: one of ``STATES[kind]``.
        x, y: position in metres on the floor plan (None if not applicable).
        heading: degrees counter-clockwise from +X (None if not applicable).
        station, wip, order, process, agv: ids of related entities ("" if none).
            A station in ``processing`` names its WIP in ``wip``; a WIP names the
            station it is at or the AGV carrying it.
        queue: number of WIP waiting at a station (stations only, optional).
        energy: energy used since the previous event of this entity, kWh (optional).
        product: product id of an order or WIP ("" if not applicable or not recorded).
        quantity: parts ordered (``order`` events, optional).
        due: due time of an order, seconds since the start of the shift (``order``
            events, optional; ``None`` = no due date or not recorded).
    """

    t: float
    entity: str
    kind: str
    state: str
    x: float | None = None
    y: float | None = None
    heading: float | None = None
    station: str = ""
    wip: str = ""
    order: str = ""
    process: str = ""
    agv: str = ""
    queue: float | None = None
    energy: float | None = None
    product: str = ""
    quantity: float | None = None
    due: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict without the fields that are not applicable."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EventError(f"field '{name}' must be a number, got {value!r}")
    f = float(value)
    if not math.isfinite(f):
        raise EventError(f"field '{name}' must be finite, got {value!r}")
    return f


_COLUMN_SET = frozenset(COLUMNS)
_STRING_FIELDS: tuple[str, ...] = (*REF_FIELDS, "product")
_isfinite = math.isfinite


def _is_canonical(ev: Event) -> bool:
    """True if ``ev`` is exactly what :func:`parse_event` would build from its fields: valid,
    with every number already a finite ``float`` (not an int, bool or NaN) and every id a
    ``str``. An event a source built with :func:`parse_event` passes this in a few
    microseconds, so validating it again at the next boundary costs little. Anything else
    (an int time, a bad field) returns False and goes the slow way, which converts or
    names the offending field."""
    t = ev.t
    if type(t) is not float or not (t >= 0.0 and _isfinite(t)):
        return False
    entity = ev.entity
    if type(entity) is not str or not entity.strip():
        return False
    states = STATES.get(ev.kind) if type(ev.kind) is str else None
    if states is None or ev.state not in states:
        return False
    for v in (ev.x, ev.y, ev.heading, ev.queue, ev.energy, ev.due):
        if v is not None and (type(v) is not float or not _isfinite(v)):
            return False
    q = ev.quantity
    if q is not None and (type(q) is not float or not _isfinite(q) or q < 1 or q != int(q)):
        return False
    return (type(ev.station) is str and type(ev.wip) is str and type(ev.order) is str
            and type(ev.process) is str and type(ev.agv) is str and type(ev.product) is str)


def parse_event(obj: Any) -> Event:
    """Validate a mapping (e.g. decoded JSON) and build an :class:`Event`.

    Raises :class:`EventError` naming the offending field. Unknown fields are rejected
    so that typos in a connector's payload are noticed, not silently dropped.
    """
    if isinstance(obj, Event):
        if _is_canonical(obj):
            return obj  # already what parse_event builds: nothing to convert
        obj = {name: getattr(obj, name) for name in COLUMNS}  # asdict() deep-copies: slow
    if type(obj) is not dict and not isinstance(obj, Mapping):  # dict: skip the ABC check
        raise EventError(f"event must be an object, got {type(obj).__name__}")
    unknown = obj.keys() - _COLUMN_SET
    if unknown:
        raise EventError(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    for req in ("t", "entity", "kind", "state"):
        if req not in obj or obj[req] is None:
            raise EventError(f"missing field '{req}'")
    t = _finite("t", obj["t"])
    if t < 0:
        raise EventError(f"field 't' must be >= 0 s, got {t}")
    entity = obj["entity"]
    if not isinstance(entity, str) or not entity.strip():
        raise EventError(f"field 'entity' must be a non-empty string, got {entity!r}")
    kind = obj["kind"]
    if kind not in STATES:
        raise EventError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    state = obj["state"]
    if state not in STATES[kind]:
        raise EventError(
            f"unknown state {state!r} for kind {kind!r} "
            f"(expected one of {', '.join(STATES[kind])})"
        )
    kw: dict[str, Any] = {}
    get = obj.get
    for f in FLOAT_FIELDS:
        v = get(f)
        kw[f] = v if v is None or (type(v) is float and _isfinite(v)) else _finite(f, v)
    if kw["quantity"] is not None and (kw["quantity"] < 1 or kw["quantity"] != int(kw["quantity"])):
        raise EventError(f"field 'quantity' must be a whole number >= 1, got {kw['quantity']!r}")
    for f in _STRING_FIELDS:
        v = get(f)
        if v is None:
            v = ""
        elif type(v) is not str and not isinstance(v, str):
            raise EventError(f"field '{f}' must be a string id, got {v!r}")
        kw[f] = v
    return Event(t=t, entity=entity, kind=kind, state=state, **kw)
