"""Blocked passes over X equal the plain computation (to rounding): the centred Gram build and the
fused loss + gradient passes, with ragged last blocks, several outputs, weights and intercepts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from reglab.solvers import design as _design_mod
from reglab.solvers import ridge_solve
from reglab.solvers.design import centred_gram


def _relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("centre", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_centred_gram_in_ragged_blocks_equals_centre_then_multiply(monkeypatch, centre: bool, weighted: bool) -> None:
    monkeypatch.setattr(_design_mod, "_GRAM_BLOCK_BYTES", 300 * 7 * 8)  # 300-row blocks: 1000 = 3·300 + 100
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 7)) + 5.0
    Y = rng.standard_normal((1000, 3))
    w = rng.uniform(0.0, 2.0, 1000) if weighted else None
    mean = X.mean(0) if centre else None
    G, C = centred_gram(X, Y, mean, w)
    Xc = X - mean if centre else X
    S = np.ones(1000) if w is None else w
    assert _relative_error(G, Xc.T @ (S[:, None] * Xc)) <= 1e-12
    assert _relative_error(C, Xc.T @ (S[:, None] * Y)) <= 1e-12


def test_ridge_solve_equals_the_normal_equations_in_float64_and_float32() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 20)) * np.linspace(0.5, 3.0, 20) + 2.0
    y = X @ rng.standard_normal(20) + rng.standard_normal(3000)
    lam = 0.05
    Xc, yc = X - X.mean(0), y - y.mean()
    w = np.linalg.solve(Xc.T @ Xc / len(X) + lam * np.eye(20), Xc.T @ yc / len(X))
    b = y.mean() - X.mean(0) @ w
    s64 = ridge_solve(X, y, lam)
    assert _relative_error(s64.coef, w) <= 1e-12 and s64.intercept == pytest.approx(b, rel=1e-12)
    s32 = ridge_solve(torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), lam,
                      dtype=torch.float32)
    assert s32.coef.dtype == np.float32
    assert _relative_error(s32.coef.astype(np.float64), w) <= 1e-4
    assert s32.intercept == pytest.approx(b, abs=1e-5 * np.abs(y).max())  # b = ȳ − x̄ᵀw cancels


# -- fused loss + gradient passes ----------------------------------------------------------------------------

FUSED = [  # (loss, k, intercept, weighted)
    ("logistic", 1, True, False),
    ("logistic", 1, False, True),
    ("squared", 1, True, True),
    ("squared", 2, False, False),
    ("cross_entropy", 3, True, True),
    ("cross_entropy", 3, False, False),
]


def _problem(loss: str, k: int, n: int = 1000, p: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, k))
    b = rng.standard_normal(k)
    if loss == "cross_entropy":
        y = rng.integers(0, k, n)
    elif loss == "logistic":
        y = (rng.random(n) < 0.4).astype(float)
    else:
        y = rng.standard_normal((n, k))
    return X, W, b, y, rng.uniform(0.0, 2.0, n)


@pytest.mark.parametrize("loss, k, fi, weighted", FUSED)
def test_fused_numpy_pass_in_ragged_blocks_equals_the_two_pass_computation(
        monkeypatch, loss: str, k: int, fi: bool, weighted: bool) -> None:
    monkeypatch.setattr(_design_mod, "_PASS_BLOCK_BYTES", 300 * 6 * 8)  # 300-row blocks: 1000 = 3·300 + 100
    X, W, b, y, w = _problem(loss, k)
    Y = _design_mod.encode_targets(y, loss) if loss != "squared" else y
    s = w / w.mean() if weighted else None
    bias = b if fi else None
    value, gW, gb = _design_mod.fused_loss_grad(X, W, bias, Y, loss, s)
    Z = X @ W + (b if fi else 0.0)
    ref_value, G = _design_mod.loss_and_grad_z(Z, Y, loss, s)  # the two-pass computation
    assert value == pytest.approx(ref_value, rel=1e-12)
    assert _relative_error(gW, X.T @ G) <= 1e-12
    assert _relative_error(gb, G.sum(0)) <= 1e-12
    _, gW_only, gb_only = _design_mod.fused_loss_grad(X, W, bias, Y, loss, s, value=False)
    assert np.array_equal(gW_only, gW) and np.array_equal(gb_only, gb)


@pytest.mark.parametrize("loss, k, fi, weighted", FUSED)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_torch_gradient_in_ragged_blocks_equals_the_two_pass_gradient(
        monkeypatch, loss: str, k: int, fi: bool, weighted: bool, dtype: torch.dtype) -> None:
    from reglab.losses import get_loss
    from reglab.models import LinearModel
    from reglab.solvers import torch_design
    from reglab.training.fast_linear import LinearFastPath

    X, W, b, y, w = _problem(loss, k)
    kind = {"squared": "linear", "logistic": "logistic", "cross_entropy": "softmax"}[loss]
    model = LinearModel(X.shape[1], k, kind, fi, dtype=dtype)
    Xt = torch.tensor(X, dtype=dtype)
    yt = torch.tensor(y).long() if loss == "cross_entropy" else torch.tensor(y, dtype=dtype)
    sw = torch.tensor(w, dtype=dtype) if weighted else None
    theta = torch.tensor(np.vstack([W, b[None]]) if fi else W, dtype=dtype)

    def gradient(block_bytes: int) -> Tensor:
        monkeypatch.setattr(torch_design, "_PASS_BLOCK_BYTES", block_bytes)
        fp = LinearFastPath(model, Xt, yt, get_loss(loss), "gd", gram=False, sample_weight=sw)
        fp.grad(theta)  # twice: the second call reuses the fused pass's buffer
        return fp.grad(theta)

    blocked = gradient(300 * 6 * Xt.element_size())  # 300-row blocks, the last one ragged
    two_pass = gradient(1 << 40)                      # one block: the plain two-pass computation
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert _relative_error(blocked.numpy(), two_pass.numpy()) <= tol
