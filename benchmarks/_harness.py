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


def time_best_of(candidates: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall seconds of each candidate, interleaved round by round (one warm-up each)."""
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


def relative_gap(value: float, best: float) -> float:
    return (value - best) / abs(best)


def loosest_reaching(run: Callable[[float], float], target: float,
                     tols: Sequence[float] = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12)
                     ) -> tuple[float | None, float]:
    """The loosest ``tol`` whose run reaches ``gap ≤ target`` (``run(tol)`` returns the gap), and that gap.

    Applied alike to ours and to the reference, so both are timed at the cheapest setting that
    reaches the same answer. Returns (None, last gap) when none does.
    """
    gap = float("inf")
    for tol in tols:
        gap = run(tol)
        if gap <= target:
            return tol, gap
    return None, gap


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
