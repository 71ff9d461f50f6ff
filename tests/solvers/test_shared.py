"""What the solvers share is one piece of code: FISTA's momentum on both backends, one ridge solve,
one record, one sample-weight check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reglab import _checks
from reglab.data import check_sample_weight
from reglab.solvers import (
    LinearSolution,
    fista,
    normalize_sample_weight,
    ridge_solve,
    solve_linear,
)
from reglab.solvers.fista import ON_FLOATS, fista_momentum


def test_fista_momentum_gives_the_same_numbers_on_floats_and_on_tensors() -> None:
    one, zero = torch.ones((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    on_tensors = (torch.sqrt, torch.where, one, zero)
    t_float, t_tensor = 1.0, one
    for restart in [False, False, True, False, False, False, True, True, False]:
        t_float, beta_float = fista_momentum(t_float, restart, *ON_FLOATS)
        t_tensor, beta_tensor = fista_momentum(t_tensor, torch.tensor(restart), *on_tensors)
        assert (t_float, beta_float) == (float(t_tensor), float(beta_tensor))
    assert fista_momentum(3.0, True, *ON_FLOATS) == (1.0, 0.0)
    t, beta = fista_momentum(3.0, False, *ON_FLOATS)
    assert t == (1.0 + math.sqrt(37.0)) / 2.0 and beta == 2.0 / t


@pytest.mark.parametrize("n, p", [(400, 12), (15, 30)])
def test_ridge_solve_and_the_exact_route_are_one_solver(n: int, p: int) -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, p)) + 1.0
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    arrays = ridge_solve(X, y, 0.1)
    route = solve_linear(X, y, loss="squared", alpha=0.1, l1_ratio=0.0)
    assert isinstance(arrays, LinearSolution) and arrays.solver == route.solver == "direct"
    if n > 2 * p:  # the same Gram form and Cholesky solve: the same numbers
        np.testing.assert_array_equal(arrays.coef, route.coef[:, 0])
    else:  # ridge_solve builds the Gram form for any shape; the route takes least squares without one
        np.testing.assert_allclose(arrays.coef, route.coef[:, 0], rtol=1e-10, atol=1e-12)
    assert arrays.intercept == pytest.approx(float(route.intercept[0]), rel=1e-10)


def test_fista_returns_the_one_solution_record() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    sol = fista(X, X[:, 0], l1=0.01)
    assert isinstance(sol, LinearSolution) and sol.solver == "fista" and sol.coef.shape == (3,)


@pytest.mark.parametrize("weights, message", [
    ([1.0, -1.0, 1.0], "Negative values in data passed to `sample_weight`"),
    ([0.0, 0.0, 0.0], "Sample weights must contain at least one non-zero number"),
    ([1.0, np.nan, 1.0], "Input sample_weight contains NaN"),
    ([1.0, 1.0], r"sample_weight.shape == \(2,\), expected \(3,\)"),
])
def test_every_sample_weight_check_says_scikit_learns_words(weights: list[float], message: str) -> None:
    for check in (_checks.check_sample_weight, normalize_sample_weight, check_sample_weight):
        with pytest.raises(ValueError, match=message):
            check(np.array(weights), 3)


def test_the_two_sample_weight_contracts_differ_only_after_the_check() -> None:
    raw = check_sample_weight([1.0, 3.0, 0.0], 3)
    assert raw.dtype == torch.float64 and raw.tolist() == [1.0, 3.0, 0.0]
    assert normalize_sample_weight([1.0, 3.0, 0.0], 3).tolist() == [0.75, 2.25, 0.0]  # mean 1
    assert normalize_sample_weight([2.0, 2.0, 2.0], 3) is None


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("intercept", [False, True])
def test_optimality_scale_is_the_largest_loss_gradient_at_zero(sparse: bool, weighted: bool, intercept: bool) -> None:
    # the squared loss's shortcut (one product XᵀSY) against the loss's own gradient at W = 0
    import scipy.sparse

    from reglab.solvers.design import Design
    from reglab.solvers.linear import optimality_scale

    rng = np.random.default_rng(21)
    X = rng.standard_normal((40, 90)) * (rng.random((40, 90)) < 0.3)
    y = rng.standard_normal(40) + 3.0
    s = rng.integers(1, 4, 40).astype(float) if weighted else None
    d = Design(scipy.sparse.csc_matrix(X) if sparse else X, y, "squared", intercept, s)
    _, g0W, _ = d.loss_grad(np.zeros((d.p, d.k)), np.zeros(d.k))
    assert optimality_scale(d) == pytest.approx(float(np.abs(g0W).max()), rel=1e-12)
