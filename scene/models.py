"""Bundled 3D models: procedural station models (a conveyor section among them), the AGV and storage racks.

Conventions (every model here):

* metres, Z up; origin at the centre of the footprint, on the floor (lowest point z = 0);
* **stations and storage face +Y**: door, window and control panel are on the +Y side (an
  operator standing at +Y looks at the machine). The workshop's ``heading`` is the
  direction a station faces (degrees counter-clockwise from +X, e.g. 270 = facing -Y), so
  the scene turns a station model by :func:`station_yaw_deg` ``(heading) = heading - 90``;
* **AGVs drive towards +X** (ROS REP-103), so an AGV model turns by its heading as is;
* **a conveyor section runs along X** (belt length along X, centred);
* point arrays: ``rgb`` (uint8, N x 3) colours to draw in one actor, ``part`` (uint8, N)
  the :class:`StationPart` of every point, ``Normals`` (float32, N x 3) flat-shading
  normals split at the edges.

The scene tints the state of a station by recolouring the points whose ``part`` is
:attr:`StationPart.STATUS` (signal tower and the stripe along the top front edge); their
neutral colour is :data:`STATUS_NEUTRAL_RGB`.

Station models come in three procedural levels of detail (``lod=0`` full, a few thousand
triangles; ``lod=1`` fewer details and coarser cylinders; ``lod=2`` silhouette only, a
couple of hundred triangles), each keeping the status part.

The AGV model is the real MiR100 mesh bundled in ``assets/meshes``
(credits in ``assets/meshes/SOURCES.md``), loaded through :func:`scene.assets.load_asset`
(lightweighted and cached on disk).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path

import numpy as np
import pyvista as pv

from scene.assets import load_asset
from twin.workshop import STATION_TYPES as WORKSHOP_STATION_TYPES

__all__ = [
    "StationPart",
    "PART_RGB",
    "STATUS_NEUTRAL_RGB",
    "STATION_TYPES",
    "STATION_ALIASES",
    "STORAGE_KINDS",
    "AGV_KINDS",
    "MESH_DIR",
    "station_model",
    "station_yaw_deg",
    "agv_model",
    "storage_model",
]

#: Folder of the bundled third-party meshes (see SOURCES.md there for credits/licences).
MESH_DIR: Path = Path(__file__).resolve().parent.parent / "assets" / "meshes"


class StationPart(IntEnum):
    """What a point of a procedural model belongs to (the ``part`` point array)."""

    BODY = 0  #: enclosure, frame: light grey / white
    WINDOW = 1  #: door and guard windows: dark blue-grey
    PANEL = 2  #: control panel, screens: dark
    STATUS = 3  #: signal tower + top stripe: the scene tints it with the state colour
    ACCENT = 4  #: maker's colour band, chip cart, rack uprights
    MECHANISM = 5  #: spindle, chuck, rails, tooling: steel grey
    BASE = 6  #: plinth, feet, chip conveyor, granite: dark grey
    SAFETY = 7  #: guards, light curtains, rack beams: safety yellow/orange
    LOAD = 8  #: goods on racks, workpieces: cardboard / blanks


#: Default colour of each part (uint8 RGB).
PART_RGB: dict[StationPart, tuple[int, int, int]] = {
    StationPart.BODY: (226, 228, 230),
    StationPart.WINDOW: (72, 92, 112),
    StationPart.PANEL: (44, 47, 52),
    StationPart.STATUS: (236, 236, 236),
    StationPart.ACCENT: (38, 98, 168),
    StationPart.MECHANISM: (150, 155, 162),
    StationPart.BASE: (86, 90, 96),
    StationPart.SAFETY: (240, 186, 24),
    StationPart.LOAD: (180, 136, 86),
}
#: Colour of the status part before the scene tints it.
STATUS_NEUTRAL_RGB: tuple[int, int, int] = PART_RGB[StationPart.STATUS]

#: Station types with a procedural model: the workshop's types plus a few extras.
STATION_TYPES: tuple[str, ...] = (*WORKSHOP_STATION_TYPES, "conveyor", "rack", "generic")
#: Other names accepted by :func:`station_model`.
STATION_ALIASES: dict[str, str] = {
    "cmm": "inspection",
    "measuring": "inspection",
    "mill": "machining_centre",
    "milling": "machining_centre",
    "machining": "machining_centre",
    "machining_center": "machining_centre",
    "vmc": "machining_centre",
    "turning": "lathe",
    "drilling": "drill",
    "grinding": "grinder",
    "washing": "washer",
    "deburr": "deburring",
    "storage": "rack",
    "test": "testing",
    "pack": "packing",
    "packaging": "packing",
}
#: Storage kinds of :func:`storage_model` (the workshop's buffer kinds plus 'rack').
STORAGE_KINDS: tuple[str, ...] = ("rack", "raw", "finished", "buffer")
#: AGV models of :func:`agv_model`.
AGV_KINDS: tuple[str, ...] = ("mir100",)

#: Cylinder resolution per level of detail (segments around).
_LOD_RES = (28, 12, 6)
#: Lowest level of detail that still shows a piece of the given detail class.
_SILHOUETTE, _MEDIUM, _FINE = 0, 1, 2


def station_yaw_deg(heading_deg: float) -> float:
    """Rotation about Z (degrees, counter-clockwise) that turns a station model (front
    +Y) to face the workshop ``heading`` (degrees counter-clockwise from +X)."""
    return (heading_deg - 90.0) % 360.0


# --------------------------------------------------------------------------------------
# Geometry kit: primitives with exact, split normals (numpy), collected into one mesh
# --------------------------------------------------------------------------------------

_Geom = tuple[np.ndarray, np.ndarray, np.ndarray]  # points (N,3), triangles (M,3), normals (N,3)
_Vec = Sequence[float] | np.ndarray  # a 3D point or direction


def _box(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> _Geom:
    """Axis-aligned box: 24 points (4 per face, so faces shade flat), 12 triangles."""
    xs, ys, zs = (min(x0, x1), max(x0, x1)), (min(y0, y1), max(y0, y1)), (min(z0, z1), max(z0, z1))
    faces = []
    normals = []
    # each face: 4 corners counter-clockwise seen from outside
    for axis in range(3):
        for side in (0, 1):
            u, v = [a for a in range(3) if a != axis]
            quad = []
            for cu, cv in ((0, 0), (1, 0), (1, 1), (0, 1)):
                c = [0, 0, 0]
                c[axis], c[u], c[v] = side, cu, cv
                quad.append([(xs, ys, zs)[k][c[k]] for k in range(3)])
            n = np.zeros(3)
            n[axis] = 1.0 if side else -1.0
            e1 = np.subtract(quad[1], quad[0])
            e2 = np.subtract(quad[3], quad[0])
            if np.dot(np.cross(e1, e2), n) < 0:
                quad = quad[::-1]
            faces.append(quad)
            normals.append(np.tile(n, (4, 1)))
    points = np.asarray(faces, dtype=float).reshape(-1, 3)
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    triangles = np.concatenate([tris + 4 * i for i in range(6)])
    return points, triangles, np.concatenate(normals)


def _frame(direction: _Vec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit axis ``w`` along ``direction`` and two unit vectors ``u``, ``v`` across it."""
    w = np.asarray(direction, dtype=float)
    w = w / np.linalg.norm(w)
    helper = np.array([0.0, 0.0, 1.0]) if abs(w[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, w)
    u /= np.linalg.norm(u)
    return u, np.cross(w, u), w


def _cylinder(center: _Vec, direction: _Vec, radius: float, height: float,
              res: int, caps: bool = True, radius_top: float | None = None,
              arc: tuple[float, float] = (0.0, 360.0)) -> _Geom:
    """Cylinder (or frustum with ``radius_top``; or a sector with ``arc`` degrees) along
    ``direction`` centred on ``center``: smooth sides, flat caps."""
    u, v, w = _frame(direction)
    c = np.asarray(center, dtype=float)
    r0, r1 = radius, radius if radius_top is None else radius_top
    full = math.isclose(arc[1] - arc[0], 360.0)
    n_seg = max(3, int(round(res * (arc[1] - arc[0]) / 360.0)))
    angles = np.radians(np.linspace(arc[0], arc[1], n_seg + (0 if full else 1), endpoint=not full))
    ring = np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v
    k = len(angles)
    bottom = c - w * height / 2 + ring * r0
    top = c + w * height / 2 + ring * r1
    slope = (r0 - r1) / height
    side_n = ring + slope * w
    side_n /= np.linalg.norm(side_n, axis=1)[:, None]
    points = [bottom, top]
    normals = [side_n, side_n]
    tris = []
    span = k if full else k - 1
    for i in range(span):
        j = (i + 1) % k
        tris += [[i, j, k + j], [i, k + j, k + i]]
    offset = 2 * k
    if caps:
        for sign, ring_pts in ((-1.0, bottom), (1.0, top)):
            centre = c + sign * w * height / 2
            points += [centre[None, :], ring_pts]
            normals += [np.tile(sign * w, (k + 1, 1))]
            for i in range(span):
                j = (i + 1) % k
                a, b = offset + 1 + i, offset + 1 + j
                tris.append([offset, b, a] if sign < 0 else [offset, a, b])
            offset += k + 1
        if not full:  # close the two flat sides of a sector
            for idx in (0, k - 1):
                quad = np.array([bottom[idx], top[idx], c + w * height / 2, c - w * height / 2])
                n = np.cross(w, ring[idx]) * (1 if idx == 0 else -1)
                points.append(quad)
                normals.append(np.tile(n, (4, 1)))
                tris += [[offset, offset + 1, offset + 2], [offset, offset + 2, offset + 3]]
                offset += 4
    return np.concatenate(points), np.asarray(tris), np.concatenate(normals)


def _prism(profile: Sequence[tuple[float, float]], axis: int, start: float, end: float) -> _Geom:
    """A convex polygon ``profile`` (the two coordinates other than ``axis``, in order)
    extruded along ``axis`` from ``start`` to ``end``: flat-shaded walls and caps."""
    prof = np.asarray(profile, dtype=float)
    u, v = [a for a in range(3) if a != axis]
    n = len(prof)

    def lift(p2: np.ndarray, along: float) -> np.ndarray:
        p = np.zeros((len(p2), 3))
        p[:, u], p[:, v], p[:, axis] = p2[:, 0], p2[:, 1], along
        return p

    # orient the profile counter-clockwise in (u, v) so cross(u, v) = +axis
    area = 0.5 * np.sum(prof[:, 0] * np.roll(prof[:, 1], -1) - np.roll(prof[:, 0], -1) * prof[:, 1])
    sign_axis = 1.0 if (u, v) in ((0, 1), (1, 2), (2, 0)) else -1.0
    if area * sign_axis < 0:
        prof = prof[::-1]
    lo, hi = min(start, end), max(start, end)
    points, normals, tris = [], [], []
    offset = 0
    for i in range(n):
        a, b = prof[i], prof[(i + 1) % n]
        quad = np.concatenate([lift(np.array([a, b]), lo), lift(np.array([b, a]), hi)])
        nrm = np.cross(quad[1] - quad[0], quad[2] - quad[0])
        if np.linalg.norm(nrm) < 1e-12:
            continue
        nrm /= np.linalg.norm(nrm)
        points.append(quad)
        normals.append(np.tile(nrm, (4, 1)))
        tris += [[offset, offset + 1, offset + 2], [offset, offset + 2, offset + 3]]
        offset += 4
    for along, direction in ((lo, -1.0), (hi, 1.0)):
        cap = lift(prof, along)
        nrm = np.zeros(3)
        nrm[axis] = direction
        points.append(cap)
        normals.append(np.tile(nrm, (n, 1)))
        for i in range(1, n - 1):
            tri = [offset, offset + i, offset + i + 1]
            tris.append(tri if direction > 0 else tri[::-1])
        offset += n
    return np.concatenate(points), np.asarray(tris), np.concatenate(normals)


def _sphere(center: _Vec, radius: float, res: int) -> _Geom:
    mesh = pv.Sphere(radius=radius, center=tuple(center), theta_resolution=res,
                     phi_resolution=max(4, res // 2))
    pts = np.asarray(mesh.points, dtype=float)
    normals = pts - np.asarray(center, dtype=float)
    normals /= np.maximum(np.linalg.norm(normals, axis=1)[:, None], 1e-12)
    return pts, mesh.faces.reshape(-1, 4)[:, 1:], normals


def _rotate_z(geom: _Geom, deg: float, pivot: _Vec = (0.0, 0.0, 0.0)) -> _Geom:
    pts, tris, nrm = geom
    a = math.radians(deg)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    piv = np.asarray(pivot, dtype=float)
    return (pts - piv) @ rot.T + piv, tris, nrm @ rot.T


def _rotate_x(geom: _Geom, deg: float, pivot: _Vec = (0.0, 0.0, 0.0)) -> _Geom:
    pts, tris, nrm = geom
    a = math.radians(deg)
    rot = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    piv = np.asarray(pivot, dtype=float)
    return (pts - piv) @ rot.T + piv, tris, nrm @ rot.T


class _Model:
    """Collects coloured primitives for one level of detail and merges them."""

    def __init__(self, lod: int, rng: np.random.Generator) -> None:
        self.lod = lod
        self.rng = rng
        self.res = _LOD_RES[lod]
        self._pieces: list[tuple[_Geom, StationPart, tuple[int, int, int]]] = []
        shade = rng.uniform(-6, 6)
        self.body_rgb = tuple(int(np.clip(c + shade, 0, 255)) for c in PART_RGB[StationPart.BODY])

    def shows(self, detail: int) -> bool:
        """Silhouette pieces show at every level, medium ones at 0-1, fine ones at 0."""
        return detail + self.lod <= _FINE

    def add(self, geom: _Geom, part: StationPart, rgb: tuple[int, int, int] | None = None,
            detail: int = _FINE) -> None:
        """Keep ``geom`` if this level of detail shows ``detail`` (0 = always)."""
        if not self.shows(detail):
            return
        if rgb is None:
            rgb = self.body_rgb if part == StationPart.BODY else PART_RGB[part]  # type: ignore[assignment]
        self._pieces.append((geom, part, rgb))  # type: ignore[arg-type]

    def box(self, x0: float, x1: float, y0: float, y1: float, z0: float, z1: float,
            part: StationPart, rgb: tuple[int, int, int] | None = None, detail: int = _FINE) -> None:
        self.add(_box(x0, x1, y0, y1, z0, z1), part, rgb, detail)

    def cyl(self, center: _Vec, direction: _Vec, radius: float,
            height: float, part: StationPart, rgb: tuple[int, int, int] | None = None,
            detail: int = _FINE, res: int | None = None, **kw: object) -> None:
        if not self.shows(detail):
            return
        n = min(res or self.res, self.res) if res else self.res
        self.add(_cylinder(center, direction, radius, height, n, **kw), part, rgb, detail)  # type: ignore[arg-type]

    def link(self, a: _Vec, b: _Vec, radius: float, part: StationPart,
             rgb: tuple[int, int, int] | None = None, detail: int = _FINE) -> None:
        """A round bar from point ``a`` to point ``b``."""
        pa, pb = np.asarray(a, float), np.asarray(b, float)
        self.cyl((pa + pb) / 2, pb - pa, radius, float(np.linalg.norm(pb - pa)), part, rgb, detail)

    def signal_tower(self, x: float, y: float, z: float, detail: int = _SILHOUETTE) -> None:
        """Stack light on a short pole, ~0.5 m tall: three STATUS segments (always shown)."""
        self.cyl((x, y, z + 0.06), (0, 0, 1), 0.022, 0.12, StationPart.MECHANISM, detail=_MEDIUM, res=8)
        r = 0.06
        for i in range(3):
            self.cyl((x, y, z + 0.17 + i * 0.1), (0, 0, 1), r, 0.095, StationPart.STATUS,
                     detail=detail, res=16)
        self.cyl((x, y, z + 0.43), (0, 0, 1), r * 0.8, 0.02, StationPart.BASE, detail=_FINE, res=16)

    def build(self) -> pv.PolyData:
        points, tris, normals, rgb, part = [], [], [], [], []
        offset = 0
        for (pts, tri, nrm), prt, colour in self._pieces:
            points.append(pts)
            normals.append(nrm)
            tris.append(np.asarray(tri) + offset)
            rgb.append(np.tile(np.asarray(colour, dtype=np.uint8), (len(pts), 1)))
            part.append(np.full(len(pts), int(prt), dtype=np.uint8))
            offset += len(pts)
        mesh = pv.PolyData.from_regular_faces(
            np.concatenate(points).astype(np.float32),  # type: ignore[arg-type]
            np.concatenate(tris).astype(np.int64))  # type: ignore[arg-type]
        mesh.point_data["rgb"] = np.concatenate(rgb)
        mesh.point_data["part"] = np.concatenate(part)
        mesh.point_data["Normals"] = np.concatenate(normals).astype(np.float32)
        mesh.point_data.active_normals_name = "Normals"
        mesh.set_active_scalars("rgb")
        return mesh


def _floor_offset(mesh: pv.PolyData) -> np.ndarray:
    """Shift that puts the footprint centre of ``mesh`` at the origin, its base at z = 0."""
    xmin, xmax, ymin, ymax, zmin, _ = mesh.bounds
    return np.array([(xmin + xmax) / 2, (ymin + ymax) / 2, zmin], dtype=np.float32)


def _levels(build: Callable[[_Model], None], rng_key: list[int]) -> tuple[pv.PolyData, ...]:
    """All three levels of a procedural model, centred with the level-0 footprint so that
    switching level does not move the model."""
    meshes = []
    for lod in (0, 1, 2):
        model = _Model(lod, np.random.default_rng(rng_key))
        build(model)
        meshes.append(model.build())
    offset = _floor_offset(meshes[0])
    for mesh in meshes:
        mesh.points = np.asarray(mesh.points) - offset
    return tuple(meshes)


S = StationPart

# --------------------------------------------------------------------------------------
# Reusable machine features
# --------------------------------------------------------------------------------------


def _sliding_door(m: _Model, x0: float, x1: float, y: float, z0: float, z1: float,
                  handle_at: float | None = None) -> None:
    """A door on the front face (at ``y``) with a big window and a vertical handle."""
    m.box(x0, x1, y, y + 0.04, z0, z1, S.BODY, detail=_MEDIUM)
    m.box(x0 + 0.09, x1 - 0.09, y + 0.04, y + 0.055, z0 + 0.28, z1 - 0.12, S.WINDOW, detail=_SILHOUETTE)
    if handle_at is not None:
        m.box(handle_at - 0.015, handle_at + 0.015, y + 0.04, y + 0.09, z0 + 0.35, z1 - 0.45,
              S.MECHANISM, detail=_FINE)


def _control_panel(m: _Model, cx: float, y: float, z0: float, width: float = 0.42,
                   height: float = 0.75, tilt_deg: float = 0.0) -> None:
    """Operator panel on the front face: dark housing, screen, key rows, an e-stop."""
    hw = width / 2
    pivot = (cx, y, z0)
    pieces: list[tuple[_Geom, StationPart, tuple[int, int, int] | None, int]] = [
        (_box(cx - hw, cx + hw, y, y + 0.12, z0, z0 + height), S.PANEL, None, _SILHOUETTE),
        (_box(cx - hw + 0.04, cx + hw - 0.04, y + 0.12, y + 0.13, z0 + height * 0.5,
              z0 + height - 0.05), S.PANEL, (28, 52, 84), _MEDIUM),
    ]
    for row in range(3):
        zk = z0 + 0.08 + row * 0.085
        pieces.append((_box(cx - hw + 0.05, cx + hw - 0.1, y + 0.12, y + 0.14, zk, zk + 0.05),
                       S.MECHANISM, (120, 124, 130), _FINE))
    pieces.append((_cylinder((cx + hw - 0.055, y + 0.14, z0 + 0.12), (0, 1, 0), 0.03, 0.04,
                             m.res), S.SAFETY, (200, 30, 30), _FINE))
    for geom, part, rgb, detail in pieces:
        if tilt_deg:
            geom = _rotate_x(geom, -tilt_deg, pivot)
        m.add(geom, part, rgb, detail)


def _top_stripe(m: _Model, x0: float, x1: float, y: float, z: float) -> None:
    """STATUS stripe (0.12 m high) along the top front edge at ``y`` just below height
    ``z``: seen from above and from the front."""
    m.box(x0, x1, y - 0.02, y + 0.03, z - 0.12, z + 0.01, S.STATUS, detail=_SILHOUETTE)


def _chip_conveyor(m: _Model, x0: float, y0: float, y1: float, length: float,
                   lift: float, direction: float = 1.0) -> None:
    """Inclined chip conveyor leaving the machine sideways into a chip cart."""
    xa = x0
    xb = x0 + direction * length
    low, high = 0.12, lift
    prof = [(xa, 0.0), (xb, 0.0), (xb, high), (xb - direction * 0.25, high),
            (xa, low + 0.3)]
    m.add(_prism(prof if direction > 0 else prof[::-1], 1, y0, y1), S.BASE, detail=_MEDIUM)
    cx0, cx1 = sorted((xb - direction * 0.05, xb + direction * 0.4))
    m.box(cx0, cx1, y0 - 0.05, y1 + 0.05, 0.08, 0.55, S.ACCENT, detail=_MEDIUM)
    for wy in (y0 + 0.03, y1 - 0.03):
        m.cyl((cx0 + 0.1, wy, 0.04), (0, 1, 0), 0.04, 0.03, S.BASE, detail=_FINE, res=10)
        m.cyl((cx1 - 0.1, wy, 0.04), (0, 1, 0), 0.04, 0.03, S.BASE, detail=_FINE, res=10)


# --------------------------------------------------------------------------------------
# Station types (front +Y, built roughly centred; _Model.build re-centres the footprint)
# --------------------------------------------------------------------------------------


def _machining_centre(m: _Model) -> None:
    """Vertical machining centre ~2.5 x 2.0 x 2.6 m: tall cabinet, two sliding doors with
    windows, spindle-head housing rising above the roof, panel at the front right,
    chip conveyor and cart on the left, electrical cabinet at the back."""
    x0, x1, y0, y1, top = -1.05, 0.95, -0.95, 0.85, 2.25
    m.box(x0 - 0.03, x1 + 0.03, y0, y1 + 0.03, 0.0, 0.12, S.BASE, detail=_SILHOUETTE)
    # enclosure with a chamfered roof at the front
    prof = [(y0, 0.12), (y1, 0.12), (y1, top - 0.18), (y1 - 0.22, top), (y0, top)]
    m.add(_prism(prof, 0, x0, x1), S.BODY, detail=_SILHOUETTE)
    # apron and maker's band
    m.box(x0, x1, y1, y1 + 0.03, 0.12, 0.62, S.BASE, (112, 116, 122), detail=_MEDIUM)
    m.box(x0, x1, y1, y1 + 0.035, 0.62, 0.7, S.ACCENT, detail=_MEDIUM)
    # two sliding doors with windows
    _sliding_door(m, -0.62, 0.18, y1, 0.7, 2.0, handle_at=0.1)
    _sliding_door(m, 0.14, 0.92, y1 + 0.045, 0.7, 2.0, handle_at=0.22)
    # spindle head housing (Z column) above the roof, servo motor on top
    m.box(-0.45, 0.35, y0 + 0.05, -0.05, top, 2.5, S.BODY, detail=_SILHOUETTE)
    m.cyl((-0.05, -0.5, 2.55), (0, 0, 1), 0.11, 0.1, S.MECHANISM, detail=_MEDIUM)
    m.box(-0.45, 0.35, -0.07, -0.03, 2.3, 2.45, S.ACCENT, detail=_FINE)
    # roof vents
    for i in range(4):
        m.box(0.45 + i * 0.12, 0.52 + i * 0.12, -0.6, 0.2, top, top + 0.02, S.BASE, detail=_FINE)
    # control panel at the front right (operator's right is -X), slightly tilted
    m.box(x0 - 0.25, x0, y1 - 0.35, y1 - 0.05, 0.0, 0.9, S.BODY, detail=_MEDIUM)
    _control_panel(m, x0 - 0.05, y1 - 0.05, 0.9, width=0.5, height=0.8, tilt_deg=10)
    # electrical cabinet at the back, coolant tank at the back left
    m.box(x0 + 0.05, x0 + 0.85, y0 - 0.25, y0, 0.12, 2.05, S.BODY, (206, 208, 212), detail=_MEDIUM)
    m.box(x0 + 0.1, x0 + 0.8, y0 - 0.26, y0 - 0.25, 1.7, 1.9, S.BASE, detail=_FINE)
    m.box(0.2, x1, y0 - 0.15, y0, 0.0, 0.55, S.BASE, detail=_FINE)
    _chip_conveyor(m, x1, -0.35, 0.15, 0.4, 1.0, direction=1.0)
    _top_stripe(m, x0, x1, y1, top - 0.18)
    m.signal_tower(x0 + 0.12, y1 - 0.45, top)


def _lathe(m: _Model) -> None:
    """CNC slant-bed lathe ~3.2 x 1.6 x 1.9 m: long, low body with a sloped front, one long
    sliding door with a wide window, headstock cabinet and bar feeder on the left (+X),
    panel on the right (-X), chip conveyor out of the back."""
    x0, x1, y0, y1 = -1.3, 1.2, -0.75, 0.7
    m.box(x0 - 0.02, x1 + 0.02, y0, y1, 0.0, 0.15, S.BASE, detail=_SILHOUETTE)
    # slant-bed enclosure: low front, sloping up to the back
    prof = [(y0, 0.15), (y1, 0.15), (y1, 0.75), (y1 - 0.55, 1.75), (y0, 1.75)]
    m.add(_prism(prof, 0, x0, x1), S.BODY, detail=_SILHOUETTE)
    # sloped sliding door with a long window, following the slope
    slope = math.degrees(math.atan2(1.0, 0.55))  # from horizontal
    door = _box(-0.75, 0.75, 0.0, 0.04, 0.0, 1.08)
    win = _box(-0.62, 0.62, 0.04, 0.055, 0.18, 0.95)
    handle = _box(-0.69, -0.65, 0.04, 0.09, 0.3, 0.8)
    for geom, part, detail in ((door, S.BODY, _MEDIUM), (win, S.WINDOW, _SILHOUETTE),
                               (handle, S.MECHANISM, _FINE)):
        geom = _rotate_x(geom, -(90 - slope))
        pts, tri, nrm = geom
        geom = (pts + np.array([0.0, y1, 0.72]), tri, nrm)
        m.add(geom, part, detail=detail)
    # straight lower front with maker's band
    m.box(x0, x1, y1, y1 + 0.03, 0.15, 0.6, S.BASE, (112, 116, 122), detail=_MEDIUM)
    m.box(x0, x1, y1, y1 + 0.035, 0.6, 0.68, S.ACCENT, detail=_MEDIUM)
    # headstock cabinet (left end, taller) and spindle motor hump
    m.box(x1, x1 + 0.45, y0, y1 - 0.1, 0.15, 1.9, S.BODY, (214, 216, 220), detail=_SILHOUETTE)
    m.cyl((x1 + 0.22, y0 + 0.45, 1.9), (1, 0, 0), 0.16, 0.4, S.BODY, (214, 216, 220),
          detail=_FINE, arc=(0.0, 180.0))
    # bar feeder: long low magazine on legs continuing the spindle axis
    bx0, bx1 = x1 + 0.45, x1 + 1.1
    m.box(bx0, bx1, -0.35, 0.15, 0.75, 1.15, S.BODY, (200, 204, 210), detail=_SILHOUETTE)
    m.box(bx0, bx1, 0.15, 0.17, 0.8, 1.1, S.ACCENT, detail=_FINE)
    for lx in (bx0 + 0.15, bx1 - 0.15):
        m.box(lx - 0.05, lx + 0.05, -0.3, 0.1, 0.0, 0.75, S.BASE, detail=_MEDIUM)
    # control panel on the right (-X) end, on a pedestal, facing front
    m.box(x0 - 0.3, x0, y1 - 0.45, y1 - 0.1, 0.0, 1.0, S.BODY, detail=_MEDIUM)
    _control_panel(m, x0 - 0.16, y1 - 0.1, 1.0, width=0.42, height=0.72, tilt_deg=12)
    # chip conveyor out of the back, chip cart behind
    m.box(-0.2, 0.4, y0 - 0.3, y0, 0.0, 0.55, S.BASE, detail=_MEDIUM)
    m.box(-0.25, 0.45, y0 - 0.6, y0 - 0.3, 0.05, 0.6, S.ACCENT, detail=_MEDIUM)
    _top_stripe(m, x0, x1, y1 - 0.55, 1.76)
    m.signal_tower(x0 + 0.15, y0 + 0.2, 1.75)


def _drill(m: _Model) -> None:
    """Radial-arm drilling machine ~2.2 x 1.2 x 2.5 m: base plate with a T-slot table,
    round column, horizontal arm with the drill head, spindle and quill."""
    m.box(-1.1, 1.0, -0.6, 0.55, 0.0, 0.22, S.BASE, detail=_SILHOUETTE)
    m.box(-0.2, 0.9, -0.35, 0.45, 0.22, 0.75, S.BODY, (205, 208, 212), detail=_SILHOUETTE)  # box table
    for i in range(4):
        m.box(-0.15, 0.85, -0.3 + i * 0.2, -0.27 + i * 0.2, 0.75, 0.76, S.MECHANISM, detail=_FINE)
    col = (-0.75, -0.2)
    m.cyl((col[0], col[1], 0.35), (0, 0, 1), 0.22, 0.26, S.BODY, detail=_MEDIUM)  # column base
    m.cyl((col[0], col[1], 1.35), (0, 0, 1), 0.16, 2.2, S.BODY, detail=_SILHOUETTE)  # column
    m.cyl((col[0], col[1], 2.4), (0, 0, 1), 0.2, 0.18, S.BODY, (205, 208, 212), detail=_MEDIUM)  # cap
    # arm, swung a little towards the front
    arm = _box(col[0] - 0.2, col[0] + 1.55, col[1] - 0.16, col[1] + 0.16, 1.75, 2.05)
    m.add(_rotate_z(arm, 12, (col[0], col[1], 0)), S.BODY, detail=_SILHOUETTE)
    hx, hy = col[0] + 1.05 * math.cos(math.radians(12)), col[1] + 1.05 * math.sin(math.radians(12))
    head = _box(hx - 0.22, hx + 0.22, hy - 0.05, hy + 0.38, 1.35, 2.15)
    m.add(_rotate_z(head, 12, (hx, hy, 0)), S.BODY, (214, 216, 220), detail=_SILHOUETTE)
    m.cyl((hx, hy + 0.12, 2.3), (0, 0, 1), 0.14, 0.3, S.MECHANISM, detail=_MEDIUM)  # motor
    m.cyl((hx, hy + 0.18, 1.2), (0, 0, 1), 0.055, 0.3, S.MECHANISM, detail=_MEDIUM)  # quill
    m.cyl((hx, hy + 0.18, 0.96), (0, 0, 1), 0.012, 0.22, S.MECHANISM, (90, 94, 100), detail=_FINE,
          radius_top=0.02)
    # panel on the head front and a hand wheel
    panel = _box(hx - 0.16, hx + 0.16, hy + 0.38, hy + 0.42, 1.65, 2.05)
    m.add(_rotate_z(panel, 12, (hx, hy, 0)), S.PANEL, detail=_MEDIUM)
    m.cyl((hx + 0.3, hy + 0.25, 1.55), (1, 0, 0), 0.1, 0.03, S.MECHANISM, detail=_FINE)
    # workpiece on the table and a coolant tank
    m.box(0.2, 0.5, 0.0, 0.2, 0.76, 0.88, S.LOAD, (160, 164, 170), detail=_FINE)
    _top_stripe(m, col[0] - 0.2, col[0] + 0.25, col[1] + 0.18, 2.05)
    m.signal_tower(col[0], col[1], 2.49)


def _grinder(m: _Model) -> None:
    """Surface grinder ~2.7 x 1.9 x 2.1 m: base with a long reciprocating table and
    magnetic chuck, column at the back, wheel head with the half-round wheel guard,
    splash guards, coolant unit on the side, panel pedestal at the front right."""
    m.box(-1.0, 1.0, -0.8, 0.5, 0.0, 0.9, S.BODY, detail=_SILHOUETTE)  # base
    m.box(-1.0, 1.0, 0.5, 0.53, 0.2, 0.3, S.ACCENT, detail=_MEDIUM)
    m.box(-1.3, 1.3, -0.3, 0.4, 0.9, 1.05, S.MECHANISM, (170, 174, 180), detail=_SILHOUETTE)  # table
    m.box(-0.7, 0.7, -0.25, 0.35, 1.05, 1.12, S.BASE, (60, 62, 66), detail=_MEDIUM)  # magnetic chuck
    for sx in (-1.3, 1.26):
        m.box(sx, sx + 0.04, -0.3, 0.4, 1.05, 1.3, S.WINDOW, detail=_FINE)  # splash guard ends
    m.box(-0.45, 0.45, -0.95, -0.35, 0.0, 2.1, S.BODY, detail=_SILHOUETTE)  # column
    m.box(-0.3, 0.3, -0.45, 0.15, 1.45, 1.85, S.BODY, (214, 216, 220), detail=_SILHOUETTE)  # wheel head
    m.cyl((0.0, 0.05, 1.3), (0, 1, 0), 0.2, 0.1, S.BODY, (214, 216, 220), detail=_SILHOUETTE,
          arc=(0.0, 180.0))  # wheel guard (upper half)
    m.cyl((0.0, 0.05, 1.3), (0, 1, 0), 0.18, 0.04, S.MECHANISM, (190, 186, 170), detail=_MEDIUM)  # wheel
    m.cyl((0.0, -0.2, 1.98), (0, 1, 0), 0.14, 0.35, S.MECHANISM, detail=_MEDIUM)  # spindle motor
    m.cyl((-0.55, 0.52, 0.6), (0, 1, 0), 0.12, 0.05, S.MECHANISM, detail=_FINE)  # hand wheel
    m.box(1.05, 1.35, -0.8, -0.2, 0.0, 0.7, S.BASE, detail=_MEDIUM)  # coolant unit
    m.box(1.1, 1.3, -0.75, -0.25, 0.7, 0.85, S.ACCENT, detail=_FINE)
    m.box(-1.35, -1.05, 0.2, 0.55, 0.0, 1.0, S.BODY, detail=_MEDIUM)  # panel pedestal
    _control_panel(m, -1.2, 0.55, 1.0, width=0.32, height=0.6, tilt_deg=15)
    _top_stripe(m, -0.45, 0.45, -0.35, 2.1)
    m.signal_tower(0.3, -0.8, 2.1)


def _robot_arm(m: _Model, x: float, y: float, z: float, reach: float = 1.0,
               yaw_deg: float = 20.0, colour: tuple[int, int, int] = (240, 120, 20)) -> None:
    """Six-axis industrial robot (orange) standing at (x, y, z), arm towards yaw_deg."""
    yaw = math.radians(yaw_deg)
    d = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    m.cyl((x, y, z + 0.06), (0, 0, 1), 0.2, 0.12, S.BASE, detail=_SILHOUETTE)
    m.cyl((x, y, z + 0.25), (0, 0, 1), 0.16, 0.26, S.ACCENT, colour, detail=_SILHOUETTE)
    shoulder = np.array([x, y, z + 0.45]) + d * 0.1
    elbow = shoulder + d * 0.25 * reach + np.array([0, 0, 0.62 * reach])
    wrist = elbow + d * 0.62 * reach + np.array([0, 0, -0.18 * reach])
    tool = wrist + np.array([0, 0, -0.25])
    m.cyl(shoulder, np.cross(d, [0, 0, 1]), 0.13, 0.3, S.ACCENT, colour, detail=_MEDIUM)
    m.link(shoulder, elbow, 0.1, S.ACCENT, colour, detail=_SILHOUETTE)
    m.cyl(elbow, np.cross(d, [0, 0, 1]), 0.1, 0.26, S.ACCENT, colour, detail=_MEDIUM)
    m.link(elbow, wrist, 0.075, S.ACCENT, colour, detail=_SILHOUETTE)
    m.cyl(elbow - d * 0.15, d, 0.09, 0.2, S.BASE, detail=_FINE)  # forearm motor
    m.link(wrist, tool, 0.05, S.MECHANISM, detail=_MEDIUM)
    m.cyl(tool + np.array([0, 0, -0.04]), (0, 0, 1), 0.07, 0.05, S.MECHANISM, (60, 60, 60),
          detail=_FINE)  # brush / deburring tool


def _fence(m: _Model, x0: float, x1: float, y0: float, y1: float, height: float,
           opening: tuple[float, float] | None = None) -> None:
    """Safety fence: yellow posts with two rails, open at the front between ``opening``."""
    posts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    for px, py in posts:
        m.box(px - 0.03, px + 0.03, py - 0.03, py + 0.03, 0.0, height, S.SAFETY, detail=_SILHOUETTE)
    for (ax, ay), (bx, by) in zip(posts, posts[1:] + posts[:1]):
        segments = [((ax, ay), (bx, by))]
        if opening and ay == by == y1:
            lo, hi = sorted((ax, bx))
            segments = [((lo, ay), (opening[0], ay)), ((opening[1], ay), (hi, ay))]
            for ox in opening:
                m.box(ox - 0.03, ox + 0.03, ay - 0.03, ay + 0.03, 0.0, height, S.SAFETY,
                      detail=_SILHOUETTE)
        for (sx, sy), (ex, ey) in segments:
            for zr in (height - 0.04, height * 0.5):
                m.box(min(sx, ex) - 0.015, max(sx, ex) + 0.015, min(sy, ey) - 0.015,
                      max(sy, ey) + 0.015, zr - 0.02, zr + 0.02, S.SAFETY, detail=_SILHOUETTE)
            # mesh panel: a thin see-through-looking infill below the top rail
            m.box(min(sx, ex), max(sx, ex), min(sy, ey) - 0.004, max(sy, ey) + 0.004, 0.15,
                  height * 0.5 - 0.03, S.WINDOW, (110, 118, 126), detail=_FINE)


def _deburring(m: _Model) -> None:
    """Robot deburring cell ~2.6 x 2.4 x 2.0 m: fenced cell, orange robot with a brush
    tool, fixture table, dust extractor and operator panel at the opening."""
    _fence(m, -1.3, 1.3, -1.2, 1.2, 2.0, opening=(-0.45, 0.45))
    m.box(-0.9, -0.3, -0.9, -0.3, 0.0, 0.08, S.BASE, detail=_MEDIUM)
    _robot_arm(m, -0.6, -0.6, 0.08, reach=1.0, yaw_deg=40)
    m.box(0.1, 0.9, 0.05, 0.75, 0.0, 0.8, S.BODY, detail=_SILHOUETTE)  # fixture table
    m.box(0.3, 0.7, 0.25, 0.55, 0.8, 0.95, S.MECHANISM, detail=_MEDIUM)  # fixture
    m.box(0.4, 0.6, 0.3, 0.5, 0.95, 1.05, S.LOAD, (160, 164, 170), detail=_FINE)  # part
    m.box(0.5, 1.2, -1.1, -0.5, 0.0, 1.5, S.BODY, (205, 208, 212), detail=_SILHOUETTE)  # extractor
    m.cyl((0.85, -0.8, 1.7), (0, 0, 1), 0.12, 0.4, S.MECHANISM, detail=_MEDIUM)  # duct
    m.box(0.55, 1.15, -0.49, -0.47, 0.2, 1.3, S.WINDOW, (96, 100, 106), detail=_FINE)  # filter grille
    m.box(0.55, 0.95, 1.22, 1.42, 0.0, 1.0, S.BODY, detail=_MEDIUM)
    _control_panel(m, 0.75, 1.42, 1.0, width=0.36, height=0.55, tilt_deg=15)
    _top_stripe(m, -1.3, 1.3, 1.2, 2.0)
    m.signal_tower(1.3, 1.2, 2.0)


def _washer(m: _Model) -> None:
    """Tunnel parts washer ~3.2 x 1.5 x 2.3 m: stainless cabinet, roller conveyors in and
    out, exhaust chimney, inspection window, tank below, panel at the front."""
    steel = (196, 202, 208)
    m.box(-0.9, 0.9, -0.7, 0.65, 0.0, 0.5, S.BASE, (120, 126, 132), detail=_SILHOUETTE)  # tank
    m.box(-0.9, 0.9, -0.7, 0.65, 0.5, 1.9, S.BODY, steel, detail=_SILHOUETTE)  # cabinet
    m.box(-0.4, 0.4, -0.3, 0.3, 1.9, 2.05, S.BODY, steel, detail=_MEDIUM)  # hood
    m.cyl((0.0, 0.0, 2.15), (0, 0, 1), 0.13, 0.3, S.MECHANISM, detail=_SILHOUETTE)  # chimney
    m.cyl((0.0, 0.0, 2.3), (0, 0, 1), 0.17, 0.04, S.MECHANISM, detail=_FINE)
    m.box(-0.55, 0.35, 0.65, 0.69, 1.0, 1.55, S.WINDOW, detail=_SILHOUETTE)  # window
    m.box(-0.85, 0.85, 0.65, 0.68, 0.55, 0.62, S.ACCENT, detail=_MEDIUM)
    # tunnel openings and roller conveyors both sides
    for side in (-1, 1):
        xe = side * 0.9
        m.box(xe - 0.01 * side, xe + 0.02 * side, -0.35, 0.35, 0.85, 1.25, S.PANEL,
              (30, 32, 36), detail=_MEDIUM)
        xa, xb = sorted((xe, xe + side * 0.7))
        m.box(xa, xb, -0.4, -0.35, 0.78, 0.9, S.MECHANISM, detail=_MEDIUM)
        m.box(xa, xb, 0.35, 0.4, 0.78, 0.9, S.MECHANISM, detail=_MEDIUM)
        for lx in (xa + 0.08, xb - 0.08):
            for ly in (-0.37, 0.37):
                m.box(lx - 0.025, lx + 0.025, ly - 0.025, ly + 0.025, 0.0, 0.78, S.MECHANISM,
                      detail=_MEDIUM)
        for i in range(6):
            rx = xa + 0.06 + i * (xb - xa - 0.12) / 5
            m.cyl((rx, 0.0, 0.86), (0, 1, 0), 0.03, 0.7, S.MECHANISM, (176, 180, 186),
                  detail=_FINE, res=10)
        if m.lod == 2:  # rollers merged into one plate
            m.box(xa, xb, -0.33, 0.33, 0.83, 0.89, S.MECHANISM, detail=_SILHOUETTE)
    # pump and pipes at the back
    m.cyl((0.5, -0.82, 0.25), (0, 0, 1), 0.12, 0.5, S.ACCENT, detail=_FINE)
    m.link((0.5, -0.82, 0.5), (0.5, -0.82, 1.6), 0.03, S.MECHANISM, detail=_FINE)
    _control_panel(m, 0.65, 0.65, 1.0, width=0.36, height=0.6)
    _top_stripe(m, -0.9, 0.9, 0.65, 1.9)
    m.signal_tower(-0.75, 0.4, 1.9)


def _inspection(m: _Model) -> None:
    """Bridge-type coordinate measuring machine (CMM) ~2.4 x 1.9 x 2.5 m: dark granite
    table on a stand, white bridge on two legs, Z ram with probe, controller cabinet and
    a desk with the measuring PC monitor in front."""
    m.box(-0.9, 0.9, -0.7, 0.5, 0.0, 0.55, S.BASE, (70, 74, 80), detail=_SILHOUETTE)  # stand
    m.box(-1.0, 1.0, -0.8, 0.6, 0.55, 0.8, S.BASE, (48, 50, 54), detail=_SILHOUETTE)  # granite
    for i in range(5):
        m.box(-0.85 + i * 0.4, -0.82 + i * 0.4, -0.7, 0.5, 0.8, 0.805, S.MECHANISM, detail=_FINE)
    by = -0.1
    for lx in (-0.85, 0.85):  # bridge legs
        m.box(lx - 0.08, lx + 0.08, by - 0.12, by + 0.12, 0.8, 2.0, S.BODY, (244, 244, 244),
              detail=_SILHOUETTE)
        m.box(lx - 0.09, lx + 0.09, -0.8, 0.6, 0.8, 0.86, S.MECHANISM, detail=_MEDIUM)  # guideway
    m.box(-0.95, 0.95, by - 0.15, by + 0.15, 2.0, 2.25, S.BODY, (244, 244, 244), detail=_SILHOUETTE)
    m.box(-0.15, 0.15, by + 0.15, by + 0.35, 1.85, 2.35, S.BODY, (236, 236, 238), detail=_SILHOUETTE)  # carriage
    m.box(-0.05, 0.05, by + 0.2, by + 0.3, 1.15, 2.45, S.MECHANISM, (200, 204, 210), detail=_SILHOUETTE)  # ram
    m.cyl((0.0, by + 0.25, 1.08), (0, 0, 1), 0.03, 0.14, S.MECHANISM, (60, 60, 64), detail=_MEDIUM)
    m.add(_sphere((0.0, by + 0.25, 0.99), 0.02, 10), S.SAFETY, (200, 40, 40), detail=_FINE)  # ruby tip
    m.box(-0.25, 0.25, -0.3, 0.1, 0.805, 0.95, S.LOAD, (160, 164, 170), detail=_FINE)  # part
    m.box(1.05, 1.45, -0.8, -0.2, 0.0, 1.3, S.BODY, (205, 208, 212), detail=_MEDIUM)  # controller
    # measuring desk with monitor in front of the machine (+Y)
    m.box(-0.9, 0.1, 0.75, 1.2, 0.72, 0.76, S.BODY, (190, 180, 160), detail=_MEDIUM)
    for lx in (-0.85, 0.05):
        m.box(lx - 0.02, lx + 0.02, 0.78, 1.17, 0.0, 0.72, S.MECHANISM, detail=_FINE)
    m.box(-0.65, -0.15, 0.95, 0.98, 0.85, 1.2, S.PANEL, detail=_MEDIUM)  # monitor (faces +Y)
    m.box(-0.42, -0.38, 0.98, 1.02, 0.76, 0.85, S.PANEL, detail=_FINE)
    _top_stripe(m, -0.95, 0.95, by + 0.15, 2.25)
    m.signal_tower(1.25, -0.5, 1.3)


def _assembly(m: _Model) -> None:
    """Manual assembly workstation ~2.0 x 1.2 x 2.2 m: work table, aluminium profile frame
    with a light bar, parts bins on an inclined shelf, monitor arm, tool balancer."""
    m.box(-1.0, 1.0, -0.4, 0.5, 0.85, 0.9, S.BODY, (200, 190, 170), detail=_SILHOUETTE)  # top
    for lx in (-0.95, 0.95):
        for ly in (-0.35, 0.45):
            m.box(lx - 0.03, lx + 0.03, ly - 0.03, ly + 0.03, 0.0, 0.85, S.MECHANISM, detail=_SILHOUETTE)
        m.box(lx - 0.03, lx + 0.03, -0.5, -0.44, 0.0, 2.15, S.MECHANISM, (190, 196, 204),
              detail=_SILHOUETTE)  # uprights
    m.box(-1.0, 1.0, -0.5, -0.44, 2.1, 2.16, S.MECHANISM, (190, 196, 204), detail=_SILHOUETTE)
    m.box(-0.8, 0.8, -0.35, -0.2, 1.95, 2.0, S.BODY, (250, 250, 235), detail=_MEDIUM)  # light bar
    # two rows of coloured bins on an inclined shelf
    bin_rgb = [(38, 98, 168), (220, 60, 40), (240, 186, 24), (60, 150, 80)]
    for row, z in enumerate((1.15, 1.5)):
        m.box(-0.95, 0.95, -0.5, -0.2, z - 0.03, z, S.MECHANISM, detail=_MEDIUM)
        for i in range(6):
            bx = -0.9 + i * 0.3
            m.box(bx, bx + 0.26, -0.45, -0.22, z, z + 0.16, S.LOAD, bin_rgb[(i + row) % 4],
                  detail=_MEDIUM)
    # monitor on an arm, tool balancer with a screwdriver
    m.link((0.85, -0.47, 1.7), (0.6, -0.1, 1.7), 0.02, S.MECHANISM, detail=_FINE)
    m.box(0.4, 0.8, -0.12, -0.09, 1.45, 1.75, S.PANEL, detail=_MEDIUM)
    m.link((-0.4, -0.2, 2.1), (-0.4, 0.1, 1.4), 0.006, S.MECHANISM, detail=_FINE)
    m.cyl((-0.4, 0.1, 1.3), (0, 0, 1), 0.03, 0.22, S.PANEL, detail=_FINE)
    m.box(-0.3, 0.2, 0.0, 0.3, 0.9, 0.98, S.LOAD, (160, 164, 170), detail=_FINE)  # workpiece
    m.box(-1.0, 1.0, 0.5, 0.53, 0.7, 0.85, S.ACCENT, detail=_FINE)
    _top_stripe(m, -1.0, 1.0, -0.44, 2.16)
    m.signal_tower(0.97, -0.47, 2.16)


def _press(m: _Model) -> None:
    """Hydraulic H-frame press ~1.8 x 1.5 x 2.9 m: two side columns, crown with the
    cylinder, slide (ram), bolster, light curtains at the front, panel on the side."""
    m.box(-0.8, 0.8, -0.6, 0.5, 0.0, 0.75, S.BODY, detail=_SILHOUETTE)  # bed
    m.box(-0.55, 0.55, -0.45, 0.4, 0.75, 0.85, S.MECHANISM, detail=_MEDIUM)  # bolster
    for cx in (-0.8, 0.55):
        m.box(cx, cx + 0.25, -0.6, 0.5, 0.75, 2.3, S.BODY, detail=_SILHOUETTE)  # columns
    m.box(-0.85, 0.85, -0.65, 0.55, 2.3, 2.75, S.BODY, detail=_SILHOUETTE)  # crown
    m.cyl((0.0, -0.05, 2.85), (0, 0, 1), 0.22, 0.2, S.MECHANISM, detail=_MEDIUM)  # cylinder top
    m.box(-0.5, 0.5, -0.42, 0.35, 1.45, 1.75, S.MECHANISM, (170, 174, 180), detail=_SILHOUETTE)  # slide
    m.cyl((0.0, -0.05, 2.0), (0, 0, 1), 0.12, 0.5, S.MECHANISM, (200, 204, 210), detail=_MEDIUM)  # rod
    m.box(-0.4, 0.4, -0.3, 0.25, 0.85, 0.95, S.BASE, detail=_FINE)  # lower die
    m.box(-0.4, 0.4, -0.3, 0.25, 1.35, 1.45, S.BASE, detail=_FINE)  # upper die
    m.box(-0.8, 0.8, 0.5, 0.53, 0.1, 0.7, S.ACCENT, detail=_MEDIUM)
    m.box(-0.8, 0.8, 0.5, 0.53, 2.3, 2.38, S.ACCENT, detail=_FINE)
    for lx in (-0.52, 0.52):  # light curtain posts
        m.box(lx - 0.03, lx + 0.03, 0.5, 0.56, 0.85, 1.85, S.SAFETY, detail=_MEDIUM)
    m.box(-0.75, -0.45, -0.6, -0.2, 2.75, 3.0, S.BASE, detail=_FINE)  # oil tank on crown
    m.box(0.85, 1.05, 0.1, 0.45, 0.0, 1.0, S.BODY, detail=_MEDIUM)
    _control_panel(m, 0.95, 0.45, 1.0, width=0.3, height=0.55, tilt_deg=10)
    _top_stripe(m, -0.85, 0.85, 0.55, 2.75)
    m.signal_tower(0.7, 0.35, 2.75)


def _screwing(m: _Model) -> None:
    """Screwing station ~1.6 x 1.2 x 2.2 m: table with a fixture, torque reaction arm with
    a nutrunner, screw feeder, light-curtain posts and a controller with screen."""
    m.box(-0.8, 0.8, -0.45, 0.45, 0.85, 0.9, S.BODY, (200, 190, 170), detail=_SILHOUETTE)
    for lx in (-0.75, 0.75):
        for ly in (-0.4, 0.4):
            m.box(lx - 0.03, lx + 0.03, ly - 0.03, ly + 0.03, 0.0, 0.85, S.MECHANISM, detail=_SILHOUETTE)
    m.box(-0.25, 0.25, -0.1, 0.25, 0.9, 1.0, S.MECHANISM, detail=_MEDIUM)  # fixture
    m.box(-0.18, 0.18, -0.05, 0.2, 1.0, 1.06, S.LOAD, (160, 164, 170), detail=_FINE)
    # reaction arm: post, two links, nutrunner hanging down
    m.cyl((-0.55, -0.3, 1.3), (0, 0, 1), 0.05, 0.8, S.MECHANISM, detail=_SILHOUETTE)
    m.link((-0.55, -0.3, 1.62), (-0.2, -0.1, 1.62), 0.035, S.ACCENT, detail=_SILHOUETTE)
    m.link((-0.2, -0.1, 1.62), (0.0, 0.1, 1.6), 0.035, S.ACCENT, detail=_SILHOUETTE)
    m.cyl((0.0, 0.1, 1.35), (0, 0, 1), 0.045, 0.45, S.PANEL, detail=_MEDIUM)  # nutrunner
    m.cyl((0.0, 0.1, 1.1), (0, 0, 1), 0.012, 0.08, S.MECHANISM, detail=_FINE)
    m.box(0.35, 0.7, -0.4, -0.1, 0.9, 1.15, S.ACCENT, (60, 150, 80), detail=_MEDIUM)  # feeder
    m.cyl((0.52, -0.25, 1.2), (0, 0, 1), 0.1, 0.1, S.MECHANISM, detail=_FINE, radius_top=0.13)
    for lx in (-0.45, 0.45):
        m.box(lx - 0.025, lx + 0.025, 0.42, 0.47, 0.9, 1.7, S.SAFETY, detail=_MEDIUM)
    m.box(-0.8, -0.4, -0.45, -0.3, 0.9, 2.1, S.MECHANISM, (190, 196, 204), detail=_MEDIUM)
    m.box(-0.78, -0.42, -0.3, -0.27, 1.55, 1.85, S.PANEL, detail=_MEDIUM)  # controller screen
    _top_stripe(m, -0.8, -0.4, -0.3, 2.1)
    m.signal_tower(-0.6, -0.4, 2.1)


def _testing(m: _Model) -> None:
    """End-of-line test bench ~2.0 x 1.3 x 2.1 m: test cabinet with a window onto the
    test chamber, instrument rack, monitor and keyboard shelf."""
    m.box(-1.0, 0.3, -0.6, 0.55, 0.0, 1.9, S.BODY, detail=_SILHOUETTE)  # chamber cabinet
    _sliding_door(m, -0.9, 0.2, 0.55, 0.6, 1.8)
    m.box(0.3, 1.0, -0.6, 0.55, 0.0, 2.0, S.BODY, (60, 64, 70), detail=_SILHOUETTE)  # instrument rack
    for i in range(5):
        m.box(0.35, 0.95, 0.55, 0.58, 0.3 + i * 0.3, 0.5 + i * 0.3, S.MECHANISM,
              (110 + 10 * (i % 2), 114, 120), detail=_FINE)
    m.box(0.4, 0.9, 0.58, 0.61, 1.8, 1.95, S.ACCENT, detail=_FINE)
    m.box(-0.8, 0.0, 0.55, 0.9, 0.95, 0.99, S.MECHANISM, detail=_MEDIUM)  # keyboard shelf
    m.box(-0.65, -0.15, 0.3, 0.33, 1.9, 2.2, S.PANEL, detail=_MEDIUM)  # monitor on top
    _top_stripe(m, -1.0, 0.3, 0.55, 1.9)
    m.signal_tower(-0.9, -0.45, 1.9)


def _packing(m: _Model) -> None:
    """Packing station ~2.2 x 1.4 x 2.0 m: packing table with roller infeed, carton
    erector cabinet, stacked cartons, label printer, pallet at the end."""
    m.box(-0.6, 0.6, -0.45, 0.45, 0.85, 0.9, S.BODY, (200, 190, 170), detail=_SILHOUETTE)
    for lx in (-0.55, 0.55):
        for ly in (-0.4, 0.4):
            m.box(lx - 0.03, lx + 0.03, ly - 0.03, ly + 0.03, 0.0, 0.85, S.MECHANISM, detail=_SILHOUETTE)
    m.box(-1.1, -0.6, -0.35, 0.35, 0.8, 0.86, S.MECHANISM, detail=_SILHOUETTE)  # roller infeed
    for i in range(5):
        m.cyl((-1.05 + i * 0.1, 0.0, 0.87), (0, 1, 0), 0.025, 0.66, S.MECHANISM, (176, 180, 186),
              detail=_FINE, res=8)
    m.box(-1.1, -0.6, -0.35, 0.35, 0.0, 0.8, S.BASE, detail=_MEDIUM)
    m.box(-0.6, 0.3, -0.7, -0.45, 0.0, 1.9, S.BODY, detail=_SILHOUETTE)  # erector cabinet
    m.box(-0.5, 0.2, -0.45, -0.43, 1.0, 1.7, S.WINDOW, detail=_MEDIUM)
    for i in range(3):  # cartons on the table
        m.box(-0.4 + i * 0.3, -0.15 + i * 0.3, -0.1, 0.2, 0.9, 1.1 + 0.05 * (i % 2), S.LOAD, detail=_MEDIUM)
    m.box(0.3, 0.55, -0.4, -0.2, 0.9, 1.1, S.PANEL, detail=_FINE)  # label printer
    m.box(0.65, 1.1, -0.45, 0.45, 0.0, 0.14, S.LOAD, (150, 110, 70), detail=_MEDIUM)  # pallet
    m.box(0.7, 1.05, -0.4, 0.4, 0.14, 0.75, S.LOAD, detail=_MEDIUM)  # cartons on it
    _top_stripe(m, -0.6, 0.3, -0.45, 1.9)
    m.signal_tower(0.2, -0.6, 1.9)


def _conveyor_section(m: _Model) -> None:
    """Belt conveyor section ~3.0 x 0.8 x 1.0 m: frame on legs, dark belt, side rails,
    drive motor at one end, end rollers."""
    m.box(-1.5, 1.5, -0.32, 0.32, 0.72, 0.82, S.MECHANISM, detail=_SILHOUETTE)  # frame
    m.box(-1.45, 1.45, -0.27, 0.27, 0.82, 0.85, S.BASE, (40, 42, 46), detail=_SILHOUETTE)  # belt
    for side in (-1, 1):
        m.box(-1.5, 1.5, side * 0.3 - 0.015, side * 0.3 + 0.015, 0.85, 0.95, S.MECHANISM,
              (176, 180, 186), detail=_MEDIUM)
        m.cyl((side * 1.45, 0.0, 0.8), (0, 1, 0), 0.05, 0.58, S.MECHANISM, detail=_FINE)
    for lx in (-1.35, 0.0, 1.35):
        for ly in (-0.26, 0.26):
            m.box(lx - 0.03, lx + 0.03, ly - 0.03, ly + 0.03, 0.0, 0.72, S.MECHANISM, detail=_SILHOUETTE)
        m.box(lx - 0.02, lx + 0.02, -0.26, 0.26, 0.15, 0.19, S.MECHANISM, detail=_FINE)
    m.cyl((1.3, -0.4, 0.7), (0, 1, 0), 0.09, 0.2, S.ACCENT, detail=_MEDIUM)  # motor
    m.box(1.22, 1.38, -0.55, -0.5, 0.62, 0.78, S.ACCENT, detail=_FINE)
    m.box(-0.2, 0.2, -0.15, 0.15, 0.85, 1.0, S.LOAD, detail=_FINE)  # a carton
    m.box(-1.5, 1.5, 0.3, 0.34, 0.95, 0.98, S.STATUS, detail=_SILHOUETTE)  # status rail
    m.signal_tower(-1.45, 0.36, 0.95)


def _rack(m: _Model, goods: str = "boxes", upright_rgb: tuple[int, int, int] = (38, 98, 168),
          length: float = 2.7, depth: float = 1.1, levels: int = 3, height: float = 2.5) -> None:
    """Pallet rack ~2.7 x 1.1 x 2.5 m: blue uprights, orange beams, goods on each level
    (``goods``: 'boxes' cartons, 'bars' raw bar stock, 'bins' small-part bins)."""
    hx, hy = length / 2, depth / 2
    for ux in (-hx, 0.0, hx):
        for uy in (-hy, hy):
            m.box(ux - 0.04, ux + 0.04, uy - 0.04, uy + 0.04, 0.0, height, S.ACCENT, upright_rgb,
                  detail=_SILHOUETTE)
        m.box(ux - 0.015, ux + 0.015, -hy, hy, 0.4, 0.44, S.ACCENT, upright_rgb, detail=_FINE)
    step = (height - 0.25) / levels
    for level in range(levels):
        z = 0.15 + level * step
        for uy in (-hy, hy):
            m.box(-hx, hx, uy - 0.03, uy + 0.03, z, z + 0.1, S.SAFETY, (232, 110, 30),
                  detail=_SILHOUETTE)
        m.box(-hx + 0.04, hx - 0.04, -hy, hy, z + 0.1, z + 0.11, S.MECHANISM, detail=_MEDIUM)
        for bay in (-1, 1):
            bx0 = -hx + 0.1 if bay < 0 else 0.1
            bx1 = bx0 + hx - 0.2
            fill = m.rng.random()
            if goods == "bars":
                for i in range(6):
                    m.cyl(((bx0 + bx1) / 2, -hy + 0.15 + i * (depth - 0.3) / 5, z + 0.16),
                          (1, 0, 0), 0.045, bx1 - bx0, S.LOAD, (150, 156, 164), detail=_MEDIUM, res=10)
            elif goods == "bins":
                for i in range(4):
                    x = bx0 + i * (bx1 - bx0) / 4
                    m.box(x + 0.02, x + (bx1 - bx0) / 4 - 0.02, -hy + 0.1, hy - 0.1, z + 0.11,
                          z + 0.11 + step * 0.45, S.LOAD, (38 + 20 * i, 98, 168), detail=_MEDIUM)
            else:
                top = z + 0.11 + step * (0.45 + 0.35 * fill)
                m.box(bx0, bx1, -hy + 0.08, hy - 0.08, z + 0.11, z + 0.25, S.LOAD, (150, 110, 70),
                      detail=_FINE)  # pallet
                m.box(bx0 + 0.05, bx1 - 0.05, -hy + 0.12, hy - 0.12, z + 0.25, top, S.LOAD,
                      detail=_MEDIUM)
    m.box(-hx - 0.04, hx + 0.04, hy - 0.04, hy + 0.04, height - 0.08, height, S.STATUS,
          detail=_SILHOUETTE)  # status beam on top front


def _generic(m: _Model) -> None:
    """Generic machine cabinet ~1.8 x 1.5 x 2.1 m with a door window and a panel."""
    m.box(-0.9, 0.9, -0.75, 0.7, 0.0, 0.1, S.BASE, detail=_SILHOUETTE)
    m.box(-0.9, 0.9, -0.75, 0.7, 0.1, 2.0, S.BODY, detail=_SILHOUETTE)
    _sliding_door(m, -0.7, 0.4, 0.7, 0.6, 1.85, handle_at=0.3)
    m.box(0.45, 0.9, 0.5, 0.7, 0.0, 0.9, S.BODY, detail=_MEDIUM)
    _control_panel(m, 0.68, 0.7, 0.9, width=0.36, height=0.7)
    _top_stripe(m, -0.9, 0.9, 0.7, 2.0)
    m.signal_tower(-0.75, 0.5, 2.0)


_BUILDERS: dict[str, Callable[[_Model], None]] = {
    "lathe": _lathe,
    "machining_centre": _machining_centre,
    "drill": _drill,
    "grinder": _grinder,
    "deburring": _deburring,
    "washer": _washer,
    "inspection": _inspection,
    "assembly": _assembly,
    "press": _press,
    "screwing": _screwing,
    "testing": _testing,
    "packing": _packing,
    "conveyor": _conveyor_section,
    "rack": _rack,
    "generic": _generic,
}


def _canonical_type(station_type: str) -> str:
    key = station_type.strip().lower().replace("-", "_").replace(" ", "_")
    key = STATION_ALIASES.get(key, key)
    if key not in _BUILDERS:
        raise ValueError(
            f"unknown station type {station_type!r} (known: {', '.join(STATION_TYPES)})")
    return key


@functools.lru_cache(maxsize=64)
def _station_cached(kind: str, seed: int) -> tuple[pv.PolyData, ...]:
    return _levels(_BUILDERS[kind], [seed, sum(map(ord, kind))])


def station_model(station_type: str, *, seed: int = 0, lod: int = 0) -> pv.PolyData:
    """Procedural model of a station type (see :data:`STATION_TYPES`, aliases such as
    'cmm' or 'storage' accepted). Metres, Z up, footprint centred on the origin, front
    facing +Y; point arrays ``rgb``, ``part`` (:class:`StationPart`) and ``Normals``.
    ``seed`` varies small details (body shade, rack fill); ``lod`` 0/1/2 is full /
    reduced / silhouette detail. Returns a new mesh the caller may modify."""
    if lod not in (0, 1, 2):
        raise ValueError(f"lod must be 0, 1 or 2, got {lod}")
    return _station_cached(_canonical_type(station_type), int(seed))[lod].copy()


def storage_model(kind: str = "rack", *, seed: int = 0, lod: int = 0) -> pv.PolyData:
    """Storage model, same conventions as :func:`station_model`: 'rack' (pallet rack
    with cartons), 'raw' (raw-material rack with bar stock, grey uprights), 'finished'
    (rack with cartons, green uprights) or 'buffer' (low two-level shelf with bins)."""
    if kind not in STORAGE_KINDS:
        raise ValueError(f"unknown storage kind {kind!r} (known: {', '.join(STORAGE_KINDS)})")
    if lod not in (0, 1, 2):
        raise ValueError(f"lod must be 0, 1 or 2, got {lod}")
    return _storage_cached(kind, int(seed))[lod].copy()


@functools.lru_cache(maxsize=32)
def _storage_cached(kind: str, seed: int) -> tuple[pv.PolyData, ...]:
    def build(model: _Model) -> None:
        if kind == "raw":
            _rack(model, goods="bars", upright_rgb=(120, 126, 134), length=3.0, levels=3)
        elif kind == "finished":
            _rack(model, goods="boxes", upright_rgb=(40, 140, 80), length=2.7, levels=3)
        elif kind == "buffer":
            _rack(model, goods="bins", upright_rgb=(38, 98, 168), length=1.8, depth=0.8,
                  levels=2, height=1.5)
        else:
            _rack(model)

    return _levels(build, [seed, sum(map(ord, kind)), 7])


# --------------------------------------------------------------------------------------
# Real meshes: the AGV
# --------------------------------------------------------------------------------------

#: Bundled AGV meshes: file, triangle budget of level 0, yaw (deg) turning its forward
#: direction to +X.
_AGV_FILES: dict[str, tuple[str, int, float]] = {
    "mir100": ("mir100_base_visual.stl", 4000, 0.0),
}


def _to_floor_yawed(mesh: pv.PolyData, yaw_deg: float) -> pv.PolyData:
    out = mesh.copy()
    if yaw_deg:
        a = math.radians(yaw_deg)
        rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
        out.points = (np.asarray(out.points) @ rot.T).astype(np.float32)
        if "Normals" in out.point_data:
            out.point_data["Normals"] = (np.asarray(out.point_data["Normals"]) @ rot.T).astype(np.float32)
    xmin, xmax, ymin, ymax, zmin, _ = out.bounds
    out.points = (np.asarray(out.points) - [(xmin + xmax) / 2, (ymin + ymax) / 2, zmin]).astype(np.float32)
    return out


@functools.lru_cache(maxsize=16)
def _asset_cached(file: str, budget: int, yaw: float, lod: int, role: str,
                  cache_dir: str | None) -> pv.PolyData:
    asset = load_asset(MESH_DIR / file, budget=budget, role=role,
                       cache_dir=Path(cache_dir) if cache_dir else None)
    return _to_floor_yawed(asset.merged(lod), yaw)


def agv_model(kind: str = "mir100", *, lod: int = 0, cache_dir: Path | None = None) -> pv.PolyData:
    """The bundled AGV mesh: 'mir100' (MiR100 chassis, ~0.89 x 0.58 m, lightweighted
    to 4,000 triangles at lod 0). Metres, Z up,
    footprint centred, forward = +X; point arrays ``rgb``, ``part``, ``Normals``.
    Levels 1 and 2 have 25 % and 5 % of the triangles. Cached on disk and in memory;
    raises :class:`scene.assets.AssetError` if the bundled file is missing or broken."""
    if kind not in _AGV_FILES:
        raise ValueError(f"unknown AGV model {kind!r} (known: {', '.join(AGV_KINDS)})")
    file, budget, yaw = _AGV_FILES[kind]
    return _asset_cached(file, budget, yaw, lod, "agv", str(cache_dir) if cache_dir else None).copy()
