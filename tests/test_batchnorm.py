"""BatchNorm1d / BatchNorm2d: train and eval behaviour and the running statistics against their formulas
(PyTorch's: momentum 0.1, eps 1e-5, unbiased variance in the running estimate, biased in the normalisation),
gradients by gradcheck, clear errors, the state_dict round trip, and PyTorch as a second reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import arrays, cotangents

import nn
from nn.normalization import BatchNorm1d, BatchNorm2d, batch_norm
from tinygrad_np import Tensor, gradcheck, no_grad

EPS = 1e-5


def leaf(a: np.ndarray) -> Tensor:
    return Tensor(a, requires_grad=True)


def channel_axes(x: np.ndarray) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def formula(x, mean, var, gamma, beta):
    """y = γ (x − μ) / √(σ² + ε) + β, per channel."""
    n = x.ndim
    xhat = (x - per_channel(mean, n)) / np.sqrt(per_channel(var, n) + EPS)
    return per_channel(gamma, n) * xhat + per_channel(beta, n)


def float64_module(cls, c, **kwargs):
    m = cls(c, dtype=np.float64, **kwargs)
    rng = np.random.default_rng(0)
    if m.affine:
        m.weight.data[...] = rng.uniform(0.5, 2, c)
        m.bias.data[...] = rng.standard_normal(c)
    return m


SHAPES = [(BatchNorm1d, (6, 3)), (BatchNorm1d, (4, 3, 5)), (BatchNorm2d, (4, 3, 2, 5))]


@pytest.mark.parametrize("cls, shape", SHAPES)
def test_training_normalises_with_batch_statistics_and_updates_running_ones(cls, shape):
    m = float64_module(cls, shape[1])
    rng = np.random.default_rng(1)
    running_mean, running_var = np.zeros(shape[1]), np.ones(shape[1])
    for step in range(1, 4):
        x = rng.standard_normal(shape) * 3 + 2
        y = m(Tensor(x))
        axes = channel_axes(x)
        mean, biased = x.mean(axis=axes), x.var(axis=axes)
        np.testing.assert_allclose(y.data, formula(x, mean, biased, m.weight.data, m.bias.data), rtol=1e-12, atol=1e-12)
        count = x.size // shape[1]
        running_mean = 0.9 * running_mean + 0.1 * mean
        running_var = 0.9 * running_var + 0.1 * biased * count / (count - 1)  # unbiased in the running estimate
        np.testing.assert_allclose(m.running_mean.data, running_mean, rtol=1e-12)
        np.testing.assert_allclose(m.running_var.data, running_var, rtol=1e-12)
        assert int(m.num_batches_tracked.data) == step
    # each channel of the training output has mean β and standard deviation γ (up to ε)
    np.testing.assert_allclose(y.data.mean(axis=axes), m.bias.data, atol=1e-12)


@pytest.mark.parametrize("cls, shape", SHAPES)
def test_eval_uses_running_statistics_and_changes_nothing(cls, shape):
    m = float64_module(cls, shape[1])
    rng = np.random.default_rng(2)
    for _ in range(2):
        m(Tensor(rng.standard_normal(shape) + 1))
    m.eval()
    state = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    x = rng.standard_normal(shape)
    y = m(Tensor(x))
    np.testing.assert_allclose(y.data, formula(x, m.running_mean.data, m.running_var.data, m.weight.data,
                                               m.bias.data), rtol=1e-12, atol=1e-12)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k])  # no statistic moved, no batch was counted
    # in eval each sample is normalised on its own: the result does not depend on the rest of the batch
    np.testing.assert_allclose(m(Tensor(x[:1])).data, y.data[:1], rtol=1e-12)
    m.train()
    assert not np.allclose(m(Tensor(x)).data, y.data)


def test_momentum_none_is_a_cumulative_average():
    m = BatchNorm1d(2, momentum=None, dtype=np.float64)
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((5, 2)) * (i + 1) + i for i in range(4)]
    for x in batches:
        m(Tensor(x))
    np.testing.assert_allclose(m.running_mean.data, np.mean([x.mean(axis=0) for x in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(m.running_var.data, np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0),
                               rtol=1e-12)


def test_without_running_stats_eval_uses_the_batch_and_nothing_is_saved():
    m = BatchNorm2d(3, track_running_stats=False, dtype=np.float64)
    assert list(m.state_dict()) == ["weight", "bias"]
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 4))
    m.eval()
    np.testing.assert_allclose(m(Tensor(x)).data, formula(x, x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)),
                                                         np.ones(3), np.zeros(3)), rtol=1e-12, atol=1e-12)


def test_affine_false_has_no_parameters():
    m = BatchNorm1d(3, affine=False, dtype=np.float64)
    assert list(m.parameters()) == []
    assert list(m.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    x = np.random.default_rng(5).standard_normal((4, 3))
    np.testing.assert_allclose(m(Tensor(x)).data, formula(x, x.mean(0), x.var(0), np.ones(3), np.zeros(3)),
                               rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------------- gradients


@st.composite
def bn_inputs(draw):
    ndim = draw(st.sampled_from([2, 3, 4]))
    c = draw(st.integers(1, 3))
    shape = (draw(st.integers(2, 3)), c) + tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2))
    x = draw(arrays(shape))
    gamma = draw(arrays((c,), lo=0.5, hi=2))
    beta = draw(arrays((c,)))
    return x, gamma, beta


@settings(max_examples=25, deadline=None)
@given(bn_inputs())
def test_training_gradcheck(inputs):
    """Batch statistics depend on x: its gradient has the two extra terms; γ and β are plain per-channel sums."""
    x, gamma, beta = inputs
    assert gradcheck(lambda t, g, b: batch_norm(t, None, None, g, b, training=True), leaf(x), leaf(gamma), leaf(beta))
    assert gradcheck(lambda t: batch_norm(t, None, None, training=True), leaf(x))


@settings(max_examples=15, deadline=None)
@given(bn_inputs())
def test_eval_gradcheck(inputs):
    x, gamma, beta = inputs
    c = x.shape[1]
    mean, var = Tensor(np.linspace(-1, 1, c)), Tensor(np.linspace(0.5, 2, c))
    assert gradcheck(lambda t, g, b: batch_norm(t, mean, var, g, b, training=False), leaf(x), leaf(gamma), leaf(beta))


def test_training_gradient_closed_form():
    """dx = γ/√(σ² + ε) · (g − mean(g) − x̂ · mean(g·x̂)), the means per channel (the formula in the docstring)."""
    rng = np.random.default_rng(6)
    x, g = rng.standard_normal((5, 2, 3, 3)), cotangents((5, 2, 3, 3))
    gamma = np.array([1.5, 0.5])
    xt, gt, bt = leaf(x), leaf(gamma), leaf(np.zeros(2))
    batch_norm(xt, None, None, gt, bt, training=True).backward(g)
    axes = (0, 2, 3)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + EPS)
    expected = per_channel(gamma, 4) / np.sqrt(var + EPS) * (
        g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))
    np.testing.assert_allclose(xt.grad.data, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gt.grad.data, (g * xhat).sum(axis=axes), rtol=1e-10)
    np.testing.assert_allclose(bt.grad.data, g.sum(axis=axes), rtol=1e-10)


def test_running_statistics_are_not_part_of_the_graph():
    m = BatchNorm2d(2)
    x = leaf(np.random.default_rng(7).standard_normal((3, 2, 2, 2)).astype(np.float32))
    m(x).backward(cotangents((3, 2, 2, 2)).astype(np.float32))
    assert not m.running_mean.requires_grad and m.running_mean.grad is None
    assert x.grad.dtype == m.weight.grad.dtype == np.float32


def test_works_under_no_grad_and_float32():
    m = BatchNorm2d(2)
    with no_grad():
        y = m(Tensor.randn(4, 2, 3, 3))
    assert y.dtype == np.float32 and not y.requires_grad and int(m.num_batches_tracked.data) == 1


# ------------------------------------------------------------------------------------------------------ errors


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected an input of shape \(N, 3, H, W\), got shape "
                                         r"\(2, 3, 4\)"):
        BatchNorm2d(3)(Tensor.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected an input of shape \(N, 3\) or \(N, 3, L\), "
                                         r"got shape \(2, 4\)"):
        BatchNorm1d(3)(Tensor.zeros(2, 4))
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when training, got "
                                         r"input shape \(1, 3\)"):
        BatchNorm1d(3)(Tensor.zeros(1, 3))
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\) for an input of shape "
                                         r"\(2, 3\), got \(2,\)"):
        batch_norm(Tensor.zeros(2, 3), None, None, Tensor.ones(2), Tensor.zeros(2), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean and running_var are needed when not training"):
        batch_norm(Tensor.zeros(2, 3), None, None, training=False)


# ------------------------------------------------------------------------------------------------ state round trip


def test_state_dict_round_trip_restores_running_statistics(tmp_path):
    rng = np.random.default_rng(8)
    model = nn.Sequential(nn.Linear(4, 3), BatchNorm1d(3))
    for _ in range(3):
        model(Tensor(rng.standard_normal((8, 4)).astype(np.float32)))
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                           "1.num_batches_tracked"]
    nn.save(state, tmp_path / "bn.npz")
    fresh = nn.Sequential(nn.Linear(4, 3), BatchNorm1d(3))
    fresh.load_state_dict(nn.load(tmp_path / "bn.npz"))
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[key].numpy())
    assert int(fresh[1].num_batches_tracked.data) == 3 and fresh[1].num_batches_tracked.dtype == np.int64
    x = Tensor(rng.standard_normal((5, 4)).astype(np.float32))
    model.eval(), fresh.eval()
    np.testing.assert_array_equal(fresh(x).data, model(x).data)


# ----------------------------------------------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("cls, shape", SHAPES)
def test_matches_pytorch_train_then_eval(cls, shape):
    torch = pytest.importorskip("torch")
    ours = float64_module(cls, shape[1])
    theirs = getattr(torch.nn, cls.__name__)(shape[1]).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(9)
    for mode in ("train", "train", "eval"):
        getattr(ours, mode)(), getattr(theirs, mode)()
        x, g = rng.standard_normal(shape) * 2 + 1, cotangents(shape)
        xt, tx = leaf(x), torch.tensor(x, requires_grad=True)
        y, ty = ours(xt), theirs(tx)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        y.backward(g)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        ours.zero_grad(), theirs.zero_grad()
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-12)
