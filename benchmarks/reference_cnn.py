"""The baseline: a small CNN trained with hand-written NumPy, the classic "fast layers" way, done carefully.

Convolution by im2col: a strided view of the padded input lists every window (`as_strided`), copied once into a
(C·kH·kW, N·H_out·W_out) column matrix; forward is one matrix product, backward two more and a col2im that adds
each kernel offset's columns back into a strided slice of the input gradient. Max pooling over non-overlapping
2x2 windows is the maximum of four strided slices; its gradient goes to the maxima (ties share it). Everything is
float32 with PyTorch's layouts (NCHW, weights (out, in, kH, kW)), so the benchmark starts every contender from the
same initial values.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> tuple[np.ndarray, tuple]:
    """Stride-1 convolution of x (N, C, H, W) with w (F, C, kH, kW) plus b (F,); returns (out, cache)."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    sn, sc, sh, sw = xp.strides
    windows = as_strided(xp, (c, kh, kw, n, ho, wo), (sc, sh, sw, sn, sh, sw))
    cols = np.ascontiguousarray(windows).reshape(c * kh * kw, n * ho * wo)
    out = w.reshape(f, -1) @ cols
    out += b[:, None]
    out = np.ascontiguousarray(out.reshape(f, n, ho, wo).transpose(1, 0, 2, 3))
    return out, (x.shape, xp.shape, cols, w, pad)


def conv_backward(dout: np.ndarray, cache: tuple, need_dx: bool = True):
    """Gradients (dx or None, dw, db) of `conv_forward` given dout = dLoss/dout."""
    x_shape, xp_shape, cols, w, pad = cache
    f, c, kh, kw = w.shape
    n, _, ho, wo = dout.shape
    dout_mat = dout.transpose(1, 0, 2, 3).reshape(f, -1)
    db = dout_mat.sum(axis=1)
    dw = (dout_mat @ cols.T).reshape(w.shape)
    if not need_dx:
        return None, dw, db
    dcols = (w.reshape(f, -1).T @ dout_mat).reshape(c, kh, kw, n, ho, wo)
    dxp = np.zeros(xp_shape, dout.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + ho, j:j + wo] += dcols[:, i, j].transpose(1, 0, 2, 3)
    return dxp[:, :, pad:pad + x_shape[2], pad:pad + x_shape[3]], dw, db


def maxpool_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """2x2 max pooling with stride 2 (H and W even), as the maximum of four strided slices (reducing a
    (N, C, H/2, 2, W/2, 2) reshape with `.max(axis=(3, 5))` instead is ~80x slower on (64, 32, 28, 28))."""
    corners = [x[:, :, i::2, j::2] for i in (0, 1) for j in (0, 1)]
    out = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    return out, (x, corners, out)


def maxpool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """The gradient goes to each window's maxima (tied maxima share it)."""
    x, corners, out = cache
    is_max = [c == out for c in corners]
    share = dout / sum(is_max)
    dx = np.empty_like(x)
    for (i, j), m in zip([(0, 0), (0, 1), (1, 0), (1, 1)], is_max):
        np.multiply(m, share, out=dx[:, :, i::2, j::2])
    return dx


class NumpyCNN:
    """conv(1→c1, 3x3, pad 1) → ReLU → maxpool 2 → conv(c1→c2, 3x3, pad 1) → ReLU → maxpool 2 → linear → 10."""

    def __init__(self, params: list[np.ndarray]) -> None:
        self.params = [p.astype(np.float32, copy=True) for p in params]  # w1, b1, w2, b2, w3, b3

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One SGD step on a batch; returns the mean cross-entropy loss."""
        w1, b1, w2, b2, w3, b3 = self.params
        m = x.shape[0]
        z1, c1 = conv_forward(x, w1, b1, pad=1)
        a1 = np.maximum(z1, 0)
        p1, cp1 = maxpool_forward(a1)
        z2, c2 = conv_forward(p1, w2, b2, pad=1)
        a2 = np.maximum(z2, 0)
        p2, cp2 = maxpool_forward(a2)
        flat = p2.reshape(m, -1)
        logits = flat @ w3.T
        logits += b3
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        rows = np.arange(m)
        loss = float(-np.log(probs[rows, y]).mean())
        dz = probs  # dLoss/dlogits = (softmax − onehot) / m, in place
        dz[rows, y] -= 1
        dz /= m
        dw3, db3 = dz.T @ flat, dz.sum(axis=0)
        dp2 = (dz @ w3).reshape(p2.shape)
        da2 = maxpool_backward(dp2, cp2)
        da2 *= z2 > 0
        dp1, dw2, db2 = conv_backward(da2, c2)
        da1 = maxpool_backward(dp1, cp1)
        da1 *= z1 > 0
        _, dw1, db1 = conv_backward(da1, c1, need_dx=False)
        for p, d in zip(self.params, (dw1, db1, dw2, db2, dw3, db3)):
            d *= lr
            p -= d
        return loss
