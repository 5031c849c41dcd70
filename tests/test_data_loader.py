"""nn.data.DataLoader: every sample once per epoch, seeded shuffling, drop_last, dtypes, bad arguments."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nn.data import DataLoader
from tinygrad_np import Tensor, manual_seed

sizes = st.integers(0, 60)
batch_sizes = st.integers(1, 17)
seeds = st.integers(0, 2**32 - 1)


def epoch_ids(loader) -> list:
    """The sample ids of one epoch, batch by batch (the loader runs over (ids as float x, ids as y))."""
    batches = []
    for x, y in loader:
        assert isinstance(x, Tensor) and isinstance(y, Tensor)
        np.testing.assert_array_equal(x.numpy()[:, 0], y.numpy())  # x and y rows stay paired
        batches.append(y.numpy().tolist())
    return batches


def id_loader(n, **kw):
    ids = np.arange(n)
    return DataLoader(np.stack([ids, -ids], axis=1).astype(np.float64), ids, **kw)


@given(n=sizes, batch_size=batch_sizes, shuffle=st.booleans(), seed=seeds)
def test_every_sample_exactly_once_per_epoch(n, batch_size, shuffle, seed):
    loader = id_loader(n, batch_size=batch_size, shuffle=shuffle, seed=seed)
    for _ in range(3):
        batches = epoch_ids(loader)
        assert len(batches) == len(loader) == -(-n // batch_size)
        assert sorted(i for b in batches for i in b) == list(range(n))
        assert all(len(b) == batch_size for b in batches[:-1]) and (not batches or 1 <= len(batches[-1]) <= batch_size)
        if not shuffle:
            assert [i for b in batches for i in b] == list(range(n))


@given(n=sizes, batch_size=batch_sizes, seed=seeds)
def test_drop_last_sizes(n, batch_size, seed):
    loader = id_loader(n, batch_size=batch_size, shuffle=True, seed=seed, drop_last=True)
    batches = epoch_ids(loader)
    assert len(batches) == len(loader) == n // batch_size
    assert all(len(b) == batch_size for b in batches)
    seen = [i for b in batches for i in b]
    assert len(set(seen)) == len(seen) == n - n % batch_size  # no repeats; only the remainder is left out


@given(n=st.integers(2, 60), batch_size=batch_sizes, seed=seeds)
def test_seeded_shuffle_is_reproducible_and_changes_each_epoch(n, batch_size, seed):
    a = id_loader(n, batch_size=batch_size, shuffle=True, seed=seed)
    b = id_loader(n, batch_size=batch_size, shuffle=True, seed=seed)
    epochs_a = [epoch_ids(a) for _ in range(4)]
    epochs_b = [epoch_ids(b) for _ in range(4)]
    assert epochs_a == epochs_b  # the same seed gives the same sequence of epochs
    if n >= 8:  # 8! orders: four identical epochs in a row would be a bug, not chance (p < 1e-13)
        assert len({str(e) for e in epochs_a}) > 1


def test_unseeded_shuffle_follows_manual_seed():
    def two_epochs():
        loader = id_loader(50, batch_size=7, shuffle=True)
        return [epoch_ids(loader) for _ in range(2)]

    manual_seed(123)
    first = two_epochs()
    manual_seed(123)
    assert two_epochs() == first
    assert first[0] != first[1]


def test_different_seeds_give_different_orders():
    orders = {str(epoch_ids(id_loader(100, batch_size=10, shuffle=True, seed=s))) for s in range(5)}
    assert len(orders) == 5


def test_dtypes_and_single_array():
    images = np.arange(2 * 6, dtype=np.uint8).reshape(6, 2)
    loader = DataLoader(images.astype(np.float64) / 255, np.arange(6, dtype=np.int32), batch_size=4)
    x, y = next(iter(loader))
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (4, 2) and not x.requires_grad
    single = list(DataLoader(images, batch_size=4))
    assert [t.shape for t in single] == [(4, 2), (2, 2)] and single[0].dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([t.numpy() for t in single]), images)
    x = next(iter(DataLoader(Tensor(images.astype(np.float32)), batch_size=6)))  # Tensors are accepted too
    np.testing.assert_array_equal(x.numpy(), images)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match=r"first axis.*\(5, 2\), \(4,\)"):
        DataLoader(np.zeros((5, 2)), np.zeros(4), batch_size=2)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            DataLoader(np.zeros(5), batch_size=bad)
    with pytest.raises(ValueError, match="at least one array"):
        DataLoader(batch_size=2)
    with pytest.raises(TypeError, match="numeric"):
        DataLoader(np.array(["a", "b"]), batch_size=1)


@given(n=st.integers(1, 40), data=st.data())
def test_batch_sampler_yields_exactly_the_given_batches(n, data):
    batches = data.draw(st.lists(st.lists(st.integers(0, n - 1), min_size=1, max_size=9), max_size=6))
    loader = id_loader(n, batch_sampler=batches)
    assert len(loader) == len(batches)
    for _ in range(2):  # iterated afresh each epoch
        assert epoch_ids(loader) == batches


def test_batch_sampler_accepts_index_arrays_and_rejects_conflicts():
    loader = id_loader(10, batch_sampler=[np.array([3, 1], np.int32), np.array([-1])])  # negatives count from the end
    assert epoch_ids(loader) == [[3, 1], [9]]
    for conflict in ({"batch_size": 2}, {"shuffle": True}, {"drop_last": True}):
        with pytest.raises(ValueError, match="mutually exclusive"):
            id_loader(10, batch_sampler=[[0]], **conflict)
    with pytest.raises(TypeError, match="integers"):
        list(id_loader(10, batch_sampler=[[0.5]]))
    with pytest.raises(IndexError):
        list(id_loader(10, batch_sampler=[[10]]))
