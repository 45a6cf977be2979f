"""A run whose loss becomes NaN fails loudly, keeps nothing of the diverged epoch and is not resumed."""
import csv
import json
import os

import keras
import numpy as np
import pytest

from file_helpers import snapshot

from keras_resnet_cifar.config import ModelConfig, OptimConfig, TrainConfig
from keras_resnet_cifar.training.divergence import TrainingDiverged
from data_helpers import random_data

CONFIG = TrainConfig(model=ModelConfig(blocks=(1,), channels=(4,)), optim=OptimConfig(epochs=3, batch_size=8),
                     histogram_freq=0, verbose=0)


@pytest.fixture(scope="module")
def data():
    return random_data()


class Poison(keras.callbacks.Callback):
    """Sets the head's kernel to NaN after the first batch of epoch `epoch` (1-based)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self._current = epoch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if self._current == self.epoch and batch == 0:
            kernel = self.model.get_layer("logits").kernel
            kernel.assign(np.full(kernel.shape, np.nan, np.float32))


def test_nan_mid_run_raises_names_epoch_and_batch_and_keeps_only_finite_checkpoints(data, tmp_path):
    from keras_resnet_cifar.training.train import train

    run = str(tmp_path / "run")
    with pytest.raises(TrainingDiverged) as error:
        train(CONFIG, run, data=data, callbacks=[Poison(epoch=2)])
    assert (error.value.epoch, error.value.batch) == (2, 2)
    message = str(error.value)
    assert "epoch 2, batch 2 of 3" in message and "lower --lr (now 0.1)" in message
    assert not os.path.exists(os.path.join(run, "metrics.json"))
    with open(os.path.join(run, "diverged.json")) as handle:
        record = json.load(handle)
    assert record["status"] == "diverged" and record["epoch"] == 2 and record["last_committed_epoch"] == 1
    with open(os.path.join(run, "backup", "state.json")) as handle:
        assert json.load(handle)["epoch"] == 1  # the diverged epoch was never committed
    with open(os.path.join(run, "history.csv")) as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1"]
    best = keras.saving.load_model(os.path.join(run, "best.keras"), compile=False)
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in best.weights)
    assert sorted(os.listdir(os.path.join(run, "backup"))) == ["epoch_001.weights.h5", "state.json"]

    # Rerunning the same settings refuses at once and changes nothing; --force starts over.
    before = snapshot(run)
    with pytest.raises(TrainingDiverged, match="diverged earlier.*--force"):
        train(CONFIG, run, data=data)
    assert snapshot(run) == before
    metrics = train(CONFIG.replace(optim={"epochs": 1}), run, data=data, force=True)
    assert metrics["status"] == "finished" and not os.path.exists(os.path.join(run, "diverged.json"))


def test_nan_weights_at_an_epoch_end_are_never_published_as_best(data, tmp_path):
    from keras_resnet_cifar.training.train import train

    class PoisonAtEnd(keras.callbacks.Callback):  # after the last batch: the loss logs stay finite
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                kernel = self.model.get_layer("logits").kernel
                kernel.assign(np.full(kernel.shape, np.inf, np.float32))

    run = str(tmp_path / "run")
    with pytest.raises(TrainingDiverged, match="end of epoch 1|after epoch 1") as error:
        train(CONFIG.replace(data={"val_fraction": 0.0}), run, data=_no_val(data), callbacks=[PoisonAtEnd()])
    assert error.value.epoch == 1 and error.value.batch is None
    assert not os.path.exists(os.path.join(run, "best.keras"))  # without validation every epoch would be best
    assert not os.path.exists(os.path.join(run, "backup", "state.json"))


def _no_val(data):
    from keras_resnet_cifar.data import from_arrays

    return from_arrays(data.train.images, data.train.labels, data.test.images, data.test.labels, val_fraction=0.0)
