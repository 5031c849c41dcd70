"""In-place ops (`add_`, `+=`, `x[i] = v`, …) and the version counters that keep them honest, as in PyTorch.

Every tensor's data carries a version (`t._version`), shared with its views and with `detach()`, that each in-place
op bumps. A node that saved a tensor for backward is checked at backward: if an in-place change came after the node
was made, backward raises (autograd/engine.py).

An in-place op takes one of two paths:
- **untracked** (inside `no_grad`, or nothing involved requires grad): the NumPy op writes into the array with
  `out=` — the optimizer's and the manual `p -= lr * p.grad` update's path, no temporaries beyond NumPy's own;
- **tracked** (grad mode on and the tensor or the other operand requires grad): the tensor's current identity (its
  node and creation number) is handed to a new tensor, `old`; the out-of-place op is recorded on a copy of the
  value (`Clone(old)`, PyTorch's `original_self = self.clone()`), its result is written into the tensor's memory,
  and the tensor is *rebased*: it now stands for the new node's output. A node that used the tensor before the
  change still reaches the old identity: backward follows `_prior` from a parent that is newer than its consumer
  (see `autograd.backward`). `old` keeps the version counter: a node that saved the memory (self's node, if it
  saved its output) must see the change; the new node read the copy, which nothing can change.

As in PyTorch, an in-place op on a leaf that requires grad raises outside `no_grad`. Unlike PyTorch, a tracked
in-place op on a view, or on a tensor that has a live view, raises instead of rewriting the base's history.
`@=` is not in place, as in PyTorch (`a @= b` rebinds `a` to `a @ b`).
Writes through `.data` (`t.data[...] = ...`, `t.data += ...`) bypass all of this, as PyTorch's `.data` does.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from tinygrad_np import ops
from tinygrad_np.autograd.engine import _last_change
from tinygrad_np.autograd.function import _creation_order, new_version_cell
from tinygrad_np.autograd.grad_mode import _grad_enabled_now

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor


def _view_of(view: Tensor, base: Tensor) -> Tensor:
    """Make `view` share `base`'s version counter when it shares its memory (reshape may copy; then it does not).

    A view proper (a slice, a reshape, a transpose, an expand) is also registered, weakly, with its base in the
    counter (`cell[1]`), so that a tracked in-place change of either can tell that another live tensor shows the same
    memory through a graph of its own (`_refuse_views`). `detach()` — the very same array object, cut from the
    graph — shares the counter only: it never requires grad, so it has no graph to keep consistent (PyTorch's
    detached tensors are not views either)."""
    if view is base:
        return view
    if view.data is base.data:  # detach()
        cell = base._vcell
        if cell is None:
            cell = base._vcell = new_version_cell()
        view._vcell = cell
    elif np.may_share_memory(view.data, base.data):
        register_view(view, base)
    return view


def register_view(view: Tensor, base: Tensor) -> Tensor:
    """Record `view` as a view of `base`: one version counter, and each weakly listed in it (`_view_of`)."""
    cell = base._vcell
    if cell is None:
        cell = base._vcell = new_version_cell()
    sharers = cell[1]
    if sharers is None:
        sharers = cell[1] = [weakref.ref(base)]
    elif len(sharers) >= 32 and not len(sharers) & (len(sharers) - 1):
        # a tensor viewed again and again (a weight reshaped at each step): drop the dead views, at each power of
        # two (amortised O(1) per view, even when many views stay alive)
        sharers[:] = [r for r in sharers if r() is not None]
    sharers.append(weakref.ref(view))
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


def _refuse_views(t: Tensor, op: str) -> None:
    """Raise if another live tensor shares `t`'s memory as a view (or `t` is a live view of one): its graph would not
    see a tracked change (PyTorch rewrites the views' history; this engine does not)."""
    cell = t._vcell
    sharers = cell[1] if cell is not None else None
    if not sharers:
        return
    for ref in sharers:
        other = ref()
        if other is not None and other is not t:
            raise RuntimeError(
                f"{op}: this tensor of shape {tuple(t.shape)} shares its memory with another live tensor, of shape "
                f"{tuple(other.shape)}: one is a view of the other (x[i], reshape, view, transpose, expand, ...). "
                "A recorded in-place change of a view or of a tensor with views is not supported here (PyTorch "
                "rewrites the other tensor's history; this engine does not). Use the out-of-place form "
                "(y = y * 2 rather than y *= 2), or clone() the tensor and change the clone."
            )


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


class Clone(ops.Primitive):
    """z = a copy of x (`Tensor.clone()`, and the copy a tracked in-place op records its change on);  dz/dx = 1."""

    def forward(self, x):
        return np.copy(x, order="K")  # the same memory layout (as torch's clone): later reductions add alike

    def backward(self, g):
        return g


class InplaceOps:
    """The in-place half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it)."""

    __slots__ = ()

    def clone(self: Tensor) -> Tensor:
        """A copy with its own memory and version counter, in the graph (the gradient passes through unchanged)."""
        return Clone.apply(self)

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

    def _rebase(self: Tensor, op: str, compute: Callable[[Tensor, Callable[[Any], Any]], Tensor]) -> Tensor:
        """The tracked path: record `compute(copy of the old value, own)` and make this tensor its output (module
        docstring). `own(operand)` is the operand to use: the copy of the old value if the operand is this tensor
        itself (`a.mul_(a)` reads the value before the change; PyTorch raises at backward for mul_, div_ and pow_
        with self as operand, which saved the tensor they changed; here the copy gives the right gradient)."""
        from tinygrad_np.tensor import Tensor

        _refuse_views(self, op)
        cell = self._vcell
        if cell is None:
            cell = self._vcell = new_version_cell()
        # the identity before the change: same memory, counter, node, creation number, and the hooks registered so
        # far (they see the gradient of the old value, as PyTorch's); retain_grad stays with the tensor (new value)
        old = Tensor._make(self.data, self._requires_grad, self._ctx)
        old._seq, old._hooks, old._vcell = self._seq, self._hooks, cell
        try:
            old._prior = self._prior  # an earlier change's identity: the chain goes on
        except AttributeError:
            pass
        try:
            snap = Clone.apply(old)
            result = compute(snap, lambda operand: snap if operand is self else operand)
        except ValueError as e:  # shapes that do not broadcast: a RuntimeError, as on the untracked path and in torch
            raise RuntimeError(f"{op}: {e}") from None
        if result.shape != self.shape:
            raise RuntimeError(f"{op}: output with shape {tuple(self.shape)} doesn't match the broadcast shape "
                               f"{tuple(result.shape)}")
        if result.dtype != self.dtype:
            if not np.can_cast(result.dtype, self.dtype, "same_kind"):
                raise RuntimeError(f"{op}: result type {result.dtype} can't be cast to the desired output type "
                                   f"{self.dtype}")
            result = result.to(self.dtype)
        np.copyto(self.data, result.data)
        node = result._ctx
        if node is not None:
            # A node that saved its output (exp_, sqrt_, div_, ...) now holds this tensor's memory instead of the
            # result's (the same values): a later change of the tensor is caught by the version check, and
            # create_graph finds the output there (it matches saved arrays by identity).
            saved = node.__dict__
            for name, value in saved.items():
                if value is result.data:
                    saved[name] = self.data
        bump_version(self)
        self._prior = old
        # a creation number after the change's stamp: the new node is younger than the change it made
        self._ctx, self._seq, self._requires_grad = result._ctx, next(_creation_order), result._requires_grad
        self._hooks = None
        return self

    def _binary_(self: Tensor, op: str, other: Any, ufunc: Any, method: str) -> Tensor:
        if self._tracked(op, other):
            return self._rebase(op, lambda snap, own: getattr(snap, method)(own(other)))
        from tinygrad_np.tensor import _result_type

        # computed in the dtype the out-of-place op would use (PyTorch's rule: float32 with a 0-d float64 stays
        # float32), then written back; a result the tensor cannot hold (int += float) raises, as in PyTorch
        value = self._operand(other).data
        dtype = _result_type(self.data, value)
        return self._write_untracked(op, lambda a: ufunc(a, value, out=a, dtype=dtype, casting="same_kind"))

    def _unary_(self: Tensor, op: str, ufunc: Any, method: str) -> Tensor:
        if self._tracked(op):
            return self._rebase(op, lambda snap, own: getattr(snap, method)())
        return self._write_untracked(op, lambda a: ufunc(a, out=a, casting="same_kind"))

    def _put(self: Tensor, op: str, index: Any, value: Any) -> Tensor:
        """`self[index] = value` (`index` an `indexing._Index`, or a NumPy basic index such as Ellipsis), recorded when
        tracked: the kept part of self and `value` get gradients."""
        from tinygrad_np.indexing import IndexPut, _Index
        from tinygrad_np.tensor import Tensor

        if not isinstance(index, _Index):
            index = _Index((index,), None, False)
        if self._tracked(op, value):
            if not isinstance(value, Tensor):
                value = Tensor._make(np.asarray(value, self.dtype), False, None)
            return self._rebase(op, lambda snap, own: IndexPut.apply(snap, own(value).to(self.dtype), index=index))
        v = _operand_array(value)
        return self._write_untracked(op, lambda a: index.write(a, v))

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

    # No __imatmul__, on purpose: PyTorch has none, so `a @= b` is `a = a @ b` there (a new tensor, which may have
    # another shape; whatever else refers to the old `a` keeps it). Defining it would change the answer.

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
        from tinygrad_np.tensor import Tensor

        if self._tracked("sigmoid_"):
            return self._rebase("sigmoid_", lambda snap, own: snap.sigmoid())
        # the op's own (stable) formula on an unregistered stand-in: no copy kept, no view recorded
        value = ops.Sigmoid.apply(Tensor._make(self.data, False, None)).data
        return self._write_untracked("sigmoid_", lambda a: np.copyto(a, value, casting="same_kind"))

    def relu_(self: Tensor) -> Tensor:
        if self._tracked("relu_"):
            return self._rebase("relu_", lambda snap, own: snap.relu())
        return self._write_untracked("relu_", lambda a: np.maximum(a, 0, out=a))

    def clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        if self._tracked("clamp_"):
            return self._rebase("clamp_", lambda snap, own: snap.clamp(min, max))
        return self._write_untracked("clamp_", lambda a: np.clip(a, min, max, out=a, casting="same_kind"))

    clip_ = clamp_

    def zero_(self: Tensor) -> Tensor:
        return self.fill_(0)

    def fill_(self: Tensor, value: Any) -> Tensor:
        """Every element set to `value` (a number, or a 0-d tensor, which may require grad)."""
        if np.ndim(_operand_array(value)) != 0:
            raise RuntimeError(f"fill_ only supports a 0-dimension value (a number or a 0-d tensor), got one of "
                               f"shape {tuple(np.shape(_operand_array(value)))}; use copy_ to copy a tensor in")
        return self._put("fill_", Ellipsis, value)

    def copy_(self: Tensor, src: Any) -> Tensor:
        """This tensor's elements replaced by `src`'s (broadcast to this shape, converted to this dtype)."""
        from tinygrad_np.tensor import Tensor

        if not isinstance(src, Tensor):
            src = Tensor(np.asarray(src))
        if not _broadcasts_to(src.shape, self.shape):
            raise RuntimeError(f"copy_: the source of shape {tuple(src.shape)} cannot be broadcast to this tensor's "
                               f"shape {tuple(self.shape)}")
        return self._put("copy_", Ellipsis, src)

    # ------------------------------------------------------------------------------------------------ indexing

    def __setitem__(self: Tensor, index: Any, value: Any) -> None:
        """`x[index] = value` with PyTorch's indexing rules (shape.py): differentiable with respect to the kept part
        of x and to `value` when the tensor is in the graph. As in PyTorch, the value is a Tensor or a number; with
        an index array or mask a Tensor value must have x's dtype; `x[False] = value` does nothing. Unlike PyTorch,
        two different values written to one element raise (PyTorch's result depends on its threads)."""
        from tinygrad_np.indexing import _setitem_args

        args = _setitem_args(self, index, value)
        if args is not None:
            self._put("__setitem__", *args)
