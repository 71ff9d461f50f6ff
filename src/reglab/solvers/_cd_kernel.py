"""Cyclic coordinate descent on a working set's Gram block: the compiled inner solve of the working sets.

:func:`reglab.solvers.active_set.solve_l1_working_sets` minimises each working set's problem by these
epochs, to the optimality threshold, and only the last working set's point is finished by the exact
active-set method, whose linear solves cost a Python round trip each; where the support is a large
share of n (hundreds of features, 500×600 at 0.05·λ_max) an exact solve per working set cost more
than the whole solve of a coordinate-descent package. Started from the descent's point the exact
solve is on (nearly) the right support and ends in one or two linear solves: the answer is still
the active-set method's. Compiled by Numba on first use and cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np

from reglab.solvers.sparse_cd import _violation

__all__ = ["cd_gram_block", "gather_block"]


@numba.njit(cache=True, nogil=True)
def cd_gram_block(G: np.ndarray, c: np.ndarray, l1: np.ndarray, l2: np.ndarray, w: np.ndarray, thresh: float,
                  max_epochs: int) -> int:
    """Minimise wᵀGw − 2cᵀw + Σ l1_j|w_j| + Σ l2_j w_j² by cyclic coordinate descent, ``w`` in place.

    Each coordinate's exact minimiser with the others fixed is
    ``soft(c_j − Σ_{k≠j} G_jk w_k, l1_j/2) / (G_jj + l2_j)``; ``Gw`` is kept up to date column by
    column. Stops after an epoch whose largest distance of ``2(c − Gw − l2∘w)`` to the subdifferential
    of ``l1|w|`` (sparse_cd's per-coordinate ``_violation``) is ``≤ thresh``, or after ``max_epochs``. Returns the epochs run.
    """
    m = c.shape[0]
    g = G @ w
    for epoch in range(max_epochs):
        for j in range(m):
            d = G[j, j] + l2[j]
            if d <= 0.0:
                continue
            old = w[j]
            z = c[j] - g[j] + G[j, j] * old
            h = 0.5 * l1[j]
            new = (z - h) / d if z > h else ((z + h) / d if z < -h else 0.0)
            if new != old:
                delta = new - old
                for k in range(m):      # G is symmetric: its row j is its column j, read contiguously
                    g[k] += G[j, k] * delta
                w[j] = new
        worst = 0.0
        for j in range(m):   # c_j − (Gw)_j is the coordinate's correlation with the residual
            v = _violation(c[j] - g[j], w[j], l1[j], l2[j])
            if v > worst:
                worst = v
        if worst <= thresh:
            return epoch + 1
    return max_epochs


@numba.njit(cache=True, nogil=True)
def gather_block(G: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``G[at][:, at]`` in C order, row by row (NumPy's two fancy-index passes cost several times more
    at working-set sizes)."""
    m = at.shape[0]
    out = np.empty((m, m))
    for i in range(m):
        row = G[at[i]]
        for j in range(m):
            out[i, j] = row[at[j]]
    return out
