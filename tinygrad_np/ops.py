"""The primitive differentiable ops. Each is one `Function`: forward and backward side by side, derivative in the
docstring. `g` is the gradient flowing in from the output; backward returns one gradient per input (`None` where
`needs_input_grad` says it is not wanted). Broadcasting is undone by the engine, not here.

Every backward below is also the op's second (and any higher) derivative: written with operators and `P` (the
polymorphic vocabulary), it runs on arrays at first order and is recorded as a graph under create_graph. Arrays
kept on the node are the op's inputs, its output, or constants (masks, shares) named in `constants`.

Everything else on `Tensor` is a composition of these.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_np import polymorphic as P
from tinygrad_np.autograd import Function, sum_rows


class Primitive(Function):
    """A built-in op: its backward is written in the polymorphic vocabulary (NumPy arrays at first order, Tensors
    under create_graph), so one formula serves every order of derivative. Flags say what backward reads."""

    twice_differentiable = True
    saves_inputs = False
    saves_output = False


class _SavesInputs(Primitive):
    saves_inputs = True


class _SavesOutput(Primitive):
    saves_output = True


class _Bilinear(Primitive):
    """z is linear in each of x and y: dz/dx reads y and dz/dy reads x, so only the other input's need counts
    (as in PyTorch, which saves W for x @ W only when x requires grad)."""

    saves_inputs = True

    def inputs_read(self):
        needs = self.needs_input_grad
        return (needs[1], needs[0]) + (False,) * (len(needs) - 2)

# ---------------------------------------------------------------------------------------------- binary elementwise


class Add(Primitive):
    """z = x + y;  dz/dx = 1, dz/dy = 1."""

    def forward(self, x, y):
        return x + y

    def backward(self, g):
        return g, g


class Sub(Primitive):
    """z = x − y;  dz/dx = 1, dz/dy = −1."""

    def forward(self, x, y):
        return x - y

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(_Bilinear):
    """z = x · y;  dz/dx = y, dz/dy = x."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, g):
        nx, ny = self.needs_input_grad
        return (g * self.y if nx else None), (g * self.x if ny else None)


class Div(Primitive):
    """z = x / y;  dz/dx = 1/y, dz/dy = −x/y² = −z/y."""

    saves_inputs = saves_output = True

    def forward(self, x, y):
        self.y = y
        self.z = x / y
        return self.z

    def backward(self, g):
        nx, ny = self.needs_input_grad
        return (g / self.y if nx else None), (-g * self.z / self.y if ny else None)


class Pow(Primitive):
    """z = x ** y;  dz/dx = y · x^(y−1), dz/dy = z · ln x.

    At x = 0 these are 0·∞ (nan) where PyTorch defines them as 0: dz/dx where y = 0, dz/dy where y ≥ 0. There the
    formulas read the constant base 1 in place of x, so every further derivative is 0 as well (masking the result
    instead would let 0·∞ into the next derivative). A constant exponent 0 takes base 1 at every x (y·x^(y−1) is
    then 0 at every order, even where x^(y−2) overflows); an exponent that needs a gradient keeps x wherever x ≠ 0,
    so that ∂(dz/dx)/∂y = x^(y−1)(1 + y ln x) stays right. Cost: O(1) for a scalar exponent, else one comparison.
    """

    saves_inputs = saves_output = True

    def forward(self, x, y):
        self.x, self.y = x, y
        self.z = x**y
        return self.z

    def backward(self, g):
        x, y = self.x, self.y
        nx, ny = self.needs_input_grad
        dx = dy = None
        if nx:
            one = P.value(y) == 0  # where the base 1 stands in for x (see above)
            if ny and one.any():
                one = one & (P.value(x) == 0)
            dx = g * y * (P.where(one, 1.0, x) if one.any() else x) ** (y - 1)
        if ny:
            one = P.value(x) == 0
            if one.any():
                one = one & (P.value(y) >= 0)
            dy = g * self.z * P.log(P.where(one, 1.0, x) if one.any() else x)
        return dx, dy


class Maximum(Primitive):
    """z = max(x, y);  dz/dx = [x > y] + ½[x = y], dz/dy = [y > x] + ½[x = y] (ties share the gradient)."""

    saves_inputs = True

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.maximum(x, y)

    def backward(self, g):
        x, y = P.value(self.x), P.value(self.y)
        share_x = (x > y) + 0.5 * (x == y)
        nx, ny = self.needs_input_grad
        return (g * share_x if nx else None), (g * (1.0 - share_x) if ny else None)


class Where(Primitive):
    """z = x where condition else y;  dz/dx = [condition], dz/dy = [not condition] (condition has no gradient)."""

    def forward(self, x, y, condition):
        self.condition = condition
        return np.where(condition, x, y)

    def backward(self, g):
        nx, ny = self.needs_input_grad
        zero = np.zeros((), g.dtype)
        return (P.where(self.condition, g, zero) if nx else None), (P.where(self.condition, zero, g) if ny else None)


class Matmul(_Bilinear):
    """z = x @ y (NumPy's batched, broadcast semantics);  dx = g @ yᵀ, dy = xᵀ @ g (on the last two axes).

    A 1-D operand is treated as a row (x) or a column (y) and the gradient is reshaped back to 1-D.
    """

    def forward(self, x, y):
        self.x, self.y = x, y
        return x @ y

    def backward(self, g):
        x, y = self.x, self.y
        x_1d, y_1d = len(x.shape) == 1, len(y.shape) == 1
        x2 = x.reshape((1,) + x.shape) if x_1d else x
        y2 = y.reshape(y.shape + (1,)) if y_1d else y
        if y_1d:
            g = g.reshape(g.shape + (1,))
        if x_1d:
            g = g.reshape(g.shape[:-1] + (1,) + g.shape[-1:])
        nx, ny = self.needs_input_grad
        dx = dy = None
        if nx:
            dx = g @ P.swapaxes(y2, -1, -2)
            if x_1d:
                dx = dx.reshape(dx.shape[:-2] + dx.shape[-1:])
        if ny:
            dy = P.swapaxes(x2, -1, -2) @ g
            if y_1d:
                dy = dy.reshape(dy.shape[:-1])
        return dx, dy


class Linear(_Bilinear):
    """z = x Wᵀ + b, with W in PyTorch's layout (out, in);  dx = g W, dW = gᵀ x, db = Σ g over all rows.

    One node for what would otherwise be transpose, matmul and add: forward adds the bias in place, and backward
    produces dW directly in W's own layout (no transposed copy) and db without a broadcast pass.
    """

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        z = x @ w.T
        if b is not None:
            if b.dtype == z.dtype:
                z += b  # z is new: adding in place saves a temporary the size of the output
            else:
                z = z + b
        return z

    def backward(self, g):
        x, w = self.x, self.w
        needs = self.needs_input_grad
        g2, x2 = (g, x) if len(x.shape) == 2 else (g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1]))  # rows
        dx = g @ w if needs[0] else None
        dw = g2.T @ x2 if needs[1] else None
        if len(needs) == 2:
            return dx, dw
        return dx, dw, (sum_rows(g2) if needs[2] else None)


# ----------------------------------------------------------------------------------------------- unary elementwise


class Neg(Primitive):
    """z = −x;  dz/dx = −1."""

    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(_SavesOutput):
    """z = eˣ;  dz/dx = eˣ = z."""

    def forward(self, x):
        self.z = np.exp(x)
        return self.z

    def backward(self, g):
        return g * self.z


class Log(_SavesInputs):
    """z = ln x;  dz/dx = 1/x."""

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, g):
        return g / self.x


class Sqrt(_SavesOutput):
    """z = √x;  dz/dx = 1/(2√x) = 1/(2z)."""

    def forward(self, x):
        self.z = np.sqrt(x)
        return self.z

    def backward(self, g):
        return g / (2 * self.z)


class Sin(_SavesInputs):
    """z = sin x;  dz/dx = cos x."""

    def forward(self, x):
        self.x = x
        return np.sin(x)

    def backward(self, g):
        return g * P.cos(self.x)


class Cos(_SavesInputs):
    """z = cos x;  dz/dx = −sin x."""

    def forward(self, x):
        self.x = x
        return np.cos(x)

    def backward(self, g):
        return -g * P.sin(self.x)


class Abs(_SavesInputs):
    """z = |x|;  dz/dx = sign x (0 at x = 0)."""

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, g):
        return g * np.sign(P.value(self.x))


class Sign(Primitive):
    """z = sign x;  dz/dx = 0 (everywhere it exists), as in PyTorch."""

    def forward(self, x):
        return np.sign(x)

    def backward(self, g):
        return np.zeros(g.shape, P.value(g).dtype)  # a constant: zeros even where g is NaN or inf


class Relu(_SavesOutput):
    """z = max(x, 0);  dz/dx = [x > 0] (0 at x = 0)."""

    def forward(self, x):
        self.z = np.maximum(x, 0)
        return self.z

    def backward(self, g):
        return g * (P.value(self.z) > 0)


def _sigmoid(x):
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow
    return np.where(x >= 0, 1, e) / (1 + e)


class Sigmoid(_SavesOutput):
    """z = σ(x) = 1/(1 + e⁻ˣ);  dz/dx = z(1 − z). Computed from e^(−|x|), which never overflows and keeps full
    relative precision for x ≪ 0 (½ + ½·tanh(x/2) would cancel to 0 there, and log σ(x) with it)."""

    def forward(self, x):
        self.z = _sigmoid(x)
        return self.z

    def backward(self, g):
        return g * self.z * (1 - self.z)


class Tanh(_SavesOutput):
    """z = tanh x;  dz/dx = 1 − z²."""

    def forward(self, x):
        self.z = np.tanh(x)
        return self.z

    def backward(self, g):
        return g * (1 - self.z * self.z)


class Softplus(_SavesInputs):
    """z = ln(1 + e^(βx))/β, and z = x where βx > threshold (as PyTorch);  dz/dx = σ(βx) (1 on the linear part)."""

    def forward(self, x, beta=1.0, threshold=20.0):
        bx = x * beta
        self.x, self.beta, self.linear = x, beta, bx > threshold
        return np.where(self.linear, x, np.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * P.where(self.linear, 1.0, P.sigmoid(self.x * self.beta))


_erf = np.frompyfunc(math.erf, 1, 1)  # exact to double precision; NumPy has no erf of its own


def _erf_array(x):
    return np.asarray(_erf(x), x.dtype)  # asarray: a 0-d input gives a Python float


class Erf(_SavesInputs):
    """z = erf x;  dz/dx = 2/√π · e^(−x²)."""

    def forward(self, x):
        self.x = x
        return _erf_array(x)

    def backward(self, g):
        return g * (2 / math.sqrt(math.pi)) * P.exp(-(self.x * self.x))


class Gelu(_SavesInputs):
    """z = x·Φ(x) with Φ the standard normal CDF;  dz/dx = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).

    approximate='tanh': z = ½x(1 + t), t = tanh(k(x + 0.044715x³)), k = √(2/π);
    dz/dx = ½(1 + t) + ½x(1 − t²)·k(1 + 3·0.044715x²).
    """

    def forward(self, x, approximate="none"):
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        if approximate != "none":
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        return x * (0.5 * (1 + _erf_array(x / math.sqrt(2))))

    def backward(self, g):
        x = self.x
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = P.tanh(k * (x + 0.044715 * x**3))
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))
        return g * (0.5 * (1 + P.erf(x * (1 / math.sqrt(2)))) + x * P.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi)))


class Clip(Primitive):
    """z = min(max(x, lo), hi);  dz/dx = [lo ≤ x ≤ hi] (the gradient passes at the bounds, as in PyTorch)."""

    def forward(self, x, lo=None, hi=None):
        self.inside = np.ones(x.shape, bool)
        if lo is not None:
            self.inside &= x >= lo
        if hi is not None:
            self.inside &= x <= hi
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.inside


class Cast(Primitive):
    """z = x converted to `dtype`;  dz/dx = 1 (the engine casts the gradient back to x's dtype)."""

    def forward(self, x, dtype):
        return x.astype(dtype)

    def backward(self, g):
        return g


# ------------------------------------------------------------------------------------------------------ reductions


def _keepdims_shape(shape, axis):
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


class Sum(Primitive):
    """z = Σ over `axis` of x;  dz/dx = 1 (g is broadcast back over the summed axes)."""

    def forward(self, x, axis, keepdim):
        self.in_shape, self.kept = x.shape, _keepdims_shape(x.shape, axis)
        return x.sum(axis=axis, keepdims=keepdim)

    def backward(self, g):
        return P.broadcast_to(g.reshape(self.kept), self.in_shape)


class Max(Primitive):
    """z = max over `axis` of x;  dz/dx = [x = z] / (number of maxima): tied maxima share the gradient equally."""

    constants = ("share",)  # piecewise constant in x: its derivative is zero wherever it exists

    def forward(self, x, axis, keepdim):
        self.kept = _keepdims_shape(x.shape, axis)
        z = x.max(axis=axis, keepdims=True)
        mask = x == z
        self.share = mask / mask.sum(axis=axis, keepdims=True, dtype=x.dtype)
        return z if keepdim else z.reshape([n for i, n in enumerate(x.shape) if i not in axis])

    def backward(self, g):
        return g.reshape(self.kept) * self.share


class LogSumExp(Primitive):
    """z = ln Σ eˣ over `axis`, computed as m + ln Σ e^(x−m) with m = max x;  dz/dx = softmax(x) = e^(x−z)."""

    saves_inputs = saves_output = True

    def forward(self, x, axis, keepdim):
        self.x, self.kept = x, _keepdims_shape(x.shape, axis)
        m = x.max(axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # all −inf (or inf) rows: leave them to exp/log as they are
        z = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
        self.z = z if keepdim else z.reshape([n for i, n in enumerate(x.shape) if i not in axis])
        return self.z

    def backward(self, g):
        return g.reshape(self.kept) * P.exp(self.x - self.z.reshape(self.kept))


class LogSoftmax(_SavesOutput):
    """z = x − logsumexp(x) along `axis`;  dz/dx · g = g − softmax(x) · Σ g."""

    def forward(self, x, axis):
        self.axis = axis
        shifted = x - x.max(axis=axis, keepdims=True)
        self.z = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        return self.z

    def backward(self, g):
        return g - P.exp(self.z) * P.sum(g, self.axis, keepdims=True)


class Softmax(_SavesOutput):
    """z = e^(x − max) / Σ e^(x − max) along `axis`;  dz/dx · g = z ⊙ (g − Σ g ⊙ z)."""

    def forward(self, x, axis):
        self.axis = axis
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        self.z = e / e.sum(axis=axis, keepdims=True)
        return self.z

    def backward(self, g):
        z = self.z
        return z * (g - P.sum(g * z, self.axis, keepdims=True))


# ---------------------------------------------------------------------------------------------- movement (shapes)


class Reshape(Primitive):
    """z = x with a new shape;  the gradient is reshaped back."""

    def forward(self, x, shape):
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


class Permute(Primitive):
    """z = x with axes reordered by `dims`;  the gradient gets the inverse permutation."""

    def forward(self, x, dims):
        self.inverse = np.argsort(dims)
        return x.transpose(dims)

    def backward(self, g):
        return P.transpose(g, tuple(self.inverse))


class Expand(Primitive):
    """z = x broadcast to `shape` (a view);  the engine's unbroadcast sums the gradient back to x's shape."""

    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def backward(self, g):
        return g


class Pad(Primitive):
    """z = x with constant borders, `pad_width` as NumPy's ((before, after), …);  the gradient is the inner slice."""

    def forward(self, x, pad_width, value=0.0):
        self.inner = tuple(slice(b, b + n) for (b, _), n in zip(pad_width, x.shape))
        return np.pad(x, pad_width, constant_values=value)

    def backward(self, g):
        return g[self.inner]


class Flip(Primitive):
    """z = x reversed along `axis`;  the gradient is reversed back."""

    def forward(self, x, axis):
        self.axis = axis
        return np.flip(x, axis).copy()  # a copy, as PyTorch's flip: an in-place change of x must not show here

    def backward(self, g):
        return P.flip(g, self.axis)


class GetItem(Primitive):
    """z = x[index] (NumPy indexing);  the gradient is scattered back into zeros, repeated indices adding up."""

    def forward(self, x, index, advanced):
        self.in_shape, self.index, self.advanced = x.shape, index, advanced
        return x[index]

    def backward(self, g):
        return P.scatter(g, self.in_shape, self.index, self.advanced)


class Scatter(Primitive):
    """z = zeros of `shape` with g added at `index` (GetItem's backward as an op);  the gradient is g[index]."""

    def forward(self, g, shape, index, advanced):
        self.index = index
        return P.scatter(g, shape, index, advanced)

    def backward(self, gg):
        return gg[self.index]


class IndexPut(Primitive):
    """z = x with z[index] = v (`x[index] = v` recorded);  dz/dx = 1 outside index, 0 inside; dz/dv = g[index]
    (summed back over the axes v was broadcast along)."""

    def forward(self, x, v, index):
        self.index = index
        z = x.copy()
        z[index] = v
        self.kept = np.ones(x.shape, bool)  # a mask, not a factor: an infinite g where it is False must give 0
        self.kept[index] = False
        return z

    def backward(self, g):
        nx, nv = self.needs_input_grad
        return (P.where(self.kept, g, 0.0) if nx else None), (g[self.index] if nv else None)


class Cat(Primitive):
    """z = the inputs joined along `axis`;  each input's gradient is its slice of g."""

    def forward(self, *xs, axis):
        self.axis = axis
        # int: np.cumsum of no sizes (one input) is an empty float64 array, which create_graph would take for a
        # differentiable value kept on the node
        self.splits = np.cumsum([x.shape[axis] for x in xs[:-1]], dtype=np.intp)
        return np.concatenate(xs, axis=axis)

    def backward(self, g):
        bounds = [0, *self.splits, g.shape[self.axis]]
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:]))
