"""Model builders: parameter names, seeded initialisation, dtypes, and the default penalty selection."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from reglab import L2
from reglab.models import MLP, LinearModel, build_model, linear, mlp, softmax
from reglab.penalties import default_on


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_linear_family_parameter_names_are_linear_weight_and_bias() -> None:
    for name in ("linear", "logistic", "softmax"):
        m = build_model(name, 4, 3, generator=_gen(0))
        assert [n for n, _ in m.named_parameters()] == ["linear.weight", "linear.bias"]
    assert build_model("softmax", 4, 3).linear.weight.shape == (3, 4)
    assert build_model("logistic", 4, 3).linear.weight.shape == (1, 4)


def test_mlp_parameter_names_are_fc1_to_fck() -> None:
    m = mlp(5, hidden=[4, 3], n_outputs=2, generator=_gen(0))
    assert [n for n, _ in m.named_parameters()] == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
    assert m(torch.zeros(7, 5)).shape == (7, 2)


def test_seeded_initialisation_is_reproducible_and_leaves_the_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a, b, c = (build_model("mlp", 6, 1, generator=_gen(s), hidden=[5]) for s in (0, 0, 1))
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (list(m.parameters()) for m in (a, b, c))
    assert all(torch.equal(p, q) for p, q in zip(pa, pb))
    assert not any(torch.equal(p, q) for p, q in zip(pa, pc))


def test_initialisation_is_uniform_within_one_over_sqrt_fan_in() -> None:
    m = linear(50, generator=_gen(0))
    bound = 1.0 / math.sqrt(50)
    w = m.linear.weight.detach()
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.8 * bound  # spread over the interval, not concentrated near 0


def test_dtypes_default_to_float64_for_the_linear_family_and_float32_for_mlp() -> None:
    assert linear(3).linear.weight.dtype == torch.float64
    assert softmax(3, 4).linear.weight.dtype == torch.float64
    assert mlp(3).fc1.weight.dtype == torch.float32
    assert build_model("mlp", 3, 1, dtype=torch.float64).fc1.weight.dtype == torch.float64


def test_fit_intercept_false_builds_no_bias() -> None:
    m = build_model("linear", 3, 1, fit_intercept=False)
    assert [n for n, _ in m.named_parameters()] == ["linear.weight"]


def test_default_loss_follows_the_model_kind() -> None:
    assert [LinearModel(2, 1, k).default_loss for k in ("linear", "logistic", "softmax")] == [
        "squared", "logistic", "cross_entropy"]


def test_default_on_excludes_biases_and_one_dimensional_norm_parameters() -> None:
    net = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.ReLU(), nn.Linear(6, 6), nn.BatchNorm1d(6),
                        nn.Linear(6, 1))
    selected = [s.name for s in L2(0.1).select(net)]
    assert selected == ["0.weight", "3.weight", "5.weight"]
    keep = default_on(net)
    params = dict(net.named_parameters())
    assert not keep("1.weight", params["1.weight"]) and not keep("4.weight", params["4.weight"])
    assert not keep("0.bias", params["0.bias"])


def test_default_on_keeps_weights_of_an_mlp_only() -> None:
    assert [s.name for s in L2(0.1).select(mlp(3, hidden=[4]))] == ["fc1.weight", "fc2.weight"]


@pytest.mark.parametrize("call, pattern", [
    (lambda: build_model("cnn", 3, 1), r"Unknown model 'cnn'"),
    (lambda: build_model("linear", 3, 1, hidden=[3]), r"Unknown argument\(s\) \['hidden'\] for model 'linear'; allowed: \['fit_intercept'\]"),
    (lambda: build_model("mlp", 3, 1, depth=2), r"Unknown argument\(s\) \['depth'\] for model 'mlp'"),
    (lambda: MLP(3, activation="swish"), r"Unknown activation 'swish'\. Choose one of relu, tanh, gelu, sigmoid, identity"),
    (lambda: MLP(3, hidden=[0]), r"Layer widths must be positive; got hidden=\[0\]"),
    (lambda: LinearModel(3, kind="poisson"), r"Unknown linear model kind 'poisson'"),
])
def test_bad_model_arguments_are_refused(call, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()


def test_each_linear_kind_pairs_with_the_canonical_loss_of_its_task() -> None:
    from reglab.losses import LOSS_OF_TASK, MODEL_OF_TASK, TASK_OF_MODEL
    from reglab.models import MODELS

    for task, kind in MODEL_OF_TASK.items():
        assert TASK_OF_MODEL[kind] == task and LinearModel(2, 1, kind).default_loss == LOSS_OF_TASK[task]
    assert MODELS == (*MODEL_OF_TASK.values(), "mlp")
