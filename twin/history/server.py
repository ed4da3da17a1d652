"""A throw-away PostgreSQL cluster on a loopback port: for tests, benchmarks and demos.

``initdb`` into a temporary folder, ``postgres`` on a free 127.0.0.1 port, stopped and
deleted by :meth:`LocalCluster.stop`. PostgreSQL refuses to run as root, so when this
process is root the cluster is created and run as an unprivileged user (``nobody``).
Nothing here is used by the app at run time: a plant's history server is the plant's own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: Where Debian puts the server binaries (``initdb`` is not on PATH there).
_PG_BIN_GLOBS = ("/usr/lib/postgresql/*/bin",)


class ClusterError(RuntimeError):
    """The throw-away cluster could not be created or started; says why."""


def pg_bin(name: str) -> str:
    """Path of a PostgreSQL server program (``initdb``, ``postgres``, ``pg_ctl``)."""
    found = shutil.which(name)
    if found:
        return found
    import glob

    for pattern in _PG_BIN_GLOBS:
        for d in sorted(glob.glob(pattern), reverse=True):
            p = Path(d) / name
            if p.is_file():
                return str(p)
    raise ClusterError(f"PostgreSQL program {name!r} not found (install the Debian package 'postgresql')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """A private PostgreSQL server: ``start()``, use :attr:`url`, ``stop()``.

    The superuser is ``dmw`` with ``password`` (scram-sha-256 over TCP), so tests exercise
    the same password authentication a plant server uses.
    """

    def __init__(self, password: str = "dmw-test-secret") -> None:
        self.password = password
        self.port = 0
        self.dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: dict[str, object] = {}

    @property
    def url(self) -> str:
        """Superuser connection URL without the password (give ``password=`` separately)."""
        return f"postgresql://dmw@127.0.0.1:{self.port}/postgres"

    def _popen(self, args: list[str], **kw: object) -> subprocess.Popen[bytes]:
        """Start a server program directly (no wrapper), as the unprivileged user when root,
        so that signals reach postgres itself."""
        return subprocess.Popen(args, **self._user, **kw)  # type: ignore[call-overload]

    def start(self, timeout: float = 30.0) -> LocalCluster:
        self.dir = Path(tempfile.mkdtemp(prefix="dmw-pg-"))
        data = self.dir / "data"
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:  # PostgreSQL refuses root: run it as 'nobody'
            import pwd

            nobody = pwd.getpwnam("nobody")
            self._user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": [],
                          "env": {**os.environ, "HOME": str(self.dir)}}
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            os.chown(pwfile, nobody.pw_uid, nobody.pw_gid)
            os.chmod(self.dir, 0o700)
        init = self._popen([pg_bin("initdb"), "-D", str(data), "-U", "dmw", "--pwfile", str(pwfile),
                            "-A", "scram-sha-256", "-E", "UTF8", "--no-locale"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = init.communicate()
        if init.returncode != 0:
            raise ClusterError(f"initdb failed: {out.decode(errors='replace').strip()[-800:]}")
        self.port = free_port()
        log = open(self.dir / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
        self._proc = self._popen(self._server_args(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ClusterError(f"postgres exited: {(self.dir / 'server.log').read_text()[-800:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                if self._ready():
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ClusterError(f"postgres did not accept connections within {timeout:.0f} s")

    def _server_args(self) -> list[str]:
        assert self.dir is not None
        return [pg_bin("postgres"), "-D", str(self.dir / "data"), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                "-c", "fsync=off", "-c", "max_connections=50", "-c", "shared_buffers=64MB"]

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, password=self.password, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def kill(self) -> None:
        """Stop the server at once (an outage), keeping its data for :meth:`restart`."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)  # "fast" shutdown: ends client sessions
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def restart(self, timeout: float = 30.0) -> None:
        """Start the server again on the same port and data (after :meth:`kill`)."""
        assert self.dir is not None
        log = open(self.dir / "server.log", "ab")  # noqa: SIM115
        self._proc = self._popen(self._server_args(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready():
                return
            time.sleep(0.1)
        raise ClusterError("postgres did not come back")

    def stop(self) -> None:
        self.kill()
        self._proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
