"""A skorch estimator trained under ``Regularized``, watched by reglab.

skorch builds its optimizer in ``initialize_optimizer``; a subclass wraps it there, with the penalty
terms as an estimator parameter. skorch steps through a closure (``optimizer.step(step_fn)``), and
``watch`` records each row's data-loss gradient at that row's weights: the script checks it against
autograd on the batch of that step (no shuffling: step ``s`` sees batch ``s mod`` batches per epoch).

Run: ``python examples/skorch_example.py``.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNetRegressor

from reglab import L1, Regularized, Trajectory, watch


class RegularizedNetRegressor(NeuralNetRegressor):
    """skorch's ``NeuralNetRegressor`` whose optimizer applies ``penalties`` by their update rules."""

    def __init__(self, *args, penalties=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.penalties = penalties

    def initialize_optimizer(self, *args, **kwargs) -> RegularizedNetRegressor:
        super().initialize_optimizer(*args, **kwargs)
        self.optimizer_ = Regularized(self.optimizer_, self.module_, list(self.penalties))
        return self


def main(epochs: int = 20, n: int = 128, batch_size: int = 32) -> Trajectory:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 8))
    y = X[:, :2] @ np.array([[1.5], [-1.0]]) + 0.1 * rng.standard_normal((n, 1))
    torch.manual_seed(0)
    net = RegularizedNetRegressor(torch.nn.Linear(8, 1, dtype=torch.float64), penalties=[L1(0.05, update="proximal")],
                                  max_epochs=epochs, lr=0.05, batch_size=batch_size, train_split=None, verbose=0)
    net.initialize()
    recorder = watch(net.module_, net.optimizer_)
    net.partial_fit(X, y)  # partial_fit: keeps the module and optimizer that watch is attached to
    traj = recorder.close().trajectory()
    per_epoch = -(-n // batch_size)
    assert traj.steps[-1] == epochs * per_epoch
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for row, step in enumerate(traj.steps[:-1]):
        rows = slice((step % per_epoch) * batch_size, (step % per_epoch + 1) * batch_size)
        w = torch.tensor(traj.values[row], requires_grad=True)
        ((Xt[rows] @ w[:-1] + w[-1]).unsqueeze(1) - yt[rows]).square().mean().backward()
        np.testing.assert_allclose(traj.grads[row], w.grad.numpy(), rtol=1e-10, atol=1e-12)
    zeros = int((traj.values[-1, :-1] == 0).sum())
    print(f"skorch, {epochs} epochs under Regularized(SGD, [L1 proximal]): each recorded gradient is the data "
          f"loss's at its row's weights; {zeros} of 8 weights exactly zero (6 features are noise)")
    return traj


if __name__ == "__main__":
    main()
