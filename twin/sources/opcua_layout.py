"""The OPC UA node layout DMW Twin publishes and subscribes to, and its mapping to our states.

Our own layout, modelled on the OPC UA for Machinery (OPC 40001-1: ``MachineryItemState``,
``MachineryOperationMode``) and Machine Tool (OPC 40501-1: ``Production/ActiveProgram``,
parts counters) companion specifications; it is *not* a certified implementation of them.
Every node lives in the namespace :data:`NAMESPACE_URI`, whose index a client looks up in
the server's NamespaceArray at run time; nodes are found by BrowseName path, never by a
numeric NodeId. The layout, the mapping and the fallbacks are documented in
docs/connectors.md (section "OPC UA").

Pure data and functions: no asyncua import, so both the server and the client (and tests)
share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Namespace of every DMW Twin node (an application-independent URI of our own).
NAMESPACE_URI = "urn:dmw-twin:shop"

#: Folders under ``Objects``.
MACHINES, AGVS, SHOP = "Machines", "AGVs", "Shop"

# -- values of the Machinery state variables -----------------------------------------
EXECUTING, NOT_EXECUTING, OUT_OF_SERVICE, NOT_AVAILABLE = "Executing", "NotExecuting", "OutOfService", "NotAvailable"
ITEM_STATES = (EXECUTING, NOT_EXECUTING, OUT_OF_SERVICE, NOT_AVAILABLE)
SETUP, PROCESSING, MAINTENANCE, NONE = "Setup", "Processing", "Maintenance", "None"
OPERATION_MODES = (SETUP, PROCESSING, MAINTENANCE, NONE)


@dataclass(frozen=True)
class Var:
    """One variable of an entity: its BrowseName path below the entity's object, the OPC UA
    data type (``String``, ``Boolean``, ``Double``, ``UInt32``, ``DateTime``), the Event
    field it feeds (``""`` = shown to OPC UA clients only) and the unit."""

    path: tuple[str, ...]
    type: str
    field: str = ""
    unit: str = ""

    @property
    def name(self) -> str:
        return "/".join(self.path)


#: ``Objects/Machines/<station id>/…``
MACHINE_VARS: tuple[Var, ...] = (
    Var(("ItemState",), "String", "state"),
    Var(("OperationMode",), "String", "state"),
    Var(("Blocked",), "Boolean", "state"),
    Var(("Production", "ActiveProgram", "Name"), "String", "process"),
    Var(("Production", "ActiveProgram", "JobId"), "String", "order"),
    Var(("Production", "ActiveProgram", "WipId"), "String", "wip"),
    Var(("Production", "ActiveProgram", "ProductId"), "String", "product"),
    Var(("Production", "QueueLength"), "UInt32", "queue", "parts"),
    Var(("Production", "PartsCounter"), "UInt32", "", "parts"),
)

#: ``Objects/AGVs/<agv id>/…``
AGV_VARS: tuple[Var, ...] = (
    Var(("X",), "Double", "x", "m"),
    Var(("Y",), "Double", "y", "m"),
    Var(("Heading",), "Double", "heading", "deg"),
    Var(("State",), "String", "state"),
    Var(("Load",), "String", "wip"),
    Var(("Station",), "String", "station"),
)

#: ``Objects/Shop/…``: when shift time 0 was (UTC) and which workshop is published.
SHOP_VARS: tuple[Var, ...] = (
    Var(("ShiftStart",), "DateTime"),
    Var(("Workshop",), "String"),
)

AGV_STATES = ("idle", "moving", "loading", "unloading", "charging")


def machine_values(state: str, *, process: str = "", order: str = "", wip: str = "",
                   product: str = "", queue: float | None = None) -> dict[str, Any]:
    """Node values (by :attr:`Var.name`) for a station event: our state → Machinery state.

    ======================  ============  =============  =======
    our station state       ItemState     OperationMode  Blocked
    ======================  ============  =============  =======
    processing              Executing     Processing     false
    setup                   Executing     Setup          false
    idle                    NotExecuting  Processing     false
    blocked                 NotExecuting  Processing     true
    down                    OutOfService  Maintenance    false
    off                     NotAvailable  None           false
    ======================  ============  =============  =======
    """
    item, mode, blocked = {
        "processing": (EXECUTING, PROCESSING, False),
        "setup": (EXECUTING, SETUP, False),
        "idle": (NOT_EXECUTING, PROCESSING, False),
        "blocked": (NOT_EXECUTING, PROCESSING, True),
        "down": (OUT_OF_SERVICE, MAINTENANCE, False),
        "off": (NOT_AVAILABLE, NONE, False),
    }[state]
    busy = state not in ("idle", "down", "off")
    return {
        "ItemState": item, "OperationMode": mode, "Blocked": blocked,
        "Production/ActiveProgram/Name": process if busy else "",
        "Production/ActiveProgram/JobId": order if busy else "",
        "Production/ActiveProgram/WipId": wip if busy else "",
        "Production/ActiveProgram/ProductId": product if busy else "",
        "Production/QueueLength": int(queue) if queue is not None else 0,
    }


def station_state(item_state: Any, operation_mode: Any = None, blocked: Any = None) -> str | None:
    """Our station state from the Machinery variables; ``None`` when it cannot be told
    (no ItemState, or a value outside the specification).

    Fallbacks when a server lacks a node: no OperationMode → Executing is ``processing``;
    no Blocked → NotExecuting is ``idle``. NotAvailable (the machine reports nothing: switched
    off) is ``off`` — not a breakdown; OutOfService is ``down``, and so is OperationMode
    Maintenance whatever the item state."""
    if operation_mode == MAINTENANCE:
        return "down"
    if item_state == EXECUTING:
        return "setup" if operation_mode == SETUP else "processing"
    if item_state == NOT_EXECUTING:
        return "blocked" if blocked is True else "idle"
    if item_state == NOT_AVAILABLE:
        return "off"
    if item_state == OUT_OF_SERVICE:
        return "down"
    return None


def agv_values(state: str, *, x: float | None, y: float | None, heading: float | None,
               wip: str = "", station: str = "") -> dict[str, Any]:
    """Node values (by :attr:`Var.name`) for an AGV event (positions in metres, degrees)."""
    out: dict[str, Any] = {"State": state, "Load": wip, "Station": station}
    for name, v in (("X", x), ("Y", y), ("Heading", heading)):
        if v is not None:
            out[name] = float(v)
    return out
