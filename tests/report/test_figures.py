"""Figures draw the recorded numbers, and the theoretical curves the mathematics gives."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import Polygon, Rectangle

from reglab import L1, L2, diagnose, fit
from reglab.data import zero_column
from reglab.report.figures import choose_weights, figure_png, plot_norms, plot_tail, plot_weights

ZERO = "linear.weight[0,0]"


@pytest.fixture(scope="module")
def l2_run():
    return fit("linear", zero_column(n=40, p=3, column=0), lr=0.05, steps=120, record=True, penalties=[L2(0.3)])


@pytest.fixture(scope="module")
def l1_run():
    return fit("linear", zero_column(n=40, p=3, column=0), lr=0.05, steps=200, record=True, penalties=[L1(0.1)])


def test_weight_paths_show_recorded_values_and_the_l2_curve_the_zero_column_weight_follows(l2_run) -> None:
    traj = l2_run.trajectory
    fig = plot_weights(l2_run, [ZERO, "linear.weight[0,1]"])
    lines = fig.axes[0].lines
    path, curve, other = lines[0], lines[1], lines[2]
    np.testing.assert_array_equal(path.get_ydata(), traj.path(ZERO))
    # no data gradient: the weight follows w0·(1 − 2ηλ)^t, and the drawn curve is that
    np.testing.assert_allclose(curve.get_ydata(), traj.path(ZERO)[0] * (1 - 2 * 0.05 * 0.3) ** traj.steps, rtol=1e-12)
    np.testing.assert_allclose(curve.get_ydata(), path.get_ydata(), rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(other.get_ydata(), traj.path("linear.weight[0,1]"))
    assert len([ln for ln in lines if ln.get_linestyle() == "--"]) == 2  # both weights carry L2 with a rate


def test_no_theory_curve_where_the_penalty_gives_no_geometric_rate(l1_run) -> None:
    fig = plot_weights(l1_run, [ZERO, "linear.bias[0]"])
    assert [ln.get_linestyle() for ln in fig.axes[0].lines] == ["-", "-", "-"]  # two paths and the zero line


def test_norm_figure_has_one_line_per_tensor_with_the_recorded_summary(l2_run) -> None:
    traj = l2_run.trajectory
    fig = plot_norms(l2_run, "l2_norm")
    lines = [ln for ln in fig.axes[0].lines if ln.get_label() in traj.tensor_names]
    assert [ln.get_label() for ln in lines] == traj.tensor_names
    np.testing.assert_array_equal(lines[0].get_ydata(), traj.summary(traj.tensor_names[0], "l2_norm"))
    np.testing.assert_allclose(lines[0].get_ydata(), np.linalg.norm(traj.values[:, :3], axis=1), rtol=1e-14)
    with pytest.raises(ValueError, match="Unknown summary"):
        plot_norms(l2_run, "max")


def test_tail_zoom_marks_every_step_and_shades_the_oscillation_band(l1_run) -> None:
    diag = diagnose(l1_run)
    fig = plot_tail(l1_run, n=12, diagnosis=diag)
    ax = fig.axes[0]
    line = ax.lines[0]
    assert line.get_label().startswith(ZERO) and "oscillating" in line.get_label()
    np.testing.assert_array_equal(line.get_xdata(), l1_run.trajectory.steps[-12:])
    assert line.get_marker() == "o"
    row = diag.per_weight.set_index("name").loc[ZERO]
    bands = [p for p in ax.patches if isinstance(p, (Polygon, Rectangle))]
    assert len(bands) == 1
    band = bands[0]
    if isinstance(band, Rectangle):  # matplotlib ≥ 3.9
        ys = [band.get_y(), band.get_y() + band.get_height()]
    else:
        ys = list(band.get_xy()[:, 1])
    assert min(ys) == pytest.approx(row["centre"] - row["amplitude"] / 2, abs=1e-15)
    assert max(ys) == pytest.approx(row["centre"] + row["amplitude"] / 2, abs=1e-15)
    # the two levels of the oscillation lie on the band's edges
    tail = line.get_ydata()
    assert max(tail) == pytest.approx(max(ys), abs=1e-12) and min(tail) == pytest.approx(min(ys), abs=1e-12)


def test_choose_weights_picks_one_of_each_class_first(l2_run) -> None:
    diag = diagnose(l2_run)
    names = choose_weights(l2_run, 2, diag)
    assert len(names) == 2 and len({diag.of(n) for n in names}) == 2


def test_figures_render_to_png_and_refuse_unrecorded_runs(l2_run) -> None:
    png = figure_png(plot_weights(l2_run))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="record=True"):
        plot_weights(fit("linear", zero_column(n=10, p=2), steps=3))
    with pytest.raises(KeyError, match="not tracked"):
        plot_weights(l2_run, ["fc9.weight[0,0]"])
