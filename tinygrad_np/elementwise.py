"""Elementwise Tensor methods: exp, log, sqrt, the activations, clip, …"""
from __future__ import annotations

from typing import TYPE_CHECKING

from tinygrad_np import ops
from tinygrad_np.arguments import Scalar

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # bound by tensor.py once the class exists (tensor.py imports this module first)


class ElementwiseMethods:
    """The elementwise half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it)."""

    __slots__ = ()

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
