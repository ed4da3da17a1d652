"""Forecast from a recorded state: bands that hold the truth, late orders, clean errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.twin.cli_support import main
from twin.forecast import Band, ForecastAborted, forecast
from twin.recording import open_recording
from twin.replay import ReplayError
from twin.sim_cli import simulate_to_recording
from twin.workshop import load_workshop

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "assets" / "workshops" / "machining13.toml"
OTHER_SHOP = ROOT / "assets" / "workshops" / "machining8.toml"
V1 = ROOT / "tests" / "fixtures" / "recordings" / "machining13-v1.twinlog"


@pytest.fixture(scope="module")
def workshop():  # type: ignore[no-untyped-def]
    return load_workshop(SHOP)


@pytest.fixture(scope="module")
def physical(tmp_path_factory: pytest.TempPathFactory, workshop) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("phys") / "physical.twinlog"
    simulate_to_recording(workshop, out, hours=4.0, seed=21)
    return out


def completed_by(path: Path, t: float) -> int:
    rec = open_recording(path)
    return sum(1 for e in rec.state_at(t).of_kind("wip") if e.state == "completed")


def test_forecast_band_holds_what_the_physical_shift_really_did(physical: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    fc = forecast(physical, at=2 * 3600, until=4 * 3600, runs=12, workshop=workshop, processes=1)
    assert fc.completed_at_start == completed_by(physical, 2 * 3600) > 10
    assert len(fc.completed_parts) == 12
    assert all(p >= fc.completed_at_start for p in fc.completed_parts)
    assert fc.parts.p10 <= fc.parts.p50 <= fc.parts.p90
    truth = completed_by(physical, 4 * 3600)
    assert fc.parts.p10 - 2 <= truth <= fc.parts.p90 + 2
    assert abs(fc.parts.p50 - truth) <= abs(fc.naive_parts - truth) + 2
    # the bands start at the state and end at the forecast's figures
    assert fc.times[0] == 2 * 3600 and fc.times[-1] == 4 * 3600
    assert fc.completed[0].p50 == fc.completed_at_start
    assert fc.completed[-1].p50 == fc.parts.p50
    # every open order at 2 h is forecast; a late one is late in most runs
    rec_state = open_recording(physical).state_at(2 * 3600)
    open_orders = {e.entity for e in rec_state.of_kind("order") if e.state == "released"}
    assert {o.order for o in fc.orders} == open_orders
    for o in fc.orders:
        assert 0.0 <= o.p_complete <= 1.0
        if math.isfinite(o.completion.p50):
            assert fc.at_s < o.completion.p50 <= fc.until_s
        assert o.late == (o.p_late >= 0.5)
    assert set(fc.utilization) == set(workshop.stations)
    assert all(0.0 <= b.p10 <= b.p90 <= 1.0 for b in fc.utilization.values())


def test_worker_processes_give_the_same_forecast(physical: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    here = forecast(physical, at=3 * 3600, until=4 * 3600, runs=4, workshop=workshop, processes=1)
    seen: list[tuple[int, int]] = []
    there = forecast(physical, at=3 * 3600, until=4 * 3600, runs=4, workshop=workshop,
                     processes=2, progress=lambda done, total: seen.append((done, total)))
    assert there.processes == 2
    assert there.completed_parts == here.completed_parts
    assert [o.completion for o in there.orders] == [o.completion for o in here.orders]
    assert seen[-1] == (4, 4)


def test_an_order_past_its_due_time_is_predicted_late(tmp_path: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    gen = dataclasses.replace(workshop.order_generator, due_h=(0.2, 0.4))  # hopelessly tight
    tight = dataclasses.replace(workshop, order_generator=gen)
    out = tmp_path / "tight.twinlog"
    simulate_to_recording(tight, out, hours=1.0, seed=2)
    fc = forecast(out, at=1800, until=3600, runs=3, workshop=workshop, processes=1)
    overdue = [o for o in fc.orders if o.due_s < 1800]
    assert overdue
    assert all(o.late and o.p_late == 1.0 for o in overdue)
    assert {o.order for o in fc.late_orders} >= {o.order for o in overdue}


def test_forecast_can_be_aborted(physical: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    with pytest.raises(ForecastAborted):
        forecast(physical, at=3 * 3600, until=4 * 3600, runs=10, workshop=workshop, processes=1,
                 progress=lambda d, n: calls.append(d), should_stop=lambda: len(calls) >= 2)
    assert calls == [1, 2]


def test_forecast_cli_prints_json(physical: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["forecast", "--recording", str(physical), "--at", "03:00:00", "--until", "end",
               "--runs", "3", "--workshop", str(SHOP), "--processes", "1", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["at_s"] == 3 * 3600 and d["until_s"] == open_recording(physical).time_range[1]
    assert len(d["completed_parts"]["runs"]) == 3
    assert {"p10", "p50", "p90"} <= set(d["completed_parts"])
    assert isinstance(d["late_orders"], list) and d["orders"]
    assert len(d["bands"]["t"]) == len(d["bands"]["wip"])


@pytest.mark.parametrize("argv, expected", [
    (["--recording", "{phys}", "--at", "05:00:00"], "past the end of the recording"),
    (["--recording", "{phys}", "--at", "01:00:00", "--workshop", str(OTHER_SHOP)],
     "recorded in workshop 'machining13', not in 'machining8'"),
    (["--recording", str(V1), "--at", "00:10:00", "--workshop", str(SHOP)],
     "made before DMW Twin recorded order details"),
    (["--recording", "{phys}", "--at", "01:00:00", "--until", "00:30:00"], "must end after"),
    (["--recording", "{missing}", "--at", "01:00:00"], "missing.twinlog"),
])
def test_forecast_errors_exit_2(argv: list[str], expected: str, physical: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{phys}", str(physical)).replace("{missing}", str(tmp_path / "missing.twinlog"))
            for a in argv]
    rc = main(["forecast", *argv, "--runs", "2", "--processes", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("dmw-twin forecast: ") and expected in err, err


def test_forecast_api_refuses_other_workshops(physical: Path) -> None:
    with pytest.raises(ReplayError, match="not in 'machining8'"):
        forecast(physical, at=3600, runs=1, workshop=load_workshop(OTHER_SHOP))


def test_throughput_band_is_per_quarter_hour_and_adds_up(physical: Path, workshop) -> None:  # type: ignore[no-untyped-def]
    fc = forecast(physical, at=3 * 3600, until=4 * 3600, runs=3, workshop=workshop, processes=1)
    assert fc.throughput_times == [3 * 3600 + 900.0 * k for k in range(5)]
    assert len(fc.throughput) == 4
    # with one run, the rates times 15 min add up to the parts completed after `at`
    one = forecast(physical, at=3 * 3600, until=4 * 3600, runs=1, workshop=workshop, processes=1)
    assert sum(b.p50 * 0.25 for b in one.throughput) == pytest.approx(
        one.completed_parts[0] - one.completed_at_start)



def test_an_order_done_in_half_the_runs_reads_not_by_the_end() -> None:
    """Half the runs complete the order by the horizon: its P50 is "not by the end", not a
    time interpolated far past the horizon (once printed as "P50 138888890:52:43")."""
    until = 4 * 3600.0
    band = Band.of_completions([3.0 * 3600, 3.5 * 3600, math.inf, math.inf], until)
    assert band.p10 == pytest.approx(3.0 * 3600 + 0.3 * 1800)
    assert band.p50 == math.inf and band.p90 == math.inf
    assert Band.of_completions([3600.0, 7200.0, 5400.0], until).p50 == 5400.0

