"""Watching a fit: the logging cadence, the one divergence rule, the stopping rule, and warnings.

:func:`reglab.fit` and the batched sweep executor log and judge a run with the same pieces: every
``log_every_for(steps)`` steps, :meth:`RunLog.append` adds the history entry and applies
:func:`is_diverged`; :meth:`RunLog.converged` is fit's stopping rule (``tol``).

Examples
--------
>>> run = RunLog()
>>> run.append(0, data_loss=1.0, penalty=0.5, lr=0.1), run.append(10, data_loss=2e6, penalty=0.0, lr=0.1)
(False, True)
>>> run.status, run.history.objective
('diverged', [1.5, 2000000.0])
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Final

import torch
from torch import Tensor, nn

from reglab.data import Dataset, column_std
from reglab.exceptions import DivergenceError, NumericalWarning
from reglab.losses import CURVATURE, Loss
from reglab.models import LinearModel
from reglab.penalties import AbstractElasticNet, AbstractPenalty
from reglab.training.resolve import _overflow_advice, lipschitz_constant
from reglab.training.result import History
from reglab.updates import Regularized

__all__ = ["DIVERGENCE_FACTOR", "MAX_LOG", "ParameterCheck", "RunLog", "divergence_error", "full_loss",
           "is_diverged", "kkt_violation", "log_every_for", "warn_feature_scales"]


MAX_LOG: Final = 1000  # history entries a run logs at most, by default


DIVERGENCE_FACTOR: Final = 1e6  # an objective this many times its start has diverged


_CONCAT_MAX: Final = 1 << 20  # parameters (elements) up to which the logged finiteness check copies them into one


def log_every_for(steps: int) -> int:
    """The default logging cadence: every this many steps, so that a run logs at most about ``MAX_LOG`` entries.

    >>> log_every_for(500), log_every_for(1000), log_every_for(1001)
    (1, 1, 2)
    """
    return max(1, math.ceil(steps / MAX_LOG))


def is_diverged(objective: float, first: float, parameters_finite: bool = True) -> bool:
    """The divergence rule: a non-finite objective or parameter, or an objective above 10⁶ × its start.

    ``first`` is the first logged objective; the ratio test applies only when it is positive.

    >>> is_diverged(2e6, 1.0), is_diverged(2e6, 0.0), is_diverged(1.0, 1.0, parameters_finite=False)
    (True, False, True)
    """
    finite = math.isfinite(objective) and parameters_finite
    return not finite or (first > 0 and objective > DIVERGENCE_FACTOR * first)


class RunLog:
    """One run's history and verdict: each logged entry, the divergence rule, and fit's stopping rule.

    Its state (``state_dict``) is what a checkpoint needs to continue the verdicts bit for bit:
    the first objective (divergence), the previous objective and the first optimality measure
    (stopping), and the status.

    Attributes
    ----------
    history : History
    status : {"max_steps", "diverged", "converged"}
    first_objective, previous, kkt0 : float or None
    """

    def __init__(self) -> None:
        self.history = History()
        self.status = "max_steps"
        self.first_objective: float | None = None
        self.previous: float | None = None
        self.kkt0: float | None = None

    def append(self, step: int, data_loss: float, penalty: float, lr: float, *,
               parameters_finite: bool = True, strength: Sequence[float] = ()) -> bool:
        """Log the state before ``step``'s update (``strength``: the terms' strengths for it); True when
        it diverged (the status is then ``"diverged"``)."""
        self.history.append(step, data_loss, penalty, lr, strength)
        objective = self.history.objective[-1]
        if self.first_objective is None:
            self.first_objective = objective
        if is_diverged(objective, self.first_objective, parameters_finite):
            self.status = "diverged"
            return True
        return False

    def converged(self, tol: float, violation: float | None = None) -> bool:
        """The stopping rule at the last logged entry; True when converged (the status is then ``"converged"``).

        With ``violation`` (the optimality measure, :func:`kkt_violation`): when it is at most ``tol``
        times the first one. Otherwise: when the objective changed by at most ``tol`` relative to the
        previous logged one.
        """
        objective = self.history.objective[-1]
        if violation is not None:
            self.kkt0 = violation if self.kkt0 is None else self.kkt0
            done = violation <= tol * max(self.kkt0, 1e-300)
        else:
            done = self.previous is not None and abs(objective - self.previous) <= tol * max(abs(self.previous), 1e-300)
        self.previous = objective
        if done:
            self.status = "converged"
        return done

    def state_dict(self) -> dict[str, Any]:
        """The verdicts' memory (the history is saved on its own)."""
        return {"first_objective": self.first_objective, "previous": self.previous, "kkt0": self.kkt0,
                "status": self.status}

    def load_state_dict(self, state: Mapping[str, Any], history: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict` and a saved ``History.to_dict()``."""
        self.history = History.from_dict(history)
        self.first_objective, self.previous, self.kkt0, self.status = (
            state["first_objective"], state["previous"], state["kkt0"], state["status"])


class ParameterCheck:
    """The logged finiteness check of a model's parameters, read with the penalty value in one host transfer.

    One fused reduction: a number that is finite ⇔ every parameter is. Small models (up to
    ``_CONCAT_MAX`` elements, contiguous, on one device): the sum of all parameters, copied into
    one buffer from their flat views (in-place updates keep the views current); NaN and ±inf
    propagate through a sum, so a finite sum ⇔ all finite, unless the sum overflows: then the
    max |w| decides, which cannot overflow. Larger ones: max |w| per tensor.

    Parameters
    ----------
    params : sequence of Tensor
        The trained parameters.
    """

    def __init__(self, params: Sequence[Tensor]) -> None:
        self.nonempty = [p for p in params if p.numel()]
        self.concat = (sum(p.numel() for p in self.nonempty) <= _CONCAT_MAX
                       and all(p.is_contiguous() for p in self.nonempty)
                       and len({p.device for p in self.nonempty}) <= 1)
        self.flat_views: list[Tensor] = []
        self.flat_all: Tensor | None = None
        if self.concat and self.nonempty:
            self.flat_views = [p.detach().view(-1) for p in self.nonempty]
            self.flat_all = torch.empty(sum(v.numel() for v in self.flat_views), device=self.nonempty[0].device,
                                        dtype=functools.reduce(torch.promote_types, (p.dtype for p in self.nonempty)))

    @torch.no_grad()
    def penalty_and_finite(self, opt: Regularized) -> tuple[float, bool]:
        """``(opt's penalty value, whether every parameter is finite)``, read from the device once."""
        if not self.nonempty:
            w_check = torch.zeros((), dtype=torch.float64)
        elif self.flat_all is not None:
            w_check = torch.cat(self.flat_views, out=self.flat_all).sum()
        else:
            w_check = torch.stack(torch._foreach_norm(self.nonempty, math.inf)).max()
        if opt.terms:
            penalty, w_check_value = torch.stack([opt.penalty_value(), w_check.to(torch.float64)]).tolist()
        else:
            penalty, w_check_value = 0.0, w_check.item()
        if self.flat_all is not None and not math.isfinite(w_check_value):
            w_check_value = self.flat_all.abs().max().item()
        return penalty, math.isfinite(w_check_value)


def kkt_violation(model: nn.Module, opt: Regularized, X: Tensor, y: Tensor, loss: Loss,
                  sample_weight: Tensor | None = None) -> float:
    """max over parameters of the distance of −∇loss to the penalty's subdifferential."""
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        grads = torch.autograd.grad(loss(model(X), y, sample_weight), params)
    grad_of = {id(p): g for p, g in zip(params, grads)}
    dist = {id(p): g.abs() for p, g in zip(params, grads)}
    for t, sel in zip(opt.terms, opt.selections):
        for s in sel:
            d = t.acting_on(s).subdiff_distance(s.param.detach(), grad_of[id(s.param)])
            dist[id(s.param)] = d if s.mask is None else torch.where(s.mask, d, dist[id(s.param)])
    return float(max(float(d.max()) for d in dist.values()))


@torch.no_grad()
def full_loss(model: nn.Module, loss: Loss, X: Tensor, y: Tensor, sample_weight: Tensor | None = None) -> float:
    """The data loss on the whole of ``X``, ``y`` (weighted mean with ``sample_weight``)."""
    return float(loss(model(X), y, sample_weight))


def divergence_error(step: int, objective: float, first: float, lr: float, model: nn.Module, data: Dataset,
                     loss: Loss, terms: Sequence[AbstractPenalty], L: float | None) -> DivergenceError:
    """The :class:`DivergenceError` of a run that :func:`is_diverged` at ``step``, with advice.

    For a linear model with its canonical loss it names the largest stable learning rate, 2/L
    (``L`` when known, else :func:`lipschitz_constant`); when the loss at the start is not
    finite, the data's scale is the cause and the advice says so.
    """
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


def warn_feature_scales(data: Dataset) -> None:
    """NumericalWarning when X's columns differ in scale by more than ``_SCALE_SPREAD``.

    One learning rate serves every weight, and a stable one (< 2/L) is set by the largest-scale
    column; a column 10⁴ times smaller then needs ~10⁸ times more steps. Constant columns are ignored.
    The warning points at the caller of the function that calls this one (``fit``'s caller).
    """
    if data.n_samples < 2:
        return
    std = column_std(data.X.to(torch.float64))
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
    # the L1 parts (largest per-element strength) of the elastic-net family's terms on the gradient rule
    l1 = [t.l1_strength * t.max_weight() for t in terms
          if t.update == "gradient" and isinstance(t, AbstractElasticNet) and not t.smooth]
    first, last = history.objective[0], history.objective[-1]
    if l1 and math.isfinite(last) and last > first:
        warnings.warn(
            f"The objective rose from {first:.4g} to {last:.4g}: the L1 penalty applied by the gradient rule moves "
            f"each weight by lr·strength = {lr * max(l1):.3g} per step, so weights oscillate instead of settling "
            "at zero. Use update='proximal' (exact zeros), or lower lr.",
            NumericalWarning, stacklevel=3,
        )
