"""The multi-tensor path of :class:`reglab.Regularized` equals the per-tensor path bit for bit.

Every valid penalty × rule × optimizer of :mod:`tests.registry` (L-BFGS aside: it adds gradients
through a closure), on a model of many small tensors in two parameter groups with different
learning rates, beside a masked term (per-tensor path) and an unmasked L2 term, with some
parameters left without a gradient.
"""

from __future__ import annotations

import copy
from typing import Any

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


def _edge_values(dtype: torch.dtype, t: float) -> torch.Tensor:
    """Random values around ±t, the ties ±t themselves, ±0, the neighbours of ±t, NaN and ±inf."""
    tt = torch.tensor(t, dtype=dtype)
    special = torch.stack([tt, -tt, torch.nextafter(tt, tt + 1), torch.nextafter(tt, tt - 1),
                           -torch.nextafter(tt, tt + 1), -torch.nextafter(tt, tt - 1)])
    special = torch.cat([special, torch.tensor([0.0, -0.0, float("nan"), float("inf"), -float("inf")], dtype=dtype)])
    rand = torch.randn(4000, generator=torch.Generator().manual_seed(3), dtype=dtype) * 2 * t
    return torch.cat([special, rand])


@pytest.mark.parametrize("kernel", [True, False], ids=["softshrink", "foreach"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_soft_threshold_equals_per_tensor_prox(dtype: torch.dtype, kernel: bool) -> None:
    # both multi-tensor forms against ElasticNetParts.proxer (sign(v)·max(|v| − t, 0)), bit for bit: equal
    # values (NaN where it is NaN); only the sign of a zero may differ, and a zero stays a zero
    from reglab.penalties import ElasticNetParts
    from reglab.updates.regularized import _soft_threshold_

    t, step = 0.3, 0.5
    values = _edge_values(dtype, t)
    chunks = [c.clone() for c in values.split([1, 5, 17, 256, 4000 - 279 + 11])]
    reference = [c.clone() for c in chunks]
    proxer = ElasticNetParts.of(t / step, None).proxer(step)
    for c in reference:
        proxer(c)
    _soft_threshold_(chunks, step * (t / step), kernel)
    got, want = torch.cat(chunks), torch.cat(reference)
    assert torch.equal(got.isnan(), want.isnan())
    assert torch.equal(got[~got.isnan()], want[~want.isnan()])
    assert int((want == 0).sum()) > 2  # the inside of [−t, t] is zero in both


def _sgd_pair(make_inner_opt: Any, fold: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[torch.Tensor], int]:
    """Three proximal-L1 steps with the inner optimizer ``make_inner_opt(params)``; the parameters after,
    and how many times torch.optim.SGD.step ran."""
    monkeypatch.setattr(Regularized, "_multi_tensor", fold)
    calls = []
    sgd_step = torch.optim.SGD.step

    def counted(self: torch.optim.SGD, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return sgd_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", counted)
    torch.manual_seed(0)
    model = _Many().double()
    inner = make_inner_opt(model.parameters())
    opt = Regularized(inner, model, [L1(0.05, update="proximal", on=lambda n, p: True)])
    gen = torch.Generator().manual_seed(2)
    for _ in range(3):
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        opt.step()
    monkeypatch.undo()
    return [p.detach().clone() for p in model.parameters()], len(calls)


def _with_scheduler(params: Any) -> torch.optim.SGD:
    inner = torch.optim.SGD(params, lr=0.1)
    torch.optim.lr_scheduler.StepLR(inner, step_size=1)  # wraps inner.step to see it called
    return inner


def _with_hook(params: Any) -> torch.optim.SGD:
    inner = torch.optim.SGD(params, lr=0.1)
    inner.register_step_post_hook(lambda opt, args, kwargs: None)
    return inner


@pytest.mark.parametrize(("make", "folds"), [
    (lambda ps: torch.optim.SGD(ps, lr=0.1), True),
    (lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=True), True),
    (lambda ps: torch.optim.SGD(ps, lr=0.1, fused=True), False),
    (lambda ps: torch.optim.SGD(ps, lr=torch.tensor(0.1)), False),
    (_with_scheduler, False),
    (_with_hook, False),
], ids=["default", "foreach", "fused", "tensor-lr", "scheduler-on-inner", "inner-hook"])
def test_plain_sgd_step_folded_where_nothing_can_tell(make: Any, folds: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # the wrapper does the plain SGD step itself (cheaper on the CPU) only where no one watches the inner
    # step and SGD's numbers are p − lr·g; either way the weights equal SGD's own step + the per-tensor prox
    got, calls = _sgd_pair(make, True, monkeypatch)
    want, ref_calls = _sgd_pair(make, False, monkeypatch)
    assert ref_calls == 3
    assert calls == (0 if folds else 3)
    for a, b in zip(got, want):
        assert torch.equal(a, b)
