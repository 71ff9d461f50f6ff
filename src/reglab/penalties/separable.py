"""Penalties and penalty terms.

A *term* is three things: a penalty (its mathematics: ``value``, ``grad``, ``prox``), the parameters
it applies to (``on=``), and the update rule by which an optimizer step applies it (``update=``).
``L2(0.01)`` is such a term; its defaults put it on every weight matrix (biases and normalisation
parameters excluded) under the ``gradient`` rule.

Conventions (one set, everywhere; see ``docs/design.md``):

- ``L2(λ)``: λ·Σw², gradient 2λw, prox(v, t) = v / (1 + 2tλ).
- ``L1(λ)``: λ·Σ|w|, subgradient λ·sign(w) with sign(0) = 0, prox = soft-threshold by tλ.
- ``ElasticNet(λ, l1_ratio=ρ)``: λ·(ρ·Σ|w| + (1 − ρ)·Σw²),
  prox(v, t) = soft(v, tλρ) / (1 + 2tλ(1 − ρ)).

References:
    Parikh & Boyd, "Proximal Algorithms", Foundations and Trends in Optimization 1(3), 2014.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from reglab.penalties.base import (
    AbstractPenalty,
    OnSpec,
    _linear_alpha_max_grad,
    soft_threshold,
)

__all__ = ["L2", "L1", "ElasticNet"]


class L2(AbstractPenalty):
    """``λ·Σw²`` (ridge, weight decay).

    Examples
    --------
    >>> pen = L2(0.5)
    >>> pen.value(torch.tensor([1.0, -2.0]))
    tensor(2.5000)
    >>> pen.prox(torch.tensor([2.0]), 1.0)       # v / (1 + 2·t·λ)
    tensor([1.])
    """

    kind = "l2"
    smooth = True

    def value(self, w: Tensor) -> Tensor:
        return self.strength * (w * w).sum()

    def grad(self, w: Tensor) -> Tensor:
        return (2.0 * self.strength) * w

    def prox(self, v: Tensor, step: float) -> Tensor:
        return v / (1.0 + 2.0 * step * self.strength)

    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        return (grad_loss + self.grad(w)).abs()

    def apply_decay_(self, w: Tensor, lr: float, mask: Tensor | None) -> None:
        # the multiplicative form, as torch.optim.AdamW writes it, so the two agree bit for bit
        if mask is None:
            w.mul_(1.0 - lr * 2.0 * self.strength)
        else:
            w.copy_(torch.where(mask, w * (1.0 - lr * 2.0 * self.strength), w))


class L1(AbstractPenalty):
    """``λ·Σ|w|`` (lasso).

    Examples
    --------
    >>> pen = L1(0.5)
    >>> pen.grad(torch.tensor([-3.0, 0.0, 2.0]))   # λ·sign(w), sign(0) = 0
    tensor([-0.5000,  0.0000,  0.5000])
    >>> pen.prox(torch.tensor([-3.0, 0.2, 2.0]), 1.0)
    tensor([-2.5000,  0.0000,  1.5000])
    """

    kind = "l1"

    def value(self, w: Tensor) -> Tensor:
        return self.strength * w.abs().sum()

    def grad(self, w: Tensor) -> Tensor:
        return self.strength * torch.sign(w)

    def prox(self, v: Tensor, step: float) -> Tensor:
        return soft_threshold(v, step * self.strength)

    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        # at w ≠ 0 the subdifferential is {λ·sign(w)}; at 0, distance of −g to [−λ, λ]
        lam = self.strength
        return torch.where(w != 0, (grad_loss + lam * torch.sign(w)).abs(), torch.clamp(grad_loss.abs() - lam, min=0.0))

    def alpha_max(self, X: Tensor, y: Tensor, loss: str = "squared", fit_intercept: bool = True) -> float:
        """``max_j |∂loss/∂w_j|`` at w = 0: for every λ ≥ this the optimum has every weight at 0."""
        return _linear_alpha_max_grad(X, y, loss, fit_intercept)


class ElasticNet(AbstractPenalty):
    """``λ·(ρ·Σ|w| + (1 − ρ)·Σw²)``.

    Parameters
    ----------
    strength : float
        λ ≥ 0.
    l1_ratio : float in [0, 1]
        ρ: 1 is L1, 0 is L2.

    Examples
    --------
    >>> ElasticNet(1.0, l1_ratio=0.5).value(torch.tensor([1.0, -2.0]))  # 0.5·3 + 0.5·5
    tensor(4.)
    """

    kind = "elasticnet"

    def __init__(
        self, strength: float, l1_ratio: float = 0.5, *, on: OnSpec = None, update: str = "gradient"
    ) -> None:
        if isinstance(l1_ratio, bool) or not isinstance(l1_ratio, (int, float)):
            raise TypeError(f"l1_ratio must be a real number in [0, 1]; got {type(l1_ratio).__name__}.")
        if not 0.0 <= float(l1_ratio) <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1]; got {l1_ratio}. 1 is pure L1, 0 is pure L2.")
        self.l1_ratio = float(l1_ratio)
        self.smooth = self.l1_ratio == 0.0
        super().__init__(strength, on=on, update=update)

    @property
    def l1_strength(self) -> float:
        return self.strength * self.l1_ratio

    @property
    def l2_strength(self) -> float:
        return self.strength * (1.0 - self.l1_ratio)

    def value(self, w: Tensor) -> Tensor:
        return self.l1_strength * w.abs().sum() + self.l2_strength * (w * w).sum()

    def grad(self, w: Tensor) -> Tensor:
        return self.l1_strength * torch.sign(w) + (2.0 * self.l2_strength) * w

    def prox(self, v: Tensor, step: float) -> Tensor:
        return soft_threshold(v, step * self.l1_strength) / (1.0 + 2.0 * step * self.l2_strength)

    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        g = grad_loss + (2.0 * self.l2_strength) * w
        lam = self.l1_strength
        return torch.where(w != 0, (g + lam * torch.sign(w)).abs(), torch.clamp(g.abs() - lam, min=0.0))

    def alpha_max(self, X: Tensor, y: Tensor, loss: str = "squared", fit_intercept: bool = True) -> float:
        if self.l1_ratio == 0.0:
            return super().alpha_max(X, y, loss, fit_intercept)
        return _linear_alpha_max_grad(X, y, loss, fit_intercept) / self.l1_ratio

    def _repr_extra(self) -> str:
        return f", l1_ratio={self.l1_ratio:g}"

    def config(self) -> dict[str, Any]:
        return {**super().config(), "l1_ratio": self.l1_ratio}
