"""Honest evaluation: a model (a run's best-validation checkpoint) on the untouched test split.

`evaluate(RUN_DIR or MODEL.keras)` re-evaluates alone and writes evaluation.json,
confusion.png (Figure 15) and history.png (Figure 11) without touching metrics.json, which
only `train` writes.
"""
import os

import numpy as np

from keras_resnet_cifar.training.rundir import atomic_save, read_json, write_json


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
        raise ValueError(f"confusion_matrix: received {y_true.size} true and {y_pred.size} predicted "
                         "labels; pass one prediction per label")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {name} holds labels in [{labels.min()}, {labels.max()}]; "
                             f"accepted: 0 .. {num_classes - 1} (num_classes={num_classes})")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def evaluate_model(model, split, class_names, *, batch_size=256, data_config=None):
    """Accuracy, cross-entropy, per-class accuracy and confusion matrix of `model` on `split`.

    Args:
        model: a Keras model that outputs logits.
        split: a `data.Split` (uint8 images, int labels).
        class_names: names in label order.
        batch_size: int. Default 256.
        data_config: the `DataConfig` whose normalization the model was trained with;
            default `DataConfig()` (CIFAR-10 mean and std).

    Returns:
        dict: test_accuracy, test_loss, per_class_accuracy {name: accuracy or None when the
        split has no image of the class}, confusion_matrix (list of lists), num_test.

    Example:
        >>> evaluate_model(model, data.test, data.class_names)["test_accuracy"]
        0.93...
    """
    import keras

    from keras_resnet_cifar.config import DataConfig

    num_classes = len(class_names)
    _check_compatible(model, split, num_classes)
    config = data_config or DataConfig()
    stats = dict(num_classes=num_classes, batch_size=batch_size, training=False, normalize=config.normalize,
                 mean=config.mean, std=config.std)
    if keras.backend.backend() == "tensorflow":
        from keras_resnet_cifar.data import make_dataset

        inputs = make_dataset(split, **stats).map(lambda x, y: x)
    else:  # the same normalized batches from the NumPy loader; TensorFlow is not needed
        from keras_resnet_cifar.data.loader import make_loader

        inputs = make_loader(split, **stats)
    logits = np.asarray(model.predict(inputs, verbose=0), np.float64)
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
    }


def save_figures(out_dir, result, class_names, history_csv=None):
    """Write confusion.png (and history.png when `history_csv` exists) into `out_dir`."""
    from keras_resnet_cifar.plots.confusion import plot_confusion
    from keras_resnet_cifar.plots.history import plot_history

    _save_figure(plot_confusion(result["confusion_matrix"], class_names), os.path.join(out_dir, "confusion.png"))
    if history_csv and os.path.exists(history_csv):
        _save_figure(plot_history(history_csv), os.path.join(out_dir, "history.png"))


def evaluate(path, *, data=None, source=None, data_dir=None, out_dir=None, batch_size=256, verbose=True):
    """Re-evaluate a run's best.keras (or any .keras file) on the test split.

    Args:
        path: a run directory (uses its config.json, class_names.json, best.keras) or a
            .keras file (a run's config.json beside it is used when present).
        data: a `CifarData` to use instead of loading one.
        source, data_dir: override where the data comes from (`load_data`'s arguments);
            default the run's config, else "tfds".
        out_dir: where evaluation.json and the PNGs go; default the run directory or the
            model's folder.
        batch_size: int. Default 256.
        verbose: print where the data comes from and the result.

    Returns:
        The `evaluate_model` dict plus model and data_source.
    """
    import keras

    import keras_resnet_cifar.layers  # noqa: F401  (registers custom layers for loading)
    from keras_resnet_cifar.config import TrainConfig

    path = os.fspath(path)
    run_dir = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    model_path = os.path.join(path, "best.keras") if os.path.isdir(path) else path
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"evaluate: received {path!r}; accepted: a run directory holding "
                                "best.keras, or a .keras model file")
    config_path = os.path.join(run_dir, "config.json")
    config = TrainConfig.from_dict(read_json(config_path)) if os.path.exists(config_path) else TrainConfig()
    if data is None:
        from keras_resnet_cifar.data import load_data

        data = load_data(source or config.data.source, data_dir=data_dir or config.data.data_dir,
                         val_fraction=config.data.val_fraction, train_subset=config.data.train_subset,
                         seed=config.seed, resize=config.data.resize, verbose=verbose)
    names_path = os.path.join(run_dir, "class_names.json")
    if os.path.exists(names_path) and list(read_json(names_path)) != list(data.class_names):
        raise ValueError(f"evaluate: the data's classes {list(data.class_names)} differ from the run's "
                         f"{read_json(names_path)}; pass the data the model was trained on (--data)")
    model = keras.saving.load_model(model_path, compile=False)
    result = evaluate_model(model, data.test, data.class_names, batch_size=batch_size, data_config=config.data)
    result.update(model=model_path, data_source=data.source)
    out_dir = out_dir or run_dir
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "evaluation.json"), result)
    save_figures(out_dir, result, data.class_names, os.path.join(run_dir, "history.csv"))
    if verbose:
        print(f"{model_path}: test accuracy {result['test_accuracy']:.4f}, loss {result['test_loss']:.4f} "
              f"on {result['num_test']} images of {data.source}; wrote {out_dir}/evaluation.json")
    return result


def _check_compatible(model, split, num_classes):
    outputs = model.output_shape[-1]
    if outputs != num_classes:
        raise ValueError(f"evaluate: the model outputs {outputs} classes but the data has {num_classes}; "
                         "evaluate it on the data it was trained on")
    expected, got = tuple(model.input_shape[1:]), tuple(split.images.shape[1:])
    if expected != got:
        raise ValueError(f"evaluate: the model takes images {expected} but the data has {got}; "
                         "pass data of the model's input size")


def _save_figure(fig, path):
    atomic_save(path, lambda temp: fig.savefig(temp, format="png", dpi=110))
