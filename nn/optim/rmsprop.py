"""RMSprop (PyTorch's formulas, including the centered variant and momentum)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import Optimizer


class RMSprop(Optimizer):
    """PyTorch's RMSprop, for gradient g of parameter p:

        g ← g + weight_decay · p                         (if weight_decay ≠ 0)
        s ← α · s + (1 − α) · g²                          ("square_avg")
        centered:  ḡ ← α · ḡ + (1 − α) · g ("grad_avg");  a = √(s − ḡ²) + eps
        otherwise: a = √s + eps
        momentum > 0:  b ← momentum · b + g / a ("momentum_buffer");  p ← p − lr · b
        otherwise:     p ← p − lr · g / a
    """

    _state_keys = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _check_settings(self, group: dict[str, Any]) -> None:
        super()._check_settings(group)
        if not 0 <= group["alpha"] <= 1:
            raise ValueError(f"RMSprop: invalid alpha {group['alpha']}")
        if not group["eps"] >= 0:
            raise ValueError(f"RMSprop: invalid eps {group['eps']}")
        if not group["momentum"] >= 0:
            raise ValueError(f"RMSprop: invalid momentum {group['momentum']}")

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        return (("step", "square_avg") + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        wd = group["weight_decay"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p)
        state["step"] += 1
        if wd != 0:
            g = g + wd * p  # a new array: the gradient itself is left alone
        s = state["square_avg"]
        tmp = np.multiply(g, g, out=self._temporary(p))  # one temporary, reused in place by every line below
        tmp *= 1 - alpha
        s *= alpha
        s += tmp
        if group["centered"]:
            ga = state["grad_avg"]
            np.subtract(g, ga, out=tmp)
            tmp *= 1 - alpha
            ga += tmp  # PyTorch's lerp
            avg = np.subtract(s, np.multiply(ga, ga, out=tmp), out=tmp)
            np.sqrt(avg, out=avg)
        else:
            avg = np.sqrt(s, out=tmp)
        avg += eps
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += np.divide(g, avg, out=tmp)
            p -= np.multiply(buf, lr, out=tmp)
        else:
            step = np.divide(g, avg, out=tmp)
            step *= lr
            p -= step
