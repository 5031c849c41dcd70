"""Convolution and pooling of `nn.functional` (conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d), with PyTorch's
signatures, over the Tensor methods and the windowed primitives of tinygrad_np/conv.py; re-exported by
`nn.functional`."""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tinygrad_np import Tensor
from tinygrad_np import conv as _conv
from tinygrad_np.capture.trace import branch
from tinygrad_np.ops import Primitive
from tinygrad_np.polymorphic import is_array

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "AvgPoolDivided", "AvgPoolDividedGrad",
           "AdaptiveAvgPool", "AdaptiveAvgPoolGrad"]

# ------------------------------------------------------------------------------------------ convolution and pooling
#
# conv2d, max_pool2d and avg_pool2d are the Tensor methods (tinygrad_np/conv.py) under PyTorch's names, arguments and
# argument order. What those methods lack is built here on conv.py's geometry, which pads each side on its own:
# ceil_mode is extra padding at the bottom and right (room for PyTorch's last, partial windows), return_indices reads
# the pixel each window chose by conv.py's own tie rule, and an average with PyTorch's divisor for partial windows or
# a divisor_override is conv.py's average pooling with that divisor (`AvgPoolDivided`).


def _check_tensor(fn: str, value: Any) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(value).__name__}")


def _default_stride(stride: Any) -> Any:
    """PyTorch's default stride, the kernel size, is asked for with None or an empty list."""
    return None if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else stride


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (a cross-correlation) of an (N, C_in, H, W) batch or a (C_in, H, W) image with `weight`
    (C_out, C_in/groups, kH, kW) and `bias` (C_out,), as `torch.nn.functional.conv2d` (`Tensor.conv2d`). `padding`
    may be an int, a pair, 'valid' or 'same'."""
    _check_tensor("conv2d", input)
    return input.conv2d(weight, bias, stride, padding, dilation, groups)


def _ceil_mode_size(op: str, n: int, k: int, s: int, p: int, d: int) -> int:
    """PyTorch's output size along one axis with ceil_mode: the division rounded up, less the last window if it
    would start beyond the input and its leading padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + s - 1) // s + 1
    if (out - 1) * s >= n + p:
        out -= 1
    if out < 1:
        raise ValueError(f"{op}: kernel {k} (dilation {d}, stride {s}, padding {p}) leaves no output along an axis of "
                         f"size {n}, even with ceil_mode")
    return out


def _pool_geometry(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                   ceil_mode: bool) -> _conv._Geometry:
    """conv.py's geometry of a pooling of the 4-D `x`. With ceil_mode, the bottom and right get the extra padding
    (−∞ for max, 0 for the sums of avg) that PyTorch's partial last windows reach into."""
    if not ceil_mode:
        return _conv._pool_args(op, x, kernel_size, stride, padding, dilation)
    _conv._check_input(op, x)
    kernel = _conv._pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None else _conv._pair(stride, "stride", op, 1)
    dilation = _conv._pair(dilation, "dilation", op, 1)
    pad = _conv._pair(padding, "padding", op, 0)
    if 2 * pad[0] > kernel[0] or 2 * pad[1] > kernel[1]:  # conv._pool_args's rule (PyTorch's)
        raise ValueError(f"{op}: padding {padding!r} must be at most half of kernel_size {kernel_size!r}")
    sides = []
    for n, k, s, p, d in zip(x.shape[2:], kernel, stride, pad, dilation):
        out = _ceil_mode_size(op, n, k, s, p, d)
        sides.append((p, p + max(0, (out - 1) * s + d * (k - 1) + 1 - (n + 2 * p))))
    return _conv._Geometry(x.shape, kernel, stride, tuple(sides), dilation)


def _max_pool_indices(x: np.ndarray, z: np.ndarray, geom: _conv._Geometry) -> np.ndarray:
    """The position, as an index into the flattened H·W plane of the input, of the pixel each window of the max
    pooling of `x` (with output `z`) chose: the one that gets the window's gradient (conv.py's rule, PyTorch's)."""
    first = _conv._first_maxima(geom.windows(_conv._pad(x, geom.padding, -np.inf)), z, geom)
    (top, _), (left, _) = geom.padding
    rows = np.arange(geom.out_hw[0])[:, None] * geom.stride[0] - top
    cols = np.arange(geom.out_hw[1])[None, :] * geom.stride[1] - left
    width = geom.x_shape[3]
    indices = np.zeros(z.shape, np.int64)
    chosen = np.zeros(z.shape, bool)
    for i, j in _conv._offsets(geom.kernel):
        np.copyto(indices, (rows + i * geom.dilation[0]) * width + cols + j * geom.dilation[1], where=first[i, j])
        chosen |= first[i, j]
    if not branch(chosen.all()):  # PyTorch returns an index that is not a pixel of the input there
        raise ValueError("max_pool2d: with return_indices, some (dilated) window covers only padding and chooses no "
                         f"pixel (input shape {geom.x_shape}, padding {geom.padding}, dilation {geom.dilation}); "
                         "PyTorch's index for it is meaningless, so it is not supported here")
    return indices


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum of each window, as `torch.nn.functional.max_pool2d` (padding counts as −∞; stride defaults to
    kernel_size). Each window's gradient goes to one pixel, its first maximum in scan order (a NaN wins), as in
    PyTorch. `ceil_mode=True` adds PyTorch's partial windows at the bottom and right; `return_indices=True`
    returns (output, indices) with, for each window, the int64 position of its chosen pixel in the flattened
    H·W plane (as PyTorch's, for max_unpool2d)."""
    _check_tensor("max_pool2d", input)
    stride = _default_stride(stride)
    if not ceil_mode and not return_indices:
        return input.max_pool2d(kernel_size, stride, padding, dilation)
    if input.ndim == 3:  # one (C, H, W) image
        out = max_pool2d(input.unsqueeze(0), kernel_size, stride, padding, dilation, ceil_mode, return_indices)
        return (out[0].squeeze(0), out[1].squeeze(0)) if return_indices else out.squeeze(0)
    geom = _pool_geometry("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode)
    out = _conv.MaxPool2d.apply(input, geom=geom)
    if not return_indices:
        return out
    return out, Tensor(_max_pool_indices(input.data, out.data, geom))


class AvgPoolDivided(Primitive):
    """z[n, c, h, w] = Σ_{i,j} xp[n, c, h·s + i, w·s + j] / m[h, w], xp the input zero-padded by the geometry and m
    a given divisor (a number, or one per window): PyTorch's for ceil_mode's partial windows, or divisor_override.
    conv.py's average pooling with that divisor. Linear in x: dx = spread g / m evenly over each window's pixels
    (conv.py's average pooling gradient, `AvgPoolDividedGrad`), whose own derivative is this op again."""

    constants = ("divisor",)  # depends on the shapes only

    def forward(self, x, *, geom, divisor):
        self.geom, self.divisor = geom, divisor
        return _conv._avg_pool_array(x, geom, divisor)

    def backward(self, g):
        if is_array(g):
            return _conv._avg_grad_array(g, self.geom, self.divisor)
        return AvgPoolDividedGrad.apply(g, geom=self.geom, divisor=self.divisor)


class AvgPoolDividedGrad(Primitive):
    """z = dx of `AvgPoolDivided`: each window's g[n, c, h, w] / m[h, w] added onto each of its pixels. Linear in
    g, with that pooling as its adjoint: dg = AvgPoolDivided(gg)."""

    constants = ("divisor",)

    def forward(self, g, *, geom, divisor):
        self.geom, self.divisor = geom, divisor
        return _conv._avg_grad_array(g, geom, divisor)

    def backward(self, gg):
        if is_array(gg):
            return _conv._avg_pool_array(gg, self.geom, self.divisor)
        return AvgPoolDivided.apply(gg, geom=self.geom, divisor=self.divisor)


def _avg_divisor(geom: _conv._Geometry, padding: tuple[int, int], count_include_pad: bool,
                 dtype: np.dtype) -> np.ndarray:
    """PyTorch's divisor of each window, (H_out, W_out): its pixels inside the padded input (count_include_pad) or
    inside the input itself. Only ceil_mode's partial windows differ from kH·kW."""
    sizes = []
    for n, k, s, p, out in zip(geom.x_shape[2:], geom.kernel, geom.stride, padding, geom.out_hw):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, n + p)
        sizes.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    return (sizes[0][:, None] * sizes[1][None, :]).astype(dtype)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean of each window, as `torch.nn.functional.avg_pool2d` (stride defaults to kernel_size; zero padding
    counts in the mean unless count_include_pad=False). `ceil_mode=True` adds PyTorch's partial windows at the
    bottom and right, each divided by its pixels inside the padded input (or, with count_include_pad=False,
    inside the input); `divisor_override` divides every window's sum by that number instead."""
    _check_tensor("avg_pool2d", input)
    stride = _default_stride(stride)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or isinstance(divisor_override, bool):
            raise TypeError(f"avg_pool2d: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor_override must not be zero")
    elif not ceil_mode:
        return input.avg_pool2d(kernel_size, stride, padding, count_include_pad)
    if input.ndim == 3:  # one (C, H, W) image
        return avg_pool2d(input.unsqueeze(0), kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override).squeeze(0)
    geom = _pool_geometry("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    (top, bottom), (left, right) = geom.padding
    if divisor_override is None and (top, left) == (bottom, right):  # no partial window: the plain pooling
        return input.avg_pool2d(kernel_size, stride, padding, count_include_pad)
    if divisor_override is not None:
        divisor = np.asarray(divisor_override, input.dtype)
    else:
        divisor = _avg_divisor(geom, (top, left), bool(count_include_pad), input.dtype)
    return AvgPoolDivided.apply(input, geom=geom, divisor=divisor)


# ------------------------------------------------------------------------------------------ adaptive average pooling


class _AdaptiveGeometry:
    """PyTorch's windows of an adaptive pooling from (H, W) to (H_out, W_out): along an axis of size n pooled to o,
    window i covers [⌊i·n/o⌋, ⌈(i+1)·n/o⌉). Windows differ in length when o does not divide n, and overlap (or,
    for o > n, repeat) where those bounds cross. `starts` and `lengths` hold them per axis; `uniform[axis]` says
    the axis is cut into equal, adjacent windows (o divides n)."""

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
        self.in_hw, self.out_hw = in_hw, out_hw
        self.starts, self.lengths, self.uniform = [], [], []
        for n, o in zip(in_hw, out_hw):
            i = np.arange(o)
            start, end = i * n // o, -(-(i + 1) * n // o)  # exact integer floor and ceil
            self.starts.append(start)
            self.lengths.append(end - start)
            self.uniform.append(o > 0 and n % o == 0)

    def kernel(self) -> tuple[int, int] | None:
        """The window size when both axes are cut into equal, adjacent windows, else None."""
        return tuple(n // o for n, o in zip(self.in_hw, self.out_hw)) if all(self.uniform) else None

    def offset_rows(self, x: np.ndarray, a: int) -> np.ndarray:
        """x[n, c, start_h[i] + a, :] for every window row i, (N, C, H_out, W); an index past a window's end is
        clipped to the input (the caller masks it out)."""
        return x.take(np.minimum(self.starts[0] + a, self.in_hw[0] - 1), axis=2)

    def offset_cols(self, rows: np.ndarray, b: int) -> np.ndarray:
        """The same along the width: rows[n, c, i, start_w[j] + b], (N, C, H_out, W_out)."""
        return rows.take(np.minimum(self.starts[1] + b, self.in_hw[1] - 1), axis=3)

    def divide(self, total: np.ndarray) -> np.ndarray:
        """total / kH / kW per window, in place, in PyTorch's order of the two divisions."""
        total /= self.lengths[0][:, None].astype(total.dtype)
        total /= self.lengths[1][None, :].astype(total.dtype)
        return total


def _adaptive_avg_array(x: np.ndarray, geom: _AdaptiveGeometry) -> np.ndarray:
    """Each window's mean, its sum taken pixel by pixel in scan order (PyTorch's order, so float32 results agree
    bit for bit): one pass per offset (a, b) inside the largest window, masked where a window is shorter. A 1x1
    output is the mean of the whole plane, as PyTorch computes it (a sum, over the count)."""
    if geom.out_hw == (1, 1):
        z = np.add.reduce(x, axis=(2, 3), keepdims=True)
        z /= np.asarray(geom.in_hw[0] * geom.in_hw[1], x.dtype)
        return z
    z = np.zeros(x.shape[:2] + geom.out_hw, x.dtype, like=x)
    kernel = geom.kernel()
    if kernel is not None:  # equal windows: strided views of x, no masks
        for a, b in itertools.product(range(kernel[0]), range(kernel[1])):
            z += x[:, :, a::kernel[0], b::kernel[1]]
        return geom.divide(z)
    heights, widths = geom.lengths
    for a in range(int(heights.max(initial=0))):
        rows = geom.offset_rows(x, a)
        for b in range(int(widths.max(initial=0))):
            inside = (a < heights)[:, None] & (b < widths)[None, :]
            np.add(z, geom.offset_cols(rows, b), out=z, where=inside)
    return geom.divide(z)


def _adaptive_avg_grad_array(g: np.ndarray, geom: _AdaptiveGeometry) -> np.ndarray:
    """dx: each window's g / kH / kW added onto each of its pixels, one axis at a time (windows that overlap or
    repeat add up)."""
    share = geom.divide(g.copy(order="K"))
    (h, w), (starts_h, starts_w), (heights, widths) = geom.in_hw, geom.starts, geom.lengths
    kernel = geom.kernel()
    if kernel is not None:  # equal, adjacent windows: each pixel gets its window's share, one broadcast copy
        dx = np.empty(g.shape[:2] + (h, w), g.dtype, like=g)
        n, c, out_h, out_w = g.shape
        dx.reshape(n, c, out_h, kernel[0], out_w, kernel[1])[...] = share[:, :, :, None, :, None]
        return dx
    rows = np.zeros(g.shape[:3] + (w,), g.dtype, like=g)  # spread along the width first
    for j, (start, length) in enumerate(zip(starts_w, widths)):
        rows[..., start:start + length] += share[..., j:j + 1]
    dx = np.zeros(g.shape[:2] + (h, w), g.dtype, like=g)
    for i, (start, length) in enumerate(zip(starts_h, heights)):
        dx[:, :, start:start + length] += rows[:, :, i:i + 1]
    return dx


class AdaptiveAvgPool(Primitive):
    """z[n, c, i, j] = mean of x[n, c] over window (i, j) of `_AdaptiveGeometry` (PyTorch's windows). Linear in x:
    dx = each window's g / (kH·kW) spread over its pixels (`AdaptiveAvgPoolGrad`), whose own derivative is this op
    again, so every order of derivative is one of the two."""

    def forward(self, x, *, geom):
        self.geom = geom
        return _adaptive_avg_array(x, geom)

    def backward(self, g):
        if is_array(g):
            return _adaptive_avg_grad_array(g, self.geom)
        return AdaptiveAvgPoolGrad.apply(g, geom=self.geom)


class AdaptiveAvgPoolGrad(Primitive):
    """z = dx of `AdaptiveAvgPool`: each window's g / (kH·kW) added onto each of its pixels. Linear in g, with the
    pooling as its adjoint: dg = AdaptiveAvgPool(gg)."""

    def forward(self, g, *, geom):
        self.geom = geom
        return _adaptive_avg_grad_array(g, geom)

    def backward(self, gg):
        if is_array(gg):
            return _adaptive_avg_array(gg, self.geom)
        return AdaptiveAvgPool.apply(gg, geom=self.geom)


def _adaptive_output_size(output_size: Any, in_hw: tuple[int, int]) -> tuple[int, int]:
    if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
        sizes = [output_size, output_size]
    elif isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair (H_out, W_out), got "
                             f"{output_size!r}")
        sizes = list(output_size)
    else:
        raise TypeError(f"adaptive_avg_pool2d: output_size must be an int or a pair of ints (or None, to keep that "
                        f"size), got {output_size!r}")
    for k, size in enumerate(sizes):
        if size is None:
            sizes[k] = in_hw[k]
        elif not isinstance(size, (int, np.integer)) or isinstance(size, bool):
            raise TypeError(f"adaptive_avg_pool2d: output_size entries must be ints or None, got {output_size!r}")
        elif size < 0:
            raise ValueError(f"adaptive_avg_pool2d: output_size entries must be >= 0, got {output_size!r}")
    return int(sizes[0]), int(sizes[1])


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling of an (N, C, H, W) batch or a (C, H, W) image to `output_size` (an int, or a pair whose
    None entries keep the input's size), as `torch.nn.functional.adaptive_avg_pool2d`: along an axis of size n
    pooled to o, output i is the mean over [⌊i·n/o⌋, ⌈(i+1)·n/o⌉), so windows may differ in size and overlap when
    o does not divide n. Values as PyTorch's (summed in its order); differentiable to any order."""
    _check_tensor("adaptive_avg_pool2d", input)
    if input.ndim == 3:
        return adaptive_avg_pool2d(input.unsqueeze(0), output_size).squeeze(0)
    if input.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"adaptive_avg_pool2d: expected a floating-point input, got {input.dtype}")
    in_hw = tuple(input.shape[2:])
    if 0 in in_hw:
        raise ValueError(f"adaptive_avg_pool2d: the input's height and width must not be 0, got shape {input.shape}")
    return AdaptiveAvgPool.apply(input, geom=_AdaptiveGeometry(in_hw, _adaptive_output_size(output_size, in_hw)))
