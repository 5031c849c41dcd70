"""The fused softmax + cross-entropy node: value, gradient (the hand-derived (ŷ − y)/m), stability, graph shape,
targets (indices, probabilities, one-hot), label smoothing, reductions, ignore_index, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
import nn.functional as F
from tinygrad_np import Tensor, gradcheck


def reference(x: np.ndarray, q: np.ndarray):
    """Loss per sample and softmax in float64 by an independent stable route (pairwise logaddexp)."""
    x = x.astype(np.float64)
    lse = np.logaddexp.reduce(x, axis=1)
    log_p = x - lse[:, None]
    return -(q * log_p).sum(axis=1), np.exp(log_p)


def onehot(y: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c)[y]


@st.composite
def problems(draw, max_scale=1e4):
    m = draw(st.integers(1, 12))
    c = draw(st.integers(1, 10))
    scale = draw(st.sampled_from([1e-3, 1.0, 10.0, 100.0, 1e3, max_scale]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-scale, scale, (m, c))
    y = rng.integers(0, c, m)
    return x, y


@settings(max_examples=60, deadline=None)
@given(problems(), st.sampled_from(["index", "onehot"]))
def test_loss_and_gradient_match_float64_reference(problem, kind):
    x, y = problem
    m, c = x.shape
    logits = Tensor(x.copy(), requires_grad=True)
    target = y if kind == "index" else onehot(y, c)
    loss = F.cross_entropy(logits, target)
    ref_losses, ref_softmax = reference(x, onehot(y, c))
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), ref_losses.mean(), rtol=1e-12, atol=1e-12 * (1 + np.abs(x).max()))
    upstream = 0.37  # a non-unit upstream gradient: the node must scale by it
    loss.backward(np.asarray(upstream))
    expected = (ref_softmax - onehot(y, c)) / m * upstream  # dZ = (ŷ − y) / m
    # The reference's log-softmax x − lse is rounded to the ulp of the logits (|x|·2⁻⁵² ≈ 2e-12 at |x| = 1e4), so
    # its probabilities near 1 carry that absolute error: the same scale-aware floor as the loss check above.
    np.testing.assert_allclose(logits.grad.data, expected, rtol=1e-10,
                               atol=max(1e-14, 4e-16 * np.abs(x).max() * upstream / m))


@settings(max_examples=40, deadline=None)
@given(problems(max_scale=1e4))
def test_float32_stays_float32_and_is_finite_at_large_scale(problem):
    x, y = problem
    x32 = x.astype(np.float32)
    logits = Tensor(x32, requires_grad=True)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    assert loss.dtype == np.float32 and logits.grad.dtype == np.float32
    ref_losses, ref_softmax = reference(x32, onehot(y, x.shape[1]))
    assert np.isfinite(loss.item()) and np.isfinite(logits.grad.data).all()
    scale = np.abs(x32).max()
    np.testing.assert_allclose(loss.item(), ref_losses.mean(), rtol=1e-5, atol=1e-6 * (1 + scale))
    np.testing.assert_allclose(logits.grad.data, (ref_softmax - onehot(y, x.shape[1])) / len(y), atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(problems(max_scale=10.0), st.sampled_from(["index", "onehot", "soft"]),
       st.sampled_from(["mean", "sum", "none"]), st.sampled_from([0.0, 0.1]))
def test_gradcheck_finite_differences(problem, kind, reduction, smoothing):
    x, y = problem
    c = x.shape[1]
    if kind == "index":
        target = y
    elif kind == "onehot":
        target = onehot(y, c)
    else:  # arbitrary non-negative rows, not normalised: the backward must use Σq, not assume it is 1
        target = np.random.default_rng(len(y)).uniform(0, 1, x.shape)
    logits = Tensor(x.copy(), requires_grad=True)
    assert gradcheck(lambda t: F.cross_entropy(t, target, reduction=reduction, label_smoothing=smoothing), logits)


def test_one_fused_node_whose_only_parent_is_the_logits():
    logits = Tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    for target in (np.array([0, 1, 2, 1, 0]), onehot(np.array([0, 1, 2, 1, 0]), 3).astype(np.float32)):
        for reduction in ("mean", "sum", "none"):
            loss = F.cross_entropy(logits, target, reduction=reduction)
            assert type(loss.grad_fn) is F.SoftmaxCrossEntropy
            assert len(loss.grad_fn.parents) == 1 and loss.grad_fn.parents[0] is logits
    loss = nn.CrossEntropyLoss()(logits, np.array([0, 1, 2, 1, 0]))
    assert type(loss.grad_fn) is F.SoftmaxCrossEntropy and loss.grad_fn.parents[0] is logits


def test_extreme_logits_exact_values():
    # Naive softmax overflows here (e^10000); the fused node must not.
    x = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0], [-1e4, 1e4, 1e4]], np.float32)
    logits = Tensor(x, requires_grad=True)
    loss = F.cross_entropy(logits, np.array([1, 2, 0]), reduction="none")
    np.testing.assert_allclose(loss.data, [1e4, np.log(3), 2e4 + np.log(2)], rtol=1e-6)
    loss.backward(np.array([1.0, 2.0, 3.0], np.float32))
    expected = np.array([[1, -1, 0], [2 / 3, 2 / 3, -4 / 3], [-3, 1.5, 1.5]], np.float32)
    np.testing.assert_allclose(logits.grad.data, expected, atol=1e-6)


def test_matches_torch_across_options():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    cases = [
        ((6, 4), rng.integers(0, 4, 6), {}),
        ((6, 4), rng.integers(0, 4, 6), {"label_smoothing": 0.2}),
        ((6, 4), np.array([0, -100, 3, 2, -100, 1]), {"ignore_index": -100}),
        ((6, 4), np.array([0, 7, 3, 2, 7, 1]), {"ignore_index": 7, "label_smoothing": 0.3}),
        ((6, 4), rng.dirichlet(np.ones(4), 6), {}),
        ((6, 4), rng.dirichlet(np.ones(4), 6), {"label_smoothing": 0.1}),
        ((3, 4, 5), rng.integers(0, 4, (3, 5)), {}),
        ((2, 4, 3, 2), np.moveaxis(rng.dirichlet(np.ones(4), (2, 3, 2)), -1, 1), {"label_smoothing": 0.2}),
        ((4,), np.array(2), {}),
        ((4,), np.array(2), {"label_smoothing": 0.5}),
    ]
    for shape, target, opts in cases:
        for reduction in ("mean", "sum", "none"):
            x = rng.standard_normal(shape) * 3
            ours_in = Tensor(x.copy(), requires_grad=True)
            ours = F.cross_entropy(ours_in, target, reduction=reduction, **opts)
            t_in = torch.tensor(x, requires_grad=True)
            theirs = torch.nn.functional.cross_entropy(t_in, torch.tensor(target), reduction=reduction, **opts)
            np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
            cot = rng.standard_normal(ours.shape)
            ours.backward(cot)
            theirs.backward(torch.tensor(cot))
            np.testing.assert_allclose(ours_in.grad.data, t_in.grad.numpy(), rtol=1e-10, atol=1e-14,
                                       err_msg=f"{shape} {opts} {reduction}")


def test_label_smoothing_is_pytorchs_definition():
    x = np.random.default_rng(2).standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    eps = 0.25
    q = (1 - eps) * onehot(y, 4) + eps / 4
    ref, _ = reference(x, q)
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), y, label_smoothing=eps).item(), ref.mean(), rtol=1e-13)
    # index and one-hot targets agree with smoothing too
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), onehot(y, 4), label_smoothing=eps).item(), ref.mean(),
                               rtol=1e-13)


def test_ignore_index_excluded_from_mean_and_gradient():
    x = np.random.default_rng(3).standard_normal((4, 3))
    logits = Tensor(x.copy(), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([2, -100, 0, -100]))
    ref, soft = reference(x[[0, 2]], onehot(np.array([2, 0]), 3))
    np.testing.assert_allclose(loss.item(), ref.mean(), rtol=1e-13)
    loss.backward()
    assert np.all(logits.grad.data[[1, 3]] == 0)
    np.testing.assert_allclose(logits.grad.data[[0, 2]], (soft - onehot(np.array([2, 0]), 3)) / 2, rtol=1e-12)
    assert np.isnan(F.cross_entropy(Tensor(x), np.full(4, -100)).item())  # nothing left to average: nan, as torch


def test_target_as_tensor_and_int32():
    x = Tensor(np.random.default_rng(4).standard_normal((3, 5)).astype(np.float32))
    y = np.array([4, 0, 2])
    a = F.cross_entropy(x, y).item()
    assert F.cross_entropy(x, Tensor(y)).item() == a
    assert F.cross_entropy(x, y.astype(np.int32)).item() == a
    assert F.cross_entropy(x, y.astype(np.uint8)).item() == a


@pytest.mark.parametrize("target, opts, error, words", [
    (np.array([0, 1]), {}, ValueError, ["(2,)", "(3, 4)", "(3,)"]),
    (np.array([0, 4, 1]), {}, IndexError, ["4", "4 classes"]),
    (np.array([0, -1, 1]), {}, IndexError, ["-1"]),
    (np.zeros((3, 5)), {}, ValueError, ["(3, 5)", "(3, 4)"]),
    (np.array([True, False, True]), {}, TypeError, ["bool"]),
    (np.array([0, 1, 2]), {"reduction": "avg"}, ValueError, ["reduction", "'avg'"]),
    (np.array([0, 1, 2]), {"label_smoothing": 1.5}, ValueError, ["label_smoothing"]),
])
def test_bad_input_errors_name_the_problem(target, opts, error, words):
    with pytest.raises(error) as e:
        F.cross_entropy(Tensor(np.zeros((3, 4), np.float32)), target, **opts)
    for w in words:
        assert w in str(e.value)
    assert "cross_entropy" in str(e.value)


def test_module_form_settings_and_repr():
    loss_fn = nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.1)
    assert repr(loss_fn) == "CrossEntropyLoss(reduction='sum', label_smoothing=0.1)"
    x = Tensor(np.random.default_rng(5).standard_normal((4, 3)))
    y = np.array([0, 1, 2, 0])
    assert loss_fn(x, y).item() == F.cross_entropy(x, y, reduction="sum", label_smoothing=0.1).item()
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="batchmean")
