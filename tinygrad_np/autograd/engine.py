"""The backward engine: `backward` (the one walk over the graph, at first order and under create_graph),
`grad`, and the helpers backward formulas share (`unbroadcast`, `sum_rows`)."""
from __future__ import annotations

import functools
import math
import threading
import weakref
from collections.abc import Sequence
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_np import polymorphic as P
from tinygrad_np.autograd.function import README_FUNCTIONS, Function, _new_object, new_version_cell
from tinygrad_np.autograd.grad_mode import _anomaly, enable_grad
from tinygrad_np.capture.trace import branch
from tinygrad_np.polymorphic import is_array

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # set by tinygrad_np.autograd once tensor.py is loaded (tensor.py imports this module)

# ---------------------------------------------------------------------------------------------------------------
# helpers shared by backward formulas


@functools.lru_cache(maxsize=64)
def ones_vector(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of `n` ones, kept for reuse: the operand that turns a sum into a matrix product."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def sum_rows(a: Any) -> Any:
    """Σ over the first axis of a 2-D array (or Tensor): a (batch, features) gradient summed to one row.

    For floats this is `ones @ a`, one BLAS matrix-vector product that streams through `a` once; NumPy's
    `a.sum(axis=0)` costs 2-4× as much on batch-sized arrays, and far more on tall, narrow ones.
    """
    if not is_array(a):
        return a.sum(0)
    if a.dtype.kind == "f" and a.dtype.itemsize >= 4:  # float32 and float64: BLAS types
        return ones_vector(a.shape[0], a.dtype) @ a
    return a.sum(axis=0)


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum `grad` (an array or a Tensor) down to `shape`: the adjoint of broadcasting `shape` up to `grad.shape`."""
    if grad.shape == shape:
        return grad
    lead = len(grad.shape) - len(shape)
    if lead < 0 or any(n != 1 and n != grad.shape[lead + i] for i, n in enumerate(shape)):
        raise ValueError(f"unbroadcast: gradient of shape {grad.shape} cannot be summed to shape {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if not is_array(grad):
        return grad.sum(axes).reshape(shape)
    k = len(axes)
    if axes[-1] == k - 1 and grad.flags.c_contiguous:  # the leading k axes, as for a bias: rows of one matrix
        return sum_rows(grad.reshape(math.prod(grad.shape[:k]), math.prod(grad.shape[k:]))).reshape(shape)
    return grad.sum(axis=axes).reshape(shape)


# ---------------------------------------------------------------------------------------------------------------
# backward


def _raise_freed(node: Function) -> None:
    raise RuntimeError(
        f"backward: trying to backward through the graph a second time: the {type(node).__name__} node's "
        "saved values were freed by an earlier backward(); pass retain_graph=True to that backward() to keep them"
    )


def _check_versions(ctx: Function, out: Tensor) -> None:
    """Raise if an input or the output that `ctx`'s backward reads was changed in place after `ctx` was created.

    Nothing is recorded when a node is made: an in-place change stamps the tensor's version counter with a fresh
    creation number instead, so "changed after this node was made" is "stamped with a number above the output's".
    """
    made = out._seq
    checks = []
    checks += [(f"input {i} (a tensor of shape {tuple(t.shape)})", t._vcell)
               for i, (t, read) in enumerate(zip(ctx.parents, ctx.inputs_read())) if read]
    if ctx.saves_output:
        checks.append(("output", out._vcell))
    for which, cell in checks:
        if cell is not None and cell[2] and cell[2][-1] > made:
            later = sum(1 for stamp in cell[2] if stamp > made)
            _raise_modified(ctx, which, cell[0], cell[0] - later)


def _raise_modified(ctx: Function, which: str, now: int, saved: int) -> None:
    raise RuntimeError(
        f"backward: one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {type(ctx).__name__}'s {which} is at version {now}; expected version {saved} instead. "
        "Change the in-place op to its out-of-place form (x = x + y instead of x += y), or clone() the tensor "
        "before changing it."
    )


_last_change = [-1]  # the creation number stamped by the latest in-place change: backward's one-comparison check
_accumulate_lock = threading.Lock()  # leaf .grad updates: several threads may backward into one parameter


def backward(roots: Sequence[tuple[Tensor, Any]], retain_graph: bool = False, create_graph: bool = False,
             inputs: Sequence[Tensor] | None = None, capture: bool = False) -> list | None:
    """Accumulate d(root)/d(leaf) · grad into `.grad` of every leaf that requires grad, for each (root, grad).

    Order: every tensor carries a creation number (`_seq`), and a tensor is always created after its inputs, so
    visiting pending tensors from the highest number down (a heap) is a reverse topological order: each tensor's
    gradient has been summed from all its consumers before it is used. No recursion, no separate sorting pass; a
    gradient is released as soon as it has been used and, unless `retain_graph`, each node frees its inputs and
    saved arrays right after its backward.

    Plain leaves never enter the heap: their contributions are summed apart, and each leaf's sum is added to its
    `.grad` once, at the end (under a lock, so threads backpropagating into one parameter lose nothing; as in
    PyTorch, where a leaf's AccumulateGrad runs once on the sum). A sum takes the first array itself when a backward
    freshly allocated it (the engine then owns it and adds later contributions in place); anything else (the
    incoming gradient passed through, a view, one array returned for two inputs, an array the node keeps) is summed
    into a new array at the second contribution, or copied into `.grad`. Intermediates are summed the same way. A
    tensor with hooks, or one named in `inputs`, goes through the heap like an intermediate, so that its hooks see,
    and it receives, the sum of its contributions.

    `create_graph`: gradients are Tensors and every backward formula is recorded (see the module docstring).
    `inputs`: only these tensors receive gradients. `capture`: return their gradients (as Tensors, None where
    unreached) instead of accumulating them (`autograd.grad`).
    """
    targets = None if inputs is None else {id(t): i for i, t in enumerate(inputs)}
    recorded = [] if create_graph else None  # tensors given a .grad with a graph (unlinked at the end)
    captured = [None] * len(inputs) if capture else None
    heap = []
    # _seq -> (tensor, gradient so far, whether the engine owns that array and may add into it). Plain leaves are
    # summed here too but never enter the heap: what is left at the end are their sums.
    pending = {}
    for root, g in roots:
        entry = pending.get(root._seq)
        if entry is None:
            pending[root._seq] = (root, g, False)
            heappush(heap, -root._seq)
        else:
            pending[root._seq] = (root, entry[1] + g, True)
    # With `inputs`, only the part of the graph that leads to them is run (and freed), as in PyTorch.
    needed = None if targets is None else _leading_to(roots, targets)
    take, get = pending.pop, pending.get
    anomaly, last_change, plain = _anomaly[0], _last_change, targets is None
    while heap:
        node, g, _ = take(-heappop(heap))
        if node._hooks is not None:
            owner = getattr(node, "_alias_of", None)
            if owner is not None:  # a stand-in: the tensor itself gets the gradient (its hooks, .grad, inputs=)
                original = owner()
                if original is not None:
                    node = original
                elif node._ctx is None:  # a leaf that is gone: nobody can read its gradient
                    continue
            if node._hooks:
                g = _run_hooks(node, g, create_graph)
        ctx = node._ctx
        if not plain:
            if id(node) in targets:
                if capture:
                    captured[targets[id(node)]] = _as_result(g, create_graph)
                else:
                    _accumulate(node, g, create_graph, False, recorded)
            if ctx is None:
                continue
        elif ctx is None or node._retains_grad:  # a leaf routed through the heap, or an intermediate that keeps it
            _accumulate(node, g, create_graph, False, recorded)
            if ctx is None:
                continue
        parents = ctx.parents
        if parents is None:
            _raise_freed(ctx)
        node_seq = node._seq
        if last_change[0] > node_seq:  # something was changed in place after this node was made: look closer
            _check_versions(ctx, node)
        if create_graph:
            in_grads = _graph_backward(ctx, node, g)
        else:
            in_grads = ctx.backward(g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        if len(in_grads) != len(parents):
            raise RuntimeError(f"{type(ctx).__name__}.backward returned {len(in_grads)} gradients for "
                               f"{len(parents)} inputs")
        if anomaly:
            _check_finite(ctx, in_grads)
        for parent, pg in zip(parents, in_grads):
            if pg is None:
                continue
            seq = parent._seq
            if seq > node_seq:  # changed in place (rebased) after this node used it: take the old identity
                parent = _identity_before(parent, node_seq)
                seq = parent._seq
            if not parent._requires_grad or not plain and seq not in needed:  # (needed: see `inputs`)
                continue
            if create_graph:
                conformed = False
                pg = _conform(pg, parent, ctx, recorded=True)
                _tag_recorded(pg, type(ctx).__name__, node_seq)
            else:
                data = parent.data
                conformed = pg.shape != data.shape or pg.dtype is not data.dtype and pg.dtype != data.dtype
                if conformed:
                    pg = _conform(pg, parent, ctx)  # summed or cast: a new array
            entry = get(seq)
            if entry is None:
                if parent._ctx is None and plain and parent._hooks is None:  # a plain leaf: never in the heap
                    pending[seq] = (parent, pg, not create_graph and (conformed or _is_own(pg, g, in_grads, ctx,
                                                                                           retain_graph)))
                else:
                    pending[seq] = (parent, pg, False)
                    heappush(heap, -seq)
            elif entry[2]:  # a sum the engine made (first order): add in place
                acc = entry[1]
                acc += pg
            else:  # the first contribution may be shared or saved: sum into a new array, ours from now on
                total = entry[1] + pg
                if create_graph:
                    _tag_recorded(total, "sum of gradients", node_seq)
                elif not is_array(total):  # 0-d operands sum to a NumPy scalar, which `+=` cannot update
                    total = np.asarray(total)
                pending[seq] = (parent, total, not create_graph)
        if not retain_graph:
            # Drop the inputs and every array saved for backward; the node itself stays (with its type, for error
            # messages and drawings) so that a second backward through it can say what happened.
            ctx.__dict__.clear()
            ctx.parents = None
    for leaf, total, owned in pending.values():  # what is left are the plain leaves: each sum into .grad at once
        _accumulate(leaf, total, create_graph, owned, recorded)
    if create_graph and not capture:
        _unlink_recorded_grads(recorded)
    return captured


def _leading_to(roots: Sequence[tuple[Tensor, Any]], targets: dict[int, int]) -> set[int]:
    """The creation numbers of the tensors from which a target is reached through the graph (targets included)."""
    def is_target(t: Tensor) -> bool:
        if id(t) in targets:
            return True
        owner = getattr(t, "_alias_of", None)  # a stand-in counts as the tensor it stands for
        return owner is not None and id(owner()) in targets

    def inputs_of(t: Tensor) -> list[Tensor]:
        node = t._ctx
        if node is None or node.parents is None:
            return []
        return [_identity_before(p, t._seq) if p._seq > t._seq else p for p in node.parents if p._requires_grad]

    needed, visited = set(), set()
    stack = [(root, False) for root, _ in roots]
    while stack:  # depth first, each tensor settled after its inputs (no recursion: graphs can be deep)
        t, settled = stack.pop()
        if settled:
            # a freed node's inputs are unknown: count it as needed, so that backward reaches it and says it was
            # freed (assuming it leads nowhere would silently drop its terms)
            freed = t._ctx is not None and t._ctx.parents is None
            if freed or is_target(t) or any(p._seq in needed for p in inputs_of(t)):
                needed.add(t._seq)
            continue
        if t._seq in visited:
            continue
        visited.add(t._seq)
        stack.append((t, True))
        stack.extend((p, False) for p in inputs_of(t) if p._seq not in visited)
    return needed


def _unlink_recorded_grads(_recorded_grads: list) -> None:
    """Break the cycles a recorded `.grad` closes: wherever its graph holds the tensor itself (as an input of a
    node), put the tensor's stand-in there instead (`graph_alias`), so that t → t.grad → … → t cannot happen."""
    while _recorded_grads:
        t = _recorded_grads.pop()
        if t.grad is None or t.grad._ctx is None:
            continue
        alias, seen, stack = None, set(), [t.grad._ctx]
        while stack:
            node = stack.pop()
            parents = node.parents
            if parents is None or id(node) in seen:
                continue
            seen.add(id(node))
            if any(p is t for p in parents):
                if alias is None:
                    alias = graph_alias(t)
                node.parents = tuple(alias if p is t else p for p in parents)
            stack.extend(p._ctx for p in node.parents if p._ctx is not None)


def _identity_before(t: Tensor, seq: int) -> Tensor:
    """The identity `t` had when a node created at `seq` used it (inplace.py keeps each one in `_prior`)."""
    while t._seq > seq:
        t = t._prior
    return t


def _accumulate(leaf: Tensor, g: Any, create_graph: bool, owned: bool, recorded: list | None = None) -> None:
    """Add the gradient contribution `g` into `leaf.grad` (under the lock: threads may share the leaf)."""
    with _accumulate_lock:
        current = leaf.grad
        if create_graph:  # a gradient with a graph: summed out of place, so the sum is recorded too
            g = g if isinstance(g, Tensor) else Tensor._make(g, False, None)
            leaf.grad = g if current is None else current + g
            if leaf.grad._ctx is not None and recorded is not None:
                recorded.append(leaf)  # backward unlinks it from its own gradient's graph at the end
        elif current is not None and current._ctx is None:
            current.data += g
        elif current is not None:  # a .grad recorded by create_graph: a graph may have saved it, so add out of
            with enable_grad():  # place, and recorded, as PyTorch does (the sum still has a graph)
                leaf.grad = current + Tensor._make(g, False, None)
        else:
            # no copy when nothing else holds the array; the incoming gradient or a saved array is copied first
            leaf.grad = Tensor._make(g if owned else g.astype(leaf.data.dtype), False, None)  # (a copy)


def _as_result(g: Any, create_graph: bool) -> Tensor:
    if isinstance(g, Tensor):
        return g
    return Tensor._make(P.copy(g), False, None)


def _run_hooks(t: Tensor, g: Any, create_graph: bool) -> Any:
    """Call `t`'s hooks in registration order on its total gradient; a hook may return a replacement."""
    as_tensor = isinstance(g, Tensor)
    for hook in list(t._hooks.values()):
        given = g if as_tensor else Tensor._make(g, False, None)
        result = hook(given)
        if result is not None:
            if not isinstance(result, Tensor):
                result = Tensor(result)
            if result.shape != t.shape:
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                                   f"{tuple(result.shape)} for a tensor of shape {tuple(t.shape)}")
            g = result if as_tensor else P.copy(result.data, t.data.dtype)
    return g


def _check_finite(ctx: Function, in_grads: tuple) -> None:
    for i, pg in enumerate(in_grads):
        if pg is None:
            continue
        data = pg.data if isinstance(pg, Tensor) else P.asarray(pg)
        if data.dtype.kind in "fc" and not branch(np.isfinite(data).all()):
            what = "nan" if np.isnan(data).any() else "inf"
            where = "".join(ctx.forward_trace) if ctx.forward_trace else \
                "  (not recorded: this op's forward ran before anomaly detection was turned on)\n"
            raise RuntimeError(
                f"detect_anomaly: Function '{type(ctx).__name__}' returned {what} values in its gradient for input "
                f"{i}. Its forward ran here:\n{where}"
            )


def _graph_backward(ctx: Function, out: Tensor, g: Tensor) -> Any:
    """Run `ctx`'s backward on Tensors, recording it: the formula is the first-order one, fed the graph's own
    tensors for the inputs and the output it saved."""
    if getattr(type(ctx), "_tensor_style", False):  # written on Tensors already: run it with the output at hand
        ctx.graph_out = out
        try:
            return ctx.backward(g)
        finally:
            del ctx.graph_out
    if not type(ctx).twice_differentiable:
        raise RuntimeError(
            f"backward(create_graph=True): {type(ctx).__name__} is an array-style Function, which is first order "
            f"only; to differentiate it again write it in PyTorch style (Tensor ops in a @staticmethod backward), "
            f"see {README_FUNCTIONS}."
        )
    return _graph_view(ctx, out).backward(g)


def _tag_recorded(t: Any, name: str, made_after: int) -> None:
    """Mark the nodes a create_graph backward just recorded (`node.backward_of = name`: the op whose backward made
    them, or "sum of gradients"), so that a drawing can tell a backward pass's graph from the forward graph."""
    stack = [t]
    while stack:
        t = stack.pop()
        node = t._ctx if isinstance(t, Tensor) else None
        if node is None or t._seq <= made_after or "backward_of" in node.__dict__ or node.parents is None:
            continue
        node.backward_of = name
        stack.extend(node.parents)


def _graph_view(ctx: Function, out: Tensor) -> Function:
    """A copy of the node whose saved inputs and output are the graph's Tensors instead of their arrays."""
    view = _new_object(type(ctx))
    parents = ctx.parents
    constants = type(ctx).constants
    for name, value in ctx.__dict__.items():
        if is_array(value) and value.dtype.kind in "fc":
            owners = [p for p in parents if value is p.data]
            if len({id(p) for p in owners}) > 1:  # which input the op saved cannot be told apart: never guess
                raise RuntimeError(
                    f"backward(create_graph=True): inputs of {type(ctx).__name__} are different tensors holding one "
                    "array (such as Tensor(a) twice); give one of them its own copy (clone()) to differentiate again"
                )
            if owners:
                value = graph_alias(owners[0])
            else:
                if value is out.data:
                    value = graph_alias(out)
                elif name not in constants:
                    raise RuntimeError(f"backward(create_graph=True): {type(ctx).__name__} keeps {name!r}, which is "
                                       "neither an input nor the output: it cannot be differentiated again")
        view.__dict__[name] = value
    view.__dict__["needs_input_grad"] = tuple(p._requires_grad for p in parents)
    return view


def graph_alias(t: Tensor) -> Tensor:
    """A stand-in for `t` in a graph recorded by a backward pass, so that such graphs never hold `t` itself.

    A `.grad` recorded under create_graph usually depends on the tensor it belongs to (d(w²)/dw = 2w): holding `w`
    there would make the cycle w → w.grad → node → w, which reference counting cannot free (PyTorch leaks through
    exactly this cycle). The stand-in has `t`'s data, version counter, node and creation number, so gradients
    through it are gradients through `t`: an intermediate's reach its node, and a leaf's are redirected to the
    leaf itself (held weakly, `_alias_of`) when the next backward gets there.
    """
    if getattr(t, "_alias_of", None) is not None and t._alias_of() is not None:
        t = t._alias_of()  # a stand-in of a stand-in stands for the tensor itself (third and higher orders)
    if t._vcell is None:
        t._vcell = new_version_cell()
    alias = Tensor._make(t.data, t._requires_grad, t._ctx)
    alias._seq, alias._vcell = t._seq, t._vcell
    alias._alias_of = weakref.ref(t)
    alias._hooks = {}  # not None: the engine takes the slow path for it, where the stand-in is resolved
    return alias


def _is_own(pg: Any, g: np.ndarray, in_grads: tuple, ctx: Function, retain_graph: bool) -> bool:
    """Whether the gradient array `pg` that `ctx.backward(g)` returned is new, with no other holder: then a leaf
    may take it as its `.grad` (and later add into it) without a copy. The incoming gradient passed through, a
    view, one array returned for two inputs, or an array the node saved (and keeps, under retain_graph) are not."""
    if pg is g or not is_array(pg) or pg.base is not None:
        return False
    if len(in_grads) > 1 and list(map(id, in_grads)).count(id(pg)) > 1:  # returned for two inputs
        return False
    return not retain_graph or all(pg is not v for v in vars(ctx).values())


def _conform(g: Any, t: Tensor, ctx: Function, recorded: bool = False) -> Any:
    """The gradient `g` for input `t`, summed over broadcast axes and cast to `t`'s dtype; checked for shape. At
    first order an array (summed or cast: a new one either way); `recorded` (create_graph): a Tensor, the same sums
    and casts as recorded ops."""
    if recorded:
        if not isinstance(g, Tensor):
            g = Tensor._make(np.asarray(g), False, None)  # a constant gradient (an op's backward made no graph)
    else:
        g = P.asarray(g)
    if g.shape != t.shape:
        try:
            g = unbroadcast(g, t.shape)
        except ValueError:
            raise RuntimeError(
                f"{type(ctx).__name__}.backward returned a gradient of shape {g.shape} for an input of shape {t.shape}"
            ) from None
    if g.dtype != t.dtype:
        g = g.to(t.dtype) if recorded else g.astype(t.dtype)
    return g


# ---------------------------------------------------------------------------------------------------------------
# the public entry points: Tensor.backward calls run_backward; grad is torch.autograd.grad


def _seed(t: Tensor, gradient: Any, create_graph: bool, fn: str) -> Any:
    if gradient is None:
        if t.data.size != 1:
            raise RuntimeError(
                f"{fn}: a gradient can be implied only for a one-element output, this one has shape "
                f"{tuple(t.shape)}; pass gradient= with that shape"
            )
        g = np.array(1, t.data.dtype).reshape(t.data.shape)  # np.ones_like, without its wrappers
        return Tensor._make(g, False, None) if create_graph else g
    if isinstance(gradient, Tensor):
        if gradient.shape != t.shape:
            raise RuntimeError(f"{fn}: gradient has shape {tuple(gradient.shape)}, the output has shape "
                               f"{tuple(t.shape)}")
        if create_graph:
            return gradient if gradient.dtype == t.dtype else gradient.to(t.dtype)
        return P.copy(gradient.data, t.dtype)  # a copy: the engine may add into it in place
    g = P.copy(gradient, t.dtype)
    if g.shape != t.shape:
        raise RuntimeError(f"{fn}: gradient has shape {g.shape}, the output has shape {tuple(t.shape)}")
    return Tensor._make(g, False, None) if create_graph else g


def run_backward(t: Tensor, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Any = None) -> None:
    """`Tensor.backward` (see there)."""
    if not t._requires_grad:
        raise RuntimeError("backward: element 0 of tensors does not require grad and does not have a grad_fn "
                           "(no input of this tensor has requires_grad=True)")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError("backward: inputs= was given but is empty")
        for i in inputs:
            if not isinstance(i, Tensor) or not i._requires_grad:
                raise RuntimeError("backward: every tensor in inputs= must require grad")
    grad = _seed(t, gradient, create_graph, "backward")
    if create_graph:
        with enable_grad():
            backward([(t, grad)], retain_graph, True, inputs)
    else:
        backward([(t, grad)], retain_graph, False, inputs)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False, materialize_grads: bool = False) -> tuple:
    """The gradients of `outputs` with respect to `inputs` (`torch.autograd.grad`), returned as a tuple of Tensors,
    with no `.grad` side effects. `grad_outputs` is the vector of the vector-Jacobian product (needed for outputs
    of more than one element). `retain_graph` defaults to `create_graph`; with `create_graph=True` the results have
    a graph of their own and can be differentiated again. An input the outputs do not depend on raises unless
    `allow_unused=True` (then its gradient is None, or zeros with `materialize_grads=True`)."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if not inputs:
        raise RuntimeError("grad: inputs must not be empty")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(t).__name__}, not a Tensor")
        if not t._requires_grad:
            raise RuntimeError(f"grad: inputs[{i}] does not require grad")
    if materialize_grads:
        allow_unused = True
    roots = []
    for i, (out, go) in enumerate(zip(outputs, grad_outputs)):
        if not out._requires_grad:
            raise RuntimeError(f"grad: outputs[{i}] does not require grad and does not have a grad_fn")
        roots.append((out, _seed(out, go, create_graph, "grad")))
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        with enable_grad():
            results = backward(roots, retain_graph, True, inputs, capture=True)
    else:
        results = backward(roots, retain_graph, False, inputs, capture=True)
    for i, r in enumerate(results):
        if r is None:
            if not allow_unused:
                raise RuntimeError(f"grad: one of the differentiated Tensors (inputs[{i}]) appears to not have "
                                   "been used in the graph; pass allow_unused=True if this is the desired behavior")
            if materialize_grads:
                results[i] = Tensor._make(np.zeros(inputs[i].shape, inputs[i].dtype), False, None)
    return tuple(results)

