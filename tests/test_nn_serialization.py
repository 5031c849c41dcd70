"""nn.save / nn.load: bit-exact round trips, nesting, atomic writes, no pickle, corrupt files."""
import os
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
