"""L-BFGS(-B) on the smooth objective, and on the split form W = U − V of an L1 problem (SciPy)."""

from __future__ import annotations

import numpy as np
import scipy.optimize

from reglab.solvers.design import Design, kkt_violation

__all__ = ["solve_lbfgs", "solve_lbfgs_split"]


def solve_lbfgs_split(d: Design, lam: float, rho: float, f: np.ndarray, W0: np.ndarray, b0: np.ndarray,
                      max_iter: int) -> tuple[np.ndarray, np.ndarray, int]:
    """L-BFGS-B on W = U − V with U, V ≥ 0: a smooth, bound-constrained form of the L1 problem.

    Quasi-Newton steps cope with ill-conditioned designs where first-order methods crawl; the
    result warm-starts FISTA, which makes the zeros exact and certifies optimality.
    """
    F = f[:, None]
    nW = d.p * d.k
    l1, l2 = lam * rho * F, lam * (1.0 - rho) * F

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        U = theta[:nW].reshape(d.p, d.k)
        V = theta[nW:2 * nW].reshape(d.p, d.k)
        b = theta[2 * nW:] if d.free_b else np.zeros(d.k)
        W = U - V
        value, gW, gb = d.loss_grad(W, b)
        value += float(np.sum(l1 * (U + V)) + np.sum(l2 * W * W))
        gW = gW + 2.0 * l2 * W
        return value, np.concatenate([(gW + l1).ravel(), (-gW + l1).ravel(), gb if d.free_b else []])

    theta0 = np.concatenate([np.maximum(W0, 0).ravel(), np.maximum(-W0, 0).ravel(), b0 if d.free_b else []])
    bounds = [(0.0, None)] * (2 * nW) + [(None, None)] * (d.k if d.free_b else 0)
    res = scipy.optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                                  options={"maxiter": max_iter, "gtol": 0.0, "ftol": 1e-15, "maxcor": 20})
    W = res.x[:nW].reshape(d.p, d.k) - res.x[nW:2 * nW].reshape(d.p, d.k)
    b = res.x[2 * nW:] if d.free_b else np.zeros(d.k)
    return W, b, int(res.nit)


def solve_lbfgs(d: Design, lam: float, f: np.ndarray, W0: np.ndarray, b0: np.ndarray, tol: float, max_iter: int,
                scale: float) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """L-BFGS-B on the smooth objective: the design's loss + Σ λ·f_j·W_jk² (an L2 penalty or none).

    Stops when the gradient's largest entry is at most ``tol·scale``. Returns W (p, k), b (k,),
    iterations and whether the optimality measure
    (:func:`~reglab.solvers.design.kkt_violation`) met ``tol·scale`` (or L-BFGS-B reported success).
    """
    F = f[:, None]
    nW = d.p * d.k

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta[:nW].reshape(d.p, d.k)
        b = theta[nW:] if d.free_b else np.zeros(d.k)
        value, gW, gb = d.loss_grad(W, b)
        value += lam * float(np.sum(F * W * W))
        gW = gW + 2.0 * lam * F * W
        return value, np.concatenate([gW.ravel(), gb if d.free_b else []])

    theta0 = np.concatenate([W0.ravel(), b0 if d.free_b else []])
    res = scipy.optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B",
                                  options={"maxiter": max_iter, "gtol": tol * scale, "ftol": 0.0, "maxcor": 20})
    W = res.x[:nW].reshape(d.p, d.k)
    b = res.x[nW:] if d.free_b else np.zeros(d.k)
    _, gW, gb = d.loss_grad(W, b)
    converged = kkt_violation(W, gW, gb, lam, 0.0, f, d.free_b) <= tol * scale * 1.0001
    return W, b, int(res.nit), bool(converged or res.status == 0)
