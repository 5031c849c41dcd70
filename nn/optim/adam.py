"""Adam and AdamW (PyTorch's formulas, including amsgrad)."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import Optimizer


class Adam(Optimizer):
    """PyTorch's Adam, for gradient g of parameter p at step t (counted per parameter, from 1):

        g ← g + weight_decay · p                      (L2 penalty through the gradient, if weight_decay ≠ 0)
        m ← β₁ · m + (1 − β₁) · g                      ("exp_avg")
        v ← β₂ · v + (1 − β₂) · g²                     ("exp_avg_sq")
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)        (bias correction: m and v start at 0)
        p ← p − lr · m̂ / (√v̂ + eps)

    With amsgrad, v̂ uses the running maximum of v ("max_exp_avg_sq"). The arithmetic is ordered as in PyTorch:
    p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps).
    """

    _state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _check_settings(self, group: dict[str, Any]) -> None:
        super()._check_settings(group)
        b1, b2 = group["betas"]
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"{type(self).__name__}: invalid betas {group['betas']} (each must be in [0, 1))")
        if not group["eps"] >= 0:
            raise ValueError(f"{type(self).__name__}: invalid eps {group['eps']}")

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if wd != 0:
            if self._decoupled:
                p *= 1 - lr * wd  # AdamW: decay the weights directly, outside the adaptive scaling
            else:
                g = g + wd * p  # a new array: the gradient itself is left alone
        # One temporary, reused in place by every line below.
        tmp = np.subtract(g, m, out=self._temporary(p))
        tmp *= 1 - beta1
        m += tmp  # m + (1 − β₁)(g − m), PyTorch's lerp
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        step_size = lr / (1 - beta1**t)
        denom = np.sqrt(v, out=tmp)
        denom /= math.sqrt(1 - beta2**t)
        denom += eps
        update = np.divide(m, denom, out=tmp)
        update *= step_size
        p -= update


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): before the Adam step, p ← p − lr · weight_decay · p;
    the gradient itself is left alone. Default weight_decay is 0.01, as in PyTorch."""

    _decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
