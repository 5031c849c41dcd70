"""`gradcheck` and `gradgradcheck`: compare an op's first and second derivatives with central finite
differences, in float64."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tinygrad_np.autograd import no_grad
from tinygrad_np.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree."""


def gradcheck(fn: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0, raise_exception: bool = True) -> bool:
    """Check the gradients of `fn(*inputs)` with respect to every input that requires grad.

    The output is contracted with a random cotangent `v` (so a wrong sign or a swapped axis cannot cancel out, as
    it can with a plain `.sum()`), then two checks are made against central differences of ⟨v, fn(x)⟩:
    1. element by element: ∂⟨v, fn⟩/∂xᵢ for every element of every input;
    2. along one random ±1 direction `u` through all inputs at once: the directional derivative vs Σ ⟨grad, u⟩.
    Inputs that require grad must be float64 (float32 differences are too coarse to tell a bug from rounding).
    Returns True, or raises `GradcheckError` (returns False when `raise_exception=False`). The inputs' `.grad`
    is left as it was.
    """
    if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)):  # PyTorch's form: gradcheck(fn, (x, y))
        inputs = tuple(inputs[0])
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad")
    for t in wrt:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck: inputs must be float64, got {t.dtype} for an input of shape {t.shape}")
    rng = np.random.default_rng(seed)
    saved = [(t.grad, t.data) for t in wrt]
    try:
        for t in wrt:
            t.grad = None
        out = fn(*inputs)  # the analytic pass sees the inputs as given (a non-contiguous view stays one)
        v = rng.standard_normal(out.shape)
        out.backward(v)
        analytic = [np.zeros(t.shape) if t.grad is None else t.grad.data.copy() for t in wrt]
        for t in wrt:
            # a private, writable, C-ordered copy to perturb (the input may be a read-only or Fortran-ordered view;
            # C order makes `reshape(-1)` below a view, so writing to it really perturbs the input)
            t.data = np.array(t.data, order="C")

        def objective() -> float:
            with no_grad():
                return float(np.sum(fn(*inputs).data * v))

        for i, (t, a) in enumerate(zip(wrt, analytic)):
            numeric = np.empty(t.shape)
            flat = t.data.reshape(-1)  # a view: writing to it perturbs the input
            for j in range(flat.size):
                x = flat[j]
                flat[j] = x + eps
                up = objective()
                flat[j] = x - eps
                down = objective()
                flat[j] = x
                numeric.flat[j] = (up - down) / (2 * eps)
            if not np.allclose(a, numeric, rtol=rtol, atol=atol):
                worst = np.unravel_index(np.argmax(np.abs(a - numeric)), a.shape) if a.size else ()
                return _fail(raise_exception, f"input {i} (shape {t.shape}): analytic and numerical gradients "
                             f"differ; worst at index {worst}: analytic {a[worst]!r}, numerical {numeric[worst]!r}")

        # Random signs: x ± eps·u is then exactly as representable as the x ± eps of the element-wise check (a
        # Gaussian u would round x + eps·u, which a float32 stretch inside fn turns into a false alarm).
        directions = [rng.choice([-1.0, 1.0], size=t.shape) for t in wrt]
        originals = [t.data.copy() for t in wrt]
        values = []
        for sign in (1, -1):
            for t, x, u in zip(wrt, originals, directions):
                t.data[...] = x + sign * eps * u
            values.append(objective())
        for t, x in zip(wrt, originals):
            t.data[...] = x
        numeric_dir = (values[0] - values[1]) / (2 * eps)
        analytic_dir = float(sum(np.sum(a * u) for a, u in zip(analytic, directions)))
        if not np.isclose(analytic_dir, numeric_dir, rtol=rtol, atol=atol):
            return _fail(raise_exception, f"directional derivative along a random direction: analytic "
                         f"{analytic_dir!r}, numerical {numeric_dir!r}")
        return True
    finally:
        for t, (grad, data) in zip(wrt, saved):
            t.grad, t.data = grad, data


def _fail(raise_exception: bool, message: str) -> bool:
    if raise_exception:
        raise GradcheckError("gradcheck: " + message)
    return False


def gradgradcheck(fn: Callable[..., Tensor], *inputs: Any, grad_outputs: Any = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0, raise_exception: bool = True) -> bool:
    """Check the second derivatives of `fn(*inputs)`: `gradcheck` of its first derivative.

    The first derivative is taken as PyTorch's `gradgradcheck` takes it: the vector-Jacobian product
    u ↦ Jᵀu of `fn` with a cotangent u (random, or `grad_outputs`), computed by `autograd.grad(...,
    create_graph=True)`. That product is a function of the inputs and of u, so `gradcheck` then compares its
    backward (the recorded backward of the backward) with finite differences with respect to both, under a second
    random cotangent. Inputs that require grad must be float64. `inputs` may also be given as one tuple, as in
    PyTorch: `gradgradcheck(fn, (x, y))`.
    """
    from tinygrad_np.autograd import enable_grad, grad

    if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)):
        inputs = tuple(inputs[0])
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradgradcheck: no input requires grad")
    out = fn(*inputs)
    rng = np.random.default_rng(seed + 1)
    if grad_outputs is None:
        u = Tensor(rng.standard_normal(out.shape), requires_grad=True)
    else:
        u = grad_outputs if isinstance(grad_outputs, Tensor) else Tensor(np.asarray(grad_outputs, np.float64))
        u = Tensor(np.array(u.data, np.float64), requires_grad=True)
    positions = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]

    def first_derivative(*args: Any) -> Tensor:
        *xs, v = args
        ins = [xs[i] for i in positions]
        with enable_grad():  # gradcheck evaluates its function under no_grad; this one needs a graph
            grads = grad(fn(*xs), ins, grad_outputs=v, create_graph=True, allow_unused=True)
        parts = [(d if d is not None else Tensor(np.zeros(x.shape))).reshape(-1) for d, x in zip(grads, ins)]
        flat = parts[0] if len(parts) == 1 else parts[0].cat(*parts[1:])
        if not flat.requires_grad:  # the first derivative is a constant: its own derivative is zero
            flat = flat + v.reshape(-1).sum() * 0.0
        return flat

    return gradcheck(first_derivative, *inputs, u, eps=eps, atol=atol, rtol=rtol, seed=seed,
                     raise_exception=raise_exception)
