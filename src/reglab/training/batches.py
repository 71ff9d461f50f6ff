"""Minibatch order: full batch or a seeded permutation per epoch."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = []


class _Batches:
    """Full batch, or shuffled minibatches from an explicit generator, epoch after epoch."""

    def __init__(self, n: int, batch_size: int | None, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self._order: Tensor | None = None
        self._pos = n

    @property
    def full(self) -> bool:
        return self.batch_size is None or self.batch_size >= self.n

    def next(self) -> Tensor | None:
        if self.full:
            return None
        assert self.batch_size is not None
        if self._pos + self.batch_size > self.n:
            self._order = torch.randperm(self.n, generator=self.generator)
            self._pos = 0
        assert self._order is not None
        idx = self._order[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx
