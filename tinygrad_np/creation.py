"""Making tensors: the factories (zeros, ones, full, rand, randn, randint, randperm, arange, eye, …, static methods
of `Tensor`), random sampling from a tensor (bernoulli, multinomial), and `device`, which names where tensors live
(always the CPU here).

Every random draw comes from the one generator of `tinygrad_np.rng` (`manual_seed`, `get_rng_state`): values
cannot match PyTorch's generator, but distributions, shapes, dtypes and errors do.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_np import ops, rng
from tinygrad_np import polymorphic as P
from tinygrad_np.arguments import DEFAULT_FLOAT, Scalar, _shape_arg

if TYPE_CHECKING:
    from tinygrad_np.tensor import Tensor
else:
    Tensor = None  # bound by tensor.py once the class exists (tensor.py imports this module first)

_INT64 = np.dtype(np.int64)

# the device types PyTorch knows (its error message lists them): a string naming one is a device, of which only
# the CPU exists here; anything else is not a device string at all
_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia",
                 "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


class device:
    """Where a tensor lives, as `torch.device`: `device('cpu')`, `device('cpu:0')`, `device('cpu', 0)`. Any of
    PyTorch's device types can be named, but tensors exist only on the CPU (tinygrad_np computes with NumPy):
    using another device raises."""

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002 (torch's parameter name)
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a device string such as 'cpu', got {type!r}")
        name, colon, number = type.partition(":")
        if name not in _DEVICE_TYPES:
            raise RuntimeError(f"device: expected one of {', '.join(_DEVICE_TYPES)} at the start of the device "
                               f"string, got {type!r}")
        if colon:
            if index is not None or not number.isdigit():
                raise RuntimeError(f"device: invalid device string {type!r}")
            index = int(number)
        if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
            raise RuntimeError(f"device: the index must be a non-negative int, got {index!r}")
        self.type, self.index = name, index

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + ("" if self.index is None else f", index={self.index}") + ")"


def _parse_device(where: Any, op: str) -> device:
    """`where` (a device, a device string, or an int: an accelerator's index) as a CPU device; others raise."""
    if type(where) is int:
        raise RuntimeError(f"{op}: device {where} is an accelerator's index, but tinygrad_np computes with NumPy "
                           "on the CPU only; use 'cpu'")
    d = device(where)
    if d.type != "cpu":
        raise RuntimeError(f"{op}: device {str(d)!r} is not available: tinygrad_np computes with NumPy on the CPU "
                           "only; use 'cpu' (or leave the device out)")
    return d


def _check_device(where: Any, op: str) -> None:
    if where is not None:
        _parse_device(where, op)


def _float_dtype(dtype: Any, op: str) -> np.dtype:
    dtype = np.dtype(dtype or DEFAULT_FLOAT)
    if dtype.kind != "f":
        raise TypeError(f"{op}: draws floating-point numbers; dtype must be a floating-point type, got {dtype}")
    return dtype


def _uniform01(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Uniform on [0, 1) in `dtype`. NumPy draws float32 and float64 directly; float16 values are drawn on its
    grid of 2¹¹ steps (rounding a float32 draw could give 1.0)."""
    gen = rng.generator()
    if dtype == np.float16:
        return (gen.integers(0, 1 << 11, shape) * 2.0 ** -11).astype(np.float16)
    return gen.random(shape, dtype=dtype)


def _integer_bound(value: Any, name: str, op: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    return int(value)


def _size_arg(size: Any, op: str) -> tuple[int, ...]:
    """A `size` argument that must be a tuple (or list) of ints, as PyTorch's randint demands."""
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"{op}: size must be a tuple of ints such as (2, 3), got {size!r}")
    shape = tuple(_integer_bound(n, "size", op) for n in size)
    if any(n < 0 for n in shape):
        raise ValueError(f"{op}: negative dimension in size {shape}")
    return shape


class Bernoulli(ops.Primitive):
    """z = 1 with probability x (else 0), elementwise; or with the probability `p` for every element when given.
    dz/dx = 0: a sample does not change with the probabilities it was drawn with (PyTorch's convention). With a
    float `p` PyTorch has no derivative at all, and neither has this op (backward raises)."""

    def forward(self, x, p=None):
        self.float_p = p is not None
        chance = x if p is None else p
        return (rng.generator().random(x.shape) < chance).astype(x.dtype)

    def backward(self, g):
        if self.float_p:
            raise RuntimeError("bernoulli(input, p) with a float p has no derivative (as in PyTorch, where its "
                               "backward is not implemented); detach() the input first")
        return np.zeros(g.shape, P.value(g).dtype)  # a constant: zeros even where g is NaN or inf


def _check_probabilities(p: Any, op: str) -> None:
    with np.errstate(invalid="ignore"):
        ok = bool(np.all((p >= 0) & (p <= 1)))
    if not ok:
        raise ValueError(f"{op}: probabilities must be in [0, 1], got values from {np.nanmin(p)} to {np.nanmax(p)}"
                         + (" and NaN" if np.isnan(p).any() else ""))


class CreationMethods:
    """The factory half of `Tensor`'s vocabulary (a mixin: `Tensor` derives from it), with random sampling."""

    __slots__ = ()

    @staticmethod
    def manual_seed(seed: int) -> None:
        """Seed the generator behind every random draw (rand, randn, randint, dropout, …)."""
        rng.manual_seed(seed)

    # ------------------------------------------------------------------------------------------------- constants

    @staticmethod
    def zeros(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        _check_device(device, "zeros")
        return Tensor(np.zeros(_shape_arg(shape), dtype or DEFAULT_FLOAT), requires_grad)

    @staticmethod
    def ones(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        _check_device(device, "ones")
        return Tensor(np.ones(_shape_arg(shape), dtype or DEFAULT_FLOAT), requires_grad)

    @staticmethod
    def empty(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        _check_device(device, "empty")
        return Tensor(np.empty(_shape_arg(shape), dtype or DEFAULT_FLOAT), requires_grad)

    @staticmethod
    def full(shape: Any, fill_value: Scalar, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
        """`shape` filled with `fill_value`; the dtype follows the value when not given (float32 for a float,
        int64 for an int, bool for a bool), as PyTorch's."""
        _check_device(device, "full")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return Tensor(np.full(shape, fill_value, Tensor(fill_value, dtype=dtype).dtype), requires_grad)

    @staticmethod
    def zeros_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        _check_device(device, "zeros_like")
        return Tensor(np.zeros(t.shape, dtype or t.dtype), requires_grad)

    @staticmethod
    def ones_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        _check_device(device, "ones_like")
        return Tensor(np.ones(t.shape, dtype or t.dtype), requires_grad)

    @staticmethod
    def full_like(t: Tensor, fill_value: Scalar, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Tensor:
        _check_device(device, "full_like")
        return Tensor(np.full(t.shape, fill_value, dtype or t.dtype), requires_grad)

    @staticmethod
    def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
        """[start, end) in steps; int64 when all arguments are ints, else float32 (as PyTorch)."""
        _check_device(device, "arange")
        if end is None:
            start, end = 0, start
        if dtype is None:
            dtype = np.int64 if all(isinstance(a, int) for a in (start, end, step)) else DEFAULT_FLOAT
        return Tensor(np.arange(start, end, step, dtype=dtype), requires_grad)

    @staticmethod
    def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None,
            requires_grad: bool = False) -> Tensor:
        _check_device(device, "eye")
        return Tensor(np.eye(n, m, dtype=dtype or DEFAULT_FLOAT), requires_grad)

    # ------------------------------------------------------------------------------------------------ random draws

    @staticmethod
    def rand(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """Uniform on [0, 1)."""
        _check_device(device, "rand")
        return Tensor(_uniform01(_shape_arg(shape), _float_dtype(dtype, "rand")), requires_grad)

    @staticmethod
    def randn(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """Standard normal."""
        _check_device(device, "randn")
        dtype = _float_dtype(dtype, "randn")
        draw_as = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)  # NumPy has no float16 draw
        data = rng.generator().standard_normal(_shape_arg(shape), dtype=draw_as).astype(dtype, copy=False)
        return Tensor(data, requires_grad)

    @staticmethod
    def uniform(*shape: Any, low: float = 0.0, high: float = 1.0, dtype: Any = None, requires_grad: bool = False):
        """Uniform on [low, high)."""
        data = rng.generator().uniform(low, high, _shape_arg(shape)).astype(dtype or DEFAULT_FLOAT)
        return Tensor(data, requires_grad)

    @staticmethod
    def randint(*args: Any, size: Any = None, low: Any = None, high: Any = None, dtype: Any = None,
                device: Any = None, requires_grad: bool = False) -> Tensor:
        """Integers drawn uniformly from [low, high) in a tensor of shape `size`, as `torch.randint`:
        `randint(high, size)` or `randint(low, high, size)` (low defaults to 0; size is a tuple). int64 unless
        `dtype` says otherwise (a float dtype holds the integers as floats)."""
        _check_device(device, "randint")
        args = list(args)
        if size is None:
            if not args:
                raise TypeError("randint: missing the size argument (a tuple of ints such as (2, 3))")
            size = args.pop()
        if len(args) == 2:
            low, high = args
        elif len(args) == 1:
            (high_or_low,) = args
            low, high = (low, high_or_low) if high is None else (high_or_low, high)
        elif args:
            raise TypeError(f"randint: expected randint(high, size) or randint(low, high, size), got {len(args) + 1} "
                            "positional arguments")
        if high is None:
            raise TypeError("randint: missing the high argument (the exclusive upper bound)")
        low = 0 if low is None else _integer_bound(low, "low", "randint")
        high = _integer_bound(high, "high", "randint")
        shape = _size_arg(size, "randint")
        dtype = np.dtype(dtype or np.int64)
        if low >= high:
            raise ValueError(f"randint: low must be less than high, got low={low} >= high={high}")
        if dtype.kind in "iub":
            info = np.iinfo(dtype) if dtype.kind != "b" else None
            lo, hi = (0, 1) if info is None else (info.min, info.max)
            if low < lo or high - 1 > hi:
                raise ValueError(f"randint: [{low}, {high}) does not fit in {dtype} ([{lo}, {hi + 1}))")
        elif dtype.kind != "f":
            raise TypeError(f"randint: dtype must be an integer, bool or floating-point type, got {dtype}")
        data = rng.generator().integers(low, high, shape, dtype=np.int64)
        return Tensor(data.astype(dtype, copy=False), requires_grad)

    @staticmethod
    def randperm(n: int, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """A random permutation of 0 … n − 1 (int64 unless `dtype` says otherwise)."""
        _check_device(device, "randperm")
        n = _integer_bound(n, "n", "randperm")
        if n < 0:
            raise ValueError(f"randperm: n must be non-negative, got {n}")
        return Tensor(rng.generator().permutation(n).astype(dtype or np.int64), requires_grad)

    @staticmethod
    def rand_like(input: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """`rand` of `input`'s shape and (unless given) dtype."""
        return Tensor.rand(*input.shape, dtype=dtype or input.dtype, device=device, requires_grad=requires_grad)

    @staticmethod
    def randn_like(input: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """`randn` of `input`'s shape and (unless given) dtype."""
        return Tensor.randn(*input.shape, dtype=dtype or input.dtype, device=device, requires_grad=requires_grad)

    @staticmethod
    def randint_like(input: Tensor, *args: Any, low: Any = None, high: Any = None, dtype: Any = None,
                     device: Any = None, requires_grad: bool = False) -> Tensor:
        """`randint` of `input`'s shape and (unless given) dtype: `randint_like(input, high)` or
        `randint_like(input, low, high)`."""
        return Tensor.randint(*args, tuple(input.shape), low=low, high=high, dtype=dtype or input.dtype,
                              device=device, requires_grad=requires_grad)

    # ------------------------------------------------------------------------------------- sampling from a tensor

    def bernoulli(self: Tensor, p: float | None = None) -> Tensor:
        """1 with probability `self` (elementwise, each in [0, 1]), else 0, in `self`'s dtype; or, with a float
        `p`, 1 with probability p everywhere. The gradient is zero (as in PyTorch; none with a float p)."""
        if p is None:
            if self.dtype.kind != "f":
                raise TypeError(f"bernoulli: the probabilities must be a floating-point tensor, got {self.dtype}")
            _check_probabilities(self.data, "bernoulli")
            return Bernoulli.apply(self)
        _check_probabilities(np.asarray(p, np.float64), "bernoulli")
        return Bernoulli.apply(self, p=float(p))

    def bernoulli_(self: Tensor, p: Any = 0.5) -> Tensor:
        """Fill this tensor in place with 1 with probability `p` (a float, or a tensor broadcast to this shape),
        else 0. Like any in-place op on a leaf that requires grad, it raises; on other tensors the overwritten
        values get a zero gradient."""
        chance = p.data if isinstance(p, Tensor) else np.asarray(p, np.float64)
        _check_probabilities(chance, "bernoulli_")
        if chance.ndim > self.ndim or np.broadcast_shapes(chance.shape, self.shape) != self.shape:
            raise ValueError(f"bernoulli_: the probabilities of shape {chance.shape} cannot be broadcast to this "
                             f"tensor's shape {self.shape}")
        sample = (rng.generator().random(self.shape) < chance).astype(self.dtype)
        return self.copy_(Tensor._make(sample, False, None))

    def multinomial(self: Tensor, num_samples: int, replacement: bool = False) -> Tensor:
        """Indices of categories drawn with probabilities proportional to this tensor's non-negative weights
        (a vector, or one row of weights per draw), as `torch.multinomial`: int64, of shape (num_samples,) or
        (rows, num_samples). Without replacement each category is drawn at most once (num_samples at most the
        number of categories; once the categories of nonzero weight are used up, ones of zero weight follow, as
        in PyTorch)."""
        op = "multinomial"
        if self.dtype.kind != "f":
            raise TypeError(f"{op}: the weights must be a floating-point tensor, got {self.dtype}")
        if self.ndim not in (1, 2):
            raise ValueError(f"{op}: the weights must be 1-D or 2-D, got shape {self.shape}")
        num_samples = _integer_bound(num_samples, "num_samples", op)
        if num_samples <= 0:
            raise ValueError(f"{op}: num_samples must be positive, got {num_samples}")
        n = self.shape[-1]
        if not replacement and num_samples > n:
            raise ValueError(f"{op}: cannot draw {num_samples} samples without replacement from {n} categories; "
                             "pass replacement=True")
        rows = self.data.reshape(-1, n).astype(np.float64)
        if not np.all(np.isfinite(rows)) or np.any(rows < 0):
            raise ValueError(f"{op}: the weights must be finite and non-negative (no inf, NaN or element < 0)")
        if np.any(rows.sum(axis=1) <= 0):
            raise ValueError(f"{op}: every row of weights must have a positive sum (some row is all zeros)")
        gen = rng.generator()
        if replacement:
            # inverse CDF: u uniform on [0, total) falls in category i with probability p_i / total
            cdf = np.cumsum(rows, axis=1)
            u = gen.random((rows.shape[0], num_samples)) * cdf[:, -1:]
            out = np.stack([np.searchsorted(c, v, side="right") for c, v in zip(cdf, u)]) if len(rows) else \
                np.zeros((0, num_samples), np.int64)
            # u may round up to the total: the last category of nonzero weight takes it (never one of weight 0)
            last = n - 1 - np.argmax(rows[:, ::-1] > 0, axis=1)
            out = np.minimum(out, last[:, None])
        else:
            # the exponential race: E_i / p_i with E_i ~ Exp(1) is exponential with rate p_i, so the smallest key is
            # category i with probability p_i / Σp, and (memorylessness) the next smallest follows among the rest
            # with probabilities renormalised: the ascending order is a sequence of draws without replacement
            with np.errstate(divide="ignore", invalid="ignore"):
                keys = gen.standard_exponential(rows.shape) / rows
            keys[rows == 0] = np.inf  # zero weights last (in index order), also where E_i = 0
            out = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
        out = out.astype(np.int64, copy=False)
        return Tensor._make(out if self.ndim == 2 else out[0], False, None)


def _has_tensor(data: Any) -> bool:
    return isinstance(data, Tensor) or (isinstance(data, (list, tuple)) and any(_has_tensor(d) for d in data))


def _scalars_of(data: Any, op: str) -> Any:
    """`data` with each Tensor inside a list replaced by its one number (PyTorch's rule for lists of tensors)."""
    if isinstance(data, Tensor):
        if data.data.size != 1:
            raise ValueError(f"{op}: a tensor inside a list must have exactly one element, got one of shape "
                             f"{data.shape}; use stack() to join tensors")
        return data.data.reshape(())[()]
    if isinstance(data, (list, tuple)):
        return [_scalars_of(d, op) for d in data]
    return data


def _inferred_dtype(data: Any, op: str) -> np.dtype | None:
    """The dtype `torch.tensor` infers for `data` (None for an empty list, which becomes float32): Python floats
    float32, ints int64, bools bool, complex numbers complex64; NumPy arrays and scalars and tensors their own;
    the elements of a list promoted together."""
    from tinygrad_np.tensor import promote_types

    if isinstance(data, (np.ndarray, np.generic)):
        return data.dtype
    if isinstance(data, Tensor):
        return data.data.dtype
    if isinstance(data, bool):
        return np.dtype(bool)
    if isinstance(data, int):
        return _INT64
    if isinstance(data, float):
        return DEFAULT_FLOAT
    if isinstance(data, complex):
        return np.dtype(np.complex64)
    if isinstance(data, (list, tuple)):
        result = None
        for item in data:
            dtype = _inferred_dtype(item, op)
            if dtype is not None:
                result = dtype if result is None else promote_types(result, dtype)
        return result
    raise TypeError(f"{op}: cannot make a tensor of {type(data).__name__} {data!r}; give numbers, (nested) lists "
                    "of numbers, a NumPy array or a Tensor")


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of `data`, as `torch.tensor`: a number, a (nested) list or tuple, a NumPy
    array or a Tensor. Without `dtype` the dtype is inferred as PyTorch does: Python floats give float32, ints
    int64, bools bool; a NumPy array keeps its dtype (float64 stays float64). Unlike `Tensor(array)`, the data is
    always copied. From a Tensor, PyTorch warns and recommends `t.clone().detach()`; so does this."""
    op = "tensor"
    _check_device(device, op)
    if isinstance(data, Tensor):
        import warnings

        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() "
                      "rather than tinygrad_np.tensor(sourceTensor).", UserWarning, stacklevel=2)
        data = data.data
    elif _has_tensor(data):
        data = _scalars_of(data, op)
    inferred = _inferred_dtype(data, op)
    if dtype is None:
        dtype = DEFAULT_FLOAT if inferred is None else inferred
    dtype = np.dtype(dtype)
    if inferred is not None and inferred.kind not in "biufc":
        raise TypeError(f"{op}: cannot make a tensor of dtype {inferred}")
    return Tensor(np.array(data, dtype=dtype, copy=True), requires_grad)  # (an int out of range raises)


__all__ = ["CreationMethods", "Bernoulli", "device", "tensor"]
