"""tinygrad_np: a small reverse-mode autograd engine on NumPy.

The top-level names follow PyTorch's (`tinygrad_np.zeros`, `tinygrad_np.tensor`, `tinygrad_np.float32`, …).
`tinygrad_np.tensor` is the function, as `torch.tensor`: the module defining the `Tensor` class is also named
tensor (`tinygrad_np/tensor.py`), so the function is bound at the very end of this file, after every submodule has
been imported (an import binds a submodule's name on its package only the first time it runs). `from
tinygrad_np.tensor import Tensor` keeps working; `import tinygrad_np.tensor as m` would give the function.
"""
import numpy as _np

from tinygrad_np import autograd, malloc  # autograd first: tensor imports it
from tinygrad_np.autograd import (
                                  Function,
                                  detect_anomaly,
                                  enable_grad,
                                  is_grad_enabled,
                                  no_grad,
                                  set_detect_anomaly,
                                  set_grad_enabled,
)
from tinygrad_np.capture import CaptureError, jit
from tinygrad_np.creation import _check_device, device
from tinygrad_np.creation import tensor as _tensor_function
from tinygrad_np.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygrad_np.rng import get_rng_state, set_rng_state
from tinygrad_np.tensor import (
                                Tensor,
                                cat,
                                eq,
                                ge,
                                greater,
                                greater_equal,
                                gt,
                                le,
                                less,
                                less_equal,
                                lt,
                                manual_seed,
                                ne,
                                not_equal,
                                promote_types,
                                result_type,
                                stack,
                                where,
)

malloc.apply_default_policy()  # glibc's allocator thresholds, once (tinygrad_np/malloc.py; TINYGRAD_NP_MALLOC=off)

# ----------------------------------------------------------------------------------------------------- dtypes
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64, uint8 = _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8
bool_ = _np.bool_
complex64, complex128 = _np.complex64, _np.complex128
half, double, short, long = float16, float64, int16, int64  # PyTorch's other names (float and int: at the end)

# --------------------------------------------------------------------------------------------------- factories
zeros, ones, empty, full, arange, eye = Tensor.zeros, Tensor.ones, Tensor.empty, Tensor.full, Tensor.arange, Tensor.eye
zeros_like, ones_like, full_like = Tensor.zeros_like, Tensor.ones_like, Tensor.full_like
rand, randn, randint, randperm = Tensor.rand, Tensor.randn, Tensor.randint, Tensor.randperm
rand_like, randn_like, randint_like = Tensor.rand_like, Tensor.randn_like, Tensor.randint_like


def from_numpy(ndarray: _np.ndarray) -> Tensor:
    """A tensor sharing `ndarray`'s memory and dtype (`torch.from_numpy`)."""
    if not isinstance(ndarray, _np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(ndarray).__name__}")
    return Tensor(ndarray)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """`data` as a tensor, sharing memory where it can (a Tensor or NumPy array of the right dtype), else a copy
    with `tensor`'s dtype inference (`torch.as_tensor`)."""
    if isinstance(data, Tensor):
        _check_device(device, "as_tensor")
        return data if dtype is None else data.to(dtype)
    if isinstance(data, _np.ndarray) and (dtype is None or _np.dtype(dtype) == data.dtype):
        _check_device(device, "as_tensor")
        return Tensor(data)
    return _tensor_function(data, dtype=dtype, device=device)


def is_tensor(obj) -> bool:
    """Whether `obj` is a Tensor (`torch.is_tensor`)."""
    return isinstance(obj, Tensor)


# -------------------------------------------------------------------------------------------- random sampling


def _needs_tensor(name: str):
    """The Tensor method `name` as a top-level function of an input tensor (PyTorch's torch.X(input, …))."""
    method = getattr(Tensor, name)

    def function(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        return method(input, *args, **kwargs)

    function.__name__, function.__qualname__, function.__doc__ = name, name, method.__doc__
    return function


bernoulli, multinomial = _needs_tensor("bernoulli"), _needs_tensor("multinomial")


# ------------------------------------------------------------------------------------------------ save / load


def save(obj, f) -> None:
    """`nn.save(obj, f)`: a (nested) state dict to an .npz file, atomically (see nn.serialization)."""
    from nn.serialization import save as _save  # lazily: nn imports tinygrad_np

    _save(obj, f)


def load(f):
    """`nn.load(f)`: the (nested) dicts `save` wrote, with NumPy arrays as leaves (nothing is unpickled)."""
    from nn.serialization import load as _load

    return _load(f)


# --------------------------------------------------------------------------------- names from other modules
# Engineers adding top-level functions: put the imports in the block below, one `from tinygrad_np.X import (...)`
# per module, and add the names to __all__ (between the marked lines). Do not bind or import anything called
# `tensor`; and define no functions in this file that call bool(), float() or int(): at the end of the file these
# names become dtypes.

# >>> elementwise.py names
from tinygrad_np.elementwise import (  # noqa: E402
    arctan2,
    atan2,
    ceil,
    celu,
    celu_,
    erf,
    exp2,
    expm1,
    fix,
    floor,
    floor_divide,
    fmod,
    frac,
    hypot,
    lerp,
    log1p,
    log2,
    log10,
    remainder,
    round,  # noqa: F401  (tinygrad_np.round; not in __all__: it would shadow the builtin)
    selu,
    selu_,
    tan,
    trunc,
)

# <<< elementwise.py names
# >>> reductions.py names
from tinygrad_np.reductions import functions as _reduction_functions  # noqa: E402
from tinygrad_np.reductions import linalg, return_types  # noqa: E402

# sum, mean, prod, max, min, amax, amin, argmax, argmin, cumsum, cumprod, var, std, norm, all, any, logsumexp,
# softmax, log_softmax, sort, argsort, topk, median: torch.X(x, …) is x.X(…). Bound from a dict so that the names
# shadowing builtins (sum, max, min, all, any) shadow them only here, as in torch's namespace.
globals().update(_reduction_functions)
# <<< reductions.py names
# >>> shape.py names
from tinygrad_np.shape import (  # noqa: E402
    chunk,
    clone,
    diagonal,
    flatten,
    flip,
    gather,
    index_select,
    masked_fill,
    masked_select,
    moveaxis,
    movedim,
    narrow,
    permute,
    reshape,
    roll,
    scatter,
    scatter_add,
    select,
    split,
    squeeze,
    swapaxes,
    swapdims,
    transpose,
    tril,
    triu,
    unbind,
    unflatten,
    unsqueeze,
)

# <<< shape.py names

_BUILTIN_NAMES = {"sum", "max", "min", "all", "any", "round"}
__all__ = [
    "Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "gradcheck",
    "gradgradcheck", "GradcheckError", "autograd", "detect_anomaly", "set_detect_anomaly",
    "tensor", "from_numpy", "as_tensor", "is_tensor", "device",
    "cat", "stack", "where", "save", "load",
    "zeros", "ones", "empty", "full", "arange", "eye", "zeros_like", "ones_like", "full_like",
    "manual_seed", "get_rng_state", "set_rng_state",
    "rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "bernoulli", "multinomial",
    "eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "promote_types", "result_type",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_", "complex64", "complex128",
    "half", "double", "short", "long",
    # >>> names from other modules (not those that would shadow Python's builtins on `import *`: sum max min all
    # any round, which stay reachable as tinygrad_np.sum etc.)
    *(n for n in _reduction_functions if n not in _BUILTIN_NAMES), "linalg", "return_types",  # reductions.py
    "arctan2", "atan2", "ceil", "celu", "celu_", "erf", "exp2", "expm1", "fix", "floor", "floor_divide", "fmod",
    "frac", "hypot", "lerp", "log1p", "log2", "log10", "remainder", "selu", "selu_", "tan", "trunc",  # elementwise
    "chunk", "clone", "diagonal", "flatten", "flip", "gather", "index_select", "masked_fill", "masked_select",
    "moveaxis", "movedim", "narrow", "permute", "reshape", "roll", "scatter", "scatter_add", "select", "split",
    "squeeze", "swapaxes", "swapdims", "transpose", "tril", "triu", "unbind", "unflatten", "unsqueeze",  # shape
    "jit", "CaptureError",  # capture
    # <<< names from other modules
]
__version__ = "0.1.0"

# Last, because these names shadow what they name: PyTorch's dtype aliases `bool`, `float` and `int` (builtins in
# this file before this point; kept out of __all__ so that `from tinygrad_np import *` does not shadow Python's),
# and the function `tensor`, which replaces the attribute the import of the submodule tinygrad_np.tensor set.
bool, float, int = _np.bool_, _np.float32, _np.int32  # noqa: A001 (torch.bool, torch.float, torch.int)
tensor = _tensor_function
