"""A recorded live session judges, triggers and evolves its PM as the shop runs (no Qt)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from twin.evolution.watch import EvolutionSettings
from twin.recording import open_recording
from twin.session import Session
from twin.sources.sim import SimSource, sim_url
from twin.workshop import load_workshop

H = 3600.0


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_until(cond, timeout: float = 60.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.005)


def small_settings() -> EvolutionSettings:
    # a short horizon and small nets: the loop of a 24 h shift in a few simulated hours
    return EvolutionSettings(train_h=1.0, horizon_s=900.0, step_s=60.0, batch_s=600.0,
                             recent_s=1800.0, epochs=40, hidden=8,
                             trigger={"cooldown_s": 1800.0}, min_interval_s=0.5,
                             evolve_kwargs={"refit_epochs": 5, "new_epochs": 20, "n_new": 1,
                                            "new_hidden": 8})


def test_a_drifting_live_shop_raises_a_trigger_that_is_recorded_and_on_the_timeline(
        machining13_path: Path, tmp_path: Path) -> None:
    ws = load_workshop(machining13_path)
    scenario = tmp_path / "wear.toml"
    # the inspection station wears fast from 1 h on: its cycle time x3 by 2 h
    scenario.write_text('[[disturbance]]\nkind = "degradation"\ntarget = "S13"\n'
                        'rate_per_h = 2.0\nstart_h = 1.0\n')
    clock = ManualClock()
    src = SimSource(sim_url(ws.path, speed=1000, seed=3, scenario=scenario), tick_s=0.001, clock=clock)
    s = Session(clock=clock)
    s.evolution_settings = small_settings()
    reports: list = []
    statuses: list[str] = []
    s.evolution_changed.connect(reports.append)
    s.evolution_status.connect(statuses.append)
    out = s.start_live(src, ws, record_dir=tmp_path)
    assert s.evolution is not None and "waiting for 1 h" in statuses[0]
    for k in range(1, 19):               # 3 h of shift, a pump every 10 min
        clock.now += 0.6                 # 600 s of shift at speed 1000
        wait_until(lambda k=k: src.reached >= k * 600.0)
        s.tick()
        assert s.evolution.wait(600.0)    # the test waits; the GUI never does
        s.tick()                         # collects the job's notes and report
    evo = s.evolution
    st = evo.monitor.state
    assert not evo.error, evo.error
    # TA from the first outcome after training (1 h + the 15-min horizon), one per batch
    assert st.ta and st.ta[0].t == pytest.approx(1.25 * H + 600.0, abs=600.0)
    assert st.triggers, [round(p.ta, 2) for p in st.ta]
    assert st.triggers[0].t > 1.0 * H, "no trigger before the wear starts"
    assert st.updates and st.updates[0].result is not None
    # live: markers on the timeline, the report handed to the dock
    kinds = [m.kind for m in s.store.markers()]
    assert kinds.count("trigger") == len(st.triggers) and kinds.count("ta") == len(st.ta)
    assert reports and reports[-1] is evo.report
    assert len(reports[-1].monitor.state.triggers) == len(st.triggers)
    assert any(t.startswith("monitoring") for t in statuses)
    s.stop_live()
    # and in the recording, for the replay
    notes = open_recording(out).annotations()
    trig = [a for a in notes if a.kind == "trigger"]
    assert [a.t for a in trig] == [e.t for e in st.triggers]
    # the worn station's operations show it first (the per-station CUSUM), named
    assert trig[0].label.startswith("evolution trigger S13: processing-time TA")
    assert sum(a.kind == "evolution" for a in notes) == len(st.updates)
    assert sum(a.kind == "ta" for a in notes) == len(st.ta)


def test_no_recording_no_evolution_loop(machining13_path: Path) -> None:
    ws = load_workshop(machining13_path)
    clock = ManualClock()
    src = SimSource(sim_url(ws.path, speed=1000, seed=3), tick_s=0.001, clock=clock)
    s = Session(clock=clock)
    s.start_live(src, ws, record_dir=None)
    assert s.evolution is None
    s.stop_live()


def test_bad_evolution_settings_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="PM kind must be one of lstm, mechanism, hybrid"):
        EvolutionSettings(pm="forest")
    with pytest.raises(ValueError, match="batch_s"):
        EvolutionSettings(batch_s=0)
