"""reglab's performance harness: ours against the reference, side by side in one run; writes RESULTS.md.

Each case times ours and the reference alternately (medians of ``--repeats`` runs, after a warm-up)
and reports ratio = ours / reference with its target. Solvers that stop on a tolerance are each
timed at the loosest tolerance of a common ladder that reaches the case's relative objective gap
(measured against the best of tight runs of both), so both sides give the same answer.

Usage::

    .venv/bin/python benchmarks/run.py [--repeats 5] [--cases tiny,mlp,bandwidth,lasso,path,logistic,ridge]
                                       [--others] [--threads N] [--out benchmarks/RESULTS.md]

``make bench`` runs it with the defaults. ``--others`` also runs the other issues' benchmark
scripts (recording overhead, batched sweeps) when they exist.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    Row,
    lasso_objective,
    load_average,
    logistic_classification,
    logistic_objective,
    loosest_reaching,
    machine_header,
    relative_gap,
    ridge_objective,
    sparse_regression,
    time_best_of,
    time_once,
    write_atomic,
)

import reglab  # noqa: E402
from reglab import solvers  # noqa: E402

HERE = Path(__file__).resolve().parent
CMD = ".venv/bin/python benchmarks/run.py --cases {}"
GAP = 1e-6


def _us(s: float) -> str:
    return f"{s * 1e6:.1f} µs"


def _s(s: float) -> str:
    return f"{s:.3f} s" if s >= 0.1 else f"{s * 1e3:.1f} ms"


# -- 1. tiny problem ------------------------------------------------------------------------------


def case_tiny(repeats: int) -> list[Row]:
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((200, 10)))
    y = X @ torch.tensor(rng.standard_normal(10)) + 0.5 * torch.tensor(rng.standard_normal(200))
    steps, lr = 20_000, 0.05
    yc = y.reshape(-1, 1)

    def ours() -> float:
        return reglab.fit("linear", (X, y), lr=lr, steps=steps).elapsed / steps

    def ref() -> float:
        w = torch.zeros(10, 1, dtype=torch.float64)
        b = torch.zeros(1, dtype=torch.float64)
        c = 2.0 * lr / len(X)
        t0 = time.perf_counter()
        for _ in range(steps):
            r = torch.addmm(b, X, w).sub_(yc)
            w.sub_(X.T @ r, alpha=c)
            b.sub_(r.sum(0), alpha=c)
        return (time.perf_counter() - t0) / steps

    a, b = _median_pair(ours, ref, repeats)
    return [Row("1. tiny 200×10 float64, GD step via fit() (default logging: 1,000 entries)", _us(a),
                f"{_us(b)} hand-written torch step", a / b, "≤ 2", a / b <= 2.0, CMD.format("tiny"),
                "fast path: Gram form, no autograd; fit's elapsed includes its logged steps")]


def _median_pair(ours: Callable[[], float], ref: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Medians of self-timed per-step costs, alternating (one warm-up each)."""
    ours(), ref()
    a, b = [], []
    for _ in range(repeats):
        a.append(ours())
        b.append(ref())
    return float(np.median(a)), float(np.median(b))


# -- 2. MLP step --------------------------------------------------------------------------------------


def case_mlp(repeats: int) -> list[Row]:
    rng = np.random.default_rng(1)
    X = torch.tensor(rng.standard_normal((2000, 50)), dtype=torch.float32)
    y = X[:, :5].sum(1) + 0.1 * torch.tensor(rng.standard_normal(2000), dtype=torch.float32)
    steps, lr = 400, 0.01
    rows = []
    for label, log_every in (("default logging (every step)", None), ("log_every=steps", steps)):
        def ours(log_every: int | None = log_every) -> float:
            return reglab.fit("mlp", (X, y), optimizer="gd", lr=lr, steps=steps, log_every=log_every,
                              model_args={"hidden": [64]}).elapsed / steps

        def ref() -> float:
            model = reglab.models.mlp(50, [64], 1, generator=torch.Generator().manual_seed(0))
            opt = torch.optim.SGD(model.parameters(), lr=lr)
            yc = y.reshape(-1, 1)
            t0 = time.perf_counter()
            for _ in range(steps):
                opt.zero_grad()
                loss = (model(X) - yc).square().mean()
                loss.backward()
                opt.step()
            return (time.perf_counter() - t0) / steps

        a, b = _median_pair(ours, ref, repeats)
        rows.append(Row(f"2. MLP 50→64→1, 2000 samples float32, step via fit(), {label}", _us(a),
                        f"{_us(b)} autograd + torch.optim.SGD loop", a / b, "≤ 1.05", a / b <= 1.05,
                        CMD.format("mlp"), "plain autograd path (Regularized, logging)"))
    return rows


# -- 3. data pass bandwidth ----------------------------------------------------------------------------


def case_bandwidth(repeats: int) -> list[Row]:
    rows = []
    n, p, steps = 100_000, 1000, 20
    for dtype in (torch.float32, torch.float64):
        gen = torch.Generator().manual_seed(0)
        X = torch.randn(n, p, generator=gen, dtype=dtype)
        y = (X[:, 0] > 0).to(dtype)
        nbytes = X.numel() * X.element_size()

        def ours() -> float:
            # logistic: no Gram form, so each GD step reads X twice (X·w and Xᵀr)
            res = reglab.fit("logistic", (X, y), lr=0.1, steps=steps, log_every=10**9, dtype=dtype)
            return res.elapsed / steps

        def ref() -> float:
            t0 = time.perf_counter()
            for _ in range(5):
                X.sum()
            return (time.perf_counter() - t0) / 5

        a, b = _median_pair(ours, ref, repeats)
        bw_ours, bw_ref = 2 * nbytes / a, nbytes / b
        ratio = (a / 2) / b  # time per pass over X, ours / reference
        rows.append(Row(f"3. data pass 100000×1000 {str(dtype).split('.')[-1]}, logistic GD step via fit()",
                        f"{bw_ours / 1e9:.1f} GB/s ({_s(a)}/step, X read twice)",
                        f"{bw_ref / 1e9:.1f} GB/s torch X.sum() on {torch.get_num_threads()} threads", ratio,
                        "≤ 1.11 (≥ 0.9× read bandwidth)", ratio <= 1 / 0.9, CMD.format("bandwidth"),
                        "elapsed includes 2 logged loss evaluations (1 pass each) over 20 steps; on the CPU the "
                        "gradient reads X from memory once (fused row blocks), the ratio counts it as read twice"))
        del X, y
    return rows


def _time_with_estimator(refs: dict, ours, estimator, repeats: int) -> tuple[float, float | None, str, float, dict]:
    """Time ours, the estimators' solver (None: it never reached the gap) and the reference candidates
    together; returns (ours, estimator, best reference's name, its time, the references' times)."""
    cands = {**refs, "ours": ours}
    if estimator is not None:
        cands["estimator"] = estimator
    times = time_best_of(cands, repeats)
    t_o = times.pop("ours")
    t_e = times.pop("estimator", None)
    ref_name = min(times, key=times.get)
    return t_o, t_e, ref_name, times[ref_name], times


# -- 4. & 5. lasso --------------------------------------------------------------------------------------


def _lasso_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The correlated design, the path grid (64 λ, sklearn's), and the λ with about 10% non-zeros."""
    from sklearn.linear_model import lasso_path

    X, y = sparse_regression(20_000, 500, 0.9, 50, 1.0, seed=0)
    Xc, yc = X - X.mean(0), y - y.mean()
    alphas, coefs, _ = lasso_path(Xc, yc, alphas=64, eps=1e-3, tol=1e-6)
    nnz = (coefs != 0).sum(0)
    alpha = float(alphas[int(np.argmin(np.abs(nnz - 50)))])
    return X, y, alphas, alpha


def case_lasso(repeats: int, data: tuple) -> list[Row]:
    from sklearn.linear_model import Lasso

    X, y, _, alpha = data
    lam = 2.0 * alpha  # sklearn: ‖r‖²/(2n) + α‖w‖₁ is half of reglab's mean r² + λ‖w‖₁ at λ = 2α
    tight_ref = Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000, precompute=True).fit(X, y)
    tight_ours = solvers.fista(X, y, l1=lam, tol=1e-13, max_iter=200_000)
    best = min(lasso_objective(X, y, tight_ref.coef_, tight_ref.intercept_, lam),
               lasso_objective(X, y, tight_ours.coef, tight_ours.intercept, lam))
    nnz = int((tight_ref.coef_ != 0).sum())

    def ours_at(tol: float):
        return lambda: solvers.fista(X, y, l1=lam, tol=tol, max_iter=200_000)

    def sk_at(tol: float, pre: bool):
        return lambda: Lasso(alpha=alpha, tol=tol, max_iter=1_000_000, precompute=pre).fit(X, y)

    def gap_ours(tol: float) -> float:
        s = ours_at(tol)()
        return relative_gap(lasso_objective(X, y, s.coef, s.intercept, lam), best)

    def gap_sk(tol: float, pre: bool) -> float:
        m = sk_at(tol, pre)()
        return relative_gap(lasso_objective(X, y, m.coef_, m.intercept_, lam), best)

    t_ours, g_ours = loosest_reaching(gap_ours, GAP)
    cands: dict[str, Callable] = {}
    chosen: dict[str, tuple[float, float]] = {}
    for pre in (False, True):
        t, g = loosest_reaching(lambda tol, pre=pre: gap_sk(tol, pre), GAP)
        if t is not None:
            cands[f"Lasso(precompute={pre}, tol={t:g})"] = sk_at(t, pre)
            chosen[f"Lasso(precompute={pre}, tol={t:g})"] = (t, g)
    if t_ours is None or not cands:
        return [Row("4. lasso AR(1) ρ=0.9 20000×500", "did not reach gap", "", None, "≤ 1.0", False, CMD.format("lasso"))]

    # the estimators' default solver (reglab.sklearn): the exact active-set method on the Gram form
    def est_at(tol: float):
        return lambda: solvers.solve_linear(X, y, loss="squared", alpha=lam, l1_ratio=1.0, tol=tol, max_iter=10_000)

    def gap_est(tol: float) -> float:
        s = est_at(tol)()
        return relative_gap(lasso_objective(X, y, s.coef.ravel(), float(s.intercept[0]), lam), best)

    t_est, g_est = loosest_reaching(gap_est, GAP)
    t_o, t_e, ref_name, t_r, times = _time_with_estimator(cands, ours_at(t_ours),
                                                           None if t_est is None else est_at(t_est), repeats)
    others = "; ".join(f"{k}: {_s(v)}" for k, v in times.items())
    label = f"4. lasso AR(1) ρ=0.9 20000×500, {nnz} non-zeros, to 1e-6 relative gap"
    ref_txt = f"{_s(t_r)} {ref_name} (gap {chosen[ref_name][1]:.1e})"
    return [Row(label, f"{_s(t_o)} solvers.fista (Gram + restart, tol={t_ours:g}, gap {g_ours:.1e})",
                ref_txt, t_o / t_r, "≤ 1.0", t_o / t_r <= 1.0,
                CMD.format("lasso"), f"sklearn configs: {others}; time includes Gram build and eigvalsh"),
            Row(label, "did not reach gap" if t_e is None else
                f"{_s(t_e)} reglab.solvers.solve_linear (estimators' solver: active set on the Gram form, "
                f"tol={t_est:g}, gap {g_est:.1e})", ref_txt, None if t_e is None else t_e / t_r, "≤ 1.0",
                t_e is not None and t_e / t_r <= 1.0, CMD.format("lasso"),
                "time includes centring and the Gram build (what Lasso(precompute=True) also does)")]


def case_path(repeats: int, data: tuple) -> list[Row]:
    from sklearn.linear_model import lasso_path

    X, y, alphas, _ = data
    Xc, yc = X - X.mean(0), y - y.mean()  # lasso_path fits no intercept: both sides on centred data
    lams = 2.0 * alphas
    _, ref_coefs, _ = lasso_path(Xc, yc, alphas=alphas, tol=1e-13, max_iter=1_000_000)
    ours_tight = solvers.fista_path(Xc, yc, lams, fit_intercept=False, tol=1e-13, max_iter=200_000)
    best = np.array([min(lasso_objective(Xc, yc, ref_coefs[:, i], 0.0, lams[i]),
                         lasso_objective(Xc, yc, ours_tight[i].coef, 0.0, lams[i])) for i in range(len(lams))])

    def worst(coefs: list[np.ndarray]) -> float:
        return max(relative_gap(lasso_objective(Xc, yc, c, 0.0, lams[i]), best[i]) for i, c in enumerate(coefs))

    def ours_at(tol: float):
        return lambda: solvers.fista_path(Xc, yc, lams, fit_intercept=False, tol=tol, max_iter=200_000)

    def sk_at(tol: float, pre: Any):
        return lambda: lasso_path(Xc, yc, alphas=alphas, tol=tol, max_iter=1_000_000, precompute=pre)

    t_ours, g_ours = loosest_reaching(lambda tol: worst([s.coef for s in ours_at(tol)()]), GAP)
    cands: dict[str, Callable] = {}
    gaps = {}
    for pre in ("auto", True):
        t, g = loosest_reaching(lambda tol, pre=pre: worst(list(sk_at(tol, pre)()[1].T)), GAP)
        if t is not None:
            cands[f"lasso_path(precompute={pre}, tol={t:g})"] = sk_at(t, pre)
            gaps[f"lasso_path(precompute={pre}, tol={t:g})"] = g
    if t_ours is None or not cands:
        return [Row("5. lasso path 64 λ", "did not reach gap", "", None, "≤ 1.0", False, CMD.format("path"))]

    # the estimators' path (reglab.sklearn.regularization_path): active set, support carried from λ to λ
    def est_at(tol: float):
        return lambda: solvers.linear.path_solutions(Xc, yc, loss="squared", alphas=lams, l1_ratio=1.0,
                                                     penalty_factor=np.ones(X.shape[1]), fit_intercept=False,
                                                     tol=tol, max_iter=10_000)[0][:, :, 0]

    t_est, g_est = loosest_reaching(lambda tol: worst(list(est_at(tol)())), GAP)
    t_o, t_e, ref_name, t_r, times = _time_with_estimator(cands, ours_at(t_ours),
                                                           None if t_est is None else est_at(t_est), repeats)
    label = "5. lasso path, 64 λ (α_max·[1, 1e-3]), AR(1) 20000×500, worst relative gap 1e-6"
    ref_txt = f"{_s(t_r)} {ref_name} (worst gap {gaps[ref_name]:.1e})"
    notes = "; ".join(f"{k}: {_s(v)}" for k, v in times.items())
    return [Row(label, f"{_s(t_o)} solvers.fista_path (warm starts, one Gram, tol={t_ours:g}, worst gap {g_ours:.1e})",
                ref_txt, t_o / t_r, "≤ 1.0", t_o / t_r <= 1.0, CMD.format("path"), notes),
            Row(label, "did not reach gap" if t_e is None else
                f"{_s(t_e)} reglab.solvers.linear.path_solutions (estimators' path: active set, warm supports, one Gram, "
                f"tol={t_est:g}, worst gap {g_est:.1e})", ref_txt, None if t_e is None else t_e / t_r, "≤ 1.0",
                t_e is not None and t_e / t_r <= 1.0, CMD.format("path"), notes)]


# -- 6. logistic and ridge -------------------------------------------------------------------------------


LOGISTIC_TOLS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)


def case_logistic(repeats: int) -> list[Row]:
    from sklearn.linear_model import LogisticRegression

    X, y = logistic_classification(20_000, 500, 0.5, seed=3)
    n = len(X)
    rows = []
    C = 0.1
    specs = [
        # (label, l1, l2, fit_intercept, sklearn kwargs)
        ("L2-logistic (C=0.1 ⇔ λ₂=1/(2Cn)), intercept", 0.0, 1.0 / (2 * C * n), True,
         dict(C=C, solver="lbfgs")),
        ("L1-logistic (C=0.1 ⇔ λ₁=1/(Cn)), no intercept (liblinear penalizes it)", 1.0 / (C * n), 0.0, False,
         dict(C=C, l1_ratio=1.0, solver="liblinear", fit_intercept=False)),
    ]
    for label, l1, l2, fi, skw in specs:
        def obj(coef: np.ndarray, b: float) -> float:
            return logistic_objective(X, y, np.ravel(coef), float(np.ravel([b])[0]), l1, l2)

        def sk_at(tol: float, skw=skw):
            return lambda: LogisticRegression(tol=tol, max_iter=100_000, **skw).fit(X, y)

        def fista_at(tol: float, l1=l1, l2=l2, fi=fi):
            return lambda: solvers.fista(X, y, loss="logistic", l1=l1, l2=l2, fit_intercept=fi, tol=tol,
                                         max_iter=1000)

        rho = 1.0 if l1 > 0 else 0.0

        def est_at(tol: float, fi=fi, rho=rho, lam=max(l1, l2)):
            return lambda: solvers.solve_linear(X, y, loss="logistic", alpha=lam, l1_ratio=rho, fit_intercept=fi,
                                                tol=tol, max_iter=1000)

        # F*: a tight sklearn run (computed once, untimed), lowered by any better objective seen below;
        # each solver's ladder runs are timed once (the logistic fits are too slow here to repeat the
        # whole ladder). liblinear at tol 1e-10 does not finish in minutes on this problem; its 1e-8
        # run is certified below by a duality gap (L1) and by agreement with the other solvers.
        ref_tol = REF_TOL[skw["solver"]]
        ref_tight = LogisticRegression(tol=ref_tol, max_iter=100_000, **skw).fit(X, y)
        ref_value = obj(*_skc(ref_tight, fi))
        best = ref_value
        print(f"      {label[:12]} tight reference tol={ref_tol:g}: objective {ref_value:.12g}", flush=True)
        seen: dict[str, list[tuple[float, float, float]]] = {}
        for key, make, unpack in (("ref", sk_at, lambda m: _skc(m, fi)), ("fista", fista_at, _fc),
                                  ("estimator", est_at, _ec)):
            seen[key] = []
            for tol in LOGISTIC_TOLS:
                t, res = time_once(make(tol))
                value = obj(*unpack(res))
                best = min(best, value)
                seen[key].append((tol, t, value))
                print(f"      {label[:12]} {key} tol={tol:g}: {t:.2f} s, objective {value:.12g}", flush=True)
                if relative_gap(value, best) <= GAP / 10 or getattr(res, "converged", True) is False:
                    break  # close enough, or hit max_iter (a tighter tol cannot do better)
        chosen = {}
        for key, runs in seen.items():
            ok = [(tol, t, relative_gap(v, best)) for tol, t, v in runs if relative_gap(v, best) <= GAP]
            chosen[key] = ok[0] if ok else None
        # the tight reference must sit well inside the gap measured against it: within GAP/10 of the
        # best objective any solver reached, and (L1, no intercept) a duality-gap certificate ≤ GAP/10
        ref_check = relative_gap(ref_value, best)
        cert = _l1_logistic_duality_gap(X, y, np.ravel(ref_tight.coef_), l1) if l1 > 0 and not fi else None
        ref_ok = ref_check <= GAP / 10 and (cert is None or cert <= GAP / 10)
        ref_note = (f"tight reference {skw['solver']} tol={ref_tol:g}: {ref_check:.1e} above the best objective seen"
                    + ("" if cert is None else f", relative duality gap {cert:.1e} (certified suboptimality)")
                    + ("" if ref_ok else " — NOT tighter than GAP/10: gaps below are unreliable"))
        ref = chosen["ref"]
        ref_txt = "did not reach gap" if ref is None else \
            f"{_s(ref[1])} LogisticRegression({skw['solver']}, tol={ref[0]:g}, gap {ref[2]:.1e})"
        for key, name in (("fista", "solvers.fista (restart)"),
                          ("estimator", "reglab.solvers.solve_linear (estimators' solver)")):
            c = chosen[key]
            ratio = None if c is None or ref is None else c[1] / ref[1]
            rows.append(Row(f"6. {label} 20000×500 AR(1) ρ=0.5, to 1e-6", "did not reach gap (ladder to "
                            f"tol={LOGISTIC_TOLS[-1]:g}, max_iter=1000)" if c is None else
                            f"{_s(c[1])} {name} (tol={c[0]:g}, gap {c[2]:.1e})", ref_txt, ratio, "≤ 1.0",
                            None if ratio is None or not ref_ok else ratio <= 1.0, CMD.format("logistic"),
                            f"single timed run per setting; {ref_note}"))
    return rows


REF_TOL = {"lbfgs": 1e-10, "liblinear": 1e-8}


def _l1_logistic_duality_gap(X: np.ndarray, y: np.ndarray, coef: np.ndarray, l1: float) -> float:
    """Relative duality gap of mean NLL + l1·‖w‖₁ (no intercept) at ``coef``: a bound on its suboptimality.

    Dual point: θ = y − σ(Xw) scaled by c = min(1, n·l1/‖Xᵀθ‖∞) so that ‖Xᵀθ‖∞ ≤ n·l1; with
    s = y − cθ ∈ [0, 1], D = −Σ [s log s + (1 − s) log(1 − s)] and n·P(w) − D ≥ n·(P(w) − P*).
    """
    from scipy.special import expit, xlogy

    n = len(y)
    z = X @ coef
    theta = y - expit(z)
    c = min(1.0, n * l1 / max(np.abs(X.T @ theta).max(), 1e-300))
    s = y - c * theta
    dual = -float(np.sum(xlogy(s, s) + xlogy(1 - s, 1 - s)))
    primal = n * logistic_objective(X, y, coef, 0.0, l1, 0.0)
    return (primal - dual) / abs(primal)


def _skc(m, fi):
    return m.coef_, (m.intercept_ if fi else 0.0)


def _fc(s):
    return s.coef, s.intercept


def _ec(s):
    return s.coef, s.intercept


def case_ridge(repeats: int, data: tuple) -> list[Row]:
    from sklearn.linear_model import Ridge

    X, y, _, _ = data
    n = len(X)
    lam = 1e-2
    ref_exact = Ridge(alpha=n * lam, solver="cholesky").fit(X, y)
    best = ridge_objective(X, y, ref_exact.coef_, ref_exact.intercept_, lam)
    cands: dict[str, Callable] = {}
    for solver in ("cholesky", "svd", "lsqr", "sparse_cg"):
        def run(tol: float, solver=solver):
            return lambda: Ridge(alpha=n * lam, solver=solver, tol=tol).fit(X, y)

        t, g = loosest_reaching(lambda tol: relative_gap(ridge_objective(X, y, *_skc(run(tol)(), True), lam), best), GAP)
        if t is not None:
            cands[f"Ridge({solver}, tol={t:g})"] = run(t)
    cands["ours"] = lambda: solvers.ridge_solve(X, y, lam)
    cands["estimator"] = lambda: solvers.solve_linear(X, y, loss="squared", alpha=lam, l1_ratio=0.0)
    s = cands["ours"]()
    g_ours = relative_gap(ridge_objective(X, y, s.coef, s.intercept, lam), best)
    times = time_best_of(cands, repeats)
    t_o, t_e = times.pop("ours"), times.pop("estimator")
    ref_name = min(times, key=times.get)
    t_r = times[ref_name]
    others = "; ".join(f"{k}: {_s(v)}" for k, v in times.items())
    return [Row("6. ridge 20000×500 AR(1) (λ=1e-2 ⇔ alpha=nλ)", f"{_s(t_o)} solvers.ridge_solve (Cholesky, gap {g_ours:.1e})",
                f"{_s(t_r)} {ref_name}", t_o / t_r, "≤ 1.0", t_o / t_r <= 1.0, CMD.format("ridge"), others),
            Row("6. ridge, the estimators' solver", f"{_s(t_e)} reglab.solvers.solve_linear (Cholesky on the Gram form)",
                f"{_s(t_r)} {ref_name}", t_e / t_r, "≤ 1.0", t_e / t_r <= 1.0, CMD.format("ridge"), "")]


# -- 7. the other issues' benchmarks ------------------------------------------------------------------------

OTHERS = [
    ("7. batched K = 64 (sweeps issue)", "bench_sweep.py", "RESULTS_sweep.md"),
    ("7. recording overhead (observatory issue)", "bench_record.py", "RESULTS_record.md"),
    ("estimators (sklearn issue)", "bench_sklearn.py", "RESULTS_sklearn.md"),
    ("lasso against skglm and celer (issue #17; the bench extra)", "bench_peers.py", "RESULTS_peers.md"),
]


def others(run_them: bool) -> list[str]:
    lines = []
    for label, script, results in OTHERS:
        if not (HERE / script).exists():
            lines.append(f"- {label}: `benchmarks/{script}` does not exist yet.")
            continue
        if run_them:
            proc = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True, check=False)
            status = "ran" if proc.returncode == 0 else f"failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
        else:
            status = "not run by this invocation (pass --others)"
        have = (HERE / results).exists()
        lines.append(f"- {label}: `.venv/bin/python benchmarks/{script}` — {status}; results: "
                     + (f"[{results}]({results})" if have else f"{results} not written yet"))
    return lines


_LOAD_TAG = "(run's load average at start: "


def _row_case(command: str) -> str | None:
    """The ``--cases`` name in a row's command (``None`` when it has none)."""
    parts = command.split("--cases ", 1)
    return parts[1].split()[0].strip("`") if len(parts) == 2 else None


def _earlier(path: Path, cases: list[str]) -> tuple[dict[str, list[str]], str]:
    """Table rows of an existing RESULTS.md for the cases *not* run now, by case, and its load line.

    A run of some cases (``--cases logistic``) then replaces only their rows and keeps the others,
    marked as measured by an earlier run.
    """
    kept: dict[str, list[str]] = {}
    load = ""
    if not path.exists():
        return kept, load
    for line in path.read_text().splitlines():
        if line.startswith("- load average") and not load:
            load = line[2:]
        if not line.startswith("| ") or "`.venv/bin/python benchmarks/run.py --cases " not in line:
            continue
        case = _row_case(line)
        if case in CASES and case not in cases:
            if _LOAD_TAG not in line:  # a row from before rows carried their run's load
                line = f"{line[:-2]}; {_LOAD_TAG}{load.split('at start: ')[-1].split(';')[0] or 'not recorded'}) |"
            kept.setdefault(case, []).append(line)
    return kept, load


def _write(args: argparse.Namespace, rows: list[Row], load_start: str, t0: float, done: bool,
           kept: dict[str, list[str]] | None = None, kept_load: str = "") -> None:
    kept = kept or {}
    state = "complete" if done else "in progress (a cut-off run: the cases below are those measured)"
    new: dict[str | None, list[str]] = {}
    for r in rows:  # each row names its run's load, so rows kept across runs keep their own
        line = r.markdown()
        new.setdefault(_row_case(r.command), []).append(f"{line[:-2]}; {_LOAD_TAG}{load_start.split(';')[0]}) |")
    table = [line for case in CASES for line in (kept.get(case, []) if case in kept else new.get(case, []))]
    table += [line for case, lines in new.items() if case not in CASES for line in lines]
    provenance = ([f"- rows of case(s) {', '.join(c for c in CASES if c in kept)} kept from earlier runs "
                   "(not re-measured by this invocation; each row's notes give its run's load average)"]
                  if kept else [])
    lines = ["# reglab benchmarks", "",
             "Generated by `make bench` (`.venv/bin/python benchmarks/run.py`); do not edit by hand. "
             "ratio = reglab time / reference time, medians of alternating runs in one process.", "",
             *machine_header(),
             f"- load average (1/5/15 min) at start: {load_start}; at last write: {load_average()} "
             "(the machine is shared: other engineers' test runs load its cores)",
             f"- threads (torch and BLAS, both sides): {args.threads}",
             f"- repeats: {args.repeats}; run {state} (cases {', '.join(args.case_list)}); "
             f"wall time so far {time.perf_counter() - t0:.0f} s",
             *provenance, "",
             "| case | ours | reference | ratio | target | met? | command | notes |",
             "|---|---|---|---|---|---|---|---|",
             *table, "",
             "## Other issues' cases", "", *others(args.others and done), ""]
    write_atomic(args.out, "\n".join(lines))


CASES = ("tiny", "mlp", "bandwidth", "lasso", "path", "ridge", "logistic")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--others", action="store_true", help="also run the other issues' benchmark scripts")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="torch and BLAS threads for both sides (default: torch's)")
    args = ap.parse_args(argv)
    import threadpoolctl

    torch.set_num_threads(args.threads)
    threadpoolctl.threadpool_limits(args.threads)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        ap.error(f"unknown case(s) {sorted(unknown)}; choose from {', '.join(CASES)}")
    args.case_list = cases
    kept, kept_load = _earlier(args.out, cases)
    load_start = load_average()
    t0 = time.perf_counter()
    rows: list[Row] = []
    data = _lasso_data() if {"lasso", "path", "ridge"} & set(cases) else None
    for case in cases:
        print(f"[bench] {case} ...", flush=True)
        if case == "tiny":
            rows += case_tiny(args.repeats)
        elif case == "mlp":
            rows += case_mlp(args.repeats)
        elif case == "bandwidth":
            rows += case_bandwidth(max(3, args.repeats // 2))
        elif case == "lasso":
            rows += case_lasso(args.repeats, data)
        elif case == "path":
            rows += case_path(max(3, args.repeats // 2), data)
        elif case == "logistic":
            rows += case_logistic(max(3, args.repeats // 2))
        elif case == "ridge":
            rows += case_ridge(args.repeats, data)
        print("   ", rows[-1].markdown(), flush=True)
        _write(args, rows, load_start, t0, done=False, kept=kept, kept_load=kept_load)  # after every case: a cut-off run keeps what it measured
    _write(args, rows, load_start, t0, done=True, kept=kept, kept_load=kept_load)
    print(f"[bench] wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
