"""The study's augmentations as vectorized, stateless per-batch tf ops (each image its own draw).

Every function takes a batch and a `seed` (int32/int64 tensor of shape (2,)) and is pure: the same
batch and seed give the same output. Keras's `RandomCrop` draws one offset per batch and its
layers keep RNG state, so these are written with `tf.random.stateless_*` instead.
"""
import math

import numpy as np
import tensorflow as tf

from keras_resnet_cifar.config import DataConfig


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


def crop_and_flip_table(table, index, image_shape, pad, hflip, vflip, seed, reflect=False, hflip_mask=None):
    """Images `index` of a `column_table`, each cropped after padding `pad`, then flipped (p = 0.5).

    A crop shifts the window by (dy, dx) in [-pad, pad]; a flip reverses the window's row or column
    order (crop, then flip). Sources outside the image read the zero row, or with `reflect` the
    image mirrored at its border (pixel -1 is pixel 1). `hflip_mask` (bool per image), when given,
    says which images are mirrored left-right instead of a p = 0.5 draw.
    """
    height, width, channels = image_shape
    batch = tf.shape(index)[0]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    shift = tf.random.stateless_uniform([2, batch], seeds[0], -pad, pad + 1, dtype=tf.int32)
    columns = _shifted_rows(table, index, width, shift[1], hflip, seeds[1], reflect, hflip_mask)  # (B * W, H * C)
    images = tf.transpose(tf.reshape(columns, [batch, width, height, channels]), [0, 2, 1, 3])
    rows = tf.reshape(images, [batch * height, width * channels])
    rows = tf.concat([rows, tf.zeros_like(rows[:1])], 0)
    out = _shifted_rows(rows, tf.range(batch), height, shift[0], vflip, seeds[2], reflect)
    return tf.reshape(out, [batch, height, width, channels])


def _shifted_rows(table, index, size, shift, flip, seed, reflect=False, mask=None):
    """Rows index * size + (i + shift) of `table` for i in 0..size-1 (reversed where flipped), else the last row
    (or, with `reflect`, the row mirrored back inside)."""
    position = tf.range(size)[None]
    if flip:
        flipped = tf.random.stateless_uniform([tf.shape(index)[0]], seed) < 0.5 if mask is None else mask
        position = tf.where(flipped[:, None], size - 1 - position, position)
    source = position + shift[:, None]
    if reflect:
        source = tf.abs(source)
        source = tf.where(source >= size, 2 * (size - 1) - source, source)
    inside = (source >= 0) & (source < size)
    zero_row = tf.shape(table)[0] - 1
    return tf.gather(table, tf.reshape(tf.where(inside, index[:, None] * size + source, zero_row), [-1]))


def to_float(images, data=DataConfig()):
    """uint8 -> float32 model input as `data` (a DataConfig) defines it (`DataConfig.pixel_affine`)."""
    scale, offset = data.pixel_affine()
    # One multiply-add with (H, W, 3) constants: TF broadcasts those over the batch about 5x faster
    # than (3,) vectors over every pixel.
    pixel = tf.shape(images)[1:]
    return (tf.cast(images, tf.float32) * tf.broadcast_to(tf.constant(scale, tf.float32), pixel)
            - tf.broadcast_to(tf.constant(offset, tf.float32), pixel))


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


def augment_batch(images, data, seed):
    """uint8 batch -> float32 batch as `data` (a DataConfig) asks: crop -> hflip -> vflip -> float
    (normalized) -> noise -> cutout. Mixup, which needs the labels, is `mixup`."""
    batch = tf.shape(images)[0]
    return augment_table(column_table(images), tf.range(batch), images.shape[1:], data, seed)


def augment_table(table, index, image_shape, data, seed, hflip_mask=None):
    """`augment_batch` for images `index` of a `column_table` (the pipeline's training path); `hflip_mask`:
    which images to mirror (alternating flips), instead of a p = 0.5 draw."""
    config = data.augment
    seeds = tf.random.experimental.stateless_split(seed, 3)
    pad = config.pad if config.crop else 0
    images = crop_and_flip_table(table, index, image_shape, pad, config.hflip, config.vflip, seeds[0],
                                 reflect=config.pad_mode == "reflect", hflip_mask=hflip_mask)
    images = to_float(images, data)
    if config.noise_std > 0:
        images = gaussian_noise(images, config.noise_std, seeds[1])
    if config.cutout > 0:
        images = cutout(images, config.cutout, seeds[2])
    return images
