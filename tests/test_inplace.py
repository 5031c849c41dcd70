"""In-place ops against PyTorch: values, dtypes, versions, and gradients when the tensor is in the graph.

Every op is run on our Tensor and on torch's from the same float64 arrays. Tracked in-place ops are checked through
a full backward with a non-uniform upstream gradient: the gradient of the kept part of the old value, of the other
operand, and of any tensor computed from the old value before the change (the "stale reference").
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import arrays, basic_indices, cotangents, shapes

import nn
from tinygrad_np import Tensor, gradcheck, no_grad
from tinygrad_np.autograd import grad

torch = pytest.importorskip("torch")

FEW = settings(max_examples=25, deadline=None)


def ours(a, requires_grad=False):
    return Tensor(np.array(a), requires_grad=requires_grad)


def theirs(a, requires_grad=False):
    return torch.tensor(np.array(a), requires_grad=requires_grad)


def same(got, want, what="value"):
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    got = got.data if isinstance(got, Tensor) else np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, torch {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, torch {want.dtype}"
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=what)


# ---------------------------------------------------------------------------------------------------------------
# the ops: each `op(t, other)` works on our tensors and torch's alike

UNARY = {
    "relu_": lambda t: t.relu_(), "neg_": lambda t: t.neg_(), "exp_": lambda t: t.exp_(),
    "log_": lambda t: t.log_(), "sqrt_": lambda t: t.sqrt_(), "abs_": lambda t: t.abs_(),
    "sin_": lambda t: t.sin_(), "cos_": lambda t: t.cos_(), "tanh_": lambda t: t.tanh_(),
    "sigmoid_": lambda t: t.sigmoid_(), "zero_": lambda t: t.zero_(), "fill_": lambda t: t.fill_(0.25),
    "clamp_": lambda t: t.clamp_(-0.5, 0.75), "clamp_min": lambda t: t.clamp_(min=0.3),
    "clip_max": lambda t: t.clip_(max=0.3),
}
POSITIVE = {"log_", "sqrt_"}  # defined on positive values only


def _iadd(t, o):
    t += o
    return t


def _isub(t, o):
    t -= o
    return t


def _imul(t, o):
    t *= o
    return t


def _idiv(t, o):
    t /= o
    return t


def _ipow(t, o):
    t **= o
    return t


BINARY = {
    "add_": lambda t, o: t.add_(o), "add_alpha": lambda t, o: t.add_(o, alpha=-2.5),
    "sub_": lambda t, o: t.sub_(o), "sub_alpha": lambda t, o: t.sub_(o, alpha=0.5),
    "mul_": lambda t, o: t.mul_(o), "div_": lambda t, o: t.div_(o), "pow_": lambda t, o: t.pow_(o),
    "copy_": lambda t, o: t.copy_(o), "+=": _iadd, "-=": _isub, "*=": _imul, "/=": _idiv, "**=": _ipow,
}
NEEDS_POSITIVE_SELF = {"pow_", "**="}
NEEDS_NONZERO_OTHER = {"div_", "/="}


def _values(name, arr):
    if name in POSITIVE or name in NEEDS_POSITIVE_SELF:
        return np.abs(arr) + 0.5
    return arr


# ---------------------------------------------------------------------------------------------------------------
# untracked: values, dtype and _version as torch's


@pytest.mark.parametrize("name", sorted(UNARY))
def test_untracked_unary_matches_torch(name):
    a = _values(name, np.linspace(-1.5, 1.5, 12).reshape(3, 4))
    t, w = ours(a), theirs(a)
    assert UNARY[name](t) is t
    UNARY[name](w)
    same(t, w)
    assert t._version == w._version == 1


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("other_kind", ["tensor", "broadcast", "number"])
def test_untracked_binary_matches_torch(name, other_kind):
    rng = np.random.default_rng(1)
    a = _values(name, rng.uniform(-2, 2, (3, 4)))
    b = {"tensor": rng.uniform(0.5, 2, (3, 4)), "broadcast": rng.uniform(0.5, 2, (4,)), "number": 1.75}[other_kind]
    t, w = ours(a), theirs(a)
    alias_t, alias_w = t, w  # `a = t; a += 1` changes t
    r1 = BINARY[name](t, ours(b) if other_kind != "number" else b)
    r2 = BINARY[name](w, theirs(b) if other_kind != "number" else b)
    assert r1 is alias_t and r2 is alias_w
    same(alias_t, alias_w)
    assert t._version == w._version == 1


def test_matmul_assignment_rebinds_as_in_pytorch():
    """PyTorch has no in-place matmul: `a @= b` is `a = a @ b` (a new tensor, possibly of another shape)."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    t, w = ours(a), theirs(a)
    t0, w0 = t, w
    t @= ours(b)
    w @= theirs(b)
    same(t, w)
    same(t0, w0)  # the original is untouched
    assert t0._version == w0._version == 0
    x, xt = ours(a, True), theirs(a, True)  # a leaf that requires grad: allowed, nothing is changed in place
    y, yt = x, xt
    y @= ours(b)
    yt @= theirs(b)
    y.sum().backward()
    yt.sum().backward()
    same(x.grad, xt.grad)


# ---------------------------------------------------------------------------------------------------------------
# dtype and shape rules


@pytest.mark.parametrize("op", [
    lambda t: t.__iadd__(1.5), lambda t: t.mul_(0.5), lambda t: t.__itruediv__(2), lambda t: t.sqrt_(),
    lambda t: t.exp_(), lambda t: t.sigmoid_(), lambda t: t.clamp_(0.5), lambda t: t.add_(1, alpha=0.5),
])
def test_int_tensor_cannot_take_a_float_result(op):
    with pytest.raises(RuntimeError):
        op(torch.tensor([1, 2, 3]))
    t = Tensor(np.array([1, 2, 3]))
    with pytest.raises(RuntimeError, match="int64"):
        op(t)
    np.testing.assert_array_equal(t.data, [1, 2, 3])  # nothing written
    assert t._version == 0


def test_bool_tensor_rules_match_torch():
    for op in (lambda t: t.neg_(), lambda t: t.__isub__(True), lambda t: t.__iadd__(1)):
        with pytest.raises(RuntimeError):
            op(torch.tensor([True, False]))
        with pytest.raises(RuntimeError):
            op(Tensor(np.array([True, False])))
    t, w = Tensor(np.array([True, False])), torch.tensor([True, False])
    t += Tensor(np.array([True, True]))
    w += torch.tensor([True, True])
    np.testing.assert_array_equal(t.data, w.numpy())


def test_lower_precision_self_keeps_its_dtype():
    """float32 += float64 stays float32 (untracked and tracked); the float64 operand's gradient stays float64."""
    t, w = Tensor(np.ones(3, np.float32)), torch.ones(3)
    t += Tensor(np.full(3, 0.1))
    w += torch.full((3,), 0.1, dtype=torch.float64)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, w.numpy())
    x, xt = Tensor(np.ones(3, np.float32), requires_grad=True), torch.ones(3, requires_grad=True)
    v, vt = ours([1.0, 2.0, 3.0], True), theirs([1.0, 2.0, 3.0], True)
    a, at = x * 2, xt * 2
    a += v * v
    at += vt * vt
    assert a.dtype == np.float32
    (a * Tensor(np.array([1.0, -2.0, 0.5], np.float32))).sum().backward()
    (at * torch.tensor([1.0, -2.0, 0.5])).sum().backward()
    assert x.grad.dtype == np.float32 and v.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.data, xt.grad.numpy())
    np.testing.assert_array_equal(v.grad.data, vt.grad.numpy())


@pytest.mark.parametrize("op", [
    lambda t, make: t.fill_(1.7), lambda t, make: t.copy_(make([1.7, -2.2, 3.9])),
    lambda t, make: t.__setitem__(1, 2.9), lambda t, make: t.__setitem__(slice(0, 2), make([-0.5, 8.8])),
])
def test_int_targets_truncate_float_values_as_in_torch(op):
    t, w = Tensor(np.array([5, 6, 7])), torch.tensor([5, 6, 7])
    op(t, ours)
    op(w, theirs)
    np.testing.assert_array_equal(t.data, w.numpy())
    assert t.dtype == np.int64 and t._version == w._version == 1


def test_in_place_cannot_broadcast_self_up():
    for tracked in (False, True):
        x = ours(np.ones(3), tracked)
        t = x * 1 if tracked else x
        with pytest.raises(RuntimeError, match=r"shape \(3,\)"):
            t += ours(np.ones((2, 3)))
        with pytest.raises(RuntimeError):
            t.copy_(ours(np.ones((2, 3))))
        with pytest.raises(RuntimeError):
            t.mul_(ours(np.ones(4)))
    with pytest.raises(RuntimeError):
        theirs(np.ones(3)).add_(theirs(np.ones((2, 3))))


def test_fill_takes_a_number_or_a_0d_tensor_only():
    with pytest.raises(RuntimeError, match="0-dim"):
        torch.ones(2, 3).fill_(torch.ones(3))
    with pytest.raises(RuntimeError, match="0-dimension"):
        Tensor.ones(2, 3).fill_(Tensor.ones(3))
    t = Tensor.ones(2, 3)
    t.fill_(ours(2.5))
    np.testing.assert_array_equal(t.data, np.full((2, 3), 2.5, np.float32))


# ---------------------------------------------------------------------------------------------------------------
# tracked: gradients through in-place ops, against torch


def _tracked_run(lib, name, a, b, g, stale_g):
    make = ours if lib == "ours" else theirs
    x = make(a, True)
    o = make(b, True) if b is not None else None
    t = x * 1.5
    stale = t * 2.0  # uses the old value: keeps its gradient (Mul by a constant reads nothing of t)
    if o is None:
        UNARY[name](t)
    else:
        BINARY[name](t, o)
    loss = (t * make(g)).sum() + (stale * make(stale_g)).sum()
    loss.backward()
    return t, x.grad, (o.grad if o is not None else None)


@FEW
@given(st.data())
def test_tracked_unary_gradients_match_torch(data):
    name = data.draw(st.sampled_from(sorted(UNARY)))
    shape = data.draw(shapes(max_dims=3))
    a = _values(name, data.draw(arrays(shape, lo=-1.5, hi=1.5, kinks=(-1 / 3, 1 / 2, 0.2, 0))))
    g, stale_g = cotangents(shape, 1), cotangents(shape, 2)
    t1, gx1, _ = _tracked_run("ours", name, a, None, g, stale_g)
    t2, gx2, _ = _tracked_run("torch", name, a, None, g, stale_g)
    same(t1, t2, f"{name} value")
    same(gx1, gx2, f"{name} x.grad")
    assert t1.requires_grad and t1.grad_fn is not None


@FEW
@given(st.data())
def test_tracked_binary_gradients_match_torch(data):
    name = data.draw(st.sampled_from(sorted(BINARY)))
    shape = data.draw(shapes(max_dims=3))
    drop = data.draw(st.integers(0, len(shape)))
    other_shape = tuple(1 if data.draw(st.booleans()) else n for n in shape[drop:])  # broadcasts to shape
    a = _values(name, data.draw(arrays(shape)))
    b = data.draw(arrays(other_shape, lo=0.5, hi=2.0)) if name in NEEDS_NONZERO_OTHER | NEEDS_POSITIVE_SELF \
        else data.draw(arrays(other_shape))
    g, stale_g = cotangents(shape, 1), cotangents(shape, 2)
    t1, gx1, go1 = _tracked_run("ours", name, a, b, g, stale_g)
    t2, gx2, go2 = _tracked_run("torch", name, a, b, g, stale_g)
    same(t1, t2, f"{name} value")
    same(gx1, gx2, f"{name} x.grad")
    same(go1, go2, f"{name} other.grad")


def test_the_stale_reference_case():
    """The brief's case: y was computed from a before a.mul_(3); both contribute with their own values."""
    results = []
    for make in (ours, theirs):
        x = make([1.0, -2.0, 3.0], True)
        a = x * 1
        y = a + 1
        a.mul_(3)
        (y.sum() + a.sum()).backward()
        results.append((x.grad, y, a))
    for got, want in zip(results[0], results[1]):
        same(got, want)
    same(results[0][0], np.array([4.0, 4.0, 4.0]))


def test_chains_of_in_place_changes_match_torch():
    """Several changes in a row, an operand that requires grad each time, stale uses between them."""
    def run(make):
        x, w = make([0.5, -1.0, 2.0], True), make([1.5, 2.0, -0.5], True)
        a = x * 1
        s1 = a + 0  # Add reads nothing: no error, old gradient
        a.mul_(w)
        s2 = a - 1
        a.add_(w, alpha=3)
        a.mul_(w)
        a.sin_()
        a[1] = (w * w).sum()
        loss = (a * make([1.0, -1.0, 2.0])).sum() + (s1 * s1.detach()).sum() + (s2 * 3).sum()
        loss.backward()
        return a, x.grad, w.grad

    for got, want in zip(run(ours), run(theirs)):
        same(got, want)


@pytest.mark.parametrize("op, derivative", [
    (lambda a: a.add_(a), lambda v: 2 + 0 * v), (lambda a: a.sub_(a), lambda v: 0 * v),
    (lambda a: a.mul_(a), lambda v: 2 * v), (lambda a: a.div_(a), lambda v: 0 * v),
    (lambda a: a.pow_(a), lambda v: v ** v * (np.log(v) + 1)), (lambda a: a.copy_(a), lambda v: 1 + 0 * v),
])
def test_an_operand_that_is_the_tensor_itself(op, derivative):
    """The operand is the value before the change. torch agrees where it answers (add_, sub_, copy_); for mul_,
    div_ and pow_ it raises at backward (it saved the tensor it then changed); the gradient here is the true one."""
    v = np.array([0.5, 2.0])
    x, xt = ours(v, True), theirs(v, True)
    a, at = x * 1, xt * 1
    op(a)
    op(at)
    same(a, at)
    a.sum().backward()
    same(x.grad, derivative(v))
    try:
        at.sum().backward()
    except RuntimeError as e:
        assert "modified by an inplace operation" in str(e)
    else:
        same(x.grad, xt.grad)


def test_create_graph_through_in_place_ops_matches_torch():
    def run(make, gradfn):
        x = make([0.3, -0.7, 1.1], True)
        a = x * 1
        a.mul_(x)
        a.sin_()
        a += x * x * x
        (g,) = gradfn(a.sum(), x, create_graph=True)
        (h,) = gradfn((g * g).sum(), x)
        return g, h

    for got, want in zip(run(ours, grad), run(theirs, torch.autograd.grad)):
        same(got, want)


def test_leaf_that_requires_grad_refuses_outside_no_grad():
    x, xt = ours([1.0, 2.0], True), theirs([1.0, 2.0], True)
    for op in (lambda t: t.add_(1), lambda t: t.__imul__(2), lambda t: t.zero_(), lambda t: t.__setitem__(0, 5.0),
               lambda t: t.relu_(), lambda t: t.copy_(t.detach() * 2)):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            op(xt)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            op(x)
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    assert x._version == 0
    with no_grad():
        x.mul_(3)
        x[1] = 7.0
    np.testing.assert_array_equal(x.data, [3.0, 7.0])
    assert x.requires_grad and x.is_leaf and x._version == 2


def test_manual_update_loop_trains_the_model_like_torch():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    ours_model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    theirs_model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    for p, q in zip(ours_model.parameters(), theirs_model.parameters()):
        p.data = q.detach().numpy().copy()
    before = [p.data.copy() for p in ours_model.parameters()]
    versions = [(p._version, q._version) for p, q in zip(ours_model.parameters(), theirs_model.parameters())]
    lr = 0.1
    for _ in range(5):
        for model, make in ((ours_model, ours), (theirs_model, theirs)):
            loss = ((model(make(X)) - make(Y)) ** 2).mean()
            loss.backward()
            with (no_grad() if make is ours else torch.no_grad()):
                for p in model.parameters():
                    p -= lr * p.grad
                    p.grad = None
    for p, q, b, (vp, vq) in zip(ours_model.parameters(), theirs_model.parameters(), before, versions):
        assert not np.array_equal(p.data, b)
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-12)
        assert p._version - vp == q._version - vq == 5


# ---------------------------------------------------------------------------------------------------------------
# x[index] = value


def _torch_index(index):
    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return torch.tensor(index)
    return index


X0 = np.arange(20, dtype=np.float64).reshape(4, 5) / 7 - 1
INDICES = {
    "int": 1, "negative int": -1, "slice": slice(1, 3), "step": (slice(None), slice(0, 5, 2)),
    "None and ...": (None, Ellipsis, 2), "row and column": (1, slice(None)), "...": Ellipsis,
    "mask": X0 > 0.2, "row mask": np.array([True, False, True, True]), "int array": np.array([0, 2, 3]),
    "int arrays": (np.array([0, 1, 3]), np.array([4, 0, 2])), "list": [3, 0], "mixed": (slice(1, 4), [0, 4]),
}


@pytest.mark.parametrize("index_name", sorted(INDICES))
@pytest.mark.parametrize("value_kind", ["tensor", "broadcast", "number"])
def test_setitem_values_and_gradients_match_torch(index_name, value_kind):
    index = INDICES[index_name]
    shape = X0[index].shape
    rng = np.random.default_rng(4)
    value = {"tensor": rng.standard_normal(shape), "broadcast": rng.standard_normal(shape[-1:]),
             "number": 2.5}[value_kind]
    g, stale_g = cotangents(X0.shape, 5), cotangents(X0.shape, 6)
    results = []
    for make, idx in ((ours, index), (theirs, _torch_index(index))):
        x = make(X0, True)
        v = make(value, True) if value_kind != "number" else value
        a = x * 1
        stale = a * 3
        a[idx] = v
        ((a * make(g)).sum() + (stale * make(stale_g)).sum()).backward()
        results.append((a, x.grad, v.grad if value_kind != "number" else x.grad))
        # untracked: the same values, one version
        u = make(X0)
        u[idx] = make(value) if value_kind != "number" else value
        results.append((u, u, u))
        assert u._version == 1
    for got, want in zip(results[0] + results[1], results[2] + results[3]):
        same(got, want, f"{index_name}, {value_kind}")


@pytest.mark.parametrize("op", [lambda a: a.__setitem__(0, 0.0), lambda a: a.zero_(), lambda a: a.fill_(0.0),
                                lambda a: a.copy_(a.detach() * 0)])
def test_an_overwritten_part_gets_zero_gradient_even_when_the_upstream_one_is_infinite(op):
    """sqrt'(0) = inf flows back to the overwritten elements: PyTorch gives them 0 (not 0 · inf = nan)."""
    results = []
    for make in (ours, theirs):
        x = make([1.0, 4.0], True)
        a = x * 1
        op(a)
        with np.errstate(divide="ignore"):
            a.sqrt().sum().backward()
        results.append(x.grad)
    same(*results)


@FEW
@given(st.data())
def test_setitem_with_basic_indices_negative_steps_included(data):
    """Any basic index (negative steps too, which torch lacks): values as NumPy's, gradients by finite differences."""
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    index = data.draw(basic_indices(shape))
    a = data.draw(arrays(shape))
    target = np.array(a)[index].shape
    v = data.draw(arrays(target))

    def put(x, value):
        t = x * 1
        t[index] = value
        return t

    expected = np.array(a)
    expected[index] = v
    same(put(ours(a), ours(v)), expected)
    gradcheck(put, ours(a, True), ours(v, True))


def test_setitem_on_a_tensor_outside_the_graph_with_a_value_in_it():
    """A plain tensor (a buffer) that receives a value requiring grad joins the graph, as in PyTorch."""
    results = []
    for make in (ours, theirs):
        buf, w = make(np.zeros(4)), make([1.0, 2.0], True)
        buf[1:3] = w * w
        assert buf.requires_grad and not buf.is_leaf
        (buf * make([1.0, 2.0, 3.0, 4.0])).sum().backward()
        results.append(w.grad)
    same(*results)


# ---------------------------------------------------------------------------------------------------------------
# views


def test_tracked_in_place_on_a_view_raises_clearly():
    x = ours(np.ones((2, 3)), True)
    a = x * 1
    v = a[0]
    for t in (v, a):
        with pytest.raises(RuntimeError, match=r"view.*out-of-place form.*clone\(\)"):
            t.mul_(2)
    with pytest.raises(RuntimeError, match="view"):
        a[1] = 5.0
    r = a.reshape(3, 2)  # also a view
    del v
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\) shares its memory with another live tensor, of shape"):
        a.add_(1)
    del r
    a.add_(1)  # no live view any more: fine
    a.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3)))


def test_detach_is_not_a_view_but_shares_the_version():
    for make in (ours, theirs):
        x, w = make([1.0, 2.0], True), make([3.0, 4.0], True)
        a = x * 1
        d = a.detach()
        a.mul_(w)  # allowed: d has no graph to keep consistent
        assert a._version == d._version == 1
        same(d, make([3.0, 8.0]).detach() if make is theirs else np.array([3.0, 8.0]))
        d.add_(1)
        assert a._version == 2


def test_untracked_in_place_through_views_bumps_the_base_version_like_torch():
    versions = []
    for make in (ours, theirs):
        t = make(np.zeros((3, 4)))
        v = t[1:, ::2]
        v += 1
        tt = t.T
        tt.mul_(2)
        r = t.reshape(12)
        r[0] = 5.0
        e = t[0]
        e.fill_(-1)
        versions.append((t._version, v._version, tt._version, r._version, e._version, t.data.copy()
                         if make is ours else t.numpy().copy()))
    for got, want in zip(*versions):
        np.testing.assert_array_equal(got, want)


def test_untracked_in_place_on_a_view_of_a_graph_tensor_is_caught_at_backward():
    for make in (ours, theirs):
        x = make([1.0, 2.0, 3.0], True)
        a = x * 1
        y = a.exp()
        with (no_grad() if make is ours else torch.no_grad()):
            y[1:].mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_clone_has_its_own_memory_and_passes_the_gradient():
    for make in (ours, theirs):
        x = make([1.0, 2.0], True)
        c = x.clone()
        c.mul_(3)
        (c * c).sum().backward()
        np.testing.assert_array_equal(x.data if make is ours else x.detach().numpy(), [1.0, 2.0])
        same(x.grad, np.array([18.0, 36.0]))


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_"])
def test_untracked_in_place_ops_compute_in_the_dtype_pytorch_uses(op):
    # float32 with a 0-d float64 operand is computed in float32 (PyTorch's result type), as the out-of-place op
    # is; NumPy's own rule computed it in float64 and rounded, which differed from torch in thousands of elements.
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    x = Tensor(a.copy())
    getattr(x, op)(Tensor(np.array(0.1)))
    tx = torch.from_numpy(a.copy())
    getattr(tx, op)(torch.tensor(0.1, dtype=torch.float64))
    np.testing.assert_array_equal(x.data, tx.numpy())
    assert x.dtype == np.float32
