"""reglab: train any PyTorch model under explicit penalties and update rules, watch every weight,
and test what is said about L2 and L1 regularization by measurement.

The public API is re-exported here; nothing is defined in this file.
"""

from reglab.data import Dataset
from reglab.exceptions import ConvergenceWarning, NumericalWarning
from reglab.observe import Diagnosis, Recorder, Trajectory, diagnose, watch
from reglab.penalties import L1, L2, ElasticNet
from reglab.training import DivergenceError, FitResult, fit
from reglab.updates import Regularized

__version__ = "0.1.0"

__all__ = [
    "L1",
    "L2",
    "NumericalWarning",
    "ConvergenceWarning",
    "Dataset",
    "Diagnosis",
    "DivergenceError",
    "ElasticNet",
    "FitResult",
    "Recorder",
    "Regularized",
    "Trajectory",
    "__version__",
    "diagnose",
    "fit",
    "watch",
]
