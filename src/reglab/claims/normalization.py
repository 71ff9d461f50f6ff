"""``normalization``: L2 on weights that feed a normalization layer cannot make the model the null model.

The argument says that for *any* model f(x; w), a large enough L2 penalty drives the fit to the null model on
data without signal. A network ``fc1 (no bias) → LayerNorm → ReLU → fc2`` (float64) breaks the premise for the
weights W1 of ``fc1``: the output does not depend on their scale, f(x; s·W1) = f(x; W1) for every s > 0 (up to
the norm layer's ε, here ``EPS``), so their gradient is orthogonal to W1, L2 on them only shrinks ‖W1‖, and
each GD step then moves the direction of W1 by an effective step η/‖W1‖² that *grows* (van Laarhoven 2017).
Whether the model reaches the null model depends on the other weights: the LayerNorm's affine γ, β and the last
layer ``fc2`` carry the scale of the output, and penalizing them as well does it.

Measured on pure noise (``pure_noise``) and on data with signal (``linear_regression``): the largest relative
change of the output when W1 is scaled by s ∈ SCALES; ‖W1‖ and η/‖W1‖² before and after GD with L2 on W1 only;
and the spread of the predictions on the training set, std(f)/std(y), after GD with L2 on W1 only and with L2
on W1, the LayerNorm affine parameters and the last layer's weight (every weight but the output bias).

Verdict rule (written before the runs):
  the mechanism is confirmed if, on both datasets, (a) scaling W1 changes the output by at most INV_TOL
  relative, (b) after T steps L2 on W1 only leaves ‖W1‖ below the unpenalized run's (ratio < 1), so the
  effective step η/‖W1‖² is larger than without a penalty (ratio > 1); on pure noise, "reaches the null model" means std(f)/std(y) ≤ NULL_TOL;
  holds with a correction  if the mechanism is confirmed, L2 on W1 only does not reach the null model on pure
                           noise, and L2 on W1, the LayerNorm affine weights and the last layer's weight
                           does (the "any model" statement needs the penalty on weights whose scale the
                           output depends on);
  holds                    if the mechanism is confirmed and L2 on W1 only reaches the null model;
  does not hold            if the mechanism is confirmed and neither run reaches the null model;
  inconclusive             if the mechanism is not confirmed (the setup did not isolate it).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from reglab.claims.base import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    INCONCLUSIVE,
    ClaimResult,
    Heads,
    RunConfig,
    command_for,
    figure_from_matplotlib,
    fmt,
    new_figure,
    run_hand_loop,
    verdict_of,
)
from reglab.data import linear_regression, pure_noise
from reglab.penalties import L2

ID = "normalization"
USES_DEVICE = True  # trains a network: on RunConfig.device (reglab claims --device)
TITLE = "Weights feeding a normalization layer: L2 shrinks them but cannot reach the null model"
STATEMENT = ("For any model f(x; w), L2 on the weights with a large enough strength drives the fit on data without "
             "signal to the null model. With a normalization layer the output does not depend on the scale of the "
             "weights feeding it: L2 on them only raises the effective learning rate η/‖w‖².")
EPS = 1e-14
SCALES = (0.01, 0.1, 10.0, 100.0)
INV_TOL = 1e-8
NULL_TOL = 0.1
ALL = "L2 on W1, norm affine and last layer"
RULE = (f"mechanism confirmed if on both datasets scaling W1 by s ∈ {list(SCALES)} changes the output by ≤ {INV_TOL:g} "
        f"relative, and after T steps L2 on W1 only leaves ‖W1‖ below the unpenalized run's (η/‖W1‖² larger); on pure noise 'null model' means "
        f"std(f)/std(y) ≤ {NULL_TOL:g}. holds with a correction if confirmed, L2 on W1 only does not reach the null "
        "model and L2 on W1, the norm's affine weights and the last layer's weight does; holds if L2 on W1 only reaches it; does not hold if neither does; "
        "inconclusive if the mechanism is not confirmed")


class NormNet(nn.Module):
    """``fc1`` (no bias) → LayerNorm (ε = EPS, affine) → ReLU → ``fc2``, float64.

    Shapes: input (n, p), output (n,).
    """

    def __init__(self, n_features: int, hidden: int, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc1 = nn.Linear(n_features, hidden, bias=False, dtype=torch.float64)
        self.norm = nn.LayerNorm(hidden, eps=EPS, dtype=torch.float64)
        self.fc2 = nn.Linear(hidden, 1, dtype=torch.float64)
        with torch.no_grad():
            for layer in (self.fc1, self.fc2):
                bound = 1.0 / layer.in_features ** 0.5
                layer.weight.copy_(torch.rand(layer.weight.shape, generator=g, dtype=torch.float64) * 2 * bound - bound)
            self.fc2.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.norm(self.fc1(x))))[:, 0]


def _invariance(net: NormNet, X: torch.Tensor) -> float:
    """max over s ∈ SCALES of max|f(x; s·W1) − f(x; W1)| / max|f(x; W1)|."""
    with torch.no_grad():
        ref = net(X)
        w = net.fc1.weight.clone()
        worst = 0.0
        for s in SCALES:
            net.fc1.weight.copy_(s * w)
            worst = max(worst, float((net(X) - ref).abs().max() / ref.abs().max()))
        net.fc1.weight.copy_(w)
    return worst


def run(config: RunConfig) -> ClaimResult:
    """Scale invariance, ‖W1‖ and η/‖W1‖² under L2, and the distance to the null model, on noise and signal."""
    t0 = time.perf_counter()
    steps = 200 if config.quick else 800
    n, p, hidden, lr, lam = 200, 20, 16, 0.1, 1.0
    device = config.torch_device()
    datasets = {"pure noise": pure_noise(n=n, p=p, n_test=0, seed=config.seed).to_device(device),
                "signal": linear_regression(n=n, p=p, noise=0.5, seed=config.seed).to_device(device)}
    cases = {"none": None, "L2 on W1": ["fc1.weight"], ALL: ["fc1.weight", "norm.weight", "norm.bias", "fc2.weight"]}
    # every (dataset, penalty) pair is one member of a Heads module, trained side by side in one loop: the loss
    # is the sum of the members' own losses, so each member takes exactly its own GD step
    pairs = [(d, c) for d in datasets for c in cases]
    heads = Heads([NormNet(p, hidden, config.seed) for _ in pairs]).to(device)  # initialised on the CPU
    members = list(heads.members.values())
    inv = [_invariance(net, datasets[d].X) for net, (d, _) in zip(members, pairs)]
    terms = [L2(lam, on=[f"members.h{k}.{name}" for name in cases[c]])
             for k, (_, c) in enumerate(pairs) if cases[c] is not None]
    data = [(datasets[d].X, datasets[d].y.reshape(-1)) for d, _ in pairs]
    path = run_hand_loop(
        heads, lambda h: sum((net(X) - y).square().mean() for net, (X, y) in zip(h.members.values(), data)), terms,
        torch.optim.SGD(heads.parameters(), lr=lr), steps,
        lambda h: torch.stack([v for net, (X, _) in zip(h.members.values(), data)
                               for v in (net.fc1.weight.norm(), net(X).std())]))
    rows, traces = [], {}
    for k, (dname, cname) in enumerate(pairs):
        traces[(dname, cname)] = path[:, 2 * k:2 * k + 2]
        norm0, normT = path[0, 2 * k], path[-1, 2 * k]
        rows.append({"data": dname, "penalty": cname, "strength": 0.0 if cases[cname] is None else lam, "lr": lr,
                     "steps": steps, "output_change_under_scaling": inv[k], "w1_norm_initial": float(norm0),
                     "w1_norm_final": float(normT), "prediction_spread": float(path[-1, 2 * k + 1] / data[k][1].std())})
    by = {(r["data"], r["penalty"]): r for r in rows}
    for r in rows:  # against the unpenalized run on the same data, at the same step
        r["w1_norm_over_no_penalty"] = r["w1_norm_final"] / by[(r["data"], "none")]["w1_norm_final"]
        r["effective_step_over_no_penalty"] = r["w1_norm_over_no_penalty"] ** -2
    m = {
        "max_output_change_under_scaling": max(r["output_change_under_scaling"] for r in rows),
        "max_w1_norm_over_no_penalty_l2": max(by[(d, "L2 on W1")]["w1_norm_over_no_penalty"] for d in datasets),
        "min_effective_step_over_no_penalty_l2": min(by[(d, "L2 on W1")]["effective_step_over_no_penalty"]
                                                     for d in datasets),
        "spread_noise_no_penalty": by[("pure noise", "none")]["prediction_spread"],
        "spread_noise_l2_w1_only": by[("pure noise", "L2 on W1")]["prediction_spread"],
        "spread_noise_l2_all": by[("pure noise", ALL)]["prediction_spread"],
        "spread_signal_l2_w1_only": by[("signal", "L2 on W1")]["prediction_spread"],
    }
    mechanism, failed = verdict_of([
        ("output unchanged by the scale of W1", m["max_output_change_under_scaling"] <= INV_TOL),
        ("L2 on W1 shrinks ‖W1‖", m["max_w1_norm_over_no_penalty_l2"] < 1.0),
        ("effective step η/‖W1‖² grows", m["min_effective_step_over_no_penalty_l2"] > 1.0),
    ], when_all="confirmed", otherwise="not confirmed")
    w1_null = m["spread_noise_l2_w1_only"] <= NULL_TOL
    last_null = m["spread_noise_l2_all"] <= NULL_TOL
    if mechanism != "confirmed":
        verdict = INCONCLUSIVE
    elif w1_null:
        verdict = HOLDS
    elif last_null:
        verdict = HOLDS_WITH_CORRECTION
    else:
        verdict = DOES_NOT_HOLD
    explanation = (
        f"Scaling W1 by {', '.join(fmt(s) for s in SCALES)} changed the output by at most "
        f"{fmt(m['max_output_change_under_scaling'])} (relative). After {steps} steps with L2(λ={lam:g}) on W1 only, ‖W1‖ "
        f"was at most {fmt(m['max_w1_norm_over_no_penalty_l2'])} of the unpenalized run's, so the effective step "
        f"η/‖W1‖² was at least {fmt(m['min_effective_step_over_no_penalty_l2'])}× larger. On pure noise the prediction spread std(f)/std(y) was {fmt(m['spread_noise_no_penalty'])} without a "
        f"penalty, {fmt(m['spread_noise_l2_w1_only'])} with L2 on W1 only, and {fmt(m['spread_noise_l2_all'])} "
        f"with L2 on every weight whose scale the output depends on as well (LayerNorm affine, last layer) (null model: ≤ {NULL_TOL:g}). "
        + ("The 'any model' statement needs the penalty on weights whose scale the output depends on: L2 on the weights "
           "feeding a normalization layer never makes the null model." if verdict == HOLDS_WITH_CORRECTION else "")
        + (f"Failed: {', '.join(failed)}." if failed else "")
    )
    fig, axes = new_figure(2)
    t = np.arange(steps + 1)
    for dname, ls in (("pure noise", "-"), ("signal", "--")):
        for k, cname in enumerate(cases):
            path = traces[(dname, cname)]
            axes[0][0].plot(t, path[:, 0] / path[0, 0], ls, color=f"C{k}", label=f"{dname}: {cname}")
            axes[0][1].plot(t, path[:, 1] / datasets[dname].y.std().item(), ls, color=f"C{k}", label=f"{dname}: {cname}")
    axes[0][0].set_yscale("log")
    axes[0][0].set_xlabel("step t")
    axes[0][0].set_ylabel("‖W1‖_t / ‖W1‖_0  (η/‖W1‖² ∝ its inverse square)")
    axes[0][0].legend(fontsize=6)
    axes[0][1].axhline(NULL_TOL, color="k", lw=0.8, ls=":")
    axes[0][1].set_xlabel("step t")
    axes[0][1].set_ylabel("std(f) / std(y) on the training set")
    axes[0][1].legend(fontsize=6)
    figure = figure_from_matplotlib(fig, "A LayerNorm network under L2",
                                    "Left: norm of the weights feeding the LayerNorm (log scale). Right: spread of the "
                                    "predictions; dotted: the null-model threshold. Solid: pure noise; dashed: signal.")
    setup = {"device": str(device), "data": {"pure noise": {"n": n, "p": p, "seed": config.seed},
                      "signal": {"scenario": "linear_regression", "n": n, "p": p, "noise": 0.5, "seed": config.seed}},
             "model": f"fc1 ({p}→{hidden}, no bias) → LayerNorm(eps={EPS:g}) → ReLU → fc2 ({hidden}→1), float64",
             "optimizer": "gd (hand loop around Regularized(SGD))", "lr": lr, "steps": steps,
             "penalties": {k: None if v is None else {"kind": "l2", "strength": lam, "on": v} for k, v in cases.items()},
             "scales": list(SCALES)}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation,
                       key="spread_noise_l2_w1_only", command=command_for(ID, config), figures=[figure],
                       tables={"runs": rows}, elapsed=time.perf_counter() - t0)
