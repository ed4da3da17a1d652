"""``record``: any source headless into a recording; stops cleanly on SIGTERM / duration."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from main import main
from twin.recording import open_recording

ROOT = Path(__file__).resolve().parents[2]


def record(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "record", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_record_for_a_duration_writes_a_complete_recording_with_status_notes(
        tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "sim.twinlog"
    assert main(["record", "sim://machining13?speed=1000&warmup_min=5", "--out", str(out),
                 "--duration", "2s"]) == 0
    stdout = capsys.readouterr().out
    assert "connected: simulated shop machining13 running" in stdout
    rec = open_recording(out)
    assert rec.complete and rec.event_count > 100
    assert f"stopped (2 s recorded): {rec.event_count} events" in stdout
    assert rec.time_range[1] >= 300.0  # the warm-up at least
    assert [a.label.split(":")[0] for a in rec.annotations()] == ["connecting", "connected",
                                                                  "stopped"]
    assert rec.meta["source"].startswith("sim://machining13") and rec.meta["workshop"] == "machining13"


def test_sigterm_stops_cleanly_with_the_file_closed(tmp_path: Path) -> None:
    out = tmp_path / "term.twinlog"
    p = record("sim://machining13?speed=100", "--out", str(out))
    assert p.stdout is not None
    deadline = time.monotonic() + 60
    while "connected" not in p.stdout.readline():
        assert time.monotonic() < deadline and p.poll() is None
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    rest, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    assert "stopped (SIGTERM)" in rest
    rec = open_recording(out)
    assert rec.complete and rec.warnings == []
    assert rec.annotations()[-1].label.startswith("stopped")


def test_bad_source_and_existing_file_are_one_line_errors(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["record", "sim://nowhere", "--out", str(tmp_path / "x.twinlog")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("dmw-twin record: source 'sim://nowhere'") and "Traceback" not in stderr
    assert not (tmp_path / "x.twinlog").exists()
    existing = tmp_path / "keep.twinlog"
    existing.write_bytes(b"precious")
    assert main(["record", "sim://machining13", "--out", str(existing), "--duration", "1s"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"precious"
