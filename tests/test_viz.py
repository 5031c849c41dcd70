"""tinygrad_np.viz: the DOT text (never skipped), and rendering through the real Graphviz `dot` binary (skipped, with
the reason, where Graphviz is not installed)."""
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tinygrad_np import Function, Tensor, autograd
from tinygrad_np.viz import _BACKWARD, _OP_STYLE, _ROLE_STYLE, draw_graph, to_dot

REPO = Path(__file__).resolve().parents[1]

NODE = re.compile(r"^\t+(v\d+|op\d+|legend) \[(.*)\]$", re.M)
EDGE = re.compile(r"^\t(\w+) -> (\w+)(?: \[(.*)\])?$", re.M)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` binary not on PATH")


def parse(dot: str):
    """({node name: attribute text}, [(tail, head, attribute text)]) of a DOT text written by to_dot."""
    nodes = dict(NODE.findall(dot))
    assert len(nodes) == len(NODE.findall(dot)), "a node is defined twice"
    return nodes, EDGE.findall(dot)


def values_and_ops(nodes):
    return [n for n in nodes if n.startswith("v")], [n for n in nodes if n.startswith("op")]


def counted(root: Tensor, show_constants: bool = True):
    """(#values, #ops, #edges) of the graph behind `root`, counted here independently of viz: every tensor reached
    through `_ctx.parents` is a value node, every `_ctx` an op node, with one edge per input and one to its output."""
    seen, stack, n_ops, n_edges = {id(root)}, [root], 0, 0
    while stack:
        fn = stack.pop()._ctx
        if fn is None:
            continue
        n_ops, n_edges = n_ops + 1, n_edges + 1
        for p in fn.parents or ():
            if show_constants or p.requires_grad:
                n_edges += 1
                if id(p) not in seen:
                    seen.add(id(p))
                    stack.append(p)
    return len(seen), n_ops, n_edges


def label_of(nodes, name):
    return nodes[name].split(" shape=")[0]


def rows(attrs: str) -> list[str]:
    """The text of each row of a node's table label, cells joined by spaces, markup removed."""
    return [" ".join(re.sub(r"<[^>]*>", "", c) for c in re.findall(r"<TD[^>]*>(.*?)</TD>", tr)).strip()
            for tr in re.findall(r"<TR>(.*?)</TR>", attrs)]


def by_title(nodes) -> dict:
    """{title: rows} of the value nodes that have a title (bold first row)."""
    titled = [rows(a) for n, a in nodes.items() if n.startswith("v") and "<B>" in a]
    return {r[0]: r for r in titled}


def mlp_like(batch=4):
    """A two-layer net's loss, written out with named parameters: {name: tensor}, loss."""
    params = {
        "layers.0.weight": Tensor.randn(5, 3, requires_grad=True), "layers.0.bias": Tensor.zeros(5, requires_grad=True),
        "layers.1.weight": Tensor.randn(2, 5, requires_grad=True), "layers.1.bias": Tensor.zeros(2, requires_grad=True),
    }
    x = Tensor.randn(batch, 3)
    h = (x @ params["layers.0.weight"].T + params["layers.0.bias"]).relu()
    out = h @ params["layers.1.weight"].T + params["layers.1.bias"]
    return params, (out * out).mean()


# --------------------------------------------------------------------------------------------- counts and labels


def test_single_op_counts_and_order():
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    nodes, edges = parse(to_dot(a * b))
    assert values_and_ops(nodes) == (["v0", "v1", "v2"], ["op0"])  # output first, then inputs in argument order
    assert sorted(edges) == sorted([("op0", "v0", ""), ("v1", "op0", ""), ("v2", "op0", "")])
    assert "<B>output</B>" in label_of(nodes, "v0") and "Mul" in label_of(nodes, "op0")
    assert "[1, 2]" in label_of(nodes, "v1") and "[3, 4]" in label_of(nodes, "v2")


def test_diamond_counts():
    x = Tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = x.exp()
    out = y.sin() + y.cos()  # y feeds two ops: drawn once, with two out-edges
    nodes, edges = parse(to_dot(out))
    vals, fns = values_and_ops(nodes)
    assert (len(vals), len(fns), len(edges)) == (5, 4, 9) == counted(out)
    y_node = next(n for n in vals if "Exp" in nodes[[a for a, b, _ in edges if b == n][0]])
    assert sum(a == y_node for a, _, _ in edges) == 2


def test_tensor_used_twice_by_one_op_gets_two_edges():
    x = Tensor(3.0, requires_grad=True)
    nodes, edges = parse(to_dot(x * x))
    assert (len(nodes), len(edges)) == (3, 3)
    assert edges.count(("v1", "op0", "")) == 2  # both inputs of Mul are x: two arrows, as d(x·x)/dx = x + x


def test_constants_drawn_or_hidden():
    x = Tensor([1.0, 2.0], requires_grad=True)
    out = x * 2.0 + 1.0
    nodes, edges = parse(to_dot(out))
    assert (len(nodes), len(edges)) == (7, 6) == (sum(counted(out)[:2]), counted(out)[2])
    constants = [n for n in nodes if "dashed" in nodes[n]]
    assert len(constants) == 2 and any(">2<" in nodes[n] for n in constants)
    nodes, edges = parse(to_dot(out, show_constants=False))
    assert (len(nodes), len(edges)) == (5, 4) == (sum(counted(out, False)[:2]), counted(out, False)[2])


def test_counts_match_independent_walk_on_a_larger_graph():
    params, loss = mlp_like()
    nodes, edges = parse(to_dot(loss, params=params))
    vals, fns = values_and_ops(nodes)
    assert (len(vals), len(fns), len(edges)) == counted(loss)
    for name in params:
        assert sum(f"<B>{name}</B>" in v for v in nodes.values()) == 1


def test_labels_show_shape_dtype_values_and_summaries():
    small = Tensor(np.arange(6, dtype=np.float64).reshape(2, 3), requires_grad=True)
    big = Tensor(np.array([[-1.5, 0.0, 2.0, 4.0], [1.0, 1.0, 1.0, 0.5]], np.float32), requires_grad=True)
    v = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    out = (small.sum() + big.sum()) * v
    nodes, _ = parse(to_dot(out, params={"small": small, "big": big, "v": v}))
    title = by_title(nodes)
    assert title["small"] == ["small", "(2, 3) float64", "data [[0, 1, 2], [3, 4, 5]]"]
    assert title["big"] == ["big", "(2, 4) float32", "min mean max", "data -1.5 1 4"]
    # a 0-d float64 times a float32 tensor with dimensions is float32, as in PyTorch (torch.result_type)
    assert title["v"][1] == "(4,) float32" and title["output"][1] == "(4,) float32"
    assert "() float64" in to_dot(small.sum())


# --------------------------------------------------------------------------------------------- determinism

SCRIPT = """
import numpy as np
from tinygrad_np import Tensor
from tinygrad_np.viz import to_dot
w = {f"layer{i}.w": Tensor(np.linspace(-1, 1, 12).reshape(3, 4) * (i + 1), requires_grad=True) for i in range(3)}
x = Tensor(np.linspace(0, 1, 6).reshape(2, 3))
h = x
for i in range(3):
    h = (h @ w[f"layer{i}.w"]).tanh() if i == 0 else (h @ w[f"layer{i}.w"].T @ w[f"layer{i}.w"]).relu()
loss = (h * h).mean() + h.max()
loss.backward(retain_graph=True)
print(to_dot(loss, params=w, group_by_module=True, legend=True), end="")
"""


def test_same_graph_same_text_in_process_and_across_processes():
    params, loss = mlp_like()
    assert to_dot(loss, params=params) == to_dot(loss, params=params)
    _, loss2 = mlp_like()  # another graph with the same structure: only values may differ
    numbers = re.compile(r"-?\d[\d.e+-]*")
    assert numbers.sub("N", to_dot(loss)) == numbers.sub("N", to_dot(loss2))
    assert to_dot(loss) != to_dot(loss2)
    runs = [
        subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
        for seed in ("1", "2", "3")
    ]
    assert runs[0] and runs[0] == runs[1] == runs[2]
    assert "cluster_" in runs[0] and "layer2.w" in runs[0]


# --------------------------------------------------------------------------------------------- parameters, names


class TinyModule:
    """Anything with named_parameters() is accepted as params (as nn.Module is)."""

    def __init__(self):
        self.w = Tensor.randn(3, 2, requires_grad=True)

    def named_parameters(self):
        yield "encoder.w", self.w


def test_parameter_names_from_module_mapping_and_names():
    m = TinyModule()
    x = Tensor.randn(4, 3, requires_grad=True)
    h = x @ m.w
    out = h.sum()
    dot = to_dot(out, params=m, names={"x": x, "hidden": h})
    nodes, _ = parse(dot)
    w_node = next(n for n in nodes if "<B>encoder.w</B>" in nodes[n])
    assert "#16a34a" in nodes[w_node]  # parameter colour
    x_node = next(n for n in nodes if "<B>x</B>" in nodes[n])
    assert "#2563eb" in nodes[x_node]  # an input leaf, not a parameter
    assert "<B>hidden</B>" in dot and "(4, 2) float32" in dot
    assert to_dot(out, params={"encoder.w": m.w}) == to_dot(out, params=m)


def test_odd_names_are_escaped():
    w = Tensor([1.0, 2.0], requires_grad=True)
    name = 'w<1>&"q"\n\\{x|y}'
    dot = to_dot((w * w).sum(), params={name: w}, group_by_module=True)
    assert "&lt;1&gt;&amp;&quot;q&quot; \\{x|y}" in dot  # markup escaped, newline blanked
    assert name not in dot and dot.count("\n") == len(dot.splitlines())
    with pytest.raises(TypeError, match="params"):
        to_dot(w, params=[w])
    with pytest.raises(TypeError, match="not a Tensor"):
        to_dot(w, params={"w": w.data})


def test_bad_arguments():
    with pytest.raises(TypeError, match="to_dot: expected a Tensor"):
        to_dot(np.zeros(3))
    with pytest.raises(ValueError, match="rankdir"):
        to_dot(Tensor(1.0), rankdir="sideways")
    with pytest.raises(ValueError, match="max_depth"):
        to_dot(Tensor(1.0), max_depth=-1)
    assert "rankdir=TB" in to_dot(Tensor(1.0), rankdir="TB")


# --------------------------------------------------------------------------------------------- backward


def scalar_expression():
    a, b, c = Tensor(2.0, requires_grad=True), Tensor(-3.0, requires_grad=True), Tensor(10.0, requires_grad=True)
    e = a * b
    d = e + c
    return (a, b, c, e, d), d * Tensor(-2.0, requires_grad=True)


def test_before_and_after_backward_without_retain_graph():
    (a, *_), out = scalar_expression()
    before, _ = parse(to_dot(out))
    assert len(before) == 10 and not any(r.startswith("grad") for a in before.values() for r in rows(a))
    out.backward()
    nodes, edges = parse(to_dot(out))
    assert list(nodes) == ["v0", "op0"] and edges == [("op0", "v0", "")]
    assert "freed by backward" in nodes["op0"] and "Mul" in nodes["op0"]
    assert rows(nodes["v0"]) == ["output", "() float32", "data -8"]  # no .grad: not a leaf, not retained
    assert rows(parse(to_dot(a))[0]["v0"])[-1] == "grad 6"  # the leaves keep theirs


def test_after_backward_with_retain_graph_shows_gradients():
    (a, b, c, e, d), out = scalar_expression()
    for t in (e, d, out):
        t.retain_grad()
    out.backward(retain_graph=True)
    nodes, edges = parse(to_dot(out, names={"a": a, "b": b, "e": e}))
    assert (len(nodes), len(edges)) == (10, 9)
    title = by_title(nodes)
    assert title["a"] == ["a", "() float32", "data 2", "grad 6"]
    assert title["b"][-1] == "grad -4" and title["e"][-1] == "grad -2" and title["output"][-1] == "grad 1"
    assert "freed" not in "".join(nodes.values())
    hidden, _ = parse(to_dot(out, show_grad=False))
    assert not any(r.startswith("grad") for a in hidden.values() for r in rows(a))


def test_partly_freed_graph_draws_what_is_kept():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y.sum()
    w = y * 3.0
    z.backward()  # frees Sum and Exp; w's Mul still holds y, whose Exp node is freed
    nodes, edges = parse(to_dot(w.sum()))
    assert [lab.count("freed by backward") for n, lab in nodes.items() if n.startswith("op")] == [0, 0, 1]
    assert (len(nodes), len(edges)) == (7, 6) == (sum(counted(w.sum())[:2]), counted(w.sum())[2])


# --------------------------------------------------------------------------------------------- collapsing options


def test_max_depth_cuts_the_graph_and_says_where():
    x = Tensor([0.1, 0.2], requires_grad=True)
    y = x
    for _ in range(5):
        y = y.tanh()
    assert parse(to_dot(y))[0].keys() == {f"v{i}" for i in range(6)} | {f"op{i}" for i in range(5)}
    nodes, edges = parse(to_dot(y, max_depth=2))
    assert values_and_ops(nodes) == (["v0", "v1", "v2"], ["op0", "op1"]) and len(edges) == 4
    assert "made by Tanh (beyond max_depth)" in nodes["v2"]
    nodes, edges = parse(to_dot(y, max_depth=0))
    assert list(nodes) == ["v0"] and edges == [] and "made by Tanh" in nodes["v0"]
    assert to_dot(y, max_depth=5) == to_dot(y)


def test_max_depth_counts_the_shortest_path():
    x = Tensor([1.0], requires_grad=True)
    out = x.exp().exp().exp() + x  # x is 1 op away directly, 4 through the chain
    nodes, _ = parse(to_dot(out, max_depth=1))
    vals, fns = values_and_ops(nodes)
    assert len(fns) == 1 and len(vals) == 3  # out, the chain's last value (cut), x


def test_hide_shape_ops_collapses_reshape_permute_expand():
    w = Tensor.randn(4, 6, requires_grad=True)
    x = Tensor.randn(2, 3, 2, requires_grad=True)
    out = (x.reshape(2, 6) @ w.T).sum() + Tensor([1.0], requires_grad=True).expand(3).sum()
    full, full_edges = parse(to_dot(out))
    shown, edges = parse(to_dot(out, hide_shape_ops=True))
    hidden_ops = [lab for lab in full.values() if any(f"<B>{o}</B>" in lab for o in ("Reshape", "Permute", "Expand"))]
    assert len(hidden_ops) == 3
    assert len(shown) == len(full) - 6 and len(edges) == len(full_edges) - 6  # 3 ops and their 3 outputs
    assert not any(o in "".join(shown.values()) for o in ("Reshape", "Permute", "Expand"))
    labels = sorted(attrs for _, _, attrs in edges if attrs)
    assert len(labels) == 3 and [o in "".join(labels) for o in ("Reshape", "Permute", "Expand")] == [True] * 3
    # a chain of shape ops is one edge, its ops in the order applied
    chain = parse(to_dot(x.reshape(6, 2).permute(1, 0).sum(), hide_shape_ops=True))
    assert len(chain[0]) == 3 and "Reshape · Permute" in "".join(a for *_, a in chain[1])


def test_group_by_module_clusters():
    params, loss = mlp_like()
    dot = to_dot(loss, params=params, group_by_module=True)
    clusters = re.findall(r"subgraph (cluster_\d+) \{\n\t\t(.*)\n((?:\t\t.*\n)*)\t\}", dot)
    assert [re.search(r">(layers\.\d)<", head).group(1) for _, head, _ in clusters] == ["layers.1", "layers.0"]
    for name, _, body in clusters:
        members = body.count("\n")
        # weight, bias, Permute (W.T) and its output, Matmul and its output, Add and its output
        assert members == 8, name
    assert "<B>Relu</B>" not in "".join(body for *_, body in clusters)
    assert parse(dot)[0].keys() == parse(to_dot(loss, params=params))[0].keys()


def test_every_core_op_has_a_kind():
    import inspect

    from tinygrad_np import Function, ops
    from tinygrad_np.viz import _OP_KIND

    bases = (Function, ops.Primitive, ops._SavesInputs, ops._SavesOutput, ops._Bilinear)
    core = [c for _, c in inspect.getmembers(ops, inspect.isclass) if issubclass(c, Function) and c not in bases]
    assert len(core) > 30 and [c.__name__ for c in core if c not in _OP_KIND] == []


def test_op_kinds_colour_the_ops():
    w, b = Tensor.randn(2, 3, requires_grad=True), Tensor.zeros(2, requires_grad=True)
    x = Tensor.randn(4, 3)
    out = (x.linear(w, b).relu() @ Tensor.randn(2, 2, requires_grad=True)).log_softmax().reshape(8).sum()
    nodes, _ = parse(to_dot(out))
    colour = {re.search(r"<B>(\w+)</B>", a).group(1): re.search(r'fillcolor="(#\w+)"', a).group(1)
              for n, a in nodes.items() if n.startswith("op")}
    assert colour["Linear"] == colour["Matmul"] != colour["Relu"]
    assert colour["LogSoftmax"] == colour["Sum"] not in (colour["Relu"], colour["Matmul"], colour["Reshape"])
    assert len(set(colour.values())) == 4  # matmul, elementwise, reduction, shape


def test_legend_lists_what_is_drawn():
    x = Tensor([1.0, 2.0], requires_grad=True)
    nodes, _ = parse(to_dot((x * 2.0).sum(), legend=True))
    legend = nodes["legend"]
    assert all(w in legend for w in ("output", "input", "constant", "elementwise op", "reduction op"))
    assert "parameter" not in legend and "matmul" not in legend


def test_deep_graph_is_walked_without_recursion():
    x = Tensor(0.5, requires_grad=True)
    y = x
    for _ in range(6000):
        y = y.sin()
    nodes, edges = parse(to_dot(y))
    assert (len(nodes), len(edges)) == (12001, 12000)


# --------------------------------------------------------------------------------------------- with nn


def test_nn_mlp_training_step():
    import nn

    model = nn.MLP([3, 5, 2])
    loss = nn.functional.cross_entropy(model(Tensor.randn(4, 3)), Tensor(np.array([0, 1, 1, 0])))
    loss.backward(retain_graph=True)
    dot = to_dot(loss, params=model, group_by_module=True)
    nodes, edges = parse(dot)
    vals, fns = values_and_ops(nodes)
    assert (len(vals), len(fns), len(edges)) == counted(loss)
    title = by_title(nodes)
    assert sorted(title) == ["layers.0.bias", "layers.0.weight", "layers.1.bias", "layers.1.weight", "output"]
    assert [n for n in title if title[n][-1].startswith("grad")] == [n for n in title if n.startswith("layers")]
    loss_op = next(a for a in nodes.values() if "<B>SoftmaxCrossEntropy</B>" in a)
    assert _OP_STYLE["loss"][0] in loss_op
    assert re.findall(r'subgraph cluster_\d+ \{\n\t\tlabel=<<FONT COLOR="#\w+">(.*?)</FONT>>', dot) == ["layers.1",
                                                                                             "layers.0"]
    # nn.Parameter is drawn as a parameter without params= too (only the names need the module)
    plain, _ = parse(to_dot(loss))
    assert sum(_ROLE_STYLE["parameter"][0] in a for a in plain.values()) == 4 and "layers.0" not in to_dot(loss)


def test_example_script_falls_back_to_dot_text_without_graphviz(tmp_path):
    env = {"PATH": str(tmp_path)}  # no `dot` on this PATH
    out = subprocess.run([sys.executable, str(REPO / "examples" / "visualize_graph.py"), "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, check=True, env=env).stdout
    assert "Graphviz not found" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["expression.dot", "mlp_step.dot"]
    nodes, edges = parse((tmp_path / "expression.dot").read_text())
    assert (len(nodes), len(edges)) == (10, 9) and "<B>L = d·f</B>" in "".join(nodes.values())
    assert "SoftmaxCrossEntropy" in (tmp_path / "mlp_step.dot").read_text()


@needs_dot
def test_example_script_writes_svgs(tmp_path):
    subprocess.run([sys.executable, str(REPO / "examples" / "visualize_graph.py"), "--out-dir", str(tmp_path)],
                   capture_output=True, text=True, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["expression.svg", "mlp_step.svg"]
    assert svg_groups(tmp_path / "expression.svg") == (10, 9, 0)
    # 9 values (x, W1, b1, z1, a1, W2, b2, logits, loss) + 4 ops (Linear, Relu, Linear, SoftmaxCrossEntropy)
    # + the legend; 12 edges (three into each Linear, one out of each op, one into Relu and the loss node)
    assert svg_groups(tmp_path / "mlp_step.svg") == (14, 12, 2)


# --------------------------------------------------------------------------------------------- create_graph


def derivative_graph():
    """dy/dx for y = x³·sin x (x of shape (2,)), recorded with create_graph=True, and the tensors to name."""
    x = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    cube, sine = x**3, x.sin()
    (dy,) = autograd.grad((cube * sine).sum(), x, create_graph=True)
    return x, cube, sine, dy


def walk_merged(root: Tensor):
    """{id(node): (op name, backward_of)}, the number of values and of edges of the graph behind `root`, counted here
    independently of viz, with a create_graph backward's stand-ins taken as the tensors they stand for: a non-leaf
    is its node, a leaf's stand-in (`_alias_of`) its leaf."""
    def key(t):
        if t._ctx is not None:
            return id(t._ctx)
        while getattr(t, "_alias_of", None) is not None and t._alias_of() is not None:  # stand-ins for stand-ins
            t = t._alias_of()
        return id(t)

    ops, n_edges, values, stack = {}, 0, {key(root)}, [root]
    while stack:
        fn = stack.pop()._ctx
        if fn is None or id(fn) in ops:
            continue
        ops[id(fn)] = (type(fn).__name__, getattr(fn, "backward_of", None))
        n_edges += 1 + len(fn.parents or ())
        for p in fn.parents or ():
            values.add(key(p))
            stack.append(p)
    return ops, len(values), n_edges


def op_names(nodes, backward: bool):
    """Sorted names of the op nodes drawn as recorded by a backward (or not)."""
    return sorted(re.search(r"<B>(\w+)</B>", a).group(1) for n, a in nodes.items()
                  if n.startswith("op") and (_BACKWARD in a) == backward)


def test_double_backward_graph_shows_forward_and_backward_ops():
    x, cube, sine, dy = derivative_graph()
    np.testing.assert_allclose(dy.data, 3 * x.data**2 * np.sin(x.data) + x.data**3 * np.cos(x.data), rtol=1e-14)
    dot = to_dot(dy, names={"x": x, "x³": cube, "sin x": sine}, legend=True)
    nodes, edges = parse(dot)
    vals, fns = values_and_ops(nodes)
    ops, n_values, n_edges = walk_merged(dy)
    assert (len(vals), len(fns), len(edges)) == (n_values, len(ops), n_edges) == (14, 10, 28)
    # the forward ops the backward formulas read (y's own Mul is not among them: Mul's backward reads its inputs)
    assert op_names(nodes, backward=False) == sorted(n for n, of in ops.values() if of is None) == ["Pow", "Sin"]
    assert op_names(nodes, backward=True) == sorted(n for n, of in ops.values() if of is not None) == \
        ["Add", "Cos", "Mul", "Mul", "Mul", "Mul", "Mul", "Pow"]
    tags = sorted(re.search(r"<I>(.*?)</I>", a).group(1) for n, a in nodes.items() if n.startswith("op") and
                  _BACKWARD in a)
    assert tags == sorted(of if of == "sum of gradients" else f"backward of {of}" for _, of in ops.values() if of)
    assert tags.count("backward of Pow") == 3 and tags.count("sum of gradients") == 1
    # the stand-ins the backward formulas read are drawn as the tensors they stand for: each name once
    title = by_title(nodes)
    assert sorted(title) == ["output", "sin x", "x", "x³"] and title["x"][-1] == "data [0.5, 2]"
    assert sum("data [0.5, 2]" in rows(a) for a in nodes.values()) == 1
    assert _ROLE_STYLE["input"][0] in nodes[next(n for n in vals if "<B>x</B>" in nodes[n])]
    # backward values, arrows into and out of backward ops, and the legend entries
    backward_values = [n for n in vals if f'fillcolor="{_ROLE_STYLE["backward value"][0]}"' in nodes[n]]
    assert len(backward_values) == 7  # what the 8 backward ops make, less the output (drawn as the output)
    blue = [(a, b) for a, b, attrs in edges if _BACKWARD in attrs]
    backward_ops = {n for n in fns if _BACKWARD in nodes[n]}
    assert sorted(blue) == sorted((a, b) for a, b, _ in edges if a in backward_ops or b in backward_ops)
    assert len(blue) == 8 + 7 * 2 + 1  # each backward op's output, and its inputs: two each, one for Cos
    assert "backward value" in nodes["legend"] and "recorded by backward (create_graph=True)" in nodes["legend"]


def test_second_derivative_graph_and_values():
    x, cube, sine, dy = derivative_graph()
    (d2y,) = autograd.grad(dy.sum(), x, create_graph=True)  # recorded again: a backward of a backward
    xs = x.data
    np.testing.assert_allclose(d2y.data, 6 * xs * np.sin(xs) + 6 * xs**2 * np.cos(xs) - xs**3 * np.sin(xs),
                               rtol=1e-13)
    nodes, edges = parse(to_dot(d2y))
    ops, n_values, n_edges = walk_merged(d2y)
    vals, fns = values_and_ops(nodes)
    assert (len(vals), len(fns), len(edges)) == (n_values, len(ops), n_edges)
    assert op_names(nodes, backward=False) == ["Pow", "Sin"]  # still the same two forward ops, each drawn once
    assert len(op_names(nodes, backward=True)) == len(ops) - 2 > 8


def test_drawing_a_function_of_a_gradient():
    """g² on top of g's recorded graph: the Mul and Sum made afterwards are forward ops, drawn as such."""
    x, _, _, dy = derivative_graph()
    out = (dy * dy).sum()
    nodes, edges = parse(to_dot(out))
    ops, n_values, n_edges = walk_merged(out)
    assert (len(nodes), len(edges)) == (n_values + len(ops), n_edges)
    assert op_names(nodes, backward=False) == ["Mul", "Pow", "Sin", "Sum"]
    assert len(op_names(nodes, backward=True)) == 8
    assert parse(to_dot(out, max_depth=2))[0].keys() == {"v0", "v1", "v2", "op0", "op1"}  # Sum, Mul, then dy (cut)


def test_leaf_stand_ins_are_drawn_as_the_leaf_after_backward_create_graph():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w**3).sum().backward(create_graph=True)  # w.grad = 3w², whose graph holds a stand-in for w, not w itself
    np.testing.assert_allclose(w.grad.data, [3.0, 12.0])
    nodes, _ = parse(to_dot(w.grad, params={"w": w}, group_by_module=True))
    title = by_title(nodes)
    assert sorted(title) == ["output", "w"] and title["w"][-1] == "grad [3, 12]"  # the leaf itself, with its .grad
    assert _ROLE_STYLE["parameter"][0] in next(a for a in nodes.values() if "<B>w</B>" in a)


def test_forward_graphs_have_no_backward_marks():
    params, loss = mlp_like()
    loss.backward(retain_graph=True)
    for options in ({}, {"legend": True, "group_by_module": True}, {"hide_shape_ops": True}):
        dot = to_dot(loss, params=params, **options)
        assert _BACKWARD not in dot and "backward of" not in dot and "backward value" not in dot
        assert to_dot(loss, params=params, group_by_backward=True, **options) == dot


def test_group_by_backward_boxes_each_formula():
    x, cube, sine, dy = derivative_graph()
    dot = to_dot(dy, names={"x": x}, group_by_backward=True)
    cluster = r'subgraph cluster_\d+ \{\n\t\tlabel=<<FONT COLOR="(#\w+)">(.*?)</FONT>> .*\n((?:\t\t.*\n)*)\t\}'
    clusters = re.findall(cluster, dot)
    members = {label: (color, re.findall(r"^\t\t(v\d+|op\d+) ", body, re.M)) for color, label, body in clusters}
    assert sorted(members) == ["backward of Mul", "backward of Pow", "backward of Sin", "sum of gradients"]
    assert all(color == _BACKWARD for color, _ in members.values())
    # each formula's ops with their outputs: g·sin x and g·x³ (they share the incoming gradient g); 3·(g·sin x)·x²;
    # g·x³·cos x; and the sum of the two contributions to dx, whose output is dy/dx itself
    sizes = {label: (sum(m.startswith("op") for m in ms), sum(m.startswith("v") for m in ms))
             for label, (_, ms) in members.items()}
    assert sizes == {"backward of Mul": (2, 2), "backward of Pow": (3, 3), "backward of Sin": (2, 2),
                     "sum of gradients": (1, 1)}
    assert "v0" in members["sum of gradients"][1]
    assert parse(dot)[0].keys() == parse(to_dot(dy, names={"x": x}))[0].keys()  # the same nodes, only boxed


@needs_dot
def test_rendered_double_backward_graph(tmp_path):
    x, cube, sine, dy = derivative_graph()
    options = {"names": {"x": x, "x³": cube, "sin x": sine, "dy/dx": dy}, "group_by_backward": True, "legend": True}
    nodes, edges = parse(to_dot(dy, **options))
    draw_graph(dy, tmp_path / "g.svg", **options)
    assert svg_groups(tmp_path / "g.svg") == (len(nodes), len(edges), 4) == (25, 28, 4)  # 14 values, 10 ops, legend
    svg = (tmp_path / "g.svg").read_text()
    dashed = re.findall(r'<ellipse fill="#\w+" stroke="([^"]+)" stroke-width="[\d.]+" stroke-dasharray', svg)
    assert dashed == [_BACKWARD] * 8  # the backward ops: dashed blue borders; the forward ops are solid
    assert len(re.findall(r"<ellipse ", svg)) == 10
    assert svg.count(">backward of Pow</text>") == 4  # three ops and their box
    assert 'xlink:title="Recorded by a backward with create_graph=True: Sin&#39;s backward. z = cos x; dz/dx = −sin ' \
           'x."' in svg


# --------------------------------------------------------------------------------------------- graphviz


def test_draw_graph_is_the_same_text_as_to_dot():
    params, loss = mlp_like()
    g = draw_graph(loss, params=params, rankdir="TB", hide_shape_ops=True)
    assert type(g).__name__ == "Digraph" and g.source == to_dot(loss, params=params, rankdir="TB", hide_shape_ops=True)


def test_draw_graph_without_graphviz_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` raise ImportError
    with pytest.raises(ImportError, match=r'pip install -e "\.\[viz\]"'):
        draw_graph(Tensor(1.0))
    assert to_dot(Tensor(1.0)).startswith("digraph autograd {")


def svg_groups(path):
    root = ET.parse(path).getroot()
    classes = [g.get("class") for g in root.iter("{http://www.w3.org/2000/svg}g")]
    return classes.count("node"), classes.count("edge"), classes.count("cluster")


@needs_dot
@pytest.mark.parametrize("options", [{}, {"group_by_module": True, "legend": True}, {"hide_shape_ops": True}])
def test_rendered_svg_has_one_group_per_node_and_edge(tmp_path, options):
    params, loss = mlp_like()
    loss.backward(retain_graph=True)
    nodes, edges = parse(to_dot(loss, params=params, **options))
    draw_graph(loss, tmp_path / "g.svg", params=params, **options)
    n_clusters = 2 if options.get("group_by_module") else 0
    assert svg_groups(tmp_path / "g.svg") == (len(nodes), len(edges), n_clusters)
    n_transposes = 2  # W.T of each layer: a Permute node and its output, gone with hide_shape_ops
    assert len(nodes) == sum(counted(loss)[:2]) + ("legend" in nodes) - 2 * n_transposes * bool(
        options.get("hide_shape_ops"))


class Quoted(Function):
    """y = "x" \\ 2 {n} ⋯

    A user-defined op whose docstring (the tooltip) needs escaping."""

    def forward(self, x):
        return x

    def backward(self, g):
        return g


def test_op_tooltips_are_the_docstrings_first_paragraph():
    x = Tensor([1.0], requires_grad=True)
    nodes, _ = parse(to_dot(Quoted.apply(x.exp())))
    assert 'tooltip="y = \\"x\\" \\\\ 2 {n} ⋯"' in nodes["op0"]
    assert 'tooltip="z = eˣ; dz/dx = eˣ = z."' in nodes["op1"]
    assert _OP_STYLE["custom"][0] in nodes["op0"]


@pytest.mark.parametrize("name, kind", [("SoftmaxCrossEntropy", "loss"), ("MyMSELoss", "loss"), ("Conv2d", "matmul"),
                                        ("MaxPool2d", "reduction"), ("Swish", "custom")])
def test_ops_from_elsewhere_are_classed_by_name(name, kind):
    op = type(name, (Quoted,), {"__doc__": name})
    nodes, _ = parse(to_dot(op.apply(Tensor([1.0], requires_grad=True)), legend=True))
    assert _OP_STYLE[kind][0] in nodes["op0"] and f"{kind} op" in nodes["legend"]


@needs_dot
def test_rendered_odd_names_and_freed_graph(tmp_path):
    w = Tensor([1.0, 2.0], requires_grad=True)
    out = (w * w).sum()
    draw_graph(out, tmp_path / "odd.svg", params={'w<1>&"q"\n\\{x|y}': w}, group_by_module=True)
    assert svg_groups(tmp_path / "odd.svg") == (5, 5, 0)
    assert ">w&lt;1&gt;&amp;&quot;q&quot; \\{x|y}</text>" in (tmp_path / "odd.svg").read_text()
    assert "<title>autograd</title>" in (tmp_path / "odd.svg").read_text()
    assert 'xlink:title="z = x · y; dz/dx = y, dz/dy = x."' in (tmp_path / "odd.svg").read_text()  # op tooltip
    draw_graph(Quoted.apply(w), tmp_path / "quoted.svg")
    assert 'xlink:title="y = &quot;x&quot; \\ 2 {n} ⋯"' in (tmp_path / "quoted.svg").read_text()
    out.backward()
    draw_graph(out, tmp_path / "freed.svg")
    assert svg_groups(tmp_path / "freed.svg") == (2, 1, 0)


@needs_dot
def test_save_formats(tmp_path):
    x = Tensor([1.0, 2.0], requires_grad=True)
    out = (x * x).sum()
    draw_graph(out, tmp_path / "g.png")
    draw_graph(out, tmp_path / "g.pdf")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="output format"):
        draw_graph(out, tmp_path / "g.unknown")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pdf", "g.png"]  # no temporary or .gv files left
