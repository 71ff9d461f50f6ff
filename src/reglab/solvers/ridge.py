"""Ridge by a direct solve: the arrays-in solver and the exact route's (weighted) least squares."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg
import scipy.special
import torch

from reglab.solvers.design import _Design, centred_gram
from reglab.solvers.fista import FastSolution

__all__ = ["ridge_solve"]


def ridge_solve(X: Any, y: Any, l2: float, *, fit_intercept: bool = True,
                dtype: torch.dtype = torch.float64) -> FastSolution:
    """Ridge by a direct solve: ``(XcᵀXc/n + λI) w = Xcᵀyc/n`` (Cholesky), Xc, yc centred with an intercept.

    Objective: mean (y − Xw − b)² + λ·Σw² (scikit-learn's ``Ridge(alpha=n·λ)``).

    Examples
    --------
    >>> X = np.eye(4); y = np.array([1.0, 2.0, 3.0, 4.0])
    >>> round(float(ridge_solve(X, y, 0.25, fit_intercept=False).coef[2]), 6)   # 3 / (1 + n·λ)
    1.5
    """
    if l2 <= 0:
        raise ValueError(f"ridge_solve needs l2 > 0 for a unique solution; got {l2}.")
    # NumPy throughout: its XᵀX is a syrk, centred block by block (no centred copy of X)
    np_dtype = torch.empty((), dtype=dtype).numpy().dtype
    Xn = np.asarray(X, dtype=np_dtype)
    yn = np.asarray(y, dtype=np_dtype).reshape(len(Xn), 1)
    n, p = Xn.shape
    x_mean = Xn.mean(0) if fit_intercept else None
    y_mean = yn.mean(0) if fit_intercept else np.zeros(1, dtype=np_dtype)
    A, c = centred_gram(Xn, yn - y_mean, x_mean)
    A.flat[:: p + 1] += n * l2
    w = torch.cholesky_solve(torch.from_numpy(c), torch.linalg.cholesky(torch.from_numpy(A))).numpy()
    b = float(y_mean[0] - x_mean @ w[:, 0]) if fit_intercept else 0.0
    return FastSolution(w[:, 0].copy(), b, 1, True)



def _ridge_direct(d: _Design, lam: float, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(XᵀX/n + diag(λf)) W = XᵀY/n by Cholesky when the Gram form exists and every λf > 0;
    otherwise least squares on [X/√n; diag(√(λ f))] — the minimum-norm solution when singular."""
    if d.gram is not None and np.all(lam * f > 0):
        A = d.gram + np.diag(lam * f)
        try:
            return scipy.linalg.solve(A, d.xty, assume_a="pos", check_finite=False), np.zeros(d.k)
        except np.linalg.LinAlgError:
            pass  # numerically not positive definite: the least-squares route below
    A = np.vstack([d.root_weighted(d.X) / np.sqrt(d.n), np.diag(np.sqrt(lam * f))])
    B = np.vstack([d.root_weighted(d.Yc) / np.sqrt(d.n), np.zeros((d.p, d.k))])
    # NumPy's cutoff (eps·max(shape)): LAPACK's default keeps singular values of ~1e-16 and lands
    # rank-deficient problems on solutions that depend on row order and repetition
    W = scipy.linalg.lstsq(A, B, cond=np.finfo(np.float64).eps * max(A.shape), lapack_driver="gelsd")[0]
    return W, np.zeros(d.k)
