"""``fit()``: train a model under penalty terms applied by their update rules.

One loop for every model, optimizer and rule: a forward pass on the (mini)batch, the data loss,
``backward``, and one step of a :class:`~reglab.updates.Regularized` optimizer. What is logged
(history) is logged every ``log_every`` steps; nothing else forces a host sync.

:func:`fit` reads as its steps: the arguments are checked (:func:`_check_arguments`), resolved to
objects (:mod:`reglab.training.resolve`), a path is chosen (the fast path of
:mod:`reglab.training.fast_linear` where it applies, else the autograd loop), :class:`_Loop` runs
it, and the result is assembled. Logging, the divergence rule and the stopping rule are
:mod:`reglab.training.monitor`'s; :class:`_Loop` holds the run's state explicitly (the
:class:`~reglab.training.monitor.RunLog`, the minibatch order, the recorder, the checkpoints).
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from reglab._checks import check_integer
from reglab._hold import hold_point
from reglab.data import BatchStream, Dataset, check_sample_weight, is_batch_source, take_rows
from reglab.exceptions import DivergenceError
from reglab.losses import Loss
from reglab.models import LinearModel
from reglab.penalties import AbstractPenalty
from reglab.training import checkpoint as ck
from reglab.training.batches import Batches
from reglab.training.fast_linear import LinearFastPath, prepare_fast_path
from reglab.training.monitor import (
    ParameterCheck,
    RunLog,
    _warn_l1_gradient_rise,
    divergence_error,
    full_loss,
    kkt_violation,
    log_every_for,
    warn_feature_scales,
)
from reglab.training.resolve import (
    OPTIMIZERS,
    build_optimizer,
    check_checkpointing,
    check_lr,
    lipschitz_constant,
    resolve_batch_size,
    resolve_inputs,
    resolve_stream_inputs,
)
from reglab.training.result import FitResult
from reglab.updates import Regularized, StrengthScheduler

__all__ = ["fit"]


StrengthSchedule = Callable[[int], float] | Sequence[Callable[[int], float] | None]
"""fit's ``strength_schedule``: one factor function for every term, or one per term (None: constant)."""


def fit(
    model: nn.Module | str,
    data: Dataset | tuple[Any, Any] | Sequence[Any] | Iterable[Any],
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
    device: str | torch.device | None = None,
    progress: Callable[[int, int], Any] | None = None,
    strength_schedule: StrengthSchedule | None = None,
) -> FitResult:
    """Train ``model`` on ``data`` under penalty terms, each applied by its update rule.

    Parameters
    ----------
    model : nn.Module or {"linear", "logistic", "softmax", "mlp"}
        A module is trained in place, as it is. A name builds the model for the data's shape,
        initialised from ``seed`` (float64 for the linear family, float32 for an MLP).
    data : Dataset or (X, y) or (X, y, X_test, y_test) or DataLoader
        X of shape (n_samples, n_features); y of shape (n_samples,) or (n_samples, 1). Or a source
        of minibatches for data that does not fit in memory: a ``torch.utils.data.DataLoader``, or
        any re-iterable object (not a tuple or list, which are read as ``(X, y)``) whose every
        ``iter()`` is one epoch of ``(X, y)`` batches. Each step takes the next batch; when the
        source is exhausted the next epoch starts (a shuffling loader reshuffles). Targets are
        taken as given (classes as 0..K−1); the task comes from the model or ``loss``. The
        history's data loss at a logged step is the mean of the batch losses of the steps since
        the previous logged step (each at the weights before its update: no extra pass), and its
        last entry (and ``FitResult.data_loss()``) is the data loss over one full pass of the
        loader at the final weights (mean over samples). What needs the whole data in memory is
        refused: the fast path is not used, and ``lr="auto"``, ``sample_weight``, ``batch_size``
        (the loader's), ``optimizer="fista"`` and checkpointing raise ``ValueError``.
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
        corrupted file. A checkpoint is loaded onto the run's device.
    device : str or torch.device, optional
        Where the model, the data and the loop live: ``"cpu"``, ``"cuda"``, ``"cuda:1"``... Default:
        the device of the model's parameters (the CPU for a model given by name). A given model is
        moved there (in place, as ``model.to(device)``); NumPy or CPU data is moved once, before
        training; a model given by name is initialised on the CPU from ``seed`` and then moved, so
        it starts from the same weights on every device. ``ValueError`` for a device torch does not
        know or this machine does not have (``"cuda"`` without a GPU), or the meta device.
    progress : callable, optional
        Called as ``progress(step, steps)`` at every logged step (see ``log_every``) and once at
        the end with ``step == steps_run``; for a progress bar. Its return value is ignored.
    strength_schedule : callable(step) -> float, or a sequence of them (one per term, ``None`` for a constant term), optional
        A λ schedule, as a learning-rate schedule: the strength of each scheduled term for the update
        of step t is its given strength × ``fn(t)`` (a
        :class:`~reglab.updates.StrengthScheduler` over the run's wrapper, stepped after every
        optimizer step, so ``fit`` equals that hand loop bit for bit). Every factor of the run
        (steps 0..``steps``) is checked before training: each must be a finite non-negative real
        number, else ``ValueError`` / ``TypeError`` naming the term and the step. The history logs
        the strengths in effect at each logged step (``history.strength``); a checkpoint saves the
        schedule's position and a fingerprint of its values, so a run resumed with another schedule
        is refused. The terms given are not changed: the run trains copies (``FitResult.terms``,
        holding the last strengths). The fast path keeps λ fixed, so a scheduled run takes the plain
        loop (``optimizer="fista"`` refuses it).

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
    args = _check_arguments(optimizer, penalties, lr, steps, batch_size, seed, record, tol, dtype=dtype,
                            momentum=momentum, log_every=log_every, on_divergence=on_divergence, fast=fast,
                            checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
                            progress=progress, strength_schedule=strength_schedule)
    stream: BatchStream | None = None
    ds: Dataset | None = None
    fast_path: LinearFastPath | None = None
    if is_batch_source(data):
        _check_stream_options(optimizer, args.lr, batch_size, sample_weight, checkpoint, resume)
        net, stream, loss_fn = resolve_stream_inputs(model, data, loss, args.seed, dtype, model_args, device)
        args = replace(args, batch_size=None)
        lr, L = float(args.lr), None
    else:
        net, ds, loss_fn = resolve_inputs(model, data, loss, args.seed, dtype, model_args, device)
        ds = _with_sample_weight(ds, sample_weight)
        if isinstance(net, LinearModel):
            warn_feature_scales(ds)
        fast_path = prepare_fast_path(net, ds.X, ds.y, loss_fn, args.terms, optimizer, record=bool(record),
                                      batch_size=args.batch_size, steps=args.steps, fast=args.fast,
                                      sample_weight=ds.sample_weight, scheduled=strength_schedule is not None)
        lr, L = _learning_rate(args.lr, net, ds, loss_fn, args.terms, fast_path)
    params = [p for p in net.parameters() if p.requires_grad]
    check = ParameterCheck(params)
    opt = Regularized(build_optimizer(optimizer, params, lr, momentum), net, args.terms,
                      allow_weight_decay=allow_weight_decay)
    schedule, schedule_digest = _strength_scheduler(opt, strength_schedule, args.steps)
    recorder = _build_recorder(record, net, opt, args.steps, args.seed)
    loop = _Loop(net, ds, loss_fn, opt, args, lr, L, check, recorder, tol=tol, on_divergence=on_divergence,
                 stream=stream, progress=progress, schedule=schedule)
    t0 = time.perf_counter()
    if checkpoint is not None or args.resume_from is not None:
        loop.checkpoint_to(checkpoint, checkpoint_every,
                           ck.run_spec(net, ds.X, ds.y, loss_fn.name, args.terms, optimizer, lr=lr, steps=args.steps,
                                       batch_size=args.batch_size, seed=args.seed, tol=tol, momentum=momentum,
                                       log_every=loop.log_every, record=_record_options(record),
                                       sample_weight=ds.sample_weight, strength_schedule=schedule_digest))
    start = 0 if args.resume_from is None else loop.resume(args.resume_from)
    if stream is not None:
        steps_run = loop.run_stream()
    else:
        steps_run = loop.run_fast(fast_path) if fast_path is not None else loop.run(start)
    elapsed = time.perf_counter() - t0
    if recorder is not None:
        recorder.close()
    _warn_l1_gradient_rise(loop.run_log.history, args.terms, lr, loop.run_log.status)
    return FitResult(model=net, data=ds, loss=loss_fn, terms=args.terms, optimizer=opt, history=loop.run_log.history,
                     status=loop.run_log.status, steps_run=steps_run, lr=lr, seed=args.seed, recorder=recorder,
                     elapsed=elapsed)


@dataclass(frozen=True)
class _Arguments:
    """fit's arguments after the checks: numbers as numbers, defaults filled in, the terms as a list."""

    steps: int
    seed: int
    lr: float | str
    batch_size: int | None
    log_every: int | None
    terms: list[AbstractPenalty]
    resume_from: str | os.PathLike[str] | None
    fast: bool


def _check_arguments(optimizer: Any, penalties: Any, lr: Any, steps: Any, batch_size: Any, seed: Any, record: Any,
                     tol: Any, *, dtype: Any, momentum: float, log_every: Any, on_divergence: Any, fast: bool,
                     checkpoint: Any, checkpoint_every: Any, resume: Any, progress: Any = None,
                     strength_schedule: Any = None) -> _Arguments:
    """Check fit's arguments before any work, in the order a user reads them; the first bad one raises."""
    steps = check_integer(steps, "steps", 0)
    seed = check_integer(seed, "seed", 0)
    lr = check_lr(lr)
    if batch_size is not None:
        batch_size = check_integer(batch_size, "batch_size", 1)
    if log_every is not None:
        log_every = check_integer(log_every, "log_every", 1)
    if tol is not None and (not isinstance(tol, (int, float)) or not tol >= 0):
        raise ValueError(f"tol must be a non-negative number or None; got {tol!r}.")
    if on_divergence not in ("raise", "stop"):
        raise ValueError(f"on_divergence must be 'raise' or 'stop'; got {on_divergence!r}.")
    if isinstance(optimizer, str) and optimizer not in OPTIMIZERS:
        build_optimizer(optimizer, [], 1.0, momentum)  # raises the unknown-name error
    batch_size = resolve_batch_size(optimizer, batch_size)
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
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(step, steps) or None; got {type(progress).__name__}.")
    if strength_schedule is not None:
        if not (callable(strength_schedule) or isinstance(strength_schedule, (list, tuple))):
            raise TypeError("strength_schedule must be a callable(step) -> float, a list of them (one per term, "
                            f"None for a constant term), or None; got {type(strength_schedule).__name__}.")
        # the run trains copies, so the terms given keep their strengths
        terms = [copy.copy(t) for t in terms]
    resume_from = check_checkpointing(checkpoint, checkpoint_every, resume, optimizer)
    # checkpointing runs the plain loop (see fit's docstring)
    fast = fast and checkpoint is None and resume_from is None
    return _Arguments(steps=steps, seed=seed, lr=lr, batch_size=batch_size, log_every=log_every, terms=terms,
                      resume_from=resume_from, fast=fast)


def _check_stream_options(optimizer: Any, lr: float | str, batch_size: Any, sample_weight: Any, checkpoint: Any,
                          resume: Any) -> None:
    """Refuse, for a data loader, the options that need the whole data in memory (or the loader's position)."""
    refused = [why for bad, why in (
        (lr == "auto", "lr='auto' (1/L needs the whole X; give a number)"),
        (sample_weight is not None, "sample_weight (put the weights in the loss, or in the batches)"),
        (batch_size is not None, "batch_size (the loader sets the batch size)"),
        (optimizer == "fista", "optimizer='fista' (full-batch fast path only; use 'sgd' or 'adam')"),
        (checkpoint is not None or resume not in (False, None),
         "checkpoint/resume (a loader's position cannot be saved)"),
    ) if bad]
    if refused:
        raise ValueError("With a data loader (minibatches), fit cannot use: " + "; ".join(refused)
                         + ". Pass the data in memory as (X, y) for these.")


def _with_sample_weight(ds: Dataset, sample_weight: Any) -> Dataset:
    """The dataset with fit's ``sample_weight`` checked and attached (given once: here or in the Dataset)."""
    if sample_weight is None:
        return ds
    if ds.sample_weight is not None:
        raise ValueError("The dataset already has sample_weight; give the weights once (Dataset or fit).")
    return replace(ds, sample_weight=check_sample_weight(sample_weight, ds.n_samples, ds.X.dtype))


def _learning_rate(lr: float | str, net: nn.Module, ds: Dataset, loss_fn: Loss, terms: Sequence[AbstractPenalty],
                   fast_path: LinearFastPath | None) -> tuple[float, float | None]:
    """``(lr, L)``: ``lr="auto"`` is 1/L (L computed on the fast path's Gram form when it has one)."""
    if lr != "auto":
        assert isinstance(lr, float)
        return lr, None
    L = lipschitz_constant(net, ds, loss_fn, terms, gram=None if fast_path is None else fast_path.gram)
    return 1.0 / L, L


def _strength_scheduler(opt: Regularized, fn: StrengthSchedule | None,
                        steps: int) -> tuple[StrengthScheduler | None, str | None]:
    """The run's :class:`StrengthScheduler` and a fingerprint of its strengths at steps 0..``steps``
    (each checked here, before training), or ``(None, None)`` without a schedule."""
    if fn is None:
        return None, None
    schedule = StrengthScheduler(opt, fn)
    digest = hashlib.sha256()
    for step in range(steps + 1):
        digest.update(repr(schedule.strengths_at(step)).encode())
    return schedule, digest.hexdigest()[:16]


def _record_options(record: bool | Mapping[str, Any]) -> bool | dict[str, Any]:
    return dict(record) if isinstance(record, Mapping) else bool(record)


def _build_recorder(record: bool | Mapping[str, Any], net: nn.Module, opt: Regularized, steps: int,
                    seed: int) -> Any:
    """The :class:`~reglab.observe.Recorder` when ``record`` asks for one, else None.

    It is driven by the loop (``Recorder.recorded_step``), not by step hooks: no hook wrapper per step.
    """
    if not record:
        return None
    from reglab.observe import Recorder

    options = dict(record) if isinstance(record, Mapping) else {}
    return Recorder(net, opt, steps=steps, seed=seed, **{**options, "hooks": False})


class _Loop:
    """One fit's training loop and its state: the run log, the minibatch order, the recorder, the checkpoints.

    :meth:`log` is what both paths call at a logged step (the fast path hands it the data loss at
    Θ); :meth:`run` is the autograd loop; :meth:`state_dict` / :meth:`resume` are the checkpoint's
    content, so a resumed run continues bit for bit.
    """

    def __init__(self, net: nn.Module, ds: Dataset | None, loss_fn: Loss, opt: Regularized, args: _Arguments,
                 lr: float, L: float | None, check: ParameterCheck, recorder: Any, *, tol: float | None,
                 on_divergence: Literal["raise", "stop"], stream: BatchStream | None = None,
                 progress: Callable[[int, int], Any] | None = None, schedule: StrengthScheduler | None = None) -> None:
        self.net, self.ds, self.loss_fn, self.opt = net, ds, loss_fn, opt
        self.steps, self.lr, self.L, self.tol, self.on_divergence = args.steps, lr, L, tol, on_divergence
        self.terms = args.terms
        self.check, self.recorder = check, recorder
        self.stream, self.progress, self.schedule = stream, progress, schedule
        self.run_log = RunLog()
        n_rows = 0 if ds is None else len(ds.X)
        self.batches = Batches(n_rows, args.batch_size, torch.Generator().manual_seed(args.seed + 1))
        self.log_every = args.log_every or log_every_for(args.steps)
        # the optimality measure stops a linear-family model with its canonical loss, trained full-batch
        self.use_kkt = (tol is not None and ds is not None and isinstance(net, LinearModel) and self.batches.full
                        and loss_fn.name == net.default_loss)
        w = None if ds is None else ds.sample_weight
        # a minibatch's loss: mean over the batch of (wᵢ / mean w)·ℓᵢ (full batch: the weighted mean)
        self.w_unit = None if w is None else w * (len(w) / w.sum())
        self.checkpoint: str | os.PathLike[str] | None = None
        self.checkpoint_every: int | None = None
        self.spec: dict[str, Any] = {}

    # -- logging: the one place a logged step is judged ------------------------------------------

    def log(self, step: int, data_loss: float) -> bool:
        """Append to the history; True when training should stop (converged, or diverged with ``"stop"``)."""
        penalty, finite = self.check.penalty_and_finite(self.opt)
        lr = float(self.opt.param_groups[0]["lr"])
        run = self.run_log
        if self.progress is not None:
            self.progress(step, self.steps)
        if run.append(step, data_loss, penalty, lr, parameters_finite=finite,
                      strength=[t.strength for t in self.opt.terms]):
            if self.on_divergence == "raise":
                assert run.first_objective is not None
                if self.ds is None:  # a data loader: no data in memory for the linear-problem advice
                    raise DivergenceError(f"Training diverged at step {step} with lr={lr:g}: the objective is not "
                                          "finite or above 10⁶ × its start. Lower the learning rate (by 10×, say).",
                                          step=step, lr=lr, max_stable_lr=None)
                raise divergence_error(step, run.history.objective[-1], run.first_objective, lr, self.net, self.ds,
                                       self.loss_fn, self.terms, self.L)
            return True
        if self.tol is None:
            return False
        violation = None
        if self.use_kkt:
            assert self.ds is not None
            violation = kkt_violation(self.net, self.opt, self.ds.X, self.ds.y, self.loss_fn, self.ds.sample_weight)
        return run.converged(self.tol, violation)

    # -- the two paths ---------------------------------------------------------------------------

    def run_fast(self, fast_path: LinearFastPath) -> int:
        """The fast path: same steps, history and status, no autograd. Returns the steps run."""
        return fast_path.run(self.opt.terms, self.opt.selections, self.lr, self.steps, self.log_every, self.log,
                             recorder=self.recorder)

    def run(self, start: int = 0) -> int:
        """The autograd loop from step ``start``; returns the steps run (the step it stopped at, or ``steps``)."""
        assert self.ds is not None
        X, y, w = self.ds.X, self.ds.y, self.ds.sample_weight
        is_lbfgs = self.opt.family == "lbfgs"
        for step in range(start, self.steps):
            if self.checkpoint_every is not None and step > start and step % self.checkpoint_every == 0:
                self.save_checkpoint(step)
            idx = self.batches.next()
            xb, yb = (X, y) if idx is None else (take_rows(X, idx), y[idx])
            if is_lbfgs:
                # the loss logged is the first closure value: the loss at the parameters before this step
                batch_loss = self._lbfgs_step(xb, yb, idx)
                if step % self.log_every == 0 and self.log(step, self._logged_loss(batch_loss, idx)):
                    return step
            else:
                self.opt.zero_grad()
                batch_loss = self._batch_loss(self.net(xb), yb, idx)
                batch_loss.backward()
                if step % self.log_every == 0 and self.log(step, self._logged_loss(batch_loss, idx)):
                    return step
                self._take_step(self.opt.step)
        self.log(self.steps, full_loss(self.net, self.loss_fn, X, y, w))
        return self.steps

    def run_stream(self) -> int:
        """The autograd loop over a data loader's batches; returns the steps run.

        The data loss logged at a logged step is the mean of the batch losses since the previous
        logged step (summed on the device: one host read per logged step); the last entry is the
        loss over one full pass of the loader at the final weights.
        """
        assert self.stream is not None
        is_lbfgs = self.opt.family == "lbfgs"
        since_log: Tensor | None = None
        n_since_log = 0
        for step in range(self.steps):
            xb, yb = self.stream.next()
            if is_lbfgs:
                batch_loss = self._lbfgs_step(xb, yb, None)
            else:
                self.opt.zero_grad()
                batch_loss = self.loss_fn(self.net(xb), yb)
                batch_loss.backward()
            since_log = batch_loss.detach() if since_log is None else since_log + batch_loss.detach()
            n_since_log += 1
            if step % self.log_every == 0:
                if self.log(step, float(since_log / n_since_log)):
                    return step
                since_log, n_since_log = None, 0
            if not is_lbfgs:
                self._take_step(self.opt.step)
        self.log(self.steps, self.epoch_loss())
        return self.steps

    @torch.no_grad()
    def epoch_loss(self) -> float:
        """The data loss over one full pass of the loader at the current weights: the mean over samples."""
        assert self.stream is not None
        total: Tensor | None = None
        n = 0
        for xb, yb in self.stream.one_epoch():
            part = self.loss_fn(self.net(xb), yb).to(torch.float64) * len(xb)
            total = part if total is None else total + part
            n += len(xb)
        assert total is not None
        return float(total / n)

    def _lbfgs_step(self, xb: Tensor, yb: Tensor, idx: Tensor | None) -> Tensor:
        """One L-BFGS step; returns the data loss of its first closure call."""
        first: list[Tensor] = []

        def closure() -> Tensor:
            self.opt.zero_grad()
            value = self._batch_loss(self.net(xb), yb, idx)
            value.backward()
            first.append(value.detach())
            return value

        self._take_step(lambda: self.opt.step(closure))
        return first[0]

    def _take_step(self, step_fn: Callable[[], Any]) -> Any:
        """One optimizer step, recorded by the recorder when there is one; then the λ schedule's step."""
        out = step_fn() if self.recorder is None else self.recorder.recorded_step(step_fn)
        if self.schedule is not None:
            self.schedule.step()
        return out

    def _batch_loss(self, output: Tensor, target: Tensor, idx: Tensor | None) -> Tensor:
        """The minibatch's loss: mean over the batch of (wᵢ / mean w)·ℓᵢ (full batch: the weighted mean)."""
        w = None if self.ds is None else self.ds.sample_weight
        if w is None or idx is None:
            return self.loss_fn(output, target, w)
        assert self.w_unit is not None
        return (self.loss_fn.per_sample(output, target) * self.w_unit[idx]).mean()

    def _logged_loss(self, batch_loss: Tensor, idx: Tensor | None) -> float:
        """The data loss the history logs: the batch's when it is the full batch, else the full loss."""
        if idx is None:
            return float(batch_loss.detach())
        assert self.ds is not None
        return full_loss(self.net, self.loss_fn, self.ds.X, self.ds.y, self.ds.sample_weight)

    # -- checkpoints -----------------------------------------------------------------------------

    def checkpoint_to(self, path: str | os.PathLike[str] | None, every: int | None, spec: dict[str, Any]) -> None:
        """Write a checkpoint to ``path`` every ``every`` steps; ``spec`` is what a resumed run must match."""
        self.checkpoint, self.checkpoint_every, self.spec = path, every, spec

    def state_dict(self, step: int) -> dict[str, Any]:
        """What a checkpoint before ``step`` holds (see :mod:`reglab.training.checkpoint`)."""
        return {
            "spec": self.spec, "step": step, "model": self.net.state_dict(), "optimizer": self.opt.state_dict(),
            "recorder": None if self.recorder is None else self.recorder.state_dict(),
            "history": self.run_log.history.to_dict(), **self.batches.state_dict(),
            "loop": self.run_log.state_dict(),
            "strength_schedule": None if self.schedule is None else self.schedule.state_dict(),
        }

    def save_checkpoint(self, step: int) -> None:
        assert self.checkpoint is not None
        ck.save_checkpoint(self.checkpoint, self.state_dict(step))
        hold_point("checkpoint")

    def resume(self, path: str | os.PathLike[str]) -> int:
        """Continue from the checkpoint at ``path``; returns the step to start from.

        Raises
        ------
        CheckpointError
            The file is bad, was written by a different run, or does not fit this one.
        """
        state = ck.load_checkpoint(path, map_location=next(iter(self.net.parameters())).device)
        ck.check_spec(path, state.get("spec", {}), self.spec)
        try:
            self.net.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            if self.recorder is not None:
                self.recorder.load_state_dict(state["recorder"])
            history = state["history"]
            self.batches.load_state_dict(state)
            self.run_log.load_state_dict(state["loop"], history)
            if self.schedule is not None:
                self.schedule.load_state_dict(state["strength_schedule"])
            return int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ck.CheckpointError(f"Checkpoint {str(path)!r} does not fit this run "
                                     f"({type(err).__name__}: {err}); start afresh.") from err
