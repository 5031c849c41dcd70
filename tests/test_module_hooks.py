"""Module hooks: forward pre-hooks, forward hooks, full backward (pre-)hooks — PyTorch's semantics, checked against
torch itself (values, gradients, which hook fires when and with what) in float64."""
import copy
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import EXAMPLES, arrays, cotangents, shapes

import nn
from tinygrad_np import Tensor, autograd, gradcheck, gradgradcheck, no_grad


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _np(t):
    """A gradient (ours or torch's) as a NumPy array, None as None."""
    if t is None:
        return None
    return t.detach().numpy() if hasattr(t, "detach") and not isinstance(t, Tensor) else t.data


def _same(ours, theirs):
    """Two tuples of gradients: None at the same places, equal values and dtypes elsewhere."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        a, b = _np(a), _np(b)
        assert (a is None) == (b is None), (ours, theirs)
        if a is not None:
            assert a.shape == b.shape and a.dtype == b.dtype, (a, b)
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def _recorder(log, tag=None):
    def hook(module, grad_input, grad_output):
        log.append((tag, tuple(grad_input), tuple(grad_output)))
    return hook


def _same_log(ours, theirs):
    assert [tag for tag, _, _ in ours] == [tag for tag, _, _ in theirs]
    for (_, gi, go), (_, tgi, tgo) in zip(ours, theirs):
        _same(gi, tgi)
        _same(go, tgo)


def _linear_pair(torch, n_in=3, n_out=2):
    ours = nn.Linear(n_in, n_out, dtype=np.float64)
    theirs = torch.nn.Linear(n_in, n_out).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    return ours, theirs


def _pair(torch, shape, seed=0, requires_grad=True):
    a = np.random.default_rng(seed).standard_normal(shape)
    return Tensor(a.copy(), requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


# ------------------------------------------------------------------------------------------------ forward hooks


def test_forward_pre_hook_replaces_args_and_wraps_a_single_value(torch):
    outs = []
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        seen = []

        def double(module, args, seen=seen):
            seen.append((module, type(args), len(args)))
            return args[0] * 2  # a single value: wrapped into a tuple

        lin.register_forward_pre_hook(double)
        lin.register_forward_pre_hook(lambda module, args: None)  # None keeps the args
        x = Tensor(np.ones((1, 3))) if lib == "ours" else torch.ones(1, 3, dtype=torch.float64)
        outs.append(_np(lin(x)))
        assert seen == [(lin, tuple, 1)]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12)
    np.testing.assert_allclose(outs[0], (lin.weight.sum(1) * 2 + lin.bias).detach().numpy()[None], rtol=1e-12)


def test_forward_pre_hook_may_return_a_tuple_or_a_list():
    m = nn.Identity()
    m.register_forward_pre_hook(lambda module, args: [1, 2])  # not a tuple: it becomes the single argument
    assert m(5) == [1, 2]
    k = _Scale()
    k.register_forward_pre_hook(lambda module, args: (args[0], 10.0))
    assert k(Tensor([1.0, 2.0])).tolist() == [10.0, 20.0]


class _Scale(nn.Module):
    def forward(self, x, scale=1.0):
        return x * scale


def test_forward_hook_sees_args_after_pre_hooks_and_replaces_output(torch):
    results = {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        args_seen = []
        lin.register_forward_pre_hook(lambda module, args: (args[0] + 1,))
        lin.register_forward_hook(lambda module, args, out, args_seen=args_seen: args_seen.append(_np(args[0]).copy()))
        lin.register_forward_hook(lambda module, args, out: out * 3)
        x = Tensor(np.full((2, 3), 0.5), requires_grad=True) if lib == "ours" else \
            torch.full((2, 3), 0.5, dtype=torch.float64, requires_grad=True)
        y = lin(x)
        y.backward(Tensor(cotangents((2, 2))) if lib == "ours" else torch.tensor(cotangents((2, 2))))
        np.testing.assert_array_equal(args_seen[0], np.full((2, 3), 1.5))
        results[lib] = (_np(y), _np(x.grad), _np(lin.weight.grad), _np(lin.bias.grad))
    for a, b in zip(results["ours"], results["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_hooks_fire_in_registration_order_and_prepend_goes_first(torch):
    for lib in ("ours", "torch"):
        m = nn.Identity() if lib == "ours" else torch.nn.Identity()
        order = []
        m.register_forward_pre_hook(lambda *a, order=order: order.append("pre A"))
        m.register_forward_pre_hook(lambda *a, order=order: order.append("pre B"), prepend=True)
        m.register_forward_hook(lambda *a, order=order: order.append("A"))
        m.register_forward_hook(lambda *a, order=order: order.append("B"), prepend=True)
        m.register_forward_hook(lambda *a, order=order: order.append("C"))
        m(1)
        assert order == ["pre B", "pre A", "B", "A", "C"], lib


def test_with_kwargs_hooks(torch):
    outs = []
    for lib in ("ours", "torch"):
        if lib == "ours":
            k, x = _Scale(), Tensor([1.0, 2.0])
        else:
            class TScale(torch.nn.Module):
                def forward(self, x, scale=1.0):
                    return x * scale
            k, x = TScale(), torch.tensor([1.0, 2.0])
        seen = []
        k.register_forward_pre_hook(lambda module, args, kwargs: (args, {"scale": kwargs["scale"] + 1}),
                                    with_kwargs=True)
        k.register_forward_hook(lambda module, args, kwargs, out, seen=seen: seen.append(dict(kwargs)) or out + 1,
                                with_kwargs=True)
        outs.append(_np(k(x, scale=2.0)).tolist())
        assert seen == [{"scale": 3.0}]
        k.register_forward_pre_hook(lambda module, args, kwargs: 5, with_kwargs=True)
        with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args, new_kwargs\)"):
            k(x, scale=2.0)
    assert outs[0] == outs[1] == [4.0, 7.0]


def test_always_call_forward_hook_runs_when_forward_raises():
    class Bad(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    b, seen = Bad(), []
    b.register_forward_hook(lambda module, args, out: seen.append(("always", args, out)), always_call=True)
    b.register_forward_hook(lambda module, args, out: seen.append("not always"))
    with pytest.raises(ValueError, match="boom"):
        b(1)
    assert seen == [("always", (1,), None)]

    def failing(module, args, out):
        raise KeyError("hook failed")

    b2 = Bad()
    b2.register_forward_hook(failing, always_call=True)
    with pytest.warns(UserWarning, match="always_call=True.*hook failed"), pytest.raises(ValueError, match="boom"):
        b2(1)
    # an always_call hook that already ran is not run a second time when a later hook raises
    m, runs = nn.Identity(), []
    m.register_forward_hook(lambda *a: runs.append(1), always_call=True)
    m.register_forward_hook(failing)
    with pytest.raises(KeyError):
        m(1)
    assert runs == [1]


def test_handles_remove_hooks_and_the_fast_path_returns():
    m, calls = nn.Linear(2, 2), []
    h1 = m.register_forward_pre_hook(lambda *a: calls.append("pre"))
    h2 = m.register_forward_hook(lambda *a: calls.append("fwd"), with_kwargs=False, always_call=True)
    with m.register_forward_hook(lambda *a: calls.append("ctx")):  # a handle is a context manager
        m(Tensor.ones(1, 2))
    m(Tensor.ones(1, 2))
    assert calls == ["pre", "fwd", "ctx", "pre", "fwd"]
    h1.remove()
    h2.remove()
    h2.remove()  # twice: no effect
    assert m._hook_options == {"with_kwargs": set(), "always_call": set()}
    assert m._has_hooks  # found out lazily, at the next call ...
    m(Tensor.ones(1, 2))
    assert not m._has_hooks and calls == ["pre", "fwd", "ctx", "pre", "fwd"]  # ... which takes the fast path again


def test_hooks_need_callables_and_the_old_backward_hook_is_refused():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="hook must be callable"):
        m.register_forward_hook(3)
    with pytest.raises(NotImplementedError, match="register_full_backward_hook"):
        m.register_backward_hook(lambda *a: None)


def test_deepcopy_keeps_hooks_and_state_dict_ignores_them():
    m, calls = nn.Linear(2, 2), []
    m.register_forward_hook(lambda module, args, out: calls.append(module))
    m2 = copy.deepcopy(m)
    m2(Tensor.ones(1, 2))
    assert calls == [m2] and list(m2.state_dict()) == ["weight", "bias"]


# ------------------------------------------------------------------------------------------ full backward hooks


def test_full_backward_hook_one_input_matches_torch(torch):
    logs = {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        log = logs[lib] = []
        lin.register_full_backward_hook(_recorder(log))
        x = _pair(torch, (4, 3))[0 if lib == "ours" else 1]
        y = lin(x)
        assert type(y.grad_fn).__name__.startswith("BackwardHookFunction")  # the caller gets the identity's output
        assert log == []  # nothing before backward
        v = cotangents((4, 2))
        y.backward(Tensor(v) if lib == "ours" else torch.tensor(v))
        assert len(log) == 1
        logs[lib + " grads"] = (x.grad, lin.weight.grad, lin.bias.grad)
    _same_log(logs["ours"], logs["torch"])
    _same(logs["ours grads"], logs["torch grads"])


class _Mix(nn.Module):
    """Several positional inputs: a requires grad, w does not, idx is an int64 tensor, k a number."""

    def forward(self, a, w, idx, k):
        return (a * w)[idx] * k + a.sum() * 0


def _torch_mix(torch):
    class TMix(torch.nn.Module):
        def forward(self, a, w, idx, k):
            return (a * w)[idx] * k + a.sum() * 0
    return TMix()


def test_full_backward_hook_several_inputs_some_not_requiring_grad(torch):
    logs = {}
    for lib in ("ours", "torch"):
        m = _Mix() if lib == "ours" else _torch_mix(torch)
        log = logs[lib] = []
        m.register_full_backward_hook(_recorder(log))
        a, ta = _pair(torch, (4,), seed=1)
        w, tw = _pair(torch, (4,), seed=2, requires_grad=False)
        idx = Tensor(np.array([0, 2, 2])) if lib == "ours" else torch.tensor([0, 2, 2])
        a, w = (a, w) if lib == "ours" else (ta, tw)
        y = m(a, w, idx, 1.5)
        v = cotangents((3,))
        y.backward(Tensor(v) if lib == "ours" else torch.tensor(v))
        logs[lib + " grad"] = (a.grad, w.grad)
    _same_log(logs["ours"], logs["torch"])
    _, gi, go = logs["ours"][0]
    assert gi[1].dtype == np.float64 and gi[2].dtype == np.int64 and gi[3] is None  # zeros, zeros, None
    assert not gi[1].data.any() and not gi[2].data.any()
    _same(logs["ours grad"], logs["torch grad"])


def test_replacement_grad_input_flows_back_and_parameters_are_unaffected(torch):
    grads = {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        order = []

        def first(module, grad_input, grad_output, order=order):
            order.append("first")
            return (grad_input[0] * 10,)

        def second(module, grad_input, grad_output, order=order):  # sees the first hook's replacement
            order.append("second")
            return (grad_input[0] + 1,)

        lin.register_full_backward_hook(first)
        lin.register_full_backward_hook(second)
        x, tx = _pair(torch, (2, 3))
        x = x if lib == "ours" else tx
        h = x * 2  # the replacement flows on, through the graph before the module
        v = cotangents((2, 2))
        lin(h).backward(Tensor(v) if lib == "ours" else torch.tensor(v))
        assert order == ["first", "second"]
        grads[lib] = (x.grad, lin.weight.grad, lin.bias.grad)
    _same(grads["ours"], grads["torch"])


def test_a_module_used_twice_fires_once_per_call_outer_first(torch):
    logs = {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch, 3, 3)):
        log = logs[lib] = []
        lin.register_full_backward_hook(_recorder(log))
        x, tx = _pair(torch, (2, 3))
        x = x if lib == "ours" else tx
        v = cotangents((2, 3))
        lin(lin(x)).backward(Tensor(v) if lib == "ours" else torch.tensor(v))
        assert len(log) == 2
        logs[lib + " grad"] = (x.grad, lin.weight.grad)
    _same_log(logs["ours"], logs["torch"])
    _same(logs["ours grad"], logs["torch grad"])


def test_identity_module_and_nested_hooked_modules_fire_as_in_torch(torch):
    logs, grads = {}, {}
    for lib, inner in zip(("ours", "torch"), _linear_pair(torch, 3, 3)):
        log = logs[lib] = []
        ident, seq_cls = (nn.Identity(), nn.Sequential) if lib == "ours" else (torch.nn.Identity(), torch.nn.Sequential)
        seq = seq_cls(ident, inner)
        for tag, m in (("identity", ident), ("inner", inner), ("outer", seq)):
            m.register_full_backward_hook(_recorder(log, tag))
        x = _pair(torch, (2, 3))[0 if lib == "ours" else 1]
        assert ident(x) is not x  # even the identity returns a new tensor (a view), as in torch
        v = cotangents((2, 3))
        seq(x).backward(Tensor(v) if lib == "ours" else torch.tensor(v))
        grads[lib] = (x.grad, inner.weight.grad)
    _same_log(logs["ours"], logs["torch"])
    assert [tag for tag, _, _ in logs["ours"]] == ["inner", "identity", "outer"]
    _same(grads["ours"], grads["torch"])


def test_keyword_tensors_are_not_hooked_but_get_their_gradient(torch):
    class KW(nn.Module):
        def forward(self, x, y=None):
            return x * y

    class TKW(torch.nn.Module):
        def forward(self, x, y=None):
            return x * y

    logs, grads = {}, {}
    for lib in ("ours", "torch"):
        m = KW() if lib == "ours" else TKW()
        log = logs[lib] = []
        m.register_full_backward_hook(_recorder(log))
        (x, tx), (y, ty) = _pair(torch, (3,)), _pair(torch, (3,), seed=1)
        x, y = (x, y) if lib == "ours" else (tx, ty)
        m(x, y=y).sum().backward()
        grads[lib] = (x.grad, y.grad)
    _same_log(logs["ours"], logs["torch"])
    assert len(logs["ours"][0][1]) == 1  # grad_input: the positional argument only
    _same(grads["ours"], grads["torch"])


def test_inputs_requiring_grad_but_reached_by_no_gradient_get_zeros_as_in_torch(torch):
    class Two(nn.Module):
        def forward(self, a, c):
            return a * 2

    class TTwo(torch.nn.Module):
        def forward(self, a, c):
            return a * 2

    logs = {}
    for lib in ("ours", "torch"):
        m = Two() if lib == "ours" else TTwo()
        log = logs[lib] = []
        m.register_full_backward_hook(_recorder(log))
        (a, ta), (c, tc) = _pair(torch, (3,)), _pair(torch, (2,), seed=1)
        a, c = (a, c) if lib == "ours" else (ta, tc)
        m(a, c).sum().backward()
        logs[lib + " grad"] = (a.grad, c.grad)
    _same_log(logs["ours"], logs["torch"])
    _same(logs["ours grad"], logs["torch grad"])  # c.grad is zeros, not None: PyTorch's identity node sends zeros


def test_hook_not_called_when_the_output_does_not_depend_on_the_inputs(torch):
    for lib in ("ours", "torch"):
        m = nn.Linear(2, 2) if lib == "ours" else torch.nn.Linear(2, 2)
        log = []
        m.register_full_backward_hook(_recorder(log))
        x = Tensor.ones(2, requires_grad=True) if lib == "ours" else torch.ones(2, requires_grad=True)
        m.register_forward_hook(lambda module, args, out: module.weight.sum())  # the output ignores the input
        m(x).backward()
        assert log == [] and m.weight.grad is not None and x.grad is None


def test_no_input_requiring_grad_fires_at_the_outputs_and_must_return_none(torch):
    logs = {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        log = logs[lib] = []
        lin.register_full_backward_hook(_recorder(log))
        x = _pair(torch, (2, 3), requires_grad=False)[0 if lib == "ours" else 1]
        with pytest.warns(UserWarning, match="no inputs require gradients"):
            lin(x).sum().backward()
        lin.register_full_backward_hook(lambda module, gi, go: (Tensor.ones(2, 3),))
        with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="should always return None"):
            lin(x).sum().backward()
    _same_log(logs["ours"][:1], logs["torch"][:1])
    assert logs["ours"][0][1] == (None,)


def test_outputs_that_are_not_tensors_or_get_no_gradient_are_none_in_grad_output(torch):
    class Out3(nn.Module):
        def forward(self, a, b):
            return a * 2, b * 3, 7

    class TOut3(torch.nn.Module):
        def forward(self, a, b):
            return a * 2, b * 3, 7

    logs = {}
    for lib in ("ours", "torch"):
        m = Out3() if lib == "ours" else TOut3()
        log = logs[lib] = []
        m.register_full_backward_hook(_recorder(log))
        (a, ta), (b, tb) = _pair(torch, (3,)), _pair(torch, (2,), seed=1)
        a, b = (a, b) if lib == "ours" else (ta, tb)
        out = m(a, b)
        assert out[2] == 7
        out[0].sum().backward()
        logs[lib + " grad"] = (a.grad, b.grad)
    _same_log(logs["ours"], logs["torch"])
    assert logs["ours"][0][2][1:] == (None, None)
    _same(logs["ours grad"], logs["torch grad"])


def test_bad_replacements_raise_as_in_torch(torch):
    bad = {
        "count": (lambda module, gi, go: (gi[0], gi[0]), RuntimeError, "invalid number of grad_input"),
        "shape": (lambda module, gi, go: (gi[0][:1],), RuntimeError, "size|shape"),
        "dtype": (lambda module, gi, go: (gi[0].float(),), RuntimeError, "type|dtype"),
    }
    for hook, error, message in bad.values():
        for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
            lin.register_full_backward_hook(hook)
            x = _pair(torch, (2, 3))[0 if lib == "ours" else 1]
            with pytest.raises(error, match=message):
                lin(x).sum().backward()
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda module, gi, go: gi[0])  # not a tuple (torch fails on len() or shape)
    with pytest.raises(TypeError, match="return None or a tuple"):
        lin(Tensor.ones(2, 3, requires_grad=True)).sum().backward()
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda module, gi, go: (np.ones((2, 3), np.float32),))
    with pytest.raises(TypeError, match="return Tensors"):
        lin(Tensor.ones(2, 3, requires_grad=True)).sum().backward()


def test_a_replacement_of_none_stops_the_gradient_and_lists_are_accepted(torch):
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        lin.register_full_backward_hook(lambda module, gi, go: [None])
        x = _pair(torch, (2, 3))[0 if lib == "ours" else 1]
        lin(x).sum().backward()
        assert x.grad is None and lin.weight.grad is not None


def test_the_hooks_that_fire_are_those_registered_at_call_time(torch):
    for lib in ("ours", "torch"):
        lin = nn.Linear(3, 2) if lib == "ours" else torch.nn.Linear(3, 2)
        x = Tensor.ones(1, 3, requires_grad=True) if lib == "ours" else torch.ones(1, 3, requires_grad=True)
        fired = []
        handle = lin.register_full_backward_hook(lambda *a, fired=fired: fired.append("removed after the call"))
        y = lin(x)
        handle.remove()
        lin.register_full_backward_hook(lambda *a, fired=fired: fired.append("added after the call"))
        y.sum().backward()
        assert fired == ["removed after the call"], lib


def test_retained_graph_fires_the_hook_at_every_backward(torch):
    logs = {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        log = logs[lib] = []
        lin.register_full_backward_hook(_recorder(log))
        x = _pair(torch, (2, 3))[0 if lib == "ours" else 1]
        y = lin(x).sum()
        y.backward(retain_graph=True)
        y.backward()
        assert len(log) == 2
        logs[lib + " grad"] = (x.grad, lin.weight.grad)
    _same_log(logs["ours"], logs["torch"])
    _same(logs["ours grad"], logs["torch grad"])


def test_backward_pre_hook_replaces_grad_output(torch):
    logs, grads = {}, {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        log = logs[lib] = []
        ones = Tensor.ones(2, 2, dtype=np.float64) if lib == "ours" else torch.ones(2, 2, dtype=torch.float64)
        lin.register_full_backward_pre_hook(lambda module, go, log=log: log.append(("pre", go, ())))
        lin.register_full_backward_pre_hook(lambda module, go, ones=ones: (go[0] * 0 + ones,))
        lin.register_full_backward_hook(_recorder(log, "full"))
        x = _pair(torch, (2, 3))[0 if lib == "ours" else 1]
        (lin(x) * 5).sum().backward()
        grads[lib] = (x.grad, lin.weight.grad, lin.bias.grad)
    _same_log(logs["ours"], logs["torch"])
    _same(grads["ours"], grads["torch"])
    np.testing.assert_array_equal(logs["ours"][1][2][0].data, np.ones((2, 2)))  # the full hook saw the replacement


def test_backward_hooks_give_views_that_refuse_in_place_changes(torch):
    lin = nn.Linear(3, 3)
    lin.register_full_backward_hook(lambda *a: None)
    seq = nn.Sequential(lin, nn.ReLU(inplace=True))  # the ReLU changes the hooked Linear's output in place
    with pytest.raises(RuntimeError, match="view"):
        seq(Tensor.ones(2, 3, requires_grad=True))
    tlin = torch.nn.Linear(3, 3)
    tlin.register_full_backward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="view"):  # torch refuses too
        torch.nn.Sequential(tlin, torch.nn.ReLU(inplace=True))(torch.ones(2, 3, requires_grad=True)).sum().backward()


def test_no_wrapping_without_grad_and_forward_hooks_see_the_wrapped_args():
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda *a: None)
    seen = {}
    lin.register_forward_hook(lambda module, args, out: seen.update(arg=args[0], out=out))
    x = Tensor.ones(1, 3, requires_grad=True)
    y = lin(x)
    assert seen["arg"] is not x and type(seen["arg"].grad_fn).__name__ == "BackwardHookFunction"
    assert seen["out"] is not y  # forward hooks see the output before it is wrapped, as in PyTorch
    assert np.shares_memory(seen["arg"].data, x.data)  # views, not copies
    with no_grad():
        lin(x)
    assert seen["arg"] is x


def test_autograd_grad_through_a_hooked_module(torch):
    logs, grads = {}, {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        log = logs[lib] = []
        lin.register_full_backward_hook(_recorder(log))
        x = _pair(torch, (2, 3))[0 if lib == "ours" else 1]
        y = lin(x).tanh().sum()
        grads[lib] = (autograd.grad(y, x) if lib == "ours" else torch.autograd.grad(y, x))
    _same_log(logs["ours"], logs["torch"])
    _same(grads["ours"], grads["torch"])


def test_double_backward_through_a_hooked_module_matches_torch(torch):
    logs, grads = {}, {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        log = logs[lib] = []
        lin.register_full_backward_hook(_recorder(log))
        x = _pair(torch, (2, 3))[0 if lib == "ours" else 1]
        y = (lin(x).tanh() ** 2).sum()
        if lib == "ours":
            (g,) = autograd.grad(y, x, create_graph=True)
        else:
            (g,) = torch.autograd.grad(y, x, create_graph=True)
        (g * g).sum().backward()  # g depends on the module's output (through tanh'): the hook fires again
        grads[lib] = (g, x.grad, lin.weight.grad, lin.bias.grad)
    _same_log(logs["ours"], logs["torch"])
    assert len(logs["ours"]) == 2
    _same(grads["ours"], grads["torch"])


class _Square(nn.Module):
    def forward(self, x):
        return x * x


def test_double_backward_reaching_the_inputs_only_calls_no_hook(torch):
    class TSquare(torch.nn.Module):
        def forward(self, x):
            return x * x

    logs, grads = {}, {}
    for lib in ("ours", "torch"):
        m = _Square() if lib == "ours" else TSquare()
        log = logs[lib] = []
        m.register_full_backward_hook(_recorder(log))
        x = _pair(torch, (3,))[0 if lib == "ours" else 1]
        y = m(x).sum()
        (g,) = autograd.grad(y, x, create_graph=True) if lib == "ours" else \
            torch.autograd.grad(y, x, create_graph=True)
        (g * g).sum().backward()  # g = 2x reaches x through the input's identity only
        grads[lib] = (g, x.grad)
    _same_log(logs["ours"], logs["torch"])
    assert len(logs["ours"]) == 1
    _same(grads["ours"], grads["torch"])


def test_double_backward_through_a_replacement(torch):
    grads = {}
    for lib, lin in zip(("ours", "torch"), _linear_pair(torch)):
        lin.register_full_backward_hook(lambda module, gi, go: (gi[0] * gi[0],))  # a replacement with a graph
        x = _pair(torch, (2, 3))[0 if lib == "ours" else 1]
        y = lin(x).sin().sum()
        g = autograd.grad(y, x, create_graph=True)[0] if lib == "ours" else \
            torch.autograd.grad(y, x, create_graph=True)[0]
        g.sum().backward()
        grads[lib] = (g, x.grad, lin.weight.grad)
    _same(grads["ours"], grads["torch"])


class _Bilinear(nn.Module):
    def forward(self, x, y, scale):
        return (x * y).tanh() * scale + x


@given(data=st.data())
@EXAMPLES
def test_hooked_module_gradients_pass_gradcheck(data):
    """The identity nodes of a hooked call are differentiable twice, on any shapes (broadcasting, 0-d)."""
    shape = data.draw(shapes())
    x = Tensor(data.draw(arrays(shape)), requires_grad=True)
    y = Tensor(data.draw(arrays(shape)), requires_grad=True)
    m, calls = _Bilinear(), []
    m.register_full_backward_hook(lambda module, gi, go: calls.append(1))
    m.register_full_backward_pre_hook(lambda module, go: None)
    assert gradcheck(lambda a, b: m(a, b, 0.7), x, y)
    assert gradgradcheck(lambda a, b: m(a, b, 0.7), x, y)
    assert calls  # the hook did fire on these passes


def test_hook_tensors_carry_the_gradients_as_tensors(torch):
    lin = nn.Linear(3, 2)
    seen = []
    lin.register_full_backward_hook(lambda module, gi, go: seen.append((gi, go)))
    lin(Tensor.ones(1, 3, requires_grad=True)).sum().backward()
    (gi, go), = seen
    assert isinstance(gi, tuple) and isinstance(go, tuple)
    assert isinstance(gi[0], Tensor) and gi[0].dtype == np.float32 and not gi[0].requires_grad


def test_warns_when_the_output_cannot_be_wrapped():
    class ListOut(nn.Module):
        def forward(self, x):
            return [x * 2]

    m, fired = ListOut(), []
    m.register_full_backward_hook(lambda *a: fired.append(1))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = m(Tensor.ones(2, requires_grad=True))
    assert any("module output should be a Tensor or a tuple of Tensors" in str(x.message) for x in w)
    out[0].sum().backward()
    assert fired == []  # as in PyTorch: a list output is not hooked
