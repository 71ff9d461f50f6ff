"""Mixed precision on the CPU: ``torch.autocast`` (bfloat16) and ``torch.amp.GradScaler`` around
``Regularized``, watched by reglab.

``GradScaler`` works on the CPU (``torch.amp.GradScaler("cpu")``): ``scaler.step(opt)`` unscales
the gradients in the wrapper's ``param_groups`` (shared with the inner optimizer), then calls
``opt.step()``, which applies the penalty by its rule. Scaling by a power of two is exact, so the
run with the scaler is bit for bit the run without it; the script checks that.

Run: ``python examples/amp_gradscaler.py``.
"""

from __future__ import annotations

import torch

from reglab import L2, Regularized, Trajectory, watch


def train(steps: int, scaled: bool) -> tuple[list[torch.Tensor], Trajectory]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    X, y = torch.randn(64, 8), torch.randn(64, 1)
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.05), model, [L2(0.01)])
    recorder = watch(model, opt)
    scaler = torch.amp.GradScaler("cpu", enabled=scaled)
    for _ in range(steps):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(model(X).float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return [p.detach().clone() for p in model.parameters()], recorder.close().trajectory()


def main(steps: int = 50) -> Trajectory:
    scaled, traj = train(steps, scaled=True)
    plain, _ = train(steps, scaled=False)
    assert all(torch.equal(a, b) for a, b in zip(scaled, plain)), "GradScaler changed the run"
    assert traj.steps[-1] == steps  # every step was taken (no inf/NaN skipped one)
    print(f"autocast(bfloat16) + GradScaler: {steps} steps, bit for bit the run without the scaler; "
          f"last layer's weight norm {traj.summary('2.weight')[-1]:.4f}")
    return traj


if __name__ == "__main__":
    main()
