"""Datasets as NumPy arrays: MNIST (the original IDX files, or Kaggle's CSV layout), XOR, and a validation split.

Where MNIST is looked for, in order:

1. the `data_dir` argument, else the environment variable `TINYGRAD_NP_DATA`: a data *root* holding an `mnist/`
   folder (or a folder that holds the four files directly);
2. else the cache `~/.cache/tinygrad_np/mnist`.

Missing files are downloaded into that folder from the first mirror that works, and every file's SHA-256 is checked
against the sums below before it is moved into place (and again before each use); a truncated, corrupt or wrong
file raises `DatasetError` naming the file and what is wrong. It is never silently used.

What a download guarantees: it never writes more than the file's known size (nor more than the server's
Content-Length); a mirror that sends fewer than `min_rate` bytes per second over any `timeout`-second stretch (a
stalled or trickling server), or no response within `timeout` seconds, is given up for the next one; a download that
fails leaves no file and no new folder behind; and every message names the folder by its absolute path.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Union

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
# The size in bytes of each original .gz file: a download stops there.
SIZES = {
    "train-images-idx3-ubyte.gz": 9_912_422,
    "train-labels-idx1-ubyte.gz": 28_881,
    "t10k-images-idx3-ubyte.gz": 1_648_877,
    "t10k-labels-idx1-ubyte.gz": 4_542,
}
ITEMS = {"train": 60_000, "t10k": 10_000}  # images (and labels) per set: an IDX header may not claim more

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # IDX: 0x00 0x00, type 0x08 (unsigned byte), number of dimensions
ROWS = COLS = 28

TIMEOUT = 30.0  # seconds: no response within it, or less than MIN_RATE over any stretch this long, fails a mirror
MIN_RATE = 10_000.0  # bytes per second (the 9.9 MB training images then take at most 17 minutes)
CHUNK = 1 << 16  # bytes per network read
READ_CHUNK = 1 << 20  # bytes per read of a (decompressed) IDX payload
MAX_DEFLATE_RATIO = 1032  # deflate cannot expand a byte into more than this: a bound on any gzip file's content


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
          download: bool = True, mirrors: Optional[Sequence[str]] = None, progress: bool = True,
          timeout: float = TIMEOUT, min_rate: float = MIN_RATE) -> MNIST:
    """The MNIST training (60,000) and test (10,000) sets as `MNIST(x_train, y_train, x_test, y_test)`.

    Images are uint8 of shape (N, 28, 28), 0 = background; `normalize=True` gives float32 in [0, 1] instead, and
    `flatten=True` shape (N, 784). Labels are int64 in 0..9.

    `data_dir` (else `$TINYGRAD_NP_DATA`) names a data root holding `mnist/`, or the folder holding the four
    `.gz` files itself; without either, `~/.cache/tinygrad_np/mnist`. Missing files are downloaded there (unless
    `download=False`) from `mirrors` (a list of base URLs, tried in order; default `MIRRORS`), with progress shown
    unless `progress=False`. A mirror is given up for the next one when it does not answer within `timeout`
    seconds, or sends fewer than `min_rate` bytes per second over any `timeout`-second stretch, or more bytes than
    the file has. Raises `DatasetError` for a corrupt, truncated or wrong file, `FileNotFoundError` (saying where
    to put the files) when a file is missing and cannot be downloaded, and `NotADirectoryError` /
    `PermissionError` when the folder is a file or cannot be written to.
    """
    folder = mnist_dir(data_dir)
    missing = [name for name in FILES if not (folder / name).exists()]
    if missing:
        _check_folder(folder)
        if not download:
            raise FileNotFoundError(_where_to_put(f"MNIST file {folder / missing[0]} is missing (download=False)"))
        mirror_list = _mirror_list(mirrors)
        if not (timeout > 0 and min_rate >= 0):
            raise ValueError(f"mnist: timeout must be > 0 and min_rate >= 0, got timeout={timeout!r}, "
                             f"min_rate={min_rate!r}")
        _download_all(missing, folder, mirror_list, progress, timeout, min_rate)
    # One conversion straight from the decompressed bytes (no uint8 copy on the way to float32): this is the peak of
    # a training run's memory.
    convert = _to_unit_float if normalize else _same
    x_train, y_train = _read_pair(folder, "train", convert)
    x_test, y_test = _read_pair(folder, "t10k", convert)
    if flatten:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    return MNIST(x_train, y_train, x_test, y_test)


def mnist_dir(data_dir: Optional[PathLike] = None) -> Path:
    """The folder MNIST is read from (and downloaded into), as an absolute path: see `mnist`."""
    if data_dir is not None:
        root, source = data_dir, "data_dir"
    else:
        root, source = os.environ.get(ENV_VAR), f"${ENV_VAR}"
    if not root:
        return _absolute(CACHE_DIR, "the cache folder")
    root = _absolute(root, source)
    if any((root / name).exists() for name in FILES):
        return root  # the folder holds the files itself
    return root / "mnist"


def _absolute(path: PathLike, source: str) -> Path:
    """`path` with `~` expanded, made absolute (relative to the current folder) and normalised."""
    try:
        expanded = Path(path).expanduser()
    except RuntimeError:  # "~someone" for a user that does not exist
        user = str(path).split(os.sep, 1)[0]
        raise FileNotFoundError(
            f"{source} is {str(path)!r}: {user!r} names no user on this machine, so it cannot be expanded to a home "
            "folder (a typo?). Give the folder as an absolute path"
        ) from None
    return Path(os.path.abspath(expanded))


def _check_folder(folder: Path) -> None:
    """Refuse a folder path that runs through a file (say, $TINYGRAD_NP_DATA naming one of the .gz files)."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(
            f"cannot use {folder} as the MNIST folder: {existing} is a file, not a folder. Give --data-dir / "
            f"${ENV_VAR} a folder: a data root holding mnist/, or the folder holding the four .gz files"
        )


def read_idx(path: PathLike, magic: int, *, max_items: Optional[int] = None) -> np.ndarray:
    """The uint8 array in one IDX file (gzip-compressed if its name ends in `.gz`), after checking its header.

    `magic` is the expected magic number (2051 for images, 2049 for labels): its low byte is the number of
    dimensions. The header is checked before the payload is read, and the payload is read in bounded chunks into an
    array of the size the header claims: never more (so a gzip bomb costs no more memory than its header admits).
    `max_items` bounds the item count the header may claim. Raises `DatasetError` naming the file for a bad gzip
    stream, a wrong magic number, 28x28 violated (images), too many items, or a payload whose size disagrees with
    the header.
    """
    path = Path(path)
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    compressed = path.suffix == ".gz"
    with open(path, "rb") as raw:  # a missing or unreadable file raises its own OSError
        size_on_disk = os.fstat(raw.fileno()).st_size
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            header = stream.read(header_size)
            found = int.from_bytes(header[:4], "big")
            if len(header) >= 4 and found != magic:
                raise DatasetError(f"{path}: IDX magic number is {found}, expected {magic} (a wrong or corrupt file)")
            if len(header) < header_size:
                raise DatasetError(
                    f"{path}: only {len(header)} bytes, shorter than an IDX header ({header_size} bytes)"
                )
            dims = tuple(int.from_bytes(header[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
            if ndim == 3 and dims[1:] != (ROWS, COLS):
                raise DatasetError(f"{path}: images are {dims[1]}x{dims[2]}, expected {ROWS}x{COLS}")
            if max_items is not None and dims[0] > max_items:
                raise DatasetError(f"{path}: header claims {dims[0]:,} items, but this file holds at most "
                                   f"{max_items:,} (a wrong or corrupt file)")
            expected = math.prod(dims)
            room = size_on_disk * MAX_DEFLATE_RATIO if compressed else size_on_disk - header_size
            if expected > room:
                raise DatasetError(
                    f"{path}: header says {dims[0]} items of shape {dims[1:]} ({expected:,} bytes), more than a "
                    f"{size_on_disk:,}-byte file can hold (truncated or corrupt)"
                )
            data = np.empty(expected, dtype=np.uint8)
            view, done = memoryview(data), 0
            while done < expected:
                n = stream.readinto(view[done:done + READ_CHUNK])
                if not n:
                    break
                done += n
            if done < expected:
                raise DatasetError(
                    f"{path}: header says {dims[0]} items of shape {dims[1:]} ({expected} bytes) but the payload has "
                    f"{done} bytes (truncated)"
                )
            if stream.read(1):  # one byte more, not the rest: also checks the gzip CRC when the stream ends here
                raise DatasetError(
                    f"{path}: header says {dims[0]} items of shape {dims[1:]} ({expected} bytes) but the payload is "
                    "longer (trailing data)"
                )
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:  # EOFError: truncated; BadGzipFile: not gzip, bad CRC
            raise DatasetError(f"{path}: cannot be read as a gzip file (truncated or corrupt?): {e}") from e
        finally:
            if stream is not raw:
                stream.close()
    return data.reshape(dims)


def _read_pair(folder: Path, prefix: str, convert: Callable[[np.ndarray], np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray]:
    img_path, lbl_path = folder / f"{prefix}-images-idx3-ubyte.gz", folder / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (img_path, lbl_path):
        _verify(path)
    images = read_idx(img_path, IMAGES_MAGIC, max_items=ITEMS[prefix])
    labels = read_idx(lbl_path, LABELS_MAGIC, max_items=ITEMS[prefix])
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


def _same(images: np.ndarray) -> np.ndarray:
    return images  # read_idx's arrays are already the caller's own (writable, not views of shared bytes)


def _where_to_put(problem: str) -> str:
    return (
        f"{problem}. Put the four MNIST files ({', '.join(FILES)}) in a folder and pass it as data_dir "
        f"(--data-dir), or set ${ENV_VAR} to a folder holding mnist/ with them, or put them in "
        f"{CACHE_DIR.expanduser()}"
    )


# ---------------------------------------------------------------------------------------------------------------
# download


class _MirrorFailed(Exception):
    """This mirror did not deliver the file (the message says why); the next one is tried."""


def _mirror_list(mirrors: Optional[Sequence[str]]) -> Sequence[str]:
    if mirrors is None:
        return MIRRORS
    if isinstance(mirrors, (str, bytes)):
        raise TypeError(f"mnist: mirrors must be a list of base URLs, got the string {mirrors!r} (a string would be "
                        f"tried character by character): write mirrors=[{mirrors!r}]")
    if not isinstance(mirrors, Iterable):
        raise TypeError(f"mnist: mirrors must be a list of base URLs, got {type(mirrors).__name__}")
    mirrors = list(mirrors)
    for m in mirrors:
        if not isinstance(m, str):
            raise TypeError(f"mnist: mirrors must be a list of base URLs (strings), got {m!r} in it")
    return mirrors


def _download_all(names: list[str], folder: Path, mirrors: Sequence[str], progress: bool, timeout: float,
                  min_rate: float) -> None:
    """Download `names` into `folder`, creating it if needed; if any download fails, the folders created here are
    removed again (when nothing was placed in them), so that a mistyped path leaves nothing behind."""
    created = _make_folder(folder)
    if progress:
        sys.stderr.write(f"MNIST: downloading {len(names)} missing file(s) into {folder}"
                         f"{' (a new folder)' if created else ''}\n")
    try:
        for name in names:
            _download(name, folder, mirrors, progress, timeout, min_rate)
    except BaseException:
        for d in reversed(created):  # deepest first; rmdir refuses a folder that is not empty
            try:
                d.rmdir()
            except OSError:
                break
        raise


def _make_folder(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; returns the folders created, outermost first."""
    missing = []
    p = folder
    while not p.exists() and p.parent != p:
        missing.append(p)
        p = p.parent
    created: list[Path] = []
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            for c in reversed(created):
                c.rmdir()
            raise _unwritable(folder, e) from e
        created.append(d)
    return created


def _unwritable(folder: Path, e: OSError) -> PermissionError:
    return PermissionError(
        f"cannot write the MNIST files into {folder} ({e.strerror or e}). Choose a folder you can write to "
        f"(--data-dir / ${ENV_VAR}), or put the four files ({', '.join(FILES)}) there yourself"
    )


def _download(name: str, folder: Path, mirrors: Sequence[str], progress: bool, timeout: float,
              min_rate: float) -> None:
    """Fetch `name` into `folder` from the first mirror that serves the right bytes; atomic (temp file + replace)."""
    failures = []
    for i, base in enumerate(mirrors):
        url = base.rstrip("/") + "/" + name
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        except OSError as e:  # a read-only folder: no mirror can help
            raise _unwritable(folder, e) from e
        try:
            with os.fdopen(fd, "wb") as out:
                digest = _fetch(url, out, SIZES.get(name), progress, timeout, min_rate)
            if digest == SHA256[name]:
                os.replace(tmp, folder / name)  # only a verified file ever gets the real name
                return
            problem = f"SHA-256 mismatch (got {digest})"
        except _MirrorFailed as e:
            problem = str(e)
        except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError, timeouts, resets; IncompleteRead
            problem = str(e) or type(e).__name__
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        failures.append(f"{url}: {problem}")
        if progress:
            then = "trying the next mirror" if i + 1 < len(mirrors) else "no more mirrors"
            sys.stderr.write(f"{url}: {problem}; {then}\n")
    detail = "; ".join(failures) or "no mirrors given"
    raise FileNotFoundError(_where_to_put(f"could not download {name} into {folder} ({detail})"))


def _fetch(url: str, out: Any, size: Optional[int], progress: bool, timeout: float, min_rate: float) -> str:
    """Stream `url` into the open file `out`, showing progress; returns the SHA-256 of the bytes.

    Never writes more than `size` bytes (nor more than the server's Content-Length); a watchdog ends the transfer
    when it is too slow (see `_Watchdog`)."""
    h = hashlib.sha256()
    with _Watchdog(timeout, min_rate) as watchdog:
        try:
            # The socket's own timeout (per connect or read) is only a backstop: the watchdog acts first.
            with _opener(watchdog).open(url, timeout=2 * timeout) as response:
                watchdog.responded()
                announced = (response.headers.get("Content-Length") or "").strip()
                announced = int(announced) if announced.isdigit() else None
                if size is not None and announced is not None and announced != size:
                    raise _MirrorFailed(f"the server announces {announced:,} bytes (Content-Length), but the file "
                                        f"has {size:,}: not the MNIST file")
                limit = size if size is not None else announced
                read = getattr(response, "read1", response.read)  # read1: returns what has arrived, no waiting
                bar = _DownloadProgress(url, limit, progress)
                done, complete = 0, False
                try:
                    while True:
                        chunk = read(CHUNK if limit is None else min(CHUNK, limit + 1 - done))
                        if not chunk:
                            break
                        done += len(chunk)
                        if limit is not None and done > limit:
                            raise _MirrorFailed(f"the server sends more than the file's {limit:,} bytes: stopped "
                                                "there (not the MNIST file)")
                        out.write(chunk)
                        h.update(chunk)
                        watchdog.received = done
                        bar.update(len(chunk))
                    if limit is not None and done < limit:
                        raise _MirrorFailed(f"the connection ended after {done:,} of {limit:,} bytes")
                    complete = True
                finally:
                    bar.close(complete)
        except (OSError, http.client.HTTPException, _MirrorFailed) as e:
            if watchdog.reason is not None:  # the watchdog cut the connection: say why, not how it ended
                raise _MirrorFailed(watchdog.reason) from e
            raise
    return h.hexdigest()


class _Watchdog:
    """Ends a transfer that is too slow, from a thread of its own: no response (status and headers) within `timeout`
    seconds, or fewer than `min_rate` bytes per second over any `timeout`-second stretch of the body. A socket
    timeout alone cannot do this: it bounds each read, and a server trickling one byte a second satisfies every read.
    It shuts the socket down, which wakes the blocked read; `reason` then says why."""

    def __init__(self, timeout: float, min_rate: float) -> None:
        self.timeout, self.min_rate = timeout, min_rate
        self.received = 0  # body bytes so far (set by the reading thread)
        self.reason: Optional[str] = None
        self._sock: Optional[socket.socket] = None
        self._responded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mnist-download-watchdog", daemon=True)

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def attach(self, sock: socket.socket) -> None:
        self._sock = sock  # a redirect opens a new connection: the newest is the one being read
        if self.reason is not None:
            self._shut()

    def responded(self) -> None:
        self._responded = True

    def _watch(self) -> None:
        tick = min(max(self.timeout / 20, 0.01), 0.5)
        start = time.monotonic()
        window_start, window_received = start, 0
        while not self._stop.wait(tick):
            now = time.monotonic()
            if not self._responded:
                if now - start >= self.timeout:
                    self.reason = f"no response within {self.timeout:g} s"
                    break
                window_start = now
                continue
            if now - window_start < self.timeout:
                continue
            got, seconds = self.received - window_received, now - window_start
            if got < self.min_rate * seconds:
                self.reason = (f"too slow: {got:,} bytes in the last {seconds:.1f} s, less than the minimum of "
                               f"{self.min_rate:,.0f} bytes/s (a stalled or throttled mirror)")
                break
            window_start, window_received = now, self.received
        if self.reason is not None:
            self._shut()

    def _shut(self) -> None:
        sock = self._sock
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: an SSL socket's would drop its
            except OSError:                                   # TLS state under the reading thread
                pass


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """urllib's opener, with connections that hand their socket to `watchdog` once connected."""

    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            watchdog.attach(self.sock)

    class SecureConnection(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            watchdog.attach(self.sock)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Connection, req)

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(SecureConnection, req, context=self._context)

    return urllib.request.build_opener(Handler, SecureHandler)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _DownloadProgress:
    """Download progress on stderr: a bar (tqdm if installed, else one redrawn line) on a terminal; otherwise one line
    when the download starts and one when it is complete, so a log file gets no redrawn frames."""

    def __init__(self, url: str, total: Optional[int], enabled: bool) -> None:
        self.url, self.total, self.enabled = url, total, enabled
        self.done, self.shown, self.start = 0, -1, time.monotonic()
        self.live = enabled and _isatty(sys.stderr)
        self.bar = None
        if self.live:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], file=sys.stderr,
                                disable=None)
        elif enabled:
            sys.stderr.write(f"downloading {url}" + (f" ({total:,} bytes)" if total else "") + "\n")

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.live:
            percent = 100 * self.done // self.total if self.total else self.done >> 20
            if percent != self.shown:  # redraw only when the figure changes
                self.shown = percent
                what = f"{percent}%" if self.total else f"{self.done >> 20} MiB"
                sys.stderr.write(f"\rdownloading {self.url}: {what}")
                sys.stderr.flush()

    def close(self, complete: bool) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.live:
            sys.stderr.write("\n")
        elif self.enabled and complete:
            sys.stderr.write(f"{self.url}: 100% ({self.done:,} bytes in {time.monotonic() - self.start:.1f} s)\n")


# ---------------------------------------------------------------------------------------------------------------
# MNIST from Kaggle's CSV layout

_INTEGER = re.compile(r"[+-]?[0-9]+")


def mnist_csv(path: PathLike, *, normalize: bool = False, flatten: bool = False
              ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """MNIST in Kaggle's CSV layout: a header `label,pixel0,...,pixel783` then one image per row.

    Returns `(images, labels)`: images as in `mnist` (uint8 (N, 28, 28); `normalize`, `flatten` as there) and
    int64 labels, or `None` for labels when the file has no `label` column (Kaggle's test.csv). The file is UTF-8
    (a byte-order mark is allowed); empty lines are skipped, every other line is a row (a line starting with `#` is
    not a comment: it is a bad row). Raises `DatasetError` naming the file and the line (counted from 1, the header
    being line 1) for text that is not UTF-8, a wrong header, no rows, a ragged or non-numeric row, or a value out
    of range.
    """
    path = Path(path)
    pixels = [f"pixel{i}" for i in range(ROWS * COLS)]
    try:
        with open(path, encoding="utf-8-sig") as f:  # -sig: a byte-order mark (Excel writes one) is skipped
            header = f.readline().strip().split(",")
            if header not in (["label", *pixels], pixels):
                shown = ",".join(header[:3]) + (",..." if len(header) > 3 else "")
                raise DatasetError(
                    f"{path}: header is {shown!r} ({len(header)} columns), expected 'label,pixel0,...,pixel783' "
                    "(785 columns) or 'pixel0,...,pixel783' (784 columns)"
                )
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
                # loadtxt is C code: no per-row Python. comments=None: a '#' line is data, not silently dropped.
                table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2, comments=None)
    except UnicodeDecodeError as e:
        line, column = _undecodable_line(path)
        raise DatasetError(f"{path}, line {line}: not UTF-8 text (byte {column} of the line: {e.reason}); save the "
                           "file as UTF-8") from None
    except DatasetError:
        raise
    except ValueError as e:  # loadtxt's message counts rows its own way: find the line ourselves
        raise DatasetError(_bad_line(path, len(header)) or f"{path}: {e}") from e
    if len(table) == 0:
        raise DatasetError(f"{path}: no rows after the header: the file holds no images")
    if table.shape[1] != len(header):
        raise DatasetError(_bad_line(path, len(header))
                           or f"{path}: rows have {table.shape[1]} columns but the header has {len(header)}")
    labels = None
    if header[0] == "label":
        labels, table = table[:, 0], table[:, 1:]
        _check_range(path, labels.reshape(-1, 1), 9, "labels")
    _check_range(path, table, 255, "pixels")
    images = table.astype(np.uint8).reshape(-1, ROWS, COLS)
    if normalize:
        images = _to_unit_float(images)
    if flatten:
        images = images.reshape(len(images), -1)
    return images, labels


def _check_range(path: Path, table: np.ndarray, top: int, what: str) -> None:
    if table.min() >= 0 and table.max() <= top:  # the common case, without temporaries of the table's size
        return
    row = int(np.flatnonzero(((table < 0) | (table > top)).any(axis=1))[0])
    value = table[row][(table[row] < 0) | (table[row] > top)][0]
    raise DatasetError(f"{path}, line {_line_of_row(path, row)}: {what} must be 0..{top}, found {value}")


def _data_lines(path: Path) -> Iterable[tuple[int, str]]:
    """(line number, text) of each row after the header, as loadtxt sees them (empty lines skipped)."""
    with open(path, encoding="utf-8-sig") as f:
        next(f, None)
        for number, line in enumerate(f, start=2):
            line = line.rstrip("\r\n")
            if line:
                yield number, line


def _bad_line(path: Path, columns: int) -> Optional[str]:
    """The first row loadtxt would reject, as 'path, line N: what is wrong' (None if none is found)."""
    for number, line in _data_lines(path):
        fields = line.split(",")
        if len(fields) != columns:
            return (f"{path}, line {number}: {len(fields)} values where the header has {columns} columns (the "
                    f"number of columns changed from {columns} to {len(fields)})")
        for column, field in enumerate(fields, start=1):
            if not _INTEGER.fullmatch(field.strip()):
                hint = " ('#' does not start a comment in this format)" if line.startswith("#") else ""
                return f"{path}, line {number}, column {column}: could not convert string {field!r} to an integer{hint}"
    return None


def _line_of_row(path: Path, row: int) -> int:
    for i, (number, _) in enumerate(_data_lines(path)):
        if i == row:
            return number
    raise AssertionError(f"{path}: row {row} not found")  # loadtxt read it: unreachable


def _undecodable_line(path: Path) -> tuple[int, int]:
    """(line number, byte within the line, both from 1) of the first bytes that are not UTF-8."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return number, e.start + 1
    return 0, 0  # the decoder failed on the file but on no line: unreachable


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
