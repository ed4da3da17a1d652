"""The workshop model as data: the layout (GM) and the logic (LM) of one shop.

Plain dataclasses (stations, AGVs, buffers, the aisle network, products, orders, the
order generator) and :class:`WorkshopError`; no file formats. The loaders build these:
:func:`twin.workshop.load_workshop` (the TOML format, and the job-shop format through
:mod:`twin.jobshop`). Most code imports the names from :mod:`twin.workshop`, which
re-exports them.

Units everywhere: positions in metres on the floor plan (X right, Y up, Z up out of the
floor), headings in degrees counter-clockwise from +X, times in seconds unless the field
name says otherwise (``mtbf_h`` hours, ``mttr_min`` minutes).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from pathlib import Path

#: Station types the scene and the model warehouse know (one mesh/state machine per type).
STATION_TYPES: tuple[str, ...] = (
    "lathe",
    "machining_centre",
    "drill",
    "grinder",
    "deburring",
    "washer",
    "inspection",
    "assembly",
    "press",
    "screwing",
    "testing",
    "packing",
)
#: Kinds of storage: raw-material warehouse, finished-goods store, intermediate buffer.
BUFFER_KINDS: tuple[str, ...] = ("raw", "finished", "buffer")
#: Length units a mesh file may be drawn in, with their size in metres.
MESH_UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "ft": 0.3048}
UP_AXES: tuple[str, ...] = ("x", "y", "z", "-x", "-y", "-z")
#: Order arrival processes of the order generator.
ARRIVALS: tuple[str, ...] = ("poisson", "fixed")


class WorkshopError(ValueError):
    """A workshop file that cannot be loaded; ``str(err)`` names file, key and problem."""


@dataclass(frozen=True)
class MeshRef:
    """A mesh file for a station or AGV: ``path`` (absolute), drawn in ``units`` (m, mm,
    ...), multiplied by ``scale``, with ``up_axis`` pointing up in the file."""

    path: Path
    units: str = "m"
    scale: float = 1.0
    up_axis: str = "z"

    @property
    def metres_per_unit(self) -> float:
        """Factor that turns file coordinates into metres (units x scale)."""
        return MESH_UNITS[self.units] * self.scale


@dataclass(frozen=True)
class AisleNode:
    """A point of the aisle network at (x, y) metres."""

    id: str
    x: float
    y: float


@dataclass(frozen=True)
class Station:
    """A machine-tool or work station.

    Attributes:
        processes: process name -> nominal cycle time per part [s].
        setup_s: setup time when the process or product changes [s].
        mtbf_h: mean time between failures [h] (``inf`` = never fails).
        mttr_min: mean time to repair [min].
        node: aisle node where AGVs pick up and drop off.
        input_capacity: parts the input buffer holds (including those on their way).
        output_capacity: finished parts the output buffer holds before the station blocks.
    """

    id: str
    name: str
    type: str
    x: float
    y: float
    heading: float
    processes: dict[str, float]
    setup_s: float
    mtbf_h: float
    mttr_min: float
    node: str
    mesh: MeshRef | None = None
    input_capacity: int = 8
    output_capacity: int = 2


@dataclass(frozen=True)
class Agv:
    """An automated guided vehicle: ``speed`` [m/s], ``load_s``/``unload_s`` [s] per
    transfer, ``home`` aisle node where it parks, ``capacity`` parts per trip."""

    id: str
    name: str
    speed: float
    load_s: float
    unload_s: float
    home: str
    mesh: MeshRef | None = None
    capacity: int = 1


@dataclass(frozen=True)
class Buffer:
    """Storage: ``kind`` raw (material warehouse), finished (goods store) or buffer.
    ``capacity`` parts, 0 = unlimited."""

    id: str
    name: str
    kind: str
    x: float
    y: float
    node: str
    capacity: int = 0


@dataclass(frozen=True)
class RouteStep:
    """One operation of a route: ``process`` done on any one of ``stations``."""

    process: str
    stations: tuple[str, ...]


@dataclass(frozen=True)
class Product:
    """A part type and its process route (operations in order)."""

    id: str
    name: str
    route: tuple[RouteStep, ...]


@dataclass(frozen=True)
class Order:
    """A customer/production order: ``quantity`` parts of ``product`` released at
    ``release_s`` and due at ``due_s`` (``inf`` = no due date), seconds since shift start.

    ``wip_ids`` optionally fixes the ids of its WIP (job-shop jobs keep their names)."""

    id: str
    product: str
    quantity: int
    release_s: float = 0.0
    due_s: float = math.inf
    wip_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderGenerator:
    """Random orders over the shift.

    Attributes:
        arrival: ``poisson`` (exponential inter-arrival times) or ``fixed``.
        interarrival_min: mean time between order releases [min].
        mix: product id -> relative weight.
        quantity: (min, max) parts per order, uniform integer.
        due_h: (min, max) hours from release to due date, uniform.
        initial: orders released at t = 0 (a shift does not start empty).
        max_orders: stop after this many generated orders (0 = unlimited).
    """

    arrival: str
    interarrival_min: float
    mix: dict[str, float]
    quantity: tuple[int, int] = (1, 1)
    due_h: tuple[float, float] = (4.0, 8.0)
    initial: int = 0
    max_orders: int = 0


@dataclass
class Workshop:
    """One shop: layout, logic and where it came from.

    ``source_hash`` is the sha256 (hex) of the file's bytes, so recordings and model
    packages can tell which version of the workshop they belong to.
    ``transport`` is False for job-shop instances (parts move instantly, no AGVs).
    """

    name: str
    path: Path
    stations: dict[str, Station]
    agvs: dict[str, Agv]
    buffers: dict[str, Buffer]
    nodes: dict[str, AisleNode]
    edges: list[tuple[str, str]]
    products: dict[str, Product]
    orders: list[Order]
    source_hash: str
    order_generator: OrderGenerator | None = None
    title: str = ""
    description: str = ""
    floor: tuple[float, float] = (0.0, 0.0)
    format: str = "toml"
    transport: bool = True
    stochastic: bool = True
    _adjacency: dict[str, list[tuple[str, float]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    # -- aisle network ---------------------------------------------------------------
    def adjacency(self) -> dict[str, list[tuple[str, float]]]:
        """node -> [(neighbour, length m)], edges are two-way."""
        if self._adjacency is None:
            adj: dict[str, list[tuple[str, float]]] = {n: [] for n in self.nodes}
            for a, b in self.edges:
                d = self.distance(a, b)
                adj[a].append((b, d))
                adj[b].append((a, d))
            self._adjacency = adj
        return self._adjacency

    def distance(self, a: str, b: str) -> float:
        """Straight-line distance between two aisle nodes [m]."""
        na, nb = self.nodes[a], self.nodes[b]
        return math.hypot(nb.x - na.x, nb.y - na.y)

    def shortest_path(self, a: str, b: str) -> tuple[list[str], float]:
        """Shortest aisle route from node ``a`` to ``b``: (nodes incl. both ends, metres).

        Raises KeyError if there is no route (loading guarantees there is one between
        every attached node)."""
        return _dijkstra(self.adjacency(), a, b)

    def reachable_from(self, start: str) -> set[str]:
        """All aisle nodes connected to ``start``."""
        adj = self.adjacency()
        seen = {start}
        todo = [start]
        while todo:
            n = todo.pop()
            for m, _ in adj[n]:
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    # -- convenience -----------------------------------------------------------------
    @property
    def station_ids(self) -> list[str]:
        return list(self.stations)

    def buffer_of_kind(self, kind: str) -> Buffer | None:
        """The first buffer of ``kind`` (raw / finished / buffer), or None."""
        for b in self.buffers.values():
            if b.kind == kind:
                return b
        return None

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) metres of everything placed on the floor."""
        xs = [s.x for s in self.stations.values()] + [b.x for b in self.buffers.values()]
        ys = [s.y for s in self.stations.values()] + [b.y for b in self.buffers.values()]
        xs += [n.x for n in self.nodes.values()]
        ys += [n.y for n in self.nodes.values()]
        if not xs:
            return (0.0, 0.0, 0.0, 0.0)
        return (min(xs), min(ys), max(xs), max(ys))


def _dijkstra(
    adj: dict[str, list[tuple[str, float]]], a: str, b: str
) -> tuple[list[str], float]:
    if a == b:
        return [a], 0.0
    dist = {a: 0.0}
    prev: dict[str, str] = {}
    heap = [(0.0, a)]
    done: set[str] = set()
    while heap:
        d, n = heapq.heappop(heap)
        if n in done:
            continue
        if n == b:
            path = [b]
            while path[-1] != a:
                path.append(prev[path[-1]])
            return path[::-1], d
        done.add(n)
        for m, w in adj[n]:
            nd = d + w
            if nd < dist.get(m, math.inf):
                dist[m] = nd
                prev[m] = n
                heapq.heappush(heap, (nd, m))
    raise KeyError(f"no aisle route from {a} to {b}")
