"""diagnose(): on runs whose behaviour is known, the right weights land in the right class."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reglab import L1, L2, Diagnosis, diagnose, fit
from reglab.data import Dataset, linear_regression, pure_noise, zero_column
from reglab.observe import CLASSES
from reglab.models import mlp

ETA = 0.05
ZERO = "linear.weight[0,0]"


def _zero_col(**kw):
    return fit("linear", zero_column(n=60, p=3, column=0), lr=ETA, record=True, **kw)


def test_zero_input_column_weight_is_stuck_and_the_others_converge() -> None:
    d = diagnose(_zero_col(steps=400))
    assert d.of(ZERO) == "stuck"
    assert d.per_weight.set_index("name").at[ZERO, "max_abs_grad"] == 0.0
    assert {d.of(n) for n in ("linear.weight[0,1]", "linear.weight[0,2]", "linear.bias[0]")} == {"converged"}
    assert d.counts == {**{c: 0 for c in CLASSES}, "stuck": 1, "converged": 3}


def test_dead_relu_units_weights_are_stuck() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = np.tanh(X @ np.array([1.0, -1.0, 0.5]))
    model = mlp(3, hidden=[4], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        model.fc1.bias[2] = -100.0  # unit 2 never activates on this data
    res = fit(model, Dataset.from_arrays(X, y), lr=0.05, steps=300, record=True)
    d = diagnose(res)
    dead = ["fc1.weight[2,0]", "fc1.weight[2,1]", "fc1.weight[2,2]", "fc1.bias[2]", "fc2.weight[0,2]"]
    assert [d.of(n) for n in dead] == ["stuck"] * 5
    assert d.counts["stuck"] == 5  # and no live weight is called stuck


def test_l1_subgradient_oscillates_with_amplitude_lr_times_strength() -> None:
    lam = 0.1
    d = diagnose(_zero_col(steps=300, penalties=[L1(lam)]))
    row = d.per_weight.set_index("name").loc[ZERO]
    assert row["cls"] == "oscillating"
    assert abs(row["amplitude"] - ETA * lam) <= 1e-9
    assert abs(row["centre"]) <= ETA * lam / 2 + 1e-12  # between ε and ε − ηλ around zero


def test_l1_proximal_reaches_exact_zero_in_ceil_w0_over_lr_lambda_steps() -> None:
    lam = 0.1
    res = _zero_col(steps=300, penalties=[L1(lam, update="proximal")])
    d = diagnose(res)
    row = d.per_weight.set_index("name").loc[ZERO]
    assert row["cls"] == "exact_zero"
    assert row["zero_step"] == math.ceil(abs(row["w0"]) / (ETA * lam))
    assert d.names_in("exact_zero") == [ZERO]


def test_l2_decay_rate_matches_one_minus_two_lr_lambda() -> None:
    lam = 0.2
    d = diagnose(_zero_col(steps=300, penalties=[L2(lam)]))
    row = d.per_weight.set_index("name").loc[ZERO]
    assert row["cls"] == "decaying"
    assert abs(row["rate"] - (1 - 2 * ETA * lam)) <= 1e-6
    assert row["theory_rate"] == pytest.approx(1 - 2 * ETA * lam, abs=1e-15)


def test_pure_noise_under_strong_l2_is_the_null_model_and_signal_is_not() -> None:
    noise = fit("linear", pure_noise(n=100, p=10, n_test=400), lr=0.05, steps=300, record=True,
                penalties=[L2(5.0)])
    d = diagnose(noise)
    assert d.is_null is True
    nm = d.null_model
    assert nm is not None and nm["split"] == "test" and nm["loss_ratio"] >= 1 - nm["null_tol"]
    # every penalised weight ends near zero, pulled there (decaying) or already settled (converged)
    weights = d.per_weight[d.per_weight["tensor"] == "linear.weight"]
    assert set(weights["cls"]) <= {"decaying", "converged"}
    signal = fit("linear", linear_regression(n=100, p=10, n_test=400), lr=0.05, steps=300, record=True,
                 penalties=[L2(0.01)])
    ds = diagnose(signal)
    assert ds.is_null is False
    assert ds.null_model["loss_ratio"] < 0.5


def test_weakly_dependent_weight_crawls_and_its_steps_needed_are_enough() -> None:
    data = linear_regression(n=80, p=2, coef=[1.0, 3.0], scales=[1.0, 0.1], noise=0.0)
    tol = 1e-4
    short = fit("linear", data, lr=0.1, steps=300, record=True)
    row = diagnose(short, tol=tol).per_weight.set_index("name").loc["linear.weight[0,1]"]
    assert row["cls"] == "crawling"
    need = row["steps_needed"]
    assert 300 < need < 20_000
    longer = fit("linear", data, lr=0.1, steps=300 + int(math.ceil(need * 1.2)), record=True)
    assert diagnose(longer, tol=tol).of("linear.weight[0,1]") == "converged"
    too_short = fit("linear", data, lr=0.1, steps=300 + int(need * 0.5), record=True)
    assert diagnose(too_short, tol=tol).of("linear.weight[0,1]") == "crawling"


def test_too_large_a_learning_rate_is_diverging() -> None:
    res = fit("linear", linear_regression(n=50, p=3), lr=2.0, steps=60, record=True, on_divergence="stop")
    d = diagnose(res)
    assert d.counts["diverging"] >= 1
    assert res.status == "diverged"


def test_minibatch_noise_is_fluctuating_not_converged() -> None:
    res = fit("linear", linear_regression(n=200, p=3, noise=1.0), optimizer="sgd", batch_size=8, lr=0.05,
              steps=400, record=True)
    d = diagnose(res)
    assert d.counts["fluctuating"] >= 3


def test_diagnosis_prints_a_short_table_and_exposes_the_per_weight_frame() -> None:
    d = diagnose(_zero_col(steps=200, penalties=[L1(0.1, update="proximal")]))
    text = str(d)
    assert "exact_zero" in text and ZERO in text and "null model" in text
    assert len(text.splitlines()) <= len(CLASSES) + 2
    frame = d.to_pandas()
    for col in ("name", "cls", "rate", "theory_rate", "amplitude", "centre", "zero_step", "steps_needed"):
        assert col in frame.columns
    assert d.classes_of(ZERO) == d.of(ZERO) == "exact_zero"
    with pytest.raises(KeyError, match="not tracked"):
        d.of("fc9.weight[0,0]")


def test_diagnose_a_bare_trajectory_has_no_null_model_test() -> None:
    d = diagnose(_zero_col(steps=100).trajectory)
    assert isinstance(d, Diagnosis) and d.null_model is None and d.is_null is None
    assert d.of(ZERO) == "stuck"


def test_diagnose_refuses_an_unrecorded_fit() -> None:
    res = fit("linear", zero_column(n=20, p=2), steps=5)
    with pytest.raises(ValueError, match="record=True"):
        diagnose(res)
    with pytest.raises(TypeError, match="FitResult or a Trajectory"):
        diagnose(42)
