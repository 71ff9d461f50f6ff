"""fit() on a scipy.sparse X: the data stay sparse (torch CSR), and the result is the dense route's.

Float64 throughout; the dense route is the same data densified. The two routes do the same
arithmetic up to the order of a sum's terms (a CSR product adds a row's stored entries, the dense one
every entry, zeros included), so they agree to a few ulps per step: ~1e-12 relative after hundreds
of steps.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from torch.utils._python_dispatch import TorchDispatchMode

import reglab
from reglab import L1, L2, ElasticNet
from reglab.data import Dataset, is_sparse
from reglab.losses import get_loss
from reglab.penalties import sklearn_params
from reglab.training.batches import Batches
from reglab.training.fast_linear import prepare_fast_path
from tests._bounds import Risk, assert_same_optimum

RTOL = 1e-12  # float64, a few hundred steps of sums in another order (module docstring)


def _design(n: int = 240, p: int = 30, density: float = 0.08, seed: int = 0) -> scipy.sparse.csr_matrix:
    X = scipy.sparse.random(n, p, density=density, format="csr", random_state=seed)
    X.data = np.random.default_rng(seed).normal(size=X.nnz)
    return X


def _targets(X: scipy.sparse.csr_matrix, task: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    z = X @ rng.normal(size=X.shape[1]) + 0.1 * rng.normal(size=X.shape[0])
    if task == "linear":
        return z
    if task == "logistic":
        return (z > np.median(z)).astype(np.int64)
    return np.digitize(z, np.quantile(z, [1 / 3, 2 / 3]))


def _relative_gap(a: torch.nn.Module, b: torch.nn.Module) -> float:
    wa = torch.cat([p.detach().reshape(-1) for p in a.parameters()])
    wb = torch.cat([p.detach().reshape(-1) for p in b.parameters()])
    return float((wa - wb).abs().max() / wb.abs().max())


TERMS = [L2(0.02), L1(0.01), ElasticNet(0.02, l1_ratio=0.5)]
RULES = ["gradient", "proximal", "decoupled", "cumulative"]


def _rebuild(template: object, rule: str) -> object:
    if isinstance(template, ElasticNet):
        return ElasticNet(template.strength, l1_ratio=template.l1_ratio, update=rule)
    return type(template)(template.strength, update=rule)


def _cases() -> list[object]:
    cases = []
    for model in ("linear", "logistic", "softmax"):
        for template in TERMS:
            for rule in RULES:
                if rule == "cumulative" and not isinstance(template, L1):
                    continue  # cumulative is L1 only (refused for the others, as on dense data)
                for optimizer, batch_size in (("gd", None), ("sgd", 16)):
                    if rule == "cumulative" and optimizer == "gd":
                        continue
                    cases.append(pytest.param(model, _rebuild(template, rule), optimizer, batch_size,
                                              id=f"{model}-{template.kind}-{rule}-{optimizer}"))
    return cases


@pytest.mark.parametrize(("model", "term", "optimizer", "batch_size"), _cases())
def test_sparse_fit_equals_the_dense_fit_for_every_rule_and_penalty(model, term, optimizer, batch_size) -> None:
    X = _design()
    y = _targets(X, model)
    kw = {"penalties": [term], "optimizer": optimizer, "batch_size": batch_size, "lr": 0.2, "steps": 300, "seed": 3}
    sparse = reglab.fit(model, (X, y), **kw)
    dense = reglab.fit(model, (X.toarray(), y), **kw)
    assert _relative_gap(sparse.model, dense.model) <= RTOL
    np.testing.assert_allclose(sparse.history.data_loss, dense.history.data_loss, rtol=RTOL)


@pytest.mark.parametrize("model", ["linear", "logistic", "softmax"])
def test_sparse_fit_without_the_fast_path_equals_the_fast_path(model: str) -> None:
    # fast=False: the autograd loop, forward and backward through the CSR product
    X = _design()
    y = _targets(X, model)
    kw = {"penalties": [L1(0.01, update="proximal")], "lr": 0.2, "steps": 200}
    slow = reglab.fit(model, (X, y), fast=False, **kw)
    fast = reglab.fit(model, (X, y), **kw)
    assert _relative_gap(slow.model, fast.model) <= RTOL


def test_a_module_whose_forward_takes_sparse_input_trains_as_on_the_dense_data() -> None:
    # nn.Linear's product accepts a CSR input: the first layer's gradient flows through it by autograd
    X = _design()
    y = _targets(X, "linear")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1), torch.nn.Flatten(0))
    net = net.double()
    twin = copy.deepcopy(net)
    kw = {"loss": "squared", "penalties": [L1(0.01, update="decoupled", on="0.weight")], "optimizer": "adam",
          "lr": 0.01, "steps": 100, "batch_size": 16}
    reglab.fit(net, (X, y), **kw)
    reglab.fit(twin, (X.toarray(), y), **kw)
    assert _relative_gap(net, twin) <= RTOL


def test_a_sparse_run_resumed_from_its_checkpoint_equals_the_uninterrupted_run(tmp_path) -> None:
    X = _design()
    y = _targets(X, "linear")
    kw = {"penalties": [L1(0.01, update="proximal")], "lr": 0.1, "steps": 40}
    whole = reglab.fit("linear", (X, y), **kw, fast=False)  # checkpointing runs the plain loop
    path = tmp_path / "run.pt"
    reglab.fit("linear", (X, y), **kw, checkpoint=path, checkpoint_every=15)  # leaves the one before step 30
    resumed = reglab.fit("linear", (X, y), **kw, checkpoint=path, checkpoint_every=15, resume=True)
    assert _relative_gap(resumed.model, whole.model) == 0.0
    with pytest.raises(reglab.training.checkpoint.CheckpointError, match="data"):  # another sparse X: refused
        X2 = X.copy()
        X2.data[0] += 1.0
        reglab.fit("linear", (X2, y), **kw, checkpoint=path, checkpoint_every=15, resume=True)


def test_sparse_fit_runs_on_the_fast_path_with_x_kept_sparse() -> None:
    X = _design()
    ds = Dataset.from_arrays(X, _targets(X, "logistic"), task="binary")
    assert is_sparse(ds.X) and ds.X.values().numel() == X.nnz
    net = reglab.models.build_model("logistic", X.shape[1], 1, generator=torch.Generator().manual_seed(0))
    path = prepare_fast_path(net, ds.X, ds.y, get_loss("logistic"), [], "gd", record=False, batch_size=None,
                             steps=10)
    assert path is not None and is_sparse(path.X) and is_sparse(path.XT)


class _LargestDense(TorchDispatchMode):
    """Records the largest number of elements of any dense (strided) tensor an operation makes."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's signature
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.layout == torch.strided:
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize(("model", "optimizer", "kw"), [
    ("linear", "gd", {"lr": "auto"}),                            # the Gram form (n ≫ p)
    ("logistic", "gd", {"lr": "auto"}),                          # CSR products XW and XᵀR
    ("logistic", "fista", {"lr": "auto"}),
    ("softmax", "sgd", {"lr": 0.1, "batch_size": 64}),           # autograd on CSR row slices
    ("linear", "gd", {"lr": 0.1, "fast": False, "tol": 1e-9}),   # the autograd loop, the KKT stop
    ("logistic", "gd", {"lr": 0.1, "record": True}),
])
def test_sparse_fit_never_makes_a_dense_n_by_p_tensor(model: str, optimizer: str, kw: dict) -> None:
    n, p = 4000, 300  # n·p = 1.2e6; the largest dense tensors allowed are O(n·k + p²) (outputs, Gram)
    X = _design(n, p, density=0.01, seed=1)
    y = _targets(X, model)
    with _LargestDense() as mode:
        reglab.fit(model, (X, y), penalties=[L1(1e-3, update="proximal")], optimizer=optimizer, steps=20, **kw)
    assert 0 < mode.largest <= (p + 1) ** 2 < n * p // 10


def test_sparse_fit_reaches_scikit_learn_lasso_and_ridge_optimum_on_the_same_sparse_x() -> None:
    X = _design(300, 20, density=0.3, seed=2)
    y = _targets(X, "linear")
    tol = 1e-10
    for term, Ref in ((L1(0.02, update="proximal"), Lasso), (L2(0.05), Ridge)):
        ref = Ref(**sklearn_params(term, X.shape[0], Ref.__name__), tol=1e-14, max_iter=100_000).fit(X, y)
        ours = reglab.fit("linear", (X, y), penalties=[term], optimizer="fista", lr="auto", steps=100_000, tol=tol)
        assert ours.status == "converged"
        lin = ours.model.linear
        rho = 1.0 if isinstance(term, L1) else 0.0
        risk = Risk(X.toarray(), y, loss="squared", alpha=term.strength, l1_ratio=rho)
        assert_same_optimum(risk, (lin.weight.detach().numpy()[0], lin.bias.detach().numpy()),
                            risk, (ref.coef_, np.array([ref.intercept_])), tol=tol)


def test_sparse_fit_reaches_scikit_learn_logistic_regression_optimum_on_the_same_sparse_x() -> None:
    X = _design(300, 20, density=0.3, seed=3)
    y = _targets(X, "logistic")
    term, tol = L2(0.01), 1e-10
    ref = LogisticRegression(C=sklearn_params(term, X.shape[0], "LogisticRegression")["C"], tol=1e-12,
                             max_iter=100_000).fit(X, y)
    ours = reglab.fit("logistic", (X, y), penalties=[term], optimizer="fista", lr="auto", steps=100_000, tol=tol)
    assert ours.status == "converged"
    lin = ours.model.linear
    risk = Risk(X.toarray(), y, loss="logistic", alpha=term.strength, l1_ratio=0.0)
    assert_same_optimum(risk, (lin.weight.detach().numpy()[0], lin.bias.detach().numpy()),
                        risk, (ref.coef_[0], ref.intercept_), tol=tol, f_test=True)  # L-BFGS: its f-test stop


# -- the cumulative rule on sparse minibatches: every feature gets the penalty at every step ---------


def _cumulative(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, batches: list[np.ndarray], eta: float,
                C: float, *, lazy: bool) -> np.ndarray:
    """Tsuruoka et al. (2009), Fig. 2, for mean squared loss on minibatches, in plain Python loops.

    ``lazy=False``: ApplyPenalty(i) for every feature at every step (reglab's choice). ``lazy=True``:
    only for the features present in the minibatch (the paper's and scikit-learn's SGD on sparse
    data); an absent feature's accumulated penalty is applied when it next appears, and once more at
    the end for every feature, so both return the weights with all the penalty they are owed.
    """
    w = w.copy()
    u, q = 0.0, np.zeros(len(w))

    def apply_penalty(i: int) -> None:
        z = w[i]
        if w[i] > 0:
            w[i] = max(0.0, w[i] - (u + q[i]))
        elif w[i] < 0:
            w[i] = min(0.0, w[i] + (u - q[i]))
        q[i] += w[i] - z

    for idx in batches:
        u += eta * C
        Xb, yb = X[idx], y[idx]
        r = yb - (Xb @ w + b)
        w = w + eta * 2.0 / len(idx) * (Xb.T @ r)
        b = b + eta * 2.0 / len(idx) * r.sum()
        present = np.flatnonzero(np.abs(Xb).sum(0)) if lazy else range(len(w))
        for i in present:
            apply_penalty(i)
    for i in range(len(w)):
        apply_penalty(i)  # the catch-up (a no-op when every step penalized every feature)
    return w


def test_cumulative_rule_on_sparse_minibatches_penalizes_absent_features_as_a_transcription_does() -> None:
    X = _design(200, 40, density=0.03, seed=4)
    y = _targets(X, "linear")
    steps, batch_size, eta, C, seed = 120, 8, 0.05, 0.02, 5
    result = reglab.fit("linear", (X, y), penalties=[L1(C, update="cumulative")], optimizer="sgd", lr=eta,
                        batch_size=batch_size, steps=steps, seed=seed)
    # the minibatches fit drew: its Batches from the same generator (seed + 1, see engine._Loop)
    order = Batches(X.shape[0], batch_size, torch.Generator().manual_seed(seed + 1))
    batches = [order.next().numpy() for _ in range(steps)]
    Xd = X.toarray()
    absent = [np.flatnonzero(np.abs(Xd[idx]).sum(0) == 0).size for idx in batches]
    assert min(absent) > X.shape[1] // 2  # most features are absent from every minibatch
    init = reglab.models.build_model("linear", X.shape[1], 1, generator=torch.Generator().manual_seed(seed),
                                     dtype=torch.float64).linear
    w0, b0 = init.weight.detach().numpy()[0], float(init.bias.detach())
    eager = _cumulative(Xd, y, w0, b0, batches, eta, C, lazy=False)
    lazy = _cumulative(Xd, y, w0, b0, batches, eta, C, lazy=True)
    w = result.model.linear.weight.detach().numpy()[0]
    np.testing.assert_allclose(w, eager, rtol=1e-10, atol=1e-13)
    assert ((w == 0) == (eager == 0)).all() and (w == 0).any()
    # the choice matters: the lazy form reads an absent feature's weight unpenalized when it returns
    assert np.abs(lazy - eager).max() > 1e-3 * np.abs(eager).max()


# -- bad sparse input: typed errors in scikit-learn's words ------------------------------------------


@pytest.mark.parametrize(("bad", "error", "match"), [
    (np.nan, ValueError, "Input X contains NaN"),
    (np.inf, ValueError, "Input X contains infinity"),
])
def test_sparse_x_with_a_non_finite_stored_value_is_refused(bad: float, error: type, match: str) -> None:
    X = _design()
    X.data[3] = bad
    with pytest.raises(error, match=match):
        reglab.fit("linear", (X, _targets(_design(), "linear")), steps=1)


def test_sparse_y_and_mismatched_lengths_are_refused_in_scikit_learns_words() -> None:
    X = _design()
    y = _targets(X, "linear")
    with pytest.raises(TypeError, match="Sparse data was passed for y, but dense data is required"):
        reglab.fit("linear", (X, scipy.sparse.csr_matrix(y.reshape(-1, 1))), steps=1)
    with pytest.raises(ValueError, match=r"Found input variables with inconsistent numbers of samples: \[240, 239\]"):
        reglab.fit("linear", (X, y[:-1]), steps=1)
    with pytest.raises(ValueError, match="X_test has 29 features, but X has 30 features"):
        reglab.fit("linear", (X, y, X[:, :29], y), steps=1)


def test_a_csc_coo_or_torch_sparse_x_is_read_as_the_same_csr_data() -> None:
    X = _design()
    y = _targets(X, "linear")
    ref = reglab.fit("linear", (X, y), steps=50, lr=0.1).model
    for other in (X.tocsc(), X.tocoo(), torch.from_numpy(X.toarray()).to_sparse_coo()):
        assert _relative_gap(reglab.fit("linear", (other, y), steps=50, lr=0.1).model, ref) == 0.0
