"""The elastic-net family's members: L2, L1, ElasticNet, WeightedL1 and WeightedL2.

A *term* is three things: a penalty (its mathematics: ``value``, ``grad``, ``prox``), the parameters
it applies to (``on=``), and the update rule by which an optimizer step applies it (``update=``).
``L2(0.01)`` is such a term; its defaults put it on every weight matrix (biases and normalisation
parameters excluded) under the ``gradient`` rule.

Each member declares only its parametrisation (``l1_ratio``, and ``weights`` for WeightedL1 and WeightedL2); the
mathematics is the family's, written once in :class:`~reglab.penalties.base.AbstractElasticNet`.

Conventions (one set, everywhere; see ``docs/design.md``):

- ``L2(λ)``: λ·Σw², gradient 2λw, prox(v, t) = v / (1 + 2tλ).
- ``L1(λ)``: λ·Σ|w|, subgradient λ·sign(w) with sign(0) = 0, prox = soft-threshold by tλ.
- ``ElasticNet(λ, l1_ratio=ρ)``: λ·(ρ·Σ|w| + (1 − ρ)·Σw²),
  prox(v, t) = soft(v, tλρ) / (1 + 2tλ(1 − ρ)).
- ``WeightedL1(λ, weights=a)``: λ·Σ a_j·|w_j| (the adaptive lasso), prox = soft-threshold by tλa_j.
- ``WeightedL2(λ, weights=a)``: λ·Σ a_j·w_j² (generalized ridge; a strength per element), gradient 2λa_j·w_j,
  prox(v, t) = v / (1 + 2tλa_j).

References:
    Parikh & Boyd, "Proximal Algorithms", Foundations and Trends in Optimization 1(3), 2014.
    Zou, "The Adaptive Lasso and Its Oracle Properties", JASA 101(476), 2006.
"""

from __future__ import annotations

from typing import ClassVar, final

import torch  # noqa: F401  (the doctests use it)

from reglab.penalties.base import AbstractElasticNet, OnSpec, WeightsSpec

__all__ = ["L2", "L1", "ElasticNet", "WeightedL1", "WeightedL2"]


@final
class L2(AbstractElasticNet):
    """``λ·Σw²`` (ridge, weight decay).

    Examples
    --------
    >>> pen = L2(0.5)
    >>> pen.value(torch.tensor([1.0, -2.0]))
    tensor(2.5000)
    >>> pen.prox(torch.tensor([2.0]), 1.0)       # v / (1 + 2·t·λ)
    tensor([1.])
    """

    kind: ClassVar[str] = "l2"
    l1_ratio: float = 0.0

    def __init__(self, strength: float, *, on: OnSpec = None, update: str = "gradient") -> None:
        super().__init__(strength, on=on, update=update)


@final
class L1(AbstractElasticNet):
    """``λ·Σ|w|`` (lasso).

    Examples
    --------
    >>> pen = L1(0.5)
    >>> pen.grad(torch.tensor([-3.0, 0.0, 2.0]))   # λ·sign(w), sign(0) = 0
    tensor([-0.5000,  0.0000,  0.5000])
    >>> pen.prox(torch.tensor([-3.0, 0.2, 2.0]), 1.0)
    tensor([-2.5000,  0.0000,  1.5000])
    """

    kind: ClassVar[str] = "l1"
    l1_ratio: float = 1.0
    pure_l1: ClassVar[bool] = True

    def __init__(self, strength: float, *, on: OnSpec = None, update: str = "gradient") -> None:
        super().__init__(strength, on=on, update=update)


@final
class ElasticNet(AbstractElasticNet):
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

    kind: ClassVar[str] = "elasticnet"
    fields: ClassVar[tuple[str, ...]] = ("l1_ratio",)

    def __init__(
        self, strength: float, l1_ratio: float = 0.5, *, on: OnSpec = None, update: str = "gradient"
    ) -> None:
        if isinstance(l1_ratio, bool) or not isinstance(l1_ratio, (int, float)):
            raise TypeError(f"l1_ratio must be a real number in [0, 1]; got {type(l1_ratio).__name__}.")
        if not 0.0 <= float(l1_ratio) <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1]; got {l1_ratio}. 1 is pure L1, 0 is pure L2.")
        self.l1_ratio = float(l1_ratio)
        super().__init__(strength, on=on, update=update)


class _Weighted(AbstractElasticNet):
    """A member with a non-negative factor per element: ``weights`` is its one field, and required."""

    fields: ClassVar[tuple[str, ...]] = ("weights",)

    def __init__(self, strength: float, weights: WeightsSpec, *, on: OnSpec = None,
                 update: str = "gradient") -> None:
        if weights is None:
            raise TypeError(f"{type(self).__name__} needs weights: a tensor of per-element factors, or "
                            "{name: factors}.")
        super().__init__(strength, weights=weights, on=on, update=update)


@final
class WeightedL1(_Weighted):
    """``λ·Σ_j a_j·|w_j|``: L1 with a non-negative factor per element (the adaptive lasso).

    ``a_j = 0`` leaves ``w_j`` unpenalized; all ones is :class:`L1`.

    Parameters
    ----------
    strength : float
        λ ≥ 0.
    weights : Tensor, nested list, or mapping {parameter name: factors}
        The factors ``a_j``: one tensor, broadcast to the shape of the one parameter the term
        selects (a linear model's weight by default; shape ``(n_features,)`` gives one factor per
        input feature), or one per parameter name (``on=`` then defaults to those names).
    on, update
        As for :class:`L1`.

    Examples
    --------
    >>> pen = WeightedL1(0.5, weights=[1.0, 0.0, 2.0])
    >>> pen.value(torch.tensor([-2.0, 3.0, 1.0]))        # 0.5·(1·2 + 0·3 + 2·1)
    tensor(2.)
    >>> pen.prox(torch.tensor([-2.0, 3.0, 1.0]), 1.0)    # soft-threshold by 0.5·a_j
    tensor([-1.5000,  3.0000,  0.0000])

    References:
        Zou, "The Adaptive Lasso and Its Oracle Properties", JASA 101(476), 2006.
    """

    kind: ClassVar[str] = "weighted_l1"
    l1_ratio: float = 1.0
    pure_l1: ClassVar[bool] = True



@final
class WeightedL2(_Weighted):
    """``λ·Σ_j a_j·w_j²``: L2 with a non-negative factor per element (generalized ridge).

    A strength per element: ``a_j = 0`` leaves ``w_j`` unpenalized, all ones is :class:`L2`. One term
    with per-row factors replaces many masked :class:`L2` terms (K stacked runs at K strengths, say),
    at the cost of one.

    Parameters
    ----------
    strength, weights, on, update
        As for :class:`WeightedL1`; the factors ``a_j`` scale ``w_j²``.

    Examples
    --------
    >>> pen = WeightedL2(0.5, weights=[1.0, 0.0, 2.0])
    >>> pen.value(torch.tensor([-2.0, 3.0, 1.0]))        # 0.5·(1·4 + 0·9 + 2·1)
    tensor(3.)
    >>> pen.prox(torch.tensor([-2.0, 3.0, 1.0]), 1.0)    # v / (1 + 2·t·λ·a_j)
    tensor([-1.0000,  3.0000,  0.3333])
    """

    kind: ClassVar[str] = "weighted_l2"
    l1_ratio: float = 0.0

