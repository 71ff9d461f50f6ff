"""Figures of recorded runs (matplotlib, no global pyplot state): weight paths, tensor norms, tail zoom.

Every function takes a :class:`~reglab.observe.Trajectory` or a fit result recorded with
``record=True``, draws on a new :class:`matplotlib.figure.Figure` (or on ``ax`` when given) and
returns the figure, so that the report can embed it and users can show or save it.

- :func:`plot_weights`: chosen weights' values over steps, with the theoretical path where one
  exists (``w₀·r^t`` with ``r`` the penalty's own shrink factor, e.g. 1 − 2ηλ).
- :func:`plot_norms`: per-tensor summaries (L2 norm by default) over steps.
- :func:`plot_tail`: the last steps of chosen weights, every recorded step marked, so a period-2
  oscillation is visible; with its amplitude band when :func:`reglab.diagnose` found one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reglab.observe import CLASSES, SUMMARY_FIELDS, Diagnosis, Trajectory, diagnose

__all__ = ["choose_weights", "figure_png", "plot_norms", "plot_tail", "plot_weights"]


def _trajectory(run: Any) -> Trajectory:
    if isinstance(run, Trajectory):
        return run
    traj = getattr(run, "trajectory", None)
    if traj is None:
        raise ValueError("Nothing to plot: the fit was not recorded. Call fit(..., record=True), or pass a Trajectory.")
    if not isinstance(traj, Trajectory):
        raise TypeError(f"Expected a FitResult or a Trajectory; got {type(run).__name__}.")
    return traj


def _axes(ax: Axes | None, size: tuple[float, float] = (6.4, 3.6)) -> tuple[Figure, Axes]:
    if ax is not None:
        fig = ax.get_figure()
        assert isinstance(fig, Figure)
        return fig, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def choose_weights(run: Any, k: int = 6, diagnosis: Diagnosis | None = None) -> list[str]:
    """Up to ``k`` weight names worth plotting: the first weight of each class, then more in class order."""
    traj = _trajectory(run)
    diag = diagnosis if diagnosis is not None else diagnose(traj)
    by_class = [diag.names_in(c) for c in CLASSES]
    out: list[str] = []
    depth = 0
    while len(out) < min(k, len(traj.names)):
        added = False
        for names in by_class:
            if depth < len(names) and len(out) < k:
                out.append(names[depth])
                added = True
        if not added:
            break
        depth += 1
    return out


def _check_names(traj: Trajectory, names: Sequence[str]) -> list[int]:
    if isinstance(names, str):
        names = [names]
    return [traj.index(n) for n in names]


def plot_weights(run: Any, names: Sequence[str] | None = None, *, theory: bool = True, ax: Axes | None = None,
                 diagnosis: Diagnosis | None = None) -> Figure:
    """Values of chosen weights over the recorded steps, with their theoretical path where one exists.

    Parameters
    ----------
    run : FitResult or Trajectory
    names : sequence of str, optional
        Weight names (``"fc1.weight[3,7]"``); default :func:`choose_weights`.
    theory : bool
        Draw ``w₀·r^(t − t₀)`` (dashed) for weights whose penalty alone shrinks them by a known
        factor ``r`` per step (``theory_rate``, e.g. 1 − 2ηλ). It is the path such a weight follows
        when its data gradient is zero.
    ax : matplotlib Axes, optional
    diagnosis : Diagnosis, optional
        Labels each line with its class.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import reglab
    >>> from reglab.data import zero_column
    >>> res = reglab.fit("linear", zero_column(n=30, p=2), lr=0.05, steps=50, penalties=[reglab.L2(0.5)],
    ...                  record=True)
    >>> fig = plot_weights(res, ["linear.weight[0,0]"])
    >>> [line.get_linestyle() for line in fig.axes[0].lines]   # path, theoretical curve, zero line
    ['-', '--', '-']
    """
    traj = _trajectory(run)
    names = list(names) if names is not None else choose_weights(traj, diagnosis=diagnosis)
    cols = _check_names(traj, names)
    fig, ax = _axes(ax)
    rates = traj.weights.get("theory_rate")
    for name, j in zip(names, cols):
        label = name if diagnosis is None else f"{name} ({diagnosis.of(name)})"
        (line,) = ax.plot(traj.steps, traj.values[:, j], label=label, lw=1.4)
        if theory and rates is not None and np.isfinite(rates[j]):
            t = traj.steps - traj.steps[0]
            ax.plot(traj.steps, traj.values[0, j] * rates[j] ** t, ls="--", lw=1.0, color=line.get_color(),
                    label=f"{name}: w₀·{rates[j]:.6g}^t")
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel("step")
    ax.set_ylabel("weight value")
    ax.set_title("Weight paths")
    if names:
        ax.legend(fontsize="small")
    return fig


def plot_norms(run: Any, what: str = "l2_norm", tensors: Sequence[str] | None = None, *, log: bool = False,
               ax: Axes | None = None) -> Figure:
    """A per-tensor summary (one of ``SUMMARY_FIELDS``) over the recorded steps, one line per tensor.

    Parameters
    ----------
    run : FitResult or Trajectory
    what : {"l2_norm", "l1_norm", "frac_zero", "frac_small", "update_norm"}
    tensors : sequence of str, optional
        Parameter tensors to draw (default all).
    log : bool
        Logarithmic y axis.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    traj = _trajectory(run)
    if what not in SUMMARY_FIELDS:
        raise ValueError(f"Unknown summary {what!r}. Choose one of {', '.join(SUMMARY_FIELDS)}.")
    chosen = list(tensors) if tensors is not None else traj.tensor_names
    fig, ax = _axes(ax)
    for name in chosen:
        ax.plot(traj.steps, traj.summary(name, what), label=name, lw=1.4)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(what.replace("_", " "))
    ax.set_title(f"Per-tensor {what.replace('_', ' ')}")
    ax.legend(fontsize="small")
    return fig


def plot_tail(run: Any, names: Sequence[str] | None = None, n: int = 20, *, ax: Axes | None = None,
              diagnosis: Diagnosis | None = None) -> Figure:
    """The last ``n`` recorded steps of chosen weights, each recorded step marked.

    Where ``diagnosis`` (computed if not given) finds a weight ``oscillating``, the band
    ``centre ± amplitude/2`` is shaded, so the two levels of a period-2 oscillation stand out.

    Parameters
    ----------
    run : FitResult or Trajectory
    names : sequence of str, optional
        Default: the oscillating weights (up to 4), else :func:`choose_weights`.
    n : int
        Number of recorded rows at the end to show.
    ax : matplotlib Axes, optional
    diagnosis : Diagnosis, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    traj = _trajectory(run)
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer ≥ 2; got {n!r}.")
    diag = diagnosis if diagnosis is not None else diagnose(traj)
    if names is None:
        names = diag.names_in("oscillating")[:4] or choose_weights(traj, 4, diag)
    names = list(names)
    cols = _check_names(traj, names)
    fig, ax = _axes(ax)
    table = diag.per_weight.set_index("name")
    steps = traj.steps[-n:]
    for name, j in zip(names, cols):
        (line,) = ax.plot(steps, traj.values[-n:, j], marker="o", ms=3, lw=1.0, label=f"{name} ({diag.of(name)})")
        if name in table.index and table.at[name, "cls"] == "oscillating":
            c, a = float(table.at[name, "centre"]), float(table.at[name, "amplitude"])
            ax.axhspan(c - a / 2, c + a / 2, color=line.get_color(), alpha=0.12, lw=0)
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel("step")
    ax.set_ylabel("weight value")
    ax.set_title(f"Last {len(steps)} recorded steps")
    ax.legend(fontsize="small")
    return fig


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (for embedding in a self-contained report)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
