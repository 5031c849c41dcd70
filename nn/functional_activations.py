"""The activation functions of `nn.functional` (silu, elu, hardtanh, …), re-exported by `nn.functional`.

Signatures, values and gradients are PyTorch's, kinks included: hardtanh and relu6 pass no gradient AT their bounds
(clamp does), hardswish has gradient 0 at −3 and 1 at 3, elu's gradient at 0 is α. `inplace=True` overwrites the
input and returns it, with the same values and gradients (the change is recorded on a copy of the old value, see
tinygrad_np/inplace.py); as in PyTorch, a leaf that requires grad raises, and so does the backward of an in-place
ELU or CELU with α < 0.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

from tinygrad_np import Tensor, ops
from tinygrad_np.elementwise import _check_float, _check_input, celu_, elu_in_place, in_place, selu_
from tinygrad_np.elementwise import celu as _celu
from tinygrad_np.elementwise import elu as _elu
from tinygrad_np.elementwise import selu as _selu

__all__ = ["silu", "elu", "elu_", "celu", "celu_", "selu", "selu_", "softsign", "relu6", "hardtanh", "hardtanh_",
           "hardswish", "hardsigmoid", "mish", "logsigmoid", "softmin"]


def _maybe_in_place(input: Tensor, name: str, inplace: bool, fn: Callable[[Tensor], Tensor]) -> Tensor:
    return in_place(input, name + "_", fn) if inplace else fn(input)


def _float_input(name: str, input: Any) -> Tensor:
    _check_float(_check_input(name, input), name)
    return input


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x·σ(x) (also called swish)."""
    return _maybe_in_place(_float_input("silu", input), "silu", inplace, ops.Silu.apply)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, α·(eˣ − 1) for x ≤ 0; the gradient at 0 is α (the left one), as in PyTorch."""
    _float_input("elu", input)
    if inplace:
        return elu_in_place(input, "elu_", alpha, lambda t: _elu(t, alpha))
    return _elu(input, alpha)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """`elu(input, alpha, inplace=True)`."""
    return elu(input, alpha, inplace=True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, α·(e^(x/α) − 1) for x ≤ 0 (continuously differentiable: the gradient at 0 is 1)."""
    _float_input("celu", input)
    return celu_(input, alpha) if inplace else _celu(input, alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale·x for x > 0, scale·α·(eˣ − 1) for x ≤ 0, with PyTorch's α ≈ 1.6733 and scale ≈ 1.0507."""
    _float_input("selu", input)
    return selu_(input) if inplace else _selu(input)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|) (PyTorch's very composition, so its gradients at 0 and at ±inf are the same)."""
    return _check_input("softsign", input) / (input.abs() + 1)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """min(max(x, min_val), max_val). Unlike clamp, the gradient is 0 AT the bounds (and passes where x is NaN), as
    PyTorch's hardtanh. Integer tensors keep their dtype; min_val > max_val raises, as in PyTorch."""
    _check_input("hardtanh", input)
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val (got {min_val} > {max_val})")
    if input.data.dtype.kind == "b":
        raise TypeError("hardtanh: Bool inputs not supported for hardtanh (as in PyTorch)")
    if input.data.dtype.kind == "u" and (min_val < 0 or max_val < 0):
        raise RuntimeError(f"hardtanh: cannot do hardtanh on an unsigned type ({input.dtype}) with negative limits "
                           "(as in PyTorch)")
    return _maybe_in_place(input, "hardtanh", inplace, lambda t: ops.Hardtanh.apply(t, lo=min_val, hi=max_val))


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """`hardtanh(input, min_val, max_val, inplace=True)`."""
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6): hardtanh(x, 0, 6), so the gradient is 0 at 0 and at 6."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x·relu6(x + 3)/6; the gradient is 0 at −3 and 1 at 3, as in PyTorch."""
    return _maybe_in_place(_float_input("hardswish", input), "hardswish", inplace, ops.Hardswish.apply)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3)/6; the gradient is 1/6 strictly between −3 and 3, else 0. (PyTorch has no second derivative
    for it; here it is 0, its value wherever it exists.)"""
    return _maybe_in_place(_float_input("hardsigmoid", input), "hardsigmoid", inplace, ops.Hardsigmoid.apply)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x·tanh(softplus(x))."""
    return _maybe_in_place(_float_input("mish", input), "mish", inplace, lambda t: t * t.softplus().tanh())


def logsigmoid(input: Tensor) -> Tensor:
    """log σ(x) = −softplus(−x), computed without overflow for any x."""
    return ops.LogSigmoid.apply(_float_input("logsigmoid", input))


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """softmax(−x) along `dim`. `dtype`: the input is converted to it first. Without `dim`, PyTorch's deprecated
    implicit choice with its warning: dim 0 for 0-, 1- and 3-d inputs, else dim 1."""
    _check_input("softmin", input)
    if dim is None:
        warnings.warn("Implicit dimension choice for softmin has been deprecated. Change the call to include dim=X "
                      "as an argument.", UserWarning, stacklevel=_stacklevel)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    if dtype is not None:
        input = input.to(dtype)
    _check_float(input, "softmin")
    return (-input).softmax(dim)
