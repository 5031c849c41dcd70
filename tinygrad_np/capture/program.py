"""A captured step as a program: the recorded NumPy calls, planned onto fixed buffers, replayed and printed.

Planning turns the recorded calls into steps that write into preallocated arrays:

- a call that made a new array writes into a buffer instead (`out=` where NumPy offers it, a copy into it where
  not): the same NumPy call, so the same result, bit for bit;
- a call that only took a view (reshape, transpose, slicing) is done once, at planning: its buffer never moves;
- buffers are shared by values whose lifetimes do not overlap (same shape, dtype and memory layout): a value's
  buffer is free after its last reader, unless a tensor that outlives the step holds it (a `.grad`, a module's
  saved array) or the step returns it.
"""
from __future__ import annotations

import operator
from typing import Any, Callable

import numpy as np

from tinygrad_np.capture.trace import Call, CaptureError, HostCall, _Branch, _Draw, _name, root_of

# ndarray methods and NumPy functions that take `out=` and then give what they would have returned
_OUT_METHODS = {getattr(np.ndarray, m) for m in ("sum", "mean", "max", "min", "prod", "any", "all", "cumsum",
                                                 "cumprod", "std", "var", "clip", "round", "argmax", "argmin",
                                                 "take")}
_OUT_FUNCTIONS = {np.sum, np.mean, np.max, np.amax, np.min, np.amin, np.prod, np.cumsum, np.clip, np.take,
                  np.einsum, np.concatenate, np.around, np.round, np.any, np.all, np.argmax, np.argmin}
_COPIES = {np.ndarray.copy, np.copy, np.ascontiguousarray}
_FILLS = {np.empty: lambda a, k: None, np.empty_like: lambda a, k: None, np.zeros: lambda a, k: 0,
          np.zeros_like: lambda a, k: 0, np.ones: lambda a, k: 1, np.ones_like: lambda a, k: 1,
          np.full: lambda a, k: a[1] if len(a) > 1 else k["fill_value"],
          np.full_like: lambda a, k: a[1] if len(a) > 1 else k["fill_value"]}


def _nothing() -> None:
    pass


def _out_form(call: Call) -> tuple[Callable, tuple, dict] | None:
    """The call rewritten to write its one result into the array it made at capture, or None where NumPy has no
    such form (the replay then copies the result in)."""
    func, args, kwargs = call.func, call.args, call.kwargs
    if len(call.results) != 1:
        return None
    r = call.results[0]
    if r.base is not None:  # the call returned a view of what it made: copy into that view
        return None
    if isinstance(func, np.ufunc):
        return func, args, {**kwargs, "out": r}
    if isinstance(func, _Draw) and func.method in ("random", "standard_normal") and r.flags.c_contiguous:
        return func, args, {**kwargs, "out": r}  # the generator fills r: the same numbers as a new array
    if func in _FILLS:  # a new buffer (np.zeros(shape, like=x)): filled again, or (np.empty) left as it is
        value = _FILLS[func](args, kwargs)
        return (np.ndarray.fill, (r, value), {}) if value is not None else (_nothing, (), {})
    owner = getattr(func, "__self__", None)
    if isinstance(owner, np.ufunc) and func.__name__ in ("reduce", "accumulate", "outer"):
        return func, args, {**kwargs, "out": r}
    if func in _OUT_METHODS or func in _OUT_FUNCTIONS:
        return func, args, {**kwargs, "out": r}
    if func in _COPIES and len(args) == 1 and not kwargs:
        return np.copyto, (r, args[0]), {}
    if func is np.ndarray.astype and not kwargs.keys() - {"copy"} and len(args) == 2:
        return np.copyto, (r, args[0]), {"casting": "unsafe"}
    return None


class _CopyIn:
    """Replay step for a call without an `out=` form: call, then copy each result into its buffer."""

    __slots__ = ("func", "args", "kwargs", "results")

    def __init__(self, func: Callable, args: tuple, kwargs: dict, results: tuple) -> None:
        self.func, self.args, self.kwargs, self.results = func, args, kwargs, results

    def __call__(self) -> None:
        value = self.func(*self.args, **self.kwargs)
        for buf, v in zip(self.results, value if isinstance(value, tuple) else (value,)):
            np.copyto(buf, v)


def _call0(fn: Callable[[], None]) -> tuple[Callable, tuple, dict]:
    return fn, (), {}


def _arrays_in(obj: Any) -> list[np.ndarray]:
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [a for o in obj for a in _arrays_in(o)]
    if isinstance(obj, dict):
        return [a for o in obj.values() for a in _arrays_in(o)]
    return []


def _uses(c: Any) -> list[np.ndarray]:
    if isinstance(c, HostCall):
        return list(c.reads) + list(c.writes)
    return _arrays_in(c.args) + _arrays_in(c.kwargs) + list(c.results)


def _byte_view(buffer: np.ndarray) -> np.ndarray | None:
    """`buffer`'s memory as one flat uint8 array (None if it is not one dense block)."""
    if buffer.dtype.hasobject:  # (np.frompyfunc's results: references, not numbers)
        return None
    flat = buffer.ravel(order="K")
    if not np.shares_memory(flat, buffer) or not flat.flags.c_contiguous:
        return None
    return flat.view(np.uint8)


class Program:
    """The replayable form of one capture. `steps` are (function, args, kwargs) on fixed arrays."""

    def __init__(self, calls: list, pinned: set[int], names: dict[int, str]) -> None:
        self.names = dict(names)  # id(root) -> a name for printing (inputs, parameters)
        self.lines: list[str] = []
        self.steps: list[tuple[Callable, tuple, dict]] = []
        self.buffers: dict[int, np.ndarray] = {}  # id(buffer) -> buffer, for the arrays the program owns
        calls = self._share_buffers(calls, pinned)
        self._plan(calls)

    # ------------------------------------------------------------------------------------------------- planning

    def _share_buffers(self, calls: list, pinned: set[int]) -> list:
        """Give each array a call made the buffer of an earlier one whose last use is past (same shape, dtype and
        strides), and rewrite the calls onto those buffers. Pinned arrays (held by tensors that outlive the step,
        returned, inputs) keep their own."""
        made: dict[int, tuple[int, np.ndarray]] = {}  # id(root) -> (index of the call that made it, root)
        last: dict[int, int] = {}
        for i, c in enumerate(calls):
            if isinstance(c, Call) and c.kind == "new":
                for r in c.results:
                    root = root_of(r)
                    made.setdefault(id(root), (i, root))
            for a in _uses(c):
                last[id(root_of(a))] = i
        free: dict[tuple, list[np.ndarray]] = {}
        mapping: dict[int, np.ndarray] = {}  # id(root) -> the buffer it is given
        releases: dict[int, list[int]] = {}
        for key, i in last.items():
            if key in made and key not in pinned:
                releases.setdefault(i, []).append(key)
        for i, c in enumerate(calls):
            if isinstance(c, Call) and c.kind == "new":
                for r in c.results:
                    root = root_of(r)
                    key = id(root)
                    if key in mapping or made[key][0] != i:
                        continue
                    shape_key = (root.shape, root.dtype.str, root.strides)
                    pool = free.get(shape_key)
                    buf = pool.pop() if pool and key not in pinned else root
                    mapping[key] = buf
                    self.buffers[id(buf)] = buf
            for key in releases.get(i, ()):
                buf = mapping.get(key)
                if buf is not None and _byte_view(buf) is not None:
                    free.setdefault((buf.shape, buf.dtype.str, buf.strides), []).append(buf)
        moved = {k: b for k, b in mapping.items() if b is not made[k][1]}
        self.mapping = mapping  # id(value's root) -> its buffer: len(mapping) values in len(buffers) buffers
        if not moved:
            return calls
        byte_views = {k: _byte_view(b) for k, b in moved.items()}
        starts = {k: made[k][1].__array_interface__["data"][0] for k in moved}
        cache: dict[int, np.ndarray] = {}

        def remap(a: Any) -> Any:
            if isinstance(a, np.ndarray):
                done = cache.get(id(a))
                if done is not None:
                    return done
                key = id(root_of(a))
                if key not in moved:
                    return a
                if a is made[key][1]:
                    new = moved[key]
                else:
                    offset = a.__array_interface__["data"][0] - starts[key]
                    new = np.ndarray(a.shape, a.dtype, buffer=byte_views[key], offset=offset, strides=a.strides)
                cache[id(a)] = new
                return new
            if isinstance(a, (tuple, list)):
                return type(a)(remap(x) for x in a)
            if isinstance(a, dict):
                return {k: remap(v) for k, v in a.items()}
            return a

        out = []
        for c in calls:
            if isinstance(c, HostCall):
                out.append(c)
            else:
                out.append(Call(c.func, remap(c.args), remap(c.kwargs), remap(c.results), c.kind, remap(c.written)))
        return out

    def _plan(self, calls: list) -> None:
        # names for printing: one per buffer (a reused buffer keeps the name of its first owner)
        counter = iter(range(1 << 30))
        for c in calls:
            if isinstance(c, Call) and c.kind == "new":
                for r in c.results:
                    key = id(root_of(r))
                    if key not in self.names:
                        self.names[key] = f"t{next(counter)}"
        defined: set[int] = set()
        effects = False  # has a step before this one changed something outside the program's own buffers?
        for c in calls:
            if isinstance(c, HostCall):
                self.steps.append(_call0(c.fn))
                self.lines.append(c.label)
                effects = True
                continue
            if c.kind == "view":
                continue
            if c.kind == "write":
                if isinstance(c.func, _Branch):
                    c.func.safe = not effects  # nothing to undo yet: a mismatch may fall back to eager
                elif any(id(root_of(w)) not in self.buffers for w in c.written):
                    effects = True
                self.steps.append((c.func, c.args, c.kwargs))
                self.lines.append(self._line(c, None, False))
                continue
            if isinstance(c.func, _Draw):
                effects = True  # the generator moved on
            keys = [id(root_of(r)) for r in c.results]
            reused = any(k in defined for k in keys)
            defined.update(keys)
            form = _out_form(c)
            if form is None:
                for r in c.results:
                    if not r.flags.writeable:
                        raise CaptureError(f"captured step: {_name(c.func)} returned a read-only array that a replay "
                                           "cannot refill; run this step without capture")
                self.steps.append(_call0(_CopyIn(c.func, c.args, c.kwargs, c.results)))
            elif form[0] is not _nothing:
                self.steps.append(form)
            self.lines.append(self._line(c, form, reused))

    # ------------------------------------------------------------------------------------------------- replay

    def input_places(self, buffer: np.ndarray) -> list[tuple[int, Any]] | None:
        """Where the steps read the input `buffer` as an argument of their own, (step, position or keyword): a
        replay can then pass the caller's array there instead of copying it in. None when the buffer is also
        reached another way (a view of it, inside a container, by a call that copies in), or written."""
        places = []
        for i, (f, a, k) in enumerate(self.steps):
            for pos, v in list(enumerate(a)) + list(k.items()):
                if v is buffer:
                    if pos == "out":
                        return None
                    places.append((i, pos))
                elif any(root_of(x) is buffer for x in _arrays_in(v)):
                    return None
            if isinstance(f, _CopyIn) and any(root_of(x) is buffer for x in _arrays_in((f.args, f.kwargs))):
                return None
        return places

    def bind(self, places: list[tuple[int, Any]], array: np.ndarray) -> None:
        """Pass `array` at `places` (from input_places) in the steps from now on."""
        steps = self.steps
        for i, pos in places:
            f, a, k = steps[i]
            if type(pos) is int:
                steps[i] = (f, a[:pos] + (array,) + a[pos + 1:], k)
            else:
                steps[i] = (f, a, {**k, pos: array})

    def run(self) -> None:
        for f, a, k in self.steps:
            f(*a, **k)

    # ------------------------------------------------------------------------------------------------ printing

    def _ref(self, a: Any) -> str:
        if isinstance(a, np.ndarray):
            root = root_of(a)
            name = self.names.get(id(root))
            if name is None:
                if not a.ndim:
                    return repr(a.item())
                if a.size and a.size <= 1 << 16 and (a == a.flat[0]).all():
                    fill = a.flat[0].item()
                    kind = {0: "zeros", 1: "ones"}.get(fill) if not isinstance(fill, bool) else None
                    shape = "x".join(map(str, a.shape))
                    return f"{kind}({shape})" if kind else f"full({shape}, {fill!r})"
                return f"const({'x'.join(map(str, a.shape))})"
            if a.shape == root.shape and a.strides == root.strides:
                return name
            if a.ndim == 2 and a.shape == root.shape[::-1] and a.strides == root.strides[::-1]:
                return f"{name}.T"
            return f"{name}<view {'x'.join(map(str, a.shape)) or 'scalar'}>"
        if isinstance(a, tuple) and len(a) == 1 and isinstance(a[0], np.ndarray):
            return self._ref(a[0])  # out=(x,)
        if isinstance(a, (tuple, list)):
            inner = ", ".join(self._ref(x) for x in a)
            return f"({inner})" if isinstance(a, tuple) else f"[{inner}]"
        if isinstance(a, slice):
            return ":".join("" if v is None else str(v) for v in (a.start, a.stop, a.step)).rstrip(":") or ":"
        if isinstance(a, np.dtype) or isinstance(a, type):
            return np.dtype(a).name
        return repr(a)

    def _line(self, c: Call, form: Any, reused: bool) -> str:
        func = c.func
        args = ", ".join([self._ref(a) for a in c.args] + [f"{k}={self._ref(v)}" for k, v in c.kwargs.items()])
        if isinstance(func, _Branch):
            return f"check {self._ref(c.args[0])} is {func.expected}   # else: this call runs eagerly" + (
                "" if func.safe else " (here: raises, something has changed already)")
        if func is operator.getitem:
            text = f"{self._ref(c.args[0])}[{self._ref(c.args[1])}]"
        elif func is operator.setitem:
            text = f"{self._ref(c.args[0])}[{self._ref(c.args[1])}] = {self._ref(c.args[2])}"
        elif getattr(func, "__objclass__", None) is np.ndarray:
            rest = ", ".join([self._ref(a) for a in c.args[1:]] + [f"{k}={self._ref(v)}" for k, v in c.kwargs.items()])
            text = f"{self._ref(c.args[0])}.{func.__name__}({rest})"
        else:
            prefix = "" if isinstance(func, _Draw) else "np."
            text = f"{prefix}{_name(func)}({args})"
        if c.kind == "write":
            return text
        targets = ", ".join(self._ref(r) for r in c.results)
        shapes = ", ".join(f"{'x'.join(map(str, r.shape)) or 'scalar'} {r.dtype}" for r in c.results)
        how = ("" if form is not None else ", copied in") + (", buffer reused" if reused else "")
        return f"{targets} = {text}   # {shapes}{how}"

    def __str__(self) -> str:
        return "\n".join(self.lines)
