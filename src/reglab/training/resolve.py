"""From fit's arguments to objects: the model, data, loss, optimizer, learning rate (``lr="auto"``)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import torch
from torch import Tensor, nn

from reglab.data import Dataset, as_dataset
from reglab.losses import CURVATURE, Loss, get_loss
from reglab.models import MODELS, LinearModel, build_model
from reglab.penalties import L2, AbstractPenalty, ElasticNet
from reglab.solvers import top_eigenvalue

__all__ = ["OPTIMIZERS", "lipschitz_constant"]


OPTIMIZERS: Final = ("gd", "sgd", "momentum", "nesterov", "adam", "lbfgs", "fista")


def _design(X: Tensor, fit_intercept: bool) -> Tensor:
    return torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1) if fit_intercept else X


def _top_eigenvalue(X: Tensor, seed: int = 0) -> float:
    """Largest eigenvalue of XᵀX/n (see :func:`reglab.solvers.top_eigenvalue`)."""
    return top_eigenvalue(X, fit_intercept=False, seed=seed)




def lipschitz_constant(model: nn.Module, data: Dataset, loss: Loss, terms: Sequence[AbstractPenalty] = (),
                       *, gram: Tensor | None = None) -> float:
    """L, the Lipschitz constant of the smooth part's gradient, for a linear model with a canonical loss.

    Data part: c·λ_max(X̃ᵀX̃/n) (X̃ᵀ diag(w) X̃/Σw with sample weights w), X̃ with a column of ones when
    the model has an intercept, c = 2
    (squared), 1/4 (logistic), 1/2 (cross-entropy). Plus 2λ for each L2 part applied by the
    ``gradient`` rule. λ_max is eigvalsh of the Gram matrix X̃ᵀX̃/n when it is given (the fast
    path's Gram form) or small, power iteration on X̃ otherwise.
    """
    if not isinstance(model, LinearModel) or loss.name not in CURVATURE:
        raise ValueError(
            "lr='auto' is defined for linear, logistic and softmax models with their canonical loss; "
            "give a number for an MLP or your own module."
        )
    try:
        L = CURVATURE[loss.name] * top_eigenvalue(data.X, model.linear.bias is not None, gram=gram,
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


def _overflow_advice(data: Dataset, what: str) -> str:
    """Say that ``what`` comes from the data's scale overflowing its dtype, and what to do."""
    x_max = float(data.X.abs().max()) if data.X.numel() else 0.0
    y_max = float(data.y.abs().max()) if data.y.numel() and data.y.is_floating_point() else 0.0
    return (f"{what} in {str(data.X.dtype).replace('torch.', '')}: the data's scale (max |X| = {x_max:.3g}, "
            f"max |y| = {y_max:.3g}) overflows it when squared. Standardize X (sklearn.preprocessing."
            "StandardScaler) and rescale y" + (", or use dtype=torch.float64" if data.X.dtype != torch.float64 else "")
            + "; the learning rate is not the cause.")

