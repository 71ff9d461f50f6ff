"""What every penalty term shares: the abstract penalty, parameter selection (``on=``) and masks.

A *term* is three things: a penalty (its mathematics: ``value``, ``grad``, ``prox``), the parameters
it applies to (``on=``), and the update rule by which an optimizer step applies it (``update=``).
The concrete penalties live in :mod:`reglab.penalties.separable`.
"""

from __future__ import annotations

import fnmatch
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import torch
from torch import Tensor, nn

__all__ = ["RULES", "soft_threshold", "default_on", "Selection", "AbstractPenalty"]


RULES: Final = ("gradient", "proximal", "decoupled", "cumulative")


OnSpec = str | Sequence[str] | Callable[[str, Tensor], bool] | Mapping[str, Any] | None


_NORM_LAYERS = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.RMSNorm,
)


def soft_threshold(v: Tensor, threshold: float | Tensor) -> Tensor:
    """Soft-thresholding: ``sign(v) · max(|v| − threshold, 0)``, the prox of ``threshold·|·|``.

    Parameters
    ----------
    v : Tensor of any shape
    threshold : float or Tensor broadcastable to ``v``, non-negative

    Examples
    --------
    >>> soft_threshold(torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0]), 1.0)
    tensor([-1., -0.,  0.,  0.,  1.])
    """
    return torch.sign(v) * torch.clamp(v.abs() - threshold, min=0.0)


def _check_strength(strength: Any, name: str = "strength") -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise TypeError(f"Penalty {name} must be a real number; got {type(strength).__name__} {strength!r}.")
    strength = float(strength)
    if math.isnan(strength) or math.isinf(strength):
        raise ValueError(f"Penalty {name} must be finite; got {strength}. Use a finite value such as 0.01.")
    if strength < 0:
        raise ValueError(
            f"Penalty {name} must be non-negative; got {strength}. "
            "A negative strength rewards large weights; use 0 for no penalty."
        )
    return strength


def default_on(model: nn.Module) -> Callable[[str, Tensor], bool]:
    """The default ``on=`` selector: every parameter except biases and normalisation parameters.

    A parameter is excluded when its name ends in ``bias`` or when it is a 1-D parameter of a
    normalisation layer (BatchNorm, LayerNorm, GroupNorm, RMSNorm, ...).
    """
    norm_params: set[str] = set()
    for module_name, module in model.named_modules():
        if isinstance(module, _NORM_LAYERS):
            for pname, p in module.named_parameters(recurse=False):
                if p.ndim <= 1:
                    norm_params.add(f"{module_name}.{pname}" if module_name else pname)

    def select(name: str, param: Tensor) -> bool:
        return not (name.split(".")[-1] == "bias" or name in norm_params)

    return select


@dataclass(frozen=True)
class Selection:
    """One parameter a term applies to: its name, the tensor, and an optional element mask.

    ``mask`` is ``None`` (every element) or a boolean tensor of the parameter's shape.
    """

    name: str
    param: Tensor
    mask: Tensor | None


class AbstractPenalty(ABC):
    """A penalty term: the mathematics of a penalty, where it applies, and its update rule.

    Subclasses implement the penalty's elementwise mathematics; selection of parameters and the
    rule are shared. Every term is final once built: ``strength``, ``on`` and ``update`` are plain
    attributes, validated at construction.

    Parameters
    ----------
    strength : float
        λ ≥ 0, in reglab's convention (objective = mean data loss + λ·pen(w)).
    on : str, sequence of str, callable, mapping or None
        Which parameters the term applies to: a glob or list of globs over parameter names
        (``"fc1.weight"``, ``"*.weight"``); a ``callable(name, param) -> bool``; or a mapping
        ``{name: bool mask}`` selecting single elements. ``None`` (default): every parameter
        except biases and 1-D parameters of normalisation layers.
    update : {"gradient", "proximal", "decoupled", "cumulative"}
        Where the penalty enters the optimizer step (see :class:`reglab.Regularized`).
    """

    kind: str = ""
    smooth: bool = False

    def __init__(self, strength: float, *, on: OnSpec = None, update: str = "gradient") -> None:
        self.strength = _check_strength(strength)
        if update not in RULES:
            raise ValueError(f"Unknown update rule {update!r}. Choose one of {', '.join(RULES)}.")
        if on is not None and not isinstance(on, (str, Sequence, Mapping)) and not callable(on):
            raise TypeError(
                f"on= must be a glob, a list of names, a callable(name, param) -> bool or a "
                f"{{name: mask}} mapping; got {type(on).__name__}."
            )
        self.on = on
        self.update = update

    # -- the mathematics, elementwise ------------------------------------------------------------
    @abstractmethod
    def value(self, w: Tensor) -> Tensor:
        """Penalty value of ``w`` (a 0-d tensor): λ·pen(w) summed over every element."""

    @abstractmethod
    def grad(self, w: Tensor) -> Tensor:
        """Gradient (subgradient for L1, with sign(0) = 0) of the penalty, elementwise."""

    @abstractmethod
    def prox(self, v: Tensor, step: float) -> Tensor:
        """``argmin_x ½‖x − v‖²/step + pen(x)``, elementwise."""

    @abstractmethod
    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        """Distance of ``−grad_loss`` to the penalty's subdifferential at ``w``, elementwise.

        Zero everywhere exactly at an optimum of ``loss + penalty``.
        """

    def alpha_max(self, X: Tensor, y: Tensor, loss: str = "squared", fit_intercept: bool = True) -> float:
        """The smallest strength at which the optimum of a linear model is all zeros.

        Only penalties with a non-smooth part at zero (L1, elastic net with ``l1_ratio > 0``) have one.
        """
        raise ValueError(
            f"{type(self).__name__} has no alpha_max: it never sets weights exactly to zero. "
            "Use L1 or ElasticNet with l1_ratio > 0."
        )

    # -- where it applies --------------------------------------------------------------------------
    def select(self, model: nn.Module) -> list[Selection]:
        """Resolve ``on=`` against ``model``'s named parameters.

        Raises
        ------
        ValueError
            If ``on=`` matches no parameter, or a mask's shape differs from its parameter's.
        """
        params = dict(model.named_parameters())
        on = self.on
        chosen: list[Selection] = []
        if on is None:
            keep = default_on(model)
            chosen = [Selection(n, p, None) for n, p in params.items() if keep(n, p)]
        elif isinstance(on, Mapping):
            for name, mask in on.items():
                if name not in params:
                    raise ValueError(
                        f"{self!r}: on= names {name!r}, which is not a parameter of the model. "
                        f"Parameters are: {', '.join(params)}."
                    )
                p = params[name]
                mask_t = torch.as_tensor(mask, device=p.device)
                if mask_t.dtype != torch.bool:
                    raise TypeError(f"{self!r}: the mask for {name!r} must be boolean; got {mask_t.dtype}.")
                if mask_t.shape != p.shape:
                    raise ValueError(
                        f"{self!r}: the mask for {name!r} has shape {tuple(mask_t.shape)}, "
                        f"but the parameter has shape {tuple(p.shape)}."
                    )
                chosen.append(Selection(name, p, mask_t))
        elif callable(on) and not isinstance(on, str):
            chosen = [Selection(n, p, None) for n, p in params.items() if on(n, p)]
        else:
            patterns = [on] if isinstance(on, str) else list(on)
            chosen = [
                Selection(n, p, None) for n, p in params.items() if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)
            ]
        if not chosen:
            raise ValueError(
                f"{self!r}: on={on!r} matches no parameter of the model. "
                f"Parameters are: {', '.join(params) or '(none)'}."
            )
        return chosen

    # -- applied to a parameter, honouring an element mask -----------------------------------------
    def masked_value(self, w: Tensor, mask: Tensor | None) -> Tensor:
        """Penalty value over the selected elements of ``w``."""
        return self.value(w if mask is None else w[mask])

    def masked_grad(self, w: Tensor, mask: Tensor | None) -> Tensor:
        """Penalty (sub)gradient, zero outside ``mask``."""
        g = self.grad(w)
        return g if mask is None else torch.where(mask, g, torch.zeros_like(g))

    def apply_prox_(self, w: Tensor, step: float, mask: Tensor | None) -> None:
        """In place: ``w ← prox(w, step)`` on the selected elements."""
        new = self.prox(w, step)
        w.copy_(new if mask is None else torch.where(mask, new, w))

    def apply_decay_(self, w: Tensor, lr: float, mask: Tensor | None) -> None:
        """In place: ``w ← w − lr·∇pen(w)`` on the selected elements (the decoupled rule)."""
        if mask is None:
            w.sub_(self.grad(w), alpha=lr)
        else:
            w.sub_(self.masked_grad(w, mask), alpha=lr)

    def __repr__(self) -> str:
        extra = "" if self.on is None else f", on={self.on!r}"
        rule = "" if self.update == "gradient" else f", update={self.update!r}"
        return f"{type(self).__name__}({self.strength:g}{self._repr_extra()}{extra}{rule})"

    def _repr_extra(self) -> str:
        return ""

    def config(self) -> dict[str, Any]:
        """The term as plain data (the shape a spec file uses)."""
        out: dict[str, Any] = {"kind": self.kind, "strength": self.strength, "update": self.update}
        if isinstance(self.on, (str, list, tuple)):
            out["on"] = self.on if isinstance(self.on, str) else list(self.on)
        return out


def _linear_alpha_max_grad(X: Tensor, y: Tensor, loss: str, fit_intercept: bool) -> float:
    """max_j |∂ data-loss / ∂w_j| at w = 0 (intercept at its optimum when fitted)."""
    X = torch.as_tensor(X, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(len(X), -1)
    n = X.shape[0]
    if loss == "squared":
        r = y - y.mean(0) if fit_intercept else y
        g = -2.0 / n * X.T @ r
    elif loss == "logistic":
        p0 = y.mean(0) if fit_intercept else torch.full_like(y[:1], 0.5)
        g = X.T @ (p0 - y) / n
    else:
        raise ValueError(f"alpha_max is defined for losses 'squared' and 'logistic'; got {loss!r}.")
    return float(g.abs().max())
