"""Benchmark: ``fit`` on a sparse X (kept as a torch CSR tensor) against the same fit on X densified.

Cases (1% density, float64, L1 by the proximal rule, lr="auto"):

- full-batch GD, 200 steps, on the fast path (XW and XᵀR as CSR products);
- minibatch SGD (batch 256), 200 steps, on the autograd path (CSR row slices).

Both sides are timed alternately in one process (medians of ``--repeats``), with the data built
once outside the timing; the two fits' weights are compared (largest relative difference), so a
fast wrong answer cannot pass. Ratio = sparse / dense time (below 1: the sparse route is faster).
Writes ``benchmarks/RESULTS_sparse_fit.md`` (atomically) and prints it.

Run: ``.venv/bin/python benchmarks/bench_sparse_fit.py [--n 20000] [--p 2000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import load_average, machine_header, time_pair, write_atomic  # noqa: E402

from reglab import L1, fit  # noqa: E402


def _case(name: str, X: Any, y: np.ndarray, repeats: int, **kw: Any) -> dict[str, Any]:
    dense = X.toarray()

    def run(data: Any) -> Any:
        return fit("linear", (data, y), penalties=[L1(0.01, update="proximal")], lr="auto", seed=0,
                   dtype=torch.float64, **kw)

    res_s, res_d = run(X), run(dense)
    worst = max(float((a - b).abs().max()) / (float(b.abs().max()) or 1.0)
                for a, b in zip(res_s.model.parameters(), res_d.model.parameters()))
    t_sparse, t_dense = time_pair(lambda: run(X), lambda: run(dense), repeats)
    return {"case": name, "sparse_s": t_sparse, "dense_s": t_dense, "ratio": t_sparse / t_dense, "max_rel_diff": worst}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--p", type=int, default=2000)
    ap.add_argument("--density", type=float, default=0.01)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS_sparse_fit.md"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = scipy.sparse.random(args.n, args.p, density=args.density, format="csr", random_state=rng, dtype=np.float64)
    coef = np.zeros(args.p)
    coef[:20] = rng.normal(size=20)
    y = X @ coef + 0.1 * rng.normal(size=args.n)
    cases = [
        _case(f"gd, {args.steps} steps (fast path)", X, y, args.repeats, optimizer="gd", steps=args.steps),
        _case(f"sgd batch 256, {args.steps} steps (autograd)", X, y, args.repeats, optimizer="sgd",
              batch_size=256, steps=args.steps),
    ]
    command = (f".venv/bin/python benchmarks/bench_sparse_fit.py --n {args.n} --p {args.p} --density {args.density} "
               f"--steps {args.steps} --repeats {args.repeats}")
    lines = [f"# fit on sparse X (CSR) vs the same fit densified: {args.n}×{args.p}, density {args.density:g}",
             "", f"Command: `{command}`", "", *machine_header(), f"- load average at the end: {load_average()}", "",
             "| case | sparse (s) | dense (s) | ratio sparse/dense | max rel. weight difference |",
             "|---|---|---|---|---|"]
    for c in cases:
        lines.append(f"| {c['case']} | {c['sparse_s']:.3f} | {c['dense_s']:.3f} | {c['ratio']:.2f} | {c['max_rel_diff']:.1e} |")
    text = "\n".join(lines) + "\n"
    write_atomic(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
