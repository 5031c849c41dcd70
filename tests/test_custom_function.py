"""User-defined Functions in both styles. PyTorch style is checked against the very same class body written as a
`torch.autograd.Function` (values, gradients, second derivatives, ctx behaviour); mistakes must raise saying what
to write, pointing at the README section; the array style keeps working."""
import re

import numpy as np
import pytest

import tinygrad_np
from tinygrad_np import Function, Tensor, gradcheck, gradgradcheck, no_grad
from tinygrad_np.autograd import grad

torch = pytest.importorskip("torch")

README = "Writing your own Function"


def ours(a, requires_grad=False):
    return Tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


def theirs(a, requires_grad=False):
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


def arr(t):
    if isinstance(t, Tensor):
        return t.data
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def same(a, b):
    np.testing.assert_allclose(arr(a), arr(b), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# the Functions, defined once per library from the same body


def define(Base):
    class ScaledExp(Base):
        """exp(scale · x): saves its output; `scale` is a number."""

        @staticmethod
        def forward(ctx, x, scale):
            out = (x * scale).exp()
            ctx.save_for_backward(out)
            ctx.scale = scale
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return g * out * ctx.scale, None

    class Bilinear(Base):
        """x · w + b with broadcasting (w's gradient is summed back by the engine); saves its inputs."""

        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            ctx.needs = ctx.needs_input_grad
            return x * w + b

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            nx, nw, nb = ctx.needs_input_grad
            return (g * w if nx else None), (g * x if nw else None), (g if nb else None)

    class Cube(Base):
        """x³ with backward written as Tensor ops: differentiable again."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    class ArgMaxMask(Base):
        """A 0/1 mask of the maximum: not differentiable."""

        @staticmethod
        def forward(ctx, x):
            mask = (x == x.max()) * 1.0
            ctx.mark_non_differentiable(mask)
            return mask

        @staticmethod
        def backward(ctx, g):
            return None

    class Identity(Base):
        """Returns its input as it is (PyTorch makes that a view of the input)."""

        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    return ScaledExp, Bilinear, Cube, ArgMaxMask, Identity


OURS = dict(zip(["ScaledExp", "Bilinear", "Cube", "ArgMaxMask", "Identity"], define(Function)))
THEIRS = dict(zip(["ScaledExp", "Bilinear", "Cube", "ArgMaxMask", "Identity"], define(torch.autograd.Function)))


def test_values_and_gradients_match_torch():
    rng = np.random.default_rng(0)
    X, W, B = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    G = rng.standard_normal((3, 4))
    results = []
    for fns, make in ((OURS, ours), (THEIRS, theirs)):
        x, w, b = make(X, True), make(W, True), make(B, True)
        y = fns["ScaledExp"].apply(x, 0.5)
        z = fns["Bilinear"].apply(y, w, b)
        (z * make(G)).sum().backward()
        results.append((y, z, x.grad, w.grad, b.grad))
    for a, b in zip(*results):
        same(a, b)


def test_needs_input_grad_matches_torch():
    seen = []
    for fns, make in ((OURS, ours), (THEIRS, theirs)):
        x, w, b = make([1.0, 2.0], True), make([3.0, 4.0]), make([0.5, 0.5], True)
        ctx_needs = []
        z = fns["Bilinear"].apply(x, w, b)
        ctx_needs.append(z.grad_fn.needs)
        z.sum().backward()
        seen.append((tuple(ctx_needs[0]), w.grad is None, arr(x.grad).tolist(), arr(b.grad).tolist()))
    assert seen[0] == seen[1]


def test_second_derivative_through_a_tensor_op_backward_matches_torch():
    results = []
    for fns, make, gradfn in ((OURS, ours, grad), (THEIRS, theirs, torch.autograd.grad)):
        x = make([0.5, -1.0, 2.0], True)
        y = fns["ScaledExp"].apply(fns["Cube"].apply(x), 0.3)
        (g,) = gradfn(y.sum(), x, create_graph=True)
        (h,) = gradfn((g * g).sum(), x)
        results.append((g, h))
    for a, b in zip(*results):
        same(a, b)
    x = ours([0.5, -1.0, 2.0], True)
    assert gradgradcheck(lambda t: OURS["ScaledExp"].apply(OURS["Cube"].apply(t), 0.3), x)
    assert gradcheck(lambda t, u, c: OURS["Bilinear"].apply(t, u, c), x, ours([1.0, 2.0, 3.0], True),
                     ours([0.1, 0.2, 0.3], True))


def test_mark_non_differentiable():
    for fns, make in ((OURS, ours), (THEIRS, theirs)):
        x = make([1.0, 3.0, 2.0], True)
        m = fns["ArgMaxMask"].apply(x)
        assert not m.requires_grad
        np.testing.assert_array_equal(arr(m), [0.0, 1.0, 0.0])


def test_an_input_returned_as_it_is_becomes_a_view():
    for fns, make in ((OURS, ours), (THEIRS, theirs)):
        x = make([1.0, 2.0], True)
        y = fns["Identity"].apply(x)
        assert y is not x and y.requires_grad
        y.sum().backward()
        same(x.grad, np.array([2.0, 2.0]))
        a = x * 1
        z = fns["Identity"].apply(a)
        with pytest.raises(RuntimeError, match="view"):
            z.mul_(2)  # PyTorch forbids it as well: the custom backward would be bypassed


def test_non_tensor_arguments_are_passed_through():
    seen = []

    class Tag(Function):
        @staticmethod
        def forward(ctx, x, name, power, options):
            seen.append((name, power, options))
            ctx.power = power
            ctx.save_for_backward(x)
            return x ** power

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * ctx.power * x ** (ctx.power - 1), None, None, None

    x = ours([1.0, 2.0], True)
    Tag.apply(x, "label", 3, {"k": 1}).sum().backward()
    assert seen == [("label", 3, {"k": 1})]
    same(x.grad, np.array([3.0, 12.0]))


def test_saved_tensor_changed_in_place_raises_like_torch():
    """torch checks each saved tensor's version at backward: a saved input changed raises, an unsaved one does not."""
    for fns, make in ((OURS, ours), (THEIRS, theirs)):
        x, w = make([1.0, 2.0], True), make([3.0, 4.0], True)
        a = x * 1
        z = fns["Bilinear"].apply(a, w, make([0.0, 0.0]))  # saves a and w
        with (no_grad() if make is ours else torch.no_grad()):
            w.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
            z.sum().backward()
        if make is ours:
            assert re.search(r"Bilinear's saved tensor 1 .* is at version 1; expected version 0", str(info.value))
        b = make([5.0, 6.0], True)
        c = b * 1
        z = fns["Bilinear"].apply(a, w, c)  # c is not saved
        with (no_grad() if make is ours else torch.no_grad()):
            c.mul_(3)
        z.sum().backward()
        same(b.grad, np.array([1.0, 1.0]))


def test_saved_output_changed_in_place_raises_like_torch():
    for fns, make in ((OURS, ours), (THEIRS, theirs)):
        x = make([1.0, 2.0], True)
        y = fns["ScaledExp"].apply(x, 2.0)
        y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_subclass_of_a_pytorch_style_function():
    class LoudCube(OURS["Cube"]):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x * 10

    class SameCube(OURS["Cube"]):
        pass

    x = ours([1.0, 2.0], True)
    LoudCube.apply(x).sum().backward()
    same(x.grad, np.array([30.0, 120.0]))
    x.grad = None
    SameCube.apply(x).sum().backward()
    same(x.grad, np.array([3.0, 12.0]))


# ---------------------------------------------------------------------------------------------------------------
# mistakes: each says what to write and where to read about it


def _raises_pointing_at_readme(exc_type, fn, *patterns):
    with pytest.raises(exc_type) as info:
        fn()
    message = str(info.value)
    assert README in message, message
    for p in patterns:
        assert re.search(p, message), (p, message)


def test_forgetting_staticmethod_on_backward():
    def define_it():
        class Half(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            def backward(ctx, g):
                return g

    _raises_pointing_at_readme(TypeError, define_it, r"backward is not a @staticmethod", r"@staticmethod def backward")


def test_forgetting_staticmethod_on_forward():
    def define_it():
        class Half(Function):
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

    _raises_pointing_at_readme(TypeError, define_it, r"forward is not a @staticmethod", r"@staticmethod def forward")


def test_returning_several_outputs_is_not_supported():
    class Split(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + g2 * 3

    _raises_pointing_at_readme(TypeError, lambda: Split.apply(ours([1.0], True)), r"returned 2 outputs",
                               r"not supported")


def test_returning_the_wrong_number_of_gradients():
    class Forgot(Function):
        @staticmethod
        def forward(ctx, x, scale):
            return x * scale

        @staticmethod
        def backward(ctx, g):
            return g * 2  # forgot the None for `scale`

    y = Forgot.apply(ours([1.0], True), 2.0)
    _raises_pointing_at_readme(RuntimeError, lambda: y.sum().backward(), r"returned 1 gradient, but forward took 2 "
                               r"arguments", r"None for")


def test_a_gradient_for_a_non_tensor_argument():
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x, scale):
            return x * scale

        @staticmethod
        def backward(ctx, g):
            return g * 2, g  # torch raises too: "the corresponding forward input was not a Variable"

    y = Wrong.apply(ours([1.0], True), 2.0)
    _raises_pointing_at_readme(RuntimeError, lambda: y.sum().backward(), r"position 1", r"return None there")


def test_keyword_arguments_to_apply():
    _raises_pointing_at_readme(TypeError, lambda: OURS["ScaledExp"].apply(ours([1.0], True), scale=2.0),
                               r"keyword arguments \(scale\)", r"positionally")


def test_forward_returning_an_array():
    class Arrays(Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    _raises_pointing_at_readme(TypeError, lambda: Arrays.apply(ours([1.0], True)), r"returns a Tensor")


# ---------------------------------------------------------------------------------------------------------------
# the array style


class ArrayScale(Function):
    """z = x · s for a number s;  dz/dx = s."""

    def forward(self, x, s):
        self.s = s
        return x * s

    def backward(self, g):
        return g * self.s, None


def test_array_style_with_a_python_float():
    x = ours([1.0, 2.0], True)
    y = ArrayScale.apply(x, 2.5)
    (y * ours([1.0, -1.0])).sum().backward()
    same(y, np.array([2.5, 5.0]))
    same(x.grad, np.array([2.5, -2.5]))
    assert gradcheck(lambda t: ArrayScale.apply(t, 2.5), ours([0.3, -0.2], True))


def test_array_style_refuses_second_order_clearly():
    x = ours([1.0, 2.0], True)
    y = ArrayScale.apply(x, 2.5)
    _raises_pointing_at_readme(RuntimeError, lambda: grad(y.sum(), x, create_graph=True), r"ArrayScale",
                               r"array-style", r"first order", r"PyTorch style")


def test_array_style_forward_returning_a_tensor_points_to_the_pytorch_style():
    class Confused(Function):
        def forward(self, x):
            return Tensor(x) * 2

        def backward(self, g):
            return g * 2

    _raises_pointing_at_readme(TypeError, lambda: Confused.apply(ours([1.0], True)), r"@staticmethod")


def test_public_names():
    assert tinygrad_np.Function is Function
