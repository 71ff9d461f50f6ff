"""The batched executor equals sequential fit() run by run (float64, 1e-10 relative)."""

from __future__ import annotations

import pytest
import torch

from reglab.sweep import BatchedExecutor, expand_sweep, fit_batched, why_not_batched
from reglab.sweep.runner import fit_run

DATA = {
    "linear": {"scenario": "linear_regression", "n": 60, "p": 5, "n_test": 20},
    "logistic": {"scenario": "pure_noise", "n": 60, "p": 5, "n_test": 20},
    "softmax": {"scenario": "pure_noise", "n": 60, "p": 5, "n_test": 20, "n_classes": 3},
    "mlp": {"scenario": "linear_regression", "n": 60, "p": 5, "n_test": 20},
}


def _sweep(model: str, rule: str, optimizer: str = "gd") -> dict:
    base = {
        "model": model,
        "data": DATA[model],
        "penalties": [
            {"kind": "l1", "strength": 0.01, "update": rule},
            {"kind": "elasticnet", "strength": 0.01, "l1_ratio": 0.5, "update": rule},
            {"kind": "l2", "strength": 0.01, "update": rule, "on": "*weight"},
        ],
        "optimizer": optimizer,
        "lr": 0.05,
        "steps": 40,
        "dtype": "float64",
    }
    if model == "mlp":
        base["model_args"] = {"hidden": [6], "activation": "tanh"}
    if optimizer == "sgd":
        base["batch_size"] = 16
    # every quantity that may differ inside a group differs between these points
    tie = [
        {"penalties.0.strength": 0.02, "penalties.1.strength": 0.05, "penalties.1.l1_ratio": 0.3,
         "penalties.2.strength": 0.1, "lr": 0.05, "seed": 0},
        {"penalties.0.strength": 0.2, "penalties.1.strength": 0.01, "penalties.1.l1_ratio": 0.9,
         "penalties.2.strength": 0.0, "lr": 0.1, "seed": 1},
        {"penalties.0.strength": 0.0, "penalties.1.strength": 0.3, "penalties.1.l1_ratio": 0.0,
         "penalties.2.strength": 0.5, "lr": 0.02, "seed": 2},
    ]
    return {"base": base, "grid": {"tie": tie}}


def _assert_same(batched, sequential) -> None:
    assert batched.status == sequential.status
    assert batched.steps_run == sequential.steps_run
    for (name, a), (_, b) in zip(batched.model.named_parameters(), sequential.model.named_parameters()):
        scale = float(b.detach().abs().max()) or 1.0
        assert float((a - b).detach().abs().max()) <= 1e-10 * scale, name
        assert int((a == 0).sum()) == int((b == 0).sum()), f"exact zeros of {name}"
    assert batched.data_loss("train") == pytest.approx(sequential.data_loss("train"), rel=1e-10)
    assert batched.history.step == sequential.history.step
    assert batched.history.objective == pytest.approx(sequential.history.objective, rel=1e-10)


@pytest.mark.parametrize("rule", ["gradient", "proximal", "decoupled"])
@pytest.mark.parametrize("model", ["linear", "logistic", "softmax", "mlp"])
def test_batched_equals_sequential_fit_for_every_batching_rule(model: str, rule: str) -> None:
    runs = expand_sweep(_sweep(model, rule))
    assert all(why_not_batched(r.spec) is None for r in runs)
    for run, (result, _) in zip(runs, fit_batched(runs)):
        _assert_same(result, fit_run(run.spec))


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_batched_sgd_draws_each_runs_own_minibatches_as_fit_does(model: str) -> None:
    runs = expand_sweep(_sweep(model, "proximal", optimizer="sgd"))
    for run, (result, _) in zip(runs, fit_batched(runs)):
        _assert_same(result, fit_run(run.spec))


def test_proximal_l1_reaches_exact_zeros_in_a_batched_run() -> None:
    sweep = {"base": {"data": DATA["linear"], "penalties": [{"kind": "l1", "strength": 5.0, "update": "proximal"}],
                      "lr": 0.05, "steps": 60}, "grid": {"seed": [0, 1]}}
    results = fit_batched(expand_sweep(sweep))
    assert all(int((r.model.linear.weight == 0).sum()) == 5 for r, _ in results)


def test_runs_that_do_not_batch_fall_back_with_their_reason() -> None:
    sweep = {"base": {"data": DATA["linear"], "penalties": [{"kind": "l1", "strength": 0.1}], "steps": 10},
             "grid": {"tie": [{"optimizer": "adam", "penalties.0.update": "decoupled"},
                              {"optimizer": "sgd", "penalties.0.update": "cumulative"},
                              {"optimizer": "gd", "penalties.0.update": "gradient"}]}}
    runs = expand_sweep(sweep)
    rows: list[dict] = []
    BatchedExecutor().run(runs, rows.append)
    by_id = {r["run_id"]: r for r in rows}
    assert "optimizer 'adam'" in by_id[runs[0].run_id]["batch_reason"]
    assert "cumulative" in by_id[runs[1].run_id]["batch_reason"]
    assert by_id[runs[2].run_id]["executor"] == "batched"
    assert by_id[runs[0].run_id]["executor"] == "serial"
    seq = fit_run(runs[0].spec)
    assert by_id[runs[0].run_id]["train_loss"] == seq.data_loss("train")


def test_a_diverging_learning_rate_is_stored_diverged_while_the_others_complete() -> None:
    sweep = {"base": {"data": DATA["linear"], "penalties": [{"kind": "l2", "strength": 0.01}], "steps": 200},
             "grid": {"lr": [0.01, 0.1, 3.0]}}
    runs = expand_sweep(sweep)
    rows: list[dict] = []
    BatchedExecutor().run(runs, rows.append)
    status = {r["run_id"]: r["status"] for r in rows}
    assert [status[r.run_id] for r in runs] == ["max_steps", "max_steps", "diverged"]
    diverged = fit_run(runs[2].spec)
    assert diverged.status == "diverged"
    row = next(r for r in rows if r["run_id"] == runs[2].run_id)
    assert row["steps"] == diverged.steps_run < 200
    ok = next(r for r in rows if r["run_id"] == runs[1].run_id)
    assert ok["train_loss"] == pytest.approx(fit_run(runs[1].spec).data_loss("train"), rel=1e-10)
    assert torch.isfinite(torch.tensor(ok["train_loss"]))


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                   reason="no CUDA device on this machine"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_batched_on_a_device_equals_sequential_fits_there(model: str, device: str) -> None:
    sweep = _sweep(model, "proximal")
    sweep["base"]["device"] = device
    runs = expand_sweep(sweep)
    for run, (batched, _) in zip(runs, fit_batched(runs)):
        assert next(batched.model.parameters()).device.type == device
        assert batched.data.X.device.type == device
        _assert_same(batched, fit_run(run.spec))


def test_a_device_this_machine_lacks_is_refused_with_fits_message() -> None:
    sweep = _sweep("linear", "gradient")
    sweep["base"]["device"] = "cuda:99" if torch.cuda.is_available() else "cuda"
    with pytest.raises(ValueError, match="device='cuda"):
        fit_batched(expand_sweep(sweep))
