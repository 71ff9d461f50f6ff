"""Penalties at the cost of torch's own optimizer step: ``Regularized`` against the torch reference, side by side.

Each row times an optimizer step (gradients set once, ``step()`` alone) of ours and of the torch
reference, alternately in one process, and prints the ratio of the medians. On a GPU every timed
call ends with ``torch.cuda.synchronize()``.

Rows (issue 20's table):

- ``decoupled-adam``: ``Regularized(Adam, [L2(λ, update="decoupled")])`` vs ``AdamW(weight_decay=2λ)``
  (fused on CUDA, foreach on the CPU);
- ``decoupled-adam-fused``: the same with ``fused=True`` on any device (torch's fused Adam runs on the CPU
  too): the wrapper hands the decay to Adam's own ``decoupled_weight_decay``, inside the fused kernel;
- ``proximal-sgd``: ``Regularized(SGD, [L1(λ, update="proximal")])`` vs ``SGD(foreach=True)``;
- ``gradient-sgd``: ``Regularized(SGD, [L2(λ)])`` vs ``SGD(weight_decay=2λ, foreach=True)``;
- ``decoupled-sgd``: ``Regularized(SGD, [L2(λ, update="decoupled")])`` vs ``SGD(weight_decay=2λ, foreach=True)``;
- ``watch``: one training step (forward, backward, step) with ``watch(model, opt, steps=...)`` vs without;
- ``sweep``: the batched executor, K = 64 MLP runs as one stacked model, vs 64 sequential fits.

Models: on CUDA, 48 blocks of Linear(1024) + LayerNorm (192 tensors, 50M parameters; ``watch`` on 24
blocks of Linear(2048), batch 512); on the CPU, 800 Linear(16, 16) (1,600 small tensors), the
case where a per-tensor Python loop shows. Every term applies to every tensor (``on=`` all), as
the reference's ``weight_decay`` does.

Usage::

    python benchmarks/bench_gpu.py                    # the device torch picks (cuda if present)
    python benchmarks/bench_gpu.py --device cpu --rows gradient-sgd decoupled-sgd proximal-sgd
    python benchmarks/bench_gpu.py --out benchmarks/RESULTS_gpu.md
    python benchmarks/bench_gpu.py --device cpu --small   # a smoke run (tests/test_benchmarks.py)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reglab import L1, L2, Regularized, watch  # noqa: E402

LAM = 1e-4
ALL = lambda name, p: True  # noqa: E731 - every tensor, as the reference's weight_decay


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_pair(ours: Callable[[], Any], ref: Callable[[], Any], device: torch.device, repeats: int,
               inner: int) -> tuple[float, float]:
    """Median seconds per call of ``ours`` and ``ref``, ``inner`` calls per sample, samples interleaved."""
    def sample(fn: Callable[[], Any]) -> float:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(device)
        return (time.perf_counter() - t0) / inner

    for fn in (ours, ref, ours, ref):  # warm-up: kernels, allocator, lazy state
        fn()
    a, b = [], []
    for _ in range(repeats):
        a.append(sample(ours))
        b.append(sample(ref))
    return statistics.median(a), statistics.median(b)


def _model(device: torch.device, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    if device.type == "cuda":
        blocks = [m for _ in range(48) for m in (nn.Linear(1024, 1024), nn.LayerNorm(1024))]
    else:
        blocks = [nn.Linear(16, 16) for _ in range(800)]
    model = nn.Sequential(*blocks).to(device=device, dtype=dtype)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    return model


def _twins(device: torch.device) -> tuple[nn.Module, nn.Module]:
    a, b = _model(device), _model(device)
    return a, b


def _opt_kwargs(device: torch.device) -> dict[str, Any]:
    return {"fused": True} if device.type == "cuda" else {"foreach": True}


def row_optimizer_step(name: str, device: torch.device, repeats: int, inner: int) -> dict[str, Any]:
    ours_model, ref_model = _twins(device)
    lr = 1e-3
    if name in ("decoupled-adam", "decoupled-adam-fused"):
        kw = {"fused": True} if name == "decoupled-adam-fused" else _opt_kwargs(device)
        ours = Regularized(torch.optim.Adam(ours_model.parameters(), lr=lr, **kw), ours_model,
                           [L2(LAM, update="decoupled", on=ALL)])
        ref = torch.optim.AdamW(ref_model.parameters(), lr=lr, weight_decay=2 * LAM, **kw)
        what = (f"Regularized(Adam({next(iter(kw))}), [L2 decoupled])", f"AdamW({next(iter(kw))}, weight_decay=2λ)")
    elif name == "proximal-sgd":
        ours = Regularized(torch.optim.SGD(ours_model.parameters(), lr=lr, foreach=True), ours_model,
                           [L1(LAM, update="proximal", on=ALL)])
        ref = torch.optim.SGD(ref_model.parameters(), lr=lr, foreach=True)
        what = ("Regularized(SGD(foreach), [L1 proximal])", "SGD(foreach)")
    elif name == "gradient-sgd":
        ours = Regularized(torch.optim.SGD(ours_model.parameters(), lr=lr, foreach=True), ours_model,
                           [L2(LAM, on=ALL)])
        ref = torch.optim.SGD(ref_model.parameters(), lr=lr, weight_decay=2 * LAM, foreach=True)
        what = ("Regularized(SGD(foreach), [L2 gradient])", "SGD(foreach, weight_decay=2λ)")
    elif name == "decoupled-sgd":
        ours = Regularized(torch.optim.SGD(ours_model.parameters(), lr=lr, foreach=True), ours_model,
                           [L2(LAM, update="decoupled", on=ALL)])
        ref = torch.optim.SGD(ref_model.parameters(), lr=lr, weight_decay=2 * LAM, foreach=True)
        what = ("Regularized(SGD(foreach), [L2 decoupled])", "SGD(foreach, weight_decay=2λ)")
    else:
        raise ValueError(name)
    t_ours, t_ref = _time_pair(ours.step, ref.step, device, repeats, inner)
    n_tensors = sum(1 for _ in ours_model.parameters())
    return {"row": name, "ours": what[0], "reference": what[1], "t_ours": t_ours, "t_ref": t_ref,
            "tensors": n_tensors}


def row_watch(device: torch.device, repeats: int, inner: int) -> dict[str, Any]:
    torch.manual_seed(0)
    if device.type == "cuda":
        width, depth, batch = 2048, 24, 512
    else:
        width, depth, batch = 64, 24, 256
    make = lambda: nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), nn.ReLU())]).to(device)  # noqa: E731
    models = [make(), make()]
    models[1].load_state_dict(models[0].state_dict())
    x = torch.randn(batch, width, device=device)
    opts = [torch.optim.SGD(m.parameters(), lr=1e-4) for m in models]
    steps = repeats * inner + 8
    rec = watch(models[0], opts[0], steps=steps)

    def train(i: int) -> Callable[[], None]:
        def step() -> None:
            opts[i].zero_grad()
            models[i](x).square().mean().backward()
            opts[i].step()
        return step

    t_ours, t_ref = _time_pair(train(0), train(1), device, repeats, inner)
    del rec
    return {"row": "watch", "ours": "training step with watch(model, opt, steps=...) defaults",
            "reference": "the same step without", "t_ours": t_ours, "t_ref": t_ref,
            "tensors": 2 * depth}


def row_sweep(device: torch.device, k: int = 64, steps: int = 200) -> dict[str, Any]:
    from reglab.sweep import run_grid

    base = {"model": "mlp", "model_args": {"hidden": [32]}, "data": {"scenario": "pure_noise", "n": 2000, "p": 50},
            "penalties": [{"kind": "l2", "strength": 0.0}], "lr": 0.05, "steps": steps, "dtype": "float32"}
    if device.type != "cpu":
        base["device"] = str(device)
    grid = {"penalties.0.strength": [1e-4 * (i + 1) for i in range(k)]}
    t0 = time.perf_counter()
    run_grid(base, grid, "batched")
    _sync(device)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_grid(base, grid, "serial")
    _sync(device)
    t_serial = time.perf_counter() - t0
    return {"row": "sweep", "ours": f"batched executor, K = {k} stacked MLP runs ({steps} GD steps)",
            "reference": f"{k} sequential fits", "t_ours": t_batched, "t_ref": t_serial, "tensors": 4}


TARGETS = {"decoupled-adam": ("≤", 1.05), "decoupled-adam-fused": ("≤", 1.05), "proximal-sgd": ("≤", 1.3),
           "gradient-sgd": ("≤", 1.05),
           "decoupled-sgd": ("≤", 1.3), "watch": ("≤", 1.05), "sweep": ("≥ speed-up", 25.0)}
CPU_TARGETS = {"gradient-sgd": ("≤", 1.3), "decoupled-sgd": ("≤", 1.3), "proximal-sgd": ("≤", 2.0),
               "decoupled-adam": ("≤", 1.3), "decoupled-adam-fused": ("≤", 1.05), "watch": ("≤", 1.05),
               "sweep": ("≥ speed-up", 1.0)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rows", nargs="*", default=list(TARGETS))
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--inner", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--small", action="store_true",
                    help="tiny repeats and sweep (K = 4, 5 steps): checks the script runs, measures nothing")
    args = ap.parse_args(argv)
    if args.small:
        args.repeats, args.inner = 2, 2
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    targets = TARGETS if device.type == "cuda" else CPU_TARGETS
    rows = []
    for name in args.rows:
        if name == "watch":
            r = row_watch(device, args.repeats, max(1, args.inner // 4))
        elif name == "sweep":
            r = row_sweep(device, k=4, steps=5) if args.small else row_sweep(device)
        else:
            r = row_optimizer_step(name, device, args.repeats, args.inner)
        sense, target = targets[name]
        if sense == "≤":
            r["ratio"] = r["t_ours"] / r["t_ref"]
            r["met"] = r["ratio"] <= target
        else:
            r["ratio"] = r["t_ref"] / r["t_ours"]
            r["met"] = r["ratio"] >= target
        r["target"] = f"{sense} {target:g}"
        rows.append(r)
        print(f"{name:15s} ours {r['t_ours'] * 1e3:9.3f} ms  ref {r['t_ref'] * 1e3:9.3f} ms  "
              f"ratio {r['ratio']:.3f}  target {r['target']}  {'met' if r['met'] else 'MISSED'}", flush=True)
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    lines = [
        f"# Penalties against torch's own step ({device.type})",
        "",
        f"device: {dev}; torch {torch.__version__}; python {platform.python_version()}; "
        f"torch threads {torch.get_num_threads()}; load average (1, 5, 15 min) at the end "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs (other work on the machine "
        "slows both sides alike, but adds noise)",
        "",
        f"command: `python benchmarks/bench_gpu.py --device {args.device} --rows {' '.join(args.rows)} "
        f"--repeats {args.repeats} --inner {args.inner}{' --small' if args.small else ''}`",
        "",
        "Ratio = median time of ours / the reference's (for `sweep`: sequential / batched, a speed-up), "
        "measured alternately in one process.",
        "",
        "| row | ours | reference | tensors | ours (ms) | reference (ms) | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['row']} | {r['ours']} | {r['reference']} | {r['tensors']} | {r['t_ours'] * 1e3:.3f} | "
                     f"{r['t_ref'] * 1e3:.3f} | {r['ratio']:.3f} | {r['target']} | {'yes' if r['met'] else '**no**'} |")
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
