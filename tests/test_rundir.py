"""training/rundir.py owns the run directory: its file names (written once), `Run` (the one reader and the one
`.keras` loader) and `is_finished`; and the one scan for non-finite weights (training/divergence.py)."""
import ast
import glob
import json
import os

import numpy as np
import pytest

from keras_resnet_cifar.training import rundir
from keras_resnet_cifar.training.rundir import Run, is_finished

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "keras_resnet_cifar")

# Names only a run directory has (config.json and class_names.json are also an export's, "weights" a dict key).
_RUN_ONLY = {rundir.BEST_MODEL, rundir.BACKUP, rundir.METRICS, rundir.HISTORY, rundir.DIVERGED, rundir.LAST_WEIGHTS,
             rundir.CONFUSION_FIGURE, rundir.HISTORY_FIGURE, rundir.TENSORBOARD}


def _modules():
    for path in sorted(glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True)):
        with open(path, encoding="utf-8") as handle:
            yield os.path.relpath(path, PACKAGE), ast.parse(handle.read(), path)


def test_run_file_names_are_written_only_in_rundir():
    found = [(name, node.lineno, node.value) for name, tree in _modules() if name != os.path.join("training", "rundir.py")
             for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in _RUN_ONLY]
    assert found == []


def test_force_deletes_every_file_name_rundir_defines():
    names = {value for key, value in vars(rundir).items() if key.isupper() and not key.startswith("_")
             and isinstance(value, str)}
    assert names == set(rundir.RUN_FILES)


def test_keras_saving_load_model_is_called_in_one_place():
    """Run.load_model is the package's loader: it checks the file, then calls model.load_model, the only caller."""
    calls = [name for name, tree in _modules() for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr == "load_model"
             and isinstance(node.value, ast.Attribute) and node.value.attr == "saving"]
    assert calls == ["model.py"]


def test_a_run_is_finished_once_its_metrics_are_written(tmp_path):
    assert not is_finished(tmp_path)
    with pytest.raises(FileNotFoundError, match="metrics.json: does not exist; accepted: a finished run folder"):
        Run.open(tmp_path).metrics()
    (tmp_path / rundir.METRICS).write_text(json.dumps({"status": "finished", "test_accuracy": 0.5}))
    assert is_finished(tmp_path)
    assert Run.open(tmp_path).metrics()["test_accuracy"] == 0.5
    (tmp_path / rundir.METRICS).write_text("[1]")
    with pytest.raises(ValueError, match="holds a JSON list; accepted: a JSON object"):
        Run.open(tmp_path).metrics()


def test_load_model_checks_the_file_and_names_what_it_is(tmp_path):
    with pytest.raises(FileNotFoundError, match="best.keras: does not exist"):
        Run.open(tmp_path).load_model()
    (tmp_path / rundir.BEST_MODEL).write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match=r"best\.keras: not a readable Keras model .*the best checkpoint file is "
                                         r"truncated or corrupt"):
        Run.open(tmp_path).load_model("best checkpoint")


def test_the_public_load_model_names_a_truncated_file_instead_of_saying_it_is_not_found(tmp_path):
    from keras_resnet_cifar import build_resnet
    from keras_resnet_cifar.errors import DamagedFileError
    from keras_resnet_cifar.model import load_model

    path = tmp_path / "m.keras"
    build_resnet(blocks=[1], channels=[4], num_classes=3, input_shape=(8, 8, 3)).save(str(path))
    path.write_bytes(path.read_bytes()[:-200])  # cut short, as a full disk or a killed copy leaves it
    with pytest.raises(DamagedFileError, match=r"m\.keras: not a readable Keras model .*truncated or corrupt"):
        load_model(str(path))


def test_load_model_returns_the_saved_model_with_the_package_layers(tmp_path):
    import keras

    from keras_resnet_cifar import build_resnet

    model = build_resnet(blocks=[1], channels=[4], num_classes=3, input_shape=(8, 8, 3))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = Run.open(path).load_model()
    assert isinstance(loaded, keras.Model) and loaded.output_shape == (None, 3)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_non_finite_weights_names_each_variable_and_counts_its_values():
    import keras

    from keras_resnet_cifar.training.divergence import non_finite_weights

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head")])
    assert non_finite_weights(model) == []
    kernel = model.get_layer("head").kernel
    values = keras.ops.convert_to_numpy(kernel).copy()
    values[0, :2] = [np.nan, np.inf]
    kernel.assign(values)
    assert non_finite_weights(model) == [(kernel.path, 2, 12)]
