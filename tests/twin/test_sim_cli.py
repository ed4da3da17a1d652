"""``simulate`` sub-command: recording written with a useful header, JSON figures, clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import main as entry
from twin.recording import open_recording

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "assets" / "workshops" / "machining13.toml"
FT06 = ROOT / "assets" / "workshops" / "ft06.txt"
BREAKDOWN = ROOT / "assets" / "scenarios" / "lathe_breakdown.toml"


def cli(*argv: str | Path) -> int:
    return entry.main([str(a) for a in argv])


def test_simulate_writes_a_recording_and_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "shift.twinlog"
    rc = cli("simulate", "--workshop", SHOP, "--scenario", BREAKDOWN, "--hours", "4",
             "--seed", "3", "--rule", "spt", "--out", out, "--json")
    assert rc == 0
    figures = json.loads(capsys.readouterr().out)
    assert {"events", "completed_orders", "makespan_s", "utilization", "sim_seconds",
            "wall_seconds"} <= set(figures)
    assert figures["sim_seconds"] == 4 * 3600
    assert figures["makespan_s"] is None
    assert set(figures["utilization"]) == {f"S{i:02d}" for i in range(1, 14)}
    rec = open_recording(out)
    meta = rec.meta
    assert meta["workshop"] == "machining13"
    assert meta["workshop_path"] == str(SHOP.resolve())
    assert len(meta["source_hash"]) == 64
    assert meta["stations"] == [f"S{i:02d}" for i in range(1, 14)]
    assert (meta["seed"], meta["rule"]) == (3, "spt")
    assert meta["scenario"] == str(BREAKDOWN.resolve())
    events = list(rec.events(0.0, 4 * 3600 + 1))
    assert len(events) == figures["events"]
    # the scenario's breakdown (S02 at 3 h) is in the recording
    assert rec.state_at(3 * 3600 + 60).entities["S02"].state == "down"


def test_job_shop_run_reports_its_makespan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("simulate", "--workshop", FT06, "--out", tmp_path / "ft06.twinlog", "--json") == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["completed_orders"] == 6
    assert figures["makespan_s"] == figures["sim_seconds"] >= 55


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--workshop", "missing.toml"], "missing.toml: cannot read workshop file"),
        (["--workshop", SHOP, "--hours", "-1"], "--hours must be a positive number"),
        (["--workshop", SHOP, "--scenario", FT06], "invalid TOML"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str | Path], expected: str) -> None:
    rc = cli("simulate", *args, "--out", tmp_path / "x.twinlog")
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("dmw-twin simulate: ") and expected in err
    assert err.count("\n") == 1


def test_unwritable_output_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli("simulate", "--workshop", FT06, "--out", tmp_path / "no" / "such" / "dir.twinlog")
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("dmw-twin simulate: ") and "dir.twinlog: cannot create (No such file or directory)" in err


def test_usage_errors_name_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli("simulate", "--workshop", SHOP, "--rule", "random")
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("dmw-twin simulate: argument --rule: invalid choice: 'random'")
