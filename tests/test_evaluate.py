"""Evaluation: confusion matrix orientation, per-class accuracy and loss on a hand-made model, the figures."""
import json
import os

import numpy as np
import pytest

from keras_resnet_cifar.training.evaluate import confusion_matrix


def test_confusion_matrix_rows_are_true_columns_predicted():
    matrix = confusion_matrix(y_true=[0, 0, 0, 1, 2, 2], y_pred=[0, 1, 1, 2, 2, 0], num_classes=3)
    assert matrix.tolist() == [[1, 2, 0],   # class 0: once right, twice taken for class 1
                               [0, 0, 1],   # class 1: taken for class 2
                               [1, 0, 1]]   # class 2: once right, once taken for class 0
    assert matrix.dtype == np.int64


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([0, 1], [0], "received 2 true and 1 predicted labels"),
    ([0, 3], [0, 1], r"y_true holds labels in \[0, 3\]; accepted: 0 .. 2"),
    ([0, 1], [-1, 1], r"y_pred holds labels in \[-1, 1\]"),
])
def test_confusion_matrix_rejects_bad_labels(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        confusion_matrix(y_true, y_pred, 3)


def _brightness_model():
    """Logits (-s, s) with s the summed channel means: dark images are class 0, bright ones class 1."""
    import keras

    inputs = keras.Input((32, 32, 3))
    dense = keras.layers.Dense(2, name="logits")
    logits = dense(keras.layers.GlobalAveragePooling2D()(inputs))
    dense.set_weights([np.array([[-1.0, 1.0]] * 3, np.float32), np.zeros(2, np.float32)])
    return keras.Model(inputs, logits)


def _test_split():
    from keras_resnet_cifar.data import Split

    images = np.zeros((6, 32, 32, 3), np.uint8)
    images[3:] = 255
    return Split(images=images, labels=np.array([0, 0, 0, 1, 1, 0]))  # the last bright image is labelled 0


def test_evaluate_model_counts_per_class_and_computes_the_loss():
    from keras_resnet_cifar.constants import CIFAR10_MEAN, CIFAR10_STD
    from keras_resnet_cifar.training.evaluate import evaluate_model

    split = _test_split()
    result = evaluate_model(_brightness_model(), split, ["dark", "bright"], batch_size=4)
    assert result["confusion_matrix"] == [[3, 1], [0, 2]]
    assert result["per_class_accuracy"] == {"dark": 0.75, "bright": 1.0}
    assert result["test_accuracy"] == pytest.approx(5 / 6) and result["num_test"] == 6
    score = lambda value: float(np.sum((value - np.array(CIFAR10_MEAN)) / np.array(CIFAR10_STD)))
    logits = np.array([[-score(0.0), score(0.0)]] * 3 + [[-score(1.0), score(1.0)]] * 3)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert result["test_loss"] == pytest.approx(-np.mean(log_probs[np.arange(6), split.labels]), rel=1e-5)


def test_evaluate_a_keras_file_writes_results_and_checks_classes(tmp_path):
    from keras_resnet_cifar.data import CifarData, from_arrays
    from keras_resnet_cifar.training.evaluate import evaluate

    path = str(tmp_path / "model.keras")
    _brightness_model().save(path)
    split = _test_split()
    data = CifarData(train=split, val=split, test=split, class_names=("dark", "bright"), source="hand-made")
    result = evaluate(path, data=data, out_dir=str(tmp_path / "out"), verbose=False)
    assert result["confusion_matrix"] == [[3, 1], [0, 2]] and result["data_source"] == "hand-made"
    with open(tmp_path / "out" / "evaluation.json", encoding="utf-8") as handle:
        assert json.load(handle)["test_accuracy"] == pytest.approx(5 / 6)
    assert os.path.getsize(tmp_path / "out" / "confusion.png") > 1000
    ten = from_arrays(np.zeros((10, 32, 32, 3), np.uint8), np.arange(10), np.zeros((10, 32, 32, 3), np.uint8),
                      np.arange(10), val_fraction=0)
    with pytest.raises(ValueError, match="the model outputs 2 classes but the data has 10"):
        evaluate(path, data=ten, out_dir=str(tmp_path / "out"), verbose=False)
    with pytest.raises(FileNotFoundError, match="accepted: a run directory holding best.keras"):
        evaluate(str(tmp_path / "missing"), data=data, verbose=False)


def test_evaluate_applies_the_data_flags_given_tta_included(tmp_path):
    """evaluate(..., data_changes) evaluates with the changed DataConfig (it once loaded with it but predicted
    with the run's, so `evaluate RUN --no-tta` still averaged six views)."""
    from keras_resnet_cifar.data import CifarData
    from keras_resnet_cifar.training.evaluate import evaluate

    path = str(tmp_path / "model.keras")
    _brightness_model().save(path)
    split = _test_split()
    data = CifarData(train=split, val=split, test=split, class_names=("dark", "bright"), source="hand-made")
    plain = evaluate(path, data=data, out_dir=str(tmp_path / "a"), verbose=False)
    flipped = evaluate(path, data=data, data_changes={"tta": True, "tta_translate": 1, "tta_share": 0.5},
                       out_dir=str(tmp_path / "b"), verbose=False)
    assert (plain["tta"], plain["tta_translate"]) == (False, 0)
    assert (flipped["tta"], flipped["tta_translate"], flipped["tta_share"]) == (True, 1, 0.5)


def test_figures_label_their_axes():
    from keras_resnet_cifar.plots.confusion import plot_confusion
    from keras_resnet_cifar.plots.history import plot_history

    fig = plot_confusion([[3, 1], [0, 2]], ["dark", "bright"])
    ax = fig.axes[0]
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("true", "predicted")
    assert [t.get_text() for t in ax.texts] == ["3", "1", "0", "2"]  # row by row: true class, then predicted
    with pytest.raises(ValueError, match=r"received a \(2, 2\) matrix for 3 class names"):
        plot_confusion([[1, 0], [0, 1]], ["a", "b", "c"])
    rows = [{"epoch": 1, "loss": 2.0, "mixup_accuracy": 0.2, "val_loss": 2.1, "val_accuracy": 0.3},
            {"epoch": 2, "loss": 1.5, "mixup_accuracy": 0.4, "val_loss": 1.9, "val_accuracy": 0.5}]
    loss, accuracy = plot_history(rows).axes
    assert [line.get_label() for line in loss.lines] == ["train", "validation"]
    assert accuracy.lines[0].get_label().startswith("train (vs mixup")
    assert list(accuracy.lines[1].get_ydata()) == [0.3, 0.5]
