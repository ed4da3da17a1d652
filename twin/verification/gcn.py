"""Spatial characteristics: a GCN over the production-process graphs (paper §4.2 1)).

:class:`StationGCN` reads a window's graph — what was delivered to each station, which WIP
it processed, which AGVs carried them, which orders they belong to, which stations fed
which — and infers how each station behaved in that window (its state shares, queue and
cycle ratio, :data:`series.BEHAVIOUR`). It never sees a station's own behaviour, only its
graph context (each station is inferred from its own masked copy of the window graph,
:func:`graphs.masked_for`, see :func:`batch_targets`), so it learns the physical shop's *spatial response*: how a station of this
shop behaves given what happens around it.

Trained on the physical run only (self-supervised: the physical shop's own behaviour is
the target), it is applied unchanged ("migrated") to the physical and the virtual run. A
station's spatial characteristics are its mean residuals, actual minus inferred behaviour
(shop units): knock-on effects that the graph context explains cancel out, a station that
itself behaves differently keeps its residual.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GCNConv

from twin.verification.graphs import NODE_DIM, ProcessGraph, masked_for
from twin.verification.series import BEHAVIOUR


class StationGCN(nn.Module):
    """GCN inferring station behaviour from the graph.

    Shapes: ``x`` [N, in_dim] node features, ``edge_index`` [2, E], ``stations`` [M] long
    indices of the station nodes; returns [M, out_dim] (standardised units).
    """

    def __init__(
        self, in_dim: int = NODE_DIM, hidden: int = 16, out_dim: int = len(BEHAVIOUR),
        layers: int = 2,
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.convs = nn.ModuleList(GCNConv(hidden, hidden) for _ in range(layers))
        self.head = nn.Linear(hidden + in_dim, out_dim)

    def embed(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Node embeddings [N, hidden]."""
        h = torch.relu(self.inp(x))
        for conv in self.convs:
            h = h + torch.relu(conv(h, edge_index))  # residual: a node keeps its own state
        return h

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, stations: torch.Tensor
    ) -> torch.Tensor:
        h = self.embed(x, edge_index)
        return self.head(torch.cat([h[stations], x[stations]], dim=1))


def batch_graphs(graphs: list[ProcessGraph]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack window graphs into one block-diagonal graph: (x, edge_index, station rows).

    Station rows come out window-major: rows ``[w * S, (w + 1) * S)`` are window ``w``.
    """
    xs, eis, st = [], [], []
    offset = 0
    for g in graphs:
        xs.append(g.x)
        eis.append(g.edge_index + offset)
        st.append(torch.arange(g.n_stations) + offset)
        offset += g.x.shape[0]
    return torch.cat(xs), torch.cat(eis, dim=1), torch.cat(st)


def batch_targets(graphs: list[ProcessGraph]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Like :func:`batch_graphs`, but every station of every window is inferred from its
    own masked graph (:func:`graphs.masked_for`): one copy of each window graph per
    station, without that station's own behaviour. Rows come out window-major like
    :func:`batch_graphs`: row ``w * S + i`` is station ``i`` in window ``w``, read from the
    copy masked for ``i``."""
    xs, eis, rows = [], [], []
    offset = 0
    for g in graphs:
        for i in range(g.n_stations):
            m = masked_for(g, i)
            xs.append(m.x)
            eis.append(m.edge_index + offset)
            rows.append(offset + i)
            offset += m.x.shape[0]
    if not xs:
        return torch.zeros((0, NODE_DIM)), torch.zeros((2, 0), dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(xs), torch.cat(eis, dim=1), torch.tensor(rows, dtype=torch.long)
