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
import scipy.sparse.linalg
import scipy.special

from reglab import _checks
from reglab.losses import CURVATURE

__all__ = [
    "Design", "LinearSolution", "Path", "SklearnGrid", "alpha_grid", "alpha_max", "alphas_from_sklearn", "centred_gram", "encode_targets",
    "as_float_design", "fused_loss_grad", "kkt_violation", "log_loss_and_sigmoid", "loss_and_grad_z", "normalize_sample_weight",
    "objective", "soft_threshold_np", "threads_for",
]


@dataclass
class LinearSolution:
    """A linear model's solution in reglab's convention, from any solver in :mod:`reglab.solvers`.

    Attributes
    ----------
    coef : ndarray of shape (n_features, n_outputs), or (n_features,) from the arrays-in solvers
        (:func:`~reglab.solvers.fista.fista`, :func:`~reglab.solvers.ridge.ridge_solve`) for one output
    intercept : ndarray of shape (n_outputs,), or float from the arrays-in solvers for one output
    n_iter : int
        Iterations (1 for a direct solve).
    converged : bool
        Whether the optimality measure met the tolerance (see ``tol`` in
        :func:`~reglab.solvers.linear.solve_linear`); False when the solve stopped at its iteration cap
        (or, for L-BFGS, at its rounding floor) first.
    solver : str
        The method that produced it: ``"direct"``, ``"lbfgs"``, ``"active-set"``, ``"prox-newton"``,
        ``"fista"`` or ``"lbfgs-split+fista"``.
    optimality : float or None
        The relative optimality measure reached (the quantity ``tol`` bounds), measured when the solve
        did not converge; None when it converged (it is then at most ``tol``) or was not measured.
    """

    coef: np.ndarray
    intercept: Any
    n_iter: int
    converged: bool
    solver: str
    optimality: float | None = None


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
    converged : ndarray of bool, shape (n_alphas,)
        Whether the fit at each λ met ``tol``. A False entry that stopped at ``max_iter`` was named in a
        :class:`reglab.ConvergenceWarning`.
    """

    alphas: np.ndarray
    coefs: np.ndarray
    intercepts: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def encode_targets(y: np.ndarray, loss: str, n_classes: int | None = None) -> np.ndarray:
    """Targets as a 2-D float array: (n, 1) for squared / logistic, one-hot (n, K) for cross-entropy.

    K is ``n_classes``, by default the largest class index + 1 (ignored for the other losses).

    Examples
    --------
    >>> encode_targets(np.array([0, 2]), "cross_entropy").tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    >>> encode_targets(np.array([0, 1]), "cross_entropy", n_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    if loss == "cross_entropy":
        y = np.asarray(y, dtype=np.int64).reshape(-1)
        Y = np.zeros((len(y), int(y.max()) + 1 if n_classes is None else n_classes))
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


def loss_and_grad_z(Z: np.ndarray, Y: np.ndarray, loss: str, weights: np.ndarray | None = None,
                     n: int | None = None) -> tuple[float, np.ndarray]:
    """Loss Σᵢ sᵢ·ℓᵢ / n of outputs Z (m, K) against Y, and its gradient with respect to Z.

    ``weights`` s (m,) are sample weights normalized to mean 1 over all n samples (None: all 1),
    so the value is the weighted mean loss. ``n`` defaults to m; a row block of a larger design
    passes the design's n, and the blocks' values and gradients add up to the whole.

    Examples
    --------
    >>> value, G = loss_and_grad_z(np.array([[1.0], [0.0]]), np.array([[0.0], [0.0]]), "squared")
    >>> value, G.ravel().tolist()     # mean r² = 1/2; ∂/∂z = 2r/n
    (0.5, [1.0, 0.0])
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
    X = as_float_design(X)
    W = np.asarray(coef, dtype=np.float64).reshape(X.shape[1], -1)
    b = np.broadcast_to(np.asarray(intercept, dtype=np.float64).reshape(-1), (W.shape[1],))
    f = np.ones(X.shape[1]) if penalty_factor is None else np.asarray(penalty_factor, dtype=np.float64)
    s = normalize_sample_weight(sample_weight, X.shape[0])
    value, _ = loss_and_grad_z(X @ W + b, encode_targets(y, loss), loss, s)
    return value + _penalty_value(W, alpha, l1_ratio, f)


def normalize_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Checked sample weights normalized to mean 1, or None when they are all equal (or None).

    Checked by :func:`reglab._checks.check_sample_weight` (scikit-learn's checks and words): one
    finite, non-negative weight per sample, not all zero. A weighted loss is Σ sᵢ·ℓᵢ / Σ sᵢ, so
    scaling every weight by a constant changes nothing, an integer weight equals repeating the row
    and a zero weight equals dropping it.

    Examples
    --------
    >>> normalize_sample_weight([1, 3], 2).tolist(), normalize_sample_weight([2.0, 2.0], 2)
    ([0.5, 1.5], None)
    """
    if sample_weight is None:
        return None
    s = _checks.check_sample_weight(sample_weight, n_samples)
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
    X = as_float_design(X)
    Y = encode_targets(y, loss)
    s = normalize_sample_weight(sample_weight, X.shape[0])
    b = _null_intercept(Y, loss, s) if fit_intercept else np.zeros(Y.shape[1])
    _, G = loss_and_grad_z(np.broadcast_to(b, Y.shape).copy(), Y, loss, s)
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


class SklearnGrid(NamedTuple):
    """A scikit-learn grid in reglab's convention: strengths λ and the ρ they go with.

    Attributes
    ----------
    alphas : ndarray of shape (n_alphas,)
        λ for each entry of the scikit-learn grid, in the same order.
    l1_ratio : float
        ρ of reglab's penalty ``λ·(ρ|w| + (1 − ρ)w²)``; it differs from scikit-learn's ``l1_ratio``
        for an elastic net (its L2 part carries a ½).
    """

    alphas: np.ndarray
    l1_ratio: float


def alphas_from_sklearn(alphas: Any, *, estimator: str = "Lasso", n_samples: int | None = None,
                        l1_ratio: float = 1.0) -> SklearnGrid:
    """Convert a scikit-learn grid (``alpha`` of Lasso / ElasticNet / Ridge, ``C`` of LogisticRegression)
    to reglab's λ (and ρ): the inverse of :func:`reglab.penalties.sklearn_mapping.sklearn_params`.

    reglab minimises ``mean loss + λ·Σ(ρ|w| + (1 − ρ)w²)`` with the squared loss not halved, so

    - ``Lasso`` (``‖r‖²/2n + α‖w‖₁``): λ = 2α, ρ = 1;
    - ``ElasticNet`` (``‖r‖²/2n + αr‖w‖₁ + ½α(1 − r)‖w‖²``): λ = α(1 + r), ρ = 2r / (1 + r);
    - ``Ridge`` (``‖r‖² + α‖w‖²``): λ = α / n, ρ = 0;
    - ``LogisticRegression`` (``C·Σ NLL + r‖w‖₁ + ½(1 − r)‖w‖²``; pass the Cs): λ = (1 + r) / (2nC),
      ρ = 2r / (1 + r) (``l1_ratio=1`` for ``penalty="l1"``, 0 for ``"l2"``).

    Parameters
    ----------
    alphas : array-like of shape (n_alphas,)
        scikit-learn's ``alphas`` (as :func:`sklearn.linear_model.lasso_path` takes them), or ``Cs``.
    estimator : {"Lasso", "ElasticNet", "Ridge", "LogisticRegression"}
    n_samples : int, optional
        Needed by ``Ridge`` and ``LogisticRegression`` (their losses are sums, not means).
    l1_ratio : float in [0, 1]
        scikit-learn's ``l1_ratio`` (``ElasticNet``, ``LogisticRegression``).

    Returns
    -------
    SklearnGrid
        ``(alphas, l1_ratio)`` to pass to :func:`~reglab.solvers.linear.regularization_path` as
        ``alphas=`` and (with ``penalty="elasticnet"``) ``l1_ratio=``.

    Examples
    --------
    >>> alphas_from_sklearn([0.5, 0.1]).alphas.tolist()
    [1.0, 0.2]
    >>> grid = alphas_from_sklearn([1.0], estimator="ElasticNet", l1_ratio=0.5)
    >>> grid.alphas.tolist(), round(grid.l1_ratio, 6)
    ([1.5], 0.666667)
    >>> alphas_from_sklearn([0.1], estimator="LogisticRegression", n_samples=50).alphas.tolist()  # L1: 1/(nC)
    [0.2]
    """
    a = np.asarray(alphas, dtype=np.float64).ravel()
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("alphas must be finite and non-negative.")
    r = float(l1_ratio)
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"l1_ratio must be in [0, 1]; got {l1_ratio}.")
    if estimator in ("Ridge", "LogisticRegression") and (n_samples is None or int(n_samples) < 1):
        raise ValueError(f"{estimator}'s loss is a sum over samples: pass n_samples.")
    if estimator == "Lasso":
        return SklearnGrid(2.0 * a, 1.0)
    if estimator == "ElasticNet":
        return SklearnGrid(a * (1.0 + r), 2.0 * r / (1.0 + r))
    if estimator == "Ridge":
        return SklearnGrid(a / int(n_samples), 0.0)
    if estimator == "LogisticRegression":
        if np.any(a == 0):
            raise ValueError("C must be positive.")
        return SklearnGrid((1.0 + r) / (2.0 * int(n_samples) * a), 2.0 * r / (1.0 + r))
    raise ValueError(f"Unknown estimator {estimator!r}. Choose Lasso, ElasticNet, Ridge or LogisticRegression.")


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
    if scipy.sparse.issparse(X):
        return _sparse_centred_gram(X, Y, x_mean, weights)
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


def _sparse_centred_gram(X: Any, Y: np.ndarray | None, x_mean: np.ndarray | None,
                         weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`centred_gram` of a scipy sparse X, its centring expanded so that X stays sparse:
    (X − 1x̄ᵀ)ᵀS(X − 1x̄ᵀ) = XᵀSX − x̄·(Xᵀs)ᵀ − (Xᵀs)·x̄ᵀ + (Σs)·x̄x̄ᵀ."""
    n = X.shape[0]
    s = np.ones(n) if weights is None else weights
    XS = X if weights is None else scipy.sparse.diags(s) @ X
    gram = np.asarray((X.T @ XS).toarray())
    xty = None if Y is None else np.asarray(XS.T @ Y)
    if x_mean is not None:
        xs = np.asarray(XS.T @ np.ones(n)).ravel()          # Xᵀs
        gram -= np.outer(x_mean, xs) + np.outer(xs, x_mean) - s.sum() * np.outer(x_mean, x_mean)
        if xty is not None:
            xty -= np.outer(x_mean, s @ Y)
    return gram, xty


def as_float_design(X: Any) -> Any:
    """X as float64: a scipy sparse X as a CSC matrix (kept sparse: columns are what the solvers slice),
    anything else as an ndarray."""
    if scipy.sparse.issparse(X):
        return scipy.sparse.csc_matrix(X, dtype=np.float64)
    return np.asarray(X, dtype=np.float64)


# Above this many features a sparse X with a fitted intercept under the squared loss is refused: the
# intercept is eliminated by centring, which a sparse X can only carry in its dense p × p Gram matrix
_SPARSE_CENTRED_MAX_FEATURES: Final = 5000


# At most this many features, least squares has its Gram form whatever n (p × p ≤ 4096 entries): below it
# the working sets' per-round bookkeeping (a residual pass, a violation sort, a block gather, a compiled
# descent) costs more than the stored-Gram active set with its carried factor. Measured on the real-data
# claim's diabetes folds (p = 10, n ≈ 10): 2736 solves 3.0 → 1.6 s under cProfile, same optimum
# (objectives within 1e-15 of scikit-learn's lasso_path for n < p up to p = 60).
_GRAM_ANY_N_MAX_FEATURES: Final = 64


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
        Targets as :func:`encode_targets` gives them.
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
    if scipy.sparse.issparse(X):   # two sparse products: no blocks to keep in cache
        Z = np.asarray(X @ W)
        if b is not None:
            Z += b
        G = np.empty((n, k))
        _dloss_dz_into(Z, Y, loss, G)
        if weights is not None:
            G *= weights[:, None]
        gW = np.asarray(X.T @ G) / n
        gb = G.sum(0) / n
        if not value:
            return math.nan, gW, gb
        ell = _row_losses(Z, Y, loss)
        return float(np.sum(ell) if weights is None else weights @ ell) / n, gW, gb
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


def soft_threshold_np(v: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """sign(v)·max(|v| − t, 0), the prox of t·|·|, on arrays (``t`` ≥ 0 broadcast against ``v``).

    Examples
    --------
    >>> soft_threshold_np(np.array([-2.0, 0.5, 3.0]), 1.0).tolist()
    [-1.0, 0.0, 2.0]
    """
    # v − clip(v, −t, t): sign(v)·max(|v| − t, 0) in two ufunc calls
    return v - np.clip(v, -t, t)


class Design:
    """X (centred for squared loss with an intercept), the targets, and helpers for W and b.

    What every solver on arrays shares: the loss and its gradient in (W, b), their Lipschitz
    constant, the Gram form of least squares, the intercept.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Float targets (squared), labels {0, 1} (logistic) or class indices (cross_entropy).
    loss : {"squared", "logistic", "cross_entropy"}
    fit_intercept : bool
    sample_weight : array-like of shape (n_samples,), optional
    gram : bool, optional
        Build the Gram form of least squares (squared loss only); default: when n > 2p or p ≤ 64.

    Attributes
    ----------
    weights : ndarray of shape (n,) or None
        Sample weights normalized to mean 1 (None: unweighted). The data loss is Σᵢ sᵢ·ℓᵢ / n,
        the centring weighted, and ``gram`` = XᵀSX/n, ``xty`` = XᵀSY/n with S = diag(s).
    free_b : bool
        Whether the intercept is a solver variable (it is eliminated by centring for least squares).

    Examples
    --------
    >>> d = Design(np.array([[1.0], [2.0], [3.0]]), np.array([1.0, 2.0, 3.0]), "squared", True)
    >>> d.gram.tolist(), d.xty.tolist(), d.free_b     # centred: XᵀX/n = XᵀY/n = 2/3
    ([[0.6666666666666666]], [[0.6666666666666666]], False)
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, loss: str, fit_intercept: bool,
                 sample_weight: np.ndarray | None = None, *, gram: bool | None = None) -> None:
        self.loss, self.fit_intercept = loss, fit_intercept
        self.Y = encode_targets(y, loss)
        self.n, self.p = X.shape
        self.k = self.Y.shape[1]
        self.weights = s = normalize_sample_weight(sample_weight, self.n)
        self.centre = loss == "squared" and fit_intercept
        self.sparse = scipy.sparse.issparse(X)
        self._X_in, self._X = X, None if self.centre else X
        self.x_mean: np.ndarray | None = None
        if self.centre and self.sparse:
            if self.p > _SPARSE_CENTRED_MAX_FEATURES:
                raise ValueError(
                    f"A sparse X with {self.p} features and fit_intercept=True under the squared loss needs its dense "
                    f"{self.p} × {self.p} Gram matrix (the intercept is eliminated by centring X); pass "
                    "fit_intercept=False with centred y, or a dense X."
                )
            gram = True  # the centring lives in the Gram matrix only; X stays sparse
        if self.centre:
            if self.sparse:
                self.x_mean = np.asarray(X.T @ (np.ones(self.n) if s is None else s)).ravel() / self.n
            else:
                self.x_mean = X.mean(0) if s is None else s @ X / self.n
            self.y_mean = self.Y.mean(0) if s is None else s @ self.Y / self.n
            self.Yc = self.Y - self.y_mean
        else:
            self.Yc = self.Y
        # the free intercept is a solver variable only when it cannot be eliminated by centring
        self.free_b = fit_intercept and not self.centre
        self._L: float | None = None
        # squared loss with more samples than features, or few features: the Gram form, O(p²k) per
        # gradient, built without the centred copy of X
        self.gram: np.ndarray | None = None
        if loss == "squared" and ((self.n > 2 * self.p or self.p <= _GRAM_ANY_N_MAX_FEATURES) if gram is None else gram):
            gram, xty = centred_gram(X, self.Yc, self.x_mean, s)
            self.gram, self.xty = gram / self.n, xty / self.n
            Ys = self.root_weighted(self.Yc)
            self.yy = float(np.sum(Ys * Ys) / self.n)

    @property
    def X(self) -> Any:
        """The design the solvers see, (n, p): X − x̄ when centred (made on first use), else X (sparse
        or dense as given; a centred sparse design has its Gram form and no centred X)."""
        if self._X is None:
            if self.sparse:
                raise ValueError("A centred sparse design has no centred X; its solvers use the Gram form.")
            self._X = self._X_in - self.x_mean
        return self._X

    def root_weighted(self, A: Any) -> Any:
        """Rows of A (n, m) times √sᵢ (A itself, not a copy, when unweighted; sparse stays sparse)."""
        if self.weights is None:
            return A
        if scipy.sparse.issparse(A):
            return scipy.sparse.csc_matrix(scipy.sparse.diags(np.sqrt(self.weights)) @ A)
        return A * np.sqrt(self.weights)[:, None]

    def null_intercept(self) -> np.ndarray:
        """The (weighted) null model's intercept: the optimum of the loss with W = 0."""
        return _null_intercept(self.Y, self.loss, self.weights)

    def lipschitz(self) -> float:
        """Lipschitz constant of the data loss's gradient in (W, b)."""
        if self._L is None:
            if self.gram is not None:
                top = float(scipy.linalg.eigvalsh(self.gram, subset_by_index=[self.p - 1, self.p - 1])[0])
            elif self.sparse:
                A = self.root_weighted(scipy.sparse.hstack([self.X, np.ones((self.n, 1))], format="csc")
                                       if self.free_b else self.X)
                top = float(scipy.sparse.linalg.svds(A / np.sqrt(self.n), k=1, return_singular_vectors=False,
                                                     random_state=0)[0] ** 2)
            elif (A := self.root_weighted(np.hstack([self.X, np.ones((self.n, 1))]) if self.free_b
                                          else self.X)).shape[1] <= 2000:
                top = float(scipy.linalg.eigvalsh(A.T @ A / self.n, subset_by_index=[A.shape[1] - 1, A.shape[1] - 1])[0]) \
                    if A.shape[1] > 0 else 0.0
            else:
                top = float(scipy.sparse.linalg.svds(A / np.sqrt(self.n), k=1, return_singular_vectors=False)[0] ** 2)
            self._L = CURVATURE[self.loss] * max(top, 1e-300)
        return self._L

    def loss_grad(self, W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The (weighted) mean loss at (W, b) and its gradient in W (p, k) and b (k,)."""
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
        """The model's intercept (k,) at the solver's (W, b): recovered from the means when centred."""
        if self.centre:
            return self.y_mean - self.x_mean @ W
        return b if self.fit_intercept else np.zeros(self.k)


def kkt_violation(W: np.ndarray, gW: np.ndarray, gb: np.ndarray, lam: float, rho: float, f: np.ndarray,
         free_b: bool) -> float:
    """Largest distance of −∇loss to the penalty's subdifferential (0 exactly at the optimum).

    The penalty is Σ λ·f_j·(ρ|W_jk| + (1 − ρ)W_jk²); ``gW``, ``gb`` the loss gradient at (W, b);
    with ``free_b`` the intercept's gradient counts too (it is unpenalized).

    Examples
    --------
    >>> W = np.array([[0.0], [1.0]]); gW = np.array([[0.5], [-0.25]])
    >>> kkt_violation(W, gW, np.zeros(1), 1.0, 0.5, np.ones(2), False)   # |0.5| ≤ 0.5; |−0.25 + 1 + 0.5|
    1.25
    """
    F = f[:, None]
    g = gW + 2.0 * lam * (1.0 - rho) * F * W
    t = lam * rho * F
    # at w ≠ 0: |g + t·sign(w)|; at 0: distance of −g to [−t, t]
    dist = np.where(W != 0, np.abs(g + t * np.sign(W)), np.maximum(np.abs(g) - t, 0.0))
    out = float(dist.max()) if dist.size else 0.0
    if free_b and gb.size:
        out = max(out, float(np.abs(gb).max()))
    return out
