"""A PyTorch Lightning callback that logs a model's regularization through the trainer's loggers.

:class:`RegLabCallback` watches the ``LightningModule`` with the trainer's (first) optimizer when
training starts: every ``every`` optimizer steps it hands each logger (``trainer.loggers``,
``log_metrics``) the numbers :class:`~reglab.integrations.tensorboard.TensorBoardWriter` writes
(``norms/l2/<param>``, ``norms/l1/<param>``, ``zeros/<param>``, ``penalty``, ``weights/<name>``),
and when training ends the number of weights in each class of :func:`~reglab.diagnose`
(``diagnosis/<class>``) and, to a ``TensorBoardLogger``, the diagnosis as text (tag ``diagnosis``).
The :class:`~reglab.Recorder` and the :class:`~reglab.Diagnosis` stay on the callback.

Lightning always steps through a closure (``optimizer.step(closure)``); the recorder reads each
recorded step's data-loss gradient inside it, at the weights of that step's row.

An LR scheduler with :class:`~reglab.Regularized` goes on the wrapper, the optimizer that
``configure_optimizers`` returns, not on the inner optimizer: Lightning checks that each scheduler's
optimizer is one it was given, and raises ``MisconfigurationException("Some schedulers are attached
with an optimizer that wasn't returned from `configure_optimizers`.")`` otherwise. The wrapper shares
its ``param_groups`` with the inner optimizer, so the schedule reaches the inner step and the
penalty's learning rate alike::

    def configure_optimizers(self):
        opt = Regularized(torch.optim.SGD(self.parameters(), lr=0.1), self, [L2(0.01)])
        return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, step_size=10)}

Lightning itself is an optional dependency: ``pip install 'reglab[integrations]'``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.loggers import TensorBoardLogger

from reglab.integrations._scalars import ScalarLog
from reglab.integrations.tensorboard import diagnosis_text
from reglab.observe import Diagnosis, Recorder, diagnose

__all__ = ["RegLabCallback"]


class RegLabCallback(pl.Callback):
    """Log per-tensor norms, zero fractions, the penalty, chosen weights and the diagnosis of a
    ``LightningModule`` through the trainer's loggers, every ``every`` optimizer steps.

    Parameters
    ----------
    every : int
        Log after every this many optimizer steps (and when training starts and ends); the
        recorder records every this many steps too.
    track : str or list of str, optional
        Weights whose values are logged: element names (``"net.0.weight[0,1]"``), or parameter
        names or globs whose every element is.
    record : bool
        Keep a :class:`~reglab.Recorder` and log its diagnosis when training ends.
    **recorder_options
        Further options of the recorder. Its ``steps`` defaults to the trainer's estimate of the
        steps to come, so that it also records each of the last ``tail`` steps.

    Attributes
    ----------
    recorder : Recorder or None
        Set when training starts; closed when it ends (``recorder.trajectory()``).
    diagnosis : Diagnosis or None
        Set when training ends.

    Examples
    --------
    >>> import torch, lightning
    >>> from reglab import L2, Regularized
    >>> class Model(lightning.LightningModule):
    ...     def __init__(self):
    ...         super().__init__(); self.net = torch.nn.Linear(3, 1)
    ...     def training_step(self, batch, batch_idx):
    ...         X, y = batch; return (self.net(X) - y).square().mean()
    ...     def configure_optimizers(self):
    ...         return Regularized(torch.optim.SGD(self.parameters(), lr=0.1), self, [L2(0.01)])
    >>> batches = [(torch.randn(8, 3), torch.randn(8, 1)) for _ in range(10)]
    >>> callback = RegLabCallback(every=5)
    >>> trainer = lightning.Trainer(max_steps=10, callbacks=[callback], logger=False, enable_checkpointing=False,
    ...                             enable_progress_bar=False, enable_model_summary=False)
    >>> trainer.fit(Model(), batches)  # doctest: +SKIP
    >>> callback.recorder.trajectory().steps.tolist()  # doctest: +SKIP
    [0, 5, 10]
    """

    def __init__(self, every: int = 10, track: str | Sequence[str] | None = None, record: bool = True,
                 **recorder_options: Any) -> None:
        super().__init__()
        self.every, self.track, self.record = every, track, record
        self.recorder_options = recorder_options
        self.recorder: Recorder | None = None
        self.diagnosis: Diagnosis | None = None
        self._log: ScalarLog | None = None
        self._loggers: list[Any] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.optimizers:
            raise ValueError("RegLabCallback watches the trainer's first optimizer, and there is none: "
                             "return one from configure_optimizers.")
        optimizer = trainer.optimizers[0]
        self._loggers = list(trainer.loggers)
        self.diagnosis = None
        self._log = ScalarLog(pl_module, optimizer, every=self.every, track=self.track,
                              emit=self._log_metrics, start=trainer.global_step)
        if self.record:
            options = dict(self.recorder_options)
            planned = trainer.estimated_stepping_batches
            if "steps" not in options and math.isfinite(planned):
                options["steps"] = int(planned)
            self.recorder = Recorder(pl_module, optimizer, every=self.every,
                                     track=self._log.chosen.tensor_patterns or None, **options)
        self._log.start()

    def _log_metrics(self, step: int, scalars: dict[str, float]) -> None:
        for logger in self._loggers:
            logger.log_metrics(scalars, step=step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._log is None:
            return
        self._log.close()
        step, self._log = self._log.step, None
        if self.recorder is None:
            return
        trajectory = self.recorder.close().trajectory()
        if len(trajectory) < 2:
            return
        self.diagnosis = diagnose(trajectory)
        self._log_metrics(step, {f"diagnosis/{cls}": float(n) for cls, n in self.diagnosis.counts.items()})
        for logger in self._loggers:
            if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
                logger.experiment.add_text("diagnosis", diagnosis_text(self.diagnosis), step)
                logger.experiment.flush()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Detach from the optimizer when training fails (the recorder keeps what it recorded)."""
        if self._log is not None:
            self._log.detach()
            self._log = None
        if self.recorder is not None:
            self.recorder.close()
