"""This engine against an earlier commit of itself, side by side in one process: per-node overhead and MLP training.

The earlier commit is exported (`git archive`) into a temporary folder and its packages renamed (`tinygrad_np` →
`tinygrad_np_old`, `nn` → `nn_old`), so both import into this process and take turns, round by round in a shuffled
order (benchmarks/common.py). Reported: the median of the per-round time ratios new/old, with quartiles.

    python -m benchmarks.bench_vs_baseline [--rev 240ce6c] [--rounds 40]

240ce6c is the last engine before higher-order derivatives, in-place ops and version counters (the default).
"""
from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import interleaved, median, quantile, table

ROOT = Path(__file__).resolve().parent.parent


def export_baseline(rev: str, into: Path) -> None:
    """`rev`'s tinygrad_np and nn under new names in `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "tinygrad_np", "nn"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "tinygrad_np").rename(into / "tinygrad_np_old")
    (into / "nn").rename(into / "nn_old")
    for path in into.rglob("*.py"):
        text = path.read_text()
        text = re.sub(r"\btinygrad_np\b", "tinygrad_np_old", text)
        text = re.sub(r"\b(from|import) nn\b", r"\1 nn_old", text)
        path.write_text(text)


def chain(tensor_cls, pairs: int = 500):
    a = tensor_cls(np.full(4, 0.5, np.float32), requires_grad=True)
    b = tensor_cls(np.full(4, 0.9, np.float32), requires_grad=True)
    seed = np.ones(4, np.float32)

    def run() -> None:
        y = a
        for _ in range(pairs):
            y = y * b + a
        y.backward(seed)
        a.grad = b.grad = None

    return run


def mlp_steps(tensor_mod, nn_mod, x: np.ndarray, y: np.ndarray, steps: int = 20):
    tensor_mod.manual_seed(0)
    model = nn_mod.Sequential(nn_mod.Linear(784, 128), nn_mod.ReLU(), nn_mod.Linear(128, 10))
    opt = nn_mod.optim.SGD(model.parameters(), lr=0.1)
    batches = [(x[i:i + 128], y[i:i + 128]) for i in range(0, 128 * steps, 128)]
    Tensor = tensor_mod.Tensor

    def run() -> None:
        for xb, yb in batches:
            loss = nn_mod.functional.cross_entropy(model(Tensor(xb)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return run


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="240ce6c", help="the commit to compare with (default: 240ce6c, the last "
                        "first-order-only engine)")
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds (default: 40)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp())
    export_baseline(args.rev, tmp)
    sys.path.insert(0, str(tmp))
    old_t, old_nn = importlib.import_module("tinygrad_np_old"), importlib.import_module("nn_old")
    import nn as new_nn
    import tinygrad_np as new_t

    rng = np.random.default_rng(0)
    x = rng.random((128 * 20, 784), dtype=np.float32)
    y = rng.integers(0, 10, 128 * 20)
    rows = []
    for name, new, old in [
        ("per-node chain (1,000 nodes)", chain(new_t.Tensor), chain(old_t.Tensor)),
        ("MLP 784-128-10, 20 SGD steps", mlp_steps(new_t, new_nn, x, y), mlp_steps(old_t, old_nn, x, y)),
    ]:
        times = interleaved({"new": new, "old": old}, args.rounds, warmup=2)
        ratios = [n / o for n, o in zip(times["new"], times["old"])]
        rows.append([name, f"{median(times['new']) * 1e3:.2f}", f"{median(times['old']) * 1e3:.2f}",
                     f"{median(ratios):.3f}", f"{quantile(ratios, 0.25):.3f}–{quantile(ratios, 0.75):.3f}"])
    return table(f"This engine against {args.rev} (ms per run, medians of {args.rounds} interleaved rounds)",
                 ["workload", "new", args.rev, "new / old", "quartiles"], rows)


if __name__ == "__main__":
    print(main())
