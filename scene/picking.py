"""Picking: which shop-floor entity is under a screen point.

Two complementary tests, both exact for what they test:

* :class:`MeshPicker` wraps a ``vtkCellPicker`` over the merged station/storage meshes (each
  triangle carries the index of the entity it belongs to in the cell array ``"entity"``), with
  a ``vtkStaticCellLocator`` per mesh so a pick costs O(log n) even with hundreds of thousands
  of triangles;
* :func:`ray_box_hits` intersects the pick ray with oriented boxes in numpy, for things drawn
  by glyph mappers (AGVs), which VTK's cell picker cannot resolve to an instance.

The nearer of the two hits wins. Screen coordinates are VTK display coordinates: pixels,
origin at the bottom-left corner of the render window.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkPolyData, vtkStaticCellLocator
from vtkmodules.vtkRenderingCore import vtkActor, vtkCellPicker, vtkRenderer


def display_ray(renderer: vtkRenderer, x_px: float, y_px: float) -> tuple[np.ndarray, np.ndarray]:
    """World-space ray through display point (x_px, y_px): (origin on the near plane, unit dir)."""
    pts = []
    for z in (0.0, 1.0):
        renderer.SetDisplayPoint(float(x_px), float(y_px), z)
        renderer.DisplayToWorld()
        w = renderer.GetWorldPoint()
        pts.append(np.array(w[:3]) / (w[3] if w[3] else 1.0))
    d = pts[1] - pts[0]
    n = float(np.linalg.norm(d))
    return pts[0], d / (n if n > 0 else 1.0)


def world_to_display(renderer: vtkRenderer, point: np.ndarray) -> tuple[float, float, float]:
    """Display coordinates (x px, y px, depth 0-1) of a world point."""
    renderer.SetWorldPoint(float(point[0]), float(point[1]), float(point[2]), 1.0)
    renderer.WorldToDisplay()
    return renderer.GetDisplayPoint()


def ray_box_hits(
    origin: np.ndarray,
    direction: np.ndarray,
    centres: np.ndarray,
    half_extents: np.ndarray,
    headings_deg: np.ndarray,
) -> np.ndarray:
    """Entry distance of a ray into each of n boxes rotated about Z (inf where it misses).

    Args:
        origin, direction: the ray (world, metres; direction need not be unit length,
            distances are in multiples of it).
        centres: (n, 3) box centres; half_extents: (n, 3) half sizes along the box's own
            x, y, z; headings_deg: (n,) rotation of each box about Z, degrees CCW.
    """
    n = len(centres)
    if n == 0:
        return np.empty(0)
    h = np.radians(np.asarray(headings_deg, dtype=np.float64))
    c, s = np.cos(h), np.sin(h)
    rel = origin[None, :] - np.asarray(centres, dtype=np.float64)
    # into each box's frame (rotate by -heading)
    o = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], 1)
    d = np.stack([c * direction[0] + s * direction[1],
                  -s * direction[0] + c * direction[1],
                  np.full(n, direction[2])], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1 = (-half_extents - o) * inv
        t2 = (half_extents - o) * inv
    # a zero direction component: inside the slab -> (-inf, inf), outside -> (inf, inf): miss
    zero = d == 0.0
    inside = np.abs(o) <= half_extents
    t1 = np.where(zero, np.where(inside, -np.inf, np.inf), t1)
    t2 = np.where(zero, np.inf, t2)
    tmin = np.max(np.minimum(t1, t2), axis=1)
    tmax = np.min(np.maximum(t1, t2), axis=1)
    hit = (tmax >= np.maximum(tmin, 0.0))
    return np.where(hit, np.maximum(tmin, 0.0), np.inf)


class MeshPicker:
    """Cell picking on merged meshes whose cells carry an ``"entity"`` index array."""

    def __init__(self, tolerance: float = 0.0005) -> None:
        self._picker = vtkCellPicker()
        self._picker.SetTolerance(tolerance)
        self._picker.PickFromListOn()
        self._actors: list[tuple[vtkActor, vtkPolyData, list[str]]] = []
        self._locators: dict[int, tuple[int, vtkStaticCellLocator]] = {}

    def add(self, actor: vtkActor, mesh: vtkPolyData, entity_ids: list[str]) -> None:
        """Make ``actor`` pickable; ``entity_ids[k]`` names cells whose ``entity`` is k."""
        self._actors.append((actor, mesh, entity_ids))
        self._picker.AddPickList(actor)

    def _refresh_locators(self) -> None:
        self._picker.RemoveAllLocators()
        for actor, mesh, _ in self._actors:
            if mesh.GetNumberOfCells() == 0:
                continue
            key = id(mesh)
            # geometry version: recolouring (point data) must not force a rebuild
            version = max(mesh.GetPoints().GetMTime(), mesh.GetPolys().GetMTime())
            cached = self._locators.get(key)
            if cached is None or cached[0] != version:
                loc = vtkStaticCellLocator()
                loc.SetDataSet(mesh)
                loc.BuildLocator()
                cached = (version, loc)
                self._locators[key] = cached
            self._picker.AddLocator(cached[1])

    def pick(self, renderer: vtkRenderer, x_px: float, y_px: float) -> tuple[str | None, float]:
        """(entity id, distance from the camera in metres) of the nearest picked cell."""
        self._refresh_locators()
        if not self._picker.Pick(float(x_px), float(y_px), 0.0, renderer):
            return None, np.inf
        actor = self._picker.GetActor()
        cell = self._picker.GetCellId()
        for a, mesh, ids in self._actors:
            if a is actor and cell >= 0:
                arr = mesh.GetCellData().GetArray("entity")
                if arr is None or cell >= arr.GetNumberOfTuples():
                    return None, np.inf
                k = int(arr.GetValue(cell))
                cam = np.array(renderer.GetActiveCamera().GetPosition())
                dist = float(np.linalg.norm(np.array(self._picker.GetPickPosition()) - cam))
                return (ids[k] if 0 <= k < len(ids) else None), dist
        return None, np.inf
