"""Recorder, watch() and Trajectory: what is recorded, when, and how it is saved."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import reglab
from reglab import L1, L2, Recorder, Regularized, Trajectory, fit, watch
from reglab.data import Dataset, zero_column
from reglab.models import mlp
from reglab.observe import SUMMARY_FIELDS


def _small_mlp_data(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 4))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=40)
    return Dataset.from_arrays(X, y)


def test_trajectory_starts_at_initial_values_and_steps_follow_updates() -> None:
    ds = zero_column(n=30, p=3, column=0)
    res = fit("linear", ds, lr=0.05, steps=20, record=True, seed=3)
    traj = res.trajectory
    w0 = reglab.fit("linear", ds, lr=0.05, steps=0, seed=3).model.linear.weight.detach().numpy().ravel()
    assert traj.steps.tolist() == list(range(21))
    np.testing.assert_array_equal(traj.values[0, :3], w0)
    np.testing.assert_array_equal(traj.values[-1, :3], res.model.linear.weight.detach().numpy().ravel())
    assert traj.names == ["linear.weight[0,0]", "linear.weight[0,1]", "linear.weight[0,2]", "linear.bias[0]"]


def test_recorded_gradient_is_the_data_loss_gradient_without_the_penalty() -> None:
    ds = zero_column(n=30, p=3, column=0)
    res = fit("linear", ds, lr=0.05, steps=5, record=True, penalties=[L2(10.0)])
    traj = res.trajectory
    # recompute the data-loss gradient at the recorded values of row 2
    model = reglab.models.linear(3)
    with torch.no_grad():
        model.linear.weight.copy_(torch.as_tensor(traj.values[2, :3]).reshape(1, 3))
        model.linear.bias.copy_(torch.as_tensor(traj.values[2, 3:]))
    res.loss(model(ds.X), ds.y).backward()
    expected = np.concatenate([model.linear.weight.grad.numpy().ravel(), model.linear.bias.grad.numpy()])
    np.testing.assert_allclose(traj.grads[2], expected, rtol=1e-12, atol=1e-15)
    assert traj.grads[2, 0] == 0.0  # the zero column: no data gradient, whatever the L2 pull
    assert np.isnan(traj.grads[-1]).all()  # no step after the final state, so no gradient seen


def test_watch_on_hand_written_loop_records_the_same_values_as_fit() -> None:
    ds = _small_mlp_data()
    res = fit("mlp", ds, loss="squared", lr=0.05, steps=30, seed=7, record=True, model_args={"hidden": [8]},
              penalties=[L1(1e-3, update="proximal")])
    model = mlp(4, hidden=[8], generator=torch.Generator().manual_seed(7), dtype=torch.float32)
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.05), model, [L1(1e-3, update="proximal")])
    rec = watch(model, opt, steps=30)
    X, y = ds.X.float(), ds.y.float()
    for _ in range(30):
        opt.zero_grad()
        ((y - model(X).reshape(-1)) ** 2).mean().backward()
        opt.step()
    mine, theirs = rec.close().trajectory(), res.trajectory
    assert mine.names == theirs.names
    np.testing.assert_array_equal(mine.steps, theirs.steps)
    np.testing.assert_array_equal(mine.values, theirs.values)
    np.testing.assert_array_equal(mine.grads, theirs.grads)


def test_watch_works_on_plain_torch_optimizer_and_grows_its_buffers() -> None:
    model = torch.nn.Linear(3, 1, dtype=torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.2)
    rec = watch(model, opt)  # steps unknown: every step, buffers grow
    x = torch.ones(5, 3, dtype=torch.float64)
    for _ in range(150):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    traj = rec.close().trajectory()
    assert traj.steps.tolist() == list(range(151))
    assert rec.hook_seconds > 0.0 and rec.close().trajectory() is traj  # built once when closed
    np.testing.assert_array_equal(traj.values[-1, :3], model.weight.detach().numpy().ravel())
    # SGD's weight_decay wd is an L2 of strength wd/2 by rule gradient: factor 1 − lr·wd
    np.testing.assert_allclose(traj.weights["theory_rate"][:3], 1 - 0.1 * 0.2, rtol=0, atol=1e-15)


def test_every_and_tail_schedule_keeps_about_a_thousand_snapshots() -> None:
    ds = zero_column(n=20, p=2)
    res = fit("linear", ds, lr=0.01, steps=1500, record=True)
    steps = res.trajectory.steps
    assert steps[0] == 0 and steps[-1] == 1500
    assert np.all(np.diff(steps) > 0)
    assert set(range(0, 1501, 2)) <= set(steps.tolist())
    assert set(range(1450, 1501)) <= set(steps.tolist())  # the tail, every step
    assert len(steps) == 751 + 25  # every 2nd step, plus the odd steps of the tail


@pytest.mark.parametrize("fast", [True, False])  # the fast path records too
def test_early_stop_records_the_final_state(fast: bool) -> None:
    ds = zero_column(n=40, p=3)
    res = fit("linear", ds, lr="auto", steps=5000, tol=1e-6, record=True, fast=fast)
    assert res.status == "converged"
    traj = res.trajectory
    assert traj.steps[-1] == res.steps_run
    np.testing.assert_array_equal(traj.values[-1, :3], res.model.linear.weight.detach().numpy().ravel())


def test_per_tensor_summaries_match_direct_computation() -> None:
    ds = zero_column(n=30, p=4, column=1)
    res = fit("linear", ds, lr=0.1, steps=40, record={"tol": 1e-3}, penalties=[L1(0.3, update="proximal")])
    traj = res.trajectory
    W = traj.values[:, :4]
    assert traj.tensor_names == ["linear.weight", "linear.bias"]
    np.testing.assert_allclose(traj.summary("linear.weight", "l2_norm"), np.linalg.norm(W, axis=1), rtol=1e-12)
    np.testing.assert_allclose(traj.summary("linear.weight", "l1_norm"), np.abs(W).sum(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(traj.summary("linear.weight", "frac_zero"), (W == 0).mean(axis=1))
    np.testing.assert_array_equal(traj.summary("linear.weight", "frac_small"), (np.abs(W) < 1e-3).mean(axis=1))
    upd = traj.summary("linear.weight", "update_norm")
    assert np.isnan(upd[0])
    np.testing.assert_allclose(upd[1:], np.linalg.norm(np.diff(W, axis=0), axis=1), rtol=1e-10, atol=1e-15)
    assert traj.summary("linear.weight", "frac_zero")[-1] > 0  # L1 proximal made exact zeros
    assert list(traj.summaries_to_pandas().columns) == ["step", "tensor", *SUMMARY_FIELDS]


def test_large_model_tracks_named_tensors_a_seeded_sample_and_masked_elements() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(200, 80), torch.nn.ReLU(), torch.nn.Linear(80, 3))
    mask = torch.zeros(80, 200, dtype=torch.bool)
    mask[5, 7] = mask[60, 99] = True
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.01), model, [L2(0.1, on={"0.weight": mask})])
    rec = Recorder(model, opt, steps=10, track="2.*", sample=200, seed=1)
    names = rec.trajectory().names
    assert len(names) == len(set(names))
    assert {"0.weight[5,7]", "0.weight[60,99]"} <= set(names)
    assert {f"2.weight[{i},{j}]" for i in range(3) for j in range(80)} <= set(names)
    assert {"2.bias[0]", "2.bias[1]", "2.bias[2]"} <= set(names)
    assert len(names) == 2 + 243 + 200
    again = Recorder(model, opt, steps=10, track="2.*", sample=200, seed=1).trajectory().names
    other = Recorder(model, opt, steps=10, track="2.*", sample=200, seed=2).trajectory().names
    assert again == names and other != names
    traj = rec.trajectory()
    # the masked weight carries its L2 strength and 1 − 2ηλ; an unmasked sampled one carries none
    i = traj.index("0.weight[5,7]")
    assert traj.weights["l2"][i] == 0.1
    assert traj.weights["theory_rate"][i] == pytest.approx(1 - 2 * 0.01 * 0.1, abs=1e-15)


def test_tracked_values_and_gradients_of_a_sampled_model_are_the_named_elements() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(120, 100), torch.nn.Tanh(), torch.nn.Linear(100, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    rec = watch(model, opt, sample=50, seed=0, track="2.bias")
    x = torch.randn(16, 120)
    grads = []
    for step in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        if step == 1:
            model[2].bias.grad = None  # a parameter without a gradient reads as 0
        grads.append({n: torch.zeros_like(p) if p.grad is None else p.grad.clone()
                      for n, p in model.named_parameters()})
        opt.step()
    traj = rec.close().trajectory()
    params = dict(model.named_parameters())
    assert any(n.startswith("2.bias") for n in traj.names)  # tracked: it is among the named tensors' elements
    for j, name in enumerate(traj.names):
        tensor, idx = name[:-1].split("[")
        at = tuple(int(i) for i in idx.split(","))
        assert params[tensor][at].item() == traj.values[-1, j]
        for t in range(3):  # row t: the data gradient at the values after t steps
            assert grads[t][tensor][at].item() == traj.grads[t, j]


def test_trajectory_save_load_round_trips_exactly(tmp_path) -> None:
    res = fit("linear", zero_column(n=20, p=3), lr=0.05, steps=15, record=True, penalties=[L2(0.1)])
    traj = res.trajectory
    path = traj.save(tmp_path / "sub" / "traj.npz")
    back = Trajectory.load(path)
    assert back.names == traj.names and back.tensor_names == traj.tensor_names and back.meta == traj.meta
    np.testing.assert_array_equal(back.steps, traj.steps)
    np.testing.assert_array_equal(back.values, traj.values)
    np.testing.assert_array_equal(back.grads, traj.grads)
    np.testing.assert_array_equal(back.summaries, traj.summaries)
    for k in traj.weights:
        np.testing.assert_array_equal(back.weights[k], traj.weights[k])
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_loading_a_file_holding_a_pickled_object_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, steps=np.arange(2), values=np.zeros((2, 1)), names=np.asarray(["w"]),
             meta=np.asarray([{"format": "reglab.trajectory/1"}], dtype=object))
    with pytest.raises(ValueError, match="pickled Python objects"):
        Trajectory.load(path)


def test_loading_a_file_that_is_not_a_trajectory_is_refused(tmp_path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match="not a reglab trajectory"):
        Trajectory.load(path)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a reglab trajectory"):
        Trajectory.load(tmp_path / "text.npz")
    import pickle

    (tmp_path / "p.npz").write_bytes(pickle.dumps({"steps": [0]}))
    with pytest.raises(ValueError, match="is a pickle"):
        Trajectory.load(tmp_path / "p.npz")


def test_to_pandas_long_and_wide_forms_hold_the_same_numbers() -> None:
    traj = fit("linear", zero_column(n=20, p=2), lr=0.05, steps=4, record=True).trajectory
    long, wide = traj.to_pandas(), traj.to_pandas("wide")
    assert list(long.columns) == ["step", "name", "value", "grad"]
    assert len(long) == traj.values.size and wide.shape == traj.values.shape
    pivot = long.pivot(index="step", columns="name", values="value")[traj.names]
    np.testing.assert_array_equal(pivot.to_numpy(), wide.to_numpy())
    assert traj.index("linear.weight[0,1]") == 1
    with pytest.raises(KeyError, match="not tracked"):
        traj.index("linear.weight[5,5]")
    with pytest.raises(ValueError, match="'long' or 'wide'"):
        traj.to_pandas("tall")  # type: ignore[arg-type]


def test_recorder_rejects_bad_options_with_clear_errors() -> None:
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="every must be"):
        Recorder(model, opt, every=0)
    with pytest.raises(TypeError, match="optimizer must be"):
        Recorder(model, "sgd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="matches no parameter"):
        Recorder(model, opt, track="fc9.*", all_below=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        fit("linear", zero_column(n=10, p=2), steps=2, record={"evry": 2})


def test_unrecorded_steps_do_no_tensor_work() -> None:
    model = torch.nn.Linear(3, 1, dtype=torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.ones(2, 3, dtype=torch.float64)

    def op_counts(n: int) -> dict[str, int]:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(n):
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
        return {e.key: e.count for e in prof.key_averages()}

    bare = op_counts(40)
    rec = watch(model, opt, steps=1000, every=100, tail=0)
    op_counts(1)  # step 1: its post-hook reads the gradient at the recorded step 0
    reads = []
    read = rec._reader.read
    rec._reader.read = lambda *a, **k: reads.append(a) or read(*a, **k)  # the compiled reader is no torch op
    hooked = op_counts(40)  # steps 2..41: none recorded
    assert hooked == bare and reads == []
    assert rec.trajectory().steps.tolist() == [0]


def test_a_step_hook_that_changes_grad_in_place_is_caught_and_recording_moves_before_the_step() -> None:
    model = torch.nn.Linear(3, 1, dtype=torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = watch(model, opt, steps=6)  # torch's SGD leaves .grad alone: read after the step
    x = torch.ones(4, 3, dtype=torch.float64)
    data_grads = []

    def halve(optimizer, args, kwargs):  # runs after the recorder's own pre-hook
        if len(data_grads) >= 4:  # from the step with index 3 on
            for p in model.parameters():
                p.grad.mul_(0.5)

    opt.register_step_pre_hook(halve)
    for step in range(6):
        opt.zero_grad()
        model(x).square().sum().backward()
        data_grads.append(np.concatenate([p.grad.numpy().ravel() for p in model.parameters()]))
        if step == 3:
            with pytest.warns(RuntimeWarning, match=r"changed \.grad in place at step 4.*step 3 was not recorded"):
                opt.step()
        else:
            opt.step()
    traj = rec.close().trajectory()
    np.testing.assert_array_equal(traj.grads[:3], np.stack(data_grads[:3]))
    assert np.isnan(traj.grads[3]).all()  # lost, and said so
    np.testing.assert_array_equal(traj.grads[4:6], np.stack(data_grads[4:6]))  # read before the hook halves it


@pytest.mark.parametrize("every", [1, 3])
def test_live_and_deferred_summaries_agree(every: int) -> None:
    ds = zero_column(n=30, p=4, column=1)
    kw = dict(lr=0.1, steps=30, penalties=[L1(0.3, update="proximal")], seed=2)
    opts = {"every": every, "tail": 0, "tol": 1e-3}
    deferred = fit("linear", ds, record=opts, **kw).trajectory  # every weight tracked: computed on copy-out
    live = fit("linear", ds, record={**opts, "all_below": 0, "sample": 2}, **kw).trajectory  # computed live
    assert len(live.names) == 2 < len(deferred.names)
    np.testing.assert_array_equal(live.steps, deferred.steps)
    np.testing.assert_allclose(live.summaries, deferred.summaries, rtol=1e-12, atol=1e-15, equal_nan=True)
    upd = deferred.summary("linear.weight", "update_norm")
    assert np.isnan(upd[0]) and np.isfinite(upd[1:]).all()
    # with every=3, the update is that of the recorded step alone, not of the 3 steps since the last row
    one_step = fit("linear", ds, record={"every": 1, "tail": 0}, **kw).trajectory
    rows = np.searchsorted(one_step.steps, deferred.steps[1:])
    np.testing.assert_allclose(upd[1:], one_step.summary("linear.weight", "update_norm")[rows], rtol=1e-12)


def _reference_summaries(params: list[torch.Tensor], before: list[torch.Tensor] | None, tol: float) -> np.ndarray:
    """Per tensor, the five summaries computed the plain way, one torch call each (shape (P, 5))."""
    rows = []
    for p, b in zip(params, before if before is not None else [None] * len(params)):
        w = p.detach()
        rows.append([float(torch.linalg.vector_norm(w.double())), float(w.double().abs().sum()),
                     float((w == 0).double().mean()), float((w.abs() < tol).double().mean()),
                     math.nan if b is None else float(torch.linalg.vector_norm((w - b).double()))])
    return np.asarray(rows)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("every", [1, 3])
@pytest.mark.parametrize("tol", [1e-3, 0.0])
def test_fused_live_summaries_equal_the_per_tensor_computation(dtype: torch.dtype, every: int, tol: float) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(30, 20), torch.nn.Tanh(), torch.nn.Linear(20, 1)).to(dtype)
    with torch.no_grad():  # exact zeros, and weights at tol and just below it (as the dtype rounds tol)
        t = torch.tensor(tol, dtype=dtype)
        model[0].weight[0, :3] = torch.stack([torch.zeros((), dtype=dtype), t, torch.nextafter(t, -t - 1)])
        model[2].bias.zero_()
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.05), model, [L1(0.02, update="proximal")])
    rec = watch(model, opt, steps=12, every=every, tail=0, all_below=0, sample=7, tol=tol)
    expected = {0: _reference_summaries(list(model.parameters()), None, tol)}
    x = torch.randn(64, 30, dtype=dtype)
    y = torch.randn(64, 1, dtype=dtype)
    for step in range(1, 13):
        before = [p.detach().clone() for p in model.parameters()]
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        if step % every == 0:
            expected[step] = _reference_summaries(list(model.parameters()), before, tol)
    traj = rec.close().trajectory()
    assert traj.steps.tolist() == sorted(expected)
    got = traj.summaries
    want = np.stack([expected[s] for s in traj.steps.tolist()])
    rtol = 1e-12 if dtype == torch.float64 else 2e-6
    for k in (0, 1, 4):  # norms
        np.testing.assert_allclose(got[:, :, k], want[:, :, k], rtol=rtol, atol=0, equal_nan=True)
    np.testing.assert_array_equal(got[:, :, 2:4], want[:, :, 2:4])  # fractions: exact counts
    assert got[0, 0, 2] > 0 and got[-1, 0, 2] > got[0, 0, 2]  # the proximal L1 made exact zeros


def test_live_summary_fractions_are_nan_for_a_tensor_holding_nan() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(40, 30), torch.nn.Linear(30, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = watch(model, opt, every=2, all_below=0, sample=5)
    opt.zero_grad()
    model(torch.ones(3, 40)).sum().backward()
    opt.step()  # step 1: not recorded
    with torch.no_grad():
        model[0].weight[3, 4] = math.nan
    rec.close()  # records the final state
    assert rec.trajectory().steps.tolist() == [0, 1]
    last = rec.trajectory().summaries[-1]
    assert np.isnan(last[0, [0, 1, 2, 3]]).all()  # the tensor with the NaN
    assert np.isfinite(last[1:, :4]).all()  # the others


@pytest.mark.parametrize("options", [{"every": 1}, {"every": 3, "tail": 4},
                                     {"every": 2, "tail": 0, "all_below": 0, "sample": 3}])
def test_recording_on_the_fast_path_equals_recording_the_autograd_loop(options: dict, monkeypatch) -> None:
    from reglab.training.fast_linear import LinearFastPath

    runs = []
    run = LinearFastPath.run
    monkeypatch.setattr(LinearFastPath, "run", lambda self, *a, **k: runs.append(k) or run(self, *a, **k))
    ds = zero_column(n=60, p=5, column=2)
    kw = dict(lr=0.05, steps=17, seed=4, penalties=[L2(0.3), L1(0.05, update="proximal")], record=options)
    fast = fit("linear", ds, **kw)
    assert len(runs) == 1 and runs[0]["recorder"] is fast.recorder  # recorded on the fast path
    plain = fit("linear", ds, fast=False, **kw)
    assert len(runs) == 1
    a, b = fast.trajectory, plain.trajectory
    assert a.names == b.names and a.tensor_names == b.tensor_names
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.grads, b.grads, rtol=1e-10, atol=1e-13, equal_nan=True)
    np.testing.assert_allclose(a.summaries, b.summaries, rtol=1e-10, atol=1e-13, equal_nan=True)
    for k in b.weights:
        np.testing.assert_array_equal(a.weights[k], b.weights[k])
    assert np.isnan(a.grads[-1]).all() and np.isfinite(a.grads[:-1]).all()


def test_recording_fista_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="recording runs on optimizer='gd'"):
        fit("linear", zero_column(n=40, p=3), optimizer="fista", steps=5, record=True)


@pytest.mark.parametrize("case", ["converges", "diverges", "raises"])
def test_fast_path_writing_the_recorders_rows_records_what_the_autograd_loop_does(case: str, monkeypatch) -> None:
    """Every weight at every step: the fast path computes Θ and the gradient into the recorder's rows
    (no call per step), and stops, or raises, with the rows counted as the autograd loop's are."""
    from reglab.training.fast_linear import LinearFastPath

    into_rows = []
    recorder_rows = LinearFastPath._recorder_rows
    monkeypatch.setattr(LinearFastPath, "_recorder_rows",
                        lambda self, *a: into_rows.append(recorder_rows(self, *a)) or into_rows[-1])
    ds = zero_column(n=50, p=4, column=1)
    kw = dict(steps=400, seed=2, record={"every": 1}, log_every=3, penalties=[L2(0.05, update="decoupled")])
    kw |= {"converges": dict(lr="auto", tol=1e-7), "diverges": dict(lr=0.8, on_divergence="stop"),
           "raises": dict(lr=0.8)}[case]
    runs = []
    if case == "raises":  # the recorder built inside fit: catch it on its way out
        init = Recorder.__init__
        monkeypatch.setattr(Recorder, "__init__", lambda self, *a, **k: runs.append(self) or init(self, *a, **k))
        with pytest.raises(reglab.DivergenceError):
            fit("linear", ds, **kw)
        with pytest.raises(reglab.DivergenceError):
            fit("linear", ds, fast=False, **kw)
        a, b = (r.close().trajectory() for r in runs)
    else:
        fast, plain = fit("linear", ds, **kw), fit("linear", ds, fast=False, **kw)
        assert fast.status == plain.status == {"converges": "converged", "diverges": "diverged"}[case]
        assert fast.steps_run == plain.steps_run < 400
        a, b = fast.trajectory, plain.trajectory
        assert a.steps[-1] == fast.steps_run
    assert len(into_rows) == 1 and into_rows[0] is not None  # the fast path wrote the rows
    np.testing.assert_array_equal(a.steps, b.steps)
    finite = np.isfinite(b.values).all(axis=1)
    assert finite.sum() >= 5
    np.testing.assert_allclose(a.values[finite], b.values[finite], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(a.grads[finite], b.grads[finite], rtol=1e-10, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(a.summaries[finite], b.summaries[finite], rtol=1e-10, atol=1e-12, equal_nan=True)


# -- opt.step(closure): Lightning's way, and L-BFGS's ---------------------------------------------------


def _closure_problem() -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 1, dtype=torch.float64)
    return lin, torch.randn(20, 3, dtype=torch.float64), torch.randn(20, 1, dtype=torch.float64)


def _data_grad_at(values: np.ndarray, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """∇ of the mean squared error of Linear(3, 1) at flat values [w (3), b (1)]."""
    w = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    ((X @ w[:3] + w[3]).unsqueeze(1) - y).square().mean().backward()
    return w.grad.numpy()


@pytest.mark.parametrize("make", [
    lambda lin: Regularized(torch.optim.SGD(lin.parameters(), lr=0.1), lin, [L2(0.01)]),
    lambda lin: torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9),
    lambda lin: Regularized(torch.optim.LBFGS(lin.parameters(), lr=0.5, max_iter=3), lin, [L2(0.01)]),
    lambda lin: torch.optim.LBFGS(lin.parameters(), lr=0.5, max_iter=3),
], ids=["regularized-sgd", "sgd-momentum", "regularized-lbfgs", "lbfgs"])
@pytest.mark.parametrize("keyword", [False, True], ids=["positional", "keyword"])
def test_a_closure_step_records_the_gradient_at_the_row_s_own_weights(make, keyword: bool) -> None:
    lin, X, y = _closure_problem()
    opt = make(lin)
    rec = watch(lin, opt)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (lin(X) - y).square().mean()
        loss.backward()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "changed .grad in place" fallback
        for _ in range(4):
            opt.step(closure=closure) if keyword else opt.step(closure)
    t = rec.trajectory()
    assert t.grads is not None and len(t.steps) == 5
    for row in range(4):  # the last row's gradient is never computed: the run ended
        np.testing.assert_allclose(t.grads[row], _data_grad_at(t.values[row], X, y), rtol=1e-12, atol=1e-14)
    assert np.isnan(t.grads[4]).all()
