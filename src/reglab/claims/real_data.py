"""``real-data`` (beyond): does a tuned penalty beat no penalty on real data, and how does it compare with sklearn?"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace

import numpy as np
import torch

from reglab.claims.base import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    INCONCLUSIVE,
    ClaimResult,
    RunConfig,
    command_for,
    figure_from_matplotlib,
    fmt,
    new_figure,
)
from reglab.data import load_dataset
from reglab.sweep import run_grid
from reglab.training import fit

ID = "real-data"
TITLE = "On real data, a tuned penalty against none and against scikit-learn"
STATEMENT = ("On real datasets a penalty with its strength chosen on validation data gives a lower held-out loss "
             "than no penalty, for L2, L1 (proximal) and elastic net, on linear, logistic and softmax models and a "
             "small MLP; the tuned loss is on par with scikit-learn's cross-validated estimators.")
# Verdict rule: for each (dataset, model), λ is chosen by the validation loss (a quarter of the training
# part held out) over the grid for every penalty. On the test set, the per-sample loss differences
# d_i = loss_i(λ = 0) − loss_i(chosen) give a paired t = mean(d) / (std(d)/√n): "better" if t > T_SIG,
# "worse" if t < −T_SIG, "indistinguishable" otherwise.
#   "holds" if every case is better; "does not hold" if any case is worse; "holds with a correction" if
#   some are better and the rest indistinguishable; "inconclusive" if every case is indistinguishable.
T_SIG = 2.0
RULE = (f"λ chosen on a validation split (25% of the training part); on the test set, paired t of the per-sample "
        f"loss difference (λ = 0 minus chosen): better if t > {T_SIG:g}, worse if t < −{T_SIG:g}. holds if every case "
        "is better, does not hold if any is worse, holds with a correction if some are better and the rest "
        "indistinguishable, inconclusive if all are indistinguishable")


def _per_sample_loss(loss_name: str, out: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-sample data loss (the mean of which is the model's data loss)."""
    import torch.nn.functional as F

    if loss_name == "squared":
        return (y.reshape(-1) - out.reshape(-1)).square().numpy()
    if loss_name == "logistic":
        return F.binary_cross_entropy_with_logits(out.reshape(-1), y.reshape(-1).to(out.dtype), reduction="none").numpy()
    return F.cross_entropy(out, y, reduction="none").numpy()

CASES = [  # (dataset, model, lr, model_args)
    ("diabetes", "linear", "auto", None),
    ("breast_cancer", "logistic", "auto", None),
    ("digits", "softmax", "auto", None),
    ("breast_cancer", "mlp", 0.1, {"hidden": [16]}),
]


def _sklearn_test_loss(name: str, ds, loss) -> dict[str, float]:  # noqa: ANN001
    """Test loss of scikit-learn's CV estimators on the same split (their own CV on the training part)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LassoCV, LogisticRegressionCV, RidgeCV

    X, y, Xt = ds.X.numpy(), ds.y.numpy(), ds.X_test.numpy()
    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if name == "diabetes":
            for label, est in (("RidgeCV", RidgeCV(alphas=np.logspace(-3, 3, 13))), ("LassoCV", LassoCV(cv=5))):
                pred = torch.as_tensor(est.fit(X, y).predict(Xt)).reshape(-1, 1)
                out[label] = float(loss(pred, ds.y_test))
        else:
            est = LogisticRegressionCV(Cs=6, cv=3, max_iter=300, tol=1e-3, l1_ratios=(0.0,),
                                       scoring="neg_log_loss", use_legacy_attributes=False).fit(X, y)
            logits = torch.as_tensor(est.decision_function(Xt))
            out["LogisticRegressionCV"] = float(loss(logits.reshape(len(Xt), -1), ds.y_test))
    out["convergence_warnings"] = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    return out


def run(config: RunConfig) -> ClaimResult:
    """Validation-tuned λ for each penalty on each bundled dataset; test loss against λ = 0 and sklearn."""
    t0 = time.perf_counter()
    grid = [1e-3, 1e-2, 1e-1] if config.quick else [1e-4, 1e-3, 1e-2, 1e-1]
    steps = 120 if config.quick else 200
    cases = CASES[:2] if config.quick else CASES  # quick: diabetes and breast_cancer
    penalties = {"L2": {"kind": "l2"}, "L1 (proximal)": {"kind": "l1", "update": "proximal"}}
    if not config.quick:
        penalties["elastic net 0.5 (proximal)"] = {"kind": "elasticnet", "l1_ratio": 0.5, "update": "proximal"}
    rows, summary = [], []
    for name, model, lr, args in cases:
        ds = load_dataset(name, seed=config.seed)
        inner = replace(ds, X_test=None, y_test=None).split(0.25, seed=config.seed)
        pens = {"L2": penalties["L2"]} if model == "mlp" else penalties
        base = {"model": model, "data": {"dataset": name, "seed": config.seed}, "lr": lr, "steps": steps,
                "seed": config.seed, "dtype": "float64"}
        if args is not None:
            base["model_args"] = args

        per_sample = {}
        for pname, pen in pens.items():
            # one batched sweep per penalty over its strengths (reglab.sweep.run_grid), trained on the inner
            # split; the L2 sweep also runs λ = 0, which is the unpenalised run (L2(0) adds exactly zero)
            strengths = [0.0, *grid] if pname == "L2" else grid
            fits = run_grid({**base, "penalties": [{**pen, "strength": 1.0}]}, {"penalties.0.strength": strengths},
                            data=inner, keep_fits=True)["fit"]
            for lam, res in zip(strengths, fits):
                key = ("none", 0.0) if lam == 0.0 else (pname, lam)
                with torch.no_grad():
                    per_sample[key] = _per_sample_loss(res.loss.name, res.model(ds.X_test), ds.y_test)
                rows.append({"dataset": name, "model": model, "penalty": key[0], "strength": lam,
                             "val_loss": res.data_loss("test"), "test_loss": float(per_sample[key].mean())})
        test0 = float(per_sample[("none", 0.0)].mean())
        mine = [r for r in rows if r["dataset"] == name and r["model"] == model]
        best = min(mine, key=lambda r: r["val_loss"])
        d = per_sample[("none", 0.0)] - per_sample[(best["penalty"], best["strength"])]
        sd = float(d.std(ddof=1))
        t_stat = float(d.mean() / (sd / np.sqrt(len(d)))) if sd > 0 else 0.0
        entry = {"dataset": name, "model": model, "test_loss_no_penalty": test0, "chosen_penalty": best["penalty"],
                 "chosen_strength": best["strength"], "test_loss_chosen": best["test_loss"], "paired_t": t_stat,
                 "outcome": "better" if t_stat > T_SIG else "worse" if t_stat < -T_SIG else "indistinguishable",
                 "relative_improvement": (test0 - best["test_loss"]) / test0}
        if model != "mlp":
            sk = _sklearn_test_loss(name, ds, fit(model, ds, steps=0).loss)
            entry.update({f"sklearn_{k}": v for k, v in sk.items()})
            sk_losses = [v for k, v in sk.items() if k != "convergence_warnings"]
            entry["ours_over_best_sklearn"] = best["test_loss"] / min(sk_losses)
        summary.append(entry)
    m: dict[str, float] = {}
    for e in summary:
        key = f"{e['dataset']}_{e['model']}"
        m[f"{key}_relative_improvement"] = e["relative_improvement"]
        m[f"{key}_paired_t"] = e["paired_t"]
        if "ours_over_best_sklearn" in e:
            m[f"{key}_ours_over_best_sklearn"] = e["ours_over_best_sklearn"]
    m["cases_better"] = sum(e["outcome"] == "better" for e in summary)
    m["cases_worse"] = sum(e["outcome"] == "worse" for e in summary)
    m["cases"] = len(summary)
    m["worst_ours_over_best_sklearn"] = max(e["ours_over_best_sklearn"] for e in summary if "ours_over_best_sklearn" in e)
    if m["cases_worse"] > 0:
        verdict = DOES_NOT_HOLD
    elif m["cases_better"] == m["cases"]:
        verdict = HOLDS
    elif m["cases_better"] > 0:
        verdict = HOLDS_WITH_CORRECTION
    else:
        verdict = INCONCLUSIVE
    explanation = " ".join(
        f"{e['dataset']} ({e['model']}): chosen {e['chosen_penalty']} λ = {fmt(e['chosen_strength'])}, test loss "
        f"{fmt(e['test_loss_chosen'])} vs {fmt(e['test_loss_no_penalty'])} at λ = 0 ({fmt(100 * e['relative_improvement'])}% "
        + ("lower" if e["relative_improvement"] > 0 else "higher") + f"; paired t = {fmt(e['paired_t'])}: {e['outcome']})"
        + (f", {fmt(e['ours_over_best_sklearn'])} × scikit-learn's best CV estimator" if "ours_over_best_sklearn" in e else "")
        + "." for e in summary
    ) + f" The tuned penalty was significantly better in {m['cases_better']} and significantly worse in {m['cases_worse']} of {m['cases']} cases."
    fig, axes = new_figure(len(cases), width=3.6)
    for ax, (name, model, _, _) in zip(axes[0], cases):
        mine = [r for r in rows if r["dataset"] == name and r["model"] == model]
        base = mine[0]["test_loss"]
        for pname in dict.fromkeys(r["penalty"] for r in mine[1:]):
            rs = [r for r in mine if r["penalty"] == pname]
            ax.semilogx([r["strength"] for r in rs], [r["test_loss"] for r in rs], "o-", ms=3, label=pname)
        ax.axhline(base, color="k", ls="--", lw=0.8, label="λ = 0")
        e = next(e for e in summary if e["dataset"] == name and e["model"] == model)
        for k, v in e.items():
            if k.startswith("sklearn_") and k != "sklearn_convergence_warnings":
                ax.axhline(v, ls=":", lw=1, color="grey")
        ax.set_title(f"{name} ({model})", fontsize=9)
        ax.set_xlabel("λ")
        ax.set_ylabel("test loss")
        ax.legend(fontsize=6)
    figure = figure_from_matplotlib(fig, "Held-out loss against λ",
                                    "Test loss for each penalty over λ; dashed: no penalty; dotted grey: "
                                    "scikit-learn's cross-validated estimators on the same split.")
    setup = {"datasets": {c[0]: "load_dataset(test_size=0.25, standardize=True)" for c in cases},
             "cases": [{"dataset": c[0], "model": c[1], "lr": c[2], "model_args": c[3]} for c in cases],
             "grid": grid, "penalties": penalties, "steps": steps, "optimizer": "gd", "seed": config.seed,
             "sweep": "reglab.sweep.run_grid over penalties.0.strength on the inner split (executor batched: one "
                      "stacked model per penalty; λ = 0 is the L2 sweep's λ = 0 run)",
             "selection": "validation split: 25% of the training part", "sklearn": "RidgeCV, LassoCV (diabetes); "
             "LogisticRegressionCV(Cs=6, cv=3, scoring=neg_log_loss) (breast_cancer, digits), fitted on the whole training part"}
    return ClaimResult(ID, TITLE, STATEMENT, setup, m, verdict, RULE, explanation, key="cases_better",
                       command=command_for(ID, config), figures=[figure],
                       tables={"summary": summary, "runs": rows}, elapsed=time.perf_counter() - t0)
