"""Per-part attributes of a DT model (the paper's Table 2) and transferability between two.

``workshop_attributes(ws)`` reads the unique attributes of GM, BM and LM from a workshop:

* GM — assembly (station type -> count), material (the part families handled), scale
  (floor width x depth [m], area [m²]), mass (nominal equipment mass [kg], from
  :data:`NOMINAL_MASS_KG`, an estimate per machine type);
* BM — part (the equipment that has a state machine), rule (dispatching), action (the
  states of the state machines);
* LM — part (products), assembly (mean operations per route), process (process kinds:
  ``turn_flange`` -> ``turn``).

The PM's (input, output, accuracy) come from the trained PM (:mod:`twin.warehouse.pm`).

The transferability of a part from a packaged model to a target is the similarity of these
unique attributes, each in [0, 1] (the paper: "obtained by calculating the difference of
unique attributes"); the weighted-similarity baseline is Σ_p w_p · T_p. The functions work
on :class:`CandidateTable` arrays so that 10,000 indexed packages score in milliseconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.events import STATES
from twin.warehouse.model import PARTS
from twin.workshop import STATION_TYPES, Workshop

#: Station types that make a shop a machining shop, resp. an assembly shop.
MACHINING_TYPES = frozenset({"lathe", "machining_centre", "drill", "grinder", "deburring", "washer"})
ASSEMBLY_TYPES = frozenset({"assembly", "press", "screwing", "testing", "packing"})
#: Nominal machine mass per station type [kg] (order of magnitude of catalogue machines;
#: an estimate used only to compare the scale of two shops).
NOMINAL_MASS_KG: dict[str, float] = {
    "lathe": 6000, "machining_centre": 9000, "drill": 2500, "grinder": 5000, "deburring": 1500,
    "washer": 2000, "inspection": 1800, "assembly": 800, "press": 3000, "screwing": 600,
    "testing": 1200, "packing": 900,
}
#: Vocabulary of station-type columns of a CandidateTable (unknown types count as "other").
TYPE_VOCAB: tuple[str, ...] = (*STATION_TYPES, "other")


def shop_type(types: Mapping[str, int]) -> str:
    """``machining`` or ``assembly``: the kind most of the stations belong to."""
    m = sum(n for t, n in types.items() if t in MACHINING_TYPES)
    a = sum(n for t, n in types.items() if t in ASSEMBLY_TYPES)
    return "assembly" if a > m else "machining"


def process_kind(process: str) -> str:
    """The kind of a process: its name up to the first ``_`` (``drill_flange`` -> ``drill``)."""
    return process.split("_", 1)[0]


def station_type_counts(ws: Workshop) -> dict[str, int]:
    return dict(sorted(Counter(s.type for s in ws.stations.values()).items()))


def workshop_attributes(ws: Workshop, rule: str = "fifo") -> dict[str, dict[str, Any]]:
    """GM, BM and LM attributes of ``ws`` (PM is added by whoever trains the PM)."""
    types = station_type_counts(ws)
    w, d = ws.floor if ws.floor != (0.0, 0.0) else _extent(ws)
    routes = [len(p.route) for p in ws.products.values()]
    processes = sorted({process_kind(p) for s in ws.stations.values() for p in s.processes})
    equipment = sorted(types) + (["agv"] if ws.agvs else []) + (["storage"] if ws.buffers else [])
    return {
        "GM": {
            "assembly": types,
            "material": sorted(ws.products),
            "scale": {"floor_m": [round(w, 3), round(d, 3)], "area_m2": round(w * d, 3)},
            "mass": {"equipment_kg": float(sum(NOMINAL_MASS_KG.get(t, 1000.0) * n for t, n in types.items()))},
        },
        "BM": {
            "part": equipment,
            "rule": rule,
            "action": {k: list(v) for k, v in STATES.items() if k in ("station", "agv")},
        },
        "LM": {
            "part": sorted(ws.products),
            "assembly": {"mean_route_steps": round(float(np.mean(routes)) if routes else 0.0, 3)},
            "process": processes,
        },
    }


def _extent(ws: Workshop) -> tuple[float, float]:
    x0, y0, x1, y1 = ws.bounds()
    return max(x1 - x0, 1.0), max(y1 - y0, 1.0)


# ------------------------------------------------------------------------------------
# descriptors and transferability
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    """What transferability compares, of a target shop or a packaged model."""

    shop_type: str
    size: int
    station_types: dict[str, int]
    area_m2: float
    process_kinds: frozenset[str]
    mean_route_steps: float
    pm_accuracy: float = 0.0
    pm_inputs: frozenset[str] = frozenset()

    @classmethod
    def from_attributes(cls, shop: str, size: int, station_types: Mapping[str, int],
                        attributes: Mapping[str, Mapping[str, Any]]) -> Descriptor:
        gm, lm = attributes["GM"], attributes["LM"]
        pm = attributes.get("PM") or {}
        return cls(
            shop_type=shop, size=int(size), station_types=dict(station_types),
            area_m2=float(gm["scale"]["area_m2"]),
            process_kinds=frozenset(lm["process"]),
            mean_route_steps=float(lm["assembly"]["mean_route_steps"]),
            pm_accuracy=float(pm.get("accuracy") or 0.0),
            pm_inputs=frozenset(pm.get("input") or ()),
        )

    @classmethod
    def of_workshop(cls, ws: Workshop) -> Descriptor:
        types = station_type_counts(ws)
        return cls.from_attributes(shop_type(types), len(ws.stations), types, workshop_attributes(ws))


def type_vector(types: Mapping[str, int]) -> np.ndarray:
    """Station-type counts as a vector over :data:`TYPE_VOCAB`."""
    v = np.zeros(len(TYPE_VOCAB))
    for t, n in types.items():
        v[TYPE_VOCAB.index(t) if t in TYPE_VOCAB else -1] += n
    return v


@dataclass
class CandidateTable:
    """Packages as arrays (one row each) for vectorised scoring.

    ``types`` (n, len(TYPE_VOCAB)) station counts; ``procs`` (n, len(proc_vocab)) 0/1;
    ``area`` m², ``route`` mean steps, ``size`` stations, ``accuracy`` PM accuracy,
    ``inputs_ok`` share of the standard PM inputs the package's PM takes, ``machining``
    1 for machining shops.
    """

    ids: list[str]
    types: np.ndarray
    procs: np.ndarray
    proc_vocab: dict[str, int]
    area: np.ndarray
    route: np.ndarray
    size: np.ndarray
    accuracy: np.ndarray
    inputs: list[frozenset[str]]
    machining: np.ndarray

    @classmethod
    def build(cls, ids: Sequence[str], descs: Sequence[Descriptor]) -> CandidateTable:
        vocab: dict[str, int] = {}
        for d in descs:
            for k in sorted(d.process_kinds):
                vocab.setdefault(k, len(vocab))
        procs = np.zeros((len(descs), max(len(vocab), 1)))
        for i, d in enumerate(descs):
            for k in d.process_kinds:
                procs[i, vocab[k]] = 1.0
        return cls(
            ids=list(ids),
            types=np.array([type_vector(d.station_types) for d in descs]).reshape(len(descs), len(TYPE_VOCAB)),
            procs=procs, proc_vocab=vocab,
            area=np.array([d.area_m2 for d in descs], dtype=float),
            route=np.array([d.mean_route_steps for d in descs], dtype=float),
            size=np.array([d.size for d in descs], dtype=float),
            accuracy=np.array([d.pm_accuracy for d in descs], dtype=float),
            inputs=[d.pm_inputs for d in descs],
            machining=np.array([d.shop_type == "machining" for d in descs], dtype=float),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, rows: np.ndarray) -> CandidateTable:
        """The table of the given rows (same process vocabulary)."""
        return CandidateTable(
            ids=[self.ids[i] for i in rows], types=self.types[rows], procs=self.procs[rows],
            proc_vocab=self.proc_vocab, area=self.area[rows], route=self.route[rows], size=self.size[rows],
            accuracy=self.accuracy[rows], inputs=[self.inputs[i] for i in rows], machining=self.machining[rows])


def _ratio(a: np.ndarray | float, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    hi = np.maximum(a, b)
    return np.where(hi > 0, np.minimum(a, b) / np.where(hi > 0, hi, 1.0), 1.0)


def transferability(target: Descriptor, table: CandidateTable) -> np.ndarray:
    """(n, 4) transferability of GM, BM, LM, PM of every candidate to ``target``, in [0, 1].

    * GM: 0.6 × weighted Jaccard of station-type counts + 0.4 × area ratio (min/max);
    * BM: share of the target's stations whose type has a state machine in the candidate;
    * LM: 0.7 × Jaccard of process kinds + 0.3 × ratio of mean route lengths;
    * PM: the candidate PM's accuracy × (0.5 + 0.5 × size ratio) × share of inputs it takes.
    """
    n = len(table)
    tv = type_vector(target.station_types)
    wj_num = np.minimum(table.types, tv).sum(axis=1)
    wj_den = np.maximum(table.types, tv).sum(axis=1)
    gm = 0.6 * np.where(wj_den > 0, wj_num / np.where(wj_den > 0, wj_den, 1), 0) + 0.4 * _ratio(target.area_m2, table.area)
    covered = (table.types > 0).astype(float) @ tv
    bm = covered / max(tv.sum(), 1.0)
    tp = np.zeros(table.procs.shape[1])
    extra = 0
    for k in target.process_kinds:
        if k in table.proc_vocab:
            tp[table.proc_vocab[k]] = 1.0
        else:
            extra += 1  # a process kind no candidate has: in every union, no intersection
    inter = table.procs @ tp
    union = table.procs.sum(axis=1) + tp.sum() + extra - inter
    lm = 0.7 * np.where(union > 0, inter / np.where(union > 0, union, 1), 0) + 0.3 * _ratio(target.mean_route_steps, table.route)
    want = target.pm_inputs
    inputs_ok = np.array([len(want & have) / len(want) if want else (1.0 if have else 0.0)
                          for have in table.inputs]) if n else np.zeros(0)
    pm = table.accuracy * (0.5 + 0.5 * _ratio(float(target.size), table.size)) * inputs_ok
    return np.clip(np.stack([gm, bm, lm, pm], axis=1), 0.0, 1.0).reshape(n, len(PARTS))


def similarity_scores(weights: Sequence[float], T: np.ndarray) -> np.ndarray:
    """The transparent baseline: Σ_p w_p · T_p per candidate (weights normalised to sum 1)."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum() if w.sum() > 0 else np.full(len(PARTS), 0.25)
    return np.asarray(T @ w)
