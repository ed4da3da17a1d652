"""Publishing shop-floor events to an MQTT broker, in the JSON or the Sparkplug B profile.

:class:`MqttPublisher` is what ``python main.py serve --mqtt URL`` drives (same shape as the
OPC UA publisher: ``start()``, ``publish(events)``, ``stop()``). The topic and payload layout is
the one :class:`twin.sources.mqtt.MqttSource` reads (see its module docstring and
docs/connectors.md):

* JSON: ``<prefix>/<kind>/<id>`` ← ``Event.to_dict()`` as JSON, QoS 1 (or, with
  ``batch=True``, each :meth:`MqttPublisher.publish` call as JSON arrays of at most
  :data:`BATCH_MAX` events on ``<prefix>/events``); a retained ``<prefix>/meta`` object names
  the workshop, ``t0_epoch`` and the pace.
* Sparkplug B: edge node = the workshop's name in group ``<prefix>``, one device per entity;
  NBIRTH (``bdSeq``, ``Node Control/Rebirth``, ``Shift/T0 Epoch``, ``Shift/Workshop``), a DBIRTH
  the first time an entity appears, then DDATA with the changed metrics only, by alias; NDEATH
  as the MQTT will and on :meth:`MqttPublisher.stop`; an NCMD Rebirth makes it publish NBIRTH
  and every DBIRTH again. Timestamps: epoch ms = (``t0_epoch`` + t) × 1000.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from twin.events import Event
from twin.sources import sparkplug as spb
from twin.sources.base import SourceState, SourceStatus
from twin.sources.mqtt import (
    JSON_QOS, _is_fatal, connect_async, default_client_id, make_client, parse_settings,
    refusal,
)

log = logging.getLogger(__name__)

#: QoS-1 messages kept in memory while the broker is away (beyond: dropped, counted).
MAX_QUEUED = 200_000
#: Events per message at most in the JSON profile's batch topic.
BATCH_MAX = 500
#: Characters a Sparkplug id may not contain.
_BAD_ID = re.compile(r"[/+#]")


class MqttPublisher:
    """Publishes events of one workshop to a broker.

    Args:
        url: ``mqtt[s]://[user@]host:port/<prefix or group>[?profile=…]``.
        workshop: the workshop being published (its name is the Sparkplug edge node id).
        profile: ``json`` or ``sparkplug`` (overrides the URL's ``profile``).
        t0_epoch: UTC seconds of shift time 0 (default: the wall clock at :meth:`start`).
        speed: shift seconds per wall second (announced in the JSON meta topic).
        batch: JSON profile: send arrays on ``<prefix>/events`` instead of one message per event.
        **security: ``username``, ``password``, ``ca_file``, ``cert_file``, ``key_file``…

    Attributes:
        published: events handed to the broker connection; ``dropped``: events refused because
        the queue for an absent broker was full; ``error``: why it gave up ("").
    """

    def __init__(self, url: str, workshop: Any, *, profile: str | None = None,
                 t0_epoch: float | None = None, speed: float = 1.0, batch: bool = False,
                 **security: Any) -> None:
        self.settings = parse_settings(url, profile=profile, **security)
        s = self.settings
        self.url = s.url
        self.workshop = workshop
        self.node_id = _BAD_ID.sub("_", getattr(workshop, "name", "shop") or "shop")
        self.t0_epoch = t0_epoch
        self.speed = float(speed)
        self.batch = bool(batch)
        self._sparkplug = s.profile == "sparkplug"
        self._client = make_client(s, s.client_id or default_client_id(s, "serve"),
                                   clean_start=True)
        self._client.max_inflight_messages_set(1000)
        # keep QoS-1 events while the broker is away, up to a bound (then counted as dropped)
        self._client.max_queued_messages_set(MAX_QUEUED)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._lock = threading.RLock()
        self.status = SourceStatus(SourceState.CONNECTING, f"connecting to {s.where}")
        self.error = ""
        self.published = 0
        self.dropped = 0
        self.rebirths = 0
        self._connected = threading.Event()
        # Sparkplug state
        self._bdseq = 0
        self._seq = 0
        self._devices: dict[str, dict[str, Any]] = {}  # device -> last metric values
        self._device_index: dict[str, int] = {}
        self._last_ms = 0

    # -- life --------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (returns at once; paho retries with backoff)."""
        if self.t0_epoch is None:
            self.t0_epoch = round(time.time(), 3)  # whole ms: t = 0 maps to a timestamp exactly
        if self._sparkplug:
            self._set_will()
        connect_async(self._client, self.settings, clean_start=True)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the first connection is up (True) or ``timeout`` s passed."""
        return self._connected.wait(timeout)

    def publish(self, events: list[Event]) -> None:
        """Send ``events`` (in time order); never raises for a broker that is away."""
        if self._sparkplug:
            with self._lock:
                for ev in events:
                    self._publish_sparkplug(ev)
            return
        prefix = self.settings.prefix
        pub = self._client.publish
        if self.batch:
            for i in range(0, len(events), BATCH_MAX):
                chunk = [ev.to_dict() for ev in events[i:i + BATCH_MAX]]
                self._count(pub(f"{prefix}/events", json.dumps(chunk), qos=JSON_QOS), len(chunk))
            return
        for ev in events:
            self._count(pub(f"{prefix}/{ev.kind}/{ev.entity}", json.dumps(ev.to_dict()),
                            qos=JSON_QOS), 1)

    def _count(self, info: mqtt.MQTTMessageInfo, n: int) -> None:
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += n
        else:
            self.published += n

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is in flight (up to ``timeout`` s), say goodbye, disconnect."""
        end = time.monotonic() + timeout
        while self._client.is_connected() and self._client._out_messages and \
                time.monotonic() < end:
            time.sleep(0.02)
        if self._sparkplug and self._client.is_connected():
            with self._lock:
                info = self._client.publish(self._topic("NDEATH"), self._death_payload(), qos=0)
            try:
                info.wait_for_publish(max(0.1, end - time.monotonic()))
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
        self.status = SourceStatus(SourceState.STOPPED, "stopped")

    # -- paho callbacks ------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        s = self.settings
        if reason.is_failure:
            if _is_fatal(reason):
                self.error = f"broker {s.where} {refusal(reason)}"
                self.status = SourceStatus(SourceState.FAILED, self.error)
                client.disconnect()
            return
        if self._sparkplug:
            client.subscribe(spb.topic(s.prefix, "NCMD", self.node_id), qos=0)
            with self._lock:
                self._birth()
        else:
            meta = {"workshop": getattr(self.workshop, "name", ""), "t0_epoch": self.t0_epoch,
                    "speed": self.speed, "publisher": "dmw-twin serve"}
            client.publish(f"{s.prefix}/meta", json.dumps(meta), qos=1, retain=True)
        self.status = SourceStatus(SourceState.CONNECTED, f"publishing to {s.where} "
                                   f"({s.profile} profile, {s.prefix})")
        self._connected.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        err = getattr(client, "last_error", "") or "cannot connect"
        self.status = SourceStatus(SourceState.RECONNECTING,
                                   f"broker {self.settings.where}: {err}; retrying")
        if err.startswith("TLS: the broker's certificate is not trusted"):
            self.error = f"broker {self.settings.where}: {err}"
            self.status = SourceStatus(SourceState.FAILED, self.error)
            client.disconnect()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        if self.error:
            return
        self.status = SourceStatus(SourceState.RECONNECTING,
                                   f"lost {self.settings.where} ({reason}); reconnecting")
        if self._sparkplug:
            with self._lock:
                self._bdseq = (self._bdseq + 1) % 256  # a new MQTT session: a new birth/death pair
                self._set_will()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            p = spb.decode(msg.payload)
        except spb.SparkplugError:
            log.warning("unreadable NCMD on %s", msg.topic)
            return
        if any(m.name == spb.REBIRTH and spb.value_of(m) for m in p.metrics):
            with self._lock:
                self.rebirths += 1
                self._birth()

    # -- Sparkplug -----------------------------------------------------------------------
    def _topic(self, mtype: str, device: str = "") -> str:
        return spb.topic(self.settings.prefix, mtype, self.node_id, device)

    def _next_seq(self) -> int:
        seq, self._seq = self._seq, (self._seq + 1) % 256
        return seq

    def _death_payload(self) -> bytes:
        p = spb.Payload()
        p.timestamp = int(time.time() * 1000)
        m = p.metrics.add()
        m.name = spb.BDSEQ
        spb.set_value(m, spb.INT64, self._bdseq)
        return p.SerializeToString()

    def _set_will(self) -> None:
        self._client.will_set(self._topic("NDEATH"), self._death_payload(), qos=1)

    def _ms(self, t: float) -> int:
        return int(round((float(self.t0_epoch or 0.0) + t) * 1000))

    def _send(self, mtype: str, p: Any, device: str = "") -> None:
        p.seq = self._next_seq()
        self._client.publish(self._topic(mtype, device), p.SerializeToString(), qos=0)
        self.published += 1

    def _birth(self) -> None:
        """NBIRTH then a DBIRTH of every entity seen so far (seq restarts at 0)."""
        self._seq = 0
        p = spb.Payload()
        p.timestamp = self._last_ms or self._ms(0.0)
        for name, dtype, value in ((spb.BDSEQ, spb.INT64, self._bdseq),
                                   (spb.REBIRTH, spb.BOOLEAN, False),
                                   (spb.T0_EPOCH, spb.DOUBLE, self.t0_epoch),
                                   (spb.WORKSHOP, spb.STRING, getattr(self.workshop, "name", ""))):
            m = p.metrics.add()
            m.name = name
            spb.set_value(m, dtype, value)
        self._send("NBIRTH", p)
        for device in self._devices:
            self._device_birth(device)

    def _device_birth(self, device: str) -> None:
        values = self._devices[device]
        base = spb.ALIAS_STRIDE * (self._device_index[device] + 1)
        p = spb.Payload()
        p.timestamp = values["_ms"]
        for i, (name, dtype) in enumerate(spb.DEVICE_METRICS.items()):
            m = p.metrics.add()
            m.name = name
            m.alias = base + i
            m.timestamp = values["_ms"]
            spb.set_value(m, dtype, values.get(name))
        self._send("DBIRTH", p, device)

    def _publish_sparkplug(self, ev: Event) -> None:
        device = ev.entity
        if _BAD_ID.search(device):
            log.warning("entity %r cannot be a Sparkplug device id: not published", device)
            return
        ms = self._ms(ev.t)
        self._last_ms = ms
        new = {name: getattr(ev, name) for name in spb.DEVICE_METRICS}
        for name in ("station", "wip", "order", "process", "agv"):
            new[name] = new[name] or ""
        old = self._devices.get(device)
        new["_ms"] = ms
        if old is None:
            self._device_index[device] = len(self._device_index)
            self._devices[device] = new
            if self._client.is_connected():
                self._device_birth(device)
            return
        changed = [n for n in spb.DEVICE_METRICS if new[n] != old.get(n)] or ["state"]
        self._devices[device] = new
        base = spb.ALIAS_STRIDE * (self._device_index[device] + 1)
        names = list(spb.DEVICE_METRICS)
        p = spb.Payload()
        p.timestamp = ms
        for name in changed:
            m = p.metrics.add()
            m.alias = base + names.index(name)
            m.timestamp = ms
            spb.set_value(m, spb.DEVICE_METRICS[name], new[name])
        self._send("DDATA", p, device)
