"""``python main.py serve --mqtt …``: mosquitto_sub (not our code) receives the simulated shop
as JSON events, our source reads the Sparkplug profile back, SIGTERM stops it cleanly, and
mistakes (nothing to serve, a wrong password, an unknown workshop) are one line and exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.twin.mosquitto import Broker, need_mosquitto
from tests.twin.test_mqtt_source import Seen, connected
from twin.events import STATES, parse_event
from twin.sources import open_source

ROOT = Path(__file__).resolve().parents[2]
pytestmark = need_mosquitto


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, **(env or {})})


def test_mosquitto_sub_receives_the_served_shop_as_json_events(tmp_path: Path) -> None:
    with Broker(tmp_path / "b") as broker:
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                                "-t", "dmw/#", "-v", "-C", "40"], stdout=subprocess.PIPE,
                               text=True)
        proc = serve("--mqtt", broker.url(), "--workshop", "machining13", "--speed", "600")
        try:
            out, _ = sub.communicate(timeout=120)  # main.py imports torch (verify): slow start
        finally:
            sub.kill()
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "stopped:" in stdout and "connected: publishing to" in stdout
    lines = [ln.split(" ", 1) for ln in out.splitlines()]
    meta = json.loads(next(p for t, p in lines if t == "dmw/meta"))
    assert meta["workshop"] == "machining13" and meta["speed"] == 600
    events = [(t, parse_event(json.loads(p))) for t, p in lines if t != "dmw/meta"]
    assert len(events) >= 30
    for topic, ev in events:
        assert topic == f"dmw/{ev.kind}/{ev.entity}"
        assert ev.state in STATES[ev.kind]
    assert {"S01", "S13"} <= {ev.entity for _, ev in events}  # machining13's first and last
    times = [ev.t for _, ev in events]
    assert times == sorted(times)


def run_serve(*args: str) -> int:
    """``main.py serve …`` in this process (the sources under test run in threads meanwhile)."""
    import main

    return main.main(["serve", *args])


def test_served_sparkplug_is_read_back_by_our_source(tmp_path: Path) -> None:
    with Broker(tmp_path / "b") as broker:
        src = open_source(broker.url("dmw", profile="sparkplug"))
        src.start()
        try:
            Seen().until(src, lambda s: connected(src))
            code = run_serve("--mqtt", broker.url("dmw"), "--profile", "sparkplug",
                             "--speed", "300", "--duration", "2")
            seen = Seen().until(src, lambda s: "machining13" in src.stale, what="NDEATH on stop")
        finally:
            src.stop()
    assert code == 0
    assert not seen.rejected and not seen.gaps
    assert src.meta()["workshop"] == "machining13"
    assert len(seen.events) >= 30
    assert {e.entity for e in seen.events} >= {"S01", "S13"}
    assert src.stale["machining13"] >= {"S01", "S13"}


def test_serve_with_a_password_from_the_environment(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("DMW_PW", "pw-1")
    with Broker(tmp_path / "b", users={"serve": "pw-1"}) as broker:
        src = open_source(broker.url(), username="serve", password="pw-1")
        src.start()
        try:
            code = run_serve("--mqtt", broker.url(), "--user", "serve", "--password-env",
                             "DMW_PW", "--speed", "600", "--duration", "1.5")
            seen = Seen().until(src, lambda s: len(s.events) >= 5)
        finally:
            src.stop()
        assert code == 0 and seen.events[0].t == 0.0
        monkeypatch.setenv("DMW_PW", "wrong")
        capsys.readouterr()
        bad = run_serve("--mqtt", broker.url(), "--user", "serve", "--password-env", "DMW_PW",
                        "--duration", "10")
    err = capsys.readouterr().err
    assert bad == 2
    assert err.strip().startswith("dmw-twin serve: mqtt://127.0.0.1:")
    assert "bad user name or password" in err


@pytest.mark.parametrize("args, message", [
    ((), "nothing to serve"),
    (("--mqtt", "mqtt://127.0.0.1:1/dmw", "--workshop", "nowhere"), "workshop 'nowhere'"),
    (("--mqtt", "ftp://x/dmw"), "scheme must be mqtt or mqtts"),
    (("--mqtt", "mqtt://h/dmw", "--user", "u", "--password-env", "DMW_UNSET_VAR"),
     "--password-env DMW_UNSET_VAR: the variable is not set"),
])
def test_serve_mistakes_are_one_line_and_exit_2(args: tuple[str, ...], message: str,
                                                capsys) -> None:  # noqa: ANN001
    assert run_serve(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmw-twin serve: ") and message in err and "Traceback" not in err


def test_serve_batch_sends_arrays_our_source_reads(tmp_path: Path) -> None:
    with Broker(tmp_path / "b") as broker:
        src = open_source(broker.url())
        src.start()
        try:
            Seen().until(src, lambda s: connected(src))
            assert run_serve("--mqtt", broker.url(), "--batch", "--speed", "600",
                             "--duration", "1.5") == 0
            seen = Seen().until(src, lambda s: len(s.events) >= 30)
        finally:
            src.stop()
    assert not seen.rejected
    assert {e.entity for e in seen.events} >= {"S01", "S13"}
    assert [e.t for e in seen.events] == sorted(e.t for e in seen.events)


def test_serve_over_tls_with_a_password(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("DMW_PW", "tls-pw")
    with Broker(tmp_path / "b", tls=True, users={"cell": "tls-pw"}) as broker:
        ca = str(broker.certs["ca"])
        url = f"mqtts://localhost:{broker.port}/dmw"
        src = open_source(url, ca_file=ca, username="cell", password="tls-pw")
        src.start()
        try:
            Seen().until(src, lambda s: connected(src))
            code = run_serve("--mqtt", url, "--ca", ca, "--user", "cell", "--password-env",
                             "DMW_PW", "--speed", "600", "--duration", "1.5")
            seen = Seen().until(src, lambda s: len(s.events) >= 5)
        finally:
            src.stop()
    assert code == 0 and not seen.rejected
