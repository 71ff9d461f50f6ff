"""Update rules: where a penalty term enters an optimizer step.

- :mod:`~reglab.updates.rules`: one small class per rule (when it runs, what it refuses and why);
- :mod:`~reglab.updates.regularized`: :class:`Regularized`, which wraps any torch optimizer and
  runs the rules' stages in order;
- :mod:`~reglab.updates.schedules`: :class:`StrengthScheduler`, a penalty strength that follows a
  schedule over the steps, as an LR scheduler moves the learning rate.
"""

from reglab.updates.regularized import Regularized
from reglab.updates.rules import optimizer_family
from reglab.updates.schedules import StrengthScheduler

__all__ = ["Regularized", "StrengthScheduler", "optimizer_family"]
