"""Shape and indexing: reshape, permute, transpose, expand, pad, flip, repeat, cat, stack, and `x[index]`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_np import ops
from tinygrad_np.arguments import Axis, _dim, _shape_arg
from tinygrad_np.inplace import _view_of

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # bound by tensor.py once the class exists (tensor.py imports this module first)


def _as_index(i: Any) -> Any:
    """An index with Tensors replaced by their arrays; lists become arrays (NumPy's advanced indexing)."""
    if isinstance(i, Tensor):
        return i.data
    if isinstance(i, list):
        return np.asarray([_as_index(j) for j in i])
    if isinstance(i, tuple):
        return tuple(_as_index(j) for j in i)
    return i


class ShapeMethods:
    """The shape half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it)."""

    __slots__ = ()

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


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join `tensors` along the existing axis `dim` (`torch.cat`)."""
    first, *rest = tensors
    return first.cat(*rest, dim=dim)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join `tensors` along a new axis `dim` (`torch.stack`)."""
    first, *rest = tensors
    return first.stack(*rest, dim=dim)
