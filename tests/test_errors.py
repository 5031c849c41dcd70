"""Bad input gets a clear error that names the op and the shapes involved."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tinygrad_np import Function, Tensor, cat, stack, where


def t(*shape, dtype=np.float64, requires_grad=True) -> Tensor:
    return Tensor(np.zeros(shape, dtype), requires_grad=requires_grad)


def names(*parts: str) -> str:
    """A regex matching a message that mentions all `parts`, in order."""
    return ".*".join(re.escape(p) for p in parts)


def test_matmul_inner_dimension_mismatch():
    with pytest.raises(ValueError, match=names("Matmul", "(2, 3)", "(4, 5)")):
        t(2, 3) @ t(4, 5)
    with pytest.raises(ValueError, match=names("Matmul", "(3,)", "(2,)")):
        t(3) @ t(2)
    with pytest.raises(ValueError, match=names("Matmul", "(2, 3)", "(2, 3)")):
        t(2, 3).matmul(t(2, 3))


def test_matmul_batch_mismatch_and_0d():
    with pytest.raises(ValueError, match=names("Matmul", "(2, 2, 3)", "(3, 3, 4)")):
        t(2, 2, 3) @ t(3, 3, 4)
    with pytest.raises(ValueError, match=names("Matmul", "0-d", "(2, 3)", "()")):
        t(2, 3) @ t()


@pytest.mark.parametrize("op, name", [(lambda a, b: a + b, "Add"), (lambda a, b: a - b, "Sub"),
                                      (lambda a, b: a * b, "Mul"), (lambda a, b: a / b, "Div"),
                                      (lambda a, b: a**b, "Pow"), (Tensor.maximum, "Maximum")])
def test_broadcast_mismatch_names_the_op_and_shapes(op, name):
    with pytest.raises(ValueError, match=names(name, "(2, 3)", "(4,)")):
        op(t(2, 3), t(4))


def test_where_broadcast_mismatch():
    with pytest.raises(ValueError, match=names("Where", "(2, 3)")):
        where(np.ones(4, bool), t(2, 3), 0.0)


def test_reshape_to_an_impossible_shape():
    with pytest.raises(ValueError, match=names("Reshape", "(2, 3)", "(4,)")):
        t(2, 3).reshape(4)
    with pytest.raises(ValueError, match=names("Reshape", "(2, 3)", "unknown")):
        t(2, 3).reshape(-1, -1)


@pytest.mark.parametrize("dims, error", [((0, 0), ValueError), ((0,), ValueError), ((0, 1, 2), IndexError),
                                         ((0, 3), IndexError), ((0, -3), IndexError)])
def test_bad_permute(dims, error):
    with pytest.raises(error, match=names("permute", "(2, 3)")):
        t(2, 3).permute(*dims)


@pytest.mark.parametrize("call", [lambda x: x.transpose(0, 2), lambda x: x.transpose(-3, 0),
                                  lambda x: x.unsqueeze(3), lambda x: x.unsqueeze(-4),
                                  lambda x: x.flatten(2), lambda x: x.flatten(0, 5),
                                  lambda x: stack([x, x], dim=3), lambda x: cat([x, x], dim=2),
                                  lambda x: x.sum(2), lambda x: x.mean((0, -3)), lambda x: x.softmax(2),
                                  lambda x: x.squeeze(2), lambda x: x.flip(2), lambda x: x.max(dim=-3)])
def test_dimension_out_of_range_is_an_error_not_a_wrap_around(call):
    with pytest.raises(IndexError, match=r"out of range.*\(2, 3\)"):
        call(t(2, 3))


def test_flatten_start_after_end():
    with pytest.raises(ValueError, match=names("flatten", "(2, 3, 4)")):
        t(2, 3, 4).flatten(2, 1)


def test_axis_and_dim_together():
    with pytest.raises(TypeError, match="axis or dim"):
        t(2, 3).sum(0, axis=1)  # (the first positional argument is dim, as in PyTorch)


def test_cat_of_mismatched_shapes():
    with pytest.raises(ValueError, match=names("Cat", "(2, 3)", "(2, 4)")):
        cat([t(2, 3), t(2, 4)], dim=0)
    with pytest.raises(ValueError, match=names("Cat", "(2, 3)", "(3,)")):
        cat([t(2, 3), t(3)])
    with pytest.raises(ValueError, match=names("Cat", "zero-dimensional")):
        cat([t(), t()])
    with pytest.raises(ValueError, match=names("Cat", "(1, 2, 3)", "(1, 3, 2)")):
        stack([t(2, 3), t(3, 2)])


def test_expand_to_an_incompatible_shape():
    with pytest.raises(ValueError, match=names("Expand", "(2, 3)", "(2,4)")):
        t(2, 3).expand(2, 4)
    with pytest.raises(ValueError, match=names("expand", "(2, 3)", "(3,)")):
        t(2, 3).expand(3)
    with pytest.raises(ValueError, match=names("expand", "-1", "new leading axis", "(-1, 3)", "(3,)")):
        t(3).expand(-1, 3)  # -1 would otherwise silently wrap around to the last axis's size


@pytest.mark.parametrize("pad", [(1,), (1, 1, 1, 1, 1, 1), [(1, 1)]])
def test_bad_pad(pad):
    with pytest.raises(ValueError, match=names("pad", str(tuple(pad)))):
        t(2, 3).pad(pad)


def test_pad_that_crops_more_than_there_is():
    # negative widths crop, as PyTorch's F.pad; cropping past the size raises (RuntimeError, as PyTorch)
    assert t(2, 3).pad((-1, 1)).shape == (2, 3)
    with pytest.raises(RuntimeError, match=names("pad", "crop", "(2, 3)")):
        t(2, 3).pad((-2, -2))


def test_repeat_with_too_few_sizes():
    with pytest.raises(ValueError, match=names("repeat", "(2, 3)", "(2,)")):
        t(2, 3).repeat(2)


@pytest.mark.parametrize("index", [5, (0, 0, 0), 1.5, [0, 7]])
def test_bad_index(index):
    with pytest.raises(IndexError, match=names("GetItem", "(2, 3)")):
        t(2, 3)[index]


def test_max_of_empty():
    with pytest.raises(ValueError, match=names("max", "empty", "(0, 3)")):
        t(0, 3).max()
    with pytest.raises(ValueError, match=names("max", "empty", "(0, 3)")):
        t(0, 3).min(0)
    assert t(0, 3).max(1).values.shape == (0,)  # nothing empty is reduced: an empty result, as PyTorch


def test_bad_op_options():
    with pytest.raises(ValueError, match="clip.*min and max"):
        t(2).clip()
    with pytest.raises(ValueError, match=names("Gelu", "(2,)", "approximate", "'fast'")):
        t(2).gelu(approximate="fast")


def test_non_float_requires_grad():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point.*bool"):
        t(2, dtype=bool, requires_grad=False).requires_grad_()


def test_backward_twice():
    y = (t(3) * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=names("second time", "Sum", "retain_graph=True")):
        y.backward()


def test_backward_needs_a_gradient_of_the_right_shape():
    y = t(2, 3) * 2.0
    with pytest.raises(RuntimeError, match=names("one-element", "(2, 3)", "gradient=")):
        y.backward()
    with pytest.raises(RuntimeError, match=names("gradient", "(3,)", "(2, 3)")):  # PyTorch: RuntimeError too
        y.backward(np.ones(3))


def test_user_function_returning_the_wrong_number_of_gradients():
    class Bad(Function):
        def forward(self, x, y):
            return x + y

        def backward(self, g):
            return g  # one gradient for two inputs

    z = Bad.apply(t(2), t(2))
    with pytest.raises(RuntimeError, match=names("Bad.backward", "1 gradients", "2 inputs")):
        z.backward(np.ones(2))


def test_user_function_returning_a_gradient_of_the_wrong_shape():
    class Bad(Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return np.ones(7)

    z = Bad.apply(t(2, 3))
    with pytest.raises(RuntimeError, match=names("Bad.backward", "(7,)", "(2, 3)")):
        z.backward(np.ones((2, 3)))


def test_function_without_backward():
    class NoBackward(Function):
        def forward(self, x):
            return x * 2

    with pytest.raises(NotImplementedError, match="NoBackward.backward"):
        NoBackward.apply(t(2)).sum().backward()
