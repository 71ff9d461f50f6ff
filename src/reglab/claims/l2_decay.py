"""``l2-decay``: under L2 a weight with no data gradient decays geometrically at 1 − 2ηλ per GD step."""

from __future__ import annotations

import time

import numpy as np

from reglab.claims.base import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    ClaimResult,
    RunConfig,
    command_for,
    figure_from_matplotlib,
    fitted_rate,
    fmt,
    new_figure,
    train_zero_column_weight,
    zero_column_heads,
)
from reglab.data import zero_column
from reglab.penalties import L2

ID = "l2-decay"
TITLE = "L2 pulls an unused weight to zero geometrically"
STATEMENT = ("With an L2 penalty λw², a weight the output does not depend on goes to zero geometrically, by the "
             "factor 1 − 2ηλ per gradient step: as quickly as gradient descent finds the zero of w².")
# Verdict rule:
#   the fitted factor r (least squares of w_{t+1} on w_t) must equal 1 − 2ηλ within RATE_TOL for every run
#   with ηλ < 1/2 — otherwise "does not hold";
#   if it does, and some run with a larger step does not decay monotonically to zero (lands on zero in one
#   step, flips sign, or does not decay at all), the statement needs the condition ηλ < 1/2 (monotone) /
#   ηλ < 1 (decay at all): "holds with a correction";
#   if every run decays monotonically, "holds".
RATE_TOL = 1e-9
RULE = (f"does not hold if |r − (1 − 2ηλ)| > {RATE_TOL:g} for a run with ηλ < 1/2 (r: least-squares factor "
        "w_{t+1}/w_t); otherwise holds with a correction if some run does not decay monotonically (lands on zero, "
        "flips sign or grows), holds if every run decays monotonically")

# (η, λ) pairs: ηλ from 0.005 to 1.25 at two learning rates
GRID = [(0.05, lam) for lam in (0.1, 1.0, 5.0, 10.0, 15.0, 20.0, 25.0)] + \
       [(0.2, lam) for lam in (0.025, 0.25, 1.25, 2.5, 3.75, 5.0, 6.25)]
QUICK_GRID = [(0.05, lam) for lam in (1.0, 5.0, 10.0, 15.0, 20.0, 25.0)] + [(0.2, lam) for lam in (0.25, 2.5)]


def _sign_flips(path: np.ndarray) -> int:
    """Sign changes between consecutive steps, among steps above rounding level (|w| > 1e-12·|w_0|)."""
    big = np.abs(path) > 1e-12 * abs(path[0])
    a, b = path[:-1], path[1:]
    return int(np.sum((np.sign(a) * np.sign(b) < 0) & big[:-1] & big[1:]))


def _behaviour(path: np.ndarray) -> str:
    """How the path went, from its numbers: lands on zero / decays monotonically / flips sign / does not decay."""
    w0 = abs(path[0])
    if abs(path[1]) <= 1e-12 * w0:
        return "lands on zero in one step (to rounding)"
    if abs(path[-1]) >= w0:
        return "does not decay"
    if _sign_flips(path) > 0:
        return "flips sign while decaying"
    return "decays monotonically"


def run(config: RunConfig) -> ClaimResult:
    """Fit the decay factor of a zero-column weight under L2 for a grid of (η, λ)."""
    t0 = time.perf_counter()
    grid = QUICK_GRID if config.quick else GRID
    steps = 30 if config.quick else 60
    n, p, col = 100, 5, 0
    data = zero_column(n=n, p=p, column=col, seed=config.seed)
    heads = zero_column_heads(data, len(grid), col, config.seed)
    paths = train_zero_column_weight(data, heads, col, grid, L2, steps)
    rows = []
    for k, (lr, lam) in enumerate(grid):
        path = paths[:, k]
        theory = 1.0 - 2.0 * lr * lam
        # the rate is fitted where the weight is still far from underflow (steps with w_t ≠ 0)
        alive = np.abs(path) > 1e-250
        upto = int(np.argmin(alive)) if not alive.all() else len(path)
        r = fitted_rate(path[:max(upto, 2)])
        rows.append({"lr": lr, "strength": lam, "lr_x_strength": lr * lam, "theory_factor": theory,
                     "fitted_factor": r, "rate_error": abs(r - theory),
                     "final_over_initial": float(abs(path[-1]) / abs(path[0])),
                     "sign_flips": _sign_flips(path),
                     "behaviour": _behaviour(path)})
    small = [r for r in rows if r["lr_x_strength"] < 0.5]
    large = [r for r in rows if r["lr_x_strength"] >= 0.5]
    m = {
        "max_rate_error_small_steps": max(r["rate_error"] for r in small),
        "max_rate_error_all": max(r["rate_error"] for r in rows if np.isfinite(r["fitted_factor"])),
        "runs_not_monotone": sum(r["behaviour"] != "decays monotonically" for r in rows),
        "smallest_lr_x_strength_without_decay": min((r["lr_x_strength"] for r in rows
                                                     if r["behaviour"] == "does not decay"), default=float("inf")),
        "smallest_lr_x_strength_with_sign_flip": min((r["lr_x_strength"] for r in rows if r["sign_flips"] > 0),
                                                     default=float("inf")),
        "largest_final_over_initial": max(r["final_over_initial"] for r in large) if large else float("nan"),
    }
    if m["max_rate_error_small_steps"] > RATE_TOL:
        verdict = DOES_NOT_HOLD
    elif m["runs_not_monotone"] > 0:
        verdict = HOLDS_WITH_CORRECTION
    else:
        verdict = HOLDS
    lands = sorted({r["lr_x_strength"] for r in rows if r["behaviour"].startswith("lands on zero")})
    explanation = (
        f"For ηλ < 1/2 the fitted factor matches 1 − 2ηλ to {fmt(m['max_rate_error_small_steps'])} "
        f"(over {len(small)} runs). Over all {len(rows)} runs the factor matches to {fmt(m['max_rate_error_all'])}, "
        f"so the weight follows w_t = (1 − 2ηλ)^t·w_0 exactly — which is not always a decay to zero: "
        f"{m['runs_not_monotone']} run(s) did not decay monotonically. "
        + (f"At ηλ = {', '.join(fmt(v) for v in lands)} the weight landed on zero in one step (to within {fmt(max(r['final_over_initial'] for r in rows if r['behaviour'].startswith('lands')))} of w_0). " if lands else "")
        + (f"From ηλ = {fmt(m['smallest_lr_x_strength_with_sign_flip'])} it flips sign every step. "
           if np.isfinite(m["smallest_lr_x_strength_with_sign_flip"]) else "")
        + (f"From ηλ = {fmt(m['smallest_lr_x_strength_without_decay'])} it does not decay at all "
           f"(|w_T|/|w_0| up to {fmt(m['largest_final_over_initial'])}). "
           if np.isfinite(m["smallest_lr_x_strength_without_decay"]) else "")
        + "The statement needs ηλ < 1/2 for a monotone decay and ηλ < 1 for any decay."
        if verdict != HOLDS else "Every run decayed monotonically at the predicted factor."
    )
    fig, axes = new_figure(2)
    t = np.arange(steps + 1)
    ax = axes[0][0]
    for k, r in enumerate(rows):
        if r["lr_x_strength"] < 0.5:
            line, = ax.semilogy(t, np.abs(paths[:, k] / paths[0, k]), lw=2, alpha=0.7,
                                label=f"η={r['lr']:g}, λ={r['strength']:g}")
            ax.semilogy(t, np.abs(r["theory_factor"]) ** t, "k--", lw=0.8)
    ax.set_ylim(1e-16, 2)
    ax.set_xlabel("step t")
    ax.set_ylabel("|w_t / w_0|")
    ax.set_title("ηλ < 1/2: measured (colour), (1 − 2ηλ)^t (dashed)")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    for k, r in enumerate(rows):
        if r["lr_x_strength"] >= 0.5:
            ax.plot(t[:12], paths[:12, k] / paths[0, k], "o-", ms=3, label=f"ηλ={r['lr_x_strength']:g}: {r['behaviour']}")
            ax.plot(t[:12], r["theory_factor"] ** t[:12], "k:", lw=0.8)
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_xlabel("step t")
    ax.set_ylabel("w_t / w_0")
    ax.set_title("ηλ ≥ 1/2: GD on λw² overshoots")
    ax.legend(fontsize=7)
    figure = figure_from_matplotlib(fig, "Trajectories of the unused weight under L2",
                                    "Left: small steps, measured |w_t/w_0| against the theoretical (1 − 2ηλ)^t. "
                                    "Right: large steps (first 12 steps), with (1 − 2ηλ)^t dotted.")
    fig2, axes2 = new_figure(1, width=5.5)
    ax = axes2[0][0]
    x = [r["lr_x_strength"] for r in rows]
    ax.plot(x, [r["fitted_factor"] for r in rows], "o", label="fitted factor")
    xs = np.linspace(0, max(x), 100)
    ax.plot(xs, 1 - 2 * xs, "k--", label="1 − 2ηλ")
    ax.axhspan(-1, 1, color="green", alpha=0.08, label="|factor| < 1: decays")
    ax.set_xlabel("ηλ")
    ax.set_ylabel("w_{t+1} / w_t")
    ax.legend(fontsize=8)
    figure2 = figure_from_matplotlib(fig2, "Fitted factor against ηλ", "Each run's least-squares factor, and 1 − 2ηλ.")
    setup = {"data": {"scenario": "zero_column", "n": n, "p": p, "column": col, "seed": config.seed},
             "model": "linear (float64), one per (η, λ), trained side by side", "optimizer": "gd",
             "penalty": "L2(λ) on the zero-column weight only (element mask), rule gradient",
             "grid_lr_strength": grid, "steps": steps}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation,
                       key="max_rate_error_small_steps", command=command_for(ID, config),
                       figures=[figure, figure2], tables={"runs": rows}, elapsed=time.perf_counter() - t0)
