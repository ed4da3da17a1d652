"""Things a recording holds besides events: annotations, and the error it raises."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class RecordingError(Exception):
    """A recording cannot be read or written; ``str(err)`` names the file and the problem."""


#: Annotation kinds the app knows how to show (others are kept and shown as notes).
#: ``ta`` (a PM test-accuracy point), ``trigger`` (an evolution trigger) and ``evolution``
#: (a PM update) are written by :mod:`twin.evolution`.
ANNOTATION_KINDS: tuple[str, ...] = ("note", "breakdown", "disturbance", "gap", "score", "trigger",
                                     "ta", "evolution")


@dataclass(frozen=True, slots=True)
class Annotation:
    """A mark on the shift's timeline, written by a source, the verifier or a user.

    Attributes:
        t: time in seconds since the start of the shift.
        label: what happened, as shown to a user ("S07 down", "verification score 0.82").
        entity: the entity it concerns ("" for the whole shop).
        kind: what sort of mark it is, e.g. one of :data:`ANNOTATION_KINDS`.
    """

    t: float
    label: str
    entity: str = ""
    kind: str = "note"

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "label": self.label, "entity": self.entity, "kind": self.kind}


def make_annotation(t: Any, label: Any, entity: Any = "", kind: Any = "note") -> Annotation:
    """Validate the fields of an annotation; raises ``ValueError`` naming the bad field."""
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise ValueError(f"annotation time must be a finite number >= 0 s, got {t!r}")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"annotation label must be a non-empty string, got {label!r}")
    if not isinstance(entity, str):
        raise ValueError(f"annotation entity must be a string id, got {entity!r}")
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError(f"annotation kind must be a non-empty string, got {kind!r}")
    return Annotation(float(t), label, entity, kind)
