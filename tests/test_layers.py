"""The layer rule (ui > scene > twin; twin free of Qt/VTK) holds, checked by import-linter."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The contracts were really evaluated, not skipped: every contract in pyproject is kept.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert len(declared) >= 4
    assert proc.stdout.count("KEPT") == len(declared), proc.stdout


def test_twin_imports_without_gui_libraries() -> None:
    """Importing every twin module in a fresh interpreter loads no Qt/VTK module."""
    code = (
        "import pkgutil, importlib, sys, twin\n"
        "for m in pkgutil.walk_packages(twin.__path__, 'twin.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyvista', 'vtk', 'vtkmodules', 'pyqtgraph', 'pyvistaqt')]\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"twin pulled in GUI modules: {proc.stdout}"
