"""The one test registry: every penalty × update rule × optimizer, each with its expected outcome.

In the manner of torch's optimizer test registry: one table of inputs, and every contract test
runs over the whole table. An entry is a penalty term (one row of :data:`PENALTIES`), an update
rule (:data:`RULES`) and an inner optimizer (one row of :data:`OPTIMIZERS`); its ``outcome`` is
``None`` when :class:`reglab.Regularized` accepts the combination, or the :class:`Refusal` (error
type and a regex of the message) it raises today.

Adding a penalty kind is one row of :data:`PENALTIES` (``tests/updates`` fails until every kind of
:data:`reglab.penalties.PENALTY_KINDS` has one); adding a rule is one name in :data:`RULES` and its
refusals in :func:`expected_outcome`; adding an optimizer is one row of :data:`OPTIMIZERS`.

Examples
--------
>>> entry = find("l1", "proximal", "sgd-momentum")
>>> entry.ok, entry.outcome.error.__name__
(False, 'ValueError')
>>> sum(e.ok for e in ENTRIES) == len(valid_combinations())
True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from reglab import L1, L2, ElasticNet, Regularized
from reglab.penalties import MCP, AbstractPenalty, WeightedL1, WeightedL2

__all__ = [
    "DOUBLE_DECAY", "ENTRIES", "OPTIMIZERS", "PENALTIES", "RULES", "Entry", "OptimizerCase", "PenaltyCase",
    "Refusal", "expected_outcome", "find", "make_inner", "make_optimizer", "refused_combinations",
    "valid_combinations", "weight_decay_optimizers",
]

STRENGTH = 0.05


# -- the three axes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PenaltyCase:
    """One penalty term, less its rule, with the facts the refusals depend on stated here.

    ``smooth``: differentiable at 0 (L-BFGS accepts it). ``pure_l1``: the term is a (weighted) L1
    penalty and nothing else (the cumulative rule accepts only it; an elastic net with ``l1_ratio=1``
    is not one).
    """

    name: str
    kind: str  # its key in reglab.penalties.PENALTY_KINDS
    make: Callable[[str], AbstractPenalty]  # rule -> a fresh term
    smooth: bool
    pure_l1: bool


@dataclass(frozen=True)
class OptimizerCase:
    """One inner torch optimizer: its class, its hyperparameters, and the family reglab puts it in."""

    name: str
    cls: type[torch.optim.Optimizer]
    defaults: Mapping[str, Any]
    family: str  # as reglab.updates.optimizer_family names it: plain, momentum, adaptive, lbfgs

    def make(self, params: Iterable[Any], **overrides: Any) -> torch.optim.Optimizer:
        """The optimizer over ``params`` with this row's hyperparameters, ``overrides`` on top."""
        return self.cls(params, **{**self.defaults, **overrides})


PENALTIES: tuple[PenaltyCase, ...] = (
    PenaltyCase("l2", "l2", lambda rule: L2(STRENGTH, update=rule), smooth=True, pure_l1=False),
    PenaltyCase("l1", "l1", lambda rule: L1(STRENGTH, update=rule), smooth=False, pure_l1=True),
    *(PenaltyCase(f"elasticnet-{ratio:g}", "elasticnet",
                  (lambda rule, ratio=ratio: ElasticNet(STRENGTH, l1_ratio=ratio, update=rule)),
                  smooth=ratio == 0.0, pure_l1=False)
      for ratio in (0.0, 0.5, 1.0)),
    PenaltyCase("weighted_l1", "weighted_l1",
                lambda rule: WeightedL1(STRENGTH, weights=[1.0, 0.0, 2.0, 0.5, 1.0], on="linear.weight", update=rule),
                smooth=False, pure_l1=True),
    PenaltyCase("weighted_l2", "weighted_l2",
                lambda rule: WeightedL2(STRENGTH, weights=[1.0, 0.0, 2.0, 0.5, 1.0], on="linear.weight", update=rule),
                smooth=True, pure_l1=False),
    PenaltyCase("mcp", "mcp", lambda rule: MCP(STRENGTH, gamma=3.0, update=rule), smooth=False, pure_l1=False),
)

RULES: tuple[str, ...] = ("gradient", "proximal", "decoupled", "cumulative")

OPTIMIZERS: tuple[OptimizerCase, ...] = (
    OptimizerCase("sgd", torch.optim.SGD, {"lr": 0.02}, "plain"),
    OptimizerCase("sgd-momentum", torch.optim.SGD, {"lr": 0.02, "momentum": 0.9}, "momentum"),
    OptimizerCase("sgd-nesterov", torch.optim.SGD, {"lr": 0.02, "momentum": 0.9, "nesterov": True}, "momentum"),
    OptimizerCase("adam", torch.optim.Adam, {"lr": 0.1}, "adaptive"),
    OptimizerCase("adamw-no-decay", torch.optim.AdamW, {"lr": 0.1, "weight_decay": 0.0}, "adaptive"),
    OptimizerCase("lbfgs", torch.optim.LBFGS,
                  {"lr": 0.5, "max_iter": 1, "history_size": 5, "line_search_fn": "strong_wolfe"}, "lbfgs"),
)


# -- expected outcomes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """The error a refused combination raises: exactly this type, with a message matching ``pattern``."""

    reason: str  # a short name for the refusal, the same for every entry it applies to
    error: type[Exception]
    pattern: str  # a regex, searched in str(error)


def expected_outcome(penalty: PenaltyCase, rule: str, optimizer: OptimizerCase) -> Refusal | None:
    """What ``Regularized`` does with the combination: the first refusal that applies, or None.

    The order is the library's (``reglab.updates.rules``): the proximal rule's need for a plain
    step, then the cumulative rule's (L1 only, then a plain step), then L-BFGS's (the gradient
    rule only, then a smooth penalty). Each message starts with the term's repr.
    """
    term = re.escape(repr(penalty.make(rule)))
    family, opt = optimizer.family, optimizer.cls.__name__
    if rule == "proximal" and family != "plain":
        step = "momentum" if family == "momentum" else "preconditioned"
        return Refusal("proximal-needs-plain-step", ValueError,
                       rf"^{term}: update='proximal' needs a plain gradient step \(optimizer 'gd' or 'sgd', SGD "
                       rf"without momentum\); after {opt}'s {step} step, w ← prox\(w, lr\) is not a "
                       r"proximal-gradient method\.")
    if rule == "cumulative":
        if not penalty.pure_l1:
            return Refusal("cumulative-is-l1-only", ValueError,
                           rf"^{term}: update='cumulative' is Tsuruoka et al\.'s cumulative L1 penalty and applies "
                           r"to L1 only\.")
        if family != "plain":
            return Refusal("cumulative-needs-plain-step", ValueError,
                           rf"^{term}: update='cumulative' is defined for plain \(stochastic\) gradient steps, "
                           rf"not {opt}\.")
    if family == "lbfgs":
        if rule != "gradient":
            return Refusal("lbfgs-gradient-rule-only", ValueError,
                           rf"^{term}: L-BFGS runs its own line search, so only update='gradient' applies with it\.")
        if not penalty.smooth:
            return Refusal("lbfgs-needs-smooth-penalty", ValueError,
                           rf"^{term}: L-BFGS needs a smooth objective, and this penalty is not differentiable "
                           r"at 0\.")
    return None


# -- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One penalty × rule × optimizer combination and what ``Regularized`` does with it."""

    penalty: PenaltyCase
    rule: str
    optimizer: OptimizerCase
    outcome: Refusal | None

    @property
    def ok(self) -> bool:
        return self.outcome is None

    @property
    def id(self) -> str:
        return f"{self.penalty.name}-{self.rule}-{self.optimizer.name}"

    def make_term(self) -> AbstractPenalty:
        return self.penalty.make(self.rule)


ENTRIES: tuple[Entry, ...] = tuple(
    Entry(pen, rule, opt, expected_outcome(pen, rule, opt)) for pen in PENALTIES for rule in RULES for opt in OPTIMIZERS
)


def valid_combinations() -> list[Entry]:
    """The entries ``Regularized`` accepts."""
    return [e for e in ENTRIES if e.ok]


def refused_combinations() -> list[Entry]:
    """The entries ``Regularized`` refuses, each with its :class:`Refusal`."""
    return [e for e in ENTRIES if not e.ok]


def find(penalty: str, rule: str, optimizer: str) -> Entry:
    """The entry named by its penalty row, rule and optimizer row (``find("l1", "proximal", "sgd")``)."""
    for e in ENTRIES:
        if (e.penalty.name, e.rule, e.optimizer.name) == (penalty, rule, optimizer):
            return e
    raise KeyError(f"no registry entry {penalty}-{rule}-{optimizer}")


def make_inner(entry: Entry, params: Iterable[Any], **overrides: Any) -> torch.optim.Optimizer:
    """The entry's inner torch optimizer over ``params`` (``overrides`` replace its hyperparameters)."""
    return entry.optimizer.make(params, **overrides)


def make_optimizer(entry: Entry, model: nn.Module, params: Iterable[Any] | None = None,
                   **overrides: Any) -> Regularized:
    """``Regularized`` over ``params`` (default: all of ``model``'s) with the entry's one term.

    Raises the entry's refusal when the entry is refused.
    """
    inner = make_inner(entry, model.parameters() if params is None else params, **overrides)
    return Regularized(inner, model, [entry.make_term()])


# -- inner weight decay beside reglab's terms: refused unless allowed ---------------------------------

DOUBLE_DECAY = Refusal("inner-weight-decay", ValueError,
                       r"^(SGD|Adam|AdamW) already has weight_decay=0\.01 beside reglab's terms: that regularizes "
                       r"twice\.")


def weight_decay_optimizers() -> dict[str, Callable[[Iterable[Any]], torch.optim.Optimizer]]:
    """Every optimizer row that has a ``weight_decay``, with 0.01; AdamW with its default (also 0.01)."""
    out: dict[str, Callable[[Iterable[Any]], torch.optim.Optimizer]] = {
        o.name: (lambda ps, o=o: o.make(ps, weight_decay=0.01))
        for o in OPTIMIZERS if o.family != "lbfgs" and o.cls is not torch.optim.AdamW
    }
    out["adamw-default"] = lambda ps: torch.optim.AdamW(ps, lr=0.1)
    return out
