"""DT4M migration: a new workshop's DT model from a packaged one (paper 4.1, 5.1 (2)).

* GM — the layout is the target's; meshes are reused by station type (procedural or a
  shipped mesh file); a type the source has no mesh for is left for the engineer.
* BM — state-machine parameters (setup, MTBF/MTTR, transitions seen, cycle spread) are
  reused by station type; a type the source lacks keeps the workshop file's values and is
  reported.
* LM — routes are the target's, each operation checked against the source's process kinds;
  the dispatch and transfer rules are reused.
* PM — the source PM's weights are migrated and fine-tuned on the target's recording; its
  accuracy on a held-out tail of that recording is reported before and after. A package's
  PM is the production-progress LSTM (:mod:`twin.warehouse.progress_pm`); packages of the
  former ``throughput-mlp`` kind still migrate with their own PM.

The result is a :class:`ModelPackage` plus a :class:`MigrationReport` of what was reused,
adapted and left for the engineer. Nothing here fails on a missing type: it is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twin.warehouse.attributes import process_kind
from twin.warehouse.model import PARTS, ModelPackage, PackageError, PackageFile
from twin.warehouse.parts import build_package, load_pm_section, state_machines_doc
from twin.warehouse import progress_pm
from twin.warehouse.pm import FINE_TUNE, LearningCurve, ThroughputPM, fine_tune, learning_curve, recording_samples
from twin.warehouse.progress_pm import ProgressPM, progress_samples, read_pm
from twin.workshop import Workshop

if TYPE_CHECKING:
    from twin.recording import Recording

#: Share of the target recording's samples (the latest) held out to report PM accuracy.
HOLDOUT = 0.25


@dataclass
class MigrationReport:
    """Per part (GM, BM, LM, PM): what was reused, adapted, and left for the engineer."""

    source: str
    target: str
    reused: dict[str, list[str]] = field(default_factory=lambda: {p: [] for p in PARTS})
    adapted: dict[str, list[str]] = field(default_factory=lambda: {p: [] for p in PARTS})
    left: dict[str, list[str]] = field(default_factory=lambda: {p: [] for p in PARTS})
    missing_station_types: list[str] = field(default_factory=list)
    pm_accuracy: dict[str, float | None] = field(default_factory=dict)
    #: from-scratch vs migrated PM on growing shares of the target's data (None: not computed)
    learning_curve: LearningCurve | None = None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "reused": self.reused, "adapted": self.adapted,
                "left_for_engineer": self.left, "missing_station_types": self.missing_station_types,
                "pm_accuracy": self.pm_accuracy,
                "learning_curve": None if self.learning_curve is None else self.learning_curve.to_json()}

    def to_text(self) -> str:
        lines = [f"migration {self.source} -> {self.target}"]
        for p in PARTS:
            lines.append(f"{p}:")
            for what, items in (("reused", self.reused[p]), ("adapted", self.adapted[p]), ("left", self.left[p])):
                lines += [f"  {what:7s} {i}" for i in items]
        if self.missing_station_types:
            lines.append("station types the source lacks: " + ", ".join(self.missing_station_types))
        if (c := self.learning_curve) is not None:
            lines.append(f"PM learning curve (accuracy on the {c.test_samples} newest samples; share of the rest):")
            lines += [f"  {s:4.0%} ({k} samples): from scratch {a:.3f}, migrated {b:.3f}"
                      + (f", no model {c.level[i]:.3f}" if len(c.level) == len(c.shares) else "")
                      for i, (s, k, a, b) in enumerate(zip(c.shares, c.samples, c.from_scratch, c.migrated))]
            r = c.reach()
            lines.append("  the migrated PM " + (f"reaches the from-scratch accuracy on all of it with {r:.0%}"
                                                 if r is not None else "does not reach the from-scratch accuracy"))
        return "\n".join(lines)


def _json(pkg: ModelPackage, path: str) -> Any:
    f = pkg.file(path)
    try:
        return json.loads(f.data)
    except ValueError as exc:
        raise PackageError(f"package {pkg.meta.id}: part {f.part}, file {path}: not JSON ({exc})") from None


def migrate(source: ModelPackage, target: Workshop, recording: Recording, *, new_id: str, name: str = "",
            creator: str = "DMW Twin migration", seed: int = 0, curve: bool = True
            ) -> tuple[ModelPackage, MigrationReport]:
    """Migrate ``source`` to ``target`` and fine-tune its PM on ``recording`` (of ``target``);
    with ``curve`` also measure the PM's learning curve (from scratch vs migrated, a few s)."""
    rep = MigrationReport(source.meta.id, new_id)
    target_types = sorted({s.type for s in target.stations.values()})
    rep.missing_station_types = [t for t in target_types if t not in source.meta.station_types]

    # GM: layout of the target, meshes by type
    src_meshes = _json(source, "gm/meshes.json")
    mesh_doc: dict[str, Any] = {"station_types": {}, "agv": src_meshes.get("agv", {"source": "procedural"})}
    blobs: dict[str, PackageFile] = {}
    rep.adapted["GM"].append(f"layout: the target's {len(target.stations)} stations, {len(target.agvs)} AGVs, "
                             f"{len(target.nodes)} aisle nodes")
    for t in target_types:
        entry = src_meshes.get("station_types", {}).get(t)
        if entry is None:
            mesh_doc["station_types"][t] = {"source": "procedural", "kind": t}
            rep.left["GM"].append(f"mesh of station type {t}: not in {source.meta.id}; procedural default used")
            continue
        mesh_doc["station_types"][t] = entry
        if entry.get("source") == "file":
            blobs[entry["path"]] = source.file(entry["path"])
        rep.reused["GM"].append(f"mesh of station type {t} ({entry.get('source')})")

    # BM: the target's machines with the source's state-machine parameters by type
    bm = state_machines_doc(target, recording, _json(source, "lm/logic.json").get("dispatch_rule", "fifo"))
    src_bm = _json(source, "bm/state_machines.json")
    for t in target_types:
        src = src_bm.get("station_types", {}).get(t)
        mine = bm["station_types"][t]
        if src is None:
            rep.left["BM"].append(f"state machine of station type {t}: not in {source.meta.id}; "
                                  "setup/MTBF/MTTR from the workshop file, check them")
            continue
        for key in ("setup_s", "mtbf_h", "mttr_min"):
            if src.get(key) is not None:
                mine[key] = src[key]
        mine["transitions"] = sorted({tuple(x) for x in src.get("transitions", [])} | {tuple(x) for x in mine["transitions"]})
        mine["migrated_from"] = source.meta.id
        rep.reused["BM"].append(f"state machine of station type {t} (setup {src.get('setup_s')} s, "
                                f"MTBF {src.get('mtbf_h')} h, MTTR {src.get('mttr_min')} min)")
    if target.agvs and src_bm.get("agv", {}).get("count"):
        rep.reused["BM"].append("AGV state machine (idle/moving/loading/unloading/charging)")
    elif target.agvs:
        rep.left["BM"].append("AGV state machine: the source has no AGVs; parameters from the workshop file")

    # LM: target routes against the source's process kinds; rules reused
    src_lm = _json(source, "lm/logic.json")
    src_kinds = {s["kind"] for r in src_lm.get("routes", {}).values() for s in r}
    for pid, prod in target.products.items():
        kinds = [process_kind(s.process) for s in prod.route]
        unknown = sorted(set(kinds) - src_kinds)
        if unknown:
            rep.left["LM"].append(f"route of {pid}: operation kind(s) {', '.join(unknown)} not in {source.meta.id}'s logic")
        else:
            rep.adapted["LM"].append(f"route of {pid}: {len(kinds)} operations, all of kinds the source models")
    rep.reused["LM"].append(f"dispatch rule {src_lm.get('dispatch_rule', 'fifo')}")
    if target.agvs and src_lm.get("transfer_rule", "").startswith("transport"):
        rep.reused["LM"].append("transfer rule: " + src_lm["transfer_rule"])

    # PM: migrate the weights, fine-tune on the target's recording
    src_pm, config = None, {}
    try:
        tensors, config = load_pm_section(source)
        src_pm = read_pm(tensors, config)
    except (PackageError, ValueError) as exc:
        rep.left["PM"].append(f"PM of {source.meta.id} cannot be migrated ({exc}); "
                              f"a {progress_pm.KIND} PM trained from scratch")
    if isinstance(src_pm, ThroughputPM):
        data: Any = recording_samples(recording)
    else:
        data = progress_samples(recording, target)
    n_test = max(int(len(data) * HOLDOUT), 1) if len(data) >= 4 else 0
    train, test = data.head(len(data) - n_test), data.tail(n_test) if n_test else data.head(0)
    if len(train) == 0:
        raise PackageError(f"recording of {target.name}: too short to fine-tune the PM "
                           "(needs more than the PM's history + horizon, about 1 h)")
    if isinstance(src_pm, ThroughputPM):
        before = src_pm.score(test) if n_test else None
        pm: Any
        pm, tuned = fine_tune(src_pm, train, seed=seed)
        rep.reused["PM"].append(f"{config.get('kind')} weights of {source.meta.id}")
        if getattr(src_pm, "missing_inputs_", None):
            rep.left["PM"].append(f"input(s) {', '.join(src_pm.missing_inputs_)}: not read by {source.meta.id}'s PM "
                                  "(an older feature set); weight 0, i.e. the migrated PM ignores them")
        if tuned:
            rep.adapted["PM"].append(f"aligned to the target's input means and output level, read-out layer "
                                     f"fine-tuned on {len(train)} samples of its recording "
                                     f"({FINE_TUNE['epochs']} epochs, lr {FINE_TUNE['lr']})")
        else:
            rep.adapted["PM"].append(f"fine-tuning on {len(train)} samples did not beat the migrated weights on "
                                     "the newest of them; migrated weights kept as they are")
    elif src_pm is not None:
        as_is = src_pm.migrated_to(train)
        before = as_is.score(test) if n_test else None
        pm = progress_pm.fine_tune(src_pm, train, seed=seed)
        rep.reused["PM"].append(f"{progress_pm.KIND} weights of {source.meta.id}")
        rep.adapted["PM"].append(f"inputs laid out for the target's {len(train.features)}: "
                                 f"{len(as_is.by_name_)} by name, "
                                 f"{len(as_is.by_type_)} from stations of the same type")
        if as_is.unmatched_:
            rep.left["PM"].append(f"input(s) of {', '.join(as_is.unmatched_)}: no station of that type in "
                                  f"{source.meta.id}'s PM; start at weight 0, learnt by the fine-tuning only")
        rep.adapted["PM"].append(f"scaled to the target's size and level, every layer fine-tuned on {len(train)} "
                                 f"samples of its recording ({progress_pm.FINE_TUNE['epochs']} epochs, "
                                 f"lr {progress_pm.FINE_TUNE['lr']})")
    else:
        before = None
        pm = ProgressPM(seed=seed, **progress_pm.PACKAGE_PARAMS).fit(train)
    after = pm.score(test) if n_test else pm.score(train)
    if curve and src_pm is not None and n_test:
        rep.learning_curve = learning_curve(src_pm, train, test, seeds=(seed,))
    rep.pm_accuracy = {"before_fine_tune": None if before is None else round(before, 4), "after": round(after, 4),
                       "test_samples": n_test}

    pkg = build_package(
        target, package_id=new_id, name=name or f"{target.title or target.name} (migrated from {source.meta.id})",
        creator=creator, pm=pm, pm_accuracy=after, rec=recording, rule=src_lm.get("dispatch_rule", "fifo"),
        bm_doc=bm, meshes=(mesh_doc, list(blobs.values())),
        provenance={"parent": source.meta.id, "parent_sha256": source.file("meta/dt4m.json").sha256,
                    "recording": str(getattr(recording, "path", "")), "migration": rep.to_json()},
    )
    return pkg, rep
