"""Plant history on a real PostgreSQL server (a throw-away cluster started by the tests)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest

from twin.history.server import LocalCluster
from twin.history.store import HistoryError, HistoryRecording, ShiftWriter, connect, list_shifts
from twin.history.transfer import export_shift, import_twinlog, sync_twinlog
from twin.recording import RecordingWriter, codec, open_recording

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="module")
def cluster(pg_cluster: LocalCluster) -> LocalCluster:
    return pg_cluster


@pytest.fixture(scope="module")
def shift_file(tmp_path_factory) -> Path:
    """A real 2 h simulated shift of machining13 with a breakdown annotation."""
    from twin.simulator import Simulator
    from twin.workshop import load_workshop

    out = tmp_path_factory.mktemp("hist") / "m13.twinlog"
    ws = load_workshop(ROOT / "assets" / "workshops" / "machining13.toml")
    sim = Simulator(ws, None, seed=3)
    with RecordingWriter(out, {"workshop": ws.name, "source": "sim://machining13"}) as w:
        for e in sim.step_until(2 * 3600.0):
            w.append(e)
        w.annotate(1800.0, "S04 down", "S04", "breakdown")
        w.annotate(3600.0, "hand-written note")
    return out


def _url(cluster: LocalCluster, line: str = "", shift: str = "") -> str:
    q = "&".join(f"{k}={v}" for k, v in (("line", line), ("shift", shift)) if v)
    return cluster.url + (f"?{q}" if q else "")


def _same_columns(a, b) -> None:
    assert len(a) == len(b)
    for name, typ in codec.FORMAT_COLUMNS:
        x, y = getattr(a, name), getattr(b, name)
        if typ == "s":
            assert a.decode(x).tolist() == b.decode(y).tolist(), name
        else:
            assert np.array_equal(x, y, equal_nan=True), name


def test_reader_returns_what_the_twinlog_returns(cluster, shift_file) -> None:
    url, n = import_twinlog(shift_file, _url(cluster), line="m13", shift="day1", password=cluster.password)
    local = open_recording(shift_file)
    assert n == local.event_count > 5000  # several keyframes' worth
    with HistoryRecording(url, password=cluster.password) as rec:
        assert rec.event_count == local.event_count
        assert rec.time_range == local.time_range
        assert rec.meta["workshop"] == "machining13"
        assert rec.complete
        assert rec.entities == local.entities
        for t in (0.0, 1.0, 600.5, 1800.0, 4321.7, 7200.0, 1e9):
            assert rec.state_at(t).entities == local.state_at(t).entities, t
        assert rec.events(1000.0, 1100.0) == local.events(1000.0, 1100.0)
        assert rec.events(0, 7200, entity="S04") == local.events(0, 7200, entity="S04")
        assert rec.events(0, 7200, kind="agv")[:50] == local.events(0, 7200, kind="agv")[:50]
        _same_columns(rec.columns(), local.columns())
        _same_columns(rec.columns(3000.0, 3600.0), local.columns(3000.0, 3600.0))
        assert rec.annotations() == local.annotations()
    local.close()


def test_catalogue_lists_the_shift_and_export_round_trips(cluster, shift_file, tmp_path) -> None:
    url, _ = import_twinlog(shift_file, _url(cluster), line="m13", shift="day2", password=cluster.password)
    with connect(cluster.url, cluster.password) as conn:
        shifts = {(s.line, s.name): s for s in list_shifts(conn)}
    s = shifts[("m13", "day2")]
    local = open_recording(shift_file)
    assert s.event_count == local.event_count and s.annotations == 2 and s.complete
    assert (s.t_first, s.t_last) == local.time_range
    out = tmp_path / "back.twinlog"
    assert export_shift(url, out, password=cluster.password) == local.event_count
    back = open_recording(out)
    _same_columns(back.columns(), local.columns())
    assert back.annotations() == local.annotations()


def test_a_second_import_of_the_same_shift_is_refused(cluster, shift_file) -> None:
    import_twinlog(shift_file, _url(cluster), line="m13", shift="dup", password=cluster.password)
    with pytest.raises(HistoryError, match="already exists"):
        import_twinlog(shift_file, _url(cluster), line="m13", shift="dup", password=cluster.password)


def test_wrong_password_and_unreachable_server_say_so(cluster) -> None:
    with pytest.raises(HistoryError, match="wrong user name or password"):
        connect(cluster.url, "not-the-password")
    with pytest.raises(HistoryError, match="cannot connect"):
        connect("postgresql://dmw@127.0.0.1:1/postgres", "x", connect_timeout=1)
    with pytest.raises(HistoryError, match="do not put the password"):
        connect("postgresql://dmw:secret@127.0.0.1:1/postgres")
    with pytest.raises(HistoryError, match="no shift"):
        HistoryRecording(_url(cluster, "m13", "nope"), password=cluster.password)


def test_live_writer_is_followed_from_a_second_connection(cluster) -> None:
    from twin.events import Event

    url = _url(cluster, "line2", "live")
    w = ShiftWriter(url, {"workshop": "machining13"}, password=cluster.password, flush_interval_s=0.0)
    for i in range(10):
        w.append(Event(float(i), "S01", "station", "processing" if i % 2 else "idle"))
    w.flush()
    reader = HistoryRecording(url, password=cluster.password)
    assert reader.event_count == 10 and not reader.complete
    for i in range(10, 25):
        w.append(Event(float(i), "S01", "station", "idle"))
    w.flush()
    assert reader.refresh() == 15
    assert reader.state_at(24.0).entities["S01"].t == 24.0
    w.close()
    reader.refresh()
    assert reader.complete
    reader.close()


def test_read_only_role_cannot_record(cluster, shift_file) -> None:
    from twin.history.schema import create_roles

    with connect(cluster.url, cluster.password) as conn:
        create_roles(conn)
        conn.execute("DROP ROLE IF EXISTS alice")
        conn.execute("CREATE ROLE alice LOGIN PASSWORD 'alice-pw' IN ROLE dmw_reader")
    alice = cluster.url.replace("dmw@", "alice@")
    import_twinlog(shift_file, _url(cluster), line="m13", shift="ro", password=cluster.password)
    with HistoryRecording(alice + "?line=m13&shift=ro", password="alice-pw") as rec:
        assert rec.event_count > 0  # reading works
    with pytest.raises(HistoryError, match="permission denied"):
        import_twinlog(shift_file, alice, line="m13", shift="by-alice", password="alice-pw")


def test_writer_killed_mid_shift_loses_at_most_its_last_second(cluster, tmp_path) -> None:
    """A real process records into the server and is SIGKILLed; what it had committed a
    second before stays, and its local .twinlog fills in the rest afterwards."""
    local = tmp_path / "shift.twinlog"
    script = f"""
import sys, time
sys.path.insert(0, {str(ROOT)!r})
from twin.events import Event
from twin.history.store import ShiftWriter
from twin.recording import RecordingWriter
w = ShiftWriter({_url(cluster, 'kill', 's1')!r}, {{'workshop': 'x'}}, password={cluster.password!r},
                flush_interval_s=0.2)
loc = RecordingWriter({str(local)!r}, {{'workshop': 'x'}}, flush_interval_s=0.2)
i = 0
while True:
    e = Event(i * 0.1, 'S01', 'station', 'idle' if i % 2 else 'processing')
    w.append(e); loc.append(e)
    i += 1
    if i % 50 == 0:
        print(i, flush=True)
    time.sleep(0.002)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    written = 0
    try:
        for _ in range(20):  # ~1000 events written
            written = int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()
    local_rec = open_recording(local)
    url = _url(cluster, "kill", "s1")
    with HistoryRecording(url, password=cluster.password) as rec:
        server_n = rec.event_count
        assert not rec.complete
    # the writer committed every 0.2 s while appending ~400 events/s: at most ~1 s is missing
    assert server_n >= written - 400, (server_n, written)
    # the local file (flushed on its own timer) fills in whatever the server lacks
    added = sync_twinlog(local, url, password=cluster.password)
    assert added == max(0, local_rec.event_count - server_n)
    with HistoryRecording(url, password=cluster.password) as rec:
        assert rec.event_count == max(server_n, local_rec.event_count)  # no duplicates
        n = min(rec.event_count, local_rec.event_count)
        _same_columns(rec.columns(0, local_rec.events()[n - 1].t), local_rec.columns())
    assert sync_twinlog(local, url, password=cluster.password) == 0


def test_outage_during_a_live_session_is_filled_in_afterwards(cluster, tmp_path) -> None:
    from twin.events import Event

    local = tmp_path / "outage.twinlog"
    url = _url(cluster, "outage", "s1")
    loc = RecordingWriter(local, {"workshop": "x"})
    w = ShiftWriter(url, {"workshop": "x"}, password=cluster.password, flush_interval_s=0.0)
    for i in range(100):
        e = Event(float(i), "S01", "station", "idle")
        loc.append(e)
        w.append(e)
    w.flush()
    cluster.kill()
    failures = 0
    try:
        for i in range(100, 200):
            e = Event(float(i), "S01", "station", "idle")
            loc.append(e)
            try:
                w.append(e)
            except HistoryError as exc:
                failures += 1
                assert "writing events" in str(exc)
    finally:
        cluster.restart()
    assert failures > 0
    # the session went on recording locally while the server was away
    for i in range(200, 300):
        loc.append(Event(float(i), "S01", "station", "idle"))
    loc.close()
    assert sync_twinlog(local, url, password=cluster.password) == 200
    with HistoryRecording(url, password=cluster.password) as rec:
        assert rec.event_count == 300
        assert [e.t for e in rec.events(95, 105)] == [float(t) for t in range(95, 106)]


def test_mirror_follows_a_growing_recording_through_an_outage(cluster, tmp_path) -> None:
    """A live session records locally; the mirror uploads as it grows, rides out a server
    outage, and leaves the server with exactly the local recording."""
    import time

    from twin.events import Event
    from twin.history.mirror import HistoryMirror

    local = tmp_path / "live.twinlog"
    url = _url(cluster, "mirror", "s1")
    loc = RecordingWriter(local, {"workshop": "x"}, flush_interval_s=0.1)
    mirror = HistoryMirror(local, url, password=cluster.password, interval_s=0.1)

    def feed(a: int, b: int) -> None:
        for i in range(a, b):
            loc.append(Event(float(i), f"S{i % 3}", "station", "idle" if i % 2 else "processing"))
        loc.flush()

    def wait_for(pred, timeout=15.0) -> None:
        end = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < end, (mirror.status, mirror.message)
            time.sleep(0.05)

    feed(0, 100)
    loc.annotate(5.0, "before the outage", kind="note")
    mirror.start()
    wait_for(lambda: mirror.uploaded == 100 and mirror.status == "connected")
    cluster.kill()
    feed(100, 200)
    wait_for(lambda: mirror.status == "reconnecting")
    assert "local recording keeps everything" in mirror.message
    cluster.restart()
    feed(200, 300)
    loc.annotate(250.0, "after the outage", "S1", "note")
    wait_for(lambda: mirror.uploaded == 300 and mirror.status == "connected")
    loc.close()
    mirror.stop()
    assert mirror.status == "stopped" and mirror.outages == 1
    back = open_recording(local)
    with HistoryRecording(url, password=cluster.password) as rec:
        assert rec.event_count == 300 and rec.complete
        _same_columns(rec.columns(), back.columns())
        assert rec.annotations() == back.annotations()


def test_history_cli_imports_lists_and_exports(cluster, shift_file, tmp_path, monkeypatch, capsys) -> None:
    import main

    monkeypatch.setenv("PGPASSWORD", cluster.password)

    def run(*a: str) -> tuple[int, str, str]:
        rc = main.main(["history", *a])
        out = capsys.readouterr()
        return rc, out.out, out.err

    assert run("setup", cluster.url)[0] == 0
    rc, out, err = run("import", cluster.url, str(shift_file), "--line", "cli", "--shift", "morning")
    assert rc == 0, err
    n = open_recording(shift_file).event_count
    assert f"{n} events" in out
    rc, out, _ = run("list", cluster.url, "--line", "cli")
    assert "morning" in out and f"{n} events" in out and "2 notes" in out
    dest = tmp_path / "morning.twinlog"
    assert run("export", cluster.url + "?line=cli&shift=morning", "--out", str(dest))[0] == 0
    assert open_recording(dest).event_count == n
    rc, _, err = run("export", cluster.url + "?line=cli&shift=evening", "--out", str(dest))
    assert rc == 2
    assert err.strip() == (f"dmw-twin history: {cluster.url}?line=cli&shift=evening: "
                           "no shift 'evening' on line 'cli'")
    monkeypatch.setenv("PGPASSWORD", "wrong")
    rc, _, err = run("list", cluster.url)
    assert rc == 2 and "wrong user name or password" in err


def test_info_and_verify_read_a_shift_from_the_server(cluster, shift_file) -> None:
    """Commands that take a recording take a shift URL unchanged."""
    import os

    url, _ = import_twinlog(shift_file, _url(cluster), line="m13", shift="info", password=cluster.password)
    p = subprocess.run([sys.executable, str(ROOT / "main.py"), "info", url], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "PGPASSWORD": cluster.password})
    assert p.returncode == 0, p.stderr
    assert str(open_recording(shift_file).event_count) in p.stdout.replace(",", "")


def test_record_command_also_records_to_the_plant_history(cluster, tmp_path, monkeypatch, capsys) -> None:
    """`record URL --out F --history H`: the server ends with exactly the local recording."""
    import main

    monkeypatch.setenv("PGPASSWORD", cluster.password)
    out = tmp_path / "rec.twinlog"
    url = _url(cluster, "rec", "live1")
    rc = main.main(["record", "sim://machining13?speed=2000", "--out", str(out), "--duration", "3s",
                    "--history", url])
    said = capsys.readouterr().out
    assert rc == 0, said
    assert "plant history connected" in said and "plant history stopped" in said
    local = open_recording(out)
    assert local.event_count > 100
    with HistoryRecording(url, password=cluster.password) as rec:
        assert rec.event_count == local.event_count and rec.complete
        _same_columns(rec.columns(), local.columns())
        assert rec.annotations() == local.annotations()
        assert "secret" not in str(rec.meta)
