"""Which third-party libraries the app ships, with their versions and licences.

In an installed bundle the list was gathered at build time into
``LICENSES/third-party/libraries.json`` (with the licence files beside it); in a source
checkout it is read from the installed distributions named in ``requirements.txt``.
Help › About shows it.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES_JSON = ROOT / "LICENSES" / "third-party" / "libraries.json"
#: Tools needed to build or test, not shipped in the bundle.
NOT_SHIPPED = {"pytest", "pytest-qt", "pytest-timeout", "pytest-xvfb", "pyvirtualdisplay", "iniconfig",
               "pluggy", "import-linter", "grimp", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph",
               "setuptools", "pip"}


def licence_of(dist: metadata.Distribution) -> str:
    """The licence a distribution declares: its SPDX expression, classifiers or free text."""
    md = dist.metadata
    expr = md.get("License-Expression")
    if expr:
        return str(expr)
    classifiers = [c.split("::")[-1].strip() for c in md.get_all("Classifier") or []
                   if c.startswith("License ::")]
    if classifiers:
        return "; ".join(classifiers)
    text = (md.get("License") or "").strip()
    return text.splitlines()[0][:80] if text else "see its licence files"


def shipped_names(requirements: Path = ROOT / "requirements.txt") -> list[str]:
    names = []
    for line in requirements.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==", line.strip())
        if m and m.group(1).lower() not in NOT_SHIPPED:
            names.append(m.group(1))
    return sorted(names, key=str.lower)


def libraries() -> list[dict[str, Any]]:
    """[{name, version, license, files}] of the shipped libraries (files only in a bundle)."""
    if LIBRARIES_JSON.is_file():
        rows: list[dict[str, Any]] = json.loads(LIBRARIES_JSON.read_text())
        return rows
    out = []
    if (ROOT / "requirements.txt").is_file():
        for name in shipped_names():
            try:
                d = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                continue
            out.append({"name": d.metadata["Name"], "version": d.version, "license": licence_of(d),
                        "files": []})
    return out
