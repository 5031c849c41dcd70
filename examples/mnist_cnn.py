"""Train a small convolutional network on MNIST: past 99% test accuracy, with the engine you can read.

    python examples/mnist_cnn.py                      # the defaults reach >= 99.0% test accuracy
    python examples/mnist_cnn.py --channels 8,16 --no-batch-norm --epochs 3
    python examples/mnist_cnn.py --save cnn.npz       # then: python examples/mnist_cnn.py --eval cnn.npz

The options, output, plots and saving are mnist.py's (this script only supplies the model to its pipeline);
--layers does not apply here, and --dropout acts before the final Linear layer.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

import mnist  # examples/mnist.py: the command line, training loop, report and plots
import training  # noqa: F401  (makes `nn` importable from a source checkout)

import nn
from nn.conv import Conv2d, MaxPool2d
from nn.datasets import DatasetError
from nn.normalization import BatchNorm2d
from tinygrad_np.malloc import tune_malloc

INPUT_SHAPE = (1, 28, 28)


class CNN(nn.Module):
    """Two convolution blocks and a linear classifier:

        conv 3x3 (1 → c1, padding 1) → [BatchNorm] → ReLU → max-pool 2     28x28 → 14x14
        conv 3x3 (c1 → c2, padding 1) → [BatchNorm] → ReLU → max-pool 2    14x14 → 7x7
        flatten → dropout → linear (c2·7·7 → 10)
    """

    def __init__(self, channels: tuple[int, int] = (16, 32), batch_norm: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(*self._block(1, c1, batch_norm), *self._block(c1, c2, batch_norm))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c2 * 7 * 7, 10))

    @staticmethod
    def _block(c_in: int, c_out: int, batch_norm: bool) -> list[nn.Module]:
        # With BatchNorm right after it, the convolution's bias would be cancelled by the mean subtraction.
        conv = Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)
        return [conv, *([BatchNorm2d(c_out)] if batch_norm else []), nn.ReLU(), MaxPool2d(2)]

    def forward(self, x: Any) -> Any:
        return self.classifier(self.features(x))


def parse_channels(text: str) -> tuple[int, int]:
    """'16,32' -> (16, 32) (for argparse)."""
    try:
        channels = tuple(int(c) for c in text.replace(" ", "").split(","))
    except ValueError:
        channels = ()
    if len(channels) != 2 or min(channels) < 1:
        raise argparse.ArgumentTypeError(f"expected two positive channel counts like 16,32, got {text!r}")
    return channels  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    """mnist.py's command line with the CNN's own options and defaults."""
    parser = mnist.build_parser(__doc__.split("\n")[0])
    parser.add_argument("--channels", type=parse_channels, default=(16, 32), metavar="C1,C2",
                        help="output channels of the two convolution layers")
    parser.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=True,
                        help="BatchNorm2d after each convolution")
    parser.set_defaults(epochs=4, batch_size=64, lr=2e-3, dropout=0.0)
    return parser


def build_cnn(args: argparse.Namespace) -> nn.Module:
    return CNN(tuple(args.channels), args.batch_norm, args.dropout)


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    # Each step makes a few dozen multi-megabyte temporaries; by default glibc returns them to the OS and page-faults
    # them back in on the next step, which measured here made steps 2-4x slower (see tinygrad_np/malloc.py).
    if tune_malloc():
        print("allocator: tinygrad_np.malloc.tune_malloc() keeps freed arrays in the heap for reuse")
    return mnist.main(argv, build_model=build_cnn, input_shape=INPUT_SHAPE, parser=build_parser())


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, DatasetError) as e:  # missing or corrupt data: the message says what to do
        sys.exit(f"mnist_cnn.py: {e}")
