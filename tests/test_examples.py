"""The example scripts: --help, mnist.py end to end (train, save, --eval), without tqdm/matplotlib, bad data,
determinism; XOR to 100%; compare_pytorch.py with and without PyTorch; the shared report helpers; the mistakes a
learner makes (bad options, the wrong or a crafted checkpoint) ending in one-line errors; progress bars only on a
terminal."""
import importlib.util
import json
import os
import re
import resource
import select
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, data_root

EXAMPLES = REPO / "examples"
sys.path.insert(0, str(EXAMPLES))  # import the examples' pieces as modules

import compare_pytorch  # noqa: E402
import mnist  # noqa: E402
import mnist_cnn  # noqa: E402
import training  # noqa: E402
import xor  # noqa: E402

import nn  # noqa: E402

SCRIPTS = ["xor.py", "mnist.py", "mnist_cnn.py", "compare_pytorch.py"]


def script_env(env_extra=None):
    env = dict(os.environ, TINYGRAD_NP_DATA=str(data_root()))
    env["OPENBLAS_NUM_THREADS"] = "1"  # small matrices: threads only add contention on a shared machine
    env.update(env_extra or {})
    return env


def run(args, env_extra=None, prelude=None, timeout=300, **kwargs):
    """Run an example as a user would; `prelude` is Python run first (e.g. to hide an optional package)."""
    env = script_env(env_extra)
    if prelude is None:
        cmd = [sys.executable, str(EXAMPLES / args[0]), *args[1:]]
    else:
        script = (f"import runpy, sys; {prelude}; sys.argv = {[str(EXAMPLES / args[0]), *args[1:]]!r}; "
                  f"sys.path.insert(0, {str(EXAMPLES)!r}); runpy.run_path(sys.argv[0], run_name='__main__')")
        cmd = [sys.executable, "-c", script]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout, **kwargs)


def help_entries(text: str) -> dict:
    """--help output -> {option: its whole entry (names and help text)}."""
    entries, current = {}, None
    for line in text.splitlines():
        if re.match(r"  -", line):
            current = line.split()[0].rstrip(",")
            entries[current] = line
        elif current is not None and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    result = run([script, "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")  # mnist_cnn.py printed an allocator line first
    entries = help_entries(result.stdout)
    assert "--epochs" in entries or "--steps" in entries
    for option, entry in entries.items():
        assert "(default: None)" not in entry, entry
        assert entry.count("default") <= 1, entry  # a default stated once, not by the text and again by argparse
        assert len(entry.split(None, 2)) == 3 or option == "-h", entry  # every option has a help text
    if script == "mnist_cnn.py":
        assert "--layers" not in result.stdout  # the MLP's option does not apply to the CNN


def test_compare_pytorch_options_all_have_help():
    actions = [a for a in compare_pytorch.build_parser()._actions if a.dest != "help"]
    assert len(actions) == 13 and all(a.help for a in actions), [a.dest for a in actions if not a.help]


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
    # stderr is a pipe here, not a terminal: no progress-bar frames (a log once got 630 KB of them), while the
    # epoch line above is on stdout; test_progress_bar_is_drawn_on_a_terminal covers the bar itself.
    assert "\r" not in result.stderr and "it/s" not in result.stderr, result.stderr[:300]
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


JIT_RUNS = {  # a few epochs, so that steps are replayed, the epoch's smaller last batch included
    "mnist.py": ["--limit", "1000", "--epochs", "3", "--layers", "784,32,10"],
    "mnist_cnn.py": ["--limit", "1000", "--epochs", "3", "--channels", "4,8", "--dropout", "0.2"],
}


@pytest.mark.parametrize("script", sorted(JIT_RUNS))
def test_jit_trains_exactly_as_eager(tmp_path, mnist_dir, script):
    # --jit replays captured NumPy calls: the same figures and the same weights, bit for bit, as --no-jit.
    runs = {}
    for flag in ("--jit", "--no-jit"):
        path = tmp_path / f"{flag[2:]}.npz"
        result = run([script, flag, *JIT_RUNS[script], "--no-plots", "--save", str(path)])
        assert result.returncode == 0, result.stderr
        assert ("captured steps (--jit)" if flag == "--jit" else "eager steps (--no-jit)") in result.stdout
        figures = re.findall(r"^(epoch .*lr \S+)|^(test accuracy: .*)$", result.stdout, re.MULTILINE)
        runs[flag] = figures, nn.load(path)["model"]
    (jit_figures, jit_weights), (eager_figures, eager_weights) = runs["--jit"], runs["--no-jit"]
    assert len(jit_figures) == 4 and jit_figures == eager_figures  # 3 epoch lines (without their times), the test
    test_accuracy = float(re.search(r"(\d+\.\d\d)%", jit_figures[-1][1]).group(1))
    assert test_accuracy > 50  # it trained (10% is chance)
    assert jit_weights.keys() == eager_weights.keys()
    for name in jit_weights:
        assert np.array_equal(np.asarray(jit_weights[name]), np.asarray(eager_weights[name])), name


def test_jit_step_is_replayed(mnist_dir):
    # The captured step really replays (it does not quietly run eagerly or capture again), the last batch included.
    from nn.data import DataLoader
    from tinygrad_np import Tensor

    args = mnist_cnn.build_parser().parse_args(["--data-dir", str(mnist_dir), "--limit", "400", "--channels", "4"])
    data = mnist.load_data(args, mnist_cnn.INPUT_SHAPE)
    Tensor.manual_seed(0)
    model = mnist_cnn.build_cnn(args)
    step = training.make_train_step(model, mnist.make_optimizer(args, model), capture=True)
    loader = DataLoader(data["x_train"], data["y_train"], batch_size=64, shuffle=True, seed=0)  # 5 x 64, then 40
    model.train()
    for _ in range(3):
        for xb, yb in loader:
            loss, logits = step(xb, yb)
            assert np.isfinite(loss.item()) and logits.shape == (len(yb), 10)
    assert step.captures == 2  # one per batch shape
    assert step.replays == 3 * 6 - 2 * 2  # all the calls but each shape's eager call and its capture


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


# ------------------------------------------------------------------------------------------------ progress output


def run_on_a_terminal(args, timeout=120):
    """Run an example with stderr on a pseudo-terminal (stdout a pipe); returns (returncode, stdout, terminal)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / args[0]), *args[1:]], stdout=subprocess.PIPE,
                            stderr=slave, env=script_env(), cwd=REPO)
    os.close(slave)
    seen, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # EIO: the child is gone and closed the terminal
                    break
                if not data:
                    break
                seen.append(data)
            elif proc.poll() is not None:
                break
        stdout = proc.communicate(timeout=max(deadline - time.monotonic(), 1))[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return proc.returncode, stdout.decode(), b"".join(seen).decode(errors="replace")


def test_progress_bar_is_drawn_on_a_terminal(mnist_dir):
    pytest.importorskip("tqdm")
    code, stdout, terminal = run_on_a_terminal(["mnist.py", "--limit", "1000", "--epochs", "1", "--no-plots",
                                                "--layers", "784,16,10"])
    assert code == 0, terminal
    assert "epoch 1/1" in terminal and "it/s" in terminal  # tqdm's bar, on the terminal
    assert re.search(r"epoch 1/1 +train loss", stdout)  # and the plain epoch line on stdout


# ------------------------------------------------------------------------------------------------ user mistakes


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Small checkpoints written by the scripts' own save_model: an MLP, a CNN, a CNN from before the settings
    recorded the model kind, and a truncated file."""
    folder = tmp_path_factory.mktemp("checkpoints")
    paths = {}
    args = mnist.build_parser().parse_args(["--layers", "784,16,10"])
    paths["mlp"] = folder / "mlp16.npz"
    mnist.save_model(mnist.build_mlp(args), args, str(paths["mlp"]))
    args = mnist_cnn.build_parser().parse_args(["--channels", "4"])
    paths["cnn"] = folder / "cnn4.npz"
    mnist.save_model(mnist_cnn.build_cnn(args), args, str(paths["cnn"]))
    state = nn.load(paths["cnn"])
    settings = json.loads(str(state["settings"]))
    settings.pop("model", None)
    paths["old cnn"] = folder / "old-cnn4.npz"
    nn.save({"model": state["model"], "settings": json.dumps(settings)}, paths["old cnn"])
    paths["truncated"] = folder / "truncated.npz"
    paths["truncated"].write_bytes(paths["mlp"].read_bytes()[:1500])
    paths["a file"] = folder / "notes.txt"
    paths["a file"].write_text("not a folder")
    return paths


def limit_memory():
    """For a script under test (preexec_fn): 1.5 GB of address space, so that a mistake it fails to catch ends in a
    MemoryError rather than in a machine swapping."""
    resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))


MISTAKES = [  # script, arguments ({name} for a checkpoint), exit code, the one-line message
    ("mnist_cnn.py", ["--eval", "{mlp}"], 1,
     "mnist_cnn.py: {mlp} holds an MLP (saved by mnist.py), but this script builds a CNN; evaluate it with: "
     "python examples/mnist.py --eval {mlp}"),
    ("mnist.py", ["--eval", "{cnn}"], 1, "mnist.py: {cnn} holds a CNN (saved by mnist_cnn.py), but this script "
                                         "builds an MLP"),
    ("mnist.py", ["--eval", "{old cnn}"], 1, "holds a CNN (saved by mnist_cnn.py)"),
    ("mnist.py", ["--eval", "{truncated}"], 1, "mnist.py: --eval {truncated}: not a model saved with --save: "),
    ("mnist.py", ["--eval", "/nonexistent/model.npz"], 1, "mnist.py: --eval /nonexistent/model.npz: no such file"),
    ("mnist.py", ["--limit", "0"], 2, "mnist.py: error: argument --limit: expected a positive integer, got '0'"),
    ("mnist.py", ["--epochs", "0"], 2, "mnist.py: error: argument --epochs: expected a positive integer, got '0'"),
    ("mnist.py", ["--batch-size", "0"], 2, "argument --batch-size: expected a positive integer, got '0'"),
    ("mnist.py", ["--dropout", "1"], 2, "argument --dropout: expected a number in [0, 1), got '1'"),
    ("mnist.py", ["--layers", "784,100000,10"], 2,
     "mnist.py: error: --layers 784,100000,10 would have 79,500,010 parameters; the examples build at most "),
    ("mnist_cnn.py", ["--batch-size", "0"], 2, "mnist_cnn.py: error: argument --batch-size: expected a positive"),
    ("mnist_cnn.py", ["--layers", "784,10"], 2, "mnist_cnn.py: error: unrecognized arguments: --layers 784,10"),
    ("mnist_cnn.py", ["--channels", "32", "--hidden", "100000"], 2, "would have 628,300,362 parameters"),
    ("compare_pytorch.py", ["--epochs", "0"], 2, "compare_pytorch.py: error: argument --epochs: expected a posi"),
    ("compare_pytorch.py", ["--layers", "100,10"], 2, "compare_pytorch.py: error: --layers must start with 784"),
    ("xor.py", ["--steps", "0"], 2, "xor.py: error: argument --steps: expected a positive integer, got '0'"),
    pytest.param("xor.py", ["--plot", "/nonexistent/xor.png"], 1, "xor.py: [Errno 2] No such file or directory",
                 marks=pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                          reason="without matplotlib xor.py draws no plot, so no path to fail on")),
    ("mnist.py", ["--data-dir", "{a file}"], 1, "mnist.py: cannot use {a file}/mnist as the MNIST folder: "
                                                "{a file} is a file, not a folder"),
    ("mnist.py", ["--data-dir", "~nosuchuser_tgnp/data"], 1, "'~nosuchuser_tgnp' names no user on this machine"),
]


@pytest.mark.parametrize("script, args, code, message", MISTAKES, ids=lambda v: " ".join(v) if isinstance(v, list)
                         else v if isinstance(v, str) and v.endswith(".py") else "")
def test_mistakes_end_in_a_one_line_error(checkpoints, script, args, code, message):
    names = {k: str(v) for k, v in checkpoints.items()}
    result = run([script, *(a.format(**names) for a in args)], timeout=30, preexec_fn=limit_memory)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert message.format(**names) in lines[-1], result.stderr
    if code == 1:
        assert len(lines) == 1, result.stderr  # argparse errors (2) come after the usage lines, as always


def test_val_size_that_leaves_no_training_images(mnist_dir):
    result = run(["mnist.py", "--val-size", "60000", "--no-plots"], timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "mnist.py: error: --val-size 60000 would leave no training images: there are 60,000; hold out at most "
        "59,999")
    result = run(["mnist.py", "--val-size", "59999", "--epochs", "1", "--no-plots", "--layers", "784,8,10"])
    assert result.returncode == 0 and "1 training, 59,999 validation" in result.stdout, result.stderr


def write_checkpoint(path, settings, model=None):
    """A checkpoint with these settings over the weights of `model` (default: a 784-16-10 MLP)."""
    if model is None:
        model = nn.MLP([784, 16, 10])
    nn.save({"model": model.state_dict(), "settings": json.dumps(settings)}, path)
    return str(path)


def test_eval_checks_the_stored_settings_before_building(tmp_path):
    good = vars(mnist.build_parser().parse_args(["--layers", "784,16,10"]))
    del good["save"], good["eval"]
    cases = {  # the settings' change -> what the error says
        "dropout as text": ({"dropout": "0.2"}, "its setting dropout = '0.2' is invalid: expected a number, got str"),
        "layers as text": ({"layers": "784,16,10"}, "its setting layers = '784,16,10' is invalid: expected a list"),
        "a bool in the layers": ({"layers": [784, True, 10]}, "expected a list of integers"),
        "fractional epochs": ({"epochs": 1.5}, "its setting epochs = 1.5 is invalid: expected a positive integer"),
        "dropout 1": ({"dropout": 1}, "expected a number in [0, 1), got '1'"),
        "NaN": ({"lr": float("nan")}, "its setting lr = nan is invalid: expected a number > 0"),
        "unknown optimizer": ({"optimizer": "adamw"}, "expected one of adam, sgd"),
        "a flag as a number": ({"no_plots": 1}, "expected true or false"),
        "unknown model": ({"model": "rnn"}, "holds a model of unknown kind 'rnn', but this script builds an MLP"),
        "huge layers": ({"layers": [784, 1_000_000, 10]}, "its settings do not describe a model this script builds: "
                        "--layers 784,1000000,10 would have 795,000,010 parameters"),
        "not MNIST's shape": ({"layers": [100, 10]}, "--layers must start with 784"),
        "other weights": ({"layers": [784, 32, 10]}, "its weights do not fit the model its settings describe: "),
    }
    for change, complaint in cases.values():
        path = write_checkpoint(tmp_path / "crafted.npz", {**good, **change})
        with pytest.raises(mnist.CheckpointError, match=re.escape(complaint)):
            mnist.load_model(path, mnist.build_mlp)
    path = write_checkpoint(tmp_path / "list.npz", [1, 2])
    with pytest.raises(mnist.CheckpointError, match="its settings are a list, not a table of options"):
        mnist.load_model(path, mnist.build_mlp)
    model, settings = mnist.load_model(write_checkpoint(tmp_path / "fine.npz", good), mnist.build_mlp)
    assert settings.layers == [784, 16, 10] and model.layer_dims == [784, 16, 10]


def test_eval_of_a_crafted_2kb_file_allocates_nothing_large(tmp_path):
    # Settings that would build an MLP of 795 million parameters (3.2 GB of float32 weights, the 4.7 GB of the issue
    # with the initialisation), over a 784-16-10 MLP's weights. Under a 1.5 GB address-space limit the old code died of
    # MemoryError, with a traceback.
    good = vars(mnist.build_parser().parse_args([]))
    del good["save"], good["eval"]
    path = write_checkpoint(tmp_path / "crafted.npz", {**good, "layers": [784, 1_000_000, 10]})

    start = time.monotonic()
    result = run(["mnist.py", "--eval", path], timeout=60, preexec_fn=limit_memory)
    assert time.monotonic() - start < 30
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "would have 795,000,010 parameters; the examples build at most 25,000,000" in result.stderr


# ------------------------------------------------------------------------------------------------ the rest


def test_training_module_says_it_is_a_library_when_run():
    result = run(["training.py"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "training.py is a library module for the examples" in result.stderr
    assert "examples/mnist.py" in result.stderr


def test_runs_write_their_plots_to_different_files(tmp_path, checkpoints, mnist_dir):
    mlp, cnn = mnist.build_parser().parse_args([]), mnist_cnn.build_parser().parse_args([])
    assert (mlp.out_dir, cnn.out_dir) == ("out/mlp", "out/cnn")  # a CNN run no longer overwrites the MLP's plots
    result = run(["mnist.py", "--eval", str(checkpoints["mlp"]), "--out-dir", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    if training.have_matplotlib():  # nor does an --eval run overwrite the training run's predictions.png
        assert [p.name for p in tmp_path.iterdir()] == ["eval_mlp16_predictions.png"]
        assert f"wrote {tmp_path / 'eval_mlp16_predictions.png'}" in result.stdout


def test_pytest_prints_why_a_test_was_skipped(tmp_path):
    # The project's pytest settings (pyproject.toml) must show each skip's reason in the summary, without -rs typed.
    (tmp_path / "test_skipping.py").write_text("import pytest\n\ndef test_x():\n    pytest.skip('no widget here')\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir",
                             str(tmp_path), "-p", "no:cacheprovider", str(tmp_path / "test_skipping.py")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SKIPPED \[1\] .*test_skipping.py:4: no widget here", result.stdout), result.stdout
