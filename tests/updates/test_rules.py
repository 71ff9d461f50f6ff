"""The rule objects (reglab.updates.rules): their declarations, and the one step order every path runs.

Refusals (word for word) are the registry's (tests/registry.py, run by test_updates.py); here: the
names agree with the penalties' list, the step order is written once and followed by Regularized,
fit's fast path and the batched executor alike, and each path reads the rules' declared capabilities.
"""

from __future__ import annotations

import pytest
import torch

import reglab
from reglab import L1, L2, Regularized
from reglab.data import zero_column
from reglab.losses import Squared, get_loss
from reglab.models import linear
from reglab.penalties import WeightedL1
from reglab.sweep import expand_sweep, fit_batched, why_not_batched
from reglab.training.fast_linear import why_not_fast
from reglab.updates.rules import (
    AFTER_INNER,
    BEFORE_INNER,
    INNER,
    RULES,
    STEP,
    AbstractDirectionRule,
    AbstractParameterRule,
)


def test_rule_names_are_the_penalties_update_names_and_step_orders_them() -> None:
    assert tuple(RULES) == reglab.penalties.RULES
    assert [getattr(s, "name", s) for s in STEP] == ["gradient", "decoupled", INNER, "proximal", "cumulative"]
    assert {r.name for r in BEFORE_INNER} == {"gradient", "decoupled"}
    assert {r.name for r in AFTER_INNER} == {"proximal", "cumulative"}
    assert all(r.stage == "direction" for r in RULES.values() if isinstance(r, AbstractDirectionRule))
    assert all(r.stage in ("before", "after") for r in RULES.values() if isinstance(r, AbstractParameterRule))
    assert all((r.stage != "after") == (r in BEFORE_INNER) for r in RULES.values())


@pytest.mark.parametrize(("name", "fast", "batchable", "accelerated"), [
    ("gradient", True, True, True), ("proximal", True, True, True),
    ("decoupled", True, True, False), ("cumulative", False, False, False),
])
def test_declared_capabilities(name: str, fast: bool, batchable: bool, accelerated: bool) -> None:
    rule = RULES[name]
    assert (rule.on_fast_path, rule.batchable, rule.accelerated) == (fast, batchable, accelerated)
    assert (rule.why_not_fast is None) == fast


def test_fast_path_and_batched_executor_read_the_declarations() -> None:
    term = L1(0.1, update="cumulative")
    assert why_not_fast(linear(2), torch.zeros(3, 2, dtype=torch.float64), get_loss("squared"), [term], "gd",
                        record=False, batch_size=None) == RULES["cumulative"].why_not_fast
    spec = {"data": {"scenario": "zero_column", "n": 20, "p": 2}, "optimizer": "sgd",
            "penalties": [{"kind": "l1", "strength": 0.1, "update": "cumulative"}]}
    assert why_not_batched(spec) == "penalties.0 uses update='cumulative'; batched supports gradient, proximal, decoupled"


@pytest.mark.parametrize(("family", "shrinks"), [
    ("plain", {"gradient": "subtract", "decoupled": "subtract", "proximal": "divide", "cumulative": None}),
    ("adaptive", {"gradient": None, "decoupled": "subtract", "proximal": None, "cumulative": None}),
])
def test_l2_shrink_the_recorder_reads(family: str, shrinks: dict) -> None:
    assert {name: r.l2_shrink(family) for name, r in RULES.items()} == shrinks


def test_cumulative_state_is_u_and_q_per_selected_parameter() -> None:
    model = linear(3)
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model,
                      [L2(0.1), L1(0.1, update="cumulative"), WeightedL1(0.1, [1.0, 0.0, 2.0], update="cumulative")])
    state = opt.state_dict()
    assert set(state) == {"inner", "cumulative", "decay_scale", "base_lrs"} and set(state["cumulative"]) == {"1", "2"}
    for entry in (state["cumulative"]["1"], state["cumulative"]["2"]):
        (st,) = entry
        assert st["u"].shape == () and st["u"].dtype == torch.float64 and st["q"].shape == (1, 3)


def test_cumulative_weighted_l1_never_clips_a_zero_weight_element() -> None:
    ds = zero_column(n=40, p=3, column=0, seed=0)
    model = linear(3, generator=torch.Generator().manual_seed(0))
    opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model,
                      [WeightedL1(0.5, weights=[0.0, 1.0, 1.0], update="cumulative")])
    w0 = float(model.linear.weight.detach()[0, 0])
    for _ in range(50):
        opt.zero_grad()
        Squared()(model(ds.X), ds.y).backward()
        opt.step()
    assert float(model.linear.weight.detach()[0, 0]) == w0  # no data gradient and no penalty on w*
    assert float(opt.state_dict()["cumulative"]["0"][0]["u"]) == pytest.approx(50 * 0.1, rel=1e-12)


TERMS = [{"kind": "l2", "strength": 0.2, "update": "gradient"},
         {"kind": "l2", "strength": 0.3, "update": "decoupled"},
         {"kind": "l1", "strength": 0.4, "update": "proximal"},
         {"kind": "elasticnet", "strength": 0.1, "l1_ratio": 0.5, "update": "gradient"}]


def test_one_step_of_every_path_is_step_written_out_by_hand() -> None:
    """On the zero column's w* (no data gradient): gradient terms at the pre-step value, then the decoupled
    decay, the plain step, then the proximal term: w₁ = soft((1 − 2ηλ_d)·w₀ − η·(2λ_g·w₀ + ∇EN(w₀)), ηλ_p)."""
    eta, w_star = 0.05, (0, 0)
    data = {"scenario": "zero_column", "n": 40, "p": 3, "column": 0}
    spec = {"data": data, "penalties": TERMS, "lr": eta, "steps": 1, "dtype": "float64"}
    ds = reglab.spec.build_data(spec)
    w0 = float(linear(3, generator=torch.Generator().manual_seed(0)).linear.weight.detach()[w_star])
    d = 2 * 0.2 * w0 + 0.05 * (1 if w0 > 0 else -1) + 2 * 0.05 * w0
    v = (1 - eta * 2 * 0.3) * w0 - eta * d
    expected = (1 if v > 0 else -1) * max(abs(v) - eta * 0.4, 0.0)
    terms = [reglab.penalties.penalty_from_config(t) for t in TERMS]
    fits = [reglab.fit("linear", ds, penalties=terms, lr=eta, steps=1, seed=0, fast=fast) for fast in (True, False)]
    (batched, _), = fit_batched(expand_sweep({"base": spec, "grid": {"seed": [0]}}))
    for res in (*fits, batched):
        assert float(res.model.linear.weight.detach()[w_star]) == pytest.approx(expected, rel=1e-14)
