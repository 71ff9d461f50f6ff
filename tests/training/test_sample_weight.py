"""sample_weight in the losses and in fit(): a weighted mean of per-sample losses.

Integer weights equal repeated rows, a zero weight equals a dropped row, scaling every weight
changes nothing; on every route of fit (fast path and autograd loop, Gram and data forms, MLPs).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reglab
from reglab.data import Dataset, check_sample_weight
from reglab.training import lipschitz_constant
from reglab.losses import LOSSES, CrossEntropy, Logistic, Squared
from reglab.models import MLP, LinearModel
from reglab.solvers import gram_matrix, top_eigenvalue

RNG = np.random.default_rng(0)
N, P = 24, 4
X = RNG.normal(size=(N, P))
Y = {"squared": X @ RNG.normal(size=P) + 0.3 * RNG.normal(size=N),
     "logistic": (RNG.uniform(size=N) < 0.5).astype(np.float64),
     "cross_entropy": RNG.integers(0, 3, size=N)}
W = RNG.integers(0, 4, size=N)  # integer weights, zeros included
W[:3] = (0, 2, 3)
MODEL_OF = {"squared": "linear", "logistic": "logistic", "cross_entropy": "softmax"}


def _repeated(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return X.repeat(W, axis=0), y.repeat(W)


# -- the losses --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LOSSES))
def test_weighted_loss_equals_loss_on_repeated_rows_and_per_sample_mean_equals_loss(name) -> None:
    loss = LOSSES[name]()
    k = 3 if name == "cross_entropy" else 1
    out = torch.as_tensor(RNG.normal(size=(N, k)))
    y = torch.as_tensor(Y[name])
    assert float(loss.per_sample(out, y).mean()) == pytest.approx(float(loss(out, y)), rel=1e-14)
    rows = torch.as_tensor(np.repeat(np.arange(N), W))
    weighted = float(loss(out, y, torch.as_tensor(W, dtype=torch.float64)))
    assert weighted == pytest.approx(float(loss(out[rows], y[rows])), rel=1e-14)
    # scale invariance: the weighted *mean*
    assert float(loss(out, y, torch.as_tensor(7.5 * W, dtype=torch.float64))) == pytest.approx(weighted, rel=1e-14)


def test_squared_per_sample_loss_is_the_mean_over_outputs() -> None:
    out = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    y = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert Squared().per_sample(out, y).tolist() == [5.0, 1.0]
    assert float(Squared()(out, y, torch.tensor([1.0, 0.0]))) == 5.0


def test_logistic_and_cross_entropy_per_sample_losses_equal_negative_log_likelihoods() -> None:
    z = torch.tensor([[0.3], [-1.2]], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0], dtype=torch.float64)
    expected = [-np.log(1 / (1 + np.exp(-0.3))), -np.log(1 - 1 / (1 + np.exp(1.2)))]
    np.testing.assert_allclose(Logistic().per_sample(z, y).numpy(), expected, rtol=1e-14)
    Z = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)
    p = np.exp([1.0, 2.0, 0.5]) / np.exp([1.0, 2.0, 0.5]).sum()
    np.testing.assert_allclose(CrossEntropy().per_sample(Z, torch.tensor([1])).numpy(), [-np.log(p[1])], rtol=1e-14)


# -- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("weights", "message"), [
    ([1.0, -1.0, 1.0], "Negative values in data passed to `sample_weight`"),
    ([1.0, 1.0], r"sample_weight.shape == \(2,\), expected \(3,\)"),
    ([[1.0], [1.0], [1.0]], "Sample weights must be 1D array or scalar"),
    ([np.nan, 1.0, 1.0], "Input sample_weight contains NaN"),
    ([0.0, 0.0, 0.0], "Sample weights must contain at least one non-zero number"),
])
def test_invalid_sample_weight_is_refused_with_scikit_learn_words(weights, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_sample_weight(weights, 3)
    with pytest.raises(ValueError, match=message):
        reglab.fit("linear", (X[:3], Y["squared"][:3]), sample_weight=weights, steps=1)


def test_weights_given_both_in_the_dataset_and_to_fit_are_refused() -> None:
    ds = Dataset.from_arrays(X, Y["squared"])
    ds = type(ds)(**{**ds.__dict__, "sample_weight": torch.ones(N, dtype=torch.float64)})
    with pytest.raises(ValueError, match="already has sample_weight"):
        reglab.fit("linear", ds, sample_weight=np.ones(N), steps=1)


# -- fit: integer weights == repeated rows, zero == dropped, scale invariance -------------------------


def _coef(res: reglab.FitResult) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in res.model.parameters()])


def _fit(name: str, Xd: np.ndarray, yd: np.ndarray, weights: np.ndarray | None = None, **kw: object
         ) -> reglab.FitResult:
    options = {"penalties": [reglab.ElasticNet(0.05, l1_ratio=0.5, update="proximal")], "lr": "auto",
               "steps": 200, "seed": 3, **kw}
    return reglab.fit(MODEL_OF[name], (Xd, yd), sample_weight=weights, **options)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "autograd-loop"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_full_batch_gd_with_integer_weights_equals_repeated_rows(name, fast) -> None:
    weighted = _fit(name, X, Y[name], W, fast=fast)
    repeated = _fit(name, *_repeated(Y[name]), fast=fast)
    assert weighted.lr == pytest.approx(repeated.lr, rel=1e-12)  # lr='auto': the weighted curvature
    np.testing.assert_allclose(_coef(weighted), _coef(repeated), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weighted.history.objective, repeated.history.objective, rtol=1e-10)


@pytest.mark.parametrize("name", list(LOSSES))
def test_zero_weight_equals_dropped_row_and_scaling_weights_changes_nothing(name) -> None:
    keep = W > 0
    weighted = _fit(name, X, Y[name], W.astype(np.float64))
    dropped = _fit(name, X[keep], Y[name][keep], W[keep].astype(np.float64))
    scaled = _fit(name, X, Y[name], 0.01 * W)
    np.testing.assert_allclose(_coef(weighted), _coef(dropped), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_coef(weighted), _coef(scaled), rtol=1e-10, atol=1e-12)


def test_gram_form_and_data_form_of_the_fast_path_agree_with_weights() -> None:
    Xl = np.vstack([X] * 4)  # n ≫ d: the Gram form
    yl = np.concatenate([Y["squared"]] * 4)
    wl = np.concatenate([W] * 4).astype(np.float64)
    terms = [reglab.L1(0.02, update="proximal")]
    fast = reglab.fit("linear", (Xl, yl), penalties=terms, lr="auto", steps=150, sample_weight=wl)
    plain = reglab.fit("linear", (Xl, yl), penalties=terms, lr="auto", steps=150, sample_weight=wl, fast=False)
    np.testing.assert_allclose(_coef(fast), _coef(plain), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.history.data_loss, plain.history.data_loss, rtol=1e-10)


def test_tol_stops_at_the_weighted_optimum() -> None:
    # the KKT measure uses the weighted loss: stopping at tol=1e-10 lands on the optimum of the repeated rows
    weighted = _fit("squared", X, Y["squared"], W, steps=20_000, tol=1e-10)
    repeated = _fit("squared", *_repeated(Y["squared"]), steps=20_000, tol=1e-10)
    assert weighted.status == repeated.status == "converged"
    np.testing.assert_allclose(_coef(weighted), _coef(repeated), rtol=1e-7, atol=1e-9)


def test_mlp_full_batch_with_integer_weights_equals_repeated_rows() -> None:
    def run(Xd: np.ndarray, yd: np.ndarray, w: np.ndarray | None) -> np.ndarray:
        net = MLP(P, (5,), 1, "tanh", generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        reglab.fit(net, (Xd, yd), loss="squared", penalties=[reglab.L1(1e-3, update="proximal")], lr=0.05,
                   steps=100, sample_weight=w)
        return np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])

    np.testing.assert_allclose(run(X, Y["squared"], W), run(*_repeated(Y["squared"]), None), rtol=1e-10, atol=1e-12)


def test_minibatch_zero_weight_rows_do_not_affect_training() -> None:
    # the batches are the same (same seed and n); rows of weight 0 carry targets that must not matter,
    # and a batch of zero-weight rows only gives a zero gradient (no 0/0)
    w = np.ones(N)
    w[::3] = 0.0
    y2 = Y["squared"].copy()
    y2[::3] = 1e6
    runs = [reglab.fit("linear", (X, y), optimizer="sgd", batch_size=2, lr=0.05, steps=60, seed=1, sample_weight=w)
            for y in (Y["squared"], y2)]
    np.testing.assert_array_equal(_coef(runs[0]), _coef(runs[1]))
    assert np.all(np.isfinite(_coef(runs[0])))


def test_minibatch_weights_are_relative_to_their_mean_so_equal_weights_change_nothing() -> None:
    # a batch's loss is mean over the batch of (wᵢ / mean w)·ℓᵢ: equal weights of any size are no weights
    runs = [reglab.fit("linear", (X, Y["squared"]), optimizer="sgd", batch_size=5, lr=0.05, steps=40, seed=2,
                       sample_weight=w) for w in (None, np.full(N, 7.0))]
    np.testing.assert_allclose(_coef(runs[0]), _coef(runs[1]), rtol=1e-12, atol=1e-14)


def test_weighted_lipschitz_constant_is_the_top_eigenvalue_of_the_weighted_gram_matrix() -> None:
    Xt, w = torch.as_tensor(X), torch.as_tensor(W, dtype=torch.float64)
    Xa = np.hstack([X, np.ones((N, 1))])
    expected = np.linalg.eigvalsh(Xa.T @ (W[:, None] * Xa) / W.sum())[-1]
    assert top_eigenvalue(Xt, True, sample_weight=w) == pytest.approx(expected, rel=1e-12)
    G, C = gram_matrix(Xt, torch.as_tensor(Y["squared"]).reshape(-1, 1), True, w)
    np.testing.assert_allclose(G.numpy(), Xa.T @ (W[:, None] * Xa) / W.sum(), rtol=1e-12)
    np.testing.assert_allclose(C.numpy()[:, 0], Xa.T @ (W * Y["squared"]) / W.sum(), rtol=1e-12)
    # power iteration (d > 512 is where it runs; forced here through a large X) agrees
    Xb = RNG.normal(size=(600, 520))
    wb = RNG.uniform(0.0, 3.0, size=600)
    Xba = np.hstack([Xb, np.ones((600, 1))])
    lam = np.linalg.eigvalsh(Xba.T @ (wb[:, None] * Xba) / wb.sum())[-1]
    assert top_eigenvalue(torch.as_tensor(Xb), True, sample_weight=torch.as_tensor(wb)) == pytest.approx(lam, rel=1e-6)
    ds = Dataset.from_arrays(X, Y["squared"])
    ds = type(ds)(**{**ds.__dict__, "sample_weight": w})
    model = LinearModel(P, 1, "linear", True, dtype=torch.float64)
    assert lipschitz_constant(model, ds, Squared()) == pytest.approx(2.0 * expected, rel=1e-12)


def test_checkpoint_of_one_weighting_does_not_resume_another(tmp_path) -> None:
    from reglab.training.checkpoint import CheckpointError

    path = tmp_path / "run.pt"
    reglab.fit("linear", (X, Y["squared"]), steps=4, sample_weight=W, checkpoint=path, checkpoint_every=2)
    with pytest.raises(CheckpointError, match="sample_weight"):
        reglab.fit("linear", (X, Y["squared"]), steps=4, sample_weight=W + 1, resume=path)
