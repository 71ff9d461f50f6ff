"""From fit's arguments to objects: the model, data, loss, optimizer, learning rate (``lr="auto"``)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import torch
from torch import Tensor, nn

from reglab._checks import check_integer
from reglab.data import BatchStream, Dataset, as_dataset, is_sparse
from reglab.losses import CURVATURE, LOSS_OF_TASK, TASK_OF_LOSS, TASK_OF_MODEL, Loss, get_loss
from reglab.models import MODELS, LinearModel, build_model
from reglab.penalties import AbstractElasticNet, AbstractPenalty
from reglab.solvers import top_eigenvalue

__all__ = ["OPTIMIZERS", "build_optimizer", "check_checkpointing", "check_device", "check_lr", "lipschitz_constant",
           "resolve_batch_size", "resolve_inputs", "resolve_stream_inputs"]


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
    (squared), 1/4 (logistic), 1/2 (cross-entropy). Plus 2λ₂ for each L2 part applied by the
    ``gradient`` rule (its largest per-element strength; a penalty outside the elastic-net family adds
    nothing: MCP's smooth part is concave). λ_max is eigvalsh of the Gram matrix X̃ᵀX̃/n when it is given (the fast
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
    for t in terms:  # an elastic-net family member's L2 part, at its largest per-element strength
        if t.update == "gradient" and isinstance(t, AbstractElasticNet) and t.l2_strength:
            L += 2.0 * t.l2_strength * t.max_weight()
    return L


def check_lr(lr: Any) -> float | str:
    """``lr`` checked: a positive finite float, or ``"auto"``.

    >>> check_lr(1), check_lr("auto")
    (1.0, 'auto')
    """
    if isinstance(lr, str):
        if lr != "auto":
            raise ValueError(f"lr must be a positive number or 'auto'; got {lr!r}.")
        return lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"lr must be a positive number or 'auto'; got {type(lr).__name__}.")
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive, finite number; got {lr}. Try lr=0.01, or lr='auto' for linear models.")
    return float(lr)


def build_optimizer(optimizer: Any, params: list[Tensor], lr: float, momentum: float) -> torch.optim.Optimizer:
    """The torch optimizer fit wraps in :class:`~reglab.updates.Regularized`: by name, class or factory.

    ``gd``, ``sgd`` and ``fista`` build plain SGD (the fast path runs FISTA itself); ``momentum``
    and ``nesterov`` SGD with ``momentum``; ``lbfgs`` one L-BFGS iteration with a strong-Wolfe
    line search per step. A class is called with ``(params, lr=lr)``, a factory with ``(params)``.

    >>> type(build_optimizer("adam", [torch.zeros(2, requires_grad=True)], 0.1, 0.9)).__name__
    'Adam'
    """
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


def resolve_batch_size(optimizer: Any, batch_size: int | None) -> int | None:
    """The minibatch size a run uses: refused for a full-batch optimizer, 32 by default for ``sgd``.

    >>> resolve_batch_size("sgd", None), resolve_batch_size("gd", None), resolve_batch_size("adam", 8)
    (32, None, 8)
    """
    if optimizer in ("gd", "lbfgs", "fista") and batch_size is not None:
        raise ValueError(f"optimizer {optimizer!r} is full-batch; use optimizer='sgd' with batch_size={batch_size}.")
    if optimizer == "sgd" and batch_size is None:
        return 32
    return batch_size


def check_device(device: Any) -> torch.device:
    """``device`` checked: a device torch knows and this machine has, as a ``torch.device``.

    ``"cuda"`` without an index is the current CUDA device (``cuda:0`` by default), so it compares
    equal to the device of the tensors placed there.

    >>> check_device("cpu")
    device(type='cpu')
    >>> check_device("meta")
    Traceback (most recent call last):
    ...
    ValueError: device='meta' holds no data (the meta device has shapes only); fit cannot train there. Use device='cpu' or 'cuda'.
    """
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', or a torch.device; "
                        f"got {type(device).__name__}.")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"Unknown device {str(device)!r} ({err}). Use device='cpu' or 'cuda'.") from None
    if dev.type == "meta":
        raise ValueError(f"device={str(device)!r} holds no data (the meta device has shapes only); fit cannot "
                         "train there. Use device='cpu' or 'cuda'.")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r}: no CUDA device is available on this machine "
                             "(torch.cuda.is_available() is False); use device='cpu'.")
        count = torch.cuda.device_count()
        if dev.index is None:
            return torch.device("cuda", torch.cuda.current_device())
        if dev.index >= count:
            raise ValueError(f"device={str(device)!r}: this machine has {count} CUDA device(s) "
                             f"(cuda:0 to cuda:{count - 1}).")
        return dev
    if dev.type == "cpu":
        return torch.device("cpu")
    try:
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as err:  # torch raises either for a backend it lacks
        raise ValueError(f"device={str(device)!r} is not available on this machine ({err}); use device='cpu'.") from None
    return dev


def _model_device(model: nn.Module, device: Any) -> torch.device:
    """The device a run of ``model`` lives on: ``device`` when given (the model is moved there), else its own."""
    if device is not None:
        dev = check_device(device)
        model.to(dev)
        return dev
    first = next(iter(model.parameters()), None)
    if first is None:
        return torch.device("cpu")
    if first.device.type == "meta":
        raise ValueError("The model's parameters are on the meta device (shapes only, no data); fit cannot train "
                         "them. Materialise the model (model.to_empty(device='cpu') and initialise it) first.")
    return first.device


def _check_model(model: nn.Module, model_args: Mapping[str, Any] | None, dtype: torch.dtype | None) -> torch.dtype:
    """A given module checked (and cast to ``dtype`` when given); returns its floating dtype."""
    if model_args:
        raise ValueError("model_args apply to a model given by name, not to an nn.Module.")
    params = [p for p in model.parameters() if p.is_floating_point()]
    if not params:
        raise ValueError("The model has no floating-point parameters to train.")
    if dtype is not None and params[0].dtype != dtype:
        model.to(dtype)
    return dtype or params[0].dtype


def resolve_inputs(model: Any, data: Any, loss: Any, seed: int, dtype: torch.dtype | None,
                   model_args: Mapping[str, Any] | None, device: Any = None) -> tuple[nn.Module, Dataset, Loss]:
    """fit's ``model``, ``data`` and ``loss`` as objects: the model built (or checked), the dataset, the loss.

    A model given by name is built for the data's shape from ``torch.Generator().manual_seed(seed)``
    (on the CPU, so a seed gives the same initial weights on every device), in ``dtype`` (default
    float64 for the linear family, float32 for an MLP); a module is used as it is (cast to ``dtype``
    when given). The run's device is ``device`` when given (the model is moved there), else the
    model's (the CPU for a model given by name); the data is moved there once. The loss defaults to
    the model's canonical one, or the data's task's.

    >>> net, ds, loss = resolve_inputs("linear", (torch.zeros(4, 2), torch.zeros(4)), None, 0, None, None)
    >>> type(net).__name__, ds.X.dtype, loss.name, ds.device
    ('LinearModel', torch.float64, 'squared', device(type='cpu'))
    """
    loss_obj = None if loss is None else get_loss(loss)
    if isinstance(model, str):
        dev, task, dt = _named_model_setup(model, loss_obj, dtype, device)
        ds = as_dataset(data, task=task, dtype=dt)
        gen = torch.Generator().manual_seed(seed)
        built = build_model(model, ds.n_features, ds.n_outputs, generator=gen, dtype=dt, **dict(model_args or {}))
        return built.to(dev), ds.to_device(dev), loss_obj or get_loss(LOSS_OF_TASK[ds.task])
    if isinstance(model, nn.Module):
        dt = _check_model(model, model_args, dtype)
        dev = _model_device(model, device)
        task = None if loss_obj is None else TASK_OF_LOSS.get(loss_obj.name)
        ds = as_dataset(data, task=task, dtype=dt)
        default = getattr(model, "default_loss", None) or LOSS_OF_TASK[ds.task]
        return model, ds.to_device(dev), loss_obj or get_loss(default)
    raise TypeError(f"model must be an nn.Module or one of {', '.join(MODELS)}; got {type(model).__name__}.")


def _named_model_setup(model: str, loss: Loss | None, dtype: torch.dtype | None,
                       device: Any) -> tuple[torch.device, str | None, torch.dtype]:
    """For a model given by name: the run's device (the CPU unless ``device``), its task (the model's,
    else the loss's) and dtype (float32 for an MLP, float64 for the linear family, unless ``dtype``)."""
    if model not in MODELS:
        raise ValueError(f"Unknown model {model!r}. Choose one of {', '.join(MODELS)}, or pass an nn.Module.")
    dev = torch.device("cpu") if device is None else check_device(device)
    task = TASK_OF_MODEL.get(model) or (None if loss is None else TASK_OF_LOSS.get(loss.name))
    return dev, task, dtype or (torch.float32 if model == "mlp" else torch.float64)


def resolve_stream_inputs(model: Any, source: Any, loss: Any, seed: int, dtype: torch.dtype | None,
                          model_args: Mapping[str, Any] | None,
                          device: Any = None) -> tuple[nn.Module, BatchStream, Loss]:
    """:func:`resolve_inputs` for a source of minibatches (a ``DataLoader``): the model, a
    :class:`~reglab.data.BatchStream` on the run's device, the loss.

    The task cannot be read from data not in memory: it is the model's (a model given by name, or
    a module's ``default_loss``) or the loss's; with neither, give ``loss=``. A model given by name
    is built for the first batch's number of features (and, for ``"softmax"`` or an MLP
    classifier, ``model_args={"n_outputs": K}`` is needed: the classes cannot be counted).

    >>> loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2), torch.zeros(4)),
    ...                                      batch_size=2)
    >>> net, stream, loss = resolve_stream_inputs("linear", loader, None, 0, None, None)
    >>> type(net).__name__, stream.peek()[0].dtype, loss.name
    ('LinearModel', torch.float64, 'squared')
    """
    loss_obj = None if loss is None else get_loss(loss)
    if isinstance(model, str):
        dev, task, dt = _named_model_setup(model, loss_obj, dtype, device)
        default_loss = None if task is None else LOSS_OF_TASK[task]
    elif isinstance(model, nn.Module):
        dt = _check_model(model, model_args, dtype)
        dev = _model_device(model, device)
        default_loss = getattr(model, "default_loss", None)
    else:
        raise TypeError(f"model must be an nn.Module or one of {', '.join(MODELS)}; got {type(model).__name__}.")
    loss_obj = loss_obj or (None if default_loss is None else get_loss(default_loss))
    if loss_obj is None:
        raise ValueError("With a data loader the task cannot be read from the data: give loss='squared', "
                         "'logistic' or 'cross_entropy'.")
    stream = BatchStream(source, dt, dev, task=TASK_OF_LOSS.get(loss_obj.name))
    if isinstance(model, str):
        args = dict(model_args or {})
        n_outputs = int(args.pop("n_outputs", 1))
        if stream.task == "multiclass" and "n_outputs" not in (model_args or {}):
            raise ValueError(f"model={model!r} with a data loader needs model_args={{'n_outputs': K}} (the number "
                             "of classes cannot be counted from batches).")
        n_features = stream.peek()[0].shape[1]
        gen = torch.Generator().manual_seed(seed)
        model = build_model(model, n_features, n_outputs, generator=gen, dtype=dt, **args).to(dev)
    return model, stream, loss_obj


def check_checkpointing(checkpoint: Any, every: Any, resume: Any, optimizer: Any) -> str | os.PathLike[str] | None:
    """Validate fit's checkpoint options; return the file to resume from (None: start afresh)."""
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path; got {type(checkpoint).__name__}.")
    if (checkpoint is None) != (every is None):
        raise ValueError("checkpoint and checkpoint_every go together: give both (checkpoint='run.pt', "
                         "checkpoint_every=100) or neither.")
    if every is not None:
        check_integer(every, "checkpoint_every", 1)
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
    stored = data.X.values() if is_sparse(data.X) else data.X
    x_max = float(stored.abs().max()) if stored.numel() else 0.0
    y_max = float(data.y.abs().max()) if data.y.numel() and data.y.is_floating_point() else 0.0
    return (f"{what} in {str(data.X.dtype).replace('torch.', '')}: the data's scale (max |X| = {x_max:.3g}, "
            f"max |y| = {y_max:.3g}) overflows it when squared. Standardize X (sklearn.preprocessing."
            "StandardScaler) and rescale y" + (", or use dtype=torch.float64" if data.X.dtype != torch.float64 else "")
            + "; the learning rate is not the cause.")

