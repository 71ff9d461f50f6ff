"""Ridge by a direct solve: one solver on a :class:`~reglab.solvers.design.Design`, and its arrays-in front end.

The objective is the design's (weighted) mean squared residual + Σ_j λ·f_j·W_j², whose optimum solves
``(XᵀSX/n + diag(λf)) W = XᵀSY/n`` with X and Y centred when there is an intercept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import torch

from reglab.solvers.design import Design, LinearSolution

__all__ = ["ridge_solve", "solve_ridge"]


def solve_ridge(d: Design, lam: float, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ridge optimum on a least-squares design: W of shape (p, k) and the solver's b (zeros, k).

    ``(XᵀSX/n + diag(λf)) W = XᵀSY/n`` by Cholesky when the design has its Gram form and every
    λf > 0; otherwise least squares on ``[√S·X/√n; diag(√(λf))]`` — the minimum-norm solution
    when the system is singular (λ = 0, unpenalized features). The intercept is recovered by
    ``d.intercept(W, b)``.

    Parameters
    ----------
    d : Design
        A design with the squared loss.
    lam : float
        λ ≥ 0 (the L2 strength).
    f : ndarray of shape (n_features,)
        Per-feature factors of λ (0: unpenalized).

    Examples
    --------
    >>> d = Design(np.eye(4), np.array([1.0, 2.0, 3.0, 4.0]), "squared", False, gram=True)
    >>> np.round(solve_ridge(d, 0.25, np.ones(4))[0].ravel(), 6).tolist()   # y_j / (1 + n·λ)
    [0.5, 1.0, 1.5, 2.0]
    """
    if d.gram is not None and np.all(lam * f > 0):
        A = d.gram + np.diag(lam * f)
        try:
            return scipy.linalg.solve(A, d.xty, assume_a="pos", check_finite=False), np.zeros(d.k)
        except np.linalg.LinAlgError:
            pass  # numerically not positive definite: the least-squares route below
    if d.sparse:  # X stays sparse: LSMR on the same stacked system, to rounding
        A = _sparse_stacked_system(d, lam, f)
        B = np.vstack([d.root_weighted(d.Yc) / np.sqrt(d.n), np.zeros((d.p, d.k))])
        W = np.column_stack([scipy.sparse.linalg.lsmr(A, B[:, j], atol=1e-15, btol=1e-15, maxiter=100 * d.p)[0]
                             for j in range(d.k)])
        return W, np.zeros(d.k)
    A = np.vstack([d.root_weighted(d.X) / np.sqrt(d.n), np.diag(np.sqrt(lam * f))])
    B = np.vstack([d.root_weighted(d.Yc) / np.sqrt(d.n), np.zeros((d.p, d.k))])
    # NumPy's cutoff (eps·max(shape)): LAPACK's default keeps singular values of ~1e-16 and lands
    # rank-deficient problems on solutions that depend on row order and repetition
    W = scipy.linalg.lstsq(A, B, cond=np.finfo(np.float64).eps * max(A.shape), lapack_driver="gelsd")[0]
    return W, np.zeros(d.k)


def _sparse_stacked_system(d: Design, lam: float, f: np.ndarray) -> Any:
    """[√s·X_c/√n; diag(√(λf))] for a sparse X: a CSR matrix, or, when X is centred (X_c = X − 1x̄ᵀ, the
    intercept eliminated), a LinearOperator that applies the centring to products, so X stays sparse."""
    root_lam = np.sqrt(lam * f)
    if not d.centre:
        return scipy.sparse.vstack([d.root_weighted(d.X) / np.sqrt(d.n), scipy.sparse.diags(root_lam)], format="csr")
    X, x_mean = d._X_in, d.x_mean
    assert x_mean is not None
    root_s = np.ones(d.n) if d.weights is None else np.sqrt(d.weights)
    scale = root_s / np.sqrt(d.n)

    def matvec(v: np.ndarray) -> np.ndarray:
        v = np.ravel(v)
        return np.concatenate([(X @ v - x_mean @ v) * scale, root_lam * v])

    def rmatvec(r: np.ndarray) -> np.ndarray:
        r = np.ravel(r)
        t = r[:d.n] * scale
        return np.asarray(X.T @ t).ravel() - x_mean * t.sum() + root_lam * r[d.n:]

    return scipy.sparse.linalg.LinearOperator((d.n + d.p, d.p), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)


def ridge_solve(X: Any, y: Any, l2: float, *, fit_intercept: bool = True,
                dtype: torch.dtype = torch.float64) -> LinearSolution:
    """Ridge on arrays: mean (y − Xw − b)² + λ·Σw² (scikit-learn's ``Ridge(alpha=n·λ)``), by :func:`solve_ridge`.

    The Gram form is built for any shape (X read once, centred block by block), so the solve is a
    Cholesky factorization of a p × p matrix.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    l2 : float
        λ > 0.
    fit_intercept : bool
    dtype : torch.dtype
        The precision X is read and its Gram matrix built in; the coefficients come back in it.

    Returns
    -------
    LinearSolution
        ``coef`` of shape (n_features,), a float ``intercept``, ``solver="direct"``.

    Examples
    --------
    >>> X = np.eye(4); y = np.array([1.0, 2.0, 3.0, 4.0])
    >>> round(float(ridge_solve(X, y, 0.25, fit_intercept=False).coef[2]), 6)   # 3 / (1 + n·λ)
    1.5
    """
    if l2 <= 0:
        raise ValueError(f"ridge_solve needs l2 > 0 for a unique solution; got {l2}.")
    np_dtype = torch.empty((), dtype=dtype).numpy().dtype
    Xn = np.asarray(X, dtype=np_dtype)
    d = Design(Xn, np.asarray(y, dtype=np_dtype).reshape(len(Xn)), "squared", fit_intercept, gram=True)
    W, b = solve_ridge(d, float(l2), np.ones(d.p))
    return LinearSolution(W[:, 0].astype(np_dtype), float(d.intercept(W, b)[0]), 1, True, "direct")
