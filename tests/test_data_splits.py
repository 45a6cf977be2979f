"""from_arrays: validation of arrays, the stratified seeded validation split, the train subset."""
import numpy as np
import pytest

from keras_resnet_cifar.data import CifarData, Split, from_arrays


def _arrays(per_class=(30, 20, 10), size=8, seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(per_class)])
    rng.shuffle(y)
    x = rng.integers(0, 256, (len(y), size, size, 3), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(len(y)) % 256  # makes rows identifiable
    x[:, 0, 0, 1] = np.arange(len(y)) // 256
    return x, y


def _ids(split):
    return split.images[:, 0, 0, 0].astype(int) + 256 * split.images[:, 0, 0, 1].astype(int)


def test_default_split_is_stratified_and_partitions_train():
    x, y = _arrays(per_class=(500, 500, 500, 500))
    data = from_arrays(x, y, x[:7], y[:7], class_names=list("abcd"))
    assert (len(data.train), len(data.val), len(data.test)) == (1800, 200, 7)
    np.testing.assert_array_equal(np.bincount(data.val.labels), [50] * 4)
    ids = np.concatenate([_ids(data.train), _ids(data.val)])
    assert sorted(ids) == list(range(2000))  # nothing lost, nothing duplicated
    # each image keeps its own label
    np.testing.assert_array_equal(data.val.labels, y[_ids(data.val)])
    assert data.class_names == ("a", "b", "c", "d") and data.num_classes == 4
    assert data.train.labels.dtype == np.int64 and data.test.images is not None


def test_uneven_classes_keep_their_share_and_the_total():
    x, y = _arrays(per_class=(30, 20, 10))
    data = from_arrays(x, y, x, y, class_names=["a", "b", "c"], val_fraction=0.1)
    assert len(data.val) == 6
    np.testing.assert_array_equal(np.bincount(data.val.labels, minlength=3), [3, 2, 1])


def test_split_is_deterministic_for_a_seed_and_differs_across_seeds():
    x, y = _arrays()
    a = from_arrays(x, y, x, y, class_names="abc", seed=3)
    b = from_arrays(x, y, x, y, class_names="abc", seed=3)
    c = from_arrays(x, y, x, y, class_names="abc", seed=4)
    np.testing.assert_array_equal(_ids(a.val), _ids(b.val))
    assert set(_ids(a.val)) != set(_ids(c.val))


def test_val_fraction_zero_gives_empty_val_and_full_train():
    x, y = _arrays()
    data = from_arrays(x, y, x, y, class_names="abc", val_fraction=0)
    assert len(data.val) == 0 and len(data.train) == len(y)
    assert data.val.images.shape == (0, 8, 8, 3)


def test_train_subset_is_stratified_and_taken_after_the_split():
    x, y = _arrays(per_class=(100, 100, 100))
    data = from_arrays(x, y, x, y, class_names="abc", val_fraction=0.1, train_subset=30)
    assert len(data.train) == 30 and len(data.val) == 30
    np.testing.assert_array_equal(np.bincount(data.train.labels), [10, 10, 10])
    assert not set(_ids(data.train)) & set(_ids(data.val))


def test_val_subset_is_a_stratified_part_of_the_validation_split_only():
    x, y = _arrays(per_class=(200, 200, 200))
    full = from_arrays(x, y, x, y, class_names="abc", val_fraction=0.2)
    data = from_arrays(x, y, x, y, class_names="abc", val_fraction=0.2, val_subset=30)
    np.testing.assert_array_equal(np.bincount(data.val.labels), [10, 10, 10])
    assert set(_ids(data.val)) < set(_ids(full.val))  # taken from the same split: train is unchanged
    np.testing.assert_array_equal(_ids(data.train), _ids(full.train))


@pytest.mark.parametrize("subset", [0, 7, 2.5])
def test_bad_val_subset_is_refused_with_the_split_size(subset):
    x, y = _arrays(per_class=(20, 20, 20))  # 6 validation images
    with pytest.raises(ValueError, match=r"val_subset: received .*from 1 to the 6 validation images"):
        from_arrays(x, y, x, y, class_names="abc", val_fraction=0.1, val_subset=subset)


def test_counts_are_printed_per_split_and_class(capsys):
    x, y = _arrays(per_class=(40, 20))
    from_arrays(x, y, x[:5], y[:5], class_names=["cats", "dogs"], val_fraction=0.25, verbose=True)
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert lines["cats"][:2] == ["30", "10"] and lines["dogs"][:2] == ["15", "5"]
    assert lines["total"] == ["45", "15", "5"]


def test_default_class_names_are_cifar10():
    x, y = _arrays(per_class=[3] * 10)
    data = from_arrays(x, y, x, y, val_fraction=0)
    assert data.class_names[0] == "airplane" and data.num_classes == 10
    assert isinstance(data, CifarData) and isinstance(data.train, Split)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, True, "0.1", 0.001])
def test_bad_val_fraction_is_refused(fraction):
    x, y = _arrays()
    with pytest.raises(ValueError, match="val_fraction: received"):
        from_arrays(x, y, x, y, class_names="abc", val_fraction=fraction)


@pytest.mark.parametrize("subset", [0, -1, 55, 2.5])
def test_bad_train_subset_is_refused(subset):
    x, y = _arrays()  # 54 train images after the split
    with pytest.raises(ValueError, match="train_subset: received"):
        from_arrays(x, y, x, y, class_names="abc", train_subset=subset)


def test_bad_arrays_are_refused_with_what_was_received():
    x, y = _arrays()
    with pytest.raises(TypeError, match="x_train: received dtype float32"):
        from_arrays(x.astype(np.float32), y, x, y, class_names="abc")
    with pytest.raises(ValueError, match=r"x_test: received shape \(60, 8, 8\)"):
        from_arrays(x, y, x[..., 0], y, class_names="abc")
    with pytest.raises(ValueError, match=r"y_train: received shape \(59,\) for 60 images"):
        from_arrays(x, y[:-1], x, y, class_names="abc")
    with pytest.raises(ValueError, match="y_test: received label 3"):
        from_arrays(x, y, x, np.where(y == 2, 3, y), class_names="abc")
    with pytest.raises(ValueError, match="y_train: received label -1"):
        from_arrays(x, y - 1, x, y, class_names="abc")
    with pytest.raises(TypeError, match="y_train: received dtype float64"):
        from_arrays(x, y.astype(float), x, y, class_names="abc")
    with pytest.raises(ValueError, match="train images have shape"):
        from_arrays(x, y, x[:, :4], y, class_names="abc")
    # (N, 1) labels, as keras.datasets gives them, are accepted
    assert from_arrays(x, y[:, None], x, y[:, None], class_names="abc").test.labels.ndim == 1
