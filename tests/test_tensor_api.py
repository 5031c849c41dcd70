"""The Tensor API: construction and dtype rules, factories, seeding, attributes and conversions, dtype keeping
(no float64 creep), comparisons, argmax/argmin, NumPy interoperation."""
from __future__ import annotations

import numpy as np
import pytest
from strategies import cotangents

import tinygrad_np
from tinygrad_np import Tensor, where

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


# --------------------------------------------------------------------------------------------------- construction


@pytest.mark.parametrize("data, dtype, shape", [
    ([1.0, 2.0], F32, (2,)), ([[1, 2.5], [3, 4]], F32, (2, 2)), (2.5, F32, ()),
    ([1, 2, 3], np.dtype(np.int64), (3,)), (7, np.dtype(np.int64), ()),
    ([True, False], np.dtype(bool), (2,)), (True, np.dtype(bool), ()),
    (np.zeros(3, np.float64), F64, (3,)), (np.zeros((2, 1), np.float16), np.dtype(np.float16), (2, 1)),
    (np.arange(3, dtype=np.int32), np.dtype(np.int32), (3,)), (np.float64(1.5), F64, ()),
])
def test_construction_dtype_rules(data, dtype, shape):
    t = Tensor(data)
    assert t.dtype == dtype and t.shape == shape and isinstance(t.data, np.ndarray)


def test_explicit_dtype():
    assert Tensor([1, 2], dtype=np.float32).dtype == F32
    assert Tensor([1.5], dtype=np.float64).dtype == F64
    assert Tensor(np.ones(2, np.float64), dtype=np.float32).dtype == F32


def test_numpy_array_is_used_without_a_copy():
    a = np.array([1.0, 2.0, 3.0])  # float64
    t = Tensor(a)
    assert t.dtype == F64 and np.shares_memory(t.data, a)
    a[0] = 10.0
    assert t.data[0] == 10.0
    assert np.shares_memory(t.numpy(), a)


def test_tensor_of_a_tensor():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = Tensor(x)
    assert np.shares_memory(x.data, y.data) and y.dtype == F32
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf  # a new leaf
    assert Tensor(x, dtype=np.float64).dtype == F64


# ------------------------------------------------------------------------------------------------------ factories


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_shape_factories(name):
    f = getattr(Tensor, name)
    for args in [(2, 3), ((2, 3),), ([2, 3],)]:
        t = f(*args)
        assert t.shape == (2, 3) and t.dtype == F32 and not t.requires_grad
    assert f().shape == ()
    assert f(4).shape == (4,)
    assert f(2, dtype=np.float64).dtype == F64
    assert f(2, requires_grad=True).requires_grad


def test_factory_values():
    np.testing.assert_array_equal(Tensor.zeros(2, 3).data, np.zeros((2, 3)))
    np.testing.assert_array_equal(Tensor.zeros(2, 3).data, Tensor.zeros((2, 3)).data)
    np.testing.assert_array_equal(Tensor.ones(2).data, [1, 1])
    r = Tensor.rand(1000)
    assert r.data.min() >= 0 and r.data.max() < 1
    u = Tensor.uniform(1000, low=-3.0, high=-2.0)
    assert u.dtype == F32 and u.data.min() >= -3 and u.data.max() < -2
    n = Tensor.randn(10_000, dtype=np.float64)
    assert abs(n.data.mean()) < 0.05 and abs(n.data.std() - 1) < 0.05


def test_full_and_like_factories():
    assert Tensor.full((2, 3), 1.5).dtype == F32 and Tensor.full(3, 7).dtype == np.int64
    np.testing.assert_array_equal(Tensor.full((2,), 7).data, [7, 7])
    assert Tensor.full(2, 1.0, dtype=np.float64).dtype == F64
    base = Tensor(np.zeros((2, 3), np.float64))
    for f in (Tensor.zeros_like, Tensor.ones_like):
        t = f(base)
        assert t.shape == (2, 3) and t.dtype == F64
        assert f(base, dtype=np.float32).dtype == F32
    t = Tensor.full_like(base, 2.5)
    assert t.dtype == F64 and (t.data == 2.5).all()
    assert Tensor.zeros_like(base, requires_grad=True).requires_grad


def test_arange_and_eye():
    a = Tensor.arange(5)
    assert a.dtype == np.int64 and a.tolist() == [0, 1, 2, 3, 4]
    assert Tensor.arange(1, 7, 2).tolist() == [1, 3, 5]
    f = Tensor.arange(0, 1, 0.25)
    assert f.dtype == F32 and f.tolist() == [0, 0.25, 0.5, 0.75]
    assert Tensor.arange(3.0).dtype == F32
    e = Tensor.eye(3)
    assert e.dtype == F32 and (e.data == np.eye(3)).all()
    assert Tensor.eye(2, 3).shape == (2, 3)


def test_manual_seed_reproducibility():
    Tensor.manual_seed(123)
    a = (Tensor.randn(5).data, Tensor.rand(3).data, Tensor.uniform(2, low=-1.0, high=1.0).data)
    tinygrad_np.manual_seed(123)  # the module-level function is the same generator
    b = (Tensor.randn(5).data, Tensor.rand(3).data, Tensor.uniform(2, low=-1.0, high=1.0).data)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    Tensor.manual_seed(124)
    assert not np.array_equal(Tensor.randn(5).data, a[0])


# ----------------------------------------------------------------------------------------- attributes, conversions


def test_repr_is_readable():
    assert repr(Tensor([1.0, 2.5])) == "Tensor([1. , 2.5])"
    assert repr(Tensor([1, 2])) == "Tensor([1, 2], dtype=int64)"
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "Tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2.0) == "Tensor([2., 4.], grad_fn=<Mul>)"
    assert repr(Tensor(np.eye(2))) == "Tensor([[1., 0.],\n        [0., 1.]], dtype=float64)"  # rows aligned
    assert str(Tensor(3.0)) == "Tensor(3.)"


def test_attributes_and_conversions():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.numel() == 6 and len(x) == 2
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3
    assert x.T.shape == (3, 2) and (x.T.data == x.data.T).all()
    assert Tensor(np.zeros((2, 3, 4))).T.shape == (4, 3, 2)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert x.numpy() is x.data
    s = x.sum()
    assert s.item() == 15.0 and isinstance(s.item(), float)
    assert float(s) == 15.0 and int(Tensor(4)) == 4 and bool(Tensor([1.0])) and not bool(Tensor(0.0))
    assert Tensor([[2.5]]).item() == 2.5
    with pytest.raises(TypeError):
        len(Tensor(1.0))
    with pytest.raises(ValueError):
        x.item()
    with pytest.raises(ValueError):
        bool(x)


def test_to_and_dtype_conversions():
    x = Tensor([1.5, -2.5])
    assert x.to(np.float32) is x
    assert x.double().dtype == F64 and x.double().float().dtype == F32
    i = x.to(np.int64)
    assert i.dtype == np.int64 and i.tolist() == [1, -2]
    assert Tensor([1, 2]).float().dtype == F32
    assert np.asarray(x).dtype == F32 and np.asarray(x, dtype=np.float64).dtype == F64


# ------------------------------------------------------------------------------------------- no float64 creep


def test_scalar_ops_keep_float32():
    x = Tensor(np.array([[0.5, 1.5], [2.0, 0.25]], np.float32), requires_grad=True)
    results = {
        "chain": (x * 2.0 + 1).exp(), "div": x / 3, "rdiv": 3 / x, "rsub": 1 - x, "rpow": 2**x, "pow": x**2,
        "pow_float": x**0.5, "neg": -x, "mean": x.mean(), "var": x.var(), "std": x.std(0),
        "softmax": x.softmax(), "log_softmax": x.log_softmax(0), "logsumexp": x.logsumexp(), "sigmoid": x.sigmoid(),
        "tanh": x.tanh(), "gelu": x.gelu(), "gelu_tanh": x.gelu("tanh"), "softplus": x.softplus(),
        "clip": x.clip(0.3, 1.0), "rsqrt": x.rsqrt(), "reciprocal": x.reciprocal(), "leakyrelu": x.leakyrelu(),
        "maximum": x.maximum(1.0), "minimum": x.minimum(1), "where": where(x > 1, x, 0.0), "sqrt": x.sqrt(),
        "log": x.log(), "abs": x.abs(), "relu": x.relu(), "square": x.square(), "sin": x.sin(), "max": x.max(0).values,
        "amax": x.amax(0), "matmul": x @ x, "pad": x.pad((1, 1), value=0.5), "np_scalar": np.float64(2.0) * x,
    }
    for name, out in results.items():
        assert out.dtype == F32, name
    total = sum(((r * r).sum() if r.ndim else r) for r in results.values())
    total.backward()
    assert x.grad.dtype == F32


def test_float64_stays_float64():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    out = (x * 2.0 + 1).exp().mean()
    assert out.dtype == F64
    out.backward()
    assert x.grad.dtype == F64


def test_gradients_keep_the_tensor_dtype_in_a_mixed_graph():
    a = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0], np.float64), requires_grad=True)
    out = a * b  # NumPy promotes to float64
    assert out.dtype == F64
    v = cotangents((2,), seed=1)
    out.backward(v)
    assert a.grad.dtype == F32 and b.grad.dtype == F64
    np.testing.assert_allclose(a.grad.data, v * b.data, rtol=1e-6)
    np.testing.assert_allclose(b.grad.data, v * a.data, rtol=1e-12)


def test_integer_tensors_keep_integer_dtype_with_int_scalars():
    i = Tensor([1, 2, 3])
    assert (i + 1).dtype == np.int64 and (i * 2).dtype == np.int64 and (2 - i).dtype == np.int64


# ------------------------------------------------------------------------------------------ comparisons, argmax


def test_mixed_integer_and_float_operands_promote_as_pytorch():
    ints = Tensor([1, 2])
    assert (ints / 2).dtype == np.float32 and np.array_equal((ints / 2).numpy(), [0.5, 1.0])  # true division
    assert (2 / ints).dtype == np.float32
    assert (ints * 0.5).dtype == np.float32 and (0.5 * ints).dtype == np.float32
    assert (ints + Tensor([0.5, 0.5])).dtype == np.float32  # NumPy alone would give float64
    assert (ints + Tensor(np.array([0.5, 0.5]))).dtype == np.float64  # a float64 operand keeps float64
    assert (Tensor([True, False]) + 1).dtype == np.int64 and (Tensor([True, False]) + 1).tolist() == [2, 1]
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * ints).backward(np.array([1.0, -1.0], np.float32))
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [1.0, -2.0]


def test_comparisons_give_bool_tensors_without_grad():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    y = Tensor(np.array([2.0, 2.0]))
    cases = {
        "eq": (x == y, [[False, True], [False, False]]), "ne": (x != 2.0, [[True, False], [True, True]]),
        "lt": (x < y, [[True, False], [False, False]]), "le": (x <= 2, [[True, True], [False, False]]),
        "gt": (x > 2.5, [[False, False], [True, True]]), "ge": (x >= y, [[False, True], [True, True]]),
        "reflected": (2.0 < x, [[False, False], [True, True]]),
    }
    for name, (out, expected) in cases.items():
        assert out.dtype == bool and not out.requires_grad and out.grad_fn is None, name
        np.testing.assert_array_equal(out.data, expected, err_msg=name)
    assert len({x, y, x}) == 2  # == is elementwise, hashing is by identity


def test_argmax_argmin():
    x = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]), requires_grad=True)
    assert x.argmax().item() == 3 and x.argmin().item() == 4  # of the flattened tensor
    np.testing.assert_array_equal(x.argmax(1).data, [1, 0])
    np.testing.assert_array_equal(x.argmin(dim=0).data, [0, 1, 0])
    np.testing.assert_array_equal(x.argmax(-1, keepdim=True).data, [[1], [0]])
    out = x.argmax(0)
    assert out.dtype == np.int64 and not out.requires_grad


# ------------------------------------------------------------------------------------------ NumPy interoperation


def test_ndarray_on_the_left_gives_a_tensor():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = np.array([3.0, 4.0])
    for out in (a + x, a - x, a * x, a / x, a**x, np.array([[1.0, 0.0], [0.0, 2.0]]) @ x):
        assert isinstance(out, Tensor) and out.requires_grad
    v = cotangents((2,), seed=2)
    (a * x).backward(v)
    np.testing.assert_allclose(x.grad.data, v * a)
    assert isinstance(a > x, Tensor)


def test_aliases_match_pytorch_names():
    x = Tensor(np.array([-1.0, 0.5, 2.0]))
    np.testing.assert_array_equal(x.clamp(-0.5, 1.0).data, x.clip(-0.5, 1.0).data)
    np.testing.assert_array_equal(x.leaky_relu(0.1).data, x.leakyrelu(0.1).data)
    np.testing.assert_array_equal(x.dot(x).data, (x @ x).data)
    np.testing.assert_array_equal(x.view(3, 1).data, x.reshape(3, 1).data)
    np.testing.assert_array_equal(x.sum(dim=0).data, x.sum(axis=0).data)


def test_a_tensor_that_requires_grad_cannot_become_complex():
    # Complex autograd is not supported: a real tensor in the graph that would turn complex (by promotion or by
    # .to) raises instead of silently giving PyTorch-different gradients ([0, 0] for |x·i| where PyTorch gives x).
    import pytest

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    for make in (lambda: x * Tensor(np.array([1j, 2j])), lambda: x.to(np.complex128), lambda: x + 1j):
        with pytest.raises(TypeError, match="complex autograd"):
            make()
    assert (x.detach() * Tensor(np.array([1j, 2j]))).dtype == np.complex128  # without a graph: fine
