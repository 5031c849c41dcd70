"""Mini-batches over in-memory arrays, like `torch.utils.data.DataLoader` over a `TensorDataset`."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import numpy as np

import tinygrad_np.tensor as _tensor
from tinygrad_np import Tensor


class DataLoader:
    """Iterate over `arrays` (sharing their first axis) in mini-batches of Tensors.

    `DataLoader(x, y, batch_size=128, shuffle=True, seed=0)` yields `(x_batch, y_batch)` per batch: floating
    arrays become float32 Tensors, integer and bool arrays int64 Tensors (class indices); with a single array, the
    batch Tensor itself. Each epoch (each `for` over the loader) visits every sample exactly once, except that
    `drop_last` skips a final batch smaller than `batch_size`. With `shuffle`, the order is a new permutation every
    epoch; `seed` makes the sequence of epochs reproducible (without it, the permutations come from the generator
    that `tinygrad_np.manual_seed` seeds). Each batch is gathered with one fancy index: no per-sample Python loop.
    """

    def __init__(self, *arrays: np.ndarray, batch_size: int = 1, shuffle: bool = False, seed: Optional[int] = None,
                 drop_last: bool = False) -> None:
        if not arrays:
            raise ValueError("DataLoader: give at least one array")
        arrays = tuple(np.asarray(a.data if isinstance(a, Tensor) else a) for a in arrays)
        lengths = {len(a) if a.ndim else -1 for a in arrays}
        if len(lengths) != 1 or -1 in lengths:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"DataLoader: arrays must share their first axis (the samples), got shapes {shapes}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        for a in arrays:
            if a.dtype.kind not in "fiub":
                raise TypeError(f"DataLoader: arrays must be numeric, got dtype {a.dtype}")
        self.arrays = arrays
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self._rng = np.random.default_rng(seed) if seed is not None else None

    @property
    def num_samples(self) -> int:
        return len(self.arrays[0])

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator:
        n, b = self.num_samples, self.batch_size
        order = self._permutation(n) if self.shuffle else None
        for start in range(0, len(self) * b, b):
            index = slice(start, start + b) if order is None else order[start:start + b]  # a slice is a free view
            batch = tuple(Tensor(_as_batch_dtype(a[index])) for a in self.arrays)
            yield batch if len(batch) > 1 else batch[0]

    def _permutation(self, n: int) -> np.ndarray:
        # Read the module's generator at each epoch: manual_seed() replaces it.
        rng = self._rng if self._rng is not None else _tensor._rng
        return rng.permutation(n)


def _as_batch_dtype(a: np.ndarray) -> np.ndarray:
    # Per batch rather than up front: uint8 images would take 8x the memory as int64.
    return a.astype(np.float32 if a.dtype.kind == "f" else np.int64, copy=False)
