"""The baseline: an MLP trained with hand-written NumPy, the seeds' way, done carefully.

Forward and backward are written out by hand (dZ = ŷ − y for the softmax cross-entropy), in float32, updating in
place where that is easy. Weights use PyTorch's layout (out, in), so the benchmark can start it from exactly the
same initial values as the tinygrad_np model.
"""
from __future__ import annotations

import numpy as np


class NumpyMLP:
    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        self.weights = [w.astype(np.float32, copy=True) for w in weights]
        self.biases = [b.astype(np.float32, copy=True) for b in biases]

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One SGD step on a batch; returns the mean cross-entropy loss."""
        m = x.shape[0]
        acts, pre = [x], []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = acts[-1] @ w.T
            z += b
            pre.append(z)
            acts.append(np.maximum(z, 0) if i < len(self.weights) - 1 else z)
        logits = acts.pop()
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        rows = np.arange(m)
        loss = float(-np.log(probs[rows, y]).mean())
        dz = probs  # dZ = (ŷ − y) / m, computed in place
        dz[rows, y] -= 1
        dz /= m
        for i in reversed(range(len(self.weights))):
            w = self.weights[i]
            dw = dz.T @ acts[i]
            db = dz.sum(axis=0)
            if i > 0:
                dz = dz @ w
                dz *= pre[i - 1] > 0
            dw *= lr
            w -= dw
            db *= lr
            self.biases[i] -= db
        return loss
