"""`x[index]` and `x[index] = v` with PyTorch's indexing rules, and the primitives behind them and behind gather,
scatter and index_select (GetItem, IndexScatter, IndexPut, ScatterAdd).

Indexing follows PyTorch, not NumPy, where the two differ (`_parse_index`):
- an int (or a 0-d integer tensor) selects: it is never an advanced index, so x[0, :, [1, 2]] of an x of shape
  (2, 3, 4) is x[0][:, [1, 2]], of shape (3, 2) (NumPy broadcasts the 0 with [1, 2] and gives (2, 3));
- the remaining index arrays follow the rule the two share: broadcast together, their axes go where the first one
  was if they are adjacent, else first;
- index tensors must be int64, int32, bool or uint8 (uint8 a mask, with PyTorch's deprecation warning); lists and
  NumPy arrays become int64 (floats truncated, as PyTorch does) or bool masks;
- a list holding a slice, None, ..., a list, an array or a tensor is read as a tuple, with PyTorch's warning;
- every `...` stands for the same number of axes (PyTorch allows several);
- `x[index] = v` with an advanced index needs `v` of x's dtype (PyTorch: "Index put requires the source and
  destination dtypes match"); two writes of different values to one element raise (PyTorch's result is undefined:
  it depends on its threads); a value that shares memory with what it overwrites raises, as in PyTorch.
One extension: slices may have negative steps (PyTorch raises; NumPy's meaning is kept: `flip` without a copy).
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_np import ops
from tinygrad_np import polymorphic as P
from tinygrad_np.capture.trace import Traced

_ARRAY_TYPES = (np.ndarray, Traced)  # index arrays (inside a captured step, traced ones too)

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # bound by tensor.py once the class exists (tensor.py imports this module first)

def _as_index(i: Any) -> Any:
    """An index with Tensors replaced by their arrays and lists by arrays: NumPy's reading of it (the Tensor
    methods read indices with `_parse_index`, PyTorch's rules; this stays for code that wants NumPy's)."""
    if isinstance(i, Tensor):
        return i.data
    if isinstance(i, list):
        return np.asarray([_as_index(j) for j in i])
    if isinstance(i, tuple):
        return tuple(_as_index(j) for j in i)
    return i


# ------------------------------------------------------------------------------------------------------ indexing


class _Index:
    """An index in PyTorch's meaning as at most two NumPy indices applied in turn: `basic` (ints, slices, None and a
    closing `...`, so that NumPy always returns a view, even of one element), then `advanced` (slices and index
    arrays on the axes of the basic result; a copy). One of them may be None. Two steps are needed only when ints
    meet index arrays: PyTorch applies the ints first, NumPy would broadcast them with the arrays.
    `repeats`: the advanced step holds an integer array, which may pick an element more than once. `uint8`: a
    mask was given as uint8 (deprecated: the caller warns, or refuses, as PyTorch does in its place)."""

    __slots__ = ("basic", "advanced", "repeats", "uint8")

    def __init__(self, basic: tuple | None, advanced: tuple | None, repeats: bool, uint8: bool = False) -> None:
        self.basic, self.advanced, self.repeats, self.uint8 = basic, advanced, repeats, uint8

    def warn_uint8(self, op: str) -> None:
        if self.uint8:
            _warn(f"{op}: indexing with dtype uint8 is deprecated (as in PyTorch), please use a bool mask instead; "
                  "the uint8 index is read as a mask")

    def single_mask(self) -> bool:
        """Whether the advanced step holds one index array, a mask (PyTorch then writes a one-element value with
        masked_fill_, which casts it)."""
        arrays = [e for e in self.advanced or () if isinstance(e, _ARRAY_TYPES)]
        return len(arrays) == 1 and arrays[0].dtype == bool

    def __repr__(self) -> str:
        return f"_Index(basic={self.basic}, advanced={self.advanced})"

    def read(self, a: np.ndarray) -> np.ndarray:
        if self.basic is not None:
            a = a[self.basic]
        return a if self.advanced is None else a[self.advanced]

    def write(self, a: np.ndarray, v: Any) -> None:
        """a[index] = v, in place (a repeated element keeps the last write: callers rule out conflicting ones)."""
        if self.advanced is None:
            a[self.basic] = v
        else:
            (a if self.basic is None else a[self.basic])[self.advanced] = v

    def add(self, a: np.ndarray, g: np.ndarray) -> None:
        """a[index] += g, in place, the values for an element picked several times adding up."""
        view = a if self.basic is None else a[self.basic]
        if self.advanced is None:
            np.add(view, g, out=view)
        elif self.repeats:
            np.add.at(view, self.advanced, g)
        else:
            view[self.advanced] += g

    def conflicting(self, shape: tuple[int, ...], value: Any, dtype: np.dtype) -> bool:
        """Whether writing `value` (converted to `dtype`) at this index into an array of `shape` writes one element
        twice with different values."""
        if not self.repeats:
            return False
        view = np.broadcast_to(np.zeros((), bool), shape)  # no memory: only the shapes are wanted
        if self.basic is not None:
            view = view[self.basic]
        arrays, axes, axis, positions = [], [], 0, []
        for i, entry in enumerate(self.advanced):
            if isinstance(entry, _ARRAY_TYPES):
                positions.append(i)
                if entry.dtype == bool:
                    arrays += np.nonzero(entry)
                    axes += range(axis, axis + entry.ndim)
                    axis += entry.ndim
                    continue
                arrays.append(entry)
                axes.append(axis)
            axis += 1
        sizes = [view.shape[k] for k in axes]
        try:
            picked = np.broadcast_arrays(*arrays)
            keys = np.ravel_multi_index(tuple(np.where(p < 0, p + n, p) for p, n in zip(picked, sizes)), sizes)
        except ValueError:
            return False  # out of bounds or not broadcastable: the write itself raises the error
        flat = keys.reshape(-1)
        unique, inverse = np.unique(flat, return_inverse=True)
        if unique.size == flat.size:
            return False
        target = view[self.advanced].shape
        v = np.asarray(value).astype(dtype)
        while v.ndim > len(target) and v.shape[0] == 1:  # leading 1s are dropped, as in an assignment
            v = v[0]
        try:
            v = np.broadcast_to(v, target)
        except ValueError:
            return False
        # the broadcast index axes sit where the first array was if the arrays are adjacent, else in front
        lead = positions[0] if positions[-1] - positions[0] == len(positions) - 1 else 0
        values = np.moveaxis(v, range(lead, lead + keys.ndim), range(keys.ndim)).reshape(flat.size, -1)
        last = np.empty((unique.size, values.shape[1]), values.dtype)
        last[inverse.reshape(-1)] = values
        return not np.array_equal(last[inverse.reshape(-1)], values, equal_nan=values.dtype.kind in "fc")


_VALID = "only integers, slices (`:`), ellipsis (`...`), None and long, int, byte or bool tensors are valid indices"


def _index_error(op: str, shape: tuple[int, ...], message: str) -> IndexError:
    return IndexError(f"{op}: {message} (indexing a tensor of shape {tuple(shape)})")


def _warn(message: str) -> None:
    """A UserWarning pointing at the first caller outside this package (the line that indexed)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _plain(p: Any) -> Any:
    """Nested lists with the Tensors in them replaced by their arrays (for np.asarray)."""
    if isinstance(p, Tensor):
        return p.data
    if isinstance(p, (list, tuple)):
        return [_plain(q) for q in p]
    return p


def _index_array(p: Any, op: str, shape: tuple[int, ...]) -> np.ndarray:
    """A tensor, array or (nested) list used as an index, as PyTorch converts it: bool stays a mask, uint8 becomes
    one (PyTorch warns: `_parse_index` does once the index is read), integers become int64; list and array data of
    other kinds become int64 (floats truncated, as PyTorch does); a tensor must be int64, int32, bool or uint8."""
    if isinstance(p, Tensor):
        a = p.data
        if a.dtype == np.uint8:
            return a.astype(bool)
        if a.dtype.kind == "b" or a.dtype in (np.int64, np.int32):
            return a
        raise _index_error(op, shape, f"tensors used as indices must be long, int, byte or bool tensors, got {a.dtype}")
    try:
        a = np.asarray(_plain(p))
    except ValueError as e:  # a ragged list
        raise _index_error(op, shape, f"{_VALID}; this list cannot be made a tensor: {e}") from None
    if a.dtype.kind == "b":
        return a
    if a.dtype == np.uint8 and isinstance(p, _ARRAY_TYPES):
        return a.astype(bool)
    if a.dtype.kind in "iuf":
        return a.astype(np.int64, copy=False)  # an empty list is float64 to NumPy, int64 to PyTorch
    raise _index_error(op, shape, f"{_VALID} (got an index of dtype {a.dtype})")


def _index_parts(index: Any, op: str) -> tuple:
    """The items of `index`: a tuple's, or a list's where PyTorch still reads the list as a tuple (fewer than 32
    items, one of them a slice, None, ..., a sequence, an array or a tensor: deprecated, with PyTorch's warning)."""
    if type(index) is tuple:
        return index
    if type(index) is list and len(index) < 32 and any(
            p is None or p is Ellipsis or isinstance(p, (slice, list, tuple, np.ndarray, Tensor)) for p in index):
        _warn(f"{op}: using a non-tuple sequence for multidimensional indexing is deprecated; it is read as a tuple "
              "here, as PyTorch still reads it; use x[tuple(seq)] instead of x[seq]")
        return tuple(index)
    return (index,)


def _index_item(p: Any, op: str, shape: tuple[int, ...]) -> tuple[str, Any, int]:
    """(kind, value, axes PyTorch counts for `...`) of one item of an index. Kinds: 'int' (selects an axis),
    'slice', 'new' (None), '...', 'bool' (a Python or 0-d bool: a new axis of size 1 kept or emptied), 'array'."""
    if p is None:
        return "new", None, 0
    if p is Ellipsis:
        return "...", None, 0
    if isinstance(p, bool):
        return "bool", p, 0
    if isinstance(p, (int, np.integer)):
        return "int", int(p), 1
    if isinstance(p, slice):
        bounds = [int(b) if isinstance(b, Tensor) else b for b in (p.start, p.stop, p.step)]
        if bounds[2] == 0:
            raise ValueError(f"{op}: slice step cannot be zero")
        return "slice", slice(*bounds), 1
    if isinstance(p, (Tensor, np.ndarray)) and p.ndim == 0:
        a = p.data if isinstance(p, Tensor) else p
        counted = 0 if isinstance(p, Tensor) and a.dtype.kind in "bu" and a.dtype.itemsize == 1 else 1
        if a.dtype.kind == "b" or a.dtype == np.uint8:
            return "bool", bool(a), counted  # a 0-d uint8 tensor is a mask too, without the warning (as PyTorch)
        if a.dtype.kind in "iu" or (a.dtype.kind == "f" and not isinstance(p, Tensor)):
            return "int", int(a), counted
        raise _index_error(op, shape, f"tensors used as indices must be long, int, byte or bool tensors, got {a.dtype}")
    if isinstance(p, (Tensor, np.ndarray, list, tuple, range)):
        a = _index_array(p, op, shape)
        # PyTorch counts a bool or uint8 tensor as the axes it covers, any other index (a list or an array too) as one
        counted = a.ndim if isinstance(p, Tensor) and a.dtype.kind == "b" else 1
        return "array", a, counted
    if isinstance(p, str):
        raise TypeError(f"{op}: a string is not an index")
    raise _index_error(op, shape, f"{_VALID} (got {type(p).__name__})")


def _parse_index(index: Any, shape: tuple[int, ...], op: str) -> _Index:
    """`index` (anything PyTorch accepts in x[index]) as an `_Index` for an array of `shape`."""
    ndim = len(shape)
    if type(index) is int:  # the commonest cases first
        if not ndim:
            raise _index_error(op, shape, "invalid index of a 0-dim tensor; use .item() to get its value")
        if not -shape[0] <= index < shape[0]:
            raise _index_error(op, shape, f"index {index} is out of bounds for dimension 0 with size {shape[0]}")
        return _Index((index, Ellipsis), None, False)
    parts = _index_parts(index, op)
    items = [_index_item(p, op, shape) for p in parts]
    ellipsis_axes = ndim - sum(counted for _, _, counted in items)
    basic: list = []  # the ints, slices and new axes
    advanced: list = []  # on the axes of x[basic]: slice(None) or an index array
    single: list = []  # the one NumPy index that means the same, when no int or new axis makes two steps necessary
    axis = 0  # the axis of x the next item indexes
    two_steps = has_arrays = repeats = False
    for kind, value, _ in items:
        if kind == "...":
            width = max(min(ellipsis_axes, ndim - axis), 0)
            basic += [slice(None)] * width
            advanced += [slice(None)] * width
            single += [slice(None)] * width
            axis += max(ellipsis_axes, 0)
            continue
        if kind in ("new", "bool"):
            if axis > ndim:  # (only after several `...`)
                raise _index_error(op, shape, f"dimension out of range: cannot insert an axis at {axis}")
            basic.append(None)
            # a bool is a new axis of size 1 indexed by [0] (True) or [] (False): an int64 index, as in PyTorch (so
            # `x[True, ...] = v` is no mask write)
            advanced.append(np.zeros(int(value), np.int64) if kind == "bool" else slice(None))
            has_arrays |= kind == "bool"
            repeats |= kind == "bool"
            two_steps = True
            continue
        width = value.ndim if kind == "array" and value.dtype.kind == "b" else 1
        if axis + width > ndim:
            what = "a 0-dim tensor" if not ndim else f"a tensor of dimension {ndim}"
            raise _index_error(op, shape, f"too many indices for {what}")
        if kind == "int":
            n = shape[axis]
            if not -n <= value < n:
                raise _index_error(op, shape, f"index {value} is out of bounds for dimension {axis} with size {n}")
            basic.append(value)
            two_steps = True
        elif kind == "slice":
            basic.append(value)
            advanced.append(slice(None))
            single.append(value)
        else:
            basic += [slice(None)] * width
            advanced.append(value)
            single.append(value)
            has_arrays = True
            repeats |= value.dtype.kind != "b"
        axis += width
    if not has_arrays:
        return _Index(tuple(basic) + (Ellipsis,), None, False)
    uint8 = any(isinstance(p, (Tensor, np.ndarray)) and p.ndim and p.dtype == np.uint8 for p in parts)
    if not two_steps:
        return _Index(None, tuple(single), repeats, uint8)
    return _Index(tuple(basic) + (Ellipsis,), tuple(advanced), repeats, uint8)


def _take(a: Any, index: _Index) -> Any:
    """a[index]: on an array NumPy's indexing, on a Tensor the differentiable `GetItem`."""
    if not isinstance(a, Tensor):
        return index.read(a)
    return GetItem.apply(a, index=index)


def _scatter(g: Any, shape: tuple[int, ...], index: _Index) -> Any:
    """Zeros of `shape` with `g` added at `index` (elements picked twice add up): the adjoint of a[index]."""
    if not isinstance(g, Tensor):
        out = P.zeros(shape, g.dtype, g, *(index.advanced or ()))
        if index.repeats:
            index.add(out, g)
        else:
            index.write(out, g)  # nothing is picked twice: writing into zeros is adding
        return out
    return IndexScatter.apply(g, shape=shape, index=index)


class GetItem(ops.Primitive):
    """z = x[index] (an `_Index`);  dz/dx: g scattered back into zeros, the gradients of an element picked several
    times adding up."""

    def forward(self, x, index):
        self.in_shape, self.index = x.shape, index
        return index.read(x)

    def backward(self, g):
        return _scatter(g, self.in_shape, self.index)


class IndexScatter(ops.Primitive):
    """z = zeros of `shape` with g added at `index` (GetItem's adjoint as an op);  the gradient is gg[index]."""

    def forward(self, g, shape, index):
        self.index = index
        return _scatter(g, shape, index)

    def backward(self, gg):
        return _take(gg, self.index)


class IndexPut(ops.Primitive):
    """z = x with z[index] = v (`x[index] = v`, `scatter`, `masked_fill` as recorded);  dz/dx = 1 where nothing was
    written, 0 where something was; dz/dv = g[index] (summed back over the axes v was broadcast along). An element
    written twice (with equal values) passes its gradient to both writes, as in PyTorch."""

    def forward(self, x, v, index):
        self.index, self.v_ndim = index, np.ndim(v)
        z = x.copy()
        index.write(z, v)
        self.kept = np.ones(x.shape, bool)  # a mask, not a factor: an infinite g where it is False must give 0
        index.write(self.kept, False)
        return z

    def backward(self, g):
        nx, nv = self.needs_input_grad
        gv = None
        if nv:
            gv = _take(g, self.index)
            if self.v_ndim > len(gv.shape):  # v had leading 1s more than its target (allowed, as in PyTorch)
                gv = gv.reshape((1,) * (self.v_ndim - len(gv.shape)) + tuple(gv.shape))
        return (P.where(self.kept, g, 0.0) if nx else None), gv


class ScatterAdd(ops.Primitive):
    """z = x with src added at `index` (`scatter_add`; elements hit several times add up, in index order, as
    PyTorch's CPU kernel);  dz/dx = 1, dz/dsrc = g[index]."""

    def forward(self, x, src, index):
        self.index = index
        z = x.copy()
        index.add(z, src)
        return z

    def backward(self, g):
        nx, ns = self.needs_input_grad
        return (g if nx else None), (_take(g, self.index) if ns else None)


def _check_no_conflict(op: str, index: _Index, shape: tuple[int, ...], value: Any, dtype: np.dtype) -> None:
    if index.conflicting(shape, value, dtype):
        raise RuntimeError(
            f"{op}: the index writes one element more than once, with different values; PyTorch leaves the result "
            "undefined there (it depends on its threads), so this raises. Remove the duplicate indices, or add the "
            "values with index_put_(accumulate=True) semantics: scatter_add or x[idx] += ... on a copy.")


def _setitem_args(t: Tensor, index: Any, value: Any) -> tuple[_Index, Any] | None:
    """The `_Index` and value of `t[index] = value` under PyTorch's rules, or None for `t[False] = value` (which
    PyTorch ignores). Raises where PyTorch does: a list or array value, a tensor value of another dtype with an
    advanced index, a value that shares memory with what it overwrites; and for conflicting duplicate writes."""
    op = "__setitem__"
    if index is False:
        return None
    if not isinstance(value, (Tensor, int, float, complex, np.generic)):  # bool is an int
        raise TypeError(f"{op}: can't assign a {type(value).__name__} to a Tensor; assign a Tensor or a number "
                        "(x[i] = Tensor(value)), as in PyTorch")
    ix = _parse_index(Ellipsis if index is True else index, t.shape, op)  # t[True] = v copies v in: PyTorch's path
    v = value.data if isinstance(value, Tensor) else value
    if ix.advanced is not None and ix.single_mask() and np.size(v) == 1:
        # PyTorch's masked_fill_ path: the value is cast, uint8 masks are refused (after the mask's shape is
        # checked), memory may be shared
        ix.read(np.broadcast_to(np.zeros((), bool), t.shape))  # raises NumPy's IndexError for a wrong mask shape
        if ix.uint8:
            raise RuntimeError(f"{op}: masked_fill_ only supports boolean masks, but got mask with dtype uint8 (as "
                               "PyTorch, when one value is written through a mask); use a bool mask")
        return ix, value
    ix.warn_uint8(op)
    if isinstance(value, Tensor):
        if ix.advanced is not None and value.dtype != t.dtype:
            raise RuntimeError(f"{op}: index put requires the source and destination dtypes match, got {t.dtype} for "
                               f"the destination and {value.dtype} for the source (as in PyTorch); convert the "
                               "value with .to(x.dtype)")
        if v.ndim and _overlaps(ix, t.data, v):
            raise RuntimeError(f"{op}: unsupported operation: some elements of the input tensor and the written-to "
                               "tensor refer to a single memory location (as in PyTorch); clone() the value first")
    _check_no_conflict(op, ix, t.shape, v, t.dtype)
    return ix, value


def _overlaps(index: _Index, data: np.ndarray, v: np.ndarray) -> bool:
    """Whether `v` shares memory with the elements `data[index] = v` writes (an advanced write: with any of data,
    as PyTorch checks), other than being those very elements in the same layout (a harmless self-copy)."""
    if not np.may_share_memory(data, v):
        return False
    if index.advanced is not None:
        return True
    target = data[index.basic]
    if (target.shape == v.shape and target.strides == v.strides
            and target.__array_interface__["data"][0] == v.__array_interface__["data"][0]):
        return False
    try:
        return np.shares_memory(target, v, max_work=100_000)
    except np.exceptions.TooHardError:
        return True
