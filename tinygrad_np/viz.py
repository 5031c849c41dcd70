"""Drawing the autograd graph: `to_dot` writes Graphviz DOT text (no dependency), `draw_graph` returns a
`graphviz.Digraph` of the same text (renders to .svg/.png/.pdf with the Graphviz binaries; shows inline in Jupyter).

The drawing has two kinds of node: values (tensors, boxes) and ops (the `Function` nodes, ellipses coloured by
kind), with edges input value → op → output value, so the picture reads like the forward pass and backward runs
against the arrows. One traversal builds the node and edge lists; one emitter writes them.

What is kept after `backward()`: without `retain_graph=True` backward frees every node it went through (its inputs
and saved arrays), so only the output, the op that made it (drawn dashed, "freed by backward") and nothing behind it
can be drawn. With `retain_graph=True` the whole graph is drawn, with the gradients backward stored (`.grad` of the
leaves, and of non-leaves that called `retain_grad()`).

Higher-order graphs: a backward with `create_graph=True` records its formulas as ops, and the engine tags each op it
records with `backward_of` (the name of the op whose backward made it, or "sum of gradients"). Those ops are drawn
with a dashed blue border and that name under their own, the gradients they make as blue boxes, and the arrows
between them blue, so the backward pass stands apart from the forward one it reads. The backward formulas read the
forward graph's tensors through stand-ins (`graph_alias`); each stand-in is drawn as the tensor it stands for.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from tinygrad_np import creation, indexing, inplace, ops, reductions, shape
from tinygrad_np.autograd import Function
from tinygrad_np.tensor import Tensor

if TYPE_CHECKING:
    import graphviz

Params = Union[Mapping[str, Tensor], Any]  # a {name: tensor} mapping or anything with `named_parameters()`

# ------------------------------------------------------------------------------------------------------- styles

_FONT = "Helvetica,Arial,sans-serif"
_SMALL = 6  # tensors with at most this many elements show their values; larger ones show min / mean / max

# op kind -> (fill, border); the legend shows them in this order
_OP_STYLE = {
    "elementwise": ("#fef3c7", "#d97706"),
    "reduction": ("#fce7f3", "#db2777"),
    "matmul": ("#ede9fe", "#7c3aed"),
    "shape": ("#e5e7eb", "#6b7280"),
    "loss": ("#fee2e2", "#dc2626"),
    "custom": ("#ccfbf1", "#0d9488"),
}
_OP_KIND: dict[type, str] = {
    **dict.fromkeys(
        [ops.Add, ops.Sub, ops.Mul, ops.Div, ops.Pow, ops.Maximum, ops.Where, ops.Neg, ops.Exp, ops.Log, ops.Sqrt,
         ops.Sin, ops.Cos, ops.Abs, ops.Sign, ops.Relu, ops.Sigmoid, ops.Tanh, ops.Softplus, ops.Gelu, ops.Clip,
         ops.Cast, ops.Erf, ops.Minimum, ops.Atan2, ops.Hypot, ops.Remainder, ops.Fmod, ops.FloorDivide, ops.Lerp,
         ops.Floor, ops.Ceil, ops.Trunc, ops.Round, ops.Tan, ops.Log2, ops.Log10, ops.Exp2, ops.Log1p, ops.Expm1,
         ops.Hardtanh, ops.Hardsigmoid, ops.Hardswish, ops.Elu, ops.LogSigmoid, ops.Silu, inplace.Clone,
         creation.Bernoulli], "elementwise"),
    **dict.fromkeys([ops.Sum, ops.LogSumExp, ops.LogSoftmax, ops.Softmax, reductions.Amax, reductions.Amin,
                     reductions.Cumprod, reductions.Cumsum, reductions.Median, reductions.VectorNorm], "reduction"),
    **dict.fromkeys([reductions.TakeAlong, reductions.PutAlong], "shape"),
    ops.Matmul: "matmul",
    ops.Linear: "matmul",
    **dict.fromkeys([ops.Reshape, ops.Permute, ops.Expand, ops.Pad, ops.Flip, ops.Cat, indexing.GetItem,
                     indexing.IndexScatter, indexing.IndexPut, indexing.ScatterAdd, shape.Roll, shape.Diagonal,
                     shape.DiagonalEmbed], "shape"),
}
_SHAPE_ONLY = (ops.Reshape, ops.Permute, ops.Expand)  # what hide_shape_ops collapses: the values are not changed
# Ops defined outside tinygrad_np.ops (nn's fused losses, convolutions, your own) are classed by name, else "custom"
_KIND_BY_NAME = (("loss", "loss"), ("entropy", "loss"), ("nll", "loss"), ("mse", "loss"), ("conv", "matmul"),
                 ("pool", "reduction"))

_GRAD_COLOR = "#b91c1c"
_MUTED = "#6b7280"
_BACKWARD = "#0369a1"  # ops recorded by a create_graph backward, the gradients they make, the arrows between them

# value role -> (fill, border, extra style); the legend shows them in this order
_ROLE_STYLE = {
    "output": ("#fef9c3", "#111827", ""),
    "parameter": ("#dcfce7", "#16a34a", ""),
    "input": ("#dbeafe", "#2563eb", ""),
    "intermediate": ("#ffffff", "#9ca3af", ""),
    "backward value": ("#e0f2fe", _BACKWARD, ""),  # made by an op a create_graph backward recorded
    "constant": ("#f9fafb", "#9ca3af", ",dashed"),
}
_ROLE_ATTRS = {
    role: f'shape="box" style="rounded,filled{extra}" fillcolor="{fill}" color="{border}"'
    + (" penwidth=2.5" if role == "output" else "")
    for role, (fill, border, extra) in _ROLE_STYLE.items()
}
_KIND_ATTRS = {kind: f'shape="ellipse" style="filled" fillcolor="{fill}" color="{border}"'
               for kind, (fill, border) in _OP_STYLE.items()}
_FREED_ATTRS = f'shape="ellipse" style="dashed" color="{_MUTED}" fontcolor="{_MUTED}"'
# a backward op keeps its kind's fill (the backward pass is made of the same ops) with a dashed blue border
_BACKWARD_ATTRS = {kind: f'shape="ellipse" style="filled,dashed" fillcolor="{fill}" color="{_BACKWARD}" penwidth=2'
                   for kind, (fill, _) in _OP_STYLE.items()}
_BACKWARD_EDGE = f' [color="{_BACKWARD}"]'


def _tooltip(cls: type) -> str:
    """The first paragraph of an op's docstring (its derivative, for the built-in ops), for a quoted DOT string:
    shown when the pointer rests on the op in an SVG or in Jupyter."""
    return _tooltip_text(" ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split()))


def _tooltip_text(text: str) -> str:
    """`text` for a quoted DOT string: DOT's escString, a backslash and a quote escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _backward_of(fn: Function | None) -> str | None:
    """The name of the op whose create_graph backward recorded `fn` ("sum of gradients" for the engine's sums of
    several contributions), or None for an op of the forward pass."""
    return getattr(fn, "backward_of", None)


def _key(t: Tensor) -> int:
    """Which drawn value `t` is. A create_graph backward reads the forward graph's tensors through stand-ins
    (`graph_alias`: a new Tensor with the same node, or for a leaf a weak link to the leaf), and each is drawn as
    the tensor it stands for: a non-leaf is known by its node (an op makes one tensor), a leaf by itself."""
    if t._ctx is not None:
        return id(t._ctx)
    return id(_unalias(t))


def _unalias(t: Tensor) -> Tensor:
    """The leaf a leaf's stand-in stands for (while that leaf is alive), else `t`. A backward of a backward makes
    stand-ins for stand-ins: the chain is followed to its end."""
    while t._ctx is None:
        ref = getattr(t, "_alias_of", None)
        leaf = ref() if ref is not None else None
        if leaf is None:
            break
        t = leaf
    return t


def _op_kind(fn: Function) -> str:
    kind = _OP_KIND.get(type(fn))
    if kind is None:
        name = type(fn).__name__.lower()
        kind = next((k for word, k in _KIND_BY_NAME if word in name), "custom")
    return kind


# ------------------------------------------------------------------------------------------------------- labels
# Labels are Graphviz HTML-like labels: a borderless table per value node. They are built from string templates,
# not helper calls per cell, because a 10,000-node graph makes 10,000 of them.


def _html(text: str) -> str:
    """`text` made safe inside a DOT HTML-like label: markup characters escaped, control characters blanked."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return text if text.isprintable() else "".join(" " if ord(c) < 32 or c == "\x7f" else c for c in text)


def _num(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, (float, complex)) else str(x)


def _nested(x: Any) -> str:
    return "[" + ", ".join(map(_nested, x)) + "]" if isinstance(x, list) else _num(x)


def _values(a: np.ndarray) -> tuple[str, ...]:
    """A small array's values, nested like the array (one cell); a large one's min, mean and max (three cells).

    Only digits, signs, dots, brackets, letters and spaces: nothing that needs escaping in a label.
    """
    if a.size <= _SMALL:
        return (_nested(a.tolist()),)
    if a.dtype.kind not in "fiub":
        return (f"{a.size} elements",)
    return _num(a.min().item()), _num(a.sum().item() / a.size), _num(a.max().item())


_DTYPE_NAMES: dict[np.dtype, str] = {}
_TABLE = '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
_SPAN = '<TR><TD COLSPAN="4">{}</TD></TR>'
_HEAD = f'<TD ALIGN="RIGHT"><FONT COLOR="{_MUTED}" POINT-SIZE="8">{{}}</FONT></TD>'
_SUMMARY_HEAD = "<TR><TD></TD>" + "".join(_HEAD.format(h) for h in ("min", "mean", "max")) + "</TR>"


def _data_row(head: str, cells: tuple[str, ...], color: str | None) -> str:
    font, end = (f'<FONT COLOR="{color}">', "</FONT>") if color else ("", "")
    if len(cells) == 3:
        tds = "".join(f'<TD ALIGN="RIGHT" CELLPADDING="2">{font}{c}{end}</TD>' for c in cells)
    else:
        tds = f'<TD COLSPAN="3">{font}{cells[0]}{end}</TD>'
    return f"<TR>{_HEAD.format(head)}{tds}</TR>"


def _value_label(t: Tensor, title: str | None, grad: Tensor | None, cut_op: Function | None, muted: bool) -> str:
    """Title, shape and dtype, then a `data` row and a `grad` row: the values, or min / mean / max columns."""
    data = _values(t.data)
    rows = _SPAN.format(f"<B>{_html(title)}</B>") if title else ""
    dtype = _DTYPE_NAMES.get(t.dtype) or _DTYPE_NAMES.setdefault(t.dtype, str(t.dtype))  # str(dtype) is slow
    rows += _SPAN.format(f'<FONT COLOR="{_MUTED}">{t.shape} {dtype}</FONT>')  # a tuple prints as (2, 3), (4,), ()
    if len(data) == 3:
        rows += _SUMMARY_HEAD
    rows += _data_row("data", data, _MUTED if muted else None)
    if grad is not None:
        rows += _data_row("grad", _values(grad.data), _GRAD_COLOR)
    if cut_op is not None:
        note = f"<I>⋯ made by {_html(type(cut_op).__name__)} (beyond max_depth)</I>"
        rows += _SPAN.format(f'<FONT COLOR="{_MUTED}" POINT-SIZE="8">{note}</FONT>')
    return f"{_TABLE}{rows}</TABLE>>"


# ------------------------------------------------------------------------------------------------------- graph


def _param_names(params: Params | None) -> dict[int, str]:
    """_key(tensor) -> name, from a module (`named_parameters()`) or a {name: tensor} mapping; first name wins.

    id() is used only to look tensors up while they are alive, never to name anything in the output.
    """
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        items: Iterable = params.named_parameters()
    elif isinstance(params, Mapping):
        items = params.items()
    else:
        raise TypeError(
            f"to_dot: params must be a module (with named_parameters()) or a {{name: tensor}} mapping, "
            f"got {type(params).__name__}"
        )
    names: dict[int, str] = {}
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"to_dot: params[{name!r}] is a {type(t).__name__}, not a Tensor")
        names.setdefault(_key(t), str(name))
    return names


def to_dot(
    tensor: Tensor,
    *,
    params: Params | None = None,
    names: Mapping[str, Tensor] | None = None,
    show_grad: bool = True,
    show_constants: bool = True,
    max_depth: int | None = None,
    hide_shape_ops: bool = False,
    group_by_module: bool = False,
    group_by_backward: bool = False,
    rankdir: str = "LR",
    legend: bool = False,
) -> str:
    """The graph of everything `tensor` depends on, as Graphviz DOT text (needs neither graphviz nor its binaries).

    Value nodes (boxes) show a title (the output, a parameter's or a named tensor's name), shape and dtype, the
    values (at most 6 elements) or min / mean / max, and the gradient when the tensor has one. Op nodes (ellipses)
    show the `Function`'s name, coloured by kind: elementwise, reduction (also pooling), matmul (also Linear and
    convolutions), shape, loss, custom (any other Function, e.g. your own); their tooltip is the first paragraph of
    the Function's docstring (the derivative, for the built-in ops). Colours tell the output (bold border),
    parameters (green: those in `params`, and any `nn.Parameter`), inputs that require grad (blue), intermediate
    values (white) and constants (dashed grey) apart. Ops recorded by a `create_graph=True` backward (the graph of
    a gradient, to be differentiated again) have a dashed blue border and say whose backward they come from ("backward
    of Mul"); the gradients they make are blue boxes, and the arrows into and out of them blue. The same graph gives
    byte-identical text every run: nodes are named by traversal order (breadth-first from `tensor`, inputs in
    argument order).

    Args:
        params: a module (anything with `named_parameters()`) or a {name: tensor} mapping; those tensors are drawn
            as parameters, with their names.
        names: {name: tensor} titles for any other tensors (not marked as parameters).
        show_grad: show `.grad` where a tensor has one.
        show_constants: draw inputs that do not require grad (scalar operands, data, targets); False leaves them out.
        max_depth: draw only ops at most this many ops away from `tensor`; values cut off there say which op made
            them. None draws everything.
        hide_shape_ops: collapse Reshape / Permute / Expand chains into their input: the edge is labelled with the
            collapsed ops.
        group_by_module: put each module's parameters, with the ops consuming them (directly or through shape ops)
            and their outputs, in a box named after the module (the parameter name up to its last dot).
        group_by_backward: put each backward formula a create_graph backward recorded (its ops, linked by the
            values they pass on or the gradient they share, with their outputs) in a box "backward of <op>".
            Takes precedence over group_by_module.
        rankdir: "LR" (left to right) or "TB" (top to bottom); also "RL", "BT".
        legend: add a key of the colours that appear in this drawing.

    After `backward()` without `retain_graph=True` the graph has been freed: only `tensor` and the op that made it
    (marked "freed by backward") are left to draw.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(tensor).__name__}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"to_dot: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if max_depth is not None and (not isinstance(max_depth, int) or max_depth < 0):
        raise ValueError(f"to_dot: max_depth must be a non-negative int or None, got {max_depth!r}")
    param_names = _param_names(params)
    titles = dict(param_names)
    for name, t in (names or {}).items():
        if not isinstance(t, Tensor):
            raise TypeError(f"to_dot: names[{name!r}] is a {type(t).__name__}, not a Tensor")
        titles.setdefault(_key(t), str(name))

    def source(t: Tensor) -> tuple[Tensor, list[str]]:
        """`t`, or with hide_shape_ops the tensor a chain of shape-only ops made it from, and those ops' names."""
        via: list[str] = []
        while (hide_shape_ops and isinstance(t._ctx, _SHAPE_ONLY) and t._ctx.parents is not None
               and _key(t) not in titles):
            via.append(type(t._ctx).__name__)
            t = t._ctx.parents[0]
        return _unalias(t), via[::-1]

    # --- one breadth-first traversal: values, ops, edges (named by the order they are reached)
    values: list[Tensor] = []
    depth: list[int] = []
    index: dict[int, int] = {}  # _key(tensor) -> position in `values`
    cut: dict[int, Function] = {}  # value position -> op not drawn (max_depth)
    op_nodes: list[tuple[Function, int]] = []  # (op, position of its output)
    edges: list[tuple[str, str, list[str]]] = []

    def reach(t: Tensor, d: int) -> int:
        key = _key(t)
        i = index.get(key)
        if i is None:
            i = index[key] = len(values)
            values.append(t)
            depth.append(d)
            queue.append(i)
        elif t.grad is not None and values[i].grad is None:  # a stand-in was reached first: draw the tensor itself
            values[i] = t
        return i

    queue: deque[int] = deque()
    reach(tensor, 0)
    while queue:
        i = queue.popleft()
        fn = values[i]._ctx
        if fn is None:
            continue
        if max_depth is not None and depth[i] >= max_depth:
            cut[i] = fn
            continue
        op = f"op{len(op_nodes)}"
        op_nodes.append((fn, i))
        edges.append((op, f"v{i}", []))
        for p in fn.parents or ():
            p, via = source(p)
            if p.requires_grad or show_constants:
                edges.append((f"v{reach(p, depth[i] + 1)}", op, via))

    # --- clusters: a parameter's module owns it, the ops consuming it (through shape ops) and their outputs
    cluster_of_value: dict[int, Hashable] = {}  # value position -> its box (a module's name, or a formula's first op)
    cluster_of_op: dict[int, Hashable] = {}
    if group_by_module:

        def module_of(t: Tensor) -> str | None:
            while _key(t) not in param_names and isinstance(t._ctx, _SHAPE_ONLY) and t._ctx.parents is not None:
                t = t._ctx.parents[0]
            name = param_names.get(_key(t))
            if name is None:
                return None
            return name.rpartition(".")[0] or None  # a top-level parameter belongs to no cluster

        for i, t in enumerate(values):
            if _key(t) in param_names and (m := module_of(t)) is not None:
                cluster_of_value[i] = m
        for k, (fn, out) in enumerate(op_nodes):
            mods = {module_of(p) for p in fn.parents or ()} - {None}
            if len(mods) == 1:
                cluster_of_op[k] = cluster_of_value[out] = mods.pop()
    cluster_labels: dict[Hashable, tuple[str, str]] = {m: (m, _MUTED) for m in cluster_of_op.values()}
    cluster_labels.update((m, (m, _MUTED)) for m in cluster_of_value.values())
    if group_by_backward:  # a box per backward formula, over any module box
        for k, first in _backward_clusters(op_nodes).items():
            of = _backward_of(op_nodes[first][0])
            cluster_labels[first] = (of if of == "sum of gradients" else f"backward of {of}", _BACKWARD)
            cluster_of_op[k] = cluster_of_value[op_nodes[k][1]] = first

    # --- emit
    roles_seen: list[str] = []
    kinds_seen: list[str] = []
    node_lines: dict[Hashable, list[str]] = {None: []}

    for i, t in enumerate(values):
        if i == 0:  # `tensor` (or a stand-in for it: the same node)
            role = "output"
        elif _key(t) in param_names or type(t).__name__ == "Parameter":  # nn.Parameter, without importing nn
            role = "parameter"
        elif not t.requires_grad:
            role = "constant"
        elif t._ctx is None:
            role = "input"
        elif _backward_of(t._ctx) is not None:
            role = "backward value"
        else:
            role = "intermediate"
        title = titles.get(_key(t), "output" if role == "output" else None)
        label = _value_label(t, title, t.grad if show_grad else None, cut.get(i), muted=role == "constant")
        node_lines.setdefault(cluster_of_value.get(i), []).append(f"\tv{i} [label={label} {_ROLE_ATTRS[role]}]\n")
        if role not in roles_seen:
            roles_seen.append(role)

    tooltips: dict[type, str] = {}
    backward_ops: set[str] = set()  # names of the op nodes a create_graph backward recorded
    for k, (fn, _) in enumerate(op_nodes):
        name = _html(type(fn).__name__)
        tip = tooltips.get(type(fn)) or tooltips.setdefault(type(fn), _tooltip(type(fn)))
        of = _backward_of(fn)
        if fn.parents is None:
            label = f'{_TABLE}<TR><TD><B>{name}</B></TD></TR><TR><TD><FONT POINT-SIZE="8"><I>freed by backward</I>' \
                    "</FONT></TD></TR></TABLE>>"
            attrs = f'{_FREED_ATTRS} tooltip="{tip}"'
        elif of is not None:
            kind = _op_kind(fn)
            what = of if of == "sum of gradients" else f"backward of {of}"
            label = f'{_TABLE}<TR><TD><B>{name}</B></TD></TR><TR><TD><FONT COLOR="{_BACKWARD}" POINT-SIZE="8">' \
                    f"<I>{_html(what)}</I></FONT></TD></TR></TABLE>>"
            why = "the sum of several gradient contributions" if of == "sum of gradients" else f"{of}'s backward"
            tip = _tooltip_text(f"Recorded by a backward with create_graph=True: {why}. ") + tip
            attrs = f'{_BACKWARD_ATTRS[kind]} tooltip="{tip}"'
            backward_ops.add(f"op{k}")
            if kind not in kinds_seen:
                kinds_seen.append(kind)
        else:
            kind = _op_kind(fn)
            label, attrs = f"<<B>{name}</B>>", f'{_KIND_ATTRS[kind]} tooltip="{tip}"'
            if kind not in kinds_seen:
                kinds_seen.append(kind)
        node_lines.setdefault(cluster_of_op.get(k), []).append(f"\top{k} [label={label} {attrs}]\n")

    lines = [
        f'\tgraph [rankdir={rankdir} fontname="{_FONT}" fontsize=10 nodesep=0.2 ranksep=0.3]\n',
        f'\tnode [fontname="{_FONT}" fontsize=10 margin="0.08,0.04" height=0.3 penwidth=1.2]\n',
        f'\tedge [fontname="{_FONT}" fontsize=8 color="#4b5563" arrowsize=0.6 fontcolor="{_MUTED}"]\n',
        *node_lines.pop(None),
    ]
    for n, (cluster, body) in enumerate(node_lines.items()):
        text, color = cluster_labels[cluster]
        label = f'<<FONT COLOR="{color}">{_html(text)}</FONT>>'
        lines.append(f'\tsubgraph cluster_{n} {{\n\t\tlabel={label} style="rounded,dashed" color="{color}"\n')
        lines.extend("\t" + line for line in body)
        lines.append("\t}\n")
    for a, b, via in edges:
        if via:  # the shape-only ops hide_shape_ops collapsed into this edge
            label = f'<TABLE BORDER="0" CELLPADDING="3"><TR><TD>{_html(" · ".join(via))}</TD></TR></TABLE>'
            color = f' color="{_BACKWARD}"' if a in backward_ops or b in backward_ops else ""
            lines.append(f'\t{a} -> {b} [label=<{label}> style="dashed"{color}]\n')
        else:
            lines.append(f"\t{a} -> {b}{_BACKWARD_EDGE if a in backward_ops or b in backward_ops else ''}\n")
    if legend:
        lines.append(_legend(roles_seen, kinds_seen, bool(backward_ops)))
    return "digraph autograd {\n" + "".join(lines) + "}\n"


def _legend(roles: list[str], kinds: list[str], backward: bool = False) -> str:
    """One table node with a swatch for each value role and op kind that appears in the drawing (and, if it has
    some, for the ops a create_graph backward recorded)."""
    cells = []
    for role in [r for r in _ROLE_STYLE if r in roles]:
        fill, border, _ = _ROLE_STYLE[role]
        cells.append(f'<TD BGCOLOR="{fill}" COLOR="{border}" BORDER="1" STYLE="rounded">{role}</TD>')
    for kind in [k for k in _OP_STYLE if k in kinds]:
        fill, border = _OP_STYLE[kind]
        cells.append(f'<TD BGCOLOR="{fill}" COLOR="{border}" BORDER="1" STYLE="rounded"><I>{kind} op</I></TD>')
    if backward:
        cells.append(f'<TD COLOR="{_BACKWARD}" BORDER="1" STYLE="dashed"><FONT COLOR="{_BACKWARD}"><I>op recorded '
                     "by backward (create_graph=True)</I></FONT></TD>")
    table = f'<<TABLE BORDER="0" CELLSPACING="3" CELLPADDING="3"><TR>{"".join(cells)}</TR></TABLE>>'
    return f'\tlegend [label={table} shape="plaintext" fontsize=9]\n'


def _backward_clusters(op_nodes: list[tuple[Function, int]]) -> dict[int, int]:
    """One group per backward formula among the ops a create_graph backward recorded: {op position: the position of
    the first op of its group}.

    The engine tags each op only with the name of the op whose backward made it, so a formula is found by linking
    ops with the same tag: one's output is the other's input (g·3·x² is Pow → Mul → Mul), or both read one incoming
    gradient g (g·y and g·x): a value the backward made, or a constant (the seed, or a gradient computed from it
    without a graph). Two formulas of ops with the same name that touch this way end up in one group; its label
    stays true ("backward of Mul"), only coarser.
    """
    tagged = {k: of for k, (fn, _) in enumerate(op_nodes)
              if fn.parents is not None and (of := _backward_of(fn)) is not None}
    op_of = {id(fn): k for k, (fn, _) in enumerate(op_nodes)}
    root = {k: k for k in tagged}

    def find(k: int) -> int:
        while root[k] != k:
            root[k] = k = root[root[k]]
        return k

    first_reader: dict[tuple[int, str], int] = {}  # (a gradient's _key, tag) -> the first op of that tag reading it
    for k, of in tagged.items():
        for p in op_nodes[k][0].parents:
            if p._ctx is None:
                if p.requires_grad:  # a leaf of the forward graph: read by any formula
                    continue
            else:
                j = op_of.get(id(p._ctx))
                if j not in tagged:  # a forward value, or cut off by max_depth
                    continue
                if tagged[j] == of:  # the input is the output of an op of the same formula
                    root[find(k)] = find(j)
            root[find(k)] = find(first_reader.setdefault((_key(p), of), k))
    first: dict[int, int] = {}  # group -> its first op (ops are in traversal order)
    return {k: first.setdefault(find(k), k) for k in tagged}


# ------------------------------------------------------------------------------------------------------- graphviz


def draw_graph(tensor: Tensor, filename: str | os.PathLike | None = None, **options: Any) -> graphviz.Digraph:
    """The graph of everything `tensor` depends on, as a `graphviz.Digraph` (shown inline in Jupyter).

    Takes `to_dot`'s options (`params=model`, `rankdir="TB"`, `max_depth=`, `hide_shape_ops=`, ...); its `.source`
    is exactly `to_dot(tensor, **options)`. With `filename` ending in .svg, .png or .pdf (or any format Graphviz
    knows) it is also rendered there with the Graphviz `dot` binary, atomically. Needs the graphviz package
    (`pip install -e ".[viz]"`) and, to render, the Graphviz binaries (`apt-get install graphviz`).
    """
    try:
        import graphviz
    except ImportError as e:
        raise ImportError(
            'draw_graph needs the graphviz Python package: pip install -e ".[viz]" (or pip install graphviz); '
            "to_dot() makes the DOT text without it"
        ) from e
    dot = to_dot(tensor, **options)
    body = [line + "\n" for line in dot.split("\n")[1:-2]]  # between "digraph autograd {" and "}"
    graph = graphviz.Digraph("autograd", body=body)
    if filename is not None:
        _render(graph, filename)
    return graph


def _render(graph: graphviz.Digraph, filename: str | os.PathLike) -> None:
    """Render `graph` with Graphviz's `dot` into `filename`, the format named by its suffix (.svg, .png, .pdf, ...)."""
    import graphviz

    path = Path(filename)
    fmt = path.suffix[1:].lower()
    if fmt not in graphviz.FORMATS:
        raise ValueError(f"draw_graph: cannot tell an output format from {str(path)!r}; use .svg, .png or .pdf")
    data = graph.pipe(format=fmt)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # beside the target, so os.replace is atomic
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
