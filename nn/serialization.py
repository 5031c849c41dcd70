"""`save` / `load`: state dicts to and from `.npz` files, written atomically and read without pickle.

A nested state — `{"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}` — is stored as one
array per leaf under its dotted path ("model.layers.0.weight", "optimizer.state.0.exp_avg", "epoch"). Because a
key may itself contain dots, the nesting is recorded too, as JSON text in one extra array "__structure__"
(written only when there is nesting), and `load` rebuilds exactly the dicts and lists that were saved.
Python numbers, bools and tuples/lists of numbers are stored as arrays (a scalar as a 0-d array) and come back
as arrays; dict keys come back as strings. Nesting is limited to `MAX_DEPTH` levels.

Errors. Both functions name the file and the problem; the exception type says whose problem it is:

* `OSError` subclasses, as `open()` raises them, when the operating system refuses: `FileNotFoundError` (no such
  file, or for `save` no such folder), `PermissionError`, `IsADirectoryError` (the path is a folder), and a plain
  `OSError` for anything else (disk full, name too long, ...). Their `errno` is the system's.
* `ValueError` from `load` for every problem with the file's content — not a zip archive, truncated, damaged (a
  CRC, size or directory mismatch), an array of a kind `save` never writes (an object array would need pickle,
  which `load` never uses), sizes that disagree with the data present, a broken or too deeply nested structure.
  Whatever the damage, `load` returns everything the file holds or raises; it never returns part of a file.
* `ValueError` for an empty path; `TypeError` for something that is not a path, or (`save`) a value that
  cannot be stored.

Writing. `save` writes a temporary file in the target's folder, named `.<name>.<host>-<pid>-<n>.nnsave-tmp`
(the name shortened with a hash when needed, so that it fits the filesystem's name limit), then renames it over
the target (`os.replace`): the target is always either the old file or the complete new one. A new file gets
the permissions `open()` would give it (0666 less the umask); a replaced file keeps its permissions. If the save
fails, the temporary file is removed; a SIGTERM that arrives during the save (while SIGTERM has its default
action, in the main thread) removes it before the process ends as it would have. A process killed outright
(SIGKILL, power loss) can leave one behind: the next save to the same path removes those of its own naming
whose process is no longer running on this host.
"""
from __future__ import annotations

import ast
import errno
import hashlib
import itertools
import json
import math
import os
import re
import signal
import socket
import stat
import struct
import threading
import zipfile
from contextlib import suppress
from pathlib import Path
from typing import Any, Union

import numpy as np

from tinygrad_np import Tensor

PathLike = Union[str, os.PathLike]
STRUCTURE_KEY = "__structure__"
MAX_DEPTH = 100  # nesting levels that save writes and load accepts
_STORABLE_KINDS = "biufcSU"  # bool, ints, floats, complex, bytes, str: the dtypes save writes
_RESERVED_KEYS = ("file", "allow_pickle")  # np.savez's own parameters: cannot be array names at the top level


def _is_container(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value))


def _flatten(value: Any, key: str, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """Store the leaves of `value` in `arrays` under dotted keys; return its skeleton (leaves → their keys)."""
    if _is_container(value) and depth >= MAX_DEPTH:
        raise ValueError(f"nn.save: {key!r} is nested more than {MAX_DEPTH} levels deep (does a dict contain "
                         "itself?)")
    if isinstance(value, dict):
        skeleton = {}
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"nn.save: keys must be strings or ints, got {k!r} under {key or 'the top level'!r}")
            skeleton[str(k)] = _flatten(v, f"{key}.{k}" if key else str(k), arrays, depth + 1)
        return skeleton
    if _is_container(value):
        return [_flatten(v, f"{key}.{i}", arrays, depth + 1) for i, v in enumerate(value)]
    if key in arrays or key == STRUCTURE_KEY:
        raise ValueError(f"nn.save: two entries would both be stored under the key {key!r}")
    if key in _RESERVED_KEYS:
        raise ValueError(f"nn.save: a top-level entry cannot be named {key!r} (NumPy's savez reserves the name); "
                         "rename it or nest it in a dict")
    if hasattr(value, "state_dict") and not isinstance(value, Tensor):
        raise TypeError(f"nn.save: {key!r} is a {type(value).__name__}; save its state_dict() instead")
    arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    if arr.dtype.kind not in _STORABLE_KINDS:
        raise TypeError(f"nn.save: {key!r} holds a {type(value).__name__}, which cannot be stored without pickle")
    arrays[key] = arr
    return key


def _as_path(path: Any, who: str) -> Path:
    try:
        text = os.fspath(path)
    except TypeError:
        raise TypeError(f"{who}: expected a path (a str or os.PathLike), got {type(path).__name__}") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text == "":
        raise ValueError(f"{who}: the path is empty; give a file name such as 'model.npz'")
    if "\0" in text:
        raise ValueError(f"{who}: the path {text!r} contains a NUL character")
    return Path(text)


def _raise_os_error(e: OSError, message: str) -> None:
    """Raise `e` again as the same type with the same errno, but with `message` (which names the path) as its
    text; an error of a type that cannot be rebuilt that way is raised unchanged."""
    if type(e).__module__ != "builtins":
        raise e
    raise (type(e)(e.errno, message) if e.errno is not None else type(e)(message)) from e


# ------------------------------------------------------------------------------------------------------- save

_TMP_SUFFIX = ".nnsave-tmp"
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]
_counter = itertools.count()
_RESERVE = len(f"...{_HOST}-{'9' * 10}-{'9' * 10}{_TMP_SUFFIX}")  # the temporary name, less the target's name


def _name_max(folder: Path) -> int:
    try:
        n = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        n = -1
    return n if n > 0 else 255


def _temp_prefix(name: str, name_max: int) -> str:
    """`.<name>.<host>-`, with `name` cut and followed by a hash of it if the temporary name would be too long."""
    budget = name_max - _RESERVE
    if len(os.fsencode(name)) > budget:
        digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
        while name and len(os.fsencode(name)) > budget - len(digest) - 1:
            name = name[:-1]
        name = f"{name}~{digest}"
    return f".{name}.{_HOST}-"


def _pid_alive(pid: int) -> bool:
    if os.name != "posix" or not 0 < pid < 2**31:
        return True  # no safe check (on Windows, os.kill would kill it): assume it is running
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. PermissionError: it exists, and belongs to someone else
    return True


def _remove_stale_temps(folder: Path, prefix: str) -> None:
    """Remove temporary files of this naming, from this host, whose process has died (killed mid-save)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)):
            continue
        m = re.fullmatch(r"(\d+)-(\d+)", name[len(prefix):-len(_TMP_SUFFIX)])
        if m and int(m[1]) != os.getpid() and not _pid_alive(int(m[1])):
            with suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)


class _RemoveOnSigterm:
    """While active (in the main thread, if SIGTERM has its default action), a SIGTERM first removes the file
    at `.path`, then ends the process by SIGTERM as the default action would. A Python handler the program set
    is left alone: if it raises (e.g. SystemExit), save's own cleanup removes the file; if it does not, the save
    goes on. Ignored SIGTERM stays ignored."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.active = False

    def __enter__(self) -> _RemoveOnSigterm:
        if os.name == "posix" and threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, self._handle)
                self.active = True
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.path is not None:
            with suppress(OSError):
                os.unlink(self.path)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def __exit__(self, *exc: Any) -> None:
        if self.active:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def save(obj: dict[str, Any], path: PathLike) -> None:
    """Write `obj` — a state dict, or a dict nesting several — to the `.npz` file `path`, atomically.

    The data goes to a temporary file in the same folder, which then replaces `path` in one step (`os.replace`):
    a crash or an error midway leaves any previous file at `path` intact. See the module docstring for the
    temporary file's name, permissions and errors.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"nn.save: expected a dict (e.g. model.state_dict()), got {type(obj).__name__}")
    path = _as_path(path, "nn.save")
    arrays: dict[str, np.ndarray] = {}
    skeleton = _flatten(obj, "", arrays)
    if any(isinstance(v, (dict, list)) for v in skeleton.values()):
        arrays[STRUCTURE_KEY] = np.array(json.dumps(skeleton))
    folder = path.parent
    name_max = _name_max(folder)
    if len(os.fsencode(path.name)) > name_max:
        raise OSError(errno.ENAMETOOLONG, f"nn.save: cannot write {path}: its name is {len(os.fsencode(path.name))} "
                                          f"bytes long, and the filesystem allows at most {name_max}")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"nn.save: {path} is a directory; give a file path such as "
                                              f"{path / 'model.npz'}")
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode) & 0o777  # a replaced file keeps its permissions
    except OSError:
        mode = None
    prefix = _temp_prefix(path.name, name_max)
    _remove_stale_temps(folder, prefix)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    with _RemoveOnSigterm() as guard:
        fd, tmp = _create_temp(path, prefix, flags)
        guard.path = tmp
        try:
            with os.fdopen(fd, "wb") as f:
                if mode is not None and hasattr(os, "fchmod"):
                    with suppress(OSError):  # a filesystem without modes: the file keeps the default ones
                        os.fchmod(f.fileno(), mode)
                try:
                    np.savez(f, **arrays)
                    f.flush()
                    os.fsync(f.fileno())
                except OSError as e:
                    _raise_os_error(e, f"nn.save: cannot write {path}: {e.strerror or e}")
            try:
                os.replace(tmp, path)
            except OSError as e:
                _raise_os_error(e, f"nn.save: cannot replace {path}: {e.strerror or e}")
            guard.path = None
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise


def _create_temp(path: Path, prefix: str, flags: int) -> tuple[int, str]:
    """Create the temporary file for `path`: (descriptor, name)."""
    folder = path.parent
    for _ in range(100):  # a name left by a dead process with a reused pid is skipped
        tmp = str(folder / f"{prefix}{os.getpid()}-{next(_counter)}{_TMP_SUFFIX}")
        try:
            return os.open(tmp, flags, 0o666), tmp  # 0o666 less the umask, as open() does
        except FileExistsError:
            continue
        except FileNotFoundError as e:
            _raise_os_error(e, f"nn.save: cannot write {path}: the folder {folder} does not exist")
        except PermissionError as e:
            _raise_os_error(e, f"nn.save: cannot write {path}: permission denied to create a file in {folder}")
        except OSError as e:
            _raise_os_error(e, f"nn.save: cannot write {path}: {e.strerror or e}")
    raise FileExistsError(errno.EEXIST, f"nn.save: cannot write {path}: no free temporary file name in {folder}")


# ------------------------------------------------------------------------------------------------------- load

_CHUNK = 1 << 20  # array data is read in pieces of this many bytes (small pieces stay in cache)
_MAX_HEADER = 10000  # bytes in a .npy header (NumPy's own limit)
_MAX_DEFLATE_RATIO = 1032  # DEFLATE cannot expand its input more than this
_DESCR = re.compile(r"[<>|=][biufcSU][1-9][0-9]{0,8}")  # the dtypes np.save writes for the kinds save stores
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")


class _Corrupt(Exception):
    """What is wrong with the file's content (load turns it into a ValueError naming the file)."""


def _read_at(f: Any, offset: int, n: int, what: str) -> bytes:
    if offset < 0:
        raise _Corrupt(f"it places {what} before its start")
    f.seek(offset)
    data = f.read(n)
    if len(data) != n:
        raise _Corrupt(f"it ends inside {what} (truncated?)")
    return data


def _central_directory(f: Any, size: int) -> tuple[list[str], int]:
    """The member names the archive's end record and central directory list (checked against each other), and
    where the central directory starts."""
    tail_start = max(0, size - _EOCD.size - 0xFFFF)
    tail = _read_at(f, tail_start, size - tail_start, "its end record")
    i = tail.rfind(b"PK\x05\x06")
    while i >= 0 and not (i + _EOCD.size <= len(tail) and
                          struct.unpack_from("<H", tail, i + 20)[0] == len(tail) - i - _EOCD.size):
        i = tail.rfind(b"PK\x05\x06", 0, i)
    if i < 0:
        raise _Corrupt("its zip end record is missing (truncated?)")
    _, disk, cd_disk, n_here, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, i)
    cd_end = tail_start + i
    if cd_end >= _EOCD64_LOCATOR.size:
        sig, _, z64_offset, _ = _EOCD64_LOCATOR.unpack(_read_at(f, cd_end - 20, 20, "its zip64 locator"))
        if sig == b"PK\x06\x07":
            if z64_offset + _EOCD64.size > cd_end - 20:
                raise _Corrupt("its zip64 end record is out of place")
            z64 = _EOCD64.unpack(_read_at(f, z64_offset, _EOCD64.size, "its zip64 end record"))
            if z64[0] != b"PK\x06\x06" or z64_offset + 12 + z64[1] != cd_end - 20:
                raise _Corrupt("its zip64 end record is damaged")
            disk, cd_disk, n_here, count, cd_size, cd_offset = z64[4:10]
            cd_end = z64_offset
    if disk != 0 or cd_disk != 0 or n_here != count:
        raise _Corrupt("its end record is damaged (or describes a multi-part archive)")
    if cd_offset + cd_size != cd_end:
        raise _Corrupt(f"its end record puts the central directory at bytes {cd_offset}..{cd_offset + cd_size}, "
                       f"but it ends at {cd_end}")
    cd = _read_at(f, cd_offset, cd_size, "its central directory")
    names, pos = [], 0
    while len(names) < count and pos + _CENTRAL.size <= cd_size:
        entry = _CENTRAL.unpack_from(cd, pos)
        if entry[0] != b"PK\x01\x02":
            break
        name_len, extra_len, comment_len = entry[12:15]
        raw = cd[pos + _CENTRAL.size:pos + _CENTRAL.size + name_len]
        names.append(raw.decode("utf-8" if entry[5] & 0x800 else "cp437"))
        pos += _CENTRAL.size + name_len + extra_len + comment_len
    if len(names) != count or pos != cd_size:
        raise _Corrupt(f"its end record lists {count} members in {cd_size} bytes of central directory, but "
                       f"{len(names)} entries take {pos} bytes")
    return names, cd_offset


def _npy_header(m: Any, name: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran order, dtype and header length of the .npy member open as `m`, checked."""
    def read(n: int) -> bytes:
        data = m.read(n)
        if len(data) != n:
            raise _Corrupt(f"member {name!r} ends inside its .npy header")
        return data

    magic = read(8)
    if magic[:6] != b"\x93NUMPY":
        raise _Corrupt(f"member {name!r} is not a .npy array")
    version = (magic[6], magic[7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise _Corrupt(f"member {name!r} has an unknown .npy format version {version[0]}.{version[1]}")
    size_format = "<H" if version == (1, 0) else "<I"
    size_bytes = struct.calcsize(size_format)
    header_len = struct.unpack(size_format, read(size_bytes))[0]
    if header_len > _MAX_HEADER:
        raise _Corrupt(f"member {name!r} has a {header_len}-byte .npy header (at most {_MAX_HEADER} is accepted)")
    text = read(header_len).decode("latin1" if version < (3, 0) else "utf8", "replace")
    try:
        header = ast.literal_eval(text)
    except Exception as e:  # (untrusted text: any failure to parse is damage)
        raise _Corrupt(f"member {name!r} has an unreadable .npy header ({type(e).__name__})") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise _Corrupt(f"member {name!r} has a malformed .npy header")
    shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
    if not (isinstance(shape, tuple) and len(shape) <= 64 and
            all(type(n) is int and 0 <= n < 2**63 for n in shape)) or type(fortran) is not bool:
        raise _Corrupt(f"member {name!r} has a malformed .npy header (shape {shape!r})")
    if not isinstance(descr, str) or not _DESCR.fullmatch(descr):
        raise _Corrupt(f"member {name!r} holds an array of dtype {descr!r}, which nn.save never writes (and "
                       "nn.load does not read: an object array would need pickle)")
    try:
        dtype = np.dtype(descr)
    except TypeError:
        raise _Corrupt(f"member {name!r} has an unknown dtype {descr!r}") from None
    return shape, fortran, dtype, len(magic) + size_bytes + header_len


def _read_arrays(f: Any) -> dict[str, np.ndarray]:
    """Every array in the open .npz file `f`, after checking that the archive is whole and consistent."""
    st = os.fstat(f.fileno())
    if not stat.S_ISREG(st.st_mode):
        raise _Corrupt("it is not a regular file")
    size = st.st_size
    start = _read_at(f, 0, min(size, 6), "its first bytes")
    if size == 0:
        raise _Corrupt("it is empty (0 bytes)")
    if start == b"\x93NUMPY":
        raise _Corrupt("it holds a single .npy array, not a .npz archive")
    if not start.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise _Corrupt(f"it is not a .npz (zip) archive: it starts with {start[:4]!r}")
    if size < _EOCD.size:
        raise _Corrupt(f"it is only {size} bytes long (truncated?)")
    names, cd_offset = _central_directory(f, size)
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        if [i.orig_filename for i in infos] != names:
            raise _Corrupt(f"the zip reader's list of members ({len(infos)}) differs from its central directory's "
                           f"({len(names)})")
        return _read_members(f, zf, infos, cd_offset)


def _read_members(f: Any, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], cd_offset: int) -> dict[str, Any]:
    spans = []
    for info in infos:
        name = info.orig_filename
        if info.flag_bits & 0x1:
            raise _Corrupt(f"member {name!r} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise _Corrupt(f"member {name!r} is stored uncompressed, but its two sizes differ "
                               f"({info.file_size} and {info.compress_size})")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > _MAX_DEFLATE_RATIO * info.compress_size:
                raise _Corrupt(f"member {name!r} claims to expand {info.compress_size} compressed bytes to "
                               f"{info.file_size}, more than DEFLATE can")
        else:
            raise _Corrupt(f"member {name!r} uses zip compression method {info.compress_type}; nn.load reads "
                           "only stored and deflated members (as np.savez and np.savez_compressed write)")
        local = _LOCAL.unpack(_read_at(f, info.header_offset, _LOCAL.size, f"the header of member {name!r}"))
        if local[0] != b"PK\x03\x04":
            raise _Corrupt(f"the header of member {name!r} is damaged")
        data_start = info.header_offset + _LOCAL.size + local[10] + local[11]
        spans.append((info.header_offset, data_start + info.compress_size, f"member {name!r}"))
    spans.sort()
    for (_, end, a), (begin, _, b) in zip(spans, spans[1:] + [(cd_offset, 0, "the central directory")]):
        if end > begin:
            raise _Corrupt(f"{a} overlaps {b} (damaged, or a zip bomb)")
    arrays: dict[str, np.ndarray] = {}
    for info in infos:
        name = info.orig_filename
        if not name.endswith(".npy"):
            raise _Corrupt(f"member {name!r} is not a .npy array")
        key = name[:-4]
        if key in arrays:
            raise _Corrupt(f"it holds two members named {name!r}")
        with zf.open(info) as m:
            shape, fortran, dtype, header_len = _npy_header(m, name)
            count = math.prod(shape)
            nbytes = count * dtype.itemsize
            if header_len + nbytes != info.file_size:
                raise _Corrupt(f"member {name!r}: its header describes {nbytes} bytes of data (shape {shape}, "
                               f"dtype {dtype.str}), but the member holds {info.file_size - header_len}")
            flat = np.empty(count, dtype)  # no larger than the member, whose size is bounded by the file's
            if nbytes:
                raw, pos = flat.view(np.uint8), 0
                while pos < nbytes:  # ZipExtFile checks the CRC when the last byte is read
                    chunk = m.read(min(_CHUNK, nbytes - pos))
                    if not chunk:
                        raise _Corrupt(f"member {name!r} ends after {pos} of its {nbytes} data bytes")
                    raw[pos:pos + len(chunk)] = np.frombuffer(chunk, np.uint8)
                    pos += len(chunk)
            if m.read(1):
                raise _Corrupt(f"member {name!r} holds more data than its header describes")
        arrays[key] = flat.reshape(shape, order="F" if fortran else "C")
    return arrays


def _rebuild(skeleton: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    if isinstance(skeleton, (dict, list)) and depth >= MAX_DEPTH:
        raise _Corrupt(f"{STRUCTURE_KEY} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(skeleton, dict):
        return {k: _rebuild(v, arrays, depth + 1) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [_rebuild(v, arrays, depth + 1) for v in skeleton]
    if not isinstance(skeleton, str) or skeleton not in arrays:
        raise _Corrupt(f"its structure names {skeleton!r}, which is not an array in the file (or named twice)")
    return arrays.pop(skeleton)


def _restructure(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if STRUCTURE_KEY not in arrays:
        return arrays
    text = arrays.pop(STRUCTURE_KEY)
    if text.dtype.kind != "U" or text.ndim != 0:
        raise _Corrupt(f"{STRUCTURE_KEY} is not a string")
    try:
        skeleton = json.loads(str(text))
    except (ValueError, RecursionError) as e:
        raise _Corrupt(f"unreadable {STRUCTURE_KEY} ({type(e).__name__})") from None
    if not isinstance(skeleton, dict):
        raise _Corrupt(f"{STRUCTURE_KEY} is not a dict")
    out = _rebuild(skeleton, arrays)
    if arrays:
        raise _Corrupt(f"arrays {sorted(arrays)} are not in its structure")
    return out


def load(path: PathLike) -> dict[str, Any]:
    """Read a file written by `save`: the same (nested) dicts, with NumPy arrays as leaves.

    Nothing is unpickled, so a file cannot run code. The whole file is checked (its zip directory against its end
    record, every member's CRC, every array's size against its header before memory is set aside for it), so the
    result is all that was saved, or a ValueError naming the file and the damage. A file that cannot be opened
    raises an OSError subclass, as `open()` does (see the module docstring)."""
    path = _as_path(path, "nn.load")
    try:
        f = open(path, "rb")
    except FileNotFoundError as e:
        _raise_os_error(e, f"nn.load: no such file: {path}")
    except IsADirectoryError as e:
        _raise_os_error(e, f"nn.load: {path} is a directory, not a .npz file")
    except PermissionError as e:
        _raise_os_error(e, f"nn.load: permission denied: cannot read {path}")
    except OSError as e:
        _raise_os_error(e, f"nn.load: cannot open {path}: {e.strerror or e}")
    with f:
        try:
            return _restructure(_read_arrays(f))
        except _Corrupt as e:
            raise ValueError(f"nn.load: {path} is not a valid .npz state file: {e}") from None
        except OSError as e:
            if type(e).__module__ != "builtins" or e.errno is None:  # io.UnsupportedOperation, zipfile's own
                raise ValueError(f"nn.load: {path} is not a valid .npz state file: {type(e).__name__}: {e}") from e
            _raise_os_error(e, f"nn.load: cannot read {path}: {e.strerror or e}")  # the disk, not the content
        except Exception as e:  # (zipfile, zlib, NumPy: any failure on this content is damage)
            raise ValueError(f"nn.load: {path} is not a valid .npz state file (corrupt or truncated?): "
                             f"{type(e).__name__}: {e}") from e
