"""Optimizers and schedules: several steps against the update formulas written out here, against torch.optim on
identical parameters and gradients, in-place updates, skipping, groups, L2 equivalence, state dicts."""
import math

import numpy as np
import pytest

import nn
import nn.functional as F
from nn.optim import SGD, Adam, AdamW, RMSprop
from nn.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, StepLR
from tinygrad_np import Tensor

STEPS = 6


def trajectory(seed=0, shape=(3, 4), steps=STEPS, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]


def run_ours(cls, p0, grads, **kw):
    p = nn.Parameter(p0.copy())
    opt = cls([p], **kw)
    arr = p.data
    out = []
    for g in grads:
        p.grad = Tensor(g.copy())
        opt.step()
        assert p.data is arr  # updated in place
        out.append(p.data.copy())
    return out


# --------------------------------------------------------------------------------------- the formulas, by hand


def sgd_by_hand(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    out, b = [], None
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        if momentum:
            b = g.copy() if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
        out.append(p)
    return out


def adam_by_hand(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    b1, b2 = betas
    m = v = vmax = np.zeros_like(p)
    out = []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        vmax = np.maximum(vmax, v) if amsgrad else v
        v_hat = vmax / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def rmsprop_by_hand(p, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    s = gbar = b = np.zeros_like(p)
    out = []
    for g in grads:
        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g
        if centered:
            gbar = alpha * gbar + (1 - alpha) * g
            a = np.sqrt(s - gbar * gbar) + eps
        else:
            a = np.sqrt(s) + eps
        if momentum:
            b = momentum * b + g / a
            p = p - lr * b
        else:
            p = p - lr * g / a
        out.append(p)
    return out


CASES = [
    (SGD, sgd_by_hand, {"lr": 0.1}),
    (SGD, sgd_by_hand, {"lr": 0.1, "weight_decay": 0.05}),
    (SGD, sgd_by_hand, {"lr": 0.1, "momentum": 0.9}),
    (SGD, sgd_by_hand, {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    (SGD, sgd_by_hand, {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    (SGD, sgd_by_hand, {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    (Adam, adam_by_hand, {"lr": 0.01}),
    (Adam, adam_by_hand, {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-3, "weight_decay": 0.1}),
    (Adam, adam_by_hand, {"lr": 0.1, "amsgrad": True}),
    (AdamW, lambda p, g, **kw: adam_by_hand(p, g, decoupled=True, weight_decay=0.01, **kw), {"lr": 0.1}),
    (AdamW, lambda p, g, **kw: adam_by_hand(p, g, decoupled=True, **kw), {"lr": 0.1, "weight_decay": 0.3}),
    (AdamW, lambda p, g, **kw: adam_by_hand(p, g, decoupled=True, **kw),
     {"lr": 0.1, "weight_decay": 0.3, "amsgrad": True}),
    (RMSprop, rmsprop_by_hand, {"lr": 0.01}),
    (RMSprop, rmsprop_by_hand, {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1}),
    (RMSprop, rmsprop_by_hand, {"lr": 0.01, "momentum": 0.9}),
    (RMSprop, rmsprop_by_hand, {"lr": 0.01, "centered": True}),
    (RMSprop, rmsprop_by_hand, {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1, "eps": 1e-4}),
]
IDS = [f"{c.__name__}-{kw}" for c, _, kw in CASES]


@pytest.mark.parametrize("cls, by_hand, kw", CASES, ids=IDS)
def test_steps_match_the_formula(cls, by_hand, kw):
    p0, grads = trajectory()
    expected = by_hand(p0, grads, **kw)
    for ours, exp in zip(run_ours(cls, p0, grads, **kw), expected):
        np.testing.assert_allclose(ours, exp, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls, by_hand, kw", CASES, ids=IDS)
def test_steps_match_torch(cls, by_hand, kw, dtype):
    torch = pytest.importorskip("torch")
    p0, grads = trajectory(seed=1, dtype=dtype)
    tp = torch.nn.Parameter(torch.tensor(p0.copy()))
    topt = getattr(torch.optim, cls.__name__)([tp], **kw)
    ours = run_ours(cls, p0, grads, **kw)
    for g, mine in zip(grads, ours):
        tp.grad = torch.tensor(g.copy())
        topt.step()
        theirs = tp.detach().numpy()
        assert mine.dtype == theirs.dtype == dtype
        if dtype == np.float64:
            np.testing.assert_allclose(mine, theirs, rtol=1e-13, atol=1e-15)
        else:  # PyTorch fuses some multiply-adds: a few float32 ulps apart, never more
            np.testing.assert_allclose(mine, theirs, rtol=4e-7 * STEPS, atol=1e-7)


def test_parameters_without_grad_are_skipped():
    a, b = nn.Parameter(Tensor.ones(2)), nn.Parameter(Tensor.ones(2))
    opt = Adam([a, b], lr=0.1)
    a.grad = Tensor(np.array([1.0, -1.0], np.float32))
    opt.step()
    np.testing.assert_array_equal(b.data, 1)
    assert b not in opt.state and opt.state[a]["step"] == 1
    opt2 = SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.1)  # not even weight decay touches b
    opt2.step()
    np.testing.assert_array_equal(b.data, 1)


def test_param_groups_have_their_own_settings():
    w, b = nn.Parameter(Tensor.ones(3)), nn.Parameter(Tensor.ones(1))
    opt = SGD([{"params": [w]}, {"params": [b], "lr": 1.0, "momentum": 0.5}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["momentum"] == 0.5
    w.grad, b.grad = Tensor(np.ones(3, np.float32)), Tensor(np.ones(1, np.float32))
    opt.step()
    np.testing.assert_allclose(w.data, 0.9)
    np.testing.assert_allclose(b.data, 0.0)
    with pytest.raises(ValueError, match="more than once"):
        SGD([{"params": [w]}, {"params": [w]}], lr=0.1)


@pytest.mark.parametrize("make, words", [
    (lambda p: SGD(p, lr=-1), "learning rate"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda p: Adam(p, betas=(0.9, 1.0)), "betas"),
    (lambda p: Adam(p, weight_decay=-0.1), "weight_decay"),
    (lambda p: RMSprop(p, alpha=1.5), "alpha"),
    (lambda p: SGD([], lr=0.1), "empty"),
    (lambda p: SGD(p[0], lr=0.1), "iterable"),
    (lambda p: SGD([p[0] * 2], lr=0.1), "non-leaf"),
    (lambda p: SGD([{"params": p, "momentun": 0.9}], lr=0.1), "momentun"),
])
def test_invalid_settings_are_rejected(make, words):
    with pytest.raises((ValueError, TypeError), match=words):
        make([nn.Parameter(Tensor.ones(2))])


def test_sgd_weight_decay_equals_explicit_l2_penalty():
    lam = 0.1
    Tensor.manual_seed(0)
    a = nn.MLP([4, 5, 3], dtype=np.float64)
    b = nn.MLP([4, 5, 3], dtype=np.float64)
    b.load_state_dict(a.state_dict())
    x = Tensor(np.random.default_rng(0).standard_normal((8, 4)))
    y = np.random.default_rng(1).integers(0, 3, 8)
    opt_a = SGD(a.parameters(), lr=0.2, momentum=0.9, weight_decay=lam)
    opt_b = SGD(b.parameters(), lr=0.2, momentum=0.9)
    for _ in range(5):
        opt_a.zero_grad()
        F.cross_entropy(a(x), y).backward()
        opt_a.step()
        opt_b.zero_grad()
        (F.cross_entropy(b(x), y) + lam / 2 * F.l2_penalty(b.parameters())).backward()
        opt_b.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-12, atol=1e-14)


def test_l2_penalty_value():
    ps = [nn.Parameter(Tensor(np.array([1.0, 2.0]))), nn.Parameter(Tensor(np.array([[3.0]])))]
    assert F.l2_penalty(ps).item() == 14.0
    with pytest.raises(ValueError, match="no parameters"):
        F.l2_penalty([])


def test_step_allocates_no_new_state_after_the_first():
    p = nn.Parameter(Tensor.ones(50, 50))
    opt = Adam([p], lr=0.1, weight_decay=0.1)
    p.grad = Tensor.ones(50, 50)
    opt.step()
    buffers = {k: v for k, v in opt.state[p].items() if isinstance(v, np.ndarray)}
    opt.step()
    assert all(opt.state[p][k] is v for k, v in buffers.items())


def test_closure_returns_the_loss():
    p = nn.Parameter(Tensor(np.array([3.0])))
    opt = SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0
    assert p.data[0] == 3.0 - 0.25 * 6.0


# --------------------------------------------------------------------------------------------- state dicts


def _train(model, opt, sched, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = Tensor(rng.standard_normal((16, 4)).astype(np.float32))
        y = rng.integers(0, 3, 16)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


@pytest.mark.parametrize("make_opt, make_sched", [
    (lambda ps: Adam(ps, lr=0.01, amsgrad=True), lambda o: StepLR(o, 3, gamma=0.5)),
    (lambda ps: AdamW(ps, lr=0.01), lambda o: CosineAnnealingLR(o, T_max=7, eta_min=1e-4)),
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3), lambda o: ExponentialLR(o, 0.9)),
    (lambda ps: RMSprop(ps, lr=0.01, momentum=0.5, centered=True), lambda o: None),
])
def test_resume_is_bit_identical(tmp_path, make_opt, make_sched):
    n = 5
    Tensor.manual_seed(0)
    straight = nn.MLP([4, 8, 3])
    start = {k: v.data.copy() for k, v in straight.state_dict().items()}
    opt = make_opt(straight.parameters())
    sched = make_sched(opt)
    _train(straight, opt, sched, n, seed=1)
    _train(straight, opt, sched, n, seed=2)

    Tensor.manual_seed(99)  # a fresh model with different weights, a fresh optimizer
    first = nn.MLP([4, 8, 3])
    first.load_state_dict(start)
    opt1 = make_opt(first.parameters())
    sched1 = make_sched(opt1)
    _train(first, opt1, sched1, n, seed=1)
    ckpt = {"model": first.state_dict(), "optimizer": opt1.state_dict()}
    if sched1 is not None:
        ckpt["scheduler"] = sched1.state_dict()
    nn.save(ckpt, tmp_path / "ckpt.npz")

    Tensor.manual_seed(12345)
    resumed = nn.MLP([4, 8, 3])
    opt2 = make_opt(resumed.parameters())
    sched2 = make_sched(opt2)
    loaded = nn.load(tmp_path / "ckpt.npz")
    resumed.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optimizer"])
    if sched2 is not None:
        sched2.load_state_dict(loaded["scheduler"])
        assert sched2.get_last_lr() == sched1.get_last_lr()
    assert opt2.param_groups[0]["lr"] == opt1.param_groups[0]["lr"]
    _train(resumed, opt2, sched2, n, seed=2)
    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_optimizer_state_dict_layout_and_copy_on_load():
    w, b = nn.Parameter(Tensor.ones(2, 3)), nn.Parameter(Tensor.ones(2))
    opt = Adam([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
    w.grad = Tensor.ones(2, 3)
    opt.step()
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert list(sd["state"]) == [0] and sd["state"][0]["step"] == 1
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    other = Adam([{"params": [w]}, {"params": [b]}], lr=0.3)
    other.load_state_dict(sd)
    assert other.param_groups[1]["lr"] == 0.5 and other.param_groups[0]["betas"] == (0.9, 0.999)
    assert other.state[w]["exp_avg"] is not opt.state[w]["exp_avg"]
    np.testing.assert_array_equal(other.state[w]["exp_avg"], opt.state[w]["exp_avg"])


def test_optimizer_load_errors_change_nothing():
    w, b = nn.Parameter(Tensor.ones(2, 3)), nn.Parameter(Tensor.ones(2))
    opt = SGD([w, b], lr=0.1, momentum=0.9)
    w.grad, b.grad = Tensor.ones(2, 3), Tensor.ones(2)
    opt.step()
    good = opt.state_dict()
    target = SGD([nn.Parameter(Tensor.ones(2, 3)), nn.Parameter(Tensor.ones(2))], lr=0.7, momentum=0.9)

    def bad(edit):
        sd = {"state": {k: dict(v) for k, v in good["state"].items()},
              "param_groups": [dict(g) for g in good["param_groups"]]}
        edit(sd)
        return sd

    cases = [
        (bad(lambda sd: sd["state"][0].update(momentum_buffer=np.zeros((3, 2)))), r"\(3, 2\).*\(2, 3\)"),
        (bad(lambda sd: sd["state"].update({5: {"momentum_buffer": np.zeros(2)}})), "parameter 5"),
        (bad(lambda sd: sd["state"][1].update(exp_avg=np.zeros(2))), "unknown state 'exp_avg'"),
        (bad(lambda sd: sd["param_groups"][0].update(params=[0])), "1 parameters in the state dict and 2"),
        (bad(lambda sd: sd["param_groups"].append({"params": []})), "2 parameter group"),
    ]
    for sd, words in cases:
        with pytest.raises(ValueError, match=words):
            target.load_state_dict(sd)
        assert target.state == {} and target.param_groups[0]["lr"] == 0.7


# ---------------------------------------------------------------------------------------------- schedules


def _opt(lr=0.5):
    return SGD([nn.Parameter(Tensor.ones(1))], lr=lr)


@pytest.mark.parametrize("make, closed_form", [
    (lambda o: StepLR(o, step_size=3, gamma=0.5), lambda t: 0.5 * 0.5 ** (t // 3)),
    (lambda o: StepLR(o, step_size=1), lambda t: 0.5 * 0.1**t),
    (lambda o: ExponentialLR(o, gamma=0.9), lambda t: 0.5 * 0.9**t),
    (lambda o: CosineAnnealingLR(o, T_max=10), lambda t: 0.5 * (1 + math.cos(math.pi * t / 10)) / 2),
    (lambda o: CosineAnnealingLR(o, T_max=4, eta_min=0.1),
     lambda t: 0.1 + (0.5 - 0.1) * (1 + math.cos(math.pi * t / 4)) / 2),
])
def test_schedules_follow_their_closed_forms(make, closed_form):
    opt = _opt()
    sched = make(opt)
    for t in range(25):
        assert sched.get_last_lr() == [pytest.approx(closed_form(t), rel=1e-14, abs=1e-16)]
        assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0]
        opt.step()
        sched.step()


@pytest.mark.parametrize("name, kw", [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}),
    ("CosineAnnealingLR", {"T_max": 3}),
])
def test_schedules_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    import nn.optim.lr_scheduler as ours_mod

    opt = _opt(0.3)
    tp = torch.nn.Parameter(torch.ones(1))
    topt = torch.optim.SGD([tp], lr=0.3)
    ours = getattr(ours_mod, name)(opt, **kw)
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    for _ in range(20):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12, atol=1e-15)
        opt.step()
        topt.step()
        ours.step()
        theirs.step()


def test_scheduler_state_dict_round_trip_and_errors():
    opt = _opt()
    sched = CosineAnnealingLR(opt, T_max=8, eta_min=0.01)
    for _ in range(3):
        sched.step()
    sd = sched.state_dict()
    assert sd["last_epoch"] == 3 and sd["base_lrs"] == [0.5] and sd["T_max"] == 8
    fresh_opt = _opt()
    fresh = CosineAnnealingLR(fresh_opt, T_max=8, eta_min=0.01)
    fresh.load_state_dict({k: np.asarray(v) for k, v in sd.items()})  # as after nn.save / nn.load
    assert fresh.last_epoch == 3 and fresh.get_last_lr() == sched.get_last_lr()
    sched.step()
    fresh.step()
    assert fresh.get_last_lr() == sched.get_last_lr()
    with pytest.raises(ValueError, match="keys"):
        fresh.load_state_dict({"last_epoch": 3})
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(_opt(), 2, last_epoch=4)
    with pytest.raises(ValueError, match="step_size"):
        StepLR(_opt(), 0)
