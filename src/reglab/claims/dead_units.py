"""``dead-units``: a ReLU unit that never fires on the training set keeps its incoming weights, unless L2 decays them.

A one-hidden-layer ReLU MLP (float64) on the bundled digits data (softmax output, cross-entropy), trained by
full-batch gradient descent. A unit whose pre-activation is negative on every training sample gets zero
gradient on its incoming weights and bias, so plain GD leaves them at their initial values bit for bit; under
L2 (rule ``gradient``) on the hidden layer each of them is multiplied by exactly 1 − 2ηλ per step (the
penalty's gradient is the only gradient they get), and, since weights and bias shrink by the same factor, the
unit stays dead.

Freshly initialised networks on standardized digits have few or no dead units, so the claim first counts the
units that are dead at initialisation and after training (found, not built), and then, to have dead units in
every seed, *creates* ``N_DEAD`` of them deterministically: the units with the lowest maximal pre-activation
over the training set get the bias ``b_j − max_i z_ij − MARGIN``, which puts them just below zero on every
training sample (the construction is in :func:`_kill_units` and in the report's setup).

Verdict rule (written before the runs):
  holds if (a) without a penalty max |w_T − w_0| over the dead units' incoming weights and biases is 0
  (bit for bit: a zero gradient leaves float64 weights unchanged) while the live units' weights moved by more
  than MOVED_TOL; (b) with L2 the per-step factor w_{t+1}/w_t of every dead weight equals 1 − 2ηλ within
  RATE_TOL at every step, and |w_T|/|w_0| equals (1 − 2ηλ)^T within RATE_TOL relative; (c) the dead units are
  still dead at the end of both runs; does not hold otherwise.
"""

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
    verdict_of,
)
from reglab.data import load_dataset
from reglab.models import mlp
from reglab.penalties import L2

ID = "dead-units"
USES_DEVICE = True  # trains a network: on RunConfig.device (reglab claims --device)
TITLE = "Dead ReLU units in a real network: stuck without a penalty, decayed by 1 − 2ηλ with L2"
STATEMENT = ("In a ReLU network, a hidden unit that never activates on the training set gets zero gradient on "
             "its incoming weights: gradient descent without a penalty leaves them at their initial values for "
             "ever, and an L2 penalty decays them by exactly 1 − 2ηλ per step.")
RATE_TOL = 1e-12
MOVED_TOL = 1e-3
MARGIN = 0.5
N_DEAD = 4
RULE = (f"holds if, without a penalty, the dead units' incoming weights and biases are bit-for-bit unchanged "
        f"(max|w_T − w_0| = 0) while live weights moved by > {MOVED_TOL:g}; with L2 (rule gradient) every per-step "
        f"factor w_(t+1)/w_t of a dead weight equals 1 − 2ηλ within {RATE_TOL:g} and |w_T|/|w_0| equals (1 − 2ηλ)^T "
        f"within {RATE_TOL:g} relative; and the dead units are still dead after both runs; otherwise does not hold")


def _pre_activation(net: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Hidden pre-activations z = X W1ᵀ + b1, shape (n, hidden)."""
    return X @ net.fc1.weight.T + net.fc1.bias


def _dead(net: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Boolean mask (hidden,): units whose pre-activation is ≤ 0 on every sample of X (ReLU output 0 everywhere)."""
    with torch.no_grad():
        return (_pre_activation(net, X) <= 0).all(dim=0)


def _kill_units(net: torch.nn.Module, X: torch.Tensor, count: int) -> torch.Tensor:
    """Make the ``count`` units with the lowest max pre-activation dead on X: b_j ← b_j − max_i z_ij − MARGIN.

    Returns the indices of the dead units (the already-dead ones first), shape (≥ count,).
    """
    with torch.no_grad():
        top = _pre_activation(net, X).max(dim=0).values
        chosen = torch.argsort(top)[:count]
        net.fc1.bias[chosen] -= top[chosen].clamp(min=0.0) + MARGIN
    return torch.nonzero(_dead(net, X)).reshape(-1)


def run(config: RunConfig) -> ClaimResult:
    """Train the digits MLP with and without L2 and trace the dead units' incoming weights."""
    t0 = time.perf_counter()
    steps = 60 if config.quick else 300
    hidden, lr, lam = 32, 0.1, 0.05
    device = config.torch_device()
    ds = load_dataset("digits", seed=config.seed)
    X, y = ds.X.to(device), ds.y.to(device)
    n_classes = int(y.max()) + 1

    def fresh() -> torch.nn.Module:  # initialised on the CPU, so every device starts from the same weights
        return mlp(ds.n_features, [hidden], n_classes, generator=torch.Generator().manual_seed(config.seed),
                   dtype=torch.float64).to(device)

    def loss_of(m: torch.nn.Module) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(m(X), y)

    # dead units found: at initialisation, and after plain GD from the untouched network
    found = fresh()
    dead_at_init = int(_dead(found, X).sum())
    run_hand_loop(found, loss_of, [], torch.optim.SGD(found.parameters(), lr=lr), steps, lambda m: m.fc1.bias[:1])
    dead_after_training = int(_dead(found, X).sum())

    rows, traces = [], {}
    for strength in (0.0, lam):
        net = fresh()
        dead_idx = _kill_units(net, X, N_DEAD)
        live = torch.ones(hidden, dtype=torch.bool, device=device)
        live[dead_idx] = False
        w0_live = net.fc1.weight[live].detach().clone()
        terms = [L2(strength, on="fc1.*")] if strength > 0 else []
        path = run_hand_loop(net, loss_of, terms, torch.optim.SGD(net.parameters(), lr=lr), steps,
                             lambda m, idx=dead_idx: torch.cat([m.fc1.weight[idx].reshape(-1), m.fc1.bias[idx]]))
        traces[strength] = path
        nonzero = np.abs(path[:-1]) > 0
        factors = np.where(nonzero, path[1:] / np.where(nonzero, path[:-1], 1.0), np.nan)
        theory = 1.0 - 2.0 * lr * strength
        w0 = path[0][np.abs(path[0]) > 0]
        wT = path[-1][np.abs(path[0]) > 0]
        rows.append({
            "l2_strength": strength, "lr": lr, "steps": steps, "dead_units": len(dead_idx),
            "dead_weights_traced": int(path.shape[1]),
            "max_change_dead": float(np.abs(path[-1] - path[0]).max()),
            "max_change_live": float((net.fc1.weight[live].detach() - w0_live).abs().max()),
            "max_factor_error": float(np.nanmax(np.abs(factors - theory))),
            "final_over_initial_rel_error": float(np.abs(wT / w0 / theory ** steps - 1.0).max()),
            "still_dead_at_end": int(_dead(net, X)[dead_idx].sum()),
            "train_loss_end": float(loss_of(net).detach()),
        })
    plain, l2 = rows
    m = {
        "dead_units_at_init_found": dead_at_init,
        "dead_units_after_training_found": dead_after_training,
        "dead_units_traced": plain["dead_units"],
        "max_change_dead_no_penalty": plain["max_change_dead"],
        "min_change_live_no_penalty": plain["max_change_live"],
        "max_factor_error_l2": l2["max_factor_error"],
        "final_over_initial_rel_error_l2": l2["final_over_initial_rel_error"],
        "theory_final_over_initial_l2": (1 - 2 * lr * lam) ** steps,
        "units_revived": sum(r["dead_units"] - r["still_dead_at_end"] for r in rows),
    }
    verdict, failed = verdict_of([
        ("dead weights bit-for-bit unchanged without a penalty", m["max_change_dead_no_penalty"] == 0.0),
        ("live weights trained", m["min_change_live_no_penalty"] > MOVED_TOL),
        ("per-step factor 1 − 2ηλ with L2", m["max_factor_error_l2"] <= RATE_TOL),
        ("|w_T|/|w_0| = (1 − 2ηλ)^T with L2", m["final_over_initial_rel_error_l2"] <= RATE_TOL),
        ("dead units stay dead", m["units_revived"] == 0),
    ], when_all=HOLDS, otherwise=DOES_NOT_HOLD)
    explanation = (
        f"The untouched network had {dead_at_init} dead unit(s) of {hidden} at initialisation and "
        f"{dead_after_training} after {steps} GD steps; {m['dead_units_traced']} dead unit(s) were traced "
        f"({N_DEAD} made dead by lowering their bias just below zero on the whole training set). Without a penalty "
        f"their {plain['dead_weights_traced']} incoming weights and biases moved by {fmt(m['max_change_dead_no_penalty'])} "
        f"while live weights moved by up to {fmt(m['min_change_live_no_penalty'])}. With L2(λ={lam:g}) on the hidden "
        f"layer the per-step factor matched 1 − 2ηλ = {fmt(1 - 2 * lr * lam)} to {fmt(m['max_factor_error_l2'])} and "
        f"|w_T|/|w_0| matched (1 − 2ηλ)^T = {fmt(m['theory_final_over_initial_l2'])} to "
        f"{fmt(m['final_over_initial_rel_error_l2'])} (relative); {m['units_revived']} unit(s) revived."
        + (f" Failed: {', '.join(failed)}." if failed else "")
    )
    fig, axes = new_figure(2)
    t = np.arange(steps + 1)
    ax = axes[0][0]
    for strength, path in traces.items():
        label = "no penalty" if strength == 0 else f"L2 λ={strength:g}"
        ax.plot(t, np.abs(path[:, :8] / path[0, :8]), lw=1, alpha=0.8,
                color="C0" if strength == 0 else "C1", label=[label] + [None] * 7)
    ax.plot(t, (1 - 2 * lr * lam) ** t, "k--", lw=1, label="(1 − 2ηλ)^t")
    ax.set_xlabel("step t")
    ax.set_ylabel("|w_t / w_0| (dead unit weights)")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    labels = ["no penalty", f"L2 λ={lam:g}"]
    x = np.arange(2)
    ax.bar(x - 0.2, [r["max_change_dead"] + 1e-18 for r in rows], 0.4, label="dead units")
    ax.bar(x + 0.2, [r["max_change_live"] + 1e-18 for r in rows], 0.4, label="live units")
    ax.set_yscale("log")
    ax.set_xticks(x, labels)
    ax.set_ylabel("max |w_T − w_0|")
    ax.legend(fontsize=8)
    figure = figure_from_matplotlib(fig, "Dead units' incoming weights on digits",
                                    "Left: |w_t/w_0| of the first 8 traced dead-unit weights (overlapping lines), "
                                    "without a penalty (flat at 1) and with L2, against (1 − 2ηλ)^t. Right: how far "
                                    "dead and live incoming weights moved (1e-18 added so that zero shows).")
    setup = {"device": str(device), "data": {"dataset": "digits", "split": "load_dataset(test_size=0.25, standardize=True)", "seed": config.seed},
             "model": f"mlp 64 → [{hidden}] ReLU → {n_classes} (float64), cross-entropy",
             "dead_units": f"the {N_DEAD} units with the lowest max pre-activation over the training set get "
                           f"b_j ← b_j − max_i z_ij − {MARGIN} (plus any found dead)",
             "optimizer": "gd (hand loop around Regularized(SGD))", "lr": lr, "steps": steps,
             "penalties": [None, {"kind": "l2", "strength": lam, "on": "fc1.*", "update": "gradient"}]}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation,
                       key="max_change_dead_no_penalty", command=command_for(ID, config), figures=[figure],
                       tables={"runs": rows}, elapsed=time.perf_counter() - t0)
