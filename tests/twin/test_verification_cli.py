"""``verify`` sub-command on real recordings: JSON shape, readable verdict, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import main as entry

from twin.scenario import Disturbance, Scenario
from twin.sim_cli import simulate_to_recording
from twin.verification.data import load_run
from twin.workshop import load_workshop

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "assets" / "workshops" / "machining13.toml"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("verify-cli")
    ws = load_workshop(SHOP)
    slow = Scenario("slow S12", None, [Disturbance(0, "slowdown", "S12", 0.0, factor=2.0)])
    out = {"physical": d / "physical.twinlog", "virtual": d / "virtual.twinlog",
           "ft06": d / "ft06.twinlog"}
    simulate_to_recording(ws, out["physical"], scenario=slow, hours=1.5, seed=5)
    simulate_to_recording(ws, out["virtual"], hours=1.5, seed=6)
    simulate_to_recording(load_workshop(ROOT / "assets" / "workshops" / "ft06.txt"), out["ft06"],
                          hours=1.5, seed=0)
    return out


def main(argv: list[str]) -> int:
    return entry.main(argv)


def test_recording_meta_identifies_the_workshop(recordings: dict[str, Path]) -> None:
    run = load_run(recordings["physical"])
    assert run.workshop == "machining13"
    assert run.source_hash == load_workshop(SHOP).source_hash
    assert len(run.stations) == 13 and run.operations


def test_json_output(recordings: dict[str, Path], tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--physical", str(recordings["physical"]), "--virtual",
                 str(recordings["virtual"]), "--window-min", "10", "--json",
                 "--model-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""  # no progress lines mixed into JSON runs
    doc = json.loads(out)
    assert set(doc) == {"spatial", "temporal", "per_station", "passed", "seconds", "mode",
                        "verdict_rule", "flagged", "explanations", "deviation", "agvs",
                        "family_limit", "levels", "shop"}
    assert set(doc["spatial"]) == {"delta", "threshold", "passed", "per_station", "names",
                                   "sources", "characteristics"}
    assert min(doc["per_station"], key=doc["per_station"].get) == "S12"
    assert any(tmp_path.iterdir())  # nets saved for the next run


def test_readable_output_with_progress(recordings: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", "--physical", str(recordings["physical"]), "--virtual",
            str(recordings["virtual"]), "--window-min", "10", "--model-dir", str(tmp_path)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "training GCN" in err and "training TCN" in err
    lines = out.splitlines()
    assert lines[0].startswith(("PASSED", "FAILED")) and "Δ_SF" in lines[1] and "Δ_TF" in lines[2]
    head = next(i for i, line in enumerate(lines) if line.startswith("stations, least consistent"))
    first_station = lines[head + 1].split()
    assert first_station[0] == "S12" and "cycle_ratio" in lines[head + 1]
    assert "<- flagged" in lines[head + 1]
    # above the table, the flagged station explained in shop words (S12 is 2x slower)
    assert any(line.strip().startswith("S12: cycle time in the model") for line in lines[:head])
    # second run reuses the trained nets: no training progress
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "training" not in err and "reused trained nets" in out.splitlines()[0]


@pytest.mark.parametrize(
    ("which", "extra", "message"),
    [
        ("ft06", [], "different workshops"),
        ("missing", [], "no such virtual recording"),
        ("virtual", ["--window-min", "60"], "needs at least 3 windows of 60 min"),
        ("virtual", ["--window-min", "-5"], "--window-min must be a positive number"),
    ],
)
def test_errors_are_one_clear_line(recordings: dict[str, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str], which: str,
                                   extra: list[str], message: str) -> None:
    virtual = recordings.get(which, tmp_path / "missing.twinlog")
    code = main(["verify", "--physical", str(recordings["physical"]), "--virtual", str(virtual),
                 "--no-cache", "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("dmw-twin verify: ") and message in err and err.count("\n") == 1


def test_corrupt_recording_is_named(recordings: dict[str, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.twinlog"
    bad.write_bytes(b"not a recording at all")
    code = main(["verify", "--physical", str(bad), "--virtual", str(recordings["virtual"]),
                 "--no-cache"])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith(f"dmw-twin verify: {bad}") and err.count("\n") == 1


def test_edited_model_of_the_same_shop_is_compared_with_a_note(
    recordings: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the DT model's workshop file with one cycle time edited: another file hash, same stations
    edited = tmp_path / "machining13.toml"
    edited.write_text(SHOP.read_text().replace("wash = 150", "wash = 160"))
    ws = load_workshop(edited)
    assert ws.source_hash != load_workshop(SHOP).source_hash
    virtual = tmp_path / "edited.twinlog"
    simulate_to_recording(ws, virtual, hours=1.5, seed=6)
    code = main(["verify", "--physical", str(recordings["physical"]), "--virtual", str(virtual),
                 "--window-min", "10", "--no-cache"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "note: the recordings come from different versions of the workshop file" in out
