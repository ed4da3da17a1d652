"""What a DT model package is, apart from how it is stored (see :mod:`twin.warehouse.aasx`).

A :class:`ModelPackage` is the four parts of one workshop's digital-twin model (GM geometry,
BM behaviour, LM logic, PM performance) as named files, plus :class:`PackageMeta` — the
DT4M description the warehouse indexes and the recommender reads (the paper's Table 2:
common attributes name, id, creator, position, number; unique attributes per part).

Files are bytes keyed by their path inside the package (``gm/layout.json`` ...); every file
belongs to one part (:data:`PARTS` or ``kg``, ``meta``) and is checked against its sha256
whenever a package is read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

#: The four parts of a DT model, in the order requirement weights are given.
PARTS: tuple[str, ...] = ("GM", "BM", "LM", "PM")
#: Parts a package file may belong to: the four models, the knowledge graph, metadata.
FILE_PARTS: tuple[str, ...] = (*PARTS, "KG", "META")
#: Shop types (Table 3 of the paper).
SHOP_TYPES: tuple[str, ...] = ("machining", "assembly")
#: Levels a DT model covers (Table 4 of the paper).
LEVELS: tuple[str, ...] = ("unit", "line", "workshop")
#: Format version of the DT4M description; a reader refuses a newer one.
DT4M_VERSION = 1


class PackageError(ValueError):
    """A package that cannot be used; ``str(err)`` names the file and the part that failed."""


@dataclass(frozen=True)
class PackageFile:
    """One file of a package: ``path`` inside the package, the ``part`` it belongs to,
    its MIME ``content_type`` and bytes."""

    path: str
    part: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class PackageMeta:
    """The DT4M description of a package (what the warehouse indexes).

    Attributes:
        id: package id (unique in a warehouse, letters, digits, ``-`` and ``_``).
        name, creator: common attributes; ``position`` where the shop is (site / hall),
            ``number`` the model number in the paper's sense (B, C, ...).
        shop_type: ``machining`` or ``assembly``; ``size`` number of stations.
        levels: which of unit / line / workshop the model covers.
        station_types: station type -> count.
        attributes: part -> attribute -> value (GM assembly/material/scale/mass,
            BM part/rule/action, LM part/assembly/process, PM input/output/accuracy).
        provenance: where the package came from (tool, workshop sha256, recording,
            parent package of a migration, ...).
        description: free text.
    """

    id: str
    name: str
    creator: str
    shop_type: str
    size: int
    station_types: dict[str, int]
    attributes: dict[str, dict[str, Any]]
    position: str = ""
    number: str = ""
    levels: tuple[str, ...] = LEVELS
    provenance: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "dt4m_version": DT4M_VERSION,
            "id": self.id,
            "name": self.name,
            "creator": self.creator,
            "position": self.position,
            "number": self.number,
            "shop_type": self.shop_type,
            "size": self.size,
            "levels": list(self.levels),
            "station_types": dict(sorted(self.station_types.items())),
            "attributes": self.attributes,
            "provenance": self.provenance,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, doc: Any, where: str) -> PackageMeta:
        """Parse a DT4M description; ``where`` names the file in errors."""
        if not isinstance(doc, dict):
            raise PackageError(f"{where}: not a DT4M description (a JSON object expected)")
        version = doc.get("dt4m_version")
        if not isinstance(version, int) or version > DT4M_VERSION:
            raise PackageError(f"{where}: DT4M version {version!r}, this program reads up to {DT4M_VERSION}")
        try:
            meta = cls(
                id=_text(doc, "id"), name=_text(doc, "name"), creator=_text(doc, "creator"),
                position=_text(doc, "position"), number=_text(doc, "number"),
                shop_type=_text(doc, "shop_type"), size=int(doc["size"]),
                levels=tuple(str(v) for v in doc["levels"]),
                station_types={str(k): int(v) for k, v in dict(doc["station_types"]).items()},
                attributes={str(p): dict(a) for p, a in dict(doc["attributes"]).items()},
                provenance=dict(doc.get("provenance") or {}),
                description=str(doc.get("description") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PackageError(f"{where}: malformed DT4M description ({exc!s})") from exc
        if meta.shop_type not in SHOP_TYPES:
            raise PackageError(f"{where}: shop_type {meta.shop_type!r} (expected one of {', '.join(SHOP_TYPES)})")
        bad = [lv for lv in meta.levels if lv not in LEVELS]
        if bad:
            raise PackageError(f"{where}: unknown level(s) {', '.join(bad)}")
        missing = [p for p in PARTS if p not in meta.attributes]
        if missing:
            raise PackageError(f"{where}: no attributes for part(s) {', '.join(missing)}")
        return meta


def _text(doc: dict[str, Any], key: str) -> str:
    v = doc[key]
    if not isinstance(v, str):
        raise TypeError(f"{key} must be text")
    return v


@dataclass
class ModelPackage:
    """A DT model package in memory: its description and its files (path -> file)."""

    meta: PackageMeta
    files: dict[str, PackageFile]

    def file(self, path: str) -> PackageFile:
        try:
            return self.files[path]
        except KeyError:
            raise PackageError(f"package {self.meta.id}: no file {path}") from None

    def part_files(self, part: str) -> list[PackageFile]:
        return [f for f in self.files.values() if f.part == part]
