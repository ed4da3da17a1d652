"""``sim://`` — the simulated physical shop as a live source, paced in real time × speed.

URL form: ``sim://<workshop>?speed=1&warmup_min=60&scenario=<file>&seed=0&rule=fifo``,
where ``<workshop>`` is a bundled workshop name (``machining13``) or a path to a workshop
file (``sim:///abs/path/shop.toml``). The source does not record: the ingest pipeline does.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


def _one(q: dict[str, list[str]], key: str, default: str) -> str:
    return q.get(key, [default])[-1]


class SimSource:
    """The simulated physical shop behind the :class:`~twin.sources.base.Source` protocol.

    Args:
        url: ``sim://…`` as in the module docstring.
        workshop: an already loaded workshop (overrides the URL's workshop).
        **options: ``speed``, ``warmup_min``, ``scenario``, ``seed``, ``rule`` override the URL.
    """

    def __init__(self, url: str, *, workshop: Workshop | None = None, **options: Any) -> None:
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
        scenario = load_scenario(scen_path, self.workshop) if scen_path else None
        self.url = url
        self._shop = LiveShop(self.workshop, None, scenario=scenario, seed=seed,
                              rule=_one(q, "rule", "fifo"), factor=speed, warmup_s=warmup_s)
        self._lock = threading.Lock()
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
            self._set(SourceState.STOPPED, "stopped", self._shop.reached)

    def drain(self) -> SourceBatch:
        live = self._shop.drain()
        if not self._ended and not self._shop.running and self._shop._thread is not None:
            self._ended = True
            if self._shop.error:
                self._set(SourceState.FAILED, self._shop.error, live.reached)
            else:
                self._set(SourceState.STOPPED, "the simulated shop finished its orders", live.reached)
        with self._lock:
            statuses, self._pending = self._pending, []
        return SourceBatch(events=list(live.events), reached=live.reached, statuses=statuses)

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
        return self._shop.reached

    def _set(self, state: SourceState, message: str, t: float | None) -> None:
        st = SourceStatus(state, message, t)
        with self._lock:
            self._status = st
            self._pending.append(st)


register_scheme("sim", SimSource)
