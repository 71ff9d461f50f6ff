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

The learning rate is read from the inner optimizer's ``param_groups`` at every step (once per
group), so LR schedulers (attached to the wrapper or to the inner optimizer) work. The decoupled
rule's decay follows that lr (``decay_scale="lr"``, as ``torch.optim.AdamW``) or only the schedule's
multiplier ``lr_t / lr_0`` (``decay_scale="schedule"``, Loshchilov & Hutter's fully decoupled form).

Unmasked terms of the elastic-net family are applied with ``torch._foreach_*`` ops over the tensors of each (term,
learning-rate group), as torch's own foreach optimizers do, with the same numbers as the per-tensor
path; masked, weighted and other penalties are applied tensor by tensor.

References:
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    Tsuruoka, Tsujii & Ananiadou, "Stochastic Gradient Descent Training for L1-regularized
    Log-linear Models with Cumulative Penalty", ACL 2009.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import torch
from torch import Tensor, nn
from torch.optim import optimizer as _torch_optimizer

from reglab.penalties import AbstractPenalty, AbstractTensorPenalty, ElasticNetParts, Selection
from reglab.updates.rules import (
    AFTER_INNER,
    BEFORE_INNER,
    RULES,
    AbstractDirectionRule,
    AbstractParameterRule,
    AbstractRule,
    optimizer_family,
)

__all__ = ["DECAY_SCALES", "Regularized"]

DECAY_SCALES: Final = ("lr", "schedule")
"""What the decoupled rule's step size is: the group's lr (torch's AdamW) or lr_t / lr_0 (Loshchilov & Hutter)."""


def _foreach_form(rule: AbstractRule, op: AbstractTensorPenalty, mask: Tensor | None) -> ElasticNetParts | None:
    """``op`` when its term on this tensor can be applied with ``torch._foreach_*`` ops over many tensors
    (an unmasked elastic-net family penalty with scalar parts, by the gradient, decoupled or proximal rule),
    else None (the per-tensor path)."""
    if mask is not None or not isinstance(op, ElasticNetParts) or rule.name not in ("gradient", "decoupled", "proximal"):
        return None
    if isinstance(op.l1, Tensor) or isinstance(op.l2, Tensor):
        return None
    return op


def _scalar_for(params: list[Tensor], value: float) -> float | Tensor:
    """``value`` as a 0-d tensor of the parameters' dtype for a CPU float32/float64 bucket, else as is.

    On the CPU a ``_foreach`` multiply or divide by a Python number costs several times one by a 0-d
    tensor (it wraps the number for every tensor), and gives the same numbers: a CPU kernel computes
    a float32/float64 tensor with the number in the tensor's own dtype either way.
    """
    p = params[0]
    if p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64) and all(q.dtype is p.dtype for q in params):
        return torch.tensor(value, dtype=p.dtype)
    return value


def _foreach_add_grad(op: ElasticNetParts, grads: list[Tensor], params: list[Tensor], new: bool) -> list[Tensor]:
    """``g + ∇pen(w)`` for every (g, w), as :meth:`ElasticNetParts.adder` computes it: new tensors when
    ``new`` (out of place, as torch's ``weight_decay``), else in place into ``grads``."""
    out = grads
    if op.l2 is not None:
        alpha = 2.0 * op.l2
        if new:
            out = torch._foreach_add(grads, params, alpha=alpha)
            new = False
        else:
            torch._foreach_add_(out, params, alpha=alpha)
    if op.l1 is not None:
        signs = torch._foreach_sign(params)
        if new:
            out = torch._foreach_add(grads, signs, alpha=op.l1)
        else:
            torch._foreach_add_(out, signs, alpha=op.l1)
    return out


def _foreach_decay_(op: ElasticNetParts, params: list[Tensor], lr: float) -> None:
    """In place ``w ← w − lr·∇pen(w)`` on every tensor, as :meth:`ElasticNetParts.decayer` computes it."""
    if op.l1 is None:
        assert op.l2 is not None
        torch._foreach_mul_(params, _scalar_for(params, 1.0 - lr * 2.0 * op.l2))  # AdamW's multiplicative form
        return
    g = torch._foreach_sign(params)
    torch._foreach_mul_(g, op.l1)
    if op.l2 is not None:
        torch._foreach_add_(g, torch._foreach_mul(params, 2.0 * op.l2))
    torch._foreach_sub_(params, g, alpha=lr)


def _soft_threshold_(params: list[Tensor], t: float, kernel: bool) -> None:
    """In place ``w ← sign(w)·max(|w| − t, 0)`` on every tensor (``t ≥ 0``), as :meth:`ElasticNetParts.proxer`.

    Both forms give ``w − t`` above ``t``, ``w + t`` below ``−t`` (``−(|w| − t)`` is ``w + t`` to the
    bit: negation is exact and rounding to nearest is symmetric) and a zero inside; only the sign of
    a zero may differ. With ``kernel`` (the tensors are float32/float64, as :meth:`Regularized._bucketed`
    checks) and on the CPU, one ``softshrink`` kernel per tensor, written into the tensor: one pass
    over the data and one dispatch per tensor, cheaper than the three ``_foreach`` passes of
    ``w − clamp(w, −t, t)`` (a CPU ``_foreach`` op is a loop of per-tensor kernels); elsewhere (CUDA,
    where ``_foreach`` ops are multi-tensor kernels) those three passes.
    """
    if kernel and all(p.is_cpu for p in params):
        softshrink = torch._C._nn.softshrink
        for p in params:
            softshrink(p, t, out=p)
        return
    inside = torch._foreach_clamp_max(params, t)
    torch._foreach_clamp_min_(inside, -t)
    torch._foreach_sub_(params, inside)


def _foreach_prox_(op: ElasticNetParts, params: list[Tensor], step: float, kernel: bool = False) -> None:
    """In place ``w ← prox(w, step)`` on every tensor, as :meth:`ElasticNetParts.proxer` computes it
    (``kernel``: see :func:`_soft_threshold_`)."""
    if op.l1 is not None:
        _soft_threshold_(params, step * op.l1, kernel)
    if op.l2 is not None:
        torch._foreach_div_(params, _scalar_for(params, 1.0 + 2.0 * step * op.l2))


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
        ``L2(...)``, ``L1(...)``, ``ElasticNet(...)``, ``WeightedL1(...)``, ``WeightedL2(...)``, ``MCP(...)``, each with its
        ``on=`` and ``update=``.
    allow_weight_decay : bool
        Allow an inner ``weight_decay > 0`` beside the terms (regularizing twice). Default False.
    decay_scale : {"lr", "schedule"}
        The step size of the ``decoupled`` rule, ``w ← w − s·∇pen(w)``. ``"lr"`` (default): s is the
        group's learning rate, as ``torch.optim.AdamW`` decays (an L2(λ) term's factor per step is
        1 − 2·lr·λ, so the decay is coupled to the learning rate). ``"schedule"``: s = lr_t / lr_0,
        the schedule's multiplier only, as Loshchilov & Hutter's AdamW (the factor is 1 − 2λ·lr_t/lr_0,
        1 − 2λ at a constant lr whatever its value), where lr_0 is the group's ``initial_lr`` when an
        LR scheduler has set it, else the group's lr when the wrapper was built. The other rules take
        the lr itself either way: their penalty step is part of a (proximal) gradient step of size lr.

    Examples
    --------
    >>> from reglab import L1, L2
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model,
    ...                   [L2(0.01), L1(1e-3, update="proximal")])
    >>> loss = model(torch.randn(8, 3)).square().mean()
    >>> loss.backward(); opt.step(); opt.zero_grad()

    Fully decoupled decay: a weight the loss does not depend on shrinks by 1 − 2λ per step, whatever the lr.

    >>> model = torch.nn.Linear(1, 1, bias=False, dtype=torch.float64)
    >>> with torch.no_grad():
    ...     _ = model.weight.fill_(1.0)
    >>> opt = Regularized(torch.optim.Adam(model.parameters(), lr=0.003), model,
    ...                   [L2(0.05, update="decoupled")], decay_scale="schedule")
    >>> model.weight.grad = torch.zeros(1, 1, dtype=torch.float64); opt.step()
    >>> round(model.weight.item(), 12)  # 1 − 2·0.05
    0.9
    >>> opt
    Regularized(Adam(lr=0.003), [L2(0.05, update='decoupled') on 1 tensor], decay_scale='schedule')

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (Algorithm 2: the
        decay is multiplied by the schedule multiplier η_t, not by the learning rate α).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        model: nn.Module,
        terms: Sequence[AbstractPenalty] | AbstractPenalty = (),
        *,
        allow_weight_decay: bool = False,
        decay_scale: str = "lr",
    ) -> None:
        if decay_scale not in DECAY_SCALES:
            raise ValueError(f"decay_scale must be one of {', '.join(map(repr, DECAY_SCALES))}; got {decay_scale!r}.")
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
        self.decay_scale = decay_scale
        # lr_0 of each group where no scheduler sets initial_lr: its lr now
        self._base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        owned = {id(p) for g in optimizer.param_groups for p in g["params"]}
        self.selections: list[list[Selection]] = []
        for t in terms:
            sel = t.select(model, optimizer)  # the default on= skips what the optimizer does not update
            outside = [s.name for s in sel if id(s.param) not in owned]
            if outside:
                raise ValueError(f"{t!r} applies to {outside}, which the optimizer does not update.")
            self.selections.append(sel)
        self._cumulative: dict[int, list[dict[str, Tensor]]] = {}  # per term: (u, q) per selected parameter
        self._build_plan()

    def _build_plan(self) -> None:
        """Each term acting on each of its selected parameters at its current strength, and the step's plan.

        The plan: the stages of STEP, each rule's terms in the order given, as (rule, op, selection,
        state); a term that is zero everywhere acts as the identity and is left out. Rule state
        (cumulative-L1 totals) already held is kept.
        """
        terms = self.terms
        # each term acting on each of its selected parameters (its parts, or its own elementwise maths)
        self.ops: list[list[AbstractTensorPenalty]] = [[t.acting_on(s) for s in sel]
                                                       for t, sel in zip(terms, self.selections)]
        by_rule: dict[str, list[tuple[int, Any, AbstractTensorPenalty, Selection, dict[str, Tensor] | None]]] = {
            name: [] for name in RULES}
        for i, (t, sel, ops) in enumerate(zip(terms, self.selections, self.ops)):
            rule = RULES[t.update]
            states = self._cumulative.get(i) or [rule.new_state(t, s) for s in sel]
            if states and all(st is not None for st in states):
                self._cumulative[i] = states  # type: ignore[assignment]
            by_rule[rule.name] += [(i, rule, op, s, st) for op, s, st in zip(ops, sel, states) if not op.empty]
        self._direction = [entry for r in BEFORE_INNER if isinstance(r, AbstractDirectionRule) for entry in by_rule[r.name]]
        self._before = [entry for r in BEFORE_INNER if isinstance(r, AbstractParameterRule) for entry in by_rule[r.name]]
        self._after = [entry for r in AFTER_INNER for entry in by_rule[r.name]]
        self._after_inner = bool(self._after)
        # the learning-rate group of each parameter, found once: the step reads each group's lr once
        self._group_of = {id(p): k for k, g in enumerate(self.optimizer.param_groups) for p in g["params"]}
        # torch.optim.SGD's step done by the wrapper where it can be (see _folded_sgd_step): CPU parameters only
        self._fold_sgd = (self._multi_tensor and type(self.optimizer) is torch.optim.SGD
                          and all(p.device.type == "cpu" for g in self.optimizer.param_groups for p in g["params"]))
        self._plans = {stage: self._bucketed(entries)
                       for stage, entries in (("direction", self._direction), ("before", self._before),
                                              ("after", self._after))}
        self._handoff = self._handed_to_adam()
        self._plans["before"] = [a for a in self._plans["before"] if not (a[0] == "many" and a[3] in self._handoff)]
        # what the step does before the inner step (a decay handed to Adam is no longer the wrapper's)
        self._before_inner = bool(self._plans["direction"] or self._plans["before"])

    def _handed_to_adam(self) -> dict[int, tuple[float, ElasticNetParts]]:
        """The parameter groups whose decoupled L2 decay the inner Adam applies itself, with the weight decay
        it is given and the term's parts: ``{group: (2λ, parts)}``.

        ``torch.optim.Adam``/``AdamW`` with ``decoupled_weight_decay`` decay every parameter of a group by
        ``p·(1 − lr·weight_decay)`` before their update; the fused implementation does it inside its kernel,
        in the same pass over the parameters as the Adam update (one pass over the parameters saved), so a
        handed-over step is ``AdamW(fused=True, weight_decay=2λ)``'s step bit for bit (on the CPU also the
        wrapper's own pass bit for bit; a CUDA kernel may round the decay as ``AdamW(fused)`` does, which
        can differ in the last bit from ``AdamW(foreach)``). Only fused groups are handed over: the for-loop and foreach
        implementations decay in a separate pass as the wrapper does (and on the CPU the wrapper's pass,
        by a 0-d tensor, is the cheaper one). A group is handed over when the decay is the lr-scaled pure
        L2 of one term (``decay_scale="lr"``, scalar λ, no mask) on every parameter of the group, and
        nothing else of the wrapper acts on the group's parameters before the inner step (so the order of
        the operations is unchanged).
        """
        opt = self.optimizer
        if not (self._multi_tensor and self.decay_scale == "lr" and isinstance(opt, torch.optim.Adam)):
            return {}
        handed: dict[int, tuple[float, ElasticNetParts]] = {}
        before = self._plans["before"]
        for k, group in enumerate(opt.param_groups):
            acts = [a for a in before if (a[3] if a[0] == "many" else a[5]) == k]
            if len(acts) != 1 or acts[0][0] != "many":
                continue
            _, rule, op, _, _, params, _ = acts[0]
            if (rule.name == "decoupled" and op.l1 is None and op.l2 is not None and group.get("fused")
                    and "decoupled_weight_decay" in group
                    and {id(p) for p in params} == {id(p) for p in group["params"]}):
                handed[k] = (2.0 * op.l2, op)
        return handed

    _multi_tensor: bool = True
    """Apply unmasked elastic-net family terms with ``torch._foreach_*`` ops over each (term, lr group)
    bucket of tensors (False: tensor by tensor; the two agree bit for bit)."""

    def _bucketed(self, entries: list[Any]) -> list[tuple[Any, ...]]:
        """The entries of one stage as actions, in order: ``("many", rule, op, group, first, params, kernel)``,
        a bucket of unmasked tensors of one term, one lr group and the same ``first`` (the first
        gradient-rule term on each of its parameters) applied with ``torch._foreach_*`` (``kernel``: all
        float32/float64, see :func:`_soft_threshold_`); or
        ``("each", rule, op, selection, state, group, first)``, one tensor."""
        seen: set[int] = set()
        actions: list[tuple[Any, ...]] = []
        buckets: dict[tuple[Any, ...], list[Any]] = {}  # key -> [op, params...]

        def flush() -> None:
            actions.extend(("many", k[1], ps[0], k[4], k[5], ps[1:],
                            all(p.dtype in (torch.float32, torch.float64) for p in ps[1:]))
                           for k, ps in buckets.items())
            buckets.clear()

        term = None
        for i, rule, op, s, st in entries:
            if i != term:  # a new term: the previous term's buckets go first
                flush()
                term = i
            first = id(s.param) not in seen
            seen.add(id(s.param))
            group = self._group_of[id(s.param)]
            form = _foreach_form(rule, op, s.mask) if self._multi_tensor else None
            if form is None:
                actions.append(("each", rule, op, s, st, group, first))
            else:
                key = (i, rule, form.l1, form.l2, group, first)
                buckets.setdefault(key, [form]).append(s.param)
        flush()
        return actions

    def refresh_strengths(self) -> None:
        """Take each term's current ``strength`` (after ``term.strength = ...``) into the step.

        The terms' per-tensor penalties are built from their strengths at construction; call this
        after assigning strengths by hand (a :class:`~reglab.updates.schedules.StrengthScheduler`
        does it at each of its steps). Rule state (cumulative-L1 totals) is kept.
        """
        self._build_plan()

    # -- learning rates ----------------------------------------------------------------------------
    def _lrs(self) -> list[float]:
        """The learning rate of each parameter group, read once."""
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def decay_steps(self, lrs: list[float] | None = None) -> list[float]:
        """The decoupled rule's step size in each parameter group now: its lr (``decay_scale="lr"``) or
        lr_t / lr_0 (``"schedule"``; lr_0 the group's ``initial_lr``, else its lr when the wrapper was built).
        ``lrs``: the groups' learning rates when the caller has read them already."""
        lrs = self._lrs() if lrs is None else lrs
        if self.decay_scale == "lr":
            return lrs
        groups = self.optimizer.param_groups
        return [lr / float(g.get("initial_lr", lr0)) for lr, g, lr0 in zip(lrs, groups, self._base_lrs)]

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
        data: list[tuple[Tensor, Tensor]] = []
        for action in self._plans["direction"]:
            if action[0] == "many":
                _, _, op, _, first, params, _ = action
                new = keep_data_grads and first  # the first term on p writes a new tensor
                live = [p for p in params if p.grad is not None]
                if not live:
                    continue
                grads = [p.grad for p in live]
                out = _foreach_add_grad(op, grads, live, new)
                if new:
                    data += zip(live, grads)
                    for p, g in zip(live, out):
                        p.grad = g
                continue
            _, rule, op, s, _, _, first = action
            p, g = s.param, s.param.grad
            if g is None:
                continue
            new = keep_data_grads and first
            if new:
                data.append((p, g))
            p.grad = rule.add_to_direction(op, p, g, s.mask, out=None if new else g)
        return data

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
                self._apply_parameter_rules(self._plans["before"])
        handed = self._hand_decay_to_adam() if self._handoff else ()
        try:
            if not (self._fold_sgd and self._folded_sgd_step()):
                self.optimizer.step()
        finally:
            for group, decay, decoupled in handed:  # the user's settings back
                group["weight_decay"], group["decoupled_weight_decay"] = decay, decoupled
            for p, g in data_grads:
                p.grad = g
        if self._after_inner:
            with torch.no_grad():
                self._apply_parameter_rules(self._plans["after"])
        return loss

    _step_hooked = torch.optim.Optimizer.profile_hook_step(_step)

    def _hand_decay_to_adam(self) -> list[tuple[dict[str, Any], Any, Any]]:
        """Give the inner Adam each handed-over group's decay for this step (see :meth:`_handed_to_adam`);
        returns what to put back after it. A group whose own ``weight_decay`` is not 0 now is decayed here."""
        groups = self.optimizer.param_groups
        saved = []
        for k, (wd, op) in self._handoff.items():
            group = groups[k]
            if group["weight_decay"] != 0:  # set after the wrapper was built (allow_weight_decay): decay it here
                live = [p for p in group["params"] if p.grad is not None]
                if live:
                    with torch.no_grad():
                        _foreach_decay_(op, live, float(group["lr"]))
                continue
            saved.append((group, group["weight_decay"], group["decoupled_weight_decay"]))
            group["weight_decay"], group["decoupled_weight_decay"] = wd, True
        return saved

    def _folded_sgd_step(self) -> bool:
        """The inner ``torch.optim.SGD`` step done here, with the numbers SGD computes, when nothing can tell
        the difference; False (nothing done) when it must run itself.

        A plain SGD step is ``p ← p − lr·g`` (``torch._foreach_add_(params, grads, alpha=-lr)``, which its
        for-loop and foreach forms both compute) and keeps no state. Done here only on the CPU, without
        momentum, weight decay, ``maximize``, ``differentiable``, ``fused``, a tensor lr or sparse
        gradients, and when nothing watches the inner step: no step hooks (its own or global), no
        profiler, no ``step`` patched on the instance (an LR scheduler attached to the inner optimizer
        wraps it to see it called). Saves SGD's per-parameter Python bookkeeping, which on the CPU
        with many small tensors costs as much as its arithmetic.
        """
        opt = self.optimizer
        if ("step" in opt.__dict__ or opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks
                or _global_step_hooks() or torch.autograd._profiler_enabled()):
            return False
        work = []
        for group in opt.param_groups:
            if (group["momentum"] != 0 or group["weight_decay"] != 0 or group["maximize"] or group["differentiable"]
                    or group.get("fused") or isinstance(group["lr"], Tensor)):
                return False
            params = [p for p in group["params"] if p.grad is not None]
            grads = [p.grad for p in params]
            if any(g.is_sparse for g in grads):
                return False
            if params:
                work.append((params, grads, group["lr"]))
        with torch.no_grad():
            for params, grads, lr in work:
                torch._foreach_add_(params, grads, alpha=-lr)
        return True

    def _closure_with_penalty(self, closure: Callable[[], Any]) -> Callable[[], Any]:
        def penalized() -> Any:
            with torch.enable_grad():
                loss = closure()
            self.add_penalty_grads_()
            return loss + self.penalty_value("gradient").to(loss.dtype)

        return penalized

    def _apply_parameter_rules(self, plan: list[tuple[Any, ...]]) -> None:
        """Each action of ``plan`` (:meth:`_bucketed`), in order, on the parameters that have a gradient
        (a parameter the step does not update is left alone); each group's lr is read once."""
        if not plan:
            return
        lrs = self._lrs()
        decay = self.decay_steps(lrs)
        for action in plan:
            if action[0] == "many":
                _, rule, op, group, _, params, kernel = action
                live = [p for p in params if p.grad is not None]
                if live and rule.name == "decoupled":
                    _foreach_decay_(op, live, decay[group])
                elif live:
                    _foreach_prox_(op, live, lrs[group], kernel)
                continue
            _, rule, op, s, state, group, _ = action
            if s.param.grad is not None:
                rule.apply_(op, s.param, decay[group] if rule.name == "decoupled" else lrs[group], s.mask, state)

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
        return {"inner": self.optimizer.state_dict(), "cumulative": cumulative,
                "decay_scale": self.decay_scale, "base_lrs": list(self._base_lrs)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        """Load :meth:`state_dict`'s output (one saved before ``decay_scale`` existed has the default's)."""
        if not {"inner", "cumulative"} <= set(state_dict) <= {"inner", "cumulative", "decay_scale", "base_lrs"}:
            raise ValueError(
                "Not a Regularized state_dict (expected keys 'inner' and 'cumulative'). "
                "To load a plain optimizer's state, call .optimizer.load_state_dict()."
            )
        saved_scale = state_dict.get("decay_scale", "lr")
        if saved_scale != self.decay_scale:
            raise ValueError(f"The state was saved with decay_scale={saved_scale!r}; this wrapper has "
                             f"decay_scale={self.decay_scale!r}. Build it with decay_scale={saved_scale!r} to resume.")
        base_lrs = [float(v) for v in state_dict.get("base_lrs", self._base_lrs)]
        if len(base_lrs) != len(self._base_lrs):
            raise ValueError(f"The state has {len(base_lrs)} parameter groups' lr_0; this wrapper has "
                             f"{len(self._base_lrs)} groups.")
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
        self._base_lrs = base_lrs

    def __repr__(self) -> str:
        """``Regularized(SGD(lr=0.1), [L2(0.01) gradient on 2 tensors, ...])``: the inner optimizer, its
        learning rate(s), each term with its rule and the number of tensors it applies to, and
        ``decay_scale`` when it is not the default."""
        lrs = sorted({float(g["lr"]) for g in self.optimizer.param_groups if "lr" in g})
        lr = "" if not lrs else f"lr={lrs[0]:g}" if len(lrs) == 1 else f"lr={lrs[0]:g}..{lrs[-1]:g}"
        terms = ", ".join(
            # a term's repr names its rule unless it is the default, gradient
            f"{t!r}{' gradient' if t.update == 'gradient' else ''} on {len(sel)} tensor{'s' if len(sel) != 1 else ''}"
            for t, sel in zip(self.terms, self.selections))
        scale = "" if self.decay_scale == "lr" else f", decay_scale={self.decay_scale!r}"
        return f"Regularized({type(self.optimizer).__name__}({lr}), [{terms}]{scale})"
