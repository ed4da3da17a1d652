"""MTConnect: SHDR adapter logs and streams, the agent's device model, and the mapping of
a machine tool's observations (execution, mode, conditions, program, part count) to our
station states, parts and alarm annotations (see docs/connectors.md, section MTConnect).

* :mod:`twin.mtconnect.shdr` — one SHDR line → timestamp and observations;
* :mod:`twin.mtconnect.devices` — ``Devices.xml`` / ``/probe`` → devices and data items;
* :mod:`twin.mtconnect.mapping` — observations of one machine → station events;
* :mod:`twin.mtconnect.importer` — SHDR files → a ``.twinlog`` (``import-mtconnect``).
"""

from twin.mtconnect.devices import DataItem, Device, DeviceModel, DevicesError, load_devices, parse_devices
from twin.mtconnect.mapping import MachineTracker, Output
from twin.mtconnect.shdr import Condition, Observation, ShdrError, parse_line, parse_timestamp

__all__ = [
    "Condition", "DataItem", "Device", "DeviceModel", "DevicesError", "MachineTracker",
    "Observation", "Output", "ShdrError", "load_devices", "parse_devices", "parse_line",
    "parse_timestamp",
]
