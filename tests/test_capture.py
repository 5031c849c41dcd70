"""tinygrad_np.jit (tinygrad_np/capture): a captured training step replays exactly what the eager step computes.

Every comparison here is against an eager twin: two models built under the same seed, one stepped as usual and one
through `jit`, fed the same batches. Replay must equal eager BIT FOR BIT (losses, parameters, gradients), guards must
re-capture rather than replay wrongly, capture-time misuse must raise a clear CaptureError and leave the model intact,
and a long run of replays must not leak.
"""
from __future__ import annotations

import gc
import re
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nn
import nn.functional as F
import tinygrad_np as tg
from nn.optim import lr_scheduler
from tinygrad_np import CaptureError, Tensor
from tinygrad_np.capture import capturing

N_IN, N_HID, N_OUT = 8, 16, 4


# ------------------------------------------------------------------------------------------------------ helpers


def make_mlp(seed: int = 0, dtype=np.float32, dropout: float = 0.0) -> nn.Module:
    tg.manual_seed(seed)
    layers = [nn.Linear(N_IN, N_HID, dtype=dtype), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(N_HID, N_OUT, dtype=dtype))
    return nn.Sequential(*layers)


def make_cnn(seed: int = 0) -> nn.Module:
    """examples/mnist_cnn.py's CNN without BatchNorm, shrunk: 8x8 one-channel images, two conv blocks."""
    tg.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 2 * 2, N_OUT),
    )


def make_cnn_bn(seed: int = 0) -> nn.Module:
    """examples/mnist_cnn.py's CNN (conv, BatchNorm2d, ReLU, max-pool blocks; flatten, hidden layer, dropout,
    linear), two blocks of 3 and 5 channels on 8x8 images."""
    tg.manual_seed(seed)
    blocks = []
    for c_in, c_out in ((1, 3), (3, 5)):
        blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                   nn.MaxPool2d(2)]
    return nn.Sequential(nn.Sequential(*blocks), nn.Sequential(nn.Flatten(), nn.Linear(5 * 2 * 2, 6), nn.ReLU(),
                                                               nn.Dropout(0.25), nn.Linear(6, N_OUT)))


def mlp_batch(rng: np.random.Generator, n: int = 6, dtype=np.float32) -> tuple[Tensor, Tensor]:
    return Tensor(rng.standard_normal((n, N_IN)).astype(dtype)), Tensor(rng.integers(0, N_OUT, n))


def cnn_batch(rng: np.random.Generator, n: int = 5) -> tuple[Tensor, Tensor]:
    return Tensor(rng.standard_normal((n, 1, 8, 8)).astype(np.float32)), Tensor(rng.integers(0, N_OUT, n))


def train_fn(model: nn.Module, opt, set_to_none: bool = True, after_backward=None):
    """The usual step; `after_backward(model)` runs between backward and the optimizer step (gradient clipping)."""
    def step(x, y):
        opt.zero_grad(set_to_none=set_to_none)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        extra = after_backward(model) if after_backward is not None else None
        opt.step()
        return loss if extra is None else (loss, extra)
    return step


def backward_fn(model: nn.Module):
    """A step that only adds to the gradients (no zero_grad, no optimizer step)."""
    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss
    return step


def assert_same(a: nn.Module, b: nn.Module, grads: bool = True, where: str = "") -> None:
    """Buffers, parameters (and grads) of two models equal bit for bit, and the second's are plain arrays."""
    for (name, p), (_, q) in zip(a.named_buffers(), b.named_buffers()):
        assert type(q.data) is np.ndarray, f"{where}buffer {name}: data is a {type(q.data).__name__}"
        same = np.array_equal(p.data, q.data, equal_nan=True)
        assert same, f"{where}buffer {name} differs"
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert type(q.data) is np.ndarray, f"{where}{name}: data is a {type(q.data).__name__}"
        assert p.data.dtype == q.data.dtype
        same = np.array_equal(p.data, q.data, equal_nan=True)
        assert same, f"{where}parameter {name} differs"
        if grads:
            assert (p.grad is None) == (q.grad is None), \
                f"{where}grad of {name}: eager's is {_none(p.grad)}, jit's is {_none(q.grad)}"
            if p.grad is not None:
                assert type(q.grad.data) is np.ndarray
                same = np.array_equal(p.grad.data, q.grad.data, equal_nan=True)
                assert same, f"{where}grad of {name} differs"


def _none(t) -> str:
    return "None" if t is None else "set"


def assert_tensor_equal(a: Tensor, b: Tensor, where: str = "") -> None:
    assert isinstance(b, Tensor), f"{where}: got {type(b).__name__}"
    assert type(b.data) is np.ndarray
    assert a.data.dtype == b.data.dtype and a.data.shape == b.data.shape, where
    same = np.array_equal(a.data, b.data, equal_nan=True)
    assert same, f"{where}: eager {a.data if a.data.size < 8 else a.data.shape}, jit {b.data if b.data.size < 8 else 0}"


def run_pair(make_model, make_opt, batches, scheduler=None, check_grads=True):
    """Step an eager model and a jitted twin over `batches`; compare after every step. Returns the jit object."""
    eager_model, jit_model = make_model(), make_model()
    eager_opt, jit_opt = make_opt(eager_model.parameters()), make_opt(jit_model.parameters())
    scheds = (scheduler(eager_opt), scheduler(jit_opt)) if scheduler else None
    eager_step = train_fn(eager_model, eager_opt)
    step = tg.jit(train_fn(jit_model, jit_opt))
    assert_same(eager_model, jit_model, where="before: ")
    for i, (x, y) in enumerate(batches):
        want = eager_step(x, y)
        got = step(x, y)
        assert_tensor_equal(want, got, f"loss at step {i}")
        assert_same(eager_model, jit_model, grads=check_grads, where=f"step {i}: ")
        if scheds:
            for s in scheds:
                s.step()
            assert eager_opt.param_groups[0]["lr"] == jit_opt.param_groups[0]["lr"]
    return step


OPTIMIZERS = {
    "sgd": lambda ps: nn.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgd_dampening": lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3),
    "sgd_nesterov": lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "sgd_weight_decay": lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.5, weight_decay=0.01),
    "adam": lambda ps: nn.optim.Adam(ps, lr=1e-2),
    "adam_weight_decay": lambda ps: nn.optim.Adam(ps, lr=1e-2, weight_decay=0.01),
    "adam_amsgrad": lambda ps: nn.optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw": lambda ps: nn.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "adamw_amsgrad": lambda ps: nn.optim.AdamW(ps, lr=1e-2, weight_decay=0.1, amsgrad=True),
    "rmsprop": lambda ps: nn.optim.RMSprop(ps, lr=1e-2),
    "rmsprop_full": lambda ps: nn.optim.RMSprop(ps, lr=1e-2, momentum=0.9, centered=True, weight_decay=0.01),
}


def test_every_optimizer_is_covered():
    """A new optimizer in nn.optim must be added to OPTIMIZERS above."""
    names = {n for n in nn.optim.__all__ if n not in ("Optimizer", "lr_scheduler")}
    covered = {type(make([Tensor(np.zeros(2), requires_grad=True)])).__name__ for make in OPTIMIZERS.values()}
    assert names <= covered, names - covered


# ------------------------------------------------------------------------------------ 1. replay equals eager


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_mlp_replay_equals_eager(opt_name):
    rng = np.random.default_rng(1)
    step = run_pair(make_mlp, OPTIMIZERS[opt_name], [mlp_batch(rng) for _ in range(10)])
    assert step.captures == 1 and step.replays == 8


@pytest.mark.parametrize("opt_name", ["sgd_momentum", "adam", "adamw_amsgrad", "rmsprop_full"])
def test_cnn_replay_equals_eager(opt_name):
    rng = np.random.default_rng(2)
    step = run_pair(make_cnn, OPTIMIZERS[opt_name], [cnn_batch(rng) for _ in range(10)])
    assert step.captures == 1 and step.replays == 8


@pytest.mark.parametrize("opt_name", ["sgd_nesterov", "adamw"])
def test_mnist_cnn_with_batchnorm_and_dropout_replay_equals_eager(opt_name):
    """The example's model: BatchNorm's running statistics (buffers) and dropout's masks too, seeds aligned."""
    rng = np.random.default_rng(35)
    model, twin = make_cnn_bn(), make_cnn_bn()
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    opt, opt2 = OPTIMIZERS[opt_name](model.parameters()), OPTIMIZERS[opt_name](twin.parameters())
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i in range(10):
        x, y = cnn_batch(rng)
        tg.manual_seed(50 + i)
        want = eager(x, y)
        tg.manual_seed(50 + i)
        got = step(x, y)
        assert_tensor_equal(want, got, f"loss at step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.captures == 1 and step.replays == 8


def test_mnist_cnn_eval_forward_replay_equals_eager():
    """Evaluation of the example's model (BatchNorm on running statistics, no dropout) through a jitted forward."""
    rng = np.random.default_rng(36)
    model, twin = make_cnn_bn(), make_cnn_bn()
    batch = cnn_batch(rng)
    for m in (model, twin):
        tg.manual_seed(7)
        train_fn(m, nn.optim.SGD(m.parameters(), lr=0.1))(*batch)  # running statistics move off 0/1
        m.eval()
    assert_same(twin, model)
    forward = tg.jit(lambda x: model(x))
    for i in range(5):
        x, _ = cnn_batch(rng)
        assert_tensor_equal(twin(x), forward(x), f"eval {i}")
    assert forward.replays == 3


SCHEDULERS = {
    "step": lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    "exponential": lambda o: lr_scheduler.ExponentialLR(o, gamma=0.7),
    "cosine": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6),
    "onecycle": lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=12),
}


@pytest.mark.parametrize("sched_name", sorted(SCHEDULERS))
@pytest.mark.parametrize("opt_name", ["sgd_momentum", "adam", "rmsprop"])
def test_scheduler_changes_reach_replays(opt_name, sched_name):
    rng = np.random.default_rng(3)
    step = run_pair(make_mlp, OPTIMIZERS[opt_name], [mlp_batch(rng) for _ in range(10)],
                    scheduler=SCHEDULERS[sched_name])
    assert step.captures == 1 and step.replays == 8


def test_lr_change_by_hand_reaches_replays():
    """The replayed update reads lr from the parameter group each time: a changed lr changes the step."""
    rng = np.random.default_rng(4)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i in range(6):
        x, y = mlp_batch(rng)
        for o in (opt, opt2):
            o.param_groups[0]["lr"] = [0.1, 0.0, 0.3, 0.0, 1.0, 0.05][i]
        before = [p.data.copy() for p in model.parameters()]
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
        if opt.param_groups[0]["lr"] == 0.0:
            assert all(np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
    assert step.replays == 4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), n=st.integers(1, 9), dtype=st.sampled_from([np.float32, np.float64]),
       opt_name=st.sampled_from(sorted(OPTIMIZERS)), scale=st.sampled_from([1e-3, 1.0, 30.0]))
def test_replay_equals_eager_hypothesis(seed, n, dtype, opt_name, scale):
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(5):
        x, y = mlp_batch(rng, n, dtype)
        batches.append((Tensor((x.data * scale).astype(dtype)), y))
    step = run_pair(lambda: make_mlp(seed % 7, dtype), OPTIMIZERS[opt_name], batches)
    assert step.replays == 3


def test_forward_only_and_no_grad_replay():
    """A step without backward (evaluation under no_grad) replays equal to eager too."""
    rng = np.random.default_rng(5)
    model = make_mlp()

    def evaluate(x):
        with tg.no_grad():
            return F.softmax(model(x), dim=1)
    step = tg.jit(evaluate)
    for i in range(5):
        x, _ = mlp_batch(rng)
        assert_tensor_equal(evaluate(x), step(x), f"call {i}")
    assert step.replays == 3


# ------------------------------------------------------------------------------------------------- 2. guards


def test_smaller_last_batch_recaptures_and_matches_eager():
    rng = np.random.default_rng(6)
    batches = [mlp_batch(rng, 6) for _ in range(5)] + [mlp_batch(rng, 3) for _ in range(4)]
    batches += [mlp_batch(rng, 6) for _ in range(2)]  # back to the first shape: its program replays again
    step = run_pair(make_mlp, OPTIMIZERS["adam"], batches)
    assert step.captures == 2
    assert step.replays == 3 + 2 + 2


def test_input_dtype_change_recaptures_and_matches_eager():
    rng = np.random.default_rng(7)
    batches = [mlp_batch(rng, 6) for _ in range(4)]
    batches += [(x, Tensor(y.data.astype(np.int32))) for x, y in (mlp_batch(rng, 6) for _ in range(4))]
    batches += [(x, Tensor(y.data.astype(np.int64))) for x, y in (mlp_batch(rng, 6) for _ in range(2))]
    step = run_pair(make_mlp, OPTIMIZERS["sgd_momentum"], batches)
    assert step.captures == 2
    assert step.replays == 2 + 2 + 2


def test_input_float_dtype_change_recaptures_and_matches_eager():
    """float32 then float64 inputs (the model casts its input to its own dtype)."""
    rng = np.random.default_rng(8)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.Adam(model.parameters(), lr=1e-2), nn.optim.Adam(twin.parameters(), lr=1e-2)

    def make(m, o):
        def fn(x, y):
            o.zero_grad()
            loss = F.cross_entropy(m(x.float()), y)
            loss.backward()
            o.step()
            return loss
        return fn
    step, eager = tg.jit(make(model, opt)), make(twin, opt2)
    for i, dtype in enumerate([np.float32] * 4 + [np.float64] * 4 + [np.float32] * 2):
        x, y = mlp_batch(rng, 6, dtype)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.captures == 2


def test_train_eval_switch_recaptures():
    rng = np.random.default_rng(9)
    model, twin = make_mlp(dropout=0.5), make_mlp(dropout=0.5)

    def forward(m):
        return lambda x: m(x)
    step, eager = tg.jit(forward(model)), forward(twin)
    x, _ = mlp_batch(rng)
    for m in (model, twin):
        m.eval()
    for i in range(4):  # eval: no dropout, deterministic
        eval_out = step(x)
        assert_tensor_equal(eager(x), eval_out, f"eval call {i}")
    assert step.captures == 1 and step.replays == 2
    model.train()
    train_out = step(x)
    assert step.captures == 2, "switching to train() must capture again"
    assert not np.array_equal(train_out.data, eval_out.data), "train mode (dropout) replayed the eval program"
    for m in (model, twin):
        m.eval()
    for i in range(3):
        assert_tensor_equal(eager(x), step(x), f"eval again, call {i}")
    assert step.captures in (2, 3)  # captured again, or the eval program kept and replayed


def test_train_eval_switch_in_training_step_matches_eager():
    """eval() mid-training (the whole step under eval mode, dropout off) then train() again, seeds aligned."""
    rng = np.random.default_rng(10)
    model, twin = make_mlp(dropout=0.3), make_mlp(dropout=0.3)
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i, mode in enumerate(["train"] * 4 + ["eval"] * 3 + ["train"] * 3):
        for m in (model, twin):
            m.train(mode == "train")
        x, y = mlp_batch(rng)
        tg.manual_seed(100 + i)
        want = eager(x, y)
        tg.manual_seed(100 + i)
        got = step(x, y)
        assert_tensor_equal(want, got, f"step {i} ({mode})")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.captures >= 2  # train and eval programs (the train one kept, or captured again)


def test_load_state_dict_between_replays_is_seen():
    rng = np.random.default_rng(11)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), nn.optim.SGD(twin.parameters(), lr=0.1,
                                                                                        momentum=0.9)
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    other = make_mlp(seed=42)
    state = {k: v.data.copy() for k, v in other.state_dict().items()}
    for i in range(10):
        if i in (5, 8):
            model.load_state_dict(state)
            twin.load_state_dict(state)
            assert_same(other, model, grads=False)
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.replays >= 6


@pytest.mark.parametrize("opt_name", ["adam_amsgrad", "sgd_momentum", "rmsprop_full"])
def test_optimizer_load_state_dict_between_replays_is_seen(opt_name):
    """The replayed optimizer step reads its state live: restoring a checkpoint of model and optimizer (new state
    arrays, step counts, settings) between replays gives eager's results."""
    rng = np.random.default_rng(47)
    make_opt = OPTIMIZERS[opt_name]
    model, twin, source = make_mlp(), make_mlp(), make_mlp(seed=3)
    opt, opt2, source_opt = make_opt(model.parameters()), make_opt(twin.parameters()), make_opt(source.parameters())
    for _ in range(3):  # the checkpoint: a model and optimizer some steps into training
        train_fn(source, source_opt)(*mlp_batch(rng))
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i in range(10):
        if i in (4, 7):
            for m, o in ((model, opt), (twin, opt2)):
                m.load_state_dict({k: v.data.copy() for k, v in source.state_dict().items()})
                o.load_state_dict(source_opt.state_dict())
                o.param_groups[0]["lr"] *= 0.5
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.replays >= 6


def test_replacing_parameter_data_is_seen():
    rng = np.random.default_rng(12)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.Adam(model.parameters(), lr=1e-2), nn.optim.Adam(twin.parameters(), lr=1e-2)
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i in range(10):
        if i == 5:
            new = rng.standard_normal(model[0].weight.shape).astype(np.float32)
            model[0].weight.data = new.copy()
            twin[0].weight.data = new.copy()
            captures = step.captures
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
        if i == 5:
            assert step.captures == captures + 1, "a replaced parameter array must capture again"
    assert type(model[0].weight.data) is np.ndarray


def test_replacing_parameter_data_in_place_is_seen():
    """Writing into p.data in place (no new array) needs no re-capture: the replay reads the same memory."""
    rng = np.random.default_rng(13)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i in range(8):
        if i == 5:
            for m in (model, twin):
                m[2].bias.data[...] = 3.0
                m[0].weight.data *= 0.5
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.captures == 1


def test_replacing_a_submodule_is_seen():
    """Swapping a layer for a new one between calls (a new classifier head): the replay must use the new layer
    (capture again), not the program of the old one, whose parameters are still alive."""
    rng = np.random.default_rng(48)
    model = make_mlp()
    step = tg.jit(lambda x: model(x))
    x, _ = mlp_batch(rng)
    for _ in range(3):
        step(x)
    tg.manual_seed(5)
    setattr(model, "2", nn.Linear(N_HID, N_OUT))  # Sequential's third layer, replaced
    assert_tensor_equal(model(x), step(x), "after replacing the last layer")


@pytest.mark.parametrize("change", ["dropout_p", "leaky_slope"])
def test_changing_a_layer_setting_is_seen(change):
    """A layer's setting changed between calls (dropout's p, LeakyReLU's slope): the replay must follow (capture
    again), as eager does, not replay the captured value."""
    rng = np.random.default_rng(49)
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(N_IN, N_HID), nn.LeakyReLU(0.1), nn.Dropout(0.5), nn.Linear(N_HID, N_OUT))
    if change == "leaky_slope":
        model.eval()
    step = tg.jit(lambda x: model(x))
    x, _ = mlp_batch(rng)
    for _ in range(3):
        step(x)
    if change == "dropout_p":
        model[2].p = 0.0  # dropout off: the output is deterministic
    else:
        model[1].negative_slope = 0.5
    assert_tensor_equal(model(x), step(x), f"after changing {change}")


def test_grad_mode_switch_recaptures():
    rng = np.random.default_rng(14)
    model = make_mlp()
    step = tg.jit(lambda x: model(x))
    x, _ = mlp_batch(rng)
    for _ in range(3):
        out = step(x)
    assert step.captures == 1
    with tg.no_grad():
        out2 = step(x)
        out2 = step(x)
    assert np.array_equal(out.data, out2.data)
    assert step.captures == 2


def test_freezing_a_parameter_between_replays_matches_eager():
    """requires_grad_(False) on a parameter between calls: eager then leaves it (no grad, the optimizer skips it);
    a replay must do the same (or capture again), never update it from a stale gradient buffer."""
    rng = np.random.default_rng(15)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i in range(8):
        if i == 4:
            model[0].weight.requires_grad_(False)
            twin[0].weight.requires_grad_(False)
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")


def test_gradient_accumulation_across_calls_matches_eager():
    """A step without zero_grad (gradients accumulate over two calls, the optimizer steps outside every second
    call): each replay must add to the gradients as eager does, or capture again."""
    rng = np.random.default_rng(37)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)

    step, eager = tg.jit(backward_fn(model)), backward_fn(twin)
    for i in range(10):
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"call {i}")
        assert_same(twin, model, where=f"call {i}, after backward: ")
        if i % 2 == 1:
            for o in (opt, opt2):
                o.step()
                o.zero_grad()
            assert_same(twin, model, where=f"call {i}, after step: ")


def test_zero_grad_without_none_matches_eager():
    rng = np.random.default_rng(38)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)

    step, eager = tg.jit(train_fn(model, opt, set_to_none=False)), train_fn(twin, opt2, set_to_none=False)
    for i in range(8):
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.replays == 6


def test_input_that_requires_grad_gets_its_grad():
    """An input tensor with requires_grad (saliency, adversarial examples): after the step its .grad holds the
    gradient, as after the eager step — at capture and at every replay."""
    rng = np.random.default_rng(39)
    model, twin = make_mlp(), make_mlp()

    step, eager = tg.jit(backward_fn(model)), backward_fn(twin)
    for i in range(5):
        x, y = mlp_batch(rng)
        x1, x2 = Tensor(x.data.copy(), requires_grad=True), Tensor(x.data.copy(), requires_grad=True)
        assert_tensor_equal(eager(x1, y), step(x2, y), f"call {i}")
        assert x2.grad is not None, f"call {i}: the input's grad was not set"
        assert_tensor_equal(x1.grad, x2.grad, f"call {i}: input grad")


@pytest.mark.parametrize("clear_grad", [True, False])
def test_parameters_passed_as_arguments(clear_grad):
    """Functional style: the trained tensor is an argument of the step (the optimizer holds it too). The jitted
    run equals eager; a parameter that arrives with a .grad may instead be refused with a CaptureError that says
    so (never a wrong replay)."""
    rng = np.random.default_rng(50)
    w0 = rng.standard_normal((4, 2))

    def run(jitted):
        w = Tensor(w0.copy(), requires_grad=True)
        opt = nn.optim.SGD([w], lr=0.1, momentum=0.9)

        def fn(w, x):
            opt.zero_grad()
            loss = ((x @ w) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        step = tg.jit(fn) if jitted else fn
        r = np.random.default_rng(1)
        results = []
        for _ in range(6):
            if clear_grad:
                w.grad = None
            x = Tensor(r.standard_normal((3, 4)))
            try:
                loss = step(w, x)
            except CaptureError as e:
                assert jitted and not clear_grad and "grad" in str(e)
                return results, None
            results.append((loss.data.copy(), w.data.copy(), w.grad.data.copy()))
        return results, step

    eager, _ = run(False)
    jitted, step = run(True)
    for i, (a, b) in enumerate(zip(eager, jitted)):
        for u, v, what in zip(a, b, ("loss", "w", "w.grad")):
            assert np.array_equal(u, v), f"call {i}: {what}"
    if clear_grad:
        assert step.replays == 4


def test_jitted_train_and_eval_steps_alternate():
    """Two jitted steps on one model (a training step in train mode, an evaluation under no_grad in eval mode),
    called alternately: each keeps replaying its own program, equal to eager."""
    rng = np.random.default_rng(40)
    model, twin = make_mlp(dropout=0.3), make_mlp(dropout=0.3)
    opt, opt2 = nn.optim.Adam(model.parameters(), lr=1e-2), nn.optim.Adam(twin.parameters(), lr=1e-2)

    def evaluate(m):
        def fn(x, y):
            with tg.no_grad():
                return F.cross_entropy(m(x), y)
        return fn
    train_step, train_eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    eval_step, eval_eager = tg.jit(evaluate(model)), evaluate(twin)
    for i in range(8):
        x, y = mlp_batch(rng)
        for m in (model, twin):
            m.train()
        tg.manual_seed(i)
        want = train_eager(x, y)
        tg.manual_seed(i)
        assert_tensor_equal(want, train_step(x, y), f"train {i}")
        for m in (model, twin):
            m.eval()
        assert_tensor_equal(eval_eager(x, y), eval_step(x, y), f"eval {i}")
        assert_same(twin, model, where=f"round {i}: ")
    assert train_step.captures == 1 and eval_step.captures == 1
    assert train_step.replays == 6 and eval_step.replays == 6


def test_array_and_keyword_arguments():
    """NumPy arrays and keyword arguments are inputs too (copied into the input buffers at every replay)."""
    rng = np.random.default_rng(41)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)

    def make(m, o):
        def fn(x, *, target, weight=1.0):
            o.zero_grad()
            loss = F.cross_entropy(m(Tensor(x)), Tensor(target)) * weight
            loss.backward()
            o.step()
            return loss
        return fn
    step, eager = tg.jit(make(model, opt)), make(twin, opt2)
    for i in range(8):
        x, y = mlp_batch(rng)
        w = 0.5 if i < 6 else 2.0
        assert_tensor_equal(eager(x.data, target=y.data, weight=w), step(x.data, target=y.data, weight=w), f"{i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.captures == 2  # weight 2.0 is a new signature: a warmup (eager), then a capture
    assert step.replays == 4


def test_capture_ignores_another_threads_eager_step():
    """Thread B trains its own model eagerly while thread A captures its step (interleaving forced with events).
    B's step must not be recorded into A's program: B's model ends as a single-threaded eager run leaves it (or B
    is refused with a CaptureError and its model left unchanged), and A's replays never touch B's model."""
    import threading

    rng = np.random.default_rng(51)
    xa, ya = mlp_batch(rng)
    xb, yb = mlp_batch(rng)
    model_a, twin_a, model_b, ref_b = make_mlp(0), make_mlp(0), make_mlp(1), make_mlp(1)
    opt_a, opt_twin, opt_b, opt_ref = (nn.optim.SGD(m.parameters(), lr=0.1)
                                       for m in (model_a, twin_a, model_b, ref_b))
    go, done = threading.Event(), threading.Event()
    calls = [0]

    def make_a(m, o, pause):
        def fn(x, y):
            o.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            calls[0] += pause
            if calls[0] == 2:  # the jitted step's second call, its capture: thread B runs one step now
                go.set()
                done.wait(10)
            o.step()
            return loss
        return fn
    outcome = []

    def thread_b():
        go.wait(10)
        try:
            outcome.append(train_fn(model_b, opt_b)(xb, yb))
        except CaptureError as e:
            outcome.append(e)
        finally:
            done.set()
    b_before = [p.data.copy() for p in model_b.parameters()]
    thread = threading.Thread(target=thread_b)
    thread.start()
    step, eager = tg.jit(make_a(model_a, opt_a, 1)), make_a(twin_a, opt_twin, 0)
    try:
        for i in range(5):
            assert_tensor_equal(eager(xa, ya), step(xa, ya), f"thread A, step {i}")
            assert_same(twin_a, model_a, where=f"thread A, step {i}: ")
    finally:
        go.set()
        thread.join()
    assert outcome, "thread B did not run"
    if isinstance(outcome[0], CaptureError):
        for b, p in zip(b_before, model_b.parameters()):
            assert np.array_equal(b, p.data), "a refused step in thread B changed its model"
    else:
        assert_tensor_equal(train_fn(ref_b, opt_ref)(xb, yb), outcome[0], "thread B's loss")
        assert_same(ref_b, model_b, where="thread B's model after A's replays: ")
    assert str(step.program).count(".step()") == 1, "another thread's optimizer step was recorded"


# ------------------------------------------------------------------------------------------------- 3. dropout


def test_dropout_replays_draw_fresh_masks():
    rng = np.random.default_rng(16)
    model = make_mlp(dropout=0.5)
    step = tg.jit(lambda x: model(x))
    x, _ = mlp_batch(rng, 32)
    outs = [step(x) for _ in range(5)]
    assert step.replays == 3
    for a, b in zip(outs[2:], outs[3:]):
        assert not np.array_equal(a.data, b.data), "two replays with the same input gave the same dropout mask"


@pytest.mark.parametrize("inplace", [False, True])
def test_dropout_same_seed_eager_equals_jit(inplace):
    rng = np.random.default_rng(17)
    batches = [mlp_batch(rng, 7) for _ in range(10)]

    def make_model():
        if not inplace:
            return make_mlp(dropout=0.4)
        tg.manual_seed(0)  # in-place dropout on a Linear output (ReLU saves its output: not there)
        return nn.Sequential(nn.Linear(N_IN, N_HID), nn.Dropout(0.4, inplace=True), nn.ReLU(),
                             nn.Linear(N_HID, N_OUT))

    def run(jitted):
        model = make_model()
        opt = nn.optim.Adam(model.parameters(), lr=1e-2)
        fn = train_fn(model, opt)
        step = tg.jit(fn) if jitted else fn
        tg.manual_seed(1234)
        losses = [step(x, y) for x, y in batches]
        return model, losses, step

    eager_model, eager_losses, _ = run(False)
    jit_model, jit_losses, step = run(True)
    assert step.replays == 8
    for i, (a, b) in enumerate(zip(eager_losses, jit_losses)):
        assert_tensor_equal(a, b, f"loss {i}")
    assert_same(eager_model, jit_model)


def test_dropout_same_seed_eager_equals_jit_step_by_step():
    """Interleaved: eager step i and jitted step i each start from the same seed."""
    rng = np.random.default_rng(18)
    model, twin = make_mlp(dropout=0.5), make_mlp(dropout=0.5)
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), nn.optim.SGD(twin.parameters(), lr=0.1,
                                                                                        momentum=0.9)
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i in range(10):
        x, y = mlp_batch(rng)
        tg.manual_seed(i)
        want = eager(x, y)
        after_eager = tg.rng.generator().random(3)
        tg.manual_seed(i)
        got = step(x, y)
        after_jit = tg.rng.generator().random(3)
        assert_tensor_equal(want, got, f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
        assert np.array_equal(after_eager, after_jit), f"step {i}: the generator advanced differently"


# ------------------------------------------------------------------------------------ 4. errors at capture


def _misuse_steps(model, opt):
    def body(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    def item(x, y):
        loss = body(x, y)
        loss.item()
        opt.step()
        return loss

    def to_float(x, y):
        loss = body(x, y)
        float(loss)
        opt.step()
        return loss

    def branch(x, y):
        loss = body(x, y)
        if loss > 1:
            opt.step()
        return loss

    def asarray(x, y):  # a parameter's array: its values change from replay to replay
        loss = body(x, y)
        np.asarray(model[0].weight.data)
        opt.step()
        return loss

    def asarray_activation(x, y):
        opt.zero_grad()
        hidden = model[1](model[0](x))
        scale = np.asarray(hidden.data).mean()
        loss = F.cross_entropy(model[2](hidden) * float(scale), y)
        loss.backward()
        opt.step()
        return loss

    def tolist(x, y):
        loss = body(x, y)
        model[2].bias.grad.tolist()
        opt.step()
        return loss

    def item_early(x, y):  # raises in the forward pass, before any backward
        opt.zero_grad()
        out = model(x)
        out.sum().item()
        return out

    return {"item": (item, r"\.item\(\)"), "float": (to_float, r"float\(\)"),
            "if": (branch, r"truth value|`if`"), "asarray": (asarray, r"np\.asarray"),
            "asarray_activation": (asarray_activation, r"np\.asarray"),
            "tolist": (tolist, r"\.tolist\(\)"), "item_early": (item_early, r"\.item\(\)")}


@pytest.mark.parametrize("kind", ["item", "float", "if", "asarray", "asarray_activation", "tolist", "item_early"])
def test_value_escaping_the_capture_raises_and_model_survives(kind):
    rng = np.random.default_rng(19)
    model = make_mlp()
    opt = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fn, pattern = _misuse_steps(model, opt)[kind]
    step = tg.jit(fn)
    x, y = mlp_batch(rng)
    step(x, y)  # warmup: eager, fine
    with pytest.raises(CaptureError, match=pattern) as info:
        step(x, y)
    assert "captur" in str(info.value)
    assert capturing() is None
    assert tg.rng._capture is None
    for name, p in model.named_parameters():
        assert type(p.data) is np.ndarray, f"{name}.data left as {type(p.data).__name__}"
        assert p.grad is None or type(p.grad.data) is np.ndarray, f"{name}.grad left traced"
    for state in opt.state.values():
        for v in state.values():
            assert not isinstance(v, tg.capture.Traced)
    # the model still trains eagerly, and matches a twin brought to the same point
    twin = make_mlp()
    twin.load_state_dict({k: v.data.copy() for k, v in model.state_dict().items()})
    opt2 = nn.optim.SGD(twin.parameters(), lr=0.1)
    opt3 = nn.optim.SGD(model.parameters(), lr=0.1)
    a, b = train_fn(model, opt3)(x, y), train_fn(twin, opt2)(x, y)
    assert_tensor_equal(b, a, "eager loss after a failed capture")
    assert_same(twin, model)
    assert np.isfinite(a.data).all()
    # and the failing step fails again the same way (not a wrong replay)
    with pytest.raises(CaptureError, match=pattern):
        step(x, y)
    assert step.replays == 0


def test_failed_capture_then_good_step_captures():
    """After a failed capture, a correct jitted step on the same model captures and replays equal to eager."""
    rng = np.random.default_rng(20)
    model = make_mlp()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    bad = tg.jit(_misuse_steps(model, opt)["item"][0])
    x, y = mlp_batch(rng)
    bad(x, y)
    with pytest.raises(CaptureError):
        bad(x, y)
    twin = make_mlp()
    twin.load_state_dict({k: v.data.copy() for k, v in model.state_dict().items()})
    opt2 = nn.optim.SGD(twin.parameters(), lr=0.1)
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i in range(5):
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.replays == 3


def test_tensor_from_capture_used_after_it_raises():
    """A tensor made inside the capture and smuggled out (not returned) is not a live stand-in afterwards."""
    rng = np.random.default_rng(21)
    model = make_mlp()
    kept = []

    def fn(x):
        out = model(x)
        kept.append(out)
        return out.sum()
    step = tg.jit(fn)
    x, _ = mlp_batch(rng)
    step(x)
    step(x)
    leaked = kept[-1]
    # either it holds a plain array (the capture's buffer) or using it raises CaptureError: never a Traced that
    # silently records into a closed capture
    if type(leaked.data) is np.ndarray:
        assert leaked.data.shape == (6, N_OUT)
    else:
        with pytest.raises(CaptureError):
            leaked.data + 1


def test_bad_argument_type_raises():
    step = tg.jit(lambda x, o: x)
    with pytest.raises(CaptureError, match="argument of type"):
        step(Tensor(np.zeros(3)), object())


def test_bad_return_type_raises():
    rng = np.random.default_rng(22)
    model = make_mlp()
    step = tg.jit(lambda x: object() if capturing() else model(x))
    x, _ = mlp_batch(rng)
    step(x)
    with pytest.raises(CaptureError, match="returned"):
        step(x)
    assert all(type(p.data) is np.ndarray for p in model.parameters())


def test_optimizer_closure_inside_capture_raises():
    rng = np.random.default_rng(23)
    model = make_mlp()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)

    def fn(x, y):
        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss
        closure()
        opt.step(closure)
    step = tg.jit(fn)
    x, y = mlp_batch(rng)
    step(x, y)
    with pytest.raises(CaptureError, match="closure"):
        step(x, y)
    assert all(type(p.data) is np.ndarray for p in model.parameters())


# -------------------------------------------------------------------------------------- 5. returned tensors


def test_returned_losses_are_copies():
    rng = np.random.default_rng(24)
    model = make_mlp()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    step = tg.jit(train_fn(model, opt))
    losses = [step(*mlp_batch(rng)) for _ in range(8)]
    values = [float(t.data) for t in losses]
    assert len(set(values)) == len(values), values
    # and they stay as they were when returned, after more replays
    again = [float(t.data) for t in losses]
    step(*mlp_batch(rng))
    assert again == values
    assert all(type(t.data) is np.ndarray for t in losses)


@pytest.mark.parametrize("form", ["none", "tensor", "tuple", "list", "dict", "nested"])
def test_return_forms(form):
    rng = np.random.default_rng(25)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)

    def make(m, o):
        def fn(x, y):
            o.zero_grad()
            logits = m(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            o.step()
            return {"none": None, "tensor": loss, "tuple": (loss, logits), "list": [logits, loss],
                    "dict": {"loss": loss, "logits": logits},
                    "nested": (loss, {"logits": logits, "n": 3}, None)}[form]
        return fn
    step, eager = tg.jit(make(model, opt)), make(twin, opt2)
    kept = []
    for i in range(6):
        x, y = mlp_batch(rng)
        want, got = eager(x, y), step(x, y)
        kept.append((want, got))
        assert_same(twin, model, where=f"step {i}: ")
    assert step.replays == 4

    def compare(a, b, where):
        assert type(a) is type(b), where
        if isinstance(a, Tensor):
            assert_tensor_equal(a, b, where)
        elif isinstance(a, dict):
            assert a.keys() == b.keys()
            for k in a:
                compare(a[k], b[k], f"{where}[{k}]")
        elif isinstance(a, (tuple, list)):
            assert len(a) == len(b)
            for k, (u, v) in enumerate(zip(a, b)):
                compare(u, v, f"{where}[{k}]")
        else:
            assert a == b, where
    for i, (want, got) in enumerate(kept):  # compared after all steps: earlier results were not overwritten
        compare(want, got, f"result {i}")


@pytest.mark.parametrize("form", ["identity", "reshape", "slice", "with_loss"])
def test_returning_the_input_or_a_view_of_it(form):
    """A step that returns its input (or a view of it) returns this call's input, not the capture's."""
    w = Tensor(np.ones(3), requires_grad=True)
    fn = {"identity": lambda x: x, "reshape": lambda x: x.reshape(3, 1), "slice": lambda x: x[1:],
          "with_loss": lambda x: ((x * w).sum(), x)}[form]
    step = tg.jit(fn)
    for i in range(5):
        out = step(Tensor(np.full(3, float(i))))
        out = out[1] if isinstance(out, tuple) else out
        assert np.all(out.data == i), f"call {i}: got {out.data.ravel()}"
    assert step.replays == 3


def test_in_place_change_of_an_input_reaches_the_caller():
    """x.mul_(2) on an argument inside the step changes the caller's tensor in eager mode: so must the capture and
    every replay (or the caller sees a different x after a replayed step than after an eager one)."""
    w = Tensor(np.ones(3), requires_grad=True)

    def fn(x):
        x.mul_(2.0)
        return (x * w).sum()
    step = tg.jit(fn)
    for i in range(5):
        x = Tensor(np.full(3, float(i + 1)))
        out = step(x)
        assert out.data == 6.0 * (i + 1), f"call {i}"
        assert np.all(x.data == 2.0 * (i + 1)), f"call {i}: the caller's tensor is {x.data} after the step"


def test_returned_tensor_is_not_a_parameter_alias():
    """Returning a parameter (or a view of the capture's buffers) gives a copy: training on does not change it."""
    rng = np.random.default_rng(26)
    model = make_mlp()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    fn = train_fn(model, opt)

    def step_fn(x, y):
        loss = fn(x, y)
        return loss, model[0].weight
    step = tg.jit(step_fn)
    for _ in range(3):
        _, w = step(*mlp_batch(rng))
    saved = w.data.copy()
    step(*mlp_batch(rng))
    assert np.array_equal(saved, w.data)
    assert w.data is not model[0].weight.data


# ----------------------------------------------------------------------------------------------- 6. no leaks


def _tensor_count() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, Tensor))


def test_no_leak_over_10000_replays():
    """10,000 calls of a tiny training step, with the cyclic collector off: anything a replay left in a reference
    cycle (or in a growing list) would pile up. Live Tensors must not grow, and tracemalloc's traced memory must
    stay flat over the last 7,000 replays: < 64 KiB, under 10 bytes a step. The baseline is taken after 3,000
    calls because CPython's free lists (tuples of each size keep up to 2,000 freed objects, which tracemalloc
    still counts as allocated) fill up during the first ~2,000 calls and then stay put: bounded, not a leak."""
    tg.manual_seed(0)
    model = nn.Linear(4, 3)
    opt = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    step = tg.jit(train_fn(model, opt))
    rng = np.random.default_rng(27)
    x = Tensor(rng.standard_normal((8, 4)).astype(np.float32))
    y = Tensor(rng.integers(0, 3, 8))
    n = 10_000
    for _ in range(20):  # warmup, capture, a few replays: what is made once is made now
        step(x, y)
    gc.collect()
    tensors_before = _tensor_count()
    tracemalloc.start()
    gc.disable()
    try:
        for _ in range(2980):
            loss = step(x, y)
        mem_before, _ = tracemalloc.get_traced_memory()
        for _ in range(n - 3000):
            loss = step(x, y)
        mem_after, _ = tracemalloc.get_traced_memory()
        del loss
        tensors_after = _tensor_count()
    finally:
        gc.enable()
        tracemalloc.stop()
    assert step.replays == n - 2
    assert step.captures == 1
    assert tensors_after <= tensors_before, (tensors_before, tensors_after)
    assert mem_after - mem_before < 64 * 1024, f"traced memory grew by {mem_after - mem_before} bytes"
    assert np.isfinite(model.weight.data).all()


def test_capture_leaves_no_traced_data_behind():
    """After a capture no live Tensor holds a stand-in."""
    rng = np.random.default_rng(28)
    model = make_cnn()
    opt = nn.optim.Adam(model.parameters(), lr=1e-3)
    step = tg.jit(train_fn(model, opt))
    for _ in range(3):
        step(*cnn_batch(rng))
    gc.collect()
    bad = [o for o in gc.get_objects() if type(o) is Tensor and type(o.data) is not np.ndarray]
    assert not bad


def test_recaptures_do_not_accumulate_programs():
    """Re-capturing the same signature (mode switches) does not pile programs up."""
    rng = np.random.default_rng(29)
    model = make_mlp(dropout=0.2)
    step = tg.jit(lambda x: model(x))
    x, _ = mlp_batch(rng)
    for i in range(20):
        model.train(i % 2 == 0)
        step(x)
        step(x)
    assert len(step.programs) <= 2  # one per mode at most, not one per switch


# ---------------------------------------------------------------------------------------- 7. printable program


def _captured_mlp_step():
    rng = np.random.default_rng(30)
    model = make_mlp()
    opt = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = tg.jit(train_fn(model, opt))
    for _ in range(3):
        step(*mlp_batch(rng))
    return model, step, rng


def test_program_prints_one_line_per_call():
    model, step, rng = _captured_mlp_step()
    text = str(step.program)
    lines = text.splitlines()
    assert len(lines) == len(step.program.steps)
    assert all(line.strip() for line in lines)
    assert "matmul" in text
    assert sum("SGD.step()" in line for line in lines) == 1
    assert re.search(r"\bin0\b", text) and re.search(r"\bin1\b", text), "input buffers are named"
    assert re.search(r"\bt0\b", text), "made buffers are named"
    assert text == str(step.program)  # printing is pure


def test_program_names_parameters():
    """The parameters are buffers of the program (updated in place by the optimizer): they print by name, not as
    constants baked into the program."""
    model, step, _ = _captured_mlp_step()
    text = str(step.program)
    first = text.splitlines()[0]
    assert "matmul" in first
    assert f"const{model[0].weight.shape[::-1]}" not in first and f"const{model[0].weight.shape}" not in first, first
    for name, _ in model.named_parameters():
        assert re.search(rf"(?<![\w.]){re.escape(name)}\b", text), f"parameter {name} not named in the program"


def test_program_line_count_stable_across_captures():
    model, step, rng = _captured_mlp_step()
    first = str(step.program).splitlines()
    model[0].weight.data = model[0].weight.data.copy()  # a new parameter array: the step is captured again
    step(*mlp_batch(rng))
    assert step.captures == 2
    second = str(step.program).splitlines()
    assert len(first) == len(second)
    # and a third, through a new jit of the same function
    step2 = tg.jit(step.fn)
    for _ in range(3):
        step2(*mlp_batch(rng))
    assert len(str(step2.program).splitlines()) == len(first)


def test_program_before_capture_is_none():
    step = tg.jit(lambda x: x)
    assert step.program is None
    step(Tensor(np.ones(2)))
    assert step.program is None


# ---------------------------------------------------------------------------------------------- 8. branch guard


def test_nan_on_replay_never_replays_wrongly():
    """Capture met only finite values; a replay meets a NaN (ReLU's backward takes a slow path for non-finite
    gradients). The replay must raise CaptureError (leaving the model as before the step) or give eager's result."""
    rng = np.random.default_rng(31)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)
    step, eager = tg.jit(train_fn(model, opt)), train_fn(twin, opt2)
    for i in range(4):
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
    x, y = mlp_batch(rng)
    x.data[2, 3] = np.nan
    before = [p.data.copy() for p in model.parameters()]
    try:
        want = eager(x, y)
    except Exception as e:  # eager itself refuses: the replay must refuse too
        want = e
    try:
        got = step(x, y)
    except CaptureError as e:
        assert "captur" in str(e)
        for b, p in zip(before, model.parameters()):
            assert np.array_equal(b, p.data), "a refused replay must not have updated the parameters"
        twin.load_state_dict(model.state_dict())  # (plain SGD: no optimizer state to align)
    else:
        assert not isinstance(want, Exception), f"eager raised {want!r}, the replay returned"
        assert_tensor_equal(want, got, "loss with a NaN input")
        assert_same(twin, model, where="after the NaN step: ")
        for m in (model, twin):  # back to finite parameters, the same in both
            m.load_state_dict({k: np.asarray(v, dtype=np.float32) for k, v in zip(m.state_dict(), before)})
    # and the step goes on, equal to eager, with finite batches
    for i in range(4):
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"finite step {i} after the NaN")
        assert_same(twin, model, where=f"finite step {i} after the NaN: ")


def test_refused_replay_after_a_state_change_matches_eager():
    """BatchNorm's running statistics move in the forward pass, before cross_entropy checks the labels: a replay
    meeting a bad label must leave them as eager leaves them (eager raises after moving them once)."""
    def make():
        tg.manual_seed(0)
        return nn.Sequential(nn.Linear(N_IN, 3), nn.BatchNorm1d(3))
    model, twin = make(), make()

    def loss_fn(m):
        return lambda x, y: F.cross_entropy(m(x), y)
    step, eager = tg.jit(loss_fn(model)), loss_fn(twin)
    rng = np.random.default_rng(42)
    x = Tensor(rng.standard_normal((4, N_IN)).astype(np.float32))
    good, bad = Tensor(np.array([0, 1, 2, 0])), Tensor(np.array([0, 1, 7, 0]))
    for i in range(3):
        assert_tensor_equal(eager(x, good), step(x, good), f"call {i}")
    with pytest.raises(Exception) as eager_error:
        eager(x, bad)
    with pytest.raises(Exception) as jit_error:
        step(x, bad)
    assert isinstance(jit_error.value, (CaptureError, type(eager_error.value)))
    assert_same(twin, model, where="after the bad label: ")
    assert_tensor_equal(eager(x, good), step(x, good), "the next good call")
    assert_same(twin, model, where="after the next good call: ")


def test_nan_in_forward_only_matches_eager():
    """A forward-only step: NaN inputs either raise CaptureError or give eager's values, NaN positions included."""
    rng = np.random.default_rng(32)
    model = make_mlp()
    step = tg.jit(lambda x: F.relu(model(x)))
    for _ in range(3):
        x, _ = mlp_batch(rng)
        step(x)
    x, _ = mlp_batch(rng)
    x.data[1] = np.nan
    x.data[4, 0] = np.inf
    want = F.relu(model(x))
    try:
        got = step(x)
    except CaptureError:
        return
    assert_tensor_equal(want, got, "forward with NaN")


def test_label_out_of_range_on_replay_is_refused():
    """Capture checked the labels (all < classes); a replay with a bad label must not index out of bounds quietly."""
    rng = np.random.default_rng(33)
    model = make_mlp()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    step = tg.jit(train_fn(model, opt))
    for _ in range(3):
        step(*mlp_batch(rng))
    x, y = mlp_batch(rng)
    y.data[0] = N_OUT + 5
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises((CaptureError, IndexError, ValueError)):
        step(x, y)
    for b, p in zip(before, model.parameters()):
        assert np.array_equal(b, p.data)


def test_branch_records_and_checks_outcome():
    """trace.branch: plain values pass through; inside a capture the outcome is checked again on replay."""
    from tinygrad_np.capture.trace import branch
    assert branch(np.array(True)) is True and branch(np.array(0.0)) is False

    def fn(x):
        if branch((x.data > 0).all()):
            return x * 2
        return x * 3
    step = tg.jit(fn)
    pos = Tensor(np.ones(4))
    for _ in range(3):
        assert np.array_equal(step(pos).data, np.full(4, 2.0))
    neg = Tensor(-np.ones(4))
    try:  # the replay either refuses, or runs this call eagerly: never x * 2
        out = step(neg)
    except CaptureError as e:
        assert "came out" in str(e)
    else:
        assert np.array_equal(out.data, np.full(4, -3.0))
    replays = step.replays
    assert np.array_equal(step(pos).data, np.full(4, 2.0))  # the program was left as it was
    assert step.replays == replays + 1 and step.captures == 1


# ------------------------------------------------------------------------ library coverage under capture
# Layers, losses and tensor ops a training step commonly uses: each must capture and replay equal to eager (a
# CaptureError here is a library path that reads a traced value into Python, not a misuse by the step).


def _x2(r):
    return Tensor(r.standard_normal((6, 8)).astype(np.float32))


def _x4(r):
    return Tensor(r.standard_normal((3, 2, 6, 6)).astype(np.float32))


def _like(o, r):
    return Tensor(r.standard_normal(o.shape).astype(np.float32))


def _bits(o, r):
    return Tensor((r.random(o.shape) > 0.5).astype(np.float32))


LAYERS = {  # name: (model, batch, loss(output, rng))
    "mse_tanh": (lambda: nn.Sequential(nn.Linear(8, 4), nn.Tanh()), _x2, lambda o, r: nn.MSELoss()(o, _like(o, r))),
    "l1_sigmoid": (lambda: nn.Sequential(nn.Linear(8, 4), nn.Sigmoid()), _x2,
                   lambda o, r: nn.L1Loss()(o, _like(o, r))),
    "bce_logits_gelu": (lambda: nn.Sequential(nn.Linear(8, 4), nn.GELU()), _x2,
                        lambda o, r: nn.BCEWithLogitsLoss()(o, _bits(o, r))),
    "bce_sigmoid": (lambda: nn.Sequential(nn.Linear(8, 4), nn.Sigmoid()), _x2,
                    lambda o, r: nn.BCELoss()(o, _bits(o, r))),
    "nll_logsoftmax": (lambda: nn.Sequential(nn.Linear(8, 4), nn.LeakyReLU(0.1), nn.LogSoftmax(dim=1)), _x2,
                       lambda o, r: nn.NLLLoss()(o, Tensor(r.integers(0, 4, o.shape[0])))),
    "ce_label_smoothing": (lambda: nn.Sequential(nn.Linear(8, 4), nn.SiLU()), _x2,
                           lambda o, r: F.cross_entropy(o, Tensor(r.integers(0, 4, o.shape[0])), label_smoothing=0.1)),
    "batchnorm1d": (lambda: nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4), nn.ReLU()), _x2, lambda o, r: o.mean()),
    "elu_mish_hardswish": (lambda: nn.Sequential(nn.Linear(8, 4), nn.ELU(), nn.Linear(4, 4), nn.Mish(),
                                                 nn.Hardswish()), _x2, lambda o, r: o.sum()),
    "conv_stride_avgpool": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.AvgPool2d(2),
                                                  nn.Flatten(), nn.Linear(3, 2)), _x4, lambda o, r: o.sum()),
    "adaptive_avgpool": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                               nn.Linear(3, 2)), _x4, lambda o, r: o.sum()),
    "dropout2d": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.Dropout2d(0.5), nn.Flatten(), nn.Linear(48, 2)), _x4,
                  lambda o, r: o.sum()),
    "batchnorm2d_maxpool": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.MaxPool2d(2, stride=1),
                                                  nn.Flatten(), nn.Linear(27, 2)), _x4, lambda o, r: o.sum()),
}


@pytest.mark.filterwarnings("ignore:captured step. a Tensor made from a NumPy array")  # (constant targets, made inside)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers_and_losses_capture(name):
    make, batch, loss_of = LAYERS[name]
    tg.manual_seed(0)
    model = make()
    tg.manual_seed(0)
    twin = make()
    opt, opt2 = nn.optim.Adam(model.parameters(), lr=1e-2), nn.optim.Adam(twin.parameters(), lr=1e-2)

    def make_step(m, o):
        def fn(x, seed):
            o.zero_grad()
            loss = loss_of(m(x), np.random.default_rng(seed))
            loss.backward()
            o.step()
            return loss
        return fn
    step, eager = tg.jit(make_step(model, opt)), make_step(twin, opt2)
    rng = np.random.default_rng(43)
    for i in range(5):
        x = batch(rng)
        tg.manual_seed(i)
        want = eager(x, 0)
        tg.manual_seed(i)
        assert_tensor_equal(want, step(x, 0), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.replays == 3


def test_clip_grad_norm_inside_the_step():
    rng = np.random.default_rng(44)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)

    def clip(m):
        return nn.utils.clip_grad_norm_(m.parameters(), 0.5)
    step, eager = tg.jit(train_fn(model, opt, after_backward=clip)), train_fn(twin, opt2, after_backward=clip)
    for i in range(5):
        x, y = mlp_batch(rng)
        x = Tensor(x.data * 10)
        (a, na), (b, nb) = eager(x, y), step(x, y)
        assert_tensor_equal(a, b, f"loss {i}")
        assert_tensor_equal(na, nb, f"norm {i}")
        assert_same(twin, model, where=f"step {i}: ")


def test_clip_grad_value_inside_the_step():
    rng = np.random.default_rng(45)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)

    def clip(m):
        nn.utils.clip_grad_value_(m.parameters(), 0.01)
    step, eager = tg.jit(train_fn(model, opt, after_backward=clip)), train_fn(twin, opt2, after_backward=clip)
    for i in range(5):
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")


def _max_values(t):
    out = t.max(dim=1)
    return out[0] if isinstance(out, tuple) else out


OPS = {  # name: f(w, x) -> a scalar Tensor, differentiable in the parameter w
    "cat": lambda w, x: tg.cat([w, x], dim=0).sum(),
    "stack_pow": lambda w, x: tg.stack([w, x]).pow(2).sum(),
    "basic_slice": lambda w, x: (w[1:, ::2] * x[1:, ::2]).sum(),
    "fancy_index": lambda w, x: w[[0, 2, 2]].sum() + x[:, [1, 1]].sum(),
    "where": lambda w, x: tg.where(x > 0, w, w * 2).sum(),
    "clamp": lambda w, x: (w * x).clamp(-0.5, 0.5).sum(),
    "exp_log": lambda w, x: ((w.exp() + 1).log() * x).sum(),
    "sqrt_abs": lambda w, x: ((w * x).abs() + 1).sqrt().sum(),
    "var": lambda w, x: (w * x).var(dim=0).sum(),
    "max_dim": lambda w, x: _max_values(w * x).sum(),
    "matmul_tanh": lambda w, x: (w @ x.T).tanh().sum(),
    "softmax": lambda w, x: (w * x).softmax(dim=1)[:, 0].sum(),
    "logsumexp": lambda w, x: (w * x).logsumexp(dim=1).sum(),
    "transpose_reshape": lambda w, x: (w.transpose(0, 1).reshape(-1) * x.reshape(-1)).sum(),
    "masked_fill": lambda w, x: w.masked_fill(x > 0, 0.0).sum(),
    "gather": lambda w, x: w.gather(1, Tensor(np.array([[0], [1], [2], [3]]))).sum(),
    "norm": lambda w, x: (w * x).norm(),
    "max_min_all": lambda w, x: w.max() - w.min() + (w * x).sum(),
    "cumsum": lambda w, x: (w * x).cumsum(dim=1).sum(),
    "sort": lambda w, x: w.sort(dim=1)[0].sum(),
    "topk": lambda w, x: w.topk(2, dim=1)[0].sum(),
    "argmax_index": lambda w, x: w[tg.arange(4), (w * x).argmax(dim=1)].sum(),
}


@pytest.mark.filterwarnings("ignore:captured step. a Tensor made from a NumPy array")  # (constant indices, made inside)
@pytest.mark.parametrize("name", sorted(OPS))
def test_tensor_ops_capture(name):
    f = OPS[name]
    rng = np.random.default_rng(46)
    w = Tensor(rng.standard_normal((4, 5)), requires_grad=True)
    w2 = Tensor(w.data.copy(), requires_grad=True)

    def make(p):
        def fn(x):
            p.grad = None
            out = f(p, x)
            out.backward()
            return out
        return fn
    step, eager = tg.jit(make(w)), make(w2)
    for i in range(4):
        x = Tensor(rng.standard_normal((4, 5)))
        assert_tensor_equal(eager(x), step(x), f"call {i}")
        assert_tensor_equal(w2.grad, w.grad, f"grad, call {i}")
    assert step.replays == 2


# ---------------------------------------------------------------------------------------------- torch oracle


def test_captured_mlp_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(34)
    model = make_mlp(dtype=np.float64)
    ref = torch.nn.Sequential(torch.nn.Linear(N_IN, N_HID), torch.nn.ReLU(), torch.nn.Linear(N_HID, N_OUT)).double()
    with torch.no_grad():
        for (_, p), q in zip(model.named_parameters(), ref.parameters()):
            q.copy_(torch.from_numpy(p.data.copy()))
    opt = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    step = tg.jit(train_fn(model, opt))
    for i in range(5):
        x, y = mlp_batch(rng, 6, np.float64)
        loss = step(x, y)
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x.data)), torch.from_numpy(y.data))
        ref_loss.backward()
        ref_opt.step()
        np.testing.assert_allclose(loss.data, ref_loss.detach().numpy(), rtol=1e-10, err_msg=f"loss {i}")
        for p, q in zip(model.parameters(), ref.parameters()):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-14, err_msg=f"step {i}")
    assert step.replays == 3


def test_gradient_penalty_step_with_create_graph_matches_eager():
    """A step that differentiates twice (a gradient penalty: autograd.grad with create_graph=True, then backward
    through it): the second-order graph is made of the same traced arrays, so replays equal eager bit for bit."""
    def build():
        tg.manual_seed(0)
        m = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        return m, nn.optim.Adam(m.parameters(), lr=1e-2)

    (model, opt), (twin, opt2) = build(), build()

    def make(m, o):
        def fn(x):
            o.zero_grad()
            x = x.detach().requires_grad_()
            out = m(x).sum()
            g, = tg.autograd.grad(out, x, create_graph=True)
            loss = (g * g).sum() + out
            loss.backward()
            o.step()
            return loss
        return fn

    step, eager = tg.jit(make(model, opt)), make(twin, opt2)
    rng = np.random.default_rng(41)
    for i in range(6):
        x = Tensor(rng.standard_normal((6, 4)).astype(np.float32))
        assert_tensor_equal(eager(x), step(x), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.captures == 1 and step.replays == 4


@pytest.mark.parametrize("schedule", ["step", "onecycle"])
def test_scheduler_stepped_inside_the_step_matches_eager(schedule):
    """scheduler.step() inside the captured step is a call every replay makes again (as the optimizer's step):
    the learning rate (and OneCycleLR's momentum) advance at each replay as they do eagerly."""
    rng = np.random.default_rng(46)
    model, twin = make_mlp(), make_mlp()
    opt, opt2 = (nn.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (model, twin))

    def scheduler(o):
        if schedule == "step":
            return nn.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)
        return nn.optim.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=12)

    def make(m, o, s):
        def fn(x, y):
            loss = train_fn(m, o)(x, y)
            s.step()
            return loss
        return fn
    sched, sched2 = scheduler(opt), scheduler(opt2)
    step, eager = tg.jit(make(model, opt, sched)), make(twin, opt2, sched2)
    for i in range(10):
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
        assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"], i
        assert opt.param_groups[0]["momentum"] == opt2.param_groups[0]["momentum"], i
    assert step.replays == 8
    assert any("StepLR.step()" in line or "OneCycleLR.step()" in line for line in str(step.program).splitlines())


def test_a_batch_drawn_inside_the_step_is_said_to_be_a_constant():
    """A Tensor made from a NumPy array inside the step is fixed in the program: a batch drawn inside the step (here
    from an iterator over a DataLoader) would be replayed unchanged, so the capture warns, naming the cure."""
    from nn.data import DataLoader

    rng = np.random.default_rng(47)
    model = make_mlp()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    batches = iter(DataLoader(rng.standard_normal((60, N_IN)).astype(np.float32), rng.integers(0, N_OUT, 60),
                              batch_size=6))

    def fn():
        x, y = next(batches)
        return train_fn(model, opt)(x, y)
    step = tg.jit(fn)
    step()
    with pytest.warns(UserWarning, match="constants of the captured program.*pass them to the step as arguments"):
        step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # replays are quiet: no Tensor is made
        step()


def test_manual_seed_inside_the_step_is_replayed():
    """Seeding inside the step (the same dropout mask every call, eagerly): each replay seeds again before drawing."""
    rng = np.random.default_rng(48)
    model, twin = make_mlp(dropout=0.5), make_mlp(dropout=0.5)
    opt, opt2 = nn.optim.SGD(model.parameters(), lr=0.1), nn.optim.SGD(twin.parameters(), lr=0.1)

    def make(m, o):
        def fn(x, y):
            tg.manual_seed(7)
            return train_fn(m, o)(x, y)
        return fn
    step, eager = tg.jit(make(model, opt)), make(twin, opt2)
    for i in range(6):
        x, y = mlp_batch(rng)
        assert_tensor_equal(eager(x, y), step(x, y), f"step {i}")
        assert_same(twin, model, where=f"step {i}: ")
    assert step.replays == 4 and "manual_seed(7)" in str(step.program)


@pytest.mark.filterwarnings("ignore:captured step. a Tensor made from a NumPy array")
def test_a_tensor_made_inside_the_step_keeps_its_dtype():
    """Tensor(array, dtype=...) inside a capture casts as it does eagerly (the constant's warning changes nothing)."""
    dtypes = []

    def fn(x):
        c = Tensor(np.arange(3, dtype=np.int64), dtype=np.float32)
        dtypes.append(c.dtype)
        return x * c
    step = tg.jit(fn)
    x = Tensor(np.ones(3, np.float32))
    for _ in range(3):
        out = step(x)
    assert dtypes == [np.float32, np.float32]  # the eager call and the capture
    assert out.dtype == np.float32 and out.data.tolist() == [0.0, 1.0, 2.0]
