"""`gradcheck` itself: it passes correct ops, catches wrong backwards (including ones a uniform upstream gradient
would hide), rejects float32, and leaves inputs and `.grad` as they were; the documented way to add an op,
a user-defined `Function`, end to end; and `gradgradcheck`, which must catch a backward that is right in value but
wrong as a function of the input or of the cotangent (what a second derivative sees)."""
from __future__ import annotations

import numpy as np
import pytest
from strategies import cotangents, with_layout

from tinygrad_np import Function, GradcheckError, Tensor, gradcheck, gradgradcheck, no_grad


def leaf(a) -> Tensor:
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def rand(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# --------------------------------------------------------------------------------------------- deliberately wrong


class WrongSignExp(Function):
    def forward(self, x):
        self.z = np.exp(x)
        return self.z

    def backward(self, g):
        return -g * self.z  # the sign is wrong


class TransposedMatmulGrad(Function):
    """x @ a for a fixed square `a`, with backward g @ a instead of g @ aᵀ: right shape, wrong values."""

    def forward(self, x, a):
        self.a = a
        return x @ a

    def backward(self, g):
        return g @ self.a, None


class FlipWithoutFlippingBack(Function):
    """Reverses x but passes the gradient through unreversed. With a uniform upstream gradient (`.sum()`) the
    result looks right, which is why gradcheck uses a random cotangent."""

    def forward(self, x):
        return x[::-1].copy()

    def backward(self, g):
        return g


class SwappedMulGrads(Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, g):
        return g * self.x, g * self.y  # each input gets the other's gradient


class ForgetsAnInput(Function):
    def forward(self, x, y):
        return x * 2 + y

    def backward(self, g):
        return 2 * g, None  # y needs a gradient and gets none


class OffByAFactor(Function):
    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, g):
        return g * 3 * self.x  # 3x instead of 3x²


@pytest.mark.parametrize("make", [
    lambda: (lambda x: WrongSignExp.apply(x), [leaf(rand(3))]),
    lambda: (lambda x: TransposedMatmulGrad.apply(x, Tensor(rand(3, 3, seed=1))), [leaf(rand(2, 3))]),
    lambda: (lambda x: FlipWithoutFlippingBack.apply(x), [leaf(rand(5))]),
    lambda: (lambda x, y: SwappedMulGrads.apply(x, y), [leaf(rand(3)), leaf(rand(3, seed=2))]),
    lambda: (lambda x, y: ForgetsAnInput.apply(x, y), [leaf(rand(3)), leaf(rand(3, seed=3))]),
    lambda: (lambda x: OffByAFactor.apply(x), [leaf(rand(4) + 2.0)]),
], ids=["wrong_sign", "transposed", "flip_not_reversed", "swapped", "missing_gradient", "wrong_factor"])
def test_gradcheck_catches_a_wrong_backward(make):
    fn, inputs = make()
    with pytest.raises(GradcheckError, match="analytic"):
        gradcheck(fn, *inputs)
    assert gradcheck(fn, *inputs, raise_exception=False) is False


def test_the_uniform_upstream_gradient_would_have_missed_the_flip_bug():
    """Why the cotangent is random: d(sum(flip x))/dx is all ones whether or not the gradient is flipped back."""
    x = leaf(rand(5))
    FlipWithoutFlippingBack.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones(5))  # looks right
    with pytest.raises(GradcheckError):
        gradcheck(FlipWithoutFlippingBack.apply, leaf(rand(5)))


def test_gradcheck_error_names_the_input_and_the_worst_index():
    x, y = leaf(rand(3)), leaf(rand(3, seed=2))
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(3,\)\).*worst at index"):
        gradcheck(SwappedMulGrads.apply, x, y)


# ---------------------------------------------------------------------------------------------------- correct ops


def test_gradcheck_passes_correct_ops():
    x, w = leaf(rand(3, 4)), leaf(rand(4, 2, seed=1))
    assert gradcheck(lambda a, b: (a @ b).tanh().softmax(0), x, w) is True
    assert gradcheck(lambda a: a.exp().sum(1).log(), x)
    assert gradcheck(lambda a, i: a[i], x, Tensor(np.array([0, 0, 2])))  # a non-float input is passed through


def test_gradcheck_on_non_contiguous_inputs():
    """The analytic pass sees the view as given (strides and all); only the perturbation works on a copy."""
    for layout in ("transposed", "strided", "reversed"):
        x = leaf(with_layout(rand(3, 4, seed=4), layout))
        assert gradcheck(lambda a: (a * a.sin()) @ np.ones((4, 2)), x)
        assert gradcheck(lambda a: a.T.reshape(-1).exp(), x)


def test_gradcheck_catches_bugs_in_non_contiguous_inputs_too():
    x = leaf(with_layout(rand(3, 3, seed=5), "transposed"))
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: WrongSignExp.apply(a), x)


def test_gradcheck_rejects_float32_and_inputs_without_grad():
    with pytest.raises(TypeError, match="float64.*float32"):
        gradcheck(Tensor.exp, Tensor(np.ones(3, np.float32), requires_grad=True))
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(Tensor.exp, Tensor(np.ones(3)))


def test_gradcheck_leaves_grad_and_data_as_they_were():
    data = with_layout(rand(3, 2, seed=6), "strided")  # a non-contiguous view
    x = Tensor(data, requires_grad=True)
    previous = Tensor(np.full((3, 2), 7.0))
    x.grad = previous
    y = leaf(rand(3, 2, seed=7))  # no gradient before: stays None
    assert gradcheck(lambda a, b: a * b, x, y)
    assert x.grad is previous and (previous.data == 7.0).all()
    assert y.grad is None
    assert x.data is data and np.array_equal(x.data, rand(3, 2, seed=6))
    # also when it fails
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: WrongSignExp.apply(a), x)
    assert x.grad is previous and x.data is data and np.array_equal(x.data, rand(3, 2, seed=6))


def test_gradcheck_accepts_a_read_only_input():
    a = np.broadcast_to(rand(3, seed=8), (2, 3))  # read-only view
    x = Tensor(a, requires_grad=True)
    assert gradcheck(lambda t: t * t, x)
    assert x.data is a


# ------------------------------------------------------------------------------------ a user-defined Function


class ScaledSoftsign(Function):
    """z = s·x / (1 + |x|) + y (y broadcast);  dz/dx = s / (1 + |x|)², dz/dy = 1.

    An example of the public way to add an op: forward and backward on arrays, an option passed through
    `apply`, arrays (not Tensors) saved on `self`, `needs_input_grad` respected, and the gradient for `y` left in
    the output's broadcast shape for the engine to sum down.
    """

    calls: list = []

    def forward(self, x, y, scale=1.0):
        self.scale, self.denom = scale, 1 + np.abs(x)
        return scale * x / self.denom + y

    def backward(self, g):
        nx, ny = self.needs_input_grad
        ScaledSoftsign.calls.append((nx, ny))
        return (g * self.scale / self.denom**2 if nx else None), (g if ny else None)


def test_user_defined_function_end_to_end():
    x, y = leaf(rand(3, 4, seed=9)), leaf(rand(4, seed=10))
    out = ScaledSoftsign.apply(x, y, scale=2.5)
    assert type(out.grad_fn) is ScaledSoftsign and out.grad_fn.parents == (x, y)
    np.testing.assert_allclose(out.data, 2.5 * x.data / (1 + np.abs(x.data)) + y.data)
    # hand-derived gradient with a random cotangent, through a larger graph
    v = cotangents((3, 4), seed=11)
    (ScaledSoftsign.apply(x, y, scale=2.5).exp()).backward(v)
    z = np.exp(out.data)
    np.testing.assert_allclose(x.grad.data, v * z * 2.5 / (1 + np.abs(x.data)) ** 2, rtol=1e-12)
    np.testing.assert_allclose(y.grad.data, (v * z).sum(0), rtol=1e-12)  # unbroadcast by the engine
    # finite differences agree
    assert gradcheck(lambda a, b: ScaledSoftsign.apply(a, b, scale=-0.7), leaf(rand(2, 3, seed=12)),
                     leaf(rand(1, 3, seed=13)))


def test_user_function_needs_input_grad_and_no_grad():
    ScaledSoftsign.calls.clear()
    x, y = leaf(rand(3)), Tensor(rand(3, seed=14))
    ScaledSoftsign.apply(x, y).backward(np.ones(3))
    assert ScaledSoftsign.calls == [(True, False)] and y.grad is None
    with no_grad():
        out = ScaledSoftsign.apply(x, y)
    assert out.grad_fn is None and not out.requires_grad
    out = ScaledSoftsign.apply(Tensor(rand(3)), y)  # no input requires grad: no node
    assert out.grad_fn is None


def test_user_function_gradient_is_cast_to_the_input_dtype():
    class Float64Backward(Function):
        def forward(self, x):
            return x * 3

        def backward(self, g):
            return g.astype(np.float64) * 3  # a float64 gradient for a float32 input

    x = Tensor(np.ones(2, np.float32), requires_grad=True)
    Float64Backward.apply(x).backward(np.ones(2, np.float32))
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [3, 3])


# ------------------------------------------------------------------------------------------------ gradgradcheck


class Cube(Function):
    """x³ in PyTorch style, its backward g·3x² written in Tensor ops: differentiable again."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2


class CubeDetachedFromX(Cube):
    """Right first derivative, but computed from x.detach(): the second derivative it implies in x is 0."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x.detach() ** 2


class CubeDetachedFromG(Cube):
    """Right first derivative, but g.detach(): its derivative with respect to the cotangent is lost."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.detach() * 3 * x**2


def test_gradgradcheck_passes_correct_second_derivatives():
    x, w = leaf(rand(3, 4)), leaf(rand(4, 2, seed=1))
    assert gradgradcheck(lambda a, b: (a @ b).tanh().softmax(0), x, w) is True
    assert gradgradcheck(lambda a: Cube.apply(a).sin(), x)
    assert gradgradcheck(lambda a, i: a[i] ** 3, x, Tensor(np.array([0, 0, 2])))  # non-float input passed through
    assert gradgradcheck((lambda a, b: a * b.exp()), (x, leaf(rand(1, 4, seed=2))))  # PyTorch's tuple form


@pytest.mark.parametrize("op", [CubeDetachedFromX, CubeDetachedFromG], ids=["detached_x", "detached_g"])
def test_gradgradcheck_catches_a_backward_right_only_in_value(op):
    x = leaf(rand(2, 3) + 0.5)
    assert gradcheck(op.apply, x)  # the first derivative is right ...
    with pytest.raises(GradcheckError, match="analytic"):
        gradgradcheck(op.apply, x)  # ... as a number, not as a function
    assert gradgradcheck(op.apply, x, raise_exception=False) is False


def test_gradgradcheck_uses_the_given_grad_outputs():
    """With a zero cotangent the detached-from-x second derivative (0·6x) is invisible; a random one shows it."""
    x = leaf(rand(3) + 0.5)
    assert gradgradcheck(CubeDetachedFromX.apply, x, grad_outputs=np.zeros(3))
    with pytest.raises(GradcheckError):
        gradgradcheck(CubeDetachedFromX.apply, x, grad_outputs=Tensor(rand(3, seed=4)))


def test_gradgradcheck_of_functions_with_constant_first_derivatives():
    """Linear functions, and sign (derivative 0): the first derivative does not depend on x, its own is 0."""
    x = leaf(rand(2, 3) + 0.1)
    assert gradgradcheck(lambda a: a * 2.0 - 1.0, x)
    assert gradgradcheck(lambda a: a.T.reshape(-1)[::-1], x)
    assert gradgradcheck(Tensor.sign, x)


def test_gradgradcheck_on_non_contiguous_inputs():
    for layout in ("transposed", "strided", "reversed"):
        x = leaf(with_layout(rand(3, 4, seed=4), layout))
        assert gradgradcheck(lambda a: (a * a.sin()) @ np.ones((4, 2)), x)


def test_gradgradcheck_rejects_float32_and_inputs_without_grad_and_first_order_functions():
    with pytest.raises(TypeError, match="float64.*float32"):
        gradgradcheck(Tensor.exp, Tensor(np.ones(3, np.float32), requires_grad=True))
    with pytest.raises(ValueError, match="no input requires grad"):
        gradgradcheck(Tensor.exp, Tensor(np.ones(3)))
    with pytest.raises(RuntimeError, match="array-style Function, which is first order only"):
        gradgradcheck(lambda a: OffByAFactor.apply(a), leaf(rand(3)))  # an array-style user Function


def test_gradgradcheck_leaves_grad_and_data_as_they_were():
    data = with_layout(rand(3, 2, seed=6), "strided")
    x = Tensor(data, requires_grad=True)
    previous = Tensor(np.full((3, 2), 7.0))
    x.grad = previous
    y = leaf(rand(3, 2, seed=7))
    assert gradgradcheck(lambda a, b: a * b * a, x, y)
    assert x.grad is previous and (previous.data == 7.0).all() and y.grad is None
    assert x.data is data and np.array_equal(x.data, rand(3, 2, seed=6))
    with pytest.raises(GradcheckError):
        gradgradcheck(CubeDetachedFromX.apply, x)
    assert x.grad is previous and x.data is data and np.array_equal(x.data, rand(3, 2, seed=6))
