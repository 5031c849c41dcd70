"""Per-node bookkeeping: forward + backward time per graph node, beyond the NumPy calls the node makes.

A chain of tiny (4-element) multiply and add nodes is built and backpropagated; the same NumPy calls written out by
hand are the baseline. Their difference, per node, is what the engine itself costs.
"""
from __future__ import annotations

import timeit

import numpy as np

from benchmarks.common import interleaved, table
from tinygrad_np import Tensor, jit

PAIRS = 500  # each pair is a Mul node and an Add node


def engine(a: Tensor, b: Tensor) -> None:
    y = a
    for _ in range(PAIRS):
        y = y * b + a
    y.backward(np.ones(4, np.float32))


def numpy_calls(a: np.ndarray, b: np.ndarray) -> None:
    # The arrays work the engine does for the same chain: forward a*b and +a per pair; backward the two Mul
    # gradients (g*b for y, g*y for b) and the accumulation of a's and b's gradients.
    ys = [a]
    for _ in range(PAIRS):
        ys.append(ys[-1] * b + a)
    g = np.ones(4, np.float32)
    ga, gb = np.zeros(4, np.float32), np.zeros(4, np.float32)
    for y in reversed(ys[:-1]):
        ga += g
        gb += g * y
        g = g * b


def run(repeats: int = 30) -> str:
    a = Tensor(np.full(4, 0.5, np.float32), requires_grad=True)
    b = Tensor(np.full(4, 0.9, np.float32), requires_grad=True)
    a2 = Tensor(np.full(4, 0.5, np.float32), requires_grad=True)
    b2 = Tensor(np.full(4, 0.9, np.float32), requires_grad=True)
    captured = jit(lambda: engine(a2, b2))  # the same chain, captured once and replayed
    for _ in range(3):
        captured()
    program = captured.program
    times = interleaved({"engine": lambda: engine(a, b), "numpy": lambda: numpy_calls(a.data, b.data),
                         "replay": captured, "program": program.run}, repeats)
    nodes = 2 * PAIRS
    # The fastest run, as timeit advises for micro-benchmarks: noise from other work only ever adds time.
    per_node = min(times["engine"]) / nodes * 1e6
    numpy_per_node = min(times["numpy"]) / nodes * 1e6
    replay_per_node = min(times["replay"]) / nodes * 1e6
    # the replayed program's own NumPy calls, each timed alone (what a replay cannot go below)
    bare = sum(min(timeit.Timer("f(*a, **k)", globals={"f": f, "a": a_, "k": k}).repeat(5, 20)) / 20
               for f, a_, k in program.steps) / nodes * 1e6
    rows = [["eager", f"{per_node:.2f}", f"{numpy_per_node:.2f}", f"{per_node - numpy_per_node:.2f}", "≤ 1.5"],
            ["replayed (jit)", f"{replay_per_node:.2f}", f"{bare:.2f}", f"{replay_per_node - bare:.2f}", "≤ 0.3"]]
    return table(f"Per-node overhead (µs per node, forward + backward, 4-element tensors; best of {repeats}; the "
                 f"replayed program makes {len(program.steps)} NumPy calls for {nodes} nodes)",
                 ["", "time per node", "its NumPy calls alone", "bookkeeping", "target"], rows)


if __name__ == "__main__":
    print(run())
