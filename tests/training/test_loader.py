"""fit(model, loader): minibatch training from a DataLoader, equal to a hand loop bit for bit."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import reglab
from reglab.exceptions import DivergenceError
from reglab.updates import Regularized


def _data(n: int = 50, p: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=g, dtype=torch.float64)
    return X, X @ torch.arange(1.0, p + 1, dtype=torch.float64) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)


def _loader(shuffle: bool = True, batch_size: int = 16) -> DataLoader:
    X, y = _data()
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(3))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0)).double()


@pytest.mark.parametrize(("optimizer", "rule"), [("sgd", "proximal"), ("adam", "decoupled")])
def test_fit_on_a_loader_equals_a_hand_loop_bit_for_bit(optimizer: str, rule: str) -> None:
    steps, log_every = 23, 5  # 4 batches per epoch (16, 16, 16, 2): several epochs, a partial last batch
    terms = [reglab.L2(0.01), reglab.L1(0.001, update=rule, on="0.weight")]
    net = _net()
    hand = copy.deepcopy(net)
    res = reglab.fit(net, _loader(), loss="squared", penalties=terms, optimizer=optimizer, lr=0.05, steps=steps,
                     log_every=log_every)

    inner = torch.optim.SGD(hand.parameters(), lr=0.05) if optimizer == "sgd" else torch.optim.Adam(
        hand.parameters(), lr=0.05)
    opt = Regularized(inner, hand, [reglab.L2(0.01), reglab.L1(0.001, update=rule, on="0.weight")])
    loader = _loader()

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from loader

    stream = batches()
    logged, since, n_since = [], None, 0
    for step in range(steps):
        xb, yb = next(stream)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(hand(xb), yb)
        loss.backward()
        since = loss.detach() if since is None else since + loss.detach()
        n_since += 1
        if step % log_every == 0:
            logged.append(float(since / n_since))
            since, n_since = None, 0
        opt.step()
    with torch.no_grad():
        X, y = _data()
        final = float(torch.nn.functional.mse_loss(hand(X), y))

    for a, b in zip(net.parameters(), hand.parameters()):
        assert torch.equal(a, b)
    assert res.history.step == [0, 5, 10, 15, 20, steps]
    assert res.history.data_loss[:-1] == logged
    # the last entry: one full pass of the loader at the final weights, the mean over samples
    assert res.history.data_loss[-1] == pytest.approx(final, rel=1e-13)
    assert res.data is None and res.data_loss() == res.history.data_loss[-1] and res.null_loss() is None
    assert res.status == "max_steps" and res.steps_run == steps


def test_a_plain_reiterable_of_batches_works_and_a_model_by_name_is_built_from_the_first_batch() -> None:
    X, y = _data()

    class Batches:
        def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for i in range(0, 50, 10):
                yield X[i:i + 10].numpy(), y[i:i + 10, None].numpy()  # NumPy, y as a column

    res = reglab.fit("linear", Batches(), penalties=[reglab.L2(0.01)], lr=0.05, steps=200)
    assert res.model.linear.weight.shape == (1, 4)
    assert res.history.data_loss[-1] < 0.1 * res.history.data_loss[0]


def test_a_classifier_on_a_loader_takes_classes_as_given() -> None:
    X, _ = _data()
    labels = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()  # 0, 1, 2
    loader = DataLoader(TensorDataset(X, labels), batch_size=10)
    with pytest.raises(ValueError, match=r"n_outputs"):
        reglab.fit("softmax", loader, steps=5)
    res = reglab.fit("softmax", loader, model_args={"n_outputs": 3}, lr=0.5, steps=50)
    assert res.model.linear.weight.shape == (3, 4) and res.loss.name == "cross_entropy"
    assert res.history.data_loss[-1] < res.history.data_loss[0]


def test_a_module_without_a_default_loss_needs_the_loss() -> None:
    with pytest.raises(ValueError, match=r"give loss="):
        reglab.fit(_net(), _loader(), steps=2)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lr": "auto"}, r"lr='auto'"),
    ({"sample_weight": np.ones(50)}, r"sample_weight"),
    ({"batch_size": 8, "optimizer": "sgd"}, r"batch_size \(the loader sets"),
    ({"optimizer": "fista"}, r"optimizer='fista'"),
    ({"checkpoint": "x.pt", "checkpoint_every": 2}, r"checkpoint/resume"),
])
def test_options_that_need_the_whole_data_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=r"With a data loader.*" + match):
        reglab.fit(_net(), _loader(), loss="squared", steps=2, **kwargs)


def test_bad_batches_and_an_exhausted_generator_are_named() -> None:
    with pytest.raises(TypeError, match=r"\(X, y\) pair"):
        reglab.fit(_net(), DataLoader(TensorDataset(_data()[0]), batch_size=10), loss="squared", steps=2)
    gen = (b for b in [(_data()[0][:5], _data()[1][:5])])
    with pytest.raises(ValueError, match=r"yielded no batch"):
        reglab.fit(_net(), gen, loss="squared", steps=3)


def test_divergence_on_a_loader_raises_with_the_step() -> None:
    with pytest.raises(DivergenceError, match=r"Training diverged at step"):
        reglab.fit(_net(), _loader(), loss="squared", lr=50.0, steps=200, log_every=1)


def test_progress_is_called_at_logged_steps_and_at_the_end() -> None:
    calls: list[tuple[int, int]] = []
    reglab.fit(_net(), _loader(), loss="squared", lr=0.01, steps=10, log_every=4,
               progress=lambda step, total: calls.append((step, total)))
    assert calls == [(0, 10), (4, 10), (8, 10), (10, 10)]
    calls.clear()
    res = reglab.fit("linear", _data(), lr=0.05, steps=20, log_every=5, progress=lambda s, t: calls.append((s, t)))
    assert calls == [(s, 20) for s in res.history.step]
    with pytest.raises(TypeError, match=r"progress must be a callable"):
        reglab.fit("linear", _data(), steps=2, progress=5)
