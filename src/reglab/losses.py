"""Data losses, each with the null model it is measured against.

- ``squared``: mean (y − f)², as in the source argument (not ½(y − f)²).
- ``logistic``: mean binary negative log-likelihood of labels {0, 1} given logits f.
- ``cross_entropy``: mean softmax negative log-likelihood of integer labels given logits.

Each takes optional ``sample_weight``: the mean becomes the weighted mean Σᵢ wᵢℓᵢ / Σᵢ wᵢ of the
per-sample losses ℓᵢ (:meth:`Loss.per_sample`), so integer weights equal repeated rows, a zero
weight equals a dropped row, and scaling every weight changes nothing.

The *null model* predicts a constant, the best one for the loss: the mean of y (squared), the
log-odds of the positive rate (logistic), the log class frequencies (cross-entropy).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Final

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "CANONICAL",
    "CURVATURE",
    "LOSSES",
    "LOSS_OF_MODEL",
    "LOSS_OF_TASK",
    "MODEL_OF_TASK",
    "TASKS",
    "TASK_OF_LOSS",
    "TASK_OF_MODEL",
    "CrossEntropy",
    "Logistic",
    "Loss",
    "Squared",
    "get_loss",
    "weighted_mean",
]

_EPS: Final = 1e-12

# The one table of tasks: each task's canonical loss and the linear model (``LinearModel.kind``) that
# pairs with it. Every task ↔ loss ↔ model lookup in reglab reads one of the views below.
CANONICAL: Final = (
    # task          loss             linear model
    ("regression", "squared", "linear"),
    ("binary", "logistic", "logistic"),
    ("multiclass", "cross_entropy", "softmax"),
)
TASKS: Final = tuple(task for task, _, _ in CANONICAL)
LOSS_OF_TASK: Final = {task: loss for task, loss, _ in CANONICAL}
TASK_OF_LOSS: Final = {loss: task for task, loss, _ in CANONICAL}
MODEL_OF_TASK: Final = {task: model for task, _, model in CANONICAL}
TASK_OF_MODEL: Final = {model: task for task, _, model in CANONICAL}
LOSS_OF_MODEL: Final = {model: loss for _, loss, model in CANONICAL}


def weighted_mean(values: Tensor, sample_weight: Tensor) -> Tensor:
    """Σᵢ wᵢ·vᵢ / Σᵢ wᵢ for ``values`` and ``sample_weight`` of shape (n,) (a 0-d tensor).

    Examples
    --------
    >>> weighted_mean(torch.tensor([1.0, 3.0]), torch.tensor([3.0, 1.0]))
    tensor(1.5000)
    """
    w = sample_weight.to(values.dtype)
    return torch.dot(values, w) / w.sum()


class Loss(ABC):
    """A mean data loss over samples, and the best constant prediction for it."""

    name: str = ""

    @property
    def task(self) -> str:
        """The task the loss is canonical for (:data:`TASK_OF_LOSS`)."""
        return TASK_OF_LOSS[self.name]

    def __call__(self, output: Tensor, y: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        """Mean loss of model ``output`` against targets ``y`` (a 0-d tensor).

        With ``sample_weight`` of shape (n,), the weighted mean of :meth:`per_sample`.
        """
        if sample_weight is not None:
            return weighted_mean(self.per_sample(output, y), sample_weight)
        return self.mean(output, y)

    @abstractmethod
    def mean(self, output: Tensor, y: Tensor) -> Tensor:
        """The unweighted mean loss (a 0-d tensor), by the fastest route to it."""

    @abstractmethod
    def per_sample(self, output: Tensor, y: Tensor) -> Tensor:
        """The loss of each sample, shape (n,); its mean is ``self(output, y)``."""

    @abstractmethod
    def null_output(self, y: Tensor) -> Tensor:
        """The best constant model output for targets ``y``, shaped like one row of output."""

    def null_loss(self, y_fit: Tensor, y_eval: Tensor | None = None) -> Tensor:
        """Loss of the null model fitted on ``y_fit``, evaluated on ``y_eval`` (default ``y_fit``)."""
        y_eval = y_fit if y_eval is None else y_eval
        const = self.null_output(y_fit)
        return self(const.expand(len(y_eval), *const.shape[1:]), y_eval)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Squared(Loss):
    """``mean (y − f)²``; the null model predicts mean(y).

    Examples
    --------
    >>> Squared()(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0]))
    tensor(2.5000)
    """

    name = "squared"

    def mean(self, output: Tensor, y: Tensor) -> Tensor:
        return (y.reshape(output.shape) - output).square().mean()

    def per_sample(self, output: Tensor, y: Tensor) -> Tensor:
        # mean over the outputs of a sample: the mean over samples is then the mean over n·k
        return (y.reshape(output.shape) - output).square().reshape(len(output), -1).mean(1)

    def null_output(self, y: Tensor) -> Tensor:
        y2 = y.reshape(len(y), -1)
        return y2.mean(0, keepdim=True)


class Logistic(Loss):
    """Mean binary NLL of labels {0, 1} given logits; the null model predicts logit(mean y)."""

    name = "logistic"

    def mean(self, output: Tensor, y: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(output.reshape(-1), y.reshape(-1).to(output.dtype))

    def per_sample(self, output: Tensor, y: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(output.reshape(-1), y.reshape(-1).to(output.dtype),
                                                  reduction="none")

    def null_output(self, y: Tensor) -> Tensor:
        p = y.to(torch.float64).mean().clamp(_EPS, 1 - _EPS)
        return torch.log(p / (1 - p)).reshape(1, 1).to(y.dtype if y.is_floating_point() else torch.float64)


class CrossEntropy(Loss):
    """Mean softmax NLL of integer labels given logits; the null model predicts log class frequencies."""

    name = "cross_entropy"

    def mean(self, output: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(output, y.reshape(-1).long())

    def per_sample(self, output: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(output, y.reshape(-1).long(), reduction="none")

    def null_output(self, y: Tensor, n_classes: int | None = None) -> Tensor:
        y = y.reshape(-1).long()
        k = int(y.max()) + 1 if n_classes is None else n_classes
        freq = torch.bincount(y, minlength=k).to(torch.float64) / len(y)
        return torch.log(freq.clamp_min(_EPS)).reshape(1, k)

    def null_loss(self, y_fit: Tensor, y_eval: Tensor | None = None) -> Tensor:
        y_eval = y_fit if y_eval is None else y_eval
        k = int(max(int(y_fit.max()), int(y_eval.max()))) + 1
        const = self.null_output(y_fit, k)
        return self(const.expand(len(y_eval), k), y_eval)


LOSSES: Final[dict[str, type[Loss]]] = {"squared": Squared, "logistic": Logistic, "cross_entropy": CrossEntropy}

# The largest second derivative of each mean loss with respect to the model's outputs, per unit of
# λ_max(X̃ᵀX̃/n): 2 for (y − f)², 1/4 for the logistic NLL (σ' ≤ 1/4), 1/2 for softmax cross-entropy.
# L = CURVATURE[loss] · λ_max(X̃ᵀX̃/n) is the Lipschitz constant of a linear model's gradient.
CURVATURE: Final[dict[str, float]] = {"squared": 2.0, "logistic": 0.25, "cross_entropy": 0.5}


def get_loss(loss: str | Loss) -> Loss:
    """A loss from its name (``"squared"``, ``"logistic"``, ``"cross_entropy"``) or as given."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"Unknown loss {loss!r}. Choose one of {', '.join(LOSSES)}.")
    return LOSSES[loss]()
