"""Parameter initialisers, with PyTorch's names and signatures (`torch.nn.init`).

Each fills `tensor.data` in place — drawing from tinygrad_np's generator, so `Tensor.manual_seed(n)` makes the
result reproducible — and returns the tensor. Fans are computed as PyTorch does: for a weight of shape
(out, in, *kernel), fan_in = in · prod(kernel) and fan_out = out · prod(kernel).
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_np import Tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which to scale the weights' std for a nonlinearity so activations keep their variance:
    1 for linear/sigmoid, 5/3 for tanh, √2 for relu, √(2 / (1 + slope²)) for leaky_relu (slope `param`, 0.01 by
    default), 3/4 for selu."""
    linear = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out cannot be computed for a tensor of shape {tensor.shape}: "
                         "it needs at least 2 dimensions (out, in, ...)")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    tensor.data[...] = values  # in place: whoever holds the array (an optimizer, a view) sees the new values
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with values drawn from U(a, b)."""
    return _fill(tensor, Tensor.uniform(*tensor.shape, low=a, high=b, dtype=tensor.dtype).data)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with values drawn from N(mean, std²)."""
    return _fill(tensor, Tensor.randn(*tensor.shape, dtype=tensor.dtype).data * std + mean)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with `val`."""
    tensor.data.fill(val)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): U(−a, a) with a = gain · √(6 / (fan_in + fan_out)), i.e. std gain·√(2/(fan_in+fan_out)).
    Keeps the variance of activations and of gradients alike for tanh/sigmoid/linear layers."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if tensor.numel() == 0:
        return tensor
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if tensor.numel() == 0:
        return tensor
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He et al. (2015): U(−bound, bound) with bound = gain · √(3 / fan), gain = calculate_gain(nonlinearity, a).
    With nonlinearity='relu' the variance 2/fan keeps ReLU activations' scale from layer to layer."""
    if tensor.numel() == 0:
        return tensor  # nothing to fill (and its fan may be 0)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He et al. (2015): N(0, std²) with std = gain / √fan, gain = calculate_gain(nonlinearity, a)."""
    if tensor.numel() == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode)))


def pytorch_default_(weight: Tensor, bias: Tensor | None = None) -> None:
    """PyTorch's default for `Linear` and `Conv2d`: `kaiming_uniform_(weight, a=√5)`, i.e. U(−1/√fan_in, 1/√fan_in),
    and the bias drawn from the same range."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = _calculate_fan_in_and_fan_out(weight)[0]
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
