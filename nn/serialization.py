"""`save` / `load`: state dicts to and from `.npz` files, written atomically and read without pickle.

A nested state — `{"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}` — is stored as one
array per leaf under its dotted path ("model.layers.0.weight", "optimizer.state.0.exp_avg", "epoch"). Because a
key may itself contain dots, the nesting is recorded too, as JSON text in one extra array "__structure__"
(written only when there is nesting), and `load` rebuilds exactly the dicts and lists that were saved.
Python numbers, bools and tuples/lists of numbers are stored as arrays (a scalar as a 0-d array) and come back
as arrays; dict keys come back as strings.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Union

import numpy as np

from tinygrad_np import Tensor

PathLike = Union[str, os.PathLike]
STRUCTURE_KEY = "__structure__"


def _is_container(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value))


def _flatten(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """Store the leaves of `value` in `arrays` under dotted keys; return its skeleton (leaves → their keys)."""
    if isinstance(value, dict):
        skeleton = {}
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"nn.save: keys must be strings or ints, got {k!r} under {key or 'the top level'!r}")
            skeleton[str(k)] = _flatten(v, f"{key}.{k}" if key else str(k), arrays)
        return skeleton
    if _is_container(value):
        return [_flatten(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]
    if key in arrays or key == STRUCTURE_KEY:
        raise ValueError(f"nn.save: two entries would both be stored under the key {key!r}")
    if hasattr(value, "state_dict") and not isinstance(value, Tensor):
        raise TypeError(f"nn.save: {key!r} is a {type(value).__name__}; save its state_dict() instead")
    arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    if arr.dtype.kind not in "biufcSU":
        raise TypeError(f"nn.save: {key!r} holds a {type(value).__name__}, which cannot be stored without pickle")
    arrays[key] = arr
    return key


def save(obj: dict[str, Any], path: PathLike) -> None:
    """Write `obj` — a state dict, or a dict nesting several — to the `.npz` file `path`, atomically.

    The data goes to a temporary file in the same directory, which then replaces `path` in one step
    (`os.replace`): a crash or an error midway leaves any previous file at `path` intact.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"nn.save: expected a dict (e.g. model.state_dict()), got {type(obj).__name__}")
    arrays: dict[str, np.ndarray] = {}
    skeleton = _flatten(obj, "", arrays)
    if any(isinstance(v, (dict, list)) for v in skeleton.values()):
        arrays[STRUCTURE_KEY] = np.array(json.dumps(skeleton))
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _rebuild(skeleton: Any, arrays: dict[str, np.ndarray], path: Path) -> Any:
    if isinstance(skeleton, dict):
        return {k: _rebuild(v, arrays, path) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [_rebuild(v, arrays, path) for v in skeleton]
    if not isinstance(skeleton, str) or skeleton not in arrays:
        raise ValueError(f"nn.load: {path} is corrupt: its structure names {skeleton!r}, which is not in the file")
    return arrays.pop(skeleton)


def load(path: PathLike) -> dict[str, Any]:
    """Read a file written by `save`: the same (nested) dicts, with NumPy arrays as leaves. Uses
    `allow_pickle=False`, so a file cannot run code; a corrupt or truncated file raises ValueError naming it."""
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not a .npz archive")
        with npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"nn.load: {path} is not a valid .npz state file (corrupt or truncated?): {e}") from e
    if STRUCTURE_KEY not in arrays:
        return arrays
    try:
        skeleton = json.loads(str(arrays.pop(STRUCTURE_KEY)))
    except json.JSONDecodeError as e:
        raise ValueError(f"nn.load: {path} is corrupt: unreadable {STRUCTURE_KEY}: {e}") from e
    if not isinstance(skeleton, dict):
        raise ValueError(f"nn.load: {path} is corrupt: {STRUCTURE_KEY} is not a dict")
    out = _rebuild(skeleton, arrays, path)
    if arrays:
        raise ValueError(f"nn.load: {path} is corrupt: arrays {sorted(arrays)} are not in its structure")
    return out
