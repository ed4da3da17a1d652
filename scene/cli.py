"""Sub-commands of the 3D layer: ``mesh-info`` (asset pipeline) and ``screenshot`` (scene).

``main.py`` calls :func:`register` with its sub-parser collection; on bad input a handler
raises :class:`twin.errors.CommandError` and ``main.py`` prints the one line
``dmw-twin <command>: <problem>`` on stderr (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import NoReturn

from twin.clock import parse_time
from twin.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the scene's sub-commands (mesh-info, screenshot) to ``main.py``'s CLI."""
    _register_mesh_info(subparsers)
    _register_screenshot(subparsers)


# ======================================================================================
# mesh-info (asset pipeline: scene/assets.py)
# ======================================================================================


def _register_mesh_info(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "mesh-info",
        help="import a mesh file and report format, parts, triangles, extents, units",
        description=(
            "Import a mesh file (STL, OBJ, PLY, glTF/GLB, COLLADA, STEP) the way the 3D "
            "scene does - units to metres, up axis to Z, decimated to a triangle budget - "
            "and report what came out."
        ),
    )
    p.add_argument("file", metavar="FILE", help="mesh file")
    p.add_argument("--budget", type=int, default=20000, metavar="N",
                   help="triangle budget of the light mesh (default 20000; 0 = keep all)")
    p.add_argument("--units", metavar="U",
                   help="what the file's numbers are: m, cm, mm, in, ft (overrides the file)")
    p.add_argument("--scale", type=float, metavar="S", help="extra scale factor")
    p.add_argument("--up-axis", metavar="A", help="the file's up axis: X, Y or Z (overrides the file)")
    p.add_argument("--role", choices=("station", "agv", "storage", "conveyor", "wip"),
                   help="check that the size is plausible for this role")
    p.add_argument("--cache", action="store_true",
                   help="use (and fill) the on-disk mesh cache; default: always re-import")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_mesh_info)


def _mesh_info(args: argparse.Namespace) -> int:
    from scene.assets import AssetError, load_asset

    try:
        asset = load_asset(
            args.file,
            units=args.units,
            scale=args.scale,
            up_axis=args.up_axis,
            budget=args.budget if args.budget and args.budget > 0 else None,
            role=args.role,
            use_cache=args.cache,
        )
    except (AssetError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    info = asset.to_info()
    if args.json:
        print(json.dumps(info))
        return 0
    ex, ey, ez = asset.extents_m
    lines = [
        f"file        {asset.path}",
        f"format      {asset.format}",
        f"units       {asset.units}   up axis {asset.up_axis}   (output: metres, Z up)",
        f"triangles   {asset.triangles_before:,} -> {asset.triangles_after:,}"
        f"   LODs {' / '.join(f'{n:,}' for n in asset.lod_triangles)}",
        f"extents     {ex:.4g} x {ey:.4g} x {ez:.4g} m",
        f"parts       {len(asset.parts)}",
    ]
    for part in asset.parts:
        r, g, b = (round(c * 255) for c in part.rgb)
        tex = "  textured" if part.texture is not None else ""
        lines.append(f"  {part.name:<32} {part.triangles:>8,} triangles  rgb({r},{g},{b}){tex}")
    cached = "  (from cache)" if asset.from_cache else ""
    lines.append(f"time        {asset.seconds:.3f} s{cached}")
    for warning in asset.warnings:
        lines.append(f"warning     {warning}")
    print("\n".join(lines))
    return 0


# ======================================================================================
# screenshot (the scene: scene helper appends its register function and handler here)
# ======================================================================================


def _register_screenshot(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "screenshot",
        help="render the 3D workshop (optionally at a moment of a recording) to a PNG",
        description=(
            "Render the 3D workshop off-screen (no display needed) and write a PNG: the "
            "layout alone, or the state of the shop at a moment of a recording, coloured by "
            "station state or by per-station consistency score."
        ),
    )
    p.add_argument("--workshop", required=True, metavar="W",
                   help="workshop file (.toml or job-shop text)")
    p.add_argument("--recording", metavar="R", help="recording (.twinlog) to take the state from")
    p.add_argument("--at", metavar="T",
                   help="moment of the recording: seconds (e.g. 5400) or HH:MM:SS "
                        "(default: the end of the recording)")
    p.add_argument("--overlay", choices=("state", "consistency"), default="state",
                   help="colour stations by state (default) or by consistency score")
    p.add_argument("--scores", metavar="FILE.json",
                   help='per-station consistency scores in [0, 1], e.g. {"S01": 0.93, "S03": 0.41}')
    p.add_argument("--camera", choices=("iso", "top"), default="iso",
                   help="3/4 view from the south (default) or plan view")
    p.add_argument("--size", default="1280x720", metavar="WxH",
                   help="image size in pixels (default 1280x720)")
    p.add_argument("--out", required=True, metavar="PNG", help="image file to write")
    p.set_defaults(func=_screenshot)


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> (1280, 720); ValueError if not WxH with 16..8192 pixels each."""
    parts = text.lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"size must be WIDTHxHEIGHT in pixels, e.g. 1280x720, got {text!r}")
    w, h = int(parts[0]), int(parts[1])
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise ValueError(f"size must be between 16 and 8192 pixels each way, got {text!r}")
    return w, h


def load_scores(path: str, station_ids: list[str] | None = None) -> dict[str, float]:
    """Read ``{station_id: score}`` (scores in [0, 1]) from a JSON file; ValueError naming the
    file and the problem (missing, not JSON, not an object, bad score, unknown station)."""
    from scene.palette import validate_scores

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{path}: scores file not found") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read scores file: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: scores must be a JSON object like {{"S01": 0.93}}, '
                         f"got {type(data).__name__}")
    try:
        scores = validate_scores(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if station_ids is not None:
        unknown = sorted(set(scores) - set(station_ids))
        if unknown:
            raise ValueError(f"{path}: unknown station(s) {', '.join(unknown)} "
                             f"(the workshop has {', '.join(station_ids)})")
    return scores


def _screenshot(args: argparse.Namespace) -> int:
    import os

    def fail(message: str) -> NoReturn:
        raise CommandError(message)

    try:
        size = parse_size(args.size)
        at = parse_time(args.at) if args.at is not None else None
    except ValueError as exc:
        fail(str(exc))
    if at is not None and not args.recording:
        fail("--at needs --recording")
    if args.overlay == "consistency" and not args.scores:
        fail("--overlay consistency needs --scores FILE.json")

    from twin.workshop import WorkshopError, load_workshop

    try:
        workshop = load_workshop(args.workshop)
    except WorkshopError as exc:
        fail(str(exc))
    scores = None
    if args.scores:
        try:
            scores = load_scores(args.scores, list(workshop.stations))
        except ValueError as exc:
            fail(str(exc))
    snapshot = None
    if args.recording:
        from twin.recording import RecordingError, open_recording

        try:
            with open_recording(args.recording) as rec:
                for warning in rec.warnings:
                    print(f"screenshot: warning: {warning}", file=sys.stderr)
                t0, t1 = rec.time_range
                t = t1 if at is None else at
                if at is not None and not t0 <= at <= t1:
                    print(f"screenshot: warning: --at {args.at} is outside the recording "
                          f"({t0:.0f}-{t1:.0f} s)", file=sys.stderr)
                snapshot = rec.state_at(t)
        except (RecordingError, OSError, ValueError) as exc:
            fail(str(exc))

    # headless: render off-screen through EGL unless told otherwise
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from scene.workshop_scene import render_screenshot

    try:
        render_screenshot(workshop, snapshot, overlay=args.overlay, scores=scores, size=size,
                          camera=args.camera, out=args.out)
    except OSError as exc:
        fail(f"{args.out}: cannot write image: {exc.strerror or exc}")
    except ValueError as exc:
        fail(str(exc))
    when = "" if snapshot is None else f" at t={snapshot.t:.0f} s"
    print(f"wrote {args.out} ({size[0]}x{size[1]}, {workshop.name}{when}, overlay {args.overlay})")
    return 0
