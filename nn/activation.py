"""Activation modules beyond those in layers.py: SiLU, ELU, CELU, SELU, Softsign, ReLU6, Hardtanh, Hardswish,
Hardsigmoid, Mish, LogSigmoid, Softmin — PyTorch's constructor arguments and reprs; each calls its
`nn.functional` form (see there for the gradient conventions at the kinks)."""
from __future__ import annotations

import warnings

from tinygrad_np import Tensor

from . import functional as F
from .module import Module

__all__ = ["SiLU", "ELU", "CELU", "SELU", "Softsign", "ReLU6", "Hardtanh", "Hardswish", "Hardsigmoid", "Mish",
           "LogSigmoid", "Softmin"]


class _InplaceActivation(Module):
    """An activation whose only argument is `inplace` (overwrite the input and return it, as PyTorch's)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SiLU(_InplaceActivation):
    """x·σ(x)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, inplace=self.inplace)


class Mish(_InplaceActivation):
    """x·tanh(softplus(x))."""

    def forward(self, input: Tensor) -> Tensor:
        return F.mish(input, inplace=self.inplace)


class SELU(_InplaceActivation):
    """scale·x for x > 0, scale·α·(eˣ − 1) for x ≤ 0 (α ≈ 1.6733, scale ≈ 1.0507)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.selu(input, inplace=self.inplace)


class Hardswish(_InplaceActivation):
    """x·relu6(x + 3)/6. (Its repr shows no `inplace`, as PyTorch's.)"""

    def forward(self, input: Tensor) -> Tensor:
        return F.hardswish(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return ""


class Hardsigmoid(_InplaceActivation):
    """relu6(x + 3)/6. (Its repr shows no `inplace`, as PyTorch's.)"""

    def forward(self, input: Tensor) -> Tensor:
        return F.hardsigmoid(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return ""


class ELU(Module):
    """x for x > 0, α·(eˣ − 1) for x ≤ 0."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """x for x > 0, α·(e^(x/α) − 1) for x ≤ 0."""

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha, self.inplace)


class Hardtanh(Module):
    """min(max(x, min_val), max_val), with no gradient at the bounds (as PyTorch's). `min_value` / `max_value` are
    PyTorch's deprecated spellings, accepted with its FutureWarning."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn("keyword argument `min_value` is deprecated and renamed to `min_val`", FutureWarning,
                          stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and renamed to `max_val`", FutureWarning,
                          stacklevel=2)
            max_val = max_value
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace
        if max_val <= min_val:
            # PyTorch raises AssertionError here (F.hardtanh raises ValueError): the same type, for code that catches
            raise AssertionError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """min(max(x, 0), 6), with no gradient at 0 or 6 (as PyTorch's)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class LogSigmoid(Module):
    """log σ(x), computed without overflow."""

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Softmin(Module):
    """softmax(−x) along `dim` (None: PyTorch's deprecated implicit choice, with its warning)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
