"""``decoupled-lr``: the measured shrink factors are the formulas, the rule gives each of its outcomes, and the
verdict does not change across seeds 0–4 in quick mode."""

from __future__ import annotations

import numpy as np
import pytest

from reglab.claims import RunConfig, run_claim
from reglab.claims import decoupled_lr as claim
from reglab.claims.base import DOES_NOT_HOLD, HOLDS, HOLDS_WITH_CORRECTION, INCONCLUSIVE


@pytest.fixture(scope="module")
def results():
    return {seed: run_claim("decoupled-lr", RunConfig(quick=True, seed=seed, figures=False)) for seed in range(5)}


def test_the_verdict_does_not_change_across_seeds_0_to_4(results):
    verdicts = {seed: r.verdict for seed, r in results.items()}
    assert len(set(verdicts.values())) == 1, verdicts


def test_zero_gradient_weights_shrink_by_1_minus_2_lr_strength_for_adamw_and_1_minus_2_strength_decoupled(results):
    r = results[0]
    m = r.measurements
    assert m["frozen_weights_per_member"] > 0
    for form in ("adamw", "decoupled"):
        assert m[f"{form}_frozen_factor_error_max"] <= 1e-15
        assert m[f"{form}_frozen_overall_rel_error_max"] <= 1e-12
    rows = r.tables["frozen_shrink"]
    for row in rows:  # the factors the table holds are the formulas
        expected = 1 - 2 * row["strength"] * (row["lr"] if row["form"] == "adamw" else 1.0)
        assert row["theory_factor"] == pytest.approx(expected, rel=1e-15)
    # the two forms differ: only adamw's factor depends on the learning rate
    adamw = {(row["lr"], row["strength"]): row["theory_factor"] for row in rows if row["form"] == "adamw"}
    lrs = sorted({lr for lr, _ in adamw})
    lam = next(iter(adamw))[1]
    assert adamw[(lrs[0], lam)] != adamw[(lrs[-1], lam)]


def test_the_two_decoupled_forms_slopes_differ_by_about_one(results):
    # adamw at (η, λ) is the fully decoupled form at (η, ηλ): log λ*_adamw = log λ*_decoupled − log η
    for r in results.values():
        if r.measurements["optima_clear"]:
            assert r.measurements["slope_difference_adamw_minus_decoupled"] == pytest.approx(-1, abs=0.5)


@pytest.mark.parametrize(("slopes", "clear", "verdict"), [
    ({"adam-l2": -0.9, "adamw": -1.0, "decoupled": 0.1}, True, HOLDS),
    ({"adam-l2": 0.1, "adamw": -1.0, "decoupled": -0.2}, True, HOLDS_WITH_CORRECTION),
    ({"adam-l2": 0.0, "adamw": 0.05, "decoupled": 1.05}, True, HOLDS_WITH_CORRECTION),
    ({"adam-l2": 0.0, "adamw": -0.5, "decoupled": 0.5}, True, DOES_NOT_HOLD),
    ({"adam-l2": -0.9, "adamw": -1.0, "decoupled": 0.1}, False, INCONCLUSIVE),
])
def test_the_rule_gives_each_outcome_on_constructed_slopes(slopes, clear, verdict):
    assert claim.verdict_from(slopes, clear)[0] == verdict


def test_a_slope_just_past_the_tolerance_is_not_flat():
    past = claim.SLOPE_TOL * 1.01
    assert claim.verdict_from({"adam-l2": 1.0, "adamw": past - 1, "decoupled": past}, True)[0] == DOES_NOT_HOLD


def test_refined_optimum_finds_a_parabola_vertex_and_stays_on_the_grid_at_its_ends():
    x = np.log(np.geomspace(1e-3, 1.0, 7))
    k, at = claim.refined_optimum(x, (x - x[3] - 0.3) ** 2)
    assert k == 3 and at == pytest.approx(x[3] + 0.3, abs=1e-12)
    k, at = claim.refined_optimum(x, x)  # increasing: the best is the first point, at the grid's end
    assert k == 0 and at == x[0]


def test_paired_t_is_large_for_a_consistent_difference_and_zero_for_none():
    rng = np.random.default_rng(0)
    best = rng.normal(size=200)
    assert claim.paired_t(best + 0.5 + 0.1 * rng.normal(size=200), best) > 20
    assert claim.paired_t(best, best) == 0.0


def test_every_stacked_member_computes_its_own_network_on_its_own_replicates_samples():
    import torch

    from reglab.models import mlp

    g = torch.Generator().manual_seed(0)
    inits = [mlp(5, [3], 4, generator=g, dtype=torch.float64) for _ in range(3)]
    groups, strengths = 2, 4
    model = claim.StackedMLPs(inits, groups, strengths)
    with torch.no_grad():  # every member different, so a mix-up of rows would show
        for p in model.parameters():
            p.normal_(generator=g)
    X = torch.randn(3, 7, 5, dtype=torch.float64, generator=g)
    per_replicate, shared = model(X), model(X[1])
    assert per_replicate.shape == shared.shape == (groups * 3 * strengths, 4, 7)
    for e in range(groups):
        for r in range(3):
            for k in range(strengths):
                row, member = r * strengths + k, (e * 3 + r) * strengths + k
                w1, b1, w2, b2 = model.w1[e][row], model.b1[e][row], model.w2[e][row], model.b2[e][row]
                for x, out in ((X[r], per_replicate), (X[1], shared)):
                    expected = (torch.relu(x @ w1 + b1) @ w2 + b2).T
                    torch.testing.assert_close(out[member], expected, rtol=1e-13, atol=1e-13)


def test_the_strength_factors_put_each_strength_on_its_rows_in_every_replicate_and_group():
    import torch

    from reglab.models import mlp

    inits = [mlp(5, [3], 4, generator=torch.Generator().manual_seed(r), dtype=torch.float64) for r in range(3)]
    model = claim.StackedMLPs(inits, 2, 4)
    strengths = [0.1, 0.2, 0.4, 0.8]
    factors = model.strength_factors(strengths)
    assert set(factors) == {"w1.0", "w1.1", "w2.0", "w2.1"}
    for name, f in factors.items():
        assert f.shape == dict(model.named_parameters())[name].shape
        for row in range(12):  # row r·L + k holds λ_k
            assert (f[row] == strengths[row % 4]).all()
    with pytest.raises(ValueError, match="3 strengths for a stack of 4"):
        model.strength_factors(strengths[:3])


@pytest.mark.parametrize("form", claim.FORMS, ids=lambda f: f.name)
def test_one_weighted_term_steps_exactly_like_one_masked_l2_term_per_strength(form):
    """The stacked grid's one WeightedL2 term (factors λ_k on the rows of λ_k) against the plain form: one L2(λ_k)
    term per strength on an element mask of its rows. Three Adam steps: bit for bit for the decoupled rule (both
    multiply by 1 − 2·η·λ_k); to rounding for the gradient rule (a scalar strength adds the penalty gradient by
    one fused ``add(alpha=2λ)``, a per-element one by a product and a sum)."""
    import torch

    from reglab.models import mlp
    from reglab.penalties import L2, WeightedL2
    from reglab.updates import Regularized

    inits = [mlp(5, [3], 4, generator=torch.Generator().manual_seed(r), dtype=torch.float64) for r in range(2)]
    strengths = [1e-3, 1e-2, 1e-1]
    x = torch.randn(2, 7, 5, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    y = torch.randint(0, 4, (2 * 2 * 3, 7), generator=torch.Generator().manual_seed(8))
    models = []
    for weighted in (True, False):
        model = claim.StackedMLPs(inits, 2, 3)
        if weighted:
            terms = [WeightedL2(1.0, weights=model.strength_factors(strengths), update=form.update)]
        else:
            def rows(k, model=model):
                return {n: (torch.arange(p.shape[0]) % 3 == k)[:, None, None].expand(p.shape)
                        for n, p in model.named_parameters() if n.startswith(("w1", "w2"))}
            terms = [L2(lam, on=rows(k), update=form.update) for k, lam in enumerate(strengths)]
        groups = [{"params": [model.w1[e], model.b1[e], model.w2[e], model.b2[e]], "lr": lr}
                  for e, lr in enumerate((0.01, 0.04))]
        opt = Regularized(torch.optim.Adam(groups), model, terms, decay_scale=form.decay_scale)
        for _ in range(3):
            opt.zero_grad()
            claim.per_sample_losses(model(x), y).sum().backward()
            opt.step()
        models.append(model)
    for (name, a), b in zip(models[0].named_parameters(), models[1].parameters()):
        if form.update == "decoupled":
            assert torch.equal(a, b), name
        else:
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15, msg=name)
