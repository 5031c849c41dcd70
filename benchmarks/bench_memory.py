"""Memory of a real MNIST training run: RSS across epochs (it must stay flat), peak RSS against what the run must
hold (the dataset as float32, the model, one step's activations and gradients), and minor page faults per step.

Run it in a fresh process (run_all.py does), so that the peak belongs to this run alone:

    python -m benchmarks.bench_memory [--epochs 3]     (TINYGRAD_NP_MALLOC=off: under glibc's own thresholds)
"""
from __future__ import annotations

import argparse
import gc

import nn
from benchmarks.bench_mlp import BATCH, LR, batches, training_data
from benchmarks.common import minor_faults, peak_rss_bytes, rss_bytes, table
from tinygrad_np import Tensor, malloc

MB = 1 << 20


def run(epochs: int = 3, layers: tuple[int, ...] = (784, 128, 10)) -> str:
    start_rss = rss_bytes()
    x_train, y_train, x_test, source = training_data()
    gc.collect()
    Tensor.manual_seed(0)
    model = nn.MLP(list(layers))
    optimizer = nn.optim.SGD(model.parameters(), lr=LR)
    n_params = sum(p.numel() for p in model.parameters())

    rss_per_epoch, faults_per_step = [], []
    for epoch in range(epochs):
        faults, steps = minor_faults(), 0
        for idx in batches(len(x_train), epoch):
            loss = nn.functional.cross_entropy(model(Tensor(x_train[idx])), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
        faults_per_step.append((minor_faults() - faults) / steps)
        rss_per_epoch.append(rss_bytes())

    dataset = x_train.nbytes + y_train.nbytes + x_test.nbytes
    model_bytes = n_params * 4 * 3  # weights, gradients, and the optimizer's scratch buffer of the same size
    widths = list(layers)
    activations = BATCH * sum(widths) * 4 * 3  # inputs, pre-activations and their gradients, roughly
    needed = dataset + model_bytes + activations
    peak = peak_rss_bytes()
    rows = [
        ["interpreter + NumPy before loading", f"{start_rss / MB:.0f} MB"],
        ["what the run must hold: dataset (float32) + model + one step", f"{needed / MB:.0f} MB"],
        ["peak RSS", f"{peak / MB:.0f} MB  ({peak / needed:.2f}× what it must hold; target ≤ 1.5×)"],
        ["RSS after each epoch", ", ".join(f"{r / MB:.1f}" for r in rss_per_epoch) + " MB"],
        ["growth from first to last epoch", f"{(rss_per_epoch[-1] - rss_per_epoch[0]) / MB:+.1f} MB"],
        ["minor page faults per step, by epoch", ", ".join(f"{f:.0f}" for f in faults_per_step)],
    ]
    return table(f"Memory of an MNIST run ({'-'.join(map(str, layers))}, {epochs} epochs, {source}; "
                 f"{malloc.describe()})", ["measure", "value"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(run(args.epochs))


if __name__ == "__main__":
    main()
