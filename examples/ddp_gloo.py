"""``Regularized`` under ``DistributedDataParallel``: two CPU processes (gloo), each on its own
half of the data, end with bit-identical weights.

DDP averages the data-loss gradients across processes during ``backward``; every process then
takes the same step, penalty included (here an L1 term by the proximal rule and an L2 term by the
gradient rule), so the replicas never drift apart. The penalty terms are given the wrapped module
(``ddp.module``), whose parameter names carry no ``module.`` prefix. The script also checks that
the run equals a single process on all the data, to float64 rounding (the all-reduce sums in
another order).

Run: ``python examples/ddp_gloo.py``.
"""

from __future__ import annotations

import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from reglab import L1, L2, Regularized

WORLD_SIZE = 2


def data(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 6, generator=g, dtype=torch.float64)
    return X, X[:, :2].sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)


def make_model_and_optimizer() -> tuple[torch.nn.Module, Regularized]:
    torch.manual_seed(0)  # the same initial weights in every process
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    return model, Regularized(torch.optim.SGD(model.parameters(), lr=0.05), model,
                              [L1(0.01, update="proximal"), L2(0.005)])


def train(opt: torch.optim.Optimizer, forward: torch.nn.Module, X: torch.Tensor, y: torch.Tensor,
          steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(forward(X), y).backward()
        opt.step()


def worker(rank: int, steps: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(out_dir, 'rendezvous')}",
                            rank=rank, world_size=WORLD_SIZE)
    try:
        model, opt = make_model_and_optimizer()
        ddp = DistributedDataParallel(model)
        X, y = data()
        mine = slice(rank, None, WORLD_SIZE)  # this process's half of the samples
        train(opt, ddp, X[mine], y[mine], steps)
        torch.save(model.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def main(steps: int = 40) -> dict[str, torch.Tensor]:
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(worker, args=(steps, out_dir), nprocs=WORLD_SIZE, join=True)
        states = [torch.load(os.path.join(out_dir, f"rank{r}.pt"), weights_only=True) for r in range(WORLD_SIZE)]
    assert all(torch.equal(states[0][k], s[k]) for s in states[1:] for k in states[0]), "the replicas drifted apart"
    model, opt = make_model_and_optimizer()
    train(opt, model, *data(), steps)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(states[0][k], v, rtol=1e-10, atol=1e-12)
    zeros = int(sum((v == 0).sum() for k, v in states[0].items() if k.endswith("weight")))
    print(f"DDP (gloo, {WORLD_SIZE} processes), {steps} steps under Regularized: the ranks' weights are "
          f"bit-identical and equal a single process on all the data; {zeros} weights exactly zero")
    return states[0]


if __name__ == "__main__":
    main()
