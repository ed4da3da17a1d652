"""`export` and `info` sub-commands on recordings: CSV columns, summaries, clear errors."""

from __future__ import annotations

import collections
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from twin import recording_cli
from twin.events import Event
from twin.recording import RecordingWriter

ROOT = Path(__file__).resolve().parents[2]

EVENTS = [
    Event(0.0, "O001", "order", "released"),
    Event(0.0, "S01", "station", "idle", x=4.0, y=2.5, heading=90.0),
    Event(0.0, "AGV1", "agv", "idle", x=1.0, y=1.0, heading=0.0),
    Event(1.5, "W0001", "wip", "transporting", agv="AGV1", order="O001"),
    Event(1.5, "AGV1", "agv", "moving", x=1.5, y=1.0, heading=0.0, wip="W0001", energy=0.002),
    Event(2.5, "AGV1", "agv", "moving", x=2.75, y=1.125, heading=5.5, wip="W0001"),
    Event(3.0, "AGV1", "agv", "unloading", x=4.0, y=1.5, heading=90.0, wip="W0001"),
    Event(3.0, "W0001", "wip", "waiting", station="S01", order="O001"),
    Event(4.0, "S01", "station", "setup", x=4.0, y=2.5, heading=90.0, queue=1.0),
    Event(64.0, "S01", "station", "processing", x=4.0, y=2.5, heading=90.0, wip="W0001", process="turning"),
    Event(64.0, "W0001", "wip", "processing", station="S01", order="O001", process="turning"),
    Event(184.25, "S01", "station", "idle", x=4.0, y=2.5, heading=90.0),
    Event(184.25, "W0001", "wip", "completed", order="O001"),
    Event(190.0, "O001", "order", "completed"),
]


@pytest.fixture()
def shift(tmp_path: Path) -> Path:
    path = tmp_path / "shift.twinlog"
    with RecordingWriter(path, meta={"workshop": "machining13"}) as w:
        for e in EVENTS:
            assert w.append(e)
        w.append({"t": 500.0, "entity": "S01", "kind": "station", "state": "exploded"})  # rejected
        w.annotate(64.0, "S01 starts W0001", "S01", "note")
        w.annotate(100.0, "score 0.93", "S01", "score")
    return path


def run(*argv: str) -> int:
    return recording_cli.main(list(argv))


def test_export_writes_one_row_per_event_with_the_documented_columns(shift: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    assert run("export", str(shift), "--csv", str(out)) == 0
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ("t,entity,kind,state,x,y,heading,station,wip,order,process,agv,"
                                    "product,quantity,due")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(EVENTS)
    for row, e in zip(rows, EVENTS):
        for f in ("t", "x", "y", "heading"):
            v = getattr(e, f)
            assert row[f] == ("" if v is None else row[f]) and (v is None or float(row[f]) == v), (f, row)
        for f in ("entity", "kind", "state", "station", "wip", "order", "process", "agv"):
            assert row[f] == getattr(e, f)
    processing = [r for r in rows if r["kind"] == "station" and r["state"] == "processing"]
    assert [(r["entity"], r["wip"], r["process"]) for r in processing] == [("S01", "W0001", "turning")]
    assert rows[0]["x"] == "" and rows[5]["x"] == "2.75" and rows[5]["y"] == "1.125"
    assert f"wrote {len(EVENTS)} events" in capsys.readouterr().err


def test_export_time_window_and_standard_output(shift: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("export", str(shift), "--csv", "-", "--from", "3", "--to", "64") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(float(r["t"]), r["entity"]) for r in rows] == [(e.t, e.entity) for e in EVENTS if 3 <= e.t <= 64]


def test_info_json_counts_entities_events_and_annotations(shift: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("info", str(shift), "--json") == 0
    d = json.loads(capsys.readouterr().out)
    assert d["events"] == len(EVENTS)
    assert d["time_range"] == [0.0, 190.0]
    assert d["entities"] == {"station": 1, "agv": 1, "wip": 1, "order": 1}
    expected: dict[str, dict[str, int]] = {}
    for (k, s), n in collections.Counter((e.kind, e.state) for e in EVENTS).items():
        expected.setdefault(k, {})[s] = n
    assert d["events_by_kind"] == expected
    assert d["annotations"] == 2 and d["annotations_by_kind"] == {"note": 1, "score": 1}
    assert d["rejected_while_writing"] == 1
    assert d["complete"] is True and d["warnings"] == []
    assert d["meta"] == {"workshop": "machining13"}


def test_info_text_names_range_entities_and_states(shift: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("info", str(shift)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == str(shift)
    assert "0.000 .. 190.000 s (0:03:10)" in out
    assert "entities      4: station 1, agv 1, wip 1, order 1" in out
    assert any(line.split() == ["agv", "moving", "2"] for line in out.splitlines())
    assert any(line.split() == ["station", "idle", "2"] for line in out.splitlines())
    assert "annotations   2: note 1, score 1" in out
    assert "warnings      none" in out and "1 rejected while writing" in out


def test_damaged_recording_is_described_and_exported_as_far_as_readable(shift: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = shift.read_bytes()
    cut = tmp_path / "cut.twinlog"
    cut.write_bytes(data[: len(data) - 200])  # inside the last chunks
    assert run("info", str(cut), "--json") == 0
    d = json.loads(capsys.readouterr().out)
    assert d["complete"] is False and len(d["warnings"]) == 1 and str(cut) in d["warnings"][0]
    out = tmp_path / "cut.csv"
    assert run("export", str(cut), "--csv", str(out)) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "damaged/truncated" in err
    assert len(out.read_text().splitlines()) == d["events"] + 1


@pytest.mark.parametrize(("argv", "named"), [
    (("info", "{missing}"), "{missing}: no such file"),
    (("info", "{garbage}"), "{garbage}: not a DMW Twin recording"),
    (("export", "{garbage}", "--csv", "{out}"), "{garbage}: not a DMW Twin recording"),
    (("export", "{shift}", "--csv", "{nodir}"), "{nodir}: cannot write"),
    (("export", "{shift}", "--csv", "{out}", "--from", "100", "--to", "10"), "--from 100 is after --to 10"),
])
def test_errors_are_one_clear_line_and_exit_2(shift: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              argv: tuple[str, ...], named: str) -> None:
    garbage = tmp_path / "notes.twinlog"
    garbage.write_text("this is not a recording\n")
    paths = {"missing": tmp_path / "missing.twinlog", "garbage": garbage, "out": tmp_path / "o.csv",
             "shift": shift, "nodir": tmp_path / "no" / "o.csv"}
    assert run(*(a.format(**paths) for a in argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"dmw-twin {argv[0]}: ")
    assert named.format(**paths) in err
    assert not (tmp_path / "o.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_command_line_error_has_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.twinlog"
    bad.write_bytes(b"\x00" * 64)
    proc = subprocess.run([sys.executable, "-m", "twin.recording_cli", "info", str(bad)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"dmw-twin info: {bad}: not a DMW Twin recording (it does not start with the .twinlog signature)\n"
    assert proc.stdout == ""
