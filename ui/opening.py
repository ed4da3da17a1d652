"""Jobs the window runs in a :class:`~ui.workers.Worker` when it opens something.

Each is a generator yielding ``(fraction 0..1, message)`` and returning its result; it
builds no widget and no VTK actor (only meshes, in :func:`scene.workshop_scene.prepare_models`),
so the GUI thread only creates actors when the result arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.live import find_workshop
from twin.recording import open_recording
from twin.statestore import PreparedReplay, prepare_replay
from twin.workshop import Workshop, load_workshop

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_WORKSHOPS = ROOT / "assets" / "workshops"

Progress = Generator[tuple[float, str], None, Any]


@dataclass
class OpenedRecording:
    """Result of the open-recording job (built off the GUI thread)."""

    path: Path
    workshop: Workshop
    prepared: PreparedReplay
    warnings: list[str] = field(default_factory=list)


def _scaled(gen: Generator[float, None, Any], lo: float, hi: float,
            message: str) -> Progress:
    """Re-yield a 0..1 progress generator as ``lo..hi`` with a message; return its value."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield (lo + (hi - lo) * float(p), message)


def models_job(workshop: Workshop, should_abort: Callable[[], bool], lo: float = 0.0,
               hi: float = 1.0) -> Progress:
    """Load and lightweight the workshop's meshes (cached); returns the mesh warnings."""
    from scene.workshop_scene import prepare_models  # VTK only once a workshop is shown

    return (yield from _scaled(prepare_models(workshop, should_abort), lo, hi,
                               f"Loading the 3D models of {workshop.name}…"))


def open_recording_job(path: Path, should_abort: Callable[[], bool]) -> Progress:
    """Open a recording, find and load its workshop and its meshes, read it once for the
    charts; returns an :class:`OpenedRecording`."""
    yield (0.0, f"Reading {path.name}…")
    rec = open_recording(path)
    warnings = list(rec.warnings)
    ws_path = find_workshop(rec.meta, path, search=(BUNDLED_WORKSHOPS,))
    workshop = load_workshop(ws_path)
    recorded_hash = rec.meta.get("source_hash")
    if recorded_hash and recorded_hash != workshop.source_hash:
        warnings.append(f"{ws_path}: the workshop file changed since {path.name} was recorded; "
                        "the layout shown may differ from the recorded shop")
    yield (0.05, f"Reading {path.name}…")
    yield from models_job(workshop, should_abort, 0.05, 0.3)
    prepared = yield from _scaled(
        prepare_replay(rec, list(workshop.stations), annotations=rec.annotations(),
                       meta=rec.meta, source=str(path), should_abort=should_abort),
        0.3, 1.0, f"Reading {path.name}…")
    return OpenedRecording(Path(path), workshop, prepared, warnings)
