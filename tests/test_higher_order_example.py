"""examples/higher_order.py: the figures it prints (derivatives of tanh against their closed forms, Newton against
gradient descent, a Hessian-vector product against finite differences, the second derivative behind the drawing),
the files it writes with and without matplotlib and Graphviz, and the one-line errors for a learner's mistakes."""
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

EXAMPLES = REPO / "examples"
sys.path.insert(0, str(EXAMPLES))  # import the example's pieces as a module

import higher_order  # noqa: E402


def figures(out: str) -> dict:
    """The numbers of the report, read back from the printed text."""
    number = r"([-+0-9.e]+)"
    found = {
        "tanh": re.search(rf"closed form\|: 1st {number}, 2nd {number}, 3rd {number}", out),
        "hessian": re.search(rf"written out, at the start: max difference {number}", out),
        "converge": re.search(r"to converge: Newton (\d+) steps, gradient descent (.*)", out),
        "hvp": re.search(rf"central differences of ∇L along v \(ε = 1e-05\): {number}", out),
        "second": re.search(rf"closed form: max difference {number}\)", out),
        "ops": re.search(r"(\d+) forward ops and (\d+) ops recorded by the backward", out),
    }
    missing = [name for name, m in found.items() if m is None]
    assert not missing, f"not in the report: {missing}\n{out}"
    return {name: m.groups() for name, m in found.items()}


def run(args, **kwargs):
    return subprocess.run([sys.executable, str(EXAMPLES / "higher_order.py"), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120, **kwargs)


def test_report_figures_without_plots(tmp_path, capsys):
    results = higher_order.main(["--out-dir", str(tmp_path), "--no-plot"])
    out = capsys.readouterr().out
    f = figures(out)
    assert all(float(e) < 1e-14 for e in f["tanh"])  # float64 to the last bits: the same formula, evaluated twice
    assert float(f["hessian"][0]) < 1e-9
    newton_steps, gd = f["converge"]
    gd_steps = int(re.fullmatch(r"(\d+) steps", gd).group(1))  # gradient descent converges too, with the defaults
    assert int(newton_steps) <= 30 and gd_steps > 100 * int(newton_steps)
    assert float(f["hvp"][0]) < 1e-7
    assert float(f["second"][0]) < 1e-12
    assert f["ops"] == ("2", "8")
    # the printed figures are the computed ones
    assert (results["newton_steps"], results["gd_steps"]) == (int(newton_steps), gd_steps)
    assert results["hvp"]["relative_error"] == pytest.approx(float(f["hvp"][0]), rel=0.06)
    assert results["newton_losses"][-1] < 1e-10 <= min(results["gd_losses"][:-1])
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == (["double_backward.svg"] if higher_order.can_render() else ["double_backward.dot"])
    assert "wrote" not in out.split("d. the graph")[0]  # no plots


def test_plots_and_a_gradient_descent_that_gives_up(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    results = higher_order.main(["--out-dir", str(tmp_path / "new" / "dir"), "--max-steps", "300", "--no-drawing"])
    out = capsys.readouterr().out
    assert results["gd_steps"] is None and len(results["gd_losses"]) == 301
    assert re.search(r"gradient descent not converged after 300 steps \(loss [0-9.e+-]+\)", out)
    written = sorted(p.name for p in (tmp_path / "new" / "dir").iterdir())
    assert written == ["newton_vs_gd.png", "tanh_derivatives.png"]
    for name in written:
        assert (tmp_path / "new" / "dir" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {tmp_path / 'new' / 'dir' / name}" in out


def test_without_matplotlib_or_graphviz(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(higher_order.training, "pyplot", lambda: None)
    monkeypatch.setattr(higher_order, "can_render", lambda: False)
    higher_order.main(["--out-dir", str(tmp_path), "--max-steps", "10"])
    out = capsys.readouterr().out
    assert out.startswith("matplotlib is not installed: no plots")
    assert "Graphviz not found" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["double_backward.dot"]
    dot = (tmp_path / "double_backward.dot").read_text()
    assert dot.startswith("digraph autograd {") and dot.count("<I>backward of Pow</I>") == 3
    assert dot.count('COLOR="#0369a1">backward of Pow</FONT>') == 1  # the box around them


def test_hvp_with_the_loss_written_out(monkeypatch):
    """The fallback for a fused cross-entropy that is first order only: the same loss, op by op."""
    fused = higher_order.mlp_hvp(seed=3)
    monkeypatch.setattr(higher_order, "fused_cross_entropy_is_twice_differentiable", lambda: False)
    written_out = higher_order.mlp_hvp(seed=3)
    assert written_out["fused"] is False and written_out["relative_error"] < 1e-7
    if fused["fused"]:
        assert written_out["vHv"] == pytest.approx(fused["vHv"], rel=1e-12)


def test_derivatives_and_hessian_pieces():
    x = np.linspace(-2, 2, 9)
    d = higher_order.tanh_derivatives(x, order=4)
    assert len(d) == 4 and all(a.shape == x.shape and a.dtype == np.float64 for a in d)
    h = 1e-4  # the 4th derivative against a central difference of the 3rd
    d3 = higher_order.tanh_closed_forms(np.array([x - h, x + h]))[2]
    np.testing.assert_allclose(d[3], (d3[1] - d3[0]) / (2 * h), atol=1e-6)
    for p in ([-1.2, 1.0], [0.3, -0.7], [1.0, 1.0]):
        _, _, hessian = higher_order.gradient_and_hessian(higher_order.rosenbrock, np.array(p))
        np.testing.assert_allclose(hessian, higher_order.rosenbrock_hessian(np.array(p)), rtol=1e-13, atol=1e-12)


def test_help():
    result = run(["--help"])
    assert result.returncode == 0 and result.stdout.startswith("usage: higher_order.py"), result.stderr
    for option in ("--out-dir", "--no-plot", "--no-drawing", "--gd-lr", "--max-steps", "--tol", "--seed"):
        assert option in result.stdout
    assert "(default: out/higher_order)" in " ".join(result.stdout.split())


@pytest.mark.parametrize("args, code, message", [
    (["--gd-lr", "-1"], 2, "higher_order.py: error: argument --gd-lr: expected a number > 0, got '-1'"),
    (["--max-steps", "many"], 2, "higher_order.py: error: argument --max-steps: expected a positive integer, got "
                                 "'many'"),
    (["--no-plots"], 2, "higher_order.py: error: unrecognized arguments: --no-plots"),
    (["--out-dir", "{file}/sub"], 1, "higher_order.py: --out-dir {file}/sub: cannot make the folder (Not a "
                                     "directory)"),
])
def test_mistakes_end_in_one_line(tmp_path, args, code, message):
    (tmp_path / "afile").write_text("not a folder")
    names = {"file": str(tmp_path / "afile")}
    result = run([a.format(**names) for a in args])
    assert result.returncode == code and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == message.format(**names)
    assert len(lines) == 1 or lines[0].startswith("usage:")  # argparse's errors come after its usage lines
    # nothing on stdout, apart from the notice that plots are off when matplotlib is missing
    assert [line for line in result.stdout.splitlines() if not line.startswith("matplotlib is not installed")] == []


def test_main_raises_for_a_bad_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        higher_order.main(["--tol", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("argument --tol: expected a number > 0, got '0'")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` binary not on PATH")
def test_drawing_is_an_svg_with_the_backward_ops(tmp_path, capsys):
    higher_order.main(["--out-dir", str(tmp_path), "--no-plot", "--max-steps", "10"])
    svg = (tmp_path / "double_backward.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and svg.count('class="cluster"') == 4
    assert svg.count('stroke-dasharray="5,2"') >= 8  # the 8 backward ops (and the four boxes, the constants)
