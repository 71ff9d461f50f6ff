"""The fast paths equal the plain autograd path: gradients, fit() steps/history/status, FISTA, ridge."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso, Ridge

import reglab
from reglab import L1, L2, DivergenceError, ElasticNet
from reglab.losses import get_loss
from reglab.models import linear, logistic, softmax
from reglab.solvers import fista, fista_path, gram_matrix, linear_gradients, ridge_solve, top_eigenvalue
from reglab.training.fast_linear import LinearFastPath

RNG_SEED = 0


def _problem(kind: str, n: int = 120, p: int = 6, seed: int = RNG_SEED) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    z = X @ rng.standard_normal(p)
    if kind == "linear":
        return X, z + 0.3 * rng.standard_normal(n)
    if kind == "logistic":
        return X, (z + rng.standard_normal(n) > 0).astype(float)
    return X, np.digitize(z + 0.5 * rng.standard_normal(n), [-0.7, 0.7])


# -- closed-form gradients -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "logistic", "softmax"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_closed_form_gradient_equals_autograd(kind: str, fit_intercept: bool) -> None:
    X, y = _problem(kind)
    Xt = torch.tensor(X)
    gen = torch.Generator().manual_seed(1)
    if kind == "linear":
        model, yt = linear(6, fit_intercept=fit_intercept, generator=gen), torch.tensor(y)
    elif kind == "logistic":
        model, yt = logistic(6, fit_intercept=fit_intercept, generator=gen), torch.tensor(y)
    else:
        model, yt = softmax(6, 3, fit_intercept=fit_intercept, generator=gen), torch.tensor(y)
    loss = get_loss(model.default_loss)
    loss(model(Xt), yt).backward()
    closed = linear_gradients(model, Xt, yt)
    named = dict(model.named_parameters())
    assert set(closed) == set(named)
    for name, g in closed.items():
        torch.testing.assert_close(g, named[name].grad, rtol=1e-12, atol=1e-12)


def test_closed_form_gradient_refuses_a_non_canonical_loss() -> None:
    model = linear(3)
    with pytest.raises(ValueError, match="canonical loss"):
        linear_gradients(model, torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4), loss="logistic")


def test_gram_matrix_equals_the_design_with_a_column_of_ones() -> None:
    X = torch.tensor(_problem("linear")[0])
    Y = torch.arange(120, dtype=torch.float64).reshape(-1, 1)
    G, C = gram_matrix(X, Y, fit_intercept=True)
    Xd = torch.cat([X, torch.ones(120, 1, dtype=X.dtype)], 1)
    torch.testing.assert_close(G, Xd.T @ Xd / 120, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(C, Xd.T @ Y / 120, rtol=1e-13, atol=1e-13)


def test_power_iteration_agrees_with_eigvalsh_of_the_gram_matrix() -> None:
    rng = np.random.default_rng(3)
    X = torch.tensor(rng.standard_normal((600, 520)))  # d > 512: power iteration
    G, _ = gram_matrix(X, None, fit_intercept=True)
    exact = top_eigenvalue(X, True, gram=G)
    assert exact == pytest.approx(float(torch.linalg.eigvalsh(G)[-1]), rel=1e-12)
    assert top_eigenvalue(X, True) == pytest.approx(exact, rel=1e-6)


# -- fit(): the fast path equals the plain path --------------------------------------------------------

TERMS = {
    "none": [],
    "l2-gradient": [L2(0.05)],
    "l1-gradient": [L1(0.02)],
    "l1-proximal": [L1(0.05, update="proximal")],
    "elasticnet-proximal": [ElasticNet(0.05, l1_ratio=0.5, update="proximal")],
    "l2-decoupled": [L2(0.05, update="decoupled")],
    "elasticnet-decoupled": [ElasticNet(0.05, l1_ratio=0.3, update="decoupled")],
    "mixed-rules": [L2(0.03), L1(0.02, update="proximal"), L2(0.01, update="decoupled"),
                    L1(0.01, on="linear.bias", update="proximal")],
}


def _same_run(a: reglab.FitResult, b: reglab.FitResult) -> None:
    assert a.status == b.status
    assert a.steps_run == b.steps_run
    assert a.history.step == b.history.step
    for key in ("data_loss", "penalty", "objective", "lr"):
        np.testing.assert_allclose(getattr(a.history, key), getattr(b.history, key), rtol=1e-10, atol=1e-13)
    for (name, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12, msg=name)
        assert torch.equal(p == 0, q == 0), f"{name}: exact zeros differ"


@pytest.mark.parametrize("terms", list(TERMS), ids=list(TERMS))
@pytest.mark.parametrize("kind", ["linear", "logistic", "softmax"])
def test_fast_gd_equals_plain_autograd_path(kind: str, terms: str) -> None:
    X, y = _problem(kind)
    kwargs = dict(penalties=TERMS[terms], lr=0.2, steps=150, log_every=7)
    fast = reglab.fit(kind, (X, y), **kwargs)
    plain = reglab.fit(kind, (X, y), fast=False, **kwargs)
    _same_run(fast, plain)


@pytest.mark.parametrize("n", [12, 400])  # n < 2d: data form; n ≫ d: Gram form
def test_fast_gd_with_tol_converges_at_the_same_step_as_plain(n: int) -> None:
    X, y = _problem("linear", n=n, p=8)
    kwargs = dict(penalties=[L1(0.05, update="proximal")], lr="auto", steps=3000, tol=1e-6)
    fast = reglab.fit("linear", (X, y), **kwargs)
    plain = reglab.fit("linear", (X, y), fast=False, **kwargs)
    assert fast.status == "converged"
    _same_run(fast, plain)


def test_gram_form_is_chosen_when_n_is_much_larger_than_d_and_equals_the_data_form() -> None:
    X, y = _problem("linear", n=300, p=5)
    model, loss = linear(5, generator=torch.Generator().manual_seed(0)), get_loss("squared")
    Xt, yt = torch.tensor(X), torch.tensor(y)
    auto = LinearFastPath(model, Xt, yt, loss, "gd")
    assert auto.gram is not None
    small = LinearFastPath(model, Xt[:10], yt[:10], loss, "gd")
    assert small.gram is None
    data_form = LinearFastPath(model, Xt, yt, loss, "gd", gram=False)
    theta = auto.theta_of_model()
    torch.testing.assert_close(auto.grad(theta), data_form.grad(theta), rtol=1e-12, atol=1e-13)
    assert auto.data_loss(theta) == pytest.approx(data_form.data_loss(theta), rel=1e-12)


def test_masked_term_on_the_fast_path_touches_only_its_elements() -> None:
    X, y = _problem("linear")
    mask = torch.tensor([[True, False, False, True, False, False]])
    kwargs = dict(penalties=[L1(0.5, on={"linear.weight": mask}, update="proximal")], lr=0.1, steps=200)
    fast = reglab.fit("linear", (X, y), **kwargs)
    plain = reglab.fit("linear", (X, y), fast=False, **kwargs)
    _same_run(fast, plain)


@pytest.mark.parametrize("on_divergence", ["raise", "stop"])
def test_fast_path_diverges_at_the_same_step_as_plain(on_divergence: str) -> None:
    X, y = _problem("linear")
    kwargs = dict(lr=3.0, steps=400, log_every=5, on_divergence=on_divergence)
    if on_divergence == "raise":
        with pytest.raises(DivergenceError) as fast_err:
            reglab.fit("linear", (X, y), **kwargs)
        with pytest.raises(DivergenceError) as plain_err:
            reglab.fit("linear", (X, y), fast=False, **kwargs)
        assert fast_err.value.step == plain_err.value.step
    else:
        fast = reglab.fit("linear", (X, y), **kwargs)
        plain = reglab.fit("linear", (X, y), fast=False, **kwargs)
        assert fast.status == plain.status == "diverged"
        assert fast.steps_run == plain.steps_run


def test_fast_path_reads_the_host_only_at_logged_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _problem("logistic")
    reads = {"n": 0}
    for attr in ("__float__", "item", "__bool__"):
        original = getattr(torch.Tensor, attr)

        def counted(self: torch.Tensor, *a: object, _original=original) -> object:
            reads["n"] += 1
            return _original(self, *a)

        monkeypatch.setattr(torch.Tensor, attr, counted)
    counts = []
    for steps in (50, 150):  # log_every > steps: logged at step 0 and at the end only
        reads["n"] = 0
        reglab.fit("logistic", (X, y), penalties=[L1(0.01, update="proximal")], lr=0.5, steps=steps, log_every=200)
        counts.append(reads["n"])
    assert counts[0] == counts[1]


def test_other_optimizers_and_rules_keep_the_plain_path_and_recording_keeps_the_fast_path() -> None:
    from reglab.training import prepare_fast_path

    X, y = _problem("linear")
    Xt, yt = torch.tensor(X), torch.tensor(y)
    model, loss = linear(6), get_loss("squared")
    # the fast path hands the recorder what the step hooks would see (tests/test_record.py)
    assert prepare_fast_path(model, Xt, yt, loss, [], "gd", record=True, batch_size=None, steps=10) is not None
    with pytest.raises(ValueError, match="recording runs on optimizer='gd'"):
        prepare_fast_path(model, Xt, yt, loss, [], "fista", record=True, batch_size=None, steps=10)
    assert prepare_fast_path(model, Xt, yt, loss, [], "adam", record=False, batch_size=None, steps=10) is None
    assert prepare_fast_path(model, Xt, yt, loss, [L1(0.1, update="cumulative")], "gd", record=False,
                             batch_size=None, steps=10) is None
    assert prepare_fast_path(model, Xt, yt, loss, [], "gd", record=False, batch_size=None, steps=10) is not None


# -- FISTA -----------------------------------------------------------------------------------------


def test_fit_fista_reaches_the_gd_optimum_in_fewer_steps() -> None:
    X, y = _problem("linear", n=200, p=10)
    kwargs = dict(penalties=[L1(0.05, update="proximal")], lr="auto", tol=1e-9)
    fast = reglab.fit("linear", (X, y), optimizer="fista", steps=5000, **kwargs)
    slow = reglab.fit("linear", (X, y), optimizer="gd", steps=50000, **kwargs)
    assert fast.status == slow.status == "converged"
    assert fast.steps_run < slow.steps_run
    torch.testing.assert_close(fast.model.linear.weight, slow.model.linear.weight, rtol=0, atol=1e-7)
    assert torch.equal(fast.model.linear.weight == 0, slow.model.linear.weight == 0)


def test_fit_fista_is_refused_where_it_has_no_meaning() -> None:
    X, y = _problem("linear")
    with pytest.raises(ValueError, match="decoupled"):
        reglab.fit("linear", (X, y), optimizer="fista", penalties=[L2(0.1, update="decoupled")], steps=5)
    with pytest.raises(ValueError, match="proximal"):
        reglab.fit("linear", (X, y), optimizer="fista", penalties=[L1(0.1)], steps=5)
    with pytest.raises(ValueError, match="fista"):
        reglab.fit("mlp", (X, y), optimizer="fista", steps=5)
    with pytest.raises(ValueError, match="fast=False"):
        reglab.fit("linear", (X, y), optimizer="fista", steps=5, fast=False)


@pytest.mark.parametrize("gram", [True, False])
def test_fista_matches_sklearn_lasso(gram: bool) -> None:
    X, y = _problem("linear", n=200, p=10)
    alpha = 0.05  # sklearn: ‖y − Xw‖²/(2n) + α‖w‖₁, i.e. half of reglab's objective with λ = 2α
    ref = Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
    sol = fista(X, y, l1=2 * alpha, tol=1e-10, gram=gram)
    assert sol.converged
    np.testing.assert_allclose(sol.coef, ref.coef_, atol=1e-7)
    assert sol.intercept == pytest.approx(ref.intercept_, abs=1e-7)


def test_fista_path_warm_starts_reach_each_optimum() -> None:
    X, y = _problem("linear", n=200, p=10)
    lams = [0.5, 0.45, 0.4]
    path = fista_path(X, y, lams, tol=1e-10, check_every=1)
    for lam, sol in zip(lams, path):
        cold = fista(X, y, l1=lam, tol=1e-10, check_every=1)
        np.testing.assert_allclose(sol.coef, cold.coef, atol=1e-7)
        if lam != lams[0]:
            assert sol.n_iter < cold.n_iter


def test_fista_l1_logistic_reaches_a_kkt_point() -> None:
    X, y = _problem("logistic", n=200, p=8)
    sol = fista(X, y, loss="logistic", l1=0.01, tol=1e-9, max_iter=20000)
    assert sol.converged
    model = logistic(8)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor(sol.coef).reshape(1, -1))
        model.linear.bias.fill_(sol.intercept)
    g = linear_gradients(model, torch.tensor(X), torch.tensor(y))
    dist = L1(0.01).subdiff_distance(model.linear.weight.detach(), g["linear.weight"])
    assert float(dist.max()) < 1e-6
    assert float(g["linear.bias"].abs().max()) < 1e-6


def test_ridge_solve_matches_sklearn_ridge() -> None:
    X, y = _problem("linear", n=150, p=12)
    lam = 0.1
    ref = Ridge(alpha=len(X) * lam, solver="cholesky").fit(X, y)
    sol = ridge_solve(X, y, lam)
    np.testing.assert_allclose(sol.coef, ref.coef_, rtol=1e-10, atol=1e-12)
    assert sol.intercept == pytest.approx(ref.intercept_, rel=1e-10)
