"""MTConnect live: a replayed adapter log recorded live equals its import; an agent's
sequence gap is recorded, never hidden."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from twin.mtconnect import load_devices
from twin.mtconnect.importer import import_logs, write
from twin.recording import RecordingWriter, open_recording
from twin.sources import SourceState, open_source
from twin.sources.ingest import Ingest
from twin.sources.shdr_server import ShdrReplayServer

ROOT = Path(__file__).resolve().parents[2]
NIST = ROOT / "assets" / "real" / "nist"
MINI = ROOT / "tests" / "fixtures" / "mtconnect" / "Devices-mini.xml"


def _record(src, out: Path, until, timeout: float = 60.0) -> list:
    """Record ``src`` through the ingest pipeline until ``until()`` and the source is quiet."""
    gaps, statuses = [], []
    src.start()
    deadline = time.monotonic() + timeout
    quiet = 0
    with RecordingWriter(out, meta=src.meta()) as w:
        ingest = Ingest(src, w)
        while time.monotonic() < deadline:
            r = ingest.pump()
            gaps += r.gaps
            statuses += r.statuses
            quiet = quiet + 1 if not r.events and until() else 0
            if quiet >= 5:
                break
            time.sleep(0.1)
        src.stop()
        statuses += ingest.pump().statuses
        assert ingest.counters.rejected == 0
    return gaps, statuses


def _rows(path: Path):
    rec = open_recording(path)
    ev = [(round(e.t, 6), e.entity, e.kind, e.state, e.process) for e in rec.events()]
    notes = [(round(a.t, 6), a.label, a.entity, a.kind) for a in rec.annotations()
             if a.kind in ("alarm", "warning")]  # a live recording also notes its statuses
    return ev, notes


def test_shdr_replay_recorded_live_equals_the_import(tmp_path: Path) -> None:
    log = NIST / "Mazak01-20181217-20181218.txt.gz"
    devices = load_devices(NIST / "Devices.xml")
    write(import_logs([log], devices), tmp_path / "import.twinlog")
    with ShdrReplayServer([log], port=0, speed=0) as server:
        src = open_source(f"shdr://127.0.0.1:{server.port}/Mazak01?day=2018-12-17", devices=devices)
        gaps, statuses = _record(src, tmp_path / "live.twinlog", server.done.is_set)
    assert server.clients_served == 1
    assert gaps == []
    assert [s.state for s in statuses][:2] == [SourceState.CONNECTING, SourceState.CONNECTED]
    assert statuses[-1].state == SourceState.STOPPED
    live, imported = _rows(tmp_path / "live.twinlog"), _rows(tmp_path / "import.twinlog")
    assert len(imported[0]) > 100 and len(imported[1]) == 5
    assert live == imported


def test_replay_is_paced_by_the_log_timestamps(tmp_path: Path) -> None:
    log = tmp_path / "M2-20181217.txt"
    log.write_text("2018-12-17T08:00:00Z|execution|READY\n2018-12-17T08:00:30Z|execution|ACTIVE\n")
    with ShdrReplayServer([log], port=0, speed=30.0) as server:  # 30 s of log in ~1 s
        src = open_source(f"shdr://127.0.0.1:{server.port}/M2?day=2018-12-17")
        src.start()
        t_start = time.monotonic()
        seen: list[tuple[float, str]] = []
        while len(seen) < 2 and time.monotonic() - t_start < 20:
            seen += [(time.monotonic() - t_start, e["state"]) for e in src.drain().events]
            time.sleep(0.02)
        src.stop()
    assert [s for _, s in seen] == ["idle", "processing"]
    assert seen[1][0] - seen[0][0] >= 0.8  # not sent at once


# -- an MTConnect agent of our own (stdlib http.server) --------------------------------

_NS = 'xmlns="urn:mtconnect.org:MTConnectStreams:1.3"'


class _Agent:
    """Serves /probe, /current and /sample like an agent, from a list of observations
    (sequence, timestamp, dataItemId, name, value); ``drop_before`` empties its buffer."""

    def __init__(self) -> None:
        self.obs: list[tuple[int, str, str, str, str]] = []
        self.first = 1
        self.lock = threading.Lock()
        self.requests: list[str] = []

    def add(self, ts: str, did: str, name: str, value: str) -> None:
        with self.lock:
            self.obs.append((len(self.obs) + 1, ts, did, name, value))

    def streams(self, start: int, count: int) -> str:
        with self.lock:
            rows = [o for o in self.obs if o[0] >= max(start, self.first)][:count]
            nxt = (rows[-1][0] + 1) if rows else max(start, self.first)
            last = self.obs[-1][0] if self.obs else 0
            body = "".join(
                f'<{"Execution" if n == "execution" else "ControllerMode"} dataItemId="{d}" '
                f'name="{n}" sequence="{s}" timestamp="{ts}">{v}</{"Execution" if n == "execution" else "ControllerMode"}>'
                for s, ts, d, n, v in rows)
        return (f'<?xml version="1.0"?><MTConnectStreams {_NS}><Header instanceId="7" '
                f'firstSequence="{self.first}" lastSequence="{last}" nextSequence="{nxt}" bufferSize="16"/>'
                f'<Streams><DeviceStream name="M2" uuid="m2"><ComponentStream component="Path" '
                f'componentId="p"><Events>{body}</Events></ComponentStream></DeviceStream></Streams>'
                '</MTConnectStreams>')


def _serve(agent: _Agent) -> ThreadingHTTPServer:
    devices_xml = MINI.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            u = urlsplit(self.path)
            agent.requests.append(u.path)
            if u.path.endswith("/probe"):
                body = devices_xml
            elif u.path.endswith("/current"):
                body = agent.streams(1, 10_000).encode()
            elif u.path.endswith("/sample"):
                q = parse_qs(u.query)
                body = agent.streams(int(q["from"][0]), int(q.get("count", ["100"])[0])).encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_agent_sequence_gap_is_recorded(tmp_path: Path) -> None:
    agent = _Agent()
    agent.add("2018-12-17T08:00:00Z", "M2-exec", "execution", "READY")
    httpd = _serve(agent)
    try:
        src = open_source(f"mtconnect://127.0.0.1:{httpd.server_port}/M2?day=2018-12-17&interval=0.1")
        src.start()
        events, gaps = [], []

        def pump(pred, timeout=20.0):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                b = src.drain()
                events.extend(b.events)
                gaps.extend(b.gaps)
                if pred():
                    return
                time.sleep(0.05)

        pump(lambda: len(events) >= 1)
        agent.add("2018-12-17T08:10:00Z", "M2-exec", "execution", "ACTIVE")
        pump(lambda: len(events) >= 2)
        # the source is slower than the shop: 5 observations arrive and leave the agent's
        # buffer before the next poll (first sequence jumps past what we asked for)
        with agent.lock:
            for i in range(5):
                agent.obs.append((len(agent.obs) + 1, f"2018-12-17T08:2{i}:00Z", "M2-exec", "execution",
                                  "READY" if i % 2 else "ACTIVE"))
            agent.first = agent.obs[-1][0] + 1
        agent.add("2018-12-17T09:00:00Z", "M2-exec", "execution", "STOPPED")
        pump(lambda: len(events) >= 3 and gaps)
        src.stop()
    finally:
        httpd.shutdown()
    assert "/M2/probe" in agent.requests and "/M2/current" in agent.requests
    assert [(e["t"] / 3600, e["state"]) for e in events] == [(8.0, "idle"), (8 + 10 / 60, "processing"),
                                                             (9.0, "blocked")]
    assert len(gaps) == 1
    g = gaps[0]
    assert (g.t0, g.t1) == (8 * 3600 + 600, 9 * 3600)
    assert "5 observations lost" in g.reason


def test_serve_command_replays_a_log_as_an_adapter(tmp_path: Path) -> None:
    """`serve --shdr ADDR --replay LOG` is an adapter another process can record from."""
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = NIST / "Mazak03-20181217-20181218.txt.gz"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", "--shdr", f"127.0.0.1:{port}",
                             "--replay", str(log), "--speed", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert "SHDR adapter replaying 1 log(s)" in proc.stdout.readline()
        src = open_source(f"shdr://127.0.0.1:{port}/Mazak03?day=2018-12-17")
        seen: list[int] = []
        src.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(seen) < 50:
            seen.append(len(src.drain().events))
            time.sleep(0.1)
        src.stop()
        assert sum(seen) >= 50  # the adapter's stream became station events
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
