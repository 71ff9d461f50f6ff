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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from reglab._hold import hold_point
from reglab.data import Dataset, check_sample_weight
from reglab.losses import Loss
from reglab.models import LinearModel
from reglab.penalties import AbstractPenalty
from reglab.training.batches import _Batches
from reglab.training.fast_linear import prepare_fast_path
from reglab.training.monitor import (
    _CONCAT_MAX,
    _MAX_LOG,
    _divergence,
    _full_loss,
    _kkt_violation,
    _warn_feature_scales,
    _warn_l1_gradient_rise,
)
from reglab.training.resolve import (
    OPTIMIZERS,
    _build_optimizer,
    _check_checkpointing,
    _check_int,
    _check_lr,
    _resolve,
    lipschitz_constant,
)
from reglab.training.result import FitResult, History
from reglab.updates import Regularized

__all__ = ["fit"]


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
        Record weight trajectories (``True``, or the options of :class:`reglab.observe.Recorder`).
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
        :mod:`reglab.training.checkpoint`): model, optimizer and ``Regularized`` state (cumulative-L1
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
        :class:`~reglab.training.checkpoint.CheckpointError` saying what differs, as is a truncated or
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
        from reglab.observe import Recorder

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
        from reglab.training import checkpoint as ck

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
        hold_point("checkpoint")

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
