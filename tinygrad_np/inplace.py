"""In-place ops (`add_`, `+=`, `x[i] = v`, …) and the version counters that keep them honest, as in PyTorch.

Every tensor's data carries a version (`t._version`), shared with its views, that each in-place op bumps. A node
that saved a tensor for backward recorded its version, and backward raises if it changed (autograd/engine.py).

An in-place op takes one of two paths:
- **untracked** (inside `no_grad`, or nothing involved requires grad): the NumPy op writes into the array with
  `out=` — the optimizer's and the manual `p -= lr * p.grad` update's path, no temporaries beyond NumPy's own;
- **tracked** (grad mode on and the tensor or the other operand requires grad): the out-of-place op is recorded on
  a snapshot of the old value, its result is written into the tensor's memory, and the tensor is *rebased*: it now
  stands for the new node's output, while the snapshot keeps the old identity (its creation number and node). A
  node that used the tensor before the change still reaches the old identity: backward follows `_prior` from a
  parent that is newer than its consumer (see `autograd.backward`).

As in PyTorch, an in-place op on a leaf that requires grad raises outside `no_grad`. Unlike PyTorch, a tracked
in-place op on a view (or on a tensor that has views) raises instead of rewriting the base's history.
Writes through `.data` (`t.data[...] = ...`, `t.data += ...`) bypass all of this, as PyTorch's `.data` does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from tinygrad_np.autograd.engine import _last_change
from tinygrad_np.autograd.function import _creation_order, new_version_cell
from tinygrad_np.autograd.grad_mode import _grad_enabled_now

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor


def _view_of(view: Tensor, base: Tensor) -> Tensor:
    """Make `view` share `base`'s version counter when it shares its memory (reshape may copy; then it does not)."""
    if view is not base and np.may_share_memory(view.data, base.data):
        cell = base._vcell
        if cell is None:
            cell = base._vcell = new_version_cell(shared=True)
        else:
            cell[1] = True
        view._vcell = cell
    return view


def bump_version(t: Tensor) -> None:
    """Count an in-place change of `t`'s data, stamped with a fresh creation number (engine._check_versions)."""
    cell = t._vcell
    if cell is None:
        cell = t._vcell = new_version_cell()
    stamp = next(_creation_order)
    cell[0] += 1
    stamps = cell[2]
    stamps.append(stamp)
    if len(stamps) > KEEP_STAMPS:
        del stamps[0]
    _last_change[0] = stamp


KEEP_STAMPS = 64  # the versions in an error message are exact while fewer in-place changes followed the forward


def _operand_array(other: Any) -> Any:
    from tinygrad_np.tensor import Tensor

    return other.data if isinstance(other, Tensor) else other


class InplaceOps:
    """The in-place half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it)."""

    __slots__ = ()

    # ------------------------------------------------------------------------------------------------- machinery

    def _tracked(self: Tensor, op: str, *others: Any) -> bool:
        """Whether the in-place op must be recorded; raises for a leaf that requires grad, as PyTorch does."""
        if not _grad_enabled_now():
            return False
        if self._requires_grad and self._ctx is None:
            raise RuntimeError(
                f"{op}: a leaf Variable that requires grad is being used in an in-place operation; do the update "
                "inside `with no_grad():` (as optimizers do), or use the out-of-place form"
            )
        return self._requires_grad or any(getattr(o, "_requires_grad", False) for o in others)

    def _write_untracked(self: Tensor, op: str, fn: Callable[[np.ndarray], Any]) -> Tensor:
        """Run `fn(self.data)`, which writes into the array, with NumPy's errors turned into PyTorch's."""
        try:
            fn(self.data)
        except (TypeError, ValueError) as e:  # a float result for an int tensor, a shape that does not fit, …
            raise RuntimeError(f"{op}: cannot write the result into a tensor of shape {tuple(self.shape)} and "
                               f"dtype {self.dtype} in place: {e}") from None
        bump_version(self)
        return self

    def _rebase(self: Tensor, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """The tracked path: record `compute(old value)` and make this tensor its output (module docstring)."""
        from tinygrad_np.tensor import Tensor

        cell = self._vcell
        if cell is not None and cell[1]:
            raise RuntimeError(
                f"{op}: a tracked in-place change of a tensor that is a view of another tensor, or has views, is not "
                "supported here (PyTorch rewrites the base's history; this engine does not): use the out-of-place "
                "form, or clone() first"
            )
        if cell is None:
            cell = self._vcell = new_version_cell()
        old = Tensor._make(self.data.copy(), self._requires_grad, self._ctx)  # the value and identity before
        # old shares the counter: a node that saved the old array (self's node, if it saved its output) must see
        # the change; the new node's own inputs are old's copy, which nothing changes
        old._seq, old._hooks, old._vcell = self._seq, self._hooks, cell
        result = compute(old)
        if result.shape != self.shape:
            raise RuntimeError(f"{op}: output with shape {tuple(self.shape)} doesn't match the broadcast shape "
                               f"{tuple(result.shape)}")
        if result.dtype != self.dtype:
            if not np.can_cast(result.dtype, self.dtype, "same_kind"):
                raise RuntimeError(f"{op}: result type {result.dtype} can't be cast to the desired output type "
                                   f"{self.dtype}")
            result = result.to(self.dtype)
        np.copyto(self.data, result.data)
        bump_version(self)
        self._prior = old
        # a creation number after the change's stamp: the new node is younger than the change it made
        self._ctx, self._seq, self._requires_grad = result._ctx, next(_creation_order), result._requires_grad
        self._hooks = None
        return self

    def _binary_(self: Tensor, op: str, other: Any, ufunc: Any, method: str) -> Tensor:
        if self._tracked(op, other):
            return self._rebase(op, lambda old: getattr(old, method)(other))
        value = _operand_array(other)
        return self._write_untracked(op, lambda a: ufunc(a, value, out=a, casting="same_kind"))

    def _unary_(self: Tensor, op: str, ufunc: Any, method: str) -> Tensor:
        if self._tracked(op):
            return self._rebase(op, lambda old: getattr(old, method)())
        return self._write_untracked(op, lambda a: ufunc(a, out=a, casting="same_kind"))

    # ---------------------------------------------------------------------------------------------- arithmetic

    def add_(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
        """self += alpha · other, in place."""
        if alpha != 1:
            other = other * alpha
        return self._binary_("add_", other, np.add, "add")

    def sub_(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
        """self −= alpha · other, in place."""
        if alpha != 1:
            other = other * alpha
        return self._binary_("sub_", other, np.subtract, "sub")

    def mul_(self: Tensor, other: Any) -> Tensor:
        return self._binary_("mul_", other, np.multiply, "mul")

    def div_(self: Tensor, other: Any) -> Tensor:
        return self._binary_("div_", other, np.true_divide, "div")

    def pow_(self: Tensor, exponent: Any) -> Tensor:
        return self._binary_("pow_", exponent, np.power, "pow")

    def __iadd__(self: Tensor, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self: Tensor, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self: Tensor, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self: Tensor, other: Any) -> Tensor:
        return self.div_(other)

    def __ipow__(self: Tensor, other: Any) -> Tensor:
        return self.pow_(other)

    def __imatmul__(self: Tensor, other: Any) -> Tensor:
        """`x @= y`: PyTorch computes x @ y and writes it back into x, which must keep its shape."""
        if self._tracked("__imatmul__", other):
            return self._rebase("__imatmul__", lambda old: old.matmul(other))
        product = (self.detach() @ other).data
        return self._write_untracked("__imatmul__", lambda a: np.copyto(a, product, casting="same_kind")
                                     if product.shape == a.shape else _shape_error(a, product))

    # ------------------------------------------------------------------------------------------------ elementwise

    def neg_(self: Tensor) -> Tensor:
        return self._unary_("neg_", np.negative, "__neg__")

    def exp_(self: Tensor) -> Tensor:
        return self._unary_("exp_", np.exp, "exp")

    def log_(self: Tensor) -> Tensor:
        return self._unary_("log_", np.log, "log")

    def sqrt_(self: Tensor) -> Tensor:
        return self._unary_("sqrt_", np.sqrt, "sqrt")

    def abs_(self: Tensor) -> Tensor:
        return self._unary_("abs_", np.abs, "abs")

    def sin_(self: Tensor) -> Tensor:
        return self._unary_("sin_", np.sin, "sin")

    def cos_(self: Tensor) -> Tensor:
        return self._unary_("cos_", np.cos, "cos")

    def tanh_(self: Tensor) -> Tensor:
        return self._unary_("tanh_", np.tanh, "tanh")

    def sigmoid_(self: Tensor) -> Tensor:
        if self._tracked("sigmoid_"):
            return self._rebase("sigmoid_", lambda old: old.sigmoid())
        value = self.detach().sigmoid().data
        return self._write_untracked("sigmoid_", lambda a: np.copyto(a, value))

    def relu_(self: Tensor) -> Tensor:
        if self._tracked("relu_"):
            return self._rebase("relu_", lambda old: old.relu())
        return self._write_untracked("relu_", lambda a: np.maximum(a, 0, out=a))

    def clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        if self._tracked("clamp_"):
            return self._rebase("clamp_", lambda old: old.clamp(min, max))
        return self._write_untracked("clamp_", lambda a: np.clip(a, min, max, out=a, casting="same_kind"))

    clip_ = clamp_

    def zero_(self: Tensor) -> Tensor:
        return self.fill_(0)

    def fill_(self: Tensor, value: Any) -> Tensor:
        """Every element set to `value` (a number, or a 0-d tensor, which may require grad)."""
        if self._tracked("fill_", value):
            return self._rebase("fill_", lambda old: old * 0 + value if getattr(value, "_requires_grad", False)
                                else old.detach() * 0 + value)
        v = _operand_array(value)
        return self._write_untracked("fill_", lambda a: np.copyto(a, v, casting="unsafe"))

    def copy_(self: Tensor, src: Any) -> Tensor:
        """This tensor's elements replaced by `src`'s (broadcast to this shape, converted to this dtype)."""
        from tinygrad_np.tensor import Tensor

        src = src if isinstance(src, Tensor) else Tensor(np.asarray(src))
        if self._tracked("copy_", src):
            # d/d(old) = 0, d/d(src) = the gradient summed back over broadcast axes: src expanded and cast
            return self._rebase("copy_", lambda old: old.detach() * 0 + src.expand(*self.shape).to(self.dtype)
                                if src.dtype.kind in "fc" else old.detach() * 0 + src.to(self.dtype))
        return self._write_untracked("copy_", lambda a: np.copyto(a, src.data, casting="unsafe"))

    # ------------------------------------------------------------------------------------------------ indexing

    def __setitem__(self: Tensor, index: Any, value: Any) -> None:
        """`x[index] = value` (ints, slices, masks, index arrays), as PyTorch: differentiable with respect to the
        kept part of x and to `value` when the tensor is in the graph."""
        from tinygrad_np import ops
        from tinygrad_np.tensor import Tensor, _as_index

        index = _as_index(index)
        if self._tracked("__setitem__", value):
            if not isinstance(value, Tensor):
                value = Tensor._make(np.asarray(value, self.dtype), False, None)
            self._rebase("__setitem__", lambda old: ops.IndexPut.apply(old, value.to(self.dtype), index=index))
            return
        v = _operand_array(value)

        def write(a: np.ndarray) -> None:
            a[index] = v

        self._write_untracked("__setitem__", write)


def _shape_error(a: np.ndarray, product: np.ndarray) -> None:
    raise ValueError(f"the product has shape {product.shape}, not the tensor's shape {a.shape}")
