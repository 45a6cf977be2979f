"""The study's Figure 10: a few training images and what each augmentation does to them."""
import numpy as np
from matplotlib.figure import Figure

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.data import load_data
from keras_resnet_cifar.data.splits import CifarData, Split
from keras_resnet_cifar.errors import UserError

# Figure 10 shows noise and mixup at the study's strengths ("var = 1" noise, mixup alpha 1), which the
# training defaults leave off.
STUDY_STRENGTHS = {"noise_std": 1.0, "mixup_alpha": 1.0}


def plot_augmentations(data_or_images, *, count=4, pad=4, noise_std=1.0, mixup_alpha=1.0,
                       data_config=DataConfig(), class_names=None, seed=0):
    """One row per image: original, noise, crop, horizontal flip, vertical flip, normalized, mixup.

    Every transform is the pipeline's own (`keras_resnet_cifar.data.augment`), applied alone to
    the original so its effect can be seen; flips are shown applied (the pipeline flips with p = 0.5).
    Normalized and noisy images are mapped back to [0, 1] for display (normalized: min-max per image).

    Args:
        data_or_images: a `CifarData` (its first training images of different classes), a `Split`,
            or a uint8 array (N, H, W, 3).
        count: rows (images) to show, 1..N. Default 4.
        pad: crop padding. Default 4.
        noise_std: noise std on normalized pixels. Default 1.0, the study's "var = 1" (strong: the reason
            the pipeline leaves noise off by default).
        mixup_alpha: Beta(alpha, alpha) for the mixup column, whose partner is the next row's image.
        data_config: the `DataConfig` whose preprocessing (normalization) is shown.
        class_names: titles for the rows (defaults to the data's names when labels are known).
        seed: seeds the random draws.

    Returns:
        A matplotlib `Figure`.

    Example:
        >>> fig = plot_augmentations(load_data("../shared/data/cifar10-jpeg.tar.gz"))
        >>> fig.savefig("augmentations.png")
    """
    # Lazy: the pipeline's transforms are TensorFlow ops, and importing this module stays TF-free (JAX).
    import tensorflow as tf

    from keras_resnet_cifar.data import augment as aug

    images, labels, class_names = _pick(data_or_images, count, class_names)
    x = tf.constant(images)
    keys = tf.unstack(tf.random.experimental.stateless_split(tf.constant([seed, 10], tf.int64), 4))
    normalized = aug.to_float(x, data_config)
    lam = float(aug.sample_beta(mixup_alpha, keys[2]))
    partner = np.roll(np.arange(len(images)), -1)
    columns = {
        "original": images / 255.0,
        f"noise (std {noise_std:g})": _unnormalize(aug.gaussian_noise(normalized, noise_std, keys[0]), data_config),
        f"crop (pad {pad})": aug.random_crop(x, pad, keys[1]).numpy() / 255.0,
        "horizontal flip": images[:, :, ::-1] / 255.0,
        "vertical flip": images[:, ::-1] / 255.0,
        "normalized": _minmax(normalized.numpy()),
        f"mixup (λ = {lam:.2f})": (lam * images + (1 - lam) * images[partner]) / 255.0,
    }
    fig = Figure(figsize=(1.5 * len(columns), 1.6 * len(images) + 0.4), layout="constrained")
    axes = fig.subplots(len(images), len(columns), squeeze=False)
    for col, (title, shown) in enumerate(columns.items()):
        for row in range(len(images)):
            ax = axes[row, col]
            ax.imshow(np.clip(shown[row], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
            if col == 0 and labels is not None and class_names:
                ax.set_ylabel(class_names[labels[row]], fontsize=8)
    mix_note = "mixup: each row with the next row's image"
    fig.suptitle(f"Augmentations (Figure 10); {mix_note}", fontsize=9)
    return fig


def plot_config_augmentations(config, *, count=4):
    """Figure 10 for a `TrainConfig`: its data's first training images, its noise and mixup strengths, its seed."""
    data = load_data(config.data, seed=config.seed, verbose=False)
    return plot_augmentations(data, count=count, noise_std=config.data.augment.noise_std,
                              mixup_alpha=config.data.augment.mixup_alpha, seed=config.seed, data_config=config.data)


def _pick(data, count, class_names):
    labels = None
    if isinstance(data, CifarData):
        class_names = class_names or data.class_names
        data = data.train
    if isinstance(data, Split):
        images, labels = data.images, data.labels
        first = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]  # one per class first
        order = first + [i for i in range(len(labels)) if i not in set(first)][: max(0, count - len(first))]
        index = np.asarray(order[:count])
        images, labels = images[index], labels[index]
    else:
        images = np.asarray(data)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise UserError(f"plot_augmentations: received images of dtype {images.dtype} and shape {images.shape}; "
                         f"accepted: a CifarData, a Split or uint8 images (N, H, W, 3)")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= len(images):
        raise UserError(f"plot_augmentations: received count={count!r} for {len(images)} images; "
                         f"accepted: 1..{len(images)}")
    return images[:count], labels, class_names


def _unnormalize(normalized, data_config):
    """Model input back to [0, 1] pixels: the inverse of `DataConfig.pixel_affine`."""
    scale, offset = data_config.pixel_affine()
    return (normalized.numpy() + np.float32(offset)) / (255.0 * np.float32(scale))


def _minmax(images):
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    return (images - low) / np.maximum(high - low, 1e-6)
