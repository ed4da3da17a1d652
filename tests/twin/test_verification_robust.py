"""The calibrated verdict holds against one long repair and blocking behind a short one,
and sees the dispatching rule."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from twin.events import Event
from twin.scenario import Disturbance, Scenario
from twin.simulator import Simulator
from twin.verification import Verifier, VerifyConfig
from twin.verification import verifier as verifier_module
from twin.verification.data import STATION_STATES, ShopRun, load_run
from twin.workshop import load_workshop
from twin.workshop_model import Order

WS = Path(__file__).resolve().parents[2] / "assets" / "workshops" / "machining13.toml"
CONFIG = VerifyConfig(gcn_epochs=30, tcn_epochs=30)
HOURS = 4.0


def _orders(events: list[Event]) -> list[Order]:
    """The orders a run released, for an order-synchronised run of the model."""
    parts: dict[str, list[str]] = {}
    for e in events:
        if e.kind == "wip" and e.order and e.entity not in parts.get(e.order, []):
            parts.setdefault(e.order, []).append(e.entity)
    out, seen = [], set()
    for e in events:
        if e.kind == "order" and e.state == "released" and e.entity not in seen:
            seen.add(e.entity)
            wips = tuple(parts.get(e.entity, []))
            q = int(e.quantity or len(wips) or 1)
            out.append(Order(e.entity, e.product, q, e.t,
                             e.due if e.due is not None else float("inf"),
                             wips if len(wips) == q else ()))
    return out


def _run(seed: int, rule: str = "fifo", scenario: Scenario | None = None,
         orders: list[Order] | None = None) -> list[Event]:
    events: list[Event] = []
    Simulator(load_workshop(WS), scenario, seed=seed, rule=rule, orders=orders).run(
        HOURS, sink=events.append)
    return events


@lru_cache(maxsize=None)
def long_repair_runs() -> tuple[ShopRun, ShopRun, ShopRun]:
    """(physical, faithful model run, the same model run with one 45 min repair at S13 an
    hour in): the model runs are the same workshop, the physical run's orders, another
    seed."""
    phys = _run(41)
    repair = Scenario("repair", None, [Disturbance(0, "breakdown", "S13", 3600.0, 3600.0 + 45 * 60)])
    return (load_run(phys), load_run(_run(42, orders=_orders(phys))),
            load_run(_run(42, scenario=repair, orders=_orders(phys))))


def long_repair_pair() -> tuple[ShopRun, ShopRun]:
    phys, _, repaired = long_repair_runs()
    return phys, repaired


_TRAINED: dict[str, Verifier] = {}


def trained(run: ShopRun) -> Verifier:
    """Verifier with nets trained on ``run`` (once per run)."""
    if run.fingerprint not in _TRAINED:
        _TRAINED[run.fingerprint] = Verifier(run, config=CONFIG)
        _TRAINED[run.fingerprint].train()
    return _TRAINED[run.fingerprint]


def test_one_long_repair_in_a_faithful_run_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A faithful model run that passes still passes with one 45 min repair at S13 added
    (parts pile up before it, S12 blocked behind it). Judged with that repair (the old
    thresholds), it fails on S12's blocked share or S13's queue — the false alarm that
    leaving the single longest repair out removes."""
    phys, faithful, repaired = long_repair_runs()
    assert trained(phys).score(faithful).passed
    rep = trained(phys).score(repaired)
    assert rep.passed, rep.explanations
    monkeypatch.setattr(verifier_module, "repair_masks", lambda run, prep: (
        np.ones(len(prep.graphs), dtype=bool), np.ones(prep.binned.n_bins, dtype=bool)))
    old = trained(phys).score(repaired)
    assert not old.passed
    assert {"S12", "S13"} & set(old.flagged_stations)


def test_the_windows_of_the_longest_repair_are_left_out() -> None:
    """The 45 min repair from 1 h: windows overlapping 1 h .. 1 h + 2 x 45 min are dropped,
    the others kept (30 min windows every 15 min)."""
    phys, virt = long_repair_pair()
    ver = trained(phys)
    prep = verifier_module._prepare(virt, ver.basis, ver.config)
    keep_w, keep_b = verifier_module.repair_masks(virt, prep)
    d = max(virt.downtimes, key=lambda d: d.end - d.start)
    assert d.station == "S13" and d.end - d.start == pytest.approx(45 * 60, abs=1.0)
    dropped = [(g.t0, g.t1) for g, k in zip(prep.graphs, keep_w, strict=True) if not k]
    assert dropped and all(t1 > d.start and t0 < d.end + 45 * 60 for t0, t1 in dropped)
    assert keep_w.sum() == len(prep.graphs) - len(dropped) >= 3
    assert 0 < keep_b.sum() < keep_b.size


def test_dispatch_picks_tell_fifo_from_spt() -> None:
    """Under fifo every start with a choice takes the earliest-arrived part; under spt
    many do not."""
    fifo = load_run(_run(33)).dispatch_picks()
    spt = load_run(_run(33, rule="spt")).dispatch_picks()
    assert len(fifo) > 30 and all(first for _, _, first in fifo)
    assert np.mean([first for _, _, first in spt]) < 0.85


def test_spt_shop_against_fifo_model_fails_naming_the_dispatch() -> None:
    """The physical shop dispatches spt, the model fifo (same stations, same times, the
    physical run's orders): FAILED, and the explanation names the dispatching rule."""
    phys = _run(34, rule="spt")
    virt = load_run(_run(35, orders=_orders(phys)))
    rep = trained(load_run(phys)).score(virt)
    assert not rep.passed
    doc = rep.to_json()
    assert "dispatching" in doc["flagged"]["shop"]
    assert doc["shop"]["dispatching"]["virtual"] == 1.0 > doc["shop"]["dispatching"]["physical"]
    assert "the model dispatches first-come-first-served" in rep.explanations["dispatching"]


def _blocked_runs() -> tuple[ShopRun, ShopRun]:
    """(physical, the model run with a 30 min repair of S13 an hour in and a 40 min one of
    S03 later): the longer S03 repair is the one left out, S12 sits blocked behind S13's."""
    phys = _run(41)
    repairs = Scenario("repairs", None, [
        Disturbance(0, "breakdown", "S13", 3600.0, 3600.0 + 30 * 60),
        Disturbance(1, "breakdown", "S03", 9000.0, 9000.0 + 40 * 60)])
    return load_run(phys), load_run(_run(42, scenario=repairs, orders=_orders(phys)))


def test_blocked_behind_a_short_repair_where_the_physical_never_blocked_passes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A faithful model whose S12 is blocked behind a repair of S13 that is not the run's
    longest, where the physical S12 was never blocked, passes: the blocked share's
    threshold is the compound-Poisson error of blocking bursts pooled over the other
    stations, not S12's own (nil) variation. With that threshold at zero (S12's own
    variation and the 2 % floor only) the same pair fails on S12's blocked share."""
    phys, virt = _blocked_runs()
    assert "S12" not in phys.blocked_bursts(1800.0)
    assert virt.blocked_bursts(1800.0)["S12"]
    rep = trained(phys).score(virt)
    assert rep.passed, rep.explanations
    monkeypatch.setattr(verifier_module, "blocked_share_sd",
                        lambda p, v, w: np.zeros(len(p.stations)))
    old = trained(phys).score(virt)
    assert not old.passed and old.flagged_stations == ["S12"]
    assert old.explanations["S12"].startswith("blocked")


def _blocked(run: ShopRun, station: str, t0: float, t1: float) -> ShopRun:
    """``run`` with ``station`` blocked from ``t0`` to ``t1`` (whatever it did then)."""
    changes = run.station_changes[station]
    before = [c for c in changes if c[0] < t0]
    after = [c for c in changes if c[0] > t1]
    state_at_t1 = ([c for c in changes if c[0] <= t1] or [(0.0, 0)])[-1][1]
    blocked = STATION_STATES.index("blocked")
    edited = dict(run.station_changes)
    edited[station] = [*before, (t0, blocked), (t1, state_at_t1), *after]
    return replace(run, station_changes=edited)


def test_a_model_that_keeps_a_station_blocked_for_an_hour_and_a_half_fails() -> None:
    """The blocked threshold is not so wide that it hides blocking: the faithful model run
    with S12 blocked 1.5 h of the 4 h shift (the physical S12 never is) fails, S12 flagged
    for its blocked share."""
    phys, faithful, _ = long_repair_runs()
    assert trained(phys).score(faithful).passed
    assert "S12" not in phys.blocked_bursts(1800.0)
    rep = trained(phys).score(_blocked(faithful, "S12", 1.5 * 3600.0, 3.0 * 3600.0))
    assert not rep.passed
    assert rep.flagged_stations[0] == "S12"
    assert rep.explanations["S12"].startswith("blocked")


def _run_with(changes: dict[str, list[tuple[float, int]]], t_end: float) -> ShopRun:
    return ShopRun("events", "", "", tuple(sorted(changes)), (), 0.0, t_end, station_changes=changes)


def test_blocked_bursts_merge_intervals_less_than_the_gap_apart() -> None:
    """Blocked 0-60 s, 100-160 s (40 s later: the same burst), 1000-1030 s (a new one) and
    from 3500 s to the end (cut there)."""
    b = STATION_STATES.index("blocked")
    run = _run_with({"A": [(0.0, b), (60.0, 0), (100.0, b), (160.0, 0), (1000.0, b), (1030.0, 0),
                           (3500.0, b)], "B": [(0.0, 0)]}, 3600.0)
    assert run.blocked_bursts(300.0) == {"A": [120.0, 30.0, 100.0]}
    assert run.blocked_bursts(30.0) == {"A": [60.0, 60.0, 30.0, 100.0]}


def test_blocked_share_sd_ignores_the_station_s_own_bursts() -> None:
    """A station blocked for hours does not widen its own threshold (leave one station
    out), while the other stations' thresholds do grow with its bursts; with no blocking
    anywhere the one prior burst of a window gives every station the same positive sd."""
    b = STATION_STATES.index("blocked")
    T = 8 * 3600.0
    quiet = {s: [(0.0, 0)] for s in ("A", "B", "C", "D")}
    calm = _run_with(quiet, T)
    stuck = _run_with({**quiet, "A": [(0.0, 0), (3600.0, b), (3 * 3600.0, 0)]}, T)
    base = verifier_module.blocked_share_sd(calm, calm, 1800.0)
    assert np.all(base > 0) and np.allclose(base, base[0])
    # by hand: rate 1 / (3 others x 16 h), mean burst 1800 s / ln 2, E[b^2] = 2 mean^2
    mean = 1800.0 / np.log(2.0)
    assert base[0] == pytest.approx(np.sqrt(1 / (3 * 2 * T) * 2 * mean**2 * 2 / T))
    sd = verifier_module.blocked_share_sd(calm, stuck, 1800.0)
    assert sd[0] == pytest.approx(base[0])
    assert np.all(sd[1:] > 1.5 * base[0])


def test_carried_mean_weight_sq_counts_only_the_kept_spans() -> None:
    """Two events in bins 0 and 1 of four, the second carried to the end: the mean over
    all bins weighs them 1/4 and 3/4 (0.625); over bins 2-3 only it is the second event
    alone (1.0); over bins 0-1 each half (0.5)."""
    counts = np.array([[1.0, 1.0, 0.0, 0.0]])
    w = verifier_module.carried_mean_weight_sq
    assert w(counts, 1, 1)[0] == pytest.approx(0.625)
    assert w(counts, 1, 1, np.array([False, False, True, True]))[0] == pytest.approx(1.0)
    assert w(counts, 1, 1, np.array([True, True, False, False]))[0] == pytest.approx(0.5)
