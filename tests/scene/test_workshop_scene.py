"""The 3D workshop scene, rendered off-screen: what an engineer sees must match the shop's state.

Pixels are checked where the scene says an entity is on screen (its floor zone, painted in
the state colour, is drawn unlit so the colour is exact); picking, level of detail and the
no-actor-per-frame rule are checked through the public API.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scene import palette
from scene.picking import world_to_display
from scene.workshop_scene import WorkshopScene, offscreen_plotter, two_lines
from twin.events import Event
from twin.snapshot import Snapshot
from twin.workshop import Station, Workshop

STATES = ("idle", "setup", "processing", "blocked", "down")
SIZE = (1280, 720)


@pytest.fixture(scope="module")
def scene(workshop: Workshop):
    plotter = offscreen_plotter(SIZE)
    sc = WorkshopScene(workshop, plotter)
    yield sc
    sc.close()
    plotter.close()


@pytest.fixture(autouse=True)
def reset_view(scene: WorkshopScene):
    """Every test starts from the iso view, state overlay, nothing selected or flagged."""
    scene.set_overlay("state", flags={})
    scene.set_camera("iso")
    scene.highlight(None)
    scene.set_labels(True)
    yield


def shop_state(workshop: Workshop, t: float = 10.0, **overrides: str) -> Snapshot:
    """Every station in a known state (cycling through the five), AGVs parked at home."""
    snap = Snapshot(t)
    for i, sid in enumerate(workshop.stations):
        snap.apply(Event(t=t, entity=sid, kind="station", state=overrides.get(sid, STATES[i % 5])))
    for aid, agv in workshop.agvs.items():
        node = workshop.nodes[agv.home]
        snap.apply(Event(t=t, entity=aid, kind="agv", state="idle", x=node.x, y=node.y,
                         heading=0.0))
    return snap


def pixel_near(img: np.ndarray, xy: tuple[int, int], rgb: tuple[int, int, int],
               radius: int = 1) -> float:
    """Smallest colour distance to ``rgb`` among the pixels around display point ``xy``."""
    h = img.shape[0]
    x, y = xy
    row = h - 1 - y
    patch = img[max(row - radius, 0):row + radius + 1, max(x - radius, 0):x + radius + 1]
    d = np.linalg.norm(patch.reshape(-1, 3).astype(float) - np.array(rgb, float), axis=1)
    return float(d.min())


def state_seen(img: np.ndarray, xy: tuple[int, int]) -> str:
    """The station state whose colour is closest to what is drawn at ``xy``."""
    return min(palette.STATION_STATE_COLOURS,
               key=lambda s: pixel_near(img, xy, palette.STATION_STATE_COLOURS[s]))


# ----------------------------------------------------------------------------------------
# state colours where the stations are
# ----------------------------------------------------------------------------------------


def test_screenshot_shows_each_station_in_its_state_colour(scene, workshop):
    scene.apply(shop_state(workshop))
    img = scene.screenshot(size=SIZE)
    assert img.shape == (SIZE[1], SIZE[0], 3)
    for i, sid in enumerate(workshop.stations):
        xy = scene.entity_screen_position(sid)
        assert 0 <= xy[0] < SIZE[0] and 0 <= xy[1] < SIZE[1], sid
        expected = STATES[i % 5]
        assert pixel_near(img, xy, palette.STATION_STATE_COLOURS[expected]) < 12, (sid, expected)
        assert state_seen(img, xy) == expected


def test_a_station_going_down_turns_the_down_colour_and_only_it(scene, workshop):
    before = shop_state(workshop, S03="processing")
    scene.apply(before)
    img0 = scene.screenshot(size=SIZE)
    xy = scene.entity_screen_position("S03")
    assert state_seen(img0, xy) == "processing"

    after = before.copy()
    after.apply(Event(t=20.0, entity="S03", kind="station", state="down"))
    scene.apply(after)
    img1 = scene.screenshot(size=SIZE)
    assert pixel_near(img1, xy, palette.STATION_STATE_COLOURS["down"]) < 12
    assert scene.station_colour("S03") == palette.STATION_STATE_COLOURS["down"]
    for sid in workshop.stations:
        if sid != "S03":
            p = scene.entity_screen_position(sid)
            assert state_seen(img1, p) == state_seen(img0, p), sid


def test_top_view_shows_the_same_colours(scene, workshop):
    scene.apply(shop_state(workshop))
    scene.set_camera("top")
    img = scene.screenshot(size=SIZE)
    for i, sid in enumerate(workshop.stations):
        assert state_seen(img, scene.entity_screen_position(sid)) == STATES[i % 5], sid


def test_seeking_before_a_stations_first_event_shows_no_data(scene, workshop):
    scene.apply(shop_state(workshop, S07="down"))
    assert scene.station_colour("S07") == palette.STATION_STATE_COLOURS["down"]
    earlier = shop_state(workshop)
    del earlier.entities["S07"]
    scene.apply(earlier)
    assert scene.station_colour("S07") == palette.NO_DATA


# ----------------------------------------------------------------------------------------
# consistency overlay
# ----------------------------------------------------------------------------------------


def test_consistency_overlay_colours_each_station_by_its_score(scene, workshop):
    scene.apply(shop_state(workshop))
    scores = {sid: round(i / 12, 3) for i, sid in enumerate(list(workshop.stations)[:12])}
    scene.set_overlay("consistency", scores)
    img = scene.screenshot(size=SIZE)
    for sid, score in scores.items():
        xy = scene.entity_screen_position(sid)
        assert pixel_near(img, xy, palette.consistency_colour(score)) < 12, (sid, score)
    unscored = list(workshop.stations)[12]
    assert pixel_near(img, scene.entity_screen_position(unscored), palette.NO_SCORE) < 12
    texts = [scene._labels.text(i) for i in range(len(workshop.stations))]
    assert texts[0] == "S01  0.00" and texts[6] == "S07  0.50" and texts[12] == "S13  n/a"
    # the lowest and the highest score must look different (red vs blue)
    lo = palette.consistency_colour(0.0)
    hi = palette.consistency_colour(1.0)
    assert lo[0] > 150 > lo[2] and hi[2] > 150 > hi[0]


def test_back_to_state_overlay_restores_state_colours_and_labels(scene, workshop):
    scene.apply(shop_state(workshop))
    scene.set_overlay("consistency", {"S01": 0.1})
    scene.set_overlay("state")
    img = scene.screenshot(size=SIZE)
    assert state_seen(img, scene.entity_screen_position("S01")) == STATES[0]
    assert scene._labels.text(0) == "S01"


def test_state_changes_during_consistency_overlay_show_when_switching_back(scene, workshop):
    snap = shop_state(workshop, S02="processing")
    scene.apply(snap)
    scene.set_overlay("consistency", {"S02": 0.9})
    snap2 = snap.copy()
    snap2.apply(Event(t=30.0, entity="S02", kind="station", state="blocked"))
    scene.apply(snap2)
    assert scene.station_colour("S02") == palette.consistency_colour(0.9)
    scene.set_overlay("state")
    assert scene.station_colour("S02") == palette.STATION_STATE_COLOURS["blocked"]


FLAGS = {"S05": "cycle time in the model 60 % above the physical shop",
         "S04": "down 1.2 h in the model vs 0.1 h on the physical shop",
         "S06": "queue in the model 40 % below the physical shop (log parts)"}


def _flag_boxes(scene: WorkshopScene) -> dict[str, tuple[float, float, float, float]]:
    """Screen box (x0, x1, y0, y1) of every flag label drawn, by station."""
    out = {}
    bb = [0.0] * 4
    for k, i in enumerate(scene._flag_labels.shown):
        ta = scene._flag_labels.actors[k]
        if ta.GetVisibility():
            x, y = ta.GetPositionCoordinate().GetComputedDisplayValue(scene.renderer)
            ta.GetBoundingBox(scene.renderer, bb)
            out[scene._station_ids[i]] = (x + bb[0], x + bb[1], y + bb[2], y + bb[3])
    return out


def test_flagged_stations_are_labelled_with_why_above_their_own_label(scene, workshop):
    scene.apply(shop_state(workshop))
    scores = {sid: 0.9 for sid in workshop.stations} | {"S05": 0.02, "S04": 0.3, "S06": 0.35}
    scene.set_overlay("consistency", scores, flags=FLAGS)
    shown = scene.flag_labels()
    assert list(shown) == ["S05", "S04", "S06"]  # worst first, as given
    assert shown["S05"] == "S05: cycle time in the model 60 % above the physical shop"
    img = scene.screenshot(size=SIZE)
    boxes = _flag_boxes(scene)
    # each flag sits above its station (on screen), in the flag colour, and none covers another
    for sid, (x0, x1, y0, y1) in boxes.items():
        sx, sy = scene.entity_screen_position(sid)
        assert x0 < sx < x1 and y0 > sy, sid
        frame = (int((x0 + x1) / 2), int(y0) + 1)
        assert pixel_near(img, frame, palette.FLAG_FRAME, radius=2) < 40, sid
    items = list(boxes.values())
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            p, q = items[a], items[b]
            assert not (p[0] < q[1] and q[0] < p[1] and p[2] < q[3] and q[2] < p[3])
    # only in the consistency overlay, and only with the labels on
    scene.set_labels(False)
    assert scene.flag_labels() == {}
    scene.set_labels(True)
    assert set(scene.flag_labels()) == set(FLAGS)
    scene.set_overlay("state")
    assert scene.flag_labels() == {}
    scene.set_overlay("consistency")
    assert set(scene.flag_labels()) == set(FLAGS)
    scene.set_overlay("consistency", flags={"S99": "not in this shop"})
    assert scene.flag_labels() == {}


def test_a_flag_label_breaks_in_two_lines_but_never_between_a_number_and_its_unit():
    assert two_lines("S05: idle", 36) == "S05: idle"
    text = two_lines("S04: down 1.2 h in the model vs 0.1 h on the physical shop", 36)
    first, second = text.split("\n")
    assert not first.endswith(("1.2", "0.1")) and not second.startswith(("h ", "%"))
    assert " ".join(text.split()) == "S04: down 1.2 h in the model vs 0.1 h on the physical shop"


@pytest.mark.parametrize("bad", [{"S01": 1.5}, {"S01": -0.1}, {"S01": "high"},
                                 {"S01": float("nan")}])
def test_bad_scores_are_refused(scene, bad):
    with pytest.raises(ValueError, match="S01"):
        scene.set_overlay("consistency", bad)
    with pytest.raises(ValueError, match="overlay"):
        scene.set_overlay("heat")


# ----------------------------------------------------------------------------------------
# picking, selection, camera
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["iso", "top"])
def test_the_screen_position_of_each_station_picks_that_station(scene, workshop, preset):
    scene.apply(shop_state(workshop))
    scene.set_camera(preset)
    scene.render()
    for sid in workshop.stations:
        assert scene.pick(*scene.entity_screen_position(sid)) == sid
    for bid in workshop.buffers:
        assert scene.pick(*scene.entity_screen_position(bid)) == bid


def test_picking_an_agv_and_the_bare_floor(scene, workshop):
    snap = shop_state(workshop)
    snap.apply(Event(t=11.0, entity="AGV2", kind="agv", state="moving", x=13.0, y=12.5,
                     heading=90.0))
    scene.apply(snap)
    scene.set_camera("top")
    scene.render()
    assert scene.pick(*scene.entity_screen_position("AGV2")) == "AGV2"
    # a point on the floor between the rows, away from everything
    x, y, _ = _display(scene, (13.0, 10.0, 0.0))
    assert scene.pick(x, y) is None


def _display(scene: WorkshopScene, p: tuple[float, float, float]) -> tuple[int, int, float]:
    from scene.picking import world_to_display

    x, y, z = world_to_display(scene.renderer, np.array(p))
    return int(round(x)), int(round(y)), z


def test_camera_presets_keep_the_whole_shop_in_view(scene, workshop):
    for preset in ("top", "iso", "fit"):
        scene.set_camera(preset)
        scene.render()
        for eid in [*workshop.stations, *workshop.buffers]:
            x, y = scene.entity_screen_position(eid)
            assert 0 <= x < SIZE[0] and 0 <= y < SIZE[1], (preset, eid)
    scene.set_camera("top")
    cam = scene.renderer.GetActiveCamera()
    assert np.allclose(cam.GetDirectionOfProjection(), (0, 0, -1), atol=1e-6)
    assert np.allclose(cam.GetViewUp(), (0, 1, 0), atol=1e-6)  # north up
    # the plan view fills the window: the floor's corners land near the image edges
    xs = [_display(scene, (x, y, 0.0))[0] for x in (0.0, 40.0) for y in (0.0, 25.0)]
    ys = [_display(scene, (x, y, 0.0))[1] for x in (0.0, 40.0) for y in (0.0, 25.0)]
    assert max(max(xs) - min(xs) - SIZE[0] * 0.85, max(ys) - min(ys) - SIZE[1] * 0.85) > 0
    with pytest.raises(ValueError, match="camera"):
        scene.set_camera("side")


def test_focus_brings_a_station_to_the_centre_in_full_detail(scene, workshop):
    scene.set_camera("top")
    scene.focus("S07")
    scene.render()
    x, y = scene.entity_screen_position("S07")
    assert abs(x - SIZE[0] / 2) < SIZE[0] * 0.2 and abs(y - SIZE[1] / 2) < SIZE[1] * 0.3
    assert scene.station_levels["S07"] == 0
    assert scene.pick(x, y) == "S07"


def test_highlight_outlines_the_selected_entity(scene, workshop):
    scene.highlight("S05")
    outline = scene._outline
    assert outline.actor.GetVisibility()
    b = outline.poly.bounds
    st = workshop.stations["S05"]
    assert b[0] < st.x < b[1] and b[2] < st.y < b[3] and b[5] > 1.5
    scene.highlight(None)
    assert not outline.actor.GetVisibility()
    with pytest.raises(KeyError):
        scene.highlight("S99")


def test_a_highlighted_agv_keeps_its_outline_when_it_moves(scene, workshop):
    snap = shop_state(workshop)
    scene.apply(snap)
    scene.highlight("AGV1")
    snap2 = snap.copy()
    snap2.apply(Event(t=12.0, entity="AGV1", kind="agv", state="moving", x=30.0, y=12.5,
                      heading=0.0))
    scene.apply(snap2)
    b = scene._outline.poly.bounds
    assert b[0] < 30.0 < b[1] and b[2] < 12.5 < b[3]


# ----------------------------------------------------------------------------------------
# per-frame updates: no new actors, work only for what changed
# ----------------------------------------------------------------------------------------


def _actor_count(scene: WorkshopScene) -> tuple[int, int]:
    """(3D actors, all props incl. labels and legends) in the renderer."""
    return (scene.renderer.GetActors().GetNumberOfItems(),
            scene.renderer.GetViewProps().GetNumberOfItems())


def test_apply_never_adds_actors(scene, workshop):
    scene.apply(shop_state(workshop))
    scene.render()
    before = _actor_count(scene)
    rng = np.random.default_rng(1)
    snap = shop_state(workshop)
    scene.set_trails(True)
    for k in range(30):
        t = 100.0 + k
        for aid in workshop.agvs:
            snap.apply(Event(t=t, entity=aid, kind="agv", state="moving",
                             x=float(rng.uniform(4, 34)), y=12.5,
                             heading=float(rng.choice([0.0, 90.0, 180.0, 270.0]))))
        sid = list(workshop.stations)[k % 13]
        snap.apply(Event(t=t, entity=sid, kind="station", state=STATES[k % 5], queue=k % 3))
        snap.apply(Event(t=t, entity=f"W{k}", kind="wip", state="waiting", station=sid))
        snap.apply(Event(t=t, entity=f"V{k}", kind="wip", state="transporting", agv="AGV1"))
        scene.apply(snap.copy())
        if k % 10 == 0:
            scene.render()
    scene.set_overlay("consistency", {"S01": 0.5})
    scene.highlight("AGV3")
    scene.render()
    scene.set_trails(False)
    assert _actor_count(scene) == before


def test_applying_an_unchanged_snapshot_touches_nothing(scene, workshop):
    snap = shop_state(workshop)
    scene.apply(snap)
    scene.render()
    status = scene._st_status.GetPointData().GetArray("rgb").GetMTime()
    agv_points = scene._agv_poly.GetPoints().GetMTime()
    wip = scene._wip_poly.GetMTime()
    scene.apply(snap)
    scene.apply(snap.copy())  # a new snapshot object with the same events
    assert scene._st_status.GetPointData().GetArray("rgb").GetMTime() == status
    assert scene._agv_poly.GetPoints().GetMTime() == agv_points
    assert scene._wip_poly.GetMTime() == wip


def test_agvs_move_and_show_their_state(scene, workshop):
    snap = shop_state(workshop)
    snap.apply(Event(t=50.0, entity="AGV3", kind="agv", state="moving", x=22.0, y=12.5,
                     heading=90.0))
    scene.apply(snap)
    scene.set_camera("top")
    img = scene.screenshot(size=SIZE)
    xy = scene.entity_screen_position("AGV3")
    cx, cy, _ = _display(scene, (22.0, 12.5, 0.0))
    assert abs(xy[0] - cx) <= 2 and abs(xy[1] - cy) <= 2
    # the status light bar at the front (+Y when heading north) shows "moving"
    lx, ly, _ = _display(scene, (22.0, 12.5 + 0.25, 0.4))
    assert pixel_near(img, (lx, ly), palette.AGV_STATE_COLOURS["moving"], radius=2) < 12


def test_wip_totes_wait_at_their_station_and_ride_on_their_agv(scene, workshop):
    snap = shop_state(workshop)
    snap.apply(Event(t=60.0, entity="AGV4", kind="agv", state="moving", x=25.0, y=12.5,
                     heading=0.0))
    for k in range(3):
        snap.apply(Event(t=60.0, entity=f"Q{k}", kind="wip", state="waiting", station="S06"))
    snap.apply(Event(t=60.0, entity="R0", kind="wip", state="transporting", agv="AGV4"))
    snap.apply(Event(t=60.0, entity="D0", kind="wip", state="completed", station=""))
    scene.apply(snap)
    pts = scene.wip_positions()
    s06 = workshop.stations["S06"]
    at_s06 = np.hypot(pts[:, 0] - s06.x, pts[:, 1] - s06.y) < 4.0
    on_agv = np.hypot(pts[:, 0] - 25.0, pts[:, 1] - 12.5) < 0.5
    assert at_s06.sum() == 3 and on_agv.sum() == 1 and len(pts) == 4
    assert (pts[on_agv][:, 2] > 0.3).all()  # on top of the vehicle
    # S06 faces south (heading 270): the queue stands in front of it, on the aisle side
    assert (pts[at_s06][:, 1] < s06.y - 1.0).all()
    # the part is unloaded at S06: one more waiting there, none on the AGV
    snap2 = snap.copy()
    snap2.apply(Event(t=70.0, entity="R0", kind="wip", state="waiting", station="S06"))
    scene.apply(snap2)
    pts = scene.wip_positions()
    assert len(pts) == 4
    assert (np.hypot(pts[:, 0] - s06.x, pts[:, 1] - s06.y) < 4.0).sum() == 4


# ----------------------------------------------------------------------------------------
# level of detail: cost follows what is visible, not the number of entities
# ----------------------------------------------------------------------------------------


def grid_workshop(base: Workshop, rows: int, cols: int, pitch: float = 6.0) -> Workshop:
    """A big synthetic shop: copies of machining13's stations on a grid."""
    types = [s for s in base.stations.values()]
    stations: dict[str, Station] = {}
    for r in range(rows):
        for c in range(cols):
            tmpl = types[(r * cols + c) % len(types)]
            sid = f"G{r:02d}{c:02d}"
            stations[sid] = dataclasses.replace(tmpl, id=sid, x=5.0 + c * pitch,
                                                y=5.0 + r * pitch, node=tmpl.node)
    return dataclasses.replace(base, stations=stations, floor=(10.0 + cols * pitch,
                                                               10.0 + rows * pitch))


def test_a_big_shop_stays_within_the_triangle_budget(workshop):
    big = grid_workshop(workshop, 12, 20)  # 240 stations
    plotter = offscreen_plotter(SIZE)
    try:
        budget = 25_000
        sc = WorkshopScene(big, plotter, lod_budget_triangles=budget)
        sc.set_camera("iso")
        sc.render()
        overview = sc.triangles_drawn
        full = int(sc._st_level_tris[:, 0].sum())
        assert overview <= budget < full
        # close up on one corner: that station in full detail, the rest still in budget
        sc.focus("G0000")
        sc.render()
        assert sc.station_levels["G0000"] == 0
        assert sc.triangles_drawn <= budget
        # a bigger budget draws more detail in the same view
        sc.lod_budget_triangles = 10 * budget
        sc.set_camera("iso")
        sc.render()
        assert sc.triangles_drawn > overview
        sc.close()
    finally:
        plotter.close()


def test_raw_material_and_finished_parts_show_at_their_storage(scene, workshop):
    raw, fg = workshop.buffers["RAW"], workshop.buffers["FG"]
    snap = shop_state(workshop)
    for k in range(2):  # released, waiting in the warehouse (events carry its position)
        snap.apply(Event(t=5.0, entity=f"M{k}", kind="wip", state="waiting", x=raw.x, y=raw.y))
    snap.apply(Event(t=5.0, entity="F0", kind="wip", state="completed", x=fg.x, y=fg.y))
    snap.apply(Event(t=5.0, entity="X0", kind="wip", state="completed", x=20.0, y=12.5))
    scene.apply(snap)
    pts = scene.wip_positions()
    near_raw = np.hypot(pts[:, 0] - raw.x, pts[:, 1] - raw.y) < 3.0
    near_fg = np.hypot(pts[:, 0] - fg.x, pts[:, 1] - fg.y) < 3.0
    assert near_raw.sum() == 2 and near_fg.sum() == 1 and len(pts) == 3


def test_agv_trails_follow_the_vehicles(scene, workshop):
    snap = shop_state(workshop)
    scene.apply(snap)
    scene.set_trails(True)
    for k in range(9):  # one position per second; the trail keeps one per 2 s
        snap = snap.copy()
        snap.apply(Event(t=200.0 + k, entity="AGV1", kind="agv", state="moving",
                         x=10.0 + k, y=12.5, heading=0.0))
        scene.apply(snap)
    trail = scene._trails.history[scene._agv_index["AGV1"]]
    assert np.allclose(trail[-5:, 0], [10, 12, 14, 16, 18]) and np.allclose(trail[-5:, 1], 12.5)
    # seeking back in time starts the trail afresh at the AGV
    back = shop_state(workshop, t=100.0)
    back.apply(Event(t=100.0, entity="AGV1", kind="agv", state="moving", x=30.0, y=12.5,
                     heading=0.0))
    scene.apply(back)
    trail = scene._trails.history[scene._agv_index["AGV1"]]
    assert np.allclose(trail[:, 0], 30.0)
    assert scene._trails.actor.GetVisibility()
    scene.set_trails(False)
    assert not scene._trails.actor.GetVisibility()


def test_far_blocks_show_the_state_on_their_roof(workshop):
    shop = grid_workshop(workshop, 3, 5)
    plotter = offscreen_plotter((960, 540))
    try:
        sc = WorkshopScene(shop, plotter, lod_budget_triangles=1)  # no room: all blocks
        snap = Snapshot(5.0)
        for i, sid in enumerate(shop.stations):
            snap.apply(Event(t=5.0, entity=sid, kind="station", state=STATES[i % 5]))
        sc.apply(snap)
        sc.set_camera("top")
        img = sc.screenshot(size=(960, 540))
        assert set(sc.station_levels.values()) == {2}
        for i, sid in enumerate(shop.stations):
            xy = sc.entity_screen_position(sid)
            assert state_seen(img, xy) == STATES[i % 5], sid
            assert sc.pick(*xy) == sid
        sc.close()
    finally:
        plotter.close()


def test_a_broken_station_mesh_is_named_and_drawn_as_a_placeholder(tmp_path, workshop):
    from twin.workshop import MeshRef

    broken = tmp_path / "spindle_head.stl"
    broken.write_bytes(b"solid nothing\nthis is not an STL\n")
    stations = dict(workshop.stations)
    stations["S03"] = dataclasses.replace(stations["S03"], mesh=MeshRef(path=broken, units="mm"))
    shop = dataclasses.replace(workshop, stations=stations)
    plotter = offscreen_plotter((960, 540))
    try:
        sc = WorkshopScene(shop, plotter)
        assert any("spindle_head.stl" in w and "S03" in w for w in sc.model_warnings)
        sc.apply(shop_state(shop, S03="down"))
        sc.set_camera("top")
        img = sc.screenshot(size=(960, 540))
        xy = sc.entity_screen_position("S03")
        assert state_seen(img, xy) == "down"
        assert sc.pick(*xy) == "S03"
        sc.close()
    finally:
        plotter.close()


# -- labels a person can read whole ---------------------------------------------------------

#: The 3D view's size in the app's default 1600 x 1000 window (docks left and right).
APP_VIEW = (828, 833)


def label_spans(sc: WorkshopScene) -> dict[str, tuple[float, float]]:
    """Left and right screen x [px] of every station and storage label drawn."""
    spans = {}
    bb = [0.0] * 4
    for layer in (sc._labels, sc._buf_labels):
        for ta in layer.actors:
            if ta.GetVisibility():
                ax = world_to_display(sc.renderer, ta.GetPositionCoordinate().GetValue())[0]
                ta.GetBoundingBox(sc.renderer, bb)
                spans[ta.GetInput().strip()] = (ax + bb[0], ax + bb[1])
    return spans


def test_labels_at_the_edge_of_the_view_are_drawn_whole(scene: WorkshopScene) -> None:
    """The raw-material warehouse stands at the left edge of machining13: centred on it, its
    label lost its first letters ("w-material warehouse") in the app's view."""
    sc = scene
    sc.screenshot(size=APP_VIEW)  # the view as a person sees it in the app
    for preset in ("iso", "top"):
        sc.set_camera(preset)  # framed for that view
        sc.screenshot(size=None)
        spans = label_spans(sc)
        assert "Raw-material warehouse" in spans and "S01" in spans
        for text, (x0, x1) in spans.items():
            assert 0 <= x0 < x1 <= APP_VIEW[0], (preset, text, x0, x1)
    # a label well inside stays centred on its station
    x0, x1 = label_spans(sc)["S05"]
    ax = world_to_display(sc.renderer, sc._labels.point(sc._station_ids.index("S05")))[0]
    assert abs((x0 + x1) / 2 - ax) < 2.0
    sc.screenshot(size=SIZE)  # back to the size the other tests frame their views for
