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
from reglab.penalties import L1, L2, AbstractPenalty, ElasticNet, Selection
from reglab.solvers.fista import _fista_loop
from reglab.solvers.torch_design import LinearDesign

if TYPE_CHECKING:
    from reglab.observe import Recorder

__all__ = ["FAST_OPTIMIZERS", "LinearFastPath", "prepare_fast_path"]


FAST_OPTIMIZERS: Final = ("gd", "fista")


@dataclass
class _TermOp:
    """One penalty term as elementwise strengths over Θ (zero where the term does not apply)."""

    kind: str
    l1: Tensor  # λ₁ per element of Θ
    l2: Tensor  # λ₂ per element of Θ (the L2 part's strength: value λ₂·Σw²)


class LinearFastPath(LinearDesign):
    """Full-batch gradient descent or FISTA on a linear model with its canonical loss, without autograd.

    Built by :func:`prepare_fast_path`; :meth:`run` is called by :func:`reglab.fit` in place of its
    autograd loop, with the same step semantics as ``Regularized(SGD(lr))``:

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

    def _term_ops(self, terms: Sequence[AbstractPenalty], selections: Sequence[Sequence[Selection]],
                  rule: str) -> list[_TermOp]:
        ops = []
        for t, sel in zip(terms, selections):
            if t.update != rule:
                continue
            if isinstance(t, L2):
                a1, a2 = 0.0, t.strength
            elif isinstance(t, L1):
                a1, a2 = t.strength, 0.0
            elif isinstance(t, ElasticNet):
                a1, a2 = t.l1_strength, t.l2_strength
            else:
                raise TypeError(f"The fast path knows L2, L1 and ElasticNet; got {type(t).__name__}.")
            l1 = self.Y.new_zeros(self.d, self.k)
            l2 = self.Y.new_zeros(self.d, self.k)
            for s in sel:
                r1, r2 = self._region(l1, s), self._region(l2, s)
                m = torch.ones_like(r1) if s.mask is None else s.mask.to(r1.dtype)
                r1.add_(a1 * m)
                r2.add_(a2 * m)
            ops.append(_TermOp(t.kind, l1, l2))
        return ops

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
        grad_ops = self._term_ops(terms, selections, "gradient")
        dec_ops = self._term_ops(terms, selections, "decoupled")
        prox_ops = self._term_ops(terms, selections, "proximal")
        # gradient-rule terms are evaluated at the same Θ, so they sum into one pair of strengths
        g_l2 = sum((2.0 * op.l2 for op in grad_ops), self.Y.new_zeros(self.d, self.k)) if grad_ops else None
        g_l1 = sum((op.l1 for op in grad_ops), self.Y.new_zeros(self.d, self.k)) if grad_ops else None
        has_g_l1 = g_l1 is not None and bool((g_l1 != 0).any())
        has_g_l2 = g_l2 is not None and bool((g_l2 != 0).any())
        decays = [self._decay_of(op, lr) for op in dec_ops]
        proxes = [self._prox_of(op, lr) for op in prox_ops]
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
                if has_g_l2:
                    d = torch.addcmul(g, g_l2, theta, out=direction)
                if has_g_l1:
                    d = torch.addcmul(d, g_l1, theta.sign(), out=direction)
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

    @staticmethod
    def _decay_of(op: _TermOp, lr: float) -> Callable[[Tensor], None]:
        if op.kind == "l2":
            factor = 1.0 - lr * 2.0 * op.l2  # as L2.apply_decay_ writes it (AdamW's form)

            def decay(theta: Tensor) -> None:
                theta.mul_(factor)
        else:
            l1, l2x2 = op.l1, 2.0 * op.l2

            def decay(theta: Tensor) -> None:
                theta.sub_(l1 * theta.sign() + l2x2 * theta, alpha=lr)
        return decay

    @staticmethod
    def _prox_of(op: _TermOp, lr: float) -> Callable[[Tensor], None]:
        threshold = lr * op.l1
        divisor = 1.0 + 2.0 * lr * op.l2
        has_l1, has_l2 = op.kind != "l2", op.kind != "l1"

        def prox(theta: Tensor) -> None:
            if has_l1:  # soft-threshold: sign(v)·max(|v| − t, 0)
                theta.copy_(theta.sign().mul_(theta.abs().sub_(threshold).clamp_(min=0.0)))
            if has_l2:
                theta.div_(divisor)
        return prox

    def _run_fista(self, terms: Sequence[AbstractPenalty], selections: Sequence[Sequence[Selection]], lr: float,
                   steps: int, log_every: int, log: Callable[[int, float], bool]) -> int:
        if any(t.update == "decoupled" for t in terms):
            raise ValueError("optimizer='fista' applies terms by the 'proximal' or 'gradient' rule; "
                             "'decoupled' has no accelerated counterpart. Use optimizer='gd' for it.")
        grad_ops = self._term_ops(terms, selections, "gradient")
        if any(bool((op.l1 != 0).any()) for op in grad_ops):
            raise ValueError("optimizer='fista' needs a smooth part: give L1 and elastic-net terms "
                             "update='proximal' (a subgradient step is not accelerated by FISTA).")
        g_l2 = sum((2.0 * op.l2 for op in grad_ops), self.Y.new_zeros(self.d, self.k)) if grad_ops else None
        proxes = [self._prox_of(op, lr) for op in self._term_ops(terms, selections, "proximal")]
        x = self.theta_of_model()
        stop, state = _fista_loop(x, lambda th, out: self._smooth_grad(th, out, g_l2), proxes, lr, steps,
                                  log_every, lambda step, th: (self.write_model_(th), log(step, self.data_loss(th)))[1])
        self.write_model_(state)
        if stop is None:
            log(steps, self.data_loss(state))
            return steps
        return stop

    def _smooth_grad(self, theta: Tensor, out: Tensor, g_l2: Tensor | None) -> Tensor:
        self.grad(theta, out=out)
        if g_l2 is not None:
            out.addcmul_(g_l2, theta)
        return out


def prepare_fast_path(model: nn.Module, X: Tensor, y: Tensor, loss: Loss, terms: Sequence[AbstractPenalty],
                      optimizer: Any, *, record: bool, batch_size: int | None, steps: int,
                      fast: bool = True, sample_weight: Tensor | None = None) -> LinearFastPath | None:
    """The fast path for this ``fit()`` call, or None when the plain autograd loop must run.

    It applies to a :class:`~reglab.models.LinearModel` with its canonical loss, every parameter
    trainable and of the data's dtype, ``optimizer`` ``"gd"`` (recorded or not) or ``"fista"`` (not
    recorded), and terms by the gradient, proximal or decoupled rules; ``sample_weight`` weights
    each row of the gradient (and the Gram form). ``optimizer="fista"`` has no plain path:
    when it does not apply, a ValueError says why.
    """
    is_fista = isinstance(optimizer, str) and optimizer == "fista"
    reason = None
    if not (isinstance(optimizer, str) and optimizer in FAST_OPTIMIZERS):
        reason = "the optimizer is not 'gd' or 'fista'"
    elif not isinstance(model, LinearModel) or loss.name != model.default_loss:
        reason = "it needs a linear, logistic or softmax model with its canonical loss"
    elif record and is_fista:
        reason = "recording runs on optimizer='gd'"
    elif batch_size is not None:
        reason = "it is full-batch"
    elif any(t.update == "cumulative" for t in terms):
        reason = "the cumulative rule is a stochastic-gradient method (use optimizer='gd')"
    elif any(not p.requires_grad or p.dtype != X.dtype or p.device != X.device for p in model.parameters()):
        reason = "every parameter must be trainable, with the data's dtype and device"
    elif not fast:
        reason = "fast=False asks for the plain autograd loop"
    if reason is None:
        return LinearFastPath(model, X, y, loss, optimizer, steps=steps, sample_weight=sample_weight)
    if is_fista:
        raise ValueError(f"optimizer='fista' cannot run here: {reason}.")
    return None
