"""Minibatch order: full batch or a seeded permutation per epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["Batches"]


class Batches:
    """Full batch, or shuffled minibatches from an explicit generator, epoch after epoch.

    Each epoch draws a permutation of the ``n`` rows from ``generator`` and hands out consecutive
    slices of ``batch_size``; the rows left over at the end of an epoch (fewer than a batch) are
    skipped. Its state (``state_dict``: the generator's, the permutation and the position) is what
    a checkpoint saves to continue the same sequence.

    Parameters
    ----------
    n : int
        Number of rows.
    batch_size : int, optional
        Rows per minibatch; None (or ``batch_size >= n``) is the full batch.
    generator : torch.Generator
        Draws the permutations.

    Examples
    --------
    >>> batches = Batches(5, 2, torch.Generator().manual_seed(0))
    >>> [len(batches.next()) for _ in range(3)], Batches(5, None, torch.Generator()).next() is None
    ([2, 2, 2], True)
    """

    def __init__(self, n: int, batch_size: int | None, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.order: Tensor | None = None
        self.pos = n

    @property
    def full(self) -> bool:
        """Whether every step sees all rows (no minibatches)."""
        return self.batch_size is None or self.batch_size >= self.n

    def next(self) -> Tensor | None:
        """The row indices of the next minibatch, shape (batch_size,); None for the full batch."""
        if self.full:
            return None
        assert self.batch_size is not None
        if self.pos + self.batch_size > self.n:
            self.order = torch.randperm(self.n, generator=self.generator)
            self.pos = 0
        assert self.order is not None
        idx = self.order[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict[str, Any]:
        """The generator's state, the epoch's permutation and the position in it."""
        return {"rng": self.generator.get_state(), "order": self.order, "pos": self.pos}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the sequence :meth:`state_dict` saved."""
        # the generator and its permutations live on the CPU, whatever device the checkpoint was loaded onto
        self.generator.set_state(state["rng"].cpu())
        order = state["order"]
        self.order, self.pos = (None if order is None else order.cpu()), int(state["pos"])
