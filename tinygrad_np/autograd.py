"""The autograd engine: grad mode, the `Function` base class every op derives from, and `backward`.

A graph node is the `Function` instance that produced a tensor: it holds the input tensors (`parents`) and
whatever arrays its backward needs. A tensor points at its node (`tensor._ctx`); a node never points at its output,
so the graph has no reference cycles and is freed by reference counting alone.
"""
from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor


# ---------------------------------------------------------------------------------------------------------------
# grad mode


class _GradMode(threading.local):
    enabled = True  # per thread, like PyTorch's; never a class attribute of Tensor


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` (in this thread)."""
    return _grad_mode.enabled


class _SetGradMode:
    """A context manager and decorator that sets grad mode and restores the previous one on exit or exception."""

    _enabled: bool

    def __new__(cls, fn: Callable | None = None):
        self = super().__new__(cls)
        self._saved = []  # a stack, so one instance may be entered while already entered
        return self(fn) if fn is not None else self  # bare `@no_grad` as well as `@no_grad()`

    def __enter__(self) -> None:
        self._saved.append(_grad_mode.enabled)
        _grad_mode.enabled = self._enabled

    def __exit__(self, *exc_info: Any) -> None:
        _grad_mode.enabled = self._saved.pop()

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


class Function:
    """Base class of every differentiable op, built-in or user-defined (like `torch.autograd.Function`).

    Subclass it and define `forward(self, *arrays, **options)` on NumPy arrays, returning one array, and
    `backward(self, grad)` returning one gradient array per array input (or `None` for an input that needs none:
    `self.needs_input_grad[i]` says which do). Store what backward needs on `self` (arrays, never Tensors). Call it
    with `MyOp.apply(*tensors, **options)`. Gradients may have the broadcast shape of the output: the engine sums
    them back to each input's shape (one `unbroadcast` for all ops) and casts them to the input's dtype.
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
        needs = tuple(t.requires_grad for t in inputs)
        track = _grad_mode.enabled and any(needs)
        node.needs_input_grad = needs if track else (False,) * len(inputs)
        try:
            out = node.forward(*[t.data for t in inputs], **options)
        except (ValueError, IndexError) as e:  # NumPy's message lacks the op and the operands: add them
            detail = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in inputs)
            raise type(e)(f"{cls.__name__}: invalid inputs [{detail}]: {e}") from e
        if not track:
            return Tensor._make(out, False, None)  # the node and all it saved are dropped here
        node.parents = inputs
        return Tensor._make(out, True, node)

    def _release(self) -> None:
        # Drop the inputs and every array saved for backward; the node itself stays (with its type, for error
        # messages and drawings) so that a second backward through it can say what happened.
        self.__dict__.clear()
        self.parents = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


# ---------------------------------------------------------------------------------------------------------------
# backward


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to `shape`: the adjoint of NumPy broadcasting `shape` up to `grad.shape`."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != grad.shape[lead + i] for i, n in enumerate(shape)):
        raise ValueError(f"unbroadcast: gradient of shape {grad.shape} cannot be summed to shape {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes).reshape(shape)


def _toposort(root: Tensor) -> list[Tensor]:
    """Every tensor that needs a gradient on the way to `root`, each after all the tensors it is computed from.

    Iterative depth-first search (no recursion limit); the order is fixed by the order of each node's inputs.
    """
    _check_not_freed(root)
    order: list[Tensor] = []
    seen = {id(root)}
    stack = [(root, iter(root._ctx.parents))]
    while stack:
        node, parents = stack[-1]
        for p in parents:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                if p._ctx is None:
                    order.append(p)  # a leaf
                else:
                    _check_not_freed(p)
                    stack.append((p, iter(p._ctx.parents)))
                    break
        else:
            stack.pop()
            order.append(node)
    return order


def _check_not_freed(t: Tensor) -> None:
    if t._ctx.parents is None:
        raise RuntimeError(
            f"backward: trying to backward through the graph a second time: the {type(t._ctx).__name__} node's "
            "saved values were freed by an earlier backward(); pass retain_graph=True to that backward() to keep them"
        )


def backward(root: Tensor, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) · grad into `.grad` of every leaf that requires grad.

    Each node's gradient is summed from all its consumers before it is used (reverse topological order), then
    released at once; unless `retain_graph`, each node frees its inputs and saved arrays right after its backward.
    """
    order = [root] if root._ctx is None else _toposort(root)
    grads: dict[int, np.ndarray] = {id(root): grad}
    while order:
        node = order.pop()  # from the root towards the leaves; popping lets finished tensors be freed
        g = grads.pop(id(node), None)
        ctx = node._ctx
        if g is not None and (ctx is None or node._retains_grad):
            _accumulate(node, g)
        if ctx is None:
            continue
        if g is not None:
            in_grads = ctx.backward(g)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if len(in_grads) != len(ctx.parents):
                raise RuntimeError(
                    f"{type(ctx).__name__}.backward returned {len(in_grads)} gradients for {len(ctx.parents)} inputs"
                )
            for parent, pg in zip(ctx.parents, in_grads):
                if pg is None or not parent.requires_grad:
                    continue
                pg = _conform(pg, parent, ctx)
                key = id(parent)
                prev = grads.get(key)
                grads[key] = pg if prev is None else prev + pg  # never in place: pg may be shared
        if not retain_graph:
            ctx._release()


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
    if g.dtype != t.dtype:
        g = g.astype(t.dtype)
    return g


def _accumulate(t: Tensor, g: np.ndarray) -> None:
    if t.grad is None:
        # A copy, because `g` may be shared with other tensors' gradients or be a read-only broadcast view.
        t.grad = Tensor._make(np.array(g, dtype=t.dtype, copy=True), False, None)
    else:
        t.grad.data += g


from tinygrad_np.tensor import Tensor  # noqa: E402  (circular: Tensor's methods apply the Functions above)
