"""glibc's allocator, set once for array-heavy training loops: the default policy applied at `import tinygrad_np`.

**The problem.** glibc serves a block above its *mmap threshold* with a fresh `mmap` (returned by `munmap` on
free), and hands the free memory at the top of its heap back to the kernel whenever it exceeds the *trim
threshold*; either way the next step's temporaries are page-faulted in again and zeroed by the kernel, 4 KiB at a
time. Both thresholds are dynamic: they start at 128 KiB, and freeing an mmapped block of S bytes (S up to 32 MiB)
raises the mmap threshold to S and the trim threshold to 2·S. So a training step's cost depended on the largest block
its process had happened to free *before*, not on the step. Measured with benchmarks/bench_alloc_history.py (glibc
2.36): the MNIST CNN step (batch 64) frees ~25-30 MiB at the top of the heap, and loading MNIST leaves the trim
threshold at 2 x 7.5 MiB, so after loading MNIST (and after keeping other arrays, or training another model) it
faulted 3,000-6,600 times per step and ran at 14-19 ms instead of 8; after a 24 MB array had been freed, or if
the loader's 31 MB test set had been dropped, not at all. A deeper MLP (784-512-512-512-10) in a process that never
freed a block larger than its own faulted 1,000 times per step. The issue's MLP (784-128-10) fell off the same way
under two BLAS threads (170-220 faults per step) until the optimizers stopped allocating per step; it frees too
little now to reach even glibc's lowest trim threshold.

**The policy.** Fix both thresholds, so that no history moves them (setting one also switches glibc's dynamic
adjustment off):

- `M_MMAP_THRESHOLD` = 32 MiB: blocks up to 32 MiB come from the heap and are recycled warm. It is the ceiling of
  glibc's own rule on 64-bit (and the most older glibc versions accept), so this is the state glibc adapts to by
  itself once a process has freed a 32 MiB block, reached at once. Higher (glibc 2.36 accepts it) would put data
  sets and whole models in the heap, where one freed below the top is never given back. The CNN step needs 8 MiB
  or more (4 MiB still left 230 faults per step: its im2col columns are 7.2 MB); a 64x16x28x28 convolution's
  columns take 29 MB. Blocks above 32 MiB are mmapped every time, as under glibc's default.
- `M_TRIM_THRESHOLD` = 128 MiB: up to 128 MiB of free memory at the top of the heap is kept before glibc hands it
  back. What a step frees there must fit below it, or the step faults it back in every time: the CNN step needs
  more than 24 MiB (at 24 MiB it still faulted 4,600 times per step, at 32 none), the 64x16x28x28 -> 32 convolution
  of bench_conv.py (forward + backward) more than 72 MiB (at 64 MiB, glibc's own 2 x 32 MiB, it faulted 2,400-5,200
  times per call; at 80 none). 128 MiB covers both with margin; the old opt-in value (512 MiB) held four times as
  much for nothing measured.

**The cost.** Freed memory up to 128 MiB at the top of the heap stays in the process instead of going back to the OS
(in a training loop: a step's temporaries, which the next step reuses), and free blocks up to 32 MiB inside the heap
stay too, as they do under glibc's default once its threshold has risen. Measured: a process that trained the CNN
and dropped it stayed 37 MB above its resident size before (glibc's default: 5 MB); the MNIST MLP run of bench_memory.py
peaked at 269 MB (268 MB without the policy) and held 261 MB between epochs (255 MB). Blocks above 32 MiB (a data
set, a large model) are untouched: mmapped, and returned on free. `release()` (glibc's `malloc_trim(0)`) hands every
free page back, for a process that is done training (after it, the CNN process above was back to +4 MB). Results
never change: only where memory comes from.

**Who decides.** The policy is applied only where the process's malloc is glibc's (not on macOS, Windows or musl,
nor under an `LD_PRELOAD`ed jemalloc or tcmalloc); never when the user has set one of these knobs (glibc's
`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_`, `MALLOC_MMAP_MAX_`, or the `glibc.malloc.*`
tunables of the same names in `GLIBC_TUNABLES`: the user's setting stands, and glibc's dynamic rule with it); and not
when `TINYGRAD_NP_MALLOC` is `default`, `off` or `0`. `policy()` says what was done and why, `describe()` in one
line (benchmarks print it). `tune_malloc()` is the same setting made explicitly.
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys
import warnings
from typing import Any

MMAP_THRESHOLD = 32 << 20  # bytes: the ceiling of glibc's dynamic rule on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 128 << 20  # bytes: see the module docstring for the measurements behind both numbers

ENV_VAR = "TINYGRAD_NP_MALLOC"
OFF_VALUES = ("default", "off", "0", "false", "no", "glibc")
ON_VALUES = ("", "on", "1", "true", "yes", "tinygrad_np")
# glibc's own settings of the knobs we set (any of them set: the user decides, we leave malloc alone). Setting one
# also switches glibc's dynamic thresholds off, which is what we would override.
GLIBC_ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
GLIBC_TUNABLES = ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold", "glibc.malloc.top_pad",
                  "glibc.malloc.mmap_max")

_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3

# What has been done to the allocator in this process (policy() returns a copy). `state` is one of:
#   "not applied"  nothing done yet (apply_default_policy has not run)
#   "applied"      the thresholds below are set (by the default policy, or by tune_malloc)
#   "off"          TINYGRAD_NP_MALLOC turned the policy off
#   "user"         the user set glibc's thresholds themselves (environment): left alone
#   "unsupported"  the process's malloc is not glibc's
#   "failed"       mallopt refused a value
_state: dict[str, Any] = {"state": "not applied", "by": None, "mmap_threshold": None, "trim_threshold": None,
                          "reason": "apply_default_policy() has not run"}


@functools.cache
def _glibc() -> tuple[Any, str]:
    """(glibc's handle, its version) where this process allocates with glibc's malloc, else (None, why not)."""
    if not sys.platform.startswith("linux"):
        return None, f"not glibc ({sys.platform})"
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        version = ""
    if not version.startswith("glibc"):
        return None, "not glibc (musl or another C library)"
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc's soname on every Linux architecture it supports; no ldconfig run
        mallopt = libc.mallopt
        in_use = ctypes.CDLL(None).malloc  # the malloc the process resolves: an LD_PRELOADed allocator comes first
    except (OSError, AttributeError) as e:
        return None, f"glibc's mallopt not found ({e})"
    if ctypes.cast(in_use, ctypes.c_void_p).value != ctypes.cast(libc.malloc, ctypes.c_void_p).value:
        return None, "malloc is not glibc's (an allocator is interposed, e.g. by LD_PRELOAD)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return libc, version


def _user_setting() -> str | None:
    """The user's own setting of a threshold we would set (environment), if any: its name."""
    for name in GLIBC_ENV_VARS:
        if name in os.environ:
            return name
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    for item in tunables.replace(",", ":").split(":"):
        key = item.split("=", 1)[0].strip()
        if key in GLIBC_TUNABLES:
            return f"GLIBC_TUNABLES {key}"
    return None


def _set(libc: Any, mmap_threshold: int, trim_threshold: int, by: str) -> bool:
    """Both thresholds, or (mallopt refusing the mmap threshold: too large for an older glibc) neither."""
    ok_mmap = bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)))
    ok_trim = ok_mmap and bool(libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    if ok_mmap and ok_trim:
        _state.update(state="applied", by=by, mmap_threshold=int(mmap_threshold), trim_threshold=int(trim_threshold),
                      reason=f"mallopt(M_MMAP_THRESHOLD, {_mib(mmap_threshold)}), "
                             f"mallopt(M_TRIM_THRESHOLD, {_mib(trim_threshold)})")
    else:
        refused = f"M_TRIM_THRESHOLD {_mib(trim_threshold)}" if ok_mmap else \
            f"M_MMAP_THRESHOLD {_mib(mmap_threshold)} (older glibc: at most 32 MiB on 64-bit; nothing was set)"
        _state.update(state="failed", by=by, mmap_threshold=int(mmap_threshold) if ok_mmap else None,
                      trim_threshold=None, reason=f"mallopt refused {refused}")
    return ok_mmap and ok_trim


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def apply_default_policy() -> dict[str, Any]:
    """Apply the default policy (module docstring) unless the environment says otherwise; returns `policy()`.

    Called once by `import tinygrad_np`; calling it again changes nothing (nor does it undo a later `tune_malloc`).
    """
    if _state["state"] != "not applied":
        return policy()
    choice = os.environ.get(ENV_VAR)
    if choice is not None and choice.strip().lower() in OFF_VALUES:
        _state.update(state="off", reason=f"{ENV_VAR}={choice}: glibc's default, dynamic thresholds")
        return policy()
    if choice is not None and choice.strip().lower() not in ON_VALUES:
        warnings.warn(f"{ENV_VAR}={choice!r} is not one of {', '.join(OFF_VALUES)} (off) or on, 1 (on): malloc "
                      "is left alone", RuntimeWarning, stacklevel=2)
        _state.update(state="off", reason=f"{ENV_VAR}={choice!r} not recognised: malloc left alone")
        return policy()
    user = _user_setting()
    if user is not None:
        _state.update(state="user", reason=f"{user} is set: the user's allocator settings are left alone")
        return policy()
    libc, why = _glibc()
    if libc is None:
        _state.update(state="unsupported", reason=why)
        return policy()
    _set(libc, MMAP_THRESHOLD, TRIM_THRESHOLD, by="default policy")
    return policy()


def policy() -> dict[str, Any]:
    """What tinygrad_np did to the allocator in this process: a dict with `state` ("applied", "off", "user",
    "unsupported", "failed" or "not applied"), `by` ("default policy" or "tune_malloc" when applied),
    `mmap_threshold` and `trim_threshold` in bytes (None unless set), and `reason` (a sentence)."""
    return dict(_state)


def describe() -> str:
    """`policy()` in one line, for logs and benchmark tables."""
    p = _state
    if p["state"] == "applied":
        return (f"malloc: mmap threshold {_mib(p['mmap_threshold'])}, trim threshold {_mib(p['trim_threshold'])} "
                f"({p['by']}; {ENV_VAR}=off for glibc's dynamic default)")
    return f"malloc: not set by tinygrad_np ({p['state']}: {p['reason']})"


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD, *,
                force: bool = False) -> bool:
    """Set glibc's mmap threshold (older glibc refuses more than 32 MiB) and trim threshold; True if both were set.

    The explicit form of the default policy (which `import tinygrad_np` already applies), kept for code that calls
    it. Unless `force`, it respects the same choices as the policy: False, changing nothing, where the process's
    malloc is not glibc's, where the user set glibc's thresholds in the environment, or with TINYGRAD_NP_MALLOC off.
    """
    if not force:
        choice = os.environ.get(ENV_VAR)
        if (choice is not None and choice.strip().lower() not in ON_VALUES) or _user_setting() is not None:
            return False
    libc, _ = _glibc()
    if libc is None:
        return False
    return _set(libc, mmap_threshold, trim_threshold, by="tune_malloc")


def release() -> bool:
    """Hand every free page of the heap back to the OS now (glibc's `malloc_trim(0)`): for a process that has
    finished training and goes on to other work. True if memory was released; False without glibc."""
    libc, _ = _glibc()
    return libc is not None and bool(libc.malloc_trim(ctypes.c_size_t(0)))
