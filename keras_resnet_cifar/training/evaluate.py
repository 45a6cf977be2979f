"""Honest evaluation: a model (a run's best-validation checkpoint) on the untouched test split.

`evaluate(RUN_DIR or MODEL.keras)` re-evaluates alone and writes evaluation.json,
confusion.png (Figure 15) and history.png (Figure 11) without touching metrics.json, which
only `train` writes.
"""
import os

import numpy as np

from keras_resnet_cifar.config import DataConfig, TrainConfig
from keras_resnet_cifar.data.loader import normalize_images
from keras_resnet_cifar.data.sources import load_data
from keras_resnet_cifar.files import write_json
from keras_resnet_cifar.training.rundir import CLASS_NAMES, CONFUSION_FIGURE, HISTORY, HISTORY_FIGURE, Run
from keras_resnet_cifar.errors import UserError


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts of (true, predicted) label pairs: rows are true classes, columns predicted.

    Args:
        y_true: int labels, shape (N,).
        y_pred: int labels, shape (N,).
        num_classes: K; labels must lie in [0, K).

    Returns:
        int64 array (K, K); entry [i, j] counts images of class i predicted as j.

    Example:
        >>> confusion_matrix([0, 0, 1], [0, 1, 1], 2).tolist()
        [[1, 1], [0, 1]]
    """
    y_true, y_pred = np.asarray(y_true, np.int64).ravel(), np.asarray(y_pred, np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise UserError(f"confusion_matrix: received {y_true.size} true and {y_pred.size} predicted "
                         "labels; pass one prediction per label")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise UserError(f"confusion_matrix: {name} holds labels in [{labels.min()}, {labels.max()}]; "
                             f"accepted: 0 .. {num_classes - 1} (num_classes={num_classes})")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def predict_logits(model, images, *, batch_size=256, tta=False, translate=0, share=1.0):
    """Logits of `model` on model-ready images (float NHWC array), as float64, on any Keras backend.

    With `tta` (flip test-time augmentation) each image's logits are the mean of the image's and
    its horizontal mirror's. With `translate` d > 0 (airbench's level 2) the views shifted by (-d, -d)
    and (+d, +d) after reflect padding are averaged too (each with its mirror under `tta`): logits =
    (plain + mean of the two shifts) / 2. With `share` < 1 only that share of the images, those whose
    plain view is least confident (smallest margin between the two largest logits), get the extra
    views; the others keep their plain logits (the 2025 CIFAR-10 record's cheaper TTA).
    """
    def predict(x):
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float64)

    def views(x, logits):
        if tta:
            logits = (logits + predict(np.ascontiguousarray(x[:, :, ::-1]))) / 2
        return logits

    plain = predict(images)
    if not (tta or translate):
        return plain
    chosen = slice(None) if share >= 1 else _least_confident(plain, share)
    subset = images[chosen]
    logits = views(subset, plain[chosen])
    if translate:
        d, (height, width) = int(translate), images.shape[1:3]
        padded = np.pad(subset, ((0, 0), (d, d), (d, d), (0, 0)), mode="reflect")
        crops = [np.ascontiguousarray(padded[:, y:y + height, y:y + width]) for y in (0, 2 * d)]
        shifted = [views(crop, predict(crop)) for crop in crops]
        logits = (logits + (shifted[0] + shifted[1]) / 2) / 2
    result = plain.copy()
    result[chosen] = logits
    return result


def _least_confident(logits, share):
    """Indices of the `share` of rows with the smallest margin between their two largest logits (at least one)."""
    top = np.sort(logits, axis=1)[:, -2:]
    count = max(1, int(round(share * len(logits))))
    return np.sort(np.argsort(top[:, 1] - top[:, 0], kind="stable")[:count])


def evaluate_model(model, split, class_names, *, batch_size=256, data_config=None, tta=None):
    """Accuracy, cross-entropy, per-class accuracy and confusion matrix of `model` on `split`.

    Args:
        model: a Keras model that outputs logits.
        split: a `data.Split` (uint8 images, int labels).
        class_names: names in label order.
        batch_size: int. Default 256.
        data_config: the `DataConfig` whose normalization the model was trained with;
            default `DataConfig()` (CIFAR-10 mean and std).
        tta: average each image's logits with its horizontal mirror's (`predict_logits`);
            default `data_config.tta`.

    Returns:
        dict: test_accuracy, test_loss, per_class_accuracy {name: accuracy or None when the
        split has no image of the class}, confusion_matrix (list of lists), num_test.

    Example:
        >>> evaluate_model(model, data.test, data.class_names)["test_accuracy"]
        0.93...
    """

    num_classes = len(class_names)
    _check_compatible(model, split, num_classes)
    config = data_config or DataConfig()
    if len(split) == 0:
        raise UserError("split: received a split with 0 images; accepted: a non-empty split")
    images = normalize_images(split.images, config)  # the test split fits in memory (10,000 images: 123 MB)
    tta = config.tta if tta is None else bool(tta)
    logits = predict_logits(model, images, batch_size=batch_size, tta=tta, translate=config.tta_translate,
                            share=config.tta_share)
    labels = np.asarray(split.labels, np.int64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    predicted = logits.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, num_classes)
    totals = matrix.sum(axis=1)
    return {
        "test_accuracy": float((predicted == labels).mean()),
        "test_loss": float(-log_probs[np.arange(labels.size), labels].mean()),
        "per_class_accuracy": {name: (float(matrix[i, i] / totals[i]) if totals[i] else None)
                               for i, name in enumerate(class_names)},
        "confusion_matrix": matrix.tolist(),
        "num_test": int(labels.size),
        "tta": tta,
        "tta_translate": config.tta_translate,
        "tta_share": config.tta_share,
    }


def save_figures(out_dir, result, class_names, history_csv=None):
    """Write confusion.png (and history.png when `history_csv` exists) into `out_dir`."""
    from keras_resnet_cifar.plots.comparison import save_figure
    from keras_resnet_cifar.plots.confusion import plot_confusion
    from keras_resnet_cifar.plots.history import plot_history

    save_figure(plot_confusion(result["confusion_matrix"], class_names), os.path.join(out_dir, CONFUSION_FIGURE))
    if history_csv and os.path.exists(history_csv):
        save_figure(plot_history(history_csv), os.path.join(out_dir, HISTORY_FIGURE))


def evaluate(path, *, data=None, data_changes=None, out_dir=None, batch_size=256, verbose=True):
    """Re-evaluate a run's best.keras (or any .keras file) on the test split.

    Args:
        path: a run directory (uses its config.json, class_names.json, best.keras) or a
            .keras file (a run's config.json beside it is used when present).
        data: a `CifarData` to use instead of loading one.
        data_changes: dict of `DataConfig` fields that change the run's (e.g. {"source": "..."});
            default the run's config, else `DataConfig()`.
        out_dir: where evaluation.json and the PNGs go; default the run directory or the
            model's folder.
        batch_size: int. Default 256.
        verbose: print where the data comes from and the result.

    Returns:
        The `evaluate_model` dict plus model and data_source.
    """

    run = Run.open(path)
    model = run.load_model()
    model_path, run_dir = run.model_path, run.folder
    config = run.config() or TrainConfig()
    data_config = config.data.replace(**(data_changes or {}))  # the flags given win, TTA's included
    if data is None:
        data = load_data(data_config, seed=config.seed, verbose=verbose)
    check_classes(run, data)
    result = evaluate_model(model, data.test, data.class_names, batch_size=batch_size, data_config=data_config)
    result.update(model=model_path, data_source=data.source)
    out_dir = out_dir or run_dir
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "evaluation.json"), result)
    save_figures(out_dir, result, data.class_names, os.path.join(run_dir, HISTORY))
    if verbose:
        print(f"{model_path}: test accuracy {result['test_accuracy']:.4f}, loss {result['test_loss']:.4f} "
              f"on {result['num_test']} images of {data.source}; wrote {out_dir}/evaluation.json")
    return result


def _check_compatible(model, split, num_classes):
    outputs = model.output_shape[-1]
    if outputs != num_classes:
        raise UserError(f"evaluate: the model outputs {outputs} classes but the data has {num_classes}; "
                         "evaluate it on the data it was trained on")
    expected, got = tuple(model.input_shape[1:]), tuple(split.images.shape[1:])
    if expected != got:
        raise UserError(f"evaluate: the model takes images {expected} but the data has {got}; "
                         "pass data of the model's input size")


def check_classes(run, data):
    """Refuse `data` whose class names differ from those the `run` was trained on."""
    if os.path.isfile(run.path(CLASS_NAMES)) and list(run.class_names()) != list(data.class_names):
        raise UserError(f"{run.folder}: the data's classes {list(data.class_names)} differ from the run's "
                         f"{list(run.class_names())}; pass the data the model was trained on (--source)")
