"""The claims of issue 19 (dead-units, normalization, tsuruoka): their numbers, in quick mode, seed 0."""

from __future__ import annotations

import pytest

from reglab.claims import RunConfig, run_claim


@pytest.fixture(scope="module")
def results():
    return {cid: run_claim(cid, RunConfig(quick=True, seed=0, figures=False))
            for cid in ("dead-units", "normalization", "tsuruoka")}


def test_dead_units_weights_are_bit_for_bit_stuck_and_decay_by_the_l2_factor(results):
    r = results["dead-units"]
    assert r.verdict == "holds"
    m = r.measurements
    assert m["max_change_dead_no_penalty"] == 0.0 and m["dead_units_traced"] >= 4
    assert m["max_factor_error_l2"] <= 1e-12 and m["units_revived"] == 0


def test_normalization_scale_invariance_and_null_model_only_with_every_scale_weight_penalized(results):
    r = results["normalization"]
    assert r.verdict == "holds with a correction"
    m = r.measurements
    assert m["max_output_change_under_scaling"] < 1e-8
    assert m["min_effective_step_over_no_penalty_l2"] > 1.0
    assert m["spread_noise_l2_w1_only"] > 0.1 >= m["spread_noise_l2_all"]


def test_tsuruoka_cumulative_is_as_sparse_as_the_optimum_and_subgradient_is_not(results):
    r = results["tsuruoka"]
    assert r.verdict == "holds"
    m = r.measurements
    assert m["nonzeros_subgradient"] > m["nonzeros_clipped"] > m["nonzeros_cumulative"]
    assert abs(m["nonzeros_cumulative"] - m["nonzeros_optimum"]) <= 0.5 * m["nonzeros_optimum"]
