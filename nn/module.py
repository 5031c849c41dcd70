"""`Module`, `Parameter` and the containers (`Sequential`, `ModuleList`, `ParameterList`).

A `Module` finds its parameters and submodules by itself: assigning a `Parameter` or a `Module` to an attribute
registers it (a list or tuple of them is wrapped in a `ModuleList` / `ParameterList` so it is registered too).
Everything that walks the tree — `parameters()`, `named_parameters()`, `train()`, `state_dict()`, `repr` — follows
those registrations, in the order the attributes were assigned.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, Callable, NamedTuple

import numpy as np

from tinygrad_np import Tensor, is_grad_enabled
from tinygrad_np.capture import _active as _capture_active
from tinygrad_np.capture import guard
from tinygrad_np.hooks import RemovableHandle
from tinygrad_np.inplace import _view_of
from tinygrad_np.ops import Primitive
from tinygrad_np.polymorphic import is_array


class Parameter(Tensor):
    """A Tensor that is a module's learnable parameter: it requires grad and `Module.parameters()` finds it.

    `Parameter(data)` shares `data`'s array (no copy), like `torch.nn.Parameter`.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty((0,), np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(..., strict=False)` could not match (PyTorch returns the same pair)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _unchanged(m: Module) -> Callable[[], bool]:
    """A check that `m` is as it is now, for a captured step (tinygrad_np.jit) to replay: its attributes and the
    contents of its dicts (submodules, parameters, buffers, hooks) the same objects, or equal (dropout's p, a
    slope, `training`). Dict comparisons in C: about a microsecond per module and replay."""
    attrs = m.__dict__
    top = dict(attrs)
    inner = [(k, dict(v)) for k, v in top.items() if type(v) is dict or type(v) is OrderedDict]

    def check() -> bool:
        try:
            return attrs == top and all(attrs[k] == v for k, v in inner)
        except Exception:  # (a tensor set in place of another compares elementwise: it changed)
            return False
    return check


class Module:
    """Base class of every layer and model (like `torch.nn.Module`).

    Subclass it, call `super().__init__()` first in `__init__`, assign parameters and layers as attributes, and
    define `forward`; calling the module calls `forward`.
    """

    training: bool
    _has_hooks = False  # (also set on each instance: an instance attribute is the fastest one to read)

    def __init__(self) -> None:
        # object.__setattr__, because our own __setattr__ needs these dicts to exist
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_has_hooks", False)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined: subclasses of Module define it")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The hook machinery lives in _call_with_hooks: a module without hooks pays one attribute test for it.
        if _capture_active[0] is not None:  # a captured step replays only with the settings it was captured with
            guard(self, _unchanged)
        if self._has_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs) if kwargs else self.forward(*args)  # no empty-dict unpacking

    # ------------------------------------------------------------------------------------------------ hooks

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call `hook(module, args)` before every forward (as PyTorch). `args` is the tuple of positional
        arguments; a hook that returns something other than None replaces them (a single value that is not a tuple
        is wrapped into one). With `with_kwargs=True` the hook is `hook(module, args, kwargs)` and returns None or
        a new `(args, kwargs)` pair. Hooks run in registration order (`prepend=True`: before the others).
        Returns a handle whose `.remove()` unregisters the hook."""
        return self._add_hook("_forward_pre_hooks", hook, prepend, with_kwargs=with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call `hook(module, args, output)` after every forward (as PyTorch); a hook that returns something other
        than None replaces the output. `args` are the arguments forward received (after the pre-hooks). With
        `with_kwargs=True` the hook is `hook(module, args, kwargs, output)`. With `always_call=True` it also runs
        when forward (or an earlier hook) raised, with output None; an error it raises then is turned into a
        warning and the original error propagates. Returns a handle with `.remove()`."""
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs=with_kwargs, always_call=always_call)

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Call `hook(module, grad_input, grad_output)` once per backward pass through each call of this module
        (PyTorch's semantics, `torch.nn.Module.register_full_backward_hook`):

        - `grad_output[i]` is the gradient with respect to the i-th output (None for an output that is not a
          Tensor or received no gradient); `grad_input[i]` the gradient with respect to the i-th positional
          argument: None for a non-Tensor, zeros for a Tensor that does not require grad (or that requires grad
          but received none, while another input did). Keyword arguments are not seen.
        - A hook may return a tuple (or list) of new gradients, one per positional argument: they replace
          grad_input for the next hooks and flow back to the arguments instead of the computed ones. Each must
          have its argument's shape and dtype (None: no gradient).
        - It fires when the gradients with respect to the inputs are known; if no input requires grad, when those
          with respect to the outputs are (then it must return None); if no output requires grad, never.
        - The hooks that fire are those registered when the module was called (one removed later still fires for
          that call). Forward then receives, and returns to the caller, views of the tensors (identity nodes that
          capture their gradients), so changing them in place raises.
        """
        return self._add_hook("_backward_hooks", hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Call `hook(module, grad_output)` when the gradients with respect to this module's outputs are known,
        before they flow into the module (PyTorch's semantics); a hook may return a tuple of replacements, one per
        output, which the module's backward (and the full backward hooks' grad_output) then see."""
        return self._add_hook("_backward_pre_hooks", hook, prepend)

    def register_backward_hook(self, hook: Callable) -> RemovableHandle:
        raise NotImplementedError(
            f"{type(self).__name__}.register_backward_hook: PyTorch's deprecated non-full backward hook (which sees "
            "the gradients of the last op inside forward, not of the module) is not supported; use "
            "register_full_backward_hook, whose grad_input is the gradient with respect to the module's inputs")

    def _add_hook(self, kind: str, hook: Callable, prepend: bool, with_kwargs: bool = False,
                  always_call: bool = False) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}: a hook must be callable, got {type(hook).__name__}")
        d = self.__dict__
        if kind not in d:  # the registries exist only on modules that were given hooks
            object.__setattr__(self, kind, OrderedDict())
        if "_hook_options" not in d:
            object.__setattr__(self, "_hook_options", {"with_kwargs": set(), "always_call": set()})
        hooks, options = d[kind], d["_hook_options"]
        handle = _HookHandle(hooks, options)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        if with_kwargs:
            options["with_kwargs"].add(handle.id)
        if always_call:
            options["always_call"].add(handle.id)
        object.__setattr__(self, "_has_hooks", True)
        return handle

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """`__call__` for a module that has (or had) hooks: PyTorch's order of pre-hooks, backward-hook wrapping
        of the inputs, forward, forward hooks, wrapping of the outputs."""
        d = self.__dict__
        pre_hooks, hooks = d.get("_forward_pre_hooks"), d.get("_forward_hooks")
        backward_hooks, backward_pre_hooks = d.get("_backward_hooks"), d.get("_backward_pre_hooks")
        if not (pre_hooks or hooks or backward_hooks or backward_pre_hooks):  # all removed: back to the fast path
            object.__setattr__(self, "_has_hooks", False)
            return self.forward(*args, **kwargs)
        with_kwargs, always_call = d["_hook_options"]["with_kwargs"], d["_hook_options"]["always_call"]
        result, called = None, set()
        try:
            for hook_id, hook in tuple(pre_hooks.items()) if pre_hooks else ():
                if hook_id in with_kwargs:
                    new = hook(self, args, kwargs)
                    if new is not None:
                        if not (isinstance(new, tuple) and len(new) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, "
                                               f"new_kwargs), but got {new}.")
                        args, kwargs = new
                else:
                    new = hook(self, args)
                    if new is not None:
                        args = new if isinstance(new, tuple) else (new,)
            call = None
            if backward_hooks or backward_pre_hooks:
                call = _BackwardHookCall(self, list(backward_hooks.values()) if backward_hooks else [],
                                         list(backward_pre_hooks.values()) if backward_pre_hooks else [])
                args = call.wrap_inputs(args)
            result = self.forward(*args, **kwargs)
            for hook_id, hook in tuple(hooks.items()) if hooks else ():
                if hook_id in always_call:
                    called.add(hook_id)
                new = hook(self, args, kwargs, result) if hook_id in with_kwargs else hook(self, args, result)
                if new is not None:
                    result = new
            if call is not None:
                result = call.wrap_outputs(result)
            return result
        except Exception:
            for hook_id, hook in tuple(hooks.items()) if hooks else ():
                if hook_id in always_call and hook_id not in called:
                    try:
                        new = hook(self, args, kwargs, result) if hook_id in with_kwargs else hook(self, args, result)
                        if new is not None:
                            result = new
                    except Exception as e:
                        warnings.warn("module forward hook with ``always_call=True`` raised an exception that was "
                                      f"silenced as another error was raised in forward: {e}", stacklevel=2)
            raise

    # ------------------------------------------------------------------------------------------------ registration

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if isinstance(value, (list, tuple)) and any(isinstance(v, (Module, Parameter)) for v in value):
            value = _wrap_sequence(type(self).__name__, name, value)
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"{type(self).__name__}.{name} is a parameter: assign a Parameter or None, "
                                f"not {type(value).__name__}")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}.{name} is a submodule: assign a Module or None, "
                                f"not {type(value).__name__}")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}.{name} is a buffer: assign a Tensor or None, "
                                f"not {type(value).__name__}")
            buffers[name] = value
        # Registered or not, the value also lives in the instance dict, so reading `self.weight` in forward is a
        # plain attribute lookup. That is also why Module has no __getattr__ (PyTorch's looks in the registries):
        # a class that defines one gets none of CPython's fast attribute lookups, a µs lost on every layer call.
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if not self._forget(name):
            object.__delattr__(self, name)

    def _forget(self, name: str) -> bool:
        """Drop `name` from every registry (and the plain attributes); True if it was registered."""
        found = False
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                found = True
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)
        return found

    def _check_name(self, kind: str, name: Any) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{type(self).__name__}: {kind} name must be a non-empty string without '.', got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` (a Parameter, or None for an absent one such as `bias=False`) under `name`."""
        self._check_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, not {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a Tensor that is state but not a parameter (e.g. running statistics). Persistent buffers are
        part of `state_dict()`; optimizers never see buffers."""
        self._check_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, not {type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register `module` as a submodule called `name`."""
        self._check_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, not {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # ------------------------------------------------------------------------------------------------ traversal

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every submodule below it, each once, with its dotted name ('' for this one)."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:  # iterative pre-order walk: deep models cannot hit the recursion limit
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            kids = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules with their attribute names."""
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()  # a parameter shared by two layers is listed (and optimised) once
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mod_name, module in modules:
            for name, t in getattr(module, registry).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_name}.{name}" if mod_name else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name, e.g. ('layers.0.weight', Parameter)."""
        return self._named_members("_parameters", prefix, recurse)  # type: ignore[return-value]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (each once), in registration order: what an optimizer is given."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every submodule (children first) and then on this module; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------------------------------------ modes, grads

    def train(self, mode: bool = True) -> Module:
        """Set training mode (`mode=True`) or evaluation mode on this module and all its submodules; returns self.
        It changes what mode-dependent layers such as `Dropout` do."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: `train(False)`."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Make every parameter require grad (or not: freezing); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set every parameter's `.grad` to None (or fill it with zeros)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data.fill(0)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of scalar parameters (shared ones counted once); only those requiring grad if asked."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def summary(self) -> str:
        """A table of every parameter's name, shape and size, with the total."""
        rows = [(name, "x".join(map(str, p.shape)) or "scalar", p.numel()) for name, p in self.named_parameters()]
        rows.append(("total", "", self.num_parameters()))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        w2 = max(len(f"{r[2]:,}") for r in rows)
        lines = [f"{n:<{w0}}  {s:<{w1}}  {c:>{w2},}" for n, s, c in rows]
        lines.insert(-1, "-" * len(lines[0]))
        return "\n".join(lines)

    # ------------------------------------------------------------------------------------------------ state dict

    def state_dict(self, prefix: str = "") -> OrderedDict[str, Tensor]:
        """Every parameter and persistent buffer by dotted name. The values share memory with the module (as in
        PyTorch): save them (`nn.save`) or copy them to keep a snapshot while training goes on."""
        return OrderedDict((k, t.detach()) for k, t in self._state_tensors(prefix).items())

    def _state_tensors(self, prefix: str = "") -> OrderedDict[str, Tensor]:
        out: OrderedDict[str, Tensor] = OrderedDict()
        for mod_name, module in self.named_modules(prefix):
            dot = f"{mod_name}." if mod_name else ""
            for name, p in module._parameters.items():
                if p is not None:
                    out[dot + name] = p
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    out[dot + name] = b
        return out

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy the values of `state_dict` (Tensors or arrays, by dotted name) into this module's parameters and
        buffers, in place, cast to their dtypes.

        Everything is checked before anything is copied: a shape mismatch always raises, and with `strict=True`
        (the default) so does a missing or an unexpected key; the error names every offending key (and both
        shapes), and the module is left unchanged. Returns the (missing_keys, unexpected_keys) pair.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"load_state_dict: expected a dict of arrays by name, got {type(state_dict).__name__}")
        targets = self._state_tensors()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        errors = []
        if strict and missing:
            errors.append("missing key(s): " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            errors.append("unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
        values = {}
        for key, t in targets.items():
            if key not in state_dict:
                continue
            v = state_dict[key]
            v = v.data if isinstance(v, Tensor) else np.asarray(v)
            if v.shape != t.shape:
                errors.append(f"shape mismatch for {key!r}: the state dict has shape {v.shape}, the module's "
                              f"{'parameter' if isinstance(t, Parameter) else 'buffer'} has shape {t.shape}")
            elif v.dtype.kind not in "biuf":
                errors.append(f"{key!r} holds {v.dtype} values, not numbers")
            else:
                values[key] = v
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n  " + "\n  ".join(errors))
        for key, v in values.items():
            targets[key].data[...] = v
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------------------------------------ printing

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in `repr` (its settings); subclasses override it."""
        return ""

    def __repr__(self) -> str:
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, m in self._modules.items():
            lines.append(f"({name}): " + repr(m).replace("\n", "\n  "))
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


# ---------------------------------------------------------------------------------------------------- hook plumbing


class _HookHandle(RemovableHandle):
    """A module hook's handle: `remove()` also forgets the hook's options (with_kwargs, always_call)."""

    def __init__(self, hooks: dict, options: dict[str, set]) -> None:
        super().__init__(hooks)
        self.options = options

    def remove(self) -> None:
        super().remove()
        for ids in self.options.values():
            ids.discard(self.id)


class _BackwardHookGate(Primitive):
    """The node through which one side (the inputs, or the outputs) of a call with backward hooks passes as a
    group. Its output is a token, a 0-d zero, that each of the side's `BackwardHookFunction`s takes as an input.
    Made before them, it is reached after all of them in backward (the engine walks tensors newest first), when
    every gradient of the side has been captured: it calls the module's hooks and returns, per tensor, the
    gradient (as captured, or as a hook replaced it).  Derivative: the identity, per tensor (the token's gradient
    is a placeholder)."""

    def forward(self, *tensors, side):
        self.side = side
        return np.zeros((), np.float32)

    def backward(self, g):
        return self.side.release(self.needs_input_grad, recorded=not is_array(g))


class BackwardHookFunction(Primitive):
    """y = x, a view of x's memory: what forward receives (and the caller gets back) in place of each tensor of a
    module call with backward hooks, as in PyTorch.  dy/dx = 1, but the gradient is handed to the side's
    collector rather than to x; the token input (the side's `_BackwardHookGate`) gets a zero, so that the gate
    passes all the side's gradients on together, after the hooks have seen them."""

    def forward(self, token, x, *, side, k):
        self.side, self.k = side, k
        return x.view()

    def backward(self, g):
        self.side.captured[self.k] = g
        return np.zeros((), np.float32), None  # a new array each time: the engine may add into it in place


class _Side:
    """The tensors of one side of a hooked call: where they sit among the arguments (or outputs), their shapes and
    dtypes, and the gradients their identity nodes captured during the current backward pass. Holds no tensor
    (the graph holds this object: a tensor here would be a reference cycle)."""

    def __init__(self, call: _BackwardHookCall, is_input: bool, values: tuple, positions: list[int]) -> None:
        self.call, self.is_input, self.n = call, is_input, len(values)
        self.positions = positions
        self.specs = [(values[i].shape, values[i].dtype) for i in positions]
        self.captured: dict[int, Any] = {}

    def release(self, needs: tuple[bool, ...], recorded: bool) -> tuple:
        """The gate's backward: the side's gradients, through the hooks, one per tensor (None where not needed)."""
        captured, self.captured = self.captured, {}
        grads = [captured.get(k) for k in range(len(self.positions))]
        if self.is_input:
            grads = self.call.input_gradients(self, grads, recorded)
        else:
            grads = self.call.output_gradients(self, grads, recorded)
        # at first order, views: the engine then copies before adding into a gradient (a hook may keep the array,
        # and an op's backward may have handed the same array to another tensor)
        return tuple((g.view() if is_array(g) else g) if need else None for g, need in zip(grads, needs))

    def pack(self, grads: list) -> tuple:
        """Gradients per tensor → a tuple over all positions, None for the non-Tensor ones (given to the hooks)."""
        out: list = [None] * self.n
        for i, g in zip(self.positions, grads):
            out[i] = g if g is None or isinstance(g, Tensor) else Tensor._make(g, False, None)
        return tuple(out)

    def unpack(self, values: tuple, recorded: bool, hook: Callable | None) -> list:
        """The hooks' tuple over all positions → the gradients per tensor for the engine, checked as PyTorch does
        (same shape and dtype as the tensor); arrays at first order."""
        what, kind = ("input", "backward hook") if self.is_input else ("output", "backward pre-hook")
        out = []
        for i, (shape, dtype) in zip(self.positions, self.specs):
            g = values[i]
            if g is not None:
                if not isinstance(g, Tensor):
                    raise TypeError(f"{_hook_name(hook, kind)} of {type(self.call.module).__name__} returned a "
                                    f"{type(g).__name__} for {what} {i}: return Tensors (or None)")
                if g.shape != shape or g.dtype != dtype:
                    raise RuntimeError(f"{_hook_name(hook, kind)} of {type(self.call.module).__name__} returned a "
                                       f"gradient "
                                       f"of shape {tuple(g.shape)} and dtype {g.dtype} for {what} {i}, which has shape "
                                       f"{tuple(shape)} and dtype {dtype}: a replacement must keep both")
                if not recorded:
                    g = g.data
            out.append(g)
        return out


def _hook_name(hook: Callable, kind: str = "backward hook") -> str:
    return f"{kind} {getattr(hook, '__name__', type(hook).__name__)!r}"


def _zeros(shape: tuple, dtype: np.dtype, recorded: bool) -> Any:
    z = np.zeros(shape, dtype)
    return Tensor._make(z, False, None) if recorded else z


class _BackwardHookCall:
    """One call of a module with full backward hooks (PyTorch's `BackwardHook`): wraps its tensor arguments and
    outputs in identity nodes, captures their gradients in backward and calls the hooks with them.

    The outputs' gate is reached first: it stores `grad_output` (after the backward pre-hooks). The inputs' gate
    comes later, when the gradients with respect to the inputs are complete: it calls the full backward hooks with
    (grad_input, grad_output) and lets their replacements flow back. As in PyTorch, a gradient that reaches the
    inputs without having passed through the outputs (double backward) calls no hook, and an input that requires
    grad but received none, while others did, gets zeros."""

    def __init__(self, module: Module, hooks: list[Callable], pre_hooks: list[Callable]) -> None:
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs: tuple | None = None
        self.n_inputs = 0
        self.inputs: _Side | None = None  # None: no input requires grad (the hooks then fire at the outputs)

    def wrap_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        args, self.inputs = self._wrap(args, is_input=True)
        return args

    def wrap_outputs(self, result: Any) -> Any:
        if not isinstance(result, (Tensor, tuple)):
            warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of Tensors "
                          f"but received {type(result)}", stacklevel=4)
        single = not isinstance(result, tuple)
        values, _ = self._wrap((result,) if single else result, is_input=False)
        return values[0] if single else values

    def _wrap(self, values: tuple, is_input: bool) -> tuple[tuple, _Side | None]:
        positions = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        if not (any(values[i]._requires_grad for i in positions) and is_grad_enabled()):
            return values, None
        side = _Side(self, is_input, values, positions)
        tensors = [values[i] for i in positions]
        token = _BackwardHookGate.apply(*tensors, side=side)
        out = list(values)
        for k, (i, t) in enumerate(zip(positions, tensors)):
            # a tensor that needs no gradient is passed as a detached alias (PyTorch passes a view of it too)
            out[i] = _view_of(BackwardHookFunction.apply(token, t, side=side, k=k), t) if t._requires_grad \
                else t.detach()
        return (tuple(out) if type(values) is tuple else type(values)(*out)), side

    def output_gradients(self, side: _Side, grads: list, recorded: bool) -> list:
        if self.inputs is not None:  # the inputs' identities come later in this pass: forget an aborted pass's
            self.inputs.captured.clear()
        self.grad_outputs = side.pack(grads)  # None where an output received no gradient
        last = None
        for hook in self.pre_hooks:
            new = hook(self.module, self.grad_outputs)
            if new is None:
                continue
            if not isinstance(new, (tuple, list)):
                raise TypeError(f"{_hook_name(hook, 'backward pre-hook')} of {type(self.module).__name__} returned "
                                f"a {type(new).__name__}: return None or a tuple with one gradient per output")
            if len(new) != side.n:
                raise RuntimeError(f"Backward pre hook returned an invalid number of grad_output, got {len(new)}, "
                                   f"but expected {side.n}")
            self.grad_outputs, last = tuple(new), hook
        given = self.grad_outputs
        if self.inputs is None:  # no input requires grad: the hooks fire now, with no gradient to replace
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module outputs "
                          "since no inputs require gradients.", stacklevel=2)
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                res = hook(self.module, grad_inputs, self.grad_outputs)
                if res is not None and not (isinstance(res, tuple) and all(r is None for r in res)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
            self.grad_outputs = None
        return side.unpack(given, recorded, last)

    def input_gradients(self, side: _Side, grads: list, recorded: bool) -> list:
        grads = [_zeros(shape, dtype, recorded) if g is None else g for g, (shape, dtype) in zip(grads, side.specs)]
        if self.grad_outputs is None:  # not reached through the outputs (double backward): no hook, as PyTorch
            return grads
        res = side.pack(grads)
        last = None
        for hook in self.hooks:
            out = hook(self.module, res, self.grad_outputs)
            if out is None:
                continue
            if not isinstance(out, (tuple, list)):
                raise TypeError(f"{_hook_name(hook)} of {type(self.module).__name__} returned a "
                                f"{type(out).__name__}: return None or a tuple with one gradient per positional "
                                "argument of forward")
            if len(out) != len(res):
                raise RuntimeError(f"Backward hook returned an invalid number of grad_input, got {len(out)}, but "
                                   f"expected {len(res)}")
            res, last = tuple(out), hook
        self.grad_outputs = None
        return side.unpack(res, recorded, last)


def _wrap_sequence(owner: str, name: str, items: list | tuple) -> Module:
    """A list/tuple of Modules (or of Parameters) assigned to an attribute becomes a registered container."""
    if all(isinstance(v, Module) for v in items):
        return ModuleList(items)
    if all(isinstance(v, Parameter) for v in items):
        return ParameterList(items)
    raise TypeError(f"{owner}.{name}: a list mixing Modules/Parameters with other values cannot be registered; "
                    "use separate attributes, nn.ModuleList or nn.ParameterList")


# ---------------------------------------------------------------------------------------------------- containers


class Sequential(Module):
    """Modules applied one after the other: `Sequential(Linear(2, 8), ReLU(), Linear(8, 1))`.

    The layers are named '0', '1', … (or by the keys of an OrderedDict passed as the only argument).
    """

    def __init__(self, *modules: Module | dict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, m in modules[0].items():
                self.add_module(name, _need_module("Sequential", m))
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), _need_module("Sequential", m))

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[_check_index("Sequential", index, len(items))][1]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), _need_module("Sequential", module))
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (named '0', '1', …); indexing and iteration as a list."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        for m in modules or ():
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), _need_module("ModuleList", module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[_check_index("ModuleList", index, len(items))]

    def __setitem__(self, index: int, module: Module) -> None:
        i = _check_index("ModuleList", index, len(self._modules))
        self._modules[str(i)] = module = _need_module("ModuleList", module)  # replaced where it stands
        object.__setattr__(self, str(i), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ParameterList(Module):
    """A list of Parameters, registered under the names '0', '1', …"""

    def __init__(self, parameters: Iterable[Parameter] | None = None) -> None:
        super().__init__()
        for p in parameters or ():
            self.append(p)

    def append(self, param: Parameter) -> ParameterList:
        if not isinstance(param, Parameter):
            raise TypeError(f"ParameterList: expected a Parameter, got {type(param).__name__}")
        self.register_parameter(str(len(self._parameters)), param)
        return self

    def __getitem__(self, index: int) -> Parameter:
        items = list(self._parameters.values())
        return items[_check_index("ParameterList", index, len(items))]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): Parameter of shape {tuple(p.shape)}" for k, p in self._parameters.items())


def _need_module(container: str, m: Any) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{container}: expected a Module, got {type(m).__name__}")
    return m


def _check_index(container: str, index: int, n: int) -> int:
    if not -n <= index < n:
        raise IndexError(f"{container}: index {index} is out of range for {n} modules")
    return index % n
