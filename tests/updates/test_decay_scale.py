"""``Regularized(decay_scale=...)``: the decoupled rule's step follows the lr (AdamW) or only the schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab import L1, L2, Regularized

LAM = 0.05


def _weight(n: int = 3) -> nn.Linear:
    model = nn.Linear(n, 1, bias=False).double()
    with torch.no_grad():
        model.weight.fill_(1.0)
    return model


def _factors(lr: float, steps: int, scale: str, scheduler=None, multi_tensor: bool = True,  # noqa: ANN001
             monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[list[float], list[float]]:
    """Per-step factor of a zero-gradient weight under Adam + decoupled L2, and the lr of each step."""
    if monkeypatch is not None:
        monkeypatch.setattr(Regularized, "_multi_tensor", multi_tensor)
    model = _weight()
    inner = torch.optim.Adam(model.parameters(), lr=lr)
    opt = Regularized(inner, model, [L2(LAM, update="decoupled")], decay_scale=scale)
    sched = None if scheduler is None else scheduler(inner)
    factors, lrs = [], []
    for _ in range(steps):
        before = float(model.weight.detach()[0, 0])
        lrs.append(float(inner.param_groups[0]["lr"]))
        model.weight.grad = torch.zeros_like(model.weight)
        opt.step()
        factors.append(float(model.weight.detach()[0, 0]) / before)
        if sched is not None:
            sched.step()
    return factors, lrs


@pytest.mark.parametrize("lr", [1e-3, 0.1])
def test_schedule_scale_at_constant_lr_gives_factor_one_minus_two_lambda_whatever_the_lr(lr: float) -> None:
    factors, _ = _factors(lr, 5, "schedule")
    assert factors == pytest.approx([1 - 2 * LAM] * 5, abs=1e-15)


def test_lr_scale_factor_is_one_minus_two_lr_lambda() -> None:
    factors, _ = _factors(0.1, 3, "lr")
    assert factors == pytest.approx([1 - 2 * 0.1 * LAM] * 3, abs=1e-15)


@pytest.mark.parametrize("make", [
    lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.3),
    lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=8),
], ids=["steplr", "onecycle"])
@pytest.mark.parametrize("multi_tensor", [True, False], ids=["foreach", "per-tensor"])
def test_schedule_scale_follows_lr_t_over_initial_lr(make, multi_tensor: bool,  # noqa: ANN001
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    factors, lrs = _factors(0.1, 8, "schedule", make, multi_tensor, monkeypatch)
    inner = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.1)
    lr0 = make(inner).optimizer.param_groups[0]["initial_lr"]
    assert len(set(lrs)) > 1
    assert factors == pytest.approx([1 - 2 * LAM * lr / lr0 for lr in lrs], abs=1e-14)


def test_lr_scale_still_equals_adamw_two_lambda_bit_for_bit() -> None:
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(20, 3, generator=g, dtype=torch.float64), torch.randn(20, generator=g, dtype=torch.float64)
    paths = []
    for build in (lambda m: Regularized(torch.optim.Adam(m.parameters(), lr=0.01), m, [L2(LAM, update="decoupled")],
                                        decay_scale="lr"),
                  lambda m: torch.optim.AdamW(m.parameters(), lr=0.01, weight_decay=2 * LAM)):
        model = _weight()
        opt = build(model)
        for _ in range(20):
            opt.zero_grad()
            ((model(X)[:, 0] - y) ** 2).mean().backward()
            opt.step()
        paths.append(model.weight.detach().clone())
    assert torch.equal(*paths)


@pytest.mark.parametrize("rule", ["gradient", "proximal", "cumulative"])
def test_other_rules_are_unaffected_by_decay_scale(rule: str) -> None:
    term = (L1 if rule == "cumulative" else L2)(0.1, update=rule)
    out = []
    for scale in ("lr", "schedule"):
        model = _weight()
        inner = torch.optim.SGD(model.parameters(), lr=0.3)
        opt = Regularized(inner, model, [term], decay_scale=scale)
        sched = torch.optim.lr_scheduler.StepLR(inner, step_size=1, gamma=0.5)
        for _ in range(4):
            model.weight.grad = torch.full_like(model.weight, 0.1)
            opt.step()
            sched.step()
        out.append(model.weight.detach().clone())
    assert torch.equal(*out)


def test_unknown_decay_scale_is_a_value_error_naming_the_choices() -> None:
    model = _weight()
    with pytest.raises(ValueError, match=r"decay_scale must be one of 'lr', 'schedule'; got 'base'"):
        Regularized(torch.optim.Adam(model.parameters()), model, [L2(LAM, update="decoupled")], decay_scale="base")


def test_repr_shows_a_non_default_decay_scale_only() -> None:
    model = _weight()
    terms = [L2(LAM, update="decoupled")]
    assert "decay_scale='schedule'" in repr(Regularized(torch.optim.Adam(model.parameters()), model, terms,
                                                        decay_scale="schedule"))
    assert "decay_scale" not in repr(Regularized(torch.optim.Adam(model.parameters()), model, terms))


def _train(model: nn.Linear, opt: Regularized, sched, steps: int) -> None:  # noqa: ANN001
    g = torch.Generator().manual_seed(3)
    for _ in range(steps):
        x = torch.randn(8, 3, generator=g, dtype=torch.float64)
        opt.zero_grad()
        (model(x)[:, 0] - x[:, 0]).square().mean().backward()
        opt.step()
        sched.step()


def _build(lr: float) -> tuple[nn.Linear, Regularized, torch.optim.lr_scheduler.LRScheduler]:
    model = _weight()
    inner = torch.optim.Adam(model.parameters(), lr=lr)
    opt = Regularized(inner, model, [L2(LAM, update="decoupled")], decay_scale="schedule")
    return model, opt, torch.optim.lr_scheduler.StepLR(inner, step_size=3, gamma=0.5)


def test_a_resumed_schedule_scaled_run_equals_an_uninterrupted_one(tmp_path) -> None:  # noqa: ANN001
    whole, opt, sched = _build(0.05)
    _train(whole, opt, sched, 10)
    first, opt, sched = _build(0.05)
    _train(first, opt, sched, 5)
    torch.save({"model": first.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "c.pt")
    saved = torch.load(tmp_path / "c.pt", weights_only=True)
    assert saved["opt"]["decay_scale"] == "schedule" and saved["opt"]["base_lrs"] == [0.05]
    resumed, opt, sched = _build(0.05)
    resumed.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])
    sched.load_state_dict(saved["sched"])
    g = torch.Generator().manual_seed(3)
    for _ in range(5):  # the same data stream as the uninterrupted run's first 5 steps
        torch.randn(8, 3, generator=g, dtype=torch.float64)
    for _ in range(5):
        x = torch.randn(8, 3, generator=g, dtype=torch.float64)
        opt.zero_grad()
        (resumed(x)[:, 0] - x[:, 0]).square().mean().backward()
        opt.step()
        sched.step()
    assert torch.equal(resumed.weight, whole.weight)


def test_loading_a_state_saved_with_another_decay_scale_is_refused() -> None:
    _, opt, _ = _build(0.05)
    model = _weight()
    plain = Regularized(torch.optim.Adam(model.parameters(), lr=0.05), model, [L2(LAM, update="decoupled")])
    with pytest.raises(ValueError, match="saved with decay_scale='schedule'"):
        plain.load_state_dict(opt.state_dict())
