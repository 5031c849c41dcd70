"""Gradient clipping, as `torch.nn.utils`: `clip_grad_norm_`, `clip_grad_value_`, and the two halves of the first,
`get_total_norm` and `clip_grads_with_norm_`.

Call them between `loss.backward()` and `optimizer.step()`. They change the gradients in place (each `p.grad`
keeps its array; its version counter is bumped, as by any in-place op) and record nothing in the graph. Parameters
may be given as one Tensor or an iterable of them; those whose `.grad` is None are skipped. The arithmetic is
PyTorch's, step by step, in each tensor's dtype: a per-tensor p-norm, the p-norm of those norms, and the clip
coefficient (1 / (total_norm + 1e-6)) · max_norm capped at 1, by which every gradient is multiplied — even when it
is 1, so a NaN or infinite total norm spreads to the gradients as it does in PyTorch (unless error_if_nonfinite).
`foreach` is accepted for PyTorch's signature; it changes nothing here.
"""
from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable
from typing import Any, Union

import numpy as np

from tinygrad_np import Tensor, no_grad
from tinygrad_np import polymorphic as P
from tinygrad_np.capture.trace import branch

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]

Tensors = Union[Tensor, Iterable[Tensor]]


def _as_list(tensors: Tensors) -> list[Any]:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _grads(parameters: list[Any]) -> list[Tensor]:
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(a: np.ndarray, p: float) -> np.ndarray:
    """‖a‖_p of all of `a`'s entries, as `torch.linalg.vector_norm`, in a's dtype: max |a| for p = inf, min |a| for
    p = −inf, the count of nonzero entries for p = 0, (Σ |a|^p)^(1/p) otherwise (which is 0 for p < 0 when an entry
    is 0, as in PyTorch)."""
    if math.isinf(p) and a.size == 0:
        raise RuntimeError(f"clip_grad_norm_: the {'' if p > 0 else '-'}inf norm of an empty gradient is undefined "
                           "(a max or min over nothing), as in PyTorch")
    # inf and nan are answers here, as in PyTorch: a square that overflows, 0 ** p = inf for p < 0 (whose power
    # 1/p is 0), an inf or nan gradient
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if p == 0:
            return np.asarray(np.count_nonzero(a), a.dtype)
        if p == 2:
            flat = a.reshape(-1)
            return np.sqrt(P.asarray(np.dot(flat, flat)))
        magnitude = np.abs(a)
        if math.isinf(p):
            return P.asarray(magnitude.max() if p > 0 else magnitude.min())
        if p == 1:
            return P.asarray(magnitude.sum())
        return P.asarray((magnitude**p).sum() ** (1 / p))


def get_total_norm(tensors: Tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The p-norm (`norm_type`; inf for the max norm) of all the entries of `tensors` taken as one vector: the
    p-norm of their p-norms, as `torch.nn.utils.get_total_norm`. A 0-d Tensor in the tensors' promoted dtype;
    float32 0 for no tensors. With `error_if_nonfinite`, a NaN or infinite norm raises RuntimeError."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return Tensor(np.zeros((), np.float32))
    arrays = [t.data for t in tensors]
    dtype = np.result_type(*arrays)
    norms = np.stack([_vector_norm(a, norm_type) for a in arrays]).astype(dtype)  # (stack: a traced step's too)
    total = P.asarray(_vector_norm(norms, norm_type), dtype)
    if error_if_nonfinite and not branch(np.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total.item()}, "
                           "so they cannot be clipped (as in PyTorch). Pass error_if_nonfinite=False to scale them by "
                           "it anyway (they then become NaN or zero), or find where the gradients blew up")
    return Tensor(total)


def clip_grads_with_norm_(parameters: Tensors, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale every gradient in place by min((1 / (total_norm + 1e-6)) · max_norm, 1), computed in total_norm's
    dtype and applied in each gradient's, as `torch.nn.utils.clip_grads_with_norm_`."""
    grads = _grads(_as_list(parameters))
    max_norm = float(max_norm)
    if not grads:
        return
    total = total_norm.data if isinstance(total_norm, Tensor) else P.asarray(total_norm)
    dtype = total.dtype if total.dtype.kind == "f" else np.dtype(np.float32)
    total = total.astype(dtype)
    # PyTorch evaluates max_norm / (total + 1e-6) as a reciprocal times max_norm: the same rounding here
    coef = np.minimum(np.reciprocal(total + np.asarray(1e-6, dtype)) * np.asarray(max_norm, dtype), 1)
    with no_grad(), np.errstate(invalid="ignore"):  # an infinite norm makes inf · 0 = nan: PyTorch's answer too
        for g in grads:
            g.mul_(coef.astype(g.dtype))


def clip_grad_norm_(parameters: Tensors, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Clip the gradients of `parameters` in place so that their total p-norm (`norm_type`, inf for the max norm),
    over all of them taken as one vector, is at most about `max_norm`: each is multiplied by
    min(max_norm / (total_norm + 1e-6), 1). Returns the total norm before clipping (a 0-d Tensor), as
    `torch.nn.utils.clip_grad_norm_`. An empty generator of parameters warns, as in PyTorch."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("clip_grad_norm_: `parameters` is an empty generator, no gradient clipping will occur "
                          "(was model.parameters() already consumed?)", UserWarning, stacklevel=2)
    total = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters: Tensors, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient of `parameters` in place to [−clip_value, clip_value], as
    `torch.nn.utils.clip_grad_value_` (NaN stays NaN)."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(_as_list(parameters)):
            g.clamp_(-clip_value, clip_value)
