"""The random generator behind every random draw (rand, randn, randint, randperm, multinomial, bernoulli, dropout,
the initialisers, DataLoader's shuffling without a seed): one per process, reseeded by `manual_seed`; its state can
be read and restored (`get_rng_state` / `set_rng_state`) so that an interrupted run resumes with the same draws."""
from __future__ import annotations

import json
from threading import get_ident
from typing import Any

import numpy as np

_rng = np.random.default_rng()
_capture = None  # the recorder of a captured step in progress (tinygrad_np/capture): draws are then recorded


def manual_seed(seed: int) -> None:
    """Seed the generator behind every random draw, for reproducible runs. Inside a captured step
    (`tinygrad_np.jit`) the seeding is made again at every replay, as the draws after it are."""
    if _capture is not None and _capture.thread == get_ident():
        _capture.host_call(lambda: _seed(seed), (), (), f"manual_seed({seed!r})")
    else:
        _seed(seed)


def _seed(seed: int) -> None:
    global _rng
    _rng = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The current generator (`manual_seed` replaces it: read it at each use, never keep it). Inside a captured step
    a stand-in whose draws a replay repeats from the live generator (fresh numbers every time)."""
    if _capture is not None and _capture.thread == get_ident():
        return _TracingGenerator(_capture)
    return _rng


def _live() -> np.random.Generator:
    return _rng


class _TracingGenerator:
    """The generator inside a captured step: each draw is made now and recorded, to be drawn afresh on replay."""

    def __init__(self, recorder) -> None:
        self.recorder = recorder

    def __getattr__(self, method: str):
        if method not in ("random", "standard_normal", "uniform", "integers", "normal", "permutation"):
            raise AttributeError(f"captured step: the random draw {method} cannot be recorded; run this step "
                                 "without capture")
        return lambda *args, **kwargs: self.recorder.draw(method, args, kwargs, _live)


def get_rng_state() -> Any:
    """The generator's state as a uint8 tensor (like PyTorch's, a byte tensor: it can go into a state dict and
    through `nn.save` / `nn.load`). `set_rng_state` with it makes the following draws repeat exactly.

    The bytes are the UTF-8 JSON of NumPy's bit-generator state (its 128-bit integers do not fit an int64 array)."""
    from tinygrad_np.tensor import Tensor

    text = json.dumps(_rng.bit_generator.state, sort_keys=True)
    return Tensor(np.frombuffer(text.encode("utf-8"), np.uint8).copy())


def set_rng_state(new_state: Any) -> None:
    """Restore the generator to a state from `get_rng_state` (a uint8 tensor, or the array `nn.load` returns)."""
    from tinygrad_np.tensor import Tensor

    data = new_state.data if isinstance(new_state, Tensor) else new_state
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 1:
        raise TypeError("set_rng_state: expected the uint8 tensor (or array) that get_rng_state returned, got "
                        f"{type(new_state).__name__}" + (f" of dtype {data.dtype} and shape {data.shape}"
                                                         if isinstance(data, np.ndarray) else ""))
    try:
        state = json.loads(data.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("set_rng_state: these bytes are not a state from get_rng_state") from None
    kind = type(_rng.bit_generator).__name__
    if not isinstance(state, dict) or state.get("bit_generator") != kind:
        raise ValueError(f"set_rng_state: this is not a state of the {kind} generator get_rng_state describes")
    try:
        _rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"set_rng_state: a damaged state: {e}") from None
