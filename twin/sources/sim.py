"""``sim://`` — the simulated physical shop as a live source, paced in real time × speed.

URL form: ``sim://<workshop>?speed=1&warmup_min=60&scenario=<file>&seed=0&rule=fifo``,
where ``<workshop>`` is a bundled workshop name (``machining13``) or a path to a workshop
file (``sim:///abs/path/shop.toml``). The source does not record: the ingest pipeline does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from twin.events import Event
from twin.live import LiveShop
from twin.scenario import load_scenario
from twin.sources.base import SourceBatch, SourceError, SourceState, SourceStatus, register_scheme
from twin.workshop import Workshop, load_workshop

#: The workshops that ship with the app.
BUNDLED_WORKSHOPS = Path(__file__).resolve().parents[2] / "assets" / "workshops"


def resolve_workshop(name: str) -> Path:
    """A workshop file from a bundled name (``machining13``) or a path."""
    p = Path(name)
    if p.suffix and p.is_file():
        return p
    for cand in (BUNDLED_WORKSHOPS / f"{name}.toml", BUNDLED_WORKSHOPS / name):
        if cand.is_file():
            return cand
    raise SourceError(f"workshop {name!r}: not a file and not a bundled workshop "
                      f"(bundled: {', '.join(sorted(q.stem for q in BUNDLED_WORKSHOPS.glob('*.toml')))})")


def sim_url(workshop: str | Path, **params: Any) -> str:
    """The ``sim://`` URL of a bundled workshop name or a workshop file, with query
    ``params`` (``speed``, ``warmup_min``, ``scenario``, ``seed``, ``rule``; None = left out)."""
    w = str(workshop)
    if Path(w).suffix:  # a file: an absolute path keeps the URL valid from any folder
        w = "/" + str(Path(w).resolve()).lstrip("/")
    q = urlencode({k: str(v) for k, v in params.items() if v is not None})
    return f"sim://{w}" + (f"?{q}" if q else "")


def _one(q: dict[str, list[str]], key: str, default: str) -> str:
    return q.get(key, [default])[-1]


class SimSource:
    """The simulated physical shop behind the :class:`~twin.sources.base.Source` protocol.

    Args:
        url: ``sim://…`` as in the module docstring.
        workshop: an already loaded workshop (overrides the URL's workshop).
        tick_s, clock: pacing slice (wall s) and wall clock of :class:`~twin.live.LiveShop`
            (tests drive the clock by hand).
        **options: ``speed``, ``warmup_min``, ``scenario``, ``seed``, ``rule`` override the URL.
    """

    def __init__(self, url: str, *, workshop: Workshop | None = None,
                 tick_s: float | None = None, clock: Callable[[], float] | None = None,
                 **options: Any) -> None:
        parts = urlsplit(url)
        q = parse_qs(parts.query)
        for k, v in options.items():
            if v is not None:
                q[k] = [str(v)]
        name = (parts.netloc + parts.path) if parts.netloc else parts.path
        try:
            self.workshop = workshop or load_workshop(resolve_workshop(name))
            speed = float(_one(q, "speed", "1"))
            warmup_s = 60.0 * float(_one(q, "warmup_min", "0"))
            seed = int(_one(q, "seed", "0"))
        except (OSError, ValueError) as exc:
            raise SourceError(f"source {url!r}: {exc}") from exc
        scen_path = _one(q, "scenario", "")
        try:
            scenario = load_scenario(scen_path, self.workshop) if scen_path else None
        except (OSError, ValueError) as exc:
            raise SourceError(f"source {url!r}: scenario {scen_path}: {exc}") from exc
        self.url = url
        self._lock = threading.Lock()
        self._queue: list[Event] = []
        self._reached = 0.0
        self._shop = LiveShop(self.workshop, self._receive, scenario=scenario, seed=seed,
                              rule=_one(q, "rule", "fifo"), factor=speed, warmup_s=warmup_s,
                              **({"tick_s": tick_s} if tick_s is not None else {}),
                              **({"clock": clock} if clock is not None else {}))
        self._status = SourceStatus(SourceState.CONNECTING, "starting the simulated shop")
        self._pending: list[SourceStatus] = [self._status]
        self._ended = False

    # -- Source ------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        m = self._shop.meta()
        m["source"] = self.url
        return m

    def start(self) -> None:
        self._shop.start()
        self._set(SourceState.CONNECTED, f"simulated shop {self.workshop.name} running", 0.0)

    def stop(self, timeout: float = 5.0) -> None:
        self._shop.stop(timeout)
        if not self._ended:
            self._ended = True
            self._set(SourceState.STOPPED, "stopped", self.reached)

    def drain(self) -> SourceBatch:
        shop = self._shop
        ended = not self._ended and shop.started and not shop.running
        with self._lock:
            events, self._queue = self._queue, []
            reached = self._reached
        if ended:  # the thread is gone: everything it produced is in ``events``
            self._ended = True
            if shop.error:
                self._set(SourceState.FAILED, shop.error, reached)
            else:
                self._set(SourceState.STOPPED, "the simulated shop finished its orders", reached)
        with self._lock:
            statuses, self._pending = self._pending, []
        return SourceBatch(events=list(events), reached=reached, statuses=statuses)

    @property
    def status(self) -> SourceStatus:
        return self._status

    # -- PacedSource ---------------------------------------------------------------------
    @property
    def speed(self) -> float:
        return self._shop.factor

    def set_speed(self, speed: float) -> None:
        self._shop.set_factor(speed)

    # -- helpers -------------------------------------------------------------------------
    @property
    def reached(self) -> float:
        """Simulated time (s) up to which every event is queued for :meth:`drain`."""
        with self._lock:
            return self._reached

    def _receive(self, events: list[Event], reached: float) -> None:
        """The pacing thread hands over a slice (see :data:`twin.live.Sink`)."""
        with self._lock:
            self._queue.extend(events)
            self._reached = max(self._reached, reached)

    def _set(self, state: SourceState, message: str, t: float | None) -> None:
        st = SourceStatus(state, message, t)
        with self._lock:
            self._status = st
            self._pending.append(st)


register_scheme("sim", SimSource)
