"""The nets carry the characteristics without leakage: a station is never inferred from
its own behaviour, but from its context, and training on the physical shop matters."""

from __future__ import annotations

import copy
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

from tests.twin.test_verification import shop
from twin.analytics import Downtime
from twin.events import Event
from twin.simulator import Simulator
from twin.verification import Verifier, VerifyConfig
from twin.verification.data import STATION_STATES, ShopRun, load_run
from twin.verification.series import BEHAVIOUR, BEHAVIOUR_NAMES

#: The default nets (those the verdict is calibrated for) on a 3 h shift.
CONFIG = VerifyConfig()


@lru_cache(maxsize=None)
def physical() -> ShopRun:
    events: list[Event] = []
    Simulator(shop(), seed=21).run(3.0, sink=events.append)
    return load_run(events)


@lru_cache(maxsize=None)
def verifier() -> Verifier:
    ver = Verifier(physical(), config=CONFIG)
    ver.train()
    return ver


def _stretch_own_behaviour(run: ShopRun, station: str) -> ShopRun:
    """``run`` with everything ``station`` itself did changed: its operations start 60 s
    later and take 50 % longer, it was down for the first hour (three breakdowns), its
    setups took twice as long. Deliveries to it and everything else stay as they were."""
    other = copy.copy(run)
    other.operations = sorted(
        (replace(op, start=op.start + 60.0, end=op.start + 60.0 + 1.5 * (op.end - op.start),
                 work_s=1.5 * op.work_s) if op.station == station else op
         for op in run.operations), key=lambda o: o.end)
    down, idle = STATION_STATES.index("down"), STATION_STATES.index("idle")
    other.station_changes = dict(run.station_changes)
    other.station_changes[station] = [(run.t_start, down), (run.t_start + 3600.0, idle)]
    other.setups = [(s, t, 2.0 * w if s == station else w) for s, t, w in run.setups]
    t0 = run.t_start
    other.downtimes = sorted(
        [d for d in run.downtimes if d.station != station]
        + [Downtime(station, t0 + a, t0 + b) for a, b in ((0, 1200), (1300, 2400), (2500, 3600))],
        key=lambda d: d.start)
    return other


def test_changing_a_stations_own_events_leaves_its_inferred_value_unchanged() -> None:
    ver = verifier()
    run = physical()
    i = run.stations.index("S12")
    changed = _stretch_own_behaviour(run, "S12")
    g0, t0 = ver.inferred(run)
    g1, t1 = ver.inferred(changed)
    np.testing.assert_allclose(g1[i], g0[i], atol=1e-5)
    np.testing.assert_allclose(t1[i], t0[i], atol=1e-5)
    # the change is real: S12's own behaviour (what its characteristics compare) moved
    lv0 = ver.characteristics(run).level[i]
    lv1 = ver.characteristics(changed).level[i]
    k = BEHAVIOUR_NAMES.index("down")
    assert lv1[k] > lv0[k] + 0.2
    k = BEHAVIOUR_NAMES.index("breakdowns")
    assert lv1[k] > lv0[k] + 0.5  # three more breakdowns in 3 h: about one per hour
    # ... and the other stations did see it (S12 feeds S13: their graphs changed)
    j = run.stations.index("S13")
    assert np.abs(g1[j] - g0[j]).max() > 1e-3


def test_changing_a_neighbours_events_changes_the_inferred_value() -> None:
    """S11 (deburring) feeds S12 (washing): when S11 works differently, what the GCN
    infers for S12 changes, although nothing of S12's own changed."""
    ver = verifier()
    run = physical()
    i = run.stations.index("S12")
    g0, _ = ver.inferred(run)
    g1, _ = ver.inferred(_stretch_own_behaviour(run, "S11"))
    assert np.abs(g1[i] - g0[i]).max() > 1e-3


def test_trained_nets_explain_behaviour_from_context_untrained_do_not() -> None:
    """Where context matters: how idle a station is in a window follows from the work
    delivered to it (TCN: its demand history; GCN: its deliveries and its neighbours). On
    the physical run, each window/bin inferred by the fold net that did not learn from it,
    the trained nets' residuals of the idle share are clearly smaller than the share's
    variation (TCN: around each station's own mean; GCN: around the shop-wide mean); the
    same nets untrained explain nothing, and their characteristics differ."""
    trained = verifier()
    untrained = Verifier(physical(), config=replace(CONFIG, gcn_epochs=0, tcn_epochs=0))
    untrained.train()
    k = BEHAVIOUR_NAMES.index("idle")
    f = BEHAVIOUR[k]
    tr, un = trained.characteristics(), untrained.characteristics()
    # temporal: per bin
    share = trained._phys.bin_z[:, :, f] * trained.basis.bin_sd[:, None, f]  # shop units
    per_station = np.mean((share - share.mean(axis=1, keepdims=True)) ** 2)
    assert np.mean(tr.temporal[:, :, k] ** 2) < 0.8 * per_station
    assert np.mean(un.temporal[:, :, k] ** 2) > 1.5 * np.mean(tr.temporal[:, :, k] ** 2)
    # spatial: per window
    share = trained._phys.win_z[:, :, f] * trained.basis.win_sd[:, None, f]
    pooled = np.mean((share - share.mean()) ** 2)
    assert np.mean(tr.spatial[:, :, k] ** 2) < 0.8 * pooled
    assert np.mean(un.spatial[:, :, k] ** 2) > pooled
    diff = np.abs(tr.temporal_mean() - un.temporal_mean())
    assert diff.max() > 0.05
