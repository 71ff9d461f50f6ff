"""Decoupled L2 under OneCycleLR is AdamW: ``Regularized(Adam, [L2(λ, update="decoupled")])`` with
the schedule attached to the wrapper equals ``AdamW(weight_decay=2λ)`` with the same schedule, bit
for bit, at every step.

OneCycleLR changes each group's ``lr`` and Adam's ``betas`` at every step; the wrapper shares its
``param_groups`` with the inner Adam, so both the inner step and the decay read the scheduled
values, as AdamW's own step does. Weight decay goes on the weights only (biases have none), where
reglab's default L2 term applies.

Run: ``python examples/onecycle_adamw.py``.
"""

from __future__ import annotations

import torch

from reglab import L2, Regularized

LAM = 0.01


def model_and_data() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    X = torch.randn(128, 6, dtype=torch.float64)
    return model, X, torch.sin(X[:, :1]) + 0.1 * torch.randn(128, 1, dtype=torch.float64)


def train(make_optimizer, steps: int) -> list[list[torch.Tensor]]:
    model, X, y = model_and_data()
    opt = make_optimizer(model)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps)
    path = []
    for _ in range(steps):
        opt.zero_grad()
        (model(X) - y).square().mean().backward()
        opt.step()
        schedule.step()
        path.append([p.detach().clone() for p in model.parameters()])
    return path


def ours(model: torch.nn.Module) -> torch.optim.Optimizer:
    return Regularized(torch.optim.Adam(model.parameters()), model, [L2(LAM, update="decoupled")])


def adamw(model: torch.nn.Module) -> torch.optim.Optimizer:
    named = list(model.named_parameters())
    return torch.optim.AdamW([{"params": [p for n, p in named if n.endswith("weight")], "weight_decay": 2 * LAM},
                              {"params": [p for n, p in named if n.endswith("bias")], "weight_decay": 0.0}])


def main(steps: int = 100) -> int:
    a, b = train(ours, steps), train(adamw, steps)
    same = sum(all(torch.equal(x, y) for x, y in zip(sa, sb)) for sa, sb in zip(a, b))
    assert same == steps, f"equal at {same} of {steps} steps"
    print(f"OneCycleLR, {steps} steps: decoupled L2({LAM}) under Adam == AdamW(weight_decay={2 * LAM}) "
          "bit for bit at every step")
    return same


if __name__ == "__main__":
    main()
