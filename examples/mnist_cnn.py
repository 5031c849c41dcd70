"""Train a small convolutional network on MNIST: past 99% test accuracy, with the engine you can read.

    python examples/mnist_cnn.py                      # the defaults: 99.29% test accuracy after 4 epochs
    python examples/mnist_cnn.py --channels 8,16 --no-batch-norm --epochs 3
    python examples/mnist_cnn.py --save cnn.npz       # then: python examples/mnist_cnn.py --eval cnn.npz

The options, output, plots and saving are mnist.py's (this script only supplies the model to its pipeline), without
its MLP option --layers; --dropout acts before the final Linear layer, and the plots go to out/cnn/. --jit/--no-jit
captures the training step (convolutions, BatchNorm and all) or runs it eagerly, as in mnist.py: the same results.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Optional

import mnist  # examples/mnist.py: the command line, training loop, report and plots
import training  # examples/training.py (also makes `nn` importable from a source checkout)

import nn
from nn.conv import Conv2d, MaxPool2d
from nn.normalization import BatchNorm2d

INPUT_SHAPE = (1, 28, 28)


class CNN(nn.Module):
    """Convolution blocks, then a linear classifier. Each block halves the image (28 → 14 → 7 → 3 …):

        conv 3x3 (padding 1) → [BatchNorm] → ReLU → max-pool 2

    then flatten → dropout → linear to 10 classes, with a hidden ReLU layer of `hidden` units first if it is not 0.
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64), batch_norm: bool = True, hidden: int = 0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        blocks = [layer for c_in, c_out in zip([1, *channels], channels) for layer in _block(c_in, c_out, batch_norm)]
        self.features = nn.Sequential(*blocks)
        side = INPUT_SHAPE[1] // 2 ** len(channels)
        sizes = [channels[-1] * side * side] + ([hidden] if hidden else [])
        head: list[nn.Module] = [nn.Flatten()]
        if hidden:
            head += [nn.Linear(sizes[0], hidden), nn.ReLU()]
        self.classifier = nn.Sequential(*head, nn.Dropout(dropout), nn.Linear(sizes[-1], 10))

    def forward(self, x: Any) -> Any:
        return self.classifier(self.features(x))


def _block(c_in: int, c_out: int, batch_norm: bool) -> list[nn.Module]:
    # With BatchNorm right after it, the convolution's bias would be cancelled by the mean subtraction.
    conv = Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)
    return [conv, *([BatchNorm2d(c_out)] if batch_norm else []), nn.ReLU(), MaxPool2d(2)]


MAX_CHANNELS = 128  # per block: the default is 16,32,64


def parse_channels(text: str) -> list[int]:
    """'16,32' -> [16, 32] (for argparse)."""
    try:
        channels = [int(c) for c in text.replace(" ", "").split(",")]
    except ValueError:
        channels = []
    if not 1 <= len(channels) <= 4 or min(channels) < 1 or max(channels) > MAX_CHANNELS:
        raise argparse.ArgumentTypeError(
            f"expected 1 to 4 channel counts from 1 to {MAX_CHANNELS} like 16,32, got {text!r}")
    return channels


def build_parser() -> argparse.ArgumentParser:
    """mnist.py's command line (without the MLP's --layers) with the CNN's own options and defaults."""
    parser = mnist.build_parser(__doc__.split("\n")[0], mlp=False,
                                dropout_help="dropout probability before the final Linear layer")
    parser.add_argument("--channels", type=parse_channels, default="16,32,64", metavar="C1,C2,...",
                        help="output channels of each convolution block (1 to 4 blocks)")
    parser.add_argument("--hidden", type=training.non_negative_int, default=0,
                        help="units of a hidden layer before the classifier (0: none)")
    parser.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=True,
                        help="BatchNorm2d after each convolution")
    parser.set_defaults(epochs=4, batch_size=64, lr=2e-3, dropout=0.0, out_dir="out/cnn", model="cnn")
    return parser


def cnn_parameter_count(channels: Sequence[int], batch_norm: bool, hidden: int) -> int:
    """What `CNN(channels, batch_norm, hidden).num_parameters()` will be, worked out without building it."""
    n = sum(c_in * c_out * 9 + (2 if batch_norm else 1) * c_out for c_in, c_out in zip([1, *channels], channels))
    side = INPUT_SHAPE[1] // 2 ** len(channels)
    flat = channels[-1] * side * side
    return n + (flat * hidden + hidden + hidden * 10 + 10 if hidden else flat * 10 + 10)


def build_cnn(args: argparse.Namespace) -> nn.Module:
    n = cnn_parameter_count(args.channels, args.batch_norm, args.hidden)
    if n > mnist.MAX_PARAMETERS:
        raise training.UsageError(
            f"--channels {','.join(map(str, args.channels))} with --hidden {args.hidden} would have {n:,} "
            f"parameters; the examples build at most {mnist.MAX_PARAMETERS:,}")
    return CNN(args.channels, args.batch_norm, args.hidden, args.dropout)


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = build_parser()
    args = parser.parse_args(argv)  # --help and bad options end here, before anything else is printed
    return mnist.run_parsed(parser, args, build_cnn, INPUT_SHAPE)


if __name__ == "__main__":
    sys.exit(training.run_cli("mnist_cnn.py", main, mnist.CLI_ERRORS))
