"""`Tensor`: a NumPy array plus its place in the autograd graph, and the user-facing op vocabulary.

Every method here is either a primitive from `ops` applied once, or a composition of other methods (which then
needs no backward of its own).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_np import conv, creation, elementwise, ops, reductions, shape
from tinygrad_np.arguments import DEFAULT_FLOAT, _check_differentiable
from tinygrad_np.autograd import Function
from tinygrad_np.autograd.engine import run_backward
from tinygrad_np.autograd.function import _creation_order
from tinygrad_np.creation import CreationMethods
from tinygrad_np.elementwise import ElementwiseMethods
from tinygrad_np.hooks import RemovableHandle
from tinygrad_np.inplace import InplaceOps, _view_of
from tinygrad_np.reductions import ReductionMethods
from tinygrad_np.rng import manual_seed
from tinygrad_np.shape import ShapeMethods, _as_index, cat, stack

_new_object = object.__new__


def _binary(op: type[Function], doc: str) -> Any:
    """The Tensor method applying the two-input primitive `op` to `self` and `other`.

    Two tensors of one dtype go straight to `op`: this check is the whole cost of the method in the common case, a
    quarter of a microsecond less per op than `_pair`, which handles everything else (scalars, arrays, promotion).
    """
    apply = op.apply

    def method(self: Tensor, other: Any) -> Tensor:
        if type(other) is Tensor and other.data.dtype is self.data.dtype:
            return apply(self, other)
        return apply(*self._pair(other))

    method.__name__, method.__doc__ = op.__name__.lower(), doc
    return method


class Tensor(CreationMethods, ElementwiseMethods, ReductionMethods, ShapeMethods, InplaceOps):
    """An n-dimensional array that records the ops applied to it, so that `backward()` can differentiate them.

    `Tensor(data)` takes a Python scalar, a nested list, a NumPy array or a Tensor. Python floats and lists become
    float32 (ints stay int64, bools bool); a NumPy array keeps its dtype and is used without a copy (like
    `torch.from_numpy`). Only floating-point tensors can require gradients.
    """

    # _vcell: the version counter of the data, [version, shared], shared by views (None: version 0, no views yet);
    # _hooks: {handle id: hook} or None
    __slots__ = ("data", "grad", "_requires_grad", "_ctx", "_retains_grad", "_seq", "_vcell", "_hooks", "_prior",
                 "_alias_of", "__weakref__")  # set only when needed: _prior by inplace.py, _alias_of by graph_alias
    __array_ufunc__ = None  # make `ndarray + Tensor` defer to Tensor.__radd__ instead of making an object array

    data: np.ndarray
    grad: Tensor | None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if not isinstance(data, (np.ndarray, np.generic)):
            data = np.asarray(data)
            if dtype is None and data.dtype.kind == "f":
                dtype = DEFAULT_FLOAT  # Python floats are float32 here, as in PyTorch
        data = np.asarray(data, dtype=dtype)
        if requires_grad:
            _check_differentiable(data.dtype)
        self.data, self.grad, self._requires_grad = data, None, requires_grad
        self._ctx, self._retains_grad, self._seq = None, False, next(_creation_order)
        self._vcell = self._hooks = None

    @staticmethod
    def _make(data: np.ndarray, requires_grad: bool, ctx: Function | None) -> Tensor:
        # The fast constructor for op outputs: no conversions, no checks (a staticmethod: cheaper to call).
        t = _new_object(Tensor)
        if type(data) is not np.ndarray:
            data = np.asarray(data)  # NumPy reductions return scalars, not 0-d arrays
        t.data, t.grad, t._requires_grad, t._ctx, t._retains_grad = data, None, requires_grad, ctx, False
        t._seq, t._vcell, t._hooks = next(_creation_order), None, None
        return t

    # ------------------------------------------------------------------------------------------------ attributes

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad:
            _check_differentiable(self.data.dtype)
        elif self._ctx is not None:
            raise RuntimeError("requires_grad_: only leaf tensors can stop requiring grad; use detach()")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op that records a graph."""
        return self._ctx is None

    @property
    def grad_fn(self) -> Function | None:
        """The graph node (a `Function`) that made this tensor, or None for a leaf."""
        return self._ctx

    @property
    def T(self) -> Tensor:
        """All axes reversed."""
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def item(self) -> Any:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data (and version counter, as in PyTorch), cut off from the graph."""
        return _view_of(Tensor._make(self.data, False, None), self)

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf tensor too at the next backward."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        self._retains_grad = True

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = "" if self.dtype == DEFAULT_FLOAT else f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{type(self._ctx).__name__}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    __hash__ = object.__hash__  # `==` is elementwise, so identity hashing must be restored by hand

    # ------------------------------------------------------------------------------------------------- backward

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Any = None) -> None:
        """Accumulate the gradient of this tensor into `.grad` of every leaf it depends on (`torch.Tensor.backward`).

        A scalar (one-element) output needs no `gradient`; any other needs `gradient` of its shape. Leaf gradients
        add up over calls until `zero_grad()`. The graph is freed afterwards unless `retain_graph=True` (which
        defaults to `create_graph`). With `create_graph=True` the backward pass is recorded too, so the gradients
        it produces have a graph and can be differentiated again. `inputs`: only these tensors get gradients.
        """
        run_backward(self, gradient, retain_graph, create_graph, inputs)

    @property
    def _version(self) -> int:
        """How many times this tensor's data (shared with its views) was changed in place (as PyTorch's)."""
        return self._vcell[0] if self._vcell is not None else 0

    def register_hook(self, hook: Any) -> RemovableHandle:
        """Call `hook(grad)` with this tensor's gradient every time it is computed; a hook that returns a Tensor
        replaces the gradient (for the rest of backward and for `.grad`). Returns a handle with `.remove()`."""
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        if self._hooks is None:
            self._hooks = {}
        handle = RemovableHandle(self._hooks)
        self._hooks[handle.id] = hook
        return handle

    # -------------------------------------------------------------------------------------------------- binary ops

    def _operand(self, x: Any) -> Tensor:
        """`x` as a Tensor; Python scalars take this tensor's dtype (so float32 stays float32)."""
        if isinstance(x, Tensor):
            return x
        if isinstance(x, (int, float, bool)):
            kind = self.data.dtype.kind
            if isinstance(x, float) and kind not in "fc":
                dtype = DEFAULT_FLOAT  # int tensor * 0.5 is float32, as in PyTorch
            elif kind == "b" and not isinstance(x, bool):
                dtype = np.dtype(np.int64)  # bool tensor + 1 counts
            else:
                dtype = self.data.dtype
            return Tensor._make(np.asarray(x, dtype), False, None)
        return Tensor(x)

    def _pair(self, other: Any) -> tuple[Tensor, Tensor]:
        """This tensor and `other` as the operands of a binary op, promoted as PyTorch does: an integer or bool
        tensor meeting a floating-point one takes its dtype (NumPy would widen both to float64)."""
        x = self._operand(other)
        a, b = self.data.dtype, x.data.dtype
        if a is b or (a.kind in "fc") == (b.kind in "fc"):
            return self, x
        return (self.to(b), x) if b.kind in "fc" else (self, x.to(a))

    add = _binary(ops.Add, "self + other")
    sub = _binary(ops.Sub, "self − other")
    mul = _binary(ops.Mul, "self · other")
    pow = _binary(ops.Pow, "self ** other, elementwise")

    def div(self, other: Any) -> Tensor:
        """True division: integer operands give float32, as in PyTorch."""
        a, b = self._pair(other)
        if a.data.dtype.kind not in "fc":
            a, b = a.float(), b.float()
        return ops.Div.apply(a, b)

    def matmul(self, other: Any) -> Tensor:
        """Matrix product with NumPy's semantics: batched over leading axes, broadcast, 1-D operands allowed."""
        other = self._operand(other)
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError(f"Matmul: operands must not be 0-d, got shapes {self.shape} and {other.shape}")
        k1, k2 = self.shape[-1], other.shape[-2 if other.ndim > 1 else -1]
        if k1 != k2:
            raise ValueError(f"Matmul: shapes {self.shape} and {other.shape} do not match ({k1} != {k2})")
        return ops.Matmul.apply(self, other)

    dot = matmul

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """`self @ weight.T + bias` as one node, with `weight` in PyTorch's layout (out_features, in_features)."""
        x_shape, w_shape = self.data.shape, weight.data.shape
        if not x_shape or len(w_shape) != 2 or x_shape[-1] != w_shape[1]:
            raise ValueError(f"Linear: input of shape {self.shape} does not fit a weight of shape {weight.shape} "
                             "(out_features, in_features)")
        if bias is None:
            return ops.Linear.apply(self, weight)
        if bias.data.shape not in ((w_shape[0],), ()):
            raise ValueError(f"Linear: bias of shape {bias.shape} does not fit a weight of shape {weight.shape}")
        return ops.Linear.apply(self, weight, bias)

    def maximum(self, other: Any) -> Tensor:
        return ops.Maximum.apply(*self._pair(other))

    def minimum(self, other: Any) -> Tensor:
        return -((-self).maximum(-self._operand(other)))

    def where(self, condition: Any, other: Any) -> Tensor:
        """`self` where `condition` is true, else `other` (PyTorch's `Tensor.where`)."""
        cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
        return ops.Where.apply(*self._pair(other), condition=cond.astype(bool, copy=False))

    __add__ = add
    __sub__ = sub
    __mul__ = mul
    __truediv__ = div
    __pow__ = pow
    __matmul__ = matmul

    def __radd__(self, other: Any) -> Tensor:
        return self._operand(other).add(self)

    def __rsub__(self, other: Any) -> Tensor:
        return self._operand(other).sub(self)

    def __rmul__(self, other: Any) -> Tensor:
        return self._operand(other).mul(self)

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._operand(other).div(self)

    def __rpow__(self, other: Any) -> Tensor:
        return self._operand(other).pow(self)

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._operand(other).matmul(self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    # comparisons give bool tensors and no gradient
    def _compare(self, other: Any, fn: Any) -> Tensor:
        return Tensor._make(fn(self.data, self._operand(other).data), False, None)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

    def to(self, dtype: Any) -> Tensor:
        """This tensor converted to `dtype` (differentiable; gradients come back in the original dtype)."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind not in "fc":  # an integer or bool result carries no gradient
            return Tensor._make(self.data.astype(dtype), False, None)
        return ops.Cast.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    # ------------------------------------------------------------------------- convolution and pooling (conv.py)

    def conv2d(self, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
               dilation: Any = 1, groups: int = 1) -> Tensor:
        """2-D convolution of this (N, C_in, H, W) batch (or one (C_in, H, W) image) with `weight` of shape
        (C_out, C_in/groups, kH, kW), plus `bias` (C_out,), as `torch.nn.functional.conv2d`: a cross-correlation
        (the kernel is not flipped). `stride`, `padding` and `dilation` are ints or (height, width) pairs;
        `padding` may also be 'valid' or 'same'. H_out = (H + 2·padding − dilation·(kH − 1) − 1) // stride + 1."""
        return conv.conv2d(self, weight, bias, stride, padding, dilation, groups)

    def max_pool2d(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1) -> Tensor:
        """The maximum of each kernel_size window (stride defaults to kernel_size; padding counts as −∞), as
        `torch.nn.functional.max_pool2d`. Tied maxima share a window's gradient equally (PyTorch picks one)."""
        return conv.max_pool2d(self, kernel_size, stride, padding, dilation)

    def avg_pool2d(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                   count_include_pad: bool = True) -> Tensor:
        """The mean of each kernel_size window (stride defaults to kernel_size; zero padding counts in the mean
        unless count_include_pad=False), as `torch.nn.functional.avg_pool2d`."""
        return conv.avg_pool2d(self, kernel_size, stride, padding, count_include_pad)


def where(condition: Any, input: Any, other: Any) -> Tensor:
    """`input` where `condition` is true, else `other` (`torch.where`)."""
    if not isinstance(input, Tensor):
        input = (other if isinstance(other, Tensor) else Tensor(other))._operand(input)
    return input.where(condition, other)


creation.Tensor = elementwise.Tensor = reductions.Tensor = shape.Tensor = Tensor  # the mixins' late binding
__all__ = ["Tensor", "cat", "stack", "where", "manual_seed", "DEFAULT_FLOAT", "_as_index"]
