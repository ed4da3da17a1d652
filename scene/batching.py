"""Geometry batching: many copies of a few models drawn as one merged mesh per kind.

The software renderer's cost is the triangles drawn, and one actor per object adds ~40 us
per actor and frame (../shared/PLATFORM.md). So the scene keeps every model as a plain
triangle soup (:class:`Geom`, numpy arrays in a local frame) and merges all placed copies
into one mesh per kind with :func:`merge_instances`, remembering which points belong to
which entity so that their colours can be rewritten in place.

An :class:`EntityModel` is one model at several levels of detail, each split into the body
(fixed colours) and the status part (painted with the state colour). Models are turned so
that their front faces +X; the world rotation of an entity is then its heading.

Units: metres, Z up, angles in degrees counter-clockwise from +X.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyvista as pv

RGB = tuple[int, int, int]
#: Colour of status geometry before it is painted (the scene overwrites it).
STATUS_WHITE: RGB = (255, 255, 255)


@dataclass
class Geom:
    """Triangles in a local frame: ``points`` (P, 3) float32 [m], ``faces`` (F, 3) int64,
    ``rgb`` (P, 3) uint8 per-point colours."""

    points: np.ndarray
    faces: np.ndarray
    rgb: np.ndarray

    @property
    def n_triangles(self) -> int:
        return int(len(self.faces))

    @staticmethod
    def empty() -> Geom:
        return Geom(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64),
                    np.zeros((0, 3), np.uint8))

    @staticmethod
    def from_polydata(mesh: pv.PolyData, default_rgb: RGB = (200, 200, 200)) -> Geom:
        """Triangulate ``mesh``; colours from its point array ``rgb`` (else ``default_rgb``)."""
        tri = mesh if mesh.is_all_triangles else mesh.triangulate()
        if tri.n_cells == 0:
            return Geom.empty()
        faces = np.asarray(tri.regular_faces, dtype=np.int64)
        if "rgb" in tri.point_data:
            rgb = np.asarray(tri.point_data["rgb"])[:, :3]
            if rgb.dtype != np.uint8:
                rgb = np.clip(rgb * (255.0 if rgb.max() <= 1.0 else 1.0), 0, 255)
            rgb = rgb.astype(np.uint8)
        else:
            rgb = np.tile(np.array(default_rgb, np.uint8), (tri.n_points, 1))
        return Geom(np.asarray(tri.points, dtype=np.float32), faces, rgb)

    def subset(self, point_mask: np.ndarray) -> Geom:
        """Faces whose three points are all in ``point_mask`` (points re-indexed)."""
        keep_faces = self.faces[np.all(point_mask[self.faces], axis=1)]
        used = np.unique(keep_faces)
        remap = np.full(len(self.points), -1, np.int64)
        remap[used] = np.arange(len(used))
        return Geom(self.points[used], remap[keep_faces], self.rgb[used])

    def transformed(self, yaw_deg: float = 0.0, offset: Sequence[float] = (0, 0, 0)) -> Geom:
        """Rotated ``yaw_deg`` about Z, then moved by ``offset``."""
        p = rotate_z(self.points, math.radians(yaw_deg)) + np.asarray(offset, np.float32)
        return Geom(p.astype(np.float32), self.faces, self.rgb)

    def painted(self, rgb: RGB) -> Geom:
        return Geom(self.points, self.faces, np.tile(np.array(rgb, np.uint8),
                                                     (len(self.points), 1)))

    @staticmethod
    def concat(parts: Iterable[Geom]) -> Geom:
        parts = [g for g in parts if len(g.points)]
        if not parts:
            return Geom.empty()
        offs = np.cumsum([0] + [len(g.points) for g in parts[:-1]])
        return Geom(
            np.vstack([g.points for g in parts]).astype(np.float32),
            np.vstack([g.faces + o for g, o in zip(parts, offs)]),
            np.vstack([g.rgb for g in parts]),
        )

    def to_polydata(self) -> pv.PolyData:
        """As a mesh with point colours ``rgb`` (an empty mesh when there are no faces)."""
        if not len(self.faces):
            return pv.PolyData()
        mesh = pv.PolyData.from_regular_faces(self.points, self.faces)
        mesh.point_data["rgb"] = self.rgb
        return mesh

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min corner, max corner) of the points (zeros when empty)."""
        if not len(self.points):
            return np.zeros(3, np.float32), np.zeros(3, np.float32)
        return self.points.min(axis=0), self.points.max(axis=0)


def rotate_z(points: np.ndarray, yaw: float) -> np.ndarray:
    """(n, 3) points rotated ``yaw`` radians about Z."""
    c, s = math.cos(yaw), math.sin(yaw)
    out = np.empty_like(points)
    out[:, 0] = c * points[:, 0] - s * points[:, 1]
    out[:, 1] = s * points[:, 0] + c * points[:, 1]
    out[:, 2] = points[:, 2]
    return out


# --- primitives ----------------------------------------------------------------------------


def box_geom(lo: Sequence[float], hi: Sequence[float], rgb: RGB,
             omit: Sequence[str] = ()) -> Geom:
    """An axis-aligned box from corner ``lo`` to corner ``hi`` (12 triangles, flat faces);
    ``omit`` drops faces that can never be seen (``"bottom"``, ``"top"``)."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    quads = {
        "bottom": [(x0, y0, z0), (x0, y1, z0), (x1, y1, z0), (x1, y0, z0)],
        "top": [(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)],
        "-y": [(x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)],
        "+y": [(x1, y1, z0), (x0, y1, z0), (x0, y1, z1), (x1, y1, z1)],
        "-x": [(x0, y1, z0), (x0, y0, z0), (x0, y0, z1), (x0, y1, z1)],
        "+x": [(x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)],
    }
    kept = [q for name, q in quads.items() if name not in omit]
    pts = np.array([p for q in kept for p in q], dtype=np.float32)
    n = len(kept)
    faces = np.array([[4 * k, 4 * k + 1, 4 * k + 2] for k in range(n)]
                     + [[4 * k, 4 * k + 2, 4 * k + 3] for k in range(n)], np.int64)
    return Geom(pts, faces, np.tile(np.array(rgb, np.uint8), (4 * n, 1)))


def quad_geom(corners: np.ndarray, rgb: RGB) -> Geom:
    """A flat quad from 4 corners (counter-clockwise seen from above)."""
    return Geom(np.asarray(corners, np.float32), np.array([[0, 1, 2], [0, 2, 3]], np.int64),
                np.tile(np.array(rgb, np.uint8), (4, 1)))


def prism_geom(centre: Sequence[float], radius: float, z0: float, z1: float, rgb: RGB,
               sides: int = 8) -> Geom:
    """A vertical n-sided prism (a stack light, a column), closed top, open bottom."""
    a = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = np.stack([centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)], 1)
    parts = []
    for i in range(sides):
        j = (i + 1) % sides
        parts.append(quad_geom(np.array([[*ring[i], z0], [*ring[j], z0],
                                         [*ring[j], z1], [*ring[i], z1]]), rgb))
    top = np.vstack([[centre[0], centre[1], z1], np.column_stack([ring, np.full(sides, z1)])])
    tf = np.array([[0, 1 + i, 1 + (i + 1) % sides] for i in range(sides)], np.int64)
    parts.append(Geom(top.astype(np.float32), tf,
                      np.tile(np.array(rgb, np.uint8), (sides + 1, 1))))
    return Geom.concat(parts)


def frame_geom(lo: Sequence[float], hi: Sequence[float], width: float, z: float,
               rgb: RGB) -> Geom:
    """A flat rectangular band on the floor at height ``z``: outer edge ``lo``-``hi`` (x, y),
    ``width`` wide, inwards (8 triangles). A painted floor zone around a machine."""
    x0, y0 = lo[0], lo[1]
    x1, y1 = hi[0], hi[1]
    w = width
    return Geom.concat([
        quad_geom(np.array([[x0, y0, z], [x1, y0, z], [x1, y0 + w, z], [x0, y0 + w, z]]), rgb),
        quad_geom(np.array([[x0, y1 - w, z], [x1, y1 - w, z], [x1, y1, z], [x0, y1, z]]), rgb),
        quad_geom(np.array([[x0, y0 + w, z], [x0 + w, y0 + w, z], [x0 + w, y1 - w, z],
                            [x0, y1 - w, z]]), rgb),
        quad_geom(np.array([[x1 - w, y0 + w, z], [x1, y0 + w, z], [x1, y1 - w, z],
                            [x1 - w, y1 - w, z]]), rgb),
    ])


# --- merging -------------------------------------------------------------------------------


def merge_instances(
    groups: Sequence[tuple[Geom, np.ndarray]],
    xy: np.ndarray,
    yaw_deg: np.ndarray,
    n_entities: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Place copies of local geometries in the world and merge them into one triangle soup.

    Args:
        groups: (geometry, entity indices) pairs: the geometry is placed once per index.
            An entity should appear in at most one group (its colour range is recorded).
        xy: (n_entities, 2) positions [m]; yaw_deg: (n_entities,) rotation about Z [deg].

    Returns:
        points (P, 3) float32, faces (F, 3) int64, rgb (P, 3) uint8, cell entity index (F,)
        int32, and ``ranges`` (n_entities, 2): first point and point count of each entity
        ((0, 0) when absent) so its colours can be rewritten in place.
    """
    pts, faces, rgbs, ents = [], [], [], []
    ranges = np.zeros((n_entities, 2), np.int64)
    base = 0
    for geom, idx in groups:
        idx = np.asarray(idx, np.int64).reshape(-1)
        k, p = len(idx), len(geom.points)
        if k == 0 or p == 0:
            continue
        yaw = np.radians(yaw_deg[idx])[:, None]
        c, s = np.cos(yaw), np.sin(yaw)
        gx, gy = geom.points[:, 0][None], geom.points[:, 1][None]
        block = np.empty((k, p, 3), np.float32)
        block[:, :, 0] = c * gx - s * gy + xy[idx, 0][:, None]
        block[:, :, 1] = s * gx + c * gy + xy[idx, 1][:, None]
        block[:, :, 2] = geom.points[:, 2][None]
        pts.append(block.reshape(-1, 3))
        offs = base + np.arange(k, dtype=np.int64) * p
        faces.append((geom.faces[None] + offs[:, None, None]).reshape(-1, 3))
        rgbs.append(np.broadcast_to(geom.rgb[None], (k, p, 3)).reshape(-1, 3))
        ents.append(np.repeat(idx.astype(np.int32), len(geom.faces)))
        ranges[idx, 0] = offs
        ranges[idx, 1] = p
        base += k * p
    if not pts:
        return (np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64),
                np.zeros((0, 3), np.uint8), np.zeros(0, np.int32), ranges)
    return np.vstack(pts), np.vstack(faces), np.vstack(rgbs), np.concatenate(ents), ranges


def fill_polydata(target: pv.PolyData, points: np.ndarray, faces: np.ndarray,
                  rgb: np.ndarray, entity: np.ndarray | None = None) -> None:
    """Replace the geometry of ``target`` in place (its mapper and actor stay the same);
    point colours go to ``rgb``, the entity index of each triangle to cell array ``entity``."""
    if len(faces):
        new = pv.PolyData.from_regular_faces(points, faces)
        new.point_data["rgb"] = rgb
        if entity is not None:
            new.cell_data["entity"] = entity
    else:
        new = pv.PolyData()
    target.ShallowCopy(new)
    target.Modified()


def colour_groups(geom: Geom, max_groups: int = 6) -> list[tuple[RGB, Geom]]:
    """Split a model by colour so that each piece can be one uniformly coloured glyph actor
    (GPU instancing ignores the source's own colours). Rare colours join the nearest kept
    one, so a model gives at most ``max_groups`` pieces."""
    if not len(geom.points):
        return []
    face_rgb = geom.rgb[geom.faces[:, 0]].astype(np.int64)
    keys, inverse, counts = np.unique(face_rgb, axis=0, return_inverse=True,
                                      return_counts=True)
    inverse = inverse.reshape(-1)
    if len(keys) > max_groups:
        top = np.argsort(-counts)[:max_groups]
        d = ((keys[:, None, :] - keys[top][None, :, :]) ** 2).sum(-1)
        inverse = top[np.argmin(d, axis=1)][inverse]
    out = []
    for k in np.unique(inverse):
        faces = geom.faces[inverse == k]
        used = np.unique(faces)
        remap = np.full(len(geom.points), -1, np.int64)
        remap[used] = np.arange(len(used))
        rgb = tuple(int(v) for v in keys[k])
        out.append((rgb, Geom(geom.points[used], remap[faces], geom.rgb[used])))  # type: ignore[arg-type]
    return out


# --- models at several levels of detail ----------------------------------------------------


@dataclass
class Level:
    """One level of detail: ``body`` keeps its colours, ``status`` is painted by state."""

    body: Geom
    status: Geom

    @property
    def n_triangles(self) -> int:
        return self.body.n_triangles + self.status.n_triangles


@dataclass
class EntityModel:
    """A model at several levels of detail (finest first), front facing +X, origin at the
    footprint centre on the floor. The last level is a block of a few dozen triangles.

    ``lo``/``hi`` are the local bounds of level 0 [m]. ``anchor`` is where the state colour
    shows on the detailed levels (the front of the floor zone, else the top of the status
    part), ``block_anchor`` where it shows on the block (the front of its roof); used for
    screen positions, tests and picking.
    """

    levels: list[Level]
    lo: np.ndarray
    hi: np.ndarray
    anchor: np.ndarray
    block_anchor: np.ndarray

    @property
    def half(self) -> np.ndarray:
        return (self.hi - self.lo) / 2.0

    @property
    def centre(self) -> np.ndarray:
        return (self.hi + self.lo) / 2.0

    @property
    def radius(self) -> float:
        return float(np.linalg.norm(self.half))

    def triangles(self) -> np.ndarray:
        return np.array([lv.n_triangles for lv in self.levels], np.int64)


def split_status(mesh: pv.PolyData, *, front_deg: float, status_part: int | None,
                 beacon: bool) -> Level:
    """Body and status part of a model mesh, turned so that its front faces +X.

    ``status_part`` is the value of the point array ``part`` marking the status part. A mesh
    without one gets a stack light on its rear-left corner when ``beacon`` is set.
    """
    geom = Geom.from_polydata(mesh)
    if front_deg:
        geom = geom.transformed(-front_deg)
    status = Geom.empty()
    body = geom
    if status_part is not None and "part" in mesh.point_data and len(geom.points):
        tri = mesh if mesh.is_all_triangles else mesh.triangulate()
        is_status = np.asarray(tri.point_data["part"]).reshape(-1) == status_part
        if is_status.any():
            body, status = geom.subset(~is_status), geom.subset(is_status)
    if not len(status.points) and beacon and len(body.points):
        status = beacon_geom(*body.bounds())
    return Level(body, status.painted(STATUS_WHITE))


def beacon_geom(lo: np.ndarray, hi: np.ndarray) -> Geom:
    """A stack light on the rear-left corner of a model that has no status part of its own."""
    x = lo[0] + 0.18 * (hi[0] - lo[0])
    y = hi[1] - 0.18 * (hi[1] - lo[1])
    top = float(hi[2])
    return prism_geom((x, y), 0.07, top, top + 0.45, STATUS_WHITE)


def block_level(lo: np.ndarray, hi: np.ndarray, body_rgb: RGB, *, status_roof: bool) -> Level:
    """The far stand-in, 10 triangles: the bounding box's four sides in the body colour and
    its roof in the status colour (what a far view of a shop needs to show)."""
    top = float(hi[2])
    if not status_roof:
        return Level(box_geom((lo[0], lo[1], 0.0), (hi[0], hi[1], top), body_rgb,
                              omit=("bottom",)), Geom.empty())
    roof = quad_geom(np.array([[lo[0], lo[1], top], [hi[0], lo[1], top], [hi[0], hi[1], top],
                               [lo[0], hi[1], top]]), STATUS_WHITE)
    return Level(box_geom((lo[0], lo[1], 0.0), (hi[0], hi[1], top), body_rgb,
                          omit=("bottom", "top")), roof)


#: Floor zone around a station: gap to the footprint, band width, height above the floor [m].
ZONE_MARGIN, ZONE_WIDTH, ZONE_Z = 0.30, 0.25, 0.008


def floor_zone(lo: np.ndarray, hi: np.ndarray) -> Geom:
    """The painted floor band around a machine's footprint (status colour)."""
    return frame_geom((lo[0] - ZONE_MARGIN, lo[1] - ZONE_MARGIN),
                      (hi[0] + ZONE_MARGIN, hi[1] + ZONE_MARGIN), ZONE_WIDTH, ZONE_Z,
                      STATUS_WHITE)


def build_entity_model(
    meshes: Sequence[pv.PolyData],
    *,
    front_deg: float = 0.0,
    status_part: int | None = None,
    beacon: bool = True,
    zone: bool = False,
    block: bool = True,
) -> EntityModel:
    """An :class:`EntityModel` from model meshes, finest first.

    Args:
        meshes: the model at decreasing detail (metres, Z up, origin at the footprint
            centre on the floor).
        front_deg: direction the model's front faces in its own frame (degrees from +X).
        status_part: ``part`` value of the status part (None: the model has none).
        beacon: add a stack light to levels without a status part.
        zone: add a status-coloured floor band around the footprint to every level.
        block: append a bounding-box level (with a status slab if ``beacon`` or a status
            part exists).
    """
    levels = [split_status(m, front_deg=front_deg, status_part=status_part, beacon=beacon)
              for m in meshes]
    levels = [lv for lv in levels if lv.n_triangles] or [Level(Geom.empty(), Geom.empty())]
    first = levels[0]
    lo, hi = Geom.concat([first.body, first.status]).bounds()
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    has_status = bool(len(first.status.points))
    if block:
        body_rgb = tuple(int(v) for v in np.median(first.body.rgb, axis=0)) \
            if len(first.body.rgb) else (150, 150, 150)
        levels.append(block_level(lo, hi, body_rgb, status_roof=has_status))  # type: ignore[arg-type]
    if zone:  # on every level but the block (too thin to see from afar)
        band = floor_zone(lo, hi)
        last = len(levels) - 1 if block else len(levels)
        levels = [Level(lv.body, Geom.concat([lv.status, band])) if k < last else lv
                  for k, lv in enumerate(levels)]
    # the front part of the block's roof (labels float over the rear)
    block_anchor = np.array([hi[0] - 0.25 * (hi[0] - lo[0]), (lo[1] + hi[1]) / 2, hi[2]])
    if zone:
        # the middle of the front band: visible from above and from the aisle side
        anchor = np.array([hi[0] + ZONE_MARGIN - ZONE_WIDTH / 2, (lo[1] + hi[1]) / 2, ZONE_Z])
    else:
        top_of = first.status if has_status else first.body
        anchor = np.zeros(3)
        if len(top_of.points):
            top = float(top_of.points[:, 2].max())
            near_top = top_of.points[top_of.points[:, 2] >= top - 0.02]
            anchor = np.array([near_top[:, 0].mean(), near_top[:, 1].mean(), top])
    return EntityModel(levels, lo, hi, anchor, block_anchor if block else anchor)
