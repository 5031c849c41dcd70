"""Issue 14, elementwise: PyTorch's math and activation vocabulary (rounding, logs, atan2, remainders, lerp, silu,
elu, hardtanh, …) and the silent divergences from PyTorch fixed alongside (gradients at NaN and under infinite
cotangents, signs, dtypes, complex tensors).

1. Every new differentiable op: `gradcheck` and `gradgradcheck` (float64) on hypothesis-generated shapes, values and
   memory layouts, with broadcasting, size-1 and 0-d, away from kinks; the first derivative recorded under
   create_graph equals the plain one; where PyTorch is installed, values and first derivatives against it too.
2. Against PyTorch at the special points: kinks, ±0 (signs included), ±inf, NaN; infinite and NaN cotangents;
   second derivatives at the kinks.
3. Dtypes and errors against PyTorch for integer, bool and floating inputs; exact (bit for bit) rounding, lerp,
   remainders.
4. nn.functional's in-place forms, the nn modules (arguments, reprs), softmin's implicit dim, top-level functions.
5. Complex tensors refuse requires_grad.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import arrays, broadcastable_shapes, cotangents, shapes, with_layout

import nn.functional as F
import tinygrad_np.elementwise as E
from nn import activation as A
from tinygrad_np import Tensor, gradcheck, gradgradcheck, no_grad, ops
from tinygrad_np.autograd import grad

try:
    import torch
except ImportError:  # the PyTorch comparisons inside the hypothesis tests are skipped; the tests that need it skip
    torch = None

pytestmark = pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True:UserWarning")
EXAMPLES = settings(max_examples=12, deadline=None)
seeds = st.integers(0, 2**16)
tF = torch.nn.functional if torch is not None else None


def leaf(a) -> Tensor:
    return Tensor(np.array(a, dtype=np.float64), requires_grad=True)


def needs_torch():
    return pytest.importorskip("torch", reason="PyTorch is the reference here; not installed")


def check_both_orders(fn, *inputs: np.ndarray, seed: int = 0, torch_fn=None, second: bool = True,
                      torch_rtol: float = 1e-12) -> None:
    """gradcheck and gradgradcheck of `fn` at `inputs` (every one requires grad); the first derivative recorded
    under create_graph equals the plain one; with `torch_fn` (and PyTorch installed) values and first derivatives
    equal PyTorch's (to `torch_rtol`)."""
    ts = [leaf(a) for a in inputs]
    out = fn(*ts)
    assert out.dtype == np.float64
    v = cotangents(out.shape, seed=seed)
    assert gradcheck(fn, *ts, seed=seed)
    plain = grad(out, ts, grad_outputs=Tensor(v), allow_unused=True)
    if torch is not None and torch_fn is not None:
        tt = [torch.tensor(np.array(a), requires_grad=True) for a in inputs]
        ref = torch_fn(*tt)
        np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-13, atol=1e-15)
        tg = torch.autograd.grad(ref, tt, torch.tensor(v), allow_unused=True)
        for p, r in zip(plain, tg):
            np.testing.assert_allclose(p.data, 0.0 if r is None else r.numpy(), rtol=torch_rtol, atol=1e-14)
    if not second:
        return
    recorded = grad(fn(*ts), ts, grad_outputs=Tensor(v), create_graph=True, allow_unused=True)
    for p, r in zip(plain, recorded):
        np.testing.assert_allclose(r.data, p.data, rtol=1e-14, atol=1e-15)
    assert gradgradcheck(fn, *ts, seed=seed)


# ---------------------------------------------------------------------------------------- 1. unary, by hypothesis

INTS = tuple(float(k) for k in range(-3, 4))
# PyTorch's float64 gradients of these use a float32 constant: celu's 1/α (derivatives.yaml: 1.0/alpha.toFloat()),
# hardsigmoid's slope 1/6 (1.0f/6.0f). Its relative error, up to 6e-8, reaches celu's gradient amplified by |x/α|
# (through e^(x/α)), ≤ 5 in these tests: they differ from the exact derivative (ours) by up to ~3e-7
FLOAT32_CONSTANT = 1e-6
# name: (our op, PyTorch's op, lo, hi, kinks to keep away from[, gradient tolerance against PyTorch])
UNARY = {
    "tan": (Tensor.tan, lambda t: t.tan(), -1.2, 1.2, ()),
    "log2": (Tensor.log2, lambda t: t.log2(), 0.5, 3, ()),
    "log10": (Tensor.log10, lambda t: t.log10(), 0.5, 3, ()),
    "exp2": (Tensor.exp2, lambda t: t.exp2(), -2, 2, ()),
    "log1p": (Tensor.log1p, lambda t: t.log1p(), -0.5, 2, ()),
    "expm1": (Tensor.expm1, lambda t: t.expm1(), -2, 2, ()),
    "frac": (Tensor.frac, lambda t: t.frac(), -2.9, 2.9, INTS),
    "silu": (F.silu, lambda t: tF.silu(t), -4, 4, ()),
    "elu": (F.elu, lambda t: tF.elu(t), -3, 3, (0.0,)),
    "elu_alpha": (lambda t: F.elu(t, 0.4), lambda t: tF.elu(t, 0.4), -3, 3, (0.0,)),
    "elu_negative_alpha": (lambda t: F.elu(t, -0.7), lambda t: tF.elu(t, -0.7), -3, 3, (0.0,)),
    "celu": (lambda t: F.celu(t, 1.7), lambda t: tF.celu(t, 1.7), -3, 3, (0.0,), FLOAT32_CONSTANT),
    "celu_negative_alpha": (lambda t: F.celu(t, -2.5), lambda t: tF.celu(t, -2.5), -3, 3, (0.0,)),
    "selu": (F.selu, lambda t: tF.selu(t), -3, 3, (0.0,)),
    "softsign": (F.softsign, lambda t: tF.softsign(t), -3, 3, (0.0,)),
    "relu6": (F.relu6, lambda t: tF.relu6(t), -2, 8, (0.0, 6.0)),
    "hardtanh": (F.hardtanh, lambda t: tF.hardtanh(t), -2, 2, (-1.0, 1.0)),
    "hardtanh_bounds": (lambda t: F.hardtanh(t, -0.5, 0.7), lambda t: tF.hardtanh(t, -0.5, 0.7), -2, 2,
                        (-0.5, 0.7)),
    "hardswish": (F.hardswish, lambda t: tF.hardswish(t), -5, 5, (-3.0, 3.0)),
    "hardsigmoid": (F.hardsigmoid, lambda t: tF.hardsigmoid(t), -5, 5, (-3.0, 3.0), FLOAT32_CONSTANT),
    "mish": (F.mish, lambda t: tF.mish(t), -4, 4, ()),
    "logsigmoid": (F.logsigmoid, lambda t: tF.logsigmoid(t), -6, 6, ()),
    "softmin": (lambda t: F.softmin(t, -1), lambda t: tF.softmin(t, -1), -2, 2, ()),
    "selu_top_level": (E.selu, lambda t: torch.selu(t), -3, 3, (0.0,)),
    "celu_top_level": (lambda t: E.celu(t, 0.6), lambda t: torch.celu(t, 0.6), -3, 3, (0.0,), FLOAT32_CONSTANT),
}
STEPS = {  # piecewise constant: gradient 0 away from the jumps
    "floor": (Tensor.floor, lambda t: t.floor(), INTS),
    "ceil": (Tensor.ceil, lambda t: t.ceil(), INTS),
    "trunc": (Tensor.trunc, lambda t: t.trunc(), INTS),
    "round": (Tensor.round, lambda t: t.round(), tuple(k + 0.5 for k in INTS)),
    "round_decimals": (lambda t: t.round(decimals=1), lambda t: t.round(decimals=1),
                       tuple(k / 10 + 0.05 for k in range(-30, 30))),
    "sign": (Tensor.sign, lambda t: t.sign(), (0.0,)),
}


@pytest.mark.parametrize("name", UNARY)
@EXAMPLES
@given(data=st.data(), seed=seeds)
def test_unary_first_and_second_derivatives(name, data, seed):
    fn, torch_fn, lo, hi, kinks, *torch_rtol = UNARY[name]
    x = data.draw(arrays(shapes(), lo=lo, hi=hi, kinks=kinks, margin=0.05))
    check_both_orders(fn, x, seed=seed, torch_fn=torch_fn if torch is not None else None,
                      torch_rtol=torch_rtol[0] if torch_rtol else 1e-12)


@pytest.mark.parametrize("name", STEPS)
@EXAMPLES
@given(data=st.data(), seed=seeds)
def test_steps_have_zero_gradient(name, data, seed):
    fn, torch_fn, kinks = STEPS[name]
    x = data.draw(arrays(shapes(), lo=-2.9, hi=2.9, kinks=kinks, margin=0.01))
    check_both_orders(fn, x, seed=seed, torch_fn=torch_fn if torch is not None else None, second=False)
    t = leaf(x)
    (g,) = grad(fn(t), [t], grad_outputs=Tensor(np.full(x.shape, np.nan)), create_graph=True)
    assert np.array_equal(g.data, np.zeros(x.shape))  # PyTorch's zeros_like(grad): 0 even for a NaN cotangent


# --------------------------------------------------------------------------------------- 1. binary, by hypothesis


@EXAMPLES
@given(data=st.data(), seed=seeds)
def test_atan2_hypot_derivatives(data, seed):
    sy, sx = data.draw(broadcastable_shapes(2))
    y = data.draw(arrays(sy, kinks=(0.0,), margin=0.3))  # away from the origin and from atan2's cut at y = 0
    x = data.draw(arrays(sx, kinks=(0.0,), margin=0.3))
    check_both_orders(Tensor.atan2, y, x, seed=seed, torch_fn=torch.atan2 if torch else None)
    check_both_orders(Tensor.hypot, y, x, seed=seed, torch_fn=torch.hypot if torch else None)


@st.composite
def dividends(draw, shape):
    """Values k + f, f in [0.1, 0.9]: divided by ±1, ±2 or ±4 they are never within 0.025 of a whole number (where
    remainder and fmod jump)."""
    a = draw(arrays(shape, lo=-3, hi=3))
    return with_layout(np.floor(a) + 0.1 + 0.8 * (a - np.floor(a)), "contiguous")


@EXAMPLES
@given(data=st.data(), seed=seeds)
def test_remainder_fmod_derivatives(data, seed):
    sx, sy = data.draw(broadcastable_shapes(2))
    x = data.draw(dividends(sx))
    y = data.draw(hnp.arrays(np.float64, sy, elements=st.sampled_from([-4.0, -2.0, -1.0, 1.0, 2.0, 4.0])))
    check_both_orders(Tensor.remainder, x, y, seed=seed, torch_fn=torch.remainder if torch else None)
    check_both_orders(lambda a, b: a % b, x, y, seed=seed, torch_fn=(lambda a, b: a % b) if torch else None)
    check_both_orders(Tensor.fmod, x, y, seed=seed, torch_fn=torch.fmod if torch else None)


@EXAMPLES
@given(data=st.data(), seed=seeds, weight=st.floats(-1.5, 2.5))
def test_lerp_derivatives(data, seed, weight):
    s1, s2, s3 = data.draw(broadcastable_shapes(3))
    x, e, w = (data.draw(arrays(s)) for s in (s1, s2, s3))
    check_both_orders(Tensor.lerp, x, e, w, seed=seed, torch_fn=torch.lerp if torch else None)
    check_both_orders(lambda a, b: a.lerp(b, weight), x, e, seed=seed,
                      torch_fn=(lambda a, b: torch.lerp(a, b, weight)) if torch else None)


@EXAMPLES
@given(data=st.data(), seed=seeds)
def test_clamp_with_tensor_bounds_derivatives(data, seed):
    s1, s2, s3 = data.draw(broadcastable_shapes(3))
    # three grids that never meet: no ties between x and a bound, nor between the bounds
    x = data.draw(arrays(s1, grid=(0.3, 0.05)))
    lo = data.draw(arrays(s2, lo=-1.5, hi=0.5, grid=(0.3, 0.0)))
    hi = data.draw(arrays(s3, lo=-0.5, hi=1.5, grid=(0.3, 0.15)))
    # PyTorch's clamp backward fails ("output with shape [] doesn't match the broadcast shape [1]") when x with one
    # bound has a smaller shape than the output (its masks are combined in place): compare only where it works
    full = np.broadcast_shapes(s1, s2, s3)
    torch_works = torch is not None and np.broadcast_shapes(s1, s2) == full == np.broadcast_shapes(s1, s3)
    check_both_orders(lambda a, b, c: a.clamp(b, c), x, lo, hi, seed=seed,
                      torch_fn=(lambda a, b, c: a.clamp(b, c)) if torch_works else None)
    check_both_orders(lambda a, b: a.clamp(min=b), x, lo, seed=seed,
                      torch_fn=(lambda a, b: a.clamp(min=b)) if torch else None)
    check_both_orders(lambda a, c: a.clip(max=c), x, hi, seed=seed,
                      torch_fn=(lambda a, c: a.clamp(max=c)) if torch else None)


@EXAMPLES
@given(data=st.data(), seed=seeds)
def test_minimum_primitive_derivatives(data, seed):
    sx, sy = data.draw(broadcastable_shapes(2))
    x, y = data.draw(arrays(sx, grid=(0.2, 0.0))), data.draw(arrays(sy, grid=(0.2, 0.1)))  # no ties
    check_both_orders(ops.Minimum.apply, x, y, seed=seed, torch_fn=torch.minimum if torch else None)


# ------------------------------------------------------------------------------- 2. PyTorch at the special points

SPECIAL = [np.nan, -np.inf, np.inf, 0.0, -0.0, -800.0, 800.0, 30.0, -25.0, 0.7, -1.3]
KINKS = {"hardtanh": (-1.0, 1.0), "relu6": (6.0,), "hardswish": (-3.0, 3.0), "hardsigmoid": (-3.0, 3.0),
         "elu": (-1.0,), "round": (0.5, 1.5, 2.5, -2.5), "frac": (1.5, -1.5), "floor": (2.0, -2.0),
         "clamp": (-0.5, 0.5), "log": (-1.0,), "log1p": (-1.0, -2.0)}
POINTWISE = {
    "hardtanh": (F.hardtanh, "F.hardtanh"), "relu6": (F.relu6, "F.relu6"), "hardswish": (F.hardswish, "F.hardswish"),
    "hardsigmoid": (F.hardsigmoid, "F.hardsigmoid"), "elu": (F.elu, "F.elu"),
    "elu_alpha2": (lambda t: F.elu(t, 2.0), "lambda t: F.elu(t, 2.0)"),
    "celu_alpha2": (lambda t: F.celu(t, 2.0), "lambda t: F.celu(t, 2.0)"), "selu": (F.selu, "F.selu"),
    "silu": (F.silu, "F.silu"), "mish": (F.mish, "F.mish"), "softsign": (F.softsign, "F.softsign"),
    "logsigmoid": (F.logsigmoid, "F.logsigmoid"), "relu": (Tensor.relu, "torch.relu"),
    "abs": (Tensor.abs, "torch.abs"), "sign": (Tensor.sign, "torch.sign"), "floor": (Tensor.floor, "torch.floor"),
    "round": (Tensor.round, "torch.round"), "frac": (Tensor.frac, "torch.frac"), "tan": (Tensor.tan, "torch.tan"),
    "log2": (Tensor.log2, "torch.log2"), "log10": (Tensor.log10, "torch.log10"), "exp2": (Tensor.exp2, "torch.exp2"),
    "log1p": (Tensor.log1p, "torch.log1p"), "expm1": (Tensor.expm1, "torch.expm1"),
    "clamp": (lambda t: t.clamp(-0.5, 0.5), "lambda t: t.clamp(-0.5, 0.5)"),
    "clamp_min": (lambda t: t.clamp(min=0.5), "lambda t: t.clamp(min=0.5)"),
    "maximum": (lambda t: t.maximum(Tensor(np.zeros(t.shape))), "lambda t: torch.maximum(t, torch.zeros_like(t))"),
    "minimum": (lambda t: ops.Minimum.apply(t, Tensor(np.zeros(t.shape))),
                "lambda t: torch.minimum(t, torch.zeros_like(t))"),
    "leaky_relu": (F.leaky_relu, "F.leaky_relu"), "softplus": (F.softplus, "F.softplus"),
}


def _torch_fn(source: str):
    return eval(source, {"torch": torch, "F": torch.nn.functional})


BLOCK = 64


def torch_blocks(source: str, points: np.ndarray, cotangent: np.ndarray, create_graph: bool = False):
    """PyTorch's values and first derivatives at `points`, each point repeated BLOCK times: PyTorch's vectorized
    loop, which all elements of a tensor but its last few go through. (Its scalar loop, for the rest, differs at
    NaN for hardtanh, relu6, hardswish and the ELUs, and in the sign of max(−0, 0): PyTorch's answer there depends
    on the tensor's length. Ours is the vectorized loop's.) Returns (x, values, gradient) as tensors of blocks."""
    tx = torch.tensor(np.repeat(points, BLOCK), requires_grad=True)
    out = _torch_fn(source)(tx)
    (g,) = torch.autograd.grad(out, tx, torch.tensor(np.repeat(cotangent, BLOCK)), create_graph=create_graph)
    return tx, out, g


def firsts(t) -> np.ndarray:
    return t.detach().numpy(force=True).reshape(-1, BLOCK)[:, 0]


def assert_same(ours: np.ndarray, theirs: np.ndarray, rtol: float, what: str, zero_signs: bool = True) -> None:
    """Equal values (NaN where PyTorch has NaN) and, for zeros, the same sign."""
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=0, equal_nan=True, err_msg=what)
    if not zero_signs:
        return
    real = ~np.isnan(theirs)
    assert np.array_equal(np.signbit(ours[real]), np.signbit(theirs[real])), f"{what}: signs differ\n{ours}\n{theirs}"


@pytest.mark.parametrize("name", POINTWISE)
def test_special_points_match_torch(name):
    needs_torch()
    ours_fn, source = POINTWISE[name]
    points = np.array(SPECIAL + list(KINKS.get(name.split("_")[0], ())))
    v = np.linspace(0.5, 1.5, points.size)
    x = leaf(points)
    with np.errstate(all="ignore"):
        out = ours_fn(x)
        out.backward(v)
    _, ref, tg = torch_blocks(source, points, v)
    # relu(−0) is +0 here, −0 in PyTorch (the only sign of zero we leave different: see ops.Relu)
    assert_same(out.data, firsts(ref), 1e-14, f"{name} values", zero_signs=name != "relu")
    rtol = FLOAT32_CONSTANT if name in ("hardsigmoid", "celu_alpha2") else 1e-12  # (softsign: 1e-13 off at -800)
    assert_same(x.grad.data, firsts(tg), rtol, f"{name} gradients")


def test_float64_gradients_are_exact_where_torch_rounds_a_constant_to_float32():
    """hardsigmoid's slope is 1/6 and celu's gradient α·(1/α)·e^(x/α) with 1/α in float64 (PyTorch rounds both
    constants to float32, ~1e-8 off in float64)."""
    x = leaf([0.5, -2.0])
    F.hardsigmoid(x).backward(np.ones(2))
    assert np.array_equal(x.grad.data, np.full(2, 1 / 6))
    x = leaf([-1.0, -0.25])
    F.celu(x, 1.7).backward(np.ones(2))
    np.testing.assert_allclose(x.grad.data, np.exp(x.data / 1.7), rtol=1e-15)


@pytest.mark.parametrize("name", [n for n in POINTWISE if n not in ("sign", "floor", "round", "hardsigmoid")])
def test_second_derivatives_at_kinks_match_torch(name):
    """Second derivatives at the kinks and at ordinary points, with a non-uniform cotangent (elu's is 0 at 0 though
    its first derivative there is α; hardswish's is 1/3 strictly between ±3)."""
    needs_torch()
    ours_fn, source = POINTWISE[name]
    points = np.array([-3.0, -1.0, -0.5, 0.0, -0.0, 0.5, 1.0, 3.0, 6.0, 2.0, -2.0, 4.5, -4.5]
                      + list(KINKS.get(name.split("_")[0], ())))
    if name in ("log2", "log10", "log1p"):
        points = np.abs(points) + 0.25
    v = np.linspace(0.5, 1.5, points.size)
    x = leaf(points)
    (g,) = grad(ours_fn(x), [x], Tensor(v), create_graph=True)
    tx, _, tg = torch_blocks(source, points, v, create_graph=True)
    rtol = FLOAT32_CONSTANT if name == "celu_alpha2" else 1e-13
    np.testing.assert_allclose(g.data, firsts(tg), rtol=rtol, atol=1e-15)
    gg = grad(g, [x], Tensor(np.ones(points.size)))[0].data if g.requires_grad else np.zeros(points.size)
    tgg = torch.autograd.grad(tg, tx, torch.ones(tx.shape))[0] if tg.requires_grad else torch.zeros(tx.shape)
    np.testing.assert_allclose(gg, firsts(tgg), rtol=10 * rtol if name == "celu_alpha2" else 1e-10, atol=1e-13)


@pytest.mark.parametrize("name", ["relu", "hardtanh", "relu6", "hardswish", "hardsigmoid", "clamp", "maximum",
                                  "minimum", "leaky_relu", "elu", "softplus", "abs", "sign", "floor"])
def test_infinite_and_nan_cotangents_match_torch(name):
    """Where the derivative is a mask (relu, hardtanh, clamp, max, …) an infinite or NaN cotangent gives 0 outside,
    as PyTorch's `where`; where it is a factor (abs, elu, …) inf · 0 is NaN in both."""
    needs_torch()
    ours_fn, source = POINTWISE[name]
    points = np.array([-5.0, -1.0, 0.3, 2.0, 7.0, np.nan])
    cot = np.array([np.inf, -np.inf, np.nan, np.inf, np.inf, 1.0])
    x = leaf(points)
    with np.errstate(all="ignore"):
        ours_fn(x).backward(cot)
    _, _, tg = torch_blocks(source, points, cot)
    assert np.array_equal(x.grad.data, firsts(tg), equal_nan=True), (x.grad.data, firsts(tg))


def test_nan_gradients_of_relu_maximum_abs_sign_match_torch():
    """The divergences of issue 14: at a NaN input relu' and maximum' gave 0 where PyTorch passes the gradient on
    (to both operands of maximum); abs'(NaN) was NaN and sign(NaN) NaN where PyTorch gives 0."""
    x = leaf([np.nan, 1.0, -1.0])
    x.relu().backward(np.array([2.0, 3.0, 5.0]))
    assert np.array_equal(x.grad.data, [2.0, 3.0, 0.0])
    x, y = leaf([np.nan, 1.0, 2.0]), leaf([1.0, np.nan, 2.0])
    x.maximum(y).backward(np.array([2.0, 3.0, 5.0]))
    assert np.array_equal(x.grad.data, [2.0, 3.0, 2.5]) and np.array_equal(y.grad.data, [2.0, 3.0, 2.5])
    x, y = leaf([np.nan, 1.0, 2.0]), leaf([1.0, np.nan, 2.0])
    ops.Minimum.apply(x, y).backward(np.array([2.0, 3.0, 5.0]))
    assert np.array_equal(x.grad.data, [2.0, 3.0, 2.5]) and np.array_equal(y.grad.data, [2.0, 3.0, 2.5])
    x = leaf([np.nan, -2.0, 0.0])
    x.abs().backward(np.array([2.0, 3.0, 5.0]))
    assert np.array_equal(x.grad.data, [0.0, -3.0, 0.0])
    assert np.array_equal(Tensor(np.array([np.nan, -0.0, 0.0, -3.0])).sign().data, [0.0, 0.0, 0.0, -1.0])


def test_pow_gradients_at_base_zero_match_torch():
    needs_torch()
    base = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    exponent = np.array([0.0, 1.0, 2.0, 0.5, 3.0, 0.0])
    x, y = leaf(base), leaf(exponent)
    tx, ty = torch.tensor(base, requires_grad=True), torch.tensor(exponent, requires_grad=True)
    with np.errstate(all="ignore"):
        (x**y).backward(np.ones(6))
    (tx**ty).backward(torch.ones(6))
    assert np.array_equal(x.grad.data, tx.grad.numpy(), equal_nan=True)
    assert np.array_equal(y.grad.data, ty.grad.numpy(), equal_nan=True)


def test_clamp_tensor_bounds_masks_match_torch():
    """PyTorch's clamp with Tensor bounds: x gets the gradient where lo ≤ x ≤ hi, lo where x < lo < hi, hi where
    x > hi or hi < lo; a NaN anywhere gives nobody the gradient."""
    needs_torch()
    xs = [0.0, 1.0, 2.0, 3.0, np.nan, 1.0, 5.0, 2.0]
    los = [1.0, 1.0, 1.0, 1.0, 1.0, np.nan, 4.0, 3.0]
    his = [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0, 2.0]
    ours = [leaf(a) for a in (xs, los, his)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (xs, los, his)]
    out, ref = ours[0].clamp(*ours[1:]), theirs[0].clamp(*theirs[1:])
    out.backward(np.arange(1.0, 9.0))
    ref.backward(torch.arange(1.0, 9.0, dtype=torch.float64))
    assert np.array_equal(out.data, ref.detach().numpy(), equal_nan=True)
    for t, r in zip(ours, theirs):
        assert np.array_equal(t.grad.data, r.grad.numpy())


# -------------------------------------------------------------------------------------- 3. dtypes and exact values

DTYPES = ["int64", "int32", "int16", "uint8", "bool", "float16", "float32", "float64"]
UNARY_NAMES = ["exp", "log", "sqrt", "sin", "cos", "tan", "sigmoid", "tanh", "erf", "rsqrt", "reciprocal", "square",
               "abs", "sign", "relu", "floor", "ceil", "trunc", "round", "frac", "log2", "log10", "exp2", "log1p",
               "expm1"]
ACTIVATIONS = ["silu", "elu", "celu", "selu", "softsign", "relu6", "hardtanh", "hardswish", "hardsigmoid", "mish",
               "logsigmoid", "leaky_relu", "softplus", "gelu"]


def _outcome(fn, *args):
    try:
        with np.errstate(all="ignore"):
            r = fn(*args)
    except Exception as e:  # noqa: BLE001 (either side may raise; both must)
        return "raises", type(e).__name__
    data = r.data if isinstance(r, Tensor) else r.numpy()
    return str(r.dtype).replace("torch.", ""), np.asarray(data, np.float64)


def assert_same_outcome(ours, theirs, what):
    assert (ours[0] == "raises") == (theirs[0] == "raises"), f"{what}: ours {ours}, PyTorch's {theirs}"
    if ours[0] != "raises":
        assert ours[0] == theirs[0], f"{what}: dtype {ours[0]}, PyTorch's {theirs[0]}"
        np.testing.assert_allclose(ours[1], theirs[1], rtol=2e-3, equal_nan=True, err_msg=what)


def _values(dtype, signed=(-4, 0, 1, 3)):
    if dtype == "bool":
        return np.array([True, False, True, True])
    return np.array([0, 1, 2, 3] if dtype == "uint8" else signed).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_result_dtypes_match_torch(dtype):
    """exp of an integer is float32 (NumPy's would be float64), erf too (it stayed an integer), floor of an integer
    is a copy, bool squared is int64, relu and abs of bool raise, activations of integers raise, …: as PyTorch."""
    needs_torch()
    for name in UNARY_NAMES:
        a = _values(dtype, (0, 1, 2, 3))
        assert_same_outcome(_outcome(getattr(Tensor, name), Tensor(a)),
                            _outcome(getattr(torch.Tensor, name), torch.tensor(a)), f"{name}({dtype})")
    for name in ACTIVATIONS:
        a = _values(dtype)
        assert_same_outcome(_outcome(getattr(F, name), Tensor(a)),
                            _outcome(getattr(torch.nn.functional, name), torch.tensor(a)), f"F.{name}({dtype})")


@pytest.mark.parametrize("name", ["atan2", "hypot", "floor_divide", "remainder", "fmod"])
def test_binary_dtypes_match_torch(name):
    needs_torch()
    for d1 in DTYPES:
        for d2 in DTYPES:
            a = np.array([7, 3, 5, 1]).astype(d1) if d1 != "bool" else np.array([True, False, True, True])
            b = np.array([2, 3, 1, 1]).astype(d2) if d2 != "bool" else np.array([True, True, True, True])
            assert_same_outcome(_outcome(getattr(Tensor, name), Tensor(a), Tensor(b)),
                                _outcome(getattr(torch.Tensor, name), torch.tensor(a), torch.tensor(b)),
                                f"{name}({d1}, {d2})")
        a = _values(d1, (7, -3, 5, 1))
        for s in (2, 2.5, True, -2):
            if d1 == "uint8" and s == -2:
                continue  # PyTorch wraps -2 around to 254; ours refuses (an error, not another answer)
            op = lambda t, s=s: getattr(t, name)(s)  # noqa: E731
            assert_same_outcome(_outcome(op, Tensor(a)), _outcome(op, torch.tensor(a)), f"{name}({d1}, {s!r})")


def test_operators_floordiv_mod_match_torch():
    needs_torch()
    for a in (np.array([7, -7, 3, -3]), np.array([7.5, -7.5, 3.0, -0.0])):
        for s in (2, -2, 2.5, -0.5):
            for op in (lambda x, s=s: x // s, lambda x, s=s: s // x, lambda x, s=s: x % s, lambda x, s=s: s % x):
                o, t = _outcome(op, Tensor(a)), _outcome(op, torch.tensor(a))
                assert_same_outcome(o, t, f"{a.dtype} op {s}")
                if o[0] != "raises":
                    assert np.array_equal(np.signbit(o[1]), np.signbit(t[1]))


def test_integer_division_by_zero_raises_as_in_torch():
    for op in (lambda x: x // 0, lambda x: x % 0, lambda x: x.fmod(Tensor(np.array([1, 0, 2]))),
               lambda x: x.floor_divide(Tensor(np.array([False, True, True])))):
        with pytest.raises(ZeroDivisionError, match="division by zero"):
            op(Tensor(np.array([1, 2, 3])))
    with pytest.raises(TypeError, match="two bool"):
        Tensor(np.array([True])) // Tensor(np.array([True]))


def test_floor_divide_has_no_derivative_as_in_torch():
    x = leaf([7.0, -7.0])
    z = x // 2.0
    assert z.requires_grad and np.array_equal(z.data, [3.0, -4.0])
    with pytest.raises(RuntimeError, match="derivative for floor_divide is not implemented"):
        z.sum().backward()


def test_float_division_remainders_match_torch_bit_for_bit():
    """floor_divide, remainder and fmod of floats at ±0, ±inf, NaN and zero divisors: the same values and signs of
    zero as PyTorch (NumPy's remainder gives +0 where PyTorch's keeps fmod's −0), and the same gradients."""
    needs_torch()
    vals = [-7.5, -4.0, -2.0, -0.5, -0.0, 0.0, 0.5, 2.0, 3.0, 7.5, np.inf, -np.inf, np.nan]
    a, b = (np.array(p) for p in zip(*[(u, w) for u in vals for w in vals]))
    cot = np.linspace(0.5, 1.5, a.size)
    for dtype in (np.float64, np.float32):
        for name in ("floor_divide", "remainder", "fmod"):
            differentiable = name != "floor_divide"
            x, y = (Tensor(v.astype(dtype), requires_grad=differentiable) for v in (a, b))
            tx, ty = (torch.tensor(v.astype(dtype), requires_grad=differentiable) for v in (a, b))
            out, ref = getattr(x, name)(y), getattr(tx, name)(ty)
            assert_same(out.data, ref.detach().numpy(), 0, f"{name} {dtype.__name__}")
            if differentiable:
                out.backward(cot.astype(dtype))
                ref.backward(torch.tensor(cot.astype(dtype)))
                assert_same(x.grad.data, tx.grad.numpy(), 0, f"{name}' x")
                assert_same(y.grad.data, ty.grad.numpy(), 1e-6, f"{name}' y")


def test_atan2_hypot_at_the_origin_and_infinities_match_torch():
    """atan2's gradient at the origin is 0 (PyTorch takes 1/(x² + y²) as 0 there), hypot's NaN."""
    needs_torch()
    ys = np.array([0.0, 0.0, -0.0, 1e-200, np.inf, 1.0, 0.0, 3.0, -2.0])
    xs = np.array([0.0, -0.0, 0.0, 1e-200, 1.0, np.inf, np.inf, 4.0, -0.5])
    for name in ("atan2", "hypot"):
        y, x = leaf(ys), leaf(xs)
        ty, tx = torch.tensor(ys, requires_grad=True), torch.tensor(xs, requires_grad=True)
        out, ref = getattr(y, name)(x), getattr(ty, name)(tx)
        out.backward(np.ones(ys.size))
        ref.backward(torch.ones(ys.size, dtype=torch.float64))
        assert_same(out.data, ref.detach().numpy(), 1e-15, name)
        assert_same(y.grad.data, ty.grad.numpy(), 1e-15, name + "' y")
        assert_same(x.grad.data, tx.grad.numpy(), 1e-15, name + "' x")


def test_round_and_lerp_match_torch_bit_for_bit():
    """round with decimals (halves to even, PyTorch's scaling in the tensor's precision) and lerp (PyTorch's fused
    multiply-add) equal PyTorch's exactly, in float16, float32 and float64."""
    needs_torch()
    rng = np.random.default_rng(1)
    for dtype in (np.float64, np.float32, np.float16):
        x = (rng.standard_normal(3000) * rng.choice([1, 10, 1000, 1e5], 3000)).astype(dtype)
        x = np.concatenate([x, np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.25, 1.005, 125, 150, 250, np.nan, np.inf,
                                         -np.inf, -0.0], dtype)])
        for d in (0, 1, 2, -1, -2):
            assert_same(Tensor(x).round(decimals=d).data, torch.round(torch.tensor(x), decimals=d).numpy(), 0,
                        f"round {dtype.__name__} {d}")
        e, w = x[::-1].copy(), rng.uniform(-1, 2, x.size).astype(dtype)
        with np.errstate(all="ignore"):
            for weight in (0.3, 0.7, -0.2, 1.0, 0.0, 0.5, 1.5):
                np.testing.assert_array_equal(Tensor(x).lerp(Tensor(e), weight).data,
                                              torch.lerp(torch.tensor(x), torch.tensor(e), weight).numpy())
            np.testing.assert_array_equal(Tensor(x).lerp(Tensor(e), Tensor(w)).data,
                                          torch.lerp(torch.tensor(x), torch.tensor(e), torch.tensor(w)).numpy())


def test_in_place_division_and_lerp_change_the_tensor_itself():
    """`x //= y` and `x %= y` are in place, as in PyTorch (without __ifloordiv__ / __imod__ Python would rebind x to
    a new tensor, and every other name for it would keep the old values); lerp_ is the moving-average update."""
    x = Tensor(np.array([7, -7, 5]))
    alias = x
    x //= 2
    assert x is alias and np.array_equal(alias.data, [3, -4, 2])
    x %= 2
    assert x is alias and np.array_equal(alias.data, [1, 0, 0])
    y = Tensor(np.array([7.5, -7.5]))
    assert y.fmod_(2.0) is y and np.array_equal(y.data, [1.5, -1.5])
    with pytest.raises(RuntimeError, match="in place"):
        Tensor(np.array([7, 5])).floor_divide_(2.5)  # a float result does not fit an integer tensor (PyTorch too)
    with pytest.raises(ZeroDivisionError):
        Tensor(np.array([7, 5])).remainder_(0)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf([1.0]).lerp_(Tensor(np.array([2.0])), 0.5)
    a, e, w = leaf([1.0, 2.0, 3.0]), leaf([3.0, 3.0, 5.0]), leaf([0.25, 0.75, 0.5])
    h = a * 1.0
    assert h.lerp_(e, w) is h
    h.backward(np.array([1.0, 2.0, 3.0]))
    if torch is not None:
        ta, te, tw = (torch.tensor(v.data, requires_grad=True) for v in (Tensor(np.array([1.0, 2.0, 3.0])),
                                                                          Tensor(np.array([3.0, 3.0, 5.0])),
                                                                          Tensor(np.array([0.25, 0.75, 0.5]))))
        th = ta * 1.0
        th.lerp_(te, tw).backward(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
        np.testing.assert_array_equal(h.data, th.detach().numpy())
        for ours, theirs in ((a, ta), (e, te), (w, tw)):
            np.testing.assert_array_equal(ours.grad.data, theirs.grad.numpy())
    avg = Tensor(np.zeros(3))
    with no_grad():
        avg.lerp_(Tensor(np.ones(3)), 0.1)
    np.testing.assert_allclose(avg.data, 0.1)


def test_lerp_errors_as_in_torch():
    x = Tensor(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="expected dtype float32 for `weight`"):
        x.lerp(x, Tensor(np.ones(3)))
    with pytest.raises(TypeError, match="expected dtype float32 for `end`"):
        x.lerp(Tensor(np.ones(3)), 0.5)
    with pytest.raises(TypeError, match="not implemented for int64"):
        Tensor(np.ones(3, np.int64)).lerp(Tensor(np.ones(3, np.int64)), 0.5)
    with pytest.raises(TypeError, match="must be a Tensor"):
        x.lerp(1.0, 0.5)


def test_clamp_dtypes_and_broadcasting_match_torch():
    needs_torch()
    cases = [(np.array([1, 5]), 2.5, None), (np.array([1, 5]), 0, 3), (np.array([1.0, 5.0], np.float32),
             np.array([2, 2]), None), (np.array([1.0, 5.0], np.float32), np.array([2.0, 2.0]), None),
             (np.array([1.0, 5.0], np.float32), np.zeros((3, 1), np.float32), None)]
    for x, lo, hi in cases:
        ours = Tensor(x).clamp(Tensor(lo) if isinstance(lo, np.ndarray) else lo, hi)
        theirs = torch.tensor(x).clamp(torch.tensor(lo) if isinstance(lo, np.ndarray) else lo, hi)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == np.dtype(str(theirs.dtype).split(".")[1])
        np.testing.assert_array_equal(ours.data, theirs.numpy())


# ---------------------------------------------------------------------- 4. nn.functional in place, modules, softmin

INPLACE = {
    "silu": (lambda t, i: F.silu(t, inplace=i), lambda t, i: tF.silu(t, inplace=i)),
    "elu": (lambda t, i: F.elu(t, 0.8, inplace=i), lambda t, i: tF.elu(t, 0.8, inplace=i)),
    "celu": (lambda t, i: F.celu(t, 1.5, inplace=i), lambda t, i: tF.celu(t, 1.5, inplace=i)),
    "selu": (lambda t, i: F.selu(t, inplace=i), lambda t, i: tF.selu(t, inplace=i)),
    "relu6": (lambda t, i: F.relu6(t * 4, inplace=i), lambda t, i: tF.relu6(t * 4, inplace=i)),
    "hardtanh": (lambda t, i: F.hardtanh(t, -0.5, 0.5, inplace=i), lambda t, i: tF.hardtanh(t, -0.5, 0.5, i)),
    "hardswish": (lambda t, i: F.hardswish(t * 4, inplace=i), lambda t, i: tF.hardswish(t * 4, inplace=i)),
    "hardsigmoid": (lambda t, i: F.hardsigmoid(t * 4, inplace=i), lambda t, i: tF.hardsigmoid(t * 4, inplace=i)),
    "mish": (lambda t, i: F.mish(t, inplace=i), lambda t, i: tF.mish(t, inplace=i)),
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_activations_match_torch(name):
    """inplace=True overwrites the input (a non-leaf) and returns it: the out-of-place values and PyTorch's
    gradients; on a leaf that requires grad it raises; under no_grad it writes into the array."""
    needs_torch()
    ours, theirs = INPLACE[name]
    a = np.array([-2.0, -1.0, -0.3, 0.0, 0.4, 1.2, 2.0])
    x, tx = leaf(a), torch.tensor(a, requires_grad=True)
    h, th = x * 1.0, tx * 1.0
    out, ref = ours(h, True), theirs(th, True)
    expected = ours(leaf(a) * 1.0, False)
    np.testing.assert_array_equal(out.data, expected.data)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-14)
    v = cotangents(a.shape, seed=3)
    out.backward(v)
    ref.backward(torch.tensor(v))
    rtol = FLOAT32_CONSTANT if name in ("celu", "hardsigmoid") else 1e-13
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=rtol, atol=1e-15)
    with pytest.raises(RuntimeError, match="leaf"):
        ours(leaf(a), True) if name not in ("relu6", "hardswish", "hardsigmoid") else F.__dict__[name](leaf(a), True)
    y = Tensor(a.copy(), requires_grad=True)
    with no_grad():
        before = y._version
        r = F.__dict__[name](y, inplace=True)
    assert r is y and y._version == before + 1 and not np.array_equal(y.data, a)


def test_inplace_returns_the_same_tensor_and_in_place_aliases():
    x = Tensor(np.array([-1.0, 2.0]))
    for fn in (lambda t: F.elu_(t), lambda t: F.hardtanh_(t), lambda t: F.celu_(t, 2.0), lambda t: F.selu_(t),
               E.selu_, lambda t: E.celu_(t, 0.5), lambda t: F.relu6(t, inplace=True)):
        assert fn(x) is x
    np.testing.assert_allclose(F.hardtanh_(Tensor(np.array([-3.0, 0.5]))).data, [-1.0, 0.5])


def test_inplace_elu_with_negative_alpha_raises_at_backward_as_torch():
    for fn in (lambda t: F.elu(t, -0.5, inplace=True), lambda t: F.celu(t, -0.5, inplace=True)):
        x = leaf([-1.0, 2.0])
        out = fn(x * 1.0)  # forward is fine, as in PyTorch
        with pytest.raises(RuntimeError, match="negative slope which is not supported"):
            out.sum().backward()
    x = leaf([-1.0, 2.0])
    F.elu(x * 1.0, 0.5, inplace=True).sum().backward()  # α ≥ 0 differentiates


def test_activation_argument_errors_as_in_torch():
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(Tensor(np.ones(2)), 1.0, -1.0)
    with pytest.raises(TypeError, match="Bool inputs not supported"):
        F.relu6(Tensor(np.array([True])))
    with pytest.raises(RuntimeError, match="unsigned type"):
        F.relu6(Tensor(np.array([1], np.uint8)), False) if False else F.hardtanh(Tensor(np.array([1], np.uint8)))
    with pytest.raises(ZeroDivisionError, match="alpha cannot be 0"):
        F.celu(Tensor(np.ones(2)), 0.0)
    with pytest.raises(TypeError, match="silu: not implemented for int64"):
        F.silu(Tensor(np.array([1, 2])))
    with pytest.raises(TypeError, match="must be a Tensor"):
        F.silu(np.ones(2))
    np.testing.assert_array_equal(F.relu6(Tensor(np.array([-3, 4, 9]))).data, [0, 4, 6])  # integers keep dtype


MODULES = [("SiLU()", "SiLU()"), ("SiLU(True)", "SiLU(inplace=True)"), ("ELU()", "ELU(alpha=1.0)"),
           ("ELU(alpha=2.0, inplace=True)", "ELU(alpha=2.0, inplace=True)"), ("CELU(0.5, True)", None),
           ("SELU()", None), ("SELU(True)", None), ("Softsign()", None), ("ReLU6()", None), ("ReLU6(True)", None),
           ("Hardtanh()", "Hardtanh(min_val=-1.0, max_val=1.0)"),
           ("Hardtanh(-2, 3)", "Hardtanh(min_val=-2, max_val=3)"),
           ("Hardtanh(-2, 3, True)", None), ("Hardswish()", None), ("Hardswish(True)", "Hardswish()"),
           ("Hardsigmoid(True)", "Hardsigmoid()"), ("Mish(True)", None), ("LogSigmoid()", None),
           ("Softmin()", "Softmin(dim=None)"), ("Softmin(1)", "Softmin(dim=1)")]


@pytest.mark.parametrize("source, expected", MODULES)
def test_modules_repr_and_forward_match_torch(source, expected):
    ours = eval(source, {n: getattr(A, n) for n in A.__all__})
    if expected is not None:
        assert repr(ours) == expected
    if torch is None:
        return
    theirs = eval(source, {n: getattr(torch.nn, n) for n in A.__all__})
    assert repr(ours) == repr(theirs)
    a = np.array([[-4.0, -1.0, 0.0], [0.5, 2.0, 7.0]])
    x, tx = leaf(a), torch.tensor(a, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Softmin() warns about its implicit dim, in both
        out, ref = ours(x * 1.0), theirs(tx * 1.0)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-14)
    out.backward(cotangents(a.shape, seed=4))
    ref.backward(torch.tensor(cotangents(a.shape, seed=4)))
    rtol = FLOAT32_CONSTANT if source.startswith(("CELU", "Hardsigmoid")) else 1e-13
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=rtol, atol=1e-15)


def test_module_argument_checks_as_in_torch():
    with pytest.raises(AssertionError, match="max_val"):
        A.Hardtanh(2.0, -2.0)
    with pytest.warns(FutureWarning, match="min_value"):
        m = A.Hardtanh(min_value=-3.0)
    assert m.min_val == -3.0
    with pytest.raises(TypeError):
        A.Softsign(3)
    with pytest.raises(TypeError):
        A.LogSigmoid(inplace=True)


@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4])
def test_softmin_implicit_dim_warns_and_picks_torchs_dim(ndim):
    x = np.arange(2.0**ndim).reshape((2,) * ndim) / 3
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        out = F.softmin(Tensor(x))
    dim = 0 if ndim in (0, 1, 3) else 1
    np.testing.assert_allclose(out.data, F.softmin(Tensor(x), dim).data)
    if torch is not None:
        with pytest.warns(UserWarning):
            ref = tF.softmin(torch.tensor(x))
        np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-14)


def test_softmin_dtype_argument():
    out = F.softmin(Tensor(np.array([1, 2, 3])), 0, dtype=np.float64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, np.exp(-np.arange(1, 4)) / np.exp(-np.arange(1, 4)).sum())
    with pytest.raises(TypeError, match="softmin"):
        F.softmin(Tensor(np.array([1, 2, 3])), 0)


def test_top_level_functions():
    x = Tensor(np.array([-1.5, 0.25, 2.5]))
    for name in ("floor", "ceil", "trunc", "fix", "frac", "tan", "log1p", "expm1", "exp2", "erf"):
        np.testing.assert_array_equal(getattr(E, name)(x).data, getattr(x, name)().data)
        with pytest.raises(TypeError, match="must be a Tensor"):
            getattr(E, name)(1.5)
    np.testing.assert_array_equal(E.round(x, decimals=0).data, [-2.0, 0.0, 2.0])
    np.testing.assert_array_equal(E.log2(Tensor(np.array([8.0]))).data, [3.0])
    np.testing.assert_array_equal(E.log10(Tensor(np.array([100.0]))).data, [2.0])
    np.testing.assert_array_equal(E.remainder(7, Tensor(np.array([2, -2]))).data, [1, -1])  # a number first: ok
    np.testing.assert_array_equal(E.floor_divide(7, Tensor(np.array([2, -2]))).data, [3, -4])
    with pytest.raises(TypeError):
        E.fmod(7, Tensor(np.array([2])))  # PyTorch's fmod takes no number first
    with pytest.raises(TypeError, match="must be a Tensor"):
        E.atan2(x, 1.0)  # nor does atan2 (or hypot) take a number at all
    np.testing.assert_allclose(E.atan2(x, x).data, np.arctan2(x.data, x.data))
    np.testing.assert_allclose(E.arctan2(x, x).data, np.arctan2(x.data, x.data))
    np.testing.assert_allclose(E.hypot(x, x).data, np.hypot(x.data, x.data))
    np.testing.assert_allclose(E.lerp(x, x * 2, 0.5).data, x.data * 1.5)
    np.testing.assert_allclose(E.selu(x).data, F.selu(x).data)
    np.testing.assert_allclose(E.celu(x, 2.0).data, F.celu(x, 2.0).data)


def test_round_is_keyword_only_and_halves_go_to_even():
    x = Tensor(np.array([0.5, 1.5, 2.5, -0.5, -1.5]))
    np.testing.assert_array_equal(x.round().data, [0.0, 2.0, 2.0, -0.0, -2.0])
    with pytest.raises(TypeError):
        x.round(1)
    np.testing.assert_array_equal(Tensor(np.array([3, -7])).floor().data, [3, -7])
    assert Tensor(np.array([3], np.int32)).round().dtype == np.int32


# ------------------------------------------------------------------------------------------------ 5. complex


def test_complex_tensors_refuse_requires_grad():
    """PyTorch differentiates complex tensors with its conjugate convention; ours would give other numbers, so a
    complex tensor cannot require grad (it could before)."""
    z = np.array([1 + 2j, 3 - 1j])
    with pytest.raises(TypeError, match="complex autograd is not supported"):
        Tensor(z, requires_grad=True)
    with pytest.raises(TypeError, match="complex autograd is not supported"):
        Tensor(z).requires_grad_()
    with pytest.raises(TypeError, match="complex autograd is not supported"):
        Tensor(z.astype(np.complex64)).requires_grad = True
    np.testing.assert_allclose(Tensor(z).exp().data, np.exp(z))  # complex values without gradients still work
    assert math.isclose(Tensor(z).abs().data[0], math.sqrt(5))
