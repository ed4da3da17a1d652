"""Package structure a developer relies on: no import cycles, and the light commands stay
light (``--help``, ``info``, ``export``, ``simulate`` never load torch or a GUI library)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
#: Libraries the light commands must not load (seconds of start-up each).
HEAVY = ("torch", "torch_geometric", "sklearn", "scipy", "PySide6", "pyvista", "vtkmodules", "pyqtgraph")


def test_module_import_graph_of_twin_scene_ui_has_no_cycles() -> None:
    graph = grimp.build_graph("twin", "scene", "ui", exclude_type_checking_imports=True,
                              cache_dir=None)
    assert len(graph.modules) > 40  # the packages were really found
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.append(" -> ".join((module, *back)))
    assert cycles == []


def _loaded_after(commands: list[list[str]], tmp_path: Path) -> list[list[str]]:
    """Run ``main.main`` for each command in one fresh interpreter; the heavy libraries
    loaded after each (cumulative)."""
    code = (
        "import contextlib, io, json, sys\n"
        "import main\n"
        f"heavy = {HEAVY!r}\n"
        "out = []\n"
        f"for argv in {commands!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        rc = main.main(argv)\n"
        "        assert rc == 0, (argv, rc)\n"
        "    out.append(sorted(h for h in heavy if h in sys.modules))\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_imports_no_torch_or_gui(tmp_path: Path) -> None:
    assert _loaded_after([["--help"]], tmp_path) == [[]]


def test_simulate_info_export_import_no_torch(tmp_path: Path) -> None:
    rec = str(tmp_path / "ft06.twinlog")
    loaded = _loaded_after([
        ["simulate", "--workshop", str(ROOT / "assets" / "workshops" / "ft06.txt"), "--out", rec],
        ["info", rec],
        ["export", rec, "--csv", str(tmp_path / "ft06.csv")],
        ["verify", "--help"],
    ], tmp_path)
    assert loaded == [[], [], [], []]
    assert (tmp_path / "ft06.csv").read_text().count("\n") > 30  # the commands did run
