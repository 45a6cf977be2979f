"""The fast recipe resumes after kill -9 to the uninterrupted result, its weight average (EMA) included."""
import os

import numpy as np
import pytest

from test_train_resume import _epochs_logged, _h5_arrays, _history, kill_after_epochs

# The fast recipe (bf16, onecycle per step, TTA, zero-init residual, no validation split) with a weight
# average (EMA) on a tiny network.
_CONFIG = """
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.recipes import recipe_config
config = recipe_config("fast", 15, base=TrainConfig(deterministic=True, verbose=0))
config = config.replace(model={"blocks": (1,), "channels": (4,)},
                        optim={"epochs": 4, "warmup_epochs": 1, "batch_size": 16, "ema_momentum": 0.9})
"""

_CHILD = _CONFIG + """
import sys, time
import keras, numpy as np
from keras_resnet_cifar.data import from_arrays
from keras_resnet_cifar.training.train import train

class Slow(keras.callbacks.Callback):  # gives the parent time to kill mid-run
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.15)

arrays = np.load(sys.argv[2])
data = from_arrays(arrays["x"], arrays["y"], arrays["xt"], arrays["yt"], val_fraction=0.0, seed=0)
train(config, sys.argv[1], data=data, callbacks=[Slow()])
"""


def _optimizer_variables(config):
    """The paths of the optimizer's variables for `config`'s model, checking that it keeps an EMA."""
    from keras_resnet_cifar.training.train import build_model, compile_model

    model = compile_model(build_model(config, "mixed_bfloat16"), config, steps_per_epoch=5)
    model.optimizer.build(model.trainable_variables)
    paths = [v.path for v in model.optimizer.variables]
    assert sum(path.endswith("_average") for path in paths) == len(model.trainable_variables)
    return paths


def test_killed_fast_run_resumes_with_its_weight_average(tmp_path):
    from keras_resnet_cifar.data import from_arrays
    from keras_resnet_cifar.training.train import train

    scope = {}
    exec(_CONFIG, scope)
    config = scope["config"]
    rng = np.random.default_rng(0)
    arrays = {"x": rng.integers(0, 256, (80, 32, 32, 3), dtype=np.uint8), "y": np.arange(80) % 10,
              "xt": rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), "yt": np.arange(20) % 10}
    np.savez(tmp_path / "arrays.npz", **arrays)
    killed = str(tmp_path / "killed")
    kill_after_epochs([_CHILD, killed, str(tmp_path / "arrays.npz")], killed)
    assert 2 <= _epochs_logged(killed) < 4
    backup = os.path.join(killed, "backup")
    saved = [name for name in os.listdir(backup) if name.endswith(".weights.h5")]
    stored = [k for k in _h5_arrays(os.path.join(backup, saved[0])) if k.startswith("optimizer/")]
    assert len(stored) == len(_optimizer_variables(config))  # the EMA slots are in the checkpoint

    data = from_arrays(arrays["x"], arrays["y"], arrays["xt"], arrays["yt"], val_fraction=0.0, seed=0)
    resumed = train(config, killed, data=data)
    reference = train(config, str(tmp_path / "uninterrupted"), data=data)

    rows, expected = _history(killed), _history(str(tmp_path / "uninterrupted"))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    for row, want in zip(rows, expected):
        for key in ("loss", "accuracy", "lr"):
            assert float(row[key]) == pytest.approx(float(want[key]), rel=1e-6, abs=1e-7), (row["epoch"], key)
    final = _h5_arrays(os.path.join(killed, "last.weights.h5"))
    want = _h5_arrays(os.path.join(tmp_path / "uninterrupted", "last.weights.h5"))
    assert final.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(final[key], want[key], err_msg=key)  # the average too, bit for bit
    assert resumed["test_accuracy"] == reference["test_accuracy"] and resumed["tta"] is True
    # best.keras (evaluated on test) holds the weight average, not the last trained weights.
    import keras

    best = keras.saving.load_model(os.path.join(killed, "best.keras"), compile=False)
    averages = [i for i, path in enumerate(_optimizer_variables(config)) if path.endswith("_average")]
    for variable, index in zip(best.trainable_variables, averages):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), final[f"optimizer/vars/{index}"])
    from keras_resnet_cifar.training.train import build_model, compile_model

    last = compile_model(build_model(config, "mixed_bfloat16"), config, steps_per_epoch=5)
    last.optimizer.build(last.trainable_variables)
    last.load_weights(os.path.join(killed, "last.weights.h5"))
    kernel = lambda model: keras.ops.convert_to_numpy(model.get_layer("stage1_block1_conv1").kernel)
    assert not np.array_equal(kernel(last), kernel(best))


def test_validation_and_best_checkpoint_use_the_weight_average(tmp_path):
    import keras

    from keras_resnet_cifar.data import from_arrays
    from keras_resnet_cifar.training.train import build_model, compile_model, make_datasets, train

    scope = {}
    exec(_CONFIG, scope)
    config = scope["config"].replace(optim={"epochs": 2, "ema_momentum": 0.8}, data={"tta": False})
    rng = np.random.default_rng(1)
    data = from_arrays(rng.integers(0, 256, (80, 32, 32, 3), dtype=np.uint8), np.arange(80) % 10,
                       rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), np.arange(20) % 10,
                       val_fraction=0.25, seed=0)
    metrics = train(config, str(tmp_path / "run"), data=data)
    logged = {int(row["epoch"]): float(row["val_loss"]) for row in _history(str(tmp_path / "run"))}
    _, val_ds, steps = make_datasets(config, data)

    def val_loss(model):
        return compile_model(model, config, steps).evaluate(val_ds, verbose=0, return_dict=True)["loss"]

    best = keras.saving.load_model(str(tmp_path / "run" / "best.keras"), compile=False)
    assert val_loss(best) == pytest.approx(logged[metrics["best_epoch"]], rel=1e-4)
    trained = build_model(config, "mixed_bfloat16")  # the trained weights of epoch 2 score differently
    compile_model(trained, config, steps).optimizer.build(trained.trainable_variables)
    trained.load_weights(str(tmp_path / "run" / "last.weights.h5"))
    assert val_loss(trained) != pytest.approx(logged[2], rel=1e-4)
