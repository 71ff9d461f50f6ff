"""scikit-learn estimators built on :func:`reglab.fit`, the regularization path and cross-validated λ.

What they add to scikit-learn's linear models: a choice of update rule (``update=``), per-feature
penalty factors (``penalty_factor=``, glmnet's ``penalty.factor``; 0 leaves a feature unpenalized),
a recorded training trajectory with its diagnosis (``record=True``, ``trajectory_``, ``diagnose()``),
L1 and elastic net for a small MLP, and the one-standard-error choice of λ by cross-validation.

Objective (reglab's convention, see ``docs/design.md``): mean data loss + λ·Σ_j f_j·(ρ|w_j| +
(1 − ρ)w_j²), squared loss (y − f)², logistic / softmax negative log-likelihood. The intercept is
never penalized. :func:`reglab.penalties.sklearn_params` maps λ to scikit-learn's parameters.

Solvers. With ``optimizer="auto"`` and ``update="auto"`` (the defaults) and ``record=False`` the
linear estimators reach the exact optimum with the fastest correct method (a direct solve for
ridge, L-BFGS for smooth penalties, for an L1 part the active-set method (least squares) or
proximal Newton (binary logistic), FISTA with adaptive restart otherwise; see
:mod:`reglab.solvers.linear`). Naming an ``optimizer`` or an ``update`` rule, setting ``batch_size`` or
``record=True`` trains through :func:`reglab.fit` with exactly that optimizer and rule.

Examples
--------
>>> from sklearn.datasets import load_diabetes
>>> from reglab.sklearn import GDRegressor
>>> X, y = load_diabetes(return_X_y=True)
>>> model = GDRegressor(penalty="l1", alpha=1.0).fit(X, y)
>>> int((model.coef_ == 0).sum()) > 0
True
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from typing import Any, Final

import numpy as np
import scipy.sparse
import torch
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from reglab._checks import check_choice, check_integer, check_real, check_sample_weight
from reglab.exceptions import ConvergenceWarning
from reglab.losses import TASK_OF_LOSS
from reglab.solvers import alpha_grid, solve_linear
from reglab.solvers.design import encode_targets, loss_and_grad_z, threads_for
from reglab.solvers.linear import penalty_rho, check_penalty_factor, path_solutions

__all__ = ["GDClassifier", "GDClassifierCV", "GDRegressor", "GDRegressorCV", "MLPClassifier", "MLPRegressor"]


PENALTIES: Final = ("l2", "l1", "elasticnet", None)


UPDATES: Final = ("auto", "gradient", "proximal", "decoupled", "cumulative")


def _seed(random_state: Any) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# the sparse formats the linear estimators take, as scikit-learn's Lasso / Ridge / LogisticRegression do
SPARSE_FORMATS: Final = ("csr", "csc")


def _float64(X: Any) -> Any:
    """A validated X as float64: a scipy sparse matrix stays sparse (never densified), an array as an ndarray."""
    return X.astype(np.float64) if scipy.sparse.issparse(X) else np.asarray(X, dtype=np.float64)


def _as_writable(X: np.ndarray) -> np.ndarray:
    # torch.as_tensor warns on read-only arrays; a copy is made only when needed
    return X if X.flags.writeable else X.copy()


def _torch_X(X: Any) -> torch.Tensor:
    """X as a torch tensor: a scipy sparse matrix as a CSR tensor (never densified), an array as is."""
    from reglab.data import csr_from_scipy

    return csr_from_scipy(X) if scipy.sparse.issparse(X) else torch.as_tensor(_as_writable(np.asarray(X)))


def _sample_weight(sample_weight: Any, X: np.ndarray) -> np.ndarray | None:
    """Validated weights of shape (n_samples,) (scikit-learn's checks and words), or None."""
    if sample_weight is None:
        return None
    return check_sample_weight(sample_weight, X.shape[0])


def _terms(penalty: str | None, alpha: float, rho: float, update: str, factor_masks: list[tuple[float, dict]]
           ) -> list[Any]:
    """reglab terms: one per distinct non-zero penalty factor, each on its element masks.

    The penalty's class is its row of the registry (:data:`reglab.penalties.KINDS`); ``rho`` is given to
    the kinds that take ``l1_ratio``.
    """
    from reglab.penalties import KINDS

    if penalty is None or alpha == 0.0:
        return []
    row = KINDS[penalty]
    extra = {"l1_ratio": rho} if any(f.name == "l1_ratio" for f in row.fields) else {}
    return [row.cls(alpha * f, on=on, update=update, **extra) for f, on in factor_masks if f != 0.0]


def _model_outputs(model: torch.nn.Module) -> int:
    """Outputs of the last linear layer of a LinearModel or MLP."""
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1].out_features


@functools.lru_cache(maxsize=64)  # only accepted combinations are cached: a refusal raises every time
def _check_rule_with_engine(penalty: str | None, rho: float, update: str, optimizer: str) -> None:
    """Refuse a penalty × update rule × optimizer combination as the engine does, with its ValueError.

    The engine (:class:`reglab.Regularized`) checks each term when it wraps the optimizer; asking it
    here, on a one-weight probe, refuses a combination before any data work and for every λ (λ = 0
    and all-zero penalty factors build no term, so the engine would not see it).
    """
    if penalty is None:
        return
    from reglab.training import build_optimizer
    from reglab.updates import Regularized

    probe = torch.nn.Linear(1, 1)
    (term,) = _terms(penalty, 1.0, rho, update, [(1.0, None)])
    Regularized(build_optimizer(optimizer, list(probe.parameters()), 1.0, 0.9), probe, [term])


def _factor_masks(factor: np.ndarray, first: str, first_shape: tuple[int, ...], others: list[str]
                  ) -> list[tuple[float, Any]]:
    """``[(f, on), ...]``: element masks of ``first`` (columns = features) grouped by factor value.

    Other weight tensors (``others``, an MLP's later layers) get factor 1.
    """
    if np.all(factor == 1.0):
        return [(1.0, [first, *others])]
    groups: list[tuple[float, Any]] = []
    for f in np.unique(factor):
        cols = torch.as_tensor(factor == f)
        groups.append((float(f), {first: cols.expand(first_shape).clone()}))
    if others:
        groups.append((1.0, list(others)))
    return groups


class _BaseGD(BaseEstimator):
    """Parameters, validation and the two training routes shared by every estimator (abstract)."""


    def _validate_common(self) -> tuple[float, float, int, float | None]:
        check_choice(self.penalty, "penalty", PENALTIES)
        check_choice(self.update, "update", UPDATES)
        alpha = check_real(self.alpha, "alpha")
        rho = penalty_rho(self.penalty, self.l1_ratio)
        max_iter = check_integer(self.max_iter, "max_iter", 1)
        tol = None if self.tol is None else check_real(self.tol, "tol")
        if self.batch_size is not None:
            check_integer(self.batch_size, "batch_size", 1)
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be a bool; got {self.fit_intercept!r}.")
        if not (isinstance(self.lr, str) and self.lr == "auto"):
            check_real(self.lr, "lr", low_open=True)
        return alpha, rho, max_iter, tol

    def _resolved_update(self) -> str:
        if self.update != "auto":
            return self.update
        return "proximal" if self.penalty in ("l1", "elasticnet") else "gradient"

    def _fit_engine(self, model: torch.nn.Module, X: np.ndarray, y: np.ndarray, loss: str, terms: list[Any],
                    optimizer: str, lr: float | str, max_iter: int, tol: float | None,
                    sample_weight: np.ndarray | None) -> Any:
        from reglab.data import Dataset
        from reglab.training import fit

        # X and y are validated and y encoded: the Dataset is built as is, not validated again
        task = TASK_OF_LOSS[loss]
        data = Dataset(X=_torch_X(X), y=torch.as_tensor(_as_writable(y)), task=task,
                       classes=np.arange(_model_outputs(model)) if task == "multiclass" else None)
        # without tol or record the history only watches for divergence: ten looks are enough (a
        # non-finite run is caught at the next look, and at the end), and each look is a host sync
        log_every = None if tol is not None or self.record else max(1, max_iter // 10)
        width = max([X.shape[1], *(m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))])
        with threads_for(X.shape[0] if self.batch_size is None else min(self.batch_size, X.shape[0]), width):
            result = fit(model, data, loss=loss, penalties=terms, optimizer=optimizer, lr=lr,
                         steps=max_iter, batch_size=self.batch_size, seed=_seed(self.random_state),
                         record=bool(self.record), tol=tol, sample_weight=sample_weight, log_every=log_every)
        if tol is not None and result.status == "max_steps":
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={max_iter} steps (tol={tol:g}); "
                "increase max_iter, or use optimizer='auto' for the exact solvers.",
                ConvergenceWarning, stacklevel=3,
            )
        self.n_iter_ = int(result.steps_run)
        self._keep_record(result)
        return result

    def _keep_record(self, result: Any) -> None:
        if self.record:
            self.trajectory_ = result.trajectory
            self._fit_result = result
        else:
            self.__dict__.pop("trajectory_", None)
            self.__dict__.pop("_fit_result", None)

    def diagnose(self) -> Any:
        """What each recorded weight did while training (``reglab.diagnose`` of the fit).

        Needs ``record=True`` at fit time (and the same Python process: the record is not pickled).

        Returns
        -------
        The diagnosis object of :func:`reglab.diagnose`.
        """
        check_is_fitted(self)
        result = self.__dict__.get("_fit_result")
        if result is None:
            raise ValueError(
                f"{type(self).__name__}.diagnose() needs the training record: fit with record=True "
                "(a record does not survive pickling)."
            )
        from reglab.observe import diagnose

        return diagnose(result)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state = dict(state)
        state.pop("_fit_result", None)
        return state


class _LinearGD(_BaseGD):
    """Linear models (abstract): regression with squared loss, classification with logistic / softmax."""

    def __init__(
        self,
        penalty: str | None = "l2",
        alpha: float = 1e-3,
        *,
        l1_ratio: float = 0.5,
        update: str = "auto",
        optimizer: str = "auto",
        lr: float | str = "auto",
        max_iter: int = 1000,
        tol: float | None = 1e-4,
        batch_size: int | None = None,
        fit_intercept: bool = True,
        penalty_factor: Any = None,
        warm_start: bool = False,
        random_state: Any = None,
        record: bool = False,
    ) -> None:
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.update = update
        self.optimizer = optimizer
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.fit_intercept = fit_intercept
        self.penalty_factor = penalty_factor
        self.warm_start = warm_start
        self.random_state = random_state
        self.record = record

    def _uses_engine(self) -> bool:
        return (self.optimizer != "auto" or self.update != "auto" or bool(self.record)
                or self.batch_size is not None)

    def _fit_linear(self, X: np.ndarray, y: np.ndarray, loss: str, n_outputs: int,
                    sample_weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Train; returns W of shape (n_features, n_outputs) and b of shape (n_outputs,)."""
        alpha, rho, max_iter, tol = self._validate_common()
        if self.optimizer not in ("auto", "gd", "sgd", "momentum", "nesterov", "adam", "lbfgs"):
            raise ValueError(
                f"optimizer must be 'auto' or one of 'gd', 'sgd', 'momentum', 'nesterov', 'adam', 'lbfgs'; "
                f"got {self.optimizer!r}."
            )
        p = X.shape[1]
        factor = check_penalty_factor(self.penalty_factor, p)
        warm = self.warm_start and hasattr(self, "_coef_full") and self._coef_full.shape == (p, n_outputs)
        alpha_eff = alpha if self.penalty is not None else 0.0
        if not self._uses_engine():
            sol = solve_linear(X, y, loss=loss, alpha=alpha_eff, l1_ratio=rho, penalty_factor=factor,
                               fit_intercept=self.fit_intercept, tol=1e-4 if tol is None else tol,
                               max_iter=max_iter, coef_init=self._coef_full if warm else None,
                               intercept_init=self._intercept_full if warm else None, sample_weight=sample_weight)
            if not sol.converged and sol.n_iter < max_iter:  # at the cap, solve_linear has warned already
                warnings.warn(
                    f"{type(self).__name__} ({sol.solver}) stopped before tol={tol} at a relative optimality of "
                    f"{float(sol.optimality or float('nan')):.3g} (the floating-point floor of this problem); use a larger tol.",
                    ConvergenceWarning, stacklevel=3,
                )
            self.n_iter_ = int(sol.n_iter)
            self._keep_record(None)
            return sol.coef, sol.intercept

        from reglab.models import LinearModel

        optimizer = self.optimizer
        if optimizer == "auto":
            optimizer = "gd" if self.batch_size is None else "sgd"
        _check_rule_with_engine(self.penalty, rho, self._resolved_update(), optimizer)
        kind = {"squared": "linear", "logistic": "logistic", "cross_entropy": "softmax"}[loss]
        gen = torch.Generator().manual_seed(_seed(self.random_state))
        model = LinearModel(p, n_outputs, kind, bool(self.fit_intercept), generator=gen, dtype=torch.float64)
        if warm:
            with torch.no_grad():
                model.linear.weight.copy_(torch.as_tensor(self._coef_full.T))
                if self.fit_intercept:
                    model.linear.bias.copy_(torch.as_tensor(self._intercept_full))
        masks = _factor_masks(factor, "linear.weight", (n_outputs, p), [])
        terms = _terms(self.penalty, alpha, rho, self._resolved_update(), masks)
        self._fit_engine(model, X, y, loss, terms, optimizer, self.lr, max_iter, tol, sample_weight)
        W = model.linear.weight.detach().numpy().T.copy()
        b = model.linear.bias.detach().numpy().copy() if self.fit_intercept else np.zeros(n_outputs)
        return W, b

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class GDRegressor(RegressorMixin, _LinearGD):
    """Linear regression under an L2, L1 or elastic-net penalty, trained by reglab.

    Minimises ``mean (y − Xw − b)² + λ·Σ_j f_j·(ρ|w_j| + (1 − ρ)w_j²)``.

    Parameters
    ----------
    penalty : {"l2", "l1", "elasticnet", None}
    alpha : float
        λ ≥ 0 in reglab's convention (``Ridge(alpha=n·λ)``, ``Lasso(alpha=λ/2)``).
    l1_ratio : float in [0, 1]
        ρ for ``elasticnet``.
    update : {"auto", "gradient", "proximal", "decoupled", "cumulative"}
        How the penalty enters each step (see :class:`reglab.Regularized`). ``"auto"`` with
        ``optimizer="auto"`` uses the exact solvers.
    optimizer : {"auto", "gd", "sgd", "momentum", "nesterov", "adam", "lbfgs"}
        ``"auto"``: the exact solvers (direct / L-BFGS / active set / proximal Newton / FISTA), or
        ``"gd"`` when the engine is used.
    lr : float or "auto"
        Learning rate for the engine; ``"auto"`` is 1/L.
    max_iter : int
        Iterations of the exact solver, or optimizer steps of the engine.
    tol : float or None
        Stop when the optimality measure falls below ``tol`` times its initial value.
    batch_size : int, optional
        Minibatches (implies the engine with ``optimizer="sgd"`` unless another is named).
    fit_intercept : bool
        Fit an intercept (never penalized).
    penalty_factor : array-like of shape (n_features,), optional
        Per-feature multipliers of λ; 0 leaves a feature unpenalized.
    warm_start : bool
        Start from the previous fit's coefficients.
    random_state : int, RandomState or None
        Seeds initialisation and minibatch order for the engine.
    record : bool
        Record weight trajectories (``trajectory_``; ``diagnose()``).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names.
    trajectory_ : reglab.observe.Trajectory
        Only when ``record=True``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]]); y = X @ [1.0, 2.0] + 3.0
    >>> model = GDRegressor(penalty=None).fit(X, y)
    >>> np.round(model.coef_, 6).tolist(), round(float(model.intercept_), 6)
    ([1.0, 2.0], 3.0)
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GDRegressor:
        """Fit on X of shape (n_samples, n_features) and y of shape (n_samples,).

        ``sample_weight`` of shape (n_samples,): the data loss is the weighted mean Σwᵢℓᵢ / Σwᵢ
        (integer weights equal repeated rows; scaling every weight changes nothing).
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS, y_numeric=True)
        X = _float64(X)
        y = np.asarray(y, dtype=np.float64)
        W, b = self._fit_linear(X, y, "squared", 1, _sample_weight(sample_weight, X))
        self._coef_full, self._intercept_full = W, b
        self.coef_ = W[:, 0].copy()
        self.intercept_ = float(b[0])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS, reset=False)
        return _float64(X) @ self.coef_ + self.intercept_


class _ClassifierOutputs:
    """decision_function / predict / predict_proba from ``coef_``, ``intercept_`` and ``classes_``."""

    def _raw(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: shape (n_samples,) for two classes, (n_samples, n_classes) otherwise."""
        Z = self._raw(X)
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of shape (n_samples, n_classes)."""
        Z = self._raw(X)
        if Z.shape[1] == 1:
            p = expit(Z[:, 0])
            return np.column_stack([1.0 - p, p])
        return softmax(Z, axis=1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels of shape (n_samples,)."""
        Z = self._raw(X)
        idx = (Z[:, 0] > 0).astype(np.int64) if Z.shape[1] == 1 else Z.argmax(1)
        return self.classes_[idx]


def _encode_classes(estimator: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
                    ) -> tuple[np.ndarray, str, int]:
    """``classes_`` (the labels of positive total weight), y as indices into them, loss, outputs.

    A class whose samples all weigh 0 is not a class of the fit (as if its rows were dropped);
    those rows get index 0, which their zero weight makes irrelevant.
    """
    check_classification_targets(y)
    classes, y_enc = np.unique(y, return_inverse=True)
    if sample_weight is not None:
        present = np.bincount(y_enc, weights=sample_weight, minlength=len(classes)) > 0
        if not present.all():
            classes = classes[present]
            y_enc = np.maximum(np.cumsum(present)[y_enc] - 1, 0)
    if len(classes) < 2:
        raise ValueError(
            f"This solver needs samples of at least 2 classes in the data, but the data contains only one "
            f"class: {classes[0]!r}."
        )
    estimator.classes_ = classes
    if len(classes) == 2:
        return y_enc.astype(np.float64), "logistic", 1
    return y_enc.astype(np.int64), "cross_entropy", len(classes)


class GDClassifier(_ClassifierOutputs, ClassifierMixin, _LinearGD):
    """Logistic regression (two classes) or softmax regression (more) under reglab's penalties.

    Minimises ``mean NLL + λ·Σ_j f_j·(ρ|w_j| + (1 − ρ)w_j²)`` (summed over classes for softmax);
    ``LogisticRegression(C=1/(n·λ·(2 − ρ)), l1_ratio=ρ/(2 − ρ))`` has the same optimum.
    Parameters as :class:`GDRegressor`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_, n_features_in_, feature_names_in_, trajectory_ : as :class:`GDRegressor`

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = GDClassifier(penalty="l1", alpha=0.01).fit(X, y)
    >>> clf.coef_.shape, clf.score(X, y) > 0.9
    ((3, 4), True)
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GDClassifier:
        """Fit on X of shape (n_samples, n_features) and labels y of shape (n_samples,).

        ``sample_weight`` as :meth:`GDRegressor.fit`; a class whose samples all weigh 0 is left out
        of ``classes_``.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS)
        X = _float64(X)
        sw = _sample_weight(sample_weight, X)
        y_enc, loss, k = _encode_classes(self, y, sw)
        W, b = self._fit_linear(X, y_enc, loss, k, sw)
        self._coef_full, self._intercept_full = W, b
        self.coef_ = W.T.copy()
        self.intercept_ = b.copy()
        return self

    def _raw(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS, reset=False)
        return _float64(X) @ self.coef_.T + self.intercept_


class _MLPGD(_BaseGD):
    """A small MLP trained by :func:`reglab.fit` (abstract)."""

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (32,),
        activation: str = "relu",
        penalty: str | None = "l2",
        alpha: float = 1e-4,
        *,
        l1_ratio: float = 0.5,
        update: str = "auto",
        optimizer: str = "auto",
        lr: float | str = "auto",
        max_iter: int = 500,
        tol: float | None = None,
        batch_size: int | None = None,
        penalty_factor: Any = None,
        warm_start: bool = False,
        random_state: Any = None,
        record: bool = False,
        standardize_input: bool = True,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.update = update
        self.optimizer = optimizer
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.penalty_factor = penalty_factor
        self.warm_start = warm_start
        self.random_state = random_state
        self.record = record
        self.standardize_input = standardize_input

    fit_intercept: Final = True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR / CSC X, kept sparse (as scikit-learn's MLPs take it)
        return tags

    def _resolved_optimizer(self, update: str) -> str:
        if self.optimizer != "auto":
            return self.optimizer
        if update in ("proximal", "cumulative"):
            return "gd" if self.batch_size is None else "sgd"
        return "adam"

    def _fit_mlp(self, X: np.ndarray, y: np.ndarray, loss: str, n_outputs: int,
                 sample_weight: np.ndarray | None, target_shift: float = 0.0, target_scale: float = 1.0) -> None:
        """Train on targets y (already shifted and scaled); fold ``y·scale + shift`` into the last layer.

        With ``standardize_input`` the network trains on (X − mean) / std and the input scaling is
        folded into the first layer afterwards, so ``coefs_`` and ``predict`` are in X's units.
        """
        from reglab.models import MLP

        alpha, rho, max_iter, tol = self._validate_common()
        if not isinstance(self.standardize_input, (bool, np.bool_)):
            raise TypeError(f"standardize_input must be a bool; got {self.standardize_input!r}.")
        x_shift, x_scale = _input_scaling(X, sample_weight, bool(self.standardize_input))
        centring = None
        if scipy.sparse.issparse(X):
            # X / std stays sparse; the centring is done in the first layer's output, where it is
            # exact: fc1((X − m)/s) = fc1(X/s) − W·(m/s), so the network trains as on dense X
            X = (X @ scipy.sparse.diags(1.0 / x_scale)).tocsr()
            centring = torch.as_tensor(x_shift / x_scale, dtype=torch.float64) if x_shift.any() else None
        else:
            X = (X - x_shift) / x_scale
        hidden = self.hidden_layer_sizes
        hidden = (hidden,) if isinstance(hidden, numbers.Integral) else tuple(hidden)
        for h in hidden:
            check_integer(h, "hidden_layer_sizes entries", 1)
        p = X.shape[1]
        factor = check_penalty_factor(self.penalty_factor, p)
        update = self._resolved_update()
        optimizer = self._resolved_optimizer(update)
        _check_rule_with_engine(self.penalty, rho, update, optimizer)
        lr = self.lr if self.lr != "auto" else _mlp_auto_lr(X, sample_weight, optimizer, centring)
        reuse = (self.warm_start and hasattr(self, "model_")
                 and self.model_.fc1.in_features == p and self._n_outputs == n_outputs)
        if reuse:
            model = self.model_
            _fold_target_scaling(model, *self._target_scaling, inverse=True)
            _fold_input_scaling(model, *self._input_scaling, inverse=True)
        else:
            gen = torch.Generator().manual_seed(_seed(self.random_state))
            model = MLP(p, hidden, n_outputs, self.activation, generator=gen, dtype=torch.float64)
        weights = [f"fc{i}.weight" for i in range(2, model.n_layers + 1)]
        masks = _factor_masks(factor, "fc1.weight", (model.fc1.out_features, p), weights)
        terms = _terms(self.penalty, alpha, rho, update, masks)
        hook = None if centring is None else model.fc1.register_forward_hook(
            lambda layer, inputs, out: out - layer.weight @ centring)
        try:
            self._fit_engine(model, X, y, loss, terms, optimizer, lr, max_iter, tol, sample_weight)
            self._warn_if_worse_than_null(model, X, y, loss, sample_weight)
        finally:  # the model keeps predicting in X's and y's units, even after a DivergenceError
            if hook is not None:
                hook.remove()
            _fold_input_scaling(model, x_shift, x_scale)
            _fold_target_scaling(model, target_shift, target_scale)
            self._input_scaling = (x_shift, x_scale)
            self._target_scaling = (target_shift, target_scale)
        self.model_ = model
        self._n_outputs = n_outputs
        layers = [getattr(model, f"fc{i}") for i in range(1, model.n_layers + 1)]
        self.coefs_ = [layer.weight.detach().numpy().T.copy() for layer in layers]
        self.intercepts_ = [layer.bias.detach().numpy().copy() for layer in layers]

    def _warn_if_worse_than_null(self, model: torch.nn.Module, X: np.ndarray, y: np.ndarray, loss: str,
                                 sample_weight: np.ndarray | None) -> None:
        """A ConvergenceWarning when the trained network fits the training data worse than the null model.

        The null model predicts without looking at X: the (weighted) majority class for a
        classifier (compared on training accuracy), the (weighted) mean of y for a regressor
        (compared on training mean squared error). A network that ends below it has not learnt.
        """
        with torch.no_grad():
            out = model(_torch_X(X)).numpy()
        w = np.ones(len(y)) if sample_weight is None else sample_weight
        if loss == "squared":
            mse = float(np.average((y - out[:, 0]) ** 2, weights=w))
            null = float(np.average((y - np.average(y, weights=w)) ** 2, weights=w))
            if mse > null:
                what, got, ref = "training mean squared error", mse, null
            else:
                return
        else:
            labels = (out[:, 0] > 0).astype(np.int64) if loss == "logistic" else out.argmax(axis=1)
            y_int = y.astype(np.int64)
            acc = float(np.average(labels == y_int, weights=w))
            null = float(np.bincount(y_int, weights=w).max() / w.sum())
            if acc < null:
                what, got, ref = "training accuracy", acc, null
            else:
                return
        warnings.warn(
            f"{type(self).__name__}: the trained network's {what} ({got:.4g}) is worse than the null model's "
            f"({ref:.4g}, predicting without X): training has not learnt. Increase max_iter, set lr, lower "
            "alpha, or keep standardize_input=True.",
            ConvergenceWarning, stacklevel=4,
        )

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS, reset=False)
        with torch.no_grad():
            return self.model_(_torch_X(_float64(X))).numpy()


def _input_scaling(X: np.ndarray, sample_weight: np.ndarray | None, standardize: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of X's columns, weighted by ``sample_weight`` (zeros and ones without ``standardize``).

    A constant column (std 0) keeps the scale 1, as :class:`sklearn.preprocessing.StandardScaler` does.
    A sparse X's mean and std are computed without densifying it.
    """
    p = X.shape[1]
    if not standardize:
        return np.zeros(p), np.ones(p)
    if scipy.sparse.issparse(X):
        from sklearn.utils.sparsefuncs import mean_variance_axis

        mean, var = mean_variance_axis(X.tocsr(), axis=0, weights=sample_weight)
        std = np.sqrt(var)
    else:
        mean = np.average(X, axis=0, weights=sample_weight)
        std = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=sample_weight))
    return mean, np.where((std > 0) & np.isfinite(std), std, 1.0)


def _fold_input_scaling(model: torch.nn.Module, shift: np.ndarray, scale: np.ndarray, inverse: bool = False) -> None:
    """Make the first layer read raw X, ``fc1((X − shift) / scale)`` (``inverse``: undo it) in place."""
    first = model.fc1
    s = torch.as_tensor(scale, dtype=first.weight.dtype)
    m = torch.as_tensor(shift, dtype=first.weight.dtype)
    with torch.no_grad():
        if inverse:
            first.bias.add_(first.weight @ m)
            first.weight.mul_(s)
        else:
            first.weight.div_(s)
            first.bias.sub_(first.weight @ m)


def _mlp_auto_lr(X: Any, sample_weight: np.ndarray | None, optimizer: str,
                 centring: torch.Tensor | None = None) -> float:
    """lr="auto" for an MLP: 0.01 for Adam; 0.1 / max(1, λ_max(X̃ᵀX̃/n)) for the other optimizers.

    A plain step's stable size falls as the inputs' scale grows (for a linear model it is 1/L,
    L ∝ λ_max(X̃ᵀX̃/n), X̃ = [X, 1]); 0.1 is the step for inputs of unit scale, and X of
    larger scale (say features around 100, λ_max ~ 10⁴) gets a step shrunk in proportion rather
    than weights that blow up in the first steps. Adam's steps are of size ~lr whatever the scale.
    ``centring`` c: X is sparse and the network sees X − c (see ``_fit_mlp``); λ_max is then that of
    the centred design, as on the dense route.
    """
    if optimizer == "adam":
        return 0.01
    if centring is not None:
        return 0.1 / max(1.0, _centred_top_eigenvalue(X, centring.numpy(), sample_weight))
    from reglab.solvers import top_eigenvalue

    w = None if sample_weight is None else torch.as_tensor(sample_weight)
    return 0.1 / max(1.0, top_eigenvalue(_torch_X(X), True, sample_weight=w))


def _centred_top_eigenvalue(X: Any, c: np.ndarray, sample_weight: np.ndarray | None) -> float:
    """λ_max([X − c, 1]ᵀ W [X − c, 1] / Σw) for a sparse X whose weighted column means are c, without
    densifying X: the centred columns are orthogonal to the ones column, so it is
    max(λ_max(XᵀWX/Σw − ccᵀ), 1) (eigvalsh of the p × p matrix for p < 512, else Lanczos)."""
    import scipy.sparse.linalg

    n, p = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = float(w.sum())
    if p < 512:
        cov = np.asarray((X.T @ X.multiply(w[:, None]).tocsr()).todense()) / total - np.outer(c, c)
        return max(float(np.linalg.eigvalsh(cov)[-1]), 1.0)
    op = scipy.sparse.linalg.LinearOperator(
        (p, p), matvec=lambda v: X.T @ (w * (X @ v)) / total - c * (c @ v), dtype=np.float64)
    return max(float(scipy.sparse.linalg.eigsh(op, k=1, which="LA", return_eigenvectors=False)[0]), 1.0)


def _fold_target_scaling(model: torch.nn.Module, shift: float, scale: float, inverse: bool = False) -> None:
    """Make the last layer output ``scale·f + shift`` (``inverse``: undo it) in place."""
    last = getattr(model, f"fc{model.n_layers}")
    with torch.no_grad():
        if inverse:
            last.bias.sub_(shift).div_(scale)
            last.weight.div_(scale)
        else:
            last.weight.mul_(scale)
            last.bias.mul_(scale).add_(shift)


class MLPRegressor(RegressorMixin, _MLPGD):
    """A small MLP regressor (squared loss) under an L2, L1 or elastic-net penalty on its weights.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
    activation : {"relu", "tanh", "gelu", "sigmoid", "identity"}
    penalty, alpha, l1_ratio, update, batch_size, warm_start, random_state, record
        As :class:`GDRegressor`; the penalty applies to every weight matrix, never to biases.
    optimizer : {"auto", "gd", "sgd", "momentum", "nesterov", "adam", "lbfgs"}
        ``"auto"``: Adam for the gradient / decoupled rules, plain gradient descent for proximal
        and cumulative rules, which need a plain step.
    lr : float or "auto"
        ``"auto"``: 0.01 for Adam; 0.1 / max(1, λ_max(X̃ᵀX̃/n)) otherwise (X̃ = [X, 1]): 0.1 for
        standardized X, a step shrunk in proportion to the curvature of larger-scale inputs.
        A number is used as given; if training diverges with it, :class:`reglab.DivergenceError`
        says so.
    max_iter : int
        Optimizer steps.
    tol : float or None
        Stop when the objective's relative change between steps falls below it; None runs
        ``max_iter`` steps. Whatever ``tol``, a network that ends worse than the null model on its
        training data (training accuracy below the majority class's share, or a mean squared
        error above y's variance) gets a :class:`reglab.exceptions.ConvergenceWarning`.
    penalty_factor : array-like of shape (n_features,), optional
        Per-input-feature multipliers on the first layer's weights.
    standardize_input : bool
        Train the network on (X − mean) / std per column (weighted by ``sample_weight``; a
        constant column keeps scale 1), as ``make_pipeline(StandardScaler(), ...)`` would, and
        fold the scaling into the first layer afterwards: ``coefs_[0]`` and ``predict`` read raw
        X, and an exact zero stays an exact zero. Without it a plain step (the proximal and
        cumulative rules) on features of scale ~1000 gets lr ~ 0.1/λ_max ~ 1e-7 and barely moves
        (``MLPClassifier(penalty="l1")`` on raw breast_cancer ended below the majority class).
        The penalty then applies to the weights of the standardized problem; ``trajectory_`` is
        of that training. False trains on X as given. A scipy.sparse X (CSR or CSC) is never
        densified: the network trains on CSR products with X / std, and the centring is applied
        exactly in the first layer's output (fc1((X − m)/s) = fc1(X/s) − W·(m/s)), so the fit is
        the dense fit of the same data.
    standardize_target : bool
        Train the network on (y − mean) / std (weighted by ``sample_weight``) and fold the scale
        back into the last layer, as ``TransformedTargetRegressor(regressor, StandardScaler())``
        would. Training then does not depend on y's units: plain gradient steps at lr 0.1 (the
        proximal and cumulative rules) stay stable on targets in the hundreds, where unscaled they
        blow up the weights in the first steps (the residual ~ y sets the gradient scale). The
        objective is the one of the standardized problem: mean ((ỹ − f̃)²) + λ·pen(θ̃), λ in
        units of y's variance; ``trajectory_`` and ``n_iter_`` are of that training. False trains
        on y as given.

    Attributes
    ----------
    coefs_ : list of ndarray, layer i of shape (fan_in, fan_out)
        The last layer includes the target scaling: ``predict`` is the network on these.
    intercepts_ : list of ndarray
    model_ : reglab.models.MLP
    n_iter_, n_features_in_, feature_names_in_, trajectory_

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(100, 3)); y = np.sin(X[:, 0])
    >>> MLPRegressor(random_state=0).fit(X, y).score(X, y) > 0.9
    True
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (32,),
        activation: str = "relu",
        penalty: str | None = "l2",
        alpha: float = 1e-4,
        *,
        l1_ratio: float = 0.5,
        update: str = "auto",
        optimizer: str = "auto",
        lr: float | str = "auto",
        max_iter: int = 500,
        tol: float | None = None,
        batch_size: int | None = None,
        penalty_factor: Any = None,
        warm_start: bool = False,
        random_state: Any = None,
        record: bool = False,
        standardize_input: bool = True,
        standardize_target: bool = True,
    ) -> None:
        super().__init__(hidden_layer_sizes, activation, penalty, alpha, l1_ratio=l1_ratio, update=update,
                         optimizer=optimizer, lr=lr, max_iter=max_iter, tol=tol, batch_size=batch_size,
                         penalty_factor=penalty_factor, warm_start=warm_start, random_state=random_state,
                         record=record, standardize_input=standardize_input)
        self.standardize_target = standardize_target

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Fit on X of shape (n_samples, n_features) and y of shape (n_samples,).

        ``sample_weight`` as :meth:`GDRegressor.fit`.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS, y_numeric=True)
        X = _float64(X)
        y = np.asarray(y, dtype=np.float64)
        sw = _sample_weight(sample_weight, X)
        if not isinstance(self.standardize_target, (bool, np.bool_)):
            raise TypeError(f"standardize_target must be a bool; got {self.standardize_target!r}.")
        shift, scale = 0.0, 1.0
        if self.standardize_target:
            shift = float(np.average(y, weights=sw))
            std = math.sqrt(float(np.average((y - shift) ** 2, weights=sw)))
            scale = std if std > 0 and math.isfinite(std) else 1.0
        self._fit_mlp(X, (y - shift) / scale, "squared", 1, sw, shift, scale)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of shape (n_samples,)."""
        return self._forward(X)[:, 0]


class MLPClassifier(_ClassifierOutputs, ClassifierMixin, _MLPGD):
    """A small MLP classifier (logistic or softmax loss) under an L2, L1 or elastic-net penalty.

    Parameters as :class:`MLPRegressor` (without ``standardize_target``).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> MLPClassifier(random_state=0).fit(X, y).score(X, y) > 0.9
    True
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Fit on X of shape (n_samples, n_features) and labels y of shape (n_samples,).

        ``sample_weight`` as :meth:`GDClassifier.fit`.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS)
        X = _float64(X)
        sw = _sample_weight(sample_weight, X)
        y_enc, loss, k = _encode_classes(self, y, sw)
        self._fit_mlp(X, y_enc, loss, k, sw)
        return self

    def _raw(self, X: Any) -> np.ndarray:
        return self._forward(X)


class _LinearCV(BaseEstimator):
    """λ chosen by K-fold cross-validation along the regularization path (abstract)."""

    def __init__(
        self,
        penalty: str = "l1",
        *,
        l1_ratio: float = 0.5,
        alphas: Any = None,
        n_alphas: int = 100,
        eps: float | None = None,
        cv: Any = 5,
        select: str = "min",
        fit_intercept: bool = True,
        penalty_factor: Any = None,
        tol: float = 1e-4,
        max_iter: int = 1000,
    ) -> None:
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.select = select
        self.fit_intercept = fit_intercept
        self.penalty_factor = penalty_factor
        self.tol = tol
        self.max_iter = max_iter

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _eps(self) -> float:
        if self.eps is None:
            # ridge's largest λ is glmnet's value for ρ = 10⁻³, 10³× the lasso's: 10⁻⁶ of it reaches
            # the same smallest λ as the lasso's 10⁻³ (10⁻³ stopped at heavily shrunk fits)
            return 1e-6 if self.penalty == "l2" else 1e-3
        return check_real(self.eps, "eps", low_open=True, high=1.0)

    def _fit_cv(self, X: np.ndarray, y: np.ndarray, loss: str, classifier: bool, y_raw: np.ndarray,
                sample_weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The CV loss of a fold is its held-out weighted mean loss; the fold means are averaged."""
        sw = sample_weight
        check_choice(self.penalty, "penalty", ("l2", "l1", "elasticnet"))
        check_choice(self.select, "select", ("min", "1se"))
        rho = penalty_rho(self.penalty, self.l1_ratio)
        tol = check_real(self.tol, "tol")
        max_iter = check_integer(self.max_iter, "max_iter", 1)
        factor = check_penalty_factor(self.penalty_factor, X.shape[1])
        if self.alphas is None:
            grid = alpha_grid(X, y, loss=loss, l1_ratio=rho, fit_intercept=self.fit_intercept,
                              penalty_factor=factor, n_alphas=check_integer(self.n_alphas, "n_alphas"),
                              eps=self._eps(), sample_weight=sw)
        else:
            grid = np.sort(np.asarray(self.alphas, dtype=np.float64).ravel())[::-1]
            if grid.size == 0 or np.any(grid < 0) or not np.all(np.isfinite(grid)):
                raise ValueError("alphas must be a non-empty array of finite, non-negative strengths.")
        splitter = check_cv(self.cv, y_raw, classifier=classifier)
        fold_losses = []
        k = len(self.classes_) if loss == "cross_entropy" else 1
        for train, test in splitter.split(X, y_raw):
            if loss != "squared" and len(np.unique(y[train])) < (k if loss == "cross_entropy" else 2):
                raise ValueError("A training fold lacks a class; use fewer folds or stratified folds.")
            if sw is not None and not (sw[train].sum() > 0 and sw[test].sum() > 0):
                raise ValueError("A cross-validation fold has sample weights that are all zero; "
                                 "use fewer folds, or shuffle the folds.")
            W_all, b_all, _ = path_solutions(X[train], y[train], loss=loss, alphas=grid, l1_ratio=rho,
                                             penalty_factor=factor, fit_intercept=self.fit_intercept,
                                             tol=tol, max_iter=max_iter,
                                             sample_weight=None if sw is None else sw[train])
            w_test = None if sw is None else sw[test]
            fold_losses.append([_mean_loss(X[test] @ W + b, y[test], loss, w_test) for W, b in zip(W_all, b_all)])
        losses = np.asarray(fold_losses).T  # (n_alphas, n_folds)
        mean = losses.mean(1)
        se = losses.std(1, ddof=1) / np.sqrt(losses.shape[1]) if losses.shape[1] > 1 else np.zeros(len(grid))
        i_min = int(np.argmin(mean))
        # one-standard-error rule: the largest λ whose mean CV loss is within one SE of the minimum
        within = np.flatnonzero(mean <= mean[i_min] + se[i_min])
        i_1se = int(within.min())
        self.alphas_ = grid
        self.cv_loss_path_ = losses
        self.cv_mean_loss_ = mean
        self.cv_se_loss_ = se
        self.alpha_min_ = float(grid[i_min])
        self.alpha_1se_ = float(grid[i_1se])
        self.alpha_ = self.alpha_min_ if self.select == "min" else self.alpha_1se_
        sol = solve_linear(X, y, loss=loss, alpha=self.alpha_, l1_ratio=rho, penalty_factor=factor,
                           fit_intercept=self.fit_intercept, tol=tol, max_iter=max_iter, sample_weight=sw)
        if not sol.converged and sol.n_iter < max_iter:  # at the cap, solve_linear has warned already
            warnings.warn(f"{type(self).__name__}: the final fit stopped before tol at a relative optimality of "
                          f"{float(sol.optimality or float('nan')):.3g} (the floating-point floor of this problem); use a larger tol.",
                          ConvergenceWarning, stacklevel=3)
        self.n_iter_ = int(sol.n_iter)
        return sol.coef, sol.intercept


def _mean_loss(Z: np.ndarray, y: np.ndarray, loss: str, sample_weight: np.ndarray | None = None) -> float:
    """Mean loss of outputs Z (n, K) against y; the weighted mean Σwℓ/Σw with ``sample_weight``."""
    Y = encode_targets(y, loss, n_classes=Z.shape[1])
    unit = None if sample_weight is None else sample_weight * (len(sample_weight) / sample_weight.sum())
    return loss_and_grad_z(Z, Y, loss, unit)[0]


class GDRegressorCV(RegressorMixin, _LinearCV):
    """Linear regression with λ chosen by K-fold cross-validation along the regularization path.

    Reports the λ of minimum mean CV loss (``alpha_min_``) and glmnet's one-standard-error choice
    (``alpha_1se_``: the largest λ whose mean CV loss is within one standard error of the minimum);
    ``select`` says which one the final model uses.

    Parameters
    ----------
    penalty : {"l1", "elasticnet", "l2"}
    l1_ratio : float
    alphas : array-like, optional
        λ grid; default ``n_alphas`` values from ``alpha_max`` down to ``eps·alpha_max``.
    n_alphas : int
    eps : float, optional
        ``alphas_[-1] / alphas_[0]``; default 10⁻³, and 10⁻⁶ for ``"l2"`` (whose largest λ,
        glmnet's value for ρ = 10⁻³, is 10³× the lasso's: the two grids then end at the same λ).
    cv : int, CV splitter or iterable
    select : {"min", "1se"}
    fit_intercept : bool
    penalty_factor : array-like of shape (n_features,), optional
    tol, max_iter : solver settings at each λ.

    Attributes
    ----------
    alpha_, alpha_min_, alpha_1se_ : float
    alphas_ : ndarray of shape (n_alphas,)
    cv_loss_path_ : ndarray of shape (n_alphas, n_folds)
        Mean squared error on each held-out fold.
    cv_mean_loss_, cv_se_loss_ : ndarray of shape (n_alphas,)
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_, n_features_in_, feature_names_in_

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> cv = GDRegressorCV(n_alphas=20).fit(X, y)
    >>> cv.alpha_1se_ >= cv.alpha_min_
    True
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GDRegressorCV:
        """Choose λ by cross-validation and refit on all of X, y.

        ``sample_weight`` of shape (n_samples,) weights the path fits and each held-out fold's loss
        (the weighted mean Σwℓ/Σw), as :meth:`GDRegressor.fit`.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS, y_numeric=True)
        X = _float64(X)
        y = np.asarray(y, dtype=np.float64)
        W, b = self._fit_cv(X, y, "squared", False, y, _sample_weight(sample_weight, X))
        self.coef_ = W[:, 0].copy()
        self.intercept_ = float(b[0])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS, reset=False)
        return _float64(X) @ self.coef_ + self.intercept_


class GDClassifierCV(_ClassifierOutputs, ClassifierMixin, _LinearCV):
    """Logistic / softmax regression with λ chosen by (stratified) K-fold cross-validation.

    The CV loss is the mean held-out negative log-likelihood. Parameters and attributes as
    :class:`GDRegressorCV`, with ``classes_`` and classifier-shaped ``coef_`` / ``intercept_``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> pipe = make_pipeline(StandardScaler(), GDClassifierCV(n_alphas=10, cv=3)).fit(X, y)
    >>> pipe.score(X, y) > 0.95
    True
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GDClassifierCV:
        """Choose λ by cross-validation and refit on all of X, y (``sample_weight`` as :class:`GDRegressorCV`)."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS)
        X = _float64(X)
        sw = _sample_weight(sample_weight, X)
        y_enc, loss, _ = _encode_classes(self, y, sw)
        W, b = self._fit_cv(X, y_enc, loss, True, y, sw)
        self.coef_ = W.T.copy()
        self.intercept_ = b.copy()
        return self

    def _raw(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS, reset=False)
        return _float64(X) @ self.coef_.T + self.intercept_
