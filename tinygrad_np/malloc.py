"""glibc's allocator, set once for array-heavy training loops: the default policy applied at `import tinygrad_np`.

**The problem.** glibc serves a block above its *mmap threshold* with a fresh `mmap` (returned by `munmap` on
free), and gives the free memory at the top of its heap back to the kernel whenever it exceeds the *trim threshold*;
either way the next step's temporaries are page-faulted in again, zeroed by the kernel, 4 KiB at a time. Both
thresholds are dynamic: they start at 128 KiB, and freeing an mmapped block of size S (up to 32 MiB) raises the mmap
threshold to S and the trim threshold to 2·S. So a step's cost depended on the largest block the process happened
to free *before* (the allocation history), not on the step: measured with benchmarks/bench_alloc_history.py, the
MNIST CNN step (batch 64) took 3,400-6,000 minor faults per step after loading MNIST or in a fresh process (its
temporaries, ~25-30 MiB, exceed a trim threshold of 2 x 7.5 MiB) and none after a 31 MB array had been freed;
an MLP step whose process never freed more than one step's 392 KiB block (trim threshold 784 KiB) faulted ~110
times per step under two BLAS threads, and not at all after anything larger had been freed.

**The policy.** Fix both thresholds, so that no history changes them (a fixed value also switches glibc's dynamic
adjustment off):

- `M_MMAP_THRESHOLD` = 32 MiB: blocks up to 32 MiB come from the heap and are recycled warm. It is the most glibc
  accepts (and the most its own dynamic rule ever reaches), so this is the state glibc adapts to by itself after a
  process has freed one 32 MiB block, reached at once. The CNN needs at least 8 MiB (its im2col columns, 7.2 MB);
  a 64x16x28x28 convolution's columns take 29 MB. Larger blocks are still mmapped every time: no setting of
  glibc changes that.
- `M_TRIM_THRESHOLD` = 128 MiB: the free memory at the top of the heap is kept up to 128 MiB before glibc hands it
  back. What a step frees there must fit below it, or the step faults it back in every time: measured, the MLP
  needs more than 0.5 MiB (784-128-10, batch 128), the CNN training step more than 24 MiB (more than 2 x 7.5 MiB,
  which is why it fell off the cliff), the 64x16x28x28 -> 32 convolution forward + backward more than 72 MiB
  (64 MiB, twice the mmap threshold as glibc's own rule would make it, still faulted 2,400 times per call). 128
  MiB covers all of these with margin; the old opt-in value (512 MiB) held four times as much for no measured gain.

**The cost.** Up to 128 MiB of freed heap memory at the top of the heap stays in the process rather than going back
to the OS (typically a step's temporaries, which the next step reuses); free blocks below 32 MiB inside the heap
stay too, as they would once glibc's own threshold has risen. Blocks above 32 MiB (a data set, a big model) are
unaffected: mmapped, and returned on free. `release()` (glibc's `malloc_trim(0)`) hands every free page back
when a process is done training. Results never change: only where memory comes from.

**Who decides.** The policy is applied only where the process's malloc is glibc's (not on macOS, Windows, musl, or
under an `LD_PRELOAD`ed jemalloc/tcmalloc); never when the user set any of these thresholds (glibc's
`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_`, `MALLOC_MMAP_MAX_`, or the
`glibc.malloc.*` tunables of the same names in `GLIBC_TUNABLES`); and not when `TINYGRAD_NP_MALLOC` is `default`,
`off` or `0`. `policy()` says what was done and why, `describe()` in one line (the benchmarks print it).
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys
import warnings
from typing import Any

MMAP_THRESHOLD = 32 << 20  # bytes: glibc's maximum for M_MMAP_THRESHOLD on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 128 << 20  # bytes: see the module docstring for the measurements behind both numbers

ENV_VAR = "TINYGRAD_NP_MALLOC"
OFF_VALUES = ("default", "off", "0", "false", "no", "glibc")
ON_VALUES = ("", "on", "1", "true", "yes", "tinygrad_np")
# glibc's own settings of the knobs we set (any of them set: the user decides, we leave malloc alone). Setting one
# also switches glibc's dynamic thresholds off, which is what we would override.
GLIBC_ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
GLIBC_TUNABLES = ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold", "glibc.malloc.top_pad",
                  "glibc.malloc.mmap_max")

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
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
    ok_mmap = bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)))
    ok_trim = bool(libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    if ok_mmap and ok_trim:
        _state.update(state="applied", by=by, mmap_threshold=int(mmap_threshold), trim_threshold=int(trim_threshold),
                      reason=f"mallopt(M_MMAP_THRESHOLD, {_mib(mmap_threshold)}), "
                             f"mallopt(M_TRIM_THRESHOLD, {_mib(trim_threshold)})")
    else:
        refused = [name for name, ok in (("M_MMAP_THRESHOLD", ok_mmap), ("M_TRIM_THRESHOLD", ok_trim)) if not ok]
        _state.update(state="failed", by=by, mmap_threshold=int(mmap_threshold) if ok_mmap else None,
                      trim_threshold=int(trim_threshold) if ok_trim else None,
                      reason=f"mallopt refused {' and '.join(refused)} (M_MMAP_THRESHOLD is at most 32 MiB)")
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
    return f"malloc: glibc's default, dynamic thresholds ({p['state']}: {p['reason']})"


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD, *,
                force: bool = False) -> bool:
    """Set glibc's mmap threshold (at most 32 MiB) and trim threshold; True if both were set.

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
