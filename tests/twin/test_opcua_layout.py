"""Our mapping between station states and the Machinery state variables (docs/connectors.md)."""

from __future__ import annotations

import pytest

from twin.events import STATES
from twin.sources.opcua_layout import ITEM_STATES, OPERATION_MODES, machine_values, station_state


@pytest.mark.parametrize("state", STATES["station"])
def test_every_station_state_survives_the_round_trip(state: str) -> None:
    v = machine_values(state, process="turn", order="O1", wip="W1", queue=3.0)
    assert v["ItemState"] in ITEM_STATES and v["OperationMode"] in OPERATION_MODES
    assert station_state(v["ItemState"], v["OperationMode"], v["Blocked"]) == state


def test_the_mapping_table() -> None:
    table = {s: (machine_values(s)["ItemState"], machine_values(s)["OperationMode"], machine_values(s)["Blocked"])
             for s in STATES["station"]}
    assert table == {
        "idle": ("NotExecuting", "Processing", False),
        "setup": ("Executing", "Setup", False),
        "processing": ("Executing", "Processing", False),
        "blocked": ("NotExecuting", "Processing", True),
        "down": ("OutOfService", "Maintenance", False),
        "off": ("NotAvailable", "None", False),
    }


def test_a_machine_at_rest_names_no_job() -> None:
    assert machine_values("idle", process="turn", order="O1", wip="W1")["Production/ActiveProgram/WipId"] == ""
    assert machine_values("blocked", wip="W1")["Production/ActiveProgram/WipId"] == "W1"


@pytest.mark.parametrize(("item", "mode", "blocked", "state"), [
    ("Executing", None, None, "processing"),      # no OperationMode node
    ("NotExecuting", None, None, "idle"),         # no Blocked node
    ("NotExecuting", "Processing", None, "idle"),
    ("NotAvailable", None, None, "off"),          # switched off / reporting nothing: not a breakdown
    ("Executing", "Maintenance", False, "down"),  # maintenance wins
    ("OutOfService", "None", None, "down"),
    ("Running", None, None, None),                # not a MachineryItemState: not guessed
    (None, "Processing", None, None),             # no ItemState: nothing to say
])
def test_fallbacks_when_a_server_lacks_a_node_or_sends_nonsense(item: object, mode: object, blocked: object,
                                                                 state: str | None) -> None:
    assert station_state(item, mode, blocked) == state
