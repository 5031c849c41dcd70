"""Elementwise Tensor methods: exp, log, sqrt, the activations, clip, rounding, remainders, …

Dtypes follow PyTorch: ops with real-valued results (exp, log, tan, atan2, …) give float32 for integer and bool
tensors (NumPy would give float64); rounding an integer tensor gives a copy of it; activations that PyTorch
implements only for floating point raise for integers. The module-level functions at the end are the top-level
forms (`tinygrad_np.floor(x)`, …) of the methods PyTorch also offers as `torch.X`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from tinygrad_np import ops
from tinygrad_np.arguments import DEFAULT_FLOAT, Scalar

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # bound by tensor.py once the class exists (tensor.py imports this module first)

# SELU's constants, as PyTorch's (Klambauer et al., 2017)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _floating(t: Tensor) -> Tensor:
    """`t`, converted to float32 if it holds integers or bools: an op with real-valued results gives float32 for
    those, as in PyTorch."""
    return t if t.data.dtype.kind in "fc" else t.to(DEFAULT_FLOAT)


def _check_float(t: Tensor, op: str) -> None:
    """Raise for a tensor that is not floating point, for the ops PyTorch implements only for those."""
    if t.data.dtype.kind != "f":
        raise TypeError(f"{op}: not implemented for {t.dtype} tensors (as in PyTorch); convert the input to a "
                        f"floating-point dtype first, e.g. x.float()")


def _check_not_bool(t: Tensor, op: str) -> None:
    if t.data.dtype.kind == "b":
        raise TypeError(f"{op}: not implemented for bool tensors (as in PyTorch); convert the input first, e.g. "
                        "x.long() or x.float()")


def _bound(b: Any, x: Tensor) -> Any:
    """A clamp bound for x, already promoted with every bound to the result dtype: a Tensor bound is converted to
    that dtype too (a number is left to NumPy, which keeps x's dtype for it)."""
    if isinstance(b, Tensor) and b.data.dtype != x.data.dtype:
        return b.to(x.dtype)
    return b


def _tensor_operand(op: str, other: Any) -> None:
    if not isinstance(other, Tensor):
        raise TypeError(f"{op}: other must be a Tensor, not {type(other).__name__} (as in PyTorch); wrap a number "
                        "as Tensor(value)")


class ElementwiseMethods:
    """The elementwise half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it)."""

    __slots__ = ()

    # ------------------------------------------------------------------------------------------ exponentials, logs

    def exp(self) -> Tensor:
        return ops.Exp.apply(_floating(self))

    def exp2(self) -> Tensor:
        """2 ** self."""
        return ops.Exp2.apply(_floating(self))

    def expm1(self) -> Tensor:
        """eˣ − 1, accurate for small x."""
        return ops.Expm1.apply(_floating(self))

    def log(self) -> Tensor:
        return ops.Log.apply(_floating(self))

    def log2(self) -> Tensor:
        return ops.Log2.apply(_floating(self))

    def log10(self) -> Tensor:
        return ops.Log10.apply(_floating(self))

    def log1p(self) -> Tensor:
        """ln(1 + x), accurate for small x."""
        return ops.Log1p.apply(_floating(self))

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(_floating(self))

    def rsqrt(self) -> Tensor:
        return self.sqrt().reciprocal()

    def square(self) -> Tensor:
        if self.data.dtype.kind == "b":
            return self.to(np.int64).square()  # bool squared counts, as in PyTorch (bool * bool would stay bool)
        return self * self

    def reciprocal(self) -> Tensor:
        return 1.0 / self

    # --------------------------------------------------------------------------------------------- trigonometry

    def sin(self) -> Tensor:
        return ops.Sin.apply(_floating(self))

    def cos(self) -> Tensor:
        return ops.Cos.apply(_floating(self))

    def tan(self) -> Tensor:
        return ops.Tan.apply(_floating(self))

    def erf(self) -> Tensor:
        return ops.Erf.apply(_floating(self))

    def atan2(self, other: Tensor) -> Tensor:
        """The angle of the point (other, self) in (−π, π]: atan(self / other) in the right quadrant. Both must be
        Tensors (as in PyTorch); integers give float32. The gradient at the origin is 0 (PyTorch's convention)."""
        _tensor_operand("atan2", other)
        y, x = self._pair(other)
        return ops.Atan2.apply(_floating(y), _floating(x))

    arctan2 = atan2

    def hypot(self, other: Tensor) -> Tensor:
        """√(self² + other²) without overflow; floating-point Tensors only (as in PyTorch)."""
        _tensor_operand("hypot", other)
        x, y = self._pair(other)
        _check_float(x, "hypot")
        return ops.Hypot.apply(x, y)

    # -------------------------------------------------------------------------------------------------- signs

    def abs(self) -> Tensor:
        _check_not_bool(self, "abs")
        return ops.Abs.apply(self)

    def sign(self) -> Tensor:
        """−1, 0 or 1 (0 at ±0 and at NaN, as in PyTorch); the gradient is 0."""
        if self.data.dtype.kind == "c":
            raise TypeError("sign: not implemented for complex tensors (as in PyTorch, which offers sgn for them)")
        return ops.Sign.apply(self)

    # ----------------------------------------------------------------------------------------------- rounding

    def _stepwise(self, op: type[ops.Primitive], name: str, **options: Any) -> Tensor:
        _check_not_bool(self, name)
        if self.data.dtype.kind in "iu":
            return Tensor._make(self.data.copy(), False, None)  # integers are already whole: a copy, as PyTorch's
        if self.data.dtype.kind == "c":
            raise TypeError(f"{name}: not implemented for complex tensors (as in PyTorch)")
        return op.apply(self, **options)

    def floor(self) -> Tensor:
        """The largest whole number ≤ x; an integer tensor is returned as a copy; the gradient is 0."""
        return self._stepwise(ops.Floor, "floor")

    def ceil(self) -> Tensor:
        """The smallest whole number ≥ x; the gradient is 0."""
        return self._stepwise(ops.Ceil, "ceil")

    def trunc(self) -> Tensor:
        """x rounded toward 0; the gradient is 0."""
        return self._stepwise(ops.Trunc, "trunc")

    fix = trunc

    def round(self, *, decimals: int = 0) -> Tensor:
        """x rounded to `decimals` decimal places (negative: to tens, hundreds, …), halves to even as in PyTorch
        (round(2.5) = 2); the gradient is 0."""
        if decimals == 0:
            return self._stepwise(ops.Round, "round")
        return self._stepwise(ops.Round, "round", decimals=int(decimals))

    def frac(self) -> Tensor:
        """x − trunc(x): the fractional part, with x's sign; the gradient is 1."""
        _check_float(self, "frac")
        return self - self.trunc()

    # ------------------------------------------------------------------------------------- division and remainders

    def _division(self, op: type[ops.Primitive], name: str, other: Any) -> Tensor:
        a, b = self._pair(other)
        if a.data.dtype.kind == "b" and b.data.dtype.kind == "b":
            raise TypeError(f"{name}: not implemented for two bool tensors (as in PyTorch)")
        if a.data.dtype.kind not in "fc" and b.data.dtype.kind not in "fc" and not np.all(b.data):
            raise ZeroDivisionError(f"{name}: integer division by zero (PyTorch raises too; floating-point "
                                    "division by zero gives inf or nan)")
        return op.apply(a, b)

    def floor_divide(self, other: Any) -> Tensor:
        """self / other rounded toward −∞ (Python's //, PyTorch's floor_divide since 1.13). Integers stay integers
        and refuse a zero divisor. No gradient: backward through it raises, as in PyTorch."""
        return self._division(ops.FloorDivide, "floor_divide", other)

    def remainder(self, other: Any) -> Tensor:
        """self − other·⌊self/other⌋: the result has the divisor's sign (Python's %). Gradients are PyTorch's:
        1 for self, −⌊self/other⌋ for other."""
        return self._division(ops.Remainder, "remainder", other)

    def fmod(self, other: Any) -> Tensor:
        """self − other·trunc(self/other): the result has the dividend's sign (C's fmod). Gradients are PyTorch's:
        1 for self, −trunc(self/other) for other."""
        return self._division(ops.Fmod, "fmod", other)

    def __floordiv__(self, other: Any) -> Tensor:
        return self.floor_divide(other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return self._operand(other).floor_divide(self)

    def __mod__(self, other: Any) -> Tensor:
        return self.remainder(other)

    def __rmod__(self, other: Any) -> Tensor:
        return self._operand(other).remainder(self)

    # in place, as PyTorch's (without these, `x //= y` would quietly rebind x to a new tensor)
    def floor_divide_(self, other: Any) -> Tensor:
        return in_place(self, "floor_divide_", Tensor.floor_divide, other)

    def remainder_(self, other: Any) -> Tensor:
        return in_place(self, "remainder_", Tensor.remainder, other)

    def fmod_(self, other: Any) -> Tensor:
        return in_place(self, "fmod_", Tensor.fmod, other)

    __ifloordiv__ = floor_divide_
    __imod__ = remainder_

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        """self + weight·(end − self), with PyTorch's formula (exact at weight 0 and 1). `weight` is a number or a
        Tensor; all tensors broadcast together and must share one floating-point dtype, as in PyTorch."""
        _tensor_operand("lerp", end)
        _check_float(self, "lerp")
        for name, t in (("end", end), ("weight", weight)):
            if isinstance(t, Tensor) and t.data.dtype != self.data.dtype:
                raise TypeError(f"lerp: expected dtype {self.dtype} for `{name}` but got dtype {t.dtype} (PyTorch "
                                "requires one dtype too); convert it with .to()")
        if isinstance(weight, Tensor):
            return ops.Lerp.apply(self, end, weight)
        return ops.Lerp.apply(self, end, weight=float(weight))

    def lerp_(self, end: Tensor, weight: Any) -> Tensor:
        """`lerp` in place (the moving-average update `avg.lerp_(x, 1 − decay)`)."""
        return in_place(self, "lerp_", Tensor.lerp, end, weight)

    # ------------------------------------------------------------------------------------------------ activations

    def relu(self) -> Tensor:
        _check_not_bool(self, "relu")
        return ops.Relu.apply(self)

    def leakyrelu(self, negative_slope: float = 0.01) -> Tensor:
        _check_float(self, "leaky_relu")
        return self.where(self > 0, self * negative_slope)

    leaky_relu = leakyrelu

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(_floating(self))

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(_floating(self))

    def softplus(self, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
        _check_float(self, "softplus")
        return ops.Softplus.apply(self, beta=beta, threshold=threshold)

    def gelu(self, approximate: str = "none") -> Tensor:
        """x·Φ(x); approximate='tanh' for the tanh formula (PyTorch's argument)."""
        _check_float(self, "gelu")
        return ops.Gelu.apply(self, approximate=approximate)

    # ------------------------------------------------------------------------------------------------ clamping

    def clip(self, min: Scalar | Tensor | None = None, max: Scalar | Tensor | None = None) -> Tensor:
        """min(max(x, min), max); the bounds are numbers or Tensors (which broadcast, and get gradients where they
        are the result). The gradient passes at the bounds (PyTorch's clamp; hardtanh does not). The result dtype
        is the promoted one: an integer tensor clamped to a float bound is float32, as in PyTorch."""
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        x = self
        for b in (min, max):
            if b is not None:
                x, _ = x._pair(b)  # x in the result dtype (an integer tensor with a float bound: float32)
        # numbers go to forward as they are; Tensors are inputs, with gradients
        lo, hi = (_bound(b, x) for b in (min, max))
        return ops.Clip.apply(x, lo, hi)

    clamp = clip


# ----------------------------------------------------------------------------------------------------------------
# Top-level functions (tinygrad_np.X), where PyTorch has torch.X


def _unary(name: str) -> Callable[..., Tensor]:
    def fn(input: Tensor, **kwargs: Any) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")
        return getattr(input, name)(**kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"`input.{name}()` (torch.{name})."
    return fn


floor, ceil, trunc, fix, frac = _unary("floor"), _unary("ceil"), _unary("trunc"), _unary("fix"), _unary("frac")
tan, log2, log10, exp2 = _unary("tan"), _unary("log2"), _unary("log10"), _unary("exp2")
log1p, expm1, erf = _unary("log1p"), _unary("expm1"), _unary("erf")


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 (PyTorch's name)
    """`input.round(decimals=decimals)` (torch.round): halves to even."""
    return _unary("round")(input, decimals=decimals)


def _binary(name: str, number_first: bool) -> Callable[[Any, Any], Tensor]:
    def fn(input: Any, other: Any) -> Tensor:
        if not isinstance(input, Tensor):
            if not (number_first and isinstance(other, Tensor)):
                raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")
            input = other._operand(input)  # a number first takes the tensor's dtype rules, as in PyTorch
        return getattr(input, name)(other)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"`input.{name}(other)` (torch.{name})."
    return fn


atan2, arctan2, hypot = _binary("atan2", False), _binary("arctan2", False), _binary("hypot", False)
floor_divide, remainder, fmod = _binary("floor_divide", True), _binary("remainder", True), _binary("fmod", False)


def _check_input(name: str, input: Any) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")
    return input


def lerp(input: Tensor, end: Tensor, weight: Any) -> Tensor:
    """`input.lerp(end, weight)` (torch.lerp)."""
    return _check_input("lerp", input).lerp(end, weight)


# ------------------------------------------------------------------------------- activations PyTorch has as torch.X


def elu(input: Tensor, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0) -> Tensor:
    """scale·x for x > 0, scale·α·(e^(input_scale·x) − 1) for x ≤ 0: the op behind nn.functional's elu, celu and
    selu (not a top-level function: PyTorch has no torch.elu)."""
    _check_float(_check_input("elu", input), "elu")
    return ops.Elu.apply(input, alpha=alpha, scale=scale, input_scale=input_scale)


def selu(input: Tensor) -> Tensor:
    """SELU: scale·x for x > 0, scale·α·(eˣ − 1) for x ≤ 0, with PyTorch's α ≈ 1.6733, scale ≈ 1.0507 (torch.selu)."""
    return elu(input, SELU_ALPHA, SELU_SCALE)


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """CELU: x for x > 0, α·(e^(x/α) − 1) for x ≤ 0 (torch.celu). α = 0 raises, as in PyTorch."""
    if alpha == 0:
        raise ZeroDivisionError("celu: alpha cannot be 0 for CELU (as in PyTorch)")
    return elu(input, alpha, 1.0, 1.0 / alpha)


def in_place(input: Tensor, op: str, fn: Callable[..., Tensor], *others: Any) -> Tensor:
    """`input` overwritten by `fn(input, *others)` and returned: PyTorch's in-place ops (`F.elu(x, inplace=True)`,
    `torch.selu_`, `x //= y`, `x.lerp_(end, w)`). Values and gradients are those of `fn`: when `input` or an operand
    is in a graph the change is recorded on a copy of the old value (inplace.py); a leaf that requires grad raises,
    as in PyTorch."""
    if input._tracked(op, *others):
        # `own`: an operand that is `input` itself reads the old value (the copy)
        return input._rebase(op, lambda snap, own: fn(snap, *map(own, others)))
    # unregistered stand-ins: no graph, no copy kept
    value = fn(*(Tensor._make(t.data, False, None) if isinstance(t, Tensor) else t for t in (input, *others))).data
    return input._write_untracked(op, lambda a: np.copyto(a, value, casting="same_kind"))


def elu_in_place(input: Tensor, op: str, alpha: float, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """`in_place` for ELU and CELU, whose in-place backward PyTorch refuses for alpha < 0 (it differentiates from
    the output there): so does this one, at backward as PyTorch."""
    out = in_place(input, op, fn)
    if alpha < 0 and out._requires_grad:
        out.register_hook(_raise_negative_alpha_in_place)
    return out


def _raise_negative_alpha_in_place(grad: Tensor) -> None:
    raise RuntimeError(
        "In-place elu backward calculation is triggered with a negative slope which is not supported (as in "
        "PyTorch, whose in-place ELU/CELU differentiates from the output, and the output's sign no longer tells the "
        "input's when alpha < 0). Call the out-of-place version instead (inplace=False)."
    )


def selu_(input: Tensor) -> Tensor:
    """`selu` in place (torch.selu_)."""
    return in_place(_check_input("selu_", input), "selu_", selu)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """`celu` in place (torch.celu_)."""
    return elu_in_place(_check_input("celu_", input), "celu_", alpha, lambda t: celu(t, alpha))
