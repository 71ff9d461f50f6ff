"""The linear estimators on scipy.sparse X (CSR, CSC), as scikit-learn's Lasso / Ridge / LogisticRegression.

A sparse fit equals the dense fit of the same data (at the optimum, to the bound of tests/_bounds.py,
for the exact solvers; to rounding for the engine's fixed steps) and reaches scikit-learn's optimum on
the same sparse X; predictions on sparse X equal those on the dense one. The MLP estimators take
sparse X too (as scikit-learn's MLPs do), never densified, and equal the dense fit of the same data.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from sklearn.linear_model import Lasso, LogisticRegression, Ridge

from reglab import L1, L2
from reglab.penalties import sklearn_params
from reglab.sklearn import GDClassifier, GDClassifierCV, GDRegressor, GDRegressorCV, MLPClassifier, MLPRegressor
from tests._bounds import Risk, assert_same_optimum


def _data(kind: str, n: int = 240, p: int = 25, seed: int = 0) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    X = scipy.sparse.random(n, p, density=0.15, format="csr", random_state=seed)
    X.data = np.random.default_rng(seed).normal(size=X.nnz)
    rng = np.random.default_rng(seed + 1)
    z = X @ rng.normal(size=p) + 0.1 * rng.normal(size=n)
    if kind == "regression":
        return X, z
    if kind == "binary":
        return X, np.where(z > np.median(z), "yes", "no")
    return X, np.digitize(z, np.quantile(z, [1 / 3, 2 / 3]))


def _solution(est: object) -> tuple[np.ndarray, np.ndarray]:
    coef = np.asarray(est.coef_)
    return (coef.T if coef.ndim == 2 else coef), np.atleast_1d(est.intercept_)


def _risk(X: scipy.sparse.spmatrix, y: np.ndarray, est: object, loss: str) -> Risk:
    labels = np.searchsorted(np.unique(y), y) if loss != "squared" else y
    rho = {"l1": 1.0, "l2": 0.0, "elasticnet": est.l1_ratio}[est.penalty]
    return Risk(X.toarray(), labels, loss=loss, alpha=est.alpha, l1_ratio=rho)


EXACT = [
    pytest.param(GDRegressor(penalty="l2", alpha=0.01, tol=1e-10), "regression", "squared", id="ridge"),
    pytest.param(GDRegressor(penalty="l1", alpha=0.01, tol=1e-10), "regression", "squared", id="lasso"),
    pytest.param(GDRegressor(penalty="elasticnet", alpha=0.02, tol=1e-10), "regression", "squared", id="enet"),
    # L-BFGS stalls at its line-search precision below tol=1e-8 (a ConvergenceWarning): 1e-8 for it
    pytest.param(GDClassifier(penalty="l2", alpha=0.01, tol=1e-8), "binary", "logistic", id="logistic-l2"),
    pytest.param(GDClassifier(penalty="l1", alpha=0.01, tol=1e-10), "binary", "logistic", id="logistic-l1"),
    pytest.param(GDClassifier(penalty="l1", alpha=0.01, tol=1e-10), "multiclass", "cross_entropy", id="softmax-l1"),
]


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize(("est", "kind", "loss"), EXACT)
def test_exact_route_on_sparse_x_reaches_the_dense_fits_optimum(est, kind: str, loss: str, fmt: str) -> None:
    X, y = _data(kind)
    sparse = est.fit(X.asformat(fmt), y)
    sol_sparse, pred_sparse = _solution(sparse), sparse.predict(X.asformat(fmt))
    dense = est.fit(X.toarray(), y)
    risk = _risk(X, y, est, loss)
    assert_same_optimum(risk, sol_sparse, risk, _solution(dense), tol=est.tol, f_test=est.penalty == "l2")
    if kind == "regression":
        np.testing.assert_allclose(pred_sparse, dense.predict(X.toarray()), rtol=1e-8, atol=1e-10)
    else:
        np.testing.assert_array_equal(pred_sparse, dense.predict(X.toarray()))


@pytest.mark.parametrize(("est", "kind"), [
    (GDRegressor(penalty="l1", alpha=0.01, update="proximal", max_iter=300, random_state=0), "regression"),
    (GDRegressor(penalty="l2", alpha=0.01, optimizer="sgd", batch_size=16, max_iter=300, random_state=0),
     "regression"),
    (GDClassifier(penalty="l1", alpha=0.01, update="cumulative", optimizer="sgd", batch_size=16, max_iter=300,
                  random_state=0), "multiclass"),
    (GDClassifier(penalty="elasticnet", alpha=0.01, update="decoupled", max_iter=300, random_state=0,
                  record=True), "binary"),
])
def test_engine_route_on_sparse_x_equals_the_dense_fit_to_rounding(est, kind: str) -> None:
    X, y = _data(kind)
    sparse = est.fit(X, y)
    coef, proba = sparse.coef_.copy(), (sparse.predict_proba(X) if kind != "regression" else sparse.predict(X))
    dense = est.fit(X.toarray(), y)
    np.testing.assert_allclose(coef, dense.coef_, rtol=1e-12, atol=1e-14 * np.abs(dense.coef_).max())
    expected = dense.predict_proba(X.toarray()) if kind != "regression" else dense.predict(X.toarray())
    np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("est", [GDRegressorCV(n_alphas=6, cv=3, tol=1e-10), GDClassifierCV(n_alphas=6, cv=3, tol=1e-10)])
def test_cross_validated_estimators_choose_the_same_lambda_on_sparse_x(est) -> None:
    X, y = _data("regression" if isinstance(est, GDRegressorCV) else "binary")
    sparse = est.fit(X, y)
    grid, alpha, path = sparse.alphas_.copy(), sparse.alpha_, sparse.cv_mean_loss_.copy()
    dense = est.fit(X.toarray(), y)
    # the grid starts at alpha_max, a sum over the stored entries in another order: equal to rounding
    np.testing.assert_allclose(grid, dense.alphas_, rtol=1e-13)
    assert list(grid).index(alpha) == list(dense.alphas_).index(dense.alpha_)
    np.testing.assert_allclose(path, dense.cv_mean_loss_, rtol=1e-6)


@pytest.mark.parametrize(("term", "Ref"), [(L1(0.02), Lasso), (L2(0.05), Ridge)])
def test_regressor_on_sparse_x_reaches_scikit_learns_optimum_on_the_same_sparse_x(term, Ref) -> None:
    X, y = _data("regression", seed=2)
    ref = Ref(**sklearn_params(term, X.shape[0], Ref.__name__), tol=1e-14, max_iter=100_000).fit(X, y)
    ours = GDRegressor(penalty=term.kind, alpha=term.strength, tol=1e-10, max_iter=100_000).fit(X, y)
    risk = _risk(X, y, ours, "squared")
    assert_same_optimum(risk, _solution(ours), risk, (ref.coef_, np.array([ref.intercept_])), tol=1e-10,
                        f_test=term.kind == "l2")


def test_classifier_on_sparse_x_reaches_logistic_regressions_optimum_on_the_same_sparse_x() -> None:
    X, y = _data("binary", seed=3)
    term = L2(0.01)
    ref = LogisticRegression(C=sklearn_params(term, X.shape[0], "LogisticRegression")["C"], tol=1e-12,
                             max_iter=100_000).fit(X, y)
    ours = GDClassifier(penalty="l2", alpha=term.strength, tol=1e-10, max_iter=100_000).fit(X, y)
    risk = _risk(X, y, ours, "logistic")
    assert_same_optimum(risk, _solution(ours), risk, (ref.coef_[0], ref.intercept_), tol=1e-10, f_test=True)


MLP_ROUTES = [{"optimizer": "adam", "penalty": "l2", "alpha": 1e-3},
              {"penalty": "l1", "alpha": 1e-3, "update": "proximal", "batch_size": 32}]


@pytest.mark.parametrize("Est", [MLPRegressor, MLPClassifier])
@pytest.mark.parametrize("route", MLP_ROUTES, ids=["adam-l2", "sgd-l1-proximal"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_mlp_estimators_on_sparse_x_equal_the_dense_fit(Est, route, fmt) -> None:  # noqa: ANN001
    X, y = _data("regression" if Est is MLPRegressor else "multiclass")
    X = X.asformat(fmt)
    kw = {"hidden_layer_sizes": (8,), "max_iter": 60, "random_state": 0, "standardize_input": False, **route}
    sparse, dense = Est(**kw).fit(X, y), Est(**kw).fit(X.toarray(), y)
    for a, b in zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    out = "predict" if Est is MLPRegressor else "predict_proba"
    np.testing.assert_allclose(getattr(sparse, out)(X), getattr(dense, out)(X.toarray()), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("Est", [MLPRegressor, MLPClassifier])
@pytest.mark.parametrize("route", MLP_ROUTES, ids=["adam-l2", "sgd-l1-proximal"])  # sgd: lr="auto" from X̃
def test_mlp_estimators_standardize_a_sparse_x_as_the_dense_one_without_densifying_it(Est, route) -> None:  # noqa: ANN001
    # standardize_input on sparse X: X / std stays sparse, the centring is done in fc1's output
    X, y = _data("regression" if Est is MLPRegressor else "binary")
    X.data += 1.0  # columns with a clear non-zero mean: the centring matters
    kw = {"hidden_layer_sizes": (8,), "max_iter": 60, "random_state": 0, **route}
    sparse, dense = Est(**kw).fit(X, y), Est(**kw).fit(X.toarray(), y)
    for a, b in zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
    out = "predict" if Est is MLPRegressor else "predict_proba"
    np.testing.assert_allclose(getattr(sparse, out)(X), getattr(dense, out)(X.toarray()), rtol=1e-9, atol=1e-11)
    # without the centring the fit would differ: the network trained on the centred problem
    uncentred = Est(**{**kw, "standardize_input": False}).fit(X / np.asarray(sparse._input_scaling[1]), y)
    assert not np.allclose(uncentred.coefs_[1], sparse.coefs_[1], rtol=1e-3)


def test_bad_sparse_input_is_refused_in_scikit_learns_words() -> None:
    X, y = _data("regression")
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GDRegressor().fit(bad, y)
    bad.data[0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        GDRegressor().fit(bad, y)
    with pytest.raises(TypeError, match="Sparse data was passed for y, but dense data is required"):
        GDRegressor().fit(X, scipy.sparse.csr_matrix(y.reshape(-1, 1)))
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[240, 239\]"):
        GDRegressor().fit(X, y[:-1])
    fitted = GDRegressor().fit(X, y)
    with pytest.raises(ValueError, match="X has 24 features, but GDRegressor is expecting 25 features"):
        fitted.predict(X[:, :24])
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted.predict(bad)
