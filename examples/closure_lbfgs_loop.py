"""Training loops that step through a closure, ``opt.step(closure)``, watched by reglab.

Two loops over the same least-squares problem:

- SGD under ``Regularized`` with a proximal L1 term, stepping as Lightning does (the closure zeroes
  the gradients, computes the loss and calls ``backward``);
- L-BFGS under ``Regularized`` with an L2 term, which must step through a closure (its line search
  calls it again at trial points).

``watch`` records each row's data-loss gradient at that row's own weights: the recorder reads it
right after the closure's first call. The script checks that against autograd.

Run: ``python examples/closure_lbfgs_loop.py``.
"""

from __future__ import annotations

import numpy as np
import torch

from reglab import L1, L2, Regularized, Trajectory, watch


def data_gradient(values: np.ndarray, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """∇ of the mean squared error of ``Linear(p, 1)`` at the flat values ``[w (p), b]``."""
    w = torch.tensor(values, dtype=X.dtype, requires_grad=True)
    ((X @ w[:-1] + w[-1]).unsqueeze(1) - y).square().mean().backward()
    return w.grad.numpy()


def train(optimizer: str, steps: int, X: torch.Tensor, y: torch.Tensor) -> Trajectory:
    torch.manual_seed(0)
    model = torch.nn.Linear(X.shape[1], 1, dtype=X.dtype)
    if optimizer == "sgd":
        opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.05), model, [L1(0.05, update="proximal")])
    else:
        opt = Regularized(torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=5), model, [L2(0.05)])
    recorder = watch(model, opt)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (model(X) - y).square().mean()
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return recorder.close().trajectory()


def main(steps: int = 50) -> dict[str, Trajectory]:
    g = torch.Generator().manual_seed(1)
    X = torch.randn(64, 5, generator=g, dtype=torch.float64)
    y = X[:, :2].sum(dim=1, keepdim=True) + 0.1 * torch.randn(64, 1, generator=g, dtype=torch.float64)
    out = {}
    for optimizer in ("sgd", "lbfgs"):
        traj = train(optimizer, steps, X, y)
        for row in range(len(traj) - 1):  # the last row's gradient was never computed: the run ended
            np.testing.assert_allclose(traj.grads[row], data_gradient(traj.values[row], X, y), rtol=1e-10, atol=1e-12)
        print(f"{optimizer}: {len(traj) - 1} rows, each with the data-loss gradient at its own weights; "
              f"final weights {np.round(traj.values[-1], 3).tolist()}")
        out[optimizer] = traj
    return out


if __name__ == "__main__":
    main()
