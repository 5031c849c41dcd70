"""nn.init: distributions (bounds, mean, std from the fans and gains), in-place filling, seeding, errors."""
import math

import numpy as np
import pytest

import nn
from nn import init
from tinygrad_np import Tensor

SHAPE = (300, 200, 3)  # fan_in = 600, fan_out = 900; 180,000 draws: std estimates within ~0.2 %


def fill(fn, *args, shape=SHAPE, dtype=np.float32, **kwargs):
    t = Tensor(np.full(shape, np.nan, dtype))
    arr = t.data
    out = fn(t, *args, **kwargs)
    assert out is t and t.data is arr  # filled in place, the tensor returned
    assert t.dtype == dtype and not np.isnan(t.data).any()
    return t.data.astype(np.float64)


def check_normal(x, mean, std):
    assert abs(x.mean() - mean) < 0.01 * std + 1e-12
    assert abs(x.std() - std) < 0.01 * std


def check_uniform(x, lo, hi):
    assert x.min() >= lo and x.max() <= hi
    assert x.min() < lo + 0.001 * (hi - lo) and x.max() > hi - 0.001 * (hi - lo)
    assert abs(x.std() - (hi - lo) / math.sqrt(12)) < 0.01 * (hi - lo)


def test_fans_and_gains():
    assert init._calculate_fan_in_and_fan_out(Tensor.zeros(*SHAPE)) == (600, 900)
    assert init._calculate_fan_in_and_fan_out(Tensor.zeros(4, 7)) == (7, 4)
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("linear") == init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    with pytest.raises(ValueError, match="nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_basic_fills():
    check_uniform(fill(init.uniform_, -2, 3), -2, 3)
    check_uniform(fill(init.uniform_), 0, 1)
    check_normal(fill(init.normal_, 1.5, 0.2), 1.5, 0.2)
    np.testing.assert_array_equal(fill(init.zeros_, shape=(3, 2)), 0)
    np.testing.assert_array_equal(fill(init.ones_, shape=(3, 2)), 1)
    np.testing.assert_array_equal(fill(init.constant_, 0.25, shape=(3, 2)), 0.25)
    assert fill(init.normal_, shape=(2, 2), dtype=np.float64).dtype == np.float64


def test_xavier():
    a = math.sqrt(6 / (600 + 900))
    check_uniform(fill(init.xavier_uniform_), -a, a)
    check_uniform(fill(init.xavier_uniform_, gain=2.0), -2 * a, 2 * a)
    check_normal(fill(init.xavier_normal_), 0, math.sqrt(2 / 1500))
    check_normal(fill(init.xavier_normal_, gain=5 / 3), 0, 5 / 3 * math.sqrt(2 / 1500))


def test_kaiming():
    # PyTorch's default nonlinearity is leaky_relu with slope a = 0: gain √2
    check_normal(fill(init.kaiming_normal_), 0, math.sqrt(2) / math.sqrt(600))
    check_normal(fill(init.kaiming_normal_, mode="fan_out", nonlinearity="relu"), 0, math.sqrt(2 / 900))
    check_normal(fill(init.kaiming_normal_, a=0.5), 0, math.sqrt(2 / 1.25) / math.sqrt(600))
    b = math.sqrt(3) * math.sqrt(2) / math.sqrt(600)
    check_uniform(fill(init.kaiming_uniform_), -b, b)
    check_uniform(fill(init.kaiming_uniform_, a=math.sqrt(5)), -1 / math.sqrt(600), 1 / math.sqrt(600))
    check_uniform(fill(init.kaiming_uniform_, nonlinearity="tanh", mode="fan_out"),
                  -math.sqrt(3) * 5 / 3 / 30, math.sqrt(3) * 5 / 3 / 30)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(Tensor.zeros(3, 3), mode="fan_avg")


def test_needs_two_dimensions_for_fans():
    with pytest.raises(ValueError, match=r"\(5,\)"):
        init.xavier_uniform_(Tensor.zeros(5))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.kaiming_normal_(Tensor.zeros(5))


def test_reproducible_under_manual_seed_and_works_on_parameters():
    results = []
    for _ in range(2):
        Tensor.manual_seed(42)
        p = nn.Parameter(Tensor.zeros(20, 10))
        init.kaiming_normal_(p, nonlinearity="relu")
        init.xavier_uniform_(p)  # the generator advances: a second draw differs from the first
        results.append(p.data.copy())
        assert p.requires_grad and p.grad is None
    np.testing.assert_array_equal(results[0], results[1])
    Tensor.manual_seed(43)
    assert not np.array_equal(init.xavier_uniform_(Tensor.zeros(20, 10)).data, results[0])


def test_matches_torch_distribution_parameters():
    torch = pytest.importorskip("torch")
    # same bounds / stds as torch for the same shape (values differ: different generators)
    t = torch.empty(64, 32, 3)
    ours = Tensor.zeros(64, 32, 3)
    torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    init.kaiming_uniform_(ours, a=math.sqrt(5))
    bound = 1 / math.sqrt(96)
    assert t.abs().max().item() <= bound and np.abs(ours.data).max() <= bound
    assert torch.nn.init.calculate_gain("leaky_relu", 0.3) == pytest.approx(init.calculate_gain("leaky_relu", 0.3))
    assert torch.nn.init._calculate_fan_in_and_fan_out(t) == init._calculate_fan_in_and_fan_out(ours)
