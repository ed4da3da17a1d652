"""``mqtt://`` / ``mqtts://`` — shop-floor events from an MQTT broker (paho-mqtt 2.x).

URL form::

    mqtt[s]://[user@]host[:port]/<topic prefix or Sparkplug group>?profile=json|sparkplug
        &ca=/path/ca.pem&cert=/path/client.pem&key=/path/client.key&insecure=0
        &client_id=…&protocol=3.1.1|5&session_expiry=3600&t0_epoch=…&reconnect_min=1
        &reconnect_max=30

Two profiles (their guarantees differ; docs/connectors.md says more):

* ``json`` (default): one topic per entity, ``<prefix>/<kind>/<id>``, payload one JSON event
  as in :mod:`twin.events` (``t`` in seconds of the shift; ``kind``/``entity`` may be left out,
  the topic gives them); a gateway may also send a JSON array of events (each naming its
  ``kind`` and ``entity``) on ``<prefix>/events``, which is how rates above a few thousand
  events/s get through. QoS 1 and a *persistent session* (a fixed client id, clean session
  off; with ``protocol=5`` a session expiry): QoS-1 events published while we were away are
  delivered after the reconnect. A retained ``<prefix>/meta`` JSON object (``workshop``, ``t0_epoch``, ``speed``)
  is read when present.
* ``sparkplug``: Sparkplug B (``spBv1.0/<group>/…``, :mod:`twin.sources.sparkplug`), clean
  sessions as the spec requires; NBIRTH/DBIRTH define metrics and aliases, DDATA carries the
  changes by exception, ``seq`` (0…255) is checked per edge node, a jump or a message we cannot
  place → a :class:`Gap` and a Rebirth request (NCMD ``Node Control/Rebirth``); NDEATH marks the
  node's entities stale until its next birth. Timestamps are epoch milliseconds, mapped to
  shift seconds with ``t0_epoch`` (URL option, else the node's ``Shift/T0 Epoch`` birth metric,
  else the time of the first message).

The password never appears in the URL kept by the source (:func:`twin.sources.redact`): pass
it as ``password=``; with a user name and no password, the one stored in the system keyring
for that server and user (:mod:`twin.credentials`) is used. Status: ``connecting`` → ``connected``; a
lost connection → ``reconnecting`` (with the reason; paho retries with a doubling delay) and
a :class:`Gap` when it is back; a refused login or an untrusted certificate → ``failed``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from twin.clock import format_clock
from twin.events import Event, EventError, parse_event
from twin.sources import sparkplug as spb
from twin.sources.base import (
    Gap, Note, Rejected, SourceBatch, SourceError, SourceState, SourceStatus, redact, register_scheme,
)

log = logging.getLogger(__name__)

PROFILES = ("json", "sparkplug")
#: MQTT protocol versions: 3.1.1 by default (paho decodes it about twice as fast as 5, whose
#: per-message properties object dominates its receive path); 5 adds a session expiry.
PROTOCOLS = ("3.1.1", "5")
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
#: QoS of the JSON profile (at least once: with a persistent session nothing is dropped).
JSON_QOS = 1
#: An event more than this far ahead of the shop's clock is refused (s of shift time).
MAX_AHEAD_S = 3600.0
#: Longest shift time accepted at all (s): a week.
MAX_T_S = 7 * 24 * 3600.0
#: Rejected payload samples are cut to this many characters.
SAMPLE_CHARS = 200
#: Connection refusals that retrying cannot fix (v5 reason names, lower case).
_FATAL_REFUSALS = ("bad user name or password", "not authorized", "banned",
                   "client identifier not valid", "unsupported protocol version")


@dataclass(frozen=True)
class MqttSettings:
    """Everything needed to reach a broker, parsed from a URL plus options."""

    url: str  # redacted: no password
    scheme: str
    host: str
    port: int
    prefix: str  # JSON topic prefix, or Sparkplug group id
    profile: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False  # TLS without host name check (lab set-ups only)
    client_id: str = ""
    session_expiry_s: int = 3600
    t0_epoch: float | None = None
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    protocol: str = "3.1.1"  # or "5" (session expiry, reason strings; slower in paho)
    query: dict[str, str] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def parse_settings(url: str, **options: Any) -> MqttSettings:
    """Read a ``mqtt[s]://`` URL; ``options`` (``profile``, ``username``, ``password``,
    ``ca_file``, ``cert_file``, ``key_file``, ``client_id``, ``t0_epoch``…) override it.

    Raises :class:`SourceError` naming the URL part that is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise SourceError(f"source {redact(url)!r}: scheme must be mqtt or mqtts")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise SourceError(f"source {redact(url)!r}: the port is not a number") from None
    if not parts.hostname:
        raise SourceError(f"source {redact(url)!r}: no broker host (mqtt://host:1883/prefix)")
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    aliases = {"ca": "ca_file", "cert": "cert_file", "key": "key_file",
               "session_expiry": "session_expiry_s", "reconnect_min": "reconnect_min_s",
               "reconnect_max": "reconnect_max_s", "user": "username"}
    o: dict[str, Any] = {aliases.get(k, k): v for k, v in q.items()}
    o.update({aliases.get(k, k): v for k, v in options.items() if v is not None})
    profile = str(o.get("profile", "json")).lower()
    if profile not in PROFILES:
        raise SourceError(f"source {redact(url)!r}: profile {profile!r} is not one of "
                          f"{', '.join(PROFILES)}")
    prefix = unquote(parts.path.strip("/"))
    if profile == "json" and not prefix:
        raise SourceError(f"source {redact(url)!r}: no topic prefix (mqtt://host:1883/dmw)")
    if profile == "sparkplug" and (not prefix or "/" in prefix):
        raise SourceError(f"source {redact(url)!r}: the path must be one Sparkplug group id "
                          "(mqtt://host:1883/dmw?profile=sparkplug)")
    if any(c in prefix for c in "#+"):
        raise SourceError(f"source {redact(url)!r}: the topic prefix may not contain # or +")
    username = o.get("username") or (unquote(parts.username) if parts.username else None)
    password = o.get("password") or (unquote(parts.password) if parts.password else None)
    try:
        t0 = o.get("t0_epoch")
        settings = MqttSettings(
            url=redact(url), scheme=scheme, host=parts.hostname, port=int(port), prefix=prefix,
            profile=profile, username=username, password=password,
            ca_file=o.get("ca_file") or None, cert_file=o.get("cert_file") or None,
            key_file=o.get("key_file") or None,
            insecure=str(o.get("insecure", "0")).lower() in ("1", "true", "yes"),
            client_id=str(o.get("client_id", "")),
            session_expiry_s=int(o.get("session_expiry_s", 3600)),
            t0_epoch=None if t0 in (None, "") else float(t0),
            reconnect_min_s=max(1, int(float(o.get("reconnect_min_s", 1)))),
            reconnect_max_s=max(1, int(float(o.get("reconnect_max_s", 30)))),
            protocol=str(o.get("protocol", "3.1.1")),
            query=q,
        )
    except ValueError as exc:
        raise SourceError(f"source {redact(url)!r}: bad option ({exc})") from None
    for name in ("ca_file", "cert_file", "key_file"):
        path = getattr(settings, name)
        if path is not None:
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise SourceError(f"source {settings.url!r}: {name.replace('_', ' ')} {path!r}: "
                                  f"{exc.strerror or exc}") from None
    if settings.protocol not in PROTOCOLS:
        raise SourceError(f"source {settings.url!r}: protocol {settings.protocol!r} is not one "
                          f"of {', '.join(PROTOCOLS)}")
    if settings.key_file and not settings.cert_file:
        raise SourceError(f"source {settings.url!r}: a client key needs its certificate (cert=)")
    return settings


def default_client_id(settings: MqttSettings, role: str = "source") -> str:
    """A client id fixed per machine, broker, prefix and user, so a persistent session is
    found again after a restart of the app (two apps on one machine: pass ``client_id``)."""
    key = f"{role}|{settings.host}|{settings.port}|{settings.prefix}|{settings.username or ''}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return f"dmw-twin-{role}-{socket.gethostname()[:20]}-{digest}"


class _Client(mqtt.Client):
    """paho's client, remembering why the last (re)connect attempt failed."""

    last_error: str = ""

    def reconnect(self) -> mqtt.MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_error = describe_socket_error(exc)
            raise


def describe_socket_error(exc: BaseException) -> str:
    """A socket/TLS error in words: ``connection refused``, ``certificate verify failed …``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the broker running on that port?)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "no answer (timed out)"
    return exc.strerror or str(exc) or type(exc).__name__


def make_client(settings: MqttSettings, client_id: str, *, clean_start: bool) -> _Client:
    """A paho client (MQTT 5, callback API v2) with TLS, login and reconnect backoff set.

    Raises :class:`SourceError` when the TLS files cannot be loaded."""
    if settings.protocol == "5":
        c = _Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    else:
        c = _Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                    clean_session=clean_start)
    if settings.username:
        c.username_pw_set(settings.username, settings.password)
    if settings.tls:
        try:
            ctx = ssl.create_default_context(cafile=settings.ca_file)
            if settings.cert_file:
                ctx.load_cert_chain(settings.cert_file, settings.key_file)
            if settings.insecure:
                ctx.check_hostname = False
        except (OSError, ssl.SSLError) as exc:
            raise SourceError(f"source {settings.url!r}: TLS files: {exc}") from None
        c.tls_set_context(ctx)
    c.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
    c._dmw_clean_start = clean_start  # type: ignore[attr-defined]
    return c


def connect_async(client: mqtt.Client, settings: MqttSettings, *, clean_start: bool) -> None:
    """Start connecting ``client`` in the background (MQTT 5: clean start flag and, for a
    persistent session, its expiry; 3.1.1: the client's clean session flag, the broker's
    expiry policy, e.g. mosquitto's ``persistent_client_expiration``)."""
    if settings.protocol == "5":
        props = Properties(PacketTypes.CONNECT)
        if not clean_start:
            props.SessionExpiryInterval = max(0, int(settings.session_expiry_s))
        client.connect_async(settings.host, settings.port, keepalive=30, clean_start=clean_start,
                             properties=props)
    else:
        client.connect_async(settings.host, settings.port, keepalive=30)


def _sample(payload: bytes) -> str:
    return payload[:SAMPLE_CHARS].decode("utf-8", errors="replace")


def refusal(reason: Any) -> str:
    """A refused CONNACK in words (mosquitto answers a wrong password "not authorized")."""
    words = str(reason).lower()
    if words in ("bad user name or password", "not authorized"):
        return ("refused the connection: bad user name or password (or the user may not "
                "connect); check them")
    return f"refused the connection: {words}"


def _is_fatal(reason: Any) -> bool:
    return str(getattr(reason, "getName", lambda: reason)()).lower() in _FATAL_REFUSALS


class MqttSource:
    """Events from an MQTT broker behind the :class:`~twin.sources.base.Source` protocol.

    Args:
        url: ``mqtt[s]://…`` as in the module docstring.
        workshop: the workshop the feed belongs to (its ids go into :meth:`meta`).
        clock: wall clock, UTC epoch seconds (timestamps of our Sparkplug commands).
        **options: override the URL (see :func:`parse_settings`).

    ``reached`` in a batch is the newest event time delivered so far; MQTT keeps the order per
    topic only, so an event of another entity may still come slightly earlier (the ingest
    pipeline refuses such late ones, counted).

    Attributes:
        events_received: events accepted so far; ``rejected_total``: payloads refused.
        stale: Sparkplug edge node → entity ids not current since its NDEATH (cleared by a birth).
    """

    def __init__(self, url: str, *, workshop: Any = None, clock: Any = time.time,
                 **options: Any) -> None:
        settings = parse_settings(url, **options)
        if settings.username and settings.password is None:
            from twin import credentials  # a password the user asked the keyring to keep

            stored = credentials.get_password(settings.url, settings.username)
            if stored is not None:
                settings = dataclasses.replace(settings, password=stored)
        self.settings = settings
        self.url = self.settings.url
        self.workshop = workshop
        self._clock = clock
        s = self.settings
        self._sparkplug = s.profile == "sparkplug"
        clean = self._sparkplug  # Sparkplug requires clean sessions; JSON keeps its session
        # JSON: a fixed id finds the persistent session again; Sparkplug: clean, any unique id
        cid = s.client_id or (default_client_id(s) if not clean
                              else f"dmw-twin-host-{uuid.uuid4().hex[:12]}")
        self.client_id = cid
        self._client = make_client(s, cid, clean_start=clean)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._statuses: list[SourceStatus] = []
        self._gaps: list[Gap] = []
        self._rejected: list[Rejected] = []
        self._notes: list[Note] = []
        self._status = SourceStatus(SourceState.CONNECTING, f"connecting to {s.where}")
        self._statuses.append(self._status)
        self._reached = 0.0
        self._reached_wall = time.monotonic()
        self._speed = 1.0  # shift seconds per wall second (from the JSON meta topic)
        self._lost_at: float | None = None  # shift time when the connection was lost
        self._lost_wall = 0.0
        self._lost_reason = ""
        self._stopping = False
        self._started = False
        self._failed = False
        self.feed_meta: dict[str, Any] = {}
        self.events_received = 0
        self.rejected_total = 0
        self.t0_epoch: float | None = s.t0_epoch
        self._nodes: dict[tuple[str, str], _Node] = {}
        self.stale: dict[str, set[str]] = {}
        self._dead_since: dict[str, float] = {}  # stale entity -> shift time of its NDEATH
        self.rebirths_requested = 0

    # -- Source --------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        m: dict[str, Any] = {"source": self.url, "profile": self.settings.profile,
                             "mode": "live"}
        if self.workshop is not None:
            from twin.live import workshop_meta

            m.update(workshop_meta(self.workshop))
        elif self.feed_meta.get("workshop"):
            m["workshop"] = self.feed_meta["workshop"]
        if self.t0_epoch is not None:
            m["t0_epoch"] = self.t0_epoch
        return m

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        connect_async(self._client, self.settings, clean_start=self._sparkplug)
        self._client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._stopping:
            return
        self._stopping = True
        try:
            self._client.disconnect()
        except Exception:  # noqa: BLE001 - already gone
            pass
        self._client.loop_stop()
        if not self._failed:
            self._set(SourceState.STOPPED, "stopped")

    def drain(self) -> SourceBatch:
        with self._lock:
            batch = SourceBatch(events=self._events, reached=self._reached,
                                statuses=self._statuses, gaps=self._gaps,
                                rejected=self._rejected, notes=self._notes)
            self._events, self._statuses, self._gaps, self._rejected = [], [], [], []
            self._notes = []
        return batch

    @property
    def status(self) -> SourceStatus:
        return self._status

    # -- helpers -------------------------------------------------------------------------
    def _set(self, state: SourceState, message: str) -> None:
        with self._lock:
            if self._status.state == state and self._status.message == message:
                return
            st = SourceStatus(state, message, self._reached)
            self._status = st
            self._statuses.append(st)
        log.info("%s: %s %s", self.url, state.value, message)

    def _reject(self, reason: str, payload: bytes | str = b"") -> None:
        sample = payload if isinstance(payload, str) else _sample(payload)
        with self._lock:
            self._rejected.append(Rejected(reason, sample[:SAMPLE_CHARS]))
            self.rejected_total += 1

    def _shift_now(self) -> float:
        """The shop's clock now, estimated from the newest event (s of shift time)."""
        return self._reached + (time.monotonic() - self._reached_wall) * self._speed

    def _accept(self, ev: Event) -> bool:
        """Queue ``ev`` unless its time is impossible; caller holds no lock."""
        if ev.t > MAX_T_S or (self.events_received and ev.t > self._shift_now() + MAX_AHEAD_S):
            self._reject(f"t={ev.t:g} s is far in the future (the shop is at "
                         f"{self._shift_now():.0f} s)", json.dumps(ev.to_dict()))
            return False
        with self._lock:
            self._events.append(ev)
            self.events_received += 1
            if ev.t > self._reached:
                self._reached = ev.t
                self._reached_wall = time.monotonic()
        return True

    # -- paho callbacks (network thread) ---------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        s = self.settings
        if reason.is_failure:
            words = str(reason)
            if _is_fatal(reason):
                self._failed = True
                self._set(SourceState.FAILED, f"broker {s.where} {refusal(reason)}")
                client.disconnect()  # ends paho's loop: retrying cannot help
            else:
                self._set(SourceState.RECONNECTING, f"broker {s.where} refused: {words}; retrying")
            return
        if self._sparkplug:
            client.subscribe(f"{spb.NAMESPACE}/{s.prefix}/#", qos=0)
        else:
            client.subscribe(f"{s.prefix}/#", qos=JSON_QOS)
        note = ""
        if self._lost_at is not None:
            t1 = max(self._lost_at, self._shift_now())
            down_s = time.monotonic() - self._lost_wall
            if self._sparkplug:
                note = "; rebirth requested from every known edge node"
                gap_reason = (f"connection to {s.where} lost for {down_s:.1f} s "
                              f"({self._lost_reason}); Sparkplug sessions are clean, state "
                              "restored by rebirth")
            else:
                kept = bool(getattr(flags, "session_present", False))
                gap_reason = (f"connection to {s.where} lost for {down_s:.1f} s "
                              f"({self._lost_reason}); " +
                              ("the broker kept our session: QoS-1 events published meanwhile "
                               "are delivered now" if kept else
                               "the broker had no session for us: events published meanwhile "
                               "are lost"))
            with self._lock:
                self._gaps.append(Gap(self._lost_at, t1, gap_reason))
            self._lost_at = None
        what = f"{s.profile} profile, topic {s.prefix}/#" if not self._sparkplug else \
            f"Sparkplug B group {s.prefix}"
        self._set(SourceState.CONNECTED, f"connected to {s.where} ({what}){note}")
        if self._sparkplug:
            for node in list(self._nodes.values()):
                node.awaiting_rebirth = False  # what we asked before the loss may be lost too
                if node.gap_since is None:
                    node.gap_since = self._reached
                    node.gap_reason = (f"Sparkplug node {node.group}/{node.node}: connection "
                                       "lost, state unknown until its rebirth")
                self._request_rebirth(node, "reconnected")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if self._stopping:
            return
        err = getattr(client, "last_error", "") or "cannot connect"
        if err.startswith("TLS: the broker's certificate is not trusted"):
            self._failed = True
            self._set(SourceState.FAILED, f"broker {self.settings.where}: {err} — give its CA "
                      "file (ca=…) or trust it")
            client.disconnect()
            return
        self._mark_lost(err)
        delay = getattr(client, "_reconnect_delay", None) or self.settings.reconnect_min_s
        self._set(SourceState.RECONNECTING, f"broker {self.settings.where}: {err}; retrying "
                  f"(every {delay}–{self.settings.reconnect_max_s} s)")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        if self._stopping or self._failed:
            return
        words = str(reason) if reason is not None else "connection lost"
        if words.lower() in ("success", "normal disconnection", "unspecified error"):
            words = "the broker closed the connection or went away"
        self._mark_lost(words)
        self._set(SourceState.RECONNECTING, f"lost the connection to {self.settings.where} "
                  f"({words}); reconnecting")

    def _mark_lost(self, reason: str) -> None:
        if self._lost_at is None and self._status.state == SourceState.CONNECTED:
            self._lost_at = self._reached
            self._lost_wall = time.monotonic()
            self._lost_reason = reason

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if self._sparkplug:
                self._on_sparkplug(msg.topic, msg.payload)
            else:
                self._on_json(msg.topic, msg.payload)
        except Exception as exc:  # noqa: BLE001 - a payload must never stop the source
            log.exception("message on %s", msg.topic)
            self._reject(f"topic {msg.topic}: could not be read ({type(exc).__name__}: {exc})",
                         msg.payload)

    # -- JSON profile ----------------------------------------------------------------------
    def _on_json(self, topic: str, payload: bytes) -> None:
        prefix = self.settings.prefix
        rest = topic[len(prefix) + 1:].split("/") if topic.startswith(prefix + "/") else []
        if rest == ["meta"]:
            self._on_feed_meta(payload)
            return
        if rest == ["events"]:
            self._on_json_batch(topic, payload)
            return
        if len(rest) != 2 or not all(rest):
            self._reject(f"topic {topic}: expected {prefix}/<kind>/<id>", payload)
            return
        kind, entity = rest
        obj = self._json_payload(topic, payload, dict, "a JSON object")
        if obj is None:
            return
        said = (obj.setdefault("kind", kind), obj.setdefault("entity", entity))
        if said != (kind, entity):
            self._reject(f"topic {topic}: the payload is about {said[0]} {said[1]!r}, the topic "
                         f"about {kind} {entity!r}", payload)
            return
        try:
            ev = parse_event(obj)
        except EventError as exc:
            self._reject(f"topic {topic}: {exc}", payload)
            return
        self._accept(ev)

    def _json_payload(self, topic: str, payload: bytes, expected: type, what: str) -> Any:
        """The decoded JSON ``payload`` if it is an ``expected`` (dict or list), else None
        with the payload rejected: not JSON (NaN and Infinity are not JSON), or ``what``
        it must be."""
        try:
            obj = json.loads(payload, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            self._reject(f"topic {topic}: not JSON ({exc})", payload)
            return None
        if not isinstance(obj, expected):
            self._reject(f"topic {topic}: payload must be {what}", payload)
            return None
        return obj

    def _on_json_batch(self, topic: str, payload: bytes) -> None:
        """``<prefix>/events``: a JSON array of events; a bad item is rejected on its own."""
        items = self._json_payload(topic, payload, list, "a JSON array of events")
        if items is None:
            return
        for i, obj in enumerate(items):
            try:
                ev = parse_event(obj)
            except EventError as exc:
                self._reject(f"topic {topic}: item {i}: {exc}", json.dumps(obj)[:SAMPLE_CHARS])
                continue
            self._accept(ev)

    def _on_feed_meta(self, payload: bytes) -> None:
        try:
            meta = json.loads(payload)
            if not isinstance(meta, dict):
                raise ValueError("not an object")
            speed = float(meta.get("speed", 1.0))
            t0 = meta.get("t0_epoch")
            if not (math.isfinite(speed) and speed > 0):
                raise ValueError(f"speed {speed!r}")
        except (ValueError, TypeError) as exc:
            self._reject(f"topic {self.settings.prefix}/meta: {exc}", payload)
            return
        self.feed_meta = meta
        self._speed = speed
        if self.t0_epoch is None and isinstance(t0, (int, float)):
            self.t0_epoch = float(t0)

    # -- Sparkplug B profile -----------------------------------------------------------------
    def _on_sparkplug(self, topic: str, payload: bytes) -> None:
        if topic.startswith(f"{spb.NAMESPACE}/STATE/") or "/NCMD/" in topic or "/DCMD/" in topic:
            return  # host states and commands (ours included) carry no shop data
        try:
            tp = spb.parse_topic(topic)
            p = spb.decode(payload)
        except spb.SparkplugError as exc:
            self._reject(str(exc), payload)
            return
        key = (tp.group, tp.node)
        node = self._nodes.get(key)
        if tp.type == "NBIRTH":
            node = self._nodes[key] = self._node_birth(tp, p, node)
            return
        if node is None or not node.born:
            if tp.type != "NDEATH":
                self._request_rebirth(node or self._nodes.setdefault(key, _Node(tp.group, tp.node)),
                                      f"{tp.type} before NBIRTH")
            return
        if tp.type == "NDEATH":
            self._node_death(node, p)
            return
        seq = p.seq if p.HasField("seq") else None
        if seq != node.next_seq:
            if not node.awaiting_rebirth:
                node.gap_since = self._reached
                node.gap_reason = (f"Sparkplug node {tp.group}/{tp.node}: seq jump (expected "
                                   f"{node.next_seq}, got {seq}): messages lost until its rebirth")
                self._request_rebirth(node, f"seq {seq} instead of {node.next_seq}")
            node.ignored += 1
            return
        node.next_seq = (seq + 1) % 256
        if tp.type == "DBIRTH":
            self._device_birth(node, tp.device, p)
        elif tp.type == "DDATA":
            self._device_data(node, tp.device, p)
        elif tp.type == "DDEATH":
            node.devices.pop(tp.device, None)

    def _to_shift(self, ts_ms: int) -> float:
        if self.t0_epoch is None:
            self.t0_epoch = ts_ms / 1000.0  # no shift start known: t = 0 at the first message
        t = ts_ms / 1000.0 - self.t0_epoch
        return 0.0 if -0.001 < t < 0.0 else t  # ms timestamps vs a t0 with sub-ms digits

    def _node_birth(self, tp: spb.Topic, p: Any, old: _Node | None) -> _Node:
        node = _Node(tp.group, tp.node)
        node.born = True
        node.next_seq = (p.seq + 1) % 256 if p.HasField("seq") else 1
        for m in p.metrics:
            if m.name == spb.BDSEQ:
                node.bdseq = spb.value_of(m)
            elif m.name == spb.T0_EPOCH and self.t0_epoch is None:
                self.t0_epoch = float(spb.value_of(m))
            elif m.name == spb.WORKSHOP:
                self.feed_meta.setdefault("workshop", spb.value_of(m))
        t_birth = self._to_shift(p.timestamp) if p.timestamp else self._reached
        if old is not None:
            node.last_t_of = old.last_t_of
            if old.gap_since is not None:
                with self._lock:
                    self._gaps.append(Gap(old.gap_since, max(old.gap_since, t_birth),
                                          old.gap_reason))
            if old.dead_since is not None:
                t1 = max(old.dead_since, t_birth)
                with self._lock:
                    self._gaps.append(Gap(old.dead_since, t1, f"Sparkplug node {tp.group}/"
                                          f"{tp.node} was offline (NDEATH → NBIRTH); its "
                                          f"{len(self.stale.get(tp.node, ()))} entities unknown"))
                self.stale.pop(tp.node, None)
                self._set(SourceState.CONNECTED, f"edge node {tp.group}/{tp.node} is back")
        return node

    def _node_death(self, node: _Node, p: Any) -> None:
        bd = next((spb.value_of(m) for m in p.metrics if m.name == spb.BDSEQ), None)
        if bd is not None and node.bdseq is not None and bd != node.bdseq:
            return  # the will of an older session: not this birth's death
        node.born = False
        node.dead_since = self._reached
        entities = {d.values.get("entity", dev) for dev, d in node.devices.items()}
        self.stale[node.node] = entities
        t = node.dead_since
        label = f"stale (NDEATH at {format_clock(t)})"
        with self._lock:  # the timeline and the view mark each entity until its next event
            for e in sorted(entities):
                self._dead_since[e] = t
                self._notes.append(Note(t, label, e, "stale"))
        self._set(SourceState.CONNECTED, f"edge node {node.group}/{node.node} is offline "
                  f"(NDEATH): its {len(entities)} entities are stale until it is born again")

    def _device_birth(self, node: _Node, device: str, p: Any) -> None:
        dev = _Device()
        ts = p.timestamp
        for m in p.metrics:
            if m.name in spb.DEVICE_METRICS:
                dev.values[m.name] = spb.value_of(m)
                if m.HasField("alias"):
                    node.aliases[m.alias] = (device, m.name)
                ts = max(ts, m.timestamp) if m.HasField("timestamp") else ts
        dev.values["entity"] = device
        node.devices[device] = dev
        t = self._to_shift(ts) if ts else self._reached
        dead = self._dead_since.pop(device, None)
        if dead is not None:
            # born again after its node's NDEATH: its state is current again, later than
            # the death (at least by a millisecond, Sparkplug's resolution), news or not
            self._emit(node, device, dev, max(t, self._reached, dead + 0.001), p)
        elif t > node.last_t_of.get(device, -1.0):
            # news (a change we missed, or a new device): known as of now at the latest, so
            # a rebirth's older timestamps do not go back behind events already delivered
            self._emit(node, device, dev, max(t, self._reached), p)

    def _device_data(self, node: _Node, device: str, p: Any) -> None:
        dev = node.devices.get(device)
        if dev is None:
            self._request_rebirth(node, f"DDATA for {device} without DBIRTH")
            return
        ts = p.timestamp
        for m in p.metrics:
            name = m.name or (node.aliases.get(m.alias, ("", ""))[1] if m.HasField("alias") else "")
            if name not in spb.DEVICE_METRICS:
                self._reject(f"Sparkplug node {node.node} device {device}: unknown metric "
                             f"{m.name or m.alias!r}", str(m)[:SAMPLE_CHARS])
                continue
            dev.values[name] = spb.value_of(m)
            if m.HasField("timestamp"):
                ts = max(ts, m.timestamp)
        self._emit(node, device, dev, self._to_shift(ts) if ts else self._reached, p)

    def _emit(self, node: _Node, device: str, dev: _Device, t: float, p: Any) -> None:
        obj: dict[str, Any] = {k: v for k, v in dev.values.items() if v is not None}
        obj["t"] = t
        try:
            ev = parse_event(obj)
        except EventError as exc:
            self._reject(f"Sparkplug node {node.node} device {device}: {exc}", str(p)[:SAMPLE_CHARS])
            return
        if self._accept(ev):
            node.last_t_of[device] = t

    def _request_rebirth(self, node: _Node, why: str) -> None:
        """Publish NCMD ``Node Control/Rebirth`` = true to ``node`` (at most once per birth)."""
        if node.awaiting_rebirth:
            return
        node.awaiting_rebirth = True
        cmd = spb.Payload()
        cmd.timestamp = int(self._clock() * 1000)
        m = cmd.metrics.add()
        m.name = spb.REBIRTH
        spb.set_value(m, spb.BOOLEAN, True)
        self._client.publish(spb.topic(node.group, "NCMD", node.node), cmd.SerializeToString(),
                             qos=0)
        self.rebirths_requested += 1
        log.info("rebirth requested from %s/%s: %s", node.group, node.node, why)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


@dataclass
class _Device:
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Node:
    """What we know of one Sparkplug edge node."""

    group: str
    node: str
    born: bool = False
    bdseq: Any = None
    next_seq: int = 0
    awaiting_rebirth: bool = False
    dead_since: float | None = None
    ignored: int = 0  # messages dropped while waiting for a rebirth
    gap_since: float | None = None  # shift time of a seq jump, closed by the next birth
    gap_reason: str = ""
    aliases: dict[int, tuple[str, str]] = field(default_factory=dict)
    devices: dict[str, _Device] = field(default_factory=dict)
    last_t_of: dict[str, float] = field(default_factory=dict)


register_scheme("mqtt", MqttSource)
register_scheme("mqtts", MqttSource)
