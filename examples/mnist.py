"""Train a multilayer perceptron on MNIST and watch it learn: the project's main example.

    python examples/mnist.py                         # the defaults reach >= 98% test accuracy
    python examples/mnist.py --layers 784,128,64,10 --optimizer sgd --lr 0.1 --epochs 10
    python examples/mnist.py --save model.npz        # then: python examples/mnist.py --eval model.npz

MNIST is read from --data-dir, else $TINYGRAD_NP_DATA, else ~/.cache/tinygrad_np/mnist (downloaded if missing).

The pieces are importable, so another model reuses the whole pipeline (CLI, training, report, plots):

    import mnist
    mnist.main(build_model=lambda args: MyCNN(args.dropout), input_shape=(1, 28, 28))
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import training  # examples/training.py: also makes `nn` importable from a source checkout
from training import (
    confusion_matrix,
    evaluate,
    fit,
    format_confusion_matrix,
    format_per_class_accuracy,
    plot_predictions,
    plot_training_curves,
)

import nn
from nn.data import DataLoader
from nn.datasets import DatasetError, mnist, mnist_dir, train_val_split
from tinygrad_np import Tensor

ModelBuilder = Callable[[argparse.Namespace], nn.Module]

DEFAULT_LAYERS = "784,256,128,10"


def parse_layers(text: str) -> list[int]:
    """'784,128,10' -> [784, 128, 10] (for argparse)."""
    try:
        dims = [int(d) for d in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 784,128,10, got {text!r}") from None
    if len(dims) < 2 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"need at least an input and an output size, all positive, got {text!r}")
    return dims


def build_parser(description: Optional[str] = None) -> argparse.ArgumentParser:
    """The command line of the MNIST examples (a caller may add its own options before parsing)."""
    p = argparse.ArgumentParser(description=description or __doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--layers", type=parse_layers, default=parse_layers(DEFAULT_LAYERS), metavar="784,...,10",
                   help="layer sizes of the MLP, input first (784) and classes last (10): the seeds' layer_dims")
    p.add_argument("--epochs", type=int, default=15, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=128, help="samples per gradient step")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (try 0.1 for --optimizer sgd)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam", help="sgd uses momentum 0.9")
    p.add_argument("--momentum", type=float, default=0.9, help="momentum of --optimizer sgd")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty coefficient (as in torch.optim)")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout probability after each hidden layer")
    p.add_argument("--lr-schedule", choices=["cosine", "none"], default="cosine",
                   help="cosine: decay the learning rate to 0 over the epochs along a half cosine")
    p.add_argument("--seed", type=int, default=0, help="seeds initialisation, dropout, shuffling and the split")
    p.add_argument("--val-size", type=int, default=5000, help="training samples held out for validation")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train on the first N training samples only (a quick run); validation gets N//10 of them")
    p.add_argument("--data-dir", default=None,
                   help="folder holding mnist/ or the four MNIST .gz files (default: $TINYGRAD_NP_DATA, else "
                        "~/.cache/tinygrad_np/mnist; downloaded when missing)")
    p.add_argument("--save", metavar="MODEL.npz", default=None, help="save the trained model (and its settings)")
    p.add_argument("--eval", metavar="MODEL.npz", default=None,
                   help="evaluation mode: load a model saved with --save and report its test accuracy")
    p.add_argument("--out-dir", default="out", help="where the PNG plots go")
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (just the per-epoch lines)")
    return p


def build_mlp(args: argparse.Namespace) -> nn.Module:
    """The default model: Linear -> ReLU (-> Dropout) per hidden layer, then a Linear to the 10 class scores."""
    if args.layers[0] != 784 or args.layers[-1] != 10:
        raise SystemExit(f"mnist.py: --layers must start with 784 (28x28 pixels) and end with 10 (digits), "
                         f"got {','.join(map(str, args.layers))}")
    return nn.MLP(args.layers, dropout=args.dropout)


def make_optimizer(args: argparse.Namespace, model: nn.Module) -> nn.optim.Optimizer:
    if args.optimizer == "adam":
        return nn.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    return nn.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)


def load_data(args: argparse.Namespace, input_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Train / validation / test arrays: float32 images in [0, 1] of shape (N, *input_shape), int64 labels."""
    x_train, y_train, x_test, y_test = mnist(args.data_dir, normalize=True)
    x_train, x_test = x_train.reshape(-1, *input_shape), x_test.reshape(-1, *input_shape)
    val_size = args.val_size
    if args.limit is not None:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
        val_size = min(val_size, len(x_train) // 10)
    x_train, y_train, x_val, y_val = train_val_split(x_train, y_train, val_size, seed=args.seed)
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val, "x_test": x_test,
            "y_test": y_test}


def save_model(model: nn.Module, args: argparse.Namespace, path: str) -> None:
    """The weights plus the settings that rebuild the model, so that `--eval` needs nothing else."""
    settings = {k: v for k, v in vars(args).items() if k not in ("save", "eval")}
    nn.save({"model": model.state_dict(), "settings": json.dumps(settings)}, path)


def load_model(path: str, build_model: ModelBuilder) -> tuple[nn.Module, argparse.Namespace]:
    state = nn.load(path)
    if not isinstance(state, dict) or "model" not in state or "settings" not in state:
        raise SystemExit(f"mnist.py: {path} was not written by --save (it has no 'model' and 'settings' entries)")
    settings = argparse.Namespace(**json.loads(str(state["settings"])))
    model = build_model(settings)
    model.load_state_dict(state["model"])
    return model, settings


def report(model: nn.Module, data: dict[str, np.ndarray], out_dir: Optional[Path], log: Callable = print) -> float:
    """Test accuracy, the confusion matrix, per-class accuracy, and the sample-predictions plot."""
    _, accuracy, predicted = evaluate(model, data["x_test"], data["y_test"])
    y = data["y_test"]
    log(f"\ntest accuracy: {100 * accuracy:.2f}% ({int((predicted == y).sum())}/{len(y)})")
    cm = confusion_matrix(y, predicted, 10)
    log("\nconfusion matrix (rows: true digit, columns: predicted digit):\n" + format_confusion_matrix(cm))
    log("\nper-class accuracy:\n" + format_per_class_accuracy(cm))
    if out_dir is not None:
        # 24 random test digits plus up to 8 of the mistakes, so that both successes and failures are shown
        rng = np.random.default_rng(0)
        wrong = np.flatnonzero(predicted != y)
        pick = np.concatenate([rng.choice(len(y), 24, replace=False), rng.permutation(wrong)[:8]])
        path = out_dir / "predictions.png"
        if plot_predictions(data["x_test"][pick], y[pick], predicted[pick], path,
                            title=f"test digits: predicted / true (red: wrong); accuracy {100 * accuracy:.2f}%"):
            log(f"wrote {path}")
    return accuracy


def run(args: argparse.Namespace, build_model: ModelBuilder = build_mlp, input_shape: tuple[int, ...] = (784,),
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or, with `args.eval`, evaluate) as the command line says; returns the model, history and accuracy."""
    start = time.perf_counter()
    out_dir = None
    if not args.no_plots:
        if training.have_matplotlib():
            out_dir = Path(args.out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
        else:
            log("matplotlib is not installed: no plots (pip install matplotlib); training anyway")
    if not args.no_progress and not training.have_tqdm():
        log("tqdm is not installed: plain-text progress (pip install tqdm for nicer bars)")
    if args.eval:
        model, settings = load_model(args.eval, build_model)
    else:
        Tensor.manual_seed(args.seed)  # initialisation and dropout masks
        model = build_model(args)
    data = load_data(args, input_shape)
    log(f"MNIST from {mnist_dir(args.data_dir)}: {len(data['y_train']):,} training, {len(data['y_val']):,} "
        f"validation, {len(data['y_test']):,} test images")

    if args.eval:
        log(f"loaded {args.eval}: {_describe(model, settings)}")
        accuracy = report(model, data, out_dir, log)
        log(f"\ntotal time {time.perf_counter() - start:.1f} s")
        return {"model": model, "history": None, "test_accuracy": accuracy}

    optimizer = make_optimizer(args, model)
    scheduler = nn.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs) if args.lr_schedule == "cosine" \
        else None
    loader = DataLoader(data["x_train"], data["y_train"], batch_size=args.batch_size, shuffle=True, seed=args.seed)
    log(f"model: {_describe(model, args)}")
    log(f"training: {args.optimizer} lr {args.lr:g} ({args.lr_schedule} schedule), batch {args.batch_size}, "
        f"{args.epochs} epochs, weight decay {args.weight_decay:g}, seed {args.seed}\n")

    train_start = time.perf_counter()
    history = fit(model, optimizer, loader, data["x_val"], data["y_val"], args.epochs, scheduler,
                  show_progress=not args.no_progress, log=log)
    train_seconds = time.perf_counter() - train_start
    accuracy = report(model, data, out_dir, log)
    if out_dir is not None and plot_training_curves(history, out_dir / "training_curves.png"):
        log(f"wrote {out_dir / 'training_curves.png'}")
    if args.save:
        save_model(model, args, args.save)
        log(f"saved the model to {args.save} (evaluate it with --eval {args.save})")
    log(f"\ntotal time {time.perf_counter() - start:.1f} s (training {train_seconds:.1f} s, "
        f"{train_seconds / max(args.epochs, 1):.1f} s per epoch)")
    return {"model": model, "history": history, "test_accuracy": accuracy}


def _describe(model: nn.Module, settings: argparse.Namespace) -> str:
    n = model.num_parameters()
    dims = getattr(model, "layer_dims", None)
    name = f"MLP {'-'.join(map(str, dims))}" if dims else type(model).__name__
    return f"{name} ({n:,} parameters), dropout {settings.dropout:g}"


def main(argv: Optional[list[str]] = None, build_model: ModelBuilder = build_mlp,
         input_shape: tuple[int, ...] = (784,), parser: Optional[argparse.ArgumentParser] = None) -> dict[str, Any]:
    """Parse the command line (`argv`, default sys.argv) and run."""
    args = (parser or build_parser()).parse_args(argv)
    return run(args, build_model, input_shape)


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, DatasetError) as e:  # missing or corrupt data: the message says what to do
        sys.exit(f"mnist.py: {e}")
