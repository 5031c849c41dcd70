"""`Tensor`: a NumPy array plus its place in the autograd graph, and the user-facing op vocabulary.

Every method here is either a primitive from `ops` applied once, or a composition of other methods (which then
needs no backward of its own).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Union

import numpy as np

from tinygrad_np import conv, ops
from tinygrad_np.autograd import Function
from tinygrad_np.autograd.engine import run_backward
from tinygrad_np.autograd.function import _creation_order
from tinygrad_np.hooks import RemovableHandle
from tinygrad_np.inplace import InplaceOps, _view_of

DEFAULT_FLOAT = np.dtype(np.float32)
Axis = Union[int, Sequence[int], None]
Scalar = Union[int, float, bool]

_rng = np.random.default_rng()
_new_object = object.__new__


def manual_seed(seed: int) -> None:
    """Seed the generator behind `rand`, `randn`, `uniform` and dropout, for reproducible runs."""
    global _rng
    _rng = np.random.default_rng(seed)


def _shape_arg(shape: tuple) -> tuple[int, ...]:
    # zeros(2, 3) and zeros((2, 3)) both mean shape (2, 3), as in PyTorch
    if len(shape) == 1 and isinstance(shape[0], Iterable):
        shape = tuple(shape[0])
    return tuple(int(n) for n in shape)


def _dim(d: int, ndim: int, op: str, shape: tuple[int, ...]) -> int:
    """Axis `d` of `ndim` axes (negative counts from the end) as a non-negative int; out of range is an error,
    never a silent wrap-around."""
    if not -ndim <= d < ndim:
        raise IndexError(f"{op}: dim {d} is out of range for a tensor of shape {shape} (valid: {-ndim} to {ndim - 1})")
    return d % ndim


def _check_differentiable(dtype: np.dtype) -> None:
    if dtype.kind not in "fc":
        raise TypeError(f"only floating-point tensors can require gradients, this one is {dtype}")


def _as_index(i: Any) -> Any:
    """An index with Tensors replaced by their arrays; lists become arrays (NumPy's advanced indexing)."""
    if isinstance(i, Tensor):
        return i.data
    if isinstance(i, list):
        return np.asarray([_as_index(j) for j in i])
    if isinstance(i, tuple):
        return tuple(_as_index(j) for j in i)
    return i


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


class Tensor(InplaceOps):
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

    # ------------------------------------------------------------------------------------------------ factories

    @staticmethod
    def manual_seed(seed: int) -> None:
        """Seed the generator behind `rand`, `randn`, `uniform` and dropout."""
        manual_seed(seed)

    @staticmethod
    def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return Tensor(np.zeros(_shape_arg(shape), dtype or DEFAULT_FLOAT), requires_grad)

    @staticmethod
    def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return Tensor(np.ones(_shape_arg(shape), dtype or DEFAULT_FLOAT), requires_grad)

    @staticmethod
    def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return Tensor(np.empty(_shape_arg(shape), dtype or DEFAULT_FLOAT), requires_grad)

    @staticmethod
    def full(shape: Any, fill_value: Scalar, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return Tensor(np.full(shape, fill_value, Tensor(fill_value, dtype=dtype).dtype), requires_grad)

    @staticmethod
    def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return Tensor(np.zeros(t.shape, dtype or t.dtype), requires_grad)

    @staticmethod
    def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return Tensor(np.ones(t.shape, dtype or t.dtype), requires_grad)

    @staticmethod
    def full_like(t: Tensor, fill_value: Scalar, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return Tensor(np.full(t.shape, fill_value, dtype or t.dtype), requires_grad)

    @staticmethod
    def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """Uniform on [0, 1)."""
        dtype = np.dtype(dtype or DEFAULT_FLOAT)
        return Tensor(_rng.random(_shape_arg(shape), dtype=dtype), requires_grad)

    @staticmethod
    def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """Standard normal."""
        dtype = np.dtype(dtype or DEFAULT_FLOAT)
        return Tensor(_rng.standard_normal(_shape_arg(shape), dtype=dtype), requires_grad)

    @staticmethod
    def uniform(*shape: Any, low: float = 0.0, high: float = 1.0, dtype: Any = None, requires_grad: bool = False):
        """Uniform on [low, high)."""
        data = _rng.uniform(low, high, _shape_arg(shape)).astype(dtype or DEFAULT_FLOAT)
        return Tensor(data, requires_grad)

    @staticmethod
    def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
               requires_grad: bool = False) -> Tensor:
        """[start, end) in steps; int64 when all arguments are ints, else float32 (as PyTorch)."""
        if end is None:
            start, end = 0, start
        if dtype is None:
            dtype = np.int64 if all(isinstance(a, int) for a in (start, end, step)) else DEFAULT_FLOAT
        return Tensor(np.arange(start, end, step, dtype=dtype), requires_grad)

    @staticmethod
    def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return Tensor(np.eye(n, m, dtype=dtype or DEFAULT_FLOAT), requires_grad)

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

    # --------------------------------------------------------------------------------------------------- unary ops

    def exp(self) -> Tensor:
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        return ops.Log.apply(self)

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(self)

    def rsqrt(self) -> Tensor:
        return self.sqrt().reciprocal()

    def square(self) -> Tensor:
        return self * self

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def sign(self) -> Tensor:
        return ops.Sign.apply(self)

    def reciprocal(self) -> Tensor:
        return 1.0 / self

    def relu(self) -> Tensor:
        return ops.Relu.apply(self)

    def leakyrelu(self, negative_slope: float = 0.01) -> Tensor:
        return self.where(self > 0, self * negative_slope)

    leaky_relu = leakyrelu

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(self)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
        return ops.Softplus.apply(self, beta=beta, threshold=threshold)

    def gelu(self, approximate: str = "none") -> Tensor:
        """x·Φ(x); approximate='tanh' for the tanh formula (PyTorch's argument)."""
        return ops.Gelu.apply(self, approximate=approximate)

    def sin(self) -> Tensor:
        return ops.Sin.apply(self)

    def erf(self) -> Tensor:
        return ops.Erf.apply(self)

    def cos(self) -> Tensor:
        return ops.Cos.apply(self)

    def clip(self, min: Scalar | None = None, max: Scalar | None = None) -> Tensor:
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        return ops.Clip.apply(self, lo=min, hi=max)

    clamp = clip

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

    # -------------------------------------------------------------------------------------------------- reductions

    def _axes(self, axis: Axis, dim: Axis) -> tuple[int, ...]:
        # `dim` is PyTorch's name for `axis`; both may not be given at once
        if dim is not None:
            if axis is not None:
                raise TypeError("give axis or dim, not both")
            axis = dim
        if axis is None:
            return tuple(range(self.ndim))
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        nd = max(self.ndim, 1)
        for a in axes:
            if not -nd <= a < nd:
                raise IndexError(f"axis {a} is out of range for a tensor of shape {self.shape}")
        return tuple(sorted(a % nd for a in axes)) if self.ndim else ()

    def sum(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        return ops.Sum.apply(self, axis=self._axes(axis, dim), keepdim=keepdim)

    def mean(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        axes = self._axes(axis, dim)
        count = math.prod(self.shape[a] for a in axes)
        return self.sum(axes, keepdim) * (1.0 / count if count else math.nan)

    def max(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """The largest values (like `torch.amax`: values only; use `argmax` for the indices)."""
        axes = self._axes(axis, dim)
        if any(self.shape[a] == 0 for a in axes):  # (an empty tensor reduced over non-empty axes is fine)
            raise ValueError(f"max: cannot reduce over an empty axis of the tensor of shape {self.shape}")
        return ops.Max.apply(self, axis=axes, keepdim=keepdim)

    def min(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """The smallest values (like `torch.amin`)."""
        return -((-self).max(axis, keepdim, dim=dim))

    def var(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None, correction: int = 1,
            unbiased: bool | None = None) -> Tensor:
        """Variance; divides by N − correction (1 by default: the unbiased estimate, as PyTorch)."""
        if unbiased is not None:
            correction = int(unbiased)
        axes = self._axes(axis, dim)
        count = math.prod(self.shape[a] for a in axes)
        centred = self - self.mean(axes, keepdim=True)
        return (centred * centred).sum(axes, keepdim) * (1.0 / max(count - correction, 0) if count > correction
                                                          else math.nan)

    def std(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None, correction: int = 1,
            unbiased: bool | None = None) -> Tensor:
        return self.var(axis, keepdim, dim=dim, correction=correction, unbiased=unbiased).sqrt()

    def logsumexp(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        return ops.LogSumExp.apply(self, axis=self._axes(axis, dim), keepdim=keepdim)

    def _arg(self, fn: Any, axis: int | None, keepdim: bool, dim: int | None) -> Tensor:
        if dim is not None:
            axis = dim
        out = fn(self.data, axis=axis, keepdims=keepdim) if axis is not None else fn(self.data)
        return Tensor._make(np.asarray(out, np.int64), False, None)

    def argmax(self, axis: int | None = None, keepdim: bool = False, *, dim: int | None = None) -> Tensor:
        """Index of the largest value (of the flattened tensor when no axis is given)."""
        return self._arg(np.argmax, axis, keepdim, dim)

    def argmin(self, axis: int | None = None, keepdim: bool = False, *, dim: int | None = None) -> Tensor:
        return self._arg(np.argmin, axis, keepdim, dim)

    def softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Softmax along `axis` (or its alias `dim`); the last axis when neither is given."""
        (axis,) = self._axes(-1 if axis is None and dim is None else axis, dim) or (0,)
        return ops.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """log(softmax) along `axis` (or its alias `dim`); the last axis when neither is given."""
        (axis,) = self._axes(-1 if axis is None and dim is None else axis, dim) or (0,)
        return ops.LogSoftmax.apply(self, axis=axis)

    # ------------------------------------------------------------------------------------------------------- shape

    def reshape(self, *shape: Any) -> Tensor:
        shape = _shape_arg(shape)
        if shape == self.shape:
            return self
        return _view_of(ops.Reshape.apply(self, shape=shape), self)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        start, end = _dim(start_dim, self.ndim, "flatten", self.shape), _dim(end_dim, self.ndim, "flatten", self.shape)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
        return self.reshape(*self.shape[:start], -1, *self.shape[end + 1:])

    def unsqueeze(self, dim: int) -> Tensor:
        dim = _dim(dim, self.ndim + 1, "unsqueeze", self.shape)
        return self.reshape(*self.shape[:dim], 1, *self.shape[dim:])

    def squeeze(self, dim: Axis = None) -> Tensor:
        """Drop size-1 axes: all of them, or those in `dim` (an axis of another size is left alone, as PyTorch)."""
        axes = self._axes(dim, None)
        return self.reshape(*[n for i, n in enumerate(self.shape) if not (i in axes and n == 1)])

    def permute(self, *dims: Any) -> Tensor:
        dims = tuple(_dim(d, self.ndim, "permute", self.shape) for d in _shape_arg(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the axes of a tensor of shape {self.shape}")
        return _view_of(ops.Permute.apply(self, dims=dims), self)

    def transpose(self, dim0: int = 0, dim1: int = 1) -> Tensor:
        dims = list(range(self.ndim))
        dim0, dim1 = _dim(dim0, self.ndim, "transpose", self.shape), _dim(dim1, self.ndim, "transpose", self.shape)
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    def expand(self, *sizes: Any) -> Tensor:
        """Broadcast to `sizes` without copying; -1 keeps an axis's size."""
        sizes = _shape_arg(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ValueError(f"expand: cannot expand shape {self.shape} to fewer axes {sizes}")
        if -1 in sizes[:lead]:
            raise ValueError(f"expand: -1 is not allowed for a new leading axis, got {sizes} for shape {self.shape}")
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
        return _view_of(ops.Expand.apply(self, shape=shape), self)

    def pad(self, pad: Sequence[Any], value: float = 0.0) -> Tensor:
        """Constant padding. `pad` as `torch.nn.functional.pad`: (left, right) of the last axis, then of the one
        before, …; or as NumPy: one (before, after) pair per axis."""
        if pad and all(isinstance(p, (tuple, list)) for p in pad):  # () is the flat form padding nothing
            widths = [tuple(p) for p in pad]
        else:
            if len(pad) % 2 or len(pad) // 2 > self.ndim:
                raise ValueError(f"pad: {tuple(pad)} must hold a (before, after) pair for at most {self.ndim} axes")
            pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)]
            widths = [(0, 0)] * (self.ndim - len(pairs)) + pairs[::-1]
        if len(widths) != self.ndim or any(b < 0 or a < 0 for b, a in widths):
            raise ValueError(f"pad: {tuple(pad)} does not give non-negative widths for shape {self.shape}")
        return ops.Pad.apply(self, pad_width=tuple(widths), value=value)

    def flip(self, dims: Axis = None, *, axis: Axis = None) -> Tensor:
        """Reverse the order of elements along `dims` (all axes when none are given)."""
        return ops.Flip.apply(self, axis=self._axes(dims, axis))

    def repeat(self, *sizes: Any) -> Tensor:
        """Tile the tensor `sizes[i]` times along axis i (PyTorch's `repeat`, NumPy's `tile`)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat: need at least {self.ndim} sizes for shape {self.shape}, got {sizes}")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        interleaved = self.reshape(*[d for n in shape for d in (1, n)])
        tiled = interleaved.expand(*[d for r, n in zip(sizes, shape) for d in (r, n)])
        return tiled.reshape(*[r * n for r, n in zip(sizes, shape)])

    def cat(self, *others: Tensor, dim: int = 0) -> Tensor:
        """Join this tensor and `others` along `dim`."""
        tensors = (self, *others)
        if self.ndim == 0:
            raise ValueError("Cat: zero-dimensional tensors cannot be concatenated")
        axis = _dim(dim, self.ndim, "Cat", self.shape)
        return ops.Cat.apply(*tensors, axis=axis)

    def stack(self, *others: Tensor, dim: int = 0) -> Tensor:
        """Join this tensor and `others` along a new axis `dim`."""
        tensors = (self, *others)
        dim = _dim(dim, self.ndim + 1, "stack", self.shape)
        return tensors[0].unsqueeze(dim).cat(*[t.unsqueeze(dim) for t in tensors[1:]], dim=dim)

    def __getitem__(self, index: Any) -> Tensor:
        index = _as_index(index)
        parts = index if isinstance(index, tuple) else (index,)
        advanced = any(isinstance(p, np.ndarray) for p in parts)
        out = ops.GetItem.apply(self, index=index, advanced=advanced)
        return out if advanced else _view_of(out, self)

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


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join `tensors` along the existing axis `dim` (`torch.cat`)."""
    first, *rest = tensors
    return first.cat(*rest, dim=dim)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join `tensors` along a new axis `dim` (`torch.stack`)."""
    first, *rest = tensors
    return first.stack(*rest, dim=dim)


def where(condition: Any, input: Any, other: Any) -> Tensor:
    """`input` where `condition` is true, else `other` (`torch.where`)."""
    if not isinstance(input, Tensor):
        input = (other if isinstance(other, Tensor) else Tensor(other))._operand(input)
    return input.where(condition, other)
