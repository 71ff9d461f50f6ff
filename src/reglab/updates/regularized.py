"""Update rules: where a penalty term enters an optimizer step.

:class:`Regularized` wraps any ``torch.optim`` optimizer and applies each term by its rule (the rule
objects of :mod:`reglab.updates.rules`, in the order of :data:`~reglab.updates.rules.STEP`):

========== ============================================ ================================================
rule       when                                         what
========== ============================================ ================================================
gradient   before the inner step                        the inner step sees ``p.grad + ∇pen(p)``: the penalty is in
                                                        the loss (out of place: ``.grad`` keeps the data gradient)
decoupled  with the inner step, from the pre-step value ``p ← p − lr·∇pen(p)``, outside any preconditioner
                                                        and momentum (as ``torch.optim.AdamW`` decays)
proximal   after a plain gradient step                  ``p ← prox(p, lr)``
cumulative after a plain (stochastic) gradient step     Tsuruoka et al.'s clipped cumulative L1 penalty
========== ============================================ ================================================

The learning rate is read from the inner optimizer's ``param_groups`` at every step, so LR
schedulers (attached to the wrapper or to the inner optimizer) work.

References:
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    Tsuruoka, Tsujii & Ananiadou, "Stochastic Gradient Descent Training for L1-regularized
    Log-linear Models with Cumulative Penalty", ACL 2009.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import optimizer as _torch_optimizer

from reglab.penalties import AbstractPenalty, AbstractTensorPenalty, Selection
from reglab.updates.rules import (
    AFTER_INNER,
    BEFORE_INNER,
    RULES,
    AbstractDirectionRule,
    AbstractParameterRule,
    optimizer_family,
)

__all__ = ["Regularized"]


def _global_step_hooks() -> bool:
    """Whether any global optimizer step hook is registered (torch.optim.register_optimizer_step_*_hook)."""
    return bool(_torch_optimizer._global_optimizer_pre_hooks or _torch_optimizer._global_optimizer_post_hooks)


class Regularized(torch.optim.Optimizer):
    """Wrap a torch optimizer so that penalty terms are applied by their update rules.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The inner optimizer, built over ``model``'s parameters. Its learning rates are read at
        every step; its ``weight_decay`` must be 0 (reglab's terms are the regularization).
    model : nn.Module
        Where the terms' ``on=`` selectors look for parameter names.
    terms : sequence of penalty terms
        ``L2(...)``, ``L1(...)``, ``ElasticNet(...)``, ``WeightedL1(...)``, ``MCP(...)``, each with its
        ``on=`` and ``update=``.
    allow_weight_decay : bool
        Allow an inner ``weight_decay > 0`` beside the terms (regularizing twice). Default False.

    Examples
    --------
    >>> from reglab import L1, L2
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model,
    ...                   [L2(0.01), L1(1e-3, update="proximal")])
    >>> loss = model(torch.randn(8, 3)).square().mean()
    >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        model: nn.Module,
        terms: Sequence[AbstractPenalty] | AbstractPenalty = (),
        *,
        allow_weight_decay: bool = False,
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}.")
        if isinstance(optimizer, Regularized):
            raise TypeError("optimizer is already Regularized; give all terms to one Regularized wrapper.")
        terms = [terms] if isinstance(terms, AbstractPenalty) else list(terms)
        for t in terms:
            if not isinstance(t, AbstractPenalty):
                raise TypeError(f"Each term must be an L2, L1 or ElasticNet; got {type(t).__name__} {t!r}.")
        family = optimizer_family(optimizer)
        opt_name = type(optimizer).__name__
        for t in terms:
            RULES[t.update].check(t, family, opt_name)
        if terms and not allow_weight_decay:
            decays = [g.get("weight_decay", 0) for g in optimizer.param_groups]
            if any(d for d in decays):
                raise ValueError(
                    f"{opt_name} already has weight_decay={max(decays)} beside reglab's terms: that regularizes "
                    "twice. Set weight_decay=0 on the optimizer (reglab's L2 term with update='gradient' or "
                    "'decoupled' does the same), or pass allow_weight_decay=True if you mean it."
                )
        super().__init__(optimizer.param_groups, optimizer.defaults)
        self.optimizer = optimizer
        self.param_groups = optimizer.param_groups
        self.state = optimizer.state
        self.model = model
        self.terms = terms
        self.family = family
        owned = {id(p) for g in optimizer.param_groups for p in g["params"]}
        self.selections: list[list[Selection]] = []
        for t in terms:
            sel = t.select(model)
            outside = [s.name for s in sel if id(s.param) not in owned]
            if outside:
                raise ValueError(f"{t!r} applies to {outside}, which the optimizer does not update.")
            self.selections.append(sel)
        # each term acting on each of its selected parameters (its parts, or its own elementwise maths)
        self.ops: list[list[AbstractTensorPenalty]] = [[t.acting_on(s) for s in sel]
                                                       for t, sel in zip(terms, self.selections)]
        # the step's plan, fixed with the terms: the stages of STEP, each rule's terms in the order given,
        # as (rule, op, selection, state); a term that is zero everywhere acts as the identity and is left out
        self._cumulative: dict[int, list[dict[str, Tensor]]] = {}  # per term: (u, q) per selected parameter
        by_rule: dict[str, list[tuple[Any, AbstractTensorPenalty, Selection, dict[str, Tensor] | None]]] = {
            name: [] for name in RULES}
        for i, (t, sel, ops) in enumerate(zip(terms, self.selections, self.ops)):
            rule = RULES[t.update]
            states = [rule.new_state(t, s) for s in sel]
            if states and all(st is not None for st in states):
                self._cumulative[i] = states  # type: ignore[assignment]
            by_rule[rule.name] += [(rule, op, s, st) for op, s, st in zip(ops, sel, states) if not op.empty]
        self._direction = [entry for r in BEFORE_INNER if isinstance(r, AbstractDirectionRule) for entry in by_rule[r.name]]
        self._before = [entry for r in BEFORE_INNER if isinstance(r, AbstractParameterRule) for entry in by_rule[r.name]]
        self._after = [entry for r in AFTER_INNER for entry in by_rule[r.name]]
        self._before_inner = bool(self._direction or self._before)
        self._after_inner = bool(self._after)

    # -- learning rates ----------------------------------------------------------------------------
    def _lr_of(self, param: Tensor) -> float:
        for g in self.optimizer.param_groups:
            if any(p is param for p in g["params"]):
                return float(g["lr"])
        raise KeyError("parameter not in optimizer")  # unreachable: checked at construction

    # -- the step ----------------------------------------------------------------------------------
    @torch.no_grad()
    def add_penalty_grads_(self) -> None:
        """Add the (sub)gradient of every ``gradient``-rule term to its parameters' ``.grad``."""
        self._add_penalty_grads()

    def _add_penalty_grads(self, keep_data_grads: bool = False) -> list[tuple[Tensor, Tensor]]:
        """Add the (sub)gradient of every ``gradient``-rule term to its parameters' ``.grad``.

        With ``keep_data_grads``, out of place, as torch's own ``weight_decay``: each such parameter
        gets a new ``.grad``, and the (parameter, data-loss gradient) pairs are returned for
        :meth:`_step` to put back after the inner step, so that after ``step()`` ``.grad`` still
        holds the data-loss gradient (which a :class:`~reglab.observe.Recorder` reads then).
        """
        data: dict[int, tuple[Tensor, Tensor]] = {}
        for rule, op, s, _ in self._direction:
            p, g = s.param, s.param.grad
            if g is None:
                continue
            new = keep_data_grads and id(p) not in data  # the first term on p writes a new tensor
            if new:
                data[id(p)] = (p, g)
            p.grad = rule.add_to_direction(op, p, g, s.mask, out=None if new else g)
        return list(data.values())

    @torch.no_grad()
    def penalty_value(self, rule: str | None = None) -> Tensor:
        """Σ over terms (of one ``rule`` if given) of the penalty value on their parameters (float64)."""
        values = [
            op.value(s.param, s.mask).to(torch.float64)
            for t, sel, ops in zip(self.terms, self.selections, self.ops)
            if rule is None or t.update == rule
            for op, s in zip(ops, sel)
        ]
        return torch.stack(values).sum() if values else torch.zeros((), dtype=torch.float64)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One step of the inner optimizer with every term applied by its rule.

        Step hooks registered on this wrapper (and global optimizer hooks) run around it, and a
        profiler range names it, as for any torch optimizer; without hooks or a profiler the step
        skips that wrapper's cost (see ``_step_hooked``).
        """
        if (self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks or _global_step_hooks()
                or torch.autograd._profiler_enabled()):
            return self._step_hooked(closure)
        return self._step(closure)

    # torch.optim.Optimizer wraps a subclass's step() in its hook-and-profiler wrapper unless the
    # function says it is "hooked"; this one runs that same wrapper (_step_hooked) only when there
    # is something for it to do, which saves its cost on every plain step
    step.hooked = True  # type: ignore[attr-defined]

    def _step(self, closure: Callable[[], Any] | None = None) -> Any:
        if self.family == "lbfgs":
            if closure is None:
                raise ValueError("L-BFGS needs a closure that recomputes the loss: opt.step(closure).")
            return self.optimizer.step(self._closure_with_penalty(closure))
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        data_grads: list[tuple[Tensor, Tensor]] = []
        if self._before_inner:  # the stages of STEP before the inner step, then the inner step, then those after
            with torch.no_grad():
                data_grads = self._add_penalty_grads(keep_data_grads=True)
                self._apply_parameter_rules(self._before)
        try:
            self.optimizer.step()
        finally:
            for p, g in data_grads:
                p.grad = g
        if self._after_inner:
            with torch.no_grad():
                self._apply_parameter_rules(self._after)
        return loss

    _step_hooked = torch.optim.Optimizer.profile_hook_step(_step)

    def _closure_with_penalty(self, closure: Callable[[], Any]) -> Callable[[], Any]:
        def penalized() -> Any:
            with torch.enable_grad():
                loss = closure()
            self.add_penalty_grads_()
            return loss + self.penalty_value("gradient").to(loss.dtype)

        return penalized

    def _apply_parameter_rules(self, plan: list[Any]) -> None:
        """Each (rule, op, selection, state) of ``plan``, in order, on the parameters that have a gradient
        (a parameter the step does not update is left alone)."""
        for rule, op, s, state in plan:
            if s.param.grad is not None:
                rule.apply_(op, s.param, self._lr_of(s.param), s.mask, state)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    # torch.optim.Optimizer pickles (and deep-copies) only defaults, state and param_groups; the
    # wrapper also needs its inner optimizer, model, terms and selections
    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """The inner optimizer's state and reglab's own (cumulative-L1 totals), as plain tensors."""
        cumulative = {str(i): [{"u": st["u"].clone(), "q": st["q"].clone()} for st in sts]
                      for i, sts in self._cumulative.items()}
        return {"inner": self.optimizer.state_dict(), "cumulative": cumulative}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        if set(state_dict) != {"inner", "cumulative"}:
            raise ValueError(
                "Not a Regularized state_dict (expected keys 'inner' and 'cumulative'). "
                "To load a plain optimizer's state, call .optimizer.load_state_dict()."
            )
        self.optimizer.load_state_dict(state_dict["inner"])
        # torch's load_state_dict replaces the inner optimizer's param_groups and state objects:
        # share the new ones again, or an LR scheduler attached to this wrapper drives stale groups
        self.param_groups = self.optimizer.param_groups
        self.state = self.optimizer.state
        saved = state_dict["cumulative"]
        if set(saved) != {str(i) for i in self._cumulative}:
            raise ValueError("The saved cumulative-L1 state does not match this wrapper's terms.")
        for i, sts in self._cumulative.items():
            for st, src in zip(sts, saved[str(i)]):
                st["u"].copy_(src["u"])
                st["q"].copy_(src["q"])

    def __repr__(self) -> str:
        return f"Regularized({type(self.optimizer).__name__}, terms={self.terms!r})"
