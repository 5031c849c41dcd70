"""Autograd against the hand-derived backpropagation of the classic course notation, written out in plain NumPy.

Notation (columns are samples): X is (n_x, m), W[l] is (n_l, n_{l-1}) — the same layout as `Linear.weight` —,
b[l] is (n_l, 1), Y is one-hot (n_y, m).
    Z1 = W1·X + b1,  A1 = ReLU(Z1),  Z2 = W2·A1 + b2,  A2 = softmax(Z2),  L = −(1/m) Σ Y ⊙ log A2
    dZ2 = A2 − Y;  dW2 = dZ2·A1ᵀ / m;  db2 = Σ_columns dZ2 / m
    dZ1 = W2ᵀ·dZ2 ⊙ ReLU'(Z1);  dW1 = dZ1·Xᵀ / m;  db1 = Σ_columns dZ1 / m
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
import nn.functional as F
from tinygrad_np import Tensor


def softmax_columns(Z):
    e = np.exp(Z - Z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def hand_backprop(X, Y, Ws, bs):
    """Forward and backward of an L-layer ReLU network with a softmax output, exactly as derived by hand."""
    m = X.shape[1]
    As, Zs = [X], []
    for l, (W, b) in enumerate(zip(Ws, bs)):
        Z = W @ As[-1] + b
        Zs.append(Z)
        As.append(softmax_columns(Z) if l == len(Ws) - 1 else np.maximum(Z, 0))
    loss = -np.sum(Y * np.log(As[-1])) / m
    dWs, dbs = [None] * len(Ws), [None] * len(Ws)
    dZ = As[-1] - Y
    for l in reversed(range(len(Ws))):
        dWs[l] = dZ @ As[l].T / m
        dbs[l] = dZ.sum(axis=1, keepdims=True) / m
        if l > 0:
            dZ = (Ws[l].T @ dZ) * (Zs[l - 1] > 0)
    return loss, dWs, dbs


def problem(seed, dims, m):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m))
    y = rng.integers(0, dims[-1], m)
    Y = np.eye(dims[-1])[y].T
    return X, y, Y


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.integers(1, 6), st.integers(0, 2**31))
def test_two_layer_linear_relu_linear_cross_entropy(n_x, n_h, n_y, m, seed):
    X, y, Y = problem(seed, [n_x, n_h, n_y], m)
    Tensor.manual_seed(seed)
    fc1, fc2 = nn.Linear(n_x, n_h, dtype=np.float64), nn.Linear(n_h, n_y, dtype=np.float64)
    logits = fc2(fc1(Tensor(X.T)).relu())  # rows are samples here: x = Xᵀ
    loss = F.cross_entropy(logits, y)
    loss.backward()

    Ws = [fc1.weight.data, fc2.weight.data]
    bs = [fc1.bias.data[:, None], fc2.bias.data[:, None]]
    ref_loss, dWs, dbs = hand_backprop(X, Y, Ws, bs)
    np.testing.assert_allclose(loss.item(), ref_loss, rtol=1e-12)
    for layer, dW, db in zip((fc1, fc2), dWs, dbs):
        np.testing.assert_allclose(layer.weight.grad.data, dW, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(layer.bias.grad.data, db[:, 0], rtol=1e-10, atol=1e-14)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 8), min_size=2, max_size=6), st.integers(1, 6), st.integers(0, 2**31))
def test_deep_mlp_layer_dims(layer_dims, m, seed):
    X, y, Y = problem(seed, layer_dims, m)
    Tensor.manual_seed(seed)
    model = nn.MLP(layer_dims, dtype=np.float64)
    loss = F.cross_entropy(model(Tensor(X.T)), y)
    loss.backward()
    Ws = [layer.weight.data for layer in model.layers]
    bs = [layer.bias.data[:, None] for layer in model.layers]
    ref_loss, dWs, dbs = hand_backprop(X, Y, Ws, bs)
    np.testing.assert_allclose(loss.item(), ref_loss, rtol=1e-12)
    for l, layer in enumerate(model.layers):
        np.testing.assert_allclose(layer.weight.grad.data, dWs[l], rtol=1e-9, atol=1e-14, err_msg=f"dW{l + 1}")
        np.testing.assert_allclose(layer.bias.grad.data, dbs[l][:, 0], rtol=1e-9, atol=1e-14, err_msg=f"db{l + 1}")


def test_seeds_mnist_shapes_in_float32():
    # the seeds' layer_dims = [784, 128, 64, 10], one line, float32 throughout
    layer_dims = [784, 128, 64, 10]
    X, y, Y = problem(0, layer_dims, 32)
    model = nn.MLP(layer_dims)
    assert [tuple(p.shape) for p in model.parameters()] == [(128, 784), (128,), (64, 128), (64,), (10, 64), (10,)]
    loss = F.cross_entropy(model(Tensor(X.T.astype(np.float32))), y)
    loss.backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    Ws = [layer.weight.data.astype(np.float64) for layer in model.layers]
    bs = [layer.bias.data.astype(np.float64)[:, None] for layer in model.layers]
    ref_loss, dWs, dbs = hand_backprop(X.astype(np.float32).astype(np.float64), Y, Ws, bs)
    np.testing.assert_allclose(loss.item(), ref_loss, rtol=1e-5)
    for l, layer in enumerate(model.layers):
        scale = np.abs(dWs[l]).max()
        np.testing.assert_allclose(layer.weight.grad.data, dWs[l], atol=1e-5 * scale)
        np.testing.assert_allclose(layer.bias.grad.data, dbs[l][:, 0], atol=1e-5 * np.abs(dbs[l]).max())
