"""Reductions: sum, mean, max, min, var, std, logsumexp, argmax, softmax, log_softmax, …"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_np import ops
from tinygrad_np.arguments import Axis

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # bound by tensor.py once the class exists (tensor.py imports this module first)


class ReductionMethods:
    """The reduction half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it)."""

    __slots__ = ()

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
