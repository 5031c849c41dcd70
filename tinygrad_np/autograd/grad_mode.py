"""Grad mode (`no_grad`, `enable_grad`, `set_grad_enabled`) and anomaly mode (`detect_anomaly`)."""
from __future__ import annotations

import contextvars
import functools
import inspect
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
        """As a decorator: the mode holds while `fn` runs. For a generator function, while its body runs: the mode
        is set around each step and the caller's restored at each `yield` (as PyTorch's decorator does)."""
        make = self._fresh
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generator(*args: Any, **kwargs: Any) -> Any:
                gen = fn(*args, **kwargs)
                try:
                    with make():
                        request = gen.send(None)
                    while True:
                        try:
                            sent = yield request
                        except GeneratorExit:
                            with make():
                                gen.close()
                            raise
                        except BaseException as e:  # thrown into this generator: pass it on, inside the mode
                            with make():
                                request = gen.throw(e)
                        else:
                            with make():
                                request = gen.send(sent)
                except StopIteration as stop:  # fn's generator returned: so does this one, with its value
                    return stop.value

            return generator

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with make():
                return fn(*args, **kwargs)

        return wrapper

    def _fresh(self) -> _SetGradMode:
        return type(self)()


class no_grad(_SetGradMode):
    """Inside it, ops build no graph and save nothing for backward: outputs have `requires_grad=False`."""

    _enabled = False


class enable_grad(_SetGradMode):
    """Turns graph building back on inside a `no_grad` block."""

    _enabled = True


class set_grad_enabled(_SetGradMode):
    """`set_grad_enabled(mode)` turns graph building on or off in this thread at once; used as `with
    set_grad_enabled(mode):` it restores the previous mode on exit (and as a decorator, sets `mode` around the
    function), like `torch.set_grad_enabled`."""

    def __new__(cls, mode: bool):
        return object.__new__(cls)

    def __init__(self, mode: bool) -> None:
        self._enabled = bool(mode)
        self._local = threading.local()
        self._previous = _grad_enabled_now()
        _grad_enabled.set(self._enabled)  # effective now: `set_grad_enabled(False)` alone is a call

    def __enter__(self) -> None:
        _grad_enabled.set(self._enabled)

    def __exit__(self, *exc_info: Any) -> None:
        _grad_enabled.set(self._previous)

    def __call__(self, fn: Callable) -> Callable:
        _grad_enabled.set(self._previous)  # used as a decorator: the call above was not meant to stay
        return super().__call__(fn)

    def _fresh(self) -> _SetGradMode:
        return (no_grad, enable_grad)[self._enabled]()

    def __repr__(self) -> str:
        return f"set_grad_enabled(mode={self._enabled})"


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


class set_detect_anomaly:
    """`set_detect_anomaly(mode)` turns anomaly detection (see `detect_anomaly`) on or off for the whole process at
    once; used as `with set_detect_anomaly(mode):` it restores the previous setting on exit, like PyTorch's."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._previous = _anomaly[0]
        _anomaly[0] = bool(mode) and bool(check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info: Any) -> None:
        _anomaly[0] = self._previous


def is_anomaly_enabled() -> bool:
    return _anomaly[0]
