"""Shared test fixtures and settings: kept small on purpose."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, settings

# modest example counts: the whole suite runs on two shared cores
settings.register_profile("reglab", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("reglab")

# the tests use small tensors on two shared, often oversubscribed cores: torch's intra-op threads only
# add spin-waiting there (binary_cross_entropy_with_logits on 569 samples: 0.1 ms on one thread,
# 7-12 ms on two under load)
torch.set_num_threads(1)
