"""The autograd graph: shared nodes, diamonds, very deep chains, repeated backward, grad modes, detach/retain_grad,
and memory (the graph has no reference cycles, so it is freed by reference counting alone, even with gc off)."""
from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest
from strategies import cotangents

from tinygrad_np import Function, Tensor, enable_grad, is_grad_enabled, no_grad


def leaf(a) -> Tensor:
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def rand(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------------------------------------ graph shapes


def test_node_used_twice_in_one_op():
    """x * x: both inputs of Mul are x, so its gradient gets both contributions: 2x."""
    x = leaf(rand(3, 4))
    v = cotangents((3, 4), seed=1)
    (x * x).backward(v)
    np.testing.assert_allclose(x.grad.data, 2 * x.data * v, rtol=1e-14)


def test_node_used_twice_add():
    a = leaf(rand(2, 3))
    v = cotangents((2, 3), seed=2)
    (a + a).backward(v)
    np.testing.assert_allclose(a.grad.data, 2 * v, rtol=1e-14)
    assert not np.shares_memory(a.grad.data, v)  # the gradient is the engine's own array, not the caller's


def test_intermediate_used_by_several_consumers():
    """y feeds three ops; its gradient is the sum of all three before it flows on to x."""
    x = leaf(rand(4, seed=3))
    y = x.exp()
    z = y * 2.0 + y.sin() - y * y
    v = cotangents((4,), seed=4)
    z.backward(v)
    e = np.exp(x.data)
    np.testing.assert_allclose(x.grad.data, v * (2 + np.cos(e) - 2 * e) * e, rtol=1e-13)


def test_diamond():
    """a → b = exp(a), c = sin(a) → d = b·c: dd/da = eᵃ sin a + eᵃ cos a."""
    a = leaf(rand(3, seed=5))
    b, c = a.exp(), a.sin()
    d = b * c
    v = cotangents((3,), seed=6)
    d.backward(v)
    x = a.data
    np.testing.assert_allclose(a.grad.data, v * np.exp(x) * (np.sin(x) + np.cos(x)), rtol=1e-14)


def test_diamond_with_broadcasting_branches():
    a = leaf(rand(3, 1, seed=7))
    d = (a * Tensor(rand(1, 4, seed=8))).sum(1) + a.squeeze(1) ** 2
    v = cotangents((3,), seed=9)
    d.backward(v)
    expected = v[:, None] * rand(1, 4, seed=8).sum(1, keepdims=True) + 2 * a.data * v[:, None]
    np.testing.assert_allclose(a.grad.data, expected, rtol=1e-13)


def test_part_of_the_graph_needs_no_grad():
    x, c = leaf(rand(3, seed=10)), Tensor(rand(3, seed=11))
    y = x * c + c.exp()
    assert y.requires_grad and not c.exp().requires_grad
    v = cotangents((3,), seed=31)
    y.backward(v)
    np.testing.assert_allclose(x.grad.data, v * c.data)
    assert c.grad is None


DEPTH = 100_000


def test_very_deep_chain_backward():
    """100,000 nodes in a row: an iterative backward, no RecursionError, and the exact product of the factors."""
    x = leaf(np.array([1.0, 2.0]))
    y = x
    for i in range(DEPTH):
        y = y * 1.00001 if i % 2 else y + 0.5
    v = np.array([0.3, -0.7])
    y.backward(v)
    np.testing.assert_allclose(x.grad.data, v * 1.00001 ** (DEPTH // 2), rtol=1e-9)


def test_very_deep_chain_built_and_dropped_without_backward():
    """Dropping the last reference frees 100,000 nested nodes by reference counting without overflowing the C
    stack; the leaf outlives it and is untouched."""
    x = leaf(np.ones(2))
    y = x
    for _ in range(DEPTH):
        y = y * 1.0
    end, inner = weakref.ref(y), weakref.ref(y.grad_fn.parents[0])
    del y
    assert end() is None and inner() is None
    assert x.grad is None and x.requires_grad


def test_deep_chain_retain_graph_then_drop():
    x = leaf(np.ones(3))
    y = x
    for _ in range(DEPTH // 4):
        y = y + 1.0
    v = cotangents((3,), seed=32)
    y.backward(v, retain_graph=True)
    y.backward(v)
    np.testing.assert_allclose(x.grad.data, 2 * v, rtol=1e-15)
    del y  # the retained graph goes with it


# ---------------------------------------------------------------------------------------------- repeated backward


def test_backward_twice_without_retain_graph_raises():
    x = leaf(rand(3))
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_backward_through_a_freed_subgraph_raises():
    x = leaf(rand(3))
    z = x.exp()
    z.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (z * 2.0).sum().backward()  # z's Exp node was freed by the first backward


def test_backward_twice_with_retain_graph_accumulates():
    x = leaf(rand(3, seed=12))
    y = x.exp() * x
    v = cotangents((3,), seed=13)
    y.backward(v, retain_graph=True)
    first = x.grad.data.copy()
    np.testing.assert_allclose(first, v * np.exp(x.data) * (1 + x.data), rtol=1e-14)
    y.backward(v, retain_graph=True)
    np.testing.assert_allclose(x.grad.data, 2 * first, rtol=1e-14)
    y.backward(v)  # the last one may free the graph
    np.testing.assert_allclose(x.grad.data, 3 * first, rtol=1e-14)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(v)


def test_leaf_gradients_accumulate_across_separate_graphs():
    x = leaf(rand(2, 2, seed=14))
    v1, v2 = cotangents((2, 2), seed=15), cotangents((2, 2), seed=16)
    (x * 3.0).backward(v1)
    x.sin().backward(v2)
    np.testing.assert_allclose(x.grad.data, 3 * v1 + np.cos(x.data) * v2, rtol=1e-14)
    x.grad = None  # what zero_grad does: the next backward starts afresh
    x.sin().backward(v2)
    np.testing.assert_allclose(x.grad.data, np.cos(x.data) * v2, rtol=1e-14)


def test_backward_frees_the_graph():
    x = leaf(rand(3))
    y = x.exp()
    z = y.sin().sum()
    z.backward()
    assert z.grad_fn.parents is None and y.grad_fn.parents is None  # inputs and saved arrays dropped
    assert type(z.grad_fn).__name__ == "Sum"  # the node's type is kept for error messages and drawings


def test_backward_on_a_leaf():
    x = leaf(rand(3))
    v = cotangents((3,), seed=17)
    x.backward(v)
    np.testing.assert_array_equal(x.grad.data, v)
    assert not np.shares_memory(x.grad.data, v)


@pytest.mark.parametrize("op", [lambda x: x.reshape(6), lambda x: x.permute(1, 0), lambda x: x.expand(2, 2, 3),
                                lambda x: x + x, lambda x: x[::-1], lambda x: x.flip(1), lambda x: x * 1.0,
                                lambda x: x.to(np.float32), lambda x: x.squeeze().unsqueeze(0)])
def test_gradients_never_alias_the_callers_cotangent(op):
    """Ops whose backward passes g through (or a view of it) must not let the leaf's .grad share the caller's
    array, nor write into it when gradients accumulate."""
    x = leaf(rand(2, 3, seed=35))
    y = op(x)
    v = cotangents(y.shape, seed=36).astype(y.dtype)
    v_before = v.copy()
    y.backward(v, retain_graph=True)
    first = x.grad.data.copy()
    assert not np.shares_memory(x.grad.data, v)
    y.backward(v)
    np.testing.assert_array_equal(v, v_before)  # the caller's array is untouched
    np.testing.assert_allclose(x.grad.data, 2 * first)


def test_a_saved_array_returned_as_a_gradient_is_not_modified():
    """A user backward may return an array it saved (here when g = 1); accumulating into it would corrupt the
    node for the next backward."""

    class WeightedSum(Function):
        def forward(self, x):
            self.w = np.array([1.0, 2.0, 3.0])
            return (x * self.w).sum()

        def backward(self, g):
            return self.w if g == 1 else g * self.w

    x = leaf(np.zeros(3))
    y = WeightedSum.apply(x)
    for _ in range(3):
        y.backward(retain_graph=True)
    np.testing.assert_array_equal(y.grad_fn.w, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x.grad.data, [3.0, 6.0, 9.0])
    x2 = leaf(np.zeros(3))
    a, b = WeightedSum.apply(x2), WeightedSum.apply(x2)  # two contributions summed for the same leaf
    (a + b).backward()
    np.testing.assert_array_equal(x2.grad.data, [2.0, 4.0, 6.0])
    x3 = leaf(np.zeros(3))
    c, d = WeightedSum.apply(x3), WeightedSum.apply(x3)
    (c + d).backward(retain_graph=True)
    np.testing.assert_array_equal(c.grad_fn.w, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(d.grad_fn.w, [1.0, 2.0, 3.0])


def test_one_new_array_returned_for_two_leaves_is_not_shared_by_their_grads():
    """A backward may return one fresh array for two inputs: each leaf must get its own .grad, so that adding a
    later contribution into one does not change the other."""

    class AddBoth(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, g):
            both = g * 1.0  # new, but returned twice
            return both, both

    a, b = leaf(rand(3, seed=40)), leaf(rand(3, seed=41))
    v = cotangents((3,), seed=42)
    AddBoth.apply(a, b).backward(v)
    assert not np.shares_memory(a.grad.data, b.grad.data)
    (a * 2.0).backward(v)  # accumulates into a.grad only
    np.testing.assert_allclose(a.grad.data, 3 * v, rtol=1e-14)
    np.testing.assert_allclose(b.grad.data, v, rtol=1e-14)


def test_a_leaf_takes_a_new_gradient_array_without_copying_it():
    returned = []

    class Scale(Function):
        def forward(self, x):
            return 2 * x

        def backward(self, g):
            returned.append(2 * g)
            return returned[-1]

    x = leaf(rand(3, seed=43))
    Scale.apply(x).backward(cotangents((3,), seed=44))
    assert x.grad.data is returned[0]  # the engine owns it: no copy was needed
    Scale.apply(x).backward(cotangents((3,), seed=45))
    assert x.grad.data is returned[0]  # and the next contribution is added into it in place
    np.testing.assert_allclose(x.grad.data, 2 * (cotangents((3,), seed=44) + cotangents((3,), seed=45)), rtol=1e-14)


# ----------------------------------------------------------------------------------------------------- grad modes


def test_no_grad_context_manager():
    x = leaf(rand(3))
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2.0).exp()
    assert is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    np.testing.assert_allclose(y.data, np.exp(2 * x.data))


def test_no_grad_keeps_nothing_alive():
    """Inside no_grad an intermediate is freed the moment its last reference goes: no node holds it."""
    x = leaf(rand(3))
    gc.disable()
    try:
        with no_grad():
            t = x.exp()
            ref = weakref.ref(t)
            out = t.sin()
            del t
            assert ref() is None
            assert out.grad_fn is None
    finally:
        gc.enable()


def test_no_grad_decorator_with_and_without_parentheses():
    x = leaf(rand(3))

    @no_grad
    def bare(t):
        """Doc."""
        assert not is_grad_enabled()
        return t * 2.0

    @no_grad()
    def called(t):
        assert not is_grad_enabled()
        return t * 2.0

    for fn in (bare, called):
        y = fn(x)
        assert not y.requires_grad and y.grad_fn is None
        assert is_grad_enabled()
    assert bare.__name__ == "bare" and bare.__doc__ == "Doc."
    assert called.__name__ == "called"
    assert called(x).grad_fn is None  # reusable: a second call works the same


def test_no_grad_nesting_restores_each_level():
    with no_grad():
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled()  # the inner exit restores the outer no_grad, not "enabled"
        with enable_grad():
            assert is_grad_enabled()
            with no_grad():
                assert not is_grad_enabled()
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_one_no_grad_instance_reentered():
    ng = no_grad()
    with ng:
        with ng:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_grad_mode_restored_on_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            raise ZeroDivisionError
    assert is_grad_enabled()

    @no_grad
    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    assert is_grad_enabled()
    with no_grad():
        with pytest.raises(ValueError):
            with enable_grad():
                raise ValueError
        assert not is_grad_enabled()


def test_enable_grad_inside_no_grad_builds_a_graph():
    x = leaf(rand(3, seed=18))
    with no_grad():
        a = x * 2.0
        with enable_grad():
            y = x.exp()

        @enable_grad()
        def f(t):
            return t.sin()

        z = f(x)
    assert not a.requires_grad
    assert y.requires_grad and y.grad_fn is not None and z.grad_fn is not None
    v = cotangents((3,), seed=33)
    (y + z).backward(v)
    np.testing.assert_allclose(x.grad.data, v * (np.exp(x.data) + np.cos(x.data)), rtol=1e-14)


def test_grad_mode_is_per_thread():
    seen = []
    with no_grad():
        th = threading.Thread(target=lambda: seen.append(is_grad_enabled()))
        th.start()
        th.join()
    assert seen == [True]
    # and the other way: no_grad in a thread leaves this one building graphs
    entered, release = threading.Event(), threading.Event()

    def worker():
        with no_grad():
            entered.set()
            release.wait(5)

    th = threading.Thread(target=worker)
    th.start()
    entered.wait(5)
    try:
        assert is_grad_enabled() and (leaf(rand(2)) * 2.0).requires_grad
    finally:
        release.set()
        th.join()


def test_backward_inside_no_grad_still_works():
    """no_grad stops graph building, not the differentiation of a graph built before."""
    x = leaf(rand(3, seed=19))
    y = x.exp()
    v = cotangents((3,), seed=34)
    with no_grad():
        y.backward(v)
    np.testing.assert_allclose(x.grad.data, v * np.exp(x.data), rtol=1e-14)


# ------------------------------------------------------------------------------------------ detach, retain_grad


def test_detach():
    x = leaf(rand(3, seed=20))
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.data, x.data)
    y = x * x.detach()  # only the first factor carries gradient
    v = cotangents((3,), seed=21)
    y.backward(v)
    np.testing.assert_allclose(x.grad.data, v * x.data, rtol=1e-14)
    h = x.exp().detach()
    assert h.grad_fn is None and not h.requires_grad


def test_retain_grad():
    x = leaf(rand(3, seed=22))
    y = x.exp()
    y.retain_grad()
    z = y.sin()  # not retained
    w = y * 2.0 + z
    v = cotangents((3,), seed=23)
    w.backward(v)
    np.testing.assert_allclose(y.grad.data, v * (2 + np.cos(y.data)), rtol=1e-14)
    np.testing.assert_allclose(x.grad.data, y.grad.data * y.data, rtol=1e-14)
    assert z.grad is None and w.grad is None


def test_retain_grad_on_root_and_leaf():
    x = leaf(rand(2, seed=24))
    x.retain_grad()  # a no-op on a leaf: leaves always keep their gradient
    y = x * 3.0
    y.retain_grad()
    v = cotangents((2,), seed=25)
    y.backward(v)
    np.testing.assert_array_equal(y.grad.data, v)
    np.testing.assert_allclose(x.grad.data, 3 * v)


def test_retain_grad_needs_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0, 2.0]).retain_grad()


def test_is_leaf_and_grad_fn():
    x = leaf(rand(2))
    y = x * 2.0
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf and isinstance(y.grad_fn, Function) and type(y.grad_fn).__name__ == "Mul"
    assert y.grad_fn.parents[0] is x
    c = Tensor(rand(2)) * 2.0  # no input requires grad: no node
    assert c.is_leaf and c.grad_fn is None and not c.requires_grad


def test_requires_grad_on_integer_or_bool_tensors_raises():
    with pytest.raises(TypeError, match="floating-point"):
        Tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        Tensor([True, False], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        Tensor.zeros(2, dtype=np.int64, requires_grad=True)
    t = Tensor([1, 2])
    with pytest.raises(TypeError, match="int64"):
        t.requires_grad_()
    with pytest.raises(TypeError, match="bool"):
        Tensor(np.array([True])).requires_grad = True
    assert not t.requires_grad


def test_requires_grad_toggles_on_leaves_only():
    x = Tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    y = leaf([1.0]) * 2.0
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)


def test_backward_on_non_scalar_without_gradient_raises():
    y = leaf(rand(2, 3)) * 2.0
    with pytest.raises(RuntimeError, match=r"one-element.*\(2, 3\)"):
        y.backward()


def test_backward_implied_gradient_for_one_element_tensors():
    x = leaf(rand(1, 1, seed=26))
    (x * 2.0).backward()
    np.testing.assert_array_equal(x.grad.data, [[2.0]])


def test_backward_gradient_with_wrong_shape_raises():
    y = leaf(rand(2, 3)) * 2.0
    with pytest.raises(RuntimeError, match=r"\(3, 2\).*\(2, 3\)"):  # PyTorch raises RuntimeError too
        y.backward(np.ones((3, 2)))
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(Tensor(np.ones(6)))
    y.backward(Tensor(np.ones((2, 3))))  # a Tensor of the right shape is fine


def test_backward_on_tensor_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2.0).backward()


# -------------------------------------------------------------------------------------------------------- memory


def _live(cls) -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, cls))


def test_training_loop_keeps_a_flat_number_of_live_objects():
    """Many forward/backward/update steps of a small MLP with gc disabled: if the graph had reference cycles,
    every step would leak its tensors and nodes (only the cycle collector could free them)."""
    rng = np.random.default_rng(27)
    x = Tensor(rng.standard_normal((8, 5)).astype(np.float32))
    onehot = Tensor(np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)])
    w1 = Tensor(rng.standard_normal((5, 6)).astype(np.float32) * 0.5, requires_grad=True)
    b1 = Tensor(np.zeros(6, np.float32), requires_grad=True)
    w2 = Tensor(rng.standard_normal((6, 3)).astype(np.float32) * 0.5, requires_grad=True)
    params = [w1, b1, w2]

    def step() -> float:
        h = (x @ w1 + b1).relu()
        logp = (h @ w2).log_softmax(-1)
        loss = -(logp * onehot).sum() * (1.0 / 8)
        loss.backward()
        for p in params:
            p.data -= 0.1 * p.grad.data
            p.grad = None
        return loss.item()

    gc.collect()
    gc.disable()
    try:
        losses = [step() for _ in range(5)]
        tensors, nodes = _live(Tensor), _live(Function)
        losses += [step() for _ in range(200)]
        assert _live(Tensor) == tensors
        assert _live(Function) == nodes
        assert gc.collect() == 0  # and the steps left no cyclic garbage for the collector either
    finally:
        gc.enable()
    assert losses[-1] < losses[0]  # it was really training


def test_intermediate_freed_as_soon_as_last_reference_goes():
    gc.collect()
    gc.disable()
    try:
        x = leaf(rand(4, seed=28))
        # an intermediate nothing consumed
        t = x.exp()
        ref = weakref.ref(t)
        del t
        assert ref() is None
        # consumed by a live graph: the graph keeps it (backward will need it) ...
        t = x.exp()
        ref, data_ref = weakref.ref(t), weakref.ref(t.data)
        y = t.sin()
        del t
        assert ref() is not None
        # ... until the graph goes
        del y
        assert ref() is None and data_ref() is None
        # after backward the graph has let go: the user's own reference is the last one
        t = x.exp()
        ref, data_ref = weakref.ref(t), weakref.ref(t.data)
        y = t.sin()
        y.backward(cotangents((4,), seed=29))
        assert ref() is not None  # still named by `t`
        del t
        assert ref() is None and data_ref() is None  # y is alive but its node released t and the saved arrays
        assert y.grad_fn.parents is None
        # after backward with retain_graph the graph still holds it, until the graph goes
        t = x.exp()
        ref = weakref.ref(t)
        y = t.sin()
        y.backward(cotangents((4,), seed=29), retain_graph=True)
        del t
        assert ref() is not None
        del y
        assert ref() is None
    finally:
        gc.enable()



@pytest.mark.parametrize("make, expected", [
    (lambda x: x * x * x, 3 * 0.5**2),
    (lambda x: x + x + x, 3.0),
    (lambda x: x.sum() + x.sum() + x.sum(), 3.0),  # a 0-d intermediate
])
def test_a_0d_tensor_keeps_every_one_of_three_or_more_gradient_contributions(make, expected):
    # A sum of two 0-d arrays is a NumPy scalar, not an array: adding a third contribution into it in place once
    # dropped that contribution (x*x*x gave 0.5, not 0.75).
    x = Tensor(np.array(0.5), requires_grad=True)
    make(x).backward()
    assert x.grad.item() == expected


def test_grad_runs_only_the_part_of_the_graph_that_leads_to_its_inputs():
    # As in PyTorch: grad(out, x) must not run (and free) the branch through h that leads only to w.
    from tinygrad_np.autograd import grad

    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = w * w
    x = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    (gx,) = grad((h * x).sum(), x)
    np.testing.assert_array_equal(gx.data, [1.0, 4.0])
    assert w.grad is None
    h.sum().backward()  # h's node was not freed by grad
    np.testing.assert_array_equal(w.grad.data, [2.0, 4.0])


def test_create_graph_refuses_to_guess_between_two_inputs_holding_one_array():
    # Saved values are matched to inputs by identity; two tensors over one array cannot be told apart, and guessing
    # gave a silently wrong second derivative.
    from tinygrad_np.autograd import grad

    a = np.array([1.0, 2.0])
    x, y = Tensor(a, requires_grad=True), Tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError, match="one array"):
        grad((x * y).sum(), x, create_graph=True)
    y = Tensor(a.copy(), requires_grad=True)
    (gx,) = grad((x * y).sum(), x, create_graph=True)
    gxx, gxy = grad(gx.sum(), (x, y), allow_unused=True)
    assert gxx is None
    np.testing.assert_array_equal(gxy.data, [1.0, 1.0])


def test_third_and_fourth_derivatives_reach_the_leaf():
    # A recorded graph holds stand-ins of its leaves; the stand-in of a stand-in once pointed at the first stand-in
    # instead of the leaf, and the third derivative found x "unused".
    from tinygrad_np.autograd import grad

    x = Tensor(np.array([2.0]), requires_grad=True)
    (g1,) = grad((x**4).sum(), x, create_graph=True)
    (g2,) = grad(g1.sum(), x, create_graph=True)
    (g3,) = grad(g2.sum(), x, create_graph=True)
    (g4,) = grad(g3.sum(), x)
    assert (g1.item(), g2.item(), g3.item(), g4.item()) == (32.0, 48.0, 48.0, 24.0)
