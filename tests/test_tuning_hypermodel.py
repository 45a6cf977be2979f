"""A trial trains as `train` does: its callbacks (lookahead, schedule, guard) and its whitening stem."""
import keras
import keras_tuner
import numpy as np
import pytest

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.data import steps_per_epoch
from keras_resnet_cifar.data.loader import normalize_images
from keras_resnet_cifar.recipes import recipe_config
from keras_resnet_cifar.training import callbacks as callbacks_module
from keras_resnet_cifar.tuning.hypermodel import ResNetHyperModel
from keras_resnet_cifar.tuning.space import SearchSpace
from keras_resnet_cifar.whitening import whitening_kernel
from data_helpers import random_data


@pytest.fixture(scope="module")
def data():
    return random_data()


def _hypermodel(config, data, **space):
    return ResNetHyperModel(SearchSpace.create(config, **space), config, data)


def test_a_trial_gets_the_lookahead_and_the_rest_of_trains_callbacks(data, monkeypatch):
    config = TrainConfig(verbose=0, histogram_freq=0).replace(optim={"batch_size": 8, "lookahead_every": 2,
                                                                      "epochs": 2})
    hypermodel = _hypermodel(config, data, stages=(2,), blocks=(1, 1), widths=(4,), max_params=20_000)
    hp = keras_tuner.HyperParameters()
    updates = []
    real = callbacks_module.Lookahead.on_train_batch_end

    def counted(self, batch, logs=None):
        updates.append(batch)
        return real(self, batch, logs)

    monkeypatch.setattr(callbacks_module.Lookahead, "on_train_batch_end", counted)
    history = hypermodel.fit(hp, hypermodel.build(hp), epochs=2)
    assert len(history.history["val_accuracy"]) == 2
    assert len(updates) == 2 * steps_per_epoch(data.train, 8)  # every step of both epochs seen
    seen = []
    model = hypermodel.build(hp)
    monkeypatch.setattr(model, "fit", lambda *args, **kwargs: seen.append(kwargs["callbacks"]))
    tuner_own = keras.callbacks.Callback()
    hypermodel.fit(hp, model, epochs=1, callbacks=[tuner_own])
    names = [type(c).__name__ for c in seen[0]]
    assert names[:3] == ["Lookahead", "EpochLR", "StopOnDivergence"] and seen[0][-1] is tuner_own


def test_a_trial_of_a_whitening_network_has_its_stem_fitted_as_train_does(data):
    config = recipe_config("fast", 15).replace(data={"val_fraction": 0.25}, optim={"batch_size": 8}, verbose=0)
    hypermodel = _hypermodel(config, data, widths=(8, 16), max_params=200_000)
    model = hypermodel.build(keras_tuner.HyperParameters())
    stem = model.get_layer("stem_whiten")
    expected = whitening_kernel(normalize_images(data.train.images, config.data), stem.kernel.shape[0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stem.kernel), expected, rtol=1e-5, atol=1e-6)


def test_a_trial_too_large_for_memory_fails_before_it_is_built(data, monkeypatch):
    from keras_resnet_cifar.training import runtime

    config = TrainConfig(verbose=0, histogram_freq=0).replace(optim={"batch_size": 8, "epochs": 1})
    hypermodel = _hypermodel(config, data, stages=(2,), blocks=(1, 1), widths=(4,), max_params=20_000)
    monkeypatch.setattr(runtime, "accelerators", lambda: [])
    monkeypatch.setattr(runtime, "available_bytes", lambda: 1024)  # 1 KiB free
    built = []
    monkeypatch.setattr("keras_resnet_cifar.tuning.hypermodel.build_model", lambda *a: built.append(a))
    with pytest.raises(keras_tuner.errors.FailedTrialError, match="too large for memory, not built: model: .* of memory is available"):
        hypermodel.build(keras_tuner.HyperParameters())
    assert built == []
