"""The per-station part of the PM: relative processing times, their TA, the per-station trigger."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from twin.evolution.features import Operations, ProgressFrame
from twin.evolution.stations import StationCusum, StationTrigger, station_ta, station_targets
from twin.evolution.trend import LinearTrend

H = 3600.0


def test_station_targets_are_mean_relative_processing_times_per_station() -> None:
    # two stations; S1 runs processes a (usual 100 s) and b (usual 200 s), S2 runs a
    ops = Operations(np.array([0, 0, 1, 0]), np.array(["a", "b", "a", "a"], dtype=object),
                     np.array([100.0, 250.0, 260.0, 700.0]), np.array([110.0, 260.0, 50.0, 90.0]))
    t = np.array([0.0, 300.0, 600.0])
    frame = ProgressFrame(t, np.zeros((3, 1)), np.zeros((3, 2)), 3600.0, 300.0, ["S1", "S2"],
                          t_end=1000.0, ops=ops)
    usual = {(0, "a"): 100.0, (0, "b"): 200.0, (1, "a"): 100.0}
    y = station_targets(frame, usual, horizon_s=300.0)
    # (0, 300]: S1 ends a 110 s "a" (1.1) and a 260 s "b" (1.3) -> 1.2; S2 a 50 s "a" -> 0.5
    assert y[0] == pytest.approx([1.2, 0.5])
    # (300, 600]: nothing ends; (600, 900]: S1's 90 s "a" -> 0.9, S2 nothing
    assert np.isnan(y[1]).all()
    assert y[2, 0] == pytest.approx(0.9) and np.isnan(y[2, 1])
    # TA per station over the judged predictions only (S2 has one, off by as much as its
    # actual 0.5: TA 0)
    ta = station_ta(y, np.ones_like(y))
    assert ta[0] == pytest.approx(1 - (0.2 + 0.1) / (1.2 + 0.9)) and ta[1] == pytest.approx(0.0)
    # a batch needs 2 judged predictions by default (StationPM.min_judged): S2 has no point
    ta2 = station_ta(y, np.ones_like(y), min_judged=2)
    assert ta2[0] == pytest.approx(ta[0]) and np.isnan(ta2[1])


def test_slope_test_with_known_noise_is_a_z_test_and_one_odd_point_is_not_a_trend() -> None:
    t = np.array([0.0, 0.25, 0.5, 0.75]) * H
    ta = np.array([0.95, 0.94, 0.90, 0.86])
    r = LinearTrend(alpha=0.01, sigma=0.02, robust=False).test(t, ta)
    # slope by hand: Sxx = 0.3125 h², Sxy = -0.03875 -> -0.124 /h; se = 0.02 / sqrt(0.3125)
    assert r.slope_per_h == pytest.approx(-0.124)
    assert r.p_decreasing == pytest.approx(stats.norm.cdf(-0.124 / (0.02 / math.sqrt(0.3125))))
    assert r.decreasing and r.fitted_end == pytest.approx(0.866)
    # the same fall judged by the t-test (2 degrees of freedom) is not significant at 1 %
    assert not LinearTrend(alpha=0.01).test(t, ta).decreasing
    # level, then one odd batch: the z-test alone calls it a fall, the robust one does not
    odd = np.array([0.95, 0.95, 0.95, 0.95, 0.95, 0.70])
    t6 = np.arange(6) * 0.25 * H
    assert LinearTrend(0.01, sigma=0.02, robust=False).test(t6, odd).decreasing
    assert not LinearTrend(0.01, sigma=0.02).test(t6, odd).decreasing


def test_station_trigger_is_bonferroni_corrected_and_names_the_station() -> None:
    trig = StationTrigger(["S1", "S2", "S3", "S4"], [0.02, 0.02, math.nan, 0.02], alpha=0.03)
    # S3 had too few batches on the training shifts: not watched; 3 stations share alpha
    assert trig.watched == [0, 1, 3]
    assert trig.triggers[0].detector.alpha == pytest.approx(0.01)
    fired = []
    for k, v in enumerate([0.95, 0.95, 0.95, 0.93, 0.88, 0.82, 0.76]):
        fired += trig.add(k * 900.0, np.array([0.95, v, 0.2, 0.95]))
    assert fired and {e.station for e in fired} == {"S2"}
    assert "S2" in fired[0].label() and "processing-time TA" in fired[0].label()


def test_cusum_sums_standardised_residuals_per_operation_and_one_freak_operation_is_not_a_drift() -> None:
    # S1's residual noise 0.05 (relative time); S2 had too few training operations
    cu = StationCusum(["S1", "S2"], [0.05, math.nan], k=1.0, h=8.0, clip=5.0, cooldown_s=7200.0)
    assert cu.watched == [0]
    # one operation 100 % over the PM (z = 20, clipped to 5): S = 5 - 1 = 4, no trigger
    assert cu.add_ops(300.0, np.array([0]), np.array([200.0]), np.array([1.0])) == []
    assert cu.s_[0] == pytest.approx(4.0)
    # then on time (z = 0): S falls by k per operation, to 0
    for i in range(5):
        assert cu.add_ops(600.0 + 300 * i, np.array([0]), np.array([500.0 + 300 * i]), np.array([0.0])) == []
    assert cu.s_[0] == 0.0
    # operations 10 % over (z = 2, +1 each): the 9th makes S = 9 > 8 and triggers S1
    fired = []
    for i in range(9):
        fired += cu.add_ops(3600.0 + 300 * i, np.array([0, 1]), np.array([3500.0 + 300 * i] * 2),
                            np.array([0.10, 0.9]), np.array([1.0, 1.0]))
    assert [e.station for e in fired] == ["S1"] and fired[0].t == 3600.0 + 300 * 8
    ev = fired[0]
    assert ev.cusum == pytest.approx(9.0) and ev.n_ops == 9 and ev.window_start == 3500.0
    assert ev.excess == pytest.approx(0.10) and ev.ta_last == pytest.approx(1 - 0.1 / 1.1)
    assert "S1" in ev.label() and "+10% over the PM in 9 operations" in ev.label()
    # S restarts, held 2 h: the same wear raises nothing until then
    assert cu.s_[0] == 0.0
    later = []
    for i in range(30):
        later += cu.add_ops(6300.0 + 300 * i, np.array([0]), np.array([6200.0 + 300 * i]), np.array([0.10]))
    assert later and later[0].t >= ev.t + 7200.0
    # a station whose usual times were learnt from 16 operations per process: allowance
    # k + 2 / sqrt(16) = 1.5, so 10 % over (z = 2) adds 0.5 per operation
    few = StationCusum(["S1"], [0.05], [16.0])
    assert few.k[0] == pytest.approx(1.5)
    few.add_ops(300.0, np.array([0, 0]), np.array([100.0, 200.0]), np.array([0.10, 0.10]))
    assert few.s_[0] == pytest.approx(1.0)


# -- on simulated shifts ---------------------------------------------------------------
@pytest.fixture(scope="module")
def shifts(tmp_path_factory, machining13_path):
    from twin.evolution.features import progress_frame
    from twin.evolution.history import degradation, simulate_shift
    from twin.recording import open_recording
    from twin.workshop import load_workshop

    ws = load_workshop(machining13_path)
    d = tmp_path_factory.mktemp("stations")

    def frame(name: str, seed: int, dist: list) -> ProgressFrame:
        return progress_frame(open_recording(simulate_shift(ws, d / f"{name}.twinlog", hours=8, seed=seed,
                                                            disturbances=dist)))

    return {"train": [frame("n1", 21, []), frame("n2", 22, [])],
            "drift": frame("drift", 23, degradation(["S13"], 0.5, 3.0)),
            "mill": frame("mill", 23, degradation(["S04"], 0.5, 3.0)),
            "control": frame("control", 23, []), "dir": d}


@pytest.fixture(scope="module")
def pms(shifts):
    from twin.evolution.model import ProgressLSTM, training_set
    from twin.evolution.stations import StationPM

    pm = ProgressLSTM(hidden=8, epochs=10, seed=1).fit(*training_set(shifts["train"], 12))
    return pm, StationPM(epochs=10).fit(shifts["train"])


def test_per_station_trigger_fires_on_the_worn_station_soon_and_not_on_a_control(shifts, pms) -> None:
    from twin.evolution.live import EvolutionMonitor, replay

    pm, spm = pms
    assert spm.process_s_[(spm.stations_.index("S13"), "inspect_housing")] == pytest.approx(240, rel=0.05)
    notes: list[tuple[float, str, str]] = []
    mon = replay(shifts["drift"], EvolutionMonitor(pm, policy="none", station_pm=spm,
                                                   annotate=lambda t, label, e, kind: notes.append((t, label, kind))))
    st_trig = [e for e in mon.state.triggers if e.station]
    assert st_trig, "S13 wearing at +50 %/h must trigger its station"
    first = st_trig[0]
    assert first.station == "S13"
    assert 3 * H < first.t <= 4 * H  # within 1 h of the onset (3 h)
    # the trigger is in the annotations, naming the station; the station is re-based
    assert any(kind == "trigger" and "S13" in label for _t, label, kind in notes)
    j = spm.stations_.index("S13")
    assert mon.station_pm.process_s_[(j, "inspect_housing")] > 1.1 * spm.process_s_[(j, "inspect_housing")]
    # the CUSUM's evidence: S13's operations since its sum left 0, ≥ 10 % over the PM
    assert first.cusum > 8.0 and first.excess > 0.1 and first.window_start >= 3 * H - 300
    # per-station TA points (the chart's) every 15 min, S13's ≥ 0.9 before the onset
    s13 = [(p.t, p.ta[j]) for p in mon.state.station_ta]
    assert s13[1][0] - s13[0][0] == 900.0
    assert np.nanmean([v for t, v in s13 if t <= 3 * H]) > 0.9
    ctl = replay(shifts["control"], EvolutionMonitor(pm, policy="none", station_pm=spm))
    assert [e for e in ctl.state.triggers if e.station] == []
    assert len(ctl.state.station_ta) >= 28


def test_a_worn_milling_centre_is_watched_triggered_and_named(shifts, pms) -> None:
    # a milling centre finishes 2-4 operations an hour: too few for a TA point per batch,
    # enough for the per-operation CUSUM
    from twin.evolution.live import EvolutionMonitor, replay

    pm, spm = pms
    j = spm.stations_.index("S04")
    assert math.isfinite(spm.op_sd_[j]) and not math.isfinite(spm.ta_sd_[j])
    mon = replay(shifts["mill"], EvolutionMonitor(pm, policy="none", station_pm=spm))
    st_trig = [e for e in mon.state.triggers if e.station]
    assert st_trig and st_trig[0].station == "S04"
    assert 3 * H < st_trig[0].t <= 5 * H


def test_evolve_command_names_the_station_and_lists_its_ta(shifts, tmp_path, capsys) -> None:
    import json

    import main

    d = shifts["dir"]
    code = main.main(["evolve", "--history", str(d / "drift.twinlog"), "--train", str(d / "n1.twinlog"),
                      str(d / "n2.twinlog"), "--epochs", "5", "--json", "--out", str(tmp_path / "pm")])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    first = doc["triggers"][0]
    assert first["station"] == "S13" and 3 * H < first["t"] <= 4 * H
    assert first["cusum"] > 8.0 and first["operations"] >= 3  # the CUSUM's evidence
    # per-station TA every 15 min, by station; the slow stations are watched too
    assert {"S13", "S01", "S04"} <= set(doc["stations_watched"])
    pts = {p["t"]: p["ta"] for p in doc["station_ta"]}
    assert sorted(pts)[:2] == [900.0, 1800.0] and set(pts[900.0]) == set(shifts["drift"].stations)
    assert first["fitted_ta"] < 0.95
    # and the update it started
    assert doc["updates"][0]["t"] == first["t"]


def test_the_live_loop_fits_the_station_part_and_its_trigger_is_annotated(shifts) -> None:
    from twin.evolution.watch import EvolutionSettings, LiveEvolution

    settings = EvolutionSettings(train_h=3.0, epochs=5, hidden=8, min_interval_s=0.0,
                                 evolve_kwargs={"refit_epochs": 2, "new_epochs": 5, "n_new": 1})
    loop = LiveEvolution(shifts["dir"] / "drift.twinlog", shifts["drift"].stations, settings)
    loop.poll(4.5 * H)                   # the shop has run 4.5 h: fit on 3 h, judge the rest
    assert loop.wait(120.0)
    notes, report = loop.poll(4.5 * H)
    assert not loop.error, loop.error
    assert loop.monitor.station_pm is not None and loop.monitor.tick_s == 300.0
    trig = [(t, label) for t, label, _e, kind in notes if kind == "trigger"]
    assert trig and "S13: processing-time TA" in trig[0][1] and 3 * H < trig[0][0] <= 4.5 * H
    assert report.monitor.state.station_ta and report.monitor.state.station_ta[-1].t == 4.5 * H


def test_an_evolved_pm_whose_refit_shares_the_scalers_saves_and_reloads(tmp_path) -> None:
    # a station trigger evolves the PM early, while the current PM still has weight: F*
    # then holds the current PM and its refit clone, which share their scalers
    from twin.evolution.model import ProgressLSTM
    from twin.evolution.store import load_pm, save_pm
    from twin.evolution.update import EvolvedProgressModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3, 2)).astype(np.float32)
    y = np.c_[x[:, -1, 0] * 2 + 5, x[:, -1, 1] + 50]
    current = ProgressLSTM(window=3, hidden=4, epochs=3).fit(x, y)
    refit = current.clone().fit(x, y + 1.0, warm_start=True, epochs=3)
    assert refit.x_mean_ is current.x_mean_
    model = EvolvedProgressModel([current, refit], [0.4, 0.6], ["current", "refit"])
    save_pm(tmp_path / "pm", model, {"stations": []})
    again, _info = load_pm(tmp_path / "pm")
    assert np.allclose(again.predict(x), model.predict(x))
