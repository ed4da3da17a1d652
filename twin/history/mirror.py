"""A live session's recording mirrored to the history server as it grows.

The session always records into its local ``.twinlog`` (crash-safe, flushed every second).
:class:`HistoryMirror` follows that file and uploads what is new to the server every
``interval_s`` — so the server is at most about two seconds behind, a second engineer can
follow the shift live from another machine (:meth:`HistoryRecording.refresh`), and a
network or server outage loses nothing: the mirror keeps retrying with backoff and, when
the server is back, uploads exactly what it missed (``seq`` numbers continue; no duplicates).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from twin.history.store import HistoryError, ShiftWriter, parse_history_url
from twin.history.transfer import rows_of
from twin.recording import RecordingError, open_recording

log = logging.getLogger(__name__)

#: Longest wait between reconnection attempts, seconds.
MAX_BACKOFF_S = 30.0


class HistoryMirror:
    """Upload a growing ``.twinlog`` to shift ``url`` in a background thread.

    Attributes:
        status: "connecting" / "connected" / "reconnecting" / "stopped", with
            :attr:`message` in words a person can act on.
        uploaded: events the server has from this session.
    """

    def __init__(self, local: str | Path, url: str, *, password: str | None = None,
                 interval_s: float = 1.0) -> None:
        self.local = Path(local)
        loc = parse_history_url(url)
        if not loc.line or not loc.shift:
            raise HistoryError(f"{url}: name the line and shift (?line=…&shift=…)")
        self.url = url
        self.interval_s = float(interval_s)
        self._password = password
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.status = "connecting"
        self.message = ""
        self.uploaded = 0
        self.outages = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="history-mirror", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Upload what is left (one last pass) and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 1.0
        writer: ShiftWriter | None = None
        rec = None
        while True:
            final = self._stop.is_set()
            try:
                if rec is None:
                    rec = open_recording(self.local)
                else:
                    rec.refresh()
                if writer is None:
                    writer = ShiftWriter(self.url, rec.meta, password=self._password, created=rec.created,
                                         flush_interval_s=3600.0, resume=True)
                    on_server = set(writer.annotations())
                    if self.status != "connected":
                        self._set("connected", f"recording to {writer.location.url}")
                    backoff = 1.0
                cols = rec.columns()
                notes = [a for a in rec.annotations() if a not in on_server]
                if len(cols) > writer.seq or notes:
                    writer.extend_rows(rows_of(cols, writer.seq, len(cols)))
                    for a in notes:
                        writer.annotate(a.t, a.label, a.entity, a.kind)
                    writer.flush()
                    on_server.update(notes)
                self.uploaded = writer.seq
                if final:
                    writer.close(complete=rec.complete)
                    self._set("stopped", f"{self.uploaded} events on the server")
                    break
            except (HistoryError, RecordingError, OSError) as exc:
                if writer is not None:
                    try:
                        writer._conn.close()
                    except Exception:  # noqa: BLE001 - the connection is already broken
                        pass
                    writer = None
                if self.status != "reconnecting":
                    self.outages += 1
                self._set("reconnecting", f"{exc}; retrying in {backoff:.0f} s (the local recording keeps everything)")
                if final:
                    self._set("stopped", f"server unreachable at stop: run 'history sync {self.local}' later")
                    break
                if self._stop.wait(backoff):
                    continue
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                continue
            self._stop.wait(self.interval_s)
        if rec is not None:
            rec.close()

    def _set(self, status: str, message: str) -> None:
        if (status, message) != (self.status, self.message):
            log.info("history mirror %s: %s", status, message)
        self.status, self.message = status, message
