"""`Optimizer`: parameter groups, `zero_grad`, `step`, and a state dict that makes training resumable.

Subclasses define `_update(p, g, state, group)`, which changes the array `p` in place from its gradient `g`, and
keep their per-parameter buffers in `state` (a dict per parameter, made on the parameter's first update).
An update uses fresh temporaries, at most one or two per parameter, worked on in place. Measured here, that is
faster than keeping scratch buffers between steps: malloc hands back a block the step has just freed (such as the
input batch), still in cache, where a kept buffer has gone cold since the last step.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from tinygrad_np import Tensor, enable_grad
from tinygrad_np import capture as _capture
from tinygrad_np.inplace import bump_version


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
        self._scratch: dict[int, np.ndarray] = {}  # id(parameter array) -> a temporary of its shape (_temporary)
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
        if _capture.capturing() is not None:
            return self._captured_step(closure)
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
                bump_version(p)  # an in-place change: a graph that saved p before this step must not backward
        return loss

    def _captured_step(self, closure: Any) -> None:
        """step() inside a captured training step (tinygrad_np.jit): a call into this optimizer that every replay
        makes again, on the parameters and the gradient buffers of the capture. Settings (lr, a scheduler's
        changes) and state (momentum, step counts) are read afresh at each replay."""
        if closure is not None:
            raise _capture.CaptureError(f"{type(self).__name__}.step(closure): a closure cannot be captured (it would "
                                        "run the forward pass again); call step() without one inside a captured step")
        grads = [(gi, pi, _capture.real(p.grad.data)) for gi, group in enumerate(self.param_groups)
                 for pi, p in enumerate(group["params"]) if p.grad is not None]

        def update() -> None:
            for gi, pi, g in grads:
                group = self.param_groups[gi]
                p = group["params"][pi]
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {}
                self._update(_capture.real(p.data), g, state, group)
                bump_version(p)

        _capture.host_call(update, f"{type(self).__name__}.step()   # {len(grads)} parameters updated in place; "
                                   "settings and state read at each replay", reads=[g for _, _, g in grads])

    def _temporary(self, p: np.ndarray) -> np.ndarray:
        """A scratch array of p's shape and dtype, kept from step to step: an update allocates nothing (memory that
        stays warm; and a replayed step, `tinygrad_np.jit`, allocates nothing at all). Not part of the state."""
        buf = self._scratch.get(id(p))
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype:
            buf = self._scratch[id(p)] = np.empty_like(p)
        return buf

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

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The entries a parameter's state must hold once the parameter has been updated, under the settings of
        its `group` (`_update` reads them without a default). Subclasses say which."""
        return ()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore settings, step counts and buffers from `state_dict` (as made by `state_dict()`, possibly after a
        round trip through `nn.save` / `nn.load`). Everything is checked first, as the constructor checks its
        settings: each group must have exactly this optimizer's settings (a state dict of another optimizer
        class is refused) with valid values, and each parameter's state the buffers `step()` needs (and none
        this optimizer does not know), shaped like the parameter. On any problem a ValueError names it and the
        optimizer is left unchanged. Buffers are copied."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            got = f"a dict with keys {sorted(map(str, state_dict))}" if isinstance(state_dict, dict) else \
                type(state_dict).__name__
            raise ValueError(f"{name}: expected a dict with keys 'state' and 'param_groups', got {got}")
        saved_groups = _as_list(state_dict["param_groups"], name)
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the state dict has {len(saved_groups)} parameter group(s), "
                             f"this optimizer has {len(self.param_groups)}")
        settings = set(self.defaults)
        by_index: dict[int, tuple[Tensor, dict[str, Any]]] = {}  # saved index → (parameter, its new group)
        new_groups = []
        for gi, (saved, mine) in enumerate(zip(saved_groups, self.param_groups)):
            where = f"{name}: parameter group {gi}"
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"{where} is not a dict with a 'params' entry")
            keys = set(saved) - {"params"}
            unknown, missing = sorted(keys - settings - {"initial_lr"}), sorted(settings - keys)
            if unknown:
                raise ValueError(f"{where} has setting(s) {unknown} that {type(self).__name__} does not have"
                                 + (f" and lacks {missing}" if missing else "")
                                 + ": is it another optimizer's state dict?")
            if missing:
                raise ValueError(f"{where} lacks the setting(s) {missing}")
            saved_ids = _indices(saved["params"], where)
            if len(saved_ids) != len(mine["params"]):
                raise ValueError(f"{name}: parameter group {gi} has {len(saved_ids)} parameters in "
                                 f"the state dict and {len(mine['params'])} in this optimizer")
            group = dict(mine)
            for key in sorted(keys):
                group[key] = _setting(key, self.defaults.get(key, 0.0), saved[key], where)
            try:
                self._check_settings(group)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{where}: {e}") from None
            for i, p in zip(saved_ids, mine["params"]):
                if i in by_index:
                    raise ValueError(f"{name}: parameter index {i} appears more than once in 'param_groups'")
                by_index[i] = (p, group)
            new_groups.append(group)
        saved_state = state_dict["state"]
        if not isinstance(saved_state, dict):
            raise ValueError(f"{name}: 'state' must be a dict of per-parameter state, got "
                             f"{type(saved_state).__name__}")
        new_state: dict[Tensor, dict[str, Any]] = {}
        seen: set[int] = set()
        for key, saved in saved_state.items():
            i = _index(key, name)
            if i not in by_index:
                raise ValueError(f"{name}: state for parameter {i}, which is in no parameter group")
            if i in seen:
                raise ValueError(f"{name}: parameter {i} has two state entries")
            seen.add(i)
            p, group = by_index[i]
            if not isinstance(saved, dict):
                raise ValueError(f"{name}: the state of parameter {i} is not a dict")
            for buf_name in saved:
                if buf_name != "step" and buf_name not in self._state_keys:
                    raise ValueError(f"{name}: unknown state {buf_name!r} for parameter {i}")
            lacking = [k for k in self._required_state(group) if k not in saved] if saved else []
            if lacking:
                raise ValueError(f"{name}: the state of parameter {i} lacks {lacking} (it has {sorted(saved)})")
            entry: dict[str, Any] = {}
            for buf_name, value in saved.items():
                if buf_name == "step":
                    entry["step"] = _step(value, f"{name}: state 'step' of parameter {i}")
                    continue
                arr = value.data if isinstance(value, Tensor) else np.asarray(value)
                if arr.dtype.kind not in "biuf":
                    raise ValueError(f"{name}: state {buf_name!r} of parameter {i} is not an array of real numbers "
                                     f"(dtype {arr.dtype})")
                if arr.shape != p.shape:
                    raise ValueError(f"{name}: state {buf_name!r} of parameter {i} has shape "
                                     f"{arr.shape} in the state dict, the parameter has shape {p.shape}")
                entry[buf_name] = np.array(arr, dtype=p.dtype, copy=True)
            new_state[p] = entry
        for group, new in zip(self.param_groups, new_groups):  # nothing below can fail
            group.clear()
            group.update(new)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _as_list(groups: Any, name: str) -> list[Any]:
    # nn.load gives back lists as lists; accept a dict keyed '0', '1', … too
    if isinstance(groups, dict):
        if not all(re.fullmatch(r"[0-9]+", str(k)) for k in groups):
            raise ValueError(f"{name}: 'param_groups' is a dict whose keys are not group numbers")
        return [groups[k] for k in sorted(groups, key=int)]
    if not isinstance(groups, (list, tuple)):
        raise ValueError(f"{name}: 'param_groups' must be a list of dicts, got {type(groups).__name__}")
    return list(groups)


def _index(key: Any, name: str) -> int:
    """A parameter number from a state dict key: an int, or its decimal text (after `nn.save` / `nn.load`)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and key >= 0:
        return int(key)
    if isinstance(key, str) and re.fullmatch(r"[0-9]+", key):
        return int(key)
    raise ValueError(f"{name}: {key!r} in 'state' is not a parameter number")


def _indices(value: Any, where: str) -> list[int]:
    """The parameter numbers of a saved group's 'params': distinct non-negative integers."""
    arr = np.asarray(value.data if isinstance(value, Tensor) else value)
    if arr.ndim > 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{where}: 'params' must be a list of parameter numbers, got {value!r}")
    ids = [int(i) for i in arr.reshape(-1)]
    if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise ValueError(f"{where}: 'params' must hold distinct non-negative parameter numbers, got {ids}")
    return ids


def _step(value: Any, where: str) -> int:
    arr = np.asarray(value.data if isinstance(value, Tensor) else value)
    if not (arr.shape == () and arr.dtype.kind in "iuf" and np.isfinite(arr) and arr >= 0 and arr == np.floor(arr)):
        raise ValueError(f"{where} must be a whole number >= 0, got {value!r}")
    return int(arr)


def _setting(key: str, template: Any, value: Any, where: str) -> Any:
    """`value` (possibly a 0-d/1-d array after a save and load) as a Python value of the kind of `template` (the
    constructor's default): a bool, a tuple of numbers (betas), or a number (an int stays an int, a float a
    float). Anything else is a ValueError naming `key`."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        if value.ndim > 1 or value.dtype.kind not in "biuf":
            raise ValueError(f"{where}: setting {key!r} must be {_kind(template)}, got an array of shape "
                             f"{value.shape} and dtype {value.dtype}")
        value = value.item() if value.ndim == 0 else value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(template, bool):
        if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
            return bool(value)
    elif isinstance(template, tuple):
        if isinstance(value, (list, tuple)) and len(value) == len(template):
            return tuple(_setting(f"{key}[{j}]", t, v, where) for j, (t, v) in enumerate(zip(template, value)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise ValueError(f"{where}: setting {key!r} must be {_kind(template)}, got {value!r}")


def _kind(template: Any) -> str:
    if isinstance(template, bool):
        return "a bool"
    if isinstance(template, tuple):
        return f"a sequence of {len(template)} numbers"
    return "a number"
