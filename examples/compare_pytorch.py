"""Train the same MLP on MNIST in tinygrad_np and in PyTorch, side by side: same initial weights (copied across),
same batches in the same order, same optimizer settings. Prints test accuracy and time for each.

    python examples/compare_pytorch.py                    # the MLP of examples/mnist.py, without dropout
    python examples/compare_pytorch.py --layers 784,128,10 --epochs 3 --optimizer sgd --lr 0.1

Dropout is off by default: the two libraries draw different dropout masks, so with --dropout > 0 the runs are
statistically alike but no longer step-for-step the same. Without PyTorch, says how to install it and exits.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Optional

import mnist  # examples/mnist.py: the data pipeline and defaults (it also makes `nn` importable)
import numpy as np
import training
from training import (
    HelpFormatter,
    UsageError,
    evaluate,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)

import nn
from nn.data import DataLoader
from nn.datasets import DatasetError
from tinygrad_np import Tensor


def build_parser() -> argparse.ArgumentParser:
    defaults = mnist.build_parser().parse_args([])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--layers", type=mnist.parse_layers, default=mnist.DEFAULT_LAYERS, metavar="784,...,10",
                   help="layer sizes of the MLP (input 784 first, 10 classes last)")
    p.add_argument("--epochs", type=positive_int, default=defaults.epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=positive_int, default=defaults.batch_size, help="samples per gradient step")
    p.add_argument("--lr", type=positive_float, default=defaults.lr, help="learning rate (both libraries)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default=defaults.optimizer, help="sgd uses --momentum")
    p.add_argument("--momentum", type=non_negative_float, default=defaults.momentum, help="momentum of sgd")
    p.add_argument("--weight-decay", type=non_negative_float, default=defaults.weight_decay,
                   help="L2 penalty coefficient (as in torch.optim)")
    p.add_argument("--dropout", type=probability, default=0.0,
                   help="dropout probability after each hidden layer; see above: the libraries draw different masks")
    p.add_argument("--lr-schedule", choices=["cosine", "none"], default=defaults.lr_schedule,
                   help="cosine: decay the learning rate to 0 over the epochs along a half cosine")
    p.add_argument("--seed", type=non_negative_int, default=defaults.seed,
                   help="seeds the initial weights (copied to PyTorch), the batch order and the split")
    p.add_argument("--val-size", type=non_negative_int, default=defaults.val_size,
                   help="training images held out, as in mnist.py (so both train on the same images)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="train on the first N training samples only (a quick run)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding mnist/ or the four MNIST .gz files, as in mnist.py (by default "
                        "$TINYGRAD_NP_DATA)")
    return p


def train_ours(args: argparse.Namespace, model: nn.Module, data: dict) -> dict[str, Any]:
    optimizer = mnist.make_optimizer(args, model)
    scheduler = nn.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs) if args.lr_schedule == "cosine" \
        else None
    loader = DataLoader(data["x_train"], data["y_train"], batch_size=args.batch_size, shuffle=True, seed=args.seed)
    after_first_step = None
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if after_first_step is None:
                after_first_step = [p.data.copy() for p in model.parameters()]
        if scheduler is not None:
            scheduler.step()
        print(f"  tinygrad_np epoch {epoch + 1}/{args.epochs}: last batch loss {loss.item():.4f}")
    seconds = time.perf_counter() - start
    accuracy = evaluate(model, data["x_test"], data["y_test"])[1]
    return {"accuracy": accuracy, "seconds": seconds, "first": after_first_step,
            "final": [p.data for p in model.parameters()]}


def train_torch(torch: Any, args: argparse.Namespace, initial: list[np.ndarray], data: dict) -> dict[str, Any]:
    layers: list = []
    for a, b in zip(args.layers, args.layers[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()] + ([torch.nn.Dropout(args.dropout)] if args.dropout else [])
    model = torch.nn.Sequential(*layers[:-2 if args.dropout else -1])  # nothing after the last Linear
    params = list(model.parameters())  # weight, bias of each Linear: the same order and layout as nn.MLP
    with torch.no_grad():
        for p, value in zip(params, initial):
            p.copy_(torch.from_numpy(value))
    if args.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs) if args.lr_schedule == "cosine" \
        else None
    # The same loader with the same seed: the same batches in the same order as tinygrad_np's run.
    loader = DataLoader(data["x_train"], data["y_train"], batch_size=args.batch_size, shuffle=True, seed=args.seed)
    loss_fn = torch.nn.functional.cross_entropy
    after_first_step = None
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for x, y in loader:
            loss = loss_fn(model(torch.from_numpy(x.data)), torch.from_numpy(y.data))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if after_first_step is None:
                after_first_step = [p.detach().numpy().copy() for p in params]
        if scheduler is not None:
            scheduler.step()
        print(f"  PyTorch     epoch {epoch + 1}/{args.epochs}: last batch loss {loss.item():.4f}")
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(data["x_test"])).argmax(dim=1).numpy()
    return {"accuracy": float((predicted == data["y_test"]).mean()), "seconds": seconds, "first": after_first_step,
            "final": [p.detach().numpy() for p in params]}


def max_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        mnist.check_mlp_layers(args.layers)
    except UsageError as e:
        parser.error(str(e))
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed, so there is nothing to compare with. Install it with\n"
              "    pip install torch\n(the CPU build is enough: pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu) and run this again.")
        return 0
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:  # NumPy's BLAS was limited: give PyTorch the same number of threads
        torch.set_num_threads(int(threads))
    try:
        data = mnist.load_data(args, (784,))
    except UsageError as e:
        parser.error(str(e))
    Tensor.manual_seed(args.seed)
    model = nn.MLP(args.layers, dropout=args.dropout)
    initial = [p.data.copy() for p in model.parameters()]
    print(f"MLP {'-'.join(map(str, args.layers))}, {args.optimizer} lr {args.lr:g} ({args.lr_schedule}), batch "
          f"{args.batch_size}, {args.epochs} epochs, dropout {args.dropout:g}, {len(data['y_train']):,} training "
          f"images; PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s)\n")
    ours = train_ours(args, model, data)
    theirs = train_torch(torch, args, initial, data)

    print(f"\n{'':24}{'tinygrad_np':>14}{'PyTorch':>14}")
    print(f"{'test accuracy':24}{100 * ours['accuracy']:13.2f}%{100 * theirs['accuracy']:13.2f}%")
    print(f"{'training time':24}{ours['seconds']:12.1f} s{theirs['seconds']:12.1f} s")
    print(f"\ntime ratio tinygrad_np / PyTorch: {ours['seconds'] / theirs['seconds']:.2f}")
    print(f"largest weight difference after the first step: {max_difference(ours['first'], theirs['first']):.2e}; "
          f"after training: {max_difference(ours['final'], theirs['final']):.2e}")
    print("(float32 rounding differs between the libraries, so the runs drift apart slowly over many steps)")
    return 0


if __name__ == "__main__":
    sys.exit(training.run_cli("compare_pytorch.py", main, (OSError, DatasetError)))
