"""One epoch of MLP training: tinygrad_np against hand-written NumPy (and PyTorch, when it is installed).

All contenders start from the same initial weights, see the same batches in the same order (batch 128, plain SGD,
float32) and run in this one process under the same allocator settings. Each epoch is cut into SEGMENTS pieces and
the contenders take turns piece by piece (A B C, then a shuffled order, …): on this shared VM the machine's speed
drifts by 10-30% over seconds, and a ratio of two runs a few milliseconds apart cancels that drift where whole-epoch
turns do not. The table gives each one's median time per epoch and the median (and quartiles) of its per-segment
ratio to the NumPy reference.

tinygrad_np runs twice, on two copies of the model: once as users write it (batches from `nn.DataLoader`, as in
examples/mnist.py) and once gathering each batch with `x[idx]` exactly like the reference, which separates what the
engine costs from what the loader saves. Afterwards the weights are compared with NumPy's: they must agree to float32
rounding, which shows all did the same work.

    python -m benchmarks.bench_mlp [--epochs 5] [--layers 784,128,10]
    TINYGRAD_NP_MALLOC=off python -m benchmarks.bench_mlp      # under glibc's own (dynamic) allocator thresholds
"""
from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

import nn
import tinygrad_np as tinygrad_np_module
from benchmarks.common import interleaved, median, minor_faults, quantile, table
from benchmarks.reference_mlp import NumpyMLP
from nn import datasets
from nn.data import DataLoader
from tinygrad_np import Tensor, malloc

BATCH, LR = 128, 0.1
SEGMENTS = 6  # an epoch is timed in this many interleaved pieces: ratios of neighbours in time cancel machine drift


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


def segments(n: int, epoch: int) -> list[list[np.ndarray]]:
    """One epoch's batches in SEGMENTS consecutive runs: the unit of interleaving."""
    order = batches(n, epoch)
    size = -(-len(order) // SEGMENTS)
    return [order[i:i + size] for i in range(0, len(order), size)]


def run(epochs: int = 5, layers: tuple[int, ...] = (784, 128, 10)) -> str:
    x_all, y_all, _, source = training_data()
    cross_entropy = nn.functional.cross_entropy
    Tensor.manual_seed(0)
    model = nn.MLP(list(layers))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    initial = [(m.weight.data.copy(), m.bias.data.copy()) for m in linears]
    reference = NumpyMLP(*zip(*initial))

    def schedule() -> Iterator[list[np.ndarray]]:  # each contender's own walk through epochs and their segments
        for epoch in itertools.count():
            yield from segments(len(x_all), epoch)

    def tinygrad_np(gather: str) -> Callable[[], None]:
        """Our training loop, on its own copy of the initial model. 'loader' batches with nn.DataLoader, as
        examples/mnist.py does; 'index' gathers with x[idx] exactly like the reference."""
        net = nn.MLP(list(layers))
        for m, (w, b) in zip((m for m in net.modules() if isinstance(m, nn.Linear)), initial):
            m.weight.data[...], m.bias.data[...] = w, b
        optimizer = nn.optim.SGD(net.parameters(), lr=LR)
        nets.append(net)
        walk = schedule()

        def train(pairs: Iterable[tuple[Tensor, Any]]) -> None:
            for x, y in pairs:
                loss = cross_entropy(net(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        if gather == "loader":
            return lambda: train(DataLoader(x_all, y_all, batch_sampler=next(walk)))
        if gather == "captured":  # the same step, captured once and replayed (tinygrad_np.jit)
            @tinygrad_np_module.jit
            def step(x: Tensor, y: np.ndarray) -> None:
                loss = cross_entropy(net(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

            def replay_segment() -> None:
                for idx in next(walk):
                    step(Tensor(x_all[idx]), y_all[idx])

            return replay_segment
        return lambda: train((Tensor(x_all[idx]), y_all[idx]) for idx in next(walk))

    nets: list[nn.MLP] = []
    reference_walk = schedule()

    def numpy_reference() -> None:
        for idx in next(reference_walk):
            reference.step(x_all[idx], y_all[idx], LR)

    floor_walk = schedule()
    w1, w2 = (w.copy() for w, _ in initial[:2]) if len(initial) == 2 else (None, None)

    def gemm_floor() -> None:
        """Only the matrix products of each step, at the real shapes (forward 2, backward 3): no Python, no
        elementwise work: what no implementation of this training loop can go below."""
        for idx in next(floor_walk):
            x = x_all[idx]
            h = x @ w1.T
            z = h @ w2.T
            dh = z @ w2
            np.matmul(z.T, h)
            np.matmul(dh.T, x)

    contenders = {"tinygrad_np": tinygrad_np("loader"), "tinygrad_np, x[idx] gather": tinygrad_np("index"),
                  "tinygrad_np, captured (jit)": tinygrad_np("captured"), "numpy": numpy_reference}
    if w1 is not None:
        contenders["matrix products only (floor)"] = gemm_floor
    steps = len(batches(len(x_all), 0))
    faults = {name: epoch_faults(fn, steps) for name, fn in contenders.items()}  # one epoch each, outside the timing
    times = interleaved(contenders, repeats=epochs * SEGMENTS, warmup=0)
    drift = max(float(np.max(np.abs(m.weight.data - w))) for net in nets for m, w in
                zip((m for m in net.modules() if isinstance(m, nn.Linear)), reference.weights))
    rows = [result_row(name, times[name], times["numpy"], faults[name]) for name in contenders]

    pytorch, torch_note = pytorch_contender(initial, x_all, y_all, schedule())
    if pytorch is not None:
        # PyTorch takes turns with NumPy by whole epochs, apart from the rest: its OpenMP threads keep spinning for
        # a while after each run, which would slow whoever ran next in a fine-grained interleave.
        faults["pytorch"] = epoch_faults(pytorch, steps)

        def numpy_epoch() -> None:
            for _ in range(SEGMENTS):
                numpy_reference()

        whole = interleaved({"numpy": numpy_epoch, "pytorch": lambda: [pytorch() for _ in range(SEGMENTS)]},
                            repeats=epochs, warmup=0)
        rows.append(result_row("pytorch", whole["pytorch"], whole["numpy"], faults["pytorch"], per_epoch=1))
    title = (f"MLP training epoch ({'-'.join(map(str, layers))}, batch {BATCH}, SGD, float32, {source}; "
             f"{malloc.describe()}; {epochs} epochs, each run in {SEGMENTS} interleaved "
             "segments)")
    notes = (f"\nRatios are medians (and quartiles) of the per-segment time ratio to NumPy over {epochs * SEGMENTS} "
             f"segments; PyTorch ({torch_note}) is timed against NumPy in whole epochs instead, separately. Largest "
             f"weight difference tinygrad_np vs NumPy after {epochs + 1} epochs: {drift:.1e} (float32 rounding; "
             "same model, same data order).")
    return table(title, ["system", "s / epoch", "× NumPy reference", "quartiles", "page faults / step"], rows) + notes


def epoch_faults(segment: Callable[[], object], steps: int) -> float:
    """Minor page faults per step over one epoch of `segment` runs."""
    before = minor_faults()
    for _ in range(SEGMENTS):
        segment()
    return (minor_faults() - before) / steps


def result_row(name: str, times: list[float], numpy_times: list[float], faults: float, per_epoch: int = SEGMENTS
               ) -> list[str]:
    """A table row: median seconds per epoch, and the median and quartiles of the run-by-run ratio to NumPy."""
    epoch = [sum(times[i:i + per_epoch]) for i in range(0, len(times), per_epoch)]
    ratios = [t / b for t, b in zip(times, numpy_times)]
    return [name, f"{median(epoch):.3f}", f"{median(ratios):.3f}",
            f"{quantile(ratios, 0.25):.3f}–{quantile(ratios, 0.75):.3f}", f"{faults:.0f}"]


def pytorch_contender(initial: list[tuple[np.ndarray, np.ndarray]], x_all: np.ndarray, y_all: np.ndarray,
                      walk: Iterator[list[np.ndarray]]) -> tuple[Callable[[], None] | None, str]:
    """The same MLP in PyTorch, from the same weights, over the same segments; (None, why) without PyTorch."""
    try:
        import torch
    except ImportError:
        return None, "not installed"
    torch.set_num_threads(os.cpu_count() or 1)
    layers: list[Any] = []
    for w, b in initial:
        linear = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x_torch, y_torch = torch.from_numpy(x_all), torch.from_numpy(y_all)

    def pytorch() -> None:
        for idx in next(walk):
            t_idx = torch.from_numpy(idx)
            loss = torch.nn.functional.cross_entropy(model(x_torch[t_idx]), y_torch[t_idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return pytorch, f"{torch.__version__}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--layers", default="784,128,10")
    args = parser.parse_args()
    print(run(args.epochs, tuple(int(n) for n in args.layers.split(","))))


if __name__ == "__main__":
    main()
