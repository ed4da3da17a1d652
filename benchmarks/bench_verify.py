"""Can verification say "no"? Kinds of model error x methods, with and without order sync.

    python benchmarks/bench_verify.py              # 5 seeds per kind, 8 h shifts (the record)
    python benchmarks/bench_verify.py --quick      # 2 seeds per kind, 4 h shifts (minutes)
    python benchmarks/bench_verify.py --save r.json   # ... and keep every trial's figures
    python benchmarks/bench_verify.py --table r.json  # re-print them at verdict.py's limits

On the bundled machining13 shop. The *physical* shop is simulated from a workshop file
that differs from the DT model (the nominal machining13.toml, fifo) in one place; the
*virtual* run simulates the model, either order-synchronised (sync on: it releases exactly
the physical run's orders, as ``verify --physical P --model W.toml`` does) or with its own
order generator and another seed (sync off: two independent recordings, as
``verify --virtual V``). Kinds (target = what should be found):

* ``slow x1.15`` / ``slow x1.3``: one random station's cycle times x1.15 / x1.3 all shift;
* ``process x1.5``: one process at one random station (of those with two or more) x1.5;
* ``setup x3``: one random station with setups takes 3x as long to set up;
* ``breakdowns``: one random station breaks down 40x as often as modelled (mtbf_h / 40:
  about 3 breakdowns per 8 h shift where the model expects about 0.07);
* ``routing``: the model lets S06 mill brackets, the physical shop does not (target S06);
* ``AGV x1.5``: one random AGV 1.5x slower (target: that AGV, ranked among the AGVs);
* ``spt vs fifo``: the physical shop dispatches spt, the model fifo (no single station:
  the verdict must fail);
* ``faithful``: the physical shop *is* the model (another seed): the verdict must pass.

Methods, on the same recordings: ``nets`` (trained GCN + TCN, the default), ``untrained``
(the same nets with 0 training epochs), ``levels`` (every characteristic the station's plain
level, no nets) — each with its own family-wise limit from benchmarks/calibrate_verify.py —
and ``baseline`` (per-station Mann-Whitney tests on cycle and waiting times, Bonferroni).
Per kind: top-1 / top-3 localisation of the target, and how often the verdict fails; for
``faithful``: how often it passes and how many stations/AGVs it flags falsely per run.
Also prints the runtime of one 8 h verification (train + score) against the baseline's.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.events import Event  # noqa: E402
from twin.scenario import Disturbance, Scenario  # noqa: E402
from twin.simulator import Simulator  # noqa: E402
from twin.verification import Verifier, VerifyConfig, baseline_verify  # noqa: E402
from twin.verification.data import load_run  # noqa: E402
from twin.verification.series import BEHAVIOUR_NAMES  # noqa: E402
from twin.verification.verdict import ABLATION_LIMITS, FAMILY_LIMIT, apply_verdict  # noqa: E402
from twin.workshop import Workshop, load_workshop  # noqa: E402
from twin.workshop_model import Order  # noqa: E402

WORKSHOP = ROOT / "assets" / "workshops" / "machining13.toml"
_SCRATCH = tempfile.TemporaryDirectory(prefix="bench-verify-")  # edited workshop files
METHODS = ("nets", "untrained", "levels", "baseline")


# -- shops and runs -----------------------------------------------------------------------
def edited(edit: Callable[[str], str], name: str) -> Workshop:
    """machining13 with its TOML text changed by ``edit`` (scenarios cannot change setup
    times, single processes, failure rates or routes)."""
    path = Path(_SCRATCH.name) / f"{name}.toml"
    path.write_text(edit(WORKSHOP.read_text()))
    return load_workshop(path)


def edit_station(station: str, fn: Callable[[str], str]) -> Callable[[str], str]:
    """An edit applying ``fn`` to the ``[[station]]`` block of ``station`` only."""
    def edit(text: str) -> str:
        blocks = text.split("[[station]]")
        for i, block in enumerate(blocks):
            if re.search(rf'^id = "{station}"', block, re.M):
                blocks[i] = fn(block)
        return "[[station]]".join(blocks)
    return edit


def scale_key(key: str, factor: float) -> Callable[[str], str]:
    return lambda block: re.sub(rf"^{key} = ([\d.]+)",
                                lambda m: f"{key} = {float(m.group(1)) * factor:g}", block, flags=re.M)


def scale_process(process: str, factor: float) -> Callable[[str], str]:
    return lambda block: re.sub(rf"\b{process} = ([\d.]+)",
                                lambda m: f"{process} = {float(m.group(1)) * factor:g}", block)


def orders_of(events: list[Event]) -> list[Order]:
    """The orders a run released (id, product, quantity, release, due, part ids), for an
    order-synchronised run of the model."""
    parts: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for e in events:
        if e.kind == "wip" and e.order and e.entity not in seen:
            seen.add(e.entity)
            parts[e.order].append(e.entity)
    out, done = [], set()
    for e in events:
        if e.kind == "order" and e.state == "released" and e.entity not in done:
            done.add(e.entity)
            q = int(e.quantity or len(parts[e.entity]) or 1)
            wips = tuple(parts[e.entity][:q])
            out.append(Order(e.entity, e.product, q, e.t,
                             e.due if e.due is not None else float("inf"),
                             wips if len(wips) == q else ()))
    return out


def simulate(ws: Workshop, seed: int, hours: float, scenario: Scenario | None = None,
             rule: str = "fifo", orders: list[Order] | None = None) -> list[Event]:
    events: list[Event] = []
    Simulator(ws, scenario, seed=seed, rule=rule, orders=orders).run(hours, sink=events.append)
    return events


@dataclass
class Case:
    """One physical shop against the model: what differs and what should be found."""

    physical: Workshop
    model: Workshop
    target: str | None = None  # station or AGV id
    scenario: Scenario | None = None
    physical_rule: str = "fifo"


def make_case(kind: str, nominal: Workshop, draw: random.Random) -> Case:
    stations = sorted(nominal.stations)
    if kind.startswith("slow"):
        s = draw.choice(stations)
        factor = float(kind.split("x")[1])
        sc = Scenario("slow", None, [Disturbance(0, "slowdown", s, 0.0, factor=factor)])
        return Case(nominal, nominal, s, sc)
    if kind == "process x1.5":
        s = draw.choice([s for s in stations if len(nominal.stations[s].processes) >= 2])
        p = draw.choice(sorted(nominal.stations[s].processes))
        return Case(edited(edit_station(s, scale_process(p, 1.5)), "process"), nominal, s)
    if kind == "setup x3":
        s = draw.choice([s for s in stations if nominal.stations[s].setup_s > 0])
        return Case(edited(edit_station(s, scale_key("setup_s", 3.0)), "setup"), nominal, s)
    if kind == "breakdowns":
        s = draw.choice(stations)
        return Case(edited(edit_station(s, scale_key("mtbf_h", 1 / 40)), "mtbf"), nominal, s)
    if kind == "routing":
        drop = lambda t: t.replace('stations = ["S04", "S05", "S06"]', 'stations = ["S04", "S05"]')  # noqa: E731
        return Case(edited(drop, "routing"), nominal, "S06")
    if kind == "AGV x1.5":
        a = draw.choice(sorted(nominal.agvs))
        sc = Scenario("agv", None, [Disturbance(0, "agv_slowdown", a, 0.0, factor=1.5)])
        return Case(nominal, nominal, a, sc)
    if kind == "spt vs fifo":
        return Case(nominal, nominal, None, physical_rule="spt")
    if kind == "faithful":
        return Case(nominal, nominal)
    raise ValueError(kind)


KINDS = ("slow x1.15", "slow x1.3", "process x1.5", "setup x3", "breakdowns", "routing",
         "AGV x1.5", "spt vs fifo", "faithful")


# -- methods ----------------------------------------------------------------------------
@dataclass
class Outcome:
    """One method on one comparison: ranking (stations or AGVs, worst first), verdict,
    number of flags; for the calibrated methods also every station's and AGV's deviation
    (``devs``), from which verdict and flags follow for any limit (:func:`at_limit`)."""

    ranking: list[str]
    agv_ranking: list[str]
    failed: bool
    flags: int
    devs: list[float] | None = None


def _outcome(rep: Any, duration_s: float, limit: float) -> Outcome:
    apply_verdict(rep, duration_s, limit)
    agvs = sorted(rep.agv_deviations, key=lambda a: -rep.agv_deviations[a])
    return Outcome([s for s, _ in rep.ranking()], agvs, not rep.passed,
                   len(rep.flagged_stations) + len(rep.flagged_agvs) + len(rep.flagged_shop),
                   [*rep.deviations.values(), *rep.agv_deviations.values(),
                    *rep.shop_deviations.values()])


def limit_of(method: str) -> float | None:
    """The family-wise limit verdict.py has for ``method`` (None: not a calibrated one)."""
    return {"nets": FAMILY_LIMIT, **ABLATION_LIMITS}.get(method)


def at_limit(row: dict[str, Any], method: str) -> tuple[int | None, bool, int]:
    """(rank, failed, flags) of one saved trial at verdict.py's limit for ``method``."""
    limit = limit_of(method)
    if row.get("devs") is None or limit is None:
        return row["rank"], row["failed"], row["flags"]
    return row["rank"], any(d > limit for d in row["devs"]), sum(d > limit for d in row["devs"])


def trained_pair(phys: Any, cfg: VerifyConfig) -> dict[str, Verifier]:
    """The trained verifier and one with untrained nets (0 epochs), on one physical run."""
    ver = Verifier(phys, config=cfg)
    ver.train()
    unt = Verifier(phys, config=replace(cfg, gcn_epochs=0, tcn_epochs=0))
    unt.train()
    return {"nets": ver, "untrained": unt}


def compare(vers: dict[str, Verifier], phys: Any, virt: Any) -> dict[str, Outcome]:
    """Every method on one physical/virtual pair (nets already trained)."""
    vrun = load_run(virt)
    dur = vrun.duration_s
    out = {
        "nets": _outcome(vers["nets"].score(vrun), dur, FAMILY_LIMIT),
        "untrained": _outcome(vers["untrained"].score(vrun), dur, ABLATION_LIMITS["untrained"]),
        "levels": _outcome(vers["nets"].with_scoring(level_features=BEHAVIOUR_NAMES).score(vrun),
                           dur, ABLATION_LIMITS["levels"]),
    }
    paper = vers["nets"].score(vrun, mode="paper")
    out["paper"] = Outcome([s for s, _ in paper.ranking()], [], not paper.passed, len(paper.flagged()))
    base = baseline_verify(phys, vrun)
    out["baseline"] = Outcome([s for s, _ in base.ranking()], [], not base.passed,
                              sum(v < base.alpha / len(base.per_station) for v in base.per_station.values()))
    return out


def max_deviations(vers: dict[str, Verifier], virt: Any) -> dict[str, float]:
    """Largest station/AGV deviation per method (what calibrate_verify.py collects)."""
    vrun = load_run(virt)
    reps = {"nets": vers["nets"].score(vrun), "untrained": vers["untrained"].score(vrun),
            "levels": vers["nets"].with_scoring(level_features=BEHAVIOUR_NAMES).score(vrun)}
    return {m: max([*r.deviations.values(), *r.agv_deviations.values(), *r.shop_deviations.values()])
            for m, r in reps.items()}


def run_pair(case: Case, seed: int, hours: float, nominal_rule: str = "fifo"
             ) -> tuple[list[Event], list[Event], list[Event]]:
    """(physical, virtual synchronised, virtual free) events of one trial."""
    phys = simulate(case.physical, seed, hours, case.scenario, case.physical_rule)
    sync = simulate(case.model, seed + 1, hours, None, nominal_rule, orders=orders_of(phys))
    free = simulate(case.model, seed + 1, hours, None, nominal_rule)
    return phys, sync, free


# -- the table ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds per kind (4 faithful), 4 h shifts")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per kind (default 5, quick 2)")
    ap.add_argument("--hours", type=float, default=None, help="shift length [h] (default 8, quick 4)")
    ap.add_argument("--kinds", type=str, default="", help="comma list of kinds (default all)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the draws (stations, sim seeds)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--save", type=Path, default=None, help="write every trial's figures (JSON)")
    ap.add_argument("--table", type=Path, nargs="+", default=None,
                    help="re-print the table of --save files (merged: runs of other kinds, or "
                         "more trials of a kind) at the limits now in verdict.py")
    args = ap.parse_args(argv)
    if args.table is not None:
        _print(*_merged([json.loads(p.read_text()) for p in args.table]))
        return 0
    seeds = args.seeds or (2 if args.quick else 5)
    hours = args.hours or (4.0 if args.quick else 8.0)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] or list(KINDS)
    torch.set_num_threads(1)
    cfg = VerifyConfig()
    nominal = load_workshop(WORKSHOP)
    draw = random.Random(args.seed)
    t_start = time.perf_counter()
    # results[kind][sync][method] -> list of {rank (None: no target), failed, flags, devs}
    results: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {}
    for kind in kinds:
        n = 2 * seeds if kind == "faithful" else seeds
        res: dict[str, dict[str, list[dict[str, Any]]]] = {
            "on": defaultdict(list), "off": defaultdict(list)}
        for _ in range(n):
            case = make_case(kind, nominal, draw)
            seed = draw.randrange(10**6)
            phys, sync, free = run_pair(case, seed, hours)
            vers = trained_pair(phys, cfg)
            for key, virt in (("on", sync), ("off", free)):
                for method, o in compare(vers, phys, virt).items():
                    rank = None
                    if case.target is not None:
                        order = o.agv_ranking if case.target in nominal.agvs else o.ranking
                        rank = order.index(case.target) + 1 if case.target in order else None
                    res[key][method].append({"rank": rank, "failed": o.failed,
                                             "flags": o.flags, "devs": o.devs})
                    if args.verbose and method == "nets":
                        print(f"  {kind} sync {key} target {case.target} rank {rank} "
                              f"failed {o.failed} flags {o.flags} top {o.ranking[:3]}", flush=True)
        results[kind] = res
        if args.save is not None:  # after every kind: a long run interrupted keeps its part
            _save(args.save, results, seeds, hours, (0.0, 0.0), time.perf_counter() - t_start)
    runtime = _runtime(cfg, nominal)
    wall = time.perf_counter() - t_start
    if args.save is not None:
        _save(args.save, results, seeds, hours, runtime, wall)
    _print(results, seeds, hours, cfg, runtime, wall)
    return 0


def _save(path: Path, results: dict, seeds: int, hours: float,
          runtime: tuple[float, float], wall: float) -> None:
    path.write_text(json.dumps({"seeds": seeds, "hours": hours, "runtime": list(runtime),
                                "wall": wall, "results": results}))


def _merged(saved: list[dict[str, Any]]) -> tuple:
    """Arguments of :func:`_print` for several saved runs: their trials pooled per kind,
    the runtime of the last run that measured it, the wall times added."""
    results: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {}
    for one in saved:
        for kind, by_sync in one["results"].items():
            into = results.setdefault(kind, {"on": {}, "off": {}})
            for sync, by_method in by_sync.items():
                for method, rows in by_method.items():
                    into[sync].setdefault(method, []).extend(rows)
    runtime = next((tuple(o["runtime"]) for o in reversed(saved) if o["runtime"][0] > 0), (0.0, 0.0))
    seeds = max((len(r["on"].get("nets", [])) for k, r in results.items() if k != "faithful"),
                default=max(o["seeds"] for o in saved))  # trials per kind, pooled
    hours = saved[0]["hours"]
    if any(o["hours"] != hours for o in saved):
        raise SystemExit("bench_verify --table: the saved runs have different shift lengths")
    return results, seeds, hours, VerifyConfig(), runtime, sum(o["wall"] for o in saved)


def _cell(saved: list[dict[str, Any]], kind: str, method: str) -> str:
    rows = [at_limit(r, method) for r in saved]
    n = len(rows)
    if not n:
        return "-"
    fails = sum(f for _, f, _ in rows)
    if kind == "faithful":
        flags = sum(k for _, _, k in rows) / n
        return f"pass {100 * (n - fails) / n:3.0f}% flags {flags:.1f}"
    ranks = [r for r, _, _ in rows]
    if all(r is None for r in ranks):
        return f"fail {100 * fails / n:3.0f}%"
    t1 = sum(r == 1 for r in ranks)
    t3 = sum(r is not None and r <= 3 for r in ranks)
    return f"{t1}/{n} {t3}/{n} fail {100 * fails / n:3.0f}%"


def _print(results: dict, seeds: int, hours: float, cfg: VerifyConfig,
           runtime: tuple[float, float], wall: float) -> None:
    methods = (*METHODS[:3], "paper", "baseline")
    print(f"\nmachining13, {hours:g} h shifts, {seeds} seeds per kind ({2 * seeds} faithful), "
          f"window {cfg.window_min:g} min; cells: top-1 top-3 and fail % (faithful: pass % and "
          f"false flags per run); limits nets {FAMILY_LIMIT:g}, untrained "
          f"{ABLATION_LIMITS['untrained']:g}, levels {ABLATION_LIMITS['levels']:g}; paper = "
          f"nets in paper mode (Δ >= 90 %); baseline = Mann-Whitney, Bonferroni")
    for sync in ("on", "off"):
        print(f"\norder synchronisation {sync}")
        head = ["kind", *methods]
        rows = [[k, *(_cell(results[k][sync].get(m, []), k, m) for m in methods)] for k in results]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        line = lambda r: " | ".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=True))  # noqa: E731
        print(line(head))
        print("-" * (sum(widths) + 3 * len(widths)))
        for r in rows:
            print(line(r))
    train_score, base = runtime
    print(f"\nruntime, one 8 h shift (train + score, nets): {train_score:.1f} s "
          f"(target < 60 s); baseline {base:.2f} s; ratio {train_score / max(base, 1e-9):.0f}x")
    print(f"(benchmark wall time {wall:.0f} s)")


def _runtime(cfg: VerifyConfig, nominal: Workshop) -> tuple[float, float]:
    phys = simulate(nominal, 9000, 8.0)
    virt = simulate(nominal, 9001, 8.0, orders=orders_of(phys))
    p, v = load_run(phys), load_run(virt)
    t0 = time.perf_counter()
    ver = Verifier(p, config=cfg)
    ver.train()
    ver.score(v)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    baseline_verify(p, v)
    return ours, time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
