"""The update rules: one small class per rule, and the order of one regularized step, written once.

A rule says where a penalty term enters an optimizer step (its ``stage``), what it refuses and why
(:meth:`AbstractRule.check`), the state it keeps, how it acts on a tensor, and what it declares to
the paths that train (fit's fast path, the batched sweep executor, FISTA) and to the recorder (the
geometric shrink its L2 part gives). :class:`~reglab.updates.Regularized`, fit's fast path and the
batched sweep executor all run the same :data:`STEP` with the same rule objects.

========== =========== ================================================================================
rule       stage       what
========== =========== ================================================================================
gradient   direction   the inner step sees ``g + ∇pen(w)``: the penalty is in the loss
decoupled  before      ``w ← w − lr·∇pen(w)`` from the pre-step value, outside any preconditioner/momentum
proximal   after       ``w ← prox(w, lr)`` after a plain gradient step
cumulative after       Tsuruoka et al.'s clipped cumulative L1 penalty after a plain (stochastic) step
========== =========== ================================================================================

Examples
--------
>>> [getattr(s, "name", s) for s in STEP]
['gradient', 'decoupled', 'inner', 'proximal', 'cumulative']
>>> RULES["cumulative"].on_fast_path, RULES["cumulative"].batchable
(False, False)

References:
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    Tsuruoka, Tsujii & Ananiadou, "Stochastic Gradient Descent Training for L1-regularized
    Log-linear Models with Cumulative Penalty", ACL 2009.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Final, Literal, final

import torch
from torch import Tensor

from reglab.penalties import AbstractPenalty, AbstractTensorPenalty, ElasticNetParts, Selection
from reglab.penalties import RULES as RULE_NAMES

__all__ = [
    "INNER", "RULES", "STEP", "AbstractRule", "AbstractDirectionRule", "AbstractParameterRule", "CumulativeRule",
    "DecoupledRule", "GradientRule", "ProximalRule", "optimizer_family",
]


Shrink = Literal["subtract", "divide"]


def optimizer_family(optimizer: torch.optim.Optimizer) -> str:
    """``"plain"`` (SGD without momentum), ``"momentum"``, ``"lbfgs"`` or ``"adaptive"`` (anything else).

    Update rules that need a plain gradient step (proximal, cumulative) are allowed only for
    ``"plain"``; an optimizer reglab does not know is treated as ``"adaptive"``.
    """
    if isinstance(optimizer, torch.optim.LBFGS):
        return "lbfgs"
    if type(optimizer) is torch.optim.SGD:
        return "plain" if all(g.get("momentum", 0) == 0 for g in optimizer.param_groups) else "momentum"
    return "adaptive"


class AbstractRule(ABC):
    """Where a penalty term enters an optimizer step.

    Attributes
    ----------
    name : str
        The ``update=`` value that names it.
    stage : {"direction", "before", "after"}
        ``direction``: adds to the gradient the inner step sees; ``before``: acts on the parameter
        before the inner step; ``after``: after it. The order of the stages is :data:`STEP`.
    on_fast_path : bool
        fit's fast path (full-batch gradient descent on Θ) runs it; else ``why_not_fast`` says why.
    accelerated : bool
        FISTA (``optimizer="fista"``) has a counterpart for it.
    batchable : bool
        The batched sweep executor stacks K runs of it.
    """

    name: ClassVar[str]
    stage: ClassVar[Literal["direction", "before", "after"]]
    on_fast_path: ClassVar[bool] = True
    why_not_fast: ClassVar[str | None] = None
    accelerated: ClassVar[bool] = True
    batchable: ClassVar[bool] = True

    @abstractmethod
    def check(self, term: AbstractPenalty, family: str, opt_name: str) -> None:
        """Raise ValueError when the term cannot be applied by this rule after an optimizer of ``family``
        (:func:`optimizer_family`) named ``opt_name``; the message names the combination and the alternatives."""

    @abstractmethod
    def l2_shrink(self, family: str) -> Shrink | None:
        """What an L2 part λ₂ applied by this rule does to a weight in one step of an optimizer of ``family``,
        when it is a plain geometric shrink: ``"subtract"`` (w ← w − 2·lr·λ₂·w, from the pre-step value)
        or ``"divide"`` (w ← w / (1 + 2·lr·λ₂), after the step); None when it is not (the recorder's
        theory rate is then NaN)."""

    def new_state(self, term: AbstractPenalty, selection: Selection) -> dict[str, Tensor] | None:
        """The state the rule keeps per selected parameter (in ``Regularized.state_dict()``), or None."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AbstractDirectionRule(AbstractRule):
    """A rule that adds the penalty's (sub)gradient to the direction of the inner step."""

    stage: ClassVar[Literal["direction"]] = "direction"

    @abstractmethod
    def add_to_direction(self, op: AbstractTensorPenalty, w: Tensor, d: Tensor, mask: Tensor | None = None,
                         out: Tensor | None = None) -> Tensor:
        """``d`` plus the penalty's contribution at ``w`` (into ``out`` when given; ``out=d``: in place)."""


class AbstractParameterRule(AbstractRule):
    """A rule that acts on the parameter itself, before or after the inner step."""

    @abstractmethod
    def apply_(self, op: AbstractTensorPenalty, w: Tensor, lr: float | Tensor, mask: Tensor | None = None,
               state: dict[str, Tensor] | None = None) -> None:
        """In place on ``w`` (the elements inside ``mask``), with learning rate ``lr``."""

    @abstractmethod
    def prepare(self, op: AbstractTensorPenalty, lr: float) -> Callable[[Tensor], None]:
        """The action for a fixed ``lr`` and no mask, its constants computed once (fit's fast path)."""


@final
class GradientRule(AbstractDirectionRule):
    """``update="gradient"``: the penalty is in the loss; the inner step sees ``g + ∇pen(w)``.

    For a pure L2 part this is ``torch.optim.SGD(weight_decay=2λ)`` bit for bit.
    """

    name: ClassVar[str] = "gradient"

    def check(self, term: AbstractPenalty, family: str, opt_name: str) -> None:
        if family == "lbfgs" and not term.smooth:
            raise ValueError(
                f"{term!r}: L-BFGS needs a smooth objective, and this penalty is not differentiable at 0. "
                "Use optimizer='gd' with update='proximal' for L1 or elastic net."
            )

    def l2_shrink(self, family: str) -> Shrink | None:
        return "subtract" if family == "plain" else None

    def add_to_direction(self, op: AbstractTensorPenalty, w: Tensor, d: Tensor, mask: Tensor | None = None,
                         out: Tensor | None = None) -> Tensor:
        return op.add_grad(d, w, mask, out)


@final
class DecoupledRule(AbstractParameterRule):
    """``update="decoupled"``: ``w ← w − lr·∇pen(w)`` from the pre-step value, outside the inner step.

    For a pure L2 part this is ``torch.optim.AdamW(weight_decay=2λ)`` bit for bit.
    """

    name: ClassVar[str] = "decoupled"
    stage: ClassVar[Literal["before"]] = "before"
    accelerated: ClassVar[bool] = False

    def check(self, term: AbstractPenalty, family: str, opt_name: str) -> None:
        if family == "lbfgs":
            raise ValueError(
                f"{term!r}: L-BFGS runs its own line search, so only update='gradient' applies with it. "
                "Use optimizer 'gd' for proximal or cumulative rules, 'adam' for decoupled."
            )

    def l2_shrink(self, family: str) -> Shrink | None:
        return "subtract"

    def apply_(self, op: AbstractTensorPenalty, w: Tensor, lr: float | Tensor, mask: Tensor | None = None,
               state: dict[str, Tensor] | None = None) -> None:
        op.decay_(w, lr, mask)

    def prepare(self, op: AbstractTensorPenalty, lr: float) -> Callable[[Tensor], None]:
        return op.decayer(lr)


@final
class ProximalRule(AbstractParameterRule):
    """``update="proximal"``: ``w ← prox(w, lr)`` after a plain gradient step (proximal gradient)."""

    name: ClassVar[str] = "proximal"
    stage: ClassVar[Literal["after"]] = "after"

    def check(self, term: AbstractPenalty, family: str, opt_name: str) -> None:
        if family != "plain":
            raise ValueError(
                f"{term!r}: update='proximal' needs a plain gradient step (optimizer 'gd' or 'sgd', SGD without "
                f"momentum); after {opt_name}'s {'momentum' if family == 'momentum' else 'preconditioned'} step, "
                "w ← prox(w, lr) is not a proximal-gradient method. Use update='decoupled' or update='gradient' "
                "with this optimizer, or optimizer='gd' / 'sgd' with update='proximal'."
            )

    def l2_shrink(self, family: str) -> Shrink | None:
        return "divide" if family == "plain" else None

    def apply_(self, op: AbstractTensorPenalty, w: Tensor, lr: float | Tensor, mask: Tensor | None = None,
               state: dict[str, Tensor] | None = None) -> None:
        op.prox_(w, lr, mask)

    def prepare(self, op: AbstractTensorPenalty, lr: float) -> Callable[[Tensor], None]:
        return op.proxer(lr)


@final
class CumulativeRule(AbstractParameterRule):
    """``update="cumulative"``: Tsuruoka et al.'s clipped cumulative L1 penalty, after a plain step.

    State per selected parameter: ``u`` (0-d, float64), the total L1 penalty each weight could have
    received (Σ lr·λ), and ``q`` (the parameter's shape), the total it did receive. With per-element
    weights a_j the penalty element j could have received is a_j·u.

    Every selected weight is penalized at every step, whether or not its feature appears in the
    step's minibatch (with sparse X, a column absent from the batch has zero gradient and still gets
    its clipped penalty). Tsuruoka et al.'s lazy form, which scikit-learn's SGD also uses, applies
    the accumulated penalty to a feature only when it next appears; it reaches different weights
    (tests/training/test_sparse.py measures the difference). The eager form here is the same
    algorithm on dense and sparse data alike.
    """

    name: ClassVar[str] = "cumulative"
    stage: ClassVar[Literal["after"]] = "after"
    on_fast_path: ClassVar[bool] = False
    why_not_fast: ClassVar[str | None] = "the cumulative rule is a stochastic-gradient method (use optimizer='gd')"
    accelerated: ClassVar[bool] = False
    batchable: ClassVar[bool] = False

    def check(self, term: AbstractPenalty, family: str, opt_name: str) -> None:
        if not term.pure_l1:
            raise ValueError(
                f"{term!r}: update='cumulative' is Tsuruoka et al.'s cumulative L1 penalty and applies to L1 only. "
                "For an L2 part, add a separate L2 term (update='gradient'); for elastic net use update='proximal'."
            )
        if family != "plain":
            raise ValueError(
                f"{term!r}: update='cumulative' is defined for plain (stochastic) gradient steps, not {opt_name}. "
                "Use optimizer 'gd' or 'sgd', or update='decoupled' / 'gradient' with this optimizer."
            )

    def l2_shrink(self, family: str) -> Shrink | None:
        return None

    def new_state(self, term: AbstractPenalty, selection: Selection) -> dict[str, Tensor] | None:
        return {"u": torch.zeros((), dtype=torch.float64), "q": torch.zeros_like(selection.param)}

    def apply_(self, op: AbstractTensorPenalty, w: Tensor, lr: float | Tensor, mask: Tensor | None = None,
               state: dict[str, Tensor] | None = None) -> None:
        # Tsuruoka et al. (2009), Fig. 2: after the gradient step each weight is clipped toward zero
        # by u ∓ q, never across it
        assert isinstance(op, ElasticNetParts) and op.l2 is None and state is not None  # check() ensures it
        if op.l1 is None:
            return
        per_element = isinstance(op.l1, Tensor)
        state["u"] += lr if per_element else lr * op.l1
        q = state["q"]
        u = state["u"].to(w.dtype)
        if per_element:
            u = u * op.l1
        z = w.clone()
        pos = torch.clamp(w - (u + q), min=0.0)
        neg = torch.clamp(w + (u - q), max=0.0)
        new = torch.where(w > 0, pos, torch.where(w < 0, neg, w))
        if mask is not None:
            new = torch.where(mask, new, w)
        w.copy_(new)
        q += w - z

    def prepare(self, op: AbstractTensorPenalty, lr: float) -> Callable[[Tensor], None]:
        raise ValueError(f"update='cumulative' is not on fit's fast path: {self.why_not_fast}.")


RULES: Final[dict[str, AbstractRule]] = {
    r.name: r for r in (GradientRule(), ProximalRule(), DecoupledRule(), CumulativeRule())
}
"""``update=`` name → the rule. A new rule: its class, a row here, its name in
:data:`reglab.penalties.RULES` and its place in :data:`STEP`."""

if tuple(RULES) != RULE_NAMES:  # pragma: no cover - a development error, caught by any import
    raise ImportError(f"reglab.updates.rules.RULES {tuple(RULES)} and reglab.penalties.RULES {RULE_NAMES} differ.")


INNER: Final = "inner"
"""The inner optimizer's own step, in :data:`STEP`."""

STEP: Final[tuple[AbstractRule | str, ...]] = (
    RULES["gradient"], RULES["decoupled"], INNER, RULES["proximal"], RULES["cumulative"],
)
"""The order of one regularized step: every term of a rule is applied (in the order given) before the
next rule's. Gradient-rule terms are all evaluated at the pre-step parameters."""

BEFORE_INNER: Final = tuple(r for r in STEP[: STEP.index(INNER)] if isinstance(r, AbstractRule))
AFTER_INNER: Final = tuple(r for r in STEP[STEP.index(INNER) + 1:] if isinstance(r, AbstractRule))
