"""Model warehouse: AASX packages, integrity, index, recommendation, migration, SPARQL."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest

from main import main
from twin.warehouse import kg
from twin.warehouse.aasx import (
    build_environment, environment_json, read_environment, read_package, read_package_bytes, write_package,
)
from twin.warehouse.attributes import Descriptor
from twin.warehouse.model import PackageError
from twin.warehouse.parts import package_layout
from twin.warehouse.pm import CURVE_SHARES, LearningCurve, PMData, ThroughputPM
from twin.warehouse.recommender import load_recommender, recommend
from twin.warehouse.store import SAMPLES_DIR, Warehouse
from twin.workshop import load_workshop

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = SAMPLES_DIR / "packages"
B = SAMPLES / "B.aasx"


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "wh"
    with Warehouse(root) as w:
        for f in sorted(SAMPLES.glob("*.aasx")):
            w.import_package(f)
    return root


@pytest.fixture
def wh(_template: Path, tmp_path: Path) -> Warehouse:
    """A warehouse holding the bundled B–F (a copy of one imported once per module)."""
    shutil.copytree(_template, tmp_path / "wh")
    w = Warehouse(tmp_path / "wh")
    yield w
    w.close()


def _rewrite(data: bytes, entry: str, change) -> bytes:
    """The same ZIP with one entry's bytes changed (a valid ZIP: only the sha256 can tell)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = src.read(info)
            dst.writestr(info, change(blob) if info.filename == entry else blob)
    return out.getvalue()


def _canonical(env_json: str) -> dict:
    """An AAS environment with its unordered collections (a shell's submodel references, the
    identifiables) sorted, so that two equal environments compare equal."""
    import json

    env = json.loads(env_json)
    for shell in env.get("assetAdministrationShells", []):
        shell["submodels"] = sorted(shell.get("submodels", []), key=lambda r: json.dumps(r, sort_keys=True))
    for key in ("assetAdministrationShells", "submodels", "conceptDescriptions"):
        env[key] = sorted(env.get(key, []), key=lambda o: o["id"])
    return env


def test_bundled_samples_are_the_papers_models_b_to_f(wh: Warehouse) -> None:
    rows = {e.id: (e.meta.shop_type, e.meta.size) for e in wh.list()}
    assert rows == {"B": ("machining", 8), "C": ("machining", 8), "D": ("assembly", 4),
                    "E": ("assembly", 4), "F": ("assembly", 8)}
    assert sum(f.stat().st_size for f in SAMPLES_DIR.rglob("*") if f.is_file()) < 2_000_000


def test_aasx_written_by_us_reads_back_equal_with_basyx(tmp_path: Path) -> None:
    pkg = read_package(B)
    out = tmp_path / "B2.aasx"
    write_package(pkg, out)
    store, _, _ = build_environment(pkg)
    read_store, read_files = read_environment(out.read_bytes(), str(out))
    assert _canonical(environment_json(read_store)) == _canonical(environment_json(store))
    sim = read_store.get_item("urn:dmw-twin:B:sm:SimulationModels")
    sm = sim.get_referable("SimulationModel")
    assert {"SimPurpose", "TypeOfModel", "ScopeOfModel", "Environment", "ModelFile", "ParamFile",
            "InitStateFile"} <= {e.id_short for e in sm.value}
    digital = sm.get_referable("ModelFile").get_referable("ModelFileVersion").get_referable("DigitalFile")
    assert digital.value in read_files  # the workshop file is a supplementary file of the package
    again = read_package(out)
    assert {p: f.data for p, f in again.files.items()} == {p: f.data for p, f in pkg.files.items()}
    assert again.meta.to_json() == pkg.meta.to_json()


def test_import_export_import_is_byte_identical(wh: Warehouse, tmp_path: Path) -> None:
    exported = wh.export("C", tmp_path / "C-out.aasx")
    other = Warehouse(tmp_path / "other")
    other.import_package(exported)
    again = other.export("C", tmp_path / "C-again.aasx")
    assert again.read_bytes() == exported.read_bytes() == (SAMPLES / "C.aasx").read_bytes()
    first, second = read_package(SAMPLES / "C.aasx"), read_package(again)
    assert {p: f.sha256 for p, f in first.files.items()} == {p: f.sha256 for p, f in second.files.items()}
    other.close()


@pytest.mark.parametrize("path,part", [
    ("model/workshop.toml", "LM"), ("gm/layout.json", "GM"), ("gm/meshes.json", "GM"),
    ("bm/state_machines.json", "BM"), ("init/state.json", "BM"), ("lm/logic.json", "LM"),
    ("pm/model.safetensors", "PM"), ("pm/model.json", "PM"), ("kg/graph.ttl", "KG"), ("meta/dt4m.json", "META"),
])
def test_a_flipped_byte_in_any_part_is_refused_naming_it(path: str, part: str, wh: Warehouse, tmp_path: Path) -> None:
    data = B.read_bytes()
    flip = lambda b: b[:40] + bytes([b[40] ^ 0x01]) + b[41:]  # noqa: E731
    bad = tmp_path / "bad.aasx"
    bad.write_bytes(_rewrite(data, f"aasx/dt4m/{path}", flip))
    with pytest.raises(PackageError) as err:
        wh.import_package(bad, replace=True)
    msg = str(err.value)
    assert str(bad) in msg and path in msg and f"part {part}" in msg and "checksum mismatch" in msg
    assert [e.id for e in wh.list()] == ["B", "C", "D", "E", "F"]  # nothing replaced, still usable
    assert wh.load("B").file(path).data == read_package(B).file(path).data


def test_damaged_zip_entry_truncated_and_foreign_packages_are_refused(tmp_path: Path) -> None:
    data = B.read_bytes()
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("aasx/dt4m/pm/model.safetensors")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw = bytearray(data)
    raw[start + info.compress_size // 2] ^= 0xFF  # a byte flipped on disk, inside the compressed data
    with pytest.raises(PackageError, match=r"part PM \(performance model\), file /aasx/dt4m/pm/model.safetensors"):
        read_package_bytes(bytes(raw), "B.aasx")
    with pytest.raises(PackageError, match="not an AASX package"):
        read_package_bytes(data[: len(data) // 2], "half.aasx")
    # an AASX of someone else's asset (no DT4M submodel)
    from basyx.aas import model
    from basyx.aas.adapter import aasx

    sm = model.Submodel(id_="urn:x:sm", id_short="Nameplate")
    aas = model.AssetAdministrationShell(id_="urn:x:aas", asset_information=model.AssetInformation(
        asset_kind=model.AssetKind.INSTANCE, global_asset_id="urn:x:asset"),
        submodel={model.ModelReference.from_referable(sm)})
    buf = io.BytesIO()
    with aasx.AASXWriter(buf) as w:
        w.write_aas("urn:x:aas", model.DictIdentifiableStore([aas, sm]), aasx.DictSupplementaryFileContainer())
    with pytest.raises(PackageError, match="foreign package: no DT4M submodel"):
        read_package_bytes(buf.getvalue(), "pump.aasx")


def test_index_rebuilds_from_files_and_skips_a_broken_one(wh: Warehouse) -> None:
    assert [e.id for e in wh.search(shop_type="assembly", size=(4, 4))] == ["D", "E"]
    assert [e.id for e in wh.search(station_types=["packing"])] == ["F"]
    assert [e.id for e in wh.search(text="hall c")] == ["C"]
    (wh.root / "packages" / "X.aasx").write_bytes(b"not a zip")
    refused = wh.rebuild_index()
    assert len(refused) == 1 and "X.aasx" in refused[0] and "not an AASX package" in refused[0]
    assert [e.id for e in wh.list()] == ["B", "C", "D", "E", "F"]
    wh.delete("E")
    assert not (wh.root / "packages" / "E.aasx").exists()
    assert [e.id for e in wh.search(shop_type="assembly")] == ["D", "F"]


def test_paper_case_recommends_a_machining_model_for_machining13(wh: Warehouse) -> None:
    target = Descriptor.of_workshop(load_workshop(ROOT / "assets/workshops/machining13.toml"))
    model = load_recommender(wh)
    recs = recommend(wh, (0.1, 0.1, 0.3, 0.5), target, model=model)
    assert recs[0].id in ("B", "C") and recs[0].shop_type == "machining"
    assert abs(sum(r.probability for r in recs) - 1.0) < 1e-6
    assert recs[0].probability > max(r.probability for r in recs if r.shop_type == "assembly")
    assert recs[0].transfer["LM"] > max(r.transfer["LM"] for r in recs if r.shop_type == "assembly")
    # and not a constant answer: an assembly target gets an assembly model first
    asm = Descriptor.of_workshop(load_workshop(ROOT / "assets/workshops/assembly8.toml"))
    assert recommend(wh, (0.1, 0.1, 0.3, 0.5), asm, model=model)[0].shop_type == "assembly"


def test_migration_to_a_shop_with_a_station_type_the_source_lacks(wh: Warehouse, tmp_path: Path) -> None:
    from twin.recording import open_recording
    from twin.sim_cli import simulate_to_recording
    from twin.warehouse.migrate import migrate

    ws = load_workshop(ROOT / "assets/workshops/machining13.toml")
    rec_path = tmp_path / "m13.twinlog"
    simulate_to_recording(ws, rec_path, hours=2.0, seed=5)
    with open_recording(rec_path) as rec:
        pkg, report = migrate(wh.load("B"), ws, rec, new_id="A")
    assert report.missing_station_types == ["washer"]  # machining8 (B) has no washer
    assert any("washer" in s for s in report.left["BM"]) and any("washer" in s for s in report.left["GM"])
    assert any("lathe" in s for s in report.reused["BM"])
    assert any("wash" in s for s in report.left["LM"])  # the housing route's washing step
    assert report.pm_accuracy["after"] is not None and 0.0 <= report.pm_accuracy["after"] <= 1.0
    assert report.reused["PM"] == ["progress-lstm weights of B"]  # the bundled LSTM PM migrates
    assert any("S12" in s for s in report.left["PM"])  # the washer's inputs: no such station type in B
    assert report.pm_accuracy["before_fine_tune"] is not None
    c = report.learning_curve  # what the dock plots: from scratch vs migrated on growing shares
    assert c is not None and c.shares == CURVE_SHARES and c.test_samples == report.pm_accuracy["test_samples"]
    assert list(c.samples) == sorted(c.samples) and c.samples[0] < c.samples[-1]
    assert all(0.0 <= a <= 1.0 for a in (*c.from_scratch, *c.migrated))
    assert "PM learning curve" in report.to_text()
    meta = wh.add(pkg)
    assert meta.provenance["parent"] == "B" and meta.size == 13
    assert LearningCurve.from_json(meta.provenance["migration"]["learning_curve"]).samples == c.samples
    layout = package_layout(wh.load("A"))  # the migrated package's layout is the target's
    assert {s[0]: (s[2], s[3]) for s in layout.stations} == {s.id: (s.x, s.y) for s in ws.stations.values()}
    assert wh.load("A").meta.station_types["washer"] == 1


def test_lstm_pm_migrated_to_another_workshop_predicts_its_progress(tmp_path: Path) -> None:
    """B's PM (the production-progress LSTM of machining8) migrated to machining13 and
    fine-tuned on 4 h of it predicts another machining13 shift better than the same net
    untrained (random weights, the migration's scaling) and than no model (the mean)."""
    import copy

    import numpy as np
    import torch

    from twin.evolution.model import LSTMNet
    from twin.recording import open_recording
    from twin.sim_cli import simulate_to_recording
    from twin.warehouse.migrate import migrate
    from twin.warehouse.parts import load_pm_section
    from twin.warehouse.pm import test_accuracy
    from twin.warehouse.progress_pm import ProgressPM, progress_samples, read_pm

    ws = load_workshop(ROOT / "assets/workshops/machining13.toml")
    fit_path, eval_path = tmp_path / "fit.twinlog", tmp_path / "eval.twinlog"
    simulate_to_recording(ws, fit_path, hours=4.0, seed=7)
    simulate_to_recording(ws, eval_path, hours=3.0, seed=8)  # another shift, from its start (ramp-up)
    with open_recording(fit_path) as rec:
        pkg, report = migrate(read_package(B), ws, rec, new_id="A", curve=False)
        fit = progress_samples(rec, ws)
    assert report.reused["PM"] == ["progress-lstm weights of B"]
    assert any("96 from stations of the same type" in s for s in report.adapted["PM"])
    pm = read_pm(*load_pm_section(pkg))  # what the package carries, read back through its checks
    assert isinstance(pm, ProgressPM) and len(pm.features_) == 13 * 8 + 7
    with open_recording(eval_path) as rec:
        ev = progress_samples(rec, ws)
    untrained = copy.copy(pm)
    untrained.lstm_ = pm.lstm_.clone()
    torch.manual_seed(0)
    untrained.lstm_.net_ = LSTMNet(len(pm.features_), 2, pm.lstm_.hidden, pm.lstm_.layers).eval()
    level = test_accuracy(ev.y[:, 0], np.full(len(ev), float(fit.y[:, 0].mean())))
    acc = pm.score(ev)
    assert acc > untrained.score(ev) + 0.05 and acc > level + 0.05, (acc, untrained.score(ev), level)


def test_a_package_of_the_former_pm_kind_still_reads_and_migrates(tmp_path: Path) -> None:
    from twin.recording import open_recording
    from twin.sim_cli import simulate_to_recording
    from twin.warehouse.migrate import migrate
    from twin.warehouse.parts import load_pm_section
    from twin.warehouse.progress_pm import read_pm

    old = read_package(ROOT / "tests/fixtures/warehouse/B-throughput-mlp.aasx")  # written before the LSTM PM
    assert isinstance(read_pm(*load_pm_section(old)), ThroughputPM)
    ws = load_workshop(ROOT / "assets/workshops/machining13.toml")
    simulate_to_recording(ws, tmp_path / "m13.twinlog", hours=2.0, seed=5)
    with open_recording(tmp_path / "m13.twinlog") as rec:
        pkg, report = migrate(old, ws, rec, new_id="A", curve=False)
    assert report.reused["PM"] == ["throughput-mlp weights of B"]
    assert load_pm_section(pkg)[1]["kind"] == "throughput-mlp"  # migrated with its own kind


def test_pm_weights_that_do_not_fit_the_config_are_refused() -> None:
    from twin.warehouse.parts import load_pm_section
    from twin.warehouse.progress_pm import read_pm

    tensors, config = load_pm_section(read_package(B))
    with pytest.raises(ValueError, match="PM scaling does not match its 71 named inputs"):
        read_pm({**tensors, "x_mean": tensors["x_mean"][:-1]}, config)
    with pytest.raises(ValueError, match="PM weights do not fit its config"):
        read_pm(tensors, {**config, "inputs": config["inputs"][:-1]})
    with pytest.raises(ValueError, match="PM kind 'gnn' is neither"):
        read_pm(tensors, {**config, "kind": "gnn"})


def test_migrated_pm_takes_the_target_shops_level_and_keeps_its_features() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 27)).astype(np.float32)
    y = (1.2 + 0.1 * X[:, -2]).astype(np.float32)
    source = ThroughputPM(epochs=60).fit(PMData(X, y, np.arange(80.0)))
    # the target shop: other input means, output 0.4 parts/h per station higher
    Xt = (X[:20] + 0.3).astype(np.float32)
    target = PMData(Xt, (1.6 + 0.1 * X[:20, -2]).astype(np.float32), np.arange(20.0))
    assert np.mean(target.y - source.predict(target.X)) > 0.2  # the weights alone carry the level wrongly
    assert abs(np.mean(target.y - source.align(target).predict(target.X))) < 1e-4
    tuned = ThroughputPM(epochs=20, tune="head").fit(target, init_from=source)
    for k, v in source.net_.state_dict().items():  # hidden layers are the transferred features
        assert np.array_equal(v.numpy(), tuned.net_.state_dict()[k].numpy()) == (not k.startswith("4."))
    with pytest.raises(ValueError, match="tune"):
        ThroughputPM(tune="last")


def test_sparql_on_the_bundled_graph_answers_a_relation(capsys: pytest.CaptureFixture[str]) -> None:
    pkg = read_package(B)
    g = kg.parse_turtle(pkg.file("kg/graph.ttl").data, "B")
    _, rows = kg.query(g, "SELECT ?p WHERE { dmw:Station_L1 dmw:hasProcess ?p } ORDER BY ?p")
    assert rows == [["dmw:Process_turn_flange"], ["dmw:Process_turn_shaft"]]
    _, wips = kg.query(g, "SELECT DISTINCT ?s WHERE { ?w dmw:beProcessedin ?s }")
    assert wips and {r[0] for r in wips} <= {f"dmw:Station_{s}" for s in ("L1", "L2", "D1", "Q1", "M1", "M2", "G1", "B1")}
    assert main(["kg", "query", str(B), "ASK { dmw:Machine_D1 dmw:isLocatedin dmw:Station_D1 }"]) == 0
    assert capsys.readouterr().out.split() == ["ask", "true"]


def test_cli_recommend_import_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whdir = tmp_path / "cli-wh"
    assert main(["warehouse", "import", str(SAMPLES / "B.aasx"), str(SAMPLES / "D.aasx"),
                 "--warehouse", str(whdir)]) == 0
    assert capsys.readouterr().out.splitlines() == ["imported B: Model B: Machining cell, 8 stations",
                                                    "imported D: Model D: Assembly line, 4 stations"]
    assert main(["warehouse", "recommend", "--requirement", "0.1,0.1,0.3,0.5", "--workshop",
                 str(ROOT / "assets/workshops/machining13.toml"), "--warehouse", str(whdir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[1] in ("B", "C")
    bad = tmp_path / "bad.aasx"
    shutil.copyfile(B, bad)
    raw = bytearray(bad.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    bad.write_bytes(bytes(raw))
    assert main(["warehouse", "import", str(bad), "--warehouse", str(whdir)]) == 2
    err = capsys.readouterr().err
    assert "dmw-twin warehouse:" in err and "bad.aasx" in err
    assert main(["warehouse", "recommend", "--requirement", "0.1,0.1", "--workshop",
                 str(ROOT / "assets/workshops/machining13.toml"), "--warehouse", str(whdir)]) == 2
    assert "expected 4" in capsys.readouterr().err
