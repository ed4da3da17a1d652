"""When and how well does the PM evolve? Our trigger vs ADWIN / Page-Hinkley, evolved vs not.

    python benchmarks/bench_evolution.py            # 6 drift seeds + 6 controls, 3 training shifts
    python benchmarks/bench_evolution.py --quick    # 5 + 5, 2 training shifts

machining13, 24 h shifts. The un-evolved PM (LSTM) is fitted on no-drift shifts (other
seeds). Drift runs: ``degradation`` from hour 4 — odd seeds S13 (inspection) at +0.5/h,
even seeds S12 + S13 (washer + inspection) at +0.3/h each; controls: the same seeds with
no disturbance (common random numbers: identical until hour 4).

1. Detection: each run's TA stream (30-min batches of the un-evolved PM) goes through our
   trigger (linear trend + one-sided p < 0.01 + floor 0.6, defaults), river's ADWIN
   (``clock=1``: checks after every point, so its delay is not rounded up to 32 points;
   ``grace_period=4``) and PageHinkley (``mode="down"``: a fall of TA; threshold 1.0 TA,
   delta 0.05, min_instances 4). Delay after onset over caught drifts, missed rate, false
   alarms (any detection before onset or on a control) per run.
2. Update: on 3 test sets after the first trigger, the un-evolved PM, the evolved PM
   (AdaBoost update at every trigger) and the simple baseline "retrain a fresh LSTM on the
   recent 2 h at every trigger" — MAE / RMSE / SMAPE / R² (parts per hour).
3. Times on CPU: fitting the PM on one 24 h history; one evolution update.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.evolution.features import progress_frame  # noqa: E402
from twin.evolution.history import degradation, evaluate_history, predictions_of, simulate_shift  # noqa: E402
from twin.evolution.live import EvolutionMonitor, replay  # noqa: E402
from twin.evolution.model import ProgressLSTM, training_set  # noqa: E402
from twin.evolution.trend import EvolutionTrigger, run_trigger  # noqa: E402
from twin.recording import open_recording  # noqa: E402
from twin.workshop import load_workshop  # noqa: E402

H = 3600.0
ONSET_H = 4.0


def drift_of(seed: int) -> list:
    if seed % 2:
        return degradation(["S13"], 0.5, ONSET_H)
    return degradation(["S12", "S13"], 0.3, ONSET_H)


def detect_river(stream: list[tuple[float, float]], make) -> list[float]:
    det = make()
    out = []
    for t, ta in stream:
        det.update(ta)
        if det.drift_detected:
            out.append(t)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--hours", type=float, default=24.0)
    args = ap.parse_args()
    n_runs, n_train = (5, 2) if args.quick else (6, 3)
    from river.drift import ADWIN, PageHinkley

    ws = load_workshop(ROOT / "assets" / "workshops" / "machining13.toml")
    tmp = Path(tempfile.mkdtemp(prefix="bench-evolution-"))
    w0 = time.perf_counter()
    train = [progress_frame(open_recording(simulate_shift(ws, tmp / f"train{i}.twinlog", hours=args.hours,
                                                          seed=100 + i))) for i in range(n_train)]
    t0 = time.perf_counter()
    ProgressLSTM().fit(*training_set(train[:1], 12))
    fit_one_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pm = ProgressLSTM().fit(*training_set(train, 12))
    fit_all_s = time.perf_counter() - t0
    print(f"PM: LSTM fitted on {n_train} x {args.hours:g} h no-drift shifts in {fit_all_s:.1f} s "
          f"(one 24 h history: {fit_one_s:.1f} s)")

    detectors = {
        "ours (linear trend)": lambda s: [e.t for e in run_trigger(s, EvolutionTrigger())],
        "ADWIN (clock=1)": lambda s: detect_river(s, lambda: ADWIN(clock=1, grace_period=4)),
        "PageHinkley (down)": lambda s: detect_river(s, lambda: PageHinkley(
            min_instances=4, delta=0.05, threshold=1.0, mode="down")),
    }
    det: dict[str, dict[str, list]] = {k: {"delay": [], "missed": [], "fa_drift": [], "fa_ctl": []} for k in detectors}
    rows: dict[str, list[list[dict]]] = {"un-evolved": [], "evolved": [], "retrain": []}
    update_s: list[float] = []
    for seed in range(1, n_runs + 1):
        for kind in ("drift", "control"):
            dist = drift_of(seed) if kind == "drift" else []
            frame = progress_frame(open_recording(simulate_shift(ws, tmp / f"{kind}{seed}.twinlog",
                                                                 hours=args.hours, seed=seed, disturbances=dist)))
            mon = replay(frame, EvolutionMonitor(pm, policy="none"))
            stream = [(p.t, p.ta) for p in mon.state.ta]
            for name, fn in detectors.items():
                hits = fn(stream)
                if kind == "control":
                    det[name]["fa_ctl"].append(len(hits))
                else:
                    det[name]["fa_drift"].append(sum(1 for t in hits if t < ONSET_H * H))
                    after = [t for t in hits if t >= ONSET_H * H]
                    det[name]["missed"].append(not after)
                    if after:
                        det[name]["delay"].append((after[0] - ONSET_H * H) / H)
            if kind != "drift":
                continue
            evo = EvolutionMonitor(pm, policy="evolve")
            ret = EvolutionMonitor(pm, policy="retrain")
            replay(frame, ret)
            rep = evaluate_history(frame, pm, evo, baselines={"retrain": predictions_of(ret, frame)})
            update_s += [u.result.seconds for u in evo.state.updates if u.result]
            if rep.metrics:
                for name in rows:
                    rows[name].append(rep.metrics[name])
            print(f"  seed {seed}: drift {'S13 +0.5/h' if seed % 2 else 'S12+S13 +0.3/h'}, triggers at "
                  f"{', '.join(f'{e.t / H:.1f}' for e in evo.state.triggers)} h, {len(evo.state.updates)} updates",
                  flush=True)

    print(f"\nDetection (onset {ONSET_H:g} h, {n_runs} drift runs, {n_runs} controls, TA in 30-min batches)")
    print(f"{'detector':22s} {'delay h (mean/max)':>19s} {'missed':>7s} {'FA/ctl run':>11s} {'FA pre-onset':>13s}")
    for name, d in det.items():
        dl = d["delay"]
        delay = f"{np.mean(dl):.2f} / {np.max(dl):.2f}" if dl else "-"
        print(f"{name:22s} {delay:>19s} {np.mean(d['missed']):7.0%} {np.mean(d['fa_ctl']):11.2f} "
              f"{np.mean(d['fa_drift']):13.2f}")

    print("\nPost-trigger test sets (mean over drift runs; parts completed in the next hour)")
    print(f"{'set':4s} {'model':11s} {'MAE':>7s} {'RMSE':>7s} {'SMAPE%':>7s} {'R2':>8s}")
    wins = {m: [0, 0, 0, 0] for m in ("evolved", "retrain")}
    keys = ("MAE", "RMSE", "SMAPE", "R2")
    for s in range(3):
        for name, runs in rows.items():
            vals = [np.mean([r[s][k] for r in runs if r[s][k] is not None]) for k in keys]
            print(f"{s + 1:<4d} {name:11s} {vals[0]:7.2f} {vals[1]:7.2f} {vals[2]:7.1f} {vals[3]:8.2f}")
        for m in wins:
            for i, k in enumerate(keys):
                a = np.mean([r[s][k] for r in rows[m] if r[s][k] is not None])
                b = np.mean([r[s][k] for r in rows["un-evolved"] if r[s][k] is not None])
                wins[m][i] += int(a > b if k == "R2" else a < b)
    for m, w in wins.items():
        print(f"{m} better than un-evolved on: " + ", ".join(f"{k} {n}/3" for k, n in zip(keys, w)))
    ev, rt = rows["evolved"], rows["retrain"]
    better = sum(np.mean([r[s]["MAE"] for r in ev]) < np.mean([r[s]["MAE"] for r in rt]) for s in range(3))
    print(f"evolved vs retrain-on-recent: lower MAE on {better}/3 sets")
    print(f"\nTimes (CPU): fit on one 24 h history {fit_one_s:.1f} s (target < 60 s); "
          f"one evolution update mean {np.mean(update_s):.1f} s, max {np.max(update_s):.1f} s "
          f"(target < 10 s); whole benchmark {time.perf_counter() - w0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
