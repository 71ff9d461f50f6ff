"""A penalty strength that follows a schedule: StrengthScheduler equals a hand loop that sets the
strengths (bit for bit), checks every value it sets, and saves its state as torch's schedulers do."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from reglab import L1, L2, Regularized
from reglab.updates.schedules import StrengthScheduler


def _setup(seed: int = 0) -> tuple[nn.Module, Regularized, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    X = torch.randn(32, 4, generator=g, dtype=torch.float64)
    y = torch.randn(32, 1, generator=g, dtype=torch.float64)
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.05), model,
                      [L2(0.1), L1(0.02, on="2.weight", update="cumulative")])
    return model, opt, X, y


def _train_step(model: nn.Module, opt: Regularized, X: torch.Tensor, y: torch.Tensor) -> None:
    opt.zero_grad()
    (model(X) - y).square().mean().backward()
    opt.step()


def _warmup(step: int) -> float:
    return min(1.0, (step + 1) / 4)


def _halve(step: int) -> float:
    return 0.5 ** step


def test_the_scheduler_equals_a_hand_loop_that_sets_strengths_bit_for_bit() -> None:
    model_a, opt_a, X, y = _setup()
    sched = StrengthScheduler(opt_a, [_warmup, _halve])
    for _ in range(8):
        _train_step(model_a, opt_a, X, y)
        sched.step()

    model_b, opt_b, X, y = _setup()
    bases = [t.strength for t in opt_b.terms]
    for step in range(8):
        for t, base, f in zip(opt_b.terms, bases, (_warmup, _halve)):
            t.strength = base * f(step)
        opt_b.refresh_strengths()
        _train_step(model_b, opt_b, X, y)

    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)


def test_a_constant_schedule_changes_nothing_and_keeps_the_cumulative_totals() -> None:
    model_a, opt_a, X, y = _setup()
    model_b, opt_b, _, _ = _setup()
    sched = StrengthScheduler(opt_b, lambda step: 1.0)
    for _ in range(5):
        _train_step(model_a, opt_a, X, y)
        _train_step(model_b, opt_b, X, y)
        sched.step()
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(opt_a.state_dict()["cumulative"]["1"][0]["u"], opt_b.state_dict()["cumulative"]["1"][0]["u"])


def test_a_schedule_changes_the_trajectory() -> None:
    model_a, opt_a, X, y = _setup()
    model_b, opt_b, _, _ = _setup()
    sched = StrengthScheduler(opt_b, lambda step: 10.0)
    for _ in range(3):
        _train_step(model_a, opt_a, X, y)
        _train_step(model_b, opt_b, X, y)
        sched.step()
    assert not torch.equal(model_a[0].weight, model_b[0].weight)
    assert opt_b.terms[0].strength == pytest.approx(1.0)


def test_set_mode_sets_each_strength_and_none_keeps_a_term_constant() -> None:
    _, opt, _, _ = _setup()
    sched = StrengthScheduler(opt, [lambda step: 0.01 * step, None], mode="set")
    assert sched.get_last_strength() == [0.0, 0.02]
    sched.step(); sched.step()
    assert sched.get_last_strength() == [0.02, 0.02]
    assert sched.last_step == 2


def test_a_strength_scheduled_up_from_zero_takes_effect() -> None:
    model, opt, X, y = _setup()
    sched = StrengthScheduler(opt, [lambda step: 0.0 if step == 0 else 1.0, None])
    before = [p.detach().clone() for p in model.parameters()]
    sched.step()
    ref_model, ref_opt, _, _ = _setup()
    _train_step(model, opt, X, y)
    _train_step(ref_model, ref_opt, X, y)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), ref_model.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), before))


@pytest.mark.parametrize("fn, error, pattern", [
    (lambda step: -1.0, ValueError, r"factor from the schedule of L2\(0.1\) at step 0 must be non-negative"),
    (lambda step: math.nan, ValueError, r"schedule of L2\(0.1\) at step 0 must be finite"),
    (lambda step: "abc", TypeError, r"schedule of L2\(0.1\) at step 0 must be a real number; got str"),
    (lambda step: 1.0 if step == 0 else -2.0, ValueError, r"L2\(0.1\) at step 1 must be non-negative"),
])
def test_a_bad_scheduled_value_raises_a_typed_error_naming_the_term(fn, error, pattern) -> None:
    _, opt, _, _ = _setup()
    with pytest.raises(error, match=pattern):
        sched = StrengthScheduler(opt, [fn, None])
        sched.step()


@pytest.mark.parametrize("call, error, pattern", [
    (lambda opt: StrengthScheduler(opt.optimizer, _halve), TypeError, r"schedules a Regularized wrapper's terms"),
    (lambda opt: StrengthScheduler(opt, [_halve]), ValueError, r"fn gives 1 functions for 2 terms"),
    (lambda opt: StrengthScheduler(opt, [_halve, 3.0]), TypeError, r"The schedule for L1\(0.02.*must be a callable"),
    (lambda opt: StrengthScheduler(opt, _halve, mode="add"), ValueError, r"Unknown mode 'add'"),
])
def test_bad_scheduler_arguments_raise(call, error, pattern) -> None:
    _, opt, _, _ = _setup()
    with pytest.raises(error, match=pattern):
        call(opt)


def test_state_dict_round_trips_through_torch_save_weights_only_and_resumes_bit_for_bit() -> None:
    model_a, opt_a, X, y = _setup()
    sched_a = StrengthScheduler(opt_a, [_warmup, _halve])
    for _ in range(3):
        _train_step(model_a, opt_a, X, y)
        sched_a.step()
    buf = io.BytesIO()
    torch.save({"model": model_a.state_dict(), "opt": opt_a.state_dict(), "sched": sched_a.state_dict()}, buf)
    for _ in range(3):
        _train_step(model_a, opt_a, X, y)
        sched_a.step()

    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    model_b, opt_b, _, _ = _setup(seed=1)
    model_b.load_state_dict(saved["model"])
    opt_b.load_state_dict(saved["opt"])
    sched_b = StrengthScheduler(opt_b, [_warmup, _halve])
    sched_b.load_state_dict(saved["sched"])
    assert sched_b.last_step == 3 and sched_b.get_last_strength() == [0.1, 0.02 * 0.5 ** 3]
    for _ in range(3):
        _train_step(model_b, opt_b, X, y)
        sched_b.step()
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)


def test_load_state_dict_refuses_a_foreign_or_mismatched_state() -> None:
    _, opt, _, _ = _setup()
    sched = StrengthScheduler(opt, _halve)
    with pytest.raises(ValueError, match="Not a StrengthScheduler state_dict"):
        sched.load_state_dict({"last_epoch": 1})
    with pytest.raises(ValueError, match="saved schedule has 1 terms; this wrapper has 2"):
        sched.load_state_dict({"base_strengths": [0.1], "last_step": 0, "mode": "multiply"})
