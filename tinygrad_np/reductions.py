"""Reductions and scans: sum, mean, prod, max/min (values and indices), amax/amin, argmax/argmin, var, std, norm,
logsumexp, softmax, log_softmax, all/any, cumsum/cumprod, sort/argsort, topk and median.

Each follows PyTorch: its signature, result dtypes (integer and bool sums are int64), which index a tie goes to,
and its gradients. Where PyTorch's answer is not determined by its documentation but by its C++ library (the
order of tied elements in topk, and in a non-stable sort of more than 16 elements) we raise instead of guessing.

The primitives of this family live here, beside the methods that use them; their backward formulas are written in
the polymorphic vocabulary (see ops.py), so every one is differentiable again.
"""
from __future__ import annotations

import math
import warnings
from collections import namedtuple
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_np import ops
from tinygrad_np import polymorphic as P
from tinygrad_np.arguments import DEFAULT_FLOAT, Axis
from tinygrad_np.capture.trace import branch

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # bound by tensor.py once the class exists (tensor.py imports this module first)


# The named results of the reductions that also return indices, as `torch.return_types`: tuples that unpack
# (`values, indices = x.max(1)`) and index (`x.max(1)[0]`) like any tuple, with the fields named.
return_types = SimpleNamespace(**{
    name: namedtuple(name, ("values", "indices")) for name in ("max", "min", "sort", "topk", "median")
})
for _type in vars(return_types).values():
    _type.__qualname__ = f"return_types.{_type.__name__}"  # where pickle finds it (in this module)

_ALL = object()  # "no dim given": max() and min() without a dim are a different reduction from max(dim)
_INSERTION_SORT = 16  # PyTorch's CPU sort is an insertion sort (stable) up to this length; see `sort`


# ----------------------------------------------------------------------------------------------- dims and dtypes


def _is_int(d: Any) -> bool:
    return isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))


def _dims(x: Tensor, dim: Any, op: str) -> tuple[int, ...]:
    """The dims the reduction `op` runs over, sorted. None, () and [] mean every dim (PyTorch's reading of an
    empty list for sum, mean, amax, …; all/any differ and check for it themselves). A 0-d tensor takes dim 0 or
    -1. Out of range is an IndexError and a repeated dim a RuntimeError, as in PyTorch."""
    if dim is None:
        return tuple(range(x.ndim))
    dims = (dim,) if not isinstance(dim, (tuple, list)) else tuple(dim)
    if not dims:
        return tuple(range(x.ndim))
    nd = max(x.ndim, 1)
    out = []
    for d in dims:
        if not _is_int(d):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        if not -nd <= d < nd:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor of shape {x.shape} "
                             f"(valid: {-nd} to {nd - 1})")
        out.append(int(d) % nd)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: a dim appears more than once in {dim!r} (for the tensor of shape {x.shape})")
    return tuple(sorted(out)) if x.ndim else ()


def _dim(x: Tensor, dim: Any, op: str, several: str = "") -> int:
    """The one dim `op` works along (a 0-d tensor takes 0 or -1, and gives 0). `several`: what to use instead when
    a tuple of dims is given."""
    if not _is_int(dim):
        hint = f" (for several dims use {several})" if several and isinstance(dim, (tuple, list)) else ""
        raise TypeError(f"{op}: dim must be an int, got {dim!r}{hint}")
    nd = max(x.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {x.shape} "
                         f"(valid: {-nd} to {nd - 1})")
    return int(dim) % nd


def _alias(dim: Any, axis: Any, op: str, missing: Any = None) -> Any:
    """`dim`, or its NumPy-style alias `axis` (PyTorch accepts both names); giving both is an error."""
    if axis is not missing:
        if dim is not missing:
            raise TypeError(f"{op}: give axis or dim (its PyTorch name), not both")
        return axis
    return dim


def _drop(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _kept(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _require_nonempty(x: Tensor, axes: tuple[int, ...], op: str) -> None:
    # (an empty tensor reduced over non-empty dims is fine: an empty result, as in PyTorch)
    if x.ndim == 0:
        return
    empty = [a for a in axes if x.shape[a] == 0]
    if empty or (not axes and x.data.size == 0):
        where = f"dim {empty[0]}" if empty else "its elements"
        raise ValueError(f"{op}: a max, min or median over an empty dim has no value: {where} of the empty tensor "
                         f"of shape {x.shape} has size 0 (PyTorch raises too)")


def _require_float(x: Tensor, op: str, error: type = RuntimeError) -> None:
    if x.dtype.kind not in "fc":
        raise error(f"{op}: needs a floating-point tensor, got {x.dtype} (as in PyTorch); convert it first, "
                    f"e.g. x.float()")


def _as_index(a: np.ndarray) -> Tensor:
    return Tensor._make(P.asarray(a, np.int64), False, None)


def _accumulating(x: Tensor, dtype: Any) -> tuple[Tensor, np.dtype]:
    """`x` converted for a sum or scan that PyTorch would give `dtype` (None: integers and bools give int64),
    and that result dtype. float16 is accumulated in float32, as PyTorch's CPU kernels do (NumPy's float16
    running sums stop growing at 2048)."""
    target = np.dtype(dtype) if dtype is not None else (
        np.dtype(np.int64) if x.dtype.kind in "biu" else x.dtype)
    work = np.dtype(np.float32) if target == np.float16 else target
    return x.to(work), target


# ---------------------------------------------------------------------------------------------------- primitives


_is_array = P.is_array


class _ShareAmongTies(ops.Primitive):
    """z = one value of x per slice over `axis`, picked by the subclass (the max, the min, the median), that some
    elements of x equal;  dz/dx = [x = z] / #{x = z}: elements tied with z share its gradient equally (PyTorch's
    rule for amax and amin, and for max(), min() and median() without a dim).

    A NaN result: with `nan_ties` (the reductions without a dim) the NaNs share the gradient, as PyTorch's max();
    without (amax, amin), no element equals z and the gradient is NaN, as PyTorch's amax.
    """

    constants = ("share",)  # piecewise constant in x: its derivative is zero wherever it exists

    def pick(self, x: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x, axis, keepdim, nan_ties=False):
        z = self.pick(x, axis)  # keepdims shape
        if self.needs_input_grad[0]:
            mask = x == z
            if nan_ties and x.dtype.kind in "fc":
                mask |= np.isnan(x) & np.isnan(z)
            with np.errstate(invalid="ignore"):  # 0/0 where nothing equals a NaN result: NaN, as PyTorch's amax
                self.share = mask / mask.sum(axis=axis, keepdims=True, dtype=x.dtype)
        self.kept = z.shape
        return z if keepdim else z.reshape(_drop(x.shape, axis))

    def backward(self, g):
        return g.reshape(self.kept) * self.share


class Amax(_ShareAmongTies):
    __doc__ = "z = max of x over `axis`.\n\n" + _ShareAmongTies.__doc__

    def pick(self, x, axis):
        return x.max(axis=axis, keepdims=True)


class Amin(_ShareAmongTies):
    __doc__ = "z = min of x over `axis`.\n\n" + _ShareAmongTies.__doc__

    def pick(self, x, axis):
        return x.min(axis=axis, keepdims=True)


class Median(_ShareAmongTies):
    __doc__ = "z = the lower median of all of x (NaN if x has one).\n\n" + _ShareAmongTies.__doc__

    def pick(self, x, axis):
        flat = x.reshape(-1)
        k = (flat.size - 1) // 2
        if x.dtype.kind in "fc" and branch(np.isnan(flat).any()):
            z = np.asarray(np.nan, x.dtype)
        else:
            z = np.partition(flat, k)[k]
        return np.full(_kept(x.shape, axis), z, x.dtype)


def _take_along(a: Any, index: np.ndarray, axis: int) -> Any:
    return np.take_along_axis(a, index, axis) if _is_array(a) else TakeAlong.apply(a, index=index, axis=axis)


def _put_along(g: Any, shape: tuple[int, ...], index: np.ndarray, axis: int) -> Any:
    if _is_array(g):
        out = P.zeros(shape, g.dtype, g, index)
        np.put_along_axis(out, index, g, axis)  # an assignment: the positions never repeat within a slice
        return out
    return PutAlong.apply(g, shape=shape, index=index, axis=axis)


class TakeAlong(ops.Primitive):
    """z = x at `index` along `axis` (NumPy's take_along_axis), with `axis` dropped if `squeeze`; `index` never
    names a position twice within a slice (one max, a permutation, the top k);  dz/dx = g put back at those
    positions, zero elsewhere. So only the element whose index is returned gets the gradient: max(dim), min(dim),
    sort, topk and median(dim) route it as PyTorch does."""

    def forward(self, x, index, axis, squeeze=False):
        self.shape, self.index, self.axis = x.shape, index, axis
        z = np.take_along_axis(x, index, axis)
        return z.reshape(_drop(z.shape, (axis,))) if squeeze else z

    def backward(self, g):
        return _put_along(g.reshape(self.index.shape), self.shape, self.index, self.axis)


class PutAlong(ops.Primitive):
    """z = zeros of `shape` with g placed at `index` along `axis` (TakeAlong's backward, as an op so that it can be
    differentiated again);  dz/dg = picking z's gradient at `index` again."""

    def forward(self, g, shape, index, axis):
        self.index, self.axis = index, axis
        return _put_along(g, shape, index, axis)

    def backward(self, gg):
        return _take_along(gg, self.index, self.axis)


def _cumsum(a: Any, axis: int) -> Any:
    return np.cumsum(a, axis=axis) if _is_array(a) else Cumsum.apply(a, axis=axis)


def _cumprod(a: Any, axis: int) -> Any:
    return np.cumprod(a, axis=axis) if _is_array(a) else Cumprod.apply(a, axis=axis)


def _reverse_cumsum(a: Any, axis: int) -> Any:
    """r_i = Σ_{k≥i} a_k along `axis`: the adjoint of a cumulative sum."""
    return P.flip(_cumsum(P.flip(a, axis), axis), axis)


class Cumsum(ops.Primitive):
    """z_i = Σ_{j≤i} x_j along `axis`;  dx_i = Σ_{k≥i} g_k (the reversed cumulative sum of g)."""

    def forward(self, x, axis):
        self.axis = axis
        return np.cumsum(x, axis=axis)

    def backward(self, g):
        return _reverse_cumsum(g, self.axis)


class Cumprod(ops.Primitive):
    """z_i = Π_{j≤i} x_j along `axis`;  dx_i = Σ_{k≥i} g_k · Π_{j≤k, j≠i} x_j.

    Where x_i ≠ 0 that is (Σ_{k≥i} g_k z_k) / x_i, one reversed cumulative sum (PyTorch's formula). Where x_i = 0 it
    is Σ_{k≥i} g_k z'_k, with z' the products recomputed with 1 in place of x_i. Both expressions equal the exact
    derivative as functions of x near the point, not only in value, so differentiating them again is exact at
    zeros too (as PyTorch's double backward is). With several zeros in a slice each needs its own z'; at first
    order only the first zero's is computed, since every later zero's products contain the first zero.
    """

    saves_inputs = saves_output = True

    def forward(self, x, axis):
        self.x, self.axis = x, axis
        self.z = np.cumprod(x, axis=axis)
        return self.z

    def backward(self, g):
        x, z, axis = self.x, self.z, self.axis
        zero = P.value(x) == 0
        if not branch(zero.any()):
            return _reverse_cumsum(g * z, axis) / x
        # 1 in place of each zero keeps the division finite; those positions are overwritten below
        dx = P.where(zero, 0.0, _reverse_cumsum(g * z, axis) / P.where(zero, 1.0, x))
        rank = np.cumsum(zero, axis=axis) * zero  # 1 at each slice's first zero, 2 at its second, …; 0 elsewhere
        for r in range(1, int(rank.max()) + 1):
            if r > 1 and _is_array(g):
                break  # first order: a later zero's gradient is 0 (see above), which dx holds already
            here = rank == r
            dx = P.where(here, _reverse_cumsum(g * _cumprod(P.where(here, 1.0, x), axis), axis), dx)
        return dx


def _abs(a: Any) -> Any:
    return np.abs(a) if _is_array(a) else a.abs()


def _vector_norm(x: np.ndarray, p: float, axis: tuple[int, ...]) -> np.ndarray:
    a = np.abs(x)
    if p == math.inf:
        return a.max(axis=axis, keepdims=True)
    if p == -math.inf:
        return a.min(axis=axis, keepdims=True)
    if p == 0:
        return (x != 0).sum(axis=axis, keepdims=True, dtype=x.dtype)
    if p == 1:
        return a.sum(axis=axis, keepdims=True)
    if p == 2:
        return np.sqrt((x * x).sum(axis=axis, keepdims=True))
    with np.errstate(divide="ignore"):  # |0|^p for p < 0 is inf, and the norm 0, as in PyTorch
        return (a**p).sum(axis=axis, keepdims=True) ** (1 / p)


class VectorNorm(ops.Primitive):
    """z = (Σ |x|^p)^(1/p) over `axis` (p = ±inf: the max / min of |x|; p = 0: the count of nonzeros), with
    PyTorch's gradients, which are 0 wherever the formula is 0/0 (sign(NaN) is 0, as PyTorch's):
      p = 0: none (the count is piecewise constant; PyTorch leaves x.grad None);
      p = 1: sign(x);  p = ±inf: sign(x)·[|x| = z] / #{|x| = z} (ties share);
      p > 1: sign(x)·|x|^(p−1) / z^(p−1) = x·|x|^(p−2) / z^(p−1) (x / z for p = 2), and 0 where z = 0;
      p < 1: sign(x)·|x|^(p−1)·z^(1−p), and 0 where x = 0.
    Second derivatives are those of these formulas, written as PyTorch writes them: at zero norms and zero entries,
    where they may not exist, they agree with PyTorch's, NaN included.
    """

    saves_inputs = saves_output = True

    def forward(self, x, p, axis, keepdim):
        self.x, self.p, self.axis, self.kept = x, p, axis, _kept(x.shape, axis)
        z = _vector_norm(x, p, axis)
        self.z = z if keepdim else z.reshape(_drop(x.shape, axis))
        return self.z

    def backward(self, g):
        x, p, axis = self.x, self.p, self.axis
        g, z = g.reshape(self.kept), self.z.reshape(self.kept)
        xv = P.value(x)
        sign = ops._sign(xv)  # PyTorch's sign: 0 at NaN too (NumPy's is NaN)
        if p == 0:
            return None  # PyTorch's gradient is undefined (x.grad stays None), not zeros
        if p == 1:
            return g * sign
        if math.isinf(p):
            mask = np.abs(xv) == P.value(z)  # never true for a NaN z: then the gradient is 0, as PyTorch's
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(mask, sign / mask.sum(axis=axis, keepdims=True, dtype=xv.dtype), 0.0)
            return g * share
        zero_norm = P.value(z) == 0
        # Each case is written as PyTorch writes it, so that the second derivatives agree too, down to where they
        # are NaN (x/z at z = 0; |x|^(p−2) at x = 0 for 2 < p < 3). sign(x)·|x| for x would differ at x = 0.
        with np.errstate(invalid="ignore", divide="ignore"):  # the 0/0 and 0·inf that the masks replace
            if p == 2:
                return g * P.where(zero_norm, 0.0, x / z)
            if p > 2:
                return x * _abs(x) ** (p - 2) * P.where(zero_norm, 0.0, g / z ** (p - 1))
            if p > 1:
                return sign * _abs(x) ** (p - 1) * P.where(zero_norm, 0.0, g / z ** (p - 1))
            return sign * P.where(xv == 0, 0.0, _abs(x) ** (p - 1)) * (g * z ** (1 - p))


# ------------------------------------------------------------------------------------------------- sorting helpers


def _stable_order(a: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Indices that sort `a` along `axis`, ascending or descending, tied elements in their original order. NaNs
    count as the largest values (last ascending, first descending), as in PyTorch."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    # sorting the reversed array ascending and reading it backwards puts ties back in their original order
    backwards = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
    return a.shape[axis] - 1 - np.flip(backwards, axis)


def _adjacent_ties(s: np.ndarray, axis: int) -> np.ndarray:
    """For `s` sorted along `axis`: whether elements i and i+1 are tied (equal, or both NaN), along `axis`."""
    s = np.moveaxis(s, axis, -1)
    tied = s[..., 1:] == s[..., :-1]
    if s.dtype.kind in "fc":
        tied |= np.isnan(s[..., 1:]) & np.isnan(s[..., :-1])
    return tied


# ------------------------------------------------------------------------------------------------------ the mixin


class ReductionMethods:
    """The reduction half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it)."""

    __slots__ = ()

    def _axes(self, axis: Axis, dim: Axis) -> tuple[int, ...]:
        # The axes argument of squeeze and flip (shape.py): None means all, () none. Reductions use `_dims`.
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

    # --------------------------------------------------------------------------------------------- sums, means

    def sum(self, dim: Axis = None, keepdim: bool = False, *, dtype: Any = None, axis: Axis = None) -> Tensor:
        """Σ over `dim` (an int, a tuple; None, () and [] mean all dims). Integer and bool tensors sum to int64, as
        in PyTorch (NumPy would give uint64 for unsigned ones); `dtype` converts first."""
        if dim is None and axis is None:
            dims = tuple(range(self.data.ndim))
        else:
            dims = _dims(self, _alias(dim, axis, "sum"), "sum")
        if dtype is None and self.data.dtype.kind == "f" and self.data.dtype.itemsize >= 4:
            return ops.Sum.apply(self, axis=dims, keepdim=keepdim)  # the common case, without conversions
        x, target = _accumulating(self, dtype)
        return ops.Sum.apply(x, axis=dims, keepdim=keepdim).to(target)

    def mean(self, dim: Axis = None, keepdim: bool = False, *, dtype: Any = None, axis: Axis = None) -> Tensor:
        """The mean over `dim` (None, () and [] mean all dims); NaN over nothing. As in PyTorch, an integer or
        bool tensor needs a floating-point `dtype`."""
        dims = _dims(self, _alias(dim, axis, "mean"), "mean")
        x = self if dtype is None else self.to(dtype)
        if x.dtype.kind not in "fc":
            raise RuntimeError(f"mean: cannot infer the result dtype of a tensor of dtype {x.dtype} (PyTorch raises "
                               "too): give a floating-point dtype, e.g. x.mean(dtype=tinygrad_np.float32), or convert "
                               "with x.float()")
        if x.dtype == np.float16:  # PyTorch accumulates in float32 and rounds once
            return x.float().mean(dims, keepdim).to(np.float16)
        count = math.prod(x.shape[a] for a in dims)
        return x.sum(dims, keepdim) * (1.0 / count if count else math.nan)

    def prod(self, dim: Any = _ALL, keepdim: bool = False, *, dtype: Any = None, axis: Any = _ALL) -> Tensor:
        """Π of all elements, or along the one dim `dim` (PyTorch's prod takes no tuple). Integer and bool tensors
        give int64. The gradient is PyTorch's, zeros included: Π of the others where one element is 0, and 0 where
        two are (from the cumulative product, whose derivative is exact at zeros)."""
        dim = _alias(dim, axis, "prod", _ALL)
        x, target = _accumulating(self, dtype)
        if dim is _ALL:
            if keepdim:
                raise TypeError("prod: keepdim needs a dim")
            x, d = x.reshape(-1), 0
        else:
            d = _dim(x, dim, "prod")
            if x.ndim == 0:
                x = x.reshape(1)
        if x.shape[d] == 0:  # Π over nothing is 1; the sum only keeps the (empty) input on the graph
            out = x.sum(d, keepdim) * 0 + 1
        else:
            last = (slice(None),) * d + (slice(-1, None) if keepdim else -1,)
            out = x.cumprod(d)[last]
        return out.reshape(()).to(target) if self.ndim == 0 or dim is _ALL else out.to(target)

    def cumsum(self, dim: int | None = None, *, dtype: Any = None, axis: int | None = None) -> Tensor:
        """Running sums along `dim` (required, as in PyTorch); integer and bool tensors give int64. float16 is
        accumulated in float32, as PyTorch. The gradient is the reversed running sum of g (Cumsum)."""
        return self._scan("cumsum", Cumsum, _alias(dim, axis, "cumsum"), dtype)

    def cumprod(self, dim: int | None = None, *, dtype: Any = None, axis: int | None = None) -> Tensor:
        """Running products along `dim`, as `cumsum`. The gradient is PyTorch's, exact at zeros (Cumprod)."""
        return self._scan("cumprod", Cumprod, _alias(dim, axis, "cumprod"), dtype)

    def _scan(self, op: str, primitive: type, dim: Any, dtype: Any) -> Tensor:
        if dim is None:
            raise TypeError(f"{op}: needs a dim, e.g. x.{op}(0) (as in PyTorch)")
        x, target = _accumulating(self, dtype)
        d = _dim(x, dim, op)
        if x.ndim == 0:
            return x.to(target) * 1  # a copy of the one element
        return primitive.apply(x, axis=d).to(target)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None,
            axis: Any = None) -> Tensor:
        """Variance over `dim`, dividing by N − correction (1 by default: the unbiased estimate). PyTorch's
        arguments: var(dim, unbiased, keepdim) or var(dim, keepdim=…, correction=…); var(True) is var(unbiased=True).
        N − correction ≤ 0 warns and divides by 0, as in PyTorch."""
        return self._moment("var", dim, unbiased, keepdim, correction, axis)

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None,
            axis: Any = None) -> Tensor:
        """Standard deviation: the square root of `var` (same arguments)."""
        return self._moment("std", dim, unbiased, keepdim, correction, axis).sqrt()

    def _moment(self, op: str, dim: Any, unbiased: Any, keepdim: bool, correction: Any, axis: Any) -> Tensor:
        dim = _alias(dim, axis, op)
        if isinstance(dim, (bool, np.bool_)):  # var(True): PyTorch's overload var(unbiased)
            dim, unbiased = None, dim
        if isinstance(dim, (tuple, list)) and not dim:
            raise RuntimeError(f"{op}: dim={dim!r} (no dims) is refused: PyTorch's value reduces every dim, but its "
                               "gradient divides by N − correction with N = 1 (inf), so one of the two would differ. "
                               "Pass dim=None for every dim")
        if unbiased is not None:
            if correction is not None:
                raise TypeError(f"{op}: give unbiased or correction, not both")
            correction = int(bool(unbiased))
        correction = 1 if correction is None else correction
        _require_float(self, op)
        dims = _dims(self, dim, op)
        count = math.prod(self.shape[a] for a in dims)
        dof = max(count - correction, 0)
        if dof == 0:
            warnings.warn(f"{op}(): degrees of freedom is <= 0: the correction {correction} is not less than the "
                          f"number of elements reduced, {count} (PyTorch warns too)", UserWarning, stacklevel=3)
        centred = self - self.mean(dims, keepdim=True)
        with np.errstate(divide="ignore", invalid="ignore"):  # dof 0: x/0 is inf and 0/0 NaN, as in PyTorch
            return (centred * centred).sum(dims, keepdim) / float(dof)

    # ------------------------------------------------------------------------------------------ max, min, args

    def max(self, dim: Any = _ALL, keepdim: bool = False, *, axis: Any = _ALL) -> Any:
        """As PyTorch's, in its three forms:
        - `x.max()`: the largest element (0-d); tied maxima share the gradient equally (NaNs, if the result is NaN).
        - `x.max(dim, keepdim=False)`: the named tuple `(values, indices)` of the largest element along `dim` and
          its index: the first one if tied (as PyTorch); its gradient goes to that element only.
        - `x.max(other)`, `other` a Tensor: the elementwise `maximum`.
        For the largest values over several dims, with ties sharing the gradient, use `amax`."""
        return self._extreme("max", _alias(dim, axis, "max", _ALL), keepdim, Amax, np.argmax)

    def min(self, dim: Any = _ALL, keepdim: bool = False, *, axis: Any = _ALL) -> Any:
        """As `max`, for the smallest: `x.min()`, `x.min(dim, keepdim)` → (values, indices), `x.min(other)`."""
        return self._extreme("min", _alias(dim, axis, "min", _ALL), keepdim, Amin, np.argmin)

    def _extreme(self, op: str, dim: Any, keepdim: bool, whole: type, arg: Any) -> Any:
        if dim is _ALL:
            if keepdim:
                raise TypeError(f"{op}: keepdim needs a dim, e.g. x.{op}(0, keepdim=True) or x.a{op}(keepdim=True)")
            axes = tuple(range(self.ndim))
            _require_nonempty(self, axes, op)
            return whole.apply(self, axis=axes, keepdim=False, nan_ties=True)
        if isinstance(dim, Tensor):
            if keepdim:
                raise TypeError(f"{op}(other): keepdim applies to {op}(dim) only")
            return self.maximum(dim) if op == "max" else self.minimum(dim)
        d = _dim(self, dim, op, f"a{op}, which returns the values only")
        _require_nonempty(self, (d,), op)
        x = self if self.ndim else self.reshape(1)
        index = arg(x.data, axis=d, keepdims=True)  # NumPy's argmax/argmin: the first of tied (or NaN) elements
        values = TakeAlong.apply(x, index=index, axis=d, squeeze=not keepdim or self.ndim == 0)
        index = index.reshape(values.shape)
        return getattr(return_types, op)(values, _as_index(index))

    def amax(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Tensor:
        """The largest values over `dim` (an int or a tuple; (), [] and None mean all dims). Tied maxima share the
        gradient equally (a NaN maximum makes its slice's gradient NaN), as PyTorch's amax."""
        dims = _dims(self, _alias(dim, axis, "amax"), "amax")
        _require_nonempty(self, dims, "amax")
        return Amax.apply(self, axis=dims, keepdim=keepdim)

    def amin(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Tensor:
        """The smallest values over `dim`, as `amax`."""
        dims = _dims(self, _alias(dim, axis, "amin"), "amin")
        _require_nonempty(self, dims, "amin")
        return Amin.apply(self, axis=dims, keepdim=keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Tensor:
        """Index of the largest value along `dim` (of the flattened tensor when dim is None); the first one if tied,
        and NaN counts as the largest, as in PyTorch. An int64 tensor, without gradient."""
        return self._arg("argmax", np.argmax, _alias(dim, axis, "argmax"), keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Tensor:
        """Index of the smallest value along `dim`, as `argmax`."""
        return self._arg("argmin", np.argmin, _alias(dim, axis, "argmin"), keepdim)

    def _arg(self, op: str, fn: Any, dim: Any, keepdim: bool) -> Tensor:
        if self.dtype == np.bool_:
            raise RuntimeError(f"{op}: does not support bool tensors (as PyTorch); convert first, e.g. x.int()")
        if dim is None:
            _require_nonempty(self, (), op)
            index = fn(self.data.reshape(-1))
            return _as_index(np.full((1,) * self.ndim, index) if keepdim else index)
        d = _dim(self, dim, op)
        _require_nonempty(self, (d,), op)
        if self.ndim == 0:
            return _as_index(0)
        return _as_index(fn(self.data, axis=d, keepdims=keepdim))

    # -------------------------------------------------------------------------------------------- norms, logic

    def norm(self, p: Any = "fro", dim: Axis = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """`torch.norm`: the vector p-norm (Σ |x|^p)^(1/p) over `dim` (None: all), p a number, ±inf, or 'fro' (the
        2-norm, over at most two dims). The nuclear norm ('nuc') is not implemented. Gradients as PyTorch's: 0 at
        a zero norm, ties share for ±inf (see VectorNorm)."""
        if p is None:
            p = 2
        if isinstance(p, str):
            if p == "nuc":
                raise NotImplementedError("norm: the nuclear norm ('nuc') is not implemented (it needs an SVD); "
                                          "for the Frobenius norm use p='fro'")
            if p != "fro":
                raise RuntimeError(f"norm: order {p!r} is not supported: give a number, inf, -inf or 'fro'")
            if isinstance(dim, (tuple, list)) and len(dim) > 2:
                raise RuntimeError(f"norm: the Frobenius norm takes at most 2 dims, got {dim!r}; for the 2-norm over "
                                   "more dims use p=2")
            p = 2
        return vector_norm(self, p, dim, keepdim, dtype=dtype)

    def all(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Tensor:
        """Whether every element along `dim` is nonzero (None: all dims; as in PyTorch, () and [] reduce nothing).
        A bool tensor (uint8 for a uint8 tensor, as PyTorch); no gradient."""
        return self._logic("all", np.all, _alias(dim, axis, "all"), keepdim)

    def any(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Tensor:
        """Whether some element along `dim` is nonzero, as `all`."""
        return self._logic("any", np.any, _alias(dim, axis, "any"), keepdim)

    def _logic(self, op: str, fn: Any, dim: Any, keepdim: bool) -> Tensor:
        out_dtype = np.uint8 if self.dtype == np.uint8 else np.bool_
        if isinstance(dim, (tuple, list)) and not dim:  # PyTorch reduces nothing here (unlike sum)
            return Tensor._make((self.data != 0).astype(out_dtype), False, None)
        dims = _dims(self, dim, op)
        return Tensor._make(P.asarray(fn(self.data, axis=dims, keepdims=keepdim), out_dtype), False, None)

    # ----------------------------------------------------------------------------------- logsumexp and softmax

    def logsumexp(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Tensor:
        """log Σ exp over `dim` (None, () and [] mean all dims; PyTorch requires a dim); −inf over nothing.
        Integer and bool tensors give float32, as in PyTorch."""
        x = self if self.dtype.kind in "fc" else self.to(DEFAULT_FLOAT)
        dims = _dims(x, _alias(dim, axis, "logsumexp"), "logsumexp")
        if any(x.shape[a] == 0 for a in dims):  # log of an empty sum; the sum keeps the (empty) input on the graph
            return x.sum(dims, keepdim) - math.inf
        return ops.LogSumExp.apply(x, axis=dims, keepdim=keepdim)

    def softmax(self, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
        """Softmax along `dim` (the last when none is given; PyTorch requires one). `dtype` converts first; an
        integer tensor needs one, as in PyTorch."""
        return self._normalize("softmax", ops.Softmax, _alias(dim, axis, "softmax"), dtype)

    def log_softmax(self, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
        """log(softmax) along `dim` (the last when none is given), as `softmax`."""
        return self._normalize("log_softmax", ops.LogSoftmax, _alias(dim, axis, "log_softmax"), dtype)

    def _normalize(self, op: str, primitive: type, dim: Any, dtype: Any) -> Tensor:
        x = self if dtype is None else self.to(dtype)
        _require_float(x, op, NotImplementedError)
        d = _dim(x, -1 if dim is None else dim, op)
        if x.ndim == 0:
            return primitive.apply(x.reshape(1), axis=0).reshape(())
        if x.data.size == 0:  # nothing to normalise (the max would fail on an empty dim): an empty result
            return x * 1
        return primitive.apply(x, axis=d)

    # -------------------------------------------------------------------------------- sort, topk, median

    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool | None = False) -> Any:
        """The named tuple (values, indices) sorted along `dim`; NaNs count as the largest values, as in PyTorch.
        stable=True keeps tied elements in their original order. With stable=False PyTorch's order of tied elements
        is that of its C++ sort: stable for up to 16 elements (which we match), otherwise implementation-defined:
        there, ties raise (pass stable=True). The gradient goes back to where each value came from."""
        d = _dim(self, dim, "sort")
        x = self if self.ndim else self.reshape(1)
        order = self._order("sort", x, d, descending, bool(stable))
        values = TakeAlong.apply(x, index=order, axis=d)
        if self.ndim == 0:
            return return_types.sort(values.reshape(()), _as_index(0))
        return return_types.sort(values, _as_index(order))

    def argsort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
        """The indices that sort along `dim`: `sort(dim, descending, stable=stable).indices`, without a gradient."""
        d = _dim(self, dim, "argsort")
        if self.ndim == 0:
            return _as_index(0)
        return _as_index(self._order("argsort", self, d, descending, bool(stable)))

    @staticmethod
    def _order(op: str, x: Tensor, d: int, descending: bool, stable: bool) -> np.ndarray:
        order = _stable_order(x.data, d, descending)
        n = x.shape[d]
        if not stable and n > _INSERTION_SORT:
            if branch(_adjacent_ties(np.take_along_axis(x.data, order, d), d).any()):
                raise RuntimeError(
                    f"{op}: the tensor of shape {x.shape} has tied values along dim {d}, of length {n} > "
                    f"{_INSERTION_SORT}: with stable=False PyTorch orders tied elements as its C++ sort leaves them "
                    "(implementation-defined), so the indices could differ without an error. Pass stable=True: "
                    "tied elements keep their original order (the same values)")
        return order

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        """The named tuple (values, indices) of the k largest (or smallest) elements along `dim`, largest first (or
        smallest first); NaNs count as the largest. The gradient goes to the picked elements.

        Which index PyTorch returns among tied elements depends on its C++ selection algorithm, so a tie among the
        picked values (or between the k-th and the next) raises: use sort(dim, descending=largest, stable=True) and
        take the first k for a defined tie order. sorted=False, with k > 1, raises unless the result would be
        sorted in PyTorch as well (k·64 ≤ the dim's size): otherwise its order is implementation-defined."""
        if not _is_int(k):
            raise TypeError(f"topk: k must be an int, got {k!r}")
        if self.dtype == np.bool_:
            raise RuntimeError("topk: does not support bool tensors (as PyTorch); convert first, e.g. x.int()")
        d = _dim(self, dim, "topk")
        x = self if self.ndim else self.reshape(1)
        n = x.shape[d]
        if not 0 <= k <= n:
            raise RuntimeError(f"topk: k = {k} is out of range for dim {d} of size {n} (shape {self.shape})")
        if self.ndim == 0:  # PyTorch returns the element itself for k = 0 as well as k = 1
            return return_types.topk(self * 1, _as_index(0))
        if not sorted and k > 1 and k * 64 > n:
            raise NotImplementedError(
                f"topk(sorted=False): for k = {k} of {n} PyTorch returns the k elements in the order its selection "
                "algorithm leaves them (implementation-defined); pass sorted=True for the same elements, sorted")
        order = _stable_order(x.data, d, descending=largest)
        if k and n > 1:
            tied = _adjacent_ties(np.take_along_axis(x.data, order, d), d)[..., :k]
            if branch(tied.any()):
                raise RuntimeError(
                    f"topk: the tensor of shape {self.shape} has tied values among the {k} picked along dim {d} (or "
                    f"tied with the next one): which of the tied indices PyTorch returns depends on its C++ "
                    f"selection algorithm, so they could differ without an error. For a defined order (the earlier "
                    f"index first) use x.sort({d}, descending={largest}, stable=True) and take the first {k}")
        index = np.take(order, np.arange(k), axis=d)
        return return_types.topk(TakeAlong.apply(x, index=index, axis=d), _as_index(index))

    def median(self, dim: Any = _ALL, keepdim: bool = False, *, axis: Any = _ALL) -> Any:
        """As PyTorch's median: the lower of the two middle values (NaN if there is a NaN).
        - `x.median()`: of all elements (0-d; NaN for an empty tensor); tied elements share the gradient equally.
        - `x.median(dim, keepdim=False)`: the named tuple (values, indices) along `dim`. The index is PyTorch's:
          that of the element at the middle position when tied elements keep their original order (the first NaN
          if there is one); the gradient goes to that element."""
        dim = _alias(dim, axis, "median", _ALL)
        if self.dtype == np.bool_:
            raise RuntimeError("median: does not support bool tensors (as PyTorch); convert first, e.g. x.int()")
        if dim is _ALL:
            if keepdim:
                raise TypeError("median: keepdim needs a dim")
            if self.data.size == 0:
                return self.sum() * math.nan
            return Median.apply(self, axis=tuple(range(self.ndim)), keepdim=False, nan_ties=True)
        d = _dim(self, dim, "median")
        _require_nonempty(self, (d,), "median")
        x = self if self.ndim else self.reshape(1)
        n = x.shape[d]
        index = np.take(_stable_order(x.data, d, False), [(n - 1) // 2], axis=d)
        if x.dtype.kind in "fc":
            nan = np.isnan(x.data)
            if branch(nan.any()):
                index = np.where(nan.any(axis=d, keepdims=True), np.argmax(nan, axis=d, keepdims=True), index)
        values = TakeAlong.apply(x, index=index, axis=d, squeeze=not keepdim or self.ndim == 0)
        return return_types.median(values, _as_index(index.reshape(values.shape)))


# ---------------------------------------------------------------------------------------- top-level functions


def vector_norm(x: Tensor, ord: Any = 2, dim: Axis = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """`torch.linalg.vector_norm`: (Σ |x|^ord)^(1/ord) over `dim` (None, () and [] mean all dims); ord = inf / -inf
    is max / min |x|, ord = 0 the count of nonzeros. `dtype`: a floating-point dtype to compute in, no narrower than
    the tensor's. Gradients as PyTorch's (see VectorNorm)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"vector_norm: x must be a Tensor, got {type(x).__name__}")
    if isinstance(ord, str) or not isinstance(ord, (int, float, np.number)):
        raise TypeError(f"vector_norm: ord must be a number, got {ord!r}")
    _require_float(x, "vector_norm")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "fc" or np.promote_types(x.dtype, dtype) != dtype:
            raise RuntimeError(f"vector_norm: dtype {dtype} must be a floating-point dtype that holds the tensor's "
                               f"{x.dtype} without narrowing (as in PyTorch)")
        x = x.to(dtype)
    dims = _dims(x, dim, "vector_norm")
    p = float(ord)
    if (p < 0 or math.isinf(p)) and any(x.shape[a] == 0 for a in dims):
        raise RuntimeError(f"vector_norm: the {ord} norm over an empty dim has no value (a max, min or 1/0 over "
                           f"nothing; shape {x.shape}), as in PyTorch")
    return VectorNorm.apply(x, p=p, axis=dims, keepdim=keepdim)


def _function(name: str) -> Any:
    method = getattr(ReductionMethods, name)

    def function(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        return method(input, *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"`torch.{name}(input, …)`: the same as `input.{name}(…)`.\n\n{method.__doc__ or ''}"
    return function


# `torch.sum(x, …)`, `torch.max(x)`, `torch.max(x, 1)`, `torch.max(x, y)`, …: exported by the package's top level
# (tinygrad_np/__init__.py). A dict, so that the names that shadow builtins (sum, max, min, all, any) are never
# globals here.
functions = {name: _function(name) for name in (
    "sum", "mean", "prod", "cumsum", "cumprod", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
    "norm", "all", "any", "logsumexp", "softmax", "log_softmax", "sort", "argsort", "topk", "median",
)}
linalg = SimpleNamespace(vector_norm=vector_norm)  # torch.linalg's vector norm
