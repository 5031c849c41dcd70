"""Draw autograd graphs with tinygrad_np.viz: a micrograd-sized scalar expression, and one MLP training step.

    python3 examples/visualize_graph.py                 # writes the SVGs into docs/images/
    python3 examples/visualize_graph.py --out-dir out   # ... or anywhere else

Writes expression.svg (values and gradients of L = (a·b + c)·f) and mlp_step.svg (a 2-layer MLP's forward pass into
the fused SoftmaxCrossEntropy node, with gradients after backward). Rendering needs the Graphviz binaries
(apt-get install graphviz) and the graphviz package (pip install -e ".[viz]"); without them the script writes the
DOT text instead (expression.dot, mlp_step.dot), which any Graphviz viewer shows.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import nn  # noqa: E402
from tinygrad_np import Tensor  # noqa: E402
from tinygrad_np.viz import draw_graph, to_dot  # noqa: E402


def expression() -> tuple[Tensor, dict]:
    """micrograd's example: L = (a·b + c)·f, every value named, gradients kept on every node."""
    a, b = Tensor(2.0, requires_grad=True), Tensor(-3.0, requires_grad=True)
    c, f = Tensor(10.0, requires_grad=True), Tensor(-2.0, requires_grad=True)
    e = a * b
    d = e + c
    L = d * f
    for t in (e, d, L):
        t.retain_grad()  # non-leaf gradients are kept only when asked, as in PyTorch
    L.backward(retain_graph=True)  # keep the graph, so that it can be drawn after backward
    return L, {"names": {"a": a, "b": b, "c": c, "f": f, "e = a·b": e, "d = e + c": d, "L = d·f": L}}


def mlp_step() -> tuple[Tensor, dict]:
    """One training step's graph: a 2-layer MLP on a batch of 4, into the fused cross-entropy, after backward."""
    Tensor.manual_seed(0)
    model = nn.MLP([3, 5, 2])
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    y = Tensor(np.array([0, 1, 1, 0]))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward(retain_graph=True)
    return loss, {"params": model, "names": {"x": x, "loss": loss}, "group_by_module": True, "hide_shape_ops": True,
                  "rankdir": "TB", "legend": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        import graphviz  # noqa: F401
        can_render = shutil.which("dot") is not None
    except ImportError:
        can_render = False
    if not can_render:
        print('Graphviz not found (apt-get install graphviz; pip install -e ".[viz]"): writing .dot files only')

    for name, (out, options) in {"expression": expression(), "mlp_step": mlp_step()}.items():
        if can_render:
            path = args.out_dir / f"{name}.svg"
            draw_graph(out, path, **options)
        else:
            path = args.out_dir / f"{name}.dot"
            path.write_text(to_dot(out, **options))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
