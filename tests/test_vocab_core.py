"""Issue 14, the Tensor core: comparisons as methods and functions, dtype conversions, dim/size/to/device,
`tinygrad_np.tensor` and the top-level namespace, random sampling (randint, randperm, multinomial, bernoulli, the
*_like draws), the generator's state, and PyTorch's dtype promotion (torch.result_type) with the ops that refuse
mixed dtypes (linear, conv2d, matmul). PyTorch is the oracle throughout."""
from __future__ import annotations

import importlib
import itertools
import math
import pkgutil
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import EXAMPLES, arrays, broadcastable_shapes

import nn
import tinygrad_np as tg
from nn import functional as F
from tinygrad_np import Tensor

torch = pytest.importorskip("torch")

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "bool", "float16", "float32", "float64"]


def _np(name: str) -> np.dtype:
    return np.dtype(name)


def _torch_dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _pair(kind: str, name: str, values=(1, 0, 3)):
    """A tensor of dtype `name` in ours and in torch: 'dim' (shape (3,)) or '0d'."""
    data = np.array(values, _np(name)) if kind == "dim" else np.array(values[0], _np(name))
    return Tensor(data.copy()), torch.from_numpy(data.copy())


def _both_raise(ours, theirs, error=Exception, match=None):
    """Our call raises `error` (matching `match`) where PyTorch's raises too."""
    with pytest.raises(Exception):  # noqa: B017 (PyTorch's exception types vary: RuntimeError, TypeError, ...)
        theirs()
    with pytest.raises(error, match=match):
        ours()


# =================================================================================================== promotion


@pytest.mark.parametrize("kinds", list(itertools.product(["dim", "0d"], repeat=2)), ids=str)
def test_result_type_matches_torch_for_every_pair_of_tensors(kinds):
    for a, b in itertools.product(DTYPES, repeat=2):
        (x, tx), (y, ty) = _pair(kinds[0], a), _pair(kinds[1], b)
        expected = _torch_dtype_name(torch.result_type(tx, ty))
        assert str(tg.result_type(x, y)) == expected, (kinds, a, b)
        if not a == b == "bool":  # (torch's bool + bool is a logical or; NumPy's too, but keep to arithmetic)
            out, t_out = x + y, tx + ty
            assert str(out.dtype) == expected, (kinds, a, b)
            np.testing.assert_array_equal(out.data, t_out.numpy(), err_msg=str((kinds, a, b)))
        for op in ("mul", "maximum", "minimum"):
            assert str(getattr(x, op)(y).dtype) == expected, (op, kinds, a, b)


@pytest.mark.parametrize("kind", ["dim", "0d"])
@pytest.mark.parametrize("scalar", [True, 2, -3, 2.5, np.int64(3), np.int8(-2), np.float64(1.5), np.float32(0.25)],
                         ids=repr)
def test_result_type_matches_torch_for_python_and_numpy_numbers(kind, scalar):
    for name in DTYPES:
        x, tx = _pair(kind, name)
        expected = str((tx + scalar).dtype).replace("torch.", "")
        assert str(tg.result_type(x, scalar)) == expected == str(tg.result_type(scalar, x)), name
        for ours, theirs in [(x + scalar, tx + scalar), (scalar + x, scalar + tx), (x * scalar, tx * scalar),
                             (tg.where(x > 0, x, scalar), torch.where(tx > 0, tx, scalar)),
                             (tg.where(x > 0, scalar, x), torch.where(tx > 0, scalar, tx))]:
            assert str(ours.dtype) == _torch_dtype_name(theirs.dtype), name
            np.testing.assert_array_equal(ours.data, theirs.numpy(), err_msg=name)


def test_the_cases_of_the_issue():
    x32 = Tensor(np.array([0.1, 0.2], np.float32))
    f64 = Tensor(np.array(0.1, np.float64))  # 0-d
    assert (x32 + f64).dtype == np.float32 and (f64 * x32).dtype == np.float32
    assert (x32 + Tensor(np.array([0.1], np.float64))).dtype == np.float64  # a dimensioned float64 wins
    i32, i64 = Tensor(np.array([1, 2], np.int32)), Tensor(np.array(3, np.int64))
    assert (i32 + i64).dtype == np.int32
    assert (i32 + Tensor(np.array(0.5))).dtype == np.float64  # a 0-d of a higher category decides
    assert (Tensor([True, False]) + Tensor(np.array(2, np.int8))).dtype == np.int8
    assert tg.result_type(1, 2.5) == np.float32 and tg.result_type(True, 2) == np.int64
    assert tg.promote_types(np.int64, np.float16) == np.float16 and tg.promote_types(np.uint8, np.int8) == np.int16


def test_mixed_values_and_gradients_match_torch():
    xa, wa = np.array([0.1, 0.7, -1.3], np.float32), np.array(0.3, np.float64)
    x, w = Tensor(xa.copy(), requires_grad=True), Tensor(wa.copy(), requires_grad=True)
    tx, tw = torch.tensor(xa, requires_grad=True), torch.tensor(wa, requires_grad=True)
    out, t_out = (x * w + w) / w - x.maximum(w), (tx * tw + tw) / tw - torch.maximum(tx, tw)
    assert out.dtype == np.float32 and t_out.dtype == torch.float32
    np.testing.assert_array_equal(out.data, t_out.detach().numpy())
    g = np.array([1.0, -2.0, 0.5], np.float32)
    out.backward(g)
    t_out.backward(torch.from_numpy(g))
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64 and w.grad.shape == ()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(w.grad.data, tw.grad.numpy(), rtol=1e-6)


@given(shapes=broadcastable_shapes(3), data=st.data())
@EXAMPLES
def test_promoted_operands_first_and_second_derivatives(shapes, data):
    # float64 tensors meeting int and bool tensors (dimensioned or 0-d) and numbers: the promotion casts sit in
    # the graph, and the derivatives through them are checked by finite differences and against PyTorch
    xa, ya = data.draw(arrays(shapes[0], lo=0.5, hi=2)), data.draw(arrays(shapes[1], lo=0.5, hi=2))
    ints = np.asarray(np.arange(1, 1 + math.prod(shapes[2])).reshape(shapes[2]) % 3 + 1, np.int32)
    flags = np.asarray(ints > 1)

    def f(lib, x, y):
        i, b = (Tensor(ints), Tensor(flags)) if lib is tg else (torch.from_numpy(ints), torch.from_numpy(flags))
        return ((x * i + y) / (i + 1) - b * y * x + 2 * x ** 2) * (y + True) - (x - 3) / y

    x, y = Tensor(xa, requires_grad=True), Tensor(ya, requires_grad=True)
    assert tg.gradcheck(lambda x, y: f(tg, x, y), x, y)
    assert tg.gradgradcheck(lambda x, y: f(tg, x, y), x, y)
    tx, ty = torch.tensor(xa.copy(), requires_grad=True), torch.tensor(ya.copy(), requires_grad=True)
    out, t_out = f(tg, x, y), f(torch, tx, ty)
    assert out.dtype == np.float64 and t_out.dtype == torch.float64
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(out.shape)
    gx, gy = tg.autograd.grad(out, (x, y), Tensor(g))
    tgx, tgy = torch.autograd.grad(t_out, (tx, ty), torch.from_numpy(g))
    np.testing.assert_allclose(gx.data, tgx.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gy.data, tgy.numpy(), rtol=1e-10, atol=1e-12)


def test_integer_numbers_wrap_around_as_in_torch():
    for name, number in [("int8", 1000), ("int8", -1000), ("uint8", -2), ("uint8", 300), ("int16", 40000)]:
        x, tx = _pair("dim", name)
        np.testing.assert_array_equal((x + number).data, (tx + number).numpy(), err_msg=f"{name} + {number}")
        assert (x + number).dtype == _np(name)


def test_minimum_of_unsigned_and_extreme_integers_is_exact():
    # min was computed as −max(−a, −b): −x wraps for uint8 and for the int minimum, which gave wrong answers
    for name, a, b in [("uint8", [0, 200, 5], [5, 100, 0]), ("int8", [-128, 5, 127], [5, -128, -128]),
                       ("bool", [True, False, True], [True, True, False])]:
        (x, tx), (y, ty) = _pair("dim", name, a), _pair("dim", name, b)
        np.testing.assert_array_equal(x.minimum(y).data, torch.minimum(tx, ty).numpy(), err_msg=name)


@pytest.mark.parametrize("scalar", [np.bool_(True), np.complex64(2)], ids=repr)
def test_ambiguous_numpy_scalars_are_refused(scalar):
    # PyTorch treats NumPy bool and complex scalars as Python floats (np.bool_(True) + an int tensor is float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (NumPy warns that PyTorch drops the imaginary part)
        assert (torch.ones(2, dtype=torch.int32) + scalar).dtype == torch.float32
    with pytest.raises(TypeError, match="PyTorch treats it as a Python float"):
        Tensor(np.ones(2, np.int32)) + scalar


def test_comparisons_compare_in_the_result_dtype():
    big = Tensor(np.array([16777217, 16777216]))  # int64; 16777217.0 is 16777216 in float32
    np.testing.assert_array_equal((big == 16777217.0).data, (torch.tensor([16777217, 16777216]) == 16777217.0))
    x, f64 = Tensor(np.array([0.1], np.float32)), Tensor(np.array(0.1))
    assert (x == f64).item() is True and torch.eq(torch.tensor([0.1]), torch.tensor(0.1, dtype=torch.float64))
    assert (Tensor([1, 2]) < 1.5).tolist() == [True, False]


@given(shapes=broadcastable_shapes(), other=st.sampled_from(["tensor", 0.0, 1, True]), data=st.data())
@EXAMPLES
def test_comparison_methods_and_functions_match_torch(shapes, other, data):
    # values on a grid of 0.5, so that ties (==) come up often
    a = np.asarray(np.round(data.draw(arrays(shapes[0])) * 2) / 2)
    x, tx = Tensor(a), torch.from_numpy(a)
    if other == "tensor":
        b = np.asarray(np.round(data.draw(arrays(shapes[1])) * 2) / 2)
        y, ty = Tensor(b), torch.from_numpy(b)
    else:
        y = ty = other
    for name in ("eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater", "greater_equal"):
        expected = getattr(torch, name)(tx, ty).numpy()
        for out in (getattr(x, name)(y), getattr(tg, name)(x, y)):
            assert out.dtype == bool and not out.requires_grad and out.grad_fn is None
            np.testing.assert_array_equal(out.data, expected, err_msg=name)


def test_comparison_functions_need_a_tensor_first():
    _both_raise(lambda: tg.eq(1, Tensor([1.0])), lambda: torch.eq(1, torch.tensor([1.0])), TypeError,
                "eq: input must be a Tensor")


# --------------------------------------------------------------------------------- ops that refuse mixed dtypes


def test_linear_refuses_mixed_dtypes_as_torch():
    x64, w32, b64 = np.ones((2, 3)), np.ones((4, 3), np.float32), np.ones(4)
    _both_raise(lambda: Tensor(x64).linear(Tensor(w32)),
                lambda: torch.nn.functional.linear(torch.tensor(x64), torch.tensor(w32)),
                TypeError, "Linear: .*got input float64, weight float32")
    _both_raise(lambda: F.linear(Tensor(x64.astype(np.float32)), Tensor(w32), Tensor(b64)),
                lambda: torch.nn.functional.linear(torch.tensor(x64).float(), torch.tensor(w32), torch.tensor(b64)),
                TypeError, "Linear: .*got input float32, weight float32, bias float64")
    layer = nn.Linear(3, 4)
    with pytest.raises(TypeError, match=r"Linear: .*input float64, weight float32, bias float32 \(PyTorch does not "):
        layer(Tensor(x64))
    assert layer(Tensor(x64).float()).dtype == np.float32


def test_conv2d_refuses_mixed_dtypes_as_torch():
    x, w, b = np.ones((1, 1, 3, 3)), np.ones((2, 1, 2, 2), np.float32), np.ones(2, np.float32)
    _both_raise(lambda: Tensor(x).conv2d(Tensor(w), Tensor(b)),
                lambda: torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b)),
                TypeError, "conv2d: .*input float64, weight float32, bias float32")
    with pytest.raises(TypeError, match="conv2d: .*input float64, weight float32"):
        nn.Conv2d(1, 2, 2)(Tensor(x))


@pytest.mark.parametrize("a, b", [("float32", "float64"), ("float64", "float32"), ("int64", "float32"),
                                  ("float16", "float32")])
def test_matmul_refuses_mixed_dtypes_as_torch(a, b):
    x, y = np.ones((2, 3), a), np.ones((3, 2), b)
    _both_raise(lambda: Tensor(x) @ Tensor(y), lambda: torch.from_numpy(x) @ torch.from_numpy(y), TypeError,
                f"Matmul: both operands must have the same dtype, got {a} and {b}")


# ================================================================================================ conveniences


@pytest.mark.parametrize("method, dtype", [("long", "int64"), ("int", "int32"), ("float", "float32"),
                                           ("double", "float64"), ("half", "float16"), ("bool", "bool")])
def test_conversions_match_torch(method, dtype):
    data = np.array([-1.7, -0.5, 0.0, 0.5, 2.9], np.float32)
    x, tx = Tensor(data.copy(), requires_grad=True), torch.tensor(data, requires_grad=True)
    out, t_out = getattr(x, method)(), getattr(tx, method)()
    assert out.dtype == _np(dtype) and str(t_out.dtype) == f"torch.{dtype}"
    np.testing.assert_array_equal(out.data, t_out.detach().numpy())
    assert out.requires_grad == t_out.requires_grad
    if method == "float":
        assert out is x  # no change: the tensor itself, as in PyTorch
    if out.requires_grad:
        out.sum().backward()
        t_out.sum().backward()
        assert x.grad.dtype == np.float32
        np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())
    assert getattr(Tensor(np.array([3, 0, -2])), method)().tolist() == getattr(torch.tensor([3, 0, -2]), method)(
    ).tolist()


def test_type_as():
    assert Tensor([1, 2]).type_as(Tensor([0.5])).dtype == np.float32


def test_dim_and_size():
    x, tx = Tensor.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert x.dim() == tx.dim() == 3 and x.size() == tuple(tx.size())
    for d in range(-3, 3):
        assert x.size(d) == tx.size(d)
    for d in (3, -4):
        _both_raise(lambda d=d: x.size(d), lambda d=d: tx.size(d), IndexError, f"size: dim {d} is out of range")
    _both_raise(lambda: Tensor(1.0).size(0), lambda: torch.tensor(1.0).size(0), IndexError, "0-d")
    assert Tensor(1.0).size() == () and Tensor(1.0).dim() == 0


def test_to_with_dtypes_devices_and_tensors():
    x = Tensor([1.5, -2.5], requires_grad=True)
    assert x.to(tg.float32) is x and x.to("cpu") is x and x.to(tg.device("cpu")) is x and x.to() is x
    assert x.to(None) is x and x.to(device="cpu") is x and x.to(x.device) is x and x.cpu() is x
    for out in (x.to(np.float64), x.to(dtype=tg.float64), x.to("cpu", tg.float64), x.to("cpu", dtype=np.float64),
                x.to(device="cpu", dtype=tg.float64), x.to(Tensor(np.zeros(1))), x.to(float)):
        assert out.dtype == np.float64 and out.requires_grad and out.grad_fn is not None
    assert x.to(tg.int64).tolist() == [1, -2] and not x.to(tg.int64).requires_grad
    assert x.to(int).dtype == np.int64 and x.to(bool).dtype == bool  # Python types, as in PyTorch
    # copy=True: new memory, still in the graph (PyTorch's ToCopyBackward)
    for copied in (x.to(tg.float32, copy=True), x.to("cpu", copy=True), x.to(copy=True), x.to(x, False, True)):
        assert copied is not x and not np.shares_memory(copied.data, x.data) and copied.grad_fn is not None
    # PyTorch copies for 'cpu:0' too: it is not the tensor's device 'cpu' (no index)
    tx = torch.tensor([1.0])
    assert tx.to("cpu:0").data_ptr() != tx.data_ptr()
    assert not np.shares_memory(x.to("cpu:0").data, x.data)
    (x.to(np.float64) * Tensor(np.array([2.0, 3.0]))).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 3.0]


@pytest.mark.parametrize("where", ["cuda", "cuda:0", "mps", "meta", 1])
def test_other_devices_raise(where):
    with pytest.raises(RuntimeError, match="CPU only"):
        Tensor([1.0]).to(where)
    with pytest.raises(RuntimeError, match="CPU only"):
        tg.zeros(2, device=where)
    with pytest.raises(RuntimeError, match="CPU only"):
        tg.tensor([1.0], device=where)


def test_device_strings_and_objects():
    _both_raise(lambda: Tensor([1.0]).to("foo"), lambda: torch.tensor([1.0]).to("foo"), RuntimeError,
                "expected one of cpu, cuda")
    _both_raise(lambda: Tensor([1.0]).to("float32"), lambda: torch.tensor([1.0]).to("float32"), RuntimeError,
                "at the start of the device string")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        Tensor([1.0]).cuda()
    d = Tensor([1.0]).device
    assert d == tg.device("cpu") and str(d) == "cpu" and repr(d) == "device(type='cpu')" and d.index is None
    assert tg.device("cpu:0") == tg.device("cpu", 0) != d and d != "cpu"  # as torch.device('cpu') != 'cpu'
    assert (torch.device("cpu") == "cpu") is False and not Tensor([1.0]).is_cuda
    with pytest.raises(TypeError, match="unexpected arguments"):
        Tensor([1.0]).to(tg.float64, "yes")
    with pytest.raises(TypeError, match="dtype given twice"):
        Tensor([1.0]).to(tg.float64, dtype=tg.float64)
    with pytest.raises(TypeError, match="is not a dtype"):
        Tensor([1.0]).to(object())


# ------------------------------------------------------------------------------------------------ tensor(...)


@pytest.mark.parametrize("data", [
    [1.0, 2.0], [1, 2], [True, False], 2.5, 7, True, [1, 2.5], [True, 1], [True, 1.5], [], [[], []], [[1, 2], [3, 4]],
    np.zeros(3), np.zeros(2, np.float16), np.arange(3, dtype=np.int32), np.float64(1.5), np.float32(1.5),
    [np.float64(1.0), 2.0], [np.int32(1), np.int32(2)], [1, np.float16(2)], (1.0, 2.0), 1 + 2j,
], ids=repr)
def test_tensor_infers_dtypes_as_torch(data):
    out, expected = tg.tensor(data), torch.tensor(data)
    assert str(out.dtype) == _torch_dtype_name(expected.dtype) and out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(out.data, expected.numpy())
    assert out.is_leaf and not out.requires_grad


def test_tensor_copies_and_takes_dtype_and_requires_grad():
    a = np.array([1.0, 2.0])
    t = tg.tensor(a)
    assert t.dtype == np.float64 and not np.shares_memory(t.data, a)
    a[0] = 5.0
    assert t.tolist() == [1.0, 2.0]
    assert tg.tensor([1.7, -1.7], dtype=tg.int64).tolist() == torch.tensor([1.7, -1.7], dtype=torch.int64).tolist()
    assert tg.tensor(np.ones(2, np.int32), dtype=tg.float64).dtype == np.float64
    r = tg.tensor([1.0, 2.0], requires_grad=True)
    assert r.requires_grad and r.is_leaf
    _both_raise(lambda: tg.tensor([1, 2], requires_grad=True), lambda: torch.tensor([1, 2], requires_grad=True),
                TypeError, "only floating-point tensors can require gradients")


def test_tensor_of_tensors_as_torch():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match="clone"):
        y = tg.tensor(x)
    assert not np.shares_memory(y.data, x.data) and not y.requires_grad and y.is_leaf
    assert tg.tensor([Tensor(1.0), Tensor(np.array([2.0]))]).tolist() == [1.0, 2.0]
    assert tg.tensor([Tensor(np.array(1, np.int32))]).dtype == np.int32
    _both_raise(lambda: tg.tensor([Tensor([1.0, 2.0])]), lambda: torch.tensor([torch.ones(2)]), ValueError,
                "exactly one element")


@pytest.mark.parametrize("data", [None, "a", [[1, 2], [3]], 2**63, [object()]], ids=repr)
def test_tensor_refuses_what_torch_refuses(data):
    with pytest.raises(Exception):  # noqa: B017
        torch.tensor(data)
    with pytest.raises((TypeError, ValueError, OverflowError)):
        tg.tensor(data)


def test_the_function_tensor_is_not_shadowed_by_the_module():
    # every submodule imported (tinygrad_np.tensor among them): the attribute stays the function
    for package in (tg, nn):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
    importlib.import_module("tinygrad_np.tensor")
    from tinygrad_np import tensor
    from tinygrad_np.tensor import Tensor as T

    assert tg.tensor is tensor and callable(tensor) and not isinstance(tensor, type(tg))
    assert T is Tensor and tg.tensor([1.0, 2.0]).tolist() == [1.0, 2.0]


def test_top_level_namespace():
    names = ["zeros", "ones", "randn", "rand", "arange", "full", "cat", "stack", "where", "save", "load",
             "manual_seed", "no_grad", "enable_grad", "zeros_like", "ones_like", "full_like", "empty", "eye",
             "tensor", "randint", "randperm", "multinomial", "bernoulli", "rand_like", "randn_like", "randint_like",
             "get_rng_state", "set_rng_state", "eq", "ne", "lt", "le", "gt", "ge", "result_type", "promote_types",
             "from_numpy", "as_tensor", "is_tensor", "device"]
    for name in names:
        assert callable(getattr(tg, name)), name
    for name in ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool", "half",
                 "double", "long", "short", "float", "int"]:
        assert np.dtype(getattr(tg, name)).name == _torch_dtype_name(getattr(torch, name)), name
    assert tg.zeros(2, 3).shape == (2, 3) and tg.ones((2,), dtype=tg.int64).dtype == np.int64
    assert tg.full((2,), 1.5).dtype == np.float32 and tg.full((2,), 1).dtype == np.int64
    assert tg.arange(3).tolist() == [0, 1, 2] and tg.eye(2).tolist() == [[1, 0], [0, 1]]
    assert tg.empty(2, device="cpu").shape == (2,) and tg.zeros_like(tg.ones(2)).tolist() == [0, 0]
    assert tg.ones_like(tg.zeros(2)).tolist() == [1, 1] and tg.full_like(tg.zeros(2), 3.0).tolist() == [3, 3]
    assert tg.cat([tg.ones(1), tg.zeros(1)]).tolist() == [1, 0] and tg.stack([tg.ones(1), tg.zeros(1)]).shape == (2, 1)
    assert tg.where(tg.tensor([True, False]), 1.0, 0).tolist() == [1.0, 0.0]
    with tg.no_grad():
        assert not (Tensor([1.0], requires_grad=True) * 2).requires_grad
        with tg.enable_grad():
            assert (Tensor([1.0], requires_grad=True) * 2).requires_grad
    a = np.ones(2)
    assert np.shares_memory(tg.from_numpy(a).data, a) and np.shares_memory(tg.as_tensor(a).data, a)
    assert tg.as_tensor([1, 2]).dtype == np.int64 and tg.is_tensor(tg.ones(1)) and not tg.is_tensor(a)
    star: dict = {}
    exec("from tinygrad_np import *", star)  # noqa: S102 (the star import must not shadow Python's bool/float/int)
    assert "float" not in star and "tensor" in star and all(name in star for name in tg.__all__)


def test_top_level_save_and_load(tmp_path):
    model = nn.Linear(2, 3)
    tg.save({"model": model.state_dict(), "step": 3}, tmp_path / "state.npz")
    state = tg.load(tmp_path / "state.npz")
    assert int(state["step"]) == 3
    np.testing.assert_array_equal(state["model"]["weight"], model.weight.data)


# ================================================================================================== sampling


def test_randint_forms_dtypes_and_range():
    tg.manual_seed(0)
    for out in (tg.randint(10, (3, 4)), tg.randint(3, 10, (3, 4)), tg.randint(low=3, high=10, size=(3, 4)),
                tg.randint(10, size=[3, 4]), Tensor.randint(np.int64(10), (3, 4))):
        assert out.dtype == np.int64 and out.shape == (3, 4) and not out.requires_grad
    assert tg.randint(10, ()).shape == () and tg.randint(0, 10, (2,), dtype=tg.float32).dtype == np.float32
    assert set(tg.randint(0, 2, (100,), dtype=tg.bool).tolist()) == {True, False}
    assert tg.randint(0, 10, (2,), dtype=tg.float32, requires_grad=True).requires_grad
    draws = tg.randint(-3, 4, (70_000,)).data
    counts = np.bincount(draws + 3, minlength=7)
    assert draws.min() == -3 and draws.max() == 3
    assert np.all(np.abs(counts - 10_000) < 5 * math.sqrt(10_000 * 6 / 7))  # five standard deviations
    assert tg.randint(-2**63, 2**63 - 1, (2,)).dtype == np.int64


@pytest.mark.parametrize("args, kwargs", [
    ((10, 3), {}), ((5, 5, (2,)), {}), ((5, 4, (2,)), {}), ((2.5, 10, (2,)), {}), ((True, 5, (2,)), {}),
    ((10, (2.0,)), {}), ((300, (2,)), {"dtype": "int8"}), ((-1, 2, (2,)), {"dtype": "uint8"}),
    ((10, (2,)), {"requires_grad": True}), ((10,), {}),
], ids=str)
def test_randint_errors_as_torch(args, kwargs):
    t_kwargs = {k: getattr(torch, v) if k == "dtype" else v for k, v in kwargs.items()}
    _both_raise(lambda: tg.randint(*args, **kwargs), lambda: torch.randint(*args, **t_kwargs),
                (TypeError, ValueError))


def test_randperm():
    tg.manual_seed(1)
    p = tg.randperm(20)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(20))
    assert tg.randperm(0).shape == (0,) and tg.randperm(5, dtype=tg.int32).dtype == np.int32
    firsts = np.array([tg.randperm(4).data[0] for _ in range(4000)])
    assert np.all(np.abs(np.bincount(firsts, minlength=4) - 1000) < 5 * math.sqrt(4000 * 0.25 * 0.75))
    for bad, error in [(-1, ValueError), (5.0, TypeError)]:
        _both_raise(lambda bad=bad: tg.randperm(bad), lambda bad=bad: torch.randperm(bad), error)
    _both_raise(lambda: tg.randperm(5, requires_grad=True), lambda: torch.randperm(5, requires_grad=True), TypeError)


def _close_to(counts: np.ndarray, probabilities: np.ndarray, n: int) -> bool:
    """Counts of n draws within five binomial standard deviations of n · probabilities."""
    sd = np.sqrt(n * probabilities * (1 - probabilities))
    return bool(np.all(np.abs(counts - n * probabilities) <= 5 * sd + 1e-9))


def test_multinomial_with_replacement_follows_the_weights():
    tg.manual_seed(2)
    weights = np.array([[1.0, 0.0, 3.0, 6.0], [0.0, 0.0, 2.0, 0.0]], np.float32)  # unnormalised
    out = tg.multinomial(Tensor(weights), 20_000, replacement=True)
    assert out.dtype == np.int64 and out.shape == (2, 20_000) and not out.requires_grad
    for row, w in zip(out.data, weights):
        assert _close_to(np.bincount(row, minlength=4), w / w.sum(), 20_000)
        assert np.all(w[row] > 0)  # never a category of weight 0
    one = Tensor([0.2, 0.8]).multinomial(5, True)
    assert one.shape == (5,) and tuple(torch.multinomial(torch.tensor([0.2, 0.8]), 5, True).shape) == (5,)


def test_multinomial_without_replacement_draws_in_sequence():
    tg.manual_seed(3)
    p = np.array([0.5, 0.3, 0.2, 0.0])
    n = 20_000
    out = Tensor(np.tile(p, (n, 1))).multinomial(3)  # each row: three draws without replacement
    assert out.shape == (n, 3)
    assert all(len(set(r)) == 3 for r in out.data[:200])
    first = np.bincount(out.data[:, 0], minlength=4)
    assert _close_to(first, p, n)
    # the second draw: P(j) = Σ_{i≠j} p_i · p_j / (1 − p_i)
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)])
    assert _close_to(np.bincount(out.data[:, 1], minlength=4), second, n)
    assert np.all(out.data != 3)  # weight 0: never drawn while others remain
    # once the categories of nonzero weight are used up, ones of weight 0 follow, as in PyTorch
    assert sorted(Tensor([1.0, 0.0, 0.0]).multinomial(3).tolist()) == [0, 1, 2]
    assert Tensor([1.0, 0.0, 0.0]).multinomial(3).tolist()[0] == 0
    assert sorted(torch.multinomial(torch.tensor([1.0, 0.0, 0.0]), 3).tolist()) == [0, 1, 2]
    assert Tensor(np.ones((0, 3))).multinomial(2).shape == (0, 2) and Tensor(np.ones(3, np.float16)).multinomial(1)


@pytest.mark.parametrize("weights, n, replacement", [
    ([1.0, 1.0, 1.0], 0, False), ([1.0, 1.0, 1.0], 4, False), ([1.0, -1.0, 0.0], 1, False),
    ([0.0, 0.0, 0.0], 1, True), ([1.0, math.nan], 1, True), ([1.0, math.inf], 1, False),
    ([[1.0, 0.0], [0.0, 0.0]], 1, False), (np.ones((2, 2, 2)), 1, False), (1.0, 1, False),
    ([1, 2], 1, False), ([1.0, 1.0], 1.0, False), ([1.0, 1.0], True, False), (np.ones(0), 1, True),
], ids=str)
def test_multinomial_errors_as_torch(weights, n, replacement):
    data = np.asarray(weights)
    _both_raise(lambda: tg.multinomial(Tensor(data), n, replacement),
                lambda: torch.multinomial(torch.from_numpy(data), n, replacement), (TypeError, ValueError))


def test_bernoulli_follows_the_probabilities_with_zero_gradient():
    tg.manual_seed(4)
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    probs = Tensor(np.tile(p, (20_000, 1)), requires_grad=True)
    out = tg.bernoulli(probs)
    assert out.dtype == np.float64 and out.requires_grad and set(np.unique(out.data)) <= {0.0, 1.0}
    assert _close_to(out.data.sum(0), p, 20_000)
    assert np.all(out.data[:, 0] == 0) and np.all(out.data[:, 4] == 1)
    out.sum().backward()
    tp = torch.tensor(np.tile(p, (3, 1)), requires_grad=True)
    torch.bernoulli(tp).sum().backward()
    assert np.all(probs.grad.data == 0) and torch.all(tp.grad == 0)  # PyTorch's convention: gradient zero
    assert Tensor(np.full(3, 0.5, np.float32)).bernoulli().dtype == np.float32 and Tensor(0.5).bernoulli().shape == ()
    fixed = Tensor(np.zeros(40_000)).bernoulli(0.3)  # a float p: the input's values do not matter
    assert abs(fixed.data.mean() - 0.3) < 5 * math.sqrt(0.21 / 40_000)
    assert Tensor([1, 1, 1]).bernoulli(0.5).dtype == np.int64


def test_bernoulli_derivatives_are_zero_at_every_order():
    p = Tensor(np.array([[0.2, 0.7], [0.5, 0.9]]), requires_grad=True)

    def f(p):
        tg.manual_seed(0)  # the same draws at every call of gradcheck
        return p.bernoulli() * p + p.bernoulli()

    assert tg.gradcheck(f, p) and tg.gradgradcheck(f, p)
    tg.manual_seed(0)
    sample = p.bernoulli().data
    (grad,) = tg.autograd.grad(f(p).sum(), p, create_graph=True)
    np.testing.assert_array_equal(grad.data, sample)  # d(s·p)/dp = s: the sample itself is a constant


def test_bernoulli_errors_as_torch():
    _both_raise(lambda: Tensor([0.5, 1.5]).bernoulli(), lambda: torch.bernoulli(torch.tensor([0.5, 1.5])),
                ValueError, r"probabilities must be in \[0, 1\]")
    _both_raise(lambda: Tensor([0.5, math.nan]).bernoulli(), lambda: torch.bernoulli(torch.tensor([0.5, math.nan])),
                ValueError, "NaN")
    _both_raise(lambda: Tensor([1, 0]).bernoulli(), lambda: torch.bernoulli(torch.tensor([1, 0])), TypeError)
    _both_raise(lambda: Tensor([0.5]).bernoulli(1.3), lambda: torch.bernoulli(torch.tensor([0.5]), 1.3), ValueError)
    # with a float p PyTorch has no derivative: backward raises there and here
    x, tx = Tensor([0.5], requires_grad=True), torch.tensor([0.5], requires_grad=True)
    _both_raise(lambda: x.bernoulli(0.3).sum().backward(), lambda: torch.bernoulli(tx, 0.3).sum().backward(),
                RuntimeError, "no derivative")


def test_bernoulli_in_place():
    tg.manual_seed(5)
    x = Tensor.ones(20_000)
    version = x._version
    assert x.bernoulli_(0.25) is x and x._version == version + 1
    assert set(np.unique(x.data)) == {0.0, 1.0} and abs(x.data.mean() - 0.25) < 5 * math.sqrt(0.1875 / 20_000)
    assert Tensor.ones(2, 3).bernoulli_(Tensor([0.0, 1.0, 1.0])).tolist() == [[0, 1, 1], [0, 1, 1]]
    assert Tensor([3, 3], dtype=np.int64).bernoulli_(1.0).tolist() == [1, 1]
    _both_raise(lambda: Tensor.ones(3).bernoulli_(Tensor([0.0, 1.0])), lambda: torch.ones(3).bernoulli_(
        torch.tensor([0.0, 1.0])), ValueError, "cannot be broadcast")
    _both_raise(lambda: Tensor.ones(3).bernoulli_(2.0), lambda: torch.ones(3).bernoulli_(2.0), ValueError)
    leaf, t_leaf = Tensor.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    _both_raise(lambda: leaf.bernoulli_(), lambda: t_leaf.bernoulli_(), RuntimeError, "leaf")
    # a non-leaf: the overwritten values get gradient zero, as in PyTorch
    a, ta = Tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    (a * 3).bernoulli_().sum().backward()
    (ta * 3).bernoulli_().sum().backward()
    assert a.grad.tolist() == ta.grad.tolist() == [0.0, 0.0]


def test_like_draws_as_torch():
    for dtype in ("float32", "float64", "float16"):
        x, tx = Tensor.zeros(2, 3, dtype=dtype), torch.zeros(2, 3, dtype=getattr(torch, dtype))
        for name in ("rand_like", "randn_like"):
            out, expected = getattr(tg, name)(x), getattr(torch, name)(tx)
            assert out.shape == tuple(expected.shape) and str(out.dtype) == _torch_dtype_name(expected.dtype)
        for args in ((10,), (3, 10)):
            out, expected = tg.randint_like(x, *args), torch.randint_like(tx, *args)
            assert str(out.dtype) == _torch_dtype_name(expected.dtype) and out.shape == (2, 3)
            assert out.data.min() >= args[0] - 10 * (len(args) == 1) and out.data.max() < args[-1]
    assert tg.rand_like(Tensor.zeros(2), dtype=tg.float64).dtype == np.float64
    assert tg.randint_like(Tensor(np.zeros(2, np.int32)), 10).dtype == np.int32
    _both_raise(lambda: tg.randn_like(Tensor([1, 2])), lambda: torch.randn_like(torch.tensor([1, 2])), TypeError)
    _both_raise(lambda: tg.rand(2, dtype=tg.int64), lambda: torch.rand(2, dtype=torch.int64), TypeError)
    half = tg.rand(100_000, dtype=tg.float16).data
    assert half.dtype == np.float16 and half.min() >= 0 and half.max() < 1 and abs(half.mean() - 0.5) < 0.01
    assert tg.randn(3, dtype=tg.float16).dtype == np.float16


def test_every_draw_repeats_under_manual_seed():
    draws = {
        "rand": lambda: tg.rand(5), "randn": lambda: tg.randn(5), "randint": lambda: tg.randint(100, (5,)),
        "randperm": lambda: tg.randperm(10), "bernoulli": lambda: tg.bernoulli(Tensor.full((5,), 0.5)),
        "multinomial": lambda: tg.multinomial(Tensor.ones(10), 4),
        "multinomial_replacement": lambda: tg.multinomial(Tensor.ones(10), 4, True),
        "rand_like": lambda: tg.rand_like(Tensor.zeros(5)), "randn_like": lambda: tg.randn_like(Tensor.zeros(5)),
        "randint_like": lambda: tg.randint_like(Tensor.zeros(5), 100),
        "bernoulli_": lambda: Tensor.ones(8).bernoulli_(),
    }
    for name, draw in draws.items():
        tg.manual_seed(7)
        first = [draw().tolist() for _ in range(3)]
        tg.manual_seed(7)
        assert [draw().tolist() for _ in range(3)] == first, name
        tg.manual_seed(8)
        assert [draw().tolist() for _ in range(3)] != first, name


# =================================================================================================== RNG state


def test_rng_state_round_trip(tmp_path):
    tg.manual_seed(11)
    tg.rand(3)
    state = tg.get_rng_state()
    assert isinstance(state, Tensor) and state.dtype == np.uint8 and state.ndim == 1
    expected = [tg.rand(4).tolist(), tg.randint(10, (3,)).tolist()]
    tg.manual_seed(99)  # a different generator altogether
    tg.set_rng_state(state)
    assert [tg.rand(4).tolist(), tg.randint(10, (3,)).tolist()] == expected
    nn.save({"rng": state}, tmp_path / "rng.npz")
    tg.set_rng_state(nn.load(tmp_path / "rng.npz")["rng"])  # an array back from load
    assert [tg.rand(4).tolist(), tg.randint(10, (3,)).tolist()] == expected


@pytest.mark.parametrize("bad, error", [(Tensor([1.0, 2.0]), TypeError), ([1, 2], TypeError),
                                        (Tensor(np.frombuffer(b"not json", np.uint8).copy()), ValueError),
                                        (Tensor(np.frombuffer(b'{"bit_generator": "MT19937"}', np.uint8).copy()),
                                         ValueError)], ids=["float", "list", "bytes", "other generator"])
def test_set_rng_state_refuses_other_things(bad, error):
    with pytest.raises(error, match="set_rng_state"):
        tg.set_rng_state(bad)


def _training_run(steps: range, model: nn.Module, opt, x: Tensor, y: Tensor) -> None:
    for _ in steps:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def _model_and_optimizer(seed: int):
    tg.manual_seed(seed)
    model = nn.MLP([4, 16, 16, 3], dropout=0.5)
    return model, nn.optim.Adam(model.parameters(), lr=1e-2)


def test_training_with_dropout_resumes_exactly(tmp_path):
    rs = np.random.default_rng(0)
    x, y = Tensor(rs.standard_normal((32, 4)).astype(np.float32)), Tensor(rs.integers(0, 3, 32))
    model, opt = _model_and_optimizer(0)
    _training_run(range(10), model, opt, x, y)
    uninterrupted = {k: np.array(v.data, copy=True) for k, v in model.state_dict().items()}

    model, opt = _model_and_optimizer(0)
    _training_run(range(5), model, opt, x, y)
    tg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": tg.get_rng_state()},
            tmp_path / "checkpoint.npz")
    del model, opt
    tg.manual_seed(123)  # another process: another generator state, other initial weights
    tg.rand(1000)
    model, opt = _model_and_optimizer(5)
    checkpoint = tg.load(tmp_path / "checkpoint.npz")
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    tg.set_rng_state(checkpoint["rng"])
    _training_run(range(5), model, opt, x, y)
    resumed = model.state_dict()
    assert resumed.keys() == uninterrupted.keys()
    for k, v in uninterrupted.items():
        np.testing.assert_array_equal(np.asarray(resumed[k]), v, err_msg=k)  # bit-identical
    # and the dropout draws mattered: without the state the run differs
    model, opt = _model_and_optimizer(0)
    _training_run(range(5), model, opt, x, y)
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    tg.manual_seed(1)
    _training_run(range(5), model, opt, x, y)
    assert any(not np.array_equal(np.asarray(v), uninterrupted[k]) for k, v in model.state_dict().items())


def test_old_names_still_work():
    assert tg.bool_ is np.bool_ and tg.manual_seed is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Tensor([1.0]).to(np.float64).dtype == np.float64
