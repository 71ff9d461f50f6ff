"""fit(checkpoint=..., resume=...): killed runs resume bit-identically; bad checkpoints are refused by name."""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import reglab
from reglab import L1, L2
from reglab._hold import ENV
from reglab.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from reglab.data import zero_column

ROOT = Path(__file__).resolve().parents[2]

# an MLP under SGD minibatches, a cumulative-L1 term (its u/q totals live in Regularized's state)
# and every weight recorded: each piece of the checkpoint matters for bit-identity
KILL_STEPS = 400
KILL_KW: dict[str, Any] = dict(
    penalties=[L1(0.003, update="cumulative"), L2(0.01, on="*.weight")], optimizer="sgd", batch_size=8,
    lr=0.05, steps=KILL_STEPS, record=True, seed=11, model_args={"hidden": (8,)},
)
KILL_DATA = dict(n=64, p=5, column=0)


def _same_result(a: reglab.FitResult, b: reglab.FitResult) -> None:
    for (na, pa), (nb, pb) in zip(a.model.named_parameters(), b.model.named_parameters(), strict=True):
        assert na == nb and torch.equal(pa, pb), na
    assert a.history.to_dict() == b.history.to_dict()
    assert (a.status, a.steps_run) == (b.status, b.steps_run)
    if a.recorder is not None:
        ta, tb = a.trajectory, b.trajectory
        assert np.array_equal(ta.steps, tb.steps)
        assert np.array_equal(ta.values, tb.values, equal_nan=True)
        assert (ta.grads is None) == (tb.grads is None)
        if ta.grads is not None:
            assert np.array_equal(ta.grads, tb.grads, equal_nan=True)
        if ta.summaries is not None:
            assert np.array_equal(ta.summaries, tb.summaries, equal_nan=True)


def test_fit_killed_with_sigkill_mid_run_resumes_bit_identically(tmp_path: Path) -> None:
    ck = tmp_path / "run.pt"
    script = textwrap.dedent(f"""
        import torch
        torch.set_num_threads(1)
        import reglab
        from reglab import L1, L2
        from reglab.data import zero_column
        kw = dict(penalties=[L1(0.003, update="cumulative"), L2(0.01, on="*.weight")], optimizer="sgd",
                  batch_size=8, lr=0.05, steps={KILL_STEPS}, record=True, seed=11, model_args={{"hidden": (8,)}})
        reglab.fit("mlp", zero_column(**{KILL_DATA!r}), checkpoint={str(ck)!r}, checkpoint_every=5, **kw)
        print("finished")
    """)
    # the run holds after writing its first checkpoint (reglab._hold) until it is killed: the kill lands
    # mid-run on any machine, fast or loaded
    ready = tmp_path / "checkpoint.ready"
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, ENV: f"checkpoint:{ready}"})
    deadline = time.monotonic() + 600
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the run to reach the point; it holds there, so nothing races
    assert ready.exists(), proc.communicate()
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, (out, err)  # killed, not finished
    assert b"finished" not in out
    step = load_checkpoint(ck)["step"]
    assert step == 5  # the first checkpoint: the run held there until killed

    data = zero_column(**KILL_DATA)
    resumed = reglab.fit("mlp", data, resume=ck, **KILL_KW)
    whole = reglab.fit("mlp", data, **KILL_KW)
    _same_result(whole, resumed)
    assert resumed.steps_run == KILL_STEPS and len(resumed.trajectory) == len(whole.trajectory)


CASES: dict[str, dict[str, Any]] = {
    "adam_mlp": dict(model="mlp", penalties=[L2(0.01, update="decoupled")], optimizer="adam", lr=0.01, steps=60),
    "lbfgs_logistic": dict(model="logistic", penalties=[L2(0.05)], optimizer="lbfgs", lr=1.0, steps=25, tol=1e-12),
    # gd on a linear model would take the fast path: checkpointing runs the plain loop instead
    "gd_linear_proximal_tol": dict(model="linear", penalties=[L1(0.02, update="proximal")], lr=0.05, steps=90,
                                   tol=1e-14),
    "nesterov_sampled_recording": dict(model="mlp", penalties=[L2(0.01)], optimizer="nesterov", lr=0.02, steps=40,
                                       record={"all_below": 10, "sample": 6}),
    "sgd_linear_recorded": dict(model="linear", penalties=[L1(0.01, update="cumulative")], optimizer="sgd",
                                batch_size=16, lr=0.02, steps=55, record=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_resuming_from_the_last_checkpoint_equals_the_uninterrupted_run(case: str, tmp_path: Path) -> None:
    kw = dict(CASES[case])
    model = kw.pop("model")
    data = zero_column(n=48, p=4, column=0)
    if model == "logistic":
        data = (data.X, (data.y > data.y.median()).to(torch.float64))
    whole = reglab.fit(model, data, fast=False, **kw)  # checkpointing runs the plain loop
    ck = tmp_path / "c.pt"
    checkpointed = reglab.fit(model, data, checkpoint=ck, checkpoint_every=9, **kw)
    _same_result(whole, checkpointed)
    assert load_checkpoint(ck)["step"] == ((whole.steps_run - 1) // 9) * 9
    resumed = reglab.fit(model, data, resume=ck, **kw)
    _same_result(whole, resumed)


def test_resume_true_starts_afresh_without_a_file_and_continues_with_one(tmp_path: Path) -> None:
    ck = tmp_path / "c.pt"
    kw: dict[str, Any] = dict(penalties=[L2(0.1)], optimizer="momentum", lr=0.02, steps=30, seed=2)
    data = zero_column(n=40, p=3, column=1)
    first = reglab.fit("linear", data, checkpoint=ck, checkpoint_every=10, resume=True, **kw)
    assert load_checkpoint(ck)["step"] == 20
    again = reglab.fit("linear", data, checkpoint=ck, checkpoint_every=10, resume=True, **kw)
    _same_result(first, again)


def _checkpoint(tmp_path: Path) -> tuple[Path, dict[str, Any], Any]:
    ck = tmp_path / "c.pt"
    kw: dict[str, Any] = dict(penalties=[L2(0.1)], optimizer="sgd", batch_size=8, lr=0.02, steps=25)
    data = zero_column(n=40, p=3, column=1)
    reglab.fit("linear", data, checkpoint=ck, checkpoint_every=10, **kw)
    return ck, kw, data


def test_truncated_checkpoint_is_refused_naming_the_file(tmp_path: Path) -> None:
    ck, kw, data = _checkpoint(tmp_path)
    raw = ck.read_bytes()
    for cut in (0, 10, len(raw) // 2, len(raw) - 1):
        ck.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match=r"truncated.*c\.pt|c\.pt.*truncated"):
            reglab.fit("linear", data, resume=ck, **kw)


def test_checkpoint_with_a_flipped_byte_is_refused_naming_the_file(tmp_path: Path) -> None:
    ck, kw, data = _checkpoint(tmp_path)
    raw = bytearray(ck.read_bytes())
    for pos in (5, len(raw) // 3, len(raw) - 60):
        bad = bytearray(raw)
        bad[pos] ^= 0x01
        ck.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="c.pt.*corrupted"):
            reglab.fit("linear", data, resume=ck, **kw)


class _Payload:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def test_checkpoint_holding_a_pickled_object_is_refused_not_unpickled(tmp_path: Path) -> None:
    import hashlib

    from reglab.training import checkpoint as ck_mod

    buf = io.BytesIO()
    torch.save({"format": ck_mod.FORMAT, "step": _Payload()}, buf, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    body = buf.getvalue()
    path = tmp_path / "evil.pt"
    path.write_bytes(body + hashlib.sha256(body).digest() + ck_mod._MAGIC)  # a valid trailer: only the content is bad
    with pytest.raises(CheckpointError, match=r"evil\.pt.*could not be read safely"):
        load_checkpoint(path)


def test_checkpoint_of_another_spec_is_refused_saying_what_differs(tmp_path: Path) -> None:
    ck, kw, data = _checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=r"different run.*terms"):
        reglab.fit("linear", data, resume=ck, **{**kw, "penalties": [L1(0.1)]})
    with pytest.raises(CheckpointError, match=r"different run.*parameters"):
        reglab.fit("linear", zero_column(n=40, p=4, column=1), resume=ck, **kw)
    with pytest.raises(CheckpointError, match=r"different run.*steps"):
        reglab.fit("linear", data, resume=ck, **{**kw, "steps": 26})


def test_checkpoint_options_are_checked() -> None:
    data = zero_column(n=20, p=2, column=0)
    with pytest.raises(ValueError, match="go together"):
        reglab.fit("linear", data, checkpoint="x.pt", steps=2)
    with pytest.raises(ValueError, match="fista"):
        reglab.fit("linear", data, optimizer="fista", checkpoint="x.pt", checkpoint_every=1, steps=2)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        reglab.fit("linear", data, resume="/nonexistent/x.pt", steps=2)
    with pytest.raises(ValueError, match="checkpoint_every must be"):
        reglab.fit("linear", data, checkpoint="x.pt", checkpoint_every=0, steps=2)


def test_save_and_load_round_trip_tensors_and_primitives(tmp_path: Path) -> None:
    state = {"step": 4, "w": torch.arange(3.0), "nested": {"a": [1, 2.5, None, "s"]}}
    save_checkpoint(tmp_path / "r.pt", state)
    back = load_checkpoint(tmp_path / "r.pt")
    assert back["step"] == 4 and torch.equal(back["w"], state["w"]) and back["nested"] == state["nested"]
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed, not left behind
