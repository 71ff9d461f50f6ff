"""reglab's lasso against the field (scikit-learn, skglm, celer), at equal duality-gap accuracy.

Two groups of cases, all lasso without intercept, on one thread (threadpoolctl, NUMBA_NUM_THREADS=1):

- ``single``: benchopt's simulated lasso designs (``make_correlated_data`` of benchopt / skglm:
  AR(1) columns of correlation ρ ∈ {0, 0.6}, 20 % of the true coefficients non-zero, SNR 3,
  seed 27) of shapes (n, p) ∈ {(100, 10000), (500, 600), (10000, 100)}, one solve at
  α ∈ {0.5, 0.1, 0.05}·α_max from zero;
- ``paths``: 100-α paths from α_max down to 1e-3·α_max (scikit-learn's grid) on the designs of
  ``bench_paths.py`` (uncorrelated Gaussian X, sparse true coefficients): 5000×100, 10000×100,
  100×10000 and 200×20000.

α is scikit-learn's (``‖y − Xw‖²/2n + α‖w‖₁``, as skglm and celer have it); reglab gets
λ = 2α (:func:`reglab.solvers.alphas_from_sklearn`). Every package is timed at the loosest ``tol`` of
one ladder (1e-2 … 1e-12) whose answer has a relative duality gap ≤ ``--target`` (the worst over a
path), the gap computed the same way for all from the returned coefficients
(``_harness.lasso_relative_gap``): never at an equal ``tol``, whose meaning differs from package to
package. A case's ladder starts at the rung the previous case of its group found for that package,
and a run slower than ``--budget`` seconds that misses the target ends that package's ladder.
Timings are medians of ``--repeats`` interleaved rounds (every package once per round, after the
ladder has run each of them: JIT compilation and first-call costs are out of the timings; a case
whose slowest run exceeds ``--slow`` seconds gets one round). The first call of each package in the
process is timed on its own and reported. X is passed in Fortran order to all.

Usage::

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_peers.py [--groups single,paths] [--repeats 5]
        [--target 1e-6] [--out benchmarks/RESULTS_peers.md]

The peers are the ``bench`` extra: ``pip install -e ".[bench]"`` (``make bench`` installs it).
A peer that is not installed is left out of the table, named in its header; the designs are
transcribed here (:func:`benchopt_design`), so reglab and scikit-learn run without the extra.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    lasso_relative_gap,
    lasso_worst_gap,
    load_average,
    loosest_reaching,
    machine_header,
    time_once,
    write_atomic,
)
from bench_paths import design as path_design  # noqa: E402

TOLS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12)
PEERS = ("sklearn", "skglm", "celer")
SINGLE_SHAPES = ((100, 10000), (500, 600), (10000, 100))
RHOS = (0.0, 0.6)
FRACTIONS = (0.5, 0.1, 0.05)
PATH_CASES = (("uncorrelated 5000×100", 5000, 100, 10), ("uncorrelated 10000×100", 10000, 100, 10),
              ("p≫n 100×10000", 100, 10000, 10), ("p≫n 200×20000", 200, 20000, 20))


def quiet(fn: Callable[[], Any]) -> Any:
    """``fn()`` with warnings silenced: a loose rung of the ladder may stop short, and says so."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# -- the packages: tol ↦ coefficients --------------------------------------------------------------------


def single_solvers(X: np.ndarray, y: np.ndarray, alpha: float, have: set[str]) -> dict[str, Callable[[float], np.ndarray]]:
    """One lasso solve at scikit-learn's ``alpha`` per package: ``tol ↦ coef`` of shape (p,)."""
    from reglab.solvers import alphas_from_sklearn, solve_linear

    lam = float(alphas_from_sklearn([alpha], estimator="Lasso").alphas[0])
    out: dict[str, Callable[[float], np.ndarray]] = {
        "reglab": lambda tol: quiet(lambda: solve_linear(X, y, loss="squared", alpha=lam, l1_ratio=1.0,
                                                         fit_intercept=False, tol=tol, max_iter=100_000)).coef.ravel()}
    if "sklearn" in have:
        from sklearn.linear_model import Lasso

        # the Gram form when n > p, as lasso_path's precompute="auto" chooses (the faster of the two there)
        out["sklearn"] = lambda tol: quiet(lambda: Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=100_000,
                                                         precompute=X.shape[0] > X.shape[1]).fit(X, y)).coef_
    if "skglm" in have:
        import skglm

        out["skglm"] = lambda tol: quiet(lambda: skglm.Lasso(alpha=alpha, fit_intercept=False, tol=tol,
                                                             max_iter=1000).fit(X, y)).coef_
    if "celer" in have:
        import celer

        out["celer"] = lambda tol: quiet(lambda: celer.Lasso(alpha=alpha, fit_intercept=False, tol=tol,
                                                             max_iter=1000).fit(X, y)).coef_
    return out


def path_solvers(X: np.ndarray, y: np.ndarray, alphas: np.ndarray, have: set[str]
                 ) -> dict[str, Callable[[float], np.ndarray]]:
    """A warm-started lasso path over scikit-learn's ``alphas`` per package: ``tol ↦ coefs`` (p, n_alphas)."""
    from reglab.solvers import alphas_from_sklearn, regularization_path

    lam = alphas_from_sklearn(alphas, estimator="Lasso").alphas
    out: dict[str, Callable[[float], np.ndarray]] = {
        "reglab": lambda tol: quiet(lambda: regularization_path(X, y, penalty="l1", alphas=lam, fit_intercept=False,
                                                                tol=tol, max_iter=100_000)).coefs}
    if "sklearn" in have:
        from sklearn.linear_model import lasso_path

        out["sklearn"] = lambda tol: quiet(lambda: lasso_path(X, y, alphas=alphas, tol=tol, max_iter=100_000))[1]
    if "skglm" in have:
        import skglm

        out["skglm"] = lambda tol: quiet(lambda: skglm.Lasso(fit_intercept=False, tol=tol, max_iter=1000)
                                         .path(X, y, alphas))[1]
    if "celer" in have:
        from celer import celer_path

        out["celer"] = lambda tol: quiet(lambda: celer_path(X, y, "lasso", alphas=alphas, tol=tol, max_iter=1000))[1]
    return out


# -- one case ------------------------------------------------------------------------------------------------


def measure(fns: dict[str, Callable[[float], np.ndarray]], gap: Callable[[np.ndarray], float], args: argparse.Namespace,
            start: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Each package's loosest tol reaching the target (its ladder from ``start``), then interleaved timings."""
    res: dict[str, dict[str, Any]] = {}
    slowest = 0.0
    for who, fn in fns.items():
        seconds: list[float] = []

        def run(tol: float, fn: Callable[[float], np.ndarray] = fn, seconds: list[float] = seconds) -> float:
            t, coef = time_once(lambda: fn(tol))
            seconds.append(t)
            return gap(np.asarray(coef))

        tol, g = loosest_reaching(run, args.target, TOLS, start=start.get(who), budget_s=args.budget)
        res[who] = {"tol": tol, "gap": g, "ladder_runs": len(seconds)}
        if tol is not None:
            start[who] = tol
            slowest = max(slowest, max(seconds))
    timed = {who: r["tol"] for who, r in res.items() if r["tol"] is not None}
    rounds = 1 if slowest > args.slow else args.repeats
    times: dict[str, list[float]] = {who: [] for who in timed}
    for _ in range(rounds):
        for who, tol in timed.items():
            times[who].append(time_once(lambda who=who, tol=tol: fns[who](tol))[0])
    for who, ts in times.items():
        res[who]["seconds"] = statistics.median(ts)
        res[who]["rounds"] = rounds
    return res


def first_call_seconds(have: set[str]) -> dict[str, float]:
    """Wall seconds of each package's first lasso solve in this process (numba compiles skglm's here)."""
    rng = np.random.RandomState(0)
    X, y = np.asfortranarray(rng.randn(50, 200)), rng.randn(50)
    alpha = 0.1 * float(np.abs(X.T @ y).max()) / len(y)
    out = {}
    for who, fn in single_solvers(X, y, alpha, have).items():
        out[who] = time_once(lambda fn=fn: fn(1e-6))[0]
    return out


# -- the table -----------------------------------------------------------------------------------------------


def _ms(r: dict[str, Any]) -> str:
    if r.get("tol") is None:
        return f"— (gap {r['gap']:.0e} at best)"
    return f"{1e3 * r['seconds']:.1f}"


def table_row(name: str, res: dict[str, dict[str, Any]], who_order: list[str]) -> tuple[str, float | None]:
    peers = {w: r["seconds"] for w, r in res.items() if w != "reglab" and r.get("tol") is not None}
    ours = res["reglab"].get("seconds") if res["reglab"].get("tol") is not None else None
    best = min(peers, key=peers.get) if peers else None
    ratio = ours / peers[best] if (ours is not None and best is not None) else None
    cells = [_ms(res[w]) if w in res else "n/a" for w in who_order]
    tols = " / ".join(f"{res[w]['tol']:g}" if res[w].get("tol") is not None else "—" for w in who_order if w in res)
    gaps = " / ".join(f"{res[w]['gap']:.0e}" for w in who_order if w in res)
    rounds = max(r.get("rounds", 0) for r in res.values())
    line = (f"| {name} | {' | '.join(cells)} | {best or '—'} | {'—' if ratio is None else f'{ratio:.2f}'} | "
            f"{tols} | {gaps} | {rounds} |")
    return line, ratio


def render(args: argparse.Namespace, have: set[str], missing: dict[str, str], first: dict[str, float],
           sections: dict[str, list[str]], load_start: str, done: bool, wall: float) -> str:
    order = ["reglab", *[p for p in PEERS if p in have]]
    versions = "; ".join(f"{p} {importlib.metadata.version(m)}" for p, m in
                         (("reglab", "reglab"), ("scikit-learn", "scikit-learn"), ("skglm", "skglm"),
                          ("celer", "celer"), ("numba", "numba"), ("scipy", "scipy")) if _installed(m))
    head = (f"| case | {' ms | '.join(order)} ms | best peer | ratio ours / best peer | tol "
            f"({' / '.join(order)}) | relative gap ({' / '.join(order)}) | rounds |")
    rule = "|" + "---|" * (len(order) + 6)
    lines = ["# Lasso against the field: reglab vs scikit-learn, skglm and celer (one thread, equal duality gap)", "",
             "Generated by `benchmarks/bench_peers.py`; do not edit by hand. Each package at the loosest `tol` of "
             f"the ladder {', '.join(f'{t:g}' for t in TOLS)} whose answer has a relative duality gap ≤ "
             f"{args.target:g} (worst over a path; gap / (‖y‖²/2n), computed from the returned coefficients, the "
             "same for all); medians of interleaved rounds; ratio = reglab / the fastest peer (below 1: reglab "
             "faster). — : the package did not reach the target on the ladder.", "",
             f"Command: `NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_peers.py --groups {args.groups} "
             f"--repeats {args.repeats} --target {args.target:g} --budget {args.budget:g} --slow {args.slow:g}`", "",
             "Install the peers (the `bench` extra) with `.venv/bin/python -m pip install -e \".[bench]\"` "
             "(`make bench` does it).", "",
             *machine_header(),
             f"- versions: {versions}",
             f"- threads: one for every package (threadpoolctl limit 1 on BLAS / OpenMP, NUMBA_NUM_THREADS="
             f"{os.environ.get('NUMBA_NUM_THREADS')}, torch.set_num_threads(1))",
             f"- load average (1/5/15 min) at start: {load_start}; at last write: {load_average()} (a shared 2-core "
             "machine: absolute times are noisy, the packages are timed round by round in one process)",
             f"- run {'complete' if done else 'in progress (cut off: the rows below are those measured)'}; "
             f"wall time {wall:.0f} s",
             "- first call in the process (not in the timings; a 50×200 solve at tol 1e-6, includes JIT compilation): "
             + "; ".join(f"{w} {s:.2f} s" for w, s in first.items()),
             *(f"- {p} not measured: {why}" for p, why in missing.items()), ""]
    for title, rows in sections.items():
        lines += [f"## {title}", "", head, rule, *rows, ""]
    return "\n".join(lines)


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.version(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def benchopt_design(n: int, p: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """benchopt's simulated lasso dataset, X in Fortran order: a transcription of skglm's
    ``make_correlated_data(n, p, rho=rho, random_state=RandomState(27))`` (density 0.2, SNR 3), draw
    for draw, so the designs are the same with or without skglm installed
    (``test_benchopt_design_is_skglms_make_correlated_data`` checks it where skglm is).
    """
    rng = np.random.RandomState(27)
    if rho != 0:    # AR(1): X[:, j+1] = ρX[:, j] + √(1 − ρ²)·ε_j
        sigma = np.sqrt(1 - rho * rho)
        U = rng.randn(n)
        X = np.empty((n, p), order="F")
        X[:, 0] = U
        for j in range(1, p):
            U *= rho
            U += sigma * rng.randn(n)
            X[:, j] = U
    else:
        X = rng.randn(n, p)
    nnz = int(0.2 * p)
    w_true = np.zeros((p, 1))
    support = rng.choice(p, nnz, replace=False)     # drawn before the values, as skglm draws them
    w_true[support, :] = rng.randn(nnz, 1)
    Y = X @ w_true
    noise = rng.randn(n, 1)
    Y += noise / np.linalg.norm(noise) * np.linalg.norm(Y) / 3.0
    return np.asfortranarray(X), Y.ravel()


def main(argv: list[str] | None = None) -> int:
    import torch
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", default="single,paths")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--target", type=float, default=1e-6)
    ap.add_argument("--budget", type=float, default=300.0, help="a ladder run slower than this that misses ends it")
    ap.add_argument("--slow", type=float, default=20.0, help="a case whose slowest run exceeds this gets one round")
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    have, missing = set(), {}
    for peer, module in (("sklearn", "sklearn"), ("skglm", "skglm"), ("celer", "celer")):
        try:
            __import__(module)
            have.add(peer)
        except ImportError as e:
            missing[peer] = f"not installed ({e}); pip install -e '.[bench]'"
    load_start, t0 = load_average(), time.perf_counter()
    sections: dict[str, list[str]] = {}
    ratios: list[float] = []

    def write(done: bool) -> None:
        text = render(args, have, missing, first, sections, load_start, done, time.perf_counter() - t0)
        if ratios:
            text += (f"Ratio ours / best peer over the {len(ratios)} measured cases: median {statistics.median(ratios):.2f}, "
                     f"worst {max(ratios):.2f}; at or below 1.0 in {sum(r <= 1.0 for r in ratios)}.\n")
        if args.out is not None:
            write_atomic(args.out, text)

    with threadpool_limits(1):
        first = first_call_seconds(have)
        print("[peers] first calls:", first, flush=True)
        if "single" in args.groups.split(","):
            rows = sections.setdefault("Single solves from zero: benchopt's simulated designs", [])
            for n, p in SINGLE_SHAPES:
                for rho in RHOS:
                    X, y = benchopt_design(n, p, rho)
                    amax = float(np.abs(X.T @ y).max()) / n
                    start: dict[str, float] = {}
                    for frac in FRACTIONS:
                        name = f"{n}×{p} ρ={rho:g} α={frac:g}·α_max"
                        if args.only and args.only not in name:
                            continue
                        alpha = frac * amax
                        res = measure(single_solvers(X, y, alpha, have),
                                      lambda w, X=X, y=y, alpha=alpha: lasso_relative_gap(X, y, alpha, w), args, start)
                        line, ratio = table_row(name, res, ["reglab", *[q for q in PEERS if q in have]])
                        ratios += [] if ratio is None else [ratio]
                        rows.append(line)
                        print(line, flush=True)
                        write(False)
        if "paths" in args.groups.split(","):
            rows = sections.setdefault("Paths: 100 α from α_max to 1e-3·α_max, warm-started", [])
            start = {}
            for name, n, p, k in PATH_CASES:
                if args.only and args.only not in name:
                    continue
                X, y = path_design(n, p, 0, n_informative=k)
                X = np.asfortranarray(X)
                top = float(np.abs(X.T @ y).max()) / n
                alphas = np.geomspace(top, top * 1e-3, 100)
                res = measure(path_solvers(X, y, alphas, have),
                              lambda c, X=X, y=y, alphas=alphas: lasso_worst_gap(X, y, alphas, c), args, start)
                line, ratio = table_row(f"path {name}", res, ["reglab", *[q for q in PEERS if q in have]])
                ratios += [] if ratio is None else [ratio]
                rows.append(line)
                print(line, flush=True)
                write(False)
        write(True)     # inside the limit: the header's thread pools show the one thread the timings ran on
    if args.out is not None:
        print(f"[peers] wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
