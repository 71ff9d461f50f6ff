"""reglab's update rules against torch's own weight decay, step for step, in float64.

Equality is exact (``torch.equal``): reglab's ``gradient`` rule adds 2λ·w to ``.grad`` with the same
operation torch's ``weight_decay`` uses (``grad + wd·p``), and its ``decoupled`` L2 multiplies by
``1 − lr·2λ`` as ``AdamW`` does (a product by 2 is exact, so ``(lr·2)·λ == lr·(2λ)`` bit for bit).
Any difference is therefore a different computation, not rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from reglab import L2, Regularized
from reglab.losses import Squared
from reglab.models import linear, mlp
from tests import registry

LAM, STEPS = 0.03, 60

g = torch.Generator().manual_seed(0)
X = torch.randn(40, 6, generator=g, dtype=torch.float64)
Y = torch.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * torch.randn(40, generator=g, dtype=torch.float64)

MODELS: dict[str, Callable[[], nn.Module]] = {
    "mlp": lambda: mlp(6, hidden=[16, 8], activation="tanh", generator=torch.Generator().manual_seed(1),
                       dtype=torch.float64),
    "linear": lambda: linear(6, generator=torch.Generator().manual_seed(1)),
}
# the registry's optimizer rows (tests/registry.py), at this file's learning rates; torch's side gives
# each its weight_decay per parameter group
_ROWS = {o.name: o for o in registry.OPTIMIZERS}
INNER: dict[str, Callable[..., torch.optim.Optimizer]] = {
    name: (lambda ps, row=_ROWS[row_name], lr=lr: row.make(ps, lr=lr))
    for name, row_name, lr in [("sgd", "sgd", 0.05), ("momentum", "sgd-momentum", 0.05),
                               ("nesterov", "sgd-nesterov", 0.05), ("adam", "adam", 0.01),
                               ("adamw", "adamw-no-decay", 0.01)]
}


def decay_groups(model: nn.Module, wd: float) -> list[dict]:
    """Weights with weight_decay=wd, biases without: where reglab's default L2 term applies."""
    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if not n.endswith("bias")], "weight_decay": wd},
            {"params": [p for n, p in named if n.endswith("bias")], "weight_decay": 0.0}]


def run(model: nn.Module, opt: torch.optim.Optimizer) -> list[list[torch.Tensor]]:
    """Parameters after each of STEPS full-batch steps on the squared loss."""
    path = []
    for _ in range(STEPS):
        opt.zero_grad()
        Squared()(model(X), Y).backward()
        opt.step()
        path.append([p.detach().clone() for p in model.parameters()])
    return path


def ours(model_name: str, inner: str, rule: str) -> list[list[torch.Tensor]]:
    model = MODELS[model_name]()
    return run(model, Regularized(INNER[inner](model.parameters()), model, [L2(LAM, update=rule)]))


def torchs(model_name: str, inner: str) -> list[list[torch.Tensor]]:
    model = MODELS[model_name]()
    return run(model, INNER[inner](decay_groups(model, 2 * LAM)))


def identical(a: list[list[torch.Tensor]], b: list[list[torch.Tensor]]) -> bool:
    return all(torch.equal(x, y) for sa, sb in zip(a, b, strict=True) for x, y in zip(sa, sb, strict=True))


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("inner", ["sgd", "momentum", "nesterov"])
def test_gradient_rule_l2_with_sgd_equals_sgd_weight_decay_two_lambda_every_step(model_name: str, inner: str) -> None:
    assert identical(ours(model_name, inner, "gradient"), torchs(model_name, inner))


@pytest.mark.parametrize("model_name", list(MODELS))
def test_decoupled_rule_l2_with_adam_equals_adamw_weight_decay_two_lambda_every_step(model_name: str) -> None:
    assert identical(ours(model_name, "adam", "decoupled"), torchs(model_name, "adamw"))


@pytest.mark.parametrize("model_name", list(MODELS))
def test_gradient_rule_l2_with_adam_equals_adam_weight_decay_and_differs_from_adamw(model_name: str) -> None:
    coupled = ours(model_name, "adam", "gradient")
    assert identical(coupled, torchs(model_name, "adam"))
    adamw = torchs(model_name, "adamw")
    gap = max(float((x - y).abs().max()) for x, y in zip(coupled[-1], adamw[-1]))
    scale = max(float(x.abs().max()) for x in adamw[-1])
    assert gap > 1e-4 * scale  # not rounding: a different algorithm (Loshchilov & Hutter 2019)


def test_models_are_float64_and_the_decay_reaches_the_weights() -> None:
    # guard: the comparisons above are in float64 and the penalty actually changes the trajectory
    for name in MODELS:
        assert all(p.dtype == torch.float64 for p in MODELS[name]().parameters())
        model = MODELS[name]()
        free = run(model, INNER["sgd"](model.parameters()))
        assert not identical(free, ours(name, "sgd", "gradient"))

