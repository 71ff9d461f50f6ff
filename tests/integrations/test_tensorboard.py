"""TensorBoardWriter: the event files, read back with TensorBoard's own reader, hold the model's
numbers at the logged steps (computed here independently, from copies of the weights), and the
diagnosis at the end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from reglab import L1, L2, Regularized, diagnose
from reglab.integrations.tensorboard import TensorBoardWriter, diagnosis_text

L1_STRENGTH, L2_STRENGTH, EVERY, STEPS = 0.08, 0.01, 5, 23


def events(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc: EventAccumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in acc.Scalars(tag)}


def problem() -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 2)
    X = torch.randn(40, 6)
    return model, X, X[:, :2] @ torch.tensor([[1.0, 0.0], [0.0, -1.0]]) + 0.1 * torch.randn(40, 2)


def train(model: torch.nn.Linear, opt: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor,
          steps: int) -> dict[int, dict[str, np.ndarray]]:
    """Train, and keep a float64 copy of the weights at step 0 and after every EVERY-th step."""
    kept = {0: {n: p.detach().double().numpy().copy() for n, p in model.named_parameters()}}
    for step in range(1, steps + 1):
        opt.zero_grad()
        (model(X) - y).square().mean().backward()
        opt.step()
        if step % EVERY == 0 or step == steps:
            kept[step] = {n: p.detach().double().numpy().copy() for n, p in model.named_parameters()}
    return kept


def expected_scalars(kept: dict[int, dict[str, np.ndarray]]) -> dict[str, dict[int, float]]:
    """tag -> {step: value} as the writers must log them, computed from the kept weights (the run of
    the first test: L1 and L2 on ``weight``, tracking ``weight[1,3]`` and ``bias``)."""
    expected: dict[str, dict[int, float]] = {}
    for step, weights in kept.items():
        for name, w in weights.items():
            expected.setdefault(f"norms/l2/{name}", {})[step] = float(np.sqrt((w * w).sum()))
            expected.setdefault(f"norms/l1/{name}", {})[step] = float(np.abs(w).sum())
            expected.setdefault(f"zeros/{name}", {})[step] = float((w == 0).mean())
        W = weights["weight"]
        expected.setdefault("penalty", {})[step] = float(L1_STRENGTH * np.abs(W).sum() + L2_STRENGTH * (W * W).sum())
        expected.setdefault("weights/weight[1,3]", {})[step] = float(W[1, 3])
        for i in range(2):
            expected.setdefault(f"weights/bias[{i}]", {})[step] = float(weights["bias"][i])
    return expected


def test_the_event_files_hold_each_tensor_s_norms_zeros_penalty_and_chosen_weights_at_each_logged_step(
        tmp_path: Path) -> None:
    model, X, y = problem()
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.2), model,
                      [L1(L1_STRENGTH, on="weight", update="proximal"), L2(L2_STRENGTH, on="weight")])
    with TensorBoardWriter(tmp_path, model, opt, every=EVERY, track=["weight[1,3]", "bias"]):
        kept = train(model, opt, X, y, STEPS)
    acc = events(tmp_path)
    assert sorted(kept) == [0, 5, 10, 15, 20, 23]  # the start, every 5th step, and the last
    expected = expected_scalars(kept)
    assert set(expected) <= set(acc.Tags()["scalars"])
    for tag, by_step in expected.items():
        logged = scalars(acc, tag)
        assert sorted(logged) == sorted(by_step), tag
        for step, value in by_step.items():  # TensorBoard stores float32
            assert logged[step] == pytest.approx(value, rel=1e-6, abs=1e-7), (tag, step)
    # the run is one that makes exact zeros, and the writer saw them
    assert scalars(acc, "zeros/weight")[STEPS] > 0


def test_close_writes_the_recorder_s_diagnosis_as_text_and_its_counts_per_class(tmp_path: Path) -> None:
    model, X, y = problem()
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.2), model, [L1(L1_STRENGTH, update="proximal")])
    tb = TensorBoardWriter(tmp_path, model, opt, every=EVERY)
    train(model, opt, X, y, STEPS)
    diagnosis = tb.close()
    assert diagnosis is tb.diagnosis and tb.recorder is not None
    trajectory = tb.recorder.trajectory()
    assert trajectory.steps.tolist() == [0, 5, 10, 15, 20, 23]  # the recorder's cost: every 5th step too
    assert diagnosis.counts == diagnose(trajectory).counts
    acc = events(tmp_path)
    (text,) = acc.Tensors("diagnosis/text_summary")
    assert text.step == STEPS
    assert text.tensor_proto.string_val[0].decode() == diagnosis_text(diagnosis)
    for cls, n in diagnosis.counts.items():
        assert scalars(acc, f"diagnosis/{cls}") == {STEPS: n}


def test_a_plain_optimizer_gets_no_penalty_tag_and_a_writer_of_the_user_s_stays_open(tmp_path: Path) -> None:
    model, X, y = problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    writer = SummaryWriter(str(tmp_path))
    tb = TensorBoardWriter(writer, model, opt, every=EVERY, record=False)
    train(model, opt, X, y, 10)
    assert tb.close() is None and tb.recorder is None
    writer.add_scalar("mine", 1.0, 0)  # still open
    writer.close()
    tags = events(tmp_path).Tags()["scalars"]
    assert "penalty" not in tags and "mine" in tags and "norms/l2/weight" in tags
    assert not [t for t in tags if t.startswith(("weights/", "diagnosis/"))]


def test_the_writer_detaches_at_close_and_counts_only_optimizer_steps(tmp_path: Path) -> None:
    model, X, y = problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tb = TensorBoardWriter(tmp_path, model, opt, every=2, record=False)
    train(model, opt, X, y, 3)
    tb.close()
    train(model, opt, X, y, 4)  # after close: nothing more is written
    assert tb.step == 3
    assert sorted(scalars(events(tmp_path), "norms/l2/weight")) == [0, 2, 3]


@pytest.mark.parametrize("track, message", [
    ("fc.weight", r"track='fc\.weight' matches no weight or parameter; parameters are weight, bias\."),
    ("weight[2,0]", r"track='weight\[2,0\]': weight has shape \[2, 6\]\."),
    (["weight", "weight[0,9]"], r"track='weight\[0,9\]': weight has shape \[2, 6\]\."),
])
def test_a_track_that_names_no_weight_is_refused_with_the_parameters_names(tmp_path: Path, track, message) -> None:
    model, _, _ = problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=message):
        TensorBoardWriter(tmp_path, model, opt, track=track)
    with pytest.raises(ValueError, match=r"every must be a positive integer; got 0\."):
        TensorBoardWriter(tmp_path, model, opt, every=0)


def test_more_than_a_thousand_chosen_weights_are_refused(tmp_path: Path) -> None:
    model = torch.nn.Linear(100, 11)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"track chooses 1100 weights, one plot each; name at most 1000"):
        TensorBoardWriter(tmp_path, model, opt, track="weight")
