"""Shifts in the plant history: connect, write (import or live), list, read.

A shift is addressed by a URL ``postgresql://user@host[:port]/db?line=<line>&shift=<name>``
(:func:`parse_history_url`). The password never goes into the URL the app keeps: it comes
from the ``password`` argument (asked by the app, or from the system keyring), or libpq's
own ``PGPASSWORD`` / ``~/.pgpass``.

:class:`HistoryRecording` answers exactly what :class:`twin.recording.Recording` answers
(``state_at``, ``events``, ``columns``, ``annotations``, ``time_range``, ``refresh``…), so
replay, charts, verification, forecast and evolution work on a shift from the server
unchanged. :class:`ShiftWriter` appends events (an import, or a live session) in
transactions of at most ``flush_interval_s`` of wall time, so a writer killed mid-shift
loses at most its last second.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg

from twin.events import Event, EventError, parse_event
from twin.history.schema import KEYFRAME_EVENTS, SCHEMA, day_partition, ensure_schema
from twin.recording import codec
from twin.recording.model import Annotation, RecordingError, make_annotation
from twin.recording.reader import EventColumns
from twin.snapshot import Snapshot

_COLS = codec.COLUMN_NAMES
_QCOLS = ", ".join(f'"{c}"' for c in _COLS)
_STRING = set(codec.STRING_COLUMNS)


class HistoryError(RecordingError):
    """The history server or a shift cannot be used; ``str(err)`` says which and why."""


@dataclass(frozen=True)
class HistoryLocation:
    """Where a shift lives: the server (``conninfo`` without password), line and shift."""

    conninfo: str
    line: str = ""
    shift: str = ""

    @property
    def url(self) -> str:
        q = {k: v for k, v in (("line", self.line), ("shift", self.shift)) if v}
        parts = urlsplit(self.conninfo)
        return urlunsplit(parts._replace(query=urlencode(q)))


def parse_history_url(url: str) -> HistoryLocation:
    """Split ``postgresql://user@host/db?line=L&shift=S``; a password in it is refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise HistoryError(f"{url}: not a plant-history URL (expected postgresql://user@host/db?line=…&shift=…)")
    if parts.password:
        raise HistoryError(f"{parts.scheme}://{parts.username}@{parts.hostname}: do not put the password "
                           "in the URL; the app asks for it (or uses the keyring / PGPASSWORD / ~/.pgpass)")
    q = parse_qs(parts.query)
    line = q.pop("line", [""])[-1]
    shift = q.pop("shift", [""])[-1]
    rest = urlencode({k: v[-1] for k, v in q.items()})
    return HistoryLocation(urlunsplit(parts._replace(query=rest)), line, shift)


#: Passwords typed into this process (the app's dialog), by server and user: memory only,
#: never written anywhere, gone when the app quits.
_TYPED: dict[tuple[str, str], str] = {}


def _server_user(url: str) -> tuple[str, str]:
    p = urlsplit(url)
    return (f"{p.hostname}:{p.port or 5432}/{p.path.lstrip('/')}", p.username or "")


def remember_password(url: str, password: str) -> None:
    """Keep ``password`` for ``url``'s server and user for the rest of this process."""
    _TYPED[_server_user(url)] = password


def connect(url: str, password: str | None = None, *, autocommit: bool = True,
            connect_timeout: float = 5.0) -> psycopg.Connection:
    """A connection to the history server of ``url``; :class:`HistoryError` if it fails."""
    loc = parse_history_url(url)
    kw: dict[str, Any] = {"connect_timeout": max(1, int(connect_timeout)), "autocommit": autocommit,
                          "application_name": "dmw-twin"}
    if password is None:
        password = _TYPED.get(_server_user(loc.conninfo))
    if password is not None:
        kw["password"] = password
    try:
        return psycopg.connect(loc.conninfo, **kw)
    except psycopg.OperationalError as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        msg = lines[0].split(" failed: ")[-1] if lines else type(exc).__name__
        where = urlsplit(loc.conninfo)
        server = f"{where.hostname}:{where.port or 5432}"
        if "password authentication failed" in msg:
            raise HistoryError(f"history server {server}: wrong user name or password for "
                               f"{where.username!r}") from None
        if "no password supplied" in msg:
            raise HistoryError(f"history server {server}: a password is needed for {where.username!r}") from None
        raise HistoryError(f"history server {server}: cannot connect ({msg})") from None


def _sql_error(what: str, exc: psycopg.Error) -> HistoryError:
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return HistoryError(f"{what}: permission denied (this user has read-only access; "
                            "recording needs the dmw_writer role)")
    return HistoryError(f"{what}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")


# ---------------------------------------------------------------------------------------
# the catalogue
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftInfo:
    """One row of the shift catalogue (times in seconds of the shift, start in UTC)."""

    id: int
    line: str
    name: str
    workshop: str
    source: str
    start: dt.datetime
    t_first: float | None
    t_last: float | None
    event_count: int
    annotations: int
    complete: bool

    def url(self, conninfo: str) -> str:
        return HistoryLocation(conninfo, self.line, self.name).url


def list_shifts(conn: psycopg.Connection, line: str | None = None) -> list[ShiftInfo]:
    """Every shift (of ``line``), newest first, with time range, event and annotation counts."""
    where, args = ("WHERE l.name = %s", (line,)) if line else ("", ())
    try:
        rows = conn.execute(
            f"""SELECT s.id, l.name, s.name, s.workshop, s.source, s.start_ts, s.t_first, s.t_last,
                       s.event_count, (SELECT count(*) FROM {SCHEMA}.annotation a WHERE a.shift_id = s.id),
                       s.complete
                FROM {SCHEMA}.shift s JOIN {SCHEMA}.line l ON l.id = s.line_id {where}
                ORDER BY s.start_ts DESC, s.id DESC""", args).fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    except psycopg.Error as exc:
        raise _sql_error("listing shifts", exc) from None
    return [ShiftInfo(*r) for r in rows]


def _find_shift(conn: psycopg.Connection, loc: HistoryLocation) -> int:
    if not loc.line or not loc.shift:
        raise HistoryError(f"{loc.url}: name the shift with ?line=…&shift=… (see 'history list')")
    try:
        row = conn.execute(
            f"SELECT s.id FROM {SCHEMA}.shift s JOIN {SCHEMA}.line l ON l.id = s.line_id "
            "WHERE l.name = %s AND s.name = %s", (loc.line, loc.shift)).fetchone()
    except psycopg.errors.UndefinedTable:
        raise HistoryError(f"{loc.url}: this database has no plant history yet") from None
    if row is None:
        raise HistoryError(f"{loc.url}: no shift {loc.shift!r} on line {loc.line!r}")
    return int(row[0])


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
def _epoch_of(meta: Mapping[str, Any], created: str) -> float:
    """UTC seconds of t = 0: the source's ``t0_epoch``, else the recording's creation time."""
    t0 = meta.get("t0_epoch")
    if isinstance(t0, (int, float)) and math.isfinite(t0):
        return float(t0)
    for text in (meta.get("started"), created):
        if isinstance(text, str) and text:
            try:
                d = dt.datetime.fromisoformat(text)
            except ValueError:
                continue
            if d.tzinfo is None:
                d = d.astimezone()  # a local time written by this machine
            return d.timestamp()
    return time.time()


_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(shift_id: int, start_epoch: float, rows: Sequence[tuple[int, tuple[Any, ...]]]) -> str:
    """Rows in COPY's text format (tab-separated, ``\\N`` = NULL); ``ts`` as UTC epoch text."""
    out = []
    prefix = f"{shift_id}\t"
    for seq, row in rows:
        cells = [prefix, str(seq), "\t", _utc(start_epoch + row[0])]
        for v in row:
            cells.append("\t")
            if v is None:
                cells.append("\\N")
            elif isinstance(v, str):
                cells.append(v.translate(_ESCAPE))
            else:
                cells.append(repr(float(v)))
        cells.append("\n")
        out.append("".join(cells))
    return "".join(out)


def _utc(epoch: float) -> str:
    """A timestamptz literal for UTC seconds ``epoch`` (microsecond precision)."""
    whole = math.floor(epoch)
    us = int(round((epoch - whole) * 1e6))
    if us >= 1_000_000:
        whole, us = whole + 1, us - 1_000_000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{us:06d}+00"


def _row_of(ev: Event) -> tuple[Any, ...]:
    return tuple(getattr(ev, c) for c in _COLS)


class ShiftWriter:
    """Append one shift's events to the history server (an import or a live session).

    Args:
        url: server URL (``line`` and ``shift`` in it, or given here).
        meta: the shift's metadata (what a ``.twinlog`` header holds).
        password: the user's password (else libpq's PGPASSWORD / ~/.pgpass).
        flush_interval_s: wall seconds between commits at most (a killed writer loses at
            most this much).
        resume: continue an existing shift of that name (after an outage, or to fill in
            what the server missed) instead of refusing it.

    Events must come in time order, as a recording holds them (``append`` re-validates
    them). ``seq`` numbers continue from what the server has, so uploading a shift's
    local ``.twinlog`` after an outage adds only what the server missed (:func:`sync_twinlog`).
    """

    def __init__(self, url: str, meta: Mapping[str, Any] | None = None, *, line: str = "",
                 shift: str = "", password: str | None = None, created: str = "",
                 flush_interval_s: float = 1.0, resume: bool = False) -> None:
        loc = parse_history_url(url)
        self.location = HistoryLocation(loc.conninfo, line or loc.line, shift or loc.shift)
        if not self.location.line or not self.location.shift:
            raise HistoryError(f"{url}: name the line and shift (?line=…&shift=…)")
        self.meta = dict(meta or {})
        self.flush_interval_s = float(flush_interval_s)
        self._password = password
        self._lock = threading.RLock()
        self._pending: list[tuple[Any, ...]] = []
        self._pending_notes: list[Annotation] = []
        self._pending_kf: list[tuple[int, float, list[tuple[int, tuple[Any, ...]]]]] = []
        self._latest: dict[str, tuple[int, tuple[Any, ...]]] = {}
        self._days: set[int] = set()
        self._flushed_at = time.monotonic()
        self.created = created or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.start_epoch = _epoch_of(self.meta, self.created)
        self.events_written = 0
        self.rejected = 0
        self._closed = False
        self._conn = connect(url, password, autocommit=False)
        try:
            ensure_schema(self._conn)
            self._conn.commit()
            self.shift_id, self.seq = self._open_shift(resume)
        except psycopg.Error as exc:
            self._conn.close()
            raise _sql_error(f"{self.location.url}", exc) from None
        except BaseException:
            self._conn.close()
            raise
        self._last_t = self._server_last_t()
        self._load_latest()

    # -- setup ---------------------------------------------------------------------------
    def _open_shift(self, resume: bool) -> tuple[int, int]:
        loc = self.location
        with self._conn.transaction():
            self._conn.execute(
                f"INSERT INTO {SCHEMA}.line (name, workshop) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (loc.line, str(self.meta.get("workshop", ""))))
            row = self._conn.execute(
                f"SELECT s.id, s.event_count, s.start_ts FROM {SCHEMA}.shift s JOIN {SCHEMA}.line l "
                "ON l.id = s.line_id WHERE l.name = %s AND s.name = %s", (loc.line, loc.shift)).fetchone()
            if row is not None:
                if not resume:
                    raise HistoryError(f"{loc.url}: shift {loc.shift!r} already exists on line {loc.line!r}")
                self.start_epoch = row[2].timestamp()
                return int(row[0]), int(row[1])
            start = dt.datetime.fromtimestamp(self.start_epoch, dt.timezone.utc)
            sid = self._conn.execute(
                f"""INSERT INTO {SCHEMA}.shift (line_id, name, workshop, source, start_ts, created, meta)
                    SELECT id, %s, %s, %s, %s, %s, %s FROM {SCHEMA}.line WHERE name = %s RETURNING id""",
                (loc.shift, str(self.meta.get("workshop", "")), str(self.meta.get("source", "")), start,
                 self.created, json.dumps(self.meta, default=str), loc.line)).fetchone()
            assert sid is not None
            return int(sid[0]), 0

    def _server_last_t(self) -> float:
        row = self._conn.execute(f"SELECT t_last FROM {SCHEMA}.shift WHERE id = %s", (self.shift_id,)).fetchone()
        self._conn.commit()
        return float(row[0]) if row and row[0] is not None else -math.inf

    def _load_latest(self) -> None:
        """After a resume: the latest row per entity, so keyframes stay complete."""
        if not self.seq:
            return
        snap = HistoryRecording._state_rows(self._conn, self.shift_id, self.seq, self._span_ts())
        self._conn.commit()
        for seq, row in snap:
            self._latest[row[1]] = (seq, row)

    def _span_ts(self) -> tuple[dt.datetime, dt.datetime]:
        lo = dt.datetime.fromtimestamp(self.start_epoch - 86400, dt.timezone.utc)
        return lo, dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)

    # -- appending -------------------------------------------------------------------------
    def append(self, event: Event | Mapping[str, Any]) -> bool:
        """Queue one event (``False``, counted, if malformed or out of time order)."""
        try:
            ev = parse_event(event)
        except EventError:
            self.rejected += 1
            return False
        return self.extend_rows((_row_of(ev),)) == 1

    def extend_rows(self, rows: Iterable[tuple[Any, ...]]) -> int:
        """Queue rows already validated (read from a recording): tuples in
        :data:`~twin.recording.codec.COLUMN_NAMES` order, ``None`` / ``""`` where not
        applicable. Rows earlier than the last one are refused (counted); returns how many
        were queued."""
        added = 0
        with self._lock:
            if self._closed:
                raise HistoryError(f"{self.location.url}: writer is closed")
            pending, latest = self._pending, self._latest
            for row in rows:
                t = row[0]
                if t < self._last_t:
                    self.rejected += 1
                    continue
                seq = self.seq
                if seq and seq % KEYFRAME_EVENTS == 0:
                    self._pending_kf.append((seq, t, list(latest.values())))
                pending.append((seq, row))
                latest[row[1]] = (seq, row)
                self.seq = seq + 1
                self._last_t = t
                added += 1
            self.events_written += added
            if time.monotonic() - self._flushed_at >= self.flush_interval_s:
                self.flush()
        return added

    def annotations(self) -> list[Annotation]:
        """The annotations the server already has for this shift."""
        with self._lock:
            rows = self._conn.execute(f"SELECT t, label, entity, kind FROM {SCHEMA}.annotation "
                                      "WHERE shift_id = %s ORDER BY t", (self.shift_id,)).fetchall()
            self._conn.commit()
        return [Annotation(float(t), label, entity, kind) for t, label, entity, kind in rows]

    def extend(self, events: Iterable[Event | Mapping[str, Any]]) -> int:
        return sum(1 for e in events if self.append(e))

    def annotate(self, t: float, label: str, entity: str = "", kind: str = "note") -> None:
        note = make_annotation(t, label, entity, kind)
        with self._lock:
            self._pending_notes.append(note)

    def flush(self) -> None:
        """Commit what is queued (one transaction: all of it or none)."""
        with self._lock:
            self._flushed_at = time.monotonic()
            if not (self._pending or self._pending_notes or self._pending_kf):
                return
            rows, notes, kfs = self._pending, self._pending_notes, self._pending_kf
            try:
                with self._conn.transaction():
                    self._write(rows, notes, kfs)
            except psycopg.Error as exc:
                raise _sql_error(f"{self.location.url}: writing events", exc) from None
            self._pending, self._pending_notes, self._pending_kf = [], [], []

    def _write(self, rows: list[tuple[int, tuple[Any, ...]]], notes: list[Annotation],
               kfs: list[tuple[int, float, list[tuple[int, tuple[Any, ...]]]]]) -> None:
        conn, sid, start = self._conn, self.shift_id, self.start_epoch
        t0 = dt.datetime.fromtimestamp(start, dt.timezone.utc)
        if rows:
            for day in {int((start + rows[0][1][0]) // 86400), int((start + rows[-1][1][0]) // 86400)}:
                if day not in self._days:
                    day_partition(conn, day * 86400)
                    self._days.add(day)
            with conn.cursor().copy(f"COPY {SCHEMA}.event (shift_id, seq, ts, {_QCOLS}) FROM STDIN") as cp:
                for lo in range(0, len(rows), 20_000):
                    cp.write(_copy_text(sid, start, rows[lo:lo + 20_000]))
        for seq_before, t, latest in kfs:
            conn.execute(f"INSERT INTO {SCHEMA}.keyframe (shift_id, seq_before, t) VALUES (%s, %s, %s)",
                         (sid, seq_before, t))
            with conn.cursor().copy(
                    f"COPY {SCHEMA}.keyframe_row (shift_id, seq_before, seq, {_QCOLS}) FROM STDIN") as cp:
                for seq, row in latest:
                    cp.write_row((sid, seq_before, seq, *row))
        if notes:
            with conn.cursor().copy(
                    f"COPY {SCHEMA}.annotation (shift_id, t, label, entity, kind) FROM STDIN") as cp:
                for a in notes:
                    cp.write_row((sid, a.t, a.label, a.entity, a.kind))
        if rows:
            conn.execute(
                f"""UPDATE {SCHEMA}.shift SET event_count = %s,
                    t_first = coalesce(t_first, %s), t_last = %s WHERE id = %s""",
                (rows[-1][0] + 1, rows[0][1][0], rows[-1][1][0], sid))

    def close(self, complete: bool = True) -> None:
        """Commit the rest and mark the shift closed cleanly. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            try:
                self.flush()
                if complete:
                    with self._conn.transaction():
                        self._conn.execute(f"UPDATE {SCHEMA}.shift SET complete = true WHERE id = %s",
                                           (self.shift_id,))
            finally:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> ShiftWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(complete=exc[0] is None)


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
class HistoryRecording:
    """A shift on the history server, read through the :class:`~twin.recording.Recording`
    interface. Queries go to the server (nothing but the catalogue entry is held)."""

    def __init__(self, url: str, *, password: str | None = None) -> None:
        self.location = parse_history_url(url)
        self.path = self.location.url  # what a user sees as "the recording"
        self._conn = connect(url, password)
        self._lock = threading.RLock()
        try:
            self.shift_id = _find_shift(self._conn, self.location)
        except BaseException:
            self._conn.close()
            raise
        self._closed = False
        self._load_catalogue()

    def _load_catalogue(self) -> None:
        row = self._conn.execute(
            f"SELECT meta, created, complete, event_count, t_first, t_last, start_ts FROM {SCHEMA}.shift "
            "WHERE id = %s", (self.shift_id,)).fetchone()
        assert row is not None
        self.meta: dict[str, Any] = dict(row[0] or {})
        self.meta.setdefault("format_version", codec.FORMAT_VERSION)
        self.meta.setdefault("created", row[1])
        self.created = str(row[1])
        self.format_version = codec.FORMAT_VERSION
        self.complete = bool(row[2])
        self._count = int(row[3])
        self._range = (float(row[4] or 0.0), float(row[5] or 0.0)) if self._count else (0.0, 0.0)
        self.start_epoch = row[6].timestamp()
        self.end_summary = {"events": self._count} if self.complete else None
        self._entities: dict[str, str] | None = None

    # -- the Recording interface -----------------------------------------------------------
    @property
    def warnings(self) -> list[str]:
        return []

    @property
    def event_count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    @property
    def time_range(self) -> tuple[float, float]:
        return self._range

    @property
    def entities(self) -> dict[str, str]:
        with self._lock:
            if self._entities is None:
                rows = self._q(f"""SELECT entity, kind FROM (SELECT DISTINCT ON (entity) entity, kind, seq
                                   FROM {SCHEMA}.event WHERE shift_id = %s ORDER BY entity, seq) e ORDER BY seq""",
                               (self.shift_id,))
                self._entities = {r[0]: r[1] for r in rows}
            return dict(self._entities)

    @property
    def keyframes(self) -> list[tuple[float, int]]:
        rows = self._q(f"SELECT t, seq_before FROM {SCHEMA}.keyframe WHERE shift_id = %s ORDER BY seq_before",
                       (self.shift_id,))
        return [(float(t), int(s)) for t, s in rows]

    def _ts(self, t0: float, t1: float) -> tuple[dt.datetime, dt.datetime]:
        """Partition-pruning bounds on ``ts`` for shift times [t0, t1] (one day of slack:
        a shift imported with a different start keeps its own ``ts``)."""
        lo = self.start_epoch + (t0 if math.isfinite(t0) else -1e10) - 86400
        hi = self.start_epoch + (t1 if math.isfinite(t1) else 1e10) + 86400
        clamp = lambda x: min(max(x, -2e10), 2.5e11)  # noqa: E731 - datetime's range
        return (dt.datetime.fromtimestamp(clamp(lo), dt.timezone.utc),
                dt.datetime.fromtimestamp(clamp(hi), dt.timezone.utc))

    def _q(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._closed:
                raise HistoryError(f"{self.path}: recording is closed")
            try:
                return self._conn.execute(sql, args).fetchall()
            except psycopg.OperationalError as exc:
                raise HistoryError(f"{self.path}: the history server went away ({exc})") from None
            except psycopg.Error as exc:
                raise _sql_error(self.path, exc) from None

    def events(self, t0: float = -math.inf, t1: float = math.inf, entity: str | None = None,
               kind: str | None = None) -> list[Event]:
        """Events with ``t0 <= t <= t1`` (seconds) in time order, optionally of one entity/kind."""
        where = ["shift_id = %s", "t >= %s", "t <= %s", "ts >= %s", "ts <= %s"]
        lo, hi = self._ts(t0, t1)
        args: list[Any] = [self.shift_id, max(t0, -1e300), min(t1, 1e300), lo, hi]
        for name, value in (("entity", entity), ("kind", kind)):
            if value is not None:
                where.append(f"{name} = %s")
                args.append(value)
        rows = self._q(f"SELECT {_QCOLS} FROM {SCHEMA}.event WHERE {' AND '.join(where)} ORDER BY seq", args)
        return [_event(r) for r in rows]

    @staticmethod
    def _state_rows(conn: psycopg.Connection, shift_id: int, n: int,
                    ts: tuple[dt.datetime, dt.datetime]) -> list[tuple[int, tuple[Any, ...]]]:
        """(seq, row) of every entity's latest event among the first ``n`` events."""
        kf = conn.execute(
            f"SELECT max(seq_before) FROM {SCHEMA}.keyframe WHERE shift_id = %s AND seq_before <= %s",
            (shift_id, n)).fetchone()
        base = int(kf[0]) if kf and kf[0] is not None else 0
        latest: dict[str, tuple[int, tuple[Any, ...]]] = {}
        if base:
            for r in conn.execute(f"SELECT seq, {_QCOLS} FROM {SCHEMA}.keyframe_row "
                                  "WHERE shift_id = %s AND seq_before = %s", (shift_id, base)):
                latest[r[2]] = (int(r[0]), tuple(r[1:]))
        for r in conn.execute(
                f"""SELECT DISTINCT ON (entity) seq, {_QCOLS} FROM {SCHEMA}.event
                    WHERE shift_id = %s AND seq >= %s AND seq < %s AND ts >= %s AND ts <= %s
                    ORDER BY entity, seq DESC""", (shift_id, base, n, *ts)):
            latest[r[2]] = (int(r[0]), tuple(r[1:]))
        return sorted(latest.values(), key=lambda p: p[0])

    def state_at(self, t: float) -> Snapshot:
        """Latest event of every entity with ``e.t <= t`` (``t`` in seconds)."""
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or math.isnan(t):
            raise ValueError(f"state_at needs a time in seconds, got {t!r}")
        t = float(t)
        lo, hi = self._ts(-math.inf, t)
        row = self._q(f"""SELECT seq FROM {SCHEMA}.event WHERE shift_id = %s AND t <= %s AND ts <= %s
                          ORDER BY t DESC, seq DESC LIMIT 1""", (self.shift_id, t, hi))
        if not row:
            return Snapshot(t, {})
        n = int(row[0][0]) + 1
        with self._lock:
            try:
                rows = self._state_rows(self._conn, self.shift_id, n, self._ts(-math.inf, t))
            except psycopg.Error as exc:
                raise _sql_error(self.path, exc) from None
        return Snapshot(t, {e.entity: e for e in (_event(r) for _, r in rows)})

    def columns(self, t0: float = -math.inf, t1: float = math.inf) -> EventColumns:
        """Events with ``t0 <= t <= t1`` as numpy columns (string fields coded as in a .twinlog:
        codes in order of first appearance, 0 = "")."""
        lo, hi = self._ts(t0, t1)
        rows = self._q(f"SELECT {_QCOLS} FROM {SCHEMA}.event WHERE shift_id = %s AND t >= %s AND t <= %s "
                       "AND ts >= %s AND ts <= %s ORDER BY seq",
                       (self.shift_id, max(t0, -1e300), min(t1, 1e300), lo, hi))
        codes: dict[str, int] = {"": 0}
        strings: list[str] = [""]
        arrays: dict[str, np.ndarray] = {}
        cols = list(zip(*rows)) if rows else [() for _ in _COLS]
        # assign codes in row order across columns, as the writer does
        for i in range(len(rows)):
            for j, name in enumerate(_COLS):
                if name in _STRING:
                    s = rows[i][j] or ""
                    if s not in codes:
                        codes[s] = len(strings)
                        strings.append(s)
        for j, (name, typ) in enumerate(codec.FORMAT_COLUMNS):
            if typ == "s":
                arrays[name] = np.fromiter((codes[s or ""] for s in cols[j]), np.int32, len(rows))
            else:
                arrays[name] = np.array([math.nan if v is None else v for v in cols[j]], np.float64)
            arrays[name].flags.writeable = False
        return EventColumns(**arrays, strings=np.array(strings, dtype=object), codes=codes)

    def annotations(self) -> list[Annotation]:
        rows = self._q(f"SELECT t, label, entity, kind FROM {SCHEMA}.annotation WHERE shift_id = %s "
                       "ORDER BY t", (self.shift_id,))
        return [Annotation(float(t), label, entity, kind) for t, label, entity, kind in rows]

    def refresh(self) -> int:
        """Pick up what a live writer committed since; returns the number of new events."""
        with self._lock:
            before = self._count
            try:
                self._load_catalogue()
            except psycopg.Error as exc:
                raise _sql_error(self.path, exc) from None
            return self._count - before

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> HistoryRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        a, b = self.time_range
        return f"HistoryRecording({self.path!r}, events={self._count}, t={a:g}..{b:g} s)"


def _event(row: Sequence[Any]) -> Event:
    return Event(*(("" if v is None else v) if name in _STRING else v for name, v in zip(_COLS, row)))
