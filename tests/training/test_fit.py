"""fit(): error inputs, divergence, determinism, dtypes, targets, optimizers, lr='auto', stopping, results."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import reglab
from reglab import L1, L2, DivergenceError, ElasticNet, fit
from reglab.data import Dataset, linear_regression, pure_noise, zero_column

RNG = np.random.default_rng(1)
X = RNG.normal(size=(30, 3)) * np.array([1.0, 2.0, 0.5])
Y = X @ np.array([1.0, -2.0, 3.0]) + 0.5 + 0.1 * RNG.normal(size=30)
DATA = (X, Y)


def _params(res: reglab.FitResult) -> list[torch.Tensor]:
    return [p.detach().clone() for p in res.model.parameters()]


def _gram_top_eigenvalue(X: np.ndarray, intercept: bool = True) -> float:
    Xt = np.hstack([X, np.ones((len(X), 1))]) if intercept else X
    return float(np.linalg.eigvalsh(Xt.T @ Xt / len(X))[-1])


# -- error inputs: each entry is (call, error type, message regex) ------------------------------------

BAD_CALLS: dict[str, tuple[Callable[[], Any], type[Exception], str]] = {
    "negative_strength": (lambda: fit("linear", DATA, penalties=[L2(-0.1)]), ValueError,
                          r"Penalty strength must be non-negative; got -0\.1"),
    "nan_strength": (lambda: fit("linear", DATA, penalties=[L1(float("nan"))]), ValueError,
                     r"Penalty strength must be finite; got nan"),
    "inf_strength": (lambda: fit("linear", DATA, penalties=[L1(float("inf"))]), ValueError,
                     r"Penalty strength must be finite; got inf"),
    "bool_strength": (lambda: L2(True), TypeError, r"Penalty strength must be a real number; got bool"),
    "l1_ratio_above_one": (lambda: ElasticNet(0.1, l1_ratio=1.5), ValueError, r"l1_ratio must be in \[0, 1\]; got 1\.5"),
    "l1_ratio_below_zero": (lambda: ElasticNet(0.1, l1_ratio=-0.1), ValueError, r"l1_ratio must be in \[0, 1\]; got -0\.1"),
    "lr_zero": (lambda: fit("linear", DATA, lr=0), ValueError, r"lr must be a positive, finite number; got 0"),
    "lr_negative": (lambda: fit("linear", DATA, lr=-0.1), ValueError, r"lr must be a positive, finite number; got -0\.1"),
    "lr_nan": (lambda: fit("linear", DATA, lr=float("nan")), ValueError, r"lr must be a positive, finite number; got nan"),
    "lr_word": (lambda: fit("linear", DATA, lr="fast"), ValueError, r"lr must be a positive number or 'auto'; got 'fast'"),
    "unknown_optimizer": (lambda: fit("linear", DATA, optimizer="rmsprop"), ValueError,
                          r"Unknown optimizer 'rmsprop'\. Choose one of gd, sgd, momentum, nesterov, adam, lbfgs"),
    "unknown_loss": (lambda: fit("linear", DATA, loss="hinge"), ValueError,
                     r"Unknown loss 'hinge'\. Choose one of squared, logistic, cross_entropy"),
    "unknown_model": (lambda: fit("cnn", DATA), ValueError, r"Unknown model 'cnn'\. Choose one of linear, logistic, softmax, mlp"),
    "unknown_rule": (lambda: L2(0.1, update="momentum"), ValueError,
                     r"Unknown update rule 'momentum'\. Choose one of gradient, proximal, decoupled, cumulative"),
    "on_matches_nothing": (lambda: fit("linear", DATA, penalties=[L2(0.1, on="fc1.weight")], steps=1), ValueError,
                           r"on='fc1\.weight' matches no parameter of the model\. Parameters are: linear\.weight, linear\.bias"),
    "mask_of_wrong_shape": (
        lambda: fit("linear", DATA, penalties=[L2(0.1, on={"linear.weight": torch.ones(3, dtype=torch.bool)})], steps=1),
        ValueError, r"the mask for 'linear\.weight' has shape \(3,\), but the parameter has shape \(1, 3\)"),
    "gd_with_batch_size": (lambda: fit("linear", DATA, optimizer="gd", batch_size=5), ValueError,
                           r"optimizer 'gd' is full-batch; use optimizer='sgd' with batch_size=5"),
    "lbfgs_with_batch_size": (lambda: fit("linear", DATA, optimizer="lbfgs", batch_size=5), ValueError,
                              r"optimizer 'lbfgs' is full-batch"),
    "steps_negative": (lambda: fit("linear", DATA, steps=-1), ValueError, r"steps must be ≥ 0; got -1"),
    "steps_float": (lambda: fit("linear", DATA, steps=1.5), TypeError, r"steps must be an integer; got float 1\.5"),
    "model_args_on_module": (lambda: fit(nn.Linear(3, 1), DATA, model_args={"hidden": [3]}), ValueError,
                             r"model_args apply to a model given by name"),
    "lr_auto_for_mlp": (lambda: fit("mlp", DATA, lr="auto"), ValueError, r"lr='auto' is defined for linear, logistic and softmax"),
    "proximal_after_adam": (lambda: fit("linear", DATA, optimizer="adam", penalties=[L1(0.1, update="proximal")]),
                            ValueError, r"update='proximal' needs a plain gradient step"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_input_raises_a_typed_error_naming_the_problem(name: str) -> None:
    call, error, pattern = BAD_CALLS[name]
    with pytest.raises(error, match=pattern):
        call()


# -- divergence --------------------------------------------------------------------------------------


def test_divergence_error_reports_step_lr_and_max_stable_lr_two_over_L() -> None:
    L = 2.0 * _gram_top_eigenvalue(X)  # squared loss: c = 2
    lr = 1.2 * 2.0 / L
    with pytest.raises(DivergenceError, match=r"Training diverged at step \d+ with lr=") as info:
        fit("linear", DATA, lr=lr, steps=500)
    err = info.value
    assert err.lr == pytest.approx(lr, rel=1e-15)
    assert err.max_stable_lr == pytest.approx(2.0 / L, rel=1e-10)
    assert 0 < err.step < 500


def test_learning_rate_just_below_two_over_L_does_not_diverge() -> None:
    L = 2.0 * _gram_top_eigenvalue(X)
    res = fit("linear", DATA, lr=0.95 * 2.0 / L, steps=500)
    assert res.status == "max_steps"
    assert res.history.objective[-1] < res.history.objective[0]


def test_on_divergence_stop_returns_status_diverged() -> None:
    L = 2.0 * _gram_top_eigenvalue(X)
    res = fit("linear", DATA, lr=1.5 * 2.0 / L, steps=500, on_divergence="stop")
    assert res.status == "diverged"
    assert res.steps_run < 500
    assert res.history.step[-1] == res.steps_run


class _WithSpare(nn.Module):
    """A linear model with a parameter the loss never reads (only the logged finiteness check sees it)."""

    def __init__(self, spare: float) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 1, dtype=torch.float32)
        self.spare = nn.Parameter(torch.tensor([1.0, spare, -2.0], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


@pytest.mark.parametrize("concat_max", [0, 1 << 20], ids=["per-tensor-max", "one-concatenated-max"])
@pytest.mark.parametrize("spare", [math.nan, math.inf, -math.inf])
def test_a_non_finite_parameter_the_loss_never_reads_stops_training_as_diverged(
        spare: float, concat_max: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules["reglab.training.monitor"], "_CONCAT_MAX", concat_max)  # where ParameterCheck reads it
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
    res = fit(_WithSpare(spare), (x, x[:, 0]), lr=0.01, steps=20, on_divergence="stop")
    assert res.status == "diverged"
    assert res.steps_run == 0


def test_a_huge_finite_float32_parameter_is_not_mistaken_for_divergence() -> None:
    # 1e38 in float32: its square or a sum of two would overflow to inf, its max |w| does not
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
    res = fit(_WithSpare(1e38), (x, x[:, 0]), lr=0.01, steps=20, on_divergence="stop", log_every=1)
    assert res.status != "diverged"
    assert res.steps_run == 20
    assert len(res.history) == 21


# -- determinism -------------------------------------------------------------------------------------

DETERMINISM = {
    "gd": dict(model="linear", optimizer="gd", lr=0.05),
    "sgd_shuffled": dict(model="linear", optimizer="sgd", batch_size=7, lr=0.02),
    "adam": dict(model="linear", optimizer="adam", lr=0.05),
    "mlp": dict(model="mlp", model_args={"hidden": [8]}, optimizer="sgd", batch_size=10, lr=0.02),
}


@pytest.mark.parametrize("name", list(DETERMINISM))
def test_same_seed_gives_bit_identical_results_and_other_seeds_differ(name: str) -> None:
    kwargs = DETERMINISM[name]
    runs = [fit(data=DATA, steps=40, seed=seed, penalties=[L2(0.01)], **kwargs) for seed in (3, 3, 4)]
    a, b, c = (_params(r) for r in runs)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert runs[0].history.objective == runs[1].history.objective
    assert not all(torch.equal(p, q) for p, q in zip(a, c))


def test_sgd_shuffling_depends_on_the_seed_beyond_initialisation() -> None:
    # same initial weights (a module), different seeds: only the minibatch order differs
    def run(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = nn.Linear(3, 1, dtype=torch.float64)
        return _params(fit(model, DATA, optimizer="sgd", batch_size=7, lr=0.02, steps=10, seed=seed))

    assert not all(torch.equal(p, q) for p, q in zip(run(0), run(1)))


# -- dtypes and targets ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["linear", "logistic", "softmax"])
def test_linear_family_is_float64_throughout(model: str) -> None:
    y = {"linear": Y, "logistic": (Y > 0).astype(int), "softmax": np.digitize(Y, [-1.0, 1.0])}[model]
    res = fit(model, (X.astype(np.float32), y), steps=5)
    assert all(p.dtype == torch.float64 for p in res.model.parameters())
    assert res.data.X.dtype == torch.float64
    assert all(type(v) is float for v in res.history.data_loss + res.history.penalty + res.history.objective)


def test_mlp_is_float32_by_default_and_float64_on_request() -> None:
    res = fit("mlp", DATA, steps=3, lr=0.01)
    assert all(p.dtype == torch.float32 for p in res.model.parameters()) and res.data.X.dtype == torch.float32
    res64 = fit("mlp", DATA, steps=3, lr=0.01, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in res64.model.parameters())


def test_y_of_shape_n_and_n_by_1_train_identically() -> None:
    a = fit("linear", (X, Y), steps=20, lr=0.05)
    b = fit("linear", (X, Y.reshape(-1, 1)), steps=20, lr=0.05)
    assert all(torch.equal(p, q) for p, q in zip(_params(a), _params(b)))


def test_logistic_with_string_labels_maps_them_to_zero_and_one() -> None:
    labels = np.where(Y > 0, "b", "a")
    res = fit("logistic", (X, labels), lr=0.5, steps=200)
    assert res.data.classes.tolist() == ["a", "b"]
    assert torch.equal(res.data.y, torch.as_tensor((labels == "b").astype(np.float64)))
    accuracy = float(((res.predict(X)[:, 0] > 0).numpy() == (labels == "b")).mean())
    assert accuracy > 0.9
    assert res.history.data_loss[-1] < res.null_loss()


def test_softmax_with_three_classes_beats_the_null_model() -> None:
    y = np.digitize(Y, np.quantile(Y, [1 / 3, 2 / 3]))
    res = fit("softmax", (X, y), lr=0.5, steps=200)
    assert res.model.linear.weight.shape == (3, 3)
    assert res.data.n_outputs == 3
    assert res.history.data_loss[-1] < 0.7 * res.null_loss()


def test_a_user_module_is_trained_in_place_with_default_penalty_on_its_weights() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    before = [p.detach().clone() for p in net.parameters()]
    res = fit(net, DATA, penalties=[L2(0.01)], lr=0.01, steps=100)
    assert res.model is net
    assert all(not torch.equal(p, q) for p, q in zip(before, net.parameters()))
    assert [s.name for s in res.optimizer.selections[0]] == ["0.weight", "2.weight"]
    assert res.history.data_loss[-1] < res.history.data_loss[0]


def test_optimizer_as_torch_class_or_factory_equals_the_named_gd() -> None:
    named = fit("linear", DATA, optimizer="gd", lr=0.05, steps=30)
    cls = fit("linear", DATA, optimizer=torch.optim.SGD, lr=0.05, steps=30)
    factory = fit("linear", DATA, optimizer=lambda params: torch.optim.SGD(params, lr=0.05), steps=30)
    # class and factory run the same loop: bit-identical; the named "gd" may take a faster but
    # mathematically equal path (Gram form), so it agrees to rounding
    assert all(torch.equal(p, q) for p, q in zip(_params(cls), _params(factory)))
    for p, q in zip(_params(named), _params(cls)):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12, atol=1e-14)


def test_an_optimizer_factory_returning_something_else_is_refused() -> None:
    with pytest.raises(TypeError, match=r"The optimizer factory returned list, not a torch.optim.Optimizer"):
        fit("linear", DATA, optimizer=lambda params: list(params))


# -- learning rate "auto" ----------------------------------------------------------------------------


def test_lr_auto_is_one_over_L_for_squared_loss_with_l2_gradient_term() -> None:
    res = fit("linear", DATA, lr="auto", penalties=[L2(0.1)], steps=1)
    L = 2.0 * _gram_top_eigenvalue(X) + 2.0 * 0.1
    assert res.lr == pytest.approx(1.0 / L, rel=1e-10)


def test_lr_auto_is_one_over_L_for_logistic_loss() -> None:
    res = fit("logistic", (X, (Y > 0).astype(int)), lr="auto", steps=1)
    assert res.lr == pytest.approx(1.0 / (0.25 * _gram_top_eigenvalue(X)), rel=1e-10)


def test_lr_auto_ignores_proximal_terms_and_the_intercept_column_when_there_is_none() -> None:
    res = fit("linear", DATA, lr="auto", penalties=[L1(0.5, update="proximal")], steps=1,
              model_args={"fit_intercept": False})
    assert res.lr == pytest.approx(1.0 / (2.0 * _gram_top_eigenvalue(X, intercept=False)), rel=1e-10)


# -- stopping ----------------------------------------------------------------------------------------


def _ridge(X: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """argmin mean (y − Xw − b)² + lam·‖w‖², intercept unpenalised (closed form on centred data)."""
    Xc, yc = X - X.mean(0), y - y.mean()
    w = np.linalg.solve(Xc.T @ Xc / len(X) + lam * np.eye(X.shape[1]), Xc.T @ yc / len(X))
    return w, float(y.mean() - X.mean(0) @ w)


def test_tol_stops_gd_early_with_status_converged_at_the_ridge_optimum() -> None:
    res = fit("linear", DATA, penalties=[L2(0.1)], lr="auto", steps=20000, tol=1e-10)
    assert res.status == "converged"
    assert res.steps_run < 20000
    w, b = _ridge(X, Y, 0.1)
    np.testing.assert_allclose(res.model.linear.weight.detach().numpy()[0], w, atol=1e-8)
    assert float(res.model.linear.bias.detach()) == pytest.approx(b, abs=1e-8)


def test_lbfgs_converges_on_ridge_to_the_closed_form() -> None:
    # a loss-based line search in float64 gets the weights to about 1e-8, so tol=1e-8 is reachable
    res = fit("linear", DATA, penalties=[L2(0.1)], optimizer="lbfgs", lr=1.0, steps=200, tol=1e-8)
    assert res.status == "converged" and res.steps_run < 50
    w, b = _ridge(X, Y, 0.1)
    np.testing.assert_allclose(res.model.linear.weight.detach().numpy()[0], w, atol=1e-7)
    assert float(res.model.linear.bias.detach()) == pytest.approx(b, abs=1e-7)


def test_without_tol_fit_runs_every_step() -> None:
    res = fit("linear", DATA, lr=0.05, steps=37)
    assert res.status == "max_steps" and res.steps_run == 37


# -- history and summary -----------------------------------------------------------------------------


def test_history_logs_every_log_every_steps_and_the_final_state() -> None:
    res = fit("linear", DATA, penalties=[L2(0.1)], lr=0.05, steps=50, log_every=10)
    h = res.history
    assert h.step == [0, 10, 20, 30, 40, 50]
    assert len(h) == 6 and h.lr == [0.05] * 6
    for d, p, o in zip(h.data_loss, h.penalty, h.objective):
        assert o == d + p
    assert h.data_loss[-1] == pytest.approx(res.data_loss("train"), rel=1e-12)
    assert h.penalty[-1] == pytest.approx(0.1 * float(res.model.linear.weight.detach().square().sum()), rel=1e-12)
    frame = h.to_pandas()
    assert list(frame.columns) == ["step", "data_loss", "penalty", "objective", "lr", "strength_0"] and len(frame) == 6
    assert h.strength == [[0.1]] * 6


def test_first_history_entry_is_the_loss_at_initialisation() -> None:
    res = fit("linear", DATA, lr=0.05, steps=5, seed=2)
    init = fit("linear", DATA, lr=0.05, steps=0, seed=2)
    assert res.history.data_loss[0] == pytest.approx(init.history.data_loss[0], rel=1e-13)
    assert init.history.data_loss[0] == pytest.approx(init.data_loss("train"), rel=1e-13)


def test_summary_reports_losses_norms_and_exact_zeros_of_each_tensor() -> None:
    ds = zero_column(n=60, p=4, column=0, n_test=40)
    res = fit("linear", ds, penalties=[L1(0.05, update="proximal")], lr=0.1, steps=300)
    s = res.summary()
    w = res.model.linear.weight.detach()
    assert s["status"] == "max_steps" and s["steps"] == 300
    assert s["train_loss"] == pytest.approx(res.history.data_loss[-1], rel=1e-12)
    assert s["objective"] == pytest.approx(s["train_loss"] + s["penalty"], rel=1e-12)
    assert s["test_loss"] == res.data_loss("test") and s["test_loss"] is not None
    assert s["null_test_loss"] == res.null_loss("test")
    t = s["tensors"]["linear.weight"]
    assert t["shape"] == [1, 4]
    assert t["l2_norm"] == pytest.approx(float(w.norm()), rel=1e-12)
    assert t["l1_norm"] == pytest.approx(float(w.abs().sum()), rel=1e-12)
    # the zero column's weight gets no data gradient, and the proximal L1 step sets it exactly to zero
    assert float(w[0, 0]) == 0.0
    assert t["exact_zeros"] == int((w == 0).sum()) >= 1
    assert s["exact_zeros"] == sum(v["exact_zeros"] for v in s["tensors"].values())
    assert s["n_parameters"] == 5


def test_without_held_out_data_the_held_out_numbers_are_none() -> None:
    res = fit("linear", linear_regression(n=20, p=2), steps=2)
    s = res.summary()
    assert s["test_loss"] is None and s["null_test_loss"] is None


def test_pure_noise_null_loss_on_held_out_data_uses_the_training_mean() -> None:
    ds = pure_noise(n=50, p=3, n_test=80)
    res = fit("linear", ds, steps=1)
    mean = float(ds.y.mean())
    assert res.null_loss("test") == pytest.approx(float(((ds.y_test - mean) ** 2).mean()), rel=1e-12)


def test_dataset_objects_are_accepted_and_kept() -> None:
    ds = Dataset.from_arrays(X, Y, name="mine")
    res = fit("linear", ds, steps=1)
    assert res.data.name == "mine" and torch.equal(res.data.X, ds.X)
    assert math.isfinite(res.history.objective[-1])
