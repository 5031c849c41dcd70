"""`Function`, the base class of every differentiable op, in its two styles.

- Array style (the built-in primitives, and the simplest way to add an op): forward and backward on NumPy arrays.
- PyTorch style: `@staticmethod forward(ctx, *args)` on Tensors, `@staticmethod backward(ctx, *grads)` returning
  Tensors, with `ctx.save_for_backward` / `saved_tensors` / `needs_input_grad` / `mark_non_differentiable`
  (README, 'Writing your own Function'). `Function.__init_subclass__` gives such a class `tensor_style_apply`
  below. Forward runs under `no_grad` on the caller's Tensors; the output becomes a Tensor whose node is an
  instance of the user's class (the `ctx`). At first order backward runs under `no_grad` on Tensor gradients;
  under create_graph it runs with grad mode on, so a backward written with Tensor ops is recorded like any
  composition and can be differentiated again.
"""
from __future__ import annotations

import itertools
import traceback
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_np.autograd.grad_mode import _anomaly, _grad_enabled_now, enable_grad, no_grad
from tinygrad_np.capture.trace import Traced

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # set by tinygrad_np.autograd once tensor.py is loaded (tensor.py imports this module)

# ---------------------------------------------------------------------------------------------------------------
# Function: one differentiable op

# Every tensor gets the next number: outputs always outnumber their inputs, which is the order backward walks in.
_creation_order = itertools.count()
_requires_grad_of, _data_of = attrgetter("_requires_grad"), attrgetter("data")  # C-speed per-input access
_new_object = object.__new__
README_FUNCTIONS = "README.md, section 'Writing your own Function'"


def new_version_cell() -> list:
    """A version counter: [version, weak references to the tensors that share the memory as views (None until a
    view is taken; inplace.py), creation numbers of its recent in-place changes]."""
    return [0, None, []]


class Function:
    """Base class of every differentiable op, built-in or user-defined (like `torch.autograd.Function`).

    Two styles (README, 'Writing your own Function'):

    - **Array style** (this class's own methods): `forward(self, *arrays, **options)` on NumPy arrays returns one
      array; `backward(self, grad)` returns one gradient array per input (or `None` for an input that needs none:
      `self.needs_input_grad[i]` says which do). Store what backward needs on `self`. Call it with
      `MyOp.apply(*inputs, **options)`; inputs that are not Tensors (numbers, arrays, strings) are passed to forward
      as they are and get no gradient. Gradients may have the broadcast shape of the output: the engine sums them
      back to each input's shape (one `unbroadcast` for all ops) and casts them to the input's dtype. A user's
      array-style Function is first order: asked for a second derivative, it raises.
    - **PyTorch style**: `@staticmethod forward(ctx, *args)` on Tensors and `@staticmethod backward(ctx, *grads)`
      returning Tensors; `ctx.save_for_backward`, `ctx.saved_tensors`, `ctx.needs_input_grad`,
      `ctx.mark_non_differentiable`. A backward written with Tensor ops is differentiable like any composition.

    backward may return new arrays, `grad` itself, or views of either, but never an array it keeps (such as one
    saved in forward): the engine takes ownership of new arrays and may add into them in place.

    The built-in primitives set `twice_differentiable = True`: their backward is written in the polymorphic
    vocabulary, and every float array they keep on the node is an input, the output, or listed in `constants`
    (values whose derivative is zero wherever it exists: masks, tie shares). `saves_inputs` / `saves_output`
    say whether backward reads the input or output arrays, so that an in-place change to them is caught.
    """

    parents: tuple[Tensor, ...] | None  # the inputs; None once backward has freed this node
    needs_input_grad: tuple[bool, ...]
    twice_differentiable = False
    constants: tuple[str, ...] = ()
    saves_inputs = True  # conservative defaults for user Functions: any in-place change is an error
    saves_output = True
    forward_trace: list | None = None  # where forward ran (anomaly mode)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        forward, backward = cls.__dict__.get("forward"), cls.__dict__.get("backward")
        inherited = getattr(cls, "_tensor_style", False)  # a subclass of a PyTorch-style Function
        if inherited:  # what it does not redefine, it inherits (the user's own staticmethods, kept aside)
            forward = forward if forward is not None else _class_attribute(cls, "user_forward")
            backward = backward if backward is not None else _class_attribute(cls, "user_backward")
        if isinstance(forward, staticmethod) or isinstance(backward, staticmethod):
            if not (isinstance(forward, staticmethod) and isinstance(backward, staticmethod)):
                plain = "backward" if isinstance(forward, staticmethod) else "forward"
                raise TypeError(
                    f"{cls.__name__}: {plain} is not a @staticmethod, but the other one is. In a PyTorch-style "
                    f"Function write both as `@staticmethod def forward(ctx, ...)` and `@staticmethod def "
                    f"backward(ctx, grad)`; in the array style, neither (`def forward(self, ...)`). See "
                    f"{README_FUNCTIONS}."
                )
            # The PyTorch-style machinery lives in function.py. The user's staticmethods are kept aside; the node
            # gets the engine's calling convention (node.backward(g)), like every other node.
            cls.user_forward, cls.user_backward = forward, backward
            cls.apply = classmethod(tensor_style_apply)
            cls.backward = tensor_style_backward
            cls.inputs_read = _no_inputs_read  # saved tensors are version-checked one by one (saved_tensors)
            cls._tensor_style = True
            for name in ("save_for_backward", "saved_tensors", "mark_non_differentiable", "set_materialize_grads"):
                setattr(cls, name, FunctionCtx.__dict__[name])

    def forward(self, *arrays: np.ndarray, **options: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def inputs_read(self) -> tuple[bool, ...]:
        """Which inputs backward reads (so that changing them in place is an error): all, if `saves_inputs`."""
        return (self.saves_inputs,) * len(self.parents)

    def backward(self, grad: np.ndarray) -> np.ndarray | None | tuple[np.ndarray | None, ...]:
        raise NotImplementedError(f"{type(self).__name__}.backward")

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Tensor:
        node = cls()
        n = len(inputs)
        try:
            # The common shapes of op are written out: a star-call costs more than the rest of this method.
            # needs_input_grad is set before forward, which may use it to save only what backward will need.
            if n == 2 and not options:
                x, y = inputs
                try:
                    needs = (x._requires_grad, y._requires_grad)
                except AttributeError:  # a number or an array among the inputs: the general path takes them
                    needs = None
                if needs is None:
                    inputs, out, track = _apply_general(node, inputs, options)
                else:
                    track = (needs[0] or needs[1]) and _grad_enabled_now()
                    node.needs_input_grad = needs if track else (False, False)
                    out = node.forward(x.data, y.data)
            elif n == 1 and not options:
                x, = inputs
                try:
                    need = x._requires_grad
                except AttributeError:  # as above
                    need = None
                if need is None:
                    inputs, out, track = _apply_general(node, inputs, options)
                else:
                    track = need and _grad_enabled_now()
                    node.needs_input_grad = (True,) if track else (False,)
                    out = node.forward(x.data)
            else:
                inputs, out, track = _apply_general(node, inputs, options)
        except (ValueError, IndexError) as e:  # NumPy's message lacks the op and the operands: add them
            detail = ", ".join(f"{tuple(t.data.shape)} {t.data.dtype}" for t in inputs
                               if isinstance(t, Tensor) and isinstance(t.data, np.ndarray))
            raise type(e)(f"{cls.__name__}: invalid inputs [{detail}]: {e}") from e
        if type(out) is not np.ndarray and type(out) is not Traced:
            if isinstance(out, Tensor) or isinstance(out, (tuple, list)):
                raise TypeError(
                    f"{cls.__name__}.forward returned a {type(out).__name__}: an array-style forward gets NumPy "
                    f"arrays and returns one array. To write forward on Tensors, make forward and backward "
                    f"@staticmethods taking ctx (PyTorch style); see {README_FUNCTIONS}."
                )
            scalar, out = out, np.asarray(out)  # NumPy reductions return scalars, not 0-d arrays
            for name, value in node.__dict__.items():  # a saved output must stay the output itself
                if value is scalar:
                    node.__dict__[name] = out
        # Tensor._make written out: this is the hottest line of the library, and the call cost a tenth of a µs.
        t = _new_object(Tensor)
        # (versions cost nothing here: an in-place change stamps its creation number instead, see _check_versions)
        t.data, t.grad, t._retains_grad, t._seq, t._hooks, t._vcell = (out, None, False, next(_creation_order),
                                                                        None, None)
        if track:
            node.parents = inputs
            t._requires_grad, t._ctx = True, node
            if _anomaly[0]:
                node.forward_trace = traceback.format_stack()[:-1]  # up to the line that called apply
        else:
            t._requires_grad, t._ctx = False, None  # the node and all it saved are dropped here
        return t

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _class_attribute(cls: type, name: str) -> Any:
    """`name` as the class (or the nearest base) stores it: a staticmethod stays a staticmethod."""
    return next(k.__dict__[name] for k in cls.__mro__ if name in k.__dict__)


def _no_inputs_read(self: Function) -> tuple[bool, ...]:
    return (False,) * len(self.parents)


def _apply_general(node: Function, inputs: tuple, options: dict) -> tuple[tuple, Any, bool]:
    """`apply` for any number of inputs, options, and inputs that are not Tensors (passed to forward as given)."""
    if all(isinstance(t, Tensor) for t in inputs):
        args = tuple(map(_data_of, inputs))
    else:  # forward receives the caller's objects as they are; the node keeps them as constant parents
        args = tuple(t.data if isinstance(t, Tensor) else t for t in inputs)
        inputs = tuple(t if isinstance(t, Tensor) else _Constant(t) for t in inputs)
    needs = tuple(map(_requires_grad_of, inputs))
    track = True in needs and _grad_enabled_now()
    node.needs_input_grad = needs if track else (False,) * len(inputs)
    return inputs, node.forward(*args, **options), track


def _Constant(value: Any) -> Tensor:
    """A non-Tensor argument of `apply` as a parent that never gets a gradient (forward still sees the value)."""
    try:
        data = np.asarray(value)  # for drawings and messages; forward got the object itself
    except Exception:
        data = np.asarray(repr(value))
    return Tensor._make(data, False, None)


_OUTPUT = object()


def tensor_style_apply(cls: type, *args: Any, **kwargs: Any) -> Any:
    """`MyFunction.apply(*args)` for a PyTorch-style Function: forward under no_grad on the caller's objects, and
    the output a new Tensor whose node is `ctx` (a `cls` instance)."""
    from tinygrad_np.tensor import Tensor

    if kwargs:
        raise TypeError(
            f"{cls.__name__}.apply got keyword arguments ({', '.join(kwargs)}): pass every argument of forward "
            f"positionally, e.g. {cls.__name__}.apply(x, 2.0) rather than apply(x, scale=2.0); backward returns one "
            f"gradient per argument. See {README_FUNCTIONS}"
        )
    ctx = cls()
    ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
    ctx.to_save, ctx.non_differentiable = (), set()
    track = True in ctx.needs_input_grad and _grad_enabled_now()
    with no_grad():
        out = cls.user_forward(ctx, *args)
    if isinstance(out, (tuple, list)):
        raise TypeError(f"{cls.__name__}.forward returned {len(out)} outputs: PyTorch-style Functions here have "
                        f"one output Tensor (several are not supported); return one, or split the Function. "
                        f"See {README_FUNCTIONS}")
    if not isinstance(out, Tensor):
        raise TypeError(f"{cls.__name__}.forward returned a {type(out).__name__}: a PyTorch-style forward(ctx, ...) "
                        f"returns a Tensor (an array-style forward(self, ...) returns an array). See "
                        f"{README_FUNCTIONS}")
    if not track or id(out) in ctx.non_differentiable:
        return _as_view_of_inputs(Tensor._make(out.data, False, None), args)
    ctx.parents = tuple(a if isinstance(a, Tensor) else _Constant(a) for a in args)
    ctx.tensor_args = tuple(isinstance(a, Tensor) for a in args)
    # A saved output is stood for by a marker (the node must not hold its own output: a reference cycle); it
    # comes back as the output's value, or as the output tensor itself under create_graph. An input returned as
    # it is stays an input.
    is_input = any(out is a for a in args)
    ctx.to_save = tuple(_OUTPUT if t is out and not is_input else t for t in ctx.to_save)
    # PyTorch checks each saved tensor's version at backward: so does saved_tensors (the output's is the engine's)
    ctx.saved_versions = tuple(None if t is None or t is _OUTPUT else t._version for t in ctx.to_save)
    ctx.saves_output = any(t is _OUTPUT for t in ctx.to_save)  # (`in` would compare with ==)
    ctx.out_data = out.data
    result = Tensor._make(out.data, True, ctx)
    if _anomaly[0]:
        ctx.forward_trace = traceback.format_stack()[:-1]  # up to the line that called apply
    return _as_view_of_inputs(result, args)


def _as_view_of_inputs(result: Tensor, args: tuple) -> Tensor:
    """An output that shares memory with an input (the input returned as it is, or a view of it) becomes a view of
    that input: one version counter, and a recorded in-place change of either raises (as PyTorch forbids changing
    such a view in place)."""
    from tinygrad_np.inplace import register_view
    from tinygrad_np.tensor import Tensor

    for a in args:
        if isinstance(a, Tensor) and np.may_share_memory(result.data, a.data):
            return register_view(result, a)
    return result


class FunctionCtx:
    """The methods `ctx` offers inside a PyTorch-style forward and backward (mixed into `Function`)."""

    def save_for_backward(self, *tensors: Any) -> None:
        from tinygrad_np.tensor import Tensor

        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward: argument {i} is a {type(t).__name__}; save Tensors (or None) "
                                "here, and other values as attributes of ctx")
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        if getattr(self, "parents", True) is None:
            raise RuntimeError(f"{type(self).__name__}: saved_tensors were freed by an earlier backward(); pass "
                               "retain_graph=True to that backward() to keep them")
        for i, (t, saved) in enumerate(zip(self.to_save, getattr(self, "saved_versions", ()))):
            if saved is not None and t._version != saved:
                raise RuntimeError(
                    f"backward: one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: {type(self).__name__}'s saved tensor {i} (a tensor of shape {tuple(t.shape)}) is at "
                    f"version {t._version}; expected version {saved} instead. Change the in-place op to its "
                    "out-of-place form (x = x + y instead of x += y), or clone() the tensor before changing it."
                )
        graph_out = getattr(self, "graph_out", None)
        if graph_out is not None:  # create_graph: stand-ins, so a recorded .grad never holds its own tensor
            from tinygrad_np.autograd.engine import graph_alias

            return tuple(graph_alias(graph_out if t is _OUTPUT else t) if t is not None else None
                         for t in self.to_save)
        if not any(t is _OUTPUT for t in self.to_save):
            return self.to_save
        from tinygrad_np.tensor import Tensor

        out = Tensor._make(self.out_data, False, None)
        return tuple(out if t is _OUTPUT else t for t in self.to_save)

    def mark_non_differentiable(self, *outputs: Any) -> None:
        self.non_differentiable.update(id(t) for t in outputs)

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for PyTorch compatibility; with one output per Function its gradient is always materialized."""
        self.materialize_grads = value


def tensor_style_backward(ctx: Function, g: Any) -> tuple:
    """The engine's call into a PyTorch-style node: `g` is an array (first order) or a Tensor (create_graph)."""
    from tinygrad_np.tensor import Tensor

    recorded = isinstance(g, Tensor)
    grad = g if recorded else Tensor._make(g, False, None)
    cls = type(ctx)
    if recorded:
        with enable_grad():
            grads = cls.user_backward(ctx, grad)
    else:
        with no_grad():
            grads = cls.user_backward(ctx, grad)
    if not isinstance(grads, tuple):
        grads = (grads,)
    n = len(ctx.parents)
    if len(grads) != n:
        raise RuntimeError(f"{cls.__name__}.backward returned {len(grads)} gradient{'s' * (len(grads) != 1)}, but "
                           f"forward took {n} argument{'s' * (n != 1)} (after ctx): return one per argument, None for "
                           f"those without a gradient (numbers, tensors that need none). See {README_FUNCTIONS}")
    out = []
    for i, (gi, parent, is_tensor) in enumerate(zip(grads, ctx.parents, ctx.tensor_args)):
        if gi is not None and not is_tensor:
            raise RuntimeError(f"{cls.__name__}.backward returned a gradient at position {i}, but that argument of "
                               f"forward is not a Tensor: return None there. See {README_FUNCTIONS}")
        if gi is None or not parent._requires_grad:
            out.append(None)
            continue
        if not isinstance(gi, Tensor):
            gi = Tensor(np.asarray(gi))
        # first order: a view, so the engine never takes the array as its own to add into (it may be one that
        # the user keeps: a saved tensor, an input)
        out.append(gi if recorded else gi.data.view())
    return tuple(out)
