"""Solvers for linear models, named by method.

- :mod:`~reglab.solvers.design`: what every exact solver shares (the design, losses, weights, grids);
- :mod:`~reglab.solvers.active_set`: the exact active-set (homotopy) method and proximal Newton;
- :mod:`~reglab.solvers.fista`: FISTA with adaptive restart (torch and NumPy);
- :mod:`~reglab.solvers.quasi_newton`: L-BFGS on the smooth and split forms;
- :mod:`~reglab.solvers.ridge`: direct ridge solves;
- :mod:`~reglab.solvers.linear`: :func:`solve_linear` (picks the method) and :func:`regularization_path`;
- :mod:`~reglab.solvers.torch_design`: the Θ layout, closed-form gradients and the Gram form in torch.
"""

from reglab.solvers.design import (
    LinearSolution,
    Path,
    alpha_grid,
    alpha_max,
    check_sample_weight,
    objective,
)
from reglab.solvers.fista import FastSolution, fista, fista_path
from reglab.solvers.linear import regularization_path, solve_linear
from reglab.solvers.ridge import ridge_solve
from reglab.solvers.torch_design import (
    LinearDesign,
    gram_matrix,
    linear_gradients,
    top_eigenvalue,
)

__all__ = [
    "FastSolution", "LinearDesign", "LinearSolution", "Path", "alpha_grid", "alpha_max", "check_sample_weight",
    "fista", "fista_path", "gram_matrix", "linear_gradients", "objective", "regularization_path", "ridge_solve",
    "solve_linear", "top_eigenvalue",
]
