"""The minimax concave penalty (MCP): a penalty outside the elastic-net family.

For strength λ and concavity γ > 1, per element,

    p(w) = λ|w| − w²/(2γ)   for |w| ≤ γλ,
    p(w) = γλ²/2            for |w| > γλ:

L1 near zero, flat beyond γλ, so that large coefficients are not shrunk (nearly unbiased). Its prox
with step t is *firm thresholding*, defined (the subproblem strictly convex) when t < γ:

    prox(v, t) = 0                                  for |v| ≤ tλ,
                 sign(v)·(|v| − tλ) / (1 − t/γ)     for tλ < |v| ≤ γλ,
                 v                                  for |v| > γλ.

MCP is not convex and has no L1/L2 parts, so the paths that apply a penalty by its parts refuse it
with that reason (the batched sweep executor, FISTA, the estimators' exact solvers); the recorder's
theory rate is NaN on the weights it touches. Every update rule but ``cumulative`` (L1 only) applies
it, and fit's fast path applies it element by element.

References:
    Zhang, "Nearly Unbiased Variable Selection under Minimax Concave Penalty", Ann. Statist. 38(2), 2010.
    Breheny & Huang, "Coordinate Descent Algorithms for Nonconvex Penalized Regression", Ann. Appl.
    Stat. 5(1), 2011 (firm thresholding).
"""

from __future__ import annotations

import math
from typing import ClassVar, final

import torch
from torch import Tensor

from reglab.penalties.base import (
    AbstractPenalty,
    Elementwise,
    OnSpec,
    Selection,
    _linear_alpha_max_grad,
)

__all__ = ["MCP"]


@final
class MCP(AbstractPenalty):
    """Minimax concave penalty ``Σ_j p_{λ,γ}(w_j)`` (Zhang 2010).

    Parameters
    ----------
    strength : float
        λ ≥ 0.
    gamma : float
        γ > 1: the concavity (large γ: close to L1; γ → 1: close to hard thresholding).
    on, update
        As for :class:`~reglab.penalties.L1`; ``update="cumulative"`` is refused (L1 only).

    Examples
    --------
    >>> pen = MCP(1.0, gamma=3.0)
    >>> pen.value(torch.tensor([0.0, 1.0, 5.0]))      # 0 + (1 − 1/6) + 3/2
    tensor(2.3333)
    >>> pen.grad(torch.tensor([-1.5, 0.0, 1.5, 4.0]))  # (λ − |w|/γ)·sign(w), 0 beyond γλ
    tensor([-0.5000,  0.0000,  0.5000,  0.0000])
    >>> pen.prox(torch.tensor([0.5, 2.0, 4.0]), 1.0)   # firm thresholding
    tensor([0.0000, 1.5000, 4.0000])
    """

    kind: ClassVar[str] = "mcp"
    fields: ClassVar[tuple[str, ...]] = ("gamma",)
    smooth: bool = False
    convex: ClassVar[bool] = False
    elementwise: ClassVar[bool] = True

    def __init__(self, strength: float, gamma: float = 3.0, *, on: OnSpec = None, update: str = "gradient") -> None:
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)):
            raise TypeError(f"gamma must be a real number > 1; got {type(gamma).__name__}.")
        if not (math.isfinite(gamma) and gamma > 1.0):
            raise ValueError(f"MCP's gamma must be finite and > 1; got {gamma}. 3 is a common choice.")
        self.gamma = float(gamma)
        super().__init__(strength, on=on, update=update)

    def value(self, w: Tensor) -> Tensor:
        lam, gamma = self.strength, self.gamma
        a = w.abs()
        return torch.where(a <= gamma * lam, lam * a - a * a / (2.0 * gamma),
                           torch.full_like(a, 0.5 * gamma * lam * lam)).sum()

    def grad(self, w: Tensor) -> Tensor:
        lam, gamma = self.strength, self.gamma
        a = w.abs()
        return torch.where(a <= gamma * lam, (lam - a / gamma) * torch.sign(w), torch.zeros_like(w))

    def prox(self, v: Tensor, step: float) -> Tensor:
        """Firm thresholding; refused unless ``step < gamma`` (otherwise the subproblem is not convex)."""
        lam, gamma = self.strength, self.gamma
        if not step < gamma:
            raise ValueError(
                f"{self!r}: MCP's proximal step (firm thresholding) is defined only for a step below "
                f"gamma = {gamma:g} (the subproblem is then convex); got step lr = {step:g}. Use lr < {gamma:g}, "
                "a larger gamma, or update='gradient'."
            )
        a = v.abs()
        middle = torch.sign(v) * torch.clamp(a - step * lam, min=0.0) / (1.0 - step / gamma)
        return torch.where(a > gamma * lam, v, middle)

    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        # at w ≠ 0 p is differentiable; at 0 its (Clarke) subdifferential is [−λ, λ]
        return torch.where(w != 0, (grad_loss + self.grad(w)).abs(),
                           torch.clamp(grad_loss.abs() - self.strength, min=0.0))

    def acting_on(self, selection: Selection) -> Elementwise:
        return Elementwise(self)

    def alpha_max(self, X: Tensor, y: Tensor, loss: str = "squared", fit_intercept: bool = True) -> float:
        """The smallest strength at which all-zero coefficients are a stationary point (a local minimum)
        of a linear model's objective: ``max_j |∂loss/∂w_j|`` at w = 0, as for L1."""
        return _linear_alpha_max_grad(X, y, loss, fit_intercept)
