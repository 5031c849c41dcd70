"""Shared benchmark helpers: interleaved timing, medians, memory counters, and the table format.

Timings are always ratios of runs made in one process, interleaved A B A B …, so that the machine's state (other
load, CPU frequency, the allocator) is the same for every contender; we report medians.
"""
from __future__ import annotations

import os
import random
import resource
import statistics
import time
from typing import Callable

PAGE = os.sysconf("SC_PAGE_SIZE")
# Wall-clock time by default; BENCH_CLOCK=cpu measures this process's CPU time instead, which is steadier on a
# machine busy with other work (but hides time spent waiting, e.g. on page faults served by other threads).
_clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter


def interleaved(contenders: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run each contender `warmup` times, then `repeats` rounds of one run each; seconds per run.

    The order within a round is shuffled (seeded): whoever runs right after PyTorch is slowed by its OpenMP threads
    still spinning, and a fixed order would always hand that penalty to the same contender.
    """
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    order = random.Random(0)
    names = list(contenders)
    for _ in range(repeats):
        order.shuffle(names)
        for name in names:
            start = _clock()
            contenders[name]()
            times[name].append(_clock() - start)
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def quantile(xs: list[float], q: float) -> float:
    """The q-quantile of xs (linear interpolation), e.g. q = 0.25 for the lower quartile."""
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo = int(pos)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (pos - lo)


def rss_bytes() -> int:
    """Current resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def table(title: str, headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table (what run_all.py prints and the README quotes)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out = [f"\n### {title}\n", line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)
