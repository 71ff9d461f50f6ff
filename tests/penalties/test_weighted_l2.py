"""WeightedL2 (λ·Σ a_j·w_j², generalized ridge): one class and one registry row, picked up by every path.

Its mathematics as facts (value, gradient, prox in closed form); all-ones weights are L2; a zero weight leaves a
coefficient unpenalized; the fit against scikit-learn's Ridge on rescaled features (λ·Σ a_j·w_j² on X is
λ·Σ v_j² on X_j/√a_j with w_j = v_j/√a_j); the config round trip and the CLI form.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import Ridge

import reglab
from reglab import L2
from reglab.data import sparse_regression
from reglab.penalties import KINDS, WeightedL2, penalty_from_config, sklearn_params

finite = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False)
factors = st.floats(min_value=0.0, max_value=3.0)


@given(pairs=st.lists(st.tuples(finite, factors), min_size=1, max_size=6), lam=st.floats(1e-3, 5.0),
       step=st.floats(1e-3, 2.0))
def test_value_gradient_and_prox_are_the_weighted_formulas(pairs: list[tuple[float, float]], lam: float,
                                                             step: float) -> None:
    w = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    a = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    pen = WeightedL2(lam, weights=a)
    torch.testing.assert_close(pen.value(w), lam * (a * w * w).sum(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(pen.grad(w), 2 * lam * a * w, rtol=1e-12, atol=1e-12)
    # argmin_u ½(u − v)² + t·λ·a·u²: the stationarity condition u − v + 2tλa·u = 0
    torch.testing.assert_close(pen.prox(w, step), w / (1 + 2 * step * lam * a), rtol=1e-12, atol=1e-12)


def test_weights_are_required() -> None:
    with pytest.raises(TypeError, match="WeightedL2 needs weights"):
        WeightedL2(0.1, None)


@pytest.mark.parametrize("rule", ["gradient", "proximal", "decoupled"])
def test_all_ones_weights_give_the_l2_fit(rule: str) -> None:
    ds = sparse_regression(n=80, p=6, k=2, seed=0)
    common = {"optimizer": "gd", "lr": 0.05, "steps": 200, "seed": 1}
    ours = reglab.fit("linear", ds, penalties=[WeightedL2(0.05, weights=torch.ones(6), update=rule)], **common)
    ref = reglab.fit("linear", ds, penalties=[L2(0.05, update=rule)], **common)
    for a, b in zip(ours.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_the_fit_is_ridge_on_rescaled_features() -> None:
    """reglab minimises mean (y − f)² + λ·Σ a_j w_j²; Ridge(alpha=λn) on X_j/√a_j has the same optimum in
    v_j = √a_j·w_j. Gradient descent for 4000 steps on a strongly convex quadratic (linear convergence): agreement
    to 1e-6."""
    ds = sparse_regression(n=120, p=5, k=3, seed=3)
    a = np.array([0.25, 1.0, 4.0, 2.0, 0.5])
    lam = 0.05
    res = reglab.fit("linear", ds, penalties=[WeightedL2(lam, weights=torch.as_tensor(a))], optimizer="gd",
                     lr="auto", steps=4000, seed=0)
    X, y = ds.X.numpy(), ds.y.numpy()
    ridge = Ridge(**sklearn_params(L2(lam), len(y), "Ridge")).fit(X / np.sqrt(a), y)
    w = res.model.linear.weight.detach().numpy().reshape(-1)
    np.testing.assert_allclose(w, ridge.coef_ / np.sqrt(a), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(float(res.model.linear.bias.detach()), ridge.intercept_, rtol=1e-6, atol=1e-8)


def test_config_round_trips_and_the_cli_form_parses() -> None:
    pen = WeightedL2(0.1, weights=[1.0, 0.0, 2.0], update="decoupled")
    again = penalty_from_config(json.loads(json.dumps(pen.config())))
    assert type(again) is WeightedL2 and again.config() == pen.config() and repr(again) == repr(pen)
    assert KINDS["weighted_l2"].cls is WeightedL2
    from reglab.cli.fit import parse_penalty

    assert parse_penalty("weighted_l2:0.1:1,0,2:decoupled") == {
        "kind": "weighted_l2", "strength": 0.1, "weights": [1.0, 0.0, 2.0], "update": "decoupled"}
