"""Exact active-set solvers for L1 / elastic-net problems: the quadratic one and logistic by proximal Newton.

The quadratic problem, one output column at a time,

    min_w  wᵀGw − 2cᵀw + Σ_j l1_j·|w_j| + Σ_j l2_j·w_j²,

with G positive semi-definite (G = XᵀX/n, c = Xᵀy/n for least squares, so the objective is the mean
squared residual up to a constant), is solved by the active-set (homotopy) method of Osborne,
Presnell & Turlach: keep a support S with signs s; on S the problem is the quadratic
``(G_SS + diag(l2_S)) w_S = c_S − ½·l1_S∘s_S``, solved by Cholesky; move from the current point
towards that solution only as far as the first coefficient that would change sign, drop it, and
solve again; when the solution keeps its signs, add the largest violator of the optimality
condition ``|2(c − Gw − l2∘w)_j| ≤ l1_j`` at a zero. The objective decreases strictly between
additions and the (support, signs) pair determines the point, so no pair repeats: the method
terminates, with exact zeros and the optimality conditions on the support met to rounding.

Binary logistic loss with an L1 part is solved by proximal Newton: a quadratic model with Hessian
XᵀDX/n (the free intercept as one more, unpenalized coordinate) whose minimiser under the penalty is
the quadratic problem above, solved exactly; a backtracking line search on the true objective; on a
working set of coordinates (the support and the largest optimality violators) that grows until no
coordinate outside it violates the optimality conditions.

Both report failure instead of a doubtful answer (a singular system on the support, a stalled line
search, the step cap); the caller then falls back to FISTA. The caller verifies the optimality
measure of what they return.

References:
    Osborne, Presnell & Turlach, "A new approach to variable selection in least squares problems",
    IMA J. Numer. Anal. 2000.
    Lee, Battle, Raina & Ng, "Efficient sparse coding algorithms" (feature-sign search), NIPS 2006.
    Lee, Sun & Saunders, "Proximal Newton-type methods for minimizing composite functions", SIAM J.
    Optim. 2014.
    Massias, Gramfort & Salmon, "Celer: a fast solver for the Lasso with dual extrapolation" (working
    sets), ICML 2018.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Final

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.linalg.blas import dtrsv
from scipy.linalg.lapack import dpotrf, dpotrs

from reglab.solvers.design import (
    Design,
    kkt_violation,
    log_loss_and_sigmoid,
    threads_for,
)

__all__ = ["CarriedFactor", "gram_columns", "solve_exact", "solve_l1_quadratic", "solve_l1_working_sets", "solve_logistic",
           "solve_squared"]


# a pivot of the Cholesky factor this small relative to the largest diagonal entry means the system
# on the support is singular to working precision (duplicated features, unpenalized collinear ones)
_PIVOT_FLOOR: Final = 1e-13


Columns = Callable[[np.ndarray], np.ndarray]


class _LazyGram:
    """Columns of G = XᵀX/n computed on demand (O(n·p) each) and kept: for n ≤ 2p, where building all
    of G would cost more than the columns an active set ever touches."""

    def __init__(self, X: np.ndarray) -> None:
        self.X, self.n = X, X.shape[0]
        self.slot = np.full(X.shape[1], -1, dtype=np.int64)
        self.store = np.empty((X.shape[1], 0))
        self.used = 0

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        missing = idx[self.slot[idx] < 0]
        if missing.size:
            missing = np.unique(missing)
            if self.used + missing.size > self.store.shape[1]:
                grown = np.empty((self.store.shape[0], max(2 * self.store.shape[1], self.used + missing.size, 16)))
                grown[:, :self.used] = self.store[:, :self.used]
                self.store = grown
            block = self.X.T @ self.X[:, missing]
            self.store[:, self.used:self.used + missing.size] = (block.toarray() if scipy.sparse.issparse(block)
                                                                 else block) / self.n
            self.slot[missing] = np.arange(self.used, self.used + missing.size)
            self.used += missing.size
        return self.store[:, self.slot[idx]]


def gram_columns(G: np.ndarray) -> Columns:
    """``idx ↦ G[:, idx]`` for a stored Gram matrix G of shape (p, p).

    Examples
    --------
    >>> gram_columns(np.eye(3))(np.array([2]))[:, 0].tolist()
    [0.0, 0.0, 1.0]
    """
    return lambda idx: G[:, idx]


def _cholesky(A: np.ndarray) -> np.ndarray | None:
    """Upper Cholesky factor R (RᵀR = A, lower triangle unused) of a symmetric positive definite A;
    None when A is singular to working precision. A is overwritten."""
    top = float(A.diagonal().max())
    R, info = dpotrf(A, lower=0, clean=0, overwrite_a=1)
    if info != 0 or float(R.diagonal().min()) ** 2 <= _PIVOT_FLOOR * max(top, 1e-300):
        return None
    return R


def _cholesky_append(R: np.ndarray, a: np.ndarray, ajj: float) -> np.ndarray | None:
    """The factor of [[A, a], [aᵀ, ajj]] from A's factor R, in O(m²); None when singular."""
    r = dtrsv(R, a, lower=0, trans=1) if len(a) else a  # Rᵀr = a
    pivot = ajj - float(r @ r)
    if not pivot > _PIVOT_FLOOR * max(ajj, 1e-300):
        return None
    m = len(a)
    out = np.empty((m + 1, m + 1))
    out[:m, :m] = R
    out[:m, m] = r
    out[m, m] = np.sqrt(pivot)
    return out


class CarriedFactor:
    """The support, its Gram columns and the Cholesky factor where :func:`solve_l1_quadratic` stopped.

    Passed back to the next solve of the same G (the next λ of a path), it spares the fresh
    factorisation of the warm start's support: when the warm start's support is this one and the L2
    strengths on it are unchanged (always for the lasso), the solve starts from this factor and only
    appends rows for what it adds (O(|S|²) each). Any mismatch is detected and the factor rebuilt.

    Examples
    --------
    >>> G = np.array([[1.0, 0.5], [0.5, 1.0]]); c = np.array([1.0, 0.5]); carried = CarriedFactor()
    >>> w, _, _ = solve_l1_quadratic(gram_columns(G), c, np.full(2, 0.4), np.zeros(2), np.zeros(2),
    ...                              thresh=1e-12, max_steps=100, factor=carried)
    >>> carried.active.tolist(), carried.R.shape
    ([0], (1, 1))
    """

    def __init__(self) -> None:
        self.active = np.empty(0, dtype=np.int64)
        self.GS: np.ndarray | None = None
        self.R: np.ndarray | None = None
        self.l2 = np.empty(0)

    def start(self, w: np.ndarray, l2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(active, G[:, active], R) for a warm start ``w`` when this factor fits it, else None."""
        if self.R is None or self.GS is None or self.active.size == 0:
            return None
        support = np.flatnonzero(w)
        if support.size != self.active.size or not np.array_equal(np.sort(self.active), support):
            return None
        if not np.array_equal(l2[self.active], self.l2):
            return None
        return self.active, self.GS, self.R

    def keep(self, active: np.ndarray, GS: np.ndarray, R: np.ndarray | None, l2: np.ndarray) -> None:
        self.active, self.GS, self.R, self.l2 = active, GS, R, l2[active].copy()


def _cholesky_append_block(R: np.ndarray, A_SB: np.ndarray, A_BB: np.ndarray) -> np.ndarray | None:
    """The factor of [[A, A_SB], [A_SBᵀ, A_BB]] from A's factor R (m × m), with b new rows and columns, in
    O(m²b + b³) and one copy; None when a new pivot is singular to working precision."""
    m, b = A_SB.shape
    Z = scipy.linalg.solve_triangular(R, A_SB, trans="T", lower=False, check_finite=False) if m else A_SB
    S = A_BB - Z.T @ Z
    top = A_BB.diagonal().copy()
    RB, info = dpotrf(S, lower=0, clean=1, overwrite_a=1)
    if info != 0 or np.any(RB.diagonal() ** 2 <= _PIVOT_FLOOR * np.maximum(top, 1e-300)):
        return None
    out = np.zeros((m + b, m + b))
    out[:m, :m] = R
    out[:m, m:] = Z
    out[m:, m:] = RB
    return out


def solve_l1_quadratic(cols: Columns, c: np.ndarray, l1: np.ndarray, l2: np.ndarray, w0: np.ndarray, *,
                       thresh: float, max_steps: int,
                       factor: CarriedFactor | None = None) -> tuple[np.ndarray, int, bool]:
    """Minimise wᵀGw − 2cᵀw + Σ l1_j|w_j| + Σ l2_j w_j² exactly by the active-set method.

    Parameters
    ----------
    cols : callable
        ``idx ↦ G[:, idx]``, an array of shape (p, len(idx)); see :func:`gram_columns`.
    c : ndarray of shape (p,)
    l1, l2 : ndarray of shape (p,)
        Non-negative per-coordinate strengths (zeros allowed: unpenalized).
    w0 : ndarray of shape (p,)
        Warm start; its non-zeros are the first support.
    thresh : float
        Stop when no zero coordinate violates its optimality condition by more than this:
        ``|2(c − Gw − l2∘w)_j| − l1_j ≤ thresh``.
    max_steps : int
        Cap on the number of linear solves.
    factor : CarriedFactor, optional
        The factor where the previous solve of the same G stopped (used when it fits ``w0``), updated
        in place with where this one stops.

    Returns
    -------
    w : ndarray of shape (p,)
    steps : int
        Linear solves done.
    ok : bool
        False when the cap was hit or a system on the support was singular (then ``w`` is the last
        feasible point, a valid warm start for another method).

    Examples
    --------
    >>> G = np.array([[1.0, 0.5], [0.5, 1.0]]); c = np.array([1.0, 0.5])
    >>> w, steps, ok = solve_l1_quadratic(gram_columns(G), c, np.full(2, 0.4), np.zeros(2), np.zeros(2),
    ...                                   thresh=1e-12, max_steps=100)
    >>> w.tolist(), ok      # w₁ = c₁ − ½·0.4 = 0.8; w₂ stays 0: |2(0.5 − 0.5·0.8)| = 0.2 ≤ 0.4
    ([0.8, 0.0], True)
    """
    w = np.array(w0, dtype=np.float64)
    s = np.sign(w)
    carried = factor.start(w, l2) if factor is not None else None
    if carried is not None:          # the previous λ's support and factor: no fresh factorisation
        active, GS, R = carried
    else:
        active = np.flatnonzero(w)
        GS = cols(active)            # G[:, active], kept in step with the support
        R = np.empty((0, 0)) if active.size == 0 else None  # Cholesky factor of G_SS + diag(l2_S), None: stale
    pending = active.size > 0        # the warm start need not be optimal on its support
    steps = 0
    batch = 0                        # coordinates added at zero and not yet moved
    while True:
        if not pending:
            # distance of 2q_j (q = −½∇ of the smooth part) to [−l1_j, l1_j] at the zeros
            q = c - GS @ w[active] - l2 * w
            viol = 2.0 * np.abs(q) - l1
            viol[active] = -np.inf
            top = int(np.argmax(viol))
            if viol[top] <= thresh:
                if factor is not None:
                    factor.keep(active, GS, R, l2)
                return w, steps, True
            # the largest violators, up to half the support more (one at a time from an empty one)
            batch = min(1 + active.size // 2, int(np.count_nonzero(viol > thresh)))
            if batch == 1:
                new = np.array([top])
            else:
                new = np.argpartition(-viol, batch - 1)[:batch]
                new = new[np.argsort(-viol[new])]
            s[new] = np.sign(q[new])     # non-zero: |2q_j| > l1_j + thresh ≥ 0
            column = cols(new)
            if R is not None and batch == 1:   # one more row and column of the factor: O(|S|²)
                R = _cholesky_append(R, column[active, 0], float(column[new[0], 0]) + l2[new[0]])
                if R is None:
                    return w, steps, False
            elif R is not None:                # the batch's rows and columns in one block, O(|S|²·batch)
                A_BB = column[new]
                A_BB.flat[::batch + 1] += l2[new]
                R = _cholesky_append_block(R, column[active], A_BB)  # None: singular, handled where rebuilt
            else:
                R = None
            active = np.concatenate([active, new])
            GS = np.concatenate([GS, column], axis=1)
        if steps >= max_steps:
            return w, steps, False
        steps += 1
        if R is None:               # after a drop or a batch (or at the start): factor afresh
            A = GS[active]
            A.flat[::len(active) + 1] += l2[active]
            R = _cholesky(A)
            if R is None and batch > 1:
                # the batch made the system singular (more coordinates than the rank of G): keep its
                # largest violator only, whose column is the last one appended before the batch's others
                keep = (w[active] != 0) | (np.arange(active.size) == active.size - batch)
                s[active[~keep]] = 0.0
                active, GS, batch = active[keep], GS[:, keep], 1
                pending = True
                continue
            if R is None:
                return w, steps, False
        sa = s[active]
        target, info = dpotrs(R, c[active] - 0.5 * l1[active] * sa, lower=0)
        if info != 0:
            return w, steps, False
        wa = w[active]
        wrong = sa * target < 0
        if wrong.any() and (wrong & (wa == 0)).any():
            # a coordinate just added would move against its sign. Alone it cannot (from a point optimal
            # on the support, its direction has the sign of its violation) unless the system is
            # degenerate; in a batch it can: take it out (it is at zero, so the point stays) and solve again
            late = wrong & (wa == 0)
            if batch <= 1:
                return w, steps, False
            fresh = wa == 0
            keep = ~late if late.sum() < fresh.sum() else ~fresh | (active == active[np.flatnonzero(fresh)[0]])
            s[active[~keep]] = 0.0
            active, GS, R = active[keep], GS[:, keep], None
            batch = int((w[active] == 0).sum())
            pending = True
            continue
        batch = 0
        if wrong.any():
            # move towards the solution on the support until the first coefficient reaches zero
            cross = np.flatnonzero(wrong)
            t = wa[cross] / (wa[cross] - target[cross])
            first = int(np.argmin(t))
            wa = wa + t[first] * (target - wa)
            wa[cross[first]] = 0.0
            pending = True
        else:
            wa = target
            pending = False
        w[active] = wa
        if not wa.all():
            keep = wa != 0
            s[active[~keep]] = 0.0
            active = active[keep]
            GS = GS[:, keep]
            R = None


# per design: the lazily computed Gram columns and Xᵀy/n (when the design has no stored Gram matrix),
# kept for the design's lifetime so a path reuses the columns from λ to λ
_LAZY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _gram_form(d: Design) -> tuple[Columns, np.ndarray]:
    if d.gram is not None:
        return gram_columns(d.gram), d.xty
    if d not in _LAZY:
        Xs = d.root_weighted(d.X)  # √S·X: G = XᵀSX/n, c = XᵀSY/n under sample weights S
        _LAZY[d] = (_LazyGram(Xs), Xs.T @ d.root_weighted(d.Yc) / d.n)
    return _LAZY[d]


# per design: each output column's Cholesky factor where its last solve stopped, so the next λ of a
# path starts from it (see CarriedFactor)
_FACTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# the smallest working set of the working-set solvers (squared loss for p ≫ n, logistic)
_MIN_WORKING_SET: Final = 50


# Above this many stored columns a design's working-set Gram store starts afresh (its memory is the
# square of it: 4000 columns are 128 MB)
_WORKING_GRAM_MAX: Final = 4000


class _WorkingGram:
    """G = XᵀX/n on the features that a design's working sets have held, grown block by block and kept
    across solves of the same design (a path's λ): a working set of m features costs O(n·m) per new
    feature, never a column of all p (O(n·p)), and its square block is read from the store. The store's
    arrays are allocated with room to grow (see ``_room``), so a new block is written in place, not
    copied with all that is stored."""

    def __init__(self, X: np.ndarray) -> None:
        self.X, self.n = X, X.shape[0]
        self.slot = np.full(X.shape[1], -1, dtype=np.int64)
        self.used = 0
        self.XS = np.empty((self.n, 0), order="F")  # the stored features' columns, by slot (the first `used`)
        self.G = np.empty((0, 0))                   # their Gram matrix (the leading used × used block)

    def _room(self, need: int) -> None:
        """Capacity for ``need`` stored features, keeping the ``used`` ones: first 4n (a support has at most
        n features; a few working sets' worth), then doubling, never more than p or ``_WORKING_GRAM_MAX``
        unless one working set needs it. Not all of p at once: a large fresh array costs its page faults
        (zeroed huge pages) where the block writes, and a solve of p ≫ n touches a small part of it."""
        if need <= self.G.shape[0]:
            return
        cap = max(need, min(self.X.shape[1], _WORKING_GRAM_MAX, max(2 * self.G.shape[0], 4 * self.n, 64)))
        m = self.used
        XS = np.empty((self.n, cap), order="F")
        XS[:, :m] = self.XS[:, :m]
        G = np.empty((cap, cap))
        G[:m, :m] = self.G[:m, :m]
        self.XS, self.G = XS, G

    def residual(self, y: np.ndarray, w: np.ndarray, support: np.ndarray) -> np.ndarray:
        """y − Xw for w non-zero on ``support`` only: from the stored columns (contiguous, no gather of X's
        columns) when they hold the support, as after a working set's round."""
        if support.size == 0:
            return y
        at = self.slot[support]
        if at.min() < 0:
            return y - self.X[:, support] @ w[support]
        v = np.zeros(self.used)
        v[at] = w[support]
        return y - self.XS[:, :self.used] @ v

    def block(self, ws: np.ndarray) -> np.ndarray:
        """G[ws][:, ws], of shape (len(ws), len(ws))."""
        missing = np.unique(ws[self.slot[ws] < 0])
        if missing.size:
            m = self.used
            if m + missing.size > _WORKING_GRAM_MAX:   # start afresh with this working set
                self.slot[self.slot >= 0] = -1
                self.used = m = 0
                missing = np.unique(ws)
            end = m + missing.size
            self._room(end)
            Xm = self.XS[:, m:end]
            Xm[...] = self.X[:, missing]
            G = self.G
            if m:
                cross = self.XS[:, :m].T @ Xm
                cross /= self.n
                G[:m, m:end] = cross
                G[m:end, :m] = cross.T
            square = Xm.T @ Xm
            square /= self.n
            G[m:end, m:end] = square
            self.slot[missing] = np.arange(m, end)
            self.used = end
        from reglab.solvers._cd_kernel import gather_block

        return gather_block(self.G, self.slot[ws])   # in C order, as the compiled descent reads it


def solve_l1_working_sets(X: np.ndarray, y: np.ndarray, store: _WorkingGram, c: np.ndarray, l1: np.ndarray,
                          l2: np.ndarray, w0: np.ndarray, *, thresh: float,
                          max_steps: int) -> tuple[np.ndarray, int, bool]:
    """:func:`solve_l1_quadratic` for ``G = XᵀX/n``, ``c = Xᵀy/n`` on working sets: for n ≤ 2p (p ≫ n).

    Each round checks the optimality condition of every coordinate from the residual (one pass over
    X: ``Xᵀ(y − Xw)/n``), takes the support and the largest violators (as many as twice the support,
    at least 50; celer's working sets) and minimises the problem restricted to them by compiled
    coordinate descent on their Gram block (:func:`reglab.solvers._cd_kernel.cd_gram_block`) until its
    conditions on the working set hold to ``thresh``; a coordinate outside the working set stays at
    zero. The restricted problem's conditions are the whole problem's on the working set, so when no
    coordinate outside it violates its condition by more than ``thresh`` the descent's point is
    finished by the active-set method on the same block (from there, one or two linear solves: the
    answer is exact to rounding, as :func:`solve_l1_quadratic`'s), and the rounds stop once no
    coordinate outside the exact answer's working set violates. A descent that does not meet
    ``thresh`` within ``_CD_EPOCHS`` epochs is finished by the active-set method at once. Returns
    :func:`solve_l1_quadratic`'s ``(w, steps, ok)``; a descent round counts one step.

    Examples
    --------
    >>> rng = np.random.default_rng(0); X = rng.standard_normal((20, 200)); y = X[:, 0] - X[:, 1]
    >>> w, _, ok = solve_l1_working_sets(X, y, _WorkingGram(X), X.T @ y / 20, np.full(200, 0.5), np.zeros(200),
    ...                                  np.zeros(200), thresh=1e-12, max_steps=1000)
    >>> ok, {0, 1} <= set(np.flatnonzero(w).tolist())    # y's two features are in the support
    (True, True)
    """
    from reglab.solvers._cd_kernel import cd_gram_block

    n = X.shape[0]
    w = np.array(w0, dtype=np.float64)
    steps = 0
    exact = False                   # w is the active-set method's answer on its working set: its conditions hold
    descended = None                # (ws, G, start) of a round whose descent met thresh on ws, not yet made exact
    while True:
        support = np.flatnonzero(w)
        r = store.residual(y, w, support)
        q = X.T @ r / n - l2 * w    # −½ the smooth part's gradient
        # distance of 2q_j to the subdifferential of l1_j|w_j|: [−l1_j, l1_j] at 0, l1_j·sign(w_j) elsewhere
        viol = 2.0 * np.abs(q) - l1
        viol[support] = -np.inf
        outside = np.flatnonzero(viol > thresh)
        if outside.size == 0:
            if exact:
                return w, steps, True
            if descended is None:   # the warm start: done if optimal on its support, else a round on it
                on_support = float(np.abs(2.0 * q[support] - l1[support] * np.sign(w[support])).max()) \
                    if support.size else 0.0
                if on_support <= thresh:
                    return w, steps, True
            else:                   # the descent's point is optimal to thresh: made exact on its block
                ws, G, start = descended
                w, taken, ok = _exact_on_block(G, ws, c, l1, l2, w, start, n, thresh=thresh,
                                               max_steps=max(max_steps - steps, 1))
                steps += max(taken, 1)
                if not ok:
                    return w, steps, False
                exact, descended = True, None
                continue
        if steps >= max_steps:
            return w, steps, False
        size = max(_MIN_WORKING_SET, 2 * support.size)
        if outside.size > size:
            outside = outside[np.argpartition(-viol[outside], size - 1)[:size]]
        ws = np.concatenate([support, outside])
        G = store.block(ws)
        start = w[ws]
        v = start.copy()
        epochs = cd_gram_block(G, c[ws], l1[ws], l2[ws], v, thresh, _CD_EPOCHS)
        steps += 1
        w = np.zeros_like(w)
        w[ws] = v
        exact, descended = False, (ws, G, start)
        if epochs >= _CD_EPOCHS:    # the descent stopped at its cap: the active-set method finishes the round
            w, taken, ok = _exact_on_block(G, ws, c, l1, l2, w, start, n, thresh=thresh,
                                           max_steps=max(max_steps - steps, 1))
            steps += taken
            if not ok:
                return w, steps, False
            exact, descended = True, None


# compiled coordinate-descent epochs of a working set's round (a cap: the active-set method finishes)
_CD_EPOCHS: Final = 50


def _exact_on_block(G: np.ndarray, ws: np.ndarray, c: np.ndarray, l1: np.ndarray, l2: np.ndarray, w: np.ndarray,
                    start: np.ndarray, n: int, *, thresh: float, max_steps: int) -> tuple[np.ndarray, int, bool]:
    """:func:`solve_l1_quadratic` on the working set ``ws`` (Gram block ``G``) from ``w[ws]``, where a
    round's coordinate descent ended: the exact solve then starts on (nearly) the support and needs
    few linear solves, each a Python round trip. From the round's ``start`` itself when the descent
    ended on n or more features (a singular support) or the solve from its point fails. Returns the
    whole vector (zero outside ``ws``), the linear solves and success."""
    cols = gram_columns(G)
    cw, l1w, l2w, v = c[ws], l1[ws], l2[ws], w[ws]
    out = np.zeros_like(w)
    if np.count_nonzero(v) < n:
        out[ws], taken, ok = solve_l1_quadratic(cols, cw, l1w, l2w, v, thresh=thresh, max_steps=max_steps)
        if ok:
            return out, taken, ok
    out[ws], taken, ok = solve_l1_quadratic(cols, cw, l1w, l2w, start, thresh=thresh, max_steps=max_steps)
    return out, taken, ok


# per dense design without a stored Gram matrix: √S·X, √S·Y, Xᵀy/n and the working sets' Gram store
_WORKING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _working_form(d: Design) -> tuple[np.ndarray, np.ndarray, np.ndarray, _WorkingGram]:
    if d not in _WORKING:
        Xs, Ys = d.root_weighted(d.X), d.root_weighted(d.Yc)
        _WORKING[d] = (Xs, Ys, Xs.T @ Ys / d.n, _WorkingGram(Xs))
    return _WORKING[d]


def solve_squared(d: Design, lam: float, rho: float, f: np.ndarray, W0: np.ndarray, target: float,
                  max_steps: int) -> tuple[np.ndarray, int, bool]:
    """Least squares under reglab's penalty, each output column by :func:`solve_l1_quadratic`.

    ``mean (Xw − y)² + Σ λf_j(ρ|w_j| + (1 − ρ)w_j²)`` is ``wᵀGw − 2cᵀw + const`` plus the penalty with
    ``l1 = λρf``, ``l2 = λ(1 − ρ)f``. With a stored Gram matrix (n > 2p) or a sparse X, each column's
    factor is carried from one call to the next on the same design (a path's next λ); a dense X without
    one (n ≤ 2p) is solved on working sets (:func:`solve_l1_working_sets`). Returns W of shape (p, k),
    total linear solves, success.
    """
    l1, l2 = lam * rho * f, lam * (1.0 - rho) * f
    if d.gram is None and not d.sparse:
        Xs, Ys, xty, store = _working_form(d)
        W = W0.copy()
        total = 0
        for k in range(W0.shape[1]):
            W[:, k], steps, ok = solve_l1_working_sets(Xs, Ys[:, k], store, xty[:, k], l1, l2, W0[:, k],
                                                       thresh=target, max_steps=max_steps)
            total += steps
            if not ok:
                return W, total, False
        return W, total, True
    cols, xty = _gram_form(d)
    factors = _FACTORS.get(d)
    if factors is None:
        factors = _FACTORS[d] = [CarriedFactor() for _ in range(W0.shape[1])]
    W = np.empty_like(W0)
    total = 0
    for k in range(W0.shape[1]):
        W[:, k], steps, ok = solve_l1_quadratic(cols, xty[:, k], l1, l2, W0[:, k], thresh=target,
                                                max_steps=max_steps, factor=factors[k])
        total += steps
        if not ok:
            W[:, k + 1:] = W0[:, k + 1:]
            return W, total, False
    return W, total, True


_ARMIJO: Final = 1e-4


def _logistic_value_and_residual(z: np.ndarray, y: np.ndarray, s: np.ndarray | None,
                                 n: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-loss Σ sᵢℓᵢ/n of margins z against labels y (weights s, None: all 1), its gradient in z, σ(z)."""
    ell, sig = log_loss_and_sigmoid(z, y)
    if s is None:
        return float(np.sum(ell) / n), (sig - y) / n, sig
    return float(s @ ell / n), s * (sig - y) / n, sig


def solve_logistic(d: Design, lam: float, rho: float, f: np.ndarray, W0: np.ndarray, b0: np.ndarray,
                   target: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Binary logistic regression under an L1 / elastic-net penalty by proximal Newton.

    Returns W of shape (p, 1), b of shape (1,), Newton steps and whether the optimality measure
    ``kkt_violation`` reached ``target`` (False also when a subproblem or line search failed: the point
    returned is then the last iterate, a valid warm start for another method).
    """
    X, y, n, free_b, weights = d.X, d.Y[:, 0], d.n, d.free_b, d.weights
    l1, l2 = lam * rho * f, lam * (1.0 - rho) * f
    w = W0[:, 0].copy()
    b = float(b0[0]) if free_b else 0.0
    z = X @ w + b

    value, r, sig = _logistic_value_and_residual(z, y, weights, n)
    newton = 0
    while True:
        # optimality on all coordinates: the only full pass over X per working set
        g = X.T @ r
        gb = float(r.sum())
        kkt = kkt_violation(w[:, None], g[:, None], np.array([gb]), lam, rho, f, free_b)
        if kkt <= target:
            return w[:, None], np.array([b]), newton, True
        if newton >= max_iter:
            return w[:, None], np.array([b]), newton, False
        # the working set: the support and the largest violators, up to twice as many as the support
        viol = np.abs(g + 2.0 * l2 * w) - l1
        support = np.flatnonzero(w)
        viol[support] = -np.inf
        outside = np.flatnonzero(viol > 0)
        size = max(_MIN_WORKING_SET, 2 * support.size)
        truncated = outside.size > size
        if truncated:
            outside = outside[np.argpartition(-viol[outside], size - 1)[:size]]
        ws = np.sort(np.concatenate([support, outside]))
        A = X[:, ws].toarray() if d.sparse else X[:, ws]   # the working set's columns, dense (n × m)
        if free_b:
            A = np.column_stack([A, np.ones(n)])
        m = len(ws)
        l1s = np.concatenate([l1[ws], [0.0] * free_b])
        l2s = np.concatenate([l2[ws], [0.0] * free_b])
        u = np.concatenate([w[ws], [b] * free_b])

        def penalty(v: np.ndarray, l1s: np.ndarray = l1s, l2s: np.ndarray = l2s) -> float:
            return float(l1s @ np.abs(v) + l2s @ (v * v))

        # Newton on the working set until its optimality measure is a tenth of the target; a working
        # set that left violators out only to a tenth of the whole problem's measure (solved roughly)
        inner_target = 0.1 * (max(target, kkt) if truncated else target)
        stalled = False
        # BLAS threads for the working set's products (n × m), not for the whole X's
        with threads_for(n, m + 1):
            while True:
                gu = A.T @ r
                dist = np.where(u != 0, np.abs(gu + 2.0 * l2s * u + l1s * np.sign(u)),
                                np.maximum(np.abs(gu + 2.0 * l2s * u) - l1s, 0.0))
                if dist.max() <= inner_target or newton >= max_iter:
                    break
                newton += 1
                # model: ½ΔᵀHΔ + guᵀΔ + penalty(u + Δ), H = AᵀDA; as vᵀ(H/2)v − 2((Hu − gu)/2)ᵀv + penalty(v)
                curvature = sig * (1.0 - sig) / n if weights is None else weights * sig * (1.0 - sig) / n
                As = A * np.sqrt(curvature)[:, None]
                H = As.T @ As
                v, _, ok = solve_l1_quadratic(gram_columns(0.5 * H), 0.5 * (H @ u - gu), l1s, l2s, u,
                                              thresh=0.05 * target, max_steps=10 * (m + 1) + 100)
                if not ok:
                    return w[:, None], np.array([b]), newton, False
                delta = v - u
                Ad = A @ delta
                pen_u = penalty(u)
                # decrease predicted by the model's linear part: ∇ᵀΔ + penalty(v) − penalty(u) < 0
                decrease = float(gu @ delta) + penalty(v) - pen_u
                # near the optimum both sides differ by rounding only: allow a few ulps of the objective
                slack = 1e-14 * (abs(value) + pen_u)
                t = 1.0
                while True:
                    zt = z + t * Ad
                    vt, rt, st = _logistic_value_and_residual(zt, y, weights, n)
                    ut = u + t * delta
                    if vt + penalty(ut) <= value + pen_u + _ARMIJO * t * min(decrease, 0.0) + slack:
                        break
                    t *= 0.5
                    if t < 1e-10:
                        stalled = True
                        break
                if stalled:
                    break
                u, z, value, r, sig = ut, zt, vt, rt, st
                w[ws] = u[:m]
                if free_b:
                    b = float(u[m])
        if stalled:  # no descent left along the Newton direction: done if optimal, failed otherwise
            g = X.T @ r
            ok = kkt_violation(w[:, None], g[:, None], np.array([float(r.sum())]), lam, rho, f, free_b) <= target
            return w[:, None], np.array([b]), newton, ok


def solve_exact(d: Design, lam: float, rho: float, f: np.ndarray, W0: np.ndarray, b0: np.ndarray, target: float,
                max_iter: int) -> tuple[np.ndarray, np.ndarray, int, bool, str]:
    """The exact solver for a design with an L1 part, when one applies; its answer verified.

    Squared loss: the active-set method on the Gram form; binary logistic: proximal Newton. Returns
    W, b, iterations, converged (the optimality measure ``kkt_violation`` at most ``target``, checked on the
    returned point) and the solver's name; ``converged`` is False when no exact solver applies or it
    failed, with W, b then a warm start for the fallback (FISTA).
    """
    if d.loss == "squared":
        W, n_iter, ok = solve_squared(d, lam, rho, f, W0, target, max_iter)
        b, solver = np.zeros(d.k), "active-set"
    elif d.loss == "logistic":
        W, b, n_iter, ok = solve_logistic(d, lam, rho, f, W0, b0, target, max_iter)
        solver = "prox-newton"
    else:
        return W0, b0, 0, False, ""
    if ok:
        gW, gb = d.grad(W, b)
        ok = kkt_violation(W, gW, gb, lam, rho, f, d.free_b) <= target
    return W, b, n_iter, ok, solver
