"""``verify`` sub-command: GCN/TCN consistency of a virtual recording against a physical one.

    python main.py verify --physical P.twinlog --virtual V.twinlog [--mode calibrated|paper]
                          [--window-min M] [--json] [--model-dir DIR | --no-cache]

Without ``--json`` it prints progress to stderr and a readable verdict with the stations
ranked from least to most consistent; with ``--json`` it prints one JSON object
(``ConsistencyReport.to_json``) to stdout. Errors are one line on stderr, exit code 2.
Trained nets are cached per physical recording (default: the user cache directory) and
reused the next time the same physical recording is verified.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from twin.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify`` sub-command."""
    p = subparsers.add_parser(
        "verify",
        help="check that a virtual shop behaves like the physical one (GCN + TCN), per station",
        description="Verify the DT model: compare a virtual recording with a physical one "
        "(spatial characteristics from a GCN, temporal ones from a TCN, both trained on "
        "the physical recording) and rank the stations by consistency.",
    )
    p.add_argument("--physical", required=True, type=Path, help="recording of the physical shop")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--virtual", type=Path, help="recording of the virtual shop")
    src.add_argument("--model", type=Path, metavar="W.toml",
                     help="DT model (workshop file) to simulate, driven by the physical "
                          "recording's orders, and compare")
    p.add_argument("--scenario", type=Path, default=None, help="with --model: scenario to apply")
    p.add_argument("--seed", type=int, default=1, help="with --model: simulation seed (default 1)")
    p.add_argument("--from-state", action="store_true",
                   help="with --model: start from the physical shop's state at its start")
    p.add_argument("--mode", choices=("calibrated", "paper"), default="calibrated",
                   help="calibrated: thresholds from the physical run's own variation "
                        "(default); paper: fixed 0.05 / 0.1 per characteristic, 90 %% overall")
    p.add_argument("--window-min", type=float, default=None,
                   help="graph window length in minutes (default 30)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--model-dir", type=Path, default=None,
                   help="where trained nets are kept and reused (default: user cache)")
    p.add_argument("--no-cache", action="store_true", help="neither reuse nor save trained nets")
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Handler of ``verify``; returns the process exit code (CommandError on bad input)."""
    if args.window_min is not None and not (math.isfinite(args.window_min) and args.window_min > 0):
        raise CommandError(f"--window-min must be a positive number of minutes, got {args.window_min}")
    for label, path in (("physical recording", args.physical), ("virtual recording", args.virtual),
                        ("model file", args.model), ("scenario", args.scenario)):
        if path is not None and not path.is_file():
            raise CommandError(f"{path}: no such {label}")
    virtual: Any = args.virtual
    if args.model is not None:
        virtual = synchronised_run(args.physical, args.model, scenario=args.scenario,
                                   seed=args.seed, from_state=args.from_state)
    # heavy imports (torch, torch-geometric) only when the command runs
    from twin.verification import VerificationAborted, VerificationError, default_model_dir, verify

    model_dir = None if args.no_cache else (args.model_dir or default_model_dir())
    progress = None if args.json else _Progress()
    try:
        report = verify(args.physical, virtual, mode=args.mode, window_min=args.window_min,
                        progress=progress, model_dir=model_dir)
    except (VerificationError, VerificationAborted) as err:
        raise CommandError(str(err)) from None
    except OSError as err:
        raise CommandError(f"{err.filename or model_dir}: {err.strerror or err}") from None
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        _print_report(report)
    return 0


def synchronised_run(physical: Path, model: Path, *, scenario: Path | None = None,
                     seed: int = 1, from_state: bool = False) -> list[Any]:
    """Events of the DT model ``model`` simulated over the physical recording's span,
    releasing exactly its orders (and, ``from_state``, starting from its state at its first
    event). Raises CommandError naming the file and the problem."""
    from twin.forecast_cli import open_for_replay
    from twin.initial_state import shop_state
    from twin.recording import RecordingError
    from twin.replay import ReplayError, recorded_orders
    from twin.scenario import ScenarioError, load_scenario
    from twin.simulator import SimulationError, Simulator
    from twin.workshop import WorkshopError, load_workshop

    try:
        ws = load_workshop(model)
        sc = load_scenario(scenario, ws) if scenario else None
        rec = open_for_replay(physical)
        orders = recorded_orders(rec, ws)
        cols = rec.columns()
        t0 = float(cols.t.min()) if len(cols.t) else 0.0
        t1 = float(cols.t.max()) if len(cols.t) else 0.0
        start = shop_state(rec, t0, ws) if from_state else None
        events: list[Any] = []
        Simulator(ws, sc, seed=seed, orders=orders, start=start).run(t1 / 3600.0, sink=events.append)
    except (WorkshopError, ScenarioError, SimulationError, RecordingError, ReplayError) as err:
        raise CommandError(str(err)) from None
    return events


class _Progress:
    """Progress lines on stderr, one per stage and every 25 %."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.t0 = time.perf_counter()

    def __call__(self, stage: str, fraction: float) -> None:
        if stage == "load" and fraction < 1.0:
            return  # a bad recording is reported as one error line, without progress
        step = math.floor(fraction * 4) / 4
        if self.last.get(stage, -1.0) >= step:
            return
        self.last[stage] = step
        what = {"load": "reading recordings", "gcn": "training GCN", "tcn": "training TCN",
                "score": "scoring"}.get(stage, stage)
        print(f"verify: {what} {step:4.0%} ({time.perf_counter() - self.t0:.1f} s)",
              file=sys.stderr, flush=True)


def _print_report(report: Any) -> None:
    from twin.verification.consistency import FLAG_BELOW

    verdict = "PASSED" if report.passed else "FAILED"
    print(f"{verdict} ({report.mode} mode, window {report.window_min:g} min, "
          f"{report.seconds:.1f} s{', reused trained nets' if report.reused_models else ''})")
    for note in report.notes:
        print(f"  note: {note}")
    for name, res in (("spatial  Δ_SF", report.spatial), ("temporal Δ_TF", report.temporal)):
        print(f"  {name} = {res.delta:.3f} (needs >= {res.overall_threshold:.2f}, "
              f"threshold {res.threshold:.3g}) {'pass' if res.passed else 'FAIL'}")
    if report.mode == "calibrated":
        print(f"  verdict: {report.to_json()['verdict_rule']}")
        what = f"flagged: deviation above {report.family_limit:g}"
        flagged = set(report.flagged_stations) | set(report.flagged_agvs)
    else:
        what = f"flagged: score below {FLAG_BELOW:g}"
        flagged = set(report.flagged()) | {a for a, v in report.per_agv.items() if v < FLAG_BELOW}
    for sid in [*report.flagged_shop, *report.flagged_stations, *report.flagged_agvs]:
        if sid in report.explanations:
            print(f"  {sid}: {report.explanations[sid]}")
    print(f"stations, least consistent first (score 1 = consistent; {what}):")
    for sid, score in report.ranking():
        worst = _worst(report, sid)
        flag = "  <- flagged" if sid in flagged else ""
        print(f"  {sid:<10} {score:5.2f}  spatial {report.spatial.per_station[sid]:4.2f}  "
              f"temporal {report.temporal.per_station[sid]:4.2f}  worst: {worst}{flag}")
    if report.transport is not None:
        print("AGVs (transport check: speed and handling vs the physical AGV):")
        res = report.transport
        for aid, score in sorted(report.per_agv.items(), key=lambda kv: (kv[1], kv[0])):
            chars = ", ".join(
                f"{n.split(':', 1)[-1]} {v:.2f}" for n, v in zip(res.names, res.virtual[aid], strict=False)
            )
            flag = "  <- flagged" if aid in flagged else ""
            print(f"  {aid:<10} {score:5.2f}  virtual/physical: {chars}{flag}")


def _worst(report: Any, sid: str) -> str:
    """The characteristic of ``sid`` farthest beyond its threshold, with its values."""
    best = ("", -1.0, 0.0, 0.0)
    for res in (report.spatial, report.temporal):
        for name, r, p, v in zip(res.names, res.ratios.get(sid, []), res.physical[sid],
                                 res.virtual[sid], strict=False):
            if r > best[1]:
                best = (name, r, p, v)
    name, r, p, v = best
    return f"{name} {p:+.3f} vs {v:+.3f} ({r:.1f}x threshold)" if name else "-"

