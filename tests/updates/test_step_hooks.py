"""Regularized.step runs step hooks and names itself to the profiler, as any torch optimizer does.

It skips torch's hook-and-profiler wrapper when there is nothing for it to do (no hooks, no
profiler); these tests hold it to the same contract as a wrapped step.
"""

from __future__ import annotations

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from reglab import L1, L2, Regularized


def _model_and_batch() -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)), torch.randn(8, 4)


def _train(model: torch.nn.Module, x: torch.Tensor, opt: Regularized, steps: int = 3) -> None:
    for _ in range(steps):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()


def test_step_hooks_on_the_wrapper_run_once_per_step_in_order_around_the_penalty() -> None:
    model, x = _model_and_batch()
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model, [L2(0.5)])
    seen: list[str] = []
    grads_seen: list[torch.Tensor] = []

    def pre(o, args, kwargs) -> None:
        assert o is opt
        seen.append("pre")
        grads_seen.append(model[0].weight.grad.clone())  # the data gradient: no penalty added yet

    h1 = opt.register_step_pre_hook(pre)
    h2 = opt.register_step_post_hook(lambda o, args, kwargs: seen.append("post"))
    opt.zero_grad()
    model(x).square().mean().backward()
    data_grad = model[0].weight.grad.clone()
    opt.step()
    assert seen == ["pre", "post"]
    assert torch.equal(grads_seen[0], data_grad)
    h1.remove(), h2.remove()
    _train(model, x, opt)
    assert seen == ["pre", "post"]  # removed hooks no longer run


def test_global_optimizer_hooks_see_the_wrapper_and_its_inner_optimizer() -> None:
    model, x = _model_and_batch()
    inner = torch.optim.SGD(model.parameters(), lr=0.1)
    opt = Regularized(inner, model, [L1(0.01, update="proximal")])
    seen: list[tuple[str, type]] = []
    handles = [register_optimizer_step_pre_hook(lambda o, a, k: seen.append(("pre", type(o)))),
               register_optimizer_step_post_hook(lambda o, a, k: seen.append(("post", type(o))))]
    try:
        _train(model, x, opt, steps=1)
    finally:
        for h in handles:
            h.remove()
    assert seen == [("pre", Regularized), ("pre", torch.optim.SGD), ("post", torch.optim.SGD), ("post", Regularized)]


def test_the_profiler_sees_the_wrapper_step() -> None:
    model, x = _model_and_batch()
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model, [L2(0.1)])
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        _train(model, x, opt, steps=2)
    counts = {e.key: e.count for e in prof.key_averages()}
    assert counts.get("Optimizer.step#Regularized.step") == 2
    assert counts.get("Optimizer.step#SGD.step") == 2


def test_a_step_with_hooks_equals_a_step_without() -> None:
    results = []
    for hooked in (False, True):
        model, x = _model_and_batch()
        opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), model,
                          [L2(0.05), L1(0.01, update="decoupled")])
        if hooked:
            opt.register_step_pre_hook(lambda o, a, k: None)
        _train(model, x, opt, steps=5)
        results.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*results):
        assert torch.equal(a, b)
