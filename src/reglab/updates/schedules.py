"""Strength schedules: a penalty's λ that follows a schedule, the way a learning rate does.

:class:`StrengthScheduler` is to a :class:`~reglab.updates.Regularized` wrapper's terms what
``torch.optim.lr_scheduler.LambdaLR`` is to its learning rates: at construction and at each
``.step()`` it sets every scheduled term's strength to ``base_strength · fn(step)`` (or to
``fn(step)`` itself with ``mode="set"``), checks it, and hands it to the wrapper's step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

from reglab.penalties.base import check_strength
from reglab.updates.regularized import Regularized

__all__ = ["StrengthScheduler"]

StrengthFn = Callable[[int], float]
MODES: Final = ("multiply", "set")


class StrengthScheduler:
    """Set each term's strength from a function of the step count, as ``LambdaLR`` sets learning rates.

    Parameters
    ----------
    optimizer : Regularized
        The wrapper whose terms are scheduled.
    fn : callable(step) -> float, or a sequence of them (one per term, ``None`` for a constant term)
        One function for every term, or one per term in the wrapper's order. ``step`` counts
        ``.step()`` calls, from 0 at construction.
    mode : {"multiply", "set"}
        ``"multiply"`` (default): strength = base strength (the term's strength when the scheduler
        was built) × ``fn(step)``; ``"set"``: strength = ``fn(step)``.

    Attributes
    ----------
    base_strengths : list of float
        The terms' strengths when the scheduler was built.
    last_step : int
        The number of ``.step()`` calls so far.

    Raises
    ------
    TypeError
        If ``optimizer`` is not a :class:`~reglab.updates.Regularized`, a function is not callable,
        or a function returns something other than a real number (the error names the term).
    ValueError
        If the number of functions differs from the number of terms, or a scheduled strength (or a
        factor) is negative or not finite (the error names the term).

    Examples
    --------
    >>> import torch
    >>> from reglab import L2, Regularized
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = Regularized(torch.optim.SGD(model.parameters(), lr=0.1), model, [L2(0.01)])
    >>> sched = StrengthScheduler(opt, lambda step: 0.5 ** step)
    >>> model(torch.randn(4, 3)).square().mean().backward()
    >>> opt.step(); sched.step()
    >>> opt.terms[0].strength
    0.005
    """

    def __init__(self, optimizer: Regularized, fn: StrengthFn | Sequence[StrengthFn | None], *,
                 mode: Literal["multiply", "set"] = "multiply") -> None:
        if not isinstance(optimizer, Regularized):
            raise TypeError(f"StrengthScheduler schedules a Regularized wrapper's terms; got {type(optimizer).__name__}.")
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}. Choose one of {', '.join(MODES)}.")
        terms = optimizer.terms
        fns = [fn] * len(terms) if callable(fn) else list(fn)
        if len(fns) != len(terms):
            raise ValueError(f"fn gives {len(fns)} functions for {len(terms)} terms ({terms!r}); give one per term "
                             "(None for a constant term), or one function for all.")
        for t, f in zip(terms, fns):
            if f is not None and not callable(f):
                raise TypeError(f"The schedule for {t!r} must be a callable(step) -> float or None; "
                                f"got {type(f).__name__}.")
        self.optimizer = optimizer
        self.fns: list[StrengthFn | None] = fns
        self.mode = mode
        self.base_strengths: list[float] = [t.strength for t in terms]
        self.last_step = 0
        self._set_strengths()

    def step(self) -> None:
        """Advance one step and set the scheduled strengths (call it after ``optimizer.step()``)."""
        self.last_step += 1
        self._set_strengths()

    def strengths_at(self, step: int) -> list[float]:
        """The terms' strengths at ``step`` (checked; nothing is set)."""
        out = []
        for t, f, base in zip(self.optimizer.terms, self.fns, self.base_strengths):
            if f is None:
                out.append(base)
                continue
            what = f"the schedule of {t!r} at step {step}"
            value = check_strength(f(step), f"{'factor' if self.mode == 'multiply' else 'strength'} from {what}")
            out.append(check_strength(base * value if self.mode == "multiply" else value, f"strength from {what}"))
        return out

    def get_last_strength(self) -> list[float]:
        """The strengths set at the last step, one per term (as ``get_last_lr``)."""
        return [t.strength for t in self.optimizer.terms]

    def _set_strengths(self) -> None:
        for t, value in zip(self.optimizer.terms, self.strengths_at(self.last_step)):
            t.strength = value
        self.optimizer.refresh_strengths()

    # -- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The schedule's state as plain data (``torch.save`` / ``torch.load(weights_only=True)``);
        the functions are not saved (as with ``LambdaLR``): rebuild the scheduler with them."""
        return {"base_strengths": list(self.base_strengths), "last_step": self.last_step, "mode": self.mode}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s state and set the strengths of its step."""
        if set(state_dict) != {"base_strengths", "last_step", "mode"}:
            raise ValueError("Not a StrengthScheduler state_dict (expected keys 'base_strengths', 'last_step', 'mode').")
        bases = [float(b) for b in state_dict["base_strengths"]]
        if len(bases) != len(self.optimizer.terms):
            raise ValueError(f"The saved schedule has {len(bases)} terms; this wrapper has {len(self.optimizer.terms)}.")
        if state_dict["mode"] != self.mode:
            raise ValueError(f"The saved schedule's mode is {state_dict['mode']!r}; this scheduler's is {self.mode!r}.")
        self.base_strengths = [check_strength(b, f"base strength of {t!r}") for b, t in zip(bases, self.optimizer.terms)]
        self.last_step = int(state_dict["last_step"])
        self._set_strengths()

    def __repr__(self) -> str:
        return f"StrengthScheduler(step={self.last_step}, mode={self.mode!r}, strengths={self.get_last_strength()})"
