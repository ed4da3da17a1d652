"""Build the files of a DT model package from a workshop, a recording of it and a PM.

Files (paths inside the package; part in brackets; formats in docs/warehouse.md):

* ``model/workshop.toml`` [LM] — the workshop file the simulator runs (layout + logic);
* ``gm/layout.json`` [GM] — stations, AGVs, storage, aisle network, floor [m];
* ``gm/meshes.json`` [GM] — the mesh of every station type / AGV: ``procedural`` (built by
  the app's scene per type, nothing to ship) or a mesh file shipped in ``gm/meshes/``;
* ``bm/state_machines.json`` [BM] — per station type: states, transitions seen, setup,
  failure (MTBF/MTTR) and cycle-time parameters, measured state shares and cycle spread;
  AGV and storage machines;
* ``lm/logic.json`` [LM] — routes (with process kinds), dispatch, transfer, storage and
  order-release rules;
* ``pm/model.safetensors`` + ``pm/model.json`` [PM] — weights and config (modelstore);
* ``init/state.json`` [BM] — the shop's state at the end of the recording (InitStateFile);
* ``kg/graph.ttl`` [KG] — the resource knowledge graph;
* ``meta/dt4m.json`` [META] — the DT4M description (:class:`PackageMeta`).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.events import STATES
from twin.warehouse import kg
from twin.warehouse.attributes import process_kind, shop_type, station_type_counts, workshop_attributes
from twin.warehouse.model import ModelPackage, PackageError, PackageFile, PackageMeta
from twin.warehouse.pm import pm_attributes
from twin.workshop import MeshRef, Workshop

if TYPE_CHECKING:
    from twin.recording import Recording

CONTENT_TYPES = {".json": "application/json", ".toml": "application/toml", ".ttl": "text/turtle",
                 ".safetensors": "application/octet-stream"}
PM_BASE = "pm/model"
#: Mesh files larger than this are referenced by sha256, not shipped [bytes].
MAX_EMBEDDED_MESH = 512 * 1024


def dumps(doc: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no NaN: infinities become null)."""
    return (json.dumps(_finite(doc), sort_keys=True, indent=1, allow_nan=False) + "\n").encode()


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def content_type(path: str) -> str:
    return CONTENT_TYPES.get(Path(path).suffix, "application/octet-stream")


def _file(path: str, part: str, data: bytes) -> PackageFile:
    return PackageFile(path, part, content_type(path), data)


# ------------------------------------------------------------------------------------
# GM
# ------------------------------------------------------------------------------------


def layout_doc(ws: Workshop) -> dict[str, Any]:
    return {
        "workshop": ws.name, "title": ws.title, "floor_m": list(ws.floor),
        "stations": [{"id": s.id, "name": s.name, "type": s.type, "x": s.x, "y": s.y,
                      "heading_deg": s.heading, "node": s.node} for s in ws.stations.values()],
        "agvs": [{"id": a.id, "name": a.name, "home": a.home} for a in ws.agvs.values()],
        "buffers": [{"id": b.id, "name": b.name, "kind": b.kind, "x": b.x, "y": b.y, "node": b.node}
                    for b in ws.buffers.values()],
        "aisle_nodes": {n.id: [n.x, n.y] for n in ws.nodes.values()},
        "aisle_edges": [list(e) for e in ws.edges],
    }


@dataclass(frozen=True)
class PackageLayout:
    """Top view of a package's workshop, read from ``gm/layout.json`` [m]: floor size,
    stations (id, type, x, y), storage (id, x, y) and aisle segments (AGV paths)."""

    floor: tuple[float, float]
    stations: tuple[tuple[str, str, float, float], ...]
    buffers: tuple[tuple[str, float, float], ...]
    aisles: tuple[tuple[float, float, float, float], ...]


def package_layout(pkg: ModelPackage) -> PackageLayout:
    """The layout of ``pkg``'s workshop; PackageError naming the file if it is malformed."""
    f = pkg.file("gm/layout.json")
    try:
        doc = json.loads(f.data)
        nodes = {str(k): (float(v[0]), float(v[1])) for k, v in doc.get("aisle_nodes", {}).items()}
        stations = tuple((str(s["id"]), str(s.get("type", "")), float(s["x"]), float(s["y"]))
                         for s in doc["stations"])
        buffers = tuple((str(b["id"]), float(b["x"]), float(b["y"])) for b in doc.get("buffers", []))
        aisles = tuple((*nodes[str(a)], *nodes[str(b)]) for a, b in doc.get("aisle_edges", []))
        floor = (float(doc["floor_m"][0]), float(doc["floor_m"][1]))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise PackageError(f"package {pkg.meta.id}: part GM, file gm/layout.json: not a layout "
                           f"({type(exc).__name__}: {exc})") from None
    return PackageLayout(floor, stations, buffers, aisles)


def mesh_files(ws: Workshop) -> tuple[dict[str, Any], list[PackageFile]]:
    """(meshes.json doc, mesh files shipped). One entry per station type and for AGVs."""
    import hashlib

    doc: dict[str, Any] = {"station_types": {}, "agv": {"source": "procedural", "kind": "agv"}}
    files: dict[str, PackageFile] = {}

    def ref(mesh: MeshRef | None, kind: str) -> dict[str, Any]:
        if mesh is None:
            return {"source": "procedural", "kind": kind}
        try:
            data = mesh.path.read_bytes()
        except OSError as exc:
            raise PackageError(f"{mesh.path}: mesh cannot be read ({exc.strerror or exc})") from exc
        sha = hashlib.sha256(data).hexdigest()
        entry = {"units": mesh.units, "scale": mesh.scale, "up_axis": mesh.up_axis, "sha256": sha,
                 "name": mesh.path.name}
        if len(data) > MAX_EMBEDDED_MESH:
            return {"source": "reference", **entry}
        path = f"gm/meshes/{sha[:16]}{mesh.path.suffix.lower()}"
        files[path] = PackageFile(path, "GM", "application/octet-stream", data)
        return {"source": "file", "path": path, **entry}

    for st in ws.stations.values():
        if st.type not in doc["station_types"] or st.mesh is not None:
            doc["station_types"][st.type] = ref(st.mesh, st.type)
    for a in ws.agvs.values():
        if a.mesh is not None:
            doc["agv"] = ref(a.mesh, "agv")
            break
    return doc, list(files.values())


# ------------------------------------------------------------------------------------
# BM
# ------------------------------------------------------------------------------------


def state_machines_doc(ws: Workshop, rec: Recording | None, rule: str) -> dict[str, Any]:
    """State-machine parameters per station type (+ what the recording measured)."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for s in ws.stations.values():
        by_type[s.type].append(s.id)
    measured = _measured(ws, rec) if rec is not None else {}
    types: dict[str, Any] = {}
    for t, ids in sorted(by_type.items()):
        specs = [ws.stations[i] for i in ids]
        cycles: dict[str, float] = {}
        for s in specs:
            for p, c in s.processes.items():
                cycles.setdefault(p, float(c))
        m = measured.get(t, {})
        types[t] = {
            "stations": ids,
            "states": list(STATES["station"]),
            "transitions": m.get("transitions", []),
            "setup_s": float(np.mean([s.setup_s for s in specs])),
            "mtbf_h": float(np.mean([s.mtbf_h for s in specs])),
            "mttr_min": float(np.mean([s.mttr_min for s in specs])),
            "input_capacity": specs[0].input_capacity,
            "output_capacity": specs[0].output_capacity,
            "cycle_s": cycles,
            "measured": {k: v for k, v in m.items() if k != "transitions"},
        }
    agvs = list(ws.agvs.values())
    return {
        "rule": rule,
        "station_types": types,
        "agv": {
            "states": list(STATES["agv"]), "count": len(agvs),
            "speed_m_s": float(np.mean([a.speed for a in agvs])) if agvs else None,
            "load_s": float(np.mean([a.load_s for a in agvs])) if agvs else None,
            "unload_s": float(np.mean([a.unload_s for a in agvs])) if agvs else None,
        },
        "storage": {b.id: {"kind": b.kind, "capacity": b.capacity} for b in ws.buffers.values()},
    }


def _measured(ws: Workshop, rec: Recording) -> dict[str, dict[str, Any]]:
    """Per station type: state transitions seen, state shares, processing-time spread."""
    cols = rec.columns()
    dec = cols.strings
    st_code = cols.code("station")
    rows = np.flatnonzero(cols.kind == st_code)
    seq: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for i in rows:
        seq[dec[cols.entity[i]]].append((float(cols.t[i]), dec[cols.state[i]]))
    t_end = rec.time_range[1]
    out: dict[str, dict[str, Any]] = {}
    for t in sorted({s.type for s in ws.stations.values()}):
        trans: set[tuple[str, str]] = set()
        time_in: dict[str, float] = defaultdict(float)
        proc: list[float] = []
        for sid in (s.id for s in ws.stations.values() if s.type == t):
            ev = seq.get(sid, [])
            for (t0, a), (t1, b) in zip(ev, ev[1:] + [(t_end, "")]):
                time_in[a] += t1 - t0
                if b and a != b:
                    trans.add((a, b))
                if a == "processing" and b:
                    proc.append(t1 - t0)
        total = sum(time_in.values()) or 1.0
        out[t] = {
            "transitions": sorted([a, b] for a, b in trans),
            "state_share": {s: round(time_in.get(s, 0.0) / total, 6) for s in STATES["station"]},
            "processing_s_mean": round(float(np.mean(proc)), 3) if proc else None,
            "processing_s_cv": round(float(np.std(proc) / np.mean(proc)), 6) if len(proc) > 1 else None,
        }
    return out


def init_state_doc(rec: Recording | None) -> dict[str, Any]:
    if rec is None:
        return {"t_s": 0.0, "stations": {}, "agvs": {}, "wip_in_system": 0}
    t = rec.time_range[1]
    snap = rec.state_at(t)
    ev = snap.entities
    return {
        "t_s": t,
        "stations": {k: {"state": e.state, "wip": e.wip} for k, e in sorted(ev.items()) if e.kind == "station"},
        "agvs": {k: {"state": e.state, "x": e.x, "y": e.y} for k, e in sorted(ev.items()) if e.kind == "agv"},
        "wip_in_system": sum(1 for e in ev.values() if e.kind == "wip" and e.state != "completed"),
    }


# ------------------------------------------------------------------------------------
# LM
# ------------------------------------------------------------------------------------


def logic_doc(ws: Workshop, rule: str) -> dict[str, Any]:
    g = ws.order_generator
    return {
        "routes": {p.id: [{"process": s.process, "kind": process_kind(s.process), "stations": list(s.stations)}
                          for s in p.route] for p in ws.products.values()},
        "dispatch_rule": rule,
        "station_choice": "least loaded station of the step's group, then shortest cycle time",
        "transfer_rule": "transport requests served first come first served by the next idle AGV"
                         if ws.agvs else "instant transfer (no transport)",
        "storage_rule": {b.id: b.kind for b in ws.buffers.values()},
        "orders": None if g is None else {
            "arrival": g.arrival, "interarrival_min": g.interarrival_min, "mix": g.mix,
            "quantity": list(g.quantity), "due_h": list(g.due_h), "initial": g.initial,
        },
    }


# ------------------------------------------------------------------------------------
# PM section through the model store
# ------------------------------------------------------------------------------------


def pm_files(tensors: dict[str, Any], config: dict[str, Any]) -> list[PackageFile]:
    """The PM section's two files, written through :func:`twin.modelstore.save_model`."""
    from twin.modelstore import model_paths, save_model

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "model"
        save_model(base, tensors, config)
        t_path, m_path = model_paths(base)
        return [_file(f"{PM_BASE}.safetensors", "PM", t_path.read_bytes()),
                _file(f"{PM_BASE}.json", "PM", m_path.read_bytes())]


def load_pm_section(pkg: ModelPackage) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors, config) of a package's PM, checked by the model store (sha256, format)."""
    from twin.modelstore import ModelFileError, load_model, model_paths

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "model"
        t_path, m_path = model_paths(base)
        t_path.write_bytes(pkg.file(f"{PM_BASE}.safetensors").data)
        m_path.write_bytes(pkg.file(f"{PM_BASE}.json").data)
        try:
            return load_model(base)
        except ModelFileError as exc:
            raise PackageError(f"package {pkg.meta.id}: part PM: {str(exc).replace(tmp + '/', 'pm/')}") from exc


# ------------------------------------------------------------------------------------
# the whole package
# ------------------------------------------------------------------------------------


def build_package(
    ws: Workshop,
    *,
    package_id: str,
    name: str,
    creator: str,
    pm: Any,
    pm_accuracy: float,
    rec: Recording | None = None,
    rule: str = "fifo",
    number: str = "",
    position: str = "",
    provenance: dict[str, Any] | None = None,
    description: str = "",
    bm_doc: dict[str, Any] | None = None,
    meshes: tuple[dict[str, Any], list[PackageFile]] | None = None,
) -> ModelPackage:
    """A package of ``ws``: GM/BM/LM from the workshop (and measured on ``rec``), PM = ``pm``
    (a :class:`~twin.warehouse.progress_pm.ProgressPM`, or any PM with ``to_section``).

    ``bm_doc`` / ``meshes`` replace the generated BM / mesh manifest (migration passes the
    reused ones)."""
    try:
        ws_bytes = Path(ws.path).read_bytes()
    except OSError as exc:
        raise PackageError(f"{ws.path}: workshop file cannot be read ({exc.strerror or exc})") from exc
    tensors, config = pm.to_section(pm_accuracy)
    attrs = workshop_attributes(ws, rule)
    attrs["PM"] = pm_attributes(config)
    types = station_type_counts(ws)
    mesh_doc, mesh_blobs = meshes if meshes is not None else mesh_files(ws)
    files = [
        _file("model/workshop.toml", "LM", ws_bytes),
        _file("gm/layout.json", "GM", dumps(layout_doc(ws))),
        _file("gm/meshes.json", "GM", dumps(mesh_doc)),
        *mesh_blobs,
        _file("bm/state_machines.json", "BM", dumps(bm_doc if bm_doc is not None else state_machines_doc(ws, rec, rule))),
        _file("init/state.json", "BM", dumps(init_state_doc(rec))),
        _file("lm/logic.json", "LM", dumps(logic_doc(ws, rule))),
        *pm_files(tensors, config),
        _file("kg/graph.ttl", "KG", kg.to_turtle(kg.build_graph(ws, rec))),
    ]
    meta = PackageMeta(
        id=package_id, name=name, creator=creator, position=position, number=number,
        shop_type=shop_type(types), size=len(ws.stations), station_types=types, attributes=attrs,
        provenance={"workshop": ws.name, "workshop_sha256": ws.source_hash, **(provenance or {})},
        description=description or ws.description,
    )
    files.append(_file("meta/dt4m.json", "META", dumps(meta.to_json())))
    return ModelPackage(meta, {f.path: f for f in files})
