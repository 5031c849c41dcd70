"""One epoch of MLP training: tinygrad_np against hand-written NumPy (and PyTorch, when it is installed).

All contenders start from the same initial weights, see the same batches in the same order (batch 128, plain SGD,
float32), run in this one process under the same allocator settings, and are timed in turns (A B C A B C …); the
table gives medians and each one's ratio to the NumPy reference. After the runs, the tinygrad_np and NumPy weights
are compared: they must agree to float32 rounding, which shows both did the same work.

    python -m benchmarks.bench_mlp [--epochs 5] [--malloc default|tuned] [--layers 784,128,10]
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import nn
from benchmarks.common import interleaved, median, minor_faults, table
from benchmarks.reference_mlp import NumpyMLP
from nn import datasets
from tinygrad_np import Tensor
from tinygrad_np.malloc import tune_malloc

BATCH, LR = 128, 0.1


def training_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """MNIST's training images (float32 rows in [0, 1]) and labels, and its test images; random data of the same
    shapes when MNIST is not at hand."""
    try:
        data = datasets.mnist(normalize=True, flatten=True, download=False)
        return data.x_train, data.y_train, data.x_test, "MNIST"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        x = rng.random((70_000, 784), dtype=np.float32)
        return x[:60_000], rng.integers(0, 10, 60_000), x[60_000:], "random data (no MNIST found)"


def batches(n: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng(epoch).permutation(n)
    return [order[i:i + BATCH] for i in range(0, n - BATCH + 1, BATCH)]  # full batches only: 468 per epoch


def run(epochs: int = 5, layers: tuple[int, ...] = (784, 128, 10), malloc: str = "default") -> str:
    tuned = malloc == "tuned" and tune_malloc()
    x_all, y_all, _, source = training_data()
    Tensor.manual_seed(0)
    model = nn.MLP(list(layers))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    reference = NumpyMLP([m.weight.data for m in linears], [m.bias.data for m in linears])
    optimizer = nn.optim.SGD(model.parameters(), lr=LR)
    epoch_batches = {"tinygrad_np": 0, "numpy": 0, "pytorch": 0}

    def ours() -> None:
        for idx in batches(len(x_all), epoch_batches["tinygrad_np"]):
            loss = nn.functional.cross_entropy(model(Tensor(x_all[idx])), y_all[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        epoch_batches["tinygrad_np"] += 1

    def numpy_reference() -> None:
        for idx in batches(len(x_all), epoch_batches["numpy"]):
            reference.step(x_all[idx], y_all[idx], LR)
        epoch_batches["numpy"] += 1

    contenders = {"tinygrad_np": ours, "numpy": numpy_reference}
    torch_note = "not installed"
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        torch_model = torch.nn.Sequential(*[
            layer for i, m in enumerate(linears)
            for layer in ([torch.nn.Linear(m.in_features, m.out_features)] + ([torch.nn.ReLU()] if i < len(linears) - 1
                                                                                else []))
        ])
        with torch.no_grad():
            for tm, m in zip([t for t in torch_model if isinstance(t, torch.nn.Linear)], linears):
                tm.weight.copy_(torch.from_numpy(m.weight.data))
                tm.bias.copy_(torch.from_numpy(m.bias.data))
        torch_opt = torch.optim.SGD(torch_model.parameters(), lr=LR)
        x_torch, y_torch = torch.from_numpy(x_all), torch.from_numpy(y_all)

        def pytorch() -> None:
            for idx in batches(len(x_all), epoch_batches["pytorch"]):
                t_idx = torch.from_numpy(idx)
                loss = torch.nn.functional.cross_entropy(torch_model(x_torch[t_idx]), y_torch[t_idx])
                torch_opt.zero_grad()
                loss.backward()
                torch_opt.step()
            epoch_batches["pytorch"] += 1

        contenders["pytorch"] = pytorch
        torch_note = f"{torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        pass

    faults = {}
    for name, fn in contenders.items():  # one more epoch each, outside the timing, counting page faults
        before = minor_faults()
        fn()
        faults[name] = (minor_faults() - before) / len(batches(len(x_all), 0))
    times = interleaved(contenders, repeats=epochs, warmup=0)
    drift = max(float(np.max(np.abs(m.weight.data - w))) for m, w in zip(linears, reference.weights))
    base = median(times["numpy"])
    rows = [[name, f"{median(ts):.3f}", f"{median(ts) / base:.2f}", f"{faults[name]:.0f}"]
            for name, ts in times.items()]
    title = (f"MLP training epoch ({'-'.join(map(str, layers))}, batch {BATCH}, SGD, float32, {source}; "
             f"allocator {'tuned' if tuned else 'default'}; medians of {epochs} interleaved epochs)")
    notes = (f"\nPyTorch: {torch_note}. Largest weight difference tinygrad_np vs NumPy after "
             f"{epochs + 1} epochs: {drift:.1e} (float32 rounding; same model, same data order).")
    return table(title, ["system", "s / epoch", "× NumPy reference", "page faults / step"], rows) + notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--layers", default="784,128,10")
    parser.add_argument("--malloc", choices=["default", "tuned"], default="default")
    args = parser.parse_args()
    print(run(args.epochs, tuple(int(n) for n in args.layers.split(",")), args.malloc))


if __name__ == "__main__":
    main()
