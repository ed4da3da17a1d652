"""Model warehouse benchmark (issue 13): recommendation quality, latency, data efficiency.

1. Top-1 hit rate of f_predict (Transformer) on held-out synthetic migrations, beside the
   weighted-similarity baseline Σ w_p T_p and chance (1 / candidates).
2. Recommendation latency over 10,000 packages in an SQLite index: cold (first query
   after the index changed: rows read and parsed) and warm (candidate arrays cached).
   Target < 200 ms.
3. Data efficiency: PM test accuracy on the newest quarter of a machining13 recording,
   trained from scratch vs migrated from a machining8 PM and fine-tuned, on growing shares
   of the rest. Target: the migrated PM reaches the from-scratch-on-everything accuracy
   with ≤ 50 % of the data.

Usage: python benchmarks/bench_warehouse.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_hit_rate(quick: bool) -> None:
    from twin.warehouse.recommender import (
        TransformerRecommender, baseline_scores, synthetic_interactions, top1_hit_rate,
    )

    n_train, epochs = (400, 15) if quick else (1500, 60)
    q, t, c = synthetic_interactions(n_train, seed=1)
    qt, tt, ct = synthetic_interactions(300, seed=2)  # other targets, other model pool
    w0 = time.perf_counter()
    model = TransformerRecommender(epochs=epochs).fit(q, t, c)
    train_s = time.perf_counter() - w0
    tr = top1_hit_rate(model.scores, qt, tt, ct)
    bl = top1_hit_rate(baseline_scores, qt, tt, ct)
    print(f"[1] top-1 hit rate on 300 held-out synthetic migrations (6 candidates each; "
          f"trained on {n_train}, {epochs} epochs, lr 1e-4, {train_s:.0f} s)")
    print(f"    Transformer f_predict {tr:.3f}   similarity baseline {bl:.3f}   chance {1 / 6:.3f}   "
          f"ratio {tr / bl:.2f}x baseline")
    print(f"    loss {model.loss_curve_[0]:.3f} -> {model.loss_curve_[-1]:.3f}")


def bench_latency(quick: bool) -> None:
    import random

    from twin.warehouse.attributes import Descriptor
    from twin.warehouse.model import PackageMeta
    from twin.warehouse.recommender import (
        SHORTLIST, TransformerRecommender, random_descriptor, recommend, synthetic_interactions,
    )
    from twin.warehouse.store import INSERT, Warehouse, index_row
    from twin.workshop import load_workshop

    n = 10_000
    rng = random.Random(3)
    model = TransformerRecommender(epochs=1).fit(*synthetic_interactions(20, seed=1))
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "wh")
        w0 = time.perf_counter()
        rows = []
        for i in range(n):
            d = random_descriptor(rng, with_pm=True)
            attrs = {"GM": {"scale": {"area_m2": d.area_m2}}, "BM": {},
                     "LM": {"process": sorted(d.process_kinds), "assembly": {"mean_route_steps": d.mean_route_steps}},
                     "PM": {"accuracy": d.pm_accuracy, "input": sorted(d.pm_inputs)}}
            meta = PackageMeta(id=f"P{i:05d}", name=f"synthetic {i}", creator="bench", shop_type=d.shop_type,
                               size=d.size, station_types=d.station_types, attributes=attrs)
            rows.append(index_row(meta, Path(f"{meta.id}.aasx"), ""))
        with wh._db:
            wh._db.executemany(INSERT, rows)
        wh._generation += 1
        fill_s = time.perf_counter() - w0
        target = Descriptor.of_workshop(load_workshop(ROOT / "assets/workshops/machining13.toml"))
        w0 = time.perf_counter()
        recs = recommend(wh, (0.1, 0.1, 0.3, 0.5), target, model=model, top=5)
        cold = time.perf_counter() - w0
        warm = []
        for _ in range(3 if quick else 10):
            w0 = time.perf_counter()
            recommend(wh, (0.1, 0.1, 0.3, 0.5), target, model=model, top=5)
            warm.append(time.perf_counter() - w0)
        w0 = time.perf_counter()
        from twin.warehouse.attributes import similarity_scores, transferability

        table = wh.candidate_table()
        similarity_scores((0.1, 0.1, 0.3, 0.5), transferability(target, table))
        base = time.perf_counter() - w0
        w0 = time.perf_counter()
        recommend(wh, (0.1, 0.1, 0.3, 0.5), target, model=model, top=5, shortlist=n)
        full = time.perf_counter() - w0
        wh.close()
    print(f"[2] recommendation over {n:,} indexed packages (index filled in {fill_s:.1f} s; f_predict on the "
          f"baseline's best {SHORTLIST}): cold {cold * 1000:.0f} ms (index read), warm median "
          f"{np.median(warm) * 1000:.0f} ms (target < 200 ms); similarity baseline alone {base * 1000:.1f} ms; "
          f"f_predict on all {n:,} {full * 1000:.0f} ms; top: {recs[0].id}")


def bench_data_efficiency(quick: bool) -> None:
    import torch

    from twin.recording import open_recording
    from twin.sim_cli import simulate_to_recording
    from twin.warehouse.pm import FINE_TUNE, ThroughputPM, fine_tune, recording_samples
    from twin.workshop import load_workshop

    hours_src, hours_tgt, seeds = (16.0, 16.0, (0, 1)) if quick else (32.0, 32.0, (0, 1, 2, 3))
    with tempfile.TemporaryDirectory() as tmp:
        src_rec, tgt_rec = Path(tmp) / "m8.twinlog", Path(tmp) / "m13.twinlog"
        simulate_to_recording(load_workshop(ROOT / "assets/workshops/machining8.toml"), src_rec, hours=hours_src, seed=21)
        simulate_to_recording(load_workshop(ROOT / "assets/workshops/machining13.toml"), tgt_rec, hours=hours_tgt, seed=22)
        with open_recording(src_rec) as r:
            src = recording_samples(r)
        with open_recording(tgt_rec) as r:
            tgt = recording_samples(r)
    torch.set_num_threads(1)
    source_pm = ThroughputPM(seed=0).fit(src)
    n_test = len(tgt) // 4
    test, train = tgt.tail(n_test), tgt.head(len(tgt) - n_test)
    print(f"[3] data efficiency: PM test accuracy (mean TA) on the newest {n_test} samples of machining13 "
          f"({hours_tgt:.0f} h); source PM from machining8 ({hours_src:.0f} h, {len(src)} samples); "
          f"mean of {len(seeds)} seeds")
    print(f"    source PM without fine-tuning: {source_pm.score(test):.3f}")
    print("    share  samples  from scratch  migrated+fine-tuned  migrate (validated: fine-tune kept if better)")
    curve = []
    for share in (0.1, 0.25, 0.5, 0.75, 1.0):
        k = max(int(len(train) * share), 2)
        part = train.tail(k)
        scratch = float(np.mean([ThroughputPM(seed=s).fit(part).score(test) for s in seeds]))
        migrated = float(np.mean([ThroughputPM(seed=s, **FINE_TUNE).fit(part, init_from=source_pm).score(test)
                                  for s in seeds]))
        validated = float(np.mean([fine_tune(source_pm, part, seed=s)[0].score(test) for s in seeds]))
        curve.append((share, scratch, migrated, validated))
        print(f"    {share:5.0%}  {k:7d}  {scratch:12.3f}  {migrated:19.3f}  {validated:10.3f}")
    full = curve[-1][1]
    for label, col in (("migrated+fine-tuned", 2), ("migrate (validated)", 3)):
        reach = next((c[0] for c in curve if c[col] >= full), None)
        print(f"    from scratch on all data {full:.3f}; {label} reaches it with "
              f"{'— (never)' if reach is None else f'{reach:.0%}'} of the data (target <= 50 %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller training sets and fewer repeats")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    bench_latency(args.quick)
    bench_data_efficiency(args.quick)
    bench_hit_rate(args.quick)


if __name__ == "__main__":
    main()
