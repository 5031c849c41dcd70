"""Convolution and pooling: the primitive `Function`s behind `Tensor.conv2d`, `Tensor.max_pool2d` and
`Tensor.avg_pool2d`, the primitives their gradients are made of, and the argument checks in front of them.

Layout and sizes are PyTorch's: a batch is (N, C, H, W), a convolution weight (C_out, C_in / groups, kH, kW), and
    H_out = floor((H + pad_top + pad_bottom − dilation·(kH − 1) − 1) / stride) + 1      (W_out likewise).

Every order of derivative: each op's gradient is itself a primitive here, and the gradients of those are again
primitives of the same small closed set, so that backward under create_graph records ops that can be
differentiated in turn (to any order):
- conv2d(x, w):               dx = conv_input_grad(g, w),     dw = conv_weight_grad(x, g),  db = Σ_{n,h,w} g;
- conv_input_grad(g, w):      dg = conv2d(gg, w),             dw = conv_weight_grad(gg, g);
- conv_weight_grad(x, g):     dx = conv_input_grad(g, gg),    dg = conv2d(x, gg);
- max_pool2d(x):              dx = max_pool_scatter(g)   (g to each window's chosen pixel; a constant choice);
- max_pool_scatter(g):        dg = max_pool_gather(gg)   (gg read at those pixels), and the gather's is the scatter;
- avg_pool2d(x):              dx = avg_pool_grad(g)      (g / m spread over each window), dg of that = avg_pool2d(gg).
Each backward is written once, with the small dispatching helpers below (`_conv`, `_input_grad`, …): given NumPy
arrays (first order) they run the NumPy code directly, as fast as before; given Tensors (create_graph) they call
the primitive's `.apply`, which runs the very same NumPy code as its forward and records a node.

Everything rests on one view: `_Geometry.windows(xp)` is a strided view of the padded input whose element
[n, c, i, j, h, w] is the pixel that kernel offset (i, j) meets in output window (h, w). Making it copies nothing,
and the only Python loops below run over the kH·kW kernel offsets, never over images, channels or pixels.

- conv2d (im2col): the view is copied once into a column matrix of shape (C·kH·kW, H_out·W_out·N) and the
  convolution is one matrix product per group, weight (C_out, C·kH·kW) @ cols. Rows ordered (c, i, j) match
  `weight.reshape(C_out, -1)`; columns ordered (h, w, n) make the product a (C_out, H_out, W_out, N) array,
  returned as an (N, C_out, H_out, W_out) transposed view. In backward the gradient then usually arrives in that
  same memory order, which is already the (C_out, H_out·W_out·N) matrix both gradient products need.
- col2im (the input gradient) and pooling: one strided slice of the view per kernel offset, added into / folded
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

from typing import TYPE_CHECKING, Any, Callable, Union

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinygrad_np import polymorphic as P
from tinygrad_np.autograd import ones_vector
from tinygrad_np.capture.trace import Traced, branch
from tinygrad_np.ops import Primitive, _Bilinear

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
    if type(xp) is Traced:  # inside a captured step (NumPy's as_strided does not dispatch to the stand-in)
        return xp.as_strided(xp.shape[:2] + kernel + out_hw, strides, writeable=writeable)
    return as_strided(xp, xp.shape[:2] + kernel + out_hw, strides, writeable=writeable)


def _offsets(kernel: tuple[int, int]) -> list[tuple[int, int]]:
    """The kernel offsets in scan order: rows, then columns within a row."""
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def _batch_innermost(shape: tuple[int, ...], dtype: np.dtype, like: np.ndarray, fill=np.empty) -> np.ndarray:
    """A new (N, C, H, W) array stored as (C, H, W, N): the memory order conv2d's matrix products read and write.
    (`like`: the array whose values it will hold, so that inside a captured step it is a traced buffer too.)"""
    n, c, h, w = shape
    return fill((c, h, w, n), dtype, like=like).transpose(3, 0, 1, 2)


def _pad(x: np.ndarray, padding: Padding2d, value: Any = 0.0) -> np.ndarray:
    """x with `value` borders around its last two axes (x itself when there are none)."""
    (top, bottom), (left, right) = padding
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    xp = _batch_innermost((n, c, top + h + bottom, left + w + right), x.dtype, x)
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


class _Geometry:
    """The geometry of one call, shared by an op and every primitive of its gradients: the input's shape
    (N, C, H, W), kernel, stride, padding ((top, bottom), (left, right)), dilation and groups; the padded shape
    and the output's height and width follow."""

    def __init__(self, x_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                 padding: Padding2d, dilation: tuple[int, int], groups: int = 1) -> None:
        (top, bottom), (left, right) = padding
        self.x_shape = tuple(x_shape)
        self.xp_shape = self.x_shape[:2] + (x_shape[2] + top + bottom, x_shape[3] + left + right)
        self.kernel, self.stride, self.padding, self.dilation, self.groups = kernel, stride, padding, dilation, groups
        self.out_hw = _out_hw(self.xp_shape[2:], kernel, stride, dilation)

    def out_shape(self, channels: int) -> tuple[int, int, int, int]:
        return (self.x_shape[0], channels) + self.out_hw

    def windows(self, xp: np.ndarray, writeable: bool = False) -> np.ndarray:
        return _windows(xp, self.kernel, self.stride, self.dilation, self.out_hw, writeable)

    def col2im(self, window_grad: Callable[[int, int], np.ndarray], dtype: np.dtype, like: np.ndarray) -> np.ndarray:
        """dx from the gradient of every window: each pixel gets the sum of `window_grad(i, j)[n, c, h, w]` over
        every window (h, w) whose kernel offset (i, j) met it (the adjoint of taking the windows). Returns the
        unpadded part, a view."""
        reach = [d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation)]
        overlapping = self.stride[0] < reach[0] or self.stride[1] < reach[1]
        # Windows that tile the padded input (such as 2x2 pooling of an even-sized image) write every pixel once:
        # no zeros needed first.
        tiles = self.dilation == (1, 1) and self.kernel == self.stride and \
            all(n == s * m for n, s, m in zip(self.xp_shape[2:], self.stride, self.out_hw))
        dxp = _batch_innermost(self.xp_shape, dtype, like, np.empty if tiles else np.zeros)
        d_windows = self.windows(dxp, writeable=True)
        for i, j in _offsets(self.kernel):
            if overlapping:
                d_windows[:, :, i, j] += window_grad(i, j)
            else:  # every pixel is in at most one window: write, no read-modify-write
                d_windows[:, :, i, j] = window_grad(i, j)
        return _crop(dxp, self.padding)


def _arrays(*values: Any) -> bool:
    """True when every value is a NumPy array: a first-order backward, which runs the NumPy code directly; else
    (Tensors, under create_graph) the helpers below record the primitive instead."""
    return all(map(P.is_array, values))


# --------------------------------------------------------------------------------------------------- convolution


def _im2col(x: np.ndarray, geom: _Geometry) -> np.ndarray:
    """x's windows copied into the column matrix (groups, C_g·kH·kW, H_out·W_out·N): rows (c, i, j), columns
    (h, w, n)."""
    n, c = x.shape[:2]
    cols = np.empty((c,) + geom.kernel + geom.out_hw + (n,), x.dtype, like=x)
    np.copyto(cols, geom.windows(_pad(x, geom.padding)).transpose(1, 2, 3, 4, 5, 0))
    return cols.reshape(geom.groups, c // geom.groups * geom.kernel[0] * geom.kernel[1], -1)


def _g_matrix(g: np.ndarray, groups: int) -> np.ndarray:
    """g (N, C_out, H_out, W_out) as the (groups, C_out/groups, H_out·W_out·N) matrix: a view if batch-innermost."""
    return g.transpose(1, 2, 3, 0).reshape(groups, g.shape[1] // groups, -1)


def _as_batch_innermost(g: np.ndarray) -> np.ndarray:
    """g itself if it is stored batch-innermost, else a batch-innermost copy (so every g matrix is then a view)."""
    if g.transpose(1, 2, 3, 0).flags.c_contiguous:
        return g
    out = _batch_innermost(g.shape, g.dtype, g)
    np.copyto(out, g)
    return out


def _conv_array(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geom: _Geometry) -> tuple[np.ndarray, Any]:
    """z = W·cols(x) + b per group, as a batch-innermost (N, C_out, H_out, W_out) array; and cols."""
    c_out = w.shape[0]
    cols = _im2col(x, geom)
    z = np.matmul(w.reshape(geom.groups, c_out // geom.groups, -1), cols).reshape(c_out, -1)
    if b is not None:
        z += b[:, None]  # z is new: in place
    return z.reshape((c_out,) + geom.out_hw + (x.shape[0],)).transpose(3, 0, 1, 2), cols


def _input_grad_array(g: np.ndarray, w: np.ndarray, geom: _Geometry) -> np.ndarray:
    """col2im(Wᵀ·G), per group: the input gradient of a convolution with weight w, given its output gradient g."""
    groups, c_out = geom.groups, w.shape[0]
    w_mat = w.reshape(groups, c_out // groups, -1)
    d_cols = np.matmul(w_mat.transpose(0, 2, 1), _g_matrix(g, groups))  # (groups, C_g·kH·kW, H_out·W_out·N)
    d_cols = d_cols.reshape(geom.x_shape[1:2] + geom.kernel + geom.out_hw + (g.shape[0],))  # (C, kH, kW, ..., N)
    return geom.col2im(lambda i, j: d_cols[:, i, j].transpose(3, 0, 1, 2), d_cols.dtype, d_cols)


def _weight_grad_array(cols: np.ndarray, g: np.ndarray, geom: _Geometry) -> np.ndarray:
    """G·Xᵀ, per group (X = cols, the im2col matrix of the input): the weight gradient of a convolution."""
    c_out = g.shape[1]
    return np.matmul(_g_matrix(g, geom.groups), cols.transpose(0, 2, 1)).reshape(
        (c_out, geom.x_shape[1] // geom.groups) + geom.kernel)


def _conv(x: Any, w: Any, geom: _Geometry) -> Any:
    """conv2d(x, w) without bias, on arrays or (recorded) on Tensors."""
    if _arrays(x, w):
        return _conv_array(x, w, None, geom)[0]
    return Conv2d.apply(x, w, geom=geom)


def _input_grad(g: Any, w: Any, geom: _Geometry) -> Any:
    """conv_input_grad(g, w) = col2im(Wᵀ·G), on arrays or (recorded) on Tensors."""
    if _arrays(g, w):
        return _input_grad_array(g, w, geom)
    return ConvInputGrad.apply(g, w, geom=geom)


def _weight_grad(x: Any, g: Any, geom: _Geometry, cols: np.ndarray | None = None) -> Any:
    """conv_weight_grad(x, g) = G·Xᵀ, on arrays (from `cols`, x's im2col matrix, when it is at hand) or
    (recorded) on Tensors."""
    if _arrays(x, g):
        return _weight_grad_array(_im2col(x, geom) if cols is None else cols, g, geom)
    return ConvWeightGrad.apply(x, g, geom=geom)


def _bias_grad(g: Any) -> Any:
    """Σ_{n,h,w} g: one BLAS matrix-vector product with a ones vector on arrays (2-4x NumPy's sum)."""
    if _arrays(g):
        g_mat = _g_matrix(g, 1)[0]
        return g_mat @ ones_vector(g_mat.shape[-1], g_mat.dtype)
    return g.sum((0, 2, 3))


class Conv2d(_Bilinear):
    """z[n, o, h, w] = b[o] + Σ_{c,i,j} w[o, c, i, j] · xp[n, C_g·g + c, h·s + i·d, w·s + j·d]  (o in group g,
    xp the zero-padded x). With X the column matrix of the windows and G the gradient g as a (C_out, N·H_out·W_out)
    matrix, per group z = W·X + b, so

        dx = conv_input_grad(g, w) = col2im(Wᵀ·G),    dw = conv_weight_grad(x, g) = G·Xᵀ,    db = Σ_{n,h,w} g,

    where col2im adds each entry of Wᵀ·G onto the input pixel it was copied from (a pixel seen by several windows
    receives the sum of their gradients). Bilinear: dx reads w, dw reads x. Arguments are checked by `conv2d`.
    """

    # x's im2col matrix, which forward makes anyway: the first-order (array) backward reads it for dw instead of
    # copying x's windows a second time. Under create_graph the helper reads x itself (a Tensor) and never `cols`,
    # which is why create_graph may leave it on the node as it is.
    constants = ("cols",)

    def forward(self, x, w, b=None, *, geom):
        needs = self.needs_input_grad
        z, cols = _conv_array(x, w, b, geom)
        self.geom = geom
        self.w = w if needs[0] else None
        self.x, self.cols = (x, cols) if needs[1] else (None, None)
        return z

    def backward(self, g):
        needs, geom = self.needs_input_grad, self.geom
        if _arrays(g):
            g = _as_batch_innermost(g)  # at most one copy; then each gradient below reads g as a matrix view
        dx = _input_grad(g, self.w, geom) if needs[0] else None
        dw = _weight_grad(self.x, g, geom, self.cols) if needs[1] else None
        if len(needs) == 2:
            return dx, dw
        return dx, dw, (_bias_grad(g) if needs[2] else None)


class ConvInputGrad(_Bilinear):
    """z = col2im(Wᵀ·G): conv2d's input gradient as an op of g (N, C_out, H_out, W_out) and w (a transposed
    convolution). It is linear in each: ⟨gg, z⟩ = ⟨im2col(gg), Wᵀ·G⟩ = ⟨W·im2col(gg), G⟩ = ⟨G·im2col(gg)ᵀ, W⟩, so

        dg = conv2d(gg, w),    dw = conv_weight_grad(gg, g).
    """

    def forward(self, g, w, *, geom):
        needs = self.needs_input_grad
        self.geom = geom
        self.w = w if needs[0] else None
        self.g = g if needs[1] else None
        return _input_grad_array(g, w, geom)

    def backward(self, gg):
        ng, nw = self.needs_input_grad
        return (_conv(gg, self.w, self.geom) if ng else None), (_weight_grad(gg, self.g, self.geom) if nw else None)


class ConvWeightGrad(_Bilinear):
    """z = G·Xᵀ (X = im2col(x)): conv2d's weight gradient as an op of x and g. Linear in each: ⟨gg, G·Xᵀ⟩ =
    ⟨ggᵀ·G, X⟩ = ⟨gg·X, G⟩, so

        dx = col2im(ggᵀ·G) = conv_input_grad(g, gg),    dg = conv2d(x, gg).
    """

    def forward(self, x, g, *, geom):
        needs = self.needs_input_grad
        self.geom = geom
        self.g = g if needs[0] else None
        self.x = x if needs[1] else None
        return _weight_grad_array(_im2col(x, geom), g, geom)

    def backward(self, gg):
        nx, ng = self.needs_input_grad
        return (_input_grad(self.g, gg, self.geom) if nx else None), (_conv(self.x, gg, self.geom) if ng else None)


# ------------------------------------------------------------------------------------------------------- pooling


def _first_maxima(windows: np.ndarray, z: np.ndarray, geom: _Geometry) -> np.ndarray:
    """Where max pooling sends each window's gradient, by PyTorch's rule: `first[i, j]` (a boolean array of z's
    shape) marks the windows whose chosen pixel is at kernel offset (i, j). Each window chooses ONE pixel: its first
    maximum in scan order (kernel rows, then columns), never a padding pixel; a window holding NaN chooses its last
    NaN (PyTorch scans with `value > max_so_far or isnan(value)`)."""
    first = np.empty(geom.kernel + z.shape[1:] + z.shape[:1], bool, like=z)
    first = first.transpose(0, 1, 5, 2, 3, 4)  # batch-innermost
    offsets = _offsets(geom.kernel)
    taken = None  # windows whose maximum an earlier offset holds
    for i, j in offsets:
        here = first[i, j]
        np.equal(windows[:, :, i, j], z, out=here)
        if taken is None:
            taken = here.copy(order="K")  # in z's memory order, as every array here
        else:
            np.greater(here, taken, out=here)  # a maximum here, and none earlier
            taken |= here
    # A NaN window has no pixel equal to its maximum (NaN); with padding, a window whose real pixels are all −∞
    # could choose a −∞ pad. Both are rare: those calls take PyTorch's scan step by step.
    padded = any(geom.padding[0] + geom.padding[1])
    if not branch(taken.all()) or (padded and z.size and branch(z.min() == -np.inf)):
        _scan_like_pytorch(windows, geom, first)
    return first


def _scan_like_pytorch(windows: np.ndarray, geom: _Geometry, first: np.ndarray) -> None:
    """PyTorch's choice of each window's pixel, written into `first`, for any values: scanning the window's pixels
    inside the input in order, a pixel is chosen when it exceeds the maximum so far or is NaN; when none is, the
    first pixel inside the input. (A dilated window made only of padding chooses nothing: PyTorch's gradient is
    zero there too.)"""
    inside = geom.windows(_pad(np.ones((1, 1) + geom.x_shape[2:], bool), geom.padding, False))[0, 0]
    shape = windows.shape[:2] + geom.out_hw
    best, choice = np.full(shape, -np.inf, windows.dtype, like=windows), np.full(shape, -1, like=windows)
    offsets = _offsets(geom.kernel)
    for k, (i, j) in enumerate(offsets):
        value, real = windows[:, :, i, j], inside[i, j]
        chosen = real & ((value > best) | np.isnan(value))
        np.copyto(best, value, where=chosen)
        choice[chosen | (real & (choice < 0))] = k
    for k, (i, j) in enumerate(offsets):
        np.equal(choice, k, out=first[i, j])


def _scatter_array(g: np.ndarray, first: np.ndarray, geom: _Geometry) -> np.ndarray:
    """dx: each window's g added onto its chosen pixel."""
    g = _as_batch_innermost(g)  # `first`'s memory order: g · first[i, j] is then one straight pass per offset
    return geom.col2im(lambda i, j: g * first[i, j], g.dtype, g)


def _gather_array(gg: np.ndarray, first: np.ndarray, geom: _Geometry) -> np.ndarray:
    """out[n, c, h, w] = gg at the pixel window (h, w) chose (zero where it chose none): the scatter's adjoint."""
    windows = geom.windows(_pad(gg, geom.padding))
    out = _batch_innermost(gg.shape[:2] + geom.out_hw, gg.dtype, gg, np.zeros)
    for i, j in _offsets(geom.kernel):
        np.copyto(out, windows[:, :, i, j], where=first[i, j])
    return out


def _max_pool_scatter(g: Any, first: np.ndarray, geom: _Geometry) -> Any:
    return _scatter_array(g, first, geom) if _arrays(g) else MaxPool2dScatter.apply(g, first=first, geom=geom)


def _max_pool_gather(gg: Any, first: np.ndarray, geom: _Geometry) -> Any:
    return _gather_array(gg, first, geom) if _arrays(gg) else MaxPool2dGather.apply(gg, first=first, geom=geom)


class MaxPool2d(Primitive):
    """z[n, c, h, w] = max_{i,j} xp[n, c, h·s + i·d, w·s + j·d], xp padded with −∞.

    dz/dx, as PyTorch: each window's whole gradient goes to ONE pixel, its first maximum in scan order (kernel rows,
    then columns; a window holding NaN: its last NaN), dx = max_pool_scatter(g). A pixel chosen by several
    windows receives the sum of their gradients. The choice is piecewise constant in x, made in forward; so the
    second derivative is zero in x, and that of the scatter is a gather at the same pixels.
    """

    def forward(self, x, *, geom):
        windows = geom.windows(_pad(x, geom.padding, -np.inf))
        z = _batch_innermost(geom.out_shape(x.shape[1]), x.dtype, x)
        np.copyto(z, windows[:, :, 0, 0])
        for i, j in _offsets(geom.kernel)[1:]:
            np.maximum(z, windows[:, :, i, j], out=z)
        self.geom = geom
        self.first = _first_maxima(windows, z, geom) if self.needs_input_grad[0] else None
        return z

    def backward(self, g):
        return _max_pool_scatter(g, self.first, self.geom)


class MaxPool2dScatter(Primitive):
    """z = dx of max pooling: each window's g[n, c, h, w] added onto the pixel the window chose (`first`, a
    constant). Linear in g, with the gather as adjoint: dg = max_pool_gather(gg), gg read at the chosen pixels."""

    def forward(self, g, *, first, geom):
        self.first, self.geom = first, geom
        return _scatter_array(g, first, geom)

    def backward(self, gg):
        return _max_pool_gather(gg, self.first, self.geom)


class MaxPool2dGather(Primitive):
    """z[n, c, h, w] = gg at the pixel window (h, w) chose (`first`, a constant). Linear in gg, with the scatter as
    adjoint: dgg = max_pool_scatter(g)."""

    def forward(self, gg, *, first, geom):
        self.first, self.geom = first, geom
        return _gather_array(gg, first, geom)

    def backward(self, g):
        return _max_pool_scatter(g, self.first, self.geom)


def _window_sizes(geom: _Geometry, count_include_pad: bool, dtype: np.dtype) -> Any:
    """What avg pooling divides each window's sum by: kH·kW, or each window's count of pixels inside the unpadded
    input (an (H_out, W_out) array: the windows of a map of ones)."""
    if count_include_pad:
        return geom.kernel[0] * geom.kernel[1]
    ones = _pad(np.ones((1, 1) + geom.x_shape[2:], dtype), geom.padding)
    return geom.windows(ones).sum(axis=(2, 3))[0, 0]


def _avg_pool_array(x: np.ndarray, geom: _Geometry, divisor: Any) -> np.ndarray:
    windows = geom.windows(_pad(x, geom.padding))
    z = _batch_innermost(x.shape[:2] + geom.out_hw, x.dtype, x)
    np.copyto(z, windows[:, :, 0, 0])
    for i, j in _offsets(geom.kernel)[1:]:
        z += windows[:, :, i, j]
    z /= divisor
    return z


def _avg_grad_array(g: np.ndarray, geom: _Geometry, divisor: Any) -> np.ndarray:
    share = np.divide(g, divisor, out=_batch_innermost(g.shape, g.dtype, g))
    return geom.col2im(lambda i, j: share, g.dtype, g)


def _avg_pool(x: Any, geom: _Geometry, count_include_pad: bool, divisor: Any) -> Any:
    if _arrays(x):
        return _avg_pool_array(x, geom, divisor)
    return AvgPool2d.apply(x, geom=geom, count_include_pad=count_include_pad)


def _avg_pool_grad(g: Any, geom: _Geometry, count_include_pad: bool, divisor: Any) -> Any:
    if _arrays(g):
        return _avg_grad_array(g, geom, divisor)
    return AvgPool2dGrad.apply(g, geom=geom, count_include_pad=count_include_pad)


class AvgPool2d(Primitive):
    """z[n, c, h, w] = Σ_{i,j} xp[n, c, h·s + i, w·s + j] / m[h, w], xp padded with zeros and m = kH·kW, or with
    count_include_pad=False the number of the window's pixels inside the unpadded input.

    dz/dx: each window spreads its gradient evenly, g / m, over its pixels; a pixel in several windows sums them:
    dx = avg_pool_grad(g), linear in g, whose own derivative is avg_pool2d(gg).
    """

    constants = ("divisor",)  # the window sizes m: they depend on the shapes only

    def forward(self, x, *, geom, count_include_pad):
        self.geom, self.count_include_pad = geom, count_include_pad
        self.divisor = _window_sizes(geom, count_include_pad, x.dtype)
        return _avg_pool_array(x, geom, self.divisor)

    def backward(self, g):
        return _avg_pool_grad(g, self.geom, self.count_include_pad, self.divisor)


class AvgPool2dGrad(Primitive):
    """z = dx of average pooling: each window's g[n, c, h, w] / m[h, w] added onto each of its pixels. Linear in g,
    with average pooling as adjoint: dg = avg_pool2d(gg)."""

    constants = ("divisor",)  # the window sizes m: they depend on the shapes only

    def forward(self, g, *, geom, count_include_pad):
        self.geom, self.count_include_pad = geom, count_include_pad
        self.divisor = _window_sizes(geom, count_include_pad, g.dtype)
        return _avg_grad_array(g, geom, self.divisor)

    def backward(self, gg):
        return _avg_pool(gg, self.geom, self.count_include_pad, self.divisor)


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
    if any(t.dtype != x.dtype for t in tensors):  # PyTorch raises too, rather than computing in the wider dtype
        roles = ", ".join(f"{role} {t.dtype}" for role, t in zip(("input", "weight", "bias"), tensors))
        raise TypeError(f"{op}: input, weight and bias must have one dtype, got "
                        f"{', '.join(str(t.dtype) for t in tensors)} ({roles}; PyTorch does not promote here "
                        "either); convert the input with .to(weight.dtype), or the layer with its parameters")
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
    return Conv2d.apply(*tensors, geom=_Geometry(x.shape, (kh, kw), stride, pad, dilation, int(groups)))


def _pool_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1) -> _Geometry:
    _check_input(op, x)
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None else _pair(stride, "stride", op, 1)
    dilation = _pair(dilation, "dilation", op, 1)
    ph, pw = _pair(padding, "padding", op, 0)
    if 2 * ph > kernel[0] or 2 * pw > kernel[1]:  # else a window could hold nothing but padding (PyTorch's rule)
        raise ValueError(f"{op}: padding {padding!r} must be at most half of kernel_size {kernel_size!r}")
    pad = ((ph, ph), (pw, pw))
    _check_fits(op, x.shape, kernel, pad, dilation)
    return _Geometry(x.shape, kernel, stride, pad, dilation)


@_unbatched
def max_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               dilation: IntPair = 1) -> Tensor:
    """2-D max pooling as `torch.nn.functional.max_pool2d`; see `Tensor.max_pool2d`."""
    return MaxPool2d.apply(x, geom=_pool_args("max_pool2d", x, kernel_size, stride, padding, dilation))


@_unbatched
def avg_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               count_include_pad: bool = True) -> Tensor:
    """2-D average pooling as `torch.nn.functional.avg_pool2d`; see `Tensor.avg_pool2d`."""
    return AvgPool2d.apply(x, geom=_pool_args("avg_pool2d", x, kernel_size, stride, padding),
                           count_include_pad=bool(count_include_pad))
