"""Asset pipeline: every format lands in metres, Z up, light, cached; bad files fail clearly.

Fixtures: tests/fixtures/meshes (tiny, written by make_fixtures.py with known extents) and
the real third-party meshes bundled in assets/meshes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import main as entry

from scene import assets
from scene.assets import AssetError, load_asset, placeholder

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "meshes"
MESHES = ROOT / "assets" / "meshes"
MIR100 = MESHES / "mir100_base_visual.stl"
ARIAC_AGV = MESHES / "ariac_agv" / "robot.dae"
CONVEYOR = MESHES / "ariac_conveyor" / "conveyor.dae"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "mesh-cache"


def _extents(mesh) -> np.ndarray:
    b = mesh.bounds
    return np.array([b[1] - b[0], b[3] - b[2], b[5] - b[4]])


# ---------------------------------------------------------------------------------------
# Formats, units, up axis
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "kwargs", "fmt", "units", "up", "extents", "n_parts"),
    [
        ("box_ascii.stl", {}, "stl", "m", "Z", (1.2, 0.8, 0.5), 1),
        ("box_mm_binary.stl", {"units": "mm"}, "stl", "mm", "Z", (0.4, 0.3, 0.2), 1),
        ("two_parts.obj", {}, "obj", "m", "Z", (1.0, 0.6, 0.5), 2),
        ("coloured.ply", {}, "ply", "m", "Z", (0.5, 0.25, 0.75), 1),
        ("y_up.gltf", {}, "gltf", "m", "Y", (1.0, 0.5, 2.0), 2),
        ("y_up.glb", {}, "glb", "m", "Y", (1.0, 0.5, 2.0), 2),
        ("cm_y_up.dae", {}, "dae", "cm", "Y", (2.0, 1.0, 0.5), 2),
        ("box_mm.step", {}, "step", "mm", "Z", (0.4, 0.3, 0.2), 1),
    ],
)
def test_each_format_imports_in_metres_z_up(cache, name, kwargs, fmt, units, up, extents, n_parts):
    asset = load_asset(FIXTURES / name, cache_dir=cache, **kwargs)
    assert asset.format == fmt
    assert asset.units == units
    assert asset.up_axis == up
    assert asset.extents_m == pytest.approx(extents, abs=1e-4)
    assert _extents(asset.merged()) == pytest.approx(extents, abs=1e-4)
    assert len(asset.parts) == n_parts
    assert asset.triangles_before == asset.triangles_after == 12 * n_parts
    assert asset.warnings == []


def test_gltf_y_up_becomes_z_up_without_mirroring(cache):
    # In the file the mast rises 1.7 m along +Y (up) and the base spans z = 0..0.5 (front).
    asset = load_asset(FIXTURES / "y_up.gltf", cache_dir=cache)
    mast = next(p for p in asset.parts if p.name == "mast")
    base = next(p for p in asset.parts if p.name == "base")
    assert _extents(mast.mesh)[2] == pytest.approx(1.7, abs=1e-4)  # node scale applied, now along Z
    assert mast.mesh.bounds[4] == pytest.approx(0.3, abs=1e-4)  # stands on the base
    # a proper rotation (+90 deg about X): glTF +Z (front) becomes -Y
    assert base.mesh.bounds[2] == pytest.approx(-0.5, abs=1e-4)
    assert base.mesh.bounds[3] == pytest.approx(0.0, abs=1e-4)


def test_colours_come_from_materials_vertex_colours_and_textures(cache):
    obj = load_asset(FIXTURES / "two_parts.obj", cache_dir=cache)
    by_name = {p.name: p.rgb for p in obj.parts}
    assert by_name["body"] == pytest.approx((0.8, 0.1, 0.1), abs=0.01)
    assert by_name["lid"] == pytest.approx((0.1, 0.2, 0.8), abs=0.01)
    merged = obj.merged()
    assert merged.point_data["rgb"].dtype == np.uint8
    assert {tuple(c) for c in np.asarray(merged.point_data["rgb"])} == {(204, 26, 26), (26, 51, 204)}

    ply = load_asset(FIXTURES / "coloured.ply", cache_dir=cache)
    assert ply.parts[0].rgb == pytest.approx((20 / 255, 160 / 255, 40 / 255), abs=0.01)

    dae = load_asset(FIXTURES / "cm_y_up.dae", cache_dir=cache)
    sign = next(p for p in dae.parts if p.name == "sign")
    frame = next(p for p in dae.parts if p.name == "frame")
    assert sign.texture is not None and sign.texture.shape[2] == 3
    assert "uv" in sign.mesh.point_data
    # the checker texture is red and white: sampled vertex colours are red or white
    colours = {tuple(c) for c in np.asarray(sign.mesh.point_data["rgb"])}
    assert colours <= {(220, 30, 30), (250, 250, 250)} and (220, 30, 30) in colours
    assert frame.rgb == pytest.approx((0.5, 0.5, 0.55), abs=0.01)


def test_missing_texture_is_a_warning_and_the_material_colour(cache):
    asset = load_asset(FIXTURES / "missing_texture.dae", cache_dir=cache)
    assert len(asset.warnings) == 1
    assert "no_such_texture.png" in asset.warnings[0] and "missing_texture.dae" in asset.warnings[0]
    sign = next(p for p in asset.parts if p.name == "sign")
    assert sign.texture is None
    assert sign.rgb == pytest.approx(assets.DEFAULT_RGB, abs=0.01)
    assert asset.extents_m == pytest.approx((2.0, 1.0, 0.5), abs=1e-4)


def test_missing_material_library_warns_and_its_arrival_refreshes_the_cache(cache, tmp_path):
    work = tmp_path / "obj"
    work.mkdir()
    shutil.copy(FIXTURES / "two_parts.obj", work / "two_parts.obj")
    bare = load_asset(work / "two_parts.obj", cache_dir=cache)
    assert len(bare.warnings) == 1 and "two_parts.mtl" in bare.warnings[0]
    assert all(p.rgb == pytest.approx(assets.DEFAULT_RGB, abs=0.01) for p in bare.parts)
    assert load_asset(work / "two_parts.obj", cache_dir=cache).from_cache
    shutil.copy(FIXTURES / "two_parts.mtl", work / "two_parts.mtl")
    coloured = load_asset(work / "two_parts.obj", cache_dir=cache)
    assert not coloured.from_cache
    assert coloured.warnings == []
    assert {p.name: p.rgb for p in coloured.parts}["body"] == pytest.approx((0.8, 0.1, 0.1), abs=0.01)


def test_millimetre_cad_read_as_metres_is_flagged_for_its_role(cache):
    wrong = load_asset(FIXTURES / "box_mm_binary.stl", role="station", cache_dir=cache)
    assert max(wrong.extents_m) == pytest.approx(400.0)
    assert len(wrong.warnings) == 1
    assert "millimetres read as metres" in wrong.warnings[0]
    assert "units='mm'" in wrong.warnings[0]
    assert "box_mm_binary.stl" in wrong.warnings[0]
    right = load_asset(FIXTURES / "box_mm_binary.stl", units="mm", role="station", cache_dir=cache)
    assert right.warnings == []
    tiny_agv = load_asset(MIR100, units="mm", role="agv", cache_dir=cache, budget=2000)
    assert any("too small" in w for w in tiny_agv.warnings)


def test_overrides_replace_declared_units_and_axis(cache):
    # up_axis override: the ASCII box read as Y-up turns (x, y, z) -> (x, -z, y)
    y_up = load_asset(FIXTURES / "box_ascii.stl", up_axis="Y", cache_dir=cache)
    assert y_up.extents_m == pytest.approx((1.2, 0.5, 0.8), abs=1e-4)
    assert y_up.up_axis == "Y"
    # units override replaces the COLLADA <unit>, scale multiplies on top
    dae = load_asset(FIXTURES / "cm_y_up.dae", units="mm", scale=2.0, cache_dir=cache)
    assert dae.units == "mm"
    assert dae.extents_m == pytest.approx((0.4, 0.2, 0.1), abs=1e-5)
    # the STEP box is declared in mm; saying it is in cm makes it 10x larger
    step = load_asset(FIXTURES / "box_mm.step", units="cm", cache_dir=cache)
    assert step.extents_m == pytest.approx((4.0, 3.0, 2.0), abs=1e-4)
    # the Z-up axis override on a Y-up glTF keeps its raw axes
    gltf = load_asset(FIXTURES / "y_up.glb", up_axis="z", cache_dir=cache)
    assert gltf.extents_m == pytest.approx((1.0, 2.0, 0.5), abs=1e-4)
    with pytest.raises(ValueError, match="unknown length unit"):
        load_asset(FIXTURES / "box_ascii.stl", units="furlong", cache_dir=cache)
    with pytest.raises(ValueError, match="up axis"):
        load_asset(FIXTURES / "box_ascii.stl", up_axis="W", cache_dir=cache)


def test_negative_up_axis_turns_the_model_right_side_up(cache):
    # read as "-Z is up", the box is turned upside down: extents stay, the top goes down
    flipped = load_asset(FIXTURES / "two_parts.obj", up_axis="-z", cache_dir=cache)
    assert flipped.extents_m == pytest.approx((1.0, 0.6, 0.5), abs=1e-4)
    lid = next(p for p in flipped.parts if p.name == "lid")
    body = next(p for p in flipped.parts if p.name == "body")
    assert lid.mesh.bounds[5] <= body.mesh.bounds[4] + 1e-6


# ---------------------------------------------------------------------------------------
# The real bundled meshes
# ---------------------------------------------------------------------------------------

def test_real_mir100_stl_has_its_catalogue_footprint(cache):
    asset = load_asset(MIR100, budget=None, role="agv", cache_dir=cache)
    assert asset.triangles_before == 37622
    assert asset.triangles_after == 37622
    ex, ey, ez = asset.extents_m
    assert ex == pytest.approx(0.89, abs=0.015)  # MiR100 datasheet: 890 x 580 mm
    assert ey == pytest.approx(0.58, abs=0.015)
    assert 0.25 < ez < 0.4
    assert asset.warnings == []


def test_real_ariac_collada_agv_and_conveyor(cache):
    agv = load_asset(ARIAC_AGV, role="agv", cache_dir=cache)
    assert agv.units == "m" and agv.up_axis == "Z"
    assert agv.extents_m == pytest.approx((0.673, 1.171, 1.212), abs=0.005)
    assert agv.parts[0].texture is not None  # robot.png found and applied
    conveyor = load_asset(CONVEYOR, role="conveyor", budget=None, cache_dir=cache)
    assert len(conveyor.parts) == 7
    assert conveyor.triangles_before == 1532
    assert conveyor.extents_m[1] == pytest.approx(9.0, abs=0.05)
    assert sum(p.texture is not None for p in conveyor.parts) >= 3
    assert conveyor.warnings == []


# ---------------------------------------------------------------------------------------
# Lightweighting, levels of detail, cache
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("budget", [12000, 3000, 800])
def test_decimation_lands_within_ten_percent_of_budget_and_keeps_the_silhouette(cache, budget):
    asset = load_asset(MIR100, budget=budget, use_cache=False)
    assert asset.triangles_before == 37622
    assert abs(asset.triangles_after - budget) <= 0.1 * budget
    for level, fraction in enumerate((1.0, 0.25, 0.05)):
        target = budget * fraction
        assert abs(asset.lods[level].n_cells - target) <= max(0.1 * target, 4)
    # the outline survives: bounding box within 1.5 cm of the full mesh (0.89 x 0.58 m)
    assert asset.extents_m == pytest.approx((0.898, 0.584, 0.334), abs=0.002)
    assert _extents(asset.merged(0)) == pytest.approx(asset.extents_m, abs=0.015)


def test_multi_part_decimation_shares_the_budget(cache):
    asset = load_asset(CONVEYOR, budget=600, cache_dir=cache)
    assert abs(asset.triangles_after - 600) <= 60
    assert len(asset.parts) == 7  # no part vanished
    assert all(p.triangles > 0 for p in asset.parts)
    merged = asset.merged()
    assert set(np.unique(merged.point_data["part"])) == set(range(7))
    # tiny parts (a 2-triangle decal) are kept whole
    assert min(p.triangles for p in asset.parts) == 2


def test_second_load_is_a_cache_hit_without_import_or_decimation(cache, monkeypatch):
    first = load_asset(MIR100, budget=2000, cache_dir=cache)
    assert not first.from_cache
    assert first.cache_path is not None and first.cache_path.endswith(".npz")
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as npz:  # plain arrays, no pickle
        assert "lod0_points" in npz.files

    def fail(*_a, **_k):
        raise AssertionError("cache hit must not import or decimate")

    monkeypatch.setattr(assets, "_read", fail)
    monkeypatch.setattr(assets, "_decimate", fail)
    second = load_asset(MIR100, budget=2000, cache_dir=cache)
    assert second.from_cache
    assert second.triangles_before == 37622
    assert second.triangles_after == first.triangles_after
    assert [m.n_cells for m in second.lods] == [m.n_cells for m in first.lods]
    np.testing.assert_allclose(second.merged().points, first.merged().points)
    assert second.extents_m == pytest.approx(first.extents_m)
    # a different budget is a different entry
    monkeypatch.undo()
    third = load_asset(MIR100, budget=1000, cache_dir=cache)
    assert not third.from_cache
    assert len(list(cache.glob("*.npz"))) == 2


def test_cache_notices_changed_content_and_textures(cache, tmp_path):
    work = tmp_path / "model"
    work.mkdir()
    for name in ("cm_y_up.dae", "checker.png"):
        shutil.copy(FIXTURES / name, work / name)
    first = load_asset(work / "cm_y_up.dae", cache_dir=cache)
    assert load_asset(work / "cm_y_up.dae", cache_dir=cache).from_cache
    # repaint the texture green: same .dae, different side file -> rebuilt with new colour
    from PIL import Image

    Image.fromarray(np.full((4, 4, 3), (20, 200, 40), dtype=np.uint8)).save(work / "checker.png")
    repainted = load_asset(work / "cm_y_up.dae", cache_dir=cache)
    assert not repainted.from_cache
    sign = next(p for p in repainted.parts if p.name == "sign")
    assert sign.rgb == pytest.approx((20 / 255, 200 / 255, 40 / 255), abs=0.01)
    # change the geometry file itself (cm -> mm declared) -> rebuilt, 10x smaller
    text = (work / "cm_y_up.dae").read_text().replace('meter="0.01"', 'meter="0.001"')
    (work / "cm_y_up.dae").write_text(text)
    smaller = load_asset(work / "cm_y_up.dae", cache_dir=cache)
    assert not smaller.from_cache
    assert max(smaller.extents_m) == pytest.approx(max(first.extents_m) / 10)


def test_unreadable_cache_entry_is_rebuilt(cache):
    first = load_asset(FIXTURES / "two_parts.obj", cache_dir=cache)
    Path(first.cache_path).write_bytes(b"not an npz")
    again = load_asset(FIXTURES / "two_parts.obj", cache_dir=cache)
    assert not again.from_cache
    assert again.extents_m == pytest.approx((1.0, 0.6, 0.5), abs=1e-4)
    assert load_asset(FIXTURES / "two_parts.obj", cache_dir=cache).from_cache


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert assets.default_cache_dir() == tmp_path / "dmw-twin" / "meshes"


def test_merged_mesh_is_one_drawable_with_colours_and_parts(cache):
    asset = load_asset(FIXTURES / "y_up.glb", cache_dir=cache)
    merged = asset.merged()
    assert merged.n_cells == asset.triangles_after
    rgb = np.asarray(merged.point_data["rgb"])
    assert rgb.dtype == np.uint8 and rgb.shape == (merged.n_points, 3)
    assert set(np.unique(merged.point_data["part"])) == {0, 1}
    assert merged.point_data["Normals"].shape == (merged.n_points, 3)
    merged.points += 5.0  # a copy: the asset is untouched
    assert asset.merged().bounds[0] == pytest.approx(0.0, abs=1e-6)
    assert asset.merged(lod=99).n_cells == asset.lods[-1].n_cells


def test_progress_is_reported_and_can_abort(cache):
    stages = []
    load_asset(FIXTURES / "two_parts.obj", cache_dir=cache, progress=lambda s, f: stages.append((s, f)))
    assert stages[-1] == ("done", 1.0)
    assert any(s == "decimate" for s, _ in stages)

    class Abort(Exception):
        pass

    def abort(stage: str, fraction: float) -> None:
        if stage == "decimate":
            raise Abort

    with pytest.raises(Abort):
        load_asset(FIXTURES / "y_up.gltf", use_cache=False, progress=abort)


# ---------------------------------------------------------------------------------------
# Bad files
# ---------------------------------------------------------------------------------------

def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    rng = np.random.default_rng(7)
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, expected: str) -> None:
        path = tmp / name
        path.write_bytes(data)
        cases[name] = (path, expected)

    put("empty.stl", b"", "empty file")
    put("noise.stl", rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(), "binary STL")
    put("truncated.stl", MIR100.read_bytes()[:40_000], "truncated binary STL")
    put("noise.obj", b"hello\nthis is not a mesh\n", "no triangles")
    put("broken.dae", b"<COLLADA><asset", "COLLADA")
    put("broken.gltf", b"{not json", "glTF")
    put("noise.glb", rng.integers(0, 256, 500, dtype=np.uint8).tobytes(), "GLB")
    put("noise.ply", b"ply?\x00\x01garbage", "PLY")
    put("truncated.step", (FIXTURES / "box_mm.step").read_bytes()[:500], "STEP")
    put("model.xyz", b"1 2 3\n", "unsupported mesh format")
    return cases


@pytest.mark.parametrize(
    "name",
    ["empty.stl", "noise.stl", "truncated.stl", "noise.obj", "broken.dae", "broken.gltf",
     "noise.glb", "noise.ply", "truncated.step", "model.xyz"],
)
def test_bad_file_raises_asset_error_naming_file_and_problem(tmp_path, name):
    path, expected = _bad_files(tmp_path)[name]
    with pytest.raises(AssetError) as err:
        load_asset(path, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert str(path) in message
    assert expected in message
    assert "Traceback" not in message and "\n" not in message


def test_missing_file_is_an_asset_error(tmp_path):
    with pytest.raises(AssetError, match="file not found"):
        load_asset(tmp_path / "nowhere.stl")


def test_placeholder_is_a_labelled_box_of_the_requested_size():
    box = placeholder("S07 lathe", size=(2.0, 1.0, 1.5))
    ex, ey, ez = _extents(box)
    assert ex == pytest.approx(2.0, abs=1e-6)
    assert ey == pytest.approx(1.0, abs=0.01)  # label stands 2 mm proud of the front
    assert ez == pytest.approx(1.5, abs=0.05)
    assert box.bounds[4] == pytest.approx(0.0)
    assert set(np.unique(box.point_data["part"])) == {0, 1}  # box and label text
    assert box.point_data["rgb"].dtype == np.uint8
    assert list(box.field_data["label"]) == ["S07 lathe"]
    # the label makes it more than a plain 12-triangle box
    assert box.n_cells > 100
    # any label works (VTK's font is ASCII): accents are dropped, other scripts become '?'
    assert list(placeholder("Drehmaschine Ü").field_data["label"]) == ["Drehmaschine U"]
    assert list(placeholder("车床").field_data["label"]) == ["?"]
    assert list(placeholder("x" * 60).field_data["label"]) == ["x" * 24]


# ---------------------------------------------------------------------------------------
# mesh-info CLI
# ---------------------------------------------------------------------------------------

def _run(argv: list[str]) -> int:
    return entry.main(argv)


def test_mesh_info_json_reports_the_documented_keys(capsys):
    code = _run(["mesh-info", str(FIXTURES / "cm_y_up.dae"), "--json"])
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {"format", "parts", "triangles_before", "triangles_after", "extents_m",
                         "units", "up_axis", "warnings", "seconds"}
    assert info["format"] == "dae"
    assert info["units"] == "cm" and info["up_axis"] == "Y"
    assert info["extents_m"] == pytest.approx([2.0, 1.0, 0.5], abs=1e-4)
    assert [p["name"] for p in info["parts"]] == ["frame", "sign"]
    assert info["warnings"] == []
    assert info["seconds"] >= 0


def test_mesh_info_budget_units_and_axis_options(capsys):
    code = _run(["mesh-info", str(MIR100), "--budget", "1500", "--json"])
    info = json.loads(capsys.readouterr().out)
    assert code == 0
    assert info["triangles_before"] == 37622
    assert abs(info["triangles_after"] - 1500) <= 150
    code = _run(["mesh-info", str(FIXTURES / "box_mm_binary.stl"), "--units", "mm",
                 "--up-axis", "Y", "--json"])
    info = json.loads(capsys.readouterr().out)
    assert code == 0
    assert info["extents_m"] == pytest.approx([0.4, 0.2, 0.3], abs=1e-5)
    assert info["units"] == "mm" and info["up_axis"] == "Y"


def test_mesh_info_human_output_and_role_warning(capsys):
    code = _run(["mesh-info", str(FIXTURES / "box_mm_binary.stl"), "--role", "station"])
    out = capsys.readouterr().out
    assert code == 0
    assert "400 x 300 x 200 m" in out
    assert "millimetres read as metres" in out


def test_mesh_info_bad_file_prints_one_line_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "broken.stl"
    bad.write_bytes(b"\x00" * 10)
    assert _run(["mesh-info", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(f"dmw-twin mesh-info: {bad}")
    assert _run(["mesh-info", str(FIXTURES / "box_ascii.stl"), "--units", "parsec"]) == 2
    assert "unknown length unit" in capsys.readouterr().err
