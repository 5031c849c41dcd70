"""The autograd engine: grad mode, the `Function` base class every op derives from, and `backward`.

A graph node is the `Function` instance that produced a tensor: it holds the input tensors (`parents`) and
whatever arrays its backward needs. A tensor points at its node (`tensor._ctx`); a node never points at its output,
so the graph has no reference cycles and is freed by reference counting alone.
"""
from __future__ import annotations

import contextvars
import functools
import math
from heapq import heappop, heappush
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor


# ---------------------------------------------------------------------------------------------------------------
# grad mode


# Per thread (and per asyncio task), like PyTorch's grad mode: a new thread starts with gradients enabled. A context
# variable rather than a threading.local, because every op reads it and reading one costs a third as much.
_grad_enabled = contextvars.ContextVar("tinygrad_np_grad_enabled", default=True)
_grad_enabled_now = _grad_enabled.get


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` (in this thread)."""
    return _grad_enabled_now()


class _SetGradMode:
    """A context manager and decorator that sets grad mode and restores the previous one on exit or exception."""

    _enabled: bool

    def __new__(cls, fn: Callable | None = None):
        self = super().__new__(cls)
        self._saved = []  # a stack, so one instance may be entered while already entered
        return self(fn) if fn is not None else self  # bare `@no_grad` as well as `@no_grad()`

    def __enter__(self) -> None:
        self._saved.append(_grad_enabled_now())
        _grad_enabled.set(self._enabled)

    def __exit__(self, *exc_info: Any) -> None:
        _grad_enabled.set(self._saved.pop())

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_SetGradMode):
    """Inside it, ops build no graph and save nothing for backward: outputs have `requires_grad=False`."""

    _enabled = False


class enable_grad(_SetGradMode):
    """Turns graph building back on inside a `no_grad` block."""

    _enabled = True


# ---------------------------------------------------------------------------------------------------------------
# Function: one differentiable op

_requires_grad_of, _data_of = attrgetter("_requires_grad"), attrgetter("data")  # C-speed per-input access
_new_object = object.__new__


class Function:
    """Base class of every differentiable op, built-in or user-defined (like `torch.autograd.Function`).

    Subclass it and define `forward(self, *arrays, **options)` on NumPy arrays, returning one array, and
    `backward(self, grad)` returning one gradient array per array input (or `None` for an input that needs none:
    `self.needs_input_grad[i]` says which do). Store what backward needs on `self` (arrays, never Tensors). Call it
    with `MyOp.apply(*tensors, **options)`. Gradients may have the broadcast shape of the output: the engine sums
    them back to each input's shape (one `unbroadcast` for all ops) and casts them to the input's dtype.

    backward may return new arrays, `grad` itself, or views of either, but never an array it keeps (such as one
    saved in forward): the engine takes ownership of new arrays and may add into them in place.
    """

    parents: tuple[Tensor, ...] | None  # the inputs; None once backward has freed this node
    needs_input_grad: tuple[bool, ...]

    def forward(self, *arrays: np.ndarray, **options: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, grad: np.ndarray) -> np.ndarray | None | tuple[np.ndarray | None, ...]:
        raise NotImplementedError(f"{type(self).__name__}.backward")

    @classmethod
    def apply(cls, *inputs: Tensor, **options: Any) -> Tensor:
        node = cls()
        n = len(inputs)
        try:
            # The common shapes of op are written out: a star-call costs more than the rest of this method.
            # needs_input_grad is set before forward, which may use it to save only what backward will need.
            if n == 2 and not options:
                x, y = inputs
                needs = (x._requires_grad, y._requires_grad)
                track = (needs[0] or needs[1]) and _grad_enabled_now()
                node.needs_input_grad = needs if track else (False, False)
                out = node.forward(x.data, y.data)
            elif n == 1 and not options:
                x, = inputs
                track = x._requires_grad and _grad_enabled_now()
                node.needs_input_grad = (True,) if track else (False,)
                out = node.forward(x.data)
            else:
                needs = tuple(map(_requires_grad_of, inputs))
                track = True in needs and _grad_enabled_now()
                node.needs_input_grad = needs if track else (False,) * n
                out = node.forward(*map(_data_of, inputs), **options)
        except (ValueError, IndexError) as e:  # NumPy's message lacks the op and the operands: add them
            detail = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in inputs)
            raise type(e)(f"{cls.__name__}: invalid inputs [{detail}]: {e}") from e
        if type(out) is not np.ndarray:
            out = np.asarray(out)  # NumPy reductions return scalars, not 0-d arrays
        # Tensor._make written out: this is the hottest line of the library, and the call cost a tenth of a µs.
        t = _new_object(Tensor)
        t.data, t.grad, t._retains_grad, t._seq = out, None, False, next(_creation_order)
        if track:
            node.parents = inputs
            t._requires_grad, t._ctx = True, node
        else:
            t._requires_grad, t._ctx = False, None  # the node and all it saved are dropped here
        return t

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


# ---------------------------------------------------------------------------------------------------------------
# backward


@functools.lru_cache(maxsize=64)
def ones_vector(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of `n` ones, kept for reuse: the operand that turns a sum into a matrix product."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def sum_rows(a: np.ndarray) -> np.ndarray:
    """Σ over the first axis of a 2-D array: a (batch, features) gradient summed to one row.

    For floats this is `ones @ a`, one BLAS matrix-vector product that streams through `a` once; NumPy's
    `a.sum(axis=0)` costs 2-4× as much on batch-sized arrays, and far more on tall, narrow ones.
    """
    if a.dtype.kind == "f" and a.dtype.itemsize >= 4:  # float32 and float64: BLAS types
        return ones_vector(a.shape[0], a.dtype) @ a
    return a.sum(axis=0)


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to `shape`: the adjoint of NumPy broadcasting `shape` up to `grad.shape`."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != grad.shape[lead + i] for i, n in enumerate(shape)):
        raise ValueError(f"unbroadcast: gradient of shape {grad.shape} cannot be summed to shape {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    k = len(axes)
    if axes[-1] == k - 1 and grad.flags.c_contiguous:  # the leading k axes, as for a bias: rows of one matrix
        return sum_rows(grad.reshape(math.prod(grad.shape[:k]), math.prod(grad.shape[k:]))).reshape(shape)
    return grad.sum(axis=axes).reshape(shape)


def _raise_freed(node: Function) -> None:
    raise RuntimeError(
        f"backward: trying to backward through the graph a second time: the {type(node).__name__} node's "
        "saved values were freed by an earlier backward(); pass retain_graph=True to that backward() to keep them"
    )


def backward(root: Tensor, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) · grad into `.grad` of every leaf that requires grad.

    Order: every tensor carries a creation number (`_seq`), and a tensor is always created after its inputs, so
    visiting pending tensors from the highest number down (a heap) is a reverse topological order: each tensor's
    gradient has been summed from all its consumers before it is used. No recursion, no separate sorting pass; a
    gradient is released as soon as it has been used and, unless `retain_graph`, each node frees its inputs and
    saved arrays right after its backward.

    Leaves never enter the heap: each contribution goes into the leaf's `.grad` as soon as it is made. A leaf
    without a `.grad` takes the array itself when a backward freshly allocated it (the engine then owns it and adds
    later contributions in place); anything else (the incoming gradient passed through, a view, one array returned
    for two inputs, an array the node keeps) is copied first. An intermediate's contributions are summed into a new
    array at the second, and in place from the third on.
    """
    heap = [-root._seq]
    pending = {root._seq: (root, grad, False)}  # _seq -> (tensor, gradient so far, whether the engine made that sum)
    take, get = pending.pop, pending.get
    while heap:
        node, g, _ = take(-heappop(heap))
        ctx = node._ctx
        if ctx is None or node._retains_grad:  # the root is a leaf, or an intermediate that keeps its gradient
            if node.grad is None:
                node.grad = Tensor._make(np.array(g, dtype=node.data.dtype), False, None)  # g is not ours to keep
            else:
                node.grad.data += g
            if ctx is None:
                continue
        parents = ctx.parents
        if parents is None:
            _raise_freed(ctx)
        in_grads = ctx.backward(g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        if len(in_grads) != len(parents):
            raise RuntimeError(f"{type(ctx).__name__}.backward returned {len(in_grads)} gradients for "
                               f"{len(parents)} inputs")
        for parent, pg in zip(parents, in_grads):
            if pg is None or not parent._requires_grad:
                continue
            data = parent.data
            conformed = pg.shape != data.shape or pg.dtype is not data.dtype and pg.dtype != data.dtype
            if conformed:
                pg = _conform(pg, parent, ctx)  # summed or cast: a new array
            if parent._ctx is None:  # a leaf: add the contribution to its .grad right away
                leaf_grad = parent.grad
                if leaf_grad is not None:
                    leaf_grad.data += pg
                elif conformed or _is_own(pg, g, in_grads, ctx, retain_graph):
                    parent.grad = Tensor._make(pg, False, None)  # no copy: nothing else holds the array
                else:
                    parent.grad = Tensor._make(np.array(pg), False, None)
                continue
            seq = parent._seq
            entry = get(seq)
            if entry is None:
                pending[seq] = (parent, pg, False)
                heappush(heap, -seq)
            elif entry[2]:  # a sum the engine made: add in place
                acc = entry[1]
                acc += pg
            else:  # the first contribution may be shared or saved: sum into a new array, ours from now on
                pending[seq] = (parent, entry[1] + pg, True)
        if not retain_graph:
            # Drop the inputs and every array saved for backward; the node itself stays (with its type, for error
            # messages and drawings) so that a second backward through it can say what happened.
            ctx.__dict__.clear()
            ctx.parents = None


def _is_own(pg: Any, g: np.ndarray, in_grads: tuple, ctx: Function, retain_graph: bool) -> bool:
    """Whether the gradient array `pg` that `ctx.backward(g)` returned is new, with no other holder: then a leaf
    may take it as its `.grad` (and later add into it) without a copy. The incoming gradient passed through, a
    view, one array returned for two inputs, or an array the node saved (and keeps, under retain_graph) are not."""
    if pg is g or type(pg) is not np.ndarray or pg.base is not None:
        return False
    if len(in_grads) > 1 and list(map(id, in_grads)).count(id(pg)) > 1:  # returned for two inputs
        return False
    return not retain_graph or all(pg is not v for v in vars(ctx).values())


def _conform(g: Any, t: Tensor, ctx: Function) -> np.ndarray:
    """The gradient `g` for input `t`, summed over broadcast axes and cast to `t`'s dtype; checked for shape."""
    g = np.asarray(g)
    if g.shape != t.shape:
        try:
            g = unbroadcast(g, t.shape)
        except ValueError:
            raise RuntimeError(
                f"{type(ctx).__name__}.backward returned a gradient of shape {g.shape} for an input of shape {t.shape}"
            ) from None
    return g.astype(t.dtype) if g.dtype != t.dtype else g  # summed or cast: a new array either way


from tinygrad_np.tensor import Tensor, _creation_order  # noqa: E402  (circular: Tensor's methods apply the Functions above)
