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
(program.py). From the third call on the step is replayed: the arguments are copied into the input buffers and the
NumPy calls run in order, with no Tensor, no node and no graph walk. `print(train_step.program)` shows them.

What a replay sees afresh, and what it checks (a failed check captures again; it never replays wrongly):
- the arguments' shapes and dtypes (and the values of arguments that are not arrays) select the program;
- each parameter's data and grad arrays must be the ones captured (`load_state_dict` copies into them in place);
- each module's train/eval mode and the grad mode must be as captured;
- an optimizer's step is a call into the optimizer at every replay: its learning rate, its state, a scheduler's
  changes are read live; random draws (dropout) are drawn afresh from tinygrad_np's generator.
"""
from __future__ import annotations

import gc
from typing import Any, Callable

import numpy as np

from tinygrad_np.capture.program import Program
from tinygrad_np.capture.trace import README_CAPTURE, BranchMismatch, CaptureError, Recorder, Traced, root_of

__all__ = ["jit", "CaptureError", "Traced", "capturing", "host_call", "guard_attribute"]

_active: list[Recorder | None] = [None]  # the capture in progress (one at a time, in this process)
_guards: list[list | None] = [None]  # attribute guards the capture in progress collects


def capturing() -> Recorder | None:
    """The recorder of the capture in progress, or None."""
    return _active[0]


def guard_attribute(obj: Any, name: str) -> None:
    """During a capture: the replay requires `obj.<name>` to keep its current value (a module's `training`)."""
    guards = _guards[0]
    if guards is not None and not any(o is obj and n == name for o, n, _ in guards):
        guards.append((obj, name, getattr(obj, name)))


def host_call(fn: Callable[[], None], label: str, reads: tuple = ()) -> None:
    """Run `fn` now, and at every replay of the capture in progress (an optimizer's update). `reads`: the traced
    arrays (real ones, `real(a)`) it reads, which the planner keeps alive up to it."""
    _active[0].host_call(fn, tuple(reads), (), label)


def real(a: Any) -> Any:
    """The array behind a stand-in (for host calls, which run on the capture's real arrays)."""
    return a.value if type(a) is Traced else a


class jit:
    """Capture a step function once and replay it (see the module docstring and README, 'Captured training steps').

    `jit(fn)` or `@jit`. Arguments may be Tensors, NumPy arrays, numbers, strings, None, or tuples of these. The
    step returns None, a Tensor, or a tuple/list/dict of Tensors: a replay returns new Tensors holding copies of the
    values (no graph). `warmup` eager calls run before the capture (default 1: lazily made state exists by then).
    """

    def __init__(self, fn: Callable, warmup: int = 1) -> None:
        self.fn, self.warmup = fn, warmup
        self.programs: dict[Any, _Captured] = {}
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
        captured = self.programs.get(key)
        if captured is not None and captured.guards_hold():
            try:
                result = captured.replay(args, kwargs)
            except BranchMismatch:  # a rare case (a NaN, say) before any change: this call runs eagerly instead
                self.fallbacks += 1
                return self.fn(*args, **kwargs)
            self.replays += 1
            return result
        count = self.eager_calls.get(key, 0)
        if captured is None and count < self.warmup:
            self.eager_calls[key] = count + 1
            return self.fn(*args, **kwargs)
        captured, result = _capture(self.fn, args, kwargs)
        self.programs[key] = self._last = captured
        self.captures += 1
        return result


def _signature(args: tuple, kwargs: dict) -> Any:
    from tinygrad_np.tensor import Tensor

    def sig(a: Any) -> Any:
        if isinstance(a, Tensor):
            return ("T", a.data.shape, a.data.dtype.str, a._requires_grad)
        if isinstance(a, np.ndarray):
            return ("A", a.shape, a.dtype.str)
        if isinstance(a, (tuple, list)):
            return (type(a).__name__,) + tuple(sig(x) for x in a)
        if a is None or isinstance(a, (bool, int, float, str, np.generic)):
            return (type(a).__name__, a)
        raise CaptureError(f"jit: an argument of type {type(a).__name__} cannot select a captured program: pass "
                           f"Tensors, arrays, numbers, strings or None (keep other objects in a closure). See "
                           f"{README_CAPTURE}.")
    return tuple(sig(a) for a in args), tuple(sorted((k, sig(v)) for k, v in kwargs.items()))


class _Captured:
    """A program plus what its replay needs: input buffers, guards, the `.grad`s to bind, the outputs' layout."""

    def __init__(self, program: Program, input_slots: list, guards: list, bindings: list, outputs: Any) -> None:
        self.program, self.input_slots, self.guards, self.bindings, self.outputs = (program, input_slots, guards,
                                                                                    bindings, outputs)

    def guards_hold(self) -> bool:
        for check in self.guards:
            if not check():
                return False
        return True

    def replay(self, args: tuple, kwargs: dict) -> Any:
        from tinygrad_np.tensor import Tensor

        for path, buf, places in self.input_slots:
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

    return [o for o in gc.get_objects() if isinstance(o, Tensor)]  # (nn.Parameter too)


def _capture(fn: Callable, args: tuple, kwargs: dict) -> tuple[_Captured, Any]:
    from tinygrad_np import rng
    from tinygrad_np.tensor import Tensor

    if _active[0] is not None:
        raise CaptureError("jit: a captured step called another captured step; capture the outer one only")
    rec = Recorder()
    names: dict[int, str] = {}
    input_slots: list = []

    def trace_input(a: Any, path: tuple) -> Any:
        if isinstance(a, Tensor):
            buf = a.data.copy()
            input_slots.append((path, buf))
            names[id(buf)] = f"in{len(input_slots) - 1}"
            t = Tensor._make(rec.trace(buf), a._requires_grad, None)
            return t
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
        if type(t.data) is np.ndarray:
            entry.append((t, t.data, t.grad))
    for t, data, _ in entry:
        t.data = rec.trace(data)
    del alive
    from tinygrad_np.autograd.grad_mode import _grad_enabled_now

    grad_mode = _grad_enabled_now()
    guards: list = []
    _active[0], _guards[0] = rec, guards
    rng._capture = rec
    try:
        result = fn(*targs, **tkwargs)
        outputs = _outputs(result)
    finally:
        _active[0] = _guards[0] = None
        rng._capture = None
        # every tensor gets its real array back: the entry tensors theirs, tensors made in the step the buffer
        survivors = set()
        for t in _live_tensors():
            if type(t.data) is Traced:
                t.data = t.data.value
                survivors.add(id(root_of(t.data)))
        rec.closed = True
    program_pinned = survivors
    _name_parameters(guards, names)
    # outputs: pinned too (the replay copies them out)
    program = Program(rec.calls, [buf for _, buf in input_slots], program_pinned, names)

    # guards: the arrays of entry tensors the program uses must stay theirs; grads as found
    used = _used_roots(rec.calls)
    checks: list[Callable[[], bool]] = []
    bindings = []
    for t, data, grad in entry:
        if t.grad is not grad and t.grad is not None:
            bindings.append((t, t.grad))
        if id(root_of(data)) in used:
            checks.append(lambda t=t, data=data: t.data is data)
            if grad is None:
                checks.append(lambda t=t: t.grad is None or t.grad is _bound(bindings, t))
            elif id(root_of(grad.data)) in used:
                checks.append(lambda t=t, g=grad.data: t.grad is not None and t.grad.data is g)
            else:
                checks.append(lambda t=t: t.grad is not None)
    for obj, name, value in guards:
        checks.append(lambda obj=obj, name=name, value=value: getattr(obj, name) == value)
    checks.append(lambda: _grad_enabled_now() == grad_mode)
    # inputs read only as whole arguments are passed as they come; the others are copied into their buffer
    input_slots = [(path, buf, program.input_places(buf)) for path, buf in input_slots]
    captured = _Captured(program, input_slots, checks, bindings, outputs)
    return captured, _rebuild(outputs)


def _name_parameters(guards: list, names: dict[int, str]) -> None:
    """Names for the printed program: the parameters (and their gradients) of the outermost module called."""
    module = next((obj for obj, _, _ in guards if hasattr(obj, "named_parameters")), None)
    if module is None:
        return
    for name, p in module.named_parameters():
        names.setdefault(id(root_of(p.data)), name)
        if p.grad is not None:
            names.setdefault(id(root_of(p.grad.data)), f"{name}.grad")


def _bound(bindings: list, t: Any) -> Any:
    for u, g in bindings:
        if u is t:
            return g
    return None


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
