"""`Module`, `Parameter` and the containers (`Sequential`, `ModuleList`, `ParameterList`).

A `Module` finds its parameters and submodules by itself: assigning a `Parameter` or a `Module` to an attribute
registers it (a list or tuple of them is wrapped in a `ModuleList` / `ParameterList` so it is registered too).
Everything that walks the tree — `parameters()`, `named_parameters()`, `train()`, `state_dict()`, `repr` — follows
those registrations, in the order the attributes were assigned.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, Callable, NamedTuple

import numpy as np

from tinygrad_np import Tensor


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


class Module:
    """Base class of every layer and model (like `torch.nn.Module`).

    Subclass it, call `super().__init__()` first in `__init__`, assign parameters and layers as attributes, and
    define `forward`; calling the module calls `forward`.
    """

    training: bool

    def __init__(self) -> None:
        # object.__setattr__, because our own __setattr__ needs these dicts to exist
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined: subclasses of Module define it")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs) if kwargs else self.forward(*args)  # no empty-dict unpacking

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
