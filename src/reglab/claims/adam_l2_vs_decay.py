"""``adam-l2-vs-decay`` (beyond; Loshchilov & Hutter 2019): under Adam, L2 in the loss is not weight decay."""

from __future__ import annotations

import time

import numpy as np
import torch

from reglab.claims.base import (DOES_NOT_HOLD, HOLDS, ClaimResult, RunConfig, command_for, figure_from_matplotlib, fmt,
                                new_figure)
from reglab.data import Dataset
from reglab.fit import fit
from reglab.penalties import L2

ID = "adam-l2-vs-decay"
TITLE = "Under Adam, L2 in the loss is not weight decay"
STATEMENT = ("With Adam, an L2 penalty in the loss (rule gradient) is divided by Adam's √v̂ like the data gradient, "
             "so weights with large data gradients are regularized less than by decoupled weight decay (AdamW, rule "
             "decoupled), which shrinks every weight by the same factor 1 − 2ηλ per step (Loshchilov & Hutter 2019).")
# Verdict rule: effective per-step decay of a weight = the fraction of its value the penalty removes per step:
#   rule gradient: η·2λ/(√v̂ + ε) (Adam's preconditioner applied to the penalty gradient 2λw);
#   rule decoupled: η·2λ. With groups "large" (features of scale LARGE) and "small" (scale SMALL) gradients:
#   "holds" if under rule gradient the large-gradient group's effective decay is below the small group's by
#   more than a factor GAP, while under rule decoupled the two are equal (to 1e-12 relative);
#   "does not hold" otherwise.
LARGE, SMALL, GAP = 3.0, 0.3, 2.0
RULE = (f"effective decay per step = η·2λ/(√v̂+ε) (gradient) or η·2λ (decoupled); holds if under rule gradient the "
        f"large-gradient weights' decay is smaller than the small-gradient weights' by a factor > {GAP:g} while under "
        "decoupled the two are equal; does not hold otherwise")


def _group_norms(w: np.ndarray, groups: dict[str, list[int]]) -> dict[str, float]:
    return {g: float(np.linalg.norm(w[idx])) for g, idx in groups.items()}


def run(config: RunConfig) -> ClaimResult:
    """Adam with L2 by rule gradient vs rule decoupled: effective decay and final norms per group."""
    t0 = time.perf_counter()
    n, p, lam, lr = 200, 6, 0.05, 0.01
    steps = 300 if config.quick else 1500
    rng = np.random.default_rng(config.seed)
    scales = np.array([LARGE] * (p // 2) + [SMALL] * (p // 2))
    X = rng.normal(size=(n, p)) * scales
    coef = rng.choice([-1.0, 1.0], size=p) / scales           # every feature contributes alike to y
    y = X @ coef + 0.1 * rng.normal(size=n)
    data = Dataset.from_arrays(X, y, name="two-scale regression")
    groups = {"large": list(range(p // 2)), "small": list(range(p // 2, p))}
    runs = {}
    for rule in ("none", "gradient", "decoupled"):
        terms = [] if rule == "none" else [L2(lam, update=rule)]
        runs[rule] = fit("linear", data, penalties=terms, optimizer="adam", lr=lr, steps=steps, seed=config.seed)
    rows = []
    m: dict[str, float] = {}
    for rule, res in runs.items():
        w_param = res.model.linear.weight
        inner = res.optimizer.optimizer
        state = inner.state[w_param]
        beta2 = inner.param_groups[0]["betas"][1]
        eps = inner.param_groups[0]["eps"]
        v_hat = (state["exp_avg_sq"] / (1 - beta2 ** float(state["step"]))).detach()[0].numpy()
        w = w_param.detach()[0].numpy()
        norms = _group_norms(w, groups)
        for g, idx in groups.items():
            if rule == "gradient":
                decay = float(np.mean(lr * 2 * lam / (np.sqrt(v_hat[idx]) + eps)))
            elif rule == "decoupled":
                decay = lr * 2 * lam
            else:
                decay = 0.0
            rows.append({"rule": rule, "group": g, "feature_scale": float(scales[idx[0]]), "final_norm": norms[g],
                         "sqrt_v_hat": float(np.mean(np.sqrt(v_hat[idx]))), "effective_decay_per_step": decay})
            m[f"{rule}_{g}_final_norm"] = norms[g]
            if rule != "none":
                m[f"{rule}_{g}_effective_decay"] = decay
    for rule in ("gradient", "decoupled"):
        for g in groups:
            m[f"{rule}_{g}_norm_over_unpenalised"] = m[f"{rule}_{g}_final_norm"] / m[f"none_{g}_final_norm"]
    m["gradient_decay_small_over_large"] = m["gradient_small_effective_decay"] / m["gradient_large_effective_decay"]
    m["decoupled_decay_small_over_large"] = m["decoupled_small_effective_decay"] / m["decoupled_large_effective_decay"]
    ok = (m["gradient_decay_small_over_large"] > GAP
          and abs(m["decoupled_decay_small_over_large"] - 1) <= 1e-12)
    verdict = HOLDS if ok else DOES_NOT_HOLD
    explanation = (
        f"After {steps} Adam steps (η = {lr:g}, λ = {lam:g}): with L2 in the loss the effective decay per step of the "
        f"large-gradient weights (feature scale {LARGE:g}) is {fmt(m['gradient_large_effective_decay'])} and of the "
        f"small-gradient weights (scale {SMALL:g}) {fmt(m['gradient_small_effective_decay'])}, a ratio of "
        f"{fmt(m['gradient_decay_small_over_large'])}; decoupled decay removes {fmt(m['decoupled_large_effective_decay'])} "
        f"of every weight per step (ratio {fmt(m['decoupled_decay_small_over_large'])}). Final norms relative to Adam "
        f"without a penalty — gradient rule: large {fmt(m['gradient_large_norm_over_unpenalised'])}, small "
        f"{fmt(m['gradient_small_norm_over_unpenalised'])}; decoupled: large {fmt(m['decoupled_large_norm_over_unpenalised'])}, "
        f"small {fmt(m['decoupled_small_norm_over_unpenalised'])}."
    )
    fig, axes = new_figure(2)
    ax = axes[0][0]
    x = np.arange(2)
    for i, rule in enumerate(("gradient", "decoupled")):
        ax.bar(x + (i - 0.5) * 0.38, [m[f"{rule}_{g}_effective_decay"] for g in groups], 0.38, label=f"rule {rule}")
    ax.set_xticks(x, [f"{g} gradients\n(scale {s:g})" for g, s in zip(groups, (LARGE, SMALL))])
    ax.set_yscale("log")
    ax.set_ylabel("effective decay per step")
    ax.legend(fontsize=8)
    ax.set_title("fraction of w removed per step by the penalty")
    ax = axes[0][1]
    for i, rule in enumerate(("gradient", "decoupled")):
        ax.bar(x + (i - 0.5) * 0.38, [m[f"{rule}_{g}_norm_over_unpenalised"] for g in groups], 0.38, label=f"rule {rule}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(x, [f"{g} gradients" for g in groups])
    ax.set_ylabel("‖w_group‖ / ‖w_group‖ without penalty")
    ax.legend(fontsize=8)
    ax.set_title("final norms")
    figure = figure_from_matplotlib(fig, "L2 in the loss vs decoupled decay under Adam",
                                    "Left: the effective per-step decay of each group (log scale). Right: final group "
                                    "norms relative to Adam without a penalty.")
    setup = {"data": f"n = {n}, p = {p}: x_j ~ N(0, s_j²) with s = {scales.tolist()}, y = x·c + 0.1·N(0, 1), c_j = ±1/s_j, "
                     f"seed {config.seed}",
             "model": "linear (float64)", "optimizer": "adam", "lr": lr, "steps": steps,
             "penalty": {"kind": "l2", "strength": lam, "update": ["gradient", "decoupled"]}}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation,
                       key="gradient_decay_small_over_large", command=command_for(ID, config), figures=[figure],
                       tables={"runs": rows}, elapsed=time.perf_counter() - t0)
