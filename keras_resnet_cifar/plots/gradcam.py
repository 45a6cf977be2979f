"""The study's Figure 13: Grad-CAM (Selvaraju et al. 2017) of each stage's output.

For a class c and a feature map A (H', W', K) the heatmap is
relu(sum_k w_k A_k) with w_k the spatial mean of d logit_c / d A_k, upsampled to
the image size and scaled to [0, 1]. It is computed on the logits the model
outputs; the model is never modified: a second functional model shares its layers.
"""
import keras
import numpy as np
from matplotlib.figure import Figure

from keras_resnet_cifar.data import load_data
from keras_resnet_cifar.data.loader import normalize_images
from keras_resnet_cifar.model import stage_output_names
from keras_resnet_cifar.training.evaluate import check_classes
from keras_resnet_cifar.errors import UserError


def gradcam_heatmaps(model, images, *, layer_names=None, class_indices=None):
    """Grad-CAM heatmaps of `layer_names` (default each stage's output) for a batch of images.

    Args:
        model: a functional `keras.Model` whose output is logits (as `build_resnet` builds).
        images: float array (N, H, W, C), the model's input (already normalized).
        layer_names: list of str, layers whose outputs to explain. Default
            `stage_output_names(model)`.
        class_indices: int array (N,), the class to explain per image. Default the
            predicted class (argmax of the logits).

    Returns:
        (heatmaps, class_indices): heatmaps float32 (len(layer_names), N, H, W) in [0, 1]
        (all zeros where no location has positive evidence), and the classes explained.

    Example:
        >>> maps, classes = gradcam_heatmaps(model, x[:4])
        >>> maps.shape  # (stages, 4, 32, 32)
    """
    import tensorflow as tf  # lazy: the gradient tape; importing this module stays TF-free (JAX)

    names = list(layer_names) if layer_names is not None else stage_output_names(model)
    if not names:
        raise UserError("layer_names: received none and the model has no stageN_out layers; "
                         "accepted: names of layers with a 4-D output, e.g. ['stage1_out', 'stage2_out']")
    for name in names:
        if name not in [layer.name for layer in model.layers]:
            raise UserError(f"layer_names: received {name!r}, which is not a layer of {model.name!r}; "
                             f"accepted: e.g. {stage_output_names(model)}")
        if len(model.get_layer(name).output.shape) != 4:
            raise UserError(f"layer_names: {name!r} outputs shape {model.get_layer(name).output.shape}; "
                             "accepted: layers with a 4-D (batch, height, width, channels) output")
    images = np.asarray(images, dtype="float32")
    count = len(images)
    if class_indices is not None:
        class_indices = np.asarray(class_indices, dtype="int64").reshape(-1)
    images = tf.convert_to_tensor(images)
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in names] + [model.output])
    with tf.GradientTape() as tape:
        # Watching the input records every op after it, so layers without weights count too.
        tape.watch(images)
        *features, logits = probe(images, training=False)
        logits = tf.cast(logits, tf.float32)
        if class_indices is None:
            class_indices = tf.argmax(logits, axis=-1)
        classes = tf.convert_to_tensor(np.asarray(class_indices), dtype=tf.int64)
        # Each image's logit depends only on its own features: one gradient of the sum suffices.
        total = tf.reduce_sum(tf.gather(logits, classes, axis=1, batch_dims=1))
    grads = tape.gradient(total, features)
    size = images.shape[1:3]
    maps = []
    for feature, grad in zip(features, grads):
        feature, grad = tf.cast(feature, tf.float32), tf.cast(grad, tf.float32)
        weights = tf.reduce_mean(grad, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * feature, axis=-1, keepdims=True))
        cam = tf.image.resize(cam, size, method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        maps.append(tf.math.divide_no_nan(cam, peak))
    return np.clip(np.stack([m.numpy()[:count] for m in maps]), 0.0, 1.0), classes.numpy()[:count]


def plot_gradcam(model, images, *, inputs=None, labels=None, class_names=None, layer_names=None,
                 alpha=0.5, cmap="jet") -> Figure:
    """One row per image: the image, then its Grad-CAM for each stage overlaid (Figure 13).

    Args:
        model: a functional `keras.Model` that outputs logits.
        images: uint8 array (N, H, W, 3) to display.
        inputs: float array (N, H, W, 3), what the model eats. Default `images` normalized
            with CIFAR-10's mean and std (`data.normalize_images`).
        labels: int array (N,) of true classes, shown in the row titles. Optional.
        class_names: sequence of names for the class indices. Optional.
        layer_names: layers to explain. Default each stage's output.
        alpha: float, heatmap opacity. Default 0.5.
        cmap: matplotlib colormap of the heatmap. Default "jet".

    Returns:
        A matplotlib Figure of N rows and 1 + len(layer_names) columns; the heatmap
        explains the predicted class.

    Example:
        >>> fig = plot_gradcam(model, data.test.images[:4], labels=data.test.labels[:4])
    """
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise UserError(f"images: received shape {images.shape}; accepted: (N >= 1, height, width, 3) uint8")
    if inputs is None:
        inputs = normalize_images(images)
    names = list(layer_names) if layer_names is not None else stage_output_names(model)
    maps, predicted = gradcam_heatmaps(model, inputs, layer_names=names)
    name_of = (lambda i: class_names[int(i)]) if class_names is not None else (lambda i: str(int(i)))
    fig = Figure(figsize=(1.9 * (len(names) + 1), 2.0 * len(images)), layout="constrained")
    axes = fig.subplots(len(images), len(names) + 1, squeeze=False)
    for row, image in enumerate(images):
        title = f"pred {name_of(predicted[row])}"
        if labels is not None:
            title = f"true {name_of(labels[row])}\n{title}"
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(title, fontsize="small")
        for col, name in enumerate(names, start=1):
            axes[row, col].imshow(image)
            axes[row, col].imshow(maps[col - 1, row], cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
            if row == 0:
                axes[row, col].set_title(name, fontsize="small")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def pick_test_images(data, count, seed):
    """`count` test images of `data` drawn without replacement by `seed`, in index order: (images, labels).

    Args:
        data: a `CifarData` (its test split).
        count: int >= 1; more than the test split has gives them all.
        seed: the draw's seed (a run's `config.seed`), so a figure can be drawn again.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UserError(f"--images: received {count!r}; accepted: an integer >= 1")
    count = min(count, len(data.test.labels))
    pick = np.sort(np.random.default_rng(seed).choice(len(data.test.labels), count, replace=False))
    return data.test.images[pick], data.test.labels[pick]


def plot_test_gradcam(model, data, data_config, *, count=4, seed=0) -> Figure:
    """Figure 13 for `count` test images of `data`: picked by `seed`, normalized as `data_config` says.

    Args:
        model: a functional `keras.Model` that outputs logits for `data`'s classes.
        data: a `CifarData`; its class names title the rows.
        data_config: the `DataConfig` the model was trained with (its normalization).
        count: test images to explain. Default 4.
        seed: the images' draw. Default 0.
    """
    if model.output_shape[-1] != data.num_classes:
        raise UserError(f"gradcam: the model outputs {model.output_shape[-1]} classes but the data has "
                         f"{data.num_classes}; pass the data the model was trained on (--data)")
    images, labels = pick_test_images(data, count, seed)
    return plot_gradcam(model, images, inputs=normalize_images(images, data_config), labels=labels,
                        class_names=data.class_names)


def plot_run_gradcam(run, config, *, count=4) -> Figure:
    """Figure 13 of a run's best model on `count` test images of `config.data` (the whole test split,
    no validation hold-out), drawn by `config.seed`, after checking the classes match the run's.

    Args:
        run: a `rundir.Run` (a run folder, or a .keras file).
        config: the `TrainConfig` to draw with, usually the run's own with the flags given.
        count: test images to explain. Default 4.
    """
    model = run.load_model()
    data = load_data(config.data.replace(val_fraction=0.0, train_subset=None), seed=config.seed, verbose=False)
    check_classes(run, data)
    return plot_test_gradcam(model, data, config.data, count=count, seed=config.seed)
