"""Grad-CAM (Figure 13): shape, range, and that it points at the evidence a synthetic model uses."""
import numpy as np
import pytest

import keras

from keras_resnet_cifar import build_resnet, stage_output_names
from keras_resnet_cifar.plots.gradcam import gradcam_heatmaps, plot_gradcam


def _quadrant_mask(rows, cols, size=32):
    mask = np.zeros((1, size, size, 1), "float32")
    mask[:, rows, cols, :] = 1.0
    return mask


def _quadrant_model():
    """Logits depend only on channel 0 of stage1_out, which is nonzero only in the top-right quadrant.

    Channel 1 is nonzero only in the bottom-left quadrant but never reaches the logits,
    so a correct Grad-CAM (gradient-weighted) ignores it while plain activation maps would not.
    The top-right quadrant is not symmetric under transposition, so swapped axes would show.
    """
    top_right = _quadrant_mask(slice(0, 16), slice(16, 32))
    bottom_left = _quadrant_mask(slice(16, 32), slice(0, 16))
    inputs = keras.Input((32, 32, 3), name="images")
    brightness = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=-1, keepdims=True) + 1.0)(inputs)
    evidence = keras.layers.Lambda(lambda t: t * top_right)(brightness)
    distractor = keras.layers.Lambda(lambda t: 5.0 * t * bottom_left)(brightness)
    stage1 = keras.layers.Identity(name="stage1_out")(keras.layers.Concatenate()([evidence, distractor]))
    stage2 = keras.layers.Identity(name="stage2_out")(keras.layers.AveragePooling2D(2)(stage1))
    used = keras.layers.Lambda(lambda t: t[..., :1])(stage2)
    pooled = keras.layers.GlobalAveragePooling2D()(used)
    logits = keras.layers.Dense(3, name="logits", kernel_initializer=keras.initializers.Constant([[1.0, -1.0, 0.5]]))(pooled)
    return keras.Model(inputs, logits)


def test_heatmaps_have_image_size_unit_range_and_peak_on_the_evidence():
    model = _quadrant_model()
    assert stage_output_names(model) == ["stage1_out", "stage2_out"]
    images = np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 3)).astype("float32")
    maps, classes = gradcam_heatmaps(model, images)
    assert maps.shape == (2, 3, 32, 32)
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert np.allclose(maps.max(axis=(2, 3)), 1.0)
    assert (classes == 0).all()  # class 0 has the positive weight
    for layer in maps:
        for heatmap in layer:
            row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
            assert row < 16 and col >= 16, (row, col)
            # the distractor quadrant carries 5x the activation but no gradient
            assert heatmap[18:, :14].max() < 1e-6
            assert heatmap[:14, 18:].mean() > 0.3


def test_explaining_a_class_with_negative_evidence_gives_an_empty_map():
    model = _quadrant_model()
    images = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    maps, classes = gradcam_heatmaps(model, images, class_indices=[1, 1])
    assert (classes == 1).all()
    assert np.all(maps == 0.0)  # relu removes evidence against the class; no division by zero


def test_gradcam_leaves_the_model_unchanged_and_rejects_unknown_layers():
    model = build_resnet(blocks=[1, 1], channels=[4, 8], pool_size=2, num_classes=4)
    layers_before = [layer.name for layer in model.layers]
    outputs_before = [tuple(t.shape) for t in model.outputs]
    x = np.random.default_rng(2).normal(size=(2, 32, 32, 3)).astype("float32")
    maps, _ = gradcam_heatmaps(model, x)
    assert maps.shape == (2, 2, 32, 32)
    assert [layer.name for layer in model.layers] == layers_before
    assert [tuple(t.shape) for t in model.outputs] == outputs_before
    with pytest.raises(ValueError, match="stage9_out"):
        gradcam_heatmaps(model, x, layer_names=["stage9_out"])
    with pytest.raises(ValueError, match="4-D"):
        gradcam_heatmaps(model, x, layer_names=["logits"])


def test_plot_gradcam_draws_image_then_one_overlay_per_stage():
    model = build_resnet(blocks=[1, 1], channels=[4, 8], pool_size=2, num_classes=3)
    images = np.random.default_rng(3).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    fig = plot_gradcam(model, images, labels=[0, 2], class_names=["cat", "dog", "ship"])
    assert len(fig.axes) == 2 * 3
    assert fig.axes[1].get_title() == "stage1_out" and fig.axes[2].get_title() == "stage2_out"
    assert fig.axes[0].get_title().startswith("true cat")
    assert fig.axes[3].get_title().startswith("true ship")
    assert len(fig.axes[1].get_images()) == 2  # image + heatmap overlay
    overlay = fig.axes[1].get_images()[1].get_array()
    assert overlay.shape == (32, 32)


def test_odd_batches_give_the_same_maps_as_within_an_even_batch():
    model = _quadrant_model()
    images = np.random.default_rng(4).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    four, classes_four = gradcam_heatmaps(model, images)
    three, classes_three = gradcam_heatmaps(model, images[:3], class_indices=classes_four[:3])
    assert three.shape == (2, 3, 32, 32) and classes_three.tolist() == classes_four[:3].tolist()
    assert np.allclose(three, four[:, :3], atol=1e-6)
    # the default 1x1 stride-2 shortcut with an odd batch (the builder avoids the strided 1x1 conv kernel)
    resnet = build_resnet(blocks=[1, 1], channels=[4, 8], pool_size=2, num_classes=3)
    maps, _ = gradcam_heatmaps(resnet, images[:3] * 2 - 1)
    assert maps.shape == (2, 3, 32, 32)


def _arrays_data(count=6, classes=3):
    from keras_resnet_cifar.data import from_arrays

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (4 * count, 32, 32, 3), dtype=np.uint8)
    y = np.arange(4 * count) % classes
    return from_arrays(x, y, x[:count], y[:count], class_names=["cat", "dog", "ship"][:classes], val_fraction=0.0,
                       seed=0)


def test_test_images_are_drawn_by_the_seed_without_replacement_and_checked():
    from keras_resnet_cifar.plots.gradcam import pick_test_images

    data = _arrays_data()
    images, labels = pick_test_images(data, 3, seed=1)
    again, _ = pick_test_images(data, 3, seed=1)
    assert images.shape == (3, 32, 32, 3) and np.array_equal(images, again)
    rows = [int(np.flatnonzero((data.test.images == image).all(axis=(1, 2, 3)))[0]) for image in images]
    assert rows == sorted(set(rows)) and list(labels) == [int(data.test.labels[r]) for r in rows]
    assert len(pick_test_images(data, 50, seed=1)[0]) == len(data.test.labels)  # at most the split
    with pytest.raises(ValueError, match="--images: received 0; accepted: an integer >= 1"):
        pick_test_images(data, 0, seed=1)


def test_test_gradcam_normalizes_as_the_run_did_and_refuses_other_classes(monkeypatch):
    import keras_resnet_cifar.plots.gradcam as gradcam
    from keras_resnet_cifar.config import DataConfig

    data = _arrays_data()
    seen = {}
    monkeypatch.setattr(gradcam, "plot_gradcam", lambda model, images, **kwargs: seen.update(images=images, **kwargs))
    model = build_resnet([1], [4], num_classes=3)
    plain = DataConfig(normalize=False)
    gradcam.plot_test_gradcam(model, data, plain, count=2, seed=0)
    assert np.allclose(seen["inputs"], seen["images"] / 255.0)  # the run's preprocessing, not CIFAR's mean/std
    assert seen["class_names"] == data.class_names and len(seen["labels"]) == 2
    with pytest.raises(ValueError, match="the model outputs 10 classes but the data has 3; pass the data"):
        gradcam.plot_test_gradcam(build_resnet([1], [4]), data, plain)
