"""The sparse lasso / elastic-net path by coordinate descent: the dense path's and scikit-learn's answer,
to the accuracy its stopping rule guarantees, without ever densifying X; caps warn and flag."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.linear_model import enet_path, lasso_path

from reglab import ConvergenceWarning
from reglab.solvers import alphas_from_sklearn, regularization_path

TOL = 1e-10


def _problem(n: int = 400, p: int = 60, density: float = 0.1, seed: int = 0) -> tuple[scipy.sparse.csc_matrix,
                                                                                       np.ndarray]:
    rng = np.random.default_rng(seed)
    X = scipy.sparse.random(n, p, density=density, format="csc", random_state=seed, data_rvs=rng.standard_normal)
    beta = np.zeros(p)
    beta[:6] = [2.0, -1.5, 1.0, 1.0, -0.5, 0.3]
    return X, X @ beta + 0.1 * rng.standard_normal(n)


def _strong_convexity(X: scipy.sparse.spmatrix, fit_intercept: bool) -> float:
    """μ: the smallest eigenvalue of the (centred) XᵀX/n (of the test's own dense copy, not the solver's)."""
    A = X.toarray()
    if fit_intercept:
        A = A - A.mean(0)
    return float(np.linalg.eigvalsh(A.T @ A / len(A))[0])


def _our_bound(X: scipy.sparse.spmatrix, y: np.ndarray, tol: float, fit_intercept: bool) -> float:
    """How far a coefficient stopped by ``tol`` can be from the optimum.

    The stop leaves a subgradient g of reglab's objective F (Hessian 2·XᵀX/n ⪰ 2μ) with
    max|g_j| ≤ tol·scale, scale = max|2x̃_jᵀỹ/n|; strong convexity gives ‖w − w*‖ ≤ ‖g‖₂/(2μ)."""
    A = X.toarray()
    yc = y - y.mean() if fit_intercept else y
    if fit_intercept:
        A = A - A.mean(0)
    scale = float(np.abs(2.0 * A.T @ yc / len(y)).max())
    return np.sqrt(X.shape[1]) * tol * scale / (2.0 * _strong_convexity(X, fit_intercept))


def _gap_bound(X: scipy.sparse.spmatrix, y: np.ndarray, alphas: np.ndarray, coefs: np.ndarray, l1_ratio: float,
               mu: float) -> float:
    """‖w − w*‖ ≤ √(2·gap/μ) for scikit-learn's answer: its enet objective is μ-strongly convex and the
    duality gap bounds its suboptimality (the gap of ‖r‖²/2n + α(r‖w‖₁ + ½(1 − r)‖w‖²), computed here)."""
    n = len(y)
    worst = 0.0
    for j, a in enumerate(alphas):
        w = coefs[:, j]
        r = y - X @ w
        l1, l2 = a * l1_ratio, a * (1.0 - l1_ratio)
        primal = r @ r / (2 * n) + l1 * np.abs(w).sum() + 0.5 * l2 * w @ w
        v = X.T @ r / n - l2 * w
        s = min(1.0, l1 / max(np.abs(v).max(), 1e-300)) if l1 > 0 else 1.0
        theta = s * r / n
        dual = theta @ y - 0.5 * n * theta @ theta - 0.5 * l2 * w @ w * s * s
        worst = max(worst, primal - dual)
    return float(np.sqrt(2.0 * max(worst, 0.0) / mu))


@pytest.mark.parametrize("fmt", ["csc", "csr"])
def test_sparse_lasso_path_equals_the_dense_path_and_sklearns_lasso_path(fmt: str) -> None:
    X, y = _problem()
    sk_alphas = np.geomspace(np.abs(X.T @ y).max() / len(y), 1e-3 * np.abs(X.T @ y).max() / len(y), 30)
    lam = alphas_from_sklearn(sk_alphas, estimator="Lasso").alphas
    kw = dict(penalty="l1", alphas=lam, fit_intercept=False, tol=TOL)
    ours = regularization_path(X.asformat(fmt), y, **kw)
    dense = regularization_path(X.toarray(), y, **kw)
    sk = lasso_path(X, y, alphas=sk_alphas, tol=1e-14, max_iter=100_000)[1]
    mu = _strong_convexity(X, False)
    bound = _our_bound(X, y, TOL, False)
    assert ours.converged.all()
    np.testing.assert_allclose(ours.coefs, dense.coefs, rtol=0, atol=2 * bound)
    np.testing.assert_allclose(ours.coefs, sk, rtol=0, atol=bound + _gap_bound(X, y, sk_alphas, sk, 1.0, mu))


def test_sparse_elastic_net_path_equals_sklearns_enet_path() -> None:
    X, y = _problem(seed=1)
    r = 0.5
    top = np.abs(X.T @ y).max() / len(y) / r
    sk_alphas = np.geomspace(top, 1e-3 * top, 20)
    grid = alphas_from_sklearn(sk_alphas, estimator="ElasticNet", l1_ratio=r)
    ours = regularization_path(X, y, penalty="elasticnet", l1_ratio=grid.l1_ratio, alphas=grid.alphas,
                               fit_intercept=False, tol=TOL)
    sk = enet_path(X, y, l1_ratio=r, alphas=sk_alphas, tol=1e-14, max_iter=100_000)[1]
    mu = _strong_convexity(X, False)
    assert ours.converged.all()
    np.testing.assert_allclose(ours.coefs, sk, rtol=0,
                               atol=_our_bound(X, y, TOL, False) + _gap_bound(X, y, sk_alphas, sk, r, mu))


def test_sparse_path_with_an_intercept_equals_the_dense_path() -> None:
    X, y = _problem(seed=2)
    y = y + 3.0
    kw = dict(penalty="elasticnet", l1_ratio=0.8, n_alphas=15, fit_intercept=True, tol=TOL,
              penalty_factor=np.r_[0.0, np.ones(X.shape[1] - 1)])
    ours, dense = regularization_path(X, y, **kw), regularization_path(X.toarray(), y, **kw)
    bound = _our_bound(X, y, TOL, True)
    np.testing.assert_allclose(ours.alphas, dense.alphas, rtol=1e-12)
    np.testing.assert_allclose(ours.coefs, dense.coefs, rtol=0, atol=2 * bound)
    # b = ȳ − x̄ᵀw: off by at most ‖x̄‖₂ times the coefficients' distance
    x_mean = np.asarray(X.mean(0)).ravel()
    np.testing.assert_allclose(ours.intercepts, dense.intercepts, rtol=0,
                               atol=2 * bound * np.linalg.norm(x_mean) * np.sqrt(X.shape[1]) + 1e-12)


@pytest.mark.parametrize("fmt", ["csc", "csr"])
def test_sparse_path_never_densifies_x(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _problem()
    X = X.asformat(fmt)

    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise AssertionError("X was densified")

    for cls in (scipy.sparse.csc_matrix, scipy.sparse.csr_matrix):
        for name in ("toarray", "todense"):
            monkeypatch.setattr(cls, name, refuse)
    path = regularization_path(X, y, penalty="l1", n_alphas=10, fit_intercept=True, tol=1e-8)
    assert path.converged.all()


def test_sparse_path_at_its_iteration_cap_warns_with_lambda_and_optimality_and_flags_false() -> None:
    X, y = _problem()
    with pytest.warns(ConvergenceWarning, match=r"regularization_path: \d+ of 10 fits stopped at max_iter=1 "
                                                r"before tol=1e-12; relative optimality reached at λ=") as rec:
        path = regularization_path(X, y, penalty="l1", n_alphas=10, fit_intercept=False, tol=1e-12, max_iter=1)
    assert not path.converged[1:].all()
    assert "worst" in str(rec[0].message)
    assert (path.n_iter[~path.converged] == 1).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert regularization_path(X, y, penalty="l1", n_alphas=10, fit_intercept=False, tol=1e-8).converged.all()


def test_sparse_path_with_64_bit_indices_equals_the_32_bit_one() -> None:
    X, y = _problem()
    X64 = X.copy()
    X64.indices, X64.indptr = X64.indices.astype(np.int64), X64.indptr.astype(np.int64)
    kw = dict(penalty="l1", n_alphas=8, fit_intercept=False, tol=TOL)
    np.testing.assert_array_equal(regularization_path(X64, y, **kw).coefs, regularization_path(X, y, **kw).coefs)
