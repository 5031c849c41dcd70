"""`Tensor`: a NumPy array plus its place in the autograd graph, and the user-facing op vocabulary.

Every method here is either a primitive from `ops` applied once, or a composition of other methods (which then
needs no backward of its own).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tinygrad_np import conv, creation, elementwise, indexing, ops, reductions, shape
from tinygrad_np import polymorphic as P
from tinygrad_np.arguments import DEFAULT_FLOAT, _check_differentiable, _dim
from tinygrad_np.autograd import Function, is_grad_enabled
from tinygrad_np.autograd.engine import run_backward
from tinygrad_np.autograd.function import _creation_order
from tinygrad_np.capture import _active as _capture_active
from tinygrad_np.capture.trace import Traced
from tinygrad_np.creation import CreationMethods, _parse_device
from tinygrad_np.creation import device as _Device
from tinygrad_np.elementwise import ElementwiseMethods
from tinygrad_np.hooks import RemovableHandle
from tinygrad_np.indexing import _as_index
from tinygrad_np.inplace import InplaceOps, _view_of
from tinygrad_np.reductions import ReductionMethods
from tinygrad_np.rng import manual_seed
from tinygrad_np.shape import ShapeMethods, cat, stack

_new_object = object.__new__


# ------------------------------------------------------------------------------------------------ dtype promotion
# PyTorch's rule (torch.result_type), in its three priority classes: tensors with dimensions, 0-d tensors, and
# Python numbers. Categories rank bool < integer < floating < complex. The dimensioned operands decide the dtype,
# unless a 0-d tensor is of a higher category: then the 0-d tensors decide; a Python number of a still higher
# category decides last, with its category's default dtype (float32 for a float, int64 for an int). So float32 +
# a 0-d float64 tensor is float32, int32 + a 0-d int64 tensor int32, but int32 + a 0-d float64 tensor float64.

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64), np.dtype(np.float64): np.dtype(np.complex128)}


def _complex_of(dtype: np.dtype) -> np.dtype:
    if dtype not in _COMPLEX_OF:
        raise TypeError(f"no complex dtype to hold {dtype} (PyTorch's complex32 does not exist in NumPy); convert "
                        "the operand to float32 first")
    return _COMPLEX_OF[dtype]


def promote_types(type1: Any, type2: Any) -> np.dtype:
    """The smallest dtype both `type1` and `type2` convert to (`torch.promote_types`): within a category the wider
    one (uint8 and int8 give int16), across categories the higher one as it is (int64 and float16 give float16,
    where NumPy would give float64)."""
    a, b = np.dtype(type1), np.dtype(type2)
    if a == b:
        return a
    ca, cb = _category(a), _category(b)
    if ca != cb:
        high, low = (a, b) if ca > cb else (b, a)
        if high.kind == "c" and low.kind == "f":
            return _COMPLEX_OF.get(np.promote_types(high, low), np.promote_types(high, low))
        return high
    return np.promote_types(a, b)


def _category(dtype: np.dtype) -> int:
    try:
        return _CATEGORY[dtype.kind]
    except KeyError:
        raise TypeError(f"tensors hold bool, integer, floating-point or complex numbers, not {dtype}") from None


def _combine(higher: np.dtype, lower: np.dtype) -> np.dtype:
    """The result dtype when operands of dtype `higher` (a higher priority class) meet ones of dtype `lower`:
    `higher` unless `lower` is of a higher category (PyTorch's combine_categories)."""
    if higher.kind == "c":
        return higher
    if lower.kind == "c":
        return _complex_of(higher) if higher.kind == "f" else lower
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def _result_type(a: np.ndarray, b: np.ndarray) -> np.dtype:
    """The dtype of a binary op on tensors holding `a` and `b` (a Python number is a 0-d array already made in
    the result dtype, see `_operand`, which this rule keeps)."""
    if (a.ndim == 0) == (b.ndim == 0):
        return promote_types(a.dtype, b.dtype)
    return _combine(a.dtype, b.dtype) if b.ndim == 0 else _combine(b.dtype, a.dtype)


def _number_dtype(x: Any) -> np.dtype | None:
    """The dtype PyTorch gives the Python number `x` when it meets a tensor (None: not a number). NumPy's int and
    float scalars count as Python numbers, as in PyTorch; its bool and complex scalars are refused, because
    PyTorch treats them as floats (np.bool_(True) + an int tensor is a float32 tensor there)."""
    if isinstance(x, bool):
        return _BOOL
    if isinstance(x, int):
        return _INT64
    if isinstance(x, float):  # also np.float64, a float subclass
        return DEFAULT_FLOAT
    if isinstance(x, complex):
        return _COMPLEX_OF[DEFAULT_FLOAT]
    if isinstance(x, np.generic):
        if isinstance(x, np.integer):
            return _INT64
        if isinstance(x, np.floating):
            return DEFAULT_FLOAT
        if isinstance(x, (np.bool_, np.complexfloating)):
            raise TypeError(f"a NumPy {type(x).__name__} scalar operand ({x!r}) is ambiguous: PyTorch treats it "
                            "as a Python float; pass bool(x), complex(x) or float(x) to say which you mean")
    return None


_BOOL, _INT64 = np.dtype(bool), np.dtype(np.int64)


def _number_array(x: Any, dtype: np.dtype) -> np.ndarray:
    """The Python number `x` as a 0-d array of `dtype`; an int out of the range of an integer dtype wraps around,
    as in PyTorch (int8 tensor + 1000 adds 1000 − 1024 = −24), where NumPy would raise."""
    try:
        return np.asarray(x, dtype)
    except OverflowError:
        if dtype.kind not in "iu":
            raise
        return np.asarray(x, np.int64).astype(dtype)


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


def _warn_constant(data: np.ndarray) -> None:
    """Inside a captured step (in the capturing thread), a Tensor made from a NumPy array: its values are fixed in
    the program. Said, since the usual cause is a batch drawn inside the step (next(iter(loader)))."""
    from tinygrad_np.capture import capturing

    if capturing() is not None:
        warnings.warn(f"captured step: a Tensor made from a NumPy array of shape {data.shape} inside the step; its "
                      "values are constants of the captured program (a replay reuses them). If they change from "
                      "call to call (a batch drawn inside the step), pass them to the step as arguments instead.",
                      UserWarning, stacklevel=3)


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
        if type(data) is Traced:  # inside a captured step (tinygrad_np/capture): a stand-in is an array
            data = data if dtype is None or np.dtype(dtype) == data.dtype else data.astype(dtype)
        else:
            if not isinstance(data, (np.ndarray, np.generic)):
                data = np.asarray(data)
                if dtype is None and data.dtype.kind == "f":
                    dtype = DEFAULT_FLOAT  # Python floats are float32 here, as in PyTorch
            elif _capture_active[0] is not None and type(data) is np.ndarray and data.size > 1:
                _warn_constant(data)
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
        if type(data) is not np.ndarray and type(data) is not Traced:
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
        """`x` as a Tensor. A Python number becomes a 0-d array of the dtype it gives with this tensor under
        PyTorch's rule (so float32 · 0.5 stays float32, int tensor · 0.5 is float32, bool tensor + 1 counts)."""
        if isinstance(x, Tensor):
            return x
        kind = self.data.dtype.kind
        if type(x) is float:  # the common cases first: x * 0.5, x + 1 (what `_combine` gives for them)
            dtype = self.data.dtype if kind in "fc" else DEFAULT_FLOAT
        elif type(x) is int:
            dtype = self.data.dtype if kind != "b" else _INT64
        else:
            number = _number_dtype(x)
            if number is None:
                return Tensor(x)  # an array or a list: a tensor of its own dtype
            dtype = _combine(self.data.dtype, number)
        return Tensor._make(_number_array(x, dtype), False, None)

    def _pair(self, other: Any) -> tuple[Tensor, Tensor]:
        """This tensor and `other` as the operands of a binary op, both converted to the result dtype by
        PyTorch's rule (see `_result_type`; NumPy's own would widen int + float32 to float64)."""
        x = self._operand(other)
        a, b = self.data, x.data
        if a.dtype == b.dtype:
            return self, x
        dtype = _result_type(a, b)
        return self._cast(dtype), x._cast(dtype)

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
        if self.data.dtype != other.data.dtype:  # PyTorch raises too: no promotion in matrix products
            raise TypeError(f"Matmul: both operands must have the same dtype, got {self.dtype} and {other.dtype} "
                            "(PyTorch does not promote here either); convert one with .to(dtype)")
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
        dtypes = (self.data.dtype, weight.data.dtype) + (() if bias is None else (bias.data.dtype,))
        if any(d != dtypes[0] for d in dtypes):  # PyTorch raises too, rather than computing in the wider dtype
            names = f"input {dtypes[0]}, weight {dtypes[1]}" + ("" if bias is None else f", bias {dtypes[2]}")
            raise TypeError(f"Linear: input, weight and bias must have the same dtype, got {names} (PyTorch does "
                            "not promote here either); convert the input with .to(weight.dtype), or the layer with "
                            "its parameters")
        if bias is None:
            return ops.Linear.apply(self, weight)
        if bias.data.shape not in ((w_shape[0],), ()):
            raise ValueError(f"Linear: bias of shape {bias.shape} does not fit a weight of shape {weight.shape}")
        return ops.Linear.apply(self, weight, bias)

    def maximum(self, other: Any) -> Tensor:
        return ops.Maximum.apply(*self._pair(other))

    def minimum(self, other: Any) -> Tensor:
        return ops.Minimum.apply(*self._pair(other))

    def where(self, condition: Any, other: Any) -> Tensor:
        """`self` where `condition` is true, else `other` (PyTorch's `Tensor.where`)."""
        cond = condition.data if isinstance(condition, Tensor) else P.asarray(condition)
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

    # ------------------------------------------------------------------------------------------------ comparisons
    # bool tensors, no gradient; the operands are compared in their result dtype, as in PyTorch (an int64 tensor
    # equals 16777217.0 where it holds 16777216 or 16777217, both being that float32; NumPy would compare exactly)

    def _compare(self, other: Any, fn: Any) -> Tensor:
        x = self._operand(other)
        a, b = self.data, x.data
        if a.dtype != b.dtype:
            dtype = _result_type(a, b)
            a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
        return Tensor._make(fn(a, b), False, None)

    def eq(self, other: Any) -> Tensor:
        """self == other, elementwise (a bool tensor)."""
        return self._compare(other, np.equal)

    def ne(self, other: Any) -> Tensor:
        """self != other, elementwise (a bool tensor)."""
        return self._compare(other, np.not_equal)

    def lt(self, other: Any) -> Tensor:
        """self < other, elementwise (a bool tensor)."""
        return self._compare(other, np.less)

    def le(self, other: Any) -> Tensor:
        """self <= other, elementwise (a bool tensor)."""
        return self._compare(other, np.less_equal)

    def gt(self, other: Any) -> Tensor:
        """self > other, elementwise (a bool tensor)."""
        return self._compare(other, np.greater)

    def ge(self, other: Any) -> Tensor:
        """self >= other, elementwise (a bool tensor)."""
        return self._compare(other, np.greater_equal)

    __eq__ = eq  # type: ignore[assignment]
    __ne__ = ne  # type: ignore[assignment]
    __lt__, __le__, __gt__, __ge__ = lt, le, gt, ge
    not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge  # PyTorch's aliases

    # ---------------------------------------------------------------------------------------- dtype and device

    @property
    def device(self) -> _Device:
        """Always the CPU (`device('cpu')`): tinygrad_np computes with NumPy."""
        return _CPU

    is_cuda = False

    def dim(self) -> int:
        """The number of axes (`ndim`)."""
        return self.data.ndim

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of axis `dim` (negative counts from the end)."""
        if dim is None:
            return self.data.shape
        if self.data.ndim == 0:
            raise IndexError(f"size: dim {dim} given, but the tensor is 0-d (it has no axes)")
        return self.data.shape[_dim(dim, self.data.ndim, "size", self.data.shape)]

    def to(self, *args: Any, dtype: Any = None, device: Any = None, non_blocking: bool = False,
           copy: bool = False) -> Tensor:
        """This tensor with another dtype (and/or on a device), as `torch.Tensor.to`:
        `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other)` (other's dtype and device), or keywords;
        `non_blocking` is accepted and has no effect. The only device is 'cpu' (others raise). Returns this
        very tensor when nothing changes, unless `copy=True`. Converting to a floating-point dtype is
        differentiable (the gradient comes back in the original dtype); to an integer or bool dtype gives a
        tensor without gradient."""
        rest = list(args)
        if rest and isinstance(rest[0], Tensor):  # to(other, non_blocking=False, copy=False)
            other = rest.pop(0)
            if dtype is not None or device is not None:
                raise TypeError("to(other): give either another tensor or dtype / device, not both")
            dtype = other.data.dtype
        elif rest and (isinstance(rest[0], (str, _Device)) or type(rest[0]) is int):  # to(device, dtype=None, …)
            if device is not None:
                raise TypeError("to: device given twice (positionally and as a keyword)")
            device = rest.pop(0)
            if rest and not isinstance(rest[0], bool):
                dtype = _twice(dtype, rest.pop(0))
        elif rest and not isinstance(rest[0], bool):  # to(dtype, non_blocking=False, copy=False)
            dtype = _twice(dtype, rest.pop(0))
        if len(rest) > 2 or not all(isinstance(flag, bool) for flag in rest):
            raise TypeError(f"to: unexpected arguments {tuple(args)}; expected to(dtype), to(device), "
                            "to(device, dtype) or to(tensor), each optionally followed by non_blocking and copy")
        if len(rest) == 2:
            copy = rest[1]
        if device is not None:
            # a device with an index ('cpu:0') is not this tensor's device ('cpu'): PyTorch copies then, too
            copy = _parse_device(device, "to").index is not None or copy
        result = self if dtype is None else self._cast(_as_dtype(dtype, "to"))  # (a new array if the dtype changes)
        return self.clone() if copy and result is self else result

    def _cast(self, dtype: np.dtype) -> Tensor:
        """This tensor converted to `dtype` (differentiable for a floating-point dtype)."""
        if dtype == self.data.dtype:
            return self
        if dtype.kind not in "fc":  # an integer or bool result carries no gradient
            return Tensor._make(self.data.astype(dtype), False, None)
        if dtype.kind == "c" and self._requires_grad and is_grad_enabled():
            raise TypeError(f"a tensor that requires grad cannot become {dtype}: complex autograd is not supported "
                            "here (PyTorch supports it, with its conjugate convention; we don't). Use real and "
                            "imaginary parts as two real tensors, or detach() first")
        return ops.Cast.apply(self, dtype=dtype)

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor converted to `other`'s dtype."""
        return self._cast(other.data.dtype)

    def float(self) -> Tensor:
        """As float32 (differentiable)."""
        return self._cast(_FLOAT32)

    def double(self) -> Tensor:
        """As float64 (differentiable)."""
        return self._cast(_FLOAT64)

    def half(self) -> Tensor:
        """As float16 (differentiable)."""
        return self._cast(_FLOAT16)

    def long(self) -> Tensor:
        """As int64 (no gradient; floats are truncated toward zero)."""
        return self._cast(_INT64)

    def int(self) -> Tensor:
        """As int32 (no gradient; floats are truncated toward zero)."""
        return self._cast(_INT32)

    def bool(self) -> Tensor:
        """As bool: True where nonzero (no gradient)."""
        return self._cast(_BOOL)

    def cpu(self) -> Tensor:
        """This tensor (it is on the CPU already)."""
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        raise RuntimeError("cuda: tinygrad_np computes with NumPy on the CPU only; there is no CUDA device")

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
        `torch.nn.functional.max_pool2d`. As in PyTorch, each window's gradient goes whole to one pixel: its first
        maximum in scan order (kernel rows, then columns), or its last NaN if it holds any. Differentiable to any
        order."""
        return conv.max_pool2d(self, kernel_size, stride, padding, dilation)

    def avg_pool2d(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                   count_include_pad: bool = True) -> Tensor:
        """The mean of each kernel_size window (stride defaults to kernel_size; zero padding counts in the mean
        unless count_include_pad=False), as `torch.nn.functional.avg_pool2d`."""
        return conv.avg_pool2d(self, kernel_size, stride, padding, count_include_pad)


_FLOAT16, _FLOAT32, _FLOAT64, _INT32 = (np.dtype(t) for t in (np.float16, np.float32, np.float64, np.int32))
_CPU = _Device("cpu")


def _as_dtype(dtype: Any, op: str) -> np.dtype:
    """`dtype` (a NumPy dtype or type such as tinygrad_np.float32, or a Python type: float is float64, int
    int64, as in PyTorch) as a NumPy dtype of a kind tensors hold."""
    try:
        result = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: {dtype!r} is not a dtype (expected e.g. tinygrad_np.float32)") from None
    if result.kind not in _CATEGORY:
        raise TypeError(f"{op}: tensors hold bool, integer, floating-point or complex numbers, not {result}")
    return result


def _twice(given: Any, positional: Any) -> Any:
    if given is not None:
        raise TypeError("to: dtype given twice (positionally and as a keyword)")
    return positional


def result_type(tensor1: Any, tensor2: Any) -> np.dtype:
    """The dtype of a binary op on `tensor1` and `tensor2` (tensors or Python numbers), as `torch.result_type`."""
    if not isinstance(tensor1, Tensor):
        if not isinstance(tensor2, Tensor):
            number1, number2 = _number_dtype(tensor1), _number_dtype(tensor2)
            if number1 is None or number2 is None:
                raise TypeError("result_type: expected tensors or Python numbers")
            return promote_types(number1, number2)
        tensor1, tensor2 = tensor2, tensor1
    return _result_type(tensor1.data, tensor1._operand(tensor2).data)


def _comparison(name: str) -> Any:
    method = getattr(Tensor, name)

    def compare(input: Tensor, other: Any) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__} (other may be a number)")
        return method(input, other)

    compare.__name__, compare.__doc__ = name, f"`torch.{name}`: {method.__doc__}"
    return compare


eq, ne, lt, le, gt, ge = (_comparison(n) for n in ("eq", "ne", "lt", "le", "gt", "ge"))
not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge


def where(condition: Any, input: Any, other: Any) -> Tensor:
    """`input` where `condition` is true, else `other` (`torch.where`)."""
    if not isinstance(input, Tensor):
        input = (other if isinstance(other, Tensor) else Tensor(other))._operand(input)
    return input.where(condition, other)


creation.Tensor = elementwise.Tensor = reductions.Tensor = shape.Tensor = indexing.Tensor = Tensor  # late binding
__all__ = ["Tensor", "cat", "stack", "where", "manual_seed", "DEFAULT_FLOAT", "_as_index", "promote_types",
           "result_type", "eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater",
           "greater_equal"]
