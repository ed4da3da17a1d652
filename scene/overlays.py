"""2D/3D overlays of the workshop scene: labels, legends, colour bar, selection outline, trails.

Every overlay is created once and then only updated in place (text, points, visibility), so
the scene never adds actors while it is running.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyvista as pv
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkLookupTable, vtkPoints
from vtkmodules.vtkRenderingCore import vtkActor, vtkCoordinate, vtkPolyDataMapper, vtkTextActor
from vtkmodules.vtkRenderingAnnotation import vtkLegendBoxActor, vtkScalarBarActor

from scene import palette
from scene.picking import world_to_display

# --- labels --------------------------------------------------------------------------------


class LabelLayer:
    """Text labels anchored at 3D points (station ids, scores) on a light background.

    A fixed pool of ``vtkTextActor`` s positioned in world coordinates (cheap to draw; the
    label placement mapper cost ~8 ms per frame on the software renderer). All label texts
    are known up front; :meth:`show_only` picks which of them are drawn, so a big shop shows
    the labels of entities big enough on screen instead of a carpet of text.

    ``offset_px`` (x, y) draws every label that many screen pixels away from its 3D point
    (e.g. above another label anchored there); :meth:`set_offsets` moves them one by one.
    ``rgb`` is the text colour, ``frame_rgb`` (optional) draws a frame in that colour.
    """

    def __init__(
        self,
        points: np.ndarray,
        texts: Sequence[str],
        *,
        font_size: int = 13,
        bold: bool = True,
        pool: int = 80,
        offset_px: tuple[float, float] | None = None,
        rgb: palette.RGB = palette.LABEL_TEXT,
        frame_rgb: palette.RGB | None = None,
    ) -> None:
        self._points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        self._all = [str(t) for t in texts]
        self._visible = True
        self.actors: list[vtkTextActor] = []
        # with an offset, each actor sits in display pixels relative to a world point
        self._refs: list[vtkCoordinate] = []
        for _ in range(min(pool, len(self._all))):
            ta = vtkTextActor()
            tp = ta.GetTextProperty()
            tp.SetFontSize(font_size)
            tp.SetBold(bold)
            tp.SetFontFamilyToArial()
            tp.SetColor(*palette.rgb_float(rgb))
            tp.SetBackgroundColor(1.0, 1.0, 1.0)
            tp.SetBackgroundOpacity(0.85)
            if frame_rgb is not None:
                tp.SetFrame(True)
                tp.SetFrameColor(*palette.rgb_float(frame_rgb))
                tp.SetFrameWidth(2)
            tp.SetJustificationToCentered()
            tp.SetVerticalJustificationToBottom()
            pos = ta.GetPositionCoordinate()
            if offset_px is None:
                pos.SetCoordinateSystemToWorld()
            else:
                ref = vtkCoordinate()
                ref.SetCoordinateSystemToWorld()
                pos.SetCoordinateSystemToDisplay()
                pos.SetReferenceCoordinate(ref)
                pos.SetValue(float(offset_px[0]), float(offset_px[1]))
                self._refs.append(ref)
            ta.PickableOff()
            ta.VisibilityOff()
            self.actors.append(ta)
        self._shown = np.zeros(0, np.int64)
        self.show_only(np.arange(min(len(self.actors), len(self._all))))

    def _sync(self) -> None:
        for k, ta in enumerate(self.actors):
            if k < len(self._shown):
                i = int(self._shown[k])
                ta.SetInput(f" {self._all[i]} ")
                anchor = self._refs[k] if self._refs else ta.GetPositionCoordinate()
                anchor.SetValue(*self._points[i])
                ta.SetVisibility(self._visible)
            else:
                ta.VisibilityOff()

    def set_offsets(self, offsets_px: Sequence[tuple[float, float]]) -> None:
        """Screen offsets of the labels shown, in the order of :attr:`shown` (only for a
        layer made with ``offset_px``)."""
        if not self._refs:
            raise ValueError("a label layer without offset_px is anchored in world coordinates")
        for ta, (dx, dy) in zip(self.actors, offsets_px, strict=False):
            ta.GetPositionCoordinate().SetValue(float(dx), float(dy))

    def keep_inside(self, renderer: Any) -> None:
        """Keep the labels shown inside the view: one that would stick out of the left or
        right edge starts (ends) at its anchor instead of being centred on it. Call after
        the camera moved (world-anchored labels only)."""
        if self._refs:
            return
        width = renderer.GetSize()[0]
        bb = [0.0] * 4
        for ta in self.actors:
            if not ta.GetVisibility():
                continue
            tp = ta.GetTextProperty()
            ax = world_to_display(renderer, ta.GetPositionCoordinate().GetValue())[0]
            tp.SetJustificationToCentered()
            ta.GetBoundingBox(renderer, bb)
            half = (bb[1] - bb[0]) / 2.0
            if ax - half < 0.0 <= ax:
                tp.SetJustificationToLeft()
            elif ax + half > width >= ax:
                tp.SetJustificationToRight()

    def point(self, i: int) -> np.ndarray:
        """The 3D anchor of label ``i``."""
        return self._points[i].copy()

    def set_texts(self, texts: Sequence[str]) -> None:
        """Replace every label's text (same count and order as the points)."""
        self._all = [str(t) for t in texts]
        self._sync()

    def show_only(self, indices: np.ndarray) -> None:
        """Draw only the labels with these indices (at most the pool size; no-op when
        unchanged)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)[:len(self.actors)]
        if np.array_equal(idx, self._shown):
            return
        self._shown = idx
        self._sync()

    @property
    def shown(self) -> list[int]:
        return [int(i) for i in self._shown]

    def text(self, i: int) -> str:
        return self._all[i]

    def set_visible(self, on: bool) -> None:
        self._visible = bool(on)
        self._sync()


# --- legends -------------------------------------------------------------------------------


#: Width of a legend swatch to its height: VTK sizes symbols by their height, so a wider one
#: is a larger patch of colour beside the same text.
SWATCH_W = 1.8


def state_legend(
    entries: Sequence[tuple[str, palette.RGB]],
    *,
    position: tuple[float, float] = (0.012, 0.02),
    size_px: tuple[int, int] = (160, 170),
) -> vtkLegendBoxActor:
    """A legend box with one coloured square per entry: its corner at ``position``
    (normalised viewport), its size fixed in pixels — VTK fits text and squares into the
    box, so a box sized by the viewport shrank the squares to 3 px in a narrow view."""
    legend = vtkLegendBoxActor()
    legend.SetNumberOfEntries(len(entries))
    for i, (label, rgb) in enumerate(entries):
        # the square carries its colour as scalars; entry colour -1 keeps the text dark
        square = pv.PolyData(np.array([[0, 0, 0], [SWATCH_W, 0, 0], [SWATCH_W, 1, 0], [0, 1, 0]], float),
                             faces=[4, 0, 1, 2, 3])
        square.cell_data["rgb"] = np.array([rgb], np.uint8)
        square.set_active_scalars("rgb", preference="cell")
        # VTK leaves the text no gap after a symbol wider than tall: two spaces make one
        legend.SetEntry(i, square, f"  {label}", (-1.0, -1.0, -1.0))
    legend.ScalarVisibilityOn()
    legend.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    legend.GetPositionCoordinate().SetValue(*position)
    legend.GetPosition2Coordinate().SetCoordinateSystemToDisplay()  # an offset from the corner
    legend.GetPosition2Coordinate().SetValue(*size_px)
    legend.UseBackgroundOn()
    legend.SetBackgroundColor(1.0, 1.0, 1.0)
    legend.SetBackgroundOpacity(0.85)
    legend.BorderOff()
    legend.SetPadding(6)
    tp = legend.GetEntryTextProperty()
    tp.SetColor(*palette.rgb_float(palette.LABEL_TEXT))
    tp.SetFontSize(14)
    tp.SetBold(False)
    tp.SetShadow(False)
    tp.SetFontFamilyToArial()
    legend.PickableOff()
    return legend


def consistency_lookup_table(n: int = 256) -> vtkLookupTable:
    """The consistency colour scale (0 = inconsistent ... 1 = consistent) as a VTK table."""
    lut = vtkLookupTable()
    lut.SetNumberOfTableValues(n)
    lut.SetRange(0.0, 1.0)
    table = palette.consistency_table(n)
    for i in range(n):
        lut.SetTableValue(i, *(table[i, :3] / 255.0), 1.0)
    lut.Build()
    return lut


def score_bar(title: str = "Consistency score") -> vtkScalarBarActor:
    """Horizontal colour bar of the consistency scale, bottom-right, ticks 0 / 0.5 / 1."""
    bar = vtkScalarBarActor()
    bar.SetLookupTable(consistency_lookup_table())
    bar.SetTitle(title)
    bar.SetOrientationToHorizontal()
    bar.SetTextPositionToPrecedeScalarBar()  # tick labels under the bar, title above
    bar.SetNumberOfLabels(3)
    bar.SetLabelFormat("%.1f")
    bar.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    bar.GetPositionCoordinate().SetValue(0.74, 0.025)
    bar.SetWidth(0.24)
    bar.SetHeight(0.09)
    bar.SetBarRatio(0.3)
    bar.DrawBackgroundOn()
    bar.GetBackgroundProperty().SetColor(1.0, 1.0, 1.0)
    bar.GetBackgroundProperty().SetOpacity(0.85)
    bar.SetTextPad(3)
    bar.UnconstrainedFontSizeOn()
    for tp in (bar.GetTitleTextProperty(), bar.GetLabelTextProperty()):
        tp.SetColor(*palette.rgb_float(palette.LABEL_TEXT))
        tp.SetShadow(False)
        tp.SetItalic(False)
        tp.SetFontFamilyToArial()
    bar.GetTitleTextProperty().SetFontSize(14)
    bar.GetTitleTextProperty().SetBold(True)
    bar.GetLabelTextProperty().SetFontSize(12)
    bar.GetLabelTextProperty().SetBold(False)
    bar.PickableOff()
    return bar


# --- selection outline ---------------------------------------------------------------------

_BOX_EDGES = np.array(
    [[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4], [0, 4], [1, 5], [2, 6], [3, 7]]
)


def _line_actor(poly: pv.PolyData, rgb: palette.RGB, width_px: float) -> vtkActor:
    """An unlit, unpickable actor drawing ``poly``'s lines in one colour, hidden at first."""
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(poly)
    mapper.ScalarVisibilityOff()
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*palette.rgb_float(rgb))
    prop.SetLineWidth(width_px)
    prop.LightingOff()
    actor.PickableOff()
    actor.VisibilityOff()
    return actor


def box_corners(centre: np.ndarray, half: np.ndarray, heading_deg: float) -> np.ndarray:
    """The 8 corners (bottom ring, then top ring) of a box rotated ``heading_deg`` about Z."""
    sx = np.array([-1, 1, 1, -1, -1, 1, 1, -1], dtype=np.float64) * half[0]
    sy = np.array([-1, -1, 1, 1, -1, -1, 1, 1], dtype=np.float64) * half[1]
    sz = np.array([-1, -1, -1, -1, 1, 1, 1, 1], dtype=np.float64) * half[2]
    h = np.radians(heading_deg)
    c, s = np.cos(h), np.sin(h)
    return np.stack([centre[0] + c * sx - s * sy, centre[1] + s * sx + c * sy, centre[2] + sz], 1)


class OutlineLayer:
    """The selection outline: a bright wire box around one entity (hidden when none)."""

    def __init__(self, line_width: float = 3.0) -> None:
        self.poly = pv.PolyData()
        self.poly.points = np.zeros((8, 3))
        lines = np.hstack([np.full((12, 1), 2), _BOX_EDGES]).ravel()
        self.poly.lines = lines
        self.actor = _line_actor(self.poly, palette.HIGHLIGHT, line_width)

    def show_box(self, centre: np.ndarray, half: np.ndarray, heading_deg: float) -> None:
        self.poly.points = box_corners(centre, half, heading_deg)
        self.poly.Modified()
        self.actor.VisibilityOn()

    def hide(self) -> None:
        self.actor.VisibilityOff()


# --- AGV trails ----------------------------------------------------------------------------


class TrailLayer:
    """Recent path of every AGV as a polyline of its last ``length`` positions.

    One merged line mesh; each update shifts the history by one sample (numpy, in place).
    """

    def __init__(self, n_agvs: int, length: int = 60, z: float = 0.02) -> None:
        self.length = max(2, int(length))
        self.n = n_agvs
        self.z = z
        self.history = np.zeros((n_agvs, self.length, 3), dtype=np.float32)
        self.history[:, :, 2] = z
        self.poly = pv.PolyData()
        pts = vtkPoints()
        # the VTK array shares the numpy buffer: push() writes in place, then Modified()
        pts.SetData(numpy_to_vtk(self.history.reshape(-1, 3), deep=False))
        self.poly.SetPoints(pts)
        if n_agvs:
            idx = np.arange(n_agvs * self.length).reshape(n_agvs, self.length)
            cells = np.hstack([np.full((n_agvs, 1), self.length), idx]).ravel()
            self.poly.lines = cells
        self._primed = False
        self.actor = _line_actor(self.poly, palette.TRAIL, 2.0)

    def push(self, xy: np.ndarray) -> None:
        """Append the current AGV positions ``(n, 2)`` metres to every trail."""
        if self.n == 0:
            return
        if not self._primed:
            self.history[:, :, 0] = xy[:, None, 0]
            self.history[:, :, 1] = xy[:, None, 1]
            self._primed = True
        else:
            self.history[:, :-1, :2] = self.history[:, 1:, :2]
            self.history[:, -1, :2] = xy
        self.poly.GetPoints().Modified()
        self.poly.Modified()

    def reset(self) -> None:
        self._primed = False

    def set_visible(self, on: bool) -> None:
        self.actor.SetVisibility(bool(on))
