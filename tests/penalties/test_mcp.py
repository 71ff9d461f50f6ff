"""MCP (Zhang 2010), a penalty outside the elastic-net family: one file and one registry row.

Its mathematics as facts (value, subgradient = autograd, prox = firm thresholding = a numerical
argmin, refused when step ≥ γ), and every path either applies it or refuses it with its reason: the
gradient, proximal and decoupled rules apply it; the cumulative rule and L-BFGS refuse it; fit's fast
path applies it element by element (FISTA refuses it); the batched executor sends it to the fallback
with a ``batch_reason``; the exact solvers refuse it; the recorder's theory rate is NaN.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from typer.testing import CliRunner

import reglab
from reglab import L2, Regularized
from reglab.cli import app, parse_penalty
from reglab.data import sparse_regression, zero_column
from reglab.losses import Squared, get_loss
from reglab.models import linear
from reglab.penalties import MCP, penalty_from_config
from reglab.sklearn import GDRegressor
from reglab.solvers import regularization_path
from reglab.sweep import BatchedExecutor, expand_sweep, why_not_batched
from reglab.sweep.runner import fit_run
from reglab.training.fast_linear import why_not_fast

finite = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False)
vectors = st.lists(finite, min_size=1, max_size=8).map(lambda xs: torch.tensor(xs, dtype=torch.float64))
DATA = {"scenario": "linear_regression", "n": 60, "p": 5, "n_test": 20}


def scalar_mcp(x: float, lam: float, gamma: float) -> float:
    a = abs(x)
    return lam * a - a * a / (2 * gamma) if a <= gamma * lam else 0.5 * gamma * lam * lam


# -- the mathematics --------------------------------------------------------------------------------


@given(v=vectors, lam=st.floats(1e-2, 3.0), gamma=st.floats(1.1, 6.0))
def test_value_is_the_sum_of_the_scalar_penalty(v: torch.Tensor, lam: float, gamma: float) -> None:
    expected = sum(scalar_mcp(x, lam, gamma) for x in v.tolist())
    assert float(MCP(lam, gamma=gamma).value(v)) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(v=vectors, lam=st.floats(1e-2, 3.0), gamma=st.floats(1.1, 6.0))
def test_gradient_equals_autograd_away_from_zero(v: torch.Tensor, lam: float, gamma: float) -> None:
    v = v[(v.abs() > 1e-6) & ((v.abs() - gamma * lam).abs() > 1e-6)]
    w = v.clone().requires_grad_(True)
    pen = MCP(lam, gamma=gamma)
    (g,) = torch.autograd.grad(pen.value(w), w)
    torch.testing.assert_close(pen.grad(v), g, rtol=1e-12, atol=1e-12)


@given(v=vectors, lam=st.floats(1e-2, 3.0), gamma=st.floats(1.1, 6.0), frac=st.floats(0.01, 0.95))
def test_prox_is_firm_thresholding_and_equals_numerical_argmin(v: torch.Tensor, lam: float, gamma: float,
                                                               frac: float) -> None:
    t = frac * gamma  # a step below gamma: the subproblem is strictly convex
    p = MCP(lam, gamma=gamma).prox(v, t)
    for vi, pi in zip(v.tolist(), p.tolist()):
        res = minimize_scalar(lambda x, vi=vi: 0.5 * (x - vi) ** 2 / t + scalar_mcp(x, lam, gamma),
                              bounds=(-12.0, 12.0), method="bounded", options={"xatol": 1e-12})
        assert 0.5 * (pi - vi) ** 2 / t + scalar_mcp(pi, lam, gamma) <= res.fun + 1e-9


@given(v=vectors, lam=st.floats(1e-2, 3.0), gamma=st.floats(1.1, 6.0), frac=st.floats(0.01, 0.95))
def test_prox_point_is_stationary_for_its_subproblem(v: torch.Tensor, lam: float, gamma: float, frac: float) -> None:
    t = frac * gamma
    pen = MCP(lam, gamma=gamma)
    x = pen.prox(v, t)
    assert float(pen.subdiff_distance(x, (x - v) / t).max()) <= 1e-9 * (1 + float(v.abs().max()))


@pytest.mark.parametrize("step", [3.0, 5.0])
def test_prox_refuses_a_step_not_below_gamma(step: float) -> None:
    with pytest.raises(ValueError, match=r"MCP\(0.1, gamma=3\): MCP's proximal step .* only for a step below gamma"):
        MCP(0.1, gamma=3.0).prox(torch.zeros(2), step)


@pytest.mark.parametrize("gamma", [1.0, 0.5, float("inf")])
def test_gamma_must_exceed_one(gamma: float) -> None:
    with pytest.raises(ValueError, match="gamma must be finite and > 1"):
        MCP(0.1, gamma=gamma)


def test_config_round_trips_and_the_registry_row_builds_it() -> None:
    pen = MCP(0.2, gamma=4.0, on="*.weight", update="proximal")
    again = penalty_from_config(json.loads(json.dumps(pen.config())))
    assert type(again) is MCP and repr(again) == repr(pen)
    assert penalty_from_config({"kind": "mcp", "strength": 0.1}).gamma == 3.0
    with pytest.raises(ValueError, match="gamma applies to mcp only, not l1"):
        penalty_from_config({"kind": "l1", "strength": 0.1, "gamma": 3.0})


# -- the update rules --------------------------------------------------------------------------------


def test_decoupled_rule_moves_an_unused_weight_by_lr_times_its_gradient() -> None:
    """w* multiplies a zero column: no data gradient, so one step is w ← w − lr·p'(w), exactly."""
    ds = zero_column(n=40, p=3, column=0, seed=0)
    model = linear(3, generator=torch.Generator().manual_seed(0))
    pen = MCP(0.5, gamma=3.0, update="decoupled")
    opt = Regularized(torch.optim.Adam(model.parameters(), lr=0.05), model, [pen])
    w0 = model.linear.weight.detach()[0, 0].clone()
    opt.zero_grad()
    Squared()(model(ds.X), ds.y).backward()
    opt.step()
    expected = w0 - 0.05 * pen.grad(w0.reshape(1))[0]
    # Adam's own step on a zero gradient is 0: only the decay moved w*
    assert float(model.linear.weight.detach()[0, 0]) == pytest.approx(float(expected), rel=1e-15)


def test_proximal_rule_gives_exact_zeros_and_keeps_large_coefficients_unshrunk() -> None:
    ds = sparse_regression(n=200, p=10, k=3, seed=0)
    res = reglab.fit("linear", ds, penalties=[MCP(0.3, gamma=3.0, update="proximal")], lr=0.05, steps=800)
    w = res.model.linear.weight.detach()[0]
    support = ds.info["support"]
    off = [j for j in range(10) if j not in support]
    assert bool((w[off] == 0).all()) and bool((w[support] != 0).all())


@pytest.mark.parametrize(("optimizer", "update", "match"), [
    ("sgd", "cumulative", "applies to L1 only"),
    ("lbfgs", "gradient", "L-BFGS needs a smooth objective"),
    ("adam", "proximal", "needs a plain gradient step"),
])
def test_refused_combinations_say_why(optimizer: str, update: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        reglab.fit("linear", sparse_regression(n=20, p=3, k=1), penalties=[MCP(0.1, update=update)],
                   optimizer=optimizer, steps=2)


# -- the training paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("rule", ["gradient", "proximal", "decoupled"])
def test_fast_path_applies_it_element_by_element_as_the_plain_loop(rule: str, record: bool) -> None:
    ds = sparse_regression(n=60, p=5, k=2, seed=1)
    terms = [MCP(0.2, gamma=2.5, update=rule, on={"linear.weight": torch.tensor([[True, True, False, True, True]])})]
    loss, model = get_loss("squared"), linear(5)
    assert why_not_fast(model, ds.X, loss, terms, "gd", record=record, batch_size=None) is None
    runs = [reglab.fit("linear", ds, penalties=terms, optimizer="gd", lr=0.05, steps=150, seed=3, fast=fast,
                       record=record) for fast in (True, False)]
    for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert runs[0].history.objective == pytest.approx(runs[1].history.objective, rel=1e-10)


def test_fista_refuses_it_with_the_reason() -> None:
    ds = sparse_regression(n=30, p=4, k=1)
    term = MCP(0.1, update="proximal")
    assert "not in the elastic-net family" in why_not_fast(linear(4), ds.X, get_loss("squared"), [term], "fista",
                                                          record=False, batch_size=None)
    with pytest.raises(ValueError, match=r"optimizer='fista' cannot run here: MCP\(0.1, gamma=3, update='proximal'\) "
                                         r"is not in the elastic-net family"):
        reglab.fit("linear", ds, penalties=[term], optimizer="fista", steps=5)


def test_batched_executor_sends_it_to_the_fallback_with_its_reason() -> None:
    sweep = {"base": {"data": DATA, "penalties": [{"kind": "mcp", "strength": 0.1, "update": "proximal"}],
                      "steps": 10, "dtype": "float64"},
             "grid": {"penalties.0.strength": [0.05, 0.1]}}
    runs = expand_sweep(sweep)
    assert "not in the elastic-net family" in why_not_batched(runs[0].spec)
    rows: list[dict] = []
    BatchedExecutor().run(runs, rows.append)
    assert all(r["executor"] == "serial" and "'mcp'" in r["batch_reason"] for r in rows)
    assert rows[0]["train_loss"] == fit_run(runs[0].spec).data_loss("train")


def test_exact_solvers_refuse_it() -> None:
    ds = sparse_regression(n=30, p=4, k=1)
    with pytest.raises(ValueError, match="not in the elastic-net family .* that the exact solvers minimise"):
        regularization_path(ds.X.numpy(), ds.y.numpy(), penalty="mcp")
    with pytest.raises(ValueError, match="penalty must be one of"):
        GDRegressor(penalty="mcp").fit(ds.X.numpy(), ds.y.numpy())


def test_recorder_theory_rate_is_nan_where_it_applies() -> None:
    ds = zero_column(n=40, p=3, column=0, seed=0)
    mask = torch.tensor([[True, False, False]])
    res = reglab.fit("linear", ds, penalties=[MCP(0.1, on={"linear.weight": mask}), L2(0.1)], lr=0.05, steps=10,
                     record=True)
    theory = res.trajectory.weights["theory_rate"]
    assert math.isnan(theory[0])
    np.testing.assert_allclose(theory[1:3], 1 - 2 * 0.05 * 0.1, rtol=0, atol=1e-15)


def test_lr_auto_adds_nothing_for_it() -> None:
    ds = sparse_regression(n=40, p=5, k=2, seed=0)
    assert reglab.fit("linear", ds, penalties=[MCP(0.3)], lr="auto", steps=1).lr == \
        reglab.fit("linear", ds, lr="auto", steps=1).lr


def test_cli_writes_it_as_kind_strength_gamma_update(tmp_path) -> None:
    assert parse_penalty("mcp:0.1:3:proximal") == {"kind": "mcp", "strength": 0.1, "gamma": 3.0, "update": "proximal"}
    spec = tmp_path / "spec.yaml"
    spec.write_text("data: {scenario: linear_regression, n: 60, p: 5}\n"
                    "penalties: [{kind: mcp, strength: 0.1, gamma: 3, update: proximal}]\nsteps: 30\nlr: 0.05\n")
    runner = CliRunner()
    outs = [runner.invoke(app, ["fit", str(spec), "--json", *extra])
            for extra in ([], ["--penalty", "mcp:0.1:3:proximal"])]
    assert all(o.exit_code == 0 for o in outs), [o.output for o in outs]
    assert json.loads(outs[0].stdout)["train_loss"] == json.loads(outs[1].stdout)["train_loss"]
