"""``fit()``: train a model under penalty terms applied by their update rules.

One loop for every model, optimizer and rule: a forward pass on the (mini)batch, the data loss,
``backward``, and one step of a :class:`~reglab.updates.Regularized` optimizer. What is logged
(history) is logged every ``log_every`` steps; nothing else forces a host sync.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np
import torch
from torch import Tensor, nn

from reglab.data import Dataset, as_dataset, check_sample_weight
from reglab.losses import Loss, get_loss
from reglab.models import MODELS, LinearModel, build_model
from reglab.exceptions import NumericalWarning
from reglab.penalties import L1, AbstractPenalty, ElasticNet, L2
from reglab.solvers import prepare_fast_path, top_eigenvalue
from reglab.updates import Regularized

__all__ = ["DivergenceError", "FitResult", "History", "fit", "lipschitz_constant", "OPTIMIZERS"]

OPTIMIZERS: Final = ("gd", "sgd", "momentum", "nesterov", "adam", "lbfgs", "fista")
STATUSES: Final = ("converged", "max_steps", "diverged")
_MAX_LOG: Final = 1000
_CONCAT_MAX: Final = 1 << 20  # parameters (elements) up to which the logged finiteness check copies them into one


class DivergenceError(RuntimeError):
    """Training diverged: a non-finite loss or parameter, or a loss far above its start.

    Attributes
    ----------
    step : int
        The step at which divergence was detected.
    lr : float
        The learning rate in use.
    max_stable_lr : float or None
        For linear models with a canonical loss, 2/L: the largest stable plain-GD learning rate.
    """

    def __init__(self, message: str, *, step: int, lr: float, max_stable_lr: float | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.lr = lr
        self.max_stable_lr = max_stable_lr


@dataclass
class History:
    """What was logged, one entry per logged step (the state *before* that step's update).

    The last entry is the final state, at ``step == steps_run``.
    """

    step: list[int] = field(default_factory=list)
    data_loss: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    def append(self, step: int, data_loss: float, penalty: float, lr: float) -> None:
        self.step.append(step)
        self.data_loss.append(data_loss)
        self.penalty.append(penalty)
        self.objective.append(data_loss + penalty)
        self.lr.append(lr)

    def __len__(self) -> int:
        return len(self.step)

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        return {"step": self.step, "data_loss": self.data_loss, "penalty": self.penalty,
                "objective": self.objective, "lr": self.lr}

    def to_pandas(self) -> Any:
        """The history as a DataFrame, one row per logged step."""
        import pandas as pd

        return pd.DataFrame(self.to_dict())


@dataclass
class FitResult:
    """The outcome of :func:`fit`.

    Attributes
    ----------
    model : nn.Module
        The trained model (trained in place when an ``nn.Module`` was given).
    data : Dataset
    loss : Loss
    terms : list of penalty terms
    optimizer : Regularized
    history : History
    status : {"converged", "max_steps", "diverged"}
    steps_run : int
    lr : float
        The initial learning rate (the one chosen, when ``lr="auto"``).
    seed : int
    trajectory : reglab.record.Trajectory or None
        Recorded weight paths when ``record`` was set.
    recorder : reglab.record.Recorder or None
    elapsed : float
        Seconds of training.
    """

    model: nn.Module
    data: Dataset
    loss: Loss
    terms: list[AbstractPenalty]
    optimizer: Regularized
    history: History
    status: str
    steps_run: int
    lr: float
    seed: int
    recorder: Any = None
    elapsed: float = 0.0

    @property
    def trajectory(self) -> Any:
        return None if self.recorder is None else self.recorder.trajectory()

    @torch.no_grad()
    def predict(self, X: Any) -> Tensor:
        """Model output (logits for logistic / softmax) on ``X`` of shape (n, n_features)."""
        X = torch.as_tensor(np.asarray(X) if not isinstance(X, Tensor) else X, dtype=self.data.X.dtype)
        return self.model(X)

    @torch.no_grad()
    def data_loss(self, split: Literal["train", "test"] = "train") -> float | None:
        """Mean data loss on the training or held-out data (None when there is no held-out data)."""
        X, y = (self.data.X, self.data.y) if split == "train" else (self.data.X_test, self.data.y_test)
        if X is None or y is None:
            return None
        return float(self.loss(self.model(X), y, self.data.sample_weight if split == "train" else None))

    def null_loss(self, split: Literal["train", "test"] = "train") -> float | None:
        """Loss of the null model (best constant fitted on the training targets) on ``split``."""
        y_eval = self.data.y if split == "train" else self.data.y_test
        if y_eval is None:
            return None
        return float(self.loss.null_loss(self.data.y, y_eval))

    @torch.no_grad()
    def summary(self) -> dict[str, Any]:
        """Final numbers: losses, objective, per-tensor norms and exact zeros, status."""
        penalty = float(self.optimizer.penalty_value())
        train = self.data_loss("train")
        tensors = {
            name: {
                "shape": list(p.shape),
                "l2_norm": float(p.detach().norm()),
                "l1_norm": float(p.detach().abs().sum()),
                "exact_zeros": int((p == 0).sum()),
            }
            for name, p in self.model.named_parameters()
        }
        return {
            "status": self.status,
            "steps": self.steps_run,
            "lr": self.lr,
            "train_loss": train,
            "penalty": penalty,
            "objective": None if train is None else train + penalty,
            "test_loss": self.data_loss("test"),
            "null_train_loss": self.null_loss("train"),
            "null_test_loss": self.null_loss("test"),
            "exact_zeros": sum(t["exact_zeros"] for t in tensors.values()),
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
            "tensors": tensors,
            "elapsed": self.elapsed,
        }


# -- learning rates ----------------------------------------------------------------------------------


def _design(X: Tensor, fit_intercept: bool) -> Tensor:
    return torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1) if fit_intercept else X


def _top_eigenvalue(X: Tensor, seed: int = 0) -> float:
    """Largest eigenvalue of XᵀX/n (see :func:`reglab.solvers.top_eigenvalue`)."""
    return top_eigenvalue(X, fit_intercept=False, seed=seed)


_CURVATURE: Final = {"squared": 2.0, "logistic": 0.25, "cross_entropy": 0.5}


def lipschitz_constant(model: nn.Module, data: Dataset, loss: Loss, terms: Sequence[AbstractPenalty] = (),
                       *, gram: Tensor | None = None) -> float:
    """L, the Lipschitz constant of the smooth part's gradient, for a linear model with a canonical loss.

    Data part: c·λ_max(X̃ᵀX̃/n) (X̃ᵀ diag(w) X̃/Σw with sample weights w), X̃ with a column of ones when
    the model has an intercept, c = 2
    (squared), 1/4 (logistic), 1/2 (cross-entropy). Plus 2λ for each L2 part applied by the
    ``gradient`` rule. λ_max is eigvalsh of the Gram matrix X̃ᵀX̃/n when it is given (the fast
    path's Gram form) or small, power iteration on X̃ otherwise.
    """
    if not isinstance(model, LinearModel) or loss.name not in _CURVATURE:
        raise ValueError(
            "lr='auto' is defined for linear, logistic and softmax models with their canonical loss; "
            "give a number for an MLP or your own module."
        )
    try:
        L = _CURVATURE[loss.name] * top_eigenvalue(data.X, model.linear.bias is not None, gram=gram,
                                                   sample_weight=data.sample_weight)
    except (RuntimeError, np.linalg.LinAlgError) as err:  # torch's LinAlgError is a RuntimeError
        raise ValueError(_overflow_advice(data, f"L cannot be computed for lr='auto' ({type(err).__name__})")) from None
    if not math.isfinite(L):
        raise ValueError(_overflow_advice(data, "L, the curvature for lr='auto', is not finite"))
    if L <= 0:
        raise ValueError("L, the curvature for lr='auto', is 0: X is all zeros (or below the dtype's range) and the "
                         "model has no intercept. Check X, or give lr as a number.")
    for t in terms:
        if t.update == "gradient":
            if isinstance(t, L2):
                L += 2.0 * t.strength
            elif isinstance(t, ElasticNet):
                L += 2.0 * t.l2_strength
    return L


# -- building the pieces -----------------------------------------------------------------------------


def _check_lr(lr: Any) -> float | str:
    if isinstance(lr, str):
        if lr != "auto":
            raise ValueError(f"lr must be a positive number or 'auto'; got {lr!r}.")
        return lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"lr must be a positive number or 'auto'; got {type(lr).__name__}.")
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive, finite number; got {lr}. Try lr=0.01, or lr='auto' for linear models.")
    return float(lr)


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}; got {value}.")
    return int(value)


def _build_optimizer(optimizer: Any, params: list[Tensor], lr: float, momentum: float) -> torch.optim.Optimizer:
    if isinstance(optimizer, str):
        if optimizer in ("gd", "sgd", "fista"):  # fista: the fast path runs it; SGD carries lr and the rules
            return torch.optim.SGD(params, lr=lr)
        if optimizer == "momentum":
            return torch.optim.SGD(params, lr=lr, momentum=momentum)
        if optimizer == "nesterov":
            return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True)
        if optimizer == "adam":
            return torch.optim.Adam(params, lr=lr)
        if optimizer == "lbfgs":
            # torch's absolute defaults (tolerance_grad=1e-7, tolerance_change=1e-9) freeze the
            # iterate for good once the directional derivative is below 1e-9 (|grad| ≈ 3e-5):
            # stopping is fit's job (tol), so L-BFGS only stops where it cannot make progress
            return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=10, line_search_fn="strong_wolfe",
                                     tolerance_grad=0.0, tolerance_change=1e-14)
        raise ValueError(
            f"Unknown optimizer {optimizer!r}. Choose one of {', '.join(OPTIMIZERS)}, "
            "or pass a torch.optim.Optimizer class or a factory(params) -> optimizer."
        )
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer(params, lr=lr)
    if callable(optimizer):
        built = optimizer(params)
        if not isinstance(built, torch.optim.Optimizer):
            raise TypeError(f"The optimizer factory returned {type(built).__name__}, not a torch.optim.Optimizer.")
        return built
    raise TypeError(f"optimizer must be a name, a torch.optim.Optimizer class or a factory; got {type(optimizer).__name__}.")


_TASK_OF_LOSS: Final = {"squared": "regression", "logistic": "binary", "cross_entropy": "multiclass"}
_LOSS_OF_TASK: Final = {v: k for k, v in _TASK_OF_LOSS.items()}
_TASK_OF_MODEL: Final = {"linear": "regression", "logistic": "binary", "softmax": "multiclass"}


def _resolve(model: Any, data: Any, loss: Any, seed: int, dtype: torch.dtype | None,
             model_args: Mapping[str, Any] | None) -> tuple[nn.Module, Dataset, Loss]:
    loss_obj = None if loss is None else get_loss(loss)
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(f"Unknown model {model!r}. Choose one of {', '.join(MODELS)}, or pass an nn.Module.")
        task = _TASK_OF_MODEL.get(model) or (None if loss_obj is None else _TASK_OF_LOSS.get(loss_obj.name))
        dt = dtype or (torch.float32 if model == "mlp" else torch.float64)
        ds = as_dataset(data, task=task, dtype=dt)
        gen = torch.Generator().manual_seed(seed)
        built = build_model(model, ds.n_features, ds.n_outputs, generator=gen, dtype=dt, **dict(model_args or {}))
        return built, ds, loss_obj or get_loss(_LOSS_OF_TASK[ds.task])
    if isinstance(model, nn.Module):
        if model_args:
            raise ValueError("model_args apply to a model given by name, not to an nn.Module.")
        params = [p for p in model.parameters() if p.is_floating_point()]
        if not params:
            raise ValueError("The model has no floating-point parameters to train.")
        dt = dtype or params[0].dtype
        if dtype is not None and params[0].dtype != dtype:
            model.to(dtype)
        task = None if loss_obj is None else _TASK_OF_LOSS.get(loss_obj.name)
        ds = as_dataset(data, task=task, dtype=dt)
        default = getattr(model, "default_loss", None) or _LOSS_OF_TASK[ds.task]
        return model, ds, loss_obj or get_loss(default)
    raise TypeError(f"model must be an nn.Module or one of {', '.join(MODELS)}; got {type(model).__name__}.")


class _Batches:
    """Full batch, or shuffled minibatches from an explicit generator, epoch after epoch."""

    def __init__(self, n: int, batch_size: int | None, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self._order: Tensor | None = None
        self._pos = n

    @property
    def full(self) -> bool:
        return self.batch_size is None or self.batch_size >= self.n

    def next(self) -> Tensor | None:
        if self.full:
            return None
        assert self.batch_size is not None
        if self._pos + self.batch_size > self.n:
            self._order = torch.randperm(self.n, generator=self.generator)
            self._pos = 0
        assert self._order is not None
        idx = self._order[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx


def _kkt_violation(model: nn.Module, opt: Regularized, X: Tensor, y: Tensor, loss: Loss,
                   sample_weight: Tensor | None = None) -> float:
    """max over parameters of the distance of −∇loss to the penalty's subdifferential."""
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        grads = torch.autograd.grad(loss(model(X), y, sample_weight), params)
    grad_of = {id(p): g for p, g in zip(params, grads)}
    dist = {id(p): g.abs() for p, g in zip(params, grads)}
    for t, sel in zip(opt.terms, opt.selections):
        for s in sel:
            d = t.subdiff_distance(s.param.detach(), grad_of[id(s.param)])
            dist[id(s.param)] = d if s.mask is None else torch.where(s.mask, d, dist[id(s.param)])
    return float(max(float(d.max()) for d in dist.values()))


def fit(
    model: nn.Module | str,
    data: Dataset | tuple[Any, Any] | Sequence[Any],
    loss: str | Loss | None = None,
    penalties: Sequence[AbstractPenalty] | AbstractPenalty = (),
    optimizer: str | type[torch.optim.Optimizer] | Callable[..., torch.optim.Optimizer] = "gd",
    lr: float | str = 0.1,
    steps: int = 1000,
    batch_size: int | None = None,
    seed: int = 0,
    record: bool | Mapping[str, Any] = False,
    tol: float | None = None,
    *,
    dtype: torch.dtype | None = None,
    momentum: float = 0.9,
    model_args: Mapping[str, Any] | None = None,
    log_every: int | None = None,
    on_divergence: Literal["raise", "stop"] = "raise",
    allow_weight_decay: bool = False,
    fast: bool = True,
    sample_weight: Any = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool | str | os.PathLike[str] = False,
) -> FitResult:
    """Train ``model`` on ``data`` under penalty terms, each applied by its update rule.

    Parameters
    ----------
    model : nn.Module or {"linear", "logistic", "softmax", "mlp"}
        A module is trained in place, as it is. A name builds the model for the data's shape,
        initialised from ``seed`` (float64 for the linear family, float32 for an MLP).
    data : Dataset or (X, y) or (X, y, X_test, y_test)
        X of shape (n_samples, n_features); y of shape (n_samples,) or (n_samples, 1).
    loss : {"squared", "logistic", "cross_entropy"} or Loss, optional
        Defaults to the model's canonical loss, or to the data's task.
    penalties : term or sequence of terms
        ``L2(...)``, ``L1(...)``, ``ElasticNet(...)``; each says where it applies and by which rule.
    optimizer : {"gd", "sgd", "momentum", "nesterov", "adam", "lbfgs", "fista"}, class or factory
        ``gd`` is full-batch SGD; ``sgd`` uses minibatches of ``batch_size`` (default 32);
        ``momentum`` / ``nesterov`` use ``momentum``; ``lbfgs`` (smooth terms only) does one
        L-BFGS iteration with a strong-Wolfe line search per step; ``fista`` (linear, logistic and
        softmax models; proximal or smooth gradient-rule terms) is FISTA with adaptive restart
        (O'Donoghue & Candès 2015), an accelerated proximal-gradient method: its steps are not
        ``gd``'s, and the history logs the iterate x_k.
    lr : float or "auto"
        Learning rate; ``"auto"`` is 1/L for linear, logistic and softmax models
        (see :func:`lipschitz_constant`).
    steps : int
        Maximum number of optimizer steps.
    batch_size : int, optional
        Minibatch size for ``sgd`` (or any optimizer but ``gd`` / ``lbfgs``); full batch when None.
    seed : int
        Seeds an explicit ``torch.Generator`` for initialisation and shuffling.
    record : bool or dict
        Record weight trajectories (``True``, or the options of :class:`reglab.record.Recorder`).
    tol : float, optional
        Stop early. For a linear-family model with its canonical loss trained full-batch: when the
        optimality measure (the largest distance of −∇loss to the penalty's subdifferential) falls
        below ``tol`` times its initial value. Otherwise: when the relative change of the objective
        between two logged steps is below ``tol``.
    dtype : torch.dtype, optional
        Floating dtype for the model and data.
    log_every : int, optional
        Log history every this many steps (default: at most about 1,000 entries).
    on_divergence : {"raise", "stop"}
        Raise :class:`DivergenceError`, or stop and return with status ``"diverged"``.
    allow_weight_decay : bool
        Allow an optimizer with its own ``weight_decay`` beside the terms.
    fast : bool
        Use the fast path (:mod:`reglab.solvers`: closed-form gradients, the Gram form for least
        squares with n ≫ p, no host read between logged steps) where it applies: a linear,
        logistic or softmax model with its canonical loss, optimizer ``gd`` (recorded or not) or
        ``fista`` (not recorded), rules gradient / proximal / decoupled. Same steps, history,
        status and recorded trajectory as the plain autograd loop (up to rounding); ``fast=False``
        forces the plain loop.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights of the training samples (validated as scikit-learn's
        ``_check_sample_weight``; not all zero). The data loss becomes the weighted mean
        Σᵢ wᵢℓᵢ / Σᵢ wᵢ: integer weights equal repeated rows, a zero weight a dropped row, and
        scaling all weights changes nothing. A minibatch's loss is mean over the batch of
        (wᵢ / mean w)·ℓᵢ, an unbiased estimate of the weighted mean. ``lr="auto"``, ``tol`` and
        the fast path use the weighted loss.
    checkpoint : str or PathLike, optional
        Write a checkpoint to this file every ``checkpoint_every`` steps (atomically, see
        :mod:`reglab.checkpoint`): model, optimizer and ``Regularized`` state (cumulative-L1
        totals included), the recorder's buffers, the history, the step counter and the minibatch
        generator's RNG state. Checkpointing runs the plain loop (``fast`` is ignored): the fast
        path keeps Θ in its own loop and matches the plain loop only up to rounding, so a run
        resumed on one path would not equal an uninterrupted run on the other bit for bit.
        ``optimizer="fista"`` (fast path only) cannot be checkpointed.
    checkpoint_every : int, optional
        Steps between checkpoints (required with ``checkpoint``).
    resume : bool or str or PathLike
        ``resume=path`` continues from that checkpoint (it must exist); ``resume=True`` continues
        from ``checkpoint`` when that file exists and starts afresh otherwise (one command line
        for both the first start and every restart). The resumed run equals an uninterrupted one
        bit for bit (same machine, torch version and thread count). A checkpoint written by a
        different run (other model shape, data, terms or options) is refused with a
        :class:`~reglab.checkpoint.CheckpointError` saying what differs, as is a truncated or
        corrupted file.

    Returns
    -------
    FitResult

    Raises
    ------
    DivergenceError
        A non-finite loss or parameter, or an objective above 10⁶ times its start.

    Examples
    --------
    >>> import reglab
    >>> from reglab.data import zero_column
    >>> res = reglab.fit("linear", zero_column(n=50, p=3, column=0), penalties=[reglab.L2(0.1)],
    ...                  lr=0.05, steps=200)
    >>> res.status, res.model.linear.weight.shape
    ('max_steps', torch.Size([1, 3]))
    """
    steps = _check_int(steps, "steps", 0)
    seed = _check_int(seed, "seed", 0)
    lr = _check_lr(lr)
    if batch_size is not None:
        batch_size = _check_int(batch_size, "batch_size", 1)
    if log_every is not None:
        log_every = _check_int(log_every, "log_every", 1)
    if tol is not None and (not isinstance(tol, (int, float)) or not tol >= 0):
        raise ValueError(f"tol must be a non-negative number or None; got {tol!r}.")
    if on_divergence not in ("raise", "stop"):
        raise ValueError(f"on_divergence must be 'raise' or 'stop'; got {on_divergence!r}.")
    if isinstance(optimizer, str) and optimizer not in OPTIMIZERS:
        _build_optimizer(optimizer, [], 1.0, momentum)  # raises the unknown-name error
    if optimizer in ("gd", "lbfgs", "fista") and batch_size is not None:
        raise ValueError(f"optimizer {optimizer!r} is full-batch; use optimizer='sgd' with batch_size={batch_size}.")
    if optimizer == "sgd" and batch_size is None:
        batch_size = 32
    terms = [penalties] if isinstance(penalties, AbstractPenalty) else (
        list(penalties) if isinstance(penalties, (list, tuple)) else [penalties])
    for t in terms:
        if not isinstance(t, AbstractPenalty):
            raise TypeError(f"penalties must be a term or a list of terms (L2(...), L1(...), ElasticNet(...)); "
                            f"got {type(t).__name__} {t!r}.")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch dtype (torch.float32 or torch.float64) or None; "
                        f"got {dtype!r}.")
    if not isinstance(record, (bool, Mapping)):
        raise TypeError(f"record must be True, False or a dict of Recorder options; got {type(record).__name__} "
                        f"{record!r}.")
    resume_from = _check_checkpointing(checkpoint, checkpoint_every, resume, optimizer)
    if checkpoint is not None or resume_from is not None:
        fast = False  # checkpointing runs the plain loop (see the docstring)

    net, ds, loss_fn = _resolve(model, data, loss, seed, dtype, model_args)
    if sample_weight is not None:
        if ds.sample_weight is not None:
            raise ValueError("The dataset already has sample_weight; give the weights once (Dataset or fit).")
        ds = replace(ds, sample_weight=check_sample_weight(sample_weight, ds.n_samples, ds.X.dtype))
    if isinstance(net, LinearModel):
        _warn_feature_scales(ds)
    fast_path = prepare_fast_path(net, ds.X, ds.y, loss_fn, terms, optimizer, record=bool(record),
                                  batch_size=batch_size, steps=steps, fast=fast, sample_weight=ds.sample_weight)
    L = None
    if lr == "auto":
        L = lipschitz_constant(net, ds, loss_fn, terms, gram=None if fast_path is None else fast_path.gram)
        lr = 1.0 / L
    assert isinstance(lr, float)
    params = [p for p in net.parameters() if p.requires_grad]
    nonempty = [p for p in params if p.numel()]  # the logged finiteness check: max |w| over all (no_grad)
    # small models: one cat + one sum (no per-tensor ops), into one buffer from the parameters' flat
    # views (in-place updates keep them current)
    concat = (sum(p.numel() for p in nonempty) <= _CONCAT_MAX and all(p.is_contiguous() for p in nonempty)
              and len({p.device for p in nonempty}) <= 1)
    if concat and nonempty:
        flat_views = [p.detach().view(-1) for p in nonempty]
        flat_all = torch.empty(sum(v.numel() for v in flat_views), device=nonempty[0].device,
                               dtype=functools.reduce(torch.promote_types, (p.dtype for p in nonempty)))
    opt = Regularized(_build_optimizer(optimizer, params, lr, momentum), net, terms,
                      allow_weight_decay=allow_weight_decay)

    recorder = None
    if record:
        from reglab.record import Recorder

        options = dict(record) if isinstance(record, Mapping) else {}
        # driven by this loop (Recorder.recorded_step), not by step hooks: no hook wrapper per step
        recorder = Recorder(net, opt, steps=steps, seed=seed, **{**options, "hooks": False})
    # one optimizer step, recorded by the recorder when there is one
    take_step: Callable[[Callable[[], Any]], Any] = (
        (lambda step_fn: step_fn()) if recorder is None else recorder.recorded_step)

    X, y, w = ds.X, ds.y, ds.sample_weight
    # a minibatch's loss: mean over the batch of (wᵢ / mean w)·ℓᵢ (full batch: the weighted mean)
    w_unit = None if w is None else w * (len(w) / w.sum())

    def weighted_batch_loss(output: Tensor, target: Tensor, idx: Tensor | None) -> Tensor:
        if w is None or idx is None:
            return loss_fn(output, target, w)
        assert w_unit is not None
        return (loss_fn.per_sample(output, target) * w_unit[idx]).mean()

    gen = torch.Generator().manual_seed(seed + 1)
    batches = _Batches(len(X), batch_size, gen)
    log_every = log_every or max(1, math.ceil(steps / _MAX_LOG))
    use_kkt = (tol is not None and isinstance(net, LinearModel) and batches.full
               and loss_fn.name == net.default_loss)
    history = History()
    status = "max_steps"
    first_objective: float | None = None
    previous: float | None = None
    kkt0: float | None = None
    is_lbfgs = opt.family == "lbfgs"
    t0 = time.perf_counter()
    step = 0
    start = 0
    spec: dict[str, Any] = {}
    if checkpoint is not None or resume_from is not None:
        from reglab import checkpoint as ck

        spec = ck.run_spec(net, X, y, loss_fn.name, terms, optimizer, lr=lr, steps=steps, batch_size=batch_size,
                           seed=seed, tol=tol, momentum=momentum, log_every=log_every,
                           record=dict(record) if isinstance(record, Mapping) else bool(record), sample_weight=w)

    def save_checkpoint(step: int) -> None:
        assert checkpoint is not None
        ck.save_checkpoint(checkpoint, {
            "spec": spec, "step": step, "model": net.state_dict(), "optimizer": opt.state_dict(),
            "recorder": None if recorder is None else recorder.state_dict(), "history": history.to_dict(),
            "rng": gen.get_state(), "order": batches._order, "pos": batches._pos,
            "loop": {"first_objective": first_objective, "previous": previous, "kkt0": kkt0, "status": status},
        })

    if resume_from is not None:
        state = ck.load_checkpoint(resume_from)
        ck.check_spec(resume_from, state.get("spec", {}), spec)
        try:
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if recorder is not None:
                recorder.load_state_dict(state["recorder"])
            for key in ("step", "data_loss", "penalty", "objective", "lr"):
                getattr(history, key).extend(state["history"][key])
            gen.set_state(state["rng"])
            batches._order, batches._pos = state["order"], int(state["pos"])
            loop = state["loop"]
            first_objective, previous, kkt0, status = (loop["first_objective"], loop["previous"], loop["kkt0"],
                                                       loop["status"])
            start = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ck.CheckpointError(f"Checkpoint {str(resume_from)!r} does not fit this run "
                                     f"({type(err).__name__}: {err}); start afresh.") from err

    def log(step: int, data_loss: float) -> bool:
        """Append to the history; True when training should stop (converged or diverged)."""
        nonlocal first_objective, previous, kkt0, status
        # one fused reduction and one host transfer: a number that is finite ⇔ every parameter is
        # and, when there are terms, the penalty value beside it. Small models: the sum of all
        # parameters (NaN and ±inf propagate through a sum, so a finite sum ⇔ all finite, unless
        # the sum overflows: then the max |w| decides, which cannot overflow); larger ones: max |w|
        with torch.no_grad():
            if not nonempty:
                w_check = torch.zeros((), dtype=torch.float64)
            elif concat:
                w_check = torch.cat(flat_views, out=flat_all).sum()
            else:
                w_check = torch.stack(torch._foreach_norm(nonempty, math.inf)).max()
            if opt.terms:
                penalty, w_check_value = torch.stack([opt.penalty_value(), w_check.to(torch.float64)]).tolist()
            else:
                penalty, w_check_value = 0.0, w_check.item()
            if concat and nonempty and not math.isfinite(w_check_value):
                w_check_value = flat_all.abs().max().item()
        history.append(step, data_loss, penalty, float(opt.param_groups[0]["lr"]))
        objective = data_loss + penalty
        finite = math.isfinite(objective) and math.isfinite(w_check_value)
        if first_objective is None:
            first_objective = objective
        if not finite or (first_objective > 0 and objective > 1e6 * first_objective):
            status = "diverged"
            if on_divergence == "raise":
                raise _divergence(step, objective, first_objective, float(opt.param_groups[0]["lr"]),
                                  net, ds, loss_fn, terms, L)
            return True
        if tol is None:
            return False
        if use_kkt:
            violation = _kkt_violation(net, opt, X, y, loss_fn, w)
            kkt0 = violation if kkt0 is None else kkt0
            done = violation <= tol * max(kkt0, 1e-300)
        else:
            done = previous is not None and abs(objective - previous) <= tol * max(abs(previous), 1e-300)
        previous = objective
        if done:
            status = "converged"
        return done

    if fast_path is not None:  # the one dispatch point: same steps, history and status, no autograd
        step = fast_path.run(opt.terms, opt.selections, lr, steps, log_every, log, recorder=recorder)
    for step in range(start, steps if fast_path is None else 0):
        if checkpoint_every is not None and step > start and step % checkpoint_every == 0:
            save_checkpoint(step)
        idx = batches.next()
        xb, yb = (X, y) if idx is None else (X[idx], y[idx])
        logging = step % log_every == 0
        if is_lbfgs:
            first: list[Tensor] = []

            def closure() -> Tensor:
                opt.zero_grad()
                value = weighted_batch_loss(net(xb), yb, idx)
                value.backward()
                first.append(value.detach())
                return value

            take_step(lambda: opt.step(closure))
            batch_loss = first[0]
        else:
            opt.zero_grad()
            batch_loss = weighted_batch_loss(net(xb), yb, idx)
            batch_loss.backward()
            if logging:
                full_loss = float(batch_loss.detach()) if idx is None else _full_loss(net, loss_fn, X, y, w)
                if log(step, full_loss):
                    break
            take_step(opt.step)
            continue
        if logging:
            # L-BFGS: the first closure value is the loss at the parameters before this step
            if log(step, float(batch_loss.detach()) if idx is None else _full_loss(net, loss_fn, X, y, w)):
                break
    else:
        if fast_path is None:
            step = steps
            log(steps, _full_loss(net, loss_fn, X, y, w))
    elapsed = time.perf_counter() - t0
    if recorder is not None:
        recorder.close()
    _warn_l1_gradient_rise(history, terms, float(lr), status)
    return FitResult(model=net, data=ds, loss=loss_fn, terms=terms, optimizer=opt, history=history,
                     status=status, steps_run=step, lr=float(lr), seed=seed, recorder=recorder, elapsed=elapsed)



def _check_checkpointing(checkpoint: Any, every: Any, resume: Any, optimizer: Any) -> str | os.PathLike[str] | None:
    """Validate fit's checkpoint options; return the file to resume from (None: start afresh)."""
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path; got {type(checkpoint).__name__}.")
    if (checkpoint is None) != (every is None):
        raise ValueError("checkpoint and checkpoint_every go together: give both (checkpoint='run.pt', "
                         "checkpoint_every=100) or neither.")
    if every is not None:
        _check_int(every, "checkpoint_every", 1)
    if (checkpoint is not None or resume is not False) and optimizer == "fista":
        raise ValueError("optimizer='fista' runs only on the fast path, which cannot be checkpointed; "
                         "use optimizer='gd', or drop checkpoint/resume.")
    if resume is True:
        if checkpoint is None:
            raise ValueError("resume=True resumes from checkpoint=...; give the checkpoint file, or resume='path.pt'.")
        return checkpoint if os.path.exists(checkpoint) else None
    if resume is False or resume is None:
        return None
    if not isinstance(resume, (str, os.PathLike)):
        raise TypeError(f"resume must be True/False or a checkpoint path; got {type(resume).__name__}.")
    if not os.path.exists(resume):
        raise FileNotFoundError(f"No checkpoint at {str(resume)!r}: nothing to resume from. "
                                "Use resume=True with checkpoint=... to start afresh when it is missing.")
    return resume


@torch.no_grad()
def _full_loss(model: nn.Module, loss: Loss, X: Tensor, y: Tensor, sample_weight: Tensor | None = None) -> float:
    return float(loss(model(X), y, sample_weight))


def _divergence(step: int, objective: float, first: float, lr: float, model: nn.Module, data: Dataset,
                loss: Loss, terms: Sequence[AbstractPenalty], L: float | None) -> DivergenceError:
    max_stable = None
    if isinstance(model, LinearModel) and loss.name in _CURVATURE:
        try:
            L = L if L is not None else lipschitz_constant(model, data, loss, terms)
            max_stable = 2.0 / L
        except ValueError:  # L itself overflows: the advice below is the general one
            max_stable = None
    if not math.isfinite(first):  # the loss at the starting point: the data, not the learning rate
        return DivergenceError(f"Training diverged at step {step} with lr={lr:g}: "
                               + _overflow_advice(data, "the loss at the starting parameters is not finite"),
                               step=step, lr=lr, max_stable_lr=None)
    what = "a non-finite objective or parameter" if not math.isfinite(objective) else (
        f"the objective {objective:.3g} is more than 10⁶ × its start ({first:.3g})"
    )
    advice = (f"The largest stable learning rate for this linear problem is 2/L = {max_stable:.4g}; "
              f"try lr={max_stable / 2:.4g} or lr='auto'." if max_stable is not None
              else "Lower the learning rate (by 10×, say).")
    return DivergenceError(f"Training diverged at step {step} with lr={lr:g}: {what}. {advice}",
                           step=step, lr=lr, max_stable_lr=max_stable)


def _overflow_advice(data: Dataset, what: str) -> str:
    """Say that ``what`` comes from the data's scale overflowing its dtype, and what to do."""
    x_max = float(data.X.abs().max()) if data.X.numel() else 0.0
    y_max = float(data.y.abs().max()) if data.y.numel() and data.y.is_floating_point() else 0.0
    return (f"{what} in {str(data.X.dtype).replace('torch.', '')}: the data's scale (max |X| = {x_max:.3g}, "
            f"max |y| = {y_max:.3g}) overflows it when squared. Standardize X (sklearn.preprocessing."
            "StandardScaler) and rescale y" + (", or use dtype=torch.float64" if data.X.dtype != torch.float64 else "")
            + "; the learning rate is not the cause.")


_SCALE_SPREAD: Final = 1e4  # largest / smallest column standard deviation that triggers the warning


def _warn_feature_scales(data: Dataset) -> None:
    """NumericalWarning when X's columns differ in scale by more than ``_SCALE_SPREAD``.

    One learning rate serves every weight, and a stable one (< 2/L) is set by the largest-scale
    column; a column 10⁴ times smaller then needs ~10⁸ times more steps. Constant columns are ignored.
    """
    if data.n_samples < 2:
        return
    std = data.X.to(torch.float64).std(dim=0)
    std = std[std > 0]
    if std.numel() < 2:
        return
    spread = float(std.max() / std.min())
    if spread > _SCALE_SPREAD:
        warnings.warn(
            f"X's columns differ in scale by {spread:.3g}× (standard deviations {float(std.min()):.3g} to "
            f"{float(std.max()):.3g}): one learning rate (lr='auto' included) is set by the largest, and the "
            "weights of the smallest-scale columns will barely move. Standardize X "
            "(sklearn.preprocessing.StandardScaler) before fitting.",
            NumericalWarning, stacklevel=3,
        )


def _warn_l1_gradient_rise(history: History, terms: Sequence[AbstractPenalty], lr: float, status: str) -> None:
    """NumericalWarning when an L1 part applied by the gradient rule left the objective above its start.

    The subgradient step moves each weight by lr·λ·sign(w) every step, so weights cannot settle at
    zero: they oscillate with amplitude ~lr·λ. When that amplitude is large the run ends worse than it
    started, with no divergence to report.
    """
    if status == "diverged" or len(history.objective) < 2:
        return
    l1 = [t.strength if isinstance(t, L1) else t.l1_strength for t in terms
          if t.update == "gradient" and isinstance(t, (L1, ElasticNet))]
    first, last = history.objective[0], history.objective[-1]
    if l1 and math.isfinite(last) and last > first:
        warnings.warn(
            f"The objective rose from {first:.4g} to {last:.4g}: the L1 penalty applied by the gradient rule moves "
            f"each weight by lr·strength = {lr * max(l1):.3g} per step, so weights oscillate instead of settling "
            "at zero. Use update='proximal' (exact zeros), or lower lr.",
            NumericalWarning, stacklevel=3,
        )
