"""Hypothesis strategies shared by the core tests.

Shapes are small (at most `MAX_SIDE` per axis) and include size-1 axes and 0-d; values are float64 drawn from a
bounded domain (never a shifted one) and can be kept a margin away from kinks (|x| at 0, clip bounds) or from
each other (max/min ties), where finite differences are not valid. Every array can come in a non-contiguous
memory layout (transposed, strided or reversed views holding the same values), so that ops are exercised on the
strides NumPy hands them in practice.
"""
from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_SIDE = 4
EXAMPLES = settings(max_examples=20, deadline=None)  # the per-op budget that keeps the core suite fast
LAYOUTS = ("contiguous", "transposed", "strided", "reversed")


# ------------------------------------------------------------------------------------------------------- shapes


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = MAX_SIDE):
    """Array shapes, 0-d included by default; size-1 axes come up often (hypothesis favours small sides)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3):
    """A tuple of `num_shapes` shapes that broadcast together (differing ranks, size-1 axes, 0-d)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             max_side=MAX_SIDE).map(lambda b: b.input_shapes)


@st.composite
def axes(draw, ndim: int, allow_none: bool = True):
    """An `axis` argument valid for `ndim` axes: None, an int (negative too) or a tuple of distinct ints."""
    nd = max(ndim, 1)  # a 0-d tensor accepts axis 0 / -1, as in PyTorch
    single = st.integers(-nd, nd - 1)
    options = [single]
    if ndim:
        options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
            lambda axs: st.tuples(*[st.sampled_from([a, a - ndim]) for a in axs]))
        )
    if allow_none:
        options.append(st.none())
    return draw(st.one_of(*options))


# ------------------------------------------------------------------------------------------------------- values


def _away(x: float, kinks: tuple[float, ...], margin: float) -> float:
    for k in kinks:
        if abs(x - k) < margin:
            x = k + margin if x >= k else k - margin
    return x


def elements(lo: float = -2.0, hi: float = 2.0, kinks: tuple[float, ...] = (), margin: float = 0.05):
    """Floats in [lo, hi], pushed at least `margin` away from each point in `kinks`."""
    e = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return e.map(lambda x: _away(x, kinks, margin)) if kinks else e


def with_layout(values: np.ndarray, layout: str) -> np.ndarray:
    """The same values in a fresh array laid out as `layout`; all but 'contiguous' are non-contiguous views."""
    if layout == "contiguous" or values.ndim == 0:
        out = np.empty(values.shape, values.dtype)
    elif layout == "transposed":  # Fortran order: the axes' strides reversed
        out = np.empty(values.shape[::-1], values.dtype).T
    elif layout == "strided":  # every other element of a twice-as-long last axis
        out = np.empty(values.shape[:-1] + (2 * values.shape[-1],), values.dtype)[..., ::2]
    elif layout == "reversed":  # negative strides on every axis
        out = np.empty(values.shape, values.dtype)[(slice(None, None, -1),) * values.ndim]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    out[...] = values
    return out


def _spread(values: np.ndarray, gap: float) -> np.ndarray:
    """`values` with the same order but consecutive sorted values at least `gap` apart (no ties, no near-ties)."""
    flat = values.reshape(-1)
    order = np.argsort(flat, kind="stable")
    s = flat[order]
    for i in range(1, s.size):
        s[i] = max(s[i], s[i - 1] + gap)
    out = np.empty_like(flat)
    out[order] = s
    return out.reshape(values.shape)


@st.composite
def arrays(draw, shape, lo: float = -2.0, hi: float = 2.0, kinks: tuple[float, ...] = (), margin: float = 0.05,
           distinct: bool = False, grid: tuple[float, float] | None = None, layout: str | None = None,
           dtype=np.float64) -> np.ndarray:
    """A float array of `shape` (a tuple or a strategy for one) with values in [lo, hi] away from `kinks`.

    `distinct=True` spreads the values at least `margin` apart (for max/min/std, whose gradient is undefined at
    ties). `grid=(step, offset)` snaps every value to offset + k·step: two arrays on grids with different offsets
    never tie (for maximum/minimum). The memory layout is drawn from `LAYOUTS` unless given.
    """
    if not isinstance(shape, tuple):
        shape = draw(shape)
    values = draw(hnp.arrays(np.float64, shape, elements=elements(lo, hi, kinks, margin), fill=st.nothing()))
    if distinct:
        values = _spread(values, margin)
    if grid is not None:
        step, offset = grid
        values = np.round(values / step) * step + offset
    return with_layout(values.astype(dtype), layout or draw(st.sampled_from(LAYOUTS)))


def cotangents(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A random (non-uniform) upstream gradient of `shape`, for hand-written gradient checks."""
    return np.random.default_rng(seed).standard_normal(shape)


# ----------------------------------------------------------------------------------------------------- indexing


@st.composite
def basic_indices(draw, shape: tuple[int, ...]):
    """A basic index for `shape`: ints (negative too), slices (negative steps too), None and at most one Ellipsis."""
    parts: list = []
    axis = 0
    ellipsis_at = draw(st.none() | st.integers(0, len(shape)))
    while axis < len(shape):
        if ellipsis_at == axis:
            parts.append(Ellipsis)
            skip = draw(st.integers(0, len(shape) - axis))
            axis += skip
            ellipsis_at = None
            continue
        n = shape[axis]
        kinds = ["int", "slice", "slice", "none", "stop"] if parts.count(None) < 2 else ["int", "slice", "stop"]
        if Ellipsis in parts:  # after `...` the parts index the last axes: stopping early would shift them
            kinds.remove("stop")
        kind = draw(st.sampled_from(kinds))
        if kind == "stop":  # leave the remaining axes unindexed
            break
        if kind == "none":
            parts.append(None)
            continue
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        else:
            bound = st.none() | st.integers(-n - 1, n + 1)
            parts.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, -1, -2]))))
        axis += 1
    return tuple(parts)


@st.composite
def cat_operands(draw, max_side: int = MAX_SIDE):
    """Arrays that concatenate along one axis: (their shape but for that axis, the axis, the arrays; 1 to 3)."""
    base = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(base), len(base) - 1))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(base)
        s[axis] = draw(st.integers(1, max_side))
        parts.append(draw(arrays(tuple(s))))
    return base, axis, parts
