"""reglab's error and warning classes, defined once (this module imports nothing from reglab: every layer
may use it). Exported as ``reglab.DivergenceError``, ``reglab.NumericalWarning`` and
``reglab.ConvergenceWarning``.

Examples
--------
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warnings.warn("standardize X", NumericalWarning)
>>> caught[0].category.__name__
'NumericalWarning'
"""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

__all__ = ["ConvergenceWarning", "DivergenceError", "NumericalWarning"]


class NumericalWarning(RuntimeWarning):
    """A run finished, but its numbers are not to be trusted as they are; the message says the fix.

    Raised for features on scales so different that one learning rate cannot serve them all, and
    for a penalty applied by a rule that cannot settle at the learning rate given (L1 by the
    gradient rule with ``lr · strength`` larger than the weights).
    """


class ConvergenceWarning(_SklearnConvergenceWarning):
    """The optimizer stopped at its step limit before its tolerance was met.

    A subclass of scikit-learn's ``ConvergenceWarning``, so filters for either catch it.
    """


class DivergenceError(RuntimeError):
    """Training diverged: a non-finite loss or parameter, or a loss far above its start.

    Attributes
    ----------
    step : int
        The step at which divergence was detected.
    lr : float
        The learning rate in use.
    max_stable_lr : float or None
        For linear models with a canonical loss, 2/L: the largest stable plain-GD learning rate.
    """

    def __init__(self, message: str, *, step: int, lr: float, max_stable_lr: float | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.lr = lr
        self.max_stable_lr = max_stable_lr
