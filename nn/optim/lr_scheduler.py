"""Learning-rate schedules: `StepLR`, `ExponentialLR`, `CosineAnnealingLR`, `OneCycleLR` (PyTorch's names and
arguments).

Call `scheduler.step()` once per epoch (`OneCycleLR`: once per batch), after `optimizer.step()`. Each schedule
is a closed form of the epoch counter `last_epoch`, so its state is just that counter (and the base rates and
settings) and resuming is exact. The values equal PyTorch's (which computes some of them recursively, so they
may differ in the last bit; OneCycleLR's are PyTorch's own closed form, step for step); unlike PyTorch's, these
schedules do not chain: each `step()` sets `group["lr"]` from the formula.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

from tinygrad_np import capture as _capture

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
        """Advance one epoch and set the optimizer's learning rates. Inside a captured training step
        (`tinygrad_np.jit`) this is a call the replays make again, so the schedule advances at every replay."""
        if _capture.capturing() is not None:
            _capture.host_call(self._advance, f"{type(self).__name__}.step()   # the schedule advances at each replay")
        else:
            self._advance()

    def _advance(self) -> None:
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


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), as PyTorch's: over `total_steps` (or epochs · steps_per_epoch) calls of
    `step()` — once per batch — the rate goes from initial_lr = max_lr / div_factor up to `max_lr` in the first
    `pct_start` of the steps, then down to min_lr = initial_lr / final_div_factor. With `three_phase=True` it goes
    back down to initial_lr symmetrically first and to min_lr in a third phase. Each phase anneals with
    `anneal_strategy` 'cos' (start + (end − start)·(1 − cos(π·pct))/2, written as PyTorch writes it) or 'linear',
    pct the fraction of the phase done; phase k ends at step ⌊pct_start·total_steps·k⌋ − k as PyTorch counts.

    With `cycle_momentum` the momentum (SGD, RMSprop: group['momentum']; Adam, AdamW: betas[0]) moves inversely,
    from `max_momentum` down to `base_momentum` while the rate rises, and back. max_lr, base_momentum and
    max_momentum may be lists, one per parameter group.

    As in PyTorch, the constructor sets each group's 'initial_lr' (and its momentum), and stepping past total_steps
    raises ValueError (the last allowed step, total_steps itself, extrapolates the last phase, as PyTorch's does).
    Unlike PyTorch, max_lr, min_lr and the momentum bounds live on the scheduler (its state_dict), not in the
    optimizer's parameter groups, whose settings are checked against the optimizer's own.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.85, max_momentum: float | list[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        name = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        # PyTorch's checks, in its order
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"{name}: total_steps must be a positive integer, got {total_steps!r}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for arg, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(value, int) or value <= 0:
                    raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError(f"{name}: give either total_steps or both epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"{name}: pct_start must be a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.pct_start, self.anneal_strategy, self.three_phase = pct_start, anneal_strategy, bool(three_phase)
        groups = optimizer.param_groups
        self.max_lrs = _per_group(name, "max_lr", max_lr, groups)
        self.min_lrs = [m / div_factor / final_div_factor for m in self.max_lrs]  # PyTorch's order of divisions
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = False
        self.max_momentums: list[float] = []
        self.base_momentums: list[float] = []
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{name}: cycle_momentum needs an optimizer with a momentum or betas setting, "
                                 f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
            self.max_momentums = _per_group(name, "max_momentum", max_momentum, groups)
            self.base_momentums = _per_group(name, "base_momentum", base_momentum, groups)
        if last_epoch == -1:
            for group, top in zip(groups, self.max_lrs):
                group["initial_lr"] = top / div_factor  # overwritten, as PyTorch does
            if self.cycle_momentum:
                self._set_momentum(self.max_momentums)
        super().__init__(optimizer, last_epoch)

    def _phases(self) -> list[tuple[float, str, str, str, str]]:
        """(end step, start and end rate, start and end momentum) of each phase, the bounds named as in
        `_bounds`; PyTorch's end steps, floats where PyTorch's are."""
        first = float(self.pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if self.three_phase:
            return [(first, "initial", "max", "max_m", "base_m"),
                    (float(2 * self.pct_start * self.total_steps) - 2, "max", "initial", "base_m", "max_m"),
                    (last, "initial", "min", "max_m", "max_m")]
        return [(first, "initial", "max", "max_m", "base_m"), (last, "max", "min", "base_m", "max_m")]

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, epoch: int) -> list[tuple[float, float | None]]:
        """(rate, momentum or None) of every group at step `epoch`."""
        if epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {epoch} times, but total_steps is {self.total_steps} "
                             "(as in PyTorch, the schedule ends there: make total_steps, or epochs · "
                             "steps_per_epoch, cover every step() call)")
        phases = self._phases()
        out = []
        for k, base in enumerate(self.base_lrs):
            bounds = {"initial": base, "max": self.max_lrs[k], "min": self.min_lrs[k]}
            if self.cycle_momentum:
                bounds.update(max_m=self.max_momentums[k], base_m=self.base_momentums[k])
            start_step = 0.0
            for i, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
                if epoch <= end_step or i == len(phases) - 1:
                    if end_step == start_step:
                        raise ZeroDivisionError(
                            f"OneCycleLR: phase {i + 1} of the schedule has no steps (pct_start={self.pct_start}, "
                            f"total_steps={self.total_steps}); PyTorch divides by zero here too. Choose pct_start "
                            "and total_steps so that each phase spans at least one step")
                    pct = (epoch - start_step) / (end_step - start_step)
                    momentum = self._anneal(bounds[m0], bounds[m1], pct) if self.cycle_momentum else None
                    out.append((self._anneal(bounds[lr0], bounds[lr1], pct), momentum))
                    break
                start_step = end_step
        return out

    def lr_at(self, epoch: int) -> list[float]:
        return [lr for lr, _ in self._at(epoch)]

    def _advance(self) -> None:
        """Advance one batch: set the rates (and, with cycle_momentum, the momenta)."""
        super()._advance()
        if self.cycle_momentum:
            self._set_momentum([m for _, m in self._at(self.last_epoch)])

    def _set_momentum(self, values: list[float]) -> None:
        for group, m in zip(self.optimizer.param_groups, values):
            if self.use_beta1:
                group["betas"] = (m, *group["betas"][1:])
            else:
                group["momentum"] = m


def _per_group(scheduler: str, name: str, value: Any, groups: list[dict[str, Any]]) -> list[float]:
    """One value per parameter group: a list or tuple of that length, or one number for all (PyTorch's rule)."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(f"{scheduler}: {name} has {len(value)} values, but the optimizer has {len(groups)} "
                             "parameter groups (give one value per group, or a single number)")
        values = list(value)
    else:
        values = [value] * len(groups)
    for v in values:
        if not isinstance(v, Real) or isinstance(v, bool):
            raise TypeError(f"{scheduler}: {name} must be a number or a list of numbers, got {value!r}")
    return [float(v) for v in values]
