"""Watching a fit: the logging cadence, the one divergence rule, the optimality measure, and warnings."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Final

import torch
from torch import Tensor, nn

from reglab.data import Dataset
from reglab.exceptions import DivergenceError, NumericalWarning
from reglab.losses import CURVATURE, Loss
from reglab.models import LinearModel
from reglab.penalties import L1, AbstractPenalty, ElasticNet
from reglab.training.resolve import _overflow_advice, lipschitz_constant
from reglab.training.result import History
from reglab.updates import Regularized

__all__ = []


_MAX_LOG: Final = 1000


_CONCAT_MAX: Final = 1 << 20  # parameters (elements) up to which the logged finiteness check copies them into one


def _kkt_violation(model: nn.Module, opt: Regularized, X: Tensor, y: Tensor, loss: Loss,
                   sample_weight: Tensor | None = None) -> float:
    """max over parameters of the distance of −∇loss to the penalty's subdifferential."""
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        grads = torch.autograd.grad(loss(model(X), y, sample_weight), params)
    grad_of = {id(p): g for p, g in zip(params, grads)}
    dist = {id(p): g.abs() for p, g in zip(params, grads)}
    for t, sel in zip(opt.terms, opt.selections):
        for s in sel:
            d = t.subdiff_distance(s.param.detach(), grad_of[id(s.param)])
            dist[id(s.param)] = d if s.mask is None else torch.where(s.mask, d, dist[id(s.param)])
    return float(max(float(d.max()) for d in dist.values()))


@torch.no_grad()
def _full_loss(model: nn.Module, loss: Loss, X: Tensor, y: Tensor, sample_weight: Tensor | None = None) -> float:
    return float(loss(model(X), y, sample_weight))


def _divergence(step: int, objective: float, first: float, lr: float, model: nn.Module, data: Dataset,
                loss: Loss, terms: Sequence[AbstractPenalty], L: float | None) -> DivergenceError:
    max_stable = None
    if isinstance(model, LinearModel) and loss.name in CURVATURE:
        try:
            L = L if L is not None else lipschitz_constant(model, data, loss, terms)
            max_stable = 2.0 / L
        except ValueError:  # L itself overflows: the advice below is the general one
            max_stable = None
    if not math.isfinite(first):  # the loss at the starting point: the data, not the learning rate
        return DivergenceError(f"Training diverged at step {step} with lr={lr:g}: "
                               + _overflow_advice(data, "the loss at the starting parameters is not finite"),
                               step=step, lr=lr, max_stable_lr=None)
    what = "a non-finite objective or parameter" if not math.isfinite(objective) else (
        f"the objective {objective:.3g} is more than 10⁶ × its start ({first:.3g})"
    )
    advice = (f"The largest stable learning rate for this linear problem is 2/L = {max_stable:.4g}; "
              f"try lr={max_stable / 2:.4g} or lr='auto'." if max_stable is not None
              else "Lower the learning rate (by 10×, say).")
    return DivergenceError(f"Training diverged at step {step} with lr={lr:g}: {what}. {advice}",
                           step=step, lr=lr, max_stable_lr=max_stable)


_SCALE_SPREAD: Final = 1e4  # largest / smallest column standard deviation that triggers the warning


def _warn_feature_scales(data: Dataset) -> None:
    """NumericalWarning when X's columns differ in scale by more than ``_SCALE_SPREAD``.

    One learning rate serves every weight, and a stable one (< 2/L) is set by the largest-scale
    column; a column 10⁴ times smaller then needs ~10⁸ times more steps. Constant columns are ignored.
    """
    if data.n_samples < 2:
        return
    std = data.X.to(torch.float64).std(dim=0)
    std = std[std > 0]
    if std.numel() < 2:
        return
    spread = float(std.max() / std.min())
    if spread > _SCALE_SPREAD:
        warnings.warn(
            f"X's columns differ in scale by {spread:.3g}× (standard deviations {float(std.min()):.3g} to "
            f"{float(std.max()):.3g}): one learning rate (lr='auto' included) is set by the largest, and the "
            "weights of the smallest-scale columns will barely move. Standardize X "
            "(sklearn.preprocessing.StandardScaler) before fitting.",
            NumericalWarning, stacklevel=3,
        )


def _warn_l1_gradient_rise(history: History, terms: Sequence[AbstractPenalty], lr: float, status: str) -> None:
    """NumericalWarning when an L1 part applied by the gradient rule left the objective above its start.

    The subgradient step moves each weight by lr·λ·sign(w) every step, so weights cannot settle at
    zero: they oscillate with amplitude ~lr·λ. When that amplitude is large the run ends worse than it
    started, with no divergence to report.
    """
    if status == "diverged" or len(history.objective) < 2:
        return
    l1 = [t.strength if isinstance(t, L1) else t.l1_strength for t in terms
          if t.update == "gradient" and isinstance(t, (L1, ElasticNet))]
    first, last = history.objective[0], history.objective[-1]
    if l1 and math.isfinite(last) and last > first:
        warnings.warn(
            f"The objective rose from {first:.4g} to {last:.4g}: the L1 penalty applied by the gradient rule moves "
            f"each weight by lr·strength = {lr * max(l1):.3g} per step, so weights oscillate instead of settling "
            "at zero. Use update='proximal' (exact zeros), or lower lr.",
            NumericalWarning, stacklevel=3,
        )
