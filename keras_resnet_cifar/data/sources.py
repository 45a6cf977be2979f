"""`load_data`: CIFAR-10 from tfds, an image-folder tree, an archive of one, or cifar-10-python.tar.gz."""
import socket
import threading
from pathlib import Path

import numpy as np

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.data import archives, folders
from keras_resnet_cifar.data.splits import CifarData, from_arrays
from keras_resnet_cifar.files import atomic_save, check_folder
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError, UserTypeError

_TFDS_HOST = ("www.cs.toronto.edu", 443)  # where tfds's cifar10 builder downloads from
OFFLINE_SOURCES = ("an image-folder tree ROOT/{train,test}/<class>/*.png|jpg, a .tar.gz/.zip of one "
                   "(e.g. --data ../shared/data/cifar10-png.tar.gz), or the official cifar-10-python.tar.gz")


def load_data(data="tfds", *, data_dir=None, val_fraction=0.1, train_subset=None, val_subset=None, seed=0,
              resize=False, verbose=True) -> CifarData:
    """Load CIFAR-10 (or any image-folder dataset) into memory and split off a stratified validation set.

    Args:
        data: a `DataConfig` (its source, data_dir, val_fraction, train_subset, val_subset and resize are used), or
            "tfds" (tfds.load("cifar10")); a folder ROOT with train/<class>/* and test/<class>/*
            (PNG or JPEG); a .tar.gz/.tgz/.zip of such a folder (extracted once into the cache); or the
            official cifar-10-python.tar.gz (its batches are read directly).
        data_dir: tfds's data_dir, or the cache folder for extracted archives
            (default ~/.cache/keras_resnet_cifar).
        val_fraction: share of train held out for validation, per class: 0 (none) or in (0, 1).
        train_subset: keep this many training images (stratified); None keeps all.
        val_subset: keep this many validation images (stratified); None keeps all.
        seed: seeds the validation split and the subset.
        resize: image folders only: False requires every image to have the first one's size;
            True resizes all to 32x32; an (H, W) pair resizes to that size.
        verbose: print the counts per split and class.

    Example:
        >>> data = load_data("../shared/data/cifar10-png.tar.gz")
        >>> len(data.train), len(data.val), len(data.test), data.class_names[0]
        (45000, 5000, 10000, 'airplane')
    """
    if isinstance(data, DataConfig):  # where a DataConfig becomes these arguments
        return load_data(data.source, data_dir=data.data_dir, val_fraction=data.val_fraction,
                         train_subset=data.train_subset, val_subset=data.val_subset, seed=seed,
                         resize=data.resize, verbose=verbose)
    split_args = dict(val_fraction=val_fraction, train_subset=train_subset, val_subset=val_subset, seed=seed,
                      verbose=verbose)
    if data_dir is not None:  # tfds reads a prepared copy there: a read-only folder is fine until it extracts
        check_folder(data_dir, "--data-dir", "tfds's data or extracted archives", writable=False)
    if data == "tfds":
        return _from_tfds(data_dir, split_args)
    if not isinstance(data, (str, Path)):
        raise UserTypeError(f"data: received {type(data).__name__}; accepted: 'tfds', a folder or archive path "
                        f"(for numpy arrays use from_arrays)")
    path = Path(data).expanduser()
    if not path.exists():
        raise UserFileNotFoundError(f"data: {path} does not exist; accepted: 'tfds' or {OFFLINE_SOURCES}")
    size = _resize_arg(resize)
    if path.is_dir():
        return _from_folder(folders.find_tree_root(path), size, f"image folder {path}", split_args)
    if not archives.is_archive(path):
        raise UserError(f"data: {path} is neither a folder nor an archive (.tar.gz, .tgz, .tar, .zip); "
                         f"accepted: 'tfds' or {OFFLINE_SOURCES}")
    kind, content = archives.open_archive(path, data_dir)
    if kind == "python":
        x_train, y_train, x_test, y_test, names = content
        return from_arrays(x_train, y_train, x_test, y_test, class_names=names or None,
                           source=f"cifar-10 python batches {path} (official)", **split_args)
    source = f"image folder archive {path} (cached in {content})"
    decoded = content / f".decoded-{folders.decoder_name(size)}.npz"
    if not decoded.is_file():  # decoding 60,000 JPEGs takes seconds; reloading the arrays, a fraction of one
        arrays, names = _read_folder(folders.find_tree_root(content), size)
        _save_atomic(decoded, arrays, names)
    with np.load(decoded, allow_pickle=False) as saved:
        arrays = [saved[k] for k in ("x_train", "y_train", "x_test", "y_test")]
        names = tuple(str(n) for n in saved["class_names"])
    return from_arrays(*arrays, class_names=names, source=source, **split_args)


def _save_atomic(path, arrays, names):
    def save(temp):
        with open(temp, "wb") as handle:
            np.savez(handle, **dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays)),
                     class_names=np.asarray(names, str))
    atomic_save(path, save)


def _resize_arg(resize):
    if resize is False or resize is None:
        return None
    if resize is True:
        return (32, 32)
    if (isinstance(resize, (tuple, list)) and len(resize) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in resize)):
        return tuple(resize)
    raise UserError(f"resize: received {resize!r}; accepted: False, True (32x32) or a (height, width) pair")


def _from_folder(root, size, source, split_args):
    arrays, names = _read_folder(root, size)
    return from_arrays(*arrays, class_names=names, source=source, **split_args)


def _read_folder(root, size):
    names, splits = folders.list_tree(root)
    train_paths, y_train = splits["train"]
    test_paths, y_test = splits["test"]
    reference = None if size else (train_paths[0], folders.image_size(train_paths[0]))
    x_train = folders.decode_images(train_paths, size=size, reference=reference)
    x_test = folders.decode_images(test_paths, size=size, reference=reference)
    return (x_train, y_train, x_test, y_test), names


def _reachable(host, timeout=3.0):
    """Whether a TCP connection to `host` opens within `timeout` s (DNS included, so it cannot hang)."""
    result = []

    def probe():
        try:
            socket.create_connection(host, timeout=timeout).close()
            result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    return bool(result)


def _from_tfds(data_dir, split_args):
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise UserError(f"data: received 'tfds', which needs tensorflow and tensorflow-datasets ({error}); "
                         f"accepted without them: {OFFLINE_SOURCES}") from None

    builder = tfds.builder("cifar10", data_dir=data_dir)
    if not builder.is_prepared():
        # tfds would retry the download for minutes without a network; fail at once instead.
        if not _reachable(_TFDS_HOST):
            raise UserFileNotFoundError(
                f"data: tfds cifar10 is not prepared in {builder.data_dir} and {_TFDS_HOST[0]} cannot be reached "
                f"(offline?); accepted offline sources: {OFFLINE_SOURCES}; or prepare tfds on a machine with "
                f"network access and pass its --data-dir")
        builder.download_and_prepare()
    arrays = []
    for split in ("train", "test"):
        # batch_size=-1 aborts the process under tfds.testing.mock_data; batches of 10,000 do not
        batches = list(tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True).batch(10_000)))
        arrays += [np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])]
    names = tuple(builder.info.features["label"].names)
    return from_arrays(*arrays, class_names=names, source="tfds cifar10 (official)", **split_args)
