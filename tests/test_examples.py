"""The example scripts: --help, mnist.py end to end (train, save, --eval), without tqdm/matplotlib, bad data,
determinism; XOR to 100%; compare_pytorch.py with and without PyTorch; the shared report helpers."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, data_root

EXAMPLES = REPO / "examples"
sys.path.insert(0, str(EXAMPLES))  # import the examples' pieces as modules

import mnist  # noqa: E402
import training  # noqa: E402
import xor  # noqa: E402

SCRIPTS = ["xor.py", "mnist.py", "compare_pytorch.py"]


def run(args, env_extra=None, prelude=None, timeout=300):
    """Run an example as a user would; `prelude` is Python run first (e.g. to hide an optional package)."""
    env = dict(os.environ, TINYGRAD_NP_DATA=str(data_root()))
    env["OPENBLAS_NUM_THREADS"] = "1"  # small matrices: threads only add contention on a shared machine
    env.update(env_extra or {})
    if prelude is None:
        cmd = [sys.executable, str(EXAMPLES / args[0]), *args[1:]]
    else:
        script = (f"import runpy, sys; {prelude}; sys.argv = {[str(EXAMPLES / args[0]), *args[1:]]!r}; "
                  f"sys.path.insert(0, {str(EXAMPLES)!r}); runpy.run_path(sys.argv[0], run_name='__main__')")
        cmd = [sys.executable, "-c", script]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    result = run([script, "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_mnist_help_lists_the_issue_options():
    out = run(["mnist.py", "--help"]).stdout
    for option in ["--layers", "--epochs", "--batch-size", "--lr", "--optimizer", "--weight-decay", "--dropout",
                   "--seed", "--data-dir", "--save", "--eval", "--limit", "--no-plots", "--out-dir"]:
        assert option in out


def test_mnist_end_to_end_then_eval(tmp_path, mnist_dir):
    model_path, out_dir = tmp_path / "model.npz", tmp_path / "out"
    result = run(["mnist.py", "--limit", "2000", "--epochs", "1", "--save", str(model_path), "--out-dir",
                  str(out_dir)])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"epoch 1/1 +train loss \d\.\d{4} +train acc +\d+\.\d\d% +val loss \d\.\d{4} +val acc", out)
    test_accuracy = re.search(r"test accuracy: (\d+\.\d\d)% \((\d+)/10000\)", out)
    assert test_accuracy and float(test_accuracy.group(1)) > 60  # one epoch on 1,800 images: far above 10%
    assert "confusion matrix" in out and "per-class accuracy" in out and "total time" in out
    assert "epoch 1/1" in result.stderr  # the progress bar
    assert model_path.exists()
    if training.have_matplotlib():  # the same interpreter runs the script
        for png in ("training_curves.png", "predictions.png"):
            assert (out_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in out

    evaluated = run(["mnist.py", "--eval", str(model_path), "--no-plots"])
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"test accuracy: {test_accuracy.group(1)}% ({test_accuracy.group(2)}/10000)" in evaluated.stdout
    assert "epoch" not in evaluated.stdout  # no training in evaluation mode


def test_mnist_without_tqdm_and_matplotlib(tmp_path, mnist_dir):
    hide = "sys.modules['tqdm'] = None; sys.modules['matplotlib'] = None"
    result = run(["mnist.py", "--limit", "1000", "--epochs", "1", "--out-dir", str(tmp_path)], prelude=hide)
    assert result.returncode == 0, result.stderr
    assert "matplotlib is not installed" in result.stdout and "tqdm is not installed" in result.stdout
    assert re.search(r"epoch 1/1 \[#+\] \d+/\d+", result.stderr)  # the plain-text progress line
    assert "test accuracy" in result.stdout and not list(tmp_path.iterdir())


def test_mnist_refuses_a_corrupt_data_file(tmp_path, mnist_dir):
    for name in os.listdir(mnist_dir):
        if name.endswith(".gz"):
            (tmp_path / name).symlink_to(mnist_dir / name)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes((mnist_dir / "train-labels-idx1-ubyte.gz").read_bytes()[:-9])
    result = run(["mnist.py", "--data-dir", str(tmp_path), "--epochs", "1", "--no-plots"])
    assert result.returncode != 0
    assert str(tmp_path / "train-labels-idx1-ubyte.gz") in result.stderr and "SHA-256" in result.stderr


def test_mnist_rejects_layers_that_do_not_fit(mnist_dir):
    result = run(["mnist.py", "--layers", "100,10", "--epochs", "1", "--no-plots"])
    assert result.returncode != 0 and "--layers must start with 784" in result.stderr
    result = run(["mnist.py", "--layers", "784,x,10"])
    assert result.returncode == 2 and "comma-separated integers" in result.stderr


def test_mnist_run_is_deterministic_under_a_seed(mnist_dir, tmp_path):
    argv = ["--data-dir", str(mnist_dir), "--limit", "1000", "--epochs", "2", "--layers", "784,32,10", "--no-plots",
            "--no-progress", "--seed", "7"]
    quiet = [].append
    a = mnist.run(mnist.build_parser().parse_args(argv), log=quiet)
    b = mnist.run(mnist.build_parser().parse_args(argv), log=quiet)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert a["history"][key] == b["history"][key], key
    assert a["test_accuracy"] == b["test_accuracy"]
    c = mnist.run(mnist.build_parser().parse_args(argv[:-1] + ["8"]), log=quiet)
    assert c["history"]["train_loss"] != a["history"]["train_loss"]


def test_mnist_pipeline_takes_another_model_builder(mnist_dir):
    # What a CNN example will do: reuse the whole pipeline with its own model and input shape.
    import nn

    def build_reshaping_mlp(args):
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))

    args = mnist.build_parser().parse_args(["--data-dir", str(mnist_dir), "--limit", "2000", "--epochs", "1",
                                            "--lr", "0.005", "--no-plots", "--no-progress"])
    lines = []
    result = mnist.run(args, build_model=build_reshaping_mlp, input_shape=(1, 28, 28), log=lines.append)
    assert result["test_accuracy"] > 0.5 and any("Sequential" in line for line in lines)


def test_xor_reaches_100_percent():
    for seed in range(5):
        model, losses = xor.train(seed=seed)
        table, accuracy = xor.truth_table(model)
        assert accuracy == 1.0, (seed, table)
        assert losses[-1] < 0.01 < losses[0]


def test_xor_script_prints_the_truth_table_and_plots(tmp_path):
    result = run(["xor.py", "--plot", str(tmp_path / "xor.png")])
    assert result.returncode == 0, result.stderr
    assert "accuracy: 100%" in result.stdout
    rows = re.findall(r"^ (\d)   (\d)  \|  (\d)  \|     (\d)", result.stdout, re.MULTILINE)
    assert sorted(rows) == [("0", "0", "0", "0"), ("0", "1", "1", "1"), ("1", "0", "1", "1"), ("1", "1", "0", "0")]
    if training.have_matplotlib():
        assert (tmp_path / "xor.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert "matplotlib is not installed" in result.stdout


def test_compare_pytorch_side_by_side(mnist_dir):
    pytest.importorskip("torch")
    result = run(["compare_pytorch.py", "--limit", "2000", "--epochs", "2", "--layers", "784,32,10", "--lr", "0.003"])
    assert result.returncode == 0, result.stderr
    accuracies = re.search(r"test accuracy +(\d+\.\d\d)% +(\d+\.\d\d)%", result.stdout)
    assert accuracies, result.stdout
    ours, theirs = map(float, accuracies.groups())
    assert abs(ours - theirs) < 1.0 and ours > 60  # same init, data order and settings: nearly the same model
    first_step = float(re.search(r"after the first step: (\S+);", result.stdout).group(1))
    assert first_step < 1e-4  # the copied weights and the same first batch give the same first update


def test_compare_pytorch_without_pytorch_says_how_to_install():
    result = run(["compare_pytorch.py"], prelude="sys.modules['torch'] = None")
    assert result.returncode == 0, result.stderr
    assert "pip install torch" in result.stdout


def test_confusion_matrix_and_report():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    cm = training.confusion_matrix(y_true, y_pred, 10)
    assert cm.sum() == 500 and np.trace(cm) == (y_true == y_pred).sum()
    for i, j in [(0, 0), (3, 7), (9, 2)]:
        assert cm[i, j] == ((y_true == i) & (y_pred == j)).sum()
    text = training.format_per_class_accuracy(cm)
    per_class = [float(v) for v in re.findall(r"(\d+\.\d)%", text.splitlines()[1])]
    np.testing.assert_allclose(per_class, 100 * cm.diagonal() / cm.sum(axis=1), atol=0.05)
    assert len(training.format_confusion_matrix(cm).splitlines()) == 11
