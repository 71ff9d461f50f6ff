"""The training loop: :func:`fit` and what it is made of.

- :mod:`~reglab.training.engine`: :func:`fit` (checks → resolve → choose a path → run → result);
- :mod:`~reglab.training.resolve`: arguments to objects (model, data, loss, optimizer, ``lr="auto"``);
- :mod:`~reglab.training.batches`: minibatch order;
- :mod:`~reglab.training.monitor`: logging cadence, the divergence rule, warnings;
- :mod:`~reglab.training.checkpoint`: checkpoint files (atomic, never unpickled);
- :mod:`~reglab.training.fast_linear`: the fast path's dispatch for linear models;
- :mod:`~reglab.training.result`: :class:`FitResult` and :class:`History`.
"""

from reglab.exceptions import DivergenceError
from reglab.training.engine import fit
from reglab.training.fast_linear import prepare_fast_path
from reglab.training.resolve import OPTIMIZERS, lipschitz_constant
from reglab.training.result import STATUSES, FitResult, History

__all__ = ["DivergenceError", "FitResult", "History", "OPTIMIZERS", "STATUSES", "fit", "lipschitz_constant",
           "prepare_fast_path"]
