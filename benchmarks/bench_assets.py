"""Asset pipeline figures: decimation methods, full loads vs cache hits, procedural models.

    python benchmarks/bench_assets.py

Prints three tables (times are medians of a few runs on this machine):

1. decimating the MiR100 chassis (37,622 triangles) to several budgets with VTK quadric
   (what scene.assets uses), VTK decimate_pro and fast_simplification: triangles reached,
   milliseconds, worst and mean deviation from the original surface;
2. load_asset on the bundled meshes: cold (import + decimation + cache write) vs cache hit;
3. procedural station models: triangles per level of detail and build time.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyvista as pv  # noqa: E402

from scene import assets, models  # noqa: E402

MESHES = ROOT / "assets" / "meshes"


def median_ms(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def deviation_mm(original: pv.PolyData, light: pv.PolyData) -> tuple[float, float]:
    """Worst (both directions) and mean distance between the surfaces, millimetres."""
    d1 = np.abs(original.compute_implicit_distance(light)["implicit_distance"])
    d2 = np.abs(light.compute_implicit_distance(original)["implicit_distance"])
    return 1000 * max(d1.max(), d2.max()), 1000 * d1.mean()


def decimation_table() -> None:
    import fast_simplification
    import trimesh

    tm = trimesh.load(MESHES / "mir100_base_visual.stl", force="mesh")
    mesh = pv.PolyData.from_regular_faces(np.asarray(tm.vertices), np.asarray(tm.faces))
    n = mesh.n_cells
    print(f"\n1. Decimating the MiR100 chassis ({n:,} triangles)")
    print(f"{'budget':>7} {'method':<22} {'reached':>8} {'ms':>7} {'worst mm':>9} {'mean mm':>8}")
    for budget in (20000, 5000, 1000, 300):
        red = 1 - budget / n
        methods: dict[str, Callable[[], pv.PolyData]] = {
            "vtk quadric (used)": lambda: pv.PolyData.from_regular_faces(
                *assets._decimate(np.asarray(mesh.points, float), tm.faces, budget)),
            "vtk decimate_pro": lambda: mesh.decimate_pro(red, preserve_topology=False),
            "fast_simplification": lambda: pv.wrap(
                fast_simplification.simplify_mesh(mesh, target_reduction=red)),
        }
        for name, fn in methods.items():
            ms, out = median_ms(fn)
            worst, mean = deviation_mm(mesh, out)  # type: ignore[arg-type]
            print(f"{budget:>7,} {name:<22} {out.n_cells:>8,} {ms:>7.0f} {worst:>9.1f} {mean:>8.2f}")  # type: ignore[union-attr]


def load_table() -> None:
    print("\n2. load_asset: cold (import + lightweighting + cache write) vs cache hit")
    print(f"{'file':<34} {'budget':>7} {'before':>7} {'after':>7} {'LODs':<18} {'cold ms':>8} {'hit ms':>7}")
    cases = [
        ("mir100_base_visual.stl", 20000),
        ("mir100_base_visual.stl", 4000),
        ("ariac_agv/robot.dae", 4000),
        ("ariac_conveyor/conveyor.dae", 2000),
        ("ariac_conveyor/conveyor.dae", 600),
    ]
    assets.load_asset(MESHES / "ariac_agv/robot.dae", use_cache=False)  # warm imports
    for rel, budget in cases:
        cold, hit = [], []
        asset = None
        for _ in range(3):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                asset = assets.load_asset(MESHES / rel, budget=budget, cache_dir=Path(tmp))
                cold.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                again = assets.load_asset(MESHES / rel, budget=budget, cache_dir=Path(tmp))
                hit.append((time.perf_counter() - t0) * 1000)
                assert again.from_cache
        assert asset is not None
        lods = "/".join(str(m.n_cells) for m in asset.lods)
        print(f"{rel:<34} {budget:>7,} {asset.triangles_before:>7,} {asset.triangles_after:>7,} "
              f"{lods:<18} {statistics.median(cold):>8.0f} {statistics.median(hit):>7.1f}")


def model_table() -> None:
    print("\n3. Procedural models: triangles at lod 0/1/2, build time of all three levels")
    print(f"{'type':<18} {'lod0':>6} {'lod1':>6} {'lod2':>6} {'build ms':>9}  size (m)")
    for kind in models.STATION_TYPES:
        models._station_cached.cache_clear()
        t0 = time.perf_counter()
        levels = [models.station_model(kind, lod=lod) for lod in (0, 1, 2)]
        ms = (time.perf_counter() - t0) * 1000
        b = levels[0].bounds
        size = f"{b[1] - b[0]:.2f} x {b[3] - b[2]:.2f} x {b[5] - b[4]:.2f}"
        print(f"{kind:<18} {levels[0].n_cells:>6} {levels[1].n_cells:>6} {levels[2].n_cells:>6} "
              f"{ms:>9.1f}  {size}")


if __name__ == "__main__":
    decimation_table()
    load_table()
    model_table()
