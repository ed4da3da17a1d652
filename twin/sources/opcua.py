"""``opc.tcp://`` — a live shop read from an OPC UA server through a data-change subscription.

URL form: ``opc.tcp://[user@]host:port[/path]?security=SignAndEncrypt&user=NAME``.
Options of :func:`twin.sources.open_source` override the URL: ``username``, ``password``
(never put it in a URL that is stored: :meth:`OpcUaSource.meta` leaves it out),
``security`` (``None`` | ``Sign`` | ``SignAndEncrypt``; policy Basic256Sha256),
``cert_dir`` (certificate folder, see :mod:`twin.sources.opcua_security`), ``workshop``
(a :class:`~twin.workshop.Workshop`: station positions for the events, and the meta a
replay needs), ``publishing_interval_s``, ``retry_max_s``, ``initial_attempts``.

The server is read in the node layout of :mod:`twin.sources.opcua_layout` (documented in
docs/connectors.md): the namespace index of ``urn:dmw-twin:shop`` is looked up at run
time, machines and AGVs are found by browsing ``Objects/Machines`` and ``Objects/AGVs`` and
their variables by BrowseName path; nothing depends on a numeric NodeId. One subscription
monitors every variable found (a variable a server lacks falls back as documented); the
server pushes changes, the source never polls.

Times: a value's SourceTimestamp (UTC) minus ``Objects/Shop/ShiftStart`` (or, on a server
without it, the moment of the first connection) gives the event's shift time in seconds.
Events come out in time order; a value whose timestamp is older than what was already
delivered (e.g. the unchanged values re-read after a reconnect) is dated at the watermark.

Connection life: ``connecting`` → ``connected``; when the server goes away →
``reconnecting`` (retries with backoff up to ``retry_max_s``, a new session and
subscription each time) → ``connected`` again, with the outage recorded as a
:class:`~twin.sources.base.Gap`; the subscription's initial values after a reconnect put
every entity's state right again. A wrong password, an untrusted certificate or a missing
security mode → ``failed`` with a message that says what to do; an unreachable server →
``failed`` after ``initial_attempts`` tries (a loss after connecting retries until stopped).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from twin.events import Event
from twin.sources.base import (
    Gap, Rejected, SourceBatch, SourceError, SourceState, SourceStatus, redact, register_scheme,
)
from twin.sources.opcua_layout import (
    AGV_STATES, AGV_VARS, AGVS, ITEM_STATES, MACHINE_VARS, MACHINES, NAMESPACE_URI, OPERATION_MODES, SHOP,
    Var, station_state,
)
from twin.sources.opcua_security import CertStore, SecurityError, normalise_mode
from twin.workshop import Workshop

log = logging.getLogger(__name__)

#: OPC UA status codes that mean "this user may not in" (no retry helps).
_AUTH_CODES = ("BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid")


@dataclass
class _Entity:
    """What we know of one machine or AGV: its kind and the latest good value per variable."""

    kind: str  # "station" | "agv"
    values: dict[str, Any]
    last: Event | None = None


class _Fatal(Exception):
    """A connection problem retrying cannot fix (wrong password, untrusted certificate)."""


@functools.cache
def _client_class() -> type:
    """asyncua's ``Client``, refusing to send a password in plain text.

    asyncua sends the password unencrypted (with only a log warning) when the endpoint's
    user-token policy is None and the channel is not encrypted — a ``None``-only server
    with user names. We refuse instead: the password is never sent, and the session fails
    with a message saying what to change."""
    from asyncua import Client, ua
    from asyncua.crypto.security_policies import SecurityPolicyNone

    class _NoPlainPasswordClient(Client):
        dmw_endpoint = ""  # the endpoint as the user gave it, without credentials

        def _add_user_auth(self, params: Any, username: str | None, password: str | None) -> None:
            policy = self.server_policy(ua.UserTokenType.UserName)
            plain = not policy.SecurityPolicyUri or policy.SecurityPolicyUri == SecurityPolicyNone.URI
            if password and plain and self.security_policy.Mode != ua.MessageSecurityMode.SignAndEncrypt:
                raise _Fatal(f"{self.dmw_endpoint}: the password of user {username!r} would "
                             f"travel unencrypted (the server offers no encryption for it on this "
                             f"endpoint): not sent; connect with security Sign or SignAndEncrypt")
            super()._add_user_auth(params, username, password)

    return _NoPlainPasswordClient


class OpcUaSource:
    """The shop behind an OPC UA server, as a :class:`~twin.sources.base.Source`."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        security: str | None = None,
        cert_dir: str | None = None,
        workshop: Workshop | None = None,
        publishing_interval_s: float = 0.1,
        retry_min_s: float = 0.5,
        retry_max_s: float = 10.0,
        initial_attempts: int = 3,
        timeout_s: float = 4.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "opc.tcp" or not parts.hostname:
            raise SourceError(f"source {redact(url)!r}: expected opc.tcp://host:port[/path]")
        try:
            port = parts.port or 4840
        except ValueError as exc:
            raise SourceError(f"source {redact(url)!r}: {exc}") from None
        q = parse_qs(parts.query)
        self.username = username or (unquote(parts.username) if parts.username else None) or q.get("user", [None])[-1]
        self._password = password if password is not None else (unquote(parts.password) if parts.password else None)
        try:
            self.security = normalise_mode(security or q.get("security", ["None"])[-1])
        except SecurityError as exc:
            raise SourceError(f"source {redact(url)!r}: {exc}") from None
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        self.endpoint = f"opc.tcp://{host}:{port}{parts.path}"
        self.url = redact(url)
        self.workshop = workshop
        self.certs = CertStore(cert_dir)
        self.publishing_interval_s = float(publishing_interval_s)
        self.retry_min_s, self.retry_max_s = float(retry_min_s), float(retry_max_s)
        self.initial_attempts = max(1, int(initial_attempts))
        self.timeout_s = float(timeout_s)
        self.t0_epoch: float | None = None
        self.events_received = 0  # data-change notifications taken in
        self._lock = threading.Lock()
        self._status = SourceStatus(SourceState.CONNECTING, f"connecting to {self.endpoint}")
        self._statuses: list[SourceStatus] = [self._status]
        self._gaps: list[Gap] = []
        self._rejected: list[Rejected] = []
        self._inbox: list[tuple[float, str, str, Any]] = []  # (epoch s, entity, var name, value)
        self._entities: dict[str, _Entity] = {}
        self._reached = 0.0
        self._connected_once = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._refusal = ""  # our validator's message about the server's certificate

    # -- Source ------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        m: dict[str, Any] = {}
        if self.workshop is not None:
            from twin.live import workshop_meta

            m.update(workshop_meta(self.workshop))
        m.update({"source": self.url, "mode": "live", "protocol": "opcua", "security": self.security})
        if self.t0_epoch is not None:
            m["t0_epoch"] = self.t0_epoch
        return m

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("OPC UA source already started")
        self._thread = threading.Thread(target=self._thread_main, name="dmw-opcua-client", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_requested.set()
        loop, ev = self._loop, self._stopping
        if loop is not None and ev is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
        if self._status.state not in (SourceState.STOPPED, SourceState.FAILED):
            self._set(SourceState.STOPPED, "stopped")

    @property
    def status(self) -> SourceStatus:
        return self._status

    def drain(self) -> SourceBatch:
        with self._lock:
            connected = self._status.state == SourceState.CONNECTED
            # values that arrive while the subscription is still being made wait for the
            # CONNECTED status, so a reader never sees the shop before it sees "connected"
            held = self._status.state in (SourceState.CONNECTING, SourceState.RECONNECTING)
            inbox, self._inbox = ([], self._inbox) if held else (self._inbox, [])
            statuses, self._statuses = self._statuses, []
            gaps, self._gaps = self._gaps, []
            rejected, self._rejected = self._rejected, []
            events = self._events_from(inbox, rejected)
            if connected and self.t0_epoch is not None:
                # everything the server dated more than a few publishing intervals ago has arrived
                lag = 3 * self.publishing_interval_s + 0.5
                self._reached = max(self._reached, time.time() - self.t0_epoch - lag)
            return SourceBatch(events=list(events), reached=self._reached, statuses=statuses,
                               gaps=gaps, rejected=rejected)

    # -- turning values into events (under the lock) ---------------------------------
    def _events_from(self, inbox: list[tuple[float, str, str, Any]], rejected: list[Rejected]) -> list[Event]:
        if not inbox or self.t0_epoch is None:
            return []
        inbox.sort(key=lambda item: item[0])  # stable: one write's values stay together
        out: list[Event] = []
        i = 0
        while i < len(inbox):
            ts = inbox[i][0]
            j = i
            touched: dict[str, None] = {}
            while j < len(inbox) and inbox[j][0] == ts:
                _, entity, name, value = inbox[j]
                ent = self._entities.get(entity)
                if ent is not None:
                    ent.values[name] = value
                    touched[entity] = None
                j += 1
            t = max(ts - self.t0_epoch, self._reached, 0.0)
            for entity in touched:
                e = self._event(entity, self._entities[entity], t, rejected)
                if e is not None:
                    out.append(e)
                    self._reached = t
            i = j
        return out

    def _event(self, entity: str, ent: _Entity, t: float, rejected: list[Rejected]) -> Event | None:
        v = ent.values
        if ent.kind == "station":
            item, mode = v.get("ItemState"), v.get("OperationMode")
            if item is None:
                return None  # no good ItemState yet: nothing to say about the machine
            if item not in ITEM_STATES or (mode is not None and mode not in OPERATION_MODES):
                rejected.append(Rejected(f"machine {entity}: ItemState/OperationMode {item!r}/{mode!r} "
                                         "outside the Machinery specification", f"{entity} {item} {mode}"))
                return None
            state = station_state(item, mode, v.get("Blocked"))
            if state is None:
                return None
            st = self.workshop.stations.get(entity) if self.workshop is not None else None
            queue = v.get("Production/QueueLength")
            e = Event(t, entity, "station", state,
                      st.x if st else None, st.y if st else None, st.heading if st else None,
                      station=entity, wip=str(v.get("Production/ActiveProgram/WipId") or ""),
                      order=str(v.get("Production/ActiveProgram/JobId") or ""),
                      process=str(v.get("Production/ActiveProgram/Name") or ""),
                      queue=float(queue) if queue is not None else None,
                      product=str(v.get("Production/ActiveProgram/ProductId") or ""))
        else:
            state = v.get("State")
            if state is None:
                return None
            if state not in AGV_STATES:
                rejected.append(Rejected(f"AGV {entity}: State {state!r} is not one of {', '.join(AGV_STATES)}",
                                         f"{entity} {state}"))
                return None

            def num(name: str) -> float | None:
                x = v.get(name)
                return float(x) if isinstance(x, (int, float)) and x == x else None

            e = Event(t, entity, "agv", state, num("X"), num("Y"), num("Heading"),
                      station=str(v.get("Station") or ""), wip=str(v.get("Load") or ""), agv=entity)
        if ent.last is not None and _same_but_time(ent.last, e):
            return None  # e.g. values re-read after a reconnect that did not change
        ent.last = e
        return e

    # -- status ---------------------------------------------------------------------------
    def _now_t(self) -> float:
        return max(self._reached, time.time() - self.t0_epoch) if self.t0_epoch is not None else self._reached

    def _set(self, state: SourceState, message: str, t: float | None = None) -> None:
        with self._lock:
            st = SourceStatus(state, message, t)
            self._status = st
            self._statuses.append(st)
        log.info("OPC UA %s: %s %s", self.endpoint, state.value, message)

    # -- the client thread --------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # noqa: BLE001 - reported as data
            log.exception("OPC UA source crashed")
            self._set(SourceState.FAILED, f"{self.endpoint}: internal error ({exc})", self._now_t())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self._stop_requested.is_set():
            return
        delay, attempt = self.retry_min_s, 0
        lost_at: float | None = None
        lost_why = ""
        while not self._stopping.is_set():
            attempt += 1
            client: Any = None
            try:
                connecting = asyncio.ensure_future(self._connect())
                stopping = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait([connecting, stopping], return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not connecting.done():  # stop() while connecting: give up at once
                    connecting.cancel()
                    try:
                        await connecting
                    except BaseException:  # noqa: BLE001 - cancelled or failed: either way we stop
                        pass
                    break
                client, lost = connecting.result()
                if lost_at is not None:
                    back = self._now_t()
                    with self._lock:
                        self._gaps.append(Gap(lost_at, back, f"OPC UA connection lost ({lost_why})"))
                    self._set(SourceState.CONNECTED,
                              f"reconnected to {self.endpoint} after {back - lost_at:.1f} s", back)
                else:
                    self._set(SourceState.CONNECTED, f"connected to {self.endpoint} ({self._describe()})",
                              self._now_t())
                self._connected_once, lost_at, delay, attempt = True, None, self.retry_min_s, 0
                reason = await self._wait_lost(lost)
                if reason is None:
                    break  # stop() asked
                lost_at, lost_why = self._now_t(), reason
                self._set(SourceState.RECONNECTING, f"{self.endpoint}: {reason}; reconnecting", lost_at)
            except _Fatal as exc:
                self._set(SourceState.FAILED, str(exc), self._now_t())
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure becomes a readable status
                why = _readable(exc)
                if not self._connected_once and attempt >= self.initial_attempts:
                    self._set(SourceState.FAILED, f"cannot connect to {self.endpoint}: {why}", self._now_t())
                    return
                state = SourceState.RECONNECTING if self._connected_once else SourceState.CONNECTING
                self._set(state, f"{self.endpoint}: {why}; retrying in {delay:.1f} s", self._now_t())
            finally:
                if client is not None:
                    await _close(client)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except asyncio.TimeoutError:
                pass
            delay = min(self.retry_max_s, delay * 2)

    def _describe(self) -> str:
        who = f"user {self.username}" if self.username else "anonymous"
        mode = "no security" if self.security == "None" else f"Basic256Sha256 {self.security}"
        return f"{mode}, {who}"

    async def _connect(self) -> tuple[Any, asyncio.Event]:
        from asyncua import ua
        from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

        client = _client_class()(self.endpoint, timeout=self.timeout_s, watchdog_intervall=1.0)
        client.dmw_endpoint = self.endpoint
        client.name = client.description = "DMW Twin"
        client.session_timeout = 60_000
        if self.security != "None":
            cert, key, uri = self.certs.identity("client")
            client.application_uri = uri
            self._refusal = ""
            client.certificate_validator = self.certs.validator("server", self._on_refusal)
            mode = getattr(ua.MessageSecurityMode, self.security)
            try:
                await client.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key), mode=mode)
            except ua.UaError as exc:
                if "No matching endpoints" in str(exc) or "Not a valid endpoint" in str(exc):
                    raise _Fatal(f"{self.endpoint} offers no Basic256Sha256 {self.security} endpoint") from None
                raise
        if self.username:
            client.set_user(self.username)
            client.set_password(self._password or "")
        lost = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def on_lost(exc: Exception) -> None:
            loop.call_soon(lost.set)

        client.connection_lost_callback = on_lost
        try:
            await client.connect()
        except ua.UaStatusCodeError as exc:
            await _close(client)
            name = ua.StatusCode(exc.code).name
            if self._refusal:
                raise _Fatal(self._refusal) from None
            if name in _AUTH_CODES:
                who = f"user {self.username!r}" if self.username else "an anonymous session"
                hint = "wrong user name or password" if self.username else \
                    "the server requires a user name and password"
                raise _Fatal(f"{self.endpoint} refused {who} ({name}): {hint}") from None
            if name in ("BadCertificateUntrusted", "BadSecurityChecksFailed", "BadCertificateInvalid"):
                cert, _, _ = self.certs.identity("client")
                raise _Fatal(f"{self.endpoint} refused our client certificate ({name}): on the server, "
                             f"trust {cert} (copy it into the server's trusted certificates)") from None
            raise
        except BaseException:
            await _close(client)
            if self._refusal:
                raise _Fatal(self._refusal) from None
            raise
        try:
            await self._subscribe(client)
        except BaseException:
            await _close(client)
            raise
        return client, lost

    def _on_refusal(self, message: str) -> None:
        self._refusal = f"{self.endpoint}: {message}"

    async def _wait_lost(self, lost: asyncio.Event) -> str | None:
        """Wait until the connection is lost (its reason) or stop() is called (None)."""
        assert self._stopping is not None
        stop_task = asyncio.ensure_future(self._stopping.wait())
        lost_task = asyncio.ensure_future(lost.wait())
        await asyncio.wait([stop_task, lost_task], return_when=asyncio.FIRST_COMPLETED)
        for task in (stop_task, lost_task):
            task.cancel()
        if self._stopping.is_set():
            return None
        return "the server stopped answering"

    # -- browsing and subscribing -------------------------------------------------------
    async def _subscribe(self, client: Any) -> None:
        from asyncua import ua

        objects = client.nodes.objects
        ns = await _namespace_index(client)
        entities: dict[str, tuple[str, Any]] = {}
        for folder, kind in ((MACHINES, "station"), (AGVS, "agv")):
            node = await _child(objects, folder, ns)
            if node is None:
                continue
            if ns < 0:  # a server without our namespace URI: take the folder's namespace
                ns = (await node.read_browse_name()).NamespaceIndex
            for child in await node.get_children(refs=ua.ObjectIds.HierarchicalReferences,
                                                 nodeclassmask=ua.NodeClass.Object):
                name = (await child.read_browse_name()).Name
                entities[name] = (kind, child.nodeid)
        if not entities:
            raise _Fatal(f"{self.endpoint}: no Objects/{MACHINES} or Objects/{AGVS} in namespace "
                         f"{NAMESPACE_URI} (is this a DMW Twin layout server? see docs/connectors.md)")
        if self.t0_epoch is None:
            self.t0_epoch = await self._shift_start(client, objects, ns)
        # every variable of every entity, resolved in one TranslateBrowsePaths call
        wanted: list[tuple[str, Var]] = []
        paths = []
        for entity, (kind, nodeid) in entities.items():
            for var in (MACHINE_VARS if kind == "station" else AGV_VARS):
                wanted.append((entity, var))
                paths.append(_browse_path(nodeid, var.path, ns))
        results = await client.uaclient.translate_browsepaths_to_nodeids(paths)
        handles: dict[Any, tuple[str, str]] = {}
        nodes = []
        missing: dict[str, int] = {}
        for (entity, var), res in zip(wanted, results):
            if res.StatusCode.is_good() and res.Targets:
                tid = res.Targets[0].TargetId
                nid = ua.NodeId(tid.Identifier, tid.NamespaceIndex, tid.NodeIdType)
                handles[nid] = (entity, var.name)
                nodes.append(client.get_node(nid))
            else:
                missing[var.name] = missing.get(var.name, 0) + 1
        if missing:
            log.info("OPC UA %s lacks %s; falling back as documented", self.endpoint,
                     ", ".join(f"{k} (x{n})" for k, n in missing.items()))
        with self._lock:
            for entity, (kind, _) in entities.items():
                self._entities.setdefault(entity, _Entity(kind, {}))
        handler = _Handler(self, handles)
        sub = await client.create_subscription(self.publishing_interval_s * 1000.0, handler)
        for i in range(0, len(nodes), 1000):
            await sub.subscribe_data_change(nodes[i:i + 1000], queuesize=100, sampling_interval=0.0)

    async def _shift_start(self, client: Any, objects: Any, ns: int) -> float:
        try:
            node = await objects.get_child([f"{ns}:{SHOP}", f"{ns}:ShiftStart"])
            dv = await node.read_data_value()
            if dv.StatusCode.is_good() and isinstance(dv.Value.Value, dt.datetime):
                when = dv.Value.Value
                if when.tzinfo is None:
                    when = when.replace(tzinfo=dt.timezone.utc)
                return when.timestamp()
        except Exception:  # noqa: BLE001 - a server without our Shop node: fall back
            pass
        return time.time()

    def _take(self, items: list[tuple[float, str, str, Any]]) -> None:
        with self._lock:
            self._inbox.extend(items)
            self.events_received += len(items)


class _Handler:
    """asyncua subscription handler: data changes go into the source's inbox."""

    def __init__(self, source: OpcUaSource, handles: Mapping[Any, tuple[str, str]]) -> None:
        self.source = source
        self.handles = dict(handles)

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        where = self.handles.get(node.nodeid)
        if where is None:
            return
        dv = data.monitored_item.Value
        if dv is None or (dv.StatusCode is not None and not dv.StatusCode.is_good()):
            return  # e.g. BadWaitingForInitialData: the machine has not reported yet
        when = dv.SourceTimestamp or dv.ServerTimestamp
        epoch = when.replace(tzinfo=when.tzinfo or dt.timezone.utc).timestamp() if when else time.time()
        self.source._take([(epoch, where[0], where[1], val)])

    def status_change_notification(self, status: Any) -> None:
        log.info("OPC UA subscription status change: %s", status)


# -- helpers ------------------------------------------------------------------------------

def _same_but_time(a: Event, b: Event) -> bool:
    return (a.state, a.wip, a.order, a.process, a.product, a.station, a.queue, a.x, a.y, a.heading) == \
        (b.state, b.wip, b.order, b.process, b.product, b.station, b.queue, b.x, b.y, b.heading)


def _readable(exc: BaseException) -> str:
    from asyncua import ua

    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running and the port right?)"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "no answer (timed out)"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, ua.UaStatusCodeError):
        return ua.StatusCode(exc.code).name
    return str(exc) or type(exc).__name__


async def _close(client: Any) -> None:
    try:
        await asyncio.wait_for(client.disconnect(), 2.0)
    except Exception:  # noqa: BLE001 - the connection is gone anyway
        try:
            client.uaclient.mark_disconnected()
        except Exception:  # noqa: BLE001
            pass


async def _namespace_index(client: Any) -> int:
    """Index of our namespace in the server's NamespaceArray (looked up, never assumed)."""
    from asyncua import ua

    uris = await client.get_node(ua.NodeId(ua.ObjectIds.Server_NamespaceArray)).read_value()
    if NAMESPACE_URI in uris:
        return int(uris.index(NAMESPACE_URI))
    return -1  # not there: match BrowseNames by name in any namespace


async def _child(parent: Any, name: str, ns: int) -> Any:
    """The child of ``parent`` whose BrowseName is ``name`` (in ``ns``; any when ns < 0)."""
    from asyncua import ua

    for child in await parent.get_children(refs=ua.ObjectIds.HierarchicalReferences):
        bn = await child.read_browse_name()
        if bn.Name == name and (ns < 0 or bn.NamespaceIndex == ns):
            return child
    return None


def _browse_path(start: Any, path: tuple[str, ...], ns: int) -> Any:
    from asyncua import ua

    rel = ua.RelativePath()
    for name in path:
        el = ua.RelativePathElement()
        el.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
        el.IsInverse = False
        el.IncludeSubtypes = True
        el.TargetName = ua.QualifiedName(name, max(ns, 0))
        rel.Elements.append(el)
    bp = ua.BrowsePath()
    bp.StartingNode = start
    bp.RelativePath = rel
    return bp


register_scheme("opc.tcp", OpcUaSource)
