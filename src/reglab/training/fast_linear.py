"""fit's fast path for linear models: full-batch gradient descent or FISTA on Θ without autograd, and
:func:`prepare_fast_path`, fit's single dispatch point for it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import torch
from torch import Tensor, nn

from reglab.losses import Loss
from reglab.models import LinearModel
from reglab.penalties import AbstractElasticNet, AbstractPenalty, ElasticNetParts, Selection
from reglab.solvers.fista import fista_loop
from reglab.solvers.torch_design import LinearDesign
from reglab.updates.rules import (
    AFTER_INNER,
    BEFORE_INNER,
    RULES,
    AbstractDirectionRule,
    AbstractParameterRule,
    AbstractRule,
)

if TYPE_CHECKING:
    from reglab.observe import Recorder

__all__ = ["FAST_OPTIMIZERS", "LinearFastPath", "prepare_fast_path", "why_not_fast"]


FAST_OPTIMIZERS: Final = ("gd", "fista")


ThetaOp = Callable[[Tensor], None]  # in place on Θ (or on a buffer laid out as Θ)


@dataclass
class _StepPlan:
    """One step's penalty actions on Θ, per stage of :data:`~reglab.updates.rules.STEP`.

    ``direction``: the elastic-net family's gradient-rule terms merged into one set of parts (they are
    all evaluated at the pre-step Θ, so their per-element strengths add), or None; ``direction_ops``:
    the other gradient-rule terms, each adding its gradient into the direction (θ, d); ``before`` /
    ``after``: the parameter rules' actions, term by term, in order.
    """

    direction: ElasticNetParts | None
    direction_ops: list[Callable[[Tensor, Tensor], None]]
    before: list[ThetaOp]
    after: list[ThetaOp]


class LinearFastPath(LinearDesign):
    """Full-batch gradient descent or FISTA on a linear model with its canonical loss, without autograd.

    Built by :func:`prepare_fast_path`; :meth:`run` is called by :func:`reglab.fit` in place of its
    autograd loop, with the same step as ``Regularized(SGD(lr))``: the stages of
    :data:`~reglab.updates.rules.STEP`, applied by the same rule objects to the terms' parts laid out
    over Θ (a term outside the elastic-net family acts on its parameters' regions of Θ):

    1. g = ∇loss(Θ) + Σ over ``gradient`` terms of ∇pen(Θ);
    2. each ``decoupled`` term in order: Θ ← Θ − lr·∇pen(Θ) (L2 in the multiplicative form);
    3. Θ ← Θ − lr·g;
    4. each ``proximal`` term in order: Θ ← prox(Θ, lr).

    Nothing is read back to the host except at logged steps, where the parameters are written into
    the model and ``fit``'s own logging runs (history, divergence, ``tol``).

    Attributes
    ----------
    gram : Tensor of shape (d, d) or None
        X̃ᵀX̃/n when the Gram form is used (squared loss, n ≫ d).
    """

    def __init__(self, model: LinearModel, X: Tensor, y: Tensor, loss: Loss, optimizer: str,
                 gram: bool | None = None, steps: int | None = None, sample_weight: Tensor | None = None) -> None:
        super().__init__(model, X, y, loss, gram=gram, steps=steps, sample_weight=sample_weight)
        self.optimizer = optimizer

    def _parts_over_theta(self, term: AbstractElasticNet, selection: Sequence[Selection]) -> ElasticNetParts:
        """A family term's parts as per-element strengths over Θ (zero where the term does not apply)."""
        l1 = self.Y.new_zeros(self.d, self.k)
        l2 = self.Y.new_zeros(self.d, self.k)
        for s in selection:
            parts = term.acting_on(s)
            for buf, lam in ((l1, parts.l1), (l2, parts.l2)):
                if lam is None:
                    continue
                region = self._region(buf, s)
                region.add_(lam * (torch.ones_like(region) if s.mask is None else s.mask.to(region.dtype)))
        return ElasticNetParts.of(l1, l2)

    def _on_regions(self, rule: AbstractParameterRule, term: AbstractPenalty, selection: Sequence[Selection],
                    lr: float) -> ThetaOp:
        """A term outside the family, applied by ``rule`` to its parameters' regions of Θ."""
        ops = [(term.acting_on(s), s) for s in selection]

        def apply(theta: Tensor) -> None:
            for op, s in ops:
                rule.apply_(op, self._region(theta, s), lr, s.mask)
        return apply

    def _step_plan(self, terms: Sequence[AbstractPenalty], selections: Sequence[Sequence[Selection]],
                   lr: float) -> _StepPlan:
        """Every term's action on Θ, stage by stage (:data:`~reglab.updates.rules.STEP`), made once."""
        plan = _StepPlan(None, [], [], [])
        for stage, rules in (("before", BEFORE_INNER), ("after", AFTER_INNER)):
            for rule in rules:
                mine = [(t, sel) for t, sel in zip(terms, selections) if RULES[t.update] is rule]
                if isinstance(rule, AbstractDirectionRule):
                    for t, sel in mine:
                        if isinstance(t, AbstractElasticNet):
                            parts = self._parts_over_theta(t, sel)
                            plan.direction = parts if plan.direction is None else plan.direction + parts
                        else:
                            plan.direction_ops.append(self._direction_on_regions(rule, t, sel))
                elif isinstance(rule, AbstractParameterRule):
                    ops = plan.before if stage == "before" else plan.after
                    for t, sel in mine:
                        if isinstance(t, AbstractElasticNet):
                            parts = self._parts_over_theta(t, sel)
                            if not parts.empty:
                                ops.append(rule.prepare(parts, lr))
                        else:
                            ops.append(self._on_regions(rule, t, sel, lr))
        if plan.direction is not None and plan.direction.empty:
            plan.direction = None
        return plan

    def _direction_on_regions(self, rule: AbstractDirectionRule, term: AbstractPenalty,
                              selection: Sequence[Selection]) -> Callable[[Tensor, Tensor], None]:
        ops = [(term.acting_on(s), s) for s in selection]

        def add(theta: Tensor, d: Tensor) -> None:
            for op, s in ops:
                region = self._region(d, s)
                rule.add_to_direction(op, self._region(theta, s), region, s.mask, out=region)
        return add

    # -- the loops ------------------------------------------------------------------------------------
    @torch.no_grad()
    def run(self, terms: Sequence[AbstractPenalty], selections: Sequence[Sequence[Selection]], lr: float,
            steps: int, log_every: int, log: Callable[[int, float], bool], recorder: Recorder | None = None) -> int:
        """Run ``steps`` steps, calling ``log(step, data_loss)`` at logged steps with the model set to Θ.

        Returns the number of steps run (the step at which ``log`` asked to stop, or ``steps``).
        The model holds the final Θ on return. A ``recorder`` (optimizer ``"gd"``) records what its
        step hooks would see: the data-loss gradient before any penalty, the parameters before and
        after each step. When it records every weight at every step and Θ's layout is its rows' (one
        output), Θ after step s is computed straight into its values row s + 1 and the gradient into
        its gradient row s: no call per step, and the recorder summarizes the rows at the end.
        Otherwise it is handed views of Θ and the gradient around the steps it records.
        """
        if self.optimizer == "fista":
            return self._run_fista(terms, selections, lr, steps, log_every, log)
        plan = self._step_plan(terms, selections, lr)
        # gradient-rule terms are evaluated at the same Θ: the family's sum into one set of parts
        add_direction = None if plan.direction is None else plan.direction.adder()
        direction_ops, decays, proxes = plan.direction_ops, plan.before, plan.after
        theta = self.theta_of_model()
        g = theta.new_empty(self.d, self.k)
        # with a recorder, the penalised direction goes to its own buffer: g stays the data-loss gradient
        direction = g if recorder is None else theta.new_empty(self.d, self.k)
        rows = self._recorder_rows(recorder, steps)
        stepwise = recorder is not None and rows is None
        # Θ and g move from row to row of the recorder's buffers, or stay where they are (None)
        V = None if rows is None else rows[0].unbind(0)
        G = None if rows is None or rows[1] is None else rows[1].unbind(0)
        if V is not None:
            theta = V[0]  # the recorder's row 0 holds the model's values, as it recorded them
        if stepwise:  # the recorder reads Θ and the gradient through views shaped like the model's parameters
            g_of_params = self._as_parameters(g, recorder.parameters)
            theta_of_params = self._as_parameters(theta, recorder.parameters)
        done = 0
        try:
            for step in range(steps):
                if step % log_every == 0:
                    self.write_model_(theta)
                    if log(step, self.data_loss(theta)):
                        return step
                if G is not None:
                    g = G[step]
                self.grad(theta, out=g)
                if stepwise and recorder.needs_pre_step():
                    recorder.record_pre_step(values=theta_of_params)
                d = g  # the penalised direction
                if add_direction is not None:
                    d = add_direction(g, theta, direction)
                if direction_ops:
                    if d is not direction:
                        d = direction.copy_(g)
                    for add in direction_ops:
                        add(theta, d)
                new = theta if V is None else V[step + 1]
                if decays:  # the decays and proxes act in place, on the new Θ
                    if new is not theta:
                        new.copy_(theta)
                    for decay in decays:
                        decay(new)
                    new.sub_(d, alpha=lr)
                else:
                    torch.sub(theta, d, alpha=lr, out=new)
                for prox in proxes:
                    prox(new)
                theta, done = new, step + 1
                if stepwise:
                    recorder.record_post_step(g_of_params, theta_of_params)
        finally:  # the steps run count as recorded in the rows, whether the loop ends, stops or raises
            if rows is not None:
                recorder.commit_rows(done)
        self.write_model_(theta)
        log(steps, self.data_loss(theta))
        return steps

    def _recorder_rows(self, recorder: Recorder | None, steps: int) -> tuple[Tensor, Tensor | None] | None:
        """The recorder's rows for the coming steps, shaped (steps + 1, d, 1) like Θ, when Θ's layout is
        the rows' (one output: weight then bias, flattened) and every step records every weight; else None."""
        if recorder is None or self.k != 1:
            return None
        lin = self.model.linear
        if [id(p) for p in recorder.parameters] != [id(lin.weight)] + ([id(lin.bias)] if self.fit_intercept else []):
            return None
        rows = recorder.rows_ahead(steps)
        if rows is None:
            return None
        values, grads = rows
        return values.view(steps + 1, self.d, 1), None if grads is None else grads.view(steps + 1, self.d, 1)

    def _run_fista(self, terms: Sequence[AbstractPenalty], selections: Sequence[Sequence[Selection]], lr: float,
                   steps: int, log_every: int, log: Callable[[int, float], bool]) -> int:
        if any(not RULES[t.update].accelerated for t in terms):
            raise ValueError("optimizer='fista' applies terms by the 'proximal' or 'gradient' rule; "
                             "'decoupled' has no accelerated counterpart. Use optimizer='gd' for it.")
        plan = self._step_plan(terms, selections, lr)
        if plan.direction is not None and plan.direction.l1 is not None:
            raise ValueError("optimizer='fista' needs a smooth part: give L1 and elastic-net terms "
                             "update='proximal' (a subgradient step is not accelerated by FISTA).")
        add_smooth = None if plan.direction is None else plan.direction.adder()
        proxes = plan.after
        x = self.theta_of_model()
        stop, state = fista_loop(x, lambda th, out: self._smooth_grad(th, out, add_smooth), proxes, lr, steps,
                                 log_every, lambda step, th: (self.write_model_(th), log(step, self.data_loss(th)))[1])
        self.write_model_(state)
        if stop is None:
            log(steps, self.data_loss(state))
            return steps
        return stop

    def _smooth_grad(self, theta: Tensor, out: Tensor,
                     add_smooth: Callable[[Tensor, Tensor, Tensor | None], Tensor] | None) -> Tensor:
        self.grad(theta, out=out)
        if add_smooth is not None:
            add_smooth(out, theta, out)
        return out


def why_not_fast(model: nn.Module, X: Tensor, loss: Loss, terms: Sequence[AbstractPenalty], optimizer: Any, *,
                 record: bool, batch_size: int | None, fast: bool = True, scheduled: bool = False) -> str | None:
    """Why this ``fit()`` call cannot run on the fast path (the plain autograd loop runs), or None when it can.

    Each reason comes from a declared capability: the optimizer's, the model's, an update rule's
    (``on_fast_path``, ``why_not_fast``) or a penalty's (``elementwise``; for FISTA, membership of the
    elastic-net family, whose parts it applies).

    Examples
    --------
    >>> from reglab.losses import get_loss
    >>> from reglab.models import linear
    >>> from reglab.penalties import L1
    >>> why_not_fast(linear(3), torch.zeros(4, 3, dtype=torch.float64), get_loss("squared"),
    ...              [L1(0.1, update="cumulative")], "gd", record=False, batch_size=None)
    "the cumulative rule is a stochastic-gradient method (use optimizer='gd')"
    """
    is_fista = isinstance(optimizer, str) and optimizer == "fista"
    slow_rules = [RULES[t.update] for t in terms if not RULES[t.update].on_fast_path]
    if not (isinstance(optimizer, str) and optimizer in FAST_OPTIMIZERS):
        return "the optimizer is not 'gd' or 'fista'"
    if not isinstance(model, LinearModel) or loss.name != model.default_loss:
        return "it needs a linear, logistic or softmax model with its canonical loss"
    if record and is_fista:
        return "recording runs on optimizer='gd'"
    if batch_size is not None:
        return "it is full-batch"
    if scheduled:
        return "a strength schedule changes λ during the run, and the fast path keeps it fixed"
    if slow_rules:
        return _reason_of(slow_rules[0])
    if any(not p.requires_grad or p.dtype != X.dtype or p.device != X.device for p in model.parameters()):
        return "every parameter must be trainable, with the data's dtype and device"
    for t in terms:
        if not t.elementwise:
            return f"{t!r} is not elementwise, and the fast path applies a penalty element by element"
        if is_fista and not isinstance(t, AbstractElasticNet):
            return f"{t!r} is not in the elastic-net family, whose L1 and L2 parts FISTA applies"
    if not fast:
        return "fast=False asks for the plain autograd loop"
    return None


def _reason_of(rule: AbstractRule) -> str:
    return rule.why_not_fast or f"the {rule.name} rule is not on the fast path"


def prepare_fast_path(model: nn.Module, X: Tensor, y: Tensor, loss: Loss, terms: Sequence[AbstractPenalty],
                      optimizer: Any, *, record: bool, batch_size: int | None, steps: int,
                      fast: bool = True, sample_weight: Tensor | None = None,
                      scheduled: bool = False) -> LinearFastPath | None:
    """The fast path for this ``fit()`` call, or None when the plain autograd loop must run.

    It applies to a :class:`~reglab.models.LinearModel` with its canonical loss, every parameter
    trainable and of the data's dtype, ``optimizer`` ``"gd"`` (recorded or not) or ``"fista"`` (not
    recorded), terms by the rules that declare ``on_fast_path`` (gradient, proximal, decoupled) and
    penalties that act element by element; ``sample_weight`` weights each row of the gradient (and
    the Gram form). :func:`why_not_fast` says why it does not apply. ``optimizer="fista"`` has no
    plain path: when it does not apply, a ValueError says why.
    """
    reason = why_not_fast(model, X, loss, terms, optimizer, record=record, batch_size=batch_size, fast=fast,
                          scheduled=scheduled)
    if reason is None:
        return LinearFastPath(model, X, y, loss, optimizer, steps=steps, sample_weight=sample_weight)
    if isinstance(optimizer, str) and optimizer == "fista":
        raise ValueError(f"optimizer='fista' cannot run here: {reason}.")
    return None
