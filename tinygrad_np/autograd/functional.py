"""Derivatives of whole functions: `vjp`, `jvp`, `jacobian`, `hessian`, `hvp`, `vhp` (`torch.autograd.functional`).

Each takes a function `func` of Tensors and the point `inputs` (a Tensor or a tuple of Tensors) and is built from
`autograd.grad` alone; the signatures, the return structures and the `strict` checks are PyTorch's:
- `func` is called on new tensors that require grad (`inputs` themselves are never changed); under
  `create_graph=True` those tensors are views of `inputs` recorded in the graph, so the results can be
  differentiated again, also with respect to the original `inputs` (and to `v`) when those require grad;
- with `create_graph=False` every returned tensor (the function's output too) is detached;
- a tuple comes back wherever a tuple went in (inputs, or the function's outputs), a bare Tensor otherwise;
- an input the outputs do not depend on gets zeros, or with `strict=True` an error.
Forward mode is not implemented: `jvp` and `hvp` use the double-backward trick (the gradient of a vector-Jacobian
product with respect to its vector), as PyTorch's do; `jacobian(strategy="forward-mode")` and `vectorize=True`
raise.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tinygrad_np import ops
from tinygrad_np.autograd.engine import grad as autograd_grad
from tinygrad_np.autograd.grad_mode import enable_grad
from tinygrad_np.inplace import _view_of  # what Tensor.reshape does to its result
from tinygrad_np.tensor import Tensor, stack

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

_STRATEGIES = ("forward-mode", "reverse-mode")

# ---------------------------------------------------------------------------------------------------------------
# helpers


def _as_tuple(x: Any, what: str, fn: str, allow_empty: bool = False) -> tuple[bool, tuple]:
    """(whether `x` was a tuple, `x` as a tuple of Tensors). As in PyTorch only a tuple counts as several tensors:
    a list is one (invalid) element, so `[x, y]` is refused rather than silently read as a tuple. An empty tuple is
    refused unless `allow_empty` (PyTorch fails on one, with an IndexError, except for jvp's inputs and for v)."""
    was_tuple = isinstance(x, tuple)
    items = x if was_tuple else (x,)
    if not items and not allow_empty:
        raise RuntimeError(f"{fn}: the {what} are an empty tuple; there must be at least one Tensor")
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            where = f"the value at index {i} has type {type(t).__name__}" if was_tuple else \
                f"it has type {type(t).__name__}"
            raise TypeError(f"{fn}: the {what} must be a Tensor or a tuple of Tensors, but {where}")
    return was_tuple, items


def _unpack(res: tuple, was_tuple: bool) -> Any:
    return res if was_tuple else res[0]


def _identity(t: Tensor) -> Tensor:
    """A new tensor object equal to `t` and recorded as a view of it (PyTorch's `t.view_as(t)`). It must be a new
    object: `func` may also capture `t` itself, and only the uses of the argument must count as uses of the input."""
    return _view_of(ops.Reshape.apply(t, shape=t.shape), t)


def _prepare(tensors: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """The tensors `func` (or the engine, for `v`) actually gets. Under create_graph a tensor that requires grad
    stays connected to its original, so results can be differentiated with respect to it; everything else is cut
    off (detached), and the inputs are made to require grad (`need_graph`) so that `func` records its graph."""
    out = []
    for t in tensors:
        if create_graph and t.requires_grad:
            out.append(_identity(t))
        else:
            out.append(_detached(t).requires_grad_(need_graph))
    return tuple(out)


def _detached(t: Tensor) -> Tensor:
    """`t.detach()` (same memory, same version counter), but holding a new ndarray object: a view of `t`'s array.
    The engine's create_graph recognises a node's saved inputs by the identity of their arrays, so if `func` also
    captured `t` itself, a copy holding the very same array object would be taken for `t` in a Mul(copy, t) node,
    and the second derivative would count that factor too (hvp of (i * t).sum() at t would not be zero)."""
    d = t.detach()
    d.data = t.data.view()
    return d


def _check_v(v: tuple, refs: tuple, refs_tuple: bool, fn: str, against: str) -> None:
    """`v` must hold one tensor per element of `refs` (the outputs for vjp, the inputs otherwise), shape for shape
    (no broadcasting: each product is a contraction over the whole tensor)."""
    if len(v) != len(refs):
        if refs_tuple:
            raise RuntimeError(f"{fn}: v is a tuple of {len(v)} tensors, but the {against} are {len(refs)}: "
                               "pass one tensor of v per element")
        raise RuntimeError(f"{fn}: v must be a single Tensor, as the {against} is one tensor; got {len(v)}")
    for i, (a, b) in enumerate(zip(v, refs)):
        if a.shape != b.shape:
            which = f"v[{i}]" if refs_tuple else "v"
            raise RuntimeError(f"{fn}: {which} has shape {tuple(a.shape)}, but must have the shape of the "
                               f"{against}{f' [{i}]' if refs_tuple else ''}: {tuple(b.shape)}")


def _check_outputs(outputs: tuple, strict: bool, fn: str) -> None:
    if strict:
        for i, out in enumerate(outputs):
            if not out.requires_grad:
                raise RuntimeError(f"{fn}: output {i} of the user-provided function does not require grad (it does "
                                   "not depend on the inputs in a differentiable way); not allowed with strict=True")


def _check_jacobian(jac: tuple, strict: bool, fn: str) -> None:
    """For second derivatives: the gradient (recorded with create_graph) must depend on the inputs."""
    if strict:
        for i, g in enumerate(jac):
            if g is None:
                raise RuntimeError(f"{fn}: the output of the user-provided function is independent of input {i}; "
                                   "not allowed with strict=True")
            if not g.requires_grad:
                raise RuntimeError(
                    f"{fn}: while computing second derivatives, found that the gradient of the user-provided "
                    f"function with respect to input {i} is independent of the inputs (a linear function, say); not "
                    "allowed with strict=True. The function must be twice differentiable with a gradient that "
                    "depends on the inputs."
                )


def _grad(outputs: tuple, inputs: tuple, grad_outputs: Any, create_graph: bool, retain_graph: Any = None) -> tuple:
    """`autograd.grad` over the outputs that can be differentiated: entries that are None or do not require grad
    are dropped (with their grad_outputs), as their contribution is zero; None for every input they leave out.
    Needs no grad-mode context: `grad` records only under create_graph, and then enables grad mode itself (so the
    results are differentiable inside `no_grad()` too, as PyTorch's)."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    kept = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not kept:
        return (None,) * len(inputs)
    outs, gos = zip(*kept)
    return autograd_grad(list(outs), list(inputs), list(gos), retain_graph=retain_graph, create_graph=create_graph,
                         allow_unused=True)


_INDEPENDENT = {  # why a result is missing, by the step that found it (see the callers)
    "back": "the output of the user-provided function is independent of input {i}",
    "back_trick": "output {i} of the user-provided function is independent of the inputs (found by the "
                  "double-backward trick: the gradient of the inputs does not depend on that output's vector)",
    "double_back": "the gradient of the user-provided function is independent of input {i}",
    "double_back_trick": "the gradient of the user-provided function with respect to input {i} is independent of the "
                         "inputs (found by the double-backward trick: the Hessian has no rows for input {i})",
}


def _zeros_for_unused(grads: tuple, refs: tuple, strict: bool, create_graph: bool, stage: str, fn: str) -> tuple:
    """Replace the None of an independent input by zeros of the reference's shape and dtype (its mathematical
    value); with strict=True raise instead, and also, under create_graph, for a result that has no graph."""
    res = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(f"{fn}: {_INDEPENDENT[stage].format(i=i)}; not allowed with strict=True")
            g = Tensor.zeros_like(ref)
        elif strict and create_graph and not g.requires_grad:
            what = "Hessian" if stage.startswith("double") else "Jacobian"
            raise RuntimeError(f"{fn}: the {what} of the user-provided function is independent of input {i}; not "
                               "allowed with strict=True and create_graph=True")
        res.append(g)
    return tuple(res)


def _finish(res: Any, create_graph: bool) -> Any:
    """Results as returned: detached unless create_graph (nested tuples are followed)."""
    if isinstance(res, Tensor):
        return res if create_graph else res.detach()
    return tuple(_finish(r, create_graph) for r in res)


def _check_strategy(fn: str, name: str, strategy: Any, vectorize: bool) -> None:
    if strategy not in _STRATEGIES:
        raise ValueError(f"{fn}: {name} must be 'forward-mode' or 'reverse-mode', got {strategy!r}")
    if strategy == "forward-mode":
        raise NotImplementedError(f"{fn}: {name}='forward-mode' is not supported (tinygrad_np has no forward-mode "
                                  f"AD); use {name}='reverse-mode', which gives the same values")
    if vectorize:
        raise NotImplementedError(f"{fn}: vectorize=True is not supported (tinygrad_np has no vmap); use "
                                  "vectorize=False, which gives the same values one backward pass per output element")


def _one_hot(shape: tuple, k: int, dtype: np.dtype) -> np.ndarray:
    e = np.zeros(int(np.prod(shape)), dtype)
    e[k] = 1
    return e.reshape(shape)


# ---------------------------------------------------------------------------------------------------------------
# public API


def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """(func(inputs), vᵀ·J): the vector-Jacobian product, J = ∂func/∂inputs, one result per input and of its shape.

    `v` has the shape of the output(s); it may be omitted only when `func` returns a single one-element Tensor.
    """
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        _check_outputs(outputs, strict, "vjp")
        if v is not None:
            v = _prepare(_as_tuple(v, "v", "vjp", allow_empty=True)[1], create_graph, need_graph=False)
            _check_v(v, outputs, outputs_tuple, "vjp", "outputs of the user-provided function")
        elif len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError("vjp: v can be omitted only when the user-provided function returns a single Tensor "
                               "with a single element; pass v with the shape of the output(s)")
    res = _grad(outputs, inputs, v, create_graph)
    res = _zeros_for_unused(res, inputs, strict, create_graph, "back", "vjp")
    return _unpack(_finish(outputs, create_graph), outputs_tuple), _unpack(_finish(res, create_graph), inputs_tuple)


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """(func(inputs), J·v): the Jacobian-vector product, one result per output and of its shape.

    `v` has the shape of the input(s); it may be omitted only for a single one-element input. Computed by the
    double-backward trick: u ↦ uᵀ·J is linear in u, so J·v = ∂(uᵀ·J·v)/∂u, at any u (zeros here).
    """
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp", allow_empty=True)  # as PyTorch's jvp
        inputs = _prepare(inputs, create_graph, need_graph=True)
        if v is not None:
            v = _prepare(_as_tuple(v, "v", "jvp", allow_empty=True)[1], create_graph, need_graph=False)
            _check_v(v, inputs, inputs_tuple, "jvp", "inputs")
        elif len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError("jvp: v can be omitted only when the input is a single Tensor with a single element; "
                               "pass v with the shape of the input(s)")
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        _check_outputs(outputs, strict, "jvp")
        # The point u of the trick: its value never shows in the result (the backward is linear in u), so zeros.
        u = tuple(Tensor.zeros_like(out, requires_grad=True) for out in outputs)
        grad_inputs = _grad(outputs, inputs, u, create_graph=True)
        if strict:
            for i, g in enumerate(grad_inputs):
                if g is None:
                    raise RuntimeError(f"jvp: the output of the user-provided function is independent of input {i}; "
                                       "not allowed with strict=True")
                if not g.requires_grad:
                    raise RuntimeError(f"jvp: the gradient with respect to input {i} does not depend on the vector "
                                       "it is computed for, so the double-backward trick cannot work (the "
                                       "derivative vanishes, as through sign()); not allowed with strict=True")
    res = _grad(grad_inputs, u, v, create_graph)
    res = _zeros_for_unused(res, outputs, strict, create_graph, "back_trick", "jvp")
    return _unpack(_finish(outputs, create_graph), outputs_tuple), _unpack(_finish(res, create_graph), outputs_tuple)


def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode") -> Any:
    """The Jacobian of `func` at `inputs`: block [i][j] = ∂output_i/∂input_j, of shape output_i.shape + input_j.shape
    and input_j's dtype; a bare Tensor for a single input and output, a tuple when one of them is a tuple, a tuple
    of tuples (by output, then input) when both are. One backward pass per output element (reverse mode)."""
    _check_strategy("jacobian", "strategy", strategy, vectorize)
    return _jacobian(func, inputs, create_graph, strict, "jacobian", "output {i} of the user-provided function")


def _jacobian(func: Callable, inputs: Any, create_graph: bool, strict: bool, fn: str, output_i: str) -> Any:
    """`jacobian`, for `fn` (jacobian or hessian), whose errors call output i `output_i`."""
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn)
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", fn)
        _check_outputs(outputs, strict, fn)
        blocks = []
        for i, out in enumerate(outputs):
            what = output_i.format(i=i)
            if out.numel() == 0:  # PyTorch's reverse mode fails here too ("stack expects a non-empty TensorList")
                raise RuntimeError(f"{fn}: {what} has no elements (shape {tuple(out.shape)}), which the "
                                   f"reverse-mode {fn} does not support")
            rows = [[] for _ in inputs]  # rows[j][k]: ∂ out.flat[k] / ∂ inputs[j]
            for k in range(out.numel()):
                seed = (_one_hot(out.shape, k, out.dtype),)
                grads = _grad((out,), inputs, seed, create_graph, retain_graph=True)
                for j, g in enumerate(grads):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"{fn}: {what} is independent of input {j}; not allowed with "
                                               "strict=True")
                        g = Tensor.zeros_like(inputs[j])
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(f"{fn}: the derivative of {what} with respect to input {j} is "
                                           "independent of the inputs; not allowed with strict=True and "
                                           "create_graph=True")
                    rows[j].append(g)
            blocks.append(tuple(stack(r).reshape(out.shape + inp.shape) for r, inp in zip(rows, inputs)))
        blocks = _finish(tuple(blocks), create_graph)
    if not inputs_tuple:
        blocks = tuple(b[0] for b in blocks)
    return _unpack(blocks, outputs_tuple)


def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of the scalar function `func` (it returns one Tensor with one element): the Jacobian of its
    gradient. Block [i][j] = ∂²func/∂input_i∂input_j, of shape input_i.shape + input_j.shape; a bare Tensor for a
    single input, a tuple of tuples for a tuple of inputs."""
    _check_strategy("hessian", "outer_jacobian_strategy", outer_jacobian_strategy, vectorize)
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def scalar_func(*args: Tensor) -> Tensor:
        # 0-d, so that the gradient has the input's shape and each block in_i.shape + in_j.shape
        return _scalar_output(func, args, strict, "hessian")[0].reshape(())

    def gradient(*args: Tensor) -> tuple:
        jac = _jacobian(scalar_func, args, True, False, "hessian", "the function's output")
        _check_jacobian(jac, strict, "hessian")
        return jac

    res = _jacobian(gradient, inputs, create_graph, strict, "hessian", "the gradient with respect to input {i}")
    if not inputs_tuple:
        res = res[0][0]
    return res


def _recorded_gradient(func: Callable, inputs: Any, v: Any, create_graph: bool, strict: bool, fn: str) -> tuple:
    """What vhp and hvp both start from: the inputs and v checked, func's scalar output, and its gradient recorded
    (create_graph) so that it can be differentiated again."""
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn)
        inputs = _prepare(inputs, create_graph, need_graph=True)
        v = _hessian_v(v, inputs, inputs_tuple, create_graph, fn)
        outputs = _scalar_output(func, inputs, strict, fn)
        jac = _grad(outputs, inputs, None, create_graph=True)
        _check_jacobian(jac, strict, fn)
    return inputs_tuple, inputs, v, outputs, jac


def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """(func(inputs), vᵀ·H) for the scalar function `func` with Hessian H: the gradient of ⟨∇func, v⟩, one result
    per input and of its shape. `v` has the shape of the input(s); it may be omitted only for a single one-element
    input."""
    inputs_tuple, inputs, v, outputs, jac = _recorded_gradient(func, inputs, v, create_graph, strict, "vhp")
    res = _grad(jac, inputs, v, create_graph)
    res = _zeros_for_unused(res, inputs, strict, create_graph, "double_back", "vhp")
    return _finish(outputs, create_graph)[0], _unpack(_finish(res, create_graph), inputs_tuple)


def hvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False) -> tuple:
    """(func(inputs), H·v) for the scalar function `func` with Hessian H, one result per input and of its shape.
    `v` has the shape of the input(s); it may be omitted only for a single one-element input.

    As PyTorch's, by the double-backward trick on vhp: u ↦ uᵀ·H is linear, so H·v = ∂(uᵀ·H·v)/∂u (at u = 0).
    Equal to vhp when H is symmetric (func twice continuously differentiable), at about twice the cost.
    """
    inputs_tuple, inputs, v, outputs, jac = _recorded_gradient(func, inputs, v, create_graph, strict, "hvp")
    with enable_grad():
        u = tuple(Tensor.zeros_like(inp, requires_grad=True) for inp in inputs)
        double_back = _grad(jac, inputs, u, create_graph=True)
    res = _grad(double_back, u, v, create_graph)
    res = _zeros_for_unused(res, inputs, strict, create_graph, "double_back_trick", "hvp")
    return _finish(outputs, create_graph)[0], _unpack(_finish(res, create_graph), inputs_tuple)


def _hessian_v(v: Any, inputs: tuple, inputs_tuple: bool, create_graph: bool, fn: str) -> Any:
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError(f"{fn}: v can be omitted only when the input is a single Tensor with a single "
                               "element; pass v with the shape of the input(s)")
        return None
    v = _prepare(_as_tuple(v, "v", fn, allow_empty=True)[1], create_graph, need_graph=False)
    _check_v(v, inputs, inputs_tuple, fn, "inputs")
    return v


def _scalar_output(func: Callable, inputs: tuple, strict: bool, fn: str) -> tuple:
    """func(*inputs) as a 1-tuple, checked to be a single one-element Tensor (hessian, vhp and hvp need a scalar
    function)."""
    out_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", fn)
    _check_outputs(outputs, strict, fn)
    if out_tuple:
        raise RuntimeError(f"{fn}: the user-provided function must return a single Tensor, not a tuple")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"{fn}: the Tensor returned by the user-provided function must have a single element, "
                           f"it has shape {tuple(outputs[0].shape)}")
    return outputs
