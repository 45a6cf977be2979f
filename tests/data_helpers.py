"""Small generated datasets the tests share: an image-folder tree on disk and arrays in memory."""
import numpy as np
from PIL import Image

from keras_resnet_cifar.data import from_arrays


def noise(rng, label):
    """Uniform noise: nothing to learn."""
    return rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)


def learnable(rng, label):
    """Brightness is the class, so a tiny model learns it in a few epochs."""
    return (rng.integers(0, 60, (32, 32, 3)) + 19 * label).astype(np.uint8)


def write_image_folder(root, counts=(("train", 4), ("test", 1)), classes=10, pixels=noise, seed=0):
    """ROOT/<split>/<class>/<i>.png for each (split, images per class) of `counts`; returns `root`.

    `classes` is a count (names class0, class1...) or the names; `pixels(rng, label)` draws an image.
    """
    names = [f"class{i}" for i in range(classes)] if isinstance(classes, int) else list(classes)
    rng = np.random.default_rng(seed)
    for split, count in counts:
        for label, name in enumerate(names):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                Image.fromarray(pixels(rng, label)).save(folder / f"{index}.png")
    return root


def random_data(count=40, test=10, val_fraction=0.25):
    """A `CifarData` of `count` noise images (10 classes in turn), its first `test` as the test split."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    y = np.arange(count) % 10
    return from_arrays(x, y, x[:test], y[:test], val_fraction=val_fraction, seed=0)
