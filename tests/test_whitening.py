"""The patch-whitening stem (issue 16): its formula, and that the run sets and keeps it."""
import keras
import numpy as np

from keras_resnet_cifar import build_resnet
from keras_resnet_cifar.whitening import fit_whitening, patches, whitening_kernel

SMALL = dict(stem="whiten", stage_kind="convpool", blocks=(0,), channels=(4,), pool_size=3, activation="gelu")


def _correlated_images(n=40, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 33, 33, 1))
    smooth = base[:, :-1, :-1] + base[:, 1:, 1:] + 0.5 * base[:, 1:, :-1]  # neighbours correlated
    return np.concatenate([smooth, 0.8 * smooth + 0.2 * rng.normal(size=smooth.shape), rng.normal(size=smooth.shape)],
                          axis=-1).astype("float32")


def test_patches_are_the_windows_in_row_column_channel_order():
    images = np.arange(2 * 3 * 3 * 2, dtype=np.float32).reshape(2, 3, 3, 2)
    found = patches(images, 2)
    assert found.shape == (2 * 2 * 2, 8)
    np.testing.assert_array_equal(found[0], images[0, :2, :2].reshape(-1))
    np.testing.assert_array_equal(found[-1], images[1, 1:, 1:].reshape(-1))


def test_whitened_patches_have_identity_covariance_up_to_eps():
    images = _correlated_images()
    flat = patches(images, 2).astype(np.float64)
    before = flat.T @ flat / len(flat)
    assert np.abs(before - np.diag(np.diag(before))).max() > 0.3  # the input is far from white
    for eps in (5e-4, 1e-9):
        kernel = whitening_kernel(images, 2, eps=eps)
        assert kernel.shape == (2, 2, 3, 24)
        half = kernel.reshape(12, 24)[:, :12]
        np.testing.assert_allclose(kernel.reshape(12, 24)[:, 12:], -half)  # each filter and its negative
        out = flat @ half
        covariance = out.T @ out / len(out)
        lam = np.linalg.eigvalsh(before)[::-1]
        np.testing.assert_allclose(covariance, np.diag(lam / (lam + eps)), atol=1e-4)
    np.testing.assert_allclose(covariance, np.eye(12), atol=1e-4)


def test_fit_whitening_sets_the_stem_and_the_saved_model_keeps_it(tmp_path):
    model = build_resnet(**SMALL)
    images = _correlated_images(8)[..., :3]
    assert fit_whitening(model, images)
    kernel = keras.ops.convert_to_numpy(model.get_layer("stem_whiten").kernel)
    np.testing.assert_allclose(kernel, whitening_kernel(images, 2), rtol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.get_layer("stem_whiten").kernel), kernel)
    assert not loaded.get_layer("stem_whiten").kernel.trainable
    assert not fit_whitening(build_resnet(blocks=[1], channels=[4], pool_size=4), images)  # no stem: no-op
