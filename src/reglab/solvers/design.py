"""Shared pieces of the exact linear solvers (NumPy, float64): the design, losses, weights, grids.

The objective of every solver in :mod:`reglab.solvers`:

    mean loss(y, X W + b) + Σ_jk λ·f_j·(ρ·|W_jk| + (1 − ρ)·W_jk²),

``f_j`` the per-feature penalty factor (0 = unpenalized; glmnet's ``penalty.factor``); the intercept
is never penalized.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg
import scipy.special

from reglab.losses import CURVATURE

__all__ = ["LinearSolution", "Path", "objective", "alpha_max", "alpha_grid", "LOSSES", "check_sample_weight", "threads_for", "centred_gram", "fused_loss_grad", "log_loss_and_sigmoid"]


LOSSES: Final = ("squared", "logistic", "cross_entropy")


@dataclass
class LinearSolution:
    """Coefficients W of shape (n_features, n_outputs), intercept b of shape (n_outputs,)."""

    coef: np.ndarray
    intercept: np.ndarray
    n_iter: int
    converged: bool
    solver: str


class Path(NamedTuple):
    """A regularization path.

    Attributes
    ----------
    alphas : ndarray of shape (n_alphas,)
        Strengths λ in reglab's convention, decreasing.
    coefs : ndarray of shape (n_features, n_alphas) or (n_outputs, n_features, n_alphas)
        Coefficients per λ (the first shape for one output, as ``enet_path`` returns them).
    intercepts : ndarray of shape (n_alphas,) or (n_outputs, n_alphas)
    n_iter : ndarray of shape (n_alphas,)
        Solver iterations at each λ.
    """

    alphas: np.ndarray
    coefs: np.ndarray
    intercepts: np.ndarray
    n_iter: np.ndarray


def _targets(y: np.ndarray, loss: str) -> np.ndarray:
    """Targets as a 2-D float array: (n, 1) for squared / logistic, one-hot (n, K) for cross-entropy."""
    if loss == "cross_entropy":
        y = np.asarray(y, dtype=np.int64).reshape(-1)
        Y = np.zeros((len(y), int(y.max()) + 1))
        Y[np.arange(len(y)), y] = 1.0
        return Y
    return np.asarray(y, dtype=np.float64).reshape(len(y), 1)


def log_loss_and_sigmoid(Z: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-element log-loss log(1 + e^z) − y·z of margins Z against labels Y, and σ(Z), both stably.

    Examples
    --------
    >>> ell, sig = log_loss_and_sigmoid(np.array([0.0, 800.0]), np.array([1.0, 1.0]))
    >>> np.round(ell, 6).tolist(), sig.tolist()
    ([0.693147, 0.0], [0.5, 1.0])
    """
    # log(1 + e^z) − y·z = max(z, 0) + log(1 + e^−|z|) − y·z
    E = np.exp(-np.abs(Z))
    return np.maximum(Z, 0.0) + np.log1p(E) - Y * Z, np.where(Z >= 0, 1.0, E) / (1.0 + E)


def _loss_and_grad_z(Z: np.ndarray, Y: np.ndarray, loss: str, weights: np.ndarray | None = None,
                     n: int | None = None) -> tuple[float, np.ndarray]:
    """Loss Σᵢ sᵢ·ℓᵢ / n of outputs Z (m, K) against Y, and its gradient with respect to Z.

    ``weights`` s (m,) are sample weights normalized to mean 1 over all n samples (None: all 1),
    so the value is the weighted mean loss. ``n`` defaults to m; a row block of a larger design
    passes the design's n, and the blocks' values and gradients add up to the whole.
    """
    n = len(Z) if n is None else n
    if loss == "squared":
        R = Z - Y
        if weights is None:
            return float(np.sum(R * R) / n), (2.0 / n) * R
        SR = R * weights[:, None]
        return float(np.sum(SR * R) / n), (2.0 / n) * SR
    if loss == "logistic":
        ell, sig = log_loss_and_sigmoid(Z, Y)
        G = sig - Y
    else:
        M = Z.max(axis=1, keepdims=True)
        E = np.exp(Z - M)
        S = E.sum(axis=1, keepdims=True)
        ell = M[:, 0] + np.log(S[:, 0]) - np.sum(Y * Z, axis=1)
        G = E / S - Y
    if weights is None:
        return float(np.sum(ell) / n), G / n
    return float(weights @ ell.reshape(len(Z), -1).sum(1)) / n, G * (weights / n)[:, None]




def _penalty_value(W: np.ndarray, lam: float, rho: float, factor: np.ndarray) -> float:
    f = factor[:, None]
    return float(lam * np.sum(f * (rho * np.abs(W) + (1.0 - rho) * W * W)))


def objective(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: np.ndarray | float, *, loss: str,
              alpha: float, l1_ratio: float, penalty_factor: np.ndarray | None = None,
              sample_weight: np.ndarray | None = None) -> float:
    """reglab's objective: (weighted) mean data loss + Σ λ·f_j·(ρ|w| + (1 − ρ)w²).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Float targets (squared), labels {0, 1} (logistic) or class indices (cross_entropy).
    coef : ndarray of shape (n_features,) or (n_features, n_outputs)
    intercept : float or ndarray of shape (n_outputs,)
    sample_weight : ndarray of shape (n_samples,), optional
        The data loss is Σ sᵢ·ℓᵢ / Σ sᵢ (scikit-learn's convention).

    Examples
    --------
    >>> X = np.eye(2); y = np.array([1.0, 0.0])
    >>> objective(X, y, np.array([1.0, 0.0]), 0.0, loss="squared", alpha=0.5, l1_ratio=1.0)
    0.5
    >>> objective(X, y, np.array([0.0, 0.0]), 0.0, loss="squared", alpha=0.5, l1_ratio=1.0,
    ...           sample_weight=np.array([1.0, 3.0]))   # (1·1² + 3·0²) / 4
    0.25
    """
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(coef, dtype=np.float64).reshape(X.shape[1], -1)
    b = np.broadcast_to(np.asarray(intercept, dtype=np.float64).reshape(-1), (W.shape[1],))
    f = np.ones(X.shape[1]) if penalty_factor is None else np.asarray(penalty_factor, dtype=np.float64)
    s = check_sample_weight(sample_weight, X.shape[0])
    value, _ = _loss_and_grad_z(X @ W + b, _targets(y, loss), loss, s)
    return value + _penalty_value(W, alpha, l1_ratio, f)


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Validated sample weights normalized to mean 1, or None when they are all equal (or None).

    scikit-learn's checks and words: one finite, non-negative weight per sample, not all zero.
    A weighted loss is Σ sᵢ·ℓᵢ / Σ sᵢ, so scaling every weight by a constant changes nothing,
    an integer weight equals repeating the row and a zero weight equals dropping it.

    Examples
    --------
    >>> check_sample_weight([1, 3], 2).tolist(), check_sample_weight([2.0, 2.0], 2)
    ([0.5, 1.5], None)
    """
    if sample_weight is None:
        return None
    from sklearn.utils.validation import _check_sample_weight

    s = _check_sample_weight(sample_weight, np.empty((n_samples, 0)), dtype=np.float64, ensure_non_negative=True)
    if s.size == 0 or np.all(s == s[0]):
        return None
    s = s / s.max()  # the sum cannot overflow
    return s * (n_samples / np.sum(s))


def _null_intercept(Y: np.ndarray, loss: str, weights: np.ndarray | None = None) -> np.ndarray:
    m = Y.mean(0) if weights is None else weights @ Y / len(Y)
    if loss == "squared":
        return m
    m = np.clip(m, 1e-12, 1 - 1e-12)
    return np.log(m / (1 - m)) if loss == "logistic" else np.log(m)


def alpha_max(X: np.ndarray, y: np.ndarray, *, loss: str = "squared", l1_ratio: float = 1.0,
              fit_intercept: bool = True, penalty_factor: np.ndarray | None = None,
              sample_weight: np.ndarray | None = None) -> float:
    """The smallest λ at which every penalized coefficient is zero at the optimum.

    ``max_j |∂loss/∂w_j| / (ρ·f_j)`` at W = 0 (intercept at the null model when fitted), over
    features with ``f_j > 0``, for the (``sample_weight``-weighted) mean loss. For
    ``l1_ratio = 0`` (ridge) no finite λ gives zeros; the value for ``l1_ratio = 1e-3`` is
    returned, as glmnet does to start a ridge path.

    Examples
    --------
    >>> X = np.array([[1.0], [-1.0]]); y = np.array([1.0, -1.0])
    >>> alpha_max(X, y)       # |−2/n·Xᵀy| = 2
    2.0
    """
    X = np.asarray(X, dtype=np.float64)
    Y = _targets(y, loss)
    s = check_sample_weight(sample_weight, X.shape[0])
    b = _null_intercept(Y, loss, s) if fit_intercept else np.zeros(Y.shape[1])
    _, G = _loss_and_grad_z(np.broadcast_to(b, Y.shape).copy(), Y, loss, s)
    grad = np.abs(X.T @ G).max(axis=1)
    f = np.ones(X.shape[1]) if penalty_factor is None else np.asarray(penalty_factor, dtype=np.float64)
    rho = max(float(l1_ratio), 1e-3)
    keep = f > 0
    if not keep.any():
        raise ValueError("Every penalty factor is 0: nothing is penalized, so there is no alpha_max.")
    return float(np.max(grad[keep] / f[keep]) / rho)


def alpha_grid(X: np.ndarray, y: np.ndarray, *, loss: str = "squared", l1_ratio: float = 1.0,
               fit_intercept: bool = True, penalty_factor: np.ndarray | None = None, n_alphas: int = 100,
               eps: float = 1e-3, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """``n_alphas`` strengths, log-spaced from :func:`alpha_max` down to ``eps·alpha_max``."""
    top = alpha_max(X, y, loss=loss, l1_ratio=l1_ratio, fit_intercept=fit_intercept, penalty_factor=penalty_factor,
                    sample_weight=sample_weight)
    if top <= 0:
        top = 1.0
    return np.geomspace(top, top * eps, num=int(n_alphas))


# Below this many flops for the largest product (X̃ᵀX̃: n·p·min(n, p)) BLAS and OpenMP run on one
# thread: the products are too small to split, and threaded OpenBLAS / OpenMP on a busy machine
# spend far more time waiting for their workers than computing (measured on the 2-core VM with the
# other core loaded: a 2000 × 100 XᵀX 1.3 ms on one thread, ~70 ms on two; 200 steps of a 16-unit
# MLP on 30 samples 0.7 s on one thread, 16 s on two). Above it the user's settings are kept.
_SINGLE_THREAD_FLOPS: Final = 1e8


@functools.cache
def _threadpool_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def threads_for(n: int, p: int) -> Iterator[None]:
    """One BLAS / OpenMP thread for a small problem (n samples × p features), the user's setting otherwise.

    Examples
    --------
    >>> with threads_for(100, 10):
    ...     _ = np.ones((100, 10)).T @ np.ones((100, 10))
    """
    if float(n) * p * min(n, p) > _SINGLE_THREAD_FLOPS:
        yield
        return
    with _threadpool_controller().limit(limits=1):
        yield


# Rows per block of a blocked Gram build: about 8 MB of X. Centring a block and adding its XᵀX while
# it is in cache skips the centred copy of X; measured on the 2-core VM (20000 × 500 float64, one
# thread): centre-then-syrk 0.21 s, syrk of X alone 0.14 s, blocked 0.16 s (256 rows 0.25 s).
_GRAM_BLOCK_BYTES: Final = 8 << 20


def centred_gram(X: np.ndarray, Y: np.ndarray | None, x_mean: np.ndarray | None = None,
                 weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(X − x̄)ᵀS(X − x̄)`` and ``(X − x̄)ᵀS·Y`` (S = diag(weights)), without a centred copy of X.

    NumPy's ``A.T @ A`` is a symmetric rank-k update (syrk, half the flops of a general product);
    with a mean or weights, X is read in row blocks that are centred and scaled while in cache.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    Y : ndarray of shape (n, k) or None
    x_mean : ndarray of shape (p,), optional
        Subtracted from every row (no centring when None).
    weights : ndarray of shape (n,), optional

    Returns
    -------
    gram : ndarray of shape (p, p), X's dtype
    xty : ndarray of shape (p, k) or None

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> centred_gram(X, None, X.mean(0))[0].tolist()
    [[2.0, 2.0], [2.0, 2.0]]
    """
    if x_mean is None and weights is None:
        return X.T @ X, None if Y is None else X.T @ Y
    n, p = X.shape
    rows = max(256, _GRAM_BLOCK_BYTES // max(p * X.itemsize, 1))
    gram = np.zeros((p, p), dtype=X.dtype)
    xty = None if Y is None else np.zeros((p, Y.shape[1]), dtype=np.result_type(X, Y))
    for i in range(0, n, rows):
        Xb = X[i:i + rows] if x_mean is None else X[i:i + rows] - x_mean
        Yb = None if Y is None else Y[i:i + rows]
        if weights is not None:
            root = np.sqrt(weights[i:i + rows])[:, None]
            Xb = Xb * root
            Yb = None if Yb is None else Yb * root
        gram += Xb.T @ Xb
        if xty is not None:
            xty += Xb.T @ Yb
    return gram, xty


# Rows per block of a fused pass: about 2 MB of X, so that a block read for Z_b = X_b·W is still in
# cache for X_bᵀ·G_b. Measured on the 2-core VM (20000 × 500 float64, logistic loss + gradient,
# medians of interleaved runs under load ~3): two passes 31 ms; blocks of 256 / 512 / 768 rows
# 25 / 24 / 25 ms on one thread, 30 / 34 / 18 ms against 39 ms on two.
_PASS_BLOCK_BYTES: Final = 2 << 20


def _dloss_dz_into(Z: np.ndarray, Y: np.ndarray, loss: str, out: np.ndarray) -> None:
    """∂ℓᵢ/∂Z per row (not divided by n) written into ``out``, shape (m, K)."""
    if loss == "squared":
        np.subtract(Z, Y, out=out)
        out *= 2.0
    elif loss == "logistic":
        scipy.special.expit(Z, out=out)
        out -= Y
    else:  # softmax − one-hot
        np.subtract(Z, Z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        out -= Y


def _row_losses(Z: np.ndarray, Y: np.ndarray, loss: str) -> np.ndarray:
    """ℓᵢ per row, shape (n,)."""
    if loss == "squared":
        R = Z - Y
        return np.einsum("ij,ij->i", R, R)
    if loss == "logistic":
        return (np.logaddexp(0.0, Z) - Y * Z)[:, 0]
    # log Σ exp by hand: scipy.special.logsumexp's array-API dispatch costs ~1 ms a call on small data
    m = Z.max(axis=1)
    return m + np.log(np.exp(Z - m[:, None]).sum(axis=1)) - np.einsum("ij,ij->i", Y, Z)


def fused_loss_grad(X: np.ndarray, W: np.ndarray, b: np.ndarray | None, Y: np.ndarray, loss: str,
                    weights: np.ndarray | None = None, *, value: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Σ sᵢ·ℓᵢ/n of Z = XW + b and its gradient in (W, b), reading X from memory once.

    Two passes (Z = XW, then XᵀG) read X twice; here X is taken in row blocks of about
    ``_PASS_BLOCK_BYTES``, and X_bᵀG_b is added while X_b is still in cache.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    W : ndarray of shape (p, k)
    b : ndarray of shape (k,) or None
        Intercept (None: none).
    Y : ndarray of shape (n, k)
        Targets as :func:`_targets` gives them.
    loss : {"squared", "logistic", "cross_entropy"}
    weights : ndarray of shape (n,), optional
        Sample weights normalized to mean 1.
    value : bool
        Compute the loss value (nan when False).

    Returns
    -------
    value : float
    grad_W : ndarray of shape (p, k)
    grad_b : ndarray of shape (k,)

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]]); Y = np.array([[1.0], [0.0]])
    >>> v, gW, gb = fused_loss_grad(X, np.zeros((2, 1)), np.zeros(1), Y, "squared")
    >>> v, gW.ravel().tolist(), gb.tolist()   # mean r² = 1/2; ∇ = 2Xᵀr/n, 2Σr/n
    (0.5, [-1.0, 0.0], [-1.0])
    """
    n, p = X.shape
    k = W.shape[1]
    rows = max(32, _PASS_BLOCK_BYTES // max(p * X.itemsize, 1))
    Z = np.empty((n, k))
    G = np.empty((n, k))
    gW = np.zeros((p, k))
    for i in range(0, n, rows):
        Xb, Zb, Gb = X[i:i + rows], Z[i:i + rows], G[i:i + rows]
        np.matmul(Xb, W, out=Zb)
        if b is not None:
            Zb += b
        _dloss_dz_into(Zb, Y[i:i + rows], loss, Gb)
        if weights is not None:
            Gb *= weights[i:i + rows, None]
        gW += Xb.T @ Gb
    gW /= n
    gb = G.sum(0) / n
    if not value:
        return math.nan, gW, gb
    ell = _row_losses(Z, Y, loss)
    return float(np.sum(ell) if weights is None else weights @ ell) / n, gW, gb


def _soft(v: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    # v − clip(v, −t, t): sign(v)·max(|v| − t, 0) in two ufunc calls
    return v - np.clip(v, -t, t)


class _Design:
    """X (centred for squared loss with an intercept), the targets, and helpers for W and b.

    Attributes
    ----------
    weights : ndarray of shape (n,) or None
        Sample weights normalized to mean 1 (None: unweighted). The data loss is Σᵢ sᵢ·ℓᵢ / n,
        the centring weighted, and ``gram`` = XᵀSX/n, ``xty`` = XᵀSY/n with S = diag(s).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, loss: str, fit_intercept: bool,
                 sample_weight: np.ndarray | None = None) -> None:
        self.loss, self.fit_intercept = loss, fit_intercept
        self.Y = _targets(y, loss)
        self.n, self.p = X.shape
        self.k = self.Y.shape[1]
        self.weights = s = check_sample_weight(sample_weight, self.n)
        self.centre = loss == "squared" and fit_intercept
        self._X_in, self._X = X, None if self.centre else X
        self.x_mean: np.ndarray | None = None
        if self.centre:
            self.x_mean = X.mean(0) if s is None else s @ X / self.n
            self.y_mean = self.Y.mean(0) if s is None else s @ self.Y / self.n
            self.Yc = self.Y - self.y_mean
        else:
            self.Yc = self.Y
        # the free intercept is a solver variable only when it cannot be eliminated by centring
        self.free_b = fit_intercept and not self.centre
        self._L: float | None = None
        # squared loss with more samples than features: the Gram form, O(p²k) per gradient, built
        # without the centred copy of X
        self.gram: np.ndarray | None = None
        if loss == "squared" and self.n > 2 * self.p:
            gram, xty = centred_gram(X, self.Yc, self.x_mean, s)
            self.gram, self.xty = gram / self.n, xty / self.n
            Ys = self.root_weighted(self.Yc)
            self.yy = float(np.sum(Ys * Ys) / self.n)

    @property
    def X(self) -> np.ndarray:
        """The design the solvers see, (n, p): X − x̄ when centred (made on first use), else X."""
        if self._X is None:
            self._X = self._X_in - self.x_mean
        return self._X

    def root_weighted(self, A: np.ndarray) -> np.ndarray:
        """Rows of A (n, m) times √sᵢ (A itself, not a copy, when unweighted)."""
        return A if self.weights is None else A * np.sqrt(self.weights)[:, None]

    def null_intercept(self) -> np.ndarray:
        """The (weighted) null model's intercept: the optimum of the loss with W = 0."""
        return _null_intercept(self.Y, self.loss, self.weights)

    def lipschitz(self) -> float:
        """Lipschitz constant of the data loss's gradient in (W, b)."""
        if self._L is None:
            if self.gram is not None:
                top = float(scipy.linalg.eigvalsh(self.gram, subset_by_index=[self.p - 1, self.p - 1])[0])
            elif (A := self.root_weighted(np.hstack([self.X, np.ones((self.n, 1))]) if self.free_b
                                          else self.X)).shape[1] <= 2000:
                top = float(scipy.linalg.eigvalsh(A.T @ A / self.n, subset_by_index=[A.shape[1] - 1, A.shape[1] - 1])[0]) \
                    if A.shape[1] > 0 else 0.0
            else:
                top = float(scipy.sparse.linalg.svds(A / np.sqrt(self.n), k=1, return_singular_vectors=False)[0] ** 2)
            self._L = CURVATURE[self.loss] * max(top, 1e-300)
        return self._L

    def loss_grad(self, W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        if self.gram is not None:  # squared loss, no free intercept (it is eliminated by centring)
            GW = self.gram @ W
            value = float(np.sum(W * GW) - 2.0 * np.sum(W * self.xty) + self.yy)
            return value, 2.0 * (GW - self.xty), np.zeros(self.k)
        return fused_loss_grad(self.X, W, b if self.free_b else None, self.Yc, self.loss, self.weights)

    def grad(self, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The loss gradient in (W, b) without its value (what each FISTA step needs)."""
        if self.gram is not None:
            return 2.0 * (self.gram @ W - self.xty), self._no_b
        return fused_loss_grad(self.X, W, b if self.free_b else None, self.Yc, self.loss, self.weights,
                               value=False)[1:]

    @property
    def _no_b(self) -> np.ndarray:
        return np.zeros(self.k)

    def intercept(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.centre:
            return self.y_mean - self.x_mean @ W
        return b if self.fit_intercept else np.zeros(self.k)


def _kkt(W: np.ndarray, gW: np.ndarray, gb: np.ndarray, lam: float, rho: float, f: np.ndarray,
         free_b: bool) -> float:
    """Largest distance of −∇loss to the penalty's subdifferential (0 exactly at the optimum)."""
    F = f[:, None]
    g = gW + 2.0 * lam * (1.0 - rho) * F * W
    t = lam * rho * F
    # at w ≠ 0: |g + t·sign(w)|; at 0: distance of −g to [−t, t]
    dist = np.where(W != 0, np.abs(g + t * np.sign(W)), np.maximum(np.abs(g) - t, 0.0))
    out = float(dist.max()) if dist.size else 0.0
    if free_b and gb.size:
        out = max(out, float(np.abs(gb).max()))
    return out
