"""What a fit returns: the logged history and the :class:`FitResult`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import torch
from torch import Tensor, nn

from reglab.data import Dataset
from reglab.losses import Loss
from reglab.penalties import AbstractPenalty
from reglab.updates import Regularized

__all__ = ["History", "FitResult", "STATUSES"]


STATUSES: Final = ("converged", "max_steps", "diverged")


@dataclass
class History:
    """What was logged, one entry per logged step (the state *before* that step's update).

    The last entry is the final state, at ``step == steps_run``. ``strength`` holds, at each logged
    step, the strength of every term (in the order of ``FitResult.terms``) in effect for that step's
    update: constant unless ``fit(strength_schedule=...)`` schedules them.
    """

    step: list[int] = field(default_factory=list)
    data_loss: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    strength: list[list[float]] = field(default_factory=list)

    def append(self, step: int, data_loss: float, penalty: float, lr: float,
               strength: Sequence[float] = ()) -> None:
        self.step.append(step)
        self.data_loss.append(data_loss)
        self.penalty.append(penalty)
        self.objective.append(data_loss + penalty)
        self.lr.append(lr)
        self.strength.append([float(s) for s in strength])

    def __len__(self) -> int:
        return len(self.step)

    def to_dict(self) -> dict[str, list[Any]]:
        """The six columns as lists, keyed by name (what a checkpoint saves)."""
        return {"step": self.step, "data_loss": self.data_loss, "penalty": self.penalty,
                "objective": self.objective, "lr": self.lr, "strength": self.strength}

    @classmethod
    def from_dict(cls, columns: Mapping[str, Any]) -> History:
        """The history :meth:`to_dict` wrote (a copy of its lists).

        A history saved before ``strength`` was logged reads back with an empty list of strengths at
        each step.

        >>> h = History(); h.append(0, 1.0, 0.5, 0.1, [0.01])
        >>> History.from_dict(h.to_dict()) == h
        True
        """
        out = cls(**{key: list(columns[key]) for key in ("step", "data_loss", "penalty", "objective", "lr")})
        out.strength = [list(s) for s in columns.get("strength", [[] for _ in out.step])]
        return out

    def to_pandas(self) -> Any:
        """The history as a DataFrame, one row per logged step; the strengths as columns
        ``strength_0``, ``strength_1``, ... (one per term)."""
        import pandas as pd

        columns: dict[str, list[Any]] = {k: v for k, v in self.to_dict().items() if k != "strength"}
        n_terms = max((len(s) for s in self.strength), default=0)
        for i in range(n_terms):
            columns[f"strength_{i}"] = [s[i] if i < len(s) else float("nan") for s in self.strength]
        return pd.DataFrame(columns)


@dataclass(repr=False)
class FitResult:
    """The outcome of :func:`fit`.

    Attributes
    ----------
    model : nn.Module
        The trained model (trained in place when an ``nn.Module`` was given).
    data : Dataset or None
        The training data on the run's device; None when it came from a data loader.
    loss : Loss
    terms : list of penalty terms
    optimizer : Regularized
    history : History
    status : {"converged", "max_steps", "diverged"}
    steps_run : int
    lr : float
        The initial learning rate (the one chosen, when ``lr="auto"``).
    seed : int
    trajectory : reglab.observe.Trajectory or None
        Recorded weight paths when ``record`` was set.
    recorder : reglab.observe.Recorder or None
    elapsed : float
        Seconds of training.
    """

    model: nn.Module
    data: Dataset | None
    loss: Loss
    terms: list[AbstractPenalty]
    optimizer: Regularized
    history: History
    status: str
    steps_run: int
    lr: float
    seed: int
    recorder: Any = None
    elapsed: float = 0.0

    @property
    def trajectory(self) -> Any:
        return None if self.recorder is None else self.recorder.trajectory()

    def __repr__(self) -> str:
        """One line: status, steps, losses, terms, the model's size and the data's shape (never the arrays).

        >>> import reglab
        >>> from reglab.data import zero_column
        >>> reglab.fit("linear", zero_column(n=50, p=3), penalties=[reglab.L2(0.1)], steps=20)  # doctest: +ELLIPSIS
        FitResult(status='max_steps', steps=20, data_loss=..., penalty=..., objective=..., lr=0.1, terms=[L2(0.1)], model=LinearModel(4 parameters in 2 tensors), data=X(50, 3) y(50,) on cpu, elapsed=...s)
        """
        h = self.history
        losses = "no history" if not len(h) else (
            f"data_loss={h.data_loss[-1]:.6g}, penalty={h.penalty[-1]:.6g}, objective={h.objective[-1]:.6g}")
        params = list(self.model.parameters())
        model = f"{type(self.model).__name__}({sum(p.numel() for p in params)} parameters in {len(params)} tensors)"
        data = "a data loader" if self.data is None else (
            f"X{tuple(self.data.X.shape)} y{tuple(self.data.y.shape)} on {self.data.device}")
        terms = repr(self.terms)
        if len(terms) > 160:
            terms = terms[:157] + "..."
        recorded = "" if self.recorder is None else ", recorded"
        return (f"FitResult(status={self.status!r}, steps={self.steps_run}, {losses}, lr={self.lr:.6g}, "
                f"terms={terms}, model={model}, data={data}{recorded}, elapsed={self.elapsed:.3g}s)")

    @torch.no_grad()
    def predict(self, X: Any) -> Tensor:
        """Model output (logits for logistic / softmax) on ``X`` of shape (n, n_features), on the model's device."""
        first = next(iter(self.model.parameters()))
        dtype = first.dtype if self.data is None else self.data.X.dtype
        X = torch.as_tensor(np.asarray(X) if not isinstance(X, Tensor) else X, dtype=dtype, device=first.device)
        return self.model(X)

    @torch.no_grad()
    def data_loss(self, split: Literal["train", "test"] = "train") -> float | None:
        """Mean data loss on the training or held-out data (None when there is no held-out data).

        For a run on a data loader: the training loss is the history's last entry (the loss over one
        full pass of the loader at the final weights); there is no held-out data.
        """
        if self.data is None:
            return self.history.data_loss[-1] if split == "train" and len(self.history) else None
        X, y = (self.data.X, self.data.y) if split == "train" else (self.data.X_test, self.data.y_test)
        if X is None or y is None:
            return None
        return float(self.loss(self.model(X), y, self.data.sample_weight if split == "train" else None))

    def null_loss(self, split: Literal["train", "test"] = "train") -> float | None:
        """Loss of the null model (best constant fitted on the training targets) on ``split``."""
        if self.data is None:
            return None
        y_eval = self.data.y if split == "train" else self.data.y_test
        if y_eval is None:
            return None
        return float(self.loss.null_loss(self.data.y, y_eval))

    @torch.no_grad()
    def summary(self) -> dict[str, Any]:
        """Final numbers: losses, objective, per-tensor norms and exact zeros, status."""
        penalty = float(self.optimizer.penalty_value())
        train = self.data_loss("train")
        tensors = {
            name: {
                "shape": list(p.shape),
                "l2_norm": float(p.detach().norm()),
                "l1_norm": float(p.detach().abs().sum()),
                "exact_zeros": int((p == 0).sum()),
            }
            for name, p in self.model.named_parameters()
        }
        return {
            "status": self.status,
            "steps": self.steps_run,
            "lr": self.lr,
            "train_loss": train,
            "penalty": penalty,
            "objective": None if train is None else train + penalty,
            "test_loss": self.data_loss("test"),
            "null_train_loss": self.null_loss("train"),
            "null_test_loss": self.null_loss("test"),
            "exact_zeros": sum(t["exact_zeros"] for t in tensors.values()),
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
            "tensors": tensors,
            "elapsed": self.elapsed,
        }
