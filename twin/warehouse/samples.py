"""The bundled sample warehouse: the paper's models B–F (Table 3) and a trained f_predict.

``build_samples(out)`` regenerates ``assets/warehouse/`` reproducibly (fixed seeds) with the
project's own tooling: each model's workshop is simulated (fixed seed and dispatching
rule) for a short shift, its PM (the production-progress LSTM,
:class:`~twin.warehouse.progress_pm.ProgressPM`) is trained on that recording, and the package is written
as AASX. The recordings themselves are not shipped (only what the models learnt from
them), so the samples stay small. f_predict is trained on the synthetic bootstrap history
(:func:`synthetic_interactions`) and saved next to them.

    python main.py warehouse build-samples [--out assets/warehouse] [--quick]
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twin.warehouse.aasx import write_package
from twin.warehouse.parts import build_package
from twin.warehouse.progress_pm import PACKAGE_PARAMS, ProgressPM, progress_samples

WORKSHOPS_DIR = Path(__file__).resolve().parents[2] / "assets" / "workshops"


@dataclass(frozen=True)
class Sample:
    """One bundled model: Table 3's number, the workshop it models, simulation settings."""

    number: str
    workshop: str
    seed: int
    rule: str
    position: str


SAMPLES: tuple[Sample, ...] = (
    Sample("B", "machining8", 11, "fifo", "plant 1, hall A"),
    Sample("C", "machining8", 12, "spt", "plant 2, hall C"),
    Sample("D", "assembly4", 13, "fifo", "plant 1, hall B"),
    Sample("E", "assembly4", 14, "spt", "plant 3, hall A"),
    Sample("F", "assembly8", 15, "fifo", "plant 2, hall B"),
)
#: Simulated shift per sample [h]; PM training samples grow with it.
HOURS = 16.0
#: Synthetic bootstrap for the bundled f_predict: queries, epochs.
BOOTSTRAP_QUERIES, BOOTSTRAP_EPOCHS = 1200, 40


def build_samples(out: Path, *, hours: float = HOURS, queries: int = BOOTSTRAP_QUERIES,
                  epochs: int = BOOTSTRAP_EPOCHS, log: Callable[[str], None] = print) -> list[Path]:
    """Write ``out/packages/<B..F>.aasx`` and ``out/recommender.*``; returns the packages."""
    import torch

    from twin.recording import open_recording
    from twin.sim_cli import simulate_to_recording
    from twin.warehouse.recommender import TransformerRecommender, synthetic_interactions, top1_hit_rate
    from twin.workshop import load_workshop

    torch.set_num_threads(1)  # the same bytes on every machine
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in SAMPLES:
            ws = load_workshop(WORKSHOPS_DIR / f"{s.workshop}.toml")
            rec_path = Path(tmp) / f"{s.number}.twinlog"
            simulate_to_recording(ws, rec_path, hours=hours, seed=s.seed, rule=s.rule)
            with open_recording(rec_path) as rec:
                data = progress_samples(rec, ws)
                n_test = max(len(data) // 4, 1)
                pm = ProgressPM(seed=s.seed, **PACKAGE_PARAMS).fit(data.head(len(data) - n_test))
                acc = pm.score(data.tail(n_test))
                pkg = build_package(
                    ws, package_id=s.number, name=f"Model {s.number}: {ws.title}", creator="DMW Twin samples",
                    number=s.number, position=s.position, pm=pm, pm_accuracy=acc, rec=rec, rule=s.rule,
                    provenance={"tool": "dmw-twin warehouse build-samples", "version": "2",
                                "recording": {"hours": hours, "seed": s.seed, "rule": s.rule, "simulated": True}},
                )
            path = out / "packages" / f"{s.number}.aasx"
            write_package(pkg, path)
            written.append(path)
            log(f"model {s.number}: {ws.name}, {len(data)} PM samples, PM accuracy {acc:.3f} -> {path}")
        q, tables, chosen = synthetic_interactions(queries, seed=1)
        model = TransformerRecommender(epochs=epochs).fit(q, tables, chosen)
        hit = top1_hit_rate(model.scores, q, tables, chosen)
        model.save(out / "recommender", {"synthetic_queries": queries, "seed": 1, "epochs": epochs,
                                         "train_top1": round(hit, 4)})
        log(f"f_predict: {queries} synthetic migrations, {epochs} epochs, train top-1 {hit:.3f} -> {out / 'recommender'}")
    return written
