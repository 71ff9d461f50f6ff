"""``init-independence``: with L2 the trained model no longer depends on its initialization."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from reglab.claims.base import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    BatchedLinear,
    BatchedMLP,
    ClaimResult,
    RunConfig,
    command_for,
    figure_from_matplotlib,
    fmt,
    new_figure,
    run_hand_loop,
    squared_sum_over_members,
)
from reglab.data import linear_regression
from reglab.models import linear, mlp
from reglab.penalties import L2

ID = "init-independence"
TITLE = "With L2 the trained model forgets its initialization"
STATEMENT = ("Without a penalty, what gradient descent returns can depend on where it started (directions the data "
             "does not determine keep their initial values). With L2 the trained model no longer depends on its "
             "initialization.")
# Verdict rule (spread = mean over coordinates of the standard deviation across initializations):
#   linear, p > n: ratio = spread with L2 / spread without; MLP: the same ratio for predictions on held-out x.
#   "holds" if both ratios ≤ GONE (the dependence is gone);
#   "holds with a correction" if the linear ratio ≤ GONE but the MLP's is not (L2 removes the dependence
#   for the convex model, not for the network: its ratio is reported, whether it shrank or grew);
#   "does not hold" if the linear ratio > GONE.
GONE = 1e-3
RULE = (f"spread = mean over coordinates of the std across ≥ 10 initializations; holds if spread(L2)/spread(none) ≤ "
        f"{GONE:g} for both the over-parameterised linear model's weights and the MLP's held-out predictions; "
        f"holds with a correction if only the linear ratio is ≤ {GONE:g}; does not hold if the linear ratio is > {GONE:g}")


def _spread(values: np.ndarray) -> float:
    """Mean over coordinates of the standard deviation across members (axis 0)."""
    return float(values.std(axis=0).mean())


def run(config: RunConfig) -> ClaimResult:
    """Train 10 initializations of each model, with and without L2; compare the spread of what they learned."""
    t0 = time.perf_counter()
    n_inits = 10
    # over-parameterised linear regression: p > n
    n, p, lam_lin = 20, 50, 0.3
    data = linear_regression(n=n, p=p, noise=0.5, seed=config.seed)
    inits = [linear(p, generator=torch.Generator().manual_seed(1000 * config.seed + k)) for k in range(n_inits)]
    w0 = torch.cat([m.linear.weight.detach() for m in inits])
    b0 = torch.cat([m.linear.bias.detach() for m in inits])
    model = BatchedLinear(torch.cat([w0, w0]), torch.cat([b0, b0]))
    mask = torch.zeros(2 * n_inits, p, dtype=torch.bool)
    mask[n_inits:] = True
    Xc = torch.cat([data.X, torch.ones(n, 1, dtype=data.X.dtype)], 1)
    top = float(torch.linalg.eigvalsh(Xc.T @ Xc / n)[-1])
    lr_lin = 1.0 / (2.0 * top + 2.0 * lam_lin)                               # 1/L of the penalised objective
    steps_lin = 500 if config.quick else 1000
    path = run_hand_loop(model, lambda m: squared_sum_over_members(m(data.X), data.y),
                         [L2(lam_lin, on={"weight": mask})], torch.optim.SGD(model.parameters(), lr=lr_lin),
                         steps_lin, lambda m: m.weight.flatten())
    final = path[-1].reshape(2 * n_inits, p)
    lin_none, lin_l2 = _spread(final[:n_inits]), _spread(final[n_inits:])
    # MLP on a small regression problem: spread of held-out predictions
    n_m, p_m, hidden, lam_mlp, lr_mlp = 50, 5, 16, 0.03, 0.1
    steps_mlp = 300 if config.quick else 1000
    dm = linear_regression(n=n_m, p=p_m, noise=0.3, n_test=200, seed=config.seed)
    nets = [mlp(p_m, [hidden], generator=torch.Generator().manual_seed(1000 * config.seed + k), dtype=torch.float64)
            for k in range(n_inits)]
    batched = BatchedMLP(nets + nets)
    mask_m = {"fc1_weight": torch.zeros(2 * n_inits, hidden, p_m, dtype=torch.bool),
              "fc2_weight": torch.zeros(2 * n_inits, hidden, dtype=torch.bool)}
    for v in mask_m.values():
        v[n_inits:] = True
    run_hand_loop(batched, lambda m: squared_sum_over_members(m(dm.X), dm.y), [L2(lam_mlp, on=mask_m)],
                  torch.optim.SGD(batched.parameters(), lr=lr_mlp), steps_mlp, lambda m: m.fc2_bias)
    with torch.no_grad():
        preds = batched(dm.X_test).numpy()
        train_loss = (batched(dm.X) - dm.y).square().mean(1).numpy()
    mlp_none, mlp_l2 = _spread(preds[:n_inits]), _spread(preds[n_inits:])
    m = {
        "linear_weight_spread_no_penalty": lin_none, "linear_weight_spread_l2": lin_l2,
        "linear_spread_ratio": lin_l2 / lin_none,
        "mlp_prediction_spread_no_penalty": mlp_none, "mlp_prediction_spread_l2": mlp_l2,
        "mlp_spread_ratio": mlp_l2 / mlp_none,
        "mlp_train_loss_no_penalty": float(train_loss[:n_inits].mean()),
        "mlp_train_loss_l2": float(train_loss[n_inits:].mean()),
        "initializations": n_inits,
        # initializations whose L2-trained MLP ends with twice the median training loss of the L2 runs
        "mlp_l2_runs_stuck_high": int(np.sum(train_loss[n_inits:] > 2 * np.median(train_loss[n_inits:]))),
    }
    if m["linear_spread_ratio"] <= GONE and m["mlp_spread_ratio"] <= GONE:
        verdict = HOLDS
    elif m["linear_spread_ratio"] <= GONE:
        verdict = HOLDS_WITH_CORRECTION
    else:
        verdict = DOES_NOT_HOLD
    explanation = (
        f"Linear regression with p = {p} > n = {n}: across {n_inits} initializations the final weights spread by "
        f"{fmt(lin_none)} without a penalty (the null-space part of each initialization is never touched) and by "
        f"{fmt(lin_l2)} with L2(λ={lam_lin:g}): a ratio of {fmt(m['linear_spread_ratio'])}. MLP ({hidden} hidden units): "
        f"held-out predictions spread by {fmt(mlp_none)} without and {fmt(mlp_l2)} with L2(λ={lam_mlp:g}), a ratio of "
        f"{fmt(m['mlp_spread_ratio'])}"
        + f" after {steps_mlp} steps; {m['mlp_l2_runs_stuck_high']} of the {n_inits} L2-trained networks ended with over "
        "twice the median training loss"
        + (". L2 makes the convex problem's solution unique; for the network (a non-convex loss) it "
           + ("reduces the dependence on initialization without removing it." if m["mlp_spread_ratio"] < 1 else
              "does not reduce the dependence on initialization at all here.")
           if verdict == HOLDS_WITH_CORRECTION else ".")
    )
    fig, axes = new_figure(2)
    ax = axes[0][0]
    _plot_inits(ax, final, n_inits, np.argsort(final[0]), lam_lin)
    ax.set_xlabel("weight index (sorted)")
    ax.set_ylabel("final weight")
    ax.set_title(f"linear, p={p} > n={n}: {n_inits} initializations")
    ax.legend(fontsize=8)
    ax = axes[0][1]
    _plot_inits(ax, preds, n_inits, np.argsort(preds[0])[:60], lam_mlp)
    ax.set_xlabel("held-out point")
    ax.set_ylabel("prediction")
    ax.set_title(f"MLP: predictions of {n_inits} initializations")
    ax.legend(fontsize=8)
    figure = figure_from_matplotlib(fig, "What each initialization learned",
                                    "One line per initialization: final weights of the linear model (left) and "
                                    "held-out predictions of the MLP (right), without (red) and with (blue) L2.")
    setup = {"linear": {"data": {"scenario": "linear_regression", "n": n, "p": p, "noise": 0.5, "seed": config.seed},
                        "lr": lr_lin, "steps": steps_lin, "l2": lam_lin},
             "mlp": {"data": {"scenario": "linear_regression", "n": n_m, "p": p_m, "noise": 0.3, "n_test": 200,
                              "seed": config.seed}, "hidden": [hidden], "lr": lr_mlp, "steps": steps_mlp, "l2": lam_mlp,
                     "dtype": "float64"},
             "initializations": f"reglab.models seeded by 1000·seed + k, k = 0..{n_inits - 1}",
             "optimizer": "gd; members trained side by side (one independent model per row)"}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation, key="linear_spread_ratio",
                       command=command_for(ID, config), figures=[figure], elapsed=time.perf_counter() - t0)


def _plot_inits(ax: Any, rows: np.ndarray, n_inits: int, order: np.ndarray, lam: float) -> None:
    """One line per initialization: rows[:n_inits] without a penalty (red), rows[n_inits:] with L2 (blue)."""
    for k in range(n_inits):
        ax.plot(rows[k][order], color="tab:red", lw=0.6, alpha=0.6, label="no penalty" if k == 0 else None)
        ax.plot(rows[n_inits + k][order], color="tab:blue", lw=0.8, alpha=0.8, label=f"L2 λ={lam:g}" if k == 0 else None)
