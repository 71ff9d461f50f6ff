"""``real-data``: exact optima (against scikit-learn), λ never chosen on the test set, the rule, the verdict over seeds."""

from __future__ import annotations

import numpy as np
import pytest

from reglab import L1, L2
from reglab.claims import RunConfig, run_claim
from reglab.claims import real_data as rd
from reglab.penalties import sklearn_params

DIABETES = rd.Case("diabetes", "squared", ("L2", "L1"), (12, 40))
BREAST = rd.Case("breast_cancer", "logistic", ("L2", "L1"), (35,), test_size=0.5)


def _subsample(case: rd.Case, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = rd.dataset_arrays(case.dataset)
    pool, test = rd.split_pool_and_test(y, case, seed)
    idx = rd.draw_subsample(pool, y, n, case.classes, seed)
    X_fit, X_eval = rd.standardized(X[idx], X[test])
    return X_fit, y[idx], X_eval


@pytest.mark.parametrize("lam", [0.05, 3.0])
def test_ridge_and_lasso_paths_reach_sklearns_optimum(lam: float):
    from sklearn.linear_model import Lasso, Ridge

    X, y, X_eval = _subsample(DIABETES, 40)
    for rho, term, est in ((0.0, L2(lam), Ridge), (1.0, L1(lam), Lasso)):
        ours = rd.path_outputs(X, y, X_eval, "squared", rho, np.array([lam]))[0, :, 0]
        sk = est(**sklearn_params(term, len(y), est.__name__), tol=1e-12, max_iter=100_000).fit(X, y)
        np.testing.assert_allclose(ours, sk.predict(X_eval), rtol=1e-6, atol=1e-6 * np.abs(y).max())


@pytest.mark.parametrize("rho, lam", [(0.0, rd.TINY_STRENGTH), (0.0, 0.01), (1.0, 0.05)])
def test_logistic_paths_reach_sklearns_optimum_even_on_a_separable_subsample(rho: float, lam: float):
    from sklearn.linear_model import LogisticRegression

    X, y, X_eval = _subsample(BREAST, 35)
    term, solver, tol = (L2(lam), "lbfgs", 1e-12) if rho == 0.0 else (L1(lam), "saga", 1e-8)
    ours = rd.path_outputs(X, y, X_eval, "logistic", rho, np.array([lam]))[0, :, 0]
    sk = LogisticRegression(**sklearn_params(term, len(y), "LogisticRegression"), solver=solver, tol=tol,
                            max_iter=100_000).fit(X, y)
    # logits agree to a small fraction of their spread (at λ = 1e-5 on separable data the norm is large)
    logits = sk.decision_function(X_eval)
    np.testing.assert_allclose(ours, logits, atol=1e-4 * np.abs(logits).max())


def test_per_sample_losses_average_to_sklearns_log_loss():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    z = rng.normal(size=(1, 50, 1)) * 3
    y = (rng.random(50) < 0.5).astype(float)
    assert rd.per_sample_loss("logistic", z, y).mean() == pytest.approx(log_loss(y, 1 / (1 + np.exp(-z[0, :, 0]))))
    Z = rng.normal(size=(1, 50, 4))
    c = rng.integers(0, 4, 50)
    P = np.exp(Z[0]) / np.exp(Z[0]).sum(1, keepdims=True)
    assert rd.per_sample_loss("cross_entropy", Z, c).mean() == pytest.approx(log_loss(c, P, labels=range(4)))


def test_subsamples_and_cv_folds_never_touch_the_test_set():
    X, y = rd.dataset_arrays("diabetes")
    pool, test = rd.split_pool_and_test(y, DIABETES, 3)
    assert not set(pool) & set(test) and len(pool) + len(test) == len(y)
    _, runs = rd.learning_curve(X, y, pool, test, DIABETES, lambda n: 2, 7, 3)
    assert {r["n"] for r in runs} == set(DIABETES.sizes)
    for r in runs:
        assert len(r["indices"]) == r["n"] and set(r["indices"]) <= set(pool) and not set(r["indices"]) & set(test)


def test_chosen_strengths_do_not_change_when_the_test_targets_do():
    X, y = rd.dataset_arrays("diabetes")
    pool, test = rd.split_pool_and_test(y, DIABETES, 1)
    y_garbage = y.copy()
    y_garbage[test] = np.random.default_rng(0).normal(size=len(test)) * 1e4
    _, runs = rd.learning_curve(X, y, pool, test, DIABETES, lambda n: 2, 7, 1)
    _, runs_garbage = rd.learning_curve(X, y_garbage, pool, test, DIABETES, lambda n: 2, 7, 1)
    assert [r["strength"] for r in runs] == [r["strength"] for r in runs_garbage]
    assert [r["test_loss_baseline"] for r in runs] != [r["test_loss_baseline"] for r in runs_garbage]


def test_the_baseline_is_a_candidate_so_cv_can_choose_no_penalty():
    X, y, _ = _subsample(DIABETES, 300)
    grids = rd.strength_grids(X, y, DIABETES, 5)
    cv = rd.cv_losses(X, y, DIABETES, grids, rd.folds_of(y, False, 0))
    assert {pen: len(v) for pen, v in cv.items()} == {"L2": 6, "L1": 6}
    assert cv["L2"][-1] == cv["L1"][-1]  # the same unpenalized fit closes both candidate lists


def _losses(seed: int = 0, J: int = 12, m: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample test losses of J subsamples on m points: the chosen fit lower by a factor that varies by subsample."""
    rng = np.random.default_rng(seed)
    chosen = rng.exponential(1.0, (J, m)) + rng.exponential(1.0, m)
    return chosen * rng.uniform(1.0, 3.0, (J, 1)), chosen


def test_corrected_t_is_the_log_ratio_over_its_two_standard_errors_by_hand():
    base, chosen = _losses()
    J, m = base.shape
    out = rd.corrected_t(base, chosen, 30, 300)
    r = np.log(base.mean(1) / chosen.mean(1))
    psi = (base / base.mean(1, keepdims=True) - chosen / chosen.mean(1, keepdims=True)).mean(0)
    se2 = r.var(ddof=1) * (1 / J + 30 / 270) + psi.var(ddof=1) / m
    assert out["log_ratio"] == pytest.approx(r.mean()) and out["gain"] == pytest.approx(1 - np.exp(-r.mean()))
    assert out["t"] == pytest.approx(r.mean() / np.sqrt(se2))


def test_corrected_t_shrinks_as_the_subsamples_fill_their_pool():
    base, chosen = _losses()
    ts = [rd.corrected_t(base, chosen, n, 300)["t"] for n in (10, 100, 250, 299)]
    assert all(a > b > 0 for a, b in zip(ts, ts[1:]))
    se = [rd.corrected_t(base, chosen, n, 300)["se_subsamples"] for n in (10, 299)]
    assert se[1] > 10 * se[0]


def test_more_subsamples_do_not_lift_t_past_the_overlap_floor():
    base, chosen = _losses(J=400)
    out = rd.corrected_t(base, chosen, 60, 300)
    r = np.log(base.mean(1) / chosen.mean(1))
    floor = r.mean() / np.hypot(r.std(ddof=1) * np.sqrt(60 / 240), out["se_test_points"])
    assert out["t"] < floor


def test_a_shared_test_set_counts_even_when_every_subsample_agrees():
    base, chosen = _losses(J=1, m=40)
    base, chosen = np.repeat(base, 5, 0), np.repeat(chosen, 5, 0)  # five identical subsamples: s_r = 0
    out = rd.corrected_t(base, chosen, 30, 300)
    assert out["se_subsamples"] == 0 and out["se_test_points"] > 0 and np.isfinite(out["t"])


def test_corrected_t_does_not_depend_on_the_scale_of_the_losses():
    base, chosen = _losses()
    base[0] *= 1e4  # an outlying subsample, as an ill-posed least-squares fit at n ≈ p gives
    a, b = rd.corrected_t(base, chosen, 30, 300), rd.corrected_t(1e3 * base, 1e3 * chosen, 30, 300)
    assert a["t"] == pytest.approx(b["t"]) and a["gain"] == pytest.approx(b["gain"])


def test_the_smallest_size_gets_the_most_subsamples():
    for quick in (True, False):
        for case in rd.cases_for(quick):
            counts = [rd.subsamples_at(case, n, quick) for n in case.sizes]
            assert counts[0] == max(counts) and counts[0] > min(counts)


def _curve(*points: tuple[int, float, float]) -> list[rd.SizeOutcome]:
    return [rd.SizeOutcome(*p) for p in points]


@pytest.mark.parametrize("curves, verdict", [
    ({"a": _curve((10, 5.0, 0.5), (300, 0.3, 0.01)), "b": _curve((30, 3.0, 0.3), (300, 1.0, 0.1))}, "holds"),
    ({"a": _curve((300, 0.3, 0.01), (10, 5.0, 0.5)), "b": _curve((30, 3.0, 0.3), (300, 4.0, 0.6))},
     "holds with a correction"),
    ({"a": _curve((10, 5.0, 0.5), (300, 0.3, 0.01)), "b": _curve((30, 1.9, 0.3), (300, 1.0, 0.1))}, "inconclusive"),
    ({"a": _curve((10, 5.0, 0.5), (300, -2.5, -0.01)), "b": _curve((30, 1.0, 0.3), (300, 1.0, 0.1))},
     "does not hold"),
])
def test_the_rule_gives_each_verdict_from_its_numbers(curves, verdict):
    assert rd.verdict_of_curves(curves)[0] == verdict


def test_the_rule_names_the_cases_behind_its_verdict():
    _, cases = rd.verdict_of_curves({"a": _curve((10, 5.0, 0.5), (300, -2.5, 0.6))})
    assert cases == {"worse": ["a@300"], "not_better_at_smallest": [], "gain_not_shrinking": ["a"]}


def test_quick_verdict_is_holds_for_seeds_0_to_4_from_its_numbers():
    for seed in range(5):
        r = run_claim("real-data", RunConfig(quick=True, seed=seed, figures=False))
        m = r.measurements
        assert r.verdict == "holds", (seed, r.explanation)
        assert m["min_t_at_smallest_n"] > rd.T_SIG and m["cases_worse_somewhere"] == 0
        for pen in ("L2", "L1"):
            assert m[f"diabetes_{pen}_n12_relative_gain"] > m[f"diabetes_{pen}_n300_relative_gain"]
