"""Log a model's regularization to TensorBoard while it trains, in any training loop.

:class:`TensorBoardWriter` hooks the optimizer's step (``register_step_post_hook``, as
:class:`~reglab.Recorder` does), so it works in a loop of your own, with ``opt.step(closure)``, and
with any torch optimizer or :class:`~reglab.Regularized`. At the start and after every ``every``-th
optimizer step it writes, through :class:`torch.utils.tensorboard.SummaryWriter`:

=========================== ===========================================================
tag                         value
=========================== ===========================================================
``norms/l2/<param>``        L2 norm of each parameter tensor the optimizer updates
``norms/l1/<param>``        its L1 norm
``zeros/<param>``           its fraction of weights exactly 0.0
``penalty``                 ``optimizer.penalty_value()`` (a ``Regularized`` optimizer only)
``weights/<name>``          the value of each weight ``track`` names (``fc.weight[0,1]``)
=========================== ===========================================================

The step of each point is the number of optimizer steps taken. Those numbers cost one
device-to-host copy every ``every`` steps and nothing on the other steps. A
:class:`~reglab.Recorder` (recording every ``every`` steps too) runs beside it; :meth:`close` writes
its :func:`~reglab.diagnose` as text (tag ``diagnosis``) and the number of weights in each class as
scalars (``diagnosis/<class>``).

TensorBoard itself is an optional dependency: ``pip install 'reglab[integrations]'``.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from reglab.integrations._writer import StepWriter
from reglab.observe import Diagnosis

__all__ = ["TensorBoardWriter", "diagnosis_text"]


def diagnosis_text(diagnosis: Diagnosis) -> str:
    """The diagnosis as TensorBoard's text panel shows it: the table of :class:`~reglab.Diagnosis`
    as a Markdown code block (each line indented by four spaces)."""
    return textwrap.indent(str(diagnosis), "    ")


class TensorBoardWriter(StepWriter):
    """Write per-tensor norms, zero fractions, the penalty, chosen weights and, at the end, the
    diagnosis of ``model`` to TensorBoard, every ``every`` steps of ``optimizer``.

    Parameters
    ----------
    log_dir : str, path or SummaryWriter
        Where the event files go (a new ``SummaryWriter``, closed by :meth:`close`), or a writer of
        your own (flushed by :meth:`close`, not closed).
    model : nn.Module
        Where parameter names come from.
    optimizer : torch.optim.Optimizer
        Any optimizer over ``model``'s parameters; :class:`~reglab.Regularized` adds the penalty value.
    every : int
        Write after every this many optimizer steps (and at the start, and the last step at close).
    track : str or list of str, optional
        Weights whose values are written: element names (``"fc.weight[0,1]"``), or parameter names
        or globs whose every element is (at most 1,000 weights in all). The globs go to the recorder's
        ``track`` too.
    record : bool
        Keep a :class:`~reglab.Recorder` (every ``every`` steps) and write its diagnosis at close.
    **recorder_options
        Further options of the recorder (``steps``, ``tail``, ``sample``, ``grads``, ...).

    Attributes
    ----------
    writer : SummaryWriter
    recorder : Recorder or None
        The recorder kept beside the writer (``record=True``).
    diagnosis : Diagnosis or None
        Set by :meth:`close` when there was something to diagnose.

    Examples
    --------
    >>> import tempfile
    >>> from reglab import L1, Regularized
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model, [L1(0.05, update="proximal")])
    >>> with TensorBoardWriter(tempfile.mkdtemp(), model, opt, every=5, track="weight[0,0]") as tb:
    ...     for _ in range(20):
    ...         opt.zero_grad(); model(torch.ones(8, 4)).square().mean().backward(); opt.step()
    >>> tb.step, tb.recorder.trajectory().steps.tolist()
    (20, [0, 5, 10, 15, 20])
    >>> print(tb.diagnosis)  # doctest: +ELLIPSIS
    class          count  examples
    ...
    """

    def __init__(self, log_dir: str | os.PathLike[str] | SummaryWriter, model: nn.Module,
                 optimizer: torch.optim.Optimizer, *, every: int = 10, track: str | Sequence[str] | None = None,
                 record: bool = True, **recorder_options: Any) -> None:
        self._owns_writer = not isinstance(log_dir, SummaryWriter)
        self.writer = SummaryWriter(os.fspath(log_dir)) if self._owns_writer else log_dir
        super().__init__(model, optimizer, every=every, track=track, record=record, **recorder_options)

    def _write_scalars(self, step: int, scalars: dict[str, float]) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def _write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        self.writer.add_text("diagnosis", diagnosis_text(diagnosis), step)
        for cls, n in diagnosis.counts.items():
            self.writer.add_scalar(f"diagnosis/{cls}", n, step)

    def _finish(self) -> None:
        """Close a writer made here; flush one of the user's."""
        if self._owns_writer:
            self.writer.close()
        else:
            self.writer.flush()

    def __enter__(self) -> TensorBoardWriter:
        return self

    def __repr__(self) -> str:
        return f"TensorBoardWriter({self.writer.log_dir!r}, {self._state})"
