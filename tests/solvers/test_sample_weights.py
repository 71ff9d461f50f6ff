"""sample_weight in the exact solvers (reglab.solvers): the weighted mean loss Σ sᵢ·ℓᵢ / Σ sᵢ.

Facts checked: an integer weight equals repeating the row, a zero weight equals dropping it, scaling
every weight changes nothing, and the optimum equals scikit-learn's Ridge / Lasso / ElasticNet /
LogisticRegression fitted with the same sample_weight (1e-8 relative objective).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

from reglab import L1, L2
from reglab import ElasticNet as EN
from reglab.solvers.design import Design as _Design
from reglab.solvers import alpha_max, objective, regularization_path, solve_linear
from reglab.solvers import normalize_sample_weight as check_sample_weight
from reglab.penalties import sklearn_params
from tests._bounds import Risk, assert_same_optimum

TIGHT = dict(tol=1e-12, max_iter=100_000)


def _data(loss: str, n: int = 60, p: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 0.5
    z = X @ rng.standard_normal(p) + 0.5 * rng.standard_normal(n)
    if loss == "squared":
        y = z + 3.0
    elif loss == "logistic":
        y = (z > np.median(z)).astype(float)
    else:
        y = np.digitize(z, np.quantile(z, [1 / 3, 2 / 3])).astype(np.int64)
    weights = rng.integers(0, 4, n).astype(float)
    weights[:3] = [0.0, 1.0, 3.0]  # a dropped row, a kept row, a tripled row
    return X, y, weights


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def _assert_same_optimum(a: tuple, sol_a, b: tuple, sol_b, loss: str, lam: float, rho: float, fi: bool) -> None:
    """Solutions of one risk, formulated as (X, y, weights) a and b, within what solvers at TIGHT's tol allow.

    ‖θ_a − θ_b‖₂ ≤ (r_a + r_b)/μ from strong convexity (tests/_bounds.py), r each KKT residual, each held
    to the solver's stopping accuracy: L-BFGS ends where F stops decreasing in floating point, so its
    coefficients agree only to ~1e-8 relative, differently on each machine.
    """
    risk = dict(loss=loss, alpha=lam, l1_ratio=rho, fit_intercept=fi)
    assert_same_optimum(Risk(a[0], a[1], sample_weight=a[2], **risk), (sol_a.coef, sol_a.intercept),
                        Risk(b[0], b[1], sample_weight=b[2], **risk), (sol_b.coef, sol_b.intercept),
                        tol=TIGHT["tol"], f_test="lbfgs" in (sol_a.solver, sol_b.solver))


# (loss, λ, ρ, fit_intercept): one per solver the dispatch picks
CASES = [
    ("squared", 0.05, 0.0, True),     # direct (Cholesky on the weighted Gram form)
    ("squared", 0.05, 1.0, True),     # FISTA on the Gram form
    ("squared", 0.05, 0.5, False),
    ("logistic", 0.02, 0.0, True),    # L-BFGS
    ("logistic", 0.02, 1.0, True),    # FISTA on the data form
    ("cross_entropy", 0.02, 0.5, True),
]


@pytest.mark.parametrize("loss, lam, rho, fi", CASES)
def test_integer_weights_equal_repeated_rows(loss: str, lam: float, rho: float, fi: bool) -> None:
    X, y, s = _data(loss)
    reps = s.astype(int)
    Xr, yr = np.repeat(X, reps, 0), np.repeat(y, reps, 0)
    weighted = solve_linear(X, y, loss=loss, alpha=lam, l1_ratio=rho, fit_intercept=fi, sample_weight=s, **TIGHT)
    repeated = solve_linear(Xr, yr, loss=loss, alpha=lam, l1_ratio=rho, fit_intercept=fi, **TIGHT)
    assert weighted.converged and repeated.converged
    # tolerance derived from the solvers' stopping criterion (was rtol=1e-7: L-BFGS is at 5e-8 here)
    _assert_same_optimum((X, y, s), weighted, (Xr, yr, None), repeated, loss, lam, rho, fi)
    obj = dict(loss=loss, alpha=lam, l1_ratio=rho)
    # solvers at tol 1e-12: the objective gap is second order in the KKT residual, F − F* ≤ r²/(2μ) ≲ 1e-17,
    # so 1e-10 only has to cover the objective's own rounding (~n·eps)
    assert _relative(objective(X, y, weighted.coef, weighted.intercept, sample_weight=s, **obj),
                     objective(Xr, yr, repeated.coef, repeated.intercept, **obj)) <= 1e-10


@pytest.mark.parametrize("loss, lam, rho, fi", CASES)
def test_weights_scaled_by_a_constant_change_nothing_and_zero_weight_drops_the_row(
        loss: str, lam: float, rho: float, fi: bool) -> None:
    X, y, s = _data(loss, seed=1)
    s = s + 0.25 * (s > 0)  # non-integer weights
    base = solve_linear(X, y, loss=loss, alpha=lam, l1_ratio=rho, fit_intercept=fi, sample_weight=s, **TIGHT)
    scaled = solve_linear(X, y, loss=loss, alpha=lam, l1_ratio=rho, fit_intercept=fi, sample_weight=1e3 * s, **TIGHT)
    keep = s > 0
    dropped = solve_linear(X[keep], y[keep], loss=loss, alpha=lam, l1_ratio=rho, fit_intercept=fi,
                           sample_weight=s[keep], **TIGHT)
    # tolerance derived from the solvers' stopping criterion (was rtol=1e-8; L-BFGS gave 4.5e-8 on another CPU)
    _assert_same_optimum((X, y, s), base, (X, y, 1e3 * s), scaled, loss, lam, rho, fi)
    _assert_same_optimum((X, y, s), base, (X[keep], y[keep], s[keep]), dropped, loss, lam, rho, fi)


def test_unit_weights_give_the_unweighted_solution_bit_for_bit() -> None:
    X, y, _ = _data("logistic")
    plain = solve_linear(X, y, loss="logistic", alpha=0.02, l1_ratio=1.0, **TIGHT)
    ones = solve_linear(X, y, loss="logistic", alpha=0.02, l1_ratio=1.0, sample_weight=np.full(len(y), 2.5), **TIGHT)
    assert np.array_equal(plain.coef, ones.coef) and np.array_equal(plain.intercept, ones.intercept)


def test_weighted_design_gram_and_centring_are_the_weighted_ones() -> None:
    X, y, s = _data("squared")
    d = _Design(X, y, "squared", True, s)
    w = s / s.mean()
    np.testing.assert_allclose(d.weights, w, rtol=1e-15)
    xm = (w @ X) / w.sum()
    np.testing.assert_allclose(d.x_mean, xm, rtol=1e-13)
    Xc = X - xm
    np.testing.assert_allclose(d.gram, Xc.T @ (w[:, None] * Xc) / len(X), rtol=1e-12)
    np.testing.assert_allclose(d.xty[:, 0], Xc.T @ (w * (y - (w @ y) / w.sum())) / len(X), rtol=1e-12, atol=1e-14)


def test_squared_loss_without_gram_form_and_least_squares_fallback_are_weighted() -> None:
    # n ≤ 2p: no Gram form, the loss and gradient run on the data; λ = 0: least squares (lstsq)
    X, y, s = _data("squared", n=20, p=12, seed=2)
    reps = s.astype(int)
    Xr, yr = np.repeat(X, reps, 0), np.repeat(y, reps, 0)
    for lam, rho in ((0.05, 1.0), (0.0, 0.0), (0.05, 0.0)):
        a = solve_linear(X, y, loss="squared", alpha=lam, l1_ratio=rho, sample_weight=s, **TIGHT)
        b = solve_linear(Xr, yr, loss="squared", alpha=lam, l1_ratio=rho, **TIGHT)
        obj = dict(loss="squared", alpha=lam, l1_ratio=rho)
        # tol already tight (1e-12; the others direct): the objective gap, ≤ r²/(2μ), is ~1e-20, 1e-9 is rounding room
        assert _relative(objective(X, y, a.coef, a.intercept, sample_weight=s, **obj) + 1.0,
                         objective(Xr, yr, b.coef, b.intercept, **obj) + 1.0) <= 1e-9


# -- scikit-learn with the same sample_weight -------------------------------------------------------------


def _float_weights(n: int, seed: int) -> np.ndarray:
    s = np.random.default_rng(seed).uniform(0.0, 3.0, n)
    s[:2] = 0.0
    return s


@pytest.mark.parametrize("term, estimator", [(L2(0.05), "Ridge"), (L1(0.05), "Lasso"),
                                             (EN(0.05, l1_ratio=0.4), "ElasticNet")])
def test_squared_loss_equals_sklearn_with_sample_weight(term, estimator: str) -> None:
    X, y, _ = _data("squared", n=80, seed=3)
    s = _float_weights(len(y), 3)
    rho = {"l2": 0.0, "l1": 1.0}.get(term.kind, getattr(term, "l1_ratio", 0.0))
    # Ridge sums the weighted losses: Σ sᵢrᵢ² + α‖w‖² = Σs·(ours) at α = λ·Σs; Lasso and ElasticNet
    # normalize the weights to sum n themselves, so the unweighted mapping holds
    params = {"alpha": term.strength * s.sum()} if estimator == "Ridge" else sklearn_params(term, len(y), estimator)
    cls = {"Ridge": Ridge, "Lasso": Lasso, "ElasticNet": ElasticNet}[estimator]
    extra = {} if estimator == "Ridge" else dict(tol=1e-14, max_iter=1_000_000)
    ref = cls(**params, **extra).fit(X, y, sample_weight=s)
    ours = solve_linear(X, y, loss="squared", alpha=term.strength, l1_ratio=rho, sample_weight=s, **TIGHT)
    obj = dict(loss="squared", alpha=term.strength, l1_ratio=rho, sample_weight=s)
    # both solvers at tight tol (1e-12, 1e-14): the objective gap is second order in their residuals (~1e-16 seen)
    assert _relative(objective(X, y, ours.coef, ours.intercept, **obj),
                     objective(X, y, ref.coef_, ref.intercept_, **obj)) <= 1e-8
    np.testing.assert_allclose(ours.coef.ravel(), ref.coef_, atol=1e-6)


@pytest.mark.parametrize("rho, fi, solver", [(0.0, True, "lbfgs"), (1.0, False, "liblinear")])
def test_logistic_equals_sklearn_with_sample_weight(rho: float, fi: bool, solver: str) -> None:
    X, y, _ = _data("logistic", n=80, seed=4)
    s = _float_weights(len(y), 4)
    lam = 0.02
    # LogisticRegression minimises C·Σ sᵢℓᵢ + ‖w‖₁ (L1) or C·Σ sᵢℓᵢ + ½‖w‖² (L2): C·Σs times ours at
    # C = 1/(λ·Σs) or 1/(2λ·Σs)
    C = 1.0 / (lam * s.sum()) if rho else 1.0 / (2.0 * lam * s.sum())
    ref = LogisticRegression(C=C, l1_ratio=rho, solver=solver, fit_intercept=fi, tol=1e-12, max_iter=100_000,
                             random_state=0).fit(
        X, y, sample_weight=s)
    ours = solve_linear(X, y, loss="logistic", alpha=lam, l1_ratio=rho, fit_intercept=fi, sample_weight=s, **TIGHT)
    obj = dict(loss="logistic", alpha=lam, l1_ratio=rho, sample_weight=s)
    b_ref = ref.intercept_ if fi else 0.0
    # both solvers at tol 1e-12: the objective gap is second order in their residuals (~1e-16 seen)
    assert _relative(objective(X, y, ours.coef, ours.intercept, **obj),
                     objective(X, y, ref.coef_.ravel(), b_ref, **obj)) <= 1e-8


# -- alpha_max and the path ------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_weighted_alpha_max_is_the_smallest_strength_with_all_zero_coefficients(loss: str) -> None:
    X, y, s = _data(loss)
    top = alpha_max(X, y, loss=loss, sample_weight=s)
    reps = s.astype(int)
    assert top == pytest.approx(alpha_max(np.repeat(X, reps, 0), np.repeat(y, reps), loss=loss), rel=1e-12)
    at = solve_linear(X, y, loss=loss, alpha=top * (1 + 1e-9), l1_ratio=1.0, sample_weight=s, **TIGHT)
    below = solve_linear(X, y, loss=loss, alpha=0.95 * top, l1_ratio=1.0, sample_weight=s, **TIGHT)
    assert np.all(at.coef == 0) and np.any(below.coef != 0)


def test_weighted_path_equals_the_path_on_repeated_rows() -> None:
    X, y, s = _data("squared", seed=5)
    reps = s.astype(int)
    a = regularization_path(X, y, penalty="elasticnet", l1_ratio=0.7, n_alphas=6, sample_weight=s, tol=1e-10)
    b = regularization_path(np.repeat(X, reps, 0), np.repeat(y, reps), penalty="elasticnet", l1_ratio=0.7,
                            n_alphas=6, tol=1e-10)
    np.testing.assert_allclose(a.alphas, b.alphas, rtol=1e-12)
    np.testing.assert_allclose(a.coefs, b.coefs, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.intercepts, b.intercepts, rtol=1e-6, atol=1e-8)
    assert np.all(a.coefs[:, 0] == 0)


# -- validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weights, message", [
    (np.ones(59), r"sample_weight.shape == \(59,\), expected \(60,\)!"),
    (np.ones((60, 1)), "Sample weights must be 1D array or scalar"),
    (np.r_[np.nan, np.ones(59)], "Input sample_weight contains NaN"),
    (np.r_[np.inf, np.ones(59)], "Input sample_weight contains infinity"),
    (np.r_[-1.0, np.ones(59)], "Negative values in data passed to `sample_weight`"),
    (np.zeros(60), "Sample weights must contain at least one non-zero number"),
])
def test_invalid_sample_weight_is_refused_with_scikit_learns_words(weights: np.ndarray, message: str) -> None:
    X, y, _ = _data("squared")
    for call in (lambda: solve_linear(X, y, loss="squared", alpha=0.1, l1_ratio=1.0, sample_weight=weights),
                 lambda: regularization_path(X, y, n_alphas=3, sample_weight=weights),
                 lambda: alpha_max(X, y, sample_weight=weights)):
        with pytest.raises(ValueError, match=message):
            call()


def test_check_sample_weight_normalizes_to_mean_one_without_overflow() -> None:
    s = check_sample_weight(np.array([1e308, 3e307, 0.0]), 3)
    assert s is not None and np.all(np.isfinite(s))
    assert s.mean() == pytest.approx(1.0, rel=1e-15) and s[2] == 0.0
