"""A Hugging Face ``Trainer`` run under ``Regularized``: L1 by the proximal rule reaches exact zeros.

The model is a tiny ``PreTrainedModel`` defined here (random init, nothing downloaded). ``Trainer``
takes a ready optimizer through ``optimizers=(optimizer, scheduler)``; the wrapper is that optimizer,
so the scheduler ``Trainer`` builds (linear decay here) moves the learning rate that the proximal
step uses too. The script checks that the input weights of the features that carry no signal land
on exactly 0.0, and that the informative ones do not.

Run: ``python examples/hf_trainer.py``.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched: the model is built here

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel, Trainer, TrainingArguments

from reglab import L1, Regularized


class TinyConfig(PretrainedConfig):
    model_type = "reglab-tiny"

    def __init__(self, n_features: int = 8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_features = n_features


class TinyRegressor(PreTrainedModel):
    """y ≈ x·w + b, returning the squared loss as Trainer expects (a dict with ``loss``)."""

    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        self.linear = nn.Linear(config.n_features, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self.linear(x).squeeze(-1)
        loss = None if labels is None else (out - labels).square().mean()
        return {"loss": loss, "logits": out}


class Rows(torch.utils.data.Dataset):
    def __init__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.X[i], "labels": self.y[i]}


def main(epochs: int = 20, n: int = 256, informative: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 8, generator=g)
    y = X[:, :informative] @ torch.tensor([2.0, -1.5][:informative]) + 0.05 * torch.randn(n, generator=g)
    torch.manual_seed(0)
    model = TinyRegressor(TinyConfig())
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model,
                      [L1(0.05, on="linear.weight", update="proximal")])
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, num_train_epochs=epochs, per_device_train_batch_size=32,
                                 report_to=[], save_strategy="no", logging_strategy="no", use_cpu=True,
                                 disable_tqdm=True, seed=0, dataloader_num_workers=0)
        Trainer(model=model, args=args, train_dataset=Rows(X, y), optimizers=(opt, None)).train()
    w = model.linear.weight.detach()[0]
    assert bool((w[informative:] == 0).all()), f"the uninformative weights are not exactly zero: {w.tolist()}"
    assert bool((w[:informative].abs() > 0.5).all()), f"the informative weights were lost: {w.tolist()}"
    return w


if __name__ == "__main__":
    print(main())
