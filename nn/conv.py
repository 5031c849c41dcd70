"""Convolution and pooling layers: `Conv2d`, `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d` (NCHW, as in PyTorch).

Each is a thin holder of its settings (and, for `Conv2d`, its parameters) around the functions of the same name in
`nn.functional`, whose forward and backward live in `tinygrad_np/conv.py` (adaptive pooling: in nn/functional.py).
Constructor arguments are PyTorch's, in PyTorch's order.
"""
from __future__ import annotations

from typing import Any, Union

from tinygrad_np import Tensor

from . import functional as F
from . import init
from .module import Module, Parameter

IntPair = Union[int, tuple[int, int]]


def _pair(value: Any) -> Any:
    """An int as an (int, int) pair, for the settings PyTorch shows as pairs; anything else as it is."""
    return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value


class Conv2d(Module):
    """2-D convolution over an (N, C_in, H, W) batch: `x.conv2d(weight, bias, stride, padding, dilation, groups)`.

    `weight` has shape (out_channels, in_channels / groups, kH, kW) and `bias` (out_channels,) — PyTorch's layout,
    so weights copy between the two as they are. Output size per spatial axis:
    (H + 2·padding − dilation·(kH − 1) − 1) // stride + 1; `padding` may be an int, a pair, 'valid' or 'same'.

    Default initialisation (PyTorch's): `kaiming_uniform_(weight, a=√5)`, i.e. U(−1/√fan_in, 1/√fan_in) with
    fan_in = in_channels / groups · kH · kW, and the bias from the same range.

    `padding_mode` must be 'zeros' (PyTorch's default; its other modes raise NotImplementedError) and `device`
    None or 'cpu'.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if padding_mode != "zeros":
            if padding_mode in ("reflect", "replicate", "circular"):
                raise NotImplementedError(f"Conv2d: padding_mode={padding_mode!r} is not supported; only 'zeros' "
                                          "(pad the input yourself and use padding=0)")
            raise ValueError(f"Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got "
                             f"{padding_mode!r}")
        if device is not None and str(device) != "cpu":
            raise ValueError(f"Conv2d: only device 'cpu' exists here, got device={device!r}")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must be positive and divide both in_channels "
                             f"({in_channels}) and out_channels ({out_channels})")
        if isinstance(padding, str) and padding not in ("valid", "same"):
            raise ValueError(f"Conv2d: padding must be 'valid', 'same', an int or a pair, got {padding!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        if len(self.kernel_size) != 2 or min(self.kernel_size) < 1:
            raise ValueError(f"Conv2d: kernel_size must be a positive int or pair, got {kernel_size!r}")
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        kh, kw = self.kernel_size
        self.weight = Parameter(Tensor.empty(out_channels, in_channels // groups, kh, kw, dtype=dtype))
        if bias:
            self.bias = Parameter(Tensor.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights (see the class docstring for the distribution)."""
        init.pytorch_default_(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x.conv2d(self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class MaxPool2d(Module):
    """The maximum of each kernel_size window: `F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode,
    return_indices)`, with PyTorch's constructor (note its order: return_indices before ceil_mode).

    `stride` defaults to `kernel_size`; padding counts as −∞. Each window's gradient goes to one pixel, its first
    maximum in scan order, as in PyTorch. With return_indices=True the layer returns (output, indices).
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 dilation: IntPair = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return (f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, dilation={self.dilation}, "
                f"ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean of each kernel_size window: `F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode,
    count_include_pad, divisor_override)`, with PyTorch's constructor and argument order.

    `stride` defaults to `kernel_size`; zero padding counts in the mean unless `count_include_pad=False`.
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed `output_size` (an int, or a pair whose None entries keep the input's size),
    whatever the input's height and width: `F.adaptive_avg_pool2d(x, output_size)`, PyTorch's windows."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
