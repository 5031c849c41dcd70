"""Shape ops: reshape, permute, transpose, expand, pad, flip, repeat, cat, stack, and the PyTorch shape vocabulary
(chunk, split, narrow, gather, scatter, roll, diagonal, …). `x[index]` and `x[index] = v` are in indexing.py."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_np import ops
from tinygrad_np import polymorphic as P
from tinygrad_np.arguments import Axis, _dim, _shape_arg
from tinygrad_np.inplace import _view_of

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # bound by tensor.py once the class exists (tensor.py imports this module first)

from tinygrad_np.indexing import GetItem, IndexPut, ScatterAdd, _check_no_conflict, _Index, _parse_index

# ------------------------------------------------------------------------------------------------ other primitives


class Roll(ops.Primitive):
    """z = x rolled by `shifts` along `dims` (elements leaving one end come back at the other);  the gradient is g
    rolled back by −shifts."""

    def forward(self, x, shifts, dims):
        self.shifts, self.dims = shifts, dims
        return np.roll(x, shifts, dims)

    def backward(self, g):
        back = tuple(-s for s in self.shifts)
        return np.roll(g, back, self.dims) if not isinstance(g, Tensor) else Roll.apply(g, shifts=back, dims=self.dims)


def _diagonal_view(a: np.ndarray, offset: int, dim1: int, dim2: int) -> np.ndarray:
    """The writable view of a's diagonal on axes (dim1, dim2), shifted by `offset` (above the main one if positive),
    as a new last axis (PyTorch's `diagonal`; NumPy's np.diagonal returns a read-only view)."""
    row, col = (0, offset) if offset >= 0 else (-offset, 0)
    length = max(0, min(a.shape[dim1] - row, a.shape[dim2] - col))
    rest = [k for k in range(a.ndim) if k not in (dim1, dim2)]
    shape = tuple(a.shape[k] for k in rest) + (length,)
    if length == 0:
        return np.empty(shape, a.dtype)
    start = a[tuple(slice(row, None) if k == dim1 else slice(col, None) if k == dim2 else slice(None)
                    for k in range(a.ndim))]
    strides = tuple(a.strides[k] for k in rest) + (a.strides[dim1] + a.strides[dim2],)
    return np.lib.stride_tricks.as_strided(start, shape, strides)  # writable if `a` is


class Diagonal(ops.Primitive):
    """z = the diagonal of x on axes (dim1, dim2) shifted by `offset`, as the last axis (a view);  dz/dx: g placed
    on that diagonal of zeros (`DiagonalEmbed`)."""

    def forward(self, x, offset, dim1, dim2):
        self.in_shape, self.where = x.shape, (offset, dim1, dim2)
        return _diagonal_view(x, *self.where)

    def backward(self, g):
        if not isinstance(g, Tensor):
            return DiagonalEmbed.embed(g, self.in_shape, self.where)
        return DiagonalEmbed.apply(g, shape=self.in_shape, where=self.where)


class DiagonalEmbed(ops.Primitive):
    """z = zeros of `shape` with g on the diagonal `where` = (offset, dim1, dim2) (Diagonal's adjoint);  the
    gradient is the diagonal of gg."""

    @staticmethod
    def embed(g, shape, where):
        out = np.zeros(shape, g.dtype)
        _diagonal_view(out, *where)[...] = g
        return out

    def forward(self, g, shape, where):
        self.where = where
        return self.embed(g, shape, where)

    def backward(self, gg):
        if not isinstance(gg, Tensor):
            return _diagonal_view(gg, *self.where)
        offset, dim1, dim2 = self.where
        return Diagonal.apply(gg, offset=offset, dim1=dim1, dim2=dim2)


# ------------------------------------------------------------------------------------------------- argument checks


def _int_arg(x: Any) -> int:
    return int(x.item()) if isinstance(x, Tensor) else int(x)


def _ints(x: Any) -> tuple[int, ...]:
    """An int, a 0-d tensor or a sequence of them, as a tuple of ints."""
    if isinstance(x, (int, np.integer)) or (isinstance(x, Tensor) and x.ndim == 0):
        return (_int_arg(x),)
    return tuple(_int_arg(v) for v in x)


def _index_tensor(op: str, index: Any) -> np.ndarray:
    """The array of an index argument of gather, scatter, index_select: an int64 or int32 Tensor, as PyTorch."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be a Tensor, not {type(index).__name__}")
    if index.dtype not in (np.int64, np.int32):
        raise RuntimeError(f"{op}(): expected dtype int32 or int64 for index, got {index.dtype}")
    return index.data


def _along(index: np.ndarray, dim: int) -> _Index:
    """The index that picks x[i₀, …, index[i], …, iₙ] for every position i of `index` (gather's, scatter's)."""
    nd = index.ndim
    parts = tuple(index if k == dim else np.arange(n).reshape((n,) + (1,) * (nd - k - 1))
                  for k, n in enumerate(index.shape))
    return _Index(None, parts, True)


def _check_along(op: str, x: Tensor, dim: int, index: np.ndarray, src: Tensor | None = None) -> int | None:
    """gather's and scatter's checks (PyTorch's): index has x's number of axes, is no larger than x on the other
    axes (and than src on all), and its values lie in [0, size of dim). Returns dim as a non-negative int, or None
    for an empty index, which PyTorch takes whatever its shape (nothing is read or written)."""
    nd = max(x.ndim, 1)
    d = _dim(dim, nd, op, x.shape)
    if index.size == 0:
        return None
    shape = x.shape or (1,)
    ishape = index.shape or (1,)
    if len(ishape) != nd:
        raise RuntimeError(f"{op}(): index tensor must have the same number of dimensions as input tensor, got index "
                           f"of shape {index.shape} for input of shape {x.shape}")
    if any(i > n for k, (i, n) in enumerate(zip(ishape, shape)) if k != d):
        raise RuntimeError(f"{op}(): size does not match at a dimension: expected index {index.shape} to be no "
                           f"larger than self {x.shape} apart from dimension {d}")
    if src is not None:
        sshape = src.shape or (1,)
        if len(sshape) != nd:
            raise RuntimeError(f"{op}(): index tensor must have the same number of dimensions as src tensor, got "
                               f"index of shape {index.shape} and src of shape {src.shape}")
        if any(i > n for i, n in zip(ishape, sshape)):
            raise RuntimeError(f"{op}(): expected index {index.shape} to be no larger size than src {src.shape}")
    if index.size:
        low, high = index.min(), index.max()
        if low < 0 or high >= shape[d]:
            bad = low if low < 0 else high
            raise RuntimeError(f"{op}(): index {bad} is out of bounds for dimension {d} with size {shape[d]}")
    return d


def _broadcast_shapes(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise RuntimeError(f"{op}: the shapes of the tensor {a} and of the mask {b} do not broadcast") from None


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


# ----------------------------------------------------------------------------------------------------- the methods


class ShapeMethods:
    """The shape half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it)."""

    __slots__ = ()

    def reshape(self, *shape: Any) -> Tensor:
        shape = _shape_arg(shape)
        if shape == self.shape:
            return self
        return _view_of(ops.Reshape.apply(self, shape=shape), self)

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        start, end = _dim(start_dim, self.ndim, "flatten", self.shape), _dim(end_dim, self.ndim, "flatten", self.shape)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
        return self.reshape(*self.shape[:start], -1, *self.shape[end + 1:])

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        """Axis `dim` split into axes of `sizes` (one of them may be -1: inferred)."""
        d = _dim(dim, self.ndim, "unflatten", self.shape)
        sizes = tuple(int(s) for s in sizes)
        n = self.shape[d]
        if not sizes:
            raise RuntimeError("unflatten: sizes must be non-empty")
        if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
            raise RuntimeError(f"unflatten: invalid sizes {list(sizes)}: only one dimension can be inferred (-1)")
        known = math.prod(s for s in sizes if s != -1)
        if -1 in sizes:
            if known == 0:
                raise RuntimeError(f"unflatten: cannot infer the -1 in sizes {list(sizes)} (another size is 0)")
            sizes = tuple(n // known if s == -1 else s for s in sizes)
        if math.prod(sizes) != n:
            raise RuntimeError(f"unflatten: provided sizes {list(sizes)} don't multiply up to the size of dim {d} "
                               f"({n}) in the input tensor of shape {self.shape}")
        return self.reshape(*self.shape[:d], *sizes, *self.shape[d + 1:])

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
        nd = max(self.ndim, 1)  # a 0-d tensor takes dims 0 and -1, as PyTorch
        dim0, dim1 = _dim(dim0, nd, "transpose", self.shape), _dim(dim1, nd, "transpose", self.shape)
        if self.ndim == 0:
            return self
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    def swapaxes(self, axis0: int, axis1: int) -> Tensor:
        return self.transpose(axis0, axis1)

    def swapdims(self, dim0: int, dim1: int) -> Tensor:
        return self.transpose(dim0, dim1)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        """The axes `source` moved to positions `destination`; the others keep their order."""
        src, dst = _ints(source), _ints(destination)
        if len(src) != len(dst):
            raise RuntimeError(f"movedim: invalid source or destination dims: source ({list(src)}) should contain the "
                               f"same number of dims as destination ({list(dst)})")
        nd = max(self.ndim, 1)
        src = tuple(_dim(d, nd, "movedim", self.shape) for d in src)
        dst = tuple(_dim(d, nd, "movedim", self.shape) for d in dst)
        for name, dims, given in (("source", src, source), ("destination", dst, destination)):
            if len(set(dims)) != len(dims):
                raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(_ints(given))})")
        if self.ndim == 0:
            return self
        order: list = [None] * self.ndim
        for s, d in zip(src, dst):
            order[d] = s
        rest = iter(k for k in range(self.ndim) if k not in src)
        return self.permute(*[k if k is not None else next(rest) for k in order])

    moveaxis = movedim

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

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    # ------------------------------------------------------------------------------------------------------ pad

    def _pad_widths(self, pad: Sequence[Any]) -> tuple[list[tuple[int, int]], bool]:
        """((before, after) for every axis, whether `pad` had torch's flat form)."""
        if pad and all(isinstance(p, (tuple, list)) for p in pad):  # () is the flat form padding nothing
            widths = [tuple(p) for p in pad]
            if len(widths) != self.ndim or any(len(w) != 2 for w in widths):
                raise ValueError(f"pad: {tuple(pad)} must hold one (before, after) pair per axis of shape {self.shape}")
            return [(int(b), int(a)) for b, a in widths], False
        if any(not isinstance(p, (int, np.integer)) for p in pad):
            raise TypeError(f"pad: {tuple(pad)} must be a tuple of ints (or of (before, after) pairs)")
        if len(pad) % 2:
            raise ValueError(f"pad: padding length must be divisible by 2, got {tuple(pad)}")
        if len(pad) // 2 > self.ndim:
            raise ValueError(f"pad: padding length should be at most two times the number of axes, got {tuple(pad)} "
                             f"for a tensor of shape {self.shape}")
        pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]
        return [(0, 0)] * (self.ndim - len(pairs)) + pairs[::-1], True

    def pad(self, pad: Sequence[Any], value: Any = None, mode: str = "constant") -> Tensor:
        """Pad (or, with negative widths, crop), as `torch.nn.functional.pad`: `pad` is (left, right) of the last
        axis, then of the one before, …; or, as NumPy, one (before, after) pair per axis (constant mode only).

        mode='constant' fills with `value` (0 by default); 'reflect' mirrors without repeating the edge, 'replicate'
        repeats the edge, 'circular' wraps around (these three as PyTorch: the last 1, 2 or 3 axes of a tensor with
        one or two more axes; the gradient of a repeated element is the sum of its copies')."""
        if mode not in _PAD_MODES:
            raise NotImplementedError(f"pad: unrecognised padding mode {mode!r}, expected one of {_PAD_MODES}")
        widths, flat = self._pad_widths(pad)
        if mode == "constant":
            return self._pad_constant(widths, 0 if value is None else value)
        if value is not None and value != 0:
            raise RuntimeError(f'pad: padding mode "{mode}" doesn\'t take in value argument')
        if not flat:
            raise ValueError(f"pad: mode {mode!r} takes PyTorch's flat form (left, right, top, bottom, ...), got "
                             f"{tuple(pad)}")
        k = len(pad) // 2
        if k not in (1, 2, 3) or self.ndim not in (k + 1, k + 2):
            raise NotImplementedError(
                f"pad: padding size {len(pad)} is not supported for a {self.ndim}D input tensor in mode {mode!r} "
                "(as PyTorch: padding size 2 for 2D or 3D input, 4 for 3D or 4D, 6 for 4D or 5D)")
        return self._pad_index(widths[self.ndim - k:], mode)

    def _pad_constant(self, widths: list[tuple[int, int]], value: Any) -> Tensor:
        # negative widths crop first (a view), the rest pads
        crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(widths, self.shape))
        for (b, a), n in zip(widths, self.shape):
            if n + min(b, 0) + min(a, 0) < 0:
                raise RuntimeError(f"pad: the widths {widths} crop more than the tensor of shape {self.shape} holds")
        x = self[crop] if any(b < 0 or a < 0 for b, a in widths) else self
        grow = tuple((max(b, 0), max(a, 0)) for b, a in widths)
        if not any(b or a for b, a in grow):
            return x
        return ops.Pad.apply(x, pad_width=grow, value=value)

    def _pad_index(self, widths: list[tuple[int, int]], mode: str) -> Tensor:
        """Reflect, replicate or circular padding of the last len(widths) axes, as a gather of x's elements (so the
        gradient of an element that was copied several times is the sum of its copies')."""
        k = len(widths)
        lead = self.ndim - k
        if mode != "circular":
            empty = [n for n in self.shape[1 if self.ndim == k + 2 else 0:] if n == 0]
            if empty:
                raise RuntimeError(f"pad: mode {mode!r} expects a tensor with non-zero dimensions (but for a "
                                   f"batch dimension), got shape {self.shape}")
        picks = []
        sizes = [n + b + a for n, (b, a) in zip(self.shape[lead:], widths)]
        if mode != "circular" and (min(sizes) < 0 or max(sizes) < 1):
            # (PyTorch lets one axis come out empty if another does not)
            raise RuntimeError(f"pad: input of shape {self.shape} is too small for the padding {widths}: the output "
                               f"sizes would be {sizes}")
        for axis, ((b, a), size) in enumerate(zip(widths, sizes)):
            n = self.shape[lead + axis]
            if mode == "circular":
                if b > n or a > n:
                    raise RuntimeError(f"pad: padding value {(b, a)} causes wrapping around more than once (size {n})")
                kept = n - max(-b, 0) - max(-a, 0)
                if size < 0:
                    raise RuntimeError(f"pad: negative padding {(b, a)} results in an empty dimension (size {n})")
                if max(b, 0) > kept or max(a, 0) > kept:
                    # PyTorch copies from memory it has not written yet: its result is undefined
                    raise RuntimeError(f"pad: circular padding {(b, a)} wraps around more than the {kept} elements "
                                       "left after cropping (PyTorch's result is undefined there)")
                first = max(-b, 0)
                pick = first + (np.arange(size) - max(b, 0)) % max(kept, 1)
            else:
                if mode == "reflect" and (b >= n or a >= n):
                    raise RuntimeError(f"pad: padding size should be less than the corresponding input dimension, "
                                       f"but got padding {(b, a)} at dimension {lead + axis} of input {self.shape}")
                c = np.arange(size) - b  # the position in x each output element stands for
                if mode == "reflect":
                    c = np.abs(c)
                    pick = np.where(c > n - 1, 2 * (n - 1) - c, c)
                else:
                    pick = np.clip(c, 0, n - 1)
            picks.append(pick.reshape((-1,) + (1,) * (k - axis - 1)))
        index = _Index(None, (slice(None),) * lead + tuple(picks), True)
        return GetItem.apply(self, index=index)

    def flip(self, dims: Axis = None, *, axis: Axis = None) -> Tensor:
        """Reverse the order of elements along `dims` (all axes when none are given)."""
        return ops.Flip.apply(self, axis=self._axes(dims, axis))

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        """Elements shifted by `shifts` along `dims`, those leaving one end coming back at the other; with no dims,
        along the flattened tensor (then reshaped back)."""
        shifts = _ints(shifts)
        if dims is None:
            if len(shifts) != 1:
                raise RuntimeError(f"roll: shifts and dimensions must align, got shifts {shifts} and no dims")
            return Roll.apply(self.reshape(-1), shifts=shifts, dims=(0,)).reshape(self.shape)
        dims = _ints(dims)
        if not dims:
            raise RuntimeError("roll: `shifts` required")
        if len(shifts) != len(dims):
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims: {len(dims)}")
        dims = tuple(_dim(d, self.ndim, "roll", self.shape) for d in dims)
        return Roll.apply(self, shifts=shifts, dims=dims)

    def repeat(self, *sizes: Any) -> Tensor:
        """Tile the tensor `sizes[i]` times along axis i (PyTorch's `repeat`, NumPy's `tile`)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat: need at least {self.ndim} sizes for shape {self.shape}, got {sizes}")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        interleaved = self.reshape(*[d for n in shape for d in (1, n)])
        tiled = interleaved.expand(*[d for r, n in zip(sizes, shape) for d in (r, n)])
        return tiled.reshape(*[r * n for r, n in zip(sizes, shape)])

    # ---------------------------------------------------------------------------------------------- join, split

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

    def narrow(self, dim: int, start: Any, length: int) -> Tensor:
        """The view of elements start … start + length − 1 along `dim` (a negative start counts from the end)."""
        if self.ndim == 0:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor")
        d = _dim(dim, self.ndim, "narrow", self.shape)
        n, start, length = self.shape[d], _int_arg(start), int(length)
        if not -n <= start <= n:
            raise IndexError(f"narrow: start out of range (expected to be in range of [{-n}, {n}], but got {start})")
        if start < 0:
            start += n
        if length < 0:
            raise RuntimeError(f"narrow: length must be non-negative, got {length}")
        if start + length > n:
            raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n})")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def select(self, dim: int, index: Any) -> Tensor:
        """The view at position `index` of axis `dim`, that axis removed (x[:, …, index])."""
        if self.ndim == 0:
            raise IndexError("select() cannot be applied to a 0-dim tensor")
        d = _dim(dim, self.ndim, "select", self.shape)
        i, n = _int_arg(index), self.shape[d]
        if not -n <= i < n:
            raise IndexError(f"select(): index {i} out of range for tensor of size {self.shape} at dimension {d}")
        return self[(slice(None),) * d + (i,)]

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Views of consecutive pieces along `dim`: of `split_size` elements each (the last may be smaller), or of
        the sizes in a list (which must add up to the axis's size)."""
        if self.ndim == 0:
            raise RuntimeError("split expects at least a 1-dimensional tensor")
        d = _dim(dim, self.ndim, "split", self.shape)
        n = self.shape[d]
        if isinstance(split_size, (int, np.integer)):
            size = int(split_size)
            if size < 0:
                raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
            if size == 0 and n:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
            count = max(-(-n // size), 1) if size else 1
            sizes = [min(size, n - i * size) for i in range(count)]
        else:
            sizes = [int(s) for s in split_size]
            if any(s < 0 for s in sizes):
                raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative entries, but got "
                                   f"split_sizes={sizes}")
            if sum(sizes) != n:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                                   f"at dimension {d}), but got split_sizes={sizes}")
        starts = np.cumsum([0] + sizes[:-1])
        return tuple(self.narrow(d, int(s), size) for s, size in zip(starts, sizes))

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """At most `chunks` views along `dim`, each of ⌈size / chunks⌉ elements but the last (so there may be
        fewer), as PyTorch."""
        if chunks <= 0:
            raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
        if self.ndim == 0:
            raise RuntimeError("chunk expects at least a 1-dimensional tensor")
        d = _dim(dim, self.ndim, "chunk", self.shape)
        n = self.shape[d]
        if n == 0:
            return self.split([0] * chunks, d)  # PyTorch's special case: `chunks` empty pieces
        return self.split(-(-n // chunks), d)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        """The views at each position of `dim`, that axis removed."""
        if self.ndim == 0:
            raise IndexError("unbind: dimension specified as 0 but tensor has no dimensions")
        d = _dim(dim, self.ndim, "unbind", self.shape)
        return tuple(self.select(d, i) for i in range(self.shape[d]))

    # -------------------------------------------------------------------------------------------------- indexing

    def __getitem__(self, index: Any) -> Tensor:
        """`x[index]` with PyTorch's rules (module docstring): a view for ints, slices, None and `...`; a copy with
        index arrays or masks, whose gradient adds up over elements picked several times."""
        ix = _parse_index(index, self.shape, "GetItem")
        ix.warn_uint8("GetItem")
        out = GetItem.apply(self, index=ix)
        return out if ix.advanced is not None else _view_of(out, self)

    def gather(self, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
        """out[i][j][k] = self[index[i][j][k]][j][k] (for dim 0; likewise for the others): `index` has this tensor's
        number of axes and is no larger on the others. The gradient is added back (a scatter-add)."""
        idx = _index_tensor("gather", index)
        d = _check_along("gather", self, dim, idx)
        if d is None:  # nothing picked: zeros of the index's shape, in the graph (their gradient is nothing)
            nothing = _Index(None, (np.zeros(0, np.int64),), False)
            return GetItem.apply(self.reshape(-1), index=nothing).reshape(idx.shape)
        x = self.reshape(1) if self.ndim == 0 else self
        out = GetItem.apply(x, index=_along(idx.reshape(idx.shape or (1,)), d))
        return out.reshape(()) if idx.ndim == 0 else out

    def scatter(self, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: Any = None) -> Tensor:
        """A copy with self[index[i][j][k]][j][k] = src[i][j][k] (for dim 0; likewise for the others), or = value.
        Gradients: src gets g at the positions it was written to, self g where it was not overwritten. Two
        different values written to one element raise (PyTorch leaves the result undefined)."""
        if reduce is not None:
            raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported; use scatter_add for 'add'")
        if src is not None and not isinstance(src, Tensor):
            src, value = None, src  # scatter(dim, index, 3.5): the value form
        if (src is None) == (value is None):
            raise TypeError("scatter: give exactly one of src (a Tensor) and value (a number)")
        idx = _index_tensor("scatter", index)
        d = _check_along("scatter", self, dim, idx, src)
        if d is None:
            return self.clone()
        if src is not None:
            if src.dtype != self.dtype:
                raise RuntimeError(f"scatter(): expected self.dtype to be equal to src.dtype, got {self.dtype} and "
                                   f"{src.dtype}")
            v = src.reshape(src.shape or (1,))[tuple(slice(0, n) for n in idx.shape or (1,))]
        else:
            v = Tensor._make(np.asarray(_int_arg(value) if isinstance(value, Tensor) else value, self.dtype),
                             False, None)
        x = self.reshape(1) if self.ndim == 0 else self
        where = _along(idx.reshape(idx.shape or (1,)), d)
        _check_no_conflict("scatter", where, x.shape, v.data, self.dtype)
        out = IndexPut.apply(x, v, index=where)
        return out.reshape(()) if self.ndim == 0 else out

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        """A copy with src[i][j][k] added to self[index[i][j][k]][j][k] (for dim 0; likewise for the others),
        values sent to one element adding up. Gradients: g to self, g[index] to src."""
        if not isinstance(src, Tensor):
            raise TypeError(f"scatter_add(): argument 'src' must be a Tensor, not {type(src).__name__}")
        idx = _index_tensor("scatter_add", index)
        d = _check_along("scatter_add", self, dim, idx, src)
        if d is None:
            return self.clone()
        if src.dtype != self.dtype:
            raise RuntimeError(f"scatter_add(): expected self.dtype to be equal to src.dtype, got {self.dtype} and "
                               f"{src.dtype}")
        v = src.reshape(src.shape or (1,))[tuple(slice(0, n) for n in idx.shape or (1,))]
        x = self.reshape(1) if self.ndim == 0 else self
        out = ScatterAdd.apply(x, v, index=_along(idx.reshape(idx.shape or (1,)), d))
        return out.reshape(()) if self.ndim == 0 else out

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        """The entries at positions `index` (a vector) of axis `dim`, in that order (a copy); the gradient adds up
        over repeated positions."""
        idx = _index_tensor("index_select", index)
        if idx.ndim > 1:
            raise IndexError(f"index_select(): index is supposed to be a vector, got shape {idx.shape}")
        nd = max(self.ndim, 1)
        d = _dim(dim, nd, "index_select", self.shape)
        n = (self.shape or (1,))[d]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = idx.min() if idx.min() < 0 else idx.max()
            raise RuntimeError(f"index_select(): index {bad} is out of bounds for dimension {d} with size {n}")
        if self.ndim == 0:
            return GetItem.apply(self.reshape(1), index=_Index(None, (idx.reshape(-1),), True)).reshape(())
        return GetItem.apply(self, index=_Index(None, (slice(None),) * d + (idx.reshape(-1),), True))

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """A copy with `value` (a number or a 0-d tensor, which gets the sum of the gradient where it was written)
        where the bool `mask` is True; self and mask broadcast together, as in PyTorch."""
        m = mask.data if isinstance(mask, Tensor) else P.asarray(mask)
        if m.dtype != bool:
            raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype {m.dtype}")
        shape = _broadcast_shapes("masked_fill", self.shape, m.shape)
        if isinstance(value, Tensor):
            if value.ndim:
                raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got tensor with "
                                   f"{value.ndim} dimension(s)")
            fill = value.to(self.dtype)
        else:
            fill = Tensor._make(np.asarray(value, self.dtype), False, None)
        return fill.where(np.broadcast_to(m, shape), self if self.shape == shape else self.expand(shape))

    def masked_select(self, mask: Any) -> Tensor:
        """The elements where the bool `mask` is True, as a 1-D copy (self and mask broadcast together)."""
        m = mask.data if isinstance(mask, Tensor) else P.asarray(mask)
        if m.dtype != bool:
            raise RuntimeError(f"masked_select: expected a bool mask, got dtype {m.dtype}")
        shape = _broadcast_shapes("masked_select", self.shape, m.shape)
        x = self if self.shape == shape else self.expand(shape)
        return GetItem.apply(x, index=_Index(None, (np.broadcast_to(m, shape),), False))

    # -------------------------------------------------------------------------------------------------- matrices

    def tril(self, diagonal: int = 0) -> Tensor:
        """The lower triangle of the last two axes (on and below the `diagonal`-th diagonal); the rest 0."""
        return self._triangle("tril", np.tri(*self._matrix_shape("tril"), diagonal, dtype=bool))

    def triu(self, diagonal: int = 0) -> Tensor:
        """The upper triangle of the last two axes (on and above the `diagonal`-th diagonal); the rest 0."""
        return self._triangle("triu", ~np.tri(*self._matrix_shape("triu"), diagonal - 1, dtype=bool))

    def _matrix_shape(self, op: str) -> tuple[int, int]:
        if self.ndim < 2:
            raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got shape {self.shape}")
        return self.shape[-2], self.shape[-1]

    def _triangle(self, op: str, keep: np.ndarray) -> Tensor:
        # a mask, not a product: an inf outside the triangle gives 0 (and its gradient 0), as in PyTorch
        return self.where(keep, Tensor._make(np.zeros((), self.dtype), False, None))

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """The view of the diagonal on axes (dim1, dim2), `offset` above the main one (below if negative), as the
        last axis."""
        d1, d2 = _dim(dim1, self.ndim, "diagonal", self.shape), _dim(dim2, self.ndim, "diagonal", self.shape)
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        return _view_of(Diagonal.apply(self, offset=int(offset), dim1=d1, dim2=d2), self)


# --------------------------------------------------------------------------------------- top-level functions (torch.X)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join `tensors` along the existing axis `dim` (`torch.cat`)."""
    first, *rest = tensors
    return first.cat(*rest, dim=dim)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join `tensors` along a new axis `dim` (`torch.stack`)."""
    first, *rest = tensors
    return first.stack(*rest, dim=dim)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: Any = None) -> Tensor:
    """`torch.nn.functional.pad`: see `Tensor.pad`."""
    return input.pad(pad, value=value, mode=mode)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    return input.chunk(chunks, dim)


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    return tensor.split(split_size_or_sections, dim)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    return input.unbind(dim)


def narrow(input: Tensor, dim: int, start: Any, length: int) -> Tensor:
    return input.narrow(dim, start, length)


def select(input: Tensor, dim: int, index: int) -> Tensor:
    return input.select(dim, index)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    return input.tril(diagonal)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    return input.triu(diagonal)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    return input.diagonal(offset, dim1, dim2)


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    return input.gather(dim, index)


def scatter(input: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: Any = None):
    return input.scatter(dim, index, src, value=value, reduce=reduce)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    return input.scatter_add(dim, index, src)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    return input.index_select(dim, index)


def masked_fill(input: Tensor, mask: Any, value: Any) -> Tensor:
    return input.masked_fill(mask, value)


def masked_select(input: Tensor, mask: Any) -> Tensor:
    return input.masked_select(mask)


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    return input.roll(shifts, dims)


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:
    return input.movedim(source, destination)


moveaxis = movedim


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    return input.transpose(axis0, axis1)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return input.transpose(dim0, dim1)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return input.flatten(start_dim, end_dim)


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    return input.unflatten(dim, sizes)


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    """A copy in the graph (`torch.clone`; the copy keeps the memory layout, as torch.preserve_format)."""
    return input.clone()


def reshape(input: Tensor, shape: Sequence[int]) -> Tensor:
    return input.reshape(shape)


def permute(input: Tensor, dims: Sequence[int]) -> Tensor:
    return input.permute(dims)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return input.transpose(dim0, dim1)


def squeeze(input: Tensor, dim: Axis = None) -> Tensor:
    return input.squeeze(dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    return input.unsqueeze(dim)


def flip(input: Tensor, dims: Axis) -> Tensor:
    return input.flip(dims)
