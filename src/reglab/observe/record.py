"""Record what every weight does while a model trains: trajectories and per-tensor summaries.

A :class:`Recorder` hooks an optimizer's ``step`` (``register_step_pre_hook`` /
``register_step_post_hook``), so it works with any training loop of the user's own
(:func:`watch`); :func:`reglab.fit` drives it from its loop instead (``hooks=False``,
:meth:`Recorder.recorded_step`). At each *recorded* step it writes, into preallocated buffers and
by tensor indexing (no Python loop over weights):

- the value of every tracked weight, after that step's update (row 0 is the initial value w₀);
- optionally the tracked weights' *data-loss* gradient at those values (without the penalty's:
  :class:`~reglab.updates.Regularized` hands its inner step ``.grad + ∇pen`` out of place, as
  torch's weight decay does, so ``.grad`` still holds the data gradient after the step, where it
  is read with the values; for an optimizer that might change ``.grad`` it is read before the step);
- per parameter tensor: L2 norm, L1 norm, fraction of exact zeros, fraction of ``|w| < tol``, and
  the L2 norm of the update the step applied.

On the CPU one compiled call per recorded step does all of it, reading each weight once
(:mod:`reglab.observe._record_kernels`); elsewhere torch operations do.

On steps it does not record, the hooks only compare an integer: no tensor operation, no host sync.
Recorded rows stay on the parameters' device until :meth:`Recorder.trajectory` copies them out.

Which weights are tracked: every weight when the model has at most ``all_below`` scalars (10,000);
otherwise every element of the tensors named by ``track``, plus a seeded random sample of
``sample`` elements (1,000), plus every element a penalty term's mask names.

Which steps are recorded: 0, ``every``, 2·``every``, ... (default ``every``: at most about 1,000
snapshots over ``steps``), every one of the last ``tail`` steps (so that a period-2 oscillation
is visible whatever ``every`` is), and the final state.
"""

from __future__ import annotations

import fnmatch
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import numpy as np
import torch
from torch import Tensor, nn

from reglab.observe.trajectory import _NP, SUMMARY_FIELDS, Trajectory, _element_names
from reglab.penalties import ElasticNetParts
from reglab.updates import Regularized, optimizer_family
from reglab.updates.rules import RULES, AbstractRule

__all__ = ["Recorder", "watch"]


_MAX_SNAPSHOTS: Final = 1000


_DEFAULT_TAIL: Final = 50


_CHUNK: Final = 256  # elements per chunk of torch's summaries layout (each tensor padded to a multiple)


def _largest_below(tol: float, dtype: torch.dtype) -> float | None:
    """The largest ``dtype`` number below ``tol`` as ``dtype`` rounds it (None when that is 0).

    ``|w| > it`` ⇔ ``not |w| < tol`` for ``w`` of that dtype, which is how torch compares a
    tensor with a Python number (the number is cast to the tensor's dtype).
    """
    t = torch.tensor(tol, dtype=dtype)
    if not t > 0:
        return None
    return float(torch.nextafter(t, torch.zeros_like(t)))


def _as_patterns(track: str | Sequence[str] | None) -> list[str]:
    if track is None:
        return []
    if isinstance(track, str):
        return [track]
    if isinstance(track, Sequence) and all(isinstance(t, str) for t in track):
        return list(track)
    raise TypeError(f"track must be a parameter name, a glob or a list of them; got {track!r}.")


def _leaves_grads_alone(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step()`` leaves ``.grad`` as it found it: torch's own optimizers do (their
    weight decay is out of place), and so does :class:`~reglab.updates.Regularized` around one."""
    from reglab.updates import Regularized

    if isinstance(optimizer, Regularized):
        optimizer = optimizer.optimizer
    return type(optimizer).__module__.startswith("torch.optim.") and not isinstance(optimizer, torch.optim.LBFGS)


# The compiled reader's first use in a process costs about 1.2 s (Numba's import, its typing registries and
# the cached kernels' load: measured on a 2-vCPU machine); each recorded step it then reads saves about
# 130 µs plus 10 ns per weight against torch's reader (20 vs 156 µs for 11 weights, 218 vs 2283 µs for
# 200 960). ``reader="auto"`` takes it when a recorder's own planned steps would repay that first use. The
# choice depends on the recorder's arguments only, never on what the process did before: a run and its
# resumption read alike (their float32 norms would differ in rounding otherwise: the kernel sums in float64).
_COMPILED_FIRST_USE_S: Final = 1.2
_SAVED_PER_STEP_S: Final = 130e-6
_SAVED_PER_WEIGHT_S: Final = 10e-9


def _compiled_pays(n_weights: int, planned_steps: int | None) -> bool:
    """Whether a recorder of ``n_weights`` weights that plans ``planned_steps`` recorded steps (None: as many as
    the loop runs) repays the compiled reader's first use by its savings."""
    if planned_steps is None:
        return True
    return planned_steps * (_SAVED_PER_STEP_S + _SAVED_PER_WEIGHT_S * n_weights) >= _COMPILED_FIRST_USE_S


def _reader_for(params: list[Tensor], flat_idx: list[np.ndarray], dtype: torch.dtype, tol: float,
                summaries: bool, *, reader: str = "compiled",
                planned_steps: int | None = None) -> _TorchReader | _KernelReader:
    """The compiled CPU reader where it applies (one dtype, float32/64, contiguous) and ``reader`` asks for
    it (``"compiled"``, or ``"auto"`` when :func:`_compiled_pays` for ``planned_steps``), else torch's."""
    applies = (all(p.device.type == "cpu" and p.dtype == dtype and p.is_contiguous() for p in params)
               and dtype in (torch.float32, torch.float64))
    if applies and reader == "auto":
        reader = "compiled" if _compiled_pays(sum(p.numel() for p in params), planned_steps) else "torch"
    if applies and reader == "compiled":
        try:
            from reglab.observe import _record_kernels
        except ImportError:  # pragma: no cover - numba is a dependency; torch's reader still works
            return _TorchReader(params, flat_idx, dtype, tol, summaries)
        return _KernelReader(params, flat_idx, dtype, tol, summaries, _record_kernels)
    return _TorchReader(params, flat_idx, dtype, tol, summaries)


class _KernelReader:
    """Reads the tracked elements and the per-tensor summaries of CPU parameters with one compiled call.

    A recorded step costs one call (see :mod:`reglab.observe._record_kernels`) that reads each weight once
    and gathers the tracked gradients in the same call: no temporary tensor, no pass per summary
    field. The values before a step, for its update norm, are kept per tensor and updated in the
    same pass. What the call needs travels in one int64 array, filled here.
    """

    def __init__(self, params: list[Tensor], flat_idx: list[np.ndarray], dtype: torch.dtype, tol: float,
                 summaries: bool, kernels: Any) -> None:
        self._record, self._summarize_rows = kernels.record_at(_NP[dtype]), kernels.summarize_rows
        self._GRADS, self._VALUES = kernels.GRADS, kernels.VALUES
        self._SUMMARIZE, self._SUMMARIZE_DELTA = kernels.SUMMARIZE, kernels.SUMMARIZE | kernels.DELTA
        self._dtype = dtype
        self._tol = float(torch.tensor(tol, dtype=dtype))  # as a comparison in the weights' dtype rounds it
        P, W = len(params), sum(len(ix) for ix in flat_idx)
        self._P = P
        self._row_bytes, self._summ_row_bytes = W * np.dtype(_NP[dtype]).itemsize, len(SUMMARY_FIELDS) * P * 8
        self._kept = [torch.zeros(p.numel(), dtype=dtype) for p in params] if summaries else []
        meta = np.zeros(7 + 5 * P + W, dtype=np.int64)
        meta[0], meta[1] = P, W
        if summaries:
            meta[6 + 2 * P: 6 + 3 * P] = [t.data_ptr() for t in self._kept]
        meta[6 + 3 * P: 6 + 4 * P] = [p.numel() for p in params]
        self._bounds = np.cumsum([0, *[len(ix) for ix in flat_idx]])
        meta[6 + 4 * P: 7 + 5 * P] = self._bounds
        meta[7 + 5 * P:] = np.concatenate(flat_idx) if W else []
        # written per step through a memoryview (plain integer stores, no NumPy call), read by the
        # kernel at its address
        self._meta_view, self._meta_at = memoryview(meta), (meta.ctypes.data, meta.size)

    def _addresses(self, tensors: Sequence[Tensor | None], meta: memoryview, at: int, held: list[Tensor]) -> None:
        """``meta[at + i]``: where tensor i's elements lie, in its logical order and this dtype (0 for
        None). A tensor that is not contiguous in this dtype is read from a copy, kept in ``held``.
        (Looked up each time: a cache of the last step's tensors costs as many calls to check as it saves.)"""
        dtype = self._dtype
        for t in tensors:
            if t is None:
                meta[at] = 0
            else:
                if t.dtype is not dtype or not t.is_contiguous():
                    t = t.detach().to(dtype).contiguous()
                    held.append(t)
                meta[at] = t.data_ptr()
            at += 1

    def read(self, grads: Sequence[Tensor | None] | None, grad_row: int | None, values_row: int | None,
             grads_buf: Tensor | None, values_buf: Tensor, summ: Tensor | None, delta: bool,
             params: Sequence[Tensor] = ()) -> None:
        meta, P, held = self._meta_view, self._P, []  # held: contiguous copies, alive until the call returns
        flags = 0
        if grad_row is not None:
            assert grads is not None and grads_buf is not None
            flags = self._GRADS
            meta[3] = grads_buf.data_ptr() + grad_row * self._row_bytes
            self._addresses(grads, meta, 6, held)
        if values_row is not None:
            flags |= self._VALUES
            meta[4] = values_buf.data_ptr() + values_row * self._row_bytes
            if summ is not None:
                flags |= self._SUMMARIZE_DELTA if delta else self._SUMMARIZE
                meta[5] = summ.data_ptr() + values_row * self._summ_row_bytes
            self._addresses(params, meta, 6 + P, held)
        meta[2] = flags
        self._record(*self._meta_at, self._tol)

    def keep_prev(self, params: Sequence[Tensor]) -> None:
        torch._foreach_copy_(self._kept, [p.detach().reshape(-1) for p in params])

    def summarize_rows(self, values: Tensor, out: Tensor) -> None:
        """``out[r]`` = the summaries of ``values[r + 1]`` (every weight), update norm against ``values[r]``."""
        self._summarize_rows(values.numpy(), out.numpy(), self._bounds, self._tol)

    def kept(self) -> list[Tensor]:
        return [t.clone() for t in self._kept]

    def restore(self, kept: Sequence[Tensor]) -> None:
        for dst, src in zip(self._kept, kept):
            dst.copy_(src.reshape(-1))


class _TorchReader:
    """Reads the tracked elements and the per-tensor summaries with torch operations: any device,
    dtype and memory layout, and no host transfer.

    All parameters live in a chunked flat layout (each tensor starts at a multiple of ``_CHUNK``,
    zero padding). Tracked elements: one multi-tensor copy into a flat buffer and one index_select.
    Summaries: one elementwise pass per field into a work matrix, one reduction over every field
    and tensor, one small index_add that adds each tensor's chunks. Two flat copies are used in
    turn, so the previous recorded state is at hand when consecutive steps are recorded.
    """

    def __init__(self, params: list[Tensor], flat_idx: list[np.ndarray], dtype: torch.dtype, tol: float,
                 summaries: bool) -> None:
        dev = params[0].device
        self._params = params
        sizes = [p.numel() for p in params]
        self._sizes = sizes
        padded = [-(-n // _CHUNK) * _CHUNK for n in sizes]
        starts = np.cumsum([0, *padded])
        n_pad = int(starts[-1])
        self._index = torch.as_tensor(np.concatenate([starts[i] + ix for i, ix in enumerate(flat_idx)]),
                                      dtype=torch.long, device=dev)
        self._staging = torch.zeros(n_pad, dtype=dtype, device=dev)
        self._flats = [torch.zeros(n_pad, dtype=dtype, device=dev) for _ in range(2 if summaries else 0)]
        self._regions = {id(buf): [buf[a:a + n].view(p.shape) for a, n, p in zip(starts, sizes, params)]
                         for buf in [self._staging, *self._flats]}
        if summaries:
            n_chunks = n_pad // _CHUNK
            # rows: w², |w|, 1[w ≠ 0], 1[|w| ≥ tol], (Δw)²
            self._work = torch.zeros(len(SUMMARY_FIELDS), n_pad, dtype=dtype, device=dev)
            self._work_chunks = self._work.view(len(SUMMARY_FIELDS), n_chunks, _CHUNK)
            owner = np.repeat(np.arange(len(sizes)), [p // _CHUNK for p in padded])
            self._chunk_owner = torch.as_tensor(owner, dtype=torch.long, device=dev)  # chunk → its tensor
            self._no_sums = torch.zeros(len(SUMMARY_FIELDS), len(sizes), dtype=dtype, device=dev)
            self._chunk_sums = torch.empty(len(SUMMARY_FIELDS), n_chunks, dtype=dtype, device=dev)
            self._per_tensor = torch.empty(len(SUMMARY_FIELDS), len(sizes), dtype=dtype, device=dev)
            self._small_below = _largest_below(tol, dtype)
            self._sizes_t = torch.tensor(sizes, dtype=dtype, device=dev)

    # the copies run under no_grad instead of detaching each tensor: one multi-tensor op, no per-tensor view
    @torch.no_grad()
    def _copy_into(self, buf: Tensor, params: Sequence[Tensor]) -> None:
        torch._foreach_copy_(self._regions[id(buf)], list(params))

    @torch.no_grad()
    def gather(self, tensors: Sequence[Tensor | None], buf: Tensor, row: int) -> None:
        """Tracked elements of ``tensors`` (one per parameter; None reads as zeros) into ``buf[row]``."""
        regions = self._regions[id(self._staging)]
        if all(t is not None for t in tensors):
            torch._foreach_copy_(regions, list(tensors))
        else:
            have = [(r, t) for r, t in zip(regions, tensors) if t is not None]
            torch._foreach_zero_([r for r, t in zip(regions, tensors) if t is None])
            if have:
                torch._foreach_copy_([r for r, _ in have], [t for _, t in have])
        torch.index_select(self._staging, 0, self._index, out=buf[row])

    def read(self, grads: Sequence[Tensor | None] | None, grad_row: int | None, values_row: int | None,
             grads_buf: Tensor | None, values_buf: Tensor, summ: Tensor | None, delta: bool,
             params: Sequence[Tensor] = ()) -> None:
        if grad_row is not None:
            assert grads is not None and grads_buf is not None
            self.gather(grads, grads_buf, grad_row)
        if values_row is not None:
            self.snapshot(params, values_buf, values_row, summ, delta)

    def keep_prev(self, params: Sequence[Tensor]) -> None:
        self._copy_into(self._flats[1], params)

    def snapshot(self, params: Sequence[Tensor], values: Tensor, row: int, summ: Tensor | None, delta: bool) -> None:
        if summ is None:
            self.gather(params, values, row)
            return
        flat, prev = self._flats
        self._copy_into(flat, params)
        torch.index_select(flat, 0, self._index, out=values[row])
        self._record_summaries_(flat, prev if delta else None, summ[row])
        self._flats.reverse()  # this state is the next step's previous one

    def _record_summaries_(self, flat: Tensor, prev: Tensor | None, out: Tensor) -> None:
        """Raw per-tensor summaries of ``flat`` into ``out`` (float64, shape (5·P,), field-major):
        Σw², Σ|w|, count of w ≠ 0, count of |w| ≥ tol, Σ(w − prev)² (left as it is when ``prev``
        is None)."""
        sq, a, nonzero, large, dsq = self._work.unbind(0)
        torch.mul(flat, flat, out=sq)
        torch.abs(flat, out=a)
        torch.sign(a, out=nonzero)
        if self._small_below is not None:  # |w| > the largest number below tol ⇔ |w| ≥ tol: 1, else 0
            torch.hardshrink(a, self._small_below, out=large).sign_()
        else:  # tol is 0 in this dtype: every |w| is ≥ it (padding included, so count by sizes below)
            large.fill_(0.0)
        fields = len(SUMMARY_FIELDS) if prev is not None else len(SUMMARY_FIELDS) - 1
        if prev is not None:
            torch.sub(flat, prev, out=dsq).square_()
        sums = torch.sum(self._work_chunks[:fields], dim=2, out=self._chunk_sums[:fields])  # (fields, chunks)
        # chunk sums added per tensor (an index_add, not a product with a 0/1 matrix: a NaN in one
        # tensor stays in that tensor's summaries)
        per_tensor = torch.index_add(self._no_sums[:fields], 1, self._chunk_owner, sums,
                                     out=self._per_tensor[:fields])
        if self._small_below is None:
            per_tensor[3].copy_(self._sizes_t)
        P = len(self._params)
        out[: fields * P].view(fields, P).copy_(per_tensor)

    def summarize_rows(self, values: Tensor, out: Tensor) -> None:
        """``out[r]`` = the summaries of ``values[r + 1]`` (every weight), update norm against
        ``values[r]``: each row as a recorded step summarizes the parameters."""
        def as_params(row: Tensor) -> list[Tensor]:
            return [v.view(p.shape) for v, p in zip(row.split(self._sizes), self._params)]

        flat, prev = self._flats
        self._copy_into(prev, as_params(values[0]))
        for r in range(out.shape[0]):
            self._copy_into(flat, as_params(values[r + 1]))
            self._record_summaries_(flat, prev, out[r])
            flat, prev = prev, flat

    def kept(self) -> list[Tensor]:
        regions = self._regions[id(self._flats[1])] if self._flats else []
        return [r.reshape(-1).clone() for r in regions]

    def restore(self, kept: Sequence[Tensor]) -> None:
        if self._flats:
            for r, src in zip(self._regions[id(self._flats[1])], kept):
                r.copy_(src.reshape(r.shape))


class Recorder:
    """Record tracked weights' values and data gradients, and per-tensor summaries, through step hooks.

    Parameters
    ----------
    model : nn.Module
        Where parameter names come from.
    optimizer : torch.optim.Optimizer
        Any optimizer over ``model``'s parameters; :class:`reglab.Regularized` or a plain torch one.
    steps : int, optional
        Planned number of steps (sizes the buffers and the default ``every``). Unknown: buffers grow.
    every : int, optional
        Record every this many steps. Default ``ceil(steps / 1000)`` (1 when ``steps`` is unknown).
    track : str or list of str, optional
        Parameter names or globs whose every element is tracked when the model is large.
    sample : int
        Size of the seeded random sample of further elements tracked when the model is large.
    all_below : int
        Track every weight when the model has at most this many scalars.
    seed : int
        Seeds the sample.
    grads : bool
        Record the data-loss gradient of tracked weights.
    summaries : bool
        Record per-tensor norms, zero fractions and update norms.
    tol : float
        ``|w| < tol`` counts as small in the summaries.
    tail : int, optional
        Also record each of the last ``tail`` steps (default 50; needs ``steps``).
    hooks : bool
        Record through step hooks registered on ``optimizer`` (default). ``False``: the training
        loop records each step itself with :meth:`recorded_step`, as :func:`reglab.fit` does,
        which spares every step torch's hook wrapper.
    reader : {"auto", "compiled", "torch"}
        How CPU parameters are read: ``"compiled"`` by one Numba kernel call per recorded step (about
        a second to load on first use in a process, then the cheapest per step), ``"torch"`` by torch
        operations (any device; what GPU parameters always use). ``"auto"`` (default) takes the
        compiled reader when ``steps`` is None (open-ended) or when this recorder's planned recorded
        steps repay its first use (about 9000 steps for a small model, 560 for 200 000 weights); the
        choice depends on these arguments only. Both record the same values and gradients; float32
        norms agree to rounding (the compiled reader sums in float64).

    Attributes
    ----------
    reader : {"compiled", "torch"}
        The reader this recorder uses (what ``reader="auto"`` chose; always ``"torch"`` off the CPU).
    hook_seconds : float
        Wall time spent recording so far (inside :meth:`record_pre_step` and
        :meth:`record_post_step`, which the hooks or the loop call): its own cost, measured where
        it is paid (host time; on a GPU, the time to launch its kernels).

    Examples
    --------
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> rec = Recorder(model, opt, steps=5)
    >>> for _ in range(5):
    ...     opt.zero_grad(); model(torch.ones(2, 3)).sum().backward(); opt.step()
    >>> rec.close().trajectory().values.shape
    (6, 4)
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        steps: int | None = None,
        every: int | None = None,
        track: str | Sequence[str] | None = None,
        sample: int = 1000,
        all_below: int = 10_000,
        seed: int = 0,
        grads: bool = True,
        summaries: bool = True,
        tol: float = 1e-6,
        tail: int | None = None,
        hooks: bool = True,
        reader: Literal["auto", "compiled", "torch"] = "auto",
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module; got {type(model).__name__}.")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}.")
        for value, what in ((steps, "steps"), (every, "every"), (tail, "tail")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
                raise ValueError(f"{what} must be a non-negative integer or None; got {value!r}.")
        if every is not None and every < 1:
            raise ValueError(f"every must be ≥ 1; got {every}.")
        for value, what in ((sample, "sample"), (all_below, "all_below"), (seed, "seed")):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{what} must be a non-negative integer; got {value!r}.")
        if not (isinstance(tol, (int, float)) and tol >= 0):
            raise ValueError(f"tol must be a non-negative number; got {tol!r}.")
        if reader not in ("auto", "compiled", "torch"):
            raise ValueError(f"reader must be 'auto', 'compiled' or 'torch'; got {reader!r}.")
        self.model, self.optimizer = model, optimizer
        self.steps = None if steps is None else int(steps)
        self.every = int(every) if every is not None else (
            1 if self.steps is None else max(1, math.ceil(self.steps / _MAX_SNAPSHOTS)))
        self.tail = int(tail) if tail is not None else _DEFAULT_TAIL
        self.seed, self.tol = int(seed), float(tol)
        self.record_grads, self.record_summaries = bool(grads), bool(summaries)
        self.family = _family(optimizer)
        if self.family == "lbfgs" and not hooks:
            # .grad seen around an L-BFGS step comes from its line search, penalty included; through the
            # hooks the closure is wrapped instead, and its first call gives the data-loss gradient
            self.record_grads = False

        owned = {id(p) for g in optimizer.param_groups for p in g["params"]}
        named = [(n, p) for n, p in model.named_parameters() if p.is_floating_point() and id(p) in owned]
        if not named:
            raise ValueError("The optimizer updates none of the model's floating-point parameters; nothing to record.")
        self.tensor_names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._sizes = [p.numel() for p in self._params]
        self._n_all = sum(self._sizes)
        device = self._params[0].device
        dtype = self._params[0].dtype
        for p in self._params[1:]:
            dtype = torch.promote_types(dtype, p.dtype)
        self.device, self.dtype = device, dtype

        # which elements: flat indices per tensor, sorted
        self._flat_idx = self._choose(named, _as_patterns(track), int(sample), int(all_below))
        self._all = self._n_all <= all_below
        self.n_tracked = sum(len(ix) for ix in self._flat_idx)

        # schedule
        self._planned: set[int] = set()
        if self.steps is not None:
            self._planned = set(range(0, self.steps + 1, self.every))
            self._planned.update(range(max(0, self.steps - self.tail), self.steps + 1))
        capacity = len(self._planned) + 1 if self._planned else 64
        self._values = torch.empty(capacity, self.n_tracked, dtype=dtype, device=device)
        self._grads = (torch.full((capacity, self.n_tracked), math.nan, dtype=dtype, device=device)
                       if self.record_grads else None)
        # per-tensor summaries, raw and field-major per row (float64):
        # [Σw² | Σ|w| | count w ≠ 0 | count |w| ≥ tol | Σ(Δw)²], P each
        self._summ = (torch.full((capacity, len(SUMMARY_FIELDS) * len(self._params)), math.nan,
                                 dtype=torch.float64, device=device) if self.record_summaries else None)
        self._reader = _reader_for(self._params, self._flat_idx, dtype, self.tol, self.record_summaries,
                                   reader=reader, planned_steps=len(self._planned) or None)
        self.reader = "compiled" if isinstance(self._reader, _KernelReader) else "torch"
        # Where the data-loss gradient is read: after the step (one pass with the snapshot) when the
        # optimizer leaves .grad as it found it, as torch's optimizers and Regularized do; else
        # before it. After the step, a version check catches an optimizer (or a hook) that changed it.
        self._grads_after = self.record_grads and _leaves_grads_alone(optimizer)
        self._marks: list[tuple[Tensor | None, int]] | None = None
        self._steps: list[int] = []
        self._last = -1  # the last recorded step
        self._prev_step: int | None = None  # the step whose values the reader keeps, for the next update norm
        self._count = 0
        self._closed = False
        self._cached: Trajectory | None = None
        self.hook_seconds = 0.0  # time spent recording (host time: kernel launches on a GPU)
        self._weights = self._weight_facts()
        self._handles = [optimizer.register_step_pre_hook(self._pre_step),
                         optimizer.register_step_post_hook(self._post_step)] if hooks else []
        self._snapshot(0)
        self._plan_pre_step()

    # -- what is tracked -----------------------------------------------------------------------------
    def _choose(self, named: list[tuple[str, Tensor]], patterns: list[str], sample: int,
                all_below: int) -> list[np.ndarray]:
        if self._n_all <= all_below:
            return [np.arange(n, dtype=np.int64) for n in self._sizes]
        chosen = [np.zeros(n, dtype=bool) for n in self._sizes]
        position = {id(p): i for i, (_, p) in enumerate(named)}
        for i, (name, _) in enumerate(named):
            if any(fnmatch.fnmatchcase(name, pat) for pat in patterns):
                chosen[i][:] = True
        unmatched = [pat for pat in patterns if not any(fnmatch.fnmatchcase(n, pat) for n, _ in named)]
        if unmatched:
            raise ValueError(f"track={unmatched} matches no parameter; parameters are {', '.join(self.tensor_names)}.")
        for sel in getattr(self.optimizer, "selections", []):
            for s in sel:
                if s.mask is not None and id(s.param) in position:
                    chosen[position[id(s.param)]] |= s.mask.detach().reshape(-1).cpu().numpy()
        rng = np.random.default_rng(self.seed)
        if sample:
            flat_chosen = np.concatenate(chosen)
            free = self._n_all - int(flat_chosen.sum())
            k = min(sample, free)
            if k:
                # draw from the elements not yet chosen, without replacement
                picks = rng.choice(free, size=k, replace=False)
                free_idx = np.flatnonzero(~flat_chosen)[picks]
                flat_chosen[free_idx] = True
                chosen = np.split(flat_chosen, np.cumsum(self._sizes)[:-1])
        return [np.flatnonzero(c).astype(np.int64) for c in chosen]

    def _weight_facts(self) -> dict[str, np.ndarray]:
        """Per tracked weight: lr, total L2 and L1 strength, and the penalty's own shrink factor per step.

        The strengths are the terms' parts (:meth:`~reglab.penalties.AbstractPenalty.acting_on`, per-element
        weights included); how an L2 part shrinks a weight in one step is its rule's (``l2_shrink``).
        The theory rate is NaN where the weight has an L1 part, no L2 part, an L2 part whose rule
        gives no plain geometric shrink, or a penalty outside the elastic-net family.
        """
        W = self.n_tracked
        lr = np.empty(W)
        l2 = np.zeros(W)
        l1 = np.zeros(W)
        shrink = {"subtract": np.zeros(W), "divide": np.zeros(W)}
        no_theory = np.zeros(W, dtype=bool)
        starts = np.cumsum([0, *[len(ix) for ix in self._flat_idx]])
        column = {id(p): (i, starts[i], starts[i + 1]) for i, p in enumerate(self._params)}

        def add_l2(rule: AbstractRule, where: slice, hit: np.ndarray, values: np.ndarray) -> None:
            l2[where][hit] += values
            how = rule.l2_shrink(self.family)
            if how is None:
                no_theory[where][hit] |= values != 0
            else:
                shrink[how][where][hit] += values

        groups = self.optimizer.param_groups
        for g in groups:
            for p in g["params"]:
                if id(p) in column:
                    _, a, b = column[id(p)]
                    lr[a:b] = float(g.get("lr", math.nan))
                    # a plain torch optimizer's own weight decay: SGD adds wd·w to the gradient (L2 of
                    # strength wd/2 by rule gradient), AdamW decays w ← w − lr·wd·w (rule decoupled)
                    wd = float(g.get("weight_decay", 0.0) or 0.0)
                    if wd and type(self.optimizer) in (torch.optim.SGD, torch.optim.AdamW, torch.optim.Adam):
                        rule = RULES["decoupled" if isinstance(self.optimizer, torch.optim.AdamW) else "gradient"]
                        add_l2(rule, slice(a, b), np.ones(b - a, dtype=bool), np.full(b - a, wd / 2.0))
        if isinstance(self.optimizer, Regularized):
            # the decoupled rule steps by decay_steps(), not by the lr: its L2 part counts as λ·step/lr
            # (1 where the step is the lr, a zero lr included)
            step_over_lr = [1.0 if s == float(g["lr"]) else s / float(g["lr"])
                            for s, g in zip(self.optimizer.decay_steps(), groups)]
            group_of = {id(p): k for k, g in enumerate(groups) for p in g["params"]}
            for term, sel, ops in zip(self.optimizer.terms, self.optimizer.selections, self.optimizer.ops):
                rule = RULES[term.update]
                for s, op in zip(sel, ops):
                    if id(s.param) not in column:
                        continue
                    i, a, b = column[id(s.param)]
                    hit = np.ones(b - a, dtype=bool) if s.mask is None else \
                        s.mask.detach().reshape(-1).cpu().numpy()[self._flat_idx[i]]
                    if not isinstance(op, ElasticNetParts):  # outside the family: no parts to read
                        no_theory[a:b][hit] = True
                        continue
                    for lam, is_l1 in ((op.l1, True), (op.l2, False)):
                        if lam is None:
                            continue
                        values = (np.full(b - a, float(lam)) if not isinstance(lam, Tensor) else
                                  lam.detach().to(torch.float64).reshape(-1).cpu().numpy()[self._flat_idx[i]])[hit]
                        if is_l1:
                            l1[a:b][hit] += values
                        else:
                            scale = step_over_lr[group_of[id(s.param)]] if rule.name == "decoupled" else 1.0
                            add_l2(rule, slice(a, b), hit, values * scale)
        # the factor the penalty alone applies per step where it is a plain geometric shrink
        theory = np.full(W, math.nan)
        ok = (l1 == 0) & (l2 > 0) & ~no_theory
        theory[ok] = ((1.0 - 2.0 * lr * shrink["subtract"]) / (1.0 + 2.0 * lr * shrink["divide"]))[ok]
        return {"lr": lr, "l2": l2, "l1": l1, "theory_rate": theory}

    # -- the hooks -----------------------------------------------------------------------------------
    def _wanted(self, step: int) -> bool:
        if self._planned and (self.steps is None or step <= self.steps):
            return step in self._planned
        return step % self.every == 0

    def _pre_step(self, optimizer: Any, args: Any, kwargs: Any) -> tuple[Any, Any] | None:
        # torch's hook wrapper passes step()'s own args: (optimizer, closure?) and kwargs
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)
        if closure is not None:
            # opt.step(closure) (Lightning always steps so, L-BFGS must): the gradient at these weights
            # exists only once the step has called the closure, so the closure is wrapped to read it
            # then, on its first call (L-BFGS calls it again at trial points)
            self.record_pre_step()
            wrapped = self._reading_closure(closure)
            if "closure" in kwargs:
                return args, {**kwargs, "closure": wrapped}
            return (args[0], wrapped, *args[2:]), kwargs
        if self._grads_after:
            if self._grads is not None and self._last == self._count:  # read after the step: mark them
                self._marks = [(g, -1 if g is None else g._version) for g in (p.grad for p in self._params)]
            self.record_pre_step()
        else:
            self.record_pre_step([p.grad for p in self._params])

    def _reading_closure(self, closure: Callable[[], Any]) -> Callable[[], Any]:
        """``closure``, reading the parameters' gradients (the data loss's, at the pre-step weights)
        right after its first call when this step's gradient is due."""
        first = True

        def read_after_first_call() -> Any:
            nonlocal first
            loss = closure()
            if first:
                first = False
                if self._grads is not None:
                    self.record_pre_step([p.grad for p in self._params])
            return loss

        return read_after_first_call

    def _post_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        grads, marks = None, self._marks
        if marks is not None:
            self._marks = None
            grads = [p.grad for p in self._params]
            if any(g is not m or (g is not None and g._version != v) for g, (m, v) in zip(grads, marks)):
                self._grads_after, grads = False, None
                warnings.warn(
                    f"{type(optimizer).__name__}.step (or a step hook) changed .grad in place at step "
                    f"{self._count + 1}, so the data-loss gradient at step {self._count} was not recorded "
                    "(its row stays NaN); from now on the recorder reads it before each step.",
                    RuntimeWarning, stacklevel=2)
        self.record_post_step(grads)

    # -- driven by the training loop itself (reglab.fit, and its fast path without the optimizer) ------
    def recorded_step(self, step: Callable[[], Any]) -> Any:
        """Take one optimizer step by calling ``step()`` and record it as the step hooks would.

        For a recorder built with ``hooks=False``. Returns what ``step()`` returns.

        Examples
        --------
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> rec = Recorder(model, opt, steps=2, hooks=False)
        >>> for _ in range(2):
        ...     opt.zero_grad(); model(torch.ones(2, 3)).sum().backward(); rec.recorded_step(opt.step)
        >>> rec.close().trajectory().steps.tolist()
        [0, 1, 2]
        """
        grads_due = self._grads is not None and self._last == self._count
        before = grads_due and not self._grads_after
        if before or self._pre_due:
            self.record_pre_step([p.grad for p in self._params] if before else None)
        out = step()
        self.record_post_step([p.grad for p in self._params] if grads_due and not before else None)
        return out

    @property
    def parameters(self) -> list[Tensor]:
        """The parameters recorded, in the order :meth:`record_pre_step` takes their gradients."""
        return list(self._params)

    def needs_pre_step(self) -> bool:
        """Whether :meth:`record_pre_step` without gradients has work before the coming step."""
        return self._pre_due

    def _plan_pre_step(self) -> None:
        """Whether the coming step is recorded, its predecessor was not, and its values are not kept yet."""
        k = self._count
        self._pre_due = (self._summ is not None and self._last != k and self._prev_step != k
                         and self._wanted(k + 1))

    def record_pre_step(self, grads: Sequence[Tensor | None] | None = None,
                        values: Sequence[Tensor] | None = None) -> None:
        """Before a step: keep the parameters' values when the step is recorded and its predecessor
        was not (for the update norm), and read ``grads`` now if given and due.

        ``grads``: the data-loss gradient, one per parameter in :attr:`parameters` order (None for
        none, read as zeros); give it here when the step will change it, else to
        :meth:`record_post_step`. ``values``: the parameters' values, shaped like them, when the
        parameters themselves do not hold them (reglab's fast path keeps them elsewhere).
        """
        t0 = time.perf_counter()
        k = self._count
        if grads is not None and self._grads is not None and self._last == k:
            self._reader.read(grads, len(self._steps) - 1, None, self._grads, self._values, self._summ, False)
        if self._pre_due:
            self._reader.keep_prev(self._params if values is None else values)
            self._prev_step = k
            self._pre_due = False
        self.hook_seconds += time.perf_counter() - t0

    def record_post_step(self, grads: Sequence[Tensor | None] | None = None,
                         values: Sequence[Tensor] | None = None) -> None:
        """After a step: read ``grads`` if given and due, count the step, and snapshot it if due.

        ``grads``: the data-loss gradient the step used (at the parameters before it), unchanged by
        the step; ``values``: the parameters' values after it, if they are not in the parameters
        (see :meth:`record_pre_step`).
        """
        t0 = time.perf_counter()
        k = self._count
        self._count = k + 1
        grad_row = len(self._steps) - 1 if grads is not None and self._grads is not None and self._last == k else None
        if self._wanted(k + 1):
            self._snapshot(k + 1, grads, grad_row, values)
        elif grad_row is not None:
            self._reader.read(grads, grad_row, None, self._grads, self._values, self._summ, False)
        self._plan_pre_step()
        self.hook_seconds += time.perf_counter() - t0

    # -- rows the training loop writes itself (reglab's linear fast path) ------------------------------
    def rows_ahead(self, steps: int) -> tuple[Tensor, Tensor | None] | None:
        """The buffer rows of the coming ``steps`` steps, for a loop that writes them itself; or None.

        Given when every weight is tracked, the current step is recorded and so is each of the
        coming ``steps``: a loop can then write each step's values and data-loss gradient straight
        into the recorder's buffers, with no call per step, and say how many steps it ran with
        :meth:`commit_rows` (which computes their per-tensor summaries from the rows).

        Returns
        -------
        (values, grads) : Tensor of shape (steps + 1, n_tracked), and the same or None
            Views of the buffers. ``values[0]`` holds the current values (recorded); the loop writes
            the values after its step ``s`` (0-based) into ``values[s + 1]``, and the data-loss
            gradient at the values before it into ``grads[s]``. Elements are in the order of
            :attr:`parameters`, each tensor flattened (row-major). ``grads`` is None when
            gradients are not recorded.
        """
        k = self._count
        if (self._closed or not self._all or self._last != k
                or not all(self._wanted(s) for s in range(k + 1, k + steps + 1))):
            return None
        row = len(self._steps) - 1
        while row + steps + 1 > self._values.shape[0]:
            self._grow()
        rows = slice(row, row + steps + 1)
        return self._values[rows], None if self._grads is None else self._grads[rows]

    def commit_rows(self, steps: int) -> None:
        """Count ``steps`` steps written into the rows of :meth:`rows_ahead`, and summarize them."""
        t0 = time.perf_counter()
        k, row = self._count, len(self._steps) - 1
        self._steps.extend(range(k + 1, k + steps + 1))
        self._count = self._last = k + steps
        if self._summ is not None and steps:
            self._reader.summarize_rows(self._values[row: row + steps + 1], self._summ[row + 1: row + steps + 1])
            sizes = self._sizes
            self._reader.restore(list(self._values[row + steps].split(sizes)))
            self._prev_step = k + steps
        self._plan_pre_step()
        self.hook_seconds += time.perf_counter() - t0

    def _snapshot(self, step: int, grads: Sequence[Tensor | None] | None = None, grad_row: int | None = None,
                  values: Sequence[Tensor] | None = None) -> None:
        """Record row ``len(self._steps)``: the tracked values (of the parameters, or ``values``) and
        the per-tensor summaries, and in the same call ``grads`` into row ``grad_row`` of the gradients."""
        row = len(self._steps)
        if row >= self._values.shape[0]:
            self._grow()
        self._steps.append(step)
        self._last = step
        self._reader.read(grads, grad_row, row, self._grads, self._values, self._summ, self._prev_step == step - 1,
                          self._params if values is None else values)
        self._prev_step = step

    def _grow(self) -> None:
        extra = max(64, self._values.shape[0])

        def grown(buf: Tensor, fill: float) -> Tensor:
            pad = torch.full((extra, *buf.shape[1:]), fill, dtype=buf.dtype, device=buf.device)
            return torch.cat([buf, pad])

        self._values = grown(self._values, math.nan)
        if self._grads is not None:
            self._grads = grown(self._grads, math.nan)
        if self._summ is not None:
            self._summ = grown(self._summ, math.nan)

    # -- checkpoints ---------------------------------------------------------------------------------
    _BUFFERS: Final = ("_values", "_grads", "_summ")

    def state_dict(self) -> dict[str, Any]:
        """The recorder's buffers and counters, as tensors and primitives (for ``fit``'s checkpoints).

        Restoring it with :meth:`load_state_dict` into a recorder built with the same options over
        the same model continues the recording exactly where it stopped.
        """
        if self._closed:
            raise ValueError("This recorder is closed; take its state before close().")
        state: dict[str, Any] = {"count": self._count, "steps": list(self._steps), "prev_step": self._prev_step,
                                 "grads_after": self._grads_after, "n_tracked": self.n_tracked,
                                 "every": self.every, "kept": self._reader.kept()}
        for name in self._BUFFERS:
            buf = getattr(self, name)
            if buf is not None:
                state[name.lstrip("_")] = buf.clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (same model, same options)."""
        if state.get("n_tracked") != self.n_tracked or state.get("every") != self.every:
            raise ValueError("The saved recorder state does not match this recorder (other model or options).")
        for name in self._BUFFERS:
            if getattr(self, name) is not None:
                setattr(self, name, state[name.lstrip("_")].clone())
        self._reader.restore(state["kept"])
        self._count = int(state["count"])
        self._steps = [int(s) for s in state["steps"]]
        self._last = self._steps[-1] if self._steps else -1
        self._prev_step = None if state["prev_step"] is None else int(state["prev_step"])
        self._grads_after = bool(state["grads_after"])
        self._plan_pre_step()
        self._cached = None

    # -- results -------------------------------------------------------------------------------------
    def close(self) -> Recorder:
        """Record the final state (if its step was not recorded) and detach the hooks."""
        if not self._closed:
            if self._last != self._count:
                self._snapshot(self._count)
            for h in self._handles:
                h.remove()
            self._closed = True
        return self

    @property
    def step_count(self) -> int:
        """Optimizer steps seen so far."""
        return self._count

    def trajectory(self) -> Trajectory:
        """What was recorded so far, copied to host memory (NumPy); built once after :meth:`close`."""
        if self._closed and self._cached is not None:
            return self._cached
        T = len(self._steps)
        names = self._names()
        traj = Trajectory(
            steps=np.asarray(self._steps, dtype=np.int64),
            names=names,
            values=self._values[:T].cpu().numpy().copy(),
            grads=None if self._grads is None else self._grads[:T].cpu().numpy().copy(),
            tensor_names=list(self.tensor_names),
            summaries=self._summaries(T),
            weights={k: v.copy() for k, v in self._weights.items()},
            meta={"every": self.every, "tail": self.tail, "seed": self.seed, "tol": self.tol,
                  "optimizer": type(getattr(self.optimizer, "optimizer", self.optimizer)).__name__,
                  "family": self.family, "dtype": str(self.dtype).removeprefix("torch."),
                  "all_tracked": self._all, "n_parameters": self._n_all},
        )
        if self._closed:
            self._cached = traj
        return traj

    def _summaries(self, T: int) -> np.ndarray | None:
        if self._summ is None:
            return None
        sizes = np.asarray(self._sizes, dtype=np.float64)
        raw = self._summ[:T].cpu().numpy().reshape(T, len(SUMMARY_FIELDS), len(self._params))
        l2, l1, nonzero, large, upd = np.sqrt(raw[:, 0]), raw[:, 1], raw[:, 2], raw[:, 3], np.sqrt(raw[:, 4])
        frac_zero, frac_small = (sizes - nonzero) / sizes, (sizes - large) / sizes  # counts are exact integers
        # a tensor holding NaN (Σ|w| is NaN only then) has no meaningful fractions
        frac_zero[np.isnan(l1)] = frac_small[np.isnan(l1)] = np.nan
        # (T, P, SUMMARY_FIELDS)
        return np.stack([l2, l1, frac_zero, frac_small, upd], axis=2)

    def _names(self) -> list[str]:
        if not hasattr(self, "_name_cache"):
            out: list[str] = []
            for name, p, ix in zip(self.tensor_names, self._params, self._flat_idx):
                out.extend(_element_names(name, tuple(p.shape), ix))
            self._name_cache = out
        return self._name_cache

    def __repr__(self) -> str:
        return (f"Recorder({self.n_tracked} weights of {self._n_all}, every={self.every}, "
                f"{len(self._steps)} snapshots, {'closed' if self._closed else 'open'})")


def _family(optimizer: torch.optim.Optimizer) -> str:
    return optimizer.family if isinstance(optimizer, Regularized) else optimizer_family(optimizer)


def watch(model: nn.Module, optimizer: torch.optim.Optimizer, **options: Any) -> Recorder:
    """Record ``model``'s weights on every step of ``optimizer`` in a training loop of your own.

    Parameters
    ----------
    model : nn.Module
    optimizer : torch.optim.Optimizer
        :class:`reglab.Regularized` or any torch optimizer over ``model``'s parameters.
    **options
        Options of :class:`Recorder` (``steps``, ``every``, ``track``, ``sample``, ``grads``, ...).

    Returns
    -------
    Recorder
        Call ``.close()`` when training ends, then ``.trajectory()``.

    Examples
    --------
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> rec = watch(model, opt)
    >>> for _ in range(3):
    ...     opt.zero_grad(); model(torch.ones(4, 2)).sum().backward(); opt.step()
    >>> rec.close().trajectory().steps.tolist()
    [0, 1, 2, 3]
    """
    return Recorder(model, optimizer, **options)
