"""Verification (GCN/TCN consistency): the paper's rule, the method on simulated shops,
saved nets, and the refusals a user relies on."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from twin.events import Event
from twin.scenario import Disturbance, Scenario
from twin.simulator import Simulator
from twin.verification import (
    ConsistencyReport,
    StoreError,
    VerificationAborted,
    VerificationError,
    Verifier,
    VerifyConfig,
    baseline_verify,
    consistency_fraction,
    train_steps,
    verify,
)
from twin.verification.consistency import score_from_ratio
from twin.verification.data import load_run
from twin.verification.graphs import NODE_DIM, build_graphs
from twin.verification.series import BEHAVIOUR, FEATURES, CycleReference, bin_run
from twin.workshop import Workshop, load_workshop

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "assets" / "workshops" / "machining13.toml"
HOURS = 2.0
#: Small nets and short windows: a 2 h shift verifies in well under a second.
SMALL = VerifyConfig(window_min=10, gcn_hidden=8, tcn_hidden=8, tcn_levels=2,
                     gcn_epochs=40, tcn_epochs=40)


@lru_cache(maxsize=None)
def shop() -> Workshop:
    return load_workshop(SHOP)


@lru_cache(maxsize=None)
def run(seed: int, slow: str = "", factor: float = 2.0, hours: float = HOURS) -> tuple[Event, ...]:
    """A simulated machining13 shift (``slow``: that station's cycle time x ``factor``)."""
    dist = [Disturbance(0, "slowdown", slow, 0.0, factor=factor)] if slow else []
    events: list[Event] = []
    Simulator(shop(), Scenario("test", None, dist), seed=seed).run(hours, sink=events.append)
    return tuple(events)


# -- the paper's rule ---------------------------------------------------------------
def test_paper_spatial_example_gives_two_thirds() -> None:
    # paper §4.2: |0.022 - 0.102| = 0.08 > 0.05, the other two are within 0.05
    assert consistency_fraction([0.052, 0.038, 0.022], [0.005, 0.018, 0.102], 0.05) == pytest.approx(2 / 3)


def test_paper_temporal_example_is_fully_consistent() -> None:
    assert consistency_fraction([0.788, 0.350, 0.784], [0.732, 0.347, 0.737], 0.1) == 1.0


def test_difference_equal_to_threshold_counts_as_consistent() -> None:
    assert consistency_fraction([0.15], [0.1], 0.05) == 1.0
    assert consistency_fraction([0.15, 0.0], [0.1, 0.0], [0.04, 0.0]) == 0.5


def test_consistency_fraction_refuses_mismatched_or_empty_characteristics() -> None:
    with pytest.raises(ValueError, match="no characteristics"):
        consistency_fraction([], [], 0.1)
    with pytest.raises(ValueError, match="3 physical but 2 virtual"):
        consistency_fraction([1, 2, 3], [1, 2], 0.1)


def test_score_is_one_for_identical_and_half_at_the_threshold() -> None:
    assert score_from_ratio(0.0) == 1.0
    assert score_from_ratio(1.0) == 0.5
    assert score_from_ratio(3.0) == pytest.approx(0.1)


# -- features from events -------------------------------------------------------------
def _ev(t: float, entity: str, kind: str, state: str, **kw: object) -> Event:
    return Event(t, entity, kind, state, **kw)  # type: ignore[arg-type]


def test_breakdown_inside_an_operation_is_not_processing_time() -> None:
    events = [
        _ev(0, "M1", "station", "idle"),
        _ev(0, "W1", "wip", "waiting", station="M1"),
        _ev(10, "M1", "station", "processing", wip="W1", process="cut"),
        _ev(10, "W1", "wip", "processing", station="M1"),
        _ev(40, "M1", "station", "down", wip="W1", process="cut"),
        _ev(100, "M1", "station", "processing", wip="W1", process="cut"),
        _ev(130, "M1", "station", "idle"),
        _ev(130, "W1", "wip", "completed"),
        _ev(600, "M1", "station", "idle"),
    ]
    r = load_run(events)
    (op,) = r.operations
    assert (op.start, op.end, op.work_s) == (10, 130, 60)  # 30 + 30 s, the 60 s down excluded
    assert r.down_episodes() == [60]
    assert [a.t for a in r.arrivals] == [0]


def test_setup_time_excludes_a_breakdown_during_the_setup() -> None:
    events = [
        _ev(0, "M1", "station", "idle"),
        _ev(10, "M1", "station", "setup", wip="W1", process="cut"),
        _ev(40, "M1", "station", "down", wip="W1", process="cut"),
        _ev(60, "M1", "station", "setup", wip="W1", process="cut"),
        _ev(70, "M1", "station", "processing", wip="W1", process="cut"),
        _ev(100, "M1", "station", "idle"),
    ]
    assert load_run(events).setups == [("M1", 70, 40)]


def test_state_shares_sum_to_one_and_slowed_station_shows_cycle_ratio() -> None:
    phys = load_run(run(1))
    ref = CycleReference.from_run(phys)
    feats = bin_run(phys, 300.0, ref).features(span=2, stride=1)
    shares = feats[:, :, :5].sum(axis=2)
    np.testing.assert_allclose(shares, 1.0, atol=1e-9)
    # the same shop with S07 twice as slow, measured against the nominal references
    slow = load_run(run(1, "S07"))
    i = slow.stations.index("S07")
    cyc = bin_run(slow, 3600.0, ref).features()[:, :, FEATURES.index("cycle_ratio")]
    assert cyc[i].mean() == pytest.approx(2.0, rel=0.15)
    others = np.delete(cyc, i, axis=0)
    assert np.all(np.abs(others - 1.0) < 0.2)


def test_window_graph_holds_the_relations_active_in_it() -> None:
    events = [
        _ev(0, "O1", "order", "released", order="O1"),
        _ev(0, "M1", "station", "idle"), _ev(0, "M2", "station", "idle"),
        _ev(0, "A1", "agv", "idle"),
        _ev(0, "W1", "wip", "waiting", station="M1", order="O1"),
        _ev(10, "M1", "station", "processing", wip="W1", process="cut"),
        _ev(10, "W1", "wip", "processing", station="M1", order="O1"),
        _ev(70, "M1", "station", "idle"),
        _ev(70, "W1", "wip", "waiting", station="M1", order="O1"),
        _ev(80, "A1", "agv", "loading"),
        _ev(90, "W1", "wip", "transporting", station="M2", agv="A1", order="O1"),
        _ev(90, "A1", "agv", "moving"),
        _ev(120, "W1", "wip", "waiting", station="M2", order="O1"),
        _ev(120, "A1", "agv", "idle"),
        _ev(130, "M2", "station", "processing", wip="W1", process="drill"),
        _ev(130, "W1", "wip", "processing", station="M2", order="O1"),
        _ev(190, "M2", "station", "idle"),
        _ev(600, "M1", "station", "idle"),
    ]
    r = load_run(events)
    assert [(a.station, a.came_from) for a in r.arrivals] == [("M1", ""), ("M2", "M1")]
    assert [(t.agv, t.wip, t.start, t.end) for t in r.transports] == [("A1", "W1", 90, 120)]
    ref = CycleReference.from_run(r)
    binned = bin_run(r, 300.0, ref)
    ctx = np.zeros((2, 1, 2))
    (g,) = build_graphs(r, ctx, binned.agv_features(2, 2), binned.edges, 2, 2, ["cut", "drill"], ref)
    assert g.n_stations == 2 and g.x.shape == (2 + 2 + 1 + 2, NODE_DIM)  # M, P, AGV, W1 + O1
    pairs = {tuple(sorted(p)) for p in g.edge_index.T.tolist()}
    # 0 M1, 1 M2, 2 cut, 3 drill, 4 A1, then the WIP and the order
    w1, o1 = 5, 6
    assert pairs == {(0, 2), (1, 3), (0, w1), (1, w1), (4, w1), (0, 1), (w1, o1)}
    assert g.edge_index.shape[1] == 2 * len(pairs)  # both directions


# -- the method -------------------------------------------------------------------------
def test_identical_data_makes_every_characteristic_consistent() -> None:
    report = verify(list(run(1)), list(run(1)), config=SMALL)
    for res in (report.spatial, report.temporal):
        assert res.delta == 1.0 and res.passed
        for s in res.physical:
            assert res.physical[s] == res.virtual[s]
    assert report.passed
    assert min(report.per_station.values()) == 1.0
    assert report.transport is not None and report.transport.delta == 1.0


def test_grossly_degraded_station_gets_the_lowest_score() -> None:
    report = verify(list(run(3, "S07")), list(run(4)), config=SMALL)
    ranking = report.ranking()
    assert ranking[0][0] == "S07"
    assert report.per_station["S07"] < 0.5  # flagged
    assert "S07" in report.flagged()
    # its own cycle ratio is what departs, in both nets
    for res in (report.spatial, report.temporal):
        k = [n.split(":")[1] for n in res.names].index("cycle_ratio")
        assert res.ratios["S07"][k] > 1.0
        assert res.virtual["S07"][k] < res.physical["S07"][k]


def test_slower_agv_is_flagged_by_the_transport_check() -> None:
    events: list[Event] = []
    slow = Scenario("agv", None, [Disturbance(0, "agv_slowdown", "AGV2", 0.0, factor=2.0)])
    Simulator(shop(), slow, seed=3).run(HOURS, sink=events.append)
    report = verify(events, list(run(4)), config=SMALL)
    assert report.transport is not None
    assert report.transport.names == ["agv:speed_ratio", "agv:handling_ratio"]
    speed = {a: report.transport.virtual[a][0] for a in report.per_agv}
    assert speed["AGV2"] == pytest.approx(2.0, rel=0.05)  # the nominal model drives twice as fast
    assert min(report.per_agv, key=report.per_agv.get) == "AGV2"
    assert report.per_agv["AGV2"] < 0.5
    assert all(v > 0.5 for a, v in report.per_agv.items() if a != "AGV2")


def test_paper_mode_uses_the_fixed_thresholds() -> None:
    report = verify(list(run(3, "S07")), list(run(4)), config=SMALL, mode="paper")
    assert report.mode == "paper"
    assert report.spatial.threshold == 0.05 and report.temporal.threshold == 0.1
    assert report.spatial.overall_threshold == 0.9
    assert all(t == 0.05 for ts in report.spatial.per_char_thresholds.values() for t in ts)
    p = [x for s in report.spatial.physical for x in report.spatial.physical[s]]
    v = [x for s in report.spatial.virtual for x in report.spatial.virtual[s]]
    assert report.spatial.delta == consistency_fraction(p, v, 0.05)


def test_report_json_has_the_documented_shape() -> None:
    report = verify(list(run(3, "S07")), list(run(4)), config=SMALL)
    assert isinstance(report, ConsistencyReport)
    doc = report.to_json()
    assert set(doc) == {"spatial", "temporal", "per_station", "passed", "seconds", "mode",
                        "verdict_rule", "flagged", "explanations", "deviation", "agvs",
                        "family_limit", "levels", "shop"}
    assert set(doc["flagged"]) == {"stations", "agvs", "shop"}
    assert set(doc["explanations"]) == set(doc["flagged"]["stations"] + doc["flagged"]["agvs"]
                                           + doc["flagged"]["shop"])
    # both shops dispatch fifo: the shop-wide check is there and finds no difference
    assert doc["shop"]["dispatching"]["physical"] == doc["shop"]["dispatching"]["virtual"] == 1.0
    # the levels the explanations quote: S07 is slowed x2 on the physical shop, which
    # fixes the reference cycle times, so the model's S07 runs at about half of them
    k = doc["levels"]["names"].index("cycle_ratio")
    assert doc["levels"]["physical"]["S07"][k] == pytest.approx(1.0, abs=0.1)
    assert doc["levels"]["virtual"]["S07"][k] == pytest.approx(0.5, abs=0.1)
    for part, net in (("spatial", "gcn"), ("temporal", "tcn")):
        assert set(doc[part]) == {"delta", "threshold", "passed", "per_station", "names",
                                  "sources", "characteristics"}
        assert doc[part]["sources"] == [net] * len(BEHAVIOUR)  # every characteristic from the net
        chars = doc[part]["characteristics"]
        assert set(chars) == {"physical", "virtual"}
        assert len(chars["physical"]) == len(chars["virtual"]) == 13 * len(BEHAVIOUR)
    assert set(doc["per_station"]) == set(shop().stations)
    assert all(0.0 <= v <= 1.0 for v in doc["per_station"].values())
    assert doc["seconds"] > 0


def test_training_is_a_generator_of_epoch_metrics() -> None:
    metrics = list(train_steps(list(run(1)), config=SMALL))
    assert [m.stage for m in metrics] == ["gcn"] * 40 + ["tcn"] * 40
    assert [m.epoch for m in metrics[:3]] == [1, 2, 3]
    assert all(m.epochs == 40 and math.isfinite(m.loss) for m in metrics)
    gcn = [m.loss for m in metrics if m.stage == "gcn"]
    assert gcn[-1] < gcn[0]  # it learns


def test_abort_stops_between_epochs_and_saves_nothing(tmp_path: Path) -> None:
    calls: list[str] = []

    def progress(stage: str, fraction: float) -> None:
        calls.append(stage)

    with pytest.raises(VerificationAborted):
        verify(list(run(1)), list(run(2)), config=SMALL, model_dir=tmp_path, progress=progress,
               should_abort=lambda: calls.count("gcn") >= 3)
    assert calls.count("gcn") == 3 and "tcn" not in calls
    assert not any(tmp_path.iterdir())


def test_training_is_deterministic_for_a_seed() -> None:
    a = Verifier(list(run(1)), config=SMALL)
    b = Verifier(list(run(1)), config=SMALL)
    a.train()
    b.train()
    np.testing.assert_array_equal(a.characteristics().spatial, b.characteristics().spatial)
    np.testing.assert_array_equal(a.characteristics().temporal, b.characteristics().temporal)


# -- saved nets ---------------------------------------------------------------------------
def test_saved_nets_are_reused_and_give_the_same_characteristics(tmp_path: Path) -> None:
    phys, virt = list(run(3, "S07")), list(run(4))
    first = Verifier(phys, config=SMALL, model_dir=tmp_path)
    assert not first.reused
    first.train()
    (entry,) = list(tmp_path.iterdir())
    assert {p.name for p in entry.iterdir()} == {"nets.safetensors", "nets.json"}

    again = Verifier(phys, config=SMALL, model_dir=tmp_path)
    assert again.reused and again.trained
    assert list(again.train_steps()) == []  # nothing to train
    for a, b in ((first.characteristics(virt), again.characteristics(virt)),
                 (first.characteristics(), again.characteristics())):
        np.testing.assert_array_equal(a.spatial, b.spatial)
        np.testing.assert_array_equal(a.temporal, b.temporal)
    report = verify(phys, virt, config=SMALL, model_dir=tmp_path)
    assert report.reused_models


def test_other_physical_recording_or_settings_train_new_nets(tmp_path: Path) -> None:
    Verifier(list(run(1)), config=SMALL, model_dir=tmp_path).train()
    assert not Verifier(list(run(2)), config=SMALL, model_dir=tmp_path).reused
    other = VerifyConfig(**{**SMALL.to_json(), "gcn_epochs": 41})
    assert not Verifier(list(run(1)), config=other, model_dir=tmp_path).reused
    # scoring-only settings (z, overall threshold) do not need new nets
    scoring = VerifyConfig(**{**SMALL.to_json(), "z": 3.0})
    assert Verifier(list(run(1)), config=scoring, model_dir=tmp_path).reused


def test_tampered_saved_net_is_refused(tmp_path: Path) -> None:
    Verifier(list(run(1)), config=SMALL, model_dir=tmp_path).train()
    (entry,) = list(tmp_path.iterdir())
    weights = entry / "nets.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="nets.safetensors: checksum mismatch"):
        Verifier(list(run(1)), config=SMALL, model_dir=tmp_path)


# -- refusals ---------------------------------------------------------------------------
def test_recordings_of_different_workshops_are_refused() -> None:
    ft06 = load_workshop(ROOT / "assets" / "workshops" / "ft06.txt")
    other: list[Event] = []
    Simulator(ft06, seed=0).run(HOURS, sink=other.append)
    with pytest.raises(VerificationError, match="different workshops"):
        verify(list(run(1)), other, config=SMALL)
    with pytest.raises(VerificationError, match="different workshops"):
        baseline_verify(list(run(1)), other)


def test_station_missing_in_virtual_is_refused() -> None:
    virt = [e for e in run(2) if e.entity != "S13" and e.station != "S13"]
    with pytest.raises(VerificationError, match="only in physical: S13"):
        verify(list(run(1)), virt, config=SMALL)


def test_too_short_and_empty_recordings_are_refused() -> None:
    short = list(run(1, hours=0.4))
    with pytest.raises(VerificationError, match=r"covers 2\d\.\d min.*3 windows of 10 min \(30 min\)"):
        verify(short, list(run(2)), config=SMALL)
    with pytest.raises(VerificationError, match=r"virtual recording .* covers 2\d\.\d min"):
        verify(list(run(1)), short, config=SMALL)
    with pytest.raises(VerificationError, match="no events"):
        verify([], list(run(2)), config=SMALL)
    with pytest.raises(VerificationError, match="no station events"):
        verify([e for e in run(1) if e.kind == "order"], list(run(2)), config=SMALL)
    with pytest.raises(VerificationError, match="unknown mode"):
        verify(list(run(1)), list(run(2)), config=SMALL, mode="strict")
