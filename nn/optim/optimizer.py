"""`Optimizer`: parameter groups, `zero_grad`, `step`, and a state dict that makes training resumable.

Subclasses define `_update(p, g, state, group)`, which changes the array `p` in place from its gradient `g`, and
keep their per-parameter buffers in `state` (a dict per parameter, made on the parameter's first update).
An update uses fresh temporaries, at most one or two per parameter, worked on in place. Measured here, that is
faster than keeping scratch buffers between steps: malloc hands back a block the step has just freed (such as the
input batch), still in cache, where a kept buffer has gone cold since the last step.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from tinygrad_np import Tensor, enable_grad


class Optimizer:
    """Base class of the optimizers (like `torch.optim.Optimizer`).

    `params` is an iterable of Tensors (e.g. `model.parameters()`) or of dicts, each a parameter group
    `{"params": [...], "lr": ..., ...}` whose settings override the defaults. Each group's settings live in
    `optimizer.param_groups` (a learning-rate scheduler changes `group["lr"]` there).
    """

    _state_keys: tuple[str, ...] = ()  # the buffers a state dict may hold for a parameter

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors (e.g. model.parameters()), "
                            "got a single Tensor")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own settings (missing settings take the defaults)."""
        name = type(self).__name__
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (shape {p.shape})")
            if not p.requires_grad:
                raise ValueError(f"{name}: a parameter of shape {p.shape} does not require grad")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in taken for p in params):
            raise ValueError(f"{name}: some parameters appear more than once (in a group or across groups)")
        unknown = set(param_group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise TypeError(f"{name}: unknown setting(s) {sorted(unknown)} in a parameter group")
        group = {**self.defaults, **param_group, "params": params}
        self._check_settings(group)
        self.param_groups.append(group)

    def _check_settings(self, group: dict[str, Any]) -> None:
        """Raise ValueError for an invalid setting (subclasses extend it)."""
        if not group["lr"] >= 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {group['lr']}")
        if not group.get("weight_decay", 0) >= 0:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay {group['weight_decay']}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter: `.grad = None` (or fill them with zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (parameters whose `.grad` is None are skipped, as in
        PyTorch). `closure`, if given, recomputes and returns the loss first."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {}
                self._update(p.data, p.grad.data, state, group)
        return loss

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------ state dict

    def _params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {buffer name: array, "step": int}}, "param_groups": [{setting: value, "params":
        [indices]}]} — parameters are numbered in group order, as in PyTorch. The arrays are the optimizer's own
        (not copies); `nn.save` writes them out."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[id(p)]: dict(s) for p, s in self.state.items()}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore settings, step counts and buffers from `state_dict` (as made by `state_dict()`, possibly after a
        round trip through `nn.save` / `nn.load`). Everything is checked first; on any mismatch a ValueError names
        it and the optimizer is left unchanged. Buffers are copied."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and 'param_groups'")
        saved_groups = _as_list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter group(s), "
                             f"this optimizer has {len(self.param_groups)}")
        by_index: dict[int, Tensor] = {}
        new_groups = []
        for gi, (saved, mine) in enumerate(zip(saved_groups, self.param_groups)):
            saved_ids = [int(i) for i in np.asarray(saved["params"]).reshape(-1)]
            if len(saved_ids) != len(mine["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {gi} has {len(saved_ids)} parameters in "
                                 f"the state dict and {len(mine['params'])} in this optimizer")
            by_index.update(zip(saved_ids, mine["params"]))
            group = dict(mine)
            for key, value in saved.items():
                if key != "params":
                    group[key] = _like(mine.get(key), value)
            new_groups.append(group)
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, saved in state_dict["state"].items():
            i = int(key)
            if i not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, which is in no parameter group")
            p = by_index[i]
            entry: dict[str, Any] = {}
            for buf_name, value in saved.items():
                if buf_name == "step":
                    entry["step"] = int(np.asarray(value))
                    continue
                if buf_name not in self._state_keys:
                    raise ValueError(f"{name}.load_state_dict: unknown state {buf_name!r} for parameter {i}")
                arr = value.data if isinstance(value, Tensor) else np.asarray(value)
                if arr.shape != p.shape:
                    raise ValueError(f"{name}.load_state_dict: state {buf_name!r} of parameter {i} has shape "
                                     f"{arr.shape} in the state dict, the parameter has shape {p.shape}")
                entry[buf_name] = np.array(arr, dtype=p.dtype, copy=True)
            new_state[p] = entry
        for group, new in zip(self.param_groups, new_groups):
            group.clear()
            group.update(new)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _as_list(groups: Any) -> list[Any]:
    # nn.load gives back lists as lists; accept a dict keyed '0', '1', … too
    if isinstance(groups, dict):
        return [groups[k] for k in sorted(groups, key=int)]
    return list(groups)


def _like(template: Any, value: Any) -> Any:
    """`value` (possibly a 0-d/1-d array after a save and load) as a Python value shaped like `template`: a
    bool, a tuple (betas), or the number itself (an int stays an int, a float a float)."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        value = value.item() if value.ndim == 0 else value.tolist()
    if isinstance(template, bool):
        return bool(value)
    if isinstance(template, tuple):
        return tuple(_like(t, v) for t, v in zip(template, value))
    return value
