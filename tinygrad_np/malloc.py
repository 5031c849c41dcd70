"""Opt-in tuning of glibc's allocator for array-heavy training loops.

By default glibc serves every block above 128 KiB (a 784×128 float32 gradient is 392 KiB) with a fresh `mmap`
and returns it with `munmap` on free, so each training step page-faults its large temporaries in again
(1.5–2 µs per 4 KiB page on small VMs). Raising the mmap and trim thresholds keeps freed blocks in the heap, where
the next step's temporaries reuse them warm. This is process-wide and changes nothing about results; nothing in
tinygrad_np calls it unless you do (the examples and benchmarks do, and say so).
"""
from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Raise glibc's mmap threshold (max 32 MiB) and trim threshold. Returns False where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
