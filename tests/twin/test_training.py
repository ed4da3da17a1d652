"""The one training loop of the twin's nets: loss per epoch, minibatches, stopping early."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twin.training import adam_epochs, reshuffled, torch_threads


def _line(n: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of y = 2 x + 1 on [0, 1]."""
    x = torch.linspace(0.0, 1.0, n)[:, None]
    return x, 2.0 * x + 1.0


def test_full_batch_training_learns_and_reports_each_epochs_loss() -> None:
    torch.manual_seed(0)
    x, y = _line()
    net = torch.nn.Linear(1, 1)
    curve = list(adam_epochs(net.parameters(), lambda _all: torch.nn.functional.mse_loss(net(x), y),
                             300, lr=0.05))
    assert len(curve) == 300
    assert curve[-1] < 0.01 * curve[0]
    with torch.no_grad():
        assert float(torch.nn.functional.mse_loss(net(x), y)) < 0.01  # the net learnt the line


def test_an_epochs_minibatch_loss_is_the_mean_over_all_samples() -> None:
    torch.manual_seed(0)
    x, y = _line(50)
    net = torch.nn.Linear(1, 1)
    with torch.no_grad():
        whole = float(torch.nn.functional.mse_loss(net(x), y))

    def loss(idx: np.ndarray | None) -> torch.Tensor:
        b = torch.from_numpy(idx)
        return torch.nn.functional.mse_loss(net(x[b]), y[b])

    rng = np.random.default_rng(0)
    # lr 0: the net stays as it is, so each epoch sees the same loss however it is batched
    curve = list(adam_epochs(net.parameters(), loss, 3, lr=0.0, batch_size=16,
                             orders=(rng.permutation(50) for _ in range(3))))
    assert curve == pytest.approx([whole] * 3, rel=1e-5)


def test_stopping_between_epochs_draws_no_further_order() -> None:
    rng = np.random.default_rng(7)
    drawn: list[np.ndarray] = []

    def orders():  # noqa: ANN202
        for order in reshuffled(rng, 10):
            drawn.append(order.copy())
            yield order

    net = torch.nn.Linear(1, 1)
    x, y = _line(10)
    epochs = adam_epochs(net.parameters(), lambda idx: torch.nn.functional.mse_loss(net(x[idx]), y[idx]),
                         100, lr=0.01, batch_size=4, orders=orders())
    next(epochs), next(epochs)
    epochs.close()  # an abort between epochs
    assert len(drawn) == 2
    assert all(sorted(o) == list(range(10)) for o in drawn)  # every sample once per epoch
    assert not np.array_equal(drawn[0], drawn[1])


def test_torch_threads_are_set_for_the_block_and_restored_after_an_error() -> None:
    before = torch.get_num_threads()
    target = 2 if before == 1 else 1
    with pytest.raises(RuntimeError):
        with torch_threads(target):
            assert torch.get_num_threads() == target
            raise RuntimeError("the job failed")
    assert torch.get_num_threads() == before
