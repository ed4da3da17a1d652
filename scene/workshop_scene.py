"""The 3D workshop: floor, aisles, stations, storage, AGVs and WIP, animated from snapshots.

:class:`WorkshopScene` builds every actor ONCE from a :class:`~twin.workshop.Workshop`; after
that :meth:`WorkshopScene.apply` only writes into existing arrays (colours of a merged mesh,
positions of glyph instances) for the entities whose event changed, and never adds an actor.

How it stays fast on a software renderer (../shared/PLATFORM.md: the cost of a frame is the
triangles drawn, and one actor per object is slow):

* stations are two merged meshes (bodies; status parts) with per-POINT colours; a state
  change rewrites the colours of that station's status points only. The status part is the
  model's signal tower and top stripe plus a painted floor zone around the machine;
* AGVs, their status lamps and WIP totes are instanced with ``vtkGlyph3DMapper`` (one actor
  per model colour, whatever the fleet size); an AGV move writes one position and direction;
* level of detail: a station or AGV that is big on screen is drawn with its detailed model,
  a smaller one with a silhouette (~200 triangles), a tiny or out-of-view one as a block of a
  few dozen triangles, nearest first within a per-frame triangle budget. The choice is remade
  when the camera moves (also when the Qt interactor renders by itself), so the cost grows
  with what is visible, not with the size of the shop.

Units: metres, Z up, headings in degrees counter-clockwise from +X (as in the workshop file).
Screen coordinates are VTK display pixels, origin bottom-left.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkBitArray, vtkCommand, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkGlyph3DMapper,
    vtkLight,
    vtkPolyDataMapper,
    vtkWindowToImageFilter,
)

from scene import palette
from scene.batching import (
    EntityModel,
    Geom,
    box_geom,
    build_entity_model,
    colour_groups,
    fill_polydata,
    merge_instances,
    quad_geom,
    rotate_z,
)
from scene.overlays import LabelLayer, OutlineLayer, TrailLayer, score_bar, state_legend
from scene.picking import MeshPicker, display_ray, ray_box_hits, world_to_display
from twin.snapshot import Snapshot
from twin.workshop import Agv, Buffer, Station, Workshop

OVERLAYS: tuple[str, ...] = ("state", "consistency")
CAMERA_PRESETS: tuple[str, ...] = ("top", "iso", "fit")

#: Aisle width drawn on the floor [m] (a one-way AGV aisle with walkway is 2-3 m).
AISLE_WIDTH = 2.0
#: Smallest on-screen radius [px] at which level 0 (full model) and level 1 (silhouette)
#: are worth drawing; smaller entities are drawn as blocks.
LEVEL_MIN_PX: tuple[float, ...] = (26.0, 8.0)
#: Smallest on-screen radius [px] of a station that gets its label; at most this many labels.
LABEL_MIN_PX = 14.0
MAX_LABELS = 80
#: Consistency overlay: labels of flagged stations (why the verification flags them), at
#: most this many, drawn this many pixels above the station's own label and wrapped at
#: this many characters a line.
MAX_FLAG_LABELS = 24
FLAG_OFFSET_PX = 22.0
FLAG_WRAP = 36
#: WIP totes shown per station queue / per storage, at most.
STATION_WIP_SLOTS = (2, 4)  # rows x columns
BUFFER_WIP_SLOTS = (3, 4)
WIP_SIZE = (0.36, 0.30, 0.22)  # a tote / part carrier [m]
#: A WIP event without a station but within this distance [m] of a storage is at that storage.
BUFFER_SNAP_M = 1.5
#: AGV trails: one sample per this many seconds of shift time, this many samples.
TRAIL_STEP_S = 2.0
TRAIL_SAMPLES = 90
#: Recompute the AGVs' level of detail every this many applied frames (they move).
AGV_LOD_EVERY = 16


class WorkshopScene:
    """The animated 3D workshop (see the module docstring for how it is drawn).

    Args:
        workshop: the layout to draw.
        plotter: where to draw: a ``pyvistaqt.QtInteractor`` in the app, an off-screen
            ``pv.Plotter`` headless; ``None`` creates an off-screen 1280x720 plotter.
        lod_budget_triangles: triangles drawn per frame, at most, as far as the level of
            detail can help (every entity is drawn, far ones as blocks).

    Attributes:
        model_warnings: problems met while loading meshes (a broken station mesh is drawn
            as a labelled placeholder and named here).
    """

    def __init__(
        self,
        workshop: Workshop,
        plotter: pv.Plotter | None = None,
        *,
        lod_budget_triangles: int = 400_000,
    ) -> None:
        if plotter is None:
            plotter = offscreen_plotter((1280, 720))
        self.workshop = workshop
        self.plotter = plotter
        self.renderer = plotter.renderer
        self.lod_budget_triangles = int(lod_budget_triangles)
        self.overlay = "state"
        self.scores: dict[str, float] = {}
        #: station id -> why the verification flags it (shown in the consistency overlay)
        self.flags: dict[str, str] = {}
        self._labels_on = True
        self.model_warnings: list[str] = []
        self._selected: str | None = None
        self._frame = 0
        self._last: dict[str, Any] = {}  # entity id -> event last applied
        self._lod_key: tuple | None = None

        self._stations: list[Station] = list(workshop.stations.values())
        self._buffers: list[Buffer] = list(workshop.buffers.values())
        self._agvs: list[Agv] = list(workshop.agvs.values())
        self._station_ids = [s.id for s in self._stations]
        self._buffer_ids = [b.id for b in self._buffers]
        self._agv_ids = [a.id for a in self._agvs]
        self._st_index = {sid: i for i, sid in enumerate(self._station_ids)}
        self._buf_index = {bid: i for i, bid in enumerate(self._buffer_ids)}
        self._agv_index = {aid: i for i, aid in enumerate(self._agv_ids)}
        self._models = ModelProvider(self.model_warnings)

        # flat background and two lights: a gradient costs ~4 ms and the default five-light
        # kit ~3 ms per frame on the software renderer
        plotter.set_background(palette.rgb_float(palette.BACKGROUND))
        _studio_lights(self.renderer)
        self._build_floor()
        self._build_stations()
        self._build_buffers()
        self._build_agvs()
        self._build_wip()
        self._build_overlays()
        self._picker = MeshPicker()
        self._picker.add(self._st_body_actor, self._st_body, self._station_ids)
        self._picker.add(self._st_status_actor, self._st_status, self._station_ids)
        self._picker.add(self._buf_actor, self._buf_mesh, self._buffer_ids)
        self._observer: int | None = self.renderer.AddObserver(
            vtkCommand.StartEvent, self._on_render_start)
        self.set_camera("iso")
        self._update_lod(force=True)

    # ------------------------------------------------------------------------------------
    # building (once)
    # ------------------------------------------------------------------------------------
    def _add(self, actor: Any, name: str, pickable: bool = False) -> Any:
        self.plotter.add_actor(actor, name=f"dmw-{name}", reset_camera=False,
                               pickable=pickable, render=False)
        return actor

    def _merged_actor(self, mesh: pv.PolyData, name: str, *, lit: bool) -> vtkActor:
        """A pickable actor of a merged mesh drawn in its own per-point colours."""
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(mesh)
        _direct_rgb(mapper)
        actor = vtkActor()
        actor.SetMapper(mapper)
        if lit:
            _matte(actor)
        else:
            actor.GetProperty().LightingOff()  # status parts show their exact colour
        return self._add(actor, name, pickable=True)

    def _floor_extent(self) -> tuple[float, float, float, float]:
        ws = self.workshop
        xmin, ymin, xmax, ymax = ws.bounds()
        fw, fh = ws.floor if ws.floor else (0.0, 0.0)
        if (fw > 0 and fh > 0 and xmin >= -1e-6 and ymin >= -1e-6 and xmax <= fw + 1e-6
                and ymax <= fh + 1e-6):
            return 0.0, 0.0, float(fw), float(fh)
        m = 4.0
        return xmin - m, ymin - m, xmax + m, ymax + m

    def _build_floor(self) -> None:
        x0, y0, x1, y1 = self.floor_rect = self._floor_extent()
        parts = [box_geom((x0, y0, -0.12), (x1, y1, 0.0), palette.FLOOR)]
        # aisles: surface strips plus yellow edge markings
        parts.extend(self._aisle_geoms())
        floor = Geom.concat(parts)
        self._floor_mesh = floor.to_polydata()
        self._floor_triangles = floor.n_triangles
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self._floor_mesh)
        _direct_rgb(mapper)
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().LightingOff()  # a flat floor: lighting would only cost fill rate
        self._add(actor, "floor")

        # grid lines: 1 m (5 m on big floors), every 5th (25th) darker
        size = max(x1 - x0, y1 - y0)
        step = 1.0 if size <= 90 else 5.0
        xs = np.arange(math.ceil(x0 / step) * step, x1 + 1e-6, step)
        ys = np.arange(math.ceil(y0 / step) * step, y1 + 1e-6, step)
        z = 0.002
        pts, cols, lines = [], [], []
        major = palette.FLOOR_GRID_MAJOR
        for x in xs:
            pts += [(x, y0, z), (x, y1, z)]
            c = major if abs(x / (5 * step) - round(x / (5 * step))) < 1e-6 else palette.FLOOR_GRID
            cols += [c, c]
        for y in ys:
            pts += [(x0, y, z), (x1, y, z)]
            c = major if abs(y / (5 * step) - round(y / (5 * step))) < 1e-6 else palette.FLOOR_GRID
            cols += [c, c]
        n = len(pts) // 2
        lines = np.hstack([np.full((n, 1), 2), np.arange(2 * n).reshape(n, 2)]).ravel()
        grid = pv.PolyData(np.array(pts, np.float32), lines=lines)
        grid.point_data["rgb"] = np.array(cols, np.uint8)
        gm = vtkPolyDataMapper()
        gm.SetInputData(grid)
        _direct_rgb(gm)
        ga = vtkActor()
        ga.SetMapper(gm)
        ga.GetProperty().LightingOff()
        ga.GetProperty().SetLineWidth(1.0)
        self._grid_actor = self._add(ga, "floor-grid")

    def _aisle_geoms(self) -> list[Geom]:
        """Aisle surfaces with white edge lines (open at junctions). A shop without transport
        (a job-shop instance: parts move instantly) has no aisles to draw."""
        ws = self.workshop
        if not ws.edges or not getattr(ws, "transport", True):
            return []
        w = AISLE_WIDTH / 2.0
        adj: dict[str, list[np.ndarray]] = {}
        for a, b in ws.edges:
            pa = np.array([ws.nodes[a].x, ws.nodes[a].y])
            pb = np.array([ws.nodes[b].x, ws.nodes[b].y])
            d = pb - pa
            if np.linalg.norm(d) < 1e-9:
                continue
            d = d / np.linalg.norm(d)
            adj.setdefault(a, []).append(d)
            adj.setdefault(b, []).append(-d)
        out: list[Geom] = []
        mark_w = 0.10
        for a, b in ws.edges:
            pa = np.array([ws.nodes[a].x, ws.nodes[a].y])
            pb = np.array([ws.nodes[b].x, ws.nodes[b].y])
            length = float(np.linalg.norm(pb - pa))
            if length < 1e-9:
                continue
            d = (pb - pa) / length
            n = np.array([-d[1], d[0]])

            def ends(node: str, direction: np.ndarray) -> tuple[float, float]:
                """(surface extension, marking trim) at a node for an aisle leaving it."""
                others = [o for o in adj.get(node, []) if float(np.dot(o, direction)) < 0.999]
                if not others:
                    return w, -w  # dead end: extend the surface, markings run to the end
                if all(abs(float(o[0] * direction[1] - o[1] * direction[0])) < 1e-3 for o in others):
                    return 0.0, 0.0  # straight through: continuous markings
                return w, w  # junction: open the markings

            ea, ta = ends(a, d)
            eb, tb = ends(b, -d)
            s0, s1 = pa - d * ea, pb + d * eb
            out.append(quad_geom(np.array([[*(s0 - n * w), 0.003], [*(s1 - n * w), 0.003],
                                           [*(s1 + n * w), 0.003], [*(s0 + n * w), 0.003]]),
                                 palette.AISLE))
            m0, m1 = pa + d * max(ta, -ea), pb - d * max(tb, -eb)
            if float(np.dot(m1 - m0, d)) <= 0:
                continue
            for side in (-1.0, 1.0):
                c0 = n * side * (w - mark_w / 2)
                q = np.array([[*(m0 + c0 - n * mark_w / 2), 0.006],
                              [*(m1 + c0 - n * mark_w / 2), 0.006],
                              [*(m1 + c0 + n * mark_w / 2), 0.006],
                              [*(m0 + c0 + n * mark_w / 2), 0.006]])
                out.append(quad_geom(q, palette.AISLE_MARKING))
        return out

    # -- stations -----------------------------------------------------------------------
    def _build_stations(self) -> None:
        n = len(self._stations)
        keys: dict[str, int] = {}
        self._kinds: list[EntityModel] = []
        kind_of = np.zeros(n, np.int64)
        for i, st in enumerate(self._stations):
            key = self._models.station_key(st)
            if key not in keys:
                keys[key] = len(self._kinds)
                self._kinds.append(self._models.station(st))
            kind_of[i] = keys[key]
        self._kind_of = kind_of
        self._st_xy = np.array([[s.x, s.y] for s in self._stations], np.float64).reshape(n, 2)
        self._st_yaw = np.array([s.heading for s in self._stations], np.float64).reshape(n)
        models = [self._kinds[k] for k in kind_of]
        self._st_centre = self._place(self._st_xy, self._st_yaw, [m.centre for m in models])
        self._st_anchor = self._place(self._st_xy, self._st_yaw, [m.anchor for m in models])
        self._st_block_anchor = self._place(self._st_xy, self._st_yaw,
                                            [m.block_anchor for m in models])
        self._st_last_level = np.array([len(m.levels) - 1 for m in models], np.int64)
        self._st_half = np.array([m.half for m in models]).reshape(n, 3)
        self._st_radius = np.array([m.radius for m in models]).reshape(n)
        n_levels = max((len(m.levels) for m in self._kinds), default=1)
        # triangles per station and level (a kind with fewer levels repeats its last)
        self._st_level_tris = np.array(
            [[m.triangles()[min(lv, len(m.levels) - 1)] for lv in range(n_levels)]
             for m in models], np.int64).reshape(n, n_levels)
        self._st_state: list[str | None] = [None] * n
        self._st_stale: set[str] = set()  # stations shown as stale (Snapshot.stale)
        self._st_rgb = np.tile(np.array(palette.NO_DATA, np.uint8), (n, 1))
        self._st_level = np.full(n, -1, np.int64)  # level of detail drawn per station
        self._st_px = np.zeros(n)  # on-screen radius [px] and camera distance [m], per view
        self._st_dist = np.zeros(n)
        self._st_ranges = np.zeros((n, 2), np.int64)
        self._st_status_rgb = np.zeros((0, 3), np.uint8)
        self._st_tris = 0
        self._st_body = pv.PolyData()
        self._st_status = pv.PolyData()
        self._st_body_actor = self._merged_actor(self._st_body, "stations", lit=True)
        self._st_status_actor = self._merged_actor(self._st_status, "station-status", lit=False)

    @staticmethod
    def _place(xy: np.ndarray, yaw_deg: np.ndarray, local: list[np.ndarray]) -> np.ndarray:
        """World positions of one local point per entity."""
        n = len(xy)
        if n == 0:
            return np.zeros((0, 3))
        loc = np.asarray(local, np.float64).reshape(n, 3)
        yaw = np.radians(yaw_deg)
        c, s = np.cos(yaw), np.sin(yaw)
        return np.column_stack([xy[:, 0] + c * loc[:, 0] - s * loc[:, 1],
                                xy[:, 1] + s * loc[:, 0] + c * loc[:, 1], loc[:, 2]])

    def _rebuild_stations(self, level: np.ndarray) -> None:
        """Re-merge the station meshes for a new level-of-detail choice (camera moved)."""
        n = len(self._stations)
        body_groups, status_groups = [], []
        for k, model in enumerate(self._kinds):
            of_kind = self._kind_of == k
            for lv, geo in enumerate(model.levels):
                last = lv == len(model.levels) - 1
                idx = np.nonzero(of_kind & ((level == lv) | (last & (level > lv))))[0]
                body_groups.append((geo.body, idx))
                status_groups.append((geo.status, idx))
        p, f, c, e, _ = merge_instances(body_groups, self._st_xy, self._st_yaw, n)
        fill_polydata(self._st_body, p, f, c, e)
        tris = len(f)
        p, f, c, e, ranges = merge_instances(status_groups, self._st_xy, self._st_yaw, n)
        drawn = np.nonzero(ranges[:, 1])[0]  # paint each station's points its current colour
        drawn = drawn[np.argsort(ranges[drawn, 0])]
        if len(drawn):
            c = np.repeat(self._st_rgb[drawn], ranges[drawn, 1], axis=0)
        fill_polydata(self._st_status, p, f, c, e)
        arr = self._st_status.GetPointData().GetArray("rgb")
        self._st_status_rgb = vtk_to_numpy(arr) if arr is not None else np.zeros((0, 3), np.uint8)
        self._st_ranges = ranges
        self._st_level = level.copy()
        self._st_tris = tris + len(f)

    def _paint_station(self, i: int) -> None:
        """Write station i's current colour into its status points (no re-merge)."""
        if self.overlay == "consistency":
            rgb = palette.consistency_colour(self.scores.get(self._station_ids[i]))
        else:
            rgb = palette.station_state_colour(self._st_state[i])
            if self._station_ids[i] in self._st_stale:
                rgb = palette.stale_colour(rgb)
        self._st_rgb[i] = rgb
        s0, cnt = self._st_ranges[i]
        if cnt:
            self._st_status_rgb[s0:s0 + cnt] = rgb

    def _status_modified(self) -> None:
        arr = self._st_status.GetPointData().GetArray("rgb")
        if arr is not None:
            arr.Modified()
            self._st_status.Modified()

    # -- storage ------------------------------------------------------------------------
    def _build_buffers(self) -> None:
        ws = self.workshop
        n = len(self._buffers)
        self._buf_xy = np.array([[b.x, b.y] for b in self._buffers], np.float64).reshape(n, 2)
        yaw = []
        for b in self._buffers:  # storage faces the aisle node it is served from
            node = ws.nodes.get(b.node)
            if node is not None and math.hypot(node.x - b.x, node.y - b.y) > 1e-6:
                yaw.append(math.degrees(math.atan2(node.y - b.y, node.x - b.x)))
            else:
                yaw.append(0.0)
        self._buf_yaw = np.array(yaw, np.float64).reshape(n)
        kinds = sorted({b.kind for b in self._buffers})
        self._buf_models = {kind: self._models.storage(kind) for kind in kinds}
        groups = []
        for kind, model in self._buf_models.items():
            idx = np.array([i for i, b in enumerate(self._buffers) if b.kind == kind], np.int64)
            groups += [(model.levels[0].body, idx), (model.levels[0].status, idx)]
        p, f, c, e, _ = merge_instances(groups, self._buf_xy, self._buf_yaw, n)
        self._buf_mesh = pv.PolyData()
        fill_polydata(self._buf_mesh, p, f, c, e)
        self._buf_tris = len(f)
        self._buf_actor = self._merged_actor(self._buf_mesh, "storage", lit=True)
        models = [self._buf_models[b.kind] for b in self._buffers]
        self._buf_centre = self._place(self._buf_xy, self._buf_yaw, [m.centre for m in models])
        self._buf_half = np.array([m.half for m in models]).reshape(n, 3)

    # -- AGVs ---------------------------------------------------------------------------
    def _build_agvs(self) -> None:
        ws = self.workshop
        n = len(self._agvs)
        model = self._models.agv(self._agvs[0] if self._agvs else None)
        self._agv_model = model
        self._agv_xy = np.zeros((n, 2), np.float64)
        self._agv_yaw = np.zeros(n, np.float64)
        for i, a in enumerate(self._agvs):  # parked at home until the first event
            node = ws.nodes.get(a.home)
            if node is not None:
                self._agv_xy[i] = (node.x, node.y)
        self._agv_state: list[str | None] = [None] * n
        self._agv_carry = np.zeros(n, np.int64)

        # one point per AGV, shared by every glyph actor; numpy views on the VTK arrays
        poly = vtkPolyData()
        self._agv_pts = np.zeros((n, 3), np.float32)
        pts = vtkPoints()
        pts.SetData(numpy_to_vtk(self._agv_pts, deep=False))
        poly.SetPoints(pts)
        # rotation angles (x, y, z) in degrees per AGV: only z, the heading. (Direction
        # orientation would turn the glyph 180 degrees about a tilted axis: upside down.)
        self._agv_rot = np.zeros((n, 3), np.float32)
        self._agv_lamp_rgb = np.tile(np.array(palette.NO_DATA, np.uint8), (n, 1))
        arrays = [("rot", self._agv_rot), ("lamp", self._agv_lamp_rgb)]
        for name, arr in arrays:
            va = numpy_to_vtk(arr, deep=False)
            va.SetName(name)
            poly.GetPointData().AddArray(va)
        # level-of-detail masks: vtkGlyph3DMapper only honours bit arrays
        self._agv_masks: list[vtkBitArray] = []
        for lv in range(len(model.levels)):
            mask = vtkBitArray()
            mask.SetName(f"lod{lv}")
            mask.SetNumberOfValues(n)
            for i in range(n):
                mask.SetValue(i, int(lv == len(model.levels) - 1))
            poly.GetPointData().AddArray(mask)
            self._agv_masks.append(mask)
        self._agv_poly = poly
        self._agv_level = np.full(n, len(model.levels) - 1, np.int64)
        self._write_agv_points()

        self._agv_level_tris = model.triangles()
        for lv, level in enumerate(model.levels):
            for k, (colour, piece) in enumerate(colour_groups(level.body)):
                self._add(self._glyph_actor(piece, mask=f"lod{lv}", colour=colour),
                          f"agv-l{lv}-{k}")
        lamp = agv_lamp_geom(model.lo, model.hi)
        self._agv_lamp_tris = lamp.n_triangles
        self._agv_lamp_actor = self._add(self._glyph_actor(lamp, scalars="lamp"), "agv-lamp")
        self._agv_half = model.half
        self._agv_local_centre = model.centre
        self._agv_top = float(lamp.bounds()[1][2]) if lamp.n_triangles else float(model.hi[2])

    def _glyph_actor(self, geom: Geom, *, mask: str | None = None,
                     colour: palette.RGB | None = None, scalars: str | None = None) -> vtkActor:
        """An instanced copy of ``geom`` at every AGV (masked by a level-of-detail array)."""
        mapper = vtkGlyph3DMapper()
        mapper.SetInputData(self._agv_poly)
        mapper.SetSourceData(geom.to_polydata())
        mapper.SetScaling(False)
        mapper.SetOrientationArray("rot")
        mapper.SetOrientationModeToRotation()
        if mask:
            mapper.SetMasking(True)
            mapper.SetMaskArray(mask)
        if scalars:
            mapper.ScalarVisibilityOn()
            mapper.SetScalarModeToUsePointFieldData()
            mapper.SelectColorArray(scalars)
            mapper.SetColorModeToDirectScalars()
        else:
            mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        if colour is not None:
            actor.GetProperty().SetColor(*palette.rgb_float(colour))
        if scalars:
            actor.GetProperty().LightingOff()
        else:
            _matte(actor)
        return actor

    def _write_agv_points(self) -> None:
        if not len(self._agvs):
            return
        self._agv_pts[:, 0] = self._agv_xy[:, 0]
        self._agv_pts[:, 1] = self._agv_xy[:, 1]
        self._agv_rot[:, 2] = self._agv_yaw
        self._agv_poly.GetPoints().Modified()
        self._agv_poly.GetPointData().GetArray("rot").Modified()
        self._agv_poly.Modified()

    def _set_agv_levels(self, level: np.ndarray) -> None:
        if np.array_equal(level, self._agv_level):
            return
        changed = np.nonzero(level != self._agv_level)[0]
        self._agv_level = level.copy()
        for lv, mask in enumerate(self._agv_masks):
            for i in changed:
                mask.SetValue(int(i), int(level[i] == lv))
            mask.Modified()
        self._agv_poly.Modified()

    # -- WIP ----------------------------------------------------------------------------
    def _build_wip(self) -> None:
        self._wip_holder: dict[str, str] = {}  # wip id -> holder (station/storage/AGV id)
        self._holder_count: dict[str, int] = {}
        self._station_queue: dict[str, int] = {}  # the queue field of station events
        self._wip_seen = False  # once WIP events arrive, they are the truth
        self._slots: dict[str, np.ndarray] = {}  # tote positions per station/storage
        for i, st in enumerate(self._stations):
            self._slots[st.id] = self._slot_grid(self._kinds[self._kind_of[i]],
                                                 self._st_xy[i], self._st_yaw[i],
                                                 STATION_WIP_SLOTS, front_gap=0.7)
        for i, b in enumerate(self._buffers):
            self._slots[b.id] = self._slot_grid(self._buf_models[b.kind], self._buf_xy[i],
                                                self._buf_yaw[i], BUFFER_WIP_SLOTS,
                                                front_gap=0.3)
        self._wip_static = np.zeros((0, 3), np.float32)
        self._wip_static_dirty = False
        self._wip_carry_dirty = False
        self._wip_count = 0
        self._wip_poly = pv.PolyData()
        self._wip_poly.points = np.zeros((0, 3), np.float32)
        sx, sy, sz = WIP_SIZE
        tote = box_geom((-sx / 2, -sy / 2, 0.0), (sx / 2, sy / 2, sz), palette.WIP_PART)
        self._wip_tris = tote.n_triangles
        mapper = vtkGlyph3DMapper()
        mapper.SetInputData(self._wip_poly)
        mapper.SetSourceData(tote.to_polydata())
        mapper.SetScaling(False)
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*palette.rgb_float(palette.WIP_PART))
        _matte(actor)
        self._wip_actor = self._add(actor, "wip")

    @staticmethod
    def _slot_grid(m: EntityModel, xy: np.ndarray, yaw_deg: float, grid: tuple[int, int],
                   front_gap: float) -> np.ndarray:
        """Tote positions on the floor in front (+X) of a model, on its right-hand side."""
        rows, cols = grid
        sx, sy, _ = WIP_SIZE
        x0 = m.hi[0] + front_gap + sx / 2
        y0 = m.lo[1] + sy / 2
        local = np.array([[x0 + r * (sx + 0.08), y0 + c * (sy + 0.08), 0.0]
                          for r in range(rows) for c in range(cols)], np.float64)
        w = rotate_z(local, math.radians(yaw_deg))
        w[:, :2] += xy
        return w.astype(np.float32)

    def _update_wip_markers(self, agvs_moved: bool) -> None:
        if self._wip_static_dirty:
            chunks = []
            counts = dict(self._holder_count)
            if not self._wip_seen:  # only stations' queue lengths are known
                counts = {**counts, **self._station_queue}
            for holder, cnt in counts.items():
                slots = self._slots.get(holder)
                if slots is not None and cnt > 0:
                    chunks.append(slots[:min(cnt, len(slots))])
            self._wip_static = np.vstack(chunks) if chunks else np.zeros((0, 3), np.float32)
        carrying = bool(self._agv_carry.any())
        if not (self._wip_static_dirty or self._wip_carry_dirty or (agvs_moved and carrying)):
            return
        self._wip_static_dirty = self._wip_carry_dirty = False
        pts = self._wip_static
        if carrying:
            idx = np.nonzero(self._agv_carry)[0]
            reps = np.minimum(self._agv_carry[idx], 3)
            which = np.repeat(idx, reps)
            level = np.concatenate([np.arange(r) for r in reps])
            on = self._place(self._agv_xy[which], self._agv_yaw[which],
                             [self._agv_local_centre] * len(which))
            on[:, 2] = self._agv_top + level * (WIP_SIZE[2] + 0.01)
            pts = np.vstack([pts, on.astype(np.float32)])
        self._wip_poly.points = pts
        self._wip_poly.Modified()
        self._wip_count = len(pts)

    # -- overlays -----------------------------------------------------------------------
    def _build_overlays(self) -> None:
        n = len(self._stations)
        lp = np.zeros((n, 3))
        if n:  # station labels float above the rear of the machine, clear of its front
            models = [self._kinds[k] for k in self._kind_of]
            rear = [np.array([m.lo[0] + 0.2 * (m.hi[0] - m.lo[0]), m.centre[1], m.hi[2] + 0.5])
                    for m in models]
            lp = self._place(self._st_xy, self._st_yaw, rear)
        self._labels = LabelLayer(lp, self._station_ids, font_size=13, pool=MAX_LABELS)
        for k, ta in enumerate(self._labels.actors):
            self._add(ta, f"station-label-{k}")
        # why a station is flagged: above its label, only in the consistency overlay
        self._flag_labels = LabelLayer(lp, [""] * n, font_size=12, bold=False,
                                       pool=min(n, MAX_FLAG_LABELS), offset_px=(0.0, FLAG_OFFSET_PX),
                                       rgb=palette.FLAG_TEXT, frame_rgb=palette.FLAG_FRAME)
        for k, ta in enumerate(self._flag_labels.actors):
            self._add(ta, f"flag-label-{k}")
        self._flag_labels.show_only(np.zeros(0, np.int64))
        self._flag_order = np.zeros(0, np.int64)  # flagged stations, worst first
        nb = len(self._buffers)
        bp = self._buf_centre.copy()
        if nb:
            bp[:, 2] = self._buf_centre[:, 2] + self._buf_half[:, 2] + 0.6
        self._buf_labels = LabelLayer(bp, [b.name or b.id for b in self._buffers],
                                      font_size=12, bold=False)
        for k, ta in enumerate(self._buf_labels.actors):
            self._add(ta, f"storage-label-{k}")
        entries = [(label, palette.STATION_STATE_COLOURS[s])
                   for s, label in palette.STATION_STATE_LABELS.items()]
        entries += [("AGV moving", palette.AGV_STATE_COLOURS["moving"]),
                    ("AGV (un)loading", palette.AGV_STATE_COLOURS["loading"]),
                    ("WIP tote", palette.WIP_PART)]
        self._legend = self._add(state_legend(entries), "state-legend")
        self._bar = self._add(score_bar(), "score-bar")
        self._bar.VisibilityOff()
        self._outline = OutlineLayer()
        self._add(self._outline.actor, "selection")
        self._trails = TrailLayer(len(self._agvs), length=TRAIL_SAMPLES)
        self._trail_t: float | None = None  # shift time of the last trail sample [s]
        self._add(self._trails.actor, "agv-trails")

    # ------------------------------------------------------------------------------------
    # updating (per frame)
    # ------------------------------------------------------------------------------------
    def apply(self, snapshot: Snapshot) -> None:
        """Show ``snapshot``. Work is done only for entities whose latest event changed
        (identity of the event object); nothing is rendered and no actor is created."""
        ents = snapshot.entities
        last = self._last
        st_index, agv_index = self._st_index, self._agv_index
        old_len = len(last)
        seen = 0
        st_changed = agv_moved = lamp_changed = False
        for eid, ev in ents.items():
            prev = last.get(eid)
            if prev is not None:
                seen += 1
                if prev is ev:
                    continue
            last[eid] = ev
            kind = ev.kind
            if kind == "agv":
                i = agv_index.get(eid)
                if i is None:
                    continue
                if ev.x is not None and ev.y is not None:
                    if ev.x != self._agv_xy[i, 0] or ev.y != self._agv_xy[i, 1]:
                        self._agv_xy[i, 0] = ev.x
                        self._agv_xy[i, 1] = ev.y
                        agv_moved = True
                if ev.heading is not None and ev.heading != self._agv_yaw[i]:
                    self._agv_yaw[i] = ev.heading
                    agv_moved = True
                if ev.state != self._agv_state[i]:
                    self._agv_state[i] = ev.state
                    self._agv_lamp_rgb[i] = palette.agv_state_colour(ev.state)
                    lamp_changed = True
            elif kind == "station":
                i = st_index.get(eid)
                if i is None:
                    continue
                if ev.state != self._st_state[i]:
                    self._st_state[i] = ev.state
                    if self.overlay == "state":
                        self._paint_station(i)
                        st_changed = True
                q = int(ev.queue) if ev.queue is not None else 0
                if self._station_queue.get(eid, 0) != q:
                    self._station_queue[eid] = q
                    if not self._wip_seen:
                        self._wip_static_dirty = True
            elif kind == "wip":
                if not self._wip_seen:
                    self._wip_seen = True
                    self._wip_static_dirty = True
                self._move_wip(eid, self._wip_holder_of(ev))
        stale = snapshot.stale
        if stale or self._st_stale:  # a source went silent / came back: fade / restore
            now = {eid for eid in stale if eid in st_index}
            if now != self._st_stale:
                flipped = now ^ self._st_stale
                self._st_stale = now
                for eid in flipped:
                    self._paint_station(st_index[eid])
                st_changed = True
        if seen < old_len:  # entities left the snapshot (a seek back in time)
            for eid in [k for k in last if k not in ents]:
                ev = last.pop(eid)
                self._forget(eid, ev)
                st_changed = st_changed or ev.kind == "station"
                lamp_changed = lamp_changed or ev.kind == "agv"
        if st_changed:
            self._status_modified()
        if agv_moved:
            self._write_agv_points()
            if self._trails.actor.GetVisibility():
                self._sample_trails(snapshot.t)
            if self._selected in agv_index:
                self._show_outline(self._selected)
        if lamp_changed:
            self._agv_poly.GetPointData().GetArray("lamp").Modified()
            self._agv_poly.Modified()
        self._update_wip_markers(agv_moved)
        self._frame += 1
        if agv_moved and self._frame % AGV_LOD_EVERY == 0:
            self._lod_key = None  # AGVs drive in and out of the detailed range

    def _wip_holder_of(self, ev: Any) -> str | None:
        """Where a WIP is shown: on its AGV, at the station or storage it waits at (a
        storage is also recognised by the event's position), or nowhere (inside the
        machine while processed; completed parts are shown at the finished-goods store)."""
        if ev.state == "transporting":
            return ev.agv or None
        if ev.state == "processing":
            return None
        if ev.station:
            if ev.state == "waiting" or ev.station in self._buf_index:
                return ev.station
            return None
        if ev.x is not None and ev.y is not None and len(self._buffers):
            d = np.hypot(self._buf_xy[:, 0] - ev.x, self._buf_xy[:, 1] - ev.y)
            k = int(np.argmin(d))
            if d[k] <= BUFFER_SNAP_M:
                return self._buffer_ids[k]
        return None

    def _move_wip(self, wip: str, holder: str | None) -> None:
        old = self._wip_holder.get(wip)
        if old == holder:
            return
        for h, delta in ((old, -1), (holder, +1)):
            if h is None:
                continue
            cnt = max(0, self._holder_count.get(h, 0) + delta)
            self._holder_count[h] = cnt
            i = self._agv_index.get(h)
            if i is not None:
                self._agv_carry[i] = cnt
                self._wip_carry_dirty = True
            else:
                self._wip_static_dirty = True
        if holder is None:
            self._wip_holder.pop(wip, None)
        else:
            self._wip_holder[wip] = holder

    def _forget(self, eid: str, ev: Any) -> None:
        """An entity left the snapshot (seek back before its first event)."""
        if ev.kind == "station" and eid in self._st_index:
            i = self._st_index[eid]
            self._st_state[i] = None
            self._paint_station(i)
            if self._station_queue.pop(eid, 0):
                self._wip_static_dirty = True
        elif ev.kind == "agv" and eid in self._agv_index:
            i = self._agv_index[eid]
            self._agv_state[i] = None
            self._agv_lamp_rgb[i] = palette.NO_DATA
        elif ev.kind == "wip":
            self._move_wip(eid, None)

    # ------------------------------------------------------------------------------------
    # level of detail
    # ------------------------------------------------------------------------------------
    def _on_render_start(self, *_args: Any) -> None:
        self._update_lod()

    def _update_lod(self, force: bool = False) -> None:
        """Choose levels of detail for the current camera (cheap when it did not move)."""
        cam = self.renderer.GetActiveCamera()
        key = (cam.GetMTime(), tuple(self.renderer.GetSize()))
        if not force and key == self._lod_key:
            return
        self._lod_key = key
        st_level, agv_level = self._choose_levels()
        if force or not np.array_equal(st_level, self._st_level):
            self._rebuild_stations(st_level)
        self._set_agv_levels(agv_level)
        # labels for the stations big enough on screen, nearest first
        big = np.nonzero(self._st_px >= LABEL_MIN_PX)[0]
        big = big[np.argsort(self._st_dist[big], kind="stable")][:MAX_LABELS]
        if len(self._flag_labels.shown):  # a flagged station is labelled however small
            flagged = np.asarray(self._flag_labels.shown, np.int64)
            big = np.concatenate([flagged, np.setdiff1d(big, flagged)])[:MAX_LABELS]
        self._labels.show_only(np.sort(big))
        self._labels.keep_inside(self.renderer)
        self._buf_labels.keep_inside(self.renderer)
        self._place_flags()

    def _place_flags(self) -> None:
        """Stack the flag labels shown so that none covers another or a station label
        (greedy, worst first; screen boxes of the current view)."""
        shown = self._flag_labels.shown
        if not shown:
            return
        bb = [0.0] * 4
        boxes: list[tuple[float, float, float, float]] = []
        for k, i in enumerate(self._labels.shown):  # station labels are obstacles
            ta = self._labels.actors[k]
            if ta.GetVisibility():
                ax, ay, _ = world_to_display(self.renderer, self._labels.point(i))
                ta.GetBoundingBox(self.renderer, bb)
                boxes.append((ax + bb[0], ax + bb[1], ay + bb[2], ay + bb[3]))
        anchors = [world_to_display(self.renderer, self._flag_labels.point(i))[:2]
                   for i in shown]
        offsets = []
        for k, (ax, ay) in enumerate(anchors):
            self._flag_labels.actors[k].GetBoundingBox(self.renderer, bb)
            x0, x1, y0, y1 = ax + bb[0], ax + bb[1], ay + bb[2], ay + bb[3]
            dy = FLAG_OFFSET_PX
            for _ in range(len(boxes) + 1):
                hit = [b for b in boxes if b[0] < x1 and x0 < b[1]
                       and b[2] < y1 + dy and y0 + dy < b[3]]
                if not hit:
                    break
                dy = max(b[3] for b in hit) - y0 + 2.0
            boxes.append((x0, x1, y0 + dy, y1 + dy))
            offsets.append((0.0, dy))
        self._flag_labels.set_offsets(offsets)

    def _choose_levels(self) -> tuple[np.ndarray, np.ndarray]:
        """Per station and AGV: the finest level that is worth it on screen, nearest to the
        camera first, as long as the frame stays within the triangle budget."""
        n_st, n_agv = len(self._stations), len(self._agvs)
        n_lv = max(self._st_level_tris.shape[1] if n_st else 1, len(self._agv_level_tris))
        cost = np.zeros((n_st + n_agv, n_lv), np.int64)
        if n_st:
            cost[:n_st, :self._st_level_tris.shape[1]] = self._st_level_tris
            cost[:n_st, self._st_level_tris.shape[1]:] = self._st_level_tris[:, -1:]
        if n_agv:
            at = self._agv_level_tris
            cost[n_st:] = [at[min(lv, len(at) - 1)] for lv in range(n_lv)]
        last = n_lv - 1
        if len(cost) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        centres = np.vstack([self._st_centre.reshape(-1, 3),
                             np.column_stack([self._agv_xy, np.full(n_agv, 0.2)])])
        radius = np.concatenate([self._st_radius, np.full(n_agv, self._agv_model.radius)])
        cam = self.renderer.GetActiveCamera()
        w, h = self.renderer.GetSize()
        w, h = max(int(w), 1), max(int(h), 1)
        planes = [0.0] * 24
        cam.GetFrustumPlanes(w / h, planes)
        pl = np.array(planes).reshape(6, 4)
        inside = np.all(centres @ pl[:, :3].T + pl[:, 3] >= -radius[:, None], axis=1)
        dist = np.linalg.norm(centres - np.array(cam.GetPosition()), axis=1)
        if cam.GetParallelProjection():
            px = radius / max(cam.GetParallelScale(), 1e-9) * (h / 2)
        else:
            px = radius / np.maximum(dist * math.tan(math.radians(cam.GetViewAngle()) / 2),
                                     1e-9) * (h / 2)
        self._st_px = np.where(inside, px, 0.0)[:n_st]
        self._st_dist = dist[:n_st]
        want = np.full(len(cost), last, np.int64)
        for lv in range(min(last, len(LEVEL_MIN_PX)) - 1, -1, -1):
            want[px >= LEVEL_MIN_PX[lv]] = lv
        want[~inside] = last
        level = np.full(len(cost), last, np.int64)
        room = (self.lod_budget_triangles - self._floor_triangles - self._buf_tris
                - int(cost[:, last].sum()) - n_agv * self._agv_lamp_tris)
        for i in np.nonzero(want < last)[0][np.argsort(dist[want < last], kind="stable")]:
            for lv in range(int(want[i]), last):
                extra = int(cost[i, lv] - cost[i, last])
                if extra <= room:
                    level[i] = lv
                    room -= extra
                    break
        return level[:n_st], level[n_st:]

    # ------------------------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------------------------
    @property
    def triangles_drawn(self) -> int:
        """Triangles of the current frame (meshes + glyph instances) as the LOD chose them."""
        agv = int(self._agv_level_tris[self._agv_level].sum()) if len(self._agvs) else 0
        return int(self._floor_triangles + self._st_tris + self._buf_tris + agv
                   + len(self._agvs) * self._agv_lamp_tris + self._wip_count * self._wip_tris)

    @property
    def station_levels(self) -> dict[str, int]:
        """Station id -> level of detail drawn (0 = full model; the last level a block)."""
        return {sid: int(lv) for sid, lv in zip(self._station_ids, self._st_level)}

    def station_colour(self, station_id: str) -> palette.RGB:
        """The colour the station's status part currently shows."""
        c = self._st_rgb[self._st_index[station_id]]
        return (int(c[0]), int(c[1]), int(c[2]))

    def wip_positions(self) -> np.ndarray:
        """(n, 3) floor positions [m] of the WIP totes currently drawn."""
        return np.asarray(self._wip_poly.points).copy()

    def render(self) -> None:
        """Draw a frame (the level of detail follows the camera first)."""
        self._update_lod()
        if hasattr(self.plotter, "render_signal"):  # pyvistaqt: render through Qt
            self.plotter.render()
        else:
            self.plotter.render_window.Render()

    def set_overlay(self, mode: str, scores: Mapping[str, float] | None = None,
                    flags: Mapping[str, str] | None = None) -> None:
        """``'state'``: stations in state colours with the state legend; ``'consistency'``:
        per-station score heatmap (0 = inconsistent, red ... 1 = consistent, blue), the
        score in each label and a colour bar. ``scores`` (``{station_id: 0..1}``) replaces
        the current scores when given; stations without one are grey and labelled "n/a".
        ``flags`` (``{station_id: sentence}``, worst first) replaces the stations the
        verification flags: in the consistency overlay each gets a red-framed label with its
        sentence above its own label (ids not in the workshop are ignored).

        Raises ValueError for an unknown mode or a score that is not a number in [0, 1].
        """
        if mode not in OVERLAYS:
            raise ValueError(f"unknown overlay {mode!r} (expected one of {', '.join(OVERLAYS)})")
        if scores is not None:
            self.scores = palette.validate_scores(scores)
        if flags is not None:
            self._set_flags(flags)
        self.overlay = mode
        for i in range(len(self._stations)):
            self._paint_station(i)
        self._status_modified()
        if mode == "consistency":
            self._labels.set_texts([
                f"{sid}  {self.scores[sid]:.2f}" if sid in self.scores else f"{sid}  n/a"
                for sid in self._station_ids])
            self._legend.VisibilityOff()
            self._bar.VisibilityOn()
        else:
            self._labels.set_texts(self._station_ids)
            self._legend.VisibilityOn()
            self._bar.VisibilityOff()
        self._show_flags()

    def _set_flags(self, flags: Mapping[str, str]) -> None:
        order = [self._st_index[s] for s in flags if s in self._st_index]
        self.flags = {s: str(t) for s, t in flags.items() if s in self._st_index}
        texts = [""] * len(self._station_ids)
        for sid, text in self.flags.items():
            texts[self._st_index[sid]] = two_lines(f"{sid}: {text}", FLAG_WRAP)
        self._flag_order = np.asarray(order, np.int64)
        self._flag_labels.set_texts(texts)

    def _show_flags(self) -> None:
        """Flag labels only in the consistency overlay, with the labels on."""
        on = self.overlay == "consistency" and self._labels_on
        self._flag_labels.show_only(self._flag_order if on else np.zeros(0, np.int64))
        self._lod_key = None  # flagged stations keep their own label: choose labels again
        self._update_lod()

    def flag_labels(self) -> dict[str, str]:
        """Station id -> the flag label drawn above it now (as shown, lines joined by a
        space); empty outside the consistency overlay or with the labels off."""
        out = {}
        for k, i in enumerate(self._flag_labels.shown):
            ta = self._flag_labels.actors[k]
            if ta.GetVisibility():
                out[self._station_ids[i]] = " ".join(ta.GetInput().split())
        return out

    def _sample_trails(self, t: float) -> None:
        """One trail point per TRAIL_STEP_S of shift time (a seek back starts afresh)."""
        if self._trail_t is not None and t < self._trail_t:
            self._trails.reset()
            self._trail_t = None
        if self._trail_t is None or t - self._trail_t >= TRAIL_STEP_S:
            self._trails.push(self._agv_xy)
            self._trail_t = t

    def set_trails(self, on: bool) -> None:
        """Show the recent path of every AGV: the last TRAIL_SAMPLES positions, one per
        TRAIL_STEP_S seconds of shift time (extended by :meth:`apply`)."""
        self._trails.reset()
        self._trail_t = None
        if on:
            self._trails.push(self._agv_xy)
        self._trails.set_visible(on)

    def set_labels(self, on: bool) -> None:
        """Show or hide the station and storage labels (and the flag labels)."""
        self._labels_on = bool(on)
        self._labels.set_visible(on)
        self._buf_labels.set_visible(on)
        self._flag_labels.set_visible(on)
        self._show_flags()

    def set_camera(self, preset: str) -> None:
        """``'top'`` plan view (parallel projection, north up), ``'iso'`` perspective from
        the south, a little west, 50 degrees above the floor, ``'fit'`` keep the direction and frame the whole shop."""
        if preset not in CAMERA_PRESETS:
            raise ValueError(f"unknown camera preset {preset!r} "
                             f"(expected one of {', '.join(CAMERA_PRESETS)})")
        cam = self.renderer.GetActiveCamera()
        if preset == "top":
            cam.ParallelProjectionOn()
            self._frame_box(np.array([0.0, 0.0, -1.0]), np.array([0.0, 1.0, 0.0]))
        elif preset == "iso":
            cam.ParallelProjectionOff()
            cam.SetViewAngle(30.0)
            az, el = math.radians(-100.0), math.radians(50.0)
            to_cam = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az),
                               math.sin(el)])
            self._frame_box(-to_cam, np.array([0.0, 0.0, 1.0]))
        else:
            self._frame_box(np.array(cam.GetDirectionOfProjection()),
                            np.array(cam.GetViewUp()))

    def _frame_box(self, direction: np.ndarray, up: np.ndarray, box: np.ndarray | None = None,
                   margin: float = 1.05) -> None:
        """Look along ``direction`` so that ``box`` (corner points, default: the floor up to
        the tallest machine) fills the view, centred, with ``margin`` (1 = touching)."""
        cam = self.renderer.GetActiveCamera()
        if box is None:
            x0, y0, x1, y1 = self.floor_rect
            top = float((self._st_centre[:, 2] + self._st_half[:, 2]).max()) \
                if len(self._stations) else 2.5
            box = np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (0.0, top)])
        d = np.asarray(direction, float) / np.linalg.norm(direction)
        up = np.asarray(up, float) - np.dot(up, d) * d
        if np.linalg.norm(up) < 1e-6:
            up = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.9 else np.array([0.0, 0.0, 1.0])
            up = up - np.dot(up, d) * d
        up = up / np.linalg.norm(up)
        right = np.cross(d, up)
        w, h = self.renderer.GetSize()
        aspect = (w / h) if w and h else 16 / 9
        centre = box.mean(axis=0)
        size = float(np.linalg.norm(box.max(axis=0) - box.min(axis=0))) + 1.0
        if cam.GetParallelProjection():
            x, y = box @ right, box @ up
            centre = centre + right * ((x.max() + x.min()) / 2 - centre @ right) \
                + up * ((y.max() + y.min()) / 2 - centre @ up)
            cam.SetParallelScale(max((y.max() - y.min()) / 2,
                                     (x.max() - x.min()) / 2 / aspect) * margin)
            cam.SetFocalPoint(*centre)
            cam.SetPosition(*(centre - d * 2 * size))
        else:
            ty = math.tan(math.radians(cam.GetViewAngle()) / 2)
            tx = ty * aspect
            pos = centre - d * size * 1.5
            for _ in range(40):  # centre the perspective projection and fill the view
                rel = box - pos
                depth = np.maximum(rel @ d, 1e-3)
                xv = (rel @ right) / (depth * tx)
                yv = (rel @ up) / (depth * ty)
                md = float(depth.mean())
                pos = pos + right * (xv.max() + xv.min()) / 2 * md * tx \
                    + up * (yv.max() + yv.min()) / 2 * md * ty
                ext = max((xv.max() - xv.min()) / 2, (yv.max() - yv.min()) / 2)
                pos = pos - d * md * (ext * margin - 1.0) * 0.8
            cam.SetPosition(*pos)
            cam.SetFocalPoint(*(pos + d * float(((box - pos) @ d).mean())))
        cam.SetViewUp(*up)
        self.renderer.ResetCameraClippingRange()

    # -- entities -------------------------------------------------------------------------
    def _entity_box(self, entity_id: str) -> tuple[np.ndarray, np.ndarray, float]:
        """(centre, half extents, heading) of an entity's oriented box in the world."""
        if entity_id in self._st_index:
            i = self._st_index[entity_id]
            return self._st_centre[i], self._st_half[i], float(self._st_yaw[i])
        if entity_id in self._buf_index:
            i = self._buf_index[entity_id]
            return self._buf_centre[i], self._buf_half[i], float(self._buf_yaw[i])
        if entity_id in self._agv_index:
            i = self._agv_index[entity_id]
            c = self._place(self._agv_xy[i:i + 1], self._agv_yaw[i:i + 1],
                            [self._agv_local_centre])[0]
            return c, self._agv_half, float(self._agv_yaw[i])
        raise KeyError(f"unknown entity {entity_id!r}")

    def entity_anchor(self, entity_id: str) -> np.ndarray:
        """World point [m] that stands for the entity on screen: where a station shows its
        state colour (the front of its floor zone; the roof when drawn as a far block), the
        top centre of storage and AGVs."""
        if entity_id in self._st_index:
            i = self._st_index[entity_id]
            if self._st_level[i] >= self._st_last_level[i]:
                return self._st_block_anchor[i].copy()
            return self._st_anchor[i].copy()
        c, half, _ = self._entity_box(entity_id)
        return np.array([c[0], c[1], c[2] + half[2]])

    def entity_screen_position(self, entity_id: str) -> tuple[int, int]:
        """Display pixel (x, y; origin bottom-left) of :meth:`entity_anchor` in the current
        view. Raises KeyError for an unknown id."""
        if entity_id in self._st_index:
            self._update_lod()  # the anchor depends on the level of detail drawn
        x, y, _ = world_to_display(self.renderer, self.entity_anchor(entity_id))
        return int(round(x)), int(round(y))

    def pick(self, x_px: int, y_px: int) -> str | None:
        """Id of the station, storage or AGV under display pixel (x, y), None for the floor."""
        self._update_lod()
        self.renderer.ResetCameraClippingRange()
        mesh_id, mesh_dist = self._picker.pick(self.renderer, x_px, y_px)
        if self._agvs:
            origin, direction = display_ray(self.renderer, x_px, y_px)
            cen = self._place(self._agv_xy, self._agv_yaw,
                              [self._agv_local_centre] * len(self._agvs))
            half = np.tile(self._agv_half, (len(self._agvs), 1))
            t = ray_box_hits(origin, direction, cen, half, self._agv_yaw)
            k = int(np.argmin(t))
            if np.isfinite(t[k]):
                cam = np.array(self.renderer.GetActiveCamera().GetPosition())
                if float(np.linalg.norm(origin + direction * t[k] - cam)) <= mesh_dist:
                    return self._agv_ids[k]
        return mesh_id

    def highlight(self, entity_id: str | None) -> None:
        """Outline the selected entity (None clears the selection); an AGV's outline
        follows it. Raises KeyError for an unknown id."""
        if entity_id is None:
            self._selected = None
            self._outline.hide()
            return
        self._show_outline(entity_id)
        self._selected = entity_id

    def _show_outline(self, entity_id: str) -> None:
        c, half, yaw = self._entity_box(entity_id)
        self._outline.show_box(c, half + 0.12, yaw)

    def focus(self, entity_id: str) -> None:
        """Turn the camera to an entity and frame it closely, keeping the view direction
        (a plan view is tilted to 45 degrees so the machine is seen in 3D)."""
        c, half, _ = self._entity_box(entity_id)
        cam = self.renderer.GetActiveCamera()
        d = np.array(cam.GetDirectionOfProjection())
        up = np.array(cam.GetViewUp())
        if abs(d[2]) > 0.98:
            cam.ParallelProjectionOff()
            d = np.array([0.0, 0.7071, -0.7071])
            up = np.array([0.0, 0.0, 1.0])
        r = max(float(half[0]), float(half[1])) + 1.5
        box = np.array([[c[0] + sx * r, c[1] + sy * r, z] for sx in (-1, 1) for sy in (-1, 1)
                        for z in (0.0, c[2] + half[2])])
        self._frame_box(d, up, box=box, margin=1.0)

    def screenshot(self, path: str | os.PathLike[str] | None = None,
                   size: tuple[int, int] | None = (1280, 720)) -> np.ndarray:
        """Render and return the image (h, w, 3) uint8, top row first; also write it as PNG
        to ``path`` when given. ``size`` (w, h px) resizes the render window first; None
        keeps the current size (what an interactive widget should pass)."""
        if size is not None:
            w, h = int(size[0]), int(size[1])
            if tuple(self.plotter.window_size) != (w, h):
                self.plotter.window_size = [w, h]
        self.render()
        img = grab_image(self.plotter)
        if path is not None:
            save_png(img, path)
        return img

    def close(self) -> None:
        """Detach from the plotter's renderer (the LOD observer)."""
        if self._observer is not None:
            self.renderer.RemoveObserver(self._observer)
            self._observer = None



# =========================================================================================
# helpers
# =========================================================================================


def two_lines(text: str, width: int) -> str:
    """``text`` on one line if it fits ``width`` characters, else on two, broken at the
    space nearest the middle that does not part a number from its unit ("1.2 h", "60 %")."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    words = text.split(" ")
    best, best_cost = None, math.inf
    pos = 0
    for k in range(1, len(words)):
        pos += len(words[k - 1]) + 1
        if any(ch.isdigit() for ch in words[k - 1]) and len(words[k]) <= 3:
            continue  # "1.2 | h", "60 | %"
        cost = abs(pos - len(text) / 2)
        if cost < best_cost:
            best, best_cost = pos, cost
    if best is None:
        return text
    return text[:best - 1] + "\n" + text[best:]


def _direct_rgb(mapper: vtkPolyDataMapper) -> None:
    """Colour by the uint8 point array ``rgb`` as is (no lookup table)."""
    mapper.ScalarVisibilityOn()
    mapper.SetScalarModeToUsePointFieldData()
    mapper.SelectColorArray("rgb")
    mapper.SetColorModeToDirectScalars()


def _studio_lights(renderer: Any) -> None:
    """A key light from above the south-west plus a soft headlight (fill)."""
    renderer.RemoveAllLights()
    key = vtkLight()
    key.SetLightTypeToSceneLight()
    key.SetPositional(False)
    key.SetPosition(-0.45, -0.75, 1.0)
    key.SetFocalPoint(0.0, 0.0, 0.0)
    key.SetIntensity(0.72)
    renderer.AddLight(key)
    fill = vtkLight()
    fill.SetLightTypeToHeadlight()
    fill.SetIntensity(0.32)
    renderer.AddLight(fill)


def _matte(actor: vtkActor, ambient: float = 0.3, diffuse: float = 0.7,
           specular: float = 0.06) -> None:
    """Painted-metal look: mostly diffuse, a faint highlight."""
    prop = actor.GetProperty()
    prop.SetAmbient(ambient)
    prop.SetDiffuse(diffuse)
    prop.SetSpecular(specular)
    prop.SetSpecularPower(20.0)


def agv_lamp_geom(lo: np.ndarray, hi: np.ndarray) -> Geom:
    """The AGV's status light: a bar across the top, near the front (+X) end."""
    length, width = hi[0] - lo[0], hi[1] - lo[1]
    x1 = hi[0] - 0.06 * length
    x0 = x1 - 0.28 * length
    return box_geom((x0, lo[1] + 0.08 * width, hi[2]), (x1, hi[1] - 0.08 * width, hi[2] + 0.03),
                    (255, 255, 255))


def grab_image(plotter: pv.Plotter) -> np.ndarray:
    """The last rendered frame as (h, w, 3) uint8, top row first."""
    f = vtkWindowToImageFilter()
    f.SetInput(plotter.render_window)
    f.SetInputBufferTypeToRGB()
    f.ReadFrontBufferOff()
    f.ShouldRerenderOff()
    f.Update()
    img = f.GetOutput()
    w, h, _ = img.GetDimensions()
    arr = vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, -1)[:, :, :3]
    return np.ascontiguousarray(arr[::-1])


def save_png(image: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write an (h, w, 3) uint8 image as PNG (parent folders are created)."""
    from vtkmodules.vtkIOImage import vtkPNGWriter

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    h, w = image.shape[:2]
    img = pv.ImageData(dimensions=(w, h, 1))
    img.point_data["rgb"] = np.ascontiguousarray(image[::-1]).reshape(-1, image.shape[2])
    writer = vtkPNGWriter()
    writer.SetFileName(str(target))
    writer.SetInputData(img)
    writer.Write()
    if writer.GetErrorCode() or not target.is_file():
        raise OSError(f"{target}: could not write PNG")


def offscreen_plotter(size: tuple[int, int] = (1280, 720)) -> pv.Plotter:
    """An off-screen plotter for headless rendering (EGL when there is no X display, no
    multi-sampling: MSAA costs ~70 ms per frame on the software renderer)."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    # Only this plotter is off-screen: setting pv.OFF_SCREEN would also turn every later
    # pyvistaqt QtInteractor of the process into a non-interactive window.
    pv.global_theme.multi_samples = 0
    return pv.Plotter(off_screen=True, window_size=[int(size[0]), int(size[1])])


# =========================================================================================
# models: the procedural models (scene.models) and mesh files (scene.assets)
# =========================================================================================

#: Triangle budget of a workshop's own station / AGV mesh at level 0.
STATION_MESH_BUDGET = 6000
AGV_MESH_BUDGET = 4000
#: Procedural station models face +Y, AGVs drive towards +X (see scene.models).
STATION_FRONT_DEG = 90.0
AGV_FRONT_DEG = 0.0


class ModelProvider:
    """Builds :class:`EntityModel` s for stations, storage and AGVs, cached per process.

    A station with a mesh file gets that mesh (units, scale and up axis from the workshop
    file, lightweighted and cached by scene.assets) plus a stack light; when the file cannot
    be used, the error is added to ``warnings`` and a labelled placeholder is drawn.
    """

    _cache: dict[str, tuple[EntityModel, tuple[str, ...]]] = {}

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings

    def _cached(self, key: str, make: Any) -> EntityModel:
        if key not in self._cache:
            found: list[str] = []
            model = make(found)
            self._cache[key] = (model, tuple(found))
        model, warnings = self._cache[key]
        for w in warnings:
            if w not in self.warnings:
                self.warnings.append(w)
        return model

    @staticmethod
    def station_key(st: Station) -> str:
        if st.mesh is None:
            return f"station:{st.type}"
        m = st.mesh
        return f"station-mesh:{m.path}:{m.units}:{m.scale}:{m.up_axis}"

    def station(self, st: Station) -> EntityModel:
        return self._cached(self.station_key(st), lambda w: _station_model(st, w))

    def storage(self, kind: str) -> EntityModel:
        return self._cached(f"storage:{kind}", lambda w: _storage_model(kind))

    def agv(self, agv: Agv | None) -> EntityModel:
        key = (f"agv-mesh:{agv.mesh.path}:{agv.mesh.units}:{agv.mesh.scale}:{agv.mesh.up_axis}"
               if agv is not None and agv.mesh is not None else "agv:mir100")
        return self._cached(key, lambda w: _agv_model(agv, w))


def _station_model(st: Station, warnings: list[str]) -> EntityModel:
    from scene import models
    from scene.assets import AssetError, floor_centred, load_asset, placeholder

    status = int(models.StationPart.STATUS)
    if st.mesh is not None:
        try:
            asset = load_asset(st.mesh.path, units=st.mesh.units, scale=st.mesh.scale,
                               up_axis=st.mesh.up_axis, budget=STATION_MESH_BUDGET,
                               role="station")
            warnings.extend(asset.warnings)
            meshes = [floor_centred(asset.merged(lv)) for lv in range(len(asset.lods))]
            return build_entity_model(meshes[:2], front_deg=STATION_FRONT_DEG,
                                      status_part=None, zone=True)
        except (AssetError, ValueError, OSError) as exc:
            warnings.append(f"station {st.id}: {exc} - drawn as a placeholder")
            return build_entity_model([placeholder(Path(st.mesh.path).name)],
                                      front_deg=STATION_FRONT_DEG, zone=True)
    try:
        meshes = [models.station_model(st.type, lod=0), models.station_model(st.type, lod=2)]
    except ValueError as exc:  # a type without a procedural model
        warnings.append(f"station {st.id}: {exc} - drawn as a placeholder")
        meshes = [placeholder(st.type)]
    return build_entity_model(meshes, front_deg=STATION_FRONT_DEG, status_part=status,
                              zone=True)


def _storage_model(kind: str) -> EntityModel:
    from scene import models

    mesh = models.storage_model(kind if kind in models.STORAGE_KINDS else "rack")
    return build_entity_model([mesh], front_deg=STATION_FRONT_DEG, beacon=False, block=False)


def _agv_model(agv: Agv | None, warnings: list[str]) -> EntityModel:
    from scene import models
    from scene.assets import AssetError, floor_centred, load_asset, placeholder

    try:
        if agv is not None and agv.mesh is not None:
            asset = load_asset(agv.mesh.path, units=agv.mesh.units, scale=agv.mesh.scale,
                               up_axis=agv.mesh.up_axis, budget=AGV_MESH_BUDGET, role="agv")
            warnings.extend(asset.warnings)
            meshes = [floor_centred(asset.merged(lv)) for lv in (0, 1)]
        else:
            meshes = [models.agv_model("mir100", lod=0), models.agv_model("mir100", lod=1)]
    except (AssetError, ValueError, OSError) as exc:
        warnings.append(f"AGV model: {exc} - drawn as a placeholder")
        meshes = [placeholder("AGV", size=(0.9, 0.58, 0.35))]
    return build_entity_model(meshes, front_deg=AGV_FRONT_DEG, beacon=False)


# =========================================================================================
# headless screenshots
# =========================================================================================


def render_screenshot(
    workshop: Workshop,
    snapshot: Snapshot | None = None,
    *,
    overlay: str = "state",
    scores: Mapping[str, float] | None = None,
    size: tuple[int, int] = (1280, 720),
    camera: str = "iso",
    out: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Render ``workshop`` (in the state of ``snapshot``) off-screen and return the image
    (h, w, 3) uint8; also write it as PNG to ``out`` when given.

    Raises ValueError for an unknown overlay/camera or bad scores.
    """
    if overlay not in OVERLAYS:
        raise ValueError(f"unknown overlay {overlay!r} (expected one of {', '.join(OVERLAYS)})")
    plotter = offscreen_plotter(size)
    try:
        scene = WorkshopScene(workshop, plotter)
        if snapshot is not None:
            scene.apply(snapshot)
        scene.set_overlay(overlay, scores)
        scene.set_camera(camera)
        return scene.screenshot(out, size=size)
    finally:
        plotter.close()


def prepare_models(workshop: Workshop, should_abort: Any = None) -> Any:
    """Load, lightweight and cache every model ``workshop`` needs; yields progress 0..1.

    A generator meant for a worker thread (it builds meshes, never actors): a
    :class:`WorkshopScene` built afterwards on the GUI thread finds them in the
    :class:`ModelProvider` cache, so only actor creation stays there. Returns the mesh
    warnings (``StopIteration.value``); stops early when ``should_abort()`` is true.
    """
    warnings: list[str] = []
    provider = ModelProvider(warnings)
    seen: set[str] = set()
    jobs: list[Any] = []
    for st in workshop.stations.values():
        key = provider.station_key(st)
        if key not in seen:
            seen.add(key)
            jobs.append(lambda st=st: provider.station(st))
    for kind in sorted({b.kind for b in workshop.buffers.values()}):
        jobs.append(lambda kind=kind: provider.storage(kind))
    agvs = list(workshop.agvs.values())
    jobs.append(lambda: provider.agv(agvs[0] if agvs else None))
    yield 0.0
    for i, job in enumerate(jobs):
        if should_abort is not None and should_abort():
            return warnings
        job()
        yield (i + 1) / len(jobs)
    return warnings
