"""Data losses and their null models, checked against NumPy, SciPy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from scipy.stats import entropy
from sklearn.metrics import log_loss

from reglab.losses import LOSSES, CrossEntropy, Logistic, Squared, get_loss

RNG = np.random.default_rng(0)
Y_REG = RNG.normal(loc=2.0, size=40)
Y_BIN = (RNG.uniform(size=40) < 0.3).astype(np.float64)
Y_CLS = RNG.choice(3, size=40, p=[0.5, 0.3, 0.2])


def test_squared_loss_is_mean_squared_error_without_a_half() -> None:
    out = RNG.normal(size=(40, 1))
    assert float(Squared()(torch.as_tensor(out), torch.as_tensor(Y_REG))) == pytest.approx(
        np.mean((Y_REG - out[:, 0]) ** 2), rel=1e-12)


def test_logistic_loss_equals_sklearn_log_loss_of_sigmoid_probabilities() -> None:
    logits = RNG.normal(size=(40, 1))
    p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
    value = float(Logistic()(torch.as_tensor(logits), torch.as_tensor(Y_BIN)))
    assert value == pytest.approx(log_loss(Y_BIN, p), rel=1e-10)


def test_cross_entropy_equals_sklearn_log_loss_of_softmax_probabilities() -> None:
    logits = RNG.normal(size=(40, 3))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    value = float(CrossEntropy()(torch.as_tensor(logits), torch.as_tensor(Y_CLS)))
    assert value == pytest.approx(log_loss(Y_CLS, p, labels=[0, 1, 2]), rel=1e-10)


def test_squared_null_loss_is_the_variance_of_y() -> None:
    assert float(Squared().null_loss(torch.as_tensor(Y_REG))) == pytest.approx(np.var(Y_REG), rel=1e-12)


def test_logistic_null_loss_is_the_binary_entropy_of_the_positive_rate() -> None:
    rate = Y_BIN.mean()
    expected = entropy([rate, 1.0 - rate])  # natural log
    assert float(Logistic().null_loss(torch.as_tensor(Y_BIN))) == pytest.approx(expected, rel=1e-10)


def test_cross_entropy_null_loss_is_the_entropy_of_the_class_frequencies() -> None:
    freq = np.bincount(Y_CLS, minlength=3) / len(Y_CLS)
    assert float(CrossEntropy().null_loss(torch.as_tensor(Y_CLS))) == pytest.approx(entropy(freq), rel=1e-10)


@pytest.mark.parametrize("loss, y", [(Squared(), Y_REG), (Logistic(), Y_BIN)])
def test_null_output_is_the_best_constant_found_by_a_scalar_minimizer(loss, y) -> None:
    yt = torch.as_tensor(y)

    def value(c: float) -> float:
        return float(loss(torch.full((len(y), 1), c, dtype=torch.float64), yt))

    best = minimize_scalar(value, bracket=(-5.0, 5.0), tol=1e-12)
    assert float(loss.null_output(yt)) == pytest.approx(best.x, abs=1e-5)
    assert float(loss.null_loss(yt)) <= best.fun + 1e-12


def test_null_loss_on_held_out_y_uses_the_constant_fitted_on_training_y() -> None:
    y_test = RNG.normal(loc=0.0, size=25)
    mean = Y_REG.mean()
    assert float(Squared().null_loss(torch.as_tensor(Y_REG), torch.as_tensor(y_test))) == pytest.approx(
        np.mean((y_test - mean) ** 2), rel=1e-12)
    # not the held-out set's own best constant, which is lower
    assert float(Squared().null_loss(torch.as_tensor(Y_REG), torch.as_tensor(y_test))) > np.var(y_test)


def test_logistic_null_loss_on_held_out_y_uses_the_training_positive_rate() -> None:
    y_test = np.array([1.0, 1.0, 0.0, 1.0])
    rate = Y_BIN.mean()
    expected = -np.mean(y_test * np.log(rate) + (1 - y_test) * np.log(1 - rate))
    assert float(Logistic().null_loss(torch.as_tensor(Y_BIN), torch.as_tensor(y_test))) == pytest.approx(
        expected, rel=1e-10)


def test_cross_entropy_null_loss_on_held_out_y_uses_training_frequencies() -> None:
    y_test = np.array([0, 2, 2, 1, 2])
    freq = np.bincount(Y_CLS, minlength=3) / len(Y_CLS)
    expected = -np.mean(np.log(freq[y_test]))
    assert float(CrossEntropy().null_loss(torch.as_tensor(Y_CLS), torch.as_tensor(y_test))) == pytest.approx(
        expected, rel=1e-10)


def test_get_loss_by_name_and_as_given() -> None:
    assert [type(get_loss(n)) for n in LOSSES] == [Squared, Logistic, CrossEntropy]
    loss = Squared()
    assert get_loss(loss) is loss


def test_unknown_loss_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Unknown loss 'mae'\. Choose one of squared, logistic, cross_entropy"):
        get_loss("mae")


def test_each_loss_is_canonical_for_one_task_and_the_table_reads_both_ways() -> None:
    from reglab.losses import CANONICAL, LOSS_OF_TASK, TASK_OF_LOSS, TASKS

    assert set(LOSSES) == set(TASK_OF_LOSS) and len(CANONICAL) == len(TASKS) == len(set(TASKS))
    for name in LOSSES:
        assert get_loss(name).task == TASK_OF_LOSS[name] and LOSS_OF_TASK[get_loss(name).task] == name


def test_a_weighted_loss_with_equal_weights_is_the_unweighted_mean() -> None:
    out, y = torch.as_tensor(RNG.normal(size=(40, 3))), torch.as_tensor(Y_CLS)
    loss = CrossEntropy()
    assert float(loss(out, y, torch.full((40,), 2.5, dtype=torch.float64))) == pytest.approx(
        float(loss(out, y)), rel=1e-14)
