"""Train a tiny MLP (2 inputs -> hidden tanh layer -> 2 class scores) to solve XOR, the classic problem no
single linear layer can solve, and print its truth table.

    python examples/xor.py
    python examples/xor.py --plot xor.png     # also draw the decision boundary (needs matplotlib)
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

import numpy as np
import training  # examples/training.py: also makes `nn` importable from a source checkout

import nn
from nn.datasets import xor
from tinygrad_np import Tensor, no_grad


def train(hidden: int = 8, steps: int = 300, lr: float = 0.05, seed: int = 0, log=None) -> tuple[nn.Module, list]:
    """Full-batch Adam on the four XOR points; returns the model and the loss at every step."""
    Tensor.manual_seed(seed)
    model = nn.MLP([2, hidden, 2], activation=nn.Tanh)
    optimizer = nn.optim.Adam(model.parameters(), lr=lr)
    x, y = (Tensor(a) for a in xor())
    losses = []
    for step in range(1, steps + 1):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if log is not None and (step % max(steps // 5, 1) == 0 or step == 1):
            log(f"step {step:>{len(str(steps))}}/{steps}  loss {losses[-1]:.4f}")
    return model, losses


def probabilities(model: nn.Module, points: np.ndarray) -> np.ndarray:
    """P(class 1) = P(x1 XOR x2 = 1) for each row of `points`."""
    with no_grad():
        return model(Tensor(points.astype(np.float32))).softmax(axis=1).data[:, 1]


def truth_table(model: nn.Module) -> tuple[str, float]:
    """The table (inputs, XOR, prediction, P(1)) as text, and the accuracy."""
    x, y = xor()
    p1 = probabilities(model, x)
    predicted = (p1 > 0.5).astype(np.int64)
    rows = [" x1  x2 | xor | predicted  P(xor=1)", "--------+-----+--------------------"]
    rows += [f" {int(a)}   {int(b)}  |  {t}  |     {p}      {q:.4f}" for (a, b), t, p, q in zip(x, y, predicted, p1)]
    return "\n".join(rows), float((predicted == y).mean())


def plot_decision_boundary(model: nn.Module, path: str) -> bool:
    """P(class 1) over the plane with the 0.5 contour and the four points; False if matplotlib is missing."""
    plt = training.pyplot()
    if plt is None:
        return False
    grid = np.linspace(-0.5, 1.5, 201)
    gx, gy = np.meshgrid(grid, grid)
    p1 = probabilities(model, np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    filled = ax.contourf(gx, gy, p1, levels=np.linspace(0, 1, 21), cmap="RdBu_r")
    ax.contour(gx, gy, p1, levels=[0.5], colors="black", linewidths=2)
    x, y = xor()
    ax.scatter(x[:, 0], x[:, 1], c=["tab:blue" if t == 0 else "tab:red" for t in y], s=150, edgecolors="black")
    fig.colorbar(filled, label="P(x1 XOR x2 = 1)")
    ax.set(xlabel="x1", ylabel="x2", title="XOR: decision boundary (black) of the trained MLP")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


MAX_HIDDEN = 4096


def hidden_units(text: str) -> int:
    """An argparse type: 1 to MAX_HIDDEN units."""
    value = training.positive_int(text)
    if value > MAX_HIDDEN:
        raise argparse.ArgumentTypeError(f"at most {MAX_HIDDEN} units (four points need far fewer), got {text!r}")
    return value


def main(argv: Optional[list[str]] = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=training.HelpFormatter)
    parser.add_argument("--hidden", type=hidden_units, default=8, help="units in the hidden tanh layer")
    parser.add_argument("--steps", type=training.positive_int, default=300, help="full-batch Adam steps")
    parser.add_argument("--lr", type=training.positive_float, default=0.05, help="learning rate")
    parser.add_argument("--seed", type=training.non_negative_int, default=0, help="seeds the initial weights")
    parser.add_argument("--plot", metavar="FILE.png", default=None, help="draw the decision boundary to this file")
    args = parser.parse_args(argv)

    model, _ = train(args.hidden, args.steps, args.lr, args.seed, log=print)
    table, accuracy = truth_table(model)
    print(f"\n{table}\n\naccuracy: {100 * accuracy:.0f}%")
    if args.plot:
        if plot_decision_boundary(model, args.plot):
            print(f"wrote {args.plot}")
        else:
            print("matplotlib is not installed: no plot (pip install matplotlib)")
    return accuracy


if __name__ == "__main__":
    sys.exit(training.run_cli("xor.py", main))  # an unwritable --plot path: one line, not a traceback
