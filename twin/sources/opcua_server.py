"""Our OPC UA server: the simulated shop (or any event stream) published in our node layout.

:class:`OpcUaPublisher` runs an asyncua server in its own thread (asyncua is asyncio; its
event loop lives in that thread) and exposes ``Objects/Machines/<station>/…``,
``Objects/AGVs/<agv>/…`` and ``Objects/Shop/…`` as laid out in
:mod:`twin.sources.opcua_layout`. :meth:`OpcUaPublisher.publish` writes events into those
variables; every value carries the event's time as its SourceTimestamp
(``ShiftStart + t``), so a client knows when the shop changed, not when it heard of it.

Security: endpoints for the modes given (``None``, ``Sign``, ``SignAndEncrypt``; policy
Basic256Sha256 for the secure ones), the server's own certificate generated on first run
and kept in the certificate folder (:mod:`twin.sources.opcua_security`), client
certificates accepted only from that folder's ``trusted/`` (when no ``None`` endpoint is
offered; with one, anybody may connect without a certificate, so none is checked). User names and passwords are
checked against ``users`` (kept in memory only as salted PBKDF2 hashes); anonymous
sessions are accepted only when ``allow_anonymous`` (default: when no users are given).

``serve --opcua`` (twin/serve_cli.py) drives it from the ``sim://`` source.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from twin.events import Event
from twin.sources.base import SourceError
from twin.sources.opcua_layout import (
    AGV_VARS, AGVS, MACHINE_VARS, MACHINES, NAMESPACE_URI, SHOP, SHOP_VARS, Var, agv_values, machine_values,
)
from twin.sources.opcua_security import CertStore, normalise_mode
from twin.workshop import Workshop

log = logging.getLogger(__name__)


#: Placeholder value of each data type while a node waits for its first value.
_BLANK: dict[str, Any] = {"String": "", "Boolean": False, "Double": 0.0, "UInt32": 0,
                          "DateTime": dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)}


def _written_value(value: Any, vt: Any, ts: dt.datetime, now: dt.datetime) -> Any:
    """A DataValue for one write. asyncua's server deep-copies every written DataValue once per
    monitored item so that later changes to it cannot leak into the queue; ours are built
    fresh for each write, never changed after, and hold only immutable values, so the copy
    can be the value itself (it was 80 % of the server's time at 500 items/s)."""
    from asyncua import ua

    global _SharedDataValue
    if _SharedDataValue is None:
        class _Shared(ua.DataValue):  # type: ignore[misc]
            def __deepcopy__(self, memo: dict[int, Any]) -> Any:
                return self

        _SharedDataValue = _Shared
    return _SharedDataValue(ua.Variant(value, vt), SourceTimestamp=ts, ServerTimestamp=now)


_SharedDataValue: Any = None


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 100_000)


class _Users:
    """The asyncua user manager: user name + password against salted hashes; anonymous
    only when allowed."""

    def __init__(self, users: Mapping[str, str], allow_anonymous: bool) -> None:
        self._hashes = {}
        for name, pw in users.items():
            salt = secrets.token_bytes(16)
            self._hashes[name] = (salt, _hash(pw, salt))
        self.allow_anonymous = allow_anonymous
        self.refused: list[str] = []

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> Any:
        from asyncua.crypto.permission_rules import User, UserRole

        if username is None:
            return User(role=UserRole.User) if self.allow_anonymous else None
        entry = self._hashes.get(username)
        pw = password.decode() if isinstance(password, bytes) else (password or "")
        if entry is not None and hmac.compare_digest(entry[1], _hash(pw, entry[0])):
            return User(role=UserRole.User, name=username)
        self.refused.append(f"user {username!r}: wrong user name or password")
        log.warning("OPC UA session refused: user %r, wrong user name or password", username)
        return None


class OpcUaPublisher:
    """Publish a workshop's stations and AGVs over OPC UA (see the module docstring).

    Args:
        url: endpoint to listen on, ``opc.tcp://host:port[/path]`` (``0.0.0.0`` = all).
        workshop: whose stations and AGVs get nodes (only ``name``, ``stations`` and
            ``agvs`` are used).
        security: message security modes to offer (``None``, ``Sign``, ``SignAndEncrypt``).
        users: user name → password accepted for sessions.
        allow_anonymous: accept sessions without a user (default: when ``users`` is empty).
        cert_dir: certificate folder (default: the user config dir; see opcua_security).
        t0_epoch: UTC seconds of shift time 0 (default: when :meth:`start` is called).
    """

    def __init__(
        self,
        url: str,
        workshop: Workshop,
        *,
        security: Sequence[str] = ("None",),
        users: Mapping[str, str] | None = None,
        allow_anonymous: bool | None = None,
        cert_dir: str | os.PathLike[str] | None = None,
        t0_epoch: float | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "opc.tcp" or not parts.hostname:
            raise SourceError(f"OPC UA endpoint {url!r}: expected opc.tcp://host:port")
        try:
            self.port = parts.port or 4840
        except ValueError as exc:
            raise SourceError(f"OPC UA endpoint {url!r}: {exc}") from None
        self.url = url
        self.workshop = workshop
        self.modes = tuple(dict.fromkeys(normalise_mode(m) for m in security)) or ("None",)
        self.users = _Users(dict(users or {}), not users if allow_anonymous is None else allow_anonymous)
        if not self.users.allow_anonymous and not users:
            raise SourceError(f"OPC UA endpoint {url!r}: anonymous sessions refused but no users given")
        self.certs = CertStore(cert_dir)
        self.t0_epoch = t0_epoch
        self.rejected: list[str] = []  # readable messages about refused client certificates
        self.events_published = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._server: Any = None
        self._nodes: dict[tuple[str, str], Any] = {}  # (entity, var name) -> NodeId
        self._types: dict[tuple[str, str], Any] = {}
        self._last: dict[tuple[str, str], Any] = {}
        self._running_state: dict[str, str] = {}
        self._parts: dict[str, int] = {}

    # -- control (any thread) ----------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start the server; returns once it listens. Raises :class:`SourceError` saying
        why it could not (port in use, bad certificate folder...)."""
        if self._thread is not None:
            raise RuntimeError("OPC UA publisher already started")
        self._check_port()
        if self.t0_epoch is None:
            self.t0_epoch = time.time()
        self._thread = threading.Thread(target=self._thread_main, name="dmw-opcua-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SourceError(f"OPC UA server {self.url}: did not start within {timeout:g} s")
        if self._error is not None:
            self._thread.join(5.0)
            raise SourceError(f"OPC UA server {self.url}: cannot start ({self._error})") from self._error

    def _check_port(self) -> None:
        """Fail at once on a port already taken (building the address space takes seconds)."""
        import socket

        host = urlsplit(self.url).hostname or "0.0.0.0"  # noqa: S104 - the user's choice
        try:
            infos = socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise SourceError(f"OPC UA server {self.url}: cannot start (host {host!r}: {exc})") from None
        family, _, _, _, addr = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's listener does
            try:
                probe.bind(addr)
            except OSError as exc:
                raise SourceError(f"OPC UA server {self.url}: cannot start "
                                  f"(port {self.port}: {exc.strerror or exc})") from None

    def publish(self, events: Iterable[Event], timeout: float = 10.0) -> None:
        """Write ``events`` (time order) into the nodes; returns when they are written.
        Raises :class:`SourceError` when the server is not running (stopped, or failed)."""
        batch = [e for e in events if e.kind in ("station", "agv")]
        if not batch:
            return
        loop = self._loop
        if loop is None or loop.is_closed() or self._thread is None or not self._thread.is_alive():
            why = f" ({self._error})" if self._error else ""
            raise SourceError(f"OPC UA server {self.url}: not running{why}")
        fut = asyncio.run_coroutine_threadsafe(self._write(batch), loop)
        fut.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and close its port (safe to call twice)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def endpoint(self) -> str:
        return self.url

    def describe(self) -> list[str]:
        """Lines a person reads when the server is up (serve prints them)."""
        who = ", ".join(sorted(self.users._hashes)) or "none"
        return [
            f"OPC UA server on {self.url} (namespace {NAMESPACE_URI})",
            f"  security modes: {', '.join(self.modes)} (policy Basic256Sha256 for Sign/SignAndEncrypt)",
            f"  users: {who}; anonymous {'allowed' if self.users.allow_anonymous else 'refused'}",
            f"  server certificate: {self.certs.own_paths('server')[0]}",
            f"  trusted client certificates: {self.certs.trusted} (refused ones land in {self.certs.rejected})",
            f"  layout: Objects/{MACHINES}/<station>/…, Objects/{AGVS}/<agv>/…, Objects/{SHOP}/ShiftStart",
        ]

    # -- the server thread ---------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported through start()
            if not self._ready.is_set():
                self._error = exc
            else:
                log.error("OPC UA server %s stopped: %s", self.url, exc)
        finally:
            self._ready.set()

    async def _main(self) -> None:
        from asyncua import Server, ua

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = Server(user_manager=self.users)  # type: ignore[arg-type]
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name(f"DMW Twin shop {self.workshop.name}")
        policies = {
            "None": ua.SecurityPolicyType.NoSecurity,
            "Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
            "SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
        }
        server.set_security_policy([policies[m] for m in self.modes])
        tokens: list[type] = [ua.UserNameIdentityToken]
        if self.users.allow_anonymous:
            tokens.insert(0, ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        cert, key, uri = self.certs.identity("server")
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        await server.set_application_uri(uri)
        if "None" not in self.modes:
            # with a None endpoint on offer anyone may connect without a certificate, so a
            # client's certificate proves nothing: checking it would only refuse honest clients
            server.set_certificate_validator(self.certs.validator("client", self.rejected.append))
        await self._build(server)
        self._server = server
        async with server:
            self._ready.set()
            log.info("OPC UA server listening on %s", self.url)
            await self._stop.wait()

    async def _build(self, server: Any) -> None:
        from asyncua import ua

        idx = await server.register_namespace(NAMESPACE_URI)
        objects = server.nodes.objects

        async def variables(parent: Any, entity: str, prefix: str, specs: Sequence[Var]) -> None:
            folders: dict[tuple[str, ...], Any] = {(): parent}
            for var in specs:
                for depth in range(1, len(var.path)):
                    key = var.path[:depth]
                    if key not in folders:
                        nid = ua.NodeId(f"{prefix}/{'/'.join(key)}", idx)
                        folders[key] = await folders[key[:-1]].add_object(nid, ua.QualifiedName(key[-1], idx))
                vt = getattr(ua.VariantType, var.type)
                nid = ua.NodeId(f"{prefix}/{var.name}", idx)
                blank = _BLANK[var.type]
                node = await folders[var.path[:-1]].add_variable(
                    nid, ua.QualifiedName(var.path[-1], idx), blank, varianttype=vt)
                # no value until the shop says so: OPC UA's "waiting for initial data"
                await server.write_attribute_value(node.nodeid, ua.DataValue(
                    ua.Variant(blank, vt), StatusCode=ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData)))
                self._nodes[(entity, var.name)] = node.nodeid
                self._types[(entity, var.name)] = vt

        async def folder(name: str) -> Any:
            return await objects.add_object(ua.NodeId(name, idx), ua.QualifiedName(name, idx))

        machines, agvs, shop = await folder(MACHINES), await folder(AGVS), await folder(SHOP)
        for sid in self.workshop.stations:
            obj = await machines.add_object(ua.NodeId(f"{MACHINES}/{sid}", idx), ua.QualifiedName(sid, idx))
            await variables(obj, sid, f"{MACHINES}/{sid}", MACHINE_VARS)
            self._parts[sid] = 0
        for aid in self.workshop.agvs:
            obj = await agvs.add_object(ua.NodeId(f"{AGVS}/{aid}", idx), ua.QualifiedName(aid, idx))
            await variables(obj, aid, f"{AGVS}/{aid}", AGV_VARS)
        await variables(shop, "", SHOP, SHOP_VARS)
        assert self.t0_epoch is not None
        await self._set(server, "", {
            "ShiftStart": dt.datetime.fromtimestamp(self.t0_epoch, dt.timezone.utc),
            "Workshop": self.workshop.name,
        }, time.time())

    async def _set(self, server: Any, entity: str, values: Mapping[str, Any], epoch: float) -> None:
        ts = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
        now = dt.datetime.now(dt.timezone.utc)
        for name, value in values.items():
            key = (entity, name)
            nid = self._nodes.get(key)
            if nid is None or self._last.get(key, ...) == value:
                continue  # not in the layout, or unchanged (no notification for nothing)
            self._last[key] = value
            await server.write_attribute_value(nid, _written_value(value, self._types[key], ts, now))

    async def _write(self, events: list[Event]) -> None:
        server = self._server
        assert server is not None and self.t0_epoch is not None
        for e in events:
            epoch = self.t0_epoch + e.t
            if e.kind == "station":
                if self._running_state.get(e.entity) == "processing" and e.state != "processing":
                    self._parts[e.entity] = self._parts.get(e.entity, 0) + 1
                self._running_state[e.entity] = e.state
                values = machine_values(e.state, process=e.process, order=e.order, wip=e.wip, product=e.product,
                                        queue=e.queue)
                values["Production/PartsCounter"] = self._parts.get(e.entity, 0)
            else:
                values = agv_values(e.state, x=e.x, y=e.y, heading=e.heading, wip=e.wip, station=e.station)
            await self._set(server, e.entity, values, epoch)
            self.events_published += 1
