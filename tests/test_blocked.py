"""Blocked passes over X equal the plain computation (to rounding): the centred Gram build and the
fused loss + gradient passes, with ragged last blocks, several outputs, weights and intercepts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reglab import _path
from reglab._path import centred_gram
from reglab.solvers import ridge_solve


def _relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("centre", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_centred_gram_in_ragged_blocks_equals_centre_then_multiply(monkeypatch, centre: bool, weighted: bool) -> None:
    monkeypatch.setattr(_path, "_GRAM_BLOCK_BYTES", 300 * 7 * 8)  # 300-row blocks: 1000 = 3·300 + 100
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
