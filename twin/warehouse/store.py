"""The local model warehouse: a folder of AASX packages and an SQLite index of them.

Layout of a warehouse folder::

    packages/<id>.aasx     the packages, byte for byte as imported
    index.sqlite           packages (DT4M description, descriptor columns), interactions
                           (past migrations: requirement -> chosen package)
    recommender.*          f_predict trained on this warehouse's interactions (optional)

Listing, searching and recommending read the index only; import checks a package fully
(every part's sha256) before it enters; :meth:`Warehouse.rebuild_index` re-reads every
package file and reports the ones it refuses, which stay out of the index.

The default warehouse lives in the user data folder (``platformdirs``), overridable with
``DMW_TWIN_WAREHOUSE`` or an explicit path; a new default warehouse starts with the bundled
sample models B–F.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.warehouse.aasx import read_package, read_package_bytes
from twin.warehouse.attributes import CandidateTable, Descriptor
from twin.warehouse.model import ModelPackage, PackageError, PackageMeta

#: The bundled sample warehouse (models B–F of the paper's Table 3).
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "warehouse"
ENV_VAR = "DMW_TWIN_WAREHOUSE"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS packages (
    id TEXT PRIMARY KEY, name TEXT, creator TEXT, number TEXT, position TEXT,
    shop_type TEXT, size INTEGER, levels TEXT, station_types TEXT, text TEXT,
    meta TEXT, file TEXT, sha256 TEXT, imported_at REAL, descriptor TEXT
);
CREATE INDEX IF NOT EXISTS packages_type ON packages (shop_type, size);
CREATE TABLE IF NOT EXISTS interactions (
    n INTEGER PRIMARY KEY AUTOINCREMENT, t REAL, requirement TEXT, target TEXT,
    candidates TEXT, chosen TEXT, origin TEXT
);
"""


def default_root() -> Path:
    """The user's warehouse folder: ``$DMW_TWIN_WAREHOUSE`` or the platform data dir."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("dmw-twin", appauthor=False)) / "warehouse"


@dataclass(frozen=True)
class IndexEntry:
    """One indexed package (what listing and recommending see)."""

    meta: PackageMeta
    file: Path
    sha256: str

    @property
    def id(self) -> str:
        return self.meta.id

    def descriptor(self) -> Descriptor:
        m = self.meta
        return Descriptor.from_attributes(m.shop_type, m.size, m.station_types, m.attributes)


@dataclass(frozen=True)
class Interaction:
    """A past migration: for ``requirement`` (GM, BM, LM, PM weights) and ``target``
    (descriptor fields), ``chosen`` was picked among ``candidates``."""

    requirement: tuple[float, float, float, float]
    target: dict[str, Any]
    candidates: tuple[str, ...]
    chosen: str
    origin: str = "migration"


class Warehouse:
    """A warehouse folder (created if missing). ``seed_samples`` imports the bundled B–F
    into a warehouse that has just been created."""

    def __init__(self, root: str | Path | None = None, *, seed_samples: bool | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        fresh = not (self.root / "index.sqlite").exists()
        try:
            (self.root / "packages").mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.root / "index.sqlite")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise PackageError(f"{self.root}: warehouse cannot be opened ({exc})") from exc
        self._table: tuple[int, CandidateTable] | None = None
        self._generation = 0
        if fresh and any((self.root / "packages").glob("*.aasx")):
            self.rebuild_index()
        elif fresh and (seed_samples if seed_samples is not None else root is None):
            for f in sorted((SAMPLES_DIR / "packages").glob("*.aasx")):
                self.import_package(f)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- import / export / delete ----------------------------------------------------
    def import_package(self, path: str | Path, *, replace: bool = False) -> PackageMeta:
        """Check the AASX at ``path`` and add it (its bytes unchanged) under its id."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PackageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        pkg = read_package_bytes(data, str(path))
        return self._add(pkg, data, replace=replace, where=str(path))

    def import_folder(self, folder: str | Path, *, replace: bool = False) -> tuple[list[PackageMeta], list[str]]:
        """Import every ``*.aasx`` in ``folder``: (imported, refusals with their reasons)."""
        done, refused = [], []
        for f in sorted(Path(folder).glob("*.aasx")):
            try:
                done.append(self.import_package(f, replace=replace))
            except PackageError as exc:
                refused.append(str(exc))
        return done, refused

    def add(self, pkg: ModelPackage, *, replace: bool = False) -> PackageMeta:
        """Write ``pkg`` as AASX into the warehouse and index it."""
        from twin.warehouse.aasx import write_package

        _check_id(pkg.meta.id)
        if not replace and self.get(pkg.meta.id, missing_ok=True) is not None:
            raise PackageError(f"package {pkg.meta.id}: already in the warehouse {self.root}")
        tmp = self.root / "packages" / f".{pkg.meta.id}.new.aasx"
        write_package(pkg, tmp)
        try:
            return self.import_package(tmp, replace=replace)
        finally:
            tmp.unlink(missing_ok=True)

    def _add(self, pkg: ModelPackage, data: bytes, *, replace: bool, where: str) -> PackageMeta:
        import hashlib

        meta = pkg.meta
        _check_id(meta.id, where)
        if not replace and self.get(meta.id, missing_ok=True) is not None:
            raise PackageError(f"{where}: package {meta.id} is already in the warehouse (delete it or replace)")
        dest = self.root / "packages" / f"{meta.id}.aasx"
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        except OSError as exc:
            raise PackageError(f"{dest}: cannot be written ({exc.strerror or exc})") from None
        finally:
            tmp.unlink(missing_ok=True)
        self._index(meta, dest, hashlib.sha256(data).hexdigest())
        return meta

    def _index(self, meta: PackageMeta, file: Path, sha: str) -> None:
        with self._db:
            self._db.execute(INSERT, index_row(meta, file, sha))
        self._generation += 1

    def export(self, package_id: str, out: str | Path) -> Path:
        """Copy the package's AASX (byte for byte) to ``out`` (a file or a folder)."""
        entry = self.get(package_id)
        assert entry is not None
        out = Path(out)
        if out.is_dir():
            out = out / f"{package_id}.aasx"
        try:
            shutil.copyfile(entry.file, out)
        except OSError as exc:
            raise PackageError(f"{out}: cannot be written ({exc.strerror or exc})") from None
        return out

    def delete(self, package_id: str) -> None:
        entry = self.get(package_id)
        assert entry is not None
        entry.file.unlink(missing_ok=True)
        with self._db:
            self._db.execute("DELETE FROM packages WHERE id = ?", (package_id,))
        self._generation += 1

    def load(self, package_id: str) -> ModelPackage:
        """The package itself, read and checked from its file."""
        entry = self.get(package_id)
        assert entry is not None
        return read_package(entry.file)

    def rebuild_index(self) -> list[str]:
        """Re-read every package file into a fresh index; returns the refusals (one line
        each, naming the file and the part). Interactions are kept."""
        with self._db:
            self._db.execute("DELETE FROM packages")
        refused = []
        for f in sorted((self.root / "packages").glob("*.aasx")):
            if f.name.startswith("."):
                continue
            try:
                import hashlib

                data = f.read_bytes()
                pkg = read_package_bytes(data, str(f))
                self._index(pkg.meta, f, hashlib.sha256(data).hexdigest())
            except (PackageError, OSError) as exc:
                refused.append(str(exc))
        self._generation += 1
        return refused

    # -- queries (index only) --------------------------------------------------------
    def get(self, package_id: str, *, missing_ok: bool = False) -> IndexEntry | None:
        row = self._db.execute("SELECT meta, file, sha256 FROM packages WHERE id = ?", (package_id,)).fetchone()
        if row is None:
            if missing_ok:
                return None
            raise PackageError(f"package {package_id!r}: not in the warehouse {self.root}")
        return self._entry(row)

    def _entry(self, row: Sequence[Any]) -> IndexEntry:
        meta = PackageMeta.from_json(json.loads(row[0]), f"{self.root}/index.sqlite")
        return IndexEntry(meta, self.root / "packages" / row[1], row[2])

    def list(self) -> list[IndexEntry]:
        return self.search()

    def search(self, *, shop_type: str | None = None, size: tuple[int, int] | None = None,
               station_types: Sequence[str] = (), text: str | None = None) -> list[IndexEntry]:
        """Packages matching all given filters: shop type, size range (stations, inclusive),
        having every one of ``station_types``, ``text`` in id/name/creator/description."""
        sql, args = "SELECT meta, file, sha256, station_types FROM packages WHERE 1=1", []
        if shop_type:
            sql += " AND shop_type = ?"
            args.append(shop_type)
        if size:
            sql += " AND size BETWEEN ? AND ?"
            args += [size[0], size[1]]
        if text:
            sql += " AND text LIKE ?"
            args.append(f"%{text.lower()}%")
        out = []
        for row in self._db.execute(sql + " ORDER BY id", args):
            types = json.loads(row[3])
            if all(t in types for t in station_types):
                out.append(self._entry(row))
        return out

    def candidate_table(self) -> CandidateTable:
        """All indexed packages as arrays for scoring, built from the index's small
        descriptor column (cached until the index changes)."""
        if self._table is None or self._table[0] != self._generation:
            ids, descs = [], []
            for pid, doc in self._db.execute("SELECT id, descriptor FROM packages ORDER BY id"):
                ids.append(pid)
                descs.append(descriptor_from_json(json.loads(doc)))
            self._table = (self._generation, CandidateTable.build(ids, descs))
        return self._table[1]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM packages").fetchone()[0])

    # -- interactions (the matrix f_predict learns from) -------------------------------
    def record_interaction(self, it: Interaction) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO interactions (t, requirement, target, candidates, chosen, origin) VALUES (?,?,?,?,?,?)",
                (time.time(), json.dumps(list(it.requirement)), json.dumps(it.target, sort_keys=True),
                 json.dumps(list(it.candidates)), it.chosen, it.origin))

    def interactions(self) -> Iterator[Interaction]:
        for req, target, cands, chosen, origin in self._db.execute(
                "SELECT requirement, target, candidates, chosen, origin FROM interactions ORDER BY n"):
            r = json.loads(req)
            yield Interaction((r[0], r[1], r[2], r[3]), json.loads(target), tuple(json.loads(cands)), chosen, origin)

    @property
    def recommender_path(self) -> Path:
        return self.root / "recommender"


INSERT = "INSERT OR REPLACE INTO packages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"


def index_row(meta: PackageMeta, file: Path, sha: str) -> tuple[Any, ...]:
    """The index row of a package (columns of the ``packages`` table)."""
    text = " ".join([meta.id, meta.name, meta.creator, meta.number, meta.position, meta.description,
                     meta.shop_type, *meta.station_types]).lower()
    desc = descriptor_json(IndexEntry(meta, file, sha).descriptor(), with_pm=True)
    return (meta.id, meta.name, meta.creator, meta.number, meta.position, meta.shop_type, meta.size,
            json.dumps(list(meta.levels)), json.dumps(meta.station_types, sort_keys=True), text,
            json.dumps(meta.to_json(), sort_keys=True), file.name, sha, time.time(), json.dumps(desc))


def _check_id(pid: str, where: str | None = None) -> None:
    if not _ID.match(pid):
        raise PackageError(f"{where or 'package'}: package id {pid!r} must be letters, digits, '-' or '_'")


def descriptor_json(d: Descriptor, *, with_pm: bool = False) -> dict[str, Any]:
    """A descriptor as JSON (targets in the interactions table; packages in the index)."""
    doc: dict[str, Any] = {"shop_type": d.shop_type, "size": d.size, "station_types": d.station_types,
                           "area_m2": d.area_m2, "process_kinds": sorted(d.process_kinds),
                           "mean_route_steps": d.mean_route_steps}
    if with_pm:
        doc.update(pm_accuracy=d.pm_accuracy, pm_inputs=sorted(d.pm_inputs))
    return doc


def descriptor_from_json(doc: Mapping[str, Any]) -> Descriptor:
    return Descriptor(shop_type=str(doc["shop_type"]), size=int(doc["size"]),
                      station_types={str(k): int(v) for k, v in dict(doc["station_types"]).items()},
                      area_m2=float(doc["area_m2"]), process_kinds=frozenset(doc["process_kinds"]),
                      mean_route_steps=float(doc["mean_route_steps"]),
                      pm_accuracy=float(doc.get("pm_accuracy", 0.0)), pm_inputs=frozenset(doc.get("pm_inputs", ())))
