"""Time to the same objective: reglab.sklearn's estimators against scikit-learn's, and the path.

For each case, scikit-learn's estimator is fitted at a tight tolerance to get a reference objective
F* (reglab's objective of its coefficients). Each side is then timed at its default solver with a
tolerance tightened until its objective is within 1e-5 relative of F* (the loosest such setting of
a fixed ladder), best of ``--repeat`` runs. The path case times ``regularization_path`` against
``enet_path`` on the same λ grid (mapped by ``sklearn_params``), each at a tolerance that matches
the other's objectives to 1e-5 at every λ. Ratios are ours / reference, measured in one run.

Usage::

    .venv/bin/python benchmarks/bench_sklearn.py [--repeat 3] [--out benchmarks/RESULTS_sklearn.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn
import threadpoolctl
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification, make_regression
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge, enet_path
from sklearn.preprocessing import StandardScaler

from reglab import L1, L2
from reglab import ElasticNet as EN
from reglab.solvers import objective
from reglab.penalties import sklearn_params
from reglab.sklearn import GDClassifier, GDRegressor, regularization_path

TARGET = 1e-5
TOLS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10, 1e-12]


def _best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _time_to_target(make: Callable[[float], Any], obj: Callable[[Any], float], f_star: float,
                    repeat: int) -> tuple[float, float | None]:
    """Best time of the loosest tolerance on the ladder that reaches F* within TARGET."""
    for tol in TOLS:
        model = make(tol)
        if abs(obj(model) - f_star) <= TARGET * abs(f_star):
            seconds, _ = _best_time(lambda: make(tol), repeat)
            return seconds, tol
    return float("nan"), None


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
    elif name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    elif name == "synthetic_reg":
        X, y = make_regression(n_samples=2000, n_features=100, n_informative=10, noise=5.0, random_state=0)
    else:
        X, y = make_classification(n_samples=2000, n_features=50, n_informative=10, random_state=0)
    return StandardScaler().fit_transform(X), y


def run(repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    reg_cases = [("diabetes", L2(0.01), Ridge), ("diabetes", L1(1.0), Lasso), ("diabetes", EN(1.0, 0.5), ElasticNet),
                 ("synthetic_reg", L1(1.0), Lasso), ("synthetic_reg", EN(1.0, 0.5), ElasticNet)]
    for data, term, Ref in reg_cases:
        X, y = _data(data)
        rho = {"l2": 0.0, "l1": 1.0}.get(term.kind, getattr(term, "l1_ratio", 0.0))
        params = sklearn_params(term, len(X), Ref.__name__)

        def obj(m: Any, rho: float = rho, lam: float = term.strength, X: Any = X, y: Any = y) -> float:
            return objective(X, y, m.coef_, m.intercept_, loss="squared", alpha=lam, l1_ratio=rho)

        def make_ref(tol: float, Ref: Any = Ref, params: Any = params, X: Any = X, y: Any = y) -> Any:
            extra = {} if Ref is Ridge else {"max_iter": 100_000}
            return Ref(**params, tol=tol, **extra).fit(X, y)

        def make_ours(tol: float, term: Any = term, rho: float = rho, X: Any = X, y: Any = y) -> Any:
            return GDRegressor(penalty=term.kind, alpha=term.strength, l1_ratio=rho, tol=tol,
                               max_iter=100_000).fit(X, y)

        f_star = min(obj(make_ref(1e-14)), obj(make_ours(1e-12)))
        t_ref, tol_ref = _time_to_target(make_ref, obj, f_star, repeat)
        t_ours, tol_ours = _time_to_target(make_ours, obj, f_star, repeat)
        rows.append({"case": f"{Ref.__name__} {term!r} on {data} {X.shape}", "ours": t_ours, "ref": t_ref,
                     "tols": (tol_ours, tol_ref)})
    for data, term in [("breast_cancer", L2(0.01)), ("breast_cancer", L1(0.01)), ("synthetic_clf", L1(0.01))]:
        X, y = _data(data)
        rho = 0.0 if term.kind == "l2" else 1.0
        C = sklearn_params(term, len(X), "LogisticRegression")["C"]
        solver = "lbfgs" if term.kind == "l2" else "liblinear"

        def obj_c(m: Any, rho: float = rho, lam: float = term.strength, X: Any = X, y: Any = y) -> float:
            return objective(X, y, m.coef_.T, m.intercept_, loss="logistic", alpha=lam, l1_ratio=rho)

        def make_ref_c(tol: float, C: float = C, solver: str = solver, rho: float = rho, X: Any = X,
                       y: Any = y) -> Any:
            extra = {"l1_ratio": 1.0, "intercept_scaling": 1e4} if rho else {}
            return LogisticRegression(C=C, solver=solver, tol=tol, max_iter=100_000, **extra).fit(X, y)

        def make_ours_c(tol: float, term: Any = term, X: Any = X, y: Any = y) -> Any:
            return GDClassifier(penalty=term.kind, alpha=term.strength, tol=tol, max_iter=100_000).fit(X, y)

        f_star = min(obj_c(make_ref_c(1e-12)), obj_c(make_ours_c(1e-12)))
        t_ref, tol_ref = _time_to_target(make_ref_c, obj_c, f_star, repeat)
        t_ours, tol_ours = _time_to_target(make_ours_c, obj_c, f_star, repeat)
        rows.append({"case": f"LogisticRegression({solver}) {term!r} on {data} {X.shape}", "ours": t_ours,
                     "ref": t_ref, "tols": (tol_ours, tol_ref)})
    # the path: 50 λ from alpha_max down, ElasticNet ρ = 0.5 and lasso
    for data, rho in [("diabetes", 1.0), ("synthetic_reg", 0.5)]:
        X, y = _data(data)
        Xc, yc = X - X.mean(0), y - y.mean()
        grid = regularization_path(Xc, yc, penalty="elasticnet", l1_ratio=rho, n_alphas=50, tol=1e-12,
                                   max_iter=100_000)
        mapped = [sklearn_params(EN(a, rho), len(X), "ElasticNet") for a in grid.alphas]
        sk_alphas, sk_rho = np.array([m["alpha"] for m in mapped]), mapped[0]["l1_ratio"]
        f_star = np.array([objective(Xc, yc, grid.coefs[:, i], 0.0, loss="squared", alpha=a, l1_ratio=rho)
                           for i, a in enumerate(grid.alphas)])

        def path_obj(coefs: np.ndarray, alphas: np.ndarray = grid.alphas, rho: float = rho, Xc: Any = Xc,
                     yc: Any = yc) -> np.ndarray:
            return np.array([objective(Xc, yc, coefs[:, i], 0.0, loss="squared", alpha=a, l1_ratio=rho)
                             for i, a in enumerate(alphas)])

        def timed(make: Callable[[float], np.ndarray]) -> tuple[float, float | None]:
            for tol in TOLS:
                if np.all(np.abs(path_obj(make(tol)) - f_star) <= TARGET * np.abs(f_star)):
                    return _best_time(lambda: make(tol), repeat)[0], tol
            return float("nan"), None

        t_ref, tol_ref = timed(lambda tol: enet_path(Xc, yc, l1_ratio=sk_rho, alphas=sk_alphas, tol=tol,
                                                    max_iter=100_000)[1])
        t_ours, tol_ours = timed(lambda tol: regularization_path(Xc, yc, penalty="elasticnet", l1_ratio=rho,
                                                                 alphas=grid.alphas, tol=tol,
                                                                 max_iter=100_000).coefs)
        rows.append({"case": f"path (50 λ, ρ={rho:g}) vs enet_path on {data} {X.shape}", "ours": t_ours,
                     "ref": t_ref, "tols": (tol_ours, tol_ref)})
    return rows


def _header() -> str:
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
                     for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
    return (
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}; "
        f"load average at start {os.getloadavg()[0]:.1f} (a shared machine: absolute times are noisy, ratios "
        "are measured back to back in one run)\n"
        f"- Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}; torch threads {torch.get_num_threads()}\n"
        f"- BLAS: {blas}\n"
    )


def render(rows: list[dict[str, Any]], command: str, header: str) -> str:
    lines = [
        "# reglab.sklearn benchmark: time to the same objective\n",
        header,
        f"Target: reglab's objective within {TARGET:g} relative of the better of the two tight-tolerance fits; "
        "each side at the loosest tolerance of the ladder that reaches it; best of the repeats. "
        "ratio = ours / reference (below 1: reglab faster).\n",
        "| case | ours (s) | reference (s) | ratio | target | tol ours / ref | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["ours"] / r["ref"] if r["ref"] > 0 else float("nan")
        lines.append(f"| {r['case']} | {r['ours']:.4f} | {r['ref']:.4f} | {ratio:.2f} | {TARGET:g} rel. objective | "
                     f"{r['tols'][0]:g} / {r['tols'][1]:g} | `{command}` |")
    return "\n".join(lines) + "\n"


def _write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".bench_", suffix=".md")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the Markdown table here (atomically)")
    args = parser.parse_args(argv)
    command = "python benchmarks/bench_sklearn.py " + " ".join(sys.argv[1:] if argv is None else argv)
    header = _header()
    text = render(run(args.repeat), command.strip(), header)
    print(text)
    if args.out:
        _write_atomic(args.out, text)


if __name__ == "__main__":
    main()
