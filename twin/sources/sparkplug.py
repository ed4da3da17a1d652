"""A thin Sparkplug B codec on ``protobuf``: the payload messages and the topic namespace.

The message classes are built at run time from a ``FileDescriptorProto`` written here in
Python, mirroring ``Payload`` and ``Payload.Metric`` of Eclipse Tahu's ``sparkplug_b.proto``
(Copyright (c) 2015, 2018 Cirrus Link Solutions and others, EPL-2.0; the file as fetched from
github.com/eclipse/tahu at commit 5736e40 sits next to this module as ``sparkplug_b.proto``,
the licence text in ``LICENSES/EPL-2.0.txt``). Field names and numbers are the .proto's, so
the bytes are Sparkplug B on the wire. Only the scalar metric values are modelled; DataSet,
Template, PropertySet and MetaData fields of a peer's payload are kept as unknown fields and
ignored (the shop profile never sends them).

Topics: ``spBv1.0/<group>/<NBIRTH|NDEATH|NDATA|NCMD>/<edge node>`` and
``spBv1.0/<group>/<DBIRTH|DDEATH|DDATA|DCMD>/<edge node>/<device>``.

How the shop maps onto it (our profile, see docs/connectors.md): one edge node per workshop,
one device per entity (station, AGV, WIP, order); each device's metrics are the event's
fields (``kind``, ``state``, ``x``, ``y``, ``heading``, ``station``, ``wip``, ``order``,
``process``, ``agv``, ``queue``, ``energy``). A DBIRTH declares them with names and aliases;
DDATA sends only the metrics that changed (by exception), by alias, timestamped in epoch
milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

NAMESPACE = "spBv1.0"
#: Metric datatypes (the .proto's "Indexes of Data Types"), the ones this profile uses.
INT64, UINT64, DOUBLE, BOOLEAN, STRING = 4, 8, 10, 11, 12
#: Node metrics of the profile.
BDSEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
T0_EPOCH = "Shift/T0 Epoch"  # UTC seconds of shift time t = 0 (Double)
WORKSHOP = "Shift/Workshop"  # workshop name (String)
#: Device metrics: the event fields (name -> datatype); order fixes the aliases.
DEVICE_METRICS: dict[str, int] = {
    "kind": STRING, "state": STRING, "x": DOUBLE, "y": DOUBLE, "heading": DOUBLE,
    "station": STRING, "wip": STRING, "order": STRING, "process": STRING, "agv": STRING,
    "queue": DOUBLE, "energy": DOUBLE,
}
#: Aliases: node metrics below 16, device d's metric i at 16 * (d + 1) + i.
ALIAS_STRIDE = 16


def _build_payload_class() -> Any:
    F = descriptor_pb2.FieldDescriptorProto
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    fdp = descriptor_pb2.FileDescriptorProto(
        name="dmw_twin/sparkplug_b.proto", package="org.eclipse.tahu.protobuf", syntax="proto2")
    payload = fdp.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    for name, number, ftype, oneof in (
        ("name", 1, F.TYPE_STRING, False), ("alias", 2, F.TYPE_UINT64, False),
        ("timestamp", 3, F.TYPE_UINT64, False), ("datatype", 4, F.TYPE_UINT32, False),
        ("is_historical", 5, F.TYPE_BOOL, False), ("is_transient", 6, F.TYPE_BOOL, False),
        ("is_null", 7, F.TYPE_BOOL, False),
        ("int_value", 10, F.TYPE_UINT32, True), ("long_value", 11, F.TYPE_UINT64, True),
        ("float_value", 12, F.TYPE_FLOAT, True), ("double_value", 13, F.TYPE_DOUBLE, True),
        ("boolean_value", 14, F.TYPE_BOOL, True), ("string_value", 15, F.TYPE_STRING, True),
        ("bytes_value", 16, F.TYPE_BYTES, True),
    ):
        f = metric.field.add(name=name, number=number, type=ftype, label=opt)
        if oneof:
            f.oneof_index = 0
    payload.field.add(name="timestamp", number=1, type=F.TYPE_UINT64, label=opt)
    payload.field.add(name="metrics", number=2, type=F.TYPE_MESSAGE, label=rep,
                      type_name=".org.eclipse.tahu.protobuf.Payload.Metric")
    payload.field.add(name="seq", number=3, type=F.TYPE_UINT64, label=opt)
    payload.field.add(name="uuid", number=4, type=F.TYPE_STRING, label=opt)
    payload.field.add(name="body", number=5, type=F.TYPE_BYTES, label=opt)
    pool = descriptor_pool.DescriptorPool()  # our own pool: no clash with a generated module
    pool.Add(fdp)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload"))


#: The Sparkplug B ``Payload`` message class.
Payload = _build_payload_class()


class SparkplugError(ValueError):
    """A topic or payload that is not Sparkplug B; ``str(err)`` says what is wrong."""


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed Sparkplug topic: ``group``, message ``type`` (NBIRTH…), ``node``, ``device``."""

    group: str
    type: str
    node: str
    device: str = ""


NODE_TYPES = ("NBIRTH", "NDEATH", "NDATA", "NCMD")
DEVICE_TYPES = ("DBIRTH", "DDEATH", "DDATA", "DCMD")


def parse_topic(topic: str) -> Topic:
    """``spBv1.0/g/DDATA/n/d`` → ``Topic("g", "DDATA", "n", "d")``; raises :class:`SparkplugError`."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != NAMESPACE:
        raise SparkplugError(f"topic {topic!r} is not spBv1.0/<group>/<type>/<node>[/<device>]")
    group, mtype, node = parts[1], parts[2], parts[3]
    if mtype in NODE_TYPES and len(parts) == 4:
        return Topic(group, mtype, node)
    if mtype in DEVICE_TYPES and len(parts) == 5:
        return Topic(group, mtype, node, parts[4])
    raise SparkplugError(f"topic {topic!r}: unknown message type {mtype!r} or wrong length")


def topic(group: str, mtype: str, node: str, device: str = "") -> str:
    """The topic string of a message (the inverse of :func:`parse_topic`)."""
    return "/".join([NAMESPACE, group, mtype, node] + ([device] if device else []))


def decode(data: bytes) -> Any:
    """A ``Payload`` from bytes; raises :class:`SparkplugError` for bytes that are not one."""
    p = Payload()
    try:
        p.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise SparkplugError(f"not a Sparkplug B payload ({exc})") from None
    return p


def set_value(m: Any, datatype: int, value: Any) -> None:
    """Fill metric ``m`` with ``value`` of ``datatype`` (``None`` → ``is_null``)."""
    m.datatype = datatype
    if value is None:
        m.is_null = True
    elif datatype == STRING:
        m.string_value = str(value)
    elif datatype == DOUBLE:
        m.double_value = float(value)
    elif datatype == BOOLEAN:
        m.boolean_value = bool(value)
    elif datatype in (INT64, UINT64):
        m.long_value = int(value) & 0xFFFFFFFFFFFFFFFF
    else:
        raise SparkplugError(f"datatype {datatype} is not used by the shop profile")


def value_of(m: Any) -> Any:
    """The Python value of metric ``m`` (``None`` when null or unset)."""
    if m.is_null:
        return None
    which = m.WhichOneof("value")
    if which is None:
        return None
    v = getattr(m, which)
    if which == "long_value" and m.datatype == INT64 and v >= 1 << 63:
        v -= 1 << 64  # two's complement, as the spec stores signed 64-bit values
    return v
