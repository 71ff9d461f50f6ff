"""``adam-l2-vs-decay`` (beyond; Loshchilov & Hutter 2019): under Adam, L2 in the loss is not weight decay."""

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
    run_hand_loop,
)
from reglab.data import Dataset
from reglab.models import linear
from reglab.penalties import L2

ID = "adam-l2-vs-decay"
TITLE = "Under Adam, L2 in the loss is not weight decay"
STATEMENT = ("With Adam, an L2 penalty in the loss (rule gradient) is divided by Adam's √v̂ like the data gradient, "
             "so weights with large data gradients are regularized less than by decoupled weight decay (AdamW, rule "
             "decoupled), which shrinks every weight by the same factor 1 − 2ηλ per step (Loshchilov & Hutter 2019).")
# Verdict rule: effective per-step decay of a weight = the fraction of its value the penalty removes per step,
# averaged over the steps of the run:
#   rule gradient: η·2λ/(√v̂ + ε) (Adam's preconditioner applied to the penalty gradient 2λw);
#   rule decoupled: η·2λ. With groups "large" (features of scale LARGE) and "small" (scale SMALL) gradients:
#   "holds" if under rule gradient the large-gradient group's effective decay is below the small group's by
#   more than a factor GAP, while under rule decoupled the two are equal (to 1e-12 relative);
#   "does not hold" otherwise.
LARGE, SMALL, GAP = 3.0, 0.3, 2.0
RULE = (f"effective decay per step, averaged over the run = η·2λ/(√v̂_t+ε) (gradient) or η·2λ (decoupled); holds if under rule gradient the "
        f"large-gradient weights' decay is smaller than the small-gradient weights' by a factor > {GAP:g} while under "
        "decoupled the two are equal; does not hold otherwise")


def _group_norms(w: np.ndarray, groups: dict[str, list[int]]) -> dict[str, float]:
    return {g: float(np.linalg.norm(w[idx])) for g, idx in groups.items()}


def run(config: RunConfig) -> ClaimResult:
    """Adam with L2 by rule gradient vs rule decoupled: effective decay and final norms per group."""
    t0 = time.perf_counter()
    n, p, lam, lr = 200, 6, 0.05, 0.01
    steps = 300 if config.quick else 1000
    rng = np.random.default_rng(config.seed)
    scales = np.array([LARGE] * (p // 2) + [SMALL] * (p // 2))
    X = rng.normal(size=(n, p)) * scales
    coef = rng.choice([-1.0, 1.0], size=p)          # targets of one size: the gradients differ by the scales
    y = X @ coef + 0.1 * rng.normal(size=n)
    data = Dataset.from_arrays(X, y, name="two-scale regression")
    groups = {"large": list(range(p // 2)), "small": list(range(p // 2, p))}
    runs = {}
    for rule in ("none", "gradient", "decoupled"):
        model = linear(p, generator=torch.Generator().manual_seed(config.seed))
        inner = torch.optim.Adam(model.parameters(), lr=lr)
        w_param = model.linear.weight
        beta2, eps = inner.param_groups[0]["betas"][1], inner.param_groups[0]["eps"]

        def sqrt_v_hat(m: torch.nn.Module, inner=inner, w_param=w_param, beta2=beta2) -> torch.Tensor:  # noqa: ANN001
            state = inner.state.get(w_param)
            if not state:
                return torch.full((p,), float("nan"), dtype=torch.float64)
            return (state["exp_avg_sq"] / (1 - beta2 ** float(state["step"]))).sqrt()[0]

        terms = [] if rule == "none" else [L2(lam, update=rule)]
        v_path = run_hand_loop(model, lambda m: ((m(data.X)[:, 0] - data.y) ** 2).mean(), terms, inner, steps,
                               sqrt_v_hat)[1:]
        runs[rule] = (model.linear.weight.detach()[0].numpy(), v_path, eps)
    rows = []
    m: dict[str, float] = {}
    for rule, (w, v_path, eps) in runs.items():
        norms = _group_norms(w, groups)
        for g, idx in groups.items():
            # the fraction of w the penalty removes per step, averaged over the steps of the run
            if rule == "gradient":
                decay = float(np.mean(lr * 2 * lam / (v_path[:, idx] + eps)))
            elif rule == "decoupled":
                decay = lr * 2 * lam
            else:
                decay = 0.0
            rows.append({"rule": rule, "group": g, "feature_scale": float(scales[idx[0]]), "final_norm": norms[g],
                         "mean_sqrt_v_hat": float(np.mean(v_path[:, idx])), "effective_decay_per_step": decay})
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
    setup = {"data": f"n = {n}, p = {p}: x_j ~ N(0, s_j²) with s = {scales.tolist()}, y = x·c + 0.1·N(0, 1), c_j = ±1, "
                     f"seed {config.seed}",
             "model": "linear (float64)", "optimizer": "adam (torch.optim.Adam in Regularized, a hand loop recording √v̂ each step)", "lr": lr, "steps": steps,
             "penalty": {"kind": "l2", "strength": lam, "update": ["gradient", "decoupled"]}}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation,
                       key="gradient_decay_small_over_large", command=command_for(ID, config), figures=[figure],
                       tables={"runs": rows}, elapsed=time.perf_counter() - t0)
