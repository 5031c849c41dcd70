"""Layers: `Linear`, the activations, `Flatten`, `Identity`, `Dropout`, `Dropout2d`, and `MLP`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Union

import numpy as np

from tinygrad_np import Tensor, is_grad_enabled

from . import functional as F
from . import init
from .module import Module, ModuleList, Parameter


class Linear(Module):
    """y = x @ Wᵀ + b, with `weight` W of shape (out_features, in_features) and `bias` b of shape (out_features,)
    — PyTorch's layout, so weights can be copied between the two as they are.

    Default initialisation (PyTorch's, exactly): `kaiming_uniform_(weight, a=√5)`, which is
    U(−1/√in_features, 1/√in_features), and the bias from the same U(−1/√in_features, 1/√in_features). Why this
    one: a model ported from PyTorch starts from the same distribution and trains the same way, and a
    1/√fan_in scale keeps each layer's pre-activations of order one for inputs of order one, which trains
    shallow MLPs well. For deep ReLU networks He initialisation (`init.kaiming_normal_(w, nonlinearity='relu')`,
    std √(2/fan_in), about 2.4× larger) keeps activations from shrinking layer by layer; call it after
    construction (or override `reset_parameters`).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(Tensor.empty(self.out_features, self.in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(Tensor.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights (see the class docstring for the distribution)."""
        init.pytorch_default_(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        try:
            return x.linear(self.weight, self.bias)  # what F.linear does, one call fewer
        except ValueError:
            if x.data.shape[-1:] != (self.in_features,):  # name the layer (checked only on failure: costs nothing)
                raise ValueError(f"Linear({self.in_features}, {self.out_features}): input of shape {x.shape} does "
                                 f"not end in {self.in_features} features") from None
            raise

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# ---------------------------------------------------------------------------------------------------- activations


class ReLU(Module):
    """max(x, 0). With `inplace=True` the input itself is overwritten (`x.relu_()`) and returned, as PyTorch's
    `ReLU(inplace=True)`: the same values and gradients; a leaf that requires grad raises, and so does a backward
    that needed the input's old value. (It saves memory only when nothing is recorded, e.g. under `no_grad`: a
    recorded in-place change keeps a copy of the old value in the graph.)"""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return x.relu_() if self.inplace else x.relu()

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x for x > 0, negative_slope · x otherwise. `inplace=True` overwrites the input, as PyTorch's; as there,
    differentiating such an in-place LeakyReLU with a negative slope raises (its backward reads the output, whose
    sign no longer tells the input's when the slope is negative)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        if not self.inplace:
            return x.leakyrelu(self.negative_slope)
        if x.dtype.kind not in "fc":
            raise TypeError(f"LeakyReLU(inplace=True): the input is {x.dtype}; an in-place LeakyReLU needs a "
                            "floating-point tensor (as in PyTorch)")
        tracked = x.requires_grad and is_grad_enabled()
        # x · 1 where x > 0, x · slope elsewhere: bit for bit the out-of-place values (x * slope, slope in x's
        # dtype), and mul_'s gradient g · mask is leakyrelu's. The mask is a constant of the formula.
        mask = np.where(x.data > 0, np.ones((), x.dtype), np.asarray(self.negative_slope, x.dtype))
        x.mul_(mask)
        if tracked and self.negative_slope < 0:
            x.register_hook(_raise_negative_slope_inplace)  # PyTorch raises in backward, not here
        return x

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


def _raise_negative_slope_inplace(grad: Tensor) -> None:
    raise RuntimeError(
        "In-place leakyReLu backward calculation is triggered with a negative slope which is not supported (as in "
        "PyTorch): the output's sign no longer says which inputs were negative. Use LeakyReLU(negative_slope, "
        "inplace=False)."
    )


class Sigmoid(Module):
    """1 / (1 + e⁻ˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class GELU(Module):
    """x·Φ(x) (approximate='tanh' for the tanh formula)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return x.gelu(self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """e^x / Σ e^x along `dim`. For training, give the logits to `CrossEntropyLoss` instead (it is stabler and
    cheaper than a Softmax followed by a log)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)  # dim=None: PyTorch's implicit choice, with its warning

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax along `dim` (pair with `NLLLoss`)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)  # dim=None: PyTorch's implicit choice, with its warning

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# ---------------------------------------------------------------------------------------------------- plumbing


class Flatten(Module):
    """Merge the axes start_dim … end_dim into one; by default everything but the batch axis: (N, …) → (N, D)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input (a placeholder; arguments are accepted and ignored, as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Dropout(Module):
    """Inverted dropout: in training mode zero each element with probability `p` and scale the rest by 1/(1 − p);
    in evaluation mode (`model.eval()`) the identity. The mask comes from `Tensor.manual_seed`'s generator.

    `inplace=True` multiplies the input by the mask in place and returns it (as PyTorch's): the same mask, values
    and gradients as `inplace=False` under the same seed. In evaluation mode, or with p = 0, the input is returned
    untouched (so a leaf that requires grad raises only when it would really be changed, as in PyTorch)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: probability p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        if not self.inplace:
            return F.dropout(x, self.p, self.training)
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x.mul_(0.0)
        # the mask drawn exactly as F.dropout draws it (same generator calls, same scale array): a test checks that
        # both forms give identical values under one seed
        keep = Tensor.rand(*x.shape, dtype=x.dtype).data >= self.p
        return x.mul_(Tensor(keep * np.asarray(1 / (1 - self.p), x.dtype)))

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", inplace=True" if self.inplace else "")


class Dropout2d(Module):
    """Channel dropout (`F.dropout2d`): in training mode each whole channel x[n, c] of an (N, C, H, W) batch is
    zeroed with probability `p` and the others scaled by 1/(1 − p); in evaluation mode the identity. As PyTorch
    2.13's, a 3-D input is taken as (N, C, L) (whole rows dropped, with PyTorch's warning) and other ranks warn.
    `inplace=True` multiplies the input by the mask in place and returns it."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout2d: probability p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", inplace=True" if self.inplace else "")


# ---------------------------------------------------------------------------------------------------- MLP

Activation = Union[type, Module, Callable[[Tensor], Tensor]]


class MLP(Module):
    """A multilayer perceptron from layer sizes: `MLP([784, 128, 64, 10])` is Linear(784→128) → ReLU →
    Linear(128→64) → ReLU → Linear(64→10), with no activation after the last layer (it outputs logits, for
    `cross_entropy`).

    `layer_dims[0]` is the input size and `layer_dims[l]` the size of layer l, as in the classic
    `layer_dims = [n_x, n_h1, …, n_y]` notation; layer l's parameters are `layers.{l-1}.weight` / `.bias`.
    `activation` is a Module class (instantiated once), a Module, or a function such as `F.relu`. With
    `dropout > 0`, a `Dropout(dropout)` follows every hidden activation.
    """

    def __init__(self, layer_dims: Sequence[int], activation: Activation = ReLU, dropout: float = 0.0,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        dims = [int(d) for d in layer_dims]
        if len(dims) < 2:
            raise ValueError(f"MLP: layer_dims needs at least an input and an output size, got {list(layer_dims)}")
        self.layer_dims = dims
        self.layers = ModuleList([Linear(a, b, bias=bias, dtype=dtype) for a, b in zip(dims, dims[1:])])
        self.activation = activation() if isinstance(activation, type) else activation
        if dropout:
            self.dropout = Dropout(dropout)
        else:
            self.dropout = None

    def forward(self, x: Tensor) -> Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = self.activation(x)
                if self.dropout is not None:
                    x = self.dropout(x)
        return x

    def extra_repr(self) -> str:
        return f"layer_dims={self.layer_dims}"
