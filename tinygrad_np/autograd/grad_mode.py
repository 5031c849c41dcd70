"""Grad mode (`no_grad`, `enable_grad`, `set_grad_enabled`) and anomaly mode (`detect_anomaly`)."""
from __future__ import annotations

import contextvars
import functools
import threading
from typing import Any, Callable

# ---------------------------------------------------------------------------------------------------------------
# grad mode


# Per thread (and per asyncio task), like PyTorch's grad mode: a new thread starts with gradients enabled. A context
# variable rather than a threading.local, because every op reads it and reading one costs a third as much.
_grad_enabled = contextvars.ContextVar("tinygrad_np_grad_enabled", default=True)
_grad_enabled_now = _grad_enabled.get


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` (in this thread)."""
    return _grad_enabled_now()


def set_grad_enabled(mode: bool) -> None:
    """Turn graph building on or off in this thread (like `torch.set_grad_enabled` called as a function)."""
    _grad_enabled.set(bool(mode))


class _SetGradMode:
    """A context manager and decorator that sets grad mode and restores the previous one on exit or exception.

    What to restore is kept per thread: one instance entered by two threads at once (a module-level
    `no_grad()` shared by worker threads) leaves each thread's mode as that thread had it.
    """

    _enabled: bool

    def __new__(cls, fn: Callable | None = None):
        self = super().__new__(cls)
        self._local = threading.local()  # this thread's stack of modes to restore (an instance may nest in itself)
        return self(fn) if fn is not None else self  # bare `@no_grad` as well as `@no_grad()`

    def __enter__(self) -> None:
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append(_grad_enabled_now())
        _grad_enabled.set(self._enabled)

    def __exit__(self, *exc_info: Any) -> None:
        _grad_enabled.set(self._local.stack.pop())

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_SetGradMode):
    """Inside it, ops build no graph and save nothing for backward: outputs have `requires_grad=False`."""

    _enabled = False


class enable_grad(_SetGradMode):
    """Turns graph building back on inside a `no_grad` block."""

    _enabled = True


# ---------------------------------------------------------------------------------------------------------------
# anomaly mode

_anomaly = [False]  # one flag for the process, as PyTorch's; a list so the hot paths read it without a global


class detect_anomaly:
    """Inside it (or after `set_detect_anomaly(True)`), every op remembers where in your code its forward ran, and
    backward raises `RuntimeError` as soon as an op's backward returns a NaN or infinite gradient, naming the op,
    the input, and that forward call. It slows every op down (a stack trace each): use it to find a bug, not to
    train. PyTorch checks for NaN only; this checks for infinities too."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> None:
        self._previous = _anomaly[0]
        _anomaly[0] = self.check_nan

    def __exit__(self, *exc_info: Any) -> None:
        _anomaly[0] = self._previous


def set_detect_anomaly(mode: bool) -> None:
    """Turn anomaly detection on or off for the whole process (see `detect_anomaly`)."""
    _anomaly[0] = bool(mode)


def is_anomaly_enabled() -> bool:
    return _anomaly[0]
