"""Real machine data: the NIST SMS Test Bed's MTConnect logs (assets/real/nist/).

    python benchmarks/bench_real.py            # all seven machine-days
    python benchmarks/bench_real.py --quick    # import + counts on three machine-days, no verify

Prints:

* import rate (SHDR lines/s) of ``import-mtconnect``'s reader, next to a baseline in the same
  run: reading and splitting the same lines and nothing else (the floor any importer pays);
* per machine-day: ACTIVE hours, READY hours and part count from our recording (its station
  states through the KPIs) next to the same figures counted straight from the raw lines by
  ``benchmarks/real_counts.py`` (independent code); they must match;
* calibrate-then-check: calibrate the test bed's workshop on each machine's first two days,
  fit the same parameters on its other days, and say per station and parameter whether the
  held-out days agree with the calibrated model (Welch t-test of the cycle times per
  program / setups at 5 %, working hours and availability side by side);
* (full run) the current ``verify --physical real --virtual simulated-calibrated-model``
  on a held-out day (verification v2 ``--model`` is not built yet), with its verdict.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from real_counts import count_machine_days, day_windows  # noqa: E402
from scipy import stats  # noqa: E402

from twin.calibration import calibrate  # noqa: E402
from twin.calibration import station_histories  # noqa: E402
from twin.events import parse_event  # noqa: E402
from twin.kpis import ShopKpis  # noqa: E402
from twin.live import workshop_meta  # noqa: E402
from twin.mtconnect import load_devices  # noqa: E402
from twin.mtconnect.importer import import_logs, lines_of, write  # noqa: E402
from twin.workshop import load_workshop  # noqa: E402

NIST = ROOT / "assets" / "real" / "nist"
WORKSHOP = ROOT / "assets" / "workshops" / "nist_smstestbed.toml"
QUICK_DAYS = ("Mazak01-20181217", "Mazak03-20181218", "Mazak03-20181219")


def import_rate(files: list[Path]) -> dict:
    devices = load_devices(NIST / "Devices.xml")
    t = time.perf_counter()
    n = 0
    for f in files:
        for line in lines_of(f):
            line.split("|")
            n += 1
    base = time.perf_counter() - t
    res = import_logs(files, devices)
    return {"lines": n, "import_s": res.wall_s, "lines_per_s": n / res.wall_s,
            "baseline_lines_per_s": n / base, "result": res}


def counts_table(res, files: list[Path]) -> tuple[list[dict], bool]:
    raw = count_machine_days(files)
    k = ShopKpis()
    k.add(parse_event(e) for e in res.events)
    rows, ok = [], True
    for (m, day), v in sorted(raw.items()):
        lo, hi = day_windows(res.t0_epoch, day)
        a, b = k.time_in_state(m, hi), k.time_in_state(m, lo)
        ours = {"active_h": (a["processing"] - b["processing"]) / 3600,
                "ready_h": (a["idle"] - b["idle"]) / 3600,
                "parts": sum(1 for e in res.events if e["kind"] == "wip" and e["station"] == m
                             and lo <= e["t"] < hi)}
        match = (abs(ours["active_h"] - v["active_h"]) < 1e-6 and abs(ours["ready_h"] - v["ready_h"]) < 1e-6
                 and ours["parts"] == v["parts"])
        ok &= match
        rows.append({"machine": m, "day": day, "ours": ours, "raw": v, "match": match})
    return rows, ok


def _fits(files: list[Path], ws):
    res = import_logs(files, load_devices(NIST / "Devices.xml"), ws)
    evs = [parse_event(e) for e in res.events]
    t_end = max(day_windows(res.t0_epoch, f.day)[1] for f in res.files)
    days = {f.day for f in res.files}
    fits = {f.station: f for f in calibrate(evs, ws, 0.0, t_end)}
    eps = station_histories(evs, 0.0, t_end, ws.stations)
    return res, fits, eps, len(days)


def calibrate_then_check(ws) -> list[dict]:
    by_machine: dict[str, list[Path]] = {}
    for f in sorted(NIST.glob("*.txt.gz")):
        by_machine.setdefault(f.name.split("-")[0], []).append(f)
    out = []
    for m, fs in sorted(by_machine.items()):
        train, check = fs[:2], fs[2:]
        _, fit_t, ep_t, nd_t = _fits(train, ws)
        _, fit_c, ep_c, nd_c = _fits(check, ws)
        ft, fc = fit_t[m], fit_c[m]
        lines = []
        agree = True
        samples_t: dict[str, list[float]] = {}
        samples_c: dict[str, list[float]] = {}
        for p, s in ep_t[m].operations:
            samples_t.setdefault(f"processes.{p}", []).append(s)
        for p, s in ep_c[m].operations:
            samples_c.setdefault(f"processes.{p}", []).append(s)
        samples_t["setup_s"], samples_c["setup_s"] = ep_t[m].setups, ep_c[m].setups
        for name in sorted(set(samples_t) | set(samples_c)):
            a, b = samples_t.get(name, []), samples_c.get(name, [])
            pt = next((p for p in ft.params if p.name == name), None)
            if len(a) < 5 or len(b) < 5:
                lines.append(f"{name}: not compared (train n={len(a)}, check n={len(b)}; "
                             f"{'model value kept' if pt is None or pt.status == 'kept' else 'fitted'})")
                continue
            pval = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
            same = pval >= 0.05
            agree &= same
            lines.append(f"{name}: train {sum(a) / len(a):.0f} s (n={len(a)}), check {sum(b) / len(b):.0f} s "
                         f"(n={len(b)}), Welch p={pval:.3f} -> {'agrees' if same else 'DIFFERS'}")
        for name in ("mtbf_h", "mttr_min"):
            p = ft.param(name)
            lines.append(f"{name}: {p.n} down episode(s) in the training days -> {p.status}"
                         + (f" ({p.note})" if p.note else ""))
        wh_t = ep_t[m].on_s / 3600 / nd_t
        wh_c = ep_c[m].on_s / 3600 / nd_c
        lines.append(f"switched on: train {wh_t:.1f} h/day, check {wh_c:.1f} h/day; "
                     f"availability train {ft.availability:.1%}, check {fc.availability:.1%}")
        out.append({"machine": m, "train": [f.name for f in train], "check": [f.name for f in check],
                    "verdict": "agrees" if agree else "differs", "lines": lines})
    return out


def verify_on_real_day(tmp: Path) -> str:
    """The current verify CLI: physical = a held-out real day, virtual = the calibrated model
    simulated for a day (verification v2's --model path is not built yet)."""
    ws_path = tmp / "nist-cal.toml"
    train = sorted(NIST.glob("*.txt.gz"))
    train = [f for f in train if "20181217" in f.name or "Mazak03-20181218" in f.name or "Mazak01-20181219" in f.name]
    rec_t = tmp / "train.twinlog"
    ws = load_workshop(WORKSHOP)
    write(import_logs(train, load_devices(NIST / "Devices.xml"), ws), rec_t, workshop_meta(ws))
    py = sys.executable
    subprocess.run([py, "main.py", "calibrate", "--recording", str(rec_t), "--workshop", str(WORKSHOP),
                    "--out", str(ws_path)], cwd=ROOT, check=True, capture_output=True)
    phys = tmp / "real-20181220.twinlog"
    write(import_logs(sorted(NIST.glob("*20181220-*.txt.gz")), load_devices(NIST / "Devices.xml"), ws), phys,
          workshop_meta(ws))
    virt = tmp / "virtual.twinlog"
    subprocess.run([py, "main.py", "simulate", "--workshop", str(ws_path), "--hours", "24", "--seed", "1",
                    "--out", str(virt)], cwd=ROOT, check=True, capture_output=True)
    r = subprocess.run([py, "main.py", "verify", "--physical", str(phys), "--virtual", str(virt), "--json"],
                       cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        return f"verify refused: {r.stderr.strip()}"
    return "verify (physical real 2018-12-20 vs virtual calibrated simulation): " + summarize(json.loads(r.stdout))


def summarize(rep: dict) -> str:
    sp, tp = rep["spatial"], rep["temporal"]
    per = sorted(rep["per_station"].items(), key=lambda kv: kv[1])
    return (f"{'PASSED' if rep['passed'] else 'FAILED'}; spatial delta_SF {sp['delta']:.3f} "
            f"({'pass' if sp['passed'] else 'fail'}), temporal delta_TF {tp['delta']:.3f} "
            f"({'pass' if tp['passed'] else 'fail'}); "
            f"station scores, least consistent first: "
            + ", ".join(f"{k} {v:.2f}" for k, v in per))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="three machine-days, no verify run")
    args = ap.parse_args()
    files = sorted(NIST.glob("*.txt.gz"))
    if args.quick:
        files = [f for f in files if f.name.startswith(QUICK_DAYS)]
    r = import_rate(files)
    print(f"import: {r['lines']:,} SHDR lines in {r['import_s']:.2f} s = {r['lines_per_s']:,.0f} lines/s; "
          f"baseline (read + split only) {r['baseline_lines_per_s']:,.0f} lines/s; "
          f"import / baseline = {r['lines_per_s'] / r['baseline_lines_per_s']:.2f}")
    s = r["result"].stats
    print(f"        malformed {s.malformed}, repeated {s.repeated}, stale {s.stale}, late (clamped) {s.late}; "
          f"{len(r['result'].events)} events, {len(r['result'].notes)} alarm/warning annotations")
    rows, ok = counts_table(r["result"], files)
    print(f"\n{'machine':<8} {'day':<10} {'ACTIVE h ours/raw':>20} {'READY h ours/raw':>20} {'parts':>8}  match")
    for row in rows:
        o, v = row["ours"], row["raw"]
        print(f"{row['machine']:<8} {row['day']:<10} {o['active_h']:>9.4f}/{v['active_h']:<9.4f} "
              f"{o['ready_h']:>9.4f}/{v['ready_h']:<9.4f} {o['parts']:>3}/{v['parts']:<3}  "
              f"{'yes' if row['match'] else 'NO'}")
    print(f"all machine-days match: {'yes' if ok else 'NO'}  (PartCountAct stays 0 in these logs: the "
          "controllers' counter was not used, so 0 parts is the true count)")
    if not args.quick:
        ws = load_workshop(WORKSHOP)
        print("\ncalibrate on each machine's first two days, check its other days:")
        for c in calibrate_then_check(ws):
            print(f"{c['machine']}: train {', '.join(c['train'])}; check {', '.join(c['check'])} "
                  f"-> {c['verdict'].upper()}")
            for line in c["lines"]:
                print(f"    {line}")
        with tempfile.TemporaryDirectory() as d:
            try:
                print("\n" + verify_on_real_day(Path(d)))
            except subprocess.CalledProcessError as exc:
                print(f"\nverify run failed: {exc.stderr.decode(errors='replace')[-500:] if exc.stderr else exc}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
