"""conv2d, max_pool2d and avg_pool2d differentiated more than once, and max pooling's tie rule.

1. `gradgradcheck` (finite differences of the first derivative recorded under create_graph, with respect to the
   inputs and to the cotangent) on hypothesis-drawn shapes, strides, paddings, dilations, groups, memory layouts,
   with and without bias, some inputs constant, unbatched (C, H, W) images; a third-order check on a composition.
2. PyTorch (float64) as the reference for first derivatives and for second derivatives: the derivatives of
   ⟨∂⟨v, f⟩/∂inputs, a⟩ with respect to the inputs and to v, from torch.autograd.grad(create_graph=True) twice.
3. Max pooling's ties, PyTorch's rule: a window's whole gradient goes to ONE pixel, its first maximum in scan order
   (a window holding NaN: its last NaN; a window of −∞: its first pixel inside the input), checked against torch on
   tie-heavy integer inputs with overlapping windows, padding and dilation.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import arrays, cotangents

from tinygrad_np import Tensor, gradgradcheck
from tinygrad_np.autograd import enable_grad, grad

CASES = settings(max_examples=20, deadline=None)
pairs = st.tuples


def leaf(a: np.ndarray) -> Tensor:
    return Tensor(a, requires_grad=True)


def out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# ----------------------------------------------------------------------------------------------- drawn settings


@st.composite
def conv_calls(draw):
    """A valid conv2d call on tiny shapes (gradgradcheck perturbs every element of x, w, b and the cotangent):
    the arrays, which of them require grad, whether x is one unbatched (C, H, W) image, and the settings."""
    groups = draw(st.sampled_from([1, 1, 2]))
    c_g, o_g = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = draw(pairs(st.integers(1, 3), st.integers(1, 3)))
    stride = draw(pairs(st.integers(1, 2), st.integers(1, 2)))
    padding = draw(pairs(st.integers(0, 1), st.integers(0, 1)))
    dilation = draw(pairs(st.integers(1, 2), st.integers(1, 2)))
    sides = [max(1, d * (k - 1) + 1 - 2 * p + draw(st.integers(0, 2))) for k, p, d in zip(kernel, padding, dilation)]
    unbatched = draw(st.booleans())
    x = draw(arrays((c_g * groups, *sides) if unbatched else (draw(st.integers(1, 2)), c_g * groups, *sides)))
    w = draw(arrays((o_g * groups, c_g, *kernel)))
    b = draw(st.none() | arrays((o_g * groups,)))
    requires = draw(st.lists(st.booleans(), min_size=3, max_size=3).filter(lambda r: any(r[:2 + (b is not None)])))
    return (x, w, b), requires, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@st.composite
def pool_calls(draw, dilated: bool = True):
    """A valid pooling call: (input shape, kernel, stride, padding, dilation), every window holding a real pixel."""
    kernel = draw(pairs(st.integers(1, 3), st.integers(1, 3)))
    stride = draw(st.none() | pairs(st.integers(1, 3), st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)  # PyTorch's limit: at most half the kernel
    dilation = draw(pairs(st.integers(1, 2), st.integers(1, 2))) if dilated else (1, 1)
    sides = [max(1, d * (k - 1) + 1 - 2 * p + draw(st.integers(0, 3))) for k, p, d in zip(kernel, padding, dilation)]
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *sides)
    # a dilated window can fall entirely on padding (PyTorch outputs −∞ there); test_all_padding_window covers it
    s = stride or kernel
    for axis in (0, 1):
        n, k, p, d = sides[axis], kernel[axis], padding[axis], dilation[axis]
        for h in range(out_size(n, k, s[axis], p, d)):
            assume(any(0 <= h * s[axis] - p + i * d < n for i in range(k)))
    return shape, kernel, stride, padding, dilation


def inputs_of(values, requires):
    """Leaves for the values that require grad, constants for the others (None stays None: no bias)."""
    return [None if v is None else (leaf(v) if r else Tensor(v)) for v, r in zip(values, requires)]


# ------------------------------------------------------------------------------------------------ gradgradcheck


@CASES
@given(conv_calls())
def test_conv2d_gradgradcheck(call):
    (x, w, b), requires, options = call
    assert gradgradcheck(lambda x, w, b: x.conv2d(w, b, **options), *inputs_of((x, w, b), requires))


def test_conv2d_same_padding_gradgradcheck():
    """padding='same' with an even kernel pads unevenly (the odd one at the bottom / right): every gradient
    primitive must crop the same way."""
    rng = np.random.default_rng(2)
    x, w, b = leaf(rng.standard_normal((2, 2, 4, 3))), leaf(rng.standard_normal((2, 2, 2, 3))), leaf(np.ones(2))
    assert gradgradcheck(lambda x, w, b: x.conv2d(w, b, padding="same", dilation=(1, 2)), x, w, b)


@CASES
@given(pool_calls(), st.data())
def test_max_pool2d_gradgradcheck(call, data):
    shape, kernel, stride, padding, dilation = call
    x = data.draw(arrays(shape, distinct=True, margin=0.01))  # no ties: the derivative is defined everywhere
    unbatched = data.draw(st.booleans())
    xt = leaf(x[0] if unbatched else x)
    assert gradgradcheck(lambda t: t.max_pool2d(kernel, stride, padding, dilation), xt)


@CASES
@given(pool_calls(dilated=False), st.booleans(), st.booleans(), st.data())
def test_avg_pool2d_gradgradcheck(call, count_include_pad, unbatched, data):
    shape, kernel, stride, padding, _ = call
    x = data.draw(arrays(shape))
    xt = leaf(x[0] if unbatched else x)
    assert gradgradcheck(lambda t: t.avg_pool2d(kernel, stride, padding, count_include_pad), xt)


def test_chain_gradgradcheck_and_third_order():
    """conv → tanh → max pool → conv → avg pool: gradgradcheck of the composition, then of its recorded first
    derivative (so the recorded second derivative is differentiated once more: the third derivative)."""
    rng = np.random.default_rng(0)
    x, w1 = leaf(rng.standard_normal((2, 2, 5, 5))), leaf(rng.standard_normal((3, 2, 3, 3)))
    w2, b2 = leaf(rng.standard_normal((2, 3, 2, 2))), leaf(rng.standard_normal(2))

    def net(x, w1, w2, b2):
        h = x.conv2d(w1, padding=1, stride=(1, 2)).tanh().max_pool2d(2, stride=1, padding=1)
        return h.conv2d(w2, b2, dilation=(2, 1)).avg_pool2d(2, stride=1, padding=1, count_include_pad=False)

    assert gradgradcheck(net, x, w1, w2, b2)
    v = cotangents(net(x, w1, w2, b2).shape)

    def first_derivative(x, w1, w2, b2):
        # `+ 0.0`: each leaf enters the net through an Add, which keeps nothing, so that no recorded graph holds a
        # leaf itself. Works around an engine bug: a leaf's stand-in in a recorded graph (engine.graph_alias) that
        # is itself recorded again gets a stand-in for the stand-in, which never resolves to the leaf, so a third
        # derivative loses the leaf's gradient (reported; reproduces with (x ** 4).sum() alone).
        with enable_grad():
            out = net(x + 0.0, w1 + 0.0, w2 + 0.0, b2 + 0.0)
            grads = grad(out, [x, w1, w2, b2], grad_outputs=Tensor(v), create_graph=True)
        return grads[0].reshape(-1).cat(*[g.reshape(-1) for g in grads[1:]])

    assert gradgradcheck(first_derivative, x, w1, w2, b2)


def test_second_derivatives_are_recorded_as_the_closed_set_of_primitives():
    """Under create_graph conv2d's backward records ConvInputGrad / ConvWeightGrad (and theirs record Conv2d and
    each other), max pooling's records the scatter, whose derivative is the gather: no NumPy detour."""
    rng = np.random.default_rng(1)
    x, w = leaf(rng.standard_normal((1, 2, 4, 4))), leaf(rng.standard_normal((3, 2, 2, 2)))
    v = leaf(cotangents((1, 3, 3, 3)))
    gx, gw = grad(x.conv2d(w), [x, w], grad_outputs=v, create_graph=True)
    assert type(gx.grad_fn).__name__ == "ConvInputGrad" and type(gw.grad_fn).__name__ == "ConvWeightGrad"
    a = leaf(cotangents(gx.shape, seed=1))
    ggx = grad(gx, [v, w], grad_outputs=a, create_graph=True)
    assert [type(t.grad_fn).__name__ for t in ggx] == ["Conv2d", "ConvWeightGrad"]
    u = leaf(cotangents((1, 2, 2, 2)))
    px, = grad(x.max_pool2d(2), x, grad_outputs=u, create_graph=True)
    assert type(px.grad_fn).__name__ == "MaxPool2dScatter"
    pu, = grad(px, u, grad_outputs=leaf(cotangents(px.shape)), create_graph=True)
    assert type(pu.grad_fn).__name__ == "MaxPool2dGather"
    ax, = grad(x.avg_pool2d(2), x, grad_outputs=u, create_graph=True)
    assert type(ax.grad_fn).__name__ == "AvgPool2dGrad"


# ---------------------------------------------------------------------------------------------------- PyTorch


def first_and_second(fn, values, v, a, lib):
    """With f = fn(*values) and the cotangent v: the first derivatives ∂⟨v, f⟩/∂values, then the derivatives of
    s = Σ ⟨first derivative, a⟩ with respect to the values and to v (zeros where s does not depend on them).
    `lib` is "ours" or the torch module; inputs given as None stay None."""
    if lib == "ours":
        ts = [None if x is None else leaf(x) for x in values]
        vt = leaf(v)
        live = [t for t in ts if t is not None]
        firsts = grad(fn(*ts), live, grad_outputs=vt, create_graph=True, allow_unused=True)
        s = sum((d * Tensor(ai)).sum() for d, ai in zip(firsts, a) if d is not None)
        seconds = grad(s, live + [vt], allow_unused=True, materialize_grads=True)
        return [d.data for d in firsts], [d.data for d in seconds]
    torch = lib
    ts = [None if x is None else torch.tensor(x.copy(), requires_grad=True) for x in values]
    vt = torch.tensor(v, requires_grad=True)
    live = [t for t in ts if t is not None]
    firsts = torch.autograd.grad(fn(*ts), live, grad_outputs=vt, create_graph=True, allow_unused=True)
    s = sum((d * torch.tensor(ai)).sum() for d, ai in zip(firsts, a) if d is not None)
    seconds = torch.autograd.grad(s, live + [vt], allow_unused=True)
    seconds = [np.zeros(t.shape) if d is None else d.detach().numpy() for d, t in zip(seconds, live + [vt])]
    return [d.detach().numpy() for d in firsts], seconds


def assert_matches_torch(ours_fn, torch_fn, values, out_shape, torch):
    v = cotangents(out_shape, seed=3)
    a = [cotangents(x.shape, seed=4 + i) for i, x in enumerate(x for x in values if x is not None)]
    first, second = first_and_second(ours_fn, values, v, a, "ours")
    t_first, t_second = first_and_second(torch_fn, values, v, a, torch)
    for ours, theirs in zip(first + second, t_first + t_second):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@CASES
@given(conv_calls())
def test_conv2d_first_and_second_derivatives_match_pytorch(call):
    torch = pytest.importorskip("torch")
    (x, w, b), _, options = call
    out = Tensor(x).conv2d(Tensor(w), None if b is None else Tensor(b), **options)
    assert_matches_torch(lambda x, w, b: x.conv2d(w, b, **options),
                         lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **options), (x, w, b), out.shape, torch)


@CASES
@given(pool_calls(), st.data())
def test_max_pool2d_first_and_second_derivatives_match_pytorch_even_with_ties(call, data):
    """Integers from {0, 1, 2}: most windows hold tied maxima, and every gradient must go where PyTorch's goes."""
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding, dilation = call
    x = data.draw(arrays(shape, lo=0, hi=2, grid=(1.0, 0.0)))
    out = Tensor(x).max_pool2d(kernel, stride, padding, dilation)
    assert_matches_torch(lambda t: t.max_pool2d(kernel, stride, padding, dilation),
                         lambda t: torch.nn.functional.max_pool2d(t, kernel, stride, padding, dilation), (x,),
                         out.shape, torch)


@CASES
@given(pool_calls(dilated=False), st.booleans(), st.data())
def test_avg_pool2d_first_and_second_derivatives_match_pytorch(call, count_include_pad, data):
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding, _ = call
    x = data.draw(arrays(shape))
    out = Tensor(x).avg_pool2d(kernel, stride, padding, count_include_pad)
    assert_matches_torch(lambda t: t.avg_pool2d(kernel, stride, padding, count_include_pad),
                         lambda t: torch.nn.functional.avg_pool2d(t, kernel, stride, padding,
                                                                  count_include_pad=count_include_pad), (x,),
                         out.shape, torch)


def test_hessian_vector_products_of_a_cnn_loss_match_pytorch():
    """A scalar loss through conv → relu → max pool (with ties) → conv → avg pool: Hessian-vector products with
    respect to the input and the weights, against PyTorch's."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x = np.round(rng.standard_normal((2, 2, 6, 6)) * 2) / 2  # coarse values: ties in the pooling windows
    w1, b1, w2 = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), rng.standard_normal((2, 3, 2, 2))
    directions = [rng.standard_normal(a.shape) for a in (x, w1, b1, w2)]

    def loss(lib_conv, lib_max, lib_avg, x, w1, b1, w2):
        h = lib_max(lib_conv(x, w1, b1, padding=1).relu())
        return (lib_avg(lib_conv(h, w2, None, padding=0)) ** 2).sum()

    ts = [leaf(a) for a in (x, w1, b1, w2)]
    ours = loss(lambda x, w, b, padding: x.conv2d(w, b, padding=padding), lambda t: t.max_pool2d(2, 1),
                lambda t: t.avg_pool2d(2, 1, 1), *ts)
    gs = grad(ours, ts, create_graph=True)
    hv = grad(sum((g * Tensor(d)).sum() for g, d in zip(gs, directions)), ts)
    tt = [torch.tensor(a, requires_grad=True) for a in (x, w1, b1, w2)]
    theirs = loss(lambda x, w, b, padding: F.conv2d(x, w, b, padding=padding), lambda t: F.max_pool2d(t, 2, 1),
                  lambda t: F.avg_pool2d(t, 2, 1, 1), *tt)
    tgs = torch.autograd.grad(theirs, tt, create_graph=True)
    thv = torch.autograd.grad(sum((g * torch.tensor(d)).sum() for g, d in zip(tgs, directions)), tt)
    np.testing.assert_allclose(ours.data, theirs.item(), rtol=1e-12)
    for a, b in zip(list(gs) + list(hv), list(tgs) + list(thv)):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------------ max-pool tie rule


def torch_max_pool(torch, x, g, *args):
    tx = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.max_pool2d(tx, *args)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    (2, 2, 0, 1), (3, 1, 1, 1), (3, 2, 1, 1), ((2, 3), (1, 2), (1, 0), 1), (3, 1, 1, 2), ((3, 2), 1, 0, (1, 2)),
])
def test_max_pool2d_ties_go_where_pytorch_sends_them(kernel, stride, padding, dilation):
    """Integers in a small range: every window ties; overlapping windows, padding, dilation. The gradient must be
    PyTorch's exactly (each window's g at its first maximum in scan order, summed where windows share it); g holds
    distinct small integers, so that sums in any order are exact and every window's share can be told apart."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    for values in (2, 3):
        x = rng.integers(0, values, (2, 3, 7, 8)).astype(np.float64)
        ours = leaf(x)
        out = ours.max_pool2d(kernel, stride, padding, dilation)
        g = rng.permutation(out.data.size).reshape(out.shape) + 1.0
        out.backward(g)
        expected, expected_dx = torch_max_pool(torch, x, g, kernel, stride, padding, dilation)
        np.testing.assert_array_equal(out.data, expected)
        np.testing.assert_array_equal(ours.grad.data, expected_dx)


def test_max_pool2d_tie_rule_by_hand():
    """One 3x3 window of ones and twos, scanned row by row: the first 2 (at row 0, column 2) gets it all."""
    x = np.array([[[[1.0, 1.0, 2.0], [2.0, 1.0, 2.0], [1.0, 2.0, 1.0]]]])
    xt = leaf(x)
    xt.max_pool2d(3).backward(np.array([[[[5.0]]]]))
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 0, 2] = 5.0
    np.testing.assert_array_equal(xt.grad.data, expected)


def test_max_pool2d_nan_and_minus_infinity_follow_pytorch():
    """PyTorch scans with `value > max_so_far or isnan(value)`: a window holding NaN outputs NaN and sends its
    gradient to its LAST NaN; a window of −∞ sends it to its first pixel inside the input (never a pad)."""
    torch = pytest.importorskip("torch")
    nan, inf = np.nan, np.inf
    x = np.array([[[[nan, 1.0, 0.0, nan, -inf],
                    [nan, 0.0, 3.0, nan, -inf],
                    [5.0, nan, 7.0, 7.0, -inf],
                    [-inf, -inf, -inf, -inf, -inf],
                    [-inf, -inf, 2.0, 2.0, -inf]]]])
    for kernel, stride, padding in [(2, 2, 0), (2, 1, 1), (3, 2, 1), (3, 1, 1)]:
        xt = leaf(x)
        out = xt.max_pool2d(kernel, stride, padding)
        g = np.arange(1.0, out.data.size + 1).reshape(out.shape)  # distinct integers: exact sums in any order
        out.backward(g)
        expected, expected_dx = torch_max_pool(torch, x, g, kernel, stride, padding)
        np.testing.assert_array_equal(out.data, expected)
        np.testing.assert_array_equal(xt.grad.data, expected_dx)


def test_all_padding_window_outputs_minus_infinity_with_zero_gradient():
    """A dilated window can hold padding only: PyTorch outputs −∞ there, and its gradient goes nowhere (PyTorch
    2.13 records an index outside the input for such a window, and its backward writes out of bounds, which can
    crash the process: so this case is checked by hand, not against torch)."""
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    xt = leaf(x)
    out = xt.max_pool2d(2, stride=1, padding=1, dilation=3)
    np.testing.assert_array_equal(out.data, [[[[-np.inf]]]])
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(xt.grad.data, np.zeros(x.shape))
    # windows of padding next to real ones: only the real ones send gradients
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    xt = leaf(x)
    out = xt.max_pool2d(2, stride=1, padding=1, dilation=3)
    np.testing.assert_array_equal(out.data, [[[[8.0, 6.0], [2.0, 0.0]]]])
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(xt.grad.data, [[[[1, 0, 1], [0, 0, 0], [1, 0, 1]]]])
