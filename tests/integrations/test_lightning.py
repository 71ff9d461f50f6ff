"""RegLabCallback under a real ``lightning.Trainer`` on the CPU: the recorder's gradients are the
data loss's at each row's weights (Lightning steps through a closure), the TensorBoard event files
hold the logged numbers, the diagnosis is written, and an LR scheduler goes on the wrapper.

Third-party warnings filtered here, by message, and only here: Lightning 2.6 under torch 2.13 warns
``FutureWarning: `isinstance(treespec, LeafSpec)` is deprecated`` from its own data loading
(``lightning.pytorch.utilities._pytree``), whatever the user does; and Lightning warns that a
``DataLoader`` "does not have many workers" on a machine with more than 2 cores (a suggestion for
real data, not a fault of a test's 160 samples).
"""

from __future__ import annotations


import lightning
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader, TensorDataset

from reglab import L2, Regularized
from reglab.integrations.lightning import RegLabCallback
from reglab.integrations.tensorboard import diagnosis_text

pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The 'train_dataloader' does not have many workers"),
]

LAM, LR, STEPS, EVERY, BATCH = 0.05, 0.1, 20, 5, 8

g = torch.Generator().manual_seed(0)
X = torch.randn(STEPS * BATCH, 3, generator=g, dtype=torch.float64)
Y = X @ torch.tensor([[1.0], [-2.0], [0.0]], dtype=torch.float64) + 0.1 * torch.randn(STEPS * BATCH, 1, generator=g,
                                                                                       dtype=torch.float64)


class Regression(lightning.LightningModule):
    """Linear(3, 1) in float64 on the squared loss, under Regularized(SGD, [L2]); ``schedule_on``:
    where the StepLR goes ("wrapper", "inner", or None)."""

    def __init__(self, schedule_on: str | None = "wrapper") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(3, 1, dtype=torch.float64)
        self.schedule_on = schedule_on

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        X, y = batch
        return (self.net(X) - y).square().mean()

    def configure_optimizers(self) -> dict:
        opt = Regularized(torch.optim.SGD(self.parameters(), lr=LR), self, [L2(LAM, on="net.weight")])
        if self.schedule_on is None:
            return {"optimizer": opt}
        scheduled = opt if self.schedule_on == "wrapper" else opt.optimizer
        schedule = torch.optim.lr_scheduler.StepLR(scheduled, step_size=10, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def fit(module: Regression, callback: RegLabCallback, logger: TensorBoardLogger | bool) -> lightning.Trainer:
    trainer = lightning.Trainer(max_steps=STEPS, callbacks=[callback], logger=logger, accelerator="cpu",
                                log_every_n_steps=EVERY, enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False)
    # in order, BATCH samples a step: step s (0-based) sees batch s
    trainer.fit(module, DataLoader(TensorDataset(X, Y), batch_size=BATCH))
    return trainer


def data_gradient(values: np.ndarray, step: int) -> np.ndarray:
    """∇ of the batch's mean squared error at flat values [w (3), b], for the batch of step ``step``."""
    rows = slice(step * BATCH, (step + 1) * BATCH)
    w = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    ((X[rows] @ w[:3] + w[3]).unsqueeze(1) - Y[rows]).square().mean().backward()
    return w.grad.numpy()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RegLabCallback, lightning.Trainer, Regression]:
    module = Regression()
    callback = RegLabCallback(every=EVERY, track="net.weight[0,1]", steps=STEPS, tail=0)
    trainer = fit(module, callback, TensorBoardLogger(tmp_path_factory.mktemp("tb"), name="", version=""))
    return callback, trainer, module


def scalars(log_dir: str, tag: str) -> dict[int, float]:
    acc = EventAccumulator(log_dir, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return {e.step: e.value for e in acc.Scalars(tag)}


def test_each_recorded_gradient_is_the_data_loss_gradient_at_that_row_s_weights(run) -> None:
    callback, trainer, _ = run
    assert trainer.global_step == STEPS
    traj = callback.recorder.trajectory()
    assert traj.steps.tolist() == [0, 5, 10, 15, 20]  # every EVERY steps (tail=0)
    for row, step in enumerate(traj.steps[:-1]):
        np.testing.assert_allclose(traj.grads[row], data_gradient(traj.values[row], int(step)), rtol=1e-12,
                                   atol=1e-14)
    assert np.isnan(traj.grads[-1]).all()  # the run ended: no gradient at the final weights


def test_the_event_files_hold_the_logged_norms_zeros_penalty_and_weight_at_the_logged_steps(run) -> None:
    callback, trainer, _ = run
    traj = callback.recorder.trajectory()
    w = traj.values[:, :3]  # net.weight[0, 0..2], then net.bias[0]
    expected = {
        "norms/l2/net.weight": np.sqrt((w * w).sum(axis=1)),
        "norms/l1/net.weight": np.abs(w).sum(axis=1),
        "zeros/net.weight": (w == 0).mean(axis=1),
        "norms/l2/net.bias": np.abs(traj.values[:, 3]),
        "penalty": LAM * (w * w).sum(axis=1),
        "weights/net.weight[0,1]": w[:, 1],
    }
    for tag, values in expected.items():
        logged = scalars(trainer.loggers[0].log_dir, tag)
        assert sorted(logged) == traj.steps.tolist(), tag
        for step, value in zip(traj.steps.tolist(), values):  # TensorBoard stores float32
            assert logged[step] == pytest.approx(float(value), rel=1e-6, abs=1e-9), (tag, step)


def test_the_diagnosis_is_written_as_text_and_counts_and_kept_on_the_callback(run) -> None:
    callback, trainer, _ = run
    assert callback.diagnosis is not None
    acc = EventAccumulator(trainer.loggers[0].log_dir, size_guidance={"tensors": 0})
    acc.Reload()
    (text,) = acc.Tensors("diagnosis/text_summary")
    assert text.step == STEPS
    assert text.tensor_proto.string_val[0].decode() == diagnosis_text(callback.diagnosis)
    for cls, n in callback.diagnosis.counts.items():
        assert scalars(trainer.loggers[0].log_dir, f"diagnosis/{cls}") == {STEPS: n}


def test_an_lr_scheduler_attached_to_the_wrapper_drives_the_inner_optimizer(run) -> None:
    _, trainer, _ = run
    (opt,) = trainer.optimizers
    assert isinstance(opt, Regularized)
    assert opt.optimizer.param_groups[0]["lr"] == LR * 0.5 ** (STEPS // 10)


def test_an_lr_scheduler_attached_to_the_inner_optimizer_is_refused_by_lightning() -> None:
    with pytest.raises(MisconfigurationException, match="Some schedulers are attached with an optimizer that wasn't "
                                                          "returned from `configure_optimizers`"):
        fit(Regression(schedule_on="inner"), RegLabCallback(every=EVERY), logger=False)


def test_without_a_logger_or_recorder_the_callback_trains_and_keeps_nothing() -> None:
    callback = RegLabCallback(every=EVERY, record=False)
    trainer = fit(Regression(schedule_on=None), callback, logger=False)
    assert trainer.global_step == STEPS
    assert callback.recorder is None and callback.diagnosis is None
