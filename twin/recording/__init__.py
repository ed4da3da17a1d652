"""Recordings (``.twinlog``): an append-only, crash-safe log of shop-floor events.

A recording holds one shift: every event of every station, AGV, WIP and order, the
annotations written on its timeline, and periodic keyframes so that the state of the whole
shop at any instant is answered quickly. Write with :class:`RecordingWriter`, read with
:func:`open_recording`; the file format is described in ``docs/formats-twinlog.md``.

    with RecordingWriter("shift.twinlog", meta={"workshop": "machining13"}) as w:
        w.append(event)                       # False (counted) if the event is malformed
    rec = open_recording("shift.twinlog")     # RecordingError if it is not a recording
    rec.state_at(3600.0)                      # Snapshot: every entity's latest event
"""

from twin.recording.model import ANNOTATION_KINDS, Annotation, RecordingError
from twin.recording.reader import EventColumns, Recording, open_recording
from twin.recording.writer import RecordingWriter

__all__ = [
    "ANNOTATION_KINDS",
    "Annotation",
    "EventColumns",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "open_recording",
]
