"""The recorder's compiled CPU reader against torch's reader, and against plain recomputation."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import reglab
from reglab import L1, L2, Regularized, fit, watch
from reglab.observe import record as rec_mod
from reglab.data import zero_column


def _torch_reader_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every recorder built from here on read with torch operations."""
    monkeypatch.setattr(rec_mod, "_reader_for", lambda params, idx, dtype, tol, summaries, **_:
                        rec_mod._TorchReader(params, idx, dtype, tol, summaries))


def _train(dtype: torch.dtype, options: dict, steps: int = 9, seed: int = 0) -> rec_mod.Recorder:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(30, 20), torch.nn.Tanh(), torch.nn.Linear(20, 2)).to(dtype)
    with torch.no_grad():  # exact zeros, and weights at tol and just below it (as the dtype rounds tol)
        t = torch.tensor(1e-3, dtype=dtype)
        model[0].weight[0, :3] = torch.stack([torch.zeros((), dtype=dtype), t, torch.nextafter(t, -t - 1)])
        model[2].bias.zero_()
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.05), model,
                      [L1(0.02, update="proximal"), L2(0.1, on="2.weight")])
    rec = watch(model, opt, steps=steps, tol=1e-3, reader="compiled", **options)
    g = torch.Generator().manual_seed(seed + 1)
    x, y = torch.randn(64, 30, generator=g, dtype=dtype), torch.randn(64, 2, generator=g, dtype=dtype)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    return rec.close()


OPTIONS = [{"every": 1}, {"every": 3, "tail": 2}, {"every": 1, "all_below": 0, "sample": 40},
           {"every": 2, "tail": 0, "all_below": 0, "sample": 40, "track": "2.*"}, {"every": 1, "grads": False},
           {"every": 2, "summaries": False}]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("options", OPTIONS)
def test_compiled_and_torch_readers_record_the_same(dtype: torch.dtype, options: dict,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = _train(dtype, options)
    assert isinstance(compiled._reader, rec_mod._KernelReader)
    _torch_reader_only(monkeypatch)
    reference = _train(dtype, options)
    assert isinstance(reference._reader, rec_mod._TorchReader)
    a, b = compiled.trajectory(), reference.trajectory()
    assert a.names == b.names
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.values, b.values)  # gathers: exact copies
    if b.grads is None:
        assert a.grads is None
    else:
        np.testing.assert_array_equal(a.grads, b.grads)
    if b.summaries is None:
        assert a.summaries is None
        return
    # norms: the compiled reader sums in float64, torch's in the weights' dtype
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    for k in (0, 1, 4):
        np.testing.assert_allclose(a.summaries[:, :, k], b.summaries[:, :, k], rtol=rtol, atol=0, equal_nan=True)
    np.testing.assert_array_equal(a.summaries[:, :, 2:4], b.summaries[:, :, 2:4])  # exact counts
    assert a.summaries[0, 0, 2] > 0 and a.summaries[0, 0, 3] > a.summaries[0, 0, 2]


def test_compiled_reader_sums_in_float64() -> None:
    """Float32 weights whose float32 sum of squares would round: the recorded norm is the exact one."""
    model = torch.nn.Linear(4000, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.weight[0, 0] = 1e-4  # lost in a float32 running sum of about 4000
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    rec = watch(model, opt, all_below=0, sample=3, reader="compiled")
    assert isinstance(rec._reader, rec_mod._KernelReader)
    l2 = rec.close().trajectory().summary("weight", "l2_norm")[0]
    w = model.weight.detach().double().numpy()
    assert l2 == pytest.approx(math.sqrt(float((w * w).sum())), rel=1e-15)


def test_parameters_that_move_or_are_not_contiguous_are_read_in_their_logical_order() -> None:
    model = torch.nn.Linear(6, 5, dtype=torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = watch(model, opt, reader="compiled")
    assert isinstance(rec._reader, rec_mod._KernelReader)
    x = torch.randn(8, 6, dtype=torch.float64)
    seen_values, seen_grads = [], []
    for step in range(4):
        if step == 2:  # new, non-contiguous storage for the weight: same values, transposed layout
            with torch.no_grad():
                model.weight.data = model.weight.detach().t().contiguous().t()
            assert not model.weight.is_contiguous()
        opt.zero_grad()
        model(x).square().sum().backward()
        if step == 1:  # a gradient that is not contiguous
            model.weight.grad = model.weight.grad.t().contiguous().t()
        seen_grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).numpy().copy())
        opt.step()
        seen_values.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy())
    traj = rec.close().trajectory()
    np.testing.assert_array_equal(traj.values[1:], np.stack(seen_values))
    np.testing.assert_array_equal(traj.grads[:-1], np.stack(seen_grads))
    w = np.stack(seen_values)[:, :30]
    np.testing.assert_allclose(traj.summary("weight", "l1_norm")[1:], np.abs(w).sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(traj.summary("weight", "update_norm")[2:], np.linalg.norm(np.diff(w, axis=0), axis=1),
                               rtol=1e-12)


@pytest.mark.parametrize("model", ["linear", "softmax"])
def test_fast_path_hands_its_own_buffers_to_the_compiled_reader(model: str) -> None:
    """The fast path's Θ views (a transposed weight for softmax) give the autograd loop's recording."""
    ds = zero_column(n=60, p=5, column=2)
    if model == "softmax":
        ds = (ds.X.numpy(), np.digitize(ds.y.numpy(), [-0.5, 0.5]))
    kw = dict(lr=0.05, steps=12, seed=4, penalties=[L2(0.3), L1(0.05)], record={"every": 1, "reader": "compiled"})
    fast, plain = fit(model, ds, **kw), fit(model, ds, fast=False, **kw)
    assert isinstance(fast.recorder._reader, rec_mod._KernelReader)
    a, b = fast.trajectory, plain.trajectory
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.grads, b.grads, rtol=1e-10, atol=1e-13, equal_nan=True)
    np.testing.assert_allclose(a.summaries, b.summaries, rtol=1e-10, atol=1e-13, equal_nan=True)


def _rows_and_steps(dtype: torch.dtype, steps: int = 8) -> tuple[rec_mod.Recorder, rec_mod.Recorder]:
    """The same run recorded step by step (hooks) and by writing the rows (as the fast path does)."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(12, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)).to(dtype)
    with torch.no_grad():  # weights at tol and just below it (as the dtype rounds tol)
        t = torch.tensor(1e-3, dtype=dtype)
        model[0].weight[0, :2] = torch.stack([t, torch.nextafter(t, -t - 1)])
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model, [L1(0.05, update="proximal")])
    stepwise = watch(model, opt, steps=steps, every=1, tol=1e-3, reader="compiled")
    rows = rec_mod.Recorder(model, opt, steps=steps, every=1, tol=1e-3, hooks=False, reader="compiled")
    ahead = rows.rows_ahead(steps)
    assert ahead is not None
    values, grads = ahead
    x, y = torch.randn(32, 12, dtype=dtype), torch.randn(32, 1, dtype=dtype)
    for s in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        grads[s] = torch.cat([p.grad.reshape(-1) for p in model.parameters()])  # the data-loss gradient
        values[s + 1] = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    rows.commit_rows(steps)
    return stepwise.close(), rows.close()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reader", ["compiled", "torch"])
def test_rows_written_by_the_loop_are_summarized_as_the_steps_are(dtype: torch.dtype, reader: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if reader == "torch":
        _torch_reader_only(monkeypatch)
    stepwise, rows = _rows_and_steps(dtype)
    assert isinstance(rows._reader, rec_mod._KernelReader if reader == "compiled" else rec_mod._TorchReader)
    a, b = rows.trajectory(), stepwise.trajectory()
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.grads, b.grads)
    # both sum in float64 here (the step-by-step reference is the compiled reader, or torch's in dtype)
    rtol = 1e-12 if reader == "compiled" or dtype == torch.float64 else 1e-5
    for k in (0, 1, 4):
        np.testing.assert_allclose(a.summaries[:, :, k], b.summaries[:, :, k], rtol=rtol, atol=0)
    np.testing.assert_array_equal(a.summaries[:, :, 2:4], b.summaries[:, :, 2:4])  # exact counts
    # the rows hold exact zeros (the proximal step) and weights in (0, tol)
    assert (a.summaries[1:, 0, 2] > 0).any() and (a.summaries[1:, :, 3] > a.summaries[1:, :, 2]).any()
    # what the recorder keeps for the next update norm is the last row
    for kept, p in zip(rows._reader.kept(), rows.parameters):
        np.testing.assert_array_equal(kept.numpy(), p.detach().reshape(-1).numpy())


def test_rows_are_lent_only_when_every_weight_of_every_coming_step_is_recorded() -> None:
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert Recorder_(model, opt, steps=10, every=1).rows_ahead(10)[0].shape == (11, 4)
    assert Recorder_(model, opt, steps=10, every=2, tail=0).rows_ahead(10) is None  # some steps not recorded
    assert Recorder_(model, opt, steps=10, every=2, tail=0).rows_ahead(0) is not None
    assert Recorder_(model, opt, steps=10, every=2).rows_ahead(10) is not None  # the tail: every step
    assert Recorder_(model, opt, steps=10, every=1, all_below=0, sample=2).rows_ahead(10) is None  # a sample
    assert Recorder_(model, opt, steps=10, every=1, grads=False).rows_ahead(10)[1] is None
    rec = Recorder_(model, opt, steps=10, every=1)
    rec.rows_ahead(5)
    rec.commit_rows(5)
    assert rec.step_count == 5 and rec.rows_ahead(5)[0].shape == (6, 4)
    grows = Recorder_(model, opt, steps=2, every=1)
    assert grows.rows_ahead(500)[0].shape == (501, 4)  # past the planned steps: the buffers grow
    assert Recorder_(model, opt, steps=10, every=1).close().rows_ahead(1) is None


def Recorder_(model: torch.nn.Module, opt: torch.optim.Optimizer, **options) -> rec_mod.Recorder:  # noqa: N802
    return rec_mod.Recorder(model, opt, hooks=False, **options)


def _fresh_interpreter(tmp_path: Path, source: str) -> list[str]:
    """The lines ``source`` prints, run as a script in a new Python process (nothing imported yet)."""
    script = tmp_path / "script.py"
    script.write_text(source)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(reglab.__file__).parents[1])}).stdout.splitlines()


def test_auto_reader_takes_the_compiled_one_only_where_the_recording_repays_its_first_use(tmp_path: Path) -> None:
    """In a fresh interpreter (Numba not loaded): a recording planned below the compiled reader's first-use cost
    reads with torch and imports nothing; one planned above it, or open-ended (no ``steps``), reads compiled;
    and the choice is the recorder's own, whatever was loaded before (a short one after it is torch again)."""
    out = _fresh_interpreter(
        tmp_path,
        "import sys, torch\n"
        "from reglab import fit\n"
        "from reglab.data import zero_column\n"
        "from reglab.observe import record as rec_mod, watch\n"
        "model = torch.nn.Linear(10, 1, dtype=torch.float64)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "per_step = rec_mod._SAVED_PER_STEP_S + rec_mod._SAVED_PER_WEIGHT_S * 11\n"
        "repaid = rec_mod._COMPILED_FIRST_USE_S / per_step  # planned steps that repay the first use\n"
        "r = fit('linear', zero_column(n=40, p=5, column=2), lr=0.05, steps=200, record=True)\n"
        "print(r.recorder.reader, 'reglab.observe._record_kernels' in sys.modules)\n"
        "for fraction in (0.3, 1.1, 0.3):\n"
        "    print(watch(model, opt, steps=int(fraction * repaid), every=1, tail=0).reader)\n"
        "print(watch(model, opt).reader)\n",
    )
    assert out == ["torch False", "torch", "compiled", "torch", "compiled"]


def test_reader_must_be_a_known_name() -> None:
    model = torch.nn.Linear(3, 1)
    with pytest.raises(ValueError, match="reader must be 'auto', 'compiled' or 'torch'; got 'numba'"):
        watch(model, torch.optim.SGD(model.parameters(), lr=0.1), reader="numba")
