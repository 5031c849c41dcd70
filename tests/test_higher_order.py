"""Second and higher derivatives of every built-in op, and the rules of `autograd.grad` / `backward` around them.

1. Every op twice: `gradgradcheck` (finite differences of the recorded first derivative, with respect to the inputs
   and to the cotangent) on hypothesis-generated shapes, values and memory layouts, after checking that the first
   derivative recorded under create_graph equals the plain one (the same formula on Tensors and on arrays).
2. Third and higher orders by nested `grad(create_graph=True)`: against finite differences of the second
   derivative, closed forms, and PyTorch.
3. Hessians and Hessian-vector products against `torch.autograd.functional` in float64.
4. Memory: training with a gradient penalty leaves no reference cycles (PyTorch leaks through p → p.grad → p).
5. The rules of `grad` / `backward` (side effects, retain_graph, unused inputs, `inputs=`) against PyTorch.

Inputs stay away from kinks and ties (where finite differences are meaningless), as in test_ops_grad.py, whose op
tables are reused; at ties and kinks the conventions are compared with PyTorch instead.
"""
from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import arrays, axes, basic_indices, broadcastable_shapes, cat_operands, cotangents, shapes
from test_ops_grad import BINARY, UNARY, matmul_shapes, norm_axes

from tinygrad_np import Function, Tensor, cat, gradgradcheck, stack, where
from tinygrad_np.autograd import grad

# PyTorch warns about the p → p.grad cycle its backward(create_graph=True) makes (the cycle we do not make)
pytestmark = pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True:UserWarning")
EXAMPLES = settings(max_examples=20, deadline=None)  # gradgradcheck costs a few times gradcheck: fewer examples


def leaf(a) -> Tensor:
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def check2(fn, *inputs: np.ndarray, seed: int = 0, **kwargs) -> None:
    """`fn`'s second derivatives at `inputs` (every one requires grad).

    First the first derivative recorded under create_graph is compared with the plain one (each backward formula
    runs on Tensors there and on arrays here: the two branches must agree); then `gradgradcheck` differentiates the
    recorded one again and compares with finite differences, with respect to the inputs and to the cotangent.
    """
    ts = [leaf(a) for a in inputs]
    out = fn(*ts)
    v = cotangents(out.shape, seed=seed)
    plain = grad(out, ts, grad_outputs=Tensor(v), allow_unused=True)
    recorded = grad(fn(*ts), ts, grad_outputs=Tensor(v), create_graph=True, allow_unused=True)
    for p, r, t in zip(plain, recorded, ts):
        assert (p is None) == (r is None)
        if r is not None:
            assert r.shape == t.shape and r.dtype == t.dtype
            np.testing.assert_allclose(r.data, p.data, rtol=1e-12, atol=1e-14)
    assert gradgradcheck(fn, *ts, seed=seed, **kwargs)


seeds = st.integers(0, 2**16)  # a different random cotangent in every example

# ---------------------------------------------------------------------------------------------- unary elementwise

# test_ops_grad.UNARY plus what it lacks, and the powers whose derivatives reach x⁰ (nan at 0 before the fix)
UNARY2 = {name: (fn, lo, hi, kinks, margin) for name, (fn, _, lo, hi, kinks, margin) in UNARY.items()}
UNARY2.update({
    "erf": (Tensor.erf, -2, 2, (), 0),
    "pow_0": (lambda t: t**0, -2, 2, (), 0),
    "pow_1": (lambda t: t**1, -2, 2, (), 0),
    "pow_4": (lambda t: t**4, -2, 2, (), 0),
    "pow_neg_int": (lambda t: t**-2, -3, 3, (0.0,), 0.5),  # a negative base with an integer exponent
    "leaky_relu": (lambda t: t.leaky_relu(0.3), -2, 2, (0.0,), 0.05),
    "clamp_both": (lambda t: t.clamp(-1.0, 1.2), -2, 2, (-1.0, 1.2), 0.05),
    "softplus_linear_part": (lambda t: t.softplus(beta=3.0, threshold=1.0), -1, 2, (1 / 3,), 0.05),
    "neg_method": (Tensor.__neg__, -2, 2, (), 0),
})


@pytest.mark.parametrize("name", UNARY2)
@EXAMPLES
@given(data=st.data())
def test_unary_second_order(name, data):
    fn, lo, hi, kinks, margin = UNARY2[name]
    x = data.draw(arrays(shapes(), lo, hi, kinks=kinks, margin=margin or 0.05))
    check2(fn, x, seed=data.draw(seeds))


def test_powers_at_zero_match_torch():
    """x ** k at x = 0, every derivative up to the 4th: PyTorch defines d(x⁰)/dx = 0 (y·x^(y−1) would be 0·∞ =
    nan), so x ** 0 has gradient 0 at 0, x ** 1 second derivative 0, x ** 2 third derivative 0."""
    torch = pytest.importorskip("torch")
    for k in (0, 1, 2, 3, 4):
        x = leaf(np.array([0.0, 0.5, -1.5]))
        tx = torch.tensor([0.0, 0.5, -1.5], dtype=torch.float64, requires_grad=True)
        d, td = x**k, tx**k
        for order in range(1, 5):
            d, = grad(d.sum(), x, create_graph=True)
            td, = torch.autograd.grad(td.sum(), tx, create_graph=True)
            np.testing.assert_array_equal(d.data, td.detach().numpy(), err_msg=f"x**{k}, order {order}")
            assert np.isfinite(d.data).all()
            if not td.requires_grad:  # PyTorch's derivative of x⁰ is a constant: every further one is 0
                td = td + tx * 0.0


def test_tensor_power_special_points_match_torch():
    """x ** y with a tensor exponent at x = 0 and at negative bases: first derivatives exactly PyTorch's (d/dx is 0
    where y = 0, d/dy is 0 where x = 0 and y ≥ 0, nan for a negative base); d²/dx² equal wherever PyTorch's is a
    number (where its 0·∞ makes nan, at x = y = 0 and x = 0, y = 1, ours is the finite limit, 0)."""
    torch = pytest.importorskip("torch")
    xs = np.array([0.0, 0.0, 0.0, 0.0, 0.0, -2.0, -2.0, -2.0, 2.0, 0.5])
    ys = np.array([0.0, 1.0, 2.0, 0.5, -1.0, 2.0, 3.0, -1.0, 0.0, -0.5])
    x, y = leaf(xs), leaf(ys)
    tx, ty = (torch.tensor(a, requires_grad=True) for a in (xs, ys))
    with np.errstate(divide="ignore", invalid="ignore"):
        dx, dy = grad((x**y).sum(), [x, y], create_graph=True)
        tdx, tdy = torch.autograd.grad((tx**ty).sum(), [tx, ty], create_graph=True)
        np.testing.assert_array_equal(dx.data, tdx.detach().numpy())
        np.testing.assert_array_equal(dy.data, tdy.detach().numpy())
        dxx, = grad(dx.sum(), x)
        tdxx, = torch.autograd.grad(tdx.sum(), tx)
    known = ~np.isnan(tdxx.numpy())
    np.testing.assert_array_equal(dxx.data[known], tdxx.numpy()[known])
    np.testing.assert_array_equal(dxx.data[:2], [0.0, 0.0])


# --------------------------------------------------------------------------------------------- binary elementwise


@pytest.mark.parametrize("name", BINARY)
@EXAMPLES
@given(data=st.data())
def test_binary_second_order(name, data):
    """Both operands differentiable, broadcast against each other (size-1 axes, 0-d, differing ranks)."""
    fn, _, dx, dy = BINARY[name]
    sx, sy = data.draw(broadcastable_shapes(2))
    check2(fn, data.draw(arrays(sx, **dx)), data.draw(arrays(sy, **dy)), seed=data.draw(seeds))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
@pytest.mark.parametrize("side", [0, 1])
@EXAMPLES
@given(data=st.data())
def test_binary_second_order_one_side_constant(name, side, data):
    """Only one operand requires grad (the other is a constant Tensor): the backward formulas' other branch."""
    fn, _, dx, dy = BINARY[name]
    sx, sy = data.draw(broadcastable_shapes(2))
    x, y = data.draw(arrays(sx, **dx)), data.draw(arrays(sy, **dy))
    if side == 0:
        check2(lambda a: fn(a, Tensor(y)), x, seed=data.draw(seeds))
    else:
        check2(lambda b: fn(Tensor(x), b), y, seed=data.draw(seeds))


@EXAMPLES
@given(data=st.data())
def test_pow_tensor_exponent_negative_base(data):
    """A negative base with an integer-valued tensor exponent: defined, and twice differentiable in the base (the
    exponent's derivative z·ln x is nan there, as in PyTorch, so it is held constant)."""
    sx, sy = data.draw(broadcastable_shapes(2))
    x = data.draw(arrays(sx, -2, 2, kinks=(0.0,), margin=0.3))
    y = np.round(data.draw(arrays(sy, -3, 3)))
    check2(lambda a: a ** Tensor(y), x, seed=data.draw(seeds))
    check2(lambda a: a ** y, x, seed=data.draw(seeds))  # an array exponent


@EXAMPLES
@given(data=st.data())
def test_where_second_order(data):
    sc, sx, sy = data.draw(broadcastable_shapes(3))
    cond = data.draw(arrays(sc)) > 0
    x, y = data.draw(arrays(sx)), data.draw(arrays(sy))
    seed = data.draw(seeds)
    check2(lambda a, b: where(Tensor(cond), a * a, b.sin()), x, y, seed=seed)
    check2(lambda a, b: (a * b).where(cond, b.exp()), x, y, seed=seed)
    check2(lambda a: where(cond, a.tanh(), 0.5), x, seed=seed)
    check2(lambda b: where(cond, -0.5, b * b), y, seed=seed)


# ------------------------------------------------------------------------------------------- matmul and linear


@EXAMPLES
@given(data=st.data())
def test_matmul_second_order(data):
    """1-D on either side, 2-D, batched with broadcast batch axes. x @ y is bilinear: its second derivative is
    all in the cross terms, which gradgradcheck reaches through both inputs and the cotangent."""
    sx, sy = data.draw(matmul_shapes())
    x, y = data.draw(arrays(sx)), data.draw(arrays(sy))
    seed = data.draw(seeds)
    check2(lambda a, b: a @ b, x, y, seed=seed)
    check2(lambda a, b: (a @ b).sin(), x, y, seed=seed)  # a curved function of the product too
    check2(lambda a: a.matmul(Tensor(y)), x, seed=seed)
    check2(lambda b: Tensor(x).dot(b), y, seed=seed)


@pytest.mark.parametrize("sx, sy", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((5, 2, 3), (3, 4)),
                                    ((3,), (2, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((2, 3), (4, 1, 3, 2))])
def test_matmul_second_order_named_cases(sx, sy):
    rng = np.random.default_rng(1)
    check2(lambda a, b: (a @ b).tanh(), rng.standard_normal(sx), rng.standard_normal(sy))


@EXAMPLES
@given(data=st.data())
def test_linear_second_order(data):
    """x Wᵀ + b for x of 1, 2 or 3 axes, with no bias, a vector bias or a 0-d bias."""
    n_in, n_out = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    lead = data.draw(st.sampled_from([(), (2,), (3,), (2, 3), (1, 2)]))
    x = data.draw(arrays(lead + (n_in,)))
    w = data.draw(arrays((n_out, n_in)))
    bias = data.draw(st.sampled_from(["none", "vector", "0-d"]))
    seed = data.draw(seeds)
    if bias == "none":
        check2(lambda a, b: a.linear(b), x, w, seed=seed)
        check2(lambda a, b: a.linear(b).tanh(), x, w, seed=seed)
    else:
        b = data.draw(arrays((n_out,) if bias == "vector" else ()))
        check2(lambda a, c, d: a.linear(c, d), x, w, b, seed=seed)
        check2(lambda a, c, d: a.linear(c, d).sigmoid(), x, w, b, seed=seed)
        check2(lambda c: Tensor(x).linear(c, Tensor(b)).exp(), w, seed=seed)  # only the weight needs grad
        check2(lambda d: Tensor(x).linear(Tensor(w), d).sin(), b, seed=seed)  # only the bias


# --------------------------------------------------------------------------------------------------- reductions


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "var", "std", "logsumexp"])
@EXAMPLES
@given(data=st.data())
def test_reduction_second_order(name, data):
    x = data.draw(arrays(shapes(), distinct=name in ("amax", "amin", "std")))
    axis = data.draw(axes(x.ndim))
    keepdim = data.draw(st.booleans())
    ax = norm_axes(axis, x.ndim)
    if name in ("var", "std") and math.prod(x.shape[a] for a in ax) < 2:  # N − 1 must be positive
        x = np.concatenate([x.reshape(-1), x.reshape(-1) + 0.37])
        axis = data.draw(st.sampled_from([None, 0, -1]))
    seed = data.draw(seeds)
    check2(lambda t: getattr(t, name)(axis, keepdim=keepdim), x, seed=seed)  # (var's 2nd positional is unbiased)
    # a curved function of the reduction, so that the second derivative has the reduction's own Jacobian twice
    check2(lambda t: getattr(t, name)(axis=axis, keepdim=keepdim).sin() * t.sum(), x, seed=seed)


@pytest.mark.parametrize("correction", [0, 2])
@EXAMPLES
@given(data=st.data())
def test_var_std_correction_second_order(correction, data):
    x = data.draw(arrays(shapes(min_dims=1, min_side=3), distinct=True))
    axis = data.draw(axes(x.ndim))
    seed = data.draw(seeds)
    check2(lambda t: t.var(axis, correction=correction), x, seed=seed)
    check2(lambda t: t.std(dim=axis, correction=correction, keepdim=True), x, seed=seed)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@EXAMPLES
@given(data=st.data())
def test_softmax_second_order(name, data):
    x = data.draw(arrays(shapes(min_dims=1), -3, 3))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    seed = data.draw(seeds)
    check2(lambda t: getattr(t, name)(axis), x, seed=seed)
    check2(lambda t: getattr(t, name)(dim=axis) * t, x, seed=seed)
    check2(lambda t: getattr(t, name)(), x, seed=seed)


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_max_min_ties_second_order_match_torch(reduce):
    """At ties the gradient is shared equally (PyTorch's amax/amin); the first derivative g·share is then linear in
    g and constant in x: its derivative with respect to g is the share, with respect to x zero (x unused)."""
    torch = pytest.importorskip("torch")
    xs = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 0.0], [-1.0, -1.0, 4.0, -1.0]])
    if reduce == "min":
        xs = -xs
    for axis in (1, 0, None):
        x, tx = leaf(xs), torch.tensor(xs, requires_grad=True)
        out = getattr(x, "a" + reduce)(axis)
        tout = getattr(tx, "a" + reduce)(dim=axis) if axis is not None else getattr(tx, "a" + reduce)()
        u = cotangents(out.shape, seed=1)
        g, tg = leaf(u), torch.tensor(u, requires_grad=True)
        d1, = grad(out, x, grad_outputs=g, create_graph=True)
        td1, = torch.autograd.grad(tout, tx, grad_outputs=tg, create_graph=True)
        np.testing.assert_allclose(d1.data, td1.detach().numpy(), rtol=1e-14)
        w = cotangents(xs.shape, seed=2)
        dg, dx = grad(d1, [g, x], grad_outputs=Tensor(w), allow_unused=True)
        tdg, tdx = torch.autograd.grad(td1, [tg, tx], grad_outputs=torch.tensor(w), allow_unused=True)
        np.testing.assert_allclose(dg.data, tdg.numpy(), rtol=1e-14)
        assert dx is None and tdx is None


def test_maximum_minimum_ties_second_order_match_torch():
    torch = pytest.importorskip("torch")
    xs, ys = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 5.0, 0.0, -1.0])
    for op in ("maximum", "minimum"):
        x, y = leaf(xs), leaf(ys)
        tx, ty = torch.tensor(xs, requires_grad=True), torch.tensor(ys, requires_grad=True)
        u = cotangents((4,), seed=3)
        g, tg = leaf(u), torch.tensor(u, requires_grad=True)
        dx, dy = grad(getattr(x, op)(y), [x, y], grad_outputs=g, create_graph=True)
        tdx, tdy = torch.autograd.grad(getattr(tx, op)(ty), [tx, ty], grad_outputs=tg, create_graph=True)
        np.testing.assert_allclose(dx.data, tdx.detach().numpy(), rtol=1e-14)
        np.testing.assert_allclose(dy.data, tdy.detach().numpy(), rtol=1e-14)
        w = cotangents((4,), seed=4)
        dg, = grad((dx * Tensor(w)).sum() + dy.sum(), g)
        tdg, = torch.autograd.grad((tdx * torch.tensor(w)).sum() + tdy.sum(), tg)
        np.testing.assert_allclose(dg.data, tdg.numpy(), rtol=1e-14)


# ---------------------------------------------------------------------------------------------- movement (shape)
# Linear maps: the second derivative lives in the cotangent's path (gradgradcheck differentiates the first
# derivative with respect to it), and in the product with a curved function, which is checked too.


def _curved(fn):
    return lambda t: fn(t) * fn(t.sin())


@EXAMPLES
@given(data=st.data())
def test_reshape_flatten_squeeze_unsqueeze_second_order(data):
    x = data.draw(arrays(shapes()))
    n, nd = x.size, x.ndim
    target = data.draw(st.sampled_from([(n,), (1, n), (n, 1), x.shape[::-1], (-1,), (1, -1, 1)]))
    d = data.draw(st.integers(-nd - 1, nd))
    dim = data.draw(axes(nd))
    seed = data.draw(seeds)
    for fn in (lambda t: t.reshape(target), lambda t: t.view(*target), lambda t: t.flatten(),
               lambda t: t.unsqueeze(d), lambda t: t.squeeze(dim)):
        check2(_curved(fn), x, seed=seed)
    if nd:
        s, e = sorted([data.draw(st.integers(0, nd - 1)), data.draw(st.integers(0, nd - 1))])
        check2(_curved(lambda t: t.flatten(s - nd, e)), x, seed=seed)


@EXAMPLES
@given(data=st.data())
def test_permute_transpose_second_order(data):
    x = data.draw(arrays(shapes()))
    perm = data.draw(st.permutations(range(x.ndim)))
    seed = data.draw(seeds)
    check2(_curved(lambda t: t.permute(*perm)), x, seed=seed)
    check2(_curved(lambda t: t.T), x, seed=seed)
    if x.ndim:
        d0, d1 = data.draw(st.integers(-x.ndim, x.ndim - 1)), data.draw(st.integers(-x.ndim, x.ndim - 1))
        check2(_curved(lambda t: t.transpose(d0, d1)), x, seed=seed)


@EXAMPLES
@given(data=st.data())
def test_expand_second_order(data):
    sx, sy = data.draw(broadcastable_shapes(2))
    target = np.broadcast_shapes(sx, sy)
    x = data.draw(arrays(sx))
    check2(_curved(lambda t: t.expand(*target)), x, seed=data.draw(seeds))
    check2(lambda t: t.expand(*target) * t.expand(*target).exp(), x, seed=data.draw(seeds))


@EXAMPLES
@given(data=st.data())
def test_pad_flip_repeat_second_order(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    widths = [tuple(data.draw(st.integers(0, 2)) for _ in range(2)) for _ in range(x.ndim)]
    value = data.draw(st.sampled_from([0.0, -1.5]))
    dims = data.draw(axes(x.ndim))
    sizes = tuple(data.draw(st.lists(st.integers(1, 3), min_size=x.ndim, max_size=x.ndim + 1)))
    seed = data.draw(seeds)
    check2(_curved(lambda t: t.pad(widths, value=value)), x, seed=seed)
    check2(_curved(lambda t: t.flip(dims)), x, seed=seed)
    check2(_curved(lambda t: t.repeat(*sizes)), x, seed=seed)


@EXAMPLES
@given(data=st.data())
def test_cat_stack_second_order(data):
    base, axis, parts = data.draw(cat_operands(max_side=3))
    count = len(parts)
    seed = data.draw(seeds)
    check2(lambda *ts: cat([t * t for t in ts], dim=axis).sin(), *parts, seed=seed)
    same = [data.draw(arrays(base)) for _ in range(count)]
    d = data.draw(st.integers(-len(base) - 1, len(base)))
    check2(lambda *ts: stack([t.exp() for t in ts], dim=d) * ts[0].unsqueeze(d), *same, seed=seed)


def test_cat_of_one_tensor_second_order():
    """cat of a single tensor: its node kept np.cumsum([]), an empty float64 array, which create_graph refused as a
    differentiable value kept on the node."""
    check2(lambda a: cat([a * a]).sin(), np.random.default_rng(3).standard_normal((2, 3)))


# ------------------------------------------------------------------------------------------------------- indexing


@EXAMPLES
@given(data=st.data())
def test_getitem_basic_second_order(data):
    """ints, slices with any step (negative too), None, Ellipsis."""
    x = data.draw(arrays(shapes(min_dims=1)))
    index = data.draw(basic_indices(x.shape))
    check2(_curved(lambda t: t[index]), x, seed=data.draw(seeds))


@EXAMPLES
@given(data=st.data())
def test_getitem_advanced_second_order(data):
    """Integer arrays that pick an element several times (their gradients add: a scatter-add, whose own derivative
    is a gather), also after an Ellipsis and in pairs; boolean masks."""
    x = data.draw(arrays(shapes(min_dims=1)))
    n = x.shape[0]
    idx = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5))
    arr = np.array(idx + [idx[0]])
    seed = data.draw(seeds)
    check2(_curved(lambda t: t[arr]), x, seed=seed)
    check2(_curved(lambda t: t[Tensor(arr)]), x, seed=seed)
    last = arr % x.shape[-1]
    check2(_curved(lambda t: t[..., last]), x, seed=seed)
    if x.ndim >= 2:
        cols = arr % x.shape[1]
        check2(_curved(lambda t: t[arr, cols]), x, seed=seed)
        check2(_curved(lambda t: t[arr, 1:]), x, seed=seed)
    mask = data.draw(arrays(x.shape)) > 0
    check2(_curved(lambda t: t[mask]), x, seed=seed)
    check2(_curved(lambda t: t[Tensor(mask)]), x, seed=seed)


@EXAMPLES
@given(data=st.data())
def test_setitem_second_order(data):
    """`y[index] = v` recorded on an intermediate (IndexPut): derivatives through the kept part and through v."""
    x = data.draw(arrays(shapes(min_dims=1)))
    n = x.shape[0]
    rows = np.array(sorted(set(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n)))))
    v = data.draw(arrays(x.shape[1:]))

    def fn(a, b):
        y = a * a
        y[rows] = b.sin()
        return y * a

    check2(fn, x, v, seed=data.draw(seeds))


# ------------------------------------------------------------------------------------------------ cast, in-place


def test_cast_second_order():
    """Through float32 and back. Values, the cotangent and the step all lie on a grid of 1/16 and the function is a
    quadratic, so every number in the float32 stretch is exact and central differences are exact too."""
    x = leaf(np.array([[-1.25, 0.5, 2.0], [0.0625, -0.75, 1.5]]))
    u = np.array([[0.5, -1.0, 0.25], [1.5, 0.125, -0.5]])

    def fn(a):
        return (a.float() * 3.0 + 1.0).double() ** 2 * 0.5 - a * a.to(np.float32).to(np.float64)

    assert gradgradcheck(fn, x, grad_outputs=u, eps=2.0**-4)
    d1, = grad(fn(x), x, grad_outputs=Tensor(u), create_graph=True)
    np.testing.assert_array_equal(d1.data, u * (3 * (3 * x.data + 1)) - 2 * u * x.data)
    d2, = grad(d1.sum(), x)
    assert d2.dtype == np.float64
    np.testing.assert_array_equal(d2.data, (9.0 - 2.0) * u)


def test_float32_second_derivatives_stay_float32_and_match_torch():
    torch = pytest.importorskip("torch")
    xs = np.random.default_rng(5).uniform(-2, 2, (3, 4)).astype(np.float32)
    x, tx = Tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    g, = grad((x.tanh() * x.sin()).softmax(-1).log().sum(), x, create_graph=True)
    tg, = torch.autograd.grad((tx.tanh() * tx.sin()).softmax(-1).log().sum(), tx, create_graph=True)
    h, = grad((g * g).sum(), x)
    th, = torch.autograd.grad((tg * tg).sum(), tx)
    assert g.dtype == np.float32 and h.dtype == np.float32
    np.testing.assert_allclose(h.data, th.numpy(), rtol=2e-4, atol=1e-5)


def test_tracked_inplace_ops_second_order():
    """In-place ops on intermediates are recorded like their out-of-place forms, to every order."""
    x = np.random.default_rng(6).uniform(0.5, 2.0, (2, 3))

    def fn(a):
        y = a * 2.0
        y += a * a
        y.mul_(a.sin())
        y[0] = a[1].exp()
        y -= a
        return y * a

    check2(fn, x)


@pytest.mark.parametrize("op", ["exp_", "sqrt_", "tanh_", "sigmoid_", "relu_", "div_", "pow_"])
def test_tracked_inplace_ops_that_save_their_output_second_order(op):
    """An in-place op whose backward reads its output (eˣ, √x, tanh, σ, relu, x / y, x ** y): the tensor changed in
    place is that output, and create_graph must find it there."""
    x = np.random.default_rng(6).uniform(0.5, 2.0, (2, 3))
    args = {"div_": (1.5,), "pow_": (1.5,)}.get(op, ())

    def fn(a):
        y = a * a
        getattr(y, op)(*args)
        return y * a

    check2(fn, x)


# ------------------------------------------------------------------------------------------- third and higher


def _nested(f, x: Tensor, directions: list) -> Tensor:
    """∂/∂x of ⟨… ⟨∇⟨∇f, d₁⟩, d₂⟩ …⟩: the derivative of order len(directions) + 1, contracted with the directions."""
    d, = grad(f(x), x, create_graph=True)
    for direction in directions:
        d, = grad((d * Tensor(direction)).sum(), x, create_graph=True)
    return d


def _torch_nested(torch, f, x, directions: list):
    d, = torch.autograd.grad(f(x), x, create_graph=True)
    for direction in directions:
        d, = torch.autograd.grad((d * torch.tensor(direction)).sum(), x, create_graph=True)
    return d


def _mlp_loss(lib, x: np.ndarray, onehot: np.ndarray, shapes_: list):
    """Cross-entropy (via log_softmax) of a tanh MLP whose parameters are one flat vector θ (sliced, reshaped)."""
    def loss(theta):
        params, at = [], 0
        for s in shapes_:
            size = math.prod(s)
            params.append(theta[at:at + size].reshape(*s))
            at += size
        w1, b1, w2, b2 = params
        h = (lib(x) @ w1.T + b1).tanh()
        logp = (h @ w2.T + b2).log_softmax(-1)
        return -(logp * lib(onehot)).sum() * (1.0 / x.shape[0]) + (theta * theta).sum() * 0.01
    return loss


def _functions(lib, rng):
    """Scalar functions of one vector, for the third-order and Hessian tests; `lib` turns an array into a constant
    of the library (our Tensor or torch's)."""
    a = rng.standard_normal((4, 4))
    c = rng.standard_normal(4)
    x_batch, onehot = rng.standard_normal((5, 3)), np.eye(2)[rng.integers(0, 2, 5)]
    shapes_ = [(3, 3), (3,), (2, 3), (2,)]
    return {
        # name: (function, dimension)
        "tanh_times_sin": (lambda x: (x.tanh() * x.sin() * lib(c)).sum() + (x.tanh() @ lib(a) @ x.sin()), 4),
        "softmax_then_log": (lambda x: (x.reshape(2, 2).softmax(-1).log() * lib(a[:2, :2])).sum(), 4),
        "log_softmax_sq": (lambda x: (x.log_softmax(0) ** 2 * lib(c)).sum(), 4),
        "logsumexp": (lambda x: x.reshape(2, 2).logsumexp(1).sum() + x.logsumexp(0) * 0.5, 4),
        "quadratic_form": (lambda x: x @ lib(a) @ x + (x * lib(c)).sum(), 4),
        "matmul_chain": (lambda x: (x.reshape(2, 2) @ lib(a[:2, :2]) @ x.reshape(2, 2).T @ x.reshape(2, 2)).sum(),
                         4),
        "rational_exp": (lambda x: (x.exp() / (1.0 + x * x) + x.sqrt().log()).sum(), 4),
        "mlp_loss": (_mlp_loss(lib, x_batch, onehot, shapes_), sum(math.prod(s) for s in shapes_)),
    }


THIRD_ORDER = ["tanh_times_sin", "softmax_then_log", "log_softmax_sq", "logsumexp", "mlp_loss", "rational_exp"]


def _point(name, n, rng):
    return rng.uniform(0.5, 2.0, n) if name == "rational_exp" else rng.uniform(-1.0, 1.0, n) * 0.8


@pytest.mark.parametrize("name", THIRD_ORDER)
def test_third_order_against_finite_differences_and_torch(name):
    """T(u, w) = ∇(⟨∇⟨∇f, u⟩, w⟩) by nested grad; compared with central differences of the (second-order, itself
    gradgradchecked) Hessian-vector product ⟨H(x) u, w⟩, and with PyTorch's nested grads."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    f, n = _functions(Tensor, rng)[name]
    tf = _functions(torch.tensor, np.random.default_rng(7))[name][0]
    x0 = _point(name, n, rng)
    for _ in range(2):
        u, w = rng.standard_normal(n), rng.standard_normal(n)
        third = _nested(f, leaf(x0), [u, w]).data
        eps = 1e-5
        numeric = np.empty(n)
        for i in range(n):
            xp, xm = x0.copy(), x0.copy()
            xp[i] += eps
            xm[i] -= eps
            hp, hm = _nested(f, leaf(xp), [u]).data, _nested(f, leaf(xm), [u]).data
            numeric[i] = (hp - hm) @ w / (2 * eps)
        np.testing.assert_allclose(third, numeric, rtol=1e-5, atol=1e-6)
        tx = torch.tensor(x0, requires_grad=True)
        np.testing.assert_allclose(third, _torch_nested(torch, tf, tx, [u, w]).detach().numpy(), rtol=1e-10,
                                   atol=1e-12)


def test_full_third_derivative_tensor_against_torch():
    """All n³ third derivatives of a coupled function (basis directions), symmetric in its three indices."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    f = _functions(Tensor, rng)["tanh_times_sin"][0]
    tf = _functions(torch.tensor, np.random.default_rng(8))["tanh_times_sin"][0]
    x0 = rng.uniform(-1, 1, 4)
    eye = np.eye(4)
    t3 = np.array([[_nested(f, leaf(x0), [eye[j], eye[k]]).data for k in range(4)] for j in range(4)])
    tt3 = np.array([[_torch_nested(torch, tf, torch.tensor(x0, requires_grad=True), [eye[j], eye[k]])
                     .detach().numpy() for k in range(4)] for j in range(4)])
    np.testing.assert_allclose(t3, tt3, rtol=1e-10, atol=1e-12)
    for perm in [(0, 2, 1), (1, 0, 2), (2, 1, 0)]:
        np.testing.assert_allclose(t3, t3.transpose(perm), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, fn, nth", [
    ("exp", lambda x: x.exp(), lambda k, x: np.exp(x)),
    ("sin", lambda x: x.sin(), lambda k, x: np.sin(x + k * np.pi / 2)),
    ("cos", lambda x: x.cos(), lambda k, x: np.cos(x + k * np.pi / 2)),
    ("x**5", lambda x: x**5, lambda k, x: math.perm(5, k) * x ** (5 - k) if k <= 5 else 0 * x),
    ("1/x", lambda x: 1.0 / x, lambda k, x: (-1) ** k * math.factorial(k) / x ** (k + 1)),
    ("log", lambda x: x.log(), lambda k, x: (-1) ** (k - 1) * math.factorial(k - 1) / x**k),
    ("sqrt", lambda x: x.sqrt(), lambda k, x: np.prod([0.5 - i for i in range(k)]) * x ** (0.5 - k)),
])
def test_derivatives_up_to_order_six_closed_forms(name, fn, nth):
    """dᵏ/dxᵏ for k = 1 … 6 by nested grad, against the closed forms (at x away from 0, and at 0 for x⁵)."""
    xs = np.array([0.3, 1.1, 2.5]) if name in ("1/x", "log", "sqrt") else np.array([-1.3, 0.0, 0.4, 2.0])
    x = leaf(xs)
    d = fn(x)
    for k in range(1, 7):
        d, = grad(d.sum(), x, create_graph=True)
        np.testing.assert_allclose(d.data, nth(k, xs), rtol=1e-12, atol=1e-12, err_msg=f"{name}, order {k}")


def test_derivatives_up_to_order_five_match_torch():
    """A composition of many ops, differentiated five times along random directions."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    a = rng.standard_normal((3, 3))

    def f(lib, x):
        y = (x.reshape(3, 1) * lib(a)).tanh().sigmoid()
        return (y.softmax(0) * (x.sin() ** 2 + x.exp()).reshape(1, 3)).logsumexp(1).sum() / (1 + (x * x).sum())

    x0 = rng.uniform(-1, 1, 3)
    dirs = [rng.standard_normal(3) for _ in range(4)]
    ours = _nested(lambda x: f(Tensor, x), leaf(x0), dirs)
    theirs = _torch_nested(torch, lambda x: f(torch.tensor, x), torch.tensor(x0, requires_grad=True), dirs)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_third_derivative_through_a_leaf_saved_at_every_order():
    """x's stand-in in the first derivative's graph is itself stood in for in the second's: the third derivative
    must still reach x (the minimal case: d³(x³)/dx³ = 6, where each order goes through Pow saving x)."""
    x = leaf(np.array(2.0))
    d1, = grad(x**3, x, create_graph=True)
    d2, = grad(d1, x, create_graph=True)
    d3, = grad(d2, x, create_graph=True)
    d4, = grad(d3, x, allow_unused=True)
    assert d1.item() == 12.0 and d2.item() == 12.0 and d3.item() == 6.0
    assert d4 is None or d4.item() == 0.0


# ------------------------------------------------------------------------------- Hessians and HVPs vs PyTorch


def hessian(f, x: Tensor) -> np.ndarray:
    """The Hessian of the scalar f at the vector x, row by row: row i is ∇(∂f/∂xᵢ), one backward through the
    recorded gradient each (retain_graph so that the next row can use it too)."""
    g, = grad(f(x), x, create_graph=True)
    n = x.shape[0]
    rows = []
    for i in range(n):
        row, = grad(g[i], x, retain_graph=True, allow_unused=True)
        rows.append(np.zeros(n) if row is None else row.data)
    return np.array(rows)


def hvp(f, x: Tensor, v: np.ndarray) -> np.ndarray:
    g, = grad(f(x), x, create_graph=True)
    hv, = grad((g * Tensor(v)).sum(), x)
    return hv.data


HESSIAN_FUNCTIONS = ["logsumexp", "mlp_loss", "quadratic_form", "matmul_chain", "tanh_times_sin",
                     "softmax_then_log", "rational_exp"]


@pytest.mark.parametrize("name", HESSIAN_FUNCTIONS)
def test_hessian_and_hvp_match_torch(name):
    torch = pytest.importorskip("torch")
    from torch.autograd.functional import hessian as torch_hessian
    from torch.autograd.functional import hvp as torch_hvp

    rng = np.random.default_rng(10)
    f, n = _functions(Tensor, rng)[name]
    tf = _functions(torch.tensor, np.random.default_rng(10))[name][0]
    x0 = _point(name, n, rng)
    h = hessian(f, leaf(x0))
    th = torch_hessian(tf, torch.tensor(x0)).numpy()
    np.testing.assert_allclose(h, th, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h, h.T, rtol=1e-10, atol=1e-12)
    for seed in range(2):
        v = cotangents((n,), seed=seed)
        ours = hvp(f, leaf(x0), v)
        _, theirs = torch_hvp(tf, torch.tensor(x0), torch.tensor(v))
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours, h @ v, rtol=1e-10, atol=1e-12)


def test_quadratic_form_hessian_closed_form():
    """xᵀAx + cᵀx with a non-symmetric A: the Hessian is A + Aᵀ exactly, at any x."""
    rng = np.random.default_rng(10)
    a = rng.standard_normal((4, 4))
    for x0 in (np.zeros(4), rng.standard_normal(4)):
        h = hessian(lambda x: x @ Tensor(a) @ x + x.sum(), leaf(x0))
        np.testing.assert_allclose(h, a + a.T, rtol=1e-14, atol=1e-15)


def test_block_hessian_of_an_mlp_against_torch():
    """Second derivatives across several parameter tensors (W1, b1, W2): every block ∂²L/∂p∂q, the cross blocks
    included, against torch.autograd.functional.hessian on the tuple of parameters."""
    torch = pytest.importorskip("torch")
    from torch.autograd.functional import hessian as torch_hessian

    rng = np.random.default_rng(11)
    x, onehot = rng.standard_normal((4, 3)), np.eye(3)[rng.integers(0, 3, 4)]
    params = [rng.standard_normal((2, 3)) * 0.7, rng.standard_normal(2) * 0.1, rng.standard_normal((3, 2)) * 0.7]

    def loss(lib, w1, b1, w2):
        h = (lib(x) @ w1.T + b1).tanh()
        return -((h @ w2.T).log_softmax(-1) * lib(onehot)).sum() / 4.0

    ours = [leaf(p) for p in params]
    grads = grad(loss(Tensor, *ours), ours, create_graph=True)
    theirs = torch_hessian(lambda *ps: loss(torch.tensor, *ps), tuple(torch.tensor(p) for p in params))
    for a, g in enumerate(grads):
        flat = g.reshape(-1)
        for i in range(flat.shape[0]):
            rows = grad(flat[i], ours, retain_graph=True)
            for b, row in enumerate(rows):
                expected = theirs[a][b].numpy().reshape(flat.shape[0], *params[b].shape)[i]
                np.testing.assert_allclose(row.data, expected, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------------- memory


def _live(cls) -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, cls))


class _Model:
    """A small MLP with weight decay (each weight used twice in the forward graph) and a cross-entropy loss."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.x = Tensor(rng.standard_normal((8, 5)))
        self.onehot = Tensor(np.eye(3)[rng.integers(0, 3, 8)])
        self.params = [leaf(rng.standard_normal((6, 5)) * 0.5), leaf(np.zeros(6)),
                       leaf(rng.standard_normal((3, 6)) * 0.5)]

    def loss(self) -> Tensor:
        w1, b1, w2 = self.params
        h = self.x.linear(w1, b1).tanh()
        ce = -(h.linear(w2).log_softmax(-1) * self.onehot).sum() * (1 / 8)
        return ce + ((w1 * w1).sum() + (w2 * w2).sum()) * 1e-3

    def update(self) -> None:
        for p in self.params:
            p.data -= 0.05 * p.grad.data
            p.grad = None


def _penalty_by_grad(model: _Model) -> float:
    loss = model.loss()
    grads = grad(loss, model.params, create_graph=True)
    total = loss + sum((g**2).sum() for g in grads) * 0.1
    total.backward()
    model.update()
    return total.item()


def _penalty_by_backward(model: _Model) -> float:
    loss = model.loss()
    loss.backward(create_graph=True)
    penalty = sum((p.grad**2).sum() for p in model.params) * 0.1
    for p in model.params:
        p.grad = None
    total = loss + penalty
    total.backward()
    model.update()
    return total.item()


def _hvp_step(model: _Model) -> float:
    """A Newton-like step: the gradient and a Hessian-vector product along it."""
    loss = model.loss()
    grads = grad(loss, model.params, create_graph=True)
    hv = grad(sum((g * g.detach()).sum() for g in grads), model.params)
    for p, g, h in zip(model.params, grads, hv):
        p.data -= 0.05 * g.data + 0.01 * h.data
    return loss.item()


@pytest.mark.filterwarnings("ignore::FutureWarning")  # isinstance on torch's lazy modules in gc.get_objects()
@pytest.mark.parametrize("step", [_penalty_by_grad, _penalty_by_backward, _hvp_step])
def test_create_graph_training_keeps_a_flat_number_of_live_objects(step):
    """20 steps with a gradient penalty (or an HVP) and the cycle collector off: every Tensor and node of a step must
    be freed by reference counting alone, and nothing may be left for the collector either."""
    model = _Model(12)
    gc.collect()
    gc.disable()
    try:
        losses = [step(model) for _ in range(3)]
        tensors, nodes = _live(Tensor), _live(Function)
        losses += [step(model) for _ in range(20)]
        assert _live(Tensor) == tensors
        assert _live(Function) == nodes
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert losses[-1] < losses[0]  # it was really training


def test_parameter_with_a_recorded_grad_dies_with_its_last_reference():
    """p.grad recorded under create_graph depends on p (d(Σ sin(p·p))/dp = 2p·cos(p·p)); its graph must not hold p
    (the p → p.grad → node → p cycle PyTorch leaks through), so deleting p frees p, p.grad and that graph."""
    gc.collect()
    gc.disable()
    try:
        p = leaf(np.random.default_rng(13).standard_normal(3))
        ((p * p).sin().sum() + (p.exp() * p).sum()).backward(create_graph=True)
        assert p.grad.requires_grad
        refs = [weakref.ref(p), weakref.ref(p.grad), weakref.ref(p.grad.grad_fn)]
        penalty = (p.grad**2).sum()  # a graph built on the recorded gradient, differentiated
        penalty.backward()
        del penalty
        assert all(r() is not None for r in refs)  # p.grad is still set: alive while p is
        del p  # the parameter goes, and its gradient and that gradient's graph with it
        assert all(r() is None for r in refs)
        assert gc.collect() == 0
    finally:
        gc.enable()


# ------------------------------------------------------------------------------ the rules of grad and backward


def _both(values, torch):
    a = np.asarray(values, dtype=np.float64)
    return leaf(a), torch.tensor(a, requires_grad=True)


def _f(x, y):
    return (x.sin() * x * y + y.exp() * x).sum()


def test_grad_has_no_grad_side_effects_like_torch():
    torch = pytest.importorskip("torch")
    for create_graph in (False, True):
        (x, tx), (y, ty) = _both([0.3, -1.2, 0.7], torch), _both([1.5, 0.2, -0.4], torch)
        before = Tensor(np.full(3, 7.0))
        tbefore = torch.full((3,), 7.0, dtype=torch.float64)
        y.grad, ty.grad = before, tbefore
        gx, gy = grad(_f(x, y), [x, y], create_graph=create_graph)
        tgx, tgy = torch.autograd.grad(_f(tx, ty), [tx, ty], create_graph=create_graph)
        assert x.grad is None and tx.grad is None
        assert y.grad is before and (before.data == 7.0).all() and ty.grad is tbefore
        np.testing.assert_allclose(gx.data, tgx.detach().numpy(), rtol=1e-14)
        np.testing.assert_allclose(gy.data, tgy.detach().numpy(), rtol=1e-14)
        assert gx.requires_grad == tgx.requires_grad == create_graph
        if create_graph:  # nor does differentiating the recorded gradient again
            grad(gx.sum(), [x, y])
            torch.autograd.grad(tgx.sum(), [tx, ty])
            assert x.grad is None and y.grad is before and tx.grad is None and ty.grad is tbefore


def _outcome(fn):
    try:
        fn()
    except RuntimeError:
        return "raises"
    return "ok"


def _retain_graph_outcomes(lib_grad, x) -> list:
    outcomes = []
    y = _f(x, x)
    lib_grad(y, x, create_graph=True)
    outcomes.append(_outcome(lambda: lib_grad(y, x)))  # the graph was kept: create_graph implies retain_graph
    outcomes.append(_outcome(lambda: lib_grad(y, x)))  # that call did not keep it
    y2 = _f(x, x)
    lib_grad(y2, x, create_graph=True, retain_graph=False)
    outcomes.append(_outcome(lambda: lib_grad(y2, x)))  # an explicit retain_graph=False frees it
    y3 = _f(x, x)
    lib_grad(y3, x)
    outcomes.append(_outcome(lambda: lib_grad(y3, x)))
    return outcomes


def test_retain_graph_defaults_to_create_graph_like_torch():
    torch = pytest.importorskip("torch")
    ours = _retain_graph_outcomes(grad, leaf(np.array([0.3, -1.2, 0.7])))
    theirs = _retain_graph_outcomes(torch.autograd.grad, torch.tensor([0.3, -1.2, 0.7], dtype=torch.float64,
                                                                      requires_grad=True))
    assert ours == theirs == ["ok", "raises", "raises", "raises"]


def test_backward_twice_after_create_graph_like_torch():
    """backward(create_graph=True) keeps the graph: a second backward works and accumulates (into a .grad that
    has a graph, which can be differentiated again while the graph is kept); after a plain backward the graph is
    gone, for a third backward and for differentiating the recorded .grad alike."""
    torch = pytest.importorskip("torch")
    (x, tx), (y, ty) = _both([0.3, -1.2, 0.7], torch), _both([1.5, 0.2, -0.4], torch)
    out, tout = _f(x, y), _f(tx, ty)
    out.backward(create_graph=True)
    tout.backward(create_graph=True)
    out.backward(retain_graph=True)
    tout.backward(retain_graph=True)
    for t, r in ((x, tx), (y, ty)):
        np.testing.assert_allclose(t.grad.data, r.grad.detach().numpy(), rtol=1e-14)
    assert x.grad.requires_grad and tx.grad.requires_grad
    gx, gy = grad(x.grad.sum(), [x, y], retain_graph=True)  # (without, it would free the forward nodes too)
    tgx, tgy = torch.autograd.grad(tx.grad.sum(), [tx, ty], retain_graph=True)
    np.testing.assert_allclose(gx.data, tgx.numpy(), rtol=1e-13)
    np.testing.assert_allclose(gy.data, tgy.numpy(), rtol=1e-13)
    out.backward()
    tout.backward()
    assert _outcome(out.backward) == _outcome(tout.backward) == "raises"
    # the recorded .grad's graph went through the freed nodes
    assert _outcome(lambda: grad(x.grad.sum(), x)) == "raises"
    assert _outcome(lambda: torch.autograd.grad(tx.grad.sum(), tx)) == "raises"


def _freeing_sequence(lib_grad, x) -> list:
    """Which of a sequence of grad calls through recorded graphs still find their graph."""
    outcomes = []
    d1, = lib_grad(_f(x, x), x, create_graph=True)
    outcomes.append(_outcome(lambda: lib_grad(d1.sum(), x)))  # frees d1's graph (and the forward nodes it reaches)
    outcomes.append(_outcome(lambda: lib_grad(d1.sum(), x)))
    d1, = lib_grad(_f(x, x), x, create_graph=True)
    d2, = lib_grad(d1.sum(), x, create_graph=True)  # keeps d1's graph
    outcomes.append(_outcome(lambda: lib_grad(d2.sum(), x, retain_graph=True)))
    outcomes.append(_outcome(lambda: lib_grad(d1.sum(), x)))
    outcomes.append(_outcome(lambda: lib_grad(d2.sum(), x)))  # d1's graph, part of d2's, is gone
    return outcomes


def test_second_order_graphs_are_freed_like_torch():
    torch = pytest.importorskip("torch")
    ours = _freeing_sequence(grad, leaf(np.array([0.3, -1.2, 0.7])))
    theirs = _freeing_sequence(torch.autograd.grad, torch.tensor([0.3, -1.2, 0.7], requires_grad=True,
                                                                 dtype=torch.float64))
    assert ours == theirs == ["ok", "raises", "ok", "ok", "raises"]


def test_grad_through_a_freed_graph_raises_instead_of_dropping_terms():
    """f = Σ x·eˣ: f'' = (2 + x)eˣ reaches x through x's stand-in and through eˣ's node. Once a plain backward has
    freed eˣ's node, differentiating the recorded f' again must raise (as PyTorch does), never silently skip the
    freed path and return the rest ((1 + x)eˣ here) as if it were the whole derivative."""
    x = leaf(np.array([0.3, -1.2, 0.7]))
    out = (x * x.exp()).sum()
    d1, = grad(out, x, create_graph=True)
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        grad(d1.sum(), x)


def test_unused_inputs_like_torch():
    torch = pytest.importorskip("torch")
    (x, tx), (y, ty), (z, tz) = (_both(v, torch) for v in ([0.3, -1.2], [1.5, 0.2], [2.0, -1.0]))
    for lib_grad, a, b, c in ((grad, x, y, z), (torch.autograd.grad, tx, ty, tz)):
        out = (a.sin() * a).sum() + (b * 2.0).sum()
        with pytest.raises(RuntimeError, match="not have been used"):
            lib_grad(out, [a, c], retain_graph=True)
        ga, gc_ = lib_grad(out, [a, c], retain_graph=True, allow_unused=True)
        assert gc_ is None
        ga, gc_ = lib_grad(out, [a, c], retain_graph=True, materialize_grads=True)
        assert (np.asarray(gc_.detach().numpy() if hasattr(gc_, "detach") else gc_.data) == 0).all()
        # second order: b enters linearly, so the recorded first derivative does not depend on it
        da, db = lib_grad(out, [a, b], create_graph=True)
        with pytest.raises(RuntimeError, match="not have been used"):
            lib_grad(da.sum(), [a, b], retain_graph=True)
        _, unused = lib_grad(da.sum(), [a, b], allow_unused=True, retain_graph=True)
        assert unused is None
        assert not db.requires_grad  # a constant first derivative has no graph
        with pytest.raises(RuntimeError, match="does not require grad"):
            lib_grad(db.sum(), [a])


def test_backward_inputs_accumulates_only_into_them_like_torch():
    """backward(inputs=[...]) with leaves, with a non-leaf, and under create_graph (then differentiated again)."""
    torch = pytest.importorskip("torch")

    def run(lib, make, inputs_of):
        x, w = make([1.0, 2.0, 3.0]), make([0.5, -1.0, 2.0])
        h = x * w
        out = ((h.sin() * x).sum() + (w * w).sum())
        chosen = inputs_of(x, w, h)
        out.backward(inputs=chosen, retain_graph=True)
        first = [None if t.grad is None else np.array(_np(t.grad)) for t in (x, w, h)]
        out.backward(inputs=chosen)  # accumulates
        second = [None if t.grad is None else np.array(_np(t.grad)) for t in (x, w, h)]
        return first, second

    for inputs_of in (lambda x, w, h: [w], lambda x, w, h: [x, w], lambda x, w, h: [h], lambda x, w, h: [h, x]):
        ours = run(Tensor, lambda v: leaf(v), inputs_of)
        theirs = run(torch, lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True), inputs_of)
        for a, b in zip(ours, theirs):
            for ga, gb in zip(a, b):
                assert (ga is None) == (gb is None)
                if ga is not None:
                    np.testing.assert_allclose(ga, gb, rtol=1e-14)


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else t.data


def _inputs_under_create_graph(make) -> tuple:
    x, w = make(np.array([1.0, 2.0, 3.0])), make(np.array([0.5, -1.0, 2.0]))
    out = (x.sin() * w * x).sum()
    out.backward(inputs=[x], create_graph=True)
    assert w.grad is None and x.grad.requires_grad
    gx = x.grad
    x.grad = None
    (gx * gx).sum().backward(inputs=[w])
    assert x.grad is None
    return np.array(_np(gx)), np.array(_np(w.grad))


def test_backward_inputs_under_create_graph_like_torch():
    torch = pytest.importorskip("torch")
    ours = _inputs_under_create_graph(leaf)
    theirs = _inputs_under_create_graph(lambda v: torch.tensor(v, requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def _non_leaf_second_order(lib_grad, make) -> tuple:
    x = make(np.array([0.3, 1.0, -0.6]))
    h = x * 2.0
    calls = []
    h.register_hook(lambda g: calls.append(1))
    out = (h.sin() * h).sum()
    d1, = lib_grad(out, h, create_graph=True)
    d2, = lib_grad((d1 * d1).sum(), h, retain_graph=True)
    dx, = lib_grad((d1 * d1).sum(), x, retain_graph=True)
    (d1 * d1).sum().backward(inputs=[h])
    return np.array(_np(d1)), np.array(_np(d2)), np.array(_np(dx)), np.array(_np(h.grad)), len(calls)


def test_second_order_gradient_with_respect_to_a_non_leaf_like_torch():
    """grad and backward(inputs=) of a recorded first derivative with respect to an intermediate h: its stand-in
    in the recorded graph must count as h (for `inputs`, and for h's hooks, which run at every order)."""
    torch = pytest.importorskip("torch")
    ours = _non_leaf_second_order(grad, leaf)
    theirs = _non_leaf_second_order(torch.autograd.grad, lambda v: torch.tensor(v, requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def _retain_grad_second_order(make) -> tuple:
    x = make(np.array([1.0, 2.0, 3.0]))
    y = x * x
    y.retain_grad()
    z = (y * y).sum()
    z.backward(create_graph=True)
    first = np.array(_np(y.grad))
    gx = x.grad
    x.grad = y.grad = None
    gx.sum().backward()
    return first, np.array(_np(x.grad)), np.array(_np(y.grad))


def test_retain_grad_of_an_intermediate_in_a_second_order_backward_like_torch():
    """y.retain_grad() keeps y's gradient at every backward, also one through a recorded graph that reaches y only
    through its stand-in. (PyTorch's retain_grad also fills y.grad during autograd.grad; not compared here.)"""
    torch = pytest.importorskip("torch")
    ours = _retain_grad_second_order(leaf)
    theirs = _retain_grad_second_order(lambda v: torch.tensor(v, requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_accumulating_into_a_recorded_grad_does_not_change_what_a_graph_saved():
    """After backward(create_graph=True), x.grad has a graph, and a penalty on it saves x.grad's values. A later
    backward that accumulates into x.grad must not silently change them under that graph: PyTorch raises at the
    next backward through it ('modified by an inplace operation'); the exact answer is fine too."""
    x = leaf(np.array([1.0, 2.0, 3.0]))
    (x**3).sum().backward(create_graph=True)  # x.grad = 3x², with a graph
    penalty = (x.grad**2).sum()  # 9 Σ x⁴: d/dx = 36 x³
    penalty.backward(retain_graph=True)  # x.grad = 3x² + 36x³
    np.testing.assert_allclose(x.grad.data, 3 * x.data**2 + 36 * x.data**3)
    try:
        penalty.backward()
    except RuntimeError as e:
        assert "modified by an inplace operation" in str(e)
    else:
        np.testing.assert_allclose(x.grad.data, 3 * x.data**2 + 2 * 36 * x.data**3)


def test_backward_create_graph_with_a_parameter_used_twice():
    """The recorded .grad's graph reaches back into the forward graph, where x is an input of several nodes: each
    must be re-pointed at x's stand-in (the memory guarantee) without tripping over Tensor truthiness."""
    x = leaf(np.array([0.3, -1.2, 0.7]))
    (x.sin() * x * x).sum().backward(create_graph=True)
    expected = np.cos(x.data) * x.data**2 + 2 * x.data * np.sin(x.data)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-14)
    g = x.grad
    x.grad = None
    g.sum().backward()
    s, c, v = np.sin(x.data), np.cos(x.data), x.data
    np.testing.assert_allclose(x.grad.data, -s * v**2 + 4 * v * c + 2 * s, rtol=1e-13)
