"""Colours of the 3D scene: state colours, the consistency colour scale, the shop's neutrals.

State colours come from the Okabe-Ito palette (Okabe & Ito, "Color Universal Design",
2008), chosen so that the station states stay distinguishable for people with
protanopia, deuteranopia and tritanopia, and in greyscale print by their lightness:

============  =========  ===================  ==========================================
state         hex        Okabe-Ito name       meaning on the shop floor
============  =========  ===================  ==========================================
idle          #999999    (neutral grey)       ready, nothing to do
setup         #E69F00    orange               changing over (planned, not producing)
processing    #009E73    bluish green         producing
blocked       #CC79A7    reddish purple       finished part cannot leave (output full)
down          #D55E00    vermillion           failure, waiting for / under repair
off           #4D4D4D    (dark grey)          switched off / not reporting (not a failure)
============  =========  ===================  ==========================================

AGV states use the remaining Okabe-Ito hues (moving blue, loading/unloading sky blue,
charging yellow, idle grey), so an AGV never looks like a station state.

The consistency overlay maps a per-station score in [0, 1] (1 = the virtual station behaves
like the physical one) through ColorBrewer's diverging *RdYlBu* scale (Brewer, colorbrewer2.org,
marked colour-blind safe; the 6-class colours without the palest one, so that every score
stands out on the light grey floor): red = inconsistent, yellow = doubtful, blue = consistent.

Colours are RGB ``uint8`` triples; :func:`hex_rgb` converts from hex.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

RGB = tuple[int, int, int]


def hex_rgb(code: str) -> RGB:
    """``"#D55E00"`` -> ``(213, 94, 0)``."""
    code = code.lstrip("#")
    if len(code) != 6:
        raise ValueError(f"colour must be #RRGGBB, got {code!r}")
    return (int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16))


def rgb_float(rgb: RGB) -> tuple[float, float, float]:
    """RGB 0-255 -> RGB 0-1 (what VTK properties take)."""
    return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)


#: Station state -> colour (see the module docstring for the rationale).
STATION_STATE_HEX: dict[str, str] = {
    "idle": "#999999",
    "setup": "#E69F00",
    "processing": "#009E73",
    "blocked": "#CC79A7",
    "down": "#D55E00",
    "off": "#4D4D4D",
}
#: AGV state -> colour (status lamp on the vehicle).
AGV_STATE_HEX: dict[str, str] = {
    "idle": "#999999",
    "moving": "#0072B2",
    "loading": "#56B4E9",
    "unloading": "#56B4E9",
    "charging": "#F0E442",
}
#: An entity that has not reported any state yet (e.g. before the first event).
NO_DATA_HEX = "#E8E8E8"
#: A station without a consistency score (not verified).
NO_SCORE_HEX = "#BDBDBD"

STATION_STATE_COLOURS: dict[str, RGB] = {k: hex_rgb(v) for k, v in STATION_STATE_HEX.items()}
AGV_STATE_COLOURS: dict[str, RGB] = {k: hex_rgb(v) for k, v in AGV_STATE_HEX.items()}
NO_DATA: RGB = hex_rgb(NO_DATA_HEX)
NO_SCORE: RGB = hex_rgb(NO_SCORE_HEX)

#: Legend labels, in the order the legend lists them.
STATION_STATE_LABELS: dict[str, str] = {
    "processing": "Processing",
    "setup": "Setup",
    "idle": "Idle",
    "blocked": "Blocked",
    "down": "Down",
    "off": "Off",
}

# --- the shop's neutrals -----------------------------------------------------------------
BACKGROUND = hex_rgb("#E4E8EC")
FLOOR = hex_rgb("#C9CDD2")  # sealed concrete, light grey (drawn unlit)
FLOOR_GRID = hex_rgb("#B4B9BF")  # 1 m grid lines
FLOOR_GRID_MAJOR = hex_rgb("#A3A9B0")  # every 5 m
AISLE = hex_rgb("#A4AAB1")  # aisle surface, a shade darker than the floor
AISLE_MARKING = hex_rgb("#FAFAFA")  # white painted aisle edge lines
WIP_PART = hex_rgb("#5B6770")  # a part / tote of work in process
LABEL_TEXT = hex_rgb("#1F2328")
HIGHLIGHT = hex_rgb("#0072B2")  # selection outline (Okabe-Ito blue)
TRAIL = hex_rgb("#0072B2")
#: Label of a station the verification flags (consistency overlay): dark red text, red frame.
FLAG_TEXT = hex_rgb("#A50F15")
FLAG_FRAME = hex_rgb("#D73027")


def station_state_colour(state: str | None) -> RGB:
    """Colour of a station in ``state`` (``None``/unknown -> :data:`NO_DATA`)."""
    if state is None:
        return NO_DATA
    return STATION_STATE_COLOURS.get(state, NO_DATA)


#: How far a stale station's state colour is faded toward :data:`NO_DATA` (0..1).
STALE_FADE = 0.6


def stale_colour(rgb: RGB) -> RGB:
    """A state colour washed out: the station's source went silent (a Sparkplug node's
    NDEATH), so the state shown is the last one known, not necessarily the current one.
    Faded :data:`STALE_FADE` of the way to :data:`NO_DATA`; every state's faded colour
    differs from every state colour."""
    return tuple(int(round(c + (n - c) * STALE_FADE)) for c, n in zip(rgb, NO_DATA))  # type: ignore[return-value]


def agv_state_colour(state: str | None) -> RGB:
    """Colour of an AGV's status lamp in ``state`` (``None``/unknown -> :data:`NO_DATA`)."""
    if state is None:
        return NO_DATA
    return AGV_STATE_COLOURS.get(state, NO_DATA)


# --- consistency colour scale --------------------------------------------------------------
#: ColorBrewer RdYlBu (6-class colours without #E0F3F8), low score first, evenly spaced on
#: [0, 1] and interpolated linearly in RGB.
CONSISTENCY_STOPS: tuple[str, ...] = ("#D73027", "#FC8D59", "#FEE090", "#91BFDB", "#4575B4")
_STOPS = np.array([hex_rgb(c) for c in CONSISTENCY_STOPS], dtype=np.float64)


def consistency_colours(scores: np.ndarray | list[float]) -> np.ndarray:
    """Scores in [0, 1] -> ``(n, 3) uint8`` colours on the RdYlBu scale.

    Scores outside [0, 1] are clipped; NaN gives :data:`NO_SCORE`.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    nan = ~np.isfinite(s)
    x = np.clip(np.where(nan, 0.0, s), 0.0, 1.0) * (len(_STOPS) - 1)
    i = np.minimum(np.floor(x).astype(int), len(_STOPS) - 2)
    f = (x - i)[:, None]
    out = _STOPS[i] * (1.0 - f) + _STOPS[i + 1] * f
    out = np.rint(out).astype(np.uint8)
    out[nan] = NO_SCORE
    return out


def consistency_colour(score: float | None) -> RGB:
    """One score -> colour (``None`` -> :data:`NO_SCORE`)."""
    if score is None:
        return NO_SCORE
    c = consistency_colours([score])[0]
    return (int(c[0]), int(c[1]), int(c[2]))


def consistency_table(n: int = 256) -> np.ndarray:
    """``(n, 4) uint8`` RGBA table of the consistency scale from 0 to 1 (for colour bars)."""
    rgb = consistency_colours(np.linspace(0.0, 1.0, n))
    return np.hstack([rgb, np.full((n, 1), 255, dtype=np.uint8)])


def validate_scores(scores: Mapping[str, object]) -> dict[str, float]:
    """Check a ``{station_id: score}`` mapping; returns it with float values.

    Raises ``ValueError`` naming the first bad entry (not a number, NaN, outside [0, 1]).
    """
    out: dict[str, float] = {}
    for key, value in scores.items():
        if not isinstance(key, str):
            raise ValueError(f"station id must be a string, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"score of {key} must be a number in [0, 1], got {value!r}")
        f = float(value)
        if not np.isfinite(f) or f < 0.0 or f > 1.0:
            raise ValueError(f"score of {key} must be in [0, 1], got {value!r}")
        out[key] = f
    return out
