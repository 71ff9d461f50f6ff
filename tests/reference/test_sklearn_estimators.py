"""reglab.sklearn against scikit-learn: Ridge, Lasso, ElasticNet, LogisticRegression and enet_path.

Parameters are mapped by :func:`reglab.penalties.sklearn_params`; agreement is measured on reglab's
objective (relative difference ≤ 1e-5) and on coefficients, on diabetes, breast_cancer
(standardized) and synthetic data, all in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification, make_regression
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge, enet_path
from sklearn.preprocessing import StandardScaler

from reglab import L1, L2
from reglab import ElasticNet as EN
from reglab.solvers import objective
from reglab.penalties import sklearn_params
from reglab.sklearn import GDClassifier, GDRegressor, regularization_path

RTOL_OBJECTIVE = 1e-5


def _regression(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        return StandardScaler().fit_transform(X), y
    X, y = make_regression(n_samples=150, n_features=12, n_informative=5, noise=10.0, random_state=1)
    return X, y


def _classification(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        return StandardScaler().fit_transform(X), y
    return make_classification(n_samples=200, n_features=8, n_informative=4, random_state=2)


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("data", ["diabetes", "synthetic"])
@pytest.mark.parametrize(("term", "Ref"), [(L2(0.05), Ridge), (L1(2.0), Lasso), (EN(1.0, 0.6), ElasticNet)])
def test_regressor_matches_ridge_lasso_elasticnet(data, term, Ref) -> None:
    X, y = _regression(data)
    ref_kwargs = {"tol": 1e-12} if Ref is Ridge else {"tol": 1e-12, "max_iter": 100_000}
    ref = Ref(**sklearn_params(term, len(X), Ref.__name__), **ref_kwargs).fit(X, y)
    rho = {"l2": 0.0, "l1": 1.0}.get(term.kind, getattr(term, "l1_ratio", 0.0))
    penalty = {"l2": "l2", "l1": "l1", "elasticnet": "elasticnet"}[term.kind]
    ours = GDRegressor(penalty=penalty, alpha=term.strength, l1_ratio=rho, tol=1e-10, max_iter=100_000).fit(X, y)
    o_ours = objective(X, y, ours.coef_, ours.intercept_, loss="squared", alpha=term.strength, l1_ratio=rho)
    o_ref = objective(X, y, ref.coef_, ref.intercept_, loss="squared", alpha=term.strength, l1_ratio=rho)
    assert _rel(o_ours, o_ref) <= RTOL_OBJECTIVE
    assert o_ours <= o_ref * (1 + 1e-12)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-6 * np.abs(ref.coef_).max())
    if term.kind != "l2":
        np.testing.assert_array_equal(ours.coef_ == 0, ref.coef_ == 0)


@pytest.mark.parametrize("data", ["breast_cancer", "synthetic"])
@pytest.mark.parametrize("term", [L2(0.01), L1(0.01)], ids=["l2", "l1"])
def test_classifier_matches_logistic_regression(data, term) -> None:
    X, y = _classification(data)
    params = sklearn_params(term, len(X), "LogisticRegression")
    solver = "lbfgs" if term.kind == "l2" else "liblinear"
    # liblinear visits coordinates in a random order (a fixed seed makes the reference reproducible)
    # and at tol=1e-10 can fail to converge on breast_cancer within 100 000 iterations (a
    # ConvergenceWarning after ~55 s); at 1e-8 it converges in ~20 ms to within 1e-10 relative of
    # saga's tol=1e-10 objective, far inside the 1e-5 asserted here
    tol = 1e-10 if term.kind == "l2" else 1e-8
    kwargs = {"C": params["C"], "tol": tol, "max_iter": 100_000, "solver": solver, "random_state": 0}
    if term.kind == "l1":
        kwargs["l1_ratio"] = 1.0
        kwargs["intercept_scaling"] = 1e4  # liblinear penalizes its intercept; make that negligible
    ref = LogisticRegression(**kwargs).fit(X, y)
    rho = 0.0 if term.kind == "l2" else 1.0
    ours = GDClassifier(penalty=term.kind, alpha=term.strength, tol=1e-10, max_iter=100_000).fit(X, y)
    o_ours = objective(X, y, ours.coef_.T, ours.intercept_, loss="logistic", alpha=term.strength, l1_ratio=rho)
    o_ref = objective(X, y, ref.coef_.T, ref.intercept_, loss="logistic", alpha=term.strength, l1_ratio=rho)
    assert _rel(o_ours, o_ref) <= RTOL_OBJECTIVE
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-3, atol=1e-4 * np.abs(ref.coef_).max())


@pytest.mark.parametrize("data", ["diabetes", "synthetic"])
@pytest.mark.parametrize("rho", [1.0, 0.5])
def test_path_equals_enet_path_at_every_alpha(data, rho) -> None:
    X, y = _regression(data)
    Xc, yc = X - X.mean(0), y - y.mean()  # enet_path fits no intercept
    path = regularization_path(Xc, yc, penalty="elasticnet", l1_ratio=rho, n_alphas=20, tol=1e-12,
                               max_iter=100_000)
    mapped = [sklearn_params(EN(a, rho), len(X), "ElasticNet") for a in path.alphas]
    sk_alphas = np.array([m["alpha"] for m in mapped])
    _, sk_coefs, _ = enet_path(Xc, yc, l1_ratio=mapped[0]["l1_ratio"], alphas=sk_alphas, tol=1e-14,
                               max_iter=100_000)
    assert path.coefs.shape == sk_coefs.shape == (X.shape[1], 20)
    assert np.all(path.coefs[:, 0] == 0)  # alpha_max: every coefficient exactly zero
    for i, lam in enumerate(path.alphas):
        o_ours = objective(Xc, yc, path.coefs[:, i], path.intercepts[i], loss="squared", alpha=lam, l1_ratio=rho)
        o_ref = objective(Xc, yc, sk_coefs[:, i], 0.0, loss="squared", alpha=lam, l1_ratio=rho)
        assert _rel(o_ours, o_ref) <= 1e-8, i
        np.testing.assert_allclose(path.coefs[:, i], sk_coefs[:, i], rtol=1e-5,
                                   atol=1e-7 * max(np.abs(sk_coefs).max(), 1.0))
        np.testing.assert_array_equal(path.coefs[:, i] == 0, sk_coefs[:, i] == 0)
