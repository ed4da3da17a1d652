"""Gather the licences of every library the bundle ships, for LICENSES/third-party/.

    python packaging/collect_licenses.py OUT_DIR

For each installed distribution listed in requirements.txt (test-only tools left out) it
copies the licence files its wheel carries into ``OUT_DIR/<name>/`` and writes
``OUT_DIR/libraries.json``: name, version, licence expression or classifier, files. The
About box reads that JSON in a bundle (a source checkout asks importlib.metadata itself).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.licences import licence_of, shipped_names  # noqa: E402


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in shipped_names():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        files = []
        for f in dist.files or []:
            base = f.name.lower()
            if re.match(r"^(licen[cs]e|copying|notice|authors)", base) or "/licenses/" in str(f).lower():
                src = Path(str(dist.locate_file(f)))
                if src.is_file():
                    dest = out / dist.metadata["Name"] / f.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest)
                    files.append(f"{dist.metadata['Name']}/{f.name}")
        if not files and "LGPL-3.0" in licence_of(dist):  # Qt for Python wheels carry no licence file
            for text in ("LGPL-3.0.txt", "GPL-3.0.txt"):
                dest = out / dist.metadata["Name"] / text
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ROOT / "LICENSES" / text, dest)
                files.append(f"{dist.metadata['Name']}/{text}")
        rows.append({"name": dist.metadata["Name"], "version": dist.version,
                     "license": licence_of(dist), "files": files})
    (out / "libraries.json").write_text(json.dumps(rows, indent=1))
    print(f"{len(rows)} libraries, {sum(len(r['files']) for r in rows)} licence files → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "licenses"))
