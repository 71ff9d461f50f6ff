"""reglab reaches scikit-learn's optimum through :func:`reglab.penalties.sklearn_params`.

Each case fits the same problem twice: reglab (proximal GD for lasso and elastic net, the gradient
rule for ridge and L2-logistic; lr="auto", stopped by ``tol`` on the optimality measure) and the
scikit-learn estimator with the mapped parameters and tight tolerances. Both solutions are then
evaluated in reglab's objective (mean (y − f)² + λ·pen, or mean NLL + λ·pen; intercept unpenalized),
which must agree to 1e-6 relative.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from sklearn import linear_model

import reglab
from reglab.data import Dataset, load_dataset, pure_noise, sparse_regression
from reglab.penalties import L1, L2, ElasticNet, sklearn_params

DATA: dict[str, Callable[[], Dataset]] = {
    "diabetes": lambda: load_dataset("diabetes", test_size=None),
    "sparse": lambda: sparse_regression(n=150, p=30, k=5, rho=0.5, seed=0),
    "breast_cancer": lambda: load_dataset("breast_cancer", test_size=None),
    "binary": lambda: _binary(),
}


def _binary() -> Dataset:
    ds = pure_noise(n=300, p=8, task="binary", n_test=0, seed=0)
    rng = np.random.default_rng(1)
    X = ds.X.numpy()
    logits = X @ rng.normal(size=8) + 0.3
    y = (rng.random(300) < 1 / (1 + np.exp(-logits))).astype(float)
    return Dataset.from_arrays(X, y, task="binary", name="binary")


def reglab_objective(ds: Dataset, pen, w: np.ndarray, b: float, logistic: bool) -> float:
    X, y = ds.X.numpy(), ds.y.numpy().astype(float)
    f = X @ w + b
    data = np.mean(np.logaddexp(0.0, f) - y * f) if logistic else np.mean((y - f) ** 2)
    return float(data + pen.value(torch.as_tensor(w)))


def sklearn_fit(estimator: str, pen, ds: Dataset) -> tuple[np.ndarray, float]:
    params = sklearn_params(pen, ds.n_samples, estimator)
    X, y = ds.X.numpy(), ds.y.numpy()
    if estimator == "Ridge":
        est = linear_model.Ridge(**params, tol=1e-12, solver="cholesky")
    elif estimator == "Lasso":
        est = linear_model.Lasso(**params, tol=1e-12, max_iter=1_000_000)
    elif estimator == "ElasticNet":
        est = linear_model.ElasticNet(**params, tol=1e-12, max_iter=1_000_000)
    else:  # scikit-learn 1.9: the penalty is chosen by l1_ratio (0 is L2); `penalty=` is deprecated
        est = linear_model.LogisticRegression(**params, tol=1e-12, max_iter=100_000)
    est.fit(X, y)
    return np.ravel(est.coef_), float(np.ravel(est.intercept_)[0])


CASES = [
    # (data, estimator, term, fraction of alpha_max or plain strength)
    ("diabetes", "Lasso", lambda s: L1(s, update="proximal"), 0.05),
    ("sparse", "Lasso", lambda s: L1(s, update="proximal"), 0.1),
    ("diabetes", "ElasticNet", lambda s: ElasticNet(s, l1_ratio=0.5, update="proximal"), 0.3),
    ("sparse", "ElasticNet", lambda s: ElasticNet(s, l1_ratio=0.7, update="proximal"), 0.1),
    ("diabetes", "Ridge", lambda s: L2(s), 0.5),
    ("sparse", "Ridge", lambda s: L2(s), 0.05),
    ("breast_cancer", "LogisticRegression", lambda s: L2(s), 0.01),
    ("binary", "LogisticRegression", lambda s: L2(s), 0.05),
]


@pytest.mark.parametrize(("data", "estimator", "make", "level"), CASES,
                         ids=[f"{c[1]}-{c[0]}" for c in CASES])
def test_reglab_reaches_sklearn_optimum_to_1e_6_relative_objective(data: str, estimator: str, make, level: float) -> None:
    ds = DATA[data]()
    logistic = estimator == "LogisticRegression"
    loss = "logistic" if logistic else "squared"
    sparse = estimator in ("Lasso", "ElasticNet")
    # lasso strengths are a fraction of alpha_max, so that the optimum has zeros and non-zeros
    strength = level * make(1.0).alpha_max(ds.X, ds.y, loss=loss) if sparse else level
    pen = make(strength)
    res = reglab.fit("logistic" if logistic else "linear", ds, penalties=[pen], optimizer="gd", lr="auto",
                     steps=200_000, tol=1e-10)
    assert res.status == "converged"
    w = res.model.linear.weight.detach().numpy().ravel()
    b = float(res.model.linear.bias.detach())
    w_sk, b_sk = sklearn_fit(estimator, pen, ds)
    ours, theirs = reglab_objective(ds, pen, w, b, logistic), reglab_objective(ds, pen, w_sk, b_sk, logistic)
    assert abs(ours - theirs) <= 1e-6 * abs(theirs)
    if sparse:  # the same support: exact zeros where scikit-learn has them
        assert 0 < int((w == 0).sum()) < len(w)
        np.testing.assert_array_equal(w == 0, w_sk == 0)
