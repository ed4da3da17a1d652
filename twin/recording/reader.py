"""Reading a ``.twinlog`` recording: recovery, fast seek, bulk columns, live refresh.

On open every chunk is checked (CRC-32) and decoded into in-memory numpy columns (one
array per field, rows in time order: ~80 bytes per event). Reading stops at the first
damaged or cut-short chunk; everything before it is kept and a warning says where and how
much was recovered. The file may still be growing: :meth:`Recording.refresh` picks up what
a live writer (this or another process) has flushed since.

``state_at(t)`` starts from the nearest checkpoint at or before ``t`` (the latest row of
every entity, taken at the file's keyframes and at least every
:data:`CHECKPOINT_EVENTS` events) and applies only the events in between, so its cost does
not grow with the length of the shift.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.events import STATES, Event
from twin.recording import codec
from twin.recording.model import Annotation, RecordingError, make_annotation
from twin.snapshot import Snapshot

#: Most events between two checkpoints of the seek index.
CHECKPOINT_EVENTS = 4096
#: Events kept materialised for state_at (consecutive queries share most entities' rows).
DEFAULT_EVENT_CACHE = 100_000

_STRING_DTYPE = np.int32
_FLOAT_DTYPE = np.float64
_VALID_PAIRS = {(k, s) for k, states in STATES.items() for s in states}


@dataclass(frozen=True)
class EventColumns:
    """Events as numpy arrays, one per field, row ``i`` = ``i``-th event in time order.

    Float fields (``t`` seconds, ``x``/``y`` metres, ``heading`` degrees, ``queue``,
    ``energy`` kWh, ``quantity`` parts, ``due`` seconds) are float64 with NaN where not
    applicable. Id/text fields (``entity``, ``kind``, ``state``, ``station``, ``wip``,
    ``order``, ``process``, ``agv``, ``product``) are int32
    codes into :attr:`strings` (code 0 is ``""``, i.e. not applicable). Arrays are
    read-only views into the recording; copy before modifying.
    """

    t: np.ndarray
    entity: np.ndarray
    kind: np.ndarray
    state: np.ndarray
    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    station: np.ndarray
    wip: np.ndarray
    order: np.ndarray
    process: np.ndarray
    agv: np.ndarray
    queue: np.ndarray
    energy: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    due: np.ndarray
    strings: np.ndarray  # object array of str
    codes: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.t)

    def code(self, text: str) -> int:
        """Code of ``text`` in the string columns, -1 if it never occurs (so no row matches)."""
        return self.codes.get(text, -1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Strings for an array of codes (object array)."""
        out: np.ndarray = self.strings[codes]
        return out


class _Columns:
    """Growable column arrays (amortised appends while a live recording grows)."""

    def __init__(self) -> None:
        self.n = 0
        self.arrays: dict[str, np.ndarray] = {
            name: np.empty(0, _FLOAT_DTYPE if typ == "f" else _STRING_DTYPE)
            for name, typ in codec.FORMAT_COLUMNS
        }

    def reserve(self, need: int) -> None:
        """Make room for ``need`` rows (exactly on open, growing by half while live)."""
        cap = len(self.arrays["t"])
        if need <= cap:
            return
        new_cap = need if self.n == 0 else max(need, cap + cap // 2)
        for name, a in self.arrays.items():
            grown = np.empty(new_cap, a.dtype)
            grown[: self.n] = a[: self.n]
            self.arrays[name] = grown

    def append(self, batch: Mapping[str, np.ndarray]) -> None:
        m = len(batch["t"])
        self.reserve(self.n + m)
        for name, a in self.arrays.items():
            a[self.n: self.n + m] = batch[name]
        self.n += m

    def view(self, name: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
        return self.arrays[name][lo: self.n if hi is None else hi]


@dataclass(frozen=True)
class _Keyframe:
    t: float
    events_before: int
    rows: int
    offset: int  # file offset of the chunk payload
    length: int


class Recording:
    """A ``.twinlog`` recording opened for reading (use :func:`open_recording`).

    Attributes:
        path: the file.
        meta: the dict the writer was given, plus ``format_version`` and ``created``.
        format_version, created: from the file header.
        complete: the writer closed the file cleanly (an end marker was read).
        end_summary: the writer's closing summary (events, rejected...) or ``None``.
    """

    def __init__(self, path: str | os.PathLike[str], *, event_cache_size: int = DEFAULT_EVENT_CACHE) -> None:
        self.path = Path(path)
        self.meta: dict[str, Any] = {}
        self.format_version = 0
        self.created = ""
        self.complete = False
        self.end_summary: dict[str, Any] | None = None
        self._lock = threading.RLock()
        self._closed = False
        self._cache_size = max(0, int(event_cache_size))
        self._cache: dict[int, Event] = {}
        self._store = _Columns()
        self._strings: list[str] = [""]
        self._codes: dict[str, int] = {"": 0}
        self._strings_arr = np.array([""], dtype=object)
        self._keyframes: list[_Keyframe] = []
        self._notes: list[Annotation] = []
        self._entities: dict[str, str] = {}
        self._notices: list[str] = []
        self._damage: str | None = None
        self._unknown_chunks: dict[str, int] = {}
        self._has_meta = False
        # seek index: checkpoint positions and, for each, the latest row per string code
        self._cp_pos: list[int] = [0]
        self._cp_rows: list[np.ndarray] = [np.empty(0, np.int32)]
        self._latest = np.empty(0, np.int32)
        self._indexed = 0

        try:
            self._fh = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise RecordingError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise RecordingError(f"{self.path}: is a directory, not a recording") from None
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        try:
            self._read_header()
            self._offset = codec.HEADER_SIZE
            self._scan()
        except BaseException:
            self._fh.close()
            raise

    # -- public API ------------------------------------------------------------------

    @property
    def warnings(self) -> list[str]:
        """Problems found while reading (damage, truncation), each naming the file."""
        with self._lock:
            out = list(self._notices)
            if self._unknown_chunks:
                kinds = ", ".join(f"{k!r} x{n}" for k, n in self._unknown_chunks.items())
                out.append(f"{self.path}: skipped chunks of unknown type ({kinds}), written by a newer version?")
            if self._damage:
                out.append(self._damage)
            return out

    @property
    def event_count(self) -> int:
        return self._store.n

    @property
    def time_range(self) -> tuple[float, float]:
        """(first, last) event time in seconds; (0.0, 0.0) for a recording without events."""
        with self._lock:
            n = self._store.n
            if not n:
                return (0.0, 0.0)
            t = self._store.arrays["t"]
            return (float(t[0]), float(t[n - 1]))

    @property
    def entities(self) -> dict[str, str]:
        """Entity id -> kind, in order of first appearance."""
        with self._lock:
            return dict(self._entities)

    @property
    def keyframes(self) -> list[tuple[float, int]]:
        """(time [s], events before it) of each keyframe in the file."""
        with self._lock:
            return [(k.t, k.events_before) for k in self._keyframes]

    def events(
        self,
        t0: float = -math.inf,
        t1: float = math.inf,
        entity: str | None = None,
        kind: str | None = None,
    ) -> list[Event]:
        """Events with ``t0 <= t <= t1`` (seconds) in time order, optionally of one entity/kind."""
        with self._lock:
            lo, hi = self._span(t0, t1)
            rows = np.arange(lo, hi)
            for name, value in (("entity", entity), ("kind", kind)):
                if value is not None:
                    code = self._codes.get(value)
                    if code is None:
                        return []
                    rows = rows[self._store.view(name, lo, hi)[rows - lo] == code]
            if len(rows) <= self._cache_size // 10:
                return self._cached_events(rows)  # a playing timeline asks overlapping windows
            return self._materialize(self._store.arrays, rows)

    def state_at(self, t: float) -> Snapshot:
        """Latest event of every entity with ``e.t <= t`` (``t`` in seconds)."""
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or math.isnan(t):
            raise ValueError(f"state_at needs a time in seconds, got {t!r}")
        with self._lock:
            rows = self._latest_rows(float(t))
            codes = np.flatnonzero(rows >= 0)
            events = self._cached_events(rows[codes])
            return Snapshot(float(t), dict(zip(self._strings_arr[codes].tolist(), events)))

    def latest_rows(self, t: float) -> np.ndarray:
        """Row numbers (into :meth:`columns`) of every entity's latest event at ``t``: the
        array form of :meth:`state_at` for code that aggregates without Event objects."""
        with self._lock:
            rows = self._latest_rows(float(t))
            return np.sort(rows[rows >= 0]).astype(np.int64)

    def columns(self, t0: float = -math.inf, t1: float = math.inf) -> EventColumns:
        """Events with ``t0 <= t <= t1`` as read-only numpy columns (no Event objects)."""
        with self._lock:
            lo, hi = self._span(t0, t1)
            views = {}
            for name in codec.COLUMN_NAMES:
                v = self._store.view(name, lo, hi)
                v.flags.writeable = False
                views[name] = v
            return EventColumns(**views, strings=self._strings_arr.copy(), codes=dict(self._codes))

    def annotations(self) -> list[Annotation]:
        """Annotations in time order."""
        with self._lock:
            return sorted(self._notes, key=lambda a: a.t)

    def keyframe_snapshot(self, i: int) -> Snapshot:
        """The ``i``-th keyframe as stored in the file (each entity's latest event before
        its time); raises :class:`RecordingError` if that chunk cannot be decoded."""
        with self._lock:
            kf = self._keyframes[i]
            self._check_open()
            self._fh.seek(kf.offset)
            payload = self._fh.read(kf.length)
            try:
                batch = codec.decode_batch(payload[codec.KEYFRAME_PREFIX.size:], kf.rows)
                cols = batch.columns
                if len(batch.new_strings) or any(
                    len(cols[n]) and int(cols[n].max()) >= len(self._strings) for n in codec.STRING_COLUMNS
                ):
                    raise codec.Damaged("keyframe refers to unknown strings")
            except codec.Damaged as exc:
                raise RecordingError(f"{self.path}: keyframe {i} at byte {kf.offset} unreadable ({exc})") from None
            events = self._materialize(cols, np.arange(kf.rows))
            return Snapshot(kf.t, {e.entity: e for e in events})

    def refresh(self) -> int:
        """Read what a live writer flushed since the last read; returns the new event count."""
        with self._lock:
            self._check_open()
            before = self._store.n
            try:
                size = os.fstat(self._fh.fileno()).st_size
            except OSError as exc:
                raise RecordingError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
            if size < self._offset:
                note = (f"{self.path}: file shrank to {size} bytes while open (replaced or "
                        f"truncated); showing the {before} events read before")
                if note not in self._notices:
                    self._notices.append(note)
                return 0
            self._scan()
            return self._store.n - before

    def close(self) -> None:
        """Release the file; what was read stays queryable."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._fh.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._store.n

    def __repr__(self) -> str:
        a, b = self.time_range
        return f"Recording({str(self.path)!r}, events={self.event_count}, t={a:g}..{b:g} s)"

    # -- reading the file --------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RecordingError(f"{self.path}: recording is closed")

    def _read_header(self) -> None:
        head = self._fh.read(codec.HEADER_SIZE)
        if not head:
            raise RecordingError(f"{self.path}: empty file, not a recording")
        if not head.startswith(codec.MAGIC) and not codec.MAGIC.startswith(head):
            raise RecordingError(
                f"{self.path}: not a DMW Twin recording (it does not start with the .twinlog signature)"
            )
        if len(head) < codec.HEADER_SIZE:
            raise RecordingError(
                f"{self.path}: recording cut short inside its {codec.HEADER_SIZE}-byte header "
                f"({len(head)} bytes); nothing to recover"
            )
        _, version, _flags = codec.HEADER.unpack(head)
        if version > codec.FORMAT_VERSION or version < 1:
            raise RecordingError(
                f"{self.path}: recording format version {version}; this DMW Twin reads versions "
                f"up to {codec.FORMAT_VERSION}"
            )
        self.format_version = version

    def _scan(self) -> None:
        """Read complete, intact chunks from the last good offset to the end of the file."""
        self._fh.seek(self._offset)
        data = self._fh.read()
        buf = memoryview(data)
        self._store.reserve(self._store.n + _event_rows_ahead(buf))
        first_new = self._store.n
        pos, reason = 0, None
        while pos < len(buf):
            if len(buf) - pos < codec.CHUNK_HEAD_SIZE:
                reason = f"chunk header cut short ({len(buf) - pos} of {codec.CHUNK_HEAD_SIZE} bytes)"
                break
            kind, length, crc = codec.CHUNK_HEAD.unpack_from(buf, pos)
            name = kind.decode("latin-1")
            if length > codec.MAX_CHUNK_BYTES:
                reason = f"implausible chunk length {length}"
                break
            start, end = pos + codec.CHUNK_HEAD_SIZE, pos + codec.CHUNK_HEAD_SIZE + length
            if end > len(buf):
                reason = f"{name!r} chunk cut short ({len(buf) - start} of {length} bytes)"
                break
            if not codec.check_crc(kind, length, crc, buf[start:end]):
                reason = f"checksum mismatch in {name!r} chunk"
                break
            try:
                self._apply_chunk(kind, buf[start:end], self._offset + start)
            except codec.Damaged as exc:
                reason = f"{name!r} chunk: {exc}"
                break
            pos = end
        self._offset += pos
        if self._store.n > first_new:
            self._strings_arr = np.array(self._strings, dtype=object)
            self._extend_index()
        if reason is None and not self._has_meta:
            reason = "header chunk (META) missing"
        if reason is None:
            self._damage = None
        else:
            n = self._store.n
            upto = f" up to t={self._last_t():.3f} s" if n else ""
            self._damage = (
                f"{self.path}: damaged/truncated at byte {self._offset} ({reason}); "
                f"recovered {n} events{upto}"
            )

    def _last_t(self) -> float:
        n = self._store.n
        return float(self._store.arrays["t"][n - 1]) if n else 0.0

    def _apply_chunk(
        self,
        kind: bytes,
        payload: memoryview,
        offset: int,
    ) -> None:
        """Decode one intact chunk and take it in; raises Damaged (taking nothing) if it
        does not make sense."""
        if self.complete:
            raise codec.Damaged("data after the end marker")
        if not self._has_meta:
            if kind != codec.META:
                raise codec.Damaged(f"expected the header chunk (META) first, found {kind!r}")
            head = codec.decode_json(payload, "header")
            if not isinstance(head, dict) or not isinstance(head.get("meta", {}), dict):
                raise codec.Damaged("header is not a JSON object")
            self.created = str(head.get("created", ""))
            self.meta = {**head.get("meta", {}), "format_version": self.format_version, "created": self.created}
            self._has_meta = True
        elif kind == codec.EVENTS:
            self._store.append(self._decode_events(payload))
        elif kind == codec.KEYFRAME:
            try:
                before, t, rows = codec.KEYFRAME_PREFIX.unpack_from(payload, 0)
            except Exception:
                raise codec.Damaged("keyframe prefix cut short") from None
            if before != self._store.n or not math.isfinite(t) or rows > len(self._strings):
                raise codec.Damaged(f"keyframe inconsistent with the events before it ({before} != {self._store.n})")
            self._keyframes.append(_Keyframe(t, before, rows, offset, len(payload)))
        elif kind == codec.NOTES:
            items = codec.decode_json(payload, "annotations")
            if not isinstance(items, list):
                raise codec.Damaged("annotations are not a list")
            try:
                notes = [make_annotation(d["t"], d["label"], d.get("entity", ""), d.get("kind", "note"),
                                         d.get("t_end")) for d in items]
            except (KeyError, TypeError, ValueError) as exc:
                raise codec.Damaged(f"bad annotation ({exc})") from None
            self._notes.extend(notes)
        elif kind == codec.END:
            summary = codec.decode_json(payload, "end marker")
            self.end_summary = summary if isinstance(summary, dict) else {}
            self.complete = True
        elif kind == codec.META:
            raise codec.Damaged("second header chunk")
        else:
            key = kind.decode("latin-1")
            self._unknown_chunks[key] = self._unknown_chunks.get(key, 0) + 1

    def _decode_events(self, payload: memoryview) -> dict[str, np.ndarray]:
        try:
            n, t_first, t_last = codec.EVENTS_PREFIX.unpack_from(payload, 0)
        except Exception:
            raise codec.Damaged("event chunk prefix cut short") from None
        if n == 0:
            raise codec.Damaged("empty event chunk")
        batch = codec.decode_batch(payload[codec.EVENTS_PREFIX.size:], n)
        if batch.first_new_string != len(self._strings):
            raise codec.Damaged(
                f"string table out of step (chunk starts at {batch.first_new_string}, have {len(self._strings)})"
            )
        table = len(self._strings) + len(batch.new_strings)
        if len(set(batch.new_strings)) != len(batch.new_strings) or any(s in self._codes for s in batch.new_strings):
            raise codec.Damaged("string defined twice")
        c = batch.columns
        t = c["t"]
        if not np.isfinite(t).all() or (self._store.n and t[0] < self._last_t()) or (np.diff(t) < 0).any() or t[0] < 0:
            raise codec.Damaged("event times not finite and non-decreasing")
        if float(t[0]) != t_first or float(t[-1]) != t_last:
            raise codec.Damaged("event times disagree with the chunk prefix")
        for name in codec.STRING_COLUMNS:
            if int(c[name].max()) >= table:
                raise codec.Damaged(f"column {name!r} refers to an unknown string")
        for name in codec.FLOAT_COLUMNS:
            if np.isinf(c[name]).any():
                raise codec.Damaged(f"column {name!r} holds an infinite value")
        if (c["entity"] == 0).any():
            raise codec.Damaged("event without entity")
        strings = self._strings + batch.new_strings
        pairs = np.unique(c["kind"] * table + c["state"])
        for p in pairs.tolist():
            if (strings[p // table], strings[p % table]) not in _VALID_PAIRS:
                raise codec.Damaged(f"unknown kind/state {strings[p // table]!r}/{strings[p % table]!r}")
        for s in batch.new_strings:
            self._codes[s] = len(self._strings)
            self._strings.append(s)
        return {
            name: c[name].astype(_FLOAT_DTYPE if typ == "f" else _STRING_DTYPE, copy=False)
            for name, typ in codec.FORMAT_COLUMNS
        }

    # -- seek index ---------------------------------------------------------------------

    def _extend_index(self) -> None:
        """Advance the running latest-row-per-entity array over new events, taking a
        checkpoint at each keyframe position and at least every CHECKPOINT_EVENTS events."""
        n = self._store.n
        ent = self._store.arrays["entity"]
        kind = self._store.arrays["kind"]
        latest = np.full(len(self._strings), -1, np.int32)
        latest[: len(self._latest)] = self._latest
        # entities seen for the first time, in order of appearance
        lo = self._indexed
        codes, first_rows = np.unique(ent[lo:n], return_index=True)
        for offset, code in sorted(zip(first_rows.tolist(), codes.tolist())):
            name = self._strings[code]
            if name not in self._entities:
                self._entities[name] = self._strings[int(kind[lo + offset])]
        keyframe_positions = [k.events_before for k in self._keyframes if k.events_before > self._cp_pos[-1]]
        pos = lo
        for target, is_keyframe in [*((p, True) for p in keyframe_positions), (n, False)]:
            while target - self._cp_pos[-1] > CHECKPOINT_EVENTS:
                step = self._cp_pos[-1] + CHECKPOINT_EVENTS
                _apply_window(latest, ent, pos, step)
                pos = step
                self._cp_pos.append(step)
                self._cp_rows.append(latest.copy())
            _apply_window(latest, ent, pos, target)
            pos = target
            if is_keyframe and target > self._cp_pos[-1]:
                self._cp_pos.append(target)
                self._cp_rows.append(latest.copy())
        self._latest = latest
        self._indexed = n

    def _latest_rows(self, t: float) -> np.ndarray:
        n = self._store.n
        m = int(np.searchsorted(self._store.arrays["t"][:n], t, side="right"))
        rows = np.full(len(self._strings), -1, np.int32)
        if m == n:
            rows[: len(self._latest)] = self._latest
            return rows
        k = bisect.bisect_right(self._cp_pos, m) - 1
        base = self._cp_rows[k]
        rows[: len(base)] = base
        _apply_window(rows, self._store.arrays["entity"], self._cp_pos[k], m)
        return rows

    def _span(self, t0: float, t1: float) -> tuple[int, int]:
        t = self._store.view("t")
        return int(np.searchsorted(t, t0, side="left")), int(np.searchsorted(t, t1, side="right"))

    # -- building Event objects -----------------------------------------------------------

    def _cached_events(self, rows: np.ndarray) -> list[Event]:
        if not self._cache_size:
            return self._materialize(self._store.arrays, rows)
        cache = self._cache
        wanted = rows.tolist()
        missing = list(set(wanted).difference(cache))  # dict argument: O(len(wanted))
        if missing:
            if len(cache) + len(missing) > self._cache_size:
                cache.clear()
                missing = list(set(wanted))
            cache.update(zip(missing, self._materialize(self._store.arrays, np.array(missing))))
        return list(map(cache.__getitem__, wanted))

    def _materialize(self, cols: Mapping[str, np.ndarray], rows: np.ndarray) -> list[Event]:
        """Event objects for ``rows`` of ``cols`` (column arrays with string codes)."""
        m = len(rows)
        if not m:
            return []
        strings = self._strings_arr
        fields: list[list[Any]] = []
        for name, typ in codec.FORMAT_COLUMNS:
            a = cols[name][rows]
            if typ == "s":
                fields.append(strings[a].tolist())
            elif name == "t":
                fields.append(a.tolist())
            else:
                nan = np.isnan(a)
                if nan.all():
                    fields.append([None] * m)
                else:
                    values = a.tolist()
                    for i in np.flatnonzero(nan).tolist():
                        values[i] = None
                    fields.append(values)
        return list(map(Event, *fields))


def _event_rows_ahead(buf: memoryview) -> int:
    """Rows announced by the event chunks in ``buf`` (heads only, unchecked): lets the
    reader size its columns once instead of growing them chunk by chunk. Only a hint,
    bounded by the bytes at hand so a hostile file cannot make it reserve gigabytes."""
    pos, rows = 0, 0
    while pos + codec.CHUNK_HEAD_SIZE + codec.EVENTS_PREFIX.size <= len(buf):
        kind, length, _crc = codec.CHUNK_HEAD.unpack_from(buf, pos)
        if kind == codec.EVENTS:
            rows += codec.EVENTS_PREFIX.unpack_from(buf, pos + codec.CHUNK_HEAD_SIZE)[0]
        pos += codec.CHUNK_HEAD_SIZE + length
    return min(rows, len(buf) // 2)


def _apply_window(latest: np.ndarray, entity: np.ndarray, lo: int, hi: int) -> None:
    """Set ``latest[code]`` to the last row in ``[lo, hi)`` of each entity code there."""
    if hi <= lo:
        return
    if hi - lo == 1:
        latest[entity[lo]] = lo
        return
    u, first_from_end = np.unique(entity[lo:hi][::-1], return_index=True)
    latest[u] = hi - 1 - first_from_end


def open_recording(path: str | os.PathLike[str], *, event_cache_size: int = DEFAULT_EVENT_CACHE) -> Recording:
    """Open a ``.twinlog`` file for reading.

    Raises :class:`RecordingError` (naming the file) if it is missing, not a recording,
    or from a newer format. A truncated or damaged recording opens with
    :attr:`Recording.warnings` and everything before the damage.
    """
    return Recording(path, event_cache_size=event_cache_size)
