"""DT model packages as AASX files (IDTA-01005), written and read with the BaSyx Python SDK.

One Asset Administration Shell per packaged twin with two submodels:

* ``SimulationModels`` after IDTA 02005-1-0 (semantic ids of the template): one
  ``SimulationModel`` with Summary, SimPurpose, TypeOfModel, ScopeOfModel, EngineeringDomain,
  Environment (OperatingSystem, ToolEnvironment, SimulationTool/SolverAndTolerances),
  ModelFile/ModelFileVersion/DigitalFile (the workshop file the simulator runs), ParamMethod
  and ParamFile (the BM parameters), InitStateMethod and InitStateFile, DefaultSimTime;
* ``DT4M``, ours: the common attributes (Name, Id, Creator, Position, Number), ShopType,
  Size, Levels, StationTypes, the unique attributes per part (GM/BM/LM/PM) and ``Files``:
  every file of the package with its part and sha256.

Every package file is an AASX supplementary file under ``/aasx/dt4m/``. Reading never runs
code: the ZIP is checked entry by entry (CRC), BaSyx parses the XML environment, every file
listed in ``Files`` must be present with its sha256, the DT4M description must parse.
Anything wrong raises :class:`PackageError` naming the package file and the part.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from twin.warehouse.model import FILE_PARTS, ModelPackage, PackageError, PackageFile, PackageMeta

PREFIX = "/aasx/dt4m/"
SIM_SEM = "https://admin-shell.io/idta/SimulationModels/{}/1/0"
DT4M_SEM = "https://dmw-twin.example/submodels/DT4M/1/0"
ENV_PART = "aasx/data.xml"
#: Package files every DT4M package has.
REQUIRED_FILES = ("meta/dt4m.json", "model/workshop.toml", "gm/layout.json", "bm/state_machines.json",
                  "lm/logic.json", "pm/model.safetensors", "pm/model.json", "kg/graph.ttl")
_PART_OF_DIR = {"gm": "GM", "bm": "BM", "init": "BM", "lm": "LM", "model": "LM", "pm": "PM", "kg": "KG", "meta": "META"}
PART_NAMES = {"GM": "geometry model", "BM": "behaviour model", "LM": "logic model", "PM": "performance model",
              "KG": "knowledge graph", "META": "DT4M description"}


def part_label(zip_name: str) -> str:
    """Which part a ZIP entry belongs to, for messages (``PM (performance model)``)."""
    name = zip_name.lstrip("/")
    if name.startswith(PREFIX.strip("/") + "/"):
        part = _PART_OF_DIR.get(name[len(PREFIX) - 1:].split("/", 1)[0], "")
        if part:
            return f"{part} ({PART_NAMES[part]})"
    if name.endswith((".xml", ".json")) and name.startswith("aasx/"):
        return "AAS environment"
    return "package structure"


# ------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------


def _ref(sem: str) -> Any:
    from basyx.aas import model

    return model.ExternalReference((model.Key(model.KeyTypes.GLOBAL_REFERENCE, sem),))


def _prop(id_short: str, value: Any, sem: str | None = None) -> Any:
    from basyx.aas import model

    vt = {bool: model.datatypes.Boolean, int: model.datatypes.Long, float: model.datatypes.Double}.get(
        type(value), model.datatypes.String)
    return model.Property(id_short, vt, value if vt is not model.datatypes.String else str(value),
                          semantic_id=_ref(sem) if sem else None)


def _strings(id_short: str, values: Iterable[str], sem: str | None = None) -> Any:
    from basyx.aas import model

    return model.SubmodelElementList(
        id_short, model.Property, value=[model.Property(None, model.datatypes.String, str(v)) for v in values],
        value_type_list_element=model.datatypes.String, semantic_id=_ref(sem) if sem else None)


def _smc(id_short: str, elements: list[Any], sem: str | None = None) -> Any:
    from basyx.aas import model

    return model.SubmodelElementCollection(id_short, value=elements, semantic_id=_ref(sem) if sem else None)


def _sim(name: str) -> str:
    return SIM_SEM.format(name)


def _mlp(id_short: str, text: str, sem: str) -> Any:
    from basyx.aas import model

    return model.MultiLanguageProperty(id_short, model.MultiLanguageTextType({"en": text[:1023] or "-"}),
                                       semantic_id=_ref(sem))


def _id_short(text: str) -> str:
    s = "".join(c if c.isalnum() else "_" for c in text)
    return s if s[:1].isalpha() else f"P_{s}"


def build_environment(pkg: ModelPackage) -> tuple[Any, Any, str]:
    """(DictIdentifiableStore, DictSupplementaryFileContainer, AAS id) of ``pkg``."""
    from basyx.aas import model
    from basyx.aas.adapter import aasx

    meta = pkg.meta
    files = aasx.DictSupplementaryFileContainer()
    names: dict[str, str] = {}
    for f in sorted(pkg.files.values(), key=lambda f: f.path):
        names[f.path] = files.add_file(PREFIX + f.path, io.BytesIO(f.data), f.content_type)

    def file_el(id_short: str, path: str, sem: str | None) -> Any:
        pf = pkg.files[path]
        return model.File(id_short, pf.content_type, names[path], semantic_id=_ref(sem) if sem else None)

    summary = (f"DMW Twin DT model of {meta.name} ({meta.shop_type} shop, {meta.size} stations): "
               "geometry (layout, meshes), behaviour (station/AGV state machines), logic (routes, "
               "dispatch and transfer rules) and a throughput performance model.")
    sim_model = _smc("SimulationModel", [
        _mlp("Summary", summary, _sim("Summary")),
        _smc("SimPurpose", [
            _strings("PosSimPurpose", ["digital twin of a discrete manufacturing workshop", "production planning",
                                       "throughput forecast", "model migration (DT4M)"], _sim("PosSimPurpose")),
            _strings("NegSimPurpose", ["machine dynamics", "process physics (cutting forces, heat)"],
                     _sim("NegSimPurpose")),
        ], _sim("SimPurpose")),
        _strings("TypeOfModel", ["discrete-event simulation", "finite state machines", "data-driven (neural network)"],
                 _sim("TypeOfModel")),
        _strings("ScopeOfModel", ["material flow", "station states", "AGV transport", "throughput"], _sim("ScopeOfModel")),
        _prop("LicenseModel", "free of charge", _sim("LicenseModel")),
        _strings("EngineeringDomain", ["production engineering", "intralogistics"], _sim("EngineeringDomain")),
        _smc("Environment", [
            _prop("OperatingSystem", "any (Python 3.11 or later, 64 bit)", _sim("OperatingSystem")),
            _strings("ToolEnvironment", ["DMW Twin 0.1", "SimPy 4", "PyTorch 2 (performance model)"],
                     _sim("ToolEnvironment")),
            _prop("VisualizationInformation", "3D view of the DMW Twin desktop app", _sim("VisualizationInformation")),
            _smc("SimulationTool", [
                _prop("SimToolName", "DMW Twin simulator (SimPy discrete-event)", _sim("SimToolName")),
                _smc("SolverAndTolerances", [
                    _prop("StepSizeControlNeeded", False, _sim("StepSizeControlNeeded")),
                    _prop("StiffSolverNeeded", False, _sim("StiffSolverNeeded")),
                    _prop("SolverIncluded", False, _sim("SolverIncluded")),
                ], _sim("SolverAndTolerances")),
            ], "https://admin-shell.io/idta/SimulationModels/simulationTool/1/0"),
        ], _sim("Environment")),
        _smc("ModelFile", [
            _prop("ModelFileType", "DMW Twin workshop file (TOML, docs/formats-workshop.md)", _sim("ModelFileType")),
            _smc("ModelFileVersion", [
                _prop("ModelVersionId", str(meta.provenance.get("version", "1")), _sim("ModelVersionId")),
                file_el("DigitalFile", "model/workshop.toml", _sim("DigitalFile")),
                _mlp("ModelFileReleaseNotesTxt", json.dumps(meta.provenance, sort_keys=True),
                     _sim("ModelFileReleaseNotesTxt")),
            ], _sim("ModelFileVersion")),
        ], _sim("ModelFile")),
        _prop("ParamMethod", "state-machine parameters per station type (JSON, bm/state_machines.json)",
              _sim("ParamMethod")),
        file_el("ParamFile", "bm/state_machines.json", _sim("ParamFile")),
        _prop("InitStateMethod", "start from the recorded shop state (init/state.json) or empty",
              _sim("InitStateMethod")),
        file_el("InitStateFile", "init/state.json", _sim("InitStateFile")),
        _prop("DefaultSimTime", 28800.0, _sim("DefaultSimTime")),
    ], _sim("SimulationModel"))
    sim_sm = model.Submodel(id_=f"urn:dmw-twin:{meta.id}:sm:SimulationModels", id_short="SimulationModels",
                            semantic_id=_ref(_sim("SimulationModels")), submodel_element=[sim_model])

    file_list = []
    for i, f in enumerate(sorted(pkg.files.values(), key=lambda f: f.path)):
        file_list.append(_smc(f"F{i:03d}", [
            file_el("File", f.path, None), _prop("Path", f.path), _prop("Part", f.part), _prop("Sha256", f.sha256),
        ]))
    parts = [_smc(p, [_prop(_id_short(k), v if isinstance(v, str) else json.dumps(v, sort_keys=True))
                      for k, v in sorted(meta.attributes[p].items())]) for p in ("GM", "BM", "LM", "PM")]
    dt4m = model.Submodel(id_=f"urn:dmw-twin:{meta.id}:sm:DT4M", id_short="DT4M", semantic_id=_ref(DT4M_SEM),
                          submodel_element=[
        _prop("Id", meta.id), _prop("Name", meta.name), _prop("Creator", meta.creator),
        _prop("Position", meta.position), _prop("Number", meta.number), _prop("ShopType", meta.shop_type),
        _prop("Size", meta.size), _strings("Levels", meta.levels),
        _smc("StationTypes", [_prop(_id_short(t), n) for t, n in sorted(meta.station_types.items())]),
        *parts,
        file_el("Description", "meta/dt4m.json", None),
        _smc("Files", file_list),
    ])
    aas_id = f"urn:dmw-twin:{meta.id}:aas"
    aas = model.AssetAdministrationShell(
        id_=aas_id, id_short=_id_short(f"DT_{meta.id}"),
        asset_information=model.AssetInformation(
            asset_kind=model.AssetKind.INSTANCE,
            global_asset_id=f"urn:dmw-twin:workshop:{meta.provenance.get('workshop', meta.id)}"),
        submodel={model.ModelReference.from_referable(sim_sm), model.ModelReference.from_referable(dt4m)},
    )
    return model.DictIdentifiableStore([aas, sim_sm, dt4m]), files, aas_id


def write_package(pkg: ModelPackage, path: str | Path) -> str:
    """Write ``pkg`` as an AASX file (atomically); returns the file's sha256."""
    import hashlib

    from basyx.aas.adapter import aasx

    store, files, aas_id = build_environment(pkg)
    buf = io.BytesIO()
    with aasx.AASXWriter(buf, failsafe=False) as writer:
        writer.write_aas(aas_id, store, files)
    data = buf.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------


def check_zip(data: bytes, where: str) -> None:
    """Every ZIP entry readable with a matching CRC; else PackageError naming the entry."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise PackageError(f"{where}: not an AASX package (not a ZIP/OPC file, or truncated)") from None
    with zf:
        for info in zf.infolist():
            try:
                zf.read(info)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise PackageError(f"{where}: part {part_label(info.filename)}, file /{info.filename}: "
                                   f"damaged ({exc})") from None


def read_environment(data: bytes, where: str) -> tuple[Any, Any]:
    """(DictIdentifiableStore, DictSupplementaryFileContainer) parsed by BaSyx."""
    from basyx.aas import model
    from basyx.aas.adapter import aasx

    check_zip(data, where)
    store: Any = model.DictIdentifiableStore()
    files = aasx.DictSupplementaryFileContainer()
    try:
        with aasx.AASXReader(io.BytesIO(data), failsafe=False) as reader:
            reader.read_into(store, files)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise PackageError(f"{where}: AAS environment cannot be read ({exc})") from None
    return store, files


def _find_dt4m(store: Any, where: str) -> Any:
    from basyx.aas import model

    for obj in store:
        if isinstance(obj, model.Submodel) and obj.semantic_id is not None and \
                obj.semantic_id.key and obj.semantic_id.key[0].value == DT4M_SEM:
            return obj
    raise PackageError(f"{where}: foreign package: no DT4M submodel ({DT4M_SEM}); "
                       "not a DMW Twin model package")


def read_package_bytes(data: bytes, where: str) -> ModelPackage:
    """Parse and check an AASX package held in memory; ``where`` names it in errors."""
    from basyx.aas import model

    store, files = read_environment(data, where)
    dt4m = _find_dt4m(store, where)
    try:
        listing = dt4m.get_referable("Files")
    except KeyError:
        raise PackageError(f"{where}: part META (DT4M description): no Files list in the DT4M submodel") from None
    out: dict[str, PackageFile] = {}
    for entry in listing.value:
        try:
            path = str(entry.get_referable("Path").value)
            part = str(entry.get_referable("Part").value)
            sha = str(entry.get_referable("Sha256").value)
            file_el = entry.get_referable("File")
        except KeyError as exc:
            raise PackageError(f"{where}: part META (DT4M description): file entry {entry.id_short} "
                               f"incomplete ({exc})") from None
        label = f"{part} ({PART_NAMES.get(part, '?')})"
        if part not in FILE_PARTS or not isinstance(file_el, model.File):
            raise PackageError(f"{where}: file {path}: unknown part {part!r}")
        name = file_el.value
        if name not in files:
            raise PackageError(f"{where}: part {label}, file {path}: missing from the package")
        buf = io.BytesIO()
        files.write_file(name, buf)
        blob = buf.getvalue()
        import hashlib

        if hashlib.sha256(blob).hexdigest() != sha:
            raise PackageError(f"{where}: part {label}, file {path}: checksum mismatch "
                               "(damaged or tampered; sha256 differs from the DT4M file list)")
        out[path] = PackageFile(path, part, file_el.content_type, blob)
    missing = [p for p in REQUIRED_FILES if p not in out]
    if missing:
        raise PackageError(f"{where}: incomplete package: no {', '.join(missing)}")
    desc = out["meta/dt4m.json"]
    try:
        doc = json.loads(desc.data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackageError(f"{where}: part META (DT4M description), file meta/dt4m.json: not JSON ({exc})") from None
    meta = PackageMeta.from_json(doc, f"{where}: part META, file meta/dt4m.json")
    listed_id = dt4m.get_referable("Id").value if "Id" in {e.id_short for e in dt4m.submodel_element} else None
    if listed_id != meta.id:
        raise PackageError(f"{where}: part META: DT4M submodel Id {listed_id!r} differs from meta/dt4m.json {meta.id!r}")
    for p, f in out.items():
        if f.content_type == "application/json":
            try:
                json.loads(f.data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise PackageError(f"{where}: part {f.part} ({PART_NAMES[f.part]}), file {p}: not JSON ({exc})") from None
    return ModelPackage(meta, out)


def read_package(path: str | Path) -> ModelPackage:
    """Read and check the AASX package file at ``path`` (see :func:`read_package_bytes`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PackageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return read_package_bytes(data, str(path))


def environment_json(store: Any) -> str:
    """The AAS environment as BaSyx JSON text (to compare two environments)."""
    from basyx.aas.adapter.json import write_aas_json_file

    buf = io.StringIO()
    write_aas_json_file(buf, store)
    return buf.getvalue()
