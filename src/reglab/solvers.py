"""Fast paths for linear models with their canonical loss: closed-form gradients, the Gram form,
a tight gradient-descent loop with ``fit()``'s exact step semantics, and FISTA with adaptive restart.

A linear, logistic or softmax model ``f(x) = x Wᵀ + b`` is held as one matrix
``Θ = [Wᵀ; b]`` of shape ``(d, k)`` (``d = p + 1`` with an intercept, ``p`` without); its gradient
is written down rather than taken by autograd:

- ``squared``  (mean over n·k of (y − f)²): ∇_Z = 2 (Z − Y) / (n k);
- ``logistic`` (mean binary NLL):            ∇_Z = (σ(Z) − Y) / n;
- ``cross_entropy`` (mean softmax NLL):      ∇_Z = (softmax(Z) − onehot(Y)) / n;

and ∇_Θ = X̃ᵀ ∇_Z with X̃ = [X, 1]. For least squares with n ≫ d the *Gram form* reads the data
once: G = X̃ᵀX̃/n and C = X̃ᵀY/n, then ∇_Θ = 2 (GΘ − C) / k costs O(d²k) a step instead of O(ndk).

Entry points:

- :func:`linear_gradients`: the closed-form gradient of a :class:`~reglab.models.LinearModel`
  (per parameter name, like autograd's).
- :func:`prepare_fast_path`: what :func:`reglab.fit` calls (its single dispatch point); returns a
  :class:`LinearFastPath` or ``None`` when the plain autograd loop must run.
- :func:`fista`: a NumPy/torch-in, arrays-out solver for estimators and benchmarks
  (λ in reglab's convention: mean loss + λ₁Σ|w| + λ₂Σw²), with :func:`fista_path` for a
  warm-started sequence of strengths and :func:`ridge_solve` for the direct solve of ridge.

References:
    Beck & Teboulle, "A Fast Iterative Shrinkage-Thresholding Algorithm for Linear Inverse
    Problems", SIAM J. Imaging Sciences 2(1), 2009.
    O'Donoghue & Candès, "Adaptive Restart for Accelerated Gradient Schemes", Foundations of
    Computational Mathematics 15, 2015.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reglab._path import centred_gram
from reglab.losses import Loss, get_loss
from reglab.models import LinearModel
from reglab.penalties import L1, L2, AbstractPenalty, ElasticNet, Selection

if TYPE_CHECKING:
    from reglab.record import Recorder

__all__ = [
    "FastSolution",
    "LinearFastPath",
    "fista",
    "fista_path",
    "gram_matrix",
    "linear_gradients",
    "prepare_fast_path",
    "ridge_solve",
    "top_eigenvalue",
]

CURVATURE: Final = {"squared": 2.0, "logistic": 0.25, "cross_entropy": 0.5}
FAST_OPTIMIZERS: Final = ("gd", "fista")
_GRAM_MAX_D: Final = 4096  # the Gram matrix is d² numbers: above this the data form is used
# Rows per block of LinearFastPath's fused gradient pass: about 2 MB of X. Measured on the 2-core VM,
# logistic gradient on 100000 × 1000, medians of interleaved runs under load ~3, blocked / two-pass
# time for blocks of 1 / 2 / 4 MB: float32 1 thread 0.86 / 0.73 / 0.82, 2 threads 0.81 / 0.89 / 0.85;
# float64 1 thread 0.67 / 0.71 / 0.87, 2 threads 0.67 / 0.59 / 0.62 (512 KB: 0.88–1.15).
_PASS_BLOCK_BYTES: Final = 2 << 20


# -- the Gram matrix and its top eigenvalue -----------------------------------------------------------


def gram_matrix(X: Tensor, Y: Tensor | None = None, fit_intercept: bool = True,
                sample_weight: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """``G = X̃ᵀX̃/n`` and ``C = X̃ᵀY/n`` with ``X̃ = [X, 1]`` (without copying X into X̃).

    With ``sample_weight`` w: ``G = X̃ᵀ diag(w) X̃ / Σw`` and ``C = X̃ᵀ diag(w) Y / Σw``.

    Parameters
    ----------
    X : Tensor of shape (n, p)
    Y : Tensor of shape (n, k), optional
    fit_intercept : bool
        Whether X̃ has the column of ones.
    sample_weight : Tensor of shape (n,), optional

    Returns
    -------
    G : Tensor of shape (d, d), d = p + 1 with an intercept, p without
    C : Tensor of shape (d, k) or None

    Examples
    --------
    >>> X = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    >>> G, _ = gram_matrix(X)
    >>> G.tolist()
    [[5.0, 7.0, 2.0], [7.0, 10.0, 3.0], [2.0, 3.0, 1.0]]
    """
    n, p = X.shape
    d = p + int(fit_intercept)
    w = None if sample_weight is None else sample_weight.to(X.dtype).reshape(n, 1)
    total = n if w is None else w.sum()
    G = X.new_empty(d, d)
    # one scaled copy of X with weights (√w·X, for the symmetric product); the weighted sums
    # are products with w and w·Y, not copies of X
    G[:p, :p] = _xtx(X) if w is None else _xtx(X * w.sqrt())
    if fit_intercept:
        colsum = X.sum(0) if w is None else w.reshape(-1) @ X
        G[:p, p] = colsum
        G[p, :p] = colsum
        G[p, p] = total
    G /= total
    C = None
    if Y is not None:
        wY = Y if w is None else w * Y
        C = X.new_empty(d, Y.shape[1])
        C[:p] = X.T @ wY
        if fit_intercept:
            C[p] = wY.sum(0)
        C /= total
    return G, C


def _xtx(X: Tensor) -> Tensor:
    """XᵀX. On the CPU through NumPy, whose ``A.T @ A`` is a symmetric rank-k update (syrk, half the
    flops of the general product torch runs)."""
    if X.device.type == "cpu" and not X.requires_grad and X.dtype in (torch.float32, torch.float64):
        Xn = X.numpy()
        with np.errstate(over="ignore", invalid="ignore"):  # as torch's product: inf, caught by fit's checks
            return torch.from_numpy(Xn.T @ Xn)
    return X.T @ X


def top_eigenvalue(X: Tensor, fit_intercept: bool = True, *, gram: Tensor | None = None, seed: int = 0,
                   sample_weight: Tensor | None = None) -> float:
    """λ_max(X̃ᵀX̃/n): eigvalsh of the Gram matrix when it exists (or d ≤ 512), else power iteration.

    With ``sample_weight`` w, λ_max(X̃ᵀ diag(w) X̃ / Σw), the curvature of a weighted mean loss.

    Parameters
    ----------
    X : Tensor of shape (n, p)
    fit_intercept : bool
        Whether X̃ has a column of ones.
    gram : Tensor of shape (d, d), optional
        X̃ᵀX̃/n when already computed (the Gram form): its eigvalsh is exact and cheap.
    seed : int
        Seeds the start vector of the power iteration.
    sample_weight : Tensor of shape (n,), optional

    Examples
    --------
    >>> top_eigenvalue(torch.eye(3, dtype=torch.float64) * 3.0, fit_intercept=False)
    3.0
    """
    n, p = X.shape
    d = p + int(fit_intercept)
    if gram is None and d <= 512:
        gram, _ = gram_matrix(X.to(torch.float64), None, fit_intercept,
                              None if sample_weight is None else sample_weight.to(torch.float64))
    if gram is not None:
        return float(torch.linalg.eigvalsh(gram.to(torch.float64))[-1])
    # power iteration on X̃ᵀ diag(w) X̃/Σw (w = 1 without weights), X̃ applied implicitly
    X64 = X.to(torch.float64)
    w64 = None if sample_weight is None else sample_weight.to(torch.float64)
    total = float(n if w64 is None else w64.sum())
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(d, dtype=torch.float64, generator=g)
    v /= v.norm()
    lam = new = 0.0
    for _ in range(500):
        u = X64 @ v[:p] + (v[p] if fit_intercept else 0.0)
        if w64 is not None:
            u *= w64
        w = torch.empty_like(v)
        w[:p] = X64.T @ u
        if fit_intercept:
            w[p] = u.sum()
        w /= total
        new = float(w.norm())
        if new == 0.0:
            return 0.0
        v = w / new
        if abs(new - lam) <= 1e-10 * new:
            break
        lam = new
    return new


# -- closed-form gradients ----------------------------------------------------------------------------


def _check_canonical(model: nn.Module, loss: Loss) -> None:
    if not isinstance(model, LinearModel) or loss.name != model.default_loss:
        raise ValueError(
            "Closed-form gradients are defined for a LinearModel with its canonical loss "
            "(linear/squared, logistic/logistic, softmax/cross_entropy); "
            f"got {type(model).__name__} with loss {loss.name!r}. Use autograd for anything else."
        )


def _targets(y: Tensor, loss_name: str, k: int, dtype: torch.dtype) -> Tensor:
    """Targets as (n, k) floats: y itself for squared / logistic, one-hot for cross-entropy."""
    if loss_name == "cross_entropy":
        return F.one_hot(y.reshape(-1).long(), k).to(dtype)
    return y.reshape(len(y), -1).to(dtype)


def _dloss_dz(Z: Tensor, Y: Tensor, loss_name: str) -> Tensor:
    """∂(mean loss)/∂Z for outputs Z of shape (n, k) and float targets Y (one-hot for softmax)."""
    n = Z.shape[0]
    if loss_name == "squared":
        return (Z - Y).mul_(2.0 / Z.numel())
    if loss_name == "logistic":
        return torch.sigmoid(Z).sub_(Y).div_(n)
    return torch.softmax(Z, dim=1).sub_(Y).div_(n)


def _residual_(Z: Tensor, Y: Tensor, loss_name: str) -> None:
    """Z ← ∂ℓᵢ/∂Z per row, in place, up to the constant factor the caller applies: Z − Y for squared
    (factor 2/(n·k)), σ(Z) − Y for logistic and softmax(Z) − Y for cross_entropy (factor 1/n)."""
    if loss_name == "squared":
        Z.sub_(Y)
    elif loss_name == "logistic":
        Z.sigmoid_().sub_(Y)
    else:
        Z.sub_(Z.amax(1, keepdim=True)).exp_()
        Z.div_(Z.sum(1, keepdim=True)).sub_(Y)


def linear_gradients(model: LinearModel, X: Tensor, y: Tensor, loss: str | Loss | None = None) -> dict[str, Tensor]:
    """Gradient of the mean data loss for a linear model with its canonical loss, without autograd.

    Parameters
    ----------
    model : LinearModel
    X : Tensor of shape (n, p)
    y : Tensor of shape (n,) or (n, 1)
        Float targets (squared), labels {0, 1} (logistic) or class indices (cross_entropy).
    loss : str or Loss, optional
        Defaults to the model's canonical loss (the only one accepted).

    Returns
    -------
    dict
        ``{"linear.weight": (k, p) tensor, "linear.bias": (k,) tensor}`` (no bias without intercept),
        equal to what ``loss(model(X), y).backward()`` puts in ``.grad``.

    Examples
    --------
    >>> from reglab.models import linear
    >>> m = linear(2, generator=torch.Generator().manual_seed(0))
    >>> g = linear_gradients(m, torch.ones(4, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    >>> sorted(g), g["linear.weight"].shape
    (['linear.bias', 'linear.weight'], torch.Size([1, 2]))
    """
    loss_obj = get_loss(loss if loss is not None else model.default_loss)
    _check_canonical(model, loss_obj)
    W, b = model.linear.weight.detach(), model.linear.bias
    with torch.no_grad():
        Z = X @ W.T if b is None else torch.addmm(b, X, W.T)
        R = _dloss_dz(Z, _targets(y, loss_obj.name, Z.shape[1], Z.dtype), loss_obj.name)
        out = {"linear.weight": R.T @ X}
        if b is not None:
            out["linear.bias"] = R.sum(0)
    return out


# -- the fast path of fit() ---------------------------------------------------------------------------


@dataclass
class _TermOp:
    """One penalty term as elementwise strengths over Θ (zero where the term does not apply)."""

    kind: str
    l1: Tensor  # λ₁ per element of Θ
    l2: Tensor  # λ₂ per element of Θ (the L2 part's strength: value λ₂·Σw²)


class LinearFastPath:
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
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.X, self.y = X, y
        self.sample_weight = sample_weight
        # weights scaled to mean 1, as a column: each row of ∇_Z is multiplied by its sample's weight
        self.row_weight = (None if sample_weight is None
                           else (sample_weight.to(X.dtype) * (len(X) / sample_weight.to(X.dtype).sum())).reshape(-1, 1))
        self.fit_intercept = model.linear.bias is not None
        self.n, self.p = X.shape
        self.k = model.linear.out_features
        self.d = self.p + int(self.fit_intercept)
        self.Y = _targets(y, loss.name, self.k, X.dtype)
        if gram is None:
            # building G costs n·d², and saves 2·n·d − d² a step: worth it when n ≫ d
            gram = (loss.name == "squared" and self.n >= 2 * self.d and self.d <= _GRAM_MAX_D
                    and (steps is None or self.d <= 2 * max(steps, 1)))
        if gram and loss.name != "squared":
            raise ValueError(f"The Gram form is for the squared loss only; got {loss.name!r}.")
        self.gram: Tensor | None = None
        self.C: Tensor | None = None
        self._R: Tensor | None = None  # the fused gradient pass's buffer, made on first use
        if gram:
            self.gram, self.C = gram_matrix(X, self.Y, self.fit_intercept, sample_weight)
            Y2 = self.Y.square() if self.row_weight is None else self.Y.square() * self.row_weight
            self.yy = float(Y2.sum()) / self.n

    # -- Θ and the model ------------------------------------------------------------------------------
    def theta_of_model(self) -> Tensor:
        lin = self.model.linear
        theta = lin.weight.detach().new_empty(self.d, self.k)
        theta[: self.p] = lin.weight.detach().T
        if self.fit_intercept:
            theta[self.p] = lin.bias.detach()
        return theta

    @torch.no_grad()
    def write_model_(self, theta: Tensor) -> None:
        lin = self.model.linear
        lin.weight.copy_(theta[: self.p].T)
        if self.fit_intercept:
            lin.bias.copy_(theta[self.p])

    def _region(self, buf: Tensor, s: Selection) -> Tensor:
        """The view of a (d, k) buffer that holds parameter ``s``, shaped like the parameter."""
        if s.param is self.model.linear.weight:
            return buf[: self.p].T
        if self.fit_intercept and s.param is self.model.linear.bias:
            return buf[self.p]
        raise ValueError(f"{s.name!r} is not a parameter of this linear model.")

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

    # -- the smooth part ------------------------------------------------------------------------------
    def grad(self, theta: Tensor, out: Tensor | None = None) -> Tensor:
        """∇ of the mean data loss at Θ, shape (d, k).

        On the CPU X is read from memory once: in row blocks of about ``_PASS_BLOCK_BYTES``, each
        block's X_bᵀR_b is added while X_b, just read for Z_b = X_bW, is still in cache.
        """
        if self.gram is not None:
            assert self.C is not None
            return torch.addmm(self.C, self.gram, theta, beta=-2.0 / self.k, alpha=2.0 / self.k, out=out)
        out = theta.new_empty(self.d, self.k) if out is None else out
        rows = max(32, _PASS_BLOCK_BYTES // max(self.p * self.X.element_size(), 1))
        if self.X.device.type == "cpu" and self.n > rows:
            return self._blocked_grad(theta, out, rows)
        Z = self._outputs(theta)
        R = _dloss_dz(Z, self.Y, self.loss.name)
        if self.row_weight is not None:
            R.mul_(self.row_weight)
        torch.mm(self.X.T, R, out=out[: self.p])
        if self.fit_intercept:
            torch.sum(R, 0, out=out[self.p])
        return out

    def _blocked_grad(self, theta: Tensor, out: Tensor, rows: int) -> Tensor:
        W = theta[: self.p]
        b = theta[self.p] if self.fit_intercept else None
        if self._R is None:
            self._R = self.X.new_empty(self.n, self.k)  # R = ∂ℓ/∂Z per row, reused by every call
        R, gW = self._R, out[: self.p]
        gW.zero_()
        for i in range(0, self.n, rows):
            Xb, Rb = self.X[i:i + rows], R[i:i + rows]
            if b is None:
                torch.mm(Xb, W, out=Rb)
            else:
                torch.addmm(b, Xb, W, out=Rb)
            _residual_(Rb, self.Y[i:i + rows], self.loss.name)
            if self.row_weight is not None:
                Rb.mul_(self.row_weight[i:i + rows])
            gW.addmm_(Xb.T, Rb)
        scale = 2.0 / (self.n * self.k) if self.loss.name == "squared" else 1.0 / self.n
        gW.mul_(scale)
        if self.fit_intercept:
            torch.sum(R, 0, out=out[self.p])
            out[self.p].mul_(scale)
        return out

    def _outputs(self, theta: Tensor) -> Tensor:
        W = theta[: self.p]
        return torch.addmm(theta[self.p], self.X, W) if self.fit_intercept else self.X @ W

    def data_loss(self, theta: Tensor) -> float:
        """Mean data loss at Θ (the model's own loss function; the quadratic form in Gram mode)."""
        if self.gram is not None:
            assert self.C is not None
            quad = float(((self.gram @ theta) * theta).sum() - 2.0 * (self.C * theta).sum())
            return (quad + self.yy) / self.k
        return float(self.loss(self._outputs(theta), self.y, self.sample_weight))

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

    def _as_parameters(self, buf: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
        """Views of a (d, k) buffer shaped like each of ``params`` (the model's weight and bias)."""
        lin = self.model.linear
        views = {id(lin.weight): buf[: self.p].T}
        if self.fit_intercept:
            views[id(lin.bias)] = buf[self.p]
        return [views[id(p)] for p in params]

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


def _fista_loop(x: Tensor, grad: Callable[[Tensor, Tensor], Tensor], proxes: Sequence[Callable[[Tensor], None]],
                lr: float, steps: int, check_every: int,
                check: Callable[[int, Tensor], bool]) -> tuple[int | None, Tensor]:
    """FISTA with gradient-based adaptive restart; ``check(step, x)`` at every ``check_every`` steps.

    Restart (O'Donoghue & Candès 2015, eq. 12): when (y − x⁺)·(x⁺ − x) > 0 the momentum points
    uphill, so t ← 1 and y ← x⁺. The test and the momentum coefficient stay tensors: no host read
    between checks. Returns (the step at which ``check`` stopped, or None) and the last iterate.
    """
    y = x.clone()
    g = torch.empty_like(x)
    t = x.new_ones(())
    one = x.new_ones(())
    zero = x.new_zeros(())
    for step in range(steps):
        if step % check_every == 0 and check(step, x):
            return step, x
        grad(y, g)
        x_new = torch.add(y, g, alpha=-lr)
        for prox in proxes:
            prox(x_new)
        diff = x_new - x
        uphill = torch.vdot((y - x_new).reshape(-1), diff.reshape(-1)) > 0
        t_new = (1.0 + torch.sqrt(1.0 + 4.0 * t * t)) * 0.5
        beta = torch.where(uphill, zero, (t - 1.0) / t_new)
        t = torch.where(uphill, one, t_new)
        y = torch.addcmul(x_new, beta, diff)
        x = x_new
    return None, x


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


# -- arrays in, arrays out: FISTA, the path, ridge ---------------------------------------------------


@dataclass
class FastSolution:
    """A solution in reglab's convention.

    Attributes
    ----------
    coef : ndarray of shape (n_features,) or (n_features, n_outputs)
    intercept : float or ndarray of shape (n_outputs,)
    n_iter : int
    converged : bool
    """

    coef: np.ndarray
    intercept: Any
    n_iter: int
    converged: bool


class _Problem:
    """X, Y and the fast path for arrays: Θ layout, Gram form, L."""

    def __init__(self, X: Any, y: Any, loss: str, fit_intercept: bool, gram: bool | None, dtype: torch.dtype) -> None:
        Xt = torch.as_tensor(np.asarray(X), dtype=dtype)
        loss_obj = get_loss(loss)
        if loss_obj.name == "cross_entropy":
            yt = torch.as_tensor(np.asarray(y)).long()
            k = int(yt.max()) + 1
            kind = "softmax"
        else:
            yt = torch.as_tensor(np.asarray(y), dtype=dtype)
            k = 1
            kind = "linear" if loss_obj.name == "squared" else "logistic"
        model = LinearModel(Xt.shape[1], k, kind, fit_intercept, dtype=dtype)
        self.path = LinearFastPath(model, Xt, yt, loss_obj, "fista", gram=gram)
        self._L: float | None = None
        self._scale: float | None = None

    def lipschitz(self) -> float:
        if self._L is None:
            fp = self.path
            self._L = CURVATURE[fp.loss.name] * top_eigenvalue(fp.X, fp.fit_intercept, gram=fp.gram)
        return self._L

    def strengths(self, l1: float, l2: float) -> tuple[Tensor, Tensor]:
        fp = self.path
        l1v = fp.Y.new_full((fp.d, fp.k), l1)
        l2v = fp.Y.new_full((fp.d, fp.k), l2)
        if fp.fit_intercept:
            l1v[fp.p] = 0.0
            l2v[fp.p] = 0.0
        return l1v, l2v

    def grad_scale(self) -> float:
        """max |∇loss| at Θ = 0: the scale ``tol`` is relative to (the same for every start and λ)."""
        if self._scale is None:
            fp = self.path
            self._scale = float(fp.grad(fp.Y.new_zeros(fp.d, fp.k)).abs().max())
        return self._scale

    def kkt(self, theta: Tensor, l1v: Tensor, l2v: Tensor) -> Tensor:
        """Largest distance of −∇(loss + L2 part) to the L1 subdifferential [−λ₁, λ₁] (sign(w)λ₁ at w ≠ 0)."""
        g = self.path.grad(theta) + 2.0 * l2v * theta
        dist = torch.where(theta != 0, (g + l1v * theta.sign()).abs(), (g.abs() - l1v).clamp(min=0.0))
        return dist.max()


def fista(X: Any, y: Any, *, loss: str = "squared", l1: float = 0.0, l2: float = 0.0, fit_intercept: bool = True,
          tol: float = 1e-6, max_iter: int = 10_000, check_every: int = 10, gram: bool | None = None,
          coef_init: Any = None, intercept_init: Any = None, dtype: torch.dtype = torch.float64,
          _problem: _Problem | None = None) -> FastSolution:
    """Minimise ``mean loss + l1·Σ|w| + l2·Σw²`` (intercept unpenalized) by FISTA with adaptive restart.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Float targets (squared), labels {0, 1} (logistic) or class indices (cross_entropy).
    loss : {"squared", "logistic", "cross_entropy"}
    l1, l2 : float
        Strengths in reglab's convention. The L2 part is in the smooth part; the L1 part is
        applied by soft-thresholding (exact zeros).
    fit_intercept : bool
    tol : float
        Stop when the optimality measure (largest distance of −∇smooth to the L1 subdifferential,
        zero exactly at the optimum) falls below ``tol`` times max|∇loss| at zero (a scale that
        does not depend on the start, so warm starts stop sooner).
    max_iter : int
    check_every : int
        Steps between optimality checks (the only host reads).
    gram : bool, optional
        Use the Gram form (squared loss); default: when n ≥ 2d.
    coef_init, intercept_init : array-like, optional
        Warm start.
    dtype : torch.dtype

    Returns
    -------
    FastSolution

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 5)); y = X[:, 0] + 0.1 * rng.standard_normal(100)
    >>> sol = fista(X, y, l1=0.1)
    >>> sol.converged, int((sol.coef != 0).sum())
    (True, 1)
    """
    prob = _problem or _Problem(X, y, loss, fit_intercept, gram, dtype)
    fp = prob.path
    lr = 1.0 / (prob.lipschitz() + 2.0 * l2)
    l1v, l2v = prob.strengths(l1, l2)
    theta = fp.Y.new_zeros(fp.d, fp.k)
    if coef_init is not None:
        theta[: fp.p] = torch.as_tensor(np.asarray(coef_init), dtype=theta.dtype).reshape(fp.p, fp.k)
    if intercept_init is not None and fp.fit_intercept:
        theta[fp.p] = torch.as_tensor(np.asarray(intercept_init), dtype=theta.dtype).reshape(fp.k)
    threshold, l2x2 = lr * l1v, 2.0 * l2v

    def soft(th: Tensor) -> None:
        th.copy_(th.sign().mul_(th.abs().sub_(threshold).clamp_(min=0.0)))

    def smooth_grad(th: Tensor, out: Tensor) -> Tensor:
        fp.grad(th, out=out)
        return out.addcmul_(l2x2, th)

    target = tol * max(prob.grad_scale(), 1e-300)
    converged = float(prob.kkt(theta, l1v, l2v)) <= target

    def check(step: int, th: Tensor) -> bool:
        return step > 0 and float(prob.kkt(th, l1v, l2v)) <= target

    n_iter = 0
    if not converged:
        stop, theta = _fista_loop(theta, smooth_grad, [soft] if l1 > 0 else [], lr, max_iter, check_every, check)
        n_iter = max_iter if stop is None else stop
        converged = stop is not None or float(prob.kkt(theta, l1v, l2v)) <= target
    coef = theta[: fp.p].numpy()
    intercept = theta[fp.p].numpy() if fp.fit_intercept else np.zeros(fp.k)
    if fp.k == 1:
        return FastSolution(coef[:, 0].copy(), float(intercept[0]), n_iter, bool(converged))
    return FastSolution(coef.copy(), intercept.copy(), n_iter, bool(converged))


def fista_path(X: Any, y: Any, l1s: Sequence[float], *, loss: str = "squared", l2: float = 0.0,
               fit_intercept: bool = True, tol: float = 1e-6, max_iter: int = 10_000, check_every: int = 10,
               gram: bool | None = None, dtype: torch.dtype = torch.float64) -> list[FastSolution]:
    """:func:`fista` over a sequence of L1 strengths (largest first), each warm-started from the last.

    The Gram matrix and L are computed once for the whole path.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 5)); y = X[:, 0] + 0.1 * rng.standard_normal(100)
    >>> [int((s.coef != 0).sum()) for s in fista_path(X, y, [10.0, 0.1])]
    [0, 1]
    """
    prob = _Problem(X, y, loss, fit_intercept, gram, dtype)
    out: list[FastSolution] = []
    coef = intercept = None
    for lam in l1s:
        sol = fista(X, y, loss=loss, l1=float(lam), l2=l2, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                    check_every=check_every, coef_init=coef, intercept_init=intercept, _problem=prob)
        coef, intercept = sol.coef, sol.intercept
        out.append(sol)
    return out


def ridge_solve(X: Any, y: Any, l2: float, *, fit_intercept: bool = True,
                dtype: torch.dtype = torch.float64) -> FastSolution:
    """Ridge by a direct solve: ``(XcᵀXc/n + λI) w = Xcᵀyc/n`` (Cholesky), Xc, yc centred with an intercept.

    Objective: mean (y − Xw − b)² + λ·Σw² (scikit-learn's ``Ridge(alpha=n·λ)``).

    Examples
    --------
    >>> X = np.eye(4); y = np.array([1.0, 2.0, 3.0, 4.0])
    >>> round(float(ridge_solve(X, y, 0.25, fit_intercept=False).coef[2]), 6)   # 3 / (1 + n·λ)
    1.5
    """
    if l2 <= 0:
        raise ValueError(f"ridge_solve needs l2 > 0 for a unique solution; got {l2}.")
    # NumPy throughout: its XᵀX is a syrk, centred block by block (no centred copy of X)
    np_dtype = torch.empty((), dtype=dtype).numpy().dtype
    Xn = np.asarray(X, dtype=np_dtype)
    yn = np.asarray(y, dtype=np_dtype).reshape(len(Xn), 1)
    n, p = Xn.shape
    x_mean = Xn.mean(0) if fit_intercept else None
    y_mean = yn.mean(0) if fit_intercept else np.zeros(1, dtype=np_dtype)
    A, c = centred_gram(Xn, yn - y_mean, x_mean)
    A.flat[:: p + 1] += n * l2
    w = torch.cholesky_solve(torch.from_numpy(c), torch.linalg.cholesky(torch.from_numpy(A))).numpy()
    b = float(y_mean[0] - x_mean @ w[:, 0]) if fit_intercept else 0.0
    return FastSolution(w[:, 0].copy(), b, 1, True)
