"""MTConnect live sources: an adapter's SHDR stream, or an agent over HTTP.

``shdr://host:7878/DEVICE[?day=YYYY-MM-DD&devices=Devices.xml]`` — the adapter's TCP stream
directly: one machine (``DEVICE``, our station id), lines mapped exactly as
``import-mtconnect`` maps a log (:mod:`twin.mtconnect.feed`), so a recording made from a
replayed log equals the import of that log. The heartbeat: the source sends ``* PING``; the
adapter's ``* PONG <ms>`` sets the timeout (twice ``ms``) after which a silent connection
counts as lost. A lost connection reconnects with backoff; the time without data is a
:class:`~twin.sources.base.Gap`.

``mtconnect://host:5000[/DEVICE][?interval=1]`` — an MTConnect agent: ``/probe`` (device
model), ``/current`` (every item's latest value), then ``/sample?from=<next sequence>``
polled every ``interval`` seconds. When the agent's buffer no longer holds the sequence
asked for (``firstSequence`` > ``from``: observations were lost) or the agent restarted
(another ``instanceId``), the span is recorded as a Gap with the number of observations
lost, never hidden.

Shift time t = 0 is midnight UTC of ``day`` (default: today, by the wall clock); the epoch
is in ``meta()["t0_epoch"]``. Alarms arrive as :class:`~twin.sources.base.Note`.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twin.mtconnect.devices import DeviceModel, DevicesError, load_devices, parse_devices
from twin.mtconnect.feed import ShdrFeed
from twin.mtconnect.shdr import Condition, Observation, ShdrError, parse_timestamp
from twin.sources.base import (
    Gap,
    Note,
    Rejected,
    SourceBatch,
    SourceError,
    SourceState,
    SourceStatus,
    redact,
    register_scheme,
)

#: Seconds between heartbeats the source sends to an adapter.
PING_S = 5.0
BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)


def _day_epoch(day: str) -> float:
    if not day:
        now = datetime.now(timezone.utc)
        return datetime(now.year, now.month, now.day, tzinfo=timezone.utc).timestamp()
    try:
        d = datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise SourceError(f"day={day!r}: expected YYYY-MM-DD") from None
    return d.replace(tzinfo=timezone.utc).timestamp()


def _one(q: dict[str, list[str]], key: str, default: str = "") -> str:
    return q.get(key, [default])[-1]


def _split_url(url: str, options: dict[str, Any], expected: str) -> tuple[Any, dict[str, list[str]]]:
    """The URL's parts and its query, with keyword ``options`` (not None) overriding the
    query's; raises :class:`SourceError` when it names no host (``expected`` says how)."""
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    for k, v in options.items():
        if v is not None:
            q[k] = [str(v)]
    if not parts.hostname:
        raise SourceError(f"source {url!r}: no host (expected {expected})")
    return parts, q


class _Base:
    """Shared bookkeeping: the feed, pending statuses / gaps / rejects, the thread."""

    def __init__(self, url: str, q: dict[str, list[str]], devices: DeviceModel | None,
                 positions: dict[str, tuple[float, float, float]] | None) -> None:
        self.url = url
        self.t0_epoch = _day_epoch(_one(q, "day"))
        self.devices = devices
        self.feed = ShdrFeed(self.t0_epoch, devices, positions, shared_clock=True)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = SourceStatus(SourceState.CONNECTING, f"connecting to {redact(url)}")
        self._statuses: list[SourceStatus] = [self._status]
        self._gaps: list[Gap] = []
        self._rejected: list[Rejected] = []

    def meta(self) -> dict[str, Any]:
        return {"source": redact(self.url), "t0_epoch": self.t0_epoch,
                "t0": datetime.fromtimestamp(self.t0_epoch, timezone.utc).isoformat()}

    @property
    def status(self) -> SourceStatus:
        return self._status

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"source:{redact(self.url)}")
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._status.state != SourceState.STOPPED:
            self._set(SourceState.STOPPED, "stopped")

    def drain(self) -> SourceBatch:
        with self._lock:
            out = self.feed.take()
            statuses, self._statuses = self._statuses, []
            gaps, self._gaps = self._gaps, []
            rejected, self._rejected = self._rejected, []
            reached = self.feed.reached
        notes = [Note(t, label, entity, kind) for t, label, entity, kind in out.notes]
        return SourceBatch(events=list(out.events), reached=reached, statuses=statuses,
                           gaps=gaps, rejected=rejected, notes=notes)

    def _set(self, state: SourceState, message: str) -> None:
        with self._lock:
            self._status = SourceStatus(state, message, self.feed.reached)
            self._statuses.append(self._status)

    def _back_off(self, attempt: int) -> bool:
        """Wait before reconnect attempt ``attempt`` + 1 (0, 1, 2… → :data:`BACKOFF_S`);
        True if the source was stopped meanwhile."""
        return self._stop.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])

    def _run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class ShdrSource(_Base):
    """``shdr://host:port/DEVICE`` (see the module docstring)."""

    def __init__(self, url: str, *, devices: DeviceModel | str | Path | None = None,
                 positions: dict[str, tuple[float, float, float]] | None = None,
                 **options: Any) -> None:
        parts, q = _split_url(url, options, "shdr://host:7878/DEVICE")
        self.address = (parts.hostname, parts.port or 7878)
        self.station = parts.path.strip("/")
        if not self.station:
            raise SourceError(f"source {url!r}: name the machine (shdr://host:port/DEVICE)")
        if devices is None and _one(q, "devices"):
            devices = _one(q, "devices")
        if isinstance(devices, (str, Path)):
            try:
                devices = load_devices(devices)
            except DevicesError as exc:
                raise SourceError(f"source {url!r}: {exc}") from None
        super().__init__(url, q, devices, positions)
        self.timeout_s = 2 * PING_S

    def _run(self) -> None:
        attempt = 0
        lost_at: float | None = None
        while not self._stop.is_set():
            try:
                sock = socket.create_connection(self.address, timeout=5.0)
            except OSError as exc:
                self._set(SourceState.RECONNECTING,
                          f"{self.address[0]}:{self.address[1]}: cannot connect ({exc.strerror or exc})")
                if self._back_off(attempt):
                    return
                attempt += 1
                continue
            attempt = 0
            self._set(SourceState.CONNECTED, f"adapter {self.address[0]}:{self.address[1]} ({self.station})")
            first = True
            try:
                for t_epoch_first in self._read(sock):
                    if first and lost_at is not None:
                        with self._lock:
                            self._gaps.append(Gap(lost_at, max(lost_at, t_epoch_first),
                                                  "adapter connection lost"))
                    first = False
            except OSError as exc:
                reason = str(exc.strerror or exc)
            else:
                reason = "the adapter closed the connection"
            finally:
                sock.close()
            if self._stop.is_set():
                return
            lost_at = self.feed.reached
            self._set(SourceState.RECONNECTING, f"{self.address[0]}:{self.address[1]}: {reason}")

    def _read(self, sock: socket.socket):  # noqa: ANN202 - generator of shift times
        sock.settimeout(0.25)
        pending = b""
        last_rx = time.monotonic()
        last_ping = 0.0
        lineno = 0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - last_ping >= PING_S:
                sock.sendall(b"* PING\n")
                last_ping = now
            if now - last_rx > self.timeout_s:
                raise OSError(f"no data or heartbeat for {self.timeout_s:g} s")
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            last_rx = time.monotonic()
            pending += data
            *lines, pending = pending.split(b"\n")
            with self._lock:
                for raw in lines:
                    lineno += 1
                    text = raw.decode("utf-8", errors="replace")
                    if text.startswith("* PONG"):
                        try:
                            self.timeout_s = 2 * int(text.split()[2]) / 1000.0
                        except (IndexError, ValueError):
                            pass
                    self.feed.feed(text, self.station, redact(self.url), lineno,
                                   stale_before=self.t0_epoch)
                reached = self.feed.reached
            yield reached


# -- MTConnect agent (HTTP) ------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_CONDITION_TAGS = {"Normal", "Warning", "Fault", "Unavailable"}


def parse_streams(text: bytes | str) -> tuple[dict[str, str], list[tuple[int, str, float, Observation]]]:
    """An ``MTConnectStreams`` document → (header attributes, [(sequence, device, UTC epoch,
    observation)] in sequence order). An ``MTConnectError`` raises :class:`ShdrError`."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ShdrError(f"not XML ({exc})") from None
    tag = _local(root.tag)
    if tag == "MTConnectError":
        errs = [(e.get("errorCode", ""), (e.text or "").strip()) for e in root.iter() if _local(e.tag) == "Error"]
        raise ShdrError("agent error: " + "; ".join(f"{c} {m}" for c, m in errs))
    if tag != "MTConnectStreams":
        raise ShdrError(f"not an MTConnectStreams document (<{tag}>)")
    header: dict[str, str] = {}
    out: list[tuple[int, str, float, Observation]] = []
    for el in root.iter():
        name = _local(el.tag)
        if name == "Header":
            header = dict(el.attrib)
        elif name == "DeviceStream":
            dev = el.get("name", "")
            for ob in el.iter():
                seq = ob.get("sequence")
                if seq is None or ob.get("dataItemId") is None:
                    continue
                key = ob.get("name") or ob.get("dataItemId", "")
                ts = parse_timestamp(ob.get("timestamp", ""))
                kind = _local(ob.tag)
                if kind in _CONDITION_TAGS:
                    value: str | Condition = Condition(kind, ob.get("nativeCode", ""),
                                                       ob.get("nativeSeverity", ""),
                                                       ob.get("qualifier", ""), (ob.text or "").strip())
                else:
                    value = (ob.text or "").strip()
                out.append((int(seq), dev, ts, Observation(key, value, dev)))
    out.sort(key=lambda r: r[0])
    return header, out


class AgentSource(_Base):
    """``mtconnect://host:port[/DEVICE]`` (see the module docstring)."""

    def __init__(self, url: str, *, positions: dict[str, tuple[float, float, float]] | None = None,
                 **options: Any) -> None:
        parts, q = _split_url(url, options, "mtconnect://host:5000[/DEVICE]")
        self.base = f"http://{parts.hostname}:{parts.port or 5000}"
        self.device = parts.path.strip("/")
        try:
            self.interval_s = float(_one(q, "interval", "1"))
            self.count = int(_one(q, "count", "1000"))
        except ValueError as exc:
            raise SourceError(f"source {url!r}: {exc}") from None
        super().__init__(url, q, None, positions)
        self.next_seq: int | None = None
        self.instance: str | None = None
        self.observations_lost = 0

    def _get(self, path: str) -> bytes:
        prefix = f"/{self.device}" if self.device else ""
        with urllib.request.urlopen(f"{self.base}{prefix}{path}", timeout=10.0) as r:  # noqa: S310
            return r.read()

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                if self.devices is None:
                    self.devices = parse_devices(self._get("/probe"), f"{self.base}/probe")
                    self.feed.devices = self.devices
                if self.next_seq is None:
                    self._apply(*parse_streams(self._get("/current")))
                    self._set(SourceState.CONNECTED, f"agent {self.base} "
                                                     f"({', '.join(self.devices.devices)})")
                while not self._stop.is_set():
                    self._apply(*parse_streams(self._get(f"/sample?from={self.next_seq}&count={self.count}")))
                    attempt = 0
                    if self._status.state != SourceState.CONNECTED:
                        self._set(SourceState.CONNECTED, f"agent {self.base}")
                    if self._stop.wait(self.interval_s):
                        return
            except (OSError, urllib.error.URLError) as exc:
                self._set(SourceState.RECONNECTING, f"{self.base}: {getattr(exc, 'reason', exc)}")
            except (ShdrError, DevicesError, ValueError) as exc:
                with self._lock:
                    self._rejected.append(Rejected(str(exc)[:300]))
                self._set(SourceState.RECONNECTING, f"{self.base}: {exc}")
            if self._back_off(attempt):
                return
            attempt += 1

    def _apply(self, header: dict[str, str], obs: list[tuple[int, str, float, Observation]]) -> None:
        first = int(header.get("firstSequence", "0") or 0)
        nxt = int(header.get("nextSequence", "0") or 0)
        instance = header.get("instanceId", "")
        with self._lock:
            t_before = self.feed.reached
            lost = 0
            why = ""
            if self.instance is not None and instance != self.instance:
                why = f"agent restarted (instance {self.instance} -> {instance})"
            elif self.next_seq is not None and first > self.next_seq:
                lost = first - self.next_seq
                why = (f"sequence gap: {lost} observations lost (asked from {self.next_seq}, "
                       f"the agent's buffer starts at {first})")
            if why:
                self.observations_lost += lost
                t1 = (obs[0][2] - self.t0_epoch) if obs else t_before
                self._gaps.append(Gap(t_before, max(t_before, t1), why))
            self.instance = instance
            for _seq, dev, ts, ob in obs:
                station = dev or self.device
                if self.device and station != self.device:
                    continue
                self.feed.feed_observations(ts, [ob], station, stale_before=self.t0_epoch)
            self.next_seq = nxt


def _shdr(url: str, **options: Any) -> ShdrSource:
    return ShdrSource(url, **options)


def _agent(url: str, **options: Any) -> AgentSource:
    return AgentSource(url, **options)


register_scheme("shdr", _shdr)
register_scheme("mtconnect", _agent)
