"""DMW Twin domain layer: workshop model, simulation, recordings, verification, evolution.

Pure Python + numpy/torch/sklearn. Never imports Qt, VTK, pyvista or pyqtgraph
(enforced by the import-linter contract in pyproject.toml).
"""

#: The product version (kept equal to pyproject.toml's; a test checks it).
__version__ = "0.1.0"
