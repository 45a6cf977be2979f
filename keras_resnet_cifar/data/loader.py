"""`make_loader`: the training recipe of `make_dataset` in NumPy, as a `keras.utils.PyDataset`.

For the Keras backends without TensorFlow (JAX, PyTorch): the same augmentations in the same
order, read from the same `DataConfig` (its `augment` and its `pixel_affine` preprocessing):
random crop after zero-padding `pad` pixels, left-right then upside-down flip (p = 0.5),
scaling to [0, 1], per-channel normalization, Gaussian noise on the normalized pixels, cutout,
then mixup with one lambda ~ Beta(alpha, alpha) per batch and a random partner permutation.
Every draw is per image.

Randomness is stateless: epoch e's order is a permutation seeded by (seed, e) and batch b of it
draws from a generator seeded by (seed, e, b) (NumPy `SeedSequence`s), so any batch can be
recomputed alone, by any worker thread, in any order, and a run resumed at epoch e sees the very
batches an uninterrupted run saw. The stream is infinite (`num_batches` None): item i is step
j % steps of epoch first_epoch + j // steps, j = i + first_step (a run resumed mid-epoch), so
nothing depends on Keras calling epoch hooks.

Why the same statistics and not the same pixels as `tf.data`: TensorFlow's stateless ops use
Philox with its own key derivation and draw shapes (a `[2, batch]` uniform for the crops, 16-bit
Box-Muller for the noise, gamma ratios for Beta); matching them bit for bit would mean
re-implementing TF's kernels in NumPy and re-checking them on every TF release, while nothing
depends on it: a run is reproducible on its own backend, resumes exactly, and the recipe (which
draws, from which distributions, in which order) is what the tests pin down across the two paths.

Why a host-side loader rather than augmenting inside the jitted training step: it keeps one
backend-neutral code path (JAX, PyTorch and TensorFlow models alike), leaves the model and its
checkpoints free of input-pipeline ops, and its batches can be checked without a device. On the
GPU machine its threads (NumPy releases the GIL in its copies and random fills) run beside the
accelerator; benchmarks/loader.py measures the rate.
"""
import dataclasses
import os
import threading

import keras
import numpy as np

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.data.splits import check_batching, steps_per_epoch
from keras_resnet_cifar.errors import UserError, UserTypeError

_ORDER, _BATCH = 1, 2  # stream tags of the SeedSequence keys


def first_flips(count, seed):
    """Alternating flips: whether each of `count` images is mirrored in epoch 0 (NumPy, so both input
    pipelines draw the same); epoch e mirrors image i when first_flips[i] XOR (e is odd)."""
    return np.random.default_rng([int(seed), 0xF11B]).random(count) < 0.5


def normalize_images(images_uint8, data=DataConfig()) -> np.ndarray:
    """uint8 images -> float32 model input as `data` (a DataConfig) defines it (`DataConfig.pixel_affine`:
    x / 255, then (x - mean) / std per channel), as the model sees them at test time.

    Example:
        >>> normalize_images(data.test.images[:8], config.data).shape
        (8, 32, 32, 3)
    """
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8:
        raise UserTypeError(f"images: received dtype {images.dtype}; accepted: uint8 pixels 0..255")
    return to_float(images, *(np.asarray(v, np.float32) for v in data.pixel_affine()))


def make_loader(split, *, num_classes, batch_size, training, data=DataConfig(), seed=0, first_epoch=0, first_step=0,
                workers=None, max_queue_size=None):
    """Batches of (float32 images, float32 one-hot labels) from a `Split`, as `make_dataset` gives them.

    Args:
        split: a `Split` (uint8 images in memory).
        num_classes: length of the one-hot labels.
        batch_size: images per batch.
        training: True gives an endless stream of epochs `first_epoch, first_epoch + 1, ...`, each a
            seeded permutation in full batches (remainder dropped), augmented and mixed (pass
            `steps_per_epoch` to `fit`). False gives one ordered pass over every image (the last
            batch may be short), normalized only.
        data: a `DataConfig`: its preprocessing (`pixel_affine`) and its `augment` (mixup when
            `augment.mixup_alpha` > 0), as in `make_dataset`.
        seed: integer seed of the order and the augmentation.
        first_epoch: epoch to start from (training only), for resuming.
        first_step: batches of `first_epoch` to skip (training only), for resuming mid-epoch. Default 0.
        workers: threads computing batches ahead (default: the CPU count, at most 16; 1 computes
            each batch when asked for, in the caller's thread).
        max_queue_size: batches kept ready (default 2 per worker).

    Example:
        >>> loader = make_loader(data.train, num_classes=10, batch_size=128, training=True, data=DataConfig())
        >>> model.fit(loader, epochs=50, steps_per_epoch=steps_per_epoch(data.train, 128))
    """
    check_batching(split, batch_size, data)
    if workers is None:
        workers = max(1, min(16, os.cpu_count() or 1))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"workers: received {workers!r}; accepted: an integer >= 1")
    queue = dict(workers=workers, max_queue_size=max_queue_size or 2 * workers)
    scale, offset = (np.asarray(v, np.float32) for v in data.pixel_affine())
    if not training:
        return EvalBatches(split, num_classes, batch_size, scale, offset, **queue)
    recipe = dataclasses.asdict(data.augment)
    return TrainBatches(split, num_classes, batch_size, recipe, recipe["mixup_alpha"], scale, offset, int(seed),
                        int(first_epoch), first_step=int(first_step), **queue)


class TrainBatches(keras.utils.PyDataset):
    """The endless, augmented, mixed training stream (see `make_loader`); `batch(epoch, step)` is pure."""

    def __init__(self, split, num_classes, batch_size, recipe, mixup_alpha, scale, offset, seed, first_epoch,
                 first_step=0, **queue):
        super().__init__(**queue)
        self.first_step = first_step
        self.labels = np.asarray(split.labels, np.int64)
        self.num_classes, self.batch_size, self.recipe = num_classes, batch_size, recipe
        self.mixup_alpha, self.scale, self.offset = mixup_alpha, scale, offset
        self.seed, self.first_epoch = seed, first_epoch
        self.steps = steps_per_epoch(split, batch_size)
        self.pad = recipe["pad"] if recipe["crop"] else 0
        p = self.pad
        images = np.asarray(split.images)
        # Padded once, so a crop is a window of the stored image: one slice copy per image.
        if recipe["pad_mode"] == "reflect" and p:
            self.padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        else:
            self.padded = np.zeros((len(images), images.shape[1] + 2 * p, images.shape[2] + 2 * p, images.shape[3]),
                                   np.uint8)
            self.padded[:, p:p + images.shape[1], p:p + images.shape[2]] = images
        alternate = recipe["hflip"] and recipe["alternate_flip"]
        self.first_flips = first_flips(len(images), seed) if alternate else None
        self.image_shape = images.shape[1:]
        self._orders, self._lock = {}, threading.Lock()

    @property
    def num_batches(self):
        return None  # endless: `fit` takes `steps_per_epoch`

    def __getitem__(self, index):
        epoch, step = divmod(int(index) + self.first_step, self.steps)
        return self.batch(self.first_epoch + epoch, step)

    def order(self, epoch):
        """The image indices of `epoch`, in the order its batches take them (the last two epochs' kept)."""
        with self._lock:
            if epoch not in self._orders:
                self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}
                self._orders[epoch] = np.random.default_rng([self.seed, _ORDER, epoch]).permutation(len(self.labels))
            return self._orders[epoch]

    def batch(self, epoch, step):
        """(images, labels) of batch `step` of `epoch`: the same arguments give the same arrays."""
        index = self.order(epoch)[step * self.batch_size:(step + 1) * self.batch_size]
        # One independent generator per draw, so switching one augmentation on or off leaves the others' draws.
        crop, flip, noise, cut, mix = (np.random.default_rng(s) for s in
                                       np.random.SeedSequence([self.seed, _BATCH, epoch, step]).spawn(5))
        r = self.recipe
        mask = None if self.first_flips is None else self.first_flips[index] != (epoch % 2 == 1)
        x = crop_and_flip(self.padded, index, self.image_shape, self.pad, r["hflip"], r["vflip"], crop, flip, mask)
        x = to_float(x, self.scale, self.offset)
        if r["noise_std"] > 0:
            x += noise.standard_normal(x.shape, np.float32) * np.float32(r["noise_std"])
        if r["cutout"] > 0:
            cutout(x, r["cutout"], cut)
        y = np.eye(self.num_classes, dtype=np.float32)[self.labels[index]]
        if self.mixup_alpha > 0:
            x, y, _, _ = mixup(x, y, self.mixup_alpha, mix)
        return x, y


class EvalBatches(keras.utils.PyDataset):
    """One ordered pass over a split, normalized only (`make_loader(..., training=False)`)."""

    def __init__(self, split, num_classes, batch_size, scale, offset, **queue):
        super().__init__(**queue)
        self.images, self.labels = np.asarray(split.images), np.asarray(split.labels, np.int64)
        self.num_classes, self.batch_size, self.scale, self.offset = num_classes, batch_size, scale, offset

    @property
    def num_batches(self):
        return -(-len(self.labels) // self.batch_size)

    def __len__(self):
        return self.num_batches

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return (to_float(self.images[part], self.scale, self.offset),
                np.eye(self.num_classes, dtype=np.float32)[self.labels[part]])


def crop_and_flip(padded, index, image_shape, pad, hflip, vflip, crop_rng, flip_rng, hflip_mask=None):
    """Images `index` of the padded store, each a window shifted by (dy, dx) uniform in [-pad, pad],
    then mirrored left-right / upside-down with p = 0.5 (crop, then flip); `hflip_mask` (bool per
    image), when given, says which are mirrored left-right instead."""
    height, width, _ = image_shape
    count = len(index)
    dy, dx = crop_rng.integers(-pad, pad + 1, size=(2, count)) + pad
    flips = flip_rng.random((2, count)) < 0.5
    h_flip, v_flip = flips[0] & bool(hflip), flips[1] & bool(vflip)
    if hflip_mask is not None and hflip:
        h_flip = np.asarray(hflip_mask, bool)
    out = np.empty((count, *image_shape), np.uint8)
    for k in range(count):  # a slice copy per image beats every fancy-index gather here (3-5x)
        window = padded[index[k], dy[k]:dy[k] + height, dx[k]:dx[k] + width]
        out[k] = window[::-1 if v_flip[k] else 1, ::-1 if h_flip[k] else 1]
    return out


def to_float(images, scale, offset):
    """uint8 -> float32 x * scale - offset: [0, 1] (scale 1/255, offset 0) or normalized, as TF's `to_float`."""
    out = np.multiply(images, scale, dtype=np.float32)
    out -= offset
    return out


def cutout(images, size, rng):
    """Zero (in place) a size x size square, clipped at the border, at a uniform random centre per image."""
    count, height, width = images.shape[:3]
    cy, cx = rng.integers(0, height, count), rng.integers(0, width, count)
    ys = np.arange(height)[None] - (cy[:, None] - size // 2)
    xs = np.arange(width)[None] - (cx[:, None] - size // 2)
    inside = ((ys >= 0) & (ys < size))[:, :, None] & ((xs >= 0) & (xs < size))[:, None, :]
    images[inside] = 0.0
    return images


def mixup(images, labels, alpha, rng):
    """Zhang et al. 2018: lam ~ Beta(alpha, alpha) for the batch, a random partner permutation.

    Returns (mixed images, soft labels summing to 1, lam, partner), as `augment.mixup`.
    """
    lam = np.float32(rng.beta(alpha, alpha))
    partner = rng.permutation(len(images))
    mixed = images[partner]  # lam * x + (1 - lam) * x[partner], with one new array instead of four
    mixed *= 1 - lam
    mixed += lam * images
    soft = lam * labels + (1 - lam) * labels[partner]
    return mixed, soft, float(lam), partner
