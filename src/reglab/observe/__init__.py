"""The observatory: record what every weight does while training, and say what it did.

- :mod:`~reglab.observe.record`: :class:`Recorder` and :func:`watch` (step hooks, compiled kernel);
- :mod:`~reglab.observe.trajectory`: :class:`Trajectory` (the recorded arrays, saved safely);
- :mod:`~reglab.observe.diagnosis`: :func:`diagnose` and :class:`Diagnosis`.
"""

from reglab.observe.diagnosis import CLASSES, Diagnosis, diagnose, null_model_test
from reglab.observe.record import Recorder, watch
from reglab.observe.trajectory import SUMMARY_FIELDS, Trajectory

__all__ = ["CLASSES", "Diagnosis", "Recorder", "SUMMARY_FIELDS", "Trajectory", "diagnose", "null_model_test", "watch"]
