"""Reductions and scans with PyTorch's vocabulary and semantics (issue 14): max/min in their three forms, amax/amin,
argmax/argmin, sum/mean dtypes, var/std arguments, softmax/logsumexp over empty dims, cumsum, cumprod, prod, norm,
all/any, sort/argsort, topk and median.

PyTorch is the oracle: values, dtypes, shapes, which index a tie goes to, first and second derivatives (compared
in float64), warnings and errors. Every differentiable op also passes gradcheck and gradgradcheck on
hypothesis-generated shapes (0-d and size-1 axes included) away from ties; at ties, zeros and other special points
the conventions are compared with PyTorch instead.
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import arrays, axes, cotangents, shapes

import tinygrad_np as tg
from tinygrad_np import Tensor, gradcheck, gradgradcheck
from tinygrad_np.autograd import grad

pytestmark = pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True:UserWarning")
EXAMPLES = settings(max_examples=12, deadline=None)
INF = math.inf
NAN = math.nan


def leaf(a) -> Tensor:
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is the oracle of these tests")


def both(fn, tfn, a, torch, seed=0, second=False):
    """`fn` on our leaf and `tfn` on torch's, on the float64 array `a`: values, then the gradient for a random
    cotangent, then (with `second`) the derivative of ⟨that gradient, w⟩ with respect to the input, all equal."""
    x, tx = leaf(a), torch.tensor(np.asarray(a, np.float64), requires_grad=True)
    out, tout = fn(x), tfn(tx)
    assert out.shape == tuple(tout.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    v = cotangents(out.shape, seed=seed)
    (g,) = grad(out, x, grad_outputs=Tensor(v), create_graph=second, allow_unused=True)
    (tg_,) = torch.autograd.grad(tout, tx, torch.tensor(v), create_graph=second, allow_unused=True)
    assert (g is None) == (tg_ is None)  # PyTorch's undefined gradients (norm(0)) are None here too
    if g is None:
        return
    np.testing.assert_allclose(g.data, tg_.detach().numpy(force=True), rtol=1e-12, atol=1e-14)
    if second:
        w = cotangents(x.shape, seed=seed + 1)
        h = grad(g, x, grad_outputs=Tensor(w), allow_unused=True)[0] if g.requires_grad else None
        th = torch.autograd.grad(tg_, tx, torch.tensor(w), allow_unused=True)[0] if tg_.requires_grad else None
        h = np.zeros(x.shape) if h is None else h.data
        th = np.zeros(x.shape) if th is None else th.numpy(force=True)
        np.testing.assert_allclose(h, th, rtol=1e-10, atol=1e-12)


def tie_arrays(n, shape, seed, nan=False):
    """`n` arrays of `shape` with values in {0, 1, 2} (many ties), and some NaNs if `nan`."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        a = rng.integers(0, 3, shape).astype(np.float64)
        if nan:
            a[rng.random(shape) < 0.15] = NAN
        yield a


def check_both_orders(fn, *inputs, seed=0):
    ts = [leaf(a) for a in inputs]
    assert gradcheck(fn, *ts, seed=seed)
    assert gradgradcheck(fn, *ts, seed=seed)


# ------------------------------------------------------------------------------------------------ max and min


def test_max_with_a_dim_returns_named_values_and_indices(torch):
    x = Tensor(np.array([[1.0, 3.0, 3.0], [5.0, 5.0, 0.0]]))
    out = x.max(1)
    values, indices = out  # unpacks like PyTorch's torch.return_types.max
    assert out.values is values and out.indices is indices and out[0] is values and out[1] is indices
    assert isinstance(out, tuple) and len(out) == 2 and type(out).__name__ == "max"
    assert values.tolist() == [3.0, 5.0] and indices.tolist() == [1, 0] and indices.dtype == np.int64
    assert out._fields == ("values", "indices") and type(x.min(0)).__name__ == "min"
    kept = x.max(1, keepdim=True)
    assert kept.values.shape == kept.indices.shape == (2, 1)
    assert x.max(dim=0).indices.tolist() == [1, 1, 0] and x.max(axis=0).indices.tolist() == [1, 1, 0]
    assert x.max(-1, True).values.shape == (2, 1)
    assert tg.return_types.max is type(out)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_dim_ties_and_nans_match_torch(op, torch):
    """Which index a tie (or a NaN) goes to, the values, and the gradient, which goes to that index only."""
    for k, a in enumerate(itertools.chain(tie_arrays(60, (3, 5), 1), tie_arrays(30, (4, 3), 2, nan=True))):
        for dim, keepdim in [(0, False), (1, True), (-1, False), (-2, True)]:
            out, tout = getattr(leaf(a), op)(dim, keepdim), getattr(torch.tensor(a), op)(dim, keepdim)
            np.testing.assert_array_equal(out.indices.data, tout.indices.numpy())
            values = lambda t, dim=dim, keepdim=keepdim: getattr(t, op)(dim, keepdim).values  # noqa: E731
            both(values, values, a, torch, seed=k)
    both(lambda t: getattr(t, op)(0)[0], lambda t: getattr(t, op)(0)[0], np.array(2.5), torch)  # 0-d
    assert getattr(Tensor(2.5), op)(0, keepdim=True).values.shape == ()  # a 0-d tensor stays 0-d, as PyTorch


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_without_dim_share_the_gradient_among_ties_and_nans(op, torch):
    for k, a in enumerate(itertools.chain(tie_arrays(20, (3, 4), 3), tie_arrays(20, (2, 3), 4, nan=True))):
        both(lambda t: getattr(t, op)(), lambda t: getattr(t, op)(), a, torch, seed=k, second=True)
    both(lambda t: getattr(t, op)(), lambda t: getattr(t, op)(), np.array([1.0, INF, INF]), torch)


@pytest.mark.parametrize("op", ["amax", "amin"])
def test_amax_amin_share_the_gradient_among_ties_and_match_torch(op, torch):
    dims = [None, 0, 1, -1, (0, 1), (1, -2), (), []]
    for k, a in enumerate(itertools.chain(tie_arrays(15, (3, 4), 5), tie_arrays(10, (3, 4), 6, nan=True))):
        for dim in dims:
            for keepdim in (False, True):
                call = (lambda t, kd=keepdim: getattr(t, op)(keepdim=kd)) if dim is None else (
                    lambda t, d=dim, kd=keepdim: getattr(t, op)(d, kd))
                both(call, call, a, torch, seed=k, second=k < 3)


def test_max_min_of_integers_and_bools_are_exact():
    """amin was −amax(−x): wrong for unsigned integers (−x wraps around) and an error for bools."""
    u = Tensor(np.array([[0, 5], [7, 200]], np.uint8))
    assert u.amin().item() == 0 and u.min().item() == 0 and u.amin().dtype == np.uint8
    assert u.min(1).values.tolist() == [0, 7] and u.amin(0).tolist() == [0, 5]
    assert u.max().item() == 200 and u.amax(1).tolist() == [5, 200]
    b = Tensor(np.array([[True, False], [True, True]]))
    assert b.amin().item() is False and b.min(1).values.tolist() == [False, True] and b.max().dtype == np.bool_
    assert b.max(0).indices.tolist() == [0, 1]
    i = Tensor(np.array([-(2**63), 2**63 - 1]))
    assert i.amin().item() == -(2**63) and i.min().item() == -(2**63)  # −x overflows for the smallest int64


def test_max_and_min_of_two_tensors_are_maximum_and_minimum(torch):
    a, b = np.array([[1.0, 5.0, 2.0]]), np.array([[3.0], [2.0]])
    x, y = leaf(a), leaf(b)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    for op in ("max", "min"):
        out, tout = getattr(x, op)(y), getattr(torch, op)(tx, ty)
        np.testing.assert_array_equal(out.data, tout.detach().numpy())
        np.testing.assert_array_equal(getattr(tg, op)(x, y).data, out.data)
        out.backward(np.ones(out.shape))
        tout.backward(torch.ones(tout.shape, dtype=torch.float64))
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())
    np.testing.assert_array_equal(y.grad.data, ty.grad.numpy())


def test_top_level_max_takes_every_form():
    x = Tensor(np.array([[1.0, 4.0], [3.0, 2.0]]))
    assert tg.max(x).item() == 4.0 and tg.min(x).item() == 1.0
    assert tg.max(x, 1).indices.tolist() == [1, 0] and tg.max(x, dim=0, keepdim=True).values.shape == (1, 2)
    assert tg.amax(x, (0, 1)).item() == 4.0 and tg.argmin(x).item() == 0
    with pytest.raises(TypeError, match="input must be a Tensor"):
        tg.max(np.ones(3))


def test_max_argument_errors_match_torch(torch):
    x, tx = Tensor(np.zeros((2, 3))), torch.zeros(2, 3)
    for call in (lambda t: t.max((0, 1)), lambda t: t.min(None), lambda t: t.max(0.5), lambda t: t.max(keepdim=True),
                 lambda t: t.argmax((0,)), lambda t: t.median(dim=(0, 1)), lambda t: t.prod((0, 1)),
                 lambda t: t.sum(True), lambda t: t.topk(2.0), lambda t: t.cumsum()):
        with pytest.raises(TypeError):
            call(tx)
        with pytest.raises(TypeError):
            call(x)
    with pytest.raises(TypeError, match="amax"):  # the message says what to use instead
        x.max((0, 1))
    for call in (lambda t: t.max(2), lambda t: t.amax(-3), lambda t: t.argmax(2), lambda t: t.sum(5),
                 lambda t: t.cumsum(2), lambda t: t.sort(2), lambda t: t.topk(1, 2)):
        with pytest.raises(IndexError):
            call(tx)
        with pytest.raises(IndexError, match=r"out of range.*\(2, 3\)"):
            call(x)
    for call in (lambda t: t.sum((0, 0)), lambda t: t.mean((0, -2)), lambda t: t.amax((1, 1))):
        with pytest.raises(RuntimeError):
            call(tx)
        with pytest.raises(RuntimeError, match="more than once"):
            call(x)


def test_reductions_over_an_empty_dim():
    e = Tensor(np.zeros((0, 3)))
    for call in (lambda: e.max(), lambda: e.min(0), lambda: e.amax(), lambda: e.amin(0), lambda: e.argmax(),
                 lambda: e.argmin(0), lambda: e.median(0)):
        with pytest.raises(ValueError, match=r"empty.*\(0, 3\)"):
            call()
    assert e.max(1).values.shape == e.max(1).indices.shape == e.amax(1).shape == e.argmax(1).shape == (0,)
    assert e.median(1).values.shape == (0,) and math.isnan(e.median().item())


# ------------------------------------------------------------------------------------------- argmax and argmin


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin_ties_keepdim_and_nans_match_torch(op, torch):
    for a in itertools.chain(tie_arrays(40, (3, 5), 7), tie_arrays(20, (3, 4), 8, nan=True)):
        x, tx = Tensor(a), torch.tensor(a)
        for kwargs in ({}, {"keepdim": True}, {"dim": 0}, {"dim": 1, "keepdim": True}, {"dim": -1},
                       {"dim": None, "keepdim": True}):
            out, tout = getattr(x, op)(**kwargs), getattr(tx, op)(**kwargs)
            assert out.shape == tuple(tout.shape) and out.dtype == np.int64
            np.testing.assert_array_equal(out.data, tout.numpy())
    for kwargs in ({}, {"keepdim": True}, {"dim": 0}, {"dim": -1, "keepdim": True}):  # 0-d
        assert getattr(Tensor(3.0), op)(**kwargs).shape == tuple(getattr(torch.tensor(3.0), op)(**kwargs).shape)
    with pytest.raises(RuntimeError, match="bool"):
        getattr(Tensor(np.array([True, False])), op)()
    assert getattr(Tensor(np.array([3, 200, 1], np.uint8)), op)().item() == (1 if op == "argmax" else 2)


# --------------------------------------------------------------------------------------- sums, means, dtypes


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.int64, np.bool_])
def test_integer_and_bool_sums_are_int64_as_torch(dtype, torch):
    a = (np.arange(24).reshape(2, 3, 4) * 37 % 256).astype(dtype)
    x, tx = Tensor(a), torch.tensor(a)
    for call in (lambda t: t.sum(), lambda t: t.sum(1), lambda t: t.sum((0, 2), keepdim=True),
                 lambda t: t.prod(), lambda t: t.prod(2), lambda t: t.cumsum(1), lambda t: t.cumprod(0),
                 lambda t: t.sum(dtype=torch.float64 if isinstance(t, torch.Tensor) else np.float64)):
        out, tout = call(x), call(tx)
        assert out.dtype == np.dtype(str(tout.dtype).removeprefix("torch.").replace("bool", "bool_"))
        np.testing.assert_array_equal(out.data, tout.numpy())
    assert Tensor(np.array([200, 100], np.uint8)).sum().item() == 300  # NumPy gives uint64, PyTorch int64


def test_sum_dtype_argument_and_float16_accumulation(torch):
    rng = np.random.default_rng(9)
    a = rng.uniform(0, 1, (50, 100)).astype(np.float16)
    x, tx = Tensor(a), torch.tensor(a)
    for call in (lambda t: t.sum(), lambda t: t.sum(0), lambda t: t.mean(1), lambda t: t.cumsum(0),
                 lambda t: t.cumsum(1)):
        out, tout = call(x), call(tx)
        assert out.dtype == np.float16
        np.testing.assert_array_equal(out.data, tout.numpy())  # float32 accumulation: the same rounding
    b = np.array([1.5, 2.25], np.float32)
    out = Tensor(b, requires_grad=True).sum(dtype=np.float64)
    assert out.dtype == np.float64 and out.item() == 3.75
    out.backward()
    assert Tensor(np.array([1, 2])).sum(dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "logsumexp", "norm"])
def test_an_empty_dim_list_reduces_every_dim_as_torch(op, torch):
    a = np.random.default_rng(10).standard_normal((2, 3))
    for dim in ([], ()):
        if op == "logsumexp":  # PyTorch's logsumexp(()) raises unless keepdim (a bug of its own): every dim here
            both(lambda t, d=dim: t.logsumexp(d), lambda t, d=dim: t.logsumexp(d, keepdim=True).reshape(()), a, torch)
        else:
            both(lambda t, d=dim: getattr(t, op)(dim=d), lambda t, d=dim: getattr(t, op)(dim=d), a, torch)


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_refuse_an_empty_dim_list(op, torch):
    """PyTorch's var(dim=[]) is the variance of every element, but its gradient divides by N − 1 with N = 1 (inf):
    an answer we cannot give without being wrong, so we raise."""
    x, tx = leaf(np.arange(6.0).reshape(2, 3)), torch.arange(6.0, dtype=torch.float64, requires_grad=True)
    getattr(tx, op)(dim=[]).backward()
    assert torch.isinf(tx.grad).all()
    for dim in ([], ()):
        with pytest.raises(RuntimeError, match="dim=None"):
            getattr(x, op)(dim)
    both(lambda t: getattr(t, op)(None), lambda t: getattr(t, op)(None), x.data, torch)


def test_all_and_any_match_torch_including_empty_dim_lists(torch):
    rng = np.random.default_rng(11)
    for a in (rng.integers(0, 2, (3, 4)).astype(np.float64), np.array([[NAN, 0.0], [1.0, 0.0]]),
              rng.integers(0, 2, (2, 3)).astype(np.uint8), rng.integers(0, 3, (2, 3)), np.zeros((0, 2))):
        x, tx = Tensor(a), torch.tensor(a)
        for op in ("all", "any"):
            for kwargs in ({}, {"dim": 0}, {"dim": 1, "keepdim": True}, {"dim": (0, 1)}, {"dim": ()},
                           {"dim": []}, {"dim": None}):
                out, tout = getattr(x, op)(**kwargs), getattr(tx, op)(**kwargs)
                assert out.shape == tuple(tout.shape) and str(out.dtype) == str(tout.dtype).removeprefix("torch.")
                np.testing.assert_array_equal(out.data, tout.numpy())
            assert getattr(tg, op)(x).item() == getattr(torch, op)(tx).item()


def test_mean_of_integers_raises_as_torch():
    x = Tensor(np.array([1, 2]))
    with pytest.raises(RuntimeError, match="mean.*int64.*float"):
        x.mean()
    with pytest.raises(RuntimeError, match="bool"):
        Tensor(np.array([True])).mean()
    with pytest.raises(RuntimeError, match="int64"):
        Tensor(np.array([1.0])).mean(dtype=np.int64)
    assert x.mean(dtype=np.float64).item() == 1.5 and x.mean(dtype=np.float64).dtype == np.float64


# ------------------------------------------------------------------------------------------------ var and std


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_take_torch_positional_arguments(op, torch):
    a = np.random.default_rng(12).standard_normal((3, 4))
    calls = [lambda t: getattr(t, op)(1, True), lambda t: getattr(t, op)(1, False, True),
             lambda t: getattr(t, op)(True), lambda t: getattr(t, op)(False), lambda t: getattr(t, op)(0, keepdim=True),
             lambda t: getattr(t, op)(dim=(0, 1), correction=0), lambda t: getattr(t, op)(unbiased=False)]
    for call in calls:
        both(call, call, a, torch)
    with pytest.raises(RuntimeError, match="floating-point"):
        getattr(Tensor(np.array([1, 2])), op)()


def test_var_with_no_degrees_of_freedom_warns_and_divides_by_zero_as_torch(torch):
    a = np.arange(6.0).reshape(2, 3)
    for call in (lambda t: t.var(1, correction=3), lambda t: t.var(1, correction=5), lambda t: t[:1, :1].var(),
                 lambda t: t.std(0, correction=2)):
        with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
            out = call(Tensor(a))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.testing.assert_array_equal(out.data, call(torch.tensor(a)).numpy())


# ----------------------------------------------------------------------------- logsumexp, softmax, log_softmax


def test_softmax_and_logsumexp_over_empty_dims_match_torch(torch):
    for shape, dim in [((2, 0), 1), ((0, 3), 1), ((0, 3), 0), ((2, 0, 3), -2)]:
        a = np.zeros(shape)
        for name in ("softmax", "log_softmax", "logsumexp"):
            x, tx = leaf(a), torch.tensor(a, requires_grad=True)
            out, tout = getattr(x, name)(dim), getattr(tx, name)(dim)
            assert out.shape == tuple(tout.shape)
            np.testing.assert_array_equal(out.data, tout.detach().numpy())
            out.backward(np.ones(out.shape))  # the graph runs: an empty (or zero) gradient
            assert x.grad.shape == shape
    assert Tensor(np.zeros((2, 0))).logsumexp(()).item() == -INF  # (PyTorch: only with keepdim, a bug of its own)


def test_softmax_dtypes_and_0d_match_torch(torch):
    i = np.array([1, 2])
    with pytest.raises(NotImplementedError, match="softmax.*int64"):
        Tensor(i).softmax(0)
    with pytest.raises(NotImplementedError):
        torch.tensor(i).softmax(0)
    for name in ("softmax", "log_softmax"):
        out, tout = getattr(Tensor(i), name)(0, dtype=np.float32), getattr(torch.tensor(i), name)(0, torch.float32)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.data, tout.numpy(), rtol=1e-6)
        both(lambda t, n=name: getattr(t, n)(0), lambda t, n=name: getattr(t, n)(0), np.array(0.7), torch)
    out = Tensor(i).logsumexp(0)
    assert out.dtype == np.float32 and np.isclose(out.item(), torch.tensor(i).logsumexp(0).item())


# ----------------------------------------------------------------------------------------- cumsum and cumprod


@EXAMPLES
@given(data=st.data())
def test_cumsum_gradients(data):
    x = data.draw(arrays(shapes()))
    dim = data.draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    check_both_orders(lambda t: t.cumsum(dim), x)
    check_both_orders(lambda t: t.cumsum(dim).sin() * t, x)
    np.testing.assert_allclose(Tensor(x).cumsum(dim).data, np.cumsum(x, axis=dim) if x.ndim else x, rtol=1e-12)


@EXAMPLES
@given(data=st.data())
def test_cumprod_gradients_at_zeros_too(data):
    """Values on a grid that includes 0 (cumprod is a polynomial: finite differences hold at zeros too)."""
    x = data.draw(arrays(shapes(), lo=-2, hi=2, grid=(0.5, 0.0)))
    dim = data.draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    check_both_orders(lambda t: t.cumprod(dim), x)
    check_both_orders(lambda t: t.cumprod(dim) * t, x)
    np.testing.assert_allclose(Tensor(x).cumprod(dim).data, np.cumprod(x, axis=dim) if x.ndim else x, rtol=1e-12)


ZERO_PATTERNS = [[2.0, 0.0, 3.0, 4.0], [0.0, 0.0, 3.0, 4.0], [2.0, 0.0, 0.0, 5.0], [0.0, 2.0, 3.0, -1.5],
                 [1.0, 2.0, 0.0, 0.5], [0.0, 0.0, 0.0, 2.0], [0.0, 2.0, 0.0, 0.0], [1.5, -2.0, 0.5, 3.0]]


def test_cumprod_and_prod_derivatives_at_zeros_match_torch(torch):
    for k, p in enumerate(ZERO_PATTERNS):
        a = np.array(p)
        m = np.stack([a, a[::-1], np.roll(a, 1)])
        both(lambda t: t.cumprod(0), lambda t: t.cumprod(0), a, torch, seed=k, second=True)
        both(lambda t: t.cumprod(1), lambda t: t.cumprod(1), m, torch, seed=k, second=True)
        both(lambda t: t.cumprod(0), lambda t: t.cumprod(0), m, torch, seed=k, second=True)
        both(lambda t: t.prod(), lambda t: t.prod(), a, torch, seed=k, second=True)
        both(lambda t: t.prod(1), lambda t: t.prod(1), m, torch, seed=k, second=True)
        both(lambda t: t.prod(0, keepdim=True), lambda t: t.prod(0, keepdim=True), m, torch, seed=k, second=True)
        # third order through the recorded cumprod of the zeros' products
        x = leaf(a)
        (g,) = grad(x.cumprod(0).sum(), x, create_graph=True)
        (h,) = grad((g * g).sum(), x, create_graph=True)
        tx = torch.tensor(a, requires_grad=True)
        (tg1,) = torch.autograd.grad(tx.cumprod(0).sum(), tx, create_graph=True)
        (th,) = torch.autograd.grad((tg1 * tg1).sum(), tx, create_graph=True)
        np.testing.assert_allclose(h.data, th.detach().numpy(), rtol=1e-12, atol=1e-14)


@EXAMPLES
@given(data=st.data())
def test_prod_gradients(data):
    x = data.draw(arrays(shapes(), lo=-2, hi=2, grid=(0.5, 0.0)))
    dim = data.draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    keepdim = data.draw(st.booleans())
    check_both_orders(lambda t: t.prod(), x)
    check_both_orders(lambda t: t.prod(dim, keepdim), x)
    ref = np.prod(x, axis=dim if x.ndim else None, keepdims=keepdim and x.ndim > 0)
    np.testing.assert_allclose(Tensor(x).prod(dim, keepdim).data, ref, rtol=1e-12)


def test_scans_and_prod_shapes_and_dtypes_match_torch(torch):
    for shape in [(), (0, 3), (2, 0), (1,), (3, 1)]:
        a = np.full(shape, 1.5)
        x, tx = Tensor(a), torch.tensor(a)
        for call in (lambda t: t.cumsum(0), lambda t: t.cumprod(-1), lambda t: t.prod(), lambda t: t.prod(0),
                     lambda t: t.prod(-1, keepdim=True)):
            out, tout = call(x), call(tx)
            assert out.shape == tuple(tout.shape)
            np.testing.assert_array_equal(out.data, tout.numpy())
    out = Tensor(np.array([1.0, 2.0])).cumsum(0, dtype=np.int64)
    assert out.dtype == np.int64 and out.tolist() == [1, 3]
    assert Tensor(np.array([1, 2])).cumprod(axis=0, dtype=np.float32).dtype == np.float32
    assert tg.cumsum(Tensor(np.array([1.0, 2.0])), 0).tolist() == [1.0, 3.0]


# --------------------------------------------------------------------------------------------------------- norm


NORM_ORDERS = [2, 1, 3, 4, 0.5, 1.5, INF, -INF, 0, -1, 2.5]


@pytest.mark.parametrize("p", NORM_ORDERS)
@EXAMPLES
@given(data=st.data())
def test_norm_gradients(p, data):
    """Away from the kinks: |x| bounded away from 0 and, for ±inf, no ties among |x|."""
    x = data.draw(arrays(shapes(), lo=0.2, hi=2, distinct=math.isinf(p), margin=0.05))
    x = x * np.where(np.arange(x.size).reshape(x.shape) % 3 == 1, -1, 1)  # both signs
    dim = data.draw(axes(x.ndim))
    keepdim = data.draw(st.booleans())
    check_both_orders(lambda t: t.norm(p, dim, keepdim), x)
    check_both_orders(lambda t: tg.linalg.vector_norm(t, p, dim, keepdim) * t.sum(), x)


NORM_POINTS = [[0.0, 0.0, 0.0], [0.0, 1.0, -2.0], [3.0, -3.0, 1.0], [1.0, 2.0, 3.0], [-1.0, -1.0, 0.5],
               [NAN, 1.0, 2.0], [1.0, INF, -2.0], [1e-200, 1e-200, 0.0]]


@pytest.mark.parametrize("p", NORM_ORDERS)
def test_norm_values_and_gradients_at_special_points_match_torch(p, torch):
    """Zero norms, zero entries, ties for ±inf, NaN and inf: PyTorch's subgradients (0 where the formula is 0/0)."""
    for k, pt in enumerate(NORM_POINTS):
        a = np.array(pt)
        both(lambda t: t.norm(p), lambda t: t.norm(p), a, torch, seed=k, second=True)  # NaNs where PyTorch's are
        m = np.stack([a, a[::-1]])
        both(lambda t: t.norm(p, 1, True), lambda t: t.norm(p, 1, True), m, torch, seed=k, second=True)
        both(lambda t: tg.linalg.vector_norm(t, p, (0, 1)), lambda t: torch.linalg.vector_norm(t, p, (0, 1)), m,
             torch, seed=k)


def test_norm_arguments_match_torch(torch):
    a = np.arange(24.0).reshape(2, 3, 4) - 5
    x, tx = Tensor(a), torch.tensor(a)
    for args, kwargs in [((), {}), (("fro",), {}), (("fro", (0, 1)), {}), (("fro", 1, True), {}), ((None,), {}),
                         ((1, (0, 1)), {}), ((2, ()), {}), ((2, []), {}), ((True,), {}), ((INF, 2), {}),
                         ((), {"dim": 1}), ((), {"p": 3, "dim": -1, "keepdim": True})]:
        out, tout = x.norm(*args, **kwargs), tx.norm(*args, **kwargs)
        assert out.shape == tuple(tout.shape)
        np.testing.assert_allclose(out.data, tout.numpy(), rtol=1e-12)
        np.testing.assert_allclose(tg.norm(x, *args, **kwargs).data, tout.numpy(), rtol=1e-12)
    out = Tensor(a.astype(np.float32)).norm(dtype=np.float64)
    assert out.dtype == np.float64 and np.isclose(out.item(), tx.norm().item())
    assert Tensor(np.array([1.0, 2.0], np.float16)).norm().dtype == np.float16
    assert Tensor(np.zeros((0, 3))).norm().item() == 0 and Tensor(np.zeros((0, 3))).norm(INF, 1).shape == (0,)
    with pytest.raises(RuntimeError, match="empty"):
        Tensor(np.zeros((0, 3))).norm(INF)
    with pytest.raises(RuntimeError, match="empty"):
        Tensor(np.zeros(0)).norm(-1)
    with pytest.raises(NotImplementedError, match="nuc"):
        x.norm("nuc")
    with pytest.raises(RuntimeError, match="abc"):
        x.norm("abc")
    with pytest.raises(RuntimeError, match="at most 2 dims"):
        x.norm("fro", (0, 1, 2))
    with pytest.raises(RuntimeError, match="floating-point"):
        Tensor(np.array([1, 2])).norm()
    with pytest.raises(RuntimeError, match="narrowing"):
        x.norm(dtype=np.float32)
    with pytest.raises(TypeError, match="ord"):
        tg.linalg.vector_norm(x, "fro")
    x = leaf([1.0, -2.0, 0.0])
    out = x.norm(0)
    assert out.item() == 2 and out.requires_grad  # as PyTorch: on the graph, with an undefined gradient
    out.backward()
    assert x.grad is None
    (x.norm(0) + x.sum()).backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


# --------------------------------------------------------------------------------------------- sort and argsort


def test_sort_matches_torch_ties_nans_and_gradients(torch):
    """Up to 16 elements PyTorch's sort is stable even with stable=False; NaNs sort as the largest values."""
    rng = np.random.default_rng(13)
    cases = list(tie_arrays(20, (3, 16), 14)) + list(tie_arrays(20, (5, 4), 15, nan=True))
    cases += [rng.integers(0, 3, (2, 40)).astype(np.float64), np.array([0.0, -0.0, 0.0, -0.0])]
    for k, a in enumerate(cases):
        for dim, descending in [(-1, False), (-1, True), (0, False), (0, True)]:
            stable = bool(a.shape[dim] > 16 or k % 2)  # above 16 elements ties need stable=True (see the next test)
            out = Tensor(a).sort(dim=dim, descending=descending, stable=stable)
            tout = torch.tensor(a).sort(dim=dim, descending=descending, stable=stable)
            np.testing.assert_array_equal(out.indices.data, tout.indices.numpy())
            np.testing.assert_array_equal(out.values.data, tout.values.numpy())
            np.testing.assert_array_equal(np.signbit(out.values.data), np.signbit(tout.values.numpy()))
            np.testing.assert_array_equal(Tensor(a).argsort(dim=dim, descending=descending, stable=stable).data,
                                          torch.tensor(a).argsort(dim=dim, descending=descending, stable=stable))
            values = lambda t, d=dim, desc=descending, s=stable: t.sort(dim=d, descending=desc, stable=s).values  # noqa: E731
            both(values, values, a, torch, seed=k, second=k < 4)
    for dt in (np.int64, np.uint8, np.bool_):
        a = rng.integers(0, 2, 12).astype(dt)
        out, tout = Tensor(a).sort(descending=True), torch.tensor(a).sort(descending=True)
        np.testing.assert_array_equal(out.indices.data, tout.indices.numpy())
        assert out.values.dtype == dt


def test_unstable_sort_of_more_than_16_tied_elements_raises():
    a = np.zeros(17)
    with pytest.raises(RuntimeError, match="stable=True"):
        Tensor(a).sort()
    with pytest.raises(RuntimeError, match="stable=True"):
        Tensor(a).argsort(descending=True)
    assert Tensor(a).sort(stable=True).indices.tolist() == list(range(17))
    assert Tensor(np.arange(40.0)[::-1].copy()).sort().indices.tolist() == list(range(39, -1, -1))  # no ties: fine
    assert Tensor(np.zeros((17, 2))).sort(dim=1).values.shape == (17, 2)  # 2 elements along the dim: fine


@EXAMPLES
@given(data=st.data())
def test_sort_and_topk_gradients(data):
    x = data.draw(arrays(shapes(), distinct=True))
    dim = data.draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    descending = data.draw(st.booleans())
    check_both_orders(lambda t: t.sort(dim, descending).values, x)
    n = x.shape[dim] if x.ndim else 1
    k = data.draw(st.integers(0, n))
    check_both_orders(lambda t: t.topk(k, dim, largest=descending).values * 1.5, x)
    check_both_orders(lambda t: t.max(dim).values.exp(), x)
    check_both_orders(lambda t: t.median(dim, keepdim=True).values.sin(), x)
    check_both_orders(lambda t: t.median() * t.amin(), x)


# ---------------------------------------------------------------------------------------------------------- topk


def test_topk_without_ties_matches_torch(torch):
    rng = np.random.default_rng(16)
    for k_, shape in enumerate([(7,), (3, 9), (4, 2, 5), (200,)]):
        a = rng.permutation(math.prod(shape)).reshape(shape).astype(np.float64)
        a.reshape(-1)[:2] = [NAN, -INF] if a.size > 2 else a.reshape(-1)[:2]
        for dim in range(-len(shape), len(shape)):
            for k in sorted({0, 1, 2, shape[dim]}):
                for largest in (True, False):
                    out, tout = Tensor(a).topk(k, dim, largest), torch.tensor(a).topk(k, dim, largest)
                    np.testing.assert_array_equal(out.indices.data, tout.indices.numpy())
                    values = lambda t, k=k, d=dim, big=largest: t.topk(k, d, big).values  # noqa: E731
                    both(values, values, a, torch, seed=k_)
    a = rng.permutation(640).astype(np.float64)  # k·64 ≤ n: PyTorch sorts even with sorted=False
    for k in (1, 5, 10):
        out, tout = Tensor(a).topk(k, sorted=False), torch.tensor(a).topk(k, sorted=False)
        np.testing.assert_array_equal(out.indices.data, tout.indices.numpy())
    i = np.array([[3, 1, 4], [1, 5, 9]])
    out, tout = Tensor(i).topk(2), torch.tensor(i).topk(2)
    assert out.values.dtype == np.int64 and out.indices.tolist() == tout.indices.tolist()
    assert type(out).__name__ == "topk" and tg.topk(Tensor(i), 1)[0].tolist() == [[4], [9]]


def test_topk_refuses_what_torch_leaves_to_its_algorithm():
    with pytest.raises(RuntimeError, match="tied.*stable=True"):
        Tensor(np.array([1.0, 3.0, 3.0, 2.0])).topk(1)  # the two 3s
    with pytest.raises(RuntimeError, match="tied"):
        Tensor(np.array([1.0, 3.0, 2.0, 2.0])).topk(2)  # the 2nd largest is tied with the 3rd
    with pytest.raises(RuntimeError, match="tied"):
        Tensor(np.array([1, 3, 3])).topk(3)
    with pytest.raises(RuntimeError, match="tied"):
        Tensor(np.array([NAN, 1.0, NAN])).topk(1)
    assert Tensor(np.array([1.0, 3.0, 2.0, 2.0])).topk(1).indices.tolist() == [1]  # ties not picked: fine
    with pytest.raises(NotImplementedError, match="sorted=True"):
        Tensor(np.arange(10.0)).topk(3, sorted=False)
    assert Tensor(np.arange(10.0)).topk(1, sorted=False).indices.tolist() == [9]


def test_topk_argument_errors_match_torch(torch):
    x, tx = Tensor(np.arange(6.0).reshape(2, 3)), torch.arange(6.0).reshape(2, 3)
    for k in (4, -1):
        with pytest.raises(RuntimeError):
            tx.topk(k)
        with pytest.raises(RuntimeError, match="out of range"):
            x.topk(k)
    with pytest.raises(RuntimeError, match="bool"):
        Tensor(np.array([True, False])).topk(1)
    for k in (0, 1):  # a 0-d tensor gives its element, even for k = 0 (as PyTorch)
        out, tout = Tensor(2.0).topk(k), torch.tensor(2.0).topk(k)
        assert out.values.item() == tout.values.item() and out.values.shape == () and out.indices.item() == 0
    assert x.topk(0).values.shape == tuple(tx.topk(0).values.shape) == (2, 0)


# -------------------------------------------------------------------------------------------------------- median


def test_median_matches_torch_index_rule_values_and_gradients(torch):
    """median(dim): the element at the middle position when ties keep their order (the first NaN if any); the
    gradient goes to it. median(): ties (or NaNs) share the gradient."""
    cases = list(tie_arrays(40, (4, 5), 17)) + list(tie_arrays(20, (3, 6), 18, nan=True))
    for k, a in enumerate(cases):
        for dim, keepdim in [(0, False), (1, True), (-1, False)]:
            out, tout = Tensor(a).median(dim, keepdim), torch.tensor(a).median(dim, keepdim)
            np.testing.assert_array_equal(out.indices.data, tout.indices.numpy())
            values = lambda t, d=dim, kd=keepdim: t.median(d, kd).values  # noqa: E731
            both(values, values, a, torch, seed=k, second=k < 3)
        both(lambda t: t.median(), lambda t: t.median(), a, torch, seed=k, second=k < 3)
    i = np.array([[4, 1, 3, 2]])
    assert Tensor(i).median().item() == 2 and Tensor(i).median(1).indices.tolist() == [3]
    assert type(Tensor(i).median(1)).__name__ == "median" and tg.median(Tensor(i)).item() == 2
    with pytest.raises(RuntimeError, match="bool"):
        Tensor(np.array([True])).median()
    with pytest.raises(TypeError, match="keepdim"):
        Tensor(i).median(keepdim=True)
