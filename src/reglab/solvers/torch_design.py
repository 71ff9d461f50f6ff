"""Linear models with their canonical loss in torch: the Θ layout, closed-form gradients, the Gram form.

A linear, logistic or softmax model ``f(x) = x Wᵀ + b`` is held as one matrix
``Θ = [Wᵀ; b]`` of shape ``(d, k)`` (``d = p + 1`` with an intercept, ``p`` without); its gradient
is written down rather than taken by autograd:

- ``squared``  (mean over n·k of (y − f)²): ∇_Z = 2 (Z − Y) / (n k);
- ``logistic`` (mean binary NLL):            ∇_Z = (σ(Z) − Y) / n;
- ``cross_entropy`` (mean softmax NLL):      ∇_Z = (softmax(Z) − onehot(Y)) / n;

and ∇_Θ = X̃ᵀ ∇_Z with X̃ = [X, 1]. For least squares with n ≫ d the *Gram form* reads the data
once: G = X̃ᵀX̃/n and C = X̃ᵀY/n, then ∇_Θ = 2 (GΘ − C) / k costs O(d²k) a step instead of O(ndk).

X may be a sparse CSR tensor (:func:`reglab.data.csr_tensor`): it is never densified. XW and XᵀR
are CSR products with dense matrices (Xᵀ kept as its own CSR tensor, made once), so a step costs
O(nnz·k); the Gram matrix is the sparse product XᵀX made dense (d × d, not n × p).

Entry points:

- :func:`linear_gradients`: the closed-form gradient of a :class:`~reglab.models.LinearModel`
  (per parameter name, like autograd's);
- :class:`LinearDesign`: Θ, its data and its gradient, the base of fit's fast path
  (:mod:`reglab.training.fast_linear`) and of :func:`~reglab.solvers.fista.fista`;
- :func:`gram_matrix`, :func:`top_eigenvalue`: the Gram form and its largest eigenvalue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reglab.data import csr_tensor, is_sparse, transpose_csr
from reglab.losses import Loss, get_loss
from reglab.models import LinearModel
from reglab.penalties import Selection

__all__ = ["LinearDesign", "gram_matrix", "linear_gradients", "scale_rows", "top_eigenvalue"]


_GRAM_MAX_D: Final = 4096  # the Gram matrix is d² numbers: above this the data form is used


# Rows per block of LinearDesign's fused gradient pass: about 2 MB of X. Measured on the 2-core VM,
# logistic gradient on 100000 × 1000, medians of interleaved runs under load ~3, blocked / two-pass
# time for blocks of 1 / 2 / 4 MB: float32 1 thread 0.86 / 0.73 / 0.82, 2 threads 0.81 / 0.89 / 0.85;
# float64 1 thread 0.67 / 0.71 / 0.87, 2 threads 0.67 / 0.59 / 0.62 (512 KB: 0.88–1.15).
_PASS_BLOCK_BYTES: Final = 2 << 20


def gram_matrix(X: Tensor, Y: Tensor | None = None, fit_intercept: bool = True,
                sample_weight: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """``G = X̃ᵀX̃/n`` and ``C = X̃ᵀY/n`` with ``X̃ = [X, 1]`` (without copying X into X̃).

    With ``sample_weight`` w: ``G = X̃ᵀ diag(w) X̃ / Σw`` and ``C = X̃ᵀ diag(w) Y / Σw``.

    Parameters
    ----------
    X : Tensor of shape (n, p)
        Dense or sparse CSR (XᵀX is then a sparse product, made dense: G is d × d).
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
    dense = {"dtype": X.dtype, "device": X.device}  # X.new_* would make sparse tensors for a CSR X
    G = torch.empty(d, d, **dense)
    if is_sparse(X):  # Xᵀ·(diag(w)·X) as a sparse product, made dense (d × d)
        XT = transpose_csr(X)
        G[:p, :p] = (XT @ (X if w is None else scale_rows(X, w.reshape(-1)))).to_dense()
        colsum = (XT @ (torch.ones(n, 1, **dense) if w is None else w))[:, 0] if fit_intercept else None
    else:
        XT = X.T
        # one scaled copy of X with weights (√w·X, for the symmetric product); the weighted sums
        # are products with w and w·Y, not copies of X
        G[:p, :p] = _xtx(X) if w is None else _xtx(X * w.sqrt())
        colsum = (X.sum(0) if w is None else w.reshape(-1) @ X) if fit_intercept else None
    if colsum is not None:
        G[:p, p] = colsum
        G[p, :p] = colsum
        G[p, p] = total
    G /= total
    C = None
    if Y is not None:
        wY = Y if w is None else w * Y
        C = torch.empty(d, Y.shape[1], **dense)
        C[:p] = XT @ wY
        if fit_intercept:
            C[p] = wY.sum(0)
        C /= total
    return G, C


def scale_rows(X: Tensor, s: Tensor) -> Tensor:
    """diag(s)·X for a CSR X: each row's stored values times its sᵢ (a new CSR tensor, same pattern).

    >>> from reglab.data import csr_tensor
    >>> X = csr_tensor(torch.tensor([0, 1, 2]), torch.tensor([0, 1]), torch.tensor([1.0, 2.0]), (2, 2))
    >>> scale_rows(X, torch.tensor([3.0, 0.5])).to_dense().tolist()
    [[3.0, 0.0], [0.0, 1.0]]
    """
    crow = X.crow_indices()
    rows = torch.repeat_interleave(torch.arange(X.shape[0], device=crow.device), crow.diff())
    return csr_tensor(crow, X.col_indices(), X.values() * s[rows], tuple(X.shape))


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
        Dense or sparse CSR.
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
    X64T = transpose_csr(X64) if is_sparse(X64) else X64.T
    w64 = None if sample_weight is None else sample_weight.to(torch.float64)
    total = float(n if w64 is None else w64.sum())
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(d, dtype=torch.float64, generator=g).to(X.device)  # drawn on the CPU: same start everywhere
    v /= v.norm()
    lam = new = 0.0
    for _ in range(500):
        u = (X64 @ v[:p, None])[:, 0] + (v[p] if fit_intercept else 0.0)
        if w64 is not None:
            u *= w64
        w = torch.empty_like(v)
        w[:p] = (X64T @ u[:, None])[:, 0]
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


class LinearDesign:
    """A linear model with its canonical loss as one matrix Θ of shape (d, k), and its data: the Θ layout,
    the closed-form gradient of the mean data loss (Gram form for least squares with n ≫ d), and the loss.

    The base of fit's fast path (:class:`~reglab.training.fast_linear.LinearFastPath`) and of the
    array solvers (:func:`~reglab.solvers.fista.fista`).

    Attributes
    ----------
    gram : Tensor of shape (d, d) or None
        X̃ᵀX̃/n when the Gram form is used (squared loss, n ≫ d).
    """

    def __init__(self, model: LinearModel, X: Tensor, y: Tensor, loss: Loss, gram: bool | None = None,
                 steps: int | None = None, sample_weight: Tensor | None = None) -> None:
        self.model, self.loss = model, loss
        self.X, self.y = X, y
        # a CSR X: Xᵀ as its own CSR tensor, for the fast product XᵀR (torch's CSC product is slow)
        self.XT = transpose_csr(X) if is_sparse(X) else X.T
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
        if self.X.device.type == "cpu" and self.n > rows and not is_sparse(self.X):
            return self._blocked_grad(theta, out, rows)
        Z = self._outputs(theta)
        R = _dloss_dz(Z, self.Y, self.loss.name)
        if self.row_weight is not None:
            R.mul_(self.row_weight)
        torch.mm(self.XT, R, out=out[: self.p])
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

    def _as_parameters(self, buf: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
        """Views of a (d, k) buffer shaped like each of ``params`` (the model's weight and bias)."""
        lin = self.model.linear
        views = {id(lin.weight): buf[: self.p].T}
        if self.fit_intercept:
            views[id(lin.bias)] = buf[self.p]
        return [views[id(p)] for p in params]
