"""f_predict: which package to migrate from, for a modeling requirement (paper 4.1, 5.1).

:class:`TransformerRecommender` is a small Transformer encoder (the paper's Table 5: 2
layers, 2 heads, learning rate 1e-4) over one sequence per (requirement, candidate) pair:

* requirement tokens — one per part (GM, BM, LM, PM) carrying its weight, the target's
  shop type, its size (stations) and its station-type mix;
* package tokens — the candidate's shop type, size, station-type mix and one token per part
  carrying that part's transferability T_p to the target (:func:`attributes.transferability`);
* a read-out token whose output is the candidate's score. Scores are turned into selection
  probabilities with a softmax over the candidates (trained listwise: cross-entropy of the
  chosen package among those offered, from the interaction matrix of past migrations).

:func:`similarity_scores` (Σ w_p T_p) is the transparent baseline beside it.

:func:`synthetic_interactions` is the documented bootstrap history used before a warehouse
has migrations of its own (see docs/warehouse.md for the engineer model it simulates).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.training import adam_epochs, reshuffled
from twin.warehouse.attributes import (
    ASSEMBLY_TYPES, MACHINING_TYPES, TYPE_VOCAB, CandidateTable, Descriptor, similarity_scores, transferability,
    type_vector,
)
from twin.warehouse.model import PARTS

KIND = "dt4m-transformer"
#: Paper, Table 5.
LAYERS, HEADS, LR = 2, 2, 1e-4


@dataclass(frozen=True)
class Query:
    """One recommendation question: requirement weights (GM, BM, LM, PM) and the target."""

    weights: tuple[float, float, float, float]
    target: Descriptor


def parse_requirement(text: str) -> tuple[float, float, float, float]:
    """``"0.1,0.1,0.3,0.5"`` (or ``0.1-0.1-0.3-0.5``) -> weights; ValueError if not 4
    non-negative numbers with a positive sum."""
    parts = [p for p in text.replace("-", ",").replace(" ", ",").split(",") if p]
    try:
        w = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"requirement {text!r}: expected 4 numbers GM,BM,LM,PM like 0.1,0.1,0.3,0.5") from None
    if len(w) != 4 or any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"requirement {text!r}: expected 4 non-negative weights GM,BM,LM,PM with a positive sum")
    s = sum(w)
    return (w[0] / s, w[1] / s, w[2] / s, w[3] / s)


def _features(q: Query, table: CandidateTable, T: np.ndarray) -> dict[str, np.ndarray]:
    n = len(table)
    tv = type_vector(q.target.station_types)
    tv = tv / max(tv.sum(), 1.0)
    ct = table.types / np.maximum(table.types.sum(axis=1, keepdims=True), 1.0)
    return {
        "w": np.tile(np.asarray(q.weights, dtype=np.float32), (n, 1)),
        "t_shop": np.full(n, 1.0 if q.target.shop_type == "machining" else 0.0, dtype=np.float32),
        "t_size": np.full(n, math.log1p(q.target.size) / 3.0, dtype=np.float32),
        "t_types": np.tile(tv.astype(np.float32), (n, 1)),
        "c_shop": table.machining.astype(np.float32),
        "c_size": (np.log1p(table.size) / 3.0).astype(np.float32),
        "c_types": ct.astype(np.float32),
        "T": T.astype(np.float32),
    }


def _net(d_model: int, layers: int, heads: int) -> Any:
    import torch
    from torch import nn

    class FPredict(nn.Module):
        """Tokens: [read-out, 4 x weight, shop, size, mix | shop, size, mix, 4 x T]."""

        def __init__(self) -> None:
            super().__init__()
            nv = len(TYPE_VOCAB)
            self.readout = nn.Parameter(torch.zeros(1, 1, d_model))
            self.part = nn.Parameter(torch.randn(2, len(PARTS), d_model) * 0.1)  # [requirement, package]
            self.segment = nn.Parameter(torch.randn(2, 1, d_model) * 0.1)
            self.scalar = nn.Linear(1, d_model)
            self.shop = nn.Linear(1, d_model)
            self.size = nn.Linear(1, d_model)
            self.mix = nn.Linear(nv, d_model)
            layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model, dropout=0.0,
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Linear(d_model, 1)

        def forward(self, f: dict[str, torch.Tensor]) -> torch.Tensor:
            n = f["w"].shape[0]
            w = self.scalar(f["w"][:, :, None]) + self.part[0]
            req = torch.cat([w, self.shop(f["t_shop"][:, None, None]), self.size(f["t_size"][:, None, None]),
                             self.mix(f["t_types"])[:, None]], dim=1) + self.segment[0]
            t = self.scalar(f["T"][:, :, None]) + self.part[1]
            pkg = torch.cat([self.shop(f["c_shop"][:, None, None]), self.size(f["c_size"][:, None, None]),
                             self.mix(f["c_types"])[:, None], t], dim=1) + self.segment[1]
            x = torch.cat([self.readout.expand(n, 1, -1), req, pkg], dim=1)
            return self.head(self.encoder(x)[:, 0])[:, 0]

    return FPredict()


class TransformerRecommender:
    """f_predict. ``d_model`` token width; ``layers`` / ``heads`` / ``lr`` as the paper;
    ``epochs`` passes over the interactions (the paper allows up to 1000)."""

    def __init__(self, d_model: int = 32, layers: int = LAYERS, heads: int = HEADS, lr: float = LR,
                 epochs: int = 200, batch_queries: int = 32, seed: int = 0) -> None:
        self.d_model = d_model
        self.layers = layers
        self.heads = heads
        self.lr = lr
        self.epochs = epochs
        self.batch_queries = batch_queries
        self.seed = seed

    def fit(self, queries: Sequence[Query], tables: Sequence[CandidateTable], chosen: Sequence[int]
            ) -> TransformerRecommender:
        """Learn from past choices: ``chosen[i]`` is the row of ``tables[i]`` picked for
        ``queries[i]``. Records ``loss_curve_`` (mean cross-entropy per epoch)."""
        import torch

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        net = _net(self.d_model, self.layers, self.heads)
        feats = [{k: torch.from_numpy(v) for k, v in _features(q, t, transferability(q.target, t)).items()}
                 for q, t in zip(queries, tables, strict=True)]

        def loss(idx: np.ndarray | None) -> torch.Tensor:
            """Mean cross-entropy of the choices in the queries ``idx``."""
            assert idx is not None
            batch = {k: torch.cat([feats[i][k] for i in idx]) for k in feats[0]}
            logits = net(batch)
            sizes = [len(tables[i]) for i in idx]
            target = torch.tensor([chosen[i] for i in idx])
            if len(set(sizes)) == 1:  # the usual case: one (queries, candidates) matrix
                return torch.nn.functional.cross_entropy(logits.view(len(idx), sizes[0]), target)
            parts = torch.split(logits, sizes)
            return sum(torch.nn.functional.cross_entropy(p[None], target[j:j + 1])
                       for j, p in enumerate(parts)) / len(idx)

        self.loss_curve_: list[float] = list(adam_epochs(
            net.parameters(), loss, self.epochs, lr=self.lr, batch_size=self.batch_queries,
            orders=reshuffled(rng, len(feats))))
        self.net_ = net.eval()
        return self

    def scores(self, q: Query, table: CandidateTable, T: np.ndarray | None = None) -> np.ndarray:
        """Score (logit) of every candidate; higher = more likely to be chosen."""
        import torch

        if len(table) == 0:
            return np.zeros(0)
        T = transferability(q.target, table) if T is None else T
        f = {k: torch.from_numpy(v) for k, v in _features(q, table, T).items()}
        with torch.inference_mode():
            return self.net_(f).numpy().astype(float)

    # -- storage through the model store ---------------------------------------------
    def save(self, path: str | Path, trained_on: dict[str, Any]) -> str:
        from twin.modelstore import save_model

        config = {"kind": KIND, "d_model": self.d_model, "layers": self.layers, "heads": self.heads,
                  "lr": self.lr, "epochs": self.epochs, "type_vocab": list(TYPE_VOCAB), "trained_on": trained_on}
        return save_model(path, dict(self.net_.state_dict()), config)

    @classmethod
    def load(cls, path: str | Path) -> TransformerRecommender:
        """Load a saved recommender (checked by the model store); ModelFileError if it is
        damaged or not one."""
        from twin.modelstore import ModelFileError, load_model

        tensors, meta = load_model(path, expect={"kind": KIND})
        if meta.get("type_vocab") != list(TYPE_VOCAB):
            raise ModelFileError(f"{path}: trained for other station types; retrain it (warehouse train)")
        rec = cls(d_model=int(meta["d_model"]), layers=int(meta["layers"]), heads=int(meta["heads"]),
                  lr=float(meta["lr"]), epochs=int(meta["epochs"]))
        net = _net(rec.d_model, rec.layers, rec.heads)
        try:
            net.load_state_dict(tensors)
        except RuntimeError as exc:
            raise ModelFileError(f"{path}: weights do not fit the configured net ({exc})") from exc
        rec.net_ = net.eval()
        return rec


def softmax(x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return x
    e = np.exp(x - x.max())
    return np.asarray(e / e.sum())


# ------------------------------------------------------------------------------------
# synthetic bootstrap history
# ------------------------------------------------------------------------------------

_KIND_OF = {"lathe": "turn", "machining_centre": "mill", "drill": "drill", "grinder": "grind",
            "deburring": "deburr", "washer": "wash", "inspection": "inspect", "assembly": "assemble",
            "press": "press", "screwing": "screw", "testing": "test", "packing": "pack"}


def random_descriptor(rng: random.Random, *, with_pm: bool) -> Descriptor:
    """A plausible shop: type, 3–20 stations drawn from that type's machines (+ inspection),
    ~40–80 m² per station, 3–6 operations per route, PM accuracy 0.6–0.95."""
    shop = rng.choice(("machining", "assembly"))
    pool = sorted(MACHINING_TYPES if shop == "machining" else ASSEMBLY_TYPES) + ["inspection"]
    kinds_used = rng.sample(pool, rng.randint(3, len(pool)))
    size = rng.randint(max(3, len(kinds_used)), 20)
    counts = {t: 1 for t in kinds_used}
    for _ in range(size - len(kinds_used)):
        t = rng.choice(kinds_used)
        counts[t] += 1
    if rng.random() < 0.15:  # a mixed shop: a few machines of the other kind
        other = rng.choice(sorted(ASSEMBLY_TYPES if shop == "machining" else MACHINING_TYPES))
        counts[other] = counts.get(other, 0) + 1
        size += 1
    return Descriptor(
        shop_type=shop, size=size, station_types=dict(sorted(counts.items())),
        area_m2=size * rng.uniform(40, 80), process_kinds=frozenset(_KIND_OF[t] for t in counts),
        mean_route_steps=rng.uniform(3, 6),
        pm_accuracy=rng.uniform(0.6, 0.95) if with_pm else 0.0,
        pm_inputs=frozenset({"throughput_per_station_h", "wip_per_station"}) if with_pm else frozenset(),
    )


def random_weights(rng: random.Random) -> tuple[float, float, float, float]:
    """GM, BM, LM, PM weights on the paper's 0.1 grid, each ≥ 0.1, summing to 1."""
    cuts = sorted(rng.sample(range(1, 7), 3))
    parts = [cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1], 7 - cuts[2]]
    rng.shuffle(parts)
    w = [0.1 + 0.1 * (p - 1) for p in parts]
    w = [x + (1.0 - sum(w)) / 4 for x in w]
    return (round(w[0], 3), round(w[1], 3), round(w[2], 3), round(w[3], 3))


def engineer_utility(weights: Sequence[float], T: np.ndarray, same_type: np.ndarray,
                     rng: np.random.Generator, noise: float = 0.03) -> np.ndarray:
    """The simulated engineer's preference behind the synthetic choices: a part is worth
    its weight times T_p² (a half-fitting part saves less than half the work), a model of
    the same shop type is worth 0.3 × (w_LM + w_PM) more (its logic and performance model
    carry over), plus noise."""
    w = np.asarray(weights)
    return (T ** 2) @ w + 0.3 * same_type * (w[2] + w[3]) + rng.normal(0, noise, len(T))


def synthetic_interactions(n_queries: int, *, candidates: int = 6, pool: int = 60, seed: int = 0
                           ) -> tuple[list[Query], list[CandidateTable], list[int]]:
    """``n_queries`` past migrations: a random target shop and requirement, ``candidates``
    packages drawn from a pool of ``pool`` random packaged models, and the one the simulated
    engineer (:func:`engineer_utility`) chose."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    models = [random_descriptor(rng, with_pm=True) for _ in range(pool)]
    queries, tables, chosen = [], [], []
    for _ in range(n_queries):
        target = random_descriptor(rng, with_pm=False)
        q = Query(random_weights(rng), target)
        picks = rng.sample(range(pool), candidates)
        table = CandidateTable.build([f"S{i}" for i in picks], [models[i] for i in picks])
        T = transferability(target, table)
        same = (table.machining == (1.0 if target.shop_type == "machining" else 0.0)).astype(float)
        chosen.append(int(np.argmax(engineer_utility(q.weights, T, same, nrng))))
        queries.append(q)
        tables.append(table)
    return queries, tables, chosen


def top1_hit_rate(score_fn: Any, queries: Sequence[Query], tables: Sequence[CandidateTable],
                  chosen: Sequence[int]) -> float:
    """Share of queries whose highest-scored candidate is the one chosen."""
    hits = [int(np.argmax(score_fn(q, t))) == c for q, t, c in zip(queries, tables, chosen, strict=True)]
    return float(np.mean(hits)) if hits else 0.0


def baseline_scores(q: Query, table: CandidateTable) -> np.ndarray:
    return similarity_scores(q.weights, transferability(q.target, table))


# ------------------------------------------------------------------------------------
# recommending from a warehouse
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    """One candidate: f_predict's selection ``probability`` (softmax over the warehouse)
    and raw ``score``, the similarity ``baseline`` Σ w_p T_p, and the four per-part
    transferabilities ``transfer`` (why this one)."""

    id: str
    name: str
    shop_type: str
    size: int
    probability: float
    score: float
    baseline: float
    transfer: dict[str, float]


def bundled_recommender_path() -> Path:
    from twin.warehouse.store import SAMPLES_DIR

    return SAMPLES_DIR / "recommender"


def load_recommender(warehouse: Any) -> TransformerRecommender:
    """The warehouse's own trained f_predict if it has one, else the bundled one."""
    from twin.modelstore import model_paths

    own = warehouse.recommender_path
    return TransformerRecommender.load(own if model_paths(own)[1].exists() else bundled_recommender_path())


#: f_predict scores the best this-many candidates of the similarity baseline (a cheap,
#: vectorised shortlist), so a recommendation over 10,000 packages stays interactive.
SHORTLIST = 200


def recommend(warehouse: Any, weights: Sequence[float], target: Descriptor,
              model: TransformerRecommender | None = None, top: int | None = None,
              shortlist: int = SHORTLIST) -> list[Recommendation]:
    """Rank the indexed packages for ``target`` and requirement ``weights`` (index only).

    Every package gets its transferabilities and baseline score; the ``shortlist`` best by
    the baseline are scored by f_predict, whose softmax over them is the selection
    probability. Returns the shortlist (or ``top`` of it) in f_predict's order."""
    table = warehouse.candidate_table()
    if len(table) == 0:
        return []
    model = model or load_recommender(warehouse)
    q = Query((float(weights[0]), float(weights[1]), float(weights[2]), float(weights[3])), target)
    T = transferability(target, table)
    b = similarity_scores(q.weights, T)
    keep = np.sort(np.argsort(-b, kind="stable")[:shortlist])
    sub = table.subset(keep)
    s = model.scores(q, sub, T[keep])
    p = softmax(s)
    order = np.argsort(-s, kind="stable")[: top or len(keep)]
    out = []
    for i in order:
        entry = warehouse.get(sub.ids[i])
        out.append(Recommendation(entry.id, entry.meta.name, entry.meta.shop_type, entry.meta.size,
                                  float(p[i]), float(s[i]), float(b[keep[i]]),
                                  {part: round(float(T[keep[i], j]), 4) for j, part in enumerate(PARTS)}))
    return out
