"""Short readable reprs: FitResult, Trajectory and Diagnosis name their key numbers, never their arrays."""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

import reglab
from reglab.observe import diagnose


def _big_fit() -> reglab.FitResult:
    """An MLP of about 10,000 weights, recorded."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 50)).astype(np.float32)
    y = X[:, 0].astype(np.float32)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(50, 200), nn.ReLU(), nn.Linear(200, 1), nn.Flatten(0))
    assert sum(p.numel() for p in net.parameters()) > 10_000
    return reglab.fit(net, (X, y), loss="squared", penalties=[reglab.L2(0.01)], lr=0.01, steps=20, record=True)


def test_reprs_are_short_and_name_the_key_numbers() -> None:
    res = _big_fit()
    text = repr(res)
    assert len(text) < 500, text
    h = res.history
    for part in ("status='max_steps'", "steps=20", f"data_loss={h.data_loss[-1]:.6g}", f"penalty={h.penalty[-1]:.6g}",
                 "terms=[L2(0.01)]", "Sequential(", "parameters in 4 tensors", "X(64, 50) y(64,)", "recorded"):
        assert part in text, (part, text)
    traj = res.trajectory
    text = repr(traj)
    assert len(text) < 500, text
    assert f"{len(traj)} recorded steps" in text and f"{len(traj.names)} weights" in text
    assert f"{len(traj.tensor_names)} tensors summarised" in text
    diag = diagnose(res)
    text = repr(diag)
    assert len(text) < 500, text
    assert f"Diagnosis({len(diag.per_weight)} weights:" in text
    present = {cls: n for cls, n in diag.counts.items() if n}
    assert dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", text) if k in present) == present
    assert "null_model=" in text
