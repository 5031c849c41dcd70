"""The activation primitives: relu, sigmoid, tanh, softplus, gelu, hardtanh, hardsigmoid, hardswish, elu (and celu,
selu), logsigmoid, silu. Forward and backward side by side, derivative in the docstring, each backward written once
in the polymorphic vocabulary (see ops.py); re-exported by ops, so `ops.Relu` is this module's."""
from __future__ import annotations

import math

import numpy as np

from tinygrad_np import polymorphic as P
from tinygrad_np.ops import Primitive, _erf_array, _opmath, _SavesInputs, _SavesOutput


class Relu(_SavesOutput):
    """z = max(x, 0);  dz/dx = [x > 0] (0 at x = 0) — and 1 where x is NaN, as PyTorch's (z ≤ 0 ? 0 : g).

    relu(−0) is +0 here, −0 in PyTorch: np.maximum(0, x) would give −0 but takes a slower loop (+40% forward)."""

    def forward(self, x):
        self.z = np.maximum(x, 0)
        return self.z

    def backward(self, g):
        # z = max(x, 0) is ≥ 0 or NaN, so "not z ≤ 0" is "z ≠ 0": one pass. A mask, not a factor: an infinite g at
        # a dead unit gives 0, not NaN
        return P.masked(g, P.value(self.z) != 0)


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



class Gelu(_SavesInputs):
    """z = x·Φ(x) with Φ the standard normal CDF;  dz/dx = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).

    approximate='tanh': z = ½x(1 + t), t = tanh(k(x + 0.044715x³)), k = √(2/π);
    dz/dx = ½(1 + t) + ½x(1 − t²)·k(1 + 3·0.044715x²).

    float16 is computed in float32, as PyTorch does (1 + erf(x/√2) in float16 loses everything below x ≈ −3).
    """

    def forward(self, x, approximate="none"):
        self.x, self.approximate = x, approximate
        a = x.astype(_opmath(x), copy=False)
        if approximate == "tanh":
            z = 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)))
        elif approximate == "none":
            z = a * (0.5 * (1 + _erf_array(a / math.sqrt(2))))
        else:
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        return z.astype(x.dtype, copy=False)

    def backward(self, g):
        x = self.x
        if P.is_array(x) and x.dtype == np.float16:  # first order: in float32 (the engine casts back)
            x, g = x.astype(np.float32), g.astype(np.float32)
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = P.tanh(k * (x + 0.044715 * x**3))
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))
        return g * (0.5 * (1 + P.erf(x * (1 / math.sqrt(2)))) + x * P.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi)))


class Hardtanh(Primitive):
    """z = min(max(x, lo), hi) with number bounds (hardtanh, relu6);  dz/dx = [lo < x < hi]: unlike clamp, 0 AT
    the bounds (as PyTorch's). At a NaN x: 0, as PyTorch's vectorized loop (its scalar loop, which it uses for the
    last few elements of a tensor, gives 1)."""

    def forward(self, x, lo, hi):
        if self.needs_input_grad[0]:
            self.inside = (x > lo) & (x < hi)
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)  # an integer tensor keeps its dtype, as PyTorch's

    def backward(self, g):
        return P.masked(g, self.inside)


class Hardsigmoid(Primitive):
    """z = min(max(x + 3, 0), 6)/6;  dz/dx = 1/6 for −3 < x < 3, else 0 (0 at ±3 and at NaN, as in PyTorch)."""

    def forward(self, x):
        if self.needs_input_grad[0]:
            self.middle = (x > -3) & (x < 3)
        return np.clip(x + 3, 0, 6) / 6

    def backward(self, g):
        return P.masked(g * (1 / 6), self.middle)


class Hardswish(_SavesInputs):
    """z = x·min(max(x + 3, 0), 6)/6;  dz/dx = 0 for x ≤ −3, x/3 + ½ for −3 < x < 3, 1 for x ≥ 3 (PyTorch's
    one-sided kinks: 0 at −3, 1 at 3); d²z/dx² = 1/3 strictly inside, else 0. At a NaN x: NaN, as PyTorch's
    vectorized loop (its scalar loop, for the last few elements of a tensor, gives 1)."""

    def forward(self, x):
        self.x = x
        return x * np.clip(x + 3, 0, 6) / 6

    def backward(self, g):
        x = self.x
        v = P.value(x)
        outside = P.where(v <= -3, 0.0, g * np.where(v >= 3, 1.0, v))  # v: NaN at a NaN x, a constant
        return P.where((v > -3) & (v < 3), g * (x / 3 + 0.5), outside)


class Elu(_SavesInputs):
    """z = scale·x for x > 0, scale·α·(e^(s·x) − 1) for x ≤ 0: ELU (scale = s = 1), CELU (scale = 1, s = 1/α), SELU
    (PyTorch's fixed α and scale, s = 1);  dz/dx = scale for x > 0, scale·α·s·e^(s·x) for x ≤ 0.

    As in PyTorch, the derivative at x = 0 is the left one, scale·α·s, and is held constant there: the second
    derivative is 0 at x = 0 (scale·α·s²·e^(s·x) for x < 0). At a NaN x the derivative is NaN, as PyTorch's
    vectorized loop (its scalar loop, for the last few elements of a tensor, gives scale). Coefficients are rounded
    to x's precision first, as PyTorch's kernel does.
    """

    def forward(self, x, alpha, scale, input_scale):
        t = _opmath(x)
        self.x = x
        self.negcoef, self.poscoef, self.s = t(alpha) * t(scale), t(scale), t(input_scale)
        a = x.astype(t, copy=False)
        left = a <= 0
        with np.errstate(over="ignore"):  # a negative s (CELU with α < 0) may overflow, to inf as in PyTorch
            # e^(s·x) only where it is used (0 elsewhere, so no overflow for a large x > 0); −0 stays −0
            negative_part = np.expm1(np.where(left, a, 0) * self.s) * self.negcoef
        return np.where(left, negative_part, a * self.poscoef).astype(x.dtype, copy=False)

    def backward(self, g):
        x, s = self.x, self.s
        v = P.value(x)
        negative = v < 0
        k = s * self.negcoef
        x_neg = P.where(negative, x, 0.0)  # e^(s·x) only where it is used: no overflow where x > 0, even at 2nd order
        constant = np.where(v > 0, self.poscoef, np.where(v <= 0, k, v))  # v: NaN at a NaN x
        with np.errstate(over="ignore"):
            return g * P.where(negative, k * P.exp(x_neg * s), constant)


class LogSigmoid(_SavesInputs):
    """z = log σ(x) = min(x, 0) − log(1 + e^(−|x|)) (no overflow for any x);  dz/dx = 1 − σ(x) = σ(−x)."""

    def forward(self, x):
        self.x = x
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    def backward(self, g):
        return g * P.sigmoid(-self.x)


class Silu(_SavesInputs):
    """z = x·σ(x) = x/(1 + e⁻ˣ) (PyTorch's formula);  dz/dx = σ(x)·(1 + x·(1 − σ(x)))."""

    def forward(self, x):
        self.x = x
        with np.errstate(over="ignore"):  # e⁻ˣ = inf for x ≪ 0: z = −0, as in PyTorch
            return x / (1 + np.exp(-x))

    def backward(self, g):
        x = self.x
        s = P.sigmoid(x)
        return g * s * (1 + x * (1 - s))
