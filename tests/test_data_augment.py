"""Per-batch augmentations: each is what it claims, image by image, and reproducible for a seed."""
import numpy as np
import pytest
import tensorflow as tf

from keras_resnet_cifar.config import AugmentConfig, DataConfig
from keras_resnet_cifar.constants import CIFAR10_MEAN, CIFAR10_STD
from keras_resnet_cifar.data import normalize_images
from keras_resnet_cifar.data import augment as aug

SEED = tf.constant([3, 7], tf.int64)


@pytest.fixture
def batch():
    return np.random.default_rng(1).integers(1, 256, (64, 12, 10, 3), dtype=np.uint8)


def test_crops_are_windows_of_the_zero_padded_image_with_varied_offsets(batch):
    pad = 3
    out = aug.random_crop(tf.constant(batch), pad, SEED).numpy()
    assert out.shape == batch.shape and out.dtype == np.uint8
    padded = np.pad(batch, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    offsets = []
    for image, source in zip(out, padded):
        hits = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                if np.array_equal(source[dy:dy + 12, dx:dx + 10], image)]
        assert hits, "a crop is not a window of its own padded image"
        offsets.append(hits[0])
    assert len(set(offsets)) > 10  # per image, not one offset for the batch


def test_flips_are_exact_mirrors_of_about_half_the_images(batch):
    for axis in (2, 1):
        out = aug.random_flip(tf.constant(batch), axis, SEED).numpy()
        mirrored = np.array([np.array_equal(o, np.flip(b, axis - 1)) for o, b in zip(out, batch)])
        same = np.array([np.array_equal(o, b) for o, b in zip(out, batch)])
        assert np.all(mirrored ^ same)
        assert 15 < mirrored.sum() < 49


def test_crop_then_flips_in_one_read_equal_the_separate_transforms(batch):
    out = aug.crop_and_flip(tf.constant(batch), 2, True, True, SEED).numpy()
    padded = np.pad(batch, [(0, 0), (2, 2), (2, 2), (0, 0)])
    for image, source in zip(out, padded):
        windows = [np.flip(source[dy:dy + 12, dx:dx + 10], axes) if axes is not None else source[dy:dy + 12, dx:dx + 10]
                   for dy in range(5) for dx in range(5) for axes in (None, 0, 1, (0, 1))]
        assert any(np.array_equal(w, image) for w in windows)


def test_normalization_gives_the_expected_values_and_channel_stats():
    # Pixels equal to 255 * mean give 0; adding 255 * std gives 1.
    mean, std = np.array(CIFAR10_MEAN), np.array(CIFAR10_STD)
    low = np.round(255 * mean).astype(np.uint8)
    high = np.round(255 * (mean + std)).astype(np.uint8)
    images = np.stack([np.broadcast_to(low, (4, 4, 3)), np.broadcast_to(high, (4, 4, 3))]).astype(np.uint8)
    out = aug.to_float(tf.constant(images), DataConfig(mean=CIFAR10_MEAN, std=CIFAR10_STD)).numpy()
    np.testing.assert_allclose(out[0], 0, atol=0.01)
    np.testing.assert_allclose(out[1], 1, atol=0.02)
    np.testing.assert_allclose(out, normalize_images(images), atol=1e-5)
    # random images normalized with their own stats have channel mean 0 and std 1
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
    m, s = (x / 255).mean(axis=(0, 1, 2)), (x / 255).std(axis=(0, 1, 2))
    y = aug.to_float(tf.constant(x), DataConfig(mean=tuple(m), std=tuple(s))).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-4)
    np.testing.assert_allclose(aug.to_float(tf.constant(x), DataConfig(normalize=False)).numpy(), x / 255, atol=1e-6)


def test_gaussian_noise_has_the_asked_std(batch):
    x = tf.zeros((32, 16, 16, 3))
    noise = aug.gaussian_noise(x, 0.5, SEED).numpy()
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.5) < 0.01


def test_cutout_zeroes_one_square_per_image():
    x = tf.ones((64, 16, 16, 3))
    out = aug.cutout(x, 4, SEED).numpy()
    zeros = (out[..., 0] == 0)
    assert np.all((out == 0) | (out == 1))
    sizes = zeros.sum(axis=(1, 2))
    assert sizes.max() == 16 and sizes.min() >= 4  # clipped at the border, never empty
    for mask in zeros:
        ys, xs = np.nonzero(mask)
        assert mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()  # a rectangle


def test_mixup_combines_images_and_labels_with_lambda():
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(16, 4, 4, 3)), tf.float32)
    y = tf.one_hot(rng.integers(0, 10, 16), 10)
    mixed, soft, lam, partner = [t.numpy() for t in aug.mixup(x, y, 1.0, SEED)]
    assert 0 <= lam <= 1 and sorted(partner) == list(range(16))
    np.testing.assert_allclose(mixed, lam * x.numpy() + (1 - lam) * x.numpy()[partner], atol=1e-6)
    np.testing.assert_allclose(soft.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(soft, lam * y.numpy() + (1 - lam) * y.numpy()[partner], atol=1e-6)


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_lambda_follows_beta_alpha_alpha(alpha):
    lam = aug.sample_beta(alpha, SEED, shape=(4000,)).numpy()
    var = 1 / (4 * (2 * alpha + 1))  # variance of Beta(a, a)
    assert abs(lam.mean() - 0.5) < 4 * np.sqrt(var / 4000)
    assert abs(lam.var() - var) < 0.15 * var


def test_augment_batch_is_reproducible_and_keeps_shapes(batch):
    config = DataConfig(augment=AugmentConfig(pad=2, vflip=True, noise_std=0.1, cutout=3))
    a = aug.augment_batch(tf.constant(batch), config, SEED).numpy()
    b = aug.augment_batch(tf.constant(batch), config, SEED).numpy()
    c = aug.augment_batch(tf.constant(batch), config, SEED + 1).numpy()
    assert a.shape == batch.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    off = DataConfig(augment=AugmentConfig(crop=False, hflip=False), normalize=False)
    np.testing.assert_allclose(aug.augment_batch(tf.constant(batch), off, SEED).numpy(), batch / 255, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(pad=-1), dict(cutout=2.5), dict(noise_std=-0.1), dict(pad=True)])
def test_bad_augment_config_is_refused(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=rf"data.augment.{name}: received .*; accepted: .* \(--{name.replace('_', '-')}\)"):
        AugmentConfig(**kwargs)


def test_standard_normal_matches_n01():
    z = aug.standard_normal(tf.constant([101, 33]), SEED).numpy().ravel()  # odd size on purpose
    assert z.shape == (3333,) and z.dtype == np.float32
    z = aug.standard_normal(tf.constant([400_000]), SEED).numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.003  # the tails, not only the moments
    assert abs(np.mean(z ** 4) - 3) < 0.05
    np.testing.assert_array_equal(z, aug.standard_normal(tf.constant([400_000]), SEED).numpy())


def test_table_path_equals_batch_path(batch):
    index = tf.constant([5, 0, 63, 17])
    table = aug.column_table(batch)  # numpy build, as make_dataset does
    np.testing.assert_array_equal(table, aug.column_table(tf.constant(batch)).numpy())
    config = DataConfig(augment=AugmentConfig(pad=3, vflip=True))
    from_table = aug.augment_table(tf.constant(table), index, batch.shape[1:], config, SEED).numpy()
    from_batch = aug.augment_batch(tf.constant(batch[index.numpy()]), config, SEED).numpy()
    np.testing.assert_array_equal(from_table, from_batch)
