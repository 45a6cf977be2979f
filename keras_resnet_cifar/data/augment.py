"""The study's augmentations as vectorized, stateless per-batch tf ops (each image its own draw).

Every function takes a batch and a `seed` (int32/int64 tensor of shape (2,)) and is pure: the same
batch and seed give the same output. Keras's `RandomCrop` draws one offset per batch and its
layers keep RNG state, so these are written with `tf.random.stateless_*` instead.
"""
import dataclasses
import math

import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentations; the defaults are the study's final recipe (crop + hflip).

    Args:
        crop: random 32x32 window (the input size) after zero-padding `pad` pixels, per image.
        pad: zero padding on each side before cropping.
        hflip: mirror left-right with p = 0.5, per image.
        vflip: mirror upside-down with p = 0.5 (in the study's list, off: CIFAR-10 objects are upright).
        noise_std: std of additive Gaussian noise on normalized pixels (the study's var = 1 is std 1.0).
        cutout: side of a zeroed square at a random centre per image (0: off; beyond the study).

    Example:
        >>> AugmentConfig(vflip=True, noise_std=0.1).crop
        True
    """

    crop: bool = True
    pad: int = 4
    hflip: bool = True
    vflip: bool = False
    noise_std: float = 0.0
    cutout: int = 0

    def __post_init__(self):
        for name in ("pad", "cutout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"AugmentConfig.{name}: received {value!r}; accepted: an integer >= 0")
        if not isinstance(self.noise_std, (int, float)) or not self.noise_std >= 0:
            raise ValueError(f"AugmentConfig.noise_std: received {self.noise_std!r}; accepted: a number >= 0")


def random_crop(images, pad, seed):
    """Each image: zero-pad `pad` on every side, then take a random window of the original size."""
    return crop_and_flip(images, pad, False, False, seed)


def random_flip(images, axis, seed):
    """Mirror each image along `axis` (2: left-right, 1: upside-down) with p = 0.5."""
    return crop_and_flip(images, 0, axis == 2, axis == 1, seed)


def crop_and_flip(images, pad, hflip, vflip, seed):
    """Random crop after zero-padding `pad`, then random left-right / upside-down flips, per image."""
    batch = tf.shape(images)[0]
    return crop_and_flip_table(column_table(images), tf.range(batch), images.shape[1:], pad, hflip, vflip, seed)


def column_table(images):
    """(N * W + 1, H * C) uint8: every image column as one row, then a zero row standing for padding.

    Built once per dataset (numpy or tf input), it lets `crop_and_flip_table` read a batch, its crops
    and its flips in two gathers of whole rows; per-pixel gathers and padding cost twice as much.
    """
    if isinstance(images, np.ndarray):
        n, h, w, c = images.shape
        table = np.zeros((n * w + 1, h * c), np.uint8)
        np.copyto(table[:-1].reshape(n, w, h, c), images.transpose(0, 2, 1, 3))
        return table
    shape = tf.shape(images)
    columns = tf.reshape(tf.transpose(images, [0, 2, 1, 3]), [shape[0] * shape[2], shape[1] * shape[3]])
    return tf.concat([columns, tf.zeros_like(columns[:1])], 0)


def crop_and_flip_table(table, index, image_shape, pad, hflip, vflip, seed):
    """Images `index` of a `column_table`, each cropped after zero-padding `pad`, then flipped (p = 0.5).

    A crop shifts the window by (dy, dx) in [-pad, pad]; a flip reverses the window's row or column
    order (crop, then flip). Sources outside the image read the zero row.
    """
    height, width, channels = image_shape
    batch = tf.shape(index)[0]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    shift = tf.random.stateless_uniform([2, batch], seeds[0], -pad, pad + 1, dtype=tf.int32)
    columns = _shifted_rows(table, index, width, shift[1], hflip, seeds[1])  # (B * W, H * C)
    images = tf.transpose(tf.reshape(columns, [batch, width, height, channels]), [0, 2, 1, 3])
    rows = tf.reshape(images, [batch * height, width * channels])
    rows = tf.concat([rows, tf.zeros_like(rows[:1])], 0)
    out = _shifted_rows(rows, tf.range(batch), height, shift[0], vflip, seeds[2])
    return tf.reshape(out, [batch, height, width, channels])


def _shifted_rows(table, index, size, shift, flip, seed):
    """Rows index * size + (i + shift) of `table` for i in 0..size-1 (reversed where flipped), else the last row."""
    position = tf.range(size)[None]
    if flip:
        flipped = tf.random.stateless_uniform([tf.shape(index)[0]], seed) < 0.5
        position = tf.where(flipped[:, None], size - 1 - position, position)
    source = position + shift[:, None]
    inside = (source >= 0) & (source < size)
    zero_row = tf.shape(table)[0] - 1
    return tf.gather(table, tf.reshape(tf.where(inside, index[:, None] * size + source, zero_row), [-1]))


def to_float(images, mean=None, std=None):
    """uint8 -> float32 in [0, 1], then (x - mean) / std per channel when both are given."""
    if mean is None:
        return tf.cast(images, tf.float32) * (1.0 / 255.0)
    std = tf.constant(std, tf.float32)
    # One multiply-add, x / 255 / std - mean / std, with (H, W, 3) constants: TF broadcasts those over
    # the batch about 5x faster than (3,) vectors over every pixel.
    pixel = tf.shape(images)[1:]
    scale = tf.broadcast_to(1.0 / (255.0 * std), pixel)
    offset = tf.broadcast_to(tf.constant(mean, tf.float32) / std, pixel)
    return tf.cast(images, tf.float32) * scale - offset


def gaussian_noise(images, std, seed):
    """Add N(0, std^2) noise to every pixel."""
    return images + std * standard_normal(tf.shape(images), seed)


def standard_normal(shape, seed):
    """N(0, 1) samples by Box-Muller on the two 16-bit halves of one stateless uint32 per pair.

    2.3x cheaper on a CPU than `tf.random.stateless_normal` (the pipeline's largest cost with noise);
    the 16-bit uniforms bound |z| by 4.85, which a 1-in-a-million tail value would exceed.
    """
    size = tf.reduce_prod(shape)
    bits = tf.random.stateless_uniform([(size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32)
    u1 = (tf.cast(tf.bitwise.right_shift(bits, 16), tf.float32) + 0.5) * (1.0 / 65536)
    angle = tf.cast(tf.bitwise.bitwise_and(bits, 0xFFFF), tf.float32) * (2 * math.pi / 65536)
    radius = tf.sqrt(-2.0 * tf.math.log(u1))
    return tf.reshape(tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], 0)[:size], shape)


def cutout(images, size, seed):
    """Zero a size x size square (clipped at the border) at a random centre in each image."""
    batch, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    cy = tf.random.stateless_uniform([batch], seeds[0], 0, h, dtype=tf.int32)
    cx = tf.random.stateless_uniform([batch], seeds[1], 0, w, dtype=tf.int32)
    low = size // 2
    ys = tf.range(h)[None] - (cy[:, None] - low)
    xs = tf.range(w)[None] - (cx[:, None] - low)
    in_y = (ys >= 0) & (ys < size)
    in_x = (xs >= 0) & (xs < size)
    mask = in_y[:, :, None, None] & in_x[:, None, :, None]
    return tf.where(mask, tf.zeros_like(images), images)


def sample_beta(alpha, seed, shape=()):
    """Beta(alpha, alpha) samples from two stateless gamma draws."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    a = tf.random.stateless_gamma(shape, seeds[0], alpha=alpha)
    b = tf.random.stateless_gamma(shape, seeds[1], alpha=alpha)
    return a / (a + b)


def mixup(images, labels, alpha, seed):
    """Zhang et al. 2018: mix the batch with a shuffled copy of itself, one lambda ~ Beta(a, a).

    Returns (images, labels, lam, partner): the mixed batch, soft labels that sum to 1, the
    lambda used and the index of each image's partner.
    """
    seeds = tf.random.experimental.stateless_split(seed, 2)
    lam = sample_beta(alpha, seeds[0])
    partner = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(images)[0]), seeds[1])
    mixed = lam * images + (1.0 - lam) * tf.gather(images, partner)
    soft = lam * labels + (1.0 - lam) * tf.gather(labels, partner)
    return mixed, soft, lam, partner


def augment_batch(images, config, seed, mean=None, std=None):
    """uint8 batch -> float32 batch: crop -> hflip -> vflip -> [0, 1] -> normalize -> noise -> cutout."""
    batch = tf.shape(images)[0]
    return augment_table(column_table(images), tf.range(batch), images.shape[1:], config, seed, mean, std)


def augment_table(table, index, image_shape, config, seed, mean=None, std=None):
    """`augment_batch` for images `index` of a `column_table` (the pipeline's training path)."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    pad = config.pad if config.crop else 0
    images = crop_and_flip_table(table, index, image_shape, pad, config.hflip, config.vflip, seeds[0])
    images = to_float(images, mean, std)
    if config.noise_std > 0:
        images = gaussian_noise(images, config.noise_std, seeds[1])
    if config.cutout > 0:
        images = cutout(images, config.cutout, seeds[2])
    return images
