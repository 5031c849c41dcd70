"""Recording a training step as the NumPy calls it makes.

While a step is captured, every array that carries the step's data is a `Traced` stand-in: it holds the real
array (computed at once, so the captured run is an ordinary eager run) and hands every NumPy operation done to it
to the `Recorder`, which calls NumPy and writes the call down. The tensors, nodes and graph walk of the eager
engine run as usual; what is written down is only what reached NumPy: the forward and backward pass as NumPy calls,
in order, on fixed arrays.

A stand-in never lets its value escape unrecorded, so a capture is right or raises: turning it into a Python
number (`.item()`, `float()`, `if x > 0:`) or into a plain array (`np.asarray`) raises `CaptureError`, as does
writing a traced value into an array made outside the capture.
"""
from __future__ import annotations

import operator
from threading import get_ident
from typing import Any, Callable

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

README_CAPTURE = "README.md, section 'Captured training steps'"


class CaptureError(RuntimeError):
    """A captured step did something that a replay could not repeat faithfully."""


class BranchMismatch(Exception):
    """A replay met a check that came out otherwise than at capture, before changing anything: run eagerly."""


def root_of(a: np.ndarray) -> np.ndarray:
    """The array that owns `a`'s memory (`a` itself if it owns it)."""
    while True:
        base = a.base
        if base is None:
            return a
        if not isinstance(base, np.ndarray):  # as_strided's stand-in object, a buffer
            inner = getattr(base, "base", None)
            if isinstance(inner, np.ndarray):
                a = inner
                continue
            return a
        a = base


def _refuse(what: str) -> CaptureError:
    return CaptureError(
        f"captured step: {what} of a traced array. A captured step is replayed without Python, so a value computed "
        f"inside it cannot flow into Python (.item(), float(), tolist(), an `if` on a tensor's value, np.asarray). "
        f"Return the tensor from the step and read it outside, or run this step without capture. See {README_CAPTURE}."
    )


# Methods of ndarray a stand-in records by name (its others raise AttributeError, naming the method).
_METHODS = frozenset((
    "sum", "mean", "max", "min", "prod", "any", "all", "argmax", "argmin", "cumsum", "cumprod", "std", "var",
    "clip", "round", "dot", "reshape", "transpose", "swapaxes", "squeeze", "ravel", "flatten", "copy", "astype",
    "view", "fill", "take", "repeat", "nonzero", "conj", "diagonal", "trace", "put", "sort", "argsort",
    "partition", "argpartition", "searchsorted", "cumsum",
))
# ndarray methods that write into the array they are called on
_WRITING_METHODS = frozenset(("fill", "put", "sort", "partition"))


class Traced(NDArrayOperatorsMixin):
    """A stand-in for an array inside a captured step: NumPy operations on it are recorded (see the module)."""

    __slots__ = ("value", "recorder")
    __array_priority__ = 1000

    def __init__(self, value: np.ndarray, recorder: Recorder) -> None:
        self.value, self.recorder = value, recorder

    # static facts: the guards of a captured program fix shapes and dtypes, so these are constants
    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    itemsize = property(lambda self: self.value.itemsize)
    nbytes = property(lambda self: self.value.nbytes)
    strides = property(lambda self: self.value.strides)
    flags = property(lambda self: self.value.flags)

    @property
    def base(self) -> Any:
        return None if self.value.base is None else self  # (only ever tested against None)

    @property
    def T(self) -> Traced:
        return self.recorder.call(np.transpose, (self,), {})

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return f"Traced({self.value.shape}, {self.value.dtype})"

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        func = ufunc if method == "__call__" else getattr(ufunc, method)
        return self.recorder.call(func, inputs, kwargs)

    def __array_function__(self, func: Callable, types: tuple, args: tuple, kwargs: dict) -> Any:
        return self.recorder.call(func, args, kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self.recorder.call(operator.getitem, (self, key), {})

    def __setitem__(self, key: Any, value: Any) -> None:
        self.recorder.call(operator.setitem, (self, key, value), {})

    def __getattr__(self, name: str) -> Any:
        if name in _METHODS:
            method = getattr(np.ndarray, name)
            return lambda *args, **kwargs: self.recorder.call(method, (self,) + args, kwargs)
        raise AttributeError(f"captured step: ndarray.{name} cannot be recorded on a traced array (it is not among "
                             f"the operations tinygrad_np captures). Run this step without capture. See "
                             f"{README_CAPTURE}.")

    # values that would leave the recording: refused in the capturing thread; another thread (which a capture
    # does not record) reads the real array
    def _escape(self, what: str) -> np.ndarray:
        if self.recorder.thread != get_ident():
            return self.value
        raise _refuse(what)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        value = self._escape("np.asarray (or another NumPy function that reads the raw memory)")
        return value if dtype is None else value.astype(dtype, copy=False)

    def __bool__(self) -> bool:
        return bool(self._escape("the truth value (an `if` or `while` on a tensor's value)"))

    def __float__(self) -> float:
        return float(self._escape("float()"))

    def __int__(self) -> int:
        return int(self._escape("int()"))

    def __index__(self) -> int:
        return self._escape("use as an index or a count").__index__()

    def __complex__(self) -> complex:
        return complex(self._escape("complex()"))

    def __iter__(self) -> Any:
        return iter(self._escape("iteration (a Python loop over a tensor's values)"))

    def item(self, *args: Any) -> Any:
        return self._escape(".item()").item(*args)

    def tolist(self) -> Any:
        return self._escape(".tolist()").tolist()

    def tobytes(self, *args: Any, **kwargs: Any) -> bytes:
        return self._escape(".tobytes()").tobytes(*args, **kwargs)

    def as_strided(self, shape: tuple[int, ...], strides: tuple[int, ...], writeable: bool = True) -> Traced:
        """`np.lib.stride_tricks.as_strided` of the stand-in (NumPy's own does not dispatch: conv.py calls this)."""
        return self.recorder.call(_as_strided, (self, shape, strides, writeable), {})


def branch(condition: Any) -> bool:
    """`bool(condition)` for the library's own checks on values (a rare slow path, a validation). Inside a captured
    step the decision is recorded with its outcome: a replay checks it again and raises CaptureError if it comes
    out the other way (the captured calls would be the wrong ones), rather than replaying wrongly."""
    if type(condition) is Traced:
        return condition.recorder.branch(condition.value)
    return bool(condition)


class _Branch:
    """Replay step of a recorded decision: raises if the condition's value differs from the captured one."""

    __name__ = "check"

    def __init__(self, expected: bool) -> None:
        self.expected = expected
        self.safe = False  # set by the planner: True when no step before it changed anything outside the program

    def __call__(self, condition: np.ndarray) -> None:
        if bool(condition) != self.expected:
            if self.safe:
                raise BranchMismatch()
            raise CaptureError(
                f"captured step: a check on the data came out {not self.expected} on replay, {self.expected} when "
                "the step was captured (for example a NaN or an infinity met where the capture met none), so the "
                "captured calls do not apply. Run this step without capture, or capture it again (the program "
                "tinygrad_np.jit made is left as it was).")


def _as_strided(a: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...], writeable: bool) -> np.ndarray:
    return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=writeable)


# Functions whose result is a fact about shapes, dtypes or memory, not about values: returned as they are.
_STATIC = {np.result_type, np.shape, np.ndim, np.size, np.may_share_memory, np.shares_memory, np.iscomplexobj,
           np.isrealobj, np.broadcast_shapes, np.can_cast, np.min_scalar_type}


class Call:
    """One recorded NumPy call: `func(*args, **kwargs)` on the capture's real arrays.

    kind: "new" (it made new arrays, `results`), "view" (it only returned views of arrays the capture knows:
    nothing to do on replay), "write" (it wrote into arrays it was given: `out=`, `x[i] = v`, fill, copyto).
    """

    __slots__ = ("func", "args", "kwargs", "results", "kind", "written")

    def __init__(self, func: Callable, args: tuple, kwargs: dict, results: tuple, kind: str, written: tuple) -> None:
        self.func, self.args, self.kwargs, self.results, self.kind, self.written = (func, args, kwargs, results,
                                                                                       kind, written)


class HostCall:
    """A Python function the replay calls as it is, on the capture's arrays (an optimizer's update: it reads its
    learning rate and state afresh at every replay). `label` is what the printed program shows."""

    __slots__ = ("fn", "reads", "writes", "label")

    def __init__(self, fn: Callable[[], None], reads: tuple, writes: tuple, label: str) -> None:
        self.fn, self.reads, self.writes, self.label = fn, reads, writes, label


class Recorder:
    """Collects the calls of one capture, and knows which arrays carry its data ("roots": what its calls made, its
    inputs, and the tensors it found alive when it started)."""

    def __init__(self) -> None:
        self.calls: list[Call | HostCall] = []
        self.made: dict[int, np.ndarray] = {}  # id(root) -> root array, for the arrays calls made
        self.known: dict[int, np.ndarray] = {}  # id(root) -> root, for inputs and the data of tensors found alive
        self.closed = False
        self.thread = get_ident()  # the capturing thread: other threads' work is not the step's (passed through)

    def trace(self, value: np.ndarray, source: bool = True) -> Traced:
        """A stand-in for `value`, whose memory is from now on the capture's (an input, a tensor's data)."""
        if source:
            root = root_of(value)
            self.known.setdefault(id(root), root)
        return Traced(value, self)

    def is_traced_memory(self, a: np.ndarray) -> bool:
        key = id(root_of(a))
        return key in self.made or key in self.known

    def call(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        if self.thread != get_ident():  # another thread's eager work on a tensor the capture traces: done, unrecorded
            return func(*_unwrap(args), **_unwrap(kwargs))
        if self.closed:
            raise CaptureError(f"{_name(func)}: this array belongs to a captured step that has finished; tensors "
                               "made inside a captured step are only valid inside it (return them from the step).")
        real_args, real_kwargs = _unwrap(args), _unwrap(kwargs)
        written = _written(func, real_args, real_kwargs)
        for w in written:
            if isinstance(w, np.ndarray) and not self.is_traced_memory(w):
                raise CaptureError(
                    f"captured step: {_name(func)} writes a traced value into an array made outside the capture "
                    f"(shape {w.shape}, {w.dtype}); its writes would not be repeated on replay. Make the array inside "
                    f"the step from traced arrays (np.empty_like(x), np.zeros(shape, like=x)), or run this step "
                    f"without capture. See {README_CAPTURE}.")
        result = func(*real_args, **real_kwargs)
        if func in _STATIC:
            return result
        if written:
            self.calls.append(Call(func, real_args, real_kwargs, (), "write", tuple(written)))
            return _wrap_result(result, self, real_args, real_kwargs)
        outs = result if isinstance(result, tuple) else (result,)
        arrays = []
        for r in outs:
            if isinstance(r, np.generic):
                r = np.asarray(r)
            if not isinstance(r, np.ndarray):
                raise CaptureError(f"captured step: {_name(func)} returned a {type(r).__name__} computed from traced "
                                   f"values, which a replay could not recompute. See {README_CAPTURE}.")
            arrays.append(r)
        if all(self.is_traced_memory(r) for r in arrays):
            kind = "view"
        else:
            kind = "new"
            for r in arrays:
                root = root_of(r)
                if not self.is_traced_memory(root):
                    self.made[id(root)] = root
        self.calls.append(Call(func, real_args, real_kwargs, tuple(arrays), kind, ()))
        wrapped = tuple(Traced(r, self) for r in arrays)
        return wrapped if isinstance(result, tuple) else wrapped[0]

    def branch(self, condition: np.ndarray) -> bool:
        outcome = bool(condition)
        if self.thread != get_ident():
            return outcome
        self.calls.append(Call(_Branch(outcome), (condition,), {}, (), "write", ()))
        return outcome

    def host_call(self, fn: Callable[[], None], reads: tuple, writes: tuple, label: str) -> None:
        """Run `fn` now and again at every replay (see HostCall)."""
        fn()
        self.calls.append(HostCall(fn, reads, writes, label))

    def draw(self, method: str, args: tuple, kwargs: dict, generator: Callable[[], Any]) -> Traced:
        """A random draw: made now, and made afresh from the live generator at every replay."""
        return self.call(_Draw(method, generator), args, kwargs)


class _Draw:
    """`generator().<method>(*args)`: the generator is looked up at each call (manual_seed replaces it)."""

    def __init__(self, method: str, generator: Callable[[], Any]) -> None:
        self.method, self.generator = method, generator
        self.__name__ = f"random.{method}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.generator(), self.method)(*args, **kwargs)


def _name(func: Any) -> str:
    if func is operator.getitem:
        return "x[...]"
    if func is operator.setitem:
        return "x[...] = v"
    owner = getattr(func, "__self__", None)
    if isinstance(owner, np.ufunc):
        return f"{owner.__name__}.{func.__name__}"
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)


def _unwrap(obj: Any) -> Any:
    t = type(obj)
    if t is Traced:
        return obj.value
    if t is tuple or t is list:
        return t(_unwrap(o) for o in obj)
    if t is dict:
        return {k: _unwrap(v) for k, v in obj.items()}
    if t is slice and (type(obj.start) is Traced or type(obj.stop) is Traced or type(obj.step) is Traced):
        raise _refuse("a slice bound")
    return obj


def _written(func: Callable, args: tuple, kwargs: dict) -> list:
    """The arrays a call writes into."""
    out = kwargs.get("out")
    if out is not None:
        return list(out) if isinstance(out, tuple) else [out]
    if isinstance(func, np.ufunc):
        extra = args[func.nin:]  # outputs given positionally
        if extra:
            return [a for a in extra if a is not None]
        return []
    if func is operator.setitem or func is np.copyto or func in (np.put, np.put_along_axis, np.place, np.putmask,
                                                                  np.fill_diagonal):
        return [args[0]]
    if getattr(func, "__name__", None) == "at" and isinstance(getattr(func, "__self__", None), np.ufunc):
        return [args[0]]  # ufunc.at(a, indices, b)
    if getattr(func, "__name__", None) in _WRITING_METHODS and getattr(func, "__objclass__", None) is np.ndarray:
        return [args[0]]
    return []


def _wrap_result(result: Any, recorder: Recorder, args: tuple, kwargs: dict) -> Any:
    """What a writing call returns: the array it wrote, given back as the stand-in the caller passed."""
    if isinstance(result, np.ndarray):
        return Traced(result, recorder)
    if isinstance(result, tuple):
        return tuple(Traced(r, recorder) if isinstance(r, np.ndarray) else r for r in result)
    return result
