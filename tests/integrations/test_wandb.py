"""WandbWriter: a real W&B run in offline mode; its run file, read back record by record, holds the
model's numbers at the logged steps (computed independently, from copies of the weights, as for
TensorBoard), on the writer's own x-axis, and the summary holds the diagnosis.

W&B 0.31 has no public reader of an offline run's ``.wandb`` file. The file is W&B's protobuf
``Record`` messages (``wandb.proto.wandb_internal_pb2``) framed as LevelDB's log format: a 7-byte
file header (``:W&B``, magic, version), then 32 KiB blocks of chunks, each with a 7-byte header
(CRC-32, length, type: full / first / middle / last). :func:`run_records` undoes that framing and
lets W&B's own protobuf classes parse each record.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
import torch

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

from reglab import L1, L2, Regularized, diagnose  # noqa: E402
from reglab.integrations.wandb import WandbWriter  # noqa: E402
from tests.integrations.test_tensorboard import (  # noqa: E402
    EVERY,
    L1_STRENGTH,
    L2_STRENGTH,
    STEPS,
    expected_scalars,
    problem,
    train,
)

BLOCK, HEADER = 32 * 1024, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def run_records(path: Path) -> list[Any]:
    """The ``Record`` messages of an offline run file, in order."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    records, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        chunk, pos = data[pos + HEADER:pos + HEADER + length], pos + HEADER + length
        if kind == 0:
            break
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def history_rows(path: Path) -> list[dict[str, Any]]:
    """Each ``run.log`` call of the run, as {key: value}."""
    return [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
            for r in run_records(path) if r.WhichOneof("record_type") == "history"]


@pytest.fixture
def offline_run(tmp_path: Path):
    run = wandb.init(mode="offline", dir=str(tmp_path), project="reglab-test",
                     settings=wandb.Settings(silent=True, console="off"))
    yield run
    run.finish()


def finished_run_file(run: Any, tmp_path: Path) -> Path:
    """Finish ``run`` and return its run file once W&B has written all of it.

    ``run.finish()`` returns when the run's exit is handled, not when the service process has flushed
    the file; ``wandb.teardown()`` waits for that process to shut down, which closes the file. Only then
    is reading it deterministic (in a fresh CI run it was read right after finish with no history records in it).
    """
    run.finish()
    wandb.teardown()
    (path,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    return path


def test_the_run_file_holds_each_tensor_s_norms_zeros_penalty_and_chosen_weights_at_each_logged_step(
        tmp_path: Path, offline_run) -> None:  # noqa: ANN001
    model, X, y = problem()
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.2), model,
                      [L1(L1_STRENGTH, on="weight", update="proximal"), L2(L2_STRENGTH, on="weight")])
    with WandbWriter(offline_run, model, opt, every=EVERY, track=["weight[1,3]", "bias"]) as wb:
        kept = train(model, opt, X, y, STEPS)
    diagnosis = wb.diagnosis
    assert diagnosis is not None and wb.recorder is not None
    path = finished_run_file(offline_run, tmp_path)
    rows = [r for r in history_rows(path) if "reglab/step" in r]
    assert [r["reglab/step"] for r in rows] == sorted(kept) == [0, 5, 10, 15, 20, 23]
    for tag, by_step in expected_scalars(kept).items():
        logged = {r["reglab/step"]: r[f"reglab/{tag}"] for r in rows}
        assert logged.keys() == by_step.keys(), tag
        for step, value in by_step.items():  # W&B keeps the float64 value as JSON
            assert logged[step] == pytest.approx(value, rel=1e-6, abs=1e-7), (tag, step)
    assert rows[-1]["reglab/zeros/weight"] > 0  # a run that makes exact zeros, and the writer saw them
    # the summary: the diagnosis table and its counts per class
    summary = {}
    for r in run_records(path):
        if r.WhichOneof("record_type") == "summary":
            summary.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.summary.update})
    assert diagnosis.counts == diagnose(wb.recorder.trajectory()).counts
    assert summary["reglab/diagnosis"] == str(diagnosis)
    for cls, n in diagnosis.counts.items():
        assert summary[f"reglab/diagnosis/{cls}"] == n


def test_the_writer_s_own_x_axis_leaves_the_user_s_steps_alone(tmp_path: Path, offline_run) -> None:  # noqa: ANN001
    model, X, y = problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    wb = WandbWriter(offline_run, model, opt, every=2, record=False)
    for step in range(3):
        train(model, opt, X, y, 1)
        offline_run.log({"my/loss": float(step)}, step=100 + step)  # the user's own step counter
    assert wb.close() is None
    train(model, opt, X, y, 2)  # after close: nothing more is logged
    rows = history_rows(finished_run_file(offline_run, tmp_path))
    assert [r["reglab/step"] for r in rows if "reglab/step" in r] == [0, 2, 3]
    assert [r["my/loss"] for r in rows if "my/loss" in r] == [0.0, 1.0, 2.0]
    assert not [k for r in rows for k in r if k.startswith(("reglab/penalty", "reglab/weights/"))]


def test_without_a_run_the_writer_says_to_call_wandb_init() -> None:
    model, _, _ = problem()
    assert wandb.run is None
    with pytest.raises(RuntimeError, match=r"wandb\.init"):
        WandbWriter(None, model, torch.optim.SGD(model.parameters(), lr=0.1))
