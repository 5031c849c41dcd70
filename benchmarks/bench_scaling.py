"""Backward time against graph size: chains of 1k, 10k and 100k nodes should cost the same per node."""
from __future__ import annotations

import time

import numpy as np

from benchmarks.common import median, table
from tinygrad_np import Tensor


def chain_backward_seconds(depth: int) -> float:
    x = Tensor(np.ones(4, np.float32), requires_grad=True)
    c = Tensor(np.full(4, 1.0001, np.float32))
    y = x
    for _ in range(depth):
        y = y * c
    start = time.perf_counter()
    y.backward(np.ones(4, np.float32))
    return time.perf_counter() - start


def run(repeats: int = 5) -> str:
    rows = []
    base = None
    for depth in (1_000, 10_000, 100_000):
        seconds = median([chain_backward_seconds(depth) for _ in range(repeats if depth < 100_000 else 3)])
        per_node = seconds / depth * 1e6
        base = base or per_node
        rows.append([f"{depth:,}", f"{seconds * 1e3:.1f}", f"{per_node:.2f}", f"{per_node / base:.2f}"])
    return table("Backward time against graph depth (a chain of Mul nodes)",
                 ["nodes", "backward ms", "µs per node", "per-node cost vs 1k"], rows)


if __name__ == "__main__":
    print(run())
