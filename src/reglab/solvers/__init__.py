"""Solvers for linear models, named by method.

- :mod:`~reglab.solvers.design`: what every exact solver shares (the design, losses, weights, grids);
- :mod:`~reglab.solvers.active_set`: the exact active-set (homotopy) method and proximal Newton;
- :mod:`~reglab.solvers.sparse_cd`: coordinate descent on a sparse X's columns for least-squares paths;
- :mod:`~reglab.solvers.fista`: FISTA with adaptive restart (torch and NumPy, one momentum rule);
- :mod:`~reglab.solvers.quasi_newton`: L-BFGS on the smooth and split forms;
- :mod:`~reglab.solvers.ridge`: the direct ridge solve;
- :mod:`~reglab.solvers.linear`: :func:`solve_linear` (picks the method) and :func:`regularization_path`;
- :mod:`~reglab.solvers.torch_design`: the Θ layout, closed-form gradients and the Gram form in torch.
"""

from reglab.solvers.design import (
    Design,
    LinearSolution,
    Path,
    SklearnGrid,
    alpha_grid,
    alpha_max,
    alphas_from_sklearn,
    kkt_violation,
    normalize_sample_weight,
    objective,
)
from reglab.solvers.fista import fista, fista_loop, fista_path
from reglab.solvers.linear import regularization_path, solve_linear
from reglab.solvers.ridge import ridge_solve
from reglab.solvers.torch_design import (
    LinearDesign,
    gram_matrix,
    linear_gradients,
    top_eigenvalue,
)

__all__ = [
    "Design", "LinearDesign", "LinearSolution", "Path", "SklearnGrid", "alpha_grid", "alpha_max",
    "alphas_from_sklearn", "fista", "fista_loop",
    "fista_path", "gram_matrix", "kkt_violation", "linear_gradients", "normalize_sample_weight", "objective",
    "regularization_path", "ridge_solve", "solve_linear", "top_eigenvalue",
]
