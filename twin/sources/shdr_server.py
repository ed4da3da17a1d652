"""Replay SHDR logs as an MTConnect adapter would send them: a TCP server (port 7878 by
convention) that sends every connecting client the lines of the logs in order, paced by
their timestamps x ``speed``, and answers the heartbeat ``* PING`` with ``* PONG <ms>``.

    server = ShdrReplayServer(["Mazak01-20181217-20181218.txt.gz"], host="127.0.0.1",
                              port=7878, speed=60.0)
    server.start(); ...; server.stop()

``serve --shdr 127.0.0.1:7878 --replay FILE… [--speed 60]`` runs it (:func:`serve_replay`).
Lines older than the newest timestamp sent so far (a log's days-old start, a late line) go
out at once; ``speed`` 0 sends as fast as the client reads. The logs are one machine's
(an adapter serves one device); each client gets the whole replay from the start.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from twin.mtconnect.importer import lines_of
from twin.mtconnect.shdr import ShdrError, parse_timestamp

#: Heartbeat period announced in ``* PONG <ms>`` (the client's timeout is twice that).
PONG_MS = 10_000


class ShdrReplayServer:
    """A TCP SHDR adapter replaying log files (see the module docstring).

    Args:
        files: SHDR logs (plain or gzip) of one machine, replayed in the order given.
        host, port: where to listen (port 0 = a free port; see :attr:`port`).
        speed: log seconds per wall second (0 = no pacing).
    """

    def __init__(self, files: Sequence[str | Path], host: str = "127.0.0.1", port: int = 7878,
                 speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.files = [Path(f) for f in files]
        for f in self.files:
            if not f.is_file():
                raise FileNotFoundError(f"{f}: no such file")
        self.speed = float(speed)
        self._sock = socket.create_server((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.clients_served = 0
        #: set when a client has been sent every line
        self.done = threading.Event()

    def start(self) -> None:
        t = threading.Thread(target=self._accept, name=f"shdr-replay:{self.port}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        try:
            self._sock.close()
        except OSError:
            pass
        for t in self._threads:
            t.join(timeout)

    def __enter__(self) -> ShdrReplayServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------
    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                 name=f"shdr-replay-client:{self.port}")
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        self.clients_served += 1
        lock = threading.Lock()
        reader = threading.Thread(target=self._answer_pings, args=(conn, lock), daemon=True)
        reader.start()
        try:
            self._send_all(conn, lock)
            self.done.set()
            while not self._stop.wait(0.2) and reader.is_alive():
                pass
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _send_all(self, conn: socket.socket, lock: threading.Lock) -> None:
        wall0 = time.monotonic()
        log0: float | None = None
        newest = -float("inf")
        buf: list[str] = []
        for f in self.files:
            for line in lines_of(f):
                if self._stop.is_set():
                    return
                text = line.rstrip("\r\n")
                if self.speed > 0:
                    try:
                        ts = parse_timestamp(text.split("|", 1)[0])
                    except ShdrError:
                        ts = None
                    if ts is not None and ts > newest:
                        newest = ts
                        if log0 is None:
                            log0 = ts
                        due = wall0 + (ts - log0) / self.speed
                        wait = due - time.monotonic()
                        if wait > 0:
                            self._flush(conn, lock, buf)
                            if self._stop.wait(wait):
                                return
                buf.append(text + "\n")
                if len(buf) >= 512:
                    self._flush(conn, lock, buf)
        self._flush(conn, lock, buf)

    @staticmethod
    def _flush(conn: socket.socket, lock: threading.Lock, buf: list[str]) -> None:
        if buf:
            with lock:
                conn.sendall("".join(buf).encode("utf-8"))
            buf.clear()

    def _answer_pings(self, conn: socket.socket, lock: threading.Lock) -> None:
        pending = b""
        conn.settimeout(0.5)
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip().startswith(b"* PING"):
                    with lock:
                        conn.sendall(f"* PONG {PONG_MS}\n".encode())


def parse_address(text: str, default_port: int = 7878) -> tuple[str, int]:
    """``host:port`` (or ``host``) → (host, port); ValueError with the reason."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: port must be a number 0..65535")
    return host or "127.0.0.1", int(port)


def serve_replay(address: str, files: Sequence[str | Path], speed: float = 1.0,
                 until: threading.Event | None = None) -> None:
    """Run a replay adapter on ``address`` (``host:port``) until ``until`` is set (or Ctrl+C)."""
    host, port = parse_address(address)
    server = ShdrReplayServer(files, host, port, speed)
    print(f"SHDR adapter replaying {len(server.files)} log(s) on {server.host}:{server.port} "
          f"at {speed:g}x (shdr://{server.host}:{server.port}/<device>)", flush=True)
    server.start()
    stop = until or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
