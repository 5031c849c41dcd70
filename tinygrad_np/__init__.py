"""tinygrad_np: a small reverse-mode autograd engine on NumPy."""
import numpy as _np

from tinygrad_np import autograd  # first: tensor imports it
from tinygrad_np.autograd import (
                                  Function,
                                  detect_anomaly,
                                  enable_grad,
                                  is_grad_enabled,
                                  no_grad,
                                  set_detect_anomaly,
                                  set_grad_enabled,
)
from tinygrad_np.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygrad_np.tensor import Tensor, cat, manual_seed, stack, where

float16, float32, float64 = _np.float16, _np.float32, _np.float64
int32, int64, bool_ = _np.int32, _np.int64, _np.bool_

__all__ = [
    "Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "gradcheck",
    "gradgradcheck", "GradcheckError", "autograd", "detect_anomaly", "set_detect_anomaly",
    "cat", "stack", "where", "manual_seed", "float16", "float32", "float64", "int32", "int64", "bool_",
]
__version__ = "0.1.0"
