"""The recorder on each device: the same trajectory and diagnosis as on the CPU, work that does not grow
with the number of tensors, and (on CUDA) no host synchronisation inside a training step.

Parametrized over ``cpu`` and ``cuda``; ``cuda`` skips only where no GPU is present.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from torch.utils._python_dispatch import TorchDispatchMode

from reglab import L2, Regularized, diagnose, watch
from reglab.observe import record

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no CUDA device"))]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _model(width: int, blocks: int, device: str) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Linear(4, width)] + [nn.Linear(width, width) for _ in range(blocks)] + [nn.Linear(width, 1)]
    return nn.Sequential(*layers).to(device=device, dtype=torch.float64)


def _loop(model: nn.Module, opt: torch.optim.Optimizer, steps: int) -> None:
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(32, 4, generator=gen, dtype=torch.float64).to(device)
    y = torch.zeros(32, 1, dtype=torch.float64, device=device)  # no signal: L2 pulls toward zero
    for _ in range(steps):
        opt.zero_grad()
        ((model(X) - y) ** 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("device", DEVICES)
def test_watch_and_diagnose_on_the_device_equal_the_cpu_run(device: str) -> None:
    runs = {}
    for dev in {"cpu", device}:
        model = _model(3, 1, dev)
        opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.05), model, [L2(0.05)])
        rec = watch(model, opt, steps=200, every=5)
        _loop(model, opt, 200)
        traj = rec.close().trajectory()
        runs[dev] = (traj, diagnose(traj).per_weight)
    (traj, table), (cpu_traj, cpu_table) = runs[device], runs["cpu"]
    np.testing.assert_array_equal(traj.steps, cpu_traj.steps)
    np.testing.assert_allclose(traj.values, cpu_traj.values, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(traj.grads, cpu_traj.grads, rtol=1e-9, atol=1e-12)
    assert list(table["cls"]) == list(cpu_table["cls"])
    assert "decaying" in set(table["cls"])


class _CountOps(TorchDispatchMode):
    """Counts the torch ops called from Python (an op's own inner calls, such as a CPU ``_foreach``
    op's per-tensor loop, are not counted: on a GPU that loop is one multi-tensor kernel)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        self.counts[str(func.overloadpacket.__name__)] += 1
        return func(*args, **(kwargs or {}))


def _ops_of_recorded_steps(blocks: int) -> Counter[str]:
    """Torch ops the recorder's torch reader (the one used off the CPU) adds over 10 recorded steps of a
    model with ``blocks`` hidden layers."""
    counts = []
    for watched in (False, True):
        model = _model(3, blocks, "cpu")
        opt = torch.optim.SGD(model.parameters(), lr=0.01, foreach=True)
        if watched:
            watch(model, opt, steps=20, every=1)
        _loop(model, opt, 2)  # lazy buffers and the first rows
        with _CountOps() as mode:
            _loop(model, opt, 10)
        counts.append(mode.counts)
    bare, hooked = counts
    return hooked - bare


def test_a_recorded_step_costs_the_same_ops_for_ten_or_a_hundred_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """One gathered copy per recorded step: the torch reader's ops (what a GPU runs; on the CPU the
    compiled reader is used, so it is forced here) do not grow with the tensor count (a per-tensor loop
    would add ops for every tensor)."""
    monkeypatch.setattr(record, "_reader_for", lambda *args, **_: record._TorchReader(*args))
    few, many = _ops_of_recorded_steps(3), _ops_of_recorded_steps(48)  # 10 and 100 parameter tensors
    assert few  # the recorder does work on a recorded step ...
    assert few == many  # ... and the same work whatever the number of tensors


@needs_cuda
def test_no_host_sync_inside_recorded_or_unrecorded_steps() -> None:
    """With torch's sync debug mode set to error, a watched training step (recorded or not) never waits
    for the GPU: the recorder keeps its rows on the device until ``trajectory()``."""
    model = _model(16, 4, "cuda")
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.01), model, [L2(1e-3)])
    rec = watch(model, opt, steps=40, every=4)
    _loop(model, opt, 2)  # first rows and lazy state before the check
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _loop(model, opt, 20)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    traj = rec.close().trajectory()
    assert traj.steps[-1] == 20 and np.isfinite(traj.values).all()
