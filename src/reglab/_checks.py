"""Argument checks shared by every layer: one place for each check and its words.

Sample weights are checked by scikit-learn's own validation, so its messages ("Negative values in data
passed to `sample_weight`.", "Sample weights must contain at least one non-zero number.") reach the
user unchanged; the number checks say what was expected and what came.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["check_choice", "check_integer", "check_real", "check_sample_weight"]


def check_sample_weight(sample_weight: Any, n_samples: int, dtype: type = np.float64) -> np.ndarray:
    """One finite, non-negative weight per sample, not all zero, as an array of ``dtype``.

    scikit-learn's checks and words (``sklearn.utils.validation._check_sample_weight``); a number
    gives every sample that weight.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or a number
    n_samples : int
    dtype : NumPy floating type

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> check_sample_weight([1, 0, 2], 3).tolist(), check_sample_weight(2, 2).tolist()
    ([1.0, 0.0, 2.0], [2.0, 2.0])
    >>> check_sample_weight([0, 0], 2)
    Traceback (most recent call last):
    ...
    ValueError: Sample weights must contain at least one non-zero number.
    """
    from sklearn.utils.validation import _check_sample_weight

    return _check_sample_weight(sample_weight, np.empty((n_samples, 0)), dtype=dtype, ensure_non_negative=True)


def check_integer(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int, refused unless it is an integer (not a bool) of at least ``minimum``.

    Examples
    --------
    >>> check_integer(np.int64(3), "steps", 0)
    3
    >>> check_integer(0, "batch_size")
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be ≥ 1; got 0.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}; got {value}.")
    return int(value)


def check_real(value: Any, name: str, *, low: float = 0.0, low_open: bool = False, high: float = math.inf) -> float:
    """``value`` as a float, refused unless it is a finite real number (not a bool) in the range.

    The range is ``[low, high]``, or ``(low, high]`` with ``low_open``.

    Examples
    --------
    >>> check_real(0.5, "eps", low_open=True, high=1.0)
    0.5
    >>> check_real(0.0, "lr", low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: lr must be finite and > 0; got 0.0.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}.")
    v = float(value)
    if not math.isfinite(v) or v < low or (low_open and v == low) or v > high:
        bound = f"{'>' if low_open else '≥'} {low:g}" + (f" and ≤ {high:g}" if math.isfinite(high) else "")
        raise ValueError(f"{name} must be finite and {bound}; got {value!r}.")
    return v


def check_choice(value: Any, name: str, choices: tuple[Any, ...]) -> None:
    """Refuse ``value`` unless it is one of ``choices``.

    Examples
    --------
    >>> check_choice("l3", "penalty", ("l2", "l1", None))
    Traceback (most recent call last):
    ...
    ValueError: penalty must be one of 'l2', 'l1', None; got 'l3'.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
