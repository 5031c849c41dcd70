import os
from pathlib import Path

import numpy as np
import pytest

from tinygrad_np import Tensor

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """Where real MNIST lives for tests: $TINYGRAD_NP_DATA, else ../shared/data beside the checkout. Made absolute,
    because tests link to these files from temporary folders, and the README suggests a relative path."""
    return Path(os.environ.get("TINYGRAD_NP_DATA", REPO.parent / "shared" / "data")).absolute()


@pytest.fixture
def mnist_dir() -> Path:
    d = data_root() / "mnist"
    if not (d / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found in {d} (set TINYGRAD_NP_DATA)")
    return d


@pytest.fixture(autouse=True)
def _seed():
    Tensor.manual_seed(0)
    np.random.seed(0)
