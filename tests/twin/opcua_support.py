"""Helpers for the OPC UA tests: free loopback ports, draining a source, what the layout carries."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from twin.events import Event
from twin.sources import Gap, Rejected, Source, SourceState, SourceStatus
from twin.workshop import Workshop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Drained:
    """Everything a source delivered over the test, in arrival order."""

    events: list[Event] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    reached: float = 0.0

    def take(self, source: Source) -> None:
        b = source.drain()
        self.events.extend(e for e in b.events if isinstance(e, Event))
        self.statuses.extend(b.statuses)
        self.gaps.extend(b.gaps)
        self.rejected.extend(b.rejected)
        self.reached = b.reached

    def pump(self, source: Source, cond: Callable[[Drained], bool], timeout: float = 20.0) -> None:
        """Drain every 20 ms until ``cond(self)`` holds; fails naming the last status."""
        end = time.monotonic() + timeout
        while True:
            self.take(source)
            if cond(self):
                return
            if time.monotonic() > end:
                raise AssertionError(f"not reached in {timeout} s; last status {source.status}; "
                                     f"{len(self.events)} events")
            time.sleep(0.02)

    def state(self, state: SourceState) -> bool:
        return any(s.state == state for s in self.statuses)

    def latest(self) -> dict[str, Event]:
        out: dict[str, Event] = {}
        for e in self.events:
            out[e.entity] = e
        return out


def as_carried(e: Event) -> Event:
    """``e`` as it comes back through our OPC UA layout (docs/connectors.md): stations keep
    state, job/WIP/program/product (blank when idle or down) and queue; AGVs keep position,
    state, load and station; energy, an AGV's order and the order fields are not in the layout."""
    if e.kind == "station":
        busy = e.state not in ("idle", "down")
        return dataclasses.replace(
            e, wip=e.wip if busy else "", order=e.order if busy else "", process=e.process if busy else "",
            product=e.product if busy else "", station=e.entity, agv="", energy=None, quantity=None, due=None,
            queue=float(int(e.queue)) if e.queue is not None else 0.0)
    return dataclasses.replace(e, order="", energy=None, process="", agv=e.entity, queue=None, product="",
                               quantity=None, due=None)


def per_entity(events: Iterable[Event]) -> dict[str, list[Event]]:
    """entity → its events in order, keeping only the last of those at one instant (within
    1 ms: OPC UA timestamps carry microseconds); that is what a reader's state keeps."""
    out: dict[str, list[Event]] = {}
    for e in events:
        lst = out.setdefault(e.entity, [])
        if lst and abs(lst[-1].t - e.t) < 1e-3:
            lst[-1] = e
        else:
            lst.append(e)
    return out


def expected_changes(published: Iterable[Event], before: dict[str, Event] | None = None) -> dict[str, list[Event]]:
    """What a subscriber sees of ``published``: per station/AGV the last event of each
    instant, minus those that change nothing the layout carries."""
    last = {k: as_carried(v) for k, v in (before or {}).items()}
    out: dict[str, list[Event]] = {}
    for entity, lst in per_entity(as_carried(e) for e in published if e.kind in ("station", "agv")).items():
        for e in lst:
            prev = last.get(entity)
            if prev is not None and dataclasses.replace(prev, t=e.t) == e:
                continue
            last[entity] = e
            out.setdefault(entity, []).append(e)
    return out


def assert_same_changes(received: dict[str, list[Event]], expected: dict[str, list[Event]]) -> None:
    """Same entities, same number of changes, same content, times within 1 ms."""
    assert sorted(received) == sorted(expected)
    for entity, want in expected.items():
        got = received[entity]
        assert [dataclasses.replace(e, t=0.0) for e in got] == [dataclasses.replace(e, t=0.0) for e in want], entity
        worst = max(abs(a.t - b.t) for a, b in zip(got, want))
        assert worst < 1e-3, (entity, worst)


def sim_events(workshop: Workshop, until_s: float, seed: int = 0) -> list[Event]:
    from twin.simulator import Simulator

    return Simulator(workshop, seed=seed).step_until(until_s)
