"""Mini-batches over in-memory arrays, like `torch.utils.data.DataLoader` over a `TensorDataset`."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Optional

import numpy as np

from tinygrad_np import Tensor
from tinygrad_np import rng as _rng_module


class DataLoader:
    """Iterate over `arrays` (sharing their first axis) in mini-batches of Tensors.

    `DataLoader(x, y, batch_size=128, shuffle=True, seed=0)` yields `(x_batch, y_batch)` per batch: floating
    arrays become float32 Tensors, integer and bool arrays int64 Tensors (class indices); with a single array, the
    batch Tensor itself. Each epoch (each `for` over the loader) visits every sample exactly once, except that
    `drop_last` skips a final batch smaller than `batch_size`. With `shuffle`, the order is a new permutation every
    epoch; `seed` makes the sequence of epochs reproducible (without it, the permutations come from the generator
    that `tinygrad_np.manual_seed` seeds).

    Integer arrays must fit int64 (a uint64 value of 2**63 or more raises ValueError instead of wrapping around).

    `batch_sampler`, as in PyTorch, replaces all of that with your own batches: an iterable (iterated afresh each
    epoch) of index sequences, one per batch; it excludes `batch_size`, `shuffle` and `drop_last`.

    Each batch is gathered with one `take` per array, no per-sample Python loop; on a large dataset, whose rows are
    not in cache, `take` gathers a batch markedly faster than fancy indexing (`x[order]`).
    """

    def __init__(self, *arrays: np.ndarray, batch_size: int = 1, shuffle: bool = False, seed: Optional[int] = None,
                 drop_last: bool = False, batch_sampler: Optional[Iterable[Sequence[int]]] = None) -> None:
        if not arrays:
            raise ValueError("DataLoader: give at least one array")
        if batch_sampler is not None and (batch_size != 1 or shuffle or drop_last):
            raise ValueError("DataLoader: batch_sampler is mutually exclusive with batch_size, shuffle and drop_last")
        arrays = tuple(np.asarray(a.data if isinstance(a, Tensor) else a) for a in arrays)
        lengths = {len(a) if a.ndim else -1 for a in arrays}
        if len(lengths) != 1 or -1 in lengths:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"DataLoader: arrays must share their first axis (the samples), got shapes {shapes}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        for i, a in enumerate(arrays):
            if a.dtype.kind not in "fiub":
                raise TypeError(f"DataLoader: arrays must be numeric, got dtype {a.dtype}")
            if a.dtype.kind == "u" and a.itemsize == 8 and a.size and a.max() > np.iinfo(np.int64).max:
                # Integer batches are int64 (class indices): these values would wrap around to negative numbers.
                raise ValueError(
                    f"DataLoader: array {i} (uint64) holds {a.max()}, beyond int64's largest value "
                    f"{np.iinfo(np.int64).max}, and integer batches are int64; convert it yourself (e.g. to "
                    "float64) or map the values to smaller ones first"
                )
        self.arrays = arrays
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.batch_sampler = batch_sampler

    @property
    def num_samples(self) -> int:
        return len(self.arrays[0])

    def __len__(self) -> int:
        """The number of batches per epoch."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator:
        for index in self._batch_indices():
            if isinstance(index, slice):
                batch = tuple(Tensor(_as_batch_dtype(a[index])) for a in self.arrays)  # a slice is a free view
            else:
                index = np.asarray(index)
                if index.dtype.kind not in "iu":
                    raise TypeError(f"DataLoader: batch indices must be integers, got {index.dtype}")
                batch = tuple(Tensor(_as_batch_dtype(a.take(index, axis=0))) for a in self.arrays)
            yield batch if len(batch) > 1 else batch[0]

    def _batch_indices(self) -> Iterable:
        if self.batch_sampler is not None:
            return self.batch_sampler
        n, b = self.num_samples, self.batch_size
        order = self._permutation(n) if self.shuffle else None
        starts = range(0, len(self) * b, b)
        return (slice(i, i + b) for i in starts) if order is None else (order[i:i + b] for i in starts)

    def _permutation(self, n: int) -> np.ndarray:
        # Read the module's generator at each epoch: manual_seed() replaces it.
        rng = self._rng if self._rng is not None else _rng_module.generator()
        return rng.permutation(n)


def _as_batch_dtype(a: np.ndarray) -> np.ndarray:
    # Per batch rather than up front: uint8 images would take 8x the memory as int64.
    return a.astype(np.float32 if a.dtype.kind == "f" else np.int64, copy=False)
