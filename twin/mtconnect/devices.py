"""The MTConnect device model (``Devices.xml``, or an agent's ``/probe`` answer).

Only what the mapping needs: each device's name, id, description (manufacturer, model) and
its data items (id, name, type, sub-type, category). Parsed with the standard library's
``xml.etree`` (no DTD, no external entities); namespaces of any MTConnect version are
accepted.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


class DevicesError(ValueError):
    """A device model that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class DataItem:
    """One data item: ``id``, ``name`` (may be empty), ``type`` (e.g. ``EXECUTION``),
    ``sub_type``, ``category`` (``EVENT``, ``SAMPLE``, ``CONDITION``)."""

    id: str
    name: str
    type: str
    category: str
    sub_type: str = ""


@dataclass
class Device:
    """A machine of the agent: ``name`` (the station id we use), ``id``, ``uuid``,
    ``manufacturer``, ``model``, ``description`` and its data items."""

    name: str
    id: str
    uuid: str = ""
    manufacturer: str = ""
    model: str = ""
    description: str = ""
    items: list[DataItem] = field(default_factory=list)

    def keys_of(self, type_: str, sub_type: str | None = None) -> list[str]:
        """SHDR keys (name and id) of the data items of ``type_`` (optionally of a sub-type;
        ``""`` = items without a sub-type), in document order."""
        out: list[str] = []
        for d in self.items:
            if d.type == type_ and (sub_type is None or d.sub_type == sub_type):
                out += [k for k in (d.name, d.id) if k]
        return out

    def first_key(self, type_: str, sub_type: str | None = None) -> set[str]:
        """The name and id of the first data item of ``type_`` (the main path's), or empty."""
        for d in self.items:
            if d.type == type_ and (sub_type is None or d.sub_type == sub_type):
                return {k for k in (d.name, d.id) if k}
        return set()

    @property
    def condition_keys(self) -> frozenset[str]:
        return frozenset(k for d in self.items if d.category == "CONDITION"
                         for k in (d.name, d.id) if k)

    @property
    def all_keys(self) -> frozenset[str]:
        return frozenset(k for d in self.items for k in (d.name, d.id) if k)

    @property
    def title(self) -> str:
        return self.description or " ".join(x for x in (self.manufacturer, self.model) if x) or self.name


@dataclass
class DeviceModel:
    """All devices of one agent, by name."""

    devices: dict[str, Device]
    source: str = ""

    def device(self, name: str) -> Device:
        try:
            return self.devices[name]
        except KeyError:
            raise DevicesError(f"{self.source or 'device model'}: no device {name!r} "
                               f"(devices: {', '.join(self.devices) or 'none'})") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_devices(text: str | bytes, source: str = "") -> DeviceModel:
    """Read a ``MTConnectDevices`` document (file content or ``/probe`` answer)."""
    where = source or "device model"
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DevicesError(f"{where}: not XML ({exc})") from None
    if _local(root.tag) != "MTConnectDevices":
        raise DevicesError(f"{where}: not an MTConnect device model (root element "
                           f"<{_local(root.tag)}>, expected <MTConnectDevices>)")
    devices: dict[str, Device] = {}
    for el in root.iter():
        if _local(el.tag) != "Device":
            continue
        name = el.get("name") or el.get("id") or ""
        if not name:
            raise DevicesError(f"{where}: a <Device> without name or id")
        dev = Device(name=name, id=el.get("id") or name, uuid=el.get("uuid") or "")
        for sub in el:
            if _local(sub.tag) == "Description":
                dev.manufacturer = sub.get("manufacturer") or ""
                dev.model = sub.get("model") or ""
                dev.description = " ".join((sub.text or "").split())
        for di in el.iter():
            if _local(di.tag) != "DataItem":
                continue
            did = di.get("id") or ""
            if not did:
                raise DevicesError(f"{where}: device {name}: a <DataItem> without id")
            dev.items.append(DataItem(id=did, name=di.get("name") or "",
                                      type=di.get("type") or "",
                                      category=(di.get("category") or "").upper(),
                                      sub_type=di.get("subType") or ""))
        devices[name] = dev
    if not devices:
        raise DevicesError(f"{where}: no <Device> in the device model")
    return DeviceModel(devices, source)


def load_devices(path: str | Path) -> DeviceModel:
    """Read ``Devices.xml``; :class:`DevicesError` names the file and the problem."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DevicesError(f"{p}: cannot read ({exc.strerror or exc})") from None
    return parse_devices(data, str(p))
