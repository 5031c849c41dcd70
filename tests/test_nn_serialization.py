"""nn.save / nn.load: bit-exact round trips, nesting, atomic writes, no pickle, corrupt files, error types and
messages, file names and permissions."""
import errno
import os
import stat
import zipfile

import numpy as np
import pytest

import nn
import nn.serialization
from tinygrad_np import Tensor


def test_model_round_trip_is_bit_exact(tmp_path):
    model = nn.MLP([5, 7, 3])
    path = tmp_path / "model.npz"
    nn.save(model.state_dict(), path)
    loaded = nn.load(path)
    assert list(loaded) == list(model.state_dict())  # flat, PyTorch-style keys, in order
    with np.load(path, allow_pickle=False) as raw:  # a plain .npz anyone can read
        assert sorted(raw.files) == sorted(model.state_dict())
    Tensor.manual_seed(1)
    other = nn.MLP([5, 7, 3])
    other.load_state_dict(loaded)
    for (n, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a.data, b.data, err_msg=n)
        assert a.data.tobytes() == b.data.tobytes()


def test_nested_state_restores_structure(tmp_path):
    model = nn.MLP([2, 3, 1])
    opt = nn.optim.Adam(model.parameters(), lr=0.01)
    model(Tensor(np.ones((4, 2), np.float32))).sum().backward()
    opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "lr": 0.125,
            "empty": {}, "history": [0.5, 0.25], "name": "run-1"}
    nn.save(ckpt, tmp_path / "ckpt.npz")
    back = nn.load(tmp_path / "ckpt.npz")
    assert set(back) == set(ckpt)
    assert list(back["model"]) == list(ckpt["model"])  # dotted keys inside stay whole
    assert back["epoch"].shape == () and back["epoch"] == 3 and back["lr"] == 0.125
    assert back["empty"] == {} and back["history"].tolist() == [0.5, 0.25] and str(back["name"]) == "run-1"
    assert back["optimizer"]["state"]["0"]["step"] == 1  # dict keys come back as strings
    np.testing.assert_array_equal(back["optimizer"]["state"]["0"]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    groups = back["optimizer"]["param_groups"]
    assert isinstance(groups, list) and groups[0]["betas"].tolist() == [0.9, 0.999]
    assert groups[0]["params"].tolist() == [0, 1, 2, 3] and bool(groups[0]["amsgrad"]) is False


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    nn.save({"w": np.arange(3.0)}, path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(nn.serialization.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        nn.save({"w": np.arange(5.0)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    np.testing.assert_array_equal(nn.load(path)["w"], np.arange(3.0))


def test_unsaveable_values_are_rejected_before_writing(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match="'a.b'"):
        nn.save({"a": {"b": None}}, path)
    with pytest.raises(TypeError, match="state_dict"):
        nn.save({"model": nn.Linear(1, 1)}, path)
    with pytest.raises(TypeError, match="expected a dict"):
        nn.save(nn.Linear(1, 1), path)
    with pytest.raises(ValueError, match="'a.b'"):
        nn.save({"a.b": 1, "a": {"b": 2}}, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_load_refuses_pickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="evil.npz"):
        nn.load(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "npy", "structure"])
def test_corrupt_files_are_rejected_naming_the_path(tmp_path, damage):
    path = tmp_path / "ckpt.npz"
    nn.save({"model": {"w": np.arange(100.0)}, "step": 1}, path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage == "npy":
        np.save(open(path, "wb"), np.arange(3))
    else:  # a structure that names an array the file does not have
        with zipfile.ZipFile(path, "w") as z:
            with z.open("__structure__.npy", "w") as f:
                np.lib.format.write_array(f, np.array('{"model": {"w": "model.w"}}'))
    with pytest.raises(ValueError, match="ckpt.npz"):
        nn.load(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "nope.npz")


def test_save_accepts_str_paths_and_overwrites(tmp_path):
    path = str(tmp_path / "a.npz")
    nn.save({"x": Tensor([1.0, 2.0])}, path)
    nn.save({"x": Tensor([3.0])}, path)
    out = nn.load(path)
    assert out["x"].dtype == np.float32 and out["x"].tolist() == [3.0]


# ------------------------------------------------------------------------- errors: the right type, the right words


def test_load_of_a_directory_says_so(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory") as info:
        nn.load(tmp_path)
    assert str(tmp_path) in str(info.value) and "corrupt" not in str(info.value)


def test_load_without_permission_says_so(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    nn.save({"w": np.arange(3.0)}, path)
    real_open = open

    def guarded_open(file, *args, **kwargs):  # as for a chmod 000 file (root could read that anyway)
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded_open)
    with pytest.raises(PermissionError, match="permission denied") as info:
        nn.load(path)
    monkeypatch.undo()
    assert str(path) in str(info.value) and "corrupt" not in str(info.value) and info.value.errno == 13


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="needs a user that permissions bind")
def test_load_of_an_unreadable_file_says_so(tmp_path):
    path = tmp_path / "ckpt.npz"
    nn.save({"w": np.arange(3.0)}, path)
    path.chmod(0)
    with pytest.raises(PermissionError, match="permission denied"):
        nn.load(path)


def test_missing_file_message_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file") as info:
        nn.load(tmp_path / "nope.npz")
    assert str(tmp_path / "nope.npz") in str(info.value)


def test_empty_path_is_refused_by_save_and_load():
    """Before: nn.save(obj, '') failed with 'Device or resource busy', nn.load('') called '.' a corrupt file."""
    with pytest.raises(ValueError, match="the path is empty"):
        nn.save({"w": np.arange(3.0)}, "")
    with pytest.raises(ValueError, match="the path is empty"):
        nn.load("")


@pytest.mark.parametrize("content, words", [
    (b"x", "not a .npz \\(zip\\) archive"),
    (b"", "empty"),
    (b"PK\x03\x04", "only 4 bytes"),
    (b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.", "not a .npz \\(zip\\) archive"),  # a pickle
], ids=["1-byte", "empty", "4-bytes", "pickle"])
def test_tiny_and_foreign_files_get_their_own_message(tmp_path, content, words):
    """Before: a 1-byte file surfaced NumPy's advice to load it with allow_pickle (unsafe; nn.load has no such
    option)."""
    path = tmp_path / "ckpt.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=words) as info:
        nn.load(path)
    assert str(path) in str(info.value) and "pickle" not in str(info.value)


def test_save_errors_name_the_problem(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        nn.save({"w": np.arange(3.0)}, tmp_path)
    with pytest.raises(FileNotFoundError, match=f"the folder {tmp_path / 'missing'} does not exist"):
        nn.save({"w": np.arange(3.0)}, tmp_path / "missing" / "ckpt.npz")
    with pytest.raises(OSError, match="nn.save: .* 256 bytes long") as info:
        nn.save({"w": np.arange(3.0)}, tmp_path / ("n" * 252 + ".npz"))
    assert info.value.errno == errno.ENAMETOOLONG
    assert os.listdir(tmp_path) == []


def test_save_without_permission_names_the_folder(tmp_path, monkeypatch):
    real_open = os.open

    def guarded_open(file, *args, **kwargs):
        if os.path.dirname(os.fspath(file)) == str(tmp_path):
            raise PermissionError(13, "Permission denied", file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(nn.serialization.os, "open", guarded_open)
    with pytest.raises(PermissionError, match=f"permission denied to create a file in {tmp_path}"):
        nn.save({"w": np.arange(3.0)}, tmp_path / "ckpt.npz")


# ----------------------------------------------------------------------------------- names and permissions


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    """Before: every saved file was 0600, whatever the umask and whatever the file it replaced."""
    path = tmp_path / "ckpt.npz"
    old_umask = os.umask(0o022)
    try:
        nn.save({"w": np.arange(3.0)}, path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # as open() makes it
        path.chmod(0o640)
        nn.save({"w": np.arange(4.0)}, path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        path.unlink()
        os.umask(0o077)
        nn.save({"w": np.arange(3.0)}, path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)


@pytest.mark.parametrize("name", ["a" * 246 + ".npz", "é" * 125 + ".npz"], ids=["250-ascii", "254-utf8"])
def test_long_file_names_save_and_load(tmp_path, name, monkeypatch):
    """Before: a 250-byte name failed because the temporary file's name was longer than 255 bytes."""
    seen = []
    savez = np.savez

    def spying_savez(f, **arrays):
        seen.extend(os.listdir(tmp_path))
        savez(f, **arrays)

    monkeypatch.setattr(nn.serialization.np, "savez", spying_savez)
    nn.save({"w": np.arange(3.0)}, tmp_path / name)
    monkeypatch.undo()
    assert len(seen) == 1 and len(os.fsencode(seen[0])) <= 255  # the temporary file
    assert os.listdir(tmp_path) == [name]
    np.testing.assert_array_equal(nn.load(tmp_path / name)["w"], np.arange(3.0))


def test_keys_that_np_savez_reserves_are_refused(tmp_path):
    """Before: a top-level 'allow_pickle' entry was silently dropped, and 'file' failed inside NumPy."""
    for key in ("allow_pickle", "file"):
        with pytest.raises(ValueError, match=f"'{key}'"):
            nn.save({key: np.arange(3.0), "w": np.arange(2.0)}, tmp_path / "x.npz")
    nn.save({"run": {"allow_pickle": 1, "file": 2}}, tmp_path / "x.npz")  # nested, they are fine
    assert nn.load(tmp_path / "x.npz")["run"]["file"] == 2


def test_nesting_limit_is_the_same_for_save_and_load(tmp_path):
    deep = leaf = {}
    for _ in range(nn.serialization.MAX_DEPTH - 1):
        leaf["a"] = {}
        leaf = leaf["a"]
    leaf["w"] = 1.0
    nn.save(deep, tmp_path / "deep.npz")
    back = nn.load(tmp_path / "deep.npz")
    for _ in range(nn.serialization.MAX_DEPTH - 1):
        back = back["a"]
    assert back["w"] == 1.0
    with pytest.raises(ValueError, match="levels deep"):
        nn.save({"x": deep}, tmp_path / "deeper.npz")
    assert sorted(os.listdir(tmp_path)) == ["deep.npz"]


def test_a_dict_that_contains_itself_is_refused(tmp_path):
    """Before: RecursionError."""
    loop = {"w": 1.0}
    loop["self"] = loop
    with pytest.raises(ValueError, match="contain itself"):
        nn.save(loop, tmp_path / "loop.npz")
    assert os.listdir(tmp_path) == []


def test_plain_npz_files_from_numpy_load_exactly(tmp_path):
    arrays = {"f": np.asfortranarray(np.arange(12.0).reshape(3, 4)), "be": np.arange(5, dtype=">i4"),
              "b": np.array([True, False]), "c": np.array([1 + 2j]), "s": np.array(["héllo", "x"]),
              "by": np.array([b"ab", b"c"]), "z": np.float32(3), "e": np.zeros((0, 3))}
    for write in (np.savez, np.savez_compressed):
        write(tmp_path / "plain.npz", **arrays)
        out = nn.load(tmp_path / "plain.npz")
        assert list(out) == list(arrays)
        for k, v in arrays.items():
            v = np.asarray(v)
            assert out[k].dtype == v.dtype and out[k].shape == v.shape and out[k].tobytes() == v.tobytes(), k
        assert out["f"].flags.f_contiguous and out["f"].flags.writeable
