"""conv2d, max_pool2d and avg_pool2d: forward against naive loops written here, gradients against float64 central
differences (`gradcheck`) on hypothesis-drawn shapes, strides, paddings, dilations, groups and memory layouts;
the max-pool tie rule (PyTorch's: the first maximum); clear errors for bad shapes; then the nn layers, and PyTorch
as a second reference. Second and third derivatives: tests/test_higher_order_conv.py."""
from __future__ import annotations

import itertools
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import arrays, cotangents

import nn
from nn.conv import AvgPool2d, Conv2d, MaxPool2d
from tinygrad_np import Tensor, gradcheck

CASES = settings(max_examples=25, deadline=None)


def leaf(a: np.ndarray) -> Tensor:
    return Tensor(a, requires_grad=True)


# ------------------------------------------------------------------------------------ naive loop implementations


def out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """out[n, o, h, w] = b[o] + Σ_{c, i, j} w[o, c, i, j] · x[n, group(o)·C_g + c, h·s − p + i·d, w·s − p + j·d]."""
    n_, c_in, hgt, wid = x.shape
    c_out, c_g, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    ho, wo = out_size(hgt, kh, sh, ph, dh), out_size(wid, kw, sw, pw, dw)
    out = np.zeros((n_, c_out, ho, wo))
    per_group = c_out // groups
    for n, o, h, v in itertools.product(range(n_), range(c_out), range(ho), range(wo)):
        total = 0.0 if b is None else b[o]
        for c, i, j in itertools.product(range(c_g), range(kh), range(kw)):
            r, q = h * sh - ph + i * dh, v * sw - pw + j * dw
            if 0 <= r < hgt and 0 <= q < wid:  # outside: zero padding
                total += w[o, c, i, j] * x[n, (o // per_group) * c_g + c, r, q]
        out[n, o, h, v] = total
    return out


def pool_windows(shape, kernel, stride, padding, dilation=(1, 1)):
    """For every output position (h, w): the in-bounds input pixels (r, q) of its window and the window's size
    counting padding."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    hgt, wid = shape[2:]
    ho, wo = out_size(hgt, kh, sh, ph, dh), out_size(wid, kw, sw, pw, dw)
    for h, v in itertools.product(range(ho), range(wo)):
        cells = [(h * sh - ph + i * dh, v * sw - pw + j * dw) for i in range(kh) for j in range(kw)]
        yield h, v, [(r, q) for r, q in cells if 0 <= r < hgt and 0 <= q < wid], kh * kw


def naive_max_pool2d(x, g, kernel, stride, padding, dilation):
    """Forward, and the gradient under PyTorch's rule: each window's whole g goes to one pixel, found by scanning
    its pixels inside the input in kernel order (rows, then columns) and keeping a pixel when it exceeds the maximum
    so far or is NaN: the first maximum (the last NaN), else the window's first pixel."""
    out_hw = (out_size(x.shape[2], kernel[0], stride[0], padding[0], dilation[0]),
              out_size(x.shape[3], kernel[1], stride[1], padding[1], dilation[1]))
    out, dx = np.zeros(x.shape[:2] + out_hw), np.zeros(x.shape)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for h, v, cells, _ in pool_windows(x.shape, kernel, stride, padding, dilation):
            best, chosen = -np.inf, cells[0]
            for r, q in cells:
                if x[n, c, r, q] > best or np.isnan(x[n, c, r, q]):
                    best, chosen = x[n, c, r, q], (r, q)
            out[n, c, h, v] = best
            dx[(n, c) + chosen] += g[n, c, h, v]
    return out, dx


def naive_avg_pool2d(x, kernel, stride, padding, count_include_pad):
    out_hw = (out_size(x.shape[2], kernel[0], stride[0], padding[0], 1),
              out_size(x.shape[3], kernel[1], stride[1], padding[1], 1))
    out = np.zeros(x.shape[:2] + out_hw)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for h, v, cells, size in pool_windows(x.shape, kernel, stride, padding):
            out[n, c, h, v] = sum(x[n, c, r, q] for r, q in cells) / (size if count_include_pad else len(cells))
    return out


# ----------------------------------------------------------------------------------------------- drawn settings

pairs = st.tuples


@st.composite
def conv_settings(draw, max_side: int = 6):
    """A valid conv2d call: shapes, stride, padding, dilation, groups (tiny, so the finite differences are quick)."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_g, o_g = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = draw(pairs(st.integers(1, 3), st.integers(1, 3)))
    stride = draw(pairs(st.integers(1, 3), st.integers(1, 3)))
    padding = draw(pairs(st.integers(0, 2), st.integers(0, 2)))
    dilation = draw(pairs(st.integers(1, 2), st.integers(1, 2)))
    # the input must cover the kernel's reach once padded: side ≥ reach − 2·padding (reach ≤ 5 ≤ max_side)
    sides = [min(max_side, max(1, d * (k - 1) + 1 - 2 * p + draw(st.integers(0, 3))))
             for k, p, d in zip(kernel, padding, dilation)]
    n = draw(st.integers(1, 2))
    x = draw(arrays((n, c_g * groups, *sides)))
    w = draw(arrays((o_g * groups, c_g, *kernel)))
    b = draw(st.none() | arrays((o_g * groups,)))
    return x, w, b, stride, padding, dilation, groups


@st.composite
def pool_settings(draw, dilated: bool = True):
    kernel = draw(pairs(st.integers(1, 3), st.integers(1, 3)))
    stride = draw(st.none() | pairs(st.integers(1, 3), st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)  # PyTorch's limit: at most half the kernel
    dilation = draw(pairs(st.integers(1, 2), st.integers(1, 2))) if dilated else (1, 1)
    sides = [max(1, d * (k - 1) + 1 - 2 * p + draw(st.integers(0, 3))) for k, p, d in zip(kernel, padding, dilation)]
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *sides)
    # a dilated window can fall entirely on padding (PyTorch then outputs −∞); keep to windows with a real pixel
    assume(all(cells for *_, cells, _ in pool_windows(shape, kernel, stride or kernel, padding, dilation)))
    return shape, kernel, stride, padding, dilation


# ---------------------------------------------------------------------------------------------------- conv2d


@CASES
@given(conv_settings())
def test_conv2d_forward_matches_naive_loops(case):
    x, w, b, stride, padding, dilation, groups = case
    out = Tensor(x).conv2d(Tensor(w), None if b is None else Tensor(b), stride, padding, dilation, groups)
    np.testing.assert_allclose(out.data, naive_conv2d(x, w, b, stride, padding, dilation, groups),
                               rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64


@settings(max_examples=20, deadline=None)
@given(conv_settings(max_side=5))
def test_conv2d_gradcheck(case):
    x, w, b, stride, padding, dilation, groups = case
    inputs = [leaf(x), leaf(w)] + ([] if b is None else [leaf(b)])
    assert gradcheck(lambda *t: t[0].conv2d(t[1], t[2] if len(t) > 2 else None, stride, padding, dilation, groups),
                     *inputs)


@settings(max_examples=10, deadline=None)
@given(conv_settings(max_side=5), st.integers(0, 2))
def test_conv2d_gradcheck_one_input_at_a_time(case, which):
    """needs_input_grad: each gradient is right when it is the only one asked for (others skipped)."""
    x, w, b, stride, padding, dilation, groups = case
    b = np.zeros(w.shape[0]) if b is None else b
    tensors = [Tensor(x), Tensor(w), Tensor(b)]
    tensors[which] = leaf([x, w, b][which])
    assert gradcheck(lambda xx, ww, bb: xx.conv2d(ww, bb, stride, padding, dilation, groups), *tensors)


def test_conv2d_closed_form_1x1_is_a_matmul():
    """A 1x1 convolution mixes channels at each pixel: out = W @ x per pixel; its gradients are the matmul's."""
    rng = np.random.default_rng(1)
    x, w, g = rng.standard_normal((3, 4, 5, 2)), rng.standard_normal((6, 4, 1, 1)), cotangents((3, 6, 5, 2))
    xt, wt = leaf(x), leaf(w)
    out = xt.conv2d(wt)
    np.testing.assert_allclose(out.data, np.einsum("oc,nchw->nohw", w[:, :, 0, 0], x), rtol=1e-12)
    out.backward(g)
    np.testing.assert_allclose(xt.grad.data, np.einsum("oc,nohw->nchw", w[:, :, 0, 0], g), rtol=1e-12)
    np.testing.assert_allclose(wt.grad.data[:, :, 0, 0], np.einsum("nohw,nchw->oc", g, x), rtol=1e-12)


def test_conv2d_same_and_valid_padding():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 6))
    for kernel, dilation in [((3, 3), (1, 1)), ((4, 2), (1, 1)), ((2, 3), (2, 1))]:
        w = rng.standard_normal((2, 3) + kernel)
        out = Tensor(x).conv2d(Tensor(w), padding="same", dilation=dilation)
        assert out.shape == (2, 2, 7, 6)
        # PyTorch's rule: total padding d·(k − 1), the odd one out at the bottom / right
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        xp = np.pad(x, ((0, 0), (0, 0), (total[0] // 2, total[0] - total[0] // 2),
                        (total[1] // 2, total[1] - total[1] // 2)))
        np.testing.assert_allclose(out.data, naive_conv2d(xp, w, None, (1, 1), (0, 0), dilation, 1), rtol=1e-12)
        assert gradcheck(lambda t, u, d=dilation: t.conv2d(u, padding="same", dilation=d), leaf(x[:1, :, :4, :3]),
                         leaf(w))
    w = rng.standard_normal((2, 3, 3, 3))
    np.testing.assert_array_equal(Tensor(x).conv2d(Tensor(w), padding="valid").data, Tensor(x).conv2d(Tensor(w)).data)


def test_conv2d_unbatched_input_and_empty_batch():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    batched = Tensor(x).conv2d(Tensor(w), Tensor(b), padding=1)
    single = Tensor(x[1]).conv2d(Tensor(w), Tensor(b), padding=1)
    assert single.shape == (4, 5, 5)
    np.testing.assert_allclose(single.data, batched.data[1], rtol=1e-12)
    empty = leaf(np.zeros((0, 3, 5, 5)))
    wt = leaf(w)
    out = empty.conv2d(wt, padding=1)
    assert out.shape == (0, 4, 5, 5)
    out.sum().backward()
    assert empty.grad.shape == (0, 3, 5, 5) and not wt.grad.data.any()


def test_conv2d_float32_stays_float32():
    rng = np.random.default_rng(4)
    x = leaf(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    w = leaf(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    b = leaf(np.zeros(4, np.float32))
    out = x.conv2d(w, b, stride=2, padding=1)
    assert out.dtype == np.float32
    out.backward(cotangents(out.shape).astype(np.float32))
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_conv_relu_pool_chain_gradcheck():
    """The ops hand each other their own memory layouts (conv2d returns a transposed view): the chain is right."""
    rng = np.random.default_rng(5)
    x, w1, w2 = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal((2, 3, 2, 2))
    b1 = rng.standard_normal(3)

    def net(x, w1, b1, w2):
        h = x.conv2d(w1, b1, padding=1).tanh().avg_pool2d(2)
        return (h.conv2d(w2, stride=1) * 2).max_pool2d(2, stride=1).flatten(1)

    assert gradcheck(net, leaf(x), leaf(w1), leaf(b1), leaf(w2))


# ------------------------------------------------------------------------------------------------------ pools


@CASES
@given(pool_settings(), st.data())
def test_max_pool2d_forward_and_gradient_match_naive_loops_with_ties(setting, data):
    """Values from {0, 1, 2}: most windows hold tied maxima. Forward and the first-maximum gradient against loops."""
    shape, kernel, stride, padding, dilation = setting
    x = data.draw(arrays(shape, lo=0, hi=2, grid=(1.0, 0.0)))
    xt = leaf(x)
    out = xt.max_pool2d(kernel, stride, padding, dilation)
    g = cotangents(out.shape)
    expected, expected_dx = naive_max_pool2d(x, g, kernel, stride or kernel, padding, dilation)
    np.testing.assert_array_equal(out.data, expected)
    out.backward(g)
    np.testing.assert_allclose(xt.grad.data, expected_dx, rtol=1e-12, atol=1e-12)


@CASES
@given(pool_settings(), st.data())
def test_max_pool2d_gradcheck(setting, data):
    shape, kernel, stride, padding, dilation = setting
    x = data.draw(arrays(shape, distinct=True, margin=0.01))  # no ties: the gradient is defined everywhere
    assert gradcheck(lambda t: t.max_pool2d(kernel, stride, padding, dilation), leaf(x))


def test_max_pool2d_ties_go_to_the_first_maximum_in_scan_order():
    """PyTorch's rule: a window's whole gradient goes to ONE pixel, its first maximum scanning kernel rows, then
    columns (not shared among tied maxima, as Tensor.max shares them)."""
    x = np.array([[[[1.0, 1.0, 0.0, 3.0],
                    [1.0, 0.0, 3.0, 3.0],
                    [5.0, 2.0, 7.0, 7.0],
                    [2.0, 5.0, 7.0, 7.0]]]])
    g = np.array([[[[4.0, 6.0], [8.0, 12.0]]]])
    xt = leaf(x)
    out = xt.max_pool2d(2)
    np.testing.assert_array_equal(out.data, [[[[1.0, 3.0], [5.0, 7.0]]]])
    out.backward(g)
    np.testing.assert_array_equal(xt.grad.data, [[[[4, 0, 0, 6],
                                                   [0, 0, 0, 0],
                                                   [8, 0, 12, 0],
                                                   [0, 0, 0, 0]]]])
    # without ties, the same gradient as Tensor.max over each window
    x = np.array([[[[1.0, 2.0, 0.0, 3.0],
                    [1.5, 0.0, 3.5, 3.2],
                    [5.0, 2.0, 7.0, 7.5],
                    [2.0, 5.5, 7.2, 7.1]]]])
    xt, yt = leaf(x), leaf(x)
    xt.max_pool2d(2).backward(g)
    windows = yt.reshape(1, 1, 2, 2, 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(1, 1, 2, 2, 4)
    windows.amax(axis=-1).backward(g)
    np.testing.assert_array_equal(xt.grad.data, yt.grad.data)


def test_max_pool2d_overlapping_windows_add_up():
    """Stride 1: the pixel 9 is the maximum of all four 2x2 windows, and receives all their gradients."""
    x = np.array([[[[0.0, 1.0, 2.0], [3.0, 9.0, 4.0], [5.0, 6.0, 7.0]]]])
    xt = leaf(x)
    out = xt.max_pool2d(2, stride=1)
    np.testing.assert_array_equal(out.data, np.full((1, 1, 2, 2), 9.0))
    out.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(xt.grad.data, expected)


def test_max_pool2d_padding_is_minus_infinity():
    x = -np.ones((1, 1, 2, 2)) * np.array([[1.0, 2.0], [3.0, 4.0]])
    out = Tensor(x).max_pool2d(2, stride=1, padding=1)
    np.testing.assert_array_equal(out.data[0, 0], [[-1, -1, -2], [-1, -1, -2], [-3, -3, -4]])


@CASES
@given(pool_settings(dilated=False), st.booleans(), st.data())
def test_avg_pool2d_forward_matches_naive_loops_and_gradcheck(setting, count_include_pad, data):
    shape, kernel, stride, padding, _ = setting
    x = data.draw(arrays(shape))
    out = Tensor(x).avg_pool2d(kernel, stride, padding, count_include_pad)
    np.testing.assert_allclose(out.data, naive_avg_pool2d(x, kernel, stride or kernel, padding, count_include_pad),
                               rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda t: t.avg_pool2d(kernel, stride, padding, count_include_pad), leaf(x))


def test_avg_pool2d_closed_form_gradient():
    """Non-overlapping 2x2 windows: every pixel's gradient is its window's g / 4."""
    g = cotangents((2, 3, 2, 3))
    xt = leaf(np.random.default_rng(6).standard_normal((2, 3, 4, 6)))
    xt.avg_pool2d(2).backward(g)
    np.testing.assert_allclose(xt.grad.data, np.repeat(np.repeat(g, 2, axis=2), 2, axis=3) / 4, rtol=1e-15)


def test_pools_unbatched_and_float32():
    x = np.random.default_rng(7).standard_normal((3, 6, 6)).astype(np.float32)
    for pool in (Tensor.max_pool2d, Tensor.avg_pool2d):
        out = pool(Tensor(x), 2)
        assert out.shape == (3, 3, 3) and out.dtype == np.float32
        np.testing.assert_array_equal(out.data, pool(Tensor(x[None]), 2).data[0])


# ----------------------------------------------------------------------------------------------------- errors


def conv(x_shape, w_shape, **kwargs):
    return Tensor.zeros(*x_shape).conv2d(Tensor.zeros(*w_shape), **kwargs)


@pytest.mark.parametrize("call, message", [
    (lambda: conv((2, 3, 5, 5), (4, 2, 3, 3)), r"conv2d: input shape \(2, 3, 5, 5\) has 3 channels, but weight shape "
                                               r"\(4, 2, 3, 3\) with groups=1 expects 2"),
    (lambda: conv((2, 4, 5, 5), (6, 2, 3, 3), groups=3), r"conv2d: groups=3 must divide both the input channels "
                                                         r"\(4, input shape \(2, 4, 5, 5\)\)"),
    (lambda: conv((2, 3, 2, 2), (4, 3, 3, 3)), r"conv2d: kernel 3x3 spans 3x3 pixels, more than the padded "
                                               r"input's 2x2 \(input shape \(2, 3, 2, 2\)"),
    (lambda: conv((1, 1, 5, 5), (1, 1, 3, 3), dilation=3), r"conv2d: kernel 3x3 with dilation \(3, 3\) spans 7x7"),
    (lambda: conv((2, 3, 5, 5), (4, 3, 3)), r"conv2d: expected a 4-D weight \(C_out, C_in/groups, kH, kW\), got "
                                            r"shape \(4, 3, 3\)"),
    (lambda: conv((3, 5, 5, 1, 1), (4, 3, 3, 3)), r"conv2d: expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) "
                                                  r"input, got shape \(3, 5, 5, 1, 1\)"),
    (lambda: Tensor.zeros(1, 3, 5, 5).conv2d(Tensor.zeros(4, 3, 3, 3), Tensor.zeros(3)),
     r"conv2d: bias must have shape \(4,\) for weight shape \(4, 3, 3, 3\), got \(3,\)"),
    (lambda: conv((1, 3, 5, 5), (4, 3, 3, 3), padding=-1), r"conv2d: padding must be at least 0, got -1"),
    (lambda: conv((1, 3, 5, 5), (4, 3, 3, 3), stride=(1, 0)), r"conv2d: stride must be at least 1, got \(1, 0\)"),
    (lambda: conv((1, 3, 5, 5), (4, 3, 3, 3), groups=0), r"conv2d: groups must be a positive int, got 0"),
    (lambda: conv((1, 3, 5, 5), (4, 3, 3, 3), padding="same", stride=2), r"conv2d: padding='same' needs stride 1"),
    (lambda: conv((1, 3, 5, 5), (4, 3, 3, 3), padding="full"), r"conv2d: padding must be 'valid', 'same'"),
    (lambda: Tensor.zeros(1, 2, 3, 3).max_pool2d(3, padding=2), r"max_pool2d: padding 2 must be at most half of "
                                                                r"kernel_size 3"),
    (lambda: Tensor.zeros(1, 2, 3, 3).max_pool2d(4), r"max_pool2d: kernel 4x4 spans 4x4 pixels, more than the "
                                                     r"padded input's 3x3 \(input shape \(1, 2, 3, 3\)"),
    (lambda: Tensor.zeros(2, 3).avg_pool2d(2), r"avg_pool2d: expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) "
                                               r"input, got shape \(2, 3\)"),
])
def test_bad_shapes_and_settings_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_types_raise_clear_errors():
    with pytest.raises(TypeError, match=r"conv2d: input, weight and bias must have one dtype, got float32, float64"):
        Tensor.zeros(1, 3, 5, 5).conv2d(Tensor.zeros(4, 3, 3, 3, dtype=np.float64))
    with pytest.raises(TypeError, match=r"conv2d: stride must be an int or a pair of ints, got 1.5"):
        conv((1, 3, 5, 5), (4, 3, 3, 3), stride=1.5)
    with pytest.raises(TypeError, match=r"max_pool2d: kernel_size must be an int or a pair of ints, got \(2, 2, 2\)"):
        Tensor.zeros(1, 1, 4, 4).max_pool2d((2, 2, 2))
    with pytest.raises(TypeError, match=r"max_pool2d: expected a floating-point input, got int64"):
        Tensor(np.zeros((1, 1, 4, 4), np.int64)).max_pool2d(2)


# -------------------------------------------------------------------------------------------------- nn layers


def test_conv2d_layer_parameters_init_and_repr():
    layer = Conv2d(4, 6, (3, 2), stride=2, padding=1, groups=2, bias=True)
    assert [(name, p.shape) for name, p in layer.named_parameters()] == [("weight", (6, 2, 3, 2)), ("bias", (6,))]
    bound = 1 / math.sqrt(2 * 3 * 2)  # PyTorch's default: U(±1/√fan_in), fan_in = C_in/groups · kH · kW
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert layer.weight.data.std() > bound / 3  # the whole range is used, not a degenerate fill
    assert repr(layer) == "Conv2d(4, 6, kernel_size=(3, 2), stride=(2, 2), padding=(1, 1), groups=2)"
    assert Conv2d(1, 2, 3, bias=False).bias is None
    assert [name for name, _ in Conv2d(1, 2, 3, bias=False).named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match=r"Conv2d: groups=4 must be positive and divide both in_channels \(6\)"):
        Conv2d(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match=r"Conv2d: kernel_size must be a positive int or pair, got \(3, 0\)"):
        Conv2d(1, 2, (3, 0))


def test_conv_layers_compute_the_ops_and_round_trip_their_state(tmp_path):
    model = nn.Sequential(Conv2d(1, 4, 3, padding=1), nn.ReLU(), MaxPool2d(2), Conv2d(4, 2, 3), AvgPool2d(2),
                          nn.Flatten(), nn.Linear(2, 3))
    x = Tensor(np.random.default_rng(8).standard_normal((5, 1, 8, 8)).astype(np.float32))
    h = x.conv2d(model[0].weight, model[0].bias, padding=1).relu().max_pool2d(2)
    expected = h.conv2d(model[3].weight, model[3].bias).avg_pool2d(2).flatten(1) @ model[6].weight.T + model[6].bias
    np.testing.assert_allclose(model(x).data, expected.data, rtol=1e-6)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"]
    nn.save(model.state_dict(), tmp_path / "cnn.npz")
    other = nn.Sequential(Conv2d(1, 4, 3, padding=1), nn.ReLU(), MaxPool2d(2), Conv2d(4, 2, 3), AvgPool2d(2),
                          nn.Flatten(), nn.Linear(2, 3))
    other.load_state_dict(nn.load(tmp_path / "cnn.npz"))
    np.testing.assert_array_equal(other(x).data, model(x).data)


# ----------------------------------------------------------------------------------------------------- PyTorch


@CASES
@given(conv_settings())
def test_conv2d_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    x, w, b, stride, padding, dilation, groups = case
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in (x, w) + (() if b is None else (b,))]
    expected = torch.nn.functional.conv2d(*ts, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ours = [leaf(a) for a in (x, w) + (() if b is None else (b,))]
    out = ours[0].conv2d(ours[1], ours[2] if b is not None else None, stride, padding, dilation, groups)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = cotangents(out.shape)
    out.backward(g)
    expected.backward(torch.tensor(g))
    for t, tt in zip(ours, ts):
        np.testing.assert_allclose(t.grad.data, tt.grad.numpy(), rtol=1e-10, atol=1e-12)


@CASES
@given(pool_settings(), st.data())
def test_pools_match_pytorch(setting, data):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape, kernel, stride, padding, dilation = setting
    # spread-out values, or integers from {0, 1, 2} where most max-pool windows tie (PyTorch's tie rule is ours)
    ties = data.draw(st.booleans())
    x = data.draw(arrays(shape, lo=0, hi=2, grid=(1.0, 0.0)) if ties else arrays(shape, distinct=True, margin=0.01))
    calls = [(lambda t: t.max_pool2d(kernel, stride, padding, dilation),
              lambda t: F.max_pool2d(t, kernel, stride, padding, dilation))]
    if dilation == (1, 1):
        for cip in (True, False):
            calls.append((lambda t, cip=cip: t.avg_pool2d(kernel, stride, padding, cip),
                          lambda t, cip=cip: F.avg_pool2d(t, kernel, stride, padding, count_include_pad=cip)))
    for ours_fn, torch_fn in calls:
        xt, tx = leaf(x), torch.tensor(x.copy(), requires_grad=True)
        out, expected = ours_fn(xt), torch_fn(tx)
        np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
        g = cotangents(out.shape)
        out.backward(g)
        expected.backward(torch.tensor(g))
        np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_conv2d_layer_matches_pytorch_with_copied_weights():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
    ours = Conv2d(3, 4, 3, stride=2, padding=1)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(9).standard_normal((2, 3, 7, 7)).astype(np.float32)
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------- the CNN example


def run_example(args: list[str], data_dir) -> subprocess.CompletedProcess:
    env = dict(os.environ, TINYGRAD_NP_DATA=str(data_dir), OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(REPO / "examples" / "mnist_cnn.py"), *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=600)


def test_mnist_cnn_help():
    result = run_example(["--help"], REPO)
    assert result.returncode == 0, result.stderr
    assert "--channels" in result.stdout and "--batch-norm" in result.stdout and "--epochs" in result.stdout


def test_mnist_cnn_learns_saves_and_evaluates(mnist_dir, tmp_path):
    """A quick run (3,000 images, one epoch) learns; --save then --eval reproduces the test accuracy exactly."""
    model = tmp_path / "cnn.npz"
    result = run_example(["--limit", "3000", "--epochs", "1", "--no-plots", "--no-progress", "--save", str(model)],
                         mnist_dir.parent)
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", result.stdout).group(1))
    assert accuracy > 85.0, result.stdout
    assert "CNN (29,178 parameters)" in result.stdout
    evaluated = run_example(["--eval", str(model), "--no-plots"], mnist_dir.parent)
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"test accuracy: {accuracy:.2f}%" in evaluated.stdout
