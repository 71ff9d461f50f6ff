"""A scipy sparse X goes through solve_linear and the path without densifying, to the dense answer."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from reglab.solvers import regularization_path, solve_linear
from reglab.solvers.design import Design


def _sparse_problem(n: int, p: int, density: float, seed: int = 0) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = scipy.sparse.random(n, p, density=density, format="csr", random_state=seed, data_rvs=rng.standard_normal)
    beta = np.zeros(p)
    beta[:5] = [2.0, -1.5, 1.0, 1.0, -0.5]
    y = X @ beta + 0.05 * rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("n, p, fit_intercept", [(300, 40, True), (300, 40, False), (60, 200, False)])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_sparse_least_squares_path_equals_the_dense_path(fmt: str, n: int, p: int, fit_intercept: bool,
                                                         l1_ratio: float) -> None:
    X, y = _sparse_problem(n, p, 0.1)
    X = X.asformat(fmt)
    kw = dict(penalty="elasticnet", l1_ratio=l1_ratio, n_alphas=8, fit_intercept=fit_intercept, tol=1e-10)
    sparse, dense = regularization_path(X, y, **kw), regularization_path(X.toarray(), y, **kw)
    np.testing.assert_allclose(sparse.alphas, dense.alphas, rtol=1e-12)
    np.testing.assert_allclose(sparse.coefs, dense.coefs, atol=1e-8)
    np.testing.assert_allclose(sparse.intercepts, dense.intercepts, atol=1e-8)
    assert sparse.converged.all()


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparse_l1_logistic_path_equals_the_dense_path(fit_intercept: bool) -> None:
    X, y = _sparse_problem(400, 60, 0.1)
    labels = (y > np.median(y)).astype(int)
    kw = dict(loss="logistic", penalty="l1", n_alphas=6, fit_intercept=fit_intercept, tol=1e-9)
    sparse, dense = regularization_path(X, labels, **kw), regularization_path(X.toarray(), labels, **kw)
    np.testing.assert_allclose(sparse.coefs, dense.coefs, atol=1e-6)
    np.testing.assert_allclose(sparse.intercepts, dense.intercepts, atol=1e-6)


@pytest.mark.parametrize("loss, l1_ratio", [("squared", 1.0), ("squared", 0.0), ("logistic", 0.7),
                                            ("logistic", 0.0)])
def test_sparse_solve_linear_equals_the_dense_solve(loss: str, l1_ratio: float) -> None:
    X, y = _sparse_problem(200, 30, 0.2)
    if loss == "logistic":
        y = (y > np.median(y)).astype(float)
    kw = dict(loss=loss, alpha=0.01, l1_ratio=l1_ratio, tol=1e-10, fit_intercept=True)
    sparse, dense = solve_linear(X, y, **kw), solve_linear(X.toarray(), y, **kw)
    np.testing.assert_allclose(sparse.coef, dense.coef, atol=1e-6)
    np.testing.assert_allclose(sparse.intercept, dense.intercept, atol=1e-6)


def test_sparse_design_is_never_densified() -> None:
    X, y = _sparse_problem(100, 300, 0.05)
    d = Design(scipy.sparse.csc_matrix(X), y, "logistic", True)
    assert scipy.sparse.issparse(d.X)


def test_sparse_centred_least_squares_with_many_features_is_refused_with_the_way_out() -> None:
    X, y = _sparse_problem(50, 6000, 0.01)
    with pytest.raises(ValueError, match="fit_intercept=False with centred y, or a dense X"):
        regularization_path(X, y, n_alphas=3)


@pytest.mark.parametrize("sample_weight", [None, "random"])
def test_sparse_centred_least_squares_without_a_penalty_and_more_features_than_samples_solves(sample_weight) -> None:
    # no L2 (the Gram matrix is singular, n < p): LSMR on the centred system, X kept sparse
    X, y = _sparse_problem(40, 60, 0.2)
    w = None if sample_weight is None else np.random.default_rng(1).uniform(0.5, 2.0, size=40)
    sol = solve_linear(X, y, loss="squared", alpha=0.0, l1_ratio=0.0, fit_intercept=True, sample_weight=w)
    ref = solve_linear(X.toarray(), y, loss="squared", alpha=0.0, l1_ratio=0.0, fit_intercept=True, sample_weight=w)
    # an interpolating fit (n < p): both minimum-norm solutions of one consistent system
    np.testing.assert_allclose(X @ sol.coef.ravel() + sol.intercept, y, atol=1e-8)
    np.testing.assert_allclose(sol.coef, ref.coef, atol=1e-8)
