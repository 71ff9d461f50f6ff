"""Timing helpers, seeded data generators and the objective / gap measures of the benchmark harness.

Everything here is measured, never assumed: a case times ours and the reference alternately in one
process (so both see the same machine load), takes medians, and reports their ratio.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

# -- timing ------------------------------------------------------------------------------------------


def time_once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of one call of ``fn`` and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def time_pair(ours: Callable[[], Any], ref: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, float]:
    """Median wall seconds of ``ours`` and ``ref``, run alternately ``repeats`` times after a warm-up."""
    for _ in range(warmup):
        ours()
        ref()
    a, b = [], []
    for _ in range(repeats):
        a.append(time_once(ours)[0])
        b.append(time_once(ref)[0])
    return statistics.median(a), statistics.median(b)


def time_best_of(candidates: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median wall seconds of each candidate, interleaved round by round (after ``warmup`` calls each)."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in candidates}
    for _ in range(repeats):
        for k, fn in candidates.items():
            times[k].append(time_once(fn)[0])
    return {k: statistics.median(v) for k, v in times.items()}


# -- data --------------------------------------------------------------------------------------------


def ar1_design(n: int, p: int, rho: float, seed: int) -> np.ndarray:
    """Gaussian X of shape (n, p) whose columns are an AR(1) sequence: corr(x_i, x_j) = ρ^|i−j|."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, p))
    X = np.empty_like(Z)
    X[:, 0] = Z[:, 0]
    s = np.sqrt(1.0 - rho * rho)
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + s * Z[:, j]
    return X


def sparse_regression(n: int, p: int, rho: float, n_informative: int, noise: float, seed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) design and y = Xβ + noise with ``n_informative`` non-zero β at random positions."""
    X = ar1_design(n, p, rho, seed)
    rng = np.random.default_rng(seed + 1)
    beta = np.zeros(p)
    idx = rng.choice(p, n_informative, replace=False)
    beta[idx] = rng.standard_normal(n_informative)
    y = X @ beta + noise * rng.standard_normal(n)
    return X, y


def logistic_classification(n: int, p: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) design and labels {0, 1} drawn from a logistic model with a dense signal."""
    X = ar1_design(n, p, rho, seed)
    rng = np.random.default_rng(seed + 2)
    beta = rng.standard_normal(p) / np.sqrt(p)
    prob = 1.0 / (1.0 + np.exp(-(X @ beta)))
    return X, (rng.random(n) < prob).astype(float)


# -- objectives in reglab's convention ------------------------------------------------------------------


def lasso_objective(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float, lam: float) -> float:
    """mean (y − Xw − b)² + λ·Σ|w|."""
    r = y - X @ coef - intercept
    return float(r @ r / len(y) + lam * np.abs(coef).sum())


def logistic_objective(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float, l1: float = 0.0,
                       l2: float = 0.0) -> float:
    """mean binary NLL + λ₁Σ|w| + λ₂Σw²."""
    z = X @ coef + intercept
    nll = np.mean(np.logaddexp(0.0, z) - y * z)
    return float(nll + l1 * np.abs(coef).sum() + l2 * coef @ coef)


def ridge_objective(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float, lam: float) -> float:
    r = y - X @ coef - intercept
    return float(r @ r / len(y) + lam * coef @ coef)


def lasso_relative_gap(X: Any, y: np.ndarray, alpha: float, w: np.ndarray) -> float:
    """Duality gap of the lasso ``‖y − Xw‖²/2n + α‖w‖₁`` (scikit-learn's scaling, no intercept) at ``w``,
    relative to the objective at 0 (``‖y‖²/2n``); the dual point is the residual rescaled into the
    dual feasible set, as scikit-learn, celer and skglm compute it.

    Computed from the coefficients alone, so every package's answer is measured the same way.
    """
    n = len(y)
    r = y - X @ w
    primal = float(r @ r) / (2 * n) + alpha * float(np.abs(w).sum())
    s = min(1.0, n * alpha / max(float(np.abs(X.T @ r).max()), 1e-300))
    dual = s * float(r @ y) / n - s * s * float(r @ r) / (2 * n)
    return (primal - dual) / (float(y @ y) / (2 * n))


def lasso_worst_gap(X: Any, y: np.ndarray, alphas: np.ndarray, coefs: np.ndarray) -> float:
    """Largest :func:`lasso_relative_gap` over a path (``coefs[:, j]`` at ``alphas[j]``)."""
    return max(lasso_relative_gap(X, y, float(a), coefs[:, j]) for j, a in enumerate(alphas))


def relative_gap(value: float, best: float) -> float:
    return (value - best) / abs(best)


def loosest_reaching(run: Callable[[float], float], target: float,
                     tols: Sequence[float] = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12),
                     *, start: float | None = None, budget_s: float = float("inf")) -> tuple[float | None, float]:
    """The loosest ``tol`` whose run reaches ``gap ≤ target`` (``run(tol)`` returns the gap), and that gap.

    Applied alike to ours and to the reference, so both are timed at the cheapest setting that
    reaches the same answer. Returns (None, last gap) when none does.

    ``tols`` run from loose to tight. With ``start`` (a ``tol`` of the ladder: a good guess, such as
    the one a smaller case found) the ladder begins there: looser while the target is still reached,
    tighter until it is, so a guess one rung off costs two runs, not the whole ladder (the answer is
    the same when the gap decreases with ``tol``). A run slower than ``budget_s`` that misses the
    target ends the ladder there (None): the tighter rungs would be slower still.
    """
    tols = list(tols)
    i = 0 if start is None else min(range(len(tols)), key=lambda k: abs(np.log(tols[k] / start)))
    found: tuple[float | None, float] = (None, float("inf"))
    missed_once = False                 # a rung missed: the ladder goes tighter and stops at the first hit
    while 0 <= i < len(tols):
        t0 = time.perf_counter()
        gap = run(tols[i])
        seconds = time.perf_counter() - t0
        if gap <= target:
            found = (tols[i], gap)
            if missed_once:
                return found
            i -= 1                      # reached from the start: try one rung looser
            continue
        if found[0] is not None:        # a looser rung missed after a tighter one reached
            return found
        if seconds > budget_s:
            return None, gap
        found, missed_once = (None, gap), True
        i += 1
    return found


# -- the machine ------------------------------------------------------------------------------------------


def machine_header() -> list[str]:
    """Markdown lines: platform, CPU model, BLAS, versions, threads."""
    import sklearn
    import threadpoolctl

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    config = torch.__config__.show()
    blas = [ln.strip() for ln in config.splitlines() if "BLAS" in ln or "LAPACK" in ln or "MKL" in ln]
    pools = [f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads, {p.get('user_api')})"
             for p in threadpoolctl.threadpool_info()]
    return [
        f"- machine: {platform.platform()}, {os.cpu_count()} logical CPUs",
        f"- CPU: {cpu}",
        f"- torch {torch.__version__}; scikit-learn {sklearn.__version__}; numpy {np.__version__}; "
        f"Python {platform.python_version()}",
        f"- torch threads: {torch.get_num_threads()}",
        f"- torch BLAS (torch.__config__.show()): {'; '.join(blas) or 'not reported'}",
        f"- thread pools (threadpoolctl): {'; '.join(pools) or 'none'}",
    ]


def load_average() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


# -- results ------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table."""

    case: str
    ours: str
    reference: str
    ratio: float | None
    target: str
    met: bool | None
    command: str
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}"
        met = "—" if self.met is None else ("yes" if self.met else "**no**")
        return f"| {self.case} | {self.ours} | {self.reference} | {ratio} | {self.target} | {met} | `{self.command}` | {self.notes} |"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, fsync and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
