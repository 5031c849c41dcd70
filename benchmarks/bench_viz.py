"""Drawing cost: `to_dot` on a graph of 10,000+ nodes, beside the forward pass that built the graph.

The graph is a deep chain of small layers y = tanh(y · w_i + 0.1) on 16-element tensors (so every label takes the
min / mean / max path), with each w_i named as a parameter: 8 drawn nodes per layer. It is drawn before backward
(values only) and after `backward(retain_graph=True)` (values and gradients). Run: python3 -m benchmarks.bench_viz
"""
from __future__ import annotations

import numpy as np

from benchmarks.common import interleaved, median, table
from tinygrad_np import Tensor
from tinygrad_np.viz import to_dot

LAYERS = 1250  # 8 nodes each, plus the input: 10,001 nodes


def build(x: Tensor, weights: list[Tensor]) -> Tensor:
    y = x
    for w in weights:
        y = (y * w + 0.1).tanh()
    return y.sum()


def run(repeats: int = 7) -> str:
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal(16, dtype=np.float32), requires_grad=True)
    weights = [Tensor(rng.uniform(0.5, 1.5, 16).astype(np.float32), requires_grad=True) for _ in range(LAYERS)]
    params = {f"layers.{i}.weight": w for i, w in enumerate(weights)}
    out = build(x, weights)
    dot = to_dot(out, params=params)
    nodes = dot.count(" [label=")
    times = interleaved({"forward": lambda: build(x, weights), "to_dot": lambda: to_dot(out, params=params)}, repeats)
    out.backward(retain_graph=True)
    assert "grad" in to_dot(out, params=params)
    after = interleaved({"to_dot": lambda: to_dot(out, params=params)}, repeats)["to_dot"]
    fwd = median(times["forward"])
    rows = [
        [f"{nodes:,}", graph, f"{median(t) * 1e3:.0f}", f"{median(t) / nodes * 1e6:.1f}", f"{median(t) / fwd:.1f}×"]
        for graph, t in (("before backward", times["to_dot"]), ("after backward (with grads)", after))
    ]
    return table(f"to_dot on a {nodes:,}-node graph (median of {repeats}; forward pass that built it: "
                 f"{fwd * 1e3:.0f} ms)", ["nodes", "graph", "to_dot ms", "µs per node", "× the forward pass"], rows)


if __name__ == "__main__":
    print(run())
