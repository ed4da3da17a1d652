"""The plant-history schema on PostgreSQL, created and migrated by the app (versioned).

Tables (schema ``dmw``; see docs/history.md):

* ``schema_version``: one row per applied migration.
* ``line``: a production line (one workshop model), by name.
* ``shift``: the catalogue — line, name, workshop, source, start (UTC), end, meta (JSON),
  event count, whether the writer closed it cleanly.
* ``event``: every event, **partitioned by time** (``ts`` = shift start + ``t``; one
  partition per UTC day, created on demand), with ``seq`` its position in the shift.
  Indexes: primary key ``(shift_id, seq, ts)`` for "the events since the keyframe", and
  ``(shift_id, t, seq)`` for time ranges and "the last event at or before t".
* ``keyframe`` / ``keyframe_row``: every :data:`KEYFRAME_EVENTS` events, the latest event
  of every entity before that position, so ``state_at`` reads one keyframe and at most
  that many events whatever the length of the shift.
* ``annotation``: timeline marks (breakdowns, gaps, scores, triggers).

Roles: ``dmw_reader`` (SELECT: engineers studying shifts) and ``dmw_writer`` (also INSERT /
UPDATE and creating day partitions: recording sessions). They are group roles without
login; a DBA grants them to real users (``GRANT dmw_reader TO alice``).

The event columns follow the event contract (:data:`twin.recording.codec.FORMAT_COLUMNS`):
a field added to events later is added as a column by :func:`ensure_schema`.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from twin.recording import codec

SCHEMA = "dmw"
READER_ROLE = "dmw_reader"
WRITER_ROLE = "dmw_writer"
#: Events between keyframes: bounds the work of one state_at query.
KEYFRAME_EVENTS = 4096

_SQL_TYPE = {"f": "double precision", "s": "text"}


def _event_columns_sql() -> str:
    cols = []
    for name, typ in codec.FORMAT_COLUMNS:
        null = " NOT NULL" if name in codec.REQUIRED_COLUMNS else ""
        cols.append(f'"{name}" {_SQL_TYPE[typ]}{null}')
    return ",\n    ".join(cols)


def _v1(cur: psycopg.Cursor) -> None:
    cols = _event_columns_sql()
    cur.execute(f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.line (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    workshop text NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.shift (
    id serial PRIMARY KEY,
    line_id integer NOT NULL REFERENCES {SCHEMA}.line(id),
    name text NOT NULL,
    workshop text NOT NULL DEFAULT '',
    source text NOT NULL DEFAULT '',
    start_ts timestamptz NOT NULL,
    t_first double precision,
    t_last double precision,
    event_count bigint NOT NULL DEFAULT 0,
    complete boolean NOT NULL DEFAULT false,
    created text NOT NULL DEFAULT '',
    meta jsonb NOT NULL DEFAULT '{{}}',
    UNIQUE (line_id, name)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.event (
    shift_id integer NOT NULL,
    seq bigint NOT NULL,
    ts timestamptz NOT NULL,
    {cols},
    PRIMARY KEY (shift_id, seq, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX IF NOT EXISTS event_shift_t ON {SCHEMA}.event (shift_id, t, seq);
CREATE TABLE IF NOT EXISTS {SCHEMA}.keyframe (
    shift_id integer NOT NULL REFERENCES {SCHEMA}.shift(id) ON DELETE CASCADE,
    seq_before bigint NOT NULL,
    t double precision NOT NULL,
    PRIMARY KEY (shift_id, seq_before)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.keyframe_row (
    shift_id integer NOT NULL,
    seq_before bigint NOT NULL,
    seq bigint NOT NULL,
    {cols},
    PRIMARY KEY (shift_id, seq_before, seq),
    FOREIGN KEY (shift_id, seq_before) REFERENCES {SCHEMA}.keyframe(shift_id, seq_before) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.annotation (
    shift_id integer NOT NULL REFERENCES {SCHEMA}.shift(id) ON DELETE CASCADE,
    t double precision NOT NULL,
    label text NOT NULL,
    entity text NOT NULL DEFAULT '',
    kind text NOT NULL DEFAULT 'note'
);
CREATE INDEX IF NOT EXISTS annotation_shift_t ON {SCHEMA}.annotation (shift_id, t);
""")


#: Migrations in order; index + 1 is the schema version they bring the database to.
MIGRATIONS: tuple[Callable[[psycopg.Cursor], None], ...] = (_v1,)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(RuntimeError):
    """The database's history schema is newer than this app, or cannot be created."""


def current_version(conn: psycopg.Connection) -> int:
    """The applied schema version (0: no history schema in this database)."""
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.schema_version",)).fetchone()
    if not row or not row[0]:
        return 0
    v = conn.execute(f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.schema_version").fetchone()
    return int(v[0]) if v else 0


def ensure_schema(conn: psycopg.Connection) -> int:
    """Create or migrate the history schema; returns the version now in force.

    Also adds event columns the event contract gained since the schema was made. Needs a
    role that may create objects (the writer role or the owner); raises
    :class:`SchemaError` if the database is from a newer app."""
    have = current_version(conn)
    if have > SCHEMA_VERSION:
        raise SchemaError(f"the history schema is version {have}; this app knows up to "
                          f"{SCHEMA_VERSION} (update DMW Twin)")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('dmw-history-schema'))")
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version ("
                    "version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())")
        have = current_version(conn)
        for v in range(have, SCHEMA_VERSION):
            MIGRATIONS[v](cur)
            cur.execute(f"INSERT INTO {SCHEMA}.schema_version (version) VALUES (%s)", (v + 1,))
        for table in ("event", "keyframe_row"):
            for name, typ in codec.FORMAT_COLUMNS:
                cur.execute(f'ALTER TABLE {SCHEMA}.{table} ADD COLUMN IF NOT EXISTS "{name}" {_SQL_TYPE[typ]}')
    return SCHEMA_VERSION


def create_roles(conn: psycopg.Connection) -> None:
    """Create (or refresh the grants of) the reader and writer group roles."""
    with conn.transaction(), conn.cursor() as cur:
        for role in (READER_ROLE, WRITER_ROLE):
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE ROLE {role} NOLOGIN")
        cur.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {READER_ROLE}, {WRITER_ROLE}")
        cur.execute(f"GRANT CREATE ON SCHEMA {SCHEMA} TO {WRITER_ROLE}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {READER_ROLE}, {WRITER_ROLE}")
        cur.execute(f"GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA {SCHEMA} TO {WRITER_ROLE}")
        cur.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {WRITER_ROLE}")
        cur.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT SELECT ON TABLES TO {READER_ROLE}")
        # partitions are created by writers: the parent's grants are what a reader's query checks


def day_partition(conn: psycopg.Connection, day_start_epoch: int) -> None:
    """Create the event partition of the UTC day starting at ``day_start_epoch`` if missing."""
    import datetime as dt

    d = dt.datetime.fromtimestamp(day_start_epoch, dt.timezone.utc)
    name = f"{SCHEMA}.event_{d:%Y%m%d}"
    nxt = d + dt.timedelta(days=1)
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {SCHEMA}.event "
        f"FOR VALUES FROM ('{d.isoformat()}') TO ('{nxt.isoformat()}')")
