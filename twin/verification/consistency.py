"""Consistency of physical and virtual characteristics (paper §4.2), per station.

The paper's rule: a characteristic is *consistent* when ``|£ − £*| <= threshold``; the share
of consistent characteristics is Δ (Δ_SF for the spatial ones, Δ_TF for the temporal ones);
the DT model passes when both Δ reach the overall threshold (paper: 0.05 spatial, 0.1
temporal per characteristic, 90 % overall).

Beyond the paper this module turns the same differences into a score per station in [0, 1]
(1 = consistent) and holds the report the CLI prints and the app shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Paper mode: fixed per-characteristic thresholds and the overall share to reach.
PAPER_SPATIAL_THRESHOLD = 0.05
PAPER_TEMPORAL_THRESHOLD = 0.1
PAPER_OVERALL_THRESHOLD = 0.9
#: A station scoring below this is flagged: on average its characteristics lie beyond
#: their thresholds (score 0.5 = root mean square |£ − £*| / threshold of exactly 1).
FLAG_BELOW = 0.5


def consistency_fraction(
    phys: Sequence[float], virt: Sequence[float], threshold: float | Sequence[float]
) -> float:
    """Δ of the paper: share of characteristics with ``|phys − virt| <= threshold``.

    ``threshold`` is one value for all characteristics or one per characteristic.
    Example (paper §4.2): ``[0.052, 0.038, 0.022]`` vs ``[0.005, 0.018, 0.102]`` at 0.05
    gives 2/3. Raises ValueError for empty or mismatched inputs.
    """
    p = np.asarray(phys, dtype=float).ravel()
    v = np.asarray(virt, dtype=float).ravel()
    if p.size == 0:
        raise ValueError("no characteristics to compare")
    if p.shape != v.shape:
        raise ValueError(f"{p.size} physical but {v.size} virtual characteristics")
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), p.shape)
    # A tiny tolerance so that a difference equal to the threshold counts as consistent
    # despite binary floating point (|0.15 - 0.1| is 0.04999999999999999 or 0.05000000000000002).
    ok = np.abs(p - v) <= thr + 1e-12
    return float(np.count_nonzero(ok)) / p.size


def score_from_ratio(rho: float) -> float:
    """Score in [0, 1] from a station's deviation ``rho`` = |£ − £*| / threshold of its most
    inconsistent characteristic: ``1 / (1 + rho²)``. 1 for identical characteristics, 0.5
    exactly at the threshold (below 0.5 = flagged), → 0 as the station departs."""
    return 1.0 / (1.0 + float(rho) ** 2)


def deviation_ratios(
    phys: Sequence[float], virt: Sequence[float], threshold: float | Sequence[float]
) -> np.ndarray:
    """``|phys − virt| / threshold`` per characteristic (1 = exactly at the threshold)."""
    p = np.asarray(phys, dtype=float)
    v = np.asarray(virt, dtype=float)
    t = np.broadcast_to(np.asarray(threshold, dtype=float), p.shape)
    return np.abs(p - v) / np.maximum(t, 1e-12)


@dataclass
class ConsistencyResult:
    """Consistency of one kind of characteristics (spatial £ or temporal λ).

    Attributes:
        delta: Δ, share of consistent characteristics (0..1).
        threshold: the per-characteristic threshold (paper mode: the fixed value; calibrated
            mode: the median of the calibrated per-characteristic thresholds).
        overall_threshold: Δ must reach this to pass.
        passed: ``delta >= overall_threshold``.
        per_station: station id -> score in [0, 1] (1 = consistent), from the station's
            most inconsistent characteristic (:func:`score_from_ratio`).
        physical / virtual: station id -> its characteristics (£ / £*, λ / λ*), in the
            order of ``names``.
        per_char_thresholds: station id -> the threshold of each characteristic.
        names: what each characteristic of a station is (e.g. ``"gcn:cycle_ratio"``).
        ratios: station id -> ``|£ − £*| / threshold`` of each characteristic.
    """

    delta: float
    threshold: float
    overall_threshold: float
    passed: bool
    per_station: dict[str, float]
    physical: dict[str, list[float]]
    virtual: dict[str, list[float]]
    per_char_thresholds: dict[str, list[float]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    ratios: dict[str, list[float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON shape: delta, threshold, passed, per_station, characteristics."""
        stations = list(self.physical)
        return {
            "delta": _num(self.delta),
            "threshold": _num(self.threshold),
            "passed": bool(self.passed),
            "per_station": {s: _num(v) for s, v in self.per_station.items()},
            "names": list(self.names),
            # where each characteristic comes from: "gcn" / "tcn" (net residual), "level"
            # (the station's plain level, no net), "transport" (AGV check)
            "sources": [n.split(":", 1)[0] if ":" in n else "" for n in self.names],
            "characteristics": {
                "physical": [_num(x) for s in stations for x in self.physical[s]],
                "virtual": [_num(x) for s in stations for x in self.virtual[s]],
            },
        }


@dataclass
class ConsistencyReport:
    """Verification of a virtual shop against a physical one.

    ``per_station`` combines the spatial and the temporal result of each station (see
    :func:`combine_scores`; in [0, 1], 1 = consistent, < 0.5 flagged); ``passed`` needs
    both the spatial and the temporal result to pass (the paper's rule). ``seconds`` is
    the wall time of the verification (training included); ``notes`` are things the user
    should know about the comparison (e.g. two versions of the workshop file).
    ``transport`` is the AGV check (:mod:`transport`; not part of the paper's verdict),
    keyed by AGV id, None for shops without AGVs.
    """

    spatial: ConsistencyResult
    temporal: ConsistencyResult
    per_station: dict[str, float]
    passed: bool
    seconds: float
    mode: str = "calibrated"
    window_min: float = 0.0
    reused_models: bool = False
    notes: list[str] = field(default_factory=list)
    transport: ConsistencyResult | None = None
    #: filled by :func:`verdict.apply_verdict`: deviation per station / AGV, those beyond
    #: the family-wise limit (worst first) and one sentence in shop words per flag.
    deviations: dict[str, float] = field(default_factory=dict)
    agv_deviations: dict[str, float] = field(default_factory=dict)
    flagged_stations: list[str] = field(default_factory=list)
    flagged_agvs: list[str] = field(default_factory=list)
    explanations: dict[str, str] = field(default_factory=dict)
    family_limit: float = 0.0
    #: shop-wide checks (:mod:`dispatch`): "dispatching" -> DispatchCheck (or absent), their
    #: deviations and those beyond the limit (explained in ``explanations`` by name)
    shop_checks: dict[str, Any] = field(default_factory=dict)
    shop_deviations: dict[str, float] = field(default_factory=dict)
    flagged_shop: list[str] = field(default_factory=list)
    #: each station's own mean level of every behaviour feature in both runs (shop units:
    #: shares, log parts, ratios): ``{"names", "physical": {s: [...]}, "virtual": {...}}``.
    levels: dict[str, Any] = field(default_factory=dict)

    @property
    def per_agv(self) -> dict[str, float]:
        """AGV id -> score in [0, 1] from the transport check (empty without AGVs)."""
        return dict(self.transport.per_station) if self.transport is not None else {}

    def ranking(self) -> list[tuple[str, float]]:
        """Stations from the least to the most consistent (ties by station id)."""
        return sorted(self.per_station.items(), key=lambda kv: (kv[1], kv[0]))

    def flagged(self, below: float = FLAG_BELOW) -> list[str]:
        """Stations whose score is below ``below`` (their characteristics sit beyond their
        thresholds on average), least consistent first."""
        return [s for s, v in self.ranking() if v < below]

    def to_json(self) -> dict[str, Any]:
        """``{"spatial": {...}, "temporal": {...}, "per_station", "passed", "seconds"}``."""
        return {
            "spatial": self.spatial.to_json(),
            "temporal": self.temporal.to_json(),
            "per_station": {s: _num(v) for s, v in self.per_station.items()},
            "passed": bool(self.passed),
            "seconds": _num(self.seconds),
            "mode": self.mode,
            "verdict_rule": (
                "paper: spatial and temporal Δ >= 90 %" if self.mode == "paper" else
                f"calibrated: no station or AGV deviation, nor the shop-wide dispatching check's, "
                f"above {self.family_limit:g} (family-wise limit over all stations and "
                "characteristics)"),
            "flagged": {"stations": list(self.flagged_stations), "agvs": list(self.flagged_agvs),
                        "shop": list(self.flagged_shop)},
            "explanations": dict(self.explanations),
            "deviation": {s: _num(v) for s, v in self.deviations.items()},
            "family_limit": _num(self.family_limit),
            "shop": {k: {kk: _num(vv) if isinstance(vv, float) else vv
                         for kk, vv in c.to_json().items()}
                     for k, c in self.shop_checks.items()},
            "levels": {
                "names": list(self.levels.get("names", [])),
                **{k: {s: [_num(x) for x in v] for s, v in self.levels.get(k, {}).items()}
                   for k in ("physical", "virtual")},
            },
            "agvs": None if self.transport is None else {
                **self.transport.to_json(),
                "per_agv": {a: _num(v) for a, v in self.per_agv.items()},
                "deviation": {a: _num(v) for a, v in self.agv_deviations.items()},
                "names": list(self.transport.names),
            },
        }


def evaluate(
    physical: Mapping[str, Sequence[float]],
    virtual: Mapping[str, Sequence[float]],
    thresholds: Mapping[str, Sequence[float]],
    overall_threshold: float,
    names: Sequence[str],
    *,
    summary_threshold: float | None = None,
) -> ConsistencyResult:
    """Apply the paper's rule to per-station characteristics with per-characteristic
    thresholds and score each station."""
    stations = list(physical)
    p = np.concatenate([np.asarray(physical[s], float) for s in stations])
    v = np.concatenate([np.asarray(virtual[s], float) for s in stations])
    t = np.concatenate([np.asarray(thresholds[s], float) for s in stations])
    delta = consistency_fraction(p, v, t)
    ratios = {
        s: deviation_ratios(physical[s], virtual[s], thresholds[s]) for s in stations
    }
    per_station = {
        s: score_from_ratio(float(r.max()) if r.size else 0.0) for s, r in ratios.items()
    }
    thr = float(np.median(t)) if summary_threshold is None else float(summary_threshold)
    return ConsistencyResult(
        delta=delta,
        threshold=thr,
        overall_threshold=float(overall_threshold),
        passed=delta >= overall_threshold,
        per_station=per_station,
        physical={s: [float(x) for x in physical[s]] for s in stations},
        virtual={s: [float(x) for x in virtual[s]] for s in stations},
        per_char_thresholds={s: [float(x) for x in thresholds[s]] for s in stations},
        names=list(names),
        ratios={s: [float(x) for x in r] for s, r in ratios.items()},
    )


def combine_scores(spatial: ConsistencyResult, temporal: ConsistencyResult) -> dict[str, float]:
    """Per-station score from both results: the behaviour feature that the spatial and the
    temporal net *together* find most inconsistent.

    When both results have the same characteristic names after their ``net:`` prefix
    (e.g. ``gcn:cycle_ratio`` and ``tcn:cycle_ratio``), a station's deviation is the
    largest over features of the mean of the two ratios — one net's noise alone does not
    flag a station, a departure both nets see does. Otherwise the geometric mean of the
    two scores.
    """
    strip = lambda names: [n.split(":", 1)[-1] for n in names]  # noqa: E731
    if spatial.names and strip(spatial.names) == strip(temporal.names):
        out = {}
        for s, rs in spatial.ratios.items():
            rt = temporal.ratios.get(s, rs)
            rho = max((a + b) / 2.0 for a, b in zip(rs, rt)) if rs else 0.0
            out[s] = score_from_ratio(rho)
        return out
    return {
        s: math.sqrt(v * temporal.per_station.get(s, 1.0)) for s, v in spatial.per_station.items()
    }


def _num(x: float) -> float | None:
    """JSON-safe float (NaN/inf -> None), rounded for readable output."""
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None
