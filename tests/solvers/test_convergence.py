"""No silent non-convergence: solve_linear and the path warn, name λ and the optimality reached, and flag it."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from sklearn.linear_model import enet_path, lasso_path

from reglab import ConvergenceWarning
from reglab.solvers import Path, alphas_from_sklearn, regularization_path, solve_linear
from reglab.solvers.linear import path_solutions


def _problem(n: int = 80, p: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X[:, 1:] += 0.8 * X[:, :-1]          # correlated columns: one step is far from the optimum
    y = X[:, :5] @ np.array([3.0, -2.0, 1.5, 1.0, -1.0]) + 0.1 * rng.standard_normal(n)
    return X, y


def test_path_record_keeps_its_fields_in_order_and_adds_converged_last() -> None:
    assert Path._fields == ("alphas", "coefs", "intercepts", "n_iter", "converged")


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_path_at_max_iter_1_warns_naming_lambda_and_optimality_and_flags_false(loss: str) -> None:
    X, y = _problem()
    if loss == "logistic":
        y = (y > 0).astype(float)
    with pytest.warns(ConvergenceWarning, match=r"regularization_path: \d+ of 8 fits stopped at max_iter=1") as rec:
        path = regularization_path(X, y, loss=loss, penalty="l1", n_alphas=8, max_iter=1, tol=1e-10)
    assert not path.converged.all()
    assert path.converged.dtype == bool and path.converged.shape == (8,)
    message = str(rec[0].message)
    worst = float(re.search(r"worst ([0-9.e+-]+) at λ=([0-9.e+-]+)", message).group(1))
    assert worst > 1e-10                          # the optimality reached, above the tolerance asked
    lam = float(re.search(r"at λ=([0-9.e+-]+)\. ", message).group(1))
    assert np.isclose(path.alphas, lam, rtol=1e-5).any()


def test_path_at_the_defaults_converges_silently() -> None:
    X, y = _problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        path = regularization_path(X, y, penalty="elasticnet", l1_ratio=0.5, n_alphas=10)
    assert path.converged.all()


def test_path_solutions_warns_at_the_cap_and_keeps_its_three_results() -> None:
    X, y = _problem()
    with pytest.warns(ConvergenceWarning, match="path_solutions"):
        out = path_solutions(X, y, loss="squared", alphas=np.array([0.5, 0.05, 0.005]), l1_ratio=1.0,
                             penalty_factor=np.ones(X.shape[1]), fit_intercept=True, tol=1e-12, max_iter=1)
    assert len(out) == 3


def test_solve_linear_at_max_iter_1_warns_with_lambda_and_reports_its_optimality() -> None:
    X, y = _problem()
    with pytest.warns(ConvergenceWarning, match=r"at λ=0\.01 the relative optimality measure is") as rec:
        sol = solve_linear(X, y, loss="squared", alpha=0.01, l1_ratio=1.0, tol=1e-12, max_iter=1)
    assert not sol.converged
    assert sol.optimality > 1e-12
    assert f"{sol.optimality:.3g}" in str(rec[0].message)


def test_solve_linear_at_the_defaults_is_silent_and_optimal_to_tol() -> None:
    X, y = _problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        sol = solve_linear(X, y, loss="squared", alpha=0.01, l1_ratio=1.0)
    assert sol.converged and sol.optimality is None


def _sklearn_grid(Xc: np.ndarray, yc: np.ndarray) -> np.ndarray:
    """scikit-learn's lasso grid: from its alpha_max = max|Xᵀy|/n down to a hundredth of it."""
    top = float(np.abs(Xc.T @ yc).max()) / len(yc)
    return np.geomspace(top, top / 100, 10)


def test_alphas_from_sklearn_gives_lasso_path_coefficients_on_sklearns_grid() -> None:
    X, y = _problem(200, 20)
    Xc, yc = X - X.mean(0), y - y.mean()
    sk_alphas, sk_coefs, _ = lasso_path(Xc, yc, alphas=_sklearn_grid(Xc, yc), tol=1e-12, max_iter=100_000)
    grid = alphas_from_sklearn(sk_alphas, estimator="Lasso")
    path = regularization_path(Xc, yc, penalty="l1", alphas=grid.alphas, fit_intercept=False, tol=1e-12)
    np.testing.assert_allclose(path.alphas, 2 * sk_alphas)
    np.testing.assert_allclose(path.coefs, sk_coefs, atol=1e-7)


def test_alphas_from_sklearn_gives_enet_path_coefficients_on_sklearns_grid() -> None:
    X, y = _problem(200, 20)
    Xc, yc = X - X.mean(0), y - y.mean()
    r = 0.3
    sk_alphas, sk_coefs, _ = enet_path(Xc, yc, l1_ratio=r, alphas=_sklearn_grid(Xc, yc) / r, tol=1e-12,
                                       max_iter=100_000)
    grid = alphas_from_sklearn(sk_alphas, estimator="ElasticNet", l1_ratio=r)
    path = regularization_path(Xc, yc, penalty="elasticnet", l1_ratio=grid.l1_ratio, alphas=grid.alphas,
                               fit_intercept=False, tol=1e-12)
    np.testing.assert_allclose(path.coefs, sk_coefs, atol=1e-7)


def test_alphas_from_sklearn_gives_logistic_regression_coefficients_for_its_c() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _problem(150, 8)
    y = (y > 0).astype(int)
    Cs = np.array([0.05, 0.5])
    grid = alphas_from_sklearn(Cs, estimator="LogisticRegression", n_samples=len(y), l1_ratio=1.0)
    path = regularization_path(X, y, loss="logistic", penalty="l1", alphas=grid.alphas, tol=1e-10)
    for j, C in enumerate(Cs):   # the path is sorted by decreasing λ: increasing C
        sk = LogisticRegression(C=C, l1_ratio=1.0, solver="saga", tol=1e-12, max_iter=100_000).fit(X, y) \
            if _takes_l1_ratio() else LogisticRegression(C=C, penalty="l1", solver="saga", tol=1e-12,
                                                          max_iter=100_000).fit(X, y)
        np.testing.assert_allclose(path.coefs[:, j], sk.coef_.ravel(), atol=2e-4)


def _takes_l1_ratio() -> bool:
    import sklearn

    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    return (major, minor) >= (1, 8)


@pytest.mark.parametrize("kwargs, message", [
    ({"estimator": "Ridge"}, "pass n_samples"),
    ({"estimator": "SVR"}, "Unknown estimator"),
    ({"estimator": "ElasticNet", "l1_ratio": 2.0}, r"l1_ratio must be in \[0, 1\]"),
])
def test_alphas_from_sklearn_refuses_what_it_cannot_convert(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        alphas_from_sklearn([1.0], **kwargs)
