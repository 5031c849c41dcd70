"""Learning-rate schedules: `StepLR`, `ExponentialLR`, `CosineAnnealingLR` (PyTorch's names and arguments).

Call `scheduler.step()` once per epoch, after `optimizer.step()`. Each schedule is a closed form of the epoch
counter `last_epoch`, so its state is just that counter (and the base rates) and resuming is exact. The values
equal PyTorch's (which computes them recursively, so they may differ in the last bit); unlike PyTorch's,
these schedules do not chain: each `step()` sets `group["lr"]` from the formula.
"""
from __future__ import annotations

import math
from typing import Any

from .optimizer import Optimizer


class LRScheduler:
    """Base class: sets each parameter group's `lr` to `lr_at(epoch)[i]` at every `step()`.

    On construction (`last_epoch=-1`) it records each group's starting rate as `group["initial_lr"]` (the base
    rate) and applies epoch 0. To resume, load its `state_dict()` (or pass `last_epoch`, with `initial_lr` set).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: param group {i} has no 'initial_lr' to resume from "
                               f"(last_epoch={last_epoch})")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, epoch: int) -> list[float]:
        """The learning rate of every group at `epoch` (the closed form)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the optimizer's learning rates."""
        self.last_epoch += 1
        self._last_lr = self.lr_at(self.last_epoch)
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last `step()`, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The epoch counter, base rates and settings (everything but the optimizer)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(self).items()
                if k not in ("optimizer", "_last_lr")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore from `state_dict()` (possibly after `nn.save` / `nn.load`); the optimizer's own rates come from
        the optimizer's state dict."""
        mine = self.state_dict()
        if set(state_dict) != set(mine):
            raise ValueError(f"{type(self).__name__}.load_state_dict: keys {sorted(state_dict)} differ from the "
                             f"expected {sorted(mine)}")
        values = {}
        for key, template in mine.items():
            value = state_dict[key]
            if hasattr(value, "tolist"):  # a 0-d or 1-d array after a round trip through a file
                value = value.tolist()
            if isinstance(template, list):
                value = [float(v) for v in (value if isinstance(value, list) else [value])]
                if len(value) != len(template):
                    raise ValueError(f"{type(self).__name__}.load_state_dict: {key!r} has {len(value)} entries, "
                                     f"this scheduler has {len(template)}")
            values[key] = value
        self.__dict__.update(values)
        self._last_lr = self.lr_at(self.last_epoch)


class StepLR(LRScheduler):
    """lr = base_lr · gamma^⌊epoch / step_size⌋: decay by `gamma` every `step_size` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if int(step_size) < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int) -> list[float]:
        return [base * self.gamma ** (epoch // self.step_size) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr · gamma^epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int) -> list[float]:
        return [base * self.gamma**epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr − eta_min) · (1 + cos(π · epoch / T_max)) / 2: from base_lr down to eta_min over
    `T_max` epochs (and, as in PyTorch, back up over the next T_max if stepped further)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if int(T_max) < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int) -> list[float]:
        cos = math.cos(math.pi * epoch / self.T_max)
        return [self.eta_min + (base - self.eta_min) * (1 + cos) / 2 for base in self.base_lrs]
