"""The patch-whitening stem's kernel, computed from training images (airbench; Page 2018).

For k x k patches p (flattened in (row, column, channel) order, d = k * k * c values) of the model-ready
training images, with the uncentred second moment C = E[p p^T] = V diag(lam) V^T, the stem's 2d filters
are v_i / sqrt(lam_i + eps) and their negatives, eigenvalues in decreasing order. So the first d outputs
of the stem (before its bias) have covariance diag(lam / (lam + eps)): the identity up to eps. NumPy only.
"""
import numpy as np

WHITEN_EPS = 5e-4  # airbench's eps: the smallest eigen-directions (JPEG noise) are not amplified beyond 1/sqrt(eps)
WHITEN_IMAGES = 5000  # images whose patches estimate C (airbench: the first 5,000 of its shuffled training set)


def whitening_sample(count, seed):
    """Indices of the `WHITEN_IMAGES` training images (of `count`) that estimate C: a seeded uniform draw,
    sorted. Not the first ones: an image-folder split is ordered by class, and one class's patches (the
    first 5,000 of the JPEG copy are all airplanes, much sky) give a different covariance."""
    if count <= WHITEN_IMAGES:
        return np.arange(count)
    return np.sort(np.random.default_rng([int(seed), 0x3217]).choice(count, WHITEN_IMAGES, replace=False))


def patches(images, k):
    """All k x k patches (valid positions) of float NHWC `images`, as (N * (H-k+1) * (W-k+1), k * k * C)."""
    images = np.asarray(images, np.float32)
    n, h, w, c = images.shape
    windows = np.lib.stride_tricks.sliding_window_view(images, (k, k), axis=(1, 2))  # (n, h', w', c, k, k)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * c)


def whitening_kernel(images, k, eps=WHITEN_EPS):
    """The stem's (k, k, C, 2 * k * k * C) kernel for float NHWC `images` (see the module doc).

    Example:
        >>> whitening_kernel(np.random.rand(64, 32, 32, 3), 2).shape
        (2, 2, 3, 24)
    """
    images = np.asarray(images, np.float32)
    covariance, count = 0.0, 0
    for start in range(0, len(images), 500):  # bounded memory: 500 images' patches at a time, float64 sums
        flat = patches(images[start:start + 500], k).astype(np.float64)
        covariance = covariance + flat.T @ flat
        count += len(flat)
    covariance = covariance / count
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    filters = eigenvectors / np.sqrt(np.maximum(eigenvalues, 0.0) + eps)  # column i: v_i / sqrt(lam_i + eps)
    channels = images.shape[-1]
    kernel = np.concatenate([filters, -filters], axis=1).reshape(k, k, channels, -1)
    return kernel.astype(np.float32)


def fit_whitening(model, images):
    """Set the whitening stem of `model` (a layer named "stem_whiten") from float NHWC `images`, the model's
    inputs (normalized as in training), e.g. those `whitening_sample` picks. No stem: nothing is done.

    Returns:
        True when a stem was set.
    """
    try:
        layer = model.get_layer("stem_whiten")
    except ValueError:
        return False
    k = layer.kernel.shape[0]
    layer.kernel.assign(whitening_kernel(np.asarray(images), k))
    return True
