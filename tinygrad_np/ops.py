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
from tinygrad_np.capture.trace import branch


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

def _opmath(x):
    """The scalar type PyTorch computes x's elementwise ops in: float32 for float16, else x's own."""
    return np.float32 if x.dtype == np.float16 else x.dtype.type


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
            if ny and branch(one.any()):
                one = one & (P.value(x) == 0)
            dx = g * y * (P.where(one, 1.0, x) if branch(one.any()) else x) ** (y - 1)
        if ny:
            one = P.value(x) == 0
            if branch(one.any()):
                one = one & (P.value(y) >= 0)
            dy = g * self.z * P.log(P.where(one, 1.0, x) if branch(one.any()) else x)
        return dx, dy


class Maximum(Primitive):
    """z = max(x, y);  dz/dx = [x > y] + ½[x = y], dz/dy = [y > x] + ½[x = y]: ties share the gradient, and where
    x or y is NaN (so is z) both get all of it, as in PyTorch. (max(−0, 0) is NumPy's 0, as PyTorch's vectorized
    loop; its scalar loop, used for the last few elements, returns its first operand, −0.)"""

    saves_inputs = True

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.maximum(x, y)

    def backward(self, g):
        return _max_shares(g, P.value(self.x), P.value(self.y), self.needs_input_grad)


class Minimum(Primitive):
    """z = min(x, y);  dz/dx = [x < y] + ½[x = y], dz/dy = [y < x] + ½[x = y] (ties and NaN as in `Maximum`)."""

    saves_inputs = True

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.minimum(x, y)

    def backward(self, g):
        return _max_shares(g, -P.value(self.x), -P.value(self.y), self.needs_input_grad)  # min(x, y) = −max(−x, −y)


def _max_shares(g, x, y, needs):
    """The gradients of max(x, y) (PyTorch's rule): g to the larger, ½g to each at a tie, g to both where they are
    unordered (a NaN). The loser's 0 is a mask, not a factor: an infinite g there still gives 0."""
    tie = x == y
    half = P.where(tie, g * 0.5, g) if tie.any() else g
    nx, ny = needs
    return (P.masked(half, ~(x < y)) if nx else None), (P.masked(half, ~(y < x)) if ny else None)


class Atan2(_SavesInputs):
    """z = atan2(y, x), the angle of the point (x, y);  dz/dy = x/(x² + y²), dz/dx = −y/(x² + y²).

    At the origin, where x² + y² = 0, PyTorch takes 1/(x² + y²) as 0: both gradients are (signed) zeros there.
    """

    def forward(self, y, x):
        self.y, self.x = y, x
        return np.arctan2(y, x)

    def backward(self, g):
        y, x = self.y, self.x
        r2 = y * y + x * x
        with np.errstate(divide="ignore"):  # 1/0 at the origin, masked away (as PyTorch does)
            recip = P.where(P.value(r2) == 0, 0.0, 1 / r2)
        ny, nx = self.needs_input_grad
        return (g * x * recip if ny else None), (g * -y * recip if nx else None)


class Hypot(Primitive):
    """z = √(x² + y²);  dz/dx = x/z, dz/dy = y/z (NaN at the origin, as in PyTorch)."""

    saves_inputs = saves_output = True

    def forward(self, x, y):
        self.x, self.y = x, y
        self.z = np.hypot(x, y)
        return self.z

    def backward(self, g):
        nx, ny = self.needs_input_grad
        with np.errstate(invalid="ignore"):  # 0/0 at the origin: NaN, as in PyTorch
            return (g * self.x / self.z if nx else None), (g * self.y / self.z if ny else None)


def _divisions(x, y, what):
    """The quotient of x / y rounded toward −∞ ('floor') or 0 ('trunc'), for a gradient formula (a constant)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # y = 0: ±inf or NaN, as in PyTorch
        return np.floor_divide(x, y) if what == "floor" else np.trunc(x / y)


class Remainder(_SavesInputs):
    """z = x − y·⌊x/y⌋ (the sign of y; Python's %);  dz/dx = 1, dz/dy = −⌊x/y⌋ (PyTorch's formulas).

    Computed as PyTorch does, from fmod: m = fmod(x, y), plus y where m ≠ 0 and m, y differ in sign (so a zero
    result keeps fmod's sign, which NumPy's remainder does not). ⌊x/y⌋ is a step function of x and y: a constant of
    the gradient formula (derivative 0), like PyTorch's.
    """

    def forward(self, x, y):
        self.x, self.y = x, y
        with np.errstate(invalid="ignore"):  # y = 0: NaN for floats (integer zero divisors are refused before)
            m = np.fmod(x, y)
        fix = (m != 0) & ((y < 0) != (m < 0))
        return np.where(fix, m + y, m) if fix.any() else m

    def backward(self, g):
        nx, ny = self.needs_input_grad
        return (g if nx else None), (-g * _divisions(P.value(self.x), P.value(self.y), "floor") if ny else None)


class Fmod(_SavesInputs):
    """z = x − y·trunc(x/y) (the sign of x; C's fmod);  dz/dx = 1, dz/dy = −trunc(x/y) (PyTorch's formulas)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        with np.errstate(invalid="ignore"):  # y = 0: NaN for floats
            return np.fmod(x, y)

    def backward(self, g):
        nx, ny = self.needs_input_grad
        return (g if nx else None), (-g * _divisions(P.value(self.x), P.value(self.y), "trunc") if ny else None)


class FloorDivide(Primitive):
    """z = ⌊x/y⌋ (Python's //: rounded toward −∞);  no derivative: PyTorch's floor_divide raises in backward, and so
    does this one (use `(x / y).floor()` for the zero gradient of a step function)."""

    def forward(self, x, y):
        with np.errstate(divide="ignore", invalid="ignore"):  # float y = 0: ±inf or NaN, as in PyTorch
            return np.floor_divide(x, y)

    def backward(self, g):
        raise RuntimeError("floor_divide: the derivative for floor_divide is not implemented (as in PyTorch). "
                           "For the zero gradient of a step function use (x / y).floor(), or detach() the operands.")


class Lerp(_SavesInputs):
    """z = x + w·(e − x), linear interpolation from x to e;  dz/dx = 1 − w, dz/de = w, dz/dw = e − x.

    Forward is PyTorch's CPU kernel, bit for bit: a fused multiply-add c·(e − x) + b with c, b = w, x where
    |w| < ½ and w − 1, e elsewhere (so w = 1 gives e exactly), in float32 for float16. `weight` is a Tensor input or
    a number (then an option, with no gradient).
    """

    def forward(self, x, e, w=None, weight=None):
        self.x, self.e, self.w = x, e, (weight if w is None else w)
        t = _opmath(x)
        xs, es = x.astype(t, copy=False), e.astype(t, copy=False)
        if w is None:
            ws = t(weight)
            small = abs(ws) < 0.5
            coeff, base = (ws, xs) if small else (ws - t(1), es)
        else:
            ws = w.astype(t, copy=False)
            small = np.abs(ws) < 0.5
            coeff, base = np.where(small, ws, ws - t(1)), np.where(small, xs, es)
        return _fma(coeff, es - xs, base).astype(x.dtype, copy=False)

    def backward(self, g):
        needs = self.needs_input_grad
        w = self.w
        dx = g * (1 - w) if needs[0] else None
        de = g * w if needs[1] else None
        if len(needs) == 2:
            return dx, de
        return dx, de, (g * (self.e - self.x) if needs[2] else None)


def _fma(a, b, c):
    """a·b + c with one rounding, as the fused multiply-add of PyTorch's vectorized CPU kernels.

    float32: the product of two float32 numbers is exact in float64, so the float64 sum rounded to float32 is the
    fused result (but for a float32 tie after the float64 rounding, too rare to have been seen). float64: the
    rounding errors of the product (Dekker's split) and of the sum are added back; where that is not finite
    (overflow), the plain a·b + c, which is then inf or NaN as the fused one is.
    """
    dtype = np.result_type(a, b, c)
    if dtype != np.float64:
        return (np.asarray(a, np.float64) * b + np.asarray(c, np.float64)).astype(dtype)
    p = a * b
    with np.errstate(over="ignore", invalid="ignore"):
        a_hi, b_hi = _split(a), _split(b)
        a_lo, b_lo = a - a_hi, b - b_hi
        product_error = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
        s = p + c
        bv = s - p
        sum_error = (p - (s - bv)) + (c - bv)
        fused = s + (product_error + sum_error)
    return np.where(np.isfinite(fused), fused, s)


def _split(a):
    """The high half (26 bits) of each float64 in a, for an exact product in halves (Dekker)."""
    t = 134217729.0 * a  # 2^27 + 1
    return t - (t - a)


class Where(Primitive):
    """z = x where condition else y;  dz/dx = [condition], dz/dy = [not condition] (condition has no gradient)."""

    def forward(self, x, y, condition):
        self.condition = condition
        return np.where(condition, x, y)

    def backward(self, g):
        nx, ny = self.needs_input_grad
        return (P.masked(g, self.condition) if nx else None), (P.masked(g, ~self.condition) if ny else None)


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
    """z = |x|;  dz/dx = sign x (0 at x = 0 and, as in PyTorch, at x = NaN)."""

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, g):
        return g * _sign(P.value(self.x))


def _sign(x):
    """PyTorch's sign: [x > 0] − [x < 0], so 0 at ±0 and at NaN (NumPy's np.sign gives NaN there)."""
    if x.dtype.kind == "b":
        return x.copy()  # sign of a bool is itself, as in PyTorch
    s = (x > 0).astype(x.dtype)
    s -= x < 0
    return s


def _zero_gradient(self, g):
    """The backward of a piecewise-constant op (dz/dx = 0 wherever it exists): PyTorch's zeros_like(g), a constant,
    zero even where g is NaN or inf (and so at every higher order)."""
    return np.zeros(g.shape, P.value(g).dtype)


class Sign(Primitive):
    """z = sign x = [x > 0] − [x < 0] (0 at ±0 and NaN, as in PyTorch);  dz/dx = 0."""

    backward = _zero_gradient

    def forward(self, x):
        return _sign(x)


class Floor(Primitive):
    """z = ⌊x⌋;  dz/dx = 0."""

    backward = _zero_gradient

    def forward(self, x):
        return np.floor(x)


class Ceil(Primitive):
    """z = ⌈x⌉;  dz/dx = 0."""

    backward = _zero_gradient

    def forward(self, x):
        return np.ceil(x)


class Trunc(Primitive):
    """z = x rounded toward 0;  dz/dx = 0."""

    backward = _zero_gradient

    def forward(self, x):
        return np.trunc(x)


class Round(Primitive):
    """z = x rounded to `decimals` decimal places, halves to even;  dz/dx = 0.

    As PyTorch: x·10^d rounded, then divided by 10^d (for d < 0: x/10^−d rounded, times 10^−d), in x's precision
    (float32 for float16)."""

    backward = _zero_gradient

    def forward(self, x, decimals=0):
        if decimals == 0:
            return np.rint(x)
        work = np.float32 if x.dtype == np.float16 else x.dtype
        scale = np.asarray(10.0 ** abs(decimals), work)
        a = x.astype(work, copy=False)
        z = np.rint(a * scale) / scale if decimals > 0 else np.rint(a / scale) * scale
        return z.astype(x.dtype, copy=False)


class Tan(_SavesOutput):
    """z = tan x;  dz/dx = 1 + tan² x = 1 + z²."""

    def forward(self, x):
        self.z = np.tan(x)
        return self.z

    def backward(self, g):
        return g * (1 + self.z * self.z)


class Log2(_SavesInputs):
    """z = log₂ x;  dz/dx = 1/(x ln 2)."""

    def forward(self, x):
        self.x = x
        return np.log2(x)

    def backward(self, g):
        return g / (self.x * math.log(2))


class Log10(_SavesInputs):
    """z = log₁₀ x;  dz/dx = 1/(x ln 10)."""

    def forward(self, x):
        self.x = x
        return np.log10(x)

    def backward(self, g):
        return g / (self.x * math.log(10))


class Exp2(_SavesOutput):
    """z = 2ˣ;  dz/dx = 2ˣ ln 2 = z ln 2."""

    def forward(self, x):
        self.z = np.exp2(x)
        return self.z

    def backward(self, g):
        return g * self.z * math.log(2)


class Log1p(_SavesInputs):
    """z = ln(1 + x), accurate for small x;  dz/dx = 1/(1 + x)."""

    def forward(self, x):
        self.x = x
        return np.log1p(x)

    def backward(self, g):
        return g / (self.x + 1)


class Expm1(_SavesOutput):
    """z = eˣ − 1, accurate for small x;  dz/dx = eˣ = z + 1."""

    def forward(self, x):
        self.z = np.expm1(x)
        return self.z

    def backward(self, g):
        return g * (self.z + 1)


_erf = np.frompyfunc(math.erf, 1, 1)  # exact to double precision; NumPy has no erf of its own


def _erf_array(x):
    return P.asarray(_erf(x), x.dtype)  # asarray: a 0-d input gives a Python float


class Erf(_SavesInputs):
    """z = erf x;  dz/dx = 2/√π · e^(−x²)."""

    def forward(self, x):
        self.x = x
        return _erf_array(x)

    def backward(self, g):
        return g * (2 / math.sqrt(math.pi)) * P.exp(-(self.x * self.x))


class Clip(Primitive):
    """z = min(max(x, lo), hi), each bound a Tensor, a number or None;  dz/dx = [lo ≤ x ≤ hi] (the gradient passes
    AT the bounds), dz/dlo = [x < lo][lo < hi], dz/dhi = [x > hi or hi < lo] — PyTorch's clamp, whose masks also
    give 0 to all three where x or a bound is NaN. Each gradient is a mask, not a factor: an infinite g outside
    still gives 0."""

    def forward(self, x, lo, hi):
        nx, nlo, nhi = self.needs_input_grad
        if lo is None:
            masks = (x <= hi if nx else None), None, (x > hi if nhi else None)
        elif hi is None:
            masks = (x >= lo if nx else None), (x < lo if nlo else None), None
        else:
            masks = (((x >= lo) & (x <= hi)) if nx else None, ((x < lo) & (lo < hi)) if nlo else None,
                     ((x > hi) | (hi < lo)) if nhi else None)
        self.masks = masks
        return np.clip(x, lo, hi)

    def backward(self, g):
        return tuple(None if m is None else P.masked(g, m) for m in self.masks)


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


from tinygrad_np.activations import *  # noqa: E402, F401, F403  (the activation primitives, in their own file)
