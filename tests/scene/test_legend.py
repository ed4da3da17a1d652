"""The state legend a person reads in the corner of the 3D view."""

from __future__ import annotations

import numpy as np
import pytest

from scene import palette
from scene.overlays import state_legend
from scene.workshop_scene import offscreen_plotter

ENTRIES = [(label, palette.STATION_STATE_COLOURS[s]) for s, label in palette.STATION_STATE_LABELS.items()]
ENTRIES += [("AGV moving", palette.AGV_STATE_COLOURS["moving"]),
            ("AGV (un)loading", palette.AGV_STATE_COLOURS["loading"]), ("WIP tote", palette.WIP_PART)]


def swatch(view: tuple[int, int], state: str) -> tuple[int, int]:
    """Width and height [px] of ``state``'s colour patch in the legend of a view that size."""
    p = offscreen_plotter(view)
    p.set_background("#E4E7EB")
    p.renderer.AddActor(state_legend(ENTRIES))
    img = p.screenshot(return_img=True)
    p.close()
    want = np.array(palette.STATION_STATE_COLOURS[state], int)
    ys, xs = np.nonzero(np.abs(img[..., :3].astype(int) - want).sum(-1) < 30)
    assert len(xs), f"no {state} swatch drawn"
    return int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1


@pytest.mark.parametrize("state", ["down", "blocked"])
def test_swatches_stay_readable_in_a_narrow_view(state: str) -> None:
    """The 3D view beside the docks is ~650 px wide: a legend sized by the viewport shrank
    its colour patches to 3 x 4 px there."""
    narrow, wide = swatch((650, 620), state), swatch((1280, 800), state)
    assert narrow == wide
    w, h = narrow
    assert w >= 10 and h >= 6, narrow


def test_each_swatch_stands_clear_of_its_text() -> None:
    """The wider swatches touched the first letter of their entry ("Processing" read as a
    green block running into "rocessing")."""
    p = offscreen_plotter((828, 833))
    p.set_background("#E4E7EB")
    p.renderer.AddActor(state_legend(ENTRIES))
    img = p.screenshot(return_img=True)[..., :3].astype(int)
    p.close()
    for state in ("processing", "down", "blocked"):
        want = np.array(palette.STATION_STATE_COLOURS[state], int)
        ys, xs = np.nonzero(np.abs(img - want).sum(-1) < 30)
        right = int(xs.max())
        gap = img[ys.min():ys.max() + 1, right + 1:right + 5]
        assert (gap.min(axis=-1) > 200).all(), f"{state}: text within 4 px of the swatch"
