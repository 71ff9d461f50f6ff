"""How far apart two solutions of one risk may be: a tolerance from the solvers' guarantee, not a machine.

The guarantee. For an objective F that is μ-strongly convex, every θ has ‖θ − θ*‖₂ ≤ dist(0, ∂F(θ))/μ
(take g ∈ ∂F(θ) and 0 ∈ ∂F(θ*): ⟨g, θ − θ*⟩ ≥ μ‖θ − θ*‖²). Two computed solutions of one risk (the
same problem with the weights scaled, zero-weight rows dropped, rows repeated, another start or
another solver) are therefore within (r_a + r_b)/μ: r is each one's KKT residual in the 2-norm,
measured in its own formulation, and μ the smallest Hessian eigenvalue of the smooth part (weighted
mean loss + L2 part, intercept included) near the solutions. Floating point enters twice: in the
computed residuals (bounded here by the classic γ_m·Σ|terms| bound of an m-term sum) and a few ulps
of each θ; both are added to the bound.

That bound holds for any θ, so by itself it cannot catch a wrong answer: a wrong θ has a large
residual, hence a large bound. So each residual is also held to the solver's stopping accuracy:
``tol`` times the solver's scale (max |∂loss/∂W| at zero coefficients) per coordinate, what the
gradient-tested solvers (active set, proximal Newton, FISTA) verify; with ``f_test``, for L-BFGS,
which also stops when F no longer decreases in floating point (L-BFGS-B's f-test: that is how it ends
at tol = 1e-12, reporting convergence), at most √(2·L·δF), L the gradient's Lipschitz constant and
δF the rounding of F (an L-smooth F has ‖∇F‖² ≤ 2L·(F − F*)). The rounding bound on a residual also
covers the solvers' own rounding of the data (centring, weight normalisation), of the same form.

The bound only needs strong convexity where the two solutions live: both lie in the subspace V of
the coordinates where either is non-zero (and the intercept), F restricted to V has residuals no
larger than F's, and its minimiser on V is within r/μ_V of each, μ_V the smallest Hessian eigenvalue
on V. So μ is taken on V: this also covers an L1 penalty whose F is not strongly convex as a whole.
Zero directions left, and handled here explicitly: the softmax with an intercept is invariant under
b → b + c·1, so intercepts (and outputs) are compared class-centred and μ is taken on b ⊥ 1; under a
pure L1 penalty it is also invariant (in the loss) under W_j· → W_j· + c·1, which V excludes as long
as every feature has a zero class in both solutions (else μ_V = 0 and the helper says so).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special

EPS = float(np.finfo(np.float64).eps)
# sup ℓ'' (the largest eigenvalue of the softmax's Hessian in z for cross-entropy)
CURVATURE = {"squared": 2.0, "logistic": 0.25, "cross_entropy": 0.5}
# Lipschitz constant of ℓ'' in z: |σ(1 − σ)(1 − 2σ)| ≤ 1/(6√3); diag(p) − ppᵀ moves by ≤ 1.5‖Δz‖
THIRD = {"squared": 0.0, "logistic": 1.0 / (6.0 * np.sqrt(3.0)), "cross_entropy": 1.5}


class Risk:
    """Σ sᵢ·ℓ(yᵢ, xᵢW + b) / Σ sᵢ + Σ_jk λ·f_j·(ρ|W_jk| + (1 − ρ)W_jk²), reglab's objective, in closed form.

    ``y``: float targets (squared), labels 0/1 (logistic), class indices (cross_entropy). Solutions
    are ``(coef, intercept)`` with coef of shape (p,) or (p, k).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, *, loss: str, alpha: float, l1_ratio: float,
                 penalty_factor: np.ndarray | None = None, fit_intercept: bool = True,
                 sample_weight: np.ndarray | None = None) -> None:
        X = np.asarray(X, dtype=np.float64)
        self.n, self.p = X.shape
        s = np.ones(self.n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.w = s / s.sum()  # the normalised weights: the solvers' s/mean(s)/n
        if loss == "cross_entropy":
            labels = np.asarray(y).astype(np.int64)
            self.Y = np.eye(int(labels.max()) + 1)[labels]
        else:
            self.Y = np.asarray(y, dtype=np.float64).reshape(self.n, 1)
        self.k = self.Y.shape[1]
        self.loss, self.fit_intercept = loss, fit_intercept
        self.Xt = np.hstack([X, np.ones((self.n, 1))]) if fit_intercept else X
        self.q = self.Xt.shape[1]
        f = np.ones(self.p) if penalty_factor is None else np.asarray(penalty_factor, dtype=np.float64)
        self.l1 = (alpha * l1_ratio * f)[:, None]
        self.l2 = (alpha * (1.0 - l1_ratio) * f)[:, None]
        # b → b + c·1 leaves the softmax unchanged: identify θ up to it (class-centred intercepts)
        self.shift = loss == "cross_entropy" and fit_intercept
        self.c = 2 * (self.n + self.q) + 16  # length factor of the rounding bounds (γ_m ≤ m·eps/2)

    # -- θ = [W; b], shape (q, k) ------------------------------------------------------------------

    def theta(self, solution: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        coef, intercept = solution
        W = np.asarray(coef, dtype=np.float64).reshape(self.p, self.k)
        if not self.fit_intercept:
            return W
        b = np.asarray(intercept, dtype=np.float64).reshape(1, self.k)
        if self.shift:
            b = b - b.mean()
        return np.vstack([W, b])

    def _outputs(self, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Margins Z, ∂ℓ/∂z (G) and the size |X̃||θ| + |y| of what enters them (for the rounding bounds)."""
        Z = self.Xt @ T
        if self.loss == "squared":
            G = 2.0 * (Z - self.Y)
        elif self.loss == "logistic":
            G = scipy.special.expit(Z) - self.Y
        else:
            G = scipy.special.softmax(Z, axis=1) - self.Y
        return Z, G, np.abs(self.Xt) @ np.abs(T) + np.abs(self.Y)

    def _row_losses(self, Z: np.ndarray) -> np.ndarray:
        if self.loss == "squared":
            return ((Z - self.Y) ** 2).sum(1)
        if self.loss == "logistic":
            return (np.logaddexp(0.0, Z) - self.Y * Z)[:, 0]
        return scipy.special.logsumexp(Z, axis=1) - (self.Y * Z).sum(1)

    # -- the three quantities of the bound --------------------------------------------------------

    def residual(self, solution: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
        """dist(0, ∂F(θ)) in the 2-norm, and a bound on the rounding of that computed value."""
        T = self.theta(solution)
        _, G, size = self._outputs(T)
        grad = self.Xt.T @ (self.w[:, None] * G)
        W = T[:self.p]
        g = grad[:self.p] + 2.0 * self.l2 * W
        # the min-norm subgradient: |g + t·sign(w)| at w ≠ 0, the distance of −g to [−t, t] at 0
        dist = np.where(W != 0, np.abs(g + self.l1 * np.sign(W)), np.maximum(np.abs(g) - self.l1, 0.0))
        parts = [dist.ravel()]
        if self.fit_intercept:
            gb = grad[self.p]
            parts.append(gb - gb.mean() if self.shift else gb)
        r = float(np.linalg.norm(np.concatenate(parts)))
        # |computed − exact| per coordinate: the n-term sums of |x||∂ℓ| with ∂ℓ off by its margins' rounding
        G_err = np.abs(G) + CURVATURE[self.loss] * size
        err = self.c * EPS * (np.abs(self.Xt).T @ (self.w[:, None] * G_err))
        err[:self.p] += self.c * EPS * (2.0 * self.l2 * np.abs(W) + self.l1)
        return r, float(np.linalg.norm(err))

    def curvature(self, solution: tuple[np.ndarray, np.ndarray], on: np.ndarray | None = None) -> float:
        """Smallest eigenvalue of the smooth part's Hessian at θ on the coefficients ``on`` (p, k) (all by
        default) and the intercept (b ⊥ 1 for the softmax)."""
        T = self.theta(solution)
        Z = self.Xt @ T
        if self.loss == "cross_entropy":
            P = scipy.special.softmax(Z, axis=1)
            S = self.w[:, None, None] * (P[:, :, None] * np.eye(self.k) - P[:, :, None] * P[:, None, :])
            H = np.einsum("ij,il,icd->jcld", self.Xt, self.Xt, S).reshape(self.q * self.k, self.q * self.k)
        else:
            sig = scipy.special.expit(Z[:, 0])
            h = np.full(self.n, 2.0) if self.loss == "squared" else sig * (1.0 - sig)
            H = self.Xt.T @ ((self.w * h)[:, None] * self.Xt)
        l2 = np.zeros((self.q, self.k))
        l2[:self.p] = 2.0 * self.l2
        H = H + np.diag(l2.ravel())
        # an orthonormal basis of the subspace: the coefficients ``on``, the intercept without b + c·1
        Q = np.eye(self.p * self.k)[:, np.ones((self.p, self.k), bool).ravel() if on is None else on.ravel()]
        if self.fit_intercept:
            Q = scipy.linalg.block_diag(Q, scipy.linalg.null_space(np.ones((1, self.k))) if self.shift
                                        else np.eye(self.k))
        return float(np.linalg.eigvalsh(Q.T @ H @ Q)[0]) if Q.shape[1] else np.inf

    def lipschitz(self) -> float:
        """Lipschitz constant L of the smooth part's gradient (for the f-test's stopping accuracy)."""
        top = float(np.linalg.eigvalsh(self.Xt.T @ (self.w[:, None] * self.Xt))[-1])
        return CURVATURE[self.loss] * top + 2.0 * float(self.l2.max(initial=0.0))

    def hessian_lipschitz(self) -> float:
        """M with ‖H(θ) − H(θ')‖₂ ≤ M·‖θ − θ'‖₂: Σ wᵢ·‖x̃ᵢ‖³ times the Lipschitz constant of ℓ''."""
        return THIRD[self.loss] * float(self.w @ np.linalg.norm(self.Xt, axis=1) ** 3)

    def stopping_accuracy(self, solution: tuple[np.ndarray, np.ndarray], tol: float, f_test: bool) -> float:
        """The largest residual (2-norm) a solver at ``tol`` may return: see the module docstring."""
        b0 = np.zeros((1, self.k))
        if self.fit_intercept:  # the solvers' scale is taken at the (weighted) null model
            m = self.w @ self.Y
            if self.loss != "squared":
                m = np.clip(m, 1e-12, 1.0 - 1e-12)
            b0 = (m if self.loss == "squared" else np.log(m / (1.0 - m)) if self.loss == "logistic"
                  else np.log(m))[None, :]
        T0 = np.vstack([np.zeros((self.p, self.k)), b0]) if self.fit_intercept else np.zeros((self.p, self.k))
        _, G0, _ = self._outputs(T0)
        scale = max(float(np.abs(self.Xt[:, :self.p].T @ (self.w[:, None] * G0)).max(initial=0.0)), 1e-12)
        gradient_test = np.sqrt(self.p * self.k + self.fit_intercept * self.k) * tol * scale
        if not f_test:
            return gradient_test
        T = self.theta(solution)
        Z, _, size = self._outputs(T)
        W = T[:self.p]
        dF = self.c * EPS * (float(self.w @ (np.abs(self._row_losses(Z))
                                            + (size + CURVATURE[self.loss] * size**2).sum(1)))
                             + float(np.sum(self.l1 * np.abs(W) + self.l2 * W * W)))
        return max(gradient_test, np.sqrt(2.0 * self.lipschitz() * dF))


def solution_bound(a: Risk, sol_a: tuple[np.ndarray, np.ndarray], b: Risk, sol_b: tuple[np.ndarray, np.ndarray],
                   *, tol: float, f_test: bool = False) -> float:
    """Bound on ‖θ_a − θ_b‖₂ for two solutions of one risk (formulated as ``a`` and ``b``) by solvers at
    ``tol`` (``f_test``: L-BFGS); asserts first that each residual is within the stopping accuracy."""
    (ra, ea), (rb, eb) = a.residual(sol_a), b.residual(sol_b)
    for name, risk, sol, r, e in (("a", a, sol_a, ra, ea), ("b", b, sol_b, rb, eb)):
        cap = risk.stopping_accuracy(sol, tol, f_test)
        assert r <= cap + e, f"solution {name} is not an optimum: KKT residual {r:.3g} > stopping accuracy {cap:.3g}"
    Ta, Tb = a.theta(sol_a), b.theta(sol_b)
    on = (Ta[:a.p] != 0) | (Tb[:b.p] != 0)  # V: where either solution is non-zero (see the module docstring)
    mu0 = min(a.curvature(sol_a, on), b.curvature(sol_b, on))
    assert mu0 > 0, "the smooth part is not strongly convex where the solutions live: no distance bound"
    # μ = μ₀/2 on the whole segment to θ*: the Hessian moves by ≤ M·‖Δθ‖ and ‖θ − θ*‖ ≤ (r + e)/μ
    mu = mu0 / 2.0
    M = max(a.hessian_lipschitz(), b.hessian_lipschitz())
    assert M * max(ra + ea, rb + eb) / mu <= mu0 / 2.0, "the curvature bound does not hold up to θ*"
    return (ra + ea + rb + eb) / mu + 4.0 * EPS * (np.linalg.norm(Ta) + np.linalg.norm(Tb))


def assert_same_optimum(a: Risk, sol_a: tuple[np.ndarray, np.ndarray], b: Risk, sol_b: tuple[np.ndarray, np.ndarray],
                        *, tol: float, f_test: bool = False) -> float:
    """‖θ_a − θ_b‖₂ within :func:`solution_bound` (class-centred softmax intercepts); returns the bound."""
    bound = solution_bound(a, sol_a, b, sol_b, tol=tol, f_test=f_test)
    gap = float(np.linalg.norm(a.theta(sol_a) - b.theta(sol_b)))
    assert gap <= bound, f"the solutions differ by {gap:.3g} (2-norm), more than their solvers allow: {bound:.3g}"
    return bound


def assert_same_outputs(X: np.ndarray, out_a: np.ndarray, out_b: np.ndarray, a: Risk,
                        sol_a: tuple[np.ndarray, np.ndarray], b: Risk, sol_b: tuple[np.ndarray, np.ndarray],
                        *, tol: float, f_test: bool = False) -> None:
    """Outputs X·W + b of two solutions of one risk agree to ‖x̃ᵢ‖₂ × :func:`solution_bound` (plus their
    rounding); softmax outputs compared class-centred, as their intercepts are."""
    bound = assert_same_optimum(a, sol_a, b, sol_b, tol=tol, f_test=f_test)
    Xt = np.hstack([X, np.ones((len(X), 1))]) if a.fit_intercept else np.asarray(X, dtype=np.float64)
    out_a, out_b = (np.asarray(o, dtype=np.float64).reshape(len(X), -1) for o in (out_a, out_b))
    if a.shift:
        out_a, out_b = out_a - out_a.mean(1, keepdims=True), out_b - out_b.mean(1, keepdims=True)
    rounding = a.c * EPS * (np.abs(Xt) @ (np.abs(a.theta(sol_a)) + np.abs(b.theta(sol_b))))
    allowed = np.linalg.norm(Xt, axis=1)[:, None] * bound + rounding
    assert np.all(np.abs(out_a - out_b) <= allowed), (
        f"outputs differ by {np.abs(out_a - out_b).max():.3g}, more than their solvers allow ({allowed.min():.3g}+)")
