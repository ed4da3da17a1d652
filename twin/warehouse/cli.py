"""Sub-commands of the model warehouse: ``warehouse …``, ``migrate``, ``kg query``.

    python main.py warehouse list|search|show|import|export|delete|rebuild [--warehouse DIR]
    python main.py warehouse recommend --requirement 0.1,0.1,0.3,0.5 --workshop W [--top N] [--json]
    python main.py warehouse train [--synthetic N] [--epochs E]
    python main.py warehouse build-samples [--out assets/warehouse]
    python main.py migrate --from ID --workshop W --recording R --out PKG.aasx [--id NEW] [--json]
    python main.py kg query PKG|ID 'SELECT ?w ?s WHERE { ?w dmw:beProcessedin ?s }'

The warehouse is the user's (data folder, or ``$DMW_TWIN_WAREHOUSE``) unless
``--warehouse DIR`` names another. Heavy libraries (torch, BaSyx, rdflib) load only inside
the handlers. Errors raise :class:`CommandError` naming the thing and the problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from twin.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``warehouse``, ``migrate`` and ``kg``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--warehouse", type=Path, default=None, metavar="DIR",
                        help="warehouse folder (default: the user's, in the data folder)")
    common.add_argument("--json", action="store_true", help="print JSON")

    wh = subparsers.add_parser("warehouse", help="the local model warehouse: list, search, import, recommend …",
                               description="DT model packages (AASX) in the local warehouse.")
    sub = wh.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", parents=[common], help="every package").set_defaults(func=run_list)
    p = sub.add_parser("search", parents=[common], help="packages matching filters")
    p.add_argument("--type", choices=("machining", "assembly"), help="shop type")
    p.add_argument("--size", help="stations, N or MIN-MAX")
    p.add_argument("--station-type", action="append", default=[], help="has this station type (repeatable)")
    p.add_argument("--text", help="text in id, name, creator, description")
    p.set_defaults(func=run_search)
    p = sub.add_parser("show", parents=[common], help="one package: metadata, files, knowledge graph")
    p.add_argument("id")
    p.set_defaults(func=run_show)
    p = sub.add_parser("import", parents=[common], help="import AASX packages (files or folders of them)")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--replace", action="store_true", help="replace a package with the same id")
    p.set_defaults(func=run_import)
    p = sub.add_parser("export", parents=[common], help="copy a package's AASX out of the warehouse")
    p.add_argument("id")
    p.add_argument("--out", required=True, type=Path, help="file or folder")
    p.set_defaults(func=run_export)
    p = sub.add_parser("delete", parents=[common], help="remove a package")
    p.add_argument("id")
    p.set_defaults(func=run_delete)
    sub.add_parser("rebuild", parents=[common], help="rebuild the index from the package files"
                   ).set_defaults(func=run_rebuild)
    p = sub.add_parser("recommend", parents=[common], help="which package to migrate from (f_predict)")
    p.add_argument("--requirement", required=True, help="GM,BM,LM,PM weights, e.g. 0.1,0.1,0.3,0.5")
    p.add_argument("--workshop", required=True, type=Path, help="the target workshop file")
    p.add_argument("--top", type=int, default=None, help="show the best N (default all)")
    p.set_defaults(func=run_recommend)
    p = sub.add_parser("train", parents=[common], help="train f_predict on this warehouse's migrations")
    p.add_argument("--synthetic", type=int, default=600, help="synthetic bootstrap migrations added (default 600)")
    p.add_argument("--epochs", type=int, default=40)
    p.set_defaults(func=run_train)
    p = sub.add_parser("build-samples", help="regenerate the bundled sample warehouse (models B–F)")
    p.add_argument("--out", type=Path, default=None, help="folder (default assets/warehouse)")
    p.set_defaults(func=run_build_samples)

    p = subparsers.add_parser("migrate", parents=[common], help="a new workshop's DT model from a warehouse package",
                              description="DT4M migration: reuse meshes and state machines by equipment type, "
                              "adapt routes, migrate and fine-tune the PM on the target's recording.")
    p.add_argument("--from", dest="source", required=True, help="package id in the warehouse (or an .aasx file)")
    p.add_argument("--workshop", required=True, type=Path, help="target workshop file")
    p.add_argument("--recording", required=True, type=Path, help="recording of the target shop (.twinlog)")
    p.add_argument("--out", required=True, type=Path, help="the new package (.aasx)")
    p.add_argument("--id", default=None, help="id of the new package (default: the out file's name)")
    p.add_argument("--requirement", default=None, help="GM,BM,LM,PM weights of this migration (recorded)")
    p.set_defaults(func=run_migrate)

    kg = subparsers.add_parser("kg", help="the knowledge graph of a package (SPARQL)")
    ksub = kg.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = ksub.add_parser("query", parents=[common], help="run a SPARQL SELECT/ASK (prefix dmw: predefined)")
    p.add_argument("package", help="an .aasx file or a package id in the warehouse")
    p.add_argument("sparql")
    p.set_defaults(func=run_kg_query)


# ------------------------------------------------------------------------------------


def _warehouse(args: argparse.Namespace) -> Any:
    from twin.warehouse.model import PackageError
    from twin.warehouse.store import Warehouse

    try:
        return Warehouse(args.warehouse)
    except PackageError as exc:
        raise CommandError(str(exc)) from None


def _errors() -> tuple[type[Exception], ...]:
    from twin.modelstore import ModelFileError
    from twin.warehouse.model import PackageError

    return (PackageError, ModelFileError)


def _row(e: Any) -> dict[str, Any]:
    m = e.meta
    return {"id": m.id, "name": m.name, "number": m.number, "creator": m.creator, "shop_type": m.shop_type,
            "size": m.size, "station_types": m.station_types, "pm_accuracy": m.attributes["PM"].get("accuracy"),
            "parent": m.provenance.get("parent")}


def _print_entries(entries: list[Any], as_json: bool) -> None:
    rows = [_row(e) for e in entries]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    for r in rows:
        types = ", ".join(f"{t}×{n}" for t, n in r["station_types"].items())
        print(f"{r['id']:12s} {r['shop_type']:9s} {r['size']:3d} stations  {r['name']}  [{types}]")
    print(f"{len(rows)} package(s)")


def run_list(args: argparse.Namespace) -> int:
    with _warehouse(args) as wh:
        _print_entries(wh.list(), args.json)
    return 0


def run_search(args: argparse.Namespace) -> int:
    size = None
    if args.size:
        try:
            lo, _, hi = args.size.partition("-")
            size = (int(lo), int(hi or lo))
        except ValueError:
            raise CommandError(f"--size {args.size!r}: expected N or MIN-MAX stations") from None
    with _warehouse(args) as wh:
        _print_entries(wh.search(shop_type=args.type, size=size, station_types=args.station_type,
                                 text=args.text), args.json)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from twin.warehouse import kg

    with _warehouse(args) as wh:
        try:
            pkg = wh.load(args.id)
            graph = kg.parse_turtle(pkg.file("kg/graph.ttl").data, f"{args.id}: kg/graph.ttl")
        except (*_errors(), ValueError) as exc:
            raise CommandError(str(exc)) from None
    doc = {**pkg.meta.to_json(), "files": {p: {"part": f.part, "bytes": len(f.data), "sha256": f.sha256}
                                           for p, f in sorted(pkg.files.items())},
           "knowledge_graph": kg.summary(graph)}
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        m = pkg.meta
        print(f"{m.id}: {m.name} — {m.shop_type}, {m.size} stations, by {m.creator} ({m.position})")
        for part in ("GM", "BM", "LM", "PM"):
            print(f"  {part}: " + "; ".join(f"{k} {json.dumps(v)}" for k, v in m.attributes[part].items()))
        print("  files: " + ", ".join(f"{p} [{f['part']}]" for p, f in doc["files"].items()))
        print("  knowledge graph: " + ", ".join(f"{k} {v}" for k, v in doc["knowledge_graph"].items()))
    return 0


def run_import(args: argparse.Namespace) -> int:
    done, refused = [], []
    with _warehouse(args) as wh:
        for path in args.paths:
            if path.is_dir():
                d, r = wh.import_folder(path, replace=args.replace)
                done += d
                refused += r
            else:
                try:
                    done.append(wh.import_package(path, replace=args.replace))
                except _errors() as exc:
                    refused.append(str(exc))
    for m in done:
        print(f"imported {m.id}: {m.name}")
    for r in refused:
        print(f"refused {r}", file=sys.stderr)
    if refused and not done:
        raise CommandError(refused[0] if len(refused) == 1 else f"{len(refused)} package(s) refused")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with _warehouse(args) as wh:
        try:
            out = wh.export(args.id, args.out)
        except _errors() as exc:
            raise CommandError(str(exc)) from None
    print(f"exported {args.id} -> {out}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with _warehouse(args) as wh:
        try:
            wh.delete(args.id)
        except _errors() as exc:
            raise CommandError(str(exc)) from None
    print(f"deleted {args.id}")
    return 0


def run_rebuild(args: argparse.Namespace) -> int:
    with _warehouse(args) as wh:
        refused = wh.rebuild_index()
        n = len(wh)
    for r in refused:
        print(f"refused {r}", file=sys.stderr)
    print(f"index rebuilt: {n} package(s), {len(refused)} refused")
    return 0


def _target(path: Path) -> Any:
    from twin.workshop import WorkshopError, load_workshop

    try:
        return load_workshop(path)
    except WorkshopError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _requirement(text: str) -> tuple[float, float, float, float]:
    from twin.warehouse.recommender import parse_requirement

    try:
        return parse_requirement(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def run_recommend(args: argparse.Namespace) -> int:
    from twin.warehouse.attributes import Descriptor
    from twin.warehouse.recommender import recommend

    weights = _requirement(args.requirement)
    ws = _target(args.workshop)
    with _warehouse(args) as wh:
        try:
            recs = recommend(wh, weights, Descriptor.of_workshop(ws), top=args.top)
        except _errors() as exc:
            raise CommandError(str(exc)) from None
    if not recs:
        raise CommandError(f"{wh.root}: the warehouse has no packages to recommend")
    if args.json:
        print(json.dumps([r.__dict__ for r in recs], indent=1))
        return 0
    print(f"requirement GM {weights[0]:.2f} BM {weights[1]:.2f} LM {weights[2]:.2f} PM {weights[3]:.2f} "
          f"for {ws.name}")
    print(f"{'':3s}{'id':10s}{'f_predict':>10s}{'baseline':>10s}   T_GM  T_BM  T_LM  T_PM  name")
    for i, r in enumerate(recs, 1):
        t = r.transfer
        print(f"{i:<3d}{r.id:10s}{r.probability:10.3f}{r.baseline:10.3f}   {t['GM']:.2f}  {t['BM']:.2f}  "
              f"{t['LM']:.2f}  {t['PM']:.2f}  {r.name}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from twin.warehouse.attributes import CandidateTable
    from twin.warehouse.recommender import Query, TransformerRecommender, synthetic_interactions, top1_hit_rate
    from twin.warehouse.store import descriptor_from_json

    with _warehouse(args) as wh:
        by_id = {e.id: e for e in wh.list()}
        qs, ts, cs = synthetic_interactions(args.synthetic, seed=1) if args.synthetic > 0 else ([], [], [])
        own = 0
        for it in wh.interactions():
            cands = [c for c in it.candidates if c in by_id]
            if it.chosen not in cands:
                continue  # a package deleted since
            qs.append(Query(it.requirement, descriptor_from_json(it.target)))
            ts.append(CandidateTable.build(cands, [by_id[c].descriptor() for c in cands]))
            cs.append(cands.index(it.chosen))
            own += 1
        if not qs:
            raise CommandError("no migrations to learn from (run migrate, or give --synthetic N)")
        model = TransformerRecommender(epochs=args.epochs).fit(qs, ts, cs)
        hit = top1_hit_rate(model.scores, qs, ts, cs)
        model.save(wh.recommender_path, {"migrations": own, "synthetic_queries": args.synthetic, "epochs": args.epochs})
        print(f"f_predict trained on {own} migration(s) + {args.synthetic} synthetic; train top-1 {hit:.3f} "
              f"-> {wh.recommender_path}")
    return 0


def run_build_samples(args: argparse.Namespace) -> int:
    from twin.warehouse.samples import build_samples
    from twin.warehouse.store import SAMPLES_DIR

    build_samples(args.out or SAMPLES_DIR)
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from twin.recording import RecordingError, open_recording
    from twin.warehouse.aasx import read_package, write_package
    from twin.warehouse.attributes import Descriptor
    from twin.warehouse.migrate import migrate
    from twin.warehouse.store import Interaction, descriptor_json

    ws = _target(args.workshop)
    weights = _requirement(args.requirement) if args.requirement else None
    new_id = args.id or args.out.stem
    with _warehouse(args) as wh:
        try:
            source = read_package(args.source) if args.source.endswith(".aasx") else wh.load(args.source)
            with open_recording(args.recording) as rec:
                pkg, report = migrate(source, ws, rec, new_id=new_id)
            candidates = tuple(e.id for e in wh.list())
            write_package(pkg, args.out)
            wh.import_package(args.out, replace=True)
        except RecordingError as exc:
            raise CommandError(str(exc)) from None
        except _errors() as exc:
            raise CommandError(str(exc)) from None
        if weights is not None and source.meta.id in candidates:
            wh.record_interaction(Interaction(weights, descriptor_json(Descriptor.of_workshop(ws)),
                                              candidates, source.meta.id))
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
    else:
        print(report.to_text())
        acc = report.pm_accuracy
        print(f"PM accuracy on the recording's held-out tail: {acc.get('before_fine_tune')} before, "
              f"{acc.get('after')} after fine-tuning")
        print(f"-> {args.out} (package {new_id}, in the warehouse {wh.root})")
    return 0


def run_kg_query(args: argparse.Namespace) -> int:
    from twin.warehouse import kg
    from twin.warehouse.aasx import read_package

    try:
        if args.package.endswith(".aasx") or Path(args.package).is_file():
            pkg = read_package(args.package)
        else:
            with _warehouse(args) as wh:
                pkg = wh.load(args.package)
        graph = kg.parse_turtle(pkg.file("kg/graph.ttl").data, f"{args.package}: part KG, file kg/graph.ttl")
        names, rows = kg.query(graph, args.sparql)
    except (*_errors(), ValueError) as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps([dict(zip(names, r, strict=True)) for r in rows], indent=1))
    else:
        print("\t".join(names))
        for r in rows:
            print("\t".join(r))
    return 0
