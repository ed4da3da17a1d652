"""Moving shifts between ``.twinlog`` files and the history server.

* :func:`import_twinlog`: a recording becomes a shift (its meta, events, annotations).
* :func:`sync_twinlog`: a live session's local ``.twinlog`` fills in what the server missed
  (an outage): only events past the server's count are uploaded, so nothing is doubled.
* :func:`export_shift`: a shift becomes a ``.twinlog`` again (to take it off-site).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from twin.history.store import HistoryRecording, ShiftWriter, parse_history_url
from twin.recording import EventColumns, Recording, RecordingWriter, codec, open_recording

#: Events per batch read from a recording while importing.
BATCH = 50_000


def rows_of(cols: EventColumns, lo: int, hi: int) -> Iterator[tuple[Any, ...]]:
    """Rows ``lo..hi`` of ``cols`` as tuples in column order (None where NaN)."""
    fields = []
    for name in codec.COLUMN_NAMES:
        a = getattr(cols, name)[lo:hi]
        fields.append([None if v != v else v for v in a.tolist()] if a.dtype.kind == "f"
                      else cols.strings[a].tolist())
    return zip(*fields)


def _copy(rec: Recording, writer: ShiftWriter, start: int,
          progress: Callable[[int, int], None] | None) -> int:
    cols = rec.columns()
    n, added = len(cols), 0
    for lo in range(start, n, BATCH):
        hi = min(n, lo + BATCH)
        added += writer.extend_rows(rows_of(cols, lo, hi))
        if progress:
            progress(hi - start, n - start)
    return added


def import_twinlog(path: str | Path, url: str, *, line: str = "", shift: str = "",
                   password: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> tuple[str, int]:
    """Store recording ``path`` as a shift; returns (shift URL, events). Line defaults to
    the recording's workshop, shift to the file name."""
    rec = open_recording(path)
    try:
        meta = dict(rec.meta)
        loc = parse_history_url(url)
        line = line or loc.line or str(meta.get("workshop") or "default")
        shift = shift or loc.shift or Path(path).stem
        with ShiftWriter(url, meta, line=line, shift=shift, password=password,
                         created=rec.created, flush_interval_s=30.0) as w:
            n = _copy(rec, w, 0, progress)
            for a in rec.annotations():
                w.annotate(a.t, a.label, a.entity, a.kind)
            w.flush()
            if not rec.complete:
                w.close(complete=False)
            return w.location.url, n
    finally:
        rec.close()


def sync_twinlog(path: str | Path, url: str, *, line: str = "", shift: str = "",
                 password: str | None = None) -> int:
    """Upload what the server lacks of the shift recorded locally in ``path``; returns the
    number of events added (0 when the server is complete). Annotations the server lacks
    are added too."""
    rec = open_recording(path)
    try:
        loc = parse_history_url(url)
        with ShiftWriter(url, rec.meta, line=line or loc.line or str(rec.meta.get("workshop") or "default"),
                         shift=shift or loc.shift or Path(path).stem, password=password,
                         created=rec.created, flush_interval_s=30.0, resume=True) as w:
            n = _copy(rec, w, w.seq, None)
            on_server = set(w.annotations())
            for a in rec.annotations():
                if a not in on_server:
                    w.annotate(a.t, a.label, a.entity, a.kind)
            w.flush()
            if not rec.complete:
                w.close(complete=False)
            return n
    finally:
        rec.close()


def export_shift(url: str, out: str | Path, *, password: str | None = None) -> int:
    """Write shift ``url`` to a ``.twinlog`` file; returns the number of events."""
    src = HistoryRecording(url, password=password)
    try:
        meta = {k: v for k, v in src.meta.items() if k not in ("format_version", "created")}
        with RecordingWriter(out, meta) as w:
            cols = src.columns()
            n = sum(bool(w.append(dict(zip(codec.COLUMN_NAMES, r)))) for r in rows_of(cols, 0, len(cols)))
            for a in src.annotations():
                w.annotate(a.t, a.label, a.entity, a.kind)
        return n
    finally:
        src.close()
