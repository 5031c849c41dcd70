"""Checkpoints under faults: damaged and hostile `.npz` files, saves killed midway, and optimizer state dicts
that do not fit. A loaded checkpoint is complete or refused with a ValueError naming the file; a killed save
leaves no temporary file behind for long; an optimizer takes a state dict whole or not at all."""
import io
import os
import re
import signal
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nn
from nn.optim import SGD, Adam, AdamW, RMSprop
from tinygrad_np import Tensor

REPO = Path(__file__).resolve().parents[1]


def _checkpoint():
    """A small nested checkpoint: a model, an Adam state after one step, an epoch number."""
    w = nn.Parameter(Tensor(np.arange(6, dtype=np.float32).reshape(2, 3)))
    opt = Adam([w], lr=0.1)
    w.grad = Tensor.ones(2, 3)
    opt.step()
    return {"model": {"w": w.data}, "optimizer": opt.state_dict(), "epoch": 3}


def _same(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
            and a.tobytes() == b.tobytes())


def _npy(header, data=b"", version=1):
    """A .npy member with `header` (a dict, or raw text) — NumPy's layout, header padded to 64 bytes."""
    text = (repr(header) if isinstance(header, dict) else header).encode("latin1")
    size_format = "<H" if version == 1 else "<I"
    pad = -(8 + struct.calcsize(size_format) + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(size_format, len(text)) + text + data


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _central_entry(data, index=0):
    """Offset of the `index`-th central directory entry of the zip archive `data`."""
    start = zipfile.ZipFile(io.BytesIO(data)).start_dir
    for _ in range(index):
        name_len, extra_len, comment_len = struct.unpack_from("<3H", data, start + 28)
        start += 46 + name_len + extra_len + comment_len
    return start


def _load_error(path):
    with pytest.raises(ValueError) as info:
        nn.load(path)
    message = str(info.value)
    assert str(path) in message and "allow_pickle" not in message
    return message


# ------------------------------------------------------------------------------------------- damaged files


def test_every_single_byte_flip_loads_completely_or_raises_value_error(tmp_path):
    """Before: some flips loaded with keys missing (a central directory entry's comment length made zipfile stop
    listing entries), others escaped as NotImplementedError or tokenize.TokenError."""
    path = tmp_path / "ckpt.npz"
    nn.save({"model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "epoch": 3}, path)
    reference = nn.load(path)
    data = path.read_bytes()
    directory = _central_entry(data)
    bad = tmp_path / "bad.npz"
    flips = [(i, 0xFF) for i in range(len(data))]
    flips += [(i, 1 << bit) for i in range(directory, len(data)) for bit in range(8)]
    loaded_same = 0
    for i, mask in flips:
        damaged = bytearray(data)
        damaged[i] ^= mask
        bad.write_bytes(damaged)
        try:
            out = nn.load(bad)
        except ValueError as e:
            assert "bad.npz" in str(e)
            continue
        assert _same(reference, out), f"byte {i} ^ {mask:#x} loaded different content without an error"
        loaded_same += 1
    assert loaded_same < len(flips) // 4  # most damage is detected, not merely harmless


def test_damaged_directory_entry_does_not_load_part_of_the_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    nn.save(_checkpoint(), path)
    data = bytearray(path.read_bytes())
    data[_central_entry(bytes(data)) + 33] ^= 0xFF  # the high byte of the first entry's comment length
    path.write_bytes(data)
    assert zipfile.ZipFile(path).namelist() == ["model.w.npy"]  # zipfile now lists only 1 of 12 members
    assert "end record lists 12 members" in _load_error(path)


def test_flipped_data_byte_fails_the_crc(tmp_path):
    path = tmp_path / "w.npz"
    nn.save({"w": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    data[600] ^= 0x01  # inside the array data
    path.write_bytes(data)
    assert "CRC" in _load_error(path)


@pytest.mark.parametrize("field, offset, value", [
    ("version needed to extract", 6, 0xFF),  # was NotImplementedError: zip file version 25.5
    ("compression method", 10, 99),  # was NotImplementedError: That compression method is not supported
    ("flags: encrypted", 8, 0x01),  # was RuntimeError: File is encrypted, password required
])
def test_unsupported_zip_features_raise_value_error(tmp_path, field, offset, value):
    path = tmp_path / "ckpt.npz"
    nn.save({"w": np.arange(3.0)}, path)
    data = bytearray(path.read_bytes())
    entry = _central_entry(bytes(data))
    data[entry + offset] = value
    data[offset - 2] = value  # the same field in the member's local header
    path.write_bytes(data)
    _load_error(path)


@pytest.mark.parametrize("header, words", [
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (3, }", "unreadable"),  # was tokenize.TokenError
    ("[1, 2, 3]", "malformed"),
    ({"descr": "<f8", "fortran_order": False, "shape": (-3,)}, "malformed"),
    ({"descr": "<f8", "fortran_order": 0, "shape": (3,)}, "malformed"),
    ({"descr": "<f8", "shape": (3,)}, "malformed"),
    ({"descr": "|O", "fortran_order": False, "shape": (3,)}, "never writes"),  # would need pickle
    ({"descr": [("a", "<f8")], "fortran_order": False, "shape": (3,)}, "never writes"),
    ({"descr": "<M8[s]", "fortran_order": False, "shape": (3,)}, "never writes"),
    ({"descr": "<i3", "fortran_order": False, "shape": (3,)}, "unknown dtype"),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}" + " " * 20000, "20[0-9]{3}-byte .npy header"),
], ids=["unclosed", "list", "negative-shape", "int-fortran-order", "missing-key", "object", "structured",
        "datetime", "bad-itemsize", "long-header"])
def test_malformed_npy_headers_raise_value_error(tmp_path, header, words):
    path = tmp_path / "ckpt.npz"
    _zip(path, {"w.npy": _npy(header, bytes(24), version=1 if len(str(header)) < 60000 else 2)})
    assert re.search(words, _load_error(path))


def test_header_claiming_a_huge_shape_is_refused_before_allocating(tmp_path):
    """Before: MemoryError: Unable to allocate 3.64 TiB."""
    path = tmp_path / "ckpt.npz"
    _zip(path, {"w.npy": _npy({"descr": "<f8", "fortran_order": False, "shape": (500_000_000_000,)}, bytes(24))})
    assert "header describes 4000000000000 bytes" in _load_error(path)


def test_declared_sizes_are_checked_before_memory_is_set_aside(tmp_path):
    """A deflated member whose header and declared size both claim 2 GiB, from 1 kB of compressed data. Before:
    2 GiB were allocated before the data ran out; now the claim is refused (DEFLATE cannot expand that much)."""
    path = tmp_path / "bomb.npz"
    header = _npy({"descr": "<f8", "fortran_order": False, "shape": (2**28,)})
    _zip(path, {"w.npy": header + bytes(1 << 20)}, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    entry = _central_entry(bytes(data))
    struct.pack_into("<L", data, entry + 24, len(header) + 8 * 2**28)  # the uncompressed size
    path.write_bytes(data)
    tracemalloc.start()
    try:
        message = _load_error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than DEFLATE can" in message and peak < 50 * 2**20


def test_compressed_member_expands_only_to_its_declared_size(tmp_path):
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, w=np.zeros(2**22))  # 32 MiB of zeros in about 32 kB
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        out = nn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out["w"].shape == (2**22,) and not out["w"].any()
    assert peak < 8 * 2**22 + 4 * 2**20  # the array, plus a read buffer: never a second copy


def test_overlapping_members_are_refused(tmp_path):
    path = tmp_path / "overlap.npz"
    a = _npy({"descr": "<f8", "fortran_order": False, "shape": (100,)}, bytes(800))
    _zip(path, {"a.npy": a, "b.npy": a}, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    entry = _central_entry(bytes(data))
    size = struct.unpack_from("<L", data, entry + 20)[0]
    struct.pack_into("<L", data, entry + 20, size + 40)  # a's compressed size now reaches into b's header
    path.write_bytes(data)
    assert "overlaps member 'b.npy'" in _load_error(path)


def test_deeply_nested_structure_raises_value_error(tmp_path):
    """Before: RecursionError from json."""
    path = tmp_path / "deep.npz"
    structure = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    np.savez(path, __structure__=np.array(structure))
    assert "__structure__" in _load_error(path)


# ------------------------------------------------------------------------------------- saves killed midway

_CHILD = """
import sys, time
import numpy as np
import nn, nn.serialization
savez = np.savez
def slow_savez(f, **arrays):  # a save that is midway when the parent signals
    f.write(bytes(1 << 22))
    print("writing", flush=True)
    time.sleep(30)
    savez(f, **arrays)
nn.serialization.np.savez = slow_savez
nn.save({"w": np.zeros((512, 512))}, sys.argv[1])
"""


def _kill_midway(path, sig):
    """Signal a child process midway through saving to `path`; return the new file names seen meanwhile."""
    before = set(os.listdir(path.parent))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"
        during = set(os.listdir(path.parent))
        child.send_signal(sig)
        assert child.wait(timeout=10) == -sig
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    new = during - before
    assert len(new) == 1 and next(iter(new)).startswith(f".{path.name}.")  # the temporary file
    return new, during


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_during_save_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    nn.save({"w": np.arange(3.0)}, path)
    _kill_midway(path, signal.SIGTERM)
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(nn.load(path)["w"], np.arange(3.0))  # the old file, intact


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_next_save_removes_temporary_files_of_killed_saves(tmp_path):
    path = tmp_path / "ckpt.npz"
    nn.save({"w": np.arange(3.0)}, path)
    first, _ = _kill_midway(path, signal.SIGKILL)  # nothing can clean up after SIGKILL
    other, _ = _kill_midway(tmp_path / "other.npz", signal.SIGKILL)
    second, during = _kill_midway(path, signal.SIGKILL)
    assert not first & during  # the second save removed what the first left
    assert set(os.listdir(tmp_path)) == {"ckpt.npz"} | second | other
    nn.save({"w": np.arange(4.0)}, path)
    assert set(os.listdir(tmp_path)) == {"ckpt.npz"} | other  # another target's temporary file is not touched
    np.testing.assert_array_equal(nn.load(path)["w"], np.arange(4.0))


def _temp_name_during_save(path, monkeypatch):
    seen = []
    savez = np.savez

    def spying_savez(f, **arrays):
        seen.extend(n for n in os.listdir(path.parent) if n != path.name)
        savez(f, **arrays)

    monkeypatch.setattr(nn.serialization.np, "savez", spying_savez)
    nn.save({"w": np.arange(3.0)}, path)
    monkeypatch.undo()
    assert len(seen) == 1
    return seen[0]


def test_temporary_files_of_live_processes_are_kept(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    name = _temp_name_during_save(path, monkeypatch)
    m = re.fullmatch(r"(\.ckpt\.npz\.[0-9a-f]+-)(\d+)(-\d+\.nnsave-tmp)", name)
    assert m and int(m[2]) == os.getpid()
    live = tmp_path / f"{m[1]}1{m[3]}"  # pid 1 is always running
    mine = tmp_path / name  # this process's own (another thread could be writing it)
    other_host = tmp_path / name.replace(m[1], ".ckpt.npz.zzzzzz-")
    for p in (live, mine, other_host):
        p.write_bytes(b"partial")
    nn.save({"w": np.arange(3.0)}, path)
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.npz", live.name, mine.name, other_host.name])


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_programs_own_sigterm_handler_still_decides(tmp_path, monkeypatch):
    """A training loop that catches SIGTERM to stop gracefully: a save under way completes, the handler runs."""
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    savez = np.savez

    def signalled_savez(f, **arrays):
        os.kill(os.getpid(), signal.SIGTERM)
        savez(f, **arrays)

    try:
        monkeypatch.setattr(nn.serialization.np, "savez", signalled_savez)
        nn.save({"w": np.arange(3.0)}, tmp_path / "ckpt.npz")
        assert calls == [signal.SIGTERM] and signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(nn.load(tmp_path / "ckpt.npz")["w"], np.arange(3.0))
    nn.save({"w": np.arange(3.0)}, tmp_path / "ckpt.npz")
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # a save leaves the default handler in place


# ------------------------------------------------------------------------------------ optimizer state dicts


def _stepped(opt_cls, shapes=((2, 3),), **kw):
    params = [nn.Parameter(Tensor.ones(*s)) for s in shapes]
    opt = opt_cls(params, **kw)
    for p in params:
        p.grad = Tensor.ones(*p.shape)
    opt.step()
    return opt


def _copy(sd):
    return {"state": {k: dict(v) for k, v in sd["state"].items()},
            "param_groups": [dict(g) for g in sd["param_groups"]]}


def _snapshot(opt):
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    state = {id(p): {k: np.copy(v) for k, v in s.items()} for p, s in opt.state.items()}
    return groups, state


def _assert_unchanged(opt, snapshot):
    groups, state = _snapshot(opt)
    assert groups == snapshot[0] and state.keys() == snapshot[1].keys()
    for key, entry in state.items():
        assert entry.keys() == snapshot[1][key].keys()
        for name, value in entry.items():
            np.testing.assert_array_equal(value, snapshot[1][key][name])


@pytest.mark.parametrize("edit, words", [
    (lambda sd: sd["param_groups"][0].update(lr=-5), "parameter group 0: .*invalid learning rate -5"),
    (lambda sd: sd["param_groups"][0].update(eps=float("nan")), "invalid eps nan"),
    (lambda sd: sd["param_groups"][0].update(betas=(0.9, 1.5)), "invalid betas"),
    (lambda sd: sd["param_groups"][0].update(betas=(0.9,)), "'betas' must be a sequence of 2 numbers"),
    (lambda sd: sd["param_groups"][0].update(lr="fast"), "'lr' must be a number"),
    (lambda sd: sd["param_groups"][0].update(amsgrad="yes"), "'amsgrad' must be a bool"),
    (lambda sd: sd["param_groups"][0].update(momentun=0.9), r"\['momentun'\]"),
    (lambda sd: sd["param_groups"][0].pop("eps"), r"lacks the setting\(s\) \['eps'\]"),
    (lambda sd: sd["param_groups"][0].update(params=[0, 0]), "distinct"),
    (lambda sd: sd["param_groups"][0].update(params=[0.0, 1.0]), "parameter numbers"),
    (lambda sd: sd["state"][0].pop("exp_avg"), r"parameter 0 lacks \['exp_avg'\]"),
    (lambda sd: sd["state"][0].pop("step"), r"parameter 0 lacks \['step'\]"),
    (lambda sd: sd["param_groups"][0].update(amsgrad=True), r"lacks \['max_exp_avg_sq'\]"),
    (lambda sd: sd["state"][0].update(step=-1), "'step' of parameter 0 must be a whole number"),
    (lambda sd: sd["state"][0].update(step=1.5), "'step' of parameter 0 must be a whole number"),
    (lambda sd: sd["state"][0].update(exp_avg=np.full((2, 3), "a")), "'exp_avg' of parameter 0 is not an array of"),
    (lambda sd: sd["state"][1].update(exp_avg_sq=np.zeros((3, 2))), r"\(3, 2\).*\(2,\)"),
    (lambda sd: sd["state"].update({"0": sd["state"][0]}), "parameter 0 has two state entries"),
    (lambda sd: sd["state"].update({"first": {}}), "'first' in 'state' is not a parameter number"),
])
def test_adam_load_state_dict_checks_like_the_constructor_and_changes_nothing(edit, words):
    """Before: all of these were accepted; some then failed in step() (KeyError, ZeroDivisionError)."""
    good = _stepped(Adam, ((2, 3), (2,)), lr=0.1).state_dict()
    target = _stepped(Adam, ((2, 3), (2,)), lr=0.7, betas=(0.5, 0.6))
    before = _snapshot(target)
    bad = _copy(good)
    edit(bad)
    with pytest.raises(ValueError, match=words):
        target.load_state_dict(bad)
    _assert_unchanged(target, before)
    target.step()  # still usable
    target.load_state_dict(good)
    assert target.param_groups[0]["lr"] == 0.1 and target.state_dict()["state"][0]["step"] == 1
    target.step()


@pytest.mark.parametrize("source, target_cls", [(SGD, Adam), (Adam, SGD), (RMSprop, AdamW), (Adam, RMSprop)])
def test_state_dict_of_another_optimizer_class_is_refused(source, target_cls):
    sd = _stepped(source, lr=0.1).state_dict()
    target = _stepped(target_cls, lr=0.3)
    before = _snapshot(target)
    with pytest.raises(ValueError, match="another optimizer's state dict"):
        target.load_state_dict(sd)
    _assert_unchanged(target, before)


def test_rmsprop_state_must_hold_what_its_settings_need():
    sd = _copy(_stepped(RMSprop, lr=0.1, centered=True, momentum=0.9).state_dict())
    del sd["state"][0]["grad_avg"]
    target = _stepped(RMSprop, lr=0.1)
    with pytest.raises(ValueError, match=r"lacks \['grad_avg'\]"):
        target.load_state_dict(sd)


def test_load_is_all_or_nothing_across_groups():
    def make(lr):
        return _stepped(SGD, ((2,), (3,)), lr=lr, momentum=0.9)

    source = make(0.1)
    source = SGD([{"params": [p]} for p in source.param_groups[0]["params"]], lr=0.1, momentum=0.9)
    sd = _copy(source.state_dict())
    sd["param_groups"][0]["lr"] = 0.25  # fine
    sd["param_groups"][1]["momentum"] = -1  # not fine: nothing may change, group 0 included
    target = SGD([{"params": [nn.Parameter(Tensor.ones(2))]}, {"params": [nn.Parameter(Tensor.ones(3))]}],
                 lr=0.7, momentum=0.9)
    before = _snapshot(target)
    with pytest.raises(ValueError, match="parameter group 1: .*momentum -1"):
        target.load_state_dict(sd)
    _assert_unchanged(target, before)
    sd["param_groups"][1]["momentum"] = 0.5
    target.load_state_dict(sd)
    assert [g["lr"] for g in target.param_groups] == [0.25, 0.1] and target.param_groups[1]["momentum"] == 0.5


def test_optimizer_state_survives_save_and_load_and_validation(tmp_path):
    for make in (lambda ps: Adam(ps, lr=0.01, amsgrad=True), lambda ps: RMSprop(ps, momentum=0.5, centered=True),
                 lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True)):
        p = nn.Parameter(Tensor.ones(2, 2))
        opt = make([p])
        p.grad = Tensor.ones(2, 2)
        opt.step()
        nn.save({"optimizer": opt.state_dict()}, tmp_path / "opt.npz")
        q = nn.Parameter(Tensor(p.data.copy()))
        fresh = make([q])
        fresh.load_state_dict(nn.load(tmp_path / "opt.npz")["optimizer"])
        q.grad = p.grad
        opt.step()
        fresh.step()
        np.testing.assert_array_equal(p.data, q.data)
