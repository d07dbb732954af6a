"""Fixtures of the sparse-update planner tests: the tiny int8 model of tests/conftest.py and a
small learnable image task for it (class = which channel is bright, and where)."""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.sparse.contribution import Protocol
from tests.conftest import tiny_int8_model

PROTO = Protocol(epochs=1, lr=0.05, seed=0)
RATIOS = (0.5, 1.0)


def tiny_data(n: int = 80, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, n)
    x = rng.integers(0, 60, (n, 8, 8, 3))
    for i in range(n):
        x[i, :, :, y[i] % 3] += 40 * (1 + y[i] // 3)
        if y[i] >= 3:
            x[i, :4] += 50
    x = np.clip(x, 0, 255).astype(np.uint8)
    k = n * 3 // 4
    return dict(x_train=x[:k], y_train=y[:k], x_test=x[k:], y_test=y[k:])


@pytest.fixture(scope="session")
def tiny_graph():
    return tiny_int8_model()


@pytest.fixture(scope="session")
def tiny_task_data():
    return tiny_data()


@pytest.fixture(scope="session")
def plan_cache(tmp_path_factory):
    """One plan cache shared by the tests that may reuse each other's runs."""
    return tmp_path_factory.mktemp("plan-cache")
