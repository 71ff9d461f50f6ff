"""What each tracked weight did while the model trained, and whether the model is the null model.

:func:`diagnose` reads a :class:`~reglab.observe.Trajectory` (or a :class:`~reglab.training.FitResult`
recorded with ``record=True``) and puts every tracked weight in one class, judged over the run and
its tail (the last ``tail_frac`` of the recorded rows):

=============== =====================================================================================
class           what it means (checked in this order)
=============== =====================================================================================
``diverging``   a non-finite value, or ``|w|`` at the end ≥ 10× its start and ≥ 2× its largest in the
                first half of the tail
``exact_zero``  reached 0.0 and stayed there (``zero_step``: the first recorded step of the final run
                of zeros)
``stuck``       data gradient ≈ 0 at every recorded step and value never changed
``oscillating`` the tail's successive changes alternate in sign at every step (period 2) and do not
                die out (``amplitude``: mean ``|w_{t+1} − w_t|``, peak to peak; ``centre``: tail mean)
``decaying``    ``|w|`` shrinks geometrically toward 0 in the tail: one slope of ``log|w|`` against
                the step in both halves of the tail (``rate``: the fitted factor per step, from a
                least-squares line; ``theory_rate``: 1 − 2ηλ where the penalty alone gives one)
``converged``   the tail moves less than ``tol`` relative to the weight's scale
``crawling``    still moving monotonically at the end (``steps_needed``: steps until the remaining
                motion, extrapolated geometrically from the tail's changes, falls below ``tol``)
``fluctuating`` still moving at the end with no pattern above (minibatch noise, say)
=============== =====================================================================================

Model-level: ``counts`` (class → number of weights), and the **null-model test** (with a fit
result): the held-out data loss against the null model's (best constant prediction), and the
spread of the model's predictions against the spread of y. ``is_null`` when both say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import torch

from reglab.observe.trajectory import Trajectory

__all__ = ["CLASSES", "Diagnosis", "diagnose", "null_model_test"]


CLASSES: Final = ("stuck", "exact_zero", "oscillating", "decaying", "converged", "crawling", "diverging",
                  "fluctuating")


@dataclass
class Diagnosis:
    """The outcome of :func:`diagnose`.

    Attributes
    ----------
    per_weight : pandas.DataFrame, one row per tracked weight
        ``name, tensor, cls`` and the numbers: ``w0, w_end, max_abs_grad, tail_change, rate,
        theory_rate, amplitude, centre, zero_step, steps_needed`` (NaN where they do not apply).
    counts : dict of str to int
        Number of weights in each class (every class present, zeros included).
    null_model : dict or None
        ``loss, null_loss, loss_ratio, pred_std, y_std, spread_ratio, split, is_null`` and the
        thresholds used; None when diagnosing a bare trajectory.
    settings : dict
        The tolerances used.
    """

    per_weight: pd.DataFrame
    counts: dict[str, int]
    null_model: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def is_null(self) -> bool | None:
        """True when the model is the null model by both measures; None without a null-model test."""
        return None if self.null_model is None else bool(self.null_model["is_null"])

    def of(self, name: str) -> str:
        """The class of weight ``name`` (``"fc1.weight[3,7]"``)."""
        hit = self.per_weight.index[self.per_weight["name"] == name]
        if len(hit) == 0:
            raise KeyError(f"Weight {name!r} was not tracked.")
        return str(self.per_weight.at[hit[0], "cls"])

    classes_of = of

    def names_in(self, cls: str) -> list[str]:
        """Names of the weights in class ``cls``."""
        if cls not in CLASSES:
            raise ValueError(f"Unknown class {cls!r}. Classes are {', '.join(CLASSES)}.")
        return self.per_weight.loc[self.per_weight["cls"] == cls, "name"].tolist()

    def to_pandas(self) -> pd.DataFrame:
        """The per-weight table."""
        return self.per_weight.copy()

    def __str__(self) -> str:
        lines = [f"{'class':<12} {'count':>7}  examples"]
        for cls in CLASSES:
            n = self.counts.get(cls, 0)
            if n:
                ex = self.names_in(cls)[:3]
                lines.append(f"{cls:<12} {n:>7}  {', '.join(ex)}{', ...' if n > 3 else ''}")
        if self.null_model is not None:
            nm = self.null_model
            lines.append(
                f"null model ({nm['split']}): loss {nm['loss']:.4g} vs null {nm['null_loss']:.4g} "
                f"(ratio {nm['loss_ratio']:.3f}); prediction spread {nm['pred_std']:.3g} vs y {nm['y_std']:.3g} "
                f"(ratio {nm['spread_ratio']:.3f}) -> {'NULL MODEL' if nm['is_null'] else 'not null'}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        """The number of weights in each class present, and the null-model verdict (never the table)."""
        counts = ", ".join(f"{cls}={n}" for cls in CLASSES if (n := self.counts.get(cls, 0)))
        null = "" if self.null_model is None else f", null_model={bool(self.null_model['is_null'])}"
        return f"Diagnosis({len(self.per_weight)} weights: {counts or 'none'}{null})"

    def _repr_html_(self) -> str:  # pragma: no cover - notebook nicety
        return "<pre>" + str(self) + "</pre>"


def _slopes(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Least-squares slope of each column of ``Y`` (shape (n, W)) against ``x`` (shape (n,))."""
    xc = x - x.mean()
    return (xc[:, None] * (Y - Y.mean(axis=0))).sum(axis=0) / max(float((xc * xc).sum()), 1e-300)


def _tail_rows(T: int, frac: float, minimum: int) -> int:
    return min(T, max(minimum, int(math.ceil(frac * T))))


def diagnose(
    result: Any,
    *,
    tail_frac: float = 0.25,
    tol: float = 1e-6,
    grad_tol: float = 1e-10,
    fit_tol: float = 1e-3,
    null_tol: float = 0.01,
    spread_tol: float = 0.1,
) -> Diagnosis:
    """Classify every tracked weight by what it did, and test the model against the null model.

    Parameters
    ----------
    result : FitResult or Trajectory
        A fit recorded with ``record=True``, or a trajectory (then no null-model test).
    tail_frac : float
        The tail is the last ``tail_frac`` of the recorded rows (at least 8 rows).
    tol : float
        ``converged`` when the tail's range is below ``tol × scale`` (scale: ``max(|w_end|,
        median max|w| over all weights)``).
    grad_tol : float
        ``stuck`` when every recorded ``|data gradient|`` is ≤ ``grad_tol`` × the largest over all weights.
    fit_tol : float
        ``decaying`` when the slopes of ``log|w|`` against the step in the two halves of the tail
        differ by at most ``fit_tol`` × the overall slope (one geometric rate throughout).
    null_tol, spread_tol : float
        ``is_null`` when held-out loss ≥ (1 − ``null_tol``) × null loss and the spread of
        predictions is ≤ ``spread_tol`` × the spread of y.

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> import reglab
    >>> from reglab.data import zero_column
    >>> res = reglab.fit("linear", zero_column(n=50, p=3, column=0), lr=0.05, steps=300, record=True)
    >>> diagnose(res).of("linear.weight[0,0]")
    'stuck'
    """
    if not isinstance(result, Trajectory) and not hasattr(result, "trajectory"):
        raise TypeError(f"diagnose takes a FitResult or a Trajectory; got {type(result).__name__}.")
    traj = result if isinstance(result, Trajectory) else result.trajectory
    if traj is None:
        raise ValueError("Nothing to diagnose: the fit was not recorded. Call fit(..., record=True), "
                         "or pass a Trajectory.")
    if not isinstance(traj, Trajectory):
        raise TypeError(f"diagnose takes a FitResult or a Trajectory; got {type(result).__name__}.")
    if len(traj) < 2:
        raise ValueError(f"A trajectory needs at least 2 recorded steps to diagnose; it has {len(traj)}.")
    table = _classify(traj, tail_frac=tail_frac, tol=tol, grad_tol=grad_tol, fit_tol=fit_tol)
    counts = {c: int((table["cls"] == c).sum()) for c in CLASSES}
    null = None if isinstance(result, Trajectory) else null_model_test(result, null_tol=null_tol,
                                                                       spread_tol=spread_tol)
    settings = {"tail_frac": tail_frac, "tol": tol, "grad_tol": grad_tol, "fit_tol": fit_tol,
                "null_tol": null_tol, "spread_tol": spread_tol}
    return Diagnosis(per_weight=table, counts=counts, null_model=null, settings=settings)


def _classify(traj: Trajectory, *, tail_frac: float, tol: float, grad_tol: float, fit_tol: float) -> pd.DataFrame:
    V = np.asarray(traj.values, dtype=np.float64)
    steps = traj.steps.astype(np.float64)
    T, W = V.shape
    k = _tail_rows(T, tail_frac, 8)
    tail, tsteps = V[-k:], steps[-k:]
    w0, w_end = V[0], V[-1]
    finite = np.isfinite(V).all(axis=0)
    Vf = np.where(np.isfinite(V), V, 0.0)
    absV = np.abs(Vf)
    scale_all = float(np.median(absV.max(axis=0))) if W else 1.0
    scale = np.maximum(np.abs(w_end), scale_all if scale_all > 0 else 1.0)
    tail_f = Vf[-k:]
    tail_change = tail_f.max(axis=0) - tail_f.min(axis=0)
    moved = np.abs(Vf - Vf[0]).max(axis=0)

    # data gradient
    if traj.grads is not None:
        G = np.abs(np.asarray(traj.grads, dtype=np.float64))
        seen = np.isfinite(G)
        max_grad = np.where(seen, G, 0.0).max(axis=0)
        any_seen = seen.any(axis=0)
        gscale = float(max_grad.max()) if W and max_grad.max() > 0 else 1.0
        no_grad = any_seen & (max_grad <= grad_tol * gscale)
        max_grad = np.where(any_seen, max_grad, np.nan)
    else:
        max_grad = np.full(W, np.nan)
        no_grad = np.ones(W, dtype=bool)
    unchanged = moved <= 1e-12 * np.maximum(np.abs(w0), np.finfo(np.float64).tiny)

    # exact zeros: the final run of rows where w == 0
    is_zero = Vf == 0.0
    zero_now = is_zero[-1] & finite
    # index of the last non-zero row, +1 = first row of the final run of zeros
    nonzero_rows = ~is_zero
    last_nz = np.where(nonzero_rows.any(axis=0), T - 1 - np.argmax(nonzero_rows[::-1], axis=0), -1)
    zero_row = last_nz + 1
    exact_zero = zero_now & (zero_row <= T - 2)  # zero for at least two recorded rows
    zero_step = np.where(exact_zero, steps[np.minimum(zero_row, T - 1)], np.nan)

    # oscillation: the final run of consecutive (spacing 1) rows inside the tail
    consecutive = np.diff(tsteps) == 1
    run = int(np.argmin(consecutive[::-1])) if not consecutive.all() else len(consecutive)
    amplitude = np.full(W, np.nan)
    centre = np.full(W, np.nan)
    oscillating = np.zeros(W, dtype=bool)
    if run >= 4:
        seg = tail_f[-(run + 1):]
        d = np.diff(seg, axis=0)
        alternate = (d[1:] * d[:-1] < 0).all(axis=0)
        half = max(1, len(d) // 2)
        early, late = np.abs(d[:half]).mean(axis=0), np.abs(d[-half:]).mean(axis=0)
        sustained = late >= 0.5 * early
        big = np.abs(d).mean(axis=0) > tol * scale
        oscillating = alternate & sustained & big
        amp = np.abs(d).mean(axis=0)
        # centre over an even number of rows, so a two-level oscillation averages to its midpoint
        even = seg[-(2 * (len(seg) // 2)):]
        amplitude = np.where(oscillating, amp, np.nan)
        centre = np.where(oscillating, even.mean(axis=0), np.nan)

    # geometric decay of |w| over the tail: least squares of log|w| on the step, in each half of the
    # tail and over all of it; geometric means one slope throughout (w → r·w, toward zero)
    rate = np.full(W, np.nan)
    decaying = np.zeros(W, dtype=bool)
    tail_abs = np.abs(tail_f)
    positive = (tail_abs > 0).all(axis=0) & finite
    if positive.any() and k >= 4:
        logs = np.log(np.where(positive, tail_abs, 1.0))
        slope = _slopes(tsteps, logs)
        h = k // 2
        first, second = _slopes(tsteps[:h + 1], logs[:h + 1]), _slopes(tsteps[h:], logs[h:])
        with np.errstate(divide="ignore", invalid="ignore"):
            steady = np.abs(first - second) <= fit_tol * np.abs(slope)
        shrank = np.exp(slope * (tsteps[-1] - tsteps[0])) <= 1.0 - 10 * tol
        rate = np.where(positive, np.exp(slope), np.nan)
        decaying = positive & steady & (slope < 0) & shrank
    # diverging: non-finite, or |w| at the end ≥ 10× its start and ≥ 2× anything in the tail's first half
    s0 = float(np.median(np.abs(np.where(np.isfinite(w0), w0, 0.0)))) if W else 1.0
    half_max = np.abs(tail_f[: max(1, k // 2)]).max(axis=0)
    growing = (np.abs(w_end) >= 10 * np.maximum(np.abs(w0), s0)) & (np.abs(w_end) >= 2 * half_max)
    diverging = ~finite | growing

    converged = tail_change <= tol * scale
    d_tail = np.diff(tail_f, axis=0)
    monotone = ((d_tail > 0).all(axis=0) | (d_tail < 0).all(axis=0)) if len(d_tail) else np.zeros(W, dtype=bool)

    # crawling: steps until the extrapolated remaining motion is below tol·scale
    steps_needed = np.full(W, np.nan)
    if len(d_tail) >= 2:
        ad = np.abs(d_tail)
        ok = monotone & (ad > 0).all(axis=0)
        gaps = np.diff(tsteps)
        speed = ad / gaps[:, None]  # change per step
        logs = np.log(np.where(ok, speed, 1.0))
        xs = tsteps[1:] - tsteps[1:].mean()
        r_slope = (xs[:, None] * (logs - logs.mean(axis=0))).sum(axis=0) / max((xs * xs).sum(), 1e-300)
        r = np.exp(r_slope)
        v_end = speed[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            remaining = np.where(r < 1, v_end * r / (1 - r), np.inf)
            need = np.where(r < 1, np.log(tol * scale * (1 - r) / v_end) / np.log(r), np.inf)
        steps_needed = np.where(ok, np.where(remaining <= tol * scale, 0.0, np.maximum(need, 0.0)), np.nan)

    cls = np.full(W, "fluctuating", dtype=object)
    order = [  # later assignments win: reverse priority
        ("crawling", monotone),
        ("converged", converged),
        ("decaying", decaying),
        ("oscillating", oscillating),
        ("stuck", no_grad & unchanged),
        ("exact_zero", exact_zero),
        ("diverging", diverging),
    ]
    for name, mask in order:
        cls[mask] = name
    tensor = [n.split("[", 1)[0] for n in traj.names]
    theory = traj.weights.get("theory_rate", np.full(W, np.nan))
    return pd.DataFrame({
        "name": traj.names,
        "tensor": tensor,
        "cls": cls.astype(str),
        "w0": w0,
        "w_end": w_end,
        "max_abs_grad": max_grad,
        "tail_change": tail_change,
        "rate": np.where(cls == "decaying", rate, np.nan),
        "theory_rate": np.asarray(theory, dtype=np.float64),
        "amplitude": amplitude,
        "centre": centre,
        "zero_step": zero_step,
        "steps_needed": np.where(cls == "crawling", steps_needed, np.nan),
        "lr": traj.weights.get("lr", np.full(W, np.nan)),
        "l2": traj.weights.get("l2", np.full(W, np.nan)),
        "l1": traj.weights.get("l1", np.full(W, np.nan)),
    })


@torch.no_grad()
def null_model_test(result: Any, *, null_tol: float = 0.01, spread_tol: float = 0.1) -> dict[str, Any] | None:
    """Is the fitted model the null model (the best constant prediction)?

    Compares, on held-out data when there is some (else on the training data): the model's data
    loss against the null model's, and the standard deviation of its predictions against that of y
    (for classification: of predicted probabilities against the one-hot labels').

    Returns
    -------
    dict or None
        ``loss, null_loss, loss_ratio, pred_std, y_std, spread_ratio, split, null_tol, spread_tol,
        is_null``; None when the result has no data to evaluate on.
    """
    data = getattr(result, "data", None)
    if data is None or not hasattr(result, "loss"):
        return None
    split = "test" if data.X_test is not None and data.y_test is not None else "train"
    X, y = (data.X_test, data.y_test) if split == "test" else (data.X, data.y)
    out = result.model(X)
    loss = float(result.loss(out, y))
    null = float(result.loss.null_loss(data.y, y))
    name = result.loss.name
    if name == "logistic":
        pred = torch.sigmoid(out.reshape(-1))
        target = y.reshape(-1).to(pred.dtype)
    elif name == "cross_entropy":
        pred = torch.softmax(out, dim=-1)
        target = torch.nn.functional.one_hot(y.reshape(-1).long(), out.shape[-1]).to(pred.dtype)
    else:
        pred, target = out.reshape(len(y), -1), y.reshape(len(y), -1).to(out.dtype)
    pred_std = float(pred.to(torch.float64).std(dim=0).mean())
    y_std = float(target.to(torch.float64).std(dim=0).mean())
    loss_ratio = loss / null if null > 0 else math.inf
    spread_ratio = pred_std / y_std if y_std > 0 else math.inf
    is_null = bool(loss_ratio >= 1.0 - null_tol and spread_ratio <= spread_tol)
    return {"loss": loss, "null_loss": null, "loss_ratio": loss_ratio, "pred_std": pred_std, "y_std": y_std,
            "spread_ratio": spread_ratio, "split": split, "null_tol": null_tol, "spread_tol": spread_tol,
            "is_null": is_null}
