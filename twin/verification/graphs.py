"""Production-process graphs per time window (paper §4.2 (1)-(2), Definition 3).

For each window of the shift one graph: nodes are the stations, the processes, the AGVs
and the orders and WIP active in the window; edges are the relations active in it:

* WIP *processed in* station (an operation of the WIP at the station overlaps the window),
* WIP *transported by* AGV, WIP *belongs to* order,
* station *has process* (the station did that process in the window),
* station → station *material flow* (a part finished at one was delivered to the other).

Station nodes come first, in a fixed order, so that node ``i < n_stations`` is always the
same station. A station node carries its context: the work delivered to it in the
window, the parts it had waiting when the window began (its backlog; standardised with the
*physical* run's scale) and its reference cycle time — never its own response in the
window (state shares, queue, cycle ratio): that is what the GCN has to infer from the graph. Edges are stored in both directions
(GCNConv adds self-loops and normalises with the degree matrix, D^-½ A D^-½).

**No leakage.** The full window graph still shows what each station did (the WIP it
processed, its processes, the parts it sent on, the operation counts on the process nodes,
its backlog). The GCN never infers a station from the full graph: it infers station ``i``
from :func:`masked_for` ``(graph, i)``, the same graph without everything station ``i``'s
own events put there — its *processed in* and *has process* edges, its outgoing material
flow, its operations in the process-node counts (and in their normalisation), the WIP
nodes that are in the window only because ``i`` worked on them, and its backlog. What
remains is ``i``'s context: the work delivered to it, who delivered it, and what the rest
of the shop did.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from twin.verification.data import ShopRun
from twin.verification.series import CycleReference, window_starts

NODE_TYPES: tuple[str, ...] = ("station", "process", "agv", "order", "wip")
#: Station block: delivered work, backlog at the window start, log reference cycle time.
STATION_BLOCK = 3
#: Width of the generic block (process / AGV / order / WIP features).
GENERIC = 5
#: Node feature width: type one-hot + station block + generic block.
NODE_DIM = len(NODE_TYPES) + STATION_BLOCK + GENERIC


#: Column of a station node's backlog at the window start (masked for the target station).
BACKLOG_COL = len(NODE_TYPES) + 1
#: Column of the generic block that process nodes use for their operation count and WIP
#: nodes for their "processed in the window" flag.
COUNT_COL = len(NODE_TYPES) + STATION_BLOCK


@dataclass
class ProcessGraph:
    """One window's graph: ``x`` [N, NODE_DIM], ``edge_index`` [2, E] (long), and the
    number of station nodes (the first ``n_stations`` rows).

    What :func:`masked_for` needs to remove a station's own behaviour: ``edge_owner`` [E]
    the station (index) whose own events made each edge (-1: none), ``proc_counts`` [P, S]
    operations of each process finished by each station in the window, ``proc_mean`` [S, P]
    the mean count over the run's windows without that station (normaliser),
    ``wip_owner`` [N] for each WIP node processed in the window at one station only, that
    station (-1 otherwise)."""

    x: torch.Tensor
    edge_index: torch.Tensor
    n_stations: int
    t0: float
    t1: float
    edge_owner: torch.Tensor | None = None
    proc_counts: np.ndarray | None = None
    proc_mean: np.ndarray | None = None
    wip_owner: torch.Tensor | None = None


def masked_for(g: ProcessGraph, station: int) -> ProcessGraph:
    """The graph the GCN infers station ``station`` (node index) from: ``g`` without what
    that station's own events put into it (see the module docstring). Node ``station``
    keeps its delivered work and reference cycle time; its backlog is set to the physical
    mean (0, standardised)."""
    if g.edge_owner is None or g.proc_counts is None or g.proc_mean is None or g.wip_owner is None:
        raise ValueError("graph was built without ownership information")
    x = g.x.clone()
    S, P = g.n_stations, g.proc_counts.shape[0]
    x[station, BACKLOG_COL] = 0.0
    others = g.proc_counts.sum(axis=1) - g.proc_counts[:, station]
    x[S : S + P, COUNT_COL] = torch.from_numpy(
        (others / g.proc_mean[station] - 1.0).astype(np.float32))
    x[g.wip_owner == station, COUNT_COL] = 0.0
    keep = g.edge_owner != station
    return ProcessGraph(x, g.edge_index[:, keep], S, g.t0, g.t1)


def build_graphs(
    run: ShopRun,
    station_ctx: np.ndarray,
    agv_shares: np.ndarray,
    edges_s: np.ndarray,
    span: int,
    stride: int,
    processes: list[str],
    ref: CycleReference,
) -> list[ProcessGraph]:
    """Graphs of all windows of ``run``.

    ``station_ctx`` [S, W, 2] standardised delivered work and backlog, ``agv_shares``
    [A, W, 5], ``edges_s`` the bin edges [s]; windows are ``span`` bins every ``stride``.
    ``processes`` (from the physical run) fixes the process nodes.
    """
    starts = window_starts(len(edges_s) - 1, span, stride)
    w0 = edges_s[starts]
    w1 = edges_s[starts + span]
    W = len(starts)
    S, P, A = len(run.stations), len(processes), len(run.agvs)
    st_idx = {s: i for i, s in enumerate(run.stations)}
    pr_idx = {p: S + i for i, p in enumerate(processes)}
    agv_idx = {a: S + P + i for i, a in enumerate(run.agvs)}

    def windows_of(a: float, b: float) -> range:
        """Windows whose [w0, w1) overlaps [a, b] (an instant when a == b)."""
        lo = int(np.searchsorted(w1, a, side="right"))
        hi = int(np.searchsorted(w0, b, side="right"))
        return range(lo, min(hi, W))

    # relation -> the station whose own events made it (-1: none), per window
    rel: list[dict[tuple[str, str], int]] = [{} for _ in range(W)]
    wip_flags: list[dict[str, list[float]]] = [defaultdict(lambda: [0.0] * GENERIC) for _ in range(W)]
    # stations that processed the WIP in the window; WIPs there for other reasons
    wip_by: list[dict[str, set[int]]] = [defaultdict(set) for _ in range(W)]
    wip_other: list[set[str]] = [set() for _ in range(W)]
    proc_ops = np.zeros((W, P, S))
    for op in run.operations:
        si = st_idx.get(op.station, -1)
        for w in windows_of(op.start, op.end):
            rel[w][(f"w:{op.wip}", f"s:{op.station}")] = si
            rel[w][(f"s:{op.station}", f"p:{op.process}")] = si
            wip_flags[w][op.wip][0] = 1.0
            wip_by[w][op.wip].add(si)
            if w0[w] <= op.end < w1[w] and op.process in pr_idx and si >= 0:
                proc_ops[w, pr_idx[op.process] - S, si] += 1
    for tr in run.transports:
        for w in windows_of(tr.start, tr.end):
            rel[w][(f"w:{tr.wip}", f"a:{tr.agv}")] = -1
            wip_flags[w][tr.wip][1] = 1.0
            wip_other[w].add(tr.wip)
    for arr in run.arrivals:
        for w in windows_of(arr.t, arr.t):
            wip_flags[w][arr.wip][2] = 1.0
            wip_other[w].add(arr.wip)
            if arr.came_from and arr.came_from != arr.station:
                rel[w][(f"s:{arr.came_from}", f"s:{arr.station}")] = st_idx.get(arr.came_from, -1)
    order_flags: list[dict[str, list[float]]] = [defaultdict(lambda: [0.0] * GENERIC) for _ in range(W)]
    for order, (released, done) in run.order_times.items():
        end = done if done is not None else run.t_end
        for w in windows_of(released, end):
            f = order_flags[w][order]
            f[0] = 1.0
            f[1] = float(w0[w] <= released < w1[w])
            f[2] = float(done is not None and w0[w] <= done < w1[w])
    # mean count per process over the windows, without each station's own operations [S, P]
    total = proc_ops.sum(axis=2)  # [W, P]
    mean_excl = np.maximum(1.0, (total[:, :, None] - proc_ops).mean(axis=0).T) if W else np.ones((S, P))
    mean_all = np.maximum(1.0, total.mean(axis=0)) if W else np.ones(P)
    proc_cycle: dict[str, list[float]] = defaultdict(list)
    for key, c in ref.by_op.items():
        proc_cycle[key.split("|", 1)[1]].append(c)
    log_ref = {p: np.log(np.mean(proc_cycle[p]) / 600.0) if proc_cycle.get(p) else 0.0 for p in processes}
    st_log_ref = ref.log_station_cycle(run.stations)

    graphs = []
    for w in range(W):
        extra: dict[str, int] = {}
        rows: list[np.ndarray] = []

        def node(key: str) -> int | None:
            kind, name = key[0], key[2:]
            if kind == "s":
                return st_idx.get(name)
            if kind == "p":
                return pr_idx.get(name)
            if kind == "a":
                return agv_idx.get(name)
            if key not in extra:
                extra[key] = S + P + A + len(extra)
                vec = np.zeros(NODE_DIM, dtype=np.float32)
                if kind == "w":
                    vec[4] = 1.0
                    vec[len(NODE_TYPES) + STATION_BLOCK :] = wip_flags[w][name]
                else:
                    vec[3] = 1.0
                    vec[len(NODE_TYPES) + STATION_BLOCK :] = order_flags[w][name]
                rows.append(vec)
            return extra[key]

        sole: dict[str, int] = {}
        for wip in list(wip_flags[w]):
            by = wip_by[w].get(wip, set())
            sole[wip] = next(iter(by)) if len(by) == 1 else -1
            order = run.wip_order.get(wip)
            if order:
                # a WIP only processed at one station is in the window because of it
                owner = sole[wip] if wip not in wip_other[w] else -1
                rel[w][(f"w:{wip}", f"o:{order}")] = owner
        pairs, owners = [], []
        for (a, b), owner in sorted(rel[w].items()):
            ia, ib = node(a), node(b)
            if ia is not None and ib is not None and ia != ib:
                pairs.append((ia, ib))
                owners.append(owner)
        wip_owner = np.full(S + P + A + len(extra), -1, dtype=np.int64)
        for key, i in extra.items():
            if key[0] == "w":
                wip_owner[i] = sole.get(key[2:], -1)
        x = np.zeros((S + P + A + len(extra), NODE_DIM), dtype=np.float32)
        x[:S, 0] = 1.0
        b0 = len(NODE_TYPES)
        x[:S, b0 : b0 + 2] = station_ctx[:, w, :]
        x[:S, b0 + 2] = st_log_ref
        g0 = b0 + STATION_BLOCK
        for p, i in pr_idx.items():
            x[i, 1] = 1.0
            x[i, g0] = total[w, i - S] / mean_all[i - S] - 1.0
            x[i, g0 + 1] = log_ref[p]
        for a, i in agv_idx.items():
            x[i, 2] = 1.0
            x[i, g0 : g0 + agv_shares.shape[2]] = agv_shares[i - S - P, w, :GENERIC]
        if rows:
            x[S + P + A :] = np.stack(rows)
        ei = np.array(pairs, dtype=np.int64).T if pairs else np.zeros((2, 0), dtype=np.int64)
        ei = np.concatenate([ei, ei[::-1]], axis=1)
        own = np.array(owners + owners, dtype=np.int64)
        graphs.append(
            ProcessGraph(torch.from_numpy(x), torch.from_numpy(ei), S, float(w0[w]), float(w1[w]),
                         torch.from_numpy(own), proc_ops[w], mean_excl, torch.from_numpy(wip_owner))
        )
    return graphs
