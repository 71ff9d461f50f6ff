"""WeightedL1 (λ·Σ a_j|w_j|, the adaptive lasso): one class and one registry row, picked up by every path.

Its mathematics as facts (value, subgradient, prox = a numerical argmin); all-ones weights are L1; a
zero weight leaves a coefficient unpenalized; and the fast path, the plain loop, the batched sweep
executor, the recorder, spec files and the CLI all apply it with no code of their own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from typer.testing import CliRunner

import reglab
from reglab import L1
from reglab.cli import app
from reglab.data import sparse_regression, zero_column
from reglab.penalties import KINDS, MCP, WeightedL1, penalty_from_config, sklearn_params
from reglab.spec import build_data
from reglab.sweep import BatchedExecutor, expand_sweep, fit_batched, why_not_batched
from reglab.sweep.runner import fit_run

finite = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False)
factors = st.floats(min_value=0.0, max_value=3.0)
DATA = {"scenario": "linear_regression", "n": 60, "p": 5, "n_test": 20}
WEIGHTS = [1.0, 0.0, 2.0, 0.5, 1.5]


# -- the mathematics --------------------------------------------------------------------------------


@given(pairs=st.lists(st.tuples(finite, factors), min_size=1, max_size=6), lam=st.floats(1e-3, 5.0))
def test_value_and_subgradient_are_weighted_l1(pairs: list[tuple[float, float]], lam: float) -> None:
    w = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    a = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    pen = WeightedL1(lam, weights=a)
    assert float(pen.value(w)) == pytest.approx(lam * float((a * w.abs()).sum()), rel=1e-12, abs=1e-12)
    torch.testing.assert_close(pen.grad(w), lam * a * torch.sign(w), rtol=1e-15, atol=0.0)


@given(pairs=st.lists(st.tuples(finite, factors), min_size=1, max_size=6), lam=st.floats(1e-3, 5.0),
       t=st.floats(1e-3, 5.0))
def test_prox_equals_numerical_argmin(pairs: list[tuple[float, float]], lam: float, t: float) -> None:
    v = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    a = [p[1] for p in pairs]
    p = WeightedL1(lam, weights=a).prox(v, t)
    for vi, ai, pi in zip(v.tolist(), a, p.tolist()):
        res = minimize_scalar(lambda x, vi=vi, ai=ai: 0.5 * (x - vi) ** 2 / t + lam * ai * abs(x),
                              bounds=(-12.0, 12.0), method="bounded", options={"xatol": 1e-12})
        assert pi == pytest.approx(res.x, abs=1e-6)


@given(pairs=st.lists(st.tuples(finite, factors), min_size=1, max_size=6), lam=st.floats(1e-3, 5.0),
       t=st.floats(1e-3, 5.0))
def test_prox_point_is_optimal_for_its_subproblem(pairs: list[tuple[float, float]], lam: float, t: float) -> None:
    v = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    pen = WeightedL1(lam, weights=[p[1] for p in pairs])
    x = pen.prox(v, t)
    assert float(pen.subdiff_distance(x, (x - v) / t).max()) <= 1e-9


def test_one_weights_tensor_broadcasts_to_the_parameter_and_a_mapping_names_each() -> None:
    model = reglab.models.mlp(3, hidden=[2])
    single = WeightedL1(0.1, weights=[1.0, 0.0, 2.0], on="fc1.weight").select(model)
    assert [s.name for s in single] == ["fc1.weight"]
    assert torch.equal(single[0].weight, torch.tensor([[1.0, 0.0, 2.0]] * 2, dtype=torch.float64))
    both = WeightedL1(0.1, weights={"fc1.weight": [1.0, 0.0, 2.0], "fc2.weight": [[3.0, 4.0]]}).select(model)
    assert [s.name for s in both] == ["fc1.weight", "fc2.weight"]


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"weights": [1.0, -1.0]}, ValueError, "non-negative"),
    ({"weights": [1.0, float("nan")]}, ValueError, "finite"),
    ({"weights": "abc"}, TypeError, "tensor or a"),
    ({"weights": None}, TypeError, "needs weights"),
])
def test_invalid_weights_are_refused(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        WeightedL1(0.1, **kwargs)


@pytest.mark.parametrize(("term", "match"), [
    (WeightedL1(0.1, weights=[1.0, 2.0]), "does not broadcast"),
    (WeightedL1(0.1, weights=[1.0, 2.0, 3.0], on="*"), "one weights tensor needs a selection of one parameter"),
    (WeightedL1(0.1, weights={"linear.weight": [1.0, 2.0, 3.0]}, on="*"), "not selected|missing: linear.bias"),
])
def test_weights_that_do_not_fit_the_selection_are_refused(term: WeightedL1, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        term.select(reglab.models.linear(3))


def test_config_round_trips_through_the_registry() -> None:
    for pen in [WeightedL1(0.1, weights=[1.0, 0.0, 2.0], update="proximal"),
                WeightedL1(0.2, weights={"fc1.weight": [1.0, 2.0]})]:
        again = penalty_from_config(json.loads(json.dumps(pen.config())))
        assert type(again) is WeightedL1 and again.config() == pen.config() and repr(again) == repr(pen)
    assert KINDS["weighted_l1"].cls is WeightedL1


@pytest.mark.parametrize("term", [WeightedL1(0.1, weights=[1.0, 2.0]), MCP(0.1)])
def test_sklearn_mapping_refuses_what_has_no_single_strength(term) -> None:
    with pytest.raises(ValueError, match="no scikit-learn equivalent"):
        sklearn_params(term, 10, "Lasso")


def test_alpha_max_points_to_the_solver_that_takes_factors() -> None:
    ds = sparse_regression(n=20, p=3, k=1)
    with pytest.raises(ValueError, match="penalty_factor=weights"):
        WeightedL1(1.0, weights=[1.0, 1.0, 1.0]).alpha_max(ds.X, ds.y)


# -- all ones is L1; a zero weight leaves a coefficient alone -----------------------------------------


@pytest.mark.parametrize(("rule", "optimizer"), [("gradient", "gd"), ("proximal", "gd"), ("decoupled", "gd"),
                                                 ("decoupled", "adam"), ("cumulative", "sgd"), ("proximal", "fista")])
def test_all_ones_weights_give_the_l1_fit(rule: str, optimizer: str) -> None:
    ds = sparse_regression(n=80, p=6, k=2, seed=0)
    common = {"optimizer": optimizer, "lr": 0.05, "steps": 200, "seed": 1}
    if optimizer == "sgd":
        common["batch_size"] = 16
    ours = reglab.fit("linear", ds, penalties=[WeightedL1(0.05, weights=torch.ones(6), update=rule)], **common)
    ref = reglab.fit("linear", ds, penalties=[L1(0.05, update=rule)], **common)
    for a, b in zip(ours.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert ours.history.objective == pytest.approx(ref.history.objective, rel=1e-12)


@pytest.mark.parametrize("rule", ["gradient", "proximal", "decoupled"])
def test_a_zero_weight_leaves_its_coefficient_unpenalized(rule: str) -> None:
    """λ·Σ a_j|w_j| with a_0 = 0 is L1 on the other coefficients: the same fit as a mask that leaves w_0 out."""
    ds = sparse_regression(n=80, p=5, k=2, seed=0)
    weights = torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0])
    others = (weights != 0).reshape(1, 5)
    common = {"optimizer": "gd", "lr": 0.05, "steps": 150, "seed": 0}
    ours = reglab.fit("linear", ds, penalties=[WeightedL1(5.0, weights=weights, update=rule)], **common)
    masked = reglab.fit("linear", ds, penalties=[L1(5.0, on={"linear.weight": others}, update=rule)], **common)
    torch.testing.assert_close(ours.model.linear.weight, masked.model.linear.weight, rtol=1e-12, atol=1e-12)
    if rule == "proximal":  # a strength this large zeroes every penalized coefficient, not the free one
        w = ours.model.linear.weight.detach()[0]
        assert w[0] != 0 and bool((w[1:] == 0).all())


# -- every path applies it ---------------------------------------------------------------------------


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("rule", ["gradient", "proximal", "decoupled"])
def test_fast_path_equals_plain_loop(rule: str, record: bool) -> None:
    ds = zero_column(n=50, p=5, column=1, seed=0)
    terms = [WeightedL1(0.05, weights=WEIGHTS, update=rule)]
    runs = [reglab.fit("linear", ds, penalties=terms, optimizer="gd", lr=0.05, steps=120, seed=2, fast=fast,
                       record=record) for fast in (True, False)]
    for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert runs[0].history.objective == pytest.approx(runs[1].history.objective, rel=1e-10)


def test_recorder_reads_the_per_element_l1_strength_and_gives_no_theory_rate() -> None:
    ds = zero_column(n=50, p=5, column=1, seed=0)
    res = reglab.fit("linear", ds, penalties=[WeightedL1(0.1, weights=WEIGHTS, update="proximal")],
                     optimizer="gd", lr=0.05, steps=20, record=True)
    w = res.trajectory.weights
    np.testing.assert_allclose(w["l1"][:5], 0.1 * np.array(WEIGHTS), rtol=1e-15)
    assert np.isnan(w["theory_rate"][:5]).all()


def test_lr_auto_is_that_of_l1() -> None:
    ds = sparse_regression(n=40, p=5, k=2, seed=0)
    lrs = [reglab.fit("linear", ds, penalties=[t], lr="auto", steps=1).lr
           for t in (WeightedL1(0.3, weights=WEIGHTS), L1(0.3))]
    assert lrs[0] == lrs[1]


def _sweep(rule: str) -> dict:
    return {"base": {"data": DATA, "penalties": [{"kind": "weighted_l1", "strength": 0.05, "weights": WEIGHTS,
                                                   "update": rule}, {"kind": "l2", "strength": 0.01}],
                     "lr": 0.05, "steps": 40, "dtype": "float64"},
            "grid": {"tie": [{"penalties.0.strength": 0.02, "lr": 0.05, "seed": 0},
                             {"penalties.0.strength": 0.0, "lr": 0.1, "seed": 1},
                             {"penalties.0.strength": 0.3, "lr": 0.02, "seed": 2}]}}


@pytest.mark.parametrize("rule", ["gradient", "proximal", "decoupled"])
def test_batched_sweep_equals_fit_run_by_run(rule: str) -> None:
    runs = expand_sweep(_sweep(rule))
    assert all(why_not_batched(r.spec) is None for r in runs)
    for run, (batched, _) in zip(runs, fit_batched(runs)):
        ref = fit_run(run.spec)
        for a, b in zip(batched.model.parameters(), ref.model.parameters()):
            a, b = a.detach(), b.detach()
            assert float((a - b).abs().max()) <= 1e-10 * (float(b.abs().max()) or 1.0)
            assert int((a == 0).sum()) == int((b == 0).sum())
        assert batched.history.objective == pytest.approx(ref.history.objective, rel=1e-10)


def test_batched_executor_stacks_the_runs() -> None:
    rows: list[dict] = []
    BatchedExecutor().run(expand_sweep(_sweep("proximal")), rows.append)
    assert [r["executor"] for r in rows] == ["batched"] * 3 and all(r.get("batch_reason") is None for r in rows)


SPEC = """\
data: {scenario: linear_regression, n: 60, p: 5, n_test: 20}
penalties:
  - {kind: weighted_l1, strength: 0.05, weights: [1.0, 0.0, 2.0, 0.5, 1.5], update: proximal}
lr: 0.05
steps: 60
"""


def test_spec_file_and_cli_flag_give_the_python_fit(tmp_path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    data = build_data({"data": DATA})
    python = reglab.fit("linear", data, penalties=[WeightedL1(0.05, weights=WEIGHTS, update="proximal")],
                        lr=0.05, steps=60)
    runner = CliRunner()
    from_file = runner.invoke(app, ["fit", str(path), "--json"])
    assert from_file.exit_code == 0, from_file.output
    # the flag replaces the spec's penalties: here by the same term, written KIND:STRENGTH:WEIGHTS:UPDATE
    flag = runner.invoke(app, ["fit", str(path), "--json", "--penalty", "weighted_l1:0.05:1,0,2,0.5,1.5:proximal"])
    assert flag.exit_code == 0, flag.output
    for out in (from_file, flag):
        assert json.loads(out.stdout)["train_loss"] == pytest.approx(python.data_loss("train"), rel=1e-12)


def test_cli_says_how_to_write_the_weights() -> None:
    result = CliRunner().invoke(app, ["fit", "--data", "zero_column", "--penalty", "weighted_l1:0.1:1,x"])
    assert result.exit_code != 0
    assert "weights '1,x' is not comma-separated numbers" in result.output
