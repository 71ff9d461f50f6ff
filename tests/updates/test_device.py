"""The update rules on each device: the torch references bit for bit, and exact zeros where L1 puts them.

Parametrized over ``cpu`` and ``cuda``; ``cuda`` skips only where no GPU is present. The model has
tensors of several shapes in two parameter groups, so the multi-tensor buckets are exercised.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab import L1, L2, ElasticNet, Regularized

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no CUDA device"))]
LAM = 0.02
ALL = lambda name, p: True  # noqa: E731 - every tensor, as the references' weight_decay


def _model(device: str) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 1)).to(device)


def _groups(model: nn.Module, lr: float) -> list[dict]:
    params = list(model.parameters())
    return [{"params": params[:3], "lr": lr}, {"params": params[3:], "lr": 0.5 * lr}]


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int = 25) -> None:
    """``steps`` full-batch steps on one fixed regression problem (same data on every device)."""
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(64, 6, generator=gen).to(next(model.parameters()).device)
    y = (X[:, :1] - 0.5 * X[:, 1:2])
    for _ in range(steps):
        opt.zero_grad()
        ((model(X) - y) ** 2).mean().backward()
        opt.step()


def _equal(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("foreach", [False, True], ids=["for-loop", "foreach"])
@pytest.mark.parametrize("device", DEVICES)
def test_gradient_rule_l2_is_sgd_weight_decay_bit_for_bit(device: str, foreach: bool) -> None:
    ours, ref = _model(device), _model(device)
    _train(ours, Regularized(torch.optim.SGD(_groups(ours, 0.1), momentum=0.9, foreach=foreach), ours,
                             [L2(LAM, on=ALL)]))
    _train(ref, torch.optim.SGD(_groups(ref, 0.1), momentum=0.9, weight_decay=2 * LAM, foreach=foreach))
    _equal(ours, ref)


@pytest.mark.parametrize("impl", ["for-loop", "foreach", "fused"])
@pytest.mark.parametrize("device", DEVICES)
def test_decoupled_rule_l2_is_adamw_bit_for_bit(device: str, impl: str) -> None:
    kw = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[impl]
    ours, ref = _model(device), _model(device)
    _train(ours, Regularized(torch.optim.Adam(_groups(ours, 0.01), **kw), ours, [L2(LAM, update="decoupled", on=ALL)]))
    _train(ref, torch.optim.AdamW(_groups(ref, 0.01), weight_decay=2 * LAM, **kw))
    _equal(ours, ref)


@pytest.mark.parametrize("term", [L1(0.05, update="proximal", on=ALL), ElasticNet(0.05, 0.5, update="proximal", on=ALL),
                                  L1(0.05, update="cumulative", on=ALL)], ids=["l1-proximal", "enet-proximal",
                                                                              "l1-cumulative"])
@pytest.mark.parametrize("device", DEVICES)
def test_l1_rules_put_exact_zeros_and_agree_with_the_cpu(device: str, term) -> None:  # noqa: ANN001
    """Exact zeros on the device, and the same weights (float32 rounding apart) and zeros as on the CPU."""
    runs = {}
    for dev in {"cpu", device}:
        model = _model(dev)
        _train(model, Regularized(torch.optim.SGD(_groups(model, 0.1)), model, [term]), steps=60)
        runs[dev] = [p.detach().cpu() for p in model.parameters()]
    zeros = sum(int((p == 0).sum()) for p in runs[device])
    assert zeros > 0
    for p, q in zip(runs[device], runs["cpu"]):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
        # zeros are exact where the CPU run's weight is clearly inside the threshold's dead zone
        assert torch.all((p == 0) | (q.abs() > 1e-5))
