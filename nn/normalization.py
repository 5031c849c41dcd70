"""Batch normalisation: `BatchNorm1d`, `BatchNorm2d`, the functional `batch_norm`, and its fused primitive.

Normalising a batch with the Tensor ops we have (mean, subtract, var, rsqrt, multiply) would work, and autograd
would derive the backward; but it takes about a dozen passes over the activations each way. `BatchNormFunction`
does it in a few, with the classic closed-form gradient written out in its docstring (and checked by gradcheck).
Its backward is written with operators and polymorphic helpers, so it is differentiable again (create_graph).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_np import Tensor
from tinygrad_np import polymorphic as P
from tinygrad_np.ops import Primitive

from . import init
from .functional import _imul, _isub
from .module import Module, Parameter


def _per_channel_sum(a: Any, b: Any = None) -> Any:
    """Σ a (or Σ a·b) over every axis but the channel axis 1, shape (C,). On arrays einsum does it without a
    temporary, in any layout; with a Tensor among them it is the recorded product and sum."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        axes = "nc" + "hwd"[:a.ndim - 2]  # e.g. "nchw"
        return np.einsum(f"{axes}->c", a) if b is None else np.einsum(f"{axes},{axes}->c", a, b)
    prod = a if b is None else a * b
    return P.sum(prod, (0, *range(2, len(prod.shape))))


def _rsqrt(a: Any) -> Any:
    """1/√a, on an array or a Tensor."""
    return a.rsqrt() if isinstance(a, Tensor) else 1 / np.sqrt(a)


class BatchNormFunction(Primitive):
    """y = γ·x̂ + β per channel c (axis 1), with x̂ = (x − μ)/√(σ² + ε).

    With `batch_stats` (training), μ and σ² are the batch's mean and biased variance over the m = x.size / C
    values of each channel, so they depend on x; with g the incoming gradient:

        dβ = Σ g,    dγ = Σ g·x̂,    dx = γ/√(σ² + ε) · (g − (dβ + x̂·dγ) / m)          (sums per channel)

    Otherwise μ and σ² are given (the running estimates, constants) and dx = γ/√(σ² + ε) · g.
    Inputs: x, then γ and β (both or neither). With `batch_stats`, the batch's μ and σ² are folded into
    `running` = (running_mean, running_var) in place: r ← (1 − momentum)·r + momentum·stat, the variance
    estimate unbiased (× m/(m − 1)), as PyTorch does.

    Backward recomputes μ, σ² and x̂ from the saved x (by the forward's own arithmetic, so to the same values):
    the node keeps nothing derived from its inputs, and the same formula, recorded on Tensors under create_graph,
    is differentiated again — through μ and σ² too.
    """

    saves_inputs = True
    constants = ("mean", "inv_std")  # evaluation: from the running estimates, which get no gradient

    def inputs_read(self):
        return (True, True, False)[:len(self.parents)]  # x and γ; β never

    def forward(self, x, *affine, mean=None, var=None, eps=1e-5, batch_stats=True, running=None, momentum=0.1):
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)  # per-channel values broadcast against x
        m = x.size // x.shape[1]
        if batch_stats:
            mean = _per_channel_sum(x) / m
            xhat = x - mean.reshape(shape)
            var = _per_channel_sum(xhat, xhat) / m
            if running is not None:
                running_mean, running_var = running
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += momentum * m / (m - 1) * var
            self.mean = self.inv_std = None
        else:
            # a copy: the running estimates may move (a later training step) before this node's backward
            self.mean = mean.reshape(shape).astype(x.dtype)  # (a copy)
            xhat = x - self.mean
        inv_std = _rsqrt(var + eps).astype(x.dtype, copy=False)
        xhat *= inv_std.reshape(shape)  # xhat is a fresh array: normalise it in place
        if not batch_stats:
            self.inv_std = inv_std.reshape(shape)
        self.x, self.gamma = x, (affine[0] if affine else None)
        self.shape, self.m, self.eps, self.batch_stats = shape, m, eps, batch_stats
        return xhat * affine[0].reshape(shape) + affine[1].reshape(shape) if affine else xhat

    def backward(self, g):
        x, gamma, shape, m = self.x, self.gamma, self.shape, self.m
        needs = self.needs_input_grad
        need_x = needs[0]
        need_gamma, need_beta = (needs[1], needs[2]) if gamma is not None else (False, False)
        stats = self.batch_stats
        if stats:  # the batch's statistics, as forward computed them
            xc = x - (_per_channel_sum(x) / m).reshape(shape)
            inv_std = _rsqrt(_per_channel_sum(xc, xc) / m + self.eps).reshape(shape)
        else:
            xc, inv_std = (x - self.mean if need_gamma else None), self.inv_std
        d_beta = _per_channel_sum(g) if need_beta or (stats and need_x) else None  # Σ g
        d_gamma = _per_channel_sum(g, xc) * inv_std.reshape(-1) if need_gamma or (stats and need_x) else None  # Σ g·x̂
        dx = None
        if need_x:
            scale = inv_std if gamma is None else gamma.reshape(shape) * inv_std  # dy/dx at fixed μ and σ²
            dx = g * scale
            if stats:  # μ and σ² moved with x: subtract their share, (dβ + x̂·dγ)/m, scaled like g
                share = _imul(xc, inv_std * d_gamma.reshape(shape) * scale / m)  # xc is not needed any more
                dx = _isub(_isub(dx, share), d_beta.reshape(shape) * scale / m)
        if gamma is None:
            return dx
        return dx, (d_gamma if need_gamma else None), (d_beta if need_beta else None)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalisation over axis 1 (channels), as `torch.nn.functional.batch_norm`.

    `training=True`: normalise with the batch's statistics and, if running_mean/running_var are given, update
    them in place. `training=False`: normalise with running_mean/running_var.
    """
    c = input.shape[1] if input.ndim >= 2 else None
    if c is None:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got shape {input.shape}")
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) for an input of shape {input.shape}, "
                             f"got {t.shape}")
    if (weight is None) != (bias is None):
        raise ValueError("batch_norm: give both weight and bias, or neither")
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.requires_grad:  # as PyTorch: the running estimates are constants of the op
            raise RuntimeError(f"batch_norm: {name} requires grad, but batch_norm is not differentiable with respect "
                               f"to {name} (as in PyTorch); pass {name}.detach()")
    affine = () if weight is None else (weight, bias)
    if training:
        if input.numel() // c <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input shape "
                             f"{input.shape}")
        running = None if running_mean is None else (running_mean.data, running_var.data)
        return BatchNormFunction.apply(input, *affine, eps=eps, batch_stats=True, running=running,
                                       momentum=momentum)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are needed when not training")
    return BatchNormFunction.apply(input, *affine, mean=running_mean.data, var=running_var.data, eps=eps,
                                   batch_stats=False)


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ only in the input shapes they accept."""

    input_dims: tuple[int, ...]
    shape_text: str

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(Tensor.ones(num_features, dtype=dtype))
            self.bias = Parameter(Tensor.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", Tensor.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.input_dims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected an input of shape "
                             f"{self.shape_text.format(c=self.num_features)}, got shape {x.shape}")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if momentum is None:  # a cumulative average of every batch's statistics so far
                momentum = 1.0 / int(self.num_batches_tracked.data)
        # Without running estimates, the batch's statistics are used in evaluation too (as in PyTorch).
        use_batch_stats = self.training or not self.track_running_stats
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch_stats,
                          momentum or 0.0, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Normalise each feature of an (N, C) or (N, C, L) batch over the batch (and L), then scale and shift.

    Training: y = γ·(x − μ_B)/√(σ²_B + ε) + β with the batch's mean μ_B and biased variance σ²_B per channel,
    and the running estimates move: r ← (1 − momentum)·r + momentum·stat, using the unbiased variance (PyTorch's
    rule; momentum=None averages all batches equally). Evaluation (`model.eval()`): the running estimates replace
    the batch's. `weight` γ starts at 1, `bias` β at 0; running_mean, running_var and num_batches_tracked are
    buffers, saved in `state_dict()`.
    """

    input_dims = (2, 3)
    shape_text = "(N, {c}) or (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    """BatchNorm1d's normalisation for an (N, C, H, W) batch: statistics per channel over N, H and W."""

    input_dims = (4,)
    shape_text = "(N, {c}, H, W)"
