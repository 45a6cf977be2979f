"""Image-folder trees ROOT/{train,test}/<class>/<image>: list, check and decode (PNG, JPEG) in parallel."""
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_LAYOUT = "ROOT/train/<class>/*.png|jpg and ROOT/test/<class>/*.png|jpg"


def find_tree_root(folder):
    """`folder` if it holds train/ and test/, else its single subfolder that does (archives often wrap)."""
    folder = Path(folder)
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        return folder
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    if len(subfolders) == 1 and (subfolders[0] / "train").is_dir() and (subfolders[0] / "test").is_dir():
        return subfolders[0]
    found = sorted(p.name for p in folder.iterdir())[:10]
    raise UserFileNotFoundError(f"image folder {folder}: no train/ and test/ folders (found {found}); "
                            f"accepted layout: {_LAYOUT}")


def list_tree(root):
    """(class_names, {split: (paths, labels)}), classes in sorted folder-name order."""
    splits = {}
    classes = {}
    for split in ("train", "test"):
        folder = Path(root) / split
        entries = [e for e in os.scandir(folder) if not e.name.startswith(".")]
        stray = sorted(e.name for e in entries if not e.is_dir())
        if stray:
            raise UserError(f"image folder {folder}: files outside class folders ({', '.join(stray[:3])}); "
                             f"accepted layout: {_LAYOUT}; move them into a class folder or delete them")
        classes[split] = sorted(e.name for e in entries)
        if not classes[split]:
            raise UserFileNotFoundError(f"image folder {folder}: no class folders; accepted layout: {_LAYOUT}")
    if classes["train"] != classes["test"]:
        only_train = sorted(set(classes["train"]) - set(classes["test"]))
        only_test = sorted(set(classes["test"]) - set(classes["train"]))
        raise UserError(f"image folder {root}: train and test have different classes (only in train: "
                         f"{only_train}, only in test: {only_test}); accepted: the same class folders in both")
    names = tuple(classes["train"])
    for split in ("train", "test"):
        paths, labels = [], []
        for label, name in enumerate(names):
            files = _class_files(Path(root) / split / name)
            paths += files
            labels += [label] * len(files)
        splits[split] = (paths, np.asarray(labels, np.int64))
    return names, splits


def _class_files(folder):
    # Hidden files (.DS_Store, ._x.jpg from macOS) are not images of the dataset; anything else must be.
    entries = sorted((e for e in os.scandir(folder) if not e.name.startswith(".")), key=lambda e: e.name)
    if not entries:
        raise UserError(f"image folder {folder}: empty class folder; accepted: at least one PNG or JPEG "
                         f"image per class; add images or remove the folder from both train and test")
    for entry in entries:
        if entry.is_dir() or os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
            raise UserError(f"image folder: {entry.path} is not an image file; accepted: {', '.join(IMAGE_SUFFIXES)} "
                             f"files directly inside each class folder; move or delete it")
    return [e.path for e in entries]


def decode_images(paths, *, size=None, reference=None):
    """uint8 (N, H, W, 3) from image files, decoded in parallel: by a tf.data map on the TensorFlow
    backend, else by Pillow in threads (TensorFlow is then not imported). Both give the same pixels
    (JPEGs with libjpeg's accurate IDCT); resized images can differ by a few levels (`decoder_name`).

    Args:
        paths: image files (PNG or JPEG; grayscale is expanded to RGB, alpha dropped).
        size: (H, W) to resize every image to (antialiased); None requires one common size.
        reference: (path, (H, W)) that the others must match when `size` is None (default: the first).
    """
    if size is None:
        reference = reference or (paths[0], image_size(paths[0]))
        height, width = reference[1]
    else:
        height, width = size
    decode = _decode_with_tensorflow if _tensorflow_backend() else _decode_with_pillow
    images, shapes = decode(paths, height, width, size)
    odd = np.flatnonzero((shapes != (height, width)).any(axis=1)) if size is None else []
    if len(odd):
        examples = ", ".join(f"{paths[i]} ({shapes[i][0]}x{shapes[i][1]})" for i in odd[:3])
        raise UserError(f"image folder: {len(odd)} images differ in size from {reference[0]} "
                         f"({height}x{width}), e.g. {examples}; accepted: one common size; pass resize=True "
                         f"(CLI: --resize) to resize all to 32x32, or fix those files")
    return images


def decoder_name(size=None):
    """What the pixels `decode_images` returns depend on: "islow" (any decoder) at the native
    size, else "<H>x<W>-tf" or "<H>x<W>-pillow" (their resize filters differ); a cache key."""
    if size is None:
        return "native-islow"
    return f"{size[0]}x{size[1]}-{'tf' if _tensorflow_backend() else 'pillow'}"


def _tensorflow_backend():
    import keras  # lazy: Keras (and TensorFlow on its default backend) loads only once images are decoded

    return keras.backend.backend() == "tensorflow"


def _decode_with_tensorflow(paths, height, width, size):
    import tensorflow as tf  # lazy: only on the TensorFlow backend; a JAX install may not have it

    def decode(path):
        raw = tf.io.read_file(path)
        # JPEGs with libjpeg's accurate integer IDCT, as Pillow decodes them: the same pixels on every backend.
        image = tf.cond(tf.io.is_jpeg(raw),
                        lambda: tf.io.decode_jpeg(raw, channels=3, dct_method="INTEGER_ACCURATE"),
                        lambda: tf.io.decode_image(raw, channels=3, expand_animations=False))
        shape = tf.shape(image)[:2]
        if size is None:  # keep the batch rectangular; odd sizes are reported below, never used
            image = tf.image.resize_with_crop_or_pad(image, height, width)
        else:
            image = tf.cast(tf.clip_by_value(tf.round(
                tf.image.resize(image, (height, width), antialias=True)), 0, 255), tf.uint8)
        return image, shape

    ds = tf.data.Dataset.from_tensor_slices(paths).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    images = np.empty((len(paths), height, width, 3), np.uint8)
    shapes = np.empty((len(paths), 2), np.int64)
    start = 0
    try:
        for image_batch, shape_batch in ds.batch(1024).prefetch(2).as_numpy_iterator():
            images[start:start + len(image_batch)] = image_batch
            shapes[start:start + len(image_batch)] = shape_batch
            start += len(image_batch)
    except tf.errors.OpError as error:
        raise _find_undecodable(paths[start:], error) from None
    return images, shapes


def _decode_with_pillow(paths, height, width, size):
    images = np.zeros((len(paths), height, width, 3), np.uint8)
    shapes = np.empty((len(paths), 2), np.int64)

    def decode(i):
        try:
            with Image.open(paths[i]) as image:
                image = image.convert("RGB")
        except Exception as error:  # PIL raises several types for bad files
            raise UserError(f"image folder: {paths[i]} is not a readable image ({error}); accepted: PNG or "
                             f"JPEG files; replace or delete it") from None
        shapes[i] = image.height, image.width
        if size is not None:
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        if (image.height, image.width) == (height, width):  # odd sizes are reported by the caller
            images[i] = np.asarray(image)

    chunks = [range(start, min(start + 256, len(paths))) for start in range(0, len(paths), 256)]
    with ThreadPoolExecutor(max(1, min(32, os.cpu_count() or 1))) as pool:
        for _ in pool.map(lambda chunk: [decode(i) for i in chunk], chunks):
            pass
    return images, shapes


def image_size(path):
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except Exception as error:  # PIL raises several types for bad files
        raise UserError(f"image folder: {path} is not a readable image ({error}); accepted: PNG or JPEG "
                         f"files; replace or delete it") from error


def _find_undecodable(paths, error):
    """Name the first file in `paths` that does not decode (tf's error does not say which)."""
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
        except Exception as pil_error:  # PIL raises several types for bad files
            return UserError(f"image folder: {path} is not a readable image ({pil_error}); accepted: PNG or "
                              f"JPEG files; replace or delete it")
    return UserError(f"image folder: an image failed to decode ({error.message}); accepted: PNG or JPEG files")
