"""The NumPy loader (data/loader.py): the training recipe of the tf.data pipeline, in statistics.

Each draw is recovered from the batches themselves (images that encode their own coordinates,
labels that name each image) and checked against its distribution, for the loader and, where
TensorFlow is installed, for the tf.data path's `augment` functions too. Seeds are fixed, so
every outcome is deterministic. Runs with or without TensorFlow.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from keras_resnet_cifar.config import AugmentConfig, DataConfig
from keras_resnet_cifar.data.loader import make_loader
from keras_resnet_cifar.data.splits import Split, steps_per_epoch

CHI2_8DF_P001 = 26.12  # chi-square quantile, 8 degrees of freedom, p = 0.001


def recipe(**changes):
    """The augmentation (AugmentConfig, which needs no TensorFlow) with `changes`."""
    return AugmentConfig(**changes)


def data_config(augment=None, mixup_alpha=0.0, **changes):
    """A DataConfig of `augment` with `mixup_alpha`, and other DataConfig `changes` (normalize, mean, std)."""
    return DataConfig(augment=(augment or recipe()).replace(mixup_alpha=mixup_alpha), **changes)


def coordinate_images(count):
    """uint8 images whose channel 0 is row + 1, channel 1 column + 1, channel 2 is 7 (padding reads 0)."""
    rows, cols = np.meshgrid(np.arange(1, 33), np.arange(1, 33), indexing="ij")
    image = np.stack([rows, cols, np.full_like(rows, 7)], -1).astype(np.uint8)
    return np.repeat(image[None], count, 0)


def shifts_and_flips(images01):
    """Per image (dy, dx, vflipped, hflipped) from crop-and-flipped `coordinate_images` in [0, 1]."""
    pixels = np.rint(np.asarray(images01) * 255).astype(int)
    rows, cols = pixels[:, 15:17, 16, 0], pixels[:, 16, 15:17, 1]
    v_flipped, h_flipped = rows[:, 1] < rows[:, 0], cols[:, 1] < cols[:, 0]
    dy = np.where(v_flipped, rows[:, 1] - 1 - (31 - 16), rows[:, 1] - 1 - 16)
    dx = np.where(h_flipped, cols[:, 1] - 1 - (31 - 16), cols[:, 1] - 1 - 16)
    return dy, dx, v_flipped, h_flipped


def loader_batches(images, labels, batches, *, batch_size=128, augment=None, mixup_alpha=0.0, **changes):
    split = Split(images=images, labels=labels)
    loader = make_loader(split, num_classes=int(labels.max()) + 1, batch_size=batch_size, training=True,
                         data=data_config(augment, mixup_alpha, **changes), workers=1)
    parts = [loader[i] for i in range(batches)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def tf_batch(images, augment, seed):
    """The tf.data path's augmentation of one batch (TensorFlow's stateless draws), unnormalized."""
    tf = pytest.importorskip("tensorflow")
    from keras_resnet_cifar.data import augment as tf_augment

    config = DataConfig(augment=augment, normalize=False)
    return tf_augment.augment_batch(tf.constant(images), config, tf.constant([seed, 1], tf.int64)).numpy()


def assert_uniform_shifts(dy, dx, pad=4):
    for shift in (dy, dx):
        assert shift.min() == -pad and shift.max() == pad
        counts = np.bincount(shift + pad, minlength=2 * pad + 1)
        expected = len(shift) / (2 * pad + 1)
        assert ((counts - expected) ** 2 / expected).sum() < CHI2_8DF_P001, counts


@pytest.mark.parametrize("path", ["loader", "tf"])
def test_crops_uniform_and_flips_half(path):
    images = coordinate_images(4096)
    augment = recipe(vflip=True)
    if path == "loader":
        x, _ = loader_batches(images, np.zeros(4096, np.int64), 32, augment=augment, normalize=False)
    else:
        x = tf_batch(images, augment, 3)
    dy, dx, v_flipped, h_flipped = shifts_and_flips(x)
    assert_uniform_shifts(dy, dx)
    assert abs(v_flipped.mean() - 0.5) < 0.03 and abs(h_flipped.mean() - 0.5) < 0.03
    assert abs(np.corrcoef(v_flipped, h_flipped)[0, 1]) < 0.06  # independent draws
    # Each image is exactly its window of the zero-padded original, then flipped.
    position = np.arange(32)[None]
    source_y = np.where(v_flipped[:, None], 31 - position, position) + dy[:, None]
    source_x = np.where(h_flipped[:, None], 31 - position, position) + dx[:, None]
    inside = ((source_y >= 0) & (source_y < 32))[:, :, None] & ((source_x >= 0) & (source_x < 32))[:, None, :]
    expected = np.stack([np.broadcast_to(source_y[:, :, None] + 1, inside.shape),
                         np.broadcast_to(source_x[:, None, :] + 1, inside.shape), np.full(inside.shape, 7)], -1)
    np.testing.assert_array_equal(np.rint(x * 255).astype(int), np.where(inside[..., None], expected, 0))


def test_crop_and_flip_off():
    images = coordinate_images(256)
    x, _ = loader_batches(images, np.zeros(256, np.int64), 2, augment=recipe(crop=False, hflip=False),
                          normalize=False)
    np.testing.assert_allclose(x, images / 255.0, atol=1e-7)


@pytest.mark.parametrize("path", ["loader", "tf"])
def test_noise_std_and_cutout_area(path):
    ones = np.full((2048, 32, 32, 3), 255, np.uint8)
    noise = recipe(crop=False, hflip=False, noise_std=0.5)
    cut = recipe(crop=False, hflip=False, cutout=8)
    if path == "loader":
        zeros = np.zeros_like(ones)
        noisy, _ = loader_batches(zeros, np.zeros(2048, np.int64), 16, augment=noise, normalize=False)
        holes, _ = loader_batches(ones, np.zeros(2048, np.int64), 16, augment=cut, normalize=False)
    else:
        noisy = tf_batch(np.zeros_like(ones), noise, 5)
        holes = tf_batch(ones, cut, 6)
    assert abs(noisy.std() - 0.5) < 0.005 and abs(noisy.mean()) < 0.002
    # cutout: a centre uniform on the 32 x 32 grid, an 8 x 8 square clipped: 7.5 of 32 rows and columns on average
    zeroed = (holes == 0).all(axis=-1)
    assert abs(zeroed.mean() - (7.5 / 32) ** 2) < 0.004
    assert zeroed.reshape(len(zeroed), -1).sum(1).max() == 64 and zeroed.any(axis=(1, 2)).all()


def mixup_batch(path, alpha, epoch, batch):
    """One mixed batch of `batch` images, image of class k the constant 8k: (x, y, class of each row)."""
    images = np.repeat(np.arange(batch, dtype=np.uint8)[:, None, None, None] * 8, 32, 1).repeat(32, 2).repeat(3, 3)
    labels = np.arange(batch)  # one image per class: a soft label names both images of a pair
    if path == "loader":
        loader = make_loader(Split(images=images, labels=labels), num_classes=batch, batch_size=batch,
                             training=True, data=data_config(recipe(crop=False, hflip=False), alpha, normalize=False),
                             seed=0, first_epoch=epoch, workers=1)
        x, y = loader[0]  # one batch per epoch: epoch `epoch`
        return x, y, labels[loader.order(epoch)]
    tf = pytest.importorskip("tensorflow")
    from keras_resnet_cifar.data import augment as tf_augment

    own = np.random.default_rng(epoch).permutation(batch)
    x, y, _, _ = tf_augment.mixup(tf.constant(images[own] / 255.0, tf.float32), tf.one_hot(own, batch), alpha,
                                  tf.constant([epoch, 9], tf.int64))
    return x.numpy(), y.numpy(), own


@pytest.mark.parametrize("alpha", [1.0, 0.2])
@pytest.mark.parametrize("path", ["loader", "tf"])
def test_mixup_lambda_partner_and_soft_labels(alpha, path):
    batch, lams, fixed_points = 32, [], 0
    for epoch in range(150):
        x, y, own = mixup_batch(path, alpha, epoch, batch)
        np.testing.assert_allclose(y.sum(1), 1.0, atol=1e-6)
        assert ((y > 0).sum(1) <= 2).all()
        own_share = y[np.arange(batch), own]
        mixed = own_share < 1 - 1e-6  # rows whose partner is another image
        if not mixed.any():
            continue
        lam = own_share[mixed][0]
        np.testing.assert_allclose(own_share[mixed], lam, atol=1e-6)  # one lambda per batch
        others = y.copy()
        others[np.arange(batch), own] = 0
        position = np.argsort(own)  # position of each class in the batch
        partner = np.where(mixed, position[others.argmax(1)], np.arange(batch))
        assert sorted(partner) == list(range(batch))  # a permutation of the batch
        np.testing.assert_allclose(x[:, 5, 5, 1], (lam * own + (1 - lam) * own[partner]) * 8 / 255, atol=1e-5)
        lams.append(lam)
        fixed_points += int((partner == np.arange(batch)).sum())
    lams = np.array(lams)
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)); a uniform permutation has one fixed point on average
    assert abs(lams.mean() - 0.5) < 0.1 and abs(lams.var() - 1 / (4 * (2 * alpha + 1))) < 0.03
    assert 90 < fixed_points < 210


def test_mixup_partner_is_a_permutation():
    from keras_resnet_cifar.data.loader import mixup

    rng = np.random.default_rng(0)
    x = rng.random((64, 2, 2, 3)).astype(np.float32)
    y = np.eye(64, dtype=np.float32)
    fixed_points = 0
    for seed in range(200):
        mixed, soft, lam, partner = mixup(x, y, 1.0, np.random.default_rng(seed))
        assert sorted(partner) == list(range(64))
        np.testing.assert_allclose(mixed, lam * x + (1 - lam) * x[partner], atol=1e-6)
        np.testing.assert_allclose(soft.sum(1), 1.0, atol=1e-6)
        fixed_points += int((partner == np.arange(64)).sum())
    assert 100 < fixed_points < 300  # a uniform permutation has one fixed point on average


def test_same_seed_epoch_batch_same_batch_and_resume():
    rng = np.random.default_rng(0)
    split = Split(images=rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 200))
    args = dict(num_classes=10, batch_size=32, training=True,
                data=data_config(recipe(vflip=True, noise_std=0.1, cutout=6), 0.5), seed=11, workers=1)
    steps = steps_per_epoch(split, 32)
    first, again = make_loader(split, **args), make_loader(split, **args)
    resumed = make_loader(split, **args, first_epoch=2)
    for i in (0, 3, steps + 1):
        for a, b in zip(first[i], again[i]):
            np.testing.assert_array_equal(a, b)
    for i in range(steps):  # epoch 2 after a resume is epoch 2 of the uninterrupted stream
        for a, b in zip(first[2 * steps + i], resumed[i]):
            np.testing.assert_array_equal(a, b)
    other_seed = make_loader(split, **{**args, "seed": 12})
    assert not np.array_equal(first[0][0], other_seed[0][0])
    assert not np.array_equal(first[0][0], first[steps][0])  # epochs differ
    # every epoch takes each image at most once, and drops the remainder
    order = first.order(0)[:steps * 32]
    assert len(set(order.tolist())) == steps * 32
    # batches computed by threads, in any order, are the same batches
    with ThreadPoolExecutor(4) as pool:
        shuffled = list(np.random.default_rng(1).permutation(3 * steps))
        threaded = dict(zip(shuffled, pool.map(lambda i: first[int(i)], shuffled)))
    for i in range(3 * steps):
        np.testing.assert_array_equal(threaded[i][0], again[i][0])


def test_eval_batches_match_the_tf_pipeline():
    rng = np.random.default_rng(0)
    split = Split(images=rng.integers(0, 256, (70, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 70))
    stats = DataConfig(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    loader = make_loader(split, num_classes=10, batch_size=32, training=False, data=stats)
    batches = [loader[i] for i in range(len(loader))]
    assert [len(b[0]) for b in batches] == [32, 32, 6]
    x = np.concatenate([b[0] for b in batches])
    expected = (split.images / 255.0 - np.array([0.5, 0.4, 0.3])) / np.array([0.2, 0.25, 0.3])
    np.testing.assert_allclose(x, expected, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]).argmax(1), split.labels)
    pytest.importorskip("tensorflow")
    from keras_resnet_cifar.data.pipeline import make_dataset

    tf_x = np.concatenate([b[0] for b in make_dataset(split, num_classes=10, batch_size=32, training=False,
                                                      data=stats)])
    np.testing.assert_allclose(x, tf_x, atol=1e-6)


def test_errors_say_what_is_accepted():
    split = Split(images=np.zeros((10, 32, 32, 3), np.uint8), labels=np.zeros(10, np.int64))
    with pytest.raises(TypeError, match="data: received dict; accepted: a DataConfig"):
        make_loader(split, num_classes=10, batch_size=4, training=True, data={"augment": {"crop": True}})
    with pytest.raises(ValueError, match="batch_size: received 11 for a split of 10 images"):
        make_loader(split, num_classes=10, batch_size=11, training=True)
    with pytest.raises(ValueError, match="workers: received 0"):
        make_loader(split, num_classes=10, batch_size=4, training=False, workers=0)


def test_pillow_decodes_the_pixels_tensorflow_decodes(tmp_path, monkeypatch):
    from PIL import Image

    from keras_resnet_cifar.data import folders

    rng = np.random.default_rng(0)
    paths = []
    for i, (fmt, mode) in enumerate([("JPEG", "RGB"), ("PNG", "RGB"), ("JPEG", "L"), ("PNG", "RGBA")] * 3):
        image = rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)
        path = tmp_path / f"{i}.{'jpg' if fmt == 'JPEG' else 'png'}"
        Image.fromarray(image, "RGBA").convert(mode).save(path, fmt)
        paths.append(str(path))
    monkeypatch.setattr(folders, "_tensorflow_backend", lambda: False)
    pillow = folders.decode_images(paths)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="bad.jpg is not a readable image.*accepted: PNG or JPEG"):
        folders.decode_images(paths + [str(bad)])
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(ValueError, match="1 images differ in size.*odd.png \\(20x30\\)"):
        folders.decode_images(paths + [str(tmp_path / "odd.png")])
    assert folders.decode_images([str(tmp_path / "odd.png")], size=(32, 32)).shape == (1, 32, 32, 3)
    pytest.importorskip("tensorflow")
    monkeypatch.setattr(folders, "_tensorflow_backend", lambda: True)
    np.testing.assert_array_equal(folders.decode_images(paths), pillow)
