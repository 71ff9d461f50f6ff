"""Benchmark: one batched pass for K values of λ against K sequential fits with the same steps.

Two cases, each timed in one run of this script:

- least squares, (20000 × 500), L1 by the proximal rule, K = 64 values of λ, full-batch GD;
- an MLP (hidden 32, tanh), (2000 × 50), L2 by the gradient rule, K = 64 values of λ, float32.

Sequential fits get the data already built (a fair floor for them); the batched time includes
building the data once. Each batched result is checked against its sequential fit (largest relative
parameter difference), so a fast wrong answer cannot pass. Writes ``benchmarks/RESULTS_sweep.md``
(atomically) and prints the table.

Run: ``.venv/bin/python benchmarks/bench_sweep.py [--steps 20] [--k 64] [--threads 2]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from reglab.training import fit
from reglab.spec import build_fit_kwargs
from reglab.sweep import expand_sweep, fit_batched

TARGET = 10.0


def _case(name: str, base: dict, strengths: list[float], target: float | None) -> dict:
    sweep = {"base": base, "grid": {"penalties.0.strength": strengths}}
    runs = expand_sweep(sweep)
    kw0 = build_fit_kwargs(runs[0].spec)
    data = kw0["data"]

    t0 = time.perf_counter()
    batched = fit_batched(runs)
    t_batched = time.perf_counter() - t0

    t_seq, single, worst = 0.0, [], 0.0
    for run, (res_b, _) in zip(runs, batched):
        kw = build_fit_kwargs({**run.spec, "data": {"scenario": "zero_column", "n": 2, "p": 1}})
        kw["data"] = data
        t1 = time.perf_counter()
        res_s = fit(**kw, on_divergence="stop")
        dt = time.perf_counter() - t1
        t_seq += dt
        single.append(dt)
        for a, b in zip(res_b.model.parameters(), res_s.model.parameters()):
            scale = float(b.detach().abs().max()) or 1.0
            worst = max(worst, float((a - b).detach().abs().max()) / scale)
    k = len(runs)
    return {"case": name, "K": k, "steps": base["steps"], "batched_s": t_batched, "sequential_s": t_seq,
            "ratio": t_seq / t_batched, "per_run_vs_one_fit": (t_batched / k) / float(np.median(single)),
            "max_rel_diff": worst, "target": target}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mlp-steps", type=int, default=30)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS_sweep.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # warm-up: torch imports its compiler here once
    lams = np.logspace(-4, 0, args.k).tolist()

    cases = [
        _case("least squares 20000×500, L1 proximal, gd (float64)",
              {"model": "linear", "data": {"scenario": "linear_regression", "n": 20000, "p": 500, "noise": 1.0},
               "penalties": [{"kind": "l1", "strength": 0.01, "update": "proximal"}],
               "optimizer": "gd", "lr": 0.1, "steps": args.steps}, lams, TARGET),
        _case("MLP 2000×50 hidden 32 tanh, L2 gradient, gd (float32)",
              {"model": "mlp", "model_args": {"hidden": [32], "activation": "tanh"},
               "data": {"scenario": "linear_regression", "n": 2000, "p": 50},
               "penalties": [{"kind": "l2", "strength": 0.01}], "optimizer": "gd", "lr": 0.05,
               "steps": args.mlp_steps}, lams, None),
    ]
    command = f".venv/bin/python benchmarks/bench_sweep.py --steps {args.steps} --mlp-steps {args.mlp_steps} " \
              f"--k {args.k} --threads {args.threads}"
    lines = [
        "# Sweep benchmark: batched (one stacked model) vs sequential fit()",
        "",
        f"- machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (shared machine)",
        f"- python {sys.version.split()[0]}, torch {torch.__version__}, torch threads {torch.get_num_threads()}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- command: `{command}`",
        "",
        "ratio = sequential total / batched total (same steps, measured in one run); per-run cost = "
        "(batched total / K) / median single fit; max rel diff = largest |batched − sequential| / max|sequential| "
        "over every parameter.",
        "",
        "| case | K | steps | batched s | sequential s | ratio | target | per-run cost vs one fit | max rel diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        target = "—" if c["target"] is None else f"≥ {c['target']:g}× ({'met' if c['ratio'] >= c['target'] else 'NOT met'})"
        lines.append(f"| {c['case']} | {c['K']} | {c['steps']} | {c['batched_s']:.2f} | {c['sequential_s']:.2f} | "
                     f"{c['ratio']:.1f}× | {target} | {c['per_run_vs_one_fit']:.3f} | {c['max_rel_diff']:.1e} |")
    text = "\n".join(lines) + "\n"
    tmp = args.out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, args.out)
    print(text)


if __name__ == "__main__":
    main()
