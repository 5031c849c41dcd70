"""The autograd engine: grad mode, anomaly mode, the `Function` base class every op derives from, and `backward`.

A graph node is the `Function` instance that produced a tensor: it holds the input tensors (`parents`) and
whatever arrays its backward needs. A tensor points at its node (`tensor._ctx`); a node never points at its output,
so the graph has no reference cycles and is freed by reference counting alone.

One backward formula per op serves every order of derivative. A primitive's `backward` is written with operators
and the functions of `tinygrad_np.polymorphic`, which take NumPy arrays or Tensors alike:
- first order (`create_graph=False`): `g` and every saved value are NumPy arrays, so backward is plain NumPy;
- `create_graph=True`: `g` is a Tensor, and the engine hands backward the node's saved inputs and output as the
  graph's own Tensors (`_graph_view`), so the same formula is recorded as a graph and can be differentiated again.
"""
from tinygrad_np.autograd.grad_mode import (  # noqa: I001  (order: grad_mode, function, engine)
    detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad, set_detect_anomaly, set_grad_enabled)
from tinygrad_np.autograd.function import Function
from tinygrad_np.autograd.engine import backward, grad, ones_vector, sum_rows, unbroadcast
from tinygrad_np.autograd import functional as functional  # after engine: it imports tensor.py

__all__ = ["Function", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "detect_anomaly",
           "set_detect_anomaly", "is_anomaly_enabled", "grad", "backward", "unbroadcast", "sum_rows", "ones_vector",
           "functional"]


def _bind_tensor() -> None:
    """Give the engine's modules the Tensor class (tensor.py imports them, so they cannot import it first)."""
    from tinygrad_np.autograd import engine, function
    from tinygrad_np.tensor import Tensor

    function.Tensor = engine.Tensor = Tensor


_bind_tensor()
