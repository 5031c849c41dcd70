"""The pieces every classification example shares: command-line helpers, progress bars, the training loop,
evaluation, the end-of-run report (confusion matrix, per-class accuracy) and the plots.

Nothing here knows about MNIST or about a particular model: `examples/mnist.py` puts them together, and another
example (say, a CNN on MNIST) can reuse them, or reuse `mnist.py` itself with a different model builder.
tqdm and matplotlib are optional: without them the progress is plain text and the plots are skipped (saying so).

This is a library module for the examples: running it directly only says so (run examples/mnist.py instead).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

try:
    import nn
except ImportError:  # run from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import nn
from nn.data import DataLoader
from tinygrad_np import Tensor, jit, no_grad

# ---------------------------------------------------------------------------------------------------------------
# the command line


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` with each option's default, shown once: not when the help text already speaks of the default, nor
    for options whose default is "not given" (None) or off (False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False \
                or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def _number(kind: type, text: str, ok: Callable[[Any], bool], wanted: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _number(int, text, lambda v: v >= 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    return _number(int, text, lambda v: v >= 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    return _number(float, text, lambda v: 0 < v < float("inf"), "a number > 0")


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    return _number(float, text, lambda v: 0 <= v < float("inf"), "a number >= 0")


def probability(text: str) -> float:
    """An argparse type: a number in [0, 1) (a dropout probability, a momentum)."""
    return _number(float, text, lambda v: 0 <= v < 1, "a number in [0, 1)")


class UsageError(ValueError):
    """A setting that argparse's per-option checks cannot catch (options that do not fit together, a model too
    large); a script reports it as an argparse error (exit code 2)."""


def run_cli(name: str, main: Callable[[], Any], errors: tuple[type[BaseException], ...] = (OSError,)) -> int:
    """Run an example's `main()` and turn the errors a user can cause (`errors`: missing or unreadable files and
    the like) into one line on stderr, exit code 1, instead of a traceback; Ctrl-C ends with exit code 130."""
    try:
        main()
    except errors as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    return 0


# ---------------------------------------------------------------------------------------------------------------
# progress


def have_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


class _TextProgress:
    """A plain-text stand-in for tqdm: redraws one line (at most twice a second) on a terminal, else prints one
    summary line when the epoch ends, so a log file gets no clutter."""

    def __init__(self, iterable: Iterable, total: int, desc: str) -> None:
        self.iterable, self.total, self.desc = iterable, total, desc
        self.done, self.postfix, self.last_draw = 0, "", 0.0
        self.start = time.perf_counter()
        self.live = sys.stderr.isatty()

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            self.done += 1
            if self.live and time.perf_counter() - self.last_draw > 0.5:
                self._draw("\r")
        self._draw("\r" if self.live else "")
        sys.stderr.write("\n")

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def _draw(self, prefix: str) -> None:
        self.last_draw = time.perf_counter()
        filled = 30 * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (30 - filled)
        elapsed = self.last_draw - self.start
        sys.stderr.write(f"{prefix}{self.desc} [{bar}] {self.done}/{self.total} {elapsed:.1f}s {self.postfix}")
        sys.stderr.flush()


def progress(iterable: Iterable, total: int, desc: str, enabled: bool = True) -> Any:
    """`iterable` wrapped in a progress bar (tqdm if installed, else plain text), or as it is if not `enabled`.
    The bar is drawn only when stderr is a terminal: redirected to a file, tqdm draws nothing (its `disable=None`)
    and the plain-text stand-in writes one summary line per epoch, so a log gets no redrawn frames. The result has
    `set_postfix_str(text)` for the running figures."""
    if not enabled:
        return _Silent(iterable)
    if have_tqdm():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr, disable=None)
    return _TextProgress(iterable, total, desc)


class _Silent:
    def __init__(self, iterable: Iterable) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator:
        return iter(self.iterable)

    def set_postfix_str(self, text: str) -> None:
        pass


# ---------------------------------------------------------------------------------------------------------------
# training and evaluation


def make_train_step(model: nn.Module, optimizer: nn.optim.Optimizer, capture: bool = False
                    ) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """One gradient step on a batch `(x, y)`; returns the loss and the logits, as Tensors. With `capture` the step
    is wrapped in `tinygrad_np.jit`: the first call with a batch shape runs eagerly, the second is captured, later
    ones replay the captured NumPy calls (the epoch's smaller last batch gets its own capture). Nothing in the step
    reads a value into Python (no `.item()`): the caller reads the returned Tensors."""
    def train_step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        optimizer.zero_grad()
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)  # one fused node: softmax + negative log-likelihood
        loss.backward()  # d loss / d logits = (softmax(logits) - onehot(y)) / batch, then back through the layers
        optimizer.step()
        return loss, logits

    return jit(train_step) if capture else train_step


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: nn.optim.Optimizer, desc: str = "",
                    show_progress: bool = True, step: Optional[Callable] = None) -> tuple[float, float]:
    """One pass over `loader` in training mode; returns the epoch's mean loss and accuracy (on the batches as they
    were trained, i.e. with dropout active and the weights still moving). `step` (default: an eager
    `make_train_step(model, optimizer)`) does each batch's gradient step."""
    step = step or make_train_step(model, optimizer)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = progress(loader, len(loader), desc, show_progress)
    for x, y in bar:
        loss, logits = step(x, y)
        n = len(y)
        total_loss += loss.item() * n
        correct += int((logits.data.argmax(axis=1) == y.data).sum())
        seen += n
        bar.set_postfix_str(f"loss {total_loss / seen:.4f}")
    return total_loss / seen, correct / seen


def predict(model: nn.Module, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """The model's logits for every row of `x`, in evaluation mode (no dropout) and without building a graph."""
    model.eval()
    with no_grad():
        return np.concatenate([model(Tensor(x[i:i + batch_size])).data for i in range(0, len(x), batch_size)])


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 2000) -> tuple[float, float, np.ndarray]:
    """Mean cross-entropy loss, accuracy, and the predicted classes on `(x, y)`."""
    logits = predict(model, x, batch_size)
    loss = nn.functional.cross_entropy(Tensor(logits), y).item()
    predicted = logits.argmax(axis=1)
    return loss, float((predicted == y).mean()), predicted


def fit(model: nn.Module, optimizer: nn.optim.Optimizer, train_loader: DataLoader, x_val: np.ndarray,
        y_val: np.ndarray, epochs: int, scheduler: Optional[Any] = None, show_progress: bool = True,
        log: Callable[[str], None] = print, capture: bool = False) -> dict[str, list[float]]:
    """Train for `epochs`, logging one line per epoch; returns the history (lists per epoch: train_loss, train_acc,
    val_loss, val_acc, lr, seconds). With an empty validation set, val_loss/val_acc are NaN. With `capture` the
    training step is captured and replayed (make_train_step): bit for bit the same results."""
    step = make_train_step(model, optimizer, capture)
    history: dict[str, list[float]] = {k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr",
                                                        "seconds")}
    width = len(str(epochs))
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        desc = f"epoch {epoch:>{width}}/{epochs}"
        train_loss, train_acc = train_one_epoch(model, train_loader, optimizer, desc, show_progress, step)
        val_loss, val_acc = evaluate(model, x_val, y_val)[:2] if len(y_val) else (float("nan"), float("nan"))
        if scheduler is not None:
            scheduler.step()
        seconds = time.perf_counter() - start
        for key, value in zip(history, (train_loss, train_acc, val_loss, val_acc, lr, seconds)):
            history[key].append(value)
        log(f"{desc}  train loss {train_loss:.4f}  train acc {100 * train_acc:6.2f}%  val loss {val_loss:.4f}  "
            f"val acc {100 * val_acc:6.2f}%  lr {lr:.2e}  {seconds:5.1f} s")
    return history


# ---------------------------------------------------------------------------------------------------------------
# the report


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j] = how many samples of true class i were predicted as class j."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def format_confusion_matrix(cm: np.ndarray) -> str:
    """The matrix as text: rows are the true classes, columns the predicted ones."""
    k = len(cm)
    width = max(len(str(cm.max())), 3) + 2
    lines = ["true\\pred" + "".join(f"{j:>{width}}" for j in range(k))]
    lines += [f"{i:>9}" + "".join(f"{n:>{width}}" for n in row) for i, row in enumerate(cm)]
    return "\n".join(lines)


def format_per_class_accuracy(cm: np.ndarray) -> str:
    """Per-class accuracy (recall): the diagonal over each row's total, one class per column."""
    per_class = cm.diagonal() / np.maximum(cm.sum(axis=1), 1)
    head = "  ".join(f"{i:>6}" for i in range(len(cm)))
    values = "  ".join(f"{100 * a:5.1f}%" for a in per_class)
    worst = int(per_class.argmin())
    return f"class  {head}\nacc    {values}\n(hardest class: {worst}, {100 * per_class[worst]:.1f}%)"


# ---------------------------------------------------------------------------------------------------------------
# plots (matplotlib is optional)


def pyplot() -> Any:
    """matplotlib.pyplot on a file-only backend, or None if matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")  # no display needed; must precede importing pyplot
    import matplotlib.pyplot as plt

    return plt


def have_matplotlib() -> bool:
    return pyplot() is not None


def plot_training_curves(history: dict[str, list[float]], path: Path) -> bool:
    """Loss and accuracy per epoch (train and validation) side by side in one PNG; False if no matplotlib."""
    plt = pyplot()
    if plt is None:
        return False
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["train_loss"], "o-", label="train")
    ax_loss.plot(epochs, history["val_loss"], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.plot(epochs, 100 * np.asarray(history["train_acc"]), "o-", label="train")
    ax_acc.plot(epochs, 100 * np.asarray(history["val_acc"]), "s-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)  # whole epochs on the x axis
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_predictions(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, path: Path, columns: int = 8,
                     title: str = "") -> bool:
    """A grid of images titled 'pred P / true T' (red when wrong) in one PNG; False if no matplotlib."""
    plt = pyplot()
    if plt is None:
        return False
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, t, p in zip(axes.flat, images, y_true, y_pred):
        ax.imshow(img.reshape(28, 28) if img.size == 784 else img, cmap="gray_r")
        ax.set_title(f"pred {p} / true {t}", fontsize=8, color="black" if p == t else "red")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


if __name__ == "__main__":
    sys.exit("training.py is a library module for the examples (the training loop, report and plots they share): "
             "it does nothing by itself. Run python examples/mnist.py, examples/mnist_cnn.py or examples/xor.py")
