"""The one torch training loop of the twin's nets: Adam over epochs, whole data or minibatches.

The PMs, the recommender and the verification nets all train the same way: per epoch,
Adam steps on the loss of the whole data or of consecutive minibatches of a sample order;
the epoch's loss is the mean over samples. :func:`adam_epochs` is that loop as a generator
that yields each epoch's loss, so a caller records ``loss_curve_``, reports progress or
stops between epochs (closing the generator). Seeding stays with the caller: the loop draws
no random numbers itself, only the sample orders the caller passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def adam_epochs(
    params: Iterable[torch.nn.Parameter],
    loss: Callable[[np.ndarray | None], torch.Tensor],
    epochs: int,
    *,
    lr: float,
    weight_decay: float = 0.0,
    batch_size: int = 0,
    orders: Iterable[np.ndarray] | None = None,
) -> Iterator[float]:
    """Train ``params`` with Adam for ``epochs`` epochs; yield each epoch's mean loss.

    ``loss(idx)``: the mean loss over the samples ``idx`` (None: all the data).
    Without ``orders``: one step per epoch on the whole data. With ``orders`` (one sample
    order per epoch, e.g. ``rng.permutation(n)``): a step on each ``batch_size`` slice of
    the epoch's order; the epoch's loss weighs each batch by its size.
    """
    import torch

    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if orders is None:
        for _ in range(epochs):
            opt.zero_grad()
            value = loss(None)
            value.backward()
            opt.step()
            yield float(value.detach())
        return
    for _, order in zip(range(epochs), orders):
        total = 0.0
        for lo in range(0, len(order), batch_size):
            idx = order[lo:lo + batch_size]
            opt.zero_grad()
            value = loss(idx)
            value.backward()
            opt.step()
            total += float(value.detach()) * len(idx)
        yield total / max(len(order), 1)


def reshuffled(rng: np.random.Generator, n: int) -> Iterator[np.ndarray]:
    """One order of ``n`` samples, shuffled again (in place) for every epoch.

    Each epoch's order differs from ``rng.permutation(n)``'s for the same draws: the
    recommender has always trained in this order, so its trained results stay the same.
    """
    order = np.arange(n)
    while True:
        rng.shuffle(order)
        yield order


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` (at least 1) for the block, then restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
