"""Higher-order derivatives with autograd.grad(create_graph=True): derivatives of derivatives, Hessians, Newton's
method, Hessian-vector products, and the graph a backward pass records.

    python examples/higher_order.py                  # the report, plots and the drawing in out/higher_order/
    python examples/higher_order.py --no-plot        # the report only (and the drawing, if Graphviz is installed)
    python examples/higher_order.py --gd-lr 2e-3     # a faster (and nearly unstable) gradient descent

Four parts, each checked against something computed another way:
  a. the first six derivatives of tanh, each the gradient of the one before, against their closed forms;
  b. Newton's method with exact Hessians (built row by row with autograd.grad) against gradient descent on the
     Rosenbrock function;
  c. a Hessian-vector product of a small MLP's loss against central finite differences of its gradient;
  d. the graph of dy/dx for y = x³·sin x: the forward ops and the ops its backward recorded (tinygrad_np.viz).

Everything runs in float64, in a few seconds. The plots need matplotlib and the drawing Graphviz (without them the
script says so and goes on); a mistake on the command line ends with a one-line error, not a traceback.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import training  # examples/training.py: also makes `nn` importable from a source checkout

import nn
from tinygrad_np import Tensor
from tinygrad_np.autograd import grad

Log = Callable[[str], None]

# ---------------------------------------------------------------------------------------------------------------
# a. derivatives of tanh


def tanh_derivatives(x: np.ndarray, order: int = 6) -> list[np.ndarray]:
    """tanh's 1st … `order`-th derivatives at the points `x`: each one the gradient of the one before.

    tanh acts elementwise, so the gradient of Σᵢ f(xᵢ) with respect to x is the vector of f'(xᵢ); create_graph=True
    records that gradient as a graph of its own, which the next call differentiates again.
    """
    xt = Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    f = xt.tanh()
    derivatives = []
    for _ in range(order):
        (f,) = grad(f.sum(), xt, create_graph=True)
        derivatives.append(f.data)
    return derivatives


def tanh_closed_forms(x: np.ndarray) -> list[np.ndarray]:
    """The first three derivatives of tanh written out, with t = tanh x: 1 − t², −2t(1 − t²), −2(1 − t²)(1 − 3t²)."""
    t = np.tanh(x)
    s = 1 - t * t
    return [s, -2 * t * s, -2 * s * (1 - 3 * t * t)]


# ---------------------------------------------------------------------------------------------------------------
# b. Newton's method and gradient descent


def rosenbrock(p: Tensor) -> Tensor:
    """Σᵢ 100·(pᵢ₊₁ − pᵢ²)² + (1 − pᵢ)²: a curved valley whose minimum 0 is at (1, …, 1); here in 2-D."""
    x, y = p[:-1], p[1:]
    return (100 * (y - x * x) ** 2 + (1 - x) ** 2).sum()


def rosenbrock_hessian(p: np.ndarray) -> np.ndarray:
    """The 2-D Rosenbrock function's Hessian written out, to check the one autograd builds."""
    x, y = p
    return np.array([[2 - 400 * (y - 3 * x * x), -400 * x], [-400 * x, 200.0]])


def gradient_and_hessian(f: Callable[[Tensor], Tensor], p: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """f(p), its gradient and its exact Hessian: the gradient recorded as a graph (create_graph=True), then one
    backward through that graph per Hessian row, ∂(∂f/∂pᵢ)/∂p. retain_graph=True keeps the gradient's graph for the
    next row (the last row may let it go)."""
    pt = Tensor(p.astype(np.float64), requires_grad=True)
    value = f(pt)
    (g,) = grad(value, pt, create_graph=True)
    n = p.size
    rows = [grad(g[i], pt, retain_graph=i < n - 1)[0].data for i in range(n)]
    return value.item(), g.data.copy(), np.stack(rows)


def loss_and_gradient(f: Callable[[Tensor], Tensor], p: np.ndarray) -> tuple[float, np.ndarray]:
    pt = Tensor(p.astype(np.float64), requires_grad=True)
    value = f(pt)
    (g,) = grad(value, pt)
    return value.item(), g.data


def newton(f: Callable[[Tensor], Tensor], start: np.ndarray, tol: float, max_steps: int
           ) -> tuple[list[float], list[np.ndarray], list[float]]:
    """Damped Newton: step along −H⁻¹∇f, halving the step until the loss goes down (the full step, when it does).

    Stops once f < tol. Returns the loss before each step and at the end, the points, and the step lengths taken.
    Where H is not positive definite, −H⁻¹∇f need not point downhill: then the step is along −∇f instead.
    """
    p = start.astype(np.float64)
    losses, points, lengths = [], [p], []
    for _ in range(max_steps + 1):
        loss, g, H = gradient_and_hessian(f, p)
        losses.append(loss)
        if loss < tol or len(lengths) == max_steps:
            break
        direction = np.linalg.solve(H, g)
        if g @ direction <= 0:  # not a descent direction (H indefinite here)
            direction = g
        t = 1.0
        while t > 1e-12 and f(Tensor(p - t * direction)).item() >= loss:
            t /= 2
        p = p - t * direction
        points.append(p)
        lengths.append(t)
    return losses, points, lengths


def gradient_descent(f: Callable[[Tensor], Tensor], start: np.ndarray, lr: float, tol: float, max_steps: int
                     ) -> tuple[list[float], list[np.ndarray]]:
    """Plain gradient descent p ← p − lr·∇f(p) until f < tol; returns the loss before each step and at the end,
    and the points."""
    p = start.astype(np.float64)
    losses, points = [], [p]
    for _ in range(max_steps + 1):
        loss, g = loss_and_gradient(f, p)
        losses.append(loss)
        if loss < tol or len(points) > max_steps or not np.isfinite(loss):
            break
        p = p - lr * g
        points.append(p)
    return losses, points


# ---------------------------------------------------------------------------------------------------------------
# c. a Hessian-vector product


def fused_cross_entropy_is_twice_differentiable() -> bool:
    """Whether nn.functional.cross_entropy's fused node can be differentiated twice in this version of the
    library (its backward may be written for first order only: then create_graph=True says so)."""
    logits = Tensor(np.zeros((1, 2)), requires_grad=True)
    try:
        grad(nn.functional.cross_entropy(logits, np.array([0])), logits, create_graph=True)
    except RuntimeError as e:
        if "first order only" not in str(e):
            raise
        return False
    return True


def mlp_hvp(seed: int = 0, batch: int = 32, eps: float = 1e-5) -> dict[str, Any]:
    """H·v for the loss of a Linear(4, 16) → tanh → Linear(16, 3) net with cross-entropy, by double backward,
    against central differences of the gradient along v: (∇L(θ + εv) − ∇L(θ − εv)) / 2ε."""
    rng = np.random.default_rng(seed)
    Tensor.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16, dtype=np.float64), nn.Tanh(), nn.Linear(16, 3, dtype=np.float64))
    x = Tensor(rng.standard_normal((batch, 4)))
    labels = rng.integers(0, 3, batch)
    fused = fused_cross_entropy_is_twice_differentiable()

    def loss_fn() -> Tensor:
        logits = model(x)
        if fused:
            return nn.functional.cross_entropy(logits, labels)
        return -logits.log_softmax(axis=1)[np.arange(batch), labels].mean()  # the same loss, op by op

    params = list(model.parameters())
    v = [rng.standard_normal(p.shape) for p in params]

    start = time.perf_counter()
    grads = grad(loss_fn(), params, create_graph=True)
    g_dot_v = sum((g * Tensor(vi)).sum() for g, vi in zip(grads, v))  # ∇L·v, a scalar with a graph
    hv = np.concatenate([h.data.ravel() for h in grad(g_dot_v, params)])  # ∇(∇L·v) = H·v
    seconds = time.perf_counter() - start

    def flat_gradient_at(shift: float) -> np.ndarray:
        base = [p.data for p in params]
        for p, b, vi in zip(params, base, v):
            p.data = b + shift * vi
        try:
            return np.concatenate([g.data.ravel() for g in grad(loss_fn(), params)])
        finally:
            for p, b in zip(params, base):
                p.data = b

    fd = (flat_gradient_at(eps) - flat_gradient_at(-eps)) / (2 * eps)
    flat_v = np.concatenate([vi.ravel() for vi in v])
    return {"n_params": flat_v.size, "relative_error": float(np.linalg.norm(hv - fd) / np.linalg.norm(fd)),
            "vHv": float(flat_v @ hv), "seconds": seconds, "fused": fused, "eps": eps}


# ---------------------------------------------------------------------------------------------------------------
# d. the drawing


def double_backward_graph() -> tuple[Tensor, dict[str, Any], np.ndarray, np.ndarray]:
    """dy/dx for y = x³·sin x, recorded with create_graph=True; the drawing options; d²y/dx² by a second backward
    and by its closed form, 6x·sin x + 6x²·cos x − x³·sin x."""
    xs = np.array([0.5, 2.0])
    x = Tensor(xs, requires_grad=True)
    cube, sine = x**3, x.sin()
    y = cube * sine
    (dy,) = grad(y.sum(), x, create_graph=True)
    options = {"names": {"x": x, "x³": cube, "sin x": sine, "dy/dx": dy}, "group_by_backward": True, "legend": True}
    (d2y,) = grad(dy.sum(), x, retain_graph=True)  # keep dy's graph: it is drawn next
    closed = 6 * xs * np.sin(xs) + 6 * xs**2 * np.cos(xs) - xs**3 * np.sin(xs)
    return dy, options, d2y.data, closed


def count_ops(t: Tensor) -> tuple[int, int]:
    """(forward ops, ops a create_graph backward recorded) in t's graph, each node once (the `backward_of` tag)."""
    seen, stack, counts = set(), [t], [0, 0]
    while stack:
        node = stack.pop()._ctx
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        counts[getattr(node, "backward_of", None) is not None] += 1
        stack.extend(node.parents or ())
    return counts[0], counts[1]


def can_render() -> bool:
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


# ---------------------------------------------------------------------------------------------------------------
# plots (matplotlib is optional)


def plot_tanh(x: np.ndarray, derivatives: list[np.ndarray], path: Path) -> bool:
    plt = training.pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(x, np.tanh(x), color="black", lw=2, label="tanh x")
    for k, d in enumerate(derivatives, 1):
        scale = np.abs(d).max()
        ax.plot(x, d / scale, label=f"tanh$^{{({k})}}$ ÷ {scale:.3g}")
    ax.set(xlabel="x", title="tanh and its first six derivatives (each scaled to a maximum of 1)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_newton_vs_gd(newton_losses: list[float], newton_points: list[np.ndarray], gd_losses: list[float],
                      gd_points: list[np.ndarray], lr: float, path: Path) -> bool:
    plt = training.pyplot()
    if plt is None:
        return False
    fig, (ax_loss, ax_path) = plt.subplots(1, 2, figsize=(12, 4.5))
    floor = 1e-30  # a loss of exactly 0 cannot be drawn on a log scale
    ax_loss.loglog(np.arange(1, len(gd_losses) + 1), np.maximum(gd_losses, floor), label=f"gradient descent, lr {lr:g}")
    ax_loss.loglog(np.arange(1, len(newton_losses) + 1), np.maximum(newton_losses, floor), "o-",
                   label="Newton (exact Hessian)")
    ax_loss.set(xlabel="iteration (1 = the start)", ylabel="Rosenbrock loss", title="loss per iteration")
    ax_loss.grid(alpha=0.3, which="both")
    ax_loss.legend()
    gx, gy = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
    levels = np.logspace(-1, 3.5, 15)
    ax_path.contour(gx, gy, 100 * (gy - gx**2) ** 2 + (1 - gx) ** 2, levels=levels, colors="#bbbbbb", linewidths=0.7)
    gd = np.array(gd_points)
    ax_path.plot(gd[:, 0], gd[:, 1], "-", lw=1.5, label=f"gradient descent ({len(gd) - 1} steps)")
    nt = np.array(newton_points)
    ax_path.plot(nt[:, 0], nt[:, 1], "o-", label=f"Newton ({len(nt) - 1} steps)")
    ax_path.plot([1], [1], "k*", ms=12, label="minimum (1, 1)")
    ax_path.set(xlabel="x", ylabel="y", title="paths on the Rosenbrock valley", xlim=(-2, 2), ylim=(-1, 3))
    ax_path.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------------------------------
# the report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=training.HelpFormatter)
    p.add_argument("--out-dir", metavar="DIR", default="out/higher_order", help="where the plots and the drawing go")
    p.add_argument("--no-plot", action="store_true", help="do not draw the PNG plots (matplotlib)")
    p.add_argument("--no-drawing", action="store_true", help="do not draw the graph (Graphviz)")
    p.add_argument("--gd-lr", metavar="LR", type=training.positive_float, default=1e-3,
                   help="gradient descent's step size on the Rosenbrock function (diverges above about 2e-3)")
    p.add_argument("--max-steps", metavar="N", type=training.positive_int, default=50_000,
                   help="gradient descent gives up after this many steps (Newton after 100)")
    p.add_argument("--tol", type=training.positive_float, default=1e-10,
                   help="both methods stop once the Rosenbrock loss is below this")
    p.add_argument("--seed", metavar="N", type=training.non_negative_int, default=0,
                   help="seeds the MLP, its data and v")
    return p


def _make_out_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"--out-dir {path}: cannot make the folder ({e.strerror or e})") from None


def main(argv: Optional[list[str]] = None, log: Log = print) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    out_dir = Path(args.out_dir)
    plot = not args.no_plot and training.have_matplotlib()
    if not args.no_plot and not plot:
        log("matplotlib is not installed: no plots (pip install matplotlib)")
    if plot or not args.no_drawing:
        _make_out_dir(out_dir)
    results: dict[str, Any] = {}

    # a.
    x = np.linspace(-3, 3, 601)
    derivatives = tanh_derivatives(x)
    errors = [float(np.abs(d - c).max()) for d, c in zip(derivatives, tanh_closed_forms(x))]
    results["tanh_errors"] = errors
    log("a. derivatives of tanh: six nested autograd.grad(create_graph=True) on 601 points in [-3, 3], float64")
    log("   max |autograd - closed form|: " + ", ".join(f"{name} {e:.1e}" for name, e in zip(("1st", "2nd", "3rd"),
                                                                                        errors)))
    log("   max |k-th derivative|: " + ", ".join(f"{np.abs(d).max():.4g}" for d in derivatives))
    if plot and plot_tanh(x, derivatives, out_dir / "tanh_derivatives.png"):
        log(f"   wrote {out_dir / 'tanh_derivatives.png'}")

    # b.
    begin = np.array([-1.2, 1.0])
    _, _, H = gradient_and_hessian(rosenbrock, begin)
    hessian_error = float(np.abs(H - rosenbrock_hessian(begin)).max())
    n_losses, n_points, n_lengths = newton(rosenbrock, begin, args.tol, 100)
    g_losses, g_points = gradient_descent(rosenbrock, begin, args.gd_lr, args.tol, args.max_steps)
    newton_steps = len(n_losses) - 1 if n_losses[-1] < args.tol else None
    gd_steps = len(g_losses) - 1 if g_losses[-1] < args.tol else None
    results.update(hessian_error=hessian_error, newton_steps=newton_steps, gd_steps=gd_steps,
                   newton_losses=n_losses, gd_losses=g_losses)
    log(f"\nb. Rosenbrock 100·(y - x²)² + (1 - x)² from (-1.2, 1) down to a loss below {args.tol:g}")
    log(f"   Hessian by autograd (one grad per row) vs written out, at the start: max difference {hessian_error:.1e}")
    log("   Newton (exact Hessian, step halved until the loss falls):")
    log("     step  loss        step length")
    for i, loss in enumerate(n_losses):
        length = f"{n_lengths[i]:g}" if i < len(n_lengths) else ""
        log(f"     {i:>4}  {loss:<10.3e}  {length}")
    log(f"   gradient descent (lr {args.gd_lr:g}):")
    log("     step  loss")
    shown = sorted({0, len(g_losses) - 1} | {10**k for k in range(7) if 10**k < len(g_losses)})
    for i in shown:
        log(f"     {i:>{len(str(args.max_steps))}}  {g_losses[i]:.3e}")

    def verdict(steps: Optional[int], losses: list[float]) -> str:
        return f"{steps} steps" if steps is not None else f"not converged after {len(losses) - 1} steps " \
                                                          f"(loss {losses[-1]:.3e})"

    log(f"   to converge: Newton {verdict(newton_steps, n_losses)}, gradient descent {verdict(gd_steps, g_losses)}")
    path = out_dir / "newton_vs_gd.png"
    if plot and plot_newton_vs_gd(n_losses, n_points, g_losses, g_points, args.gd_lr, path):
        log(f"   wrote {path}")

    # c.
    hvp = mlp_hvp(args.seed)
    results["hvp"] = hvp
    loss_name = "nn.functional.cross_entropy" if hvp["fused"] else \
        "cross-entropy as -mean(log_softmax[label]) (the fused nn.functional.cross_entropy is first order only)"
    log(f"\nc. Hessian-vector product of an MLP's loss: Linear(4, 16) -> tanh -> Linear(16, 3), {loss_name}")
    log(f"   H·v = ∇(∇L·v) by double backward over {hvp['n_params']} parameters ({1000 * hvp['seconds']:.1f} ms), "
        f"vᵀHv = {hvp['vHv']:.6g}")
    log(f"   relative error against central differences of ∇L along v (ε = {hvp['eps']:g}): "
        f"{hvp['relative_error']:.1e}")

    # d.
    dy, options, d2y, closed = double_backward_graph()
    n_forward, n_backward = count_ops(dy)
    results.update(second_derivative_error=float(np.abs(d2y - closed).max()), drawn_ops=(n_forward, n_backward))
    log("\nd. the graph of dy/dx for y = x³·sin x at x = [0.5, 2] (create_graph=True):")
    log(f"   {n_forward} forward ops and {n_backward} ops recorded by the backward")
    log(f"   d²y/dx² by a second backward: {np.array2string(d2y, precision=6)} (closed form: max difference "
        f"{results['second_derivative_error']:.1e})")
    if not args.no_drawing:
        from tinygrad_np.viz import draw_graph, to_dot

        if can_render():
            path = out_dir / "double_backward.svg"
            draw_graph(dy, path, **options)
            log(f"   wrote {path} (dashed blue: the ops the backward recorded, boxed by the op they differentiate)")
        else:
            path = out_dir / "double_backward.dot"
            path.write_text(to_dot(dy, **options))
            log(f'   Graphviz not found (apt-get install graphviz; pip install -e ".[viz]"): no drawing; wrote the '
                f"DOT text to {path}")
    log(f"\ntotal time {time.perf_counter() - start:.1f} s")
    return results


if __name__ == "__main__":
    sys.exit(training.run_cli("higher_order.py", main))  # an unusable --out-dir: one line, not a traceback
