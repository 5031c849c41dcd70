"""The primitive differentiable ops. Each is one `Function`: forward and backward side by side, derivative in the
docstring. `g` is the gradient flowing in from the output; backward returns one gradient per input (`None` where
`needs_input_grad` says it is not wanted). Broadcasting is undone by the engine, not here.

Everything else on `Tensor` is a composition of these.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_np.autograd import Function, sum_rows

# ---------------------------------------------------------------------------------------------- binary elementwise


class Add(Function):
    """z = x + y;  dz/dx = 1, dz/dy = 1."""

    def forward(self, x, y):
        return x + y

    def backward(self, g):
        return g, g


class Sub(Function):
    """z = x − y;  dz/dx = 1, dz/dy = −1."""

    def forward(self, x, y):
        return x - y

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    """z = x · y;  dz/dx = y, dz/dy = x."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, g):
        nx, ny = self.needs_input_grad
        return (g * self.y if nx else None), (g * self.x if ny else None)


class Div(Function):
    """z = x / y;  dz/dx = 1/y, dz/dy = −x/y² = −z/y."""

    def forward(self, x, y):
        self.y = y
        self.z = x / y
        return self.z

    def backward(self, g):
        nx, ny = self.needs_input_grad
        return (g / self.y if nx else None), (-g * self.z / self.y if ny else None)


class Pow(Function):
    """z = x ** y;  dz/dx = y · x^(y−1), dz/dy = z · ln x."""

    def forward(self, x, y):
        self.x, self.y = x, y
        self.z = x**y
        return self.z

    def backward(self, g):
        nx, ny = self.needs_input_grad
        dx = g * self.y * self.x ** (self.y - 1) if nx else None
        dy = g * self.z * np.log(self.x) if ny else None
        return dx, dy


class Maximum(Function):
    """z = max(x, y);  dz/dx = [x > y] + ½[x = y], dz/dy = [y > x] + ½[x = y] (ties share the gradient)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.maximum(x, y)

    def backward(self, g):
        share_x = (self.x > self.y) + 0.5 * (self.x == self.y)
        nx, ny = self.needs_input_grad
        return (g * share_x if nx else None), (g * (1.0 - share_x) if ny else None)


class Where(Function):
    """z = x where condition else y;  dz/dx = [condition], dz/dy = [not condition] (condition has no gradient)."""

    def forward(self, x, y, condition):
        self.condition = condition
        return np.where(condition, x, y)

    def backward(self, g):
        nx, ny = self.needs_input_grad
        zero = np.zeros((), g.dtype)
        return (np.where(self.condition, g, zero) if nx else None), (np.where(self.condition, zero, g) if ny else None)


class Matmul(Function):
    """z = x @ y (NumPy's batched, broadcast semantics);  dx = g @ yᵀ, dy = xᵀ @ g (on the last two axes).

    A 1-D operand is treated as a row (x) or a column (y) and the gradient is reshaped back to 1-D.
    """

    def forward(self, x, y):
        self.x, self.y = x, y
        return x @ y

    def backward(self, g):
        x, y = self.x, self.y
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        if y.ndim == 1:
            g = np.expand_dims(g, -1)
        if x.ndim == 1:
            g = np.expand_dims(g, -2)
        nx, ny = self.needs_input_grad
        dx = dy = None
        if nx:
            dx = g @ np.swapaxes(y2, -1, -2)
            if x.ndim == 1:
                dx = dx.reshape(dx.shape[:-2] + dx.shape[-1:])
        if ny:
            dy = np.swapaxes(x2, -1, -2) @ g
            if y.ndim == 1:
                dy = dy.reshape(dy.shape[:-1])
        return dx, dy


class Linear(Function):
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
        g2, x2 = (g, x) if x.ndim == 2 else (g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1]))  # rows
        dx = g @ w if needs[0] else None
        dw = g2.T @ x2 if needs[1] else None
        if len(needs) == 2:
            return dx, dw
        return dx, dw, (sum_rows(g2) if needs[2] else None)


# ----------------------------------------------------------------------------------------------- unary elementwise


class Neg(Function):
    """z = −x;  dz/dx = −1."""

    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(Function):
    """z = eˣ;  dz/dx = eˣ = z."""

    def forward(self, x):
        self.z = np.exp(x)
        return self.z

    def backward(self, g):
        return g * self.z


class Log(Function):
    """z = ln x;  dz/dx = 1/x."""

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, g):
        return g / self.x


class Sqrt(Function):
    """z = √x;  dz/dx = 1/(2√x) = 1/(2z)."""

    def forward(self, x):
        self.z = np.sqrt(x)
        return self.z

    def backward(self, g):
        return g / (2 * self.z)


class Sin(Function):
    """z = sin x;  dz/dx = cos x."""

    def forward(self, x):
        self.x = x
        return np.sin(x)

    def backward(self, g):
        return g * np.cos(self.x)


class Cos(Function):
    """z = cos x;  dz/dx = −sin x."""

    def forward(self, x):
        self.x = x
        return np.cos(x)

    def backward(self, g):
        return -g * np.sin(self.x)


class Abs(Function):
    """z = |x|;  dz/dx = sign x (0 at x = 0)."""

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, g):
        return g * np.sign(self.x)


class Sign(Function):
    """z = sign x;  dz/dx = 0 (everywhere it exists), as in PyTorch."""

    def forward(self, x):
        return np.sign(x)

    def backward(self, g):
        return np.zeros_like(g)


class Relu(Function):
    """z = max(x, 0);  dz/dx = [x > 0] (0 at x = 0)."""

    def forward(self, x):
        self.z = np.maximum(x, 0)
        return self.z

    def backward(self, g):
        return g * (self.z > 0)


def _sigmoid(x):
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow
    return np.where(x >= 0, 1, e) / (1 + e)


class Sigmoid(Function):
    """z = σ(x) = 1/(1 + e⁻ˣ);  dz/dx = z(1 − z). Computed from e^(−|x|), which never overflows and keeps full
    relative precision for x ≪ 0 (½ + ½·tanh(x/2) would cancel to 0 there, and log σ(x) with it)."""

    def forward(self, x):
        self.z = _sigmoid(x)
        return self.z

    def backward(self, g):
        return g * self.z * (1 - self.z)


class Tanh(Function):
    """z = tanh x;  dz/dx = 1 − z²."""

    def forward(self, x):
        self.z = np.tanh(x)
        return self.z

    def backward(self, g):
        return g * (1 - self.z * self.z)


class Softplus(Function):
    """z = ln(1 + e^(βx))/β, and z = x where βx > threshold (as PyTorch);  dz/dx = σ(βx) (1 on the linear part)."""

    def forward(self, x, beta=1.0, threshold=20.0):
        bx = x * beta
        self.linear = bx > threshold
        self.sig = _sigmoid(bx)
        return np.where(self.linear, x, np.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * np.where(self.linear, 1, self.sig)


_erf = np.frompyfunc(math.erf, 1, 1)  # exact to double precision; NumPy has no erf of its own


class Gelu(Function):
    """z = x·Φ(x) with Φ the standard normal CDF;  dz/dx = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).

    approximate='tanh': z = ½x(1 + t), t = tanh(k(x + 0.044715x³)), k = √(2/π);
    dz/dx = ½(1 + t) + ½x(1 − t²)·k(1 + 3·0.044715x²).
    """

    def forward(self, x, approximate="none"):
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            self.t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + self.t)
        if approximate != "none":
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.cdf = np.asarray(0.5 * (1 + _erf(x / math.sqrt(2))), x.dtype)  # asarray: a 0-d input gives a float
        return x * self.cdf

    def backward(self, g):
        x = self.x
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            return g * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t**2) * k * (1 + 3 * 0.044715 * x**2))
        return g * (self.cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))


class Clip(Function):
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


class Cast(Function):
    """z = x converted to `dtype`;  dz/dx = 1 (the engine casts the gradient back to x's dtype)."""

    def forward(self, x, dtype):
        return x.astype(dtype)

    def backward(self, g):
        return g


# ------------------------------------------------------------------------------------------------------ reductions


def _keepdims_shape(shape, axis):
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


class Sum(Function):
    """z = Σ over `axis` of x;  dz/dx = 1 (g is broadcast back over the summed axes)."""

    def forward(self, x, axis, keepdim):
        self.in_shape, self.kept = x.shape, _keepdims_shape(x.shape, axis)
        return x.sum(axis=axis, keepdims=keepdim)

    def backward(self, g):
        return np.broadcast_to(g.reshape(self.kept), self.in_shape)


class Max(Function):
    """z = max over `axis` of x;  dz/dx = [x = z] / (number of maxima): tied maxima share the gradient equally."""

    def forward(self, x, axis, keepdim):
        self.kept = _keepdims_shape(x.shape, axis)
        z = x.max(axis=axis, keepdims=True)
        mask = x == z
        self.share = mask / mask.sum(axis=axis, keepdims=True, dtype=x.dtype)
        return z if keepdim else z.reshape([n for i, n in enumerate(x.shape) if i not in axis])

    def backward(self, g):
        return g.reshape(self.kept) * self.share


class LogSumExp(Function):
    """z = ln Σ eˣ over `axis`, computed as m + ln Σ e^(x−m) with m = max x;  dz/dx = softmax(x) = e^(x−z)."""

    def forward(self, x, axis, keepdim):
        self.x, self.kept = x, _keepdims_shape(x.shape, axis)
        m = x.max(axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # all −inf (or inf) rows: leave them to exp/log as they are
        self.z = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
        return self.z if keepdim else self.z.reshape([n for i, n in enumerate(x.shape) if i not in axis])

    def backward(self, g):
        return g.reshape(self.kept) * np.exp(self.x - self.z)


class LogSoftmax(Function):
    """z = x − logsumexp(x) along `axis`;  dz/dx · g = g − softmax(x) · Σ g."""

    def forward(self, x, axis):
        self.axis = axis
        shifted = x - x.max(axis=axis, keepdims=True)
        self.z = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        return self.z

    def backward(self, g):
        return g - np.exp(self.z) * g.sum(axis=self.axis, keepdims=True)


class Softmax(Function):
    """z = e^(x − max) / Σ e^(x − max) along `axis`;  dz/dx · g = z ⊙ (g − Σ g ⊙ z)."""

    def forward(self, x, axis):
        self.axis = axis
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        self.z = e / e.sum(axis=axis, keepdims=True)
        return self.z

    def backward(self, g):
        z = self.z
        return z * (g - (g * z).sum(axis=self.axis, keepdims=True))


# ---------------------------------------------------------------------------------------------- movement (shapes)


class Reshape(Function):
    """z = x with a new shape;  the gradient is reshaped back."""

    def forward(self, x, shape):
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


class Permute(Function):
    """z = x with axes reordered by `dims`;  the gradient gets the inverse permutation."""

    def forward(self, x, dims):
        self.inverse = np.argsort(dims)
        return x.transpose(dims)

    def backward(self, g):
        return g.transpose(self.inverse)


class Expand(Function):
    """z = x broadcast to `shape` (a view);  the engine's unbroadcast sums the gradient back to x's shape."""

    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def backward(self, g):
        return g


class Pad(Function):
    """z = x with constant borders, `pad_width` as NumPy's ((before, after), …);  the gradient is the inner slice."""

    def forward(self, x, pad_width, value=0.0):
        self.inner = tuple(slice(b, b + n) for (b, _), n in zip(pad_width, x.shape))
        return np.pad(x, pad_width, constant_values=value)

    def backward(self, g):
        return g[self.inner]


class Flip(Function):
    """z = x reversed along `axis`;  the gradient is reversed back."""

    def forward(self, x, axis):
        self.axis = axis
        return np.flip(x, axis)

    def backward(self, g):
        return np.flip(g, self.axis)


class GetItem(Function):
    """z = x[index] (NumPy indexing);  the gradient is scattered back into zeros, repeated indices adding up."""

    def forward(self, x, index, advanced):
        self.in_shape, self.index, self.advanced = x.shape, index, advanced
        return x[index]

    def backward(self, g):
        out = np.zeros(self.in_shape, g.dtype)
        if self.advanced:
            np.add.at(out, self.index, g)  # an integer array may pick an element twice: its gradients add
        else:
            out[self.index] = g  # plain slices and ints never repeat an element
        return out


class Cat(Function):
    """z = the inputs joined along `axis`;  each input's gradient is its slice of g."""

    def forward(self, *xs, axis):
        self.axis = axis
        self.splits = np.cumsum([x.shape[axis] for x in xs[:-1]])
        return np.concatenate(xs, axis=axis)

    def backward(self, g):
        return tuple(np.split(g, self.splits, axis=self.axis))
