"""The random generator behind `rand`, `randn`, `uniform`, dropout and the initialisers: one per process, reseeded
by `manual_seed`."""
from __future__ import annotations

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind `rand`, `randn`, `uniform` and dropout, for reproducible runs."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The current generator (`manual_seed` replaces it: read it at each use, never keep it)."""
    return _rng
