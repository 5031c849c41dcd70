"""Issue 14, the CNN vocabulary of `nn`: F.conv2d / max_pool2d (ceil_mode, return_indices) / avg_pool2d (ceil_mode,
divisor_override), Dropout2d, AdaptiveAvgPool2d, nn.utils.clip_grad_norm_ / clip_grad_value_, OneCycleLR — each
against PyTorch (values, gradients, second derivatives where cheap, schedules step by step, warnings and errors)
and, for the differentiable ones, against finite differences (gradcheck, gradgradcheck) on hypothesis shapes."""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import arrays, cotangents

import nn
import nn.functional as F
from nn.conv import AdaptiveAvgPool2d
from nn.layers import Dropout2d
from nn.optim import SGD, Adam, AdamW, Optimizer, RMSprop
from nn.optim.lr_scheduler import OneCycleLR
from nn.utils import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from tinygrad_np import Tensor, gradcheck, gradgradcheck
from tinygrad_np.autograd import grad

torch = pytest.importorskip("torch")
TF = torch.nn.functional
CASES = settings(max_examples=20, deadline=None)


def leaf(a: np.ndarray) -> Tensor:
    return Tensor(a, requires_grad=True)


def first_and_second_vs_torch(ours_fn, torch_fn, x, rtol=1e-12, atol=1e-14):
    """Output, vector-Jacobian product and the derivative of <vjp, a> with respect to the cotangent and x
    (second order), ours against PyTorch's, for a function of one float64 array."""
    xt, tt = leaf(x), torch.tensor(x.copy(), requires_grad=True)  # torch takes no negative strides
    out, tout = ours_fn(xt), torch_fn(tt)
    assert out.shape == tuple(tout.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol)
    v, a = cotangents(out.shape, seed=1), cotangents(x.shape, seed=2)
    vt, vtt = leaf(v), torch.tensor(v, requires_grad=True)
    dx, = grad(out, xt, grad_outputs=vt, create_graph=True)
    tdx, = torch.autograd.grad(tout, tt, grad_outputs=vtt, create_graph=True)
    np.testing.assert_allclose(dx.data, tdx.detach().numpy(), rtol=rtol, atol=atol)
    dv, = grad((dx * Tensor(a)).sum(), vt)
    tdv, = torch.autograd.grad((tdx * torch.tensor(a)).sum(), vtt)
    np.testing.assert_allclose(dv.data, tdv.numpy(), rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------------------ conv2d


def test_conv2d_is_the_tensor_method_with_torch_arguments():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)
    kw = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    ts = [leaf(a) for a in (x, w, b)]
    tt = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out, tout = F.conv2d(*ts, **kw), TF.conv2d(*tt, **kw)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = cotangents(out.shape)
    out.backward(Tensor(g))
    tout.backward(torch.tensor(g))
    for a, ta in zip(ts, tt):
        np.testing.assert_allclose(a.grad.data, ta.grad.numpy(), rtol=1e-12, atol=1e-12)
    # positional order is torch's, and one (C, H, W) image works too
    np.testing.assert_allclose(F.conv2d(Tensor(x[0]), Tensor(w), None, 1, "valid", 1, 2).data,
                               TF.conv2d(torch.tensor(x[0]), torch.tensor(w), None, 1, "valid", 1, 2).numpy(),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="conv2d: input must be a Tensor"):
        F.conv2d(x, Tensor(w))


# ------------------------------------------------------------------------------------------------ pooling


def _pool_cases():
    """Small pooling calls over heights that do and don't fit the windows, with ceil_mode and padding."""
    for h, k, s, p, d in itertools.product([1, 2, 3, 5, 6, 7], [1, 2, 3], [1, 2, 3], [0, 1], [1, 2]):
        if 2 * p <= k:
            yield (2, 3, h, 5), k, s, p, d


def test_max_pool2d_ceil_mode_and_indices_match_torch_everywhere():
    """Every small call PyTorch accepts: same shape, bit-identical values and indices, the same gradient; and
    where PyTorch raises (no output), so do we. The only refusal: a (dilated) window made only of padding when
    indices are asked for (PyTorch's index there is no pixel)."""
    rng = np.random.default_rng(0)
    refused = 0
    for shape, k, s, p, d in _pool_cases():
        x = rng.standard_normal(shape)
        for ceil_mode in (False, True):
            tt = torch.tensor(x, requires_grad=True)
            try:
                tout, tind = TF.max_pool2d(tt, k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
            except RuntimeError:
                with pytest.raises(ValueError):
                    F.max_pool2d(Tensor(x), k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
                continue
            xt = leaf(x)
            try:
                out, ind = F.max_pool2d(xt, k, s, p, d, ceil_mode, True)
            except ValueError as e:
                assert "only padding" in str(e) and d == 2 and tout.detach().numpy().min() == -np.inf
                refused += 1
                continue
            assert out.shape == tuple(tout.shape) and ind.dtype == np.int64 and not ind.requires_grad
            np.testing.assert_array_equal(out.data, tout.detach().numpy())
            np.testing.assert_array_equal(ind.data, tind.numpy())
            plain = F.max_pool2d(Tensor(x), k, s, p, d, ceil_mode=ceil_mode)  # the same without indices
            np.testing.assert_array_equal(plain.data, out.data)
            g = cotangents(out.shape)
            out.backward(Tensor(g))
            tout.backward(torch.tensor(g))
            # a pixel chosen by 3+ windows sums their gradients in another order than torch: the last bit may differ
            np.testing.assert_allclose(xt.grad.data, tt.grad.numpy(), rtol=1e-14, atol=1e-15)
    assert 0 < refused < 20


def test_max_pool2d_indices_follow_torch_on_ties_nan_and_unbatched():
    x = np.array([[[[1.0, 3.0, 3.0, 0.0, 2.0],
                    [3.0, 2.0, np.nan, 1.0, 2.0],
                    [0.0, 0.0, 0.0, 0.0, 2.0]]]])
    for k, s, ceil_mode in [(2, 2, True), (2, 1, False), (3, 2, True)]:
        out, ind = F.max_pool2d(Tensor(x), k, s, ceil_mode=ceil_mode, return_indices=True)
        tout, tind = TF.max_pool2d(torch.tensor(x), k, s, ceil_mode=ceil_mode, return_indices=True)
        np.testing.assert_array_equal(out.data, tout.numpy())
        np.testing.assert_array_equal(ind.data, tind.numpy())
        out3, ind3 = F.max_pool2d(Tensor(x[0]), k, s, ceil_mode=ceil_mode, return_indices=True)
        assert out3.shape == out.shape[1:] and ind3.shape == ind.shape[1:]
        np.testing.assert_array_equal(ind3.data, ind.data[0])
    layer = nn.MaxPool2d(2, 2, 0, 1, True, True)  # torch's order: return_indices, then ceil_mode
    tlayer = torch.nn.MaxPool2d(2, 2, 0, 1, True, True)
    (out, ind), (tout, tind) = layer(Tensor(x)), tlayer(torch.tensor(x))
    np.testing.assert_array_equal(ind.data, tind.numpy())
    assert out.shape == tuple(tout.shape) == (1, 1, 2, 3)
    assert repr(layer) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=True)" == repr(tlayer)


def test_max_pool2d_kernel_larger_than_input_only_with_ceil_mode():
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(F.max_pool2d(Tensor(x), 3, 2, ceil_mode=True).data,
                                  TF.max_pool2d(torch.tensor(x), 3, 2, ceil_mode=True).numpy())
    with pytest.raises(ValueError, match="max_pool2d"):
        F.max_pool2d(Tensor(x), 3, 2)
    with pytest.raises(ValueError, match="at most half of kernel_size"):
        F.max_pool2d(Tensor(x), 2, padding=2, ceil_mode=True)


def test_avg_pool2d_ceil_mode_and_divisor_override_match_torch_everywhere():
    rng = np.random.default_rng(1)
    for shape, k, s, p, d in _pool_cases():
        if d != 1:
            continue
        x = rng.standard_normal(shape)
        for ceil_mode, count_include_pad, divisor in itertools.product((False, True), (True, False), (None, 3, -2)):
            args = (k, s, p, ceil_mode, count_include_pad, divisor)
            tt = torch.tensor(x, requires_grad=True)
            try:
                tout = TF.avg_pool2d(tt, *args)
            except RuntimeError:
                with pytest.raises(ValueError):
                    F.avg_pool2d(Tensor(x), *args)
                continue
            xt = leaf(x)
            out = F.avg_pool2d(xt, *args)
            assert out.shape == tuple(tout.shape)
            np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-14, atol=1e-15)
            g = cotangents(out.shape)
            out.backward(Tensor(g))
            tout.backward(torch.tensor(g))
            np.testing.assert_allclose(xt.grad.data, tt.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_avg_pool2d_partial_windows_divide_like_torch():
    """5x5 pooled 2x2 with ceil_mode: the last row and column of windows are partial; PyTorch divides each by its
    pixels inside the (padded) input, so the corner window of one pixel is that pixel itself."""
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    out = F.avg_pool2d(Tensor(x), 2, ceil_mode=True)
    np.testing.assert_array_equal(out.data, [[[[3.0, 5.0, 6.5], [13.0, 15.0, 16.5], [20.5, 22.5, 24.0]]]])
    out = F.avg_pool2d(Tensor(x), 2, divisor_override=1)
    np.testing.assert_array_equal(out.data, [[[[12.0, 20.0], [52.0, 60.0]]]])
    for bad, kind in [(0, ValueError), (2.5, TypeError), (True, TypeError)]:
        with pytest.raises(kind, match="divisor_override"):
            F.avg_pool2d(Tensor(x), 2, divisor_override=bad)
    # one (C, H, W) image, and stride=[] meaning the kernel size, as in torch
    np.testing.assert_allclose(F.avg_pool2d(Tensor(x[0]), 3, [], 1, True).data,
                               TF.avg_pool2d(torch.tensor(x[0]), 3, [], 1, True).numpy(), rtol=1e-15)


def test_avg_pool2d_layer_takes_torchs_positional_order():
    """AvgPool2d(k, s, p, ceil_mode, count_include_pad, divisor_override): the 4th argument is ceil_mode, as in
    torch (it was count_include_pad here: AvgPool2d(2, 2, 0, True) silently pooled 5 → 2 instead of 3)."""
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 5))
    for args in [(2, 2, 0, True), (3, 2, 1, True, False), (2, None, 0, False, True, 3)]:
        np.testing.assert_allclose(nn.AvgPool2d(*args)(Tensor(x)).data, torch.nn.AvgPool2d(*args)(torch.tensor(x)),
                                   rtol=1e-14)
    assert repr(nn.AvgPool2d(2)) == repr(torch.nn.AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"


@st.composite
def ceil_pool_calls(draw, dilated: bool):
    """(shape, kernel, stride, padding, dilation) whose ceil_mode output has a partial last window."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(2, 3)), draw(st.integers(2, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilated else (1, 1)
    sides = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6))
                  for k, p, d in zip(kernel, padding, dilation))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *sides)
    for n, k, s, p, d in zip(sides, kernel, stride, padding, dilation):  # every window holds a real pixel
        out = (n + 2 * p - d * (k - 1) - 1 + s - 1) // s + 1
        out -= (out - 1) * s >= n + p
        assume(all(any(0 <= h * s - p + i * d < n for i in range(k)) for h in range(out)))
    return shape, kernel, stride, padding, dilation


@CASES
@given(ceil_pool_calls(dilated=True), st.booleans(), st.data())
def test_max_pool2d_ceil_mode_gradgradcheck(call, unbatched, data):
    shape, kernel, stride, padding, dilation = call
    x = data.draw(arrays(shape, distinct=True, margin=0.01))  # no ties: the derivative exists everywhere
    x = x[0] if unbatched else x
    fn = lambda t: F.max_pool2d(t, kernel, stride, padding, dilation, ceil_mode=True)  # noqa: E731
    assert gradcheck(fn, leaf(x))
    assert gradgradcheck(fn, leaf(x))


@CASES
@given(ceil_pool_calls(dilated=False), st.booleans(), st.sampled_from([None, 1, 5, -3]), st.booleans(), st.data())
def test_avg_pool2d_ceil_mode_and_divisor_gradgradcheck_and_torch(call, count_include_pad, divisor, unbatched, data):
    shape, kernel, stride, padding, _ = call
    x = data.draw(arrays(shape))
    x = x[0] if unbatched else x
    args = (kernel, stride, padding, True, count_include_pad, divisor)
    assert gradcheck(lambda t: F.avg_pool2d(t, *args), leaf(x))
    assert gradgradcheck(lambda t: F.avg_pool2d(t, *args), leaf(x))
    first_and_second_vs_torch(lambda t: F.avg_pool2d(t, *args), lambda t: TF.avg_pool2d(t, *args), x)


# ------------------------------------------------------------------------------------------ adaptive avg pooling


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adaptive_avg_pool2d_matches_torch_for_every_small_size(dtype):
    """Sizes that divide the input, that don't (uneven, overlapping windows) and larger than the input (repeated
    windows), None entries: the same values (bit for bit except a 1x1 output, which PyTorch computes as a mean with
    its own summation order) and gradients."""
    rng = np.random.default_rng(3)
    tight = dict(rtol=1e-13, atol=1e-15) if dtype == np.float64 else dict(rtol=2e-6, atol=1e-6)
    for h, w, out_h, out_w in itertools.product([1, 2, 5, 7, 8], [3, 6], [1, 2, 3, 4, 7, 9], [1, 2, 4, None]):
        x = rng.standard_normal((2, 3, h, w)).astype(dtype)
        xt, tt = leaf(x), torch.tensor(x, requires_grad=True)
        out, tout = F.adaptive_avg_pool2d(xt, (out_h, out_w)), TF.adaptive_avg_pool2d(tt, (out_h, out_w))
        assert out.shape == tuple(tout.shape) and out.dtype == dtype
        if (out_h, out_w) == (1, 1) or (out_h, out_w) == (1, w) and h == 1:
            np.testing.assert_allclose(out.data, tout.detach().numpy(), **tight)
        else:
            np.testing.assert_array_equal(out.data, tout.detach().numpy())
        g = cotangents(out.shape).astype(dtype)
        out.backward(Tensor(g))
        tout.backward(torch.tensor(g))
        np.testing.assert_allclose(xt.grad.data, tt.grad.numpy(), **tight)


def test_adaptive_avg_pool2d_windows_are_torchs():
    """7 → 3: windows [0, 3), [2, 5), [4, 7) (floor(i·7/3) to ceil((i+1)·7/3)), each a mean over its own length;
    an inf stays in the windows that hold it (a pooling by matrix products would spread 0 · inf = nan)."""
    x = np.arange(7.0).reshape(1, 1, 1, 7)
    np.testing.assert_array_equal(F.adaptive_avg_pool2d(Tensor(x), (1, 3)).data, [[[[1.0, 3.0, 5.0]]]])
    x[..., 0] = np.inf
    out = F.adaptive_avg_pool2d(Tensor(x), (1, 3)).data
    np.testing.assert_array_equal(out, TF.adaptive_avg_pool2d(torch.tensor(x), (1, 3)).numpy())
    assert out[0, 0, 0, 0] == np.inf and np.isfinite(out[0, 0, 0, 1:]).all()


@st.composite
def adaptive_calls(draw):
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    size = st.integers(1, 7)
    output_size = draw(st.one_of(size, st.tuples(size | st.none(), size | st.none())))
    shape = draw(st.sampled_from([(1, 1), (2, 3), (1, 2), ()]))  # (), an unbatched image (C, H, W)
    return (*shape, h, w) if shape else (draw(st.integers(1, 2)), h, w), output_size


@CASES
@given(adaptive_calls(), st.data())
def test_adaptive_avg_pool2d_gradgradcheck_and_second_derivatives_vs_torch(call, data):
    shape, output_size = call
    x = data.draw(arrays(shape))
    fn = lambda t: F.adaptive_avg_pool2d(t, output_size)  # noqa: E731
    assert gradcheck(fn, leaf(x))
    assert gradgradcheck(fn, leaf(x))
    first_and_second_vs_torch(fn, lambda t: TF.adaptive_avg_pool2d(t, output_size), x)


def test_adaptive_avg_pool2d_layer_and_errors():
    x = np.random.default_rng(4).standard_normal((2, 3, 10, 9))
    for size in [5, (None, 2), (3, None), (7, 7)]:
        layer, tlayer = AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size)
        assert repr(layer) == repr(tlayer)
        np.testing.assert_allclose(layer(Tensor(x)).data, tlayer(torch.tensor(x)).numpy(), rtol=1e-14)
    assert F.adaptive_avg_pool2d(Tensor(x), (0, 3)).shape == (2, 3, 0, 3)  # as torch
    assert F.adaptive_avg_pool2d(Tensor(np.ones((0, 3, 4, 4))), 2).shape == (0, 3, 2, 2)
    cases = [
        (lambda: F.adaptive_avg_pool2d(Tensor(x[0, 0]), 2), ValueError, r"3-D \(C, H, W\) or 4-D"),
        (lambda: F.adaptive_avg_pool2d(Tensor(x[None]), 2), ValueError, "3-D"),
        (lambda: F.adaptive_avg_pool2d(Tensor(np.ones((2, 3, 0, 4))), 2), ValueError, "must not be 0"),
        (lambda: F.adaptive_avg_pool2d(Tensor(x), (-1, 3)), ValueError, ">= 0"),
        (lambda: F.adaptive_avg_pool2d(Tensor(x), (2, 3, 4)), ValueError, "a pair"),
        (lambda: F.adaptive_avg_pool2d(Tensor(x), (2.5, 2)), TypeError, "ints or None"),
        (lambda: F.adaptive_avg_pool2d(Tensor(x), None), TypeError, "output_size"),
        (lambda: F.adaptive_avg_pool2d(Tensor(np.ones((1, 1, 2, 2), np.int64)), 1), TypeError, "floating-point"),
        (lambda: F.adaptive_avg_pool2d(x, 1), TypeError, "must be a Tensor"),
    ]
    for call, kind, words in cases:
        with pytest.raises(kind, match=words):
            call()


# ------------------------------------------------------------------------------------------------ dropout2d


def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    x = np.random.default_rng(5).standard_normal((8, 50, 3, 4)) + 5.0  # no zeros of its own
    out = F.dropout2d(Tensor(x), 0.3).data
    kept = out[:, :, :1, :1] != 0
    np.testing.assert_array_equal(out, x * np.where(kept, 1 / (1 - 0.3), 0.0))  # whole channels, scaled survivors
    assert abs(1 - kept.mean() - 0.3) < 0.06  # 400 channels
    layer = Dropout2d(0.3)
    assert (layer(Tensor(x)).data == 0).any()  # training by default
    layer.eval()
    xt = Tensor(x)
    assert layer(xt) is xt and F.dropout2d(xt, 0.3, training=False) is xt and F.dropout2d(xt, 0.0) is xt
    assert repr(Dropout2d(0.2, inplace=True)) == "Dropout2d(p=0.2, inplace=True)"


def test_dropout2d_gradient_is_the_mask_and_twice_differentiable():
    x = np.random.default_rng(6).standard_normal((2, 6, 3, 3))

    def fn(t):
        Tensor.manual_seed(7)  # the same mask at every call of the check
        return F.dropout2d(t, 0.4)

    assert gradcheck(fn, leaf(x)) and gradgradcheck(fn, leaf(x))
    xt = leaf(x)
    out = fn(xt)
    g = cotangents(out.shape)
    out.backward(Tensor(g))
    np.testing.assert_array_equal(xt.grad.data, g * np.where(out.data[:, :, :1, :1] != 0, 1 / 0.6, 0.0))


def test_dropout2d_p_one_inplace_and_errors():
    x = np.array([[[[np.inf, 1.0]], [[2.0, 3.0]]]])
    with np.errstate(invalid="ignore"):  # inf · 0 = nan, as in torch
        np.testing.assert_array_equal(F.dropout2d(Tensor(x), 1.0).data, TF.dropout2d(torch.tensor(x), 1.0).numpy())
    xt = Tensor(np.ones((2, 8, 2, 2)))
    data = xt.data
    Tensor.manual_seed(3)
    out = F.dropout2d(xt, 0.5, inplace=True)
    Tensor.manual_seed(3)
    expected = F.dropout2d(Tensor(np.ones((2, 8, 2, 2))), 0.5)
    assert out is xt and xt.data is data and xt._version == 1
    np.testing.assert_array_equal(out.data, expected.data)
    with pytest.raises(RuntimeError, match="leaf"):
        F.dropout2d(leaf(np.ones((1, 2, 2, 2))), 0.5, inplace=True)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"probability p must be in \[0, 1\]"):
            F.dropout2d(Tensor(np.ones((1, 2, 2, 2))), bad, training=False)
        with pytest.raises(ValueError, match="probability"):
            Dropout2d(bad)


def test_dropout2d_other_ranks_behave_and_warn_as_torch():
    """PyTorch 2.13: a 3-D input is (N, C, L) — each row dropped whole — with a warning; 2-D and 5-D inputs warn
    (deprecated) and drop input[n, c] blocks; 1-D and 0-d raise."""
    x3 = np.random.default_rng(8).standard_normal((4, 30, 5)) + 5.0
    with pytest.warns(UserWarning, match=r"3-D input is taken as \(N, C, L\)") as record:
        out = F.dropout2d(Tensor(x3), 0.5).data
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        TF.dropout2d(torch.tensor(x3), 0.5)
    assert len(record) == len(theirs) == 1
    kept = out[:, :, :1] != 0
    np.testing.assert_array_equal(out, x3 * np.where(kept, 2.0, 0.0))
    assert kept.any() and not kept.all()
    for shape in [(6, 40), (2, 5, 2, 2, 2)]:
        x = np.random.default_rng(9).standard_normal(shape) + 5.0
        with pytest.warns(UserWarning, match=f"{len(shape)}-D input"):
            out = F.dropout2d(Tensor(x), 0.5).data
        kept = out.reshape(shape[0], shape[1], -1)[..., :1] != 0
        np.testing.assert_array_equal(out.reshape(kept.shape[:2] + (-1,)),
                                      x.reshape(kept.shape[:2] + (-1,)) * np.where(kept, 2.0, 0.0))
        assert kept.any() and not kept.all()
    for shape in [(5,), ()]:
        with pytest.warns(UserWarning), pytest.raises(ValueError, match="at least 2 dimensions"):
            F.dropout2d(Tensor(np.ones(shape)), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(Tensor(np.ones((2, 3, 4, 4))), 0.5)  # 4-D: no warning


def test_dropout_takes_torchs_inplace_argument():
    xt = Tensor(np.ones((3, 50)))
    Tensor.manual_seed(1)
    out = F.dropout(xt, 0.5, True, True)
    Tensor.manual_seed(1)
    expected = F.dropout(Tensor(np.ones((3, 50))), 0.5)
    assert out is xt and xt._version == 1
    np.testing.assert_array_equal(xt.data, expected.data)
    Tensor.manual_seed(1)
    layer_out = nn.Dropout(0.5, inplace=True)(Tensor(np.ones((3, 50))))  # the layer draws the same mask
    np.testing.assert_array_equal(layer_out.data, expected.data)


# ------------------------------------------------------------------------------------------ gradient clipping


def _params(values, lib):
    """Parameters with the given gradients (None: no gradient), in our library or torch."""
    out = []
    for g, dtype in values:
        if lib == "ours":
            p = nn.Parameter(Tensor(np.zeros(np.shape(g) if g is not None else 2, dtype)))
            p.grad = None if g is None else Tensor(np.array(g, dtype))
        else:
            tdtype = torch.float64 if dtype == np.float64 else torch.float32
            p = torch.zeros(np.shape(g) if g is not None else 2, dtype=tdtype, requires_grad=True)
            p.grad = None if g is None else torch.tensor(np.array(g, dtype))
        out.append(p)
    return out


@pytest.mark.parametrize("norm_type", [2.0, 1, 3, 0.5, math.inf, -math.inf, 0, -1.5, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(10)
    grads = [(rng.standard_normal((3, 4)), np.float64), (None, np.float64), (rng.standard_normal(5) * 3, np.float64),
             (np.zeros(2), np.float64)]
    ours, theirs = _params(grads, "ours"), _params(grads, "torch")
    arrays_before = [p.grad.data for p in ours if p.grad is not None]
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, Tensor) and total.shape == () and total.dtype == np.float64 and not total.requires_grad
    np.testing.assert_allclose(total.data, ttotal.numpy(), rtol=1e-14)
    for p, tp in zip(ours, theirs):
        assert (p.grad is None) == (tp.grad is None)
        if p.grad is not None:
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-14, atol=1e-300)
    assert [p.grad.data for p in ours if p.grad is not None] == arrays_before  # in place: the same arrays
    if max_norm == 1e3 and norm_type == 2.0:  # coefficient capped at 1: the gradients keep their values exactly
        np.testing.assert_array_equal(ours[0].grad.data, grads[0][0])


def test_clip_grad_norm_dtypes_single_tensor_generators_and_versions():
    rng = np.random.default_rng(11)
    g32, g64 = rng.standard_normal(1000).astype(np.float32), rng.standard_normal(10)
    ours = _params([(g32, np.float32), (g64, np.float64)], "ours")
    theirs = _params([(g32, np.float32), (g64, np.float64)], "torch")
    total, ttotal = clip_grad_norm_(iter(ours), 1.0), torch.nn.utils.clip_grad_norm_(iter(theirs), 1.0)
    assert total.dtype == np.float64  # the promoted dtype, as torch.stack's
    np.testing.assert_allclose(total.data, ttotal.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours[0].grad.data, theirs[0].grad.numpy(), rtol=1e-6)
    assert ours[0].grad.dtype == np.float32
    p, = _params([(np.full(3, 2.0), np.float32)], "ours")
    version = p.grad._version
    total = clip_grad_norm_(p, 1.0)  # one Tensor, not a list
    assert p.grad._version == version + 1 and total.dtype == np.float32
    np.testing.assert_allclose(p.grad.data, np.full(3, 2.0) / (math.sqrt(12) + 1e-6), rtol=1e-6)
    empty = clip_grad_norm_([], 1.0)
    assert empty.dtype == np.float32 and empty.item() == 0.0 and empty.dtype == torch_dtype_name(
        torch.nn.utils.clip_grad_norm_([], 1.0))
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((p for p in []), 1.0)
    assert clip_grad_norm_(_params([(None, np.float64)], "ours"), 1.0).item() == 0.0


def torch_dtype_name(t):
    return np.dtype(str(t.dtype).removeprefix("torch."))


def test_clip_grad_norm_non_finite_like_torch():
    for bad in (np.nan, np.inf):
        g = np.array([bad, 1.0, -2.0])
        ours, theirs = _params([(g, np.float64)], "ours"), _params([(g, np.float64)], "torch")
        total, ttotal = clip_grad_norm_(ours, 1.0), torch.nn.utils.clip_grad_norm_(theirs, 1.0)
        np.testing.assert_array_equal(total.data, ttotal.numpy())
        np.testing.assert_array_equal(ours[0].grad.data, theirs[0].grad.numpy())  # nan, or [nan, 0, 0]
        ours = _params([(g, np.float64)], "ours")
        with pytest.raises(RuntimeError, match="non-finite|cannot be clipped"):
            clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
        np.testing.assert_array_equal(ours[0].grad.data, g)  # untouched
    with pytest.raises(RuntimeError, match="empty gradient"):
        clip_grad_norm_(_params([(np.zeros(0), np.float64)], "ours"), 1.0, norm_type=math.inf)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(_params([(np.zeros(0), np.float64)], "torch"), 1.0, norm_type=math.inf)


def test_clip_coefficient_is_computed_as_torch_computes_it_in_float32():
    """torch evaluates max_norm / (norm + 1e-6) as reciprocal(norm + 1e-6) · max_norm, in the norm's dtype (a
    plain division differs in the last bit about a quarter of the time)."""
    rng = np.random.default_rng(12)
    for _ in range(200):
        norm = np.float32(rng.uniform(0.1, 100))
        max_norm = float(rng.uniform(0.01, 10))
        p, = _params([(np.ones(3), np.float32)], "ours")
        clip_grads_with_norm_(p, max_norm, Tensor(norm))
        tp, = _params([(np.ones(3), np.float32)], "torch")
        torch.nn.utils.clip_grads_with_norm_(tp, max_norm, torch.tensor(norm))
        np.testing.assert_array_equal(p.grad.data, tp.grad.numpy())
    total = get_total_norm([Tensor(np.array([3.0, 4.0]))])
    assert total.item() == 5.0


def test_clip_grad_value_matches_torch():
    g = np.array([-3.0, -0.5, 0.0, 0.7, 2.0, np.nan, np.inf])
    for clip in (1.0, 0.5, -1.0, np.inf, 2):
        ours, theirs = _params([(g, np.float64), (None, np.float64)], "ours"), \
            _params([(g, np.float64), (None, np.float64)], "torch")
        data = ours[0].grad.data
        assert clip_grad_value_(ours, clip) is None
        torch.nn.utils.clip_grad_value_(theirs, clip)
        np.testing.assert_array_equal(ours[0].grad.data, theirs[0].grad.numpy())
        assert ours[0].grad.data is data and ours[1].grad is None
    p, = _params([(g, np.float32)], "ours")
    clip_grad_value_(p, 1)  # one Tensor
    assert p.grad.dtype == np.float32 and np.nanmax(np.abs(p.grad.data)) == 1.0


# ------------------------------------------------------------------------------------------------ OneCycleLR


def _pair_of_optimizers(kind, groups=1):
    ps = [nn.Parameter(Tensor.ones(2)) for _ in range(groups)]
    tps = [torch.nn.Parameter(torch.ones(2)) for _ in range(groups)]
    cls, tcls, kw = {"sgd": (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
                     "adam": (Adam, torch.optim.Adam, dict(lr=0.1)),
                     "adamw": (AdamW, torch.optim.AdamW, dict(lr=0.1)),
                     "rmsprop": (RMSprop, torch.optim.RMSprop, dict(lr=0.1))}[kind]
    if groups == 1:
        return cls(ps, **kw), tcls(tps, **kw)
    return (cls([{"params": [p]} for p in ps], **kw), tcls([{"params": [p]} for p in tps], **kw))


def _settings(opt):
    return [(g["lr"], g.get("momentum"), g.get("betas"), g.get("initial_lr")) for g in opt.param_groups]


@pytest.mark.parametrize("kind, groups, kw", [
    ("sgd", 1, dict(max_lr=1.0, total_steps=20)),
    ("adam", 1, dict(max_lr=0.01, total_steps=37, pct_start=0.25)),
    ("sgd", 1, dict(max_lr=0.5, epochs=3, steps_per_epoch=7, anneal_strategy="linear")),
    ("adam", 1, dict(max_lr=0.3, total_steps=30, three_phase=True)),
    ("sgd", 1, dict(max_lr=0.3, total_steps=31, three_phase=True, anneal_strategy="linear", div_factor=10.0,
                    final_div_factor=100.0)),
    ("adamw", 2, dict(max_lr=[0.1, 0.2], total_steps=15, base_momentum=[0.8, 0.7], max_momentum=(0.9, 0.99))),
    ("sgd", 2, dict(max_lr=0.1, total_steps=12, cycle_momentum=False)),
    ("rmsprop", 1, dict(max_lr=0.05, total_steps=10, pct_start=0.0)),
    ("sgd", 1, dict(max_lr=0.05, total_steps=1)),
])
def test_one_cycle_schedule_equals_torch_step_by_step(kind, groups, kw):
    """Rates, momenta (betas[0] for Adam) and initial_lr after construction and after every step, compared for
    equality with torch's, up to the last allowed step; the next step raises in both."""
    opt, topt = _pair_of_optimizers(kind, groups)
    sched, tsched = OneCycleLR(opt, **kw), torch.optim.lr_scheduler.OneCycleLR(topt, **kw)
    total = kw.get("total_steps") or kw["epochs"] * kw["steps_per_epoch"]
    for step in range(total + 1):
        assert _settings(opt) == _settings(topt), step
        assert sched.get_last_lr() == tsched.get_last_lr()
        if step < total:
            opt.step()
            topt.step()
            sched.step()
            tsched.step()
    with pytest.raises(ValueError, match=f"tried to step {total + 1} times, but total_steps is {total}"):
        sched.step()
    with pytest.raises(ValueError, match=f"Tried to step {total + 1} times"):
        tsched.step()


def test_one_cycle_trains_like_torch_with_sgd_momentum():
    """A few real SGD steps with the schedule changing lr and momentum in between: the same parameters."""
    rng = np.random.default_rng(13)
    w0, grads = rng.standard_normal((3, 2)), [rng.standard_normal((3, 2)) for _ in range(8)]
    p, tp = nn.Parameter(Tensor(w0.copy())), torch.nn.Parameter(torch.tensor(w0.copy()))
    opt, topt = SGD([p], lr=0.1, momentum=0.5, nesterov=True), torch.optim.SGD([tp], lr=0.1, momentum=0.5,
                                                                                 nesterov=True)
    sched = OneCycleLR(opt, max_lr=0.4, total_steps=8)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.4, total_steps=8)
    for g in grads:
        p.grad, tp.grad = Tensor(g.copy()), torch.tensor(g.copy())
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-14, atol=1e-15)


def test_one_cycle_state_dict_resumes_exactly(tmp_path):
    kw = dict(max_lr=[0.1, 0.3], total_steps=20, three_phase=True, anneal_strategy="linear")
    straight, _ = _pair_of_optimizers("adam", groups=2)
    first, _ = _pair_of_optimizers("adam", groups=2)
    s_straight, s_first = OneCycleLR(straight, **kw), OneCycleLR(first, **kw)
    for _ in range(7):
        s_straight.step()
        s_first.step()
    nn.save({"opt": first.state_dict(), "sched": s_first.state_dict()}, tmp_path / "ckpt.npz")
    loaded = nn.load(tmp_path / "ckpt.npz")
    resumed, _ = _pair_of_optimizers("adam", groups=2)
    s_resumed = OneCycleLR(resumed, max_lr=0.01, total_steps=5)  # other settings: the state dict brings its own
    resumed.load_state_dict(loaded["opt"])
    s_resumed.load_state_dict(loaded["sched"])
    assert s_resumed.get_last_lr() == s_first.get_last_lr() and s_resumed.total_steps == 20
    assert s_resumed.three_phase is True and s_resumed.anneal_strategy == "linear"
    for _ in range(13):
        s_straight.step()
        s_resumed.step()
        assert _settings(resumed) == _settings(straight)
    with pytest.raises(ValueError, match="keys"):
        s_resumed.load_state_dict({"last_epoch": 3})


def test_one_cycle_resume_with_last_epoch_and_errors_like_torch():
    opt, topt = _pair_of_optimizers("sgd")
    with pytest.raises(KeyError, match="initial_lr"):
        OneCycleLR(opt, max_lr=0.1, total_steps=10, last_epoch=3)
    with pytest.raises(KeyError):
        torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=10, last_epoch=3)
    OneCycleLR(opt, max_lr=0.1, total_steps=10)
    torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=10)
    sched = OneCycleLR(opt, max_lr=0.1, total_steps=10, last_epoch=3)  # resumes at step 4
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=10, last_epoch=3)
    assert sched.last_epoch == tsched.last_epoch == 4 and _settings(opt) == _settings(topt)

    class Plain(Optimizer):  # neither momentum nor betas
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

    bad = [
        (dict(max_lr=0.1), ValueError, "total_steps or both epochs"),
        (dict(max_lr=0.1, total_steps=0), ValueError, "total_steps must be a positive integer"),
        (dict(max_lr=0.1, total_steps=10.0), ValueError, "total_steps"),
        (dict(max_lr=0.1, epochs=2, steps_per_epoch=0), ValueError, "steps_per_epoch"),
        (dict(max_lr=0.1, total_steps=10, pct_start=1), ValueError, "pct_start must be a float"),
        (dict(max_lr=0.1, total_steps=10, pct_start=1.5), ValueError, "pct_start"),
        (dict(max_lr=0.1, total_steps=10, anneal_strategy="exp"), ValueError, "anneal_strategy"),
        (dict(max_lr=[0.1, 0.2], total_steps=10), ValueError, "max_lr has 2 values"),
        (dict(max_lr=0.1, total_steps=10, base_momentum=[0.8, 0.7]), ValueError, "base_momentum has 2"),
    ]
    for kw, kind, words in bad:
        with pytest.raises(kind, match=words):
            OneCycleLR(_pair_of_optimizers("sgd")[0], **kw)
        with pytest.raises(kind):
            torch.optim.lr_scheduler.OneCycleLR(_pair_of_optimizers("sgd")[1], **kw)
    with pytest.raises(ValueError, match="momentum or betas"):
        OneCycleLR(Plain([nn.Parameter(Tensor.ones(1))]), max_lr=0.1, total_steps=3)
    OneCycleLR(Plain([nn.Parameter(Tensor.ones(1))]), max_lr=0.1, total_steps=3, cycle_momentum=False)
    with pytest.raises(TypeError, match="expected an Optimizer"):
        OneCycleLR("sgd", max_lr=0.1, total_steps=3)
    # a phase of no steps divides by zero in torch: an error here too, with the reason
    with pytest.raises(ZeroDivisionError, match="phase 1 of the schedule has no steps"):
        OneCycleLR(_pair_of_optimizers("sgd")[0], max_lr=0.1, total_steps=10, pct_start=0.1)
    with pytest.raises(ZeroDivisionError):
        torch.optim.lr_scheduler.OneCycleLR(_pair_of_optimizers("sgd")[1], max_lr=0.1, total_steps=10, pct_start=0.1)


# ------------------------------------------------------------------------------------------ a ported CNN


def test_a_ported_cnn_trains_like_torch():
    """The pieces together, as a PyTorch program uses them: Conv2d → ReLU → MaxPool2d(ceil_mode) → Dropout2d (in
    eval mode here, so deterministic) → Conv2d → AdaptiveAvgPool2d → Flatten → Linear, cross-entropy, backward,
    clip_grad_norm_, SGD with momentum and OneCycleLR; weights copied from torch; float64."""
    def build(lib, dropout2d, adaptive_avg_pool2d, dtype):
        return lib.Sequential(lib.Conv2d(2, 4, 3, padding=1, dtype=dtype), lib.ReLU(),
                              lib.MaxPool2d(2, ceil_mode=True), dropout2d(0.25), lib.Conv2d(4, 5, 3, dtype=dtype),
                              adaptive_avg_pool2d((2, 3)), lib.Flatten(), lib.Linear(30, 3, dtype=dtype))

    torch.manual_seed(0)
    theirs = build(torch.nn, torch.nn.Dropout2d, torch.nn.AdaptiveAvgPool2d, torch.float64)
    ours = build(nn, Dropout2d, AdaptiveAvgPool2d, np.float64)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    ours[3].eval()
    theirs[3].eval()
    opt, topt = SGD(ours.parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(theirs.parameters(), lr=0.1,
                                                                              momentum=0.9)
    sched = OneCycleLR(opt, max_lr=0.2, total_steps=4)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.2, total_steps=4)
    rng = np.random.default_rng(14)
    for _ in range(4):
        x, y = rng.standard_normal((3, 2, 9, 9)), rng.integers(0, 3, 3)
        opt.zero_grad()
        topt.zero_grad()
        loss = F.cross_entropy(ours(Tensor(x)), y)
        tloss = TF.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        np.testing.assert_allclose(loss.data, tloss.item(), rtol=1e-12)
        loss.backward()
        tloss.backward()
        total = nn.utils.clip_grad_norm_(ours.parameters(), 0.5)
        ttotal = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5)
        np.testing.assert_allclose(total.data, ttotal.item(), rtol=1e-12)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
