"""Every differentiable op: forward against NumPy, gradients against float64 central differences (`gradcheck`, which
contracts the output with a random cotangent) on hypothesis-generated shapes, values and memory layouts; then
hand-derived closed forms and the documented conventions at kinks; then PyTorch as a second reference."""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    EXAMPLES,
    MAX_SIDE,
    arrays,
    axes,
    basic_indices,
    broadcastable_shapes,
    cat_operands,
    cotangents,
    shapes,
    with_layout,
)

from tinygrad_np import Tensor, cat, gradcheck, stack, where

_erf = np.vectorize(math.erf)


def leaf(a: np.ndarray) -> Tensor:
    return Tensor(a, requires_grad=True)


def check(fn, ref, *inputs: np.ndarray) -> None:
    """Forward of `fn` on Tensors equals `ref` on the arrays; gradients of `fn` pass `gradcheck`."""
    ts = [leaf(a) for a in inputs]
    out = fn(*ts)
    expected = ref(*inputs)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float64  # float64 in, float64 out: no silent downcast
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(fn, *ts)


def norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axs = (axis,) if isinstance(axis, int) else axis
    return tuple(sorted(a % max(ndim, 1) for a in axs)) if ndim else ()


# ---------------------------------------------------------------------------------------------- unary elementwise

K = math.sqrt(2 / math.pi)
# name: (op on a Tensor, NumPy reference, lo, hi, kinks to stay away from, margin)
UNARY = {
    "neg": (lambda t: -t, np.negative, -2, 2, (), 0),
    "exp": (Tensor.exp, np.exp, -2, 2, (), 0),
    "log": (Tensor.log, np.log, 0.5, 3, (), 0),
    "sqrt": (Tensor.sqrt, np.sqrt, 0.5, 3, (), 0),
    "rsqrt": (Tensor.rsqrt, lambda a: 1 / np.sqrt(a), 0.5, 3, (), 0),
    "square": (Tensor.square, np.square, -2, 2, (), 0),
    "abs": (Tensor.abs, np.abs, -2, 2, (0.0,), 0.05),
    "sign": (Tensor.sign, np.sign, -2, 2, (0.0,), 0.05),
    "reciprocal": (Tensor.reciprocal, lambda a: 1 / a, -3, 3, (0.0,), 0.5),
    "relu": (Tensor.relu, lambda a: np.maximum(a, 0), -2, 2, (0.0,), 0.05),
    "leakyrelu": (Tensor.leakyrelu, lambda a: np.where(a > 0, a, 0.01 * a), -2, 2, (0.0,), 0.05),
    "leakyrelu_0.2": (lambda t: t.leakyrelu(0.2), lambda a: np.where(a > 0, a, 0.2 * a), -2, 2, (0.0,), 0.05),
    "sigmoid": (Tensor.sigmoid, lambda a: 1 / (1 + np.exp(-a)), -4, 4, (), 0),
    "tanh": (Tensor.tanh, np.tanh, -3, 3, (), 0),
    "softplus": (Tensor.softplus, lambda a: np.log1p(np.exp(a)), -4, 4, (), 0),
    "softplus_beta2_threshold3": (lambda t: t.softplus(beta=2.0, threshold=3.0),
                                  lambda a: np.where(2 * a > 3, a, np.log1p(np.exp(2 * a)) / 2), -3, 3, (1.5,), 0.05),
    "gelu": (Tensor.gelu, lambda a: a * 0.5 * (1 + _erf(a / math.sqrt(2))), -3, 3, (), 0),
    "gelu_tanh": (lambda t: t.gelu(approximate="tanh"),
                  lambda a: 0.5 * a * (1 + np.tanh(K * (a + 0.044715 * a**3))), -3, 3, (), 0),
    "sin": (Tensor.sin, np.sin, -3, 3, (), 0),
    "cos": (Tensor.cos, np.cos, -3, 3, (), 0),
    "clip": (lambda t: t.clip(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), -2, 2, (-0.5, 0.7), 0.05),
    "clamp_min": (lambda t: t.clamp(min=-0.3), lambda a: np.maximum(a, -0.3), -2, 2, (-0.3,), 0.05),
    "clip_max": (lambda t: t.clip(max=0.4), lambda a: np.minimum(a, 0.4), -2, 2, (0.4,), 0.05),
    "add_scalar": (lambda t: t + 1.5, lambda a: a + 1.5, -2, 2, (), 0),
    "radd_scalar": (lambda t: 1.5 + t, lambda a: 1.5 + a, -2, 2, (), 0),
    "sub_scalar": (lambda t: t - 1.5, lambda a: a - 1.5, -2, 2, (), 0),
    "rsub_scalar": (lambda t: 1.5 - t, lambda a: 1.5 - a, -2, 2, (), 0),
    "mul_scalar": (lambda t: t * -1.5, lambda a: a * -1.5, -2, 2, (), 0),
    "rmul_scalar": (lambda t: -1.5 * t, lambda a: -1.5 * a, -2, 2, (), 0),
    "div_scalar": (lambda t: t / -1.5, lambda a: a / -1.5, -2, 2, (), 0),
    "rdiv_scalar": (lambda t: 1.5 / t, lambda a: 1.5 / a, -3, 3, (0.0,), 0.5),
    "pow_2": (lambda t: t**2, lambda a: a**2, -2, 2, (), 0),
    "pow_3": (lambda t: t**3, lambda a: a**3, -2, 2, (), 0),
    "pow_half": (lambda t: t**0.5, np.sqrt, 0.5, 3, (), 0),
    "pow_neg": (lambda t: t**-1.5, lambda a: a**-1.5, 0.5, 3, (), 0),
    "rpow": (lambda t: 2.5**t, lambda a: 2.5**a, -2, 2, (), 0),
    "rpow_small_base": (lambda t: 0.3**t, lambda a: 0.3**a, -2, 2, (), 0),
}


@pytest.mark.parametrize("name", UNARY)
@EXAMPLES
@given(data=st.data())
def test_unary(name, data):
    fn, ref, lo, hi, kinks, margin = UNARY[name]
    x = data.draw(arrays(shapes(), lo, hi, kinks=kinks, margin=margin or 0.05))
    check(fn, ref, x)


# --------------------------------------------------------------------------------------------- binary elementwise

POS = dict(lo=0.5, hi=3)
NONZERO = dict(lo=-3, hi=3, kinks=(0.0,), margin=0.5)
# name: (op, NumPy reference, domain of x, domain of y)
BINARY = {
    "add": (lambda x, y: x + y, np.add, {}, {}),
    "sub": (lambda x, y: x - y, np.subtract, {}, {}),
    "mul": (lambda x, y: x * y, np.multiply, {}, {}),
    "div": (lambda x, y: x / y, np.divide, {}, NONZERO),
    "pow": (lambda x, y: x**y, np.power, POS, {}),
    # grids with different offsets: x and y are never within 0.1 of each other (no ties)
    "maximum": (Tensor.maximum, np.maximum, dict(grid=(0.2, 0.0)), dict(grid=(0.2, 0.1))),
    "minimum": (Tensor.minimum, np.minimum, dict(grid=(0.2, 0.0)), dict(grid=(0.2, 0.1))),
    "add_method": (Tensor.add, np.add, {}, {}),
    "mul_method": (Tensor.mul, np.multiply, {}, {}),
    "sub_method": (Tensor.sub, np.subtract, {}, {}),
    "div_method": (Tensor.div, np.divide, {}, NONZERO),
    "pow_method": (Tensor.pow, np.power, POS, {}),
}


@pytest.mark.parametrize("name", BINARY)
@EXAMPLES
@given(data=st.data())
def test_binary_broadcast(name, data):
    fn, ref, dx, dy = BINARY[name]
    sx, sy = data.draw(broadcastable_shapes(2))
    check(fn, ref, data.draw(arrays(sx, **dx)), data.draw(arrays(sy, **dy)))


@pytest.mark.parametrize("name", ["add", "mul", "div", "pow"])
@EXAMPLES
@given(data=st.data())
def test_binary_one_side_needs_grad(name, data):
    """Only one operand requires grad: the other gets none, and the one that does is still right."""
    fn, ref, dx, dy = BINARY[name]
    sx, sy = data.draw(broadcastable_shapes(2))
    x, y = data.draw(arrays(sx, **dx)), data.draw(arrays(sy, **dy))
    tx, ty = leaf(x), Tensor(y)
    assert gradcheck(fn, tx, ty)
    assert ty.grad is None
    tx, ty = Tensor(x), leaf(y)
    assert gradcheck(fn, tx, ty)
    assert tx.grad is None


@EXAMPLES
@given(data=st.data())
def test_where(data):
    sc, sx, sy = data.draw(broadcastable_shapes(3))
    cond = data.draw(arrays(sc)) > 0
    x, y = data.draw(arrays(sx)), data.draw(arrays(sy))
    ref = lambda a, b: np.where(cond, a, b)  # noqa: E731
    check(lambda a, b: where(Tensor(cond), a, b), ref, x, y)
    check(lambda a, b: a.where(cond, b), ref, x, y)
    # a scalar on either side
    check(lambda a: where(cond, a, 0.5), lambda a: np.where(cond, a, 0.5), x)
    check(lambda b: where(cond, -0.5, b), lambda b: np.where(cond, -0.5, b), y)


# ------------------------------------------------------------------------------------------------------- matmul


@st.composite
def matmul_shapes(draw):
    """Operand shapes for x @ y: 1-D on either side, 2-D, and batched with broadcast batch axes."""
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    bx, by = draw(broadcastable_shapes(2, max_dims=2))
    kind_x, kind_y = draw(st.sampled_from(["1d", "2d", "batched"])), draw(st.sampled_from(["1d", "2d", "batched"]))
    xs = {"1d": (k,), "2d": (n, k), "batched": bx + (n, k)}[kind_x]
    ys = {"1d": (k,), "2d": (k, m), "batched": by + (k, m)}[kind_y]
    return xs, ys


@EXAMPLES
@given(data=st.data())
def test_matmul(data):
    sx, sy = data.draw(matmul_shapes())
    x, y = data.draw(arrays(sx)), data.draw(arrays(sy))
    check(lambda a, b: a @ b, np.matmul, x, y)
    check(Tensor.matmul, np.matmul, x, y)
    check(Tensor.dot, np.matmul, x, y)


@pytest.mark.parametrize("sx, sy", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                                    ((5, 2, 3), (5, 3, 4)), ((5, 2, 3), (3, 4)), ((3,), (5, 3, 4)),
                                    ((5, 1, 2, 3), (4, 3, 2)), ((2, 3), (4, 1, 3, 2))])
def test_matmul_named_cases(sx, sy):
    """The shape combinations the issue names, each at least once regardless of what hypothesis draws."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(sx), rng.standard_normal(sy)
    check(lambda a, b: a @ b, np.matmul, x, y)


def test_matmul_with_arrays_and_scalars_in_either_order():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    check(lambda a: a @ w, lambda a: a @ w, x)
    check(lambda b: x @ b, lambda b: x @ b, w)  # ndarray @ Tensor -> Tensor.__rmatmul__


# --------------------------------------------------------------------------------------------------- reductions

REDUCE_REF = {
    "sum": lambda a, ax, kd: a.sum(axis=ax, keepdims=kd),
    "mean": lambda a, ax, kd: a.mean(axis=ax, keepdims=kd),
    "amax": lambda a, ax, kd: a.max(axis=ax, keepdims=kd),
    "amin": lambda a, ax, kd: a.min(axis=ax, keepdims=kd),
    "var": lambda a, ax, kd: a.var(axis=ax, keepdims=kd, ddof=1),
    "std": lambda a, ax, kd: a.std(axis=ax, keepdims=kd, ddof=1),
    "logsumexp": lambda a, ax, kd: np.log(np.exp(a).sum(axis=ax, keepdims=kd)),
}


@pytest.mark.parametrize("name", REDUCE_REF)
@EXAMPLES
@given(data=st.data())
def test_reduction(name, data):
    x = data.draw(arrays(shapes(), distinct=name in ("amax", "amin", "std")))
    axis = data.draw(axes(x.ndim))
    keepdim = data.draw(st.booleans())
    ax = norm_axes(axis, x.ndim)
    if name in ("var", "std"):  # N - 1 must be positive (else the result is nan, as in PyTorch)
        if math.prod(x.shape[a] for a in ax) < 2:
            x = np.concatenate([x.reshape(-1), x.reshape(-1) + 0.37]).reshape(-1)  # a shape that has 2+ elements
            axis, ax = data.draw(st.sampled_from([None, 0, -1])), (0,)
    how = data.draw(st.sampled_from(["positional", "axis=", "dim="]))

    def fn(t):
        op = getattr(t, name)
        if how == "positional":  # var and std take PyTorch's (dim, unbiased, keepdim)
            return op(axis, None, keepdim) if name in ("var", "std") else op(axis, keepdim)
        return op(keepdim=keepdim, **{how[:-1]: axis})

    check(fn, lambda a: REDUCE_REF[name](a, ax, keepdim), x)


@pytest.mark.parametrize("correction", [0, 2])
@EXAMPLES
@given(data=st.data())
def test_var_std_correction(correction, data):
    x = data.draw(arrays(shapes(min_dims=1, min_side=3), distinct=True))
    axis = data.draw(axes(x.ndim))
    check(lambda t: t.var(axis, correction=correction), lambda a: a.var(axis=axis, ddof=correction), x)
    check(lambda t: t.std(dim=axis, correction=correction), lambda a: a.std(axis=axis, ddof=correction), x)
    if correction == 0:
        check(lambda t: t.var(axis, unbiased=False), lambda a: a.var(axis=axis), x)


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@EXAMPLES
@given(data=st.data())
def test_softmax(name, data):
    x = data.draw(arrays(shapes(min_dims=1), -3, 3))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    ref = (lambda a: _softmax(a, axis)) if name == "softmax" else (lambda a: np.log(_softmax(a, axis)))
    check(lambda t: getattr(t, name)(axis), ref, x)
    check(lambda t: getattr(t, name)(dim=axis), ref, x)
    last = (lambda a: _softmax(a, -1)) if name == "softmax" else (lambda a: np.log(_softmax(a, -1)))
    check(lambda t: getattr(t, name)(), last, x)  # the last axis by default


# ---------------------------------------------------------------------------------------------- movement (shape)


@EXAMPLES
@given(data=st.data())
def test_reshape_and_view(data):
    x = data.draw(arrays(shapes()))
    n = x.size
    target = data.draw(st.sampled_from([(n,), (1, n), (n, 1), x.shape[::-1], (-1,), (1, -1, 1), ()]
                                       if n == 1 else [(n,), (1, n), (n, 1), x.shape[::-1], (-1,), (1, -1, 1)]))
    ref = lambda a: a.reshape(target)  # noqa: E731
    check(lambda t: t.reshape(target), ref, x)
    check(lambda t: t.reshape(*target), ref, x)
    check(lambda t: t.view(*target), ref, x)


@EXAMPLES
@given(data=st.data())
def test_permute_transpose_T(data):
    x = data.draw(arrays(shapes()))
    perm = data.draw(st.permutations(range(x.ndim)))
    signed = tuple(p - x.ndim if data.draw(st.booleans()) else p for p in perm)  # negative axes too
    check(lambda t: t.permute(*signed), lambda a: a.transpose(perm), x)
    check(lambda t: t.permute(signed), lambda a: a.transpose(perm), x)
    check(lambda t: t.T, lambda a: a.T, x)
    if x.ndim >= 1:
        d0, d1 = data.draw(st.integers(-x.ndim, x.ndim - 1)), data.draw(st.integers(-x.ndim, x.ndim - 1))
        check(lambda t: t.transpose(d0, d1), lambda a: np.swapaxes(a, d0, d1), x)


@EXAMPLES
@given(data=st.data())
def test_flatten_unsqueeze_squeeze(data):
    x = data.draw(arrays(shapes()))
    nd = x.ndim
    if nd:
        s, e = sorted([data.draw(st.integers(0, nd - 1)), data.draw(st.integers(0, nd - 1))])
        s, e = s - nd * data.draw(st.integers(0, 1)), e - nd * data.draw(st.integers(0, 1))  # negative dims too
        ss, ee = s % nd, e % nd
        check(lambda t: t.flatten(s, e), lambda a: a.reshape(a.shape[:ss] + (-1,) + a.shape[ee + 1:]), x)
    check(lambda t: t.flatten(), lambda a: a.reshape(-1), x)
    d = data.draw(st.integers(-nd - 1, nd))
    check(lambda t: t.unsqueeze(d), lambda a: np.expand_dims(a, d), x)
    dim = data.draw(axes(nd))
    ax = norm_axes(dim, nd)

    def squeeze_ref(a):  # PyTorch: only the named axes of size 1 go; others are left alone
        return a.reshape([n for i, n in enumerate(a.shape) if not (i in ax and n == 1)])

    check(lambda t: t.squeeze(dim), squeeze_ref, x)


@EXAMPLES
@given(data=st.data())
def test_expand(data):
    sx, sy = data.draw(broadcastable_shapes(2))
    target = np.broadcast_shapes(sx, sy)
    x = data.draw(arrays(sx))
    lead = len(target) - len(sx)
    # -1 keeps an existing axis's size
    sizes = tuple(-1 if i >= lead and n == sx[i - lead] and data.draw(st.booleans()) else n
                  for i, n in enumerate(target))
    check(lambda t: t.expand(*sizes), lambda a: np.broadcast_to(a, target), x)
    check(lambda t: t.expand(sizes), lambda a: np.broadcast_to(a, target), x)


@EXAMPLES
@given(data=st.data())
def test_pad(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    widths = [tuple(data.draw(st.integers(0, 2)) for _ in range(2)) for _ in range(x.ndim)]
    value = data.draw(st.sampled_from([0.0, -1.5]))
    ref = lambda a: np.pad(a, widths, constant_values=value)  # noqa: E731
    check(lambda t: t.pad(widths, value=value), ref, x)  # per-axis (before, after) pairs
    # torch.nn.functional.pad's flat form: the last axis first, only the last k axes
    k = data.draw(st.integers(0, x.ndim))
    flat = [w for pair in reversed(widths[x.ndim - k:]) for w in pair]
    padded = [(0, 0)] * (x.ndim - k) + widths[x.ndim - k:]
    check(lambda t: t.pad(flat, value), lambda a: np.pad(a, padded, constant_values=value), x)


def test_pad_flat_form_order():
    """(left, right, top, bottom) pads the last axis by (left, right) and the one before by (top, bottom)."""
    x = np.arange(6.0).reshape(2, 3)
    out = leaf(x).pad((1, 2, 3, 0))
    assert out.shape == (5, 6)
    np.testing.assert_array_equal(out.data, np.pad(x, ((3, 0), (1, 2))))


@EXAMPLES
@given(data=st.data())
def test_flip(data):
    x = data.draw(arrays(shapes()))
    dims = data.draw(axes(x.ndim))
    ax = norm_axes(dims, x.ndim)
    check(lambda t: t.flip(dims), lambda a: np.flip(a, ax), x)


@EXAMPLES
@given(data=st.data())
def test_repeat(data):
    x = data.draw(arrays(shapes()))
    sizes = tuple(data.draw(st.lists(st.integers(1, 3), min_size=x.ndim, max_size=x.ndim + 1)))
    if not sizes:
        sizes = (2,)
    check(lambda t: t.repeat(*sizes), lambda a: np.tile(a, sizes), x)
    check(lambda t: t.repeat(sizes), lambda a: np.tile(a, sizes), x)


@EXAMPLES
@given(data=st.data())
def test_cat_and_stack(data):
    base, axis, parts = data.draw(cat_operands())
    count = len(parts)
    check(lambda *ts: cat(ts, dim=axis), lambda *a: np.concatenate(a, axis=axis), *parts)
    check(lambda *ts: ts[0].cat(*ts[1:], dim=axis), lambda *a: np.concatenate(a, axis=axis), *parts)
    same = [data.draw(arrays(base)) for _ in range(count)]
    d = data.draw(st.integers(-len(base) - 1, len(base)))
    check(lambda *ts: stack(ts, dim=d), lambda *a: np.stack(a, axis=d), *same)
    check(lambda *ts: ts[0].stack(*ts[1:], dim=d), lambda *a: np.stack(a, axis=d), *same)


def test_stack_of_0d():
    check(lambda *ts: stack(ts), lambda *a: np.stack(a), np.array(1.5), np.array(-0.5), np.array(2.0))


# ------------------------------------------------------------------------------------------------------- indexing


@EXAMPLES
@given(data=st.data())
def test_getitem_basic(data):
    """ints, slices with any step (negative too), None, Ellipsis."""
    x = data.draw(arrays(shapes(min_dims=1)))
    index = data.draw(basic_indices(x.shape))
    check(lambda t: t[index], lambda a: a[index], x)


@EXAMPLES
@given(data=st.data())
def test_getitem_integer_arrays_with_repeats(data):
    """An index that picks an element twice must add both gradients (scatter-add), not keep the last one."""
    x = data.draw(arrays(shapes(min_dims=1, max_dims=3)))
    n = x.shape[0]
    idx = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))
    idx = idx + [idx[0]]  # at least one repeat
    arr = np.array(idx)
    check(lambda t: t[idx], lambda a: a[arr], x)  # a list
    check(lambda t: t[Tensor(arr)], lambda a: a[arr], x)  # an integer Tensor
    last = np.array([i % x.shape[-1] for i in idx])  # repeated picks along the last axis, after an Ellipsis
    check(lambda t: t[..., last], lambda a: a[..., last], x)
    if x.ndim >= 2:
        m = x.shape[1]
        cols = np.array(data.draw(st.lists(st.integers(-m, m - 1), min_size=len(idx), max_size=len(idx))))
        check(lambda t: t[arr, cols], lambda a: a[arr, cols], x)  # two index arrays broadcast together
        check(lambda t: t[arr, 1:], lambda a: a[arr, 1:], x)  # mixed with a slice
        check(lambda t: t[:, cols], lambda a: a[:, cols], x)
    # the closed form: the gradient counts how often each element was picked, times the cotangent
    t = leaf(x)
    v = cotangents(t[arr].shape, seed=3)
    t[arr].backward(v)
    expected = np.zeros_like(x)
    np.add.at(expected, arr, v)
    np.testing.assert_allclose(t.grad.data, expected, rtol=1e-12)


@EXAMPLES
@given(data=st.data())
def test_getitem_boolean_mask(data):
    x = data.draw(arrays(shapes(min_dims=1)))
    mask = data.draw(arrays(x.shape)) > 0
    check(lambda t: t[mask], lambda a: a[mask], x)
    check(lambda t: t[Tensor(mask)], lambda a: a[mask], x)
    rows = mask.reshape(x.shape[0], -1)[:, 0]
    check(lambda t: t[rows], lambda a: a[rows], x)


def test_getitem_named_cases():
    x = np.random.default_rng(4).standard_normal((3, 4, 2))
    for index in [1, -1, (slice(None, None, -1),), (slice(3, 0, -2), 1), (None, 0, ..., None), (..., -1),
                  (Ellipsis,), (slice(None), None, slice(1, 3)), ([0, 0, 2, 0],), ([1, 1], [3, 3], [0, 0])]:
        check(lambda t, i=index: t[i], lambda a, i=index: a[tuple(np.array(p) if isinstance(p, list) else p
                                                                for p in (i if isinstance(i, tuple) else (i,)))], x)


# ----------------------------------------------------------------------------------------------------------- cast


def test_cast_gradient_comes_back_in_the_input_dtype():
    """d/dx ⟨v, w ⊙ float32(x)⟩ = v ⊙ w, delivered in x's dtype."""
    rng = np.random.default_rng(5)
    x = leaf(rng.standard_normal((3, 4)))  # float64
    w = Tensor(rng.standard_normal((3, 4)).astype(np.float32))
    y = x.to(np.float32) * w
    assert y.dtype == np.float32
    v = cotangents((3, 4), seed=6).astype(np.float32)
    y.backward(v)
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.data, v * w.data, rtol=1e-6)

    x32 = leaf(rng.standard_normal(5).astype(np.float32))
    y = x32.double().exp()
    assert y.dtype == np.float64
    v = cotangents((5,), seed=7)
    y.backward(v)
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad.data, v * np.exp(x32.data.astype(np.float64)), rtol=1e-6)
    assert x32.float() is x32  # no-op cast: no node


def test_cast_to_integer_carries_no_gradient():
    x = leaf(np.array([1.7, -2.2]))
    i = x.to(np.int64)
    np.testing.assert_array_equal(i.data, [1, -2])
    assert not i.requires_grad and i.grad_fn is None  # as PyTorch: integer tensors never require grad


@EXAMPLES
@given(data=st.data())
def test_cast_gradcheck(data):
    """float64 -> float32 -> float64 by finite differences. The values lie on a grid of 2⁻¹⁰ and the step is
    2⁻¹⁰, so x ± step, and 2x − 0.5 computed from it, are exact in float32: the float32 stretch adds no rounding
    and the differences stay float64-accurate (a step of 1e-6 would fall below float32's resolution)."""
    x = data.draw(arrays(shapes(), grid=(2.0**-10, 0.0)))
    t = leaf(x)
    fn = lambda a: (a.to(np.float32) * 2.0 - 0.5).to(np.float64).exp() * a  # noqa: E731
    assert type(fn(t).grad_fn.parents[0].grad_fn.parents[0].grad_fn).__name__ == "Cast"  # a real Cast node
    assert gradcheck(fn, t, eps=2.0**-10)
    assert gradcheck(lambda a: a.float().double().sin(), t, eps=2.0**-10)
    assert t.double() is t and t.to(np.float64) is t  # casting to its own dtype adds no node


# --------------------------------------------------------------------------------------- composite expressions


@EXAMPLES
@given(data=st.data())
def test_mlp_like_expression(data):
    """A small network built from many ops at once, with non-contiguous inputs and broadcasting."""
    b, i, h, o = (data.draw(st.integers(1, MAX_SIDE)) for _ in range(4))
    x = data.draw(arrays((b, i)))
    w1, b1 = data.draw(arrays((i, h))), data.draw(arrays((h,)))
    w2 = data.draw(arrays((h, o)))

    def net(x, w1, b1, w2):
        hidden = (x @ w1 + b1).tanh()
        return (hidden @ w2).log_softmax(-1).mean(0) + (w1 * w1).sum() * 0.1

    assert gradcheck(net, *[leaf(a) for a in (x, w1, b1, w2)])


# -------------------------------------------------------------------------------------------------- closed forms


def test_softmax_jacobian_closed_form():
    """dL/dx = (diag(s) − s sᵀ) v for each row, v a random cotangent."""
    rng = np.random.default_rng(8)
    x = leaf(rng.standard_normal((3, 5)))
    v = cotangents((3, 5), seed=9)
    s = _softmax(x.data, -1)
    x.softmax(-1).backward(v)
    for r in range(3):
        jac = np.diag(s[r]) - np.outer(s[r], s[r])
        np.testing.assert_allclose(x.grad.data[r], jac @ v[r], rtol=1e-12, atol=1e-14)


def test_log_softmax_closed_form():
    """d log softmax · v = v − s Σv."""
    rng = np.random.default_rng(10)
    x = leaf(rng.standard_normal((4, 3)))
    v = cotangents((4, 3), seed=11)
    x.log_softmax(0).backward(v)
    s = _softmax(x.data, 0)
    np.testing.assert_allclose(x.grad.data, v - s * v.sum(0, keepdims=True), rtol=1e-12, atol=1e-14)


def test_matmul_closed_form():
    """For Y = X W and upstream G: gX = G Wᵀ, gW = Xᵀ G."""
    rng = np.random.default_rng(12)
    x, w = leaf(rng.standard_normal((4, 3))), leaf(rng.standard_normal((3, 2)))
    g = cotangents((4, 2), seed=13)
    (x @ w).backward(g)
    np.testing.assert_allclose(x.grad.data, g @ w.data.T, rtol=1e-12)
    np.testing.assert_allclose(w.grad.data, x.data.T @ g, rtol=1e-12)


def test_batched_broadcast_matmul_closed_form():
    """A weight shared across the batch gets the sum over the batch of Xᵦᵀ Gᵦ."""
    rng = np.random.default_rng(14)
    x, w = leaf(rng.standard_normal((5, 4, 3))), leaf(rng.standard_normal((3, 2)))
    g = cotangents((5, 4, 2), seed=15)
    (x @ w).backward(g)
    np.testing.assert_allclose(x.grad.data, g @ w.data.T, rtol=1e-12)
    np.testing.assert_allclose(w.grad.data, sum(x.data[b].T @ g[b] for b in range(5)), rtol=1e-12)


def test_sigmoid_tanh_closed_forms():
    rng = np.random.default_rng(16)
    x = rng.uniform(-4, 4, (3, 4))
    v = cotangents((3, 4), seed=17)
    t = leaf(x)
    s = t.sigmoid()
    s.backward(v)
    np.testing.assert_allclose(t.grad.data, v * s.data * (1 - s.data), rtol=1e-12)
    t = leaf(x)
    th = t.tanh()
    th.backward(v)
    np.testing.assert_allclose(t.grad.data, v * (1 - th.data**2), rtol=1e-12)


def test_logsumexp_gradient_is_softmax():
    rng = np.random.default_rng(18)
    x = leaf(rng.standard_normal((3, 4)))
    v = cotangents((3,), seed=19)
    x.logsumexp(1).backward(v)
    np.testing.assert_allclose(x.grad.data, v[:, None] * _softmax(x.data, 1), rtol=1e-12)


def test_logsumexp_is_stable_for_large_values():
    x = leaf(np.array([1000.0, 1000.0, -1000.0]))
    out = x.logsumexp()
    np.testing.assert_allclose(out.item(), 1000 + math.log(2))
    out.backward()
    np.testing.assert_allclose(x.grad.data, [0.5, 0.5, 0.0])


def test_max_ties_share_the_gradient_equally():
    x = leaf(np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 0.0]]))
    v = np.array([0.8, -0.6])
    x.amax(1).backward(v)  # (x.max(1) returns the first index and gives it the whole gradient, as PyTorch)
    np.testing.assert_allclose(x.grad.data, [[0, 0.4, 0.4, 0], [-0.2, -0.2, -0.2, 0]])
    x = leaf(np.array([[1.0, 3.0], [3.0, 2.0]]))
    x.max().backward()
    np.testing.assert_allclose(x.grad.data, [[0, 0.5], [0.5, 0]])
    x = leaf(np.array([-1.0, -1.0, 0.0]))
    x.min().backward(np.array(3.0))
    np.testing.assert_allclose(x.grad.data, [1.5, 1.5, 0.0])


def test_maximum_minimum_ties_share_the_gradient_equally():
    x, y = leaf(np.array([1.0, 2.0, 3.0])), leaf(np.array([1.0, 5.0, 0.0]))
    x.maximum(y).backward(np.array([2.0, 3.0, 4.0]))
    np.testing.assert_allclose(x.grad.data, [1.0, 0.0, 4.0])
    np.testing.assert_allclose(y.grad.data, [1.0, 3.0, 0.0])
    x, y = leaf(np.array([1.0, 2.0])), leaf(np.array([1.0, 5.0]))
    x.minimum(y).backward(np.array([2.0, 3.0]))
    np.testing.assert_allclose(x.grad.data, [1.0, 3.0])
    np.testing.assert_allclose(y.grad.data, [1.0, 0.0])


def test_kink_conventions():
    """relu'(0) = 0, abs'(0) = 0, sign' = 0, leakyrelu'(0) = slope (as PyTorch); clip passes the gradient at
    its bounds and blocks it outside."""
    x = leaf(np.array([-1.0, 0.0, 2.0]))
    v = np.array([5.0, 7.0, 11.0])
    x.relu().backward(v)
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 11.0])
    x = leaf(np.array([-1.0, 0.0, 2.0]))
    x.abs().backward(v)
    np.testing.assert_array_equal(x.grad.data, [-5.0, 0.0, 11.0])
    x = leaf(np.array([-1.0, 0.0, 2.0]))
    x.sign().backward(v)
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])
    x = leaf(np.array([-1.0, 0.0, 2.0]))
    x.leakyrelu(0.1).backward(v)
    np.testing.assert_allclose(x.grad.data, [0.5, 0.7, 11.0])
    x = leaf(np.array([-2.0, -1.0, 0.5, 1.0, 3.0]))
    x.clip(-1.0, 1.0).backward(np.array([2.0, 3.0, 5.0, 7.0, 11.0]))
    np.testing.assert_array_equal(x.grad.data, [0.0, 3.0, 5.0, 7.0, 0.0])


def test_softplus_threshold_switches_to_identity():
    x = leaf(np.array([-30.0, 0.0, 25.0]))
    out = x.softplus()
    np.testing.assert_allclose(out.data, [np.log1p(np.exp(-30.0)), np.log(2.0), 25.0])
    out.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.grad.data, [1 / (1 + np.exp(30.0)), 1.0, 3.0])


def test_sigmoid_does_not_overflow():
    x = leaf(np.array([-1000.0, 1000.0], dtype=np.float32))
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the right answer
        s = x.sigmoid()
        s.backward(np.ones(2, np.float32))
    np.testing.assert_array_equal(s.data, [0.0, 1.0])
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])


def test_sigmoid_keeps_relative_precision_for_large_negative_inputs():
    """σ(−40) ≈ 4.25e-18 must not cancel to 0 (log σ(x) ≈ x there); softplus' gradient is the same σ."""
    x = np.array([-40.0, -30.0, -5.0])
    exact = 1 / (1 + np.exp(-x))
    s = Tensor(x).sigmoid()
    np.testing.assert_allclose(s.data, exact, rtol=1e-14)
    np.testing.assert_allclose(s.log().data, -np.log1p(np.exp(-x)), rtol=1e-14)
    t = leaf(x)
    t.softplus().backward(np.ones(3))
    np.testing.assert_allclose(t.grad.data, exact, rtol=1e-14)


def test_gelu_on_0d_and_float32():
    for dtype in (np.float32, np.float64):
        x = leaf(np.array(0.5, dtype))
        for approximate in ("none", "tanh"):
            out = x.gelu(approximate=approximate)
            assert out.dtype == dtype and out.shape == ()


def test_non_contiguous_input_gives_the_same_gradients():
    """The same values in four memory layouts give bitwise-equal outputs and gradients."""
    rng = np.random.default_rng(20)
    values, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    v = cotangents((3, 2), seed=21)
    results = []
    for layout in ("contiguous", "transposed", "strided", "reversed"):
        x = leaf(with_layout(values, layout))
        out = (x.exp() @ w + x[:, :2].sigmoid()).softmax(0)
        out.backward(v)
        results.append((out.data, x.grad.data))
    for out, grad in results[1:]:
        np.testing.assert_allclose(out, results[0][0], rtol=1e-14)
        np.testing.assert_allclose(grad, results[0][1], rtol=1e-14)


# ------------------------------------------------------------------------------------------- against PyTorch


def _rand(rng, shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape)


# name: (inputs as (shape, lo, hi), our op, torch op)
TORCH_CASES = {
    "add_broadcast": ([((2, 1, 3), -2, 2), ((4, 1), -2, 2)], lambda a, b: a + b, lambda a, b: a + b),
    "sub_broadcast": ([((3,), -2, 2), ((2, 3), -2, 2)], lambda a, b: a - b, lambda a, b: a - b),
    "mul_broadcast": ([((2, 3), -2, 2), ((), -2, 2)], lambda a, b: a * b, lambda a, b: a * b),
    "div": ([((2, 3), -2, 2), ((3,), 0.5, 2)], lambda a, b: a / b, lambda a, b: a / b),
    "pow": ([((2, 3), 0.5, 2), ((2, 3), -2, 2)], lambda a, b: a**b, lambda a, b: a**b),
    "rpow": ([((4,), -2, 2)], lambda a: 3.0**a, lambda a: 3.0**a),
    "matmul_batched": ([((3, 1, 2, 4), -1, 1), ((5, 4, 2), -1, 1)], lambda a, b: a @ b, lambda a, b: a @ b),
    "matmul_vec": ([((4,), -1, 1), ((2, 4, 3), -1, 1)], lambda a, b: a @ b, lambda a, b: a @ b),
    "exp": ([((2, 3), -2, 2)], Tensor.exp, lambda a: a.exp()),
    "log": ([((2, 3), 0.5, 3)], Tensor.log, lambda a: a.log()),
    "sqrt": ([((2, 3), 0.5, 3)], Tensor.sqrt, lambda a: a.sqrt()),
    "rsqrt": ([((2, 3), 0.5, 3)], Tensor.rsqrt, lambda a: a.rsqrt()),
    "reciprocal": ([((2, 3), 0.5, 3)], Tensor.reciprocal, lambda a: a.reciprocal()),
    "sigmoid": ([((2, 3), -4, 4)], Tensor.sigmoid, lambda a: a.sigmoid()),
    "tanh": ([((2, 3), -3, 3)], Tensor.tanh, lambda a: a.tanh()),
    "softplus": ([((2, 3), -3, 3)], lambda a: a.softplus(beta=2.0, threshold=2.5),
                 lambda a: __import__("torch").nn.functional.softplus(a, beta=2.0, threshold=2.5)),
    "gelu": ([((2, 3), -3, 3)], Tensor.gelu, lambda a: __import__("torch").nn.functional.gelu(a)),
    "gelu_tanh": ([((2, 3), -3, 3)], lambda a: a.gelu(approximate="tanh"),
                  lambda a: __import__("torch").nn.functional.gelu(a, approximate="tanh")),
    "leakyrelu": ([((2, 3), -2, 2)], lambda a: a.leakyrelu(0.1),
                  lambda a: __import__("torch").nn.functional.leaky_relu(a, 0.1)),
    "sin_cos": ([((2, 3), -3, 3)], lambda a: a.sin() * a.cos(), lambda a: a.sin() * a.cos()),
    "sum": ([((2, 3, 4), -2, 2)], lambda a: a.sum((0, -1), keepdim=True), lambda a: a.sum((0, -1), keepdim=True)),
    "mean": ([((2, 3, 4), -2, 2)], lambda a: a.mean(dim=1), lambda a: a.mean(dim=1)),
    "var": ([((3, 4), -2, 2)], lambda a: a.var(0), lambda a: a.var(0)),
    "std": ([((3, 4), -2, 2)], lambda a: a.std(1, keepdim=True), lambda a: a.std(1, keepdim=True)),
    "logsumexp": ([((3, 4), -2, 2)], lambda a: a.logsumexp(-1), lambda a: a.logsumexp(-1)),
    "softmax": ([((3, 4), -2, 2)], lambda a: a.softmax(0), lambda a: a.softmax(0)),
    "log_softmax": ([((3, 4), -2, 2)], lambda a: a.log_softmax(dim=-1), lambda a: a.log_softmax(dim=-1)),
    "amax_axis": ([((3, 4), -2, 2)], lambda a: a.amax(1), lambda a: a.amax(1)),
    "max_dim_values": ([((3, 4), -2, 2)], lambda a: a.max(1).values, lambda a: a.max(1).values),
    "min_all": ([((3, 4), -2, 2)], lambda a: a.min(), lambda a: a.amin()),
    "permute_reshape": ([((2, 3, 4), -2, 2)], lambda a: a.permute(2, 0, 1).reshape(4, 6),
                        lambda a: a.permute(2, 0, 1).reshape(4, 6)),
    "expand": ([((3, 1), -2, 2)], lambda a: a.expand(2, 3, 4), lambda a: a.expand(2, 3, 4)),
    "pad": ([((2, 3), -2, 2)], lambda a: a.pad((1, 2, 0, 1), value=0.5),
            lambda a: __import__("torch").nn.functional.pad(a, (1, 2, 0, 1), value=0.5)),
    "flip": ([((2, 3), -2, 2)], lambda a: a.flip((0, 1)), lambda a: a.flip((0, 1))),
    "repeat": ([((2, 3), -2, 2)], lambda a: a.repeat(2, 1, 3), lambda a: a.repeat(2, 1, 3)),
    "squeeze_unsqueeze": ([((1, 3, 1), -2, 2)], lambda a: a.squeeze(0).unsqueeze(-1),
                          lambda a: a.squeeze(0).unsqueeze(-1)),
    "getitem_repeated": ([((4, 3), -2, 2)], lambda a: a[[0, 2, 0, 0]], lambda a: a[[0, 2, 0, 0]]),
    "getitem_basic": ([((4, 3), -2, 2)], lambda a: a[1:, None, -1], lambda a: a[1:, None, -1]),
    "cat": ([((2, 3), -2, 2), ((1, 3), -2, 2)], lambda a, b: cat([a, b], 0),
            lambda a, b: __import__("torch").cat([a, b], 0)),
    "stack": ([((2, 3), -2, 2), ((2, 3), -2, 2)], lambda a, b: stack([a, b], -1),
              lambda a, b: __import__("torch").stack([a, b], -1)),
    "maximum": ([((2, 3), -2, 2), ((3,), -2, 2)], Tensor.maximum, lambda a, b: a.maximum(b)),
    "clip": ([((2, 3), -2, 2)], lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5)),
}


@pytest.mark.parametrize("name", TORCH_CASES)
def test_against_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is the second reference; not installed")
    specs, ours, theirs = TORCH_CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # a fixed seed per case (str hash is salted)
    arrays_ = [_rand(rng, s, lo, hi) for s, lo, hi in specs]
    ts = [leaf(a) for a in arrays_]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays_]
    out, ref = ours(*ts), theirs(*tt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = cotangents(out.shape, seed=22)
    out.backward(v)
    ref.backward(torch.tensor(v))
    for t, r in zip(ts, tt):
        np.testing.assert_allclose(t.grad.data, r.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_kink_conventions_match_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is the second reference; not installed")
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 1.0])
    v = cotangents(x.shape, seed=23)
    cases = [(lambda a: a.relu(), lambda a: a.relu()), (lambda a: a.abs(), lambda a: a.abs()),
             (lambda a: a.sign(), lambda a: a.sign()), (lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5)),
             (lambda a: a.leakyrelu(0.2), lambda a: torch.nn.functional.leaky_relu(a, 0.2)),
             (lambda a: a.max(), lambda a: a.amax()), (lambda a: a.min(), lambda a: a.amin()),
             (lambda a: a.maximum(Tensor(np.zeros(6))), lambda a: a.maximum(torch.zeros(6, dtype=a.dtype)))]
    for ours, theirs in cases:
        t, r = leaf(x), torch.tensor(x, requires_grad=True)
        o, ro = ours(t), theirs(r)
        cot = v if o.shape == x.shape else np.array(1.7)
        o.backward(cot)
        ro.backward(torch.tensor(cot))
        np.testing.assert_allclose(o.data, ro.detach().numpy())
        np.testing.assert_allclose(t.grad.data, r.grad.numpy(), err_msg=str(ours))
