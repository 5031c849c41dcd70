"""Captured training steps: `jit(step)` runs a step eagerly, then captures it as NumPy calls, then replays them.

    @tinygrad_np.jit
    def train_step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

The first call runs the step as usual (modules and optimizers make their state). The second runs it again,
recording every NumPy call that touches the step's data (trace.py), and plans the calls onto fixed buffers
(program.py). From the third call on the step is replayed: the caller's arrays are passed to the recorded NumPy
calls (or copied into the input buffers) and the calls run in order, with no Tensor, no node and no graph walk.
`print(train_step.program)` shows them.

What a replay sees afresh, and what it checks (a failed check captures again; it never replays wrongly):
- the arguments' shapes and dtypes (and the values of arguments that are not arrays) select the program;
- each tensor's data array and requires_grad, and a `.grad` that the step reads before it sets it, must be as
  captured (`load_state_dict` copies into the parameters' arrays in place, so it is seen);
- each module the step called must have the mode and settings it had (`nn.module._unchanged`), and the grad
  mode must be as captured;
- an optimizer's step is a call into the optimizer at every replay: its learning rate, its state, a scheduler's
  changes are read live; random draws (dropout) are drawn afresh from tinygrad_np's generator;
- a check the library made on values (`trace.branch`) is made again: if it comes out otherwise, that call runs
  eagerly (or raises CaptureError once the replay has changed something).
"""
from __future__ import annotations

import gc
from threading import get_ident
from typing import Any, Callable

import numpy as np

from tinygrad_np.capture.program import Program
from tinygrad_np.capture.trace import README_CAPTURE, BranchMismatch, CaptureError, Recorder, Traced, root_of

__all__ = ["jit", "CaptureError", "Traced", "capturing", "host_call", "guard"]

_active: list[Recorder | None] = [None]  # the capture in progress (one at a time, in this process)
_guards: list[list | None] = [None]  # attribute guards the capture in progress collects


def capturing() -> Recorder | None:
    """The recorder of the capture in progress in this thread, or None (a capture records only its own thread)."""
    rec = _active[0]
    return rec if rec is not None and rec.thread == get_ident() else None


def guard(obj: Any, unchanged: Callable[[Any], Callable[[], bool]]) -> None:
    """During a capture (in this thread): a replay requires `unchanged(obj)()`, the check made now, to hold (a
    module's mode and settings); where it does not, the step is captured again."""
    guards = _guards[0]
    if guards is not None and capturing() is not None and not any(o is obj for o, _ in guards):
        guards.append((obj, unchanged(obj)))


def host_call(fn: Callable[[], None], label: str, reads: tuple = ()) -> None:
    """Run `fn` now, and at every replay of the capture in progress (an optimizer's update). `reads`: the traced
    arrays (real ones, `real(a)`) it reads, which the planner keeps alive up to it."""
    _active[0].host_call(fn, tuple(reads), (), label)


def real(a: Any) -> Any:
    """The array behind a stand-in (for host calls, which run on the capture's real arrays)."""
    return a.value if type(a) is Traced else a


MAX_PROGRAMS = 8  # programs kept per argument signature


class jit:
    """Capture a step function once and replay it (see the module docstring and README, 'Captured training steps').

    `jit(fn)` or `@jit`. Arguments may be Tensors, NumPy arrays, numbers, strings, None, or tuples of these. The
    step returns None, a Tensor, or a tuple/list/dict of Tensors: a replay returns new Tensors holding copies of the
    values (no graph). `warmup` eager calls run before the capture (default 1: lazily made state exists by then).
    """

    def __init__(self, fn: Callable, warmup: int = 1) -> None:
        self.fn, self.warmup = fn, warmup
        self.programs: dict[Any, list[_Captured]] = {}
        self.eager_calls: dict[Any, int] = {}
        self.captures = 0  # how many times a step was captured (a failed guard captures again)
        self.replays = 0
        self.fallbacks = 0  # replays that met a check the capture did not, and ran eagerly instead
        self.__wrapped__ = fn
        self.__doc__ = getattr(fn, "__doc__", None)

    @property
    def program(self) -> Program | None:
        """The most recently captured program (print it to see the NumPy calls)."""
        return self._last.program if self.programs else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = _signature(args, kwargs)
        programs = self.programs.get(key)
        if programs is not None:
            for captured in programs:  # (several when the state around the step alternates: see guards)
                if captured.guards_hold():
                    try:
                        result = captured.replay(args, kwargs)
                    except BranchMismatch:  # a rare case (a NaN, say) before any change: run this call eagerly
                        self.fallbacks += 1
                        return self.fn(*args, **kwargs)
                    self.replays += 1
                    return result
            if len(programs) >= MAX_PROGRAMS:  # the state keeps changing: no program would be replayed twice
                return self.fn(*args, **kwargs)
        count = self.eager_calls.get(key, 0)
        if programs is None and count < self.warmup:
            self.eager_calls[key] = count + 1
            return self.fn(*args, **kwargs)
        captured, result = _capture(self.fn, args, kwargs)
        self.programs.setdefault(key, []).append(captured)
        self._last = captured
        self.captures += 1
        return result


def _tensor_class() -> type:
    global _TENSOR
    if _TENSOR is None:
        from tinygrad_np.tensor import Tensor  # (tensor.py imports this package)

        _TENSOR = Tensor
    return _TENSOR


_TENSOR = None


def _signature(args: tuple, kwargs: dict) -> Any:
    """What selects a program: the arguments' shapes and dtypes, and the values of those that are not arrays."""
    if kwargs:
        return tuple(map(_sig, args)), tuple(sorted((k, _sig(v)) for k, v in kwargs.items()))
    return tuple(map(_sig, args))


def _sig(a: Any) -> Any:
    # (a module-level function: a nested recursive one would make a reference cycle at every call)
    if isinstance(a, _tensor_class()):
        return ("T", a.data.shape, a.data.dtype.str, a._requires_grad)
    if isinstance(a, np.ndarray):
        return ("A", a.shape, a.dtype.str)
    if isinstance(a, (tuple, list)):
        return (type(a).__name__,) + tuple(map(_sig, a))
    if a is None or isinstance(a, (bool, int, float, str, np.generic)):
        return (type(a).__name__, a)
    raise CaptureError(f"jit: an argument of type {type(a).__name__} cannot select a captured program: pass "
                       f"Tensors, arrays, numbers, strings or None (keep other objects in a closure). See "
                       f"{README_CAPTURE}.")


class _Captured:
    """A program plus what its replay needs: input buffers, guards, the `.grad`s to bind, the outputs' layout."""

    def __init__(self, program: Program, input_slots: list, guards: list, bindings: list, outputs: Any,
                 arg_grads: list) -> None:
        self.program, self.input_slots, self.guards, self.bindings, self.outputs = (program, input_slots, guards,
                                                                                    bindings, outputs)
        self.arg_grads = arg_grads  # (path of an argument tensor, the buffer of the .grad the step gives it)

    def guards_hold(self) -> bool:
        for check in self.guards:
            if not check():
                return False
        return True

    def replay(self, args: tuple, kwargs: dict) -> Any:
        from tinygrad_np.tensor import Tensor

        for path, buf, places, _ in self.input_slots:
            a = _at(args, kwargs, path)
            a = a.data if isinstance(a, Tensor) else a
            if places is None:
                np.copyto(buf, a)
            elif a.strides == buf.strides and type(a) is np.ndarray:  # the caller's array itself, no copy
                self.program.bind(places, a)
            else:  # (laid out otherwise: copied into the buffer, which the steps then read)
                np.copyto(buf, a)
                self.program.bind(places, buf)
        self.program.run()
        for path, buf, _, written in self.input_slots:
            if written:  # the step changed its argument in place: so does the replay, in the caller's array
                a = _at(args, kwargs, path)
                np.copyto(a.data if isinstance(a, Tensor) else a, buf)
        for path, buf in self.arg_grads:
            _at(args, kwargs, path).grad = Tensor._make(buf.copy(), False, None)
        for t, g in self.bindings:
            t.grad = g
        return _rebuild(self.outputs)


def _at(args: tuple, kwargs: dict, path: tuple) -> Any:
    where, key = path[0], path[1]
    obj = args[key] if where == "a" else kwargs[key]
    for i in path[2:]:
        obj = obj[i]
    return obj


def _rebuild(out: Any) -> Any:
    from tinygrad_np.tensor import Tensor

    kind = out[0]
    if kind == "T":
        return Tensor(out[1].copy())
    if kind == "v":
        return out[1]
    if kind == "d":
        return {k: _rebuild(v) for k, v in out[1].items()}
    return out[2](_rebuild(v) for v in out[1])


def _live_tensors() -> list:
    from tinygrad_np.tensor import Tensor

    return [o for o in gc.get_objects() if issubclass(type(o), Tensor)]  # (nn.Parameter too; type(): no __getattr__)


def _capture(fn: Callable, args: tuple, kwargs: dict) -> tuple[_Captured, Any]:
    from tinygrad_np import rng
    from tinygrad_np.tensor import Tensor

    if _active[0] is not None:
        raise CaptureError("jit: a captured step called another captured step; capture the outer one only")
    rec = Recorder()
    names: dict[int, str] = {}
    input_slots: list = []

    arg_tensors: list = []  # (path, tensor, its array): the caller's tensors, which the step gets as they are

    def trace_input(a: Any, path: tuple) -> Any:
        # The program reads its own copy of each argument (never the caller's array, which may be a view of a
        # whole data set); a replay passes the caller's array in its place, or copies it in (inputs.bind_inputs).
        if isinstance(a, Tensor):
            if type(a.data) is Traced:  # the same tensor passed twice
                return a
            if a._requires_grad and a.grad is not None:
                raise CaptureError("jit: an argument that requires grad already has a .grad; a captured step would "
                                   "have to add into it at every call. Set its .grad to None before the call, or "
                                   "accumulate outside the step")
            buf = a.data.copy()
            input_slots.append((path, buf))
            names[id(buf)] = f"in{len(input_slots) - 1}"
            arg_tensors.append((path, a, a.data))
            a.data = rec.trace(buf)  # the caller's tensor itself: a .grad the step gives it is the caller's
            return a
        if isinstance(a, np.ndarray):
            buf = a.copy()
            input_slots.append((path, buf))
            names[id(buf)] = f"in{len(input_slots) - 1}"
            return rec.trace(buf)
        if isinstance(a, (tuple, list)):
            return type(a)(trace_input(x, path + (i,)) for i, x in enumerate(a))
        return a

    targs = tuple(trace_input(a, ("a", i)) for i, a in enumerate(args))
    tkwargs = {k: trace_input(v, ("k", k)) for k, v in kwargs.items()}

    # Every tensor alive now gets a stand-in for its data: whatever the step does to it is recorded.
    alive = _live_tensors()
    entry = []  # (tensor, data, grad tensor) as the step found them
    for t in alive:
        if type(getattr(t, "data", None)) is np.ndarray:
            entry.append((t, t.data, t.grad))
    for t, data, _ in entry:
        t.data = rec.trace(data)
    del alive
    from tinygrad_np.autograd.grad_mode import _grad_enabled_now

    grad_mode = _grad_enabled_now()
    guards: list = []
    _active[0], _guards[0] = rec, guards
    rng._capture = rec
    first_access = _watch_grads(Tensor)
    try:
        result = fn(*targs, **tkwargs)
        outputs = _outputs(result)
    finally:
        _active[0] = _guards[0] = None
        rng._capture = None
        _unwatch_grads(Tensor)
        for _, t, data in arg_tensors:  # the caller's arrays back, with what the step wrote into them
            if type(t.data) is Traced and t.data.value is not data:
                np.copyto(data, t.data.value)
            t.data = data
        # every tensor gets its real array back: the entry tensors theirs, tensors made in the step the buffer
        survivors = set()
        for t in _live_tensors():
            data = getattr(t, "data", None)  # (a tensor whose construction failed has none)
            if type(data) is Traced:
                t.data = data.value
                survivors.add(id(root_of(data.value)))
        rec.closed = True
    program_pinned = survivors | {id(buf) for _, buf in input_slots}
    written = _written_roots(rec.calls)
    _name_parameters(guards, names)
    # outputs: pinned too (the replay copies them out)
    program = Program(rec.calls, program_pinned, names)

    # guards: the arrays of entry tensors the program uses must stay theirs; grads as found
    used = _used_roots(rec.calls)
    checks: list[Callable[[], bool]] = []
    bindings = []
    arg_grads: list = []
    for t, data, grad in entry:
        if t.grad is not grad and t.grad is not None:
            bindings.append((t, t.grad))
        if id(root_of(data)) in used:
            checks.append(lambda t=t, data=data, r=t._requires_grad: t.data is data and t._requires_grad == r)
        # `.grad` as the step found it matters where the step read it before setting it (backward adding into it,
        # or creating it): a step that starts with zero_grad() sets it first, and replays whatever it was.
        if first_access.get(id(t)) == "get":
            if grad is None:
                checks.append(lambda t=t: t.grad is None)
            elif id(root_of(grad.data)) in used:
                checks.append(lambda t=t, g=grad.data: t.grad is not None and t.grad.data is g)
            else:
                checks.append(lambda t=t: t.grad is not None)
    checks.extend(check for _, check in guards)
    checks.append(lambda: _grad_enabled_now() == grad_mode)
    # inputs read only as whole arguments are passed as they come; the others are copied into their buffer (and,
    # where the step writes into them, copied back out to the caller's array, as an in-place change would)
    returned = {id(root_of(a)) for a in _arrays_in_outputs(outputs)}
    input_slots = [(path, buf, None if id(buf) in written or id(buf) in returned else program.input_places(buf),
                    id(buf) in written) for path, buf in input_slots]
    for path, t, _ in arg_tensors:  # a gradient the step gave an argument: a fresh copy for each caller
        if t.grad is not None:
            grad_buffer = t.grad.data
            t.grad = Tensor._make(grad_buffer.copy(), False, None)
            arg_grads.append((path, grad_buffer))
    captured = _Captured(program, input_slots, checks, bindings, outputs, arg_grads)
    return captured, _rebuild(outputs)


def _name_parameters(guards: list, names: dict[int, str]) -> None:
    """Names for the printed program: the parameters (and their gradients) of the outermost module called."""
    module = next((obj for obj, _ in guards if hasattr(obj, "named_parameters")), None)
    if module is None:
        return
    for name, p in module.named_parameters():
        names.setdefault(id(root_of(p.data)), name)
        if p.grad is not None:
            names.setdefault(id(root_of(p.grad.data)), f"{name}.grad")


def _written_roots(calls: list) -> set[int]:
    """The roots of the arrays the calls write into."""
    return {id(root_of(w)) for c in calls for w in getattr(c, "written", ()) if isinstance(w, np.ndarray)}


def _arrays_in_outputs(out: Any) -> list:
    kind = out[0]
    if kind == "T":
        return [out[1]]
    if kind == "v":
        return []
    if kind == "d":
        return [a for v in out[1].values() for a in _arrays_in_outputs(v)]
    return [a for v in out[1] for a in _arrays_in_outputs(v)]


def _watch_grads(tensor_class: type) -> dict[int, str]:
    """For the capture's duration, note whether each tensor's `.grad` was first read ("get") or first set ("set")."""
    slot = tensor_class.__dict__["grad"]
    first: dict[int, str] = {}
    thread = get_ident()

    class GradWatch:
        def __get__(self, t: Any, owner: Any = None) -> Any:
            if t is None:
                return self
            if get_ident() == thread:
                first.setdefault(id(t), "get")
            return slot.__get__(t, owner)

        def __set__(self, t: Any, value: Any) -> None:
            if get_ident() == thread:
                first.setdefault(id(t), "set")
            slot.__set__(t, value)

    GradWatch.slot = slot
    tensor_class.grad = GradWatch()
    return first


def _unwatch_grads(tensor_class: type) -> None:
    watch = tensor_class.__dict__["grad"]
    tensor_class.grad = getattr(type(watch), "slot", watch)


def _outputs(result: Any) -> Any:
    """The step's result as a template: ("T", array) for a Tensor, ("v", value) for a constant, and containers."""
    from tinygrad_np.tensor import Tensor

    if isinstance(result, Tensor):
        data = result.data
        return ("T", data.value if type(data) is Traced else data)
    if isinstance(result, (tuple, list)):
        return ("c", [_outputs(r) for r in result], type(result))
    if isinstance(result, dict):
        return ("d", {k: _outputs(v) for k, v in result.items()})
    if result is None or isinstance(result, (bool, int, float, str)):
        return ("v", result)
    raise CaptureError(f"jit: the step returned a {type(result).__name__}; a captured step returns None, Tensors, "
                       f"or tuples/lists/dicts of them. See {README_CAPTURE}.")


def _used_roots(calls: list) -> set[int]:
    used: set[int] = set()

    def visit(a: Any) -> None:
        if isinstance(a, np.ndarray):
            used.add(id(root_of(a)))
        elif isinstance(a, (tuple, list)):
            for x in a:
                visit(x)
        elif isinstance(a, dict):
            for x in a.values():
                visit(x)

    for c in calls:
        visit(getattr(c, "args", ()))
        visit(getattr(c, "kwargs", {}))
        visit(getattr(c, "reads", ()))
        visit(getattr(c, "writes", ()))
    return used
