"""``tsuruoka``: Tsuruoka et al. (2009) in small: how many weights SGD leaves non-zero under L1, by update rule.

Binary logistic regression "digit 8 against the rest" on the bundled digits data (64 standardized pixels),
minimizing mean NLL + λ‖w‖₁ (intercept unpenalized) by minibatch SGD with Tsuruoka's exponentially decaying
step η_k = η₀·α^(k/N) (k the sample count, N the training size). Three SGD variants, trained side by side on
the same minibatches, one ``nn.Linear`` each:

- **subgradient** — reglab's rule ``gradient`` (λ·sign(w) added to the gradient): weights oscillate around zero
  and are almost never exactly zero;
- **clipped** (Carpenter 2008; Tsuruoka's "clipping", Langford's truncated gradient with θ = ∞) — after the data
  step each weight moves ηλ toward zero and stops at zero. That is soft-thresholding after a plain step, which
  is exactly reglab's rule ``proximal`` under SGD, so no hand loop is needed;
- **cumulative** — reglab's rule ``cumulative`` (Tsuruoka's cumulative penalty with clipping).

The exact optimum is scikit-learn's ``LogisticRegression`` (saga, L1) with C mapped by
:func:`reglab.penalties.sklearn_params`. reglab applies each penalty to *every* weight at every step (dense); the
paper applies it lazily, only to the features present in the sample. The two differ when features are absent
(zero) in many samples; digits' standardized pixels are rarely exactly zero after standardization except for
constant columns, so only the dense behaviour is measured here.

Verdict rule (written before the runs), with nnz the count of weights ≠ 0 at the end and gap the relative
excess of the objective over the optimum's:
  inconclusive             if the cumulative run's gap exceeds GAP_TOL (SGD did not get near the optimum);
  does not hold            otherwise if subgradient leaves fewer than SUB_FACTOR × the optimum's nnz, or the
                           cumulative nnz is not within CUM_FACTOR × the optimum's (either way);
  holds                    otherwise if clipped leaves more non-zeros than cumulative (the paper's ordering);
  holds with a correction  otherwise (cumulative is as sparse as the optimum, but clipping is not worse).
"""

from __future__ import annotations

import time
import warnings
from typing import Final

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
)
from reglab.data import load_dataset
from reglab.penalties import L1, sklearn_params
from reglab.updates import Regularized

ID = "tsuruoka"
TITLE = "L1 by SGD: subgradient, clipped and cumulative penalties against the exact optimum (Tsuruoka et al. 2009)"
STATEMENT = ("Tsuruoka et al. (2009): with L1 by stochastic gradient descent, the subgradient method leaves almost "
             "every weight non-zero, clipping at zero leaves more non-zero weights than the optimum, and the "
             "cumulative penalty reaches the optimum's sparsity at a near-optimal objective.")
GAP_TOL = 0.05
# saga's tolerance (quick / full). Against tol 1e-10, seeds 0–4: tol 1e-5 leaves the optimum's objective within
# 6.6e-8 (relative) and the same non-zero count (20–24) in 0.1–0.8 s less than tol 1e-6 (6.7e-10); the rule
# reads the objective to GAP_TOL (5e-2) and the count.
SAGA_TOL: Final = {True: 1e-5, False: 1e-10}
SUB_FACTOR = 2.0
CUM_FACTOR = 1.5
RULE = (f"inconclusive if the cumulative run's objective exceeds the optimum's by > {GAP_TOL:g} (relative); does not "
        f"hold if subgradient leaves < {SUB_FACTOR:g}× the optimum's non-zeros or cumulative's non-zeros are not within "
        f"{CUM_FACTOR:g}× the optimum's; holds if clipped leaves more non-zeros than cumulative; holds with a correction "
        "otherwise")
METHODS = {"subgradient": "gradient", "clipped": "proximal", "cumulative": "cumulative"}
POSITIVE_DIGIT = 8


def _objective(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray, lam: float) -> float:
    """mean log(1 + exp(−s·(Xw + b))) + λ‖w‖₁, with s = 2y − 1."""
    z = (2 * y - 1) * (X @ w + b)
    return float(np.logaddexp(0.0, -z).mean() + lam * np.abs(w).sum())


def run(config: RunConfig) -> ClaimResult:
    """Train the three SGD variants on the same minibatches; compare non-zeros and objective with the optimum."""
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    passes = 4 if config.quick else 10
    lam, lr0, alpha, batch = 0.01, 0.5, 0.85, 10
    ds = load_dataset("digits", seed=config.seed)
    X, y = ds.X, (ds.y == POSITIVE_DIGIT).to(torch.float64)
    n, p = X.shape
    Xn, yn = X.numpy(), y.numpy()

    term = L1(lam)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = LogisticRegression(**sklearn_params(term, n, "LogisticRegression"), solver="saga", tol=SAGA_TOL[config.quick],
                                max_iter=20000).fit(Xn, yn)
    w_opt, b_opt = sk.coef_[0], float(sk.intercept_[0])
    obj_opt = _objective(w_opt, b_opt, Xn, yn, lam)
    nnz_opt = int(np.count_nonzero(w_opt))

    heads = Heads([nn.Linear(p, 1, dtype=torch.float64) for _ in METHODS])
    with torch.no_grad():
        for lin in heads.members.values():
            lin.weight.zero_()
            lin.bias.zero_()
    terms = [L1(lam, on=[f"members.h{k}.weight"], update=rule) for k, rule in enumerate(METHODS.values())]
    inner = torch.optim.SGD(heads.parameters(), lr=lr0)
    opt = Regularized(inner, heads, terms)
    gen = torch.Generator().manual_seed(config.seed)
    history = []

    def snapshot(epoch: float) -> None:
        for name, lin in zip(METHODS, heads.members.values()):
            w, b = lin.weight.detach()[0].numpy().copy(), float(lin.bias.detach()[0])
            history.append({"method": name, "pass": epoch, "nonzeros": int(np.count_nonzero(w)),
                            "objective": _objective(w, b, Xn, yn, lam)})

    seen = 0
    for epoch in range(passes):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            for group in inner.param_groups:
                group["lr"] = lr0 * alpha ** (seen / n)
            opt.zero_grad()
            logits = [lin(X[idx])[:, 0] for lin in heads.members.values()]
            sum(nn.functional.binary_cross_entropy_with_logits(z, y[idx]) for z in logits).backward()
            opt.step()
            seen += len(idx)
        snapshot(epoch + 1)
    final = {r["method"]: r for r in history if r["pass"] == passes}
    m: dict[str, float] = {"nonzeros_optimum": nnz_opt, "objective_optimum": obj_opt, "features": p}
    for name in METHODS:
        m[f"nonzeros_{name}"] = final[name]["nonzeros"]
        m[f"objective_gap_{name}"] = (final[name]["objective"] - obj_opt) / obj_opt
    if m["objective_gap_cumulative"] > GAP_TOL:
        verdict = INCONCLUSIVE
    elif m["nonzeros_subgradient"] < SUB_FACTOR * nnz_opt or not (
            nnz_opt / CUM_FACTOR <= m["nonzeros_cumulative"] <= CUM_FACTOR * nnz_opt):
        verdict = DOES_NOT_HOLD
    elif m["nonzeros_clipped"] > m["nonzeros_cumulative"]:
        verdict = HOLDS
    else:
        verdict = HOLDS_WITH_CORRECTION
    explanation = (
        f"After {passes} passes (minibatches of {batch}, η_k = {lr0:g}·{alpha:g}^(k/N)), non-zero weights out of {p}: "
        + ", ".join(f"{name} {m[f'nonzeros_{name}']} (objective {fmt(100 * m[f'objective_gap_{name}'])}% above the optimum)"
                    for name in METHODS)
        + f"; the exact optimum (scikit-learn saga, C = {fmt(sklearn_params(term, n, 'LogisticRegression')['C'])}) has "
        f"{nnz_opt}. "
        + ("Clipping (reglab's proximal rule) was not less sparse than the cumulative penalty here: the paper's ordering "
           "of those two is not reproduced at this size." if verdict == HOLDS_WITH_CORRECTION else "")
    )
    fig, axes = new_figure(2)
    for k, name in enumerate(METHODS):
        rs = [r for r in history if r["method"] == name]
        axes[0][0].plot([r["pass"] for r in rs], [r["nonzeros"] for r in rs], "o-", ms=3, color=f"C{k}", label=name)
        axes[0][1].semilogy([r["pass"] for r in rs], [max(r["objective"] - obj_opt, 1e-12) for r in rs], "o-", ms=3,
                            color=f"C{k}", label=name)
    axes[0][0].axhline(nnz_opt, color="k", ls="--", lw=0.8, label="optimum")
    axes[0][0].set_xlabel("pass")
    axes[0][0].set_ylabel("non-zero weights")
    axes[0][0].legend(fontsize=7)
    axes[0][1].set_xlabel("pass")
    axes[0][1].set_ylabel("objective − optimum")
    axes[0][1].legend(fontsize=7)
    figure = figure_from_matplotlib(fig, "Non-zeros and objective against passes",
                                    "Left: weights ≠ 0 after each pass, dashed: the exact optimum's. Right: the excess "
                                    "objective (mean NLL + λ‖w‖₁) over scikit-learn's optimum.")
    setup = {"data": {"dataset": "digits", "task": f"digit {POSITIVE_DIGIT} against the rest", "seed": config.seed},
             "model": "logistic regression (float64), zero init", "penalty": {"kind": "l1", "strength": lam},
             "rules": METHODS, "optimizer": f"sgd, minibatch {batch}, η_k = {lr0:g}·{alpha:g}^(k/N), {passes} passes",
             "reference": "sklearn LogisticRegression(solver='saga', l1_ratio=1, tol=1e-5 quick / 1e-10 full), C from sklearn_params",
             "penalty_application": "dense (every weight, every step); lazy application not measured"}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation, key="nonzeros_cumulative",
                       command=command_for(ID, config), figures=[figure], tables={"passes": history},
                       elapsed=time.perf_counter() - t0)
