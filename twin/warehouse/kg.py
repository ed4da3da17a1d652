"""The knowledge graph of a shop's manufacturing resources (paper 5.1, Fig. 8), in RDF.

Nodes: stations, machines, processes, AGVs, WIP and states, typed by the classes in
:data:`NS` (``dmw:Station`` ...). Relations, as in the paper:

* ``WIP beTransportedby AGV`` and ``WIP beProcessedin Station`` (from the recording),
* ``Station hasProcess Process`` (from the workshop),
* ``Station beTransportedto AGV`` (the AGVs that served the station, from the recording),
* ``Machine isLocatedin Station`` (one machine per station, of the station's type),
* ``Machine / WIP / AGV hasStatus State`` (the state at the end of the recording).

Serialised as Turtle (sorted, so the same shop gives the same bytes); queried with SPARQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from twin.workshop import Workshop

if TYPE_CHECKING:
    from rdflib import Graph

    from twin.recording import Recording

NS = "https://dmw-twin.example/ns#"
RELATIONS: tuple[str, ...] = (
    "beTransportedby", "beProcessedin", "hasProcess", "beTransportedto", "isLocatedin", "hasStatus",
)
#: At most this many WIP nodes (the latest) go into a package's graph: relations, not a log.
MAX_WIP = 60


def build_graph(ws: Workshop, rec: Recording | None = None) -> Graph:
    """The resource graph of ``ws``; with ``rec`` also the WIP/AGV relations and states."""
    from rdflib import RDF, RDFS, Graph, Literal, Namespace

    dmw = Namespace(NS)
    g = Graph()
    g.bind("dmw", dmw)
    for cls in ("Station", "Machine", "Process", "AGV", "WIP", "State", "Product"):
        g.add((dmw[cls], RDF.type, RDFS.Class))
    for st in ws.stations.values():
        s, m = dmw[f"Station_{st.id}"], dmw[f"Machine_{st.id}"]
        g.add((s, RDF.type, dmw.Station))
        g.add((s, RDFS.label, Literal(st.name)))
        g.add((s, dmw.stationType, Literal(st.type)))
        g.add((m, RDF.type, dmw.Machine))
        g.add((m, dmw.machineType, Literal(st.type)))
        g.add((m, dmw.isLocatedin, s))
        for proc, cycle in st.processes.items():
            p = dmw[f"Process_{proc}"]
            g.add((p, RDF.type, dmw.Process))
            g.add((s, dmw.hasProcess, p))
            g.add((s, dmw[f"cycleTime_{proc}"], Literal(float(cycle))))
    for prod in ws.products.values():
        pr = dmw[f"Product_{prod.id}"]
        g.add((pr, RDF.type, dmw.Product))
        for i, step in enumerate(prod.route):
            g.add((pr, dmw[f"step{i + 1:02d}"], dmw[f"Process_{step.process}"]))
    for agv in ws.agvs.values():
        g.add((dmw[f"AGV_{agv.id}"], RDF.type, dmw.AGV))
    if rec is not None:
        _add_recording(g, dmw, ws, rec)
    return g


def _add_recording(g: Graph, dmw: Any, ws: Workshop, rec: Recording) -> None:
    from rdflib import RDF

    cols = rec.columns()
    dec = cols.strings
    kinds = {k: cols.code(k) for k in ("station", "agv", "wip")}
    # AGVs that served each station
    agv_rows = np.flatnonzero((cols.kind == kinds["agv"]) & (cols.station > 0))
    for a, s in sorted({(dec[cols.entity[i]], dec[cols.station[i]]) for i in agv_rows}):
        if s in ws.stations:
            g.add((dmw[f"Station_{s}"], dmw.beTransportedto, dmw[f"AGV_{a}"]))
    # the latest WIP: where processed, by which AGV carried
    wip_rows = np.flatnonzero(cols.kind == kinds["wip"])
    latest: list[str] = []
    for code in cols.entity[wip_rows][::-1]:
        w = dec[code]
        if w not in latest:
            latest.append(w)
            if len(latest) >= MAX_WIP:
                break
    keep = set(latest)
    for i in wip_rows:
        w = dec[cols.entity[i]]
        if w not in keep:
            continue
        node = dmw[f"WIP_{w}"]
        g.add((node, RDF.type, dmw.WIP))
        if cols.station[i] > 0 and dec[cols.state[i]] == "processing":
            g.add((node, dmw.beProcessedin, dmw[f"Station_{dec[cols.station[i]]}"]))
        if cols.agv[i] > 0:
            g.add((node, dmw.beTransportedby, dmw[f"AGV_{dec[cols.agv[i]]}"]))
    # states at the end of the recording
    end = rec.state_at(rec.time_range[1])
    for ent, ev in sorted(end.entities.items()) if hasattr(end, "entities") else []:
        _status(g, dmw, ws, ent, ev.kind, ev.state, keep)


def _status(g: Graph, dmw: Any, ws: Workshop, ent: str, kind: str, state: str, wips: set[str]) -> None:
    from rdflib import RDF

    subject = {"station": f"Machine_{ent}", "agv": f"AGV_{ent}", "wip": f"WIP_{ent}"}.get(kind)
    if subject is None or (kind == "wip" and ent not in wips) or (kind == "station" and ent not in ws.stations):
        return
    st = dmw[f"State_{state}"]
    g.add((st, RDF.type, dmw.State))
    g.add((dmw[subject], dmw.hasStatus, st))


def to_turtle(g: Graph) -> bytes:
    """Turtle bytes with the triples in sorted order (same graph, same bytes)."""
    lines = [f"@prefix dmw: <{NS}> .",
             "@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .",
             "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .",
             "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> ."]
    for s, p, o in sorted(g, key=lambda t: (str(t[0]), str(t[1]), str(t[2]))):
        lines.append(f"{s.n3(g.namespace_manager)} {p.n3(g.namespace_manager)} {o.n3(g.namespace_manager)} .")
    return ("\n".join(lines) + "\n").encode()


def parse_turtle(data: bytes, where: str) -> Graph:
    """Parse a package's graph; ValueError naming ``where`` if it is not Turtle."""
    from rdflib import Graph

    g = Graph()
    try:
        g.parse(data=data.decode("utf-8"), format="turtle")
    except Exception as exc:  # noqa: BLE001 - rdflib raises many kinds on bad input
        raise ValueError(f"{where}: not a Turtle graph ({exc})") from exc
    return g


def query(g: Graph, sparql: str) -> tuple[list[str], list[list[str]]]:
    """Run a SPARQL SELECT/ASK on ``g``: (column names, rows as text). ``dmw:`` is predefined.

    Raises ValueError with the parser's message on a malformed query."""
    from rdflib import Namespace

    try:
        result = g.query(sparql, initNs={"dmw": Namespace(NS)})
    except Exception as exc:  # noqa: BLE001 - pyparsing/rdflib errors
        raise ValueError(f"SPARQL: {exc}") from exc
    if result.type == "ASK":
        return ["ask"], [[str(bool(result.askAnswer)).lower()]]
    if result.type != "SELECT":
        raise ValueError("SPARQL: only SELECT and ASK queries are answered")
    names = [str(v) for v in result.vars or []]
    rows = [[_short(v) for v in row] for row in result]
    return names, rows


def _short(v: Any) -> str:
    text = "" if v is None else str(v)
    return "dmw:" + text[len(NS):] if text.startswith(NS) else text


def summary(g: Graph) -> dict[str, int]:
    """Count of nodes per class and of edges per relation (for a package's details)."""
    from rdflib import RDF, URIRef

    out: dict[str, int] = {}
    for cls in ("Station", "Machine", "Process", "AGV", "WIP", "State", "Product"):
        out[cls] = sum(1 for _ in g.subjects(RDF.type, URIRef(NS + cls)))
    for rel in RELATIONS:
        out[rel] = sum(1 for _ in g.triples((None, URIRef(NS + rel), None)))
    return out
