"""tinygrad_np.autograd.functional against torch.autograd.functional: vjp, jvp, jacobian, hessian, hvp, vhp.

Every comparison checks the whole returned structure (tuple or bare Tensor, nesting), and for each tensor its
shape, dtype, values (float64) and whether it requires grad (detached unless create_graph=True).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import arrays, broadcastable_shapes, shapes

import tinygrad_np.autograd.functional as F
from tinygrad_np import Tensor, no_grad
from tinygrad_np.autograd import grad

torch = pytest.importorskip("torch")
TF = torch.autograd.functional

FEW = settings(max_examples=40, deadline=None)  # each example: one functional op, ours and torch (a few ms)


def ours(a, requires_grad=False):
    # the array itself, not a copy: inputs keep the memory layout strategies.arrays drew (strided, reversed, ...)
    return Tensor(np.asarray(a), requires_grad=requires_grad)


def theirs(a, requires_grad=False):
    return torch.tensor(np.array(a), requires_grad=requires_grad)


def assert_same(got, want, where="result", rtol=1e-10, atol=1e-12):
    """`got` (ours) has exactly the structure of `want` (torch's), and equal tensors in it."""
    if isinstance(want, tuple):
        assert type(got) is tuple, f"{where}: got a {type(got).__name__}, torch returns a tuple"
        assert len(got) == len(want), f"{where}: got {len(got)} elements, torch returns {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]", rtol, atol)
        return
    assert isinstance(want, torch.Tensor)
    assert type(got) is Tensor, f"{where}: got a {type(got).__name__}, torch returns a Tensor"
    assert got.shape == tuple(want.shape), f"{where}: shape {got.shape}, torch {tuple(want.shape)}"
    assert str(got.dtype) == str(want.dtype).replace("torch.", ""), f"{where}: dtype {got.dtype}, torch {want.dtype}"
    assert got.requires_grad == want.requires_grad, f"{where}: requires_grad {got.requires_grad}, torch's is not"
    np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=rtol, atol=atol, err_msg=where)


def flat(res):
    """The tensors of a (nested) result, in order."""
    if isinstance(res, tuple):
        return [t for r in res for t in flat(r)]
    return [res]


# ---------------------------------------------------------------------------------------------------------------
# the functions: each runs on our Tensors and torch's alike (operators and methods both have)


def poly(x):
    return x ** 3 - 2 * x * x + 0.5 * x


def exp_log_tanh(x):
    return (x.exp() + 1).log() * x.tanh()


def two_outputs(x, y):  # broadcasting inputs, a vector output and a scalar one
    return (x * y).tanh() + (y * y + 1).log(), (x.exp() * y).sum()


def matmul(a, b):
    return a @ b


def mlp(x, w):  # a tied-weight autoencoder layer: inputs (n, k) and weights (k, m)
    return ((x @ w).tanh() @ w.T).sigmoid()


VECTOR_FUNCTIONS = {"poly": poly, "exp_log_tanh": exp_log_tanh, "two_outputs": two_outputs, "matmul": matmul,
                    "mlp": mlp}
SCALAR_FUNCTIONS = {
    "poly": lambda x: poly(x).sum(),
    "exp_log_tanh": lambda x: exp_log_tanh(x).sum(),
    "two_outputs": lambda x, y: two_outputs(x, y)[0].sum() * two_outputs(x, y)[1],
    "matmul": lambda a, b: ((a @ b) ** 2).sum(),
    "mlp": lambda x, w: ((mlp(x, w) - x) ** 2).mean(),
}


@st.composite
def points(draw, name):
    """Input arrays for the function `name`, of hypothesis-drawn small shapes (0-d and size-1 axes included)."""
    if name in ("poly", "exp_log_tanh"):
        return (draw(arrays(shapes(max_dims=2, max_side=3))),)
    if name == "two_outputs":
        sx, sy = draw(broadcastable_shapes(2, max_dims=2).filter(lambda s: all(np.prod(t) <= 9 for t in s)))
        return draw(arrays(sx)), draw(arrays(sy))
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    return draw(arrays((n, k), lo=-1, hi=1)), draw(arrays((k, m), lo=-1, hi=1))


@st.composite
def cases(draw, functions):
    name = draw(st.sampled_from(sorted(functions)))
    arrs = draw(points(name))
    # a single input is passed bare or as a 1-tuple: the results must follow
    as_tuple = len(arrs) > 1 or draw(st.booleans())
    return functions[name], arrs, as_tuple, draw(st.booleans())


def pack(arrs, make, as_tuple):
    ts = tuple(make(a) for a in arrs)
    return ts if as_tuple else ts[0]


def random_like(res, seed):
    """(arrays of the shapes of the tensors of `res`, whether `res` is a tuple): a non-uniform vector v."""
    rng = np.random.default_rng(seed)
    is_tuple = isinstance(res, tuple)
    return tuple(rng.standard_normal(tuple(t.shape)) for t in (res if is_tuple else (res,))), is_tuple


# ---------------------------------------------------------------------------------------------------------------
# values and structures against torch


@FEW
@given(cases(VECTOR_FUNCTIONS))
def test_vjp_matches_torch(case):
    func, arrs, as_tuple, create_graph = case
    v, v_tuple = random_like(func(*(theirs(a) for a in arrs)), 1)
    want = TF.vjp(func, pack(arrs, theirs, as_tuple), pack(v, theirs, v_tuple), create_graph=create_graph)
    got = F.vjp(func, pack(arrs, ours, as_tuple), pack(v, ours, v_tuple), create_graph=create_graph)
    assert_same(got, want)


@FEW
@given(cases(VECTOR_FUNCTIONS))
def test_jvp_matches_torch(case):
    func, arrs, as_tuple, create_graph = case
    v, _ = random_like(tuple(theirs(a) for a in arrs), 2)
    want = TF.jvp(func, pack(arrs, theirs, as_tuple), pack(v, theirs, as_tuple), create_graph=create_graph)
    got = F.jvp(func, pack(arrs, ours, as_tuple), pack(v, ours, as_tuple), create_graph=create_graph)
    assert_same(got, want)


@FEW
@given(cases(VECTOR_FUNCTIONS))
def test_jacobian_matches_torch(case):
    func, arrs, as_tuple, create_graph = case
    want = TF.jacobian(func, pack(arrs, theirs, as_tuple), create_graph=create_graph)
    got = F.jacobian(func, pack(arrs, ours, as_tuple), create_graph=create_graph)
    assert_same(got, want)


@FEW
@given(cases(SCALAR_FUNCTIONS))
def test_hessian_matches_torch(case):
    func, arrs, as_tuple, create_graph = case
    want = TF.hessian(func, pack(arrs, theirs, as_tuple), create_graph=create_graph)
    got = F.hessian(func, pack(arrs, ours, as_tuple), create_graph=create_graph)
    assert_same(got, want)


@pytest.mark.parametrize("op", ["hvp", "vhp"])
@FEW
@given(case=cases(SCALAR_FUNCTIONS))
def test_hvp_vhp_match_torch(op, case):
    func, arrs, as_tuple, create_graph = case
    v, _ = random_like(tuple(theirs(a) for a in arrs), 3)
    want = getattr(TF, op)(func, pack(arrs, theirs, as_tuple), pack(v, theirs, as_tuple), create_graph=create_graph)
    got = getattr(F, op)(func, pack(arrs, ours, as_tuple), pack(v, ours, as_tuple), create_graph=create_graph)
    assert_same(got, want)


def test_jacobian_blocks_of_several_outputs_and_inputs():
    # two outputs × two inputs of different shapes: a tuple (by output) of tuples (by input) of out.shape + in.shape
    x, y = np.linspace(-1, 1, 6).reshape(2, 3), np.array([0.3, -0.7, 1.1])
    got = F.jacobian(two_outputs, (ours(x), ours(y)))
    want = TF.jacobian(two_outputs, (theirs(x), theirs(y)))
    assert_same(got, want)
    assert [b.shape for b in flat(got)] == [(2, 3, 2, 3), (2, 3, 3), (2, 3), (3,)]


def _one_element_calls(lib, make, create_graph):
    s, m = make(np.array(0.7)), make(np.array([[0.4]]))

    def f(x):
        return (x.exp() * x).sum()

    return (
        lib.vjp(f, s, create_graph=create_graph), lib.vjp(lambda x: (x * x,), (m,)),
        lib.vjp(lambda x: x.exp(), m, (m,)), lib.vjp(lambda x: (x.exp(),), m, m),
        lib.jvp(lambda x: x.tanh(), s, create_graph=create_graph), lib.jvp(lambda x: (x * x,), (m,)),
        lib.hvp(f, s, create_graph=create_graph), lib.vhp(f, (m,), create_graph=create_graph),
        lib.hvp(lambda x: (x ** 3).reshape(1, 1), m), lib.vhp(lambda x: x.exp().reshape(1), s),
        lib.jacobian(f, s), lib.jacobian(lambda x: (x.exp(),), (m,), create_graph=create_graph),
        lib.hessian(f, m), lib.hessian(lambda x: (x ** 4).reshape(1, 1), (s,)),
    )


@pytest.mark.parametrize("create_graph", [False, True])
def test_one_element_tuples_and_defaults_for_v(create_graph):
    # v may be omitted for one-element outputs (vjp) or inputs (jvp, hvp, vhp); 0-d and (1, 1) shapes; a 1-tuple
    # and a bare Tensor are interchangeable for v, but the results follow the inputs' and outputs' own structure
    assert_same(_one_element_calls(F, ours, create_graph), _one_element_calls(TF, theirs, create_graph))


def _mixed_dtype_calls(lib, make):
    x32, y64 = make(np.array([0.5, -1.5], np.float32)), make(np.array([0.25, 2.0]))

    def f(x, y):
        return (x * y).tanh(), x * 2

    return (lib.jacobian(f, (x32, y64)), lib.jvp(f, (x32, y64), (y64, x32)),
            lib.hessian(lambda x, y: (x * y).tanh().sum(), (x32, y64)))


def test_zero_d_input_used_three_times():
    # the gradient of a 0-d input summed from three contributions (x·x uses x twice, 3·x once): NumPy sums two
    # 0-d arrays to a scalar, which the engine once took for an array it could add the third one into in place
    assert_same(F.vjp(lambda x: x * x + x * 3, ours(np.array(1.0))),
                TF.vjp(lambda x: x * x + x * 3, theirs(np.array(1.0))))


def test_mixed_float_dtypes():
    # each jacobian block has its input's dtype, each jvp result its output's (float32 values: float32 tolerance)
    assert_same(_mixed_dtype_calls(F, ours), _mixed_dtype_calls(TF, theirs), rtol=1e-6, atol=1e-7)


def _zero_calls(lib, make, create_graph):
    a = np.array([0.5, -1.0, 2.0])
    x, y, v, const = make(a), make(a), (make(a), make(a)), make(a) * 2

    def scalar(x, y):
        return x.exp().sum() + (y * 2).sum()

    return (
        lib.vjp(lambda x, y: x.exp(), (x, y), make(a), create_graph=create_graph),
        lib.jvp(lambda x, y: (x.exp(), const), (x, y), v, create_graph=create_graph),
        lib.jacobian(lambda x, y: (x.exp(), const), (x, y), create_graph=create_graph),
        lib.hessian(scalar, (x, y), create_graph=create_graph),
        lib.hvp(scalar, (x, y), v, create_graph=create_graph),
        lib.vhp(lambda x, y: x.exp().sum(), (x, y), v, create_graph=create_graph),
        lib.jvp(lambda x: x, x, make(a), create_graph=create_graph),  # the output is the input itself
        lib.vjp(lambda x: x, x, make(a), create_graph=create_graph),
    )


@pytest.mark.parametrize("create_graph", [False, True])
def test_unused_inputs_and_constant_outputs_give_zeros(create_graph):
    assert_same(_zero_calls(F, ours, create_graph), _zero_calls(TF, theirs, create_graph))


def _capturing_calls(lib, make, create_graph):
    a = np.array([1.0, -2.0, 0.5])
    x = make(a)

    def f(i):
        return (i * x).sum()

    return (lib.vjp(lambda i: i * x, x, make(a), create_graph=create_graph),
            lib.hvp(f, x, make(a), create_graph=create_graph), lib.vhp(f, x, make(a), create_graph=create_graph),
            lib.hessian(lambda i: (i * x * i).sum(), x, create_graph=create_graph))


@pytest.mark.parametrize("create_graph", [False, True])
def test_function_capturing_its_own_input(create_graph):
    # func also closes over the tensor it is evaluated at: only the argument counts as the input, so the
    # derivative of (i * x).sum() with respect to i is x, and its second derivative is zero (not one)
    assert_same(_capturing_calls(F, ours, create_graph), _capturing_calls(TF, theirs, create_graph))


# ---------------------------------------------------------------------------------------------------------------
# inputs are not changed; create_graph=False detaches; grad mode


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("create_graph", [False, True])
def test_inputs_are_left_alone(requires_grad, create_graph):
    a = np.array([[0.5, -1.0], [2.0, 0.25]])
    x = ours(a.copy(), requires_grad=requires_grad)

    def f(x):
        return (x.exp() * x).sum()

    results = [F.vjp(f, x, create_graph=create_graph), F.jvp(f, x, ours(a), create_graph=create_graph),
               F.jacobian(f, x, create_graph=create_graph), F.hessian(f, x, create_graph=create_graph),
               F.hvp(f, x, ours(a), create_graph=create_graph), F.vhp(f, x, ours(a), create_graph=create_graph)]
    assert x.requires_grad == requires_grad and x.grad is None and x.is_leaf
    np.testing.assert_array_equal(x.data, a)
    for t in flat(tuple(results)):
        assert t.requires_grad == create_graph  # (every result of this function depends on x)
        if not create_graph:
            assert t.grad_fn is None


def test_works_inside_no_grad():
    a = np.array([0.5, -1.0])

    def f(x):
        return (x.exp() * x).sum()

    with no_grad():
        got = (F.vjp(f, ours(a)), F.hessian(f, ours(a), create_graph=True), F.hvp(f, ours(a), ours(a)))
    with torch.no_grad():
        want = (TF.vjp(f, theirs(a)), TF.hessian(f, theirs(a), create_graph=True), TF.hvp(f, theirs(a), theirs(a)))
    assert_same(got, want)


# ---------------------------------------------------------------------------------------------------------------
# create_graph=True: the results differentiate again, to the original inputs and to v


def _vector_f(x, y):
    return (x.exp() * y).tanh(), (x * y * y).sum()


def _scalar_f(x, y):
    return ((x.exp() * y).tanh() ** 2).sum() + (x * y * y).sum()


def _differentiate_again(lib, make, op):
    """op(create_graph=True) at inputs that require grad, with a v that requires grad; then the gradient of a
    weighted sum of its results with respect to the inputs and v, and the gradient of that gradient's squared norm
    with respect to the inputs: up to fourth derivatives of _vector_f / _scalar_f."""
    autograd_grad = grad if lib is F else torch.autograd.grad
    rng = np.random.default_rng(5)
    x, y = make(rng.uniform(-1, 1, (2, 3)), True), make(rng.uniform(-1, 1, 3), True)
    v_out = (make(rng.standard_normal((2, 3)), True), make(rng.standard_normal(()), True))
    v_in = (make(rng.standard_normal((2, 3)), True), make(rng.standard_normal(3), True))
    v = {"vjp": v_out, "jvp": v_in, "hvp": v_in, "vhp": v_in}.get(op)
    func = _scalar_f if op in ("hvp", "vhp", "hessian") else _vector_f
    res = getattr(lib, op)(func, (x, y), *([v] if v else []), create_graph=True)
    tensors = [t for t in flat(res) if t.requires_grad]
    total = sum((t * make(rng.standard_normal(tuple(t.shape)))).sum() for t in tensors)
    g = [gi for gi in autograd_grad(total, (x, y, *(v or ())), create_graph=True, allow_unused=True)
         if gi is not None]
    g2 = autograd_grad(sum((gi * gi).sum() for gi in g if gi.requires_grad), (x, y))
    return res, tuple(g), g2


@pytest.mark.parametrize("op", ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"])
def test_create_graph_results_differentiate_again(op):
    got, want = _differentiate_again(F, ours, op), _differentiate_again(TF, theirs, op)
    assert_same(got, want)
    assert len(got[1]) >= 2  # the results depend on both inputs (and on v)


def test_create_graph_hessian_backward_into_original_input():
    # .backward() through a Hessian reaches the caller's leaf: Σ H ∘ W differentiated is a third derivative
    a, w = np.array([0.3, -0.8, 1.2]), np.random.default_rng(0).standard_normal((3, 3))
    grads = []
    for make, lib in ((ours, F), (theirs, TF)):
        x = make(a, requires_grad=True)
        h = lib.hessian(lambda x: (x.exp() * x.tanh()).sum() * (x * x).sum(), x, create_graph=True)
        (h * make(w)).sum().backward()
        grads.append(x.grad)
    assert_same(grads[0], grads[1])


# ---------------------------------------------------------------------------------------------------------------
# strict=True


STRICT_FUNCTIONS = {
    "constant": lambda make: (lambda x, y: make(np.array([1.0, 2.0, 3.0])) * 2),
    "constant_scalar": lambda make: (lambda x, y: make(np.array([1.0, 2.0])).sum()),
    "ignores_y": lambda make: (lambda x, y: x.exp().sum()),
    "linear_in_y": lambda make: (lambda x, y: x.exp().sum() + (y * 2).sum()),
    "linear": lambda make: (lambda x, y: (x * 3).sum() + (y * 2).sum()),
    "bilinear": lambda make: (lambda x, y: (x * y).sum()),
    "cubic": lambda make: (lambda x, y: (x * x * y).sum()),
    "smooth": lambda make: (lambda x, y: (x.exp() * y.tanh()).sum()),
    "vector": lambda make: (lambda x, y: x.exp() * y),
    "through_sign": lambda make: (lambda x, y: x.sign() * y.exp()),  # a derivative that vanishes identically
    "through_sign_scalar": lambda make: (lambda x, y: (x.sign() * y * y).sum()),
    "captured_leaf": lambda make: _captured_leaf(make, scalar=False),
    "captured_leaf_scalar": lambda make: _captured_leaf(make, scalar=True),
}


def _captured_leaf(make, scalar):
    """A function of a leaf captured from outside, which requires grad: an output (or, for `scalar`, a gradient)
    that requires grad yet does not depend on the inputs, caught only by the double-backward trick's own checks."""
    w = make(np.ones(3), True)
    if scalar:
        return lambda x, y: (x * w).sum() + (y * y * y).sum()
    return lambda x, y: (x.exp() * y, w * 2)


def _strict_call(lib, make, fname, op, create_graph):
    a = np.array([0.5, -1.0, 2.0])
    f = STRICT_FUNCTIONS[fname](make)
    xy, vin = (make(a), make(a)), (make(a), make(a))
    try:
        if op == "vjp":
            out = f(make(a), make(a))
            v = tuple(make(np.ones(tuple(o.shape))) for o in out) if isinstance(out, tuple) else \
                make(np.ones(tuple(out.shape)))
            lib.vjp(f, xy, v, create_graph=create_graph, strict=True)
        elif op in ("jvp", "hvp", "vhp"):
            getattr(lib, op)(f, xy, vin, create_graph=create_graph, strict=True)
        else:
            getattr(lib, op)(f, xy, create_graph=create_graph, strict=True)
    except RuntimeError as e:
        return str(e)
    return None


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("fname", sorted(STRICT_FUNCTIONS))
def test_strict_raises_where_torch_does(fname, create_graph):
    for op in ("vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"):
        got, want = _strict_call(F, ours, fname, op, create_graph), _strict_call(TF, theirs, fname, op, create_graph)
        assert (got is None) == (want is None), f"{op} on {fname}: ours {got!r}, torch {want!r}"
        if got is not None:
            assert got.startswith(f"{op}: "), got  # names the function that refused


def test_strict_success_is_the_ordinary_result():
    a, b = np.array([0.5, -1.0]), np.array([2.0, 0.1])
    f = STRICT_FUNCTIONS["smooth"](ours)
    for strict_res, plain in ((F.hessian(f, (ours(a), ours(b)), strict=True), F.hessian(f, (ours(a), ours(b)))),
                              (F.jvp(f, (ours(a), ours(b)), (ours(b), ours(a)), strict=True),
                               F.jvp(f, (ours(a), ours(b)), (ours(b), ours(a))))):
        for s, p in zip(flat(strict_res), flat(plain)):
            np.testing.assert_array_equal(s.data, p.data)


# ---------------------------------------------------------------------------------------------------------------
# errors


def _error_cases(lib, make):
    x, m = make(np.array([0.5, -1.0, 2.0])), make(np.ones((2, 2)))

    def sq(x):
        return x * x

    return {
        "inputs given as a list": lambda: lib.vjp(sq, [x], x),
        "a non-Tensor input": lambda: lib.jacobian(sq, (x, 1.0)),
        "an output given as a list": lambda: lib.vjp(lambda x: [x * x], x, x),
        "a non-Tensor output": lambda: lib.jacobian(lambda x: (x * x, 3.0), x),
        "a non-Tensor v": lambda: lib.vjp(sq, x, 1.0),
        "v of the wrong shape (vjp)": lambda: lib.vjp(sq, x, make(np.ones((1, 3)))),
        "v of the wrong shape (jvp)": lambda: lib.jvp(sq, (x, m), (x, x)),
        "v of the wrong length": lambda: lib.vjp(lambda x: (x, x), x, (x,)),
        "v a tuple for a single output": lambda: lib.hvp(lambda x: x.sum(), x, (x, x)),
        "vjp without v for a vector output": lambda: lib.vjp(sq, x),
        "jvp without v for a vector input": lambda: lib.jvp(sq, x),
        "hvp without v for two inputs": lambda: lib.hvp(lambda x, y: (x * y).sum(), (make(np.ones(1)),) * 2),
        "vhp without v for a vector input": lambda: lib.vhp(lambda x: (x * x).sum(), x),
        "hessian of a vector function": lambda: lib.hessian(sq, x),
        "hessian of a tuple": lambda: lib.hessian(lambda x: ((x * x).sum(),), x),
        "hvp of a vector function": lambda: lib.hvp(sq, x, x),
        "vhp of a tuple": lambda: lib.vhp(lambda x: ((x * x).sum(),), x, x),
        "jacobian of an empty output": lambda: lib.jacobian(lambda x: x[:0] * 2, x),
        "hessian at an empty input": lambda: lib.hessian(lambda x, y: (x * x).sum() + y.sum(), (x, x[:0])),
    }


@pytest.mark.parametrize("case", sorted(_error_cases(F, ours)))
def test_errors_as_torch(case):
    with pytest.raises(Exception) as want:
        _error_cases(TF, theirs)[case]()
    with pytest.raises(want.type) as got:
        _error_cases(F, ours)[case]()
    fn = str(got.value).split(":")[0]
    assert fn in ("vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"), f"the message names the function: {got.value}"


def _empty_tuple_cases(lib, make):
    c, x = make(np.array([1.0, 2.0])), make(np.array([0.5, -1.0]))
    return {
        "vjp without inputs": lambda: lib.vjp(lambda: c * 2, (), make(np.ones(2))),
        "jacobian without inputs": lambda: lib.jacobian(lambda: c * 2, ()),
        "hessian without inputs": lambda: lib.hessian(lambda: c.sum(), ()),
        "hvp without inputs": lambda: lib.hvp(lambda: c.sum(), (), ()),
        "vhp without inputs": lambda: lib.vhp(lambda: c.sum(), (), ()),
        "vjp without outputs": lambda: lib.vjp(lambda x: (), x, ()),
        "jvp without outputs": lambda: lib.jvp(lambda x: (), x, x),
        "jacobian without outputs": lambda: lib.jacobian(lambda x: (), x),
    }


@pytest.mark.parametrize("case", sorted(_empty_tuple_cases(F, ours)))
def test_empty_tuples_raise(case):
    # PyTorch fails on these with an IndexError from its internals; ours says what is wrong
    with pytest.raises(IndexError):
        _empty_tuple_cases(TF, theirs)[case]()
    with pytest.raises(RuntimeError, match=f"^{case.split()[0]}: .* an empty tuple"):
        _empty_tuple_cases(F, ours)[case]()


def test_jvp_without_inputs_as_torch():
    # the one empty case PyTorch answers: the output's Jacobian-vector product is zeros
    c = np.array([1.0, 2.0])
    assert_same(F.jvp(lambda: ours(c) * 2, (), ()), TF.jvp(lambda: theirs(c) * 2, (), ()))


def test_unsupported_options_raise_and_name_the_option():
    x = ours(np.array([0.5, -1.0]))

    def f(x):
        return (x * x).sum()

    with pytest.raises(NotImplementedError, match="vectorize=True"):
        F.jacobian(f, x, vectorize=True)
    with pytest.raises(NotImplementedError, match="strategy='forward-mode'"):
        F.jacobian(f, x, strategy="forward-mode")
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        F.hessian(f, x, vectorize=True)
    with pytest.raises(NotImplementedError, match="outer_jacobian_strategy='forward-mode'"):
        F.hessian(f, x, outer_jacobian_strategy="forward-mode")
    with pytest.raises(ValueError, match="'forward-mode' or 'reverse-mode'"):
        F.jacobian(f, x, strategy="forward")
    with pytest.raises(ValueError, match="outer_jacobian_strategy"):
        F.hessian(f, x, outer_jacobian_strategy="reverse")
