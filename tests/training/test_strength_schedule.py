"""fit(strength_schedule=...): a λ schedule, as a hand loop with Regularized + StrengthScheduler, bit for bit."""

from __future__ import annotations

import copy

import pytest
import torch

import reglab
from reglab import L1, L2, Regularized
from reglab.losses import get_loss
from reglab.training.checkpoint import CheckpointError
from reglab.training.fast_linear import why_not_fast
from reglab.updates import StrengthScheduler


def _problem(n: int = 48, p: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    X = torch.randn(n, p, generator=g, dtype=torch.float64)
    y = X @ torch.linspace(-1.0, 1.0, p, dtype=torch.float64) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)
    return X, y


def _net(p: int = 5) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(p, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1),
                               torch.nn.Flatten(0)).double()


def warmup(step: int) -> float:
    """λ from 0 up to its full value over 10 steps, then halved every 15."""
    return min(1.0, step / 10) * 0.5 ** (step // 15)


def test_fit_equals_a_hand_loop_with_a_strength_scheduler_bit_for_bit() -> None:
    X, y = _problem()
    net = _net()
    twin = copy.deepcopy(net)
    terms = [L2(0.05, on="0.weight"), L1(0.01, on="2.weight", update="proximal")]
    schedules = [warmup, None]  # the L1 term stays constant
    res = reglab.fit(net, (X, y), loss="squared", penalties=terms, lr=0.1, steps=40, strength_schedule=schedules,
                     log_every=1)
    hand_terms = [copy.copy(t) for t in terms]
    opt = Regularized(torch.optim.SGD(twin.parameters(), lr=0.1), twin, hand_terms)
    sched = StrengthScheduler(opt, schedules)
    loss = get_loss("squared")
    for _ in range(40):
        opt.zero_grad()
        loss(twin(X), y).backward()
        opt.step()
        sched.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        assert torch.equal(a, b)
    # the history logs the strengths in effect at each step's update, per term
    assert res.history.strength == [[0.05 * warmup(t), 0.01] for t in res.history.step]
    assert res.history.step[-1] == 40 and res.terms[0].strength == 0.05 * warmup(40)
    assert [t.strength for t in terms] == [0.05, 0.01]  # the terms given are not changed


def test_the_penalty_logged_follows_the_scheduled_strength() -> None:
    X, y = _problem()
    res = reglab.fit("linear", (X, y), penalties=[L2(0.2)], lr=0.05, steps=30, strength_schedule=warmup, log_every=1)
    assert res.history.penalty[0] == 0.0  # warmup(0) = 0: no penalty at the first step
    w_sq = res.history.penalty[12] / res.history.strength[12][0]
    assert w_sq > 0.0
    frame = res.history.to_pandas()
    assert list(frame["strength_0"]) == [0.2 * warmup(t) for t in res.history.step]


def test_without_a_schedule_the_history_holds_each_terms_constant_strength() -> None:
    X, y = _problem()
    res = reglab.fit("linear", (X, y), penalties=[L2(0.1), L1(0.02, update="proximal")], steps=12, log_every=4)
    assert res.history.strength == [[0.1, 0.02]] * len(res.history)


def test_a_scheduled_run_takes_the_plain_loop_and_says_why() -> None:
    X, y = _problem()
    model = reglab.models.linear(5, generator=torch.Generator().manual_seed(0))
    reason = why_not_fast(model, X, get_loss("squared"), [L2(0.1)], "gd", record=False, batch_size=None,
                          scheduled=True)
    assert reason is not None and "schedule" in reason
    fast = reglab.fit("linear", (X, y), penalties=[L2(0.1)], lr=0.05, steps=25, strength_schedule=warmup)
    plain = reglab.fit("linear", (X, y), penalties=[L2(0.1)], lr=0.05, steps=25, strength_schedule=warmup, fast=False)
    assert torch.equal(fast.model.linear.weight, plain.model.linear.weight)
    with pytest.raises(ValueError, match="fista.*schedule"):
        reglab.fit("linear", (X, y), penalties=[L2(0.1)], optimizer="fista", steps=5, strength_schedule=warmup)


@pytest.mark.parametrize(("schedule", "error", "match"), [
    (lambda t: -1.0 if t == 7 else 1.0, ValueError, r"step 7"),
    (lambda t: float("nan") if t == 30 else 1.0, ValueError, r"step 30"),
    (lambda t: "abc", TypeError, r"step 0"),
    ([warmup, warmup], ValueError, r"2 functions for 1 terms"),
    ([3.0], TypeError, r"callable"),
    (0.5, TypeError, r"strength_schedule must be a callable"),
])
def test_a_bad_schedule_is_refused_before_training(schedule, error, match) -> None:  # noqa: ANN001
    X, y = _problem()
    net = _net()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(error, match=match):
        reglab.fit(net, (X, y), loss="squared", penalties=[L2(0.1)], steps=30, strength_schedule=schedule)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # nothing trained


def test_a_scheduled_run_resumed_from_its_checkpoint_equals_the_uninterrupted_run(tmp_path) -> None:
    X, y = _problem()
    kw = {"loss": "squared", "penalties": [L2(0.05, on="0.weight")], "lr": 0.1, "steps": 40, "strength_schedule": warmup,
          "log_every": 5}
    whole = reglab.fit(_net(), (X, y), **kw)
    path = tmp_path / "run.pt"
    reglab.fit(_net(), (X, y), **kw, checkpoint=path, checkpoint_every=15)  # leaves the one before step 30
    resumed = reglab.fit(_net(), (X, y), **kw, checkpoint=path, checkpoint_every=15, resume=True)
    for a, b in zip(whole.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    assert resumed.history.strength == whole.history.strength
    with pytest.raises(CheckpointError, match="strength_schedule"):  # another schedule: refused
        reglab.fit(_net(), (X, y), **{**kw, "strength_schedule": lambda t: 1.0}, checkpoint=path,
                   checkpoint_every=15, resume=True)


def test_a_schedule_drives_minibatch_training_from_a_loader() -> None:
    X, y = _problem()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)
    res = reglab.fit(_net(), loader, loss="squared", penalties=[L2(0.05, on="0.weight")], optimizer="sgd", lr=0.05,
                     steps=20, strength_schedule=warmup, log_every=1)
    assert res.history.strength[:-1] == [[0.05 * warmup(t)] for t in range(20)]
