"""Update rules: where a penalty term enters an optimizer step.

- :mod:`~reglab.updates.rules`: one small class per rule (when it runs, what it refuses and why);
- :mod:`~reglab.updates.regularized`: :class:`Regularized`, which wraps any torch optimizer and
  runs the rules' stages in order.
"""

from reglab.updates.regularized import Regularized
from reglab.updates.rules import optimizer_family

__all__ = ["Regularized", "optimizer_family"]
