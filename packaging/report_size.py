"""Print the bundle's size and what takes the space; fail when over the budget.

    python packaging/report_size.py dist/dmw-twin [ARCHIVE.tar.gz]

Budget (on disk, unpacked): 2,000 MB — torch (~630 MB measured) and VTK (~550 MB) are
the big parts; the budget leaves room for them and catches a build that pulls in
something large by accident (the full PySide6, a CUDA torch, test data).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

BUDGET_MB = 2000
#: Groups by the top-level folder (or file-name prefix) inside _internal/.
GROUPS = {
    "torch": ("torch", "libtorch", "functorch", "torchgen"),
    "vtk": ("vtkmodules", "vtk", "libvtk"),
    "Qt (PySide6)": ("PySide6", "shiboken6", "libQt6", "libpyside", "libshiboken"),
    "numpy/scipy/sklearn": ("numpy", "scipy", "sklearn", "scikit_learn", "libopenblas", "libgfortran",
                            "numpy.libs", "scipy.libs", "scikit_learn.libs"),
    "torch-geometric": ("torch_geometric",),
    "pyvista/trimesh": ("pyvista", "pyvistaqt", "trimesh"),
    "assets": ("assets",),
    "LICENSES": ("LICENSES",),
    "connectors (asyncua, paho, psycopg, basyx, rdflib, protobuf)": (
        "asyncua", "paho", "psycopg", "psycopg_binary", "basyx", "rdflib", "google", "cryptography",
        "lxml"),
}


def group_of(name: str) -> str:
    for g, prefixes in GROUPS.items():
        if any(name == p or name.startswith(p + ".") or name.startswith(p + "-") or name.startswith(p)
               for p in prefixes):
            return g
    return "other"


def main() -> int:
    root = Path(sys.argv[1])
    inner = root / "_internal"
    sizes: Counter[str] = Counter()
    total = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if p.is_symlink():  # PyInstaller links some libraries: count the file once
                continue
            n = p.stat().st_size
            total += n
            rel = p.relative_to(inner if inner in p.parents else root)
            sizes[group_of(rel.parts[0])] += n
    print(f"bundle {root}: {total / 1e6:,.0f} MB on disk (budget {BUDGET_MB:,} MB)")
    for g, n in sizes.most_common():
        print(f"  {g:58} {n / 1e6:8,.0f} MB  {100 * n / total:5.1f} %")
    if len(sys.argv) > 2 and Path(sys.argv[2]).is_file():
        print(f"archive {sys.argv[2]}: {Path(sys.argv[2]).stat().st_size / 1e6:,.0f} MB")
    if total / 1e6 > BUDGET_MB:
        print(f"over budget by {total / 1e6 - BUDGET_MB:,.0f} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
