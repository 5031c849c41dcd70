"""Faults in the data path (issue 16): mirrors that trickle, stall or send too much (local HTTP servers on 127.0.0.1
only, each bounded in time), data folders that are wrong, gzip bombs, malformed CSV files, and uint64 labels."""
import functools
import gzip
import hashlib
import http.server
import os
import socket
import threading
import time
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

from nn import datasets
from nn.data import DataLoader
from nn.datasets import FILES, DatasetError, mnist, mnist_csv, mnist_dir, read_idx

LAST = "t10k-labels-idx1-ubyte.gz"  # the smallest file (4,542 bytes): the one the download tests fetch
SERVER_LIFETIME = 10.0  # seconds: no test server sends for longer than this, whatever the client does


# ------------------------------------------------------------------------------------------------ local servers


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with `self.server.respond(self)`."""

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        try:
            self.server.respond(self)
        except OSError:  # the client hung up: that is what the tests expect of it
            pass
        finally:
            self.server.done.set()

    def log_message(self, *args):
        pass


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def servers():
    """servers.start(respond) -> base URL of a server on 127.0.0.1 answering each GET with respond(handler);
    servers.files(folder) -> one serving that folder. All are shut down after the test."""
    started = []

    def launch(handler):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.done = threading.Event()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    class Servers:
        @staticmethod
        def start(respond):
            server = launch(_Handler)
            server.respond = respond
            return f"http://127.0.0.1:{server.server_address[1]}/", server

        @staticmethod
        def files(folder):
            server = launch(functools.partial(_QuietFiles, directory=str(folder)))
            return f"http://127.0.0.1:{server.server_address[1]}/"

    yield Servers
    for server in started:
        server.shutdown()
        server.server_close()


def all_but_last(folder: Path, mnist_dir: Path) -> Path:
    """A folder holding (links to) the real files except the smallest, which a download must then fetch."""
    folder.mkdir(parents=True)
    for name in FILES:
        if name != LAST:
            (folder / name).symlink_to(mnist_dir / name)
    return folder


def dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


# ------------------------------------------------------------------------------------------------ slow mirrors


def test_a_trickling_mirror_is_given_up_for_the_next(tmp_path, mnist_dir, servers, capsys):
    def trickle(h):  # the right headers, then one byte every 50 ms: each read succeeds, the whole never ends
        h.send_response(200)
        h.send_header("Content-Length", str(datasets.SIZES[LAST]))
        h.end_headers()
        stop = time.monotonic() + SERVER_LIFETIME
        while time.monotonic() < stop:
            h.wfile.write(b"\0")
            time.sleep(0.05)

    slow, _ = servers.start(trickle)
    folder = all_but_last(tmp_path / "data", mnist_dir)
    start = time.monotonic()
    assert len(mnist(folder, mirrors=[slow, servers.files(mnist_dir)], timeout=0.5, min_rate=1000).y_test) == 10000
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err
    assert f"downloading {slow}{LAST} (4,542 bytes)" in err  # progress was shown, then why the mirror was left
    assert f"{slow}{LAST}: too slow:" in err and "less than the minimum of 1,000 bytes/s" in err
    assert "trying the next mirror" in err
    assert (folder / LAST).read_bytes() == (mnist_dir / LAST).read_bytes()


def test_a_mirror_trickling_its_headers_is_given_up(tmp_path, mnist_dir, servers, capsys):
    def slow_headers(h):  # a status line, then a header one byte at a time
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        stop = time.monotonic() + SERVER_LIFETIME
        while time.monotonic() < stop:
            h.wfile.write(b"X")
            time.sleep(0.05)

    slow, _ = servers.start(slow_headers)
    folder = all_but_last(tmp_path / "data", mnist_dir)
    start = time.monotonic()
    mnist(folder, mirrors=[slow, servers.files(mnist_dir)], timeout=0.5, min_rate=1000)
    assert time.monotonic() - start < 5
    assert f"{slow}{LAST}: no response within 0.5 s; trying the next mirror" in capsys.readouterr().err


def test_only_slow_mirrors_fail_in_bounded_time_leaving_nothing(tmp_path, servers):
    def silent(h):  # accepts, then says nothing
        time.sleep(SERVER_LIFETIME)

    slow, _ = servers.start(silent)
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match="no response within 0.3 s"):
        mnist(tmp_path / "root", mirrors=[slow], timeout=0.3, progress=False)
    assert time.monotonic() - start < 5
    assert not (tmp_path / "root").exists()


def test_download_settings_are_checked():
    with pytest.raises(ValueError, match="timeout must be > 0"):
        mnist("/nonexistent-data-root", mirrors=[dead_url()], timeout=0)


# ------------------------------------------------------------------------------------------------ too many bytes


def test_a_mirror_streaming_without_end_is_cut_at_the_known_size(tmp_path, mnist_dir, servers):
    sent = []

    def zeros(h):  # no Content-Length: the body ends when the server closes, here after 64 MB (or never, in life)
        h.send_response(200)
        h.end_headers()
        chunk, total = bytes(1 << 16), 0
        try:
            while total < 64 << 20:
                h.wfile.write(chunk)
                total += len(chunk)
        finally:
            sent.append(total)

    url, server = servers.start(zeros)
    folder = all_but_last(tmp_path / "data", mnist_dir)
    with pytest.raises(FileNotFoundError, match="sends more than the file's 4,542 bytes: stopped there"):
        mnist(folder, mirrors=[url], progress=False)
    assert server.done.wait(SERVER_LIFETIME)
    assert sent[0] < 32 << 20  # the client hung up after 4,543 bytes (the rest filled socket buffers at most)
    assert sorted(p.name for p in folder.iterdir()) == sorted(set(FILES) - {LAST})  # no partial file


def test_a_content_length_other_than_the_known_size_is_refused_unread(tmp_path, mnist_dir, servers):
    sent = []

    def liar(h):
        h.send_response(200)
        h.send_header("Content-Length", str(10**9))
        h.end_headers()
        chunk, total = bytes(1 << 16), 0
        try:
            while total < 64 << 20:
                h.wfile.write(chunk)
                total += len(chunk)
        finally:
            sent.append(total)

    url, server = servers.start(liar)
    folder = all_but_last(tmp_path / "data", mnist_dir)
    with pytest.raises(FileNotFoundError, match=r"announces 1,000,000,000 bytes \(Content-Length\), but the file "
                                                r"has 4,542"):
        mnist(folder, mirrors=[url], progress=False)
    assert server.done.wait(SERVER_LIFETIME)
    assert sent[0] < 32 << 20


# ------------------------------------------------------------------------------------------------ the data folder


def test_a_failed_download_leaves_no_new_folders_and_names_the_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYGRAD_NP_DATA", "typo/shared/data")  # relative, as a README line might suggest
    assert mnist_dir() == tmp_path / "typo" / "shared" / "data" / "mnist"  # absolute, whatever the caller's cwd
    with pytest.raises(FileNotFoundError) as info:
        mnist(mirrors=[dead_url()], progress=False)
    assert f"into {tmp_path / 'typo' / 'shared' / 'data' / 'mnist'} (" in str(info.value)
    assert not (tmp_path / "typo").exists()  # none of the four folders it made for the download is left
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(FileNotFoundError):
        mnist(existing, mirrors=[dead_url()], progress=False)
    assert existing.is_dir() and not list(existing.iterdir())  # a folder that was there before stays


def test_a_file_given_as_the_folder_is_refused_clearly(tmp_path, monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    for download in (True, False):
        with pytest.raises(NotADirectoryError, match=f"{a_file} is a file, not a folder") as info:
            mnist(a_file, mirrors=[dead_url()], download=download, progress=False)
        assert "--data-dir" in str(info.value)
    monkeypatch.setenv("TINYGRAD_NP_DATA", str(a_file / "deeper"))
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        mnist(mirrors=[dead_url()], progress=False)
    assert a_file.read_text() == "not a folder"


def test_a_folder_that_cannot_be_written_is_reported_clearly(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):  # what the OS says to a non-root user in a read-only folder
        raise PermissionError(13, "Permission denied")

    folder = tmp_path / "read-only"
    folder.mkdir()
    with monkeypatch.context() as m:
        m.setattr(datasets.tempfile, "mkstemp", refuse)
        with pytest.raises(PermissionError, match=f"cannot write the MNIST files into {folder / 'mnist'}") as info:
            mnist(folder, mirrors=[dead_url()], progress=False)
    assert "Permission denied" in str(info.value) and "--data-dir" in str(info.value)
    assert not (folder / "mnist").exists()
    with monkeypatch.context() as m:  # a new folder that cannot be made
        m.setattr(Path, "mkdir", refuse)
        with pytest.raises(PermissionError, match=f"cannot write the MNIST files into {tmp_path / 'new' / 'mnist'}"):
            mnist(tmp_path / "new", mirrors=[dead_url()], progress=False)
    if os.geteuid() != 0:  # root writes anywhere: then only the simulated refusals above apply
        folder.chmod(0o555)
        try:
            with pytest.raises(PermissionError, match="cannot write the MNIST files"):
                mnist(folder, mirrors=[dead_url()], progress=False)
        finally:
            folder.chmod(0o755)


def test_a_home_of_a_user_that_does_not_exist_is_reported_clearly(monkeypatch):
    with pytest.raises(FileNotFoundError, match="'~nosuchuser_tgnp' names no user on this machine"):
        mnist("~nosuchuser_tgnp/data", mirrors=[dead_url()], progress=False)
    monkeypatch.setenv("TINYGRAD_NP_DATA", "~nosuchuser_tgnp")
    with pytest.raises(FileNotFoundError, match=r"\$TINYGRAD_NP_DATA is '~nosuchuser_tgnp'"):
        mnist_dir()


def test_mirrors_given_as_one_string_is_refused(tmp_path):
    with pytest.raises(TypeError, match=r"got the string 'http://127.0.0.1:1/'.*mirrors=\['http://127.0.0.1:1/'\]"):
        mnist(tmp_path, mirrors="http://127.0.0.1:1/", progress=False)
    with pytest.raises(TypeError, match="strings"):
        mnist(tmp_path, mirrors=[b"http://127.0.0.1:1/"], progress=False)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------ gzip bombs


def gzip_of(header: bytes, zero_megabytes: int) -> bytes:
    co = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    parts = [co.compress(header)] + [co.compress(bytes(1 << 20)) for _ in range(zero_megabytes)]
    return b"".join(parts + [co.flush()])


def peak_memory(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_gzip_bomb_costs_no_more_memory_than_its_header_admits(tmp_path):
    bomb = tmp_path / "bomb-labels.gz"  # 64 KB that inflate to 64 MB, behind a header claiming 10 labels
    bomb.write_bytes(gzip_of((2049).to_bytes(4, "big") + (10).to_bytes(4, "big"), 64))

    def read():
        with pytest.raises(DatasetError, match="trailing data"):
            read_idx(bomb, 2049)

    assert peak_memory(read) < 8 << 20  # the whole decompressed file (as before) would be 64 MB and more


def test_an_idx_header_claiming_too_much_is_refused_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"  # claims 70,000 images; MNIST's largest file holds 60,000
    path.write_bytes(gzip_of(b"".join(n.to_bytes(4, "big") for n in (2051, 70_000, 28, 28)), 1))
    with pytest.raises(DatasetError, match="header claims 70,000 items, but this file holds at most 60,000"):
        read_idx(path, 2051, max_items=60_000)
    huge = tmp_path / "huge.gz"  # 10^9 labels claimed by a file of a few hundred bytes: impossible, not allocated
    huge.write_bytes(gzip.compress((2049).to_bytes(4, "big") + (10**9).to_bytes(4, "big") + bytes(100)))

    def read():
        with pytest.raises(DatasetError, match=r"\(1,000,000,000 bytes\), more than a \d+-byte file can hold"):
            read_idx(huge, 2049)

    assert peak_memory(read) < 8 << 20


def test_mnist_bounds_the_item_counts_by_the_known_sizes(tmp_path, monkeypatch):
    images = b"".join(n.to_bytes(4, "big") for n in (2051, 10_001, 28, 28)) + bytes(10_001 * 784)
    labels = (2049).to_bytes(4, "big") + (10_001).to_bytes(4, "big") + bytes(10_001)
    rng = np.random.default_rng(0)
    payloads = {"train-images-idx3-ubyte.gz": b"".join(n.to_bytes(4, "big") for n in (2051, 2, 28, 28))
                + rng.integers(0, 256, 2 * 784, dtype=np.uint8).tobytes(),
                "train-labels-idx1-ubyte.gz": (2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes(2),
                "t10k-images-idx3-ubyte.gz": images, "t10k-labels-idx1-ubyte.gz": labels}
    for name, payload in payloads.items():
        (tmp_path / name).write_bytes(gzip.compress(payload, 1))
        monkeypatch.setitem(datasets.SHA256, name, hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz: header claims 10,001 items, but this file "
                                           "holds at most 10,000"):
        mnist(tmp_path, download=False)


# ------------------------------------------------------------------------------------------------ CSV


HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))


def row(label=3, value=0) -> str:
    return f"{label}," + ",".join([str(value)] * 784)


def write(path: Path, lines, encoding="utf-8") -> Path:
    path.write_bytes("".join(line + "\n" for line in lines).encode(encoding))
    return path


def test_csv_that_is_not_utf8_names_the_file_and_line(tmp_path):
    body = tmp_path / "latin1-row.csv"
    body.write_bytes((HEADER + "\n" + row() + "\n").encode() + b"\xe9" + row().encode()[1:] + b"\n")
    with pytest.raises(DatasetError, match=r"latin1-row.csv, line 3: not UTF-8 text .*save the file as UTF-8"):
        mnist_csv(body)
    header = write(tmp_path / "latin1-header.csv", ["label\xe9," + HEADER[6:], row()], encoding="latin-1")
    with pytest.raises(DatasetError, match=r"latin1-header.csv, line 1: not UTF-8 text \(byte 6 of the line"):
        mnist_csv(header)


def test_csv_errors_give_one_based_line_numbers_of_the_file(tmp_path):
    cases = {  # line 1 is the header, line 2 the first row
        "ragged": ([row(), row(), "1,2,3"], "line 4: 3 values where the header has 785 columns"),
        "text": ([row(), row().replace("3,0", "3,x", 1)], "line 3, column 2: could not convert string 'x'"),
        "first": (["7", row()], "line 2: 1 values where the header has 785 columns"),
        "label": ([row(), row(), row(label=12)], "line 4: labels must be 0..9, found 12"),
        "pixel": ([row(), row(value=300)], "line 3: pixels must be 0..255, found 300"),
        "after an empty line": ([row(), "", row(value=-1)], "line 4: pixels must be 0..255, found -1"),
    }
    for case, (lines, complaint) in cases.items():
        path = write(tmp_path / f"{case}.csv", [HEADER, *lines])
        with pytest.raises(DatasetError, match=complaint) as info:
            mnist_csv(path)
        assert str(info.value).startswith(f"{path}, line "), case


def test_csv_comment_lines_are_not_silently_dropped(tmp_path):
    path = write(tmp_path / "hash.csv", [HEADER, row(), "#" + row(), row()])
    with pytest.raises(DatasetError, match=r"line 3, column 1: could not convert string '#3'.*'#' does not start "
                                           "a comment"):
        mnist_csv(path)


def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    path = write(tmp_path / "excel.csv", [HEADER, row(label=4, value=9), row(label=5)], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    x, y = mnist_csv(path)
    assert x.shape == (2, 28, 28) and y.tolist() == [4, 5] and x[0].max() == 9


def test_csv_with_a_header_only_is_an_error_without_a_warning(tmp_path):
    path = write(tmp_path / "empty.csv", [HEADER])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy warning would fail here rather than pass unnoticed
        with pytest.raises(DatasetError, match="empty.csv: no rows after the header"):
            mnist_csv(path)


# ------------------------------------------------------------------------------------------------ DataLoader


def test_uint64_labels_beyond_int64_are_refused_not_wrapped():
    with pytest.raises(ValueError, match=r"array 1 \(uint64\) holds 9223372036854775808, beyond int64"):
        DataLoader(np.zeros((2, 3)), np.array([1, 2**63], dtype=np.uint64), batch_size=2)
    largest = np.array([0, 2**63 - 1], dtype=np.uint64)
    x, y = next(iter(DataLoader(np.zeros((2, 3)), largest, batch_size=2)))
    assert y.dtype == np.int64 and y.numpy().tolist() == [0, 2**63 - 1]
