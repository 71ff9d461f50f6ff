"""``weak-dependence``: a weight the output depends on weakly converges slowly (steps ~ 1/scale²)."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from reglab.claims.base import (
    DOES_NOT_HOLD,
    HOLDS,
    INCONCLUSIVE,
    BatchedLinear,
    ClaimResult,
    RunConfig,
    command_for,
    figure_from_matplotlib,
    fmt,
    new_figure,
    run_hand_loop,
    squared_sum_over_members,
)
from reglab.penalties import L2

ID = "weak-dependence"
TITLE = "A weakly-used weight learns slowly; L2 bounds the wait"
STATEMENT = ("A weight the output depends on only weakly (its feature has a small scale s) moves toward its optimum "
             "slowly: the steps gradient descent needs grow like 1/s² (a log-log slope of about −2). With L2(λ) "
             "the steps are bounded by about 1/(2ηλ).")
# Verdict rule:
#   "inconclusive" if a run did not converge within its step budget;
#   "holds" if the log-log slope of steps against s, fitted over the scales in the small-step regime
#   (2ηs² ≤ SMALL_STEP), is within SLOPE_TOL of −2, and with L2 every run converged within
#   BOUND_SLACK × ln(1/TOL)/(2ηλ) steps; "does not hold" otherwise.
TOL = 1e-2
SMALL_STEP = 0.1
SLOPE_TOL = 0.25
BOUND_SLACK = 1.1
RULE = (f"holds if the log-log slope of steps-to-converge (error ≤ {TOL:g}·initial) against s, over scales with "
        f"2ηs² ≤ {SMALL_STEP:g}, is −2 ± {SLOPE_TOL:g} and every L2 run converged within {BOUND_SLACK:g}·ln(1/{TOL:g})/(2ηλ) "
        "steps; inconclusive if a run did not converge; does not hold otherwise")


def _steps_to_converge(err: np.ndarray) -> int | None:
    """First step after which the error stays ≤ TOL × its initial value (None if it never does)."""
    above = np.nonzero(err > TOL * err[0])[0]
    last = int(above[-1]) if len(above) else -1
    return None if last == len(err) - 1 else last + 1


def run(config: RunConfig) -> ClaimResult:
    """Steps to converge for the weak weight, across feature scales, without and with L2."""
    t0 = time.perf_counter()
    scales = [1.0, 0.5, 0.25, 0.125] if config.quick else [1.0, 0.5, 0.25, 0.125, 0.0625]
    lr, lam, n, noise = 0.4, 0.05, 200, 0.1
    rng = np.random.default_rng(config.seed)
    Z = rng.normal(size=(n, 2))
    eps = noise * rng.normal(size=n)
    K = len(scales)
    Xs = np.stack([Z * np.array([1.0, s]) for s in scales] * 2)            # (2K, n, 2)
    ys = np.stack([x @ np.ones(2) + eps for x in Xs])                        # (2K, n)
    strengths = [0.0] * K + [lam] * K
    targets = []
    for X, y, st in zip(Xs, ys, strengths):                                   # the optimum of each member
        targets.append(np.linalg.solve(X.T @ X / n + st * np.eye(2), X.T @ y / n)[1])
    targets_a = np.array(targets)
    w_init = torch.as_tensor(rng.normal(scale=0.5, size=2), dtype=torch.float64)
    model = BatchedLinear(w_init.expand(2 * K, 2).clone())
    mask = torch.zeros(2 * K, 2, dtype=torch.bool)
    mask[K:] = True
    X_t, y_t = torch.as_tensor(Xs), torch.as_tensor(ys)
    budget = int(1.5 * math.log(1 / TOL) / (2 * lr * min(scales) ** 2)) + 10

    def done(w: torch.Tensor) -> bool:
        err = np.abs(w.numpy() - targets_a)
        return bool(np.all(err <= TOL * np.abs(float(w_init[1]) - targets_a) * 0.5))

    path = run_hand_loop(model, lambda m: squared_sum_over_members(m(X_t), y_t), [L2(lam, on={"weight": mask})],
                         torch.optim.SGD(model.parameters(), lr=lr), budget, lambda m: m.weight[:, 1], stop=done)
    err = np.abs(path - targets_a)
    rows = []
    for k, (s, st) in enumerate(zip(scales * 2, strengths)):
        steps = _steps_to_converge(err[:, k])
        rows.append({"scale": s, "l2_strength": st, "lr": lr, "steps_to_converge": steps,
                     "theory_steps": math.log(1 / TOL) / (2 * lr * (s ** 2 + st)),
                     "bound_l2": math.log(1 / TOL) / (2 * lr * st) if st else float("inf"),
                     "optimum": float(targets_a[k])})
    plain = [r for r in rows if r["l2_strength"] == 0]
    ridge = [r for r in rows if r["l2_strength"] > 0]
    converged = all(r["steps_to_converge"] is not None for r in rows)
    m: dict[str, float] = {"runs_not_converged": sum(r["steps_to_converge"] is None for r in rows),
                           "step_budget": budget}
    if converged:
        small = [r for r in plain if 2 * lr * r["scale"] ** 2 <= SMALL_STEP]
        logs, logt = np.log([r["scale"] for r in small]), np.log([r["steps_to_converge"] for r in small])
        m["slope_small_scales"] = float(np.polyfit(logs, logt, 1)[0]) if len(small) >= 2 else float("nan")
        m["slope_all_scales"] = float(np.polyfit(np.log([r["scale"] for r in plain]),
                                                 np.log([r["steps_to_converge"] for r in plain]), 1)[0])
        m["slope_with_l2"] = float(np.polyfit(np.log([r["scale"] for r in ridge]),
                                              np.log([r["steps_to_converge"] for r in ridge]), 1)[0])
        m["max_steps_no_penalty"] = max(r["steps_to_converge"] for r in plain)
        m["max_steps_with_l2"] = max(r["steps_to_converge"] for r in ridge)
        m["l2_bound"] = math.log(1 / TOL) / (2 * lr * lam)
        m["max_steps_with_l2_over_bound"] = m["max_steps_with_l2"] / m["l2_bound"]
        m["scales_in_small_step_regime"] = len(small)
    if not converged:
        verdict, key = INCONCLUSIVE, "runs_not_converged"
        explanation = f"{m['runs_not_converged']} run(s) did not converge within {budget} steps."
    else:
        ok = (abs(m["slope_small_scales"] + 2) <= SLOPE_TOL and m["max_steps_with_l2_over_bound"] <= BOUND_SLACK)
        verdict, key = (HOLDS if ok else DOES_NOT_HOLD), "slope_small_scales"
        explanation = (
            f"Without a penalty the steps to reach {TOL:g} of the initial error grow from "
            f"{min(r['steps_to_converge'] for r in plain)} (s = {max(scales):g}) to {m['max_steps_no_penalty']} "
            f"(s = {min(scales):g}): a log-log slope of {fmt(m['slope_small_scales'])} over the "
            f"{m['scales_in_small_step_regime']} scales with 2ηs² ≤ {SMALL_STEP:g} ({fmt(m['slope_all_scales'])} over all, "
            f"where the largest scales converge in a few steps). With L2(λ={lam:g}) the slowest run took "
            f"{m['max_steps_with_l2']} steps, {fmt(m['max_steps_with_l2_over_bound'])} × the bound ln(1/{TOL:g})/(2ηλ) = "
            f"{fmt(m['l2_bound'])}; the slope flattens to {fmt(m['slope_with_l2'])}. The L2 runs converge to the "
            "ridge optimum, which for a weak feature is shrunk toward zero."
        )
    fig, axes = new_figure(2)
    ax = axes[0][0]
    for label, group, marker in (("no penalty", plain, "o"), (f"L2 λ={lam:g}", ridge, "s")):
        ok_rows = [r for r in group if r["steps_to_converge"] is not None]
        ax.loglog([r["scale"] for r in ok_rows], [r["steps_to_converge"] for r in ok_rows], marker + "-", label=label)
        ax.loglog([r["scale"] for r in group], [r["theory_steps"] for r in group], "k:", lw=0.8)
    ax.axhline(math.log(1 / TOL) / (2 * lr * lam), color="grey", ls="--", lw=0.8, label="ln(1/tol)/(2ηλ)")
    scales = sorted({r["scale"] for r in plain})
    ax.set_xticks(scales, [f"{s:g}" for s in scales])  # the run's scales (a log axis' minor labels collided)
    ax.xaxis.set_minor_formatter("")
    ax.set_xlabel("feature scale s")
    ax.set_ylabel("steps to converge")
    ax.set_title("steps against scale (dotted: ln(1/tol)/(2η(s²+λ)))")
    ax.legend(fontsize=8)
    ax = axes[0][1]
    for k, r in enumerate(plain):
        ax.semilogy(err[:, k] / err[0, k], label=f"s={r['scale']:g}")
        ax.semilogy(np.abs(1 - 2 * lr * r["scale"] ** 2) ** np.arange(len(err)), "k:", lw=0.6)
    ax.axhline(TOL, color="grey", ls="--", lw=0.8)
    ax.set_ylim(1e-4, 2)
    ax.set_xlabel("step t")
    ax.set_ylabel("|w_t − w*| / |w_0 − w*|")
    ax.set_title("weak weight's error, no penalty (dotted: (1 − 2ηs²)^t)")
    ax.legend(fontsize=7)
    figure = figure_from_matplotlib(fig, "Convergence of the weak weight",
                                    "Left: steps to converge against the feature scale, log-log. Right: error "
                                    "trajectories with the theoretical contraction (1 − 2ηs²)^t.")
    setup = {"data": f"x = [z₁, s·z₂], z ~ N(0, I), y = x·(1, 1) + {noise:g}·N(0, 1), n = {n}, seed {config.seed}",
             "model": "linear, no intercept (float64), one per (s, λ), trained side by side",
             "optimizer": "gd", "lr": lr, "scales": scales, "l2": {"strength": lam, "update": "gradient"},
             "converged_when": f"|w_t − w*| ≤ {TOL:g}·|w_0 − w*| from then on, w* the exact optimum"}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation, key=key,
                       command=command_for(ID, config), figures=[figure], tables={"runs": rows},
                       elapsed=time.perf_counter() - t0)
