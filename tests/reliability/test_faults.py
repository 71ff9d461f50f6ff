"""Numerical faults: each ends in a DivergenceError, a warning that says the fix, or a correct result."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import reglab
from reglab.training import lipschitz_constant


@pytest.fixture(scope="module")
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    return X, X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=40)


def test_a_learning_rate_above_2_over_L_raises_divergence_naming_step_lr_and_2_over_L(xy: tuple) -> None:
    res = reglab.fit("linear", xy, lr=0.1, steps=0)  # L of this problem, for the expected message
    L = lipschitz_constant(res.model, res.data, res.loss)
    lr = 4.0 / L
    with pytest.raises(reglab.DivergenceError) as err:
        reglab.fit("linear", xy, lr=lr, steps=200)
    e = err.value
    assert e.lr == pytest.approx(lr) and e.max_stable_lr == pytest.approx(2.0 / L, rel=1e-6)
    assert 0 < e.step < 200
    msg = str(e)
    assert f"step {e.step}" in msg and f"lr={lr:g}" in msg and f"2/L = {2.0 / L:.4g}" in msg


def test_on_divergence_stop_returns_status_diverged_instead(xy: tuple) -> None:
    res = reglab.fit("linear", xy, lr=10.0, steps=200, on_divergence="stop")
    assert res.status == "diverged" and res.steps_run < 200


def test_a_proximal_l1_so_strong_that_every_weight_is_exactly_zero_gives_the_exact_solution(xy: tuple) -> None:
    X, y = xy
    lam_max = float(np.abs(X.T @ (y - y.mean())).max() * 2 / len(y))  # smallest λ with all-zero weights (squared loss)
    res = reglab.fit("linear", xy, penalties=[reglab.L1(2 * lam_max, update="proximal")], lr="auto", steps=300)
    assert res.status == "max_steps"
    assert torch.count_nonzero(res.model.linear.weight) == 0
    assert float(res.model.linear.bias.detach()) == pytest.approx(y.mean(), rel=1e-9)  # the intercept alone: ȳ


def test_a_gradient_rule_l1_with_large_lr_times_strength_warns_and_names_proximal(xy: tuple) -> None:
    with pytest.warns(reglab.NumericalWarning, match=r"update='proximal'") as caught:
        res = reglab.fit("linear", xy, penalties=[reglab.L1(100.0, update="gradient")], lr=0.1, steps=100)
    assert re.search(r"lr·strength = 10\b", str(caught[0].message))
    assert res.history.objective[-1] > res.history.objective[0]  # what the warning reports is true
    assert torch.count_nonzero(res.model.linear.weight) == 4  # no exact zeros, unlike the proximal rule


def test_a_gradient_rule_l2_with_lr_times_strength_above_2_diverges_with_2_over_L_counting_the_penalty(
        xy: tuple) -> None:
    with pytest.raises(reglab.DivergenceError) as err:
        reglab.fit("linear", xy, penalties=[reglab.L2(100.0, update="gradient")], lr=0.1, steps=100)
    assert err.value.max_stable_lr is not None and err.value.max_stable_lr < 2 / (2 * 100.0)
    res = reglab.fit("linear", xy, penalties=[reglab.L2(100.0, update="gradient")], lr="auto", steps=300)
    assert res.status == "max_steps" and torch.isfinite(res.model.linear.weight).all()


def test_features_on_scales_1e_minus6_to_1e6_warn_to_standardize_and_standardized_they_converge(xy: tuple) -> None:
    X, y = xy
    Xs = X * np.array([1e-6, 1.0, 1e3, 1e6])
    with pytest.warns(reglab.NumericalWarning, match="Standardize X") as caught:
        res = reglab.fit("linear", (Xs, y), lr="auto", steps=300, tol=1e-10)
    assert "1e+12" in str(caught[0].message) or "1.2" in str(caught[0].message)
    assert res.status == "max_steps"  # the warning is warranted: it did not converge
    Z = (Xs - Xs.mean(0)) / Xs.std(0)
    res = reglab.fit("linear", (Z, y), lr="auto", steps=2000, tol=1e-10)
    assert res.status == "converged"


def test_float32_data_whose_square_overflows_raises_naming_the_dtype_and_the_fix(xy: tuple) -> None:
    X, y = xy
    with pytest.raises(reglab.DivergenceError, match=r"float32.*max \|X\| = .*e\+20.*Standardize X.*float64") as err:
        reglab.fit("linear", (X * 1e20, y), lr=0.1, steps=10, dtype=torch.float32)
    assert err.value.step == 0
    with pytest.raises(ValueError, match=r"lr='auto'.*float32.*Standardize X"):
        reglab.fit("linear", (X * 1e20, y), lr="auto", steps=10, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"infinity or a value too large for dtype\('float32'\)"):
        reglab.fit("linear", (X * 1e40, y), lr=0.1, steps=10, dtype=torch.float32)


def test_float64_data_near_the_top_of_its_range_raises_without_suggesting_float64(xy: tuple) -> None:
    X, y = xy
    with pytest.raises(ValueError, match="float64") as err:
        reglab.fit("linear", (X * 1e200, y), lr="auto", steps=10)
    assert "use dtype=torch.float64" not in str(err.value)


def test_an_all_zero_X_without_intercept_refuses_lr_auto_instead_of_dividing_by_zero() -> None:
    X = np.zeros((10, 3))
    with pytest.raises(ValueError, match="all zeros"):
        reglab.fit("linear", (X, np.arange(10.0)), lr="auto", steps=5, model_args={"fit_intercept": False})
