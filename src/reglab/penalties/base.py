"""What every penalty term shares: the abstract penalty, the elastic-net family, selection and masks.

A *term* is three things: a penalty (its mathematics: ``value``, ``grad``, ``prox``), the parameters
it applies to (``on=``, with optional element masks and per-element weights), and the update rule by
which an optimizer step applies it (``update=``).

Two layers of mathematics live here, each written once:

- :class:`AbstractTensorPenalty`: a penalty acting on one tensor (value, gradient, proximal step,
  decay, distance to the subdifferential), honouring an element mask. Its two final forms are
  :class:`ElasticNetParts` (λ₁·|w| + λ₂·w² with λ₁, λ₂ scalars or per-element tensors: the whole
  elastic-net family, on a parameter, on fit's fast-path Θ, or on K stacked runs of a sweep) and
  :class:`Elementwise` (any elementwise penalty, through its own ``grad`` and ``prox``);
- :class:`AbstractPenalty`, the term a user builds, and :class:`AbstractElasticNet`, the family that
  declares its parametrisation once (``strength``, ``l1_ratio`` and optional ``weights``) and gets
  everything else (``l1_strength``, ``l2_strength``, value, grad, prox, alpha_max, ...) from it.

Every consumer (the update rules, fit's fast path, the batched sweep executor, the recorder's theory
rates, ``lr="auto"``) reads a family member's parts from the term (:meth:`AbstractPenalty.on`), never
its class; a penalty outside the family is applied through :class:`Elementwise` where a path can, and
refused by a declared capability where it cannot.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import torch
from torch import Tensor, nn

__all__ = [
    "RULES", "soft_threshold", "default_on", "Selection", "AbstractPenalty", "AbstractElasticNet",
    "AbstractTensorPenalty", "ElasticNetParts", "Elementwise",
]


RULES: Final = ("gradient", "proximal", "decoupled", "cumulative")
"""The names of the update rules; :data:`reglab.updates.rules.RULES` maps each to its rule object."""


OnSpec = str | Sequence[str] | Callable[[str, Tensor], bool] | Mapping[str, Any] | None
WeightsSpec = Tensor | Sequence[Any] | Mapping[str, Any] | None
Strength = float | Tensor  # a scalar, or per element (broadcastable to the tensor it acts on)


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


def check_strength(strength: Any, name: str = "strength") -> float:
    """``strength`` as a float, or a ``TypeError`` (not a real number) or ``ValueError`` (negative or
    not finite) whose message names it ``name``.

    Examples
    --------
    >>> check_strength(1)
    1.0
    """
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


def _as_weight_tensor(value: Any, where: str) -> Tensor:
    """Per-element factors as a float64 tensor: finite and non-negative."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{where} must be a tensor or a (nested) list of numbers; got {type(value).__name__}.") from None
    if t.numel() == 0:
        raise ValueError(f"{where} is empty.")
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise ValueError(f"{where} must be finite and non-negative (0 leaves an element unpenalized).")
    return t.detach().clone()


def _check_weights(weights: WeightsSpec) -> Tensor | dict[str, Tensor] | None:
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        if not weights:
            raise ValueError("weights is an empty mapping; give {parameter name: factors}.")
        out = {}
        for name, value in weights.items():
            if not isinstance(name, str):
                raise TypeError(f"weights keys must be parameter names (str); got {type(name).__name__}.")
            out[name] = _as_weight_tensor(value, f"weights[{name!r}]")
        return out
    return _as_weight_tensor(weights, "weights")


WRAPPER_PREFIXES: Final = ("module.", "_orig_mod.")
"""Name prefixes that wrappers add to every parameter name: ``DistributedDataParallel`` and
``DataParallel`` (``module.``), ``torch.compile`` (``_orig_mod.``). ``on=`` matches names without them."""


def unwrapped_parameters(model: nn.Module) -> dict[str, Tensor]:
    """``model``'s parameters by name, without the prefixes wrappers add (:data:`WRAPPER_PREFIXES`).

    A prefix is removed (repeatedly: DDP around a compiled model) only when every parameter name
    starts with it, as under a wrapper whose one child is the model; so a model that merely has a
    child named ``module`` beside other parameters keeps its names.

    Examples
    --------
    >>> wrapped = nn.DataParallel(nn.Sequential(nn.Linear(2, 1)))  # names 'module.0.weight', ...
    >>> list(unwrapped_parameters(wrapped))
    ['0.weight', '0.bias']
    """
    params = dict(model.named_parameters())
    while params:
        prefix = next((pre for pre in WRAPPER_PREFIXES if all(n.startswith(pre) for n in params)), None)
        if prefix is None:
            break
        params = {n[len(prefix):]: p for n, p in params.items()}
    return params


def default_on(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> Callable[[str, Tensor], bool]:
    """The default ``on=`` selector: every trainable parameter with at least two dimensions.

    A parameter is selected when ``param.ndim >= 2`` (the weights of ``Linear``, ``Conv*``,
    ``Embedding``, ``MultiheadAttention``'s projections, ...), it requires a gradient, and, when
    ``optimizer`` is given, the optimizer updates it (it is in its ``param_groups``). Never a 1-D or
    scalar parameter (biases, ``MultiheadAttention.in_proj_bias``, the gains of LayerNorm, RMSNorm
    and BatchNorm, scalars) and never a frozen one.

    Parameters
    ----------
    model : nn.Module
        The model whose parameters are selected (its names are not consulted).
    optimizer : torch.optim.Optimizer, optional
        When given, parameters outside its ``param_groups`` are skipped (the fine-tuning pattern:
        an optimizer over the trainable parameters only).

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    >>> keep = default_on(net)
    >>> [name for name, p in net.named_parameters() if keep(name, p)]
    ['0.weight', '2.weight']
    """
    updated = None if optimizer is None else {id(p) for g in optimizer.param_groups for p in g["params"]}

    def select(name: str, param: Tensor) -> bool:
        return param.ndim >= 2 and param.requires_grad and (updated is None or id(param) in updated)

    return select


@dataclass(frozen=True)
class Selection:
    """One parameter a term applies to: its name, the tensor, an element mask and per-element weights.

    ``mask`` is ``None`` (every element) or a boolean tensor of the parameter's shape: elements outside
    it are left alone. ``weight`` is ``None`` (factor 1) or a float64 tensor of the parameter's shape:
    the penalty on element j is scaled by ``weight[j]`` (0 leaves it unpenalized).
    """

    name: str
    param: Tensor
    mask: Tensor | None
    weight: Tensor | None = None


# -- a penalty acting on one tensor -------------------------------------------------------------------


def _where_mask_(w: Tensor, mask: Tensor | None, act: Callable[[Tensor], None]) -> None:
    """In place: ``act`` on the elements of ``w`` inside ``mask`` (all of them when ``mask`` is None)."""
    if mask is None:
        act(w)
    else:
        new = w.clone()
        act(new)
        w.copy_(torch.where(mask, new, w))


class AbstractTensorPenalty(ABC):
    """A penalty acting on one tensor ``w``: what every update rule and every training path calls.

    Strengths and step sizes may be Python floats or tensors broadcastable to ``w`` of its dtype
    (per element, or per run for K stacked runs). ``mask``: the elements acted on (None: all).
    """

    @property
    @abstractmethod
    def empty(self) -> bool:
        """True when the penalty is 0 everywhere: every action is the identity (and may be skipped)."""

    @abstractmethod
    def value(self, w: Tensor, mask: Tensor | None = None, dim: tuple[int, ...] | None = None) -> Tensor:
        """The penalty summed over the selected elements (over ``dim`` only, when given)."""

    @abstractmethod
    def grad(self, w: Tensor, mask: Tensor | None = None) -> Tensor:
        """The (sub)gradient, elementwise (sign(0) = 0), zero outside ``mask``."""

    @abstractmethod
    def add_to(self, g: Tensor, w: Tensor, out: Tensor | None = None) -> Tensor:
        """``g + ∇pen(w)``, into ``out`` when given (``out=g``: in place), else a new tensor."""

    @abstractmethod
    def adder(self) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
        """:meth:`add_to` with its constants computed once (for a loop that calls it every step)."""

    @abstractmethod
    def decayer(self, lr: Strength) -> Callable[[Tensor], None]:
        """In place ``w ← w − lr·∇pen(w)`` (the decoupled rule), its constants computed once."""

    @abstractmethod
    def proxer(self, step: Strength) -> Callable[[Tensor], None]:
        """In place ``w ← prox(w, step)``, its constants computed once."""

    @abstractmethod
    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        """Distance of ``−grad_loss`` to the subdifferential at ``w``, elementwise."""

    # -- with a mask: one implementation for every penalty ------------------------------------------
    def add_grad(self, g: Tensor, w: Tensor, mask: Tensor | None = None, out: Tensor | None = None) -> Tensor:
        """``g + ∇pen(w)`` (zero outside ``mask``), into ``out`` when given (``out=g``: in place)."""
        if mask is None:
            return self.add_to(g, w, out)
        return torch.add(g, self.grad(w, mask), out=out) if out is not None else g + self.grad(w, mask)

    def decay_(self, w: Tensor, lr: Strength, mask: Tensor | None = None) -> None:
        """In place: ``w ← w − lr·∇pen(w)`` on the elements inside ``mask``."""
        _where_mask_(w, mask, self.decayer(lr))

    def prox_(self, w: Tensor, step: Strength, mask: Tensor | None = None) -> None:
        """In place: ``w ← prox(w, step)`` on the elements inside ``mask``."""
        _where_mask_(w, mask, self.proxer(step))


def _nonzero_part(part: Strength | None) -> Strength | None:
    """A part, or None when it is absent or zero everywhere (a zero part is skipped, not multiplied:
    0·inf would be NaN, and it saves the work)."""
    if part is None:
        return None
    if isinstance(part, Tensor):
        return part if bool((part != 0).any()) else None
    return float(part) if part != 0.0 else None


@dataclass(frozen=True, eq=False)
class ElasticNetParts(AbstractTensorPenalty):
    """The elastic-net family on one tensor: ``pen(w) = Σ λ₁·|w| + λ₂·w²`` with its two parts.

    ``l1`` and ``l2`` are None (the part is absent), Python floats, or tensors broadcastable to ``w``
    (per element: a weighted penalty, or fit's fast-path Θ with zeros where a term does not apply;
    per run: K stacked runs). Build it with :meth:`of`, which drops zero parts.

    The special forms that make reglab agree bit for bit with torch: a scalar pure-L2 gradient is
    ``g.add(w, alpha=2λ₂)`` (``torch.optim.SGD``'s ``weight_decay``) and a pure-L2 decay is
    ``w.mul_(1 − lr·2λ₂)`` (``torch.optim.AdamW``).

    Examples
    --------
    >>> parts = ElasticNetParts.of(0.5, 0.25)
    >>> w = torch.tensor([-2.0, 0.0, 1.0])
    >>> parts.value(w)                          # 0.5·3 + 0.25·5
    tensor(2.7500)
    >>> parts.grad(w)                           # 0.5·sign(w) + 0.5·w
    tensor([-1.5000,  0.0000,  1.0000])
    >>> v = w.clone(); parts.prox_(v, 1.0); v   # soft(w, 0.5) / 1.5
    tensor([-1.0000,  0.0000,  0.3333])
    """

    l1: Strength | None = None
    l2: Strength | None = None

    @classmethod
    def of(cls, l1: Strength | None, l2: Strength | None) -> ElasticNetParts:
        """The parts with every zero part dropped."""
        return cls(_nonzero_part(l1), _nonzero_part(l2))

    @property
    def empty(self) -> bool:
        """True when neither part is present: the penalty is 0 and every action is the identity."""
        return self.l1 is None and self.l2 is None

    def value(self, w: Tensor, mask: Tensor | None = None, dim: tuple[int, ...] | None = None) -> Tensor:
        total: Tensor | None = None
        if self.l1 is not None:
            total = _weighted_sum(self.l1, w.abs(), mask, dim)
        if self.l2 is not None:
            part = _weighted_sum(self.l2, w * w, mask, dim)
            total = part if total is None else total + part
        if total is None:
            return w.new_zeros(() if dim is None else [n for i, n in enumerate(w.shape) if i not in dim])
        return total

    def grad(self, w: Tensor, mask: Tensor | None = None) -> Tensor:
        g: Tensor | None = None
        if self.l1 is not None:
            g = self.l1 * w.sign()
        if self.l2 is not None:
            g2 = (2.0 * self.l2) * w
            g = g2 if g is None else g + g2
        if g is None:
            return torch.zeros_like(w)
        return g if mask is None else torch.where(mask, g, torch.zeros_like(g))

    def add_to(self, g: Tensor, w: Tensor, out: Tensor | None = None) -> Tensor:
        return self.adder()(g, w, out)

    def adder(self) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
        """``add(g, w, out=None)``: ``g + ∇pen(w)``, its constants fixed once (fit's fast path calls it per step)."""
        l1, l2 = self.l1, self.l2
        if l1 is None and l2 is None:
            return _pass_through
        if l1 is None and not isinstance(l2, Tensor):
            alpha = 2.0 * l2  # the same operation as torch.optim.SGD / Adam weight_decay: grad + wd·w

            def add_l2(g: Tensor, w: Tensor, out: Tensor | None = None) -> Tensor:
                return torch.add(g, w, alpha=alpha) if out is None else torch.add(g, w, alpha=alpha, out=out)
            return add_l2
        add_l2_part = None if l2 is None else _scaled_adder(2.0 * l2)
        add_l1_part = None if l1 is None else _scaled_adder(l1)
        if add_l2_part is None:
            assert add_l1_part is not None

            def add_l1(g: Tensor, w: Tensor, out: Tensor | None = None) -> Tensor:
                return add_l1_part(g, w.sign(), out)
            return add_l1
        if add_l1_part is None:
            return add_l2_part

        def add(g: Tensor, w: Tensor, out: Tensor | None = None) -> Tensor:
            return add_l1_part(add_l2_part(g, w, out), w.sign(), out)
        return add

    def decayer(self, lr: Strength) -> Callable[[Tensor], None]:
        if self.empty:
            return _identity
        if self.l1 is None:
            factor = 1.0 - lr * 2.0 * self.l2  # AdamW's multiplicative form, so the two agree bit for bit

            def decay_l2(w: Tensor) -> None:
                w.mul_(factor)
            return decay_l2
        return _gradient_decayer(self.grad, lr)

    def proxer(self, step: Strength) -> Callable[[Tensor], None]:
        threshold = None if self.l1 is None else step * self.l1
        divisor = None if self.l2 is None else 1.0 + 2.0 * step * self.l2

        def prox(w: Tensor) -> None:
            if threshold is not None:  # soft-threshold: sign(v)·max(|v| − t, 0)
                w.copy_(w.sign().mul_(w.abs().sub_(threshold).clamp_(min=0.0)))
            if divisor is not None:
                w.div_(divisor)
        return prox

    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        # the smooth part's gradient joins the loss's; then, at w ≠ 0 the subdifferential of λ₁|w| is
        # {λ₁·sign(w)}, and at 0 the distance of −g to [−λ₁, λ₁]
        g = grad_loss if self.l2 is None else grad_loss + (2.0 * self.l2) * w
        if self.l1 is None:
            return g.abs()
        lam = self.l1
        return torch.where(w != 0, (g + lam * torch.sign(w)).abs(), torch.clamp(g.abs() - lam, min=0.0))

    def __add__(self, other: ElasticNetParts) -> ElasticNetParts:
        """The parts of the sum of two family penalties on the same tensor (strengths add)."""
        def plus(a: Strength | None, b: Strength | None) -> Strength | None:
            return b if a is None else a if b is None else a + b
        return ElasticNetParts(plus(self.l1, other.l1), plus(self.l2, other.l2))


def _identity(w: Tensor) -> None:
    return None


def _gradient_decayer(grad: Callable[[Tensor], Tensor], lr: Strength) -> Callable[[Tensor], None]:
    """In place ``w ← w − lr·grad(w)``, for a scalar or a per-run tensor ``lr``."""
    if isinstance(lr, Tensor):
        def decay_lr(w: Tensor) -> None:
            w.sub_(lr * grad(w))
        return decay_lr

    def decay(w: Tensor) -> None:
        w.sub_(grad(w), alpha=lr)
    return decay


def _pass_through(g: Tensor, w: Tensor, out: Tensor | None = None) -> Tensor:
    return g if out is None or out is g else out.copy_(g)


def _scaled_adder(lam: Strength) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
    """``(d, x, out) -> d + λ·x`` for a scalar or a tensor λ, into ``out`` when given."""
    if isinstance(lam, Tensor):
        def add_tensor(d: Tensor, x: Tensor, out: Tensor | None) -> Tensor:
            return torch.addcmul(d, lam, x) if out is None else torch.addcmul(d, lam, x, out=out)
        return add_tensor

    def add_scalar(d: Tensor, x: Tensor, out: Tensor | None) -> Tensor:
        return torch.add(d, x, alpha=lam) if out is None else torch.add(d, x, alpha=lam, out=out)
    return add_scalar


def _weighted_sum(lam: Strength, e: Tensor, mask: Tensor | None, dim: tuple[int, ...] | None) -> Tensor:
    """Σ λ·e over the selected elements: ``λ·Σe`` for a scalar λ, ``Σ(λ·e)`` for a tensor."""
    if dim is None:
        if isinstance(lam, Tensor):
            e = lam * e
            return (e if mask is None else e[mask]).sum()
        return lam * (e if mask is None else e[mask]).sum()
    if mask is not None:
        e = e * mask
    return (lam * e).sum(dim) if isinstance(lam, Tensor) else lam * e.sum(dim)


@dataclass(frozen=True, eq=False)
class Elementwise(AbstractTensorPenalty):
    """Any elementwise penalty on one tensor, through the penalty's own ``value``, ``grad`` and ``prox``.

    What a penalty outside the elastic-net family returns from :meth:`AbstractPenalty.on`. The step
    size is a Python float here (a penalty's ``prox`` may check it, as MCP's does).
    """

    penalty: AbstractPenalty

    @property
    def empty(self) -> bool:
        return False

    def value(self, w: Tensor, mask: Tensor | None = None, dim: tuple[int, ...] | None = None) -> Tensor:
        if dim is not None:
            raise ValueError(f"{self.penalty!r} has no per-run value: it is applied to one run at a time.")
        return self.penalty.value(w if mask is None else w[mask])

    def grad(self, w: Tensor, mask: Tensor | None = None) -> Tensor:
        g = self.penalty.grad(w)
        return g if mask is None else torch.where(mask, g, torch.zeros_like(g))

    def add_to(self, g: Tensor, w: Tensor, out: Tensor | None = None) -> Tensor:
        return g + self.penalty.grad(w) if out is None else torch.add(g, self.penalty.grad(w), out=out)

    def adder(self) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
        return self.add_to

    def decayer(self, lr: Strength) -> Callable[[Tensor], None]:
        return _gradient_decayer(self.penalty.grad, lr)

    def proxer(self, step: Strength) -> Callable[[Tensor], None]:
        prox, step_ = self.penalty.prox, float(step)

        def apply(w: Tensor) -> None:
            w.copy_(prox(w, step_))
        return apply

    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        return self.penalty.subdiff_distance(w, grad_loss)


# -- the term -------------------------------------------------------------------------------------------


class AbstractPenalty(ABC):
    """A penalty term: the mathematics of a penalty, where it applies, and its update rule.

    Subclasses implement the penalty's mathematics (``value``, ``grad``, ``prox``,
    ``subdiff_distance``, and :meth:`on`: the penalty acting on one selected tensor) and declare what
    they are, as class attributes, so that every path can support or refuse them by reading a
    capability (never by probing).

    Parameters
    ----------
    strength : float
        λ ≥ 0, in reglab's convention (objective = mean data loss + λ·pen(w)).
    on : str, sequence of str, callable, mapping or None
        Which parameters the term applies to: a glob or list of globs over parameter names
        (``"fc1.weight"``, ``"*.weight"``); a ``callable(name, param) -> bool``; or a mapping
        ``{name: bool mask}`` selecting single elements. Names are matched without the wrapper
        prefixes ``module.`` (``DistributedDataParallel``) and ``_orig_mod.`` (``torch.compile``).
        ``None`` (default): every parameter the optimizer updates with ``ndim >= 2``, never a 1-D or
        scalar one (biases, normalisation gains) and never a frozen one (``requires_grad=False``, or
        not in the optimizer's ``param_groups``); see :func:`default_on`.
    update : {"gradient", "proximal", "decoupled", "cumulative"}
        Where the penalty enters the optimizer step (see :class:`reglab.Regularized`).

    Attributes
    ----------
    kind : str
        Its key in :data:`reglab.penalties.config.KINDS` (spec files, the CLI).
    fields : tuple of str
        Its constructor's parameters besides ``strength``, ``on`` and ``update`` (stored as attributes
        of the same names): shown by ``repr`` and written by :meth:`config`.
    smooth : bool
        Differentiable everywhere (L-BFGS and FISTA's smooth part accept it).
    convex : bool
    elementwise : bool
        ``pen(w) = Σ_j p(w_j)``: ``grad`` and ``prox`` act element by element (fit's fast path can then
        apply it to its Θ).
    pure_l1 : bool
        ``λ·Σ_j a_j·|w_j|`` and nothing else: what Tsuruoka's cumulative rule applies.
    """

    kind: ClassVar[str] = ""
    fields: ClassVar[tuple[str, ...]] = ()
    smooth: bool = False
    convex: ClassVar[bool] = True
    elementwise: ClassVar[bool] = True
    pure_l1: ClassVar[bool] = False
    weights: Tensor | dict[str, Tensor] | None = None

    def __init__(self, strength: float, *, on: OnSpec = None, update: str = "gradient") -> None:
        self._strength = check_strength(strength)
        if update not in RULES:
            raise ValueError(f"Unknown update rule {update!r}. Choose one of {', '.join(RULES)}.")
        if on is not None and not isinstance(on, (str, Sequence, Mapping)) and not callable(on):
            raise TypeError(
                f"on= must be a glob, a list of names, a callable(name, param) -> bool or a "
                f"{{name: mask}} mapping; got {type(on).__name__}."
            )
        self.on = on
        self.update = update

    @property
    def strength(self) -> float:
        """λ ≥ 0. Assigning it checks the value as the constructor does (a ``TypeError`` for a
        non-number, a ``ValueError`` for a negative or non-finite one, naming the term); a
        :class:`~reglab.updates.Regularized` built before the assignment takes the new value at
        :meth:`~reglab.updates.Regularized.refresh_strengths` (a
        :class:`~reglab.updates.schedules.StrengthScheduler` calls it)."""
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        self._strength = check_strength(value, f"strength of {self!r}")

    # -- the mathematics, elementwise ------------------------------------------------------------
    @abstractmethod
    def value(self, w: Tensor) -> Tensor:
        """Penalty value of ``w`` (a 0-d tensor): λ·pen(w) summed over every element."""

    @abstractmethod
    def grad(self, w: Tensor) -> Tensor:
        """Gradient (subgradient where it is not differentiable, with sign(0) = 0), elementwise."""

    @abstractmethod
    def prox(self, v: Tensor, step: float) -> Tensor:
        """``argmin_x ½‖x − v‖²/step + pen(x)``, elementwise."""

    @abstractmethod
    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        """Distance of ``−grad_loss`` to the penalty's subdifferential at ``w``, elementwise.

        Zero everywhere exactly at an optimum (a stationary point, for a non-convex penalty) of
        ``loss + penalty``.
        """

    @abstractmethod
    def acting_on(self, selection: Selection) -> AbstractTensorPenalty:
        """The penalty acting on one selected tensor (its per-element weights included)."""

    # -- where it applies --------------------------------------------------------------------------
    def select(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> list[Selection]:
        """Resolve ``on=`` (and per-element ``weights``, when the term has them) against ``model``.

        Names are matched without the prefixes that wrappers add (``module.`` for
        ``DistributedDataParallel``, ``_orig_mod.`` for ``torch.compile``), so ``on="0.weight"``
        selects the same tensor in a wrapped model; the selections carry the unwrapped names.

        Parameters
        ----------
        model : nn.Module
        optimizer : torch.optim.Optimizer, optional
            With the default ``on=None``, parameters this optimizer does not update are skipped (see
            :func:`default_on`). An explicit ``on=`` is resolved as given (``Regularized`` then refuses
            a selected parameter its optimizer does not update).

        Raises
        ------
        ValueError
            If ``on=`` matches no parameter, a mask's shape differs from its parameter's, or the
            weights do not fit the selection.
        """
        params = unwrapped_parameters(model)
        on = self.on
        chosen: list[Selection] = []
        if on is None:
            keep = default_on(model, optimizer)
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
        return self._with_weights(chosen)

    def _with_weights(self, chosen: list[Selection]) -> list[Selection]:
        """Attach the term's per-element weights (if any) to each selected parameter."""
        weights = self.weights
        if weights is None:
            return chosen
        names = [s.name for s in chosen]
        if isinstance(weights, Tensor):
            if len(chosen) != 1:
                raise ValueError(
                    f"{self!r}: one weights tensor needs a selection of one parameter; on= selects "
                    f"{', '.join(names)}. Give on= one parameter, or weights as {{name: factors}}."
                )
            by_name = {chosen[0].name: weights}
        else:
            missing = [n for n in names if n not in weights]
            unselected = [n for n in weights if n not in names]
            if missing or unselected:
                raise ValueError(
                    f"{self!r}: weights must give factors for exactly the selected parameters "
                    f"({', '.join(names)}); " + "; ".join(
                        ([f"missing: {', '.join(missing)}"] if missing else [])
                        + ([f"not selected: {', '.join(unselected)}"] if unselected else [])) + "."
                )
            by_name = weights
        out = []
        for s in chosen:
            w = by_name[s.name]
            try:
                full = torch.broadcast_to(w, s.param.shape).to(s.param.device).clone()
            except RuntimeError:
                raise ValueError(
                    f"{self!r}: the weights for {s.name!r} have shape {tuple(w.shape)}, which does not "
                    f"broadcast to the parameter's shape {tuple(s.param.shape)}."
                ) from None
            out.append(dataclasses.replace(s, weight=full))
        return out

    def __repr__(self) -> str:
        extra = "".join(f", {f}={_repr_field(getattr(self, f))}" for f in self.fields)
        on = "" if self.on is None else f", on={self.on!r}"
        rule = "" if self.update == "gradient" else f", update={self.update!r}"
        return f"{type(self).__name__}({self.strength:g}{extra}{on}{rule})"

    def config(self) -> dict[str, Any]:
        """The term as plain data (the shape a spec file uses)."""
        out: dict[str, Any] = {"kind": self.kind, "strength": self.strength, "update": self.update}
        if isinstance(self.on, (str, list, tuple)):
            out["on"] = self.on if isinstance(self.on, str) else list(self.on)
        for f in self.fields:
            out[f] = _plain(getattr(self, f))
        return out


def _repr_field(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(_plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# -- the elastic-net family -------------------------------------------------------------------------


class AbstractElasticNet(AbstractPenalty):
    """The elastic-net family: ``λ·Σ_j a_j·(ρ·|w_j| + (1 − ρ)·w_j²)``.

    A member declares ``l1_ratio`` (ρ; a class attribute, or set in its constructor) and passes its
    per-element ``weights`` (``a_j``, default 1) to this constructor; its two parts, ``l1_strength``
    (λρ) and ``l2_strength`` (λ(1 − ρ)), and everything else follow here: value, grad, prox,
    subdiff_distance, alpha_max, and :meth:`acting_on` (the :class:`ElasticNetParts` every training
    path reads).

    Parameters
    ----------
    strength : float
    weights : Tensor, nested list, mapping {name: factors} or None
        Per-element non-negative factors of the penalty (0 leaves an element unpenalized): one
        tensor (broadcast to the shape of the one parameter the term selects), or one per parameter
        name (then ``on=`` defaults to those names). ``None``: 1 everywhere.
    on, update
        As :class:`AbstractPenalty`.
    """

    l1_ratio: float

    def __init__(self, strength: float, *, weights: WeightsSpec = None, on: OnSpec = None,
                 update: str = "gradient") -> None:
        checked = _check_weights(weights)
        if isinstance(checked, dict) and on is None:
            on = list(checked)
        super().__init__(strength, on=on, update=update)
        self.weights = checked

    @property
    def smooth(self) -> bool:  # type: ignore[override]
        """Differentiable everywhere: there is no L1 part (ρ = 0)."""
        return self.l1_ratio == 0.0

    @property
    def l1_strength(self) -> float:
        """λ₁ = λρ: the L1 part's strength (value λ₁·Σ|w|)."""
        return self.strength * self.l1_ratio

    @property
    def l2_strength(self) -> float:
        """λ₂ = λ(1 − ρ): the L2 part's strength (value λ₂·Σw²)."""
        return self.strength * (1.0 - self.l1_ratio)

    def max_weight(self) -> float:
        """The largest per-element factor (1 without weights)."""
        w = self.weights
        if w is None:
            return 1.0
        tensors = [w] if isinstance(w, Tensor) else list(w.values())
        return max(float(t.max()) for t in tensors)

    def acting_on(self, selection: Selection) -> ElasticNetParts:
        """The term's parts on ``selection.param``: scalars, or per element (in the parameter's dtype)
        when the term has weights.

        Examples
        --------
        >>> from reglab.penalties import ElasticNet
        >>> s = Selection("w", torch.zeros(2), None)
        >>> ElasticNet(1.0, l1_ratio=0.25).acting_on(s)
        ElasticNetParts(l1=0.25, l2=0.75)
        """
        a = selection.weight
        if a is None:
            return ElasticNetParts.of(self.l1_strength, self.l2_strength)
        dtype = selection.param.dtype
        return ElasticNetParts.of(*((lam * a).to(dtype) if lam else None
                                    for lam in (self.l1_strength, self.l2_strength)))

    def _bare_parts(self, w: Tensor) -> ElasticNetParts:
        """The parts on a bare tensor: the weights (if any) must be one tensor that broadcasts to ``w``."""
        weights = self.weights
        if isinstance(weights, Mapping):
            if len(weights) != 1:
                raise ValueError(f"{self!r} has weights for several parameters: apply it to one with "
                                 ".acting_on(selection) (see .select(model)).")
            (weights,) = weights.values()
        weight = None if weights is None else torch.broadcast_to(weights.to(w.device), w.shape)
        return self.acting_on(Selection("", w, None, weight))

    def value(self, w: Tensor) -> Tensor:
        return self._bare_parts(w).value(w)

    def grad(self, w: Tensor) -> Tensor:
        return self._bare_parts(w).grad(w)

    def prox(self, v: Tensor, step: float) -> Tensor:
        out = v.clone()
        self._bare_parts(v).proxer(step)(out)
        return out

    def subdiff_distance(self, w: Tensor, grad_loss: Tensor) -> Tensor:
        return self._bare_parts(w).subdiff_distance(w, grad_loss)

    def alpha_max(self, X: Tensor, y: Tensor, loss: str = "squared", fit_intercept: bool = True) -> float:
        """The smallest strength at which the optimum of a linear model is all zeros: ``max_j |∂loss/∂w_j| / ρ``
        at w = 0 (intercept at its optimum when fitted). Only a member with an L1 part has one.

        Examples
        --------
        >>> from reglab.penalties import L1
        >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); y = torch.tensor([2.0, -1.0])
        >>> L1(1.0).alpha_max(X, y, fit_intercept=False)   # |−2/n·Xᵀy| = 2
        2.0
        """
        if self.l1_ratio == 0.0:
            raise ValueError(
                f"{type(self).__name__} has no alpha_max: it never sets weights exactly to zero. "
                "Use L1 or ElasticNet with l1_ratio > 0."
            )
        if self.weights is not None:
            raise ValueError(f"{self!r}: for per-element weights use reglab.solvers.alpha_max(X, y, "
                             "l1_ratio=..., penalty_factor=weights).")
        top = _linear_alpha_max_grad(X, y, loss, fit_intercept)
        return top if self.l1_ratio == 1.0 else top / self.l1_ratio


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
