"""reglab.sklearn: refused penalty × rule combinations, sample_weight, MLP training on unscaled data."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification, make_regression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import reglab
from reglab.exceptions import ConvergenceWarning
from reglab.training import DivergenceError
from reglab.penalties import L1, L2, ElasticNet
from reglab.sklearn import GDClassifier, GDClassifierCV, GDRegressor, GDRegressorCV, MLPClassifier, MLPRegressor
from reglab.updates import Regularized
from tests._bounds import Risk, assert_same_outputs
from tests.sklearn.test_estimators import COMBINATIONS, REFUSED, UPDATES

# -- refused combinations: the engine's reason, raised by every estimator -------------------------------

_TERM = {"l2": lambda u: L2(0.1, update=u), "l1": lambda u: L1(0.1, update=u),
         "elasticnet": lambda u: ElasticNet(0.1, l1_ratio=0.5, update=u)}


def _engine_refusal(penalty: str, update: str) -> str | None:
    """The engine's ValueError message for this term on plain gradient descent, or None."""
    model = torch.nn.Linear(2, 1)
    try:
        Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model, [_TERM[penalty](update)])
    except ValueError as err:
        return str(err)
    return None


def test_refused_table_is_exactly_what_the_engine_refuses_on_plain_steps() -> None:
    # the estimators' default optimizer for an explicit rule is plain GD (linear) or GD for the
    # proximal / cumulative rules (MLP): the combinations refused there are the REFUSED table
    refused = {(p, u) for p in _TERM for u in UPDATES[1:] if _engine_refusal(p, u) is not None}
    assert refused == set(REFUSED)
    for (p, u), reason in REFUSED.items():
        assert reason in _engine_refusal(p, u)


@pytest.mark.parametrize(("Est", "penalty", "update"), [c for c in COMBINATIONS if c[1:] in REFUSED],
                         ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("alpha", [0.1, 0.0])
def test_estimator_raises_the_engines_error_for_a_refused_combination(Est, penalty, update, alpha) -> None:
    # for every λ (λ = 0 builds no term: the engine would not see it, the estimator asks it anyway)
    X, y = make_classification(n_samples=30, n_features=3, n_informative=2, n_redundant=0, random_state=0)
    engine_message = _engine_refusal(penalty, update)
    with pytest.raises(ValueError) as info:
        Est(penalty=penalty, update=update, alpha=alpha, max_iter=5).fit(X, y)
    # the same message, up to the term's repr (the probe's term has strength 1)
    assert str(info.value).split(": ", 1)[1] == engine_message.split(": ", 1)[1]


def test_a_non_plain_optimizer_is_refused_for_the_proximal_rule_with_the_engines_words() -> None:
    X, y = make_regression(n_samples=20, n_features=3, random_state=0)
    with pytest.raises(ValueError, match="update='proximal' needs a plain gradient step"):
        GDRegressor(penalty="l1", update="proximal", optimizer="adam").fit(X, y)
    with pytest.raises(ValueError, match="update='proximal' needs a plain gradient step"):
        MLPRegressor(penalty="l1", update="proximal", optimizer="momentum").fit(X, y)


# -- sample_weight -------------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
N = 40
X_REG, Y_REG = make_regression(n_samples=N, n_features=5, noise=3.0, random_state=1)
X_REG = StandardScaler().fit_transform(X_REG)
X_CLF, Y_CLF = make_classification(n_samples=N, n_features=5, n_informative=3, n_classes=3, random_state=1)
W_INT = RNG.integers(0, 4, size=N)
W_INT[:3] = (0, 1, 3)


def _repeat(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return X.repeat(W_INT, axis=0), y.repeat(W_INT)


def _outputs(model: object, X: np.ndarray) -> np.ndarray:
    return model.decision_function(X) if hasattr(model, "decision_function") else model.predict(X)


EXACT = [  # tol: what the derived tolerance holds each fit to (the direct solve of the first has no other use for it)
    GDRegressor(penalty="l2", alpha=0.05, tol=1e-12), GDRegressor(penalty="l1", alpha=0.5, tol=1e-10, max_iter=100_000),
    GDRegressor(penalty="elasticnet", alpha=0.5, tol=1e-10, max_iter=100_000),
    GDClassifier(penalty="l2", alpha=0.05, tol=1e-8), GDClassifier(penalty="l1", alpha=0.05, tol=1e-11, max_iter=100_000),
    GDRegressorCV(penalty="l1", n_alphas=6, cv=KFold(3), tol=1e-10, max_iter=100_000),
]
ENGINE = [  # full-batch GD: the weighted steps are the repeated-rows steps
    GDRegressor(penalty="l1", alpha=0.5, update="proximal", max_iter=200, tol=None, random_state=0),
    GDRegressor(penalty="l2", alpha=0.05, update="decoupled", max_iter=200, tol=None, random_state=0),
    GDClassifier(penalty="l1", alpha=0.01, update="cumulative", max_iter=200, tol=None, random_state=0),
    GDClassifier(penalty="elasticnet", alpha=0.01, update="gradient", max_iter=200, tol=None, random_state=0,
                 fit_intercept=False),
    MLPRegressor(hidden_layer_sizes=(6,), penalty="l1", update="proximal", max_iter=100, random_state=0),
    MLPClassifier(hidden_layer_sizes=(6,), penalty="elasticnet", update="proximal", max_iter=100, random_state=0),
]


def _data(model: object) -> tuple[np.ndarray, np.ndarray]:
    return (X_REG, Y_REG) if isinstance(model, (GDRegressor, GDRegressorCV, MLPRegressor)) else (X_CLF, Y_CLF)


def _ids(model: object) -> str:
    return repr(model).replace(" ", "").replace("\n", "")


def _assert_same_exact_fit(X: np.ndarray, a: object, fit_a: tuple, b: object, fit_b: tuple) -> None:
    """Outputs on X of two exact-solver fits of one risk, each fitted on its (X, y, sample_weight), within
    what their solvers' stopping criterion allows (tests/_bounds.py): ‖x̃ᵢ‖·(r_a + r_b)/μ."""
    rho = {"l2": 0.0, "l1": 1.0}.get(a.penalty, a.l1_ratio)
    # the CV fits: both risks at a's λ (the two grids agree to rounding; b's residual there includes the rest)
    alpha = a.alpha_ if hasattr(a, "alpha_") else a.alpha
    classes = getattr(a, "classes_", None)
    loss = "squared" if classes is None else "logistic" if len(classes) == 2 else "cross_entropy"

    def risk(Xf: np.ndarray, yf: np.ndarray, w: np.ndarray | None) -> Risk:
        if classes is not None:  # the estimator's encoding: indices into classes_ (absent classes weigh 0)
            yf = np.where(np.isin(yf, classes), np.searchsorted(classes, yf), 0)
        return Risk(Xf, yf, loss=loss, alpha=alpha, l1_ratio=rho, penalty_factor=a.penalty_factor,
                    fit_intercept=a.fit_intercept, sample_weight=w)

    def solution(m: object) -> tuple[np.ndarray, np.ndarray]:
        return (m.coef_ if classes is None else m.coef_.T), m.intercept_

    assert_same_outputs(X, _outputs(a, X), _outputs(b, X), risk(*fit_a), solution(a), risk(*fit_b), solution(b),
                        tol=a.tol, f_test=loss != "squared" and rho == 0.0)


@pytest.mark.parametrize("model", EXACT + ENGINE, ids=_ids)
def test_integer_weights_equal_repeated_rows(model) -> None:
    # the exact solvers to what their stopping criterion allows, the engine's full-batch steps to 1e-10 in float64
    X, y = _data(model)
    weighted = sklearn.clone(model).fit(X, y, sample_weight=W_INT)
    Xr, yr = _repeat(X, y)
    if isinstance(model, GDRegressorCV):  # the same folds: fold i of the repeated rows repeats fold i
        folds = list(KFold(3).split(X))
        index = np.repeat(np.arange(N), W_INT)
        weighted = sklearn.clone(model).set_params(cv=folds).fit(X, y, sample_weight=W_INT)
        model = sklearn.clone(model).set_params(cv=[(np.flatnonzero(np.isin(index, tr)), np.flatnonzero(np.isin(index, te)))
                                                    for tr, te in folds])
    repeated = sklearn.clone(model).fit(Xr, yr)
    if any(model is m for m in ENGINE):  # the same deterministic steps: stays tight
        np.testing.assert_allclose(_outputs(weighted, X), _outputs(repeated, X), rtol=1e-10, atol=1e-10)
    else:  # tolerance derived from the solvers' stopping criterion (was rtol=atol=1e-8)
        if isinstance(model, GDRegressorCV):
            assert repeated.alpha_ == pytest.approx(weighted.alpha_, rel=1e-12)
        _assert_same_exact_fit(X, weighted, (X, y, W_INT), repeated, (Xr, yr, None))


@pytest.mark.parametrize("model", EXACT[:3] + ENGINE, ids=_ids)
def test_zero_weight_equals_dropped_row_and_scaling_weights_changes_nothing(model) -> None:
    X, y = _data(model)
    w = W_INT.astype(np.float64)
    keep = w > 0
    weighted = sklearn.clone(model).fit(X, y, sample_weight=w)
    dropped = sklearn.clone(model).fit(X[keep], y[keep], sample_weight=w[keep])
    scaled = sklearn.clone(model).fit(X, y, sample_weight=1e3 * w)
    if any(model is m for m in ENGINE):  # the same deterministic steps
        np.testing.assert_allclose(_outputs(weighted, X), _outputs(dropped, X), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(_outputs(weighted, X), _outputs(scaled, X), rtol=1e-8, atol=1e-10)
    else:  # tolerance derived from the solvers' stopping criterion (was rtol=1e-8)
        _assert_same_exact_fit(X, weighted, (X, y, w), dropped, (X[keep], y[keep], w[keep]))
        _assert_same_exact_fit(X, weighted, (X, y, w), scaled, (X, y, 1e3 * w))


def test_class_whose_samples_all_weigh_zero_is_not_a_class_of_the_fit() -> None:
    w = np.where(Y_CLF == 2, 0.0, 1.0)
    # L-BFGS: tol tightened (was the default 1e-4) and the tolerance derived from it (was rtol=1e-8)
    model = GDClassifier(alpha=0.01, tol=1e-10).fit(X_CLF, Y_CLF, sample_weight=w)
    dropped = GDClassifier(alpha=0.01, tol=1e-10).fit(X_CLF[Y_CLF != 2], Y_CLF[Y_CLF != 2])
    np.testing.assert_array_equal(model.classes_, [0, 1])
    _assert_same_exact_fit(X_CLF, model, (X_CLF, Y_CLF, w), dropped, (X_CLF[Y_CLF != 2], Y_CLF[Y_CLF != 2], None))
    with pytest.raises(ValueError, match="class"):
        GDClassifier().fit(X_CLF, Y_CLF, sample_weight=(Y_CLF == 0).astype(float))


@pytest.mark.parametrize("Est", [GDRegressor, GDClassifier, MLPRegressor, MLPClassifier, GDRegressorCV,
                                 GDClassifierCV])
def test_invalid_sample_weight_raises_scikit_learns_errors(Est) -> None:
    X, y = (X_REG, Y_REG) if Est in (GDRegressor, MLPRegressor, GDRegressorCV) else (X_CLF, Y_CLF)
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        Est().fit(X, y, sample_weight=-np.ones(N))
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(3,\)"):
        Est().fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="at least one non-zero"):
        Est().fit(X, y, sample_weight=np.zeros(N))


def test_sample_weight_reaches_the_estimator_in_pipeline_and_grid_search() -> None:
    w = W_INT.astype(np.float64)
    direct = GDRegressor(penalty="l1", alpha=0.5, tol=1e-10, max_iter=100_000)
    pipe = make_pipeline(StandardScaler(), sklearn.clone(direct))
    pipe.fit(X_REG, Y_REG, gdregressor__sample_weight=w)
    Xs = StandardScaler().fit_transform(X_REG)
    np.testing.assert_allclose(pipe[-1].coef_, sklearn.clone(direct).fit(Xs, Y_REG, sample_weight=w).coef_,
                               rtol=1e-8)
    # GridSearchCV slices the weights with each training fold, and refits on all of them
    search = GridSearchCV(sklearn.clone(direct), {"alpha": [0.5, 5.0]}, cv=KFold(3)).fit(X_REG, Y_REG, sample_weight=w)
    best = sklearn.clone(direct).set_params(alpha=search.best_params_["alpha"]).fit(X_REG, Y_REG, sample_weight=w)
    np.testing.assert_allclose(search.best_estimator_.coef_, best.coef_, rtol=1e-8)
    # metadata routing, as scikit-learn routes sample_weight when it is enabled
    with sklearn.config_context(enable_metadata_routing=True):
        routed = make_pipeline(StandardScaler().set_fit_request(sample_weight=False),
                               sklearn.clone(direct).set_fit_request(sample_weight=True))
        routed.fit(X_REG, Y_REG, sample_weight=w)
        cv_routed = GridSearchCV(GDRegressorCV(n_alphas=5, cv=3).set_fit_request(sample_weight=True)
                                 .set_score_request(sample_weight=True),
                                 {"penalty": ["l1", "l2"]}, cv=KFold(3)).fit(X_REG, Y_REG, sample_weight=w)
    np.testing.assert_allclose(routed[-1].coef_, pipe[-1].coef_, rtol=1e-12)
    assert cv_routed.best_params_["penalty"] in ("l1", "l2")


def test_cv_weights_enter_the_path_fits_and_the_held_out_losses() -> None:
    w = W_INT.astype(np.float64) + 0.5
    folds = list(KFold(4).split(X_REG))
    cv = GDRegressorCV(penalty="l1", n_alphas=5, cv=folds, tol=1e-10, max_iter=100_000).fit(X_REG, Y_REG,
                                                                                          sample_weight=w)
    from reglab.solvers import solve_linear

    for i, (tr, te) in enumerate(folds):
        for j, lam in enumerate(cv.alphas_):
            sol = solve_linear(X_REG[tr], Y_REG[tr], loss="squared", alpha=lam, l1_ratio=1.0, tol=1e-10,
                               max_iter=100_000, sample_weight=w[tr])
            resid = Y_REG[te] - X_REG[te] @ sol.coef[:, 0] - sol.intercept
            assert cv.cv_loss_path_[j, i] == pytest.approx(np.average(resid**2, weights=w[te]), rel=1e-7)


# -- the MLP on unscaled data: target standardization, the plain step's default size, divergence ------


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    return load_diabetes(return_X_y=True)  # y from 25 to 346, mean 152: unscaled


@pytest.mark.parametrize("update", ["proximal", "cumulative"])
def test_mlp_plain_gd_converges_on_unscaled_diabetes_targets(update, diabetes) -> None:
    X, y = diabetes
    penalty = "l1" if update == "cumulative" else "elasticnet"
    model = MLPRegressor(penalty=penalty, update=update, max_iter=300, random_state=0, tol=None).fit(X, y)
    # a linear model reaches R² 0.52 here; the MLP before target standardization ended at 0.0
    # (its weights blew up in the first steps and every ReLU died: a constant prediction)
    assert model.score(X, y) > 0.4
    assert np.all(np.isfinite(np.concatenate([c.ravel() for c in model.coefs_])))
    unscaled = MLPRegressor(penalty=penalty, update=update, max_iter=300, random_state=0, tol=None,
                            standardize_input=False, standardize_target=False).fit(X, y)
    assert unscaled.score(X, y) < 0.05  # what the user got before


def test_mlp_predictions_are_in_the_units_of_y(diabetes) -> None:
    X, y = diabetes
    model = MLPRegressor(max_iter=200, random_state=0).fit(X, y)
    scaled = MLPRegressor(max_iter=200, random_state=0).fit(X, (y - y.mean()) / y.std())
    # the same network trained on the same standardized problem, mapped back to y's units
    np.testing.assert_allclose(model.predict(X), scaled.predict(X) * y.std() + y.mean(), rtol=1e-9)
    last = model.model_.n_layers
    assert model.coefs_[-1].shape == (getattr(model.model_, f"fc{last}").in_features, 1)


def test_mlp_warm_start_continues_in_standardized_units(diabetes) -> None:
    X, y = diabetes
    warm = MLPRegressor(penalty="l1", update="proximal", max_iter=50, warm_start=True, random_state=0)
    warm.fit(X, y)
    warm.fit(X, y)
    cold = MLPRegressor(penalty="l1", update="proximal", max_iter=100, random_state=0).fit(X, y)
    np.testing.assert_allclose(warm.predict(X), cold.predict(X), rtol=1e-9)


def test_mlp_auto_lr_shrinks_with_the_input_scale_and_trains_on_features_around_100() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(loc=100.0, size=(100, 2))
    y = X[:, 0] - 100.0 + 0.1 * rng.normal(size=100)
    model = MLPRegressor(penalty="l1", update="proximal", hidden_layer_sizes=(8,), max_iter=200, random_state=0,
                         record=True, standardize_input=False).fit(X, y)
    objective = model._fit_result.history.objective
    assert np.all(np.isfinite(objective)) and objective[-1] < objective[0]
    Xa = np.hstack([X, np.ones((100, 1))])
    assert model._fit_result.lr == pytest.approx(0.1 / np.linalg.eigvalsh(Xa.T @ Xa / 100)[-1], rel=1e-10)
    # standardized inputs keep the step of 0.1
    Xs = StandardScaler().fit_transform(X)
    standard = MLPRegressor(update="proximal", max_iter=1, record=True).fit(Xs, y)
    assert standard._fit_result.lr == pytest.approx(0.1 / max(1.0, np.linalg.eigvalsh(
        np.hstack([Xs, np.ones((100, 1))]).T @ np.hstack([Xs, np.ones((100, 1))]) / 100)[-1]), rel=1e-10)


def test_a_genuinely_diverging_lr_gives_reglabs_divergence_error(diabetes) -> None:
    X, y = diabetes
    with pytest.raises(DivergenceError, match=r"Training diverged at step \d+ with lr=10: .* Lower the learning rate"):
        MLPRegressor(penalty="elasticnet", update="proximal", lr=10.0, random_state=0).fit(X, y)
    assert issubclass(DivergenceError, RuntimeError) and reglab.DivergenceError is DivergenceError


# -- the MLP on unscaled inputs: standardization folded into the first layer, the null-model check --


@pytest.fixture(scope="module")
def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    return load_breast_cancer(return_X_y=True)  # features from 1e-3 to 4e3: unscaled


@pytest.mark.parametrize("penalty", ["l1", "l2", None])
def test_mlp_classifier_on_unscaled_breast_cancer_beats_the_majority_class(penalty, breast_cancer) -> None:
    X, y = breast_cancer
    majority = max(y.mean(), 1 - y.mean())
    # before: penalty="l1" trained on raw X with lr = 0.1 / λ_max(X̃ᵀX̃/n) ≈ 1e-7 and ended at 0.24-0.63
    model = MLPClassifier(penalty=penalty, random_state=0).fit(X, y)
    assert model.score(X, y) > majority + 0.25


def test_the_l1_route_lr_is_set_on_the_standardized_inputs(breast_cancer) -> None:
    X, y = breast_cancer
    model = MLPClassifier(penalty="l1", max_iter=1, record=True, random_state=0).fit(X, y)
    Xs = StandardScaler().fit_transform(X)
    Xa = np.hstack([Xs, np.ones((len(X), 1))])
    assert model._fit_result.lr == pytest.approx(0.1 / max(1.0, np.linalg.eigvalsh(Xa.T @ Xa / len(X))[-1]),
                                                 rel=1e-8)
    raw = MLPClassifier(penalty="l1", max_iter=1, record=True, random_state=0, standardize_input=False)
    with pytest.warns(ConvergenceWarning):  # one step of lr ~1e-7 cannot learn
        raw.fit(X, y)
    assert raw._fit_result.lr < 1e-6  # the root of the failure: the step set on raw X's curvature


def test_without_standardization_a_model_below_the_majority_class_warns(breast_cancer) -> None:
    X, y = breast_cancer
    model = MLPClassifier(penalty="l1", random_state=0, standardize_input=False)
    with pytest.warns(ConvergenceWarning, match=r"training accuracy \(0\.\d+\) is worse than the null model's"):
        model.fit(X, y)
    assert model.score(X, y) < max(y.mean(), 1 - y.mean())  # the warning is true


def test_a_regressor_worse_than_the_mean_warns() -> None:
    # constructed: a ReLU network whose every unit is dead from the start (inputs all positive, the
    # first layer's weights pushed negative by a huge lr step) predicts a constant off the mean
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] + 5.0
    model = MLPRegressor(optimizer="gd", update="gradient", lr=1e-12, max_iter=1, standardize_target=False,
                         random_state=0)
    with pytest.warns(ConvergenceWarning, match="training mean squared error .* worse than the null model's"):
        model.fit(X, y)
    assert model.score(X, y) < 0


def test_input_standardization_is_folded_into_the_first_layer(breast_cancer) -> None:
    X, y = breast_cancer
    model = MLPClassifier(penalty="l1", max_iter=50, random_state=0).fit(X, y)
    Xs = StandardScaler().fit_transform(X)
    scaled = MLPClassifier(penalty="l1", max_iter=50, random_state=0, standardize_input=False).fit(Xs, y)
    # the same network trained on the same standardized problem, reading raw X
    np.testing.assert_allclose(model.predict_proba(X), scaled.predict_proba(Xs), rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(model.coefs_[0] == 0, scaled.coefs_[0] == 0)  # exact zeros stay zeros
    warm = MLPClassifier(penalty="l1", max_iter=25, random_state=0, warm_start=True)
    warm.fit(X, y)
    warm.fit(X, y)
    np.testing.assert_allclose(warm.predict_proba(X), model.predict_proba(X), rtol=1e-7, atol=1e-12)
