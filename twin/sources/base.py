"""The one interface every live source speaks: the simulated shop, MQTT, OPC UA, MTConnect.

A source runs in its own thread(s) and never touches the GUI. The consumer (the ingest
pipeline, :mod:`twin.sources.ingest`) calls :meth:`Source.drain` once per frame and gets a
:class:`SourceBatch`: the events that arrived since the last call, in time order, the
``reached`` watermark (every later event has ``t > reached``), the status changes and the
gaps (periods where the source could not see the shop: a lost connection, a sequence jump),
what the source itself could not decode (bad JSON, an unknown node), and notes for the
timeline (a machine's alarms). A source reports
trouble as data in the batch and in :attr:`Source.status`, never by raising into the caller.

Times are seconds of the shift (``t`` of :class:`twin.events.Event`). A source whose feed
carries wall-clock times maps them to shift seconds with the epoch it puts into
``meta()["t0_epoch"]`` (UTC seconds of t = 0).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from twin.events import Event


class SourceState(str, enum.Enum):
    """Where a source is in its life; shown in the status bar and recorded on change."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"  # ended normally: stop() called, or the source ran out (end of shift)
    FAILED = "failed"  # cannot go on; ``message`` says why in words a person can act on


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A status change: the new ``state``, a readable ``message``, at shift time ``t`` (s)."""

    state: SourceState
    message: str = ""
    t: float | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    """A span of shift time [t0, t1] (s) the source could not see; ``reason`` in words."""

    t0: float
    t1: float
    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """Something a source received but could not turn into an event (decode failed).

    ``reason`` says what is wrong; ``sample`` is a short excerpt of the payload (<= 200 chars)
    so the log shows what arrived."""

    reason: str
    sample: str = ""


@dataclass(frozen=True, slots=True)
class Note:
    """An annotation a source puts on the timeline at shift time ``t`` (s): a machine's alarm
    with its code and message (``kind`` ``alarm`` / ``warning``), or another remark."""

    t: float
    label: str
    entity: str = ""
    kind: str = "note"


@dataclass(frozen=True)
class SourceBatch:
    """What arrived since the last :meth:`Source.drain`.

    ``events`` are :class:`Event` objects or raw mappings (decoded payloads); the ingest
    pipeline validates both with :func:`twin.events.parse_event`."""

    events: list[Event | Mapping[str, Any]] = field(default_factory=list)
    reached: float = 0.0
    statuses: list[SourceStatus] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


@runtime_checkable
class Source(Protocol):
    """A live feed of shop-floor events (see the module docstring)."""

    url: str

    def meta(self) -> dict[str, Any]:
        """Recording metadata: at least ``source`` (the URL without credentials); a source
        that knows its workshop adds :func:`twin.live.workshop_meta`-style keys."""

    def start(self) -> None:
        """Begin receiving (returns at once; connecting happens in the background)."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop receiving and release connections; safe to call twice."""

    def drain(self) -> SourceBatch:
        """Take what arrived since the last call (consumer thread)."""

    @property
    def status(self) -> SourceStatus:
        """The current status."""


@runtime_checkable
class PacedSource(Source, Protocol):
    """A source whose pace can be set (the simulated shop, a log replay)."""

    @property
    def speed(self) -> float:
        """Shift seconds per wall second."""

    def set_speed(self, speed: float) -> None:
        """Change the pace from now on."""


class SourceError(ValueError):
    """A source URL or option is wrong; ``str(err)`` names the URL part and the problem."""


#: scheme -> factory(url, **options) -> Source. Connector modules register themselves.
_FACTORIES: dict[str, Callable[..., Source]] = {}
#: scheme -> module that registers it, imported on first use (keeps heavy stacks lazy).
_LAZY: dict[str, str] = {}


def register_scheme(scheme: str, factory: Callable[..., Source]) -> None:
    """Make ``open_source`` build ``factory(url, **options)`` for URLs of ``scheme``."""
    _FACTORIES[scheme.lower()] = factory


def register_lazy(scheme: str, module: str) -> None:
    """Name the module that registers ``scheme``; it is imported only when needed."""
    _LAZY[scheme.lower()] = module


def open_source(url: str, **options: Any) -> Source:
    """The source for ``url`` (``sim://machining13?speed=1``, ``mqtt://…``, ``opc.tcp://…``).

    Raises :class:`SourceError` for an unknown scheme or a malformed URL."""
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        raise SourceError(f"source {url!r}: no scheme (expected e.g. sim://machining13)")
    if scheme not in _FACTORIES and scheme in _LAZY:
        import importlib

        importlib.import_module(_LAZY[scheme])
    factory = _FACTORIES.get(scheme)
    if factory is None:
        known = ", ".join(sorted(set(_FACTORIES) | set(_LAZY))) or "none"
        raise SourceError(f"source {url!r}: unknown scheme {scheme!r} (known: {known})")
    return factory(url, **options)


def redact(url: str) -> str:
    """``url`` without a password (``mqtt://user:secret@host`` → ``mqtt://user@host``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}@{host}" if parts.username else host
    return parts._replace(netloc=netloc).geturl()
