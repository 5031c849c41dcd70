"""Version counters (`t._version`) against PyTorch's, and the backward-time check that a tensor a node saved was not
changed in place since: raising where PyTorch raises, and not where it does not."""
import numpy as np
import pytest

import nn
from tinygrad_np import Tensor, no_grad

torch = pytest.importorskip("torch")


def ours(a, requires_grad=False):
    return Tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


def theirs(a, requires_grad=False):
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


def no_grad_of(make):
    return no_grad() if make is ours else torch.no_grad()


def values(t):
    return t.data if isinstance(t, Tensor) else t.detach().numpy()


# ---------------------------------------------------------------------------------------------------------------
# _version


def _version_sequence(make):
    """The same ops on ours and torch's; the versions of every tensor involved after each step."""
    t = make(np.zeros((4, 6)))
    seen = [t._version]
    t.add_(1)
    t += 2
    v = t[1:3]  # a view shares the counter
    v.mul_(2)
    seen += [t._version, v._version]
    w = t.reshape(24)
    w[3] = 7.0
    p = t.T
    p.clamp_(0, 5)
    seen += [t._version, v._version, w._version, p._version]
    d = t.detach()  # shares the counter too
    d.zero_()
    seen += [t._version, d._version]
    c = t.clone()  # does not
    c.fill_(1.0)
    seen += [t._version, c._version]
    t.data[0, 0] = 5.0  # .data writes do not count, as PyTorch's
    t.data += 1
    seen += [t._version]
    u = t + 0  # a new tensor starts at 0
    seen += [u._version]
    e = make(np.zeros(3))
    e[...] = 1.0
    e.sigmoid_()
    e.copy_(make(np.ones(3)))
    seen += [e._version]
    return seen


def test_versions_follow_torch():
    assert _version_sequence(ours) == _version_sequence(theirs)


def test_in_place_ops_that_fail_do_not_count():
    for int_tensor in (lambda: Tensor(np.array([1, 2])), lambda: torch.tensor([1, 2])):
        t = int_tensor()
        with pytest.raises(RuntimeError):
            t += 0.5
        assert t._version == 0


# ---------------------------------------------------------------------------------------------------------------
# the backward check: where PyTorch raises


def _modified_error(fn, make):
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
        fn(make)
    return str(info.value)


def _exp_output_changed(make):
    x = make([1.0, 2.0], True)
    y = (x * 1).exp()  # Exp saves its output
    y.add_(1)
    y.sum().backward()


def _log_input_changed(make):
    x = make([1.0, 2.0], True)
    a = x * 1
    y = a.log()  # Log saves its input
    with no_grad_of(make):
        a.mul_(2)
    y.sum().backward()


def _matmul_weight_changed(make):
    x, w = make(np.ones((2, 3)), True), make(np.ones((3, 4)), True)
    y = x @ w  # x's gradient reads w
    with no_grad_of(make):
        w.sub_(0.5)
    y.sum().backward()


def _tracked_change_of_a_saved_input(make):
    x, w = make([1.0, 2.0], True), make([3.0, 4.0], True)
    a = x * 1
    y = a * w  # w's gradient reads a
    a.add_(w)
    (y.sum() + a.sum()).backward()


def _change_through_a_view(make):
    x = make([1.0, 2.0, 3.0], True)
    z = x * 1
    s = z.cos()  # Cos saves its input
    with no_grad_of(make):
        z[1:].mul_(3)  # changed through a view: the counter is shared
    s.sum().backward()


@pytest.mark.parametrize("case", [_exp_output_changed, _log_input_changed, _matmul_weight_changed,
                                  _tracked_change_of_a_saved_input, _change_through_a_view])
def test_raises_where_torch_raises(case):
    _modified_error(case, theirs)
    _modified_error(case, ours)


def test_the_message_names_the_op_the_input_and_both_versions():
    message = _modified_error(_log_input_changed, ours)
    assert "Log" in message and "input 0" in message and "shape (2,)" in message
    assert "is at version 1; expected version 0" in message
    message = _modified_error(_exp_output_changed, ours)
    assert "Exp" in message and "output" in message and "is at version 1; expected version 0" in message


def test_the_versions_in_the_message_count_every_change():
    x = ours([1.0, 2.0], True)
    a = x * 1
    with no_grad():
        a.add_(1)  # version 1, before the node
    y = a.log()
    with no_grad():
        a.add_(1)
        a.mul_(2)
        a[0] = 3.0
    with pytest.raises(RuntimeError, match="Log's input 0 .* is at version 4; expected version 1 instead"):
        y.sum().backward()


def _gan_step(lib):
    """Two backwards through one retained graph with an optimizer step between: the discriminator's weights the
    graph saved have changed, so the second backward raises (PyTorch's classic GAN mistake)."""
    rng = np.random.default_rng(0)
    if lib == "ours":
        G, D, make = nn.Linear(3, 4), nn.Linear(4, 1), ours
        opt_d = nn.optim.SGD(D.parameters(), lr=0.1)
    else:
        G, D, make = torch.nn.Linear(3, 4).double(), torch.nn.Linear(4, 1).double(), theirs
        opt_d = torch.optim.SGD(D.parameters(), lr=0.1)
    z = make(rng.standard_normal((5, 3)))
    if lib == "ours":
        z = z.float()  # the layers are float32: a float64 input raises, as in PyTorch
    fake = G(z)
    d_out = D(fake)
    loss_d = (d_out ** 2).mean()
    loss_d.backward(retain_graph=True)
    opt_d.step()
    loss_g = (-d_out).mean()
    loss_g.backward()


def test_gan_style_loop_raises_like_torch():
    _modified_error(lambda make: _gan_step("theirs"), theirs)
    message = _modified_error(lambda make: _gan_step("ours"), ours)
    assert "Linear" in message and "is at version 1; expected version 0" in message


# ---------------------------------------------------------------------------------------------------------------
# where PyTorch does not raise: neither does this engine, and the gradients agree


def _add_input_changed(make):
    x, w = make([1.0, 2.0], True), make([0.5, -1.0], True)
    a = x * 1
    y = a + w  # Add reads neither input
    a.mul_(w)
    return (y * make([1.0, 3.0])).sum() + (a * a).sum(), (x, w)


def _matmul_weight_changed_x_without_grad(make):
    x, w = make(np.arange(6.0).reshape(2, 3)), make(np.ones((3, 4)), True)
    y = x @ w  # only w's gradient is needed, which reads x, not w
    with no_grad_of(make):
        w.mul_(3)
    return (y * y.detach()).sum(), (w,)


def _mul_by_a_number_then_changed(make):
    x = make([1.0, 2.0], True)
    a = x * 1
    y = a * 3.0  # a's gradient reads the number only
    with no_grad_of(make):
        a.add_(1)
    return (y * y.detach()).sum(), (x,)


def _relu_input_changed(make):
    x = make([-1.0, 2.0], True)
    a = x * 1
    y = a.relu()  # ReLU saves its output, not its input
    with no_grad_of(make):
        a.mul_(-1)
    return y.sum(), (x,)


def _data_write_bypasses(make):
    x = make([1.0, 2.0], True)
    y = (x * 1).exp()
    y.data[0] = 10.0  # not counted: backward reads the changed value, in both
    if make is ours:
        y.data *= 2  # the array itself
    else:
        y.data.mul_(2)
    return y.sum(), (x,)


def _changed_after_its_last_use(make):
    x = make([1.0, 2.0], True)
    a = x * 1
    y = a.exp()
    s = y.sum()
    y2 = y * 1  # y's own consumers read nothing of y: changing y2 is fine
    y2.mul_(5)
    return s + y2.sum(), (x,)


@pytest.mark.parametrize("case", [_add_input_changed, _matmul_weight_changed_x_without_grad,
                                  _mul_by_a_number_then_changed, _relu_input_changed, _data_write_bypasses,
                                  _changed_after_its_last_use])
def test_does_not_raise_where_torch_does_not(case):
    loss, leaves = case(ours)
    loss_t, leaves_t = case(theirs)
    loss.backward()
    loss_t.backward()
    np.testing.assert_allclose(values(loss), values(loss_t), rtol=1e-12)
    for a, b in zip(leaves, leaves_t):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_a_retained_graph_backwards_twice_when_nothing_changed():
    x, w = ours([1.0, 2.0], True), ours([3.0, 4.0], True)
    y = (x * w).exp().sum()
    y.backward(retain_graph=True)
    with no_grad():
        x.grad.zero_()  # a .grad changed in place is not a saved tensor
    y.backward()
    np.testing.assert_allclose(x.grad.data, w.data * np.exp(x.data * w.data), rtol=1e-12)
