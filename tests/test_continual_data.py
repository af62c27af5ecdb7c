"""Continual-learning task sequences: permuted / split digits, IDX files, permuted MNIST from
small generated IDX files (no download, no real MNIST needed)."""

import gzip

import numpy as np
import pytest

from neurosim.circuits.continual_data import (Task, permuted_digits, permuted_mnist, pixel_permutations,
                                              read_idx, split_digits, write_idx)


@pytest.fixture(scope="module")
def digits_tasks():
    return permuted_digits(3, seed=0)


# --------------------------------------------------------------------------------------------
# Permuted digits
# --------------------------------------------------------------------------------------------

def test_permuted_digits_shapes_dtypes_and_range(digits_tasks):
    assert [t.name for t in digits_tasks] == ["permuted-0", "permuted-1", "permuted-2"]
    for t in digits_tasks:
        assert isinstance(t, Task)
        assert t.x_train.dtype == np.float32 and t.x_test.dtype == np.float32
        assert t.y_train.dtype == np.int64 and t.y_test.dtype == np.int64
        assert t.x_train.shape[1] == t.x_test.shape[1] == 64
        assert len(t.x_train) == len(t.y_train) and len(t.x_test) == len(t.y_test)
        assert len(t.x_train) + len(t.x_test) == 1797
        assert abs(len(t.x_test) / 1797 - 0.3) < 0.01
        assert t.x_train.min() == 0.0 and t.x_train.max() == 1.0  # 0..16 scaled by 1/16
        assert t.classes == tuple(range(10))
        assert set(np.unique(t.y_test)) == set(range(10))


def test_split_is_stratified():
    t = permuted_digits(1, test_fraction=0.25)[0]
    full = np.bincount(np.concatenate([t.y_train, t.y_test]))
    assert np.all(np.abs(np.bincount(t.y_test) - 0.25 * full) <= 0.5)


def test_permutations_differ_between_tasks_and_follow_the_seed(digits_tasks):
    x0, x1, x2 = (t.x_train for t in digits_tasks)
    assert not np.array_equal(x0, x1) and not np.array_equal(x1, x2)
    again = permuted_digits(3, seed=0)
    for a, b in zip(digits_tasks, again):
        np.testing.assert_array_equal(a.x_train, b.x_train)
        np.testing.assert_array_equal(a.x_test, b.x_test)
        np.testing.assert_array_equal(a.y_train, b.y_train)
    other = permuted_digits(3, seed=1)
    assert not np.array_equal(other[0].x_train, x0)
    perms = pixel_permutations(3, 64, seed=0)
    assert len({p.tobytes() for p in perms}) == 3
    np.testing.assert_array_equal(perms, pixel_permutations(3, 64, seed=0))
    assert not np.array_equal(perms, pixel_permutations(3, 64, seed=1))
    np.testing.assert_array_equal(pixel_permutations(2, 64, seed=0), perms[:2])  # prefix-stable


def test_permuting_back_recovers_the_same_images_in_every_task(digits_tasks):
    perms = pixel_permutations(3, 64, seed=0)
    assert not np.array_equal(perms[0], np.arange(64))  # task 0 is permuted too
    back = [(t.x_train[:, np.argsort(p)], t.x_test[:, np.argsort(p)]) for t, p in zip(digits_tasks, perms)]
    for (tr, te), t in zip(back[1:], digits_tasks[1:]):
        np.testing.assert_array_equal(tr, back[0][0])
        np.testing.assert_array_equal(te, back[0][1])
        np.testing.assert_array_equal(t.y_train, digits_tasks[0].y_train)
    # ... and they are the digits themselves, with the same (untouched) labels
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    originals = {(lab, (img / 16.0).astype(np.float32).tobytes()) for img, lab in zip(x, y)}
    assert all((lab, img.tobytes()) in originals for img, lab in zip(back[0][1], digits_tasks[0].y_test))


def test_generator_seed_is_accepted():
    a = permuted_digits(2, seed=np.random.default_rng(5))
    b = permuted_digits(2, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a[1].x_test, b[1].x_test)


# --------------------------------------------------------------------------------------------
# Split digits
# --------------------------------------------------------------------------------------------

def test_split_digits_hold_exactly_their_classes(digits_tasks):
    tasks = split_digits(seed=0)
    assert [t.name for t in tasks] == ["split-0-1", "split-2-3", "split-4-5", "split-6-7", "split-8-9"]
    for t in tasks:
        assert set(np.unique(t.y_train)) == set(t.classes) == set(np.unique(t.y_test))
        assert t.x_train.shape == (len(t.y_train), 64) and t.x_train.dtype == np.float32
    assert set(np.concatenate([t.y_test for t in tasks])) == set(range(10))
    # the same split as permuted_digits with the same seed: the tasks partition its test set
    assert sum(len(t.y_test) for t in tasks) == len(digits_tasks[0].y_test)
    split_test = np.concatenate([t.x_test for t in tasks])
    perm0 = pixel_permutations(1, 64, seed=0)[0]
    unpermuted = digits_tasks[0].x_test[:, np.argsort(perm0)]
    assert sorted(map(bytes, split_test)) == sorted(map(bytes, unpermuted))


def test_split_digits_custom_groups():
    tasks = split_digits(((3, 1, 4), (9, 2)), seed=2)
    assert [t.classes for t in tasks] == [(3, 1, 4), (9, 2)]
    assert set(np.unique(tasks[0].y_train)) == {1, 3, 4}


@pytest.mark.parametrize("pairs, match", [
    ((), "pairs"),
    (((0, 1), (1, 2)), "label 1"),
    (((0, 0),), r"pairs\[0\]"),
    (((0,),), r"pairs\[0\]"),
    (((0, 1), (2, 10)), r"pairs\[1\]"),
    (((0, 1), (-1, 2)), r"pairs\[1\]"),
    ((0, 1), r"pairs\[0\]"),
])
def test_split_digits_rejects_bad_pairs(pairs, match):
    with pytest.raises(ValueError, match=match):
        split_digits(pairs)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_tasks": 0}, "n_tasks"), ({"test_fraction": 0.0}, "test_fraction"),
    ({"test_fraction": 1.0}, "test_fraction"), ({"test_fraction": -0.2}, "test_fraction"),
])
def test_permuted_digits_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        permuted_digits(**kwargs)
    if "test_fraction" in kwargs:
        with pytest.raises(ValueError, match=match):
            split_digits(**kwargs)


def test_wrong_types_raise_type_error_naming_the_argument():
    with pytest.raises(TypeError, match="n_tasks"):
        permuted_digits(2.5)
    with pytest.raises(TypeError, match="seed"):
        permuted_digits(2, seed="zero")


# --------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4)])
def test_idx_round_trip(tmp_path, dtype, shape, suffix):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        a = rng.normal(size=shape).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == shape
    np.testing.assert_array_equal(a, b)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_idx_header_is_lecuns_layout(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1])
    write_idx(path, np.array([[1, -2]], dtype=np.int32))
    assert path.read_bytes() == (bytes([0, 0, 0x0C, 2]) + (1).to_bytes(4, "big") + (2).to_bytes(4, "big")
                                 + (1).to_bytes(4, "big") + (-2).to_bytes(4, "big", signed=True))
    gz = tmp_path / "x.gz"
    write_idx(gz, np.arange(4, dtype=np.float64))
    assert gzip.decompress(gz.read_bytes())[:4] == bytes([0, 0, 0x0E, 1])


def test_idx_truncated_file_raises_value_error_naming_the_path(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    write_idx(path, np.zeros((4, 3, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="images-idx3-ubyte.*(truncated|does not match)"):
        read_idx(path)
    path.write_bytes(path.read_bytes()[:10])  # inside the header
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)
    gz = tmp_path / "images-idx3-ubyte.gz"
    write_idx(gz, np.zeros((4, 3, 3), dtype=np.uint8))
    gz.write_bytes(gz.read_bytes()[:-6])  # a truncated gzip stream
    with pytest.raises(ValueError, match="images-idx3-ubyte.gz"):
        read_idx(gz)


def test_idx_trailing_bytes_raise_value_error(tmp_path):
    path = tmp_path / "a"
    write_idx(path, np.zeros(3, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="does not match"):
        read_idx(path)


def test_idx_bad_magic_and_unknown_type(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(bytes([1, 0, 0x08, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(ValueError, match="bad.*magic"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(ValueError, match="type byte 0x0A"):
        read_idx(path)


def test_write_idx_rejects_what_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="dtype int64"):
        write_idx(tmp_path / "a", np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "a", np.uint8(3))


# --------------------------------------------------------------------------------------------
# Permuted MNIST from small generated IDX files
# --------------------------------------------------------------------------------------------

def _fake_mnist(folder, suffix="", n_train=20, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    data = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in data.items():
        write_idx(folder / (name + suffix), array)
    return data


def test_permuted_mnist_in_torchvision_layout(tmp_path):
    data = _fake_mnist(tmp_path / "MNIST" / "raw")
    tasks = permuted_mnist(tmp_path, 3, seed=4)
    perms = pixel_permutations(3, 784, seed=4)
    raw_train = data["train-images-idx3-ubyte"].reshape(20, 784)
    raw_test = data["t10k-images-idx3-ubyte"].reshape(10, 784)
    assert [t.name for t in tasks] == ["permuted-0", "permuted-1", "permuted-2"]
    for k, t in enumerate(tasks):
        assert t.x_train.shape == (20, 784) and t.x_test.shape == (10, 784)
        assert t.x_train.dtype == np.float32 and t.y_train.dtype == np.int64
        assert 0.0 <= t.x_train.min() and t.x_train.max() <= 1.0
        # pixel j of task k is pixel perms[k, j] of the original image, intensity / 255
        np.testing.assert_array_equal(t.x_train, (raw_train[:, perms[k]] / 255.0).astype(np.float32))
        np.testing.assert_array_equal(t.x_test, (raw_test[:, perms[k]] / 255.0).astype(np.float32))
        np.testing.assert_array_equal(t.y_train, data["train-labels-idx1-ubyte"])
        np.testing.assert_array_equal(t.y_test, data["t10k-labels-idx1-ubyte"])
        assert t.classes == tuple(range(10))
    assert not np.array_equal(tasks[0].x_train, tasks[1].x_train)


def test_permuted_mnist_gz_files_directly_in_root_with_limits(tmp_path):
    data = _fake_mnist(tmp_path, suffix=".gz", seed=1)
    tasks = permuted_mnist(tmp_path, 2, seed=0, train_limit=7, test_limit=3)
    perm1 = pixel_permutations(2, 784, seed=0)[1]
    assert tasks[1].x_train.shape == (7, 784) and tasks[1].x_test.shape == (3, 784)
    expected = data["t10k-images-idx3-ubyte"][:3].reshape(3, 784)[:, perm1] / 255.0
    np.testing.assert_array_equal(tasks[1].x_test, expected.astype(np.float32))
    np.testing.assert_array_equal(tasks[1].y_train, data["train-labels-idx1-ubyte"][:7])


def test_permuted_mnist_missing_files(tmp_path):
    _fake_mnist(tmp_path / "MNIST" / "raw")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="(?s)t10k-labels-idx1-ubyte.*never downloads"):
        permuted_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        permuted_mnist(tmp_path / "empty")


@pytest.mark.parametrize("kwargs, match", [
    ({"n_tasks": 0}, "n_tasks"), ({"train_limit": 0}, "train_limit"),
    ({"test_limit": -1}, "test_limit"), ({"train_limit": 21}, "train_limit"), ({"test_limit": 11}, "test_limit"),
])
def test_permuted_mnist_rejects_bad_arguments(tmp_path, kwargs, match):
    _fake_mnist(tmp_path / "MNIST" / "raw")
    with pytest.raises(ValueError, match=match):
        permuted_mnist(tmp_path, **kwargs)


def test_permuted_mnist_rejects_mismatched_labels(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    _fake_mnist(folder)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(19, dtype=np.uint8))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte"):
        permuted_mnist(tmp_path)
