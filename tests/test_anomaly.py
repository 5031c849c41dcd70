"""Anomaly detection: `detect_anomaly()` and `set_detect_anomaly(True)` make backward raise where a NaN or an
infinity is born, naming the op, the input, and the line of the user's code whose forward made the node."""
import threading

import numpy as np
import pytest

from tinygrad_np import Function, Tensor, detect_anomaly, set_detect_anomaly
from tinygrad_np import autograd as ag

torch = pytest.importorskip("torch")

THIS_FILE = __file__.rsplit("/", 1)[-1]


def ours(a, requires_grad=False):
    return Tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


@pytest.fixture(autouse=True)
def _anomaly_off_afterwards():
    yield
    set_detect_anomaly(False)


def _raised(fn):
    with pytest.raises(RuntimeError) as info:
        fn()
    return str(info.value)


def test_sqrt_at_zero_names_the_op_the_input_and_the_forward_line():
    x = ours([0.0, 1.0, 4.0], True)
    with ag.detect_anomaly():
        y = x.sqrt()  # the line the message must show
        message = _raised(lambda: (y * 2).sum().backward())
    assert "Sqrt" in message and "input 0" in message and "inf" in message
    assert THIS_FILE in message and "y = x.sqrt()  # the line the message must show" in message
    assert not ag.is_anomaly_enabled()  # off again after the context


def test_a_nan_from_a_pytorch_style_function():
    class Broken(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    x = ours([1.0, 2.0], True)
    with detect_anomaly():
        h = x * 3
        y = Broken.apply(h)  # the user's call
        message = _raised(lambda: y.sum().backward())
    assert "Broken" in message and "nan" in message and "input 0" in message
    assert "y = Broken.apply(h)  # the user's call" in message
    assert x.grad is None  # raised before anything reached the leaf


def test_a_nan_from_an_array_style_function_called_directly():
    class BrokenArrays(Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return g * np.nan

    x = ours([1.0, 2.0], True)
    set_detect_anomaly(True)
    y = BrokenArrays.apply(x)  # called directly: no Tensor method in between
    message = _raised(lambda: y.sum().backward())
    assert "BrokenArrays" in message and "y = BrokenArrays.apply(x)  # called directly" in message
    set_detect_anomaly(False)
    assert not ag.is_anomaly_enabled()


def test_a_nan_born_in_the_middle_of_the_graph_is_blamed_where_it_is_born():
    x = ours([0.0, 1.0], True)
    with detect_anomaly():
        a = x * 1
        b = a.log()  # -inf at 0: the forward value is infinite; its backward divides by 0
        c = b.where(ours([0.0, 1.0]) > 0, 0.0)  # the infinite value is masked away ...
        message = _raised(lambda: (c * 2).sum().backward())  # ... but Log's backward gives 0/0 = nan
    assert "Log" in message and "nan" in message and "b = a.log()" in message
    assert "Where" not in message.split("Its forward ran here")[0] and "Mul" not in message.split("Its forward")[0]


def test_no_false_alarm_when_every_gradient_is_finite():
    x = ours([np.inf, -1.0, 2.0], True)  # an infinite value in the forward pass, finite gradients throughout
    with detect_anomaly():
        y = (x * 2 + 1).relu().sum() + (x * 0.5).sum()
        y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.5, 0.5, 2.5])


def test_off_by_default_and_after_the_context():
    x = ours([0.0, 1.0], True)
    y = x.sqrt()
    y.sum().backward()  # an infinite gradient, no error: as PyTorch without anomaly mode
    assert np.isinf(x.grad.data[0])
    with detect_anomaly():
        pass
    x.grad = None
    x.sqrt().sum().backward()
    assert np.isinf(x.grad.data[0])


def test_set_detect_anomaly_as_a_context_manager_restores_the_setting():
    assert not ag.is_anomaly_enabled()
    with set_detect_anomaly(True):
        assert ag.is_anomaly_enabled()
        with set_detect_anomaly(False):
            assert not ag.is_anomaly_enabled()
        assert ag.is_anomaly_enabled()
    assert not ag.is_anomaly_enabled()
    set_detect_anomaly(True)  # a plain call stays in force, as torch's
    assert ag.is_anomaly_enabled()
    assert torch.autograd.set_detect_anomaly(False) is not None  # (torch's is a context manager object too)


def test_a_node_made_before_anomaly_mode_says_so():
    x = ours([0.0, 1.0], True)
    y = x.sqrt()
    with detect_anomaly():
        message = _raised(lambda: y.sum().backward())
    assert "Sqrt" in message and "not recorded" in message


def test_anomaly_mode_is_one_setting_for_the_process_as_in_torch():
    seen = []
    with detect_anomaly():
        t = threading.Thread(target=lambda: seen.append(ag.is_anomaly_enabled()))
        t.start()
        t.join()
    with torch.autograd.detect_anomaly():
        t = threading.Thread(target=lambda: seen.append(torch.is_anomaly_enabled()))
        t.start()
        t.join()
    assert seen == [True, True]
