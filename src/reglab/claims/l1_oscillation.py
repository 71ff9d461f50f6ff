"""``l1-oscillation``: plain subgradient steps on L1 make a weight near zero oscillate, never reach zero."""

from __future__ import annotations

import math
import time
from functools import partial

import numpy as np

from reglab.claims.base import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    ClaimResult,
    RunConfig,
    command_for,
    figure_from_matplotlib,
    fmt,
    new_figure,
    train_zero_column_weight,
    zero_column_heads,
)
from reglab.data import zero_column
from reglab.penalties import L1

ID = "l1-oscillation"
TITLE = "L1 by subgradient steps oscillates around zero"
STATEMENT = ("With an L1 penalty λ|w| applied by plain (sub)gradient steps, a weight near zero oscillates between "
             "ε and ε − λ and never reaches zero.")
# Verdict rule:
#   "does not hold" if any run has an exact zero in the oscillating tail, or its tail does not alternate;
#   otherwise compare the measured tail amplitude A (max − min over the tail) with the argument's λ and
#   with ηλ: "holds" if |A − λ| ≤ AMP_TOL·λ in every run; "holds with a correction" if instead
#   |A − ηλ| ≤ AMP_TOL·ηλ in every run (the amplitude is ηλ: the argument leaves out the learning rate);
#   "inconclusive" if neither fits.
AMP_TOL = 1e-6
RULE = (f"does not hold if the tail has an exact zero or does not alternate; else holds if the amplitude A = λ "
        f"(to {AMP_TOL:g} relative) in every run, holds with a correction if A = ηλ in every run, inconclusive "
        "otherwise")

GRID = [(0.1, 0.05), (0.05, 0.2), (0.2, 0.01), (0.02, 0.5)]
QUICK_GRID = [(0.1, 0.05), (0.05, 0.2), (0.2, 0.01)]
TAIL = 20


def run(config: RunConfig) -> ClaimResult:
    """Subgradient L1 on a zero-column weight for several (η, λ): amplitude, period, exact zeros."""
    t0 = time.perf_counter()
    grid = QUICK_GRID if config.quick else GRID
    n, p, col = 100, 5, 0
    data = zero_column(n=n, p=p, column=col, seed=config.seed)
    heads = zero_column_heads(data, len(grid), col, config.seed)
    w0 = abs(float(next(iter(heads.members.values())).linear.weight[0, col].detach()))
    # enough steps to reach zero from w_0 in every run, then a tail of at least TAIL steps
    steps = max(math.ceil(w0 / (lr * lam)) for lr, lam in grid) + 2 * TAIL
    paths = train_zero_column_weight(data, heads, col, grid, partial(L1, update="gradient"), steps)
    rows = []
    for k, (lr, lam) in enumerate(grid):
        path = paths[:, k]
        tail = path[-TAIL:]
        signs = np.sign(tail)
        alternates = bool(np.all(signs[1:] * signs[:-1] < 0))
        # period: the smallest lag at which the tail repeats itself
        period = next((lag for lag in range(1, TAIL // 2) if np.allclose(tail[lag:], tail[:-lag], rtol=0,
                                                                           atol=1e-12 * lr * lam)), 0)
        amplitude = float(tail.max() - tail.min())
        rows.append({"lr": lr, "strength": lam, "lr_x_strength": lr * lam, "w0": float(path[0]),
                     "steps": steps, "upper": float(tail.max()), "lower": float(tail.min()),
                     "amplitude": amplitude, "amplitude_over_lr_x_strength": amplitude / (lr * lam),
                     "amplitude_over_strength": amplitude / lam, "period": period, "alternates": alternates,
                     "exact_zeros": int(np.sum(path == 0.0)),
                     "first_crossing": int(np.argmax(np.sign(path) != np.sign(path[0])))})
    m = {
        "exact_zeros_total": sum(r["exact_zeros"] for r in rows),
        "max_amplitude_error_vs_lr_x_strength": max(abs(r["amplitude_over_lr_x_strength"] - 1) for r in rows),
        "max_amplitude_error_vs_strength": max(abs(r["amplitude_over_strength"] - 1) for r in rows),
        "runs_alternating": sum(r["alternates"] for r in rows),
        "runs": len(rows),
        "max_period": max(r["period"] for r in rows),
        "min_period": min(r["period"] for r in rows),
    }
    if m["exact_zeros_total"] > 0 or m["runs_alternating"] < m["runs"]:
        verdict = DOES_NOT_HOLD
    elif m["max_amplitude_error_vs_strength"] <= AMP_TOL:
        verdict = HOLDS
    elif m["max_amplitude_error_vs_lr_x_strength"] <= AMP_TOL:
        verdict = HOLDS_WITH_CORRECTION
    else:
        from reglab.claims.base import INCONCLUSIVE

        verdict = INCONCLUSIVE
    explanation = (
        f"In {m['runs_alternating']} of {m['runs']} runs the weight crossed zero and then alternated in sign with "
        f"period {m['min_period']}–{m['max_period']} steps; over {steps} steps it was exactly zero "
        f"{m['exact_zeros_total']} times. The tail amplitude equals ηλ to a relative "
        f"{fmt(m['max_amplitude_error_vs_lr_x_strength'])}, and differs from λ by up to a relative "
        f"{fmt(m['max_amplitude_error_vs_strength'])}: the weight oscillates between ε and ε − ηλ "
        f"(ε = w_0 mod ηλ), not ε − λ — the argument leaves out the learning rate."
    )
    fig, axes = new_figure(2)
    ax = axes[0][0]
    for k, r in enumerate(rows):
        ax.plot(paths[:, k], lw=1, label=f"η={r['lr']:g}, λ={r['strength']:g}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("step t")
    ax.set_ylabel("w_t")
    ax.set_title("whole run: linear descent by ηλ per step, then oscillation")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    t = np.arange(steps + 1)[-TAIL:]
    for k, r in enumerate(rows):
        line, = ax.plot(t, paths[-TAIL:, k] / (r["lr"] * r["strength"]), "o-", ms=3,
                        label=f"ηλ={r['lr_x_strength']:g}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("step t")
    ax.set_ylabel("w_t / (ηλ)")
    ax.set_title("tail zoom: every run spans exactly 1 in units of ηλ")
    ax.legend(fontsize=7)
    figure = figure_from_matplotlib(fig, "Subgradient L1 on an unused weight",
                                    "Left: trajectories. Right: the last steps in units of ηλ; the oscillation "
                                    "between ε and ε − ηλ has height 1 on this scale (ε − λ would be 1/η).")
    setup = {"data": {"scenario": "zero_column", "n": n, "p": p, "column": col, "seed": config.seed},
             "model": "linear (float64), one per (η, λ), trained side by side", "optimizer": "gd",
             "penalty": "L1(λ) on the zero-column weight (element mask), rule gradient (subgradient λ·sign(w))",
             "grid_lr_strength": grid, "steps": steps, "tail": TAIL}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation,
                       key="max_amplitude_error_vs_lr_x_strength", command=command_for(ID, config),
                       figures=[figure], tables={"runs": rows}, elapsed=time.perf_counter() - t0)
