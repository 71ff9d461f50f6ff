"""A PyTorch Lightning module trained under reglab's penalties, watched in TensorBoard.

``configure_optimizers`` returns a ``Regularized`` optimizer (an L1 term by the proximal rule, so
weights of the noise features reach exactly zero) and an LR scheduler attached to *that wrapper*:
Lightning refuses a scheduler attached to the inner optimizer (``MisconfigurationException``).
``RegLabCallback`` logs norms, zero fractions, the penalty and two weights every ``every`` steps
through the trainer's ``TensorBoardLogger``, and the diagnosis when training ends.

Run: ``python examples/lightning_example.py``, then ``tensorboard --logdir lightning-example``.
"""

from __future__ import annotations

import lightning
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, TensorDataset

from reglab import L1, Diagnosis, Regularized
from reglab.integrations.lightning import RegLabCallback


class SparseRegression(lightning.LightningModule):
    """Linear regression on 10 features, 3 of which carry the signal."""

    def __init__(self, features: int = 10, lr: float = 0.05, l1: float = 0.1) -> None:
        super().__init__()
        self.net = torch.nn.Linear(features, 1)
        self.lr, self.l1 = lr, l1

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        X, y = batch
        loss = torch.nn.functional.mse_loss(self.net(X), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> dict:
        opt = Regularized(torch.optim.SGD(self.parameters(), lr=self.lr), self, [L1(self.l1, update="proximal")])
        # on the wrapper, the optimizer Lightning is given (the inner one shares its param_groups)
        schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def data(n: int = 512, features: int = 10) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, features, generator=g)
    y = X[:, :3] @ torch.tensor([[2.0], [-1.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=g)
    return TensorDataset(X, y)


def main(steps: int = 300, log_dir: str = "lightning-example", every: int = 10) -> Diagnosis:
    torch.manual_seed(0)
    callback = RegLabCallback(every=every, track=["net.weight[0,0]", "net.weight[0,9]"])
    trainer = lightning.Trainer(max_steps=steps, callbacks=[callback], logger=TensorBoardLogger(log_dir),
                                log_every_n_steps=every, enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False)
    trainer.fit(SparseRegression(), DataLoader(data(), batch_size=32, shuffle=True))
    assert callback.diagnosis is not None
    print(callback.diagnosis)
    print(f"event files: {trainer.loggers[0].log_dir}")
    return callback.diagnosis


if __name__ == "__main__":
    main()
