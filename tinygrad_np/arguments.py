"""Argument handling shared by the Tensor methods: dims, shapes, dtypes."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Union

import numpy as np

DEFAULT_FLOAT = np.dtype(np.float32)
Axis = Union[int, Sequence[int], None]
Scalar = Union[int, float, bool]


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
    if dtype.kind == "c":
        # PyTorch differentiates complex tensors with its conjugate (Wirtinger) convention; this engine's formulas
        # are real-only and would give other numbers, so it refuses rather than answer differently
        raise TypeError(f"only floating-point tensors can require gradients, this one is {dtype}: complex autograd "
                        "is not supported here (PyTorch supports it, with its conjugate convention; we don't)")
    if dtype.kind != "f":
        raise TypeError(f"only floating-point tensors can require gradients, this one is {dtype}")
