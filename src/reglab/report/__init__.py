"""Reports: figures (matplotlib) and the self-contained HTML report of the claims.

:mod:`reglab.report.figures` draws recorded runs: weight paths with their theoretical curves,
per-tensor norms, and a tail zoom that shows an oscillation.
"""

from reglab.report.figures import (
    choose_weights,
    figure_png,
    plot_norms,
    plot_tail,
    plot_weights,
)

__all__ = ["choose_weights", "figure_png", "plot_norms", "plot_tail", "plot_weights"]
