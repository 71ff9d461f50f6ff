"""run_grid: a grid's summary rows as a DataFrame, batched where it can, equal to fit() run by run."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from reglab.data import pure_noise, sparse_regression
from reglab.training import fit
from reglab.penalties import L1, L2
from reglab.sweep import run_grid

BASE = {"model": "logistic", "data": {"scenario": "pure_noise", "n": 50, "p": 4, "n_test": 30},
        "penalties": [{"kind": "l2", "strength": 0.0}], "lr": 0.5, "steps": 30, "dtype": "float64"}
GRID = {"penalties.0.strength": [0.0, 0.1, 1.0], "seed": [0, 1]}


def test_run_grid_batched_rows_equal_serial_rows_in_grid_order():
    batched = run_grid(BASE, GRID)
    serial = run_grid(BASE, GRID, executor="serial")
    assert list(batched["p_penalties_0_strength"]) == [0.0, 0.0, 0.1, 0.1, 1.0, 1.0]
    assert list(batched["p_seed"]) == [0, 1, 0, 1, 0, 1]
    assert list(batched["run_id"]) == list(serial["run_id"])
    assert set(batched["batched_with"]) == {6} and set(serial["batched_with"]) == {1}
    for col in ("train_loss", "test_loss", "null_test_loss", "l2_norm", "penalty"):
        assert batched[col].to_numpy() == pytest.approx(serial[col].to_numpy(), rel=1e-10, abs=1e-14), col
    assert "_history" not in batched.columns


def test_run_grid_trains_on_given_data_as_fit_does():
    ds = pure_noise(n=40, p=3, task="binary", n_test=0, seed=3).split(0.25, seed=1)  # no spec names this split
    df = run_grid(BASE, {"penalties.0.strength": [0.0, 0.5]}, data=ds, keep_fits=True)
    for lam, res in zip([0.0, 0.5], df["fit"]):
        ref = fit("logistic", ds, penalties=[L2(lam)], lr=0.5, steps=30, dtype=torch.float64)
        assert res.data.X.shape == (30, 3)
        assert res.data_loss("test") == pytest.approx(ref.data_loss("test"), rel=1e-10)
        assert res.data_loss("train") == pytest.approx(ref.data_loss("train"), rel=1e-10)
    assert df["test_loss"].tolist() == pytest.approx([r.data_loss("test") for r in df["fit"]], rel=1e-12)


def test_run_grid_runs_what_does_not_batch_one_by_one_with_the_reason():
    ds = sparse_regression(n=40, p=6, k=2, seed=0)
    lam = L1(1.0).alpha_max(ds.X, ds.y)
    base = {"model": "linear", "data": {"scenario": "sparse_regression", "n": 40, "p": 6, "k": 2},
            "penalties": [{"kind": "l1", "strength": 0.1, "update": "proximal"}], "lr": "auto", "steps": 200,
            "dtype": "float64"}
    base["penalties"][0]["strength"] = 2 * lam
    df = run_grid(base, {"tol": [1e-12, None]})
    assert df["batch_reason"].iloc[0] is not None and "tol" in df["batch_reason"].iloc[0]
    assert pd.isna(df["batch_reason"].iloc[1])
    weights = 6
    assert df["exact_zeros"].tolist() == [weights, weights]  # above λ_max every weight is exactly zero


def test_run_grid_stores_a_diverging_run_as_diverged_and_finishes_the_others():
    base = {**BASE, "model": "linear", "data": {"scenario": "linear_regression", "n": 40, "p": 4}}
    df = run_grid(base, {"lr": [0.01, 50.0]})
    assert df["status"].tolist() == ["max_steps", "diverged"]


def test_run_grid_refuses_given_data_with_an_out_of_process_executor():
    with pytest.raises(ValueError, match="in this process"):
        run_grid(BASE, GRID, executor="local", data=pure_noise(n=20, p=3, task="binary", seed=0))
