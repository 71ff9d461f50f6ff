"""``torch.compile`` a model and train it under ``Regularized``, watched by reglab.

The optimizer, the penalty terms and the recorder are given the *original* module: its parameters
are the compiled module's, and its names carry no ``_orig_mod.`` prefix. The compiled run follows
the eager one to float32 rounding (a compiler may fuse and reorder operations); the script checks
that, and that the recorder saw every step.

On a CPU, inductor (the default backend) compiles C++ the first time: about 30 s on a 2-core
machine with an empty cache, 8 s with a warm one; ``backend="eager"`` traces the model with
TorchDynamo and runs the captured graph without generating code (a few seconds).

Run: ``python examples/compile_example.py [backend]``.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from reglab import L2, Regularized, Trajectory, watch


def train(steps: int, backend: str | None) -> Trajectory:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    X, y = torch.randn(128, 8), torch.randn(128, 1)
    forward = model if backend is None else torch.compile(model, backend=backend)
    opt = Regularized(torch.optim.Adam(model.parameters(), lr=0.01), model, [L2(0.01, update="decoupled")])
    recorder = watch(model, opt)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(forward(X), y).backward()
        opt.step()
    return recorder.close().trajectory()


def main(steps: int = 30, backend: str = "inductor") -> Trajectory:
    compiled, eager = train(steps, backend), train(steps, None)
    assert compiled.steps[-1] == steps and compiled.tensor_names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    np.testing.assert_allclose(compiled.values, eager.values, rtol=1e-4, atol=1e-5)
    gap = float(np.abs(compiled.values - eager.values).max())
    print(f"torch.compile(backend={backend!r}), {steps} steps under Regularized: follows the eager run "
          f"(largest difference {gap:.1e})")
    return compiled


if __name__ == "__main__":
    main(backend=sys.argv[1] if len(sys.argv) > 1 else "inductor")
