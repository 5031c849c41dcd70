"""Second and higher derivatives of the nn package's fused primitives, and gradients of loss targets.

1. `gradgradcheck` (finite differences of the recorded first derivative, with respect to the inputs, the target
   and the cotangent) of SoftmaxCrossEntropy, BinaryCrossEntropy, BinaryCrossEntropyWithLogits and
   BatchNormFunction on hypothesis-generated shapes, values, memory layouts and options, after checking that the
   first derivative recorded under create_graph equals the plain one (one formula on Tensors and on arrays).
2. A third-order check of cross_entropy.
3. PyTorch (float64) as the oracle for first derivatives and Hessian-vector products (torch.autograd.grad with
   create_graph=True): cross_entropy (indices, probabilities, label smoothing, ignore_index), BCE, BCE with logits
   (weight, pos_weight), batch_norm (train and eval).
4. Targets that require grad get PyTorch's gradient (BCE, BCE with logits, cross_entropy with probabilities,
   mse_loss, l1_loss); where PyTorch refuses (weights, running statistics that require grad) we raise too.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import arrays, cotangents

import nn.functional as F
from nn.normalization import batch_norm
from tinygrad_np import Tensor, gradgradcheck
from tinygrad_np.autograd import grad

EXAMPLES = settings(max_examples=20, deadline=None)
REDUCTIONS = ["mean", "sum", "none"]


def leaf(a) -> Tensor:
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def check2(fn, *inputs: Tensor, seed: int = 0) -> None:
    """`fn`'s second derivatives with respect to every input that requires grad.

    The first derivative recorded under create_graph (backward on Tensors) must equal the plain one (backward on
    arrays); then `gradgradcheck` differentiates the recorded one again against finite differences.
    """
    wrt = [t for t in inputs if t.requires_grad]
    out = fn(*inputs)
    v = Tensor(cotangents(out.shape, seed=seed))
    plain = grad(out, wrt, grad_outputs=v)
    recorded = grad(fn(*inputs), wrt, grad_outputs=v, create_graph=True)
    for p, r, t in zip(plain, recorded, wrt):
        assert r.shape == t.shape and r.dtype == t.dtype
        np.testing.assert_allclose(r.data, p.data, rtol=1e-12, atol=1e-14)
    assert gradgradcheck(fn, *inputs, seed=seed)


# ------------------------------------------------------------------------------------------- cross_entropy


CE_KINDS = ["index", "ignore", "prob", "prob, requires grad"]


@st.composite
def ce_problems(draw, kind: str):
    """Logits of shape (C,), (N, C) or (N, C, d1[, d2]) in any layout, and a target of the given kind."""
    c = draw(st.integers(1, 4))
    shape = draw(st.sampled_from([(c,), (draw(st.integers(1, 3)), c), (draw(st.integers(1, 2)), c, 2),
                                  (2, c, 1, 2)]))
    x = draw(arrays(shape, lo=-3.0, hi=3.0))
    batch = shape[:1] + shape[2:] if len(shape) > 1 else ()
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind in ("index", "ignore"):
        target = rng.integers(0, c, batch)
        if kind == "ignore" and target.size > 1:  # leave at least one sample counted
            target.reshape(-1)[1:] = np.where(rng.random(target.size - 1) < 0.5, -100, target.reshape(-1)[1:])
    else:  # rows that need not sum to 1: the gradient must use Σq, not assume it is 1
        target = draw(arrays(shape, lo=0.0, hi=1.0))
    return x, target, draw(st.sampled_from([0.0, 0.2]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", CE_KINDS)
@EXAMPLES
@given(data=st.data())
def test_cross_entropy_second_order(kind, reduction, data):
    x, target, smoothing = data.draw(ce_problems(kind))
    options = {"reduction": reduction, "label_smoothing": smoothing}
    if kind == "prob, requires grad":
        check2(lambda t, q: F.cross_entropy(t, q, **options), leaf(x), leaf(target))
        check2(lambda q: F.cross_entropy(Tensor(x), q, **options), leaf(target))  # the target alone
    else:
        check2(lambda t: F.cross_entropy(t, target, **options), leaf(x))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target", ["index", "prob"])
def test_cross_entropy_third_order(reduction, target):
    """d³loss: gradgradcheck of the recorded first derivative (so the recorded second derivative is differentiated
    once more against finite differences)."""
    rng = np.random.default_rng(1)
    x = leaf(rng.standard_normal((3, 4)))
    y = np.array([0, 3, 1]) if target == "index" else rng.dirichlet(np.ones(4), 3)

    def first_derivative(t):
        return grad(F.cross_entropy(t, y, reduction=reduction, label_smoothing=0.1), t, create_graph=True)[0] \
            if reduction != "none" else \
            grad(F.cross_entropy(t, y, reduction=reduction, label_smoothing=0.1), t,
                 grad_outputs=Tensor(np.array([0.3, -1.2, 0.8])), create_graph=True)[0]

    assert gradgradcheck(first_derivative, x)


def test_cross_entropy_create_graph_keeps_one_fused_node_and_the_target_as_input_only_if_it_requires_grad():
    x = leaf(np.random.default_rng(2).standard_normal((3, 4)))
    q = leaf(np.full((3, 4), 0.25))
    assert F.cross_entropy(x, q.detach()).grad_fn.parents == (x,)
    assert F.cross_entropy(x, q).grad_fn.parents == (x, q)
    assert F.cross_entropy(x, np.array([0, 1, 2])).grad_fn.parents == (x,)
    with pytest.raises(TypeError, match="floating-point"):  # class indices cannot require grad (nor in torch)
        Tensor(np.array([0, 1, 2]), requires_grad=True)


# ----------------------------------------------------------------------------------------------------- BCE


@st.composite
def bce_problems(draw, logits: bool):
    """Inputs (probabilities or logits) and targets of one shape, 0-d included, with or without a weight (matching
    or broadcast over the first axis) and, for logits, a pos_weight (one entry per class, the last axis)."""
    shape = draw(st.sampled_from([(), (3,), (2, 3), (2, 1, 2)]))
    x = draw(arrays(shape, lo=-3.0, hi=3.0) if logits else arrays(shape, lo=0.05, hi=0.95))
    y = draw(arrays(shape, lo=0.0, hi=1.0))
    options = {}
    if draw(st.booleans()):
        options["weight"] = draw(arrays(draw(st.sampled_from([shape, shape[1:]])), lo=0.5, hi=2.0))
    if logits and draw(st.booleans()):
        options["pos_weight"] = draw(arrays(shape[-1:], lo=0.5, hi=3.0))
    return x, y, options


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target_grad", [False, True])
@EXAMPLES
@given(data=st.data())
def test_bce_second_order(target_grad, reduction, data):
    x, y, options = data.draw(bce_problems(logits=False))
    if target_grad:
        check2(lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction, **options), leaf(x), leaf(y))
    else:
        check2(lambda p: F.binary_cross_entropy(p, y, reduction=reduction, **options), leaf(x))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target_grad", [False, True])
@EXAMPLES
@given(data=st.data())
def test_bce_with_logits_second_order(target_grad, reduction, data):
    x, y, options = data.draw(bce_problems(logits=True))
    if target_grad:
        check2(lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction=reduction, **options), leaf(x),
               leaf(y))
        check2(lambda t: F.binary_cross_entropy_with_logits(Tensor(x), t, reduction=reduction, **options), leaf(y))
    else:
        check2(lambda z: F.binary_cross_entropy_with_logits(z, y, reduction=reduction, **options), leaf(x))


# ------------------------------------------------------------------------------------------------ batch_norm


@st.composite
def bn_problems(draw):
    ndim = draw(st.sampled_from([2, 3, 4]))
    c = draw(st.integers(1, 3))
    shape = (draw(st.integers(2, 3)), c) + tuple(draw(st.integers(1, 2)) for _ in range(ndim - 2))
    # values spread apart: a channel of nearly equal values has σ² ≈ 0, where the derivatives (∝ 1/σ³ and up) are
    # too steep for finite differences
    x = draw(arrays(shape, lo=-2.0, hi=2.0, distinct=True, margin=0.3))
    return x, draw(arrays((c,), lo=0.5, hi=2.0)), draw(arrays((c,)))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@EXAMPLES
@given(data=st.data())
def test_batch_norm_second_order(training, affine, data):
    x, gamma, beta = data.draw(bn_problems())
    c = x.shape[1]
    running = (None, None) if training else (Tensor(np.linspace(-1, 1, c)), Tensor(np.linspace(0.5, 2, c)))
    if affine:
        check2(lambda t, g, b: batch_norm(t, *running, g, b, training=training), leaf(x), leaf(gamma), leaf(beta))
    else:
        check2(lambda t: batch_norm(t, *running, training=training), leaf(x))


# -------------------------------------------------------------------------------------- PyTorch: HVPs, float64


def derivatives(fn, inputs, v, w, lib):
    """fn's value, its first derivatives (⟨v, fn⟩ w.r.t. each input) and the Hessian-vector products
    ∂/∂inputs Σ ⟨first derivative, w⟩, in tinygrad_np or in torch."""
    if lib == "torch":
        import torch

        ts = [torch.tensor(a, requires_grad=True) for a in inputs]
        out = fn(*ts)
        first = torch.autograd.grad(out, ts, torch.tensor(v), create_graph=True, allow_unused=True,
                                    materialize_grads=True)
        s = sum((d * torch.tensor(wi)).sum() for d, wi in zip(first, w))
        second = torch.autograd.grad(s, ts, allow_unused=True, materialize_grads=True) if s.requires_grad else \
            [torch.zeros(t.shape) for t in ts]  # a first derivative without a graph: a constant
        return out.detach().numpy(), [d.detach().numpy() for d in first], [d.numpy(force=True) for d in second]
    ts = [leaf(a) for a in inputs]
    out = fn(*ts)
    first = grad(out, ts, grad_outputs=Tensor(v), create_graph=True, materialize_grads=True)
    s = sum((d * Tensor(wi)).sum() for d, wi in zip(first, w))
    second = grad(s, ts, materialize_grads=True) if s.requires_grad else [Tensor(np.zeros(t.shape)) for t in ts]
    return out.data, [d.data for d in first], [d.data for d in second]


def compare_with_torch(ours, theirs, inputs, seed=0, rtol=1e-10, atol=1e-12, bce=False):
    """Value, first derivatives and Hessian-vector products of `ours` and `theirs` (the same function, written
    with each library) at `inputs`, with random non-uniform cotangents.

    `bce`: PyTorch's double backward of binary_cross_entropy divides by (x + 1e-12)²(1 − x + 1e-12)² where the
    exact second derivative (ours: the derivative of the first) has x²(1 − x)², a relative change of ~1e-12 / x in
    each term, which an HVP element summing terms of opposite signs can magnify. The HVPs are then compared
    relative to their largest element (test_bce_hessian_is_exact checks ours elementwise against the closed form).
    """
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        out_shape = tuple(theirs(*[torch.tensor(a) for a in inputs]).shape)
    v = rng.standard_normal(out_shape)
    w = [rng.standard_normal(np.shape(a)) for a in inputs]
    a, b = derivatives(ours, inputs, v, w, "ours"), derivatives(theirs, inputs, v, w, "torch")
    np.testing.assert_allclose(a[0], b[0], rtol=rtol, atol=atol, err_msg="value")
    for order in (1, 2):
        for i, (mine, ref) in enumerate(zip(a[order], b[order])):
            tol = max(atol, rtol * np.abs(ref).max(initial=0)) if bce and order == 2 else atol
            np.testing.assert_allclose(mine, ref, rtol=rtol, atol=tol, err_msg=f"derivative {order}, input {i}")


CE_CASES = [
    ("indices", (5, 4), {}),
    ("indices", (5, 4), {"label_smoothing": 0.3}),
    ("ignored", (6, 4), {}),
    ("ignored", (6, 4), {"label_smoothing": 0.2, "ignore_index": 2}),
    ("indices", (3, 4, 2), {"label_smoothing": 0.1}),
    ("indices", (4,), {}),
    ("probabilities", (5, 4), {}),
    ("probabilities", (5, 4), {"label_smoothing": 0.25}),
    ("probabilities", (2, 3, 2, 2), {"label_smoothing": 0.1}),
    ("probabilities", (4,), {}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind, shape, opts", CE_CASES)
def test_cross_entropy_hvp_matches_torch(kind, shape, opts, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * 2
    c = shape[1] if len(shape) > 1 else shape[0]
    batch = shape[:1] + shape[2:] if len(shape) > 1 else ()
    if kind == "probabilities":  # the target requires grad: mixed derivatives too
        q = np.moveaxis(rng.dirichlet(np.ones(c), batch), -1, 1 if len(shape) > 1 else 0)
        compare_with_torch(lambda t, p: F.cross_entropy(t, p, reduction=reduction, **opts),
                           lambda t, p: torch.nn.functional.cross_entropy(t, p, reduction=reduction, **opts), [x, q])
        return
    y = rng.integers(0, c, batch)
    if kind == "ignored":
        y.reshape(-1)[[1, 3]] = opts.get("ignore_index", -100)
    compare_with_torch(lambda t: F.cross_entropy(t, y, reduction=reduction, **opts),
                       lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(y), reduction=reduction, **opts),
                       [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_hvp_matches_torch(weighted, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    p, y = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
    w = rng.uniform(0.5, 2, 3) if weighted else None
    tw = None if w is None else torch.tensor(w)
    compare_with_torch(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
                       lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, weight=tw, reduction=reduction),
                       [p, y], bce=True)


def test_bce_hessian_is_exact():
    """The second derivatives of BCE (the derivatives of its first), against their closed forms elementwise:
    ∂²/∂x² = w·(x² − 2xy + y)/(x(1 − x))², ∂²/∂x∂y = −w/(x(1 − x)), ∂²/∂y² = 0."""
    rng = np.random.default_rng(11)
    x, y, w = rng.uniform(0.05, 0.95, (4, 5)), rng.uniform(0, 1, (4, 5)), rng.uniform(0.5, 2, (4, 5))
    v, wx, wy = rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    _, _, (hx, hy) = derivatives(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction="none"), [x, y], v,
                                 [wx, wy], "ours")
    hxx, hxy = w * v * (x * x - 2 * x * y + y) / (x * (1 - x)) ** 2, -w * v / (x * (1 - x))
    np.testing.assert_allclose(hx, hxx * wx + hxy * wy, rtol=1e-12)
    np.testing.assert_allclose(hy, hxy * wx, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted, pos_weighted", [(False, False), (True, False), (False, True), (True, True)])
def test_bce_with_logits_hvp_matches_torch(weighted, pos_weighted, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4, 3)) * 3, rng.uniform(0, 1, (4, 3))
    w = rng.uniform(0.5, 2, (4, 3)) if weighted else None
    pw = rng.uniform(0.5, 3, 3) if pos_weighted else None
    tw, tpw = (None if a is None else torch.tensor(a) for a in (w, pw))
    compare_with_torch(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction, pos_weight=pw),
        lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(a, b, weight=tw, reduction=reduction,
                                                                          pos_weight=tpw),
        [x, y])


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (3, 2, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_hvp_matches_torch(shape, training, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    mean, var = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    running = (None, None) if training else (Tensor(mean), Tensor(var))
    t_running = (None, None) if training else (torch.tensor(mean), torch.tensor(var))
    inputs = [x, rng.uniform(0.5, 2, c), rng.standard_normal(c)] if affine else [x]
    compare_with_torch(lambda t, *gb: batch_norm(t, *running, *gb, training=training),
                       lambda t, *gb: torch.nn.functional.batch_norm(t, *t_running, *gb, training=training),
                       inputs)


# ------------------------------------------------------------------------------------- targets that require grad


def first_order_vs_torch(ours, theirs, inputs, seed=0):
    """Values and first derivatives, with respect to each input, of `ours` against `theirs`, at first order."""
    torch = pytest.importorskip("torch")
    ts = [leaf(a) for a in inputs]
    tt = [torch.tensor(a, requires_grad=True) for a in inputs]
    out, tout = ours(*ts), theirs(*tt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    v = cotangents(out.shape, seed=seed)
    out.backward(v)
    tout.backward(torch.tensor(v))
    for i, (t, r) in enumerate(zip(ts, tt)):
        np.testing.assert_allclose(t.grad.data, r.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=f"input {i}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy weighted", "with_logits",
                                  "with_logits weighted", "with_logits pos_weight", "with_logits both",
                                  "cross_entropy probabilities", "cross_entropy smoothed", "mse_loss", "l1_loss"])
def test_target_gradients_match_torch(name, reduction):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((5, 3)), rng.uniform(0, 1, (5, 3))
    probs = rng.uniform(0.05, 0.95, (5, 3))
    w, pw = rng.uniform(0.5, 2, (5, 3)), rng.uniform(0.5, 3, 3)
    cases = {
        "binary_cross_entropy": (F.binary_cross_entropy, tf.binary_cross_entropy, probs, {}),
        "binary_cross_entropy weighted": (F.binary_cross_entropy, tf.binary_cross_entropy, probs, {"weight": w}),
        "with_logits": (F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, x * 3, {}),
        "with_logits weighted": (F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, x,
                                 {"weight": w}),
        "with_logits pos_weight": (F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, x,
                                   {"pos_weight": pw}),
        "with_logits both": (F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, x,
                             {"pos_weight": pw, "weight": w}),
        "cross_entropy probabilities": (F.cross_entropy, tf.cross_entropy, x, {}),
        "cross_entropy smoothed": (F.cross_entropy, tf.cross_entropy, x, {"label_smoothing": 0.3}),
        "mse_loss": (F.mse_loss, tf.mse_loss, x, {}),
        "l1_loss": (F.l1_loss, tf.l1_loss, x, {}),
    }
    ours_fn, torch_fn, inp, opts = cases[name]
    t_opts = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    first_order_vs_torch(lambda a, b: ours_fn(a, b, reduction=reduction, **opts),
                         lambda a, b: torch_fn(a, b, reduction=reduction, **t_opts), [inp, y])
    # the target alone requiring grad
    fixed = Tensor(inp)
    first_order_vs_torch(lambda b: ours_fn(fixed, b, reduction=reduction, **opts),
                         lambda b: torch_fn(torch.tensor(inp), b, reduction=reduction, **t_opts), [y])
    # and the second derivatives, mixed ones included
    compare_with_torch(lambda a, b: ours_fn(a, b, reduction=reduction, **opts),
                       lambda a, b: torch_fn(a, b, reduction=reduction, **t_opts), [inp, y],
                       bce=ours_fn is F.binary_cross_entropy)


def test_bce_target_gradient_at_0_and_1_is_infinite_as_in_torch():
    """∂BCE/∂y = −logit(x), unclamped (PyTorch's), though the loss clamps its logs at −100."""
    torch = pytest.importorskip("torch")
    x, y = np.array([0.0, 1.0, 0.5, 0.25]), np.array([1.0, 0.0, 0.3, 0.6])
    t = leaf(y)
    F.binary_cross_entropy(Tensor(x), t, reduction="sum").backward()
    tt = torch.tensor(y, requires_grad=True)
    torch.nn.functional.binary_cross_entropy(torch.tensor(x), tt, reduction="sum").backward()
    np.testing.assert_array_equal(t.grad.data, tt.grad.numpy())  # [inf, -inf, -0.0, log 3]


def test_float32_target_gradient_keeps_its_dtype():
    x = Tensor(np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    y = Tensor(np.full((2, 3), 0.5, np.float32), requires_grad=True)
    for fn in (F.binary_cross_entropy_with_logits, F.cross_entropy, F.mse_loss):
        x.grad = y.grad = None
        loss = fn(x, y)
        loss.backward()
        assert loss.dtype == x.grad.dtype == y.grad.dtype == np.float32


@pytest.mark.parametrize("fn", [F.binary_cross_entropy, F.binary_cross_entropy_with_logits, F.cross_entropy])
def test_a_target_tensor_of_another_dtype_is_refused(fn):
    # PyTorch raises for binary_cross_entropy and promotes for the others: we never convert a Tensor silently
    x = Tensor(np.full((2, 3), 0.5), requires_grad=True)
    with pytest.raises(TypeError, match=r"target has dtype float32 but input has dtype float64"):
        fn(x, Tensor(np.full((2, 3), 0.5, np.float32), requires_grad=True))
    fn(x, np.full((2, 3), 0.5, np.float32))  # arrays (no gradient) take the input's dtype, as before


@pytest.mark.parametrize("fn, name", [(F.binary_cross_entropy, "weight"),
                                      (F.binary_cross_entropy_with_logits, "weight"),
                                      (F.binary_cross_entropy_with_logits, "pos_weight")])
def test_weights_that_require_grad_are_refused_as_in_torch(fn, name):
    torch = pytest.importorskip("torch")
    x, y = np.full((2, 3), 0.5), np.full((2, 3), 0.3)
    with pytest.raises(RuntimeError, match=f"not differentiable with respect to argument '{name}'"):
        getattr(torch.nn.functional, fn.__name__)(torch.tensor(x), torch.tensor(y),
                                                   **{name: torch.ones(3, dtype=torch.float64, requires_grad=True)})
    with pytest.raises(RuntimeError, match=f"{fn.__name__}: {name} requires grad"):
        fn(Tensor(x), y, **{name: Tensor(np.ones(3), requires_grad=True)})
    fn(Tensor(x), y, **{name: Tensor(np.ones(3), requires_grad=True).detach()})


@pytest.mark.parametrize("training", [True, False])
def test_running_statistics_that_require_grad_are_refused_as_in_torch(training):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).standard_normal((4, 3))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'running_mean'"):
        torch.nn.functional.batch_norm(torch.tensor(x), torch.zeros(3, dtype=torch.float64, requires_grad=True),
                                       torch.ones(3, dtype=torch.float64), training=training)
    with pytest.raises(RuntimeError, match="batch_norm: running_mean requires grad"):
        batch_norm(Tensor(x), Tensor(np.zeros(3), requires_grad=True), Tensor(np.ones(3)), training=training)


def test_constants_sharing_an_inputs_array_stay_constants_under_create_graph():
    """`x.detach()` shares x's array; given as a target or a weight it is a constant, which the engine must not
    mistake for x itself when it records backward (it recognises a node's inputs by identity)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x = rng.uniform(0.1, 0.9, (3, 4))
    compare_with_torch(lambda a: F.binary_cross_entropy(a, a.detach(), weight=a.detach()),
                       lambda a: torch.nn.functional.binary_cross_entropy(a, a.detach(), weight=a.detach()), [x],
                       bce=True)
    compare_with_torch(lambda a: F.binary_cross_entropy_with_logits(a, a.detach(), pos_weight=a.detach()[0]),
                       lambda a: torch.nn.functional.binary_cross_entropy_with_logits(a, a.detach(),
                                                                                      pos_weight=a.detach()[0]),
                       [x])
    compare_with_torch(lambda a: F.cross_entropy(a, a.detach()),
                       lambda a: torch.nn.functional.cross_entropy(a, a.detach()), [x])


def test_logits_changed_in_place_after_the_loss_raise_instead_of_a_wrong_gradient():
    """Backward recomputes the softmax from the logits, so it reads them: an in-place change in between is caught
    by the version counter (PyTorch, which keeps log-softmax instead, would go on with the old values)."""
    w = leaf(np.random.default_rng(10).standard_normal((3, 4)))
    logits = w * 1.0
    loss = F.cross_entropy(logits, np.array([0, 1, 2]))
    logits.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
