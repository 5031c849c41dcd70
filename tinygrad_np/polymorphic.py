"""The vocabulary backward formulas are written in: each function takes NumPy arrays or Tensors.

Given arrays (a first-order backward) it is the plain NumPy call, so first-order backward costs what it did when it
was written in NumPy alone. Given a Tensor (a backward under `create_graph=True`) it is the differentiable Tensor op,
so the very same formula is recorded as a graph. Operators (`+ - * / ** @`, indexing, `.reshape`, `.T`, `.shape`)
already work on both and need nothing here. Arrays that are constants of the formula (masks, tie shares) may meet
Tensors freely: a Tensor operand makes the result a Tensor.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_np.capture.trace import Traced, branch

ndarray = np.ndarray
_ARRAYS = (ndarray, np.generic, float, int, Traced)


def _arr(a: Any) -> bool:
    """True for an array (or a NumPy scalar, or a number): the NumPy path; False for a Tensor."""
    return type(a) is ndarray or isinstance(a, _ARRAYS)


def is_array(a: Any) -> bool:
    """True for an array, the NumPy path of a first-order backward (a captured step's stand-in is one too); False
    for a Tensor (a backward under create_graph) and for NumPy scalars."""
    return type(a) is ndarray or type(a) is Traced


def asarray(a: Any, dtype: Any = None) -> Any:
    """np.asarray, passing a captured step's stand-in through (cast if `dtype` asks) instead of reading it out."""
    if type(a) is Traced:
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    return np.asarray(a, dtype)


def zeros(shape: tuple[int, ...], dtype: Any, *sources: Any) -> np.ndarray:
    """np.zeros for an array that will receive values computed from `sources`: inside a captured step, when one
    of them is traced, a traced buffer (so that what is written into it is recorded)."""
    for s in sources:
        if type(s) is Traced:
            return np.zeros(shape, dtype, like=s)
    return np.zeros(shape, dtype)


def copy(a: Any, dtype: Any = None) -> Any:
    """np.array(a, dtype): a new array (memory order kept), a captured step's stand-in included."""
    if type(a) is Traced:
        return a.astype(a.dtype if dtype is None else dtype, order="K")
    return np.array(a, dtype=dtype)


def value(a: Any) -> np.ndarray:
    """The array behind `a`, for constants of a formula: masks, signs, comparisons (no gradient flows)."""
    return a if _arr(a) else a.data


def exp(a: Any) -> Any:
    return np.exp(a) if _arr(a) else a.exp()


def log(a: Any) -> Any:
    return np.log(a) if _arr(a) else a.log()


def sin(a: Any) -> Any:
    return np.sin(a) if _arr(a) else a.sin()


def cos(a: Any) -> Any:
    return np.cos(a) if _arr(a) else a.cos()


def tanh(a: Any) -> Any:
    return np.tanh(a) if _arr(a) else a.tanh()


def sigmoid(a: Any) -> Any:
    from tinygrad_np.activations import _sigmoid

    return _sigmoid(a) if _arr(a) else a.sigmoid()


def erf(a: Any) -> Any:
    from tinygrad_np.ops import _erf_array

    return _erf_array(a) if _arr(a) else a.erf()


def sum(a: Any, axis: Any, keepdims: bool = False) -> Any:
    return a.sum(axis=axis, keepdims=keepdims) if _arr(a) else a.sum(axis, keepdims)


def broadcast_to(a: Any, shape: tuple[int, ...]) -> Any:
    return np.broadcast_to(a, shape) if _arr(a) else a.expand(*shape)


def transpose(a: Any, axes: Any) -> Any:
    return a.transpose(axes) if _arr(a) else a.permute(*axes)


def swapaxes(a: Any, i: int, j: int) -> Any:
    return np.swapaxes(a, i, j) if _arr(a) else a.transpose(i, j)


def flip(a: Any, axis: Any) -> Any:
    return np.flip(a, axis) if _arr(a) else a.flip(axis)


def where(condition: np.ndarray, a: Any, b: Any) -> Any:
    """`a` where the constant mask `condition` holds, else `b` (either may be a number)."""
    if not _arr(a) and hasattr(a, "where"):
        return a.where(condition, b)
    if not _arr(b) and hasattr(b, "where"):
        return b.where(~np.asarray(condition), a)
    return np.where(condition, a, b)


def masked(a: Any, keep: np.ndarray) -> Any:
    """`a` where the constant mask `keep` holds, else +0: PyTorch's where(keep, a, 0), the gradient of relu, clamp,
    max, … A mask, not a factor: an infinite or NaN `a` where `keep` is False still gives 0 (`a * keep` would give
    NaN there, and −0 for a negative `a`). On arrays it is that product, mended: NumPy's where is ten times slower
    than a multiplication for a random mask. (A −0 in `a` itself comes out +0.)"""
    if not _arr(a):
        return where(keep, a, 0.0)
    out = a * keep
    if not branch(np.isfinite(a).all()):  # an inf or NaN in `a` (inf·0 would make NaN) takes the exact route
        return np.where(keep, a, out.dtype.type(0))
    out += 0.0  # −0 (a negative a times False) is +0
    return out
