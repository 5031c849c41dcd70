"""Convolutions: conv2d forward + backward, and CNN training steps, against hand-written NumPy (and PyTorch, when it
is installed).

The NumPy reference is `benchmarks/reference_cnn.py` (im2col with `as_strided`, one matrix product per pass, col2im
over the kernel offsets, max-pooling by strided slices). All contenders run in this one process under the same
allocator settings and thread counts, timed in turns (A B C, C A B, …); the tables give medians and ratios. The
order is shuffled every round because PyTorch's OpenMP threads keep spinning for a while after it returns, which
slowed whatever ran right after it (by 3x, measured on a 1 ms convolution): in a fixed order that is always the
same contender. The CNN contenders start from the same weights and see the same batches; afterwards the tinygrad_np
and NumPy weights are compared, which shows that both did the same work.

    python -m benchmarks.bench_conv [--repeats 30] [--steps 20]
    TINYGRAD_NP_MALLOC=off python -m benchmarks.bench_conv     # under glibc's own (dynamic) allocator thresholds
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python -m benchmarks.bench_conv     # everyone on one thread
"""
from __future__ import annotations

import argparse
import os
import random
from typing import Callable

import numpy as np

import nn
import tinygrad_np
from benchmarks import reference_cnn
from benchmarks.common import interleaved, median, table
from nn import datasets
from nn.conv import Conv2d, MaxPool2d
from tinygrad_np import Tensor, malloc

# (batch, C_in, C_out, height = width): the MNIST CNN's two layers, and the second one at full resolution
CONV_SHAPES = [(64, 1, 16, 28), (64, 16, 32, 14), (64, 16, 32, 28)]
BATCH, LR, CHANNELS = 64, 0.05, (16, 32)


def _torch():
    try:
        import torch  # its thread count: OMP_NUM_THREADS, else one per core
    except ImportError:
        return None
    return torch


def shuffled_rounds(contenders: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per run of each contender, over `repeats` rounds of one run each in a shuffled order."""
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    order, times = list(contenders), {name: [] for name in contenders}
    shuffle = random.Random(0).shuffle
    for _ in range(repeats):
        shuffle(order)
        for name, seconds in interleaved({name: contenders[name] for name in order}, 1, warmup=0).items():
            times[name] += seconds
    return {name: median(ts) for name, ts in times.items()}


def conv_contenders(n: int, c_in: int, c_out: int, side: int, torch) -> dict:
    """One conv2d forward + backward (3x3, padding 1) on the same random data, as each contender does it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c_in, side, side), dtype=np.float32)
    w = rng.standard_normal((c_out, c_in, 3, 3), dtype=np.float32) * 0.1
    b = rng.standard_normal(c_out, dtype=np.float32) * 0.1
    g = rng.standard_normal((n, c_out, side, side), dtype=np.float32)
    need_dx = c_in > 1  # the first layer's input is the data: nobody needs its gradient
    xt, wt, bt = Tensor(x, requires_grad=need_dx), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)

    def ours() -> None:
        xt.grad = wt.grad = bt.grad = None
        xt.conv2d(wt, bt, padding=1).backward(g)

    def numpy_reference() -> None:
        out, cache = reference_cnn.conv_forward(x, w, b, pad=1)
        reference_cnn.conv_backward(g, cache, need_dx=need_dx)

    contenders = {"tinygrad_np": ours, "numpy": numpy_reference}
    if torch is not None:
        tx = torch.tensor(x, requires_grad=need_dx)
        tw, tb, tg = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True), torch.tensor(g)

        def pytorch() -> None:
            tx.grad = tw.grad = tb.grad = None
            torch.nn.functional.conv2d(tx, tw, tb, padding=1).backward(tg)

        contenders["pytorch"] = pytorch
    return contenders


def conv_table(repeats: int, torch) -> str:
    rows = []
    for n, c_in, c_out, side in CONV_SHAPES:
        contenders = conv_contenders(n, c_in, c_out, side, torch)
        times = shuffled_rounds(contenders, repeats, warmup=2)
        row = [f"{n}x{c_in}x{side}x{side} → {c_out}" + ("" if c_in > 1 else " (no dx)")]
        row += [f"{1e3 * t:.2f}" for t in times.values()]
        row.append(f"{times['tinygrad_np'] / times['numpy']:.2f}")
        if torch is not None:
            row.append(f"{times['tinygrad_np'] / times['pytorch']:.2f}")
        rows.append(row)
    headers = ["conv 3x3, padding 1", *[f"{k} ms" for k in contenders], "× NumPy"]
    return table(f"conv2d forward + backward (float32; medians of {repeats} interleaved runs)",
                 headers + (["× PyTorch"] if torch is not None else []), rows)


def training_batches(steps: int) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    try:
        data = datasets.mnist(normalize=True, download=False)
        x, y, source = data.x_train.reshape(-1, 1, 28, 28), data.y_train, "MNIST"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        x, y, source = rng.random((steps * BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, steps * BATCH), \
            "random data (no MNIST found)"
    xs = [np.ascontiguousarray(x[i * BATCH:(i + 1) * BATCH]) for i in range(steps)]
    ys = [y[i * BATCH:(i + 1) * BATCH].astype(np.int64) for i in range(steps)]
    return xs, ys, source


def cnn_table(repeats: int, steps: int, torch) -> str:
    xs, ys, source = training_batches(steps)
    Tensor.manual_seed(0)
    c1, c2 = CHANNELS
    model = nn.Sequential(Conv2d(1, c1, 3, padding=1), nn.ReLU(), MaxPool2d(2), Conv2d(c1, c2, 3, padding=1),
                          nn.ReLU(), MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * 7 * 7, 10))
    params = [p.data for p in model.parameters()]  # w1, b1, w2, b2, w3, b3: the reference's order
    captured_model = nn.Sequential(Conv2d(1, c1, 3, padding=1), nn.ReLU(), MaxPool2d(2), Conv2d(c1, c2, 3, padding=1),
                                   nn.ReLU(), MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * 7 * 7, 10))
    for p, q in zip(captured_model.parameters(), params):
        p.data[...] = q
    reference = reference_cnn.NumpyCNN(params)
    optimizer = nn.optim.SGD(model.parameters(), lr=LR)
    captured_optimizer = nn.optim.SGD(captured_model.parameters(), lr=LR)

    @tinygrad_np.jit
    def captured_step(x: Tensor, y: np.ndarray) -> None:
        loss = nn.functional.cross_entropy(captured_model(x), y)
        captured_optimizer.zero_grad()
        loss.backward()
        captured_optimizer.step()

    def captured() -> None:
        for x, y in zip(xs, ys):
            captured_step(Tensor(x), y)

    def ours() -> None:
        for x, y in zip(xs, ys):
            loss = nn.functional.cross_entropy(model(Tensor(x)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def numpy_reference() -> None:
        for x, y in zip(xs, ys):
            reference.step(x, y, LR)

    contenders = {"tinygrad_np": ours, "tinygrad_np, captured (jit)": captured, "numpy": numpy_reference}
    torch_note = "not installed"
    if torch is not None:
        tm = torch.nn.Sequential(torch.nn.Conv2d(1, c1, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Conv2d(c1, c2, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Flatten(), torch.nn.Linear(c2 * 7 * 7, 10))
        with torch.no_grad():
            for tp, p in zip(tm.parameters(), params):
                tp.copy_(torch.from_numpy(p))
        torch_opt = torch.optim.SGD(tm.parameters(), lr=LR)
        txs, tys = [torch.from_numpy(x) for x in xs], [torch.from_numpy(y) for y in ys]

        def pytorch() -> None:
            for x, y in zip(txs, tys):
                loss = torch.nn.functional.cross_entropy(tm(x), y)
                torch_opt.zero_grad()
                loss.backward()
                torch_opt.step()

        contenders["pytorch"] = pytorch
        torch_note = f"{torch.__version__}, {torch.get_num_threads()} threads"
    times = {k: t / steps for k, t in shuffled_rounds(contenders, repeats, warmup=1).items()}
    drift = max(float(np.max(np.abs(p.data - r))) for p, r in zip(model.parameters(), reference.params))
    base = times["numpy"]
    rows = [[k, f"{1e3 * t:.2f}", f"{t / base:.2f}"] + ([f"{t / times['pytorch']:.2f}"] if torch else [])
            for k, t in times.items()]
    title = (f"CNN training step (conv {c1}-pool-conv {c2}-pool-linear, batch {BATCH}, SGD, float32, {source}; "
             f"medians of {repeats} interleaved runs of {steps} steps)")
    same = all(np.array_equal(p.data, q.data) for p, q in zip(model.parameters(), captured_model.parameters()))
    notes = (f"\nPyTorch: {torch_note}. Largest weight difference tinygrad_np vs NumPy after "
             f"{(repeats + 1) * steps} steps: {drift:.1e} (float32 rounding; same model, same batches). Captured vs "
             f"eager tinygrad_np weights: {'identical, bit for bit' if same else 'DIFFERENT'}.")
    return table(title, ["system", "ms / step", "× NumPy"] + (["× PyTorch"] if torch else []), rows) + notes


def run(repeats: int = 30, steps: int = 20) -> str:
    torch = _torch()
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    torch_threads = torch.get_num_threads() if torch is not None else "-"
    header = (f"{malloc.describe()}; threads: OPENBLAS_NUM_THREADS={blas_threads}, PyTorch "
              f"{torch_threads}; {os.cpu_count()} CPUs")
    return header + "\n" + conv_table(repeats, torch) + "\n" + cnn_table(max(repeats // 3, 3), steps, torch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30, help="interleaved runs of each conv2d contender")
    parser.add_argument("--steps", type=int, default=20, help="CNN training steps per timed run")
    args = parser.parse_args()
    print(run(args.repeats, args.steps))


if __name__ == "__main__":
    main()
