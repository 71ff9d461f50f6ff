"""FISTA with adaptive restart, on two array backends that share its momentum and restart rule.

- :func:`fista_loop` (torch): the loop of fit's fast path (``optimizer="fista"``) and of the
  arrays-in solvers :func:`fista` and :func:`fista_path`. Its restart test and momentum stay
  tensors, so it runs on any device with no host read between optimality checks.
- :func:`solve_fista` (NumPy): the fallback of the exact route (:mod:`reglab.solvers.linear`) on a
  :class:`~reglab.solvers.design.Design`, with per-feature factors, sample weights and the L2 part in
  the prox.

Both take their momentum from :func:`fista_momentum`. They stay two loops because one loop for both
costs one of them its speed: a torch step on CPU tensors costs about 40 µs of dispatch where the
NumPy step costs about 6 µs (the exact route's fallback would run 2–4× slower on small designs),
and NumPy cannot run the fast path's tensors on a GPU.

References:
    Beck & Teboulle, "A Fast Iterative Shrinkage-Thresholding Algorithm for Linear Inverse
    Problems", SIAM J. Imaging Sciences 2(1), 2009.
    O'Donoghue & Candès, "Adaptive Restart for Accelerated Gradient Schemes", Foundations of
    Computational Mathematics 15, 2015.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import numpy as np
import torch
from torch import Tensor

from reglab.losses import CURVATURE, get_loss
from reglab.models import LinearModel
from reglab.solvers.design import (
    Design,
    LinearSolution,
    kkt_violation,
    soft_threshold_np,
)
from reglab.solvers.torch_design import LinearDesign, top_eigenvalue

__all__ = ["fista", "fista_loop", "fista_momentum", "fista_path", "solve_fista"]

S = TypeVar("S")


def fista_momentum(t: S, restart: Any, sqrt: Callable[[S], S], where: Callable[[Any, S, S], S],
                   one: S, zero: S) -> tuple[S, S]:
    """FISTA's next momentum ``(t⁺, β)``, restarted when ``restart`` holds.

    t⁺ = (1 + √(1 + 4t²))/2 and the extrapolation weight β = (t − 1)/t⁺ (Beck & Teboulle 2009); on a
    restart (O'Donoghue & Candès 2015: the momentum points uphill) t⁺ = 1 and β = 0, so the next
    point is the last iterate itself.

    Parameters
    ----------
    t : float or 0-d Tensor
    restart : bool or 0-d bool Tensor
    sqrt, where, one, zero
        The backend: ``math.sqrt``, a Python conditional, 1.0 and 0.0 for floats; ``torch.sqrt``,
        ``torch.where`` and 0-d tensors for tensors (no host read).

    Examples
    --------
    >>> fista_momentum(1.0, False, *ON_FLOATS)
    (1.618033988749895, 0.0)
    >>> fista_momentum(2.0, True, *ON_FLOATS)
    (1.0, 0.0)
    """
    t_new = (1.0 + sqrt(1.0 + 4.0 * t * t)) * 0.5
    return where(restart, one, t_new), where(restart, zero, (t - 1.0) / t_new)


def _select(condition: bool, if_true: float, if_false: float) -> float:
    return if_true if condition else if_false


# the float backend of fista_momentum (passed by position: this is in the NumPy loop's every step)
ON_FLOATS: Final = (math.sqrt, _select, 1.0, 0.0)


def fista_loop(x: Tensor, grad: Callable[[Tensor, Tensor], Tensor], proxes: Sequence[Callable[[Tensor], None]],
                lr: float, steps: int, check_every: int,
                check: Callable[[int, Tensor], bool]) -> tuple[int | None, Tensor]:
    """FISTA with gradient-based adaptive restart on a tensor; ``check(step, x)`` every ``check_every`` steps.

    Each step: ``x⁺ = prox(y − lr·grad(y))`` (``grad(y, out)`` writes into ``out``; each prox works
    in place), then ``y ← x⁺ + β(x⁺ − x)`` with β from :func:`fista_momentum`, restarted (O'Donoghue
    & Candès 2015, eq. 12) when (y − x⁺)·(x⁺ − x) > 0. The test and the momentum stay tensors: no
    host read between checks.

    Parameters
    ----------
    x : Tensor
        The start.
    grad : callable ``(y, out) -> out``
    proxes : sequence of callables ``x -> None``
    lr : float
    steps : int
    check_every : int
    check : callable ``(step, x) -> bool``
        Stop when it returns True (called before the step of that number).

    Returns
    -------
    stop : int or None
        The step at which ``check`` stopped, or None after ``steps`` steps.
    x : Tensor
        The last iterate.

    Examples
    --------
    >>> def grad(y, out):                 # ∇ ½‖y − 3‖²
    ...     return torch.sub(y, 3.0, out=out)
    >>> stop, x = fista_loop(torch.zeros(2, dtype=torch.float64), grad, [], 0.5, 100, 10,
    ...                      lambda step, x: bool((x - 3.0).abs().max() < 1e-12))
    >>> stop, [round(v, 9) for v in x.tolist()]
    (40, [3.0, 3.0])
    """
    y = x.clone()
    g = torch.empty_like(x)
    t = x.new_ones(())
    on_tensors = (torch.sqrt, torch.where, x.new_ones(()), x.new_zeros(()))
    for step in range(steps):
        if step % check_every == 0 and check(step, x):
            return step, x
        grad(y, g)
        x_new = torch.add(y, g, alpha=-lr)
        for prox in proxes:
            prox(x_new)
        diff = x_new - x
        uphill = torch.vdot((y - x_new).reshape(-1), diff.reshape(-1)) > 0
        t, beta = fista_momentum(t, uphill, *on_tensors)
        y = torch.addcmul(x_new, beta, diff)
        x = x_new
    return None, x


class _Problem:
    """X, Y and the fast path for arrays: Θ layout, Gram form, L."""

    def __init__(self, X: Any, y: Any, loss: str, fit_intercept: bool, gram: bool | None, dtype: torch.dtype) -> None:
        Xt = torch.as_tensor(np.asarray(X), dtype=dtype)
        loss_obj = get_loss(loss)
        if loss_obj.name == "cross_entropy":
            yt = torch.as_tensor(np.asarray(y)).long()
            k = int(yt.max()) + 1
            kind = "softmax"
        else:
            yt = torch.as_tensor(np.asarray(y), dtype=dtype)
            k = 1
            kind = "linear" if loss_obj.name == "squared" else "logistic"
        model = LinearModel(Xt.shape[1], k, kind, fit_intercept, dtype=dtype)
        self.path = LinearDesign(model, Xt, yt, loss_obj, gram=gram)
        self._L: float | None = None
        self._scale: float | None = None

    def lipschitz(self) -> float:
        if self._L is None:
            fp = self.path
            self._L = CURVATURE[fp.loss.name] * top_eigenvalue(fp.X, fp.fit_intercept, gram=fp.gram)
        return self._L

    def strengths(self, l1: float, l2: float) -> tuple[Tensor, Tensor]:
        fp = self.path
        l1v = fp.Y.new_full((fp.d, fp.k), l1)
        l2v = fp.Y.new_full((fp.d, fp.k), l2)
        if fp.fit_intercept:
            l1v[fp.p] = 0.0
            l2v[fp.p] = 0.0
        return l1v, l2v

    def grad_scale(self) -> float:
        """max |∇loss| at Θ = 0: the scale ``tol`` is relative to (the same for every start and λ)."""
        if self._scale is None:
            fp = self.path
            self._scale = float(fp.grad(fp.Y.new_zeros(fp.d, fp.k)).abs().max())
        return self._scale

    def kkt(self, theta: Tensor, l1v: Tensor, l2v: Tensor) -> Tensor:
        """Largest distance of −∇(loss + L2 part) to the L1 subdifferential [−λ₁, λ₁] (sign(w)λ₁ at w ≠ 0)."""
        g = self.path.grad(theta) + 2.0 * l2v * theta
        dist = torch.where(theta != 0, (g + l1v * theta.sign()).abs(), (g.abs() - l1v).clamp(min=0.0))
        return dist.max()


def fista(X: Any, y: Any, *, loss: str = "squared", l1: float = 0.0, l2: float = 0.0, fit_intercept: bool = True,
          tol: float = 1e-6, max_iter: int = 10_000, check_every: int = 10, gram: bool | None = None,
          coef_init: Any = None, intercept_init: Any = None, dtype: torch.dtype = torch.float64,
          _problem: _Problem | None = None) -> LinearSolution:
    """Minimise ``mean loss + l1·Σ|w| + l2·Σw²`` (intercept unpenalized) by FISTA with adaptive restart.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Float targets (squared), labels {0, 1} (logistic) or class indices (cross_entropy).
    loss : {"squared", "logistic", "cross_entropy"}
    l1, l2 : float
        Strengths in reglab's convention. The L2 part is in the smooth part; the L1 part is
        applied by soft-thresholding (exact zeros).
    fit_intercept : bool
    tol : float
        Stop when the optimality measure (largest distance of −∇smooth to the L1 subdifferential,
        zero exactly at the optimum) falls below ``tol`` times max|∇loss| at zero (a scale that
        does not depend on the start, so warm starts stop sooner).
    max_iter : int
    check_every : int
        Steps between optimality checks (the only host reads).
    gram : bool, optional
        Use the Gram form (squared loss); default: when n ≥ 2d.
    coef_init, intercept_init : array-like, optional
        Warm start.
    dtype : torch.dtype

    Returns
    -------
    LinearSolution
        ``coef`` of shape (n_features,) and a float ``intercept`` for one output; ``solver="fista"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 5)); y = X[:, 0] + 0.1 * rng.standard_normal(100)
    >>> sol = fista(X, y, l1=0.1)
    >>> sol.converged, int((sol.coef != 0).sum())
    (True, 1)
    """
    prob = _problem or _Problem(X, y, loss, fit_intercept, gram, dtype)
    fp = prob.path
    lr = 1.0 / (prob.lipschitz() + 2.0 * l2)
    l1v, l2v = prob.strengths(l1, l2)
    theta = fp.Y.new_zeros(fp.d, fp.k)
    if coef_init is not None:
        theta[: fp.p] = torch.as_tensor(np.asarray(coef_init), dtype=theta.dtype).reshape(fp.p, fp.k)
    if intercept_init is not None and fp.fit_intercept:
        theta[fp.p] = torch.as_tensor(np.asarray(intercept_init), dtype=theta.dtype).reshape(fp.k)
    threshold, l2x2 = lr * l1v, 2.0 * l2v

    def soft(th: Tensor) -> None:
        th.copy_(th.sign().mul_(th.abs().sub_(threshold).clamp_(min=0.0)))

    def smooth_grad(th: Tensor, out: Tensor) -> Tensor:
        fp.grad(th, out=out)
        return out.addcmul_(l2x2, th)

    target = tol * max(prob.grad_scale(), 1e-300)
    converged = float(prob.kkt(theta, l1v, l2v)) <= target

    def check(step: int, th: Tensor) -> bool:
        return step > 0 and float(prob.kkt(th, l1v, l2v)) <= target

    n_iter = 0
    if not converged:
        stop, theta = fista_loop(theta, smooth_grad, [soft] if l1 > 0 else [], lr, max_iter, check_every, check)
        n_iter = max_iter if stop is None else stop
        converged = stop is not None or float(prob.kkt(theta, l1v, l2v)) <= target
    coef = theta[: fp.p].numpy()
    intercept = theta[fp.p].numpy() if fp.fit_intercept else np.zeros(fp.k)
    if fp.k == 1:
        return LinearSolution(coef[:, 0].copy(), float(intercept[0]), n_iter, bool(converged), "fista")
    return LinearSolution(coef.copy(), intercept.copy(), n_iter, bool(converged), "fista")


def fista_path(X: Any, y: Any, l1s: Sequence[float], *, loss: str = "squared", l2: float = 0.0,
               fit_intercept: bool = True, tol: float = 1e-6, max_iter: int = 10_000, check_every: int = 10,
               gram: bool | None = None, dtype: torch.dtype = torch.float64) -> list[LinearSolution]:
    """:func:`fista` over a sequence of L1 strengths (largest first), each warm-started from the last.

    The Gram matrix and L are computed once for the whole path.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 5)); y = X[:, 0] + 0.1 * rng.standard_normal(100)
    >>> [int((s.coef != 0).sum()) for s in fista_path(X, y, [10.0, 0.1])]
    [0, 1]
    """
    prob = _Problem(X, y, loss, fit_intercept, gram, dtype)
    out: list[LinearSolution] = []
    coef = intercept = None
    for lam in l1s:
        sol = fista(X, y, loss=loss, l1=float(lam), l2=l2, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                    check_every=check_every, coef_init=coef, intercept_init=intercept, _problem=prob)
        coef, intercept = sol.coef, sol.intercept
        out.append(sol)
    return out


def solve_fista(d: Design, lam: float, rho: float, f: np.ndarray, W0: np.ndarray, b0: np.ndarray, tol: float,
                max_iter: int, scale: float) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """FISTA with gradient-based adaptive restart on a design (NumPy); the exact route's fallback.

    Minimises the design's loss + Σ λ·f_j·(ρ|W_jk| + (1 − ρ)W_jk²) with step 1/L: the loss in the
    gradient step, the whole penalty in the prox (soft-threshold, then the L2 shrink). Momentum and
    restart as :func:`fista_loop`'s (:func:`fista_momentum`); the optimality measure
    (:func:`~reglab.solvers.design.kkt_violation`) is checked every 10 steps and at the last.

    Parameters
    ----------
    d : Design
    lam, rho : float
        λ and ρ.
    f : ndarray of shape (n_features,)
        Per-feature penalty factors.
    W0 : ndarray of shape (n_features, n_outputs)
    b0 : ndarray of shape (n_outputs,)
        The start (b0 is used when the design's intercept is free).
    tol, scale : float
        Stop when the optimality measure is at most ``tol·scale``.
    max_iter : int

    Returns
    -------
    W : ndarray of shape (n_features, n_outputs)
    b : ndarray of shape (n_outputs,)
    n_iter : int
    converged : bool

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]); y = np.array([1.0, 0.0, 1.0, 0.0])
    >>> W, b, n_iter, ok = solve_fista(Design(X, y, "squared", False), 0.1, 1.0, np.ones(2), np.zeros((2, 1)),
    ...                                np.zeros(1), 1e-10, 1000, 1.0)
    >>> np.round(W.ravel(), 6).tolist(), ok
    ([0.9, 0.0], True)
    """
    L = d.lipschitz()
    step = 1.0 / L
    thresh = step * lam * rho * f[:, None]
    shrink = 1.0 / (1.0 + 2.0 * step * lam * (1.0 - rho) * f[:, None])
    W, b = W0.copy(), b0.copy()
    VW, Vb = W.copy(), b.copy()
    t = 1.0
    target = tol * scale
    _, gW, gb = d.loss_grad(W, b)
    if kkt_violation(W, gW, gb, lam, rho, f, d.free_b) <= target:
        return W, b, 0, True
    free_b = d.free_b
    for it in range(1, max_iter + 1):
        gW, gb = d.grad(VW, Vb)
        W_new = soft_threshold_np(VW - step * gW, thresh) * shrink
        b_new = Vb - step * gb if free_b else b
        # restart when the momentum points uphill: (V − x⁺)·(x⁺ − x) > 0
        dW = W_new - W
        uphill = float(np.vdot(VW - W_new, dW))
        if free_b:
            db = b_new - b
            uphill += float(np.vdot(Vb - b_new, db))
        t, beta = fista_momentum(t, uphill > 0, *ON_FLOATS)
        if beta:
            VW = W_new + beta * dW
            Vb = b_new + beta * db if free_b else b_new
        else:  # a restart, or the first step after one
            VW, Vb = W_new, b_new
        W, b = W_new, b_new
        if it % 10 == 0 or it == max_iter:
            _, gW, gb = d.loss_grad(W, b)
            if kkt_violation(W, gW, gb, lam, rho, f, d.free_b) <= target:
                return W, b, it, True
    return W, b, max_iter, False
