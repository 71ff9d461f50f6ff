"""Mathematical facts about reglab's penalties: prox, Moreau decomposition, non-expansiveness,
gradients, alpha_max, and the scikit-learn mapping.

Everything is checked in float64 on random inputs (hypothesis) against an independent computation:
a numerical argmin, a closed form written here, or torch autograd.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

import reglab
from reglab.data import load_dataset, sparse_regression
from reglab.penalties import L1, L2, ElasticNet, penalty_from_config, sklearn_params, soft_threshold

finite = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False)
vectors = st.lists(finite, min_size=1, max_size=8).map(lambda xs: torch.tensor(xs, dtype=torch.float64))
strengths = st.floats(min_value=1e-3, max_value=5.0)
steps = st.floats(min_value=1e-3, max_value=5.0)
ratios = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def penalties(draw: st.DrawFn) -> L2 | L1 | ElasticNet:
    kind = draw(st.sampled_from(["l2", "l1", "elasticnet"]))
    lam = draw(strengths)
    if kind == "l2":
        return L2(lam)
    if kind == "l1":
        return L1(lam)
    return ElasticNet(lam, l1_ratio=draw(ratios))


def l1_l2_parts(pen: L2 | L1 | ElasticNet) -> tuple[float, float]:
    """(a, b) with pen(x) = a·|x| + b·x², from the definitions in docs/design.md."""
    if isinstance(pen, L2):
        return 0.0, pen.strength
    if isinstance(pen, L1):
        return pen.strength, 0.0
    return pen.strength * pen.l1_ratio, pen.strength * (1.0 - pen.l1_ratio)


def scalar_penalty(pen: L2 | L1 | ElasticNet, x: float) -> float:
    a, b = l1_l2_parts(pen)
    return a * abs(x) + b * x * x


# -- prox -------------------------------------------------------------------------------------------


@given(pen=penalties(), v=vectors, t=steps)
def test_prox_equals_numerical_argmin_of_moreau_envelope(pen: L2 | L1 | ElasticNet, v: torch.Tensor, t: float) -> None:
    p = pen.prox(v, t)
    for vi, pi in zip(v.tolist(), p.tolist()):
        def h(x: float, vi: float = vi) -> float:
            return 0.5 * (x - vi) ** 2 / t + scalar_penalty(pen, x)

        r = minimize_scalar(h, bounds=(-abs(vi) - 1.0, abs(vi) + 1.0), method="bounded",
                            options={"xatol": 1e-12, "maxiter": 2000})
        # the closed form is at least as good as the numerical minimiser, and at the same point
        assert h(pi) <= r.fun + 1e-12 * (1.0 + abs(r.fun))
        assert abs(pi - r.x) <= 1e-6 * (1.0 + abs(vi))


@given(v=vectors, thr=st.floats(min_value=0.0, max_value=10.0))
def test_soft_threshold_is_sign_times_shrunk_magnitude(v: torch.Tensor, thr: float) -> None:
    expected = [math.copysign(max(abs(x) - thr, 0.0), x) if abs(x) > thr else 0.0 for x in v.tolist()]
    assert soft_threshold(v, thr).tolist() == expected


@given(v=vectors, lam=strengths, t=steps)
def test_l1_prox_is_soft_threshold_by_step_times_strength(v: torch.Tensor, lam: float, t: float) -> None:
    assert torch.equal(L1(lam).prox(v, t), soft_threshold(v, t * lam))


@given(v=vectors, lam=strengths, t=steps, rho=ratios)
def test_elasticnet_prox_is_shrunk_soft_threshold(v: torch.Tensor, lam: float, t: float, rho: float) -> None:
    expected = soft_threshold(v, t * lam * rho) / (1.0 + 2.0 * t * lam * (1.0 - rho))
    # |v| − tλρ cancels: the threshold's product order changes the result by a few ulps of |v| + tλρ
    ulps = 4 * torch.finfo(torch.float64).eps * (float(v.abs().max()) + t * lam)
    torch.testing.assert_close(ElasticNet(lam, l1_ratio=rho).prox(v, t), expected, rtol=1e-15, atol=ulps)


def conjugate_prox(pen: L2 | L1 | ElasticNet, u: torch.Tensor, t: float) -> torch.Tensor:
    """prox of f*/t at u, for f(x) = a|x| + b x², written from the conjugate's definition.

    f*(y) = (|y| − a)₊² / (4b) (the indicator of |y| ≤ a when b = 0), so the minimiser of
    ½(y − u)² + f*(y)/t is u where |u| ≤ a, and sign(u)·(2bt|u| + a)/(2bt + 1) elsewhere.
    """
    a, b = l1_l2_parts(pen)
    out = torch.sign(u) * (2.0 * b * t * u.abs() + a) / (2.0 * b * t + 1.0)
    return torch.where(u.abs() <= a, u, out)


@given(pen=penalties(), v=vectors, t=steps)
def test_moreau_decomposition_prox_plus_conjugate_prox_is_identity(pen: L2 | L1 | ElasticNet, v: torch.Tensor,
                                                                    t: float) -> None:
    # v = prox_{tf}(v) + t·prox_{f*/t}(v/t)
    recomposed = pen.prox(v, t) + t * conjugate_prox(pen, v / t, t)
    torch.testing.assert_close(recomposed, v, rtol=1e-12, atol=1e-12)


@given(v=vectors, lam=strengths, t=steps)
def test_l1_moreau_decomposition_conjugate_prox_is_clipping_to_linf_ball(v: torch.Tensor, lam: float, t: float) -> None:
    recomposed = L1(lam).prox(v, t) + t * torch.clamp(v / t, -lam, lam)
    torch.testing.assert_close(recomposed, v, rtol=1e-12, atol=1e-12)


@given(pen=penalties(), data=st.data(), t=steps)
def test_prox_is_firmly_nonexpansive(pen: L2 | L1 | ElasticNet, data: st.DataObject, t: float) -> None:
    n = data.draw(st.integers(1, 8))
    x = torch.tensor(data.draw(st.lists(finite, min_size=n, max_size=n)), dtype=torch.float64)
    y = torch.tensor(data.draw(st.lists(finite, min_size=n, max_size=n)), dtype=torch.float64)
    d = pen.prox(x, t) - pen.prox(y, t)
    assert float(d @ d) <= float(d @ (x - y)) + 1e-12


# -- gradients --------------------------------------------------------------------------------------


@given(pen=penalties(), v=vectors)
def test_grad_equals_autograd_where_differentiable(pen: L2 | L1 | ElasticNet, v: torch.Tensor) -> None:
    w = torch.where(v == 0, torch.ones_like(v), v).requires_grad_(True)  # w ≠ 0: L1 is differentiable
    (auto,) = torch.autograd.grad(pen.value(w), w)
    torch.testing.assert_close(pen.grad(w.detach()), auto, rtol=1e-14, atol=1e-300)  # atol: subnormals


@pytest.mark.parametrize("pen", [L1(0.7), ElasticNet(0.7, l1_ratio=0.4)], ids=repr)
def test_l1_subgradient_of_sign_at_zero_is_zero(pen: L1 | ElasticNet) -> None:
    g = pen.grad(torch.tensor([0.0, -0.0, 2.0, -3.0], dtype=torch.float64))
    a, b = l1_l2_parts(pen)
    assert g.tolist() == [0.0, 0.0, a + 2 * b * 2.0, -a - 2 * b * 3.0]


@given(pen=penalties(), v=vectors)
def test_value_is_the_documented_formula(pen: L2 | L1 | ElasticNet, v: torch.Tensor) -> None:
    expected = sum(scalar_penalty(pen, x) for x in v.tolist())
    assert float(pen.value(v)) == pytest.approx(expected, rel=1e-13, abs=1e-300)


@given(pen=penalties(), v=vectors, t=steps)
def test_prox_output_is_a_fixed_point_of_its_optimality_condition(pen: L2 | L1 | ElasticNet, v: torch.Tensor,
                                                                   t: float) -> None:
    # x = prox(v, t) ⇔ (v − x)/t ∈ ∂pen(x): the subdifferential distance of −(x − v)/t is zero
    x = pen.prox(v, t)
    dist = pen.subdiff_distance(x, (x - v) / t)
    assert float(dist.max()) <= 1e-9 * (1.0 + float(v.abs().max()) / t)


# -- alpha_max --------------------------------------------------------------------------------------


def _fit_lasso(ds: reglab.Dataset, pen: L1 | ElasticNet) -> torch.Tensor:
    res = reglab.fit("linear", ds, penalties=[pen], optimizer="gd", lr="auto", steps=20_000, tol=1e-13)
    assert res.status == "converged"
    return res.model.linear.weight.detach()


ALPHA_MAX_DATA = {
    "sparse": lambda: sparse_regression(n=100, p=20, seed=0),
    "diabetes": lambda: load_dataset("diabetes", test_size=None),
}


@pytest.mark.parametrize("data", list(ALPHA_MAX_DATA))
@pytest.mark.parametrize("make", [lambda s: L1(s, update="proximal"),
                                  lambda s: ElasticNet(s, l1_ratio=0.5, update="proximal")], ids=["l1", "enet"])
def test_alpha_max_is_the_smallest_strength_with_an_all_zero_optimum(data: str, make) -> None:
    ds = ALPHA_MAX_DATA[data]()
    alpha_max = make(1.0).alpha_max(ds.X, ds.y)
    scale = float(ds.y.abs().max())
    # at alpha_max, 0 is optimal with the top coordinate exactly on the boundary of the subdifferential:
    # proximal GD drives every weight to zero (the boundary one geometrically, to rounding level)
    at = _fit_lasso(ds, make(alpha_max))
    assert float(at.abs().max()) <= 1e-12 * scale
    # just above it, every weight is exactly 0.0
    above = _fit_lasso(ds, make(alpha_max * (1 + 1e-6)))
    assert int((above != 0).sum()) == 0
    # below it, some weight is clearly away from zero
    below = _fit_lasso(ds, make(0.9 * alpha_max))
    assert float(below.abs().max()) > 1e-3


def test_alpha_max_of_logistic_loss_gives_all_zero_proximal_solution() -> None:
    ds = load_dataset("breast_cancer", test_size=None)
    alpha_max = L1(1.0).alpha_max(ds.X, ds.y, loss="logistic")
    res = reglab.fit("logistic", ds, penalties=[L1(alpha_max * (1 + 1e-6), update="proximal")],
                     lr="auto", steps=20_000, tol=1e-12)
    assert int((res.model.linear.weight != 0).sum()) == 0
    res = reglab.fit("logistic", ds, penalties=[L1(0.9 * alpha_max, update="proximal")],
                     lr="auto", steps=20_000, tol=1e-12)
    assert int((res.model.linear.weight != 0).sum()) > 0


def test_l2_has_no_alpha_max() -> None:
    ds = sparse_regression(n=20, p=3, k=1)
    with pytest.raises(ValueError, match="no alpha_max"):
        L2(1.0).alpha_max(ds.X, ds.y)


# -- the scikit-learn mapping -----------------------------------------------------------------------


def _sklearn_objective(estimator: str, params: dict[str, float], X: np.ndarray, y: np.ndarray, w: np.ndarray,
                       b: float) -> float:
    """scikit-learn's objective, written from its documentation (user guide, section 1.1)."""
    n = len(y)
    f = X @ w + b
    l1, l2sq = np.abs(w).sum(), (w * w).sum()
    if estimator == "Ridge":
        return float(((y - f) ** 2).sum() + params["alpha"] * l2sq)
    if estimator == "Lasso":
        return float(((y - f) ** 2).sum() / (2 * n) + params["alpha"] * l1)
    if estimator == "ElasticNet":
        a, r = params["alpha"], params["l1_ratio"]
        return float(((y - f) ** 2).sum() / (2 * n) + a * r * l1 + 0.5 * a * (1 - r) * l2sq)
    # LogisticRegression: C·Σ NLL + l1_ratio·‖w‖₁ + ½(1 − l1_ratio)·‖w‖²
    nll = np.logaddexp(0.0, f) - y * f
    r = params["l1_ratio"]
    return float(params["C"] * nll.sum() + r * l1 + 0.5 * (1 - r) * l2sq)


def _reglab_objective(pen: L2 | L1 | ElasticNet, X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float,
                      logistic: bool) -> float:
    f = X @ w + b
    data = np.mean(np.logaddexp(0.0, f) - y * f) if logistic else np.mean((y - f) ** 2)
    return float(data + pen.value(torch.as_tensor(w)))


MAPPING_CASES = [
    ("Ridge", L2(0.3)),
    ("Lasso", L1(0.3)),
    ("ElasticNet", ElasticNet(0.3, l1_ratio=0.25)),
    ("ElasticNet", ElasticNet(0.3, l1_ratio=1.0)),
    ("ElasticNet", L1(0.3)),
    ("LogisticRegression", L2(0.3)),
    ("LogisticRegression", L1(0.3)),
    ("LogisticRegression", ElasticNet(0.3, l1_ratio=0.6)),
]


@pytest.mark.parametrize(("estimator", "pen"), MAPPING_CASES, ids=lambda x: repr(x))
def test_sklearn_params_make_sklearn_objective_proportional_to_reglab_objective(estimator: str, pen) -> None:
    # same minimiser ⇔ the two objectives differ by a positive factor independent of (w, b)
    rng = np.random.default_rng(0)
    n, p = 40, 4
    X = rng.normal(size=(n, p))
    logistic = estimator == "LogisticRegression"
    y = (rng.random(n) < 0.5).astype(float) if logistic else rng.normal(size=n)
    params = sklearn_params(pen, n, estimator)
    ratios = []
    for _ in range(5):
        w, b = rng.normal(size=p), float(rng.normal())
        ratios.append(_sklearn_objective(estimator, params, X, y, w, b) / _reglab_objective(pen, X, y, w, b, logistic))
    assert ratios[0] > 0
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)


def test_sklearn_params_documented_values() -> None:
    assert sklearn_params(L2(0.01), 100, "Ridge") == {"alpha": 1.0}
    assert sklearn_params(L1(0.2), 100, "Lasso") == {"alpha": 0.1}
    assert sklearn_params(L2(0.01), 100, "LogisticRegression") == pytest.approx({"C": 0.5, "l1_ratio": 0.0})


@pytest.mark.parametrize(("pen", "estimator", "match"), [
    (L1(0.1), "Ridge", "Ridge is an L2 estimator"),
    (L2(0.1), "Lasso", "Lasso is an L1 estimator"),
    (L2(0.0), "Ridge", "zero strength"),
    (L2(0.1), "SVC", "Unknown estimator"),
])
def test_sklearn_params_refuses_what_has_no_equivalent(pen, estimator: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sklearn_params(pen, 10, estimator)


# -- construction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"strength": -1.0}, ValueError, "non-negative"),
    ({"strength": float("nan")}, ValueError, "finite"),
    ({"strength": "0.1"}, TypeError, "real number"),
    ({"strength": 0.1, "update": "sideways"}, ValueError, "Unknown update rule"),
])
def test_invalid_terms_are_refused_with_a_message(kwargs, error, match: str) -> None:
    with pytest.raises(error, match=match):
        L1(**kwargs)


def test_elasticnet_l1_ratio_outside_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match=r"l1_ratio must be in \[0, 1\]"):
        ElasticNet(0.1, l1_ratio=1.5)


def test_penalty_from_config_round_trips_config() -> None:
    for pen in [L2(0.1), L1(0.2, on="*.weight", update="proximal"), ElasticNet(0.3, l1_ratio=0.2, update="proximal")]:
        again = penalty_from_config(pen.config())
        assert type(again) is type(pen) and again.config() == pen.config()
