"""Functional forms of layers and losses, like `torch.nn.functional` (import it as `F`).

The central piece is `cross_entropy`: ONE graph node (`SoftmaxCrossEntropy`) that fuses log-softmax and the
negative log-likelihood, so its backward is the hand-derived `(softmax(logits) − target) / m` — not a chain of
softmax, log, indexing and mean nodes. `binary_cross_entropy` and `binary_cross_entropy_with_logits` are fused
nodes for the same reasons (a stable forward, an exact and cheap backward). All three, like every loss here, are
differentiable to any order (`create_graph=True`).

`reduction` is 'mean' (the default), 'sum' or 'none' (one loss per sample), as in PyTorch. A floating-point target
Tensor that requires grad gets its gradient, as in PyTorch (binary cross-entropy, with or without logits;
cross-entropy with probability targets; mse_loss; l1_loss); class indices are integers and have none. Targets given
as NumPy arrays or lists are constants, converted to the input's dtype; a target Tensor of the fused losses must
have the input's dtype.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from tinygrad_np import Tensor
from tinygrad_np import polymorphic as P
from tinygrad_np.autograd import ones_vector
from tinygrad_np.capture.trace import branch
from tinygrad_np.ops import Primitive

_REDUCTIONS = ("mean", "sum", "none")
_UNSIGNED = {np.dtype(f"int{bits}"): np.dtype(f"uint{bits}") for bits in (8, 16, 32, 64)}  # same bits, no sign


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _as_array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else P.asarray(x)


def _check_reduction(fn: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_same_shape(fn: str, input: Tensor, target: np.ndarray | Tensor) -> None:
    # PyTorch only warns here and broadcasts; a (N, 1) output against (N,) targets then silently becomes an
    # (N, N) loss. We refuse instead.
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{fn}: target shape {tuple(target.shape)} differs from input shape {tuple(input.shape)}")


# ------------------------------------------------------------------------------------------------ activations etc.


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weightᵀ + bias, with `weight` of shape (out_features, in_features) as in PyTorch: one fused node
    (`Tensor.linear`), whose backward gives the weight's gradient directly in its own layout."""
    return input.linear(weight, bias)


def relu(input: Tensor) -> Tensor:
    return input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return input.leakyrelu(negative_slope)


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return input.gelu(approximate)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return input.softplus(beta, threshold)


def _implicit_softmax_dim(fn: str, ndim: int) -> int:
    """PyTorch's choice when `dim` is not given (deprecated there, with this warning): dim 0 for 0-, 1- and 3-d
    input, dim 1 otherwise."""
    warnings.warn(f"Implicit dimension choice for {fn} has been deprecated. Change the call to include dim=X as an "
                  "argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """softmax along `dim`; without `dim`, PyTorch's implicit (deprecated, warned) choice."""
    if dim is None:
        dim = _implicit_softmax_dim("softmax", input.ndim)
    return input.softmax(dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """log(softmax) along `dim`; without `dim`, PyTorch's implicit (deprecated, warned) choice."""
    if dim is None:
        dim = _implicit_softmax_dim("log_softmax", input.ndim)
    return input.log_softmax(dim, dtype=dtype)


def _check_p(fn: str, p: float) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"{fn}: probability p must be in [0, 1], got {p}")


def _apply_dropout(input: Tensor, p: float, mask_shape: tuple[int, ...], inplace: bool) -> Tensor:
    """input times a fresh mask of `mask_shape` (broadcast over the input): each entry 0 with probability p, else
    1/(1 − p). The mask is drawn from tinygrad_np's generator (`Tensor.manual_seed`); p = 1 multiplies by zero (so
    inf and nan become nan, as in PyTorch)."""
    if p == 1:
        scaled = np.zeros(mask_shape, input.dtype)
    else:
        keep = Tensor.rand(*mask_shape, dtype=input.dtype).data >= p  # P(keep) = 1 − p
        scaled = keep * np.asarray(1 / (1 - p), input.dtype)
    return input.mul_(Tensor(scaled)) if inplace else input * Tensor(scaled)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: in training, zero each element with probability `p` and scale the survivors by
    1/(1 − p), so the expected value is unchanged and evaluation needs no rescaling. The mask is drawn from
    tinygrad_np's generator (`Tensor.manual_seed`). Identity when `training` is False or p = 0 (the input itself
    is returned). `inplace=True` multiplies the input by the mask in place and returns it, as PyTorch's."""
    _check_p("dropout", p)
    if not training or p == 0:
        return input
    if p == 1 and not inplace:
        return input * 0.0
    return _apply_dropout(input, p, input.shape, inplace)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout, as `torch.nn.functional.dropout2d`: in training, each whole channel input[n, c] (a 2-D
    feature map of an (N, C, H, W) batch) is zeroed with probability `p`, the others scaled by 1/(1 − p); the
    identity (the input itself) when `training` is False or p = 0.

    Other ranks behave exactly as in PyTorch 2.13, warnings included: a 3-D input is taken as (N, C, L), so each
    row input[n, c] is one channel (NOT as one unbatched (C, H, W) image: PyTorch warns that this will change,
    and so do we); a 2-D input (N, C) drops single elements and 5-D or more inputs whole input[n, c] blocks, with
    PyTorch's deprecation warning; fewer than 2 dimensions raise."""
    _check_p("dropout2d", p)
    ndim = input.ndim
    if ndim not in (3, 4):
        warnings.warn(f"dropout2d: got a {ndim}-D input, which PyTorch deprecates (it will be an error there); "
                      "dropout2d drops channels of (N, C, H, W) batches. Use dropout for elementwise dropout.",
                      UserWarning, stacklevel=2)
    if ndim == 3:
        warnings.warn("dropout2d: a 3-D input is taken as (N, C, L) and each of its N·C rows is dropped as a whole "
                      "(PyTorch's behaviour, which PyTorch will change to treating it as one (C, H, W) image). "
                      "For an unbatched image add a batch axis: x.unsqueeze(0).",
                      UserWarning, stacklevel=2)
    if ndim < 2:
        raise ValueError(f"dropout2d: needs an input of at least 2 dimensions (N, C, ...), got shape {input.shape}")
    if not training or p == 0:
        return input
    return _apply_dropout(input, p, input.shape[:2] + (1,) * (ndim - 2), inplace)


def one_hot(tensor: Tensor | np.ndarray, num_classes: int = -1) -> Tensor:
    """Class indices of any shape → int64 one-hot rows of shape (*shape, num_classes) (max index + 1 if -1)."""
    idx = _as_array(tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: class indices must be integers, got {idx.dtype}")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise IndexError(f"one_hot: class values must be in [0, {num_classes}), got min {idx.min()}, max {idx.max()}")
    return Tensor((idx[..., None] == np.arange(num_classes)).astype(np.int64))


def l2_penalty(parameters: Iterable[Tensor]) -> Tensor:
    """Σ ‖p‖² over `parameters`: an explicit L2 term to add to the loss.

    Adding `(λ / 2) * l2_penalty(model.parameters())` to the loss changes each gradient by λ·p — exactly what
    `SGD(..., weight_decay=λ)` does without the extra term.
    """
    total = None
    for p in parameters:
        term = (p * p).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l2_penalty: got no parameters")
    return total


# ---------------------------------------------------------------------------------------------- the fused node
#
# The fused losses are primitives (`ops.Primitive`): each backward is written with operators, `P` and the small
# polymorphic helpers below, so it runs on NumPy arrays at first order and is recorded as a graph under
# create_graph (then differentiable again, to any order). Nothing derived from an input is kept on a node: the
# softmax is recomputed in backward from the saved logits (as normalization.py recomputes the batch statistics).


def _rows(a: Any) -> Any:
    """(N, C, d1, …) → (N·d1·…, C); (C,) → (1, C): one row of class scores per sample (an array or a Tensor)."""
    shape = a.shape
    if len(shape) == 1:
        return a.reshape(1, -1)
    if len(shape) > 2:
        a = P.transpose(a, (0, *range(2, len(shape)), 1)).reshape(-1, shape[1])
    if P.is_array(a) and not a.flags.c_contiguous:  # row-major: positions index the flat rows
        return a.copy()
    return a


def _unrows(rows: Any, shape: tuple[int, ...]) -> Any:
    """The inverse of `_rows` for an array or Tensor of the input's `shape`."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    n = len(shape)
    return P.transpose(rows.reshape((shape[0], *shape[2:], shape[1])), (0, n - 1, *range(1, n - 1)))


def _shifted(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """x − (max of its row), the maxima read at `peaks`, their positions in the flattened rows: all ≤ 0, so
    e^shifted cannot overflow."""
    return x - x.reshape(-1).take(peaks)[:, None]


def _softmax_times(x: Any, peaks: np.ndarray, scale: Any) -> Any:
    """softmax of each row of `x`, times `scale` (a number or a column). On an array: e^(x − max) · (scale / Σ e^(x −
    max)), the row sums as one matrix-vector product and every step in place on one new array (which the caller
    may change in place too); on a Tensor: the Softmax primitive, times scale."""
    if isinstance(x, Tensor):
        return x.softmax(1) * scale
    probs = _shifted(x, peaks)
    np.exp(probs, out=probs)
    probs *= scale / (probs @ ones_vector(x.shape[1], probs.dtype))[:, None]
    return probs


def _log_softmax_rows(x: Any, peaks: np.ndarray) -> Any:
    """log softmax of each row of `x`: (x − max) − log Σ e^(x − max) on an array; the LogSoftmax primitive on a
    Tensor."""
    if isinstance(x, Tensor):
        return x.log_softmax(1)
    shifted = _shifted(x, peaks)
    shifted -= np.log(np.exp(shifted) @ ones_vector(x.shape[1], x.dtype))[:, None]
    return shifted


def _clamp_min(a: Any, lo: float) -> Any:
    """max(a, lo): NumPy's maximum on an array; on a Tensor, clip, whose derivative is [a ≥ lo]."""
    return a.clip(min=lo) if isinstance(a, Tensor) else np.maximum(a, lo)


def _softplus(a: Any) -> Any:
    """log(1 + eᵃ) without overflow, on an array or a Tensor (the Softplus primitive, never switched to linear)."""
    return a.softplus(1.0, math.inf) if isinstance(a, Tensor) else np.logaddexp(0, a)


def _isub(a: Any, b: Any) -> Any:
    """a − b, in place when `a` is an array the caller made (a Tensor, or a NumPy scalar, never is)."""
    if P.is_array(a):
        a -= b
        return a
    return a - b


def _imul(a: Any, b: Any) -> Any:
    """a · b, in place when `a` is an array the caller made (a Tensor, or a NumPy scalar, never is)."""
    if P.is_array(a):
        a *= b
        return a
    return a * b


def _reduce(losses: np.ndarray, reduction: str, count: int) -> np.ndarray:
    """The 'sum' or 'mean' of `losses` (of `count` samples that count)."""
    total = np.add.reduce(losses, axis=None)  # losses.sum() without its Python wrapper
    if reduction == "sum":
        return total
    if count == 0:  # every target ignored: nan, as PyTorch
        return np.full((), np.nan, losses.dtype)
    return total / count


def _upstream(g: Any, reduction: str, count: int) -> Any:
    """d(reduced loss)/d(loss_i) · g, one entry per sample (M, 1) or a scalar (g: an array or a Tensor)."""
    if reduction == "none":
        return g.reshape(-1, 1)
    if reduction == "sum":
        return g
    return g / count if count else g * math.nan


def _unshared(a: Any, *inputs: np.ndarray) -> Any:
    """`a`, copied if it is the very array of one of the node's `inputs`: a constant of a formula (a target or a
    weight without gradient) must not be taken for that input when the engine records backward (create_graph),
    which recognises inputs by identity (`x.detach()` shares x's array)."""
    return a.copy() if any(a is b for b in inputs) else a


class SoftmaxCrossEntropy(Primitive):
    """loss_i = −Σ_c q_ic · log softmax(x_i)_c, reduced over the samples i; x are logits (classes on axis 1).

    q is the target distribution: one-hot rows for class indices, the given rows t for probability targets, with
    label smoothing ε applied as q ← (1 − ε)·q + ε/C (PyTorch's definition).

    Forward: log softmax(x) = (x − max x) − log Σ e^(x − max x) — the max is subtracted, so no logit is too large.
    Backward, with s = g/m for 'mean' (m = number of samples not ignored), g for 'sum', g_i for 'none':
        ∂loss/∂x_i = (softmax(x_i)·Σ_c q_ic − q_i)·s, which is (softmax(x_i) − q_i)·s for a distribution q;
        ∂loss/∂t_i = −(1 − ε)·log softmax(x_i)·s (probability targets that require grad, as in PyTorch).
    The softmax is recomputed from the saved logits (cheap next to the layers before it), so the node keeps no
    derived array and the same formula, recorded on Tensors, gives every higher derivative.
    The target is an input of the node only when it requires grad; otherwise a constant option.
    """

    saves_inputs = True
    # `target`: a probability target that needs no gradient. `exp_shifted`, `row_total`: e^(x − max x) and its row
    # sums, a first-order cache —
    # not a constant of the formula, but only the array branch of backward reads it (the Tensor branch, the one
    # create_graph records, recomputes the softmax from the logits): the same softmax, computed once, so a
    # first-order backward costs one pass instead of five (at (128, 10), forward + backward 19.9 µs instead of 23.1).
    constants = ("target", "exp_shifted", "row_total")

    def forward(self, logits, target, reduction, label_smoothing, ignore_index, any_ignored=True):
        x = _rows(logits)
        n_rows, n_classes = x.shape
        row_start = np.arange(0, n_rows * n_classes, n_classes)  # where each row begins in the flattened x
        # Each row's max, picked at its argmax: for a few classes this is a third of the time of x.max(axis=1), whose
        # reduction machinery is slow on short rows. NaN rows stay NaN (argmax finds the NaN). `peaks` are int
        # positions: backward reuses them, a constant (the softmax does not depend on the shift).
        peaks = row_start + x.argmax(axis=1)
        shifted = _shifted(x, peaks)
        self.exp_shifted = np.exp(shifted)
        self.row_total = self.exp_shifted @ ones_vector(n_classes, x.dtype)  # row sums: a matrix-vector product
        log_total = np.log(self.row_total)
        eps = label_smoothing
        if target.dtype.kind in "iu":  # class indices
            y = target.reshape(-1)
            # `valid` marks the samples that count; None when all do (the common case: no array work for it)
            valid = (y != ignore_index) if any_ignored else None
            if valid is not None:
                y = np.where(valid, y, 0)
            target_at = row_start + y  # where each row's target class sits in the flattened rows
            losses = log_total - shifted.reshape(-1).take(target_at)  # −log softmax at the target class
            if eps:  # −Σ_c q_c log p_c with q = (1 − ε)·onehot + ε/C
                losses = (1 - eps) * losses + eps * (log_total - shifted.mean(axis=1))
            if valid is not None:
                losses[~valid] = 0
            count = n_rows if valid is None else int(valid.sum())
            self.target_at, self.valid = target_at, valid
        else:  # probabilities / one-hot rows
            q = _rows(target)
            if eps:
                q = q * (1 - eps) + eps / n_classes
            shifted -= log_total[:, None]  # now log softmax
            losses = -(q * shifted).sum(axis=1)
            count = len(losses)
            self.target_at = None
        self.logits, self.target, self.peaks, self.eps, self.n_classes = logits, target, peaks, eps, n_classes
        self.count, self.shape, self.reduction = count, logits.shape, reduction
        if reduction == "none":
            return losses.reshape(logits.shape[:1] + logits.shape[2:] if logits.ndim > 1 else ())
        return _reduce(losses, reduction, count)

    def backward(self, g):
        needs, eps = self.needs_input_grad, self.eps
        x = _rows(self.logits)
        scale = _upstream(g, self.reduction, self.count)
        dx = dt = None
        if self.target_at is not None:  # class indices: q = (1 − ε)·onehot + ε/C, Σq = 1
            if needs[0]:
                dx = self._minus_index_target(self._softmax_times(x, scale), scale)
        else:
            q = _rows(self.target)
            if eps:
                q = q * (1 - eps) + eps / self.n_classes
            if needs[0]:
                dx = _imul(_isub(self._softmax_times(x, P.sum(q, 1, keepdims=True)), q), scale)
            if len(needs) > 1 and needs[1]:
                dt = _unrows(_log_softmax_rows(x, self.peaks) * (-(1 - eps) * scale), self.shape)
        if dx is not None:
            dx = _unrows(dx, self.shape)
        return dx if len(needs) == 1 else (dx, dt)

    def _softmax_times(self, x: Any, scale: Any) -> Any:
        """softmax(x) · scale, a new array at first order (from the forward's e^(x − max x), one pass), recomputed
        from the logits on Tensors."""
        if isinstance(x, Tensor):
            return _softmax_times(x, self.peaks, scale)
        return self.exp_shifted * (scale / self.row_total[:, None])

    def _minus_index_target(self, grad: Any, scale: Any) -> Any:
        """grad − q·scale for class-index targets, q = (1 − ε)·onehot(y) + ε/C; the rows of ignored targets zero."""
        eps, at, valid = self.eps, self.target_at, self.valid
        if not isinstance(grad, Tensor):  # in place (grad is the caller's new array), without building q
            if eps:
                grad -= (eps / self.n_classes) * scale
            # subtract (1 − ε)·scale at each target class, through the flat view (3× faster than grad[rows, y])
            flat = grad.reshape(-1)
            flat.put(at, flat.take(at) - (1 - eps) * (scale.reshape(-1) if scale.ndim else scale))
            if valid is not None:
                grad[~valid] = 0
            return grad
        q = np.full(grad.shape, eps / self.n_classes, P.value(grad).dtype)
        q.reshape(-1)[at] += 1 - eps
        grad = grad - q * scale
        return grad if valid is None else P.where(valid[:, None], grad, 0.0)


def cross_entropy(input: Tensor, target: Any, *, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy between logits `input` and `target`, as ONE graph node (`SoftmaxCrossEntropy`).

    `input`: logits of shape (N, C), (C,) or (N, C, d1, …). `target`: class indices (an integer array or Tensor of
    shape (N,), (), or (N, d1, …)) — entries equal to `ignore_index` are left out — or class probabilities /
    one-hot rows of the input's shape (floating point; a Tensor that requires grad gets its gradient, as in
    PyTorch). `label_smoothing` ε mixes the targets with the uniform distribution: q = (1 − ε)·q + ε/C. Stable for
    logits of any magnitude; float32 in, float32 out.
    """
    input = _as_tensor(input)
    logits = input.data
    _check_reduction("cross_entropy", reduction)
    if logits.dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating point, got {logits.dtype}")
    shape = logits.shape
    if not shape:
        raise ValueError("cross_entropy: logits must have a class axis, got a 0-d tensor")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    axis = 1 if len(shape) > 1 else 0
    n_classes = shape[axis]
    batch_shape = shape[:axis] + shape[axis + 1:]
    t = _as_array(target)
    if t.dtype.kind in "iu":
        if t.shape != batch_shape:
            raise ValueError(f"cross_entropy: class-index target of shape {t.shape} does not fit logits of shape "
                             f"{shape} (expected target shape {batch_shape})")
        # One reduction settles the common case, every target a class and none to ignore: seen as unsigned
        # integers, negative targets are huge, so a max below n_classes means all lie in [0, n_classes).
        largest = np.maximum.reduce(t.view(_UNSIGNED.get(t.dtype, t.dtype)), axis=None) if t.size else None
        in_range = t.size == 0 or branch(largest < n_classes)
        if not in_range:
            bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
            if branch(bad.any()):
                raise IndexError(f"cross_entropy: target class {t[bad].flat[0]} is out of range for {n_classes} "
                                 f"classes (logits of shape {shape})")
        any_ignored = (not in_range or 0 <= ignore_index < n_classes) and branch((t == ignore_index).any())
    elif t.dtype.kind == "f":
        if t.shape != shape:
            raise ValueError(f"cross_entropy: probability target of shape {t.shape} does not match logits of shape "
                             f"{shape} (class indices must be an integer array)")
        t = _target_dtype("cross_entropy", input, target, t)
        any_ignored = False
    else:
        raise TypeError(f"cross_entropy: target must hold integer class indices or float probabilities, got {t.dtype}")
    options = {"reduction": reduction, "label_smoothing": float(label_smoothing), "ignore_index": ignore_index,
               "any_ignored": any_ignored}
    if _is_differentiable(target):  # an input of the node: it gets a gradient
        return SoftmaxCrossEntropy.apply(input, target, **options)
    return SoftmaxCrossEntropy.apply(input, target=_unshared(t, logits), **options)


def _is_differentiable(target: Any) -> bool:
    return isinstance(target, Tensor) and target.requires_grad


def _target_dtype(fn: str, input: Tensor, target: Any, t: np.ndarray) -> np.ndarray:
    """A floating-point target's values `t` in the input's dtype. An array or list is converted; a Tensor must
    already match: PyTorch would promote (or, for binary_cross_entropy, raise), and its gradient would then
    belong to a different dtype, so we ask for the conversion instead of making it silently."""
    if isinstance(target, Tensor):
        if t.dtype != input.dtype:
            raise TypeError(f"{fn}: target has dtype {t.dtype} but input has dtype {input.dtype}; convert one of "
                            f"them (e.g. target.to({input.dtype.name})): a target Tensor is not converted silently "
                            "(PyTorch would promote the loss's dtype, or raise)")
        return t
    return t.astype(input.dtype, copy=False)


# ---------------------------------------------------------------------------------------------- other losses


def _class_indices(fn: str, input: Tensor, target: Any, ignore_index: int) -> np.ndarray:
    axis = 1 if input.ndim > 1 else 0
    batch_shape = input.shape[:axis] + input.shape[axis + 1:]
    t = _as_array(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold integer class indices, got {t.dtype}")
    if t.shape != batch_shape:
        raise ValueError(f"{fn}: target of shape {t.shape} does not fit input of shape {input.shape} "
                         f"(expected {batch_shape})")
    n_classes = input.shape[axis]
    bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
    if branch(bad.any()):
        raise IndexError(f"{fn}: target class {t[bad].flat[0]} is out of range for {n_classes} classes")
    return t


def nll_loss(input: Tensor, target: Any, *, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: −input[i, target_i] for log-probabilities `input` (e.g. from `log_softmax`),
    reduced; `cross_entropy(x, y)` equals `nll_loss(log_softmax(x, dim=1), y)` but as one fused node."""
    input = _as_tensor(input)
    _check_reduction("nll_loss", reduction)
    if input.ndim == 0:
        raise ValueError("nll_loss: input must have a class axis, got a 0-d tensor")
    t = _class_indices("nll_loss", input, target, ignore_index)
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    if input.ndim == 1:
        picked = input[int(safe)]
    else:
        index = list(np.indices(safe.shape, sparse=True))  # sample coordinates, broadcastable
        index.insert(1, safe)  # the class axis is axis 1
        picked = input[tuple(index)]
    losses = -picked
    if not branch(valid.all()):
        losses = losses * Tensor(valid.astype(input.dtype))
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    count = int(valid.sum())
    return total * (1.0 / count) if count else total * float("nan")


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (input − target)², reduced."""
    input = _as_tensor(input)
    _check_reduction("mse_loss", reduction)
    target = target if isinstance(target, Tensor) else Tensor(P.asarray(target, input.dtype))
    _check_same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce_tensor(diff * diff, reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error |input − target|, reduced."""
    input = _as_tensor(input)
    _check_reduction("l1_loss", reduction)
    target = target if isinstance(target, Tensor) else Tensor(P.asarray(target, input.dtype))
    _check_same_shape("l1_loss", input, target)
    return _reduce_tensor((input - target).abs(), reduction)


def _reduce_tensor(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


class BinaryCrossEntropy(Primitive):
    """loss = −w·[y·log x + (1 − y)·log(1 − x)] for probabilities x, each log clamped at −100 as in PyTorch (so
    x = 0 or 1 gives a finite loss), reduced. With s the upstream gradient (g, g/n for 'mean'):
        ∂loss/∂x = w·(x − y) / max(x(1 − x), 1e-12)·s;
        ∂loss/∂y = −w·logit(x)·s = w·log((1 − x)/x)·s (PyTorch's: unclamped, so ±inf at x = 0 or 1).
    The target y is an input of the node only when it requires grad; otherwise, like w, a constant."""

    saves_inputs = True
    constants = ("y", "w")

    def forward(self, x, target, weight, reduction):
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        losses = -(target * log_x + (1 - target) * log_1mx)
        if weight is not None:
            losses = losses * weight
        self.x, self.y, self.w, self.reduction, self.count = x, target, weight, reduction, x.size
        return losses if reduction == "none" else _reduce(losses.reshape(-1), reduction, x.size)

    def backward(self, g):
        x, y, needs = self.x, self.y, self.needs_input_grad
        scale = g if self.reduction == "none" else _upstream(g, self.reduction, self.count)
        if self.w is not None:
            scale = scale * self.w
        dx = (x - y) / _clamp_min(x * (1 - x), 1e-12) * scale if needs[0] else None
        if len(needs) == 1:
            return dx
        dy = None
        if needs[1]:
            with np.errstate(divide="ignore"):  # x = 0 or 1: ±inf, as PyTorch
                dy = -P.log(x / (1 - x)) * scale
        return dx, dy


class BinaryCrossEntropyWithLogits(Primitive):
    """loss = w·[(1 − y)·x + (1 + (p − 1)·y)·softplus(−x)] for logits x (p = pos_weight, 1 if absent), which is
    −w·[p·y·log σ(x) + (1 − y)·log(1 − σ(x))] computed without overflow: softplus(−x) = max(−x, 0) + log(1 + e^−|x|).
    With s the upstream gradient (g, g/n for 'mean'):
        ∂loss/∂x = w·[(1 − y) − (1 + (p − 1)·y)·σ(−x)]·s, which is w·(σ(x) − y)·s when p = 1;
        ∂loss/∂y = w·[(p − 1)·softplus(−x) − x]·s, which is −w·x·s when p = 1 (as in PyTorch).
    The target y is an input of the node only when it requires grad; otherwise, like w and p, a constant."""

    saves_inputs = True
    constants = ("y", "w", "pw")

    def forward(self, x, target, weight, pos_weight, reduction):
        softplus_neg = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
        lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * target
        losses = (1 - target) * x + lw * softplus_neg
        if weight is not None:
            losses = losses * weight
        self.x, self.y, self.w, self.pw = x, target, weight, pos_weight
        self.reduction, self.count = reduction, x.size
        return losses if reduction == "none" else _reduce(losses.reshape(-1), reduction, x.size)

    def backward(self, g):
        x, y, pw, needs = self.x, self.y, self.pw, self.needs_input_grad
        scale = g if self.reduction == "none" else _upstream(g, self.reduction, self.count)
        if self.w is not None:
            scale = scale * self.w
        dx = dy = None
        if needs[0]:
            sig_neg = 0.5 - 0.5 * P.tanh(0.5 * x)  # σ(−x), which never overflows
            dx = ((1 - y) - (sig_neg if pw is None else (1 + (pw - 1) * y) * sig_neg)) * scale
        if len(needs) == 1:
            return dx
        if needs[1]:
            dy = (-x if pw is None else (pw - 1) * _softplus(-x) - x) * scale
        return dx, dy


def _bce_args(fn: str, input: Tensor, target: Any, weight: Any, reduction: str,
              pos_weight: Any = None) -> tuple[np.ndarray, Any, Any]:
    """The checked target values, weight and pos_weight of a binary cross-entropy, weights as constant arrays."""
    _check_reduction(fn, reduction)
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    t = _as_array(target)
    _check_same_shape(fn, input, t)
    t = _target_dtype(fn, input, target, t)
    if _is_differentiable(target):
        inputs = (input.data, t)  # the node's inputs
    else:
        inputs, t = (input.data,), _unshared(t, input.data)
    weights = []
    for name, w in (("weight", weight), ("pos_weight", pos_weight)):
        if w is not None:
            if isinstance(w, Tensor) and w.requires_grad:  # as PyTorch: these are constants of the loss
                raise RuntimeError(f"{fn}: {name} requires grad, but the loss is not differentiable with respect to "
                                   f"its {name} (as in PyTorch); pass {name}.detach()")
            w = _as_array(w).astype(input.dtype, copy=False)
            _check_broadcasts(fn, name, w, input)
            w = _unshared(w, *inputs)
        weights.append(w)
    return t, weights[0], weights[1]


def _check_broadcasts(fn: str, name: str, w: np.ndarray, input: Tensor) -> None:
    try:
        ok = np.broadcast_shapes(w.shape, input.shape) == input.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{fn}: {name} of shape {w.shape} does not broadcast to input shape {input.shape}")


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities `input` (in [0, 1], e.g. after a sigmoid) and `target`; logs are
    clamped at −100 as in PyTorch. A target Tensor that requires grad gets −w·logit(input) (PyTorch's). Prefer
    `binary_cross_entropy_with_logits` on the raw scores: it is stable."""
    input = _as_tensor(input)
    t, weight, _ = _bce_args("binary_cross_entropy", input, target, weight, reduction)
    if input.numel() and (branch(input.data.min() < 0) or branch(input.data.max() > 1)):
        raise ValueError(f"binary_cross_entropy: input values must be probabilities in [0, 1], got values in "
                         f"[{input.data.min()}, {input.data.max()}] (use binary_cross_entropy_with_logits for logits)")
    if _is_differentiable(target):
        return BinaryCrossEntropy.apply(input, target, weight=weight, reduction=reduction)
    return BinaryCrossEntropy.apply(input, target=t, weight=weight, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """Sigmoid + binary cross-entropy as one stable node, for logits `input` of any magnitude. `pos_weight`
    (broadcast along the last axis, one entry per class) weighs the positive term, as in PyTorch. A target Tensor
    that requires grad gets its gradient, as in PyTorch."""
    input = _as_tensor(input)
    t, weight, pos_weight = _bce_args("binary_cross_entropy_with_logits", input, target, weight, reduction,
                                      pos_weight)
    if _is_differentiable(target):
        return BinaryCrossEntropyWithLogits.apply(input, target, weight=weight, pos_weight=pos_weight,
                                                  reduction=reduction)
    return BinaryCrossEntropyWithLogits.apply(input, target=t, weight=weight, pos_weight=pos_weight,
                                              reduction=reduction)


from nn.functional_activations import *  # noqa: E402, F401, F403  (the activations, in their own file)
from nn.functional_pooling import *  # noqa: E402, F401, F403  (convolution and pooling, in their own file)
from tinygrad_np.shape import pad as pad  # noqa: E402  (constant (negative widths crop), reflect, replicate, circular)
