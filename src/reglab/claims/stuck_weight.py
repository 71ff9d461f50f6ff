"""``stuck-weight``: a weight the output does not depend on keeps its initial value under plain GD."""

from __future__ import annotations

import time

import numpy as np
import torch

from reglab.claims.base import (
    DOES_NOT_HOLD,
    HOLDS,
    ClaimResult,
    RunConfig,
    command_for,
    figure_from_matplotlib,
    fmt,
    new_figure,
    verdict_of,
)
from reglab.data import zero_column
from reglab.models import mlp
from reglab.penalties import L2
from reglab.training import fit

ID = "stuck-weight"
TITLE = "A weight the output ignores never moves"
STATEMENT = ("A weight the model's output does not depend on gets zero gradient, so under gradient descent "
             "without a penalty it keeps its initial value for ever (a zero input column; a dead ReLU unit's "
             "incoming weights). An L2 penalty is what moves it.")
# Verdict rule (written beside the code that applies it):
#   holds         if, in every case, max |w_T − w_0| over the stuck weights without a penalty is at most
#                 STUCK_TOL × max |w_0| (float64: zero gradient leaves the bits unchanged), while the weights
#                 the output does depend on moved by more than MOVED_TOL, and with L2 the stuck weights moved
#                 by more than MOVED_TOL;
#   does not hold otherwise.
STUCK_TOL = 1e-12
MOVED_TOL = 1e-3
RULE = (f"holds if, in both cases, max|w_T − w_0| of the stuck weights without a penalty ≤ {STUCK_TOL:g}·max|w_0| "
        f"while the live weights moved by > {MOVED_TOL:g} and L2 moved the stuck weights by > {MOVED_TOL:g}; "
        "otherwise does not hold")


def _dead_unit_mlp(n_features: int, hidden: int, dead: int, seed: int) -> torch.nn.Module:
    """A one-hidden-layer ReLU MLP (float64) whose unit ``dead`` has a bias so negative it never fires."""
    net = mlp(n_features, [hidden], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        net.fc1.bias[dead] = -1e3
    return net


def run(config: RunConfig) -> ClaimResult:
    """Measure how far stuck weights move, without and with L2."""
    t0 = time.perf_counter()
    steps = 60 if config.quick else 300
    lr, lam, n, p, col, hidden, dead = 0.05, 0.1, 100, 5, 0, 8, 3
    rows, paths = [], {}
    for case in ("zero column (linear)", "dead ReLU unit (MLP)"):
        for strength in (0.0, lam):
            data = zero_column(n=n, p=p, column=col, seed=config.seed)
            if case.startswith("zero"):
                model = fit("linear", data, steps=0, seed=config.seed).model
                stuck = lambda m: m.linear.weight[0, col]  # noqa: E731
                live = lambda m: torch.cat([m.linear.weight[0, :col], m.linear.weight[0, col + 1:]])  # noqa: E731
            else:
                model = _dead_unit_mlp(p, hidden, dead, config.seed)
                stuck = lambda m: m.fc1.weight[dead]  # noqa: E731
                live = lambda m: torch.cat([m.fc1.weight[:dead].flatten(), m.fc1.weight[dead + 1:].flatten()])  # noqa: E731
            w0 = stuck(model).detach().clone().reshape(-1)
            live0 = live(model).detach().clone()
            terms = [L2(strength)] if strength > 0 else []
            res = fit(model, data, penalties=terms, lr=lr, steps=steps, seed=config.seed, dtype=torch.float64)
            wT = stuck(res.model).detach().reshape(-1)
            rows.append({
                "case": case, "l2_strength": strength, "steps": steps, "lr": lr,
                "max_abs_w0": float(w0.abs().max()),
                "max_change_stuck": float((wT - w0).abs().max()),
                "max_change_live": float((live(res.model).detach() - live0).abs().max()),
                "final_over_initial": float(wT.abs().max() / w0.abs().max()),
            })
            paths[(case, strength)] = res.history.data_loss
    plain = [r for r in rows if r["l2_strength"] == 0.0]
    with_l2 = [r for r in rows if r["l2_strength"] > 0.0]
    m = {
        "max_change_stuck_no_penalty": max(r["max_change_stuck"] for r in plain),
        "max_change_stuck_no_penalty_relative": max(r["max_change_stuck"] / r["max_abs_w0"] for r in plain),
        "min_change_live_no_penalty": min(r["max_change_live"] for r in plain),
        "min_change_stuck_with_l2": min(r["max_change_stuck"] for r in with_l2),
        "max_final_over_initial_with_l2": max(r["final_over_initial"] for r in with_l2),
        "theory_final_over_initial_with_l2": (1 - 2 * lr * lam) ** steps,
    }
    verdict, failed = verdict_of([
        ("stuck weights unchanged without a penalty", m["max_change_stuck_no_penalty_relative"] <= STUCK_TOL),
        ("live weights trained", m["min_change_live_no_penalty"] > MOVED_TOL),
        ("L2 moves the stuck weights", m["min_change_stuck_with_l2"] > MOVED_TOL),
    ], when_all=HOLDS, otherwise=DOES_NOT_HOLD)
    explanation = (
        f"Without a penalty the stuck weights moved by at most {fmt(m['max_change_stuck_no_penalty'])} "
        f"({fmt(m['max_change_stuck_no_penalty_relative'])} of their size) over {steps} steps, while the live weights "
        f"moved by at least {fmt(m['min_change_live_no_penalty'])}. With L2(λ={lam:g}) they kept at most "
        f"{fmt(m['max_final_over_initial_with_l2'])} of their initial size; (1 − 2ηλ)^T = "
        f"{fmt(m['theory_final_over_initial_with_l2'])}."
        + (f" Failed: {', '.join(failed)}." if failed else "")
    )
    fig, axes = new_figure(2)
    for ax, case in zip(axes[0], ("zero column (linear)", "dead ReLU unit (MLP)")):
        bars = [r for r in rows if r["case"] == case]
        labels = ["no penalty" if r["l2_strength"] == 0 else f"L2 λ={r['l2_strength']:g}" for r in bars]
        x = np.arange(len(bars))
        ax.bar(x - 0.2, [r["max_change_stuck"] + 1e-18 for r in bars], 0.4, label="stuck weights")
        ax.bar(x + 0.2, [r["max_change_live"] + 1e-18 for r in bars], 0.4, label="live weights")
        ax.set_yscale("log")
        ax.set_xticks(x, labels)
        ax.set_ylabel("max |w_T − w_0|")
        ax.set_title(case)
        ax.legend(fontsize=8)
    figure = figure_from_matplotlib(fig, "How far the weights moved",
                                    "max |w_T − w_0| (log scale; 1e-18 added so that zero shows) for the stuck "
                                    "weights and for the weights the output depends on, without and with L2.")
    setup = {"data": {"scenario": "zero_column", "n": n, "p": p, "column": col, "seed": config.seed},
             "models": ["linear", f"mlp hidden=[{hidden}], unit {dead} dead (fc1.bias = -1000), float64"],
             "optimizer": "gd", "lr": lr, "steps": steps, "penalties": [None, {"kind": "l2", "strength": lam}]}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation,
                       key="max_change_stuck_no_penalty", command=command_for(ID, config), figures=[figure],
                       tables={"runs": rows}, elapsed=time.perf_counter() - t0)
