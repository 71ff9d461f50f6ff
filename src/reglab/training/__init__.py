"""The training loop: :func:`fit` and what it is made of.

- :mod:`~reglab.training.engine`: :func:`fit` (checks → resolve → choose a path → run → result);
- :mod:`~reglab.training.resolve`: arguments to objects (model, data, loss, optimizer, ``lr="auto"``);
- :mod:`~reglab.training.batches`: minibatch order;
- :mod:`~reglab.training.monitor`: logging cadence, the divergence rule, the stopping rule, warnings;
- :mod:`~reglab.training.checkpoint`: checkpoint files (atomic, never unpickled);
- :mod:`~reglab.training.fast_linear`: the fast path's dispatch for linear models;
- :mod:`~reglab.training.result`: :class:`FitResult` and :class:`History`.

The pieces another package reuses (the batched sweep executor, the estimators) are exported here:
:func:`resolve_inputs`, :func:`check_device`, :func:`resolve_batch_size`, :func:`build_optimizer`, :class:`Batches`,
:func:`log_every_for` and :class:`RunLog` (history and the one divergence rule).
"""

from reglab.exceptions import DivergenceError
from reglab.training.batches import Batches
from reglab.training.engine import fit
from reglab.training.fast_linear import prepare_fast_path
from reglab.training.monitor import RunLog, is_diverged, log_every_for
from reglab.training.resolve import (
    OPTIMIZERS,
    build_optimizer,
    check_device,
    lipschitz_constant,
    resolve_batch_size,
    resolve_inputs,
)
from reglab.training.result import STATUSES, FitResult, History

__all__ = ["Batches", "DivergenceError", "FitResult", "History", "OPTIMIZERS", "RunLog", "STATUSES",
           "build_optimizer", "check_device", "fit", "is_diverged", "lipschitz_constant", "log_every_for", "prepare_fast_path",
           "resolve_batch_size", "resolve_inputs"]
