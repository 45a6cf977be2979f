"""make_dataset: epochs of full seeded batches, exact resumption, plain evaluation passes, model.fit."""
import numpy as np
import pytest

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.data import from_arrays, make_dataset, normalize_images, steps_per_epoch


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    y = np.arange(50) % 10
    return from_arrays(x, y, x[:13], y[:13], val_fraction=0.2)


def _take(ds, n):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(n)]


def test_training_batches_are_full_one_hot_and_cover_each_epoch_once(data):
    plain = DataConfig(augment={"crop": False, "hflip": False}, normalize=False)
    ds = make_dataset(data.train, num_classes=10, batch_size=8, training=True, data=plain)
    steps = steps_per_epoch(data.train, 8)
    assert steps == 5
    batches = _take(ds, 2 * steps)
    assert all(x.shape == (8, 32, 32, 3) and y.shape == (8, 10) for x, y in batches)
    assert batches[0][0].dtype == np.float32
    rows = {img.tobytes(): lab for img, lab in zip(data.train.images, data.train.labels)}
    epochs = [np.concatenate([np.round(x * 255).astype(np.uint8) for x, _ in batches[i * steps:(i + 1) * steps]])
              for i in range(2)]
    for epoch in epochs:
        keys = [img.tobytes() for img in epoch]
        assert len(set(keys)) == 40 and set(keys) <= set(rows)  # a permutation (none dropped at 40 / 8)
    assert not np.array_equal(epochs[0], epochs[1])  # each epoch is shuffled anew
    y = batches[0][1]
    np.testing.assert_array_equal(y.argmax(1), [rows[img.tobytes()] for img in epochs[0][:8]])  # labels follow images


def test_same_seed_and_epoch_give_identical_batches_so_resume_is_exact(data):
    config = DataConfig(augment={"vflip": True, "noise_std": 0.1, "cutout": 4, "mixup_alpha": 1.0})
    kwargs = dict(num_classes=10, batch_size=8, training=True, data=config)
    run = _take(make_dataset(data.train, seed=5, **kwargs), 10)
    resumed = _take(make_dataset(data.train, seed=5, first_epoch=1, **kwargs), 5)
    other = _take(make_dataset(data.train, seed=6, **kwargs), 1)
    for (xa, ya), (xb, yb) in zip(run[5:], resumed):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(run[0][0], other[0][0])
    np.testing.assert_allclose(run[0][1].sum(axis=1), 1, atol=1e-6)  # mixed soft labels


def test_evaluation_is_one_ordered_unaugmented_pass(data):
    ds = make_dataset(data.test, num_classes=10, batch_size=5, training=False,
                      data=DataConfig(augment={"noise_std": 1.0, "vflip": True, "mixup_alpha": 1.0}))
    batches = _take(ds, 100)
    assert [len(x) for x, _ in batches] == [5, 5, 3]
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    np.testing.assert_allclose(x, normalize_images(data.test.images), atol=1e-5)
    np.testing.assert_array_equal(y, np.eye(10)[data.test.labels])


def test_bad_arguments_are_refused(data):
    with pytest.raises(ValueError, match="batch_size: received 0"):
        make_dataset(data.train, num_classes=10, batch_size=0, training=True)
    with pytest.raises(ValueError, match="batch_size: received 41 for a split of 40 images"):
        steps_per_epoch(data.train, 41)
    with pytest.raises(ValueError, match="data.augment.mixup_alpha: received -1"):
        DataConfig(augment={"mixup_alpha": -1})
    with pytest.raises(TypeError, match="data: received dict"):
        make_dataset(data.train, num_classes=10, batch_size=8, training=True, data={})
    empty = from_arrays(data.train.images, data.train.labels, data.test.images, data.test.labels, val_fraction=0)
    with pytest.raises(ValueError, match="0 images"):
        make_dataset(empty.val, num_classes=10, batch_size=8, training=False)


def test_feeds_model_fit_of_the_builder(data):
    import keras

    from keras_resnet_cifar import PRESETS, build_resnet

    keras.utils.set_random_seed(0)
    model = build_resnet(**PRESETS["tiny"])
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    train = make_dataset(data.train, num_classes=10, batch_size=8, training=True,
                         data=DataConfig(augment={"mixup_alpha": 1.0}))
    val = make_dataset(data.val, num_classes=10, batch_size=8, training=False)
    # make_dataset shuffles; fit's default shuffle=True would only warn that it cannot shuffle a Dataset
    history = model.fit(train, steps_per_epoch=2, epochs=1, validation_data=val, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["val_loss"][0])


def test_mixup_mixes_labels_and_images_with_a_lambda_that_varies(data):
    # Would pass unnoticed if mixup stopped mixing (lambda fixed at 1, or labels mixed but not images).
    plain = DataConfig(augment={"crop": False, "hflip": False}, normalize=False)
    mixing = plain.replace(augment={"mixup_alpha": 1.0})
    common = dict(num_classes=10, batch_size=8, training=True)
    lambdas = []
    for seed in (0, 1, 2):
        plain_batches = _take(make_dataset(data.train, seed=seed, data=plain, **common), 5)
        mixed_batches = _take(make_dataset(data.train, seed=seed, data=mixing, **common), 5)
        for (x0, y0), (x, y) in zip(plain_batches, mixed_batches):
            np.testing.assert_allclose(y.sum(axis=1), 1, atol=1e-5)
            soft = y.max(axis=1) < 1 - 1e-4  # rows mixed with a partner of another class
            if not soft.any():
                continue
            lam = y[soft].max(axis=1)
            assert np.allclose(lam, lam[0], atol=1e-5)  # one lambda (or 1 - lambda) per batch
            lambdas.append(float(lam[0]))
            assert not np.allclose(x[soft], x0[soft], atol=1e-3)  # the images of those rows are mixed too
            # and each is lambda times its own image plus (1 - lambda) times another of the batch
            for i in np.flatnonzero(soft):
                own = np.argmax(y0[i])
                weight = y[i, own] if y[i, own] > 0 else None
                assert weight is not None
                rest = (x[i] - weight * x0[i]) / (1 - weight)
                assert min(np.abs(rest - other).max() for other in x0) < 1e-3
    assert len(lambdas) >= 10, "mixup_alpha=1 left (almost) every label one-hot"
    assert len({round(v, 4) for v in lambdas}) >= 5  # lambda is drawn per batch and seed, not fixed
