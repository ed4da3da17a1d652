"""``evolve`` sub-command: replay a history through the evolution loop of the PM.

    python main.py evolve --history shift.twinlog [--train old1.twinlog ...] [--pm PM]
        [--model lstm|mechanism|hybrid] [--train-h 4] [--horizon-h 1] [--judge-min M]
        [--json] [--out PM] [--annotated OUT.twinlog]

The PM in force at the start is ``--pm`` (a saved PM), else a ``--model`` PM (default the
LSTM; ``mechanism``: the simulator's forecast from the state at t; ``hybrid``: an LSTM on
the mechanism forecast's error) fitted on ``--train`` recordings, else on the first
``--train-h`` hours of the history (monitoring starts after them). Prints the TA series (and ΔTA with ``--json``), the trigger times, the
updates and MAE / RMSE / SMAPE / R² of the un-evolved and the evolved PM on three test sets
after the first trigger;
saves the final PM (``--out``, default ``<history>.pm``); ``--annotated`` writes a copy of the
history with the TA points, triggers and updates as timeline annotations.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from twin.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "evolve", help="replay a history: PM accuracy (TA), evolution triggers, AdaBoost update",
        description="Replay a recorded history through the PM's accuracy-trend trigger and "
                    "its synchronous (AdaBoost) update; report before/after metrics.")
    p.add_argument("--history", required=True, type=Path, help="recording to replay (.twinlog)")
    p.add_argument("--train", type=Path, nargs="*", default=[],
                   help="earlier recordings to fit the initial PM on (default: the history's first --train-h hours)")
    p.add_argument("--pm", type=Path, default=None, help="saved PM to start from (instead of fitting one)")
    p.add_argument("--model", choices=("lstm", "mechanism", "hybrid"), default="lstm",
                   help="kind of PM to fit when no --pm: lstm (default), mechanism (the simulator "
                        "from the state at t), hybrid (LSTM on the mechanism forecast's error)")
    p.add_argument("--judge-min", type=float, default=None,
                   help="judge each prediction this many minutes after it, by its partial outcome "
                        "(default: one horizon, the full outcome)")
    p.add_argument("--train-h", type=float, default=4.0,
                   help="hours of the history to fit the initial PM on when no --pm/--train (default 4)")
    p.add_argument("--horizon-h", type=float, default=1.0, help="prediction horizon in hours (default 1)")
    p.add_argument("--batch-min", type=float, default=30.0, help="evaluation batch in minutes (default 30)")
    p.add_argument("--epochs", type=int, default=60, help="training epochs of the initial LSTM (default 60)")
    p.add_argument("--out", type=Path, default=None, help="where to save the final PM (default <history>.pm)")
    p.add_argument("--annotated", type=Path, default=None,
                   help="write a copy of the history with TA/trigger/evolution annotations")
    p.add_argument("--no-stations", action="store_true",
                   help="do not fit the per-station part of the PM (processing times per station and "
                        "its trigger); it is fitted only when the PM is (not with --pm)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_evolve)


def run_evolve(args: argparse.Namespace) -> int:
    from twin.evolution.features import progress_frame
    from twin.evolution.history import evaluate_history
    from twin.evolution.live import EvolutionMonitor
    from twin.evolution.mechanism import MechanismForecaster, MechanismPM, needs_mechanism
    from twin.evolution.model import ProgressLSTM, training_set
    from twin.evolution.stations import StationPM
    from twin.evolution.store import load_pm, save_pm
    from twin.modelstore import ModelFileError
    from twin.recording import RecordingError, open_recording

    for name, v in (("--horizon-h", args.horizon_h), ("--batch-min", args.batch_min), ("--train-h", args.train_h)):
        if not (math.isfinite(v) and v > 0):
            raise CommandError(f"{name}: must be a positive number, got {v}")
    horizon_s = args.horizon_h * 3600.0
    try:
        rec = open_recording(args.history)
    except (RecordingError, OSError) as err:
        raise CommandError(f"{args.history}: {err}") from None
    stations = [e for e, k in rec.entities.items() if k == "station"]
    w0 = time.perf_counter()
    t_start = 0.0
    info: dict[str, Any] = {}
    if args.pm is not None:
        try:
            model, info = load_pm(args.pm)
        except ModelFileError as err:
            raise CommandError(str(err)) from None
        stations = list(info.get("stations", stations))
        horizon_s = float(info.get("horizon_s", horizon_s))
    if args.judge_min is not None and not (math.isfinite(args.judge_min) and 0 < args.judge_min * 60 <= horizon_s):
        raise CommandError(f"--judge-min: must be within (0, {horizon_s / 60:g}] minutes, got {args.judge_min}")
    wants_mech = args.model != "lstm" if args.pm is None else needs_mechanism(model)
    mechanism = None
    if wants_mech:
        try:
            from twin.forecast import recording_workshop

            mechanism = MechanismForecaster(recording_workshop(rec))
        except Exception as err:  # noqa: BLE001 - ReplayError naming the recording
            raise CommandError(f"{args.history}: the mechanism PM needs the workshop: {err}") from None
    frame = progress_frame(rec, horizon_s=horizon_s, stations=stations, mechanism=mechanism)
    station_pm = None
    if args.pm is None:
        if args.train:
            frames = []
            for path in args.train:
                try:
                    frames.append(progress_frame(open_recording(path), horizon_s=horizon_s, stations=stations,
                                                 mechanism=mechanism))
                except (RecordingError, OSError) as err:
                    raise CommandError(f"{path}: {err}") from None
        else:
            t_start = args.train_h * 3600.0
            frames = [frame.select(frame.t + horizon_s <= t_start + 1e-9)]
        try:
            if args.model == "mechanism":
                model = MechanismPM.for_frame(frame)
            else:
                model = ProgressLSTM(epochs=args.epochs, residual_col=frame.mech_col).fit(*training_set(frames, 12))
        except ValueError as err:
            raise CommandError(f"{args.history}: cannot fit the PM: {err}") from None
        if not args.no_stations:
            try:
                station_pm = StationPM().fit(frames if args.train else [StationPM.training_frame(frame, t_start)])
            except ValueError:  # no finished operations: the production progress only
                station_pm = None
    if model.n_features_in_ != frame.X.shape[1]:
        raise CommandError(f"{args.pm}: PM reads {model.n_features_in_} state features, "
                           f"this history has {frame.X.shape[1]} (different workshop?)")
    fit_s = time.perf_counter() - w0
    notes: list[tuple[float, str, str, str]] = []
    monitor = EvolutionMonitor(model, batch_s=args.batch_min * 60.0, horizon_s=horizon_s,
                               judge_s=None if args.judge_min is None else args.judge_min * 60.0,
                               station_pm=station_pm,
                               annotate=lambda t, label, entity, kind: notes.append((t, label, entity, kind)))
    report = evaluate_history(frame, model, monitor, t_start=t_start)
    out = args.out or args.history.with_suffix(".pm")
    info = {"stations": stations, "horizon_s": horizon_s, "step_s": frame.step_s,
            "features": frame.features, "trained_on": str(args.history), "model": args.model}
    try:
        sha = save_pm(out, monitor.model, info)
    except OSError as err:
        raise CommandError(f"{out}: cannot save the PM ({err.strerror or err})") from None
    if args.annotated is not None:
        _write_annotated(rec, args.annotated, notes)
    doc = report.to_json()
    doc.update(pm=str(out), sha256=sha, fit_seconds=fit_s, seconds=time.perf_counter() - w0,
               monitoring_from=t_start, stations_watched=(
                   [] if station_pm is None else [station_pm.stations_[j] for j in monitor.station_trigger.watched]))
    if args.json:
        print(json.dumps(doc))
    else:
        _print_report(doc)
    return 0


def _write_annotated(rec: Any, out: Path, notes: list[tuple[float, str, str, str]]) -> None:
    from twin.recording import RecordingError, RecordingWriter

    try:
        with RecordingWriter(out, meta={k: v for k, v in rec.meta.items() if k not in ("format_version", "created")}) as w:
            for ev in rec.events():
                w.append(ev)
            for a in rec.annotations():
                w.annotate(a.t, a.label, a.entity, a.kind)
            for t, label, entity, kind in notes:
                w.annotate(t, label, entity, kind)
    except (RecordingError, OSError) as err:
        raise CommandError(f"{out}: cannot write the annotated copy ({err})") from None


def _print_report(doc: dict[str, Any]) -> None:
    ta = doc["ta"]
    print(f"TA per batch ({len(ta)} batches): " + " ".join(f"{p['t'] / 3600:.1f}h:{p['ta']:.2f}" for p in ta))
    print("triggers: " + (", ".join(f"{t['t'] / 3600:.2f} h ({t['station'] + ' processing-time ' if t['station'] else ''}"
                                    f"TA {t['fitted_ta']:.2f}, "
                                    f"{t['slope_per_h']:+.3f}/h, p={t['p']:.2g})" for t in doc["triggers"]) or "none"))
    for u in doc["updates"]:
        print(f"  {u['t'] / 3600:.2f} h: {u['label']}")
    if doc["metrics"]:
        print("post-trigger test sets (parts per horizon):")
        for i, (a, b) in enumerate((s["from"], s["to"]) for s in doc["test_sets"]):
            print(f"  set {i + 1} ({a / 3600:.1f}-{b / 3600:.1f} h):")
            for name, sets in doc["metrics"].items():
                m = sets[i]
                r2 = "n/a" if m["R2"] is None else f"{m['R2']:.3f}"
                print(f"    {name:11s} MAE {m['MAE']:6.2f}  RMSE {m['RMSE']:6.2f}  SMAPE {m['SMAPE']:6.1f}%  R2 {r2}")
    print(f"PM saved: {doc['pm']} (sha256 {doc['sha256'][:12]}…)")
