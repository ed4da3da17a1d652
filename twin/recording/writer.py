"""Writing a ``.twinlog`` recording: append-only, crash-safe, with periodic keyframes.

Events are validated (:func:`twin.events.parse_event`), buffered, and written as compressed
columnar chunks at least every ``flush_interval_s`` of wall time (a background timer) and on
:meth:`RecordingWriter.close`, so killing the writing process loses at most that last
interval. Every ``keyframe_interval_s`` of shift time a keyframe (the latest event of every
entity) is written, so a reader can seek anywhere without replaying the shift.
"""

from __future__ import annotations

import atexit
import collections
import functools
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from twin.events import Event, EventError, parse_event
from twin.recording import codec
from twin.recording.model import Annotation, RecordingError, make_annotation

#: Distinct rejection reasons kept in :attr:`RecordingWriter.rejected_reasons`; further
#: distinct reasons are counted under :data:`OTHER_REASONS`.
MAX_REASONS = 32
OTHER_REASONS = "(other reasons)"
OUT_OF_ORDER = "out of order (earlier than the previous event)"
#: A keyframe is skipped unless at least this many events per entity were written since the
#: previous one: replaying those few events is cheaper than storing every entity again, and
#: it keeps keyframes a small part of the file however many entities the shop has.
KEYFRAME_MIN_EVENTS_PER_ENTITY = 4

_Row = tuple[Any, ...]


def _json_default(obj: object) -> object:
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


class RecordingWriter:
    """Append shop-floor events to a new ``.twinlog`` file.

    Args:
        path: file to create (an existing file is replaced unless ``overwrite=False``).
        meta: JSON-serialisable dict stored in the header (workshop name, path,
            ``source_hash``, station ids...); paths are stored as strings.
        keyframe_interval_s: shift time (seconds) between keyframes; ``math.inf`` for none.
            A keyframe is written at the first event past each multiple of the interval,
            unless fewer than :data:`KEYFRAME_MIN_EVENTS_PER_ENTITY` x (entities so far)
            events came since the previous keyframe.
        flush_interval_s: wall time (seconds) after which buffered events reach the file.
        overwrite: replace an existing file (default) or raise :class:`RecordingError`.
        compress_level: zlib level of event chunks (1 = fastest).

    Attributes:
        events_written: events accepted so far (buffered or on disk).
        rejected: events refused (malformed, out of order, entity changed kind).
        rejected_reasons: reason -> count (at most :data:`MAX_REASONS` distinct reasons).
        last_rejection: the most recent reason in full, "" if none.
        keyframes_written: keyframe chunks written.

    Use as a context manager or call :meth:`close`; a writer that is garbage-collected or
    left open at interpreter exit is flushed and closed then. Thread-safe.
    """

    #: Rows per event chunk at most (bounds a chunk to a few MB).
    max_batch_rows: int = 65_536

    def __init__(
        self,
        path: str | os.PathLike[str],
        meta: Mapping[str, Any] | None = None,
        keyframe_interval_s: float = 60.0,
        flush_interval_s: float = 1.0,
        *,
        overwrite: bool = True,
        compress_level: int = 1,
    ) -> None:
        self.path = Path(path)
        if not (keyframe_interval_s > 0):
            raise ValueError(f"keyframe_interval_s must be > 0 s, got {keyframe_interval_s!r}")
        if not (flush_interval_s > 0 and math.isfinite(flush_interval_s)):
            raise ValueError(f"flush_interval_s must be a finite time > 0 s, got {flush_interval_s!r}")
        if meta is not None and not isinstance(meta, Mapping):
            raise RecordingError(f"{self.path}: meta must be a dict, got {type(meta).__name__}")
        self.keyframe_interval_s = float(keyframe_interval_s)
        self.flush_interval_s = float(flush_interval_s)
        self.compress_level = int(compress_level)
        self.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            header = codec.encode_json({
                "format_version": codec.FORMAT_VERSION,
                "created": self.created,
                "meta": json.loads(json.dumps(dict(meta or {}), default=_json_default)),
            })
        except (TypeError, ValueError) as exc:
            raise RecordingError(f"{self.path}: meta cannot be stored as JSON ({exc})") from None

        self.events_written = 0
        self.rejected = 0
        self.rejected_reasons: collections.Counter[str] = collections.Counter()
        self.last_rejection = ""
        self.keyframes_written = 0
        self.annotations_written = 0

        self._lock = threading.RLock()
        self._closed = False
        self._error: RecordingError | None = None
        self._pending: list[_Row] = []
        self._pending_notes: list[Annotation] = []
        self._latest: dict[int, _Row] = {}  # entity string index -> its latest row
        self._entity_kind: dict[str, str] = {}
        self._codes: dict[str, int] = {"": 0}
        self._strings: list[str] = [""]
        self._strings_on_disk = 1
        self._events_on_disk = 0
        self._events_at_keyframe = 0
        self._flushed_at = time.monotonic()
        self._t_first: float | None = None
        self._last_t = -math.inf
        self._next_keyframe_t = self.keyframe_interval_s

        try:
            self._file = open(self.path, "wb" if overwrite else "xb")  # noqa: SIM115
        except FileExistsError:
            raise RecordingError(f"{self.path}: already exists (not overwritten)") from None
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot create ({exc.strerror or exc})") from None
        try:
            self._file.write(codec.file_header() + codec.frame(codec.META, header))
            self._file.flush()
        except OSError as exc:
            self._file.close()
            raise RecordingError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

        self._stop = threading.Event()
        self._timer = threading.Thread(
            target=_flush_periodically,
            args=(weakref.ref(self), self._stop, self.flush_interval_s),
            name=f"twinlog-flush:{self.path.name}",
            daemon=True,
        )
        self._timer.start()
        self._at_exit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._at_exit)

    # -- appending -------------------------------------------------------------------

    def append(self, event: Event | Mapping[str, Any]) -> bool:
        """Validate and append one event; ``False`` (counted, with a reason) if refused.

        Malformed events never raise. Raises :class:`RecordingError` only if the writer
        is closed or the file can no longer be written (disk full...).
        """
        try:
            ev = parse_event(event)  # an Event is re-checked field by field too
        except EventError as exc:
            return self._reject(str(exc))
        except Exception as exc:  # a hostile mapping must not take the writer down
            return self._reject(f"unreadable event ({type(exc).__name__}: {exc})")
        return self.append_validated(ev)

    def append_validated(self, ev: Event) -> bool:
        """Append an event that :func:`~twin.events.parse_event` has already returned.

        For the ingest pipeline (:class:`twin.sources.ingest.Ingest`), which validates
        every event once under its policy before it records it: the fields are trusted,
        not checked again. The order in time and the entity's kind are still checked
        (they depend on what this file already holds), so a file stays readable whatever
        is passed. Anyone else appends with :meth:`append`.
        """
        with self._lock:
            self._check_usable()
            if ev.t < self._last_t:
                return self._reject(
                    f"{OUT_OF_ORDER}: t={ev.t} s after t={self._last_t} s", key=OUT_OF_ORDER
                )
            known = self._entity_kind.get(ev.entity)
            if known is None:
                self._entity_kind[ev.entity] = ev.kind
            elif known != ev.kind:
                return self._reject(
                    f"entity {ev.entity!r} is a {known}, not a {ev.kind}", key="entity changed kind"
                )
            if ev.t >= self._next_keyframe_t:
                self._write_keyframe(ev.t)
            texts = (ev.entity, ev.kind, ev.state, ev.station, ev.wip, ev.order, ev.process,
                     ev.agv, ev.product)
            c = list(map(self._codes.get, texts))  # one lookup each; a new text is rare
            if None in c:
                c = list(map(self._code, texts))
            row = (
                ev.t, c[0], c[1], c[2], ev.x, ev.y, ev.heading, c[3], c[4], c[5], c[6], c[7],
                ev.queue, ev.energy, c[8], ev.quantity, ev.due,
            )
            self._pending.append(row)
            self._latest[row[1]] = row
            if self._t_first is None:
                self._t_first = ev.t
            self._last_t = ev.t
            self.events_written += 1
            if len(self._pending) >= self.max_batch_rows:
                self._flush_events()
            if time.monotonic() - self._flushed_at >= self.flush_interval_s:
                self._flush_all()  # a busy source flushes itself; the timer covers quiet ones
            return True

    def annotate(self, t: float, label: str, entity: str = "", kind: str = "note",
                 t_end: float | None = None) -> None:
        """Add a mark on the timeline at ``t`` seconds (any time, not only the latest),
        spanning to ``t_end`` seconds if given (a gap).

        Raises ``ValueError`` for a bad field (negative/NaN time, empty label).
        """
        note = make_annotation(t, label, entity, kind, t_end)
        with self._lock:
            self._check_usable()
            self._pending_notes.append(note)
            self.annotations_written += 1

    def flush(self) -> None:
        """Write buffered events and annotations to the file (the OS has them afterwards)."""
        with self._lock:
            self._check_usable()
            self._flush_all()

    def close(self) -> None:
        """Flush, write the end marker, sync to disk and close. Safe to call twice."""
        self._stop.set()
        if self._timer.is_alive() and self._timer is not threading.current_thread():
            self._timer.join()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            atexit.unregister(self._at_exit)
            try:
                if self._error is None:
                    self._flush_all()
                    summary = {
                        "events": self.events_written,
                        "t_first": self._t_first,
                        "t_last": None if self._t_first is None else self._last_t,
                        "rejected": self.rejected,
                        "keyframes": self.keyframes_written,
                        "annotations": self.annotations_written,
                        "closed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    }
                    self._write(codec.frame(codec.END, codec.encode_json(summary)))
                    self._file.flush()
                    os.fsync(self._file.fileno())
            except OSError as exc:
                raise RecordingError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
            finally:
                self._file.close()
            if self._error is not None:
                raise self._error

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RecordingWriter({str(self.path)!r}, events_written={self.events_written})"

    def __del__(self) -> None:
        # Dropped without close(): keep what was appended rather than lose the tail.
        if hasattr(self, "_timer") and not self._closed:
            try:
                self.close()
            except Exception:
                pass

    # -- internals ---------------------------------------------------------------------

    def _reject(self, reason: str, key: str | None = None) -> bool:
        with self._lock:
            self.rejected += 1
            self.last_rejection = reason
            key = key or reason
            if key not in self.rejected_reasons and len(self.rejected_reasons) >= MAX_REASONS:
                key = OTHER_REASONS
            self.rejected_reasons[key] += 1
        return False

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RecordingError(f"{self.path}: recording is closed")

    def _code(self, text: str) -> int:
        i = self._codes.get(text)
        if i is None:
            i = self._codes[text] = len(self._strings)
            self._strings.append(text)
        return i

    def _write(self, chunk: bytes) -> None:
        try:
            self._file.write(chunk)
        except OSError as exc:
            self._error = RecordingError(f"{self.path}: cannot write ({exc.strerror or exc})")
            raise self._error from None

    def _flush_events(self) -> None:
        rows, self._pending = self._pending, []
        for start in range(0, len(rows), self.max_batch_rows):
            part = rows[start:start + self.max_batch_rows]
            first = self._strings_on_disk
            body = codec.encode_batch(
                list(zip(*part)), first, self._strings[first:], self.compress_level
            )
            self._write(codec.frame(
                codec.EVENTS, codec.EVENTS_PREFIX.pack(len(part), part[0][0], part[-1][0]) + body
            ))
            self._strings_on_disk = len(self._strings)
            self._events_on_disk += len(part)

    def _flush_all(self) -> None:
        if self._pending:
            self._flush_events()
        if self._pending_notes:
            notes, self._pending_notes = self._pending_notes, []
            self._write(codec.frame(codec.NOTES, codec.encode_json([n.to_dict() for n in notes])))
        try:
            self._file.flush()
        except OSError as exc:
            self._error = RecordingError(f"{self.path}: cannot write ({exc.strerror or exc})")
            raise self._error from None
        self._flushed_at = time.monotonic()

    def _write_keyframe(self, t_event: float) -> None:
        """Keyframe at boundary ``b`` (a multiple of the interval, <= t_event): the latest
        event of every entity among all events so far, which all have t < b."""
        interval = self.keyframe_interval_s
        boundary = max(math.floor(t_event / interval) * interval, self._next_keyframe_t)
        self._next_keyframe_t = boundary + interval
        while self._next_keyframe_t <= t_event:
            self._next_keyframe_t += interval
        since = self.events_written - self._events_at_keyframe
        if not self._latest or since < KEYFRAME_MIN_EVENTS_PER_ENTITY * len(self._latest):
            return
        self._events_at_keyframe = self.events_written
        self._flush_events()
        rows = [self._latest[k] for k in sorted(self._latest)]
        body = codec.encode_batch(list(zip(*rows)), len(self._strings), [], self.compress_level)
        self._write(codec.frame(
            codec.KEYFRAME, codec.KEYFRAME_PREFIX.pack(self._events_on_disk, boundary, len(rows)) + body
        ))
        self.keyframes_written += 1

    def _flush_if_pending(self) -> None:
        with self._lock:
            if self._closed or self._error is not None:
                return
            if self._pending or self._pending_notes:
                try:
                    self._flush_all()
                except RecordingError:
                    pass  # kept in self._error, raised by the next call from the owner


def _flush_periodically(ref: weakref.ref[RecordingWriter], stop: threading.Event, interval: float) -> None:
    """Timer thread: flush the writer every ``interval`` seconds until it closes or is
    garbage-collected (holds only a weak reference)."""
    while not stop.wait(interval):
        writer = ref()
        if writer is None:
            return
        writer._flush_if_pending()
        del writer


def _close_at_exit(ref: weakref.ref[RecordingWriter]) -> None:
    writer = ref()
    if writer is not None:
        try:
            writer.close()
        except RecordingError:
            pass
