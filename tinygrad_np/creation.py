"""Tensor factories: zeros, ones, full, rand, randn, arange, eye, … (static methods of `Tensor`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_np import rng
from tinygrad_np.arguments import DEFAULT_FLOAT, Scalar, _shape_arg

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # bound by tensor.py once the class exists (tensor.py imports this module first)


class CreationMethods:
    """The factory half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it)."""

    __slots__ = ()

    @staticmethod
    def manual_seed(seed: int) -> None:
        """Seed the generator behind `rand`, `randn`, `uniform` and dropout."""
        rng.manual_seed(seed)

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
        return Tensor(rng.generator().random(_shape_arg(shape), dtype=dtype), requires_grad)

    @staticmethod
    def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """Standard normal."""
        dtype = np.dtype(dtype or DEFAULT_FLOAT)
        return Tensor(rng.generator().standard_normal(_shape_arg(shape), dtype=dtype), requires_grad)

    @staticmethod
    def uniform(*shape: Any, low: float = 0.0, high: float = 1.0, dtype: Any = None, requires_grad: bool = False):
        """Uniform on [low, high)."""
        data = rng.generator().uniform(low, high, _shape_arg(shape)).astype(dtype or DEFAULT_FLOAT)
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
