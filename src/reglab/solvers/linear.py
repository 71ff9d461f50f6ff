"""Fast solvers for linear models under reglab's penalties, and the regularization path.

These are the default solvers of the scikit-learn estimators (``optimizer="auto"``): each reaches
the exact optimum of reglab's objective,

    mean loss(y, X W + b) + Σ_jk λ·f_j·(ρ·|W_jk| + (1 − ρ)·W_jk²),

with the method that suits the problem:

- squared loss, smooth penalty (L2 or none): a direct least-squares solve;
- logistic / softmax loss, smooth penalty: L-BFGS (SciPy) on the smooth objective;
- squared loss with an L1 part: the exact active-set (homotopy) method of :mod:`reglab.solvers.active_set` on
  the Gram form; binary logistic with an L1 part: proximal Newton whose subproblems that method
  solves exactly; both give exact zeros and verify the optimality measure of their answer; along a
  path on a sparse X with more samples than features (squared loss, unweighted), coordinate descent on
  X's columns (:mod:`reglab.solvers.sparse_cd`), stopped on the same optimality measure;
- otherwise (softmax with an L1 part, or when an exact solver fails: a singular system on the
  support, its step cap): FISTA with adaptive (gradient) restart, soft-thresholding at each step,
  so coefficients are exact zeros.

``f_j`` is the per-feature penalty factor (0 = unpenalized; glmnet's ``penalty.factor``). The
intercept is never penalized. ``reglab.fit`` with an explicit optimizer keeps its exact step
semantics; the solvers here are local to the estimators and the path (NumPy, float64).

References:
    Beck & Teboulle, "A Fast Iterative Shrinkage-Thresholding Algorithm", SIAM J. Imaging Sci. 2009.
    O'Donoghue & Candès, "Adaptive Restart for Accelerated Gradient Schemes", FoCM 2015.
    Friedman, Hastie & Tibshirani, "Regularization Paths for GLMs via Coordinate Descent", JSS 2010.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse

from reglab.exceptions import ConvergenceWarning
from reglab.losses import LOSSES
from reglab.penalties import KINDS, AbstractElasticNet
from reglab.solvers.active_set import solve_exact
from reglab.solvers.design import (
    Design,
    LinearSolution,
    Path,
    alpha_grid,
    as_float_design,
    kkt_violation,
    normalize_sample_weight,
    threads_for,
)
from reglab.solvers.fista import solve_fista
from reglab.solvers.quasi_newton import solve_lbfgs, solve_lbfgs_split
from reglab.solvers.ridge import solve_ridge

__all__ = ["solve_linear", "regularization_path", "path_solutions", "check_penalty_factor", "penalty_rho"]


def solve_linear(X: np.ndarray, y: np.ndarray, *, loss: str, alpha: float, l1_ratio: float,
                 penalty_factor: np.ndarray | None = None, fit_intercept: bool = True, tol: float = 1e-4,
                 max_iter: int = 1000, coef_init: np.ndarray | None = None,
                 intercept_init: np.ndarray | None = None, sample_weight: np.ndarray | None = None,
                 _design: Design | None = None) -> LinearSolution:
    """The exact optimum of reglab's objective for a linear model (see the module docstring).

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
        A sparse X (CSR / CSC) is kept sparse (as CSC). With the squared loss and ``fit_intercept``
        its centring lives in the Gram matrix, so at most 5000 features.
    y : ndarray of shape (n_samples,)
        Float targets (``squared``), labels {0, 1} (``logistic``) or class indices 0..K−1
        (``cross_entropy``).
    loss : {"squared", "logistic", "cross_entropy"}
    alpha : float
        λ ≥ 0.
    l1_ratio : float in [0, 1]
        ρ: 1 is L1, 0 is L2.
    penalty_factor : ndarray of shape (n_features,), optional
        Non-negative per-feature multipliers of λ; 0 leaves a feature unpenalized.
    tol : float
        Stop when the optimality measure (largest distance of −∇loss to the subdifferential of
        the penalty, ``kkt_violation``) is at most ``tol`` times ``max|∇loss|`` at zero coefficients
        (intercept at the null model). It is 0 exactly at the optimum; it is not scikit-learn's
        ``tol`` (a duality gap or coefficient change), so ``tol=1e-4`` here is not ``tol=1e-4``
        there. Ignored by the direct (ridge) solve.
    max_iter : int
        Iteration cap. A solve that stops at it before ``tol`` returns ``converged=False`` and warns
        with a :class:`reglab.ConvergenceWarning` naming λ and the optimality it reached. (A solve that
        stops short of ``tol`` for another reason, L-BFGS at its rounding floor for a ``tol`` below
        what float64 can certify, returns ``converged=False`` and ``optimality`` without a warning.)
    coef_init, intercept_init : ndarray, optional
        Warm start, of shapes (n_features, n_outputs) and (n_outputs,).
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights: the data loss is Σ sᵢ·ℓᵢ / Σ sᵢ and the centring is weighted, as in
        scikit-learn (an integer weight equals repeating the row, a zero weight dropping it).

    Returns
    -------
    LinearSolution

    Warns
    -----
    ConvergenceWarning
        When the solve stops at ``max_iter`` before ``tol``.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); y = np.array([1.0, 2.0, 3.0])
    >>> s = solve_linear(X, y, loss="squared", alpha=0.0, l1_ratio=0.0)
    >>> np.round(s.coef.ravel(), 6).tolist(), s.solver
    ([1.0, 2.0], 'direct')
    """
    if loss not in LOSSES:
        raise ValueError(f"Unknown loss {loss!r}; choose one of {', '.join(LOSSES)}.")
    X = as_float_design(X)
    with threads_for(*X.shape):
        d = _design or Design(X, y, loss, fit_intercept, sample_weight)
        sol = _solve_linear(X, y, loss=loss, alpha=alpha, l1_ratio=l1_ratio, penalty_factor=penalty_factor,
                            fit_intercept=fit_intercept, tol=tol, max_iter=max_iter, coef_init=coef_init,
                            intercept_init=intercept_init, _design=d)
    if not sol.converged and sol.n_iter >= max_iter:
        warnings.warn(f"solve_linear stopped at max_iter={max_iter} before tol={tol:g}: at λ={float(alpha):.6g} "
                      f"the relative optimality measure is {sol.optimality:.3g} ({sol.solver}); increase max_iter.",
                      ConvergenceWarning, stacklevel=2)
    return sol


def _solve_linear(X: np.ndarray, y: np.ndarray, *, loss: str, alpha: float, l1_ratio: float,
                  penalty_factor: np.ndarray | None, fit_intercept: bool, tol: float, max_iter: int,
                  coef_init: np.ndarray | None, intercept_init: np.ndarray | None,
                  _design: Design | None, _scale: float | None = None) -> LinearSolution:
    d = _design or Design(X, y, loss, fit_intercept)
    f = np.ones(d.p) if penalty_factor is None else np.asarray(penalty_factor, dtype=np.float64)
    lam, rho = float(alpha), float(l1_ratio)
    W0 = np.zeros((d.p, d.k)) if coef_init is None else np.asarray(coef_init, dtype=np.float64).reshape(d.p, d.k)
    if intercept_init is not None and d.free_b:
        b0 = np.asarray(intercept_init, dtype=np.float64).reshape(d.k).copy()
    else:
        b0 = d.null_intercept() if d.free_b else np.zeros(d.k)
    scale = optimality_scale(d) if _scale is None else _scale
    if loss == "squared" and (rho == 0.0 or lam == 0.0) and d.p > 0:
        W, b = solve_ridge(d, lam * (1.0 - rho), f)
        n_iter, converged, solver = 1, True, "direct"
    elif rho == 0.0 or lam == 0.0 or not np.any(f > 0):
        W, b, n_iter, converged = solve_lbfgs(d, lam * (1.0 - rho), f, W0, b0, tol, max_iter, scale)
        solver = "lbfgs"
    else:
        # exact active-set / proximal Newton first; FISTA (and its split fallback) from wherever it stopped
        W, b, n_iter, converged, solver = solve_exact(d, lam, rho, f, W0, b0, tol * scale, max_iter)
        if not converged:
            W, b, n_iter, converged = solve_fista(d, lam, rho, f, W, b, tol, min(max_iter, 200), scale)
            solver = "fista"
        if not converged and max_iter > n_iter:
            # ill-conditioned: quasi-Newton on the split form, then FISTA for exact zeros
            W, b, n_qn = solve_lbfgs_split(d, lam, rho, f, W, b, max_iter - n_iter)
            W, b, n_polish, converged = solve_fista(d, lam, rho, f, W, b, tol, max(max_iter - n_iter - n_qn, 1), scale)
            n_iter += n_qn + n_polish
            solver = "lbfgs-split+fista"
    optimality = None
    if not converged:  # what the cap left: the measure ``tol`` bounds, at the returned point
        _, gW, gb = d.loss_grad(W, b)
        optimality = kkt_violation(W, gW, gb, lam, rho, f, d.free_b) / scale
    return LinearSolution(coef=W, intercept=d.intercept(W, b), n_iter=n_iter, converged=converged, solver=solver,
                          optimality=optimality)


def optimality_scale(d: Design) -> float:
    """What ``tol`` is relative to: ``max|∂loss/∂W|`` at W = 0, the intercept at the null model (≥ 1e-12)."""
    if d.loss == "squared" and d.gram is None:
        # at W = 0 the squared loss's gradient is −2XᵀSY/n (Y centred with an intercept, which is then
        # eliminated): one product, not the two passes of the loss and gradient at a general W
        SY = d.Yc if d.weights is None else d.weights[:, None] * d.Yc
        g0W = 2.0 * np.asarray(d.X.T @ SY) / d.n
    else:
        _, g0W, _ = d.loss_grad(np.zeros((d.p, d.k)), d.null_intercept() if d.free_b else np.zeros(d.k))
    return max(float(np.abs(g0W).max()) if g0W.size else 0.0, 1e-12)


def regularization_path(X: Any, y: Any, *, loss: str = "squared", penalty: str = "l1", l1_ratio: float = 0.5,
                        alphas: Any = None, n_alphas: int = 100, eps: float = 1e-3, fit_intercept: bool = True,
                        penalty_factor: Any = None, tol: float = 1e-6, max_iter: int = 10_000,
                        sample_weight: Any = None) -> Path:
    """Coefficients along a λ path, from ``alpha_max`` down, each fit warm-started from the last.

    Like :func:`sklearn.linear_model.enet_path`, in reglab's convention: at each λ the model
    minimises ``mean loss + λ·Σ f_j·(ρ|w_j| + (1 − ρ)w_j²)``; L1 zeros are exact zeros.

    Parameters
    ----------
    X : array-like or scipy sparse matrix of shape (n_samples, n_features)
        A sparse X (CSR / CSC) is kept sparse, as in :func:`solve_linear`. With more samples than
        features, the squared loss, an L1 part and no sample weights, the path is solved by coordinate
        descent on its columns (:mod:`reglab.solvers.sparse_cd`, compiled by Numba on first use), to
        the same ``tol``.
    y : array-like of shape (n_samples,)
        Float targets for ``squared``; class labels for ``logistic`` (two classes) or
        ``cross_entropy`` (any number; encoded in sorted order).
    loss : {"squared", "logistic", "cross_entropy"}
    penalty : {"l1", "l2", "elasticnet"}
    l1_ratio : float
        ρ for ``elasticnet`` (ignored otherwise).
    alphas : array-like, optional
        Strengths to use (sorted into decreasing order); by default ``n_alphas`` values from
        ``alpha_max`` down to ``eps·alpha_max``.
    fit_intercept : bool
        Fit an unpenalized intercept.
    penalty_factor : array-like of shape (n_features,), optional
    tol : float
        At each λ, stop when the optimality measure (largest distance of −∇loss to the penalty's
        subdifferential, ``kkt_violation``) is at most ``tol`` times ``max|∇loss|`` at zero
        coefficients (intercept at the null model), i.e. ``tol·λ_max·max f_j`` for the lasso. It is 0
        exactly at the optimum and is not scikit-learn's ``tol`` (a duality gap or coefficient
        change): ``tol=1e-4`` here is not ``tol=1e-4`` there.
    max_iter : int
        Iteration cap at each λ. A λ whose fit stops at it before ``tol`` has ``converged`` False in
        the result and is named, with the optimality it reached, in one ``ConvergenceWarning``.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights: the data loss is Σ sᵢ·ℓᵢ / Σ sᵢ (and ``alpha_max`` is that loss's).

    Returns
    -------
    Path
        ``(alphas, coefs, intercepts, n_iter, converged)``; ``coefs`` has shape (n_features, n_alphas)
        for one output, (n_outputs, n_features, n_alphas) for softmax.

    Warns
    -----
    ConvergenceWarning
        When the fit at any λ stops at ``max_iter`` before ``tol``.

    See Also
    --------
    alphas_from_sklearn : convert a scikit-learn grid (``alpha`` or ``C``) to these λ.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> path = regularization_path(X, y, penalty="l1", n_alphas=5)
    >>> path.coefs.shape, int((path.coefs[:, 0] == 0).sum())
    ((10, 5), 10)
    """
    from sklearn.utils.validation import check_array, check_consistent_length

    X = as_float_design(check_array(X, dtype=np.float64, accept_sparse=("csr", "csc"), input_name="X"))
    y = np.asarray(y)
    check_consistent_length(X, y)
    rho = penalty_rho(penalty, l1_ratio)
    if loss != "squared":
        _, y = np.unique(y, return_inverse=True)
        if loss == "logistic" and y.max() > 1:
            raise ValueError("loss='logistic' needs two classes; use loss='cross_entropy' for more.")
    else:
        y = check_array(y.reshape(-1, 1), dtype=np.float64, input_name="y").ravel()
    f = check_penalty_factor(penalty_factor, X.shape[1])
    s = normalize_sample_weight(sample_weight, X.shape[0])
    if alphas is None:
        grid = alpha_grid(X, y, loss=loss, l1_ratio=rho, fit_intercept=fit_intercept, penalty_factor=f,
                          n_alphas=n_alphas, eps=eps, sample_weight=s)
    else:
        grid = np.sort(np.asarray(alphas, dtype=np.float64).ravel())[::-1]
        if np.any(grid < 0) or not np.all(np.isfinite(grid)):
            raise ValueError("alphas must be finite and non-negative.")
    W_all, b_all, n_iter, converged = _path_solutions(X, y, loss=loss, alphas=grid, l1_ratio=rho, penalty_factor=f,
                                                      fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                                                      sample_weight=s, caller="regularization_path")
    coefs = np.moveaxis(W_all, 0, -1)          # (p, k, n_alphas)
    coefs = np.moveaxis(coefs, 1, 0)           # (k, p, n_alphas)
    intercepts = b_all.T                       # (k, n_alphas)
    if coefs.shape[0] == 1:
        return Path(grid, coefs[0], intercepts[0], n_iter, converged)
    return Path(grid, coefs, intercepts, n_iter, converged)


def path_solutions(X: np.ndarray, y: np.ndarray, *, loss: str, alphas: np.ndarray, l1_ratio: float,
                   penalty_factor: np.ndarray, fit_intercept: bool, tol: float,
                   max_iter: int, sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warm-started solutions along ``alphas`` (validated arrays; y encoded for the loss).

    ``sample_weight`` (n_samples,), optional, weights the data loss as in :func:`solve_linear`;
    ``tol`` and ``max_iter`` are :func:`solve_linear`'s, at each λ (a λ that stops at ``max_iter``
    is named in a ``ConvergenceWarning``).

    Returns W of shape (n_alphas, n_features, n_outputs), b of shape (n_alphas, n_outputs) and
    the iterations per λ.
    """
    W_all, b_all, n_iter, _ = _path_solutions(X, y, loss=loss, alphas=alphas, l1_ratio=l1_ratio,
                                              penalty_factor=penalty_factor, fit_intercept=fit_intercept, tol=tol,
                                              max_iter=max_iter, sample_weight=sample_weight, caller="path_solutions")
    return W_all, b_all, n_iter


def _path_solutions(X: np.ndarray, y: np.ndarray, *, loss: str, alphas: np.ndarray, l1_ratio: float,
                    penalty_factor: np.ndarray, fit_intercept: bool, tol: float, max_iter: int,
                    sample_weight: np.ndarray | None, caller: str) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                           np.ndarray]:
    """:func:`path_solutions` and the converged flag per λ; one warning names every λ that stopped short."""
    X = as_float_design(X)
    if _sparse_cd_applies(X, loss, alphas, l1_ratio, fit_intercept, sample_weight):
        from reglab.solvers.sparse_cd import sparse_cd_path   # Numba's import: only when a sparse path needs it

        out = sparse_cd_path(X, y, alphas, l1_ratio=l1_ratio, penalty_factor=penalty_factor,
                             fit_intercept=fit_intercept, tol=tol, max_iter=max_iter)
        W_all, b_all, n_iter, converged = out.coefs[:, :, None], out.intercepts[:, None], out.n_iter, out.converged
        short = [(float(lam), float(opt)) for lam, opt, ok, it in zip(alphas, out.optimality, converged, n_iter)
                 if not ok and it >= max_iter]
        _warn_short(short, len(alphas), caller, tol, max_iter)
        return W_all, b_all, n_iter, converged
    with threads_for(*X.shape):
        # one design for the whole path: the Gram matrix, its top eigenvalue (the step size) and the
        # centring are computed once, not per λ
        d = Design(X, y, loss, fit_intercept, sample_weight)
        W_all = np.empty((len(alphas), d.p, d.k))
        b_all = np.empty((len(alphas), d.k))
        n_iter = np.empty(len(alphas), dtype=np.int64)
        converged = np.ones(len(alphas), dtype=bool)
        short: list[tuple[float, float]] = []   # (λ, optimality reached) where the cap was hit
        scale = optimality_scale(d)              # one pass over X for the path, not one per λ
        W = b = None
        for i, lam in enumerate(alphas):
            sol = _solve_linear(X, y, loss=loss, alpha=float(lam), l1_ratio=l1_ratio, penalty_factor=penalty_factor,
                                fit_intercept=fit_intercept, tol=tol, max_iter=max_iter, coef_init=W,
                                intercept_init=b, _design=d, _scale=scale)
            W, b = sol.coef, sol.intercept
            W_all[i], b_all[i], n_iter[i], converged[i] = W, b, sol.n_iter, sol.converged
            if not sol.converged and sol.n_iter >= max_iter:
                short.append((float(lam), float(sol.optimality)))
    _warn_short(short, len(alphas), caller, tol, max_iter)
    return W_all, b_all, n_iter, converged


def _sparse_cd_applies(X: Any, loss: str, alphas: np.ndarray, l1_ratio: float, fit_intercept: bool,
                       sample_weight: np.ndarray | None) -> bool:
    """Whether a path goes to coordinate descent on the sparse columns (:mod:`reglab.solvers.sparse_cd`):
    a scipy sparse X with more samples than features, the squared loss, an L1 part at every λ, no sample
    weights. There supports grow to hundreds of features, where the active set's dense Gram columns and
    refactorisations cost most; with fewer samples than features a support has at most n features,
    the active set (exact to rounding) stays, as does its refusal of a centred X with too many features."""
    return (scipy.sparse.issparse(X) and X.shape[0] > X.shape[1] and loss == "squared" and l1_ratio > 0.0
            and sample_weight is None
            and len(alphas) > 0 and bool(np.all(alphas > 0)))


def _warn_short(short: list[tuple[float, float]], n_alphas: int, caller: str, tol: float, max_iter: int) -> None:
    """One ConvergenceWarning naming the λ (and the relative optimality reached) that stopped at max_iter."""
    if not short:
        return
    named = ", ".join(f"λ={lam:.4g} ({opt:.2g})" for lam, opt in short[:5])
    more = f" and {len(short) - 5} more" if len(short) > 5 else ""
    worst = max(short, key=lambda t: t[1])
    warnings.warn(f"{caller}: {len(short)} of {n_alphas} fits stopped at max_iter={max_iter} before "
                  f"tol={tol:g}; relative optimality reached at {named}{more}; worst {worst[1]:.3g} at "
                  f"λ={worst[0]:.6g}. Increase max_iter.", ConvergenceWarning, stacklevel=4)


def penalty_rho(penalty: str | None, l1_ratio: float) -> float:
    """ρ of the exact solvers' parametrisation ``λ·f_j·(ρ·|w| + (1 − ρ)·w²)`` for a penalty kind.

    The kind's class (:data:`reglab.penalties.KINDS`) declares it: a member of the elastic-net family
    with a fixed ρ (``l2``: 0, ``l1``: 1) or with ``l1_ratio`` as its one field (``elasticnet``). A kind
    outside the family (``mcp``), or one with other fields (``weighted_l1``: its weights are
    ``penalty_factor`` here), is refused with the reason.
    """
    if penalty is None:
        return 0.0
    if penalty not in KINDS:
        raise ValueError(f"Unknown penalty {penalty!r}. Choose 'l2', 'l1', 'elasticnet' or None.")
    row = KINDS[penalty]
    if not issubclass(row.cls, AbstractElasticNet):
        raise ValueError(
            f"penalty {penalty!r} is not in the elastic-net family λ·f_j·(ρ·|w| + (1 − ρ)·w²) that the exact solvers "
            "minimise; train it with reglab.fit(..., optimizer='gd') instead."
        )
    fields = [f.name for f in row.fields]
    if [f for f in fields if f != "l1_ratio"]:
        raise ValueError(
            f"penalty {penalty!r} takes {', '.join(fields)}; the exact solvers take per-feature factors as "
            "penalty_factor= with penalty 'l2', 'l1' or 'elasticnet'."
        )
    if "l1_ratio" in fields:
        if isinstance(l1_ratio, bool) or not isinstance(l1_ratio, (int, float, np.floating)):
            raise TypeError(f"l1_ratio must be a real number in [0, 1]; got {type(l1_ratio).__name__}.")
        if not 0.0 <= float(l1_ratio) <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1]; got {l1_ratio}. 1 is pure L1, 0 is pure L2.")
        return float(l1_ratio)
    return float(row.cls.l1_ratio)


def check_penalty_factor(penalty_factor: Any, n_features: int) -> np.ndarray:
    """Validate per-feature penalty factors: finite, non-negative, one per feature (default all 1)."""
    if penalty_factor is None:
        return np.ones(n_features)
    f = np.asarray(penalty_factor, dtype=np.float64)
    if f.ndim != 1 or len(f) != n_features:
        raise ValueError(
            f"penalty_factor must have one value per feature ({n_features}); got shape {f.shape}."
        )
    if not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError("penalty_factor must be finite and non-negative (0 leaves a feature unpenalized).")
    return f
