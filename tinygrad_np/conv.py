"""Convolution and pooling: the primitive `Function`s behind `Tensor.conv2d`, `Tensor.max_pool2d` and
`Tensor.avg_pool2d`, and the argument checks in front of them.

Layout and sizes are PyTorch's: a batch is (N, C, H, W), a convolution weight (C_out, C_in / groups, kH, kW), and
    H_out = floor((H + pad_top + pad_bottom − dilation·(kH − 1) − 1) / stride) + 1      (W_out likewise).

Everything rests on one view: `_windows(xp)` is a strided view of the padded input whose element
[n, c, i, j, h, w] is the pixel that kernel offset (i, j) meets in output window (h, w). Making it copies nothing,
and the only Python loops below run over the kH·kW kernel offsets, never over images, channels or pixels.

- conv2d (im2col): the view is copied once into a column matrix of shape (C·kH·kW, H_out·W_out·N) and the
  convolution is one matrix product per group, weight (C_out, C·kH·kW) @ cols. Rows ordered (c, i, j) match
  `weight.reshape(C_out, -1)`; columns ordered (h, w, n) make the product a (C_out, H_out, W_out, N) array,
  returned as an (N, C_out, H_out, W_out) transposed view. In backward the gradient then usually arrives in that
  same memory order, which is already the (C_out, H_out·W_out·N) matrix both gradient products need.
- col2im (conv2d's backward) and pooling: one strided slice of the view per kernel offset, added into / folded
  together with np.add and np.maximum.

Memory order: every (N, C, H, W) array made here is stored batch-innermost, as (C, H, W, N) (`_batch_innermost`),
the order the matrix products produce. It also makes every pass above fast: a window slice for kernel offset (i, j)
moves whole runs of N (stride 1) or W·N (stride 1, no padding to skip) contiguous numbers, where a (C, N, H, W)
order gave 2x2 pooling runs of one number (stride 2 along W) and col2im runs of W. Measured on the benchmark's
MNIST CNN, switching from (C, N, H, W) to (C, H, W, N) cut a training step from 13.4 to 10.3 ms (first max-pool's
backward 1.8 → 1.2 ms, second conv's backward 4.1 → 3.5 ms). NumPy accepts any order, and elementwise ops keep
their input's order, so the ReLUs between convs and pools stay batch-innermost too; an input or gradient in
another order costs one transposing copy.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinygrad_np.autograd import Function, ones_vector

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor

IntPair = Union[int, tuple[int, int]]
Padding2d = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


# ------------------------------------------------------------------------------------------------------- windows


def _windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
             out_hw: tuple[int, int], writeable: bool = False) -> np.ndarray:
    """The (N, C, kH, kW, H_out, W_out) view of `xp` with [n, c, i, j, h, w] = xp[n, c, h·sH + i·dH, w·sW + j·dW].

    A writeable view is only ever added into one kernel offset [:, :, i, j] at a time: within one offset no two
    elements share memory, so `+=` is safe; different offsets may overlap, and are added one after another.
    """
    sn, sc, sh, sw = xp.strides
    strides = (sn, sc, dilation[0] * sh, dilation[1] * sw, stride[0] * sh, stride[1] * sw)
    return as_strided(xp, xp.shape[:2] + kernel + out_hw, strides, writeable=writeable)


def _offsets(kernel: tuple[int, int]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def _batch_innermost(shape: tuple[int, ...], dtype: np.dtype, fill=np.empty) -> np.ndarray:
    """A new (N, C, H, W) array stored as (C, H, W, N): the memory order conv2d's matrix products read and write."""
    n, c, h, w = shape
    return fill((c, h, w, n), dtype).transpose(3, 0, 1, 2)


def _pad(x: np.ndarray, padding: Padding2d, value: float = 0.0) -> np.ndarray:
    """x with `value` borders around its last two axes (x itself when there are none)."""
    (top, bottom), (left, right) = padding
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    xp = _batch_innermost((n, c, top + h + bottom, left + w + right), x.dtype)
    xp[:, :, top:top + h, left:left + w] = x  # the interior is written once, then only the borders are filled
    xp[:, :, :top] = xp[:, :, top + h:] = value
    xp[:, :, top:top + h, :left] = xp[:, :, top:top + h, left + w:] = value
    return xp


def _crop(xp: np.ndarray, padding: Padding2d) -> np.ndarray:
    """The inverse of `_pad`: the interior of `xp` (a view)."""
    (top, bottom), (left, right) = padding
    return xp[:, :, top:xp.shape[2] - bottom, left:xp.shape[3] - right]


def _out_hw(padded_hw: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int]) -> tuple[int, int]:
    return tuple((n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(padded_hw, kernel, stride, dilation))


class _Window2d(Function):
    """Shared by the ops below: the geometry of one call, and col2im, the scatter-add back onto the input."""

    def _setup(self, x, kernel, stride, padding, dilation) -> None:
        (top, bottom), (left, right) = padding
        self.xp_shape = x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right)
        self.kernel, self.stride, self.padding, self.dilation = kernel, stride, padding, dilation
        self.out_hw = _out_hw(self.xp_shape[2:], kernel, stride, dilation)
        self.out_shape, self.dtype = x.shape[:2] + self.out_hw, x.dtype

    def _col2im(self, window_grad) -> np.ndarray:
        """dx from the gradient of every window: each pixel gets the sum of `window_grad(i, j)[n, c, h, w]` over
        every window (h, w) whose kernel offset (i, j) met it (the adjoint of taking the windows). Returns the
        unpadded part, a view."""
        reach = [d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation)]
        overlapping = self.stride[0] < reach[0] or self.stride[1] < reach[1]
        # Windows that tile the padded input (such as 2x2 pooling of an even-sized image) write every pixel once:
        # no zeros needed first.
        tiles = self.dilation == (1, 1) and self.kernel == self.stride and \
            all(n == s * m for n, s, m in zip(self.xp_shape[2:], self.stride, self.out_hw))
        dxp = _batch_innermost(self.xp_shape, self.dtype, np.empty if tiles else np.zeros)
        d_windows = _windows(dxp, self.kernel, self.stride, self.dilation, self.out_hw, writeable=True)
        for i, j in _offsets(self.kernel):
            if overlapping:
                d_windows[:, :, i, j] += window_grad(i, j)
            else:  # every pixel is in at most one window: write, no read-modify-write
                d_windows[:, :, i, j] = window_grad(i, j)
        return _crop(dxp, self.padding)


# ---------------------------------------------------------------------------------------------------- primitives


class Conv2d(_Window2d):
    """z[n, o, h, w] = b[o] + Σ_{c,i,j} w[o, c, i, j] · xp[n, C_g·g + c, h·s + i·d, w·s + j·d]  (o in group g,
    xp the zero-padded x). With X the column matrix of the windows and G the gradient g as a (C_out, N·H_out·W_out)
    matrix, per group z = W·X + b, so

        dW = G·Xᵀ,    db = Σ_{n,h,w} g,    dX = Wᵀ·G,    dx = col2im(dX),

    where col2im adds each entry of dX onto the input pixel it was copied from (a pixel seen by several windows
    receives the sum of their gradients). Arguments are checked by `conv2d` below.
    """

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups):
        self._setup(x, w.shape[2:], stride, padding, dilation)
        c_out, c_g, kh, kw = self.w_shape = w.shape
        n, c = x.shape[:2]
        cols = np.empty((c, kh, kw) + self.out_hw + (n,), x.dtype)
        np.copyto(cols, _windows(_pad(x, padding), (kh, kw), stride, dilation, self.out_hw).transpose(1, 2, 3, 4, 5, 0))
        cols = cols.reshape(groups, c_g * kh * kw, -1)  # (groups, C_g·kH·kW, H_out·W_out·N)
        w_mat = w.reshape(groups, c_out // groups, c_g * kh * kw)
        z = np.matmul(w_mat, cols).reshape(c_out, -1)
        if b is not None:
            z += b[:, None]
        self.groups = groups
        if self.needs_input_grad[0]:
            self.w_mat = w_mat
        if self.needs_input_grad[1]:
            self.cols = cols
        return z.reshape((c_out,) + self.out_hw + (n,)).transpose(3, 0, 1, 2)  # batch-innermost, as all arrays here

    def backward(self, g):
        needs, c_out, n = self.needs_input_grad, self.w_shape[0], g.shape[0]
        g_mat = g.transpose(1, 2, 3, 0).reshape(self.groups, c_out // self.groups, -1)  # no copy if batch-innermost
        dx = dw = db = None
        if needs[0]:
            d_cols = np.matmul(self.w_mat.transpose(0, 2, 1), g_mat)  # (groups, C_g·kH·kW, H_out·W_out·N)
            d_cols = d_cols.reshape(self.xp_shape[1:2] + self.kernel + self.out_hw + (n,))  # (C, kH, kW, ..., N)
            dx = self._col2im(lambda i, j: d_cols[:, i, j].transpose(3, 0, 1, 2))
        if needs[1]:
            dw = np.matmul(g_mat, self.cols.transpose(0, 2, 1)).reshape(self.w_shape)
        if len(needs) == 3 and needs[2]:
            db = (g_mat @ ones_vector(g_mat.shape[-1], g_mat.dtype)).reshape(c_out)  # Σ over (n, h, w)
        return (dx, dw, db) if len(needs) == 3 else (dx, dw)


class MaxPool2d(_Window2d):
    """z[n, c, h, w] = max_{i,j} xp[n, c, h·s + i·d, w·s + j·d], xp padded with −∞.

    dz/dx: each window's gradient goes to the input pixels equal to its maximum, shared equally among tied maxima
    (as `Tensor.max` does; PyTorch gives all of it to one of them). A pixel that is the maximum of several
    windows receives the sum of their shares.
    """

    def forward(self, x, *, kernel, stride, padding, dilation):
        self._setup(x, kernel, stride, padding, dilation)
        windows = _windows(_pad(x, padding, -np.inf), kernel, stride, dilation, self.out_hw)
        z = _batch_innermost(self.out_shape, x.dtype)
        np.copyto(z, windows[:, :, 0, 0])
        for i, j in _offsets(kernel)[1:]:
            np.maximum(z, windows[:, :, i, j], out=z)
        if self.needs_input_grad[0]:
            self.windows, self.z = windows, z
        return z

    def backward(self, g):
        is_max = {(i, j): self.windows[:, :, i, j] == self.z for i, j in _offsets(self.kernel)}
        ties = _batch_innermost(self.out_shape, g.dtype, np.zeros)  # how many maxima each window has (at least one)
        for mask in is_max.values():
            ties += mask
        share = np.divide(g, ties, out=ties)  # g in z's memory order, which every pass below then follows
        return self._col2im(lambda i, j: is_max[i, j] * share)


class AvgPool2d(_Window2d):
    """z[n, c, h, w] = Σ_{i,j} xp[n, c, h·s + i, w·s + j] / m[h, w], xp padded with zeros and m = kH·kW, or with
    count_include_pad=False the number of the window's pixels inside the unpadded input.

    dz/dx: each window spreads its gradient evenly, g / m, over its pixels; a pixel in several windows sums them.
    """

    def forward(self, x, *, kernel, stride, padding, count_include_pad):
        dilation = (1, 1)
        self._setup(x, kernel, stride, padding, dilation)
        windows = _windows(_pad(x, padding), kernel, stride, dilation, self.out_hw)
        z = _batch_innermost(self.out_shape, x.dtype)
        np.copyto(z, windows[:, :, 0, 0])
        for i, j in _offsets(kernel)[1:]:
            z += windows[:, :, i, j]
        if count_include_pad:
            self.divisor = kernel[0] * kernel[1]
        else:  # pool a map of ones over the same windows: each window's count of real pixels, shape (H_out, W_out)
            ones = _pad(np.ones((1, 1) + x.shape[2:], x.dtype), padding)
            self.divisor = _windows(ones, kernel, stride, dilation, self.out_hw).sum(axis=(2, 3))[0, 0]
        z /= self.divisor
        return z

    def backward(self, g):
        share = np.divide(g, self.divisor, out=_batch_innermost(self.out_shape, g.dtype))
        return self._col2im(lambda i, j: share)


# ------------------------------------------------------------------------------------------ checked entry points


def _pair(value: Any, name: str, op: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as a pair, each at least `minimum`."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_input(op: str, x: Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {x.dtype}")


def _check_fits(op: str, x_shape: tuple[int, ...], kernel: tuple[int, int], padding: Padding2d,
                dilation: tuple[int, int]) -> None:
    padded = (x_shape[2] + sum(padding[0]), x_shape[3] + sum(padding[1]))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if reach[0] > padded[0] or reach[1] > padded[1]:
        span = f"kernel {kernel[0]}x{kernel[1]}" + (f" with dilation {dilation}" if dilation != (1, 1) else "")
        raise ValueError(f"{op}: {span} spans {reach[0]}x{reach[1]} pixels, more than the padded input's "
                         f"{padded[0]}x{padded[1]} (input shape {x_shape}, padding {padding})")


def _unbatched(fn):
    """Let an op on (N, C, H, W) batches take one (C, H, W) image too, as PyTorch does."""
    def wrapper(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if x.ndim == 3:
            return fn(x.unsqueeze(0), *args, **kwargs).squeeze(0)
        return fn(x, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


@_unbatched
def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
           padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution (strictly, cross-correlation) as `torch.nn.functional.conv2d`; see `Tensor.conv2d`."""
    op = "conv2d"
    _check_input(op, x)
    weight = x._operand(weight)
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight (C_out, C_in/groups, kH, kW), got shape {weight.shape}")
    c_in, (c_out, c_g, kh, kw) = x.shape[1], weight.shape
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if c_in % groups or c_out % groups:
        raise ValueError(f"{op}: groups={groups} must divide both the input channels ({c_in}, input shape "
                         f"{x.shape}) and the output channels ({c_out}, weight shape {weight.shape})")
    if c_g * groups != c_in:
        raise ValueError(f"{op}: input shape {x.shape} has {c_in} channels, but weight shape {weight.shape} with "
                         f"groups={groups} expects {c_g * groups}")
    tensors = [x, weight]
    if bias is not None:
        bias = x._operand(bias)
        if bias.shape != (c_out,):
            raise ValueError(f"{op}: bias must have shape ({c_out},) for weight shape {weight.shape}, "
                             f"got {bias.shape}")
        tensors.append(bias)
    if any(t.dtype != x.dtype for t in tensors):
        raise TypeError(f"{op}: input, weight and bias must have one dtype, got "
                        f"{', '.join(str(t.dtype) for t in tensors)}")
    stride, dilation = _pair(stride, "stride", op, 1), _pair(dilation, "dilation", op, 1)
    if padding == "valid":
        pad = ((0, 0), (0, 0))
    elif padding == "same":  # PyTorch's rule: any odd padding left over goes to the bottom / right
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
        totals = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
        pad = tuple((t // 2, t - t // 2) for t in totals)
    elif isinstance(padding, str):
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a pair of ints, got {padding!r}")
    else:
        ph, pw = _pair(padding, "padding", op, 0)
        pad = ((ph, ph), (pw, pw))
    _check_fits(op, x.shape, (kh, kw), pad, dilation)
    return Conv2d.apply(*tensors, stride=stride, padding=pad, dilation=dilation, groups=int(groups))


def _pool_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1):
    _check_input(op, x)
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None else _pair(stride, "stride", op, 1)
    dilation = _pair(dilation, "dilation", op, 1)
    ph, pw = _pair(padding, "padding", op, 0)
    if 2 * ph > kernel[0] or 2 * pw > kernel[1]:  # else a window could hold nothing but padding (PyTorch's rule)
        raise ValueError(f"{op}: padding {padding!r} must be at most half of kernel_size {kernel_size!r}")
    pad = ((ph, ph), (pw, pw))
    _check_fits(op, x.shape, kernel, pad, dilation)
    return kernel, stride, pad, dilation


@_unbatched
def max_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               dilation: IntPair = 1) -> Tensor:
    """2-D max pooling as `torch.nn.functional.max_pool2d`; see `Tensor.max_pool2d`."""
    kernel, stride, pad, dilation = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation)
    return MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=pad, dilation=dilation)


@_unbatched
def avg_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               count_include_pad: bool = True) -> Tensor:
    """2-D average pooling as `torch.nn.functional.avg_pool2d`; see `Tensor.avg_pool2d`."""
    kernel, stride, pad, _ = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=pad, count_include_pad=bool(count_include_pad))
