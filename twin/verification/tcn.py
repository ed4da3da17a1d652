"""Temporal characteristics: a TCN over per-station time series (paper §4.2 2)).

:class:`StationTCN` is a stack of dilated causal 1-D convolutions (Bai et al. 2018): the
output at bin t only sees bins <= t, the receptive field doubles per level. It reads a
station's *demand history* — work delivered to it, work delivered to the whole shop, its
reference cycle time — and infers its behaviour in bin t (state shares, queue, cycle
ratio): the physical shop's learnt *temporal response*, one net shared by all stations.

Trained on the physical run (self-supervised), applied unchanged to both runs. A station's
temporal characteristics are its mean residuals, actual minus inferred behaviour (shop
units): a station whose neighbours changed sees different demand and is inferred
accordingly; a station that itself responds differently keeps its residual.
"""

from __future__ import annotations

import torch
from torch import nn

from twin.verification.series import BEHAVIOUR

#: Input channels: own delivered work, shop-wide delivered work, log reference cycle.
TCN_INPUTS = 3


class CausalBlock(nn.Module):
    """Two dilated causal convolutions with a residual connection; [B, C, T] -> [B, C', T]."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, dilation=dilation)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(nn.functional.pad(x, (self.pad, 0))))
        h = torch.relu(self.conv2(nn.functional.pad(h, (self.pad, 0))))
        return torch.relu(h + self.skip(x))


class StationTCN(nn.Module):
    """Dilated causal TCN: demand series [B, in, T] -> behaviour series [B, out, T].

    Output[:, :, t] depends on input[:, :, :t + 1] only (causal). Receptive field:
    1 + 2 (kernel - 1) (2^levels - 1) bins.
    """

    def __init__(
        self, channels: int = TCN_INPUTS, hidden: int = 16, levels: int = 3, kernel: int = 3,
        out: int = len(BEHAVIOUR),
    ) -> None:
        super().__init__()
        blocks = []
        c = channels
        for i in range(levels):
            blocks.append(CausalBlock(c, hidden, kernel, 2**i))
            c = hidden
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv1d(hidden, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))
