"""tinygrad_np against the peers a user would pick instead, on CPU: PyTorch (eager and torch.compile) and tinygrad
(with TinyJit), for the same MLP training step, in one run.

The step: a 784-128-10 MLP with ReLU, batch 128, mean softmax cross-entropy, plain SGD with lr 0.1, float32, on
MNIST's training images (random data of the same shape when MNIST is not at hand). Every contender starts from the
same initial weights and sees the same batches in the same order; each gathers its batch from the full training set
in its own idiom (inside the timing). The contenders take turns in interleaved rounds in this one process (the order
shuffled each round, see benchmarks/common.py), each turn STEPS training steps ending with the loss read back as a
Python float (which also waits for tinygrad's asynchronous queue). The table gives the median time per step and the
median (and quartiles) of the per-round time ratio to the hand-written NumPy reference.

The first WARMUP steps of every contender are run one by one before the rounds and timed apart: that is where
torch.compile and TinyJit compile (and tinygrad_np.jit captures). By default both compilers start from empty caches
(temporary folders), so the figure is what a first run costs; --warm-cache uses their usual caches instead.

Every contender's weights are compared with the NumPy reference's after the first rounds (tinygrad_np must agree to
float32 rounding) and at the end, and the final weights are evaluated with NumPy on 10,000 training images: the loss
must be far below the initial one (it trained) and match the reference's (it did the same work). Turns are a short
idle gap apart (--gap, untimed), so that a contender's spinning thread pool does not slow the next one. A full run
takes 1-2 minutes on two idle cores.

    TINYGRAD_NP_DATA="$PWD/../shared/data" python -m benchmarks.bench_peers [--threads 1] [--quick] [--warm-cache]

--threads sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS (NumPy's BLAS), torch.set_num_threads and
tinygrad's NUM_CPU_THREADS before anything is imported, so that every contender uses the same number of cores.
Optional contenders (tinygrad_np.jit, PyTorch, torch.compile, tinygrad) that are missing or fail are left out with
the reason printed. tinygrad runs on its CPU device (DEV=CPU unless DEV is set), which compiles its kernels with
clang (Debian: apt-get install clang).
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="threads for every contender (BLAS, OpenMP, tinygrad)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default 100 with one thread, 60 with more; --quick 10)")
    parser.add_argument("--steps", type=int, default=25, help="training steps per contender per round")
    parser.add_argument("--gap", type=float, default=None,
                        help="idle seconds before each turn, untimed, so that the previous contender's spinning "
                             "thread pool is asleep (default 0.02 with one thread, 0.2 with more)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke test")
    parser.add_argument("--warm-cache", action="store_true",
                        help="let torch.compile and tinygrad use their usual on-disk caches (default: empty ones)")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.steps < 1 or (args.rounds is not None and args.rounds < 1):
        parser.error("--threads, --steps and --rounds must be positive")
    if args.gap is not None and args.gap < 0:
        parser.error("--gap must not be negative")
    if args.rounds is None:
        args.rounds = 10 if args.quick else 100 if args.threads == 1 else 60
    if args.gap is None:
        # With more than one thread, the helper threads of OpenBLAS (NumPy) and of OpenMP (PyTorch) keep spinning
        # after a turn, up to ~0.1 s for OpenBLAS, and on two cores that slows whoever comes next.
        args.gap = 0.02 if args.threads == 1 else 0.2
    return args


# The thread counts must be in the environment before NumPy (OpenBLAS), PyTorch (OpenMP) or tinygrad are imported:
# they read them once, at import. So the command line is parsed first, and everything else is imported after it.
ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUM_CPU_THREADS"):
        os.environ[_var] = str(ARGS.threads)
    os.environ.setdefault("DEV", "CPU")  # tinygrad's device (its CPU backend compiles with clang)
    if not ARGS.warm_cache:  # compile times from empty caches: what a user's first run costs
        _cache = tempfile.mkdtemp(prefix="bench_peers_")
        atexit.register(shutil.rmtree, _cache, ignore_errors=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(_cache, "inductor")
        os.environ["CACHEDB"] = os.path.join(_cache, "tinygrad_cache.db")

import importlib.metadata  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

import nn  # noqa: E402
import tinygrad_np  # noqa: E402
from benchmarks.bench_mlp import batches, training_data  # noqa: E402
from benchmarks.common import median, quantile, table  # noqa: E402
from benchmarks.reference_mlp import NumpyMLP  # noqa: E402
from tinygrad_np import Tensor  # noqa: E402

BATCH, LR, LAYERS = 128, 0.1, (784, 128, 10)
WARMUP = 3  # steps run (and timed) one by one before the rounds: compilation and capture happen here
EVAL_ROWS = 10_000  # training images the final weights are evaluated on
ROUNDING = 1e-5  # the largest weight difference from NumPy that float32 rounding explains after the early rounds
Weights = list[np.ndarray]  # [W1, b1, W2, b2], PyTorch's layout: W is (out, in)


@dataclass
class Contender:
    """One system: `step(idx)` trains on the batch of rows `idx` and returns its loss as a lazily read object;
    `loss(obj)` turns that into a float (synchronising); `weights()` reads the current weights back."""
    name: str
    step: Callable[[np.ndarray], Any]
    loss: Callable[[Any], float]
    weights: Callable[[], Weights]
    note: str = ""
    status: Callable[[], str] | None = None  # said after the run (e.g. how often a capture replayed)
    warmup_steps: list[float] = field(default_factory=list)
    last_loss: float = float("nan")


def run(threads: int, rounds: int, steps: int, warm_cache: bool, gap: float) -> str:
    load_before = os.getloadavg()[0]
    x_all, y_all, _, source = training_data()
    y_all = y_all.astype(np.int64)
    total = WARMUP + rounds * steps
    order = schedule(len(x_all), total)

    Tensor.manual_seed(0)
    init_model = nn.Sequential(nn.Linear(LAYERS[0], LAYERS[1]), nn.ReLU(), nn.Linear(LAYERS[1], LAYERS[2]))
    initial = [p.data.copy() for p in init_model.parameters()]  # W1, b1, W2, b2
    assert [p.shape for p in initial] == [(128, 784), (128,), (10, 128), (10,)]

    notes: list[str] = []
    skipped: list[str] = []
    candidates: list[tuple[str, Callable[[], Contender]]] = [
        ("hand-written NumPy", lambda: numpy_contender(initial, x_all, y_all)),
        ("tinygrad_np eager", lambda: tinygrad_np_contender(initial, x_all, y_all, captured=False)),
        ("tinygrad_np.jit", lambda: tinygrad_np_contender(initial, x_all, y_all, captured=True)),
        ("PyTorch eager", lambda: torch_contender(initial, x_all, y_all, threads, compiled=False)),
        ("torch.compile", lambda: torch_contender(initial, x_all, y_all, threads, compiled=True)),
        ("tinygrad TinyJit", lambda: tinygrad_contender(initial, x_all, y_all)),
    ]
    contenders: list[Contender] = []
    for name, build in candidates:
        try:
            contender = build()
            warm_up(contender, order[:WARMUP])
        except Skip as e:
            skipped.append(f"{name}: skipped, {e}")
            continue
        except Exception as e:  # an optional contender that fails is reported, not fatal
            if name == "hand-written NumPy" or name == "tinygrad_np eager":
                raise
            skipped.append(f"{name}: skipped, it raised {type(e).__name__}: {e}\n" + indent(traceback.format_exc()))
            continue
        contenders.append(contender)

    # The rounds, in two parts: every contender's weights are compared with NumPy's after the first `early` rounds,
    # while they still agree to float32 rounding (see check), and again at the end.
    turns = {c.name: turn(c, order, WARMUP, steps) for c in contenders}
    early = max(1, min(10, rounds // 2))
    times: dict[str, list[float]] = {c.name: [] for c in contenders}
    take_turns(turns, early, gap, times, seed=0)
    early_weights = {c.name: c.weights() for c in contenders}
    take_turns(turns, rounds - early, gap, times, seed=1)

    reference = contenders[0]
    x_eval, y_eval = x_all[:EVAL_ROWS], y_all[:EVAL_ROWS]
    initial_loss = eval_loss(initial, x_eval, y_eval)
    ref_loss = eval_loss(reference.weights(), x_eval, y_eval)
    rows, failures = [], []
    for c in contenders:
        if c.note or c.status:
            notes.append(f"{c.name}: " + "; ".join(filter(None, [c.note, c.status() if c.status else ""])))
        w = c.weights()
        early_drift = max_difference(early_weights[c.name], early_weights[reference.name])
        drift = max_difference(w, reference.weights())
        loss = eval_loss(w, x_eval, y_eval)
        verdict = check(c.name, loss, ref_loss, initial_loss, early_drift, c.last_loss, reference.last_loss)
        if verdict != "ok":
            failures.append(f"{c.name}: {verdict}")
        ratios = [t / r for t, r in zip(times[c.name], times[reference.name])]
        rows.append([c.name, f"{1000 * median(times[c.name]) / steps:.3f}", f"{median(ratios):.2f}",
                     f"{quantile(ratios, 0.25):.2f}–{quantile(ratios, 0.75):.2f}", f"{sum(c.warmup_steps):.2f}",
                     f"{c.last_loss:.4f}", f"{loss:.4f}", f"{early_drift:.1e}", f"{drift:.1e}", verdict])

    title = (f"MLP training step vs peers on CPU ({'-'.join(map(str, LAYERS))}, ReLU, batch {BATCH}, SGD lr {LR}, "
             f"float32, {source}; {threads} thread{'s' * (threads != 1)}; {rounds} interleaved rounds of {steps} "
             f"steps each, after {WARMUP} warm-up steps)")
    early_steps = WARMUP + early * steps
    headers = ["system", "ms / step", "× NumPy", "quartiles", f"first {WARMUP} steps, s", "last batch loss",
               "eval loss", f"max |ΔW| vs NumPy, step {early_steps}", f"… step {total}", "check"]
    out = [table(title, headers, rows)]
    out.append(f"\nTimes: median over the rounds; × NumPy: median (quartiles) of the per-round time ratio to the "
               f"hand-written NumPy step. 'first {WARMUP} steps' is the warm-up, timed before the rounds (compile and "
               f"capture happen there; caches {'as left by earlier runs' if warm_cache else 'empty'}). 'eval loss': "
               f"the final weights on {EVAL_ROWS:,} training images (initial weights: {initial_loss:.4f}); every "
               f"contender ran the same {total} steps on the same batches. max |ΔW|: the largest difference from the "
               f"NumPy reference's weights after {early_steps} steps (float32 rounding: tinygrad_np must stay within "
               f"{ROUNDING:g}) and at the end: later on, trajectories may part by ~1e-4-1e-3 at a step where a ReLU "
               "input lies within rounding of 0 and takes the other side in one contender (PyTorch parts from "
               f"NumPy too), then the final losses must still agree. Turns are {gap:g} s apart (idle, untimed), "
               "so that the previous contender's spinning helper threads (OpenBLAS, OpenMP) are asleep.")
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (1 min; other work on the machine)"
    out.append("\nSetup: " + "; ".join([*versions(threads), load]))
    out += [f"- {n}" for n in notes]
    out += [f"- {s}" for s in skipped]
    if failures:
        out.append("\nCHECK FAILED: " + "; ".join(failures))
    return "\n".join(out)


class Skip(Exception):
    """An optional contender that cannot run here; the message says why."""


def schedule(n: int, total: int) -> list[np.ndarray]:
    """The first `total` batches (rows of the training set) of bench_mlp's epoch-by-epoch shuffled order."""
    order: list[np.ndarray] = []
    epoch = 0
    while len(order) < total:
        order += batches(n, epoch)
        epoch += 1
    return order[:total]


def warm_up(c: Contender, order: list[np.ndarray]) -> None:
    for idx in order:
        start = time.perf_counter()
        c.last_loss = c.loss(c.step(idx))
        c.warmup_steps.append(time.perf_counter() - start)


def take_turns(turns: dict[str, Callable[[], None]], rounds: int, gap: float, times: dict[str, list[float]],
               seed: int) -> None:
    """`rounds` rounds of one turn each, in a shuffled (seeded) order, as benchmarks.common.interleaved does, with
    `gap` idle seconds before each turn: a contender's thread pool keeps spinning for a while after its turn (OpenBLAS
    and OpenMP do), and on two cores that would slow whoever comes next. Appends seconds per turn to `times`."""
    shuffle = random.Random(seed)
    names = list(turns)
    for _ in range(rounds):
        shuffle.shuffle(names)
        for name in names:
            time.sleep(gap)
            start = time.perf_counter()
            turns[name]()
            times[name].append(time.perf_counter() - start)


def turn(c: Contender, order: list[np.ndarray], start: int, steps: int) -> Callable[[], None]:
    """One turn: the contender's next `steps` batches; the last loss is read back, which waits for its work."""
    walk: Iterator[np.ndarray] = iter(order[start:])

    def run_turn() -> None:
        result = None
        for _ in range(steps):
            result = c.step(next(walk))
        c.last_loss = c.loss(result)

    return run_turn


def eval_loss(weights: Weights, x: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of the MLP with these weights, computed in float64 NumPy."""
    w1, b1, w2, b2 = (np.asarray(a, dtype=np.float64) for a in weights)
    logits = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())


def max_difference(a: Weights, b: Weights) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def check(name: str, loss: float, ref_loss: float, initial_loss: float, early_drift: float, last: float,
          ref_last: float) -> str:
    """'ok', or what is wrong: the contender did not train, or did not do the reference's work."""
    if not np.isfinite(loss) or loss > initial_loss - 0.5 * (initial_loss - ref_loss):
        return f"did not train (eval loss {loss:.4f}, initial {initial_loss:.4f})"
    if abs(loss - ref_loss) > 1e-3 * max(1.0, ref_loss) or abs(last - ref_last) > 1e-3 * max(1.0, ref_last):
        return f"differs from NumPy (eval loss {loss:.5f} vs {ref_loss:.5f}, last loss {last:.5f} vs {ref_last:.5f})"
    if name.startswith("tinygrad_np") and not early_drift <= ROUNDING:
        return f"weights differ from NumPy's by {early_drift:.1e}, more than float32 rounding"
    return "ok"


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


# ------------------------------------------------------------------------------------------------- contenders


def numpy_contender(initial: Weights, x_all: np.ndarray, y_all: np.ndarray) -> Contender:
    model = NumpyMLP([initial[0], initial[2]], [initial[1], initial[3]])
    return Contender("hand-written NumPy", lambda idx: model.step(x_all[idx], y_all[idx], LR), float,
                     lambda: [a.copy() for a in (model.weights[0], model.biases[0], model.weights[1], model.biases[1])])


def tinygrad_np_contender(initial: Weights, x_all: np.ndarray, y_all: np.ndarray, captured: bool) -> Contender:
    """tinygrad_np as examples/mnist.py writes it; `captured`: the whole step under tinygrad_np.jit."""
    if captured and not hasattr(tinygrad_np, "jit"):
        raise Skip("this tinygrad_np has no tinygrad_np.jit yet")
    model = nn.Sequential(nn.Linear(LAYERS[0], LAYERS[1]), nn.ReLU(), nn.Linear(LAYERS[1], LAYERS[2]))
    for p, w in zip(model.parameters(), initial):
        p.data[...] = w
    optimizer = nn.optim.SGD(model.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()

    def train_step(x: Tensor, y: Any) -> Tensor:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    def weights() -> Weights:
        return [p.data.copy() for p in model.parameters()]

    if captured:
        step = tinygrad_np.jit(train_step)

        def status() -> str:  # the counters of the API as first written; absent ones are left out
            counts = {k: getattr(step, k) for k in ("captures", "replays", "fallbacks") if hasattr(step, k)}
            return ", ".join(f"{v} {k}" for k, v in counts.items()) if counts else ""

        return Contender("tinygrad_np.jit", lambda idx: step(Tensor(x_all[idx]), Tensor(y_all[idx])),
                         lambda loss: float(loss.item()), weights, "the whole step (zero_grad, forward, loss, "
                         "backward, SGD step) under tinygrad_np.jit; x and y passed as Tensors", status)
    return Contender("tinygrad_np eager", lambda idx: train_step(Tensor(x_all[idx]), y_all[idx]),
                     lambda loss: float(loss.item()), weights)


def torch_contender(initial: Weights, x_all: np.ndarray, y_all: np.ndarray, threads: int, compiled: bool
                    ) -> Contender:
    try:
        import torch
    except ImportError:
        raise Skip("PyTorch is not installed (pip install torch)") from None
    torch.set_num_threads(threads)
    model = torch.nn.Sequential(torch.nn.Linear(LAYERS[0], LAYERS[1]), torch.nn.ReLU(),
                                torch.nn.Linear(LAYERS[1], LAYERS[2]))
    with torch.no_grad():
        for p, w in zip(model.parameters(), initial):
            p.copy_(torch.from_numpy(w))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x_torch, y_torch = torch.from_numpy(x_all), torch.from_numpy(y_all)

    def train_step(x: Any, y: Any) -> Any:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    note = f"{torch.get_num_threads()} intra-op thread{'s' * (torch.get_num_threads() != 1)} (torch.set_num_threads)"
    step = train_step
    if compiled:
        step = torch.compile(train_step)  # inductor, default mode; dynamo splits the graph at loss.backward()
        note += ("; torch.compile(step) around the whole step (default mode, inductor C++ backend), one graph "
                 "break at loss.backward()")

    def run_step(idx: np.ndarray) -> Any:
        t_idx = torch.from_numpy(idx)
        return step(x_torch[t_idx], y_torch[t_idx])

    return Contender("torch.compile" if compiled else "PyTorch eager", run_step, lambda loss: float(loss.item()),
                     lambda: [p.detach().numpy().copy() for p in model.parameters()], note)


def tinygrad_contender(initial: Weights, x_all: np.ndarray, y_all: np.ndarray) -> Contender:
    try:
        from tinygrad import Device, TinyJit
        from tinygrad import Tensor as TgTensor
        from tinygrad import nn as tg_nn
        from tinygrad.helpers import NUM_CPU_THREADS, Context
    except ImportError:
        raise Skip("tinygrad is not installed (pip install tinygrad)") from None
    device = Device.DEFAULT
    renderer = type(Device[device].renderer).__name__
    l1, l2 = tg_nn.Linear(LAYERS[0], LAYERS[1]), tg_nn.Linear(LAYERS[1], LAYERS[2])
    for layer, w, b in ((l1, initial[0], initial[1]), (l2, initial[2], initial[3])):
        layer.weight = TgTensor(w.copy()).contiguous().realize()
        layer.bias = TgTensor(b.copy()).contiguous().realize()
    params = [l1.weight, l1.bias, l2.weight, l2.bias]
    optimizer = tg_nn.optim.SGD(params, lr=LR)
    y32 = y_all.astype(np.int32)

    @TinyJit
    def train_step(x: Any, y: Any) -> Any:
        optimizer.zero_grad()
        loss = l2(l1(x).relu()).sparse_categorical_crossentropy(y)
        loss.backward()
        # The loss is realized together with the update. The usual `optimizer.step(); return loss` would realize
        # the (lazy) loss only after the update, so tinygrad would run the forward pass a second time, on the
        # updated weights: about 15% slower, and the loss returned would not be this batch's loss before the step.
        TgTensor.realize(loss, *optimizer.schedule_step())
        return loss

    def run_step(idx: np.ndarray) -> Any:
        with Context(TRAINING=1):  # tinygrad's optimizers refuse to step outside training mode
            return train_step(TgTensor(x_all[idx]), TgTensor(y32[idx]))

    note = (f"device {device}, renderer {renderer}, NUM_CPU_THREADS={NUM_CPU_THREADS.value}; TinyJit around the "
            "whole step (captured on its 2nd call, replayed from the 3rd), the loss realized together with the SGD "
            "update; batches gathered in NumPy and passed as new Tensors")
    return Contender("tinygrad TinyJit", run_step, lambda loss: float(loss.item()),
                     lambda: [p.numpy().copy() for p in params], note)


# --------------------------------------------------------------------------------------------------- versions


def versions(threads: int) -> list[str]:
    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    blas = f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    out = [f"Python {sys.version.split()[0]}", f"NumPy {np.__version__} ({blas})", f"torch {version('torch')}",
           f"tinygrad {version('tinygrad')}"]
    if "torch" in sys.modules:
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler
            out.append(f"inductor's C++ compiler: {compiler_version(get_cpp_compiler())}")
        except Exception as e:  # a private API: its absence must not stop the report
            out.append(f"inductor's C++ compiler: unknown ({type(e).__name__})")
    if "tinygrad" in sys.modules:
        out.append(f"tinygrad's C compiler: {compiler_version(os.environ.get('CC', 'clang'))}")
    out.append(f"{threads} thread{'s' * (threads != 1)} for everyone, {os.cpu_count()} cores")
    return out


def compiler_version(cmd: str) -> str:
    try:
        first = subprocess.run([cmd, "--version"], capture_output=True, text=True, timeout=30).stdout.splitlines()
        return first[0].strip() if first else cmd
    except (OSError, subprocess.SubprocessError):
        return f"{cmd} (not found)"


def main() -> None:
    args = ARGS or parse_args()
    start = time.perf_counter()
    print(run(args.threads, args.rounds, args.steps, args.warm_cache, args.gap))
    print(f"\n(took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
