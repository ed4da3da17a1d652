"""Labels a person can read whole: none sticks out of the side of the 3D view."""

from __future__ import annotations

import pytest

from scene.picking import world_to_display
from scene.workshop_scene import WorkshopScene, offscreen_plotter
from twin.workshop import Workshop

#: The 3D view's size in the app's default 1600 x 1000 window (docks left and right).
APP_VIEW = (828, 833)


@pytest.fixture
def narrow_scene(workshop: Workshop):
    plotter = offscreen_plotter(APP_VIEW)
    sc = WorkshopScene(workshop, plotter)
    yield sc
    sc.close()
    plotter.close()


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


def test_labels_at_the_edge_of_the_view_are_drawn_whole(narrow_scene: WorkshopScene) -> None:
    """The raw-material warehouse stands at the left edge of machining13: centred on it, its
    label lost its first letters ("w-material warehouse") in the app's view."""
    sc = narrow_scene
    for preset in ("iso", "top"):
        sc.set_camera(preset)
        sc.screenshot(size=None)  # renders the view as a person sees it
        spans = label_spans(sc)
        assert "Raw-material warehouse" in spans and "S01" in spans
        for text, (x0, x1) in spans.items():
            assert 0 <= x0 < x1 <= APP_VIEW[0], (preset, text, x0, x1)
    # a label well inside stays centred on its station
    x0, x1 = label_spans(sc)["S05"]
    ax = world_to_display(sc.renderer, sc._labels.point(sc._station_ids.index("S05")))[0]
    assert abs((x0 + x1) / 2 - ax) < 2.0
