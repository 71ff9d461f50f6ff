"""ClaimResult, verdict helpers, the hand loop and the batched models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reglab import L2
from reglab.claims.base import (DOES_NOT_HOLD, HOLDS, VERDICTS, BatchedLinear, BatchedMLP, ClaimResult, RunConfig,
                                command_for, fitted_rate, run_hand_loop, squared_sum_over_members, verdict_of)
from reglab.models import mlp


def _result(**over: object) -> ClaimResult:
    kw = dict(id="x", title="t", statement="s", setup={}, measurements={"a": 1.0}, verdict=HOLDS, rule="r",
              explanation="e", key="a", command="reglab claims --only x")
    kw.update(over)
    return ClaimResult(**kw)  # type: ignore[arg-type]


def test_claim_result_rejects_a_verdict_outside_the_four():
    with pytest.raises(ValueError, match="verdict must be one of"):
        _result(verdict="mostly holds")


def test_claim_result_rejects_a_key_that_is_not_a_measurement():
    with pytest.raises(ValueError, match="key 'b' is not among the measurements"):
        _result(key="b")


def test_claim_result_json_spells_out_non_finite_numbers():
    d = _result(measurements={"a": float("inf"), "b": float("nan")}).to_dict()
    assert d["measurements"] == {"a": "inf", "b": "nan"}


def test_verdict_of_names_the_failed_checks():
    assert verdict_of([("x", True), ("y", False)], when_all=HOLDS, otherwise=DOES_NOT_HOLD) == (DOES_NOT_HOLD, ["y"])
    assert verdict_of([("x", True)], when_all=HOLDS, otherwise=DOES_NOT_HOLD) == (HOLDS, [])
    assert len(VERDICTS) == 4


def test_command_for_reproduces_quick_and_seed():
    assert command_for("l2-decay", RunConfig(quick=True, seed=3)) == "reglab claims --only l2-decay --seed 3 --quick"


def test_fitted_rate_recovers_a_geometric_factor_exactly():
    path = 0.7 * (-0.35) ** np.arange(30)
    assert math.isclose(fitted_rate(path), -0.35, rel_tol=1e-12)
    assert math.isnan(fitted_rate(np.zeros(5)))


def test_hand_loop_with_l2_on_a_zero_gradient_weight_decays_by_one_minus_two_lr_strength():
    model = BatchedLinear(torch.full((2, 3), 0.5, dtype=torch.float64))
    x = torch.zeros(4, 3, dtype=torch.float64)
    path = run_hand_loop(model, lambda m: m(x).square().mean(), [L2(0.25)],
                         torch.optim.SGD(model.parameters(), lr=0.2), 5, lambda m: m.weight[0, :1])
    np.testing.assert_allclose(path[:, 0], 0.5 * (1 - 2 * 0.2 * 0.25) ** np.arange(6), rtol=1e-14)


def test_batched_members_get_the_gradient_of_their_own_loss():
    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(10, 3, generator=gen, dtype=torch.float64), torch.randn(10, generator=gen, dtype=torch.float64)
    nets = [mlp(3, [4], generator=torch.Generator().manual_seed(k), dtype=torch.float64) for k in range(3)]
    batched = BatchedMLP(nets)
    squared_sum_over_members(batched(X), y).backward()
    for k, net in enumerate(nets):
        ((net(X)[:, 0] - y) ** 2).mean().backward()
        torch.testing.assert_close(batched.fc1_weight.grad[k], net.fc1.weight.grad)
        torch.testing.assert_close(batched.fc2_weight.grad[k], net.fc2.weight.grad[0])


def test_log_axis_figures_are_labelled_in_unicode_without_mathtext(monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim's log axes get their labels as plain text (10⁻², 2×10⁻¹), and nothing is parsed as mathtext
    while rendering."""
    from matplotlib import mathtext

    from reglab.claims.base import figure_from_matplotlib, new_figure

    parsed: list[str] = []
    original = mathtext.MathTextParser.parse
    monkeypatch.setattr(mathtext.MathTextParser, "parse",
                        lambda self, s, *a, **k: parsed.append(s) or original(self, s, *a, **k))
    fig, axes = new_figure()
    ax = axes[0][0]
    ax.loglog([0.2, 3e-3, 40.0], [1e-5, 1e-1, 2.0])
    ax.set_title("plain title")
    figure = figure_from_matplotlib(fig, "t", "c")
    assert figure is not None and figure.png_base64
    assert parsed == []
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels() if t.get_text()]
    assert "10⁻⁵" in labels and "10⁰" in labels
    assert all("$" not in label for label in labels)
