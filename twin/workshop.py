"""Loading a workshop (the layout GM and the logic LM of one shop) from a file.

The model itself is plain data in :mod:`twin.workshop_model` (re-exported here, so
``from twin.workshop import Station, load_workshop`` works).

Two file formats are accepted by :func:`load_workshop`, detected by content:

* the documented TOML workshop format (``docs/formats-workshop.md``): stations, AGVs,
  buffers, the aisle network, products with process routes and an order generator;
* the standard job-shop text format (first non-comment line ``n_jobs n_machines``, then one
  line per job of ``machine processing_time`` pairs), see :mod:`twin.jobshop`.

Units everywhere: positions in metres on the floor plan (X right, Y up, Z up out of the
floor), headings in degrees counter-clockwise from +X, times in seconds unless the field
name says otherwise (``mtbf_h`` hours, ``mttr_min`` minutes).

Every loading problem raises :class:`WorkshopError` whose message names the file, the key
(or line) and the problem, fit to show a user.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from pathlib import Path
from typing import Any

from twin.workshop_model import (
    ARRIVALS,
    BUFFER_KINDS,
    MESH_UNITS,
    STATION_TYPES,
    UP_AXES,
    Agv,
    AisleNode,
    Buffer,
    MeshRef,
    Order,
    OrderGenerator,
    Product,
    RouteStep,
    Station,
    Workshop,
    WorkshopError,
)

__all__ = [
    "ARRIVALS",
    "Agv",
    "AisleNode",
    "BUFFER_KINDS",
    "Buffer",
    "MESH_UNITS",
    "MeshRef",
    "Order",
    "OrderGenerator",
    "Product",
    "RouteStep",
    "STATION_TYPES",
    "Station",
    "UP_AXES",
    "Workshop",
    "WorkshopError",
    "load_workshop",
]

# ------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------


def load_workshop(path: str | Path) -> Workshop:
    """Load a workshop from a TOML workshop file or a job-shop text file.

    The format is detected by content: a file whose first non-comment line is two
    integers is a job-shop instance, anything else is read as TOML.

    Raises:
        WorkshopError: naming the file, the key or line, and the problem.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise WorkshopError(f"{p}: cannot read workshop file: {err.strerror or err}") from None
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WorkshopError(
            f"{p}: not a workshop file (not UTF-8 text at byte {err.start})"
        ) from None
    from twin.jobshop import looks_like_jobshop, parse_jobshop

    if looks_like_jobshop(text):
        return parse_jobshop(text, p, digest)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise WorkshopError(f"{p}: invalid TOML: {err}") from None
    return _Loader(p, doc, digest).build()


class _Loader:
    """Reads and validates a parsed TOML workshop document."""

    def __init__(self, path: Path, doc: dict[str, Any], digest: str) -> None:
        self.path = path
        self.doc = doc
        self.digest = digest
        self.ids: dict[str, str] = {}  # entity id -> key where it was defined

    # -- helpers ---------------------------------------------------------------------
    def fail(self, key: str, problem: str) -> WorkshopError:
        return WorkshopError(f"{self.path}: {key}: {problem}")

    def table(self, obj: Any, key: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise self.fail(key, f"must be a table, got {_tname(obj)}")
        return obj

    def req(self, t: dict[str, Any], name: str, key: str) -> Any:
        if name not in t:
            raise self.fail(key, f"missing key '{name}'")
        return t[name]

    def text(self, t: dict[str, Any], name: str, key: str, default: str | None = None) -> str:
        v = t.get(name, default) if default is not None else self.req(t, name, key)
        if not isinstance(v, str) or (default is None and not v.strip()):
            raise self.fail(f"{key}.{name}", f"must be a non-empty string, got {v!r}")
        return v

    def number(
        self,
        t: dict[str, Any],
        name: str,
        key: str,
        default: float | None = None,
        *,
        minimum: float | None = 0.0,
        positive: bool = False,
        allow_inf: bool = False,
    ) -> float:
        if name not in t:
            if default is None:
                raise self.fail(key, f"missing key '{name}'")
            return default
        v = t[name]
        k = f"{key}.{name}"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(k, f"must be a number, got {v!r}")
        f = float(v)
        if math.isnan(f) or (math.isinf(f) and not allow_inf):
            raise self.fail(k, f"must be finite, got {v!r}")
        if positive and f <= 0:
            raise self.fail(k, f"must be > 0, got {v!r}")
        if minimum is not None and f < minimum:
            raise self.fail(k, f"must not be negative, got {v!r}")
        return f

    def integer(
        self, t: dict[str, Any], name: str, key: str, default: int, minimum: int = 0
    ) -> int:
        v = t.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(f"{key}.{name}", f"must be an integer, got {v!r}")
        if v < minimum:
            raise self.fail(f"{key}.{name}", f"must be >= {minimum}, got {v!r}")
        return v

    def point(self, v: Any, key: str) -> tuple[float, float]:
        if (
            not isinstance(v, list)
            or len(v) != 2
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in v)
            or not all(math.isfinite(c) for c in v)
        ):
            raise self.fail(key, f"must be [x, y] in metres, got {v!r}")
        return float(v[0]), float(v[1])

    def new_id(self, t: dict[str, Any], key: str) -> str:
        v = self.req(t, "id", key)
        if not isinstance(v, str) or not v.strip() or any(c.isspace() for c in v):
            raise self.fail(f"{key}.id", f"must be a non-empty id without spaces, got {v!r}")
        if v in self.ids:
            raise self.fail(f"{key}.id", f"duplicate id '{v}' (already used by {self.ids[v]})")
        self.ids[v] = key
        return v

    def array_of_tables(self, name: str) -> list[dict[str, Any]]:
        v = self.doc.get(name, [])
        if not isinstance(v, list):
            raise self.fail(name, f"must be an array of tables ([[{name}]]), got {_tname(v)}")
        return [self.table(t, f"{name}[{i}]") for i, t in enumerate(v)]

    def node_ref(self, t: dict[str, Any], name: str, key: str, nodes: dict[str, AisleNode]) -> str:
        v = self.req(t, name, key)
        if v not in nodes:
            raise self.fail(f"{key}.{name}", f"unknown aisle node {v!r}")
        return str(v)

    def mesh(self, t: dict[str, Any], key: str) -> MeshRef | None:
        if "mesh" not in t:
            return None
        v = t["mesh"]
        k = f"{key}.mesh"
        if isinstance(v, str):
            v = {"path": v}
        m = self.table(v, k)
        unknown = set(m) - {"path", "units", "scale", "up_axis"}
        if unknown:
            raise self.fail(k, f"unknown key(s) {', '.join(sorted(unknown))}")
        rel = self.text(m, "path", k)
        units = m.get("units", "m")
        if units not in MESH_UNITS:
            raise self.fail(f"{k}.units", f"unknown unit {units!r} (expected one of {', '.join(MESH_UNITS)})")
        up = m.get("up_axis", "z")
        if up not in UP_AXES:
            raise self.fail(f"{k}.up_axis", f"unknown axis {up!r} (expected one of {', '.join(UP_AXES)})")
        scale = self.number(m, "scale", k, 1.0, positive=True)
        p = Path(rel)
        if not p.is_absolute():
            p = (self.path.parent / p).resolve()
        return MeshRef(path=p, units=units, scale=scale, up_axis=up)

    def check_keys(self, t: dict[str, Any], key: str, allowed: set[str]) -> None:
        unknown = set(t) - allowed
        if unknown:
            raise self.fail(key, f"unknown key(s) {', '.join(sorted(unknown))} "
                                 f"(expected some of {', '.join(sorted(allowed))})")

    # -- sections --------------------------------------------------------------------
    def build(self) -> Workshop:
        head = self.table(self.doc.get("workshop", {}), "workshop")
        self.check_keys(head, "workshop", {"name", "title", "description", "floor", "stochastic"})
        name = self.text(head, "name", "workshop", self.path.stem) or self.path.stem
        title = self.text(head, "title", "workshop", name)
        description = self.text(head, "description", "workshop", "")
        floor = self.point(head["floor"], "workshop.floor") if "floor" in head else (0.0, 0.0)
        stochastic = head.get("stochastic", True)
        if not isinstance(stochastic, bool):
            raise self.fail("workshop.stochastic", f"must be true or false, got {stochastic!r}")

        nodes, edges = self.aisles()
        stations = self.stations(nodes)
        agvs = self.agvs(nodes)
        buffers = self.buffers(nodes)
        products = self.products(stations)
        orders = self.orders(products)
        generator = self.generator(products)

        ws = Workshop(
            name=name, path=self.path.resolve(), stations=stations, agvs=agvs,
            buffers=buffers, nodes=nodes, edges=edges, products=products, orders=orders,
            source_hash=self.digest, order_generator=generator, title=title,
            description=description, floor=floor, format="toml", transport=True,
            stochastic=stochastic,
        )
        self.check_connected(ws)
        if not stations:
            raise self.fail("station", "a workshop needs at least one [[station]]")
        if not products:
            raise self.fail("product", "a workshop needs at least one [[product]]")
        if agvs:
            if ws.buffer_of_kind("raw") is None:
                raise self.fail("buffer", "a workshop with AGVs needs a buffer of kind 'raw'")
            if ws.buffer_of_kind("finished") is None:
                raise self.fail("buffer", "a workshop with AGVs needs a buffer of kind 'finished'")
        else:
            ws.transport = False
        return ws

    def aisles(self) -> tuple[dict[str, AisleNode], list[tuple[str, str]]]:
        a = self.table(self.doc.get("aisles", {}), "aisles")
        self.check_keys(a, "aisles", {"nodes", "edges"})
        raw_nodes = self.table(a.get("nodes", {}), "aisles.nodes")
        nodes: dict[str, AisleNode] = {}
        for nid, xy in raw_nodes.items():
            x, y = self.point(xy, f"aisles.nodes.{nid}")
            nodes[nid] = AisleNode(nid, x, y)
        raw_edges = a.get("edges", [])
        if not isinstance(raw_edges, list):
            raise self.fail("aisles.edges", "must be a list of node chains like [\"A\", \"B\"]")
        edges: list[tuple[str, str]] = []
        seen: set[frozenset[str]] = set()
        for i, chain in enumerate(raw_edges):
            k = f"aisles.edges[{i}]"
            if not isinstance(chain, list) or len(chain) < 2:
                raise self.fail(k, f"must list at least two node ids, got {chain!r}")
            for n in chain:
                if n not in nodes:
                    raise self.fail(k, f"unknown aisle node {n!r}")
            for u, v in zip(chain, chain[1:]):
                if u == v:
                    raise self.fail(k, f"edge from node {u!r} to itself")
                pair = frozenset((u, v))
                if pair not in seen:
                    seen.add(pair)
                    edges.append((u, v))
        return nodes, edges

    def stations(self, nodes: dict[str, AisleNode]) -> dict[str, Station]:
        out: dict[str, Station] = {}
        allowed = {"id", "name", "type", "position", "heading", "processes", "setup_s",
                   "mtbf_h", "mttr_min", "node", "mesh", "input_capacity", "output_capacity"}
        for i, t in enumerate(self.array_of_tables("station")):
            k = f"station[{i}]"
            sid = self.new_id(t, k)
            k = f"station[{i}] ({sid})"
            self.check_keys(t, k, allowed)
            typ = self.req(t, "type", k)
            if typ not in STATION_TYPES:
                raise self.fail(f"{k}.type", f"unknown station type {typ!r} "
                                             f"(expected one of {', '.join(STATION_TYPES)})")
            x, y = self.point(self.req(t, "position", k), f"{k}.position")
            procs = self.table(self.req(t, "processes", k), f"{k}.processes")
            if not procs:
                raise self.fail(f"{k}.processes", "a station needs at least one process")
            processes = {
                str(pname): self.number(procs, pname, f"{k}.processes", positive=True)
                for pname in procs
            }
            out[sid] = Station(
                id=sid,
                name=self.text(t, "name", k, sid) or sid,
                type=typ,
                x=x,
                y=y,
                heading=self.number(t, "heading", k, 0.0, minimum=None),
                processes=processes,
                setup_s=self.number(t, "setup_s", k, 0.0),
                mtbf_h=self.number(t, "mtbf_h", k, math.inf, positive=True, allow_inf=True),
                mttr_min=self.number(t, "mttr_min", k, 0.0),
                node=self.node_ref(t, "node", k, nodes),
                mesh=self.mesh(t, k),
                input_capacity=self.integer(t, "input_capacity", k, 8, minimum=1),
                output_capacity=self.integer(t, "output_capacity", k, 2, minimum=1),
            )
        return out

    def agvs(self, nodes: dict[str, AisleNode]) -> dict[str, Agv]:
        out: dict[str, Agv] = {}
        allowed = {"id", "name", "speed", "load_s", "unload_s", "home", "mesh", "capacity"}
        for i, t in enumerate(self.array_of_tables("agv")):
            aid = self.new_id(t, f"agv[{i}]")
            k = f"agv[{i}] ({aid})"
            self.check_keys(t, k, allowed)
            out[aid] = Agv(
                id=aid,
                name=self.text(t, "name", k, aid) or aid,
                speed=self.number(t, "speed", k, positive=True),
                load_s=self.number(t, "load_s", k, 0.0),
                unload_s=self.number(t, "unload_s", k, 0.0),
                home=self.node_ref(t, "home", k, nodes),
                mesh=self.mesh(t, k),
                capacity=self.integer(t, "capacity", k, 1, minimum=1),
            )
        return out

    def buffers(self, nodes: dict[str, AisleNode]) -> dict[str, Buffer]:
        out: dict[str, Buffer] = {}
        allowed = {"id", "name", "kind", "position", "node", "capacity"}
        for i, t in enumerate(self.array_of_tables("buffer")):
            bid = self.new_id(t, f"buffer[{i}]")
            k = f"buffer[{i}] ({bid})"
            self.check_keys(t, k, allowed)
            kind = self.req(t, "kind", k)
            if kind not in BUFFER_KINDS:
                raise self.fail(f"{k}.kind", f"unknown buffer kind {kind!r} "
                                             f"(expected one of {', '.join(BUFFER_KINDS)})")
            x, y = self.point(self.req(t, "position", k), f"{k}.position")
            out[bid] = Buffer(
                id=bid, name=self.text(t, "name", k, bid) or bid, kind=kind, x=x, y=y,
                node=self.node_ref(t, "node", k, nodes),
                capacity=self.integer(t, "capacity", k, 0),
            )
        return out

    def products(self, stations: dict[str, Station]) -> dict[str, Product]:
        out: dict[str, Product] = {}
        for i, t in enumerate(self.array_of_tables("product")):
            pid = self.new_id(t, f"product[{i}]")
            k = f"product[{i}] ({pid})"
            self.check_keys(t, k, {"id", "name", "route"})
            route_raw = self.req(t, "route", k)
            if not isinstance(route_raw, list) or not route_raw:
                raise self.fail(f"{k}.route", "must be a non-empty list of steps")
            steps: list[RouteStep] = []
            for j, st in enumerate(route_raw):
                sk = f"{k}.route[{j}]"
                if isinstance(st, str):
                    st = {"process": st}
                st = self.table(st, sk)
                self.check_keys(st, sk, {"process", "stations"})
                proc = self.text(st, "process", sk)
                if "stations" in st:
                    group = st["stations"]
                    if isinstance(group, str):
                        group = [group]
                    if not isinstance(group, list) or not group:
                        raise self.fail(f"{sk}.stations", "must be a non-empty list of station ids")
                    for sid in group:
                        if sid not in stations:
                            raise self.fail(f"{sk}.stations", f"unknown station {sid!r}")
                        if proc not in stations[sid].processes:
                            raise self.fail(f"{sk}.stations",
                                            f"station {sid!r} does not offer process {proc!r}")
                    ids = tuple(dict.fromkeys(group))
                else:
                    ids = tuple(s.id for s in stations.values() if proc in s.processes)
                    if not ids:
                        raise self.fail(f"{sk}.process", f"no station offers process {proc!r}")
                steps.append(RouteStep(proc, ids))
            out[pid] = Product(pid, self.text(t, "name", k, pid) or pid, tuple(steps))
        return out

    def orders(self, products: dict[str, Product]) -> list[Order]:
        out: list[Order] = []
        for i, t in enumerate(self.array_of_tables("order")):
            oid = self.new_id(t, f"order[{i}]")
            k = f"order[{i}] ({oid})"
            self.check_keys(t, k, {"id", "product", "quantity", "release_h", "due_h"})
            prod = self.req(t, "product", k)
            if prod not in products:
                raise self.fail(f"{k}.product", f"unknown product {prod!r}")
            release = self.number(t, "release_h", k, 0.0) * 3600.0
            due = self.number(t, "due_h", k, math.inf, allow_inf=True) * 3600.0
            out.append(Order(oid, prod, self.integer(t, "quantity", k, 1, minimum=1),
                             release, due))
        return out

    def generator(self, products: dict[str, Product]) -> OrderGenerator | None:
        if "orders" not in self.doc:
            return None
        k = "orders"
        t = self.table(self.doc["orders"], k)
        self.check_keys(t, k, {"arrival", "interarrival_min", "mix", "quantity", "due_h",
                               "initial", "max_orders"})
        arrival = t.get("arrival", "poisson")
        if arrival not in ARRIVALS:
            raise self.fail(f"{k}.arrival", f"unknown arrival process {arrival!r} "
                                            f"(expected one of {', '.join(ARRIVALS)})")
        mix_raw = self.table(self.req(t, "mix", k), f"{k}.mix")
        if not mix_raw:
            raise self.fail(f"{k}.mix", "must name at least one product")
        mix: dict[str, float] = {}
        for pid in mix_raw:
            if pid not in products:
                raise self.fail(f"{k}.mix", f"unknown product {pid!r}")
            mix[pid] = self.number(mix_raw, pid, f"{k}.mix")
        if sum(mix.values()) <= 0:
            raise self.fail(f"{k}.mix", "weights must not all be zero")
        qty = t.get("quantity", [1, 1])
        if isinstance(qty, int) and not isinstance(qty, bool):
            qty = [qty, qty]
        if (not isinstance(qty, list) or len(qty) != 2
                or not all(isinstance(q, int) and not isinstance(q, bool) for q in qty)
                or qty[0] < 1 or qty[1] < qty[0]):
            raise self.fail(f"{k}.quantity", f"must be [min, max] integers >= 1, got {qty!r}")
        due = t.get("due_h", [4.0, 8.0])
        if (not isinstance(due, list) or len(due) != 2
                or not all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in due)
                or due[0] < 0 or due[1] < due[0]):
            raise self.fail(f"{k}.due_h", f"must be [min, max] hours >= 0, got {due!r}")
        return OrderGenerator(
            arrival=arrival,
            interarrival_min=self.number(t, "interarrival_min", k, positive=True),
            mix=mix,
            quantity=(qty[0], qty[1]),
            due_h=(float(due[0]), float(due[1])),
            initial=self.integer(t, "initial", k, 0),
            max_orders=self.integer(t, "max_orders", k, 0),
        )

    def check_connected(self, ws: Workshop) -> None:
        """With AGVs, every aisle node (in particular those a station, buffer or AGV uses)
        must be reachable from every other."""
        attached: list[tuple[str, str]] = (
            [(f"station {s.id}", s.node) for s in ws.stations.values()]
            + [(f"buffer {b.id}", b.node) for b in ws.buffers.values()]
            + [(f"agv {a.id} home", a.home) for a in ws.agvs.values()]
        )
        if not attached or not ws.agvs:
            return
        first_who, first = attached[0]
        reach = ws.reachable_from(first)
        for who, node in attached[1:]:
            if node not in reach:
                raise self.fail(
                    "aisles.edges",
                    f"aisle node {node!r} ({who}) is unreachable from node {first!r} "
                    f"({first_who}); connect it with an edge",
                )
        for node in ws.nodes:
            if node not in reach:
                raise self.fail(
                    "aisles.edges",
                    f"aisle node {node!r} is unreachable from node {first!r} ({first_who}); "
                    "connect it with an edge or remove it",
                )


def _tname(v: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string"}.get(type(v), type(v).__name__)
