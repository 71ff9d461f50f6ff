"""Log a model's regularization to Weights & Biases while it trains, in any training loop.

:class:`WandbWriter` is :class:`~reglab.integrations.tensorboard.TensorBoardWriter` with a W&B run
as its sink: at the start and after every ``every``-th optimizer step it logs the same numbers
(``norms/l2/<param>``, ``norms/l1/<param>``, ``zeros/<param>``, ``penalty``, ``weights/<name>``),
each under the prefix ``reglab/``, against its own x-axis ``reglab/step`` (the optimizer steps
taken, declared with ``run.define_metric``), so it never fights the step counter of your own
``run.log`` calls. :meth:`~WandbWriter.close` puts the :func:`~reglab.diagnose` table in the run's
summary (``reglab/diagnosis``, and ``reglab/diagnosis/<class>`` counts). The run stays yours: the
writer does not finish it.

W&B is an optional dependency: ``pip install 'reglab[integrations]'`` (or ``pip install wandb``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import torch
import wandb
from torch import nn

from reglab.integrations._writer import StepWriter
from reglab.observe import Diagnosis

__all__ = ["PREFIX", "WandbWriter"]

PREFIX: Final = "reglab/"


class WandbWriter(StepWriter):
    """Log per-tensor norms, zero fractions, the penalty, chosen weights and, at the end, the
    diagnosis of ``model`` to a W&B run, every ``every`` steps of ``optimizer``.

    Parameters
    ----------
    run : wandb Run, optional
        The run to log to (what ``wandb.init`` returned); default: the active run (``wandb.run``).
    model, optimizer, every, track, record, **recorder_options
        As :class:`~reglab.integrations.tensorboard.TensorBoardWriter`.

    Raises
    ------
    RuntimeError
        Without a run: none given and no active one (call ``wandb.init(...)`` first).

    Examples
    --------
    >>> import tempfile
    >>> from reglab import L1, Regularized
    >>> run = wandb.init(mode="offline", dir=tempfile.mkdtemp(), settings=wandb.Settings(silent=True))
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model, [L1(0.05, update="proximal")])
    >>> with WandbWriter(run, model, opt, every=5) as wb:
    ...     for _ in range(20):
    ...         opt.zero_grad(); model(torch.ones(8, 4)).square().mean().backward(); opt.step()
    >>> wb.step, "reglab/penalty" in run.summary.keys()
    (20, True)
    >>> run.finish()
    """

    def __init__(self, run: Any = None, model: nn.Module | None = None,
                 optimizer: torch.optim.Optimizer | None = None, *, every: int = 10,
                 track: str | Sequence[str] | None = None, record: bool = True, **recorder_options: Any) -> None:
        run = wandb.run if run is None else run
        if run is None:
            raise RuntimeError("WandbWriter needs a W&B run: pass the one wandb.init(...) returned, or call "
                               "wandb.init(...) first (mode='offline' logs without an account).")
        if model is None or optimizer is None:
            raise TypeError("WandbWriter needs the model and its optimizer: WandbWriter(run, model, optimizer).")
        self.run = run
        run.define_metric(f"{PREFIX}step")
        run.define_metric(f"{PREFIX}*", step_metric=f"{PREFIX}step")
        super().__init__(model, optimizer, every=every, track=track, record=record, **recorder_options)

    def _write_scalars(self, step: int, scalars: dict[str, float]) -> None:
        self.run.log({f"{PREFIX}step": step, **{PREFIX + tag: value for tag, value in scalars.items()}})

    def _write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        self.run.summary[f"{PREFIX}diagnosis"] = str(diagnosis)
        for cls, n in diagnosis.counts.items():
            self.run.summary[f"{PREFIX}diagnosis/{cls}"] = n

    def _finish(self) -> None:
        """Nothing to end: the run is the caller's to finish."""

    def __enter__(self) -> WandbWriter:
        return self

    def __repr__(self) -> str:
        return f"WandbWriter({getattr(self.run, 'name', None)!r}, {self._state})"
