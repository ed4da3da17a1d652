"""The bytes of a ``.twinlog`` file: header, chunk framing and the columnar batch encoding.

Layout (all integers little-endian; see docs/formats-twinlog.md for the full description)::

    header   MAGIC (8 bytes) | version u16 | flags u16                          12 bytes
    chunk    type (4 ASCII bytes) | length u32 | crc32 u32 | payload (length bytes)
    chunk    ...

The CRC-32 covers the chunk's type, length and payload, so a torn or bit-flipped chunk is
detected and a reader keeps everything before it. Chunk types:

* ``META`` (first chunk): JSON ``{"format_version", "created", "meta": {...}}``.
* ``EVTS``: a batch of events, ``<Idd`` (rows, first t, last t) then a zlib-compressed
  columnar body (:func:`encode_batch`). Strings (ids, kinds, states) are numbers into one
  string table that grows as batches introduce new strings; index 0 is ``""``.
* ``KEYF``: a keyframe, ``<QdI`` (events before it, time, rows) then a columnar body with
  the latest event of every entity seen so far (state just before that time).
* ``NOTE``: JSON list of annotations ``[{"t", "label", "entity", "kind"}, ...]``.
* ``END ``: JSON summary written by a clean close.

Everything here is pure bytes <-> numpy; no file handling.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.events import COLUMNS

MAGIC = b"TWINLOG\x1a"
FORMAT_VERSION = 2
#: Version 2 added the order columns (product, quantity, due); version 1 files read as
#: before, with those columns empty.
HEADER = struct.Struct("<8sHH")
HEADER_SIZE = HEADER.size  # 12

CHUNK_HEAD = struct.Struct("<4sII")
CHUNK_HEAD_SIZE = CHUNK_HEAD.size  # 12
#: Largest chunk payload a reader accepts; anything larger is treated as damage.
MAX_CHUNK_BYTES = 1 << 28
#: Largest decompressed batch body a reader accepts (guards against zlib bombs).
MAX_BODY_BYTES = 1 << 30

META, EVENTS, KEYFRAME, NOTES, END = b"META", b"EVTS", b"KEYF", b"NOTE", b"END "

EVENTS_PREFIX = struct.Struct("<Idd")  # rows, first t, last t
KEYFRAME_PREFIX = struct.Struct("<QdI")  # events before, keyframe time, rows
_BODY_HEAD = struct.Struct("<III")  # rows, first new string index, JSON bytes of new strings
_COL_HEAD = struct.Struct("<BB")  # column id, dtype code

#: Columns of the format, by id (position). ``f``: float64, NaN = not applicable;
#: ``s``: index into the string table, 0 = "". Fixed by the format, not by twin.events.
FORMAT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("t", "f"), ("entity", "s"), ("kind", "s"), ("state", "s"),
    ("x", "f"), ("y", "f"), ("heading", "f"),
    ("station", "s"), ("wip", "s"), ("order", "s"), ("process", "s"), ("agv", "s"),
    ("queue", "f"), ("energy", "f"),
    ("product", "s"), ("quantity", "f"), ("due", "f"),  # since format version 2
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in FORMAT_COLUMNS)
FLOAT_COLUMNS: tuple[str, ...] = tuple(n for n, k in FORMAT_COLUMNS if k == "f")
STRING_COLUMNS: tuple[str, ...] = tuple(n for n, k in FORMAT_COLUMNS if k == "s")
REQUIRED_COLUMNS: tuple[str, ...] = ("t", "entity", "kind", "state")

if COLUMN_NAMES != COLUMNS:  # pragma: no cover - guards a change of the Event contract
    raise ImportError(
        "twin.events.COLUMNS changed; the .twinlog format needs a new version: "
        f"{COLUMNS} != {COLUMN_NAMES}"
    )

# dtype codes of stored columns
_U1, _U2, _U4, _F8_SHUFFLED = 1, 2, 4, 24
_INT_DTYPES: dict[int, np.dtype[Any]] = {_U1: np.dtype("<u1"), _U2: np.dtype("<u2"), _U4: np.dtype("<u4")}


class Damaged(Exception):
    """A chunk that passed its checksum but does not decode; the reason is user-facing."""


# ---------------------------------------------------------------------------------------
# header and chunk framing


def file_header() -> bytes:
    return HEADER.pack(MAGIC, FORMAT_VERSION, 0)


def frame(kind: bytes, payload: bytes) -> bytes:
    """One chunk: head (type, length, crc32 of type+length+payload) then the payload."""
    length = struct.pack("<I", len(payload))
    crc = zlib.crc32(payload, zlib.crc32(kind + length))
    return kind + length + struct.pack("<I", crc) + payload


def check_crc(kind: bytes, length: int, crc: int, payload: bytes | memoryview) -> bool:
    return zlib.crc32(payload, zlib.crc32(kind + struct.pack("<I", length))) == crc


# ---------------------------------------------------------------------------------------
# columnar batch body


def _shuffle(a: np.ndarray) -> bytes:
    """Byte-transpose float64s (all first bytes, then all second bytes...): compresses better."""
    return np.ascontiguousarray(a.astype("<f8", copy=False).view(np.uint8).reshape(-1, 8).T).tobytes()


def _unshuffle(raw: bytes | memoryview, n: int) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.uint8).reshape(8, n).T.copy().view("<f8").reshape(n)


def encode_batch(
    columns: Sequence[Sequence[object]],
    first_new_string: int,
    new_strings: Sequence[str],
    level: int = 1,
) -> bytes:
    """Compress one batch of rows given column-wise in :data:`FORMAT_COLUMNS` order.

    Float columns hold floats or ``None``; string columns hold string-table indices.
    Columns that are all ``None`` / all ``""`` are left out (a reader fills them in).
    """
    n = len(columns[0])
    strings = json.dumps(list(new_strings), ensure_ascii=False, separators=(",", ":")).encode()
    parts = [_BODY_HEAD.pack(n, first_new_string, len(strings)), strings, b""]
    stored = 0
    for cid, ((name, typ), values) in enumerate(zip(FORMAT_COLUMNS, columns)):
        if typ == "f":
            a = np.array(values, dtype="<f8")  # None -> NaN
            if name not in REQUIRED_COLUMNS and np.isnan(a).all():
                continue
            parts.append(_COL_HEAD.pack(cid, _F8_SHUFFLED) + _shuffle(a))
        else:
            ia = np.array(values, dtype=np.int64)
            top = int(ia.max()) if n else 0
            if name not in REQUIRED_COLUMNS and top == 0:
                continue
            code = _U1 if top < 1 << 8 else _U2 if top < 1 << 16 else _U4
            parts.append(_COL_HEAD.pack(cid, code) + ia.astype(_INT_DTYPES[code]).tobytes())
        stored += 1
    parts[2] = struct.pack("<B", stored)
    return zlib.compress(b"".join(parts), level)


@dataclass
class Batch:
    """A decoded batch: ``columns`` maps column name -> array (float64 or int64 string
    indices); columns absent from the batch are NaN / 0."""

    rows: int
    first_new_string: int
    new_strings: list[str]
    columns: dict[str, np.ndarray]


def decode_batch(blob: bytes | memoryview, expected_rows: int) -> Batch:
    """Inverse of :func:`encode_batch`; raises :class:`Damaged` on anything inconsistent."""
    try:
        d = zlib.decompressobj()
        body = d.decompress(blob, MAX_BODY_BYTES)
        if d.unconsumed_tail or not d.eof:
            raise Damaged("compressed body is incomplete or too large")
    except zlib.error as exc:
        raise Damaged(f"compressed body does not decompress ({exc})") from None
    try:
        n, first, slen = _BODY_HEAD.unpack_from(body, 0)
        pos = _BODY_HEAD.size
        new_strings = json.loads(body[pos:pos + slen].decode())
        pos += slen
        (ncols,) = struct.unpack_from("<B", body, pos)
        pos += 1
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise Damaged(f"batch header unreadable ({exc})") from None
    if n != expected_rows:
        raise Damaged(f"batch says {n} rows, chunk says {expected_rows}")
    if not isinstance(new_strings, list) or not all(isinstance(s, str) for s in new_strings):
        raise Damaged("string table entries are not strings")
    cols: dict[str, np.ndarray] = {}
    for _ in range(ncols):
        try:
            cid, code = _COL_HEAD.unpack_from(body, pos)
        except struct.error:
            raise Damaged("column header cut short") from None
        pos += _COL_HEAD.size
        if cid >= len(FORMAT_COLUMNS):
            raise Damaged(f"unknown column id {cid}")
        name, typ = FORMAT_COLUMNS[cid]
        if name in cols:
            raise Damaged(f"column {name!r} stored twice")
        if typ == "f" and code == _F8_SHUFFLED:
            size = 8 * n
            if pos + size > len(body):
                raise Damaged(f"column {name!r} cut short")
            cols[name] = _unshuffle(body[pos:pos + size], n)
        elif typ == "s" and code in _INT_DTYPES:
            dt = _INT_DTYPES[code]
            size = dt.itemsize * n
            if pos + size > len(body):
                raise Damaged(f"column {name!r} cut short")
            cols[name] = np.frombuffer(body, dtype=dt, count=n, offset=pos).astype(np.int64)
        else:
            raise Damaged(f"column {name!r} has unknown encoding {code}")
        pos += size
    if pos != len(body):
        raise Damaged(f"{len(body) - pos} unexpected bytes after the columns")
    for name in REQUIRED_COLUMNS:
        if name not in cols:
            raise Damaged(f"required column {name!r} missing")
    for name, typ in FORMAT_COLUMNS:
        if name not in cols:
            cols[name] = np.full(n, np.nan) if typ == "f" else np.zeros(n, dtype=np.int64)
    return Batch(n, first, new_strings, cols)


# ---------------------------------------------------------------------------------------
# JSON chunks


def encode_json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def decode_json(payload: bytes | memoryview, what: str) -> object:
    try:
        return json.loads(bytes(payload).decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise Damaged(f"{what} is not valid JSON ({exc})") from None
