import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from tinygrad_np import Tensor

REPO = Path(__file__).resolve().parents[1]

# CI (CI=true) draws the same hypothesis examples every run, so that a landing never depends on which random
# examples a run happened to draw; local runs keep drawing new ones (and keep the failures they find in
# .hypothesis/, to replay). A failure CI would then miss is found, and fixed, in development.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


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
