"""nn.datasets: IDX validation, checksums, the download path (local HTTP server only), CSV, XOR, validation split."""
import functools
import gzip
import hashlib
import http.server
import shutil
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nn import datasets
from nn.datasets import FILES, DatasetError, mnist, mnist_csv, mnist_dir, read_idx, train_val_split, xor

# ------------------------------------------------------------------------------------------------ synthetic IDX files


def idx_bytes(array: np.ndarray, magic=None, dims=None) -> bytes:
    """The IDX encoding of a uint8 array (header fields overridable to build broken files)."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    dims = array.shape if dims is None else dims
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in dims)
    return header + array.astype(np.uint8).tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def fake_mnist(folder: Path, n_train=7, n_test=3, seed=0, monkeypatch=None) -> dict:
    """Four small, valid MNIST-format files; with `monkeypatch`, their SHA-256 sums become the known ones."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test),
    }
    for name, a in arrays.items():
        write_gz(folder / name, idx_bytes(a))
        if monkeypatch is not None:
            monkeypatch.setitem(datasets.SHA256, name, hashlib.sha256((folder / name).read_bytes()).hexdigest())
    return arrays


def test_read_idx_round_trip(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_gz(tmp_path / "i.gz", idx_bytes(images)), 2051), images)
    np.testing.assert_array_equal(read_idx(write_gz(tmp_path / "l.gz", idx_bytes(labels)), 2049), labels)
    (tmp_path / "plain").write_bytes(idx_bytes(labels))  # no .gz suffix: read uncompressed
    np.testing.assert_array_equal(read_idx(tmp_path / "plain", 2049), labels)
    with pytest.raises(FileNotFoundError):  # a missing file is not reported as a corrupt one
        read_idx(tmp_path / "missing.gz", 2049)


@pytest.mark.parametrize("case, payload, magic, complaint", [
    ("labels given as images", idx_bytes(np.zeros(4)), 2051, "magic number is 2049, expected 2051"),
    ("images given as labels", idx_bytes(np.zeros((2, 28, 28))), 2049, "magic number is 2051, expected 2049"),
    ("random bytes", bytes(range(200)), 2051, "magic number"),
    ("wrong image size", idx_bytes(np.zeros((2, 27, 28))), 2051, "27x28, expected 28x28"),
    ("count larger than payload", idx_bytes(np.zeros((3, 28, 28)), dims=(4, 28, 28)), 2051, "truncated"),
    ("count smaller than payload", idx_bytes(np.zeros(5), dims=(4,)), 2049, "trailing data"),
    ("header cut short", idx_bytes(np.zeros((2, 28, 28)))[:10], 2051, "shorter than an IDX header"),
    ("empty file", b"", 2049, "shorter than an IDX header"),
], ids=lambda v: v if isinstance(v, str) and " " in v else "")
def test_read_idx_rejects_bad_headers_naming_the_file(tmp_path, case, payload, magic, complaint):
    path = write_gz(tmp_path / "bad-idx.gz", payload)
    with pytest.raises(DatasetError, match=complaint) as info:
        read_idx(path, magic)
    assert str(path) in str(info.value), case


def test_read_idx_rejects_truncated_and_non_gzip_files(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((3, 28, 28))))
    for name, raw in [("cut.gz", good[: len(good) // 2]), ("notgz.gz", b"this is not gzip data at all"),
                      ("badcrc.gz", good[:-8] + bytes(8))]:
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(DatasetError, match="gzip") as info:
            read_idx(tmp_path / name, 2051)
        assert str(tmp_path / name) in str(info.value)


# ------------------------------------------------------------------------------------------------ mnist() on files


def test_mnist_reads_files_and_converts(tmp_path, monkeypatch):
    arrays = fake_mnist(tmp_path, monkeypatch=monkeypatch)
    x_train, y_train, x_test, y_test = mnist(tmp_path, download=False)
    assert x_train.dtype == np.uint8 and x_train.shape == (7, 28, 28) and x_test.shape == (3, 28, 28)
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    x_train[0, 0, 0] = 1  # the arrays are the caller's: writable, not views of read-only bytes

    d = mnist(tmp_path, download=False, normalize=True, flatten=True)
    assert d.x_train.dtype == np.float32 and d.x_train.shape == (7, 784)
    expected = arrays["t10k-images-idx3-ubyte.gz"].reshape(3, 784).astype(np.float32) / 255
    np.testing.assert_array_equal(d.x_test, expected)
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1


def test_mnist_rejects_disagreeing_counts_and_bad_labels(tmp_path, monkeypatch):
    fake_mnist(tmp_path, n_train=7, monkeypatch=monkeypatch)
    name = "train-labels-idx1-ubyte.gz"
    write_gz(tmp_path / name, idx_bytes(np.zeros(6)))
    monkeypatch.setitem(datasets.SHA256, name, hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    with pytest.raises(DatasetError, match="has 7 images but .* has 6 labels"):
        mnist(tmp_path, download=False)
    write_gz(tmp_path / name, idx_bytes(np.full(7, 10)))
    monkeypatch.setitem(datasets.SHA256, name, hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    with pytest.raises(DatasetError, match="label 10"):
        mnist(tmp_path, download=False)


def test_checksum_mismatch_means_the_file_is_not_used(tmp_path):
    # Valid IDX files, but not the original MNIST bytes: rejected before being parsed, naming the file.
    fake_mnist(tmp_path)
    with pytest.raises(DatasetError, match="SHA-256") as info:
        mnist(tmp_path, download=False)
    assert str(tmp_path / FILES[0]) in str(info.value)


def test_corrupted_real_file_is_rejected(tmp_path, mnist_dir):
    for name in FILES:
        (tmp_path / name).symlink_to(mnist_dir / name)
    victim = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(victim.read_bytes())
    victim.unlink()
    raw[100] ^= 0xFF  # one flipped byte
    victim.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="SHA-256") as info:
        mnist(tmp_path, download=False)
    assert str(victim) in str(info.value)


def test_real_mnist(mnist_dir):
    x_train, y_train, x_test, y_test = mnist(mnist_dir, download=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_test.shape == (10000,) and y_train.dtype == np.int64
    # Well-known facts about MNIST: the first training labels and the test set's class counts.
    np.testing.assert_array_equal(y_train[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(np.bincount(y_test), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert x_train.max() == 255 and x_train[:, 0, 0].max() == 0  # corners are background
    flat = mnist(mnist_dir.parent, download=False, normalize=True, flatten=True)  # the data root works too
    np.testing.assert_array_equal(flat.x_test, x_test.reshape(10000, 784).astype(np.float32) / 255)


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TINYGRAD_NP_DATA", raising=False)
    assert mnist_dir() == tmp_path / "home" / ".cache" / "tinygrad_np" / "mnist"
    monkeypatch.setenv("TINYGRAD_NP_DATA", str(tmp_path / "root"))
    assert mnist_dir() == tmp_path / "root" / "mnist"  # a data root
    assert mnist_dir(tmp_path / "other") == tmp_path / "other" / "mnist"  # the argument wins over the variable
    fake_mnist(tmp_path / "direct")
    assert mnist_dir(tmp_path / "direct") == tmp_path / "direct"  # a folder holding the files itself


def test_missing_files_without_download_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError) as info:
        mnist(tmp_path / "empty", download=False)
    message = str(info.value)
    assert "TINYGRAD_NP_DATA" in message and str(tmp_path / "home" / ".cache" / "tinygrad_np" / "mnist") in message
    assert str(tmp_path / "empty" / "mnist" / FILES[0]) in message


# ------------------------------------------------------------------------------------------------ download


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """serve(folder) -> the base URL of an HTTP server on 127.0.0.1 (random free port) serving that folder."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def corrupt_mirror(folder: Path, mnist_dir: Path) -> Path:
    """A mirror serving files of the right names and sizes but with one byte changed."""
    folder.mkdir()
    for name in FILES:
        raw = bytearray((mnist_dir / name).read_bytes())
        raw[len(raw) // 2] ^= 0x01
        (folder / name).write_bytes(bytes(raw))
    return folder


def test_download_skips_corrupt_and_missing_mirrors(tmp_path, mnist_dir, serve, capsys):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    mirrors = [serve(empty), serve(corrupt_mirror(tmp_path / "bad", mnist_dir)), serve(mnist_dir)]
    root = tmp_path / "data"
    x_train, y_train, x_test, y_test = mnist(root, mirrors=mirrors)
    assert x_train.shape == (60000, 28, 28) and y_test.shape == (10000,)
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(FILES)  # no temp files left behind
    for name in FILES:
        assert (root / "mnist" / name).read_bytes() == (mnist_dir / name).read_bytes()
    assert "t10k-labels-idx1-ubyte.gz" in capsys.readouterr().err  # progress was shown


def test_download_with_only_corrupt_mirrors_places_nothing(tmp_path, mnist_dir, serve):
    bad = serve(corrupt_mirror(tmp_path / "bad", mnist_dir))
    root = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match="SHA-256 mismatch") as info:
        mnist(root, mirrors=[bad, bad], progress=False)
    assert FILES[0] in str(info.value) and str(info.value).count("SHA-256 mismatch") == 2
    assert not root.exists()  # neither the bad file nor its temp file, nor the folders made for them


def test_download_keeps_files_already_present(tmp_path, mnist_dir, serve):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in FILES[1:]:
        shutil.copy(mnist_dir / name, folder / name)
    only_first = tmp_path / "mirror"
    only_first.mkdir()
    shutil.copy(mnist_dir / FILES[0], only_first / FILES[0])
    assert len(mnist(tmp_path / "data", mirrors=[serve(only_first)], progress=False).x_train) == 60000


def test_offline_error_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    with pytest.raises(FileNotFoundError, match="could not download train-images-idx3-ubyte.gz") as info:
        mnist(tmp_path / "data", mirrors=[dead], progress=False)
    message = str(info.value)
    assert "TINYGRAD_NP_DATA" in message and str(tmp_path / "home" / ".cache" / "tinygrad_np" / "mnist") in message
    assert not any(p.is_file() for p in (tmp_path / "data").rglob("*"))


def test_text_progress_without_tqdm(tmp_path, mnist_dir, serve, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `from tqdm import tqdm` now fails
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in FILES:
        if name != "t10k-labels-idx1-ubyte.gz":
            (folder / name).symlink_to(mnist_dir / name)
    mnist(tmp_path / "data", mirrors=[serve(mnist_dir)])
    err = capsys.readouterr().err
    assert "downloading http://127.0.0.1" in err and "t10k-labels-idx1-ubyte.gz: 100%" in err


# ------------------------------------------------------------------------------------------------ CSV


def write_csv(path: Path, images: np.ndarray, labels=None, header=None) -> Path:
    columns = ([] if labels is None else ["label"]) + [f"pixel{i}" for i in range(784)]
    table = images.reshape(len(images), -1)
    if labels is not None:
        table = np.column_stack([labels, table])
    lines = [",".join(columns) if header is None else header] + [",".join(map(str, row)) for row in table.tolist()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_with_and_without_labels(tmp_path):
    rng = np.random.default_rng(2)
    images, labels = rng.integers(0, 256, (6, 28, 28)), rng.integers(0, 10, 6)
    x, y = mnist_csv(write_csv(tmp_path / "train.csv", images, labels))
    assert x.dtype == np.uint8 and x.shape == (6, 28, 28) and y.dtype == np.int64
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    x, y = mnist_csv(write_csv(tmp_path / "test.csv", images), normalize=True, flatten=True)
    assert y is None and x.dtype == np.float32 and x.shape == (6, 784)
    np.testing.assert_array_equal(x, images.reshape(6, 784).astype(np.float32) / 255)
    x, y = mnist_csv(write_csv(tmp_path / "one.csv", images[:1], labels[:1]))  # a single row stays 2-D
    assert x.shape == (1, 28, 28) and y.shape == (1,)


def test_csv_rejects_bad_files_naming_them(tmp_path):
    images, labels = np.zeros((2, 28, 28), dtype=int), np.array([3, 4])
    cases = {
        "header": (write_csv(tmp_path / "h.csv", images, labels, header="a,b,c"), "header"),
        "pixel": (write_csv(tmp_path / "p.csv", images + 256, labels), "pixels must be 0..255"),
        "label": (write_csv(tmp_path / "l.csv", images, labels + 9), "labels must be 0..9"),
    }
    ragged = write_csv(tmp_path / "r.csv", images, labels)
    ragged.write_text(ragged.read_text() + "1,2,3\n")
    cases["ragged"] = (ragged, "number of columns changed from 785 to 3")
    text = write_csv(tmp_path / "t.csv", images, labels)
    text.write_text(text.read_text().replace("\n3,0,", "\n3,x,"))
    cases["text"] = (text, "could not convert string 'x'")
    for case, (path, complaint) in cases.items():
        with pytest.raises(DatasetError, match=complaint) as info:
            mnist_csv(path)
        assert str(path) in str(info.value), case


# ------------------------------------------------------------------------------------------------ xor, split


def test_xor():
    x, y = xor()
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, np.logical_xor(x[:, 0], x[:, 1]))
    assert {tuple(r) for r in x.tolist()} == {(0, 0), (0, 1), (1, 0), (1, 1)}


@given(n=st.integers(1, 200), val=st.integers(0, 200), seed=st.integers(0, 2**32 - 1))
def test_train_val_split_partitions_reproducibly(n, val, seed):
    val = min(val, n)
    x, y = np.arange(n) * 10, np.arange(n)
    x_tr, y_tr, x_val, y_val = train_val_split(x, y, val, seed=seed)
    assert len(x_val) == val and len(x_tr) == n - val
    np.testing.assert_array_equal(np.sort(np.concatenate([y_tr, y_val])), np.arange(n))  # a partition
    np.testing.assert_array_equal(x_tr, y_tr * 10)  # x and y stay paired
    np.testing.assert_array_equal(x_val, y_val * 10)
    assert np.all(np.diff(y_tr) > 0) and np.all(np.diff(y_val) > 0)  # original order kept within each part
    np.testing.assert_array_equal(train_val_split(x, y, val, seed=seed)[3], y_val)  # same seed, same split


def test_train_val_split_fraction_seed_and_errors():
    x = y = np.arange(1000)
    assert len(train_val_split(x, y, 0.25)[3]) == 250
    assert not np.array_equal(train_val_split(x, y, 100, seed=0)[3], train_val_split(x, y, 100, seed=1)[3])
    with pytest.raises(ValueError, match="x has 1000 samples but y has 999"):
        train_val_split(x, y[:-1])
    with pytest.raises(ValueError, match="val_size"):
        train_val_split(x, y, 1001)
    with pytest.raises(ValueError, match="val_size"):
        train_val_split(x, y, 1.5)
