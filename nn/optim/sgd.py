"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay (PyTorch's SGD)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import Optimizer


class SGD(Optimizer):
    """PyTorch's SGD update, for gradient g of parameter p at step t:

        g ← g + weight_decay · p                              (if weight_decay ≠ 0)
        b ← g at t = 1, else momentum · b + (1 − dampening) · g (if momentum ≠ 0)
        g ← g + momentum · b if nesterov, else b               (if momentum ≠ 0)
        p ← p − lr · g

    The momentum buffer `b` is the only state ("momentum_buffer").
    """

    _state_keys = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _check_settings(self, group: dict[str, Any]) -> None:
        super()._check_settings(group)
        if not group["momentum"] >= 0:
            raise ValueError(f"SGD: invalid momentum {group['momentum']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, momentum, dampening, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        if wd != 0:
            g = g + wd * p  # a new array: the gradient itself is left alone
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype, copy=True)
            else:
                buf *= momentum
                buf += g if dampening == 0 else (1 - dampening) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p -= np.multiply(g, lr, out=self._temporary(p))  # lr · g, in a kept temporary
