"""Datasets as NumPy arrays: MNIST (the original IDX files, or Kaggle's CSV layout), XOR, and a validation split.

Where MNIST is looked for, in order:

1. the `data_dir` argument, else the environment variable `TINYGRAD_NP_DATA`: a data *root* holding an `mnist/`
   folder (or a folder that holds the four files directly);
2. else the cache `~/.cache/tinygrad_np/mnist`.

Missing files are downloaded into that folder from the first mirror that works, and every file's SHA-256 is checked
against the sums below before it is moved into place (and again before each use); a truncated, corrupt or wrong
file raises `DatasetError` naming the file and what is wrong. It is never silently used.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Union

import numpy as np

PathLike = Union[str, os.PathLike]

ENV_VAR = "TINYGRAD_NP_DATA"
CACHE_DIR = Path("~/.cache/tinygrad_np/mnist")  # expanded when used, so a changed $HOME is honoured

# Tried in this order; the files are byte-identical on each (the SHA-256 check makes sure of it).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
FILES = tuple(SHA256)

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # IDX: 0x00 0x00, type 0x08 (unsigned byte), number of dimensions
ROWS = COLS = 28


class DatasetError(ValueError):
    """A data file is truncated, corrupt, or not the file its name says; the message names the file."""


class MNIST(NamedTuple):
    """The four MNIST arrays; unpacks as `x_train, y_train, x_test, y_test = mnist()`."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# ---------------------------------------------------------------------------------------------------------------
# MNIST from the IDX files


def mnist(data_dir: Optional[PathLike] = None, *, normalize: bool = False, flatten: bool = False,
          download: bool = True, mirrors: Optional[Sequence[str]] = None, progress: bool = True) -> MNIST:
    """The MNIST training (60,000) and test (10,000) sets as `MNIST(x_train, y_train, x_test, y_test)`.

    Images are uint8 of shape (N, 28, 28), 0 = background; `normalize=True` gives float32 in [0, 1] instead, and
    `flatten=True` shape (N, 784). Labels are int64 in 0..9.

    `data_dir` (else `$TINYGRAD_NP_DATA`) names a data root holding `mnist/`, or the folder holding the four
    `.gz` files itself; without either, `~/.cache/tinygrad_np/mnist`. Missing files are downloaded there (unless
    `download=False`) from `mirrors` (base URLs, tried in order; default `MIRRORS`), with progress shown unless
    `progress=False`. Raises `DatasetError` for a corrupt, truncated or wrong file and `FileNotFoundError` (saying
    where to put the files) when a file is missing and cannot be downloaded.
    """
    folder = mnist_dir(data_dir)
    for name in FILES:
        if not (folder / name).exists():
            if not download:
                raise FileNotFoundError(_where_to_put(f"MNIST file {folder / name} is missing (download=False)"))
            _download(name, folder, MIRRORS if mirrors is None else mirrors, progress)
    # One conversion straight from the decompressed bytes (no uint8 copy on the way to float32): this is the peak of
    # a training run's memory.
    convert = _to_unit_float if normalize else np.copy  # copy: frombuffer arrays are read-only views of the bytes
    x_train, y_train = _read_pair(folder, "train", convert)
    x_test, y_test = _read_pair(folder, "t10k", convert)
    if flatten:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    return MNIST(x_train, y_train, x_test, y_test)


def mnist_dir(data_dir: Optional[PathLike] = None) -> Path:
    """The folder MNIST is read from (and downloaded into): see `mnist`."""
    root = data_dir if data_dir is not None else os.environ.get(ENV_VAR)
    if not root:
        return CACHE_DIR.expanduser()
    root = Path(root).expanduser()
    if any((root / name).exists() for name in FILES):
        return root  # the folder holds the files itself
    return root / "mnist"


def read_idx(path: PathLike, magic: int) -> np.ndarray:
    """The uint8 array in one IDX file (gzip-compressed if its name ends in `.gz`), after checking its header.

    `magic` is the expected magic number (2051 for images, 2049 for labels): its low byte is the number of
    dimensions. Raises `DatasetError` naming the file for a bad gzip stream, a wrong magic number, 28x28 violated
    (images), or a payload whose size disagrees with the item count in the header.
    """
    path = Path(path)
    raw = path.read_bytes()  # a missing or unreadable file raises its own OSError
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:  # EOFError: truncated; BadGzipFile (OSError): not gzip, bad CRC
            raise DatasetError(f"{path}: cannot be read as a gzip file (truncated or corrupt?): {e}") from e
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and found != magic:
        raise DatasetError(f"{path}: IDX magic number is {found}, expected {magic} (a wrong or corrupt file)")
    if len(raw) < header:
        raise DatasetError(f"{path}: only {len(raw)} bytes, shorter than an IDX header ({header} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and dims[1:] != (ROWS, COLS):
        raise DatasetError(f"{path}: images are {dims[1]}x{dims[2]}, expected {ROWS}x{COLS}")
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path}: header says {dims[0]} items of shape {dims[1:]} ({expected} bytes) but the payload has "
            f"{len(raw) - header} bytes ({'truncated' if len(raw) - header < expected else 'trailing data'})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_pair(folder: Path, prefix: str, convert: Callable[[np.ndarray], np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray]:
    img_path, lbl_path = folder / f"{prefix}-images-idx3-ubyte.gz", folder / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (img_path, lbl_path):
        _verify(path)
    images, labels = read_idx(img_path, IMAGES_MAGIC), read_idx(lbl_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DatasetError(f"{img_path} has {len(images)} images but {lbl_path} has {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{lbl_path}: label {labels.max()} found, MNIST labels are 0..9")
    return convert(images), labels.astype(np.int64)


def _verify(path: Path) -> None:
    expected, digest = SHA256[path.name], _sha256(path)
    if digest != expected:
        raise DatasetError(
            f"{path}: SHA-256 is {digest}, expected {expected}: the file is corrupt, truncated or not the original; "
            "delete it to download it again"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _to_unit_float(images: np.ndarray) -> np.ndarray:
    x = images.astype(np.float32)
    return np.divide(x, 255, out=x)


def _where_to_put(problem: str) -> str:
    return (
        f"{problem}. Put the four MNIST files ({', '.join(FILES)}) in a folder and pass it as data_dir "
        f"(--data-dir), or set ${ENV_VAR} to a folder holding mnist/ with them, or put them in "
        f"{CACHE_DIR.expanduser()}"
    )


# ---------------------------------------------------------------------------------------------------------------
# download


def _download(name: str, folder: Path, mirrors: Sequence[str], progress: bool) -> None:
    """Fetch `name` into `folder` from the first mirror that serves the right bytes; atomic (temp file + replace)."""
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                digest = _fetch(url, out, progress)
            if digest != SHA256[name]:
                failures.append(f"{url}: SHA-256 mismatch (got {digest})")
                continue
            os.replace(tmp, folder / name)  # only a verified file ever gets the real name
            return
        except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError, timeouts, resets; IncompleteRead
            failures.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    detail = "; ".join(failures) or "no mirrors given"
    raise FileNotFoundError(_where_to_put(f"could not download {name} into {folder} ({detail})"))


def _fetch(url: str, out, progress: bool) -> str:
    """Stream `url` into the open file `out`, showing progress; returns the SHA-256 of the bytes."""
    h = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = _progress_bar(url, total) if progress else None
        for chunk in iter(lambda: response.read(1 << 16), b""):
            out.write(chunk)
            h.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
    return h.hexdigest()


def _progress_bar(url: str, total: Optional[int]):
    try:
        from tqdm import tqdm
    except ImportError:
        return _TextProgress(url, total)
    return tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], file=sys.stderr)


class _TextProgress:
    """A one-line download progress report for when tqdm is not installed."""

    def __init__(self, url: str, total: Optional[int]) -> None:
        self.url, self.total, self.done, self.shown = url, total, 0, -1

    def update(self, n: int) -> None:
        self.done += n
        percent = 100 * self.done // self.total if self.total else self.done >> 20
        if percent != self.shown:  # redraw only when the figure changes
            self.shown = percent
            what = f"{percent}%" if self.total else f"{self.done >> 20} MiB"
            sys.stderr.write(f"\rdownloading {self.url}: {what}")
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


# ---------------------------------------------------------------------------------------------------------------
# MNIST from Kaggle's CSV layout


def mnist_csv(path: PathLike, *, normalize: bool = False, flatten: bool = False
              ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """MNIST in Kaggle's CSV layout: a header `label,pixel0,...,pixel783` then one image per row.

    Returns `(images, labels)`: images as in `mnist` (uint8 (N, 28, 28); `normalize`, `flatten` as there) and
    int64 labels, or `None` for labels when the file has no `label` column (Kaggle's test.csv). Raises
    `DatasetError` naming the file for a wrong header, a ragged or non-numeric row, or a value out of range.
    """
    path = Path(path)
    pixels = [f"pixel{i}" for i in range(ROWS * COLS)]
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        if header not in (["label", *pixels], pixels):
            shown = ",".join(header[:3]) + (",..." if len(header) > 3 else "")
            raise DatasetError(
                f"{path}: header is {shown!r} ({len(header)} columns), expected 'label,pixel0,...,pixel783' "
                "(785 columns) or 'pixel0,...,pixel783' (784 columns)"
            )
        try:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)  # loadtxt is C code: no per-row Python
        except ValueError as e:
            raise DatasetError(f"{path}: {e} (rows counted after the header)") from e
    if table.size and table.shape[1] != len(header):
        raise DatasetError(f"{path}: rows have {table.shape[1]} columns but the header has {len(header)}")
    labels = None
    if header[0] == "label":
        labels, table = table[:, 0], table[:, 1:]
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise DatasetError(f"{path}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    if table.size and (table.min() < 0 or table.max() > 255):
        raise DatasetError(f"{path}: pixels must be 0..255, found {table.min()}..{table.max()}")
    images = table.astype(np.uint8).reshape(-1, ROWS, COLS)
    if normalize:
        images = _to_unit_float(images)
    if flatten:
        images = images.reshape(len(images), -1)
    return images, labels


# ---------------------------------------------------------------------------------------------------------------
# small helpers


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The XOR truth table: inputs float32 (4, 2) and int64 class labels (4,) = [0, 1, 1, 0]."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    return x, np.array([0, 1, 1, 0], dtype=np.int64)


def train_val_split(x: np.ndarray, y: np.ndarray, val_size: Union[int, float] = 0.1, *, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off a random validation set: `x_train, y_train, x_val, y_val`.

    `val_size` is a number of samples (int) or a fraction of them (float in [0, 1)). The choice depends only on
    `seed` and the number of samples; both parts keep the original order of their samples.
    """
    n = len(x)
    if len(y) != n:
        raise ValueError(f"train_val_split: x has {n} samples but y has {len(y)}")
    if isinstance(val_size, float):
        if not 0 <= val_size < 1:
            raise ValueError(f"train_val_split: a fractional val_size must be in [0, 1), got {val_size}")
        val_size = round(n * val_size)
    if not 0 <= val_size <= n:
        raise ValueError(f"train_val_split: val_size={val_size} for {n} samples")
    is_val = np.zeros(n, dtype=bool)
    is_val[np.random.default_rng(seed).permutation(n)[:val_size]] = True
    return x[~is_val], y[~is_val], x[is_val], y[is_val]
