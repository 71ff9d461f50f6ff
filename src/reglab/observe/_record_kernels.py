"""The recorder's CPU kernel: one call, one pass over each parameter, for everything a recorded step reads.

A recorded step reads every parameter for its per-tensor summaries (Σw², Σ|w|, count of w ≠ 0,
count of |w| ≥ tol, Σ(w − w_prev)²), gathers the tracked elements of the parameters and of their
gradients, and keeps the values for the next step's update norm. As torch operations that is
about ten calls, each a pass over the parameters, each paid again inside a training loop where the
caches are cold; here it is one compiled call that reads each weight once (sums in float64).

Everything the call needs travels in one int64 array (see :data:`LAYOUT`): the tensors as
addresses (``data_ptr()``), so one compiled signature per dtype serves any number of tensors, and
the call unpacks one argument, not a dozen. Compiled by Numba on first use and cached on disk;
imported only when a :class:`reglab.observe.Recorder` is built on the CPU (Numba's import costs
about half a second).
"""

from __future__ import annotations

from typing import Any, Final

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

__all__ = ["LAYOUT", "GRADS", "VALUES", "SUMMARIZE", "DELTA", "record", "summarize_rows", "record_at"]


LAYOUT: Final = """
meta[0] P (tensors)           meta[1] W (tracked elements)    meta[2] flags (GRADS | VALUES | SUMMARIZE | DELTA)
meta[3] address of the gradients' output row (W, the weights' dtype)
meta[4] address of the values' output row (W, the weights' dtype)
meta[5] address of the summaries' output row (5·P, float64, field-major)
meta[6 : 6+P]        addresses of the gradients (0: no gradient, read as zeros)
meta[6+P : 6+2P]     addresses of the parameters' values
meta[6+2P : 6+3P]    addresses of the kept values (the state before the step, for the update norm)
meta[6+3P : 6+4P]    sizes
meta[6+4P : 7+5P]    bounds: tensor i's tracked elements are positions bounds[i] .. bounds[i+1] of a row
meta[7+5P : 7+5P+W]  the tracked elements' flat indices within their tensor
"""


GRADS: Final = 1


VALUES: Final = 2


SUMMARIZE: Final = 4


DELTA: Final = 8


# reassociation lets the sums vectorize; NaN and inf keep their IEEE meaning (no nnan / ninf)
_FAST = {"reassoc", "contract", "nsz"}


@intrinsic
def _at(typingctx: Any, address: Any, kind: Any) -> Any:  # pragma: no cover - compiled
    """A pointer at integer ``address`` to the dtype of ``kind`` (an array, a NumPy scalar type, or a
    value of that dtype)."""
    if isinstance(kind, types.Array):
        dtype = kind.dtype
    elif isinstance(kind, types.NumberClass):
        dtype = kind.instance_type
    else:
        dtype = kind
    sig = types.CPointer(dtype)(types.intp, kind)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _summarize(w: np.ndarray, kept: np.ndarray, summ: np.ndarray, i: int, n_tensors: int, tol: float,
               delta: bool, keep: bool) -> None:  # pragma: no cover - compiled
    s2 = 0.0
    s1 = 0.0
    nonzero = 0.0
    large = 0.0
    d2 = 0.0
    for j in range(w.size):  # ``delta`` and ``keep`` are loop-invariant: LLVM hoists the tests out of the loop
        x = np.float64(w[j])
        ax = abs(x)
        s2 += x * x
        s1 += ax
        nonzero += 1.0 if x != 0.0 else 0.0
        large += 1.0 if ax >= tol else 0.0
        if delta:
            d = x - np.float64(kept[j])
            d2 += d * d
        if keep:
            kept[j] = w[j]
    if delta:
        summ[4 * n_tensors + i] = d2
    summ[i] = s2
    summ[n_tensors + i] = s1
    summ[2 * n_tensors + i] = nonzero
    summ[3 * n_tensors + i] = large


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def record(meta: np.ndarray, kind: Any, tol: float) -> None:  # pragma: no cover - compiled
    """One recorded step's reads, as :data:`LAYOUT` describes them; ``kind``: any array or value of
    the weights' dtype. For each tensor i, with ``a, b = bounds[i], bounds[i + 1]``:

    - GRADS: ``grads_row[a:b] = g[idx[a:b]]`` (zeros where there is no gradient);
    - SUMMARIZE: its summaries Σw², Σ|w|, count of w ≠ 0, count of |w| ≥ tol and, with DELTA (the
      kept values are those before this step), Σ(w − kept)²; then the kept values become ``w``;
    - VALUES: ``values_row[a:b] = w[idx[a:b]]``, after the pass above (so from cache).
    """
    P, W, flags = meta[0], meta[1], meta[2]
    grads, values = (flags & GRADS) != 0, (flags & VALUES) != 0
    summarize, delta = (flags & SUMMARIZE) != 0, (flags & DELTA) != 0
    out_g = numba.carray(_at(meta[3], kind), W)
    out_v = numba.carray(_at(meta[4], kind), W)
    summ = numba.carray(_at(meta[5], np.float64), 5 * P)
    g_at, w_at, kept_at, sizes, bounds, idx = 6, 6 + P, 6 + 2 * P, 6 + 3 * P, 6 + 4 * P, 7 + 5 * P
    for i in range(P):
        n, a, b = meta[sizes + i], meta[bounds + i], meta[bounds + i + 1]
        if grads:
            if meta[g_at + i] == 0:
                for k in range(a, b):
                    out_g[k] = 0.0
            else:
                g = numba.carray(_at(meta[g_at + i], kind), n)
                for k in range(a, b):
                    out_g[k] = g[meta[idx + k]]
        if values or summarize:
            w = numba.carray(_at(meta[w_at + i], kind), n)
            if summarize:
                _summarize(w, numba.carray(_at(meta[kept_at + i], kind), n), summ, i, P, tol, delta, True)
            if values:
                for k in range(a, b):
                    out_v[k] = w[meta[idx + k]]


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def summarize_rows(values: np.ndarray, summ: np.ndarray, bounds: np.ndarray,
                   tol: float) -> None:  # pragma: no cover - compiled
    """The summaries of rows of recorded values that hold every weight, one row per step in turn:
    ``summ[r]`` (5·P, field-major as in :data:`LAYOUT`) from ``values[r + 1]`` (W), its update norm
    against ``values[r]``; tensor i's elements are ``bounds[i]:bounds[i + 1]`` of a row."""
    P = bounds.size - 1
    for r in range(summ.shape[0]):
        for i in range(P):
            a, b = bounds[i], bounds[i + 1]
            _summarize(values[r + 1, a:b], values[r, a:b], summ[r], i, P, tol, True, False)


# :func:`record` with ``meta`` given by address, one entry point per dtype: a call whose arguments are
# two integers and a float is the cheapest Numba dispatches (no array to type-check and unbox; about
# 10 µs less per recorded step inside a training loop, where that code runs with cold caches)
@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _record_f32(meta_address: int, n_meta: int, tol: float) -> None:  # pragma: no cover - compiled
    record(numba.carray(_at(meta_address, np.int64), n_meta), np.float32(0.0), tol)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _record_f64(meta_address: int, n_meta: int, tol: float) -> None:  # pragma: no cover - compiled
    record(numba.carray(_at(meta_address, np.int64), n_meta), np.float64(0.0), tol)


def record_at(dtype: np.dtype) -> Any:
    """:func:`record` for weights of ``dtype`` (float32 or float64), called as
    ``f(meta_address, len(meta), tol)`` with the address of an int64 ``meta`` array."""
    return {np.dtype(np.float32): _record_f32, np.dtype(np.float64): _record_f64}[np.dtype(dtype)]
