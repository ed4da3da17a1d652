"""Things a recording holds besides events: annotations, and the error it raises."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class RecordingError(Exception):
    """A recording cannot be read or written; ``str(err)`` names the file and the problem."""


#: Annotation kinds the app knows how to show (others are kept and shown as notes).
#: ``status``: a live source changed state (connected, reconnecting, stopped…);
#: ``gap``: a span the source could not see (``t`` to ``t_end``).
#: ``ta`` (a PM test-accuracy point), ``trigger`` (an evolution trigger) and ``evolution``
#: (a PM update) are written by :mod:`twin.evolution`.
ANNOTATION_KINDS: tuple[str, ...] = ("note", "breakdown", "disturbance", "gap", "status", "score",
                                     "trigger", "ta", "evolution")


@dataclass(frozen=True, slots=True)
class Annotation:
    """A mark on the shift's timeline, written by a source, the verifier or a user.

    Attributes:
        t: time in seconds since the start of the shift.
        label: what happened, as shown to a user ("S07 down", "verification score 0.82").
        entity: the entity it concerns ("" for the whole shop).
        kind: what sort of mark it is, e.g. one of :data:`ANNOTATION_KINDS`.
        t_end: end of a span in seconds (a gap), None for an instant.
    """

    t: float
    label: str
    entity: str = ""
    kind: str = "note"
    t_end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"t": self.t, "label": self.label, "entity": self.entity,
                             "kind": self.kind}
        if self.t_end is not None:
            d["t_end"] = self.t_end
        return d


def _time(name: str, t: Any) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise ValueError(f"annotation {name} must be a finite number >= 0 s, got {t!r}")
    return float(t)


def make_annotation(t: Any, label: Any, entity: Any = "", kind: Any = "note",
                    t_end: Any = None) -> Annotation:
    """Validate the fields of an annotation; raises ``ValueError`` naming the bad field."""
    t = _time("time", t)
    if t_end is not None and _time("end time", t_end) < t:
        raise ValueError(f"annotation end time {t_end!r} s is before its time {t!r} s")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"annotation label must be a non-empty string, got {label!r}")
    if not isinstance(entity, str):
        raise ValueError(f"annotation entity must be a string id, got {entity!r}")
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError(f"annotation kind must be a non-empty string, got {kind!r}")
    return Annotation(t, label, entity, kind, None if t_end is None else float(t_end))
