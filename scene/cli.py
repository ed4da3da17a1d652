"""Sub-commands of the 3D layer: ``mesh-info`` (asset pipeline) and ``screenshot`` (scene).

``main.py`` calls :func:`register` with its sub-parser collection; each handler returns an
exit code and prints one clear line to stderr on bad input (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the scene's sub-commands (mesh-info, screenshot) to ``main.py``'s CLI."""
    _register_mesh_info(subparsers)
    # --- screenshot: registered by the scene helper below this line (scene/cli.py) ---


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
        print(f"mesh-info: {exc}", file=sys.stderr)
        return 2
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
