"""Datasets: validation of user data, the claims' scenarios, bundled real data, CSV / Parquet files.

Validation reuses scikit-learn's checks (and so its words: "Input X contains NaN.", "Found input
variables with inconsistent numbers of samples: [50, 49]"), then adds what a training engine needs:
a task (regression, binary, multiclass), classes mapped to 0..K−1, and torch tensors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import warnings

import numpy as np
import scipy.sparse
import torch
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, check_consistent_length
from torch import Tensor

from reglab import _checks
from reglab.losses import TASKS

__all__ = [
    "BUNDLED",
    "SCENARIOS",
    "BatchStream",
    "Dataset",
    "as_dataset",
    "check_sample_weight",
    "column_std",
    "csr_from_scipy",
    "csr_tensor",
    "from_file",
    "is_batch_source",
    "is_sparse",
    "linear_regression",
    "load_dataset",
    "pure_noise",
    "sparse_regression",
    "take_rows",
    "transpose_csr",
    "zero_column",
]


@dataclass(frozen=True)
class Dataset:
    """Training data, optionally held-out data, and what the task is.

    Attributes
    ----------
    X : Tensor of shape (n_samples, n_features)
        Dense, or a sparse CSR tensor (``layout=torch.sparse_csr``) when the data came as a
        scipy.sparse matrix (see :func:`csr_tensor`): it stays sparse through training.
    y : Tensor of shape (n_samples,)
        Float targets for regression; class indices 0..K−1 for classification (float for binary,
        int64 for multiclass).
    X_test, y_test : Tensors or None
        Held-out data, validated like the training data.
    task : {"regression", "binary", "multiclass"}
    classes : ndarray or None
        The original class labels, indexed by the integers in ``y``.
    feature_names : list of str or None
    name : str
    info : dict
        What a scenario knows about its data (for example which column is zero).
    sample_weight : Tensor of shape (n_samples,) or None
        Non-negative weights of the training samples (see :func:`check_sample_weight`): the
        training loss is their weighted mean. None: every sample weighs 1.

    Examples
    --------
    >>> ds = Dataset.from_arrays([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [1.0, 2.0, 3.0])
    >>> ds.X.shape, ds.task
    (torch.Size([3, 2]), 'regression')
    """

    X: Tensor
    y: Tensor
    X_test: Tensor | None = None
    y_test: Tensor | None = None
    task: str = "regression"
    classes: np.ndarray | None = None
    feature_names: list[str] | None = None
    name: str = "data"
    info: dict[str, Any] = field(default_factory=dict)
    sample_weight: Tensor | None = None

    @classmethod
    def from_arrays(
        cls,
        X: Any,
        y: Any,
        X_test: Any = None,
        y_test: Any = None,
        *,
        task: str | None = None,
        dtype: torch.dtype = torch.float64,
        name: str = "data",
        feature_names: Sequence[str] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> Dataset:
        """Validate arrays (NumPy, torch, pandas, lists) and build a Dataset.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            A scipy.sparse matrix (CSR, CSC, COO...) or a torch sparse tensor is kept sparse, as a
            torch CSR tensor (X is never densified).
        y : array-like of shape (n_samples,) or (n_samples, 1)
            Dense (a sparse y is refused with scikit-learn's TypeError).
        X_test, y_test : array-like, optional
            Held-out data with the same number of features.
        task : {"regression", "binary", "multiclass"}, optional
            Inferred when omitted: a float target is regression, two classes are binary,
            more are multiclass.
        dtype : torch.dtype
            Floating dtype of X (and of y for regression and binary tasks).
        """
        if task is not None and task not in TASKS:
            raise ValueError(f"Unknown task {task!r}. Choose one of {', '.join(TASKS)}.")
        if feature_names is None and hasattr(X, "columns"):
            feature_names = [str(c) for c in X.columns]
        Xn, yn = _check_xy(X, y, dtype)
        task = task or _infer_task(yn)
        yt, classes = _encode_target(yn, task)
        Xt_test = yt_test = None
        if (X_test is None) != (y_test is None):
            raise ValueError("Give both X_test and y_test, or neither.")
        if X_test is not None:
            Xtn, ytn = _check_xy(X_test, y_test, dtype, what="test")
            if Xtn.shape[1] != Xn.shape[1]:
                raise ValueError(
                    f"X_test has {Xtn.shape[1]} features, but X has {Xn.shape[1]} features. "
                    "Held-out data must have the same columns as the training data."
                )
            yt_test, _ = _encode_target(ytn, task, classes)
            Xt_test = _as_tensor(Xtn, dtype)
        return cls(
            X=_as_tensor(Xn, dtype),
            y=_target_tensor(yt, task, dtype),
            X_test=Xt_test,
            y_test=None if yt_test is None else _target_tensor(yt_test, task, dtype),
            task=task,
            classes=classes,
            feature_names=list(feature_names) if feature_names is not None else None,
            name=name,
            info=dict(info or {}),
        )

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_outputs(self) -> int:
        """Model outputs the task needs: 1, or the number of classes for multiclass."""
        return len(self.classes) if self.task == "multiclass" and self.classes is not None else 1

    def to(self, dtype: torch.dtype) -> Dataset:
        """The same data with floating tensors cast to ``dtype`` (class indices stay int64)."""

        def cast(t: Tensor | None) -> Tensor | None:
            return None if t is None or not t.is_floating_point() else t.to(dtype)

        return replace(
            self,
            X=cast(self.X),
            y=cast(self.y) if self.y.is_floating_point() else self.y,
            X_test=cast(self.X_test),
            y_test=(cast(self.y_test) if self.y_test is not None and self.y_test.is_floating_point() else self.y_test),
            sample_weight=cast(self.sample_weight),
        )

    @property
    def device(self) -> torch.device:
        """The device the training tensors live on."""
        return self.X.device

    def to_device(self, device: torch.device | str) -> Dataset:
        """The same data with every tensor on ``device`` (itself when it is already there).

        >>> ds = Dataset.from_arrays([[0.0], [1.0]], [1.0, 2.0])
        >>> ds.to_device("cpu") is ds, ds.to_device("cpu").device
        (True, device(type='cpu'))
        """
        device = torch.device(device)
        if self.X.device == device and self.y.device == device:
            return self

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return replace(self, X=move(self.X), y=move(self.y), X_test=move(self.X_test), y_test=move(self.y_test),
                       sample_weight=move(self.sample_weight))

    def split(self, test_size: float = 0.25, seed: int = 0) -> Dataset:
        """Hold out a random ``test_size`` fraction of the training data (stratified for classes)."""
        from sklearn.model_selection import train_test_split

        idx = np.arange(self.n_samples)
        stratify = self.y.numpy() if self.task != "regression" else None
        tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify)
        tr_t, te_t = torch.as_tensor(np.sort(tr)), torch.as_tensor(np.sort(te))
        return replace(self, X=take_rows(self.X, tr_t), y=self.y[tr_t], X_test=take_rows(self.X, te_t),
                       y_test=self.y[te_t],
                       sample_weight=None if self.sample_weight is None else self.sample_weight[tr_t])


def check_sample_weight(sample_weight: Any, n_samples: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """Sample weights checked by :func:`reglab._checks.check_sample_weight` (scikit-learn's words), as a tensor.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or a number
        Finite, non-negative, not all zero (a number gives every sample that weight).
    n_samples : int
    dtype : torch.dtype

    Returns
    -------
    Tensor of shape (n_samples,)

    Examples
    --------
    >>> check_sample_weight([1, 0, 2], 3).tolist()
    [1.0, 0.0, 2.0]
    >>> check_sample_weight([0, 0], 2)
    Traceback (most recent call last):
    ...
    ValueError: Sample weights must contain at least one non-zero number.
    """
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    w = _checks.check_sample_weight(_to_numpy(sample_weight), n_samples, np_dtype)
    return torch.as_tensor(w if w.flags.writeable else w.copy(), dtype=dtype)


def _check_xy(X: Any, y: Any, dtype: torch.dtype, what: str = "") -> tuple[np.ndarray, np.ndarray]:
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    X = _to_numpy(X)
    y = _to_numpy(y)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond the dtype's range: inf, which check_array names
        Xn = check_array(X, dtype=np_dtype, accept_sparse="csr", ensure_all_finite=True, input_name="X")
    if scipy.sparse.issparse(y):  # scikit-learn's TypeError ("Sparse data was passed for y, ...")
        check_array(y, accept_sparse=False, input_name="y")
    yn = np.asarray(y)
    if yn.ndim == 2 and yn.shape[1] == 1:
        yn = yn[:, 0]
    if yn.ndim != 1:
        raise ValueError(
            f"y should be a 1d array or a column of shape (n_samples, 1); got an array of shape {yn.shape} instead."
        )
    check_consistent_length(Xn, yn)
    if yn.dtype.kind in "fc" or yn.dtype == object:
        try:
            check_array(yn.reshape(-1, 1), dtype=None if yn.dtype == object else np.float64,
                        ensure_all_finite=True, input_name="y")
        except ValueError as err:
            raise ValueError(str(err)) from None
    if scipy.sparse.issparse(Xn):
        return Xn, (yn if yn.flags.writeable else yn.copy())
    # pandas (copy-on-write) hands out read-only views; torch needs writable memory
    return (Xn if Xn.flags.writeable else Xn.copy()), (yn if yn.flags.writeable else yn.copy())


def _to_numpy(a: Any) -> Any:
    if isinstance(a, Tensor):
        if a.layout != torch.strided:  # a torch sparse tensor: to scipy CSR, still sparse
            csr = a.detach().cpu().to_sparse_csr()
            return scipy.sparse.csr_matrix((csr.values().numpy(), csr.col_indices().numpy(),
                                            csr.crow_indices().numpy()), shape=tuple(csr.shape))
        return a.detach().cpu().numpy()
    return a


def _as_tensor(X: Any, dtype: torch.dtype) -> Tensor:
    """A validated X as a tensor: a scipy sparse matrix as a torch CSR tensor, an array as a dense one."""
    return csr_from_scipy(X, dtype) if scipy.sparse.issparse(X) else torch.as_tensor(X, dtype=dtype)


def csr_from_scipy(X: Any, dtype: torch.dtype = torch.float64) -> Tensor:
    """A scipy.sparse matrix (any format) as a torch CSR tensor of ``dtype``; X itself is left alone.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n, p)
    dtype : torch.dtype

    Returns
    -------
    Tensor of shape (n, p), ``layout=torch.sparse_csr``, int64 indices

    Examples
    --------
    >>> import scipy.sparse
    >>> csr_from_scipy(scipy.sparse.csc_matrix([[0.0, 1.0], [2.0, 0.0]])).to_dense().tolist()
    [[0.0, 1.0], [2.0, 0.0]]
    """
    A = scipy.sparse.csr_matrix(X)
    if not A.has_canonical_format:  # sorted, no duplicates (on a copy: the caller's matrix is left alone)
        A = A.copy()
        A.sum_duplicates()
    return csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)), torch.from_numpy(A.indices.astype(np.int64)),
                      torch.from_numpy(np.asarray(A.data)).to(dtype), tuple(A.shape))


# -- sparse X: a torch CSR tensor, row slices, the transpose ---------------------------------------


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a torch sparse CSR tensor (how a sparse X travels through training).

    >>> is_sparse(torch.zeros(2, 2)), is_sparse(torch.zeros(2, 2).to_sparse_csr())
    (False, True)
    """
    return isinstance(X, Tensor) and X.layout == torch.sparse_csr


def csr_tensor(crow_indices: Tensor, col_indices: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    """A torch sparse CSR tensor of shape ``size``, its invariants checked once here.

    Parameters
    ----------
    crow_indices : Tensor of shape (n_rows + 1,), int64
    col_indices, values : Tensors of shape (nnz,)
    size : (n_rows, n_cols)

    Examples
    --------
    >>> X = csr_tensor(torch.tensor([0, 1, 1]), torch.tensor([1]), torch.tensor([2.0]), (2, 3))
    >>> X.to_dense().tolist()
    [[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]
    """
    return torch.sparse_csr_tensor(crow_indices, col_indices, values, size, check_invariants=True)


def _absorb_csr_beta_warning() -> None:
    """Torch warns once per process, on the first CSR tensor made, that its CSR support is in beta.

    The operations reglab uses on the layout (products with dense matrices, autograd through them
    into dense weights, the row slices of :func:`take_rows`) are tested here, so that one warning is
    drawn at import, on a 1 × 1 tensor, and not passed on (pytest's ``filterwarnings = error`` would
    turn it into an error wherever the first sparse X happens to be made).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        torch.sparse_csr_tensor(torch.tensor([0, 0]), torch.tensor([], dtype=torch.int64), torch.tensor([]), (1, 1),
                                check_invariants=True)


_absorb_csr_beta_warning()


def take_rows(X: Tensor, idx: Tensor) -> Tensor:
    """Rows ``idx`` of X (``X[idx]``), for a dense X or a CSR one (sliced without densifying).

    Parameters
    ----------
    X : Tensor of shape (n, p), dense or sparse CSR
    idx : Tensor of shape (m,), int64
        Row indices (repeats allowed).

    Returns
    -------
    Tensor of shape (m, p), of X's layout

    Examples
    --------
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]).to_sparse_csr()
    >>> take_rows(X, torch.tensor([2, 0, 2])).to_dense().tolist()
    [[3.0, 0.0], [1.0, 0.0], [3.0, 0.0]]
    """
    if not is_sparse(X):
        return X[idx]
    crow, col, val = X.crow_indices(), X.col_indices(), X.values()
    idx = idx.to(crow.device)
    starts, counts = crow[idx], crow[idx + 1] - crow[idx]
    new_crow = torch.zeros(len(idx) + 1, dtype=crow.dtype, device=crow.device)
    torch.cumsum(counts, 0, out=new_crow[1:])
    # position k of the new rows' entries: its row's start in X plus its offset within the row
    row_of = torch.repeat_interleave(torch.arange(len(idx), device=crow.device), counts)
    src = starts[row_of] + (torch.arange(int(new_crow[-1]), device=crow.device) - new_crow[:-1][row_of])
    return csr_tensor(new_crow, col[src], val[src], (len(idx), X.shape[1]))


def transpose_csr(X: Tensor) -> Tensor:
    """Xᵀ as a CSR tensor (X's CSC form read as rows): Xᵀ·R is then a fast CSR product.

    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]).to_sparse_csr()
    >>> transpose_csr(X).to_dense().tolist()
    [[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]]
    """
    csc = X.to_sparse_csc()
    return csr_tensor(csc.ccol_indices(), csc.row_indices(), csc.values(), (X.shape[1], X.shape[0]))


def column_std(X: Tensor) -> Tensor:
    """Each column's standard deviation (unbiased, as ``X.std(dim=0)``), a sparse X read once.

    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], dtype=torch.float64)
    >>> torch.allclose(column_std(X.to_sparse_csr()), X.std(dim=0))
    True
    """
    if not is_sparse(X):
        return X.std(dim=0)
    n = X.shape[0]
    Xt = transpose_csr(X)
    ones = torch.ones(n, 1, dtype=X.dtype, device=X.device)
    squares = csr_tensor(Xt.crow_indices(), Xt.col_indices(), Xt.values().square(), tuple(Xt.shape))
    mean = (Xt @ ones)[:, 0] / n
    return ((squares @ ones)[:, 0] / n - mean.square()).clamp_(min=0.0).mul_(n / max(n - 1, 1)).sqrt_()


def _infer_task(y: np.ndarray) -> str:
    kind = type_of_target(y)
    if kind == "binary" and y.dtype.kind in "biuOUS":
        return "binary"
    if kind == "multiclass" and y.dtype.kind in "biuOUS":
        return "multiclass"
    return "regression"


def _encode_target(y: np.ndarray, task: str, classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    if task == "regression":
        if y.dtype.kind not in "biuf":
            raise TypeError(f"A regression target must be numeric; got dtype {y.dtype}.")
        return y.astype(np.float64), None
    kind = type_of_target(y)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type: {kind}. Maybe you are trying to fit a classifier, which expects discrete "
            "classes on a regression target with continuous values."
        )
    if classes is None:
        classes = np.unique(y)
        if task == "binary" and len(classes) != 2:
            raise ValueError(
                f"A binary task needs exactly 2 classes in y; got {len(classes)}: {classes[:10].tolist()}. "
                "Use task='multiclass' (softmax) for more."
            )
        if len(classes) < 2:
            raise ValueError(f"y has a single class {classes.tolist()}; a classifier needs at least 2.")
    unknown = np.setdiff1d(np.unique(y), classes)
    if len(unknown):
        raise ValueError(f"y contains labels not seen in the training data: {unknown[:10].tolist()}.")
    return np.searchsorted(classes, y), classes


def _target_tensor(y: np.ndarray, task: str, dtype: torch.dtype) -> Tensor:
    if task == "multiclass":
        return torch.as_tensor(y, dtype=torch.int64)
    return torch.as_tensor(y, dtype=dtype)


def as_dataset(data: Dataset | tuple[Any, Any] | Sequence[Any], *, task: str | None = None,
               dtype: torch.dtype = torch.float64) -> Dataset:
    """A :class:`Dataset` from a Dataset, an ``(X, y)`` pair or an ``(X, y, X_test, y_test)`` tuple."""
    if isinstance(data, Dataset):
        if task is not None and task != data.task:
            raise ValueError(f"The dataset's task is {data.task!r}, but {task!r} was asked for.")
        return data.to(dtype) if data.X.dtype != dtype else data
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        return Dataset.from_arrays(*data, task=task, dtype=dtype)
    raise TypeError(
        f"data must be a reglab.data.Dataset, an (X, y) pair or an (X, y, X_test, y_test) tuple; "
        f"got {type(data).__name__}."
    )


def is_batch_source(data: Any) -> bool:
    """Whether ``data`` is a source of minibatches (a ``DataLoader`` or another iterable of ``(X, y)`` batches)
    rather than data held in memory (a :class:`Dataset`, an ``(X, y)`` tuple or list, an array).

    >>> is_batch_source(([[0.0]], [1.0])), is_batch_source(torch.utils.data.DataLoader([(torch.zeros(1), 1.0)]))
    (False, True)
    """
    if isinstance(data, (Dataset, tuple, list, str, bytes, Mapping, np.ndarray, Tensor)):
        return False
    return isinstance(data, torch.utils.data.DataLoader) or isinstance(data, Iterable)


class BatchStream:
    """``(X, y)`` minibatches from a re-iterable source (a ``DataLoader``), epoch after epoch, on one device.

    Each :meth:`next` is the source's next batch as tensors of ``dtype`` on ``device`` (X of shape
    (batch, n_features); y of shape (batch,): a column (batch, 1) is flattened; class indices as
    int64 for ``task="multiclass"``); when the source is exhausted a new epoch starts with a fresh
    ``iter(source)``, so a ``DataLoader`` with ``shuffle=True`` reshuffles as it does in a hand loop.
    Targets are taken as given: classes must already be 0..K−1 (0/1 for a binary task).

    Parameters
    ----------
    source : iterable of (X, y)
        Re-iterable: every ``iter(source)`` is one epoch (a generator is exhausted after one).
    dtype : torch.dtype
        Floating dtype of X (and of y unless the task is multiclass).
    device : torch.device
    task : {"regression", "binary", "multiclass"}, optional

    Examples
    --------
    >>> loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(5, 2), torch.zeros(5)),
    ...                                      batch_size=2)
    >>> stream = BatchStream(loader, torch.float64, torch.device("cpu"))
    >>> [len(stream.next()[0]) for _ in range(4)], stream.epoch
    ([2, 2, 1, 2], 1)
    """

    def __init__(self, source: Iterable[Any], dtype: torch.dtype, device: torch.device, task: str | None = None) -> None:
        self.source, self.dtype, self.device, self.task = source, dtype, device, task
        self.epoch = 0
        self._it = iter(source)
        self._peeked: tuple[Tensor, Tensor] | None = None

    def _as_batch(self, batch: Any) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(f"Each batch of the data loader must be an (X, y) pair; got {type(batch).__name__}"
                            + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "") + ".")
        X = torch.as_tensor(_to_numpy_or_tensor(batch[0]))
        y = torch.as_tensor(_to_numpy_or_tensor(batch[1]))
        if X.ndim != 2:
            raise ValueError(f"A batch's X must have shape (batch_size, n_features); got shape {tuple(X.shape)}.")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"A batch's y must have shape ({len(X)},) to match X; got shape {tuple(y.shape)}.")
        y_dtype = torch.int64 if self.task == "multiclass" else self.dtype
        return (X.to(device=self.device, dtype=self.dtype, non_blocking=True),
                y.to(device=self.device, dtype=y_dtype, non_blocking=True))

    def peek(self) -> tuple[Tensor, Tensor]:
        """The batch the next :meth:`next` returns (to read the shapes before training)."""
        if self._peeked is None:
            self._peeked = self._next_raw()
        return self._peeked

    def _next_raw(self) -> tuple[Tensor, Tensor]:
        try:
            return self._as_batch(next(self._it))
        except StopIteration:
            self.epoch += 1
            self._it = iter(self.source)
            try:
                return self._as_batch(next(self._it))
            except StopIteration:
                raise ValueError("The data loader yielded no batch (it is empty, or a generator that was "
                                 "already exhausted: give a re-iterable such as a DataLoader).") from None

    def next(self) -> tuple[Tensor, Tensor]:
        """The next ``(X, y)`` batch; a new epoch starts when the source is exhausted."""
        if self._peeked is not None:
            batch, self._peeked = self._peeked, None
            return batch
        return self._next_raw()

    def one_epoch(self) -> Iterator[tuple[Tensor, Tensor]]:
        """One full pass over the source (a fresh ``iter``), independent of :meth:`next`'s position."""
        for batch in self.source:
            yield self._as_batch(batch)


def _to_numpy_or_tensor(a: Any) -> Any:
    return a if isinstance(a, (Tensor, np.ndarray)) else np.asarray(a)


# -- scenarios of the claims -----------------------------------------------------------------------


def linear_regression(n: int = 200, p: int = 5, *, coef: Sequence[float] | None = None,
                      scales: Sequence[float] | None = None, noise: float = 0.1, n_test: int = 0,
                      seed: int = 0) -> Dataset:
    """y = X·coef + intercept + noise, with standard-normal features multiplied by ``scales``.

    A zero scale makes a zero input column: a weight the output cannot depend on.
    """
    rng = np.random.default_rng(seed)
    coef_a = np.asarray(coef if coef is not None else rng.normal(size=p), dtype=np.float64)
    scale_a = np.ones(p) if scales is None else np.asarray(scales, dtype=np.float64)
    if coef_a.shape != (p,) or scale_a.shape != (p,):
        raise ValueError(f"coef and scales must have length p={p}.")

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        Z = rng.normal(size=(m, p))
        return Z * scale_a, Z @ coef_a + 0.5 + noise * rng.normal(size=m)

    X, y = draw(n)
    X_test, y_test = draw(n_test) if n_test else (None, None)
    info = {"coef": coef_a.tolist(), "scales": scale_a.tolist(), "noise": noise, "seed": seed}
    return Dataset.from_arrays(X, y, X_test, y_test, task="regression", name="linear_regression", info=info)


def zero_column(n: int = 200, p: int = 5, column: int = 0, *, noise: float = 0.1, n_test: int = 0,
                seed: int = 0) -> Dataset:
    """Linear regression whose ``column`` is identically zero (its weight gets no data gradient)."""
    scales = np.ones(p)
    scales[column] = 0.0
    ds = linear_regression(n, p, scales=scales, noise=noise, n_test=n_test, seed=seed)
    return replace(ds, name="zero_column", info={**ds.info, "zero_column": column})


def pure_noise(n: int = 200, p: int = 20, *, task: str = "regression", n_classes: int = 3, n_test: int = 1000,
               seed: int = 0) -> Dataset:
    """Features and a target drawn independently: the best model is the null model.

    ``task`` picks the target: Gaussian (regression), Bernoulli(0.5) labels (binary) or uniform
    labels over ``n_classes`` (multiclass).
    """
    rng = np.random.default_rng(seed)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.normal(size=(m, p))
        if task == "regression":
            return X, 1.0 + rng.normal(size=m)
        if task == "binary":
            return X, rng.integers(0, 2, size=m)
        if task == "multiclass":
            return X, rng.integers(0, n_classes, size=m)
        raise ValueError(f"Unknown task {task!r}. Choose one of {', '.join(TASKS)}.")

    X, y = draw(n)
    X_test, y_test = draw(n_test) if n_test else (None, None)
    return Dataset.from_arrays(X, y, X_test, y_test, task=task, name="pure_noise",
                               info={"seed": seed, "signal": False})


def sparse_regression(n: int = 200, p: int = 50, k: int = 5, *, rho: float = 0.0, noise: float = 0.1,
                      n_test: int = 0, seed: int = 0) -> Dataset:
    """y depends on ``k`` of ``p`` features; columns are AR(1)-correlated with coefficient ``rho``."""
    rng = np.random.default_rng(seed)
    coef = np.zeros(p)
    support = rng.choice(p, size=k, replace=False)
    coef[support] = rng.choice([-1.0, 1.0], size=k) * rng.uniform(0.5, 2.0, size=k)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        Z = rng.normal(size=(m, p))
        X = np.empty_like(Z)
        X[:, 0] = Z[:, 0]
        for j in range(1, p):
            X[:, j] = rho * X[:, j - 1] + np.sqrt(1.0 - rho**2) * Z[:, j]
        return X, X @ coef + noise * rng.normal(size=m)

    X, y = draw(n)
    X_test, y_test = draw(n_test) if n_test else (None, None)
    info = {"coef": coef.tolist(), "support": sorted(int(s) for s in support), "rho": rho, "seed": seed}
    return Dataset.from_arrays(X, y, X_test, y_test, task="regression", name="sparse_regression", info=info)


SCENARIOS: Final = {
    "linear_regression": linear_regression,
    "zero_column": zero_column,
    "pure_noise": pure_noise,
    "sparse_regression": sparse_regression,
}


# -- bundled real data (shipped inside scikit-learn: no network) ----------------------------------

BUNDLED: Final = {"diabetes": "regression", "breast_cancer": "binary", "digits": "multiclass"}


def load_dataset(name: str, *, test_size: float | None = 0.25, standardize: bool = True, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> Dataset:
    """A real dataset bundled with scikit-learn: ``diabetes``, ``breast_cancer`` or ``digits``.

    Parameters
    ----------
    test_size : float or None
        Fraction held out (stratified for classes); ``None`` keeps every sample for training.
    standardize : bool
        Scale features to zero mean and unit variance, with statistics of the training part only
        (constant columns are left at zero).
    """
    from sklearn import datasets

    if name not in BUNDLED:
        raise ValueError(f"Unknown dataset {name!r}. Bundled datasets: {', '.join(BUNDLED)}.")
    bunch = getattr(datasets, f"load_{name}")()
    ds = Dataset.from_arrays(bunch.data, bunch.target, task=BUNDLED[name], dtype=dtype, name=name,
                             feature_names=[str(f) for f in getattr(bunch, "feature_names", [])] or None)
    if test_size:
        ds = ds.split(test_size, seed)
    if standardize:
        mean, std = ds.X.mean(0), ds.X.std(0)
        std = torch.where(std > 0, std, torch.ones_like(std))
        ds = replace(ds, X=(ds.X - mean) / std, X_test=None if ds.X_test is None else (ds.X_test - mean) / std)
    return ds


def from_file(path: str | Path, target: str, *, task: str | None = None, dtype: torch.dtype = torch.float64) -> Dataset:
    """Load a CSV or Parquet file whose column ``target`` is y and every other column a feature."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Data file {str(path)!r} does not exist.")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif path.suffix.lower() in (".csv", ".txt"):
        frame = pd.read_csv(path)
    else:
        raise ValueError(f"Unsupported data file {str(path)!r}: use a .csv or .parquet file.")
    if target not in frame.columns:
        raise ValueError(
            f"Target column {target!r} is not in {path.name}; its columns are: {', '.join(map(str, frame.columns))}."
        )
    X = frame.drop(columns=[target])
    non_numeric = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if non_numeric:
        raise TypeError(
            f"Feature column(s) {non_numeric} of {path.name} are not numeric; encode them as numbers first."
        )
    return Dataset.from_arrays(X, frame[target].to_numpy(), task=task, dtype=dtype, name=path.stem)
