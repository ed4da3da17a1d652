"""MTConnect import: SHDR lines → station states, parts and alarms, with real-log trouble."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from twin.kpis import ShopKpis
from twin.mtconnect import load_devices, parse_line
from twin.mtconnect.importer import import_logs
from twin.mtconnect.shdr import Condition, ShdrError
from twin.recording import open_recording

ROOT = Path(__file__).resolve().parents[2]
NIST = ROOT / "assets" / "real" / "nist"
MINI = ROOT / "tests" / "fixtures" / "mtconnect" / "Devices-mini.xml"
DAY = "2018-12-17T"


def _load_counter():
    spec = importlib.util.spec_from_file_location("real_counts", ROOT / "benchmarks" / "real_counts.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def test_parse_line_values_conditions_and_several_items() -> None:
    t, obs = parse_line(f"{DAY}13:55:11.059Z|execution|ACTIVE|mode|AUTOMATIC")
    assert [(o.item, o.value) for o in obs] == [("execution", "ACTIVE"), ("mode", "AUTOMATIC")]
    t2, obs2 = parse_line(f"{DAY}13:55:11.059123Z|path_system|Fault|149|||TAILSTOCK | BARRIER")
    assert t2 - t == pytest.approx(0.000123, abs=1e-6)  # mixed precision, same instant
    assert obs2[0].value == Condition("Fault", "149", "", "", "TAILSTOCK | BARRIER")
    _, obs3 = parse_line(f"{DAY}13:55:11Z|M1:execution|READY")
    assert (obs3[0].device, obs3[0].item) == ("M1", "execution")
    for bad in ("garbage", f"{DAY}99:00:00Z|execution|READY", f"{DAY}10:00:00Z|execution",
                f"{DAY}10:00:00Z|logic_cond|Sometimes|1||||x"):
        with pytest.raises(ShdrError):
            parse_line(bad, frozenset({"logic_cond"}))


def _write(tmp: Path, name: str, lines: list[str]) -> Path:
    p = tmp / name
    p.write_text("\n".join(lines) + "\n")
    return p


def test_real_log_trouble_is_counted_and_the_states_follow(tmp_path: Path) -> None:
    log = _write(tmp_path, "M1-20181217.txt", [
        "2018-12-12T08:00:00.000000Z|execution|UNAVAILABLE",     # days old: stale
        f"{DAY}08:00:00.000Z|execution|READY",
        f"{DAY}08:00:00.000Z|mode|AUTOMATIC",
        f"{DAY}08:00:00.000Z|program|O100",
        f"{DAY}08:00:00.000Z|PartCountAct|7",
        "this is not shdr",                                      # malformed, line 6
        f"{DAY}08:10:00.000Z|execution|ACTIVE",
        f"{DAY}08:10:00.000Z|execution|ACTIVE",                  # repeated
        f"{DAY}08:40:00.000Z|PartCountAct|9",                    # two parts
        f"{DAY}08:40:00.000Z|execution|FEED_HOLD",
        f"{DAY}08:41:00.000Z|system_cond|Fault|1102|||INTERFERE",
        f"{DAY}08:42:00.000Z|execution|STOPPED",
        f"{DAY}08:45:00.000Z|system_cond|Normal||||",
        f"{DAY}08:45:00.000Z|mode|MANUAL",
        f"{DAY}08:50:00.000Z|execution|READY",
        f"{DAY}08:49:00.000000Z|execution|UNAVAILABLE",          # late (adapter clock): clamped
        f"{DAY}09:00:00.000Z|execution|SPINNING",                # unknown value: malformed, line 17
    ])
    res = import_logs([log], load_devices(MINI))
    s = res.stats
    assert (s.lines, s.malformed, s.repeated, s.stale, s.late) == (17, 2, 1, 1, 1)
    assert [(Path(f).name, n) for f, n, _ in s.malformed_lines] == [("M1-20181217.txt", 6), ("M1-20181217.txt", 17)]
    assert "SPINNING" in s.malformed_lines[1][2]
    h = 3600.0
    got = [(round(e["t"] / h, 4), e["state"], e["process"]) for e in res.events if e["kind"] == "station"]
    assert got == [(0.0, "off", ""), (8.0, "idle", ""), (round(8 + 10 / 60, 4), "processing", "O100"),
                   (round(8 + 40 / 60, 4), "blocked", "O100"), (round(8 + 41 / 60, 4), "down", "O100"),
                   # one line at a time: the fault clears (blocked), then MANUAL at the same instant
                   (8.75, "blocked", "O100"), (8.75, "setup", "O100"), (round(8 + 50 / 60, 4), "idle", ""),
                   (round(8 + 50 / 60, 4), "off", "")]
    parts = [e for e in res.events if e["kind"] == "wip"]
    assert [(p["entity"], p["state"], p["process"]) for p in parts] == [
        ("M1-P00001", "completed", "O100"), ("M1-P00002", "completed", "O100")]
    assert res.notes == [(8 * h + 41 * 60, "M1 Fault 1102: INTERFERE [system_cond]", "M1", "alarm")]
    # KPIs: the fault is downtime, off is not; utilisation is over the switched-on time
    k = ShopKpis()
    from twin.events import parse_event
    k.add(parse_event(e) for e in res.events)
    assert [(d.station, d.end - d.start) for d in k.downtimes()] == [("M1", 240.0)]
    assert k.completed_at(24 * h) == 2


def test_cli_writes_a_recording_and_reports_bad_input(tmp_path: Path, capsys) -> None:
    from main import main

    log = _write(tmp_path, "M2-20181217.txt", [f"{DAY}08:00:00Z|execution|ACTIVE", "bad|line"])
    out = tmp_path / "r.twinlog"
    assert main(["import-mtconnect", str(log), "--devices", str(MINI), "--out", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["malformed"] == 1 and rep["malformed_lines"][0]["line"] == 2
    rec = open_recording(out)
    assert [(e.entity, e.state) for e in rec.events()] == [("M2", "processing")]
    assert rec.meta["t0"] == "2018-12-17T00:00:00+00:00"
    assert main(["import-mtconnect", str(log), "--devices", str(log), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmw-twin import-mtconnect: ") and "not XML" in err


#: Three of the seven shared machine-days (keeps the test short; bench_real checks all seven):
#: one Mazak01 day with two Faults, and two consecutive Mazak03 days (their logs overlap).
NIST_DAYS = ("Mazak01-20181217-20181218", "Mazak03-20181218-20181219", "Mazak03-20181219-20181220")


@pytest.fixture(scope="module")
def nist_import():
    files = [NIST / f"{d}.txt.gz" for d in NIST_DAYS]
    return files, import_logs(files, load_devices(NIST / "Devices.xml"))


def test_nist_counts_match_an_independent_count_of_the_raw_lines(nist_import) -> None:
    files, res = nist_import
    assert res.stats.malformed == 0
    raw = _load_counter().count_machine_days(files)
    k = ShopKpis()
    from twin.events import parse_event
    k.add(parse_event(e) for e in res.events)
    assert sorted(raw) == sorted((f.station, f.day) for f in res.files)
    for (m, day), v in raw.items():
        lo = _day_start(res.t0_epoch, day)
        a, b = k.time_in_state(m, lo + 86400), k.time_in_state(m, lo)
        assert (a["processing"] - b["processing"]) / 3600 == pytest.approx(v["active_h"], abs=1e-6), (m, day)
        assert (a["idle"] - b["idle"]) / 3600 == pytest.approx(v["ready_h"], abs=1e-6), (m, day)
        parts = sum(1 for e in res.events if e["kind"] == "wip" and e["station"] == m
                    and lo <= e["t"] < lo + 86400)
        assert parts == v["parts"]
        assert v["active_h"] > 0.5  # a real day's cutting, not an empty match
    assert res.stats.lines == sum(v["lines"] for v in raw.values())
    assert res.stats.repeated == sum(v["repeated"] for v in raw.values()) > 0
    assert len([n for n in res.notes if n[3] == "alarm"]) == 2  # Mazak01's two Faults that day


def _day_start(t0_epoch: float, day: str) -> float:
    from datetime import datetime, timezone
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp() - t0_epoch


def test_a_machine_that_never_reported_can_be_indexed_for_verification() -> None:
    # the NIST workshop has eight machines, the logs only two: the others have no events
    from twin.events import Event
    from twin.verification.data import index_events

    evs = [Event(t=0.0, entity="Mazak01", kind="station", state="off"),
           Event(t=60.0, entity="Mazak01", kind="station", state="setup", process="795"),
           Event(t=90.0, entity="Mazak01", kind="station", state="processing", process="795")]
    run = index_events(evs, "real", {"stations": ["Mazak01", "Hurco01"]})
    assert run.stations == ("Hurco01", "Mazak01")
    assert run.station_changes["Hurco01"] == []
    assert [(s, round(w)) for s, _, w in run.setups] == [("Mazak01", 30)]
