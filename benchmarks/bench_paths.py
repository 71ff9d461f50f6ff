"""Lasso paths: reglab's ``regularization_path`` against scikit-learn's ``lasso_path``, at equal accuracy.

Each case is a 100-λ lasso path without intercept (scikit-learn's grid: from ``alpha_max`` down to
``eps·alpha_max``, converted to reglab's λ by :func:`reglab.solvers.alphas_from_sklearn`), on one
thread (threadpoolctl). Each package is timed at the loosest ``tol`` of a common ladder whose path
has a worst relative duality gap ≤ ``--target`` over the grid (gap / (‖y‖²/2n), in scikit-learn's
scaling of the lasso objective); timings are medians of interleaved repeats; ratio = ours / sklearn.

Usage::

    .venv/bin/python benchmarks/bench_paths.py [--repeats 7] [--cases small,pggn,sparse]
                                               [--target 1e-6] [--out benchmarks/RESULTS_paths.md]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import lasso_worst_gap as worst_gap  # noqa: E402
from _harness import loosest_reaching, machine_header, time_best_of, write_atomic  # noqa: E402

TOLS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12)


def design(n: int, p: int, seed: int, *, n_informative: int, density: float | None = None
           ) -> tuple[Any, np.ndarray]:
    """Uncorrelated Gaussian X (or a scipy CSC of that density), y = X·β + noise with a sparse β."""
    rng = np.random.default_rng(seed)
    if density is None:
        X = rng.standard_normal((n, p))
    else:
        X = scipy.sparse.random(n, p, density=density, format="csc", random_state=seed,
                                data_rvs=rng.standard_normal)
    beta = np.zeros(p)
    beta[rng.choice(p, n_informative, replace=False)] = rng.choice([-1.0, 1.0], n_informative) * (
        1.0 + rng.random(n_informative))
    y = X @ beta
    y = y + 0.5 * np.std(y) * rng.standard_normal(n)
    return X, y


def runners(X: Any, y: np.ndarray, alphas: np.ndarray) -> dict[str, Callable[[float], np.ndarray]]:
    from sklearn.linear_model import lasso_path

    from reglab.solvers import alphas_from_sklearn, regularization_path

    lam = alphas_from_sklearn(alphas, estimator="Lasso").alphas

    def ours(tol: float) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return regularization_path(X, y, penalty="l1", alphas=lam, fit_intercept=False, tol=tol,
                                       max_iter=100_000).coefs

    def sklearn(tol: float) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return lasso_path(X, y, alphas=alphas, tol=tol, max_iter=100_000)[1]

    return {"reglab": ours, "sklearn": sklearn}


CASES: dict[str, list[tuple[str, int, int, dict]]] = {
    "small": [("uncorrelated 5000×100", 5000, 100, {"n_informative": 10}),
              ("uncorrelated 10000×100", 10000, 100, {"n_informative": 10})],
    "pggn": [("p≫n 100×10000", 100, 10000, {"n_informative": 10}),
             ("p≫n 200×20000", 200, 20000, {"n_informative": 20})],
    "sparse": [("sparse 1% 10000×2000 (CSC)", 10000, 2000, {"n_informative": 20, "density": 0.01})],
}


def main() -> None:
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cases", default="small,pggn,sparse")
    ap.add_argument("--target", type=float, default=1e-6)
    ap.add_argument("--n-alphas", type=int, default=100)
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rows = ["| case | λ | tol reglab | tol sklearn | worst gap reglab | worst gap sklearn | reglab ms | "
            "sklearn ms | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    with threadpool_limits(1):
        for group in args.cases.split(","):
            for name, n, p, kw in CASES[group]:
                X, y = design(n, p, 0, **kw)
                top = float(np.abs(X.T @ y).max()) / n
                alphas = np.geomspace(top, top * args.eps, args.n_alphas)
                run = runners(X, y, alphas)
                tols: dict[str, float] = {}
                gaps: dict[str, float] = {}
                for who, fn in run.items():
                    tol, gap = loosest_reaching(lambda t, fn=fn: worst_gap(X, y, alphas, fn(t)), args.target, TOLS)
                    tols[who], gaps[who] = (tol if tol is not None else TOLS[-1]), gap
                times = time_best_of({who: (lambda fn=fn, t=tols[who]: fn(t)) for who, fn in run.items()},
                                     args.repeats)
                ratio = times["reglab"] / times["sklearn"]
                line = (f"| {name} | {args.n_alphas} | {tols['reglab']:g} | {tols['sklearn']:g} | "
                        f"{gaps['reglab']:.1e} | {gaps['sklearn']:.1e} | {1e3 * times['reglab']:.1f} | "
                        f"{1e3 * times['sklearn']:.1f} | {ratio:.2f} |")
                print(line, flush=True)
                rows.append(line)
    text = "\n".join(["# Lasso paths: reglab vs scikit-learn's lasso_path (one thread, equal worst duality gap)",
                      "", f"Command: `.venv/bin/python benchmarks/bench_paths.py --cases {args.cases} "
                      f"--repeats {args.repeats} --target {args.target:g}`", "",
                      *machine_header(), "", *rows, ""])
    if args.out is not None:
        write_atomic(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
