import os

import numpy as np
import pytest

# Tests run offline: nothing may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def rng():
    """numpy RNG for *test inputs only* (never for shares, masks or keys)."""
    return np.random.default_rng(12345)
