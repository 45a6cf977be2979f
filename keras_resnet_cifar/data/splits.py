"""In-memory splits: validated arrays, the stratified validation split and the train subset."""
import dataclasses

import numpy as np

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.constants import CIFAR10_CLASSES
from keras_resnet_cifar.errors import UserError, UserTypeError


@dataclasses.dataclass(frozen=True)
class Split:
    """Decoded images and integer labels of one split, held in memory once.

    Args:
        images: uint8 array (N, H, W, 3).
        labels: int64 array (N,), each in [0, num_classes).
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class CifarData:
    """Train, validation (carved from train) and test splits with their class names.

    Args:
        train, val, test: `Split`s; `val` has 0 images when no validation split was asked for.
        class_names: tuple of str, in label order, as the source gave them.
        source: a human description of where the images came from, for reports.
    """

    train: Split
    val: Split
    test: Split
    class_names: tuple
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def from_arrays(x_train, y_train, x_test, y_test, *, class_names=None, val_fraction=0.1,
                train_subset=None, val_subset=None, seed=0, verbose=False, source="numpy arrays") -> CifarData:
    """Build `CifarData` from numpy arrays: validate, carve the validation split, subset train.

    Args:
        x_train, x_test: uint8 arrays (N, H, W, 3) with the same H and W.
        y_train, y_test: integer labels (N,) or (N, 1), in [0, len(class_names)).
        class_names: names in label order (default the CIFAR-10 names).
        val_fraction: share of train held out for validation, stratified by class: 0 (none) or in (0, 1).
        train_subset: keep only this many training images (stratified), for quick runs; None keeps all.
        val_subset: keep only this many validation images (stratified); None keeps all.
        seed: seeds the split and the subset.
        verbose: print the counts per split and class.
        source: the description stored in `CifarData.source`.

    Example:
        >>> x = np.zeros((20, 32, 32, 3), np.uint8); y = np.arange(20) % 10
        >>> from_arrays(x, y, x, y, val_fraction=0.5).val.labels.shape
        (10,)
    """
    class_names = tuple(CIFAR10_CLASSES if class_names is None else (str(c) for c in class_names))
    if not class_names:
        raise UserError("class_names: received an empty list; accepted: one name per label, in label order")
    train = _check_split("train", x_train, y_train, len(class_names))
    test = _check_split("test", x_test, y_test, len(class_names))
    if train.images.shape[1:] != test.images.shape[1:]:
        raise UserError(f"arrays: train images have shape {train.images.shape[1:]} but test images "
                         f"{test.images.shape[1:]}; accepted: the same (H, W, 3) for both; resize one of them")
    train, val = split_validation(train, val_fraction, seed)
    if train_subset is not None:
        train = stratified_subset(train, train_subset, seed)
    if val_subset is not None:
        val = stratified_subset(val, val_subset, seed + 1, "val_subset", "validation images")
    data = CifarData(train=train, val=val, test=test, class_names=class_names, source=source)
    if verbose:
        print(format_counts(data))
    return data


def _check_split(name, images, labels, num_classes):
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8:
        raise UserTypeError(f"x_{name}: received dtype {images.dtype}; accepted: uint8 pixels 0..255; "
                        f"convert with (x * 255).round().astype('uint8') if they are floats in [0, 1]")
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] == 0:
        raise UserError(f"x_{name}: received shape {images.shape}; accepted: (N, H, W, 3) RGB with N >= 1")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != len(images):
        raise UserError(f"y_{name}: received shape {labels.shape} for {len(images)} images; "
                         f"accepted: ({len(images)},) or ({len(images)}, 1) integer labels")
    if not np.issubdtype(labels.dtype, np.integer):
        raise UserTypeError(f"y_{name}: received dtype {labels.dtype}; accepted: integer class indices "
                        f"(use argmax for one-hot labels)")
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise UserError(f"y_{name}: received label {int(bad[0])} ({bad.size} out of range); "
                         f"accepted: 0..{num_classes - 1} for {num_classes} class names")
    return Split(images=images, labels=labels.astype(np.int64))


def _stratified_pick(labels, count, seed):
    """Indices of `count` items with each class's share kept (largest remainder), seeded."""
    rng = np.random.default_rng(seed)
    classes, sizes = np.unique(labels, return_counts=True)
    quota = sizes * (count / len(labels))
    take = np.floor(quota).astype(int)
    extra = count - take.sum()
    take[np.argsort(-(quota - take), kind="stable")[:extra]] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def split_validation(train, val_fraction, seed):
    """(train, val) with `val_fraction` of each class moved to val; val_fraction 0 gives an empty val."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not (
            val_fraction == 0 or 0 < val_fraction < 1):
        raise UserError(f"val_fraction: received {val_fraction!r}; accepted: 0 (no validation split) "
                         f"or a number strictly between 0 and 1, e.g. 0.1")
    if val_fraction == 0:
        return train, Split(images=train.images[:0], labels=train.labels[:0])
    count = int(round(val_fraction * len(train)))
    if count == 0 or count == len(train):
        raise UserError(f"val_fraction: received {val_fraction} of {len(train)} training images, which "
                         f"leaves {'no validation' if count == 0 else 'no training'} images; accepted: a "
                         f"fraction that keeps both splits non-empty")
    val_index = _stratified_pick(train.labels, count, seed)
    keep = np.ones(len(train), bool)
    keep[val_index] = False
    return _take(train, np.flatnonzero(keep)), _take(train, val_index)


def stratified_subset(split, size, seed, name="train_subset",
                      what="training images left after the validation split"):
    """A stratified, seeded subset of `size` images of `split` (`name` and `what` word the error)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= len(split):
        raise UserError(f"{name}: received {size!r}; accepted: an integer from 1 to the "
                         f"{len(split)} {what}, or None for all")
    if size == len(split):
        return split
    return _take(split, _stratified_pick(split.labels, int(size), seed + 1))


def _take(split, index):
    return Split(images=split.images[index], labels=split.labels[index])


def format_counts(data):
    """A table of image counts per split and class."""
    width = max(len(name) for name in data.class_names + ("total",))
    lines = [f"data: {data.source}", f"{'class':<{width}}  {'train':>7}  {'val':>7}  {'test':>7}"]
    splits = (data.train, data.val, data.test)
    counts = [np.bincount(s.labels, minlength=data.num_classes) for s in splits]
    for i, name in enumerate(data.class_names):
        lines.append(f"{name:<{width}}  " + "  ".join(f"{c[i]:>7,}" for c in counts))
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{len(s):>7,}" for s in splits))
    return "\n".join(lines)


def steps_per_epoch(split, batch_size) -> int:
    """Full batches per training epoch: len(split) // batch_size (a ValueError when that is 0).

    Example:
        >>> steps_per_epoch(data.train, 128)   # 45,000 images -> 351
    """
    check_batch_size(batch_size)
    steps = len(split) // batch_size
    if steps < 1:
        raise UserError(f"batch_size: received {batch_size} for a split of {len(split)} images, which gives "
                         f"no full batch; accepted: a batch size <= {len(split)}, or more training images")
    return steps


def check_batching(split, batch_size, data):
    """What both input pipelines refuse: a bad batch size, a `data` that is not a DataConfig, an empty split."""
    check_batch_size(batch_size)
    if not isinstance(data, DataConfig):
        raise UserTypeError(f"data: received {type(data).__name__}; accepted: a DataConfig")
    if len(split) == 0:
        raise UserError("split: received a split with 0 images; accepted: a non-empty split "
                         "(val is empty when val_fraction=0)")


def check_batch_size(batch_size):
    """Refuse a batch size that is not an integer >= 1."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserError(f"batch_size: received {batch_size!r}; accepted: an integer >= 1, e.g. 128")
