"""The decoupled L2 decay handed to the inner Adam (``decoupled_weight_decay``) gives AdamW's numbers.

:class:`reglab.Regularized` lets ``torch.optim.Adam``/``AdamW`` apply a group's decoupled pure-L2 decay
itself (inside the fused kernel: one pass over the parameters fewer) when that is the only thing the wrapper does
to the group before the inner step. Checked here: bit for bit equal to ``AdamW(weight_decay=2λ)`` in
every implementation (for-loop, foreach, fused; handed over in the fused one only), the user's group
settings untouched outside the step, and every case that must not be handed over still equal to the
per-tensor path.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab import L1, L2, Regularized

LAM = 0.01
IMPLS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def _model(dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1)).to(dtype)


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int = 6) -> None:
    """``steps`` steps on fixed random gradients (one parameter skips a step), lr halved each step."""
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    gen = torch.Generator().manual_seed(1)
    params = list(model.parameters())
    for step in range(steps):
        for i, p in enumerate(params):
            g = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            p.grad = None if i == 1 and step == 2 else g
        opt.step()
        sched.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
@pytest.mark.parametrize("inner", [torch.optim.Adam, torch.optim.AdamW])
@pytest.mark.parametrize("impl", list(IMPLS))
def test_handed_decay_equals_adamw(impl: str, inner: type, amsgrad: bool, dtype: torch.dtype) -> None:
    ours, ref = _model(dtype), _model(dtype)
    kw = dict(lr=0.05, amsgrad=amsgrad, **IMPLS[impl])
    opt = Regularized(inner(ours.parameters(), weight_decay=0.0, **kw), ours, [L2(LAM, update="decoupled",
                                                                                  on=lambda n, p: True)])
    # handed over where it saves a pass: inside the fused kernel
    assert {k: wd for k, (wd, _) in opt._handoff.items()} == ({0: 2 * LAM} if impl == "fused" else {})
    _train(ours, opt)
    _train(ref, torch.optim.AdamW(ref.parameters(), weight_decay=2 * LAM, **kw))
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert torch.equal(p, q)
    group = opt.optimizer.param_groups[0]
    assert group["weight_decay"] == 0.0  # the user's settings, back after every step
    assert group["decoupled_weight_decay"] is (inner is torch.optim.AdamW)


def _pair(make_terms, groups_of, decay_scale: str = "lr", monkeypatch: pytest.MonkeyPatch | None = None,
          wd_after: float = 0.0):  # noqa: ANN001, ANN202
    """The model trained with the multi-tensor path (hand-off allowed) and with the per-tensor path."""
    out = []
    for multi in (True, False):
        monkeypatch.setattr(Regularized, "_multi_tensor", multi)
        model = _model()
        opt = Regularized(torch.optim.Adam(groups_of(model), lr=0.05, fused=True), model, make_terms(),
                          decay_scale=decay_scale, allow_weight_decay=True)
        if wd_after:
            for g in opt.optimizer.param_groups:
                g["weight_decay"] = wd_after
        _train(model, opt)
        out.append((model, opt))
    return out


def _all(name: str, p: nn.Parameter) -> bool:
    return True


CASES = {
    # the L2 term covers only some tensors of the group: not handed over
    "part-of-group": (lambda: [L2(LAM, update="decoupled", on=lambda n, p: n.endswith("weight"))], False),
    # two decays on the group (one wrapper pass each): not handed over
    "two-terms": (lambda: [L2(LAM, update="decoupled", on=_all), L2(2 * LAM, update="decoupled", on=_all)], False),
    # an L1 part: not a pure L2 decay
    "elastic": (lambda: [L1(LAM, update="decoupled", on=_all)], False),
    # a masked term on the same group's tensors acts before the inner step too: not handed over
    "with-masked": (lambda: [L2(LAM, update="decoupled", on=_all),
                             L2(LAM, update="decoupled", on={"0.weight": torch.ones(4, 5, dtype=torch.bool)})], False),
    # a gradient-rule term on the same tensors changes the direction only: handed over
    "with-gradient-rule": (lambda: [L2(LAM, update="decoupled", on=_all), L1(LAM, on=_all)], True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cases_equal_the_per_tensor_path(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_terms, handed = CASES[case]
    (many, opt), (each, _) = _pair(make_terms, lambda m: m.parameters(), monkeypatch=monkeypatch)
    assert bool(opt._handoff) is handed
    for p, q in zip(many.parameters(), each.parameters()):
        assert torch.equal(p, q)


def test_two_groups_each_decided_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def groups(model: nn.Module) -> list[dict]:
        params = list(model.parameters())
        return [{"params": params[:2]}, {"params": params[2:], "lr": 0.02}]

    terms = lambda: [L2(LAM, update="decoupled", on=lambda n, p: n.startswith("0."))]  # noqa: E731 - group 0 only
    (many, opt), (each, _) = _pair(terms, groups, monkeypatch=monkeypatch)
    assert list(opt._handoff) == [0]
    for p, q in zip(many.parameters(), each.parameters()):
        assert torch.equal(p, q)


def test_not_handed_over_with_schedule_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    (many, opt), (each, _) = _pair(lambda: [L2(LAM, update="decoupled", on=_all)], lambda m: m.parameters(),
                                   decay_scale="schedule", monkeypatch=monkeypatch)
    assert opt._handoff == {}
    for p, q in zip(many.parameters(), each.parameters()):
        assert torch.equal(p, q)


def test_own_weight_decay_set_later_is_kept_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """A group whose weight_decay is set after the wrapper was built: the wrapper decays it itself, and
    Adam's own (coupled) weight decay stays what the user set."""
    (many, opt), (each, _) = _pair(lambda: [L2(LAM, update="decoupled", on=_all)], lambda m: m.parameters(),
                                   monkeypatch=monkeypatch, wd_after=0.1)
    assert opt._handoff
    assert opt.optimizer.param_groups[0]["weight_decay"] == 0.1
    assert opt.optimizer.param_groups[0]["decoupled_weight_decay"] is False
    for p, q in zip(many.parameters(), each.parameters()):
        assert torch.equal(p, q)
