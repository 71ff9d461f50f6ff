"""reglab's warning classes, defined once (this module imports nothing from reglab: every layer may use it).

:class:`DivergenceError` stays in :mod:`reglab.fit`, where it is raised; both warnings are exported
as ``reglab.NumericalWarning`` and ``reglab.ConvergenceWarning``.

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

__all__ = ["ConvergenceWarning", "NumericalWarning"]


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
