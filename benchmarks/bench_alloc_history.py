"""Training speed against allocation history: the same training steps after different histories, with tinygrad_np's
allocator policy off and on.

glibc's mmap and trim thresholds are dynamic: they rise with the largest block a process has freed so far (see
tinygrad_np/malloc.py). So a training step that frees large temporaries is recycled warm from the heap in one process
and page-faulted in afresh every step in another, depending only on what the process allocated and freed before.
Each history below runs in its own fresh subprocess (histories must not contaminate each other), once with
`TINYGRAD_NP_MALLOC=off` (glibc's default behaviour, as before the policy) and once with tinygrad_np's default policy.
In each, tinygrad_np trains against the hand-written NumPy reference in turns (interleaved rounds, shuffled order),
from the same initial weights on the same batches; the table gives each one's median time per step, the median (and
quartiles) of the per-round time ratio, and minor page faults per step (ru_minflt, counted over untimed steps after
a warm-up).

Histories (what the process does after loading the data, before building the models):
  fresh      nothing
  kept       a 200 MB array and another model's weights (MLP 784-1024-1024-10) are made and kept alive
  freed      200 MB, 24 MB, 8 MB and four 1 MB arrays are made and freed
  trained    another model (MLP 784-512-256-10) trains 150 steps and is dropped
  minimal    random float32 data made in place and weights drawn in float32 (no temporaries): nothing larger than a
             step's own blocks is ever freed, so glibc's thresholds stay as low as the step lets them

Workloads: the MLP 784-128-10 (batch 128, SGD lr 0.1, ReLU, cross-entropy) and the CNN conv 16-pool-conv
32-pool-linear (batch 64, SGD lr 0.05) of bench_mlp.py and bench_conv.py, and a deeper MLP 784-512-512-512-10
(batch 128), all float32. A step falls off the cliff when what it frees at the top of the heap exceeds glibc's trim
threshold (twice the largest block the process has freed): the CNN's ~25-30 MiB against 15 MiB after loading MNIST;
the deeper MLP's blocks in 'minimal'. Data: MNIST via `nn.datasets.mnist(..., download=False)` (set
TINYGRAD_NP_DATA), kept alive as a program keeps it; random data of the same shapes without it ('minimal' always uses
random data).

With `--jit`, where `tinygrad_np.jit` exists, a captured step of the same model is measured the same way, against
NumPy, in processes of its own (a capture allocates and frees blocks of its own, which would change the eager step's
history); without tinygrad_np.jit the column says so.

    python -m benchmarks.bench_alloc_history            # the matrix: 1 BLAS thread, then each workload's worst
                                                        # history with the default thread count (36 processes:
                                                        # 70 s on 2 idle cores, up to 4 minutes on busy ones)
    python -m benchmarks.bench_alloc_history --jit      # and captured steps (twice the processes: ~110 s idle)
    python -m benchmarks.bench_alloc_history --quick    # fresh and minimal, 1 thread, few steps (~10-15 s)
    python -m benchmarks.bench_alloc_history --histories fresh,minimal --workloads cnn --threads both
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

HISTORIES = ("fresh", "kept", "freed", "trained", "minimal")
WORKLOADS = ("mlp", "cnn", "mlp-deep")
MLP_BATCH, MLP_LR = 128, 0.1
LAYERS = {"mlp": (784, 128, 10), "mlp-deep": (784, 512, 512, 512, 10)}
CNN_BATCH, CNN_LR, CNN_CHANNELS = 64, 0.05, (16, 32)
# (steps per timed segment, timed rounds, steps counted for faults): full run, then --quick
SIZES = {"mlp": ((20, 16, 60), (10, 4, 30)), "cnn": ((3, 10, 12), (2, 3, 6)), "mlp-deep": ((6, 10, 24), (3, 3, 9))}


# --------------------------------------------------------------------------------------------------- the child


def child(history: str, workload: str, variant: str, quick: bool) -> dict[str, Any]:
    """One history, workload and contender ('eager': tinygrad_np's step as users write it; 'jit': that step
    captured) against NumPy, in this fresh process: the measurements (printed as JSON)."""
    from tinygrad_np import malloc

    malloc.apply_default_policy()  # what `import tinygrad_np` does (idempotent); TINYGRAD_NP_MALLOC=off: nothing
    import nn
    import tinygrad_np
    from benchmarks.common import interleaved, median, minor_faults, quantile

    result: dict[str, Any] = {"history": history, "workload": workload, "variant": variant,
                              "policy": malloc.policy()["state"], "describe": malloc.describe(),
                              "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}
    jit = getattr(tinygrad_np, "jit", None)
    if variant == "jit" and jit is None:
        return {**result, "skipped": "tinygrad_np.jit does not exist here"}
    x_all, y_all, dataset, result["source"] = training_data(random_only=history == "minimal")
    keep = [dataset, make_history(history, x_all, y_all)]  # noqa: F841 (kept alive to the end, on purpose)
    if history == "minimal":
        nn.init.pytorch_default_ = float32_init
    segment_steps, rounds, fault_steps = SIZES[workload][1 if quick else 0]
    wrap = jit if variant == "jit" else None
    if workload == "cnn":
        contenders = cnn_contenders(x_all, y_all, segment_steps, wrap)
    else:
        contenders = mlp_contenders(x_all, y_all, segment_steps, wrap, LAYERS[workload])
    try:
        for fn in contenders.values():  # warm up (a captured step is captured here)
            fn()
    except Exception as e:  # noqa: BLE001 (a capture the jit refuses: report it in the table, lose nothing else)
        return {**result, "error": f"{type(e).__name__}: {e}"[:160]}
    faults = {}
    for name, fn in contenders.items():  # untimed
        before, runs = minor_faults(), max(1, fault_steps // segment_steps)
        for _ in range(runs):
            fn()
        faults[name] = (minor_faults() - before) / (runs * segment_steps)
    times = interleaved(contenders, repeats=rounds, warmup=0)
    for name in contenders:
        ratios = [t / b for t, b in zip(times[name], times["numpy"])]
        result["ours" if name != "numpy" else "numpy"] = {
            "ms": 1e3 * median(times[name]) / segment_steps, "ratio": median(ratios), "q1": quantile(ratios, 0.25),
            "q3": quantile(ratios, 0.75), "faults": faults[name]}
    return result


def training_data(random_only: bool) -> tuple[np.ndarray, np.ndarray, list, str]:
    """MNIST's 60,000 training images as float32 rows in [0, 1] and their labels, and what else stays alive (the
    test set: a program keeps it to evaluate, and whether its 31 MB are freed changes glibc's thresholds); random
    data of the same shapes (made in place, no temporaries) without MNIST or when asked."""
    if not random_only:
        from nn import datasets
        try:
            data = datasets.mnist(normalize=True, flatten=True, download=False)
            return data.x_train, data.y_train, [data], "MNIST"
        except FileNotFoundError:
            pass
    rng = np.random.default_rng(0)
    x = np.empty((70_000, 784), np.float32)
    rng.random(out=x, dtype=np.float32)
    y = np.empty(70_000, np.int64)
    y[:] = rng.integers(0, 10, 70_000)
    return x[:60_000], y[:60_000], [x, y], "random data" + ("" if random_only else " (no MNIST found)")


def make_history(history: str, x_all: np.ndarray, y_all: np.ndarray) -> list:
    """What the process allocates (and frees) before the measured models are built; returns what stays alive."""
    import nn
    from tinygrad_np import Tensor

    keep: list = []
    if history == "kept":
        big = np.ones(50_000_000, np.float32)  # 200 MB
        keep += [big, nn.MLP([784, 1024, 1024, 10])]
    elif history == "freed":
        arrays = [np.ones(n // 4, np.float32) for n in (200_000_000, 24_000_000, 8_000_000, *[1_000_000] * 4)]
        del arrays
    elif history == "trained":
        Tensor.manual_seed(1)
        other = nn.MLP([784, 512, 256, 10])
        optimizer = nn.optim.SGD(other.parameters(), lr=MLP_LR)
        order = np.random.default_rng(1).permutation(len(x_all))
        for i in range(150):
            idx = order[i * MLP_BATCH:(i + 1) * MLP_BATCH]
            loss = nn.functional.cross_entropy(other(Tensor(x_all[idx])), y_all[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        del other, optimizer, loss
    elif history == "minimal":
        block = np.ones(100_000, np.float32)  # one freed 400 KB block, as a step's own temporaries would be
        del block
    gc.collect()
    return keep


def float32_init(weight, bias=None) -> None:
    """PyTorch's default initialisation, U(±1/√fan_in), drawn in float32 straight into the parameters (no
    temporaries: nn.init draws in float64 and casts, and freeing that block would itself raise glibc's
    thresholds)."""
    from tinygrad_np import rng

    bound = 1 / math.sqrt(math.prod(weight.shape[1:]))
    for t in (weight, bias):
        if t is not None:
            rng.generator().random(out=t.data, dtype=t.data.dtype)
            t.data *= 2 * bound
            t.data -= bound


def training_step(model: Any, optimizer: Any, jit: Any) -> Callable[[Any, np.ndarray], None]:
    """One SGD step of `model` on a batch, as bench_mlp.py takes it; captured (tinygrad_np.jit) when `jit` is given."""
    import nn

    def step(x: Any, y: np.ndarray) -> None:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return jit(step) if jit is not None else step


def mlp_contenders(x_all: np.ndarray, y_all: np.ndarray, steps: int, jit, layers: tuple[int, ...]
                   ) -> dict[str, Callable[[], None]]:
    """tinygrad_np's MLP step (captured by `jit` if given) and the hand-written NumPy one, from the same initial
    weights, each walking the same batches; one call = `steps` steps."""
    import nn
    from benchmarks.reference_mlp import NumpyMLP
    from tinygrad_np import Tensor

    Tensor.manual_seed(0)
    model = nn.MLP(list(layers))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    reference = NumpyMLP([m.weight.data for m in linears], [m.bias.data for m in linears])
    order = np.random.default_rng(0).permutation(len(x_all))
    batches = [order[i:i + MLP_BATCH] for i in range(0, len(order) - MLP_BATCH + 1, MLP_BATCH)]
    optimizer = nn.optim.SGD(model.parameters(), lr=MLP_LR)

    step = training_step(model, optimizer, jit)
    walk, reference_walk = walker(len(batches), steps), walker(len(batches), steps)

    def ours() -> None:
        for i in walk():
            step(Tensor(x_all[batches[i]]), y_all[batches[i]])

    def numpy_reference() -> None:
        for i in reference_walk():
            reference.step(x_all[batches[i]], y_all[batches[i]], MLP_LR)

    return {"jit" if jit is not None else "tinygrad_np": ours, "numpy": numpy_reference}


def cnn_contenders(x_all: np.ndarray, y_all: np.ndarray, steps: int, jit) -> dict[str, Callable[[], None]]:
    """The CNN of bench_conv.py, the same two ways as `mlp_contenders`."""
    import nn
    from benchmarks.reference_cnn import NumpyCNN
    from nn.conv import Conv2d, MaxPool2d
    from tinygrad_np import Tensor

    c1, c2 = CNN_CHANNELS
    Tensor.manual_seed(0)
    model = nn.Sequential(Conv2d(1, c1, 3, padding=1), nn.ReLU(), MaxPool2d(2), Conv2d(c1, c2, 3, padding=1),
                          nn.ReLU(), MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * 7 * 7, 10))
    reference = NumpyCNN([p.data for p in model.parameters()])
    images = x_all.reshape(-1, 1, 28, 28)
    optimizer = nn.optim.SGD(model.parameters(), lr=CNN_LR)

    step = training_step(model, optimizer, jit)
    n = len(images) // CNN_BATCH
    walk, reference_walk = walker(n, steps), walker(n, steps)

    def batch(i: int) -> slice:
        return slice(i * CNN_BATCH, (i + 1) * CNN_BATCH)

    def ours() -> None:
        for i in walk():
            step(Tensor(np.ascontiguousarray(images[batch(i)])), y_all[batch(i)])

    def numpy_reference() -> None:
        for i in reference_walk():
            reference.step(np.ascontiguousarray(images[batch(i)]), y_all[batch(i)], CNN_LR)

    return {"jit" if jit is not None else "tinygrad_np": ours, "numpy": numpy_reference}


def walker(n: int, steps: int) -> Callable[[], range]:
    """Each call: the next `steps` batch numbers of `n`, cycling (each contender walks its own copy)."""
    position = [0]

    def next_batches() -> range:
        start = position[0]
        position[0] = (start + steps) % (n - steps)
        return range(start, start + steps)
    return next_batches


# -------------------------------------------------------------------------------------------------- the parent


def run_child(history: str, workload: str, variant: str, policy: str, threads: str, quick: bool) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("TINYGRAD_NP_MALLOC", None)
    if policy == "off":
        env["TINYGRAD_NP_MALLOC"] = "off"
    if threads == "default":
        env.pop("OPENBLAS_NUM_THREADS", None)
    else:
        env["OPENBLAS_NUM_THREADS"] = threads
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "benchmarks.bench_alloc_history", "--child", f"{history},{workload},{variant}"]
    if quick:
        command.append("--quick")
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"history": history, "error": (done.stderr.strip().splitlines() or ["no output"])[-1][:160]}
    return json.loads(lines[-1])


def worst(results: list[tuple[dict[str, Any], dict[str, Any] | None, str, str]], histories: list[str]) -> str:
    """The history whose tinygrad_np step faulted most with the policy off; 'minimal' (the lowest thresholds) where
    none fell off the cliff (under 1 fault per step)."""
    off = [r for r, _, p, _ in results if p == "off" and "ours" in r]
    top = max(off, key=lambda r: r["ours"]["faults"]) if off else None
    if top is None or top["ours"]["faults"] < 1:
        return "minimal" if "minimal" in histories else histories[0]
    return top["history"]


def fmt_ratio(r: dict[str, Any]) -> str:
    return f"{r['ratio']:.2f} ({r['q1']:.2f}–{r['q3']:.2f})"


def row(eager: dict[str, Any], jit: dict[str, Any] | None, policy: str, threads: str) -> list[str]:
    cells = [eager["history"], policy, threads]
    if "ours" not in eager:
        cells += [f"error: {eager.get('error')}", "", "", "", "", ""]
    else:
        ours, numpy = eager["ours"], eager["numpy"]
        cells += [f"{ours['ms']:.2f}", f"{numpy['ms']:.2f}", fmt_ratio(ours), f"{ours['faults']:.1f}",
                  f"{numpy['faults']:.1f}"]
    if jit is not None:
        if "ours" in jit:
            cells += [fmt_ratio(jit["ours"]), f"{jit['ours']['faults']:.1f}"]
        else:
            cells += [jit.get("skipped") or f"error: {jit.get('error')}", ""]
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="histories fresh and minimal only, 1 BLAS thread, few steps and rounds: a smoke run")
    parser.add_argument("--histories", default=None, help=f"comma-separated, of {', '.join(HISTORIES)} (all)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--jit", action="store_true", help="also measure the step captured by tinygrad_np.jit")
    parser.add_argument("--threads", choices=["1", "default", "both", "worst"], default="worst",
                        help="OPENBLAS_NUM_THREADS for the children: 1, the default, both for every history, or "
                             "(the default) 1 for every history, then the default thread count for each workload's "
                             "worst history (most faults with the policy off; 'minimal' where none fell off)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        history, workload, variant = args.child.split(",")
        print(json.dumps(child(history, workload, variant, args.quick)))
        return

    from benchmarks.common import table

    start = time.perf_counter()
    histories = (args.histories or ("fresh,minimal" if args.quick else ",".join(HISTORIES))).split(",")
    workloads = args.workloads.split(",")
    if args.quick and args.threads == "worst":
        args.threads = "1"
    first = "default" if args.threads == "default" else "1"
    out: list[str] = []
    applied: set[str] = set()

    def measure(history: str, workload: str, policy: str, threads: str) -> tuple:
        eager = run_child(history, workload, "eager", policy, threads, args.quick)
        jit = run_child(history, workload, "jit", policy, threads, args.quick) if args.jit else None
        return eager, jit, policy, threads

    for workload in workloads:
        results = [measure(h, workload, p, first) for h in histories for p in ("off", "on")]
        if args.threads in ("both", "worst"):
            for history in (histories if args.threads == "both" else [worst(results, histories)]):
                results += [measure(history, workload, p, "default") for p in ("off", "on")]
        applied |= {e["describe"] for e, _, p, _ in results if p == "on" and "describe" in e}
        sources = sorted({e["source"] for e, _, _, _ in results if "source" in e})
        name = {"mlp": f"MLP {'-'.join(map(str, LAYERS['mlp']))}, batch {MLP_BATCH}",
                "mlp-deep": f"deeper MLP {'-'.join(map(str, LAYERS['mlp-deep']))}, batch {MLP_BATCH}",
                "cnn": f"CNN conv {CNN_CHANNELS[0]}-pool-conv {CNN_CHANNELS[1]}-pool-linear, batch {CNN_BATCH}"}
        title = (f"{name[workload]}, SGD, float32 ({', '.join(sources)}): time ratio to hand-written NumPy and "
                 "minor page faults per step, by allocation history; malloc policy off (glibc default) and on")
        headers = ["history", "policy", "BLAS threads", "tinygrad_np ms/step", "NumPy ms/step",
                   "tinygrad_np × NumPy (quartiles)", "faults/step tinygrad_np", "faults/step NumPy"]
        if args.jit:
            headers += ["jit × NumPy (quartiles)", "faults/step jit"]
        out.append(table(title, headers, [row(*r) for r in results]))
    seconds = time.perf_counter() - start
    out.insert(0, "Each row: a fresh process. Policy on: " + ("; ".join(sorted(applied)) or "?") + ".")
    out.append(f"\nRatios: medians and quartiles of per-round time ratios to NumPy in the same process (interleaved "
               f"rounds, shuffled order); faults: minor page faults per step over untimed steps after a warm-up"
               f"{'; jit: its own processes, against NumPy' if args.jit else ''}. {seconds:.0f} s in all.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
