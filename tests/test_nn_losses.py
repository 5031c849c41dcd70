"""nll_loss, mse_loss, l1_loss, binary_cross_entropy(_with_logits), their modules, and the functional helpers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
import nn.functional as F
from tinygrad_np import Tensor, gradcheck

REDUCTIONS = ["mean", "sum", "none"]


def rand(*shape, seed=0, lo=-2.0, hi=2.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_losses_match_torch(reduction):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = rand(5, 3, seed=1)
    y01 = rand(5, 3, seed=2, lo=0, hi=1)
    probs = rand(5, 3, seed=3, lo=0.02, hi=0.98)
    w = rand(5, 3, seed=4, lo=0.5, hi=2)
    pw = rand(3, seed=5, lo=0.5, hi=3)
    logp = np.log(np.random.default_rng(6).dirichlet(np.ones(3), 5))
    cls = np.array([0, 2, 1, -100, 2])
    cases = [
        (F.mse_loss, tf.mse_loss, x, y01, {}),
        (F.l1_loss, tf.l1_loss, x, y01, {}),
        (F.binary_cross_entropy, tf.binary_cross_entropy, probs, y01, {}),
        (F.binary_cross_entropy, tf.binary_cross_entropy, probs, y01, {"weight": w}),
        (F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, x * 10, y01, {}),
        (F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, x, y01, {"pos_weight": pw}),
        (F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, x, y01,
         {"pos_weight": pw, "weight": w}),
        (F.nll_loss, tf.nll_loss, logp, cls, {}),
    ]
    for ours_fn, torch_fn, inp, target, opts in cases:
        ours_in = Tensor(inp.copy(), requires_grad=True)
        ours = ours_fn(ours_in, target, reduction=reduction, **opts)
        t_in = torch.tensor(inp, requires_grad=True)
        t_opts = {k: torch.tensor(v) for k, v in opts.items()}
        theirs = torch_fn(t_in, torch.tensor(target), reduction=reduction, **t_opts)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, err_msg=ours_fn.__name__)
        cot = np.random.default_rng(7).standard_normal(ours.shape)
        ours.backward(cot)
        theirs.backward(torch.tensor(cot))
        np.testing.assert_allclose(ours_in.grad.data, t_in.grad.numpy(), rtol=1e-10, atol=1e-15,
                                   err_msg=ours_fn.__name__)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.sampled_from(REDUCTIONS), st.integers(0, 1000))
def test_gradcheck_losses(m, n, reduction, seed):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0, 1, (m, n))
    pw = rng.uniform(0.5, 2, n)
    w = rng.uniform(0.5, 2, (m, n))
    checks = [
        (lambda t: F.mse_loss(t, y, reduction=reduction), rng.standard_normal((m, n))),
        (lambda t: F.binary_cross_entropy(t, y, weight=w, reduction=reduction), rng.uniform(0.05, 0.95, (m, n))),
        (lambda t: F.binary_cross_entropy_with_logits(t, y, reduction=reduction), rng.standard_normal((m, n)) * 3),
        (lambda t: F.binary_cross_entropy_with_logits(t, y, w, reduction, pos_weight=pw), rng.standard_normal((m, n))),
    ]
    for fn, x in checks:
        assert gradcheck(fn, Tensor(x, requires_grad=True))
    logp = rng.standard_normal((m, n + 1))
    cls = rng.integers(0, n + 1, m)
    assert gradcheck(lambda t: F.nll_loss(t, cls, reduction=reduction), Tensor(logp, requires_grad=True))
    logp3 = rng.standard_normal((m, n + 1, 2))
    cls3 = rng.integers(0, n + 1, (m, 2))
    assert gradcheck(lambda t: F.nll_loss(t, cls3, reduction=reduction), Tensor(logp3, requires_grad=True))


def test_bce_with_logits_is_stable_for_huge_logits():
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0], np.float32)
    y = np.array([1, 0, 0, 1, 1], np.float32)
    logits = Tensor(x, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    np.testing.assert_allclose(loss.data, [0, 0, 1e4, 1e4, np.log(2)], rtol=1e-6)
    loss.backward(np.ones(5, np.float32))
    np.testing.assert_allclose(logits.grad.data, [0, 0, 1, -1, -0.5], atol=1e-7)  # σ(x) − y
    assert loss.dtype == np.float32 and logits.grad.dtype == np.float32


def test_bce_clamps_logs_at_minus_100_like_torch():
    p = Tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    loss = F.binary_cross_entropy(p, np.array([1.0, 0.0, 0.0, 1.0]), reduction="none")
    np.testing.assert_array_equal(loss.data, [100, 100, 0, 0])
    loss.backward(np.ones(4))
    assert np.all(np.isfinite(p.grad.data))
    np.testing.assert_allclose(p.grad.data, [-1e12, 1e12, 0, 0])  # (x − y) / max(x(1 − x), 1e-12)


def test_nll_loss_of_log_softmax_equals_cross_entropy():
    x = rand(6, 4, seed=8)
    y = np.array([0, 3, 2, 2, 1, 0])
    a = Tensor(x.copy(), requires_grad=True)
    b = Tensor(x.copy(), requires_grad=True)
    la = F.nll_loss(F.log_softmax(a, dim=1), y)
    lb = F.cross_entropy(b, y)
    np.testing.assert_allclose(la.item(), lb.item(), rtol=1e-13)
    la.backward()
    lb.backward()
    np.testing.assert_allclose(a.grad.data, b.grad.data, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fn", [F.mse_loss, F.l1_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits])
def test_shape_mismatch_is_an_error_not_a_broadcast(fn):
    # (N, 1) predictions against (N,) targets would broadcast to (N, N): refuse it, naming both shapes
    with pytest.raises(ValueError, match=r"\(4,\).*\(4, 1\)"):
        fn(Tensor(np.full((4, 1), 0.5, np.float32)), np.zeros(4, np.float32))


def test_bce_rejects_values_outside_0_1():
    with pytest.raises(ValueError, match="binary_cross_entropy.*logits"):
        F.binary_cross_entropy(Tensor(np.array([0.5, 1.5])), np.array([0.0, 1.0]))


def test_loss_modules_match_functional():
    x = Tensor(rand(4, 3, seed=9, lo=0.1, hi=0.9))
    y = rand(4, 3, seed=10, lo=0, hi=1)
    pairs = [
        (nn.MSELoss(reduction="sum"), F.mse_loss(x, y, reduction="sum")),
        (nn.L1Loss(), F.l1_loss(x, y)),
        (nn.BCELoss(), F.binary_cross_entropy(x, y)),
        (nn.BCEWithLogitsLoss(pos_weight=np.array([1.0, 2.0, 3.0])),
         F.binary_cross_entropy_with_logits(x, y, pos_weight=np.array([1.0, 2.0, 3.0]))),
    ]
    for module, expected in pairs:
        assert module(x, y).item() == expected.item()
    logp = Tensor(np.log(np.full((2, 3), 1 / 3)))
    assert nn.NLLLoss(reduction="none")(logp, np.array([0, 2])).shape == (2,)
    assert repr(nn.MSELoss()) == "MSELoss(reduction='mean')"


def test_one_hot():
    out = F.one_hot(np.array([[0, 2], [1, 1]]), 4)
    assert out.dtype == np.int64 and out.shape == (2, 2, 4)
    np.testing.assert_array_equal(out.data[0, 1], [0, 0, 1, 0])
    assert F.one_hot(Tensor(np.array([3, 0]))).shape == (2, 4)
    with pytest.raises(IndexError, match="one_hot"):
        F.one_hot(np.array([5]), 3)


def test_activation_functionals_equal_tensor_methods():
    x = Tensor(rand(3, 4, seed=11))
    w = Tensor(rand(5, 4, seed=12))
    b = Tensor(rand(5, seed=13))
    np.testing.assert_array_equal(F.linear(x, w, b).data, x.data @ w.data.T + b.data)
    np.testing.assert_array_equal(F.linear(x, w).data, x.data @ w.data.T)
    np.testing.assert_array_equal(F.relu(x).data, np.maximum(x.data, 0))
    np.testing.assert_array_equal(F.leaky_relu(x, 0.2).data, np.where(x.data > 0, x.data, 0.2 * x.data))
    np.testing.assert_allclose(F.softmax(x, dim=0).data.sum(0), 1, rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(x, dim=-1).data, np.log(F.softmax(x, dim=-1).data), rtol=1e-12)
    np.testing.assert_allclose(F.sigmoid(x).data, 1 / (1 + np.exp(-x.data)), rtol=1e-12)
    np.testing.assert_allclose(F.tanh(x).data, np.tanh(x.data), rtol=1e-12)
