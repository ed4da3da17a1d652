"""Bundled models: procedural stations, storage, and the real AGV/conveyor meshes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from scene.assets import AssetError
from scene.models import (
    PART_RGB,
    STATION_TYPES,
    STATUS_NEUTRAL_RGB,
    STORAGE_KINDS,
    StationPart,
    agv_model,
    station_model,
    station_yaw_deg,
    storage_model,
)

#: Real-world size ranges (metres): (footprint long side, footprint short side, height).
#: Taken from typical catalogue machines; the procedural model must fall inside.
REAL_SIZES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "lathe": ((2.8, 4.5), (1.4, 2.8), (1.6, 2.6)),
    "machining_centre": ((2.2, 3.5), (1.8, 2.6), (2.3, 3.0)),
    "drill": ((1.5, 2.6), (0.8, 1.6), (2.0, 3.2)),
    "grinder": ((2.0, 3.2), (1.4, 2.2), (1.8, 2.8)),
    "deburring": ((2.0, 3.5), (2.0, 3.5), (1.8, 2.8)),
    "washer": ((2.2, 4.0), (1.2, 2.0), (1.8, 2.8)),
    "inspection": ((1.8, 3.0), (1.4, 2.4), (2.0, 3.0)),
    "assembly": ((1.5, 2.6), (0.8, 1.5), (1.8, 2.8)),
    "press": ((1.4, 2.5), (1.0, 2.0), (2.4, 3.5)),
    "screwing": ((1.2, 2.2), (0.7, 1.4), (1.8, 2.8)),
    "testing": ((1.5, 2.6), (1.0, 1.8), (1.8, 2.6)),
    "packing": ((1.6, 2.8), (0.9, 1.6), (1.6, 2.6)),
    "conveyor": ((2.5, 4.0), (0.5, 1.2), (0.8, 1.6)),
    "rack": ((2.2, 3.2), (0.9, 1.4), (2.0, 3.0)),
    "generic": ((1.4, 2.4), (1.2, 2.0), (1.8, 2.8)),
}


def _size(mesh) -> tuple[float, float, float]:
    b = mesh.bounds
    ex, ey, ez = b[1] - b[0], b[3] - b[2], b[5] - b[4]
    return max(ex, ey), min(ex, ey), ez


def test_every_station_type_has_a_size_table_entry():
    assert set(REAL_SIZES) == set(STATION_TYPES)


@pytest.mark.parametrize("station_type", STATION_TYPES)
def test_station_model_is_closed_coloured_and_realistically_sized(station_type):
    mesh = station_model(station_type)
    assert mesh.n_cells > 0
    assert mesh.is_all_triangles
    # built from closed solids: once coincident points are merged no edge is a boundary
    welded = mesh.clean(tolerance=1e-6)
    boundary = welded.extract_feature_edges(
        boundary_edges=True, feature_edges=False, manifold_edges=False, non_manifold_edges=False)
    assert boundary.n_cells == 0
    (long_lo, long_hi), (short_lo, short_hi), (h_lo, h_hi) = REAL_SIZES[station_type]
    long_side, short_side, height = _size(mesh)
    assert long_lo <= long_side <= long_hi
    assert short_lo <= short_side <= short_hi
    assert h_lo <= height <= h_hi
    # a few hundred to a few thousand triangles at full detail
    assert 300 <= mesh.n_cells <= 6000
    rgb = np.asarray(mesh.point_data["rgb"])
    part = np.asarray(mesh.point_data["part"])
    assert rgb.dtype == np.uint8 and rgb.shape == (mesh.n_points, 3)
    assert set(np.unique(part)) <= {int(p) for p in StationPart}
    normals = np.asarray(mesh.point_data["Normals"])
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("station_type", STATION_TYPES)
def test_levels_of_detail_shrink_keep_the_status_part_and_do_not_move(station_type):
    levels = [station_model(station_type, lod=lod) for lod in (0, 1, 2)]
    counts = [m.n_cells for m in levels]
    assert counts[0] > counts[1] > counts[2]
    assert counts[2] <= 450  # far level: a couple of hundred triangles
    full = levels[0].bounds
    for mesh in levels:
        part = np.asarray(mesh.point_data["part"])
        status = part == StationPart.STATUS
        assert status.sum() > 0, "the scene tints the status part at every level"
        # the status light sits in the top quarter: visible from the usual top-down views
        z = np.asarray(mesh.points)[:, 2]
        assert z[status].max() >= 0.75 * z.max()
        # every level inside the full model's box: switching level does not jump
        b = mesh.bounds
        assert b[0] >= full[0] - 1e-4 and b[1] <= full[1] + 1e-4
        assert b[2] >= full[2] - 1e-4 and b[3] <= full[3] + 1e-4
        assert b[4] == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("station_type", STATION_TYPES)
def test_origin_is_footprint_centre_on_the_floor(station_type):
    b = station_model(station_type).bounds
    assert b[0] == pytest.approx(-b[1], abs=1e-4)
    assert b[2] == pytest.approx(-b[3], abs=1e-4)
    assert b[4] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "station_type", ["lathe", "machining_centre", "grinder", "washer", "testing", "generic"])
def test_door_window_and_panel_face_plus_y(station_type):
    mesh = station_model(station_type)
    part = np.asarray(mesh.point_data["part"])
    y = np.asarray(mesh.points)[:, 1]
    front = np.isin(part, [StationPart.WINDOW, StationPart.PANEL])
    assert front.any()
    assert y[front].mean() > 0.2 * y.max()


def test_status_part_starts_neutral_and_parts_have_their_colours():
    mesh = station_model("machining_centre")
    part = np.asarray(mesh.point_data["part"])
    rgb = np.asarray(mesh.point_data["rgb"])
    assert (rgb[part == StationPart.STATUS] == STATUS_NEUTRAL_RGB).all()
    assert (rgb[part == StationPart.WINDOW] == PART_RGB[StationPart.WINDOW]).all()
    body = rgb[part == StationPart.BODY].astype(int)
    assert body.mean() > 190  # light grey / white machine body
    assert rgb[part == StationPart.WINDOW].mean() < 120  # dark blue-grey window


def test_lathe_and_machining_centre_have_different_silhouettes():
    lathe = station_model("lathe")
    mc = station_model("machining_centre")
    lathe_long, lathe_short, lathe_h = _size(lathe)
    mc_long, mc_short, mc_h = _size(mc)
    assert lathe_long / lathe_short > mc_long / mc_short  # long and narrow
    assert lathe_h < mc_h  # and lower


def test_seed_varies_details_deterministically():
    a = station_model("rack", seed=1)
    b = station_model("rack", seed=1)
    c = station_model("rack", seed=2)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.point_data["rgb"], b.point_data["rgb"])
    assert a.n_points != c.n_points or not np.array_equal(a.points, c.points)


def test_returned_models_are_copies():
    first = station_model("drill")
    first.points += 100.0
    first.point_data["rgb"][:] = 0
    again = station_model("drill")
    assert again.bounds[4] == pytest.approx(0.0)
    assert again.point_data["rgb"].max() > 0


def test_aliases_and_unknown_types():
    np.testing.assert_array_equal(station_model("cmm").points, station_model("inspection").points)
    np.testing.assert_array_equal(station_model("Machining Centre").points,
                                  station_model("machining_centre").points)
    with pytest.raises(ValueError, match="unknown station type 'spaceship'.*lathe"):
        station_model("spaceship")
    with pytest.raises(ValueError, match="lod"):
        station_model("lathe", lod=3)


def test_station_yaw_turns_the_front_to_the_workshop_heading():
    front = np.array([0.0, 1.0])  # models face +Y
    for heading in (0.0, 90.0, 180.0, 270.0, 33.0):
        a = math.radians(station_yaw_deg(heading))
        turned = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ front
        expected = np.array([math.cos(math.radians(heading)), math.sin(math.radians(heading))])
        np.testing.assert_allclose(turned, expected, atol=1e-12)


@pytest.mark.parametrize("kind", STORAGE_KINDS)
def test_storage_models_carry_goods(kind):
    levels = [storage_model(kind, lod=lod) for lod in (0, 1, 2)]
    mesh = levels[0]
    part = np.asarray(mesh.point_data["part"])
    assert (part == StationPart.LOAD).sum() > 0
    assert (part == StationPart.STATUS).sum() > 0
    long_side, short_side, height = _size(mesh)
    assert 1.5 <= long_side <= 3.5 and 0.6 <= short_side <= 1.5 and 1.2 <= height <= 3.0
    assert levels[0].n_cells >= levels[1].n_cells >= levels[2].n_cells
    with pytest.raises(ValueError, match="unknown storage kind"):
        storage_model("attic")


def test_mir100_agv_model_is_light_forward_x_and_on_the_floor(tmp_path):
    mesh = agv_model("mir100", cache_dir=tmp_path)
    b = mesh.bounds
    assert b[1] - b[0] == pytest.approx(0.898, abs=0.01)  # length along +X (forward)
    assert b[3] - b[2] == pytest.approx(0.584, abs=0.01)
    assert b[4] == pytest.approx(0.0, abs=1e-6)
    assert b[0] == pytest.approx(-b[1], abs=1e-4)
    assert abs(mesh.n_cells - 4000) <= 400  # lightweighted from 37,622
    far = agv_model("mir100", lod=2, cache_dir=tmp_path)
    assert far.n_cells <= 250
    assert np.asarray(mesh.point_data["rgb"]).dtype == np.uint8
    assert list(tmp_path.glob("*.npz")), "lightweighted mesh cached on disk"


def test_unknown_agv_model_is_refused():
    with pytest.raises(ValueError, match="unknown AGV model"):
        agv_model("tesla")


def test_missing_bundled_mesh_is_an_asset_error(tmp_path, monkeypatch):
    import scene.models as models

    monkeypatch.setattr(models, "MESH_DIR", tmp_path / "no-meshes")
    models._asset_cached.cache_clear()
    try:
        with pytest.raises(AssetError, match="mir100_base_visual.stl: file not found"):
            agv_model("mir100", cache_dir=tmp_path)
    finally:
        models._asset_cached.cache_clear()


def test_bundled_meshes_are_credited_with_their_licences():
    meshes = Path(__file__).resolve().parents[2] / "assets" / "meshes"
    sources = (meshes / "SOURCES.md").read_text()
    for needle in ("DFKI-NI/mir_robot", "usnistgov/ARIAC", "BSD-3-Clause", "NIST"):
        assert needle in sources
    assert (meshes / "LICENSES" / "mir_robot_BSD-3-Clause.txt").is_file()
    assert (meshes / "LICENSES" / "ARIAC_NIST_LICENSE.md").is_file()
