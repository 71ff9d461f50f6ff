"""Penalties: the mathematics of each penalty, where a term applies, and the registry of kinds.

- :mod:`~reglab.penalties.base`: :class:`AbstractPenalty` (value, grad, prox, subdifferential
  distance), the elastic-net family, selection (``on=``) and element masks;
- :mod:`~reglab.penalties.separable`: :class:`L2`, :class:`L1`, :class:`ElasticNet`;
- :mod:`~reglab.penalties.config`: the one registry of kinds that specs, the CLI and sweeps read;
- :mod:`~reglab.penalties.sklearn_mapping`: scikit-learn's parameters for the same optimum.
"""

from reglab.penalties.base import (
    RULES,
    AbstractPenalty,
    Selection,
    default_on,
    soft_threshold,
)
from reglab.penalties.config import PENALTY_KINDS, penalty_from_config
from reglab.penalties.separable import L1, L2, ElasticNet
from reglab.penalties.sklearn_mapping import sklearn_params

__all__ = [
    "PENALTY_KINDS", "RULES", "AbstractPenalty", "ElasticNet", "L1", "L2", "Selection", "default_on",
    "penalty_from_config", "sklearn_params", "soft_threshold",
]
