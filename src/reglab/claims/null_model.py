"""``null-model``: on data with no signal, no penalty chases noise; L2 brings the model back to the null model."""

from __future__ import annotations

import time

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
from reglab.sweep import run_grid

ID = "null-model"
TITLE = "With no signal, L2 turns the model into the null model"
STATEMENT = ("On data where y does not depend on x, a model trained without a penalty chases noise: its training "
             "loss falls below the null model's and its held-out loss rises above it. With L2 the weights shrink, "
             "and the held-out loss approaches the null model's as λ grows.")
# Verdict rule, for every model (linear, logistic, MLP):
#   at λ = 0: train loss < null train loss and held-out loss > null held-out loss (it chases noise);
#   at the largest λ: |held-out − null| ≤ GAP_SHRINK × (held-out gap at λ = 0); the weight norm decreases
#   at every step up the λ grid. "holds" if all of these are true, "does not hold" otherwise.
GAP_SHRINK = 0.25
RULE = (f"holds if, for every model, at λ = 0 train < null train and held-out > null held-out, at the largest λ "
        f"|held-out − null| ≤ {GAP_SHRINK:g} × the λ = 0 held-out gap, and ‖w‖ decreases at every step up the λ grid; "
        "does not hold otherwise")

MODELS = {  # model -> (task, lr, steps full, steps quick, model_args)
    "linear": ("regression", "auto", 200, 100, None),
    "logistic": ("binary", "auto", 300, 150, None),
    "mlp": ("regression", 0.05, 400, 150, {"hidden": [16]}),
}


def _weight_norm(model: torch.nn.Module) -> float:
    return float(torch.sqrt(sum((p.detach() ** 2).sum() for n, p in model.named_parameters()
                                if not n.endswith("bias"))))


def run(config: RunConfig) -> ClaimResult:
    """Train linear, logistic and MLP models on pure noise over a grid of L2 strengths."""
    t0 = time.perf_counter()
    strengths = [0.0, 0.1, 1.0] if config.quick else [0.0, 0.01, 0.1, 0.3, 1.0]
    n, p = 100, 20
    rows = []
    for model, (task, lr, steps_full, steps_quick, args) in MODELS.items():
        # one batched sweep per model: the λ grid trains as one stacked model (reglab.sweep.run_grid)
        base = {"model": model, "data": {"scenario": "pure_noise", "n": n, "p": p, "task": task, "n_test": 1000,
                                         "seed": config.seed},
                "penalties": [{"kind": "l2", "strength": 0.0}], "lr": lr,
                "steps": steps_quick if config.quick else steps_full, "seed": config.seed, "dtype": "float64"}
        if args is not None:
            base["model_args"] = args
        grid = run_grid(base, {"penalties.0.strength": strengths}, keep_fits=True)
        for lam, r in zip(strengths, grid.itertuples()):
            rows.append({"model": model, "strength": lam, "train_loss": r.train_loss, "test_loss": r.test_loss,
                         "null_train": r.null_train_loss, "null_test": r.null_test_loss,
                         "weight_norm": _weight_norm(r.fit.model), "train_gap": r.train_loss - r.null_train_loss,
                         "test_gap": r.test_loss - r.null_test_loss, "steps": r.steps, "status": r.status})
    m: dict[str, float] = {}
    checks = []
    for model in MODELS:
        rs = [r for r in rows if r["model"] == model]
        r0, rl = rs[0], rs[-1]
        m[f"{model}_train_gap_no_penalty"] = r0["train_gap"]
        m[f"{model}_test_gap_no_penalty"] = r0["test_gap"]
        m[f"{model}_test_gap_largest_strength"] = rl["test_gap"]
        m[f"{model}_norm_ratio_largest_strength"] = rl["weight_norm"] / r0["weight_norm"]
        checks += [
            (f"{model}: train below null at λ=0", r0["train_gap"] < 0),
            (f"{model}: held-out above null at λ=0", r0["test_gap"] > 0),
            (f"{model}: held-out gap shrinks", abs(rl["test_gap"]) <= GAP_SHRINK * max(r0["test_gap"], 0.0)),
            (f"{model}: weights shrink as λ grows",
             all(b["weight_norm"] < a["weight_norm"] for a, b in zip(rs[:-1], rs[1:]))),
        ]
    m["worst_test_gap_ratio"] = max(abs(m[f"{k}_test_gap_largest_strength"]) / m[f"{k}_test_gap_no_penalty"]
                                    if m[f"{k}_test_gap_no_penalty"] > 0 else float("inf") for k in MODELS)
    verdict, failed = verdict_of(checks, when_all=HOLDS, otherwise=DOES_NOT_HOLD)
    explanation = " ".join(
        f"{k}: at λ = 0 train − null = {fmt(m[f'{k}_train_gap_no_penalty'])}, held-out − null = "
        f"{fmt(m[f'{k}_test_gap_no_penalty'])}; at λ = {strengths[-1]:g} held-out − null = "
        f"{fmt(m[f'{k}_test_gap_largest_strength'])} and ‖w‖ is {fmt(m[f'{k}_norm_ratio_largest_strength'])} of its "
        "unpenalised value." for k in MODELS
    ) + (f" Failed: {'; '.join(failed)}." if failed else "")
    fig, axes = new_figure(len(MODELS), width=4.2)
    for ax, model in zip(axes[0], MODELS):
        rs = [r for r in rows if r["model"] == model]
        x = [max(r["strength"], strengths[1] / 10) for r in rs]
        ax.semilogx(x, [r["train_gap"] for r in rs], "o-", label="train − null")
        ax.semilogx(x, [r["test_gap"] for r in rs], "s-", label="held-out − null")
        ax.axhline(0, color="k", lw=0.8)
        ax2 = ax.twinx()
        ax2.semilogx(x, [r["weight_norm"] for r in rs], "^:", color="grey", label="‖w‖")
        ax2.set_ylabel("‖w‖ (grey)")
        ax.set_xlabel(f"L2 strength λ (λ = 0 drawn at {strengths[1] / 10:g})")
        ax.set_ylabel("loss − null model's loss")
        ax.set_title(model)
        ax.legend(fontsize=7, loc="lower right")
    figure = figure_from_matplotlib(fig, "Losses relative to the null model, over λ",
                                    "Training and held-out loss minus the null model's (best constant) loss, and "
                                    "the weight norm, against the L2 strength.")
    setup = {"data": {"scenario": "pure_noise", "n": n, "p": p, "n_test": 1000, "seed": config.seed},
             "models": {k: {"task": v[0], "lr": v[1], "steps": v[3] if config.quick else v[2], "model_args": v[4]}
                        for k, v in MODELS.items()},
             "optimizer": "gd", "penalty": "L2(λ) on every weight (biases excluded), rule gradient",
             "strengths": strengths, "dtype": "float64",
             "sweep": "reglab.sweep.run_grid over penalties.0.strength (executor batched: one stacked model per model)"}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation, key="worst_test_gap_ratio",
                       command=command_for(ID, config), figures=[figure], tables={"runs": rows},
                       elapsed=time.perf_counter() - t0)
