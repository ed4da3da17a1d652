"""Snapshot: the state of every entity at one instant, as the scene and panels consume it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from twin.events import Event


@dataclass
class Snapshot:
    """Latest event of every entity at or before time ``t`` (seconds).

    ``entities`` maps entity id -> its latest :class:`Event`; the event carries the
    state, the position (AGVs) and references (a processing station's WIP, a WIP's AGV).
    ``stale`` maps the entities whose source has gone silent since their latest event
    (a Sparkplug node's NDEATH) to why, e.g. ``"stale (NDEATH at 01:02:03)"``: their state
    is the last one known, not necessarily the current one.
    """

    t: float
    entities: dict[str, Event] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)

    def apply(self, event: Event) -> None:
        """Advance this snapshot by one event (events must come in time order)."""
        self.entities[event.entity] = event
        if event.t > self.t:
            self.t = event.t

    def apply_all(self, events: Iterable[Event]) -> None:
        for e in events:
            self.apply(e)

    def of_kind(self, kind: str) -> Iterator[Event]:
        return (e for e in self.entities.values() if e.kind == kind)

    def get(self, entity: str) -> Event | None:
        return self.entities.get(entity)

    def copy(self) -> Snapshot:
        return Snapshot(self.t, dict(self.entities), dict(self.stale))

    def __len__(self) -> int:
        return len(self.entities)
