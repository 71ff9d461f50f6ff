"""Penalties: the mathematics of each penalty, where a term applies, and the registry of kinds.

- :mod:`~reglab.penalties.base`: :class:`AbstractPenalty` (value, grad, prox, subdifferential
  distance, declared capabilities), the elastic-net family (:class:`AbstractElasticNet`, whose
  :class:`ElasticNetParts` every training path reads), selection (``on=``), masks and weights;
- :mod:`~reglab.penalties.separable`: :class:`L2`, :class:`L1`, :class:`ElasticNet`, :class:`WeightedL1`;
- :mod:`~reglab.penalties.mcp`: :class:`MCP`, a penalty outside the family;
- :mod:`~reglab.penalties.config`: the one registry of kinds that specs, the CLI and sweeps read;
- :mod:`~reglab.penalties.sklearn_mapping`: scikit-learn's parameters for the same optimum.
"""

from reglab.penalties.base import (
    RULES,
    AbstractElasticNet,
    AbstractPenalty,
    AbstractTensorPenalty,
    ElasticNetParts,
    Elementwise,
    Selection,
    default_on,
    soft_threshold,
)
from reglab.penalties.config import KINDS, PENALTY_KEYS, PENALTY_KINDS, penalty_from_config
from reglab.penalties.mcp import MCP
from reglab.penalties.separable import L1, L2, ElasticNet, WeightedL1, WeightedL2
from reglab.penalties.sklearn_mapping import sklearn_params

__all__ = [
    "KINDS", "MCP", "PENALTY_KEYS", "PENALTY_KINDS", "RULES", "AbstractElasticNet", "AbstractPenalty",
    "AbstractTensorPenalty", "ElasticNet", "ElasticNetParts", "Elementwise", "L1", "L2", "Selection", "WeightedL1", "WeightedL2",
    "default_on", "penalty_from_config", "sklearn_params", "soft_threshold",
]
