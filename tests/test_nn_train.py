"""Tiny end-to-end training: XOR to 100 % accuracy, deterministically."""
import numpy as np
import pytest

import nn
import nn.functional as F
from tinygrad_np import Tensor, no_grad

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([0, 1, 1, 0])


def fit_xor(seed, steps=300):
    Tensor.manual_seed(seed)
    model = nn.MLP([2, 8, 2])
    opt = nn.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(Tensor(X)), Y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with no_grad():
        accuracy = (model(Tensor(X)).argmax(axis=1).numpy() == Y).mean()
    return accuracy, losses, model


def test_xor_fits_to_100_percent():
    accuracy, losses, _ = fit_xor(seed=0)
    assert accuracy == 1.0
    assert losses[-1] < 0.01 < losses[0]


def test_xor_is_deterministic_under_manual_seed():
    _, a, model_a = fit_xor(seed=3, steps=100)
    _, b, model_b = fit_xor(seed=3, steps=100)
    assert a == b
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    _, c, _ = fit_xor(seed=4, steps=100)
    assert a != c


@pytest.mark.parametrize("seed", [1, 2, 5, 7])
def test_xor_fits_from_other_seeds_too(seed):
    assert fit_xor(seed)[0] == 1.0


def test_xor_with_sgd_momentum_and_bce_with_logits():
    Tensor.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = nn.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(model(Tensor(X)).reshape(4), Y.astype(np.float32))
        loss.backward()
        opt.step()
    assert ((model(Tensor(X)).data.reshape(4) > 0) == Y).all()
    assert loss.item() < 0.01


def test_readme_training_loop(tmp_path, monkeypatch):
    # The README's nn example, verbatim apart from the prints: it must keep working.
    monkeypatch.chdir(tmp_path)
    Tensor.manual_seed(0)
    rng = np.random.default_rng(0)

    # Three interleaved spirals (CS231n's toy data): not linearly separable.
    n, k = 200, 3
    t = rng.uniform(0, 1, (k, n))
    angle = 4 * t + np.arange(k)[:, None] * 2 * np.pi / k + rng.normal(0, 0.2, (k, n))
    x = np.stack([t * np.sin(angle), t * np.cos(angle)], axis=-1).reshape(-1, 2).astype(np.float32)
    y = np.repeat(np.arange(k), n)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:500], y[:500], x[500:], y[500:]

    model = nn.MLP([2, 64, 64, 3], dropout=0.1)
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    sched = nn.optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(200):  # noqa: B007  (the README prints it)
        model.train()
        for i in range(0, len(x_train), 100):
            logits = model(Tensor(x_train[i:i + 100]))
            loss = loss_fn(logits, y_train[i:i + 100])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()

    model.eval()
    with no_grad():
        accuracy = (model(Tensor(x_test)).argmax(axis=1).numpy() == y_test).mean()
    assert accuracy >= 0.97
    assert sched.get_last_lr() == [pytest.approx(1e-2 * 0.5**2)]

    nn.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
            "spiral.npz")
    ckpt = nn.load("spiral.npz")
    fresh = nn.MLP([2, 64, 64, 3], dropout=0.1)
    fresh.load_state_dict(ckpt["model"])
    fresh.eval()
    with no_grad():
        assert np.array_equal(fresh(Tensor(x_test)).numpy(), model(Tensor(x_test)).numpy())
