"""Shared set-up of the scene tests: VTK errors fail the test; one loaded machining13."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvista as pv

from twin.workshop import Workshop, load_workshop


@pytest.fixture(autouse=True)
def vtk_errors_fail_the_test():
    with pv.VtkErrorCatcher(raise_errors=True):
        yield


@pytest.fixture(scope="module")
def workshop(machining13_path: Path) -> Workshop:
    return load_workshop(machining13_path)
