"""The multi-tensor path of :class:`reglab.Regularized` equals the per-tensor path bit for bit.

Every valid penalty × rule × optimizer of :mod:`tests.registry` (L-BFGS aside: it adds gradients
through a closure), on a model of many small tensors in two parameter groups with different
learning rates, beside a masked term (per-tensor path) and an unmasked L2 term, with some
parameters left without a gradient.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from reglab import L1, L2, Regularized
from tests.registry import Entry, make_inner, valid_combinations

ENTRIES = [e for e in valid_combinations() if e.optimizer.family != "lbfgs"]


class _Many(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 4)
        self.blocks = nn.Sequential(*[nn.Linear(4, 4) for _ in range(12)])


def _run(entry: Entry, multi_tensor: bool, dtype: torch.dtype,
         monkeypatch: pytest.MonkeyPatch) -> tuple[nn.Module, Regularized]:
    monkeypatch.setattr(Regularized, "_multi_tensor", multi_tensor)
    torch.manual_seed(0)
    model = _Many().to(dtype)
    params = list(model.named_parameters())
    groups = [{"params": [p for n, p in params[: len(params) // 2]]},
              {"params": [p for n, p in params[len(params) // 2:]], "lr": 0.5 * entry.optimizer.defaults["lr"]}]
    mask = torch.rand(4, 4, generator=torch.Generator().manual_seed(1)) > 0.5
    terms = [entry.make_term(), L1(0.03, on={"blocks.1.weight": mask}, update=entry.rule),
             L2(0.02, on=lambda name, p: True)]
    opt = Regularized(make_inner(entry, groups), model, terms)
    gen = torch.Generator().manual_seed(2)
    for step in range(3):
        for name, p in params:
            g = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            p.grad = None if name.startswith("blocks.3.") and step != 1 else g  # no gradient: left alone
        opt.step()
    return model, opt


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_multi_tensor_equals_per_tensor(entry: Entry, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    many, opt_many = _run(entry, True, dtype, monkeypatch)
    each, opt_each = _run(entry, False, dtype, monkeypatch)
    assert any(a[0] == "many" for plan in opt_many._plans.values() for a in plan)
    assert not any(a[0] == "many" for plan in opt_each._plans.values() for a in plan)
    for (name, p), q in zip(many.named_parameters(), each.parameters()):
        assert torch.equal(p, q), name
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            assert torch.equal(p.grad, q.grad), name  # the data gradient, kept after step()
    assert str(copy.deepcopy(opt_many.state_dict())) == str(opt_each.state_dict())


def test_lr_change_is_read_at_each_step(monkeypatch: pytest.MonkeyPatch) -> None:
    model = nn.Sequential(*[nn.Linear(3, 3) for _ in range(4)])
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model, [L1(0.5, update="proximal", on=lambda n, p: True)])
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.param_groups[0]["lr"] = 0.0
    before = [p.clone() for p in model.parameters()]
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
