"""Run every benchmark and print its table (Markdown), in one go:

    python -m benchmarks.run_all            # everything (about 3–5 minutes on 2 cores)
    python -m benchmarks.run_all --quick    # fewer repeats, for a smoke test

Each table says what it measures, the settings, and the figure to compare with its target. Timed comparisons are
ratios of runs interleaved in one process (A B A B …, the order shuffled each round), medians unless a table says
otherwise. Benchmarks that need a fresh process (the MLP epoch under each allocator setting, memory, convolutions
with the tuned allocator) run as subprocesses, so their allocator settings and peak memory are their own. MNIST is
read from $TINYGRAD_NP_DATA (or the loader's cache); without it the timing benchmarks use random data of its shape.
"""
from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time


def subprocess_table(module: str, *args: str, env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                            env=None if env is None else {**os.environ, **env})
    if result.returncode != 0:
        return f"\n### {module} {' '.join(args)} FAILED\n```\n{result.stderr[-2000:]}\n```"
    return result.stdout.rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer epochs and repeats")
    args = parser.parse_args()
    epochs = "2" if args.quick else "15"
    start = time.perf_counter()
    print(f"# tinygrad_np benchmarks ({'quick' if args.quick else 'full'})")
    print(subprocess_table("benchmarks.bench_mlp", "--epochs", epochs))
    print(subprocess_table("benchmarks.bench_mlp", "--epochs", epochs, env={"TINYGRAD_NP_MALLOC": "off"}))
    print(subprocess_table("benchmarks.bench_alloc_history", *(["--quick"] if args.quick else ["--jit"])))
    print(subprocess_table("benchmarks.bench_memory", "--epochs", "2" if args.quick else "3"))
    print(subprocess_table("benchmarks.bench_conv", *(["--repeats", "5"] if args.quick else [])))
    print(subprocess_table("benchmarks.bench_peers", *(["--quick"] if args.quick else [])))
    for name in ("bench_overhead", "bench_scaling", "bench_viz"):
        module = importlib.import_module(f"benchmarks.{name}")
        print(module.run(**({"repeats": 3} if args.quick else {})))
    print(f"\n(all benchmarks took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
