"""scikit-learn estimators built on :func:`reglab.fit` and the exact solvers (see
:mod:`reglab.sklearn.estimators`), and the regularization path."""

from reglab.sklearn.estimators import (
    GDClassifier,
    GDClassifierCV,
    GDRegressor,
    GDRegressorCV,
    MLPClassifier,
    MLPRegressor,
)
from reglab.solvers import Path, alphas_from_sklearn, regularization_path

__all__ = ["GDClassifier", "GDClassifierCV", "GDRegressor", "GDRegressorCV", "MLPClassifier", "MLPRegressor", "Path",
           "alphas_from_sklearn", "regularization_path"]
