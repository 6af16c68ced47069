"""Engine-layer fixtures.

The engine tests use tiny models and batches; for those, torch's intra-op thread pool costs
more than it gives, and on a busy 2-core machine (other test layers, a running app) its
spinning threads make a 20 ms step take a second. One thread keeps the layer fast and its
timing assertions (cancel within a second) meaningful. Restored after each module.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

