"""Train a multilayer perceptron on MNIST and watch it learn: the project's main example.

    python examples/mnist.py                         # the defaults reach >= 98% test accuracy
    python examples/mnist.py --layers 784,128,64,10 --optimizer sgd --lr 0.1 --epochs 10
    python examples/mnist.py --save model.npz        # then: python examples/mnist.py --eval model.npz
    python examples/mnist.py --no-jit                # every step through the autograd graph (same results)

MNIST is read from --data-dir, else $TINYGRAD_NP_DATA, else ~/.cache/tinygrad_np/mnist (downloaded if missing).
The plots go to out/mlp/ (--out-dir); a mistake on the command line or a bad file ends with a one-line error (exit
code 2 for the options, 1 for files), not a traceback.

Each training step (zero_grad, forward, loss, backward, optimizer step) runs under `tinygrad_np.jit` by default: the
first call with a batch shape runs eagerly, the second is captured as NumPy calls, and later ones replay them on
fixed buffers, bit for bit what the eager step computes. --no-jit runs every step through the autograd graph.

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
    HelpFormatter,
    UsageError,
    confusion_matrix,
    evaluate,
    fit,
    format_confusion_matrix,
    format_per_class_accuracy,
    non_negative_float,
    non_negative_int,
    plot_predictions,
    plot_training_curves,
    positive_float,
    positive_int,
    probability,
)

import nn
from nn.data import DataLoader
from nn.datasets import DatasetError, mnist, mnist_dir, train_val_split
from tinygrad_np import Tensor

ModelBuilder = Callable[[argparse.Namespace], nn.Module]

DEFAULT_LAYERS = "784,256,128,10"
# The largest model the examples build: 25 million parameters are 100 MB of float32 weights (400 MB with their
# gradients and Adam's two moments). It bounds what a command line, or the settings stored in a file given to
# --eval, can make the script allocate.
MAX_PARAMETERS = 25_000_000
MODEL_SCRIPTS = {"mlp": "mnist.py", "cnn": "mnist_cnn.py"}  # which example builds (and evaluates) which model


class CheckpointError(ValueError):
    """The file given to --eval cannot be evaluated by this script (unreadable, another model, bad settings)."""


CLI_ERRORS = (OSError, DatasetError, CheckpointError)  # what the scripts report in one line (exit code 1)


def parse_layers(text: str) -> list[int]:
    """'784,128,10' -> [784, 128, 10] (for argparse)."""
    try:
        dims = [int(d) for d in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 784,128,10, got {text!r}") from None
    if len(dims) < 2 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"need at least an input and an output size, all positive, got {text!r}")
    return dims


def build_parser(description: Optional[str] = None, *, mlp: bool = True,
                 dropout_help: str = "dropout probability after each hidden layer") -> argparse.ArgumentParser:
    """The command line of the MNIST examples (a caller may add its own options before parsing); `mlp=False`
    leaves out the MLP's own option (--layers) for a script that builds another model."""
    p = argparse.ArgumentParser(description=description or __doc__.split("\n")[0], formatter_class=HelpFormatter)
    if mlp:
        p.add_argument("--layers", type=parse_layers, default=DEFAULT_LAYERS, metavar="784,...,10",
                       help="layer sizes of the MLP, input first (784) and classes last (10): the seeds' layer_dims")
    p.add_argument("--epochs", type=positive_int, default=15, help="passes over the training set")
    p.add_argument("--batch-size", type=positive_int, default=128, help="samples per gradient step")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate (try 0.1 for --optimizer sgd)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam", help="sgd uses --momentum")
    p.add_argument("--momentum", type=non_negative_float, default=0.9, help="momentum of --optimizer sgd")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0,
                   help="L2 penalty coefficient (as in torch.optim)")
    p.add_argument("--dropout", type=probability, default=0.2, help=dropout_help)
    p.add_argument("--lr-schedule", choices=["cosine", "none"], default="cosine",
                   help="cosine: decay the learning rate to 0 over the epochs along a half cosine")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seeds initialisation, dropout, shuffling and the split")
    p.add_argument("--val-size", type=non_negative_int, default=5000,
                   help="training samples held out for validation")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="train on the first N training samples only (a quick run); validation gets N//10 of them")
    p.add_argument("--data-dir", default=None,
                   help="folder holding mnist/ or the four MNIST .gz files (by default $TINYGRAD_NP_DATA, else "
                        "~/.cache/tinygrad_np/mnist; downloaded when missing)")
    p.add_argument("--save", metavar="MODEL.npz", default=None, help="save the trained model (and its settings)")
    p.add_argument("--eval", metavar="MODEL.npz", default=None,
                   help="evaluation mode: load a model saved with --save and report its test accuracy")
    p.add_argument("--out-dir", default="out/mlp",
                   help="where the PNG plots go (an --eval run names its plot after the model file)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they are drawn only on a terminal anyway; the per-epoch lines stay)")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True,
                   help="capture the training step (tinygrad_np.jit) and replay it as plain NumPy calls: the same "
                        "results bit for bit, without building a graph per step; --no-jit runs every step eagerly")
    p.set_defaults(model="mlp")  # stored with --save, so that --eval knows which script's model a file holds
    return p


def mlp_parameter_count(layers: list[int]) -> int:
    return sum(a * b + b for a, b in zip(layers, layers[1:]))


def check_mlp_layers(layers: list[int]) -> None:
    """Raise UsageError unless `layers` fit MNIST (784 in, 10 out) and the model stays under MAX_PARAMETERS."""
    if layers[0] != 784 or layers[-1] != 10:
        raise UsageError(f"--layers must start with 784 (28x28 pixels) and end with 10 (digits), "
                         f"got {','.join(map(str, layers))}")
    n = mlp_parameter_count(layers)
    if n > MAX_PARAMETERS:
        raise UsageError(f"--layers {','.join(map(str, layers))} would have {n:,} parameters; the examples build at "
                         f"most {MAX_PARAMETERS:,}")


def build_mlp(args: argparse.Namespace) -> nn.Module:
    """The default model: Linear -> ReLU (-> Dropout) per hidden layer, then a Linear to the 10 class scores."""
    check_mlp_layers(args.layers)
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
    if val_size >= len(x_train):
        raise UsageError(f"--val-size {val_size} would leave no training images: there are {len(x_train):,}; "
                         f"hold out at most {len(x_train) - 1:,}")
    x_train, y_train, x_val, y_val = train_val_split(x_train, y_train, val_size, seed=args.seed)
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val, "x_test": x_test,
            "y_test": y_test}


def save_model(model: nn.Module, args: argparse.Namespace, path: str) -> None:
    """The weights plus the settings that rebuild the model, so that `--eval` needs nothing else."""
    settings = {k: v for k, v in vars(args).items() if k not in ("save", "eval")}
    nn.save({"model": model.state_dict(), "settings": json.dumps(settings)}, path)


def load_model(path: str, build_model: ModelBuilder, parser: Optional[argparse.ArgumentParser] = None
               ) -> tuple[nn.Module, argparse.Namespace]:
    """The model saved in `path` by --save, and its settings. Nothing in the file is trusted: the settings are
    checked (which script's model, then each value's type and range, as the command line would check it, then the
    model's size) before the model is built, and the weights must fit it. Raises CheckpointError saying what is
    wrong."""
    try:
        state = nn.load(path)
    except FileNotFoundError:
        raise CheckpointError(f"--eval {path}: no such file") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"--eval {path}: not a model saved with --save: {e}") from None
    if not isinstance(state, dict) or "model" not in state or "settings" not in state:
        raise CheckpointError(f"{path} was not written by --save (it has no 'model' and 'settings' entries)")
    try:
        stored = json.loads(str(state["settings"]))
    except ValueError as e:
        raise CheckpointError(f"{path}: its settings are not readable (corrupt?): {e}") from None
    if not isinstance(stored, dict):
        raise CheckpointError(f"{path}: its settings are a {type(stored).__name__}, not a table of options")
    settings = settings_from_checkpoint(stored, parser or build_parser(), path)
    try:
        model = build_model(settings)
    except UsageError as e:
        raise CheckpointError(f"{path}: its settings do not describe a model this script builds: {e}") from None
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its weights do not fit the model its settings describe: {e}") from None
    return model, settings


def settings_from_checkpoint(stored: dict[str, Any], parser: argparse.ArgumentParser, path: str
                             ) -> argparse.Namespace:
    """The parser's defaults overridden by the stored settings, each checked as the command line checks it."""
    settings = parser.parse_args([])
    kind = stored.get("model", "cnn" if "channels" in stored else "mlp")  # files saved before "model" was stored
    this = getattr(settings, "model", "mlp")
    if kind != this:
        script = MODEL_SCRIPTS.get(kind) if isinstance(kind, str) else None
        what = f"{_a(kind)} (saved by {script})" if script else f"a model of unknown kind {_short(kind)}"
        hint = f"; evaluate it with: python examples/{script} --eval {path}" if script else ""
        raise CheckpointError(f"{path} holds {what}, but this script builds {_a(this)}{hint}")
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "save", "eval")}
    for key, value in stored.items():
        if key in actions:
            try:
                setattr(settings, key, _stored_value(actions[key], value, isinstance(getattr(settings, key), list)))
            except (UsageError, argparse.ArgumentTypeError) as e:
                raise CheckpointError(f"{path}: its setting {key} = {_short(value)} is invalid: {e}") from None
    return settings


def _stored_value(action: argparse.Action, value: Any, is_list: bool) -> Any:
    """A stored setting run through its option's checks (type, range, choices), like the same option typed."""
    if action.nargs == 0:  # a flag: --no-plots, --batch-norm/--no-batch-norm
        if not isinstance(value, bool):
            raise UsageError("expected true or false")
        return value
    if value is None:
        if action.default is None:
            return None
        raise UsageError("a value is needed")
    if action.type is None:  # a name or a choice
        if not isinstance(value, str):
            raise UsageError(f"expected text, got {type(value).__name__}")
        result = value
    elif is_list:  # layer sizes, channels
        if not (isinstance(value, list) and value and all(type(v) is int for v in value)):
            raise UsageError("expected a list of integers")
        result = action.type(",".join(map(str, value)))
    else:  # a number: never text
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise UsageError(f"expected a number, got {type(value).__name__}")
        result = action.type(str(value))
    if action.choices is not None and result not in action.choices:
        raise UsageError(f"expected one of {', '.join(map(str, action.choices))}")
    return result


def _a(kind: str) -> str:
    return f"{'an' if kind[:1] in 'aefhilmnorsx' else 'a'} {kind.upper()}"  # letters whose names start with a vowel


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def report(model: nn.Module, data: dict[str, np.ndarray], out_dir: Optional[Path], log: Callable = print,
           plot_name: str = "predictions.png") -> float:
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
        path = out_dir / plot_name
        if plot_predictions(data["x_test"][pick], y[pick], predicted[pick], path,
                            title=f"test digits: predicted / true (red: wrong); accuracy {100 * accuracy:.2f}%"):
            log(f"wrote {path}")
    return accuracy


def run(args: argparse.Namespace, build_model: ModelBuilder = build_mlp, input_shape: tuple[int, ...] = (784,),
        log: Callable[[str], None] = print, parser: Optional[argparse.ArgumentParser] = None) -> dict[str, Any]:
    """Train (or, with `args.eval`, evaluate) as the command line says; returns the model, history and accuracy.
    `parser` (default `build_parser()`) is what the settings stored in an --eval file are checked against.
    Raises UsageError for options that do not fit together, CheckpointError for a bad --eval file."""
    start = time.perf_counter()
    if args.eval:
        model, settings = load_model(args.eval, build_model, parser)
    else:
        Tensor.manual_seed(args.seed)  # initialisation and dropout masks
        model = build_model(args)
    data = load_data(args, input_shape)
    out_dir = None
    if not args.no_plots:
        if training.have_matplotlib():
            out_dir = Path(args.out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
        else:
            log("matplotlib is not installed: no plots (pip install matplotlib); training anyway")
    if not args.no_progress and not training.have_tqdm():
        log("tqdm is not installed: plain-text progress (pip install tqdm for nicer bars)")
    log(f"MNIST from {mnist_dir(args.data_dir)}: {len(data['y_train']):,} training, {len(data['y_val']):,} "
        f"validation, {len(data['y_test']):,} test images")

    if args.eval:
        log(f"loaded {args.eval}: {_describe(model, settings)}")
        accuracy = report(model, data, out_dir, log, plot_name=f"eval_{Path(args.eval).stem}_predictions.png")
        log(f"\ntotal time {time.perf_counter() - start:.1f} s")
        return {"model": model, "history": None, "test_accuracy": accuracy}

    optimizer = make_optimizer(args, model)
    scheduler = nn.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs) if args.lr_schedule == "cosine" \
        else None
    loader = DataLoader(data["x_train"], data["y_train"], batch_size=args.batch_size, shuffle=True, seed=args.seed)
    log(f"model: {_describe(model, args)}")
    log(f"training: {args.optimizer} lr {args.lr:g} ({args.lr_schedule} schedule), batch {args.batch_size}, "
        f"{args.epochs} epochs, weight decay {args.weight_decay:g}, seed {args.seed}, "
        f"{'captured steps (--jit)' if args.jit else 'eager steps (--no-jit)'}\n")

    train_start = time.perf_counter()
    history = fit(model, optimizer, loader, data["x_val"], data["y_val"], args.epochs, scheduler,
                  show_progress=not args.no_progress, log=log, capture=args.jit)
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
    parser = parser or build_parser()
    return run_parsed(parser, parser.parse_args(argv), build_model, input_shape)


def run_parsed(parser: argparse.ArgumentParser, args: argparse.Namespace, build_model: ModelBuilder = build_mlp,
               input_shape: tuple[int, ...] = (784,)) -> dict[str, Any]:
    """`run`, with options that do not fit together reported as argparse errors (usage, message, exit code 2)."""
    try:
        return run(args, build_model, input_shape, parser=parser)
    except UsageError as e:
        parser.error(str(e))


if __name__ == "__main__":
    sys.exit(training.run_cli("mnist.py", main, CLI_ERRORS))
