"""DMW Twin domain layer: workshop model, simulation, recordings, verification, evolution.

Pure Python + numpy/torch/sklearn. Never imports Qt, VTK, pyvista or pyqtgraph
(enforced by the import-linter contract in pyproject.toml).
"""
