"""`Tensor.register_hook` against PyTorch: what each hook sees, how often, in what order, what its return value
replaces, and how it meets retain_grad, in-place changes, create_graph and `autograd.grad`."""
import numpy as np
import pytest

from tinygrad_np import Tensor
from tinygrad_np.autograd import grad

torch = pytest.importorskip("torch")


def ours(a, requires_grad=False):
    return Tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


def theirs(a, requires_grad=False):
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


def arr(t):
    if t is None:
        return None
    return t.data.copy() if isinstance(t, Tensor) else t.detach().numpy().copy()


def assert_same_log(got, want):
    assert [name for name, _ in got] == [name for name, _ in want]
    for (name, a), (_, b) in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)


def both(fn):
    """Run `fn(make, log)` with our tensors and torch's; return both (result, log) pairs."""
    out = []
    for make in (ours, theirs):
        log = []
        out.append((fn(make, log), log))
    return out


def recorder(log, name, replace=None):
    def hook(g):
        log.append((name, arr(g)))
        return replace(g) if replace is not None else None
    return hook


def test_leaf_hook_sees_the_total_gradient_once_per_backward():
    def run(make, log):
        x = make([1.0, -2.0, 3.0], True)
        x.register_hook(recorder(log, "x"))
        y = (x * x).sum() + (x * 3).sum() + x.exp().sum()  # three uses
        y.backward()
        y2 = (x * 2).sum()
        y2.backward()
        return arr(x.grad)

    (g1, log1), (g2, log2) = both(run)
    assert len(log1) == 2
    assert_same_log(log1, log2)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)


def test_returned_tensor_replaces_the_gradient_downstream_and_in_grad():
    def run(make, log):
        x = make([1.0, 2.0], True)
        a = x * x
        a.register_hook(recorder(log, "a", lambda g: g * 10))
        x.register_hook(recorder(log, "x", lambda g: g + 1))
        (a * make([1.0, -1.0])).sum().backward()
        return arr(x.grad)

    (g1, log1), (g2, log2) = both(run)
    assert_same_log(log1, log2)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)


def test_several_hooks_run_in_registration_order_each_seeing_the_last_result():
    def run(make, log):
        x = make([1.0, 2.0], True)
        a = x * 3
        a.register_hook(recorder(log, "first", lambda g: g * 2))
        a.register_hook(recorder(log, "second"))  # returns None: keeps the gradient
        a.register_hook(recorder(log, "third", lambda g: g - 1))
        a.register_hook(recorder(log, "fourth"))
        a.sum().backward()
        return arr(x.grad)

    (g1, log1), (g2, log2) = both(run)
    assert_same_log(log1, log2)
    np.testing.assert_allclose(g1, g2)


def test_handle_remove():
    def run(make, log):
        x = make([1.0, 2.0], True)
        h1 = x.register_hook(recorder(log, "kept"))
        h2 = x.register_hook(recorder(log, "removed", lambda g: g * 100))
        h2.remove()
        h2.remove()  # again: nothing
        (x * 2).sum().backward()
        with x.register_hook(recorder(log, "scoped", lambda g: g * 0)):  # removed on exit
            pass
        (x * 2).sum().backward()
        h1.remove()
        (x * 2).sum().backward()
        return arr(x.grad)

    (g1, log1), (g2, log2) = both(run)
    assert_same_log(log1, log2)
    assert [n for n, _ in log1] == ["kept", "kept"]
    np.testing.assert_allclose(g1, g2)


@pytest.mark.parametrize("retain_first", [True, False])
def test_retained_grad_is_the_hook_modified_gradient(retain_first):
    """PyTorch >= 2.0: the retain_grad hook always runs last, whenever it was registered."""
    def run(make, log):
        x = make([1.0, 2.0], True)
        a = x * 2
        if retain_first:
            a.retain_grad()
        a.register_hook(recorder(log, "a", lambda g: g * 5))
        if not retain_first:
            a.retain_grad()
        (a * a).sum().backward()
        return arr(a.grad), arr(x.grad)

    (r1, log1), (r2, log2) = both(run)
    assert_same_log(log1, log2)
    for u, v in zip(r1, r2):
        np.testing.assert_allclose(u, v)


def test_hooks_registered_before_and_after_an_in_place_change():
    """Before: the gradient of the old value; after: of the new one. retain_grad: the new one (PyTorch's rules)."""
    def run(make, log):
        x = make([1.0, 2.0, 3.0], True)
        a = x * 1
        a.register_hook(recorder(log, "before"))
        a.retain_grad()
        y = a + a
        a.mul_(2)
        a.register_hook(recorder(log, "after"))
        (y.sum() + (a * 5).sum()).backward()
        return arr(a.grad), arr(x.grad)

    (r1, log1), (r2, log2) = both(run)
    assert_same_log(log1, log2)
    for u, v in zip(r1, r2):
        np.testing.assert_allclose(u, v)


def test_hook_on_a_tensor_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        torch.ones(2).register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        Tensor.ones(2).register_hook(lambda g: g)


def test_hook_returning_a_wrong_shape_raises():
    x = ours([1.0, 2.0], True)
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match=r"shape \(\) for a tensor of shape \(2,\)"):
        (x * 2).sum().backward()


def test_hooks_under_create_graph_see_a_differentiable_gradient():
    def run(make, log):
        gradfn = grad if make is ours else torch.autograd.grad
        x = make([0.5, -1.5], True)
        a = x * x * x
        a.register_hook(recorder(log, "a", lambda g: g * x))  # a hook that builds graph
        (g,) = gradfn(a.sum(), x, create_graph=True)
        (h,) = gradfn(g.sum(), x)
        return arr(g), arr(h)

    (r1, log1), (r2, log2) = both(run)
    assert_same_log(log1, log2)
    for u, v in zip(r1, r2):
        np.testing.assert_allclose(u, v, rtol=1e-12)


def test_hooks_run_for_autograd_grad_and_leaf_results_include_them():
    def run(make, log):
        gradfn = grad if make is ours else torch.autograd.grad
        x = make([1.0, 2.0], True)
        x.register_hook(recorder(log, "x", lambda g: g * 10))
        a = x * 3
        a.register_hook(recorder(log, "a", lambda g: g * 2))
        (gx,) = gradfn((a * a).sum(), x)
        return arr(gx), arr(x.grad)

    (r1, log1), (r2, log2) = both(run)
    assert_same_log(log1, log2)
    np.testing.assert_allclose(r1[0], r2[0])
    assert r1[1] is None and r2[1] is None  # grad() leaves .grad alone


def test_hooks_off_the_path_to_inputs_do_not_run():
    """backward(inputs=[w]): PyTorch runs only what w's gradient needs; x's hook must not fire."""
    def run(make, log):
        x, w = make([1.0, 2.0], True), make([3.0, 4.0], True)
        x.register_hook(recorder(log, "x"))
        a = x * 2
        a.register_hook(recorder(log, "a"))
        (a * w).sum().backward(inputs=[w])
        return arr(w.grad), arr(x.grad)

    (r1, log1), (r2, log2) = both(run)
    assert log2 == []
    assert_same_log(log1, log2)
    np.testing.assert_allclose(r1[0], r2[0])
    assert r1[1] is None and r2[1] is None
